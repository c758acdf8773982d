// Runs the project's vendor stand-ins (tests/e2e/support/standins/) as local LiveKit, Agora and ZEGOCLOUD
// servers, without any vendor account. `make dev` starts them itself (scripts/dev_stack.mjs, with
// their notifications sent to its Worker); this runs them alone, sending none:
//
//   node scripts/standins.mjs
//
// Settings (environment): STANDIN_HOST (127.0.0.1), LIVEKIT_STANDIN_PORT (7880),
// AGORA_STANDIN_PORT (7881), ZEGO_STANDIN_PORT (7882), STANDIN_VENDORS (livekit,agora,zego: which
// vendors to play; `make dev` leaves LiveKit to the real server, scripts/livekit.mjs). The credentials are the end-to-end suite's
// fixed test values, CREDS in tests/e2e/support/fixtures.mjs (deliberately not read from the environment,
// where real ones may live).
//
// Prints one `NAME=value` line per Worker setting that points the Worker at the stand-ins (URLs and
// the matching test credentials; pass each on as `wrangler dev --var`), then
// `ready`; after that one line per request a stand-in receives (flagged `VIOLATION` when the
// request breaks the vendor's rules). SIGINT/SIGTERM stop it.

import { startLiveKit, startAgora, startZego } from '../tests/e2e/support/standins/index.mjs';
import { standinOptions, vendorVars } from '../tests/e2e/support/fixtures.mjs';
import { logStandinCalls } from './dev_stack.mjs';

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

  const wanted = (process.env.STANDIN_VENDORS || 'livekit,agora,zego').split(',').map((v) => v.trim()).filter(Boolean);
  const unknown = wanted.filter((v) => !['livekit', 'agora', 'zego'].includes(v));
  if (unknown.length) throw new Error(`STANDIN_VENDORS names unknown vendor(s): ${unknown.join(', ')}`);
  const creds = standinOptions(); // each stand-in's credential options
  const handlesByVendor = {};
  if (wanted.includes('livekit')) {
    handlesByVendor.livekit = await start('livekit', startLiveKit, { port: port('LIVEKIT_STANDIN_PORT', 7880), ...creds.livekit });
  }
  if (wanted.includes('agora')) {
    handlesByVendor.agora = await start('agora', startAgora, { port: port('AGORA_STANDIN_PORT', 7881), ...creds.agora });
  }
  if (wanted.includes('zego')) {
    handlesByVendor.zego = await start('zego', startZego, { port: port('ZEGO_STANDIN_PORT', 7882), ...creds.zego });
  }

  for (const [k, v] of Object.entries(vendorVars(handlesByVendor))) console.log(`${k}=${v}`);
  console.log('ready');

  // Log each finished request, then drop it (a dev session can run for days).
  const timer = setInterval(() => logStandinCalls(handles, (line) => console.log(line)), 250);

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
