// Retention and reconciliation on the real Worker (workerd under `wrangler dev --test-scheduled`,
// local D1): the Cron Trigger's handler, fired through wrangler's `/__scheduled` route, deletes
// events, webhook deliveries, finished sessions and idempotency records past their windows and
// keeps newer ones; it closes the open session of a participant the vendor (the Agora stand-in)
// no longer lists, at the last time a run saw them, and closes nothing while the vendor fails.
// Also: Agora Cloud Recording notices (signed NCS, naming the task by its bare sid) move the
// recording's status.
//
// Old rows are written into the Worker's local D1 with `wrangler d1 execute --local` (no request
// can make a row 40 days old); rows are read back from the same file (Python's sqlite3, read only).
//
// Run: node --test --test-concurrency=1 tests/e2e/tenant_retention.test.mjs   (after `bash scripts/build.sh`)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { startWorker, api, adminSetup, randomToken, d1File, d1Execute, scheduled, agoraUidRecorded } from './support/harness.mjs';
import { startVendorStandins, vendorVars, assertNoViolations } from './support/fixtures.mjs';
import { waitFor } from './support/wait.mjs';

const ADMIN = randomToken();
const NCS_SECRET = `ncs-${randomToken(8)}`;
const S3 = { accessKey: 'AKIAE2ERETENTION', secret: 's3-e2e-retention-SECRET-7a1b', region: 'eu-west-1' };
const DAY_MS = 24 * 3600 * 1000;

let vendors;
let w;
let a; // the project

before(async () => {
  vendors = await startVendorStandins();
  w = await startWorker({
    name: 'retention',
    testScheduled: true,
    vars: {
      ADMIN_TOKEN: ADMIN,
      RTC_VENDOR_ORDER: 'agora,zego,livekit',
      ...vendorVars(vendors),
      AGORA_NCS_SECRET: NCS_SECRET,
      RECORDING_S3_ACCESS_KEY: S3.accessKey,
      RECORDING_S3_SECRET: S3.secret,
      RECORDING_S3_REGION: S3.region,
      RECORDING_SHARED_BUCKETS: 'media',
    },
  });
  a = await adminSetup(w, { projectName: 'retention' });
});

after(async () => {
  await w?.stop();
  await vendors?.close();
});

/**
 * Rows of the Worker's D1 for `sql` (read only), each column as JSON gives it. Asynchronously:
 * a blocked event loop misses the Worker closing idle keep-alive connections, and the next
 * request would go out on a dead socket.
 */
async function rows(sql) {
  const script = [
    'import json, sqlite3, sys',
    'db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)',
    'db.row_factory = sqlite3.Row',
    'print(json.dumps([{k: r[k] for k in r.keys()} for r in db.execute(sys.argv[2])]))',
  ].join('\n');
  const { stdout } = await promisify(execFile)('python3', ['-c', script, d1File(w), sql], { encoding: 'utf8' });
  return JSON.parse(stdout);
}


async function runScheduled() {
  const r = await scheduled(w);
  assert.equal(r.status, 200, r.text);
}

/** A signed Agora Notifications delivery. */
async function postAgora(notice) {
  const body = JSON.stringify(notice);
  const sig = crypto.createHmac('sha256', NCS_SECRET).update(body).digest('hex');
  const r = await api(w, 'POST', '/v1/vendor-events/agora', { rawBody: body, headers: { 'content-type': 'application/json', 'Agora-Signature-V2': sig } });
  assert.equal(r.status, 200, r.text);
}

