// ZEGO Cloud Recording actions for the ZEGO stand-in (signed exactly like the room actions; zego.mjs
// checks the common parameters and hands the action here).
//
// Sources (ZEGOCLOUD/docs_all, read, not copied): extended_services/cloud_recording/en/server/
// {start-record,stop-record,describe-record-status}.yaml and return-codes.mdx, rendered at
// https://www.zegocloud.com/docs/cloud-recording-server/{start-record,stop-record,describe-record-status,
// return-codes}:
//  - POST /?Action=StartRecord|StopRecord|DescribeRecordStatus&<common parameters>, business
//    parameters as a JSON body; answers {Code, Message, RequestId, Data}.
//  - StartRecord: RoomId (required), RecordInputParams (required: RecordMode 1|2; StreamType 1–4;
//    ClientTaskId — a ClientTaskId already known returns that task's TaskId; MaxIdleTime 5–86400;
//    MaxRecordTime 300–86400; MixConfig required for RecordMode 2 with MixOutputStreamId, MixMode 1–5,
//    MixOutputVideoConfig {Width, Height, Fps, Bitrate} required when StreamType is 2, 3 or 4, Width ×
//    Height ≤ 1920 × 1080), RecordOutputParams (OutputFileFormat mp4|flv|hls|jpg|mp3, OutputFolder),
//    StorageParams (required: Vendor 1–10; Region, Bucket, AccessKeyId, AccessKeySecret required for
//    1,2,3,4,7,9,10 — Bucket and EndPoint for 10 —; Bucket, AccessKeyId, AccessKeySecret for 8)
//    → Data.TaskId (16 characters).
//  - StopRecord {TaskId} → Code 0; a stopped task → 300001001; an unknown one → 300001000.
//  - DescribeRecordStatus {TaskId} → Data {RoomId, RecordMode, StreamType, RecordBeginTimestamp,
//    RecordEndTimestamp, Status 1 init | 2 recording | 3 ended | 4 ended abnormally | 5 paused,
//    RecordFiles[{UserId, StreamId, FileId, FileUrl, OutputFileFormat, FileSize, Duration (ms),
//    Status 1 recording | 2 uploading | 3 uploaded | 4 backup | 5 upload failed}]}.
//  - Codes: 300000004 invalid parameter, 300000003 rate limited, 300001000 no task, 300001001 stopped.
// Deliberately stricter than ZEGO (violations, Code 300000004): unknown keys anywhere in the body,
// query parameters beyond the common ones.
//
// Task lifecycle (controls on the handle): a new task records (Status 2); advanceZegoRecording(TaskId,
// Status) moves it (4 = ended abnormally); a stopped task's files are uploaded (3) unless
// `holdUploads(true)` keeps them uploading (2).

import { randomId } from './common.mjs';

export const RECORDING_ACTIONS = ['StartRecord', 'StopRecord', 'DescribeRecordStatus'];

const FORMATS = ['mp4', 'flv', 'hls', 'jpg', 'mp3'];

const unknownKeys = (obj, allowed) => Object.keys(obj ?? {}).filter((k) => !allowed.includes(k));
const isInt = (v, lo, hi) => Number.isInteger(v) && v >= lo && v <= hi;

