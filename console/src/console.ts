// The tenant console: one page per hash route (#/rooms, #/rooms/{room}, #/recordings, #/events,
// #/webhooks, #/usage), all read from and written through the public API with the project's API
// key. Pages that show live state poll; polling stops when the route changes.

import { ApiFailure, client, enc, type Destination, type Discovery, type Fetcher, type Issued, type Page, type Participant, type Recording, type Room, type RtcEvent, type Usage, type Vendor, type Webhook } from './api';
import { barChart } from './chart';
import { h, notice, replace, table, when, type Child } from './dom';
import { forget, signInForm, storedToken, type SignIn } from './session';

const SIGN_IN: SignIn = {
  slot: 'rtcgate.console.key',
  what: 'API key',
  title: 'rtcgate console',
  intro: 'Sign in with one of your project\'s API keys (rtc_sk_…). It is kept for this browser tab only.',
  check: (api) => api('GET', '/v1/rtc/limits'),
};

interface PageCtx {
  api: Fetcher;
  main: HTMLElement;
  /** Runs `fn` now and every `ms` while this page is shown. */
  every(ms: number, fn: () => Promise<void>): void;
  /** Shows an API failure in the page's alert area. */
  fail(e: unknown): void;
}

const root = document.getElementById('app') as HTMLElement;
let timers: number[] = [];
let generation = 0;

function start(message?: string): void {
  const key = storedToken(SIGN_IN.slot);
  if (!key) {
    signInForm(root, SIGN_IN, () => route(), message);
    return;
  }
  route();
}

function signOut(message?: string): void {
  forget(SIGN_IN.slot);
  stopTimers();
  history.replaceState(null, '', '#/rooms');
  start(message);
}

function stopTimers(): void {
  timers.forEach((t) => clearInterval(t));
  timers = [];
  generation++;
}

const NAV: [string, string][] = [
  ['#/rooms', 'Rooms'],
  ['#/recordings', 'Recordings'],
  ['#/events', 'Events'],
  ['#/webhooks', 'Webhooks'],
  ['#/usage', 'Usage'],
];

function route(): void {
  const key = storedToken(SIGN_IN.slot);
  if (!key) return start();
  stopTimers();
  const hash = location.hash || '#/rooms';
  const [, section = 'rooms', id] = hash.split('/');
  const alerts = h('div', { class: 'alerts' });
  const main = h('main', { id: 'main', tabindex: '-1' });
  const myGeneration = generation;
  const ctx: PageCtx = {
    api: guarded(client(key)),
    main,
    every(ms, fn) {
      const run = () => {
        if (generation === myGeneration) fn().catch((e) => ctx.fail(e));
      };
      run();
      timers.push(window.setInterval(run, ms));
    },
    fail(e) {
      if (generation !== myGeneration) return;
      replace(alerts, notice(e instanceof ApiFailure ? e.describe() : String(e), 'error'));
    },
  };
  const current = `#/${section}`;
  const nav = h(
    'nav',
    { 'aria-label': 'Console' },
    h(
      'ul',
      {},
      NAV.map(([href, label]) => h('li', {}, h('a', { href, 'aria-current': href === current ? 'page' : null }, label))),
      h('li', { class: 'sign-out' }, h('button', { type: 'button', onclick: () => signOut() }, 'Sign out')),
    ),
  );
  replace(
    root,
    h('a', { class: 'skip', href: '#main', onclick: (e: Event) => (e.preventDefault(), main.focus()) }, 'Skip to content'),
    h('header', { class: 'top' }, h('span', { class: 'brand' }, 'rtcgate'), nav),
    alerts,
    main,
  );
  const pages: Record<string, (c: PageCtx, id?: string) => Promise<void>> = {
    rooms: (c, id) => (id ? roomPage(c, decodeURIComponent(id)) : roomsPage(c)),
    recordings: recordingsPage,
    events: eventsPage,
    webhooks: webhooksPage,
    usage: usagePage,
  };
  (pages[section] ?? roomsPage)(ctx, id).catch((e) => ctx.fail(e));
}

