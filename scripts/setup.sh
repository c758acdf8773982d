#!/usr/bin/env bash
# Installs everything the build, `make dev` and `make test` need, at pinned versions (Rust, Node,
# Python and Go must be there already).
# Idempotent: each step checks before it installs. Nothing here downloads a prebuilt binary
# from outside the package registries (crates.io, npm, PyPI, Debian, the Go module proxy), which
# fails here.
set -euo pipefail
source "$(dirname "$0")/tools.sh"
cd "$ROOT"

need() { command -v "$1" >/dev/null 2>&1 || { log "missing $1: $2"; exit 1; }; }
need cargo "install Rust with rustup"
need node "install Node.js 20.3 or newer"
need npm "install npm"
need python3 "install Python 3.11"
go=$(go_bin) || {
  log "missing go: install Go $GO_MIN_VERSION or newer (https://go.dev/dl/); LiveKit's own server is built from source with it"
  exit 1
}

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding Rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

if [ ! -x "$WORKER_BUILD_BIN" ]; then
  log "building worker-build $WORKER_BUILD_VERSION (once per machine, ~3 min)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked \
    --root "$TOOLS_CACHE/worker-build-$WORKER_BUILD_VERSION"
fi

if [ ! -x "$WASM_BINDGEN_BIN" ]; then
  log "building wasm-bindgen-cli $WASM_BINDGEN_VERSION (once per machine, ~3 min)"
  # Not --locked: its lockfile pins a webpki-roots release the registry no longer serves.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" \
    --root "$TOOLS_CACHE/wasm-bindgen-$WASM_BINDGEN_VERSION"
fi

if [ ! -x "$LIVEKIT_SERVER_BIN" ]; then
  log "building livekit-server $LIVEKIT_SERVER_VERSION from its Go module (once per machine, ~5 min cold)"
  # Built into a private directory and moved into place, so a concurrent setup never sees half a binary.
  # The binary keeps the absolute paths out (-trimpath); GOTOOLCHAIN=local reports an old Go instead
  # of fetching another toolchain.
  mkdir -p "$TOOLS_CACHE"
  stage=$(mktemp -d "$TOOLS_CACHE/.livekit-server-build.XXXXXX")
  if ! GOBIN="$stage" GOTOOLCHAIN=local GOFLAGS=-trimpath \
    "$go" install "github.com/livekit/livekit-server/cmd/server@v$LIVEKIT_SERVER_VERSION"; then
    rm -rf "$stage"
    log "building livekit-server failed (it needs Go $GO_MIN_VERSION or newer; found: $("$go" version))"
    exit 1
  fi
  mkdir -p "$(dirname "$LIVEKIT_SERVER_BIN")"
  mv -f "$stage/server" "$LIVEKIT_SERVER_BIN"
  rm -rf "$stage"
fi

# The Go reference checks (tests/refs/go: LiveKit's own token verifier) build in the end-to-end
# suite; their modules, pinned by go.sum, are fetched here (a no-op once in the module cache).
GOTOOLCHAIN=local GOFLAGS=-mod=readonly "$go" -C tests/refs/go mod download

# Installed trees are matched to their lock files by content hash, not by time: a branch switch or
# a merge can leave a changed lock file older than the tree it no longer describes.
lock_hash() { sha256sum "$1" | cut -d' ' -f1; }
if [ ! -x node_modules/.bin/wrangler ] || [ "$(cat node_modules/.rtcgate-lock 2>/dev/null)" != "$(lock_hash package-lock.json)" ]; then
  log "installing npm packages from package-lock.json"
  npm ci --no-audit --no-fund --loglevel=error
  lock_hash package-lock.json > node_modules/.rtcgate-lock
fi

# requirements-test.lock pins every package, transitive ones included (regenerate it from
# requirements-test.txt in a fresh venv with `pip freeze` after changing that file).
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.installed" 2>/dev/null)" != "$(lock_hash requirements-test.lock)" ]; then
  log "installing Python test tools into .venv from requirements-test.lock"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -r requirements-test.lock
  "$VENV/bin/pip" check --disable-pip-version-check >/dev/null || {
    "$VENV/bin/pip" check --disable-pip-version-check >&2 || true
    log "requirements-test.lock is incomplete or inconsistent"
    exit 1
  }
  lock_hash requirements-test.lock > "$VENV/.installed"
fi

# A real browser for the console's end-to-end tests (tests/e2e/console.test.mjs): Debian's
# `chromium` package (Debian 12 ships one Chromium line and replaces it with each security update,
# so the suite is the pin, not a version that would vanish from the archive), driven by
# playwright-core from package-lock.json, which never downloads a browser. RTCGATE_CHROMIUM points
# the tests at another Chromium instead.
if [ -z "${RTCGATE_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing chromium from Debian's packages (the console's browser tests)"
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >&2
  else
    log "missing chromium: install Debian's package (apt-get install chromium), or set RTCGATE_CHROMIUM to a Chromium binary"
    exit 1
  fi
fi
