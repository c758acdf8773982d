// Live streams told by their vendors' own notifications, against the real Worker (workerd under
// `wrangler dev`): the Agora and ZEGO stand-ins are started with `notifyUrl` pointing at the Worker,
// so what happens to a job at the vendor reaches the Worker the way the vendor would tell it —
// Agora Media Push NCS notices (product 5: converter created, state changed, destroyed) and ZEGO
// stream-mixing callbacks (`mix_start`, `mix_stop`; none when a task dies abnormally, so only
// `GET /v1/rtc/stream/get`, which asks ZEGO, finds it over).
//
// The stream's stored state is read with `GET /v1/rtc/stream/list` (which never asks the vendor),
// so what it shows came from a notification. Each stream says so on the event stream once
// (`stream.output_failed`, `stream.ended`), however often the vendor repeats itself, and none of
// it is a `recording.*` event.
//
// The Worker needs the stand-ins' URLs and the stand-ins the Worker's: their ports are reserved
// first, the Worker started pointing at them, then the stand-ins on them.
//
// Run: node --test --test-concurrency=1 tests/e2e/streams_notices.test.mjs   (after `bash scripts/build.sh`)

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';

import { startWorker, api as rawApi, adminSetup, randomToken, freePort } from './support/harness.mjs';
import { assertNoViolations, startVendorStandins, vendorVars } from './support/fixtures.mjs';

const ADMIN = randomToken();
const NCS_SECRET = `ncs-${randomToken(8)}`;
const ZEGO_SECRET = `zcb-${randomToken(8)}`;
const YOUTUBE = `rtmps://a.rtmp.youtube.com/live2/yt-${randomToken(6)}`;
const TWITCH = `rtmp://live.twitch.tv/app/tw-${randomToken(6)}`;

let vendors;
let ag;
let zg;
let w;
let key;

before(async () => {
  const ports = { agora: await freePort(), zego: await freePort() };
  const at = (port) => ({ url: `http://127.0.0.1:${port}` });
  w = await startWorker({
    name: 'streams-notices',
    vars: {
      ADMIN_TOKEN: ADMIN,
      VENDOR_TIMEOUT_MS: 1500,
      ...vendorVars({ agora: at(ports.agora), zego: at(ports.zego) }),
      RTCGATE_ENCRYPTION_KEY: crypto.randomBytes(32).toString('hex'),
      AGORA_NCS_SECRET: NCS_SECRET,
      ZEGO_CALLBACK_SECRET: ZEGO_SECRET,
      QUOTA_STREAMS: 10,
    },
  });
  vendors = await startVendorStandins({
    agora: { port: ports.agora, notifyUrl: `${w.url}/v1/vendor-events/agora`, ncsSecret: NCS_SECRET },
    zego: { port: ports.zego, notifyUrl: `${w.url}/v1/vendor-events/zego`, callbackSecret: ZEGO_SECRET },
  });
  ({ agora: ag, zego: zg } = vendors);
  ({ key } = await adminSetup(w, { projectName: 'streams-notices' }));
});

after(async () => {
  await vendors?.close();
  await w?.stop();
});

const api = (method, path, opts = {}) => rawApi(w, method, path, { key, ...opts });

async function createRoom(vendor) {
  const r = await api('POST', '/v1/rtc/room/create', { body: { name: `${vendor}-${randomToken(4)}`, vendor } });
  assert.equal(r.status, 201, r.text);
  return r.json.room;
}

async function startStream(room, urls) {
  const s = await api('POST', '/v1/rtc/stream/start', { body: { room, outputs: urls.map((url) => ({ url })) } });
  assert.equal(s.status, 201, s.text);
  return s.json.stream;
}

/** The stream as stored: the list never asks the vendor, so only a notification moved it. */
async function stored(room, id) {
  const r = await api('GET', `/v1/rtc/stream/list?room=${room}`);
  assert.equal(r.status, 200, r.text);
  const s = r.json.items.find((i) => i.stream === id);
  assert.ok(s, `stream ${id} listed in ${room}: ${r.text}`);
  return { status: s.status, outputs: s.outputs.map((o) => o.status) };
}