/** A key revoked while the tab is open sends the user back to sign in, saying why. */
function guarded(api: Fetcher): Fetcher {
  return async <T>(method: string, path: string, body?: unknown) => {
    try {
      return await api<T>(method, path, body);
    } catch (e) {
      if (e instanceof ApiFailure && e.status === 401) signOut(`Your API key is no longer accepted. ${e.describe()}`);
      throw e;
    }
  };
}

// ---------------------------------------------------------------------------------------------
// rooms

async function roomsPage(c: PageCtx): Promise<void> {
  const name = h('input', { id: 'room-name', name: 'name', required: true, maxlength: 128, autocomplete: 'off' });
  const vendor = h(
    'select',
    { id: 'room-vendor', name: 'vendor' },
    h('option', { value: '' }, 'first available'),
    ['livekit', 'agora', 'zego'].map((v) => h('option', { value: v }, v)),
  );
  const created = h('div');
  const form = h(
    'form',
    { class: 'inline', 'aria-label': 'Create a room' },
    h('div', { class: 'field' }, h('label', { for: 'room-name' }, 'Room name'), name),
    h('div', { class: 'field' }, h('label', { for: 'room-vendor' }, 'Vendor'), vendor),
    h('button', { type: 'submit' }, 'Create room'),
  );
  const list = h('div', { 'aria-live': 'polite' });
  replace(c.main, h('h1', {}, 'Rooms'), form, created, h('h2', {}, 'Live rooms'), list);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const body: Record<string, string> = { name: name.value.trim() };
      if (vendor.value) body.vendor = vendor.value;
      const room = await c.api<Room>('POST', '/v1/rtc/room/create', body);
      replace(created, h('p', { role: 'status', class: 'notice ok' }, 'Created ', h('a', { href: `#/rooms/${enc(room.room)}` }, room.name), ` on ${room.vendor}.`));
      name.value = '';
      await refresh();
    } catch (e) {
      replace(created, notice(e instanceof ApiFailure ? e.describe() : String(e), 'error'));
    }
  });
  const refresh = async () => {
    const page = await c.api<Page<Room>>('GET', '/v1/rtc/room/list?limit=50');
    // Occupancy comes from each room's vendor (room.get); the list itself is the stored rooms.
    const rooms = await Promise.all(page.items.map((r) => c.api<Room>('GET', `/v1/rtc/room/get/${enc(r.room)}`).catch(() => r)));
    replace(
      list,
      table(
        'Rooms with their vendor and who is in them now',
        ['Room', 'Vendor', 'In the room now', 'Created'],
        rooms.map((r) => [
          h('a', { href: `#/rooms/${enc(r.room)}` }, r.name),
          r.vendor,
          h('span', { class: 'occupancy', 'data-room': r.name }, r.num_participants == null ? 'unknown' : String(r.num_participants)),
          when(r.created_at),
        ]),
        'No rooms yet: create one above, or issue a token for a new room name.',
      ),
      page.next_cursor ? h('p', { class: 'hint' }, 'Showing the 50 newest rooms.') : null,
    );
  };
  c.every(3000, refresh);
}

/** Which vendors can do a capability (`rtc.participant.kick`, …), from discovery; cached per tab. */
const capabilityCache = new Map<string, Promise<Set<Vendor>>>();
function vendorsWith(api: Fetcher, capability: string): Promise<Set<Vendor>> {
  let known = capabilityCache.get(capability);
  if (!known) {
    known = api<Discovery>('GET', `/v1/discovery/${enc(capability)}`).then(
      (d) => new Set(d.vendors.filter((v) => v.status !== 'unsupported').map((v) => v.vendor)),
    );
    known.catch(() => capabilityCache.delete(capability));
    capabilityCache.set(capability, known);
  }
  return known;
}

