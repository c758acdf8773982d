// The JS half of the edge's boundary with the runtime. Each function replaces what would
// otherwise be many JS↔wasm calls, each copying a small string: the request head goes into
// wasm as one string, the response comes out in one call. The string formats are defined and
// tested in src/http/head.rs.

/**
 * The request head: method, URL, body flag, then one `name:value` line for each of `names`
 * (the headers the core reads) that the request has. Looking those few up by name costs the
 * same however many other headers the request carries; iterating them all made the head's cost
 * grow with every `cf-*` and forwarding header. A request with `Content-Length` is flagged as
 * having a body without asking for its stream (which would make one); the wasm side reads such
 * a body by its declared length anyway.
 */
export function requestHead(request, names) {
  const headers = request.headers;
  let head = '';
  let declared = false;
  for (const name of names) {
    const value = headers.get(name);
    if (value === null) continue;
    head += `\n${name}:${value}`;
    if (name === 'content-length') declared = true;
  }
  return `${request.method}\n${request.url}\n${declared || request.body !== null ? 1 : 0}${head}`;
}

/**
 * Reads the whole body, then hands it to `next` (a wasm callback) and resolves to what it
 * returns. A body that cannot be read to its end (the client went away mid-body) is handed
 * over as `null`, and the request is refused without running its handler.
 */
export function withBody(request, next) {
  return request.arrayBuffer().then(
    (buffer) => next(new Uint8Array(buffer)),
    () => next(null),
  );
}

/**
 * The response. `body` is a view of wasm memory, so it is copied before the Response takes
 * it: the runtime may read a body after this call returns, when that memory holds other data.
 */
export function respond(status, head, body) {
  const headers = new Headers();
  if (head !== '') {
    for (const line of head.split('\n')) {
      const colon = line.indexOf(':');
      headers.append(line.slice(0, colon), line.slice(colon + 1));
    }
  }
  return new Response(body.length === 0 ? null : body.slice(), { status, headers });
}

/**
 * A promise that resolves after `ms` milliseconds. The wasm side awaits it as a `JsFuture`,
 * which takes the waker of its latest poll: a timer that kept the waker of its first poll
 * would wake nobody when that first poll is the fetch handler's inline one (no-op waker).
 */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * One outbound HTTP exchange, bounded in time and size: `timeoutMs` covers connecting, the answer's
 * head and its body, and at most `maxBytes` of the body are read. Past either bound the exchange is
 * aborted (AbortController) and the body's stream cancelled, so no connection stays open whatever
 * the other side does (answers and then streams without end, or never answers). Redirects are not
 * followed. `head` is `name:value` lines; `body` a Uint8Array or null.
 * Resolves (never rejects) to `{status, head, body}` or `{error: 'timeout'|'too_large'|'unreachable',
 * status?, detail?}`.
 */
export async function fetchBounded(url, method, head, body, maxBytes, timeoutMs) {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  let reader;
  try {
    const headers = new Headers();
    if (head !== '') {
      for (const line of head.split('\n')) {
        const colon = line.indexOf(':');
        headers.append(line.slice(0, colon), line.slice(colon + 1));
      }
    }
    // `globalThis.fetch`: a bare `fetch` would make the bundler rename the entry's own `fetch` export.
    const response = await globalThis.fetch(url, { method, headers, body, redirect: 'manual', signal: controller.signal });
    let responseHead = '';
    for (const [name, value] of response.headers) responseHead += `${responseHead === '' ? '' : '\n'}${name}:${value}`;
    const chunks = [];
    let length = 0;
    if (response.body !== null) {
      reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        length += value.byteLength;
        if (length > maxBytes) {
          reader.cancel().catch(() => {});
          controller.abort();
          return { error: 'too_large', status: response.status };
        }
        chunks.push(value);
      }
    }
    const all = new Uint8Array(length);
    let at = 0;
    for (const chunk of chunks) {
      all.set(chunk, at);
      at += chunk.byteLength;
    }
    return { status: response.status, head: responseHead, body: all };
  } catch (e) {
    reader?.cancel().catch(() => {});
    return { error: timedOut ? 'timeout' : 'unreachable', detail: String(e) };
  } finally {
    clearTimeout(timer);
  }
}

/** Enqueues each string of `bodies` on `queue` with one `sendBatch`, all after `delaySeconds`. */
export function queueSendBatch(queue, bodies, delaySeconds) {
  return queue.sendBatch(bodies.map((body) => ({ body, contentType: 'json', delaySeconds })));
}

// Verdicts of the Rate Limiting binding that arrived since `rateCount` last returned: keys found
// over their limit, and a failure to count. Isolate state, like the wasm side's blocks.
let overLimit = [];
let rateFailure = null;
let bindingMissingSaid = false;

/**
 * Counts one request of `key` with the Rate Limiting binding `env[name]` without waiting for its
 * verdict: the call is kept alive past the response by `ctx.waitUntil`, and its verdict lands in
 * the isolate state above. One call per request, no wasm promise or task: the hot path stays
 * synchronous. Returns the verdicts that arrived since the previous call — a first line with the
 * failure (empty when none), then one line per key over its limit — or `undefined` when none did.
 */
export function rateCount(env, name, ctx, key) {
  try {
    const binding = env[name];
    if (binding === undefined) {
      // Said once per isolate (the wasm side logs it once): a deployment without the binding
      // lets every request through at the cost of this one property lookup.
      if (!bindingMissingSaid) rateFailure = `binding ${name} is not configured`;
      bindingMissingSaid = true;
    } else {
      ctx.waitUntil(
        binding.limit({ key }).then(
          (outcome) => {
            if (outcome?.success === false) overLimit.push(key);
            else if (outcome?.success !== true) rateFailure = 'an outcome without a boolean success';
          },
          (e) => {
            rateFailure = String(e);
          },
        ),
      );
    }
  } catch (e) {
    rateFailure = String(e);
  }
  if (overLimit.length === 0 && rateFailure === null) return undefined;
  const learned = `${(rateFailure ?? '').replace(/\n/g, ' ')}\n${overLimit.join('\n')}`;
  overLimit = [];
  rateFailure = null;
  return learned;
}
