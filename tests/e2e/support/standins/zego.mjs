// ZEGOCLOUD RTC server-API stand-in (signed query string, rtc-api.zego.im) on loopback.
//
// Sources (ZEGOCLOUD/docs_all, read, not copied):
//  - core_products/real-time-voice-video/en/server/api-reference/accessing-server-apis.mdx: GET with all
//    parameters in the query; common parameters AppId (uint32), Signature, SignatureNonce (16 hex
//    characters = 8 random bytes), SignatureVersion ("2.0"), Timestamp (unix seconds, at most 10 minutes
//    off), optional IsTest; Signature = md5 hex of AppId + SignatureNonce + ServerSecret + Timestamp.
//    Every answer carries Code, Message, RequestId (+ Data when there is some).
//  - .../api-reference/return-codes.mdx: 100000001 AppId format, 100000002 Timestamp empty,
//    100000003 Timestamp format, 100000004 signature expired, 100000005 signature error,
//    100000006 Action empty, 100000007 unsupported Action, 100000008 SignatureNonce empty,
//    100000009 Signature empty, 100000010 no ServerSecret for the AppId, 100000013 SignatureVersion
//    empty, 100000014 unsupported SignatureVersion. Room API: 2 input parameter error, 3 parameter too
//    long, 104/5024/50001 room does not exist, 105 user does not exist, 50003 user not online,
//    50011 user list too long.
//    (So the "100000001..9" range for bad common parameters is really 100000001–100000014, and bad
//    *business* parameters are codes 2/3/50011, not 1000000xx.)
//  - .../room/describe-user-num.yaml: `RoomId[]=room1&RoomId[]=room2` (literal `[]` in the key, one key
//    per value), 1–10 rooms, a missing room counts 0 → Data.UserCountList[{RoomId, UserCount,
//    AdminUserCount}]. zegocloud.com/article/9785 (KickoutUser) shows the same form for
//    `UserId[]=a&UserId[]=b`. We accept exactly that form (percent-encoded brackets decode to it).
//  - .../room/describe-user-list.yaml: RoomId, Mode 0 (login time ascending, default) | 1 (descending),
//    Limit 0–200 (default 200), Marker (empty = from the start; the response Marker is empty on the last
//    page; example marker "1635940599950-user2") → Data{Marker, UserList[{UserId, UserName, UserRole}]};
//    a missing room → empty list.
//  - .../room/describe-users.yaml: RoomId, UserId[] (1–10) → Data.UserStatusList[{UserId, Status 0|1,
//    LoginTime ms, UserRole}]; room missing → 50001.
//  - .../room/kick-out-user.yaml: RoomId, UserId[] (1–5; more → 50011), CustomReason (≤256 bytes).
//  - .../room/close.yaml: RoomId, CustomReason (≤256 bytes), RoomCloseCallback (bool); room missing →
//    5018/5024 (we answer 5024; option codes.closeRoomMissing). Rooms are destroyed by the server when
//    their last user leaves (describe-users.yaml, code 50001 note), so kicking the last user deletes it.
//
// Choices where the docs are silent (all overridable through `options.codes`):
//  - KickoutUser on a missing room → 104; when none of the listed users is in the room → 105
//    (users that are present are kicked; absent ones in a mixed list are ignored, Code 0).
//  - Limit=0 is treated as the default (200).
// Deliberately stricter than ZEGO (violations): unknown or repeated parameters, array parameters
// without `[]`, a SignatureNonce that is not 16 hex characters (ZEGO's own example uses 14 digits),
// an upper-case signature, a reused SignatureNonce, any method but GET, any path but `/`.
//
// Forbid-user rules (ZEGOCLOUD/docs_all core_products/real-time-voice-video/en/server/api-reference/
// room/forbid-user-rule/{set,del}-forbid-user-rule.yaml): SetForbidUserRule {RuleType 1 IP | 2 RoomId |
// 3 UserId | 4 RoomId+UserId, IP/RoomId/UserId as the type needs, DisabledPrivilege[] 1 login | 2
// publish, EffectiveTime 1..86400 s} → Data.ExpireTime; a new rule of the same subject replaces the
// old; DelForbidUserRule {RuleType, IP/RoomId/UserId}. Both answer Code 9 (no permission) unless the
// app has them enabled (option `forbidRules: true`, as ZEGO support would). Stricter than ZEGO: an
// EffectiveTime above 86400 (ZEGO caps it) and rule types 1-3 (rtcgate only bans a user in a room)
// are violations. A forbidden user's login is refused by `seedUser` (it returns null).
//
// Cloud Recording's actions (StartRecord, StopRecord, DescribeRecordStatus: POST with a JSON body,
// signed the same way) are served here too (zego-recording.mjs); ZEGO serves them from its own host.