async function roomPage(c: PageCtx, id: string): Promise<void> {
  const room = await c.api<Room>('GET', `/v1/rtc/room/get/${enc(id)}`);
  const [kick, ban, mute, record] = await Promise.all(
    ['rtc.participant.kick', 'rtc.participant.ban', 'rtc.participant.mute.hard', 'rtc.recording.start'].map((cap) => vendorsWith(c.api, cap).then((s) => s.has(room.vendor))),
  );
  const actionResult = h('div');
  const people = h('div', { 'aria-live': 'polite' });
  const act = async (what: string, path: string, body: unknown) => {
    try {
      await c.api('POST', path, body);
      replace(actionResult, notice(what, 'ok'));
    } catch (e) {
      replace(actionResult, notice(e instanceof ApiFailure ? e.describe() : String(e), 'error'));
    }
  };
  const base = (verb: string) => `/v1/rtc/participant/${verb}/${enc(room.room)}`;
  const buttons = (p: Participant): Child[] => [
    kick && h('button', { type: 'button', 'aria-label': `Kick ${p.identity}`, onclick: () => act(`Kicked ${p.identity}.`, base('kick'), { identity: p.identity }) }, 'Kick'),
    ban &&
      h(
        'button',
        {
          type: 'button',
          'aria-label': `Ban ${p.identity} for an hour`,
          onclick: () => {
            if (confirm(`Ban ${p.identity} from ${room.name} for an hour? They are removed now and refused new tokens.`)) {
              void act(`Banned ${p.identity} for an hour.`, base('ban'), { identity: p.identity, duration_s: 3600 });
            }
          },
        },
        'Ban 1 h',
      ),
    mute && h('button', { type: 'button', 'aria-label': `Mute ${p.identity}'s audio`, onclick: () => act(`Muted ${p.identity}'s audio.`, base('mute'), { identity: p.identity, media: ['audio'], muted: true }) }, 'Mute audio'),
    mute && h('button', { type: 'button', 'aria-label': `Unmute ${p.identity}'s audio`, onclick: () => act(`Unmuted ${p.identity}'s audio.`, base('mute'), { identity: p.identity, media: ['audio'], muted: false }) }, 'Unmute'),
  ];
  const identity = h('input', { id: 'join-identity', name: 'identity', required: true, maxlength: 63, value: `console-${Math.random().toString(36).slice(2, 8)}`, autocomplete: 'off' });
  const joinButton = h('button', { type: 'submit' }, 'Join');
  const leaveButton = h('button', { type: 'button', hidden: true }, 'Leave');
  const callPanel = h('div', { class: 'call' });
  const joinForm = h(
    'form',
    { class: 'inline', 'aria-label': 'Join this room' },
    h('div', { class: 'field' }, h('label', { for: 'join-identity' }, 'Join as (identity)'), identity),
    joinButton,
    leaveButton,
  );
  replace(
    c.main,
    h('p', {}, h('a', { href: '#/rooms' }, '← Rooms')),
    h('h1', {}, room.name),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Room id'), h('dd', {}, h('code', {}, room.room)),
      h('dt', {}, 'Vendor'), h('dd', {}, room.vendor),
      h('dt', {}, 'Created'), h('dd', {}, when(room.created_at)),
      h('dt', {}, 'Max participants'), h('dd', {}, room.max_participants ?? 'no cap'),
    ),
    h('h2', {}, 'Participants'),
    actionResult,
    people,
    h('h2', {}, 'Recordings'),
    record ? await roomRecordings(c, room) : h('p', { class: 'hint' }, `${room.vendor} rooms cannot be recorded on this server.`),
    h('h2', {}, 'Join'),
    joinForm,
    callPanel,
  );
  const refresh = async () => {
    const list = await c.api<Page<Participant>>('GET', `/v1/rtc/participant/list/${enc(room.room)}`);
    replace(
      people,
      table(
        `Participants in ${room.name} now`,
        ['Identity', 'Display name', 'Joined', 'Actions'],
        list.items.map((p) => [h('span', { class: 'identity' }, p.identity), p.display_name ?? '—', when(p.joined_at), h('span', { class: 'actions' }, buttons(p))]),
        'Nobody is in this room right now.',
      ),
    );
  };
  c.every(2000, refresh);

  let leave: (() => Promise<void>) | null = null;
  leaveButton.addEventListener('click', async () => {
    await leave?.();
    leave = null;
    leaveButton.hidden = true;
    joinButton.disabled = false;
  });
  joinForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    joinButton.disabled = true;
    try {
      const issued = await c.api<Issued>('POST', '/v1/rtc/token/issue', { room: room.room, identity: identity.value.trim() });
      if (issued.vendor === 'livekit') {
        const { joinLiveKit } = await import('./join_livekit');
        const call = await joinLiveKit(String(issued.join.url), issued.token, issued.identity, callPanel);
        leave = call.leave;
        leaveButton.hidden = false;
      } else {
        replace(callPanel, joinSnippet(issued));
        joinButton.disabled = false;
      }
    } catch (e) {
      replace(callPanel, notice(e instanceof ApiFailure ? e.describe() : `Could not join: ${(e as Error).message}`, 'error'));
      joinButton.disabled = false;
    }
  });
}

