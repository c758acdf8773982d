// What the Agora and ZEGO stand-ins send out: the vendors' signed notifications for what happens in
// them (joins, leaves, kicks, recordings, live-stream jobs), and a dev-only control surface to make a participant join
// or leave (real clients cannot join a stand-in). Off unless a stand-in is started with `notifyUrl`
// (and its secret) or `devControl`, so the suites that post vendor events themselves see nothing new.
//
// Agora Notifications (NCS; AgoraIO/Docs-Source shared/notification-center-service/, facts only):
// POST JSON `{noticeId, productId, eventType, notifyMs, payload}`; `Agora-Signature` = hex
// HMAC-SHA1(secret, raw body), `Agora-Signature-V2` = hex HMAC-SHA256(secret, raw body). RTC channel
// events (productId 1): 101/102 channel create/destroy `{channelName, ts}`; 103/104 broadcaster
// (and, in 4.x, communication-profile user) join/leave, 105/106 audience join/leave, with `uid`,
// `platform`, `clientSeq` (increasing per user), `ts` (s), `account`, and on leave `reason` (1 normal
// leave, 3 removed by the kicking API) and `duration` (s). Cloud Recording (productId 3): 40
// recorder_started, 11 session_exit (`details.exitStatus` 0 normal) with `cname`, `uid`, `sid`,
// `sequence`, `sendts` (ms). Media Push (productId 5; event-types/media-push.mdx): 1 converter
// created {converter{id, name, transcodeOptions|rawOptions, rtmpUrl, idleTimeout, createTs, updateTs,
// state}}, 2 configuration changed {converter{id, createTs, updateTs, state, what changed}, fields},
// 3 state changed {converter{id, createTs, updateTs, state: connecting|running|failed}, fields},
// 4 destroyed {converter{id, name, createTs, updateTs}, destroyReason: "Delete Request" | "Idle
// Timeout" | "Internal Error", fields}; every payload has `lts` (ms), createTs/updateTs are in s.
// Agora resends on a non-200 answer, three times at most.
//
// ZEGO server callbacks (ZEGOCLOUD/docs_all core_products/real-time-voice-video/en/server/callback/,
// facts only): POST; `signature` = hex SHA-1 of the lexicographically sorted concatenation of the
// callback secret, `timestamp` (s) and `nonce`; `room_create` / `room_close` (`room_session_id`,
// `room_create_time` / `room_close_time` ms, `close_reason` 0 normal, 3 last user kicked),
// `room_login` / `room_logout` (`room_seq`, `user_account`, `session_id`, `login_time` /
// `logout_time` ms, `user_role` 1 host, `reason` 0 normal, 3 kicked by KickoutUser); Cloud Recording
// status callbacks (`task_id`, `event_type` 5 recording completed, 1 upload finished with
// `detail.upload_status`, `sequence`). Stream mixing (callback/stream-mixing/{started,stopped}.mdx;
// JSON, every value a string but the URL lists): `mix_start` {appid, event, seq (increasing),
// task_id "{appid}:{TaskId}", channel_id (RoomId), publish_id (UserId), mix_url, mix_stream_alias,
// rtmp_urls[], hls_urls[], hdl_urls[], stream_alias, timestamp, nonce, signature} when a task starts,
// `mix_stop` (the same without the play URLs) when it stops; none when a stop request fails or a
// task dies abnormally. A failed callback is retried 5 times (2, 4, 8, 16, 32 s).
//
// Dev control (`devControl: true`, no vendor credentials: only for a stand-in on loopback):
//   POST /__dev/join   Agora {channel, uid, role?}   ZEGO {room_id, user_id}
//   POST /__dev/leave  same fields
// answered 200 `{ok: true}` (or 409 `{ok:false, message}` when the user is banned / not in the room).

import crypto from 'node:crypto';

import { jsonResponse } from './common.mjs';

