// Check rtcgate's tokens with the vendors' own npm libraries (pinned in /package.json).
//
//   import { verifyLiveKit, verifyAgora } from './tests/e2e/support/verifiers/vendor_verify.mjs';
//   const claims = await verifyLiveKit(token, apiKey, apiSecret);   // throws if rejected
//   const info = verifyAgora(token, appCertificate);                  // throws if rejected
//
// CLI (prints the same objects as JSON; exit 1 if rejected, 2 on bad usage):
//   node tests/e2e/support/verifiers/vendor_verify.mjs livekit TOKEN API_KEY API_SECRET
//   node tests/e2e/support/verifiers/vendor_verify.mjs agora TOKEN APP_CERTIFICATE

import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { TokenVerifier } from 'livekit-server-sdk';

const require = createRequire(import.meta.url);
const { AccessToken2, kRtcServiceType } = require('agora-token/src/AccessToken2');

/**
 * LiveKit: npm `livekit-server-sdk` `TokenVerifier` (jose; HS256 signature, `iss` must equal
 * the key, `exp` required, nbf/exp checked against the CURRENT clock with 10 s tolerance).
 * Resolves to the decoded JWT payload; rejects if the token is not accepted.
 * @param {string} token @param {string} key @param {string} secret
 * @returns {Promise<Record<string, unknown>>}
 */
export async function verifyLiveKit(token, key, secret) {
  return await new TokenVerifier(key, secret).verify(token);
}

/**
 * Agora: npm `agora-token` `AccessToken2.from_string` + `verifySignature(appCertificate)`.
 * Returns the decoded fields and the RTC service (the one rtcgate emits); throws if the token
 * does not parse, the signature does not verify, or there is not exactly one RTC service.
 * Expiry values are seconds relative to issueTs; the clock is not checked.
 * @param {string} token @param {string} appCertificate
 * @returns {{appId: string, issueTs: number, expire: number, salt: number,
 *            rtc: {channel: string, uid: string, privileges: Record<string, number>}}}
 */
export function verifyAgora(token, appCertificate) {
  const t = new AccessToken2();
  if (!t.from_string(token)) throw new Error('agora-token: token does not parse');
  if (!t.verifySignature(appCertificate)) throw new Error('agora-token: signature does not verify');
  const rtc = t.getServices(kRtcServiceType);
  if (rtc.length !== 1 || t.services.length !== 1) {
    throw new Error(`agora-token: expected one RTC service, found ${t.services.length} service(s)`);
  }
  const s = rtc[0];
  const privileges = {};
  for (const [k, v] of Object.entries(s.__privileges)) privileges[String(k)] = Number(v);
  return {
    appId: t.appId.toString(),
    issueTs: t.issueTs,
    expire: t.expire,
    salt: t.salt,
    rtc: { channel: s.__channel_name.toString(), uid: s.__uid.toString(), privileges },
  };
}

async function cli(argv) {
  const [kind, ...args] = argv;
  try {
    if (kind === 'livekit' && args.length === 3) {
      console.log(JSON.stringify(await verifyLiveKit(args[0], args[1], args[2])));
    } else if (kind === 'agora' && args.length === 2) {
      console.log(JSON.stringify(verifyAgora(args[0], args[1])));
    } else {
      console.error('usage: vendor_verify.mjs livekit TOKEN API_KEY API_SECRET\n' +
        '       vendor_verify.mjs agora TOKEN APP_CERTIFICATE');
      return 2;
    }
  } catch (e) {
    console.error(`rejected: ${e && e.message ? e.message : e}`);
    return 1;
  }
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await cli(process.argv.slice(2));
}
