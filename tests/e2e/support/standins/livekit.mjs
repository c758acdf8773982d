// LiveKit server-API stand-in: Twirp (JSON) RoomService and Egress on loopback.
//
// Behaviour follows the real server; where this file is stricter than the server it says so.
// Sources (read, not copied):
//  - livekit/livekit pkg/service/auth.go — APIKeyAuthMiddleware: an Authorization header that does not
//    start with "Bearer ", a token that does not parse, an unknown API key, or a token that fails
//    verification is answered 401 with a PLAIN-TEXT body (HandleError in pkg/service/utils.go writes
//    err.Error()), before any Twirp routing. A request with no token at all passes the middleware and
//    each method then fails its grant check.
//  - livekit/livekit pkg/service/auth.go EnsureCreatePermission / EnsureListPermission /
//    EnsureRecordPermission / EnsureAdminPermission, and twirpAuthError(): a missing grant is a Twirp
//    `unauthenticated` error (HTTP 401) with msg "permissions denied" — NOT permission_denied/403.
//    EnsureAdminPermission requires video.roomAdmin AND video.room == the request's room.
//  - livekit/protocol auth/verifier.go: HS256 only, `exp` required, 60 s leeway. We verify with the
//    official livekit-server-sdk TokenVerifier (which also requires exp) at the server's 60 s
//    tolerance, and additionally insist on alg HS256 as the server does.
//  - livekit/livekit pkg/service/roomservice.go: CreateRoom is an upsert; DeleteRoom on a missing room →
//    ErrRoomNotFound (not_found, "requested room does not exist"); RemoveParticipant on a missing
//    participant → ErrParticipantNotFound (not_found, "participant does not exist"); GetParticipant
//    likewise; ListParticipants on a missing room → 200 with an empty list. Messages are from
//    pkg/service/errors.go.
//  - livekit/livekit pkg/service/egress.go: starting room-composite egress loads the room by name (a
//    missing room → not_found); StopEgress on an egress that is not STARTING/ACTIVE →
//    failed_precondition "egress with status <S> cannot be stopped"; an unknown id → not_found
//    "egress does not exist" (ErrEgressNotFound). psrpc errors reach the client as the Twirp error of
//    the same code and message (livekit/psrpc errors.go, psrpcError.As → toTwirp).
//    pkg/service/ioservice.go + redisstore.go ListEgress:
//    egress_id wins over the other filters; `active` keeps statuses below EGRESS_COMPLETE
//    (STARTING, ACTIVE, ENDING).
//  - livekit/livekit pkg/service/roommanager.go getOrCreateRoom (formerly in roomservice.go CreateRoom): when
//    CreateRoom creates the room (not when it returns an existing one) and carries `egress.room`, the server
//    sets that request's room_name to the room's name and starts the room-composite egress itself
//    (egressLauncher.StartEgress with RoomComposite = egress.room); a launch error fails the CreateRoom.
//  - livekit/livekit pkg/config/config.go: room defaults empty_timeout 300 s, departure_timeout 20 s.
//  - The real server, livekit-server 1.13.5 built from source and run on loopback without Redis
//    (tests/e2e/livekit_real.test.mjs compares this stand-in with it call for call):
//    - errors raised as psrpc errors (room/participant/egress not found) reach the client with the
//      msg "twirp error unknown: <message>";
//    - with `egress: false` (a server with no egress service, which is what a server without Redis
//      is): ListEgress and StopEgress answer `internal` "egress not connected (redis required)" at
//      once; StartRoomCompositeEgress on an existing room answers `unavailable` "no response from
//      servers" — the real server only after ~22 s (its egress request timing out), which a test
//      reproduces with a `delay` or `timeout` fault; on a missing room it is `not_found` at once.
//  - twitchtv/twirp (generated server code): only POST; Content-Type must be application/json or
//    application/protobuf (parameters after ';' ignored) else `bad_route` 404 with meta
//    twirp_invalid_route; an undecodable JSON body is `malformed` 400 ("the json request could not be
//    decoded"); error bodies are {"code","msg"} plus "meta" only when non-empty (twerrJSON has
//    `json:"meta,omitempty"` in livekit/protocol livekit/livekit_room.twirp.go). The server marshals responses
//    with protojson, proto field names, unpopulated fields emitted (null for unset messages), int64
//    as strings, enums as names (twirp v8 defaults; livekit sets no JSON options in server.go).
//
// Deliberately stricter than the server (each is a violation):
//  - unknown JSON keys (the server silently drops them; `@livekit/protocol` fromJson rejects them);
//    (an empty body, or one field given twice as snake_case and camelCase, is `malformed` on the real
//    server too: Twirp's JSON decoder hits EOF / protojson reports a duplicate field);
//  - application/protobuf (the real server accepts it; rtcgate must speak JSON);
//  - `?access_token=` instead of the Authorization header;
//  - start-egress requests with no outputs, an unknown template layout, audio_only+video_only,
//    or an S3/GCP/Azure output without a bucket/container (the real egress fails them later).
//  - Twirp methods that exist on the real server but that the stand-in does not implement answer
//    `unimplemented` 501 and are recorded as violations so the test notices.

