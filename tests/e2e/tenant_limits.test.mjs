// Limits a tenant can see, against the real Worker (workerd under `wrangler dev`, local D1/KV and
// the Rate Limiting binding as wrangler dev runs it), part of the hostile-tenant suite:
//  - `limits-rate`: a per-key rate limit of 5 requests per 60 s (its own `[ratelimits.simple]`
//    and RATE_LIMIT_* vars, see harness `rateLimit`): one key is answered 429 RATE_LIMITED with
//    Retry-After while another key of the same project and a key of another project are served.
//    The binding's verdict is never awaited: the request it says no to is served, and that no,
//    brought back by the key's next count, refuses the next request: the first 429 comes one
//    request later than the binding's first no, never more;
//  - `limits-quota`: the default rate limit and quotas of 2 live rooms, 1 webhook endpoint,
//    1 recording destination and 1 concurrent recording (QUOTA_* vars): each create past its quota
//    is 422 QUOTA_EXCEEDED naming it, GET /v1/rtc/limits agrees with what exists, and deleting
//    frees the place.
//
// Run: node --test --test-concurrency=1 tests/e2e/tenant_limits.test.mjs   (after `bash scripts/build.sh`)

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startWorker, api, adminSetup, randomToken } from './support/harness.mjs';
import { startVendorStandins, vendorVars, assertNoViolations } from './support/fixtures.mjs';

const ADMIN = randomToken();
const ENCRYPTION_KEY = '7b1e4d2c3a5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9';
const RATE = { requests: 5, period: 60 };
const QUOTAS = { QUOTA_LIVE_ROOMS: 2, QUOTA_WEBHOOKS: 1, QUOTA_RECORDING_DESTINATIONS: 1, QUOTA_CONCURRENT_RECORDINGS: 1 };

let vendors;
let rate; // the Worker with a small rate limit
let quota; // the Worker with small quotas

before(async () => {
  vendors = await startVendorStandins();
  [rate, quota] = await Promise.all([
    startWorker({ name: 'limits-rate', rateLimit: RATE, vars: { ADMIN_TOKEN: ADMIN, ...vendorVars({ zego: vendors.zego }) } }),
    startWorker({
      name: 'limits-quota',
      vars: {
        ADMIN_TOKEN: ADMIN,
        RTC_VENDOR_ORDER: 'livekit',
        ...vendorVars(vendors),
        RECORDING_DEFAULT_URI: 's3://media-default/auto/',
        RECORDING_S3_ACCESS_KEY: 'AKIAE2ELIMITSACCESS',
        RECORDING_S3_SECRET: 'limits-e2e-SECRET-1a2b3c',
        RECORDING_S3_REGION: 'eu-west-1',
        RTCGATE_ENCRYPTION_KEY: ENCRYPTION_KEY,
        ...QUOTAS,
      },
    }),
  ]);
});

after(async () => {
  await Promise.all([rate?.stop(), quota?.stop()]);
  await vendors?.close();
});

/** A second key of `projectId` on worker `w`. */
async function anotherKey(w, projectId) {
  const k = await api(w, 'POST', `/v1/admin/projects/${encodeURIComponent(projectId)}/keys`, { key: ADMIN, body: { label: 'second' } });
  assert.equal(k.status, 201, k.text);
  return k.json.secret;
}

async function limits(w, key) {
  const r = await api(w, 'GET', '/v1/rtc/limits', { key });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

function assertQuotaExceeded(r, name, limit) {
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.error.code, 'QUOTA_EXCEEDED', r.text);
  assert.equal(r.json.error.quota, name);
  assert.equal(r.json.error.limit, limit);
  assert.match(r.json.error.request_id, /\S/);
}

