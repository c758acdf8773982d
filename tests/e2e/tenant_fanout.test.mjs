// Hostile tenants against webhook fan-out and vendor-event intake, on the real Worker (workerd under
// `wrangler dev`, local D1 and Queue):
// - one project's endpoints include a receiver that answers 200 and then streams without end, and one
//   that accepts the connection and never answers; the same project's healthy endpoint still gets the
//   event promptly (far sooner than the hostile endpoints' timeout), another project's delivery waits
//   at most one delivery timeout, another project's API requests are served throughout, the streaming connection is closed by the Worker, both hostile deliveries
//   fail on their own endpoint's health, and the service still answers afterwards;
// - a vendor event is stored before it is answered 2xx: it is in `event/list` as soon as the vendor's
//   POST returns.
//
// Run: node --test --test-concurrency=1 --test-timeout=600000 tests/e2e/tenant_fanout.test.mjs
//   (after `bash scripts/build.sh`)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';

import { ParticipantInfo, Room } from '@livekit/protocol';

import { startWorker, api, adminSetup, randomToken, freePort } from './support/harness.mjs';
import { startVendorStandins, vendorVars } from './support/fixtures.mjs';
import { livekitDelivery, postLiveKit } from './support/livekit_webhooks.mjs';
import { waitFor } from './support/wait.mjs';

const ADMIN = randomToken();
const ENCRYPTION_KEY = crypto.randomBytes(32).toString('hex');
// Long enough that a delivery stuck behind a hostile endpoint would visibly miss HEALTHY_WITHIN_MS.
const WEBHOOK_TIMEOUT_MS = 15_000;
// The bound on the healthy delivery and on each of the other project's requests: well below the
// hostile endpoints' timeout (anything held back by them takes at least that long), with room
// for a busy 2-core CI machine where the Worker, the queue consumer and the test share the CPU.
const HEALTHY_WITHIN_MS = 9_000;

let vendors;
let w;
let hostile;
let a; // the project with hostile endpoints
let b; // another tenant


/**
 * Loopback endpoints: `/ok` records and answers 204; `/stream` answers 200 and then writes 16 KiB
 * every few milliseconds until the client goes away; `/hang` reads the request and never answers.
 * `open.stream` counts streaming responses whose connection is still open.
 */
async function startHostileReceiver() {
  const port = await freePort();
  const calls = [];
  const open = { stream: 0, hang: 0 };
  const sockets = new Set();
  const chunk = Buffer.alloc(16 * 1024, 'x');
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      calls.push({ path: req.url, id: req.headers['webhook-id'], at: Date.now() });
      if (req.url === '/ok' || req.url.startsWith('/ok/')) {
        res.writeHead(204).end();
      } else if (req.url === '/stream') {
        open.stream++;
        res.writeHead(200, { 'content-type': 'application/json' });
        const timer = setInterval(() => res.write(chunk), 2);
        res.on('close', () => {
          clearInterval(timer);
          open.stream--;
        });
      } else if (req.url === '/hang') {
        open.hang++;
        res.on('close', () => open.hang--);
      } else {
        res.writeHead(404).end();
      }
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    open,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(r));
    },
  };
}


/** A participant's join and leave, as LiveKit sends them (the same participant sid). */
async function presence(room, identity) {
  const now = Math.floor(Date.now() / 1000);
  const sid = `PA_${randomToken(6)}`;
  const participant = (state) =>
    new ParticipantInfo({ sid, identity, state, joinedAt: BigInt(now), joinedAtMs: BigInt(now * 1000) });
  const roomInfo = new Room({ sid: 'RM_fanout', name: room });
  const [join, leave] = await Promise.all([
    livekitDelivery({ event: 'participant_joined', id: `EV_${randomToken(6)}`, createdAt: BigInt(now), room: roomInfo, participant: participant(1) }),
    livekitDelivery({ event: 'participant_left', id: `EV_${randomToken(6)}`, createdAt: BigInt(now + 1), room: roomInfo, participant: participant(3) }),
  ]);
  return { join, leave };
}