function startProblem(b) {
  let bad = unknownKeys(b, ['RoomId', 'RecordInputParams', 'RecordOutputParams', 'StorageParams']);
  if (bad.length) return `unknown StartRecord keys: ${bad.join(', ')}`;
  if (typeof b.RoomId !== 'string' || b.RoomId === '') return 'RoomId is required';
  const i = b.RecordInputParams;
  if (!i || typeof i !== 'object') return 'RecordInputParams is required';
  bad = unknownKeys(i, ['RecordMode', 'StreamType', 'ClientTaskId', 'RecordStreamList', 'FillBlank', 'FillFrame', 'RecordMuteAudio', 'HasWhiteboard', 'Whiteboard', 'MaxIdleTime', 'MaxRecordTime', 'MixConfig']);
  if (bad.length) return `unknown RecordInputParams keys: ${bad.join(', ')}`;
  if (![1, 2].includes(i.RecordMode)) return `RecordMode ${JSON.stringify(i.RecordMode)}`;
  const streamType = i.StreamType ?? 3;
  if (!isInt(streamType, 1, 4)) return `StreamType ${JSON.stringify(i.StreamType)}`;
  if (i.ClientTaskId !== undefined && (typeof i.ClientTaskId !== 'string' || i.ClientTaskId === '')) return 'ClientTaskId must be a non-empty string';
  if (i.MaxIdleTime !== undefined && !isInt(i.MaxIdleTime, 5, 86400)) return `MaxIdleTime ${i.MaxIdleTime} outside [5, 86400]`;
  if (i.MaxRecordTime !== undefined && !isInt(i.MaxRecordTime, 300, 86400)) return `MaxRecordTime ${i.MaxRecordTime} outside [300, 86400]`;
  if (i.RecordMode === 2) {
    const m = i.MixConfig;
    if (!m || typeof m !== 'object') return 'MixConfig is required in mixed recording';
    bad = unknownKeys(m, ['MixMode', 'MixInputList', 'FillMode', 'MixOutputStreamId', 'MixOutputVideoConfig', 'MixOutputAudioConfig', 'MixOutputBackgroundColor', 'MixOutputBackgroundImage', 'MixMaxResolutionStreamId', 'IsAlwaysMix']);
    if (bad.length) return `unknown MixConfig keys: ${bad.join(', ')}`;
    if (typeof m.MixOutputStreamId !== 'string' || m.MixOutputStreamId === '') return 'MixOutputStreamId is required';
    if (!isInt(m.MixMode ?? 2, 1, 5)) return `MixMode ${m.MixMode}`;
    if (m.MixMode === 1 && !Array.isArray(m.MixInputList)) return 'custom layout without MixInputList';
    const v = m.MixOutputVideoConfig;
    if ([2, 3, 4].includes(streamType)) {
      if (!v || !['Width', 'Height', 'Fps', 'Bitrate'].every((k) => Number.isInteger(v[k]))) return 'MixOutputVideoConfig {Width, Height, Fps, Bitrate} is required with video';
      if (v.Width > 1920 || v.Height > 1920 || v.Width * v.Height > 1920 * 1080) return 'output video above 1920 × 1080';
      if (!isInt(v.Fps, 5, 30)) return `Fps ${v.Fps} outside [5, 30]`;
    }
  }
  const o = b.RecordOutputParams ?? {};
  bad = unknownKeys(o, ['OutputFileFormat', 'OutputFolder', 'OutputFileRule', 'SnapshotInterval', 'CallbackUrl', 'FragmentSeconds', 'RealtimeUploadFragment', 'ShortFragmentPath']);
  if (bad.length) return `unknown RecordOutputParams keys: ${bad.join(', ')}`;
  if (o.OutputFileFormat !== undefined && !FORMATS.includes(o.OutputFileFormat)) return `OutputFileFormat ${JSON.stringify(o.OutputFileFormat)}`;
  if (o.OutputFolder !== undefined && typeof o.OutputFolder !== 'string') return 'OutputFolder must be a string';
  const s = b.StorageParams;
  if (!s || typeof s !== 'object') return 'StorageParams is required';
  bad = unknownKeys(s, ['Vendor', 'Region', 'Bucket', 'AccessKeyId', 'AccessKeySecret', 'EndPoint', 'AlibabaCloudVodParams', 'TencentCloudVodParams']);
  if (bad.length) return `unknown StorageParams keys: ${bad.join(', ')}`;
  if (!isInt(s.Vendor, 1, 10)) return `Vendor ${JSON.stringify(s.Vendor)}`;
  const need = (keys) => keys.find((k) => typeof s[k] !== 'string' || s[k] === '');
  const missing = [1, 2, 3, 4, 7, 9].includes(s.Vendor) ? need(['Region', 'Bucket', 'AccessKeyId', 'AccessKeySecret'])
    : s.Vendor === 10 ? need(['Bucket', 'EndPoint', 'AccessKeyId', 'AccessKeySecret'])
      : s.Vendor === 8 ? need(['Bucket', 'AccessKeyId', 'AccessKeySecret']) : null;
  if (missing) return `StorageParams.${missing} is required for Vendor ${s.Vendor}`;
  return null;
}

