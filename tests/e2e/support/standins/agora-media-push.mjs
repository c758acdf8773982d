// Agora Media Push ("RTMP converters") for the Agora stand-in (same host and Basic auth as the
// channel API).
//
// Sources (AgoraIO/Docs-Source, read, not copied): shared/media-push/develop/_restful-api.mdx and
// shared/media-push/reference/_restful-type-definition.mdx:
//  - POST /{region}/v1/projects/{appId}/rtmp-converters {converter:{name?, transcodeOptions |
//    rawOptions, rtmpUrl, idleTimeOut?, jitterBufferSizeMs?}} → {converter:{id, createTs, updateTs,
//    state}, fields}; region cn|ap|na|eu. `name` ≤ 64 of [A-Za-z0-9_-], unique per project: a taken
//    name is 409. rtmpUrl ≤ 1024 characters. transcodeOptions: rtcChannel (≤ 64), audioOptions,
//    videoOptions {canvas{width, height 66–1920}, layoutType 0|1, layout[{rtcStreamUid, region{xPos,
//    yPos, zIndex 0–100, width, height}}], bitrate 1–10000 (required), frameRate 1–30}.
//  - PATCH …/rtmp-converters/{id}?sequence=N (N ≥ 0, the highest wins), body as create, without the
//    fields that cannot change (name, idleTimeOut, rtcChannel).
//  - DELETE …/rtmp-converters/{id} → empty 2xx; GET …/rtmp-converters/{id} → the converter and its
//    state; a converter Agora does not have → 404.
//  - GET /v1/projects/{appId}/channels/{cname}/rtmp-converters → {success, data:{total_count, cursor,
//    members[{converterId, converterName, rtcChannel, rtmpUrl, state, …}]}}.
//  - state: connecting | running | failed. Error bodies are {message}.
// Deliberately stricter than Agora (violations, answered 400): unknown keys, a layout region outside
// the canvas, an update whose sequence is not above the converter's last one, a region other than the
// four, the wrong Content-Type.
//
// Lifecycle (controls on the handle): a new converter is `connecting`; setConverterState(id, state)
// moves it (`running`, `failed`); a deleted converter is gone (404), and so is one that
// destroyConverter(id, reason) ends at Agora ("Idle Timeout": everyone left for idleTimeOut seconds;
// "Internal Error"). With notifications on (notify.mjs), each step is notified as NCS product 5:
// created (1), configuration changed (2, on an update), state changed (3), destroyed (4).

import { jsonResponse, mediaType, randomId } from './common.mjs';

const REGIONS = ['cn', 'ap', 'na', 'eu'];
const NAME = /^[A-Za-z0-9_-]{1,64}$/;

const unknownKeys = (obj, allowed) => Object.keys(obj ?? {}).filter((k) => !allowed.includes(k));
const isInt = (v, lo, hi) => Number.isInteger(v) && v >= lo && v <= hi;
const message = (status, text) => jsonResponse(status, { message: text });

function videoProblem(v) {
  const bad = unknownKeys(v, ['canvas', 'layoutType', 'layout', 'vertical', 'defaultPlaceholderImageUrl', 'bitrate', 'frameRate', 'gop', 'codec', 'codecProfile', 'seiOptions']);
  if (bad.length) return `unknown videoOptions keys: ${bad.join(', ')}`;
  if (!isInt(v.bitrate, 1, 10000)) return `videoOptions.bitrate ${JSON.stringify(v.bitrate)} (required, 1–10000)`;
  if (v.frameRate !== undefined && !isInt(v.frameRate, 1, 30)) return `videoOptions.frameRate ${v.frameRate}`;
  const c = v.canvas;
  if (!c || !isInt(c.width, 66, 1920) || !isInt(c.height, 66, 1920)) return `videoOptions.canvas ${JSON.stringify(c)}`;
  if (v.layoutType !== undefined && ![0, 1].includes(v.layoutType)) return `layoutType ${v.layoutType}`;
  for (const item of v.layout ?? []) {
    if (!Number.isInteger(item.rtcStreamUid)) return `layout rtcStreamUid ${JSON.stringify(item.rtcStreamUid)} is not a number`;
    const r = item.region;
    if (!r || ![r.xPos, r.yPos, r.width, r.height].every(Number.isInteger)) return `layout region ${JSON.stringify(r)}`;
    if (r.zIndex !== undefined && !isInt(r.zIndex, 0, 100)) return `layout zIndex ${r.zIndex}`;
    if (r.xPos + r.width > c.width || r.yPos + r.height > c.height) return `layout region ${JSON.stringify(r)} outside the ${c.width}×${c.height} canvas`;
  }
  return null;
}

