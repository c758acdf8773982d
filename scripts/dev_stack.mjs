// `make dev`'s stack, as a module: scripts/dev.mjs runs it for a developer, and the end-to-end suite
// (tests/e2e/dev_stack.test.mjs) starts the same stack in a directory of its own.
//
//   import { startDevStack } from './dev_stack.mjs';
//   const stack = await startDevStack({ dir, port });   // everything up, the Worker answering
//   stack.url / stack.key / stack.adminToken / stack.vendors
//   await stack.stop();
//
// What it does, in order:
// 1. `.dev.vars` in `dir`: created when absent (a generated ADMIN_TOKEN and RTCGATE_ENCRYPTION_KEY,
//    every vendor setting commented out), never overwritten;
// 2. the D1 migrations applied to the local state under `dir/.wrangler/state`;
// 3. the local project `prj_local` and its API key (the given one, or one generated once and kept in
//    `dir/.wrangler/rtcgate-dev-key`) written into that state;
// 4. when `.dev.vars` configures no vendor, a local vendor stack wired like production: LiveKit's
//    own server posting its webhooks to the Worker's `/v1/vendor-events/livekit` (signed with the
//    key pair generated for the run, which the Worker gets as LIVEKIT_API_KEY/SECRET), and the Agora
//    and ZEGO stand-ins posting their signed notifications (NCS; room and recording callbacks) to
//    `/v1/vendor-events/agora` and `/zego`, with secrets generated for the run that the Worker gets
//    as AGORA_NCS_SECRET and ZEGO_CALLBACK_SECRET: one source for both sides. The stand-ins also
//    serve `POST /__dev/join` and `/__dev/leave` (scripts/standin-join.mjs);
// 5. `wrangler dev` with those settings (`--var`), `--test-scheduled`, and http webhook endpoints
//    allowed on loopback; resolved once `/v1/health` answers.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { startLiveKitServer } from '../tests/e2e/support/livekit_server.mjs';
import { killGroup, spawnLogged } from '../tests/e2e/support/process.mjs';
import { startAgora, startLiveKit, startZego } from '../tests/e2e/support/standins/index.mjs';
import { standinOptions, vendorVars } from '../tests/e2e/support/fixtures.mjs';
import { withoutBuildTable } from './wrangler_config.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WRANGLER = path.join(ROOT, 'node_modules', '.bin', 'wrangler');
export const PROJECT_ID = 'prj_local';

const live = new Set();
process.on('exit', () => {
  for (const child of live) killGroup(child, 'SIGKILL');
});

// ---------------------------------------------------------------------------------------------
// .dev.vars

const randomChars = (n, alphabet) => Array.from(crypto.randomBytes(n), (b) => alphabet[b % alphabet.length]).join('');
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function devVarsTemplate() {
  const adminToken = randomChars(40, ALNUM);
  const encryptionKey = crypto.randomBytes(32).toString('hex');
  return `# Local secrets for \`make dev\` (wrangler dev reads this file; git ignores it).
# Created by scripts/dev_stack.mjs; it is never overwritten, edit it freely.

# Guards /v1/admin/* (send it as 'Authorization: Bearer <token>'). Remove it to disable the admin API.
ADMIN_TOKEN=${adminToken}

# Seals projects' own recording storage credentials and webhook signing secrets at rest
# (64 hex characters). Changing it makes existing destinations and webhook endpoints unusable.
RTCGATE_ENCRYPTION_KEY=${encryptionKey}

# Vendors. While none is set here, \`make dev\` runs a local LiveKit server and local stand-ins for
# Agora and ZEGOCLOUD (no account needed), each sending its webhooks to this Worker.
# Set a vendor's settings to use the real service (restart \`make dev\` after editing).
# LiveKit:
# LIVEKIT_URL=https://your-project.livekit.cloud
# LIVEKIT_API_KEY=
# LIVEKIT_API_SECRET=
# Agora (App ID and App Certificate: 32 hex characters each; RESTful API customer id/secret):
# AGORA_APP_ID=
# AGORA_APP_CERTIFICATE=
# AGORA_CUSTOMER_ID=
# AGORA_CUSTOMER_SECRET=
# AGORA_API_BASE=https://api.sd-rtn.com
# ZEGOCLOUD (AppID: a number; ServerSecret: 32 characters):
# ZEGO_APP_ID=
# ZEGO_SERVER_SECRET=
# ZEGO_API_BASE=https://rtc-api.zego.im
# ZEGO_RECORDING_API_BASE=https://cloudrecord-api.zego.im
# Routing order for new rooms (default from wrangler.toml):
# RTC_VENDOR_ORDER=livekit,agora,zego

# Recording storage shared by all projects, each confined to its own folder (see docs/security.md):
# RECORDING_DEFAULT_URI=
# RECORDING_SHARED_BUCKETS=
# RECORDING_S3_ACCESS_KEY=
# RECORDING_S3_SECRET=
# RECORDING_S3_REGION=
# RECORDING_S3_ENDPOINT=
# RECORDING_GCP_CREDENTIALS=
# RECORDING_AZURE_ACCOUNT_NAME=
# RECORDING_AZURE_ACCOUNT_KEY=

# Vendor webhooks in from real vendors (see docs/vendors.md, Vendor webhooks in):
# AGORA_NCS_SECRET=
# ZEGO_CALLBACK_SECRET=
`;
}

