// The web console (/console, the Worker's static assets) in a real browser: Debian's Chromium,
// driven by playwright-core, with fake camera and microphone, against the real stack: the Worker,
// LiveKit's own server posting its webhooks to the Worker (so events and usage flow), and a
// loopback webhook receiver.
//
// - A wrong API key (and a wrong admin token) shows a clear message, not a blank page.
// - Signed in, the console creates a room; two browser tabs join it from the console's room page
//   with the LiveKit web SDK over real WebRTC, and each sees the other (in the peer list, and
//   receiving the other's video); the console's room page lists both, with their join times; a
//   kick from the console disconnects that tab; the event tail shows the join and the leave; the
//   webhook endpoint shows healthy deliveries; the usage chart shows the minutes.
// - Agora and ZEGO rooms (on the strict stand-ins) show the join payload and a snippet instead;
//   the recordings page shows an Agora recording's status and files.
// - A LiveKit room's page (a second Worker, on the LiveKit stand-in with Egress) starts a recording
//   into one of the project's destinations, shows its status as the egress moves, and stops it; a
//   start the API refuses shows the API's error.
// - The admin pages create a project and a key.
//
// Screenshots of the main pages go to build/test-output/screenshots/ (git-ignored); with
// UPDATE_SCREENSHOTS=1 they go to docs/screenshots/ instead, which the README and docs/console.md
// show. The console's first load is timed in the browser (docs/console.md).
//
// Chromium: $RTCGATE_CHROMIUM, else `chromium` on PATH (scripts/setup.sh installs Debian's package).
// Run: node --test --test-concurrency=1 tests/e2e/console.test.mjs   (after `make setup` and
// `bash scripts/build.sh`)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { chromium } from 'playwright-core';

import { startWorker, adminSetup, api, randomToken, ROOT } from './support/harness.mjs';
import { assertNoViolations, standinOptions, vendorVars } from './support/fixtures.mjs';
import { freePorts, startLiveKitServer, serverVars } from './support/livekit_server.mjs';
import { startReceiver } from './support/receiver.mjs';
import { startAll } from './support/standins/index.mjs';

const ADMIN = randomToken();
const API_KEY = `APIconsole${crypto.randomBytes(6).toString('hex')}`;
const API_SECRET = crypto.randomBytes(32).toString('base64url');
const AGORA_APP_ID = '970CA35de60c44645bbae8a215061b33';
const ZEGO_APP_ID = 1234567890;
const ZEGO_SECRET = 'fa94dd0f974cf2e293728a526b028271';
// The docs' screenshots are refreshed only on request (UPDATE_SCREENSHOTS=1), so a test run leaves
// the tree as it was.
const UPDATE_SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1';
const DOC_SHOTS = path.join(ROOT, 'docs', 'screenshots');
const SHOTS = UPDATE_SCREENSHOTS ? DOC_SHOTS : path.join(ROOT, 'build', 'test-output', 'screenshots');
// A project's own recording storage on the recordings Worker (made-up credentials: the stand-in
// writes nothing).
const OWN_S3 = { access_key: 'AKIAE2ECONSOLEOWN', secret: 'console-own-e2e-secret', region: 'eu-central-1' };
// Bounded waits for what another process has to do first (WebRTC, webhooks, polling pages).
const WAIT_MS = 60_000;

let w;
let lk;
let receiver;
let standins; // Agora and ZEGO
let browser;
let project;
let docShotsBefore; // docs/screenshots as the run found it: file name → SHA-256
let recordingVendors; // the LiveKit stand-in (with Egress) behind `rw`
let rw; // the Worker whose LiveKit rooms are recorded
let recordingProject; // a project on `rw`

function chromiumPath() {
  if (process.env.RTCGATE_CHROMIUM) return process.env.RTCGATE_CHROMIUM;
  try {
    return execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('no chromium on PATH: run `bash scripts/setup.sh` (it installs Debian\'s chromium package) or set RTCGATE_CHROMIUM');
  }
}

