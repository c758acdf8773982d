// The foundation's HTTP surface against the real Worker (workerd under `wrangler dev`, local D1/KV):
// health, the admin API and API keys, authentication, the error envelope for every error case,
// X-Request-Id, timestamps, and /v1/openapi.json (validated by openapi-spec-validator and checked
// against the Worker's route table).
//
// Run: node --test tests/e2e/foundation.test.mjs   (after `bash scripts/build.sh`; `make test` does both)

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ROOT, startWorker, api, adminSetup, randomToken } from './support/harness.mjs';
import { assertError } from './support/fixtures.mjs';

const ADMIN = randomToken();
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const ADMIN_ROUTES = [
  ['POST', '/v1/admin/projects'],
  ['POST', '/v1/admin/projects/prj_x/keys'],
  ['GET', '/v1/admin/projects/prj_x/keys'],
  ['POST', '/v1/admin/keys/key_x/revoke'],
];
const API_KEY_ROUTES = [
  ['GET', '/v1/rtc/room/list'],
  ['POST', '/v1/rtc/room/create'],
  ['GET', '/v1/rtc/room/get/rm_x'],
  ['POST', '/v1/rtc/token/issue'],
  ['GET', '/v1/discovery/rtc.room.create'],
];

let w; // ADMIN_TOKEN set
let noAdmin; // no ADMIN_TOKEN: the admin API is disabled

before(async () => {
  // Two Workers at once: also exercises the harness's isolation (ports, persist dirs).
  [w, noAdmin] = await Promise.all([
    startWorker({ name: 'foundation', vars: { ADMIN_TOKEN: ADMIN } }),
    startWorker({ name: 'no-admin', vars: {} }),
  ]);
});

after(async () => {
  await Promise.all([w?.stop(), noAdmin?.stop()]);
});

// ---------------------------------------------------------------------------------------------
// helpers

function assertUnauthenticated(res) {
  assertError(res, 401, 'UNAUTHENTICATED');
  assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer\b/i, 'WWW-Authenticate: Bearer');
}

function assertTimestamp(value, what) {
  assert.match(String(value), RFC3339_UTC, `${what} is not an RFC 3339 UTC timestamp: ${value}`);
  const skew = Math.abs(Date.parse(value) - Date.now());
  assert.ok(skew < 10 * 60_000, `${what} is ${skew} ms away from now`);
}

const sha256hex = (s) => crypto.createHash('sha256').update(s).digest('hex');

const admin = (method, p, opts = {}) => api(w, method, p, { key: ADMIN, ...opts });

// ---------------------------------------------------------------------------------------------

describe('health', () => {
  test('GET /v1/health needs no auth and reports ok and the version', async () => {
    const res = await api(w, 'GET', '/v1/health');
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/);
    assert.equal(res.json.ok, true);
    assert.equal(typeof res.json.version, 'string');
    assert.ok(res.json.version.length > 0);
    assert.match(res.headers.get('x-request-id') ?? '', SANE_REQUEST_ID);
  });

  test('HEAD /v1/health answers like GET without a body', async () => {
    const res = await api(w, 'HEAD', '/v1/health');
    assert.equal(res.status, 200);
    assert.equal(res.text, '');
  });

  test('a Worker without ADMIN_TOKEN still starts and serves health', async () => {
    const res = await api(noAdmin, 'GET', '/v1/health');
    assert.equal(res.status, 200);
    assert.equal(res.json.ok, true);
  });
});