/** Posts signed notifications one at a time, in order, retrying a failed one like the vendor. */
function sender({ name, url, retryDelaysMs }) {
  /** Every notification: { kind, body, headers, attempts, status, done, error } */
  const sent = [];
  let chain = Promise.resolve();
  let closed = false;
  const post = async (n) => {
    for (let attempt = 0; attempt <= retryDelaysMs.length && !closed; attempt += 1) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, retryDelaysMs[attempt - 1]));
      n.attempts += 1;
      try {
        const res = await fetch(url, { method: 'POST', headers: n.headers, body: n.body, signal: AbortSignal.timeout(10_000) });
        await res.text();
        n.status = res.status;
        if (res.status >= 200 && res.status < 300) return;
      } catch (e) {
        n.error = String(e?.cause ?? e);
      }
    }
    if (!closed) console.error(`[${name}] notification ${n.kind} not accepted by ${url} (last status ${n.status ?? n.error})`);
  };
  return {
    sent,
    send(kind, body, headers) {
      const n = { kind, body, headers, attempts: 0, status: undefined, done: false, error: undefined };
      sent.push(n);
      chain = chain.then(() => post(n)).finally(() => {
        n.done = true;
      });
      return n;
    },
    /** Resolves when everything queued so far was sent (or given up). */
    idle: () => chain,
    close() {
      closed = true;
    },
  };
}

/** hex HMAC of `body` under `secret`. */
const hmacHex = (algorithm, secret, body) => crypto.createHmac(algorithm, secret).update(body).digest('hex');

/** The ZEGO callback signature: hex SHA-1 of the sorted secret, timestamp and nonce. */
export function zegoCallbackSignature(secret, timestamp, nonce) {
  return crypto.createHash('sha1').update([secret, String(timestamp), String(nonce)].sort().join('')).digest('hex');
}

