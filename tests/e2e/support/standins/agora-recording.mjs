// Agora Cloud Recording for the Agora stand-in (same host and Basic auth as the channel API).
//
// Sources (AgoraIO/Docs-Source, read, not copied): cloud-recording/rest-api/{acquire,start,query,stop,
// status-codes}.mdx and cloud-recording/reference/region-vendor.mdx, rendered under
// https://docs.agora.io/en/api-reference/api-ref/cloud-recording (…/acquire, …/start, …/status-codes):
//  - POST /v1/apps/{appid}/cloud_recording/acquire {cname, uid: "<decimal>", clientRequest:{scene,
//    resourceExpiredHour 1–720, region, startParameter, excludeResourceIds}} → {cname, uid, resourceId}.
//    A resource id is single use and valid five minutes.
//  - POST …/resourceid/{rid}/mode/{individual|mix|web}/start {cname, uid (as acquired), clientRequest:
//    {token, storageConfig, recordingConfig, recordingFileConfig, …}} → {cname, uid, resourceId, sid}.
//    The recorder joins the channel as `uid`, which must not be any user's uid. storageConfig: vendor
//    (1 S3, 2 Alibaba, 3 Tencent, 5 Azure, 6 Google, 7 Huawei, 8 Baidu, 11 S3-compatible with
//    extensionParams.endpoint), region (number), bucket, accessKey, secretKey, fileNamePrefix (names of
//    a-zA-Z0-9, ≤128 characters in all). recordingFileConfig.avFileType ["hls"] or ["hls","mp4"]
//    (["mp4"] alone is refused in mix mode).
//  - GET …/resourceid/{rid}/sid/{sid}/mode/{mode}/query → {resourceId, sid, serverResponse:{status,
//    fileListMode, fileList, sliceStartTime}}; only while the task is alive, else 404 code 404.
//  - POST …/sid/{sid}/mode/{mode}/stop {cname, uid, clientRequest:{async_stop}} → serverResponse
//    {uploadingStatus, fileListMode, fileList}.
//  - Codes: start with a resource id already started → 201 {code 7}; a second task for a running
//    cname+uid → 400 {code 53}; stop when nobody published → 206 {code 435}; stop of an exiting task →
//    400 {code 49}; an unknown task → 404 {code 404}. Error bodies are {code, reason}.
// The answer to a start sent again with the resource id of a running task carries that task's sid (as
// start answers do); Agora's docs show the code only — an assumption the Worker documents.
//
// Deliberately stricter than Agora (violations, answered 400 {code 2}): unknown keys, a token that
// Agora's own library (npm agora-token) does not accept for this channel and uid, a recorder uid that is
// a user's, a resource id that was never acquired or is reused for another cname/uid, the wrong
// Content-Type, modes other than `mix`.
//
// Task lifecycle (controls on the handle): started tasks are at status 4 ("ready"); advanceRecording(sid,
// status) moves one (5 recording, 20 exited abnormally — then query answers 404); markPublished(sid)
// makes its stop return files; a task at 5 lists its m3u8 and mp4.

import { createRequire } from 'node:module';
import { jsonResponse, mediaType, randomId } from './common.mjs';

const require = createRequire(import.meta.url);
const { AccessToken2, kRtcServiceType } = require('agora-token/src/AccessToken2');

const RESOURCE_TTL_MS = 5 * 60 * 1000;
const STORAGE_VENDORS = [1, 2, 3, 5, 6, 7, 8, 11];
const S3_REGIONS = new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 21, 22, 24, 25]);
const ALIVE = new Set([0, 1, 2, 3, 4, 5, 6]);

const codeBody = (status, code, reason, extra = {}) => jsonResponse(status, { code, reason, ...extra });

function unknownKeys(obj, allowed) {
  return Object.keys(obj ?? {}).filter((k) => !allowed.includes(k));
}

