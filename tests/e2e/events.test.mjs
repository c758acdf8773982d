// Events end to end on the real Worker (workerd under `wrangler dev`, local D1, KV and Queue): vendor
// webhooks in, verified as each vendor's own receiver does; the normalized event list; deliveries to a
// loopback receiver through the local Cloudflare Queue, each verified with the official
// `standardwebhooks` package; retries with backoff and the dead letter; project isolation; usage;
// endpoints' signing secrets stored only sealed (read from the local D1 file) and never logged.
//
// LiveKit deliveries are made with LiveKit's own libraries: the body is `@livekit/protocol`'s
// `WebhookEvent` in protojson, the Authorization JWT is `livekit-server-sdk`'s `AccessToken` with the
// body's sha256 claim, and each one is first accepted by the SDK's own `WebhookReceiver` (so what the
// Worker gets is what a LiveKit server sends). Agora and ZEGO use their documented signature examples.
//
// Run: node --test --test-concurrency=1 tests/e2e/events.test.mjs   (after `bash scripts/build.sh`)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';

import { AccessToken } from 'livekit-server-sdk';
import { ParticipantInfo, Room } from '@livekit/protocol';
import { Webhook } from 'standardwebhooks';

import { startWorker, api, adminSetup, randomToken, d1File, agoraUidRecorded } from './support/harness.mjs';
import { startReceiver } from './support/receiver.mjs';
import { CREDS, startVendorStandins, vendorVars } from './support/fixtures.mjs';
import { livekitDelivery, postLiveKit } from './support/livekit_webhooks.mjs';
import { waitFor } from './support/wait.mjs';

const ADMIN = randomToken();
const { livekit: LK } = CREDS;
// The secrets of the vendors' documented signature examples.
const NCS_SECRET = 'secret';
const ZEGO_SECRET = 'secret';
// Webhook signing secrets are sealed under it (webhook.create is 422 without it).
const ENCRYPTION_KEY = crypto.randomBytes(32).toString('hex');

let vendors;
let w;
let receiver;
let a; // project A
let b; // project B



function zegoSigned(fields, nonce, timestamp) {
  const signature = crypto.createHash('sha1').update([ZEGO_SECRET, String(timestamp), nonce].sort().join('')).digest('hex');
  return new URLSearchParams({ ...fields, nonce, timestamp: String(timestamp), signature }).toString();
}