describe('admin API and API keys', () => {
  test('create project → create key (shown once) → list (no secret) → use → revoke → refused', async () => {
    const p = await admin('POST', '/v1/admin/projects', { body: { name: 'Acme' } });
    assert.equal(p.status, 201, p.text);
    const project = p.json.project;
    assert.equal(typeof project.id, 'string');
    assert.equal(project.name, 'Acme');
    assertTimestamp(project.created_at, 'project.created_at');

    const k = await admin('POST', `/v1/admin/projects/${project.id}/keys`, { body: { label: 'ci' } });
    assert.equal(k.status, 201, k.text);
    const secret = k.json.secret;
    assert.match(secret, /^rtc_sk_[A-Za-z0-9]+$/);
    // At least 128 random bits: base62 characters after the prefix carry log2(62) bits each.
    const bits = (secret.length - 'rtc_sk_'.length) * Math.log2(62);
    assert.ok(bits >= 128, `key carries only ${bits.toFixed(1)} bits`);
    const key = k.json.key;
    assert.equal(typeof key.id, 'string');
    assert.equal(key.label, 'ci');
    assert.equal(key.last4, secret.slice(-4));
    assert.equal(key.revoked_at ?? null, null);
    assertTimestamp(key.created_at, 'key.created_at');
    assert.ok(!JSON.stringify(key).includes(secret), 'the key record must not contain the secret');
    assert.ok(!k.text.includes(sha256hex(secret)), 'the response must not contain the key hash');

    // A second key: the secret differs, and a label is optional.
    const k2 = await admin('POST', `/v1/admin/projects/${project.id}/keys`);
    assert.equal(k2.status, 201, k2.text);
    assert.notEqual(k2.json.secret, secret);
    assert.equal(typeof k2.json.key.label, 'string');

    const list = await admin('GET', `/v1/admin/projects/${project.id}/keys`);
    assert.equal(list.status, 200, list.text);
    assert.ok(Array.isArray(list.json.items));
    assert.deepEqual(list.json.items.map((i) => i.id).sort(), [key.id, k2.json.key.id].sort());
    const listed = list.json.items.find((i) => i.id === key.id);
    assert.equal(listed.last4, secret.slice(-4));
    assert.equal(listed.label, 'ci');
    for (const s of [secret, k2.json.secret]) {
      assert.ok(!list.text.includes(s), 'list must never show a secret');
      assert.ok(!list.text.includes(sha256hex(s)), 'list must never show a key hash');
    }
    for (const item of list.json.items) {
      for (const field of Object.keys(item)) assert.doesNotMatch(field, /secret|hash/i, `list item has field ${field}`);
    }

    // The key works (and is now in the isolate's key cache).
    const ok = await api(w, 'GET', '/v1/discovery/rtc.room.create', { key: secret });
    assert.equal(ok.status, 200, ok.text);

    const r = await admin('POST', `/v1/admin/keys/${key.id}/revoke`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.key.id, key.id);
    assertTimestamp(r.json.key.revoked_at, 'key.revoked_at');

    // Revoked through this same isolate, so its cache forgets the key at once (src/api/auth.rs).
    const refused = await api(w, 'GET', '/v1/discovery/rtc.room.create', { key: secret });
    assertUnauthenticated(refused);
    assertUnauthenticated(await api(w, 'GET', '/v1/rtc/room/list', { key: secret }));

    // The project's other key still works.
    const other = await api(w, 'GET', '/v1/discovery/rtc.room.create', { key: k2.json.secret });
    assert.equal(other.status, 200, other.text);

    // Revoking again keeps the first revocation time; the list shows it.
    const again = await admin('POST', `/v1/admin/keys/${key.id}/revoke`);
    assert.equal(again.status, 200, again.text);
    assert.equal(again.json.key.revoked_at, r.json.key.revoked_at);
    const after = await admin('GET', `/v1/admin/projects/${project.id}/keys`);
    assert.equal(after.json.items.find((i) => i.id === key.id).revoked_at, r.json.key.revoked_at);
    assert.equal(after.json.items.find((i) => i.id === k2.json.key.id).revoked_at ?? null, null);
  });

  test('adminSetup (the harness helper) yields a working key', async () => {
    const { projectId, key, keyId } = await adminSetup(w);
    assert.match(key, /^rtc_sk_/);
    assert.equal(typeof projectId, 'string');
    assert.equal(typeof keyId, 'string');
    const res = await api(w, 'GET', '/v1/discovery/rtc.token.issue', { key });
    assert.equal(res.status, 200, res.text);
  });

  test('unknown project or key → 404 PROJECT_NOT_FOUND / KEY_NOT_FOUND', async () => {
    assertError(await admin('POST', '/v1/admin/projects/prj_nope/keys', { body: {} }), 404, 'PROJECT_NOT_FOUND');
    assertError(await admin('GET', '/v1/admin/projects/prj_nope/keys'), 404, 'PROJECT_NOT_FOUND');
    assertError(await admin('POST', '/v1/admin/keys/key_nope/revoke'), 404, 'KEY_NOT_FOUND');
  });

  test('missing or wrong admin token → 401 with WWW-Authenticate: Bearer', async () => {
    const { key } = await adminSetup(w);
    for (const [method, p] of ADMIN_ROUTES) {
      const body = method === 'POST' ? { name: 'x' } : undefined;
      assertUnauthenticated(await api(w, method, p, { body }));
      assertUnauthenticated(await api(w, method, p, { body, key: `${ADMIN}x` }));
      assertUnauthenticated(await api(w, method, p, { body, key: ADMIN.slice(0, -1) }));
      assertUnauthenticated(await api(w, method, p, { body, headers: { authorization: `Basic ${Buffer.from(`a:${ADMIN}`).toString('base64')}` } }));
      // An API key is not an admin token.
      assertUnauthenticated(await api(w, method, p, { body, key }));
    }
  });

  test('the admin token is not an API key', async () => {
    assertUnauthenticated(await api(w, 'GET', '/v1/rtc/room/list', { key: ADMIN }));
  });

  test('admin API disabled without ADMIN_TOKEN → 403 FORBIDDEN', async () => {
    for (const [method, p] of ADMIN_ROUTES) {
      const body = method === 'POST' ? { name: 'x' } : undefined;
      assertError(await api(noAdmin, method, p, { body }), 403, 'FORBIDDEN');
      assertError(await api(noAdmin, method, p, { body, key: ADMIN }), 403, 'FORBIDDEN');
      assertError(await api(noAdmin, method, p, { body, key: '' }), 403, 'FORBIDDEN');
    }
  });
});

