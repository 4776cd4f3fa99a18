// Swarm identity goldens from the real packages, for player-core/tests/swarm_ids.rs.
//
// For each sample manifest this runs hls.js 1.7.4's own parser (M3U8Parser), hands the
// result to p2p-media-loader-hlsjs 2.3.1's own SegmentManager.processMainManifest with a real
// p2p-media-loader-core Core, and records every stream the core registered, its stream swarm
// id (StreamUtils.getStreamSwarmId) and info hash (PeerUtil.getStreamHash). It also records
// generateStreamShortId for edge-case properties, info hashes of odd strings and PeerTube's
// swarm ids, and the peer id prefix.
//
// Usage, from the repository root after `cd tests && npm ci --ignore-scripts`:
//   node tests/interop/swarm-goldens.mjs           writes player-core/tests/fixtures/swarm/goldens.json
//   node tests/interop/swarm-goldens.mjs --check   exits 1 if the committed file differs

import { register } from 'node:module';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

// p2p-media-loader-core's index re-exports a named `debug` from the CommonJS `debug`
// package, which Node's ESM loader refuses, and its tracker client pulls in
// bittorrent-tracker, whose Node WebRTC addon is not built by `npm ci --ignore-scripts`.
// Neither takes part in swarm identity: resolve both to inert stand-ins.
const stubs = {
  debug:
    'const make = () => { const log = () => {}; log.enabled = false; log.extend = make; return log; };' +
    'export default make; export { make as debug };',
  'bittorrent-tracker': 'export default class TrackerClientStub {}',
};
const stubUrls = Object.fromEntries(
  Object.entries(stubs).map(([name, code]) => [name, `data:text/javascript,${encodeURIComponent(code)}`]),
);
const loader =
  `const stubs = ${JSON.stringify(stubUrls)};` +
  'export async function resolve(specifier, context, next) {' +
  '  if (Object.hasOwn(stubs, specifier)) return { url: stubs[specifier], shortCircuit: true };' +
  '  return next(specifier, context);' +
  '}';
register(`data:text/javascript,${encodeURIComponent(loader)}`);

const modules = new URL('../node_modules/', import.meta.url);
const importPkg = (path) => import(new URL(path, modules).href);

const { M3U8Parser, AttrList } = await importPkg('hls.js/dist/hls.mjs');
const { Core } = await importPkg('p2p-media-loader-core/lib/index.js');
const StreamUtils = await importPkg('p2p-media-loader-core/lib/utils/stream.js');
const PeerUtil = await importPkg('p2p-media-loader-core/lib/utils/peer.js');
const { SegmentManager } = await importPkg('p2p-media-loader-hlsjs/lib/segment-manager.js');

const versions = {};
for (const pkg of ['hls.js', 'p2p-media-loader-core', 'p2p-media-loader-hlsjs']) {
  versions[pkg] = JSON.parse(readFileSync(new URL(`${pkg}/package.json`, modules))).version;
}

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const outPath = `${repoRoot}player-core/tests/fixtures/swarm/goldens.json`;

