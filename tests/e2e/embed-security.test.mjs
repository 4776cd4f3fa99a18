// The embed against hostile input: parameters crafted to inject HTML, script, CSS or links
// must do nothing but be ignored or shown as plain text; a bad source ends on the readable
// error screen; and the Content-Security-Policy is sent, enforced, and lets normal playback
// (wasm, MSE, captions, the API) run without a single violation.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { embedLoaded, openPage, show, startEmbedSuite, until } from './embed-helpers.mjs';
import { countConnections } from './harness.mjs';

const TIMEOUT_MS = 180_000;
// What the policy must say (demo/src/server.rs EMBED_CSP holds the whole of it).
const CSP_DIRECTIVES = [
  "default-src 'none'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
];
let suite;

before(async () => {
  suite = await startEmbedSuite();
});

after(async () => {
  await suite?.close();
});

/** Records CSP violations from the first script on (the page's own listener could be late). */
async function recordViolations(page) {
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (event) =>
      window.__cspViolations.push(`${event.effectiveDirective} ${event.blockedURI}`),
    );
  });
}

async function openRecorded(path) {
  const page = await suite.browser.newPage();
  const pageErrors = [];
  const requests = [];
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  page.on('request', (request) => requests.push(request.url()));
  await recordViolations(page);
  await page.goto(suite.url(path), { waitUntil: 'load' });
  await embedLoaded(page);
  return { page, pageErrors, requests };
}

test('hostile parameters inject nothing and run nothing', { timeout: TIMEOUT_MS }, async () => {
  const hostileTitle = '<img src=x onerror=window.__pwned=1><script>window.__pwned=2</script>';
  const query = new URLSearchParams({
    title: hostileTitle,
    peertubeLink: 'javascript:window.__pwned=3',
    foregroundColor: 'red;background:url(http://127.0.0.1:9/fg.png)',
    bigPlayBackgroundColor: 'url(http://127.0.0.1:9/bg.png)',
    subtitle: '"><svg onload=window.__pwned=4>',
    scope: 'peertube::__ready',
    swarmId: '<b>swarm</b>',
    trackers: 'javascript:window.__pwned=5',
    playbackRate: 'NaN',
    start: '1e9',
    api: '1',
  });
  const { page, pageErrors, requests } = await openRecorded(`/videos/embed/vod?${query}`);
  try {
    await page.waitForTimeout(1000);
    const result = await page.evaluate(() => ({
      pwned: window.__pwned ?? null,
      title: document.getElementById('title').textContent,
      titleChildren: document.getElementById('title').children.length,
      injected: document.querySelectorAll('img, script:not([src]), svg[onload], b').length,
      linkHref: document.getElementById('link').href,
      fgProperty: document.getElementById('player').style.getPropertyValue('--fg'),
      bigPlayProperty: document.getElementById('player').style.getPropertyValue('--big-play-bg'),
      playColour: getComputedStyle(document.getElementById('play')).color,
      warnings: window.shoalEmbed.warnings,
      options: window.shoalEmbed.options,
    }));
    assert.equal(result.pwned, null, 'hostile input ran script');
    assert.equal(result.title, hostileTitle, 'the title shows as plain text');
    assert.equal(result.titleChildren, 0);
    assert.equal(result.injected, 0, 'an element was injected');
    assert.match(result.linkHref, /^http:\/\/127\.0\.0\.1:\d+\/$/, 'a javascript: link must fall back to the source origin');
    assert.equal(result.fgProperty, '');
    assert.equal(result.bigPlayProperty, '');
    assert.equal(result.playColour, 'rgb(255, 255, 255)', 'the bad colour must leave the default');
    const ignored = new Set(result.warnings.map((w) => /^ignored (\w+):/.exec(w)?.[1]));
    for (const name of ['peertubeLink', 'foregroundColor', 'bigPlayBackgroundColor', 'subtitle', 'scope', 'swarmId', 'trackers', 'playbackRate']) {
      assert.ok(ignored.has(name), `${name} not reported as ignored: ${show(result.warnings)}`);
    }
    assert.equal(result.options.scope, 'peertube');
    assert.deepEqual(result.options.trackers, []);
    assert.ok(!requests.some((url) => url.includes('127.0.0.1:9/')), `the page fetched an injected URL: ${show(requests)}`);
    // Playing and opening menus (which render labels) must not run anything either.
    await page.click('#big-play');
    await page.click('#settings-button');
    await page.waitForTimeout(1000);
    assert.equal(await page.evaluate(() => window.__pwned ?? null), null);
    assert.deepEqual(pageErrors, []);
  } finally {
    await page.close();
  }
});

