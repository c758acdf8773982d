// rtcgate against the vendor's own LiveKit server (livekit-server built from source by
// scripts/setup.sh, run on loopback by livekit_server.mjs), with real LiveKit clients
// (@livekit/rtc-node, WebRTC inside) joining on tokens rtcgate minted:
//
// - room.create → the server itself (livekit-server-sdk RoomServiceClient, not rtcgate) has the
//   room with its max_participants, empty_timeout and metadata;
// - two clients join, publish a generated tone and hear each other; room.get and
//   participant.list report what the server knows;
// - the server enforces the grants rtcgate put in its tokens: can_publish:false, the room, the
//   participant cap, the expiry;
// - kick and delete disconnect exactly the clients they should;
// - recording.start on this server, which has no egress service, ends in one of our codes with
//   no recording left claiming to run;
// - the LiveKit stand-in answers each server-API call as this server does (status, Twirp code
//   and message, field names), so the suites that rely on the stand-in test the real thing;
// - the server's own token verifier, github.com/livekit/protocol/auth (a small Go program,
//   tests/refs/go, built here with the machine's Go), accepts rtcgate's tokens with their grants.
//
// Run: node --test --test-concurrency=1 tests/e2e/livekit_real.test.mjs   (after `make setup` and
// `bash scripts/build.sh`)

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { AccessToken, RoomServiceClient } from 'livekit-server-sdk';

import { ROOT, startWorker, api, adminSetup, randomToken } from './support/harness.mjs';
import { startLiveKitServer } from './support/livekit_server.mjs';
import { jsonOrUndefined } from './support/json.mjs';
import { startLiveKit } from './support/standins/index.mjs';
import { rtc, nextEvent, until, publishTone, firstAudibleFrame, joinWith } from './support/livekit_clients.mjs';

const ADMIN = randomToken();
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
// The server's token verifier accepts a token up to a minute past its exp (livekit/protocol
// auth/verifier.go tokenLeeway).
const SERVER_LEEWAY_MS = 60_000;

let lk; // the real server
let rooms; // its RoomServiceClient
let w; // the Worker, pointed at it
let key;
const clients = new Set();
let expiredJoin; // the expired-token attempt, running in the background from before()

// ---------------------------------------------------------------------------------------------
// helpers

async function createRoom(body) {
  const r = await api(w, 'POST', '/v1/rtc/room/create', { key, body });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

async function issue(body) {
  const r = await api(w, 'POST', '/v1/rtc/token/issue', { key, body });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.vendor, 'livekit');
  assert.equal(r.json.join.url, lk.wsUrl, 'clients are sent to the configured server');
  return r.json;
}

const join = (issued) => joinWith(clients, issued);

async function leave(room) {
  clients.delete(room);
  if (room.isConnected) await room.disconnect();
}

/** The server's own view of a room (undefined when it has none). */
async function serverRoom(name) {
  return (await rooms.listRooms([name]))[0];
}

/** What each client reports about its connection from now on: `{who: {client, events}}`. */
function watchConnection(present) {
  const seen = {};
  for (const [who, client] of Object.entries(present)) {
    const events = [];
    for (const event of [rtc.RoomEvent.Reconnecting, rtc.RoomEvent.Reconnected, rtc.RoomEvent.Disconnected]) {
      client.on(event, (...args) => events.push([event, ...args.filter((a) => typeof a !== 'object')]));
    }
    seen[who] = { client, events };
  }
  return seen;
}

/**
 * `waiting`, or when it fails, the same failure with what is needed to tell a client that missed
 * an event from a server that did not send it: each client's connection events and state, the
 * server's view of the room, and the end of the server's log.
 */