function postZego(body) {
  return api(w, 'POST', '/v1/vendor-events/zego', { rawBody: body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
}

async function events(key, query = '') {
  const r = await api(w, 'GET', `/v1/rtc/event/list${query}`, { key });
  assert.equal(r.status, 200, r.text);
  return r.json.items;
}

async function createRoom(key, name, vendor) {
  const r = await api(w, 'POST', '/v1/rtc/room/create', { key, body: { name, vendor } });
  assert.equal(r.status, 201, r.text);
  return r.json.room;
}

/** The rows `sql` (over `params` as ?) reads from the Worker's local D1 file, every column as text. */
function d1Rows(sql, ...params) {
  const script = [
    'import json, sqlite3, sys',
    'db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)',
    'db.row_factory = sqlite3.Row',
    'print(json.dumps([{k: str(r[k]) for k in r.keys()} for r in db.execute(sys.argv[2], sys.argv[3:])]))',
  ].join('\n');
  return JSON.parse(execFileSync('python3', ['-c', script, d1File(w), sql, ...params.map(String)], { encoding: 'utf8' }));
}

/** Every webhook row as D1 stores it (every column, as text). */
function storedWebhooks() {
  return d1Rows('SELECT * FROM webhooks');
}

/** The deliveries D1 holds for `eventId`: to which endpoint, in which state, after how many attempts. */
function deliveriesOf(eventId) {
  return d1Rows('SELECT webhook_id, state, attempts FROM webhook_deliveries WHERE event_id = ? ORDER BY webhook_id', eventId);
}

/** Every secret a create response returned, to look for where it must never be. */
const createdSecrets = [];

async function createWebhook(key, url, types) {
  const r = await api(w, 'POST', '/v1/rtc/webhook/create', { key, body: types ? { url, types } : { url } });
  assert.equal(r.status, 201, r.text);
  createdSecrets.push(r.json.secret);
  return r.json;
}

before(async () => {
  [vendors, receiver] = await Promise.all([startVendorStandins(), startReceiver()]);
  w = await startWorker({
    name: 'events',
    vars: {
      ADMIN_TOKEN: ADMIN,
      ...vendorVars(vendors),
      AGORA_NCS_SECRET: NCS_SECRET,
      ZEGO_CALLBACK_SECRET: ZEGO_SECRET,
      RTCGATE_ENCRYPTION_KEY: ENCRYPTION_KEY,
      WEBHOOK_ALLOW_HTTP_LOOPBACK: '1',
      WEBHOOK_MAX_ATTEMPTS: '3',
      WEBHOOK_RETRY_BASE_S: '1',
    },
  });
  a = await adminSetup(w, { projectName: 'a' });
  b = await adminSetup(w, { projectName: 'b' });
});

after(async () => {
  await w?.stop();
  await receiver?.close();
  await vendors?.close();
});

test('LiveKit webhooks: verified, listed, delivered signed to the project only, metered', async () => {
  const room = await createRoom(a.key, 'standup', 'livekit');
  // Each project's endpoint on its own path, so what reaches B's is told apart from A's.
  const hook = await createWebhook(a.key, `${receiver.url}/ok/a`);
  assert.match(hook.secret, /^whsec_/);
  const hookB = await createWebhook(b.key, `${receiver.url}/ok/b`);
  const listed = await api(w, 'GET', '/v1/rtc/webhook/list', { key: a.key });
  assert.equal(listed.json.items.length, 1);
  assert.ok(!listed.text.includes(hook.secret), 'the list never shows the secret');
  // At rest: sealed (`v1.` + hex), neither the secret nor its key bytes anywhere in the row.
  const rows = storedWebhooks().filter((row) => [hook.webhook, hookB.webhook].includes(row.id));
  assert.equal(rows.length, 2);
  for (const row of rows) {
    assert.match(row.sealed_secret, /^v1\.[0-9a-f]+$/);
    for (const secret of [hook.secret, hookB.secret]) {
      const text = JSON.stringify(row);
      assert.ok(!text.includes(secret) && !text.includes(secret.slice('whsec_'.length)), text);
    }
  }

  const now = Math.floor(Date.now() / 1000);
  const participant = (state) =>
    new ParticipantInfo({ sid: 'PA_alice', identity: 'alice', state, joinedAt: BigInt(now - 70), joinedAtMs: BigInt((now - 70) * 1000) });
  const join = await livekitDelivery({
    event: 'participant_joined', id: `EV_${randomToken(6)}`, createdAt: BigInt(now - 70),
    room: new Room({ sid: 'RM_x', name: room }), participant: participant(1),
  });
  const leave = await livekitDelivery({
    event: 'participant_left', id: `EV_${randomToken(6)}`, createdAt: BigInt(now),
    room: new Room({ sid: 'RM_x', name: room }), participant: participant(3),
  });

  // Forged: a body that does not match the signed hash, a token signed with another secret, none.
  const tampered = await postLiveKit(w, { body: join.body.replace('alice', 'mallory'), token: join.token });
  assert.equal(tampered.status, 401);
  assert.equal(tampered.json.error.code, 'UNAUTHENTICATED');
  const other = new AccessToken(LK.apiKey, 'some-other-secret-0123456789abcdef', { ttl: '5m' });
  other.sha256 = crypto.createHash('sha256').update(join.body).digest('base64');
  assert.equal((await postLiveKit(w, { body: join.body, token: await other.toJwt() })).status, 401);
  assert.equal((await api(w, 'POST', '/v1/vendor-events/livekit', { rawBody: join.body })).status, 401);

  assert.equal((await postLiveKit(w, join)).status, 200);
  assert.equal((await postLiveKit(w, join)).status, 200, 'a redelivery is accepted');
  assert.equal((await postLiveKit(w, { body: leave.body, token: `Bearer ${leave.token}` })).status, 200);

  const items = await waitFor('both events listed', async () => {
    const e = await events(a.key);
    return e.length >= 2 && e;
  });
  assert.equal(items.length, 2, 'stored once despite the redelivery');
  const joined = items.find((e) => e.type === 'participant.joined');
  const left = items.find((e) => e.type === 'participant.left');
  assert.equal(joined.room, room);
  assert.equal(joined.identity, 'alice');
  assert.equal(joined.vendor, 'livekit');
  assert.deepEqual([joined.seq, left.seq], [1, 2]);
  assert.deepEqual(await events(b.key), [], "B never sees A's events");

  // Deliveries: verified with the official Standard Webhooks library and the endpoint's secret.
  const delivered = await waitFor('two deliveries', () => {
    const c = receiver.calls.filter((x) => x.path === '/ok/a');
    return c.length >= 2 && c;
  });
  const verifier = new Webhook(hook.secret);
  for (const call of delivered) {
    const payload = verifier.verify(call.body, call.headers);
    assert.equal(payload.event, call.headers['webhook-id']);
    assert.equal(payload.room, room);
    for (const field of ['event', 'type', 'room', 'vendor', 'identity', 'occurred_at', 'received_at', 'data', 'seq']) {
      assert.ok(field in payload, field);
    }
    assert.throws(() => verifier.verify(call.body.replace('alice', 'mallory'), call.headers));
    assert.throws(() => new Webhook(hookB.secret).verify(call.body, call.headers), "B's secret does not verify A's events");
  }
  assert.deepEqual(
    delivered.map((c) => JSON.parse(c.body).type).sort(),
    ['participant.joined', 'participant.left'],
  );

  // Nothing of A's reached B. An event's fan-out writes all of its delivery rows at once, so
  // with A's deliveries in, D1 already holds every delivery A's events will ever get: one each,
  // to A's endpoint.
  for (const event of [joined, left]) {
    assert.deepEqual(deliveriesOf(event.event), [{ webhook_id: hook.webhook, state: 'delivered', attempts: '1' }]);
  }
  const usage = await api(w, 'GET', '/v1/rtc/usage', { key: a.key });
  assert.equal(usage.status, 200, usage.text);
  assert.deepEqual(usage.json.totals, { sessions: 1, participant_seconds: 70, participant_minutes: 2 });
  const usageB = await api(w, 'GET', '/v1/rtc/usage', { key: b.key });
  assert.equal(usageB.json.totals.sessions, 0);

  // And B's endpoint, once its own later event has come through the same queue, got only that.
  // (An Agora join: its room and token need no vendor call.)
  const tokenB = await api(w, 'POST', '/v1/rtc/token/issue', { key: b.key, body: { room: 'b-own-event', identity: 'bea', vendor: 'agora' } });
  assert.equal(tokenB.status, 200, tokenB.text);
  await agoraUidRecorded(w, tokenB.json.room, tokenB.json.join.uid);
  const joinB = JSON.stringify({
    noticeId: `n-${randomToken(6)}`, productId: 1, eventType: 103, notifyMs: Date.now(),
    payload: { channelName: tokenB.json.room, uid: tokenB.json.join.uid, platform: 7, clientSeq: 1, ts: Math.floor(Date.now() / 1000) },
  });
  const signedB = crypto.createHmac('sha256', NCS_SECRET).update(joinB).digest('hex');
  const postedB = await api(w, 'POST', '/v1/vendor-events/agora', { rawBody: joinB, headers: { 'content-type': 'application/json', 'Agora-Signature-V2': signedB } });
  assert.equal(postedB.status, 200, postedB.text);
  const [eventB] = await waitFor("B's own event listed", () => events(b.key).then((e) => e.length > 0 && e));
  await waitFor("B's own event delivered", () => receiver.calls.some((x) => x.path === '/ok/b'));
  const toB = receiver.calls.filter((x) => x.path === '/ok/b');
  assert.deepEqual(toB.map((c) => c.headers['webhook-id']), [eventB.event], "B's endpoint got B's event and nothing else");
  assert.equal(new Webhook(hookB.secret).verify(toB[0].body, toB[0].headers).identity, 'bea');

  const health = await api(w, 'GET', `/v1/rtc/webhook/get/${hook.webhook}`, { key: a.key });
  assert.equal(health.json.delivery.delivered, 2);
  assert.equal(health.json.secret, undefined);
  assert.equal((await api(w, 'DELETE', `/v1/rtc/webhook/delete/${hook.webhook}`, { key: a.key })).status, 200);
  assert.equal((await api(w, 'DELETE', `/v1/rtc/webhook/delete/${hookB.webhook}`, { key: b.key })).status, 200);
});

test("Agora Notifications: the documented signature example verifies (V2 and V1), tampering does not", async () => {
  // Agora's documented example (secret "secret"): this body and its two signatures.
  const body =
    '{"eventMs":1560408533119,"eventType":10,"noticeId":"4eb720f0-8da7-11e9-a43e-53f411c2761f","notifyMs":1560408533119,"payload":{"a":"1","b":2},"productId":1}';
  const post = (raw, headers) => api(w, 'POST', '/v1/vendor-events/agora', { rawBody: raw, headers: { 'content-type': 'application/json', ...headers } });
  assert.equal((await post(body, { 'Agora-Signature-V2': '6d3320c60b11101395b7fc8f9068748808a0aa1bfa064438e39d1bc2c7d74d99' })).status, 200);
  assert.equal((await post(body, { 'Agora-Signature': '033c62f40f687675f17f0f41f91a40c71c0f134c' })).status, 200);
  assert.equal((await post(body.replace('"b":2', '"b":3'), { 'Agora-Signature-V2': '6d3320c60b11101395b7fc8f9068748808a0aa1bfa064438e39d1bc2c7d74d99' })).status, 401);
  assert.equal((await post(body, {})).status, 401);

  // A join in an Agora room: the uid maps back to the identity the token was issued for.
  const t = await api(w, 'POST', '/v1/rtc/token/issue', { key: a.key, body: { room: 'agora-room', identity: 'bob', vendor: 'agora' } });
  assert.equal(t.status, 200, t.text);
  await agoraUidRecorded(w, t.json.room, t.json.join.uid);
  const join = JSON.stringify({
    noticeId: `n-${randomToken(6)}`, productId: 1, eventType: 103, notifyMs: Date.now(),
    payload: { channelName: t.json.room, uid: t.json.join.uid, platform: 7, clientSeq: 1, ts: Math.floor(Date.now() / 1000) },
  });
  const sig = crypto.createHmac('sha256', NCS_SECRET).update(join).digest('hex');
  assert.equal((await post(join, { 'Agora-Signature-V2': sig })).status, 200);
  const listed = await waitFor('the Agora join', async () => (await events(a.key, `?room=${t.json.room}`))[0]);
  assert.equal(listed.identity, 'bob');
  assert.equal(listed.type, 'participant.joined');
});

test('ZEGO callbacks: the documented signature is refused as stale; replays with another body are refused', async () => {
  // ZEGO's documented example (secret "secret", nonce 123412, timestamp 1470820198): correctly
  // signed, but years old.
  const documented = new URLSearchParams({
    event: 'room_create', room_id: 'x', nonce: '123412', timestamp: '1470820198', signature: '5bd59fd62953a8059fb7eaba95720f66d19e4517',
  }).toString();
  assert.equal((await postZego(documented)).status, 401);

  const room = await createRoom(a.key, 'zego-room', 'zego');
  const now = Math.floor(Date.now() / 1000);
  const login = { event: 'room_login', room_id: room, user_account: 'carol', session_id: 's1', login_time: String(now * 1000), user_role: '1' };
  const body = zegoSigned(login, randomToken(8), now);
  assert.equal((await postZego(body)).status, 200);
  assert.equal((await postZego(body)).status, 200, 'a retry of the same callback is no replay');
  assert.equal((await postZego(body.replace('carol', 'mallory'))).status, 401, 'same nonce, other body');
  assert.equal((await postZego(zegoSigned(login, randomToken(8), now - 400))).status, 401, 'stale');
  // JSON bodies too.
  const logout = { event: 'room_logout', room_id: room, user_account: 'carol', session_id: 's1', login_time: String(now * 1000), logout_time: String(now * 1000 + 30_000) };
  const json = Object.fromEntries(new URLSearchParams(zegoSigned(logout, randomToken(8), now)));
  const r = await api(w, 'POST', '/v1/vendor-events/zego', { body: json });
  assert.equal(r.status, 200, r.text);
  const items = await waitFor('the ZEGO join and leave', async () => {
    const e = await events(a.key, `?room=${room}`);
    return e.length >= 2 && e;
  });
  assert.deepEqual(items.map((e) => [e.type, e.identity]), [['participant.left', 'carol'], ['participant.joined', 'carol']]);
});

test('a failing receiver gets retries with backoff through the queue, then the dead letter', async () => {
  const room = await createRoom(b.key, 'retries', 'livekit');
  const flaky = await createWebhook(b.key, `${receiver.url}/flaky`, ['room.started']);
  const down = await createWebhook(b.key, `${receiver.url}/down`, ['room.started']);
  const started = await livekitDelivery({ event: 'room_started', id: `EV_${randomToken(6)}`, room: new Room({ sid: 'RM_y', name: room }) });
  assert.equal((await postLiveKit(w, started)).status, 200);

  const flakyCalls = await waitFor('three attempts at /flaky', () => {
    const c = receiver.calls.filter((x) => x.path === '/flaky');
    return c.length >= 3 && c;
  });
  const ids = new Set(flakyCalls.map((c) => c.headers['webhook-id']));
  assert.equal(ids.size, 1, 'every attempt carries the same webhook-id');
  // Backoff: 1 s, then 2 s (structural: each wait at least the configured one).
  assert.ok(flakyCalls[1].at - flakyCalls[0].at >= 900, 'first retry waited');
  assert.ok(flakyCalls[2].at - flakyCalls[1].at >= 1900, 'second retry waited longer');
  for (const c of flakyCalls) assert.equal(new Webhook(flaky.secret).verify(c.body, c.headers).type, 'room.started');

  const dead = await waitFor('the dead letter', async () => {
    const h = await api(w, 'GET', `/v1/rtc/webhook/get/${down.webhook}`, { key: b.key });
    return h.json.delivery.dead_lettered === 1 && h.json;
  });
  assert.equal(dead.delivery.last_status, 500);
  assert.equal(dead.delivery.consecutive_failures, 3);
  // No attempt after the last. A fourth would come the next backoff (4 s) after the third; so
  // once that much more has passed, a later event is sent through the same queue, and only once
  // its delivery is in is the count read: by then the queue has handed over everything due
  // before it.
  const [startedEvent] = ids;
  const downCalls = () => receiver.calls.filter((x) => x.path === '/down' && x.id === startedEvent);
  const third = downCalls()[2];
  assert.ok(third, 'three attempts at /down');
  const nextBackoffMs = 4 * 1000; // WEBHOOK_RETRY_BASE_S · 2^(3−1)
  await new Promise((r) => setTimeout(r, Math.max(0, third.at + nextBackoffMs + 2000 - Date.now())));
  const sentinel = await createWebhook(b.key, `${receiver.url}/ok/sentinel`, ['room.finished']);
  const finished = await livekitDelivery({ event: 'room_finished', id: `EV_${randomToken(6)}`, room: new Room({ sid: 'RM_y', name: room }) });
  assert.equal((await postLiveKit(w, finished)).status, 200);
  await waitFor('the later event delivered', () => receiver.calls.some((x) => x.path === '/ok/sentinel'));
  assert.equal(downCalls().length, 3, 'no attempt after the last');
  const [downDelivery] = d1Rows('SELECT state, attempts FROM webhook_deliveries WHERE webhook_id = ?', down.webhook);
  assert.deepEqual(downDelivery, { state: 'dead', attempts: '3' });
  const after = await api(w, 'GET', `/v1/rtc/webhook/get/${down.webhook}`, { key: b.key });
  assert.equal(after.json.delivery.dead_lettered, 1);
  assert.equal((await api(w, 'DELETE', `/v1/rtc/webhook/delete/${sentinel.webhook}`, { key: b.key })).status, 200);
  const ok = await api(w, 'GET', `/v1/rtc/webhook/get/${flaky.webhook}`, { key: b.key });
  assert.equal(ok.json.delivery.delivered, 1);
  assert.equal((await api(w, 'GET', `/v1/rtc/webhook/get/${flaky.webhook}`, { key: a.key })).status, 404);
});

test('webhook URLs: private and link-local addresses are refused even in local development', async () => {
  for (const url of ['http://10.0.0.1/x', 'https://169.254.169.254/latest', 'https://192.168.0.10/', 'http://example.com/x', 'https://[fe80::1]/']) {
    const r = await api(w, 'POST', '/v1/rtc/webhook/create', { key: a.key, body: { url } });
    assert.equal(r.status, 400, `${url}: ${r.text}`);
    assert.equal(r.json.error.field, 'url');
  }
});

test('no signing secret ever appears in the Worker\'s log', () => {
  assert.ok(createdSecrets.length >= 2, 'the tests above created endpoints');
  const log = w.logs();
  assert.match(log, /POST \/v1\/rtc\/webhook\/create/, 'the log holds the requests that returned them');
  for (const secret of createdSecrets) {
    assert.ok(!log.includes(secret.slice('whsec_'.length)), 'a signing secret in the log');
  }
  assert.ok(!log.includes(ENCRYPTION_KEY), 'the encryption key in the log');
});