describe('per-key rate limit (Rate Limiting binding)', () => {
  test('one key over its limit gets 429 RATE_LIMITED with Retry-After; other keys and projects are served', async () => {
    const a = await adminSetup(rate, { projectName: 'limits-a' });
    const sibling = await anotherKey(rate, a.projectId);
    const b = await adminSetup(rate, { projectName: 'limits-b' });

    // Sequential requests: at most two windows pass in that time, so at most 2 × 5 are served
    // before the binding's first no, and never fewer than 5. The request over the limit is served
    // (its verdict is not awaited); the first 429 is the request after it.
    let served = 0;
    let limited;
    for (let i = 0; i < 2 * RATE.requests + 2 && !limited; i++) {
      const r = await api(rate, 'GET', '/v1/rtc/room/list', { key: a.key });
      if (r.status === 429) limited = r;
      else {
        assert.equal(r.status, 200, r.text);
        served += 1;
      }
    }
    assert.ok(limited, `no 429 after ${served} requests with one key`);
    assert.ok(served >= RATE.requests + 1, `limited after only ${served} requests`);
    assert.equal(limited.json.error.code, 'RATE_LIMITED', limited.text);
    // What is left of the block (one period from the binding's no, a moment ago).
    const retryAfter = Number(limited.headers.get('retry-after'));
    assert.ok(retryAfter >= RATE.period - 5 && retryAfter <= RATE.period, `Retry-After ${retryAfter}`);
    assert.equal(limited.json.error.requests, RATE.requests);
    assert.equal(limited.json.error.period_s, RATE.period);
    assert.equal(limited.headers.get('x-request-id'), limited.json.error.request_id);

    // The limited key stays limited (the token route too): the isolate blocks it for a whole
    // period from the binding's no, whatever the binding's window does meanwhile.
    const token = await api(rate, 'POST', '/v1/rtc/token/issue', { key: a.key, body: { room: 'r', identity: 'x' } });
    assert.equal(token.status, 429, token.text);
    assert.equal(token.json.error.code, 'RATE_LIMITED', token.text);
    for (const k of [sibling, b.key]) {
      const r = await api(rate, 'GET', '/v1/rtc/room/list', { key: k });
      assert.equal(r.status, 200, r.text);
    }
    // The limits route reports the binding's numbers.
    assert.deepEqual((await limits(rate, b.key)).rate_limit, { requests: RATE.requests, period_s: RATE.period });
    // Routes without an API key are not limited.
    for (let i = 0; i < RATE.requests + 1; i++) {
      const h = await api(rate, 'GET', '/v1/health');
      assert.equal(h.status, 200, h.text);
    }
  });
});

