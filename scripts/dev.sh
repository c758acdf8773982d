#!/usr/bin/env bash
# `make dev`: builds the Worker and runs it under `wrangler dev` (workerd, local D1 and KV under
# .wrangler/state) on 127.0.0.1:${PORT:-8787}, with a local project and API key ready to use.
#
#   PORT=8787                     listen port
#   RTCGATE_DEV_API_KEY=rtc_sk_…  install exactly this API key for the local project; otherwise one is
#                                 generated once, kept in .wrangler/rtcgate-dev-key, and printed
#   RTCGATE_DEV_WATCH=1           let wrangler build (and rebuild on every change under src/)
#                                 instead of building once up front; wrangler 4.86.0 then runs the
#                                 build a second time at start (it finds it up to date) and restarts
#                                 the Worker once (scripts/wrangler_config.mjs says why)
#   LIVEKIT_PORT / LIVEKIT_RTC_TCP_PORT / LIVEKIT_RTC_UDP_PORT (7880 / 7883 / 7884)
#                                 the local LiveKit server's HTTP+WebSocket and media ports
#   RTCGATE_DEV_LIVEKIT=standin   play LiveKit with the stand-in (LIVEKIT_STANDIN_PORT, 7880) instead
#   AGORA_STANDIN_PORT / ZEGO_STANDIN_PORT (7881 / 7882)
#
# Secrets come from .dev.vars, which is never overwritten; when there is none, one is created with
# a generated ADMIN_TOKEN and (commented out) every vendor setting. When .dev.vars configures no
# vendor, LiveKit's own server (built from source by scripts/setup.sh; scripts/livekit.mjs) runs on
# loopback with a key pair generated for the run, and the project's stand-ins (scripts/standins.mjs)
# play Agora and ZEGOCLOUD, which have no server one can run; no vendor account is needed.
# Ctrl-C stops everything.
set -euo pipefail
source "$(dirname "$0")/tools.sh"
cd "$ROOT"

PORT="${PORT:-8787}"
STATE=.wrangler/state
KEY_FILE=.wrangler/rtcgate-dev-key
STANDIN_LOG=.wrangler/standins.log
LIVEKIT_LOG=.wrangler/livekit-server.log
PROJECT_ID=prj_local

bash scripts/setup.sh

if [ "${RTCGATE_DEV_WATCH:-}" = 1 ]; then
  unset RTCGATE_PREBUILT # wrangler runs [build] (scripts/build.sh) now and on every change
  config=wrangler.toml
else
  bash scripts/build.sh
  # The same settings without [build], so wrangler starts the built Worker once.
  config=.dev.wrangler.toml
  node scripts/wrangler_config.mjs wrangler.toml "$config"
fi
mkdir -p .wrangler

# --- .dev.vars -----------------------------------------------------------------------------------
if [ ! -e .dev.vars ]; then
  admin_token=$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 40 || true)
  encryption_key=$(LC_ALL=C tr -dc '0-9a-f' </dev/urandom | head -c 64 || true)
  (
    umask 077
    cat >.dev.vars <<EOF
# Local secrets for \`make dev\` (wrangler dev reads this file; git ignores it).
# Created by scripts/dev.sh; it is never overwritten, edit it freely.

# Guards /v1/admin/* (send it as 'Authorization: Bearer <token>'). Remove it to disable the admin API.
ADMIN_TOKEN=$admin_token

# Seals projects' own recording storage credentials and webhook signing secrets at rest
# (64 hex characters). Changing it makes existing destinations and webhook endpoints unusable.
RTCGATE_ENCRYPTION_KEY=$encryption_key

# Vendors. While none is set here, \`make dev\` runs a local LiveKit server and local stand-ins for
# Agora and ZEGOCLOUD (no account needed).
# Set a vendor's settings to use the real service (restart \`make dev\` after editing).
# LiveKit:
# LIVEKIT_URL=https://your-project.livekit.cloud
# LIVEKIT_API_KEY=
# LIVEKIT_API_SECRET=
# Agora (App ID and App Certificate: 32 hex characters each; RESTful API customer id/secret):
# AGORA_APP_ID=
# AGORA_APP_CERTIFICATE=
# AGORA_CUSTOMER_ID=
# AGORA_CUSTOMER_SECRET=
# AGORA_API_BASE=https://api.sd-rtn.com
# ZEGOCLOUD (AppID: a number; ServerSecret: 32 characters):
# ZEGO_APP_ID=
# ZEGO_SERVER_SECRET=
# ZEGO_API_BASE=https://rtc-api.zego.im
# ZEGO_RECORDING_API_BASE=https://cloudrecord-api.zego.im
# Routing order for new rooms (default from wrangler.toml):
# RTC_VENDOR_ORDER=livekit,agora,zego

# Recording storage shared by all projects, each confined to its own folder (see docs/security.md):
# RECORDING_DEFAULT_URI=
# RECORDING_SHARED_BUCKETS=
# RECORDING_S3_ACCESS_KEY=
# RECORDING_S3_SECRET=
# RECORDING_S3_REGION=
# RECORDING_S3_ENDPOINT=
# RECORDING_GCP_CREDENTIALS=
# RECORDING_AZURE_ACCOUNT_NAME=
# RECORDING_AZURE_ACCOUNT_KEY=

# Vendor webhooks in (see docs/vendors.md, Vendor webhooks in):
# AGORA_NCS_SECRET=
# ZEGO_CALLBACK_SECRET=
EOF
  )
  log "created .dev.vars with a new ADMIN_TOKEN (no vendor credentials)"
