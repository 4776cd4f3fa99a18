// Browser end-to-end test of a hostile peer in the swarm: an honest viewer of the demo page
// plays the sample VOD while, one after another, three hostile pages join its swarm. Each is the
// demo page with its peer side rewritten by this test (an init script wraps
// `RTCDataChannel.prototype.send` on that page only), so it announces and is asked honestly, then
// answers wrongly:
//   1. corrupt: every raw segment chunk it uploads has bytes flipped (same length);
//   2. wrong length: every raw chunk goes out twice, more bytes than its `SegmentData` header says;
//   3. garbage: each `SegmentData` header is replaced by a frame of random bytes.
// Each hostile page is a fresh page (a banned peer id is not accepted again) that has watched
// ahead of the viewer, so it holds segments the viewer still needs and is asked for them.
//
// Asserted: each hostile page was asked and really misbehaved (it counts what it tampered
// with); the viewer dropped and banned it with the expected reason kind (its `stats` list the
// bans, and the demo page shows them); every buffer the viewer appended is a segment
// `segments-sha256.json` lists (the rest are init segments); the viewer played to the end without
// a stall or fatal error. Real Chromium WebRTC between the pages: run it in the private network
// namespace (scripts/netns-run.sh).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  appendedBuffers,
  describe as show,
  integrityDigests,
  launchBrowser,
  MULTI_PAGE_ARGS,
  openPlayerPage,
  recordAppends,
  saveScreenshot,
  startDemo,
  waitFor,
  watchPlayback,
} from './harness.mjs';
import { loadVod } from './hls.mjs';

/** The three ways the hostile pages answer, in order, and the ban kind each must earn. */
const MODES = [
  { mode: 'corrupt', banKind: 'integrity', reason: /^integrity: segment \d+ does not match/ },
  { mode: 'wrong-length', banKind: 'too-many-bytes', reason: /sent more than the \d+ bytes it announced/ },
  { mode: 'garbage', banKind: 'malformed-message', reason: /malformed message/ },
];

/**
 * A hostile page seeks this far ahead of the viewer's playhead (just past the viewer's 30 s
 * buffer; the first one, before the viewer starts, to this many seconds into the video). With
 * peers connected a viewer fetches a segment nobody has over HTTP only shortly before it is
 * needed (player/p2p.rs), so a page playing well ahead holds segments the viewer still needs
 * early enough that asking a peer is in time; a page a second or two ahead never is asked.
 */
const LEAD_S = 34;
const FIRST_LEAD_S = 12;

/** The hostile page has watched ahead once it holds this much from its playhead on. */
const WATCHED_AHEAD_S = 8;

let server;

before(async () => {
  server = await startDemo();
});

after(async () => {
  await server?.stop();
});

/**
 * Rewrites the page's peer side before its scripts run: every message its data channels send
 * goes through `send` below, which tells command frames from raw segment bytes by the
 * p2p-media-loader v2 framing (a command frame starts with `cstr` or `dstr` and ends with `cend`
 * or `dend`; the first byte after `cstr` is the command type, 2 for `SegmentData`) and
 * misbehaves per `mode`. `window.__hostile` counts the `SegmentData` headers it sent (each
 * answers a request of the viewer, its only peer) and the messages it tampered with.
 */