/**
 * The settings a `.dev.vars` text gives a non-empty value (`NAME=value`, `export NAME=value`,
 * quoted values unquoted; comments and blank lines skipped), as wrangler reads them.
 * @returns {Record<string, string>}
 */
export function parseDevVars(text) {
  const vars = {};
  for (const line of text.split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    let value = m[2];
    const quoted = /^(["'])(.*)\1$/.exec(value);
    if (quoted) value = quoted[2];
    else value = value.replace(/\s+#.*$/, '');
    if (value !== '') vars[m[1]] = value;
  }
  return vars;
}

/** Whether `.dev.vars` names a vendor of its own: any non-empty LIVEKIT_*, AGORA_* or ZEGO_* setting. */
export function configuresVendor(vars) {
  return Object.keys(vars).some((k) => /^(LIVEKIT|AGORA|ZEGO)_[A-Z0-9_]+$/.test(k));
}

/** Creates `file` (mode 600) when absent; returns whether it did. */
function ensureDevVars(file) {
  if (fs.existsSync(file)) return false;
  fs.writeFileSync(file, devVarsTemplate(), { mode: 0o600, flag: 'wx' });
  return true;
}

// ---------------------------------------------------------------------------------------------
// wrangler

function wranglerEnv() {
  return {
    ...process.env,
    PATH: `${path.join(ROOT, 'node_modules', '.bin')}${path.delimiter}${process.env.PATH}`,
    WRANGLER_SEND_METRICS: 'false',
  };
}

/** Runs `wrangler args` to completion in `cwd`; rejects with its output when it fails. */
function wrangler(args, cwd) {
  return new Promise((resolve, reject) => {
    const child = spawn(WRANGLER, args, { cwd, env: wranglerEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    live.add(child);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', (e) => (live.delete(child), reject(e)));
    child.on('exit', (code, signal) => {
      live.delete(child);
      if (code === 0) resolve(out);
      else reject(new Error(`wrangler ${args.slice(0, 3).join(' ')} failed (${signal ?? `exit ${code}`})\n${out.split('\n').slice(-30).join('\n')}`));
    });
  });
}

/**
 * The built Worker's config for `dir`: wrangler.toml without [build] (so wrangler starts the built
 * Worker once; scripts/wrangler_config.mjs says why), with `main`, `migrations_dir` and the console's
 * assets `directory` pointing into the checkout when `dir` is elsewhere.
 */
function prebuiltConfig(dir) {
  let toml = withoutBuildTable(fs.readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8'));
  if (path.resolve(dir) !== ROOT) {
    toml = toml
      .replace(/^(\s*main\s*=\s*)"([^"]+)"/m, (_, k, v) => `${k}${JSON.stringify(path.join(ROOT, v))}`)
      .replace(/^(\s*migrations_dir\s*=\s*)"([^"]+)"/m, (_, k, v) => `${k}${JSON.stringify(path.join(ROOT, v))}`)
      // [assets]: the console as built in the checkout.
      .replace(/^(\s*directory\s*=\s*)"([^"]+)"/m, (_, k, v) => `${k}${JSON.stringify(path.join(ROOT, v))}`);
  }
  const file = path.join(dir, '.dev.wrangler.toml');
  fs.writeFileSync(file, toml);
  return file;
}

/** SQL quoting of a text value. */
const sqlText = (s) => `'${String(s).replaceAll("'", "''")}'`;

/** The API key to install: `apiKey`, else the one kept in `keyFile`, else a new one kept there. */
function devKey(apiKey, keyFile) {
  if (apiKey) {
    // The Worker accepts 1–256 visible ASCII characters as a bearer credential.
    if (apiKey.length > 256 || !/^[!-~]+$/.test(apiKey)) throw new Error('RTCGATE_DEV_API_KEY must be 1-256 visible ASCII characters (no spaces)');
    return { key: apiKey, source: 'from RTCGATE_DEV_API_KEY' };
  }
  const kept = fs.existsSync(keyFile) ? fs.readFileSync(keyFile, 'utf8').trim() : '';
  if (kept) return { key: kept, source: `from ${keyFile}` };
  const key = `rtc_sk_${randomChars(32, ALNUM)}`;
  fs.writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
  return { key, source: `generated, saved in ${keyFile}` };
}

/**
 * Fixed ids make this idempotent; a different key gets its own row. A dev key revoked through the
 * admin API is reinstated, so the key printed always works.
 */
function devKeySql(key, nowMs) {
  const hash = crypto.createHash('sha256').update(key).digest('hex');
  return `INSERT OR IGNORE INTO projects (id, name, created_at_ms) VALUES (${sqlText(PROJECT_ID)}, 'local', ${nowMs});
INSERT OR IGNORE INTO api_keys (id, project_id, key_hash, label, last4, created_at_ms)
  VALUES (${sqlText(`key_local_${hash.slice(0, 12)}`)}, ${sqlText(PROJECT_ID)}, ${sqlText(hash)}, 'make dev', ${sqlText(key.slice(-4))}, ${nowMs});
UPDATE api_keys SET revoked_at_ms = NULL WHERE key_hash = ${sqlText(hash)};`;
}

// ---------------------------------------------------------------------------------------------
// logs of the local vendors

/** Appends each finished stand-in request to `write` as a line, then drops it (a dev session can run for days). */
export function logStandinCalls(handles, write) {
  for (const h of handles) {
    let n = 0;
    while (n < h.calls.length && h.calls[n].done) n += 1;
    for (const c of h.calls.slice(0, n)) {
      const line = `[${h.name}] ${c.method} ${c.path}${c.op ? ` (${c.op})` : ''} → ${c.status ?? '-'}${c.fault ? ` fault=${c.fault}` : ''}`;
      write(c.ok ? line : `${line} VIOLATION: ${String(c.error).split('\n')[0]}`);
    }
    h.calls.splice(0, n);
  }
}

/** Writes what `logs()` (a growing, sometimes trimmed text) added since the last call; returns the new position. */
export function followLog(logs, shown, write) {
  const text = logs();
  const from = text.length < shown ? 0 : shown; // the kept log was trimmed
  if (text.length > from) write(text.slice(from));
  return text.length;
}

// ---------------------------------------------------------------------------------------------
// the stack

const portNumber = (v, name) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${name} must be a port number`);
  return n;
};

/**
 * Starts the stack; resolves once the Worker answers `/v1/health`.
 *
 * @param {object} [o]
 * @param {string} [o.dir]  holds .dev.vars, .wrangler/ (state, key, logs); default the checkout
 * @param {string} [o.config]  the wrangler config to run (default: the built Worker's, see prebuiltConfig)
 * @param {number} [o.port=8787]  the Worker's port
 * @param {string} [o.apiKey]  install exactly this API key for prj_local
 * @param {'server'|'standin'} [o.livekit='server']  LiveKit's own server or the stand-in
 * @param {{http, rtcTcp, rtcUdp}} [o.livekitPorts]  the LiveKit server's ports (7880, 7883, 7884)
 * @param {string[]} [o.livekitWebhookUrls]  more places the LiveKit server posts its webhooks to
 * @param {number} [o.livekitStandinPort=7880] @param {number} [o.agoraPort=7881] @param {number} [o.zegoPort=7882]
 * @param {boolean} [o.inheritOutput=false]  wrangler writes to this terminal (make dev) rather than to `logs()`
 * @param {(line: string) => void} [o.log]  progress lines
 */
export async function startDevStack({
  dir = ROOT,
  config,
  port = 8787,
  apiKey,
  livekit = 'server',
  livekitPorts = { http: 7880, rtcTcp: 7883, rtcUdp: 7884 },
  livekitWebhookUrls = [],
  livekitStandinPort = 7880,
  agoraPort = 7881,
  zegoPort = 7882,
  inheritOutput = false,
  log = () => {},
} = {}) {
  if (!['server', 'standin'].includes(livekit)) throw new Error(`livekit must be 'server' or 'standin', got ${JSON.stringify(livekit)}`);
  port = portNumber(port, 'PORT');
  const url = `http://127.0.0.1:${port}`;
  const wranglerDir = path.join(dir, '.wrangler');
  const state = path.join(wranglerDir, 'state');
  fs.mkdirSync(wranglerDir, { recursive: true });
  config ??= prebuiltConfig(dir);

  const stops = []; // what is running, stopped in reverse order
  const stop = async () => {
    while (stops.length) await stops.pop()().catch(() => {});
  };
  try {
    // 1. .dev.vars
    const devVarsFile = path.join(dir, '.dev.vars');
    if (ensureDevVars(devVarsFile)) log(`created ${devVarsFile} with a new ADMIN_TOKEN (no vendor credentials)`);
    const devVars = parseDevVars(fs.readFileSync(devVarsFile, 'utf8'));
    if (!/^[0-9a-fA-F]{64}$/.test(devVars.RTCGATE_ENCRYPTION_KEY ?? '')) {
      log('warning: .dev.vars has no RTCGATE_ENCRYPTION_KEY, so project destinations and webhook endpoints answer');
      log('  422 ENCRYPTION_NOT_CONFIGURED; add a line RTCGATE_ENCRYPTION_KEY=<output of: openssl rand -hex 32>');
    }

    // 2. the D1 schema
    log(`applying D1 migrations to the local database (${state})`);
    await wrangler(['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', state, '-c', config], dir);

    // 3. the local project and API key
    const { key, source: keySource } = devKey(apiKey, path.join(wranglerDir, 'rtcgate-dev-key'));
    await wrangler(['d1', 'execute', 'DB', '--local', '--persist-to', state, '-c', config, '--command', devKeySql(key, Date.now())], dir);

    // 4. vendors: .dev.vars's own, or the local ones wired like production
    const vars = { WEBHOOK_ALLOW_HTTP_LOOPBACK: '1' };
    const vendors = { local: !configuresVendor(devVars) };
    if (vendors.local) {
      const creds = standinOptions();
      const ncsSecret = crypto.randomBytes(24).toString('base64url');
      const callbackSecret = crypto.randomBytes(24).toString('base64url');
      const standins = {};
      const startStandin = async (what, fn, opts) => {
        try {
          const h = await fn({ host: '127.0.0.1', ...opts });
          stops.push(() => h.close());
          return h;
        } catch (e) {
          const hint = e?.code === 'EADDRINUSE' ? ` (port ${opts.port} is in use: set ${what.toUpperCase()}_STANDIN_PORT)` : '';
          throw new Error(`could not start the ${what} stand-in${hint}: ${e?.message ?? e}`);
        }
      };
      standins.agora = await startStandin('agora', startAgora, {
        port: portNumber(agoraPort, 'AGORA_STANDIN_PORT'), ...creds.agora,
        notifyUrl: `${url}/v1/vendor-events/agora`, ncsSecret, devControl: true,
      });
      standins.zego = await startStandin('zego', startZego, {
        port: portNumber(zegoPort, 'ZEGO_STANDIN_PORT'), ...creds.zego,
        notifyUrl: `${url}/v1/vendor-events/zego`, callbackSecret, devControl: true,
      });
      Object.assign(vars, vendorVars(standins), { AGORA_NCS_SECRET: ncsSecret, ZEGO_CALLBACK_SECRET: callbackSecret });
      const standinLog = fs.createWriteStream(path.join(wranglerDir, 'standins.log'), { flags: 'a' });
      const logged = Object.values(standins);
      if (livekit === 'standin') {
        standins.livekit = await startStandin('livekit', startLiveKit, { port: portNumber(livekitStandinPort, 'LIVEKIT_STANDIN_PORT'), ...creds.livekit });
        logged.push(standins.livekit);
        Object.assign(vars, vendorVars({ livekit: standins.livekit }));
        vendors.livekit = { what: 'stand-in', url: standins.livekit.url, log: standinLog.path };
      } else {
        const lkLog = fs.createWriteStream(path.join(wranglerDir, 'livekit-server.log'), { flags: 'a' });
        const lk = await startLiveKitServer({
          ports: livekitPorts,
          webhookUrls: [`${url}/v1/vendor-events/livekit`, ...livekitWebhookUrls],
        });
        let shown = 0;
        const follow = setInterval(() => (shown = followLog(lk.logs, shown, (t) => lkLog.write(t))), 250);
        stops.push(async () => {
          clearInterval(follow);
          await lk.stop();
          lkLog.end();
        });
        Object.assign(vars, lk.vars);
        vendors.livekit = { what: "LiveKit's own server", url: lk.url, wsUrl: lk.wsUrl, log: lkLog.path, server: lk };
      }
      const calls = setInterval(() => logStandinCalls(logged, (line) => standinLog.write(`${line}\n`)), 250);
      stops.push(async () => {
        clearInterval(calls);
        standinLog.end();
      });
      vendors.agora = { url: standins.agora.url, standin: standins.agora };
      vendors.zego = { url: standins.zego.url, standin: standins.zego };
      vendors.standinLog = standinLog.path;
    }

    // 5. the Worker
    const args = ['dev', '--config', config, '--ip', '127.0.0.1', '--port', String(port), '--persist-to', state, '--test-scheduled'];
    if (!inheritOutput) args.push('--show-interactive-dev-session=false');
    for (const [k, v] of Object.entries(vars)) args.push('--var', `${k}:${v}`);
    let exited;
    let logs = () => '';
    if (inheritOutput) {
      // In the foreground process group, so Ctrl-C reaches wrangler as it would without this script.
      const child = spawn(WRANGLER, args, { cwd: dir, env: wranglerEnv(), stdio: 'inherit' });
      live.add(child);
      let gone = null;
      const done = new Promise((resolve) => child.on('exit', (code, signal) => (gone = { code, signal }, live.delete(child), resolve())));
      exited = () => gone;
      stops.push(async () => {
        if (!gone) child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await done;
        clearTimeout(timer);
      });
    } else {
      const p = spawnLogged(WRANGLER, args, { cwd: dir, env: wranglerEnv(), label: 'dev', live });
      exited = p.exited;
      logs = p.logs;
      stops.push(async () => {
        await p.terminate();
        killGroup(p.child, 'SIGKILL'); // workerd may outlive wrangler
      });
    }
    const deadline = Date.now() + Number(process.env.RTCGATE_DEV_START_TIMEOUT_MS || 180_000);
    for (;;) {
      const gone = exited();
      if (gone) throw new Error(`wrangler dev exited before the Worker was ready (${gone.signal ?? `exit ${gone.code}`})\n${logs().split('\n').slice(-30).join('\n')}`);
      if (Date.now() > deadline) throw new Error(`the Worker did not answer ${url}/v1/health in time\n${logs().split('\n').slice(-30).join('\n')}`);
      try {
        const res = await fetch(`${url}/v1/health`, { signal: AbortSignal.timeout(3000) });
        if (res.status === 200 && (await res.text()).includes('"ok"')) break;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 150));
    }

    return {
      url,
      consoleUrl: `${url}/console`,
      projectId: PROJECT_ID,
      key,
      keySource,
      adminToken: devVars.ADMIN_TOKEN,
      devVarsFile,
      vendors,
      logs,
      exited,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
