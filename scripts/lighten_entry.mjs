// Post-build step (scripts/build.sh): worker-build 0.8.7's entry wraps the Worker class in a
// Proxy whose traps make a new Proxy for the instance on every request and another for every
// method read from it, to re-instantiate the wasm module after a trap. That costs 6–9 % of a
// request's CPU (README, Performance). This replaces the default export with the class itself,
// keeping the same recovery around each handler: before a call, re-instantiate if a trap was
// seen; a trap thrown (or rejected) by the call marks the module for that.
// It edits the unminified bundle (NO_MINIFY, set by build.sh) and refuses to guess: if the
// shim's line is not there exactly once, the build fails.
import fs from 'node:fs';

const file = process.argv[2] ?? 'build/index.js';
const MARK = '// rtcgate: entry without per-request Proxy objects';
const LINE = 'var shim_default = new Proxy(Entrypoint, classProxyHooks);';
const NEEDED = ['function checkReinitialize()', 'function handleMaybeCritical(e)', 'Entrypoint.prototype.fetch = function', 'Entrypoint.prototype.queue = function'];

const text = fs.readFileSync(file, 'utf8');
if (text.includes(MARK)) process.exit(0);
const found = text.split(LINE).length - 1;
const missing = NEEDED.filter((s) => !text.includes(s));
if (found !== 1 || missing.length) {
  console.error(`lighten_entry: ${file} is not the shim this step knows (the line found ${found} times; missing: ${missing.join(', ') || 'none'}); has worker-build changed?`);
  process.exit(1);
}
const replacement = `${MARK} (scripts/lighten_entry.mjs)
for (const name of ["fetch", "queue"]) {
  const handler = Entrypoint.prototype[name];
  Entrypoint.prototype[name] = function (arg) {
    checkReinitialize();
    try {
      const result = handler.call(this, arg);
      return result instanceof Promise ? result.catch((e) => { handleMaybeCritical(e); throw e; }) : result;
    } catch (e) {
      handleMaybeCritical(e);
      throw e;
    }
  };
}
var shim_default = Entrypoint;`;
fs.writeFileSync(file, text.replace(LINE, replacement));
