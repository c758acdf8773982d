// rtc.recording.* against the real Worker (workerd under `wrangler dev`, local D1/KV) and the strict
// LiveKit stand-in with Egress (requests parsed by `@livekit/protocol` fromJson, the `roomRecord`
// grant checked, the egress lifecycle moved with advanceEgress()). Agora and ZEGO stand-ins are
// configured too (their recordings: vendor_recordings.test.mjs).
//
// Two Workers:
//  - `main`: LiveKit + Agora + ZEGO, storage secrets for s3 (with a custom endpoint), gcs and azure,
//    and RECORDING_DEFAULT_URI;
//  - `s3only`: LiveKit (its own stand-in) and S3 secrets without an endpoint, no default destination
//    (DESTINATION_NOT_CONFIGURED for gs:// and azure://, 400 without output_uri, auto-record refused).
//
// Lost starts (a StartRoomCompositeEgress whose answer never came): the Worker keeps the record with the
// exact output path it asked for and confirms it later — by a retry of the same request, or by get/stop —
// as the room's egress writing to that path that no other record claims; only after 2 × VENDOR_TIMEOUT_MS
// does "no such egress" mean "never started". The stand-in's fault injection (`apply: true`: LiveKit acted,
// only the answer was lost) drives each case. The stand-in starts an auto-record room's own egress on
// CreateRoom, as LiveKit does.
//
// Storage is confined per project: the shared credentials write only inside `<folder><project id>/` of
// the shared buckets (P()/P2() move a test's URI there), a project's own destination (sealed under
// RTCGATE_ENCRYPTION_KEY on `main`; `s3only` has no key) is used for its folder and by no other project,
// and a client that hangs up while LiveKit holds its start still gets its egress recorded (waitUntil).
//
// Three LiveKit outages in a row open the Worker's circuit breaker (30 s, published to KV), which would
// show in discovery; the tests keep a successful LiveKit call between failures.
//
// Run: node --test --test-concurrency=1 tests/e2e/recordings.test.mjs   (after `bash scripts/build.sh`)

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startWorker, api as rawApi, adminSetup, randomToken } from './support/harness.mjs';
import { startLiveKit } from './support/standins/index.mjs';
import { CREDS, assertError, startVendorStandins, vendorVars } from './support/fixtures.mjs';
import { EncodedFileOutput, RoomCompositeEgressRequest, RoomEgress, S3Upload } from '@livekit/protocol';
import { RoomServiceClient } from 'livekit-server-sdk';

const ADMIN = randomToken();
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
// Also the unconfirmed window: a lost start is unconfirmed for 2 × VENDOR_TIMEOUT_MS from the call,
// of which the call's own timeout takes the first half; the second half is what the checks inside the
// window have on a busy 2-core machine (each a request with a vendor call), so it is not made shorter.
const VENDOR_TIMEOUT_MS = 4000;

const LK = CREDS.livekit; // the standard test credentials (fixtures.mjs)

// Storage secrets (Worker vars). Every value below must never appear in an API response.
const S3 = {
  accessKey: 'AKIAE2ERECORDACCESS',
  secret: 's3-e2e-SECRET-value-9f8e7d',
  region: 'eu-west-1',
  endpoint: 'https://minio.e2e.example:9000',
};
const S3_ONLY = { accessKey: 'AKIAE2EONLYSECONDWKR', secret: 's3only-e2e-SECRET-4c3b2a', region: 'us-east-2' };
const GCP_CREDENTIALS = '{"type":"service_account","project_id":"rtc-e2e","private_key":"gcp-e2e-PRIVATE-KEY-77aa"}';
const AZURE = { name: 'rtcgatee2eacct', key: 'azure-e2e-ACCOUNT-KEY-Zm9vYmFy==' };
const DEFAULT_URI = 's3://media-default/auto/';

// A project's own storage (a destination on `main`), and the key that seals it at rest.
const OWN_S3 = { accessKey: 'AKIAE2EPROJECTOWNKEY', secret: 'project-own-SECRET-5e6f7a', region: 'ap-south-1' };
const ENCRYPTION_KEY = '6a0f3c9e21b84d57a6e0c3f19b2d4e8a7c5f0e1d2c3b4a5968778695a4b3c2d1';

const SECRETS = [OWN_S3.accessKey, OWN_S3.secret, ENCRYPTION_KEY, S3.accessKey, S3.secret, S3_ONLY.accessKey, S3_ONLY.secret, GCP_CREDENTIALS, 'gcp-e2e-PRIVATE-KEY-77aa', AZURE.key];

let vendors; // startVendorStandins() (LiveKit, Agora, ZEGO) for `main`
let lk; // vendors.livekit
let lk2; // the LiveKit stand-in of `s3only`
let w; // main Worker
let w2; // s3only Worker
let key; // API key of a project on `main`
let otherKey; // API key of another project on `main`
let key2; // API key on `s3only`
let prj; // the project of `key`
let otherPrj; // the project of `otherKey`
let prj2; // the project of `key2`

// The Workers' shared storage writes only inside each project's folder: on `main` the default URI's
// folder `auto/` then the project id, in the default bucket and SHARED_BUCKETS; on `s3only` (no
// default URI) the project id at the top of its SHARED_BUCKETS.
const SHARED_BUCKETS = 'media, media-bucket, rec-bucket, gcs-bucket, az-container';
const SHARED_BUCKETS_2 = 'plain-bucket, bucket, container';
/** `uri` moved into the project's folder on `main`: `s3://b/p` → `s3://b/auto/<project>/p`. */
const P = (uri, project = prj) => uri.replace(/^([a-z0-9]+:\/\/[^/]+\/)/, `$1auto/${project}/`);
/** The same on `s3only`: `s3://b/p` → `s3://b/<project>/p`. */
const P2 = (uri) => uri.replace(/^([a-z0-9]+:\/\/[^/]+\/)/, `$1${prj2}/`);

before(async () => {
  [vendors, lk2] = await Promise.all([startVendorStandins(), startLiveKit(LK)]);
  lk = vendors.livekit;
  [w, w2] = await Promise.all([
    startWorker({
      name: 'recordings-main',
      vars: {
        ADMIN_TOKEN: ADMIN,
        RTC_VENDOR_ORDER: 'livekit,agora,zego',
        VENDOR_TIMEOUT_MS,
        ...vendorVars(vendors),
        RECORDING_DEFAULT_URI: DEFAULT_URI,
        RECORDING_S3_ACCESS_KEY: S3.accessKey,
        RECORDING_S3_SECRET: S3.secret,
        RECORDING_S3_REGION: S3.region,
        RECORDING_S3_ENDPOINT: S3.endpoint,
        RECORDING_GCP_CREDENTIALS: GCP_CREDENTIALS,
        RECORDING_AZURE_ACCOUNT_NAME: AZURE.name,
        RECORDING_AZURE_ACCOUNT_KEY: AZURE.key,
        RECORDING_SHARED_BUCKETS: SHARED_BUCKETS,
        RTCGATE_ENCRYPTION_KEY: ENCRYPTION_KEY,
      },
    }),
    startWorker({
      name: 'recordings-s3only',
      vars: {
        ADMIN_TOKEN: ADMIN,
        VENDOR_TIMEOUT_MS,
        ...vendorVars({ livekit: lk2 }), // LiveKit only
        RECORDING_S3_ACCESS_KEY: S3_ONLY.accessKey,
        RECORDING_S3_SECRET: S3_ONLY.secret,
        RECORDING_S3_REGION: S3_ONLY.region,
        RECORDING_SHARED_BUCKETS: SHARED_BUCKETS_2,
      },
    }),
  ]);
  [{ key, projectId: prj }, { key: otherKey, projectId: otherPrj }, { key: key2, projectId: prj2 }] = await Promise.all([
    adminSetup(w, { projectName: 'rec-main' }),
    adminSetup(w, { projectName: 'rec-other' }),
    adminSetup(w2, { projectName: 'rec-s3only' }),
  ]);
});

after(async () => {
  await Promise.all([w?.stop(), w2?.stop()]);
  await Promise.all([vendors?.close(), lk2?.close()]);
});

// ---------------------------------------------------------------------------------------------
// helpers

/** Every API call goes through here: no response, success or error, may carry a storage secret. */
async function api(worker, method, path, opts) {
  const res = await rawApi(worker, method, path, opts);
  for (const s of SECRETS) {
    assert.ok(!res.text.includes(s), `${method} ${path} → ${res.status}: the response carries a storage secret (${s.slice(0, 8)}…): ${res.text}`);
    for (const [, v] of res.headers) assert.ok(!v.includes(s), `${method} ${path}: a response header carries a storage secret`);
  }
  return res;
}

function assertRecent(ts, what) {
  assert.match(String(ts), RFC3339_UTC, `${what}: ${ts}`);
  const skew = Math.abs(Date.parse(ts) - Date.now());
  assert.ok(skew < 10 * 60_000, `${what} is ${skew} ms from now`);
}

function assertNoViolations(...handles) {
  const list = handles.length ? handles : vendors.list;
  for (const h of list) {
    assert.deepEqual(
      h.violations().map((c) => `${c.op ?? c.path}: ${c.error}`),
      [],
      `${h.name} received requests the vendor would reject`,
    );
  }
}

let roomSeq = 0;
async function createRoom(worker, k, { vendor = 'livekit', name, ...rest } = {}) {
  const body = { name: name ?? `rec-room-${++roomSeq}-${randomToken(4)}`, vendor, ...rest };
  const r = await api(worker, 'POST', '/v1/rtc/room/create', { key: k, body });
  assert.equal(r.status, 201, r.text);
  assert.match(r.json.room, /^rm_/);
  assert.equal(r.json.vendor, vendor);
  return { id: r.json.room, name: body.name };
}

