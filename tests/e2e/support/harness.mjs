// The shared end-to-end harness: runs the real Worker (build/, as built by scripts/build.sh, with
// the console's static assets in build/assets) under `wrangler dev` (workerd with local D1 and KV)
// and talks to it over HTTP.
//
//   import { startWorker, api, adminSetup } from './harness.mjs';
//   const w = await startWorker({ name: 'main', vars: { ADMIN_TOKEN: 'adm', LIVEKIT_URL: lk.url, ... } });
//   const { projectId, key, keyId } = await adminSetup(w);
//   const r = await api(w, 'GET', '/v1/rtc/room/list', { key });   // → { status, headers, json, text }
//   await w.stop();
//
// Isolation, so several Workers (e.g. one with every vendor configured, one with none) can run at
// once, also next to `make dev` and next to someone rebuilding in the same checkout:
// - each Worker gets its own free port, inspector port and fresh persist dir (D1 + KV state),
//   migrated with `wrangler d1 migrations apply DB --local --persist-to DIR` before start;
// - the Worker runs from a snapshot of build/ taken once per test process, under a generated copy
//   of wrangler.toml without the [build] step (so edits to src/ never rebuild or reload a Worker
//   mid-test), in a directory with no .dev.vars/.env: its vars are exactly `vars` (plus
//   wrangler.toml's [vars] defaults), never a developer's local secrets;
// - wrangler runs in its own process group; stop() (and process exit) kills the whole group.
//
// Environment knobs: RTCGATE_E2E_START_TIMEOUT_MS (default 120000), RTCGATE_E2E_LOG=1 (stream every
// Worker's log to stderr), RTCGATE_E2E_KEEP=1 (keep temp dirs for inspection).

import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { freeTcpPort } from './ports.mjs';
import { killGroup, spawnLogged } from './process.mjs';
import { jsonOrUndefined } from './json.mjs';
import { withoutBuildTable } from '../../../scripts/wrangler_config.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const WRANGLER = path.join(ROOT, 'node_modules', '.bin', 'wrangler');
const START_TIMEOUT_MS = Number(process.env.RTCGATE_E2E_START_TIMEOUT_MS || 120_000);
const KEEP = process.env.RTCGATE_E2E_KEEP === '1';

// ---------------------------------------------------------------------------------------------
// ports

const handedOut = new Set();

