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
#   LIVEKIT_WEBHOOK_URLS          more places (comma-separated) the local LiveKit server posts its
#                                 webhooks to, besides the Worker's /v1/vendor-events/livekit
#   RTCGATE_DEV_LIVEKIT=standin   play LiveKit with the stand-in (LIVEKIT_STANDIN_PORT, 7880) instead
#   AGORA_STANDIN_PORT / ZEGO_STANDIN_PORT (7881 / 7882)
#
# The stack itself (.dev.vars, migrations, the local key, the local vendors wired to send their
# signed webhooks to the Worker, wrangler dev) is scripts/dev_stack.mjs, which the end-to-end suite
# starts too (tests/e2e/dev_stack.test.mjs); scripts/dev.mjs runs it here and prints where
# everything is. Ctrl-C stops everything.
set -euo pipefail
source "$(dirname "$0")/tools.sh"
cd "$ROOT"

bash scripts/setup.sh

# Watch mode: wrangler runs [build] (scripts/build.sh) now and on every change; otherwise build once.
if [ "${RTCGATE_DEV_WATCH:-}" != 1 ]; then
  bash scripts/build.sh
fi
exec node scripts/dev.mjs
