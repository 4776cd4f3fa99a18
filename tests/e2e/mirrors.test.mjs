// Browser end-to-end tests of mirrors (PeerTube's redundancy servers): the demo page plays the
// sample VOD with P2P off (`?p2p=0`) and `?mirrors=` naming the demo server's test mirrors of
// the media tree (`/mirrors/ok/`, `/mirrors/error/` answering 500, `/mirrors/corrupt/` flipping
// every byte). Segment requests are spread over the origin and the mirrors; a mirror's segments
// are checked against the sample's segments-sha256.json before they are appended, a mirror gets
// one request at a time until its first segment passed, and a mirror that fails is dropped for
// the session.
//
// Observed, never assumed: the server's request log (who was asked for what), the page's
// events, what the page appended to MSE (hashed by recordAppends) and playback itself.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  appendedBuffers,
  describe as show,
  explainFailure,
  integrityDigests,
  launchBrowser,
  openPlayerPage,
  recordAppends,
  startDemo,
  waitFor,
  watchPlayback,
} from './harness.mjs';
import { loadVod, rangeStart } from './hls.mjs';

const TEST_TIMEOUT_MS = 240_000;
const PLAY_SECONDS = 20;
const MIRROR = {
  ok: '/mirrors/ok/vod/',
  error: '/mirrors/error/vod/',
  corrupt: '/mirrors/corrupt/vod/',
};

let server;

before(async () => {
  server = await startDemo();
});

after(async () => {
  await server?.stop();
});

/**
 * Plays the sample with P2P off and `mirrors` (paths of MIRROR) for PLAY_SECONDS, then on until
 * a mirror was dropped (each segment request goes to a server picked at random per viewer and
 * segment, so the bad mirror's first request may come later), and returns what was seen:
 * { report, events, appended, log, pageErrors }.
 */
async function playWithMirrors(name, mirrors) {
  await server.control.reset();
  const browser = await launchBrowser();
  let session;
  try {
    const url = new URL(`/?p2p=0&mirrors=${mirrors.join(',')}`, server.url).href;
    session = await openPlayerPage(browser, url, { beforeLoad: recordAppends });
    const report = await watchPlayback(session.page, { seconds: PLAY_SECONDS });
    // By 100 s every segment of the 2-minute sample has been requested (30 s buffer ahead).
    await waitFor(() => session.page.evaluate(() => (window.shoalEvents ?? []).some((e) => e.type === 'mirrordropped')), {
      timeoutMs: 100_000,
      what: 'a mirror to be dropped',
    });
    const events = await session.page.evaluate(() => window.shoalEvents ?? []);
    const appended = await appendedBuffers(session.page);
    const log = await server.control.requests();
    return { report, events, appended, log, pageErrors: session.pageErrors };
  } catch (err) {
    throw await explainFailure(err, session, name);
  } finally {
    await browser.close();
  }
}

/** Playback went on: no fatal error, no stall, PLAY_SECONDS of media played, nothing thrown. */
function assertPlayedOn(seen) {
  const { report } = seen;
  assert.equal(report.fatalError, null, `fatal error: ${show(report.fatalError)}`);
  assert.ok(report.advanced >= PLAY_SECONDS, `played only ${report.advanced} s (${report.reason}): ${show(report.state)}`);
  assert.deepEqual(report.stalls, [], `stalls: ${show(report.stalls)}`);
  assert.deepEqual(seen.pageErrors, [], `uncaught errors: ${show(seen.pageErrors)}`);
}

/** Media segment answers (206, not the init segment at byte 0) under `prefix` in the log. */
function segmentAnswers(log, prefix) {
  return log.filter((r) => r.path.startsWith(prefix) && r.status === 206 && rangeStart(r.range) > 0);
}

