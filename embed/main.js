// Entry point of the embed page: reads the URL parameters, builds the media model, the
// controls and (with api=1) the host API, loads video.json, and starts playback when asked.
// For tests and debugging it exposes `window.shoalEmbed` ({media, options, warnings}),
// `window.shoalPlayer` (the Shoal Player once created) and `window.shoalEvents` (its events),
// like the demo page does.

import { startApi } from './api.js';
import { Controls } from './controls.js';
import { MediaController } from './media.js';
import { loadMetadata } from './metadata.js';
import { parseEmbedParams } from './params.js';

const { options, warnings } = parseEmbedParams(location.search, location.href);
for (const warning of warnings) console.warn(`shoal embed: ${warning}`);

const events = [];
window.shoalEvents = events;
const media = new MediaController(document.getElementById('video'), options, (player) => {
  window.shoalPlayer = player;
  for (const type of ['levels', 'levelselected', 'error', 'ended', 'stats']) {
    player.on(type, (detail) => events.push({ type, detail }));
  }
});
const controls = new Controls(media, options);
window.shoalEmbed = { media, options, warnings };

/** Everything the embed knows before playback: title and captions. */
async function setUp() {
  if (!options.src) {
    controls.setTitle(null);
    controls.showError('This embed has no valid video address: its src parameter must be an http(s) URL of an HLS playlist.');
    return;
  }
  const metadata = await loadMetadata(options.src);
  for (const warning of metadata.warnings) console.warn(`shoal embed: ${warning}`);
  controls.setTitle(metadata.name);
  media.setCaptionList(metadata.captions);
  if (options.subtitle) {
    if (metadata.captions.some((c) => c.language === options.subtitle)) media.selectCaption(options.subtitle);
    else console.warn(`shoal embed: ignored subtitle: no ${options.subtitle} captions`);
  }
}

const ready = setUp();
// Opened on its own (not framed) there is no host to talk to.
if (options.api && window.parent !== window) startApi(media, options, ready);
ready.then(() => {
  // Browsers may refuse autoplay with sound; the big play button stays for the viewer then.
  if (options.autoplay && options.src) media.play().catch((error) => console.warn(`shoal embed: autoplay refused: ${error.message}`));
});
