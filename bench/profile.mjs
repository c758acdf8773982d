// Where rtcgate's per-request time goes: `node bench/profile.mjs [row]` (after a build) serves
// rtcgate in one workerd (tests/e2e/support/workerd.mjs), loads one row with 16 connections, and reports
//   1. req/s and workerd's CPU time per request (all its threads, from /proc), unprofiled;
//   2. a CPU profile of the rtcgate isolate taken through workerd's inspector under the same
//      load: the functions with the most self time (JS, the wasm glue and Rust functions by
//      name), and the profile itself in target/profile-<row>.cpuprofile (Chrome DevTools).
// Rows: health · post-refused (a token.issue POST with a body but no key: the fixed cost of a
// request with a body) · <vendor>:warm · <vendor>:new (vendor: livekit, agora, zego) ·
// sdk:livekit (the SDK Worker's mint, bench/sdk-worker, profiled in its own isolate).
// PROFILE_EDGE_HEADERS=1 adds the headers a request carries through Cloudflare's edge.
// The numbers are for comparing rows and builds on one machine in one session, nothing more.
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { ROOT, adminSetup, freePort } from '../tests/e2e/support/harness.mjs';
import { runLoad } from './load.mjs';
import { health, pooled, postJson, sdkMint, tokenRows } from './rows.mjs';
import { cpuMicros, startWorkerd } from '../tests/e2e/support/workerd.mjs';

const ROW = process.argv[2] ?? 'livekit:warm';
const SECONDS = Number(process.env.PROFILE_SECONDS ?? 5);
const TOP = Number(process.env.PROFILE_TOP ?? 30);

const inspectorPort = await freePort();
const SDK_ROW = ROW === 'sdk:livekit';
const bench = await startWorkerd({ inspectorPort, sdk: SDK_ROW });
try {
  const { url, request } = SDK_ROW
    ? { url: `${bench.sdk}/livekit`, request: sdkMint }
    : await rowOf(ROW, bench.rtc);
  const sent = process.env.PROFILE_EDGE_HEADERS ? (i) => withEdgeHeaders(request(i)) : request;
  const load = (seconds) => runLoad({ url, request: sent, concurrency: 16, durationMs: seconds * 1000, maxRequests: 1e7 });
  await load(2);

  const [pid] = bench.workerdPids();
  const before = cpuMicros(pid);
  const plain = await load(SECONDS);
  const perRequest = (cpuMicros(pid) - before) / plain.requests;
  console.log(`${ROW}: ${plain.rps.toFixed(0)} req/s, workerd CPU ${perRequest.toFixed(1)} µs per request, answers ${JSON.stringify(plain.statuses)}`);

  const profile = await profiled(SDK_ROW ? 'sdk' : 'rtcgate', () => load(SECONDS));
  const out = path.join(ROOT, 'target', `profile-${ROW.replace(/[^a-z0-9]+/gi, '-')}.cpuprofile`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(profile));
  console.log(`profile: ${path.relative(ROOT, out)}; self time on the Worker isolate's thread, top ${TOP}:`);
  for (const [name, share] of selfTime(profile).slice(0, TOP)) console.log(`${(100 * share).toFixed(1).padStart(6)} %  ${name.slice(0, 120)}`);
} finally {
  await bench.close();
}

/**
 * The request with the headers a request has by the time Cloudflare's edge hands it to a
 * Worker (`PROFILE_EDGE_HEADERS=1`): the client's usual ones and Cloudflare's `cf-*` and
 * forwarding headers. The load generator alone sends only what the row needs.
 */
function withEdgeHeaders(req) {
  const edge = {
    'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)',
    accept: 'application/json',
    'accept-encoding': 'gzip, br',
    'accept-language': 'en-US,en;q=0.9',
    'cdn-loop': 'cloudflare',
    'cf-connecting-ip': '203.0.113.7',
    'cf-ipcountry': 'NL',
    'cf-ray': '8f1e2d3c4b5a6978-AMS',
    'cf-visitor': '{"scheme":"https"}',
    'x-forwarded-proto': 'https',
    'x-real-ip': '203.0.113.7',
  };
  return { ...req, headers: { ...req.headers, ...edge } };
}

/** The URL and request builder of a row. */
async function rowOf(row, rtc) {
  if (row === 'health') return { url: `${rtc.url}/v1/health`, request: health };
  if (row === 'post-refused') {
    return { url: `${rtc.url}/v1/rtc/token/issue`, request: (i) => postJson({}, { room: 'r', identity: pooled(i), ttl_s: 3600 }) };
  }
  const [vendor, mode] = row.split(':');
  if (!['livekit', 'agora', 'zego'].includes(vendor) || !['warm', 'new'].includes(mode)) throw new Error(`unknown row ${row}`);
  const { key } = await adminSetup(rtc);
  const tokens = await tokenRows(rtc, key, vendor, `profile-${vendor}`);
  return { url: tokens.url, request: mode === 'new' ? tokens.fresh : tokens.warm };
}

/** Runs `work` with the CPU profiler of the Worker named `worker` on and returns the profile. */
async function profiled(worker, work) {
  const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json();
  const target = targets.find((t) => t.id === `core:user:${worker}`) ?? targets.find((t) => `${t.id} ${t.title}`.includes(worker));
  if (!target) throw new Error(`no ${worker} inspector target among ${targets.map((t) => t.id).join(', ')}`);
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let id = 0;
  const waiting = new Map();
  ws.on('message', (data) => {
    const msg = JSON.parse(data);
    waiting.get(msg.id)?.(msg);
    waiting.delete(msg.id);
  });
  const call = (method, params = {}) => new Promise((resolve) => {
    waiting.set(++id, resolve);
    ws.send(JSON.stringify({ id, method, params }));
  });
  await call('Profiler.enable');
  await call('Profiler.setSamplingInterval', { interval: 100 });
  await call('Profiler.start');
  await work();
  const { result } = await call('Profiler.stop');
  ws.close();
  return result.profile;
}

/** [function, share of all samples] by self time, largest first. */
function selfTime(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const time = new Map();
  let total = 0;
  profile.samples.forEach((sample, i) => {
    const frame = byId.get(sample).callFrame;
    const name = frame.functionName || `(anonymous ${frame.url.split('/').pop()}:${frame.lineNumber})`;
    const dt = profile.timeDeltas[i] ?? 0;
    time.set(name, (time.get(name) ?? 0) + dt);
    total += dt;
  });
  return [...time].map(([name, t]) => [name, t / total]).sort((a, b) => b[1] - a[1]);
}