async function explainMiss(waiting, roomName, seen) {
  try {
    return await waiting;
  } catch (e) {
    const clientsSaw = Object.entries(seen).map(([who, { client, events }]) => `${who}: connected=${client.isConnected} events=${JSON.stringify(events)}`);
    const room = await serverRoom(roomName).catch((err) => `unreadable: ${err.message}`);
    const people = await rooms.listParticipants(roomName).then((ps) => ps.map((p) => p.identity), (err) => `unreadable: ${err.message}`);
    const logTail = lk.logs().split('\n').slice(-60).join('\n');
    e.message += `\n${clientsSaw.join('\n')}\nserver room: ${JSON.stringify(room, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}\nserver participants: ${JSON.stringify(people)}\nserver log (end):\n${logTail}`;
    throw e;
  }
}

function tamperRoom(token, room) {
  const [header, payload, signature] = token.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url'));
  claims.video.room = room;
  return [header, Buffer.from(JSON.stringify(claims)).toString('base64url'), signature].join('.');
}

// ---------------------------------------------------------------------------------------------

before(async () => {
  lk = await startLiveKitServer();
  rooms = new RoomServiceClient(lk.url, lk.apiKey, lk.apiSecret);
  w = await startWorker({
    name: 'livekit-real',
    vars: {
      ADMIN_TOKEN: ADMIN,
      RTC_VENDOR_ORDER: 'livekit',
      ...lk.vars,
      VENDOR_TIMEOUT_MS: 5000,
      RECORDING_S3_ACCESS_KEY: 'AKIAREALSERVERTEST',
      RECORDING_S3_SECRET: 'real-server-test-secret',
      RECORDING_S3_REGION: 'us-east-1',
      RECORDING_DEFAULT_URI: 's3://recordings/rtc/',
    },
  });
  ({ key } = await adminSetup(w));

  // The shortest token rtcgate mints (60 s) is refused once the server's leeway has passed too.
  // The wait runs while the other tests do; the last test awaits the outcome.
  const late = await issue({ room: 'expiry', identity: 'late', ttl_s: 60 });
  const refusedFrom = Date.parse(late.expires_at) + SERVER_LEEWAY_MS + 1000;
  expiredJoin = (async () => {
    await new Promise((r) => setTimeout(r, Math.max(0, refusedFrom - Date.now())));
    const room = new rtc.Room();
    try {
      await room.connect(late.join.url, late.token, { autoSubscribe: false });
      clients.add(room);
      return { joined: true };
    } catch (e) {
      return { joined: false, error: e };
    }
  })();
});

after(async () => {
  await Promise.allSettled([...clients].map((c) => c.disconnect()));
  await rtc.dispose();
  await w?.stop();
  await lk?.stop();
});

