// The demo page: plays `?src=` (default: the generated sample) with the Shoal player and shows
// what it does, then shows the sample in the embed player with the HTML to copy. Tests read
// `window.shoalPlayer` and `window.shoalEvents`.
import { Player } from '/pkg/shoal.js';

const video = document.getElementById('video');
const errorBox = document.getElementById('error');
const src = new URLSearchParams(location.search).get('src') ?? '/media/vod/master.m3u8';
document.getElementById('source').textContent = src;

const events = [];
window.shoalEvents = events;
const player = new Player(video);
window.shoalPlayer = player;

let httpBytes = 0;
let levels = [];
const formatBytes = (n) => (n > 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(0)} kB`);

for (const type of ['levels', 'levelselected', 'segmentloaded', 'error', 'ended']) {
  player.on(type, (detail) => {
    events.push({ type, detail });
    if (type === 'levels') levels = detail.levels;
    if (type === 'levelselected') {
      const level = levels[detail.level];
      document.getElementById('level').textContent = level?.height ? `${level.height}p` : `#${detail.level}`;
    }
    if (type === 'segmentloaded') {
      httpBytes += detail.bytes;
      document.getElementById('http-bytes').textContent = formatBytes(httpBytes);
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

player.load(src);

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