test('p2p=0 opens no WebSocket and no RTCPeerConnection; with P2P on the embed opens both', { timeout: TIMEOUT_MS }, async () => {
  const tracker = suite.url('/tracker').replace(/^http/, 'ws');
  const base = `/embed/?src=/media/vod/master.m3u8&autoplay=1&muted=1&trackers=${encodeURIComponent(tracker)}`;
  const watch = async (query) => {
    const page = await suite.browser.newPage();
    await countConnections(page);
    await page.goto(suite.url(`${base}&${query}`), { waitUntil: 'load' });
    await embedLoaded(page);
    await until(page, () => document.getElementById('video').currentTime >= 4, null, {
      timeoutMs: 60_000,
      what: `4 s of playback with ${query}`,
    });
    const counts = await page.evaluate(() => window.__connections);
    await page.close();
    return counts;
  };
  // The positive control: the same embed with P2P on announces to the tracker, whose client
  // makes its offers (one RTCPeerConnection each) even before any peer answers.
  const on = await watch('p2p=1&swarmId=embed-p2p-switch');
  assert.ok(on.webSockets >= 1, `P2P on opened no tracker socket: ${show(on)}`);
  assert.ok(on.peerConnections >= 1, `P2P on opened no peer connection: ${show(on)}`);
  const off = await watch('p2p=0&swarmId=embed-p2p-switch');
  assert.deepEqual(off, { webSockets: 0, peerConnections: 0 });
});

test('a bad or failing source ends on the readable error screen', { timeout: TIMEOUT_MS }, async () => {
  for (const [query, expected] of [
    ['src=javascript:alert(1)', /no valid video address/],
    [`src=${encodeURIComponent('/media/<b>nothing</b>.m3u8')}&autoplay=1&muted=1`, /404/],
    ['src=/fixtures/malformed.m3u8&autoplay=1&muted=1', /line 10/],
  ]) {
    const { page, pageErrors } = await openRecorded(`/embed/?${query}`);
    try {
      await page.locator('#error').waitFor({ state: 'visible', timeout: 30_000 });
      const text = await page.locator('#error').textContent();
      assert.match(text, expected, `?${query}: ${text}`);
      assert.equal(await page.locator('#error').getAttribute('role'), 'alert');
      assert.equal(await page.locator('#error b').count(), 0, 'error text must stay text');
      assert.equal(await page.locator('#big-play').isVisible(), false);
      assert.equal(await page.locator('#spinner').isVisible(), false);
      assert.deepEqual(pageErrors, [], `?${query}`);
    } finally {
      await page.close();
    }
  }
});

test('the CSP is sent and enforced, and normal playback raises no violation', { timeout: TIMEOUT_MS }, async () => {
  for (const path of ['/embed/', '/videos/embed/vod']) {
    const response = await suite.server.get(path);
    const policy = response.headers.get('content-security-policy') ?? '';
    for (const directive of CSP_DIRECTIVES) assert.ok(policy.includes(directive), `${path}: ${directive} missing from ${policy}`);
  }

  const { page, pageErrors } = await openRecorded('/videos/embed/vod?autoplay=1&muted=1&subtitle=en&api=1');
  try {
    // Wasm compiled, MSE fed, captions loaded: all under the policy.
    await until(page, () => document.getElementById('video').currentTime > 3, null, { what: 'playback under the CSP' });
    await until(
      page,
      () => [...document.getElementById('video').textTracks].find((t) => t.language === 'en')?.activeCues?.length > 0,
      null,
      { what: 'an English cue' },
    );
    assert.deepEqual(await page.evaluate(() => window.__cspViolations), [], 'violations during normal playback');
    // And the policy bites: an inline script never runs.
    const inline = await page.evaluate(() => {
      const script = document.createElement('script');
      script.textContent = 'window.__inlineRan = true';
      document.body.append(script);
      return window.__inlineRan ?? false;
    });
    assert.equal(inline, false, 'an inline script ran under the CSP');
    const violations = await page.evaluate(() => window.__cspViolations);
    assert.ok(violations.some((v) => v.startsWith('script-src')), show(violations));
    assert.deepEqual(pageErrors, []);
  } finally {
    await page.close();
  }
});
