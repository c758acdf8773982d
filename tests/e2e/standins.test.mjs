// Self-test of the vendor stand-ins (tests/e2e/support/standins/*). Run: node --test tests/e2e/standins.test.mjs
//
// Each stand-in must accept what the vendor accepts (LiveKit requests are produced by the official
// livekit-server-sdk clients and AccessToken), reject each kind of bad request the way the vendor
// would while recording it as a violation, apply faults, and move its state correctly.

import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import {
  AccessToken,
  EgressClient,
  EncodedFileOutput,
  EncodedFileType,
  RoomServiceClient,
  S3Upload,
} from 'livekit-server-sdk';
import { startAll, startLiveKit, startAgora, startZego, zegoSignature, zegoSignedQuery } from './support/standins/index.mjs';
import { jsonOrUndefined } from './support/json.mjs';

const LK = { apiKey: 'APIstandinKey', apiSecret: 'standin-secret-0123456789abcdef0123456789' };
const AG = { appId: '0123456789abcdef0123456789abcdef', customerId: 'cust-id', customerSecret: 'cust-secret' };
const ZG = { appId: 12345, serverSecret: '9193cc662a4c0ec135ec71fb57194b38' };

// ---------------------------------------------------------------------------------------------
// helpers

async function lkToken(grant, { key = LK.apiKey, secret = LK.apiSecret, ttl = '10m', identity } = {}) {
  const at = new AccessToken(key, secret, { ttl, identity });
  at.addGrant(grant);
  return at.toJwt();
}

// Hand-rolled JWT for the cases the SDK refuses to produce (no exp, expired, other alg).
function signJwt(payload, { alg = 'HS256', secret = LK.apiSecret } = {}) {
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${enc({ alg, typ: 'JWT' })}.${enc(payload)}`;
  const h = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[alg];
  const sig = crypto.createHmac(h, secret).update(head).digest('base64url');
  return `${head}.${sig}`;
}

async function twirp(handle, svcMethod, body, { token, contentType = 'application/json', method = 'POST', raw } = {}) {
  const headers = {};
  if (contentType) headers['content-type'] = contentType;
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${handle.url}/twirp/livekit.${svcMethod}`, {
    method,
    headers,
    body: method === 'GET' ? undefined : (raw ?? JSON.stringify(body ?? {})),
  });
  const text = await res.text();
  const json = jsonOrUndefined(text);
  return { status: res.status, contentType: res.headers.get('content-type'), text, json };
}

async function http(url, { method = 'GET', headers = {}, body, signal } = {}) {
  const res = await fetch(url, { method, headers, body: typeof body === 'string' || body === undefined ? body : JSON.stringify(body), signal });
  const text = await res.text();
  const json = jsonOrUndefined(text);
  return { status: res.status, contentType: res.headers.get('content-type'), text, json };
}

const lastCall = (h) => h.calls[h.calls.length - 1];

function assertViolation(h, re) {
  const c = lastCall(h);
  assert.equal(c.ok, false, `expected the last call to be a violation: ${JSON.stringify(c.error)}`);
  if (re) assert.match(c.error, re);
}

function assertClean(h) {
  assert.deepEqual(h.violations().map((c) => c.error), []);
}

