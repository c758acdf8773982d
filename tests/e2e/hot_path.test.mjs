// The token hot path on the real Worker (workerd under `wrangler dev`, local D1): registry rows
// of new identities, on every vendor, are written after the response through ctx.waitUntil; an
// Agora identity's uid comes from a block of the room's uids the isolate reserved (the one D1
// write before an answer, once per block), and repeats keep the uid.
// The registry is read straight from the Worker's local D1 file (Python's sqlite3), so what is
// checked is what D1 holds, not what the Worker says. To see what the Worker does with D1 from
// outside, the tests put triggers into that database (`wrangler d1 execute`): one that refuses
// chosen rows (an answer that does not depend on the write is given all the same; one that does
// fails), one that notes the SQLite step each row was written in (rows written by one statement
// share it, so the steps bound the number of D1 writes from below).
// That no D1 round trip at all precedes the answer, and how many calls a window makes, are counted
// natively where the runtime counts every call (tests/round_trips.rs:
// a_new_identity_on_livekit_or_zego_waits_for_no_round_trip_and_is_written_after_the_response,
// new_identities_arriving_together_share_one_write_and_get_distinct_uids, and the Agora block
// budgets).
//
// Run: node --test --test-concurrency=1 tests/e2e/hot_path.test.mjs   (after `bash scripts/build.sh`)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

import { startWorker, api as rawApi, adminSetup, randomToken, d1File, d1Execute } from './support/harness.mjs';
import { startVendorStandins, vendorVars, assertNoViolations } from './support/fixtures.mjs';
import { waitFor } from './support/wait.mjs';

let vendors;
let w;
let key;
const rooms = {};

before(async () => {
  vendors = await startVendorStandins();
  w = await startWorker({ name: 'hot-path', vars: { ADMIN_TOKEN: randomToken(), ...vendorVars(vendors) } });
  ({ key } = await adminSetup(w, { adminToken: w.vars.ADMIN_TOKEN }));
  for (const vendor of ['livekit', 'agora', 'zego']) {
    const r = await api('POST', '/v1/rtc/room/create', { body: { name: `hot-${vendor}`, vendor } });
    assert.equal(r.status, 201, r.text);
    rooms[vendor] = r.json.room;
  }
});

after(async () => {
  await w?.stop();
  await vendors?.close();
});

const api = (method, p, opts = {}) => rawApi(w, method, p, { key, ...opts });
const issue = (body) => api('POST', '/v1/rtc/token/issue', { body });

/** The registry row of (room, identity) as D1 holds it, or null. */
function registryRow(room, identity) {
  const script = [
    'import json, sqlite3, sys',
    'db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)',
    'row = db.execute("SELECT uid, display_name FROM participants WHERE room_id = ? AND identity = ?", (sys.argv[2], sys.argv[3])).fetchone()',
    'print(json.dumps(row and {"uid": row[0], "display_name": row[1]}))',
  ].join('\n');
  return JSON.parse(execFileSync('python3', ['-c', script, d1File(w), room, identity], { encoding: 'utf8' }));
}

/** The Worker's log lines about registry writes that failed and named `roomSlashIdentity`. */
function refusedWrites(roomSlashIdentity) {
  return w.logs().split('\n').filter((line) => line.includes('participant registry write failed') && line.includes(roomSlashIdentity));
}

/** Polls until the row exists (background work has no completion signal to wait on). */
async function eventualRow(room, identity) {
  for (let i = 0; i < 100; i++) {
    const row = registryRow(room, identity);
    if (row) return row;
    await sleep(200);
  }
  return null;
}

test('a new identity is answered on every vendor while D1 refuses its registry row, which lands once D1 takes it', async () => {
  // The Agora room's isolate holds a block of uids first (its first token reserves one).
  const first = await issue({ room: rooms.agora, identity: 'agora-warmup' });
  assert.equal(first.status, 200, first.text);
  // D1 refuses the rows of identities named held-…, until the trigger is dropped.
  await d1Execute(w, "CREATE TRIGGER held_rows BEFORE INSERT ON participants WHEN NEW.identity LIKE 'held-%' BEGIN SELECT RAISE(ABORT, 'held by the test'); END");
  try {
    for (const vendor of ['livekit', 'agora', 'zego']) {
      const identity = `held-${vendor}`;
      const r = await issue({ room: rooms[vendor], identity, display_name: 'Late Writer' });
      assert.equal(r.status, 200, `${vendor}: answered whatever becomes of the write: ${r.text}`);
      // The write was made after that answer, and refused; its flush retries, then gives up
      // (the row stays queued), so the next vendor's row starts a flush of its own.
      const refused = () => refusedWrites(`${rooms[vendor]}/${identity}`);
      await waitFor(`${vendor}: the refused deferred write in the log`, () => refused().length > 0);
      assert.equal(registryRow(rooms[vendor], identity), null);
      await waitFor(`${vendor}: its flush gave up`, () => refused().some((line) => line.includes('(attempt 4 of 4)')));
    }
  } finally {
    await d1Execute(w, 'DROP TRIGGER held_rows');
  }
  for (const vendor of ['livekit', 'agora', 'zego']) {
    // Kept queued: the next new identity's flush writes it too.
    const next = await issue({ room: rooms[vendor], identity: `after-held-${vendor}` });
    assert.equal(next.status, 200, next.text);
    const row = await eventualRow(rooms[vendor], `held-${vendor}`);
    assert.ok(row, `${vendor}: the deferred registry write landed in D1`);
    assert.equal(row.display_name, 'Late Writer');
    assert.ok(row.uid >= 1, JSON.stringify(row));
    assert.ok(await eventualRow(rooms[vendor], `after-held-${vendor}`), vendor);
  }
  assertNoViolations(vendors);
});

