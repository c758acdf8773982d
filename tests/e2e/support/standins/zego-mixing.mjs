// ZEGO stream mixing for the ZEGO stand-in (signed exactly like the room actions; zego.mjs checks the
// common parameters and hands the action here).
//
// Sources (ZEGOCLOUD/docs_all, read, not copied): core_products/real-time-voice-video/en/server/
// api-reference/stream-mixing/{start-mix,stop-mix,get-mix-task-info}.yaml:
//  - POST /?Action=StartMix&<common parameters>, JSON body {TaskId (required), UserId (required;
//    constant per task), Sequence, RoomId, MixInput[] (required, ≤ 9 by default: StreamId or StreamUrl,
//    RectInfo{Top, Left, Bottom, Right, Layer} — edges in pixels, Bottom/Right coordinates), MixOutput[]
//    (required: StreamId or StreamUrl (RTMP), VideoBitrate (bps), Fps, Width/Height (0–3000, even),
//    AudioBitrate…), MaxIdleTime 90–14400} → Data{UserId, Sequence, RoomId, PlayInfo[]}. The same
//    TaskId again changes that task. Codes: 110200002 parameters, 110200158 more than 9 inputs,
//    110200175 a duplicate input.
//  - POST /?Action=StopMix {TaskId, Sequence?, UserId} → Code 0.
//  - GET /?Action=GetMixTaskInfo&TaskId=… → Data.TaskInfo{TaskId, MixDuration, …}; 110209001: the
//    task does not exist.
// Deliberately stricter than ZEGO (violations, Code 110200002): unknown keys, a Sequence that does not
// increase on a change, a UserId that differs from the task's, a RectInfo outside the output canvas,
// a MixOutput StreamUrl that is not rtmp:// or rtmps:// (ZEGO's page says RTMP; RTMPS is unconfirmed).
//
// Task lifecycle (controls on the handle): a started task runs until StopMix; idleOutMixTask(TaskId)
// stops it as ZEGO does once it had no input for MaxIdleTime; endMixTask(TaskId) makes it die
// abnormally; either way GetMixTaskInfo then answers 110209001. With callbacks on (notify.mjs), a
// task that starts is called back `mix_start` and one that stops `mix_stop`, but one that dies
// abnormally is not (callback/stream-mixing/stopped.mdx): polling is the only way to learn of it.

export const MIX_ACTIONS = ['StartMix', 'StopMix', 'GetMixTaskInfo'];
/** Actions sent as GET with their parameters in the query. */
export const MIX_QUERY_ACTIONS = { GetMixTaskInfo: ['TaskId'] };

const unknownKeys = (obj, allowed) => Object.keys(obj ?? {}).filter((k) => !allowed.includes(k));
const isInt = (v, lo, hi) => Number.isInteger(v) && v >= lo && v <= hi;
const NO_TASK = 110209001;
const PARAMS = 110200002;
const MAX_INPUTS = 9;

function startProblem(b, known) {
  let bad = unknownKeys(b, ['TaskId', 'UserId', 'Sequence', 'RoomId', 'MixInput', 'MixOutput', 'MaxIdleTime', 'UserData', 'BackgroundImage', 'BackGroundColorHex', 'WaterMark', 'SoundLevel']);
  if (bad.length) return `unknown StartMix keys: ${bad.join(', ')}`;
  if (typeof b.TaskId !== 'string' || b.TaskId === '') return 'TaskId is required';
  if (typeof b.UserId !== 'string' || b.UserId === '') return 'UserId is required';
  if (known && known.UserId !== b.UserId) return `UserId ${b.UserId} is not the task's ${known.UserId}`;
  if (known && !(Number.isInteger(b.Sequence) && b.Sequence > known.Sequence)) return `Sequence ${b.Sequence} does not increase on task ${b.TaskId} (last ${known.Sequence})`;
  if (b.MaxIdleTime !== undefined && !isInt(b.MaxIdleTime, 90, 14400)) return `MaxIdleTime ${b.MaxIdleTime} outside [90, 14400]`;
  if (!Array.isArray(b.MixInput)) return 'MixInput is required';
  if (!Array.isArray(b.MixOutput) || b.MixOutput.length === 0) return 'MixOutput is required';
  for (const o of b.MixOutput) {
    bad = unknownKeys(o, ['StreamId', 'StreamUrl', 'VideoBitrate', 'Fps', 'Width', 'Height', 'VideoEncId', 'AudioCodec', 'AudioBitrate', 'SoundChannel', 'TargetRoom']);
    if (bad.length) return `unknown MixOutput keys: ${bad.join(', ')}`;
    if (typeof o.StreamUrl !== 'string' || !/^rtmps?:\/\/[^/\s]+\/\S+$/i.test(o.StreamUrl)) return 'MixOutput StreamUrl is not an RTMP address';
    for (const k of ['Width', 'Height']) if (o[k] !== undefined && !(isInt(o[k], 0, 3000) && o[k] % 2 === 0)) return `MixOutput ${k} ${o[k]} (0–3000, even)`;
  }
  const urls = b.MixOutput.map((o) => o.StreamUrl);
  if (new Set(urls).size !== urls.length) return 'MixOutput repeats a StreamUrl';
  const width = b.MixOutput[0].Width;
  const height = b.MixOutput[0].Height;
  for (const i of b.MixInput) {
    bad = unknownKeys(i, ['StreamId', 'StreamUrl', 'RectInfo', 'RenderMode', 'Volume', 'Image', 'Label', 'UID']);
    if (bad.length) return `unknown MixInput keys: ${bad.join(', ')}`;
    if (typeof i.StreamId !== 'string' || i.StreamId === '') return 'MixInput StreamId is required';
    const r = i.RectInfo;
    if (r && width !== undefined && !(r.Left >= 0 && r.Top >= 0 && r.Right <= width && r.Bottom <= height && r.Left < r.Right && r.Top < r.Bottom)) {
      return `RectInfo ${JSON.stringify(r)} outside the ${width}×${height} output`;
    }
  }
  return null;
}