async function createRoom(key, name) {
  const r = await api(w, 'POST', '/v1/rtc/room/create', { key, body: { name, vendor: 'livekit' } });
  assert.equal(r.status, 201, r.text);
  return r.json.room;
}

async function createWebhook(key, url) {
  const r = await api(w, 'POST', '/v1/rtc/webhook/create', { key, body: { url } });
  assert.equal(r.status, 201, r.text);
  return r.json.webhook;
}

async function health(key, id) {
  const r = await api(w, 'GET', `/v1/rtc/webhook/get/${id}`, { key });
  assert.equal(r.status, 200, r.text);
  return r.json.delivery;
}

before(async () => {
  [vendors, hostile] = await Promise.all([startVendorStandins(), startHostileReceiver()]);
  w = await startWorker({
    name: 'tenant-fanout',
    vars: {
      ADMIN_TOKEN: ADMIN,
      ...vendorVars(vendors),
      RTCGATE_ENCRYPTION_KEY: ENCRYPTION_KEY,
      WEBHOOK_ALLOW_HTTP_LOOPBACK: '1',
      WEBHOOK_MAX_ATTEMPTS: '1',
      WEBHOOK_TIMEOUT_MS: String(WEBHOOK_TIMEOUT_MS),
    },
  });
  a = await adminSetup(w, { projectName: 'hostile' });
  b = await adminSetup(w, { projectName: 'bystander' });
});

after(async () => {
  await w?.stop();
  await hostile?.close();
  await vendors?.close();
});

