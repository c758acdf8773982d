// Post-build step (scripts/build.sh): worker-build 0.8.7's entry exports a WorkerEntrypoint
// class wrapped in a Proxy whose traps make a new Proxy for the instance on every request and
// another for every method read from it, to re-instantiate the wasm module after a trap. That
// costs 6–9 % of a request's CPU (docs/performance-log.md, item 6), and workerd constructs the class itself
// for every request too. This replaces the default export with a plain module-Worker object
// whose fetch, queue and scheduled call the wasm exports directly (they take env and ctx as arguments and
// need no instance), keeping the same recovery around each: before a call, re-instantiate if
// a trap was seen; a trap thrown (or rejected) by the call marks the module for that.
// It edits the unminified bundle (NO_MINIFY, set by build.sh) and refuses to guess: if the
// shim's line is not there exactly once, the build fails.
import fs from 'node:fs';

const file = process.argv[2] ?? 'build/index.js';
const MARK = '// rtcgate: a plain module-Worker entry, no per-request class or Proxy objects';
const LINE = 'var shim_default = new Proxy(Entrypoint, classProxyHooks);';
const NEEDED = [
  'function checkReinitialize()',
  'function handleMaybeCritical(e)',
  'function fetch(req, env, ctx)',
  'function queue(event, env, ctx)',
  'function scheduled(_controller, env, ctx)',
];

const text = fs.readFileSync(file, 'utf8');
if (text.includes(MARK)) process.exit(0);
const found = text.split(LINE).length - 1;
const missing = NEEDED.filter((s) => !text.includes(s));
// The plain object carries fetch, queue and scheduled only; a handler the class gained later
// (say an email event) would silently vanish from the export, so it stops the build instead.
// (`start` is the module's start function, which instantiation already runs.)
const handlers = [...text.matchAll(/^Entrypoint\.prototype\.(\w+) = /gm)].map((m) => m[1]);
const unknown = handlers.filter((h) => !['fetch', 'queue', 'scheduled', 'start'].includes(h));
if (unknown.length || !handlers.includes('fetch') || !handlers.includes('scheduled')) {
  console.error(`lighten_entry: the entry class's handlers are [${handlers.join(', ')}]; this step exports fetch, queue and scheduled`);
  process.exit(1);
}
if (found !== 1 || missing.length) {
  console.error(`lighten_entry: ${file} is not the shim this step knows (the line found ${found} times; missing: ${missing.join(', ') || 'none'}); has worker-build changed?`);
  process.exit(1);
}
const replacement = `${MARK} (scripts/lighten_entry.mjs)
function rtcgateGuarded(handler, arg, env, ctx) {
  checkReinitialize();
  try {
    const result = handler(arg, env, ctx);
    return result instanceof Promise ? result.catch((e) => { handleMaybeCritical(e); throw e; }) : result;
  } catch (e) {
    handleMaybeCritical(e);
    throw e;
  }
}
var shim_default = {
  fetch: (request, env, ctx) => rtcgateGuarded(fetch, request, env, ctx),
  queue: (batch, env, ctx) => rtcgateGuarded(queue, batch, env, ctx),
  scheduled: (controller, env, ctx) => rtcgateGuarded(scheduled, controller, env, ctx),
};`;
fs.writeFileSync(file, text.replace(LINE, replacement));
