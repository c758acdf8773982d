// Server → room messages and timed sessions against the vendor's own LiveKit server (run on
// loopback by livekit_server.mjs) with real LiveKit clients (@livekit/rtc-node) joining on
// tokens rtcgate minted, through the real Worker under `wrangler dev`, whose local queue holds a
// delayed message until its delay has passed:
//
// - room.message: a SendData message arrives at the client with its bytes and its topic, from no
//   participant (the server); one addressed to someone else does not arrive;
// - a timed session (`max_session_s`) ends on time: the client is disconnected by the server
//   within a stated margin after its deadline, and `participant.ejected` is listed;
// - on ZEGO, through the strict stand-in: SendCustomCommand from the reserved sender with its
//   limits and codes translated, and a timed session ended by KickoutUser.
//
// Run: node --test --test-concurrency=1 tests/e2e/moderation_sessions.test.mjs   (after
// `make setup` and `bash scripts/build.sh`)

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startWorker, api, adminSetup, randomToken } from './support/harness.mjs';
import { startVendorStandins, vendorVars, assertNoViolations } from './support/fixtures.mjs';
import { startLiveKitServer } from './support/livekit_server.mjs';
import { rtc, nextEvent, until, joinWith } from './support/livekit_clients.mjs';

const ADMIN = randomToken();
// How late after its deadline a timed session may end: the queue delay is whole seconds rounded
// up (< 1 s), the local queue's consumer batches for up to `max_batch_timeout` (1 s, wrangler.toml),
// then one RemoveParticipant and the server's disconnect reach the client.
const EJECT_MARGIN_MS = 4_000;

let lk;
let standins;
let w;
let key;
const clients = new Set();

async function issue(body) {
  const r = await api(w, 'POST', '/v1/rtc/token/issue', { key, body });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.vendor, 'livekit');
  return r.json;
}

before(async () => {
  lk = await startLiveKitServer();
  standins = await startVendorStandins();
  w = await startWorker({
    name: 'moderation-sessions',
    vars: { ADMIN_TOKEN: ADMIN, RTC_VENDOR_ORDER: 'livekit,zego', ...vendorVars({ zego: standins.zego }), ...lk.vars, VENDOR_TIMEOUT_MS: 5000 },
  });
  ({ key } = await adminSetup(w));
});

after(async () => {
  await Promise.allSettled([...clients].map((c) => c.disconnect()));
  await rtc.dispose();
  await w?.stop();
  await lk?.stop();
  await standins?.close();
});