test('a streaming and a never-answering receiver delay neither a healthy endpoint nor another tenant', async () => {
  const room = await createRoom(a.key, 'hostile-room');
  // The healthy endpoint is created first, so it is listed (and was delivered to) last.
  const ok = await createWebhook(a.key, `${hostile.url}/ok`);
  const stream = await createWebhook(a.key, `${hostile.url}/stream`);
  const hang = await createWebhook(a.key, `${hostile.url}/hang`);
  const roomB = await createRoom(b.key, 'bystander-room');
  await createWebhook(b.key, `${hostile.url}/ok/b`);

  // Project B's requests, every 250 ms while the hostile deliveries run: each must be answered.
  let polling = true;
  const bystander = (async () => {
    const answers = [];
    while (polling) {
      const started = Date.now();
      const r = await api(w, 'GET', '/v1/rtc/room/list', { key: b.key, timeoutMs: 10_000 }).catch((e) => ({ status: 0, text: String(e) }));
      answers.push({ status: r.status, ms: Date.now() - started, text: r.text });
      await new Promise((r) => setTimeout(r, 250));
    }
    return answers;
  })();

  try {
    const sentAt = Date.now();
    const posted = await postLiveKit(w, (await presence(room, 'alice')).join);
    assert.equal(posted.status, 200, posted.text);
    const healthy = await waitFor('the healthy endpoint gets the event', () =>
      hostile.calls.find((c) => c.path === '/ok'), WEBHOOK_TIMEOUT_MS * 4);
    const healthyMs = healthy.at - sentAt;
    assert.ok(
      healthyMs < HEALTHY_WITHIN_MS,
      `the healthy endpoint got its delivery ${healthyMs} ms after the vendor event; the hostile endpoints' timeout is ${WEBHOOK_TIMEOUT_MS} ms`,
    );

    // Another project's event, queued in a later batch while the never-answering delivery is still
    // in flight. Locally Miniflare hands a queue's batches to the consumer one at a time, so it may
    // wait for that batch, but never longer than one delivery timeout (on Cloudflare consumer
    // invocations run concurrently): a hostile endpoint holds no one back past its own timeout.
    await new Promise((r) => setTimeout(r, 1500));
    const otherSentAt = Date.now();
    assert.equal((await postLiveKit(w, (await presence(roomB, 'bob')).join)).status, 200);
    const other = await waitFor("the other project's endpoint gets its event", () =>
      hostile.calls.find((c) => c.path === '/ok/b'), WEBHOOK_TIMEOUT_MS * 4);
    const otherMs = other.at - otherSentAt;
    assert.ok(otherMs < WEBHOOK_TIMEOUT_MS + HEALTHY_WITHIN_MS, `the other project's delivery took ${otherMs} ms`);
    // What reached B's endpoint is B's own event, and only that: A's event was fanned out (its
    // healthy delivery came) before B's was even sent, so anything of A's bound for B would have
    // been queued ahead of B's own.
    const [eventA] = (await api(w, 'GET', `/v1/rtc/event/list?room=${room}`, { key: a.key })).json.items;
    const [eventB] = (await api(w, 'GET', `/v1/rtc/event/list?room=${roomB}`, { key: b.key })).json.items;
    assert.equal(healthy.id, eventA.event, "A's healthy endpoint got A's event");
    assert.deepEqual(hostile.calls.filter((c) => c.path === '/ok/b').map((c) => c.id), [eventB.event], "B's endpoint got only B's event");

    // Both hostile deliveries fail on their own endpoint.
    const streamHealth = await waitFor('the streaming delivery fails', async () => {
      const h = await health(a.key, stream);
      return h.last_attempt_at && h;
    }, WEBHOOK_TIMEOUT_MS * 3);
    assert.match(streamHealth.last_error, /answer longer than 4096 bytes/);
    assert.equal(streamHealth.delivered, 0);
    const hangHealth = await waitFor('the never-answering delivery fails', async () => {
      const h = await health(a.key, hang);
      return h.last_attempt_at && h;
    }, WEBHOOK_TIMEOUT_MS * 3);
    assert.match(hangHealth.last_error, /no answer within/);
    assert.equal((await health(a.key, ok)).delivered, 1);
    // With every delivery of A's event settled, still nothing of A's at B's endpoint.
    assert.deepEqual(hostile.calls.filter((c) => c.path === '/ok/b').map((c) => c.id), [eventB.event]);
    // The Worker let go of both hostile connections.
    await waitFor('the streaming connection is closed', () => hostile.open.stream === 0, WEBHOOK_TIMEOUT_MS * 2);
    await waitFor('the never-answered connection is closed', () => hostile.open.hang === 0, WEBHOOK_TIMEOUT_MS * 2);
  } finally {
    polling = false;
  }

  const answers = await bystander;
  assert.ok(answers.length >= 5, `B made ${answers.length} requests`);
  const refused = answers.filter((r) => r.status !== 200);
  assert.deepEqual(refused, [], 'every request of the other project was served');
  const slowest = Math.max(...answers.map((r) => r.ms));
  assert.ok(slowest < HEALTHY_WITHIN_MS, `the other project's slowest request took ${slowest} ms`);

  // Still answering afterwards, for both projects.
  assert.equal((await api(w, 'GET', '/v1/health')).status, 200);
  assert.equal((await api(w, 'GET', '/v1/rtc/room/list', { key: a.key })).status, 200);
  assert.equal((await api(w, 'GET', '/v1/rtc/room/list', { key: b.key })).status, 200);
});

test('a vendor event is stored before it is answered 2xx', async () => {
  const room = await createRoom(b.key, 'stored-first');
  // Several in a row: each one must be listed by the time its vendor POST has returned.
  for (let i = 0; i < 5; i++) {
    const { join, leave } = await presence(room, `user-${i}`);
    for (const [delivery, type] of [[join, 'participant.joined'], [leave, 'participant.left']]) {
      const posted = await postLiveKit(w, delivery);
      assert.equal(posted.status, 200, posted.text);
      const listed = await api(w, 'GET', `/v1/rtc/event/list?room=${room}`, { key: b.key });
      assert.equal(listed.status, 200, listed.text);
      assert.ok(
        listed.json.items.some((e) => e.identity === `user-${i}` && e.type === type),
        `${type} of user-${i} is listed as soon as its 2xx came back: ${listed.text}`,
      );
    }
  }
  // Its effects follow from the stored events: the five sessions are metered, once each.
  await waitFor('the sessions are recorded', async () => {
    const u = await api(w, 'GET', `/v1/rtc/usage`, { key: b.key });
    return u.status === 200 && u.json.totals.sessions === 5;
  }, 30_000);
});
