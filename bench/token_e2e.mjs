// End-to-end `rtc.token.issue` benchmark: the real Worker under `wrangler dev` (workerd, local
// D1/KV) on loopback, one room per vendor, a closed-loop load per vendor. Prints one JSON line
// per vendor with the request rate and p50/p99 latency, then a table.
import { startVendorStandins, vendorVars } from '../tests/e2e/fixtures.mjs';
import { adminSetup, api, randomToken, startWorker } from '../tests/e2e/harness.mjs';
import { runLoad } from './load.mjs';

const DURATION_MS = Number(process.env.BENCH_SECONDS ?? 10) * 1000;
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const MAX_REQUESTS = Number(process.env.BENCH_MAX_REQUESTS ?? 200_000);

const standins = await startVendorStandins();
const admin = randomToken();
const worker = await startWorker({ name: 'bench', vars: { ADMIN_TOKEN: admin, ...vendorVars(standins) } });

const rows = [];
try {
  // Baseline: the runtime's own cost for a request that touches no storage (no auth, no D1).
  const health = { method: 'GET', headers: {}, body: undefined };
  await runLoad({ url: `${worker.url}/v1/health`, request: () => health, concurrency: CONCURRENCY, durationMs: 1500, maxRequests: 2000 });
  const base = await runLoad({ url: `${worker.url}/v1/health`, request: () => health, concurrency: CONCURRENCY, durationMs: DURATION_MS, maxRequests: MAX_REQUESTS });
  const baseRow = { vendor: 'health', concurrency: CONCURRENCY, requests: base.requests, rps: Math.round(base.rps), p50_ms: +base.p50_ms.toFixed(2), p99_ms: +base.p99_ms.toFixed(2) };
  console.log(JSON.stringify(baseRow));
  rows.push(baseRow);

  const { key } = await adminSetup(worker);
  for (const vendor of ['livekit', 'agora', 'zego']) {
    const room = await api(worker, 'POST', '/v1/rtc/room/create', { key, body: { name: `bench-${vendor}`, vendor } });
    if (room.status !== 201) throw new Error(`room create on ${vendor}: ${room.status} ${room.text}`);
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    // A fixed pool of identities: the registry upsert is an update after the first round,
    // as for participants who reconnect.
    const request = (i) => ({
      method: 'POST',
      headers,
      body: JSON.stringify({ room: room.json.room, identity: `user-${i % 256}`, ttl_s: 3600 }),
    });
    const url = `${worker.url}/v1/rtc/token/issue`;
    await runLoad({ url, request, concurrency: CONCURRENCY, durationMs: 1500, maxRequests: 2000 }); // warm-up
    const r = await runLoad({ url, request, concurrency: CONCURRENCY, durationMs: DURATION_MS, maxRequests: MAX_REQUESTS });
    if (Object.keys(r.statuses).some((s) => s !== '200')) throw new Error(`non-200 answers: ${JSON.stringify(r.statuses)}`);
    const row = { vendor, concurrency: CONCURRENCY, requests: r.requests, rps: Math.round(r.rps), p50_ms: +r.p50_ms.toFixed(2), p99_ms: +r.p99_ms.toFixed(2) };
    console.log(JSON.stringify(row));
    rows.push(row);
  }
} finally {
  await worker.stop();
  await standins.close();
}

console.log('\nend-to-end token.issue on wrangler dev (loopback, closed loop; "health" = GET /v1/health baseline)');
console.log('vendor    requests   req/s   p50 ms   p99 ms');
for (const r of rows) {
  console.log(`${r.vendor.padEnd(8)} ${String(r.requests).padStart(9)} ${String(r.rps).padStart(7)} ${r.p50_ms.toFixed(2).padStart(8)} ${r.p99_ms.toFixed(2).padStart(8)}`);
}