const manifests = [
  {
    name: 'peertube-like split audio',
    url: 'https://peertube.example/static/streaming-playlists/hls/9c9de5e8-0a1e-484a-b099-e80766180a6d/master.m3u8',
    text: [
      '#EXTM3U',
      '#EXT-X-VERSION:6',
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Audio",LANGUAGE="en",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="0-audio.m3u8"',
      '#EXT-X-STREAM-INF:BANDWIDTH=712345,AVERAGE-BANDWIDTH=500000,RESOLUTION=640x360,FRAME-RATE=30,CODECS="avc1.64001e,mp4a.40.2",AUDIO="audio"',
      '360.m3u8',
      '#EXT-X-STREAM-INF:BANDWIDTH=2456789,RESOLUTION=1280x720,FRAME-RATE=29.970,CODECS="avc1.64001f,mp4a.40.2",AUDIO="audio"',
      '720.m3u8',
      '',
    ],
  },
  {
    name: 'the query is not part of the swarm id',
    url: 'https://cdn.example.org/live/stream.m3u8?token=abc&x=1',
    text: [
      '#EXTM3U',
      '#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=854x480,CODECS="avc1.4d401e,mp4a.40.2"',
      '480p.m3u8?token=abc',
      '#EXT-X-STREAM-INF:BANDWIDTH=1400000,RESOLUTION=1280x720,CODECS="avc1.4d401f,mp4a.40.2"',
      '720p.m3u8?token=abc',
      '',
    ],
  },
  {
    name: 'configured swarmId',
    url: 'https://cdn-a.example.org/vod/master.m3u8',
    swarmId: 'my-swarm',
    text: [
      '#EXTM3U',
      '#EXT-X-STREAM-INF:BANDWIDTH=1000000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2"',
      'v.m3u8',
      '',
    ],
  },
  {
    name: 'apple-style attributes',
    url: 'https://example.com/apple/master.m3u8',
    text: [
      '#EXTM3U',
      '#EXT-X-VERSION:7',
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",NAME="English",LANGUAGE="en-US",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="a/en.m3u8"',
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",NAME="  Français  ",LANGUAGE="FR",AUTOSELECT=YES,CHANNELS="2",URI="a/fr.m3u8"',
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="atmos",NAME="Dolby",LANGUAGE="und",CHANNELS="16/JOC",URI="a/atmos.m3u8"',
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",NAME="日本語",LANGUAGE="ja",CHANNELS="2",URI="a/ja.m3u8"',
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="nogroup",NAME="Orphan",URI="a/orphan.m3u8"',
      '#EXT-X-STREAM-INF:BANDWIDTH=2177116,AVERAGE-BANDWIDTH=2168183,CODECS="avc1.66.30,mp4a.40.2",RESOLUTION=960x540,FRAME-RATE=60.000,VIDEO-RANGE=SDR,AUDIO="aac"',
      'v5/prog_index.m3u8',
      '#EXT-X-STREAM-INF:BANDWIDTH=8001076,AVERAGE-BANDWIDTH=6214307,CODECS="hvc1.2.4.L123.B0,ec-3",RESOLUTION=1920x1080,FRAME-RATE=23.976,VIDEO-RANGE=PQ,AUDIO="atmos"',
      'v9/prog_index.m3u8',
      '#EXT-X-STREAM-INF:BANDWIDTH=541052,CODECS="mp4a.40.2 avc1.640015",RESOLUTION=416x234,FRAME-RATE=24,AUDIO="aac"',
      'v1/prog_index.m3u8',
      '',
    ],
  },
  {
    name: 'missing metadata and odd bandwidths',
    url: 'http://127.0.0.1:8080/media/odd/master.m3u8',
    text: [
      '#EXTM3U',
      '#EXT-X-STREAM-INF:BANDWIDTH=0,AVERAGE-BANDWIDTH=0,RESOLUTION=640x360,CODECS="avc1.64001e"',
      'zero.m3u8',
      '#EXT-X-STREAM-INF:BANDWIDTH=0,RESOLUTION=640x360,CODECS="avc1.64001e"',
      'nan.m3u8',
      '#EXT-X-STREAM-INF:BANDWIDTH=0,AVERAGE-BANDWIDTH=350000,RESOLUTION=640x360',
      'avg.m3u8',
      '#EXT-X-STREAM-INF:BANDWIDTH=18014398509481984',
      'huge.m3u8',
      '#EXT-X-STREAM-INF:BANDWIDTH=96000,CODECS="mp4a.40.5"',
      'audio-only.m3u8',
      '#EXT-X-STREAM-INF:BANDWIDTH=123456',
      'zero.m3u8',
      '',
    ],
  },
  {
    name: 'unknown codecs drop levels and move the audio group codec',
    url: 'https://example.net/unknown/master.m3u8',
    text: [
      '#EXTM3U',
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="g",NAME="Main",LANGUAGE="de",URI="audio/de.m3u8"',
      '#EXT-X-STREAM-INF:BANDWIDTH=500000,CODECS="xyz1.2,opus",RESOLUTION=640x360,AUDIO="g"',
      'weird.m3u8',
      '#EXT-X-STREAM-INF:BANDWIDTH=900000,CODECS="avc1.42e01e,mp4a.40.2",RESOLUTION=640x360,AUDIO="g"',
      'normal.m3u8',
      '',
    ],
  },
  {
    name: 'media playlist loaded directly',
    url: 'https://example.org/only/media.m3u8?session=5',
    text: [
      '#EXTM3U',
      '#EXT-X-TARGETDURATION:4',
      '#EXTINF:4.0,',
      'seg0.ts',
      '#EXT-X-ENDLIST',
      '',
    ],
  },
];

// The properties p2p-media-loader-hlsjs could hand to generateStreamShortId, edge cases
// included. Numbers that JSON cannot carry are written as strings and marked.
const shortIdCases = [
  { bitrate: 0 },
  { bitrate: 1200000, codecs: 'avc1.64001F, MP4A.40.2', width: 1280, height: 720, frameRate: '29.970', videoRange: ' pq ' },
  { bitrate: 'NaN', codecs: 'avc1.100.40', width: 1920, height: 1080 },
  { bitrate: 'Infinity', codecs: 'avc.77.31,avc1.077.30,avc1.-5.30' },
  { bitrate: 0, codecs: 'ec-3,mp4a.40.2', language: 'und', channels: '6/JOC', name: '  Surround  ' },
  { bitrate: 0, codecs: 'mp4a.40.2', language: 'PT-br', channels: '2', name: 'Português' },
  { bitrate: 0, language: '𝔘nicode', name: 'İstanbul' },
  { bitrate: 500, frameRate: '1e3' },
  { bitrate: 500, frameRate: '0.0000001' },
  { bitrate: 500, frameRate: '0' },
  { bitrate: 500, width: 1e19, height: 123456789012345678 },
  { bitrate: 64000, codecs: 'vp09.00.10.08,opus,av01.0.04M.08' },
];