/** A TCP port that is free on 127.0.0.1 right now and not handed out before by this process. */
export async function freePort() {
  for (let i = 0; i < 50; i++) {
    const port = await freeTcpPort();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('freePort: no free port found');
}

// ---------------------------------------------------------------------------------------------
// the snapshot of build/ and the generated wrangler config (once per process)

let workspacePromise;

function workspace() {
  workspacePromise ??= (async () => {
    const wasm = path.join(ROOT, 'build', 'index_bg.wasm');
    const js = path.join(ROOT, 'build', 'index.js');
    if (!fs.existsSync(wasm) || !fs.existsSync(js)) {
      throw new Error(`no built Worker in ${path.join(ROOT, 'build')}: run \`bash scripts/build.sh\` (or \`make test\`) first`);
    }
    if (!fs.existsSync(WRANGLER)) {
      throw new Error(`${WRANGLER} is missing: run \`bash scripts/setup.sh\` first`);
    }
    const assets = path.join(ROOT, 'build', 'assets');
    if (!fs.existsSync(path.join(assets, 'console', 'index.html'))) {
      throw new Error(`no built console in ${assets} (wrangler.toml [assets]): run \`bash scripts/build.sh\` first`);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtcgate-e2e-'));
    fs.mkdirSync(path.join(dir, 'build'));
    for (const f of fs.readdirSync(path.join(ROOT, 'build'))) {
      const src = path.join(ROOT, 'build', f);
      if (fs.statSync(src).isFile()) fs.copyFileSync(src, path.join(dir, 'build', f));
    }
    // The static assets (the console), at the same path relative to the config.
    fs.cpSync(assets, path.join(dir, 'build', 'assets'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'wrangler.toml'), testConfig(fs.readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8')));
    cleanupDirs.add(dir);
    return dir;
  })();
  return workspacePromise;
}

/** wrangler.toml for tests: no [build] step, migrations from the checkout, main = the snapshot. */
function testConfig(toml) {
  const out = [];
  let sawMain = false;
  let sawMigrations = false;
  for (const line of withoutBuildTable(toml).split('\n')) {
    if (/^\s*main\s*=/.test(line)) {
      out.push('main = "build/index.js"');
      sawMain = true;
    } else if (/^\s*migrations_dir\s*=/.test(line)) {
      out.push(`migrations_dir = ${JSON.stringify(path.join(ROOT, 'migrations'))}`);
      sawMigrations = true;
    } else {
      out.push(line);
    }
  }
  if (!sawMain || !sawMigrations) {
    throw new Error('harness: wrangler.toml has no `main =` or `migrations_dir =` line to rewrite; update testConfig() in tests/e2e/support/harness.mjs');
  }
  return out.join('\n');
}

/** The config with `[ratelimits.simple]`'s limit and period replaced. */
function withRateLimit(toml, { requests, period }) {
  let inSimple = false;
  let replaced = 0;
  const out = toml.split('\n').map((line) => {
    const header = line.match(/^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$/);
    if (header) inSimple = header[1] === 'ratelimits.simple';
    if (!inSimple) return line;
    if (/^\s*limit\s*=/.test(line)) return (replaced++, `limit = ${Number(requests)}`);
    if (/^\s*period\s*=/.test(line)) return (replaced++, `period = ${Number(period)}`);
    return line;
  });
  if (replaced !== 2) {
    throw new Error('harness: wrangler.toml has no [ratelimits.simple] limit/period to rewrite; update withRateLimit() in tests/e2e/support/harness.mjs');
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// processes

const live = new Set(); // child processes (each the leader of its own process group)
const cleanupDirs = new Set();

process.on('exit', () => {
  for (const child of live) killGroup(child, 'SIGKILL');
  if (!KEEP) for (const dir of cleanupDirs) fs.rmSync(dir, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    for (const child of live) killGroup(child, 'SIGKILL');
    process.exit(128 + (os.constants.signals[sig] ?? 1));
  });
}

function childEnv() {
  return {
    ...process.env,
    PATH: `${path.join(ROOT, 'node_modules', '.bin')}${path.delimiter}${process.env.PATH}`,
    RTCGATE_PREBUILT: '1',
    WRANGLER_SEND_METRICS: 'false',
    NO_COLOR: '1',
    FORCE_COLOR: '0',
  };
}

function tail(text, lines = 40) {
  return text.split('\n').slice(-lines).join('\n');
}

/** Runs a command to completion; rejects with its output on failure or timeout. */
function run(cmd, args, { cwd, timeoutMs = 120_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    live.add(child);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => {
      killGroup(child, 'SIGKILL');
      reject(new Error(`timed out after ${timeoutMs} ms: ${cmd} ${args.join(' ')}\n--- output ---\n${tail(out)}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      live.delete(child);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      if (code === 0) resolve(out);
      else reject(new Error(`${path.basename(cmd)} ${args.join(' ')} failed (${signal ?? `exit ${code}`})\n--- output ---\n${tail(out)}`));
    });
  });
}

let workerCount = 0;

/**
 * Starts the Worker under `wrangler dev` with fresh local D1/KV state.
 *
 * @param {object} [options]
 * @param {Record<string, string|number|boolean|null|undefined>} [options.vars]  Worker vars/secrets
 *   (passed as `--var K:V`; null/undefined values are left out, so the setting is absent).
 * @param {string} [options.name]  a label for dirs and log lines.
 * @param {number} [options.timeoutMs]  start-up timeout (default RTCGATE_E2E_START_TIMEOUT_MS or 120 s).
 * @param {{requests: number, period: 10|60}} [options.rateLimit]  a per-key rate limit other than
 *   wrangler.toml's: this Worker gets its own copy of the config with that `[ratelimits.simple]`
 *   and the matching RATE_LIMIT_REQUESTS / RATE_LIMIT_PERIOD_S vars.
 * @param {boolean} [options.testScheduled]  start with `--test-scheduled`, so `GET /__scheduled?cron=…`
 *   runs the Worker's scheduled handler (see `scheduled()` below).
 * @returns {Promise<{url: string, port: number, name: string, vars: object, adminToken?: string,
 *   persistDir: string, config: string, stop(): Promise<void>, logs(): string}>}
 */
export async function startWorker({ vars = {}, name = 'worker', timeoutMs = START_TIMEOUT_MS, rateLimit, testScheduled = false } = {}) {
  const ws = await workspace();
  let config = path.join(ws, 'wrangler.toml');
  const safeName = String(name).replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 40) || 'worker';
  const dir = path.join(ws, `${safeName}-${++workerCount}-${process.pid}`);
  const persistDir = path.join(dir, 'state');
  fs.mkdirSync(persistDir, { recursive: true });

  if (rateLimit) {
    // Next to the shared config (its `main` is relative to the config's directory).
    const own = path.join(ws, `wrangler-${path.basename(dir)}.toml`);
    fs.writeFileSync(own, withRateLimit(fs.readFileSync(config, 'utf8'), rateLimit));
    config = own;
    vars = { RATE_LIMIT_REQUESTS: rateLimit.requests, RATE_LIMIT_PERIOD_S: rateLimit.period, ...vars };
  }

  const cleanVars = Object.fromEntries(
    Object.entries(vars)
      .filter(([, v]) => v !== undefined && v !== null)
      .map(([k, v]) => [k, String(v)]),
  );

  const deadline = Date.now() + timeoutMs; // for migrations and start-up together
  await run(WRANGLER, ['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persistDir, '-c', config], {
    cwd: ws,
    timeoutMs,
  });

  let lastError;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await launch({ ws, config, dir, persistDir, vars: cleanVars, name: safeName, deadline, testScheduled });
    } catch (e) {
      lastError = e;
      // Another process took the port between freePort() and wrangler's bind: try new ports.
      if (!e.portClash || Date.now() > deadline) break;
    }
  }
  throw lastError;
}

async function launch({ ws, config, dir, persistDir, vars, name, deadline, testScheduled }) {
  const port = await freePort();
  const inspectorPort = await freePort();
  const args = [
    'dev',
    '-c', config,
    '--ip', '127.0.0.1',
    '--port', String(port),
    '--inspector-port', String(inspectorPort),
    '--persist-to', persistDir,
    '--show-interactive-dev-session=false',
  ];
  if (testScheduled) args.push('--test-scheduled');
  for (const [k, v] of Object.entries(vars)) args.push('--var', `${k}:${v}`);

  const { child, logs, exited, exitPromise, terminate } = spawnLogged(WRANGLER, args, { cwd: ws, env: childEnv(), label: name, live });

  const url = `http://127.0.0.1:${port}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return exitPromise;
    stopped = true;
    await terminate();
    // workerd may outlive wrangler when wrangler dies first; make sure the group is gone.
    killGroup(child, 'SIGKILL');
    if (!KEEP) fs.rmSync(dir, { recursive: true, force: true });
  };

  // Ready when /v1/health answers 200 from our Worker.
  for (;;) {
    const gone = exited();
    if (gone) {
      await stop();
      const err = new Error(
        `wrangler dev (${name}) exited before the Worker was ready (${gone.error ?? gone.signal ?? `exit ${gone.code}`})\n--- wrangler log (tail) ---\n${tail(logs())}`,
      );
      err.portClash = /EADDRINUSE|address already in use/i.test(logs());
      throw err;
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev (${name}) did not serve ${url}/v1/health in time\n--- wrangler log (tail) ---\n${tail(logs())}`);
    }
    try {
      const res = await fetch(`${url}/v1/health`, { signal: AbortSignal.timeout(3000) });
      const body = await res.text();
      if (res.status === 200 && body.includes('"ok"')) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 150));
  }

  return {
    url,
    port,
    name,
    vars: { ...vars },
    adminToken: vars.ADMIN_TOKEN,
    persistDir,
    config,
    stop,
    logs,
  };
}

// ---------------------------------------------------------------------------------------------
// HTTP

/**
 * One request to the Worker.
 *
 * @param {{url: string}|string} worker  a handle from startWorker, or a base URL.
 * @param {string} method
 * @param {string} path  e.g. '/v1/rtc/room/list?limit=5'
 * @param {object} [options]
 * @param {*} [options.body]  JSON-encoded, with `content-type: application/json` (unless given).
 * @param {string|Uint8Array} [options.rawBody]  sent as is; no content-type unless in `headers`.
 * @param {string} [options.key]  sent as `Authorization: Bearer <key>` (unless `headers` has one).
 * @param {Record<string,string>} [options.headers]
 * @param {number} [options.timeoutMs=30000]
 * @returns {Promise<{status: number, headers: Headers, json: any, text: string}>}  `json` is
 *   undefined when the body is not JSON.
 */
export async function api(worker, method, path, { body, key, headers = {}, rawBody, timeoutMs = 30_000 } = {}) {
  const base = typeof worker === 'string' ? worker : worker.url;
  const h = new Headers(headers);
  let payload;
  if (rawBody !== undefined) {
    // A Buffer body gets no implicit content-type (a string body would get text/plain).
    payload = typeof rawBody === 'string' ? Buffer.from(rawBody) : rawBody;
  } else if (body !== undefined) {
    payload = Buffer.from(JSON.stringify(body));
    if (!h.has('content-type')) h.set('content-type', 'application/json');
  }
  if (key != null && !h.has('authorization')) h.set('authorization', `Bearer ${key}`);
  const res = await fetch(base + path, { method, headers: h, body: payload, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  const json = jsonOrUndefined(text);
  return { status: res.status, headers: res.headers, json, text };
}

/**
 * Creates a project and an API key through the admin API.
 *
 * @param {{url: string, adminToken?: string}} worker
 * @param {object} [options]
 * @param {string} [options.adminToken]  default: the worker's ADMIN_TOKEN var.
 * @param {string} [options.projectName='e2e']
 * @param {string} [options.label='e2e']
 * @returns {Promise<{projectId: string, key: string, keyId: string}>}
 */
export async function adminSetup(worker, { adminToken = worker.adminToken, projectName = 'e2e', label = 'e2e' } = {}) {
  if (!adminToken) throw new Error('adminSetup: the Worker was started without ADMIN_TOKEN (pass vars.ADMIN_TOKEN to startWorker)');
  const p = await api(worker, 'POST', '/v1/admin/projects', { key: adminToken, body: { name: projectName } });
  if (p.status !== 201 || !p.json?.project?.id) throw new Error(`adminSetup: create project → ${p.status} ${p.text}`);
  const projectId = p.json.project.id;
  const k = await api(worker, 'POST', `/v1/admin/projects/${encodeURIComponent(projectId)}/keys`, {
    key: adminToken,
    body: { label },
  });
  if (k.status !== 201 || !k.json?.secret || !k.json?.key?.id) throw new Error(`adminSetup: create key → ${k.status} ${k.text}`);
  return { projectId, key: k.json.secret, keyId: k.json.key.id };
}

/** A random token for ADMIN_TOKEN and the like. */
export function randomToken(bytes = 24) {
  return crypto.randomBytes(bytes).toString('base64url');
}

/** The local D1 database file of a started Worker (for tests that read rows as stored). */
export function d1File(worker) {
  const dir = path.join(worker.persistDir, 'v3', 'd1', 'miniflare-D1DatabaseObject');
  // Beside the database: Miniflare's own metadata.sqlite.
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.sqlite') && f !== 'metadata.sqlite');
  if (files.length !== 1) throw new Error(`expected one D1 database in ${dir}: ${files}`);
  return path.join(dir, files[0]);
}

/**
 * Waits until the Worker's D1 records Agora uid `uid` in room `roomId` (the row naming it is
 * written after the token's response: 50 ms of coalescing and a D1 write later), and returns the
 * identity it names. Until then an event for that uid carries the bare uid; a real client's join
 * comes later than the row, a test's hand-made notice may not.
 */
export async function agoraUidRecorded(worker, roomId, uid, timeoutMs = 30_000) {
  const script = [
    'import sqlite3, sys',
    'db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)',
    'row = db.execute("SELECT identity FROM participant_uids WHERE room_id = ? AND uid = ?", (sys.argv[2], int(sys.argv[3]))).fetchone()',
    'print(row[0] if row else "")',
  ].join('\n');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { stdout } = await promisify(execFile)('python3', ['-c', script, d1File(worker), roomId, String(uid)], { encoding: 'utf8' });
    if (stdout.trim()) return stdout.trim();
    if (Date.now() > deadline) throw new Error(`Agora uid ${uid} of ${roomId} was not recorded within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Fires the scheduled handler of a Worker started with `testScheduled` (wrangler's
 * `/__scheduled` route) and waits for the run to finish.
 *
 * @param {{url: string}} worker
 * @param {string} [cron='*\/5 * * * *']  the cron pattern the event carries.
 * @returns {Promise<{status: number, text: string}>}
 */
export async function scheduled(worker, cron = '*/5 * * * *') {
  let res;
  try {
    res = await fetch(`${worker.url}/__scheduled?cron=${encodeURIComponent(cron)}`, { signal: AbortSignal.timeout(120_000) });
  } catch (e) {
    throw new Error(`GET /__scheduled failed: ${e.cause ?? e}\n--- wrangler log (tail) ---\n${tail(worker.logs?.() ?? '')}`);
  }
  return { status: res.status, text: await res.text() };
}

/**
 * Runs SQL on a started Worker's local D1 database with `wrangler d1 execute --local` against
 * its persist dir (for tests that need rows no request can make, such as old ones).
 *
 * @param {{persistDir: string, config: string}} worker
 * @param {string} sql
 */
export async function d1Execute(worker, sql) {
  await run(WRANGLER, ['d1', 'execute', 'DB', '--local', '--persist-to', worker.persistDir, '-c', worker.config, '--command', sql], {
    cwd: path.dirname(worker.config),
  });
}