import {
  CreateRoomRequest,
  DeleteRoomRequest,
  DeleteRoomResponse,
  EgressInfo,
  EgressSourceType,
  EgressStatus,
  FileInfo,
  ListEgressRequest,
  ListEgressResponse,
  ListParticipantsRequest,
  ListParticipantsResponse,
  ListRoomsRequest,
  ListRoomsResponse,
  MuteRoomTrackRequest,
  MuteRoomTrackResponse,
  ParticipantInfo,
  RemoveParticipantResponse,
  Room,
  RoomCompositeEgressRequest,
  RoomParticipantIdentity,
  SendDataRequest,
  SendDataResponse,
  StopEgressRequest,
  StreamInfo,
  StreamInfo_Status,
  UpdateStreamRequest,
  UpdateParticipantRequest,
  UpdateRoomMetadataRequest,
} from '@livekit/protocol';
import { TokenVerifier } from 'livekit-server-sdk';
import { jsonResponse, mediaType, randomId, startStandIn, textResponse } from './common.mjs';

/** Twirp error code → HTTP status (twitchtv/twirp errors.go ServerHTTPStatusFromErrorCode). */
export const TWIRP_STATUS = Object.freeze({
  canceled: 408,
  unknown: 500,
  invalid_argument: 400,
  malformed: 400,
  deadline_exceeded: 408,
  not_found: 404,
  bad_route: 404,
  already_exists: 409,
  permission_denied: 403,
  unauthenticated: 401,
  resource_exhausted: 429,
  failed_precondition: 412,
  aborted: 409,
  out_of_range: 400,
  unimplemented: 501,
  internal: 500,
  unavailable: 503,
  data_loss: 500,
});

const STATUS_TO_CODE = {
  400: 'invalid_argument',
  401: 'unauthenticated',
  403: 'permission_denied',
  404: 'not_found',
  408: 'deadline_exceeded',
  409: 'aborted',
  412: 'failed_precondition',
  429: 'resource_exhausted',
  500: 'internal',
  501: 'unimplemented',
  502: 'unavailable',
  503: 'unavailable',
  504: 'deadline_exceeded',
};

/**
 * A Twirp error response. The generated Twirp server marshals `meta` with `omitempty`
 * (livekit/protocol livekit/*.twirp.go, type twerrJSON), so an empty meta is left out.
 */
export function twirpError(code, msg, meta = {}) {
  const status = TWIRP_STATUS[code] ?? 500;
  const body = { code, msg };
  if (meta && Object.keys(meta).length > 0) body.meta = meta;
  return jsonResponse(status, body);
}

// `json_name`-aware recursive check for a field given twice (snake_case and camelCase spellings).
function duplicateFieldError(json, type, path = '') {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return null;
  const seen = new Map();
  for (const key of Object.keys(json)) {
    const field = type.fields.findJsonName(key);
    if (!field) continue; // unknown keys are reported by fromJson
    if (seen.has(field.no)) return `${path}${key}: field ${field.name} given twice (as "${seen.get(field.no)}" and "${key}")`;
    seen.set(field.no, key);
    const v = json[key];
    if (field.kind === 'message' && field.T.typeName.startsWith('livekit.')) {
      if (field.repeated && Array.isArray(v)) {
        for (let i = 0; i < v.length; i += 1) {
          const e = duplicateFieldError(v[i], field.T, `${path}${key}[${i}].`);
          if (e) return e;
        }
      } else {
        const e = duplicateFieldError(v, field.T, `${path}${key}.`);
        if (e) return e;
      }
    } else if (field.kind === 'map' && field.V.kind === 'message' && v && typeof v === 'object') {
      for (const [mk, mv] of Object.entries(v)) {
        const e = duplicateFieldError(mv, field.V.T, `${path}${key}.${mk}.`);
        if (e) return e;
      }
    }
  }
  return null;
}

// protojson (EmitUnpopulated) writes `null` for a singular message field that is unset; protobuf-es
// omits it. Fill those in so the response carries every field, as the real server's does.
function fillUnsetMessages(msg, json) {
  if (!msg || !json || typeof json !== 'object') return json;
  for (const f of msg.getType().fields.list()) {
    if (f.oneof) {
      const o = msg[f.oneof.localName];
      if (o?.case === f.localName && f.kind === 'message' && o.value?.getType) fillUnsetMessages(o.value, json[f.name]);
      continue;
    }
    const v = msg[f.localName];
    if (f.kind === 'message') {
      if (f.repeated) {
        v.forEach((m, i) => m?.getType && fillUnsetMessages(m, json[f.name]?.[i]));
      } else if (v === undefined) {
        json[f.name] = null;
      } else if (v?.getType && !f.T.typeName.startsWith('google.protobuf.')) {
        fillUnsetMessages(v, json[f.name]);
      }
    } else if (f.kind === 'map' && f.V.kind === 'message') {
      for (const [k, m] of Object.entries(v ?? {})) if (m?.getType) fillUnsetMessages(m, json[f.name]?.[k]);
    }
  }
  return json;
}

