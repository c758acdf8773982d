// rtc.recording.* on Agora and ZEGO rooms against the real Worker (workerd under `wrangler dev`, local
// D1/KV) and the strict Cloud Recording stand-ins (standins/agora-recording.mjs: paths, Basic auth,
// fields, the recorder's token checked with npm agora-token, the recorder in the channel;
// standins/zego-recording.mjs: signed POSTs, fields, one task per ClientTaskId).
//
// The same guarantees as on LiveKit (recordings.test.mjs): one recording per start, idempotency keys,
// file results once complete, and exactly one recording when a start's answer is lost — here through
// the vendors' own keys (Agora: the resource id and the recorder uid; ZEGO: ClientTaskId = recording id).
//
// Run: node --test --test-concurrency=1 tests/e2e/vendor_recordings.test.mjs   (after `bash scripts/build.sh`)

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startWorker, api as rawApi, adminSetup, randomToken } from './support/harness.mjs';
import { assertError, startVendorStandins, vendorVars } from './support/fixtures.mjs';

const ADMIN = randomToken();
const VENDOR_TIMEOUT_MS = 1500;
const S3 = { accessKey: 'AKIAE2EVENDORREC', secret: 's3-e2e-vendor-rec-SECRET-5d4c', region: 'eu-west-1' };
const AZURE = { name: 'rtcgatee2evendor', key: 'azure-e2e-VENDOR-KEY-YmFy==' };
const SECRETS = [S3.accessKey, S3.secret, AZURE.key];

let vendors;
let ag;
let zg;
let w;
let key;
let prj;

before(async () => {
  vendors = await startVendorStandins();
  ({ agora: ag, zego: zg } = vendors);
  w = await startWorker({
    name: 'vendor-recordings',
    vars: {
      ADMIN_TOKEN: ADMIN,
      RTC_VENDOR_ORDER: 'agora,zego,livekit',
      VENDOR_TIMEOUT_MS,
      ...vendorVars({ agora: ag, zego: zg }),
      RECORDING_S3_ACCESS_KEY: S3.accessKey,
      RECORDING_S3_SECRET: S3.secret,
      RECORDING_S3_REGION: S3.region,
      RECORDING_AZURE_ACCOUNT_NAME: AZURE.name,
      RECORDING_AZURE_ACCOUNT_KEY: AZURE.key,
      // Shared storage: the project writes only inside its own folder of these buckets.
      RECORDING_SHARED_BUCKETS: 'media, azure://box',
    },
  });
  ({ key, projectId: prj } = await adminSetup(w, { projectName: 'vendor-rec' }));
});

after(async () => {
  await w?.stop();
  await vendors?.close();
});

/** Every call goes through here: no response may carry a storage secret. */
async function api(method, path, opts = {}) {
  const res = await rawApi(w, method, path, { key, ...opts });
  for (const s of SECRETS) assert.ok(!res.text.includes(s), `${method} ${path}: the response carries a storage secret: ${res.text}`);
  return res;
}

function assertNoViolations() {
  assert.deepEqual(vendors.violations().map((c) => `${c.vendor} ${c.op}: ${c.error}`), []);
}

async function createRoom(vendor) {
  const r = await api('POST', '/v1/rtc/room/create', { body: { name: `${vendor}-${randomToken(4)}`, vendor } });
  assert.equal(r.status, 201, r.text);
  return r.json.room;
}

/** `uri` moved into the project's folder of its bucket (`s3://media/x/` → `s3://media/<project>/x/`). */
const P = (uri) => uri.replace(/^([a-z0-9]+:\/\/[^/]+\/)/, `$1${prj}/`);
const start = (body, opts) => api('POST', '/v1/rtc/recording/start', { body, ...opts });
const getRec = (id) => api('GET', `/v1/rtc/recording/get/${id}`);
const stopRec = (id) => api('POST', `/v1/rtc/recording/stop/${id}`, { body: {} });
const agoraTasksOf = (room) => [...ag.recordingTasks.values()].filter((t) => t.cname === room);
const zegoTasksOf = (room) => [...zg.recordingTasks.values()].filter((t) => t.RoomId === room);