import crypto from 'node:crypto';
import { jsonResponse, randomDigits, startStandIn } from './common.mjs';
import { RECORDING_ACTIONS, zegoCloudRecording } from './zego-recording.mjs';
import { zegoNotices } from './notify.mjs';
import { MIX_ACTIONS, MIX_QUERY_ACTIONS, zegoStreamMixing } from './zego-mixing.mjs';

/** Signature v2.0: md5 hex of AppId + SignatureNonce + ServerSecret + Timestamp. */
export function zegoSignature(appId, nonce, serverSecret, timestamp) {
  return crypto.createHash('md5').update(`${appId}${nonce}${serverSecret}${timestamp}`, 'utf8').digest('hex');
}

/** Builds a correctly signed query string (for tests), e.g. signedQuery({appId, serverSecret}, 'CloseRoom', {RoomId:'r'}) */
export function zegoSignedQuery({ appId, serverSecret, timestamp = Math.floor(Date.now() / 1000), nonce = crypto.randomBytes(8).toString('hex') }, action, params = {}) {
  const sp = new URLSearchParams();
  sp.append('Action', action);
  sp.append('AppId', String(appId));
  sp.append('SignatureNonce', nonce);
  sp.append('Timestamp', String(timestamp));
  sp.append('Signature', zegoSignature(appId, nonce, serverSecret, timestamp));
  sp.append('SignatureVersion', '2.0');
  for (const [k, v] of Object.entries(params)) {
    if (Array.isArray(v)) for (const x of v) sp.append(k, String(x));
    else if (v !== undefined) sp.append(k, String(v));
  }
  return sp.toString();
}

const COMMON = ['Action', 'AppId', 'SignatureNonce', 'Timestamp', 'Signature', 'SignatureVersion', 'IsTest'];

// Action → { params: {name: kind} } ; kinds: 'string' | 'array' | 'int' | 'bool'
const ACTIONS = {
  DescribeUserNum: { 'RoomId[]': 'array' },
  DescribeUserList: { RoomId: 'string', Mode: 'int', Limit: 'int', Marker: 'string' },
  DescribeUsers: { RoomId: 'string', 'UserId[]': 'array' },
  KickoutUser: { RoomId: 'string', 'UserId[]': 'array', CustomReason: 'string' },
  CloseRoom: { RoomId: 'string', CustomReason: 'string', RoomCloseCallback: 'bool' },
  // ---- forbid-user rules (bans) ----
  SetForbidUserRule: { RuleType: 'int', IP: 'string', RoomId: 'string', UserId: 'string', 'DisabledPrivilege[]': 'array', EffectiveTime: 'int' },
  DelForbidUserRule: { RuleType: 'int', IP: 'string', RoomId: 'string', UserId: 'string' },
  // ---- forbid-stream rules (hard mutes) ----
  DescribeSimpleStreamList: { RoomId: 'string' },
  SetForbidStreamRule: { RoomId: 'string', StreamId: 'string', DisableAudio: 'int', DisableVideo: 'int', EffectiveTime: 'int' },
  DelForbidStreamRule: { RoomId: 'string', StreamId: 'string' },
  // ---- server → room messages (room/send-custom-command.yaml) ----
  SendCustomCommand: { RoomId: 'string', FromUserId: 'string', 'ToUserId[]': 'array', MessageContent: 'string' },
};

// ---- server → room messages: SendCustomCommand's limits and codes (docs_all
// core_products/real-time-voice-video/en/server/api-reference/room/send-custom-command.yaml):
// at most 10 ToUserId (50011), MessageContent at most 1024 bytes (50012), a target that is not
// online 50003; the sender need not be in the room, and its own client does not receive it.
const MAX_COMMAND_TARGETS = 10;
const MAX_COMMAND_BYTES = 1024;
const COMMAND_ROOM_MISSING = 50001;
const COMMAND_TARGET_OFFLINE = 50003;
const COMMAND_TOO_MANY = 50011;
const COMMAND_TOO_LONG = 50012;

const DEFAULT_CODES = {
  kickRoomMissing: 104,
  kickUserMissing: 105,
  closeRoomMissing: 5024,
  describeUsersRoomMissing: 50001,
};

/**
 * Start the ZEGO stand-in.
 * @param {object} options
 * @param {number} [options.port=0]
 * @param {number|string} options.appId
 * @param {string} options.serverSecret
 * @param {() => number} [options.now]  clock in ms (default Date.now), for timestamp-window tests
 * @param {number} [options.maxSkewSec=600]
 * @param {boolean} [options.rejectNonceReuse=true]
 * @param {object} [options.codes]  overrides of DEFAULT_CODES
 * @param {boolean} [options.forbidRulesEnabled=true]  false: every forbid-rule action answers Code 9
 *   (rules are enabled per app by ZEGO support)
 */