const readJson = (ctx) => {
  try {
    const v = JSON.parse(ctx.rawBody || '{}');
    return v && typeof v === 'object' && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
};

/** The `/__dev/join` and `/__dev/leave` routes, or undefined for any other request. */
function devRoute(ctx, { join, leave }) {
  if (ctx.method !== 'POST' || !['/__dev/join', '/__dev/leave'].includes(ctx.path)) return undefined;
  const op = ctx.path === '/__dev/join' ? 'DevJoin' : 'DevLeave';
  const body = readJson(ctx);
  if (!body) return { op, reject: jsonResponse(400, { ok: false, message: 'body must be a JSON object' }), error: 'dev control body is not a JSON object' };
  return {
    op,
    exec: () => {
      const problem = (op === 'DevJoin' ? join : leave)(body);
      return problem ? jsonResponse(409, { ok: false, message: problem }) : jsonResponse(200, { ok: true });
    },
  };
}

/**
 * Agora's side: `notices.joined/left/channel…/recording…` post NCS notifications when `notifyUrl`
 * and `ncsSecret` are set; `route(ctx)` serves the dev control when `devControl` is set.
 */
export function agoraNotices({ notifyUrl, ncsSecret, devControl = false, retryDelaysMs = [1000, 2000, 4000] }, control) {
  if (notifyUrl && !ncsSecret) throw new TypeError('startAgora: notifyUrl needs ncsSecret');
  const out = notifyUrl ? sender({ name: 'agora', url: notifyUrl, retryDelaysMs }) : null;
  /** `${channel}\u0000${uid}` → last clientSeq */
  const seqs = new Map();
  let sequence = 0;
  const nextSeq = (channel, uid) => {
    const key = `${channel}\u0000${uid}`;
    const n = (seqs.get(key) ?? 0) + 1;
    seqs.set(key, n);
    return n;
  };
  const notify = (productId, eventType, payload) => {
    if (!out) return;
    const body = JSON.stringify({ noticeId: crypto.randomUUID(), productId, eventType, notifyMs: Date.now(), payload });
    out.send(`${productId}/${eventType}`, body, {
      'content-type': 'application/json',
      'Agora-Signature': hmacHex('sha1', ncsSecret, body),
      'Agora-Signature-V2': hmacHex('sha256', ncsSecret, body),
    });
  };
  const seconds = (ms) => Math.floor(ms / 1000);
  return {
    enabled: Boolean(out),
    sent: out?.sent ?? [],
    idle: () => out?.idle() ?? Promise.resolve(),
    close: () => out?.close(),
    channelCreated(channel, atMs) {
      notify(1, 101, { channelName: channel, ts: seconds(atMs) });
    },
    channelDestroyed(channel, lastUid, atMs) {
      notify(1, 102, { channelName: channel, ts: seconds(atMs), lastUid });
    },
    /** A user (not a recorder) joined; `user` = { uid, role, joinedAt }. */
    joined(channel, user) {
      notify(1, user.role === 'audience' ? 105 : 103, {
        channelName: channel, uid: user.uid, platform: 7, clientSeq: nextSeq(channel, user.uid), ts: seconds(user.joinedAt), account: '',
      });
    },
    /** A user left at `atMs`; reason 1 normal leave, 3 removed by the kicking API. */
    left(channel, user, reason, atMs) {
      notify(1, user.role === 'audience' ? 106 : 104, {
        channelName: channel, uid: user.uid, platform: 7, clientSeq: nextSeq(channel, user.uid), ts: seconds(atMs),
        reason, duration: seconds(atMs) - seconds(user.joinedAt), account: '',
      });
    },
    /** Cloud Recording: `task` = { sid, cname, uid }. */
    recordingStarted(task) {
      notify(3, 40, { cname: task.cname, uid: String(task.uid), sid: task.sid, sequence: sequence++, sendts: Date.now(), serviceType: 0, details: { msgName: 'recorder_started', status: 0 } });
    },
    recordingExited(task, abnormal) {
      notify(3, 11, { cname: task.cname, uid: String(task.uid), sid: task.sid, sequence: sequence++, sendts: Date.now(), serviceType: 0, details: { msgName: 'session_exit', exitStatus: abnormal ? 1 : 0 } });
    },
    // Media Push: `conv` = { id, name, request, rtmpUrl, state, createTs, updateTs } (agora-media-push.mjs).
    converterCreated(conv) {
      const { transcodeOptions, rawOptions } = conv.request.converter;
      notify(5, 1, {
        converter: { id: conv.id, name: conv.name, ...(transcodeOptions ? { transcodeOptions } : { rawOptions }), rtmpUrl: conv.rtmpUrl, idleTimeout: conv.idleTimeout, createTs: conv.createTs, updateTs: conv.updateTs, state: conv.state },
        lts: Date.now(),
        xRequestId: crypto.randomUUID().replaceAll('-', ''),
      });
    },
    /** `changed` = the update's `converter` object; `fields` names what the payload carries. */
    converterUpdated(conv, changed) {
      const paths = (v, at) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.entries(v).flatMap(([k, x]) => paths(x, at ? `${at}.${k}` : k)) : [at]);
      notify(5, 2, {
        converter: { id: conv.id, createTs: conv.createTs, updateTs: conv.updateTs, state: conv.state, ...changed },
        lts: Date.now(),
        xRequestId: crypto.randomUUID().replaceAll('-', ''),
        fields: ['id', 'createTs', 'updateTs', 'state', ...paths(changed, '')].join(','),
      });
    },
    converterStateChanged(conv) {
      notify(5, 3, { converter: { id: conv.id, createTs: conv.createTs, updateTs: conv.updateTs, state: conv.state }, lts: Date.now(), fields: 'id,createTs,updateTs,state' });
    },
    converterDestroyed(conv, destroyReason) {
      notify(5, 4, { converter: { id: conv.id, name: conv.name, createTs: conv.createTs, updateTs: conv.updateTs }, lts: Date.now(), destroyReason, fields: 'id,name,createTs,updateTs' });
    },
    route(ctx) {
      if (!devControl) return undefined;
      return devRoute(ctx, {
        join: ({ channel, uid, role }) => {
          if (typeof channel !== 'string' || !Number.isInteger(uid)) return 'channel (string) and uid (integer) are required';
          return control.join(channel, uid, role === 'audience' ? 'audience' : 'broadcaster') ? null : `uid ${uid} may not join ${channel} (banned)`;
        },
        leave: ({ channel, uid }) => (control.leave(channel, uid) ? null : `uid ${uid} is not in ${channel}`),
      });
    },
  };
}

/**
 * ZEGO's side: room and recording callbacks posted to `notifyUrl` signed with `callbackSecret`;
 * `route(ctx)` serves the dev control when `devControl` is set.
 */