describe('per-project quotas', () => {
  let key;
  let other;
  before(async () => {
    [{ key }, { key: other }] = await Promise.all([
      adminSetup(quota, { projectName: 'quota-a' }),
      adminSetup(quota, { projectName: 'quota-b' }),
    ]);
  });

  test('GET /v1/rtc/limits reports the configured limits and nothing used', async () => {
    assert.deepEqual(await limits(quota, other), {
      rate_limit: { requests: 3000, period_s: 10 },
      quotas: {
        live_rooms: { limit: 2, used: 0 },
        webhooks: { limit: 1, used: 0 },
        recording_destinations: { limit: 1, used: 0 },
        concurrent_recordings: { limit: 1, used: 0 },
        bans: { limit: 10000, used: 0 },
        moderated_participants: { limit: 10000, used: 0 },
        streams: { limit: 10, used: 0 },
      },
    });
  });

  test('live rooms: room.create and token.issue for a new room stop at the quota; delete frees it', async () => {
    const created = [];
    for (const name of ['one', 'two']) {
      const r = await api(quota, 'POST', '/v1/rtc/room/create', { key, body: { name } });
      assert.equal(r.status, 201, r.text);
      created.push(r.json.room);
    }
    assert.deepEqual((await limits(quota, key)).quotas.live_rooms, { limit: 2, used: 2 });
    assertQuotaExceeded(await api(quota, 'POST', '/v1/rtc/room/create', { key, body: { name: 'three' } }), 'live_rooms', 2);
    assertQuotaExceeded(
      await api(quota, 'POST', '/v1/rtc/token/issue', { key, body: { room: 'three', identity: 'alice' } }),
      'live_rooms',
      2,
    );
    // A token for an existing room is served; another project has its own quota.
    const t = await api(quota, 'POST', '/v1/rtc/token/issue', { key, body: { room: 'one', identity: 'alice' } });
    assert.equal(t.status, 200, t.text);
    const o = await api(quota, 'POST', '/v1/rtc/room/create', { key: other, body: { name: 'three' } });
    assert.equal(o.status, 201, o.text);

    const del = await api(quota, 'DELETE', `/v1/rtc/room/delete/${created[1]}`, { key });
    assert.equal(del.status, 200, del.text);
    assert.deepEqual((await limits(quota, key)).quotas.live_rooms, { limit: 2, used: 1 });
    const again = await api(quota, 'POST', '/v1/rtc/token/issue', { key, body: { room: 'three', identity: 'alice' } });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.json.room_created, true);
    assert.deepEqual((await limits(quota, key)).quotas.live_rooms, { limit: 2, used: 2 });
  });

  test('webhook endpoints stop at the quota; delete frees it', async () => {
    const first = await api(quota, 'POST', '/v1/rtc/webhook/create', { key, body: { url: 'https://hooks.example.com/a' } });
    assert.equal(first.status, 201, first.text);
    assertQuotaExceeded(
      await api(quota, 'POST', '/v1/rtc/webhook/create', { key, body: { url: 'https://hooks.example.com/b' } }),
      'webhooks',
      1,
    );
    assert.deepEqual((await limits(quota, key)).quotas.webhooks, { limit: 1, used: 1 });
    const del = await api(quota, 'DELETE', `/v1/rtc/webhook/delete/${first.json.webhook}`, { key });
    assert.equal(del.status, 200, del.text);
    assert.deepEqual((await limits(quota, key)).quotas.webhooks, { limit: 1, used: 0 });
  });

  test('recording destinations stop at the quota; delete frees it', async () => {
    const body = (bucket) => ({
      uri: `s3://${bucket}/calls`,
      credentials: { access_key: 'AKIAE2ELIMITSOWN', secret: 'limits-own-SECRET-9z8y', region: 'us-east-2' },
    });
    const first = await api(quota, 'POST', '/v1/rtc/recording/destination/create', { key, body: body('own-bucket-one') });
    assert.equal(first.status, 201, first.text);
    assertQuotaExceeded(
      await api(quota, 'POST', '/v1/rtc/recording/destination/create', { key, body: body('own-bucket-two') }),
      'recording_destinations',
      1,
    );
    assert.deepEqual((await limits(quota, key)).quotas.recording_destinations, { limit: 1, used: 1 });
    const del = await api(quota, 'DELETE', `/v1/rtc/recording/destination/delete/${first.json.destination}`, { key });
    assert.equal(del.status, 200, del.text);
    assert.deepEqual((await limits(quota, key)).quotas.recording_destinations, { limit: 1, used: 0 });
  });

  test('concurrent recordings stop at the quota before any vendor call; a stopped one frees it', async () => {
    const { key: k } = await adminSetup(quota, { projectName: 'quota-rec' });
    const rooms = [];
    for (const name of ['rec-a', 'rec-b']) {
      const r = await api(quota, 'POST', '/v1/rtc/room/create', { key: k, body: { name, vendor: 'livekit' } });
      assert.equal(r.status, 201, r.text);
      rooms.push(r.json.room);
    }
    const first = await api(quota, 'POST', '/v1/rtc/recording/start', { key: k, body: { room: rooms[0] } });
    assert.equal(first.status, 201, first.text);
    assert.deepEqual((await limits(quota, k)).quotas.concurrent_recordings, { limit: 1, used: 1 });
    const egresses = vendors.livekit.callsTo('StartRoomCompositeEgress').length;
    assertQuotaExceeded(
      await api(quota, 'POST', '/v1/rtc/recording/start', { key: k, body: { room: rooms[1] } }),
      'concurrent_recordings',
      1,
    );
    assert.equal(vendors.livekit.callsTo('StartRoomCompositeEgress').length, egresses, 'no egress for a refused start');

    const stop = await api(quota, 'POST', `/v1/rtc/recording/stop/${first.json.recording}`, { key: k, body: {} });
    assert.equal(stop.status, 200, stop.text);
    assert.deepEqual((await limits(quota, k)).quotas.concurrent_recordings, { limit: 1, used: 0 });
    const second = await api(quota, 'POST', '/v1/rtc/recording/start', { key: k, body: { room: rooms[1] } });
    assert.equal(second.status, 201, second.text);
    assertNoViolations(vendors);
  });
});
