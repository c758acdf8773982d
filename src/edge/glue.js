// The JS half of the edge's boundary with the runtime. Each function replaces what would
// otherwise be many JS↔wasm calls, each copying a small string: the request head goes into
// wasm as one string, the response comes out in one call. The string formats are defined and
// tested in src/head.rs.

/**
 * The request head: method, URL, body flag, then one `name:value` line per header. A request
 * with `Content-Length` is flagged as having a body without asking for its stream (which
 * would make one); the wasm side reads such a body by its declared length anyway.
 */
export function requestHead(request) {
  let head = '';
  let declared = false;
  for (const [name, value] of request.headers) {
    head += `\n${name}:${value}`;
    if (name === 'content-length') declared = true;
  }
  return `${request.method}\n${request.url}\n${declared || request.body !== null ? 1 : 0}${head}`;
}

/**
 * Reads the whole body, then hands it to `next` (a wasm callback) and resolves to what it
 * returns. A body that cannot be read (the client went away mid-body) is handed over empty:
 * the handler then judges it like any other short body.
 */
export function withBody(request, next) {
  return request.arrayBuffer().then(
    (buffer) => next(new Uint8Array(buffer)),
    () => next(new Uint8Array(0)),
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
