// Session history and presence from the real LiveKit server (livekit_server.mjs) into the real
// Worker: real clients (@livekit/rtc-node) join rooms created through rtcgate, on tokens rtcgate
// minted; the server's own webhooks reach `/v1/vendor-events/livekit`. Then
//
// - while alice is in two rooms and bob in one, `rtc.presence` names alice's two rooms and
//   `rtc.session.list` shows open sessions (no `left_at`, the duration running), each session
//   also by `rtc.session.get`, with the server's own join time;
// - another project sees none of it (an empty list and presence, 404 for the session);
// - when alice leaves one room her session there closes (`left_at`, a duration matching its two
//   ends) and presence drops that room; when the last one leaves a room, it is gone for everyone.
//
// Run: node --test --test-concurrency=1 tests/e2e/sessions.test.mjs   (after `make setup` and
// `bash scripts/build.sh`)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';

import { WebhookReceiver } from 'livekit-server-sdk';

import { startWorker, api, adminSetup, randomToken } from './support/harness.mjs';
import { freePorts, startLiveKitServer, serverVars } from './support/livekit_server.mjs';
import { rtc, until, joinWith } from './support/livekit_clients.mjs';
import { startReceiver } from './support/receiver.mjs';

const ADMIN = randomToken();
const API_KEY = `APIsessions${crypto.randomBytes(6).toString('hex')}`;
const API_SECRET = crypto.randomBytes(32).toString('base64url');
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

let receiver; // the server's own webhooks, tapped (/ok/livekit)
let w;
let lk;
let a; // project A: owns the rooms
let b; // project B
const clients = new Set();

before(async () => {
  receiver = await startReceiver();
  const ports = await freePorts();
  w = await startWorker({
    name: 'sessions',
    vars: {
      ADMIN_TOKEN: ADMIN,
      RTC_VENDOR_ORDER: 'livekit',
      ...serverVars({ ports, apiKey: API_KEY, apiSecret: API_SECRET }),
      VENDOR_TIMEOUT_MS: 5000,
    },
  });
  lk = await startLiveKitServer({
    ports,
    apiKey: API_KEY,
    apiSecret: API_SECRET,
    webhookUrls: [`${w.url}/v1/vendor-events/livekit`, `${receiver.url}/ok/livekit`],
    // A room closes a second after its last participant leaves (default 20 s).
    roomDefaults: { departure_timeout: 1 },
  });
  a = await adminSetup(w, { projectName: 'a' });
  b = await adminSetup(w, { projectName: 'b' });
});

after(async () => {
  await Promise.allSettled([...clients].map((c) => c.disconnect()));
  await rtc.dispose();
  await w?.stop();
  await lk?.stop();
  await receiver?.close();
});

async function joinAs(room, identity) {
  const r = await api(w, 'POST', '/v1/rtc/token/issue', { key: a.key, body: { room, identity } });
  assert.equal(r.status, 200, r.text);
  return joinWith(clients, r.json);
}

async function get(key, path) {
  const r = await api(w, 'GET', path, { key });
  assert.equal(r.status, 200, `${path}: ${r.text}`);
  return r.json;
}

const sessions = (key, query = '') => get(key, `/v1/rtc/session/list${query}`).then((j) => j.items);
const presence = (key, identity) => get(key, `/v1/rtc/presence?identity=${identity}`);
const presentIn = (p) => p.rooms.map((r) => r.room).sort();

/** The server's participant_joined webhooks (as the tap received them): identity + room → joinedAtMs. */
async function serverJoins() {
  const verifier = new WebhookReceiver(API_KEY, API_SECRET);
  const sent = await Promise.all(
    receiver.calls
      .filter((c) => c.path === '/ok/livekit')
      .map((c) => verifier.receive(c.body, c.headers.authorization)),
  );
  return new Map(
    sent.filter((e) => e.event === 'participant_joined')
      .map((e) => [`${e.participant.identity} ${e.room.name}`, Number(e.participant.joinedAtMs)]),
  );
}

const wholeSecond = (ms) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

