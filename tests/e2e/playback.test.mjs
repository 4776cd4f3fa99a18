// Browser end-to-end tests of playback against the demo server's sample VOD
// (3 renditions, 4 s byte-range segments of fMP4, about 120 s).
// One demo server is shared by all tests (reset between them); every test gets
// its own fresh Chromium so no HTTP cache carries over.

import assert from 'node:assert/strict';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import {
  ARTIFACTS_DIR,
  describe as show,
  explainFailure,
  launchBrowser,
  openPlayerPage,
  saveScreenshot,
  startDemo,
  waitFor,
  watchPlayback,
} from './harness.mjs';
import { loadVod, rangeStart, segmentOfRequest } from './hls.mjs';

const TEST_TIMEOUT_MS = 240_000;
// Line of the bad #EXTINF in tests/fixtures/http/malformed.m3u8.
const MALFORMED_LINE = 10;

let server;

before(async () => {
  // Failure screenshots of an earlier run would be mistaken for this run's.
  for (const f of await readdir(ARTIFACTS_DIR).catch(() => [])) {
    if (f.endsWith('-failure.png')) await rm(path.join(ARTIFACTS_DIR, f), { force: true });
  }
  server = await startDemo();
});

after(async () => {
  await server?.stop();
});

beforeEach(async () => {
  await server?.control.reset();
});

/**
 * Runs body({ page, pageErrors, consoleErrors }) in a fresh browser on `path`
 * of the demo server; on failure saves a screenshot and adds the player's
 * state to the error; always closes the browser.
 */
async function withPlayer(name, pagePath, body) {
  const browser = await launchBrowser();
  let session;
  try {
    session = await openPlayerPage(browser, new URL(pagePath, server.url).href);
    return await body(session);
  } catch (err) {
    throw await explainFailure(err, session, name);
  } finally {
    await browser.close();
  }
}

function assertNoPageErrors(session) {
  assert.deepEqual(session.pageErrors, [], `uncaught errors in the page:\n${session.pageErrors.join('\n')}`);
}

function assertPlayedWithoutFatalError(report) {
  assert.equal(report.fatalError, null, `player reported a fatal error: ${show(report.fatalError)}`);
  assert.ok(report.began, `playback never began (${report.reason}): ${show(report.state)}`);
}

test('playback starts and advances 10 s without stalling', { timeout: TEST_TIMEOUT_MS }, async () => {
  await withPlayer('playback', '/', async (session) => {
    const report = await watchPlayback(session.page, { seconds: 10 });
    assertPlayedWithoutFatalError(report);
    assert.ok(
      report.advanced >= 10,
      `currentTime advanced only ${report.advanced.toFixed(2)} s (${report.reason}): ${show(report)}`,
    );
    assert.deepEqual(report.stalls, [], `stalls during playback: ${show(report.stalls)}`);
    assertNoPageErrors(session);
    await saveScreenshot(session.page, 'playback');
  });
});

test('seek to the middle plays from there without fetching everything before it', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const renditions = await loadVod(server.url);
  const SEEK_TO = 60;
  await withPlayer('seek', '/', async (session) => {
    const { page } = session;
    // Seek as soon as playback runs, so little beyond the start is buffered.
    const start = await watchPlayback(page, { seconds: 0.5 });
    assertPlayedWithoutFatalError(start);

    await page.evaluate((t) => window.shoalPlayer.seek(t), SEEK_TO);
    const report = await watchPlayback(page, { untilTime: SEEK_TO + 3 });
    assert.equal(report.fatalError, null, `fatal error after seek: ${show(report.fatalError)}`);
    assert.ok(
      report.endTime >= SEEK_TO + 3,
      `currentTime is ${report.endTime} after seeking to ${SEEK_TO} (${report.reason}): ${show(report.state)}`,
    );
    assertNoPageErrors(session);

    const log = await server.control.requests();
    const fetched = new Set();
    for (const req of log) {
      if (req.status !== 200 && req.status !== 206) continue;
      const hit = segmentOfRequest(renditions, req);
      if (hit) fetched.add(hit.segment.index);
    }
    const segs = renditions[0].playlist.segments;
    const seekIndex = segs.findIndex((s) => s.start <= SEEK_TO && SEEK_TO < s.start + s.duration);
    assert.ok(seekIndex > 0, `no segment holds t=${SEEK_TO} in ${renditions[0].name}`);
    const fetchedList = [...fetched].sort((a, b) => a - b);
    t.diagnostic(`segment holding t=${SEEK_TO}: ${seekIndex}; segments fetched (any rendition): ${fetchedList}`);
    assert.ok(
      fetched.has(seekIndex),
      `segment ${seekIndex} (holding t=${SEEK_TO}) was never fetched; fetched: ${fetchedList}`,
    );
    // Playing to SEEK_TO+3 may cross into the next segment; it must be there or beyond.
    const after = fetchedList.filter((i) => i > seekIndex);
    assert.ok(
      after.length > 0 || segs[seekIndex].start + segs[seekIndex].duration > SEEK_TO + 3,
      `nothing after segment ${seekIndex} was fetched; fetched: ${fetchedList}`,
    );
    const before = fetchedList.filter((i) => i < seekIndex);
    assert.ok(
      before.length < seekIndex,
      `all ${seekIndex} segments before the seek point were fetched (${before}): the seek did not skip ahead`,
    );
  });
});