describe('API-key authentication', () => {
  const bad = [
    ['missing', {}],
    ['scheme only', { authorization: 'Bearer' }],
    ['empty credential', { authorization: 'Bearer    ' }],
    ['Basic scheme', { authorization: 'Basic dXNlcjpwYXNz' }],
    ['other scheme', { authorization: 'Token rtc_sk_abc' }],
    ['two words', { authorization: 'Bearer rtc_sk_a rtc_sk_b' }],
    ['over-long', { authorization: `Bearer rtc_sk_${'a'.repeat(300)}` }],
    ['control character', { authorization: 'Bearer rtc_sk_a\tb' }],
    ['unknown key', { authorization: `Bearer rtc_sk_${crypto.randomBytes(24).toString('base64url').replace(/[-_]/g, 'x')}` }],
    ['no prefix', { authorization: 'Bearer abcdefghijklmnopqrstuvwxyz012345' }],
  ];
  for (const [what, headers] of bad) {
    test(`${what} → 401 UNAUTHENTICATED + WWW-Authenticate: Bearer on every /v1/rtc and /v1/discovery route`, async () => {
      for (const [method, p] of API_KEY_ROUTES) {
        const body = method === 'POST' ? {} : undefined;
        assertUnauthenticated(await api(w, method, p, { headers, body }));
      }
    });
  }

  test('the scheme is case-insensitive', async () => {
    const { key } = await adminSetup(w);
    const res = await api(w, 'GET', '/v1/discovery/rtc.room.create', { headers: { authorization: `bearer ${key}` } });
    assert.equal(res.status, 200, res.text);
  });
});

