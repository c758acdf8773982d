// The vendor's own LiveKit server (built from source by scripts/setup.sh) on loopback, for the
// real-server end-to-end suite (livekit_real.test.mjs) and `make dev` (scripts/dev_stack.mjs; scripts/livekit.mjs runs it alone).
//
//   import { startLiveKitServer } from './livekit_server.mjs';
//   const lk = await startLiveKitServer();            // free loopback ports, generated key pair
//   lk.url / lk.wsUrl / lk.apiKey / lk.apiSecret      // Worker settings: lk.vars
//   await lk.stop();
//
// A Worker that the server must know first (its webhook URL) is started before the server, on ports
// picked beforehand: `startWorker({ vars: serverVars({ ports: await freePorts(), apiKey, apiSecret }) })`.
//
// One process per call, with a config generated for it (no Redis: a single node keeps rooms in
// memory), its HTTP/WebSocket port, ICE/TCP port and one ICE/UDP port on 127.0.0.1, and only
// loopback ICE candidates, so clients on this machine connect without any network. Options:
//   ports: { http, rtcTcp, rtcUdp }   fixed ports (default: free ones picked now)
//   apiKey, apiSecret                 the key pair (default: generated)
//   webhookUrls: [url, …]             where the server posts its webhooks (signed with apiKey)
//   roomDefaults: { empty_timeout, departure_timeout, max_participants, auto_create }
//   logLevel                          the server's log level (default 'info')
//
// The binary: $LIVEKIT_SERVER_BIN, else the tools cache path scripts/tools.sh builds it into.
// This file imports nothing from harness.mjs, so scripts can use it without the harness's handlers.

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { freeTcpPort, freeUdpPort } from './ports.mjs';
import { killGroup, spawnLogged } from './process.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const START_TIMEOUT_MS = Number(process.env.RTCGATE_E2E_START_TIMEOUT_MS || 120_000);

/** The pinned server version, read from scripts/tools.sh (its one source). */
export function livekitServerVersion() {
  const tools = fs.readFileSync(path.join(ROOT, 'scripts', 'tools.sh'), 'utf8');
  const m = /^LIVEKIT_SERVER_VERSION=([0-9][0-9.]*)$/m.exec(tools);
  if (!m) throw new Error('scripts/tools.sh has no LIVEKIT_SERVER_VERSION= line');
  return m[1];
}

/** Where scripts/setup.sh puts the server binary (same rules as scripts/tools.sh). */
export function livekitServerBin() {
  if (process.env.LIVEKIT_SERVER_BIN) return process.env.LIVEKIT_SERVER_BIN;
  const cache = process.env.RTCGATE_TOOLS_CACHE
    || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'rtcgate', 'tools');
  return path.join(cache, `livekit-server-${livekitServerVersion()}`, 'livekit-server');
}

/**
 * Three distinct free ports: HTTP, ICE/TCP, ICE/UDP. Picked before the server starts when
 * something started first (a Worker) must already know the server's URL.
 */
export async function freePorts() {
  const http = await freeTcpPort();
  let rtcTcp = await freeTcpPort();
  while (rtcTcp === http) rtcTcp = await freeTcpPort();
  const rtcUdp = await freeUdpPort();
  return { http, rtcTcp, rtcUdp };
}

/** Worker settings (LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET) for a server on `ports`. */
export function serverVars({ ports, apiKey, apiSecret }) {
  return { LIVEKIT_URL: `http://127.0.0.1:${ports.http}`, LIVEKIT_API_KEY: apiKey, LIVEKIT_API_SECRET: apiSecret };
}

/**
 * The server config. YAML is a superset of JSON, so the file is written as JSON.
 * @returns {object}
 */
export function serverConfig({ ports, apiKey, apiSecret, webhookUrls = [], roomDefaults = {}, logLevel = 'info' }) {
  const config = {
    port: ports.http,
    bind_addresses: ['127.0.0.1'],
    keys: { [apiKey]: apiSecret },
    rtc: {
      tcp_port: ports.rtcTcp,
      udp_port: ports.rtcUdp,
      node_ip: '127.0.0.1',
      use_external_ip: false,
      // Loopback candidates are filtered out unless asked for; they are the only ones wanted here.
      enable_loopback_candidate: true,
      interfaces: { includes: ['lo'] },
      stun_servers: [],
    },
    room: { auto_create: true, ...roomDefaults },
    logging: { level: logLevel, json: false },
  };
  if (webhookUrls.length) config.webhook = { api_key: apiKey, urls: webhookUrls };
  return config;
}

const live = new Set();
process.on('exit', () => {
  for (const child of live) killGroup(child, 'SIGKILL');
});

/**
 * Starts one server and waits until its HTTP port answers.
 * @returns {Promise<{url: string, wsUrl: string, apiKey: string, apiSecret: string, ports: object,
 *   vars: Record<string,string>, configPath: string, stop(): Promise<void>, logs(): string, exited(): object|null}>}
 */
export async function startLiveKitServer({
  ports,
  apiKey = `APIlocal${crypto.randomBytes(6).toString('hex')}`,
  apiSecret = crypto.randomBytes(32).toString('base64url'),
  webhookUrls = [],
  roomDefaults = {},
  logLevel = 'info',
  timeoutMs = START_TIMEOUT_MS,
} = {}) {
  const bin = livekitServerBin();
  if (!fs.existsSync(bin)) {
    throw new Error(`no livekit-server at ${bin}: run \`bash scripts/setup.sh\` (it builds it with Go)`);
  }
  ports ??= await freePorts();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtcgate-livekit-'));
  const configPath = path.join(dir, 'livekit.yaml');
  const config = serverConfig({ ports, apiKey, apiSecret, webhookUrls, roomDefaults, logLevel });
  fs.writeFileSync(configPath, JSON.stringify(config, null, 2), { mode: 0o600 });

  // The server also reads settings from LIVEKIT_* variables; only the generated config counts here.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LIVEKIT_')));
  const { logs, exited, exitPromise, terminate } = spawnLogged(bin, ['--config', configPath], { cwd: dir, env, label: 'livekit-server', live });

  let stopped = false;
  const stop = async () => {
    if (!stopped) {
      stopped = true;
      await terminate();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    return exitPromise;
  };

  const url = `http://127.0.0.1:${ports.http}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const gone = exited();
    if (gone) {
      await stop();
      throw new Error(`livekit-server exited before it was ready (${gone.error ?? gone.signal ?? `exit ${gone.code}`})\n${logs().split('\n').slice(-30).join('\n')}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`livekit-server did not answer on ${url} in time\n${logs().split('\n').slice(-30).join('\n')}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.text();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    url,
    wsUrl: `ws://127.0.0.1:${ports.http}`,
    apiKey,
    apiSecret,
    ports,
    configPath,
    /** Worker settings that point a Worker at this server. */
    vars: serverVars({ ports, apiKey, apiSecret }),
    stop,
    logs,
    exited,
  };
}
