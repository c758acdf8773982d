// rtc.room.* / rtc.participant.* / discovery against the real Worker (workerd under `wrangler dev`,
// local D1/KV) and the strict vendor stand-ins (tests/e2e/support/standins): rooms on each vendor pinned with
// `vendor`, occupancy and participants from the vendor, every vendor error mapped to a stable code
// without the vendor's words, idempotent create under 50-way concurrency, keyset paging while rooms
// come and go, project isolation, routing with failover and the circuit breaker, and discovery.
//
// Two Workers:
//  - `main`: LiveKit + Agora + ZEGO on their stand-ins, RTC_VENDOR_ORDER=livekit,agora,zego,
//    VENDOR_TIMEOUT_MS=1500 (quick timeouts), VENDOR_COOLDOWN_MS=12000 (a breaker cool-down short
//    enough to wait out, long enough for the checks made while it is open on a busy 2-core machine);
//  - `config`: LiveKit configured with a WRONG secret (its own stand-in, which refuses it),
//    Agora misconfigured (certificate not 32 hex), ZEGO unconfigured, order agora,livekit,zego —
//    for discovery of configuration, VENDOR_AUTH_FAILED from a real credential refusal, and
//    pins of unusable vendors.
//
// Run: node --test --test-concurrency=1 tests/e2e/rooms.test.mjs   (after `bash scripts/build.sh`)

import { describe, test, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';

import { startWorker, api as rawApi, adminSetup, randomToken } from './support/harness.mjs';
import { startLiveKit } from './support/standins/index.mjs';
import { CREDS, startVendorStandins, vendorVars, assertError, assertNoViolations } from './support/fixtures.mjs';

const ADMIN = randomToken();
const VENDOR_TIMEOUT_MS = 1500;
const COOLDOWN_MS = 12_000;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const ROOM_ID = /^rm_[A-Za-z0-9]{22}$/; // 22 base62 characters ≈ 131 random bits
const VENDORS = ['livekit', 'agora', 'zego'];

const { livekit: LK, agora: AG, zego: ZG } = CREDS; // the standard test credentials (fixtures.mjs)
const LK_WRONG_SECRET = 'rooms-e2e-WRONG-livekit-secret-fedcba987654';
const AG_BAD_CERT = 'this-is-not-a-hex-certificate!!!'; // 32 chars, not hex

// Secrets of both Workers: none may ever appear in a response.
const SECRETS = [LK.apiSecret, LK_WRONG_SECRET, AG.certificate, AG_BAD_CERT, AG.customerSecret, ZG.serverSecret];

let vendors; // stand-ins of `main`
let lk;
let ag;
let zg;
let lkBad; // LiveKit stand-in of `config` (it knows LK.apiSecret; the Worker signs with LK_WRONG_SECRET)
let w; // main Worker
let wc; // config Worker

before(async () => {
  [vendors, lkBad] = await Promise.all([startVendorStandins(), startLiveKit(LK)]);
  ({ livekit: lk, agora: ag, zego: zg } = vendors);
  [w, wc] = await Promise.all([
    startWorker({
      name: 'rooms-main',
      vars: {
        ADMIN_TOKEN: ADMIN,
        RTC_VENDOR_ORDER: 'livekit,agora,zego',
        VENDOR_TIMEOUT_MS,
        VENDOR_COOLDOWN_MS: COOLDOWN_MS,
        ...vendorVars(vendors),
      },
    }),
    startWorker({
      name: 'rooms-config',
      vars: {
        ADMIN_TOKEN: ADMIN,
        RTC_VENDOR_ORDER: 'agora,livekit,zego',
        VENDOR_TIMEOUT_MS,
        ...vendorVars({ livekit: lkBad, agora: ag }), // ZEGO unconfigured
        LIVEKIT_API_SECRET: LK_WRONG_SECRET, // on purpose: lkBad knows LK.apiSecret and refuses it
        AGORA_APP_CERTIFICATE: AG_BAD_CERT, // on purpose: Agora misconfigured
      },
    }),
  ]);
});

after(async () => {
  await Promise.all([w?.stop(), wc?.stop()]);
  await Promise.all([vendors?.close(), lkBad?.close()]);
});

beforeEach(() => {
  vendors.reset(); // calls, faults and state of the main stand-ins
});

afterEach(() => {
  // The Worker never sent a request a vendor would reject (bad auth, path, field, signature…).
  assertNoViolations(vendors);
});

// ---------------------------------------------------------------------------------------------
// helpers

let projectCount = 0;
/** A fresh project on `worker` (so room lists start empty); returns its API key. */
async function newProject(worker = w, label = 'p') {
  const { key } = await adminSetup(worker, { projectName: `rooms-${label}-${++projectCount}` });
  return key;
}

const createRoom = (key, body, opts = {}) => api(opts.worker ?? w, 'POST', '/v1/rtc/room/create', { key, body, headers: opts.headers });
const getRoom = (key, room, worker = w) => api(worker, 'GET', `/v1/rtc/room/get/${encodeURIComponent(room)}`, { key });
const listRooms = (key, query = '', worker = w) => api(worker, 'GET', `/v1/rtc/room/list${query}`, { key });
const deleteRoom = (key, room, worker = w) => api(worker, 'DELETE', `/v1/rtc/room/delete/${encodeURIComponent(room)}`, { key });
const listParticipants = (key, room) => api(w, 'GET', `/v1/rtc/participant/list/${encodeURIComponent(room)}`, { key });
const kick = (key, room, body) => api(w, 'POST', `/v1/rtc/participant/kick/${encodeURIComponent(room)}`, { key, body });
const issueToken = (key, body) => api(w, 'POST', '/v1/rtc/token/issue', { key, body });
const discovery = (key, capability, worker = w) => api(worker, 'GET', `/v1/discovery/${capability}`, { key });

function assertNoSecrets(res) {
  for (const s of SECRETS) assert.ok(!res.text.includes(s), `response carries a secret: ${res.text}`);
}

/** Every API call goes through here: no response, success or error, may carry a vendor secret. */
async function api(...args) {
  const res = await rawApi(...args);
  assertNoSecrets(res);
  return res;
}

/** The response carries none of `texts` (vendor words that must not reach the client). */
function assertNoVendorText(res, texts) {
  for (const t of texts) assert.ok(!res.text.includes(t), `vendor text ${JSON.stringify(t)} reached the client: ${res.text}`);
}

/**
 * Runs an assertion, recording its failure in `problems` instead of throwing, so one test can
 * report every mapping problem at once; the test asserts `problems` is empty at its end.
 */
function soft(problems, what, fn) {
  try {
    return fn();
  } catch (e) {
    problems.push(`${what}: ${e.message.split('\n')[0]}`);
    return undefined;
  }
}

async function mustCreate(key, body, opts) {
  const r = await createRoom(key, body, opts);
  assert.equal(r.status, 201, r.text);
  assert.match(r.json.room, ROOM_ID);
  return r.json;
}

function okTrue(res) {
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json, { ok: true });
}

