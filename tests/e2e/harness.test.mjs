// Self-test of the e2e harness with a plain <video> page (tests/fixtures/http/selftest.html),
// independent of the Shoal player: when the playback tests fail, these tell whether the
// demo server, Chromium, its H.264/AAC playback and the playback watcher work at all.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { describe as show, launchBrowser, openPlayerPage, startDemo, watchPlayback } from './harness.mjs';

let server;
let browser;

before(async () => {
  server = await startDemo();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const open = (query = '') => openPlayerPage(browser, new URL(`/fixtures/selftest.html${query}`, server.url).href);

test('watchPlayback sees a plain video advance without stalls', { timeout: 120_000 }, async () => {
  const { page, pageErrors } = await open();
  try {
    const report = await watchPlayback(page, { seconds: 3 });
    assert.equal(report.reason, 'done', show(report));
    assert.ok(report.began && report.advanced >= 3, show(report));
    assert.deepEqual(report.stalls, [], show(report));
    assert.equal(report.fatalError, null);
    assert.deepEqual(pageErrors, []);
  } finally {
    await page.close();
  }
});

test('watchPlayback reports a frozen video as a stall', { timeout: 120_000 }, async () => {
  const { page } = await open();
  try {
    // Playing, then currentTime stops moving while the video is neither paused nor seeking.
    await page.evaluate(() => {
      const v = document.getElementById('video');
      const freezeSoon = () => setTimeout(() => (v.playbackRate = 0), 1000);
      if (!v.paused && v.readyState >= 3) freezeSoon();
      else v.addEventListener('playing', freezeSoon, { once: true });
    });
    const report = await watchPlayback(page, { seconds: 30, timeoutMs: 8000 });
    assert.ok(report.began, show(report));
    assert.equal(report.reason, 'timeout', show(report));
    assert.ok(
      report.stalls.some((s) => s.kind === 'frozen' && s.forMs > 1500),
      `no frozen stall reported: ${show(report)}`,
    );
  } finally {
    await page.close();
  }
});

test('watchPlayback gives up when playback never starts', { timeout: 60_000 }, async () => {
  const { page } = await open('?nosrc');
  try {
    const report = await watchPlayback(page, { seconds: 3, startTimeoutMs: 2000 });
    assert.equal(report.reason, 'never-started', show(report));
    assert.equal(report.began, false);
  } finally {
    await page.close();
  }
});

test('watchPlayback stops early on a fatal error event', { timeout: 60_000 }, async () => {
  const { page } = await open('?nosrc&fatal');
  try {
    const report = await watchPlayback(page, { seconds: 3, startTimeoutMs: 30_000 });
    assert.equal(report.reason, 'fatal-error', show(report));
    assert.equal(report.fatalError.detail.code, 'selftest');
    assert.match(await page.locator('#error').textContent(), /line 3/);
  } finally {
    await page.close();
  }
});
