// Browser end-to-end tests of recovering the media element after an append error, with P2P
// off: the demo server zeroes the first bytes of one segment ahead of the playhead (an MP4 box
// of size 0, which Chromium's MSE parser refuses), so the append fails and MSE ends the
// MediaSource with a decode error. The player re-creates the MediaSource and fetches the
// segment again.
//
// Asserted: damaged once, there is one `mediarecovered` event (reason `append-error`), no
// fatal error, playback goes past the damaged segment, and the interruption stays under a
// generous bound (measured and printed); damaged on every request, the second refusal is the
// fatal `media-append` error, reported promptly rather than a hang.

import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import {
  describe as show,
  explainFailure,
  interruptionMs,
  launchBrowser,
  openPlayerPage,
  recordPlayhead,
  startDemo,
  waitFor,
  watchPlayback,
} from './harness.mjs';
import { loadVod, rangeStart } from './hls.mjs';

// `?level=1` pins the 480p rendition, so the damaged segment is the one that is played.
const LEVEL = 1;
// The 11th media segment (40-44 s): beyond the 30 s forward buffer filled at startup, so it is
// fetched, refused and recovered from while the video plays.
const BAD_INDEX = 10;
// Bytes zeroed at the start of the damaged body: its first box header and more.
const CORRUPT_BYTES = 64;
// The playhead may stand still this long around a re-creation (it takes a fraction of that on
// loopback: the new MediaSource opens, the init segment and the media at the playhead are
// fetched and appended again); generous for a loaded machine.
const MAX_INTERRUPTION_MS = 8000;

let server;

before(async () => {
  server = await startDemo();
});

after(async () => {
  await server?.stop();
});

beforeEach(async () => {
  await server?.control.reset();
});

/** The damaged segment of the pinned rendition, and a fault on it for `count` requests. */
async function damageSegment(count) {
  const renditions = await loadVod(server.url);
  const segment = renditions[LEVEL].playlist.segments[BAD_INDEX];
  assert.notEqual(segment.offset, null, `segment ${BAD_INDEX} has no byte range`);
  await server.control.addFault({ path: segment.path, range_start: segment.offset, corrupt_bytes: CORRUPT_BYTES, count });
  return segment;
}

async function withPage(name, body) {
  const browser = await launchBrowser();
  let session;
  try {
    session = await openPlayerPage(browser, new URL(`/?p2p=0&level=${LEVEL}`, server.url).href);
    return await body(session);
  } catch (err) {
    throw await explainFailure(err, session, name);
  } finally {
    await browser.close();
  }
}

function eventsOf(page, type) {
  return page.evaluate((type) => (window.shoalEvents ?? []).filter((e) => e.type === type).map((e) => e.detail), type);
}

test('a segment the browser refuses once: the media is re-created and playback goes past it', { timeout: 240_000 }, async (t) => {
  const segment = await damageSegment(1);
  const pastBad = segment.start + segment.duration + 2;
  await withPage('media-recovery', async (session) => {
    const { page } = session;
    await recordPlayhead(page);
    const report = await watchPlayback(page, { untilTime: pastBad });
    assert.equal(report.fatalError, null, `fatal error: ${show(report.fatalError)}`);
    assert.ok(report.reached, `currentTime ${report.endTime} did not pass ${pastBad} (${report.reason}): ${show(report.state)}`);
    assert.deepEqual(session.pageErrors, [], `uncaught errors: ${show(session.pageErrors)}`);

    const recovered = await eventsOf(page, 'mediarecovered');
    t.diagnostic(`mediarecovered: ${JSON.stringify(recovered)}`);
    assert.equal(recovered.length, 1, `expected one recovery: ${show(recovered)}`);
    assert.equal(recovered[0].reason, 'append-error');

    const interruption = await interruptionMs(page);
    t.diagnostic(`the playhead stood still for ${interruption?.toFixed(0)} ms after the recovery; stalls seen: ${JSON.stringify(report.stalls)}`);
    assert.ok(interruption !== null && interruption < MAX_INTERRUPTION_MS, `interruption of ${interruption} ms`);

    const log = await server.control.requests();
    const asked = log.filter((r) => r.path === segment.path && rangeStart(r.range) === segment.offset);
    t.diagnostic(`requests for the damaged range: ${JSON.stringify(asked)}`);
    assert.equal(asked[0]?.fault, 'corrupt_bytes', `the damaged answer is not first: ${show(asked)}`);
    assert.ok(asked.length >= 2 && asked[1].status === 206 && !asked[1].fault, `no clean retry: ${show(asked)}`);
  });
});

test('a segment the browser refuses every time ends playback with a clear media-append error', { timeout: 240_000 }, async (t) => {
  await damageSegment(1000);
  await withPage('media-recovery-fatal', async (session) => {
    const { page } = session;
    const started = Date.now();
    const fatal = await waitFor(
      () => page.evaluate(() => (window.shoalEvents ?? []).find((e) => e.type === 'error' && e.detail.fatal)?.detail ?? null),
      { timeoutMs: 90_000, what: 'a fatal error event' },
    );
    t.diagnostic(`fatal error after ${Date.now() - started} ms: ${JSON.stringify(fatal)}`);
    assert.equal(fatal.code, 'media-append');
    assert.match(fatal.message, /refused the media again/);
    const recovered = await eventsOf(page, 'mediarecovered');
    assert.deepEqual(recovered.map((r) => r.reason), ['append-error'], 'one recovery before giving up');
    const errorText = await page.locator('#error').textContent();
    assert.match(errorText ?? '', /refused/, `the page does not show the error: ${JSON.stringify(errorText)}`);
    assert.deepEqual(session.pageErrors, [], `uncaught errors: ${show(session.pageErrors)}`);
  });
});
