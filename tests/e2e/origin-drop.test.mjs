// Browser end-to-end test of an origin whose connection breaks mid-body: the demo server sends
// the real response head for one segment (its Content-Length promises the whole range) and
// closes the connection after a third of the bytes, once. P2P is off, so only HTTP is in play.
//
// Asserted: the request log shows the cut request and then the same range asked again and
// answered in full; every buffer the page appended is a segment the integrity file lists or an
// init segment (the truncated body never reached the media element) and the faulted segment
// was appended exactly once; playback went past that segment without a stall or fatal error.

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
  watchPlayback,
} from './harness.mjs';
import { loadVod, rangeStart } from './hls.mjs';

// `?level=1` pins the 480p rendition, so the faulted segment is the one that is played.
const LEVEL = 1;
// The 5th media segment (16-20 s): far enough ahead that it is fetched while media plays.
const FAULT_INDEX = 4;

let server;

before(async () => {
  server = await startDemo();
});

after(async () => {
  await server?.stop();
});

test('a connection dropped mid-body is retried and the cut body is never appended', { timeout: 240_000 }, async (t) => {
  await server.control.reset();
  const renditions = await loadVod(server.url);
  const { playlist } = renditions[LEVEL];
  const segment = playlist.segments[FAULT_INDEX];
  assert.notEqual(segment.offset, null, `segment ${FAULT_INDEX} has no byte range`);
  const cutAfter = Math.floor(segment.length / 3);
  await server.control.addFault({
    path: segment.path,
    range_start: segment.offset,
    drop_after_bytes: cutAfter,
    count: 1,
  });
  const integrityJson = await (await server.get('/media/vod/segments-sha256.json')).json();
  const listed = integrityDigests(integrityJson);
  const fileName = segment.path.split('/').pop();
  const faultedDigest = integrityJson[fileName][`${segment.offset}-${segment.offset + segment.length - 1}`];
  assert.ok(faultedDigest, `the integrity file does not list segment ${FAULT_INDEX}`);
  const pastFault = segment.start + segment.duration + 2;

  const browser = await launchBrowser();
  let session;
  try {
    session = await openPlayerPage(browser, new URL(`/?p2p=0&level=${LEVEL}`, server.url).href, {
      beforeLoad: recordAppends,
    });
    const report = await watchPlayback(session.page, { untilTime: pastFault });
    assert.equal(report.fatalError, null, `fatal error: ${show(report.fatalError)}`);
    assert.ok(report.reached, `currentTime ${report.endTime} did not pass ${pastFault} (${report.reason}): ${show(report.state)}`);
    assert.deepEqual(report.stalls, [], `stalls: ${show(report.stalls)}`);
    assert.deepEqual(session.pageErrors, [], `uncaught errors: ${show(session.pageErrors)}`);

    const log = await server.control.requests();
    const asked = log.filter((r) => r.path === segment.path && rangeStart(r.range) === segment.offset);
    t.diagnostic(`requests for the faulted range: ${JSON.stringify(asked)}`);
    const wholeRange = `bytes=${segment.offset}-${segment.offset + segment.length - 1}`;
    assert.ok(asked.length >= 2, `the faulted range was asked ${asked.length} time(s): ${show(asked)}`);
    assert.deepEqual(asked[0], { path: segment.path, range: wholeRange, status: 206, fault: 'drop_after_bytes' });
    assert.deepEqual(asked[1], { path: segment.path, range: wholeRange, status: 206 }, 'the retry asks the whole range again');

    const appended = await appendedBuffers(session.page);
    const initLength = playlist.map.length;
    const strangers = appended.filter((a) => !listed.has(a.sha256) && a.bytes !== initLength);
    assert.deepEqual(strangers, [], `appended bytes the integrity file does not list (cut after ${cutAfter})`);
    const faultedAppends = appended.filter((a) => a.sha256 === faultedDigest).length;
    assert.equal(faultedAppends, 1, `segment ${FAULT_INDEX} was appended ${faultedAppends} times`);
  } catch (err) {
    throw await explainFailure(err, session, 'origin-drop');
  } finally {
    await browser.close();
  }
});