describe('Agora Cloud Recording', () => {
  test('start, replay, get, list, stop: one task, the bot on its own registry uid and left out of the participant list', async () => {
    const room = await createRoom('agora');
    const alice = await api('POST', '/v1/rtc/token/issue', { body: { room, identity: 'alice' } });
    assert.equal(alice.status, 200, alice.text);
    const aliceUid = alice.json.join.uid;
    ag.seedUser(room, aliceUid);

    const body = { room, output_uri: P('s3://media/calls/'), layout: 'speaker', idempotency_key: `k-${randomToken(6)}` };
    const s = await start(body);
    assert.equal(s.status, 201, s.text);
    assert.equal(s.json.vendor, 'agora');
    assert.equal(s.json.status, 'starting');
    const rec = s.json.recording;
    assert.equal(s.json.output_uri, P(`s3://media/calls/${room}-${rec}.mp4`));
    const [task] = agoraTasksOf(room);
    assert.ok(task, 'a task was started');
    assert.notEqual(Number(task.uid), aliceUid, 'the bot never takes a person\'s uid');
    assert.equal(task.request.clientRequest.recordingConfig.transcodingConfig.mixedVideoLayout, 2);
    assert.deepEqual(task.storage.fileNamePrefix, [prj.replace(/[^A-Za-z0-9]/g, ''), 'calls', `${room}-${rec}`.replace(/[^A-Za-z0-9]/g, '')]);
    assert.deepEqual(ag.usersIn(room).sort(), [aliceUid, Number(task.uid)].sort());

    // Someone issued a token after the bot gets a uid of the isolate's block, never the bot's
    // (the bot's comes from the room's uid counter, past every block).
    const bob = await api('POST', '/v1/rtc/token/issue', { body: { room, identity: 'bob' } });
    assert.ok(![aliceUid, Number(task.uid)].includes(bob.json.join.uid), bob.text);
    const people = await api('GET', `/v1/rtc/participant/list/${room}`);
    assert.deepEqual(people.json.items.map((p) => p.identity), ['alice'], people.text);

    const replay = await start(body);
    assert.equal(replay.status, 201);
    assert.equal(replay.json.recording, rec);
    assert.equal(replay.headers.get('idempotent-replayed'), 'true');
    assert.equal(agoraTasksOf(room).length, 1);

    ag.advanceRecording(task.sid, 5);
    const g = await getRec(rec);
    assert.equal(g.status, 200, g.text);
    assert.equal(g.json.status, 'active');
    assert.equal(g.json.live, true);
    const l = await api('GET', `/v1/rtc/recording/list?room=${room}`);
    assert.deepEqual(l.json.items.map((r) => r.recording), [rec]);

    const stopped = await stopRec(rec);
    assert.equal(stopped.status, 200, stopped.text);
    assert.equal(stopped.json.status, 'complete');
    // Agora folder names are letters and digits: the project's folder loses its underscore.
    const folder = `s3://media/${prj.replace(/[^A-Za-z0-9]/g, '')}/calls/${`${room}-${rec}`.replace(/[^A-Za-z0-9]/g, '')}`;
    assert.deepEqual(stopped.json.files.map((f) => f.location), [`${folder}/${task.sid}_${room}.m3u8`, `${folder}/${task.sid}_${room}_0.mp4`]);
    assert.deepEqual(ag.usersIn(room), [aliceUid], 'the bot left');
    const again = await stopRec(rec);
    assert.equal(again.json.status, 'complete');
    assertNoViolations();
  });

  test('a start whose answer is lost is one recording: asked again with the same resource id', async () => {
    const room = await createRoom('agora');
    ag.fail({ match: 'CloudRecordingStart', mode: 'timeout', apply: true });
    const s = await start({ room, output_uri: P('s3://media/lost/'), audio_only: true });
    assert.equal(s.status, 201, s.text);
    const tasks = agoraTasksOf(room);
    assert.equal(tasks.length, 1, 'exactly one task');
    assert.equal(ag.callsTo('CloudRecordingStart').filter((c) => c.body?.cname === room).length, 2);
    assert.equal(tasks[0].request.clientRequest.recordingConfig.streamTypes, 0, 'audio only');
    assertNoViolations();
  });

  test('every answer lost: unconfirmed (504 naming it), then a retry finds the unaddressable task, ends it and starts no second one', async () => {
    const room = await createRoom('agora');
    ag.failAll({ match: 'CloudRecordingStart', mode: 'timeout', apply: true });
    const body = { room, output_uri: P('s3://media/lost2/') };
    const lost = await start(body);
    const e = assertError(lost, 504, 'VENDOR_TIMEOUT');
    assert.match(e.recording, /^rec_/);
    ag.clearFaults();
    assert.equal(agoraTasksOf(room).length, 1);
    const retry = await start(body);
    assert.equal(retry.status, 201, retry.text);
    assert.equal(retry.json.recording, e.recording);
    assert.equal(retry.json.status, 'aborted');
    assert.equal(agoraTasksOf(room).length, 1, 'no second task');
    assert.equal(agoraTasksOf(room)[0].status, 8, 'the task was ended by removing its bot');
    assertNoViolations();
  });

  test('failures: concurrency limit at acquire, refused credentials, a task Agora no longer has', async () => {
    const room = await createRoom('agora');
    ag.fail({ match: 'CloudRecordingAcquire', status: 400, body: { code: 406, reason: 'vendor_over_load' } });
    assertError(await start({ room, output_uri: P('s3://media/f/') }), 503, 'VENDOR_RATE_LIMITED');
    ag.fail({ match: 'CloudRecordingStart', status: 401, body: { message: 'Invalid authentication credentials' } });
    assertError(await start({ room, output_uri: P('s3://media/f/') }), 502, 'VENDOR_AUTH_FAILED');
    const l = await api('GET', `/v1/rtc/recording/list?room=${room}`);
    assert.deepEqual(l.json.items, [], 'refused starts leave no record');

    const s = await start({ room, output_uri: P('s3://media/f/') });
    assert.equal(s.status, 201, s.text);
    const [task] = agoraTasksOf(room).filter((t) => t.status < 7);
    ag.advanceRecording(task.sid, 20);
    const g = await getRec(s.json.recording);
    assert.equal(g.status, 200);
    assert.equal(g.json.live, false, 'Agora\'s 404 leaves the stored state');
    assertError(await stopRec(s.json.recording), 404, 'RECORDING_NOT_FOUND');
    assertError(await start({ room, output_uri: P('gs://media/x/') }), 422, 'DESTINATION_NOT_CONFIGURED');
    assertNoViolations();
  });
});