async function makeHostile(page, mode) {
  await page.addInitScript((mode) => {
    const SEGMENT_DATA = 2;
    const ascii = (text) => Array.from(text, (c) => c.charCodeAt(0));
    const [CSTR, DSTR, CEND, DEND] = ['cstr', 'dstr', 'cend', 'dend'].map(ascii);
    const startsWith = (bytes, marker) => marker.every((b, i) => bytes[i] === b);
    const endsWith = (bytes, marker) => marker.every((b, i) => bytes[bytes.length - marker.length + i] === b);
    const isCommandFrame = (bytes) =>
      bytes.length >= 8 &&
      (startsWith(bytes, CSTR) || startsWith(bytes, DSTR)) &&
      (endsWith(bytes, CEND) || endsWith(bytes, DEND));
    // xorshift32 with a fixed seed: the same garbage every run.
    let state = 0x2545f491;
    const randomByte = () => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return state & 0xff;
    };
    const garbageFrame = () => new Uint8Array([...CSTR, ...Array.from({ length: 24 }, randomByte), ...CEND]);

    // Messages sent by command type ('raw' for segment bytes), for failure messages.
    const tally = { headers: 0, tampered: 0, sent: {} };
    window.__hostile = tally;
    const nativeSend = RTCDataChannel.prototype.send;
    RTCDataChannel.prototype.send = function send(data) {
      if (typeof data === 'string' || data instanceof Blob) return nativeSend.call(this, data);
      const bytes = ArrayBuffer.isView(data)
        ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
        : new Uint8Array(data);
      const kind = isCommandFrame(bytes) ? (startsWith(bytes, CSTR) ? bytes[4] : 'part') : 'raw';
      tally.sent[kind] = (tally.sent[kind] ?? 0) + 1;
      if (isCommandFrame(bytes)) {
        const header = startsWith(bytes, CSTR) && bytes[4] === SEGMENT_DATA;
        if (header) tally.headers += 1;
        if (header && mode === 'garbage') {
          tally.tampered += 1;
          return nativeSend.call(this, garbageFrame());
        }
        return nativeSend.call(this, data);
      }
      // Raw bytes of the segment being uploaded.
      if (mode === 'corrupt') {
        // A copy: the page's own store keeps the true bytes.
        const flipped = bytes.slice();
        for (let i = 0; i < flipped.length; i += 997) flipped[i] ^= 0xff;
        tally.tampered += 1;
        return nativeSend.call(this, flipped);
      }
      if (mode === 'wrong-length') {
        nativeSend.call(this, data);
        tally.tampered += 1;
        return nativeSend.call(this, data);
      }
      return nativeSend.call(this, data);
    };
  }, mode);
}

/** Seconds of media the page's video holds from `position_s` on (0 if none). */
function bufferedFrom(page, positionS) {
  return page.evaluate((from) => {
    const video = document.getElementById('video');
    for (let i = 0; i < video.buffered.length; i++) {
      if (video.buffered.start(i) <= from + 0.1 && from < video.buffered.end(i)) return video.buffered.end(i) - from;
    }
    return 0;
  }, positionS);
}

/** The viewer's latest `stats` event and its `peerdropped` and `integrityfailure` events. */
function viewerState(page) {
  return page.evaluate(() => {
    const events = window.shoalEvents ?? [];
    const stats = events.filter((e) => e.type === 'stats').at(-1)?.detail ?? null;
    return {
      stats,
      dropped: events.filter((e) => e.type === 'peerdropped').map((e) => e.detail.reason),
      integrityFailures: events.filter((e) => e.type === 'integrityfailure').map((e) => e.detail),
      time: document.getElementById('video').currentTime,
      bansShown: document.getElementById('bans').textContent,
    };
  });
}