before(async () => {
  receiver = await startReceiver();
  standins = await startAll({
    agora: { appId: AGORA_APP_ID, customerId: 'cust', customerSecret: 'secret' },
    zego: { appId: ZEGO_APP_ID, serverSecret: ZEGO_SECRET },
  });
  recordingVendors = await startAll({ livekit: standinOptions().livekit });
  const ports = await freePorts();
  const [worker, launched, recordingWorker] = await Promise.all([
    startWorker({
      name: 'console',
      vars: {
        ADMIN_TOKEN: ADMIN,
        RTC_VENDOR_ORDER: 'livekit,agora,zego',
        ...serverVars({ ports, apiKey: API_KEY, apiSecret: API_SECRET }),
        VENDOR_TIMEOUT_MS: 5000,
        WEBHOOK_ALLOW_HTTP_LOOPBACK: '1',
        RTCGATE_ENCRYPTION_KEY: crypto.randomBytes(32).toString('hex'),
        AGORA_APP_ID: AGORA_APP_ID,
        AGORA_APP_CERTIFICATE: '5CFd2fd1755d40ecb72977518be15d3b',
        AGORA_CUSTOMER_ID: 'cust',
        AGORA_CUSTOMER_SECRET: 'secret',
        AGORA_API_BASE: standins.agora.url,
        ZEGO_APP_ID: String(ZEGO_APP_ID),
        ZEGO_SERVER_SECRET: ZEGO_SECRET,
        ZEGO_API_BASE: standins.zego.url,
        // Recordings into the shared bucket `media` (each project in its own folder).
        RECORDING_S3_ACCESS_KEY: 'AKIAE2ECONSOLE',
        RECORDING_S3_SECRET: 'console-e2e-s3-secret',
        RECORDING_S3_REGION: 'eu-west-1',
        RECORDING_SHARED_BUCKETS: 'media',
      },
    }),
    chromium.launch({
      executablePath: chromiumPath(),
      args: ['--no-sandbox', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
    }),
    // No RECORDING_DEFAULT_URI: a recording needs a destination, so a start without one is refused.
    startWorker({
      name: 'console-recordings',
      vars: {
        ADMIN_TOKEN: ADMIN,
        ...vendorVars(recordingVendors),
        RTCGATE_ENCRYPTION_KEY: crypto.randomBytes(32).toString('hex'),
      },
    }),
  ]);
  w = worker;
  browser = launched;
  rw = recordingWorker;
  lk = await startLiveKitServer({
    ports,
    apiKey: API_KEY,
    apiSecret: API_SECRET,
    webhookUrls: [`${w.url}/v1/vendor-events/livekit`],
    roomDefaults: { departure_timeout: 1 },
  });
  [project, recordingProject] = await Promise.all([adminSetup(w, { projectName: 'console' }), adminSetup(rw, { projectName: 'console-recordings' })]);
  docShotsBefore = docShots();
  // A run's own folder starts empty, so what is in it afterwards is what this run took.
  if (!UPDATE_SCREENSHOTS) fs.rmSync(SHOTS, { recursive: true, force: true });
  fs.mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await w?.stop();
  await rw?.stop();
  await recordingVendors?.close();
  await lk?.stop();
  await receiver?.close();
  await standins?.close();
});

/** A new browser tab of its own (its own sessionStorage), at `hash` of `worker`'s console. */
async function tab({ hash = '', viewport = { width: 1200, height: 800 }, worker = w } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  await page.goto(`${worker.url}/console/${hash}`);
  return page;
}

async function signIn(page, key = project.key) {
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Console' }).waitFor();
}

/** Follows a link of the console's navigation bar. */
const nav = (page, name) => page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name }).click();

/** The PNGs in docs/screenshots: file name → SHA-256 of its bytes. */
function docShots() {
  return Object.fromEntries(
    fs.readdirSync(DOC_SHOTS).filter((f) => f.endsWith('.png')).map((f) => [f, crypto.createHash('sha256').update(fs.readFileSync(path.join(DOC_SHOTS, f))).digest('hex')]),
  );
}

const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

