// Interop of the demo's tracker with the real WebTorrent client: two pages of hls.js +
// p2p-media-loader 2.3.1 (whose bundled bittorrent-tracker client does the signalling) play the
// demo's VOD, the second joining a few seconds after the first, and the second must receive
// segment bytes over P2P. Run once against Shoal's tracker (ws://HOST/tracker) and once against
// the reference bittorrent-tracker server, which checks the fixture itself.
//
// Needs the private network namespace (scripts/netns-run.sh): Chromium gathers no ICE
// candidates on loopback.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser, saveScreenshot, startDemo } from './harness.mjs';
import { P2PML_MOUNT_ARGS, openP2pmlViewer, shoalTrackerUrl, summarize } from './p2pml.mjs';
import { startBittorrentTracker } from './reference-tracker.mjs';

const TEST_TIMEOUT_MS = 240_000;
// Media time the first viewer plays before the second opens: it then holds segments well ahead
// of its playhead (hls.js buffers about 30 s) that the second can fetch from it.
const FIRST_VIEWER_LEAD_S = 3;
// The lowest rendition: smallest segments, and one swarm for both viewers.
const LEVEL = 0;

let server;

before(async () => {
  server = await startDemo({ extraArgs: P2PML_MOUNT_ARGS });
});

after(async () => {
  await server?.stop();
});

/**
 * Opens two viewers on `tracker` in one Chromium (two pages of one browser reach each other
 * through mDNS host candidates without STUN), the second after the first has played a few
 * seconds; resolves once the second has received P2P bytes. Returns both viewers' stats.
 */
async function twoViewersShare(t, name, tracker) {
  const swarmId = `tracker-interop-${name}-${Date.now()}`;
  const browser = await launchBrowser();
  const viewers = [];
  try {
    const open = async () => {
      const v = await openP2pmlViewer(browser, { serverUrl: server.url, tracker, swarmId, level: LEVEL });
      viewers.push(v);
      return v;
    };
    const openedAt = Date.now();
    const first = await open();
    await first.waitFor((s) => s.currentTime >= FIRST_VIEWER_LEAD_S && s.tracker.received.replies > 0, {
      what: `the first viewer to play ${FIRST_VIEWER_LEAD_S} s and get a tracker reply`,
    });
    t.diagnostic(`first viewer played ${FIRST_VIEWER_LEAD_S} s after ${Date.now() - openedAt} ms`);
    const joinedAt = Date.now();
    const second = await open();
    const got = await second.waitFor((s) => s.bytes.p2p > 0, {
      timeoutMs: 90_000,
      what: 'the second viewer to receive bytes over P2P',
    });
    t.diagnostic(`P2P bytes after ${Date.now() - joinedAt} ms`);
    // Let a few more segments arrive, so the diagnostics show a steady state, not the first chunk.
    const settled = await second
      .waitFor((s) => s.segments.p2p >= 2, { timeoutMs: 20_000, what: 'two P2P segments' })
      .catch(() => second.stats());
    const firstStats = await first.stats();
    t.diagnostic(`first:  ${summarize(firstStats)}`);
    t.diagnostic(`second: ${summarize(settled)}`);
    return { first: firstStats, second: settled ?? got };
  } catch (err) {
    const extra = [];
    for (const [i, v] of viewers.entries()) {
      extra.push(`--- viewer ${i + 1}: ${summarize(await v.stats().catch((e) => ({ error: String(e), bytes: {}, segments: {} })))}`);
      extra.push(`    page errors: ${JSON.stringify(v.pageErrors)} console errors: ${JSON.stringify(v.consoleErrors.slice(0, 10))}`);
      extra.push(`    screenshot: ${await saveScreenshot(v.page, `tracker-interop-${name}-${i + 1}-failure`)}`);
    }
    if (err instanceof Error) {
      err.message += `\n${extra.join('\n')}`;
      if (err.stack) err.stack += `\n${extra.join('\n')}`;
    }
    throw err;
  } finally {
    await browser.close();
  }
}

function assertShared({ first, second }) {
  assert.ok(second.bytes.p2p > 0, `second viewer got no P2P bytes: ${summarize(second)}`);
  assert.ok(first.bytes.uploaded > 0, `first viewer uploaded nothing: ${summarize(first)}`);
  // Both announced the same swarm (same rendition, same swarmId).
  const shared = first.tracker.infoHashes.filter((h) => second.tracker.infoHashes.includes(h));
  assert.ok(shared.length > 0, `no common info hash: ${first.tracker.infoHashes} / ${second.tracker.infoHashes}`);
  for (const s of [first, second]) {
    assert.deepEqual(s.tracker.failures, [], `tracker failures: ${summarize(s)}`);
    assert.equal(s.error, null, `viewer error: ${summarize(s)}`);
  }
}

test('two p2p-media-loader viewers share segments through the Shoal tracker', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const result = await twoViewersShare(t, 'shoal', shoalTrackerUrl(server.url));
  assertShared(result);
  // Signalling really went through the tracker: an offer reached one side, an answer the other.
  const { first, second } = result;
  assert.ok(
    first.tracker.received.offers + second.tracker.received.offers > 0,
    `no relayed offer seen: ${summarize(first)} / ${summarize(second)}`,
  );
  assert.ok(
    first.tracker.received.answers + second.tracker.received.answers > 0,
    `no forwarded answer seen: ${summarize(first)} / ${summarize(second)}`,
  );
});

test('the same viewers share segments through the reference bittorrent-tracker server', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const tracker = await startBittorrentTracker();
  try {
    assertShared(await twoViewersShare(t, 'bittorrent-tracker', tracker.url));
  } catch (err) {
    err.message += `\n--- bittorrent-tracker output ---\n${tracker.output()}`;
    throw err;
  } finally {
    await tracker.stop();
  }
});
