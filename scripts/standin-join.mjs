// Joins an Agora or ZEGO room of `make dev`'s stand-ins as a participant would, from a token rtcgate
// issued, and leaves on Ctrl-C (or after --seconds N). Real Agora and ZEGO clients need their vendors'
// clouds, so the stand-in is told directly (its dev-only POST /__dev/join and /__dev/leave); it then
// sends the Worker the same signed notifications the vendor would (Agora NCS join/leave, ZEGO
// room_login/room_logout), so the join shows in the event list, participant usage and webhook
// deliveries:
//
//   curl -s http://127.0.0.1:8787/v1/rtc/token/issue -H "Authorization: Bearer $KEY" \
//        -H "Content-Type: application/json" -d '{"room":"desk","identity":"bob","vendor":"agora"}' \
//     | node scripts/standin-join.mjs
//
// Reads the token/issue answer ({vendor, join}) as JSON from stdin. The stand-ins' addresses:
// AGORA_STANDIN_URL / ZEGO_STANDIN_URL, else 127.0.0.1 on AGORA_STANDIN_PORT (7881) /
// ZEGO_STANDIN_PORT (7882), as `make dev` starts them.

import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({ options: { seconds: { type: 'string' } } });

async function readStdin() {
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return text;
}

/** The stand-in to tell and the dev-control body, from a token/issue answer. */
function target(issued) {
  const env = process.env;
  if (issued?.vendor === 'agora' && issued.join?.channel && Number.isInteger(issued.join.uid)) {
    return {
      base: env.AGORA_STANDIN_URL || `http://127.0.0.1:${env.AGORA_STANDIN_PORT || 7881}`,
      body: { channel: issued.join.channel, uid: issued.join.uid },
      who: `uid ${issued.join.uid} in channel ${issued.join.channel}`,
    };
  }
  if (issued?.vendor === 'zego' && issued.join?.room_id && issued.join?.user_id) {
    return {
      base: env.ZEGO_STANDIN_URL || `http://127.0.0.1:${env.ZEGO_STANDIN_PORT || 7882}`,
      body: { room_id: issued.join.room_id, user_id: issued.join.user_id },
      who: `${issued.join.user_id} in room ${issued.join.room_id}`,
    };
  }
  if (issued?.vendor === 'livekit') throw new Error('a LiveKit room: join it with scripts/livekit-join.mjs (a real client)');
  throw new Error('stdin must be an Agora or ZEGO answer of POST /v1/rtc/token/issue ({vendor, join})');
}

async function tell(base, what, body) {
  const res = await fetch(`${base}/__dev/${what}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  }).catch((e) => {
    throw new Error(`no stand-in answers at ${base} (is \`make dev\` running with local vendors?): ${e.cause?.message ?? e.message}`);
  });
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(`the stand-in refused the ${what}: ${answer.message ?? res.status}`);
}

async function main() {
  const text = await readStdin();
  let issued;
  try {
    issued = JSON.parse(text);
  } catch {
    throw new Error(`stdin is not JSON: ${text.slice(0, 200)}`);
  }
  if (issued?.error) throw new Error(`rtcgate answered an error: ${JSON.stringify(issued.error)}`);
  const { base, body, who } = target(issued);
  const seconds = opts.seconds === undefined ? undefined : Number(opts.seconds);
  if (seconds !== undefined && !(seconds >= 0)) throw new Error('--seconds takes a number of seconds');

  await tell(base, 'join', body);
  console.log(`joined: ${who} (${issued.vendor} stand-in at ${base}); ${seconds === undefined ? 'Ctrl-C leaves' : `leaving in ${seconds} s`}`);
  let leaving = false;
  const leave = async () => {
    if (leaving) return;
    leaving = true;
    await tell(base, 'leave', body);
    console.log(`left: ${who}`);
    process.exit(0);
  };
  process.on('SIGINT', leave);
  process.on('SIGTERM', leave);
  if (seconds !== undefined) setTimeout(leave, seconds * 1000);
  else setInterval(() => {}, 1 << 30); // stay until a signal
}

main().catch((e) => {
  console.error(`standin-join: ${e?.message ?? e}`);
  process.exit(1);
});
