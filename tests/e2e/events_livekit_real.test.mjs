// Events from the vendor's own LiveKit server (livekit_server.mjs) into the real Worker: the server
// is configured to post its webhooks to `/v1/vendor-events/livekit`, signed with its API key (the
// Worker's LIVEKIT_API_KEY). Real clients (@livekit/rtc-node) join a room created through rtcgate,
// on tokens rtcgate minted, publish a tone and leave; then
//
// - room.started, participant.joined, track.published, participant.left and room.finished are in
//   the owning project's event list, and another project sees none of them;
// - each one reaches the project's loopback receiver, verified with the official
//   `standardwebhooks` package;
// - participant.list shows the server's joined_at while the clients are in;
// - usage counts each client's session from the server's own join and leave times, a started
//   second and minute counting whole.
//
// The server also posts every webhook to a loopback tap, so the test knows exactly what it sent.
//
// Run: node --test --test-concurrency=1 tests/e2e/events_livekit_real.test.mjs   (after `make setup`
// and `bash scripts/build.sh`)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';

import { RoomServiceClient, WebhookReceiver } from 'livekit-server-sdk';
import { Webhook } from 'standardwebhooks';

import { startWorker, api, adminSetup, randomToken } from './support/harness.mjs';
import { freePorts, startLiveKitServer, serverVars } from './support/livekit_server.mjs';
import { rtc, nextEvent, until, publishTone, joinWith } from './support/livekit_clients.mjs';
import { startReceiver } from './support/receiver.mjs';

const ADMIN = randomToken();
const API_KEY = `APIevents${crypto.randomBytes(6).toString('hex')}`;
const API_SECRET = crypto.randomBytes(32).toString('base64url');
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

let receiver; // rtcgate's deliveries (/ok/a, /ok/b) and the server's own webhooks (/ok/livekit)
let w;
let lk;
let rooms; // the server's RoomServiceClient
let a; // project A: owns the room
let b; // project B
const clients = new Set();