test('a new Agora identity: its uid lands in D1 after the answer, repeats keep it, the next identity gets another', async () => {
  const r = await issue({ room: rooms.agora, identity: 'agora-first' });
  assert.equal(r.status, 200, r.text);
  const row = await eventualRow(rooms.agora, 'agora-first');
  assert.ok(row, 'written after the response');
  assert.equal(r.json.join.uid, row.uid);
  for (let i = 0; i < 3; i++) {
    const again = await issue({ room: rooms.agora, identity: 'agora-first' });
    assert.equal(again.json.join.uid, row.uid);
  }
  const other = await issue({ room: rooms.agora, identity: 'agora-second' });
  assert.notEqual(other.json.join.uid, row.uid);
  assert.equal((await eventualRow(rooms.agora, 'agora-second')).uid, other.json.join.uid);
});

test('the one write an Agora answer waits for: the block reservation of a room this isolate holds no uids of', async () => {
  const room = await api('POST', '/v1/rtc/room/create', { body: { name: 'hot-agora-blocked', vendor: 'agora' } });
  assert.equal(room.status, 201, room.text);
  // D1 refuses the room's block counter: its first token cannot get a uid, so it is not answered 200.
  await d1Execute(w, `CREATE TRIGGER held_block BEFORE INSERT ON agora_uid_blocks WHEN NEW.room_id = '${room.json.room}' BEGIN SELECT RAISE(ABORT, 'held by the test'); END`);
  try {
    const refused = await issue({ room: room.json.room, identity: 'blocked' });
    assert.ok(refused.status >= 500, `no uid without a block: ${refused.status} ${refused.text}`);
    assert.ok(refused.json?.error?.code, `an error envelope: ${refused.text}`);
  } finally {
    await d1Execute(w, 'DROP TRIGGER held_block');
  }
  const r = await issue({ room: room.json.room, identity: 'blocked' });
  assert.equal(r.status, 200, r.text);
  assert.ok(r.json.join.uid >= 1, r.text);
});

test('many new identities at once: every registry row is written, by far fewer D1 writes than rows', async (t) => {
  // Each burst row notes the SQLite step that wrote it: one statement's rows share its step's
  // time ('now' is fixed within a step), so the distinct times are at most the writes made.
  await d1Execute(w, [
    'CREATE TABLE burst_steps (identity TEXT, at TEXT)',
    "CREATE TRIGGER burst_step AFTER INSERT ON participants WHEN NEW.identity LIKE 'burst-%' " +
      "BEGIN INSERT INTO burst_steps VALUES (NEW.identity, strftime('%Y-%m-%d %H:%M:%f', 'now')); END",
  ].join('; '));
  const ids = Array.from({ length: 40 }, (_, i) => `burst-${i}`);
  const answers = await Promise.all(ids.map((identity) => issue({ room: rooms.zego, identity })));
  assert.deepEqual(answers.map((a) => a.status), ids.map(() => 200));
  for (const identity of ids) assert.ok(await eventualRow(rooms.zego, identity), identity);
  const uids = ids.map((identity) => registryRow(rooms.zego, identity).uid);
  assert.equal(new Set(uids).size, ids.length, 'each identity got its own uid');
  const steps = JSON.parse(execFileSync('python3', ['-c', [
    'import json, sqlite3, sys',
    'db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)',
    'print(json.dumps(db.execute("SELECT COUNT(*), COUNT(DISTINCT at) FROM burst_steps").fetchone()))',
  ].join('\n'), d1File(w)], { encoding: 'utf8' }));
  assert.equal(steps[0], ids.length, 'every row noted once');
  t.diagnostic(`${ids.length} rows written in ${steps[1]} SQLite steps`);
  // Written one by one, 40 rows would take about as many steps; coalesced, a handful of windows.
  assert.ok(steps[1] <= ids.length / 4, `${steps[1]} D1 writes or more for ${ids.length} rows`);
  await d1Execute(w, 'DROP TRIGGER burst_step; DROP TABLE burst_steps');
});