const IN_PROGRESS = new Set(['starting', 'active', 'stopping']);

/**
 * A room's recordings (polled every 3 s; one in progress is read through `recording/get`, which
 * refreshes it from the vendor, since the list holds the stored state) with a form to start one
 * into the deployment's default storage or one of the project's destinations, and a Stop button on
 * each in progress.
 */
async function roomRecordings(c: PageCtx, room: Room): Promise<HTMLElement> {
  const result = h('div');
  const show = (what: string) => replace(result, notice(what, 'ok'));
  const showFailure = (e: unknown) => replace(result, notice(e instanceof ApiFailure ? e.describe() : String(e), 'error'));
  // A server without an encryption key stores no destinations (the route says so with 422): then
  // its default storage is the only choice. Any other failure is shown, and the form still works.
  const destinations = await c.api<Page<Destination>>('GET', '/v1/rtc/recording/destination/list?limit=100').catch((e): Page<Destination> => {
    if (!(e instanceof ApiFailure && e.code === 'ENCRYPTION_NOT_CONFIGURED')) showFailure(e);
    return { items: [] };
  });
  const destination = h(
    'select',
    { id: 'recording-destination', name: 'output_uri' },
    h('option', { value: '' }, 'default storage of this server'),
    destinations.items.map((d) => h('option', { value: d.uri }, d.uri)),
  );
  const layout = h('select', { id: 'recording-layout', name: 'layout' }, ['grid', 'speaker', 'single-speaker'].map((l) => h('option', { value: l }, l)));
  const audioOnly = h('input', { id: 'recording-audio-only', name: 'audio_only', type: 'checkbox' });
  const form = h(
    'form',
    { class: 'inline', 'aria-label': 'Start a recording' },
    h('div', { class: 'field' }, h('label', { for: 'recording-destination' }, 'Destination'), destination),
    h('div', { class: 'field' }, h('label', { for: 'recording-layout' }, 'Layout'), layout),
    h('div', { class: 'field check' }, audioOnly, h('label', { for: 'recording-audio-only' }, 'Audio only')),
    h('button', { type: 'submit' }, 'Start recording'),
  );
  const list = h('div', { 'aria-live': 'polite' });
  const refresh = async () => {
    const page = await c.api<Page<Recording>>('GET', `/v1/rtc/recording/list?room=${enc(room.room)}&limit=20`);
    const recordings = await Promise.all(page.items.map((r) => (IN_PROGRESS.has(r.status) ? c.api<Recording>('GET', `/v1/rtc/recording/get/${enc(r.recording)}`).catch(() => r) : r)));
    replace(
      list,
      table(
        `Recordings of ${room.name}, newest first`,
        ['Recording', 'Status', 'Started', 'Ended', 'Written to', 'Actions'],
        recordings.map((r) => [
          h('code', {}, r.recording),
          statusOf(r),
          when(r.started_at),
          when(r.ended_at),
          h('span', {}, h('code', {}, r.output_uri), r.files.length ? filesOf(r) : null),
          IN_PROGRESS.has(r.status) && r.status !== 'stopping'
            ? h('button', { type: 'button', 'aria-label': `Stop recording ${r.recording}`, onclick: () => stop(r.recording) }, 'Stop')
            : null,
        ]),
        'No recordings of this room yet.',
      ),
    );
  };
  const stop = async (id: string) => {
    try {
      const stopped = await c.api<Recording>('POST', `/v1/rtc/recording/stop/${enc(id)}`, {});
      show(`Recording ${id}: ${stopped.status}.`);
      await refresh();
    } catch (e) {
      showFailure(e);
    }
  };
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const body: Record<string, unknown> = { room: room.room, layout: layout.value, audio_only: audioOnly.checked };
      if (destination.value) body.output_uri = destination.value;
      const started = await c.api<Recording>('POST', '/v1/rtc/recording/start', body);
      show(`Started recording ${started.recording} into ${started.output_uri}.`);
      await refresh();
    } catch (e) {
      showFailure(e);
    }
  });
  c.every(3000, refresh);
  return h('section', { 'aria-label': 'Recordings of this room' }, form, result, list);
}