/** Ids of every room a project's list shows (all pages). */
async function allRoomIds(key, worker = w) {
  const ids = [];
  let cursor = null;
  for (let i = 0; i < 100; i++) {
    const r = await listRooms(key, `?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, worker);
    assert.equal(r.status, 200, r.text);
    ids.push(...r.json.items.map((x) => x.room));
    cursor = r.json.next_cursor;
    if (!cursor) return ids;
  }
  throw new Error('list did not end');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a truthy value; bounded (not a timed assertion). */
async function waitFor(what, probe, { timeoutMs = 15_000, everyMs = 200 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await probe();
    if (last) return last;
    await sleep(everyMs);
  }
  throw new Error(`gave up waiting for ${what}`);
}

function statusesOf(res) {
  assert.equal(res.status, 200, res.text);
  return Object.fromEntries(res.json.vendors.map((v) => [v.vendor, v.status]));
}

/** Calls a stand-in received since `mark` (an index into `handle.calls`). */
const since = (handle, mark) => handle.calls.slice(mark);
const opsSince = (handle, mark) => since(handle, mark).map((c) => c.op);

// Per-vendor seeding and checks of the vendor-side state, keyed by vendor name.
const SIDE = {
  livekit: {
    occupancyOp: 'ListRooms',
    listOp: 'ListParticipants',
    deleteOp: 'DeleteRoom',
    seedN: (roomId, n) => {
      for (let i = 1; i <= n; i++) lk.seedParticipant(roomId, { identity: `lk-user-${i}` }); // STANDARD only
    },
    isClosed: (roomId) => !lk.rooms.has(roomId) && lk.deletedRooms.some((d) => d.name === roomId),
  },
  agora: {
    occupancyOp: 'QueryUserList',
    listOp: 'QueryUserList',
    deleteOp: 'CreateKickingRule',
    seedN: (roomId, n) => {
      for (let i = 1; i <= n; i++) assert.ok(ag.seedUser(roomId, 1000 + i));
    },
    isClosed: (roomId) => ag.usersIn(roomId).length === 0 && ag.rules.some((r) => r.cname === roomId && r.uid === undefined && r.seconds === 0),
  },
  zego: {
    occupancyOp: 'DescribeUserNum',
    listOp: 'DescribeUserList',
    deleteOp: 'CloseRoom',
    seedN: (roomId, n) => {
      for (let i = 1; i <= n; i++) zg.seedUser(roomId, { UserId: `zg-user-${i}` });
    },
    isClosed: (roomId) => zg.usersIn(roomId).length === 0 && zg.closedRooms.some((c) => c.RoomId === roomId),
  },
};
const handleOf = (vendor) => ({ livekit: lk, agora: ag, zego: zg })[vendor];

// ---------------------------------------------------------------------------------------------

for (const vendor of VENDORS) {
  describe(`rooms on ${vendor} (pinned)`, () => {
    test(`${vendor}: create → get (occupancy from the vendor) → list → name taken → delete (vendor closes it) → 404 → name free`, async () => {
      const key = await newProject(w, vendor);
      const side = SIDE[vendor];
      const h = handleOf(vendor);
      const body = {
        name: `standup-${vendor}`,
        max_participants: 8,
        empty_timeout_s: 120,
        metadata: { topic: 'daily', n: 3 },
        region: 'eu-west',
        vendor,
      };
      const created = await createRoom(key, body);
      assert.equal(created.status, 201, created.text);
      const room = created.json;
      assert.match(room.room, ROOM_ID);
      assert.equal(room.name, body.name);
      assert.equal(room.max_participants, 8);
      assert.match(room.created_at, RFC3339_UTC);
      assert.ok(Math.abs(Date.parse(room.created_at) - Date.now()) < 10 * 60_000);
      assert.equal(room.vendor, vendor);
      assert.equal(room.empty_timeout_s, 120);
      assert.deepEqual(room.metadata, { topic: 'daily', n: 3 });
      assert.equal(room.region, 'eu-west');
      assert.equal(room.enable_recording, false);

      if (vendor === 'livekit') {
        // CreateRoom with the room id as the LiveKit name (never the user's name).
        const calls = lk.callsTo('CreateRoom');
        assert.equal(calls.length, 1);
        const m = calls[0].message;
        assert.equal(m.name, room.room);
        assert.equal(m.emptyTimeout, 120);
        assert.equal(m.maxParticipants, 8);
        assert.deepEqual(JSON.parse(m.metadata), { topic: 'daily', n: 3 });
        assert.ok(lk.rooms.has(room.room));
      } else {
        assert.equal(h.calls.length, 0, `${vendor} has no room object: create makes no vendor call`);
      }

      // Occupancy comes from the vendor.
      side.seedN(room.room, 3);
      let mark = h.calls.length;
      const got = await getRoom(key, room.room);
      assert.equal(got.status, 200, got.text);
      assert.equal(got.json.num_participants, 3);
      assert.equal(got.json.live, true);
      for (const k of ['room', 'name', 'max_participants', 'created_at', 'vendor', 'empty_timeout_s', 'metadata', 'region', 'enable_recording']) {
        assert.deepEqual(got.json[k], room[k], k);
      }
      const occ = since(h, mark);
      assert.deepEqual(occ.map((c) => c.op), [side.occupancyOp]);
      if (vendor === 'livekit') assert.deepEqual(occ[0].message.names, [room.room]);
      if (vendor === 'agora') assert.equal(occ[0].path, `/dev/v1/channel/user/${AG.appId}/${room.room}`);
      if (vendor === 'zego') assert.equal(occ[0].query['RoomId[]'], room.room);

      // By name too.
      const byName = await getRoom(key, body.name);
      assert.equal(byName.status, 200, byName.text);
      assert.equal(byName.json.room, room.room);
      assert.equal(byName.json.num_participants, 3);

      const list = await listRooms(key);
      assert.equal(list.status, 200, list.text);
      assert.deepEqual(list.json.items.map((x) => x.room), [room.room]);
      assert.equal(list.json.items[0].name, body.name);
      assert.equal(list.json.items[0].vendor, vendor);
      assert.equal(list.json.next_cursor, null);

      // The name is taken: 409 with the existing id, and no vendor call.
      mark = h.calls.length;
      const taken = await createRoom(key, { name: body.name, vendor });
      const e = assertError(taken, 409, 'ROOM_NAME_TAKEN');
      assert.equal(e.room, room.room);
      assert.equal(h.calls.length, mark);

      // Delete: the vendor closes the room, then the record goes.
      mark = h.calls.length;
      okTrue(await deleteRoom(key, room.room));
      const del = since(h, mark);
      assert.deepEqual(del.map((c) => c.op), [side.deleteOp]);
      if (vendor === 'livekit') assert.equal(del[0].message.room, room.room);
      if (vendor === 'agora') {
        assert.deepEqual(del[0].body, { appid: AG.appId, cname: room.room, time: 0, privileges: ['join_channel'] });
      }
      if (vendor === 'zego') assert.equal(del[0].query.RoomId, room.room);
      assert.ok(side.isClosed(room.room), `${vendor} did not close ${room.room}`);

      assertError(await getRoom(key, room.room), 404, 'ROOM_NOT_FOUND');
      assertError(await getRoom(key, body.name), 404, 'ROOM_NOT_FOUND');
      assertError(await deleteRoom(key, room.room), 404, 'ROOM_NOT_FOUND');
      const after = await listRooms(key);
      assert.deepEqual(after.json.items, []);

      // The name is free again; the new room has a new id.
      const again = await mustCreate(key, { name: body.name, vendor });
      assert.notEqual(again.room, room.room);
      okTrue(await deleteRoom(key, again.room));
    });

    test(`${vendor}: participant list and kick`, async () => {
      const key = await newProject(w, `${vendor}-people`);
      const room = await mustCreate(key, { name: 'people', vendor });
      const h = handleOf(vendor);

      if (vendor === 'livekit') {
        lk.seedParticipant(room.room, { identity: 'alice', name: 'Alice', joined_at: 1_700_000_000 });
        lk.seedParticipant(room.room, { identity: 'bob', joined_at: 1_700_000_100 });
        let mark = lk.calls.length;
        const l = await listParticipants(key, room.room);
        assert.equal(l.status, 200, l.text);
        const items = [...l.json.items].sort((a, b) => a.identity.localeCompare(b.identity));
        assert.deepEqual(items.map((p) => p.identity), ['alice', 'bob']);
        assert.equal(items[0].display_name, 'Alice');
        assert.equal(Date.parse(items[0].joined_at), 1_700_000_000_000);
        assert.equal(Date.parse(items[1].joined_at), 1_700_000_100_000);
        assert.deepEqual(opsSince(lk, mark), ['ListParticipants']);
        assert.equal(since(lk, mark)[0].message.room, room.room);
        // occupancy agrees with the list
        assert.equal((await getRoom(key, room.room)).json.num_participants, 2);

        mark = lk.calls.length;
        okTrue(await kick(key, room.room, { identity: 'bob' }));
        assert.deepEqual(opsSince(lk, mark), ['RemoveParticipant']);
        assert.deepEqual(
          [since(lk, mark)[0].message.room, since(lk, mark)[0].message.identity],
          [room.room, 'bob'],
        );
        assert.deepEqual(lk.kicked.map((k) => [k.room, k.identity]), [[room.room, 'bob']]);
        const l2 = await listParticipants(key, room.name); // by name
        assert.deepEqual(l2.json.items.map((p) => p.identity), ['alice']);
      }

      if (vendor === 'agora') {
        // The registry learns identity ⇄ uid when a token is minted.
        const ta = await issueToken(key, { room: room.room, identity: 'alice', display_name: 'Alice' });
        assert.equal(ta.status, 200, ta.text);
        assert.equal(ta.json.vendor, 'agora');
        const tb = await issueToken(key, { room: room.room, identity: 'bob' });
        assert.equal(tb.status, 200, tb.text);
        const uidA = ta.json.join.uid;
        const uidB = tb.json.join.uid;
        assert.ok(Number.isInteger(uidA) && uidA > 0 && Number.isInteger(uidB) && uidB > 0 && uidA !== uidB, `${uidA} ${uidB}`);
        // The same identity keeps its uid.
        const ta2 = await issueToken(key, { room: room.room, identity: 'alice' });
        assert.equal(ta2.json.join.uid, uidA);
        assert.equal(ag.calls.length, 0, 'tokens are minted without vendor calls');

        assert.ok(ag.seedUser(room.room, uidA));
        assert.ok(ag.seedUser(room.room, uidB));
        // The registry rows that name the uids are written after the tokens' responses (50 ms
        // and a D1 write later); until then the list shows the bare uids.
        const named = (r) => r.status === 200 && r.json.items.every((p) => !/^\d+$/.test(p.identity));
        for (let tries = 0; !named(await listParticipants(key, room.room)) && tries < 20; tries++) {
          await new Promise((r) => setTimeout(r, 100));
        }
        let mark = ag.calls.length;
        const l = await listParticipants(key, room.room);
        assert.equal(l.status, 200, l.text);
        const items = [...l.json.items].sort((a, b) => a.identity.localeCompare(b.identity));
        assert.deepEqual(items.map((p) => p.identity), ['alice', 'bob']);
        assert.equal(items[0].display_name, 'Alice');
        assert.equal(items[0].joined_at, null);
        assert.deepEqual(opsSince(ag, mark), ['QueryUserList']);

        mark = ag.calls.length;
        okTrue(await kick(key, room.room, { identity: 'bob' }));
        const calls = since(ag, mark);
        assert.deepEqual(calls.map((c) => c.op), ['QueryUserList', 'CreateKickingRule']);
        assert.deepEqual(calls[1].body, { appid: AG.appId, cname: room.room, uid: uidB, time: 0, privileges: ['join_channel'] });
        assert.deepEqual(ag.usersIn(room.room), [uidA]);
        assert.equal(ag.isBanned(room.room, uidB), false, 'time 0 kicks without a lasting ban');
        const l2 = await listParticipants(key, room.room);
        assert.deepEqual(l2.json.items.map((p) => p.identity), ['alice']);
      }

      if (vendor === 'zego') {
        // More users than one DescribeUserList page: the Worker must follow Marker to the end.
        zg.setPageCap(2);
        const t0 = Date.now() - 60_000;
        for (let i = 1; i <= 5; i++) zg.seedUser(room.room, { UserId: `zu${i}`, UserName: `Zed ${i}`, LoginTime: t0 + i });
        let mark = zg.calls.length;
        const l = await listParticipants(key, room.room);
        assert.equal(l.status, 200, l.text);
        assert.equal(l.json.items.length, 5, `duplicates or gaps: ${l.text}`);
        assert.deepEqual(l.json.items.map((p) => p.identity).sort(), ['zu1', 'zu2', 'zu3', 'zu4', 'zu5']);
        assert.equal(l.json.items.find((p) => p.identity === 'zu3').display_name, 'Zed 3');
        assert.ok(l.json.items.every((p) => p.joined_at === null));
        const pages = since(zg, mark);
        assert.deepEqual(pages.map((c) => c.op), ['DescribeUserList', 'DescribeUserList', 'DescribeUserList']);
        assert.equal(pages[0].query.Marker, undefined);
        assert.ok(pages[1].query.Marker && pages[2].query.Marker && pages[1].query.Marker !== pages[2].query.Marker);
        assert.ok(pages.every((c) => c.query.RoomId === room.room));
        zg.setPageCap(Infinity);

        mark = zg.calls.length;
        okTrue(await kick(key, room.room, { identity: 'zu3' }));
        const k = since(zg, mark);
        // Presence first (KickoutUser may answer success for someone absent), then the kick.
        assert.deepEqual(k.map((c) => c.op), ['DescribeUsers', 'KickoutUser']);
        for (const c of k) assert.deepEqual([c.query.RoomId, c.query['UserId[]']], [room.room, 'zu3']);
        assert.deepEqual(zg.kicked.map((x) => [x.RoomId, x.UserId]), [[room.room, 'zu3']]);
        const l2 = await listParticipants(key, room.room);
        assert.deepEqual(l2.json.items.map((p) => p.identity).sort(), ['zu1', 'zu2', 'zu4', 'zu5']);
      }

      // Someone not in the room: 404 PARTICIPANT_NOT_FOUND (and the vendor was asked).
      const gone = vendor === 'livekit' ? 'bob' : vendor === 'agora' ? 'bob' : 'zu3';
      for (const identity of [gone, 'never-was-here']) {
        const mark = h.calls.length;
        const e = assertError(await kick(key, room.room, { identity }), 404, 'PARTICIPANT_NOT_FOUND');
        assert.equal(e.identity, identity);
        if (vendor !== 'agora' || identity === gone) assert.ok(h.calls.length > mark, 'the vendor decides who is in the room');
      }
      // Agora kicked nobody else; a kick of someone absent never sends a kicking rule.
      if (vendor === 'agora') assert.equal(ag.rules.filter((r) => r.uid !== undefined).length, 1);
      if (vendor === 'zego') {
        // Even when ZEGO's KickoutUser answers success for a user who is not there, the
        // answer is 404, and no kick is sent for them.
        zg.codes.kickUserMissing = 0;
        const mark = zg.calls.length;
        assertError(await kick(key, room.room, { identity: 'never-was-here' }), 404, 'PARTICIPANT_NOT_FOUND');
        assert.deepEqual(opsSince(zg, mark), ['DescribeUsers']);
        assert.deepEqual(zg.usersIn(room.room).sort(), ['zu1', 'zu2', 'zu4', 'zu5'], 'the others are still in the room');
      }
    });

    test(`${vendor}: vendor failures → stable codes, no vendor words in the answer`, async () => {
      const key = await newProject(w, `${vendor}-faults`);
      const side = SIDE[vendor];
      const h = handleOf(vendor);
      const room = await mustCreate(key, { name: 'faulty', vendor });
      const op = side.listOp;
      const list = () => listParticipants(key, room.room);
      // A recognizable vendor message in every fault body: it must never reach the client.
      const LEAK = `internal-${vendor}-detail shard=7 host=10.9.8.7`;
      const vendorBody = (status) =>
        vendor === 'livekit' ? { code: { 401: 'unauthenticated', 500: 'internal', 503: 'unavailable' }[status], msg: LEAK }
          : vendor === 'agora' ? { message: LEAK }
            : { Code: 1, Message: LEAK, RequestId: '8123456789012345678' };
      const LEAKS = [LEAK, 'stand-in fault', 'garbage', '<html>', 'truncated'];
      const problems = [];
      const noLeak = (res, what) => soft(problems, `${what}: vendor words`, () => assertNoVendorText(res, LEAKS));

      // 5xx → 502 VENDOR_UNAVAILABLE
      h.fail({ match: op, status: 503, body: vendorBody(503) });
      let r = await list();
      let e = assertError(r, 502, 'VENDOR_UNAVAILABLE');
      assert.equal(e.vendor, vendor);
      noLeak(r, '5xx (vendor body)');
      // the default stand-in fault body too
      h.fail({ match: op, status: 500 });
      r = await list();
      assertError(r, 502, 'VENDOR_UNAVAILABLE');
      noLeak(r, '5xx (default body)');

      // timeout → 504 VENDOR_TIMEOUT
      h.fail({ match: op, mode: 'timeout' });
      e = assertError(await list(), 504, 'VENDOR_TIMEOUT');
      assert.equal(e.vendor, vendor);

      // malformed body (HTTP 200, not JSON) → 502 VENDOR_UNAVAILABLE
      h.fail({ match: op, mode: 'malformed' });
      r = await list();
      assertError(r, 502, 'VENDOR_UNAVAILABLE');
      noLeak(r, 'malformed');

      // connection reset → 502 VENDOR_UNAVAILABLE
      h.fail({ match: op, mode: 'reset' });
      assertError(await list(), 502, 'VENDOR_UNAVAILABLE');

      // HTTP 401 → 502 VENDOR_AUTH_FAILED
      h.fail({ match: op, status: 401, body: vendorBody(401) });
      r = await list();
      e = soft(problems, 'HTTP 401', () => assertError(r, 502, 'VENDOR_AUTH_FAILED'));
      if (e) assert.equal(e.vendor, vendor);
      noLeak(r, '401');

      // HTTP 429 → 503 VENDOR_RATE_LIMITED with the vendor's Retry-After
      h.fail({ match: op, status: 429, headers: { 'retry-after': '7' } });
      r = await list();
      soft(problems, 'HTTP 429', () => {
        assertError(r, 503, 'VENDOR_RATE_LIMITED');
        assert.equal(r.headers.get('retry-after'), '7');
      });
      noLeak(r, '429');

      if (vendor === 'zego') {
        // ZEGO's own way (HTTP 200 + Code): signature refused → auth; per-room throttle → 503.
        h.fail({ match: op, status: 200, body: { Code: 100000005, Message: LEAK, RequestId: '7000000000000000001' } });
        r = await list();
        e = assertError(r, 502, 'VENDOR_AUTH_FAILED');
        assert.equal(e.vendor_request_id, '7000000000000000001', 'the vendor request id may travel');
        noLeak(r, 'zego code 100000005');
        h.fail({ match: op, status: 200, body: { Code: 207, Message: LEAK, RequestId: '7000000000000000002' } });
        r = await list();
        assertError(r, 503, 'VENDOR_RATE_LIMITED');
        assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
        noLeak(r, 'zego code 207');
      }
      if (vendor === 'livekit') {
        // A failing CreateRoom leaves no record behind; the name stays free.
        lk.fail({ match: 'CreateRoom', status: 503, body: vendorBody(503) });
        r = await createRoom(key, { name: 'never-made', vendor });
        assertError(r, 502, 'VENDOR_UNAVAILABLE');
        noLeak(r, 'CreateRoom 5xx');
        lk.fail({ match: 'CreateRoom', mode: 'timeout' });
        assertError(await createRoom(key, { name: 'never-made', vendor }), 504, 'VENDOR_TIMEOUT');
        assert.deepEqual(await allRoomIds(key), [room.room]);
        const made = await mustCreate(key, { name: 'never-made', vendor });
        okTrue(await deleteRoom(key, made.room));
      }
      assert.deepEqual(h.pendingFaults(), [], 'every fault was used');

      // get with the vendor unreachable: the stored room, num_participants null, live false.
      side.seedN(room.room, 2);
      h.fail({ match: side.occupancyOp, mode: 'reset' });
      let g = await getRoom(key, room.room);
      assert.equal(g.status, 200, g.text);
      assert.equal(g.json.room, room.room);
      assert.equal(g.json.name, 'faulty');
      assert.equal(g.json.vendor, vendor);
      assert.equal(g.json.num_participants, null);
      assert.equal(g.json.live, false);
      // … and with it answering 5xx
      h.fail({ match: side.occupancyOp, status: 503, body: vendorBody(503) });
      g = await getRoom(key, room.room);
      assert.equal(g.status, 200, g.text);
      assert.deepEqual([g.json.num_participants, g.json.live], [null, false]);
      noLeak(g, 'get with 5xx');
      // healthy again: live occupancy
      g = await getRoom(key, room.room);
      assert.deepEqual([g.json.num_participants, g.json.live], [2, true]);

      // A failed vendor delete keeps the room as it was; the retry works.
      h.fail({ match: side.deleteOp, status: 503, body: vendorBody(503) });
      r = await deleteRoom(key, room.room);
      assertError(r, 502, 'VENDOR_UNAVAILABLE');
      noLeak(r, 'delete 5xx');
      g = await getRoom(key, room.room);
      assert.equal(g.status, 200, g.text);
      assert.equal(g.json.num_participants, 2, 'the vendor room is untouched');
      assert.deepEqual(await allRoomIds(key), [room.room]);
      if (vendor === 'livekit') {
        // A timed-out delete that went through at the vendor: the room stays; the retry finds
        // it gone at the vendor and finishes.
        lk.fail({ match: 'DeleteRoom', mode: 'timeout', apply: true });
        assertError(await deleteRoom(key, room.room), 504, 'VENDOR_TIMEOUT');
        assert.equal((await getRoom(key, room.room)).status, 200);
        assert.ok(!lk.rooms.has(room.room));
      }
      okTrue(await deleteRoom(key, room.room));
      assert.ok(side.isClosed(room.room));
      assertError(await getRoom(key, room.room), 404, 'ROOM_NOT_FOUND');
      assert.deepEqual(problems, [], `error mapping problems on ${vendor}:\n${problems.join('\n')}`);
    });
  });
}

describe('routing errors and unknown rooms', () => {
  test('unknown room → 404 ROOM_NOT_FOUND on get, delete, participant list and kick, with no vendor call', async () => {
    const key = await newProject(w, 'unknown');
    for (const ref of ['rm_AAAAAAAAAAAAAAAAAAAAAA', 'no-such-room']) {
      assertError(await getRoom(key, ref), 404, 'ROOM_NOT_FOUND');
      assertError(await deleteRoom(key, ref), 404, 'ROOM_NOT_FOUND');
      assertError(await listParticipants(key, ref), 404, 'ROOM_NOT_FOUND');
      assertError(await kick(key, ref, { identity: 'alice' }), 404, 'ROOM_NOT_FOUND');
    }
    assert.equal(lk.calls.length + ag.calls.length + zg.calls.length, 0);
  });

  test('unknown vendor pin → 400 UNKNOWN_VENDOR; a pin that disagrees with the room → 409 VENDOR_MISMATCH', async () => {
    const key = await newProject(w, 'pins');
    let e = assertError(await createRoom(key, { name: 'x', vendor: 'twilio' }), 400, 'UNKNOWN_VENDOR');
    assert.equal(e.field, 'vendor');
    assert.deepEqual(await allRoomIds(key), []);

    const room = await mustCreate(key, { name: 'lk-room', vendor: 'livekit' });
    lk.seedParticipant(room.room, { identity: 'alice' });
    const mark = lk.calls.length;
    for (const pin of ['agora', 'zego']) {
      e = assertError(await kick(key, room.room, { identity: 'alice', vendor: pin }), 409, 'VENDOR_MISMATCH');
      assert.equal(e.vendor, 'livekit');
    }
    assertError(await kick(key, room.room, { identity: 'alice', vendor: 'twilio' }), 400, 'UNKNOWN_VENDOR');
    assert.equal(lk.calls.length, mark, 'a refused pin makes no vendor call');
    assert.ok(lk.rooms.get(room.room).participants.has('alice'));
    // The agreeing pin works.
    okTrue(await kick(key, room.room, { identity: 'alice', vendor: 'livekit' }));
    assert.deepEqual(lk.kicked.map((k) => k.identity), ['alice']);
  });
});

describe('idempotency', () => {
  test('50 concurrent creates with one key → one room, one CreateRoom, 50 identical answers (49 replayed); other body → 422', async () => {
    const key = await newProject(w, 'idem');
    const body = { name: 'once', vendor: 'livekit', max_participants: 4, metadata: { a: 1 }, idempotency_key: `k-${randomToken(8)}` };
    const results = await Promise.all(Array.from({ length: 50 }, () => createRoom(key, body)));
    for (const r of results) assert.equal(r.status, 201, r.text);
    const first = results[0].json;
    assert.match(first.room, ROOM_ID);
    for (const r of results) assert.deepEqual(r.json, first);
    const replayed = results.filter((r) => r.headers.get('idempotent-replayed') === 'true');
    assert.equal(replayed.length, 49, `Idempotent-Replayed on ${replayed.length} of 50`);
    assert.equal(results.filter((r) => r.headers.get('idempotent-replayed') === null).length, 1);

    assert.deepEqual(await allRoomIds(key), [first.room]);
    assert.equal(lk.callsTo('CreateRoom').length, 1);
    assert.equal(lk.callsTo('CreateRoom')[0].message.name, first.room);

    // A later retry replays too (key in the header this time, same body).
    const { idempotency_key: idemKey, ...rest } = body;
    const retry = await createRoom(key, rest, { headers: { 'Idempotency-Key': idemKey } });
    assert.equal(retry.status, 201, retry.text);
    assert.deepEqual(retry.json, first);
    assert.equal(retry.headers.get('idempotent-replayed'), 'true');

    // Same key, different body → 422, nothing created.
    const other = await createRoom(key, { ...body, max_participants: 5 });
    assertError(other, 422, 'IDEMPOTENCY_KEY_REUSED');
    assert.deepEqual(await allRoomIds(key), [first.room]);
    assert.equal(lk.callsTo('CreateRoom').length, 1);
  });
});

describe('paging', () => {
  test('250 rooms paged with limit 7 while others are created and deleted: each survivor exactly once', async () => {
    const key = await newProject(w, 'paging');
    const ids = [];
    for (let batch = 0; batch < 25; batch++) {
      const made = await Promise.all(
        Array.from({ length: 10 }, (_, i) => mustCreate(key, { name: `page-${batch * 10 + i}`, vendor: 'agora' })),
      );
      ids.push(...made.map((r) => r.room));
    }
    assert.equal(new Set(ids).size, 250);
    assert.equal(ag.calls.length, 0, 'agora rooms are records only');

    // Bad limit / cursor → 400.
    for (const q of ['?limit=0', '?limit=101', '?limit=x', '?cursor=bm90LWEtY3Vyc29y', '?cursor=!!', '?cursor=01.rm_x', '?cursor=1.rm%27--']) {
      assertError(await listRooms(key, q), 400, 'INVALID_REQUEST');
    }

    const deleted = new Map(); // id → index of the page fetched after it was deleted
    const createdDuring = [];
    const seen = new Map(); // id → count
    const order = [];
    let cursor = null;
    let pages = 0;
    // Deletion victims in a fixed pseudo-random order over the original rooms.
    // Victims alternate between the newest and the oldest original rooms, so some are deleted
    // after they were listed and some before they are reached.
    const pool = ids.filter((_, i) => i % 9 === 4);
    const victims = pool.map((_, k) => (k % 2 === 0 ? pool[pool.length - 1 - k / 2] : pool[(k - 1) / 2]));
    assert.equal(new Set(victims).size, pool.length);
    let vi = 0;
    for (;;) {
      const r = await listRooms(key, `?limit=7${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(r.status, 200, r.text);
      pages++;
      assert.ok(r.json.items.length <= 7);
      for (const item of r.json.items) {
        seen.set(item.room, (seen.get(item.room) ?? 0) + 1);
        order.push(item);
        const d = deleted.get(item.room);
        assert.ok(d === undefined || d >= pages, `${item.room} was listed after it was deleted`);
      }
      cursor = r.json.next_cursor;
      if (!cursor) break;
      assert.ok(pages < 100, 'paging does not end');
      // Between pages: one new room, and one deletion.
      createdDuring.push((await mustCreate(key, { name: `during-${pages}`, vendor: 'agora' })).room);
      if (vi < victims.length) {
        const id = victims[vi++];
        okTrue(await deleteRoom(key, id));
        deleted.set(id, pages); // pages fetched so far; later pages must not show it
      }
    }
    const survivors = ids.filter((id) => !deleted.has(id));
    for (const id of survivors) assert.equal(seen.get(id), 1, `${id} seen ${seen.get(id) ?? 0} times`);
    for (const [id, n] of seen) assert.equal(n, 1, `${id} repeated`);
    // Newest first.
    for (let i = 1; i < order.length; i++) {
      assert.ok(Date.parse(order[i - 1].created_at) >= Date.parse(order[i].created_at), 'not newest first');
    }
    assert.ok(deleted.size > 10 && createdDuring.length > 20, `${deleted.size} deleted, ${createdDuring.length} created`);
    // Each agora delete ended its channel with a time-0 kicking rule.
    assert.equal(ag.callsTo('CreateKickingRule').length, deleted.size);
  });
});

