// rtc.token.issue against the real Worker (workerd under `wrangler dev`, local D1/KV) with the
// three vendor stand-ins configured, every token checked by the vendors' own libraries where there
// are any (ZEGO publishes no verifier for token04: it is opened independently, twice):
//  - LiveKit: PyPI `livekit-api` TokenVerifier (tests/e2e/support/verifiers/livekit_verify.py, run with the
//    repo's .venv) AND npm `livekit-server-sdk` TokenVerifier (verifiers/vendor_verify.mjs), plus
//    the decoded JWT compared claim by claim;
//  - Agora: npm `agora-token` AccessToken2.from_string + verifySignature (vendor_verify.mjs), with
//    app id, issue ts, expire, salt, channel, uid and privileges read back;
//  - ZEGO: token04 opened with the server secret by pycryptodome (verifiers/zego_decrypt.py) and,
//    independently, by node:crypto in this file; the plaintext JSON and its payload checked.
// Every verifier is also run with a WRONG secret and must refuse (the checks can fail).
//
// Two Workers on the same stand-ins:
//  - `tokens`: LiveKit + Agora + ZEGO, RTC_VENDOR_ORDER=zego,livekit,agora (a non-default order, so
//    "unpinned new room → first vendor in the order" is visible); rooms pinned per vendor are created
//    in `before`; almost every test runs here;
//  - `tokens-default-order`: the same vendors, RTC_VENDOR_ORDER unset (livekit first), for implicit
//    room creation through LiveKit and failover past a LiveKit outage.
//
// Run: node --test --test-concurrency=1 tests/e2e/tokens.test.mjs   (after `bash scripts/build.sh`)

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { ROOT, startWorker, api as rawApi, adminSetup, randomToken, agoraUidRecorded } from './support/harness.mjs';
import { CREDS, startVendorStandins, vendorVars, assertError, assertNoViolations } from './support/fixtures.mjs';
import { verifyLiveKit, verifyAgora } from './support/verifiers/vendor_verify.mjs';

const ADMIN = randomToken();
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const VENDOR_ORDER = 'zego,livekit,agora';

const { livekit: LK, agora: AG, zego: ZG } = CREDS; // the standard test credentials (fixtures.mjs)
// Negative controls: each differs from its CREDS value in one character.
const LK_WRONG_SECRET = 'e2e-test-livekit-secret-0123456789abcdefXYz';
const AG_WRONG_CERT = '5cfd2fd1755d40ecb72977518be15d3c';
const ZG_WRONG_SECRET = 'fa94dd0f974cf2e293728a526b028272';

const SECRETS = [LK.apiSecret, AG.certificate, AG.customerSecret, ZG.serverSecret];

const PYTHON = path.join(ROOT, '.venv', 'bin', 'python');
const LIVEKIT_PY = path.join(ROOT, 'tests', 'e2e', 'support', 'verifiers', 'livekit_verify.py');
const ZEGO_PY = path.join(ROOT, 'tests', 'e2e', 'support', 'verifiers', 'zego_decrypt.py');

let vendors; // { livekit, agora, zego }
let lk;
let ag;
let zg;
let w;
let w2; // same stand-ins, RTC_VENDOR_ORDER unset (default livekit,agora,zego): routing and failover
let key; // project A
let key2; // project on w2
let otherKey; // project B
/** Rooms pinned per vendor: { id, name } */
const rooms = {};

before(async () => {
  for (const f of [PYTHON, LIVEKIT_PY, ZEGO_PY]) {
    if (!fs.existsSync(f)) throw new Error(`${f} is missing (run scripts/setup.sh)`);
  }
  vendors = await startVendorStandins();
  ({ livekit: lk, agora: ag, zego: zg } = vendors);
  [w, w2] = await Promise.all([
    startWorker({ name: 'tokens', vars: { ADMIN_TOKEN: ADMIN, RTC_VENDOR_ORDER: VENDOR_ORDER, VENDOR_TIMEOUT_MS: 1500, ...vendorVars(vendors) } }),
    startWorker({ name: 'tokens-default-order', vars: { ADMIN_TOKEN: ADMIN, VENDOR_TIMEOUT_MS: 1500, ...vendorVars(vendors) } }),
  ]);
  [{ key }, { key: otherKey }, { key: key2 }] = await Promise.all([
    adminSetup(w, { projectName: 'tokens-a' }),
    adminSetup(w, { projectName: 'tokens-b' }),
    adminSetup(w2, { projectName: 'tokens-w2' }),
  ]);
  for (const vendor of ['livekit', 'agora', 'zego']) {
    const name = `pinned-${vendor}`;
    const r = await api('POST', '/v1/rtc/room/create', { body: { name, vendor } });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.vendor, vendor, r.text);
    rooms[vendor] = { id: r.json.room, name };
  }
  assertNoViolations(vendors);
});

after(async () => {
  await Promise.all([w?.stop(), w2?.stop()]);
  await vendors?.close();
});

// ---------------------------------------------------------------------------------------------
// helpers

const api = (method, p, opts = {}) => rawApi(w, method, p, { key, ...opts });
const issue = (body, opts = {}) => api('POST', '/v1/rtc/token/issue', { body, ...opts });

let seq = 0;
/** A fresh identity / room name (ZEGO-safe characters). */
const fresh = (prefix) => `${prefix}-${++seq}-${crypto.randomBytes(3).toString('hex')}`;

