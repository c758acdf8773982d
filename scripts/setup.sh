#!/usr/bin/env bash
# Installs everything the build, `make dev` and `make test` need, at pinned versions.
# Idempotent: each step checks before it installs. Nothing here downloads a prebuilt binary
# from outside the package registries (crates.io, npm, PyPI, Debian), which fails here.
set -euo pipefail
source "$(dirname "$0")/tools.sh"
cd "$ROOT"

need() { command -v "$1" >/dev/null 2>&1 || { log "missing $1: $2"; exit 1; }; }
need cargo "install Rust with rustup"
need node "install Node.js 20.3 or newer"
need npm "install npm"
need python3 "install Python 3.11"

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

if [ ! -x node_modules/.bin/wrangler ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm packages from package-lock.json"
  npm ci --no-audit --no-fund --loglevel=error
fi

# requirements-test.lock pins every package, transitive ones included (regenerate it from
# requirements-test.txt in a fresh venv with `pip freeze` after changing that file).
if [ ! -x "$VENV/bin/python" ] || [ requirements-test.lock -nt "$VENV/.installed" ]; then
  log "installing Python test tools into .venv from requirements-test.lock"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -r requirements-test.lock
  "$VENV/bin/pip" check --disable-pip-version-check >/dev/null || {
    "$VENV/bin/pip" check --disable-pip-version-check >&2 || true
    log "requirements-test.lock is incomplete or inconsistent"
    exit 1
  }
  touch "$VENV/.installed"
fi