/** A recording's status (classed `status-<status>`), with rtcgate's reason when it ended badly. */
function statusOf(r: Recording): HTMLElement {
  return h('span', { class: `status status-${r.status}` }, r.status, r.error ? `: ${r.error}` : '');
}

/** The files a vendor reported writing: location, size and duration. */
function filesOf(r: Recording): HTMLElement {
  return h('ul', { class: 'files' }, r.files.map((f) => h('li', {}, f.location, f.size_bytes != null ? ` (${f.size_bytes} bytes)` : '', f.duration_ms != null ? `, ${Math.round(f.duration_ms / 1000)} s` : '')));
}

/**
 * Agora's and ZEGO's web SDKs talk to their own clouds: the console shows what a client needs. The
 * snippets follow the SDKs' documented calls: Agora Web SDK 4.x `IAgoraRTCClient.join(appid,
 * channel, token, uid)` (api-ref.agora.io, video-sdk/web/4.x), ZEGO Express Web
 * `loginRoom(roomID, token, user)` and `startPublishingStream(streamID, stream)`
 * (zegocloud.com/docs, video call for Web, quick start).
 */
function joinSnippet(issued: Issued): HTMLElement {
  const j = issued.join;
  const vendorName = issued.vendor === 'agora' ? 'Agora' : 'ZEGOCLOUD';
  const code =
    issued.vendor === 'agora'
      ? `// npm install agora-rtc-sdk-ng
import AgoraRTC from 'agora-rtc-sdk-ng';
const client = AgoraRTC.createClient({ mode: 'rtc', codec: 'vp8' });
await client.join(${JSON.stringify(j.app_id)}, ${JSON.stringify(j.channel)}, TOKEN, ${Number(j.uid)});
await client.publish(await AgoraRTC.createMicrophoneAndCameraTracks());`
      : `// npm install zego-express-engine-webrtc
import { ZegoExpressEngine } from 'zego-express-engine-webrtc';
const zg = new ZegoExpressEngine(${Number(j.app_id)}, SERVER_URL);
await zg.loginRoom(${JSON.stringify(j.room_id)}, TOKEN, { userID: ${JSON.stringify(j.user_id)}, userName: ${JSON.stringify(j.user_id)} });
const stream = await zg.createStream();
zg.startPublishingStream(${JSON.stringify(`${j.room_id}-${j.user_id}`)}, stream);`;
  return h(
    'section',
    { 'aria-label': 'Join payload' },
    h('p', {}, `${vendorName} rooms are joined with ${vendorName}'s web SDK, which connects to ${vendorName}'s cloud, so this tab does not join. The token expires at `, when(issued.expires_at), '.'),
    h('h3', {}, 'Join payload'),
    h('pre', { class: 'payload', tabindex: '0' }, JSON.stringify({ vendor: issued.vendor, identity: issued.identity, join: j }, null, 2)),
    h('h3', {}, 'Token'),
    h('pre', { class: 'payload token', tabindex: '0' }, issued.token),
    h('h3', {}, 'Snippet (TOKEN is the token above)'),
    h('pre', { class: 'payload', tabindex: '0' }, code),
  );
}

