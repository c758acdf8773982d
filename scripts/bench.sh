#!/usr/bin/env bash
# `make bench`: wasm size, native mint rate per vendor (criterion, one core), room lookups with
# 10 vs 100 000 rooms in a project (native), and end-to-end token.issue rate and latency on
# `wrangler dev` under a loopback load generator.
# Figures are medians from this one run; nothing here asserts a time.
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

log "end-to-end token.issue benchmark"
RTCGATE_PREBUILT=1 node bench/token_e2e.mjs