describe('project isolation', () => {
  test("another project's room is 404 (not 403) for get, delete, participants, kick and token; lists are per project", async () => {
    const [k1, k2] = await Promise.all([newProject(w, 'iso-a'), newProject(w, 'iso-b')]);
    const theirs = await mustCreate(k1, { name: 'standup', vendor: 'livekit' });
    const theirsZ = await mustCreate(k1, { name: 'standup-z', vendor: 'zego' });
    lk.seedParticipant(theirs.room, { identity: 'alice' });
    zg.seedUser(theirsZ.room, { UserId: 'zed' });
    const before = lk.calls.length + zg.calls.length;

    for (const room of [theirs.room, theirsZ.room]) {
      for (const res of [
        await getRoom(k2, room),
        await deleteRoom(k2, room),
        await listParticipants(k2, room),
        await kick(k2, room, { identity: 'alice' }),
        await issueToken(k2, { room, identity: 'mallory' }),
      ]) {
        assertError(res, 404, 'ROOM_NOT_FOUND');
      }
    }
    assert.equal(lk.calls.length + zg.calls.length, before, 'no vendor call for a foreign room');
    assertError(await getRoom(k2, 'standup'), 404, 'ROOM_NOT_FOUND');

    // Project 2 may have its own "standup": a different room and a different vendor-side name.
    const mine = await mustCreate(k2, { name: 'standup', vendor: 'livekit' });
    assert.notEqual(mine.room, theirs.room);
    assert.deepEqual(lk.callsTo('CreateRoom').map((c) => c.message.name), [theirs.room, mine.room]);
    assert.deepEqual(await allRoomIds(k2), [mine.room]);
    assert.deepEqual((await allRoomIds(k1)).sort(), [theirs.room, theirsZ.room].sort());
    assert.equal((await getRoom(k2, 'standup')).json.room, mine.room);
    assert.equal((await getRoom(k1, 'standup')).json.room, theirs.room);

    // Project 1's rooms and people are untouched.
    assert.ok(lk.rooms.get(theirs.room).participants.has('alice'));
    assert.deepEqual(zg.usersIn(theirsZ.room), ['zed']);
    assert.equal(lk.deletedRooms.length + zg.closedRooms.length + lk.kicked.length + zg.kicked.length, 0);
    const g = await getRoom(k1, theirs.room);
    assert.equal(g.json.num_participants, 1);
  });
});