test('the scheduled handler deletes rows past their windows and keeps newer ones', async () => {
  const now = Date.now();
  const old = now - 40 * DAY_MS; // past RETENTION_DAYS (30) and the idempotency window (48 h)
  const ancient = now - 401 * DAY_MS; // past SESSION_RETENTION_DAYS (400)
  const recent = now - 3600 * 1000;
  const p = a.projectId;
  const values = (tag, at) => [
    `INSERT INTO events (id, project_id, room_id, vendor, vendor_room, dedupe_key, type, seq, occurred_at_ms, received_at_ms, data)
       VALUES ('evt_${tag}', '${p}', 'rm_ret', 'agora', 'rm_ret', 'd_${tag}', 'room.started', ${at}, ${at}, ${at}, '{}')`,
    `INSERT INTO webhook_deliveries (id, webhook_id, event_id, attempts, state, created_at_ms, updated_at_ms)
       VALUES ('dlv_${tag}', 'wh_ret', 'evt_${tag}', 1, 'delivered', ${at}, ${at})`,
    `INSERT INTO participant_sessions (room_id, session_key, project_id, identity, joined_at_ms, left_at_ms, seconds)
       VALUES ('rm_ret', 's_${tag}', '${p}', 'alice', ${at - 60_000}, ${at}, 60)`,
    // Of a project that makes no idempotent request any more: nothing but the scheduled job
    // purges its expired records (an idempotent request purges its own project's).
    `INSERT INTO idempotency (project_id, scope, key, request_hash, state, created_at_ms)
       VALUES ('prj_idle', 'room.create', 'k_${tag}', 'h', 'done', ${at})`,
  ];
  await d1Execute(w, [...values('recent', recent), ...values('old', old), ...values('ancient', ancient)].join(';\n'));
  // And rows made by requests now: an idempotent room create and a vendor event.
  const created = await api(w, 'POST', '/v1/rtc/room/create', { key: a.key, body: { name: `kept-${randomToken(4)}`, idempotency_key: `k-${randomToken(6)}` } });
  assert.equal(created.status, 201, created.text);
  await postAgora({ noticeId: `n-${randomToken(6)}`, productId: 1, eventType: 101, notifyMs: now, payload: { channelName: created.json.room, ts: Math.floor(now / 1000) } });
  await waitFor('the new event', async () => (await api(w, 'GET', `/v1/rtc/event/list?room=${created.json.room}`, { key: a.key })).json.items.length === 1);

  const count = async (table, col, value) => (await rows(`SELECT COUNT(*) AS n FROM ${table} WHERE ${col} = '${value}'`))[0].n;
  const kinds = (tag) =>
    Promise.all([
      count('events', 'id', `evt_${tag}`),
      count('webhook_deliveries', 'id', `dlv_${tag}`),
      count('participant_sessions', 'session_key', `s_${tag}`),
      count('idempotency', 'key', `k_${tag}`),
    ]);
  assert.deepEqual([await kinds('recent'), await kinds('old'), await kinds('ancient')], [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]]);

  await runScheduled();
  // events, deliveries, finished sessions, idempotency records
  assert.deepEqual(await kinds('recent'), [1, 1, 1, 1], 'rows inside their windows are kept');
  assert.deepEqual(await kinds('old'), [0, 0, 1, 0], 'past 30 days: events and deliveries go, sessions stay (400 days)');
  assert.deepEqual(await kinds('ancient'), [0, 0, 0, 0]);
  // What requests made just now is untouched.
  assert.equal((await rows(`SELECT COUNT(*) AS n FROM idempotency WHERE project_id = '${p}' AND key LIKE 'k-%'`))[0].n, 1);
  const listed = await api(w, 'GET', `/v1/rtc/event/list?room=${created.json.room}`, { key: a.key });
  assert.equal(listed.json.items.length, 1);
  // The run reported itself in the Worker's log.
  await waitFor('the run summary in the log', () => /scheduled: \d+ event effects redone \(\d+ failed again\); \d+ stream layouts checked, \d+ sent \(\d+ failed\); \d+ rooms reconciled.*deleted webhook_deliveries=2 events=2 participant_sessions=1 idempotency=2/.test(w.logs()));
  assertNoViolations(vendors);
});