test('a wrong API key or admin token gets a clear message, not a blank page', async () => {
  const page = await tab();
  await page.getByLabel('API key').fill('rtc_sk_00000000000000000000000000000000');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const alert = page.getByRole('alert');
  await alert.waitFor();
  const text = await alert.textContent();
  assert.match(text, /That API key was not accepted/);
  assert.match(text, /UNAUTHENTICATED/);
  // Still the sign-in form, ready for another try, and nothing was kept.
  assert.equal(await page.getByLabel('API key').isVisible(), true);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  await shot(page, 'sign-in-wrong-key');

  const admin = await tab({ hash: 'admin/' });
  await admin.getByLabel('admin token').fill('not-the-admin-token');
  await admin.getByRole('button', { name: 'Sign in' }).click();
  assert.match(await admin.getByRole('alert').textContent(), /That admin token was not accepted.*UNAUTHENTICATED/);
  // The tenant's key does not open the admin pages either.
  await admin.getByLabel('admin token').fill(project.key);
  await admin.getByRole('button', { name: 'Sign in' }).click();
  await admin.getByRole('alert').filter({ hasText: 'UNAUTHENTICATED' }).waitFor();
  await Promise.all([page.context().close(), admin.context().close()]);
});

test('two tabs join a room from the console; the console sees them, kicks one, tails the events and charts the minutes', async (t) => {
  // First load, as a browser sees it: navigation to the sign-in form's being usable.
  const console_ = await tab();
  await console_.getByLabel('API key').waitFor();
  const load = await console_.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    return { domContentLoaded: Math.round(nav.domContentLoadedEventEnd), load: Math.round(nav.loadEventEnd), ready: Math.round(performance.now()) };
  });
  t.diagnostic(`first load of /console/: DOMContentLoaded ${load.domContentLoaded} ms, load ${load.load} ms, sign-in form usable by ${load.ready} ms`);
  await signIn(console_);

  // A webhook endpoint, so the webhooks page has deliveries to report.
  await nav(console_, 'Webhooks');
  await console_.getByLabel('Endpoint URL').fill(`${receiver.url}/ok/console`);
  await console_.getByRole('button', { name: 'Add endpoint' }).click();
  assert.match(await console_.locator('pre.secret').textContent(), /^whsec_/);

  await nav(console_, 'Rooms');
  await console_.getByLabel('Room name').fill('standup');
  await console_.getByRole('button', { name: 'Create room' }).click();
  await console_.getByRole('status').filter({ hasText: 'Created standup on livekit.' }).waitFor();

  // Two more tabs join from the room's page (signing in first: each tab keeps its own key).
  const [alice, bob] = await Promise.all([tab({ hash: '#/rooms/standup' }), tab({ hash: '#/rooms/standup' })]);
  await Promise.all([signIn(alice), signIn(bob)]);
  for (const [page, identity] of [[alice, 'alice'], [bob, 'bob']]) {
    await page.getByLabel('Join as (identity)').fill(identity);
    await page.getByRole('button', { name: 'Join', exact: true }).click();
  }
  for (const [page, other] of [[alice, 'bob'], [bob, 'alice']]) {
    await page.locator('.call-status[data-state="connected"]').waitFor();
    await page.locator(`.call-peers li[data-identity="${other}"]`).waitFor();
    // Seeing the other: their camera's video arrives and plays (the fake device's frames) once it
    // is scrolled to, as a person would. The call sits below the fold of a room page, and with
    // adaptiveStream LiveKit pauses video for an element outside the viewport: whether the first
    // frames beat that pause was a race, lost on a busy machine. The element is found afresh on
    // each poll, since a resubscription replaces it.
    const label = `video of ${other}`;
    const video = page.getByLabel(label);
    await video.waitFor();
    await video.scrollIntoViewIfNeeded();
    await page.waitForFunction(
      (label) => [...document.querySelectorAll('video')].some((el) => el.getAttribute('aria-label') === label && el.videoWidth > 0 && el.currentTime > 0),
      label,
      { timeout: WAIT_MS },
    );
  }
  await shot(bob, 'join-livekit');

  // The console's room page lists both, live, with the server's join times.
  await console_.getByRole('table').getByRole('link', { name: 'standup' }).click();
  for (const identity of ['alice', 'bob']) {
    const row = console_.getByRole('row').filter({ has: console_.locator('.identity', { hasText: new RegExp(`^${identity}$`) }) });
    await row.waitFor();
    assert.match(await row.locator('time').getAttribute('datetime'), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  }
  await shot(console_, 'room');
  await console_.getByRole('link', { name: '← Rooms' }).click();
  await console_.locator('.occupancy[data-room="standup"]', { hasText: '2' }).waitFor();
  await shot(console_, 'rooms');

  // The room page on a phone-sized screen: one column, every action still reachable.
  const phone = await tab({ hash: '#/rooms/standup', viewport: { width: 390, height: 844 } });
  await signIn(phone);
  await phone.getByRole('button', { name: 'Kick alice' }).waitFor();
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the room page is ${overflow} px wider than a 390 px screen`);
  await shot(phone, 'room-phone');
  await phone.context().close();

  // A kick from the console disconnects that tab; the other sees them go.
  await console_.getByRole('table').getByRole('link', { name: 'standup' }).click();
  await console_.getByRole('button', { name: 'Kick alice' }).click();
  await console_.getByRole('status').filter({ hasText: 'Kicked alice.' }).waitFor();
  await alice.locator('.call-status[data-state="disconnected"]', { hasText: 'PARTICIPANT_REMOVED' }).waitFor();
  await bob.locator('.call-peers li[data-identity="alice"]').waitFor({ state: 'detached' });
  await console_.getByRole('button', { name: 'Kick alice' }).waitFor({ state: 'detached' });
  await bob.getByRole('button', { name: 'Leave' }).click();
  await bob.locator('.call-status[data-state="disconnected"]').waitFor();

  // The event tail shows the joins and the leaves, as the LiveKit server reported them.
  await nav(console_, 'Events');
  for (const type of ['participant.joined', 'participant.left']) {
    for (const identity of ['alice', 'bob']) {
      await console_.locator(`.event-type[data-type="${type}"][data-identity="${identity}"]`).waitFor();
    }
  }
  await shot(console_, 'events');

  // The endpoint received those events: delivered, none failing.
  await nav(console_, 'Webhooks');
  await console_.locator('.badge.healthy').waitFor();
  assert.ok(receiver.calls.some((c) => c.path === '/ok/console' && JSON.parse(c.body).type === 'participant.left'));
  await shot(console_, 'webhooks');

  // Usage: each session counts whole started minutes, so alice's and bob's make at least 2.
  await nav(console_, 'Usage');
  const summary = console_.locator('.summary');
  for (const deadline = Date.now() + WAIT_MS; ; ) {
    await summary.locator('xpath=self::*[@data-minutes]').waitFor();
    if (Number(await summary.getAttribute('data-minutes')) >= 2) break;
    assert.ok(Date.now() < deadline, `usage shows ${await summary.textContent()}`);
    await console_.waitForTimeout(1000);
    await console_.getByRole('button', { name: 'Refresh' }).click();
  }
  const today = new Date().toISOString().slice(5, 10);
  const todayBar = console_.locator(`svg.chart g.bar[data-label="${today}"]`).first();
  assert.ok(Number(await todayBar.getAttribute('data-value')) >= 2, 'today\'s bar shows the minutes');
  assert.ok(Number(await console_.locator('svg.chart g.bar[data-label="standup"]').getAttribute('data-value')) >= 2, 'the room\'s bar shows the minutes');
  await shot(console_, 'usage');

  await Promise.all([console_, alice, bob].map((p) => p.context().close()));
});

test('Agora and ZEGO rooms show the join payload and a ready snippet; the recordings page shows a finished recording\'s files; the vendors got only calls they accept', async () => {
  const page = await tab();
  await signIn(page);
  for (const [vendor, name] of [['agora', 'town-hall'], ['zego', 'quiz-night']]) {
    await nav(page, 'Rooms');
    await page.getByLabel('Room name').fill(name);
    await page.getByLabel('Vendor').selectOption(vendor);
    await page.getByRole('button', { name: 'Create room' }).click();
    await page.getByRole('status').filter({ hasText: `Created ${name} on ${vendor}.` }).waitFor();
    await page.getByRole('table').getByRole('link', { name, exact: true }).click();
    const roomId = (await page.locator('dl.facts code').textContent()).trim();
    await page.getByLabel('Join as (identity)').fill('carol');
    await page.getByRole('button', { name: 'Join', exact: true }).click();
    const payload = JSON.parse(await page.locator('section[aria-label="Join payload"] pre').first().textContent());
    assert.equal(payload.vendor, vendor);
    assert.equal(payload.identity, 'carol');
    const snippet = await page.locator('section[aria-label="Join payload"] pre').last().textContent();
    if (vendor === 'agora') {
      assert.equal(payload.join.app_id, AGORA_APP_ID);
      assert.equal(payload.join.channel, roomId);
      assert.ok(payload.join.uid >= 1);
      assert.ok(snippet.includes(`client.join("${AGORA_APP_ID}", "${roomId}", TOKEN, ${payload.join.uid})`), snippet);
    } else {
      assert.deepEqual(payload.join, { app_id: ZEGO_APP_ID, room_id: roomId, user_id: 'carol' });
      assert.ok(snippet.includes(`zg.loginRoom("${roomId}", TOKEN, { userID: "carol"`), snippet);
    }
    assert.equal(await page.locator('.call-status').count(), 0, 'the tab does not try to join');
    if (vendor === 'agora') {
      await shot(page, 'join-agora');
      // A recording of the room, run to its end through the API (the room page's own recording
      // form is tested on a LiveKit room below); the recordings page reads it.
      standins.agora.seedUser(roomId, payload.join.uid);
      const started = await api(w, 'POST', '/v1/rtc/recording/start', { key: project.key, body: { room: roomId, output_uri: `s3://media/${project.projectId}/calls/` } });
      assert.equal(started.status, 201, started.text);
      const [task] = [...standins.agora.recordingTasks.values()].filter((t) => t.cname === roomId);
      standins.agora.advanceRecording(task.sid, 5);
      const stopped = await api(w, 'POST', `/v1/rtc/recording/stop/${started.json.recording}`, { key: project.key, body: {} });
      assert.equal(stopped.json.status, 'complete', stopped.text);
      assert.ok(stopped.json.files.length > 0, stopped.text);
      await nav(page, 'Recordings');
      const row = page.getByRole('row').filter({ hasText: started.json.recording });
      await row.locator('.status-complete').waitFor();
      for (const f of stopped.json.files) await row.getByText(f.location).waitFor();
      await shot(page, 'recordings');
    }
  }
  assert.deepEqual(standins.violations(), [], standins.describeViolations());
  await page.context().close();
});

