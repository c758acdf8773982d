// Agora Channel Management REST stand-in (Basic auth) on loopback.
//
// Sources (AgoraIO/Docs-Source, read, not copied):
//  - shared/common/channel-management-api/endpoints/query-channel-information/query-user-list.mdx:
//    GET /dev/v1/channel/user/{appid}/{channelName}; `channel_exist:false` (HTTP 200) comes with no
//    other data fields; mode 1 → total + users; mode 2 → broadcasters, audience, audience_total
//    (audience fields omitted with ?hosts_only). GET requests carry no body (the examples send only
//    Accept + Authorization), so no Content-Type is required on GET.
//  - .../query-channel-list.mdx: GET /dev/v1/channel/{appid}?page_no=(default 0)&page_size=(default 100,
//    range [1,500]) → {success, data:{channels:[{channel_name,user_count}], total_size}}.
//  - .../ban-user-privileges/create-rules.mdx: POST /dev/v1/kicking-rule, Content-Type application/json,
//    body {appid (required), cname, uid (number, not 0), ip, time (minutes, [1,1440]) |
//    time_in_seconds ([10,86430]), privileges (required)} → {status:"success", id}. time/time_in_seconds
//    0 = kick without a lasting ban; neither = 60-minute ban; "use either, not both"; out-of-range
//    values are CLAMPED by Agora. cname-only + join_channel removes everyone from the channel;
//    uid-only bans that uid from every channel of the app.
//  - .../get-rule-list.mdx (GET ?appid= → {status, rules:[{id, appid, uid, opid, cname, ip, ts,
//    privileges, createAt, updateAt}]}), delete-rules.mdx (DELETE {appid,id} → {status,id}),
//    update-expiration-time.mdx (PUT {appid,id,time|time_in_seconds} → {status, result:{id, ts}}).
//  - shared/common/channel-management-api/response-status-code.mdx: errors are non-200 with
//    {"message": …}; example 400 {"message":"invalid appid"}; 401 bad credentials; 415 wrong
//    Content-Type. The 401 body text "Invalid authentication credentials" is the one Agora documents
//    for its REST gateways (cloud-recording/rest-api/status-codes.mdx).
//
// Wrong appid: the docs show `400 {"message":"invalid appid"}` for a bad appid in the kicking-rule body,
// and list "App ID does not exist" among 401 causes. We answer 400 "invalid appid" for a wrong appid in
// a path, query or body (option `wrongAppIdStatus` to change it).
//
// Deliberately stricter than Agora (each is a violation, answered 400):
//  - unknown body keys / unknown query parameters;
//  - kicking-rule without cname (Agora would ban the uid app-wide), without time/time_in_seconds
//    (Agora would silently ban for 60 minutes), with both, or with values out of range (Agora clamps);
//  - privileges other than exactly ["join_channel"] (rtcgate only kicks/closes);
//  - a non-empty `ip` (rtcgate never bans by IP).
//
// Cloud Recording (same host, same Basic auth) is in agora-recording.mjs; its recorder joins the
// channel like a user, so it shows in the user list.

import { jsonResponse, mediaType, startStandIn } from './common.mjs';
import { agoraCloudRecording } from './agora-recording.mjs';
import { agoraNotices } from './notify.mjs';
import { agoraMediaPush } from './agora-media-push.mjs';