test('an origin answering 500 twice for one segment still plays', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const renditions = await loadVod(server.url);
  const FAULT_INDEX = 3; // the 4th media segment, 12-16 s
  const faults = [];
  for (const r of renditions) {
    const seg = r.playlist.segments[FAULT_INDEX];
    assert.ok(seg, `${r.name} has no segment ${FAULT_INDEX}`);
    assert.notEqual(seg.offset, null, `${r.name} segment ${FAULT_INDEX} has no byte range`);
    const fault = { path: seg.path, range_start: seg.offset, status: 500, count: 2 };
    await server.control.addFault(fault);
    faults.push({ rendition: r.name, end: seg.start + seg.duration, ...fault });
  }
  const pastFault = Math.max(...faults.map((f) => f.end)) + 4; // 20 s

  await withPlayer('fault-500', '/', async (session) => {
    const report = await watchPlayback(session.page, { untilTime: pastFault + 0.5 });
    assertPlayedWithoutFatalError(report);
    assert.ok(
      report.endTime > pastFault,
      `currentTime is ${report.endTime}, not past ${pastFault} (${report.reason}): ${show(report.state)}`,
    );
    assertNoPageErrors(session);

    const log = await server.control.requests();
    const perRendition = faults.map((f) => ({
      rendition: f.rendition,
      statuses: log.filter((r) => r.path === f.path && rangeStart(r.range) === f.range_start).map((r) => r.status),
    }));
    t.diagnostic(`statuses of the faulted ranges: ${JSON.stringify(perRendition)}`);
    const recovered = perRendition.find(
      (p) => p.statuses.length >= 3 && p.statuses[0] === 500 && p.statuses[1] === 500 && p.statuses[2] === 206,
    );
    assert.ok(
      recovered,
      `no rendition shows the faulted range answered 500, 500, then 206: ${show(perRendition)}\n` +
        `media requests: ${show(log.filter((r) => r.path.endsWith('.mp4')))}`,
    );
  });
});

test('a malformed playlist shows a clear error and throws nothing uncaught', { timeout: TEST_TIMEOUT_MS }, async () => {
  const fixture = await server.get('/fixtures/malformed.m3u8');
  assert.equal(fixture.status, 200, 'the demo server does not serve tests/fixtures/http at /fixtures');

  await withPlayer('malformed', '/?src=/fixtures/malformed.m3u8', async (session) => {
    const { page } = session;
    const errorBox = page.locator('#error');
    await errorBox.waitFor({ state: 'visible', timeout: 60_000 });
    const text = (await errorBox.textContent()) ?? '';
    assert.match(
      text,
      new RegExp(`\\bline\\s*:?\\s*${MALFORMED_LINE}\\b`, 'i'),
      `#error does not name line ${MALFORMED_LINE}: ${JSON.stringify(text)}`,
    );
    assert.equal(await errorBox.getAttribute('role'), 'alert', '#error should have role=alert');

    const fatal = await waitFor(
      () =>
        page.evaluate(
          () => (window.shoalEvents ?? []).find((e) => e && e.type === 'error' && e.detail && e.detail.fatal) ?? null,
        ),
      { timeoutMs: 30_000, what: 'a fatal error event in window.shoalEvents' },
    );
    assert.equal(typeof fatal.detail.code, 'string', `error event without a code: ${show(fatal)}`);
    assert.equal(typeof fatal.detail.message, 'string', `error event without a message: ${show(fatal)}`);
    assertNoPageErrors(session);
  });
});
