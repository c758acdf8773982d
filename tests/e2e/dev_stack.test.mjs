// `make dev`'s stack end to end: the stack is started by the same module `make dev` runs
// (scripts/dev_stack.mjs), in a directory of its own (its own .dev.vars, local D1 state and dev key)
// on free ports, with no vendor configured, so it runs LiveKit's own server and the Agora and ZEGO
// stand-ins, each wired to send its signed webhooks to the Worker. Then, as a developer would:
//
// - a real LiveKit client (@livekit/rtc-node) joins and leaves a room: participant.joined/left are in
//   the event list, the room has usage, and a webhook endpoint registered with the dev key gets the
//   events as signed deliveries (verified with the official `standardwebhooks` package);
// - scripts/standin-join.mjs joins an Agora and a ZEGO room for a few seconds: the stand-ins' NCS and
//   room callbacks make the same events and usage; a kick through rtcgate in the Agora stand-in is
//   reported back as a leave with Agora's "removed" reason;
// - a recording started and stopped through rtcgate in each stand-in is reported back by the
//   vendor's own notifications (Agora NCS 40 and 11, ZEGO status callbacks 5 and 1).
//
// Run: node --test --test-concurrency=1 tests/e2e/dev_stack.test.mjs   (after `make setup` and
// `bash scripts/build.sh`)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { Webhook } from 'standardwebhooks';

import { startDevStack, ROOT, parseDevVars } from '../../scripts/dev_stack.mjs';
import { api, freePort } from './support/harness.mjs';
import { freePorts } from './support/livekit_server.mjs';
import { rtc, joinWith, publishTone, until } from './support/livekit_clients.mjs';
import { startReceiver } from './support/receiver.mjs';

let dir;
let stack;
let receiver;
let hook; // the webhook endpoint registered with the dev key
const clients = new Set();
const children = new Set();

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtcgate-dev-stack-'));
  receiver = await startReceiver();
  stack = await startDevStack({
    dir,
    port: await freePort(),
    livekitPorts: await freePorts(),
    agoraPort: 0,
    zegoPort: 0,
  });
  const created = await api(stack, 'POST', '/v1/rtc/webhook/create', { key: stack.key, body: { url: `${receiver.url}/ok/dev` } });
  assert.equal(created.status, 201, created.text);
  hook = created.json;
});

after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await Promise.allSettled([...clients].map((c) => c.disconnect()));
  await rtc.dispose();
  await stack?.stop();
  await receiver?.close();
  if (dir && process.env.RTCGATE_E2E_KEEP !== '1') fs.rmSync(dir, { recursive: true, force: true });
});

async function issue(body) {
  const r = await api(stack, 'POST', '/v1/rtc/token/issue', { key: stack.key, body });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function eventsOf(room) {
  const r = await api(stack, 'GET', `/v1/rtc/event/list?room=${encodeURIComponent(room)}`, { key: stack.key });
  assert.equal(r.status, 200, r.text);
  return r.json.items;
}

/** The room's join and leave of `identity`, once both are listed. */
function joinAndLeave(room, identity) {
  return until(
    () => eventsOf(room),
    (items) => ['participant.joined', 'participant.left'].every((t) => items.some((e) => e.type === t && e.identity === identity)),
    `participant.joined and participant.left of ${identity} in ${room}`,
  );
}

async function usageOf(room) {
  const r = await api(stack, 'GET', `/v1/rtc/usage?room=${encodeURIComponent(room)}`, { key: stack.key });
  assert.equal(r.status, 200, r.text);
  return r.json.totals;
}

/** Runs scripts/standin-join.mjs with a token/issue answer on stdin; resolves with its exit and output. */
function standinJoin(issued, args, env) {
  const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'standin-join.mjs'), ...args], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  child.stdin.end(JSON.stringify(issued));
  const exit = new Promise((resolve) => child.on('exit', (code) => (children.delete(child), resolve({ code, output }))));
  return { child, exit, output: () => output };
}

