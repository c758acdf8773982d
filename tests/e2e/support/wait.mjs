// Polling for what a Worker does after its response (queue deliveries, `waitUntil` writes, log
// lines): `waitFor` calls `fn` until it returns something truthy, and returns that.

/**
 * @param {string} what                      named in the error when time runs out
 * @param {() => any | Promise<any>} fn
 * @param {number} [timeoutMs]
 */
export async function waitFor(what, fn, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