describe('discovery and configuration', () => {
  test('all vendors configured: rtc.room.create and recording all live, default = first in order; unknown capability 404', async () => {
    const key = await newProject(w, 'disc');
    // Earlier fault tests may have opened a breaker for a few seconds: wait for all live.
    await waitFor('every vendor live', async () => {
      const s = statusesOf(await discovery(key, 'rtc.room.create'));
      return s.livekit === 'live' && s.agora === 'live' && s.zego === 'live';
    }, { timeoutMs: 2 * COOLDOWN_MS });
    const d = await discovery(key, 'rtc.room.create');
    assert.equal(d.json.capability, 'rtc.room.create');
    assert.deepEqual(
      d.json.vendors.map((v) => [v.vendor, v.status, v.default]).sort(),
      [['agora', 'live', false], ['livekit', 'live', true], ['zego', 'live', false]],
    );
    const rec = await discovery(key, 'rtc.recording.start');
    assert.equal(rec.json.capability, 'rtc.recording.start');
    assert.deepEqual(
      rec.json.vendors.map((v) => [v.vendor, v.status, v.default]).sort(),
      [['agora', 'live', false], ['livekit', 'live', true], ['zego', 'live', false]],
    );
    for (const cap of ['rtc.participant.kick', 'rtc.participant.list', 'rtc.room.delete']) {
      const s = statusesOf(await discovery(key, cap));
      assert.deepEqual(s, { livekit: 'live', agora: 'live', zego: 'live' }, cap);
    }
    assertError(await discovery(key, 'rtc.teleport'), 404, 'CAPABILITY_NOT_FOUND');
    assertError(await discovery(key, 'rtc.room'), 404, 'CAPABILITY_NOT_FOUND');
    assert.equal(lk.calls.length + ag.calls.length + zg.calls.length, 0, 'discovery makes no vendor call');
  });

  test('LiveKit live, Agora misconfigured (reason names the setting, not its value), ZEGO unconfigured; pins of them → 422; a refused LiveKit secret → 502 VENDOR_AUTH_FAILED', async () => {
    const key = await newProject(wc, 'config');
    const d = await discovery(key, 'rtc.room.create', wc);
    assert.equal(d.status, 200, d.text);
    const byVendor = Object.fromEntries(d.json.vendors.map((v) => [v.vendor, v]));
    assert.deepEqual(Object.keys(byVendor).sort(), ['agora', 'livekit', 'zego']);
    assert.equal(byVendor.livekit.status, 'live');
    assert.equal(byVendor.agora.status, 'misconfigured');
    assert.equal(byVendor.zego.status, 'unconfigured');
    assert.match(byVendor.agora.reason, /AGORA_APP_CERTIFICATE/);
    assert.ok(!byVendor.agora.reason.includes(AG_BAD_CERT));
    // Order is agora,livekit,zego: agora is not live, so livekit is the default — and only it.
    assert.deepEqual(d.json.vendors.filter((v) => v.default).map((v) => v.vendor), ['livekit']);
    const rec = statusesOf(await discovery(key, 'rtc.recording.start', wc));
    assert.deepEqual(rec, { livekit: 'live', agora: 'misconfigured', zego: 'unconfigured' });

    // Pins of unusable vendors → 422 VENDOR_UNAVAILABLE, nothing created.
    for (const pin of ['agora', 'zego']) {
      const e = assertError(await createRoom(key, { name: `pin-${pin}`, vendor: pin }, { worker: wc }), 422, 'VENDOR_UNAVAILABLE');
      assert.equal(e.vendor, pin);
    }
    assertError(await createRoom(key, { name: 'pin-x', vendor: 'nope' }, { worker: wc }), 400, 'UNKNOWN_VENDOR');

    // LiveKit refuses the Worker's (wrong) secret → 502 VENDOR_AUTH_FAILED, no record left.
    for (const body of [{ name: 'auth', vendor: 'livekit' }, { name: 'auth' }]) {
      const mark = lkBad.calls.length;
      const e = assertError(await createRoom(key, body, { worker: wc }), 502, 'VENDOR_AUTH_FAILED');
      assert.equal(e.vendor, 'livekit');
      const calls = since(lkBad, mark);
      assert.equal(calls.length, 1);
      assert.equal(calls[0].ok, false, 'the stand-in refused the token');
      assert.match(calls[0].error, /signature|verif|token|secret|invalid/i);
      assert.equal(lkBad.rooms.size, 0);
    }
    assert.deepEqual(await allRoomIds(key, wc), []);
    // Auth failures are not outages: LiveKit stays live.
    assert.equal(statusesOf(await discovery(key, 'rtc.room.create', wc)).livekit, 'live');
  });
});

