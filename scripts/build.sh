#!/usr/bin/env bash
# Builds the Worker (Rust → wasm → JS shim) into build/ and the web console into build/assets, and
# prints what each weighs.
# worker-build would download wasm-bindgen, esbuild and wasm-opt; that fails here, so it is
# pointed at the pinned local copies instead.
set -euo pipefail
source "$(dirname "$0")/tools.sh"
cd "$ROOT"

if [ "${1:-}" = "--if-needed" ] && [ "${RTCGATE_PREBUILT:-}" = 1 ] && [ -f build/index.js ]; then
  exit 0
fi

# ESBUILD_BIN: the pinned esbuild, through scripts/worker_build_esbuild.mjs, which first removes
# the duplicate module keys wasm-bindgen writes into its output (see there).
export WASM_BINDGEN_BIN ESBUILD_BIN="$ROOT/scripts/worker_build_esbuild.mjs" WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt"
# worker-build reruns wasm-bindgen and wasm-opt (~15 s) even when nothing changed; skip it
# when the bundle is newer than every input of the build.
inputs=(src api migrations build.rs Cargo.toml Cargo.lock .cargo/config.toml scripts/build.sh scripts/lighten_entry.mjs
  scripts/worker_build_esbuild.mjs)
if [ -f build/index.js ] && [ -f build/index_bg.wasm ] && [ -z "$(find "${inputs[@]}" -newer build/index_bg.wasm -print -quit)" ]; then
  log "Worker build is up to date"
else
  # Unminified: scripts/lighten_entry.mjs edits the entry by the shim's own names (and CPU
  # profiles then name the glue's functions). The JS is a few dozen KB either way.
  NO_MINIFY=1 "$WORKER_BUILD_BIN" --release >&2
fi
# A bundle this step does not know (one worker-build made without NO_MINIFY, say) is built again.
if ! node scripts/lighten_entry.mjs build/index.js 2>/dev/null; then
  log "build/index.js is not the unminified shim: building it again"
  NO_MINIFY=1 "$WORKER_BUILD_BIN" --release >&2
  node scripts/lighten_entry.mjs build/index.js
fi
# Function names without their symbol hashes (see there); does nothing to a bundle it has done.
node scripts/shorten_wasm_names.mjs build/index_bg.wasm

# The bundle as `wrangler deploy` reads it: anything esbuild warns about here, a deployer sees.
warnings=$("$ROOT/node_modules/.bin/esbuild" build/index.js --bundle --format=esm '--external:cloudflare:*' \
  --external:./index_bg.wasm --outfile=/dev/null --log-level=warning 2>&1) || warnings="esbuild failed: $warnings"
if [ -n "$warnings" ]; then
  printf '%s\n' "$warnings" >&2
  log "build/index.js: esbuild (as wrangler deploy bundles it) has the warnings above; the build must have none"
  exit 1
fi

wasm=build/index_bg.wasm
raw=$(wc -c < "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
log "wasm bundle: $wasm — $raw bytes raw, $gz bytes gzip"

# The web console (static assets served by the same Worker at /console/): type-checked, bundled,
# weighed. A second or two; rebuilt every time.
node scripts/build_console.mjs