test('the stack is make dev\'s: its own .dev.vars, the dev key, the admin token, local vendors', async () => {
  const vars = parseDevVars(fs.readFileSync(path.join(dir, '.dev.vars'), 'utf8'));
  assert.equal(stack.adminToken, vars.ADMIN_TOKEN);
  assert.match(vars.RTCGATE_ENCRYPTION_KEY, /^[0-9a-f]{64}$/);
  assert.equal(fs.readFileSync(path.join(dir, '.wrangler', 'rtcgate-dev-key'), 'utf8').trim(), stack.key);
  assert.equal(stack.consoleUrl, `${stack.url}/console`);
  // The URL make dev prints serves the console (the stack's config reaches the built assets).
  const page = await fetch(stack.consoleUrl);
  assert.equal(page.status, 200, stack.consoleUrl);
  assert.match(await page.text(), /<title>[^<]*rtcgate/i);
  assert.equal(stack.vendors.local, true);
  // The admin token from .dev.vars works, and the dev key belongs to prj_local.
  const keys = await api(stack, 'GET', `/v1/admin/projects/${stack.projectId}/keys`, { key: stack.adminToken });
  assert.equal(keys.status, 200, keys.text);
  assert.ok(keys.json.items.some((k) => k.label === 'make dev' && k.last4 === stack.key.slice(-4)), keys.text);
  assert.equal((await api(stack, 'GET', '/v1/rtc/room/list', { key: stack.key })).status, 200);
});

test('a real LiveKit client joins and leaves: events, usage and a signed webhook delivery', async () => {
  const issued = await issue({ room: 'standup', identity: 'alice' });
  assert.equal(issued.vendor, 'livekit');
  assert.equal(issued.join.url, stack.vendors.livekit.wsUrl);
  const alice = await joinWith(clients, issued);
  await publishTone(alice);
  // A stay of a few seconds, so the session has seconds to count.
  await new Promise((r) => setTimeout(r, 2500));
  await alice.disconnect();
  clients.delete(alice);

  const room = issued.room;
  const items = await joinAndLeave(room, 'alice');
  assert.ok(items.every((e) => e.vendor === 'livekit'));
  const usage = await until(() => usageOf(room), (t) => t.sessions >= 1, `usage of ${room}`);
  assert.ok(usage.participant_seconds >= 2, JSON.stringify(usage));

  const delivered = await until(
    () => receiver.calls.filter((c) => c.path === '/ok/dev').map((c) => ({ c, payload: JSON.parse(c.body) })),
    (list) => ['participant.joined', 'participant.left'].every((t) => list.some(({ payload }) => payload.type === t && payload.room === room)),
    'deliveries of the join and the leave',
  );
  const verifier = new Webhook(hook.secret);
  for (const { c, payload } of delivered.filter(({ payload }) => payload.room === room)) {
    assert.deepEqual(verifier.verify(c.body, c.headers), payload);
  }
});

test('an Agora stand-in join and leave (scripts/standin-join.mjs): NCS notifications make events and usage', async () => {
  const agora = stack.vendors.agora.standin;
  const issued = await issue({ room: 'desk', identity: 'bob', vendor: 'agora' });
  const run = standinJoin(issued, ['--seconds', '2'], { AGORA_STANDIN_URL: stack.vendors.agora.url });
  const { code, output } = await run.exit;
  assert.equal(code, 0, output);
  assert.match(output, /joined: uid \d+ in channel/);

  const items = await joinAndLeave(issued.room, 'bob');
  const left = items.find((e) => e.type === 'participant.left');
  assert.equal(left.vendor, 'agora');
  assert.equal(left.data.reason, 1);
  const usage = await until(() => usageOf(issued.room), (t) => t.sessions >= 1, `usage of ${issued.room}`);
  assert.ok(usage.participant_seconds >= 1, JSON.stringify(usage));
  await agora.notificationsIdle();
  assert.ok(agora.notifications.length >= 2);
  for (const n of agora.notifications) assert.equal(n.status, 200, `${n.kind}: ${n.status} ${n.error ?? ''}`);
  assert.deepEqual(agora.violations(), []);
});

test('a kick through rtcgate in the Agora stand-in comes back as a leave with the "removed" reason', async () => {
  const issued = await issue({ room: 'desk-kick', identity: 'carol', vendor: 'agora' });
  const run = standinJoin(issued, [], { AGORA_STANDIN_URL: stack.vendors.agora.url });
  await until(() => eventsOf(issued.room), (items) => items.some((e) => e.type === 'participant.joined' && e.identity === 'carol'), 'carol\'s join');
  const kicked = await api(stack, 'POST', `/v1/rtc/participant/kick/${encodeURIComponent(issued.room)}`, { key: stack.key, body: { identity: 'carol' } });
  assert.ok([200, 204].includes(kicked.status), kicked.text);
  const items = await joinAndLeave(issued.room, 'carol');
  assert.equal(items.find((e) => e.type === 'participant.left').data.reason, 3);
  run.child.kill('SIGKILL');
});

