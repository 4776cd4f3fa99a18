// Third-party viewers for interop tests: pages running the REAL hls.js 1.7.4 +
// p2p-media-loader-hlsjs/core 2.3.1 from tests/node_modules (fixture
// tests/fixtures/p2pml/index.html), with helpers to open them and read their
// P2P/HTTP byte counters.
//
// Setup (see tracker-interop.test.mjs for a complete example):
//   const server = await startDemo({ extraArgs: P2PML_MOUNT_ARGS });
//   const browser = await launchBrowser();
//   const viewer = await openP2pmlViewer(browser, {
//     serverUrl: server.url, tracker: shoalTrackerUrl(server.url), swarmId: 'my-test', level: 0,
//   });
//   await viewer.waitFor((s) => s.bytes.p2p > 0, { what: 'P2P bytes' });
//
// Facts a Shoal peer needs to share a swarm with these viewers (p2p-media-loader 2.3.1):
// - One swarm per rendition: streamSwarmId = `v2-${swarmId}-main-${shortId}` (`secondary` for a
//   separate audio rendition), where swarmId defaults to the manifest's response URL without
//   its query, and shortId = base64(SHA-1(`${BANDWIDTH}-${codecs}-${width}-${height}----${FRAME-RATE}-${VIDEO-RANGE}`))
//   with hls.js's parsed level values (codecs = the video codec only, lowercased, avc1 decimal
//   forms normalised to hex; FRAME-RATE as a number without trailing zeros); see
//   generateStreamShortId in p2p-media-loader-core/src/utils/stream.ts.
// - info_hash = base64 of the first 15 bytes of SHA-1(streamSwarmId): 20 ASCII characters.
//   The page records the info hashes it announced (hex) in stats.tracker.infoHashes.
// - peer_id = `-PM0203-` + 12 random alphanumerics, one per info hash per page.
// - Two pages of ONE Chromium connect without STUN (mDNS host candidates); run inside the
//   private network namespace (scripts/netns-run.sh), as Chromium gathers nothing on loopback.

import { openPlayerPage, waitFor } from './harness.mjs';

/**
 * Extra shoal-demo arguments the fixture needs: the page at /p2pml/ and the npm packages at
 * /node_modules/ (the page's import map uses that absolute path). Pass to startDemo({ extraArgs }).
 */
export const P2PML_MOUNT_ARGS = [
  '--mount',
  '/p2pml=tests/fixtures/p2pml',
  '--mount',
  '/node_modules=tests/node_modules',
];

/** `ws://HOST:PORT/tracker` for a demo server URL such as `http://127.0.0.1:PORT/`. */
export function shoalTrackerUrl(serverUrl) {
  const url = new URL('tracker', serverUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.href;
}

/**
 * The fixture page's URL on `serverUrl` (a shoal-demo started with P2PML_MOUNT_ARGS).
 * Options (all but tracker optional):
 *   tracker   tracker URL, or an array of them
 *   src       manifest URL (default /media/vod/master.m3u8 of the same server)
 *   swarmId   p2p-media-loader swarmId (default: the manifest URL without query). Use a unique
 *             one per test so swarms of different tests never mix.
 *   level     fixed hls.js level index (ABR off), so all viewers join the same rendition swarm
 *   stun      STUN URL(s); default none (rtcConfig.iceServers = [])
 *   core      object merged into p2p-media-loader's core config
 *   autoplay  false to load without playing
 */
export function p2pmlViewerUrl(serverUrl, { tracker, src, swarmId, level, stun, core, autoplay = true } = {}) {
  if (!tracker) throw new Error('p2pmlViewerUrl: a tracker URL is required');
  const url = new URL('p2pml/index.html', serverUrl);
  for (const t of [].concat(tracker)) url.searchParams.append('tracker', t);
  if (src !== undefined) url.searchParams.set('src', src);
  if (swarmId !== undefined) url.searchParams.set('swarmId', swarmId);
  if (level !== undefined && level !== null) url.searchParams.set('level', String(level));
  for (const s of [].concat(stun ?? [])) url.searchParams.append('stun', s);
  if (core !== undefined) url.searchParams.set('core', JSON.stringify(core));
  if (!autoplay) url.searchParams.set('autoplay', '0');
  return url.href;
}

/**
 * Opens one viewer in a new page of `browser` (from launchBrowser) and waits for its player to
 * start (or for the page to report an error). Options: `serverUrl` plus those of p2pmlViewerUrl.
 * Returns {
 *   page, pageErrors, consoleErrors, url,
 *   stats(): Promise<Stats>,                  a snapshot, see below
 *   waitFor(predicate(stats), { timeoutMs, what }): Promise<Stats>, polls stats until true
 *   close(): Promise<void>,                   closes the page (its peers see it leave)
 * }
 * Stats (from the page's window.p2pmlStats()):
 *   ready            hls.js parsed the manifest
 *   error            fatal error text, or null
 *   bytes            { p2p, http, uploaded }: sums of p2p-media-loader's onChunkDownloaded
 *                    (by downloadSource 'p2p' / 'http') and onChunkUploaded byte lengths
 *   segments         { p2p, http }: onSegmentLoaded count by downloadSource
 *   peersConnected   peers connected now (onPeerConnect minus onPeerClose); peersEver, peerErrors
 *   currentTime, paused, level
 *   trackerWarnings, trackerErrors, hlsErrors   first 20 messages of each
 *   tracker          frames seen on the page's tracker WebSockets:
 *                    { sockets, sent: { announce, offers, answers, stopped, other },
 *                      received: { replies, offers, answers, failures, other },
 *                      infoHashes: [hex...], failures: [reason...] }
 */
export async function openP2pmlViewer(browser, { serverUrl, ...options }) {
  const url = p2pmlViewerUrl(serverUrl, options);
  const session = await openPlayerPage(browser, url);
  const { page } = session;
  const stats = () => page.evaluate(() => window.p2pmlStats());
  const viewer = {
    ...session,
    url,
    stats,
    waitFor: (predicate, { timeoutMs = 60_000, what = 'viewer condition' } = {}) =>
      waitFor(
        async () => {
          const s = await stats();
          if (s.error) throw new Error(`p2p-media-loader viewer failed: ${s.error}`);
          return predicate(s) ? s : null;
        },
        { timeoutMs, what, intervalMs: 250 },
      ),
    close: () => page.close(),
  };
  await page.waitForFunction(() => typeof window.p2pmlStats === 'function', null, { timeout: 30_000 });
  return viewer;
}

/** One line summarising a viewer's stats, for diagnostics. */
export function summarize(stats) {
  const t = stats.tracker ?? {};
  return (
    `t=${stats.currentTime?.toFixed?.(1)} level=${stats.level} peers=${stats.peersConnected}/${stats.peersEver} ` +
    `bytes p2p=${stats.bytes.p2p} http=${stats.bytes.http} up=${stats.bytes.uploaded} ` +
    `segments p2p=${stats.segments.p2p} http=${stats.segments.http} ` +
    `tracker sent=${JSON.stringify(t.sent)} received=${JSON.stringify(t.received)} ` +
    `infoHashes=${JSON.stringify(t.infoHashes)} errors=${JSON.stringify({
      error: stats.error,
      tracker: stats.trackerErrors,
      warnings: stats.trackerWarnings,
      hls: stats.hlsErrors,
    })}`
  );
}
