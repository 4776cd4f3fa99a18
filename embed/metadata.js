// How the embed learns about the video beyond its HLS playlist: `video.json` in the same
// folder as the master playlist (PeerTube's embed asks its server's API; a plain HLS origin
// has none, so this sidecar plays that part). Its shape:
//   { "name": "Shoal sample video",
//     "captions": [ { "language": "en", "label": "English", "src": "captions/en.vtt" } ] }
// `src` is resolved against the JSON's own URL. The file is optional: without it there is no
// default title and no captions. Every field is checked like a URL parameter would be.

const MAX_NAME_LENGTH = 200;
const MAX_LABEL_LENGTH = 100;
const MAX_CAPTIONS = 50;

/** The URL of `video.json` next to the playlist at `src`. */
export function metadataUrl(src) {
  return new URL('video.json', src).href;
}

/**
 * Validates a parsed `video.json` (resolving caption sources against `baseUrl`).
 * @returns {{ name: string|null, captions: {language, label, src}[], warnings: string[] }}
 */
export function readMetadata(json, baseUrl) {
  const warnings = [];
  const result = { name: null, captions: [], warnings };
  if (typeof json !== 'object' || json === null) {
    warnings.push('video.json is not an object');
    return result;
  }
  if (typeof json.name === 'string' && json.name.trim() !== '') {
    result.name = json.name.trim().slice(0, MAX_NAME_LENGTH);
  }
  const captions = Array.isArray(json.captions) ? json.captions.slice(0, MAX_CAPTIONS) : [];
  for (const caption of captions) {
    const language = caption?.language;
    if (typeof language !== 'string' || !/^[a-z]{2,3}(?:-[a-z0-9]{2,8})*$/i.test(language)) {
      warnings.push(`caption without a valid language: ${JSON.stringify(language)}`);
      continue;
    }
    if (result.captions.some((c) => c.language === language)) {
      warnings.push(`caption language ${language} listed twice`);
      continue;
    }
    let src = null;
    try {
      const url = new URL(caption.src, baseUrl);
      if (url.protocol === 'http:' || url.protocol === 'https:') src = url.href;
    } catch {
      // reported below
    }
    if (typeof caption.src !== 'string' || !src) {
      warnings.push(`caption ${language} has no http(s) src`);
      continue;
    }
    const label =
      typeof caption.label === 'string' && caption.label.trim() !== ''
        ? caption.label.trim().slice(0, MAX_LABEL_LENGTH)
        : language;
    result.captions.push({ language, label, src });
  }
  return result;
}

/** Fetches and reads `video.json` for `src`; a missing or broken file means no metadata. */
export async function loadMetadata(src) {
  const url = metadataUrl(src);
  try {
    const response = await fetch(url, { credentials: 'omit' });
    if (!response.ok) return { name: null, captions: [], warnings: [] };
    return readMetadata(await response.json(), url);
  } catch (error) {
    return { name: null, captions: [], warnings: [`video.json unreadable: ${error.message}`] };
  }
}