test('a ZEGO stand-in login and logout (scripts/standin-join.mjs): room callbacks make events and usage', async () => {
  const zego = stack.vendors.zego.standin;
  const issued = await issue({ room: 'huddle', identity: 'dave', vendor: 'zego' });
  const run = standinJoin(issued, ['--seconds', '2'], { ZEGO_STANDIN_URL: stack.vendors.zego.url });
  const { code, output } = await run.exit;
  assert.equal(code, 0, output);

  const items = await joinAndLeave(issued.room, 'dave');
  assert.ok(items.every((e) => e.vendor === 'zego'));
  const usage = await until(() => usageOf(issued.room), (t) => t.sessions >= 1, `usage of ${issued.room}`);
  assert.ok(usage.participant_seconds >= 2, JSON.stringify(usage));
  await zego.notificationsIdle();
  assert.deepEqual(zego.notifications.map((n) => n.kind), ['room_create', 'room_login', 'room_logout', 'room_close']);
  for (const n of zego.notifications) assert.equal(n.status, 200, `${n.kind}: ${n.status} ${n.error ?? ''}`);
  assert.deepEqual(zego.violations(), []);
});

test('recordings in the stand-ins report back: Agora NCS recorder started/exited, ZEGO status callbacks', async () => {
  const destination = await api(stack, 'POST', '/v1/rtc/recording/destination/create', {
    key: stack.key,
    body: { uri: 's3://dev-bucket/rec/', credentials: { access_key: 'AKIADEVSTACK', secret: 'dev-stack-secret', region: 'us-east-1' } },
  });
  assert.equal(destination.status, 201, destination.text);
  for (const vendor of ['agora', 'zego']) {
    const { standin } = stack.vendors[vendor];
    const issued = await issue({ room: `rec-${vendor}`, identity: 'erin', vendor });
    const run = standinJoin(issued, [], { [`${vendor.toUpperCase()}_STANDIN_URL`]: stack.vendors[vendor].url });
    await until(() => eventsOf(issued.room), (items) => items.some((e) => e.type === 'participant.joined'), `erin's join in ${vendor}`);
    const started = await api(stack, 'POST', '/v1/rtc/recording/start', { key: stack.key, body: { room: issued.room, output_uri: 's3://dev-bucket/rec/' } });
    assert.equal(started.status, 201, started.text);
    const stopped = await api(stack, 'POST', `/v1/rtc/recording/stop/${started.json.recording}`, { key: stack.key, body: {} });
    assert.equal(stopped.status, 200, stopped.text);
    // What the vendor reported, told apart from rtcgate's own lifecycle by the vendor's event code.
    const expected = vendor === 'agora' ? [40, 11] : [5, 1];
    const items = await until(
      () => eventsOf(issued.room),
      (list) => expected.every((code) => list.some((e) => e.type.startsWith('recording.') && e.data.vendor_event === code)),
      `the ${vendor} recording notifications ${expected} in the event list`,
    );
    const ended = items.find((e) => e.data.vendor_event === expected[1]);
    assert.equal(ended.type, 'recording.ended');
    // `recording_id` is a vendor detail: the stand-in's own task id (ZEGO's task carries ours as ClientTaskId).
    const task = vendor === 'agora' ? standin.recordingOf(issued.room).sid : standin.recordingOf(started.json.recording).TaskId;
    assert.equal(ended.data.recording_id, task);
    const got = await api(stack, 'GET', `/v1/rtc/recording/get/${started.json.recording}`, { key: stack.key });
    assert.equal(got.json.status, 'complete', got.text);
    await standin.notificationsIdle();
    for (const n of standin.notifications) assert.equal(n.status, 200, `${vendor} ${n.kind}: ${n.status} ${n.error ?? ''}`);
    assert.deepEqual(standin.violations(), []);
    run.child.kill('SIGKILL');
  }
});