// ---------------------------------------------------------------------------------------------
// recordings

async function recordingsPage(c: PageCtx): Promise<void> {
  const list = h('div', { 'aria-live': 'polite' });
  const more = h('button', { type: 'button', hidden: true }, 'Older recordings');
  replace(c.main, h('h1', {}, 'Recordings'), list, more);
  let items: Recording[] = [];
  let cursor: string | null | undefined = null;
  const render = () =>
    replace(
      list,
      table(
        'Recordings, newest first',
        ['Recording', 'Room', 'Vendor', 'Status', 'Started', 'Ended', 'Files'],
        items.map((r) => [
          h('code', {}, r.recording),
          h('a', { href: `#/rooms/${enc(r.room)}` }, r.room),
          r.vendor,
          statusOf(r),
          when(r.started_at),
          when(r.ended_at),
          r.files.length ? filesOf(r) : '—',
        ]),
        'No recordings yet.',
      ),
    );
  more.addEventListener('click', async () => {
    try {
      const page = await c.api<Page<Recording>>('GET', `/v1/rtc/recording/list?limit=50&cursor=${enc(cursor ?? '')}`);
      items = items.concat(page.items);
      cursor = page.next_cursor;
      more.hidden = !cursor;
      render();
    } catch (e) {
      c.fail(e);
    }
  });
  c.every(5000, async () => {
    const page = await c.api<Page<Recording>>('GET', '/v1/rtc/recording/list?limit=50');
    // The newest page refreshes statuses; older pages loaded by hand stay as they were read.
    const fresh = new Set(page.items.map((r) => r.recording));
    items = page.items.concat(items.filter((r) => !fresh.has(r.recording) && cursor !== null));
    if (cursor === null) {
      cursor = page.next_cursor;
      more.hidden = !cursor;
    }
    render();
  });
}

// ---------------------------------------------------------------------------------------------
// events

async function eventsPage(c: PageCtx): Promise<void> {
  const roomFilter = h('input', { id: 'event-room', name: 'room', placeholder: 'all rooms', autocomplete: 'off' });
  const form = h(
    'form',
    { class: 'inline', 'aria-label': 'Filter events' },
    h('div', { class: 'field' }, h('label', { for: 'event-room' }, 'Room (name or id)'), roomFilter),
    h('button', { type: 'submit' }, 'Filter'),
  );
  const state = h('p', { class: 'hint', role: 'status' }, 'Tailing: new events appear at the top every 2 s.');
  const list = h('div');
  const older = h('button', { type: 'button', hidden: true }, 'Older events');
  replace(c.main, h('h1', {}, 'Events'), form, state, list, older);
  let seen = new Set<string>();
  let items: RtcEvent[] = [];
  let cursor: string | null | undefined = null;
  const query = () => (roomFilter.value.trim() ? `&room=${enc(roomFilter.value.trim())}` : '');
  const render = () =>
    replace(
      list,
      table(
        'Events, newest first',
        ['Received', 'Type', 'Room', 'Identity', 'Vendor'],
        items.map((e) => [when(e.received_at), h('span', { class: 'event-type', 'data-type': e.type, 'data-identity': e.identity ?? '' }, e.type), e.room ?? '—', e.identity ?? '—', e.vendor]),
        'No events yet. Vendors report joins, leaves and tracks here as they happen.',
      ),
    );
  const add = (page: RtcEvent[], atTop: boolean) => {
    const fresh = page.filter((e) => !seen.has(e.event));
    fresh.forEach((e) => seen.add(e.event));
    items = atTop ? fresh.concat(items) : items.concat(fresh);
  };
  // Tailing: the newest page, polled; whatever it holds that was not shown yet goes on top. A burst
  // larger than one page between two polls leaves a gap that "Older events" does not fill.
  const tail = async () => {
    const page = await c.api<Page<RtcEvent>>('GET', `/v1/rtc/event/list?limit=100${query()}`);
    if (cursor === null) {
      cursor = page.next_cursor;
      older.hidden = !cursor;
    }
    add(page.items, true);
    render();
  };
  older.addEventListener('click', async () => {
    try {
      const page = await c.api<Page<RtcEvent>>('GET', `/v1/rtc/event/list?limit=100&cursor=${enc(cursor ?? '')}${query()}`);
      add(page.items, false);
      cursor = page.next_cursor;
      older.hidden = !cursor;
      render();
    } catch (e) {
      c.fail(e);
    }
  });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    seen = new Set();
    items = [];
    cursor = null;
    tail().catch((e) => c.fail(e));
  });
  c.every(2000, tail);
}