describe('rtcgate with a real LiveKit server and real clients', () => {
  let standup; // room: alice and bob
  let alice;
  let bob;

  test('room.create: the server itself has the room with its cap, empty timeout and metadata', async () => {
    standup = await createRoom({ name: 'standup', max_participants: 3, empty_timeout_s: 120, metadata: { topic: 'daily' } });
    assert.equal(standup.vendor, 'livekit');
    const room = await serverRoom(standup.room);
    assert.ok(room, 'the server has a room named by the room id');
    assert.equal(room.maxParticipants, 3);
    assert.equal(room.emptyTimeout, 120);
    assert.deepEqual(JSON.parse(room.metadata), { topic: 'daily' });
  });

  test('two clients join on rtcgate tokens, publish a tone and hear each other', async () => {
    const [ta, tb] = await Promise.all([
      issue({ room: standup.room, identity: 'alice', display_name: 'Alice' }),
      issue({ room: 'standup', identity: 'bob', display_name: 'Bob' }),
    ]);
    alice = await join(ta);
    bob = await join(tb);
    assert.equal(alice.name, standup.room);
    assert.equal(bob.name, standup.room);

    const aliceHearsBob = nextEvent(alice, rtc.RoomEvent.TrackSubscribed, (_t, _p, who) => who.identity === 'bob');
    const bobHearsAlice = nextEvent(bob, rtc.RoomEvent.TrackSubscribed, (_t, _p, who) => who.identity === 'alice');
    await Promise.all([publishTone(alice), publishTone(bob)]);
    const [[trackFromBob], [trackFromAlice]] = await Promise.all([aliceHearsBob, bobHearsAlice]);
    await Promise.all([firstAudibleFrame(trackFromBob), firstAudibleFrame(trackFromAlice)]);
    assert.deepEqual([...alice.remoteParticipants.keys()], ['bob']);
    assert.deepEqual([...bob.remoteParticipants.keys()], ['alice']);
    assert.equal(alice.remoteParticipants.get('bob').name, 'Bob');
    assert.equal(bob.remoteParticipants.get('alice').name, 'Alice');

    const got = await until(
      async () => (await api(w, 'GET', `/v1/rtc/room/get/${standup.room}`, { key })).json,
      (j) => j?.num_participants === 2,
      'room.get num_participants',
    );
    assert.equal(got.live, true);

    const list = await api(w, 'GET', `/v1/rtc/participant/list/${standup.room}`, { key });
    assert.equal(list.status, 200, list.text);
    const items = [...list.json.items].sort((a, b) => a.identity.localeCompare(b.identity));
    assert.deepEqual(items.map((p) => [p.identity, p.display_name]), [['alice', 'Alice'], ['bob', 'Bob']]);
    const server = new Map((await rooms.listParticipants(standup.room)).map((p) => [p.identity, p]));
    for (const p of items) {
      assert.match(p.joined_at, RFC3339_UTC);
      const joinedS = Number(server.get(p.identity).joinedAt);
      assert.equal(p.joined_at, new Date(joinedS * 1000).toISOString().replace('.000Z', 'Z'), p.identity);
      assert.equal(server.get(p.identity).tracks.length, 1, `${p.identity} publishes one track`);
    }
  });

  test('can_publish:false: the server lets the client in but not its track', async () => {
    const viewer = await join(await issue({ room: standup.room, identity: 'viewer', can_publish: false }));
    const info = await rooms.getParticipant(standup.room, 'viewer');
    assert.equal(info.permission.canPublish, false);
    assert.equal(info.permission.canSubscribe, true);
    const source = new rtc.AudioSource(48_000, 1);
    const track = rtc.LocalAudioTrack.createAudioTrack('forbidden', source);
    await assert.rejects(
      viewer.localParticipant.publishTrack(track, new rtc.TrackPublishOptions({ source: rtc.TrackSource.SOURCE_MICROPHONE })),
    );
    assert.equal((await rooms.getParticipant(standup.room, 'viewer')).tracks.length, 0);
    await leave(viewer);
  });

  test("a token for one room does not open another", async () => {
    const other = await createRoom({ name: 'other' });
    const forStandup = await issue({ room: standup.room, identity: 'carol' });
    // The room is inside the signed claims: naming another room breaks the signature.
    const retargeted = new rtc.Room();
    await assert.rejects(
      retargeted.connect(lk.wsUrl, tamperRoom(forStandup.token, other.room), { autoSubscribe: false }),
      /401|invalid token|signature/i,
    );
    assert.deepEqual(await rooms.listParticipants(other.room), []);
    // Untouched, it joins the room it names and nothing else.
    const carol = await join(forStandup);
    assert.equal(carol.name, standup.room);
    assert.deepEqual(await rooms.listParticipants(other.room), []);
    await leave(carol);
  });

  test('max_participants is enforced by the server', async () => {
    const small = await createRoom({ name: 'small', max_participants: 2 });
    const first = await join(await issue({ room: small.room, identity: 'p1' }));
    const second = await join(await issue({ room: small.room, identity: 'p2' }));
    const third = new rtc.Room();
    const t3 = await issue({ room: small.room, identity: 'p3' });
    await assert.rejects(third.connect(t3.join.url, t3.token, { autoSubscribe: false }));
    const present = (await rooms.listParticipants(small.room)).map((p) => p.identity).sort();
    assert.deepEqual(present, ['p1', 'p2']);
    await Promise.all([leave(first), leave(second)]);
  });

  test('kick: the kicked client is disconnected, the other stays; an absent identity is 404', async () => {
    const bobGone = nextEvent(bob, rtc.RoomEvent.Disconnected);
    const aliceSeesIt = nextEvent(alice, rtc.RoomEvent.ParticipantDisconnected, (p) => p.identity === 'bob');
    const r = await api(w, 'POST', `/v1/rtc/participant/kick/${standup.room}`, { key, body: { identity: 'bob' } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { ok: true });
    const [[reason]] = await Promise.all([bobGone, aliceSeesIt]);
    assert.equal(reason, rtc.DisconnectReason.PARTICIPANT_REMOVED);
    clients.delete(bob);
    assert.equal(alice.isConnected, true);
    assert.deepEqual((await rooms.listParticipants(standup.room)).map((p) => p.identity), ['alice']);

    const absent = await api(w, 'POST', `/v1/rtc/participant/kick/${standup.room}`, { key, body: { identity: 'ghost' } });
    assert.equal(absent.status, 404, absent.text);
    assert.equal(absent.json.error.code, 'PARTICIPANT_NOT_FOUND');
  });

  test('recording.start on a server without egress: one of our codes, and no recording left running', async () => {
    const r = await api(w, 'POST', '/v1/rtc/recording/start', {
      key,
      // No output_uri: the project's own folder of the shared storage.
      body: { room: standup.room, audio_only: true },
    });
    assert.equal(r.status, 502, r.text);
    assert.equal(r.json.error.code, 'VENDOR_REJECTED');
    assert.equal(r.json.error.vendor, 'livekit');
    assert.equal(r.json.error.vendor_code, 'egress_not_connected');
    assert.ok(!/redis|egress not connected/i.test(r.text), 'the vendor\'s words stay in the logs');
    const listed = await api(w, 'GET', `/v1/rtc/recording/list?room=${standup.room}`, { key });
    assert.equal(listed.status, 200, listed.text);
    assert.deepEqual(listed.json.items, []);
  });

  test('delete: every client is disconnected and the server has no room', async () => {
    const t1 = await issue({ room: standup.room, identity: 'dave' });
    const dave = await join(t1);
    const present = { alice, dave };
    for (const [who, c] of Object.entries(present)) assert.equal(c.isConnected, true, `${who} is connected before the delete`);
    const seen = watchConnection(present);
    const gone = Object.entries(present).map(([who, c]) =>
      nextEvent(c, rtc.RoomEvent.Disconnected).catch((e) => {
        e.message = `${who}: ${e.message}`;
        throw e;
      }));
    const r = await api(w, 'DELETE', `/v1/rtc/room/delete/${standup.room}`, { key });
    assert.equal(r.status, 200, r.text);
    const reasons = (await explainMiss(Promise.all(gone), standup.room, seen)).map(([reason]) => reason);
    assert.deepEqual(reasons, [rtc.DisconnectReason.ROOM_DELETED, rtc.DisconnectReason.ROOM_DELETED]);
    clients.delete(alice);
    clients.delete(dave);
    assert.equal(await serverRoom(standup.room), undefined);
    assert.equal((await api(w, 'GET', `/v1/rtc/room/get/${standup.room}`, { key })).status, 404);
  });
});

describe('the LiveKit stand-in answers as the real server does', () => {
  let standin;
  before(async () => {
    standin = await startLiveKit({ apiKey: lk.apiKey, apiSecret: lk.apiSecret, egress: false });
  });
  after(async () => standin?.close());

  async function twirp(base, service, method, body, grant) {
    const at = new AccessToken(lk.apiKey, lk.apiSecret, { ttl: 600 });
    at.addGrant(grant);
    const res = await fetch(`${base}/twirp/livekit.${service}/${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await at.toJwt()}` },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    const json = jsonOrUndefined(text);
    return { status: res.status, json, text };
  }

  /** What must agree: status, Twirp code and message, and the names of the answer's fields. */
  function shape({ status, json, text }) {
    if (json === undefined) return { status, text };
    if ('code' in json && 'msg' in json) return { status, code: json.code, msg: json.msg };
    // Field names and JSON types all the way down (a list by its first element).
    const kind = (v) => {
      if (v === null) return 'null';
      if (Array.isArray(v)) return v.length ? [kind(v[0])] : [];
      if (typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, kind(v[k])]));
      return typeof v;
    };
    return { status, body: kind(json) };
  }

  // The real server's room answer carries fields the stand-in's protocol package may not know yet.
  const name = `parity-${Date.now()}`;
  const cases = [
    ['RoomService', 'CreateRoom', { name, max_participants: 4, empty_timeout: 90, metadata: '{"a":1}' }, { roomCreate: true }],
    ['RoomService', 'ListRooms', { names: [name] }, { roomList: true }],
    ['RoomService', 'ListRooms', { names: ['no-such-room'] }, { roomList: true }],
    ['RoomService', 'ListParticipants', { room: name }, { roomAdmin: true, room: name }],
    ['RoomService', 'ListParticipants', { room: 'no-such-room' }, { roomAdmin: true, room: 'no-such-room' }],
    ['RoomService', 'ListParticipants', { room: name }, { roomAdmin: true, room: 'another-room' }],
    ['RoomService', 'RemoveParticipant', { room: name, identity: 'ghost' }, { roomAdmin: true, room: name }],
    ['RoomService', 'RemoveParticipant', { room: 'no-such-room', identity: 'ghost' }, { roomAdmin: true, room: 'no-such-room' }],
    ['RoomService', 'DeleteRoom', { room: 'no-such-room' }, { roomCreate: true }],
    ['RoomService', 'DeleteRoom', { room: name }, { roomList: true }],
    ['Egress', 'StartRoomCompositeEgress', { room_name: 'no-such-room', file_outputs: [{ file_type: 'MP4', filepath: 'x.mp4', s3: { bucket: 'b' } }] }, { roomRecord: true }],
    ['Egress', 'ListEgress', { room_name: name }, { roomRecord: true }],
    ['Egress', 'ListEgress', { egress_id: 'EG_none' }, { roomRecord: true }],
    ['Egress', 'StopEgress', { egress_id: 'EG_none' }, { roomRecord: true }],
    ['RoomService', 'DeleteRoom', { room: name }, { roomCreate: true }],
    ['RoomService', 'ListRooms', { names: [name] }, { roomList: true }],
  ];

  test('call for call: status, Twirp code and message, field names', async () => {
    const differences = [];
    for (const [service, method, body, grant] of cases) {
      const real = shape(await twirp(lk.url, service, method, body, grant));
      const fake = shape(await twirp(standin.url, service, method, body, grant));
      try {
        assert.deepEqual(fake, real);
      } catch {
        differences.push(`${service}.${method} ${JSON.stringify(body)}\n  real:     ${JSON.stringify(real)}\n  stand-in: ${JSON.stringify(fake)}`);
      }
    }
    assert.equal(differences.length, 0, `the stand-in differs from the real server:\n${differences.join('\n')}`);
  });

  test('a token the server refuses is refused by the stand-in the same way', async () => {
    const at = new AccessToken(lk.apiKey, 'not-the-secret-of-this-server-0123456789', { ttl: 600 });
    at.addGrant({ roomList: true });
    const token = await at.toJwt();
    const ask = (base) =>
      fetch(`${base}/twirp/livekit.RoomService/ListRooms`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: '{}',
      });
    const [real, fake] = await Promise.all([ask(lk.url), ask(standin.url)]);
    assert.equal(real.status, 401);
    assert.equal(fake.status, real.status);
    assert.match(real.headers.get('content-type') ?? '', /text\/plain/);
    assert.match(fake.headers.get('content-type') ?? '', /text\/plain/);
    await Promise.all([real.text(), fake.text()]);
  });
});

