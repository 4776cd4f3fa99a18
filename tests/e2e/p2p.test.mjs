// Browser end-to-end test of P2P delivery: four viewers of the demo page join the demo
// server's swarm (its own WebSocket tracker at /tracker) a few seconds apart and play the
// sample VOD to the end. Real Chromium WebRTC between the pages, so the test must run in the
// private network namespace (scripts/netns-run.sh), where the host has a non-loopback address.
//
// Asserted: every viewer plays without a stall; every viewer after the first gets at least
// half of its segment bytes from peers; the origin serves well under 4x the video's size.
// The demo page checks peer segments against the sample's segments-sha256.json (a segment
// from a peer counts as loaded only once its WebCrypto digest matched): every viewer loads
// the file and none refuses anything.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  appendedBuffers,
  countConnections,
  describe as show,
  integrityDigests,
  launchBrowser,
  MULTI_PAGE_ARGS,
  openPlayerPage,
  recordAppends,
  saveScreenshot,
  startDemo,
  watchPlayback,
} from './harness.mjs';
import { loadVod, rangeStart } from './hls.mjs';

const VIEWERS = 4;
const JOIN_INTERVAL_MS = 4000;

let server;

before(async () => {
  server = await startDemo();
});

after(async () => {
  await server?.stop();
});

/** Bytes of media segments by source, from the page's `segmentloaded` events. */
function segmentBytesBySource(page) {
  return page.evaluate(() => {
    const totals = { http: 0, peer: 0, 'peer-then-http': 0 };
    for (const e of window.shoalEvents ?? []) {
      if (e.type === 'segmentloaded') totals[e.detail.source] = (totals[e.detail.source] ?? 0) + e.detail.bytes;
    }
    return totals;
  });
}

/** Bytes the origin sent for media: the length of every ranged 206 answer. */
function originMediaBytes(log) {
  let bytes = 0;
  for (const request of log) {
    if (request.status !== 206 || !request.range) continue;
    const match = /^bytes=(\d+)-(\d+)$/.exec(request.range.trim());
    if (match) bytes += Number(match[2]) - Number(match[1]) + 1;
  }
  return bytes;
}

