// The comparison Worker for `make bench`: token minting with the vendors' official npm SDKs
// (livekit-server-sdk, agora-token) in plain JavaScript, doing what a hand-written minting
// Worker would do — parse the JSON body, mint, answer JSON. ZEGO publishes no npm SDK for
// token04, so there is no ZEGO row for this Worker.
import { AccessToken } from 'livekit-server-sdk';
import { RtcRole, RtcTokenBuilder } from 'agora-token';

const uids = new Map();

export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    if (request.method !== 'POST') return new Response('method not allowed', { status: 405 });
    const body = await request.json();
    const ttl = body.ttl_s ?? 3600;
    if (pathname === '/livekit') {
      const at = new AccessToken(env.LIVEKIT_API_KEY, env.LIVEKIT_API_SECRET, { identity: body.identity, ttl });
      at.addGrant({ roomJoin: true, room: body.room, canPublish: true, canSubscribe: true });
      return Response.json({ token: await at.toJwt(), room: body.room, identity: body.identity });
    }
    if (pathname === '/agora') {
      // A numeric uid per identity, from memory (what rtcgate's warm path does).
      let uid = uids.get(body.identity);
      if (uid === undefined) uids.set(body.identity, (uid = uids.size + 1));
      const token = RtcTokenBuilder.buildTokenWithUid(
        env.AGORA_APP_ID, env.AGORA_APP_CERTIFICATE, body.room, uid, RtcRole.PUBLISHER, ttl, ttl,
      );
      return Response.json({ token, room: body.room, identity: body.identity, uid });
    }
    return new Response('not found', { status: 404 });
  },
};