/** `onStopped(task, file)`: a task was stopped through StopRecord (for the status callbacks, notify.mjs). */
export function zegoCloudRecording({ onStopped } = {}) {
  /** TaskId → { TaskId, ClientTaskId, RoomId, Status, request, begin, end } */
  const tasks = new Map();
  let holdUploads = false;

  const fileOf = (t) => {
    const o = t.request.RecordOutputParams ?? {};
    const s = t.request.StorageParams;
    const format = o.OutputFileFormat ?? 'mp4';
    const stream = t.request.RecordInputParams.MixConfig?.MixOutputStreamId ?? 'stream';
    const fileId = `${o.OutputFolder ?? ''}${t.TaskId}_${t.RoomId}_${stream}_VA_${new Date(t.begin).toISOString().replace(/\D/g, '').slice(0, 17)}.${format}`;
    const host = s.Vendor === 10 ? `${s.EndPoint.replace(/\/$/, '')}/${s.Bucket}` : `https://${s.Bucket}.s3.${s.Region || 'us-east-1'}.amazonaws.com`;
    return {
      UserId: '', StreamId: stream, FileId: fileId, FileUrl: `${host}/${fileId}`, OutputFileFormat: format,
      FileSize: 1048576, Duration: Math.max(1000, (t.end ?? Date.now()) - t.begin), ResolutionWidth: 1280, ResolutionHeight: 720,
      MediaTrackType: 3, BeginTimestamp: t.begin, Status: holdUploads ? 2 : 3,
    };
  };

  /** { op, reject|exec } for a recording action; `body` is the parsed JSON body. */
  function route(action, body, { envelope, violation }) {
    const op = action;
    if (!body || typeof body !== 'object' || Array.isArray(body)) return { op, ...violation(300000004, 'invalid parameter', 'body is not a JSON object') };
    if (action === 'StartRecord') {
      const problem = startProblem(body);
      if (problem) return { op, ...violation(300000004, 'invalid parameter', problem) };
      return {
        op,
        exec: () => {
          const client = body.RecordInputParams.ClientTaskId;
          const known = client && [...tasks.values()].find((t) => t.ClientTaskId === client);
          if (known) return envelope(0, 'succeed', { TaskId: known.TaskId });
          const TaskId = randomId('', 16);
          tasks.set(TaskId, { TaskId, ClientTaskId: client, RoomId: body.RoomId, Status: 2, request: body, begin: Date.now(), end: null });
          return envelope(0, 'succeed', { TaskId });
        },
      };
    }
    const bad = unknownKeys(body, ['TaskId']);
    if (bad.length || typeof body.TaskId !== 'string' || body.TaskId === '') {
      return { op, ...violation(300000004, 'invalid parameter', `${action} takes exactly {TaskId}, got ${JSON.stringify(body)}`) };
    }
    return {
      op,
      exec: () => {
        const t = tasks.get(body.TaskId);
        if (!t) return envelope(300001000, 'task not exist');
        if (action === 'StopRecord') {
          if (t.Status === 3 || t.Status === 4) return envelope(300001001, 'task already stopped');
          t.Status = 3;
          t.end = Date.now();
          onStopped?.(t, fileOf(t));
          return envelope(0, 'succeed');
        }
        const ended = t.Status === 3 || t.Status === 4;
        return envelope(0, 'succeed', {
          RoomId: t.RoomId,
          RecordMode: t.request.RecordInputParams.RecordMode,
          StreamType: t.request.RecordInputParams.StreamType ?? 3,
          RecordBeginTimestamp: t.begin,
          RecordEndTimestamp: t.end ?? 0,
          Status: t.Status,
          RecordFiles: ended && t.Status === 3 ? [fileOf(t)] : [],
        });
      },
    };
  }

  return {
    route,
    tasks,
    /** Moves a task to a ZEGO Status (2 recording, 4 ended abnormally, 3 ended). */
    advance(taskId, status) {
      const t = tasks.get(taskId);
      if (!t) throw new Error(`no recording task ${taskId}`);
      t.Status = status;
      if (status === 3 || status === 4) t.end = Date.now();
    },
    /** While true, ended tasks report their files as still uploading (Status 2). */
    holdUploads(on) {
      holdUploads = Boolean(on);
    },
    taskOf(clientTaskId) {
      return [...tasks.values()].find((t) => t.ClientTaskId === clientTaskId);
    },
    clear() {
      tasks.clear();
      holdUploads = false;
    },
  };
}