describe('routing: failover and the circuit breaker', () => {
  test('LiveKit failing: unpinned create lands on agora, pinned livekit → 502, breaker opens (down), and closes after the cool-down', async () => {
    const key = await newProject(w, 'failover');
    await waitFor('livekit and agora live', async () => {
      const s = statusesOf(await discovery(key, 'rtc.room.create'));
      return s.livekit === 'live' && s.agora === 'live';
    }, { timeoutMs: 2 * COOLDOWN_MS });

    lk.fail({ mode: 'reset', times: 1 }); // unreachable first …
    lk.failAll({ status: 503 }); // … then 5xx for every call

    const r1 = await mustCreate(key, { name: 'fo-1' });
    assert.equal(r1.vendor, 'agora');
    assert.equal(lk.callsTo('CreateRoom').length, 1, 'livekit was tried first');
    assert.equal(lk.callsTo('CreateRoom')[0].fault, 'reset');

    const pinned = await createRoom(key, { name: 'fo-2', vendor: 'livekit' });
    assertError(pinned, 502, 'VENDOR_UNAVAILABLE');
    assert.equal(lk.callsTo('CreateRoom').length, 2);

    const beforeOpening = Date.now();
    const r3 = await mustCreate(key, { name: 'fo-3' }); // third consecutive outage: the breaker opens
    assert.equal(r3.vendor, 'agora');
    assert.equal(lk.callsTo('CreateRoom').length, 3);

    const d = await discovery(key, 'rtc.room.create');
    assert.deepEqual(
      d.json.vendors.map((v) => [v.vendor, v.status, v.default]).sort(),
      [['agora', 'live', true], ['livekit', 'down', false], ['zego', 'live', false]],
    );

    // While open, unpinned creates skip livekit entirely.
    const r4 = await mustCreate(key, { name: 'fo-4' });
    assert.equal(r4.vendor, 'agora');
    assert.equal(lk.callsTo('CreateRoom').length, 3, 'an open breaker skips the vendor');
    // The failed pinned create left nothing; the agora rooms are real records.
    assert.deepEqual((await allRoomIds(key)).sort(), [r1.room, r3.room, r4.room].sort());
    const g = await getRoom(key, 'fo-1');
    assert.equal(g.json.vendor, 'agora');
    assert.equal(g.json.live, true);
    // Said plainly should a slow machine ever outrun the cool-down, rather than by a confusing answer.
    const spent = Date.now() - beforeOpening;
    assert.ok(spent < COOLDOWN_MS, `the checks of the open breaker ended ${spent} ms after it opened`);

    // Healthy again: after the cool-down (waited for, not timed) livekit is live and the default
    // once more, and new rooms go to it.
    lk.clearFaults();
    await waitFor('livekit live again', async () => statusesOf(await discovery(key, 'rtc.room.create')).livekit === 'live', { timeoutMs: 2 * COOLDOWN_MS });
    assert.ok(Date.now() - beforeOpening >= COOLDOWN_MS, 'not before the cool-down ended');
    const d2 = await discovery(key, 'rtc.room.create');
    assert.deepEqual(d2.json.vendors.filter((v) => v.default).map((v) => v.vendor), ['livekit']);
    const r5 = await mustCreate(key, { name: 'fo-5' });
    assert.equal(r5.vendor, 'livekit');
    assert.ok(lk.rooms.has(r5.room));
  });
});