const starts = (h = lk) => h.callsTo('StartRoomCompositeEgress');
const lastStart = (h = lk) => starts(h).at(-1);
const egressesOf = (roomId, h = lk) => [...h.egresses.values()].filter((e) => e.roomName === roomId);

/** Starts a recording on `main`, checks the 201 and the egress it created; returns both. */
async function startRecording(body, { worker = w, k = key, h = lk } = {}) {
  const before = starts(h).length;
  const r = await api(worker, 'POST', '/v1/rtc/recording/start', { key: k, body });
  assert.equal(r.status, 201, r.text);
  assert.match(r.json.recording, /^rec_[A-Za-z0-9]+$/);
  assert.equal(r.json.status, 'starting');
  assert.equal(r.json.vendor, 'livekit');
  assertRecent(r.json.started_at, 'started_at');
  assert.equal(starts(h).length, before + 1, 'exactly one StartRoomCompositeEgress per start');
  const call = lastStart(h);
  assert.equal(call.ok, true, call.error);
  assert.equal(call.status, 200);
  return { rec: r.json, call, egressId: call.response.egress_id };
}

const getRec = (id, k = key) => api(w, 'GET', `/v1/rtc/recording/get/${id}`, { key: k });

const startRaw = (body, k = key) => api(w, 'POST', '/v1/rtc/recording/start', { key: k, body });
const stopRec = (id, k = key) => api(w, 'POST', `/v1/rtc/recording/stop/${id}`, { key: k, body: {} });
/** The file path an egress writes to (its request echo's first file output). */
const filepathOf = (egress) => egress.request.value.fileOutputs[0].filepath;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

// ---------------------------------------------------------------------------------------------

describe('start, get, list, stop', () => {
  test('start → 201 Recording; the stand-in got StartRoomCompositeEgress for the room id with the layout and one file output', async () => {
    const room = await createRoom(w, key);
    const body = { room: room.name, output_uri: P('s3://media/rec/{room}.mp4'), layout: 'speaker', metadata: { by: 'e2e' } };
    const { rec, call } = await startRecording(body);
    assert.equal(rec.room, room.id, 'the room is reported by id even when named by name');
    assert.equal(rec.output_uri, P(`s3://media/rec/${room.id}-${rec.recording}.mp4`), 'output_uri is the destination written to ({room} expanded)');
    assert.equal(rec.layout, 'speaker');
    assert.equal(rec.audio_only, false);
    assert.deepEqual(rec.metadata, { by: 'e2e' });
    assert.deepEqual(rec.files, []);
    assert.equal(rec.ended_at ?? null, null);

    // The request as LiveKit parsed it, and as rtcgate sent it.
    assert.equal(call.message.roomName, room.id);
    assert.equal(call.message.layout, 'speaker');
    assert.equal(call.message.fileOutputs.length, 1);
    assert.equal(call.message.streamOutputs.length + call.message.segmentOutputs.length + call.message.imageOutputs.length, 0);
    assert.equal(call.message.output?.case, undefined, 'no deprecated single `file` output as well');
    assert.equal(call.body.room_name, room.id);
    assert.equal(call.body.layout, 'speaker');
    assert.equal(call.body.audio_only, undefined);
    assert.equal(call.body.file_outputs.length, 1);
    assert.equal(call.grants.video.roomRecord, true, 'the Twirp token carries the roomRecord grant');

    // get (refreshes from the vendor via ListEgress by egress id) and list see it.
    const listBefore = lk.callsTo('ListEgress').length;
    const g = await getRec(rec.recording);
    assert.equal(g.status, 200, g.text);
    assert.equal(g.json.recording, rec.recording);
    assert.equal(g.json.status, 'starting');
    assert.equal(g.json.live, true, 'refreshed from LiveKit');
    assert.equal(g.json.room, room.id);
    assert.equal(g.json.output_uri, rec.output_uri);
    const lists = lk.callsTo('ListEgress').slice(listBefore);
    assert.equal(lists.length, 1);
    assert.deepEqual(lists[0].body, { egress_id: lastStart().response.egress_id });

    const l = await api(w, 'GET', `/v1/rtc/recording/list?room=${room.id}`, { key });
    assert.equal(l.status, 200, l.text);
    assert.deepEqual(l.json.items.map((i) => i.recording), [rec.recording]);
    assert.equal(l.json.next_cursor, null);
    assert.equal(l.json.items[0].status, 'starting');
    assertNoViolations();
  });

  test('stop → 200 {recording, status: stopping, output_uri} through StopEgress{egress_id}', async () => {
    const room = await createRoom(w, key);
    const { rec, egressId } = await startRecording({ room: room.id, output_uri: P('gs://rec-bucket/stop/{room}.mp4') });
    const s = await api(w, 'POST', `/v1/rtc/recording/stop/${rec.recording}`, { key, body: {} });
    assert.equal(s.status, 200, s.text);
    assert.equal(s.json.recording, rec.recording);
    assert.equal(s.json.status, 'stopping');
    assert.equal(s.json.output_uri, P(`gs://rec-bucket/stop/${room.id}-${rec.recording}.mp4`));
    const stops = lk.callsTo('StopEgress');
    assert.equal(stops.at(-1).status, 200);
    assert.deepEqual(stops.at(-1).body, { egress_id: egressId });
    assert.equal(lk.egresses.get(egressId).status, 2 /* EGRESS_ENDING */);
    // A second stop (no body) while the egress is ending: LiveKit refuses with 412, rtcgate reports the state.
    const again = await api(w, 'POST', `/v1/rtc/recording/stop/${rec.recording}`, { key });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.json.status, 'stopping');
    assertNoViolations();
  });

  test('stop after complete returns the final state (200): via the stand-in\'s 412, then without any vendor call', async () => {
    const room = await createRoom(w, key);
    const { rec, egressId } = await startRecording({ room: room.id, output_uri: P('s3://media/final/') });
    lk.advanceEgress(egressId, 'EGRESS_ACTIVE');
    const s = await api(w, 'POST', `/v1/rtc/recording/stop/${rec.recording}`, { key, body: {} });
    assert.equal(s.status, 200, s.text);
    assert.equal(s.json.status, 'stopping');

    // The egress finishes; our record still says "stopping", so stop asks again: LiveKit answers
    // 412 failed_precondition, rtcgate reads the final state instead of failing.
    lk.advanceEgress(egressId, 'EGRESS_COMPLETE', {
      file_results: [{ filename: 'f.mp4', location: 'https://minio.e2e.example:9000/media/final/f.mp4', size: 2048, duration: 3_000_000_000 }],
    });
    const stopsBefore = lk.callsTo('StopEgress').length;
    const s2 = await api(w, 'POST', `/v1/rtc/recording/stop/${rec.recording}`, { key, body: {} });
    assert.equal(s2.status, 200, s2.text);
    assert.equal(s2.json.status, 'complete');
    assert.deepEqual(s2.json.files, [{ location: 'https://minio.e2e.example:9000/media/final/f.mp4', size_bytes: 2048, duration_ms: 3000 }]);
    const newStops = lk.callsTo('StopEgress').slice(stopsBefore);
    assert.equal(newStops.length, 1);
    assert.equal(newStops[0].status, 412);
    assert.equal(newStops[0].response.code, 'failed_precondition');

    // Now the record is final: neither stop nor get calls the vendor again.
    const callsBefore = lk.calls.length;
    const s3 = await api(w, 'POST', `/v1/rtc/recording/stop/${rec.recording}`, { key, body: {} });
    assert.equal(s3.status, 200, s3.text);
    assert.equal(s3.json.status, 'complete');
    assert.deepEqual(s3.json.files, s2.json.files);
    const g = await getRec(rec.recording);
    assert.equal(g.json.status, 'complete');
    assert.equal(lk.calls.length, callsBefore, 'a finished recording is answered from the record');
    assertNoViolations();
  });

  test('stop after complete seen by get: no StopEgress at all', async () => {
    const room = await createRoom(w, key);
    const { rec, egressId } = await startRecording({ room: room.id, output_uri: P('s3://media/x/{room}.mp4') });
    lk.advanceEgress(egressId, 'EGRESS_COMPLETE');
    assert.equal((await getRec(rec.recording)).json.status, 'complete');
    const stopsBefore = lk.callsTo('StopEgress').length;
    const s = await api(w, 'POST', `/v1/rtc/recording/stop/${rec.recording}`, { key, body: {} });
    assert.equal(s.status, 200, s.text);
    assert.equal(s.json.recording, rec.recording);
    assert.equal(s.json.status, 'complete');
    assert.equal(s.json.output_uri, P(`s3://media/x/${room.id}-${rec.recording}.mp4`));
    assert.equal(lk.callsTo('StopEgress').length, stopsBefore);
    assertNoViolations();
  });

  test('list pages with limit and next_cursor, newest first; filters by room; a bad cursor is 400', async () => {
    const room = await createRoom(w, key);
    const other = await createRoom(w, key);
    const ids = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await startRecording({ room: room.id, output_uri: P(`s3://media/list/${i}/`) })).rec.recording);
      await new Promise((r) => setTimeout(r, 5)); // distinct started_at milliseconds (ordering only)
    }
    const elsewhere = (await startRecording({ room: other.id, output_uri: P('s3://media/list/other/') })).rec.recording;

    const p1 = await api(w, 'GET', `/v1/rtc/recording/list?room=${room.id}&limit=2`, { key });
    assert.equal(p1.status, 200, p1.text);
    assert.equal(p1.json.items.length, 2);
    assert.equal(typeof p1.json.next_cursor, 'string');
    assert.ok(p1.json.next_cursor.length > 0);
    const p2 = await api(w, 'GET', `/v1/rtc/recording/list?room=${room.id}&limit=2&cursor=${encodeURIComponent(p1.json.next_cursor)}`, { key });
    assert.equal(p2.status, 200, p2.text);
    assert.equal(p2.json.items.length, 1);
    assert.equal(p2.json.next_cursor, null);
    const seen = [...p1.json.items, ...p2.json.items].map((i) => i.recording);
    assert.deepEqual(seen, [...ids].reverse(), 'newest first, no repeats, nothing skipped');
    for (const item of [...p1.json.items, ...p2.json.items]) assert.equal(item.room, room.id);

    // The room may be named by name; without a room filter every room of the project is listed.
    const byName = await api(w, 'GET', `/v1/rtc/recording/list?room=${encodeURIComponent(room.name)}&limit=5`, { key });
    assert.deepEqual(byName.json.items.map((i) => i.recording), [...ids].reverse());
    const all = await api(w, 'GET', '/v1/rtc/recording/list?limit=100', { key });
    assert.equal(all.status, 200, all.text);
    const allIds = all.json.items.map((i) => i.recording);
    for (const id of [...ids, elsewhere]) assert.ok(allIds.includes(id), `${id} missing from the unfiltered list`);
    // Another project sees none of them.
    const foreign = await api(w, 'GET', '/v1/rtc/recording/list?limit=100', { key: otherKey });
    assert.equal(foreign.status, 200, foreign.text);
    for (const id of [...ids, elsewhere]) assert.ok(!foreign.text.includes(id), 'another project must not list our recordings');

    assertError(await api(w, 'GET', `/v1/rtc/recording/list?room=${room.id}&cursor=not-a-cursor`, { key }), 400, 'INVALID_REQUEST', { field: 'cursor' });
    assertError(await api(w, 'GET', `/v1/rtc/recording/list?cursor=${encodeURIComponent("1.rec'--")}`, { key }), 400, 'INVALID_REQUEST', { field: 'cursor' });
    assertError(await api(w, 'GET', `/v1/rtc/recording/list?room=${room.id}&limit=0`, { key }), 400, 'INVALID_REQUEST', { field: 'limit' });
    assertError(await api(w, 'GET', `/v1/rtc/recording/list?room=${room.id}&limit=101`, { key }), 400, 'INVALID_REQUEST', { field: 'limit' });
    assertError(await api(w, 'GET', '/v1/rtc/recording/list?status=active', { key }), 400, 'UNKNOWN_FIELD', { field: 'status' });
    assertError(await api(w, 'GET', '/v1/rtc/recording/list?room=rm_doesnotexist', { key }), 404, 'ROOM_NOT_FOUND');
    assertNoViolations();
  });
});

