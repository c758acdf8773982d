// The HTTP edges that only the real runtime has (workerd under `wrangler dev`): the method as the
// client sent it, a chunked body cut off while it is still arriving, outbound vendor calls that
// do not follow redirects, and recovery from a wasm trap. Each of these lives in src/edge (or the
// entry that scripts/build.sh makes), which native tests do not reach.
//
// Run: node --test --test-concurrency=1 tests/e2e/edges.test.mjs   (after `bash scripts/build.sh`)

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';

import { startWorker, api, adminSetup, randomToken } from './support/harness.mjs';
import { CREDS } from './support/fixtures.mjs';
import { jsonOrUndefined } from './support/json.mjs';

const ADMIN = randomToken();
const LIMIT = 64 * 1024;
const TRAP_PATH = '/v1/test-trap';

let w;
let redirector; // answers every request with a redirect to `trap`
let trap; // must never be reached: it would receive the vendor credentials

/** A loopback HTTP server that records each request and answers with `answer(req, res)`. */
async function recordingServer(answer) {
  const seen = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method, url: req.url, authorization: req.headers.authorization });
    req.resume();
    req.on('end', () => answer(req, res));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return { url, seen, close: () => new Promise((resolve) => server.close(resolve)) };
}

before(async () => {
  trap = await recordingServer((req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  // 307 keeps the method and body (LiveKit's Twirp POSTs), 302 is the common one (Agora's GETs).
  redirector = await recordingServer((req, res) => {
    const status = req.method === 'POST' ? 307 : 302;
    res.writeHead(status, { location: `${trap.url}${req.url}`, 'content-type': 'text/plain' }).end('moved');
  });
  w = await startWorker({
    name: 'edges',
    vars: {
      ADMIN_TOKEN: ADMIN,
      RTCGATE_TEST_TRAP_PATH: TRAP_PATH,
      VENDOR_TIMEOUT_MS: 3000,
      LIVEKIT_URL: redirector.url,
      LIVEKIT_API_KEY: CREDS.livekit.apiKey,
      LIVEKIT_API_SECRET: CREDS.livekit.apiSecret,
      AGORA_APP_ID: CREDS.agora.appId,
      AGORA_APP_CERTIFICATE: CREDS.agora.certificate,
      AGORA_CUSTOMER_ID: CREDS.agora.customerId,
      AGORA_CUSTOMER_SECRET: CREDS.agora.customerSecret,
      AGORA_API_BASE: redirector.url,
    },
  });
});

after(async () => {
  await w?.stop();
  await Promise.all([redirector?.close(), trap?.close()]);
});

/**
 * Sends one request with node:http (fetch cannot send an unknown method or hold a body open).
 * `chunks` are written with chunked transfer encoding; with `holdOpen` the body is not ended until
 * the response has arrived (or `giveUpMs` passes), and `endedBeforeResponse` says which came first.
 */
function rawRequest(method, path, { headers = {}, chunks = [], holdOpen = false, giveUpMs = 30_000, agent } = {}) {
  return new Promise((resolve, reject) => {
    let ended = false;
    let giveUp;
    const req = http.request(`${w.url}${path}`, { method, headers, agent }, (res) => {
      const endedBeforeResponse = ended;
      clearTimeout(giveUp);
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        // A client that got its answer finishes its body properly, so the connection behind
        // `wrangler dev`'s proxy is left in order for the next request.
        if (!ended) {
          ended = true;
          req.end();
        }
        const json = jsonOrUndefined(text);
        resolve({ status: res.statusCode, headers: res.headers, text, json, endedBeforeResponse });
      });
    });
    req.on('error', (e) => (ended && e.code === 'ECONNRESET' ? undefined : reject(e)));
    for (const c of chunks) req.write(c);
    if (holdOpen) {
      giveUp = setTimeout(() => {
        ended = true;
        req.end();
      }, giveUpMs);
    } else {
      ended = true;
      req.end();
    }
  });
}

describe('a wasm trap', () => {
  test('the next request re-instantiates the module, and the Worker serves on with its state in D1', async () => {
    const { key } = await adminSetup(w);
    const before = await api(w, 'GET', '/v1/rtc/room/list', { key });
    assert.equal(before.status, 200, before.text);
    for (let i = 1; i <= 2; i++) {
      const trapped = await api(w, 'GET', TRAP_PATH);
      // workerd answers for a Worker that threw; no envelope of ours.
      assert.equal(trapped.status, 500, trapped.text);
      assert.equal(trapped.headers.get('x-request-id'), null);
      const health = await api(w, 'GET', '/v1/health');
      assert.equal(health.status, 200, `after trap ${i}: ${health.text}`);
      const rooms = await api(w, 'GET', '/v1/rtc/room/list', { key });
      assert.equal(rooms.status, 200, `after trap ${i}: ${rooms.text}`);
      const reinitialized = w.logs().split('Reinitializing Wasm application').length - 1;
      assert.equal(reinitialized, i, `re-instantiated once per trap:\n${w.logs().slice(-2000)}`);
    }
  });
});