describe('request bodies', () => {
  const projects = '/v1/admin/projects';

  test('malformed JSON → 400 INVALID_JSON', async () => {
    for (const raw of ['{', '{"name":}', '{"name":"a",}', 'nul', '{"name":"a"} x', '\u00ff']) {
      assertError(await admin('POST', projects, { rawBody: raw, headers: { 'content-type': 'application/json' } }), 400, 'INVALID_JSON');
    }
  });

  test('a JSON body that is not an object → 400 INVALID_JSON', async () => {
    for (const raw of ['[1]', '"x"', '42', 'null', 'true']) {
      assertError(await admin('POST', projects, { rawBody: raw, headers: { 'content-type': 'application/json' } }), 400, 'INVALID_JSON');
    }
  });

  test('missing field → 400 INVALID_REQUEST naming it', async () => {
    assertError(await admin('POST', projects, { body: {} }), 400, 'INVALID_REQUEST', { field: 'name' });
    assertError(await admin('POST', projects, { body: { name: null } }), 400, 'INVALID_REQUEST', { field: 'name' });
    // An empty body reads as {}.
    assertError(await admin('POST', projects), 400, 'INVALID_REQUEST', { field: 'name' });
  });

  test('ill-typed field → 400 INVALID_REQUEST naming it', async () => {
    for (const name of [5, true, ['a'], { a: 1 }]) {
      assertError(await admin('POST', projects, { body: { name } }), 400, 'INVALID_REQUEST', { field: 'name' });
    }
    const { projectId } = await adminSetup(w);
    assertError(await admin('POST', `/v1/admin/projects/${projectId}/keys`, { body: { label: 7 } }), 400, 'INVALID_REQUEST', { field: 'label' });
  });

  test('out-of-range field → 400 INVALID_REQUEST naming it', async () => {
    for (const name of ['', 'x'.repeat(129), 'a\u0000b', 'line\nbreak']) {
      assertError(await admin('POST', projects, { body: { name } }), 400, 'INVALID_REQUEST', { field: 'name' });
    }
    // The limit itself is fine.
    const ok = await admin('POST', projects, { body: { name: 'x'.repeat(128) } });
    assert.equal(ok.status, 201, ok.text);
    const { projectId } = await adminSetup(w);
    assertError(await admin('POST', `/v1/admin/projects/${projectId}/keys`, { body: { label: 'y'.repeat(129) } }), 400, 'INVALID_REQUEST', { field: 'label' });
  });

  test('unknown field → 400 UNKNOWN_FIELD naming it', async () => {
    assertError(await admin('POST', projects, { body: { name: 'a', nmae: 'typo' } }), 400, 'UNKNOWN_FIELD', { field: 'nmae' });
    const { projectId } = await adminSetup(w);
    assertError(await admin('POST', `/v1/admin/projects/${projectId}/keys`, { body: { lable: 'x' } }), 400, 'UNKNOWN_FIELD', { field: 'lable' });
  });

  test('body over 64 KiB → 413 PAYLOAD_TOO_LARGE; exactly 64 KiB is read', async () => {
    const exact = (n) => {
      const head = '{"name":"big","pad":"';
      return head + 'x'.repeat(n - head.length - 2) + '"}';
    };
    assert.equal(exact(65536).length, 65536);
    assertError(await admin('POST', projects, { rawBody: exact(65537), headers: { 'content-type': 'application/json' } }), 413, 'PAYLOAD_TOO_LARGE');
    assertError(await admin('POST', projects, { rawBody: 'x'.repeat(1 << 20), headers: { 'content-type': 'application/json' } }), 413, 'PAYLOAD_TOO_LARGE');
    // 65 536 bytes pass the size check and get to the parser (which names the extra field).
    assertError(await admin('POST', projects, { rawBody: exact(65536), headers: { 'content-type': 'application/json' } }), 400, 'UNKNOWN_FIELD', { field: 'pad' });
    // Also on an API-key route, and before authentication.
    assertError(await api(w, 'POST', '/v1/rtc/room/create', { rawBody: exact(70000), headers: { 'content-type': 'application/json' } }), 413, 'PAYLOAD_TOO_LARGE');
  });

  test('non-JSON content type → 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml']) {
      assertError(await admin('POST', projects, { rawBody: '{"name":"a"}', headers: { 'content-type': ct } }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    }
  });

  test('JSON content types with parameters or +json, and an undeclared type, are read as JSON', async () => {
    for (const headers of [{ 'content-type': 'application/json; charset=utf-8' }, { 'content-type': 'Application/JSON' }, { 'content-type': 'application/merge-patch+json' }, {}]) {
      const res = await admin('POST', projects, { rawBody: '{"name":"ct"}', headers });
      assert.equal(res.status, 201, `${JSON.stringify(headers)}: ${res.text}`);
    }
  });
});

describe('routing', () => {
  test('unknown route → 404 ROUTE_NOT_FOUND (with or without credentials)', async () => {
    const { key } = await adminSetup(w);
    for (const [method, p] of [
      ['GET', '/'],
      ['GET', '/v1'],
      ['GET', '/v1/nope'],
      ['POST', '/v2/health'],
      ['GET', '/v1/rtc/room/get/'],
      ['GET', '/v1/rtc/room/get/a/b'],
      ['GET', '/v1/admin/projects/p/keys/extra'],
      ['DELETE', '/v1/rtc/nothing/here'],
    ]) {
      assertError(await api(w, method, p), 404, 'ROUTE_NOT_FOUND');
      assertError(await api(w, method, p, { key }), 404, 'ROUTE_NOT_FOUND');
    }
  });

  test('wrong method → 405 METHOD_NOT_ALLOWED with Allow', async () => {
    const cases = [
      ['DELETE', '/v1/health', 'GET, HEAD'],
      ['POST', '/v1/openapi.json', 'GET, HEAD'],
      ['GET', '/v1/admin/projects', 'POST'],
      ['PUT', '/v1/admin/projects/p/keys', 'POST, GET, HEAD'],
      ['GET', '/v1/rtc/room/create', 'POST'],
      ['POST', '/v1/rtc/room/list', 'GET, HEAD'],
      ['PATCH', '/v1/rtc/room/get/rm_x', 'GET, HEAD'],
    ];
    for (const [method, p, allow] of cases) {
      const res = await api(w, method, p);
      assertError(res, 405, 'METHOD_NOT_ALLOWED');
      const got = (res.headers.get('allow') ?? '').split(',').map((s) => s.trim()).sort();
      assert.deepEqual(got, allow.split(', ').sort(), `${method} ${p}: Allow`);
    }
  });
});

