// `make bench`, end to end: rtcgate and a JavaScript Worker that mints with the vendors'
// official SDKs (bench/sdk-worker), served side by side by ONE workerd process, each Worker on
// its own loopback socket (Miniflare's `unsafeDirectSockets`: no wrangler dev proxy and no
// Miniflare entry worker in front), with local D1 and KV inside that same workerd. One closed
// loop of 16 clients per row (bench/load.mjs); every ratio compares rows of this one run,
// round by round (rows take turns in short slices), and the table quotes the median ratio.
//
// Rows: the SDK Worker's LiveKit and Agora mint; rtcgate GET /v1/health; rtcgate token.issue
// per vendor, warm (a fixed pool of identities that were all served before) and with a new
// identity on every request. Prints a table and writes target/bench-side-by-side.json.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Miniflare } from 'miniflare';
import { CREDS, startVendorStandins, vendorVars } from '../tests/e2e/fixtures.mjs';
import { ROOT, adminSetup, api, freePort, randomToken } from '../tests/e2e/harness.mjs';
import { percentile, runLoad } from './load.mjs';

const DURATION_MS = Number(process.env.BENCH_SECONDS ?? 20) * 1000;
const WARMUP_MS = Number(process.env.BENCH_WARMUP_SECONDS ?? 2) * 1000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const MAX_REQUESTS = Number(process.env.BENCH_MAX_REQUESTS ?? 200_000);
const WRANGLER = path.join(ROOT, 'node_modules', '.bin', 'wrangler');
// Targets, as ratios to the SDK Worker in the same run.
const TARGETS = { warm: 0.9, fresh: 0.8, health: 1.2 };

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rtcgate-bench-'));
const env = { ...process.env, WRANGLER_SEND_METRICS: 'false', RTCGATE_PREBUILT: '1', NO_COLOR: '1' };
const quiet = { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] };

// D1 state: the project's migrations applied by wrangler into a persist dir that Miniflare
// then opens (the same layout wrangler dev uses).
const persist = path.join(work, 'state');
execFileSync(WRANGLER, ['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persist, '-c', 'wrangler.toml'], quiet);
const databaseId = fs.readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8').match(/database_id\s*=\s*"([^"]+)"/)[1];
// The SDK Worker bundled by wrangler (nodejs_compat brings node:crypto and node:zlib).
const sdkOut = path.join(work, 'sdk');
execFileSync(WRANGLER, ['deploy', '--dry-run', '--outdir', sdkOut, '-c', 'bench/sdk-worker/wrangler.toml'], quiet);

const standins = await startVendorStandins();
const admin = randomToken();
const [rtcPort, sdkPort] = [await freePort(), await freePort()];
const mf = new Miniflare({
  host: '127.0.0.1',
  port: await freePort(),
  d1Persist: path.join(persist, 'v3', 'd1'),
  kvPersist: path.join(persist, 'v3', 'kv'),
  workers: [
    {
      name: 'rtcgate',
      modules: true,
      scriptPath: path.join(ROOT, 'build', 'index.js'),
      modulesRoot: path.join(ROOT, 'build'),
      modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }],
      compatibilityDate: '2026-04-20',
      d1Databases: { DB: databaseId },
      kvNamespaces: { KV: 'rtcgate-bench-kv' },
      // Vars are strings on Workers (Miniflare would pass a number as a JSON binding).
      bindings: Object.fromEntries(
        Object.entries({ ADMIN_TOKEN: admin, RTC_VENDOR_ORDER: 'livekit,agora,zego', VENDOR_TIMEOUT_MS: '8000', ...vendorVars(standins) })
          .map(([k, v]) => [k, String(v)]),
      ),
      unsafeDirectSockets: [{ host: '127.0.0.1', port: rtcPort }],
    },
    {
      name: 'sdk',
      modules: true,
      scriptPath: path.join(sdkOut, 'index.js'),
      modulesRoot: sdkOut,
      compatibilityDate: '2026-04-20',
      compatibilityFlags: ['nodejs_compat'],
      bindings: {
        LIVEKIT_API_KEY: CREDS.livekit.apiKey,
        LIVEKIT_API_SECRET: CREDS.livekit.apiSecret,
        AGORA_APP_ID: CREDS.agora.appId,
        AGORA_APP_CERTIFICATE: CREDS.agora.certificate,
      },
      unsafeDirectSockets: [{ host: '127.0.0.1', port: sdkPort }],
    },
  ],
});

/** The workerd processes this run started (children of this process). */
function workerdProcesses() {
  try {
    const out = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' });
    return out.split('\n').map((l) => l.trim().split(/\s+/)).filter(([, c]) => c === 'workerd').map(([pid]) => Number(pid));
  } catch {
    return [];
  }
}