// ---------------------------------------------------------------------------------------------
// webhooks

async function webhooksPage(c: PageCtx): Promise<void> {
  const url = h('input', { id: 'webhook-url', name: 'url', type: 'url', required: true, placeholder: 'https://example.com/hooks/rtc', autocomplete: 'off' });
  const result = h('div');
  const form = h(
    'form',
    { class: 'inline', 'aria-label': 'Add a webhook endpoint' },
    h('div', { class: 'field wide' }, h('label', { for: 'webhook-url' }, 'Endpoint URL'), url),
    h('button', { type: 'submit' }, 'Add endpoint'),
  );
  const list = h('div', { 'aria-live': 'polite' });
  replace(c.main, h('h1', {}, 'Webhooks'), form, result, h('h2', {}, 'Endpoints and delivery health'), list);
  const refresh = async () => {
    const page = await c.api<Page<Webhook>>('GET', '/v1/rtc/webhook/list');
    const hooks = await Promise.all(page.items.map((w) => c.api<Webhook>('GET', `/v1/rtc/webhook/get/${enc(w.webhook)}`).catch(() => w)));
    replace(
      list,
      table(
        'Webhook endpoints with their delivery health',
        ['Endpoint', 'Events', 'Delivered', 'Failing in a row', 'Dead letters', 'Last attempt', ''],
        hooks.map((w) => {
          const d = w.delivery;
          const health = !d ? 'unknown' : d.consecutive_failures > 0 ? 'failing' : d.delivered > 0 ? 'healthy' : 'no deliveries yet';
          return [
            h('span', {}, h('code', {}, w.url), h('span', { class: `badge ${health.replace(/ /g, '-')}` }, health)),
            w.types?.join(', ') ?? 'all',
            d?.delivered ?? '—',
            d?.consecutive_failures ?? '—',
            d?.dead_lettered ?? '—',
            d?.last_attempt_at ? h('span', {}, when(d.last_attempt_at), ` → ${d.last_status ?? d.last_error ?? '?'}`) : '—',
            h(
              'button',
              {
                type: 'button',
                'aria-label': `Delete endpoint ${w.url}`,
                onclick: async () => {
                  if (!confirm(`Stop deliveries to ${w.url}?`)) return;
                  try {
                    await c.api('DELETE', `/v1/rtc/webhook/delete/${enc(w.webhook)}`);
                    await refresh();
                  } catch (e) {
                    c.fail(e);
                  }
                },
              },
              'Delete',
            ),
          ];
        }),
        'No endpoints: add one to receive signed deliveries of every event.',
      ),
    );
  };
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const created = await c.api<Webhook>('POST', '/v1/rtc/webhook/create', { url: url.value.trim() });
      replace(
        result,
        h(
          'div',
          { class: 'notice ok', role: 'status' },
          h('p', {}, `Added ${created.url}. Its signing secret is shown this once: keep it to verify deliveries.`),
          h('pre', { class: 'payload secret', tabindex: '0' }, created.secret ?? ''),
        ),
      );
      url.value = '';
      await refresh();
    } catch (e) {
      replace(result, notice(e instanceof ApiFailure ? e.describe() : String(e), 'error'));
    }
  });
  c.every(5000, refresh);
}

