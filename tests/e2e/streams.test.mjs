// rtc.stream.* against the real Worker (workerd under `wrangler dev`, local D1/KV) and the strict
// stand-ins: LiveKit Egress with stream outputs and UpdateStream (standins/livekit.mjs: the local
// LiveKit server has no egress service), Agora Media Push converters (standins/agora-media-push.mjs)
// and ZEGO stream mixing (standins/zego-mixing.mjs).
//
// On each vendor: start, update (add and remove outputs), get, list, stop; an idempotent retry and a
// start whose answer was lost each make one vendor stream; the streams quota; keys never shown but
// masked; a vendor fault translated. The layout Agora and ZEGO get as publishers come and go is
// driven by their webhooks here as natively (tests/api_streams.rs); one Agora refused is sent again
// by the scheduled job (run through `--test-scheduled`'s `/__scheduled`).
//
// Run: node --test --test-concurrency=1 tests/e2e/streams.test.mjs   (after `bash scripts/build.sh`)

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';

import { startWorker, api as rawApi, adminSetup, randomToken, scheduled } from './support/harness.mjs';
import { assertError, assertNoViolations, startVendorStandins, vendorVars } from './support/fixtures.mjs';
import { EgressInfo, EgressStatus } from '@livekit/protocol';

import { livekitDelivery, postLiveKit } from './support/livekit_webhooks.mjs';

const ADMIN = randomToken();
const VENDOR_TIMEOUT_MS = 1500;
const NCS_SECRET = `ncs-${randomToken(8)}`;
const ZEGO_SECRET = `zcb-${randomToken(8)}`;
const KEYS = ['yt-KEY-secret-1a2b', 'tw-KEY-secret-9z8y', 'ot-KEY-secret-5678'];
const YOUTUBE = `rtmps://a.rtmp.youtube.com/live2/${KEYS[0]}`;
const TWITCH = `rtmp://live.twitch.tv/app/${KEYS[1]}`;
const OTHER = `rtmp://ingest.example.com/live/${KEYS[2]}`;

let vendors;
let lk;
let ag;
let zg;
let w;
let key;

before(async () => {
  vendors = await startVendorStandins();
  ({ livekit: lk, agora: ag, zego: zg } = vendors);
  w = await startWorker({
    name: 'streams',
    testScheduled: true,
    vars: {
      ADMIN_TOKEN: ADMIN,
      VENDOR_TIMEOUT_MS,
      ...vendorVars(vendors),
      RTCGATE_ENCRYPTION_KEY: crypto.randomBytes(32).toString('hex'),
      AGORA_NCS_SECRET: NCS_SECRET,
      ZEGO_CALLBACK_SECRET: ZEGO_SECRET,
      QUOTA_STREAMS: 4,
    },
  });
  ({ key } = await adminSetup(w, { projectName: 'streams' }));
});

after(async () => {
  await w?.stop();
  await vendors?.close();
});

/** Every call goes through here: no response may carry a stream key. */
async function api(method, path, opts = {}) {
  const res = await rawApi(w, method, path, { key, ...opts });
  for (const k of KEYS) assert.ok(!res.text.includes(k), `${method} ${path}: the response carries a stream key: ${res.text}`);
  return res;
}

async function createRoom(vendor) {
  const r = await api('POST', '/v1/rtc/room/create', { body: { name: `${vendor}-${randomToken(4)}`, vendor } });
  assert.equal(r.status, 201, r.text);
  return r.json.room;
}

const start = (body, opts) => api('POST', '/v1/rtc/stream/start', { body, ...opts });
const update = (id, body) => api('POST', `/v1/rtc/stream/update/${id}`, { body });
const stop = (id) => api('POST', `/v1/rtc/stream/stop/${id}`, { body: {} });
const get = (id) => api('GET', `/v1/rtc/stream/get/${id}`);
const masked = (url) => url.replace(/[^/]*$/, (k) => `••••${k.slice(-4)}`);

async function eventsOf(type) {
  const r = await api('GET', `/v1/rtc/event/list?type=${type}`);
  assert.equal(r.status, 200, r.text);
  return r.json.items;
}

function agoraNotice(payload, eventType, noticeId) {
  const body = JSON.stringify({ noticeId, productId: 1, eventType, notifyMs: Date.now(), payload });
  const sig = crypto.createHmac('sha256', NCS_SECRET).update(body).digest('hex');
  return rawApi(w, 'POST', '/v1/vendor-events/agora', { rawBody: body, headers: { 'agora-signature-v2': sig, 'content-type': 'application/json' } });
}

