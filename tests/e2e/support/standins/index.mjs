// Vendor stand-ins for the rtcgate end-to-end suite.
//
//   import { startAll } from './standins/index.mjs';
//   const v = await startAll({ livekit: {apiKey, apiSecret}, agora: {appId, customerId, customerSecret},
//                              zego: {appId, serverSecret} });
//   ... point the Worker at v.livekit.url / v.agora.url / v.zego.url ...
//   assert.deepEqual(v.violations(), []);
//   await v.close();
//
// Every handle: url, port, close(), calls, violations(), callsTo(op), reset(), fail(spec),
// failAll(spec), clearFaults(), pendingFaults(), waitForCall(pred, {timeout}). See common.mjs for
// the fault spec and each vendor file for its state and control surface.

import { describeViolations } from './common.mjs';
import { startLiveKit } from './livekit.mjs';
import { startAgora } from './agora.mjs';
import { startZego } from './zego.mjs';

export { startLiveKit, serverJson, twirpError, TWIRP_STATUS } from './livekit.mjs';
export { startAgora } from './agora.mjs';
export { startZego, zegoSignature, zegoSignedQuery } from './zego.mjs';
export { describeViolations, randomId } from './common.mjs';

/**
 * Start the stand-ins whose options are given (omit a vendor to skip it).
 * Returns { livekit?, agora?, zego?, list, violations(), reset(), close() }; violations() entries carry
 * a `vendor` field.
 */
export async function startAll({ livekit, agora, zego } = {}) {
  const started = {};
  try {
    if (livekit) started.livekit = await startLiveKit(livekit);
    if (agora) started.agora = await startAgora(agora);
    if (zego) started.zego = await startZego(zego);
  } catch (e) {
    await Promise.all(Object.values(started).map((h) => h.close()));
    throw e;
  }
  const list = Object.values(started);
  return {
    ...started,
    list,
    violations() {
      return list.flatMap((h) => h.violations().map((c) => ({ vendor: h.name, ...c })));
    },
    describeViolations() {
      return list.map((h) => {
        const v = h.violations();
        return v.length ? `${h.name}:\n${describeViolations(v)}` : '';
      }).filter(Boolean).join('\n');
    },
    reset() {
      for (const h of list) h.reset();
    },
    async close() {
      await Promise.all(list.map((h) => h.close()));
    },
  };
}
