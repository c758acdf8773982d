// Agora uids across isolates, end to end: two isolates (two Worker services from this build in
// ONE workerd, each its own isolate, both on the same local D1 database — the launcher in
// tests/e2e/support/workerd.mjs) mint Agora tokens for the same identities in one room against
// the strict Agora stand-in.
//
// - No uid is given to two identities, though each isolate gives uids from its own blocks;
// - an identity the two isolates gave two uids joins with both, and one kick (through either
//   isolate) removes both from the channel; the participant list shows it once.
//
// Run: node --test --test-concurrency=1 --test-timeout=600000 tests/e2e/agora_uids.test.mjs
// (after `bash scripts/setup.sh` and `bash scripts/build.sh`)

import path from 'node:path';
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { ROOT, api, adminSetup } from './support/harness.mjs';
import { startWorkerd } from './support/workerd.mjs';

describe('Agora uids given by two isolates on one database', () => {
  let stack;
  let a;
  let b;
  let agora;
  let tenant;

  before(async () => {
    stack = await startWorkerd({ also: [{ label: 'second isolate', build: path.join(ROOT, 'build') }] });
    a = stack.rtc;
    b = stack.also[0];
    agora = stack.standins.agora;
    tenant = await adminSetup(a);
  });

  after(async () => {
    await stack?.close();
  });

  async function room(name) {
    const r = await api(a, 'POST', '/v1/rtc/room/create', { key: tenant.key, body: { name, vendor: 'agora' } });
    assert.equal(r.status, 201, r.text);
    return r.json.room;
  }

  async function uid(worker, roomId, identity) {
    const r = await api(worker, 'POST', '/v1/rtc/token/issue', { key: tenant.key, body: { room: roomId, identity } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.vendor, 'agora');
    const n = r.json.join.uid;
    assert.ok(Number.isInteger(n) && n >= 1 && n <= 2 ** 32 - 1, `uid ${n} within Agora's range`);
    return n;
  }

  /** Polls `read` until `accept(value)`, for at most `ms`. */
  async function within(ms, read, accept, what) {
    const start = Date.now();
    for (;;) {
      const value = await read();
      if (accept(value)) return value;
      if (Date.now() - start > ms) assert.fail(`${what}: not within ${ms} ms (last: ${JSON.stringify(value)})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  test('the isolates never give one uid to two identities', async () => {
    const roomId = await room('uids-many');
    const given = new Map(); // uid → identity
    const byIsolate = [new Map(), new Map()];
    // More identities than either isolate's first block holds (16), interleaved.
    for (let n = 0; n < 40; n++) {
      const identity = `p${n}`;
      for (const [i, worker] of [a, b].entries()) {
        const u = await uid(worker, roomId, identity);
        const other = given.get(u);
        assert.ok(other === undefined || other === identity, `uid ${u} given to ${other} and ${identity}`);
        given.set(u, identity);
        byIsolate[i].set(identity, u);
      }
    }
    assert.equal(given.size, 80, 'each isolate gave each identity its own uid');
    for (const [i, worker] of [a, b].entries()) {
      for (const identity of ['p0', 'p23', 'p39']) {
        assert.equal(await uid(worker, roomId, identity), byIsolate[i].get(identity), 'an identity keeps its uid in an isolate');
      }
    }
  });

  test('a kick reaches an identity that holds two uids, through either isolate', async () => {
    const roomId = await room('uids-kick');
    const here = await uid(a, roomId, 'alice');
    const there = await uid(b, roomId, 'alice');
    const bob = await uid(b, roomId, 'bob');
    assert.notEqual(here, there, 'two isolates, two uids');
    for (const u of [here, there, bob]) assert.ok(agora.seedUser(roomId, u), `uid ${u} joins`);

    // The registry rows land after the tokens' responses: the list names both of alice's uids
    // as alice (once), and bob.
    const list = () => api(a, 'GET', `/v1/rtc/participant/list/${roomId}`, { key: tenant.key });
    const listed = await within(5_000, list, (r) => r.status === 200 && r.json.items.length === 2 && r.json.items.every((p) => !/^\d+$/.test(p.identity)), 'the registry rows');
    assert.deepEqual(listed.json.items.map((p) => p.identity).sort(), ['alice', 'bob'], listed.text);

    const kick = await api(b, 'POST', `/v1/rtc/participant/kick/${roomId}`, { key: tenant.key, body: { identity: 'alice' } });
    assert.equal(kick.status, 200, kick.text);
    assert.deepEqual(agora.usersIn(roomId), [bob], 'both of alice\'s uids are out, bob stays');
    const kicked = agora.kicked.filter((k) => k.channel === roomId).map((k) => k.uid).sort((x, y) => x - y);
    assert.deepEqual(kicked, [here, there].sort((x, y) => x - y));

    const again = await api(a, 'POST', `/v1/rtc/participant/kick/${roomId}`, { key: tenant.key, body: { identity: 'alice' } });
    assert.equal(again.status, 404, again.text);
    assert.equal(again.json.error.code, 'PARTICIPANT_NOT_FOUND');
    assert.deepEqual(agora.violations(), []);
  });
});
