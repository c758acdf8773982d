// Joins a LiveKit room as a real client (@livekit/rtc-node: WebRTC, the same engine as LiveKit's
// native SDKs) with a token rtcgate issued, publishes a 440 Hz tone and reports who comes and goes
// until Ctrl-C. For trying `make dev` end to end on one machine:
//
//   curl -s http://127.0.0.1:8787/v1/rtc/token/issue -H "Authorization: Bearer $KEY" \
//        -H "Content-Type: application/json" -d '{"room":"standup","identity":"alice"}' \
//     | node scripts/livekit-join.mjs
//
// Reads the token/issue answer ({token, join: {url}}) as JSON from stdin.

// The SDK logs at debug level unless NODE_ENV is production.
process.env.NODE_ENV ??= 'production';
const rtc = await import('@livekit/rtc-node');

async function readStdin() {
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return text;
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
  if (issued?.vendor !== 'livekit' || !issued?.token || !issued?.join?.url) {
    throw new Error('stdin must be a LiveKit answer of POST /v1/rtc/token/issue ({vendor:"livekit", token, join:{url}})');
  }

  const room = new rtc.Room();
  const show = () => console.log(`  in the room: ${[room.localParticipant.identity, ...room.remoteParticipants.keys()].join(', ')}`);
  room
    .on(rtc.RoomEvent.ParticipantConnected, (p) => (console.log(`+ ${p.identity} joined`), show()))
    .on(rtc.RoomEvent.ParticipantDisconnected, (p) => (console.log(`- ${p.identity} left`), show()))
    .on(rtc.RoomEvent.TrackSubscribed, (_t, pub, p) => console.log(`  hearing ${p.identity}'s ${pub.name || 'track'}`))
    .on(rtc.RoomEvent.Disconnected, (reason) => {
      console.log(`disconnected: ${rtc.DisconnectReason[reason] ?? reason}`);
      process.exit(0);
    });
  await room.connect(issued.join.url, issued.token, { autoSubscribe: true, dynacast: false });
  console.log(`joined ${room.name} at ${issued.join.url} as ${room.localParticipant.identity}`);
  show();

  const source = new rtc.AudioSource(48_000, 1);
  const track = rtc.LocalAudioTrack.createAudioTrack('tone', source);
  await room.localParticipant.publishTrack(track, new rtc.TrackPublishOptions({ source: rtc.TrackSource.SOURCE_MICROPHONE }));
  console.log('publishing a 440 Hz tone; Ctrl-C leaves');
  const samples = new Int16Array(480);
  for (let i = 0; i < samples.length; i += 1) samples[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 48_000));
  const frame = new rtc.AudioFrame(samples, 48_000, 1, samples.length);

  let leaving = false;
  const leave = async () => {
    if (leaving) return;
    leaving = true;
    await room.disconnect();
    await rtc.dispose();
    process.exit(0);
  };
  process.on('SIGINT', leave);
  process.on('SIGTERM', leave);
  while (room.isConnected && !leaving) await source.captureFrame(frame);
}

main().catch((e) => {
  console.error(`livekit-join: ${e?.message ?? e}`);
  process.exit(1);
});