async function eventsOf(room, type) {
  const r = await api('GET', `/v1/rtc/event/list?room=${room}${type ? `&type=${type}` : ''}&limit=100`);
  assert.equal(r.status, 200, r.text);
  return r.json.items;
}

const ofStream = async (room, type, id) => (await eventsOf(room, type)).filter((e) => e.data.stream === id);

/** Every notification a stand-in queued so far was sent, and the Worker took each (200). */
async function delivered(standin) {
  await standin.notificationsIdle();
  const refused = standin.notifications.filter((n) => n.status !== 200);
  assert.deepEqual(refused.map((n) => `${n.kind}: ${n.status ?? n.error}`), [], 'every notification answered 200');
}

/** The notifications `standin` sent whose body mentions `needle`, by kind. */
const sentAbout = (standin, needle) => standin.notifications.filter((n) => n.body.includes(needle)).map((n) => n.kind);

async function assertNoRecordingEvents(room) {
  const types = (await eventsOf(room)).map((e) => e.type);
  assert.deepEqual(types.filter((t) => t.startsWith('recording.')), [], `a stream's job is no recording: ${types}`);
}

describe('Agora Media Push notices', () => {
  test('a converter that fails shows failed with one stream.output_failed; a stop ends the stream once', async () => {
    const room = await createRoom('agora');
    const id = await startStream(room, [YOUTUBE, TWITCH]);
    const [c1, c2] = ['o1', 'o2'].map((o) => ag.converterNamed(`${id}_${o}`));
    await delivered(ag);
    assert.deepEqual(sentAbout(ag, c1.id), ['5/1'], 'converter created');

    ag.setConverterState(c1.id, 'running');
    ag.setConverterState(c2.id, 'running');
    await delivered(ag);
    assert.deepEqual(await stored(room, id), { status: 'active', outputs: ['active', 'active'] });

    ag.setConverterState(c2.id, 'failed');
    await delivered(ag);
    assert.deepEqual(await stored(room, id), { status: 'active', outputs: ['active', 'failed'] });
    // Agora resends what it is not sure arrived: the same notice again changes nothing.
    const last = ag.notifications.at(-1);
    assert.equal(last.kind, '5/3');
    const again = await rawApi(w, 'POST', '/v1/vendor-events/agora', { rawBody: last.body, headers: last.headers });
    assert.equal(again.status, 200, again.text);
    const failed = await ofStream(room, 'stream.output_failed', id);
    assert.deepEqual(failed.map((e) => e.data.output), ['o2'], 'one stream.output_failed, for o2');
    assert.ok(!JSON.stringify(failed).includes(TWITCH.split('/').pop()), 'no stream key in the event');

    // Asking Agora (get) agrees with what the notices said.
    const g = await api('GET', `/v1/rtc/stream/get/${id}`);
    assert.deepEqual(g.json.outputs.map((o) => o.status), ['active', 'failed'], g.text);

    const st = await api('POST', `/v1/rtc/stream/stop/${id}`, { body: {} });
    assert.equal(st.status, 200, st.text);
    await delivered(ag);
    assert.deepEqual(sentAbout(ag, c1.id), ['5/1', '5/3', '5/4'], 'created, running, destroyed');
    assert.deepEqual(sentAbout(ag, c2.id), ['5/1', '5/3', '5/3', '5/4'], 'created, running, failed, destroyed');
    assert.deepEqual(await stored(room, id), { status: 'ended', outputs: ['ended', 'failed'] });
    assert.equal((await ofStream(room, 'stream.ended', id)).length, 1, 'stream.ended once');
    assert.equal((await ofStream(room, 'stream.output_failed', id)).length, 1);
    await assertNoRecordingEvents(room);
    assertNoViolations(vendors);
  });

  test('a converter Agora destroys on its own ends its stream, told by the notice alone', async () => {
    const room = await createRoom('agora');
    // Everyone left and the idle timeout passed: a push that is over, not broken.
    const idle = await startStream(room, [YOUTUBE]);
    await delivered(ag);
    ag.setConverterState(ag.converterNamed(`${idle}_o1`).id, 'running');
    await delivered(ag);
    assert.deepEqual(await stored(room, idle), { status: 'active', outputs: ['active'] });
    ag.destroyConverter(ag.converterNamed(`${idle}_o1`).id, 'Idle Timeout');
    await delivered(ag);
    assert.deepEqual(await stored(room, idle), { status: 'ended', outputs: ['ended'] });
    const ended = await ofStream(room, 'stream.ended', idle);
    assert.deepEqual(ended.map((e) => e.data.status), ['ended']);
    assert.equal((await ofStream(room, 'stream.output_failed', idle)).length, 0);

    // An internal error at Agora: the only output failed, so the stream did.
    const broken = await startStream(room, [TWITCH]);
    await delivered(ag);
    ag.destroyConverter(ag.converterNamed(`${broken}_o1`).id, 'Internal Error');
    await delivered(ag);
    assert.deepEqual(await stored(room, broken), { status: 'failed', outputs: ['failed'] });
    assert.equal((await ofStream(room, 'stream.output_failed', broken)).length, 1);
    assert.deepEqual((await ofStream(room, 'stream.ended', broken)).map((e) => e.data.status), ['failed']);
    await assertNoRecordingEvents(room);
    assertNoViolations(vendors);
  });
});