describe('X-Request-Id', () => {
  test('a sane client id is echoed, on success and in the error envelope', async () => {
    for (const id of ['abc', 'e2e-Req_1.2:3', 'x'.repeat(128)]) {
      const ok = await api(w, 'GET', '/v1/health', { headers: { 'x-request-id': id } });
      assert.equal(ok.headers.get('x-request-id'), id);
      const err = await api(w, 'GET', '/v1/nope', { headers: { 'x-request-id': id } });
      assertError(err, 404, 'ROUTE_NOT_FOUND');
      assert.equal(err.json.error.request_id, id);
    }
  });

  test('absent → generated, different each time, equal to error.request_id', async () => {
    const ids = new Set();
    for (let i = 0; i < 5; i++) {
      const res = await api(w, 'GET', '/v1/nope');
      const e = assertError(res, 404, 'ROUTE_NOT_FOUND');
      assert.match(e.request_id, SANE_REQUEST_ID);
      ids.add(e.request_id);
    }
    assert.equal(ids.size, 5, 'generated request ids must differ');
    const ok = await api(w, 'GET', '/v1/health');
    assert.match(ok.headers.get('x-request-id') ?? '', SANE_REQUEST_ID);
    assert.ok(!ids.has(ok.headers.get('x-request-id')));
  });

  test('an insane client id (too long, bad characters, empty) is replaced by a generated one', async () => {
    for (const id of ['x'.repeat(129), 'has space', 'semi;colon', 'slash/x', '"quoted"', '<script>', 'a,b', '']) {
      const res = await api(w, 'GET', '/v1/nope', { headers: { 'x-request-id': id } });
      const e = assertError(res, 404, 'ROUTE_NOT_FOUND');
      assert.notEqual(e.request_id, id, `${JSON.stringify(id)} must not be echoed`);
      assert.match(e.request_id, SANE_REQUEST_ID);
      const ok = await api(w, 'GET', '/v1/health', { headers: { 'x-request-id': id } });
      assert.notEqual(ok.headers.get('x-request-id'), id);
      assert.match(ok.headers.get('x-request-id') ?? '', SANE_REQUEST_ID);
    }
  });

  test('every kind of response carries one', async () => {
    const { key } = await adminSetup(w);
    const responses = [
      await api(w, 'GET', '/v1/health'),
      await api(w, 'GET', '/v1/openapi.json'),
      await admin('POST', '/v1/admin/projects', { body: { name: 'rid' } }),
      await api(w, 'GET', '/v1/discovery/rtc.room.create', { key }),
      await api(w, 'GET', '/v1/rtc/room/list'),
      await api(noAdmin, 'POST', '/v1/admin/projects', { body: { name: 'x' } }),
    ];
    for (const res of responses) assert.match(res.headers.get('x-request-id') ?? '', SANE_REQUEST_ID, `${res.status} ${res.text.slice(0, 100)}`);
  });
});

// ---------------------------------------------------------------------------------------------
// OpenAPI
//
// Validity: the served document goes through openapi-spec-validator (PyPI, pinned in
// requirements-test.lock, run from .venv) as an OpenAPI 3.1 document.
//
// Coverage, both directions, because neither source alone can prove "the document describes every
// route that exists":
//  - Worker → document: the Worker has no route-listing endpoint, so the only complete list of
//    its routes is the `TABLE` in src/api/router.rs, which is parsed here (strictly: every `Method::`
//    entry must parse). Each entry must be a documented operation.
//  - The parse is checked against the compiled Worker: every parsed route is probed on the live
//    Worker without credentials and must be routed (not 404 ROUTE_NOT_FOUND, not 405). Probing
//    without credentials answers from the router alone (200 public / 401 admin and API-key
//    routes), so it does not depend on the handlers being implemented yet.
//  - Document → Worker: every documented operation is probed the same way, so the document
//    cannot describe a route the Worker does not have.

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];
/** Runs a command to completion: {status, stdout, stderr}. */
function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const normalize = (p) => p.replace(/\{[^}/]*\}/g, '{}');
const concrete = (p) => p.replace(/\{[^}/]*\}/g, 'probe_1');