// ---------------------------------------------------------------------------------------------
describe('LiveKit stand-in', () => {
  let lk;
  let rooms;
  let egress;
  before(async () => {
    lk = await startLiveKit({ port: 0, ...LK });
    rooms = new RoomServiceClient(lk.url, LK.apiKey, LK.apiSecret);
    egress = new EgressClient(lk.url, LK.apiKey, LK.apiSecret);
  });
  after(async () => lk.close());
  beforeEach(() => lk.reset());

  test('listens on 127.0.0.1 with an ephemeral port', () => {
    assert.match(lk.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(lk.port > 0);
  });

  test('accepts the official SDK: CreateRoom is an upsert with the same sid', async () => {
    const a = await rooms.createRoom({ name: 'demo', emptyTimeout: 60, maxParticipants: 4, metadata: 'm' });
    assert.match(a.sid, /^RM_/);
    assert.equal(a.name, 'demo');
    assert.equal(a.emptyTimeout, 60);
    assert.equal(a.departureTimeout, 20, 'server default departure_timeout');
    const b = await rooms.createRoom({ name: 'demo' });
    assert.equal(b.sid, a.sid);
    assert.equal(lk.rooms.size, 1);
    assert.equal(lk.callsTo('CreateRoom').length, 2);
    assertClean(lk);
    // the SDK sends camelCase; the request is kept as sent
    assert.equal(lk.calls[0].body.emptyTimeout, 60);
  });

  test('responses are server-style JSON: snake_case, every field, int64 strings, null messages', async () => {
    const token = await lkToken({ roomCreate: true });
    const r = await twirp(lk, 'RoomService/CreateRoom', { name: 'json' }, { token });
    assert.equal(r.status, 200);
    assert.equal(r.contentType, 'application/json');
    for (const k of ['sid', 'name', 'empty_timeout', 'departure_timeout', 'max_participants', 'creation_time', 'creation_time_ms', 'metadata', 'num_participants', 'num_publishers', 'active_recording', 'enabled_codecs']) {
      assert.ok(k in r.json, `missing ${k}`);
    }
    assert.equal(typeof r.json.creation_time, 'string');
    assert.match(r.json.creation_time, /^\d+$/);
    assert.equal(r.json.empty_timeout, 300, 'server default empty_timeout');
    assert.equal(r.json.version, null, 'unset message field emitted as null');
    assert.ok(!('emptyTimeout' in r.json));
  });

  test('accepts snake_case request keys and Content-Type with charset', async () => {
    const token = await lkToken({ roomCreate: true });
    const r = await twirp(lk, 'RoomService/CreateRoom', { name: 'snake', empty_timeout: 5 }, { token, contentType: 'application/json; charset=utf-8' });
    assert.equal(r.status, 200);
    assert.equal(r.json.empty_timeout, 5);
    assertClean(lk);
  });

  test('bad token signature → 401 plain text, recorded as violation', async () => {
    const token = await lkToken({ roomCreate: true }, { secret: 'wrong-secret-wrong-secret-wrong-secret' });
    const r = await twirp(lk, 'RoomService/CreateRoom', { name: 'x' }, { token });
    assert.equal(r.status, 401);
    assert.match(r.contentType, /^text\/plain/);
    assert.equal(r.json, undefined, 'body must not be JSON');
    assert.match(r.text, /invalid authorization token/);
    assertViolation(lk, /token rejected/);
    assert.equal(lk.rooms.size, 0);
  });

  test('unknown API key, expired token, token without exp, non-HS256 → 401 plain text', async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases = [
      [await lkToken({ roomCreate: true }, { key: 'OtherKey' }), /invalid API key/, /iss/],
      [signJwt({ iss: LK.apiKey, nbf: now - 600, exp: now - 120, video: { roomCreate: true } }), /invalid authorization token/, /exp/],
      [signJwt({ iss: LK.apiKey, nbf: now, video: { roomCreate: true } }), /exp/, /no exp/],
      [signJwt({ iss: LK.apiKey, nbf: now, exp: now + 600, video: { roomCreate: true } }, { alg: 'HS384' }), /invalid authorization token/, /HS256/],
      ['not-a-jwt', /invalid authorization token/, /parse/],
    ];
    for (const [token, bodyRe, errRe] of cases) {
      const r = await twirp(lk, 'RoomService/CreateRoom', { name: 'x' }, { token });
      assert.equal(r.status, 401, `token ${token.slice(0, 20)}…`);
      assert.match(r.text, bodyRe);
      assert.match(r.contentType, /^text\/plain/);
      assertViolation(lk, errRe);
    }
    assert.equal(lk.violations().length, cases.length);
  });

  test('token within the 60 s leeway is accepted (server tolerance)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = signJwt({ iss: LK.apiKey, nbf: now - 600, exp: now - 30, video: { roomList: true } });
    const r = await twirp(lk, 'RoomService/ListRooms', {}, { token });
    assert.equal(r.status, 200);
    assertClean(lk);
  });

  test('Authorization not "Bearer …" → 401 plain text', async () => {
    const res = await fetch(`${lk.url}/twirp/livekit.RoomService/ListRooms`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Token abc' },
      body: '{}',
    });
    assert.equal(res.status, 401);
    assert.match(await res.text(), /Must start with Bearer/);
    assertViolation(lk, /Bearer/);
  });

  test('no Authorization → Twirp unauthenticated "permissions denied" (JSON, 401)', async () => {
    const r = await twirp(lk, 'RoomService/ListRooms', {});
    assert.equal(r.status, 401);
    assert.deepEqual(r.json, { code: 'unauthenticated', msg: 'permissions denied' }, 'Twirp omits an empty meta');
    assertViolation(lk, /no Authorization header/);
  });

  test('missing grants → 401 unauthenticated per method', async () => {
    const listOnly = await lkToken({ roomList: true });
    let r = await twirp(lk, 'RoomService/CreateRoom', { name: 'x' }, { token: listOnly });
    assert.equal(r.status, 401);
    assert.equal(r.json.code, 'unauthenticated');
    assertViolation(lk, /roomCreate/);

    r = await twirp(lk, 'RoomService/DeleteRoom', { room: 'x' }, { token: listOnly });
    assert.equal(r.json.code, 'unauthenticated');
    assertViolation(lk, /roomCreate/);

    const create = await lkToken({ roomCreate: true });
    r = await twirp(lk, 'RoomService/ListRooms', {}, { token: create });
    assert.equal(r.json.code, 'unauthenticated');
    assertViolation(lk, /roomList/);

    r = await twirp(lk, 'Egress/ListEgress', {}, { token: create });
    assert.equal(r.json.code, 'unauthenticated');
    assertViolation(lk, /roomRecord/);

    const adminA = await lkToken({ roomAdmin: true, room: 'a' });
    r = await twirp(lk, 'RoomService/ListParticipants', { room: 'b' }, { token: adminA });
    assert.equal(r.status, 401);
    assertViolation(lk, /video.room "a" != request room "b"/);

    const noAdmin = await lkToken({ room: 'a', roomJoin: true }, { identity: 'someone' });
    r = await twirp(lk, 'RoomService/RemoveParticipant', { room: 'a', identity: 'u' }, { token: noAdmin });
    assert.equal(r.status, 401);
    assertViolation(lk, /roomAdmin/);

    r = await twirp(lk, 'RoomService/ListParticipants', { room: 'a' }, { token: adminA });
    assert.equal(r.status, 200, 'matching room grant works');
    assert.deepEqual(r.json, { participants: [] });
  });

  test('unknown field, duplicate field, bad enum, empty body, non-JSON → 400 malformed', async () => {
    const token = await lkToken({ roomCreate: true, roomRecord: true });
    let r = await twirp(lk, 'RoomService/CreateRoom', { name: 'x', emptyTimout: 5 }, { token });
    assert.equal(r.status, 400);
    assert.deepEqual(r.json, { code: 'malformed', msg: 'the json request could not be decoded' });
    assertViolation(lk, /emptyTimout/);

    r = await twirp(lk, 'RoomService/CreateRoom', { name: 'x', empty_timeout: 5, emptyTimeout: 6 }, { token });
    assert.equal(r.json.code, 'malformed');
    assertViolation(lk, /given twice/);

    r = await twirp(lk, 'Egress/StartRoomCompositeEgress', { room_name: 'x', file_outputs: [{ file_type: 'MP5' }] }, { token });
    assert.equal(r.json.code, 'malformed');
    assertViolation(lk, /MP5/);

    r = await twirp(lk, 'RoomService/CreateRoom', undefined, { token, raw: '' });
    assert.equal(r.json.code, 'malformed');
    assertViolation(lk, /empty body/);

    r = await twirp(lk, 'RoomService/CreateRoom', undefined, { token, raw: '{"name":' });
    assert.equal(r.json.code, 'malformed');
    assertViolation(lk, /not JSON/);
    assert.equal(lk.rooms.size, 0);
  });

  test('wrong Content-Type, wrong HTTP method, unknown path → 404 bad_route', async () => {
    const token = await lkToken({ roomList: true });
    let r = await twirp(lk, 'RoomService/ListRooms', {}, { token, contentType: 'text/plain' });
    assert.equal(r.status, 404);
    assert.equal(r.json.code, 'bad_route');
    assert.ok(r.json.meta.twirp_invalid_route);
    assertViolation(lk, /not application\/json/);

    r = await twirp(lk, 'RoomService/ListRooms', {}, { token, contentType: 'application/protobuf' });
    assert.equal(r.json.code, 'bad_route');
    assertViolation(lk, /protobuf/);

    r = await twirp(lk, 'RoomService/ListRooms', undefined, { token, method: 'GET' });
    assert.equal(r.status, 404);
    assert.equal(r.json.code, 'bad_route');
    assertViolation(lk, /only accepts POST/);

    r = await twirp(lk, 'RoomService/ListRoomz', {}, { token });
    assert.equal(r.json.code, 'bad_route');
    assertViolation(lk, /unknown method/);

    const other = await http(`${lk.url}/rtc/validate`, { method: 'POST' });
    assert.equal(other.status, 404);
    assertViolation(lk, /no Twirp route/);

    r = await twirp(lk, 'Egress/UpdateLayout', { egress_id: 'EG_x', layout: 'grid' }, { token: await lkToken({ roomRecord: true }) });
    assert.equal(r.status, 501);
    assertViolation(lk, /does not implement/);
  });

  test('rooms and participants: list, get, remove, mute, update, delete', async () => {
    await rooms.createRoom({ name: 'r1' });
    await rooms.createRoom({ name: 'r2' });
    lk.seedParticipant('r1', { identity: 'alice', name: 'Alice', metadata: '{"a":1}', joined_at: 1700000000, tracks: [{ sid: 'TR_a1', type: 'AUDIO' }] });
    lk.seedParticipant('r1', { identity: 'bob' });

    const listed = await rooms.listRooms(['r1', 'nope']);
    assert.deepEqual(listed.map((r) => r.name), ['r1']);
    assert.equal(listed[0].numParticipants, 2);
    assert.equal(listed[0].numPublishers, 1);
    assert.equal((await rooms.listRooms()).length, 2);

    const ps = await rooms.listParticipants('r1');
    assert.deepEqual(ps.map((p) => p.identity).sort(), ['alice', 'bob']);
    assert.deepEqual(await rooms.listParticipants('missing'), [], 'missing room → 200 + empty list');

    const alice = await rooms.getParticipant('r1', 'alice');
    assert.equal(alice.name, 'Alice');
    assert.equal(alice.joinedAt, 1700000000n);
    assert.match(alice.sid, /^PA_/);
    const raw = lk.participantsJson('r1').find((p) => p.identity === 'alice');
    assert.equal(raw.joined_at, '1700000000');
    assert.equal(raw.state, 'ACTIVE');

    await assert.rejects(rooms.getParticipant('r1', 'carol'), (e) => e.status === 404 && e.code === 'not_found');

    const muted = await rooms.mutePublishedTrack('r1', 'alice', 'TR_a1', true);
    assert.equal(muted.muted, true);

    const upd = await rooms.updateParticipant('r1', 'alice', { metadata: 'new', attributes: { k: 'v' } });
    assert.equal(upd.metadata, 'new');
    assert.equal(upd.attributes.k, 'v');

    await rooms.removeParticipant('r1', 'bob');
    assert.deepEqual(lk.kicked.map((k) => [k.room, k.identity]), [['r1', 'bob']]);
    assert.equal(lk.rooms.get('r1').participants.has('bob'), false);
    await assert.rejects(rooms.removeParticipant('r1', 'bob'), (e) => e.status === 404 && e.code === 'not_found' && /participant does not exist/.test(e.message));

    await rooms.deleteRoom('r2');
    assert.equal(lk.rooms.has('r2'), false);
    assert.deepEqual(lk.deletedRooms.map((d) => d.name), ['r2']);
    await assert.rejects(rooms.deleteRoom('r2'), (e) => e.status === 404 && e.code === 'not_found');

    assertClean(lk); // not_found answers are legitimate, not violations
  });

  test('egress: start, list, stop, advance, failed_precondition', async () => {
    await assert.rejects(
      egress.startRoomCompositeEgress('ghost', { file: new EncodedFileOutput({ filepath: 'a.mp4', output: { case: 's3', value: new S3Upload({ bucket: 'b' }) } }) }),
      (e) => e.status === 404 && e.code === 'not_found',
    );
    await rooms.createRoom({ name: 'rec' });
    const out = new EncodedFileOutput({
      fileType: EncodedFileType.MP4,
      filepath: 'rec/{time}.mp4',
      output: { case: 's3', value: new S3Upload({ accessKey: 'AK', secret: 'SK', region: 'us-east-1', bucket: 'bkt', forcePathStyle: true }) },
    });
    const info = await egress.startRoomCompositeEgress('rec', { file: out }, { layout: 'speaker' });
    assert.match(info.egressId, /^EG_/);
    assert.equal(info.roomName, 'rec');
    const json = lk.egressJson(info.egressId);
    assert.equal(json.status, 'EGRESS_STARTING');
    assert.equal(json.room_composite.layout, 'speaker');
    assert.equal(json.room_composite.file_outputs[0].s3.bucket, 'bkt');
    assert.equal(lk.callsTo('StartRoomCompositeEgress').at(-1).body.fileOutputs[0].filepath, 'rec/{time}.mp4');
    assert.equal(lk.roomJson('rec').active_recording, true);

    const second = await egress.startRoomCompositeEgress('rec', { file: out });
    assert.notEqual(second.egressId, info.egressId, 'start is not idempotent');

    lk.advanceEgress(info.egressId, 'EGRESS_ACTIVE');
    let active = await egress.listEgress({ roomName: 'rec', active: true });
    assert.equal(active.length, 2);
    assert.equal((await egress.listEgress({ egressId: info.egressId })).length, 1);

    const stopped = await egress.stopEgress(info.egressId);
    assert.equal(lk.egressJson(stopped.egressId).status, 'EGRESS_ENDING');
    lk.advanceEgress(info.egressId, 'EGRESS_COMPLETE', { file_results: [{ filename: 'rec/1.mp4', location: 's3://bkt/rec/1.mp4', size: 12345, duration: 5_000_000_000 }] });
    const done = lk.egressJson(info.egressId);
    assert.equal(done.status, 'EGRESS_COMPLETE');
    assert.equal(done.file_results[0].size, '12345');
    assert.match(done.ended_at, /^[1-9]\d+$/);
    await assert.rejects(egress.stopEgress(info.egressId), (e) => e.status === 412 && e.code === 'failed_precondition');
    await assert.rejects(egress.stopEgress('EG_nope'), (e) => e.status === 404);

    active = await egress.listEgress({ roomName: 'rec', active: true });
    assert.deepEqual(active.map((e) => e.egressId), [second.egressId]);
    lk.advanceEgress(second.egressId, 'EGRESS_FAILED', { error: 'upload failed' });
    assert.equal(lk.egressJson(second.egressId).error, 'upload failed');
    assert.equal((await egress.listEgress({ active: true })).length, 0);
    assertClean(lk);

    // invalid requests the egress service would refuse
    const token = await lkToken({ roomRecord: true });
    let r = await twirp(lk, 'Egress/StartRoomCompositeEgress', { room_name: 'rec', layout: 'grid' }, { token });
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 'invalid_argument');
    assertViolation(lk, /no outputs/);
    r = await twirp(lk, 'Egress/StartRoomCompositeEgress', { room_name: 'rec', layout: 'mosaic', file_outputs: [{ filepath: 'x.mp4' }] }, { token });
    assertViolation(lk, /layout/);
    r = await twirp(lk, 'Egress/StartRoomCompositeEgress', { room_name: 'rec', file_outputs: [{ filepath: 'x.mp4', s3: { access_key: 'a', secret: 's' } }] }, { token });
    assertViolation(lk, /bucket/);
  });

  test('DeleteRoom moves the room\'s active egress to ENDING', async () => {
    await rooms.createRoom({ name: 'gone' });
    const info = await egress.startRoomCompositeEgress('gone', { file: new EncodedFileOutput({ filepath: 'a.mp4', output: { case: 's3', value: new S3Upload({ bucket: 'b' }) } }) });
    await rooms.deleteRoom('gone');
    assert.equal(lk.egressJson(info.egressId).status, 'EGRESS_ENDING');
  });

  test('fault: status (once, by method name), then normal service', async () => {
    lk.fail({ times: 1, match: 'CreateRoom', mode: 'status', status: 503 });
    const token = await lkToken({ roomCreate: true, roomList: true });
    let r = await twirp(lk, 'RoomService/ListRooms', {}, { token });
    assert.equal(r.status, 200, 'other methods unaffected');
    r = await twirp(lk, 'RoomService/CreateRoom', { name: 'f' }, { token });
    assert.equal(r.status, 503);
    assert.equal(r.json.code, 'unavailable');
    assert.equal(lk.rooms.size, 0, 'a faulted request does not reach the state');
    assert.equal(lastCall(lk).fault, 'status');
    r = await twirp(lk, 'RoomService/CreateRoom', { name: 'f' }, { token });
    assert.equal(r.status, 200);
    assertClean(lk);
  });

  test('fault: failAll keeps failing until clearFaults; custom body; path-substring match', async () => {
    lk.failAll({ match: 'livekit.Egress/', status: 500, body: { code: 'internal', msg: 'boom' } });
    const token = await lkToken({ roomRecord: true });
    for (let i = 0; i < 3; i += 1) {
      const r = await twirp(lk, 'Egress/ListEgress', {}, { token });
      assert.equal(r.status, 500);
      assert.equal(r.json.msg, 'boom');
    }
    lk.clearFaults();
    const r = await twirp(lk, 'Egress/ListEgress', {}, { token });
    assert.equal(r.status, 200);
  });

  test('fault: malformed → 200 with a non-JSON body', async () => {
    lk.fail({ mode: 'malformed' });
    await assert.rejects(rooms.listRooms(), SyntaxError);
    assert.equal(lastCall(lk).fault, 'malformed');
    assert.equal(lastCall(lk).ok, true);
  });

  test('fault: reset destroys the connection', async () => {
    lk.fail({ mode: 'reset', match: 'ListRooms' });
    await assert.rejects(rooms.listRooms(), (e) => e instanceof TypeError || /fetch failed|socket|ECONNRESET/i.test(String(e?.cause ?? e)));
    assert.equal(lastCall(lk).fault, 'reset');
    assert.equal((await rooms.listRooms()).length, 0, 'next request is served');
  });

  test('fault: timeout never answers (client aborts); apply:true still changes state', async () => {
    lk.fail({ mode: 'timeout', match: 'CreateRoom', apply: true });
    const token = await lkToken({ roomCreate: true });
    const ac = new AbortController();
    const t = setTimeout(() => ac.abort(), 200);
    await assert.rejects(
      fetch(`${lk.url}/twirp/livekit.RoomService/CreateRoom`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ name: 'maybe' }),
        signal: ac.signal,
      }),
      { name: 'AbortError' },
    );
    clearTimeout(t);
    assert.equal(lk.rooms.has('maybe'), true, 'the vendor applied it; only the answer was lost');
    assert.equal(lk.calls.at(-1).fault, 'timeout');
  });

  test('validation runs before faults: a bad request is rejected, the fault stays queued', async () => {
    lk.fail({ match: 'CreateRoom', status: 503 });
    const r = await twirp(lk, 'RoomService/CreateRoom', { name: 'x', bogus: 1 }, { token: await lkToken({ roomCreate: true }) });
    assert.equal(r.status, 400);
    assert.equal(lk.pendingFaults().length, 1);
  });

  test('waitForCall resolves on a matching call', async () => {
    const p = lk.waitForCall('ListRooms', { timeout: 2000 });
    await rooms.listRooms();
    const c = await p;
    assert.equal(c.op, 'ListRooms');
    assert.equal(c.status, 200);
  });
});

