// The token hot path on the real Worker (workerd under `wrangler dev`, local D1): registry rows
// of new LiveKit and ZEGO identities are written after the response through ctx.waitUntil, an
// Agora identity's row (and uid) is in D1 before its token is answered, and repeats keep the uid.
// The registry is read straight from the Worker's local D1 file (Python's sqlite3), so what is
// checked is what D1 holds, not what the Worker says.
//
// Run: node --test --test-concurrency=1 tests/e2e/hot_path.test.mjs   (after `bash scripts/build.sh`)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

import { startWorker, api as rawApi, adminSetup, randomToken, d1File } from './support/harness.mjs';
import { startVendorStandins, vendorVars, assertNoViolations } from './support/fixtures.mjs';

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

/** Polls until the row exists (background work has no completion signal to wait on). */
async function eventualRow(room, identity) {
  for (let i = 0; i < 100; i++) {
    const row = registryRow(room, identity);
    if (row) return row;
    await sleep(200);
  }
  return null;
}

test('a new LiveKit or ZEGO identity is answered at once and its registry row is written after the response', async () => {
  for (const vendor of ['livekit', 'zego']) {
    const identity = `late-${vendor}-${randomToken(4).replace(/[^A-Za-z0-9]/g, 'x')}`;
    const r = await issue({ room: rooms[vendor], identity, display_name: 'Late Writer' });
    assert.equal(r.status, 200, r.text);
    const row = await eventualRow(rooms[vendor], identity);
    assert.ok(row, `${vendor}: the deferred registry write landed in D1`);
    assert.equal(row.display_name, 'Late Writer');
    assert.ok(row.uid >= 1, JSON.stringify(row));
  }
  assertNoViolations(vendors);
});

test('a new Agora identity has its uid in D1 before the token is answered; repeats keep it', async () => {
  const r = await issue({ room: rooms.agora, identity: 'agora-first' });
  assert.equal(r.status, 200, r.text);
  const row = registryRow(rooms.agora, 'agora-first');
  assert.ok(row, 'written before the response');
  assert.equal(r.json.join.uid, row.uid);
  for (let i = 0; i < 3; i++) {
    const again = await issue({ room: rooms.agora, identity: 'agora-first' });
    assert.equal(again.json.join.uid, row.uid);
  }
  const other = await issue({ room: rooms.agora, identity: 'agora-second' });
  assert.notEqual(other.json.join.uid, row.uid);
  assert.equal(registryRow(rooms.agora, 'agora-second').uid, other.json.join.uid);
});

test('many new identities at once: every registry row is written (batched after the responses)', async () => {
  const ids = Array.from({ length: 40 }, (_, i) => `burst-${i}`);
  const answers = await Promise.all(ids.map((identity) => issue({ room: rooms.zego, identity })));
  assert.deepEqual(answers.map((a) => a.status), ids.map(() => 200));
  for (const identity of ids) assert.ok(await eventualRow(rooms.zego, identity), identity);
  const uids = ids.map((identity) => registryRow(rooms.zego, identity).uid);
  assert.equal(new Set(uids).size, ids.length, 'each identity got its own uid');
});
