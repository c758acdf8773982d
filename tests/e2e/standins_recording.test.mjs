// Self-tests of the Agora and ZEGO Cloud Recording stand-ins (standins/agora-recording.mjs,
// standins/zego-recording.mjs): paths, auth, required fields, error codes, the task lifecycle and
// fault injection, driven with plain HTTP and the vendors' own token library.
//
// Run: node --test --test-concurrency=1 tests/e2e/standins_recording.test.mjs

import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';

import { startAgora, startZego, zegoSignature } from './support/standins/index.mjs';

const require = createRequire(import.meta.url);
const { RtcTokenBuilder, RtcRole } = require('agora-token');

const AG = { appId: '0123456789abcdef0123456789abcdef', customerId: 'cust-id', customerSecret: 'cust-secret', certificate: '5cfd2fd1755d40ecb72977518be15d3b' };
const ZG = { appId: 12345, serverSecret: '9193cc662a4c0ec135ec71fb57194b38' };

async function http(url, { method = 'GET', headers = {}, body, signal } = {}) {
  const res = await fetch(url, { method, headers, body: typeof body === 'string' || body === undefined ? body : JSON.stringify(body), signal });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json };
}

const lastCall = (h) => h.calls[h.calls.length - 1];

function assertViolation(h, re) {
  const c = lastCall(h);
  assert.equal(c.ok, false, `expected a violation, got ${c.status}`);
  if (re) assert.match(c.error, re);
}

