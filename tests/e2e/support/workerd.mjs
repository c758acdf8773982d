// One workerd for the benchmarks, and for tests that need several isolates on one D1: rtcgate
// (build/) and, optionally, other rtcgate builds and the JavaScript Worker that mints with the
// vendors' official SDKs (bench/sdk-worker), in ONE workerd process started through Miniflare's
// API, each Worker on its own loopback socket (`unsafeDirectSockets`: no wrangler dev proxy and no
// Miniflare entry Worker in front), with local D1 (the project's migrations applied by wrangler)
// and KV inside that same process, and the vendor stand-ins. Each Worker is its own isolate; all
// of them reach the one D1 database through that process, as isolates reach D1's primary.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Miniflare } from 'miniflare';
import { CREDS, startVendorStandins, vendorVars } from './fixtures.mjs';
import { ROOT, freePort, randomToken } from './harness.mjs';

const WRANGLER = path.join(ROOT, 'node_modules', '.bin', 'wrangler');
/** The bench's per-key rate limit: counted on every request, never reached. */
const BENCH_RATE_LIMIT = 1_000_000_000;

/**
 * @param {object} [o]
 * @param {boolean} [o.sdk]            also serve the SDK Worker
 * @param {number} [o.inspectorPort]   open workerd's inspector (CPU profiles) on this port
 * @param {{label: string, build: string, limiter?: boolean}[]} [o.also]  other rtcgate builds (a `build/`
 *   folder each, e.g. of an earlier commit, or this one) served by the same workerd beside this one,
 *   with the same settings and the same D1 (their schema must be this build's or older), so that two
 *   builds compare in one run; `limiter: false` serves one without the Rate Limiting binding
 * @returns {Promise<{rtc: {url: string, adminToken: string}, sdk: string|null, standins: object, workerdPids: () => number[], close: () => Promise<void>}>}
 */
export async function startWorkerd({ sdk = false, inspectorPort, also = [] } = {}) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rtcgate-bench-'));
  const env = { ...process.env, WRANGLER_SEND_METRICS: 'false', RTCGATE_PREBUILT: '1', NO_COLOR: '1' };
  const quiet = { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] };
  // D1 state: the migrations applied into a persist dir that Miniflare then opens (the layout
  // wrangler dev uses).
  const persist = path.join(work, 'state');
  execFileSync(WRANGLER, ['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persist, '-c', 'wrangler.toml'], quiet);
  const databaseId = fs.readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8').match(/database_id\s*=\s*"([^"]+)"/)[1];

  const standins = await startVendorStandins();
  const admin = randomToken();
  const rtcPort = await freePort();
  const rtcgateWorker = (name, build, port, limiter = process.env.BENCH_RATE_LIMITER !== 'off') => ({
    name,
    modules: true,
    scriptPath: path.join(build, 'index.js'),
    modulesRoot: build,
    modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }],
    compatibilityDate: '2026-04-20',
    d1Databases: { DB: databaseId },
    kvNamespaces: { KV: 'rtcgate-bench-kv' },
    // Vars are strings on Workers (Miniflare would pass a number as a JSON binding).
    bindings: Object.fromEntries(
      Object.entries({
        ADMIN_TOKEN: admin,
        RTC_VENDOR_ORDER: 'livekit,agora,zego',
        VENDOR_TIMEOUT_MS: '8000',
        RATE_LIMIT_REQUESTS: BENCH_RATE_LIMIT,
        RATE_LIMIT_PERIOD_S: 60,
        ...vendorVars(standins),
      })
        .map(([k, v]) => [k, String(v)]),
    ),
    // The per-key rate limiter is in the path as deployed (one call per API-key request), with
    // a limit the load generator's one key never reaches (its verdict is never awaited).
    // BENCH_RATE_LIMITER=off (or `limiter: false`) leaves the binding out: the glue then notes
    // once that it is missing and lets every request through, so the limiter's cost shows.
    ...(limiter ? { ratelimits: { RATE_LIMITER: { simple: { limit: BENCH_RATE_LIMIT, period: 60 } } } } : {}),
    unsafeDirectSockets: [{ host: '127.0.0.1', port }],
  });
  const workers = [rtcgateWorker('rtcgate', path.join(ROOT, 'build'), rtcPort)];
  const others = [];
  for (const [i, { label, build, limiter }] of also.entries()) {
    const port = await freePort();
    workers.push(rtcgateWorker(`rtcgate-${i + 1}`, path.resolve(build), port, limiter));
    others.push({ label, url: `http://127.0.0.1:${port}`, adminToken: admin });
  }
  let sdkPort = null;
  if (sdk) {
    // The SDK Worker bundled by wrangler (nodejs_compat brings node:crypto and node:zlib).
    const sdkOut = path.join(work, 'sdk');
    execFileSync(WRANGLER, ['deploy', '--dry-run', '--outdir', sdkOut, '-c', 'bench/sdk-worker/wrangler.toml'], quiet);
    sdkPort = await freePort();
    workers.push({
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
    });
  }
  const mf = new Miniflare({
    host: '127.0.0.1',
    port: await freePort(),
    ...(inspectorPort ? { inspectorPort } : {}),
    d1Persist: path.join(persist, 'v3', 'd1'),
    kvPersist: path.join(persist, 'v3', 'kv'),
    workers,
  });
  await mf.ready;
  return {
    rtc: { url: `http://127.0.0.1:${rtcPort}`, adminToken: admin },
    also: others,
    sdk: sdkPort && `http://127.0.0.1:${sdkPort}`,
    /** The vendor stand-ins every Worker here points at (to seed channel members, read calls). */
    standins,
    workerdPids,
    async close() {
      await mf.dispose();
      await standins.close();
      fs.rmSync(work, { recursive: true, force: true });
    },
  };
}

/** The workerd processes this process started (its children). */
export function workerdPids() {
  try {
    const out = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' });
    return out.split('\n').map((l) => l.trim().split(/\s+/)).filter(([, c]) => c === 'workerd').map(([pid]) => Number(pid));
  } catch {
    return [];
  }
}

/** CPU time (user + system, µs) a process has used so far, all its threads. */
export function cpuMicros(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * (1e6 / 100);
}