export async function startZego(options = {}) {
  const {
    port = 0,
    host = '127.0.0.1',
    appId,
    serverSecret,
    now = Date.now,
    maxSkewSec = 600,
    rejectNonceReuse = true,
    forbidRules = false,
    notifyUrl,
    callbackSecret,
    devControl,
  } = options;
  if (appId === undefined || !serverSecret) throw new TypeError('startZego: appId and serverSecret are required');
  const codes = { ...DEFAULT_CODES, ...(options.codes ?? {}) };
  const appIdStr = String(appId);

  /** RoomId → Map<UserId, { UserId, UserName, UserRole, LoginTime }> */
  const rooms = new Map();
  /** KickoutUser effects: { RoomId, UserId, CustomReason, at } */
  const kicked = [];
  /** CloseRoom effects: { RoomId, CustomReason, users: [UserId], at } */
  const closedRooms = [];
  /** SendCustomCommand effects: { RoomId, FromUserId, ToUserId: [..], MessageContent, receivers: [UserId], at } */
  const customCommands = [];
  /** markers issued by DescribeUserList: marker → { RoomId, Mode, index } */
  const markers = new Map();
  const seenNonces = new Set();
  /** Forbid-user rules: `${RoomId}\u0000${UserId}` → { RuleType, RoomId, UserId, privileges, expiresAt } */
  const forbidden = new Map();
  const ruleKey = (roomId, userId) => `${roomId}\u0000${userId}`;
  const forbids = (roomId, userId, privilege) => {
    const r = forbidden.get(ruleKey(roomId, userId));
    return Boolean(r) && r.expiresAt > now() && r.privileges.includes(privilege);
  };
  let pageCap = Infinity;

  // ---- room and recording callbacks, dev control: notify.mjs --------------------------------
  // Every login and logout goes through these two, so each one is called back.
  const notices = zegoNotices({ appId: appIdStr, notifyUrl, callbackSecret, devControl }, {
    join: (roomId, userId) => Boolean(loginUser(roomId, { UserId: userId })),
    leave: (roomId, userId) => logoutUser(roomId, userId, 0),
  });
  let nextSession = 1;
  function loginUser(roomId, user) {
    if (!user.force && forbids(roomId, user.UserId, 1)) return null; // a forbid-user rule refuses the login
    let room = rooms.get(roomId);
    const u = {
      UserId: user.UserId,
      UserName: user.UserName ?? user.UserId,
      UserRole: user.UserRole ?? 1,
      LoginTime: user.LoginTime ?? Date.now(),
      SessionId: `${Date.now()}${nextSession++}`,
    };
    if (!room) {
      room = new Map();
      rooms.set(roomId, room);
      notices.roomCreated(roomId, u.LoginTime);
    }
    const again = room.get(u.UserId);
    if (again) notices.loggedOut(roomId, again, 3, u.LoginTime); // a re-login ends the older session
    room.set(u.UserId, u);
    notices.loggedIn(roomId, u);
    return u;
  }
  /** A user logs out: reason 0 on its own, 3 kicked by KickoutUser; an empty room is destroyed. */
  function logoutUser(roomId, userId, reason) {
    const room = rooms.get(roomId);
    const u = room?.get(userId);
    if (!u) return false;
    room.delete(userId);
    const now = Date.now();
    notices.loggedOut(roomId, u, reason, now);
    if (room.size === 0) {
      rooms.delete(roomId);
      notices.roomClosed(roomId, reason === 3 ? 3 : 0, now);
    }
    return true;
  }
  const recording = zegoCloudRecording({
    onStopped: (task, file) => notices.recordingEnded(task, 0, [{
      user_id: file.UserId, stream_id: file.StreamId, file_id: file.FileId, file_url: file.FileUrl,
      output_file_format: file.OutputFileFormat, file_size: file.FileSize, duration: file.Duration,
      media_track_type: file.MediaTrackType, begin_timestamp: file.BeginTimestamp, status: file.Status,
    }]),
  });
  // ---- end of callbacks ---------------------------------------------------------------------
  // ---- stream mixing (zego-mixing.mjs) ----
  const mixing = zegoStreamMixing({ notices });
  const PARAMS_ERROR = 110200002;

  // ---- forbid-stream rules (hard mutes) -----------------------------------------------------
  // api-reference/room/forbid-stream-rule/*.yaml, describe-simple-streamlist.yaml: rules are per
  // StreamId (≤ 256 bytes), DisableAudio/DisableVideo 0|1 with at least one 1, EffectiveTime
  // 1–86400 s (the stand-in refuses what ZEGO would clamp), the last call per stream wins; Code 9
  // when the app does not have rules enabled; DescribeSimpleStreamList at most once per 10 s per
  // room (Code 207 otherwise).
  const forbid = { enabled: options.forbidRulesEnabled ?? true };
  /** RoomId → Map<StreamId, { StreamId, UserId, UserName, CreateTime }> */
  const streams = new Map();
  /** `${RoomId}\u0000${StreamId}` → { RoomId, StreamId, DisableAudio, DisableVideo, expiresAt } */
  const streamRules = new Map();
  /** RoomId → ms of the last DescribeSimpleStreamList */
  const lastStreamList = new Map();
  const STREAM_LIST_INTERVAL_MS = 10_000;

  const envelope = (Code, Message, Data) => {
    const body = { Code, Message, RequestId: randomDigits(19) };
    if (Data !== undefined) body.Data = Data;
    return jsonResponse(200, body, { 'content-type': 'application/json; charset=utf-8' });
  };
  const violation = (Code, Message, error) => ({ reject: envelope(Code, Message), error: error ?? `Code ${Code}: ${Message}` });

  const sortedUsers = (roomId, mode) => {
    const list = [...(rooms.get(roomId)?.values() ?? [])];
    list.sort((a, b) => (a.LoginTime - b.LoginTime) || (a.UserId < b.UserId ? -1 : a.UserId > b.UserId ? 1 : 0));
    if (mode === 1) list.reverse();
    return list;
  };

  async function route(ctx) {
    const { method, path, query } = ctx;
    const devRoute = notices.route(ctx);
    if (devRoute) return devRoute;
    const op = typeof query.Action === 'string' ? query.Action : undefined;
    if (path !== '/') return { op, ...violation(100000007, 'unsupported path', `path ${path}; the API lives at /`) };
    // ---- stream mixing (zego-mixing.mjs): StartMix/StopMix are POST with a JSON body,
    // GetMixTaskInfo a GET with TaskId in the query ----
    const mixAction = MIX_ACTIONS.includes(op);
    const mixQuery = MIX_QUERY_ACTIONS[op];
    if (mixAction && !mixQuery && method !== 'POST') return { op, ...violation(PARAMS_ERROR, 'input parameter error', `HTTP ${method}; ${op} is a POST with a JSON body`) };
    if (mixQuery && method !== 'GET') return { op, ...violation(PARAMS_ERROR, 'input parameter error', `HTTP ${method}; ${op} is a GET`) };
    const recordingAction = RECORDING_ACTIONS.includes(op) || (mixAction && !mixQuery);
    if (recordingAction && method !== 'POST') return { op, ...violation(300000004, 'invalid parameter', `HTTP ${method}; ${op} is a POST with a JSON body`) };
    if (!recordingAction && method !== 'GET') return { op, ...violation(2, 'input parameter error', `HTTP ${method}; these actions are GET with everything in the query`) };

    // --- common parameters -------------------------------------------------------------------
    for (const k of COMMON) {
      if (Array.isArray(query[k])) return { op, ...violation(2, `duplicate parameter ${k}`, `common parameter ${k} repeated`) };
    }
    const { AppId, Action, SignatureNonce, Timestamp, Signature, SignatureVersion, IsTest } = query;
    if (AppId === undefined || !/^\d+$/.test(AppId) || Number(AppId) > 0xffffffff) return { op, ...violation(100000001, 'AppId format error', `AppId ${JSON.stringify(AppId)}`) };
    if (AppId !== appIdStr) return { op, ...violation(100000010, 'get server secret failed', `AppId ${AppId} is not ${appIdStr}`) };
    if (!Action) return { op, ...violation(100000006, 'Action is empty') };
    if (!ACTIONS[Action] && !recordingAction && !mixQuery) return { op, ...violation(100000007, 'unsupported Action', `Action ${JSON.stringify(Action)} is not implemented by the stand-in`) };
    if (!SignatureVersion) return { op, ...violation(100000013, 'SignatureVersion is empty') };
    if (SignatureVersion !== '2.0') return { op, ...violation(100000014, 'unsupported SignatureVersion', `SignatureVersion ${JSON.stringify(SignatureVersion)}`) };
    if (!Timestamp) return { op, ...violation(100000002, 'Timestamp is empty') };
    if (!/^\d{1,12}$/.test(Timestamp)) return { op, ...violation(100000003, 'Timestamp format error', `Timestamp ${JSON.stringify(Timestamp)} is not unix seconds`) };
    if (!SignatureNonce) return { op, ...violation(100000008, 'SignatureNonce is empty') };
    if (!Signature) return { op, ...violation(100000009, 'Signature is empty') };
    if (IsTest !== undefined && !/^(true|false)$/i.test(IsTest)) return { op, ...violation(2, 'IsTest must be true or false', `IsTest ${JSON.stringify(IsTest)}`) };
    const skew = Math.abs(Math.floor(now() / 1000) - Number(Timestamp));
    if (skew > maxSkewSec) return { op, ...violation(100000004, 'signature expired', `Timestamp ${Timestamp} is ${skew} s from the stand-in clock (max ${maxSkewSec})`) };
    if (!/^[0-9a-f]{16}$/i.test(SignatureNonce)) {
      return { op, ...violation(100000005, 'signature error', `SignatureNonce ${JSON.stringify(SignatureNonce)} is not 16 hex characters (8 random bytes)`) };
    }
    const expected = zegoSignature(appIdStr, SignatureNonce, serverSecret, Timestamp);
    if (Signature !== expected) {
      const why = Signature.toLowerCase() === expected ? 'Signature is upper-case hex; md5 hex is lower-case' : 'Signature does not match md5(AppId+SignatureNonce+ServerSecret+Timestamp)';
      return { op, ...violation(100000005, 'signature error', why) };
    }
    if (rejectNonceReuse && seenNonces.has(SignatureNonce)) {
      return { op, ...violation(100000005, 'signature error', `SignatureNonce ${SignatureNonce} reused; sign every request afresh`) };
    }
    seenNonces.add(SignatureNonce);

    if (recordingAction) {
      const extra = Object.keys(query).filter((k) => !COMMON.includes(k));
      if (extra.length) return { op, ...violation(300000004, 'invalid parameter', `${op} takes its parameters in the body, not ${extra.join(', ')}`) };
      if (!/^application\/json\b/i.test(ctx.headers['content-type'] ?? '')) return { op, ...violation(300000004, 'invalid parameter', `Content-Type ${JSON.stringify(ctx.headers['content-type'] ?? '')}`) };
      if (mixAction) return mixing.route(op, ctx.body, { envelope, violation });
      return recording.route(op, ctx.body, { envelope, violation });
    }
    if (mixQuery) {
      const extra = Object.keys(query).filter((k) => !COMMON.includes(k) && !mixQuery.includes(k));
      if (extra.length) return { op, ...violation(PARAMS_ERROR, 'input parameter error', `${op} takes ${mixQuery.join(', ')}, not ${extra.join(', ')}`) };
      return mixing.route(op, Object.fromEntries(mixQuery.map((k) => [k, query[k]])), { envelope, violation });
    }

    // --- business parameters -----------------------------------------------------------------
    const spec = ACTIONS[Action];
    for (const k of Object.keys(query)) {
      if (COMMON.includes(k)) continue;
      if (!(k in spec)) {
        const hint = `${k}[]` in spec ? ` (arrays are sent as ${k}[]=a&${k}[]=b)` : '';
        return { op, ...violation(2, 'input parameter error', `unknown parameter ${k} for ${Action}${hint}`) };
      }
      if (spec[k] !== 'array' && Array.isArray(query[k])) return { op, ...violation(2, 'input parameter error', `parameter ${k} repeated`) };
    }
    const p = {};
    for (const [k, kind] of Object.entries(spec)) {
      const raw = query[k];
      if (raw === undefined) continue;
      if (kind === 'array') p[k] = Array.isArray(raw) ? raw : [raw];
      else if (kind === 'int') {
        if (!/^-?\d+$/.test(raw)) return { op, ...violation(2, 'input parameter error', `${k} ${JSON.stringify(raw)} is not an integer`) };
        p[k] = Number(raw);
      } else if (kind === 'bool') {
        if (!/^(true|false)$/i.test(raw)) return { op, ...violation(2, 'input parameter error', `${k} ${JSON.stringify(raw)} is not true/false`) };
        p[k] = raw.toLowerCase() === 'true';
      } else p[k] = raw;
    }
    const roomIdOk = (id, k = 'RoomId') => {
      if (id === undefined || id === '') return violation(2, 'input parameter error', `${k} is required`);
      if (Buffer.byteLength(id, 'utf8') > 128) return violation(3, 'input parameter length too long', `${k} longer than 128 bytes`);
      return null;
    };
    const reasonOk = () => (p.CustomReason !== undefined && Buffer.byteLength(p.CustomReason, 'utf8') > 256
      ? violation(3, 'input parameter length too long', 'CustomReason longer than 256 bytes')
      : null);
    const userIdsOk = (max, tooManyCode) => {
      const ids = p['UserId[]'];
      if (!ids || ids.length === 0) return violation(2, 'input parameter error', 'UserId[] is required');
      if (ids.length > max) return violation(tooManyCode, tooManyCode === 50011 ? 'user list too long' : 'input parameter error', `${ids.length} UserId[] values (max ${max})`);
      if (ids.some((u) => u === '')) return violation(2, 'input parameter error', 'empty UserId');
      return null;
    };

    switch (Action) {
      case 'DescribeUserNum': {
        const ids = p['RoomId[]'];
        if (!ids || ids.length === 0) return { op, ...violation(2, 'input parameter error', 'RoomId[] is required') };
        if (ids.length > 10) return { op, ...violation(2, 'input parameter error', `${ids.length} RoomId[] values (max 10)`) };
        for (const id of ids) {
          const bad = roomIdOk(id, 'RoomId[]');
          if (bad) return { op, ...bad };
        }
        return {
          op,
          exec: () => envelope(0, 'success', {
            UserCountList: ids.map((id) => {
              const users = [...(rooms.get(id)?.values() ?? [])];
              return { RoomId: id, UserCount: users.length, AdminUserCount: users.filter((u) => u.UserRole === 4).length };
            }),
          }),
        };
      }
      case 'DescribeUserList': {
        const bad = roomIdOk(p.RoomId);
        if (bad) return { op, ...bad };
        const mode = p.Mode ?? 0;
        if (mode !== 0 && mode !== 1) return { op, ...violation(2, 'input parameter error', `Mode ${mode} (0 or 1)`) };
        const limitRaw = p.Limit ?? 200;
        if (limitRaw < 0 || limitRaw > 200) return { op, ...violation(2, 'input parameter error', `Limit ${limitRaw} outside 0..200`) };
        const limit = Math.min(limitRaw === 0 ? 200 : limitRaw, pageCap);
        const marker = p.Marker ?? '';
        return {
          op,
          exec: () => {
            let start = 0;
            if (marker !== '') {
              const m = markers.get(marker);
              if (!m || m.RoomId !== p.RoomId || m.Mode !== mode) {
                return { ...envelope(2, 'input parameter error'), violation: `Marker ${JSON.stringify(marker)} was not issued for room ${p.RoomId} mode ${mode}` };
              }
              start = m.index;
            }
            const all = sortedUsers(p.RoomId, mode);
            const page = all.slice(start, start + limit);
            let next = '';
            if (start + page.length < all.length && page.length > 0) {
              const last = page[page.length - 1];
              next = `${last.LoginTime}-${last.UserId}`;
              markers.set(next, { RoomId: p.RoomId, Mode: mode, index: start + page.length });
            }
            return envelope(0, 'success', {
              Marker: next,
              UserList: page.map((u) => ({ UserId: u.UserId, UserName: u.UserName, UserRole: u.UserRole })),
            });
          },
        };
      }
      case 'DescribeUsers': {
        const bad = roomIdOk(p.RoomId) ?? userIdsOk(10, 2);
        if (bad) return { op, ...bad };
        return {
          op,
          exec: () => {
            const room = rooms.get(p.RoomId);
            if (!room || room.size === 0) return envelope(codes.describeUsersRoomMissing, 'room not exist');
            return envelope(0, 'success', {
              UserStatusList: p['UserId[]'].map((id) => {
                const u = room.get(id);
                return u
                  ? { UserId: id, Status: 1, LoginTime: u.LoginTime, UserRole: u.UserRole }
                  : { UserId: id, Status: 0, LoginTime: 0, UserRole: 0 };
              }),
            });
          },
        };
      }
      case 'KickoutUser': {
        const bad = roomIdOk(p.RoomId) ?? userIdsOk(5, 50011) ?? reasonOk();
        if (bad) return { op, ...bad };
        return {
          op,
          exec: () => {
            const room = rooms.get(p.RoomId);
            if (!room || room.size === 0) return envelope(codes.kickRoomMissing, 'room not exist');
            const present = p['UserId[]'].filter((id) => room.has(id));
            if (present.length === 0) return envelope(codes.kickUserMissing, 'user not exist');
            for (const id of present) {
              logoutUser(p.RoomId, id, 3); // the server destroys an empty room
              kicked.push({ RoomId: p.RoomId, UserId: id, CustomReason: p.CustomReason, at: Date.now() });
            }
            return envelope(0, 'success');
          },
        };
      }
      case 'CloseRoom': {
        const bad = roomIdOk(p.RoomId) ?? reasonOk();
        if (bad) return { op, ...bad };
        return {
          op,
          exec: () => {
            const room = rooms.get(p.RoomId);
            if (!room || room.size === 0) return envelope(codes.closeRoomMissing, 'room not exist');
            rooms.delete(p.RoomId);
            closedRooms.push({ RoomId: p.RoomId, CustomReason: p.CustomReason, RoomCloseCallback: p.RoomCloseCallback ?? false, users: [...room.keys()], at: Date.now() });
            return envelope(0, 'success');
          },
        };
      }
      // ---- forbid-user rules (bans) ----
      case 'SetForbidUserRule':
      case 'DelForbidUserRule': {
        // Not enabled for this app: a legitimate answer, not a breach of the rules.
        if (!forbidRules) return { op, exec: () => envelope(9, 'no permission') };
        if (p.RuleType !== 4) return { op, ...violation(2, 'input parameter error', `RuleType ${p.RuleType}: rtcgate bans a user in a room (4) only`) };
        if (p.IP !== undefined) return { op, ...violation(2, 'input parameter error', 'IP given for RuleType 4') };
        const bad = roomIdOk(p.RoomId);
        if (bad) return { op, ...bad };
        if (!p.UserId) return { op, ...violation(2, 'input parameter error', 'UserId is required for RuleType 4') };
        const key = ruleKey(p.RoomId, p.UserId);
        if (Action === 'DelForbidUserRule') {
          return { op, exec: () => { forbidden.delete(key); return envelope(0, 'success'); } };
        }
        const privileges = (p['DisabledPrivilege[]'] ?? []).map(Number);
        if (privileges.length === 0 || privileges.some((x) => x !== 1 && x !== 2)) {
          return { op, ...violation(2, 'input parameter error', `DisabledPrivilege[] ${JSON.stringify(p['DisabledPrivilege[]'])} (1 login, 2 publish)`) };
        }
        const seconds = p.EffectiveTime ?? 21600;
        if (seconds < 1 || seconds > 86400) return { op, ...violation(2, 'input parameter error', `EffectiveTime ${seconds} outside 1..86400 (ZEGO caps it)`) };
        return {
          op,
          exec: () => {
            const expiresAt = now() + seconds * 1000;
            forbidden.set(key, { RuleType: 4, RoomId: p.RoomId, UserId: p.UserId, privileges, seconds, expiresAt });
            return envelope(0, 'success', { ExpireTime: Math.floor(expiresAt / 1000) });
          },
        };
      }
      // ---- forbid-stream rules (hard mutes) ----
      case 'DescribeSimpleStreamList': {
        const bad = roomIdOk(p.RoomId);
        if (bad) return { op, ...bad };
        return {
          op,
          exec: () => {
            const at = now();
            if (at - (lastStreamList.get(p.RoomId) ?? -Infinity) < STREAM_LIST_INTERVAL_MS) return envelope(207, 'room qps limit');
            lastStreamList.set(p.RoomId, at);
            return envelope(0, 'success', { StreamList: [...(streams.get(p.RoomId)?.values() ?? [])] });
          },
        };
      }
      case 'SetForbidStreamRule':
      case 'DelForbidStreamRule': {
        const bad = roomIdOk(p.RoomId);
        if (bad) return { op, ...bad };
        if (!p.StreamId) return { op, ...violation(2, 'input parameter error', 'StreamId is required') };
        if (Buffer.byteLength(p.StreamId, 'utf8') > 256) return { op, ...violation(3, 'input parameter length too long', 'StreamId longer than 256 bytes') };
        const ruleKey = `${p.RoomId}\u0000${p.StreamId}`;
        if (Action === 'DelForbidStreamRule') {
          return {
            op,
            exec: () => {
              if (!forbid.enabled) return envelope(9, 'no permission');
              streamRules.delete(ruleKey);
              return envelope(0, 'success');
            },
          };
        }
        for (const k of ['DisableAudio', 'DisableVideo']) {
          if (p[k] !== undefined && p[k] !== 0 && p[k] !== 1) return { op, ...violation(2, 'input parameter error', `${k} must be 0 or 1`) };
        }
        if (p.DisableAudio !== 1 && p.DisableVideo !== 1) return { op, ...violation(2, 'input parameter error', 'neither DisableAudio nor DisableVideo is 1') };
        if (p.EffectiveTime !== undefined && (p.EffectiveTime < 1 || p.EffectiveTime > 86_400)) {
          return { op, ...violation(2, 'input parameter error', `EffectiveTime ${p.EffectiveTime} outside [1, 86400] (ZEGO caps at 24 h)`) };
        }
        return {
          op,
          exec: () => {
            if (!forbid.enabled) return envelope(9, 'no permission');
            const seconds = p.EffectiveTime ?? 21_600;
            streamRules.set(ruleKey, { RoomId: p.RoomId, StreamId: p.StreamId, DisableAudio: p.DisableAudio ?? 0, DisableVideo: p.DisableVideo ?? 0, expiresAt: now() + seconds * 1000 });
            return envelope(0, 'success');
          },
        };
      }
      // ---- server → room messages ----
      case 'SendCustomCommand': {
        const bad = roomIdOk(p.RoomId);
        if (bad) return { op, ...bad };
        if (!p.FromUserId) return { op, ...violation(2, 'input parameter error', 'FromUserId is required') };
        const to = p['ToUserId[]'] ?? [];
        if (to.length > MAX_COMMAND_TARGETS) return { op, ...violation(COMMAND_TOO_MANY, 'user list too long', `${to.length} ToUserId[] values (max ${MAX_COMMAND_TARGETS})`) };
        if (to.some((u) => u === '')) return { op, ...violation(2, 'input parameter error', 'empty ToUserId') };
        if (!p.MessageContent) return { op, ...violation(2, 'input parameter error', 'MessageContent is required') };
        if (Buffer.byteLength(p.MessageContent, 'utf8') > MAX_COMMAND_BYTES) {
          return { op, ...violation(COMMAND_TOO_LONG, 'message too long', `MessageContent is ${Buffer.byteLength(p.MessageContent, 'utf8')} bytes (max ${MAX_COMMAND_BYTES})`) };
        }
        return {
          op,
          exec: () => {
            const room = rooms.get(p.RoomId);
            if (!room || room.size === 0) return envelope(COMMAND_ROOM_MISSING, 'room not exist');
            if (to.some((id) => !room.has(id))) return envelope(COMMAND_TARGET_OFFLINE, 'user not online');
            const receivers = (to.length ? to : [...room.keys()]).filter((id) => id !== p.FromUserId);
            customCommands.push({ RoomId: p.RoomId, FromUserId: p.FromUserId, ToUserId: to, MessageContent: p.MessageContent, receivers, at: Date.now() });
            return envelope(0, 'success');
          },
        };
      }
      default:
        return { op, ...violation(100000007, 'unsupported Action') };
    }
  }

  const handle = await startStandIn({
    name: 'zego',
    port,
    host,
    route,
    faultBody: (status) => jsonResponse(status, { Code: 1, Message: 'stand-in fault', RequestId: randomDigits(19) }),
    onReset: () => {
      rooms.clear();
      kicked.length = 0;
      closedRooms.length = 0;
      customCommands.length = 0;
      markers.clear();
      seenNonces.clear();
      forbidden.clear();
      pageCap = Infinity;
      recording.clear();
      mixing.clear();
      Object.assign(codes, DEFAULT_CODES, options.codes ?? {});
      streams.clear();
      streamRules.clear();
      lastStreamList.clear();
      forbid.enabled = options.forbidRulesEnabled ?? true;
    },
  });

  const closeStandIn = handle.close;
  return Object.assign(handle, {
    appId: appIdStr,
    // ---- forbid-stream rules (hard mutes) ----
    /** A user publishes a stream in a room (what a stream_create callback reports). */
    seedStream(roomId, streamId, userId) {
      if (!streams.has(roomId)) streams.set(roomId, new Map());
      streams.get(roomId).set(streamId, { StreamId: streamId, UserId: userId, UserName: userId, CreateTime: Math.floor(now() / 1000) });
    },
    /** The live rule on a stream: { DisableAudio, DisableVideo, expiresAt } or undefined. */
    streamRule(roomId, streamId) {
      const r = streamRules.get(`${roomId}\u0000${streamId}`);
      return r && r.expiresAt > now() ? r : undefined;
    },
    /** Turns forbid rules on or off for the app (off: Code 9). */
    setForbidRulesEnabled(enabled) {
      forbid.enabled = enabled;
    },
    rooms,
    kicked,
    closedRooms,
    /** Server → room messages sent (SendCustomCommand), with who received each. */
    customCommands,
    codes,
    /** Cloud Recording tasks by TaskId: { TaskId, ClientTaskId, RoomId, Status, request, begin, end }. */
    recordingTasks: recording.tasks,
    // ---- stream mixing ----
    /** Mix tasks by TaskId: { TaskId, UserId, RoomId, Sequence, running, request, changes }. */
    mixTasks: mixing.tasks,
    /** A mix task dies at ZEGO abnormally, without a callback. */
    endMixTask: mixing.endMixTask,
    /** ZEGO stops a mix task itself (idle for MaxIdleTime), with a `mix_stop` callback. */
    idleOutMixTask: mixing.idleOutMixTask,
    /** Moves a recording task to a ZEGO Status (2 recording, 3 ended, 4 ended abnormally). */
    advanceRecording: recording.advance,
    /** While on, ended tasks report their files as still uploading. */
    holdUploads: recording.holdUploads,
    /** The task started with a ClientTaskId. */
    recordingOf: recording.taskOf,
    /**
     * A user logs into a room (created on first login).
     * user: { UserId (required), UserName = UserId, UserRole = 1, LoginTime = now ms }
     */
    seedUser(roomId, user = {}) {
      if (!user.UserId) throw new TypeError('seedUser: UserId is required');
      return loginUser(roomId, user);
    },
    /** A user logs out without an API call (an empty room is destroyed). */
    dropUser(roomId, userId) {
      return logoutUser(roomId, userId, 0);
    },
    /** The callbacks posted (with notifyUrl): [{ kind, body, headers, attempts, status, done }]. */
    notifications: notices.sent,
    /** Resolves once every callback queued so far was posted. */
    notificationsIdle: notices.idle,
    /** Stops posting (a pending retry is dropped), then closes the server. */
    async close() {
      notices.close();
      await closeStandIn();
    },
    /** Live forbid-user rules (bans): [{ RuleType, RoomId, UserId, privileges, seconds, expiresAt }]. */
    forbidRules() {
      return [...forbidden.values()].filter((r) => r.expiresAt > now());
    },
    usersIn(roomId) {
      return [...(rooms.get(roomId)?.keys() ?? [])];
    },
    /** Return at most n users per DescribeUserList page, whatever Limit says (Infinity = honour Limit). */
    setPageCap(n) {
      pageCap = n;
      return handle;
    },
    /** md5 signature with this stand-in's app id and secret. */
    sign(nonce, timestamp) {
      return zegoSignature(appIdStr, nonce, serverSecret, timestamp);
    },
    /** A correctly signed query string for this stand-in (helper for tests). */
    signedQuery(action, params = {}, opts = {}) {
      return zegoSignedQuery({ appId: appIdStr, serverSecret, ...opts }, action, params);
    },
  });
}