test('a real LiveKit server: presence and session history follow real clients joining and leaving', async () => {
  const created = await Promise.all(['standup', 'retro'].map(async (name) => {
    const r = await api(w, 'POST', '/v1/rtc/room/create', { key: a.key, body: { name } });
    assert.equal(r.status, 201, r.text);
    return r.json.room;
  }));
  const [standup, retro] = created;

  const aliceInStandup = await joinAs('standup', 'alice');
  const bob = await joinAs('standup', 'bob');
  const aliceInRetro = await joinAs('retro', 'alice');

  // In: alice is in both rooms, bob in one, as soon as the server's joins have arrived.
  const alicePresent = await until(
    () => presence(a.key, 'alice'),
    (p) => p.rooms.length === 2,
    "alice's two rooms in rtc.presence",
  );
  assert.deepEqual(presentIn(alicePresent), [standup, retro].sort());
  assert.equal(alicePresent.identity, 'alice');
  assert.equal(alicePresent.truncated, false);
  for (const r of alicePresent.rooms) {
    assert.equal(r.vendor, 'livekit');
    assert.match(r.session, /^ses_[A-Za-z0-9]{22}$/);
    assert.match(r.joined_at, RFC3339_UTC);
  }
  await until(() => presence(a.key, 'bob'), (p) => p.rooms.length === 1, "bob's room in rtc.presence");
  assert.deepEqual(presentIn(await presence(a.key, 'bob')), [standup]);

  const open = await sessions(a.key);
  assert.equal(open.length, 3, JSON.stringify(open));
  const joins = await serverJoins();
  for (const s of open) {
    assert.equal(s.left_at, null, `${s.identity} in ${s.room} is open`);
    assert.equal(s.vendor, 'livekit');
    assert.ok(Number.isInteger(s.duration_s) && s.duration_s >= 0, `${s.duration_s}`);
    // The join time is the server's own.
    const joined = joins.get(`${s.identity} ${s.room}`);
    assert.ok(joined, `the server reported ${s.identity} joining ${s.room}`);
    assert.equal(s.joined_at, wholeSecond(joined));
    const one = await get(a.key, `/v1/rtc/session/get/${s.session}`);
    assert.equal(one.session, s.session);
    assert.equal(one.left_at, null);
  }
  // Newest join first; filters by room (by name too) and identity.
  const joinedMs = open.map((s) => joins.get(`${s.identity} ${s.room}`));
  assert.deepEqual(joinedMs, [...joinedMs].sort((x, y) => y - x), 'newest join first');
  assert.deepEqual((await sessions(a.key, '?room=standup')).map((s) => s.identity).sort(), ['alice', 'bob']);
  assert.deepEqual((await sessions(a.key, `?identity=alice&room=${retro}`)).map((s) => s.room), [retro]);
  const page = await get(a.key, '/v1/rtc/session/list?limit=2');
  assert.equal(page.items.length, 2);
  const rest = await get(a.key, `/v1/rtc/session/list?limit=2&cursor=${page.next_cursor}`);
  assert.deepEqual([...page.items, ...rest.items].map((s) => s.session), open.map((s) => s.session));
  assert.equal(rest.next_cursor, null);

  // Another project sees none of it.
  assert.deepEqual(await sessions(b.key), []);
  assert.deepEqual((await presence(b.key, 'alice')).rooms, []);
  const hidden = await api(w, 'GET', `/v1/rtc/session/get/${open[0].session}`, { key: b.key });
  assert.equal(hidden.status, 404, hidden.text);
  assert.equal(hidden.json.error.code, 'SESSION_NOT_FOUND');

  // alice leaves retro after at least a second there: that session closes, the other stays open.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const retroSession = open.find((s) => s.identity === 'alice' && s.room === retro);
  await aliceInRetro.disconnect();
  clients.delete(aliceInRetro);
  const closed = await until(
    () => get(a.key, `/v1/rtc/session/get/${retroSession.session}`),
    (s) => s.left_at !== null,
    "alice's retro session closed",
  );
  assert.match(closed.left_at, RFC3339_UTC);
  const lasted = (Date.parse(closed.left_at) - Date.parse(closed.joined_at)) / 1000;
  // Both ends are shown in whole seconds; the duration counts from the exact join, rounded up.
  assert.ok(closed.duration_s >= 1 && Math.abs(closed.duration_s - lasted) <= 1, `${closed.duration_s} s for ${lasted} s`);
  const later = await get(a.key, `/v1/rtc/session/get/${retroSession.session}`);
  assert.equal(later.duration_s, closed.duration_s, 'a closed session no longer grows');
  assert.deepEqual(presentIn(await presence(a.key, 'alice')), [standup]);

  // Everyone leaves standup: the server finishes the room, and no one is anywhere.
  await Promise.all([aliceInStandup.disconnect(), bob.disconnect()]);
  clients.clear();
  const all = await until(
    () => sessions(a.key),
    (items) => items.every((s) => s.left_at !== null),
    'every session closed',
  );
  assert.equal(all.length, 3);
  for (const s of all) {
    assert.ok(Date.parse(s.left_at) >= Date.parse(s.joined_at), JSON.stringify(s));
  }
  assert.deepEqual((await presence(a.key, 'alice')).rooms, []);
  assert.deepEqual((await presence(a.key, 'bob')).rooms, []);
});