// ---------------------------------------------------------------------------------------------
// usage

const DAYS = 14;

function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

async function usagePage(c: PageCtx): Promise<void> {
  const summary = h('p', { role: 'status', class: 'summary' }, 'Loading…');
  const perDay = h('figure', { class: 'chart-box' });
  const perRoom = h('figure', { class: 'chart-box' });
  const limits = h('div');
  const refreshButton = h('button', { type: 'button' }, 'Refresh');
  replace(
    c.main,
    h('h1', {}, 'Usage'),
    summary,
    refreshButton,
    h('h2', {}, `Participant minutes per day (last ${DAYS} days, UTC)`),
    perDay,
    h('h2', {}, 'Participant minutes per room (last 30 days)'),
    perRoom,
    h('h2', {}, 'Limits'),
    limits,
  );
  const load = async () => {
    const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
    const days = Array.from({ length: DAYS }, (_, i) => today - (DAYS - 1 - i) * 86_400_000);
    // One usage call per day (the API sums a window; it has no per-day breakdown).
    const [daily, month, rooms, lim] = await Promise.all([
      Promise.all(days.map((d) => c.api<Usage>('GET', `/v1/rtc/usage?from=${utcDay(d)}&to=${utcDay(d + 86_400_000)}`))),
      c.api<Usage>('GET', '/v1/rtc/usage'),
      c.api<Page<Room>>('GET', '/v1/rtc/room/list?limit=100'),
      c.api<{ rate_limit: { requests: number; period_s: number }; quotas: Record<string, { limit: number | null; used: number }> }>('GET', '/v1/rtc/limits'),
    ]);
    const names = new Map(rooms.items.map((r) => [r.room, r.name]));
    summary.textContent = `${month.totals.participant_minutes} participant minutes in ${month.totals.sessions} sessions over the last 30 days.`;
    summary.dataset.minutes = String(month.totals.participant_minutes);
    replace(
      perDay,
      barChart('Participant minutes per day', 'min', days.map((d, i) => ({ label: utcDay(d).slice(5), title: utcDay(d), value: daily[i].totals.participant_minutes }))),
      h('figcaption', {}, `Each session counts whole started minutes. Today: ${daily[DAYS - 1].totals.participant_minutes} min.`),
    );
    replace(
      perRoom,
      month.rooms.length
        ? barChart('Participant minutes per room', 'min', month.rooms.map((r) => ({ label: (names.get(r.room) ?? r.room).slice(0, 10), title: names.get(r.room) ?? r.room, value: r.participant_minutes })))
        : h('p', { class: 'empty' }, 'No finished sessions in the last 30 days.'),
      table(
        'Usage per room',
        ['Room', 'Sessions', 'Participant minutes', 'Participant seconds'],
        month.rooms.map((r) => [names.get(r.room) ?? r.room, r.sessions, r.participant_minutes, r.participant_seconds]),
        '',
      ),
    );
    replace(
      limits,
      h('p', {}, `Rate limit: ${lim.rate_limit.requests} requests per ${lim.rate_limit.period_s} s for each API key.`),
      table('Quotas', ['Quota', 'Used', 'Limit'], Object.entries(lim.quotas).map(([k, q]) => [k.replace(/_/g, ' '), q.used, q.limit ?? 'none']), ''),
    );
  };
  refreshButton.addEventListener('click', () => load().catch((e) => c.fail(e)));
  await load();
}

window.addEventListener('hashchange', () => route());
start();
