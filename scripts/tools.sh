# Pinned tool versions and where they live; sourced by the other scripts.
# Tools built from crates.io go to a per-user cache shared by every clone (a cold install
# compiles them once, ~5 minutes); npm and Python tools live in the checkout.

WORKER_BUILD_VERSION=0.8.7
# Must equal the wasm-bindgen version in Cargo.lock (worker 0.8.7 uses 0.2.130).
WASM_BINDGEN_VERSION=0.2.130

# The vendor's own LiveKit server, built from its Go module (needs Go 1.26 or newer; `make dev` runs it
# on loopback and the end-to-end suite tests against it). Its go.mod has no `replace` directives,
# so `go install …@version` builds it.
LIVEKIT_SERVER_VERSION=1.13.5
GO_MIN_VERSION=1.26

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_CACHE="${RTCGATE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rtcgate/tools}"
WORKER_BUILD_BIN="$TOOLS_CACHE/worker-build-$WORKER_BUILD_VERSION/bin/worker-build"
WASM_BINDGEN_BIN="$TOOLS_CACHE/wasm-bindgen-$WASM_BINDGEN_VERSION/bin/wasm-bindgen"
LIVEKIT_SERVER_BIN="$TOOLS_CACHE/livekit-server-$LIVEKIT_SERVER_VERSION/livekit-server"
VENV="$ROOT/.venv"

export WRANGLER_SEND_METRICS=false
export PATH="$ROOT/node_modules/.bin:$PATH"

# Go from PATH, else its default install location.
go_bin() {
  if command -v go >/dev/null 2>&1; then command -v go
  elif [ -x /usr/local/go/bin/go ]; then echo /usr/local/go/bin/go
  else return 1
  fi
}

log() { printf '\033[1m[rtcgate]\033[0m %s\n' "$*" >&2; }