describe('methods', () => {
  test('an unknown method that reaches the Worker is 405 with Allow, never served as GET', async () => {
    for (const method of ['QUERY', 'PROPFIND', 'BREW']) {
      const r = await rawRequest(method, '/v1/health');
      // workerd may refuse a method before the Worker sees it; anything the Worker answers
      // must be our 405, and nothing may be the health document.
      assert.ok(!/"version"/.test(r.text), `${method} was served as GET: ${r.text}`);
      if (r.json?.error) {
        assert.equal(r.status, 405, `${method}: ${r.text}`);
        assert.equal(r.json.error.code, 'METHOD_NOT_ALLOWED');
        assert.equal(r.headers.allow, 'GET, HEAD');
      } else {
        // workerd's own refusal (e.g. `501 Unrecognized request method`): the Worker never ran.
        assert.ok(r.status >= 400, `${method} → ${r.status} ${r.text}`);
        assert.equal(r.headers['x-request-id'], undefined, `${method} reached the Worker: ${r.text}`);
      }
    }
    // QUERY is the method this is about, and workerd passes it through.
    const q = await rawRequest('QUERY', '/v1/health');
    assert.equal(q.status, 405, q.text);
    assert.equal(q.json?.error?.code, 'METHOD_NOT_ALLOWED');
  });
});

describe('request bodies', () => {
  test('a chunked body within the limit is read whole', async () => {
    const name = `chunked-${'y'.repeat(100)}`;
    const body = JSON.stringify({ name });
    const r = await rawRequest('POST', '/v1/admin/projects', {
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      chunks: [body.slice(0, 7), body.slice(7, 50), body.slice(50)],
    });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.project.name, name);
  });
});

describe('outbound vendor calls', () => {
  test('a redirect from a vendor is not followed: the credentials never reach the other host', async () => {
    const { key } = await adminSetup(w);
    // LiveKit: CreateRoom (POST, Bearer JWT) answered with 307 → another host.
    const lk = await api(w, 'POST', '/v1/rtc/room/create', { key, body: { name: 'lk', vendor: 'livekit' } });
    assert.ok(lk.status >= 500 && lk.status < 600, `${lk.status} ${lk.text}`);
    assert.equal(lk.json.error.vendor, 'livekit');
    // Agora: the channel user list (GET, Basic auth) answered with 302 → another host.
    const room = await api(w, 'POST', '/v1/rtc/room/create', { key, body: { name: 'ag', vendor: 'agora' } });
    assert.equal(room.status, 201, room.text);
    const list = await api(w, 'GET', `/v1/rtc/participant/list/${room.json.room}`, { key });
    assert.ok(list.status >= 500 && list.status < 600, `${list.status} ${list.text}`);
    assert.equal(list.json.error.vendor, 'agora');

    assert.ok(redirector.seen.some((s) => s.method === 'POST' && s.authorization?.startsWith('Bearer ')), 'LiveKit was called');
    assert.ok(redirector.seen.some((s) => s.method === 'GET' && s.authorization?.startsWith('Basic ')), 'Agora was called');
    assert.deepEqual(trap.seen, [], 'a redirect was followed to another host');
  });
});

describe('request bodies, cut off', () => {
  test('after a 413 on a chunked body the next requests, from any client, are answered normally', async () => {
    for (let round = 1; round <= 2; round++) {
      // A client that sends its whole body (over the limit, chunked), then reads the answer.
      const r = await rawRequest('POST', '/v1/admin/projects', {
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
        chunks: ['{"name":"', 'x'.repeat(LIMIT), 'x'.repeat(1024), '"}'],
        agent: false,
      });
      assert.equal(r.status, 413, `round ${round}: ${r.text}`);
      assert.equal(r.json.error.code, 'PAYLOAD_TOO_LARGE');
      // A POST (which the local proxy never retries) on a fresh connection, then through fetch.
      const fresh = await rawRequest('POST', '/v1/admin/projects', {
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        chunks: [JSON.stringify({ name: `after-413-${round}` })],
        agent: false,
      });
      assert.equal(fresh.status, 201, `round ${round}, fresh connection: ${fresh.status} ${fresh.text}`);
      assert.equal(fresh.json.project.name, `after-413-${round}`);
      const viaFetch = await api(w, 'POST', '/v1/admin/projects', { key: ADMIN, body: { name: `fetch-${round}` } });
      assert.equal(viaFetch.status, 201, `round ${round}, fetch: ${viaFetch.status} ${viaFetch.text}`);
    }
  });
});

// Last on purpose: a client that holds its body open until it has the answer cannot have that
// body read to its end before the answer, and `wrangler dev`'s own proxy (not the Worker, and
// not Cloudflare's edge) then fails the next request it sends to workerd on the connection that
// carried it ("Your worker restarted mid-request"), so nothing may follow this on the same Worker.
describe('request bodies, held open', () => {
  test('a chunked body still arriving is cut off: 413 before the client ends it', async () => {
    const r = await rawRequest('POST', '/v1/admin/projects', {
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      chunks: ['{"name":"', 'x'.repeat(LIMIT), 'x'.repeat(1024)],
      holdOpen: true,
      agent: false,
    });
    assert.equal(r.status, 413, r.text);
    assert.equal(r.json.error.code, 'PAYLOAD_TOO_LARGE');
    assert.equal(r.endedBeforeResponse, false, 'the Worker waited for the whole body before answering');
  });
});