test('a LiveKit room\'s page starts a recording into a destination, shows its status as the egress moves and stops it; a refused start shows the API\'s error', async () => {
  const key = recordingProject.key;
  const lk = recordingVendors.livekit;
  const dest = await api(rw, 'POST', '/v1/rtc/recording/destination/create', { key, body: { uri: 's3://console-own/calls', credentials: OWN_S3 } });
  assert.equal(dest.status, 201, dest.text);
  const created = await api(rw, 'POST', '/v1/rtc/room/create', { key, body: { name: 'board-meeting' } });
  assert.equal(created.status, 201, created.text);
  const roomId = created.json.room;

  const page = await tab({ worker: rw, hash: '#/rooms/board-meeting' });
  await signIn(page, key);
  const section = page.getByRole('region', { name: 'Recordings of this room' });
  await section.getByText('No recordings of this room yet.').waitFor();

  // This server has no default storage: the API refuses a start without a destination, and the
  // console shows its message, code and request id; nothing reached LiveKit.
  assert.equal(await page.getByLabel('Destination').inputValue(), '');
  await section.getByRole('button', { name: 'Start recording' }).click();
  const refused = await section.getByRole('alert').textContent();
  assert.match(refused, /\(INVALID_REQUEST, request \S+\)$/, refused);
  assert.equal(lk.callsTo('StartRoomCompositeEgress').length, 0);

  // Into the project's destination, speaker layout.
  await page.getByLabel('Destination').selectOption('s3://console-own/calls/');
  await page.getByLabel('Layout').selectOption('speaker');
  await section.getByRole('button', { name: 'Start recording' }).click();
  const started = await section.getByRole('status').filter({ hasText: 'Started recording' }).textContent();
  const [, recording, outputUri] = started.match(/^Started recording (rec_[0-9A-Za-z]{22}) into (\S+)\.$/) ?? [];
  assert.ok(recording, started);
  assert.equal(outputUri, `s3://console-own/calls/${roomId}-${recording}.mp4`);
  const row = section.getByRole('row').filter({ hasText: recording });
  await row.locator('.status-starting').waitFor();
  await row.getByText(outputUri).waitFor();
  // What LiveKit was asked for, and what the API holds.
  const [start] = lk.callsTo('StartRoomCompositeEgress');
  assert.equal(start.ok, true, start.error);
  assert.equal(start.message.roomName, roomId);
  assert.equal(start.message.layout, 'speaker');
  assert.equal(start.body.file_outputs[0].s3.bucket, 'console-own');
  const listed = await api(rw, 'GET', `/v1/rtc/recording/list?room=${roomId}`, { key });
  assert.deepEqual(listed.json.items.map((r) => [r.recording, r.status, r.layout, r.output_uri]), [[recording, 'starting', 'speaker', outputUri]]);

  // The egress goes active: the page reads it from LiveKit (recording/get) on its next poll.
  const egressId = start.response.egress_id;
  lk.advanceEgress(egressId, 'EGRESS_ACTIVE');
  await row.locator('.status-active').waitFor();
  await shot(page, 'room-recording');

  // Stop: LiveKit is asked to stop that egress; the recording is stopping, then complete with its file.
  await row.getByRole('button', { name: `Stop recording ${recording}` }).click();
  await section.getByRole('status').filter({ hasText: `Recording ${recording}: stopping.` }).waitFor();
  await row.locator('.status-stopping').waitFor();
  assert.deepEqual(lk.callsTo('StopEgress').map((c) => c.body), [{ egress_id: egressId }]);
  assert.equal(await row.getByRole('button', { name: `Stop recording ${recording}` }).count(), 0, 'no Stop while stopping');
  const file = { filename: 'board.mp4', location: `s3://console-own/calls/${roomId}-${recording}.mp4`, size: 4096, duration: 7_000_000_000 };
  lk.advanceEgress(egressId, 'EGRESS_COMPLETE', { file_results: [file] });
  await row.locator('.status-complete').waitFor();
  await row.getByText(`${file.location} (4096 bytes), 7 s`).waitFor();
  assert.equal(await row.locator('time').count(), 2, 'started and ended are shown');
  const got = await api(rw, 'GET', `/v1/rtc/recording/get/${recording}`, { key });
  assert.equal(got.json.status, 'complete', got.text);
  assert.match(got.json.ended_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  assert.deepEqual(got.json.files, [{ location: file.location, size_bytes: 4096, duration_ms: 7000 }]);
  assert.ok((await row.locator(`time[datetime="${got.json.ended_at}"]`).count()) >= 1, 'the ended time is the API\'s');
  assertNoViolations(recordingVendors);
  await page.context().close();
});

test('the admin pages create a project and its key; the tenant console never shows them', async () => {
  const admin = await tab({ hash: 'admin/' });
  await admin.getByLabel('admin token').fill(ADMIN);
  await admin.getByRole('button', { name: 'Sign in' }).click();
  await admin.getByLabel('Project name').fill('acme');
  await admin.getByRole('button', { name: 'Create project' }).click();
  await admin.getByRole('status').filter({ hasText: 'Created project acme' }).waitFor();
  await admin.getByLabel('New key label').fill('ci');
  await admin.getByRole('button', { name: 'Create key' }).click();
  const secret = (await admin.locator('pre.secret').textContent()).trim();
  assert.match(secret, /^rtc_sk_[0-9A-Za-z]{32}$/);
  await admin.getByRole('button', { name: /^Revoke key ci ending / }).waitFor();
  await shot(admin, 'admin');

  // The new key signs in to the tenant console, which has no admin links.
  const tenant = await tab();
  await signIn(tenant, secret);
  assert.equal(await tenant.getByRole('link', { name: /admin|project/i }).count(), 0);
  await Promise.all([admin.context().close(), tenant.context().close()]);
});

test('the run wrote its screenshots under build/test-output and left docs/screenshots as it found them (UPDATE_SCREENSHOTS=1 refreshes those)', { skip: UPDATE_SCREENSHOTS && 'UPDATE_SCREENSHOTS=1: this run refreshes docs/screenshots' }, () => {
  assert.deepEqual(docShots(), docShotsBefore);
  // Every screenshot the docs show was taken again, where a test run keeps them.
  const taken = fs.readdirSync(SHOTS).filter((f) => f.endsWith('.png')).sort();
  assert.deepEqual(taken, Object.keys(docShotsBefore).sort());
});
