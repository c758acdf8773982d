// participant/mute against the vendor's own LiveKit server with real LiveKit clients
// (@livekit/rtc-node) joining on tokens rtcgate minted:
//
// - a soft mute is seen by the clients as the track muted (and by the server); a soft unmute on a
//   server without room.enable_remote_unmute is our 422, not the vendor's error;
// - a hard mute of audio takes the microphone away: the published track goes, a new microphone
//   publish fails, subscribing stays;
// - the hard mute survives a rejoin with a fresh token: the token carries canPublishSources
//   without the microphone and the server refuses the publish again;
// - lifting it gives publishing back;
// - Agora and ZEGO through their strict stand-ins: publish rules for the uid, forbid-stream rules
//   for each of the participant's streams (with their caps), ZEGO's Code 9 as our 422, soft mutes
//   refused without a vendor call.
//
// Run: node --test --test-concurrency=1 tests/e2e/moderation_mute.test.mjs   (after `make setup`
// and `bash scripts/build.sh`)

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { RoomServiceClient } from 'livekit-server-sdk';

import { startWorker, api, adminSetup, randomToken } from './support/harness.mjs';
import { startLiveKitServer } from './support/livekit_server.mjs';
import { rtc, nextEvent, until, publishTone, joinWith } from './support/livekit_clients.mjs';
import { startVendorStandins, vendorVars, assertNoViolations } from './support/fixtures.mjs';

const ADMIN = randomToken();

let lk; // the real server
let rooms; // its RoomServiceClient
let w; // the Worker, pointed at it
let key;
const clients = new Set();

