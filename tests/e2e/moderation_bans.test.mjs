// Bans end to end:
//
// - with the vendor's own LiveKit server and real LiveKit clients (@livekit/rtc-node): a ban
//   disconnects the client; token.issue for it is then 403 PARTICIPANT_BANNED; a client that
//   joins with a token minted before the ban (the open-source server does not honour
//   revoke_token_ts) is kicked as soon as its participant_joined webhook reaches rtcgate;
// - with two isolates on one D1 database (two Worker services in one workerd): a ban and an
//   API-key revocation made through one are enforced by the other within the staleness window
//   (5 s, docs/security.md#revocation);
// - with the strict Agora and ZEGO stand-ins: the Agora kicking rule (join_channel, its id kept,
//   deleted on lift) and the ZEGO forbid-user rule (86400 s cap; Code 9 when not enabled).
//
// Run: node --test --test-concurrency=1 --test-timeout=600000 tests/e2e/moderation_bans.test.mjs
// (after `bash scripts/setup.sh` and `bash scripts/build.sh`)

import path from 'node:path';
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { ROOT, startWorker, api, adminSetup, randomToken } from './support/harness.mjs';
import { startWorkerd } from './support/workerd.mjs';
import { freePorts, startLiveKitServer, serverVars } from './support/livekit_server.mjs';
import { startAgora, startZego } from './support/standins/index.mjs';
import { rtc, joinWith } from './support/livekit_clients.mjs';

const ADMIN = randomToken();
const API_KEY = 'APIbanstest';
const API_SECRET = randomToken(32);
/** The staleness window (`FEED_STALE_MS`), and what a test allows on top of it. */
const WINDOW_MS = 5_000;
const SLACK_MS = 3_000;

let lk; // the real server
let w1; // the Worker the server sends its webhooks to
let project; // {projectId, key}
const clients = new Set();

before(async () => {
  const ports = await freePorts();
  const vars = {
    ADMIN_TOKEN: ADMIN,
    RTC_VENDOR_ORDER: 'livekit',
    ...serverVars({ ports, apiKey: API_KEY, apiSecret: API_SECRET }),
    VENDOR_TIMEOUT_MS: 5000,
  };
  w1 = await startWorker({ name: 'bans-1', vars });
  lk = await startLiveKitServer({
    ports,
    apiKey: API_KEY,
    apiSecret: API_SECRET,
    webhookUrls: [`${w1.url}/v1/vendor-events/livekit`],
  });
  project = await adminSetup(w1);
});

after(async () => {
  await Promise.allSettled([...clients].map((c) => c.disconnect()));
  await rtc.dispose();
  await w1?.stop();
  await lk?.stop();
});

async function issue(worker, body, key = project.key) {
  return api(worker, 'POST', '/v1/rtc/token/issue', { key, body });
}

async function ban(worker, room, body, key = project.key) {
  const r = await api(worker, 'POST', `/v1/rtc/participant/ban/${encodeURIComponent(room)}`, { key, body });
  assert.ok([200, 201].includes(r.status), r.text);
  return r.json;
}

function disconnected(room) {
  return new Promise((resolve) => room.once(rtc.RoomEvent.Disconnected, () => resolve(Date.now())));
}