// ---------------------------------------------------------------------------------------------
describe('Agora Cloud Recording stand-in', () => {
  let ag;
  const auth = `Basic ${Buffer.from(`${AG.customerId}:${AG.customerSecret}`).toString('base64')}`;
  before(async () => {
    ag = await startAgora({ port: 0, ...AG });
  });
  after(async () => ag.close());
  beforeEach(() => ag.reset());

  const base = () => `${ag.url}/v1/apps/${AG.appId}/cloud_recording`;
  const post = (path, body, { authorization = auth, signal } = {}) => http(`${base()}${path}`, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/json' },
    body,
    signal,
  });
  const token = (cname, uid, ttl = 24 * 3600) => RtcTokenBuilder.buildTokenWithUid(AG.appId, AG.certificate, cname, uid, RtcRole.SUBSCRIBER, ttl, ttl);
  const startBody = (cname, uid, overrides = {}) => ({
    cname,
    uid: String(uid),
    clientRequest: {
      token: token(cname, uid),
      storageConfig: { vendor: 1, region: 4, bucket: 'media', accessKey: 'AK', secretKey: 'SK', fileNamePrefix: ['calls', 'rmxrec1'] },
      recordingConfig: { channelType: 0, maxIdleTime: 300, streamTypes: 2, transcodingConfig: { width: 1280, height: 720, fps: 15, bitrate: 1130, mixedVideoLayout: 1 } },
      recordingFileConfig: { avFileType: ['hls', 'mp4'] },
      ...overrides,
    },
  });
  const acquire = async (cname, uid) => {
    const r = await post('/acquire', { cname, uid: String(uid), clientRequest: { scene: 0, resourceExpiredHour: 24 } });
    assert.equal(r.status, 200);
    return r.json.resourceId;
  };
  const start = async (cname, uid, overrides) => {
    const rid = await acquire(cname, uid);
    const r = await post(`/resourceid/${rid}/mode/mix/start`, startBody(cname, uid, overrides));
    return { rid, r };
  };

  test('acquire → start → query → stop, the recorder in the channel meanwhile, files once published', async () => {
    ag.seedUser('room1', 1);
    const { rid, r } = await start('room1', 7);
    assert.equal(r.status, 200);
    const { sid } = r.json;
    assert.match(sid, /^[a-z0-9]{32}$/);
    assert.deepEqual(ag.usersIn('room1').sort(), [1, 7], 'the recorder joined');

    let q = await http(`${base()}/resourceid/${rid}/sid/${sid}/mode/mix/query`, { headers: { authorization: auth } });
    assert.equal(q.json.serverResponse.status, 4);
    assert.deepEqual(q.json.serverResponse.fileList, []);
    ag.advanceRecording(sid, 5);
    q = await http(`${base()}/resourceid/${rid}/sid/${sid}/mode/mix/query`, { headers: { authorization: auth } });
    assert.equal(q.json.serverResponse.status, 5);
    assert.equal(q.json.serverResponse.fileList[1].fileName, `calls/rmxrec1/${sid}_room1_0.mp4`);

    const stop = await post(`/resourceid/${rid}/sid/${sid}/mode/mix/stop`, { cname: 'room1', uid: '7', clientRequest: { async_stop: false } });
    assert.equal(stop.status, 200);
    assert.equal(stop.json.serverResponse.uploadingStatus, 'uploaded');
    assert.deepEqual(ag.usersIn('room1'), [1], 'the recorder left');
    const again = await post(`/resourceid/${rid}/sid/${sid}/mode/mix/stop`, { cname: 'room1', uid: '7', clientRequest: { async_stop: false } });
    assert.deepEqual([again.status, again.json.code], [400, 49]);
    q = await http(`${base()}/resourceid/${rid}/sid/${sid}/mode/mix/query`, { headers: { authorization: auth } });
    assert.deepEqual([q.status, q.json.code], [404, 404]);
    assert.deepEqual(ag.violations(), []);
  });

  test('documented codes: already started (7, with the sid), task conflict (53), no recorded data (435)', async () => {
    const { rid, r } = await start('room2', 9);
    const sid = r.json.sid;
    const same = await post(`/resourceid/${rid}/mode/mix/start`, startBody('room2', 9));
    assert.deepEqual([same.status, same.json.code, same.json.sid], [201, 7, sid]);
    const other = await start('room2', 9);
    assert.deepEqual([other.r.status, other.r.json.code], [400, 53]);
    const stop = await post(`/resourceid/${rid}/sid/${sid}/mode/mix/stop`, { cname: 'room2', uid: '9', clientRequest: { async_stop: false } });
    assert.deepEqual([stop.status, stop.json.code], [206, 435], 'nobody published');
    assert.deepEqual(ag.violations(), []);
  });

  test('auth, paths and fields are checked; every breach is a recorded violation', async () => {
    let r = await post('/acquire', { cname: 'c', uid: '1', clientRequest: {} }, { authorization: 'Basic eDp5' });
    assert.equal(r.status, 401);
    assertViolation(ag, /wrong customer/);
    r = await http(`${ag.url}/v1/apps/ffffffffffffffffffffffffffffffff/cloud_recording/acquire`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: {} });
    assertViolation(ag, /wrong appid/);
    r = await post('/acquire', { cname: 'c', uid: 7, clientRequest: {} });
    assert.deepEqual([r.status, r.json.code], [400, 2]);
    assertViolation(ag, /decimal string/);
    r = await post('/resourceid/never-acquired/mode/mix/start', startBody('c', 1));
    assertViolation(ag, /never acquired/);

    const cases = [
      [{ token: token('other', 5) }, /token is for channel/],
      [{ token: token('room3', 6) }, /token is for uid/],
      [{ token: token('room3', 5, 60) }, /expires within the hour/],
      [{ token: 'not-a-token' }, /does not parse/],
      [{ storageConfig: { vendor: 4, region: 0, bucket: 'b', accessKey: 'a', secretKey: 's' } }, /not an Agora storage vendor/],
      [{ storageConfig: { vendor: 1, region: 17, bucket: 'b', accessKey: 'a', secretKey: 's' } }, /no Amazon S3 region/],
      [{ storageConfig: { vendor: 1, region: 0, bucket: 'b', accessKey: 'a', secretKey: 's', fileNamePrefix: ['a_b'] } }, /letters and digits/],
      [{ recordingFileConfig: { avFileType: ['mp4'] } }, /avFileType/],
      [{ recordingConfig: { channelType: 0, transcodingConfig: { width: 1920, height: 1920 } } }, /1920 × 1080/],
      [{ surprise: true }, /unknown clientRequest keys/],
    ];
    for (const [overrides, re] of cases) {
      const rid = await acquire('room3', 5);
      await post(`/resourceid/${rid}/mode/mix/start`, startBody('room3', 5, overrides));
      assertViolation(ag, re);
    }
    ag.seedUser('room4', 3);
    const taken = await start('room4', 3);
    assert.equal(taken.r.status, 400);
    assertViolation(ag, /is a user's uid/);
    assert.equal(ag.recordingTasks.size, 0);
  });

  test('fault injection: a start whose answer is lost still starts (apply:true); the retry learns its sid', async () => {
    const rid = await acquire('room5', 11);
    ag.fail({ match: 'CloudRecordingStart', mode: 'timeout', apply: true });
    await assert.rejects(
      post(`/resourceid/${rid}/mode/mix/start`, startBody('room5', 11), { signal: AbortSignal.timeout(300) }),
      (e) => e.name === 'TimeoutError' || e.name === 'AbortError',
    );
    assert.equal(ag.recordingTasks.size, 1);
    const retry = await post(`/resourceid/${rid}/mode/mix/start`, startBody('room5', 11));
    assert.deepEqual([retry.status, retry.json.code, retry.json.sid], [201, 7, ag.recordingOf('room5').sid]);

    ag.fail({ match: 'CloudRecordingQuery', status: 206, body: { code: 65, reason: 'request not completed' } });
    const sid = ag.recordingOf('room5').sid;
    const q = await http(`${base()}/resourceid/${rid}/sid/${sid}/mode/mix/query`, { headers: { authorization: auth } });
    assert.deepEqual([q.status, q.json.code], [206, 65]);
    ag.advanceRecording(sid, 20);
    const gone = await http(`${base()}/resourceid/${rid}/sid/${sid}/mode/mix/query`, { headers: { authorization: auth } });
    assert.equal(gone.status, 404, 'an abnormally exited task is gone');
    assert.deepEqual(ag.violations(), []);
  });
});

