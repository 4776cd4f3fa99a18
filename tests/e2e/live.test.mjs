// A live stream in the browser: the demo server's `--live` mode runs ffmpeg in real time (2 s
// fMP4 segments, a sliding window of 6). Two viewers of the demo page join a few seconds
// apart, in the demo's swarm, and each plays at least 30 s near the live edge without a
// stall, while they share live segments over WebRTC (the test runs in the private network
// namespace, like every browser test).

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
  watchPlayback,
} from './harness.mjs';

const MASTER = '/media/live/master.m3u8';
const PLAY_S = 30;

let server;

before(async () => {
  server = await startDemo({ extraArgs: ['--live'] });
});

after(async () => {
  await server?.stop();
});

/** The first rendition's live media playlist as the origin lists it now. */
async function liveWindow() {
  const master = await (await server.get(MASTER)).text();
  const uri = master.split('\n').find((line) => line && !line.startsWith('#'));
  const text = await (await server.get(new URL(uri, new URL(MASTER, server.url)).pathname)).text();
  const sequence = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)?.[1] ?? NaN);
  const durations = [...text.matchAll(/#EXTINF:([\d.]+)/g)].map((m) => Number(m[1]));
  return { sequence, durations, ended: text.includes('#EXT-X-ENDLIST') };
}

/** Segment bytes by source, from the page's `segmentloaded` events, and the most peers seen. */
function bytesBySource(page) {
  return page.evaluate(() => {
    const totals = { http: 0, peer: 0, 'peer-then-http': 0, maxPeers: 0 };
    for (const e of window.shoalEvents) {
      if (e.type === 'segmentloaded') totals[e.detail.source] += e.detail.bytes;
      if (e.type === 'stats') totals.maxPeers = Math.max(totals.maxPeers, e.detail.peers);
    }
    return totals;
  });
}

test('two viewers play the live stream near its edge and share its segments', { timeout: 240_000 }, async (t) => {
  const listed = await waitFor(
    async () => {
      const w = (await server.get(MASTER)).ok ? await liveWindow() : null;
      return w && w.durations.length >= 3 ? w : null;
    },
    { timeoutMs: 60_000, what: 'a live playlist with 3 segments' },
  );
  assert.equal(listed.ended, false, 'the live playlist has #EXT-X-ENDLIST');
  const browser = await launchBrowser({ extraArgs: MULTI_PAGE_ARGS });
  const sessions = [];
  try {
    // Both on the first rendition: one swarm per rendition.
    const url = new URL(`/?src=${encodeURIComponent(MASTER)}&level=0`, server.url).href;
    const watches = [];
    for (let i = 0; i < 2; i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 3000));
      const session = await openPlayerPage(browser, url);
      sessions.push(session);
      watches.push(watchPlayback(session.page, { seconds: PLAY_S, timeoutMs: 120_000 }));
    }
    const reports = await Promise.all(watches);

    // ffmpeg's media times start at 0 with sequence 0 (2 s each), so the newest listed
    // segment ends at the sum of every duration since; the playhead should be a few
    // segments behind it.
    const now = await liveWindow();
    const edge = now.sequence * 2 + now.durations.reduce((a, b) => a + b, 0);
    const figures = [];
    for (const [i, session] of sessions.entries()) {
      const report = reports[i];
      const position = await session.page.evaluate(() => document.getElementById('video').currentTime);
      const bytes = await bytesBySource(session.page);
      figures.push({ viewer: i + 1, advanced: report.advanced, latency: Number((edge - position).toFixed(1)), ...bytes, stalls: report.stalls.length });
      assert.equal(report.fatalError, null, `viewer ${i + 1}: ${show(report.fatalError)}`);
      assert.ok(report.advanced >= PLAY_S, `viewer ${i + 1} played only ${report.advanced} s: ${show(report.state)}`);
      assert.deepEqual(report.stalls, [], `viewer ${i + 1} stalled: ${show(report.stalls)}`);
      assert.ok(edge - position < 20 && edge - position > 1, `viewer ${i + 1} is ${edge - position} s behind the edge`);
      assert.deepEqual(session.pageErrors, [], `viewer ${i + 1}: ${show(session.pageErrors)}`);
    }
    t.diagnostic(`live edge ${edge.toFixed(1)} s: ${JSON.stringify(figures)}`);
    const fromPeers = figures.reduce((sum, f) => sum + f.peer, 0);
    assert.ok(fromPeers > 0, `no live segment came from a peer: ${show(figures)}`);
  } catch (error) {
    for (const [i, session] of sessions.entries()) await saveScreenshot(session.page, `live-viewer-${i + 1}-failure`);
    throw error;
  } finally {
    await browser.close();
  }
});
