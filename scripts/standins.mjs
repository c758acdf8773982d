// Runs the project's vendor stand-ins (tests/e2e/standins/) as local LiveKit, Agora and ZEGOCLOUD
// servers, so `make dev` works without any vendor account. Started by scripts/dev.sh when
// .dev.vars configures no vendor; can also be run alone:
//
//   node scripts/standins.mjs
//
// Settings (environment): STANDIN_HOST (127.0.0.1), LIVEKIT_STANDIN_PORT (7880),
// AGORA_STANDIN_PORT (7881), ZEGO_STANDIN_PORT (7882). The credentials are the fixed dev-only
// values below (deliberately not read from the environment, where real ones may live).
//
// Prints one `NAME=value` line per Worker setting that points the Worker at the stand-ins (URLs and
// the matching dev-only credentials; scripts/dev.sh passes each on as `wrangler dev --var`), then
// `ready`; after that one line per request a stand-in receives (flagged `VIOLATION` when the
// request breaks the vendor's rules). SIGINT/SIGTERM stop it.

import { startLiveKit, startAgora, startZego } from '../tests/e2e/standins/index.mjs';

const DEV_DEFAULTS = Object.freeze({
  LIVEKIT_API_KEY: 'devkey',
  LIVEKIT_API_SECRET: 'rtcgate-local-dev-secret-not-for-production',
  AGORA_APP_ID: '0123456789abcdef0123456789abcdef',
  AGORA_APP_CERTIFICATE: 'fedcba9876543210fedcba9876543210',
  AGORA_CUSTOMER_ID: 'rtcgate-dev-customer',
  AGORA_CUSTOMER_SECRET: 'rtcgate-dev-customer-secret',
  ZEGO_APP_ID: '1234567890',
  ZEGO_SERVER_SECRET: '0123456789abcdef0123456789abcdef',
});

const env = (name) => DEV_DEFAULTS[name];
const host = process.env.STANDIN_HOST || '127.0.0.1';
const port = (name, fallback) => {
  const v = Number(process.env[name] || fallback);
  if (!Number.isInteger(v) || v < 0 || v > 65535) throw new Error(`${name} must be a port number`);
  return v;
};

async function main() {
  const handles = [];
  const stopAll = async () => Promise.allSettled(handles.map((h) => h.close()));
  const start = async (what, fn, opts) => {
    try {
      const h = await fn({ host, ...opts });
      handles.push(h);
      return h;
    } catch (e) {
      await stopAll();
      const hint = e?.code === 'EADDRINUSE' ? ` (port ${opts.port} is in use: set ${what.toUpperCase()}_STANDIN_PORT)` : '';
      throw new Error(`could not start the ${what} stand-in${hint}: ${e?.message ?? e}`);
    }
  };

  const livekit = await start('livekit', startLiveKit, {
    port: port('LIVEKIT_STANDIN_PORT', 7880),
    apiKey: env('LIVEKIT_API_KEY'),
    apiSecret: env('LIVEKIT_API_SECRET'),
  });
  const agora = await start('agora', startAgora, {
    port: port('AGORA_STANDIN_PORT', 7881),
    appId: env('AGORA_APP_ID'),
    customerId: env('AGORA_CUSTOMER_ID'),
    customerSecret: env('AGORA_CUSTOMER_SECRET'),
  });
  const zego = await start('zego', startZego, {
    port: port('ZEGO_STANDIN_PORT', 7882),
    appId: Number(env('ZEGO_APP_ID')),
    serverSecret: env('ZEGO_SERVER_SECRET'),
  });

  const workerSettings = {
    LIVEKIT_URL: livekit.url,
    LIVEKIT_API_KEY: env('LIVEKIT_API_KEY'),
    LIVEKIT_API_SECRET: env('LIVEKIT_API_SECRET'),
    AGORA_APP_ID: env('AGORA_APP_ID'),
    AGORA_APP_CERTIFICATE: env('AGORA_APP_CERTIFICATE'),
    AGORA_CUSTOMER_ID: env('AGORA_CUSTOMER_ID'),
    AGORA_CUSTOMER_SECRET: env('AGORA_CUSTOMER_SECRET'),
    AGORA_API_BASE: agora.url,
    ZEGO_APP_ID: env('ZEGO_APP_ID'),
    ZEGO_SERVER_SECRET: env('ZEGO_SERVER_SECRET'),
    ZEGO_API_BASE: zego.url,
  };
  for (const [k, v] of Object.entries(workerSettings)) console.log(`${k}=${v}`);
  console.log('ready');

  // Log each finished request, then drop it (a dev session can run for days).
  const timer = setInterval(() => {
    for (const h of handles) {
      let n = 0;
      while (n < h.calls.length && h.calls[n].done) n += 1;
      for (const c of h.calls.slice(0, n)) {
        const line = `[${h.name}] ${c.method} ${c.path}${c.op ? ` (${c.op})` : ''} → ${c.status ?? '-'}${c.fault ? ` fault=${c.fault}` : ''}`;
        console.log(c.ok ? line : `${line} VIOLATION: ${String(c.error).split('\n')[0]}`);
      }
      h.calls.splice(0, n);
    }
  }, 250);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    await stopAll();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGHUP', stop);
}

main().catch((e) => {
  console.error(`standins: ${e?.message ?? e}`);
  process.exit(1);
});
