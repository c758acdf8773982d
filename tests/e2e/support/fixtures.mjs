// Shared fixtures of the end-to-end suite, bench/side_by_side.mjs, scripts/dev_stack.mjs (`make dev`) and scripts/standins.mjs:
// the standard vendor test credentials, the vendor stand-ins started with them, and the Worker
// settings that point a Worker at those stand-ins.
//
//   import { CREDS, startVendorStandins, vendorVars, assertNoViolations } from './fixtures.mjs';
//   const vendors = await startVendorStandins();                 // LiveKit, Agora and ZEGO stand-ins
//   const w = await startWorker({ vars: { ADMIN_TOKEN: admin, ...vendorVars(vendors) } });
//   ...
//   assertNoViolations(vendors);
//   assertError(await api(w, 'POST', '/v1/rtc/room/create', { key, body: {} }), 400, 'INVALID_REQUEST', { field: 'name' });
//
// A test that needs a deviation on purpose (a wrong secret, a bad certificate, a vendor left out)
// writes it at its call site, after the spread: `{ ...vendorVars(v), LIVEKIT_API_SECRET: WRONG }`.
//
// This file must not import harness.mjs: the scripts import it, and harness.mjs installs
// process exit and signal handlers.

import assert from 'node:assert/strict';

import { startAll } from './standins/index.mjs';

/**
 * The standard vendor test credentials: fixed, made-up values for the local stand-ins only (never
 * real credentials). Each object has the shape its stand-in's start function takes, plus what only
 * the Worker needs (Agora's certificate, which signs tokens and never reaches Agora's REST API).
 * They pass the Worker's checks: Agora app id and certificate are 32 hex characters, the ZEGO app id
 * is a non-zero u32 and its server secret 32 characters.
 *
 * tokens.test.mjs's negative controls (LK_WRONG_SECRET, AG_WRONG_CERT, ZG_WRONG_SECRET) differ from
 * these in one character: change them together.
 */
export const CREDS = Object.freeze({
  livekit: Object.freeze({
    apiKey: 'APIe2eTestKey',
    apiSecret: 'e2e-test-livekit-secret-0123456789abcdefXYZ',
  }),
  agora: Object.freeze({
    appId: '0a1b2c3d4e5f60718293a4b5c6d7e8f9',
    certificate: '5cfd2fd1755d40ecb72977518be15d3b',
    customerId: 'e2e-test-customer',
    customerSecret: 'e2e-test-customer-secret',
  }),
  zego: Object.freeze({
    appId: 987654321,
    serverSecret: 'fa94dd0f974cf2e293728a526b028271',
  }),
});

const VENDORS = ['livekit', 'agora', 'zego'];

/**
 * The options each stand-in's start function takes for `creds`:
 * { livekit: {apiKey, apiSecret}, agora: {appId, customerId, customerSecret}, zego: {appId, serverSecret} }.
 */
export function standinOptions(creds = CREDS) {
  return {
    livekit: { apiKey: creds.livekit.apiKey, apiSecret: creds.livekit.apiSecret },
    agora: { appId: creds.agora.appId, customerId: creds.agora.customerId, customerSecret: creds.agora.customerSecret, certificate: creds.agora.certificate },
    zego: { appId: creds.zego.appId, serverSecret: creds.zego.serverSecret },
  };
}

/**
 * Starts the LiveKit, Agora and ZEGO stand-ins (standins/index.mjs `startAll`) with the standard
 * credentials. `overrides` adds or replaces start options per vendor, e.g.
 * `{ livekit: { port: 7880 }, zego: { maxSkewSec: 30 } }`.
 */
export async function startVendorStandins(overrides = {}) {
  const unknown = Object.keys(overrides).filter((k) => !VENDORS.includes(k));
  if (unknown.length) throw new TypeError(`startVendorStandins: unknown vendor(s) ${unknown.join(', ')}`);
  const base = standinOptions();
  return startAll(Object.fromEntries(VENDORS.map((v) => [v, { ...base[v], ...overrides[v] }])));
}

/**
 * The Worker settings (vars) that point a Worker at `standins` (a startAll/startVendorStandins
 * result, or any `{ livekit?, agora?, zego? }` of stand-in handles) with `creds`: LIVEKIT_URL,
 * LIVEKIT_API_KEY, LIVEKIT_API_SECRET, AGORA_APP_ID, AGORA_APP_CERTIFICATE, AGORA_CUSTOMER_ID,
 * AGORA_CUSTOMER_SECRET, AGORA_API_BASE, ZEGO_APP_ID, ZEGO_SERVER_SECRET, ZEGO_API_BASE,
 * ZEGO_RECORDING_API_BASE.
 * A vendor without a handle in `standins` gets no settings (the Worker sees it unconfigured).
 */
export function vendorVars(standins, creds = CREDS) {
  const { livekit, agora, zego } = standins;
  return {
    ...(livekit && {
      LIVEKIT_URL: livekit.url,
      LIVEKIT_API_KEY: creds.livekit.apiKey,
      LIVEKIT_API_SECRET: creds.livekit.apiSecret,
    }),
    ...(agora && {
      AGORA_APP_ID: creds.agora.appId,
      AGORA_APP_CERTIFICATE: creds.agora.certificate,
      AGORA_CUSTOMER_ID: creds.agora.customerId,
      AGORA_CUSTOMER_SECRET: creds.agora.customerSecret,
      AGORA_API_BASE: agora.url,
    }),
    ...(zego && {
      ZEGO_APP_ID: creds.zego.appId,
      ZEGO_SERVER_SECRET: creds.zego.serverSecret,
      ZEGO_API_BASE: zego.url,
      // The stand-in serves Cloud Recording's actions beside the room actions.
      ZEGO_RECORDING_API_BASE: zego.url,
    }),
  };
}

/** The Worker sent none of `standins` (a startAll result) a request the vendor would reject. */
export function assertNoViolations(standins) {
  assert.deepEqual(standins.violations(), [], standins.describeViolations());
}

/**
 * `res` (a harness.mjs `api` answer) is the API's error envelope: `status`, a JSON body holding only
 * `error`, with `code`, a non-empty `message` and `request_id` equal to the X-Request-Id header; and
 * each entry of `detail` (`{ field: 'url' }`, `{ field, vendor }`) equals the same member of `error`
 * (an entry given as `undefined` asserts the member is absent). Returns `error`.
 */
export function assertError(res, status, code, detail = {}) {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${res.text}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/, `content type of ${status} ${code}: ${res.text}`);
  assert.ok(res.json && typeof res.json === 'object', `not JSON: ${res.text}`);
  assert.deepEqual(Object.keys(res.json), ['error'], `not an error envelope (only \`error\` at the top): ${res.text}`);
  const e = res.json.error;
  assert.equal(e.code, code, res.text);
  assert.equal(typeof e.message, 'string', res.text);
  assert.ok(e.message.length > 0, `empty message: ${res.text}`);
  assert.equal(typeof e.request_id, 'string', res.text);
  assert.equal(e.request_id, res.headers.get('x-request-id'), 'error.request_id must equal X-Request-Id');
  for (const [name, value] of Object.entries(detail)) assert.deepEqual(e[name], value, `error.${name}: ${res.text}`);
  return e;
}
