// The requests the benchmark rows send, shared by bench/side_by_side.mjs and bench/profile.mjs
// so that a profile measures exactly what the side-by-side table does.
import { api } from '../tests/e2e/support/harness.mjs';

/** Identities that reconnect: request i uses one of a pool of 256. */
export const POOL = 256;
export const pooled = (i) => `user-${i % POOL}`;

/** A JSON POST for `runLoad`. */
export function postJson(headers, body) {
  return { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

/** `GET /v1/health`. */
export const health = () => ({ method: 'GET', headers: {}, body: undefined });

/** The SDK Worker's mint (bench/sdk-worker), for a pooled identity. */
export const sdkMint = (i) => postJson({}, { room: 'bench', identity: pooled(i), ttl_s: 3600 });

/**
 * A room on `vendor` and rtcgate's token.issue for it: `warm(i)` for a pooled identity,
 * `fresh()` for a new identity each call.
 */
export async function tokenRows(rtc, key, vendor, roomName) {
  const room = await api(rtc, 'POST', '/v1/rtc/room/create', { key, body: { name: roomName, vendor } });
  if (room.status !== 201) throw new Error(`room create on ${vendor}: ${room.status} ${room.text}`);
  const auth = { authorization: `Bearer ${key}` };
  const issue = (identity) => postJson(auth, { room: room.json.room, identity, ttl_s: 3600 });
  let fresh = 0;
  return { url: `${rtc.url}/v1/rtc/token/issue`, warm: (i) => issue(pooled(i)), fresh: () => issue(`new-${++fresh}`) };
}
