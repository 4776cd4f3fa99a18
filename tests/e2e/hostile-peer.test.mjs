// Browser end-to-end tests of a hostile peer in the swarm. In the first, an honest viewer of the
// demo page plays the sample VOD while, one after another, three hostile pages join its swarm.
// Each is the demo page with its peer side rewritten by this test (an init script wraps
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
// a stall or fatal error.
//
// The second plays without an integrity file (`?integrity=`, as an ordinary HLS stream): a
// hostile page joins a playing viewer and zeroes the first bytes of each segment it uploads
// (same length: only the media element can tell). Asserted: it was asked and tampered; the
// browser refused the append, so the viewer re-created its media element (`mediarecovered`,
// reason `peer-segment`), banned the peer (kind `undecodable`, with a `peerdropped` event) and
// fetched the refused segment from the origin, appending only the origin's bytes of it from then
// on and nothing else the peer sent; it played to the end without a fatal error, and the time
// the playhead stood still after the re-creation is measured and bounded.
//
// Real Chromium WebRTC between the pages: run them in the private network namespace
// (scripts/netns-run.sh).

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import {
  appendedBuffers,
  describe as show,
  integrityDigests,
  interruptionMs,
  launchBrowser,
  MULTI_PAGE_ARGS,
  openPlayerPage,
  recordAppends,
  recordPlayhead,
  saveScreenshot,
  startDemo,
  waitFor,
  watchPlayback,
} from './harness.mjs';
import { loadVod, segmentOfRequest } from './hls.mjs';

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

/** The rendition played without an integrity file (there is one swarm per rendition). */
const UNDECODABLE_LEVEL = 1;

/**
 * Bytes the `undecodable` hostile page zeroes at the start of each segment it uploads, as the
 * demo origin's `corrupt_bytes` fault does: an MP4 box of size 0, which Chromium's MSE parser
 * refuses, so the append fails.
 */
const ZEROED_BYTES = 64;

/**
 * The playhead may stand still this long after the media element is re-created (the new
 * MediaSource opens, the init segment and the media at the playhead are fetched and appended
 * again); generous for a loaded machine.
 */
const MAX_INTERRUPTION_MS = 8000;

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
 * misbehaves per `mode` (those of MODES, or `undecodable`: the first ZEROED_BYTES of each
 * segment it uploads zeroed). `window.__hostile` counts the `SegmentData` headers it sent (each
 * answers a request of the viewer, its only peer) and the messages it tampered with.
 */
async function makeHostile(page, mode) {
  await page.addInitScript(({ mode, zeroedBytes }) => {
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

    // Channels whose next raw message is the first chunk of a segment: a `SegmentData` header
    // just went out on them.
    const segmentStarts = new WeakSet();

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
        if (header) {
          tally.headers += 1;
          segmentStarts.add(this);
        }
        if (header && mode === 'garbage') {
          tally.tampered += 1;
          return nativeSend.call(this, garbageFrame());
        }
        return nativeSend.call(this, data);
      }
      // Raw bytes of the segment being uploaded.
      const firstChunk = segmentStarts.delete(this);
      if (mode === 'undecodable' && firstChunk) {
        // A copy, as the same length keeps the wire protocol satisfied: only the media element
        // can tell.
        const zeroed = bytes.slice();
        zeroed.fill(0, 0, zeroedBytes);
        tally.tampered += 1;
        return nativeSend.call(this, zeroed);
      }
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
  }, { mode, zeroedBytes: ZEROED_BYTES });
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

/**
 * Opens the demo page at `pageUrl` made hostile per `mode` (makeHostile) and has it watch
 * ahead: once it has the stream it seeks to `await leadS()` and this returns once it holds
 * WATCHED_AHEAD_S from there. Returns the `openPlayerPage` session and its `lead`.
 */
async function openHostileAhead(browser, pageUrl, mode, leadS) {
  const hostile = await openPlayerPage(browser, pageUrl, { beforeLoad: (page) => makeHostile(page, mode) });
  await waitFor(() => hostile.page.evaluate(() => document.getElementById('video').readyState >= 1), {
    what: `hostile page ${mode} has the stream`,
  });
  const lead = await leadS();
  await hostile.page.evaluate((s) => (document.getElementById('video').currentTime = s), lead);
  await waitFor(async () => (await bufferedFrom(hostile.page, lead)) >= WATCHED_AHEAD_S, {
    what: `hostile page ${mode} watched ahead from ${lead} s`,
  });
  return { ...hostile, lead };
}

/** Where a hostile page joining a playing viewer seeks to: past its forward buffer, short of the end. */
async function aheadOf(viewerPage, duration) {
  return Math.min((await viewerState(viewerPage)).time + LEAD_S, duration - 2 * WATCHED_AHEAD_S);
}

/**
 * Waits until the viewer's stats count bans as `counted(bansTotal)` wants; resolves to the
 * viewer's state then. On a timeout the error carries the hostile page's tally and both pages'
 * states.
 */
