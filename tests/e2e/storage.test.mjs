// Storage failures on the real Worker (workerd under `wrangler dev`, local D1): while another
// connection holds the local D1 database's write lock (Python's sqlite3, `BEGIN EXCLUSIVE` on
// the Worker's own database file), a write is refused by SQLite as busy, and the Worker answers
// `503 STORAGE_UNAVAILABLE` with `Retry-After: 1`, logging the database's report once with the
// request id. Once the lock is released the same request succeeds. Which reports count as
// transient is checked natively (tests/error_rendering.rs).
//
// Run: node --test --test-concurrency=1 tests/e2e/storage.test.mjs   (after `bash scripts/build.sh`)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

import { startWorker, api as rawApi, randomToken, d1File } from './support/harness.mjs';

let w;

before(async () => {
  w = await startWorker({ name: 'storage', vars: { ADMIN_TOKEN: randomToken() } });
});

after(async () => {
  await w?.stop();
});

// The admin API's project create: one D1 insert, and no D1 read before it (the admin token is
// a var), so the refused statement is that write.
const createProject = (name, headers = {}) =>
  rawApi(w, 'POST', '/v1/admin/projects', { key: w.vars.ADMIN_TOKEN, body: { name }, headers });

/** Holds the database's write lock from another connection until `release()` is called. */
async function holdWriteLock(file) {
  const script = [
    'import sqlite3, sys',
    'db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)',
    'db.execute("BEGIN EXCLUSIVE")',
    'print("locked", flush=True)',
    'sys.stdin.readline()',
    'db.execute("ROLLBACK")',
  ].join('\n');
  const child = spawn('python3', ['-c', script, file], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = await once(child.stdout, 'data');
  assert.equal(String(line).trim(), 'locked');
  return async () => {
    child.stdin.end('\n');
    await once(child, 'exit');
  };
}

test('a write refused while another connection holds the lock is 503 STORAGE_UNAVAILABLE with Retry-After: 1', async () => {
  assert.equal((await createProject('before-the-lock')).status, 201);
  const release = await holdWriteLock(d1File(w));
  let refused;
  try {
    refused = await createProject('locked-out-project', { 'x-request-id': 'req-storage-busy' });
  } finally {
    await release();
  }
  assert.equal(refused.status, 503, refused.text);
  assert.equal(refused.json.error.code, 'STORAGE_UNAVAILABLE');
  assert.equal(refused.headers.get('retry-after'), '1');
  assert.equal(refused.json.error.request_id, 'req-storage-busy');
  assert.ok(!/SQLITE|locked/i.test(refused.text), `the database's report reached the client: ${refused.text}`);
  // The Worker's output reaches the harness a moment after the response.
  const logged = () => w.logs().split('\n').filter((l) => l.includes('request req-storage-busy:'));
  for (let i = 0; i < 50 && logged().length === 0; i++) await sleep(100);
  const lines = logged();
  assert.equal(lines.length, 1, `logged once:\n${lines.join('\n')}\n${w.logs().slice(-3000)}`);
  assert.match(lines[0], /503 STORAGE_UNAVAILABLE: database: Unavailable\(/);
  assert.ok(!lines[0].includes('locked-out-project'), `no bound parameter in the log: ${lines[0]}`);

  // Released: the same request goes through.
  const again = await createProject('locked-out-project');
  assert.equal(again.status, 201, again.text);
});
