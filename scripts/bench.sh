#!/usr/bin/env bash
# `make bench`: wasm size, native mint rate per vendor (criterion, one core), room lookups with
# 10 vs 100 000 rooms in a project (native), and end to end: rtcgate beside a JavaScript Worker
# minting with the official SDKs, both in one workerd, under a loopback load generator
# (bench/side_by_side.mjs). Figures are from this one run; nothing here asserts a time.
set -euo pipefail
source "$(dirname "$0")/tools.sh"
cd "$ROOT"

bash scripts/setup.sh
log "building the Worker"
bash scripts/build.sh

log "native mint benchmark (criterion)"
# One thread: the figures are per core.
taskset -c 0 cargo bench --locked --bench mint 2>&1 | grep -vE '^(Gnuplot|WARNING)' | tee target/bench-mint.txt

log "native room lookups: 10 vs 100 000 rooms in a project"
taskset -c 0 cargo bench --locked --bench lookups 2>&1 | tee target/bench-lookups.txt

log "end to end, side by side with the official SDKs (one workerd)"
RTCGATE_PREBUILT=1 node bench/side_by_side.mjs 2>&1 | tee target/bench-side-by-side.txt