function waitForBans(viewer, hostile, counted, who) {
  return waitFor(
    async () => {
      const state = await viewerState(viewer.page);
      return state.stats && counted(state.stats.bansTotal) ? state : null;
    },
    { timeoutMs: 90_000, what: `the viewer to ban ${who}` },
  ).catch(async (err) => {
    const tally = await hostile.page.evaluate(() => window.__hostile);
    err.message += `\nhostile ${show(tally)} ${show(await viewerState(hostile.page))}`;
    err.message += `\nviewer ${show(await viewerState(viewer.page))}`;
    throw err;
  });
}

/**
 * The viewer's latest `stats` event and its `peerdropped`, `integrityfailure` and
 * `mediarecovered` events.
 */
function viewerState(page) {
  return page.evaluate(() => {
    const events = window.shoalEvents ?? [];
    const stats = events.filter((e) => e.type === 'stats').at(-1)?.detail ?? null;
    return {
      stats,
      dropped: events.filter((e) => e.type === 'peerdropped').map((e) => e.detail.reason),
      integrityFailures: events.filter((e) => e.type === 'integrityfailure').map((e) => e.detail),
      recoveries: events.filter((e) => e.type === 'mediarecovered').map((e) => e.detail),
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
      // The first hostile page watches ahead before the viewer arrives; the later ones jump
      // ahead of the viewer's buffer.
      const viewerPage = viewer?.page;
      hostile = await openHostileAhead(browser, pageUrl, mode, async () =>
        viewerPage ? aheadOf(viewerPage, duration) : FIRST_LEAD_S,
      );
      const { lead } = hostile;
      if (!viewer) {
        viewer = await openPlayerPage(browser, pageUrl, { beforeLoad: recordAppends });
        watch = watchPlayback(viewer.page, { untilTime: duration - 1, timeoutMs: (duration + 120) * 1000 });
        // Awaited at the end; a failure before that closes the browser under it.
        watch.catch(() => {});
      }

      const banned = await waitForBans(viewer, hostile, (total) => total === i + 1, `hostile page ${mode}`);
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

/**
 * SHA-256 hex digests of each media segment of `rendition` as the origin serves it (fetched by
 * byte range from the demo server) and as the `undecodable` hostile page uploads it.
 */
async function segmentDigests(rendition) {
  const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
  const digests = [];
  for (const segment of rendition.playlist.segments) {
    const range = `bytes=${segment.offset}-${segment.offset + segment.length - 1}`;
    const res = await fetch(new URL(segment.path, server.url), { headers: { range } });
    assert.equal(res.status, 206, `GET ${segment.path} ${range}`);
    const origin = new Uint8Array(await res.arrayBuffer());
    assert.equal(origin.length, segment.length, `GET ${segment.path} ${range}`);
    const zeroed = origin.slice();
    zeroed.fill(0, 0, ZEROED_BYTES);
    digests.push({ origin: sha256(origin), zeroed: sha256(zeroed) });
  }
  return digests;
}

test('without an integrity file, a peer segment the browser cannot decode bans the peer and comes from the origin', { timeout: 300_000 }, async (t) => {
  const renditions = await loadVod(server.url);
  const rendition = renditions[UNDECODABLE_LEVEL];
  const { duration, segments } = rendition.playlist;
  const digests = await segmentDigests(rendition);
  // Which segment, and whose bytes, each appended buffer holds.
  const contentOf = new Map();
  for (const [index, { origin, zeroed }] of digests.entries()) {
    contentOf.set(origin, { index, from: 'origin' });
    contentOf.set(zeroed, { index, from: 'zeroed' });
  }
  // After the digests: their requests are not the viewer's.
  await server.control.reset();
  // `?integrity=` empty: no integrity file, as an ordinary HLS stream.
  const pageUrl = new URL(`/?integrity=&level=${UNDECODABLE_LEVEL}&swarmId=undecodable-peer`, server.url).href;
  const browser = await launchBrowser({ extraArgs: MULTI_PAGE_ARGS });
  let viewer;
  let hostile;
  try {
    viewer = await openPlayerPage(browser, pageUrl, { beforeLoad: recordAppends });
    await recordPlayhead(viewer.page);
    const watch = watchPlayback(viewer.page, { untilTime: duration - 1, timeoutMs: (duration + 120) * 1000 });
    // Awaited below; a failure before that closes the browser under it.
    watch.catch(() => {});
    // The hostile page joins a viewer that plays, so the re-creation interrupts playback.
    await waitFor(async () => (await viewerState(viewer.page)).time >= 2, { what: 'the viewer plays' });
    hostile = await openHostileAhead(browser, pageUrl, 'undecodable', () => aheadOf(viewer.page, duration));
    // From here on the hostile page holds what it needs ahead, so a request of the refused
    // segment's range is the viewer's.
    const loggedBeforeBan = (await server.control.requests()).length;

    const banned = await waitForBans(viewer, hostile, (total) => total >= 1, 'the hostile page');
    const tally = await hostile.page.evaluate(() => window.__hostile);
    t.diagnostic(`hostile page: lead ${hostile.lead.toFixed(1)} s, banned at ${banned.time.toFixed(1)} s, ${JSON.stringify(tally)}`);
    assert.ok(tally.headers >= 1, `the hostile page was never asked for a segment: ${show(tally)}`);
    assert.ok(tally.tampered >= 1, `the hostile page tampered with nothing: ${show(tally)}`);
    assert.equal(banned.stats.bans.length, 1, `one ban: ${show(banned.stats.bans)}`);
    const [ban] = banned.stats.bans;
    assert.equal(ban.kind, 'undecodable', show(ban));
    assert.match(ban.reason, /^integrity: segment \d+ could not be decoded$/);
    assert.match(ban.peer, /^[0-9a-f]{8}$/, 'a ban names the peer by the end of its id only');
    assert.ok(
      banned.dropped.includes(ban.reason),
      `no peerdropped event for the hostile page: ${show(banned.dropped)}`,
    );
    // The failure names the refused segment; its bytes all came from the peer.
    const refusals = banned.integrityFailures;
    assert.equal(refusals.length, 1, `one refused segment: ${show(refusals)}`);
    const [refused] = refusals;
    assert.deepEqual(
      { level: refused.level, source: refused.source, check: refused.check },
      { level: UNDECODABLE_LEVEL, source: 'peer', check: 'decode' },
    );
    assert.ok(refused.segment >= 0 && refused.segment < segments.length, show(refused));
    await hostile.page.close();
    hostile = null;

    const report = await watch;
    assert.equal(report.fatalError, null, `fatal error ${show(report.fatalError)}`);
    assert.ok(report.reached, `the viewer did not reach the end (${report.reason}): ${show(report.state)}`);
    assert.deepEqual(viewer.pageErrors, [], `uncaught errors ${show(viewer.pageErrors)}`);
    const final = await viewerState(viewer.page);
    assert.deepEqual(final.stats.bans, [ban], 'no other ban');
    assert.deepEqual(final.integrityFailures, refusals, 'no other refused segment');
    assert.deepEqual(
      final.recoveries.map((r) => r.reason),
      ['peer-segment'],
      `one re-creation of the media element, for the peer's segment: ${show(final.recoveries)}`,
    );

    // The hiccup: how long the playhead stood still after the re-creation.
    const interruption = await interruptionMs(viewer.page);
    t.diagnostic(
      `segment ${refused.segment} refused; the playhead stood still for ${interruption?.toFixed(0)} ms after the re-creation; stalls seen: ${JSON.stringify(report.stalls)}`,
    );
    assert.ok(interruption !== null && interruption < MAX_INTERRUPTION_MS, `interruption of ${interruption} ms`);

    // The refused segment came from the origin after the ban.
    const refetches = (await server.control.requests())
      .slice(loggedBeforeBan)
      .filter((r) => segmentOfRequest(renditions, r)?.segment === segments[refused.segment]);
    t.diagnostic(`the viewer's requests of the refused range: ${JSON.stringify(refetches)}`);
    assert.ok(
      refetches.some((r) => r.status === 206 && !r.fault),
      `segment ${refused.segment} was not fetched from the origin: ${show(refetches)}`,
    );

    // What the viewer appended: the hostile page's bytes of the refused segment once (the
    // append the browser refused), then only the origin's; everything else is the origin's
    // segments and init segments.
    const appended = (await appendedBuffers(viewer.page)).map((a) => ({ ...a, ...contentOf.get(a.sha256) }));
    const unknown = appended.filter((a) => a.from === undefined && a.bytes !== rendition.playlist.map.length);
    assert.deepEqual(unknown, [], 'the viewer appended bytes that are neither a segment nor the init segment');
    const ofRefused = appended.filter((a) => a.index === refused.segment).map((a) => a.from);
    t.diagnostic(`appends of segment ${refused.segment}: ${ofRefused.join(', ')}`);
    assert.equal(ofRefused[0], 'zeroed', `the peer's bytes were not what the browser refused: ${ofRefused}`);
    assert.ok(ofRefused.length >= 2, `segment ${refused.segment} was not appended again: ${ofRefused}`);
    assert.ok(ofRefused.slice(1).every((from) => from === 'origin'), `appends of segment ${refused.segment}: ${ofRefused}`);
    assert.deepEqual(
      appended.filter((a) => a.from === 'zeroed').map((a) => a.index),
      [refused.segment],
      'the hostile page bytes got in elsewhere',
    );
    const missing = segments.filter((s) => !appended.some((a) => a.index === s.index && a.from === 'origin'));
    assert.deepEqual(missing.map((s) => s.index), [], 'segments the viewer never appended from the origin');
  } catch (err) {
    if (viewer) await saveScreenshot(viewer.page, 'undecodable-peer-viewer-failure');
    if (hostile) await saveScreenshot(hostile.page, 'undecodable-peer-hostile-failure');
    throw err;
  } finally {
    await browser.close();
  }
});
