// The demo page: plays `?src=` (default: the generated sample) with the Shoal player, joins the
// demo tracker's swarm (`?p2p=0` turns P2P off, `?tracker=` picks other trackers, `?swarmId=`
// sets p2p-media-loader's swarm id, `?level=` the start level, `?integrity=` the segments'
// integrity file, the sample's by default, `?mirrors=` comma-separated base URLs of servers
// mirroring the playlist's folder) and shows what it does, then
// shows the sample in the embed player with the HTML to copy. Tests read `window.shoalPlayer`
// and `window.shoalEvents`.
import { describeBans, Player } from '/pkg/shoal.js';

const video = document.getElementById('video');
const errorBox = document.getElementById('error');
const params = new URLSearchParams(location.search);
const sampleSrc = '/media/vod/master.m3u8';
const src = params.get('src') ?? sampleSrc;
document.getElementById('source').textContent = src;
// Segments from peers are checked against PeerTube's integrity file: the sample's sits next to
// its playlist; another stream names its own with `?integrity=`.
const integrity = params.get('integrity') ?? (src === sampleSrc ? '/media/vod/segments-sha256.json' : null);
const integrityUrl = integrity ? new URL(integrity, location.href).href : undefined;
// Mirrors of the stream's folder (PeerTube's redundancy servers), e.g. the demo server's
// test mirrors `/mirrors/ok/vod/`; their segments are checked against the integrity file.
const mirrors = (params.get('mirrors') ?? '')
  .split(',')
  .filter((base) => base !== '')
  .map((base) => new URL(base, location.href).href);

// The demo server runs a tracker on the page's own port; no STUN servers: viewers on one
// machine or network connect directly.
const p2pEnabled = params.get('p2p') !== '0';
const wsScheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
const trackers = params.getAll('tracker');
if (trackers.length === 0) trackers.push(`${wsScheme}//${location.host}/tracker`);
const swarmId = params.get('swarmId') ?? undefined;

const events = [];
window.shoalEvents = events;
// `?level=N` plays that rendition only, as if picked in the quality menu (tests use it to meet
// viewers pinned to one level: there is one swarm per rendition).
const startLevel = params.has('level') ? Number(params.get('level')) : undefined;
const player = new Player(video, { startLevel, integrityUrl, mirrors, p2p: { enabled: p2pEnabled, trackers, swarmId } });
window.shoalPlayer = player;

let levels = [];
const formatBytes = (n) => (n > 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(0)} kB`);
const formatSpeed = (bps) => `${(bps / 1e6).toFixed(2)} Mbit/s`;
const show = (id, text) => {
  document.getElementById(id).textContent = text;
};
const p2pToggle = document.getElementById('p2p-toggle');
const showP2pState = (on) => {
  show('p2p-state', on ? 'on' : 'off');
  document.getElementById('ip-warning').hidden = !on;
  p2pToggle.checked = on;
};
showP2pState(p2pEnabled);
p2pToggle.addEventListener('change', () => {
  player.setP2p(p2pToggle.checked);
  showP2pState(p2pToggle.checked);
});

const quality = document.getElementById('quality');
quality.addEventListener('change', () => player.setLevel(Number(quality.value)));
const levelName = (index) => {
  const level = levels[index];
  return level?.height ? `${level.height}p` : `#${index}`;
};

for (const type of ['levels', 'levelswitching', 'levelselected', 'levelswitched', 'segmentloaded', 'stats', 'peerconnected', 'peerdropped', 'integrityfailure', 'mirrordropped', 'mediarecovered', 'error', 'ended']) {
  player.on(type, (detail) => {
    events.push({ type, detail });
    if (type === 'levels') {
      levels = detail.levels;
      quality.replaceChildren(new Option('Auto', '-1'), ...levels.map((_, i) => new Option(levelName(i), String(i))));
      quality.value = String(startLevel ?? -1);
    }
    // What the picture shows; before the first segment plays, what is being loaded.
    if (type === 'levelswitched' || (type === 'levelselected' && !events.some((e) => e.type === 'levelswitched'))) {
      show('level', levelName(detail.level));
    }
    if (type === 'stats') {
      show('http-bytes', `${formatBytes(detail.httpBytes)} (${formatSpeed(detail.httpBps)})`);
      show('p2p-down', `${formatBytes(detail.p2pDownBytes)} (${formatSpeed(detail.p2pDownBps)})`);
      show('p2p-up', `${formatBytes(detail.p2pUpBytes)} (${formatSpeed(detail.p2pUpBps)})`);
      show('peers', String(detail.peers));
      show('bans', describeBans(detail));
      const total = detail.httpBytes + detail.p2pDownBytes;
      show('p2p-share', total > 0 ? `${Math.round((100 * detail.p2pDownBytes) / total)} %` : '–');
    }
    if (type === 'error' && detail.fatal) {
      // textContent, never innerHTML: messages may quote server-controlled text.
      errorBox.textContent = `Playback failed (${detail.code}): ${detail.message}`;
      errorBox.hidden = false;
    }
  });
}

setInterval(() => {
  const t = video.currentTime;
  let ahead = 0;
  for (let i = 0; i < video.buffered.length; i++) {
    if (video.buffered.start(i) <= t + 0.1 && t < video.buffered.end(i)) ahead = video.buffered.end(i) - t;
  }
  document.getElementById('buffer').textContent = `${ahead.toFixed(1)} s`;
}, 500);

player.load(src).then(() => {
  if (startLevel !== undefined) player.setLevel(startLevel);
});

// The embed: one list of attributes makes both the iframe on this page and the snippet shown,
// so what visitors copy is exactly what runs here. The sandbox keeps what an embed needs:
// its scripts, its own origin (for fetch and storage) and opening its link in a new tab.
const embedAttributes = [
  ['title', 'Shoal video player'],
  ['width', '560'],
  ['height', '315'],
  ['src', new URL('/videos/embed/vod?api=1', location.href).href],
  ['allow', 'autoplay; fullscreen; picture-in-picture'],
  ['allowfullscreen', ''],
  ['sandbox', 'allow-same-origin allow-scripts allow-popups allow-popups-to-escape-sandbox'],
];
const iframe = document.createElement('iframe');
for (const [name, value] of embedAttributes) iframe.setAttribute(name, value);
document.getElementById('embed-container').append(iframe);
const escapeAttribute = (value) => value.replaceAll('&', '&amp;').replaceAll('"', '&quot;');
const attributes = embedAttributes.map(([name, value]) => (value === '' ? name : `${name}="${escapeAttribute(value)}"`));
document.getElementById('embed-snippet').textContent = `<iframe ${attributes.join(' ')}></iframe>`;
