#!/usr/bin/env bash
# `make test`: native unit and integration tests, one Worker build, then the end-to-end suite
# against the real Worker (workerd under `wrangler dev`, local D1/KV; see tests/e2e/support/harness.mjs),
# then schemathesis holding the served OpenAPI document to the Worker.
# Exits non-zero on the first failing stage.
set -euo pipefail
source "$(dirname "$0")/tools.sh"
cd "$ROOT"

started=$SECONDS
stage() { log "── $* ($((SECONDS - started)) s)"; }

bash scripts/setup.sh

stage "lint: cargo fmt --check, cargo clippy -D warnings"
# rustfmt and clippy ship with rustup's default profile; a toolchain without them cannot fetch
# them here (no route to the Rust toolchain server), so their absence is reported, not fatal.
if cargo fmt --version >/dev/null 2>&1; then cargo fmt --check; else log "rustfmt is not installed: formatting not checked"; fi
if cargo clippy --version >/dev/null 2>&1; then
  cargo clippy --locked --all-targets -- -D warnings
else
  log "clippy is not installed: lints not checked"
fi

stage "native tests: cargo test --locked"
cargo test --locked

stage "building the Worker"
build_log=$(mktemp)
trap 'rm -f "$build_log"' EXIT
bash scripts/build.sh 2>&1 | tee "$build_log"
size_line=$(grep -a 'wasm bundle:' "$build_log" | sed 's/^.*wasm bundle:/wasm bundle:/' || true)

stage "end-to-end suite: node --test tests/e2e/*.test.mjs"
# Node 20's runner takes files, not a directory; one file at a time, since each starts Workers.
node --test --test-concurrency=1 --test-timeout=600000 tests/e2e/*.test.mjs

stage "OpenAPI conformance: schemathesis against the Worker (tests/e2e/support/schemathesis.mjs)"
# Every check, the examples/coverage/fuzzing/stateful phases, a bounded number of cases per
# operation; any failure or 5xx fails the stage.
node tests/e2e/support/schemathesis.mjs

stage "all tests passed"
if [ -n "$size_line" ]; then log "$size_line"; fi