/** @param {object} o @param {object} o.notices  notify.mjs zegoNotices (posts nothing unless callbacks are on) */
export function zegoStreamMixing({ notices }) {
  /** TaskId → { TaskId, UserId, RoomId, Sequence, running, request, changes: [body], begin } */
  const tasks = new Map();

  /** { op, reject|exec } for a mixing action; `body` is the parsed JSON body (or the query). */
  function route(action, body, { envelope, violation }) {
    const op = action;
    if (!body || typeof body !== 'object' || Array.isArray(body)) return { op, ...violation(PARAMS, 'input parameter error', 'body is not a JSON object') };
    if (action === 'StartMix') {
      const known = tasks.get(body.TaskId);
      const problem = startProblem(body, known?.running ? known : null);
      if (problem) return { op, ...violation(PARAMS, 'input parameter error', problem) };
      return {
        op,
        exec: () => {
          if (body.MixInput.length > MAX_INPUTS) return envelope(110200158, 'too many inputs');
          const ids = body.MixInput.map((i) => i.StreamId);
          if (new Set(ids).size !== ids.length) return envelope(110200175, 'duplicate input');
          const t = known?.running ? known : { TaskId: body.TaskId, UserId: body.UserId, RoomId: body.RoomId, running: true, changes: [], begin: Date.now() };
          t.Sequence = body.Sequence ?? 0;
          t.request = body;
          t.changes.push(body);
          tasks.set(t.TaskId, t);
          if (t.changes.length === 1) notices.mixStarted(t);
          return envelope(0, 'success', { UserId: t.UserId, Sequence: t.Sequence, RoomId: t.RoomId ?? '', PlayInfo: [] });
        },
      };
    }
    if (action === 'StopMix') {
      const bad = unknownKeys(body, ['TaskId', 'Sequence', 'UserId']);
      if (bad.length || typeof body.TaskId !== 'string' || body.TaskId === '') return { op, ...violation(PARAMS, 'input parameter error', `StopMix takes {TaskId, Sequence?, UserId?}, got ${JSON.stringify(body)}`) };
      return {
        op,
        exec: () => {
          const t = tasks.get(body.TaskId);
          if (!t || !t.running) return envelope(NO_TASK, 'task not exist');
          t.running = false;
          notices.mixStopped(t);
          return envelope(0, 'success');
        },
      };
    }
    // GetMixTaskInfo
    if (typeof body.TaskId !== 'string' || body.TaskId === '') return { op, ...violation(PARAMS, 'input parameter error', 'TaskId is required') };
    return {
      op,
      exec: () => {
        const t = tasks.get(body.TaskId);
        if (!t || !t.running) return envelope(NO_TASK, 'task not exist');
        return envelope(0, 'success', { TaskInfo: { TaskId: t.TaskId, MixDuration: Math.floor((Date.now() - t.begin) / 1000) } });
      },
    };
  }

  const running = (taskId) => {
    const t = tasks.get(taskId);
    if (!t?.running) throw new Error(`no running mix task ${taskId}`);
    return t;
  };

  return {
    route,
    tasks,
    /** The task dies at ZEGO abnormally: no callback. */
    endMixTask(taskId) {
      running(taskId).running = false;
    },
    /** ZEGO stops the task itself (no input for MaxIdleTime): called back `mix_stop`. */
    idleOutMixTask(taskId) {
      const t = running(taskId);
      t.running = false;
      notices.mixStopped(t);
    },
    clear() {
      tasks.clear();
    },
  };
}
