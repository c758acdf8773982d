// Real LiveKit clients (@livekit/rtc-node, WebRTC inside) for the suites that run the vendor's own
// server (livekit_real.test.mjs, events_livekit_real.test.mjs): the SDK loaded quietly, a tone to
// publish, and bounded waits for what the clients and the server report.

// The client SDK picks its log level when loaded: debug (to stdout) unless NODE_ENV is production.
// Only the import sees that setting; the Workers this file starts inherit the environment.
export const rtc = await (async () => {
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    return await import('@livekit/rtc-node');
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  }
})();

// How long any one awaited event may take before the test reports it missing (a hang guard, not a
// timing assertion: under load the loopback WebRTC stack is slow but not this slow).
export const EVENT_GUARD_MS = 90_000;

export function guard(promise, what) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${EVENT_GUARD_MS} ms`)), EVENT_GUARD_MS);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

/** Resolves with the event's arguments the first time `emitter` emits `event` with `accept(...args)`. */
export function nextEvent(emitter, event, accept = () => true) {
  return guard(
    new Promise((resolve) => {
      const on = (...args) => {
        if (!accept(...args)) return;
        emitter.off(event, on);
        resolve(args);
      };
      emitter.on(event, on);
    }),
    `${event} event`,
  );
}

/** Polls `read` until `accept(value)`; returns that value. */
export async function until(read, accept, what) {
  const deadline = Date.now() + EVENT_GUARD_MS;
  let last;
  for (;;) {
    last = await read();
    if (accept(last)) return last;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** 440 Hz at 48 kHz mono, 10 ms per frame. */
export function toneFrame() {
  const samples = new Int16Array(480);
  for (let i = 0; i < samples.length; i += 1) samples[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 48_000));
  return new rtc.AudioFrame(samples, 48_000, 1, samples.length);
}

/** Publishes a generated tone from `room` until the room disconnects; returns the publication. */
export async function publishTone(room) {
  const source = new rtc.AudioSource(48_000, 1);
  const track = rtc.LocalAudioTrack.createAudioTrack('tone', source);
  const publication = await room.localParticipant.publishTrack(
    track,
    new rtc.TrackPublishOptions({ source: rtc.TrackSource.SOURCE_MICROPHONE }),
  );
  const frame = toneFrame();
  (async () => {
    // captureFrame waits while the source's queue is full, so this runs at real time.
    while (room.isConnected) await source.captureFrame(frame);
  })().catch(() => {});
  return publication;
}

/** The first frame of `track` that is not silence (proves media flowed end to end). */
export async function firstAudibleFrame(track) {
  const reader = new rtc.AudioStream(track, 48_000, 1).getReader();
  try {
    for (;;) {
      const { value, done } = await guard(reader.read(), 'audio frame');
      if (done) throw new Error('the audio stream ended before any sound arrived');
      if (value.data.some((s) => Math.abs(s) > 1000)) return value;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

/**
 * A real client connected with an rtcgate token answer (`{token, join: {url}}`), added to
 * `clients` so the suite's cleanup disconnects it.
 */
export async function joinWith(clients, issued) {
  const room = new rtc.Room();
  clients.add(room);
  await room.connect(issued.join.url, issued.token, { autoSubscribe: true, dynacast: false });
  return room;
}