// ---------------------------------------------------------------------------------------------
// the server's own verifier

/** Go from PATH, else its default install location (as scripts/tools.sh finds it). */
function goBin() {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && fs.existsSync(path.join(dir, 'go'))) return path.join(dir, 'go');
  }
  if (fs.existsSync('/usr/local/go/bin/go')) return '/usr/local/go/bin/go';
  throw new Error('Go is not installed (see docs/testing.md: Go 1.26 or newer)');
}

/** Runs the verifier on [{token, secret}] and returns its answers. */
function lkverify(bin, requests) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`lkverify exited ${code}: ${err}`));
      resolve(out.trim().split('\n').map((line) => JSON.parse(line)));
    });
    child.stdin.end(requests.map((r) => JSON.stringify(r)).join('\n') + '\n');
  });
}

describe("LiveKit's own verifier (github.com/livekit/protocol/auth) accepts rtcgate's tokens", () => {
  let bin;
  let dir;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtcgate-refs-go-'));
    bin = path.join(dir, 'lkverify');
    // -mod=readonly: go.sum pins every module; GOTOOLCHAIN=local: no other toolchain is fetched.
    await promisify(execFile)(goBin(), ['build', '-mod=readonly', '-o', bin, '.'], {
      cwd: path.join(ROOT, 'tests', 'refs', 'go'),
      env: { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '' },
      timeout: 540_000,
    });
  });
  after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

  test('every grant as rtcgate wrote it, and a wrong secret is refused', async () => {
    const full = await issue({
      room: 'verified',
      identity: 'ana@example.com',
      display_name: 'Ana Ünal',
      metadata: { team: 'blue' },
      ttl_s: 900,
      can_publish: false,
      can_subscribe: true,
      can_publish_data: false,
      is_admin: true,
    });
    const plain = await issue({ room: 'verified', identity: 'ben' });
    const [a, b, wrong] = await lkverify(bin, [
      { token: full.token, secret: lk.apiSecret },
      { token: plain.token, secret: lk.apiSecret },
      { token: plain.token, secret: `${lk.apiSecret}x` },
    ]);

    assert.equal(a.ok, true, a.error);
    assert.equal(a.api_key, lk.apiKey);
    assert.equal(a.expires - a.not_before, 900);
    assert.equal(a.expires * 1000, Date.parse(full.expires_at));
    assert.equal(a.grants.identity, 'ana@example.com');
    assert.equal(a.grants.name, 'Ana Ünal');
    assert.deepEqual(JSON.parse(a.grants.metadata), { team: 'blue' });
    assert.deepEqual(a.grants.video, {
      roomJoin: true,
      room: full.room,
      canPublish: false,
      canSubscribe: true,
      canPublishData: false,
      roomAdmin: true,
    });

    assert.equal(b.ok, true, b.error);
    assert.equal(b.grants.identity, 'ben');
    assert.equal(b.grants.video.room, plain.room);
    assert.equal(b.grants.video.roomJoin, true);
    assert.equal(b.grants.video.canPublish, true);
    assert.equal(b.grants.video.roomAdmin, undefined);
    assert.equal(b.expires - b.not_before, 3600);

    assert.equal(wrong.ok, false);
    assert.match(wrong.error, /signature/);
  });
});

// Last, so the wait for the token to expire overlaps everything above.
describe('expiry', () => {
  test('an expired rtcgate token is refused by the server', async () => {
    const outcome = await expiredJoin;
    assert.equal(outcome.joined, false, 'the expired token was accepted');
    assert.match(String(outcome.error?.message), /401|expired|invalid token/i);
  });
});