/** A protocol message as the real server writes it: snake_case, every field, int64 strings, enum names. */
export function serverJson(msg) {
  return fillUnsetMessages(msg, msg.toJson({ emitDefaultValues: true, useProtoFieldName: true }));
}

function decodeJwtPart(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

const nowSec = () => Math.floor(Date.now() / 1000);
const nowNs = () => BigInt(Date.now()) * 1_000_000n;

// The codecs a room enables by default (livekit/livekit pkg/config/config.go DefaultConfig), which
// the real server lists in every Room it answers with.
const DEFAULT_CODECS = ['audio/PCMU', 'audio/PCMA', 'audio/opus', 'audio/red', 'video/VP8', 'video/H264', 'video/VP9', 'video/AV1', 'video/H265', 'video/rtx'];

const LAYOUTS = new Set(['', 'grid', 'speaker', 'single-speaker', 'grid-light', 'speaker-light', 'single-speaker-light']);
const FINISHED = new Set([
  EgressStatus.EGRESS_COMPLETE,
  EgressStatus.EGRESS_FAILED,
  EgressStatus.EGRESS_ABORTED,
  EgressStatus.EGRESS_LIMIT_REACHED,
]);

// Methods that exist on the real services but which the stand-in does not implement.
const KNOWN_UNIMPLEMENTED = {
  RoomService: ['UpdateSubscriptions', 'ForwardParticipant', 'MoveParticipant', 'PerformRpc'],
  Egress: ['StartWebEgress', 'StartParticipantEgress', 'StartTrackCompositeEgress', 'StartTrackEgress', 'StartEgress', 'UpdateLayout'],
};

function enumValue(enumObj, v, what) {
  if (typeof v === 'number' && enumObj[v] !== undefined) return v;
  if (typeof v === 'string' && typeof enumObj[v] === 'number') return enumObj[v];
  throw new TypeError(`unknown ${what} ${JSON.stringify(v)}`);
}

/**
 * Start the LiveKit stand-in.
 *
 * @param {object} options
 * @param {number} [options.port=0]
 * @param {string} options.apiKey
 * @param {string} options.apiSecret
 * @param {number} [options.clockToleranceSec=60]  JWT leeway (the server's is 60 s).
 * @param {number} [options.defaultEmptyTimeout=300]
 * @param {number} [options.defaultDepartureTimeout=20]
 * @param {boolean} [options.egress=true]  false: no egress service, as a real server without Redis.
 */
export async function startLiveKit(options = {}) {
  const {
    port = 0,
    host = '127.0.0.1',
    apiKey,
    apiSecret,
    clockToleranceSec = 60,
    defaultEmptyTimeout = 300,
    defaultDepartureTimeout = 20,
    egress = true,
  } = options;
  if (!apiKey || !apiSecret) throw new TypeError('startLiveKit: apiKey and apiSecret are required');
  const verifier = new TokenVerifier(apiKey, apiSecret);

  /** name → { info: Room, participants: Map<identity, ParticipantInfo> } */
  const rooms = new Map();
  /** egress_id → EgressInfo */
  const egresses = new Map();
  /** RemoveParticipant effects: { room, identity, sid, at } */
  const kicked = [];
  /** DeleteRoom effects: { name, sid, at } */
  const deletedRooms = [];
  /** SendData requests that were accepted: { room, request } */
  const sentData = [];

  const createRoomState = (name, req = {}) => {
    const t = Date.now();
    const info = new Room({
      sid: randomId('RM_'),
      name,
      emptyTimeout: req.emptyTimeout || defaultEmptyTimeout,
      departureTimeout: req.departureTimeout || defaultDepartureTimeout,
      maxParticipants: req.maxParticipants ?? 0,
      creationTime: BigInt(Math.floor(t / 1000)),
      creationTimeMs: BigInt(t),
      metadata: req.metadata ?? '',
      enabledCodecs: DEFAULT_CODECS.map((mime) => ({ mime, fmtpLine: '' })),
    });
    const state = { info, participants: new Map() };
    rooms.set(name, state);
    return state;
  };

  const refreshRoom = (state) => {
    const ps = [...state.participants.values()];
    state.info.numParticipants = ps.length;
    state.info.numPublishers = ps.filter((p) => p.isPublisher).length;
    state.info.activeRecording = [...egresses.values()].some(
      (e) => e.roomName === state.info.name && !FINISHED.has(e.status),
    );
    return state.info;
  };

  const roomJson = (name) => {
    const s = rooms.get(name);
    return s ? serverJson(refreshRoom(s)) : undefined;
  };

  // ---- auth ---------------------------------------------------------------------------------
  async function authenticate(headers, searchParams) {
    const header = headers.authorization;
    if (header === undefined || header === '') {
      if (searchParams.has('access_token')) {
        return { fail: textResponse(401, 'invalid authorization token'), error: 'token passed as ?access_token= query parameter; rtcgate must send Authorization: Bearer' };
      }
      return { grants: null };
    }
    if (!header.startsWith('Bearer ')) {
      return { fail: textResponse(401, 'invalid authorization header. Must start with Bearer '), error: `Authorization header does not start with "Bearer ": ${JSON.stringify(header.slice(0, 20))}` };
    }
    const token = header.slice('Bearer '.length);
    const parts = token.split('.');
    let jwtHeader;
    let payload;
    try {
      if (parts.length !== 3) throw new Error('not three segments');
      jwtHeader = decodeJwtPart(parts[0]);
      payload = decodeJwtPart(parts[1]);
    } catch (e) {
      return { fail: textResponse(401, 'invalid authorization token'), error: `token does not parse: ${e.message}` };
    }
    if (jwtHeader.alg !== 'HS256') {
      return { fail: textResponse(401, 'invalid authorization token'), error: `token alg ${JSON.stringify(jwtHeader.alg)}; the server accepts HS256 only` };
    }
    if (payload.iss !== apiKey) {
      return { fail: textResponse(401, 'invalid API key'), error: `token iss ${JSON.stringify(payload.iss)} is not the API key` };
    }
    if (payload.exp === undefined) {
      return { fail: textResponse(401, 'invalid authorization token: token has no exp claim'), error: 'token has no exp claim (the server requires one)' };
    }
    try {
      const claims = await verifier.verify(token, clockToleranceSec);
      return { grants: claims };
    } catch (e) {
      return { fail: textResponse(401, `invalid authorization token: ${e.message}`), error: `token rejected: ${e.code ?? ''} ${e.message}`.trim() };
    }
  }

  const denied = (why) => ({ reject: twirpError('unauthenticated', 'permissions denied'), error: `permissions denied: ${why}` });

  function checkGrant(need, grants, reqRoom) {
    const video = grants?.video;
    if (!grants) return denied('no Authorization header');
    if (!video) return denied('token has no video grant');
    switch (need) {
      case 'roomCreate':
      case 'roomList':
      case 'roomRecord':
        return video[need] === true ? null : denied(`token lacks video.${need}`);
      case 'roomAdmin':
        if (video.roomAdmin !== true) return denied('token lacks video.roomAdmin');
        if ((video.room ?? '') !== reqRoom) return denied(`token video.room ${JSON.stringify(video.room ?? '')} != request room ${JSON.stringify(reqRoom)}`);
        return null;
      default:
        return denied(`unknown grant ${need}`);
    }
  }

  // ---- method table -----------------------------------------------------------------------
  // psrpc errors carry this prefix once turned into Twirp errors (seen on the real server).
  const psrpcError = (code, msg) => twirpError(code, `twirp error unknown: ${msg}`);
  const notFound = (msg) => psrpcError('not_found', msg);
  const noEgressService = () => psrpcError('internal', 'egress not connected (redis required)');
  const invalid = (msg) => ({ reject: twirpError('invalid_argument', msg), error: `invalid_argument: ${msg}` });

  const checkRoomName = (name, what = 'room') => {
    if (!name) return invalid(`${what} name is required`);
    if (name.length > 256) return invalid('room name length exceeds limits');
    return null;
  };

  // A RoomCompositeEgressRequest the egress service would refuse (room name checked by the caller).
  const checkRoomComposite = (req) => {
    if (!req.customBaseUrl && !LAYOUTS.has(req.layout)) return invalid(`unknown layout ${JSON.stringify(req.layout)}`);
    if (req.audioOnly && req.videoOnly) return invalid('audio_only and video_only cannot both be true');
    const outputs = req.fileOutputs.length + req.streamOutputs.length + req.segmentOutputs.length + req.imageOutputs.length + (req.output?.case ? 1 : 0);
    if (outputs === 0) return invalid('request has no outputs');
    const files = [...req.fileOutputs, ...(req.output?.case === 'file' ? [req.output.value] : [])];
    for (const f of files) {
      const o = f.output;
      if (o?.case === 's3' && !o.value.bucket) return invalid('s3 output without bucket');
      if (o?.case === 'gcp' && !o.value.bucket) return invalid('gcp output without bucket');
      if (o?.case === 'azure' && !o.value.containerName) return invalid('azure output without container_name');
      if (o?.case === 'aliOSS' && !o.value.bucket) return invalid('alioss output without bucket');
    }
    for (const s of req.streamOutputs) if (s.urls.length === 0) return invalid('stream output without urls');
    return null;
  };

  // A new STARTING room-composite egress of room state `s` (its request echoed back, as the server does).
  const startEgress = (s, req) => {
    const info = new EgressInfo({
      egressId: randomId('EG_'),
      roomId: s.info.sid,
      roomName: req.roomName,
      sourceType: EgressSourceType.EGRESS_SOURCE_TYPE_WEB,
      status: EgressStatus.EGRESS_STARTING,
      updatedAt: nowNs(),
      request: { case: 'roomComposite', value: req },
    });
    // [streams e2e] Each URL of a stream output is reported in `stream_results` (ACTIVE, the zero value).
    info.streamResults = req.streamOutputs.flatMap((o) => o.urls).map((url) => new StreamInfo({ url, status: StreamInfo_Status.ACTIVE }));
    egresses.set(info.egressId, info);
    return info;
  };

  const methods = {
    'RoomService/CreateRoom': {
      type: CreateRoomRequest,
      grant: () => ['roomCreate'],
      validate: (req) =>
        checkRoomName(req.name) ??
        (Buffer.byteLength(req.metadata) > 64000 ? invalid('metadata size exceeds limits') : null) ??
        // The room's own egress is checked as a StartRoomCompositeEgress would be (its room name is the room's).
        (req.egress?.room ? checkRoomComposite(req.egress.room) : null),
      exec: (req) => {
        // UPSERT: an existing room comes back unchanged, same sid.
        const existed = rooms.has(req.name);
        const s = rooms.get(req.name) ?? createRoomState(req.name, req);
        // [recordings e2e] A newly created room with `egress.room` records itself: the server starts that
        // room-composite egress, with room_name set to the room's name (livekit/livekit
        // pkg/service/roommanager.go getOrCreateRoom, `if created && createRoom.GetEgress().GetRoom() != nil`;
        // formerly pkg/service/roomservice.go CreateRoom). An upsert of an existing room starts nothing.
        if (!existed && req.egress?.room) {
          const request = req.egress.room.clone();
          request.roomName = req.name;
          startEgress(s, request);
        }
        return jsonResponse(200, serverJson(refreshRoom(s)));
      },
    },
    'RoomService/ListRooms': {
      type: ListRoomsRequest,
      grant: () => ['roomList'],
      exec: (req) => {
        const names = req.names.length ? req.names : [...rooms.keys()];
        const list = names.filter((n) => rooms.has(n)).map((n) => refreshRoom(rooms.get(n)));
        return jsonResponse(200, serverJson(new ListRoomsResponse({ rooms: list })));
      },
    },
    'RoomService/DeleteRoom': {
      type: DeleteRoomRequest,
      grant: () => ['roomCreate'],
      validate: (req) => checkRoomName(req.room),
      exec: (req) => {
        const s = rooms.get(req.room);
        if (!s) return notFound('requested room does not exist');
        rooms.delete(req.room);
        deletedRooms.push({ name: req.room, sid: s.info.sid, at: Date.now() });
        // Closing a room ends its egress; it then finishes asynchronously (advanceEgress()).
        for (const e of egresses.values()) {
          if (e.roomName === req.room && (e.status === EgressStatus.EGRESS_STARTING || e.status === EgressStatus.EGRESS_ACTIVE)) {
            e.status = EgressStatus.EGRESS_ENDING;
            e.updatedAt = nowNs();
          }
        }
        return jsonResponse(200, serverJson(new DeleteRoomResponse()));
      },
    },
    'RoomService/ListParticipants': {
      type: ListParticipantsRequest,
      grant: (req) => ['roomAdmin', req.room],
      exec: (req) => {
        const s = rooms.get(req.room);
        const participants = s ? [...s.participants.values()] : [];
        return jsonResponse(200, serverJson(new ListParticipantsResponse({ participants })));
      },
    },
    'RoomService/GetParticipant': {
      type: RoomParticipantIdentity,
      grant: (req) => ['roomAdmin', req.room],
      validate: (req) => (req.identity ? null : invalid('identity cannot be empty')),
      exec: (req) => {
        const p = rooms.get(req.room)?.participants.get(req.identity);
        return p ? jsonResponse(200, serverJson(p)) : notFound('participant does not exist');
      },
    },
    'RoomService/RemoveParticipant': {
      type: RoomParticipantIdentity,
      grant: (req) => ['roomAdmin', req.room],
      validate: (req) => (req.identity ? null : invalid('identity cannot be empty')),
      exec: (req) => {
        const s = rooms.get(req.room);
        const p = s?.participants.get(req.identity);
        if (!p) return notFound('participant does not exist');
        s.participants.delete(req.identity);
        kicked.push({ room: req.room, identity: req.identity, sid: p.sid, at: Date.now() });
        return jsonResponse(200, serverJson(new RemoveParticipantResponse()));
      },
    },
    'RoomService/MutePublishedTrack': {
      type: MuteRoomTrackRequest,
      grant: (req) => ['roomAdmin', req.room],
      validate: (req) => (req.identity ? null : invalid('identity cannot be empty')),
      exec: (req) => {
        const p = rooms.get(req.room)?.participants.get(req.identity);
        if (!p) return notFound('participant does not exist');
        const track = p.tracks.find((t) => t.sid === req.trackSid);
        if (!track) return notFound('track is not found');
        track.muted = req.muted;
        return jsonResponse(200, serverJson(new MuteRoomTrackResponse({ track })));
      },
    },
    'RoomService/UpdateParticipant': {
      type: UpdateParticipantRequest,
      grant: (req) => ['roomAdmin', req.room],
      validate: (req) => (req.identity ? null : invalid('identity cannot be empty')),
      exec: (req) => {
        const p = rooms.get(req.room)?.participants.get(req.identity);
        if (!p) return notFound('participant does not exist');
        if (req.metadata) p.metadata = req.metadata;
        if (req.name) p.name = req.name;
        if (req.permission) p.permission = req.permission.clone();
        for (const [k, v] of Object.entries(req.attributes)) {
          if (v === '') delete p.attributes[k];
          else p.attributes[k] = v;
        }
        return jsonResponse(200, serverJson(p));
      },
    },
    'RoomService/UpdateRoomMetadata': {
      type: UpdateRoomMetadataRequest,
      grant: (req) => ['roomAdmin', req.room],
      exec: (req) => {
        const s = rooms.get(req.room);
        if (!s) return notFound('requested room does not exist');
        s.info.metadata = req.metadata;
        return jsonResponse(200, serverJson(refreshRoom(s)));
      },
    },
    'RoomService/SendData': {
      type: SendDataRequest,
      grant: (req) => ['roomAdmin', req.room],
      validate: (req) => (req.nonce.length === 0 || req.nonce.length === 16 ? null : invalid(`nonce should be 16-bytes or not present, got: ${req.nonce.length} bytes`)),
      exec: (req) => {
        sentData.push({ room: req.room, request: req });
        return jsonResponse(200, serverJson(new SendDataResponse()));
      },
    },
    'Egress/StartRoomCompositeEgress': {
      type: RoomCompositeEgressRequest,
      grant: () => ['roomRecord'],
      validate: (req) => checkRoomName(req.roomName, 'room') ?? checkRoomComposite(req),
      exec: (req) => {
        const s = rooms.get(req.roomName);
        if (!s) return notFound('requested room does not exist');
        if (!egress) return psrpcError('unavailable', 'no response from servers');
        return jsonResponse(200, serverJson(startEgress(s, req)));
      },
    },
    'Egress/StopEgress': {
      type: StopEgressRequest,
      grant: () => ['roomRecord'],
      validate: (req) => (req.egressId ? null : invalid('egress_id is required')),
      exec: (req) => {
        if (!egress) return noEgressService();
        const info = egresses.get(req.egressId);
        if (!info) return notFound('egress does not exist');
        if (info.status !== EgressStatus.EGRESS_STARTING && info.status !== EgressStatus.EGRESS_ACTIVE) {
          return twirpError('failed_precondition', `egress with status ${EgressStatus[info.status]} cannot be stopped`);
        }
        info.status = EgressStatus.EGRESS_ENDING;
        info.updatedAt = nowNs();
        return jsonResponse(200, serverJson(info));
      },
    },
    // [streams e2e] livekit/livekit pkg/service/egress.go UpdateStream: only a STARTING or ACTIVE egress
    // (else failed_precondition "egress with status … cannot be updated"); URLs added to and removed
    // from its stream output, each reported in `stream_results`.
    'Egress/UpdateStream': {
      type: UpdateStreamRequest,
      grant: () => ['roomRecord'],
      validate: (req) => (req.egressId ? null : invalid('egress_id is required')),
      exec: (req) => {
        if (!egress) return noEgressService();
        const info = egresses.get(req.egressId);
        if (!info) return notFound('egress does not exist');
        if (info.status !== EgressStatus.EGRESS_STARTING && info.status !== EgressStatus.EGRESS_ACTIVE) {
          return twirpError('failed_precondition', `egress with status ${EgressStatus[info.status]} cannot be updated`);
        }
        const composite = info.request.value;
        const output = composite.streamOutputs[0];
        if (!output) return twirpError('invalid_argument', 'egress has no stream output');
        output.urls = output.urls.filter((u) => !req.removeOutputUrls.includes(u)).concat(req.addOutputUrls);
        for (const r of info.streamResults) if (req.removeOutputUrls.includes(r.url)) r.status = StreamInfo_Status.FINISHED;
        info.streamResults.push(...req.addOutputUrls.map((url) => new StreamInfo({ url, status: StreamInfo_Status.ACTIVE })));
        info.updatedAt = nowNs();
        return jsonResponse(200, serverJson(info));
      },
    },
    'Egress/ListEgress': {
      type: ListEgressRequest,
      grant: () => ['roomRecord'],
      exec: (req) => {
        if (!egress) return noEgressService();
        if (req.egressId) {
          const info = egresses.get(req.egressId);
          if (!info) return notFound('egress does not exist');
          return jsonResponse(200, serverJson(new ListEgressResponse({ items: [info] })));
        }
        const items = [...egresses.values()].filter(
          (e) => (!req.roomName || e.roomName === req.roomName) && (!req.active || e.status < EgressStatus.EGRESS_COMPLETE),
        );
        return jsonResponse(200, serverJson(new ListEgressResponse({ items })));
      },
    },
  };

  // ---- request routing ----------------------------------------------------------------------
  const badRoute = (msg, method, path) => twirpError('bad_route', msg, { twirp_invalid_route: `${method} ${path}` });

  async function route(ctx) {
    const { method, path, headers, rawBody, url } = ctx;
    const m = /^\/twirp\/livekit\.(RoomService|Egress)\/([A-Za-z]+)$/.exec(path);
    const op = m ? m[2] : undefined;

    // 1. auth middleware runs before Twirp routing
    const auth = await authenticate(headers, url.searchParams);
    if (auth.fail) return { op, reject: auth.fail, error: auth.error };

    // 2. Twirp routing
    if (method !== 'POST') {
      return { op, reject: badRoute(`unsupported method ${JSON.stringify(method)} (only POST is allowed)`, method, path), error: `HTTP ${method}; Twirp only accepts POST` };
    }
    if (!m) return { reject: badRoute(`no handler for path ${JSON.stringify(path)}`, method, path), error: `no Twirp route ${path}` };
    const key = `${m[1]}/${m[2]}`;
    const def = methods[key];
    if (!def) {
      if (KNOWN_UNIMPLEMENTED[m[1]]?.includes(m[2])) {
        return { op, reject: twirpError('unimplemented', `stand-in does not implement ${key}`), error: `${key} is a real method the stand-in does not implement` };
      }
      return { op, reject: badRoute(`no handler for path ${JSON.stringify(path)}`, method, path), error: `unknown method ${key}` };
    }
    const ct = mediaType(headers['content-type']);
    if (ct !== 'application/json') {
      const why = ct === 'application/protobuf'
        ? 'Content-Type application/protobuf (the real server accepts it, but rtcgate must send JSON)'
        : `Content-Type ${JSON.stringify(headers['content-type'] ?? '')} is not application/json`;
      return { op, reject: badRoute(`unexpected Content-Type: ${JSON.stringify(headers['content-type'] ?? '')}`, method, path), error: why };
    }

    // 3. body
    // Twirp v8 wraps the decoder error as the cause without exposing it in meta.
    const malformed = (cause) => ({
      op,
      reject: twirpError('malformed', 'the json request could not be decoded'),
      error: `malformed body: ${cause}`,
    });
    if (rawBody.trim() === '') return malformed('empty body (send {} for an empty request)');
    let json;
    try {
      json = JSON.parse(rawBody);
    } catch (e) {
      return malformed(`not JSON: ${e.message}`);
    }
    const dup = duplicateFieldError(json, def.type);
    if (dup) return malformed(dup);
    let req;
    try {
      req = def.type.fromJson(json);
    } catch (e) {
      return malformed(e.message);
    }

    // 4. grants
    const [need, reqRoom] = def.grant(req);
    const denial = checkGrant(need, auth.grants, reqRoom);
    if (denial) return { op, ...denial };

    // 5. request validation the server (or its egress workers) would reject
    const bad = def.validate?.(req);
    if (bad) return { op, ...bad };

    ctx.call.message = req;
    ctx.call.grants = auth.grants;
    return { op, exec: () => def.exec(req) };
  }

  const handle = await startStandIn({
    name: 'livekit',
    port,
    host,
    route,
    faultBody: (status) => twirpError(STATUS_TO_CODE[status] ?? 'internal', 'stand-in fault'),
    onReset: () => {
      rooms.clear();
      egresses.clear();
      kicked.length = 0;
      deletedRooms.length = 0;
      sentData.length = 0;
    },
  });

  return Object.assign(handle, {
    apiKey,
    apiSecret,
    /** name → { info: Room (protocol message), participants: Map<identity, ParticipantInfo> } */
    rooms,
    /** egress_id → EgressInfo (protocol message) */
    egresses,
    /** participants removed by RemoveParticipant: { room, identity, sid, at } */
    kicked,
    /** rooms removed by DeleteRoom: { name, sid, at } */
    deletedRooms,
    /** accepted SendData requests: { room, request } */
    sentData,

    /** Create a room directly (as if a client had joined / CreateRoom had run). Returns its server JSON. */
    seedRoom(name, opts = {}) {
      const s = rooms.get(name) ?? createRoomState(name, {
        emptyTimeout: opts.empty_timeout ?? opts.emptyTimeout,
        departureTimeout: opts.departure_timeout ?? opts.departureTimeout,
        maxParticipants: opts.max_participants ?? opts.maxParticipants,
        metadata: opts.metadata,
      });
      return serverJson(refreshRoom(s));
    },

    /**
     * Put a participant in a room (the room is created if absent, as a join would).
     * p: { identity (required), name?, metadata?, joined_at? (unix s), state? ('ACTIVE'),
     *      attributes?, is_publisher?, kind?, tracks?: [{sid?, type?, source?, muted?, name?}] }
     * Returns the participant's server JSON.
     */
    seedParticipant(room, p = {}) {
      if (!p.identity) throw new TypeError('seedParticipant: identity is required');
      const s = rooms.get(room) ?? createRoomState(room);
      const joinedAt = Number(p.joined_at ?? p.joinedAt ?? nowSec());
      const info = ParticipantInfo.fromJson({
        sid: p.sid ?? randomId('PA_'),
        identity: p.identity,
        name: p.name ?? '',
        metadata: p.metadata ?? '',
        state: p.state ?? 'ACTIVE',
        joined_at: String(joinedAt),
        joined_at_ms: String(p.joined_at_ms ?? joinedAt * 1000),
        attributes: p.attributes ?? {},
        is_publisher: Boolean(p.is_publisher ?? p.isPublisher ?? (p.tracks?.length > 0)),
        kind: p.kind ?? 'STANDARD',
        permission: p.permission ?? { can_subscribe: true, can_publish: true, can_publish_data: true },
        tracks: (p.tracks ?? []).map((t) => ({
          sid: t.sid ?? randomId('TR_'),
          type: t.type ?? 'AUDIO',
          source: t.source ?? 'MICROPHONE',
          name: t.name ?? '',
          muted: Boolean(t.muted),
        })),
      });
      s.participants.set(p.identity, info);
      return serverJson(info);
    },

    /** Remove a participant without an API call (the client left). */
    dropParticipant(room, identity) {
      return rooms.get(room)?.participants.delete(identity) ?? false;
    },

    /**
     * Move an egress along its lifecycle, as the egress worker would.
     * status: 'EGRESS_ACTIVE' | 'EGRESS_ENDING' | 'EGRESS_COMPLETE' | 'EGRESS_FAILED' | 'EGRESS_ABORTED' |
     *         'EGRESS_LIMIT_REACHED' (name or enum number)
     * extra: { file_results?: [{filename, location, size, duration, started_at, ended_at}], error?, error_code? }
     * Returns the egress's server JSON.
     */
    advanceEgress(egressId, status, extra = {}) {
      const info = egresses.get(egressId);
      if (!info) throw new Error(`advanceEgress: no egress ${egressId}`);
      const st = enumValue(EgressStatus, status, 'egress status');
      const t = nowNs();
      info.status = st;
      info.updatedAt = t;
      if (st === EgressStatus.EGRESS_ACTIVE && !info.startedAt) info.startedAt = t;
      if (FINISHED.has(st)) {
        if (!info.startedAt) info.startedAt = t;
        info.endedAt = t;
      }
      const fileResults = extra.file_results ?? extra.fileResults;
      if (fileResults) {
        info.fileResults = fileResults.map((f) => (f instanceof FileInfo ? f : FileInfo.fromJson({
          ...f,
          ...(f.size !== undefined ? { size: String(f.size) } : {}),
          ...(f.duration !== undefined ? { duration: String(f.duration) } : {}),
          ...(f.started_at !== undefined ? { started_at: String(f.started_at) } : {}),
          ...(f.ended_at !== undefined ? { ended_at: String(f.ended_at) } : {}),
        })));
      }
      if (extra.error !== undefined) info.error = extra.error;
      if (extra.error_code !== undefined || extra.errorCode !== undefined) info.errorCode = extra.error_code ?? extra.errorCode;
      return serverJson(info);
    },

    /** Server-style JSON of a room (with live counts), or undefined. */
    roomJson,
    /** Server-style JSON of the participants of a room. */
    participantsJson(room) {
      return [...(rooms.get(room)?.participants.values() ?? [])].map(serverJson);
    },
    /** Server-style JSON of an egress, or undefined. */
    egressJson(egressId) {
      const e = egresses.get(egressId);
      return e ? serverJson(e) : undefined;
    },
  });
}
