// A tracker that is down when the viewers start and comes up later: the viewers play over
// HTTP meanwhile, with no error shown, keep reconnecting with backoff, and join the swarm
// (and share) once the tracker answers. The tracker is the reference npm bittorrent-tracker
// server, started late on a port chosen in advance. Runs in the private network namespace.

import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import {
  describe as show,
  launchBrowser,
  MULTI_PAGE_ARGS,
  openPlayerPage,
  startDemo,
  waitFor,
} from './harness.mjs';
import { startBittorrentTracker } from './reference-tracker.mjs';

let server;

before(async () => {
  server = await startDemo({ extraArgs: ['--no-tracker'] });
});

after(async () => {
  await server?.stop();
});

/** A TCP port free right now on 127.0.0.1 (nothing listens there until the test starts it). */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

const pageFacts = (page) =>
  page.evaluate(() => {
    const events = window.shoalEvents;
    const stats = events.filter((e) => e.type === 'stats').map((e) => e.detail);
    return {
      time: document.getElementById('video').currentTime,
      peers: stats.at(-1)?.peers ?? 0,
      peerBytes: events.filter((e) => e.type === 'segmentloaded' && e.detail.source === 'peer').reduce((s, e) => s + e.detail.bytes, 0),
      errors: events.filter((e) => e.type === 'error').map((e) => e.detail),
      errorShown: !document.getElementById('error').hidden,
    };
  });

test('viewers play while the tracker is down and join the swarm once it comes up', { timeout: 240_000 }, async (t) => {
  const port = await freePort();
  const trackerUrl = `ws://127.0.0.1:${port}`;
  const browser = await launchBrowser({ extraArgs: MULTI_PAGE_ARGS });
  let tracker;
  try {
    const url = new URL(`/?level=1&swarmId=late-tracker&tracker=${encodeURIComponent(trackerUrl)}`, server.url).href;
    const first = await openPlayerPage(browser, url);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const second = await openPlayerPage(browser, url);
    await new Promise((resolve) => setTimeout(resolve, 6000));

    // Down: both play over HTTP, with no peer and no error.
    for (const [i, session] of [first, second].entries()) {
      const facts = await pageFacts(session.page);
      t.diagnostic(`viewer ${i + 1} with the tracker down: ${JSON.stringify(facts)}`);
      assert.ok(facts.time > 2, `viewer ${i + 1} is not playing: ${show(facts)}`);
      assert.equal(facts.peers, 0);
      assert.deepEqual(facts.errors, [], `viewer ${i + 1} reported errors`);
      assert.equal(facts.errorShown, false);
    }

    // Up: the viewers reconnect on their own and meet.
    tracker = await startBittorrentTracker({ port });
    t.diagnostic(`tracker up at ${tracker.url}`);
    for (const [i, session] of [first, second].entries()) {
      await waitFor(async () => (await pageFacts(session.page)).peers >= 1, {
        timeoutMs: 90_000,
        what: `viewer ${i + 1} connected to a peer after the tracker came up`,
      });
    }
    const shared = await waitFor(
      async () => {
        const facts = await Promise.all([first, second].map((s) => pageFacts(s.page)));
        return facts.some((f) => f.peerBytes > 0) ? facts : null;
      },
      { timeoutMs: 90_000, what: 'segment bytes from a peer' },
    );
    t.diagnostic(`after the tracker came up: ${JSON.stringify(shared)}`);
    for (const facts of shared) assert.deepEqual(facts.errors, []);
    assert.deepEqual(first.pageErrors, []);
    assert.deepEqual(second.pageErrors, []);
  } finally {
    await tracker?.stop();
    await browser.close();
  }
});