describe('destinations: the file output, field by field', () => {
  test('s3:// with a custom endpoint → s3 {access_key, secret, region, endpoint, force_path_style, bucket}, {room} expanded, MP4', async () => {
    const room = await createRoom(w, key);
    const { rec, call } = await startRecording({ room: room.id, output_uri: P('s3://media-bucket/rooms/{room}/take.mp4') });
    assert.equal(rec.output_uri, P(`s3://media-bucket/rooms/${room.id}/take-${rec.recording}.mp4`));
    assert.deepEqual(call.body.file_outputs, [
      {
        file_type: 'MP4',
        filepath: `auto/${prj}/rooms/${room.id}/take-${rec.recording}.mp4`,
        s3: {
          access_key: S3.accessKey,
          secret: S3.secret,
          region: S3.region,
          endpoint: S3.endpoint,
          force_path_style: true,
          bucket: 'media-bucket',
        },
      },
    ]);
    const out = call.message.fileOutputs[0];
    assert.equal(out.output.case, 's3');
    assert.equal(out.output.value.bucket, 'media-bucket');
    assert.equal(out.output.value.forcePathStyle, true);
    assertNoViolations();
  });

  test('s3:// without an endpoint (second Worker) → no endpoint, no force_path_style', async () => {
    const room = await createRoom(w2, key2);
    const { rec, call } = await startRecording({ room: room.id, output_uri: P2('s3://plain-bucket/{room}.mp4') }, { worker: w2, k: key2, h: lk2 });
    assert.deepEqual(call.body.file_outputs, [
      {
        file_type: 'MP4',
        filepath: `${prj2}/${room.id}-${rec.recording}.mp4`,
        s3: { access_key: S3_ONLY.accessKey, secret: S3_ONLY.secret, region: S3_ONLY.region, bucket: 'plain-bucket' },
      },
    ]);
    assertNoViolations(lk2);
  });

  test('gs:// → gcp {credentials, bucket}', async () => {
    const room = await createRoom(w, key);
    const { rec, call } = await startRecording({ room: room.id, output_uri: P('gs://gcs-bucket/rec/{room}.mp4'), layout: 'grid' });
    assert.deepEqual(call.body.file_outputs, [
      { file_type: 'MP4', filepath: `auto/${prj}/rec/${room.id}-${rec.recording}.mp4`, gcp: { credentials: GCP_CREDENTIALS, bucket: 'gcs-bucket' } },
    ]);
    assert.equal(call.message.fileOutputs[0].output.case, 'gcp');
    assert.equal(call.body.layout, 'grid');
    assertNoViolations();
  });

  test('azure:// → azure {account_name, account_key, container_name}', async () => {
    const room = await createRoom(w, key);
    const { rec, call } = await startRecording({ room: room.id, output_uri: P('azure://az-container/a/b/{room}.mp4'), layout: 'single-speaker' });
    assert.deepEqual(call.body.file_outputs, [
      {
        file_type: 'MP4',
        filepath: `auto/${prj}/a/b/${room.id}-${rec.recording}.mp4`,
        azure: { account_name: AZURE.name, account_key: AZURE.key, container_name: 'az-container' },
      },
    ]);
    assert.equal(call.message.fileOutputs[0].output.case, 'azure');
    assert.equal(call.body.layout, 'single-speaker');
    assertNoViolations();
  });

  test('audio_only → OGG file and audio_only on the request; a folder path gets {room}-{recording}.ogg', async () => {
    const room = await createRoom(w, key);
    const { rec, call } = await startRecording({ room: room.id, output_uri: P('azure://az-container/audio/'), audio_only: true });
    assert.equal(rec.audio_only, true);
    assert.equal(call.body.audio_only, true);
    assert.equal(call.message.audioOnly, true);
    const out = call.body.file_outputs[0];
    assert.equal(out.file_type, 'OGG');
    // A folder gets one file per recording, named after it: the path identifies the recording.
    assert.equal(out.filepath, `auto/${prj}/audio/${room.id}-${rec.recording}.ogg`);
    assert.deepEqual(out.azure, { account_name: AZURE.name, account_key: AZURE.key, container_name: 'az-container' });
    assert.equal(rec.output_uri, `azure://az-container/${out.filepath}`, 'output_uri names the file the folder path was completed with');
    assertNoViolations();
  });

  test('no output_uri → RECORDING_DEFAULT_URI completed with {room}-{recording}; {time} expands', async () => {
    const room = await createRoom(w, key);
    const { rec, call } = await startRecording({ room: room.id });
    const out = call.body.file_outputs[0];
    assert.equal(out.s3.bucket, 'media-default');
    assert.equal(out.filepath, `auto/${prj}/${room.id}-${rec.recording}.mp4`);
    assert.equal(rec.output_uri, `s3://media-default/${out.filepath}`, 'the default folder completed with {room}-{recording}.mp4');
    const timed = await startRecording({ room: room.id, output_uri: P('gs://gcs-bucket/{room}/{time}.mp4') });
    const timedPath = timed.call.body.file_outputs[0].filepath;
    assert.match(timedPath, new RegExp(`^auto/${prj}/${room.id}/\\d{8}T\\d{6}Z-${timed.rec.recording}\\.mp4$`));
    assert.equal(timed.rec.output_uri, `gs://gcs-bucket/${timedPath}`);
    assertNoViolations();
  });
});

