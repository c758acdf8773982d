// Runs the vendor's own LiveKit server (built by scripts/setup.sh) on loopback for `make dev`, with a
// key pair generated for this run and no Redis (rooms live in the server's memory). `make dev`
// starts it itself (scripts/dev_stack.mjs, webhooks to its Worker); this runs it alone:
//
//   node scripts/livekit.mjs
//
// Settings (environment): LIVEKIT_PORT (7880: HTTP, Twirp and the clients' WebSocket),
// LIVEKIT_RTC_TCP_PORT (7883) and LIVEKIT_RTC_UDP_PORT (7884) for media, all on 127.0.0.1;
// LIVEKIT_WEBHOOK_URLS (optional, comma-separated) where the server posts its webhooks.
//
// Prints the Worker settings that point a Worker at it (LIVEKIT_URL, LIVEKIT_API_KEY,
// LIVEKIT_API_SECRET; pass each on as `wrangler dev --var`) as NAME=value lines,
// then `ready`, then the server's log. SIGINT/SIGTERM stop it.

import { startLiveKitServer } from '../tests/e2e/support/livekit_server.mjs';
import { followLog } from './dev_stack.mjs';

const port = (name, fallback) => {
  const v = Number(process.env[name] || fallback);
  if (!Number.isInteger(v) || v < 1 || v > 65535) throw new Error(`${name} must be a port number`);
  return v;
};

async function main() {
  const ports = {
    http: port('LIVEKIT_PORT', 7880),
    rtcTcp: port('LIVEKIT_RTC_TCP_PORT', 7883),
    rtcUdp: port('LIVEKIT_RTC_UDP_PORT', 7884),
  };
  const webhookUrls = (process.env.LIVEKIT_WEBHOOK_URLS || '').split(',').map((s) => s.trim()).filter(Boolean);
  const lk = await startLiveKitServer({ ports, webhookUrls });
  for (const [k, v] of Object.entries(lk.vars)) console.log(`${k}=${v}`);
  console.log('ready');

  // The server's log, from here on.
  let shown = lk.logs().length;
  const timer = setInterval(() => {
    shown = followLog(lk.logs, shown, (text) => process.stdout.write(text));
    if (lk.exited()) {
      console.error(`livekit-server exited (${JSON.stringify(lk.exited())})`);
      process.exit(1);
    }
  }, 250);

  const stop = async () => {
    clearInterval(timer);
    await lk.stop();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGHUP', stop);
}

main().catch((e) => {
  console.error(`livekit: ${e?.message ?? e}`);
  process.exit(1);
});