// ---------------------------------------------------------------------------------------------
describe('ZEGO Cloud Recording stand-in', () => {
  let zg;
  before(async () => {
    zg = await startZego({ port: 0, ...ZG });
  });
  after(async () => zg.close());
  beforeEach(() => zg.reset());

  const signed = (action) => {
    const nonce = crypto.randomBytes(8).toString('hex');
    const ts = Math.floor(Date.now() / 1000);
    return `Action=${action}&AppId=${ZG.appId}&SignatureNonce=${nonce}&Timestamp=${ts}&Signature=${zegoSignature(ZG.appId, nonce, ZG.serverSecret, ts)}&SignatureVersion=2.0`;
  };
  const act = (action, body, { query = signed(action), method = 'POST', signal } = {}) => http(`${zg.url}/?${query}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: method === 'GET' ? undefined : body,
    signal,
  });
  const startBody = (client, overrides = {}) => ({
    RoomId: 'room1',
    RecordInputParams: {
      RecordMode: 2,
      StreamType: 3,
      ClientTaskId: client,
      MaxIdleTime: 300,
      MixConfig: { MixMode: 2, MixOutputStreamId: client, MixOutputVideoConfig: { Width: 1280, Height: 720, Fps: 15, Bitrate: 1500000 } },
    },
    RecordOutputParams: { OutputFileFormat: 'mp4', OutputFolder: 'calls/rm-rec/' },
    StorageParams: { Vendor: 1, Region: 'eu-west-1', Bucket: 'media', AccessKeyId: 'AK', AccessKeySecret: 'SK' },
    ...overrides,
  });

  test('StartRecord → DescribeRecordStatus → StopRecord; one task per ClientTaskId', async () => {
    const s = await act('StartRecord', startBody('rec_1'));
    assert.equal(s.json.Code, 0);
    const id = s.json.Data.TaskId;
    assert.equal(id.length, 16);
    const again = await act('StartRecord', startBody('rec_1'));
    assert.equal(again.json.Data.TaskId, id, 'the same ClientTaskId names the same task');
    assert.equal(zg.recordingTasks.size, 1);

    let d = await act('DescribeRecordStatus', { TaskId: id });
    assert.deepEqual([d.json.Code, d.json.Data.Status, d.json.Data.RecordFiles], [0, 2, []]);
    const stop = await act('StopRecord', { TaskId: id });
    assert.equal(stop.json.Code, 0);
    d = await act('DescribeRecordStatus', { TaskId: id });
    assert.equal(d.json.Data.Status, 3);
    const [file] = d.json.Data.RecordFiles;
    assert.equal(file.Status, 3);
    assert.match(file.FileId, new RegExp(`^calls/rm-rec/${id}_room1_rec_1_VA_\\d+\\.mp4$`));
    assert.equal(file.FileUrl, `https://media.s3.eu-west-1.amazonaws.com/${file.FileId}`);
    const twice = await act('StopRecord', { TaskId: id });
    assert.equal(twice.json.Code, 300001001);
    const unknown = await act('DescribeRecordStatus', { TaskId: 'nope' });
    assert.equal(unknown.json.Code, 300001000);
    assert.deepEqual(zg.violations(), []);
  });

  test('lifecycle controls: abnormal end, uploads held', async () => {
    const id = (await act('StartRecord', startBody('rec_2'))).json.Data.TaskId;
    zg.advanceRecording(id, 4);
    let d = await act('DescribeRecordStatus', { TaskId: id });
    assert.equal(d.json.Data.Status, 4);
    const id3 = (await act('StartRecord', startBody('rec_3'))).json.Data.TaskId;
    zg.holdUploads(true);
    await act('StopRecord', { TaskId: id3 });
    d = await act('DescribeRecordStatus', { TaskId: id3 });
    assert.equal(d.json.Data.RecordFiles[0].Status, 2);
  });

  test('signature, method, placement and fields are checked as violations', async () => {
    let r = await act('StartRecord', startBody('x'), { query: signed('StartRecord').replace(/Signature=[0-9a-f]+/, 'Signature=00') });
    assert.equal(r.json.Code, 100000005);
    assertViolation(zg, /Signature does not match/);
    r = await act('StopRecord', undefined, { method: 'GET' });
    assertViolation(zg, /POST with a JSON body/);
    r = await act('StopRecord', { TaskId: 't' }, { query: `${signed('StopRecord')}&TaskId=t` });
    assertViolation(zg, /in the body/);
    const cases = [
      [{ RoomId: '' }, /RoomId is required/],
      [{ StorageParams: undefined }, /StorageParams is required/],
      [{ StorageParams: { Vendor: 1, Bucket: 'b', AccessKeyId: 'a', AccessKeySecret: 's' } }, /Region is required/],
      [{ StorageParams: { Vendor: 10, Bucket: 'b', AccessKeyId: 'a', AccessKeySecret: 's' } }, /EndPoint is required/],
      [{ RecordOutputParams: { OutputFileFormat: 'ogg' } }, /OutputFileFormat/],
      [{ RecordInputParams: { RecordMode: 2, StreamType: 3, MixConfig: { MixOutputStreamId: 's' } } }, /MixOutputVideoConfig/],
      [{ RecordInputParams: { RecordMode: 2, StreamType: 1 } }, /MixConfig is required/],
      [{ Extra: 1 }, /unknown StartRecord keys/],
    ];
    for (const [overrides, re] of cases) {
      r = await act('StartRecord', startBody('y', overrides));
      assert.equal(r.json.Code, 300000004);
      assertViolation(zg, re);
    }
    assert.equal(zg.recordingTasks.size, 0);
  });

  test('fault injection: a StartRecord whose answer is lost (apply:true) made its task; asking again returns it', async () => {
    zg.fail({ match: 'StartRecord', mode: 'timeout', apply: true });
    await assert.rejects(act('StartRecord', startBody('rec_4'), { signal: AbortSignal.timeout(300) }), (e) => e.name === 'TimeoutError' || e.name === 'AbortError');
    assert.equal(zg.recordingTasks.size, 1);
    const again = await act('StartRecord', startBody('rec_4'));
    assert.equal(again.json.Data.TaskId, zg.recordingOf('rec_4').TaskId);
    zg.fail({ match: 'DescribeRecordStatus', status: 200, body: { Code: 300000003, Message: 'limit', RequestId: '1' } });
    const limited = await act('DescribeRecordStatus', { TaskId: again.json.Data.TaskId });
    assert.equal(limited.json.Code, 300000003);
    assert.deepEqual(zg.violations(), []);
  });
});