export function zegoNotices({ appId, notifyUrl, callbackSecret, devControl = false, retryDelaysMs = [2000, 4000, 8000, 16000, 32000] }, control) {
  if (notifyUrl && !callbackSecret) throw new TypeError('startZego: notifyUrl needs callbackSecret');
  const out = notifyUrl ? sender({ name: 'zego', url: notifyUrl, retryDelaysMs }) : null;
  /** RoomId → room_session_id of the room's current life */
  const roomSessions = new Map();
  let updateSeq = 0;
  const signed = (fields) => {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const nonce = String(crypto.randomInt(1, 2 ** 31));
    return { appid: String(appId), ...fields, timestamp, nonce, signature: zegoCallbackSignature(callbackSecret, timestamp, nonce) };
  };
  // Room callbacks as form fields (every value a string); recording callbacks as JSON.
  const form = (kind, fields) => out?.send(kind, new URLSearchParams(signed(fields)).toString(), { 'content-type': 'application/x-www-form-urlencoded' });
  const json = (kind, fields) => out?.send(kind, JSON.stringify({ ...signed(fields), app_id: Number(appId) }), { 'content-type': 'application/json' });
  // Stream mixing callbacks: JSON with the documented fields only.
  let mixSeq = 0;
  const mix = (event, task, playUrls) => {
    const mixUrl = task.request.MixOutput[0]?.StreamUrl ?? '';
    const alias = mixUrl.slice(mixUrl.lastIndexOf('/') + 1);
    const fields = {
      event, seq: String(++mixSeq), task_id: `${appId}:${task.TaskId}`, channel_id: task.RoomId ?? '', publish_id: task.UserId,
      mix_url: mixUrl, mix_stream_alias: alias, ...playUrls, ...(playUrls && { stream_alias: alias }),
    };
    out?.send(event, JSON.stringify(signed(fields)), { 'content-type': 'application/json' });
  };
  return {
    enabled: Boolean(out),
    sent: out?.sent ?? [],
    idle: () => out?.idle() ?? Promise.resolve(),
    close: () => out?.close(),
    roomCreated(roomId, atMs) {
      const session = crypto.randomInt(1, 2 ** 47);
      roomSessions.set(roomId, session);
      form('room_create', { event: 'room_create', room_id: roomId, room_session_id: String(session), room_create_time: String(atMs) });
    },
    roomClosed(roomId, closeReason, atMs) {
      const session = roomSessions.get(roomId) ?? 0;
      roomSessions.delete(roomId);
      form('room_close', { event: 'room_close', room_id: roomId, room_session_id: String(session), close_reason: String(closeReason), room_close_time: String(atMs) });
    },
    /** `user` = { UserId, UserName, UserRole, LoginTime, SessionId }. */
    loggedIn(roomId, user) {
      form('room_login', {
        event: 'room_login', room_id: roomId, room_name: roomId, room_seq: String(roomSessions.get(roomId) ?? 0),
        user_account: user.UserId, user_nickname: user.UserName, session_id: user.SessionId, login_time: String(user.LoginTime),
        user_role: String(user.UserRole), auth_level: '4', relogin: '0', user_update_seq: String(++updateSeq),
      });
    },
    /** reason 0 normal, 3 kicked by KickoutUser. */
    loggedOut(roomId, user, reason, atMs) {
      form('room_logout', {
        event: 'room_logout', room_id: roomId, room_seq: String(roomSessions.get(roomId) ?? 0),
        user_account: user.UserId, user_nickname: user.UserName, session_id: user.SessionId, login_time: String(user.LoginTime),
        logout_time: String(atMs), reason: String(reason), user_role: String(user.UserRole), user_update_seq: String(++updateSeq),
      });
    },
    /** Cloud Recording status: 5 completed, then 1 upload finished; `task` = { TaskId, RoomId }. */
    recordingEnded(task, sequence, fileInfo) {
      json('recording', { task_id: task.TaskId, room_id: task.RoomId, event_type: 5, message: 'recording completed', sequence, detail: {} });
      json('recording', { task_id: task.TaskId, room_id: task.RoomId, event_type: 1, message: 'upload finished', sequence: sequence + 1, detail: { upload_status: 1, file_info: fileInfo } });
    },
    /** A mix task started: `task` = { TaskId, UserId, RoomId, request } (zego-mixing.mjs). */
    mixStarted(task) {
      // The output goes to the caller's RTMP address: ZEGO has no play URLs of its own for it.
      mix('mix_start', task, { rtmp_urls: [], hls_urls: [], hdl_urls: [] });
    },
    mixStopped(task) {
      mix('mix_stop', task);
    },
    route(ctx) {
      if (!devControl) return undefined;
      return devRoute(ctx, {
        join: ({ room_id: roomId, user_id: userId }) => {
          if (typeof roomId !== 'string' || typeof userId !== 'string' || !roomId || !userId) return 'room_id and user_id (strings) are required';
          return control.join(roomId, userId) ? null : `${userId} may not log into ${roomId} (forbidden)`;
        },
        leave: ({ room_id: roomId, user_id: userId }) => (control.leave(roomId, userId) ? null : `${userId} is not in ${roomId}`),
      });
    },
  };
}