describe('room messages and timed sessions with a real LiveKit server', () => {
  test('room.message: SendData reaches the client with its bytes and topic, and only its recipients', async () => {
    const alice = await joinWith(clients, await issue({ room: 'messages', identity: 'alice' }));
    const bob = await joinWith(clients, await issue({ room: 'messages', identity: 'bob' }));
    const bobGot = [];
    bob.on(rtc.RoomEvent.DataReceived, (payload, _participant, _kind, topic) => bobGot.push([Buffer.from(payload).toString(), topic]));

    const arrival = nextEvent(alice, rtc.RoomEvent.DataReceived, (_payload, _p, _kind, topic) => topic === 'quiz');
    const sent = await api(w, 'POST', '/v1/rtc/room/message/messages', {
      key,
      body: { data: 'question 1: ready?', to: ['alice'], topic: 'quiz' },
    });
    assert.equal(sent.status, 202, sent.text);
    assert.deepEqual(sent.json, { ok: true });
    const [payload, participant, , topic] = await arrival;
    assert.equal(Buffer.from(payload).toString(), 'question 1: ready?');
    assert.equal(topic, 'quiz');
    assert.equal(participant, undefined, 'sent by the server, not a participant');

    // Binary data (base64) to everyone: bob gets this one, and never got alice's.
    const toBob = nextEvent(bob, rtc.RoomEvent.DataReceived);
    const all = await api(w, 'POST', '/v1/rtc/room/message/messages', { key, body: { data: 'AP8B', encoding: 'base64' } });
    assert.equal(all.status, 202, all.text);
    const [bytes, , , noTopic] = await toBob;
    assert.deepEqual([...bytes], [0, 255, 1]);
    assert.ok(!noTopic, `no topic was sent: ${noTopic}`);
    assert.deepEqual(bobGot.filter(([, t]) => t === 'quiz'), [], 'a message to alice is not delivered to bob');

    const tooLarge = await api(w, 'POST', '/v1/rtc/room/message/messages', { key, body: { data: 'x'.repeat(1025) } });
    assert.equal(tooLarge.status, 413, tooLarge.text);
    assert.equal(tooLarge.json.error.code, 'MESSAGE_TOO_LARGE');
  });

  test('a timed session ends on time: the client is disconnected after its deadline and participant.ejected is listed', async () => {
    const sessionS = 5;
    const asked = Date.now();
    const issued = await issue({ room: 'timed', identity: 'carol', max_session_s: sessionS });
    const answered = Date.now();
    // The deadline is set between the request and its answer; the token is cut to it.
    const [earliest, latest] = [asked + sessionS * 1000, answered + sessionS * 1000];
    assert.ok(Date.parse(issued.expires_at) <= latest, `the token outlives the session: ${issued.expires_at}`);
    const carol = await joinWith(clients, issued);
    // A participant without a deadline stays.
    const dave = await joinWith(clients, await issue({ room: 'timed', identity: 'dave' }));
    const disconnected = nextEvent(carol, rtc.RoomEvent.Disconnected).then(() => Date.now());
    const at = await disconnected;
    assert.ok(at >= earliest, `disconnected ${earliest - at} ms before the deadline`);
    assert.ok(at <= latest + EJECT_MARGIN_MS, `disconnected ${at - latest} ms after the deadline (margin ${EJECT_MARGIN_MS} ms)`);
    assert.ok(dave.isConnected, 'the participant without a deadline is still connected');

    const listed = await until(
      async () => (await api(w, 'GET', '/v1/rtc/event/list?room=timed&type=participant.ejected', { key })).json.items,
      (items) => items.length === 1,
      'participant.ejected in the event list',
    );
    assert.equal(listed[0].identity, 'carol');
    assert.equal(listed[0].vendor, 'livekit');
    assert.equal(listed[0].data.reason, 'session_ended');
  });

  test('zego: a custom command from the reserved sender, its codes translated, and a timed session ended by KickoutUser', async () => {
    const zego = standins.zego;
    const room = (await api(w, 'POST', '/v1/rtc/room/create', { key, body: { name: 'zego-room', vendor: 'zego' } })).json.room;
    zego.seedUser(room, { UserId: 'alice' });
    zego.seedUser(room, { UserId: 'bob' });
    const path = `/v1/rtc/room/message/${room}`;
    const sent = await api(w, 'POST', path, { key, body: { data: 'hello & welcome', to: ['alice'] } });
    assert.equal(sent.status, 202, sent.text);
    assert.deepEqual(
      zego.customCommands.map(({ FromUserId, ToUserId, MessageContent, receivers }) => ({ FromUserId, ToUserId, MessageContent, receivers })),
      [{ FromUserId: 'rtcgate.server', ToUserId: ['alice'], MessageContent: 'hello & welcome', receivers: ['alice'] }],
    );
    const offline = await api(w, 'POST', path, { key, body: { data: 'x', to: ['ghost'] } });
    assert.equal(offline.status, 404, offline.text);
    assert.equal(offline.json.error.code, 'PARTICIPANT_NOT_FOUND');
    const topic = await api(w, 'POST', path, { key, body: { data: 'x', topic: 'quiz' } });
    assert.equal(topic.status, 422, topic.text);
    assert.equal(topic.json.error.field, 'topic');
    const empty = await api(w, 'POST', '/v1/rtc/room/message/zego-empty', { key, body: { data: 'x' } });
    assert.equal(empty.status, 404, empty.text); // no such room of ours

    const asked = Date.now();
    const timed = await api(w, 'POST', '/v1/rtc/token/issue', { key, body: { room, identity: 'bob', max_session_s: 3 } });
    assert.equal(timed.status, 200, timed.text);
    const kick = await until(async () => zego.kicked.find((k) => k.UserId === 'bob'), Boolean, 'KickoutUser of bob');
    assert.ok(kick.at >= asked + 3000, `kicked ${asked + 3000 - kick.at} ms before the deadline`);
    assert.ok(kick.at <= Date.now(), 'kicked');
    assert.deepEqual(zego.usersIn(room), ['alice']);
    const listed = await until(
      async () => (await api(w, 'GET', `/v1/rtc/event/list?room=${room}&type=participant.ejected`, { key })).json.items,
      (items) => items.length === 1,
      'participant.ejected on zego',
    );
    assert.equal(listed[0].identity, 'bob');
    assertNoViolations(standins);
  });
});