/** The same file and range on the origin, for a request to a mirror. */
function originRequestOf(mirrorRequest) {
  return { path: mirrorRequest.path.replace(/^\/mirrors\/[a-z]+\//, '/media/'), range: mirrorRequest.range };
}

/** Index in `log`, after `from`, of a 206 from the origin for what `mirrorRequest` asked. */
function originAnswerAfter(log, mirrorRequest, from) {
  const { path, range } = originRequestOf(mirrorRequest);
  return log.findIndex((r, i) => i > from && r.path === path && r.range === range && r.status === 206);
}

test('a mirror answering 500 is dropped after one request; the good mirror and the origin serve the rest', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const seen = await playWithMirrors('mirrors-error', [MIRROR.error, MIRROR.ok]);
  assertPlayedOn(seen);
  const { log, events } = seen;

  const toError = log.filter((r) => r.path.startsWith(MIRROR.error));
  assert.equal(toError.length, 1, `the error mirror got ${toError.length} requests: ${show(toError)}`);
  assert.equal(toError[0].status, 500);
  const failedAt = log.indexOf(toError[0]);
  assert.ok(
    originAnswerAfter(log, toError[0], failedAt) > failedAt,
    `the origin was not asked for ${show(originRequestOf(toError[0]))} after the mirror failed`,
  );

  const fromOk = segmentAnswers(log, MIRROR.ok);
  const fromOrigin = segmentAnswers(log, '/media/vod/');
  t.diagnostic(`segments: origin ${fromOrigin.length}, ok mirror ${fromOk.length}, error mirror ${toError.length} (500)`);
  assert.ok(fromOk.length > 0, 'the good mirror served no segment');
  assert.ok(fromOrigin.length > 0, 'the origin served no segment');
  // Playlists, init segments and the integrity file come from the origin only.
  assert.ok(
    log.filter((r) => r.path.startsWith('/mirrors/')).every((r) => r.path.endsWith('.mp4') && rangeStart(r.range) > 0),
    `a mirror was asked for something else than a media segment: ${show(log.filter((r) => r.path.startsWith('/mirrors/')))}`,
  );

  const dropped = events.filter((e) => e.type === 'mirrordropped');
  assert.equal(dropped.length, 1, `mirrordropped events: ${show(dropped)}`);
  assert.equal(new URL(dropped[0].detail.url).pathname, MIRROR.error);
  assert.match(dropped[0].detail.reason, /500/);
  // Answers can outnumber loads: a level switch cancels downloads under way.
  const fromMirrorEvents = events.filter((e) => e.type === 'segmentloaded' && e.detail.source === 'mirror');
  assert.ok(
    fromMirrorEvents.length > 0 && fromMirrorEvents.length <= fromOk.length,
    `${fromMirrorEvents.length} segments loaded from a mirror, ${fromOk.length} answers from the good one`,
  );
  const stats = events.filter((e) => e.type === 'stats').at(-1)?.detail;
  t.diagnostic(`last stats: ${show(stats)}`);
  assert.ok(stats && stats.mirrorBytes > 0 && stats.mirrorBytes < stats.httpBytes, `stats: ${show(stats)}`);
});

test('a corrupting mirror is dropped at its first segment and nothing it sent is appended', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const renditions = await loadVod(server.url);
  const seen = await playWithMirrors('mirrors-corrupt', [MIRROR.corrupt, MIRROR.ok]);
  assertPlayedOn(seen);
  const { log, events, appended } = seen;

  const failures = events.filter((e) => e.type === 'integrityfailure');
  const dropped = events.filter((e) => e.type === 'mirrordropped');
  t.diagnostic(`integrity failures: ${show(failures)}; dropped: ${show(dropped)}`);
  assert.equal(failures.length, 1, `integrity failures: ${show(failures)}`);
  assert.ok(
    failures.every((e) => e.detail.source === 'mirror' && e.detail.check === 'sha256'),
    `integrity failures not from a mirror's digest: ${show(failures)}`,
  );
  assert.equal(dropped.length, 1, `mirrordropped events: ${show(dropped)}`);
  assert.equal(new URL(dropped[0].detail.url).pathname, MIRROR.corrupt);
  assert.match(dropped[0].detail.reason, /^integrity: segment \d+ does not match segments-sha256\.json$/);

  // Dropped at its first segment (never asked for a second), which the origin then sent.
  const toCorrupt = log.filter((r) => r.path.startsWith(MIRROR.corrupt));
  assert.equal(toCorrupt.length, 1, `the corrupt mirror got ${toCorrupt.length} requests: ${show(toCorrupt)}`);
  assert.equal(toCorrupt[0].status, 206);
  const corruptAt = log.indexOf(toCorrupt[0]);
  assert.ok(
    originAnswerAfter(log, toCorrupt[0], corruptAt) > corruptAt,
    `the origin did not send ${show(originRequestOf(toCorrupt[0]))} after the corrupt mirror`,
  );

  // Every media buffer appended is one the integrity file lists; the rest are init segments.
  const listed = integrityDigests(await (await server.get('/media/vod/segments-sha256.json')).json());
  const initLengths = new Set(renditions.map((r) => r.playlist.map.length));
  const unlisted = appended.filter((a) => !listed.has(a.sha256));
  t.diagnostic(`${appended.length} buffers appended, ${unlisted.length} of them init segments`);
  assert.ok(appended.length > unlisted.length, 'no listed segment appended');
  assert.ok(unlisted.every((a) => initLengths.has(a.bytes)), `appended bytes the file does not list: ${show(unlisted)}`);
  t.diagnostic(`segments from the good mirror: ${segmentAnswers(log, MIRROR.ok).length}`);
});