/**
 * @param {object} o
 * @param {string} o.appId
 * @param {string} [o.certificate]  when set, the bot's token is checked with agora-token
 * @param {(channel: string, uid: number) => boolean} o.isUser  whether a person has that uid in the channel
 * @param {(channel: string, uid: number) => void} o.join  the recorder joins the channel
 * @param {(channel: string, uid: number) => void} o.leave
 */
export function agoraCloudRecording({ appId, certificate, isUser, join, leave }) {
  /** resourceId → { cname, uid, at, usedBy: sid | null } */
  const resources = new Map();
  /** sid → { sid, resourceId, cname, uid, status, published, storage, request, startedAt, stoppedAt } */
  const tasks = new Map();
  const violation = (error) => ({ reject: codeBody(400, 2, 'invalid parameter'), error });

  function tokenProblem(token, cname, uid) {
    if (typeof token !== 'string' || token === '') return 'clientRequest.token is required (the App Certificate is on)';
    if (!certificate) return null;
    const t = new AccessToken2();
    if (!t.from_string(token)) return 'token does not parse (agora-token)';
    if (!t.verifySignature(certificate)) return 'token signature does not verify (agora-token)';
    const rtc = t.getServices(kRtcServiceType);
    if (rtc.length !== 1) return 'token has no single RTC service';
    const s = rtc[0];
    if (s.__channel_name.toString() !== cname) return `token is for channel ${s.__channel_name}, not ${cname}`;
    if (s.__uid.toString() !== uid) return `token is for uid ${JSON.stringify(s.__uid.toString())}, not ${uid}`;
    if (!(1 in s.__privileges)) return 'token lacks the join-channel privilege';
    const expiresAt = (t.issueTs + t.expire) * 1000;
    if (expiresAt < Date.now() + 60 * 60 * 1000) return 'token expires within the hour; recorder tokens are never renewed';
    return null;
  }

  function storageProblem(sc) {
    if (!sc || typeof sc !== 'object') return 'clientRequest.storageConfig is required';
    const bad = unknownKeys(sc, ['vendor', 'region', 'bucket', 'accessKey', 'secretKey', 'stsToken', 'stsExpiration', 'fileNamePrefix', 'extensionParams']);
    if (bad.length) return `unknown storageConfig keys: ${bad.join(', ')}`;
    if (!STORAGE_VENDORS.includes(sc.vendor)) return `storageConfig.vendor ${JSON.stringify(sc.vendor)} is not an Agora storage vendor`;
    if (!Number.isInteger(sc.region)) return 'storageConfig.region must be a number';
    if (sc.vendor === 1 && !S3_REGIONS.has(sc.region)) return `storageConfig.region ${sc.region} is no Amazon S3 region code`;
    if (sc.vendor === 11 && typeof sc.extensionParams?.endpoint !== 'string') return 'vendor 11 needs extensionParams.endpoint';
    for (const k of ['bucket', 'accessKey', 'secretKey']) {
      if (typeof sc[k] !== 'string' || sc[k] === '') return `storageConfig.${k} is required`;
    }
    if (sc.fileNamePrefix !== undefined) {
      if (!Array.isArray(sc.fileNamePrefix) || sc.fileNamePrefix.some((p) => typeof p !== 'string' || !/^[A-Za-z0-9]+$/.test(p))) {
        return `fileNamePrefix must be names of letters and digits, got ${JSON.stringify(sc.fileNamePrefix)}`;
      }
      if (sc.fileNamePrefix.join('/').length > 128) return 'fileNamePrefix longer than 128 characters';
    }
    return null;
  }

  function recordingProblem(rc, fc) {
    if (!rc || typeof rc !== 'object') return 'clientRequest.recordingConfig is required in mix mode';
    const bad = unknownKeys(rc, ['channelType', 'decryptionMode', 'secret', 'salt', 'maxIdleTime', 'streamTypes', 'videoStreamType',
      'subscribeAudioUids', 'unsubscribeAudioUids', 'subscribeVideoUids', 'unsubscribeVideoUids', 'subscribeUidGroup', 'audioProfile', 'transcodingConfig']);
    if (bad.length) return `unknown recordingConfig keys: ${bad.join(', ')}`;
    if (![0, 1].includes(rc.channelType)) return 'recordingConfig.channelType must be 0 or 1';
    if (rc.maxIdleTime !== undefined && !(Number.isInteger(rc.maxIdleTime) && rc.maxIdleTime >= 5 && rc.maxIdleTime <= 2592000)) return 'maxIdleTime outside [5, 2592000]';
    if (![0, 1, 2].includes(rc.streamTypes ?? 2)) return 'streamTypes must be 0, 1 or 2';
    if (rc.subscribeAudioUids && rc.unsubscribeAudioUids) return 'subscribeAudioUids with unsubscribeAudioUids';
    const tc = rc.transcodingConfig;
    if (tc !== undefined) {
      const badT = unknownKeys(tc, ['width', 'height', 'fps', 'bitrate', 'maxResolutionUid', 'mixedVideoLayout', 'backgroundColor', 'backgroundImage', 'defaultUserBackgroundImage', 'layoutConfig', 'backgroundConfig']);
      if (badT.length) return `unknown transcodingConfig keys: ${badT.join(', ')}`;
      if ((tc.width ?? 360) * (tc.height ?? 640) > 1920 * 1080) return 'width × height above 1920 × 1080';
      if (![0, 1, 2, 3].includes(tc.mixedVideoLayout ?? 0)) return `mixedVideoLayout ${tc.mixedVideoLayout}`;
      if (tc.mixedVideoLayout === 3 && !Array.isArray(tc.layoutConfig)) return 'custom layout without layoutConfig';
    }
    if (fc !== undefined) {
      const types = fc.avFileType;
      const ok = Array.isArray(types) && (JSON.stringify(types) === '["hls"]' || JSON.stringify(types) === '["hls","mp4"]');
      if (!ok) return `avFileType ${JSON.stringify(types)} (mix mode takes ["hls"] or ["hls","mp4"])`;
    }
    return null;
  }

  function jsonOf(ctx) {
    if (mediaType(ctx.headers['content-type']) !== 'application/json') return { v: violation(`Content-Type ${JSON.stringify(ctx.headers['content-type'] ?? '')}`) };
    if (!ctx.body || typeof ctx.body !== 'object' || Array.isArray(ctx.body)) return { v: violation('body is not a JSON object') };
    return { body: ctx.body };
  }

  const files = (t) => {
    const prefix = t.storage.fileNamePrefix?.length ? `${t.storage.fileNamePrefix.join('/')}/` : '';
    return [
      { fileName: `${prefix}${t.sid}_${t.cname}.m3u8`, trackType: 'audio_and_video', uid: '0', mixedAllUser: true, isPlayable: true, sliceStartTime: t.startedAt },
      { fileName: `${prefix}${t.sid}_${t.cname}_0.mp4`, trackType: 'audio_and_video', uid: '0', mixedAllUser: true, isPlayable: true, sliceStartTime: t.startedAt },
    ];
  };

  /** The route for a cloud_recording path, or null for other paths. */
  function route(ctx) {
    const prefix = `/v1/apps/${appId}/cloud_recording/`;
    if (!ctx.path.startsWith('/v1/apps/')) return null;
    if (!ctx.path.startsWith(prefix)) return { op: 'CloudRecording', ...violation(`wrong appid in path ${ctx.path}`) };
    const rest = ctx.path.slice(prefix.length);
    let m;
    if (rest === 'acquire') {
      const op = 'CloudRecordingAcquire';
      if (ctx.method !== 'POST') return { op, ...violation(`${ctx.method} acquire`) };
      const { v, body } = jsonOf(ctx);
      if (v) return { op, ...v };
      const bad = unknownKeys(body, ['cname', 'uid', 'clientRequest']);
      if (bad.length) return { op, ...violation(`unknown acquire keys: ${bad.join(', ')}`) };
      if (typeof body.cname !== 'string' || body.cname === '') return { op, ...violation('cname is required') };
      if (typeof body.uid !== 'string' || !/^[1-9]\d{0,9}$/.test(body.uid) || Number(body.uid) > 2 ** 32 - 1) return { op, ...violation(`uid must be a decimal string in [1, 2^32-1], got ${JSON.stringify(body.uid)}`) };
      const cr = body.clientRequest ?? {};
      const badC = unknownKeys(cr, ['scene', 'resourceExpiredHour', 'excludeResourceIds', 'region', 'startParameter']);
      if (badC.length) return { op, ...violation(`unknown clientRequest keys: ${badC.join(', ')}`) };
      if (cr.resourceExpiredHour !== undefined && !(Number.isInteger(cr.resourceExpiredHour) && cr.resourceExpiredHour >= 1 && cr.resourceExpiredHour <= 720)) {
        return { op, reject: codeBody(400, 2, 'Acquire: invalid resourceExpiredHour value!'), error: 'resourceExpiredHour outside [1,720]' };
      }
      return {
        op,
        exec: () => {
          const resourceId = randomId('', 40) + '-' + randomId('', 20) + '_' + randomId('', 8);
          resources.set(resourceId, { cname: body.cname, uid: body.uid, at: Date.now(), usedBy: null });
          return jsonResponse(200, { cname: body.cname, uid: body.uid, resourceId });
        },
      };
    }
    if ((m = /^resourceid\/([^/]+)\/mode\/([^/]+)\/start$/.exec(rest))) {
      const op = 'CloudRecordingStart';
      if (ctx.method !== 'POST') return { op, ...violation(`${ctx.method} start`) };
      const [, rid, mode] = m;
      if (mode !== 'mix') return { op, ...violation(`mode ${mode}: rtcgate records in mix mode`) };
      const { v, body } = jsonOf(ctx);
      if (v) return { op, ...v };
      const bad = unknownKeys(body, ['cname', 'uid', 'clientRequest']);
      if (bad.length) return { op, ...violation(`unknown start keys: ${bad.join(', ')}`) };
      const res = resources.get(rid);
      if (!res) return { op, ...violation(`resource id ${rid.slice(0, 12)}… was never acquired`) };
      if (res.cname !== body.cname || res.uid !== body.uid) return { op, ...violation('cname/uid differ from the acquire request') };
      if (!res.usedBy && Date.now() - res.at > RESOURCE_TTL_MS) return { op, ...violation('resource id older than five minutes') };
      const cr = body.clientRequest ?? {};
      const badC = unknownKeys(cr, ['token', 'storageConfig', 'recordingConfig', 'recordingFileConfig', 'snapshotConfig', 'extensionServiceConfig', 'appsCollection', 'transcodeOptions']);
      if (badC.length) return { op, ...violation(`unknown clientRequest keys: ${badC.join(', ')}`) };
      const problem = tokenProblem(cr.token, body.cname, body.uid) ?? storageProblem(cr.storageConfig) ?? recordingProblem(cr.recordingConfig, cr.recordingFileConfig);
      if (problem) return { op, ...violation(problem) };
      const uid = Number(body.uid);
      return {
        op,
        exec: () => {
          if (res.usedBy) {
            const t = tasks.get(res.usedBy);
            return jsonResponse(201, { cname: body.cname, uid: body.uid, resourceId: rid, sid: t?.sid ?? '', code: 7, reason: 'already started' });
          }
          const running = [...tasks.values()].find((t) => t.cname === body.cname && t.uid === body.uid && ALIVE.has(t.status));
          if (running) return codeBody(400, 53, 'task conflict');
          if (isUser(body.cname, uid)) return { ...codeBody(400, 2, 'invalid parameter'), violation: `recorder uid ${uid} is a user's uid in ${body.cname}` };
          const sid = randomId('', 32).toLowerCase();
          res.usedBy = sid;
          tasks.set(sid, { sid, resourceId: rid, cname: body.cname, uid: body.uid, status: 4, published: false, storage: cr.storageConfig, request: body, startedAt: Date.now(), stoppedAt: null });
          join(body.cname, uid);
          return jsonResponse(200, { cname: body.cname, uid: body.uid, resourceId: rid, sid });
        },
      };
    }
    if ((m = /^resourceid\/([^/]+)\/sid\/([^/]+)\/mode\/([^/]+)\/(query|stop)$/.exec(rest))) {
      const [, rid, sid, mode, verb] = m;
      const op = verb === 'query' ? 'CloudRecordingQuery' : 'CloudRecordingStop';
      if (mode !== 'mix') return { op, ...violation(`mode ${mode}`) };
      if (verb === 'query') {
        if (ctx.method !== 'GET') return { op, ...violation(`${ctx.method} query`) };
        return {
          op,
          exec: () => {
            const t = tasks.get(sid);
            if (!t || t.resourceId !== rid || !ALIVE.has(t.status)) return codeBody(404, 404, 'failed to find worker');
            const fileList = t.status === 5 ? files(t) : [];
            return jsonResponse(200, { resourceId: rid, sid, serverResponse: { status: t.status, fileListMode: 'json', fileList, sliceStartTime: t.startedAt } });
          },
        };
      }
      if (ctx.method !== 'POST') return { op, ...violation(`${ctx.method} stop`) };
      const { v, body } = jsonOf(ctx);
      if (v) return { op, ...v };
      const bad = unknownKeys(body, ['cname', 'uid', 'clientRequest']);
      if (bad.length) return { op, ...violation(`unknown stop keys: ${bad.join(', ')}`) };
      const badC = unknownKeys(body.clientRequest ?? {}, ['async_stop']);
      if (badC.length) return { op, ...violation(`unknown clientRequest keys: ${badC.join(', ')}`) };
      return {
        op,
        exec: () => {
          const t = tasks.get(sid);
          if (!t || t.resourceId !== rid) return codeBody(404, 404, 'failed to find worker');
          if (t.cname !== body.cname || t.uid !== body.uid) return { ...codeBody(400, 2, 'invalid parameter'), violation: 'stop names another cname/uid than the task' };
          if (t.status === 6 || t.status === 8) return codeBody(400, 49, 'invalid operation');
          if (!ALIVE.has(t.status)) return codeBody(404, 404, 'failed to find worker');
          t.status = 8;
          t.stoppedAt = Date.now();
          leave(t.cname, Number(t.uid));
          if (!t.published) return codeBody(206, 435, 'no recorded data', { resourceId: rid, sid });
          return jsonResponse(200, { resourceId: rid, sid, serverResponse: { uploadingStatus: 'uploaded', fileListMode: 'json', fileList: files(t) } });
        },
      };
    }
    return { op: 'CloudRecording', reject: jsonResponse(404, { message: 'no Route matched with those values' }), error: `no such cloud recording path ${ctx.method} ${ctx.path}` };
  }

  return {
    route,
    tasks,
    resources,
    /** Moves a task to an Agora status (5 recording: someone publishes; 20 exited abnormally; 8 exited). */
    advanceRecording(sid, status) {
      const t = tasks.get(sid);
      if (!t) throw new Error(`no recording task ${sid}`);
      t.status = status;
      if (status === 5) t.published = true;
      if (!ALIVE.has(status)) leave(t.cname, Number(t.uid));
    },
    /** The recorder `uid` was removed from `cname` (kicked): its running task exits. */
    recorderRemoved(cname, uid) {
      for (const t of tasks.values()) {
        if (t.cname === cname && t.uid === String(uid) && ALIVE.has(t.status)) t.status = 8;
      }
    },
    /** The task recording `cname`, if any (latest first). */
    recordingOf(cname) {
      return [...tasks.values()].filter((t) => t.cname === cname).pop();
    },
    clear() {
      resources.clear();
      tasks.clear();
    },
  };
}