async function issue(body) {
  const r = await api(w, 'POST', '/v1/rtc/token/issue', { key, body });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function mute(room, body) {
  return api(w, 'POST', `/v1/rtc/participant/mute/${room}`, { key, body });
}

const join = (issued) => joinWith(clients, issued);

async function leave(room) {
  clients.delete(room);
  if (room.isConnected) await room.disconnect();
}

function videoClaims(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url')).video;
}

/** A microphone publish from `room` (a fresh source and track), which the server may refuse. */
function publishMicrophone(room) {
  const source = new rtc.AudioSource(48_000, 1);
  const track = rtc.LocalAudioTrack.createAudioTrack('again', source);
  return room.localParticipant.publishTrack(track, new rtc.TrackPublishOptions({ source: rtc.TrackSource.SOURCE_MICROPHONE }));
}

before(async () => {
  lk = await startLiveKitServer();
  rooms = new RoomServiceClient(lk.url, lk.apiKey, lk.apiSecret);
  w = await startWorker({
    name: 'moderation-mute',
    vars: { ADMIN_TOKEN: ADMIN, RTC_VENDOR_ORDER: 'livekit', ...lk.vars, VENDOR_TIMEOUT_MS: 5000 },
  });
  ({ key } = await adminSetup(w));
});

after(async () => {
  await Promise.allSettled([...clients].map((c) => c.disconnect()));
  await rtc.dispose();
  await w?.stop();
  await lk?.stop();
});

describe('participant/mute with a real LiveKit server and real clients', () => {
  let roomId;
  let alice;
  let bob;

  test('a soft mute is seen by the clients as the track muted', async () => {
    const ta = await issue({ room: 'mute-soft', identity: 'alice' });
    roomId = ta.room;
    alice = await join(ta);
    bob = await join(await issue({ room: roomId, identity: 'bob' }));
    const bobSeesTrack = nextEvent(bob, rtc.RoomEvent.TrackSubscribed, (_t, _p, who) => who.identity === 'alice');
    await publishTone(alice);
    await bobSeesTrack;

    // Alice's own client is told its track was muted (the server's mute request), and bob sees it.
    const aliceSeesMute = nextEvent(alice, rtc.RoomEvent.TrackMuted, (_pub, who) => who.identity === 'alice');
    const bobSeesMute = nextEvent(bob, rtc.RoomEvent.TrackMuted, (_pub, who) => who.identity === 'alice');
    const r = await mute(roomId, { identity: 'alice', media: ['audio'], muted: true, mode: 'soft' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.muted, { audio: 'soft', video: null, screen: null });
    const [[ownPublication]] = await Promise.all([aliceSeesMute, bobSeesMute]);
    assert.equal(ownPublication.muted, true);
    const info = await rooms.getParticipant(roomId, 'alice');
    assert.equal(info.tracks.length, 1);
    assert.equal(info.tracks[0].muted, true, 'the server holds the track muted');
    assert.equal(info.permission.canPublish, true, 'a soft mute leaves the permission alone');

    // This server keeps room.enable_remote_unmute off (the default): the refusal is ours.
    const unmute = await mute(roomId, { identity: 'alice', media: ['audio'], muted: false, mode: 'soft' });
    assert.equal(unmute.status, 422, unmute.text);
    assert.equal(unmute.json.error.code, 'UNSUPPORTED_BY_VENDOR');
    assert.equal(unmute.json.error.field, 'muted');
  });

  test('a hard mute of audio unpublishes the microphone and refuses a new one, subscribing kept', async () => {
    const bobSeesUnpublish = nextEvent(bob, rtc.RoomEvent.TrackUnpublished, (_pub, who) => who.identity === 'alice');
    const r = await mute(roomId, { identity: 'alice', media: ['audio'], muted: true });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.muted, { audio: 'hard', video: null, screen: null });
    assert.equal(r.json.applied, true);
    await bobSeesUnpublish;
    const info = await until(
      () => rooms.getParticipant(roomId, 'alice'),
      (p) => p.tracks.length === 0,
      "alice's tracks on the server",
    );
    assert.equal(info.permission.canSubscribe, true, 'the read-modify-write kept subscribing');
    // TrackSource numbers (livekit_models.proto): CAMERA 1, MICROPHONE 2, SCREEN_SHARE 3, SCREEN_SHARE_AUDIO 4.
    assert.deepEqual([...info.permission.canPublishSources].sort(), [1, 3, 4]);
    await assert.rejects(publishMicrophone(alice));
    assert.equal((await rooms.getParticipant(roomId, 'alice')).tracks.length, 0);
  });

  test('the hard mute survives a rejoin with a fresh token', async () => {
    await leave(alice);
    const fresh = await issue({ room: roomId, identity: 'alice' });
    assert.deepEqual(videoClaims(fresh.token).canPublishSources, ['camera', 'screen_share', 'screen_share_audio']);
    alice = await join(fresh);
    const info = await rooms.getParticipant(roomId, 'alice');
    assert.equal(info.permission.canPublish, true);
    assert.equal(info.permission.canSubscribe, true);
    await assert.rejects(publishMicrophone(alice));
    assert.equal((await rooms.getParticipant(roomId, 'alice')).tracks.length, 0, 'the rejoin did not undo the mute');
  });

  test('lifting the hard mute gives the microphone back', async () => {
    const r = await mute(roomId, { identity: 'alice', media: ['audio'], muted: false });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.muted, { audio: null, video: null, screen: null });
    const bobSeesTrack = nextEvent(bob, rtc.RoomEvent.TrackSubscribed, (_t, _p, who) => who.identity === 'alice');
    await publishTone(alice);
    await bobSeesTrack;
    const fresh = await issue({ room: roomId, identity: 'alice' });
    assert.equal(videoClaims(fresh.token).canPublishSources, undefined, 'later tokens carry no mute');
  });
});