describe('status mapping from EgressInfo', () => {
  test('ACTIVE → active, ENDING → stopping, COMPLETE → complete with files (size_bytes, duration_ms)', async () => {
    const room = await createRoom(w, key);
    const { rec, egressId } = await startRecording({ room: room.id, output_uri: P('s3://media/status/{room}.mp4') });

    lk.advanceEgress(egressId, 'EGRESS_ACTIVE');
    let g = await getRec(rec.recording);
    assert.equal(g.status, 200, g.text);
    assert.equal(g.json.status, 'active');
    assert.equal(g.json.error, undefined);

    lk.advanceEgress(egressId, 'EGRESS_ENDING');
    g = await getRec(rec.recording);
    assert.equal(g.json.status, 'stopping');
    assert.deepEqual(g.json.files, []);

    const endedNs = BigInt(Date.now()) * 1_000_000n;
    lk.advanceEgress(egressId, 'EGRESS_COMPLETE', {
      file_results: [
        {
          filename: `${room.id}.mp4`,
          location: `https://media.s3.eu-west-1.amazonaws.com/status/${room.id}.mp4`,
          size: 1_048_576,
          duration: 60_875_543_211, // nanoseconds
          started_at: String(endedNs - 60_875_543_211n),
          ended_at: String(endedNs),
        },
      ],
    });
    g = await getRec(rec.recording);
    assert.equal(g.json.status, 'complete');
    assert.deepEqual(g.json.files, [
      { location: `https://media.s3.eu-west-1.amazonaws.com/status/${room.id}.mp4`, size_bytes: 1_048_576, duration_ms: 60_875 },
    ]);
    assertRecent(g.json.ended_at, 'ended_at');
    const endedMs = Number(lk.egresses.get(egressId).endedAt / 1_000_000n);
    assert.ok(Math.abs(Date.parse(g.json.ended_at) - endedMs) < 1000, `ended_at ${g.json.ended_at} is the egress's ended_at (${endedMs} ms)`);
    assert.equal(g.json.error, undefined);

    // Stored: the list shows the same final state.
    const l = await api(w, 'GET', `/v1/rtc/recording/list?room=${room.id}`, { key });
    assert.equal(l.json.items[0].status, 'complete');
    assert.deepEqual(l.json.items[0].files, g.json.files);
    assertNoViolations();
  });

  // LiveKit's own error text stays in the log: the client reads one of our sentences.
  for (const [egressStatus, ours, vendorText, error] of [
    ['EGRESS_FAILED', 'failed', 'could not upload: AccessDenied on bucket gcs-bucket', 'the recording could not be written to its destination'],
    ['EGRESS_FAILED', 'failed', 'pipeline: GstRtpBin internal error at 10.0.3.7', "the vendor's recorder failed"],
    ['EGRESS_ABORTED', 'aborted', 'Start signal not received', 'the recording was aborted before it started'],
    ['EGRESS_LIMIT_REACHED', 'limit_reached', undefined, undefined],
  ]) {
    test(`${egressStatus}${vendorText ? ` (${vendorText})` : ''} → ${ours}${error ? ' with our error text' : ''}`, async () => {
      const room = await createRoom(w, key);
      const { rec, egressId } = await startRecording({ room: room.id, output_uri: P('gs://gcs-bucket/s/{room}.mp4') });
      lk.advanceEgress(egressId, 'EGRESS_ACTIVE');
      assert.equal((await getRec(rec.recording)).json.status, 'active');
      lk.advanceEgress(egressId, egressStatus, vendorText ? { error: vendorText } : {});
      const g = await getRec(rec.recording);
      assert.equal(g.status, 200, g.text);
      assert.equal(g.json.status, ours);
      assert.equal(g.json.error, error, `error: ${g.text}`);
      assertRecent(g.json.ended_at, 'ended_at');
      // Final: the next get answers from the record, without asking LiveKit.
      const before = lk.calls.length;
      const again = await getRec(rec.recording);
      assert.deepEqual(again.json, g.json);
      assert.equal(lk.calls.length, before);
      // And stop on it returns that final state.
      const s = await api(w, 'POST', `/v1/rtc/recording/stop/${rec.recording}`, { key, body: {} });
      assert.equal(s.status, 200, s.text);
      assert.equal(s.json.status, ours);
      assert.equal(lk.calls.length, before);
      assertNoViolations();
    });
  }
});

