// Adaptive bitrate in the browser: the demo's three-rendition VOD (240p/480p/720p) played on
// the demo page with automatic level choice, while the demo server's throttling mode (real
// paced responses, not a mock) limits the origin. The player must leave the top level when
// the origin is throttled below it, keep playing, and go back up once the throttle is lifted.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { describe as show, launchBrowser, openPlayerPage, saveScreenshot, startDemo, waitFor } from './harness.mjs';

let server;

before(async () => {
  server = await startDemo();
});

after(async () => {
  await server?.stop();
});

/** The page's level events so far, in order: [{type, level}]. */
function levelEvents(page) {
  return page.evaluate(() =>
    (window.shoalEvents ?? [])
      .filter((e) => e.type.startsWith('level') && e.type !== 'levels')
      .map((e) => ({ type: e.type, level: e.detail.level })),
  );
}

const currentTime = (page) => page.evaluate(() => document.getElementById('video').currentTime);

test('a throttled origin makes the player switch down and keep playing; lifting it switches up', { timeout: 300_000 }, async (t) => {
  await server.control.reset();
  const browser = await launchBrowser();
  let session;
  try {
    session = await openPlayerPage(browser, new URL('/', server.url).href);
    const { page } = session;
    await page.evaluate(() => {
      window.__waiting = [];
      const video = document.getElementById('video');
      video.addEventListener('waiting', () => window.__waiting.push(video.currentTime));
    });
    const levels = await waitFor(() => page.evaluate(() => window.shoalEvents.find((e) => e.type === 'levels')?.detail.levels), {
      what: 'the levels event',
    });
    const top = levels.length - 1;
    const bitrates = levels.map((l) => l.bandwidthBps);
    t.diagnostic(`levels (bit/s): ${bitrates.join(', ')}`);

    // Unthrottled on loopback: the top level is loaded.
    await waitFor(async () => (await levelEvents(page)).some((e) => e.type === 'levelselected' && e.level === top), {
      what: `a switch to the top level ${top}`,
    });

    // Each response paced at 1.5x the lowest level's bitrate: far below the top level.
    const rate = Math.round((1.5 * bitrates[0]) / 8);
    await server.control.throttle(rate, '/media/vod/');
    const throttledAt = await currentTime(page);
    t.diagnostic(`throttled to ${rate} B/s per response at t=${throttledAt.toFixed(1)} s`);
    const down = await waitFor(
      async () => {
        const events = await levelEvents(page);
        const lastSelected = events.filter((e) => e.type === 'levelselected').at(-1);
        return lastSelected && lastSelected.level < top ? lastSelected : null;
      },
      { timeoutMs: 60_000, what: 'a switch below the top level while throttled' },
    );
    t.diagnostic(`switched down to level ${down.level}`);
    // It keeps playing on the lower level: the picture reaches it and time advances.
    await waitFor(
      async () => (await levelEvents(page)).some((e) => e.type === 'levelswitched' && e.level < top),
      { timeoutMs: 60_000, what: 'the lower level on screen' },
    );
    const before = await currentTime(page);
    await page.waitForTimeout(5000);
    const afterFive = await currentTime(page);
    assert.ok(afterFive - before > 3.5, `playback did not advance while throttled: ${before} -> ${afterFive}`);

    // Lifted: back up within a bounded time.
    await server.control.throttle(null);
    const liftedAt = await currentTime(page);
    const up = await waitFor(
      async () => {
        const events = await levelEvents(page);
        const lastSelected = events.filter((e) => e.type === 'levelselected').at(-1);
        return lastSelected && lastSelected.level > down.level ? lastSelected : null;
      },
      { timeoutMs: 60_000, what: 'a switch up after the throttle was lifted' },
    );
    t.diagnostic(`lifted at t=${liftedAt.toFixed(1)} s; switched up to level ${up.level} by t=${(await currentTime(page)).toFixed(1)} s`);
    const waiting = await page.evaluate(() => window.__waiting);
    t.diagnostic(`waiting events after start: ${JSON.stringify(waiting)}`);
    const fatal = await page.evaluate(() => window.shoalEvents.find((e) => e.type === 'error' && e.detail.fatal) ?? null);
    assert.equal(fatal, null, `fatal error: ${show(fatal)}`);
    assert.deepEqual(session.pageErrors, [], show(session.pageErrors));
  } catch (error) {
    if (session) await saveScreenshot(session.page, 'abr-failure');
    throw error;
  } finally {
    await server.control.throttle(null).catch(() => {});
    await browser.close();
  }
});
