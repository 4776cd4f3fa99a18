// Interop of Shoal viewers with third-party peers and trackers, in headless Chromium inside the
// private network namespace (scripts/netns-run.sh; Chromium gathers no ICE candidates on
// loopback):
// - one swarm of Shoal demo pages and hls.js 1.7.4 + p2p-media-loader-hlsjs 2.3.1 pages (from
//   tests/node_modules, fixture tests/fixtures/p2pml) with the same swarmId, where segments
//   flow both ways: Shoal -> p2p-media-loader and p2p-media-loader -> Shoal, each asserted on
//   both sides' byte counters;
// - two Shoal viewers sharing through the real npm bittorrent-tracker server.
// (p2p-media-loader against the Shoal demo tracker is tracker-interop.test.mjs.)

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  describe as show,
  launchBrowser,
  MULTI_PAGE_ARGS,
  openPlayerPage,
  saveScreenshot,
  startDemo,
  waitFor,
} from './harness.mjs';
import { P2PML_MOUNT_ARGS, openP2pmlViewer, shoalTrackerUrl, summarize } from './p2pml.mjs';
import { startBittorrentTracker } from './reference-tracker.mjs';

const TEST_TIMEOUT_MS = 300_000;
// One rendition for everybody: the p2p-media-loader page pins its hls.js level, the Shoal page
// starts at the same level (one swarm per rendition).
const LEVEL = 1;
// Pages in one browser must not be throttled as background tabs.

let server;

before(async () => {
  server = await startDemo({ extraArgs: P2PML_MOUNT_ARGS });
});

after(async () => {
  await server?.stop();
});

function shoalUrl({ tracker, swarmId }) {
  const url = new URL('/', server.url);
  url.searchParams.append('tracker', tracker);
  if (swarmId) url.searchParams.set('swarmId', swarmId);
  url.searchParams.set('level', String(LEVEL));
  return url.href;
}

/** A Shoal demo page's counters: bytes by source from its events, and its last stats event. */
function shoalCounters(page) {
  return page.evaluate(() => {
    const bySource = { http: 0, peer: 0, 'peer-then-http': 0 };
    let stats = null;
    let fatal = null;
    for (const e of window.shoalEvents ?? []) {
      if (e.type === 'segmentloaded') bySource[e.detail.source] += e.detail.bytes;
      if (e.type === 'stats') stats = e.detail;
      if (e.type === 'error' && e.detail.fatal) fatal = e.detail;
    }
    const video = document.getElementById('video');
    return { bySource, stats, fatal, currentTime: video.currentTime };
  });
}

async function openShoal(browser, options) {
  const session = await openPlayerPage(browser, shoalUrl(options));
  const counters = () => shoalCounters(session.page);
  const until = (predicate, what, timeoutMs = 90_000) =>
    waitFor(
      async () => {
        const c = await counters();
        if (c.fatal) throw new Error(`Shoal viewer failed: ${show(c.fatal)}`);
        return predicate(c) ? c : null;
      },
      { what, timeoutMs },
    );
  return { ...session, counters, until };
}

test('Shoal and p2p-media-loader viewers share one swarm, segments flowing both ways', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const swarmId = `interop-${Date.now()}`;
  const tracker = shoalTrackerUrl(server.url);
  const browser = await launchBrowser({ extraArgs: MULTI_PAGE_ARGS });
  const pages = [];
  try {
    // Shoal first: it alone holds the segments the p2p-media-loader viewer then takes.
    const shoal1 = await openShoal(browser, { tracker, swarmId });
    pages.push(shoal1.page);
    await shoal1.until((c) => c.currentTime >= 3, 'the first Shoal viewer to play 3 s');

    const p2pml = await openP2pmlViewer(browser, { serverUrl: server.url, tracker, swarmId, level: LEVEL });
    pages.push(p2pml.page);
    const p2pmlGot = await p2pml.waitFor((s) => s.bytes.p2p > 0, {
      timeoutMs: 90_000,
      what: 'the p2p-media-loader viewer to receive bytes from the Shoal viewer',
    });
    const uploaded = await shoal1.until(
      (c) => (c.stats?.p2pUpBytes ?? 0) > 0,
      'the Shoal viewer to count bytes uploaded',
      30_000,
    );
    t.diagnostic(`Shoal -> p2p-media-loader: p2pml ${summarize(p2pmlGot)}; Shoal up ${uploaded.stats.p2pUpBytes}`);

    // Let the p2p-media-loader viewer hold some segments, then take the Shoal one away so the
    // next Shoal viewer can only get peer bytes from p2p-media-loader.
    await p2pml.waitFor((s) => s.currentTime >= 6, { what: 'the p2p-media-loader viewer to play 6 s' });
    await shoal1.page.close();

    const shoal2 = await openShoal(browser, { tracker, swarmId });
    pages.push(shoal2.page);
    const shoalGot = await shoal2.until((c) => c.bySource.peer > 0, 'the second Shoal viewer to receive bytes from p2p-media-loader');
    const p2pmlUp = await p2pml.waitFor((s) => s.bytes.uploaded > 0, {
      timeoutMs: 30_000,
      what: 'the p2p-media-loader viewer to count bytes uploaded',
    });
    t.diagnostic(`p2p-media-loader -> Shoal: Shoal ${show(shoalGot.bySource)}; p2pml uploaded ${p2pmlUp.bytes.uploaded}`);
    assert.ok(shoalGot.bySource.peer > 0);
    assert.ok(p2pmlUp.bytes.uploaded > 0);

    // Both keep playing.
    await shoal2.until((c) => c.currentTime >= 8, 'the second Shoal viewer to play 8 s');
    assert.deepEqual(shoal2.pageErrors, [], `Shoal page errors: ${show(shoal2.pageErrors)}`);
  } catch (err) {
    for (const [i, page] of pages.entries()) {
      if (!page.isClosed()) await saveScreenshot(page, `p2p-interop-${i + 1}-failure`);
    }
    throw err;
  } finally {
    await browser.close();
  }
});

test('two Shoal viewers share through the npm bittorrent-tracker server', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const reference = await startBittorrentTracker();
  const browser = await launchBrowser({ extraArgs: MULTI_PAGE_ARGS });
  try {
    const first = await openShoal(browser, { tracker: reference.url });
    await first.until((c) => c.currentTime >= 3, 'the first viewer to play 3 s');
    const second = await openShoal(browser, { tracker: reference.url });
    const got = await second.until((c) => c.bySource.peer > 0, 'the second viewer to receive bytes from the first');
    const up = await first.until((c) => (c.stats?.p2pUpBytes ?? 0) > 0, 'the first viewer to count bytes uploaded', 30_000);
    t.diagnostic(`second viewer ${show(got.bySource)}; first uploaded ${up.stats.p2pUpBytes}`);
  } finally {
    await browser.close();
    await reference.stop();
  }
});