describe('exactly one egress per start', () => {
  test('idempotent replay: same key → same body, Idempotent-Replayed: true, one egress', async () => {
    const room = await createRoom(w, key);
    const body = { room: room.id, output_uri: P('s3://media/idem.ogg'), audio_only: true, idempotency_key: `idem-${randomToken(6)}` };
    const { rec } = await startRecording(body);
    const count = starts().length;
    const b = await api(w, 'POST', '/v1/rtc/recording/start', { key, body });
    assert.equal(b.status, 201, b.text);
    assert.equal(b.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(b.json, rec);
    // The key as a header works the same way.
    const { idempotency_key: k, ...noKey } = body;
    const c = await api(w, 'POST', '/v1/rtc/recording/start', { key, body: noKey, headers: { 'idempotency-key': k } });
    assert.equal(c.status, 201, c.text);
    assert.equal(c.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(c.json, rec);
    assert.equal(starts().length, count, 'no second StartRoomCompositeEgress');
    assert.equal(egressesOf(room.id).length, 1);
    assert.equal(lastStart().body.file_outputs[0].file_type, 'OGG');
    // The same key with another body is refused, and starts nothing.
    const d = await api(w, 'POST', '/v1/rtc/recording/start', { key, body: { ...body, audio_only: false } });
    assertError(d, 422, 'IDEMPOTENCY_KEY_REUSED', { field: 'idempotency_key' });
    assert.equal(starts().length, count);
    assertNoViolations();
  });

  test('start times out and the confirming ListEgress times out too → 504 with error.recording; the retry (same key) adopts that egress (201, same id, one egress)', async () => {
    const room = await createRoom(w, key);
    const body = { room: room.id, output_uri: P('s3://media/lost/{room}.mp4'), idempotency_key: `lost-${randomToken(6)}` };
    lk.fail({ match: 'StartRoomCompositeEgress', mode: 'timeout', apply: true });
    lk.fail({ match: 'ListEgress', mode: 'timeout' });
    const listsBefore = lk.callsTo('ListEgress').length;
    const first = await startRaw(body);
    const e = assertError(first, 504, 'VENDOR_TIMEOUT');
    assert.match(e.recording ?? '', /^rec_/, `error.recording names the pending record: ${first.text}`);
    assert.equal(e.vendor, 'livekit');
    const made = egressesOf(room.id);
    assert.equal(made.length, 1, 'the stand-in created the egress (the answer was lost)');
    assert.equal(filepathOf(made[0]), `auto/${prj}/lost/${room.id}-${e.recording}.mp4`);
    const confirm = lk.callsTo('ListEgress').slice(listsBefore);
    assert.equal(confirm.length, 1, 'one confirmation attempt inside the first call');
    assert.deepEqual(confirm[0].body, { room_name: room.id }, 'every egress of the room, finished or not');
    assert.equal(confirm[0].fault, 'timeout');
    assert.deepEqual(lk.pendingFaults(), []);

    const startsBefore = starts().length;
    const listsBefore2 = lk.callsTo('ListEgress').length;
    const retry = await startRaw(body);
    assert.equal(retry.status, 201, retry.text);
    assert.equal(retry.headers.get('idempotent-replayed'), null, 'not a replay: the first attempt failed');
    assert.equal(retry.json.recording, e.recording, 'the retry adopts the first start');
    assert.equal(retry.json.room, room.id);
    assert.equal(retry.json.status, 'starting');
    assert.equal(retry.json.output_uri, P(`s3://media/lost/${room.id}-${e.recording}.mp4`));
    assert.equal(starts().length, startsBefore, 'the retry started no egress');
    assert.deepEqual(lk.callsTo('ListEgress').slice(listsBefore2).map((c) => c.body), [{ room_name: room.id }]);
    assert.equal(egressesOf(room.id).length, 1, 'exactly one egress at the stand-in');
    // From now on the key replays that answer.
    const again = await startRaw(body);
    assert.equal(again.status, 201, again.text);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(again.json, retry.json);

    // The adopted recording is tied to that egress: stop reaches it.
    const s = await stopRec(e.recording);
    assert.equal(s.status, 200, s.text);
    assert.equal(s.json.status, 'stopping');
    assert.deepEqual(lk.callsTo('StopEgress').at(-1).body, { egress_id: made[0].egressId });
    // Only one recording of the room exists.
    const l = await api(w, 'GET', `/v1/rtc/recording/list?room=${room.id}`, { key });
    assert.deepEqual(l.json.items.map((i) => i.recording), [e.recording]);
    assert.equal(starts().length, startsBefore);
    assertNoViolations();
  });

  test('same without an idempotency key, confirmation failing with 503: the retry of the same body still adopts the egress', async () => {
    const room = await createRoom(w, key);
    const body = { room: room.id, output_uri: P('gs://gcs-bucket/lost2/{room}.mp4') };
    lk.fail({ match: 'StartRoomCompositeEgress', mode: 'timeout', apply: true });
    lk.fail({ match: 'ListEgress', mode: 'status', status: 503 });
    const first = await startRaw(body);
    const e = assertError(first, 504, 'VENDOR_TIMEOUT');
    assert.match(e.recording ?? '', /^rec_/);
    assert.deepEqual(lk.pendingFaults(), []);
    assert.equal(egressesOf(room.id).length, 1);

    const startsBefore = starts().length;
    const retry = await startRaw(body);
    assert.equal(retry.status, 201, retry.text);
    assert.equal(retry.json.recording, e.recording);
    assert.equal(retry.json.output_uri, P(`gs://gcs-bucket/lost2/${room.id}-${e.recording}.mp4`));
    assert.equal(starts().length, startsBefore);
    assert.equal(egressesOf(room.id).length, 1);
    const l = await api(w, 'GET', `/v1/rtc/recording/list?room=${room.id}`, { key });
    assert.deepEqual(l.json.items.map((i) => i.recording), [e.recording]);
    assertNoViolations();
  });

  test('only the start times out, the confirmation inside the same call finds the egress → 201 directly, one egress', async () => {
    const room = await createRoom(w, key);
    lk.fail({ match: 'StartRoomCompositeEgress', mode: 'timeout', apply: true });
    const startsBefore = starts().length;
    const listsBefore = lk.callsTo('ListEgress').length;
    const r = await startRaw({ room: room.id, output_uri: P('azure://az-container/lost3/{room}.mp4') });
    assert.equal(r.status, 201, r.text);
    assert.match(r.json.recording, /^rec_/);
    assert.equal(r.json.status, 'starting');
    assert.equal(r.json.output_uri, P(`azure://az-container/lost3/${room.id}-${r.json.recording}.mp4`));
    assert.equal(starts().length, startsBefore + 1);
    assert.equal(starts().at(-1).fault, 'timeout');
    const lists = lk.callsTo('ListEgress').slice(listsBefore);
    assert.equal(lists.length, 1);
    assert.deepEqual(lists[0].body, { room_name: room.id });
    assert.equal(lists[0].status, 200);
    const eg = egressesOf(room.id);
    assert.equal(eg.length, 1);

    // It is tied to the egress: get follows its lifecycle.
    lk.advanceEgress(eg[0].egressId, 'EGRESS_ACTIVE');
    const g = await getRec(r.json.recording);
    assert.equal(g.json.status, 'active');
    assert.equal(g.json.live, true);
    assert.deepEqual(lk.callsTo('ListEgress').at(-1).body, { egress_id: eg[0].egressId });
    // A new start in the room is a new recording (the adopted egress is claimed).
    const second = await startRecording({ room: room.id, output_uri: P('azure://az-container/lost3/second.mp4') });
    assert.notEqual(second.rec.recording, r.json.recording);
    assert.equal(egressesOf(room.id).length, 2);
    assertNoViolations();
  });
});

describe('exactly one egress per start: harder cases', () => {
  test('concurrent starts with one idempotency key → all 201 with one body, one egress', async () => {
    const room = await createRoom(w, key);
    const body = { room: room.id, output_uri: P('s3://media/concurrent/{room}.mp4'), idempotency_key: `conc-${randomToken(6)}` };
    const startsBefore = starts().length;
    const all = await Promise.all(Array.from({ length: 5 }, () => startRaw(body)));
    for (const r of all) assert.equal(r.status, 201, r.text);
    const ids = new Set(all.map((r) => r.json.recording));
    assert.equal(ids.size, 1, `one recording for one key: ${[...ids]}`);
    for (const r of all) assert.deepEqual(r.json, all[0].json);
    assert.equal(all.filter((r) => r.headers.get('idempotent-replayed') === 'true').length, 4, 'four of five are replays');
    assert.equal(starts().length, startsBefore + 1);
    assert.equal(egressesOf(room.id).length, 1);
    assertNoViolations();
  });

  test('a timed-out start LiveKit never received: 409 RECORDING_UNCONFIRMED until 2 × VENDOR_TIMEOUT_MS have passed, then the retry starts one egress and the lost record reads failed', async () => {
    const room = await createRoom(w, key);
    const body = { room: room.id, output_uri: P('s3://media/never/{room}.mp4') };
    lk.fail({ match: 'StartRoomCompositeEgress', mode: 'timeout' }); // not applied: LiveKit never got it
    const listsBefore = lk.callsTo('ListEgress').length;
    const first = await startRaw(body);
    const e = assertError(first, 504, 'VENDOR_TIMEOUT');
    assert.match(e.recording ?? '', /^rec_/);
    const lostCall = starts().at(-1);
    assert.equal(lostCall.fault, 'timeout');
    assert.equal(egressesOf(room.id).length, 0);
    const lists = lk.callsTo('ListEgress').slice(listsBefore);
    assert.equal(lists.length, 1, 'the confirmation ran (and found nothing)');
    assert.deepEqual(lists[0].body, { room_name: room.id });
    assert.equal(lists[0].status, 200);

    // Too soon to tell: LiveKit may still act on the lost call. The retry, and a stop, are 409 with
    // Retry-After; get answers the stored state. Nothing is started.
    const startsBefore = starts().length;
    const soon = await startRaw(body);
    const e409 = assertError(soon, 409, 'RECORDING_UNCONFIRMED');
    assert.equal(e409.recording, e.recording);
    assert.equal(soon.headers.get('retry-after'), '1');
    const stopSoon = await stopRec(e.recording);
    assert.equal(assertError(stopSoon, 409, 'RECORDING_UNCONFIRMED').recording, e.recording);
    assert.equal(stopSoon.headers.get('retry-after'), '1');
    const getSoon = await getRec(e.recording);
    assert.equal(getSoon.status, 200, getSoon.text);
    assert.equal(getSoon.json.status, 'starting');
    assert.equal(getSoon.json.live, true, 'LiveKit answered (it knows no such egress yet)');
    assert.equal(getSoon.json.output_uri, P(`s3://media/never/${room.id}-${e.recording}.mp4`));
    assert.equal(starts().length, startsBefore, 'nothing started before the grace');
    assert.equal(lk.callsTo('StopEgress').filter((c) => c.at >= lostCall.at).length, 0);
    // Said plainly should a slow machine ever outrun the window, rather than by a confusing answer.
    const spent = Date.now() - lostCall.at;
    assert.ok(spent < 2 * VENDOR_TIMEOUT_MS, `the checks inside the window ended ${spent} ms after the lost call`);

    // The record was written before the lost call reached the stand-in (lostCall.at); once
    // 2 × VENDOR_TIMEOUT_MS have passed since then, "no such egress" means "never started".
    await sleep(lostCall.at + 2 * VENDOR_TIMEOUT_MS + 300 - Date.now());
    const retry = await startRaw(body);
    assert.equal(retry.status, 201, retry.text);
    assert.notEqual(retry.json.recording, e.recording, 'nothing to adopt: a new recording');
    assert.equal(starts().length, startsBefore + 1, 'the retry started exactly one egress');
    const made = egressesOf(room.id);
    assert.equal(made.length, 1, 'exactly one egress');
    assert.equal(filepathOf(made[0]), `auto/${prj}/never/${room.id}-${retry.json.recording}.mp4`);
    const lost = await getRec(e.recording);
    assert.equal(lost.status, 200, lost.text);
    assert.equal(lost.json.status, 'failed');
    assert.match(lost.json.error ?? '', /never started/, lost.text);
    assertRecent(lost.json.ended_at, 'ended_at of the never-started recording');
    // Final: stop answers it without a vendor call.
    const callsBefore = lk.calls.length;
    const stopLost = await stopRec(e.recording);
    assert.equal(stopLost.status, 200, stopLost.text);
    assert.equal(stopLost.json.status, 'failed');
    assert.equal(lk.calls.length, callsBefore);
    // A third start is an ordinary new recording (the failed record is not adopted again).
    const third = await startRecording({ room: room.id, output_uri: P('s3://media/never/third.mp4') });
    assert.notEqual(third.rec.recording, retry.json.recording);
    assert.equal(egressesOf(room.id).length, 2);
    const l = await api(w, 'GET', `/v1/rtc/recording/list?room=${room.id}`, { key });
    assert.deepEqual(l.json.items.map((i) => [i.recording, i.status]).sort(), [
      [e.recording, 'failed'],
      [retry.json.recording, 'starting'],
      [third.rec.recording, 'starting'],
    ].sort());
    assertNoViolations();
  });

  test('a DIFFERENT start after a lost one is answered with its own recording, not the lost one\'s', async () => {
    const room = await createRoom(w, key);
    const a = { room: room.id, output_uri: P('s3://media/a/{room}.mp4') };
    lk.fail({ match: 'StartRoomCompositeEgress', mode: 'timeout', apply: true });
    lk.fail({ match: 'ListEgress', mode: 'status', status: 503 });
    const first = await startRaw(a);
    const e = assertError(first, 504, 'VENDOR_TIMEOUT');
    assert.equal(egressesOf(room.id).length, 1);
    const [egressA] = egressesOf(room.id);

    // Another client asks for an audio-only recording to Azure in the same room.
    const b = { room: room.id, output_uri: P('azure://az-container/b/{room}.ogg'), audio_only: true, layout: 'speaker' };
    const startsBefore = starts().length;
    const rb = await startRaw(b);
    assert.equal(rb.status, 201, rb.text);
    assert.notEqual(rb.json.recording, e.recording, `request B was answered with the lost recording A: ${rb.text}`);
    assert.equal(rb.json.output_uri, P(`azure://az-container/b/${room.id}-${rb.json.recording}.ogg`), 'the Recording describes the request it answers');
    assert.equal(rb.json.audio_only, true);
    assert.equal(rb.json.layout, 'speaker');
    assert.equal(starts().length, startsBefore + 1, 'B started its own egress');
    const bStart = lastStart();
    assert.equal(bStart.body.room_name, room.id);
    assert.equal(bStart.body.file_outputs[0].file_type, 'OGG');
    assert.equal(bStart.body.file_outputs[0].azure.container_name, 'az-container');
    assert.equal(egressesOf(room.id).length, 2);

    // A's own retry still adopts A's egress.
    const ra = await startRaw(a);
    assert.equal(ra.status, 201, ra.text);
    assert.equal(ra.json.recording, e.recording);
    assert.equal(egressesOf(room.id).length, 2, 'no third egress');
    const s = await stopRec(e.recording);
    assert.equal(s.status, 200, s.text);
    assert.deepEqual(lk.callsTo('StopEgress').at(-1).body, { egress_id: egressA.egressId });
    assertNoViolations();
  });

  test('a pending start is confirmed by get and stop once LiveKit answers again, without a retried start', async () => {
    const room = await createRoom(w, key);
    lk.fail({ match: 'StartRoomCompositeEgress', mode: 'timeout', apply: true });
    lk.fail({ match: 'ListEgress', mode: 'status', status: 503 });
    const first = await startRaw({ room: room.id, output_uri: P('s3://media/pending/{room}.mp4') });
    const e = assertError(first, 504, 'VENDOR_TIMEOUT');
    const [egress] = egressesOf(room.id);
    assert.ok(egress, 'the egress was created');
    lk.advanceEgress(egress.egressId, 'EGRESS_ACTIVE');

    // The client does not retry the start (a 504 on a POST without an idempotency key often is not).
    // The recording is running at LiveKit: get must say so, and stop must be able to stop it.
    const listsBefore = lk.callsTo('ListEgress').length;
    const g = await getRec(e.recording);
    assert.equal(g.status, 200, g.text);
    assert.equal(g.json.status, 'active', `get of a pending recording whose egress is ACTIVE: ${g.text}`);
    assert.equal(g.json.live, true);
    assert.deepEqual(lk.callsTo('ListEgress').slice(listsBefore).map((c) => c.body)[0], { room_name: room.id }, 'found by its output path among the room\'s egresses');
    const s = await stopRec(e.recording);
    assert.equal(s.status, 200, `stop of a pending recording whose egress is ACTIVE: ${s.text}`);
    assert.equal(s.json.status, 'stopping');
    assert.deepEqual(lk.callsTo('StopEgress').at(-1).body, { egress_id: egress.egressId });
    assert.equal(lk.egresses.get(egress.egressId).status, 2 /* EGRESS_ENDING */);
    assertNoViolations();
  });

  test('stop alone confirms a lost start: StopEgress reaches the egress it started', async () => {
    const room = await createRoom(w, key);
    lk.fail({ match: 'StartRoomCompositeEgress', mode: 'timeout', apply: true });
    lk.fail({ match: 'ListEgress', mode: 'status', status: 503 });
    const e = assertError(await startRaw({ room: room.id, output_uri: P('gs://gcs-bucket/stoponly/{room}.mp4') }), 504, 'VENDOR_TIMEOUT');
    const [egress] = egressesOf(room.id);
    assert.ok(egress);
    const s = await stopRec(e.recording);
    assert.equal(s.status, 200, s.text);
    assert.equal(s.json.recording, e.recording);
    assert.equal(s.json.status, 'stopping');
    assert.equal(s.json.output_uri, P(`gs://gcs-bucket/stoponly/${room.id}-${e.recording}.mp4`));
    assert.deepEqual(lk.callsTo('StopEgress').at(-1).body, { egress_id: egress.egressId });
    assert.equal(lk.egresses.get(egress.egressId).status, 2 /* EGRESS_ENDING */);
    assertNoViolations();
  });

  test('a lost start confirmed by get before the client retries: the retry with the same idempotency key returns that recording, no second egress', async () => {
    const room = await createRoom(w, key);
    const body = { room: room.id, output_uri: P('s3://media/getfirst/{room}.mp4'), idempotency_key: `getfirst-${randomToken(6)}` };
    lk.fail({ match: 'StartRoomCompositeEgress', mode: 'timeout', apply: true });
    lk.fail({ match: 'ListEgress', mode: 'status', status: 503 });
    const e = assertError(await startRaw(body), 504, 'VENDOR_TIMEOUT');
    const [egress] = egressesOf(room.id);
    assert.ok(egress);
    // The client looks at the record named in the 504 (this confirms it), then retries as it was told.
    const g = await getRec(e.recording);
    assert.equal(g.status, 200, g.text);
    assert.equal(g.json.status, 'starting');
    const startsBefore = starts().length;
    const retry = await startRaw(body);
    assert.equal(retry.status, 201, retry.text);
    assert.equal(
      retry.json.recording,
      e.recording,
      'the same request with the same idempotency key must be answered with the recording its lost start made, not a second one',
    );
    assert.equal(starts().length, startsBefore, `the retry started a second egress for one start: ${lastStart().body.file_outputs[0].filepath}`);
    assert.equal(egressesOf(room.id).length, 1);
    assertNoViolations();
  });

  test('two lost starts writing the same path to different buckets are each confirmed with their own egress', async () => {
    const room = await createRoom(w, key);
    // Same object path, different destinations: s3://media vs gs://gcs-bucket.
    const a = { room: room.id, output_uri: P('s3://media/same/{room}.mp4') };
    const b = { room: room.id, output_uri: P('gs://gcs-bucket/same/{room}.mp4') };
    for (const body of [a, b]) {
      lk.fail({ match: 'StartRoomCompositeEgress', mode: 'timeout', apply: true });
      lk.fail({ match: 'ListEgress', mode: 'status', status: 503 });
      assertError(await startRaw(body), 504, 'VENDOR_TIMEOUT');
      // A LiveKit call that succeeds, so that three failures in a row do not open the circuit breaker.
      assert.equal((await api(w, 'GET', `/v1/rtc/room/get/${room.id}`, { key })).status, 200);
    }
    const [egressA, egressB] = egressesOf(room.id);
    assert.equal(egressesOf(room.id).length, 2);
    assert.equal(egressA.request.value.fileOutputs[0].output.case, 's3');
    assert.equal(egressB.request.value.fileOutputs[0].output.case, 'gcp');

    // B's retry: its recording must be tied to the egress writing to gs://gcs-bucket, not s3://media.
    const rb = await startRaw(b);
    assert.equal(rb.status, 201, rb.text);
    assert.equal(rb.json.output_uri, P(`gs://gcs-bucket/same/${room.id}-${rb.json.recording}.mp4`));
    const sb = await stopRec(rb.json.recording);
    assert.equal(sb.status, 200, sb.text);
    assert.deepEqual(
      lk.callsTo('StopEgress').at(-1).body,
      { egress_id: egressB.egressId },
      'request B (gs://) adopted the egress of request A (s3://): a path match alone does not identify the request',
    );
    assert.equal(lk.egresses.get(egressA.egressId).status, 0 /* EGRESS_STARTING */, 'A\'s recording keeps running');
    assertNoViolations();
  });

  test('a start whose connection is reset after LiveKit started the egress: the retry does not start a second one', async () => {
    const room = await createRoom(w, key);
    const body = { room: room.id, output_uri: P('s3://media/reset/{room}.mp4'), idempotency_key: `reset-${randomToken(6)}` };
    // LiveKit acts on the request, then the connection drops before the answer: as lost as a
    // timeout. The confirming ListEgress inside the same call fails too, so the answer is lost.
    lk.fail({ match: 'StartRoomCompositeEgress', mode: 'reset', apply: true });
    lk.fail({ match: 'ListEgress', mode: 'status', status: 503 });
    const first = await startRaw(body);
    assert.equal(first.status, 502, `a reset start is a vendor failure: ${first.text}`);
    assert.equal(first.json.error.code, 'VENDOR_UNAVAILABLE');
    assert.ok(first.json.error.recording, 'the error names the record of the start whose answer was lost');
    assert.equal(egressesOf(room.id).length, 1, 'LiveKit started the egress; only its answer was lost');
    const retry = await startRaw(body);
    assert.equal(
      egressesOf(room.id).length,
      1,
      `the answer of a start was lost (connection reset after LiveKit acted) and the retry started a second egress (first answer: ${first.status} ${first.text})`,
    );
    assert.equal(retry.status, 201, retry.text);
    assert.equal(retry.json.recording, first.json.error.recording, 'the retry is answered with the record of the start whose answer was lost');
    assertNoViolations();
  });

  test('in an auto-record room a lost start is confirmed with the egress it started, not the room\'s own egress', async () => {
    const r = await api(w, 'POST', '/v1/rtc/room/create', { key, body: { name: `auto-lost-${randomToken(4)}`, enable_recording: true } });
    assert.equal(r.status, 201, r.text);
    const roomId = r.json.room;
    // The stand-in, like LiveKit, started the room's own egress on CreateRoom (no recording record of ours).
    const [auto] = egressesOf(roomId);
    assert.ok(auto, 'the room records itself');
    assert.match(filepathOf(auto), new RegExp(`^auto/${prj}/${roomId}-\\d{8}T\\d{6}Z\\.mp4$`));

    lk.fail({ match: 'StartRoomCompositeEgress', mode: 'timeout', apply: true });
    lk.fail({ match: 'ListEgress', mode: 'status', status: 503 });
    const e = assertError(await startRaw({ room: roomId, output_uri: P('gs://gcs-bucket/extra/{room}.mp4') }), 504, 'VENDOR_TIMEOUT');
    const mine = egressesOf(roomId).filter((x) => x.egressId !== auto.egressId);
    assert.equal(mine.length, 1, 'the start created one egress');

    // get confirms it among the room's two unclaimed egresses; stop then stops the right one.
    const g = await getRec(e.recording);
    assert.equal(g.status, 200, g.text);
    assert.equal(g.json.status, 'starting');
    lk.advanceEgress(auto.egressId, 'EGRESS_ACTIVE');
    const s = await stopRec(e.recording);
    assert.equal(s.status, 200, s.text);
    assert.equal(s.json.status, 'stopping');
    assert.deepEqual(
      lk.callsTo('StopEgress').at(-1).body,
      { egress_id: mine[0].egressId },
      'stopping this recording must stop the egress this start created, not the room\'s auto-record egress',
    );
    assert.equal(lk.egresses.get(auto.egressId).status, 1 /* EGRESS_ACTIVE */, 'the auto-record egress keeps running');
    assertNoViolations();
  });
});

describe('get when LiveKit cannot be reached', () => {
  test('get answers the stored state with live: false (a confirmed and an unconfirmed record); nothing is lost', async () => {
    const room = await createRoom(w, key);
    const { rec, egressId } = await startRecording({ room: room.id, output_uri: P('s3://media/offline/{room}.mp4') });
    lk.advanceEgress(egressId, 'EGRESS_ACTIVE');
    assert.equal((await getRec(rec.recording)).json.status, 'active');
    lk.advanceEgress(egressId, 'EGRESS_ENDING');
    lk.fail({ match: 'ListEgress', mode: 'status', status: 503 });
    const down = await getRec(rec.recording);
    assert.equal(down.status, 200, down.text);
    assert.equal(down.json.live, false);
    assert.equal(down.json.status, 'active', 'the stored state, not a guess');
    assert.equal(down.json.recording, rec.recording);
    assert.equal(down.json.output_uri, P(`s3://media/offline/${room.id}-${rec.recording}.mp4`));
    lk.fail({ match: 'ListEgress', mode: 'reset' });
    const reset = await getRec(rec.recording);
    assert.equal(reset.status, 200, reset.text);
    assert.deepEqual([reset.json.live, reset.json.status], [false, 'active']);
    // Back again: the fresh state is read and stored.
    const up = await getRec(rec.recording);
    assert.deepEqual([up.json.live, up.json.status], [true, 'stopping']);
    const l = await api(w, 'GET', `/v1/rtc/recording/list?room=${room.id}`, { key });
    assert.equal(l.json.items[0].status, 'stopping');

    // An unconfirmed record (its start answer lost) while LiveKit is down: stored "starting", live: false.
    // (The lost start is one LiveKit never got, so the confirmation inside the call succeeds: three
    // failures in a row would open the circuit breaker for the rest of the file.)
    lk.fail({ match: 'StartRoomCompositeEgress', mode: 'timeout' });
    const e = assertError(await startRaw({ room: room.id, output_uri: P('s3://media/offline/second.mp4') }), 504, 'VENDOR_TIMEOUT');
    lk.fail({ match: 'ListEgress', mode: 'status', status: 503 });
    const pending = await getRec(e.recording);
    assert.equal(pending.status, 200, pending.text);
    assert.deepEqual([pending.json.live, pending.json.status], [false, 'starting']);
    assert.deepEqual(lk.pendingFaults(), []);
    assertNoViolations();
  });
});

describe('auto-record rooms', () => {
  test('room.create {enable_recording:true} → CreateRoom carries egress.room with the default destination\'s file output; LiveKit starts that egress', async () => {
    const before = lk.callsTo('CreateRoom').length;
    const name = `auto-${randomToken(4)}`;
    const r = await api(w, 'POST', '/v1/rtc/room/create', { key, body: { name, enable_recording: true } });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.enable_recording, true);
    assert.equal(r.json.vendor, 'livekit', 'a recording room goes to a vendor that records');
    const roomId = r.json.room;
    const creates = lk.callsTo('CreateRoom').slice(before);
    assert.equal(creates.length, 1);
    const c = creates[0];
    assert.equal(c.ok, true, c.error);
    assert.equal(c.body.name, roomId);
    const egress = c.body.egress?.room;
    assert.ok(egress, `CreateRoom without egress.room: ${c.rawBody}`);
    assert.equal(egress.room_name, roomId);
    assert.equal(egress.file_outputs.length, 1);
    const out = egress.file_outputs[0];
    assert.equal(out.file_type, 'MP4');
    assert.match(out.filepath, new RegExp(`^auto/${prj}/${roomId}-\\d{8}T\\d{6}Z\\.mp4$`));
    assert.deepEqual(out.s3, {
      access_key: S3.accessKey,
      secret: S3.secret,
      region: S3.region,
      endpoint: S3.endpoint,
      force_path_style: true,
      bucket: 'media-default',
    });
    // As LiveKit parsed it.
    assert.equal(c.message.egress?.room?.fileOutputs?.length, 1);
    assert.equal(c.message.egress.room.fileOutputs[0].output.case, 's3');
    assert.equal(c.grants.video.roomCreate, true);
    // The room's egress is running (no StartRoomCompositeEgress of ours), and the room says it records.
    const auto = egressesOf(roomId);
    assert.equal(auto.length, 1);
    assert.equal(auto[0].status, 0 /* EGRESS_STARTING */);
    assert.equal(filepathOf(auto[0]), out.filepath);
    assert.equal(lk.roomJson(roomId).active_recording, true);
    assert.equal(starts().filter((s) => s.body?.room_name === roomId).length, 0);

    // Pinning a vendor that cannot record a room from its creation is refused before any vendor call.
    const agoraCalls = vendors.agora.calls.length;
    const pinned = await api(w, 'POST', '/v1/rtc/room/create', { key, body: { name: `auto-ag-${randomToken(4)}`, enable_recording: true, vendor: 'agora' } });
    const e = assertError(pinned, 422, 'UNSUPPORTED_BY_VENDOR');
    assert.deepEqual(e.supported_by, ['livekit']);
    assert.equal(vendors.agora.calls.length, agoraCalls);
    assertNoViolations();
  });

  test('stand-in check: CreateRoom starts the room\'s egress only when it creates the room (an upsert starts none), with room_name set to the room', async () => {
    const client = new RoomServiceClient(lk.url, LK.apiKey, LK.apiSecret);
    const name = `sdk-auto-${randomToken(4)}`;
    const roomEgress = new RoomEgress({
      room: new RoomCompositeEgressRequest({
        roomName: 'ignored-by-the-server',
        fileOutputs: [new EncodedFileOutput({ filepath: 'sdk/a.mp4', output: { case: 's3', value: new S3Upload({ bucket: 'b' }) } })],
      }),
    });
    const created = await client.createRoom({ name, egress: roomEgress });
    const again = await client.createRoom({ name, egress: roomEgress });
    assert.equal(again.sid, created.sid);
    const made = egressesOf(name);
    assert.equal(made.length, 1, 'one egress for the new room, none for the upsert');
    assert.equal(made[0].roomId, created.sid);
    assert.equal(made[0].request.value.roomName, name);
    assert.equal(filepathOf(made[0]), 'sdk/a.mp4');
    assertNoViolations();
  });

  test('without RECORDING_DEFAULT_URI, enable_recording is 400 and nothing reaches LiveKit', async () => {
    const before = lk2.calls.length;
    const r = await api(w2, 'POST', '/v1/rtc/room/create', { key: key2, body: { name: `auto-${randomToken(4)}`, enable_recording: true } });
    assertError(r, 400, 'INVALID_REQUEST', { field: 'enable_recording' });
    assert.equal(lk2.calls.length, before);
    const list = await api(w2, 'GET', '/v1/rtc/room/list', { key: key2 });
    assert.ok(!list.json.items.some((i) => i.enable_recording), 'no room record was left behind');
    assertNoViolations(lk2);
  });
});

describe('storage is confined per project', () => {
  test('the shared credentials never leave the project\'s folder: another bucket, another project\'s folder or the bucket root → 422 DESTINATION_NOT_ALLOWED, nothing reaches LiveKit', async () => {
    const room = await createRoom(w, key);
    const before = starts().length;
    for (const uri of [
      's3://operator-backups/prod/db.dump',
      's3://media/prod/db.dump',
      's3://media/auto/x.mp4',
      P('s3://media/x.mp4', otherPrj),
      `s3://media/auto/${prj}x/a.mp4`,
      P('gs://media-default/x.mp4'), // the default bucket is shared for s3:// only
    ]) {
      const e = assertError(await startRaw({ room: room.id, output_uri: uri }), 422, 'DESTINATION_NOT_ALLOWED', { field: 'output_uri' });
      assert.doesNotMatch(e.message, /AKIA|SECRET/);
    }
    assertError(await startRaw({ room: room.id, output_uri: P('s3://media/../../prod/db.dump') }), 400, 'INVALID_REQUEST', { field: 'output_uri' });
    assert.equal(starts().length, before, 'nothing refused reaches LiveKit');
    // Inside the folder it records, with the shared credentials.
    const { call } = await startRecording({ room: room.id, output_uri: P('s3://media/ok/') });
    assert.equal(call.body.file_outputs[0].s3.access_key, S3.accessKey);
    assert.match(call.body.file_outputs[0].filepath, new RegExp(`^auto/${prj}/ok/`));
    assertNoViolations();
  });

  test('a project\'s own destination: create → list → a start inside it uses its credentials; another project neither sees nor uses it; delete', async () => {
    const room = await createRoom(w, key);
    const otherRoom = await createRoom(w, otherKey);
    const created = await api(w, 'POST', '/v1/rtc/recording/destination/create', {
      key,
      body: { uri: 's3://acme-own/calls', credentials: { access_key: OWN_S3.accessKey, secret: OWN_S3.secret, region: OWN_S3.region } },
    });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual(Object.keys(created.json).sort(), ['created_at', 'destination', 'kind', 'uri']);
    assert.match(created.json.destination, /^dst_/);
    assert.equal(created.json.uri, 's3://acme-own/calls/');
    assert.equal(created.json.kind, 's3');
    assertRecent(created.json.created_at, 'created_at');
    const listed = await api(w, 'GET', '/v1/rtc/recording/destination/list', { key });
    assert.deepEqual(listed.json, { items: [created.json], next_cursor: null });

    const { rec, call } = await startRecording({ room: room.id, output_uri: 's3://acme-own/calls/{room}/' });
    assert.deepEqual(call.body.file_outputs[0].s3, {
      access_key: OWN_S3.accessKey,
      secret: OWN_S3.secret,
      region: OWN_S3.region,
      bucket: 'acme-own',
    });
    assert.equal(rec.output_uri, `s3://acme-own/calls/${room.id}/${room.id}-${rec.recording}.mp4`);

    // Invisible to another project: not listed, not deletable, not usable.
    const theirs = await api(w, 'GET', '/v1/rtc/recording/destination/list', { key: otherKey });
    assert.deepEqual(theirs.json.items, []);
    assertError(await api(w, 'DELETE', `/v1/rtc/recording/destination/delete/${created.json.destination}`, { key: otherKey }), 404, 'DESTINATION_NOT_FOUND');
    const before = starts().length;
    assertError(await startRaw({ room: otherRoom.id, output_uri: 's3://acme-own/calls/x.mp4' }, otherKey), 422, 'DESTINATION_NOT_ALLOWED', { field: 'output_uri' });
    assert.equal(starts().length, before);

    const dup = await api(w, 'POST', '/v1/rtc/recording/destination/create', {
      key,
      body: { uri: 's3://acme-own/calls/', credentials: { access_key: 'x', secret: 'y' } },
    });
    assert.equal(assertError(dup, 409, 'DESTINATION_EXISTS', { field: 'uri' }).destination, created.json.destination);
    const del = await api(w, 'DELETE', `/v1/rtc/recording/destination/delete/${created.json.destination}`, { key });
    assert.deepEqual([del.status, del.json], [200, { ok: true }]);
    assertError(await startRaw({ room: room.id, output_uri: 's3://acme-own/calls/x.mp4' }), 422, 'DESTINATION_NOT_ALLOWED');
    assertNoViolations();
  });

  test('without RTCGATE_ENCRYPTION_KEY (the s3-only Worker) the destination routes are 422 ENCRYPTION_NOT_CONFIGURED; recording still works', async () => {
    for (const [method, path, body] of [
      ['POST', '/v1/rtc/recording/destination/create', { uri: 's3://b/', credentials: { access_key: 'a', secret: 's' } }],
      ['GET', '/v1/rtc/recording/destination/list', undefined],
      ['DELETE', '/v1/rtc/recording/destination/delete/dst_x', undefined],
    ]) {
      const e = assertError(await api(w2, method, path, { key: key2, body }), 422, 'ENCRYPTION_NOT_CONFIGURED');
      assert.match(e.message, /RTCGATE_ENCRYPTION_KEY/);
    }
    const room = await createRoom(w2, key2);
    await startRecording({ room: room.id, output_uri: P2('s3://plain-bucket/enc/') }, { worker: w2, k: key2, h: lk2 });
  });
});

describe('a client that goes away', () => {
  test('the client aborts its start while LiveKit holds StartRoomCompositeEgress: the Worker still records the egress it started (one egress, read back by its id)', async () => {
    const room = await createRoom(w, key);
    const body = { room: room.id, output_uri: P('s3://media/abort/') };
    const before = starts().length;
    const listsBefore = lk.callsTo('ListEgress').length;
    lk.fail({ match: 'StartRoomCompositeEgress', mode: 'delay', ms: 1000 });
    const abort = new AbortController();
    const pending = fetch(`${w.url}/v1/rtc/recording/start`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: abort.signal,
    }).catch((e) => e);
    // Hang up once LiveKit has the request and before it answers.
    const deadline = Date.now() + 10_000;
    while (starts().length === before && Date.now() < deadline) await sleep(20);
    assert.equal(starts().length, before + 1, 'the start reached LiveKit');
    assert.equal(starts().at(-1).done, false, 'LiveKit has not answered yet');
    abort.abort();
    assert.equal((await pending)?.name, 'AbortError');

    // LiveKit answers a second later; the Worker's bookkeeping runs on without the client.
    const call = await lk.waitForCall((c) => c.op === 'StartRoomCompositeEgress' && c === starts().at(-1) && c.done, { timeout: 10_000 });
    const egressId = call.response.egress_id;
    let items = [];
    for (let i = 0; i < 100 && items.length === 0; i += 1) {
      const l = await api(w, 'GET', `/v1/rtc/recording/list?room=${room.id}`, { key });
      items = l.json.items;
      if (items.length === 0) await sleep(50);
    }
    assert.equal(items.length, 1, 'one record for the one start');
    const rec = items[0];
    assert.equal(egressesOf(room.id).length, 1, 'exactly one egress');
    assert.equal(filepathOf(lk.egresses.get(egressId)), `auto/${prj}/abort/${room.id}-${rec.recording}.mp4`);

    // The egress id was recorded: get asks LiveKit for that egress, not for the room's egresses.
    const g = await getRec(rec.recording);
    assert.equal(g.status, 200, g.text);
    assert.deepEqual([g.json.status, g.json.live], ['starting', true]);
    assert.deepEqual(lk.callsTo('ListEgress').slice(listsBefore).map((c) => c.body), [{ egress_id: egressId }]);
    const s = await stopRec(rec.recording);
    assert.equal(s.status, 200, s.text);
    assert.deepEqual(lk.callsTo('StopEgress').at(-1).body, { egress_id: egressId });
    assert.equal(starts().length, before + 1);
    assertNoViolations();
  });
});