function routeTable() {
  const src = fs.readFileSync(path.join(ROOT, 'src', 'api', 'router.rs'), 'utf8');
  const m = src.match(/const\s+TABLE\b[^=]*=\s*&\[([\s\S]*?)\n\];/);
  assert.ok(m, 'could not find `const TABLE ... = &[ ... ];` in src/api/router.rs');
  const routes = [...m[1].matchAll(/\(\s*Method::(\w+)\s*,\s*"([^"]+)"\s*,\s*Route::(\w+)\s*\)/g)].map(([, method, pattern, route]) => ({
    method: method.toLowerCase(),
    pattern,
    route,
  }));
  const entries = (m[1].match(/Method::/g) ?? []).length;
  assert.equal(routes.length, entries, 'some TABLE entries in src/api/router.rs did not parse; update routeTable() in this test');
  assert.ok(routes.length > 0, 'empty route table');
  return routes;
}

function documentedOperations(doc) {
  const ops = [];
  for (const [p, item] of Object.entries(doc.paths ?? {})) {
    for (const method of HTTP_METHODS) if (item?.[method]) ops.push({ method, path: p });
  }
  return ops;
}

async function assertRouted(worker, method, p) {
  const res = await api(worker, method.toUpperCase(), p);
  const what = `${method.toUpperCase()} ${p} → ${res.status} ${res.text.slice(0, 200)}`;
  assert.ok(!(res.status === 404 && res.json?.error?.code === 'ROUTE_NOT_FOUND'), `not routed: ${what}`);
  assert.notEqual(res.status, 405, `method not routed: ${what}`);
}

describe('OpenAPI document', () => {
  let served;

  before(async () => {
    const res = await api(w, 'GET', '/v1/openapi.json');
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/);
    served = res.json;
  });

  test('is served without auth and is the document kept in the repo', () => {
    const repo = JSON.parse(fs.readFileSync(path.join(ROOT, 'api', 'openapi.json'), 'utf8'));
    assert.deepEqual(served, repo, 'the Worker serves another document than api/openapi.json: is build/ stale? (bash scripts/build.sh)');
  });

  test('is a valid OpenAPI 3.1 document (openapi-spec-validator)', async () => {
    assert.match(String(served.openapi), /^3\.1\.\d+$/);
    const python = path.join(ROOT, '.venv', 'bin', 'python');
    assert.ok(fs.existsSync(python), `${python} is missing: run \`bash scripts/setup.sh\``);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtcgate-openapi-'));
    try {
      const file = path.join(dir, 'openapi.json');
      fs.writeFileSync(file, JSON.stringify(served));
      // Asynchronously: the validator takes seconds, and a blocked event loop misses the Worker
      // closing idle keep-alive connections, so the next request would go out on a dead socket.
      const r = await run(python, ['-m', 'openapi_spec_validator', '--schema', '3.1', '--validation-errors', 'all', file]);
      assert.equal(r.status, 0, `openapi-spec-validator rejected the document:\n${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /OK/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('every route in the route table (src/api/router.rs) is documented', () => {
    const documented = new Set(documentedOperations(served).map((o) => `${o.method} ${normalize(o.path)}`));
    const missing = routeTable()
      .filter((r) => !documented.has(`${r.method} ${normalize(r.pattern)}`))
      .map((r) => `${r.method.toUpperCase()} ${r.pattern} (${r.route})`);
    assert.deepEqual(missing, [], `undocumented routes:\n  ${missing.join('\n  ')}`);
  });

  test('every route parsed from the table is routed by the live Worker', async () => {
    for (const r of routeTable()) await assertRouted(w, r.method, concrete(r.pattern));
    // And the probe does tell routes from non-routes.
    const res = await api(w, 'GET', '/v1/not-a-route');
    assertError(res, 404, 'ROUTE_NOT_FOUND');
  });

  test('every documented operation exists on the live Worker and in the route table', async () => {
    const table = new Set(routeTable().map((r) => `${r.method} ${normalize(r.pattern)}`));
    const ops = documentedOperations(served);
    const unknown = ops.filter((o) => !table.has(`${o.method} ${normalize(o.path)}`)).map((o) => `${o.method.toUpperCase()} ${o.path}`);
    assert.deepEqual(unknown, [], `documented but not in the route table:\n  ${unknown.join('\n  ')}`);
    for (const o of ops) await assertRouted(w, o.method, concrete(o.path));
  });
});