test('a hostile peer serving corrupt bytes, wrong lengths, then garbage is banned each time and the viewer plays on', { timeout: 420_000 }, async (t) => {
  await server.control.reset();
  const renditions = await loadVod(server.url);
  const duration = renditions[0].playlist.segments.reduce((sum, s) => sum + s.duration, 0);
  const listed = integrityDigests(await (await server.get('/media/vod/segments-sha256.json')).json());
  const initLengths = new Set(renditions.map((r) => r.playlist.map.length));
  // One rendition for all (?level=1): there is one swarm per rendition.
  const pageUrl = new URL('/?level=1&swarmId=hostile-peer', server.url).href;
  const browser = await launchBrowser({ extraArgs: MULTI_PAGE_ARGS });
  let viewer;
  let hostile;
  try {
    let watch;
    const figures = [];
    for (const [i, { mode, banKind, reason }] of MODES.entries()) {
      hostile = await openPlayerPage(browser, pageUrl, { beforeLoad: (page) => makeHostile(page, mode) });
      // The first hostile page watches ahead before the viewer arrives; the later ones jump
      // ahead of the viewer's buffer.
      const lead = viewer
        ? Math.min((await viewerState(viewer.page)).time + LEAD_S, duration - 2 * WATCHED_AHEAD_S)
        : FIRST_LEAD_S;
      await waitFor(() => hostile.page.evaluate(() => document.getElementById('video').readyState >= 1), {
        what: `hostile page ${mode} has the stream`,
      });
      await hostile.page.evaluate((s) => (document.getElementById('video').currentTime = s), lead);
      await waitFor(async () => (await bufferedFrom(hostile.page, lead)) >= WATCHED_AHEAD_S, {
        what: `hostile page ${mode} watched ahead from ${lead} s`,
      });
      if (!viewer) {
        viewer = await openPlayerPage(browser, pageUrl, { beforeLoad: recordAppends });
        watch = watchPlayback(viewer.page, { untilTime: duration - 1, timeoutMs: (duration + 120) * 1000 });
        // Awaited at the end; a failure before that closes the browser under it.
        watch.catch(() => {});
      }

      const banned = await waitFor(
        async () => {
          const state = await viewerState(viewer.page);
          return state.stats?.bansTotal === i + 1 ? state : null;
        },
        { timeoutMs: 90_000, what: `the viewer bans hostile page ${mode}` },
      ).catch(async (err) => {
        const tally = await hostile.page.evaluate(() => window.__hostile);
        err.message += `\nhostile ${show(tally)} ${show(await viewerState(hostile.page))}`;
        err.message += `\nviewer ${show(await viewerState(viewer.page))}`;
        throw err;
      });
      const tally = await hostile.page.evaluate(() => window.__hostile);
      figures.push({ mode, lead: Number(lead.toFixed(1)), bannedAt: Number(banned.time.toFixed(1)), ...tally });

      assert.ok(tally.headers >= 1, `hostile page ${mode} was never asked for a segment: ${show(tally)}`);
      assert.ok(tally.tampered >= 1, `hostile page ${mode} tampered with nothing: ${show(tally)}`);
      const ban = banned.stats.bans[i];
      assert.equal(ban.kind, banKind, `hostile page ${mode}: ${show(banned.stats.bans)}`);
      assert.match(ban.reason, reason);
      assert.match(ban.peer, /^[0-9a-f]{8}$/, 'a ban names the peer by the end of its id only');
      assert.ok(
        banned.dropped.some((r) => reason.test(r)),
        `no peerdropped event for hostile page ${mode}: ${show(banned.dropped)}`,
      );
      if (mode === 'corrupt') {
        assert.ok(
          banned.integrityFailures.some((f) => f.source === 'peer' && f.check === 'sha256'),
          `no integrity failure for the corrupt bytes: ${show(banned.integrityFailures)}`,
        );
      }
      // The demo page's status shows the bans (stats come about once a second).
      await waitFor(async () => (await viewerState(viewer.page)).bansShown.includes(`${ban.peer} ${banKind}`), {
        timeoutMs: 5000,
        what: `the demo page shows the ban of hostile page ${mode}`,
      });
      await hostile.page.close();
      hostile = null;
    }
    t.diagnostic(`hostile pages: ${JSON.stringify(figures)}`);

    const report = await watch;
    assert.equal(report.fatalError, null, `fatal error ${show(report.fatalError)}`);
    assert.ok(report.reached, `the viewer did not reach the end (${report.reason}): ${show(report.state)}`);
    assert.deepEqual(report.stalls, [], `the viewer stalled: ${show(report.stalls)}`);
    assert.deepEqual(viewer.pageErrors, [], `uncaught errors ${show(viewer.pageErrors)}`);
    const final = await viewerState(viewer.page);
    assert.deepEqual(
      final.stats.bans.map((b) => b.kind),
      MODES.map((m) => m.banKind),
    );
    assert.equal(final.stats.bansTotal, MODES.length);
    // Every media buffer appended is a segment the integrity file lists: nothing a hostile page
    // sent got in. The unlisted ones are init segments.
    const appended = await appendedBuffers(viewer.page);
    const unlisted = appended.filter((a) => !listed.has(a.sha256));
    assert.ok(appended.length - unlisted.length >= renditions[0].playlist.segments.length, 'the viewer appended too few listed segments');
    assert.ok(
      unlisted.every((a) => initLengths.has(a.bytes)),
      `the viewer appended bytes the integrity file does not list: ${show(unlisted)}`,
    );
  } catch (err) {
    if (viewer) await saveScreenshot(viewer.page, 'hostile-peer-viewer-failure');
    if (hostile) await saveScreenshot(hostile.page, 'hostile-peer-hostile-failure');
    throw err;
  } finally {
    await browser.close();
  }
});