fi
# A .dev.vars from before the key existed: say what is off without it rather than edit the file.
if ! grep -qE "^[[:space:]]*(export[[:space:]]+)?RTCGATE_ENCRYPTION_KEY[[:space:]]*=[[:space:]]*[0-9a-fA-F]{64}" .dev.vars; then
  log "warning: .dev.vars has no RTCGATE_ENCRYPTION_KEY, so project destinations and webhook endpoints answer"
  log "  422 ENCRYPTION_NOT_CONFIGURED; add a line RTCGATE_ENCRYPTION_KEY=<output of: openssl rand -hex 32>"
fi

# --- D1 schema -----------------------------------------------------------------------------------
log "applying D1 migrations to the local database ($STATE)"
wrangler d1 migrations apply DB --local --persist-to "$STATE" </dev/null >.wrangler/migrations.log 2>&1 || {
  cat .wrangler/migrations.log >&2
  log "applying migrations failed"
  exit 1
}

# --- the local project and API key ---------------------------------------------------------------
if [ -n "${RTCGATE_DEV_API_KEY:-}" ]; then
  key="$RTCGATE_DEV_API_KEY"
  # The Worker accepts 1–256 visible ASCII characters as a bearer credential.
  if [ "${#key}" -gt 256 ] || ! LC_ALL=C grep -qE '^[!-~]+$' <<<"$key"; then
    log "RTCGATE_DEV_API_KEY must be 1-256 visible ASCII characters (no spaces)"
    exit 1
  fi
  key_source="from RTCGATE_DEV_API_KEY"
elif [ -s "$KEY_FILE" ]; then
  key=$(<"$KEY_FILE")
  key_source="from $KEY_FILE"
else
  key="rtc_sk_$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32 || true)"
  (umask 077 && printf '%s\n' "$key" >"$KEY_FILE")
  key_source="generated, saved in $KEY_FILE"