/** Issues a token, asserting 200 and the common response shape; returns the JSON plus the time window. */
async function issueOk(body, { vendor, roomId, created = false } = {}) {
  const t0 = Math.floor(Date.now() / 1000);
  const r = await issue(body);
  const t1 = Math.ceil(Date.now() / 1000);
  assert.equal(r.status, 200, r.text);
  const j = r.json;
  assert.equal(typeof j.token, 'string');
  assert.ok(j.token.length > 20, r.text);
  if (roomId !== undefined) assert.equal(j.room, roomId, 'response.room must be the room id');
  assert.match(j.room, /^rm_[A-Za-z0-9]{22}$/);
  assert.equal(j.identity, body.identity);
  assert.match(j.expires_at, RFC3339_UTC);
  if (vendor !== undefined) assert.equal(j.vendor, vendor, r.text);
  assert.equal(j.room_created, created, `room_created: ${r.text}`);
  assert.ok(j.join && typeof j.join === 'object', r.text);
  for (const s of SECRETS) assert.ok(!r.text.includes(s), 'a response must never carry a secret');
  return { ...j, t0, t1 };
}

/** Asserts `value` (unix seconds) lies in the request's time window (a few seconds of slack). */
function assertNow(value, t0, t1, what) {
  assert.ok(Number.isInteger(value), `${what} is not an integer: ${value}`);
  assert.ok(value >= t0 - 5 && value <= t1 + 5, `${what}=${value} is not the issue time (${t0}..${t1})`);
}

