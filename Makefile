# Every target first runs scripts/setup.sh, which installs the pinned toolchain once (idempotent).
.PHONY: setup build dev test bench

setup:
	@bash scripts/setup.sh

build: setup
	@bash scripts/build.sh

dev: setup
	@bash scripts/dev.sh

test: setup
	@bash scripts/test.sh

bench: setup
	@bash scripts/bench.sh
