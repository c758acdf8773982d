// LiveKit webhooks as LiveKit's server sends them, for the suites that post vendor events to the
// Worker: signed with the deployment's LiveKit key pair and checked by the SDK's own receiver
// before they are sent.

import crypto from 'node:crypto';

import { AccessToken, WebhookReceiver } from 'livekit-server-sdk';
import { WebhookEvent } from '@livekit/protocol';

import { api } from './harness.mjs';
import { CREDS } from './fixtures.mjs';

const { livekit: LK } = CREDS;

/** A signed webhook: its body and the `Authorization` token over the body's SHA-256. */
export async function livekitDelivery(fields) {
  const body = new WebhookEvent(fields).toJsonString();
  const at = new AccessToken(LK.apiKey, LK.apiSecret, { ttl: '5m' });
  at.sha256 = crypto.createHash('sha256').update(body).digest('base64');
  const token = await at.toJwt();
  await new WebhookReceiver(LK.apiKey, LK.apiSecret).receive(body, token);
  return { body, token };
}

/** Posts a `livekitDelivery` to the Worker `w`'s LiveKit webhook route. */
export function postLiveKit(w, { body, token }) {
  return api(w, 'POST', '/v1/vendor-events/livekit', {
    rawBody: body,
    headers: { authorization: token, 'content-type': 'application/webhook+json' },
  });
}