const rows = [];
try {
  await mf.ready;
  const rtc = { url: `http://127.0.0.1:${rtcPort}`, adminToken: admin };
  const sdk = `http://127.0.0.1:${sdkPort}`;
  const workerd = workerdProcesses();
  console.log(`one workerd: ${workerd.length} workerd process(es) (pid ${workerd.join(', ')}) serve both Workers, D1 and KV; ` +
    `rtcgate on :${rtcPort}, the SDK Worker on :${sdkPort}, each Worker's own socket`);

  const json = (headers, body) => ({ method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  // Every row is measured in ROUNDS slices, the rows taking turns, so that the machine's load
  // drifting during the run (it is shared) hits every row alike rather than one row's slot.
  const plan = [];
  const row = (name, url, request, reference, pool = 0) => plan.push({ name, url, request, reference, pool, latencies: [], seconds: 0, statuses: {}, perRound: [] });

  // The SDK Worker: the reference for every ratio.
  const ref = {};
  for (const vendor of ['livekit', 'agora']) {
    row(`SDK Worker mint, ${vendor}`, `${sdk}/${vendor}`, (i) => json({}, { room: 'bench', identity: `user-${i % 256}`, ttl_s: 3600 }));
    ref[vendor] = plan.at(-1);
  }
  // ZEGO has no npm SDK, and health is measured against minting: both compare to the LiveKit mint.
  const health = { method: 'GET', headers: {}, body: undefined };
  row('rtcgate GET /v1/health', `${rtc.url}/v1/health`, () => health, { row: ref.livekit, target: TARGETS.health });

  const { key } = await adminSetup(rtc);
  const auth = { authorization: `Bearer ${key}` };
  let fresh = 0;
  for (const vendor of ['livekit', 'agora', 'zego']) {
    const room = await api(rtc, 'POST', '/v1/rtc/room/create', { key, body: { name: `bench-${vendor}`, vendor } });
    if (room.status !== 201) throw new Error(`room create on ${vendor}: ${room.status} ${room.text}`);
    const url = `${rtc.url}/v1/rtc/token/issue`;
    const against = ref[vendor] ?? ref.livekit;
    // Warm: 256 identities that reconnect; the warm-up serves each of them first.
    row(`rtcgate token.issue ${vendor}, warm`, url, (i) => json(auth, { room: room.json.room, identity: `user-${i % 256}`, ttl_s: 3600 }),
      { row: against, target: vendor === 'zego' ? null : TARGETS.warm }, 256);
    // A new identity on every request, warm-up and every round included.
    row(`rtcgate token.issue ${vendor}, new identity`, url, () => json(auth, { room: room.json.room, identity: `new-${++fresh}`, ttl_s: 3600 }),
      { row: against, target: vendor === 'agora' ? null : TARGETS.fresh });
  }

  for (const r of plan) {
    // A warm row's pool of identities is served once in full first (so that every request
    // measured is a repeat, however slow the machine), then every row warms up for a while.
    if (r.pool) await runLoad({ url: r.url, request: r.request, concurrency: CONCURRENCY, durationMs: 120_000, maxRequests: r.pool });
    await runLoad({ url: r.url, request: r.request, concurrency: CONCURRENCY, durationMs: WARMUP_MS, maxRequests: MAX_REQUESTS });
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const r of plan) {
      const got = await runLoad({ url: r.url, request: r.request, concurrency: CONCURRENCY, durationMs: DURATION_MS / ROUNDS, maxRequests: MAX_REQUESTS });
      r.latencies.push(...got.latencies);
      r.seconds += got.seconds;
      r.perRound.push(got.rps);
      for (const [status, n] of Object.entries(got.statuses)) r.statuses[status] = (r.statuses[status] ?? 0) + n;
    }
  }
  for (const r of plan) {
    if (Object.keys(r.statuses).some((s) => s !== '200')) throw new Error(`${r.name}: non-200 answers ${JSON.stringify(r.statuses)}`);
    r.latencies.sort((a, b) => a - b);
    // Each round compares a row with its reference measured moments apart; the median of
    // those ratios is what the table quotes (the machine's speed drifts between rounds).
    const ratios = r.reference ? r.perRound.map((rps, i) => rps / r.reference.row.perRound[i]).sort((a, b) => a - b) : null;
    const summary = { name: r.name, requests: r.latencies.length, rps: Math.round(r.latencies.length / r.seconds), p50_ms: +percentile(r.latencies, 50).toFixed(2), p99_ms: +percentile(r.latencies, 99).toFixed(2), reference: r.reference,
      ratio_median: ratios && +percentile(ratios, 50).toFixed(3), ratio_range: ratios && [+ratios[0].toFixed(2), +ratios.at(-1).toFixed(2)] };
    console.log(JSON.stringify({ ...summary, reference: r.reference?.row.name }));
    rows.push(summary);
  }
} finally {
  await mf.dispose();
  await standins.close();
  fs.rmSync(work, { recursive: true, force: true });
}

const table = ['| what | req/s | p50 | p99 | ratio to the SDK Worker (median of rounds; range) | target |', '|---|---|---|---|---|---|'];
for (const r of rows) {
  const ratio = r.ratio_median;
  const versus = r.reference ? ` (vs its ${r.reference.row.name.split(', ')[1]} mint)` : '';
  const target = r.reference?.target ? `≥ ${r.reference.target}× ${ratio >= r.reference.target ? '✔' : '✘'}` : '';
  r.ratio = ratio && +ratio.toFixed(2);
  const range = ratio ? ` (${r.ratio_range[0].toFixed(2)}–${r.ratio_range[1].toFixed(2)})` : '';
  table.push(`| ${r.name} | ${r.rps} | ${r.p50_ms.toFixed(1)} ms | ${r.p99_ms.toFixed(1)} ms | ${ratio ? `${ratio.toFixed(2)}×${range}${versus}` : '1'} | ${target} |`);
}
console.log(`\nside by side on one workerd, ${CONCURRENCY} connections, ${DURATION_MS / 1000} s per row in ${ROUNDS} interleaved rounds\n`);
console.log(table.join('\n'));
fs.mkdirSync(path.join(ROOT, 'target'), { recursive: true });
fs.writeFileSync(path.join(ROOT, 'target', 'bench-side-by-side.json'), JSON.stringify(rows.map(({ reference, ...r }) => ({ ...r, reference: reference?.row.name ?? null })), null, 2));