describe('errors', () => {
  test('every 4xx of start, with no egress started', async () => {
    const room = await createRoom(w, key);
    const room2 = await createRoom(w2, key2);
    const before = starts().length;
    const before2 = starts(lk2).length;
    const start = (body, worker = w, k = key) => api(worker, 'POST', '/v1/rtc/recording/start', { key: k, body });

    // No output_uri and no default destination.
    assertError(await start({ room: room2.id }, w2, key2), 400, 'INVALID_REQUEST', { field: 'output_uri' });
    // Unknown scheme, malformed URIs.
    assertError(await start({ room: room.id, output_uri: 'ftp://host/x.mp4' }), 400, 'INVALID_REQUEST', { field: 'output_uri' });
    assertError(await start({ room: room.id, output_uri: 'https://bucket.example/x.mp4' }), 400, 'INVALID_REQUEST', { field: 'output_uri' });
    assertError(await start({ room: room.id, output_uri: 'media/x.mp4' }), 400, 'INVALID_REQUEST', { field: 'output_uri' });
    assertError(await start({ room: room.id, output_uri: 's3:///x.mp4' }), 400, 'INVALID_REQUEST', { field: 'output_uri' });
    assertError(await start({ room: room.id, output_uri: 's3://media/../etc/x.mp4' }), 400, 'INVALID_REQUEST', { field: 'output_uri' });
    assertError(await start({ room: room.id, output_uri: 42 }), 400, 'INVALID_REQUEST', { field: 'output_uri' });
    // A scheme whose credentials are not configured (the s3-only Worker).
    for (const uri of [P2('gs://bucket/x.mp4'), P2('azure://container/x.mp4')]) {
      const e = assertError(await start({ room: room2.id, output_uri: uri }, w2, key2), 422, 'DESTINATION_NOT_CONFIGURED', { field: 'output_uri' });
      assert.match(e.message, /RECORDING_(GCP|AZURE)_/, 'the message names the missing setting');
    }
    // Bad layout.
    assertError(await start({ room: room.id, output_uri: P('s3://media/x.mp4'), layout: 'mosaic' }), 400, 'INVALID_REQUEST', { field: 'layout' });
    assertError(await start({ room: room.id, output_uri: P('s3://media/x.mp4'), layout: 3 }), 400, 'INVALID_REQUEST', { field: 'layout' });
    // Wrong types, missing room.
    assertError(await start({ output_uri: P('s3://media/x.mp4') }), 400, 'INVALID_REQUEST', { field: 'room' });
    assertError(await start({ room: room.id, output_uri: P('s3://media/x.mp4'), audio_only: 'yes' }), 400, 'INVALID_REQUEST', { field: 'audio_only' });
    // Unknown room, another project's room.
    assertError(await start({ room: 'rm_doesnotexist', output_uri: P('s3://media/x.mp4') }), 404, 'ROOM_NOT_FOUND');
    assertError(await start({ room: room.id, output_uri: P('s3://media/x.mp4') }, w, otherKey), 404, 'ROOM_NOT_FOUND');
    // Unknown field (a typo of output_uri).
    assertError(await start({ room: room.id, ouput_uri: 's3://media/x.mp4' }), 400, 'UNKNOWN_FIELD', { field: 'ouput_uri' });
    // Unknown vendor, a pin that disagrees with the room's vendor.
    assertError(await start({ room: room.id, output_uri: P('s3://media/x.mp4'), vendor: 'twilio' }), 400, 'UNKNOWN_VENDOR', { field: 'vendor' });
    assertError(await start({ room: room.id, output_uri: P('s3://media/x.mp4'), vendor: 'agora' }), 409, 'VENDOR_MISMATCH');
    // Not a JSON object.
    const raw = await api(w, 'POST', '/v1/rtc/recording/start', { key, rawBody: '[1,2]', headers: { 'content-type': 'application/json' } });
    assertError(raw, 400, 'INVALID_JSON');

    assert.equal(starts().length, before, 'no StartRoomCompositeEgress for a refused start');
    assert.equal(starts(lk2).length, before2);
    // And no recording record was left behind.
    for (const [worker, k, r] of [[w, key, room], [w2, key2, room2]]) {
      const l = await api(worker, 'GET', `/v1/rtc/recording/list?room=${r.id}`, { key: k });
      assert.deepEqual(l.json.items, []);
    }
    assertNoViolations();
    assertNoViolations(lk2);
  });

  test('get/stop: unknown recording and another project\'s recording → 404 RECORDING_NOT_FOUND; stop takes no fields', async () => {
    const room = await createRoom(w, key);
    const { rec, egressId } = await startRecording({ room: room.id, output_uri: P('s3://media/own/{room}.mp4') });
    const callsBefore = lk.calls.length;
    for (const [id, k] of [['rec_doesnotexist', key], [rec.recording, otherKey]]) {
      const e1 = assertError(await api(w, 'GET', `/v1/rtc/recording/get/${id}`, { key: k }), 404, 'RECORDING_NOT_FOUND');
      assert.equal(e1.recording, id);
      assertError(await api(w, 'POST', `/v1/rtc/recording/stop/${id}`, { key: k, body: {} }), 404, 'RECORDING_NOT_FOUND');
    }
    assert.equal(lk.calls.length, callsBefore, 'no vendor call for a recording that is not ours');
    assertError(await api(w, 'POST', `/v1/rtc/recording/stop/${rec.recording}`, { key, body: { force: true } }), 400, 'UNKNOWN_FIELD', { field: 'force' });
    assert.equal(lk.callsTo('StopEgress').filter((c) => c.body?.egress_id === egressId).length, 0);
    // Still ours and still running.
    const g = await getRec(rec.recording);
    assert.equal(g.status, 200, g.text);
    assert.equal(g.json.status, 'starting');
    assertNoViolations();
  });
});