describe('ZEGO stream mixing callbacks', () => {
  test('mix_stop ends a stream once; a task that dies without a callback is found ended by get', async () => {
    const room = await createRoom('zego');
    const taskId = (id) => `${zg.appId}:${id}`;

    // ZEGO stops the task itself (no input for MaxIdleTime) and calls back mix_stop.
    const idle = await startStream(room, [YOUTUBE]);
    await delivered(zg);
    assert.deepEqual(sentAbout(zg, taskId(idle)), ['mix_start']);
    assert.equal((await stored(room, idle)).status, 'active');
    zg.idleOutMixTask(idle);
    await delivered(zg);
    assert.deepEqual(sentAbout(zg, taskId(idle)), ['mix_start', 'mix_stop']);
    assert.deepEqual(await stored(room, idle), { status: 'ended', outputs: ['ended'] });
    assert.equal((await ofStream(room, 'stream.ended', idle)).length, 1, 'stream.ended once');

    // A stop through the API: StopMix answers and ZEGO calls back too; the stream ends once.
    const stopped = await startStream(room, [YOUTUBE, TWITCH]);
    const st = await api('POST', `/v1/rtc/stream/stop/${stopped}`, { body: {} });
    assert.equal(st.status, 200, st.text);
    await delivered(zg);
    assert.deepEqual(sentAbout(zg, taskId(stopped)), ['mix_start', 'mix_stop']);
    assert.equal((await stored(room, stopped)).status, 'ended');
    assert.equal((await ofStream(room, 'stream.ended', stopped)).length, 1, 'stream.ended once');

    // The task dies abnormally: no callback, so the stored stream still runs until get asks.
    const dead = await startStream(room, [TWITCH]);
    await delivered(zg);
    zg.endMixTask(dead);
    await delivered(zg);
    assert.deepEqual(sentAbout(zg, taskId(dead)), ['mix_start'], 'no mix_stop for a task that died');
    assert.equal((await stored(room, dead)).status, 'active', 'nothing told the Worker yet');
    assert.equal((await ofStream(room, 'stream.ended', dead)).length, 0);
    const g = await api('GET', `/v1/rtc/stream/get/${dead}`);
    assert.equal(g.status, 200, g.text);
    assert.equal(g.json.status, 'ended', g.text);
    assert.equal((await stored(room, dead)).status, 'ended');
    assert.equal((await ofStream(room, 'stream.ended', dead)).length, 1, 'stream.ended once');

    await assertNoRecordingEvents(room);
    assertNoViolations(vendors);
  });
});
