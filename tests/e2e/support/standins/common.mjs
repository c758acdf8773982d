// Shared machinery for the vendor stand-ins used by the rtcgate end-to-end suite.
//
// Every stand-in is a plain `node:http` server on loopback. A stand-in supplies one function,
// `route(ctx)`, that inspects a request and returns one of:
//
//   { reject: <response>, error: 'why' }   the request breaks a vendor rule: it is answered the way
//                                          the vendor would answer it, and recorded as a violation
//                                          (`ok:false`, `error`), so a test can assert that
//                                          `handle.violations()` is empty.
//   { op: 'Name', exec: () => <response> } a well-formed request. `exec` applies it to the
//                                          stand-in's state and produces the answer (which may be a
//                                          legitimate, state-dependent error such as "not found").
//
// where <response> is `{ status, headers?, body }` (`body`: string, Buffer, or a value to JSON-encode).
//
// Faults (`handle.fail(spec)`, `handle.failAll(spec)`) are applied to well-formed requests only, after
// validation: a request that breaks the rules is always rejected and recorded, never silently faulted.
// Unless `apply: true`, a faulted request does not touch the state (the vendor never saw it); with
// `apply: true` the operation is applied and only the answer is lost or replaced — the "did my
// timed-out request go through?" case that Agora's docs tell callers to handle.

import http from 'node:http';
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';

const MAX_BODY = 1024 * 1024;

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** `prefix` + `n` random alphanumerics, e.g. randomId('RM_') → 'RM_x8Kd0LmPq2Zr'. */
export function randomId(prefix = '', n = 12) {
  const bytes = crypto.randomBytes(n);
  let s = prefix;
  for (let i = 0; i < n; i += 1) s += ALNUM[bytes[i] % ALNUM.length];
  return s;
}

/** A random decimal string of `n` digits (no leading zero). */
export function randomDigits(n = 19) {
  let s = String(1 + crypto.randomInt(9));
  while (s.length < n) s += String(crypto.randomInt(10));
  return s;
}

/**
 * URLSearchParams → plain object. A key that occurs once maps to its string; a key that occurs
 * more than once maps to the array of its values, in order.
 */
export function queryObject(searchParams) {
  const out = {};
  for (const [k, v] of searchParams) {
    if (Object.prototype.hasOwnProperty.call(out, k)) {
      out[k] = Array.isArray(out[k]) ? [...out[k], v] : [out[k], v];
    } else {
      out[k] = v;
    }
  }
  return out;
}

/** Media type of a Content-Type header, lower-cased, parameters (`; charset=…`) dropped. */
export function mediaType(header) {
  if (typeof header !== 'string') return '';
  const i = header.indexOf(';');
  return (i === -1 ? header : header.slice(0, i)).trim().toLowerCase();
}

export function jsonResponse(status, value, headers = {}) {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: value };
}

export function textResponse(status, text, headers = {}) {
  return { status, headers: { 'content-type': 'text/plain; charset=utf-8', ...headers }, body: String(text) };
}

function normaliseFault(spec, persistent) {
  if (spec == null || typeof spec !== 'object') throw new TypeError('fault spec must be an object');
  const mode = spec.mode ?? 'status';
  if (!['status', 'timeout', 'malformed', 'reset', 'delay'].includes(mode)) {
    throw new TypeError(`unknown fault mode ${JSON.stringify(mode)}`);
  }
  const times = persistent ? Infinity : (spec.times ?? 1);
  if (!(times === Infinity || (Number.isInteger(times) && times > 0))) {
    throw new TypeError('fault times must be a positive integer');
  }
  return {
    mode,
    times,
    match: spec.match,
    status: spec.status ?? (mode === 'malformed' ? 200 : 503),
    body: spec.body,
    headers: spec.headers ?? {},
    contentType: spec.contentType,
    apply: Boolean(spec.apply),
    ms: spec.ms ?? spec.delayMs ?? 0,
    hits: 0,
  };
}

function faultMatches(match, call) {
  if (match === undefined || match === null) return true;
  if (typeof match === 'function') return Boolean(match(call));
  const target = `${call.path}${call.search ?? ''}`;
  if (match instanceof RegExp) return match.test(call.op ?? '') || match.test(target);
  if (Array.isArray(match)) return match.some((m) => faultMatches(m, call));
  const s = String(match);
  return call.op === s || target.includes(s);
}

