// The embed's URL parameters: parsing and validation, nothing else (no DOM, so Node tests can
// import it). Names and meanings follow PeerTube's embed (protocols.md section 5); every value
// is checked, and one that fails its check is dropped with a warning instead of being used.

/** Playback rates offered by the speed menu and `getPlaybackRates` (PeerTube's list). */
export const PLAYBACK_RATES = [0.5, 0.75, 1, 1.25, 1.5, 2];

const MIN_RATE = 0.25;
const MAX_RATE = 4;
const MAX_TITLE_LENGTH = 200;

/**
 * PeerTube's toggles: a parameter that is present is on only when it is `1` or `true`, so
 * `autoplay=yes` is off, as on PeerTube.
 */
function toggle(params, name, fallback) {
  if (!params.has(name)) return fallback;
  const value = params.get(name);
  return value === '1' || value === 'true';
}

/**
 * Seconds from `90`, `90.5`, `1m30s`, `1h2m3s`, `45s`; null when malformed. PeerTube accepts
 * both raw seconds and this duration form for `start` and `stop`.
 */
export function parseTime(text) {
  if (typeof text !== 'string') return null;
  const value = text.trim();
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value);
  const match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(value);
  if (!match || value === '') return null;
  const [, h = '0', m = '0', s = '0'] = match;
  return Number(h) * 3600 + Number(m) * 60 + Number(s);
}

/**
 * Whether `value` is nothing but a CSS colour: a keyword, `#hex`, or one of the colour
 * functions with plain numeric arguments. Deliberately narrower than CSS: no `var()`, no
 * `url()`, no `;` or braces can get through, whatever the browser would accept.
 */
export function isColour(value) {
  if (typeof value !== 'string' || value.length > 64) return false;
  const keyword = /^[a-z]{3,32}$/i;
  const hex = /^#(?:[0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/i;
  const fn = /^(?:rgba?|hsla?|hwb|lab|lch|oklab|oklch)\(\s*[-+0-9.%\s,/a-z]*\)$/i;
  if (!keyword.test(value) && !hex.test(value) && !fn.test(value)) return false;
  // In a browser, also require the engine to agree it is a colour (catches `rgb(nonsense)`).
  const css = globalThis.CSS;
  return typeof css?.supports !== 'function' || css.supports('color', value);
}

