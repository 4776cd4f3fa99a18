// Just enough HLS playlist reading for the tests to know where segments are:
// which byte ranges of which file hold which media times. Independent of the
// player's own parser on purpose (the tests check the player against it).

/**
 * Parses a media playlist (RFC 8216 section 4.3.2).
 * Returns { targetDuration, map, segments } where each segment is
 * { index, uri, path, start, duration, offset, length } (offset/length are null
 * without #EXT-X-BYTERANGE); `path` is the URL pathname resolved against baseUrl.
 */
export function parseMediaPlaylist(text, baseUrl) {
  const lines = text.split(/\r?\n/);
  if (lines[0]?.trim() !== '#EXTM3U') throw new Error('not a playlist: first line is not #EXTM3U');
  const segments = [];
  let targetDuration = null;
  let map = null;
  let pendingDuration = null;
  let pendingRange = null;
  // Implicit byte-range offsets continue from the end of the previous sub-range
  // of the same resource (RFC 8216 4.3.2.2).
  const nextOffset = new Map();
  let time = 0;

  for (const raw of lines) {
    const line = raw.trim();
    if (!line) continue;
    if (line.startsWith('#EXT-X-TARGETDURATION:')) {
      targetDuration = Number(line.slice('#EXT-X-TARGETDURATION:'.length));
    } else if (line.startsWith('#EXTINF:')) {
      pendingDuration = Number(line.slice('#EXTINF:'.length).split(',')[0]);
      if (!Number.isFinite(pendingDuration)) throw new Error(`bad #EXTINF: ${line}`);
    } else if (line.startsWith('#EXT-X-BYTERANGE:')) {
      pendingRange = parseByteRange(line.slice('#EXT-X-BYTERANGE:'.length));
    } else if (line.startsWith('#EXT-X-MAP:')) {
      const attrs = parseAttributes(line.slice('#EXT-X-MAP:'.length));
      const url = new URL(attrs.URI, baseUrl);
      const range = attrs.BYTERANGE ? parseByteRange(attrs.BYTERANGE) : null;
      map = {
        uri: attrs.URI,
        path: url.pathname,
        offset: range ? (range.offset ?? 0) : null,
        length: range ? range.length : null,
      };
    } else if (!line.startsWith('#')) {
      if (pendingDuration === null) throw new Error(`segment URI without #EXTINF: ${line}`);
      const url = new URL(line, baseUrl);
      let offset = null;
      let length = null;
      if (pendingRange) {
        length = pendingRange.length;
        offset = pendingRange.offset ?? nextOffset.get(url.pathname);
        if (offset === undefined) {
          throw new Error(`implicit byte-range offset with no previous sub-range of ${line}`);
        }
        nextOffset.set(url.pathname, offset + length);
      }
      segments.push({
        index: segments.length,
        uri: line,
        path: url.pathname,
        start: time,
        duration: pendingDuration,
        offset,
        length,
      });
      time += pendingDuration;
      pendingDuration = null;
      pendingRange = null;
    }
  }
  return { targetDuration, map, segments, duration: time };
}

/** Variant stream URIs (resolved) of a multivariant playlist, in file order. */
export function parseMultivariantPlaylist(text, baseUrl) {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  if (lines[0] !== '#EXTM3U') throw new Error('not a playlist: first line is not #EXTM3U');
  const variants = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].startsWith('#EXT-X-STREAM-INF:')) continue;
    const attrs = parseAttributes(lines[i].slice('#EXT-X-STREAM-INF:'.length));
    let j = i + 1;
    while (j < lines.length && (lines[j] === '' || lines[j].startsWith('#'))) j++;
    if (j >= lines.length) throw new Error('#EXT-X-STREAM-INF without URI');
    variants.push({
      uri: lines[j],
      url: new URL(lines[j], baseUrl).href,
      bandwidth: Number(attrs.BANDWIDTH),
      resolution: attrs.RESOLUTION ?? null,
    });
  }
  return variants;
}

/** `len[@off]` -> { length, offset|null }. */
export function parseByteRange(s) {
  const m = /^\s*"?(\d+)(?:@(\d+))?"?\s*$/.exec(s);
  if (!m) throw new Error(`bad byte range: ${s}`);
  return { length: Number(m[1]), offset: m[2] === undefined ? null : Number(m[2]) };
}

/** Attribute list (RFC 8216 4.2) -> plain object; quoted values unquoted. */
export function parseAttributes(s) {
  const out = {};
  const re = /([A-Z0-9-]+)=("[^"]*"|[^,]*)/g;
  let m;
  while ((m = re.exec(s)) !== null) {
    out[m[1]] = m[2].startsWith('"') ? m[2].slice(1, -1) : m[2];
  }
  return out;
}

/** Start byte of a Range header value like `bytes=100-199`, or null. */
export function rangeStart(range) {
  const m = /^bytes=(\d+)-/.exec(range ?? '');
  return m ? Number(m[1]) : null;
}

/**
 * Fetches a multivariant playlist and all its media playlists from the server.
 * Returns [{ name, url, bandwidth, playlist }] in the master's order, where
 * name is the media playlist's basename without extension (e.g. "480p").
 */
export async function loadVod(serverUrl, masterPath = '/media/vod/master.m3u8') {
  const masterUrl = new URL(masterPath, serverUrl).href;
  const variants = parseMultivariantPlaylist(await getText(masterUrl), masterUrl);
  const out = [];
  for (const v of variants) {
    const playlist = parseMediaPlaylist(await getText(v.url), v.url);
    const name = new URL(v.url).pathname.split('/').pop().replace(/\.m3u8$/, '');
    out.push({ name, url: v.url, bandwidth: v.bandwidth, playlist });
  }
  return out;
}

/**
 * Maps a logged request ({path, range}) to the media segment it starts in, over
 * all renditions: { rendition, segment } or null (playlists, init segments,
 * anything else).
 */
export function segmentOfRequest(renditions, req) {
  const start = rangeStart(req.range);
  for (const r of renditions) {
    for (const seg of r.playlist.segments) {
      if (seg.path !== req.path) continue;
      if (seg.offset === null) return { rendition: r.name, segment: seg };
      if (start !== null && start >= seg.offset && start < seg.offset + seg.length) {
        return { rendition: r.name, segment: seg };
      }
    }
  }
  return null;
}

async function getText(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return res.text();
}