function zegoCallback(fields) {
  const nonce = randomToken(6);
  const timestamp = Math.floor(Date.now() / 1000);
  const signature = crypto.createHash('sha1').update([ZEGO_SECRET, String(timestamp), nonce].sort().join('')).digest('hex');
  const body = JSON.stringify({ ...fields, nonce, timestamp: String(timestamp), signature });
  return rawApi(w, 'POST', '/v1/vendor-events/zego', { rawBody: body, headers: { 'content-type': 'application/json' } });
}

/** Waits until `check()` is truthy (a webhook's effects run after its answer). */
async function eventually(check, what, ms = 5000) {
  const until = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('inputs', () => {
  test('ingest URLs: outside the form 400, an internal host 422, no key in any error', async () => {
    const room = await createRoom('livekit');
    const bad = await start({ room, outputs: [{ url: YOUTUBE }, { url: 'https://x.example.com/a/b' }] });
    assert.equal(assertError(bad, 400, 'INVALID_REQUEST').field, 'outputs[1].url');
    const internal = await start({ room, outputs: [{ url: 'rtmp://localhost/app/key' }] });
    assert.equal(assertError(internal, 422, 'DESTINATION_NOT_ALLOWED').field, 'outputs[0].url');
    const six = Array.from({ length: 6 }, (_, i) => ({ url: `rtmp://live.example.com/app/k${i}` }));
    assert.equal(assertError(await start({ room, outputs: six }), 400, 'INVALID_REQUEST').field, 'outputs');
    assertNoViolations(vendors);
  });
});

describe('LiveKit egress', () => {
  test('start, update, get, list, stop: one egress with every URL, keys masked, ended by the egress webhook', async () => {
    const room = await createRoom('livekit');
    const idem = `k-${randomToken(6)}`;
    const s = await start({ room, outputs: [{ url: YOUTUBE }, { url: TWITCH }], layout: 'speaker', idempotency_key: idem });
    assert.equal(s.status, 201, s.text);
    const id = s.json.stream;
    assert.equal(s.json.vendor, 'livekit');
    assert.deepEqual(s.json.outputs.map((o) => o.url), [masked(YOUTUBE), masked(TWITCH)]);
    const egresses = [...lk.egresses.values()].filter((e) => e.roomName === room);
    assert.equal(egresses.length, 1);
    const request = egresses[0].request.value;
    assert.equal(request.layout, 'speaker');
    assert.deepEqual(request.streamOutputs[0].urls, [YOUTUBE, TWITCH]);

    const again = await start({ room, outputs: [{ url: YOUTUBE }, { url: TWITCH }], layout: 'speaker', idempotency_key: idem });
    assert.equal(again.status, 201, again.text);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.equal(again.json.stream, id);
    assert.equal([...lk.egresses.values()].filter((e) => e.roomName === room).length, 1, again.text);

    const u = await update(id, { add_outputs: [{ url: OTHER }], remove_outputs: ['o2'] });
    assert.equal(u.status, 200, u.text);
    assert.deepEqual(u.json.outputs.map((o) => [o.output, o.status]), [['o1', 'active'], ['o2', 'ended'], ['o3', 'active']]);
    assert.deepEqual(request.streamOutputs[0].urls, [YOUTUBE, OTHER]);

    const g = await get(id);
    assert.equal(g.status, 200, g.text);
    assert.equal(g.json.live, true);
    const listed = await api('GET', `/v1/rtc/stream/list?room=${room}`);
    assert.deepEqual(listed.json.items.map((i) => i.stream), [id]);

    const st = await stop(id);
    assert.equal(st.status, 200, st.text);
    assert.equal(st.json.status, 'ending');
    const egressId = egresses[0].egressId;
    lk.advanceEgress(egressId, EgressStatus.EGRESS_COMPLETE);
    const ended = await livekitDelivery({ event: 'egress_ended', id: `EV_${randomToken(6)}`, createdAt: BigInt(Math.floor(Date.now() / 1000)),
      egressInfo: new EgressInfo({ egressId, roomName: room, status: EgressStatus.EGRESS_COMPLETE }) });
    assert.equal((await postLiveKit(w, ended)).status, 200);
    await eventually(async () => (await api('GET', `/v1/rtc/stream/list?room=${room}&status=ended`)).json.items.length === 1, 'the stream to end');
    const started = (await eventsOf('stream.started')).filter((e) => e.data.stream === id);
    assert.equal(started.length, 1);
    assert.equal(started[0].data.outputs[0].url, masked(YOUTUBE));
    assert.equal((await eventsOf('stream.ended')).filter((e) => e.data.stream === id).length, 1);
    // The egress is the stream's, not a recording.
    const ofRoom = await api('GET', `/v1/rtc/event/list?room=${room}&limit=100`);
    assert.deepEqual(ofRoom.json.items.filter((e) => e.type.startsWith('recording.')), []);
    assertNoViolations(vendors);
  });

  test('a start whose answer is lost makes one egress, found by its URLs', async () => {
    const room = await createRoom('livekit');
    lk.fail({ match: 'StartRoomCompositeEgress', mode: 'timeout', apply: true });
    const s = await start({ room, outputs: [{ url: OTHER }] });
    // The answer timed out; the egress was made, and the listing right after found it.
    assert.equal(s.status, 201, s.text);
    const retry = await start({ room, outputs: [{ url: OTHER }] });
    assert.equal(retry.status, 201, retry.text);
    const egresses = [...lk.egresses.values()].filter((e) => e.roomName === room);
    assert.equal(egresses.length, 2, 'the retry after an answered start is a new stream');
    assert.notEqual(retry.json.stream, s.json.stream);
    for (const id of [s.json.stream, retry.json.stream]) assert.equal((await stop(id)).status, 200);
    assertNoViolations(vendors);
  });
});

describe('Agora Media Push', () => {
  test('one converter per output named by stream and output, re-laid out as broadcasters come and go, deleted on stop', async () => {
    const room = await createRoom('agora');
    const alice = await api('POST', '/v1/rtc/token/issue', { body: { room, identity: 'alice' } });
    const bob = await api('POST', '/v1/rtc/token/issue', { body: { room, identity: 'bob' } });
    const [a, b] = [alice.json.join.uid, bob.json.join.uid];
    assert.equal((await agoraNotice({ channelName: room, uid: a, platform: 7, clientSeq: 1, ts: Math.floor(Date.now() / 1000) }, 103, `n-${randomToken(4)}`)).status, 200);
    const s = await start({ room, outputs: [{ url: YOUTUBE }, { url: TWITCH }], layout: 'grid' });
    assert.equal(s.status, 201, s.text);
    const id = s.json.stream;
    const mine = () => [...ag.converters.values()].filter((c) => c.name.startsWith(id));
    assert.deepEqual(mine().map((c) => c.name).sort(), [`${id}_o1`, `${id}_o2`]);
    assert.deepEqual(mine()[0].request.converter.transcodeOptions.videoOptions.layout.map((l) => l.rtcStreamUid), [a]);

    assert.equal((await agoraNotice({ channelName: room, uid: b, platform: 7, clientSeq: 1, ts: Math.floor(Date.now() / 1000) }, 103, `n-${randomToken(4)}`)).status, 200);
    await eventually(() => mine().every((c) => c.updates.length === 1), 'the new layout on each converter');
    for (const c of mine()) {
      assert.deepEqual(c.updates[0].converter.transcodeOptions.videoOptions.layout.map((l) => l.rtcStreamUid), [a, b]);
      assert.equal(c.sequence, 2);
    }
    ag.setConverterState(mine()[0].id, 'running');
    ag.setConverterState(mine()[1].id, 'failed');
    const g = await get(id);
    assert.equal(g.json.status, 'active', g.text);
    assert.deepEqual(g.json.outputs.map((o) => o.status), ['active', 'failed']);
    const failed = (await eventsOf('stream.output_failed')).filter((e) => e.data.stream === id);
    assert.deepEqual(failed.map((e) => e.data.output), ['o2']);

    const st = await stop(id);
    assert.equal(st.json.status, 'ended', st.text);
    assert.equal(mine().length, 0, 'both converters deleted');
    assertNoViolations(vendors);
  });

  test('a lost create is sent again and the converter of its name adopted; a refusal is translated and undone', async () => {
    const room = await createRoom('agora');
    ag.fail({ match: 'CreateConverter', mode: 'timeout', apply: true });
    const s = await start({ room, outputs: [{ url: OTHER }] });
    assert.equal(s.status, 201, s.text);
    assert.equal([...ag.converters.values()].filter((c) => c.name.startsWith(s.json.stream)).length, 1);
    assert.equal((await stop(s.json.stream)).status, 200);

    ag.fail({ match: (call) => call.op === 'CreateConverter' && ag.converters.size > 0, status: 403, body: { message: 'media push not enabled' } });
    const r = await start({ room, outputs: [{ url: YOUTUBE }, { url: TWITCH }] });
    assertError(r, 502, 'VENDOR_AUTH_FAILED');
    assert.ok(!r.text.includes('media push not enabled'), r.text);
    assert.equal(ag.converters.size, 0, 'the converter made first was deleted again');
    ag.clearFaults();
    assertNoViolations(vendors);
  });

  test('a layout Agora refused is sent again by the scheduled job with the next sequence, and only once', async () => {
    const room = await createRoom('agora');
    const alice = await api('POST', '/v1/rtc/token/issue', { body: { room, identity: 'alice' } });
    const bob = await api('POST', '/v1/rtc/token/issue', { body: { room, identity: 'bob' } });
    const [a, b] = [alice.json.join.uid, bob.json.join.uid];
    const broadcaster = (uid) => agoraNotice({ channelName: room, uid, platform: 7, clientSeq: 1, ts: Math.floor(Date.now() / 1000) }, 103, `n-${randomToken(4)}`);
    assert.equal((await broadcaster(a)).status, 200);
    const s = await start({ room, outputs: [{ url: OTHER }] });
    assert.equal(s.status, 201, s.text);
    const id = s.json.stream;
    const converter = () => [...ag.converters.values()].find((c) => c.name.startsWith(id));
    const layoutOf = (update) => update.converter.transcodeOptions.videoOptions.layout.map((l) => l.rtcStreamUid);

    // Agora fails while bob starts broadcasting: the new layout is refused.
    ag.failAll({ match: 'PATCH converter', status: 503 });
    assert.equal((await broadcaster(b)).status, 200);
    await ag.waitForCall((c) => c.op === 'PATCH converter' && c.fault);
    ag.clearFaults();
    assert.equal(converter().updates.length, 0, 'Agora did not take it');

    // The scheduled job sends it again, with the next sequence number.
    assert.equal((await scheduled(w)).status, 200);
    assert.equal(converter().updates.length, 1);
    assert.deepEqual(layoutOf(converter().updates[0]), [a, b]);
    assert.equal(converter().sequence, 3);
    // Up to date: the next run asks Agora nothing about it.
    const patches = ag.callsTo('PATCH converter').length;
    assert.equal((await scheduled(w)).status, 200);
    assert.equal(ag.callsTo('PATCH converter').length, patches);

    assert.equal((await stop(id)).status, 200);
    assertNoViolations(vendors);
  });
});

describe('ZEGO stream mixing', () => {
  test('one mix task per stream, re-sent with a higher Sequence as streams are published, stopped with StopMix', async () => {
    const room = await createRoom('zego');
    const publish = (event, stream) => zegoCallback({ event, room_id: room, user_id: 'alice', stream_id: stream, stream_seq: randomToken(3) });
    assert.equal((await publish('stream_create', 'alice-cam')).status, 200);
    const s = await start({ room, outputs: [{ url: YOUTUBE }], layout: 'single' });
    assert.equal(s.status, 201, s.text);
    const id = s.json.stream;
    const task = zg.mixTasks.get(id);
    assert.ok(task?.running, 'the task id is the stream id');
    assert.deepEqual(task.request.MixInput.map((i) => i.StreamId), ['alice-cam']);
    assert.equal(task.request.MixOutput[0].StreamUrl, YOUTUBE);

    assert.equal((await publish('stream_close', 'alice-cam')).status, 200);
    assert.equal((await publish('stream_create', 'bob-cam')).status, 200);
    await eventually(() => task.request.MixInput.some((i) => i.StreamId === 'bob-cam'), 'bob laid out');
    assert.ok(task.Sequence >= 3, `Sequence ${task.Sequence}`);

    const u = await update(id, { add_outputs: [{ url: TWITCH }] });
    assert.equal(u.status, 200, u.text);
    assert.equal(task.request.MixOutput.length, 2);

    zg.endMixTask(id);
    const g = await get(id);
    assert.equal(g.json.status, 'ended', 'ZEGO sends no callback when a task dies: get asks');
    assertError(await update(id, { add_outputs: [{ url: OTHER }] }), 409, 'STREAM_ENDED');
    assertNoViolations(vendors);
  });
});

describe('quota', () => {
  test('running streams count against the streams quota; a stopped one frees its place', async () => {
    const room = await createRoom('zego');
    const limits = await api('GET', '/v1/rtc/limits');
    const { limit, used } = limits.json.quotas.streams;
    assert.equal(limit, 4);
    const ids = [];
    for (let i = used; i < limit; i += 1) {
      const s = await start({ room, outputs: [{ url: `rtmp://live.example.com/app/q${i}` }] });
      assert.equal(s.status, 201, s.text);
      ids.push(s.json.stream);
    }
    const over = await start({ room, outputs: [{ url: 'rtmp://live.example.com/app/over' }] });
    assert.equal(assertError(over, 422, 'QUOTA_EXCEEDED').quota, 'streams');
    assert.equal((await stop(ids[0])).status, 200);
    const s = await start({ room, outputs: [{ url: 'rtmp://live.example.com/app/again' }] });
    assert.equal(s.status, 201, s.text);
    for (const id of [...ids.slice(1), s.json.stream]) await stop(id);
    assertNoViolations(vendors);
  });
});