function createProblem(b) {
  let bad = unknownKeys(b, ['converter']);
  if (bad.length || !b.converter || typeof b.converter !== 'object') return `body must be {converter:{…}}, got keys ${Object.keys(b ?? {}).join(', ')}`;
  const c = b.converter;
  bad = unknownKeys(c, ['name', 'transcodeOptions', 'rawOptions', 'rtmpUrl', 'idleTimeOut', 'idleTimeout', 'jitterBufferSizeMs']);
  if (bad.length) return `unknown converter keys: ${bad.join(', ')}`;
  if (c.name !== undefined && (typeof c.name !== 'string' || !NAME.test(c.name))) return `name ${JSON.stringify(c.name)}`;
  if (typeof c.rtmpUrl !== 'string' || c.rtmpUrl.length > 1024 || !/^rtmps?:\/\/[^/\s]+\/\S+$/i.test(c.rtmpUrl)) return 'rtmpUrl is not an RTMP address';
  if (Boolean(c.transcodeOptions) === Boolean(c.rawOptions)) return 'exactly one of transcodeOptions and rawOptions';
  const t = c.transcodeOptions;
  if (t) {
    bad = unknownKeys(t, ['rtcChannel', 'audioOptions', 'videoOptions']);
    if (bad.length) return `unknown transcodeOptions keys: ${bad.join(', ')}`;
    if (typeof t.rtcChannel !== 'string' || t.rtcChannel === '' || t.rtcChannel.length > 64) return `rtcChannel ${JSON.stringify(t.rtcChannel)}`;
    if (!t.audioOptions && !t.videoOptions) return 'neither audioOptions nor videoOptions';
    if (t.videoOptions) return videoProblem(t.videoOptions);
  }
  return null;
}

function updateProblem(b) {
  if (!b?.converter || typeof b.converter !== 'object') return 'body must be {converter:{…}}';
  const c = b.converter;
  for (const fixed of ['name', 'idleTimeOut', 'idleTimeout']) if (fixed in c) return `${fixed} cannot be updated`;
  if (c.transcodeOptions?.rtcChannel !== undefined) return 'rtcChannel cannot be updated';
  if (c.transcodeOptions?.videoOptions) return videoProblem(c.transcodeOptions.videoOptions);
  return null;
}

/**
 * @param {object} o
 * @param {string} o.appId
 * @param {object} o.notices  notify.mjs agoraNotices (posts nothing unless notifications are on)
 */