describe('other vendors', () => {
  // Recording on Agora and ZEGO rooms is covered end to end in vendor_recordings.test.mjs.
  test('discovery: rtc.recording.start and rtc.recording.stop list all three vendors live, livekit the default', async () => {
    for (const capability of ['rtc.recording.start', 'rtc.recording.stop']) {
      const r = await api(w, 'GET', `/v1/discovery/${capability}`, { key });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.capability, capability);
      const by = Object.fromEntries(r.json.vendors.map((v) => [v.vendor, v]));
      assert.deepEqual(Object.keys(by).sort(), ['agora', 'livekit', 'zego']);
      assert.equal(by.agora.status, 'live');
      assert.equal(by.zego.status, 'live');
      assert.equal(by.agora.default, false);
      assert.equal(by.zego.default, false);
      assert.equal(by.livekit.status, 'live');
      assert.equal(by.livekit.default, true);
    }
    // On the s3-only Worker agora and zego are simply unconfigured.
    const r2 = await api(w2, 'GET', '/v1/discovery/rtc.recording.start', { key: key2 });
    const by2 = Object.fromEntries(r2.json.vendors.map((v) => [v.vendor, v.status]));
    assert.deepEqual(by2, { livekit: 'live', agora: 'unconfigured', zego: 'unconfigured' });
  });
});