fi
hash=$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)
last4=${key: -4}
last4=${last4//\'/\'\'}
now_ms=$(date +%s%3N)
# Fixed ids make this idempotent; a different key gets its own row. A dev key revoked through the
# admin API is reinstated, so the key printed below always works.
sql="INSERT OR IGNORE INTO projects (id, name, created_at_ms) VALUES ('$PROJECT_ID', 'local', $now_ms);
INSERT OR IGNORE INTO api_keys (id, project_id, key_hash, label, last4, created_at_ms)
  VALUES ('key_local_${hash:0:12}', '$PROJECT_ID', '$hash', 'make dev', '$last4', $now_ms);
UPDATE api_keys SET revoked_at_ms = NULL WHERE key_hash = '$hash';"
wrangler d1 execute DB --local --persist-to "$STATE" --command "$sql" </dev/null >.wrangler/dev-key.log 2>&1 || {
  cat .wrangler/dev-key.log >&2
  log "installing the local API key failed"
  exit 1
}

# --- vendors: .dev.vars, or the local stand-ins -------------------------------------------------
vendor_vars=()
standin_pid=""
livekit_pid=""
cleanup() {
  for pid in $standin_pid $livekit_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}

# Starts `node SCRIPT` logging to LOG, waits for its `ready` line, and adds every NAME=value line
# before it to the Worker's settings. Sets started_pid.
start_local() {
  local what=$1 script=$2 log=$3
  shift 3
  env "$@" node "$script" >"$log" 2>&1 &
  started_pid=$!
  for _ in $(seq 1 600); do
    grep -qx ready "$log" 2>/dev/null && break
    kill -0 "$started_pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -qx ready "$log" 2>/dev/null; then
    tail -n 30 "$log" >&2
    log "$what did not start (log: $log)"
    exit 1
  fi
  while IFS= read -r line; do
    [ "$line" = ready ] && break
    case "$line" in [A-Z]*=*) vendor_vars+=(--var "${line%%=*}:${line#*=}") ;; esac
  done <"$log"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A vendor counts as configured when .dev.vars gives any LIVEKIT_/AGORA_/ZEGO_ setting a non-empty value.
if grep -qE "^[[:space:]]*(export[[:space:]]+)?(LIVEKIT|AGORA|ZEGO)_[A-Z_]+[[:space:]]*=[[:space:]]*(\"[^\"]+\"|'[^']+'|[^\"'[:space:]#])" .dev.vars; then
  log "vendors: using the settings in .dev.vars"
else
  # Every NAME=value line before `ready` is a Worker setting (URL or dev-only credential).
  if [ "${RTCGATE_DEV_LIVEKIT:-server}" = standin ]; then
    start_local "the vendor stand-ins" scripts/standins.mjs "$STANDIN_LOG" STANDIN_VENDORS=livekit,agora,zego
    standin_pid=$started_pid
    lk_url=$(sed -n 's/^LIVEKIT_URL=//p' "$STANDIN_LOG")
    lk_what="LiveKit stand-in $lk_url (log: $STANDIN_LOG)"
  else
    start_local "the local LiveKit server" scripts/livekit.mjs "$LIVEKIT_LOG"
    livekit_pid=$started_pid
    start_local "the vendor stand-ins" scripts/standins.mjs "$STANDIN_LOG" STANDIN_VENDORS=agora,zego
    standin_pid=$started_pid
    lk_url=$(sed -n 's/^LIVEKIT_URL=//p' "$LIVEKIT_LOG")
    lk_what="LiveKit's own server $lk_url, clients on ${lk_url/http/ws} (log: $LIVEKIT_LOG)"
  fi
  agora_url=$(sed -n 's/^AGORA_API_BASE=//p' "$STANDIN_LOG")
  zego_url=$(sed -n 's/^ZEGO_API_BASE=//p' "$STANDIN_LOG")
  log "vendors: no vendor is configured in .dev.vars, so LOCAL ones are in use (no vendor account needed):"
  log "  $lk_what"
  log "  stand-ins: Agora $agora_url · ZEGOCLOUD $zego_url   (requests they receive: tail -f $STANDIN_LOG)"
  log "  they keep rooms in memory only; put real credentials in .dev.vars to use the real services"
fi

url="http://127.0.0.1:$PORT"
cat >&2 <<EOF

  rtcgate is starting on $url
  API key ($key_source; project $PROJECT_ID):

    $key

  Try:
    curl -H "Authorization: Bearer $key" $url/v1/discovery/rtc.room.create
    curl -H "Authorization: Bearer $key" $url/v1/rtc/room/list
    curl -H "Authorization: Bearer $key" $url/v1/rtc/limits
  The scheduled job (retention, reconciliation, event effects) runs on Cloudflare every 5 minutes;
  here run it once with:  curl "$url/__scheduled?cron=*/5+*+*+*+*"
  Admin API: the ADMIN_TOKEN in .dev.vars. Ctrl-C stops everything.

EOF

# Local development: webhook endpoints may be plain http on loopback (a receiver on this machine).
# --test-scheduled serves /__scheduled, which runs the Cron Trigger's job on demand (the local
# runtime does not fire crons by itself).
# Not exec: the EXIT trap must stop the stand-ins when wrangler ends.
wrangler dev --config "$config" --ip 127.0.0.1 --port "$PORT" --persist-to "$STATE" --test-scheduled \
  --var WEBHOOK_ALLOW_HTTP_LOOPBACK:1 "${vendor_vars[@]}"