describe('participant/mute on Agora and ZEGO through their stand-ins', () => {
  let standins;
  let sw; // a Worker pointed at the stand-ins
  let skey;

  before(async () => {
    standins = await startVendorStandins();
    sw = await startWorker({
      name: 'moderation-standins',
      vars: { ADMIN_TOKEN: ADMIN, RTC_VENDOR_ORDER: 'agora,zego', ...vendorVars({ agora: standins.agora, zego: standins.zego }) },
    });
    ({ key: skey } = await adminSetup(sw));
  });

  after(async () => {
    await sw?.stop();
    await standins?.close();
  });

  const post = (path, body) => api(sw, 'POST', path, { key: skey, body });

  test('Agora: a hard mute is a publish rule for the uid, replaced on each change and lifted', async () => {
    const issued = await post('/v1/rtc/token/issue', { room: 'ag-mute', identity: 'alice', vendor: 'agora' });
    assert.equal(issued.status, 200, issued.text);
    const { room, join: { uid } } = issued.json;
    standins.agora.seedUser(room, uid);
    const soft = await post(`/v1/rtc/participant/mute/${room}`, { identity: 'alice', media: ['audio'], muted: true, mode: 'soft' });
    assert.equal(soft.status, 422, soft.text);
    assert.equal(soft.json.error.code, 'UNSUPPORTED_BY_VENDOR');

    const r = await post(`/v1/rtc/participant/mute/${room}`, { identity: 'alice', media: ['audio'], muted: true, duration_s: 120 });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(standins.agora.publishBlocked(room, uid), ['publish_audio']);
    assert.deepEqual(standins.agora.usersIn(room), [uid], 'a publish rule keeps the user in the channel');
    const both = await post(`/v1/rtc/participant/mute/${room}`, { identity: 'alice', media: ['video'], muted: true });
    assert.equal(both.status, 200, both.text);
    assert.deepEqual(standins.agora.publishBlocked(room, uid), ['publish_audio', 'publish_video']);
    const screen = await post(`/v1/rtc/participant/mute/${room}`, { identity: 'alice', media: ['screen'], muted: true });
    assert.equal(screen.status, 422, screen.text);
    assert.equal(screen.json.error.field, 'media');
    const lifted = await post(`/v1/rtc/participant/mute/${room}`, { identity: 'alice', media: ['audio', 'video'], muted: false });
    assert.equal(lifted.status, 200, lifted.text);
    assert.deepEqual(standins.agora.publishBlocked(room, uid), []);
    assertNoViolations(standins);
  });

  test('ZEGO: a hard mute forbids each of the participant\'s streams; Code 9 is our 422', async () => {
    const issued = await post('/v1/rtc/token/issue', { room: 'zg-mute', identity: 'alice', vendor: 'zego' });
    assert.equal(issued.status, 200, issued.text);
    const { room } = issued.json;
    standins.zego.seedUser(room, { UserId: 'alice' });
    standins.zego.seedStream(room, 'alice-main', 'alice');
    standins.zego.seedStream(room, 'bob-main', 'bob');
    const r = await post(`/v1/rtc/participant/mute/${room}`, { identity: 'alice', media: ['video'], muted: true, duration_s: 300 });
    assert.equal(r.status, 200, r.text);
    const rule = standins.zego.streamRule(room, 'alice-main');
    assert.equal(rule?.DisableVideo, 1);
    assert.equal(rule?.DisableAudio, 0);
    assert.equal(standins.zego.streamRule(room, 'bob-main'), undefined, "only alice's streams");
    const lifted = await post(`/v1/rtc/participant/mute/${room}`, { identity: 'alice', media: ['video'], muted: false });
    assert.equal(lifted.status, 200, lifted.text);
    assert.equal(standins.zego.streamRule(room, 'alice-main'), undefined);

    standins.zego.setForbidRulesEnabled(false);
    try {
      // The stream list answers once per 10 s per room: wait out the window the mute above used.
      await new Promise((resolve) => setTimeout(resolve, 10_500));
      const refused = await post(`/v1/rtc/participant/mute/${room}`, { identity: 'alice', media: ['audio'], muted: true });
      assert.equal(refused.status, 422, refused.text);
      assert.equal(refused.json.error.code, 'UNSUPPORTED_BY_VENDOR');
      assert.equal(refused.json.error.field, 'media');
    } finally {
      standins.zego.setForbidRulesEnabled(true);
    }
    assertNoViolations(standins);
  });
});
