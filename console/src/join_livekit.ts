// Joining a LiveKit room in this tab with LiveKit's own web SDK. Loaded only when someone presses
// "Join" on a LiveKit room: the SDK is most of the console's weight, and no other page needs it.

import { DisconnectReason, Room, RoomEvent, Track, type RemoteTrack } from 'livekit-client';

import { h, replace } from './dom';

export interface Call {
  leave(): Promise<void>;
}

/**
 * Connects to `url` with `token`, publishes the camera and microphone, and keeps `panel` showing
 * who else is in the call (with their video) and, once it ends, why.
 */
export async function joinLiveKit(url: string, token: string, identity: string, panel: HTMLElement): Promise<Call> {
  const room = new Room({ adaptiveStream: true, dynacast: true });
  const status = h('p', { role: 'status', class: 'call-status' }, `Connecting to ${url} as ${identity}…`);
  const others = h('ul', { class: 'call-peers', 'aria-label': 'Others in the call' });
  const videos = h('div', { class: 'call-videos' });
  replace(panel, status, h('h3', {}, 'In the call'), others, videos);

  const showPeers = () => {
    const names = [...room.remoteParticipants.values()].map((p) => p.identity).sort();
    replace(others, names.length ? names.map((n) => h('li', { 'data-identity': n }, n)) : h('li', { class: 'empty' }, 'nobody else yet'));
  };
  room
    .on(RoomEvent.ParticipantConnected, showPeers)
    .on(RoomEvent.ParticipantDisconnected, showPeers)
    .on(RoomEvent.TrackSubscribed, (track: RemoteTrack, _pub, participant) => {
      if (track.kind !== Track.Kind.Video) return;
      const video = track.attach() as HTMLVideoElement;
      video.setAttribute('aria-label', `video of ${participant.identity}`);
      video.muted = true;
      videos.appendChild(video);
    })
    .on(RoomEvent.TrackUnsubscribed, (track: RemoteTrack) => track.detach().forEach((el) => el.remove()))
    .on(RoomEvent.Disconnected, (reason?: DisconnectReason) => {
      const why = reason === undefined ? 'unknown' : DisconnectReason[reason];
      status.textContent = `Disconnected (${why})`;
      status.dataset.state = 'disconnected';
      replace(others);
      videos.replaceChildren();
    });

  await room.connect(url, token);
  status.textContent = `Connected to ${room.name} as ${identity}`;
  status.dataset.state = 'connected';
  showPeers();
  try {
    await room.localParticipant.enableCameraAndMicrophone();
  } catch (e) {
    // Joining without media still shows the room (a browser without a camera, a denied prompt).
    status.textContent += ` (no camera or microphone: ${(e as Error).message})`;
  }
  return { leave: () => room.disconnect() };
}