/** An absolute http(s) URL resolved against `base`, or null. */
function httpUrl(text, base) {
  try {
    const url = new URL(text, base);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

/** Values of a list parameter given comma-separated, repeated, or both. */
function listValues(params, name) {
  return params
    .getAll(name)
    .flatMap((value) => value.split(','))
    .map((value) => value.trim())
    .filter((value) => value !== '');
}

/**
 * Parses the embed's query string.
 * @param {string} search location.search (with or without `?`)
 * @param {string} base URL relative addresses resolve against (the embed page's URL)
 * @returns {{ options: object, warnings: string[] }} `options` always has every field.
 */
export function parseEmbedParams(search, base) {
  const params = new URLSearchParams(search);
  const warnings = [];
  const reject = (name, why) => warnings.push(`ignored ${name}: ${why}`);

  const options = {
    src: null,
    integrity: null,
    trackers: [],
    swarmId: null,
    start: 0,
    stop: null,
    autoplay: toggle(params, 'autoplay', false),
    muted: toggle(params, 'muted', false),
    loop: toggle(params, 'loop', false),
    controls: toggle(params, 'controls', true),
    controlBar: toggle(params, 'controlBar', true),
    warningTitle: toggle(params, 'warningTitle', true),
    p2p: toggle(params, 'p2p', true),
    api: toggle(params, 'api', false),
    // `title`: shown by default; `0` hides it; any other text is the title itself (a Shoal
    // extension: PeerTube takes the name from its API, Shoal from video.json or from here).
    showTitle: true,
    titleText: null,
    // `peertubeLink`: a link back to where the video lives; `0` hides it, a URL sets it.
    showLink: true,
    linkUrl: null,
    subtitle: null,
    playbackRate: 1,
    playbackRates: PLAYBACK_RATES,
    bigPlayBackgroundColor: null,
    foregroundColor: null,
    scope: 'peertube',
    apiOrigins: [],
  };

  if (params.has('src')) {
    options.src = httpUrl(params.get('src'), base);
    if (!options.src) reject('src', 'not an http(s) URL');
  }
  if (params.has('integrity')) {
    options.integrity = httpUrl(params.get('integrity'), base);
    if (!options.integrity) reject('integrity', 'not an http(s) URL');
  }
  for (const tracker of listValues(params, 'trackers')) {
    let url = null;
    try {
      url = new URL(tracker);
    } catch {
      // reported below
    }
    if (url && (url.protocol === 'ws:' || url.protocol === 'wss:')) options.trackers.push(url.href);
    else reject('trackers', `${JSON.stringify(tracker)} is not a ws:// or wss:// URL`);
  }
  if (params.has('swarmId')) {
    const swarmId = params.get('swarmId');
    if (/^[\w.:-]{1,128}$/.test(swarmId)) options.swarmId = swarmId;
    else reject('swarmId', 'use 1 to 128 letters, digits and . _ : -');
  }

  for (const name of ['start', 'stop']) {
    if (!params.has(name)) continue;
    const seconds = parseTime(params.get(name));
    if (seconds === null || !Number.isFinite(seconds)) reject(name, 'not seconds or a duration like 1m30s');
    else options[name] = seconds;
  }
  if (options.stop !== null && options.stop <= options.start) {
    reject('stop', 'not after start');
    options.stop = null;
  }

  if (params.has('title')) {
    const title = params.get('title');
    if (title === '0' || title === 'false') options.showTitle = false;
    else if (title !== '1' && title !== 'true' && title.trim() !== '') {
      options.titleText = title.trim().slice(0, MAX_TITLE_LENGTH);
    }
  }

  if (params.has('peertubeLink')) {
    const link = params.get('peertubeLink');
    if (link === '0' || link === 'false') options.showLink = false;
    else if (link !== '1' && link !== 'true') {
      // Only http(s): a `javascript:` or `data:` link would run in the embed's origin.
      const url = /^https?:\/\//i.test(link) ? httpUrl(link, base) : null;
      if (url) options.linkUrl = url;
      else reject('peertubeLink', 'not 0, 1 or an absolute http(s) URL');
    }
  }

  if (params.has('subtitle')) {
    const language = params.get('subtitle');
    if (/^[a-z]{2,3}(?:-[a-z0-9]{2,8})*$/i.test(language)) options.subtitle = language;
    else reject('subtitle', 'not a language code like en or pt-BR');
  }

  if (params.has('playbackRate')) {
    const rate = Number(params.get('playbackRate'));
    if (Number.isFinite(rate) && rate >= MIN_RATE && rate <= MAX_RATE) {
      options.playbackRate = rate;
      if (!PLAYBACK_RATES.includes(rate)) options.playbackRates = [...PLAYBACK_RATES, rate].sort((a, b) => a - b);
    } else {
      reject('playbackRate', `not a number from ${MIN_RATE} to ${MAX_RATE}`);
    }
  }

  for (const name of ['bigPlayBackgroundColor', 'foregroundColor']) {
    if (!params.has(name)) continue;
    const colour = params.get(name).trim();
    if (isColour(colour)) options[name] = colour;
    else reject(name, 'not a colour');
  }

  if (params.has('scope')) {
    const scope = params.get('scope');
    // jschannel splits method names on `::`, so a scope must not contain it.
    if (/^[\w.-]{1,64}$/.test(scope)) options.scope = scope;
    else reject('scope', 'use 1 to 64 letters, digits and . _ -');
  }

  for (const origin of listValues(params, 'apiOrigins')) {
    let normalised = null;
    try {
      const url = new URL(origin);
      if ((url.protocol === 'http:' || url.protocol === 'https:') && url.origin === origin.replace(/\/$/, '')) {
        normalised = url.origin;
      }
    } catch {
      // reported below
    }
    if (normalised) options.apiOrigins.push(normalised);
    else reject('apiOrigins', `${JSON.stringify(origin)} is not an origin like https://example.org`);
  }

  return { options, warnings };
}