before(async () => {
  receiver = await startReceiver();
  // The Worker must know the server's URL and the server the Worker's: the server's ports are
  // picked first.
  const ports = await freePorts();
  w = await startWorker({
    name: 'events-livekit-real',
    vars: {
      ADMIN_TOKEN: ADMIN,
      RTC_VENDOR_ORDER: 'livekit',
      ...serverVars({ ports, apiKey: API_KEY, apiSecret: API_SECRET }),
      VENDOR_TIMEOUT_MS: 5000,
      WEBHOOK_ALLOW_HTTP_LOOPBACK: '1',
      // Webhook signing secrets are sealed under it where the Worker seals them.
      RTCGATE_ENCRYPTION_KEY: crypto.randomBytes(32).toString('hex'),
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
  rooms = new RoomServiceClient(lk.url, API_KEY, API_SECRET);
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

async function issue(body) {
  const r = await api(w, 'POST', '/v1/rtc/token/issue', { key: a.key, body });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.vendor, 'livekit');
  return r.json;
}

const join = (issued) => joinWith(clients, issued);

async function events(key, room) {
  const r = await api(w, 'GET', `/v1/rtc/event/list${room ? `?room=${room}` : ''}`, { key });
  assert.equal(r.status, 200, r.text);
  return r.json.items;
}

/** The server's own webhooks as the tap received them, each checked by the SDK's receiver. */
async function sentByServer() {
  const verifier = new WebhookReceiver(API_KEY, API_SECRET);
  return Promise.all(
    receiver.calls
      .filter((c) => c.path === '/ok/livekit')
      .map(async (c) => ({ raw: c.body, headers: c.headers, event: await verifier.receive(c.body, c.headers.authorization) })),
  );
}

test('a real LiveKit server: its webhooks become the owning project\'s events, deliveries and usage', async () => {
  const hookA = await api(w, 'POST', '/v1/rtc/webhook/create', { key: a.key, body: { url: `${receiver.url}/ok/a` } });
  assert.equal(hookA.status, 201, hookA.text);
  const hookB = await api(w, 'POST', '/v1/rtc/webhook/create', { key: b.key, body: { url: `${receiver.url}/ok/b` } });
  assert.equal(hookB.status, 201, hookB.text);
  const created = await api(w, 'POST', '/v1/rtc/room/create', { key: a.key, body: { name: 'standup' } });
  assert.equal(created.status, 201, created.text);
  const room = created.json.room;

  const [ta, tb] = await Promise.all([
    issue({ room: 'standup', identity: 'alice', display_name: 'Alice' }),
    issue({ room: 'standup', identity: 'bob' }),
  ]);
  const alice = await join(ta);
  const bob = await join(tb);
  const bobHearsAlice = nextEvent(bob, rtc.RoomEvent.TrackSubscribed, (_t, _p, who) => who.identity === 'alice');
  await publishTone(alice);
  await bobHearsAlice;

  // In: the events arrive as the server sends them, for project A.
  const live = await until(
    () => events(a.key, room),
    (items) => ['room.started', 'track.published'].every((t) => items.some((e) => e.type === t))
      && items.filter((e) => e.type === 'participant.joined').length === 2,
    'room.started, two joins and the published track in the event list',
  );
  const published = live.find((e) => e.type === 'track.published');
  assert.equal(published.identity, 'alice');
  assert.equal(published.data.track.source, 'MICROPHONE');
  assert.equal(published.data.track.type, 'AUDIO');

  // participant.list: the server's own join times.
  const server = new Map((await rooms.listParticipants(room)).map((p) => [p.identity, p]));
  const listed = await api(w, 'GET', `/v1/rtc/participant/list/${room}`, { key: a.key });
  assert.equal(listed.status, 200, listed.text);
  assert.deepEqual(listed.json.items.map((p) => p.identity).sort(), ['alice', 'bob']);
  for (const p of listed.json.items) {
    assert.match(p.joined_at, RFC3339_UTC);
    assert.equal(p.joined_at, new Date(Number(server.get(p.identity).joinedAt) * 1000).toISOString().replace('.000Z', 'Z'));
  }

  // Out: both leave; the server closes the empty room.
  const leftFrom = Date.now();
  await Promise.all([alice.disconnect(), bob.disconnect()]);
  clients.clear();
  const all = await until(
    () => events(a.key, room),
    (items) => items.some((e) => e.type === 'room.finished') && items.filter((e) => e.type === 'participant.left').length === 2,
    'both leaves and room.finished in the event list',
  );
  const leftBy = Date.now();
  const types = all.map((e) => e.type);
  for (const t of ['room.started', 'participant.joined', 'track.published', 'participant.left', 'room.finished']) {
    assert.ok(types.includes(t), `${t} is listed: ${types}`);
  }
  for (const e of all) {
    assert.equal(e.vendor, 'livekit');
    assert.equal(e.room, room);
    assert.equal(e.vendor_room, room);
  }
  assert.deepEqual(
    all.filter((e) => e.type.startsWith('participant.')).map((e) => `${e.type} ${e.identity}`).sort(),
    ['participant.joined alice', 'participant.joined bob', 'participant.left alice', 'participant.left bob'],
  );
  assert.equal(new Set(all.map((e) => e.seq)).size, all.length, 'each event has its own seq');
  assert.deepEqual(await events(b.key), [], "B sees none of A's events");

  // Every event the server sent about this room is listed once (the tap saw them all).
  const sent = (await sentByServer()).filter((s) => s.event.room?.name === room);
  const normalized = new Set(['room_started', 'room_finished', 'participant_joined', 'participant_left', 'track_published', 'track_unpublished']);
  const expected = sent.filter((s) => normalized.has(s.event.event));
  assert.equal(all.length, expected.length, `listed ${types}; sent ${sent.map((s) => s.event.event)}`);

  // Deliveries: each listed event reached A's receiver, verified with the official library.
  const delivered = await until(
    () => receiver.calls.filter((c) => c.path === '/ok/a'),
    (c) => c.length >= all.length,
    'every event delivered to project A',
  );
  const verifier = new Webhook(hookA.json.secret);
  const payloads = delivered.map((c) => {
    const p = verifier.verify(c.body, c.headers);
    assert.equal(p.event, c.headers['webhook-id']);
    assert.throws(() => new Webhook(hookB.json.secret).verify(c.body, c.headers), "B's secret does not verify A's events");
    return p;
  });
  assert.deepEqual(payloads.map((p) => p.event).sort(), all.map((e) => e.event).sort());
  assert.equal(receiver.calls.filter((c) => c.path === '/ok/b').length, 0, 'nothing was delivered to B');

  // Usage: one session per client, from the server's join time (joinedAtMs, milliseconds) to its
  // leave event (createdAt, whole seconds, stamped after the leave). A leave stamped in the second
  // of the join lies between the join and the end of that second.
  const joinedMs = new Map(
    sent.filter((s) => s.event.event === 'participant_joined')
      .map((s) => [s.event.participant.identity, Number(s.event.participant.joinedAtMs)]),
  );
  const stampedMs = new Map(
    sent.filter((s) => s.event.event === 'participant_left')
      .map((s) => [s.event.participant.identity, Number(s.event.createdAt) * 1000]),
  );
  let seconds = 0;
  let minutes = 0;
  for (const who of ['alice', 'bob']) {
    const joined = joinedMs.get(who);
    const stamped = stampedMs.get(who);
    assert.equal(joined, Number(server.get(who).joinedAtMs), `${who}: the join time the server reports`);
    // The stamp's second holds a moment between the disconnect and the event's arrival.
    assert.ok(stamped + 999 >= leftFrom && stamped <= leftBy, `${who}: left stamped at ${stamped}`);
    const left = stamped >= joined ? stamped : stamped + 999;
    const s = Math.ceil((left - joined) / 1000);
    // Consistent with the real times: at least a started second, at most until the leave was seen.
    assert.ok(s >= 1 && s <= Math.ceil((leftBy - joined) / 1000), `${who}: ${s} s`);
    seconds += s;
    minutes += Math.ceil(s / 60);
  }
  const usage = await api(w, 'GET', '/v1/rtc/usage', { key: a.key });
  assert.equal(usage.status, 200, usage.text);
  assert.deepEqual(usage.json.totals, { sessions: 2, participant_seconds: seconds, participant_minutes: minutes });
  const usageB = await api(w, 'GET', '/v1/rtc/usage', { key: b.key });
  assert.deepEqual(usageB.json.totals, { sessions: 0, participant_seconds: 0, participant_minutes: 0 });
});
