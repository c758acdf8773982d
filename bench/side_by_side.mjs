// `make bench`, end to end: rtcgate and a JavaScript Worker that mints with the vendors'
// official SDKs (bench/sdk-worker), served side by side by ONE workerd process
// (tests/e2e/support/workerd.mjs), with local D1 and KV inside that same workerd. One closed
// loop of 16 clients per row (bench/load.mjs); every ratio compares rows of this one run,
// round by round (rows take turns in short slices), and the table quotes the median ratio.
//
// Rows: the SDK Worker's LiveKit and Agora mint; rtcgate GET /v1/health; rtcgate token.issue
// per vendor, warm (a fixed pool of identities that were all served before) and with a new
// identity on every request. Prints a table and writes target/bench-side-by-side.json.
// BENCH_ALSO=label=path/to/build[,label=path…] serves other rtcgate builds (e.g. an earlier
// commit's `build/`) in the same workerd and measures their health and token rows in the same
// rounds, named `rtcgate <label> …`: two builds compared in one run, each against the SDK Worker.
// A path of `.` is this build; a label ending in `-nolimiter` is served without the Rate Limiting
// binding (BENCH_ALSO=nolimiter=. measures what the limiter costs, in one build and one run).
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, adminSetup } from '../tests/e2e/support/harness.mjs';
import { percentile, runLoad } from './load.mjs';
import { POOL, health, sdkMint, tokenRows } from './rows.mjs';
import { startWorkerd } from '../tests/e2e/support/workerd.mjs';

const DURATION_MS = Number(process.env.BENCH_SECONDS ?? 20) * 1000;
const WARMUP_MS = Number(process.env.BENCH_WARMUP_SECONDS ?? 2) * 1000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const MAX_REQUESTS = Number(process.env.BENCH_MAX_REQUESTS ?? 200_000);
// Targets, as ratios to the SDK Worker in the same run.
const TARGETS = { warm: 0.9, fresh: 0.8, health: 1.2 };

const ALSO = (process.env.BENCH_ALSO ?? '').split(',').filter(Boolean).map((entry) => {
  const at = entry.indexOf('=');
  if (at < 1) throw new Error(`BENCH_ALSO: '${entry}' is not label=path/to/build`);
  const label = entry.slice(0, at);
  const build = entry.slice(at + 1) === '.' ? path.join(ROOT, 'build') : entry.slice(at + 1);
  return { label, build, limiter: !label.endsWith('nolimiter') };
});
const bench = await startWorkerd({ sdk: true, also: ALSO });

const rows = [];
try {
  const { rtc, sdk } = bench;
  const workerd = bench.workerdPids();
  console.log(`one workerd: ${workerd.length} workerd process(es) (pid ${workerd.join(', ')}) serve both Workers, D1 and KV; ` +
    `rtcgate on ${rtc.url}, the SDK Worker on ${sdk}, each Worker's own socket`);

  // Every row is measured in ROUNDS slices, the rows taking turns, so that the machine's load
  // drifting during the run (it is shared) hits every row alike rather than one row's slot.
  const plan = [];
  const row = (name, url, request, reference, pool = 0) => plan.push({ name, url, request, reference, pool, latencies: [], seconds: 0, statuses: {}, perRound: [] });

  // The SDK Worker: the reference for every ratio.
  const ref = {};
  for (const vendor of ['livekit', 'agora']) {
    row(`SDK Worker mint, ${vendor}`, `${sdk}/${vendor}`, sdkMint);
    ref[vendor] = plan.at(-1);
  }
  // ZEGO has no npm SDK, and health is measured against minting: both compare to the LiveKit mint.
  for (const [label, rtcgate] of [['', rtc], ...bench.also.map((o) => [`${o.label} `, o])]) {
    row(`rtcgate ${label}GET /v1/health`, `${rtcgate.url}/v1/health`, health, { row: ref.livekit, target: label ? null : TARGETS.health });
    const { key } = await adminSetup(rtcgate, { projectName: `bench ${label}`.trim() });
    for (const vendor of ['livekit', 'agora', 'zego']) {
      const tokens = await tokenRows(rtcgate, key, vendor, `bench-${vendor}`);
      const against = ref[vendor] ?? ref.livekit;
      const target = (t) => (label || t === null ? null : t);
      // Warm: 256 identities that reconnect; the warm-up serves each of them first.
      row(`rtcgate ${label}token.issue ${vendor}, warm`, tokens.url, tokens.warm, { row: against, target: target(vendor === 'zego' ? null : TARGETS.warm) }, POOL);
      // A new identity on every request, warm-up and every round included.
      row(`rtcgate ${label}token.issue ${vendor}, new identity`, tokens.url, tokens.fresh, { row: against, target: target(vendor === 'agora' ? null : TARGETS.fresh) });
    }
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
  await bench.close();
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