describe('ZEGO Cloud Recording', () => {
  test('start, replay, get, list, stop: ClientTaskId is the recording id; files with sizes and durations', async () => {
    const room = await createRoom('zego');
    const body = { room, output_uri: P('s3://media/z/{room}/'), idempotency_key: `k-${randomToken(6)}` };
    const s = await start(body);
    assert.equal(s.status, 201, s.text);
    const rec = s.json.recording;
    const [task] = zegoTasksOf(room);
    assert.equal(task.ClientTaskId, rec);
    assert.equal(task.request.RecordOutputParams.OutputFolder, `${prj}/z/${room}/${room}-${rec}/`);
    assert.equal(task.request.StorageParams.Vendor, 1);
    const replay = await start(body);
    assert.equal(replay.json.recording, rec);
    assert.equal(replay.headers.get('idempotent-replayed'), 'true');
    const g = await getRec(rec);
    assert.deepEqual([g.json.status, g.json.live], ['active', true]);
    const l = await api('GET', `/v1/rtc/recording/list?room=${room}`);
    assert.deepEqual(l.json.items.map((r) => r.recording), [rec]);
    const stopped = await stopRec(rec);
    assert.equal(stopped.json.status, 'complete', stopped.text);
    const [file] = stopped.json.files;
    assert.match(file.location, new RegExp(`^https://media\\.s3\\.eu-west-1\\.amazonaws\\.com/${prj}/z/${room}/${room}-${rec}/`));
    assert.equal(file.size_bytes, 1048576);
    assert.ok(file.duration_ms >= 1000);
    assert.equal(zegoTasksOf(room).length, 1);
    assertNoViolations();
  });

  test('every answer lost: 504 naming the recording; get and a retry find the one task by its ClientTaskId', async () => {
    const room = await createRoom('zego');
    zg.failAll({ match: 'StartRecord', mode: 'timeout', apply: true });
    const body = { room, output_uri: P('s3://media/zl/'), layout: 'grid' };
    const e = assertError(await start(body), 504, 'VENDOR_TIMEOUT');
    zg.clearFaults();
    const g = await getRec(e.recording);
    assert.equal(g.json.status, 'active', g.text);
    const retry = await start(body);
    assert.equal(retry.status, 201, retry.text);
    assert.equal(retry.json.recording, e.recording);
    assert.equal(zegoTasksOf(room).length, 1, 'one task for one start');
    assert.equal(zegoTasksOf(room)[0].ClientTaskId, e.recording);
    assertNoViolations();
  });

  test('failures: Azure refused before any call, rate limit, an abnormal end, uploads still running', async () => {
    const room = await createRoom('zego');
    const before = zg.calls.length;
    const e = assertError(await start({ room, output_uri: P('azure://box/x/') }), 422, 'DESTINATION_UNSUPPORTED');
    assert.equal(e.field, 'output_uri');
    assert.equal(zg.calls.length, before);
    zg.fail({ match: 'StartRecord', status: 200, body: { Code: 300000003, Message: 'limit', RequestId: '1' } });
    assertError(await start({ room, output_uri: P('s3://media/zf/') }), 503, 'VENDOR_RATE_LIMITED');

    const s = await start({ room, output_uri: P('s3://media/zf/') });
    zg.advanceRecording(zg.recordingOf(s.json.recording).TaskId, 4);
    const failed = await getRec(s.json.recording);
    assert.equal(failed.json.status, 'failed', failed.text);

    zg.holdUploads(true);
    const u = await start({ room, output_uri: P('s3://media/zu/') });
    const stopping = await stopRec(u.json.recording);
    assert.equal(stopping.json.status, 'stopping', stopping.text);
    zg.holdUploads(false);
    const done = await getRec(u.json.recording);
    assert.equal(done.json.status, 'complete');
    assert.equal(done.json.files.length, 1);
    assertNoViolations();
  });
});

test('discovery lists recording live on both', async () => {
  const r = await api('GET', '/v1/discovery/rtc.recording.start');
  const by = Object.fromEntries(r.json.vendors.map((v) => [v.vendor, v.status]));
  assert.deepEqual(by, { livekit: 'unconfigured', agora: 'live', zego: 'live' });
});