const CNAME_RE = /^[A-Za-z0-9 !#$%&()+\-:;<=.>?@[\]^_{}|~,]+$/; // Agora channel-name character set
const MAX_UID = 2 ** 32 - 1;

const isUint32 = (v) => Number.isInteger(v) && v >= 1 && v <= MAX_UID;

/**
 * Start the Agora stand-in.
 * @param {object} options
 * @param {number} [options.port=0]
 * @param {string} options.appId
 * @param {string} options.customerId
 * @param {string} options.customerSecret
 * @param {number} [options.wrongAppIdStatus=400]
 * @param {string} [options.certificate]  App Certificate: when given, recorder tokens are checked with agora-token
 * @param {string} [options.notifyUrl]  where to post signed NCS notifications (off by default; notify.mjs)
 * @param {string} [options.ncsSecret]  the Notifications secret that signs them
 * @param {boolean} [options.devControl]  serve POST /__dev/join and /__dev/leave (notify.mjs)
 */
export async function startAgora(options = {}) {
  const { port = 0, host = '127.0.0.1', appId, customerId, customerSecret, wrongAppIdStatus = 400, certificate, notifyUrl, ncsSecret, devControl } = options;
  if (!appId || !customerId || !customerSecret) throw new TypeError('startAgora: appId, customerId and customerSecret are required');
  const expectedAuth = `Basic ${Buffer.from(`${customerId}:${customerSecret}`, 'utf8').toString('base64')}`;

  /** channel name → { mode: 1|2, users: Map<uid, { uid, role: 'broadcaster'|'audience', joinedAt }> } */
  const channels = new Map();
  /** every rule created (including time-0 kicks): { id, appid, cname, uid, ip, privileges, seconds, createdAt, expiresAt, deleted, request } */
  const rules = [];
  /** users removed by a rule: { channel, uid, ruleId, at } */
  const kicked = [];
  /** channels emptied by a cname-only rule: { channel, ruleId, at } */
  const closedChannels = [];
  /** channel → mode set by seedChannel (kept while the channel is empty) */
  const channelModes = new Map();
  let nextRuleId = 1953;
  let nextOpId = 1400;

  // ---- notifications (NCS) and dev control: notify.mjs -------------------------------------
  // Every join and leave of a user (not a recorder) goes through these two, so each one is notified.
  const notices = agoraNotices({ notifyUrl, ncsSecret, devControl }, {
    join: (channel, uid, role) => joinUser(channel, uid, { role }),
    leave: (channel, uid) => leaveUser(channel, uid, 1),
  });
  function joinUser(channel, uid, opts = {}) {
    if (!opts.force && isBanned(channel, uid)) return false;
    const fresh = !channels.get(channel)?.users.size;
    const c = channelState(channel);
    const again = c.users.get(uid);
    // Joining again while in: the same presence (a leave's duration counts from the first join).
    const user = { uid, role: opts.role ?? 'broadcaster', joinedAt: again?.joinedAt ?? Date.now() };
    c.users.set(uid, user);
    if (fresh) notices.channelCreated(channel, user.joinedAt);
    if (!again) notices.joined(channel, user);
    return true;
  }
  /** A user leaves: reason 1 on its own, 3 removed by a kicking rule. Recorders are not notified. */
  function leaveUser(channel, uid, reason) {
    const c = channels.get(channel);
    const user = c?.users.get(uid);
    if (!user || !c.users.delete(uid)) return false;
    const now = Date.now();
    if (!user.recorder) notices.left(channel, user, reason, now);
    if (c.users.size === 0) {
      channels.delete(channel); // a channel disappears when its last user leaves
      notices.channelDestroyed(channel, uid, now);
    }
    return true;
  }
  // ---- end of notifications ----------------------------------------------------------------

  const err = (status, message) => jsonResponse(status, { message });
  const violation = (status, message, error) => ({ reject: err(status, message), error: error ?? message });
  const wrongAppId = (where, got) => violation(wrongAppIdStatus, 'invalid appid', `wrong appid in ${where}: ${JSON.stringify(got)}`);

  const banSecondsLeft = (r, now = Date.now()) => (r.deleted || r.expiresAt === null ? 0 : Math.max(0, Math.ceil((r.expiresAt - now) / 1000)));
  const activeRules = () => rules.filter((r) => banSecondsLeft(r) > 0);
  const isBanned = (channel, uid) => activeRules().some(
    (r) => r.privileges.includes('join_channel') && (r.cname === undefined || r.cname === channel) && (r.uid === undefined || r.uid === uid),
  );

  const channelState = (name) => {
    let c = channels.get(name);
    if (!c) {
      c = { mode: channelModes.get(name) ?? 1, users: new Map() };
      channels.set(name, c);
    }
    return c;
  };

  const removeUser = (name, uid, ruleId) => {
    const c = channels.get(name);
    const wasRecorder = Boolean(c?.users.get(uid)?.recorder);
    if (!leaveUser(name, uid, 3)) return false;
    // A recorder removed from its channel ends its recording task (Agora: stop then answers 49).
    if (wasRecorder) recording.recorderRemoved(name, uid);
    kicked.push({ channel: name, uid, ruleId, at: Date.now() });
    return true;
  };

  // ---- validation helpers -------------------------------------------------------------------
  function checkCname(cname) {
    if (typeof cname !== 'string') return 'cname must be a string';
    if (cname.length === 0) return 'cname must not be empty';
    if (Buffer.byteLength(cname, 'utf8') > 64) return 'cname longer than 64 bytes';
    if (!CNAME_RE.test(cname)) return `cname ${JSON.stringify(cname)} has characters outside Agora's channel-name set`;
    return null;
  }

  function checkDuration(body) {
    const hasT = body.time !== undefined;
    const hasS = body.time_in_seconds !== undefined;
    if (hasT && hasS) return { error: 'both time and time_in_seconds given (Agora: use either, not both)' };
    if (!hasT && !hasS) return { error: 'neither time nor time_in_seconds given (Agora would ban for 60 minutes; send time:0 to kick)' };
    if (hasT) {
      if (!Number.isInteger(body.time)) return { error: `time must be an integer number of minutes, got ${JSON.stringify(body.time)}` };
      if (body.time !== 0 && (body.time < 1 || body.time > 1440)) return { error: `time ${body.time} outside 0 or [1,1440] minutes (Agora clamps)` };
      return { seconds: body.time * 60 };
    }
    if (!Number.isInteger(body.time_in_seconds)) return { error: `time_in_seconds must be an integer, got ${JSON.stringify(body.time_in_seconds)}` };
    if (body.time_in_seconds !== 0 && (body.time_in_seconds < 10 || body.time_in_seconds > 86430)) {
      return { error: `time_in_seconds ${body.time_in_seconds} outside 0 or [10,86430] (Agora clamps)` };
    }
    return { seconds: body.time_in_seconds };
  }

  // ---- publish rules (hard mutes) ----------------------------------------------------------
  // create-rules.mdx: privileges may also be publish_audio / publish_video; time_in_seconds 10–86430
  // (Agora clamps; 24 h cap). Stricter than Agora: a publish rule must name a uid (without one it
  // would silence the whole channel), must last (time 0 is a kick), and must not repeat a privilege.
  const PUBLISH_PRIVILEGES = ['publish_audio', 'publish_video'];
  function checkPublishRule(body, dur) {
    const privileges = Array.isArray(body.privileges) ? body.privileges : [];
    if (!privileges.some((p) => PUBLISH_PRIVILEGES.includes(p))) return { isPublishRule: false };
    if (!privileges.every((p) => PUBLISH_PRIVILEGES.includes(p))) return { error: `publish privileges mixed with others: ${JSON.stringify(privileges)}` };
    if (new Set(privileges).size !== privileges.length) return { error: `a privilege repeated: ${JSON.stringify(privileges)}` };
    if (body.uid === undefined) return { error: 'publish privileges without a uid would silence the whole channel' };
    if (!(dur.seconds > 0)) return { error: 'publish privileges need a lasting rule (time 0 only kicks)' };
    return { isPublishRule: true };
  }
  /** The publish privileges `uid` has lost in `channel` now (from live rules). */
  const publishBlocked = (channel, uid) => [...new Set(activeRules()
    .filter((r) => r.cname === channel && r.uid === uid)
    .flatMap((r) => r.privileges.filter((p) => PUBLISH_PRIVILEGES.includes(p))))].sort();

  function jsonBody(ctx, allowed) {
    const ct = mediaType(ctx.headers['content-type']);
    if (ct !== 'application/json') {
      return { v: violation(415, 'Unsupported Media Type', `Content-Type ${JSON.stringify(ctx.headers['content-type'] ?? '')} is not application/json`) };
    }
    let body;
    try {
      body = JSON.parse(ctx.rawBody);
    } catch (e) {
      return { v: violation(400, 'invalid request body', `body is not JSON: ${e.message}`) };
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return { v: violation(400, 'invalid request body', 'body is not a JSON object') };
    const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
    if (unknown.length) return { v: violation(400, `unknown parameter ${unknown[0]}`, `unknown body keys: ${unknown.join(', ')}`) };
    if (body.appid !== appId) return { v: wrongAppId('body', body.appid) };
    return { body };
  }

  function onlyQuery(ctx, allowed) {
    const unknown = Object.keys(ctx.query).filter((k) => !allowed.includes(k));
    if (unknown.length) return violation(400, `unknown parameter ${unknown[0]}`, `unknown query parameters: ${unknown.join(', ')}`);
    const repeated = Object.entries(ctx.query).filter(([, v]) => Array.isArray(v)).map(([k]) => k);
    if (repeated.length) return violation(400, `duplicate parameter ${repeated[0]}`, `repeated query parameters: ${repeated.join(', ')}`);
    return null;
  }

  function ruleJson(r) {
    return {
      id: r.id,
      appid: r.appid,
      uid: r.uid ?? 0,
      opid: r.opid,
      cname: r.cname ?? '',
      ip: r.ip ?? '',
      ts: new Date(r.expiresAt ?? r.createdAt).toISOString(),
      privileges: [...r.privileges],
      createAt: new Date(r.createdAt).toISOString(),
      updateAt: new Date(r.updatedAt).toISOString(),
    };
  }

  const recording = agoraCloudRecording({
    appId,
    certificate,
    isUser: (channel, uid) => {
      const u = channels.get(channel)?.users.get(uid);
      return Boolean(u) && !u.recorder;
    },
    join: (channel, uid) => {
      channelState(channel).users.set(uid, { uid, role: 'broadcaster', joinedAt: Date.now(), recorder: true });
      notices.recordingStarted(recording.recordingOf(channel));
    },
    leave: (channel, uid) => {
      const c = channels.get(channel);
      if (c?.users.get(uid)?.recorder) {
        const task = recording.recordingOf(channel);
        notices.recordingExited(task, task?.status === 20);
        leaveUser(channel, uid, 1);
      }
    },
  });

  // ---- Media Push: RTMP converters (agora-media-push.mjs) ----
  const mediaPush = agoraMediaPush({ appId, notices });

  // ---- routes -------------------------------------------------------------------------------
  async function route(ctx) {
    const { method, path, headers } = ctx;
    const devRoute = notices.route(ctx);
    if (devRoute) return devRoute;
    if (headers.authorization !== expectedAuth) {
      const h = headers.authorization;
      const why = h === undefined ? 'no Authorization header' : !h.startsWith('Basic ') ? 'Authorization is not Basic' : 'wrong customer id/secret in Basic credentials';
      return { reject: err(401, 'Invalid authentication credentials'), error: why };
    }
    const recordingRoute = recording.route(ctx);
    if (recordingRoute) return recordingRoute;
    // ---- Media Push (agora-media-push.mjs) ----
    const pushRoute = mediaPush.route(ctx);
    if (pushRoute) return pushRoute;

    let m;
    if ((m = /^\/dev\/v1\/channel\/user\/([^/]+)\/([^/]+)$/.exec(path))) {
      const op = 'QueryUserList';
      if (method !== 'GET') return { op, ...violation(404, 'Not Found', `${method} on the user-list endpoint`) };
      let app;
      let cname;
      try {
        app = decodeURIComponent(m[1]);
        cname = decodeURIComponent(m[2]);
      } catch {
        return { op, ...violation(400, 'invalid channel name', 'undecodable percent-encoding in path') };
      }
      if (app !== appId) return { op, ...wrongAppId('path', app) };
      const q = onlyQuery(ctx, ['hosts_only']);
      if (q) return { op, ...q };
      const bad = checkCname(cname);
      if (bad) return { op, ...violation(400, 'invalid channel name', bad) };
      const hostsOnly = ctx.query.hosts_only !== undefined;
      return {
        op,
        exec: () => {
          const c = channels.get(cname);
          if (!c || c.users.size === 0) return jsonResponse(200, { success: true, data: { channel_exist: false } });
          const users = [...c.users.values()];
          if (c.mode === 1) {
            return jsonResponse(200, { success: true, data: { channel_exist: true, mode: 1, total: users.length, users: users.map((u) => u.uid) } });
          }
          const data = { channel_exist: true, mode: 2, broadcasters: users.filter((u) => u.role === 'broadcaster').map((u) => u.uid) };
          if (!hostsOnly) {
            const audience = users.filter((u) => u.role !== 'broadcaster');
            data.audience = audience.slice(0, 10000).map((u) => u.uid);
            data.audience_total = audience.length;
          }
          return jsonResponse(200, { success: true, data });
        },
      };
    }

    if ((m = /^\/dev\/v1\/channel\/([^/]+)$/.exec(path))) {
      const op = 'QueryChannelList';
      if (method !== 'GET') return { op, ...violation(404, 'Not Found', `${method} on the channel-list endpoint`) };
      let app;
      try {
        app = decodeURIComponent(m[1]);
      } catch {
        return { op, ...violation(400, 'invalid appid', 'undecodable percent-encoding in path') };
      }
      if (app !== appId) return { op, ...wrongAppId('path', app) };
      const q = onlyQuery(ctx, ['page_no', 'page_size']);
      if (q) return { op, ...q };
      const intParam = (name, dflt) => {
        const raw = ctx.query[name];
        if (raw === undefined) return { v: dflt };
        if (!/^\d+$/.test(raw)) return { e: `${name} must be a non-negative integer, got ${JSON.stringify(raw)}` };
        return { v: Number(raw) };
      };
      const pageNo = intParam('page_no', 0);
      const pageSize = intParam('page_size', 100);
      if (pageNo.e) return { op, ...violation(400, 'invalid page_no', pageNo.e) };
      if (pageSize.e) return { op, ...violation(400, 'invalid page_size', pageSize.e) };
      if (pageSize.v < 1 || pageSize.v > 500) return { op, ...violation(400, 'invalid page_size', `page_size ${pageSize.v} outside [1,500]`) };
      return {
        op,
        exec: () => {
          const all = [...channels.entries()].filter(([, c]) => c.users.size > 0).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
          const page = all.slice(pageNo.v * pageSize.v, (pageNo.v + 1) * pageSize.v);
          return jsonResponse(200, {
            success: true,
            data: { channels: page.map(([name, c]) => ({ channel_name: name, user_count: c.users.size })), total_size: all.length },
          });
        },
      };
    }

    if (path === '/dev/v1/kicking-rule') {
      if (method === 'POST') {
        const op = 'CreateKickingRule';
        const { v, body } = jsonBody(ctx, ['appid', 'cname', 'uid', 'ip', 'time', 'time_in_seconds', 'privileges']);
        if (v) return { op, ...v };
        if (body.cname === undefined) return { op, ...violation(400, 'cname is required', 'no cname: Agora would ban the uid from every channel of the app') };
        const badC = checkCname(body.cname);
        if (badC) return { op, ...violation(400, 'invalid cname', badC) };
        if (body.uid !== undefined && !isUint32(body.uid)) {
          return { op, ...violation(400, 'invalid uid', `uid must be an integer in [1, 2^32-1] (a JSON number), got ${JSON.stringify(body.uid)}`) };
        }
        if (body.ip !== undefined && body.ip !== '') return { op, ...violation(400, 'invalid ip', `rtcgate never bans by ip; got ${JSON.stringify(body.ip)}`) };
        const dur = checkDuration(body);
        if (dur.error) return { op, ...violation(400, 'invalid time', dur.error) };
        // ---- publish rules (hard mutes): publish_audio / publish_video for one uid -------------
        const publishRule = checkPublishRule(body, dur);
        if (publishRule.error) return { op, ...violation(400, 'invalid privileges', publishRule.error) };
        if (!publishRule.isPublishRule && (!Array.isArray(body.privileges) || body.privileges.length !== 1 || body.privileges[0] !== 'join_channel')) {
          return { op, ...violation(400, 'invalid privileges', `privileges must be exactly ["join_channel"] or publish privileges, got ${JSON.stringify(body.privileges)}`) };
        }
        return {
          op,
          exec: () => {
            const now = Date.now();
            const r = {
              id: nextRuleId++,
              opid: nextOpId++,
              appid: body.appid,
              cname: body.cname,
              uid: body.uid,
              ip: body.ip,
              privileges: [...body.privileges],
              seconds: dur.seconds,
              createdAt: now,
              updatedAt: now,
              expiresAt: dur.seconds > 0 ? now + dur.seconds * 1000 : null,
              deleted: false,
              request: body,
            };
            rules.push(r);
            // A publish rule keeps the user in the channel, unable to publish what it names.
            if (publishRule.isPublishRule) return jsonResponse(200, { status: 'success', id: r.id });
            if (r.uid !== undefined) {
              removeUser(r.cname, r.uid, r.id);
            } else {
              const c = channels.get(r.cname);
              if (c) {
                for (const uid of [...c.users.keys()]) removeUser(r.cname, uid, r.id);
                closedChannels.push({ channel: r.cname, ruleId: r.id, at: now });
              }
            }
            return jsonResponse(200, { status: 'success', id: r.id });
          },
        };
      }
      if (method === 'GET') {
        const op = 'ListKickingRules';
        const q = onlyQuery(ctx, ['appid']);
        if (q) return { op, ...q };
        if (ctx.query.appid !== appId) return { op, ...wrongAppId('query', ctx.query.appid) };
        return { op, exec: () => jsonResponse(200, { status: 'success', rules: activeRules().map(ruleJson) }) };
      }
      if (method === 'PUT') {
        const op = 'UpdateKickingRule';
        const { v, body } = jsonBody(ctx, ['appid', 'id', 'time', 'time_in_seconds']);
        if (v) return { op, ...v };
        if (!Number.isInteger(body.id)) return { op, ...violation(400, 'invalid id', `id must be an integer, got ${JSON.stringify(body.id)}`) };
        const dur = checkDuration(body);
        if (dur.error) return { op, ...violation(400, 'invalid time', dur.error) };
        return {
          op,
          exec: () => {
            const r = rules.find((x) => x.id === body.id && !x.deleted);
            if (!r) return err(404, 'rule not found');
            const now = Date.now();
            r.seconds = dur.seconds;
            r.updatedAt = now;
            r.expiresAt = dur.seconds > 0 ? now + dur.seconds * 1000 : null;
            return jsonResponse(200, { status: 'success', result: { id: r.id, ts: new Date(r.expiresAt ?? now).toISOString() } });
          },
        };
      }
      if (method === 'DELETE') {
        const op = 'DeleteKickingRule';
        const { v, body } = jsonBody(ctx, ['appid', 'id']);
        if (v) return { op, ...v };
        if (!Number.isInteger(body.id)) return { op, ...violation(400, 'invalid id', `id must be an integer, got ${JSON.stringify(body.id)}`) };
        return {
          op,
          exec: () => {
            const r = rules.find((x) => x.id === body.id && !x.deleted);
            if (!r) return err(404, 'rule not found');
            r.deleted = true;
            r.updatedAt = Date.now();
            return jsonResponse(200, { status: 'success', id: r.id });
          },
        };
      }
      return violation(404, 'Not Found', `${method} /dev/v1/kicking-rule`);
    }

    return violation(404, 'Not Found', `no such endpoint: ${method} ${path}`);
  }

  const handle = await startStandIn({
    name: 'agora',
    port,
    host,
    route,
    faultBody: (status) => jsonResponse(status, { message: 'stand-in fault' }),
    onReset: () => {
      channels.clear();
      channelModes.clear();
      rules.length = 0;
      kicked.length = 0;
      closedChannels.length = 0;
      recording.clear();
      mediaPush.clear();
    },
  });

  const closeStandIn = handle.close;
  return Object.assign(handle, {
    appId,
    customerId,
    /** The Authorization header value the stand-in expects. */
    authorization: expectedAuth,
    channels,
    rules,
    kicked,
    closedChannels,
    /** Cloud Recording tasks by sid: { sid, resourceId, cname, uid, status, published, storage, request }. */
    recordingTasks: recording.tasks,
    /** Moves a recording task to an Agora status (5 recording, 20 exited abnormally, 8 exited). */
    advanceRecording: recording.advanceRecording,
    /** The latest recording task of a channel. */
    recordingOf: recording.recordingOf,
    // ---- Media Push ----
    /** RTMP converters by id: { id, name, channel, rtmpUrl, state, sequence, request, updates }. */
    converters: mediaPush.converters,
    /** Moves a converter to an Agora state (`running`, `failed`). */
    setConverterState: mediaPush.setConverterState,
    /** Agora ends a converter on its own (`Idle Timeout`, `Internal Error`): gone, and notified. */
    destroyConverter: mediaPush.destroyConverter,
    converterNamed: mediaPush.converterNamed,
    /** Set a channel's profile (1 COMMUNICATION, 2 LIVE_BROADCASTING) before/after users join. */
    seedChannel(name, { mode = 1 } = {}) {
      if (mode !== 1 && mode !== 2) throw new TypeError('mode must be 1 or 2');
      channelModes.set(name, mode);
      const c = channels.get(name);
      if (c) c.mode = mode;
      return handle;
    },
    /**
     * A user joins a channel. uid: integer in [1, 2^32-1]. opts: { role: 'broadcaster'|'audience',
     * force }. Returns false (and does not join) if an active join_channel rule bans the user,
     * unless force is set.
     */
    seedUser(channel, uid, opts = {}) {
      if (!isUint32(uid)) throw new TypeError(`seedUser: uid must be an integer in [1, 2^32-1], got ${uid}`);
      return joinUser(channel, uid, opts);
    },
    /** A user leaves without an API call. */
    dropUser(channel, uid) {
      return leaveUser(channel, uid, 1);
    },
    /** The NCS notifications posted (with notifyUrl): [{ kind ("{productId}/{eventType}"), body, headers, attempts, status, done }]. */
    notifications: notices.sent,
    /** Resolves once every notification queued so far was posted. */
    notificationsIdle: notices.idle,
    /** Stops posting (a pending retry is dropped), then closes the server. */
    async close() {
      notices.close();
      await closeStandIn();
    },
    /** uids currently in a channel. */
    usersIn(channel) {
      return [...(channels.get(channel)?.users.keys() ?? [])];
    },
    isBanned,
    /** Publish privileges a uid has lost in a channel (live publish rules), sorted. */
    publishBlocked,
    /** Rules with ban time left (what GET /dev/v1/kicking-rule lists). */
    activeRules,
  });
}