const hashInputs = [
  '',
  'a',
  'x'.repeat(55),
  'x'.repeat(56),
  'x'.repeat(64),
  'y'.repeat(119),
  'z'.repeat(1000),
  'v2-https://exämple.org/ünïcode.m3u8-main-😀',
];

const peertube = [
  { uuid: '9c9de5e8-0a1e-484a-b099-e80766180a6d', type: 'main', resolution: 720 },
  { uuid: '9c9de5e8-0a1e-484a-b099-e80766180a6d', type: 'main', resolution: 1080 },
  { uuid: '9c9de5e8-0a1e-484a-b099-e80766180a6d', type: 'main', resolution: 0 },
  { uuid: '9c9de5e8-0a1e-484a-b099-e80766180a6d', type: 'secondary', resolution: 0 },
];

function jsNumber(value) {
  if (value === 'NaN') return NaN;
  if (value === 'Infinity') return Infinity;
  return value;
}

function manifestStreams({ url, swarmId, text }) {
  const body = text.join('\n');
  let levels;
  let audioTracks = [];
  if (body.includes('#EXT-X-STREAM-INF')) {
    const parsed = M3U8Parser.parseMasterPlaylist(body, url);
    if (parsed.playlistParsingError) throw parsed.playlistParsingError;
    levels = parsed.levels;
    audioTracks = M3U8Parser.parseMasterPlaylistMedia(body, url, parsed).AUDIO ?? [];
    // hls.js PlaylistLoader.handleMasterPlaylist: a muxed first level without an AUDIO
    // group gets a synthesized "main" track when only URI-carrying tracks are listed. Its
    // URL is "" so it never becomes a swarm of its own; kept here for fidelity.
    if (audioTracks.length && !audioTracks.some((t) => !t.url) && levels[0].audioCodec && !levels[0].attrs.AUDIO) {
      audioTracks.unshift({ type: 'main', name: 'main', groupId: 'main', default: false, autoselect: false, forced: false, id: -1, attrs: new AttrList({}), bitrate: 0, url: '' });
    }
  } else {
    // hls.js PlaylistLoader.handleTrackOrLevelPlaylist: a media playlist loaded as the
    // manifest becomes one level with bitrate 0 and no attributes.
    levels = [{ attrs: new AttrList({}), bitrate: 0, name: '', url }];
  }
  const core = new Core(swarmId ? { swarmId } : {});
  core.setManifestResponseUrl(url);
  new SegmentManager(core).processMainManifest({ levels, audioTracks });
  // HybridLoader and P2PLoader: `this.config.swarmId ?? this.streamManifestUrl`.
  const swarm = swarmId ?? core.manifestResponseUrl;
  const streams = [];
  for (const stream of core.streams.values()) {
    if (!stream.runtimeId) continue; // URI-less audio tracks are never loaded on their own
    const streamSwarmId = StreamUtils.getStreamSwarmId(swarm, stream);
    streams.push({
      url: stream.runtimeId,
      type: stream.type,
      shortId: stream.index,
      streamSwarmId,
      infoHash: PeerUtil.getStreamHash(streamSwarmId),
    });
  }
  return { swarmId: swarm, streams };
}

const goldens = {
  comment: 'Generated by tests/interop/swarm-goldens.mjs from the npm packages listed in `versions`; do not edit.',
  versions,
  peerIdPrefix: PeerUtil.TRACKER_CLIENT_VERSION_PREFIX,
  manifests: manifests.map((m) => ({
    name: m.name,
    url: m.url,
    swarmIdOption: m.swarmId ?? null,
    text: m.text.join('\n'),
    ...manifestStreams(m),
  })),
  shortIds: shortIdCases.map((props) => ({
    props,
    shortId: StreamUtils.generateStreamShortId({ ...props, bitrate: jsNumber(props.bitrate) }),
  })),
  infoHashes: hashInputs.map((input) => ({ input, infoHash: PeerUtil.getStreamHash(input) })),
  peertube: peertube.map((p) => {
    // PeerTube's generateSwarmId (packages/core-utils/src/videos/p2p.ts), protocol "v2".
    const tail = p.resolution ? `default-${p.resolution}` : 'default-default';
    const streamSwarmId = `pt-v2-${p.uuid}-${p.type}-${tail}`;
    return { ...p, streamSwarmId, infoHash: PeerUtil.getStreamHash(streamSwarmId) };
  }),
};

const json = `${JSON.stringify(goldens, null, 2)}\n`;
if (process.argv.includes('--check')) {
  let committed = '';
  try {
    committed = readFileSync(outPath, 'utf8');
  } catch {
    // reported below
  }
  if (committed !== json) {
    console.error(`${outPath} differs from what the packages produce; run node tests/interop/swarm-goldens.mjs`);
    process.exit(1);
  }
  console.log(`${outPath} matches the packages`);
} else {
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileSync(outPath, json);
  console.log(`wrote ${outPath}`);
}
