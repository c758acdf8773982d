// `make dev` (scripts/dev.sh runs setup and the build, then this): starts the local stack
// (scripts/dev_stack.mjs) in the checkout, prints where everything is and how to try it, and stops
// everything on Ctrl-C. The environment knobs are listed in scripts/dev.sh.

import path from 'node:path';

import { ROOT, startDevStack } from './dev_stack.mjs';

const log = (line) => process.stderr.write(`\x1b[1m[rtcgate]\x1b[0m ${line}\n`);
const env = process.env;
const watch = env.RTCGATE_DEV_WATCH === '1';
if (watch) delete env.RTCGATE_PREBUILT; // wrangler runs [build] (scripts/build.sh) now and on every change

function banner(s) {
  const lk = s.vendors.livekit;
  const vendorLines = s.vendors.local
    ? [
      'Vendors: none configured in .dev.vars, so LOCAL ones are in use (no vendor account needed),',
      'each sending its signed webhooks to this Worker (events, usage and your webhook endpoints work):',
      lk.wsUrl
        ? `  LiveKit's own server ${lk.url}, clients on ${lk.wsUrl} (log: ${path.relative(ROOT, lk.log)})`
        : `  LiveKit stand-in ${lk.url} (log: ${path.relative(ROOT, lk.log)})`,
      `  stand-ins: Agora ${s.vendors.agora.url} · ZEGOCLOUD ${s.vendors.zego.url}   (requests: tail -f ${path.relative(ROOT, s.vendors.standinLog)})`,
      '  they keep rooms in memory only; put real credentials in .dev.vars to use the real services',
    ]
    : ['Vendors: the settings in .dev.vars'];
  const auth = `-H "Authorization: Bearer ${s.key}"`;
  return `
  rtcgate is running on ${s.url}
  Console:   ${s.consoleUrl}
  API key (${s.keySource}; project ${s.projectId}):

    ${s.key}

  Admin token: ADMIN_TOKEN in ${path.relative(ROOT, s.devVarsFile) || '.dev.vars'} (a new project and key: POST /v1/admin/projects, then /v1/admin/projects/{id}/keys)
  ${vendorLines.join('\n  ')}

  Try it (join with a real LiveKit client, then read the events and the usage it made):
    curl -s ${s.url}/v1/rtc/token/issue ${auth} -H "Content-Type: application/json" -d '{"room":"standup","identity":"alice"}' | node scripts/livekit-join.mjs
    curl -s ${auth} ${s.url}/v1/rtc/event/list; curl -s ${auth} ${s.url}/v1/rtc/usage
  An Agora or ZEGO stand-in join: the same token/issue with "vendor":"agora" (or "zego") | node scripts/standin-join.mjs
  The scheduled job runs on Cloudflare every 5 minutes; here run it once with:  curl "${s.url}/__scheduled?cron=*/5+*+*+*+*"
  Ctrl-C stops everything.
`;
}

let stack;
let stopping = false;
const stop = async (code) => {
  if (stopping) return;
  stopping = true;
  await stack?.stop();
  process.exit(code);
};
process.on('SIGINT', () => stop(130));
process.on('SIGTERM', () => stop(143));
process.on('SIGHUP', () => stop(129));

try {
  stack = await startDevStack({
    dir: ROOT,
    config: watch ? path.join(ROOT, 'wrangler.toml') : undefined,
    port: env.PORT || 8787,
    apiKey: env.RTCGATE_DEV_API_KEY || undefined,
    livekit: env.RTCGATE_DEV_LIVEKIT || 'server',
    livekitPorts: {
      http: Number(env.LIVEKIT_PORT || 7880),
      rtcTcp: Number(env.LIVEKIT_RTC_TCP_PORT || 7883),
      rtcUdp: Number(env.LIVEKIT_RTC_UDP_PORT || 7884),
    },
    livekitWebhookUrls: (env.LIVEKIT_WEBHOOK_URLS || '').split(',').map((u) => u.trim()).filter(Boolean),
    livekitStandinPort: env.LIVEKIT_STANDIN_PORT || 7880,
    agoraPort: env.AGORA_STANDIN_PORT || 7881,
    zegoPort: env.ZEGO_STANDIN_PORT || 7882,
    inheritOutput: true,
    log,
  });
} catch (e) {
  log(e?.message ?? String(e));
  await stop(1);
}
process.stderr.write(banner(stack));
// Runs until wrangler ends (or Ctrl-C).
const timer = setInterval(() => {
  if (stack.exited()) {
    clearInterval(timer);
    stop(stack.exited().code ?? 1);
  }
}, 500);