export function agoraMediaPush({ appId, notices }) {
  /** id → { id, name, channel, rtmpUrl, idleTimeout, state, sequence, request, updates: [body], createTs, updateTs } */
  const converters = new Map();
  const violation = (error) => ({ reject: message(400, 'invalid parameter'), error });
  const json = (ctx) => (mediaType(ctx.headers['content-type']) === 'application/json' && ctx.body && typeof ctx.body === 'object' ? ctx.body : null);
  const view = (c) => ({ converter: { id: c.id, name: c.name, createTs: c.createTs, updateTs: c.updateTs, state: c.state, rtmpUrl: c.rtmpUrl }, fields: 'id,createTs,updateTs,state' });

  /** The route for a Media Push path, or null for other paths. */
  function route(ctx) {
    let m;
    const p = `/v1/projects/${appId}`;
    if ((m = /^\/v1\/projects\/([^/]+)\/channels\/([^/]+)\/rtmp-converters$/.exec(ctx.path))) {
      const op = 'ListConverters';
      if (m[1] !== appId) return { op, ...violation(`wrong appId ${m[1]}`) };
      if (ctx.method !== 'GET') return { op, ...violation(`${ctx.method} on the converter list`) };
      const channel = decodeURIComponent(m[2]);
      return {
        op,
        exec: () => {
          const members = [...converters.values()].filter((c) => c.channel === channel).map((c) => ({
            converterId: c.id, converterName: c.name, rtcChannel: c.channel, rtmpUrl: c.rtmpUrl, state: c.state, idleTimeout: 300, create: c.createTs, updateTs: c.updateTs, appId,
          }));
          return jsonResponse(200, { success: true, data: { total_count: members.length, cursor: 0, members } });
        },
      };
    }
    if (!(m = /^\/([^/]+)(\/v1\/projects\/[^/]+)\/rtmp-converters(?:\/([^/]+))?$/.exec(ctx.path))) return null;
    const [, region, projectPath, id] = m;
    const op = id ? `${ctx.method} converter` : 'CreateConverter';
    if (!REGIONS.includes(region)) return { op, ...violation(`region ${region} is not one of ${REGIONS.join(', ')}`) };
    if (projectPath !== p) return { op, ...violation(`wrong appId in ${projectPath}`) };
    if (!id) {
      if (ctx.method !== 'POST') return { op, ...violation(`${ctx.method} on the converter collection`) };
      const body = json(ctx);
      if (!body) return { op, ...violation('not a JSON body') };
      const problem = createProblem(body);
      if (problem) return { op, ...violation(problem) };
      return {
        op,
        exec: () => {
          const c = body.converter;
          if (c.name && [...converters.values()].some((x) => x.name === c.name)) return message(409, 'converter name already exists');
          const now = Math.floor(Date.now() / 1000);
          const conv = { id: randomId('', 32), name: c.name ?? '', channel: c.transcodeOptions?.rtcChannel ?? c.rawOptions?.rtcChannel, rtmpUrl: c.rtmpUrl, idleTimeout: c.idleTimeOut ?? 300, state: 'connecting', sequence: -1, request: body, updates: [], createTs: now, updateTs: now };
          converters.set(conv.id, conv);
          notices.converterCreated(conv);
          return jsonResponse(200, view(conv));
        },
      };
    }
    const conv = converters.get(decodeURIComponent(id));
    if (ctx.method === 'GET' || ctx.method === 'DELETE') {
      return {
        op,
        exec: () => {
          if (!conv) return message(404, 'converter not found');
          if (ctx.method === 'DELETE') {
            destroy(conv, 'Delete Request');
            return { status: 200, headers: {}, body: '' };
          }
          return jsonResponse(200, view(conv));
        },
      };
    }
    if (ctx.method !== 'PATCH') return { op, ...violation(`${ctx.method} on a converter`) };
    const seq = ctx.query.sequence;
    if (typeof seq !== 'string' || !/^\d+$/.test(seq)) return { op, ...violation(`sequence ${JSON.stringify(seq)} is required, a number ≥ 0`) };
    const body = json(ctx);
    if (!body) return { op, ...violation('not a JSON body') };
    const problem = updateProblem(body);
    if (problem) return { op, ...violation(problem) };
    if (conv && Number(seq) <= conv.sequence) return { op, ...violation(`sequence ${seq} is not above the converter's last ${conv.sequence}`) };
    return {
      op,
      exec: () => {
        if (!conv) return message(404, 'converter not found');
        conv.sequence = Number(seq);
        conv.updates.push(body);
        conv.updateTs = Math.floor(Date.now() / 1000);
        notices.converterUpdated(conv, body.converter);
        return jsonResponse(200, view(conv));
      },
    };
  }

  const destroy = (conv, reason) => {
    converters.delete(conv.id);
    notices.converterDestroyed(conv, reason);
  };
  const converter = (id) => {
    const c = converters.get(id);
    if (!c) throw new Error(`no converter ${id}`);
    return c;
  };

  return {
    route,
    converters,
    /** Moves a converter to an Agora state (`running`, `failed`). */
    setConverterState(id, state) {
      if (!['connecting', 'running', 'failed'].includes(state)) throw new TypeError(`converter state ${state}`);
      const c = converter(id);
      if (c.state === state) return;
      c.state = state;
      notices.converterStateChanged(c);
    },
    /** Agora ends a converter on its own: `Idle Timeout` or `Internal Error`. */
    destroyConverter(id, reason) {
      if (!['Idle Timeout', 'Internal Error'].includes(reason)) throw new TypeError(`destroy reason ${reason}`);
      destroy(converter(id), reason);
    },
    /** The converter of a name. */
    converterNamed(name) {
      return [...converters.values()].find((c) => c.name === name);
    },
    clear() {
      converters.clear();
    },
  };
}