/**
 * Starts an HTTP stand-in. Returns the common part of every handle; the caller adds its own state
 * and control methods to it.
 *
 * options: { name, port = 0, host = '127.0.0.1', route(ctx), faultBody(status) → response,
 *            onReset() }
 */
export async function startStandIn({ name, port = 0, host = '127.0.0.1', route, faultBody, onReset }) {
  const calls = [];
  const faults = [];
  const held = new Set(); // responses parked by 'timeout' faults
  const sockets = new Set();
  const events = new EventEmitter();
  events.setMaxListeners(0);
  let closed = false;

  const send = (res, response) => {
    if (res.destroyed || res.writableEnded) return;
    const headers = { ...(response.headers ?? {}) };
    let body = response.body;
    if (body === undefined || body === null) body = '';
    else if (!(typeof body === 'string' || Buffer.isBuffer(body))) body = JSON.stringify(body);
    headers['content-length'] = Buffer.byteLength(body);
    res.writeHead(response.status, headers);
    res.end(body);
  };

  const takeFault = (call) => {
    for (let i = 0; i < faults.length; i += 1) {
      const f = faults[i];
      if (!faultMatches(f.match, call)) continue;
      f.hits += 1;
      if (f.times !== Infinity) {
        f.times -= 1;
        if (f.times <= 0) faults.splice(i, 1);
      }
      return f;
    }
    return null;
  };

  const finish = (call) => {
    call.done = true;
    events.emit('call', call);
  };

  const applyFault = async (fault, call, req, res, exec) => {
    call.fault = fault.mode;
    if (fault.apply && fault.mode !== 'delay') {
      try {
        const r = exec();
        call.appliedStatus = r?.status;
      } catch (e) {
        call.appliedError = String(e?.stack ?? e);
      }
    }
    switch (fault.mode) {
      case 'delay': {
        await new Promise((resolve) => setTimeout(resolve, fault.ms));
        return false; // proceed normally
      }
      case 'timeout': {
        // Never answer. The response stays parked until the client gives up or the stand-in closes.
        held.add(res);
        res.on('close', () => held.delete(res));
        return true;
      }
      case 'reset': {
        const sock = req.socket;
        if (typeof sock.resetAndDestroy === 'function') sock.resetAndDestroy();
        else sock.destroy();
        return true;
      }
      case 'malformed': {
        const response = {
          status: fault.status,
          headers: { 'content-type': fault.contentType ?? 'application/json', ...fault.headers },
          body: fault.body ?? '<html><body>upstream sent garbage {"truncated": ',
        };
        call.status = response.status;
        send(res, response);
        return true;
      }
      case 'status':
      default: {
        let response;
        if (fault.body !== undefined) {
          response = {
            status: fault.status,
            headers: {
              'content-type': fault.contentType ?? (typeof fault.body === 'string' ? 'text/plain; charset=utf-8' : 'application/json'),
              ...fault.headers,
            },
            body: fault.body,
          };
        } else {
          response = faultBody ? faultBody(fault.status) : textResponse(fault.status, 'stand-in fault');
          response = { ...response, headers: { ...(response.headers ?? {}), ...fault.headers } };
          if (fault.contentType) response.headers['content-type'] = fault.contentType;
        }
        call.status = response.status;
        call.response = response.body;
        send(res, response);
        return true;
      }
    }
  };

  const server = http.createServer((req, res) => {
    const chunks = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) tooBig = true;
      else chunks.push(c);
    });
    req.on('error', () => {});
    req.on('end', async () => {
      const url = new URL(req.url, 'http://stand-in.invalid');
      const rawBody = Buffer.concat(chunks).toString('utf8');
      let body = rawBody;
      if (rawBody.length > 0) {
        try {
          body = JSON.parse(rawBody);
        } catch {
          body = rawBody;
        }
      } else {
        body = undefined;
      }
      const call = {
        at: Date.now(),
        method: req.method,
        path: url.pathname,
        search: url.search,
        query: queryObject(url.searchParams),
        headers: { ...req.headers },
        body,
        rawBody,
        op: undefined,
        ok: true,
        error: undefined,
        status: undefined,
        response: undefined,
        fault: undefined,
        done: false,
      };
      calls.push(call);
      const ctx = { req, url, method: req.method, path: url.pathname, query: call.query, searchParams: url.searchParams, headers: req.headers, rawBody, body, call };
      let outcome;
      try {
        if (tooBig) outcome = { reject: textResponse(413, 'request body too large'), error: 'request body larger than 1 MiB' };
        else outcome = await route(ctx);
      } catch (e) {
        outcome = { reject: textResponse(500, `stand-in internal error: ${e?.message ?? e}`), error: `stand-in internal error: ${e?.stack ?? e}` };
      }
      if (outcome.op) call.op = outcome.op;
      if (outcome.reject) {
        call.ok = false;
        call.error = outcome.error ?? 'rejected';
        call.status = outcome.reject.status;
        call.response = outcome.reject.body;
        send(res, outcome.reject);
        finish(call);
        return;
      }
      let exec = outcome.exec;
      const fault = takeFault(call);
      if (fault) {
        const handled = await applyFault(fault, call, req, res, exec);
        if (handled) {
          finish(call);
          return;
        }
      }
      let response;
      try {
        response = exec();
      } catch (e) {
        call.ok = false;
        call.error = `stand-in internal error: ${e?.stack ?? e}`;
        response = textResponse(500, `stand-in internal error: ${e?.message ?? e}`);
      }
      if (response.violation) {
        // exec() found a rule breach that needs state to detect (e.g. a paging marker it never issued).
        call.ok = false;
        call.error = response.violation;
      }
      call.status = response.status;
      call.response = response.body;
      send(res, response);
      finish(call);
    });
  });
  server.keepAliveTimeout = 2000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();

  const handle = {
    name,
    url: `http://${host}:${addr.port}`,
    port: addr.port,
    host,
    /** Every request received, in arrival order (cleared in place by reset()). */
    calls,
    /** Calls the stand-in rejected for breaking a vendor rule. */
    violations() {
      return calls.filter((c) => !c.ok);
    },
    /** Calls whose operation name is `op` (e.g. 'CreateRoom', 'KickoutUser'). */
    callsTo(op) {
      return calls.filter((c) => c.op === op);
    },
    /** Queue a fault for the next `spec.times` (default 1) matching well-formed requests. */
    fail(spec) {
      faults.push(normaliseFault(spec, false));
      return handle;
    },
    /** Keep failing matching requests until clearFaults()/reset(). */
    failAll(spec) {
      faults.push(normaliseFault(spec, true));
      return handle;
    },
    clearFaults() {
      faults.length = 0;
      return handle;
    },
    /** Faults still queued (a copy). */
    pendingFaults() {
      return faults.map((f) => ({ ...f }));
    },
    /** Clear calls, faults and the stand-in's state. */
    reset() {
      calls.length = 0;
      faults.length = 0;
      onReset?.();
      return handle;
    },
    /**
     * Resolves with the first finished call (already recorded or future) for which `predicate(call)`
     * is true; rejects after `timeout` ms.
     */
    waitForCall(predicate = () => true, { timeout = 5000 } = {}) {
      const pred = typeof predicate === 'string' ? (c) => c.op === predicate : predicate;
      const existing = calls.find((c) => c.done && pred(c));
      if (existing) return Promise.resolve(existing);
      return new Promise((resolve, reject) => {
        const onCall = (c) => {
          if (!pred(c)) return;
          clearTimeout(timer);
          events.off('call', onCall);
          resolve(c);
        };
        const timer = setTimeout(() => {
          events.off('call', onCall);
          reject(new Error(`${name}: no matching call within ${timeout} ms`));
        }, timeout);
        events.on('call', onCall);
      });
    },
    /** Stop listening; parked ('timeout') requests and keep-alive sockets are destroyed. */
    async close() {
      if (closed) return;
      closed = true;
      for (const res of held) res.destroy();
      held.clear();
      const done = new Promise((resolve) => server.close(() => resolve()));
      server.closeAllConnections?.();
      for (const s of sockets) s.destroy();
      await done;
    },
  };
  return handle;
}

/** Formats a violation list for assertion messages. */
export function describeViolations(list) {
  return list.map((c) => `${c.method} ${c.path}${c.search ?? ''} [${c.op ?? '?'}]: ${c.error}`).join('\n');
}