function runPython(script, args) {
  return new Promise((resolve) => {
    execFile(PYTHON, [script, ...args], { timeout: 30_000, env: { ...process.env, PYTHONWARNINGS: 'ignore' } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** PyPI livekit-api TokenVerifier. Resolves to the claims on success, throws on rejection. */
async function pyVerifyLiveKit(token, apiKey = LK.apiKey, apiSecret = LK.apiSecret) {
  const r = await runPython(LIVEKIT_PY, [apiKey, apiSecret, token]);
  if (r.code === 2) throw new Error(`livekit_verify.py usage/environment problem: ${r.stderr}`);
  if (r.code !== 0) {
    const e = new Error(`livekit-api rejected: ${r.stderr.trim()}`);
    e.rejected = true;
    throw e;
  }
  return JSON.parse(r.stdout);
}

/** pycryptodome via zego_decrypt.py. Resolves to the plaintext JSON object, throws on rejection. */
async function pyOpenZego(token, secret = ZG.serverSecret) {
  const r = await runPython(ZEGO_PY, [secret, token]);
  if (r.code === 2) throw new Error(`zego_decrypt.py usage/environment problem: ${r.stderr}`);
  if (r.code !== 0) {
    const e = new Error(`zego_decrypt.py rejected: ${r.stderr.trim()}`);
    e.rejected = true;
    throw e;
  }
  return JSON.parse(r.stdout);
}

/** Independent token04 opener with node:crypto. Throws if it does not decrypt to a JSON object. */
function nodeOpenZego(token, secret = ZG.serverSecret) {
  assert.ok(token.startsWith('04'), 'token04 starts with "04"');
  const raw = Buffer.from(token.slice(2), 'base64');
  assert.equal(raw.toString('base64'), token.slice(2), 'token04 body is standard padded base64');
  const headerExpire = Number(raw.readBigInt64BE(0));
  const ivLen = raw.readUInt16BE(8);
  assert.equal(ivLen, 16, 'IV length');
  const iv = raw.subarray(10, 26);
  const ctLen = raw.readUInt16BE(26);
  const ct = raw.subarray(28);
  assert.equal(ct.length, ctLen, 'ciphertext length matches its header');
  const decipher = crypto.createDecipheriv('aes-256-cbc', Buffer.from(secret, 'utf8'), iv);
  const plain = Buffer.concat([decipher.update(ct), decipher.final()]);
  const doc = JSON.parse(plain.toString('utf8'));
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Error('plaintext is not a JSON object');
  return { doc, headerExpire, iv, padding: ct.length - plain.length };
}

/** The JWT's header and payload, decoded without verifying. */
function decodeJwt(token) {
  const parts = token.split('.');
  assert.equal(parts.length, 3, 'a JWT has three parts');
  const dec = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  return { header: dec(parts[0]), payload: dec(parts[1]) };
}

/** Checks a LiveKit token with both vendor libraries (and both refuse a wrong secret); returns the payload. */
async function checkLiveKit(token) {
  const { header, payload } = decodeJwt(token);
  assert.equal(header.alg, 'HS256');
  const [py, npm] = await Promise.all([pyVerifyLiveKit(token), verifyLiveKit(token, LK.apiKey, LK.apiSecret)]);
  assert.deepEqual(npm, payload, 'livekit-server-sdk decodes the same payload');
  assert.equal(py.identity, payload.sub);
  assert.equal(py.name ?? undefined, payload.name);
  assert.equal(py.metadata ?? undefined, payload.metadata);
  for (const [k, v] of Object.entries(payload.video)) assert.deepEqual(py.video[k], v, `livekit-api video.${k}`);
  // negative controls: a wrong secret is refused by both, and a wrong key by both
  await assert.rejects(pyVerifyLiveKit(token, LK.apiKey, LK_WRONG_SECRET), (e) => e.rejected === true);
  await assert.rejects(verifyLiveKit(token, LK.apiKey, LK_WRONG_SECRET));
  await assert.rejects(pyVerifyLiveKit(token, 'APIsomeOtherKey', LK.apiSecret), (e) => e.rejected === true);
  await assert.rejects(verifyLiveKit(token, 'APIsomeOtherKey', LK.apiSecret));
  return payload;
}

/** Checks an Agora token with agora-token (and that a wrong certificate fails); returns the decoded fields. */
function checkAgora(token) {
  assert.ok(token.startsWith('007'), 'AccessToken2 starts with 007');
  const info = verifyAgora(token, AG.certificate);
  assert.throws(() => verifyAgora(token, AG_WRONG_CERT), /signature does not verify/);
  return info;
}

/** Opens a ZEGO token with pycryptodome and node:crypto (and both refuse a wrong secret); returns the plaintext. */
async function checkZego(token) {
  const py = await pyOpenZego(token);
  const { doc, headerExpire } = nodeOpenZego(token);
  assert.deepEqual(doc, py, 'node:crypto and pycryptodome decrypt the same plaintext');
  assert.deepEqual(Object.keys(doc).sort(), ['app_id', 'ctime', 'expire', 'nonce', 'payload', 'user_id']);
  assert.equal(doc.expire, headerExpire, 'plaintext expire equals the clear header expire');
  await assert.rejects(pyOpenZego(token, ZG_WRONG_SECRET), (e) => e.rejected === true);
  assert.throws(() => nodeOpenZego(token, ZG_WRONG_SECRET));
  return doc;
}

async function roomList(k = key) {
  const r = await rawApi(w, 'GET', '/v1/rtc/room/list?limit=100', { key: k });
  assert.equal(r.status, 200, r.text);
  return r.json.items;
}

const totalCalls = () => lk.calls.length + ag.calls.length + zg.calls.length;

// ---------------------------------------------------------------------------------------------

describe('LiveKit join tokens', () => {
  test('every claim, accepted by livekit-api (PyPI) and livekit-server-sdk (npm); wrong secret refused', async () => {
    const metadata = { team: 'blue', n: 3, nested: { 'ü': 'say "hi"\n' }, list: [1, null, true] };
    const body = {
      room: rooms.livekit.name, // by NAME: the answer and the token carry the id
      identity: 'alice@example.com',
      display_name: 'Zoë "Z" O\'Brien',
      ttl_s: 600,
      can_publish: false,
      can_subscribe: true,
      can_publish_data: true,
      is_admin: true,
      metadata,
      vendor: 'livekit',
    };
    const j = await issueOk(body, { vendor: 'livekit', roomId: rooms.livekit.id });
    assert.deepEqual(j.join, { url: lk.url.replace(/^http:/, 'ws:'), room: rooms.livekit.id });

    const p = await checkLiveKit(j.token);
    assertNow(p.nbf, j.t0, j.t1, 'nbf');
    assert.deepEqual(p, {
      iss: LK.apiKey,
      sub: 'alice@example.com',
      nbf: p.nbf,
      exp: p.nbf + 600,
      name: body.display_name,
      metadata: p.metadata,
      video: {
        roomJoin: true,
        room: rooms.livekit.id,
        canPublish: false,
        canSubscribe: true,
        canPublishData: true,
        roomAdmin: true,
      },
    });
    assert.equal(typeof p.metadata, 'string', 'metadata is a JSON string');
    assert.deepEqual(JSON.parse(p.metadata), metadata);
    assert.equal(Date.parse(j.expires_at), p.exp * 1000, 'expires_at is the token exp');
    assertNoViolations(vendors);
  });

  test('defaults: ttl 3600, publish/subscribe true, publish_data follows can_publish, no roomAdmin/name/metadata', async () => {
    const j = await issueOk({ room: rooms.livekit.id, identity: 'bob' }, { vendor: 'livekit', roomId: rooms.livekit.id });
    const p = await checkLiveKit(j.token);
    assertNow(p.nbf, j.t0, j.t1, 'nbf');
    assert.deepEqual(p, {
      iss: LK.apiKey,
      sub: 'bob',
      nbf: p.nbf,
      exp: p.nbf + 3600,
      video: { roomJoin: true, room: rooms.livekit.id, canPublish: true, canSubscribe: true, canPublishData: true },
    });
    assert.equal(Date.parse(j.expires_at), p.exp * 1000);
    assert.deepEqual(j.join, { url: lk.url.replace(/^http:/, 'ws:'), room: rooms.livekit.id });

    // can_publish:false alone → canPublishData false too (the default follows can_publish)
    const viewer = await issueOk({ room: rooms.livekit.id, identity: 'viewer', can_publish: false }, { vendor: 'livekit' });
    const pv = decodeJwt(viewer.token).payload;
    await verifyLiveKit(viewer.token, LK.apiKey, LK.apiSecret);
    assert.deepEqual(pv.video, {
      roomJoin: true, room: rooms.livekit.id, canPublish: false, canSubscribe: true, canPublishData: false,
    });

    // explicit overrides each way; can_subscribe:false is enforced by LiveKit itself, so it is minted
    const cases = [
      [{ can_publish: true, can_publish_data: false }, { canPublish: true, canSubscribe: true, canPublishData: false }],
      [{ can_publish: false, can_publish_data: true }, { canPublish: false, canSubscribe: true, canPublishData: true }],
      [{ can_subscribe: false }, { canPublish: true, canSubscribe: false, canPublishData: true }],
      [{ is_admin: false }, { canPublish: true, canSubscribe: true, canPublishData: true }],
    ];
    for (const [grant, video] of cases) {
      const t = await issueOk({ room: rooms.livekit.id, identity: 'carol', ...grant }, { vendor: 'livekit' });
      const claims = await verifyLiveKit(t.token, LK.apiKey, LK.apiSecret);
      assert.deepEqual(claims.video, { roomJoin: true, room: rooms.livekit.id, ...video }, JSON.stringify(grant));
    }
    assertNoViolations(vendors);
  });

  test('ttl bounds: 60 and 86400 are minted with exp = nbf + ttl; 59, 86401, 0, 3600.5 and "3600" are 400 ttl_s', async () => {
    for (const ttl of [60, 86_400]) {
      const j = await issueOk({ room: rooms.livekit.id, identity: 'ttl', ttl_s: ttl }, { vendor: 'livekit' });
      const p = await checkLiveKit(j.token);
      assert.equal(p.exp - p.nbf, ttl);
      assert.equal(Date.parse(j.expires_at), p.exp * 1000);
    }
    for (const vendor of ['livekit', 'agora', 'zego']) {
      for (const ttl of [59, 86_401, 0, -1, 3600.5, '3600']) {
        const r = await issue({ room: rooms[vendor].id, identity: 'ttl', ttl_s: ttl });
        assertError(r, 400, 'INVALID_REQUEST', { field: 'ttl_s' });
      }
    }
    assertNoViolations(vendors);
  });

  test('identity: 256 bytes accepted; over 256 characters or control characters 400, over LiveKit\'s 256 bytes 422', async () => {
    const ok256 = 'i'.repeat(256);
    const okMulti = 'é'.repeat(128); // 256 bytes
    for (const identity of [ok256, okMulti]) {
      const j = await issueOk({ room: rooms.livekit.id, identity }, { vendor: 'livekit' });
      const p = await checkLiveKit(j.token);
      assert.equal(p.sub, identity);
    }
    for (const identity of ['i'.repeat(257), 'a\nb', 'tab\there', '']) {
      const r = await issue({ room: rooms.livekit.id, identity });
      assertError(r, 400, 'INVALID_REQUEST', { field: 'identity' });
    }
    // 129 characters is well formed; 258 bytes is more than LiveKit takes.
    const e = assertError(await issue({ room: rooms.livekit.id, identity: 'é'.repeat(129) }), 422, 'IDENTITY_NOT_SUPPORTED', { field: 'identity' });
    assert.equal(e.vendor, 'livekit');
    assertError(await issue({ room: rooms.livekit.id }), 400, 'INVALID_REQUEST', { field: 'identity' });
    assertNoViolations(vendors);
  });
});

describe('Agora join tokens', () => {
  test('AccessToken2 verified by agora-token; wrong certificate fails; fields and privileges read back', async () => {
    const j = await issueOk(
      { room: rooms.agora.name, identity: 'ana', ttl_s: 900, can_publish_data: false, display_name: 'Ana' },
      { vendor: 'agora', roomId: rooms.agora.id },
    );
    const info = checkAgora(j.token);
    assert.equal(info.appId, AG.appId);
    assertNow(info.issueTs, j.t0, j.t1, 'issueTs');
    assert.equal(info.expire, 900);
    assert.ok(Number.isInteger(info.salt) && info.salt >= 1 && info.salt <= 99_999_999, `salt ${info.salt}`);
    assert.equal(info.rtc.channel, rooms.agora.id);
    assert.ok(Number.isInteger(j.join.uid) && j.join.uid >= 1 && j.join.uid <= 2 ** 32 - 1, `uid ${j.join.uid}`);
    assert.equal(info.rtc.uid, String(j.join.uid), 'the token is for join.uid (decimal string)');
    assert.deepEqual(info.rtc.privileges, { 1: 900, 2: 900, 3: 900 });
    assert.deepEqual(j.join, { app_id: AG.appId, channel: rooms.agora.id, uid: j.join.uid });
    assert.equal(Date.parse(j.expires_at), (info.issueTs + 900) * 1000, 'expires_at = issueTs + expire');
    assertNoViolations(vendors);
  });

  test('privileges follow the grant, each valid for ttl; defaults are publisher for 3600 s', async () => {
    const cases = [
      [{}, { 1: 3600, 2: 3600, 3: 3600, 4: 3600 }, 3600],
      [{ ttl_s: 120, can_publish: false }, { 1: 120 }, 120],
      [{ ttl_s: 120, can_publish: false, can_publish_data: true }, { 1: 120, 4: 120 }, 120],
      [{ ttl_s: 86_400, can_publish: true, can_publish_data: true }, { 1: 86_400, 2: 86_400, 3: 86_400, 4: 86_400 }, 86_400],
      [{ ttl_s: 60, can_subscribe: true, is_admin: false }, { 1: 60, 2: 60, 3: 60, 4: 60 }, 60],
    ];
    for (const [grant, privileges, ttl] of cases) {
      const j = await issueOk({ room: rooms.agora.id, identity: 'priv', ...grant }, { vendor: 'agora', roomId: rooms.agora.id });
      const info = checkAgora(j.token);
      assert.deepEqual(info.rtc.privileges, privileges, JSON.stringify(grant));
      assert.equal(info.expire, ttl);
      assert.equal(info.rtc.channel, rooms.agora.id);
      assert.equal(info.rtc.uid, String(j.join.uid));
      assert.equal(Date.parse(j.expires_at), (info.issueTs + ttl) * 1000);
    }
    assertNoViolations(vendors);
  });

  test('uid is room-stable per identity and distinct between identities (also under concurrency)', async () => {
    const a1 = await issueOk({ room: rooms.agora.id, identity: 'uid-a' }, { vendor: 'agora' });
    const a2 = await issueOk({ room: rooms.agora.name, identity: 'uid-a', can_publish: false, ttl_s: 300 }, { vendor: 'agora' });
    const b = await issueOk({ room: rooms.agora.id, identity: 'uid-b' }, { vendor: 'agora' });
    assert.equal(a1.join.uid, a2.join.uid, 'same identity → same uid');
    assert.notEqual(a1.join.uid, b.join.uid, 'different identity → different uid');
    assert.equal(checkAgora(a2.token).rtc.uid, String(a1.join.uid));
    assert.equal(checkAgora(b.token).rtc.uid, String(b.join.uid));
    assert.notEqual(a1.token, a2.token);

    // A fresh room, 8 new identities at once, then each again: all distinct, all stable.
    const roomName = fresh('agora-uids');
    const first = await issueOk({ room: roomName, identity: 'p0', vendor: 'agora' }, { vendor: 'agora', created: true });
    const ids = Array.from({ length: 8 }, (_, i) => `p${i + 1}`);
    const burst = await Promise.all(ids.map((identity) => issue({ room: roomName, identity })));
    for (const r of burst) assert.equal(r.status, 200, r.text);
    const uids = [first.join.uid, ...burst.map((r) => r.json.join.uid)];
    assert.equal(new Set(uids).size, uids.length, `uids must be distinct: ${uids}`);
    const again = await Promise.all(ids.map((identity) => issue({ room: first.room, identity })));
    assert.deepEqual(again.map((r) => r.json.join.uid), burst.map((r) => r.json.join.uid));
    for (const r of again) assert.equal(checkAgora(r.json.token).rtc.uid, String(r.json.join.uid));
    assertNoViolations(vendors);
  });

  test('the uid in the token maps back to the identity in participant.list (registry)', async () => {
    const room = fresh('agora-registry');
    const j = await issueOk({ room, identity: 'dora', display_name: 'Dora D.', vendor: 'agora' }, { vendor: 'agora', created: true });
    const info = checkAgora(j.token);
    ag.seedUser(info.rtc.channel, Number(info.rtc.uid));
    assert.equal(await agoraUidRecorded(w, j.room, info.rtc.uid), 'dora', 'the row naming the uid, written after the answer');
    const list = await api('GET', `/v1/rtc/participant/list/${j.room}`);
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(list.json.items.map((p) => [p.identity, p.display_name]), [['dora', 'Dora D.']]);
    assertNoViolations(vendors);
  });

  test('identity: 255 bytes accepted for Agora, 256 bytes 422, control characters 400', async () => {
    const j = await issueOk({ room: rooms.agora.id, identity: 'a'.repeat(255) }, { vendor: 'agora' });
    checkAgora(j.token);
    for (const identity of ['a'.repeat(256), 'é'.repeat(128)]) {
      assertError(await issue({ room: rooms.agora.id, identity }), 422, 'IDENTITY_NOT_SUPPORTED', { field: 'identity' });
    }
    assertError(await issue({ room: rooms.agora.id, identity: 'a\u0000b' }), 400, 'INVALID_REQUEST', { field: 'identity' });
    assertNoViolations(vendors);
  });
});

describe('ZEGO join tokens', () => {
  test('token04 opened by pycryptodome and node:crypto; plaintext and strict payload; wrong secret fails', async () => {
    const j = await issueOk(
      { room: rooms.zego.name, identity: 'zed_1.x', ttl_s: 7200, display_name: 'Zed', metadata: { k: 'v' } },
      { vendor: 'zego', roomId: rooms.zego.id },
    );
    const doc = await checkZego(j.token);
    assert.equal(doc.app_id, ZG.appId);
    assert.equal(doc.user_id, 'zed_1.x');
    assert.ok(Number.isInteger(doc.nonce) && doc.nonce >= -(2 ** 31) && doc.nonce < 2 ** 31, `nonce ${doc.nonce}`);
    assertNow(doc.ctime, j.t0, j.t1, 'ctime');
    assert.equal(doc.expire, doc.ctime + 7200);
    assert.equal(typeof doc.payload, 'string', 'payload is a JSON document in a string');
    assert.deepEqual(JSON.parse(doc.payload), { room_id: rooms.zego.id, privilege: { 1: 1, 2: 1 }, stream_id_list: null });
    assert.deepEqual(j.join, { app_id: ZG.appId, room_id: rooms.zego.id, user_id: 'zed_1.x' });
    assert.equal(Date.parse(j.expires_at), doc.expire * 1000, 'expires_at is the token expire');
    assertNoViolations(vendors);
  });

  test('can_publish:false → privilege "2":0; defaults ttl 3600; explicit can_publish_data:true is fine; fresh nonce/IV per token', async () => {
    const listener = await issueOk({ room: rooms.zego.id, identity: 'listener', can_publish: false }, { vendor: 'zego' });
    const d1 = await checkZego(listener.token);
    assert.deepEqual(JSON.parse(d1.payload), { room_id: rooms.zego.id, privilege: { 1: 1, 2: 0 }, stream_id_list: null });
    assert.equal(d1.expire - d1.ctime, 3600);

    const body = { room: rooms.zego.id, identity: 'talker', can_publish: true, can_publish_data: true, can_subscribe: true, is_admin: false };
    const [t1, t2] = [await issueOk(body, { vendor: 'zego' }), await issueOk(body, { vendor: 'zego' })];
    const [e1, e2] = [await checkZego(t1.token), await checkZego(t2.token)];
    assert.deepEqual(JSON.parse(e1.payload).privilege, { 1: 1, 2: 1 });
    assert.notEqual(t1.token, t2.token, 'fresh randomness per token');
    assert.notDeepEqual(nodeOpenZego(t1.token).iv, nodeOpenZego(t2.token).iv, 'fresh IV per token');
    assert.equal(e1.user_id, 'talker');
    assert.equal(e2.user_id, 'talker');
    assertNoViolations(vendors);
  });

  test('the Worker\'s SIMD AES: identities of 1 to 63 bytes (every padding length, 13 to 17 blocks) all open with node:crypto', async () => {
    const paddings = new Set();
    const blocks = new Set();
    // Three tokens per length: the random nonce's length (1 to 11 characters) shifts the
    // plaintext too, so one pass of lengths could step over some padding lengths.
    for (let i = 0; i < 3 * 63; i++) {
      const identity = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(2).slice(0, 1 + (i % 63));
      const j = await issueOk({ room: rooms.zego.id, identity }, { vendor: 'zego' });
      const { doc, padding } = nodeOpenZego(j.token);
      assert.equal(doc.user_id, identity);
      assert.deepEqual(JSON.parse(doc.payload).privilege, { 1: 1, 2: 1 });
      paddings.add(padding);
      blocks.add(Buffer.from(j.token.slice(2), 'base64').readUInt16BE(26) / 16);
    }
    assert.deepEqual([...paddings].sort((a, b) => a - b), Array.from({ length: 16 }, (_, i) => i + 1));
    assert.ok(blocks.size >= 4, `ciphertexts of several block counts: ${[...blocks]}`);
  });

  test('identity: 63 bytes of allowed characters accepted; 64 bytes or other characters refused', async () => {
    const ok = ['z'.repeat(63), '~!@#$^&*()_+=-`;,.<>/\\'];
    for (const identity of ok) {
      const j = await issueOk({ room: rooms.zego.id, identity }, { vendor: 'zego' });
      assert.equal((await checkZego(j.token)).user_id, identity);
    }
    for (const identity of ['z'.repeat(64), 'a b', '50%', 'é', "o'neil", 'a:b']) {
      const r = await issue({ room: rooms.zego.id, identity });
      const e = assertError(r, 422, 'IDENTITY_NOT_SUPPORTED', { field: 'identity' });
      assert.equal(e.vendor, 'zego');
      assert.ok(e.message.length > 0);
    }
    assertError(await issue({ room: rooms.zego.id, identity: 'tab\t' }), 400, 'INVALID_REQUEST', { field: 'identity' });
    const long = await issue({ room: rooms.zego.id, identity: 'z'.repeat(64) });
    assert.match(long.json.error.message, /63/, 'the message names the 63-byte limit');
    assertNoViolations(vendors);
  });
});

describe('grants a vendor cannot enforce', () => {
  test('GRANT_NOT_SUPPORTED 422 naming the grant and the vendor (Agora, ZEGO; existing and new rooms)', async () => {
    const cases = [
      ['agora', { can_subscribe: false }, 'can_subscribe'],
      ['agora', { is_admin: true }, 'is_admin'],
      ['zego', { can_subscribe: false }, 'can_subscribe'],
      ['zego', { is_admin: true }, 'is_admin'],
      ['zego', { can_publish_data: false }, 'can_publish_data'],
    ];
    for (const [vendor, grant, field] of cases) {
      const r = await issue({ room: rooms[vendor].id, identity: 'grantee', ...grant });
      const e = assertError(r, 422, 'GRANT_NOT_SUPPORTED', { field, vendor });
      assert.ok(e.message.includes(field), `message names the grant: ${e.message}`);
      assert.match(e.message.toLowerCase(), new RegExp(vendor), `message names the vendor: ${e.message}`);
    }
    // A refused token for a NEW room leaves no room behind.
    const before = (await roomList()).length;
    for (const [vendor, grant, field] of cases) {
      const name = fresh(`refused-${vendor}`);
      const r = await issue({ room: name, identity: 'grantee', vendor, ...grant });
      assertError(r, 422, 'GRANT_NOT_SUPPORTED', { field, vendor });
      const get = await api('GET', `/v1/rtc/room/get/${name}`);
      assertError(get, 404, 'ROOM_NOT_FOUND');
    }
    // Unpinned new room: the first vendor in RTC_VENDOR_ORDER is ZEGO, which refuses is_admin.
    const unpinned = await issue({ room: fresh('refused-unpinned'), identity: 'grantee', is_admin: true });
    assertError(unpinned, 422, 'GRANT_NOT_SUPPORTED', { field: 'is_admin', vendor: 'zego' });
    assert.equal((await roomList()).length, before, 'no room was created by a refused token');
    // LiveKit can enforce all of them.
    const j = await issueOk(
      { room: rooms.livekit.id, identity: 'grantee', can_subscribe: false, is_admin: true, can_publish_data: false },
      { vendor: 'livekit' },
    );
    const p = await checkLiveKit(j.token);
    assert.deepEqual(p.video, {
      roomJoin: true, room: rooms.livekit.id, canPublish: true, canSubscribe: false, canPublishData: false, roomAdmin: true,
    });
    assertNoViolations(vendors);
  });
});

describe('rooms created by token.issue', () => {
  test('unpinned new name → created on the first vendor in RTC_VENDOR_ORDER, listed, reused afterwards', async () => {
    const name = fresh('implicit');
    const callsBefore = totalCalls();
    const j = await issueOk({ room: name, identity: 'first' }, { vendor: 'zego', created: true });
    assert.equal(j.name, name);
    assert.equal(totalCalls(), callsBefore, 'ZEGO rooms are records only: no vendor call');
    const doc = await checkZego(j.token);
    assert.equal(JSON.parse(doc.payload).room_id, j.room);

    const listed = (await roomList()).find((r) => r.room === j.room);
    assert.ok(listed, 'the new room appears in room.list');
    assert.equal(listed.name, name);
    assert.equal(listed.vendor, 'zego');
    const get = await api('GET', `/v1/rtc/room/get/${encodeURIComponent(name)}`);
    assert.equal(get.status, 200, get.text);
    assert.equal(get.json.room, j.room);

    const again = await issueOk({ room: name, identity: 'second' }, { vendor: 'zego', roomId: j.room, created: false });
    assert.equal(again.join.room_id, j.room);
    // room.create with the same name now conflicts: it is a real room
    const dup = await api('POST', '/v1/rtc/room/create', { body: { name } });
    assertError(dup, 409, 'ROOM_NAME_TAKEN');
    assertNoViolations(vendors);
  });

  test('pinned livekit new name → CreateRoom at the stand-in with name = room id; token for that id', async () => {
    const name = fresh('implicit-lk');
    const creates = lk.callsTo('CreateRoom').length;
    const j = await issueOk({ room: name, identity: 'lk-first', vendor: 'livekit' }, { vendor: 'livekit', created: true });
    const newCreates = lk.callsTo('CreateRoom').slice(creates);
    assert.equal(newCreates.length, 1, 'exactly one CreateRoom');
    assert.equal(newCreates[0].ok, true);
    assert.equal(newCreates[0].body.name, j.room, 'the vendor-side name is the room id');
    assert.ok(lk.rooms.has(j.room), 'the stand-in now has the room');
    const p = await checkLiveKit(j.token);
    assert.equal(p.video.room, j.room);
    assert.deepEqual(j.join, { url: lk.url.replace(/^http:/, 'ws:'), room: j.room });
    const listed = (await roomList()).find((r) => r.room === j.room);
    assert.equal(listed?.vendor, 'livekit');
    assert.equal(listed?.name, name);

    // pinned agora new name: a record only, no Agora call
    const agCalls = ag.calls.length;
    const a = await issueOk({ room: fresh('implicit-ag'), identity: 'ag-first', vendor: 'agora' }, { vendor: 'agora', created: true });
    assert.equal(ag.calls.length, agCalls);
    assert.equal(checkAgora(a.token).rtc.channel, a.room);
    assertNoViolations(vendors);
  });

  test('room ids and names: unknown id → 404; another project cannot use the room; a deleted room is not minted for', async () => {
    assertError(await issue({ room: 'rm_0000000000000000000000', identity: 'x' }), 404, 'ROOM_NOT_FOUND');
    // Project B: A's room id is not found; A's room name makes B's own room.
    const other = (body) => rawApi(w, 'POST', '/v1/rtc/token/issue', { key: otherKey, body });
    assertError(await other({ room: rooms.livekit.id, identity: 'x' }), 404, 'ROOM_NOT_FOUND');
    const b = await other({ room: rooms.agora.name, identity: 'x' });
    assert.equal(b.status, 200, b.text);
    assert.equal(b.json.room_created, true);
    assert.notEqual(b.json.room, rooms.agora.id);
    assert.equal(b.json.vendor, 'zego', 'B\'s new room follows the routing order');
    assert.ok(!(await roomList()).some((r) => r.room === b.json.room), 'B\'s room is not in A\'s list');

    // Delete a room (after tokens were minted for it, so it is cached): by id → 404, by name → a new room.
    const name = fresh('deleted');
    const j = await issueOk({ room: name, identity: 'd', vendor: 'livekit' }, { vendor: 'livekit', created: true });
    await issueOk({ room: j.room, identity: 'd' }, { vendor: 'livekit' });
    const del = await api('DELETE', `/v1/rtc/room/delete/${j.room}`);
    assert.equal(del.status, 200, del.text);
    assertError(await issue({ room: j.room, identity: 'd' }), 404, 'ROOM_NOT_FOUND');
    const re = await issueOk({ room: name, identity: 'd' }, { created: true });
    assert.notEqual(re.room, j.room);
    assert.equal(re.vendor, 'zego');
    assertNoViolations(vendors);
  });

  test('concurrent first tokens for one new name: one room, one CreateRoom, one room_created:true', async () => {
    const name = fresh('race');
    const creates = lk.callsTo('CreateRoom').length;
    const rs = await Promise.all(Array.from({ length: 6 }, (_, i) => issue({ room: name, identity: `racer${i}`, vendor: 'livekit' })));
    for (const r of rs) assert.equal(r.status, 200, r.text);
    const ids = new Set(rs.map((r) => r.json.room));
    assert.equal(ids.size, 1, `one room id for all: ${[...ids]}`);
    assert.equal(rs.filter((r) => r.json.room_created === true).length, 1, 'exactly one response says room_created');
    const newCreates = lk.callsTo('CreateRoom').slice(creates);
    assert.deepEqual(newCreates.map((c) => c.body.name), [[...ids][0]]);
    assert.equal((await roomList()).filter((r) => r.name === name).length, 1);
    for (const r of rs) assert.equal((await verifyLiveKit(r.json.token, LK.apiKey, LK.apiSecret)).video.room, [...ids][0]);
    assertNoViolations(vendors);
  });

  test('a new name with a refused identity or an unknown vendor pin creates nothing', async () => {
    const n1 = fresh('badid');
    assertError(await issue({ room: n1, identity: 'a b', vendor: 'zego' }), 422, 'IDENTITY_NOT_SUPPORTED', { field: 'identity' });
    const n2 = fresh('badid');
    assertError(await issue({ room: n2, identity: 'z'.repeat(64) }), 422, 'IDENTITY_NOT_SUPPORTED', { field: 'identity' }); // unpinned → zego
    const n3 = fresh('badpin');
    assertError(await issue({ room: n3, identity: 'ok', vendor: 'twilio' }), 400, 'UNKNOWN_VENDOR');
    const names = (await roomList()).map((r) => r.name);
    for (const n of [n1, n2, n3]) assert.ok(!names.includes(n), `${n} must not exist`);
    assertNoViolations(vendors);
  });

  test('name validation for implicit rooms: a room longer than 128 characters is 400 room', async () => {
    const r = await issue({ room: 'n'.repeat(129), identity: 'x' });
    assertError(r, 400, 'INVALID_REQUEST', { field: 'room' });
    assertError(await issue({ identity: 'x' }), 400, 'INVALID_REQUEST', { field: 'room' });
    assertNoViolations(vendors);
  });
});

describe('routing of implicit rooms with the default order (second Worker)', () => {
  const issue2 = (body) => rawApi(w2, 'POST', '/v1/rtc/token/issue', { key: key2, body });
  const list2 = async () => {
    const r = await rawApi(w2, 'GET', '/v1/rtc/room/list?limit=100', { key: key2 });
    assert.equal(r.status, 200, r.text);
    return r.json.items;
  };

  test('unpinned new name → LiveKit (first by default) with CreateRoom name = room id', async () => {
    const name = fresh('w2-default');
    const creates = lk.callsTo('CreateRoom').length;
    const r = await issue2({ room: name, identity: 'w2a' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.vendor, 'livekit');
    assert.equal(r.json.room_created, true);
    assert.deepEqual(lk.callsTo('CreateRoom').slice(creates).map((c) => c.body.name), [r.json.room]);
    assert.equal((await verifyLiveKit(r.json.token, LK.apiKey, LK.apiSecret)).video.room, r.json.room);
    assert.equal((await list2()).find((x) => x.room === r.json.room)?.vendor, 'livekit');
    assertNoViolations(vendors);
  });

  test('pinned LiveKit down → 502 and no room; the retry creates it', async () => {
    const name = fresh('w2-pinned-down');
    lk.fail({ match: 'CreateRoom', mode: 'status', status: 503, times: 1 });
    const r = await issue2({ room: name, identity: 'w2b', vendor: 'livekit' });
    assertError(r, 502, 'VENDOR_UNAVAILABLE', { vendor: 'livekit' });
    assert.ok(!(await list2()).some((x) => x.name === name), 'no room after a failed create');
    const again = await issue2({ room: name, identity: 'w2b', vendor: 'livekit' });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.json.room_created, true);
    assert.equal(again.json.vendor, 'livekit');
    lk.clearFaults();
    assertNoViolations(vendors);
  });

  test('unpinned, LiveKit CreateRoom fails → the room goes to the next vendor (Agora) and the token is Agora\'s', async () => {
    const name = fresh('w2-failover');
    lk.fail({ match: 'CreateRoom', mode: 'status', status: 503, times: 1 });
    const r = await issue2({ room: name, identity: 'w2c' });
    lk.clearFaults();
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.vendor, 'agora');
    assert.equal(r.json.room_created, true);
    const info = checkAgora(r.json.token);
    assert.equal(info.rtc.channel, r.json.room);
    assert.equal((await list2()).find((x) => x.room === r.json.room)?.vendor, 'agora');
    assertNoViolations(vendors);
  });

  test('unpinned failover to a vendor that refuses the grant → 422 and no room left behind', async () => {
    // LiveKit (first) would accept can_subscribe:false, but it is down; the room would land on
    // Agora, which cannot enforce it. The token is refused, so no room may remain.
    const name = fresh('w2-failover-refused');
    lk.fail({ match: 'CreateRoom', mode: 'status', status: 503, times: 1 });
    const r = await issue2({ room: name, identity: 'w2d', can_subscribe: false });
    lk.clearFaults();
    assertError(r, 422, 'GRANT_NOT_SUPPORTED', { field: 'can_subscribe', vendor: 'agora' });
    const left = (await list2()).filter((x) => x.name === name);
    assert.deepEqual(left, [], `a refused token left a room behind: ${JSON.stringify(left)}`);
    assertNoViolations(vendors);
  });
});

describe('request checks', () => {
  test('pin mismatch → 409 VENDOR_MISMATCH naming the room\'s vendor; unknown vendor → 400', async () => {
    for (const [roomVendor, pin] of [['livekit', 'agora'], ['agora', 'zego'], ['zego', 'livekit']]) {
      for (const ref of [rooms[roomVendor].id, rooms[roomVendor].name]) {
        const r = await issue({ room: ref, identity: 'pin', vendor: pin });
        assertError(r, 409, 'VENDOR_MISMATCH', { vendor: roomVendor });
      }
      // the matching pin is fine
      await issueOk({ room: rooms[roomVendor].id, identity: 'pin', vendor: roomVendor }, { vendor: roomVendor });
    }
    assertError(await issue({ room: rooms.livekit.id, identity: 'pin', vendor: 'twilio' }), 400, 'UNKNOWN_VENDOR');
    assertNoViolations(vendors);
  });

  test('unknown fields and wrongly typed fields are 400 naming the field', async () => {
    const base = { room: rooms.livekit.id, identity: 'typed' };
    assertError(await issue({ ...base, ttl: 600 }), 400, 'UNKNOWN_FIELD');
    assertError(await issue({ ...base, metadata: 'not-an-object' }), 400, 'INVALID_REQUEST', { field: 'metadata' });
    assertError(await issue({ ...base, can_publish: 'yes' }), 400, 'INVALID_REQUEST', { field: 'can_publish' });
    assertError(await issue({ ...base, is_admin: 1 }), 400, 'INVALID_REQUEST', { field: 'is_admin' });
    assertError(await issue({ ...base, identity: 42 }), 400, 'INVALID_REQUEST', { field: 'identity' });
    assertError(await issue({ ...base, display_name: 'd'.repeat(257) }), 400, 'INVALID_REQUEST', { field: 'display_name' });
    assertError(await issue({ ...base, metadata: { big: 'x'.repeat(5000) } }), 400, 'INVALID_REQUEST', { field: 'metadata' });
    assertNoViolations(vendors);
  });
});

describe('hot path', () => {
  test('minting for existing rooms makes no vendor call (20 per vendor, by id and by name)', async () => {
    // warm-up is NOT needed for the claim: even cold lookups are D1 only; count from here.
    const before = { livekit: lk.calls.length, agora: ag.calls.length, zego: zg.calls.length };
    const results = await Promise.all(['livekit', 'agora', 'zego'].map(async (vendor) => {
      const out = [];
      for (let i = 0; i < 20; i++) {
        const r = await issue({ room: i % 2 ? rooms[vendor].id : rooms[vendor].name, identity: `hot-${vendor}-${i}` });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.vendor, vendor);
        assert.equal(r.json.room, rooms[vendor].id);
        out.push(r.json);
      }
      return [vendor, out];
    }));
    assert.deepEqual(
      { livekit: lk.calls.length, agora: ag.calls.length, zego: zg.calls.length },
      before,
      'no stand-in saw a request while tokens were minted',
    );
    // and every token of the batch is valid (spot-check one per vendor fully, all cheaply)
    for (const [vendor, list] of results) {
      for (const j of list) {
        if (vendor === 'livekit') assert.equal((await verifyLiveKit(j.token, LK.apiKey, LK.apiSecret)).sub, j.identity);
        if (vendor === 'agora') assert.equal(verifyAgora(j.token, AG.certificate).rtc.uid, String(j.join.uid));
        if (vendor === 'zego') assert.equal(nodeOpenZego(j.token).doc.user_id, j.identity);
      }
    }
    await checkLiveKit(results[0][1][0].token);
    await checkZego(results[2][1][0].token);
    const agUids = results[1][1].map((j) => j.join.uid);
    assert.equal(new Set(agUids).size, agUids.length, 'distinct identities got distinct uids');
    assertNoViolations(vendors);
  });
});