test('four viewers joining a few seconds apart share the video over WebRTC', { timeout: 420_000 }, async (t) => {
  await server.control.reset();
  const renditions = await loadVod(server.url);
  const browser = await launchBrowser({ extraArgs: MULTI_PAGE_ARGS });
  const sessions = [];
  try {
    const watches = [];
    for (let i = 0; i < VIEWERS; i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, JOIN_INTERVAL_MS));
      // One rendition for all (?level=1 picks 480p): there is one swarm per rendition.
      const session = await openPlayerPage(browser, new URL('/?level=1', server.url).href, {
        beforeLoad: recordAppends,
      });
      sessions.push(session);
      const duration = renditions[0].playlist.segments.reduce((sum, s) => sum + s.duration, 0);
      watches.push(
        watchPlayback(session.page, {
          untilTime: duration - 1,
          timeoutMs: (duration + 120) * 1000,
        }),
      );
    }
    const reports = await Promise.all(watches);

    // The request log is read before the test itself fetches the integrity file.
    const log = await server.control.requests();
    const listed = integrityDigests(await (await server.get('/media/vod/segments-sha256.json')).json());
    const initLengths = new Set(renditions.map((r) => r.playlist.map.length));
    const shares = [];
    for (const [i, session] of sessions.entries()) {
      const report = reports[i];
      const bytes = await segmentBytesBySource(session.page);
      const total = bytes.http + bytes.peer + bytes['peer-then-http'];
      const share = total > 0 ? bytes.peer / total : 0;
      shares.push({ viewer: i + 1, share: Number(share.toFixed(3)), ...bytes, stalls: report.stalls.length });
      assert.equal(report.fatalError, null, `viewer ${i + 1}: fatal error ${show(report.fatalError)}`);
      assert.ok(report.reached, `viewer ${i + 1} did not reach the end (${report.reason}): ${show(report.state)}`);
      assert.deepEqual(report.stalls, [], `viewer ${i + 1} stalled: ${show(report.stalls)}`);
      assert.deepEqual(session.pageErrors, [], `viewer ${i + 1}: uncaught errors ${show(session.pageErrors)}`);
      const refused = await session.page.evaluate(() =>
        (window.shoalEvents ?? []).filter((e) => e.type === 'integrityfailure' || (e.type === 'error' && e.detail.code === 'integrity-file')),
      );
      assert.deepEqual(refused, [], `viewer ${i + 1}: integrity trouble between honest peers ${show(refused)}`);
      // Every media segment appended, from a peer or not, is one the integrity file lists; the
      // rest are init segments (the file does not list those).
      const appended = await appendedBuffers(session.page);
      const unlisted = appended.filter((a) => !listed.has(a.sha256));
      assert.ok(appended.length > unlisted.length, `viewer ${i + 1} appended no listed segment`);
      assert.ok(
        unlisted.every((a) => initLengths.has(a.bytes)),
        `viewer ${i + 1} appended bytes the integrity file does not list: ${show(unlisted)}`,
      );
    }
    t.diagnostic(`per viewer: ${JSON.stringify(shares)}`);

    // Every viewer plays level 1, so "the video" is that rendition's file.
    const integrityLoads = log.filter((r) => r.path === '/media/vod/segments-sha256.json' && r.status === 200).length;
    assert.equal(integrityLoads, VIEWERS, `the integrity file was loaded ${integrityLoads} times for ${VIEWERS} viewers`);
    const origin = originMediaBytes(log);
    const played = new Set(
      log.filter((r) => r.status === 206 && rangeStart(r.range) !== null).map((r) => r.path),
    );
    const videoBytes = renditions
      .filter((r) => played.has(r.playlist.segments[0].path))
      .reduce((sum, r) => sum + r.playlist.segments.reduce((s, seg) => s + (seg.length ?? 0), 0), 0);
    t.diagnostic(`origin media bytes ${origin}, video size ${videoBytes}, ratio ${(origin / videoBytes).toFixed(2)}`);

    for (const entry of shares.slice(1)) {
      assert.ok(entry.share >= 0.5, `viewer ${entry.viewer} got only ${entry.share} of its bytes from peers: ${show(shares)}`);
    }
    assert.ok(videoBytes > 0, 'no rendition of the sample was played');
    assert.ok(origin < 2 * videoBytes, `the origin served ${origin} bytes for a ${videoBytes}-byte video`);
  } catch (err) {
    for (const [i, session] of sessions.entries()) await saveScreenshot(session.page, `p2p-viewer-${i + 1}-failure`);
    throw err;
  } finally {
    await browser.close();
  }
});

test('with p2p=0 no WebSocket and no RTCPeerConnection is opened; with P2P on both are', { timeout: 240_000 }, async () => {
  const browser = await launchBrowser({ extraArgs: MULTI_PAGE_ARGS });
  try {
    const open = async (path) => {
      const page = await browser.newPage();
      await countConnections(page);
      await page.goto(new URL(path, server.url).href, { waitUntil: 'load' });
      return page;
    };
    // Two P2P viewers, so that peer connections are really made (the positive control).
    const on1 = await open('/?swarmId=p2p-switch');
    await watchPlayback(on1, { seconds: 2 });
    const on2 = await open('/?swarmId=p2p-switch');
    await watchPlayback(on2, { seconds: 2 });
    const off = await open('/?swarmId=p2p-switch&p2p=0');
    const report = await watchPlayback(off, { seconds: 8 });
    assert.equal(report.fatalError, null, `p2p=0 viewer failed: ${show(report.fatalError)}`);
    assert.ok(report.advanced >= 8, `p2p=0 viewer did not play: ${show(report.state)}`);

    const counts = async (page) => page.evaluate(() => window.__connections);
    const onCounts = await counts(on2);
    assert.ok(onCounts.webSockets >= 1, `a P2P viewer opened no tracker socket: ${show(onCounts)}`);
    assert.ok(onCounts.peerConnections >= 1, `a P2P viewer opened no peer connection: ${show(onCounts)}`);
    assert.deepEqual(await counts(off), { webSockets: 0, peerConnections: 0 });
    const offBytes = await segmentBytesBySource(off);
    assert.equal(offBytes.peer, 0, `the p2p=0 viewer got peer bytes: ${show(offBytes)}`);
  } finally {
    await browser.close();
  }
});