// ---------------------------------------------------------------------------------------------
describe('Agora stand-in', () => {
  let ag;
  let auth;
  before(async () => {
    ag = await startAgora({ port: 0, ...AG });
    auth = `Basic ${Buffer.from(`${AG.customerId}:${AG.customerSecret}`).toString('base64')}`;
  });
  after(async () => ag.close());
  beforeEach(() => ag.reset());

  const get = (p, headers = {}) => http(`${ag.url}${p}`, { headers: { authorization: auth, accept: 'application/json', ...headers } });
  const kick = (body, { contentType = 'application/json', method = 'POST', authorization } = {}) => http(`${ag.url}/dev/v1/kicking-rule`, {
    method,
    headers: { authorization: authorization ?? auth, ...(contentType ? { 'content-type': contentType } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

  test('user list: absent channel is channel_exist:false with HTTP 200; mode 1 and mode 2', async () => {
    let r = await get(`/dev/v1/channel/user/${AG.appId}/lobby`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { success: true, data: { channel_exist: false } });

    ag.seedUser('lobby', 111);
    ag.seedUser('lobby', 222);
    r = await get(`/dev/v1/channel/user/${AG.appId}/lobby`);
    assert.deepEqual(r.json, { success: true, data: { channel_exist: true, mode: 1, total: 2, users: [111, 222] } });

    ag.seedChannel('stage', { mode: 2 });
    ag.seedUser('stage', 1, { role: 'broadcaster' });
    ag.seedUser('stage', 2, { role: 'audience' });
    r = await get(`/dev/v1/channel/user/${AG.appId}/stage`);
    assert.deepEqual(r.json.data, { channel_exist: true, mode: 2, broadcasters: [1], audience: [2], audience_total: 1 });
    r = await get(`/dev/v1/channel/user/${AG.appId}/stage?hosts_only=1`);
    assert.deepEqual(r.json.data, { channel_exist: true, mode: 2, broadcasters: [1] });
    assertClean(ag);
  });

  test('channel list: paging and page_size validation', async () => {
    for (const c of ['c', 'a', 'b']) ag.seedUser(c, 7);
    ag.seedUser('a', 8);
    let r = await get(`/dev/v1/channel/${AG.appId}?page_no=0&page_size=2`);
    assert.deepEqual(r.json, { success: true, data: { channels: [{ channel_name: 'a', user_count: 2 }, { channel_name: 'b', user_count: 1 }], total_size: 3 } });
    r = await get(`/dev/v1/channel/${AG.appId}?page_no=1&page_size=2`);
    assert.deepEqual(r.json.data.channels, [{ channel_name: 'c', user_count: 1 }]);
    r = await get(`/dev/v1/channel/${AG.appId}`);
    assert.equal(r.json.data.channels.length, 3, 'defaults page_no=0, page_size=100');
    assertClean(ag);

    r = await get(`/dev/v1/channel/${AG.appId}?page_no=0&page_size=501`);
    assert.equal(r.status, 400);
    assert.ok(r.json.message);
    assertViolation(ag, /\[1,500\]/);
    r = await get(`/dev/v1/channel/${AG.appId}?page_no=x&page_size=10`);
    assertViolation(ag, /page_no/);
    r = await get(`/dev/v1/channel/${AG.appId}?page=1`);
    assertViolation(ag, /unknown query/);
  });

  test('Basic auth: missing, wrong secret, wrong scheme → 401 {"message"}', async () => {
    for (const authorization of [undefined, `Basic ${Buffer.from(`${AG.customerId}:nope`).toString('base64')}`, `Bearer ${AG.customerSecret}`]) {
      const r = await http(`${ag.url}/dev/v1/channel/user/${AG.appId}/lobby`, { headers: authorization ? { authorization } : {} });
      assert.equal(r.status, 401);
      assert.deepEqual(r.json, { message: 'Invalid authentication credentials' });
      assertViolation(ag);
    }
    assert.equal(ag.violations().length, 3);
  });

  test('wrong appid in path → 400 invalid appid', async () => {
    const r = await get('/dev/v1/channel/user/ffffffffffffffffffffffffffffffff/lobby');
    assert.equal(r.status, 400);
    assert.deepEqual(r.json, { message: 'invalid appid' });
    assertViolation(ag, /wrong appid/);
  });

  test('kicking-rule: kick one uid (time 0) removes it and records the rule', async () => {
    ag.seedUser('room1', 42);
    ag.seedUser('room1', 43);
    const r = await kick({ appid: AG.appId, cname: 'room1', uid: 42, time: 0, privileges: ['join_channel'] });
    assert.equal(r.status, 200);
    assert.equal(r.json.status, 'success');
    assert.equal(typeof r.json.id, 'number');
    assert.deepEqual(ag.usersIn('room1'), [43]);
    assert.equal(ag.rules.length, 1);
    assert.equal(ag.rules[0].uid, 42);
    assert.deepEqual(ag.kicked.map((k) => [k.channel, k.uid]), [['room1', 42]]);
    assert.equal(ag.seedUser('room1', 42), true, 'time 0 leaves no lasting ban');
    assert.equal(ag.activeRules().length, 0);
    assertClean(ag);
  });

  test('kicking-rule: cname only closes the channel; a ban blocks rejoin until deleted', async () => {
    ag.seedUser('room2', 1);
    ag.seedUser('room2', 2);
    let r = await kick({ appid: AG.appId, cname: 'room2', time_in_seconds: 0, privileges: ['join_channel'] });
    assert.equal(r.status, 200);
    assert.equal(ag.channels.has('room2'), false);
    assert.deepEqual(ag.closedChannels.map((c) => c.channel), ['room2']);
    r = await get(`/dev/v1/channel/user/${AG.appId}/room2`);
    assert.equal(r.json.data.channel_exist, false);

    ag.seedUser('room3', 5);
    r = await kick({ appid: AG.appId, cname: 'room3', uid: 5, time: 60, privileges: ['join_channel'] });
    const id = r.json.id;
    assert.equal(ag.seedUser('room3', 5), false, 'banned for 60 minutes');
    r = await get(`/dev/v1/kicking-rule?appid=${AG.appId}`);
    assert.equal(r.json.status, 'success');
    assert.deepEqual(r.json.rules.map((x) => [x.id, x.uid, x.cname]), [[id, 5, 'room3']]);
    r = await http(`${ag.url}/dev/v1/kicking-rule`, { method: 'DELETE', headers: { authorization: auth, 'content-type': 'application/json' }, body: { appid: AG.appId, id } });
    assert.deepEqual(r.json, { status: 'success', id });
    assert.equal(ag.seedUser('room3', 5), true);
    assertClean(ag);
  });

  test('kicking-rule: each bad body is rejected and recorded', async () => {
    ag.seedUser('room4', 9);
    const good = { appid: AG.appId, cname: 'room4', uid: 9, time: 0, privileges: ['join_channel'] };
    const bad = [
      [{ ...good, extra: 1 }, 400, /unknown body keys: extra/],
      [{ ...good, uid: '9' }, 400, /uid must be/],
      [{ ...good, uid: 0 }, 400, /uid must be/],
      [{ ...good, uid: 2 ** 32 }, 400, /uid must be/],
      [{ ...good, time: 2000 }, 400, /outside/],
      [{ ...good, time_in_seconds: 30 }, 400, /both time and time_in_seconds/],
      [{ appid: AG.appId, cname: 'room4', uid: 9, privileges: ['join_channel'] }, 400, /neither time/],
      [{ ...good, privileges: ['publish_audio'] }, 400, /privileges/],
      [{ ...good, privileges: 'join_channel' }, 400, /privileges/],
      [{ ...good, cname: '' }, 400, /empty/],
      [{ ...good, cname: 'x'.repeat(65) }, 400, /64 bytes/],
      [{ ...good, cname: 'bad/name' }, 400, /characters/],
      [{ appid: AG.appId, uid: 9, time: 0, privileges: ['join_channel'] }, 400, /no cname/],
      [{ ...good, appid: 'f'.repeat(32) }, 400, /wrong appid/],
      [{ ...good, ip: '10.0.0.1' }, 400, /ip/],
    ];
    for (const [body, status, re] of bad) {
      const r = await kick(body);
      assert.equal(r.status, status, JSON.stringify(body));
      assert.equal(typeof r.json.message, 'string');
      assertViolation(ag, re);
    }
    let r = await kick(good, { contentType: 'text/plain' });
    assert.equal(r.status, 415);
    assertViolation(ag, /Content-Type/);
    r = await kick('{"appid":', {});
    assert.equal(r.status, 400);
    assertViolation(ag, /not JSON/);
    assert.equal(ag.violations().length, bad.length + 2);
    assert.deepEqual(ag.usersIn('room4'), [9], 'no rejected rule was applied');
    assert.equal(ag.rules.length, 0);
  });

  test('faults: status by path substring, reset, timeout with apply:true', async () => {
    ag.seedUser('room5', 1);
    ag.fail({ match: 'kicking-rule', status: 500 });
    let r = await get(`/dev/v1/channel/user/${AG.appId}/room5`);
    assert.equal(r.status, 200);
    r = await kick({ appid: AG.appId, cname: 'room5', uid: 1, time: 0, privileges: ['join_channel'] });
    assert.equal(r.status, 500);
    assert.deepEqual(r.json, { message: 'stand-in fault' });
    assert.deepEqual(ag.usersIn('room5'), [1]);

    ag.fail({ match: 'QueryUserList', mode: 'reset' });
    await assert.rejects(get(`/dev/v1/channel/user/${AG.appId}/room5`));

    ag.fail({ match: 'CreateKickingRule', mode: 'timeout', apply: true });
    await assert.rejects(
      http(`${ag.url}/dev/v1/kicking-rule`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: { appid: AG.appId, cname: 'room5', uid: 1, time: 0, privileges: ['join_channel'] },
        signal: AbortSignal.timeout(200),
      }),
      (e) => e.name === 'TimeoutError' || e.name === 'AbortError',
    );
    assert.deepEqual(ag.usersIn('room5'), [], 'applied although the answer never came');
    assert.equal(ag.rules.length, 1);

    ag.fail({ mode: 'malformed' });
    r = await get(`/dev/v1/channel/user/${AG.appId}/room5`);
    assert.equal(r.status, 200);
    assert.equal(r.json, undefined);
    assertClean(ag);
  });
});

// ---------------------------------------------------------------------------------------------
describe('ZEGO stand-in', () => {
  let zg;
  let clockOffsetMs = 0;
  before(async () => {
    zg = await startZego({ port: 0, ...ZG, now: () => Date.now() + clockOffsetMs });
  });
  after(async () => zg.close());
  beforeEach(() => {
    zg.reset();
    clockOffsetMs = 0;
  });

  const call = (query) => http(`${zg.url}/?${query}`);
  const act = (action, params, opts) => call(zg.signedQuery(action, params, opts));

  test('signature matches the example in ZEGOCLOUD\'s server API docs', () => {
    assert.equal(zegoSignature(12345, '4fd24687296dd9f3', '9193cc662a4c0ec135ec71fb57194b38', 1615186943), '43e5cfcca828314675f91b001390566a');
    assert.equal(zg.sign('4fd24687296dd9f3', 1615186943), '43e5cfcca828314675f91b001390566a');
  });

  test('DescribeUserNum with RoomId[] repeated keys', async () => {
    zg.seedUser('r1', { UserId: 'u1' });
    zg.seedUser('r1', { UserId: 'rec', UserRole: 4 });
    const r = await act('DescribeUserNum', { 'RoomId[]': ['r1', 'r2'] });
    assert.equal(r.status, 200);
    assert.equal(r.json.Code, 0);
    assert.equal(typeof r.json.RequestId, 'string');
    assert.deepEqual(r.json.Data.UserCountList, [
      { RoomId: 'r1', UserCount: 2, AdminUserCount: 1 },
      { RoomId: 'r2', UserCount: 0, AdminUserCount: 0 },
    ]);
    // percent-encoded brackets are the same key
    const q = zg.signedQuery('DescribeUserNum', {}).concat('&RoomId%5B%5D=r1');
    assert.equal((await call(q)).json.Code, 0);
    assertClean(zg);
  });

  test('array parameter without [] → Code 2, violation', async () => {
    const r = await act('DescribeUserNum', { RoomId: 'r1' });
    assert.equal(r.status, 200);
    assert.equal(r.json.Code, 2);
    assertViolation(zg, /RoomId\[\]=a/);
  });

  test('bad signature, expired/future timestamp, common-parameter errors (HTTP 200 + Code)', async () => {
    const base = zg.signedQuery('DescribeUserNum', { 'RoomId[]': 'r' });
    const tamper = (k, v) => {
      const sp = new URLSearchParams(base);
      if (v === undefined) sp.delete(k);
      else sp.set(k, v);
      return sp.toString();
    };
    const sig = new URLSearchParams(base).get('Signature');
    const cases = [
      [tamper('Signature', '0'.repeat(32)), 100000005, /does not match/],
      [tamper('Signature', sig.toUpperCase()), 100000005, /upper-case/],
      [zg.signedQuery('DescribeUserNum', { 'RoomId[]': 'r' }, { timestamp: Math.floor(Date.now() / 1000) - 11 * 60 }), 100000004, /from the stand-in clock/],
      [zg.signedQuery('DescribeUserNum', { 'RoomId[]': 'r' }, { timestamp: Math.floor(Date.now() / 1000) + 11 * 60 }), 100000004, /from the stand-in clock/],
      [zegoSignedQuery({ appId: ZG.appId, serverSecret: 'f'.repeat(32) }, 'DescribeUserNum', { 'RoomId[]': 'r' }), 100000005, /does not match/],
      [tamper('AppId', undefined), 100000001, /AppId/],
      [tamper('AppId', '99999'), 100000010, /not 12345/],
      [tamper('Action', undefined), 100000006, /Action is empty/],
      [tamper('Action', 'CreatCDNTransferRule'), 100000007, /CreatCDNTransferRule/],
      [tamper('SignatureVersion', '1.0'), 100000014, /SignatureVersion/],
      [tamper('SignatureVersion', undefined), 100000013, /SignatureVersion/],
      [tamper('Timestamp', undefined), 100000002, /Timestamp/],
      [tamper('Timestamp', 'yesterday'), 100000003, /Timestamp/],
      [tamper('SignatureNonce', undefined), 100000008, /SignatureNonce/],
      [tamper('Signature', undefined), 100000009, /Signature is empty/],
      [zg.signedQuery('DescribeUserNum', { 'RoomId[]': 'r' }, { nonce: '15215528852396' }), 100000005, /16 hex/],
    ];
    for (const [q, code, re] of cases) {
      const r = await call(q);
      assert.equal(r.status, 200);
      assert.equal(r.json.Code, code, q);
      assert.equal(typeof r.json.Message, 'string');
      assertViolation(zg, re);
    }
    assert.equal(zg.violations().length, cases.length);
  });

  test('timestamp window is ±10 minutes of the stand-in clock', async () => {
    clockOffsetMs = 9 * 60 * 1000;
    assert.equal((await act('DescribeUserNum', { 'RoomId[]': 'r' })).json.Code, 0);
    clockOffsetMs = 11 * 60 * 1000;
    assert.equal((await act('DescribeUserNum', { 'RoomId[]': 'r' })).json.Code, 100000004);
  });

  test('a reused SignatureNonce is rejected', async () => {
    const q = zg.signedQuery('DescribeUserNum', { 'RoomId[]': 'r' });
    assert.equal((await call(q)).json.Code, 0);
    assert.equal((await call(q)).json.Code, 100000005);
    assertViolation(zg, /reused/);
  });

  test('unknown/repeated business parameters and wrong HTTP method are violations', async () => {
    let r = await act('CloseRoom', { RoomId: 'r', Room: 'x' });
    assert.equal(r.json.Code, 2);
    assertViolation(zg, /unknown parameter Room/);
    r = await act('CloseRoom', { RoomId: ['a', 'b'] });
    assertViolation(zg, /repeated/);
    r = await http(`${zg.url}/?${zg.signedQuery('CloseRoom', { RoomId: 'r' })}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: {} });
    assertViolation(zg, /GET/);
  });

  test('DescribeUserList pages by Limit and Marker; Mode 1 reverses', async () => {
    const t0 = 1_700_000_000_000;
    for (let i = 1; i <= 5; i += 1) zg.seedUser('big', { UserId: `u${i}`, UserName: `User ${i}`, UserRole: i === 1 ? 1 : 2, LoginTime: t0 + i });
    const seen = [];
    let marker = '';
    let pages = 0;
    do {
      const r = await act('DescribeUserList', { RoomId: 'big', Limit: 2, ...(marker ? { Marker: marker } : {}) });
      assert.equal(r.json.Code, 0);
      assert.ok(r.json.Data.UserList.length <= 2);
      seen.push(...r.json.Data.UserList.map((u) => u.UserId));
      marker = r.json.Data.Marker;
      pages += 1;
    } while (marker);
    assert.equal(pages, 3);
    assert.deepEqual(seen, ['u1', 'u2', 'u3', 'u4', 'u5']);

    let r = await act('DescribeUserList', { RoomId: 'big', Mode: 1, Limit: 3 });
    assert.deepEqual(r.json.Data.UserList.map((u) => u.UserId), ['u5', 'u4', 'u3']);
    assert.deepEqual(r.json.Data.UserList[0], { UserId: 'u5', UserName: 'User 5', UserRole: 2 });
    assert.notEqual(r.json.Data.Marker, '');

    r = await act('DescribeUserList', { RoomId: 'nobody' });
    assert.deepEqual(r.json.Data, { Marker: '', UserList: [] });

    zg.setPageCap(1);
    r = await act('DescribeUserList', { RoomId: 'big', Limit: 200 });
    assert.equal(r.json.Data.UserList.length, 1, 'page cap below Limit');
    assertClean(zg);

    r = await act('DescribeUserList', { RoomId: 'big', Marker: 'forged' });
    assert.equal(r.json.Code, 2);
    assertViolation(zg, /Marker/);
    r = await act('DescribeUserList', { RoomId: 'big', Limit: 201 });
    assertViolation(zg, /Limit 201/);
    r = await act('DescribeUserList', { RoomId: 'big', Mode: 2 });
    assertViolation(zg, /Mode/);
  });

  test('DescribeUsers: status and LoginTime; missing room → 50001 (not a violation)', async () => {
    zg.seedUser('r', { UserId: 'a', LoginTime: 1675674019365 });
    let r = await act('DescribeUsers', { RoomId: 'r', 'UserId[]': ['a', 'b'] });
    assert.deepEqual(r.json.Data.UserStatusList, [
      { UserId: 'a', Status: 1, LoginTime: 1675674019365, UserRole: 1 },
      { UserId: 'b', Status: 0, LoginTime: 0, UserRole: 0 },
    ]);
    r = await act('DescribeUsers', { RoomId: 'none', 'UserId[]': 'a' });
    assert.equal(r.json.Code, 50001);
    assertClean(zg);
  });

  test('KickoutUser: kicks, 105 for absent users, 50011 for > 5, room destroyed when empty', async () => {
    zg.seedUser('k', { UserId: 'a' });
    zg.seedUser('k', { UserId: 'b' });
    let r = await act('KickoutUser', { RoomId: 'k', 'UserId[]': 'a', CustomReason: 'bye now' });
    assert.equal(r.json.Code, 0);
    assert.deepEqual(zg.usersIn('k'), ['b']);
    assert.deepEqual(zg.kicked.map((x) => [x.RoomId, x.UserId, x.CustomReason]), [['k', 'a', 'bye now']]);
    r = await act('KickoutUser', { RoomId: 'k', 'UserId[]': 'a' });
    assert.equal(r.json.Code, 105);
    r = await act('KickoutUser', { RoomId: 'k', 'UserId[]': 'b' });
    assert.equal(r.json.Code, 0);
    assert.equal(zg.rooms.has('k'), false, 'empty room destroyed');
    r = await act('KickoutUser', { RoomId: 'k', 'UserId[]': 'b' });
    assert.equal(r.json.Code, 104);
    assertClean(zg);

    r = await act('KickoutUser', { RoomId: 'k', 'UserId[]': ['1', '2', '3', '4', '5', '6'] });
    assert.equal(r.json.Code, 50011);
    assertViolation(zg, /max 5/);
    r = await act('KickoutUser', { RoomId: 'k', 'UserId[]': 'a', CustomReason: 'x'.repeat(257) });
    assert.equal(r.json.Code, 3);
    assertViolation(zg, /CustomReason/);
  });

  test('CloseRoom: closes; absent room → 5024 (not a violation)', async () => {
    zg.seedUser('c', { UserId: 'a' });
    zg.seedUser('c', { UserId: 'b' });
    let r = await act('CloseRoom', { RoomId: 'c', RoomCloseCallback: 'true' });
    assert.equal(r.json.Code, 0);
    assert.equal(zg.rooms.has('c'), false);
    assert.deepEqual(zg.closedRooms.map((x) => [x.RoomId, x.users.sort()]), [['c', ['a', 'b']]]);
    r = await act('CloseRoom', { RoomId: 'c' });
    assert.equal(r.json.Code, 5024);
    assertClean(zg);
  });

  test('faults: HTTP 200 with an error Code body, malformed, reset, timeout', async () => {
    zg.fail({ match: 'DescribeUserList', status: 200, body: { Code: 206, Message: 'qps limit', RequestId: '1' } });
    let r = await act('DescribeUserNum', { 'RoomId[]': 'r' });
    assert.equal(r.json.Code, 0);
    r = await act('DescribeUserList', { RoomId: 'r' });
    assert.equal(r.status, 200);
    assert.equal(r.json.Code, 206);

    zg.fail({ match: 'Action=CloseRoom', mode: 'malformed' });
    r = await act('CloseRoom', { RoomId: 'r' });
    assert.equal(r.status, 200);
    assert.equal(r.json, undefined);

    zg.fail({ mode: 'reset' });
    await assert.rejects(act('DescribeUserNum', { 'RoomId[]': 'r' }));

    zg.seedUser('t', { UserId: 'a' });
    zg.fail({ mode: 'timeout', match: 'KickoutUser' });
    await assert.rejects(
      http(`${zg.url}/?${zg.signedQuery('KickoutUser', { RoomId: 't', 'UserId[]': 'a' })}`, { signal: AbortSignal.timeout(200) }),
      (e) => e.name === 'TimeoutError' || e.name === 'AbortError',
    );
    assert.deepEqual(zg.usersIn('t'), ['a'], 'without apply the kick did not happen');
    assertClean(zg);
  });
});

// ---------------------------------------------------------------------------------------------
describe('startAll and shutdown', () => {
  test('starts all three, aggregates violations, and closes despite parked requests', async () => {
    const v = await startAll({ livekit: LK, agora: AG, zego: ZG });
    try {
      assert.equal(v.list.length, 3);
      await http(`${v.agora.url}/dev/v1/channel/user/${AG.appId}/x`); // no auth → violation
      assert.equal(v.violations().length, 1);
      assert.equal(v.violations()[0].vendor, 'agora');
      assert.match(v.describeViolations(), /agora/);

      // park one request per stand-in and close while they hang
      for (const h of v.list) h.failAll({ mode: 'timeout' });
      const token = await lkToken({ roomList: true });
      const pending = [
        fetch(`${v.livekit.url}/twirp/livekit.RoomService/ListRooms`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: '{}' }),
        fetch(`${v.agora.url}/dev/v1/channel/user/${AG.appId}/x`, { headers: { authorization: v.agora.authorization } }),
        fetch(`${v.zego.url}/?${v.zego.signedQuery('DescribeUserNum', { 'RoomId[]': 'r' })}`),
      ].map((p) => p.then(() => 'answered', () => 'failed'));
      // a parked call is logged (done, fault 'timeout') as soon as it is parked
      await Promise.all(v.list.map((h) => h.waitForCall((c) => c.fault === 'timeout', { timeout: 2000 })));
      const started = Date.now();
      await v.close();
      assert.ok(Date.now() - started < 2000, 'close() must not wait for parked requests');
      assert.deepEqual(await Promise.all(pending), ['failed', 'failed', 'failed']);
    } finally {
      await v.close();
    }
  });

  test('a fixed port can be given', async () => {
    const probe = await startZego({ port: 0, ...ZG });
    const port = probe.port;
    await probe.close();
    const z = await startZego({ port, ...ZG });
    assert.equal(z.url, `http://127.0.0.1:${port}`);
    await z.close();
  });
});
