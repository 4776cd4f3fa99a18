// Shared set-up of the embed's browser tests (embed*.test.mjs): a demo server that also
// serves tests/node_modules at /npm (for the real @peertube/embed-api bundle and axe-core),
// one Chromium per test file, and helpers to open the embed directly or inside the host
// fixture page (tests/fixtures/http/embed-host.html).

import { describe as show, launchBrowser, saveScreenshot, startDemo, waitFor } from './harness.mjs';

export { show, saveScreenshot };

/** Starts the demo server and a browser; `close()` stops both. */
export async function startEmbedSuite() {
  const server = await startDemo({ extraArgs: ['--mount', '/npm=tests/node_modules'] });
  let browser;
  try {
    browser = await launchBrowser();
  } catch (error) {
    await server.stop();
    throw error;
  }
  const port = new URL(server.url).port;
  return {
    server,
    browser,
    /** An address on the server's own origin (http://127.0.0.1:PORT). */
    url: (path) => new URL(path, server.url).href,
    /** The same server under another origin (http://localhost:PORT): a cross-origin embed. */
    otherOriginUrl: (path) => `http://localhost:${port}${path}`,
    async close() {
      await browser.close();
      await server.stop();
    },
  };
}

/**
 * Opens a new page on `url` recording page errors, console errors and CSP violations.
 * Returns { page, pageErrors, consoleErrors, close() }.
 */
export async function openPage(browser, url, { viewport = { width: 1280, height: 720 } } = {}) {
  const page = await browser.newPage();
  await page.setViewportSize(viewport);
  const pageErrors = [];
  const consoleErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.stack || String(error)));
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  await page.goto(url, { waitUntil: 'load', timeout: 60_000 });
  return { page, pageErrors, consoleErrors, close: () => page.close() };
}

/** Waits until the embed page has run its set-up (window.shoalEmbed exists). */
export function embedLoaded(frame) {
  return frame.waitForFunction(() => window.shoalEmbed !== undefined, null, { timeout: 30_000 });
}

/** Polls `fn` inside `frame` (a Page or a Frame) until it returns something truthy. */
export function until(frame, fn, arg, { timeoutMs = 30_000, what = 'condition' } = {}) {
  return waitFor(() => frame.evaluate(fn, arg), { timeoutMs, what });
}

/** The video element's state, for assertions and failure messages. */
export function videoState(frame) {
  return frame.evaluate(() => {
    const video = document.getElementById('video');
    return {
      currentTime: video.currentTime,
      paused: video.paused,
      ended: video.ended,
      muted: video.muted,
      volume: video.volume,
      playbackRate: video.playbackRate,
      readyState: video.readyState,
      tracks: [...video.textTracks].map((t) => ({ language: t.language, mode: t.mode })),
      error: document.getElementById('error').hidden ? null : document.getElementById('error').textContent,
    };
  });
}