test('reconciliation closes the session of a participant the vendor no longer lists, never on a vendor error', async () => {
  const ag = vendors.agora;
  const room = (await api(w, 'POST', '/v1/rtc/room/create', { key: a.key, body: { name: `rec-${randomToken(4)}`, vendor: 'agora' } })).json.room;
  const member = async (identity) => {
    const t = await api(w, 'POST', '/v1/rtc/token/issue', { key: a.key, body: { room, identity } });
    assert.equal(t.status, 200, t.text);
    // The join notices below name the uid: wait for the row that maps it to the identity.
    await agoraUidRecorded(w, room, t.json.join.uid);
    return t.json.join.uid;
  };
  const dana = await member('dana');
  const eve = await member('eve');
  // Both joined ten minutes ago (by their join notices); neither leave notice will ever come.
  const joinedS = Math.floor(Date.now() / 1000) - 600;
  for (const uid of [dana, eve]) {
    ag.seedUser(room, uid);
    await postAgora({ noticeId: `n-${randomToken(6)}`, productId: 1, eventType: 103, notifyMs: Date.now(), payload: { channelName: room, uid, platform: 7, clientSeq: 1, ts: joinedS } });
  }
  const sessions = () => rows(`SELECT identity, joined_at_ms, left_at_ms, seconds, seen_at_ms FROM participant_sessions WHERE room_id = '${room}' ORDER BY identity`);
  await waitFor('both sessions', async () => (await sessions()).length === 2);
  const usage = async () => (await api(w, 'GET', `/v1/rtc/usage?room=${room}`, { key: a.key })).json.totals;
  assert.deepEqual(await usage(), { sessions: 0, participant_seconds: 0, participant_minutes: 0 }, 'open sessions are not counted');

  // Run 1: both listed — seen, nothing closed.
  await runScheduled();
  const [danaSeen, eveSeen] = await sessions();
  assert.ok(danaSeen.seen_at_ms >= joinedS * 1000 + 600_000 - 5_000, JSON.stringify(danaSeen));
  assert.equal(danaSeen.left_at_ms, null);
  assert.equal(eveSeen.left_at_ms, null);

  // Both leave the channel without a notice; Agora's user list then fails for a run.
  ag.dropUser(room, dana);
  ag.dropUser(room, eve);
  ag.failAll({ match: 'QueryUserList', status: 503 });
  await runScheduled();
  assert.ok(ag.callsTo('QueryUserList').length > 0);
  assert.deepEqual((await sessions()).map((s) => s.left_at_ms), [null, null], 'nothing is closed on a vendor error');

  // The vendor answers again: both are closed at the time run 1 saw them.
  ag.clearFaults();
  await runScheduled();
  const closed = await sessions();
  assert.deepEqual(closed.map((s) => s.left_at_ms), [danaSeen.seen_at_ms, eveSeen.seen_at_ms]);
  for (const s of closed) assert.equal(s.seconds, Math.ceil((s.left_at_ms - s.joined_at_ms) / 1000));
  const totals = await usage();
  assert.equal(totals.sessions, 2);
  assert.equal(totals.participant_seconds, closed[0].seconds + closed[1].seconds);
  assert.ok(totals.participant_seconds >= 1200, JSON.stringify(totals));
  assertNoViolations(vendors);
});

test('Agora Cloud Recording notices move the recording they name by its sid', async () => {
  const ag = vendors.agora;
  const room = (await api(w, 'POST', '/v1/rtc/room/create', { key: a.key, body: { name: `cr-${randomToken(4)}`, vendor: 'agora' } })).json.room;
  const s = await api(w, 'POST', '/v1/rtc/recording/start', { key: a.key, body: { room, output_uri: `s3://media/${a.projectId}/calls/` } });
  assert.equal(s.status, 201, s.text);
  assert.equal(s.json.status, 'starting');
  const { sid } = ag.recordingOf(room);
  const status = async () => (await api(w, 'GET', `/v1/rtc/recording/list?room=${room}`, { key: a.key })).json.items[0].status;
  const notice = (eventType, details) => ({
    noticeId: `n-${randomToken(6)}`, productId: 3, eventType, notifyMs: Date.now(), sid,
    payload: { cname: room, uid: '1', sid, sequence: 0, sendts: Date.now(), serviceType: 0, details },
  });
  await postAgora(notice(40, { msgName: 'recorder_started' }));
  await waitFor('active', async () => (await status()) === 'active');
  await postAgora(notice(11, { msgName: 'session_exit', exitStatus: 0 }));
  await waitFor('complete', async () => (await status()) === 'complete');
  assertNoViolations(vendors);
});