/** Polls `read` until `accept(value)`, for at most `ms`; returns the value and when it was accepted. */
async function within(ms, read, accept, what) {
  const start = Date.now();
  for (;;) {
    const value = await read();
    if (accept(value)) return { value, afterMs: Date.now() - start };
    if (Date.now() - start > ms) assert.fail(`${what}: not within ${ms} ms (last: ${JSON.stringify(value)})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// Two isolates on one D1 database: two Worker services from this build in ONE workerd, each its
// own isolate (nothing in memory shared), both bound to the same local D1 database, which that
// process serves through one SQLite connection as D1's single primary does. (Two `wrangler dev`
// processes on one persist directory would instead contend for the SQLite file's lock, which no
// deployment ever does.)
describe('revocation across two isolates on one database', () => {
  let stack; // one workerd: `stack.rtc` and `stack.also[0]` are the two isolates
  let a;
  let b;
  let tenant;

  before(async () => {
    stack = await startWorkerd({ also: [{ label: 'second isolate', build: path.join(ROOT, 'build') }] });
    a = stack.rtc;
    b = stack.also[0];
    tenant = await adminSetup(a);
  });

  after(async () => {
    await stack?.close();
  });

  test('a ban made through one isolate is enforced by the other within the window', async () => {
    const room = await api(a, 'POST', '/v1/rtc/room/create', { key: tenant.key, body: { name: 'two-isolates', vendor: 'livekit' } });
    assert.equal(room.status, 201, room.text);
    const mint = () => issue(b, { room: 'two-isolates', identity: 'dave' }, tenant.key);
    const warm = await mint();
    assert.equal(warm.status, 200, warm.text);
    await ban(a, 'two-isolates', { identity: 'dave', kick: false }, tenant.key);
    const { value, afterMs } = await within(WINDOW_MS + SLACK_MS, mint, (r) => r.status === 403, 'the ban in the other isolate');
    assert.equal(value.json.error.code, 'PARTICIPANT_BANNED', value.text);
    assert.ok(afterMs <= WINDOW_MS + SLACK_MS, `${afterMs} ms`);
  });

  test('an API key revoked through one isolate is refused by the other within the window', async () => {
    const second = await adminSetup(a, { projectName: 'revoked' });
    const list = () => api(b, 'GET', '/v1/rtc/room/list', { key: second.key });
    assert.equal((await list()).status, 200, 'the other isolate caches the key');
    const revoked = await api(a, 'POST', `/v1/admin/keys/${second.keyId}/revoke`, { key: a.adminToken });
    assert.equal(revoked.status, 200, revoked.text);
    const { afterMs } = await within(WINDOW_MS + SLACK_MS, list, (r) => r.status === 401, 'the revocation in the other isolate');
    assert.ok(afterMs <= WINDOW_MS + SLACK_MS, `${afterMs} ms (the key cache alone would keep it 60 s)`);
  });
});

describe('bans with a real LiveKit server and real clients', () => {
  test('a ban disconnects the client, and its next token is 403 PARTICIPANT_BANNED', async () => {
    const first = await issue(w1, { room: 'ban-live', identity: 'alice' });
    assert.equal(first.status, 200, first.text);
    const alice = await joinWith(clients, first.json);
    const gone = disconnected(alice);
    const b = await ban(w1, 'ban-live', { identity: 'alice', duration_s: 600, reason: 'e2e' });
    assert.equal(b.scope, 'room');
    assert.match(b.ban, /^ban_/);
    const at = await Promise.race([gone, new Promise((_, no) => setTimeout(() => no(new Error('not disconnected in 10 s')), 10_000))]);
    assert.ok(at > 0);
    const again = await issue(w1, { room: 'ban-live', identity: 'alice' });
    assert.equal(again.status, 403, again.text);
    assert.equal(again.json.error.code, 'PARTICIPANT_BANNED');
    assert.equal(again.json.error.ban, b.ban);
    assert.equal(again.json.error.expires_at, b.expires_at);
    const other = await issue(w1, { room: 'ban-live', identity: 'bob' });
    assert.equal(other.status, 200, 'others still get tokens');
  });

  test('a client joining with a token minted before its ban is kicked when its join arrives', async () => {
    const old = await issue(w1, { room: 'ban-old-token', identity: 'carol' });
    assert.equal(old.status, 200, old.text);
    // The room exists at the server (a first participant), so the ban's room is live.
    const host = await joinWith(clients, (await issue(w1, { room: 'ban-old-token', identity: 'host' })).json);
    await ban(w1, 'ban-old-token', { identity: 'carol', kick: false });
    const carol = new rtc.Room();
    clients.add(carol);
    const gone = disconnected(carol);
    await carol.connect(old.json.join.url, old.json.token, { autoSubscribe: false });
    const joinedAt = Date.now();
    const leftAt = await Promise.race([gone, new Promise((_, no) => setTimeout(() => no(new Error('carol was not kicked in 10 s')), 10_000))]);
    // The server posts participant_joined as the client connects; rtcgate answers it, then kicks.
    assert.ok(leftAt - joinedAt < 1_000, `kicked ${leftAt - joinedAt} ms after joining`);
    assert.ok(host.isConnected, 'the others stay');
    const events = await api(w1, 'GET', '/v1/rtc/event/list?type=participant.banned', { key: project.key });
    assert.ok(events.json.items.some((e) => e.identity === 'carol' && e.vendor === 'rtcgate'), events.text);
  });
});


describe('vendor ban rules on the strict stand-ins', () => {
  let agora;
  let zego;
  let zegoOff;
  let wa;
  let wz;
  let wzOff;

  before(async () => {
    agora = await startAgora({ appId: '970CA35de60c44645bbae8a215061b33', customerId: 'cust', customerSecret: 'secret' });
    zego = await startZego({ appId: 1234567890, serverSecret: 'fa94dd0f974cf2e293728a526b028271', forbidRules: true });
    zegoOff = await startZego({ appId: 1234567890, serverSecret: 'fa94dd0f974cf2e293728a526b028271' });
    const agoraVars = {
      AGORA_APP_ID: agora.appId,
      AGORA_APP_CERTIFICATE: '5CFd2fd1755d40ecb72977518be15d3b',
      AGORA_CUSTOMER_ID: 'cust',
      AGORA_CUSTOMER_SECRET: 'secret',
      AGORA_API_BASE: agora.url,
    };
    const zegoVars = (z) => ({ ZEGO_APP_ID: '1234567890', ZEGO_SERVER_SECRET: 'fa94dd0f974cf2e293728a526b028271', ZEGO_API_BASE: z.url, ZEGO_FORBID_RULES: '1' });
    wa = await startWorker({ name: 'bans-agora', vars: { ADMIN_TOKEN: ADMIN, RTC_VENDOR_ORDER: 'agora', ...agoraVars } });
    wz = await startWorker({ name: 'bans-zego', vars: { ADMIN_TOKEN: ADMIN, RTC_VENDOR_ORDER: 'zego', ...zegoVars(zego) } });
    // The setting is on, but ZEGO has not enabled the rules for this app: Code 9.
    wzOff = await startWorker({ name: 'bans-zego-off', vars: { ADMIN_TOKEN: ADMIN, RTC_VENDOR_ORDER: 'zego', ...zegoVars(zegoOff) } });
  });

  after(async () => {
    await Promise.allSettled([wa?.stop(), wz?.stop(), wzOff?.stop()]);
    await Promise.allSettled([agora?.close?.(), zego?.close?.(), zegoOff?.close?.()]);
  });

  test('Agora: a join_channel rule with its id, refused rejoin, deleted on lift', async () => {
    const { key } = await adminSetup(wa);
    const t = await api(wa, 'POST', '/v1/rtc/token/issue', { key, body: { room: 'class', identity: 'eve' } });
    assert.equal(t.status, 200, t.text);
    const { room, join } = t.json;
    agora.seedUser(room, join.uid);
    const b = await api(wa, 'POST', `/v1/rtc/participant/ban/${room}`, { key, body: { identity: 'eve', duration_s: 3 * 86400 } });
    assert.equal(b.status, 201, b.text);
    assert.equal(b.json.vendor_rule.vendor, 'agora');
    const rule = agora.activeRules().find((r) => r.uid === join.uid && r.seconds > 0);
    assert.ok(rule, JSON.stringify(agora.rules));
    assert.equal(rule.cname, room);
    assert.deepEqual(rule.privileges, ['join_channel']);
    assert.equal(rule.seconds, 86430, "Agora's cap, re-applied by the scheduled job while the ban lasts");
    assert.ok(!agora.usersIn(room).includes(join.uid), 'kicked');
    assert.equal(agora.seedUser(room, join.uid), false, 'the rule refuses the rejoin');
    const lifted = await api(wa, 'DELETE', `/v1/rtc/ban/delete/${b.json.ban}`, { key });
    assert.equal(lifted.status, 200, lifted.text);
    assert.ok(!agora.activeRules().some((r) => r.id === rule.id), 'the rule is deleted');
    assert.deepEqual(agora.violations(), []);
  });

  test('ZEGO: a forbid-user rule capped at 86400 s; Code 9 translated when not enabled', async () => {
    const { key } = await adminSetup(wz);
    const t = await api(wz, 'POST', '/v1/rtc/token/issue', { key, body: { room: 'z', identity: 'eve' } });
    const room = t.json.room;
    zego.seedUser(room, { UserId: 'eve' });
    const b = await api(wz, 'POST', `/v1/rtc/participant/ban/${room}`, { key, body: { identity: 'eve', duration_s: 5 * 86400 } });
    assert.equal(b.status, 201, b.text);
    assert.equal(b.json.vendor_rule.vendor, 'zego');
    const [rule] = zego.forbidRules();
    assert.equal(rule.RoomId, room);
    assert.equal(rule.UserId, 'eve');
    assert.equal(rule.seconds, 86400);
    assert.ok(!zego.usersIn(room).includes('eve'), 'kicked');
    assert.equal(zego.seedUser(room, { UserId: 'eve' }), null, 'the rule refuses the login');
    await api(wz, 'DELETE', `/v1/rtc/ban/delete/${b.json.ban}`, { key });
    assert.deepEqual(zego.forbidRules(), [], 'removed on lift');
    assert.deepEqual(zego.violations(), []);

    const off = await adminSetup(wzOff);
    const t2 = await api(wzOff, 'POST', '/v1/rtc/token/issue', { key: off.key, body: { room: 'z', identity: 'eve' } });
    const b2 = await api(wzOff, 'POST', `/v1/rtc/participant/ban/${t2.json.room}`, { key: off.key, body: { identity: 'eve', kick: false } });
    assert.equal(b2.status, 201, b2.text);
    assert.equal(b2.json.vendor_rule.vendor, 'zego', b2.text);
    assert.equal(b2.json.vendor_rule.error.code, 'UNSUPPORTED_BY_VENDOR', b2.text);
    assert.equal(zegoOff.callsTo('SetForbidUserRule').length, 1);
    assert.deepEqual(zegoOff.violations(), []);
    const refused = await api(wzOff, 'POST', '/v1/rtc/token/issue', { key: off.key, body: { room: t2.json.room, identity: 'eve' } });
    assert.equal(refused.status, 403, 'the ban stands on tokens');
  });
});
