// The embed's user interface: every control operated with the keyboard alone (Tab to reach
// it, with a visible focus ring), the shortcuts, touch on a 320 px phone embed, accessibility
// checked by axe-core (from npm) in several states, screenshots at 320 and 1280 px wide, and
// the demo home page showing the embed with its snippet.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { REPO_ROOT } from './harness.mjs';
import { loadVod } from './hls.mjs';
import { embedLoaded, openPage, saveScreenshot, show, startEmbedSuite, until, videoState } from './embed-helpers.mjs';

const TIMEOUT_MS = 240_000;
const PHONE = { width: 320, height: 180 };
let suite;

before(async () => {
  suite = await startEmbedSuite();
});

after(async () => {
  await suite?.close();
});

async function openEmbed(query, viewport) {
  const session = await openPage(suite.browser, suite.url(`/videos/embed/vod?${query}`), { viewport });
  await embedLoaded(session.page);
  return session;
}

/** Whether the focused element shows a focus ring of at least 2 px. */
function focusShown(page) {
  return page.evaluate(() => {
    const style = getComputedStyle(document.activeElement);
    return style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
  });
}

/**
 * Presses Tab until the element `#id` has focus, checking the ring on every stop.
 * Returns the ids focused on the way (for the failure message).
 */
async function tabTo(page, id) {
  const visited = [];
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName);
    visited.push(focused);
    if (focused !== 'BODY') assert.ok(await focusShown(page), `no visible focus on ${focused}`);
    if (focused === id) return visited;
  }
  assert.fail(`Tab never reached #${id}; visited ${visited.join(' ')}`);
}

const state = (page) => videoState(page);
/** The caption on screen, or null (the embed draws captions itself). */
const caption = (page) =>
  page.evaluate(() => (document.getElementById('captions').hidden ? null : document.getElementById('captions-text').textContent));
const time = async (page) => (await state(page)).currentTime;

test('every control works from the keyboard alone', { timeout: TIMEOUT_MS }, async (t) => {
  const session = await openEmbed('');
  const { page } = session;
  try {
    // The Tab order holds every control.
    const order = await tabTo(page, 'fullscreen');
    t.diagnostic(`Tab order: ${order.join(' ')}`);
    for (const id of ['link', 'p2p-notice-close', 'big-play', 'seek', 'play', 'mute', 'volume', 'p2p-button', 'captions-button', 'settings-button']) {
      assert.ok(order.includes(id), `#${id} not in the Tab order: ${order.join(' ')}`);
    }

    // Big play, then play/pause with Enter, Space and k.
    await tabTo(page, 'big-play');
    await page.keyboard.press('Enter');
    await until(page, () => document.getElementById('video').currentTime > 1, null, { what: 'playback from the big play button' });
    assert.equal(await page.evaluate(() => document.activeElement.id), 'play', 'focus moves to the play button when big play goes');
    await page.keyboard.press('Enter');
    assert.equal((await state(page)).paused, true, 'Enter on play/pause pauses');
    await page.keyboard.press('Space');
    await until(page, () => !document.getElementById('video').paused, null, { what: 'Space to play' });
    await page.keyboard.press('k');
    assert.equal((await state(page)).paused, true, 'k pauses');
    await page.keyboard.press('k');
    await until(page, () => !document.getElementById('video').paused, null, { what: 'k to play' });

    // Mute and volume.
    await tabTo(page, 'mute');
    await page.keyboard.press('Enter');
    assert.equal((await state(page)).muted, true);
    await page.keyboard.press('m');
    assert.equal((await state(page)).muted, false);
    await tabTo(page, 'volume');
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('ArrowLeft');
    assert.ok(Math.abs((await state(page)).volume - 0.9) < 0.001, show(await state(page)));
    assert.equal(await page.locator('#volume').getAttribute('aria-valuenow'), '90');
    await page.keyboard.press('Home');
    assert.deepEqual([(await state(page)).volume, (await state(page)).muted], [0, true]);
    await page.keyboard.press('End');
    assert.deepEqual([(await state(page)).volume, (await state(page)).muted], [1, false]);
    await page.keyboard.press('ArrowDown'); // anywhere: volume down
    assert.ok(Math.abs((await state(page)).volume - 0.95) < 0.001);

    // Seeking: the seek slider's arrows, j/l, number keys, Home.
    await page.keyboard.press('5');
    await until(page, () => Math.abs(document.getElementById('video').currentTime - 60) < 2, null, { what: '5 to jump to 50%' });
    await tabTo(page, 'seek');
    const seekStart = await time(page);
    await page.keyboard.press('ArrowRight');
    await until(page, (from) => document.getElementById('video').currentTime >= from + 4.5, seekStart, { what: 'ArrowRight +5 s' });
    let from = await time(page);
    await page.keyboard.press('j');
    await until(page, (from) => document.getElementById('video').currentTime <= from - 9, from, { what: 'j -10 s' });
    from = await time(page);
    await page.keyboard.press('l');
    await until(page, (from) => document.getElementById('video').currentTime >= from + 9, from, { what: 'l +10 s' });
    from = await time(page);
    await page.keyboard.press('ArrowLeft');
    await until(page, (from) => document.getElementById('video').currentTime <= from - 4, from, { what: 'ArrowLeft -5 s' });
    const valueText = await page.locator('#seek').getAttribute('aria-valuetext');
    assert.match(valueText, /^\d+:\d\d of 2:00$/);
    await page.keyboard.press('Home');
    await until(page, () => document.getElementById('video').currentTime < 3, null, { what: 'Home to the start' });

    // Captions menu: open, arrow to English, choose; c toggles.
    await tabTo(page, 'captions-button');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Off', 'focus goes to the checked item');
    assert.equal(await page.locator('#captions-button').getAttribute('aria-expanded'), 'true');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    assert.match(await until(page, () => document.getElementById('captions-text').textContent, null, { what: 'a caption' }), /^English caption/);
    assert.equal(await page.locator('#captions-menu').isVisible(), false, 'choosing closes the menu');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'captions-button');
    await page.keyboard.press('c');
    assert.equal(await caption(page), null, 'c turns captions off');
    await page.keyboard.press('c');
    assert.match(await caption(page), /^English caption/, 'c turns them back on');

    // Settings menu: speed by Tab inside the menu; quality items reachable; Escape closes.
    await tabTo(page, 'settings-button');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Normal');
    await page.keyboard.press('Tab'); // 1.25×
    await page.keyboard.press('Tab'); // 1.5×
    assert.equal(await page.evaluate(() => document.activeElement.textContent), '1.5×');
    await page.keyboard.press('Enter');
    assert.equal((await state(page)).playbackRate, 1.5);
    await page.keyboard.press('Enter'); // focus went back to the settings button: reopen
    await page.keyboard.press('End');
    const lastQuality = await page.evaluate(() => ({
      text: document.activeElement.textContent,
      role: document.activeElement.getAttribute('role'),
      inQuality: document.getElementById('quality-group').contains(document.activeElement),
    }));
    assert.deepEqual(lastQuality, { text: '240p', role: 'menuitemradio', inQuality: true });
    await page.keyboard.press('Escape');
    assert.equal(await page.locator('#settings-menu').isVisible(), false);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'settings-button');

    // P2P panel.
    await tabTo(page, 'p2p-button');
    await page.keyboard.press('Enter');
    assert.equal(await page.locator('#p2p-panel').isVisible(), true);
    await page.keyboard.press('Escape');
    assert.equal(await page.locator('#p2p-panel').isVisible(), false);

    // Picture-in-picture (when this Chromium offers it) and fullscreen.
    if (await page.locator('#pip').isVisible()) {
      await tabTo(page, 'pip');
      await page.keyboard.press('Enter');
      const pip = await until(page, () => document.pictureInPictureElement?.id ?? null, null, { what: 'picture-in-picture' });
      assert.equal(pip, 'video');
      await page.keyboard.press('Enter');
      await until(page, () => document.pictureInPictureElement === null, null, { what: 'leaving picture-in-picture' });
    } else {
      t.diagnostic('picture-in-picture is not available in this browser: its button is hidden');
    }
    await tabTo(page, 'fullscreen');
    await page.keyboard.press('Enter');
    await until(page, () => document.fullscreenElement?.id === 'player', null, { what: 'fullscreen' });
    await until(page, () => document.getElementById('fullscreen').getAttribute('aria-label') === 'Exit fullscreen', null, {
      what: 'the button to say "Exit fullscreen"',
    });
    await page.keyboard.press('f');
    await until(page, () => document.fullscreenElement === null, null, { what: 'leaving fullscreen' });

    // The IP notice closes from the keyboard.
    await tabTo(page, 'p2p-notice-close');
    await page.keyboard.press('Enter');
    assert.equal(await page.locator('#p2p-notice').isVisible(), false);
    assert.deepEqual(session.pageErrors, []);
  } finally {
    await session.close();
  }
});

test('touch on a 320 px phone embed', { timeout: TIMEOUT_MS }, async () => {
  const session = await openEmbed('muted=1', PHONE);
  const { page } = session;
  const cdp = await page.context().newCDPSession(page);
  const tap = async (x, y) => {
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [{ x, y }] });
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
  };
  try {
    await cdp.send('Emulation.setTouchEmulationEnabled', { enabled: true, maxTouchPoints: 1 });
    // Every control fits in the bar at 320 px (nothing cut off on the right).
    const overflow = await page.evaluate(() =>
      [...document.querySelectorAll('.buttons > button, .buttons > .time')]
        .filter((el) => getComputedStyle(el).display !== 'none' && !el.hidden)
        .filter((el) => el.getBoundingClientRect().right > window.innerWidth)
        .map((el) => el.id || el.className),
    );
    assert.deepEqual(overflow, [], 'controls past the right edge at 320 px');
    const bigPlay = await page.locator('#big-play').boundingBox();
    await tap(bigPlay.x + bigPlay.width / 2, bigPlay.y + bigPlay.height / 2);
    await until(page, () => document.getElementById('video').currentTime > 0.5, null, { what: 'playback after a tap' });
    // Controls hide while playing; a tap on the picture brings them back without pausing.
    await until(page, () => document.getElementById('player').classList.contains('idle'), null, {
      what: 'the controls to hide',
      timeoutMs: 10_000,
    });
    await tap(160, 110);
    await page.waitForTimeout(200);
    assert.equal(await page.evaluate(() => document.getElementById('player').classList.contains('idle')), false);
    assert.equal((await state(page)).paused, false, 'the first tap only shows the controls');
    // A tap on the seek bar's middle seeks to about 60 s.
    const seek = await page.locator('#seek').boundingBox();
    await tap(seek.x + seek.width / 2, seek.y + seek.height / 2);
    await until(page, () => Math.abs(document.getElementById('video').currentTime - 60) < 3, null, { what: 'a seek by tap' });
    // With the controls shown, a tap on the picture pauses.
    await tap(160, 110);
    await until(page, () => document.getElementById('video').paused, null, { what: 'a pause by tap' });
    assert.deepEqual(session.pageErrors, []);
  } finally {
    await cdp.detach();
    await session.close();
  }
});

test('the spinner shows while the player waits for media', { timeout: TIMEOUT_MS }, async () => {
  // The segment at 60 s answers 500 twice in every rendition: playback from there waits
  // through two retries (500 ms and 1 s of backoff) with the spinner up.
  await suite.server.control.reset();
  for (const rendition of await loadVod(suite.server.url)) {
    const segment = rendition.playlist.segments.find((s) => s.start <= 60 && 60 < s.start + s.duration);
    await suite.server.control.addFault({ path: segment.path, range_start: segment.offset, status: 500, count: 2 });
  }
  const session = await openEmbed('start=60&autoplay=1&muted=1');
  const { page } = session;
  try {
    await page.locator('#spinner').waitFor({ state: 'visible', timeout: 30_000 });
    assert.equal(await page.locator('#spinner').getAttribute('role'), 'status');
    await until(page, () => document.getElementById('video').currentTime > 61, null, { what: 'playback after the retries' });
    await page.locator('#spinner').waitFor({ state: 'hidden', timeout: 10_000 });
    const statuses = (await suite.server.control.requests()).map((r) => r.status);
    assert.ok(statuses.filter((s) => s === 500).length >= 2, `the faults were not hit: ${show(statuses)}`);
  } finally {
    await session.close();
    await suite.server.control.reset();
  }
});

test('axe-core finds no serious or critical problem', { timeout: TIMEOUT_MS }, async () => {
  const axeSource = await readFile(path.join(REPO_ROOT, 'tests', 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
  const audit = async (page, label) => {
    // Evaluated through the DevTools protocol, so the embed's CSP does not block it.
    if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(axeSource);
    const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
    const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert.deepEqual(
      bad.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) })),
      [],
      `${label}: ${show(bad, 6000)}`,
    );
    return results.violations.length;
  };
  for (const viewport of [{ width: 1280, height: 720 }, PHONE]) {
    const session = await openEmbed('subtitle=en', viewport);
    const { page } = session;
    try {
      await audit(page, `${viewport.width} px, before playback`);
      await page.click('#big-play');
      await until(page, () => document.getElementById('video').currentTime > 1, null, { what: 'playback' });
      await page.keyboard.press('k');
      await page.click('#settings-button');
      await until(page, () => document.querySelectorAll('#quality-group .menu-item').length > 1, null, { what: 'levels' });
      await audit(page, `${viewport.width} px, settings menu open`);
      await page.click('#captions-button');
      await audit(page, `${viewport.width} px, captions menu open`);
      await page.click('#p2p-button');
      await audit(page, `${viewport.width} px, P2P panel open`);
    } finally {
      await session.close();
    }
  }
  const failed = await openPage(suite.browser, suite.url('/embed/?src=javascript:1'));
  try {
    await audit(failed.page, 'error screen');
  } finally {
    await failed.close();
  }
});

test('screenshots at 1280 and 320 px wide', { timeout: TIMEOUT_MS }, async (t) => {
  for (const [name, viewport] of [
    ['embed-1280', { width: 1280, height: 720 }],
    ['embed-320', PHONE],
  ]) {
    const session = await openEmbed('subtitle=en&start=6', viewport);
    const { page } = session;
    try {
      await page.click('#big-play');
      await until(page, () => document.getElementById('video').currentTime > 8.5, null, { what: 'playback' });
      await page.keyboard.press('k'); // paused: the controls stay on screen
      await until(page, () => document.getElementById('video').buffered.length > 0, null, { what: 'buffered media' });
      const seek = await page.locator('#seek').boundingBox();
      await page.mouse.move(seek.x + seek.width * 0.7, seek.y + seek.height / 2);
      await page.waitForTimeout(400);
      assert.equal(await page.locator('#seek-hover').textContent(), '1:24', 'hover time at 70% of 2:00');
      const file = await saveScreenshot(page, name);
      t.diagnostic(`${name}: ${file}`);
      assert.match(file, /\.png$/, file);
    } finally {
      await session.close();
    }
  }
});

test('the demo home page shows the embed and the snippet to copy', { timeout: TIMEOUT_MS }, async () => {
  const session = await openPage(suite.browser, suite.url('/'));
  const { page } = session;
  try {
    const snippet = await page.locator('#embed-snippet').textContent();
    const origin = new URL(suite.url('/')).origin;
    assert.equal(
      snippet,
      `<iframe title="Shoal video player" width="560" height="315" src="${origin}/videos/embed/vod?api=1" ` +
        'allow="autoplay; fullscreen; picture-in-picture" allowfullscreen ' +
        'sandbox="allow-same-origin allow-scripts allow-popups allow-popups-to-escape-sandbox"></iframe>',
    );
    const frame = await until(page, () => !!document.querySelector('#embed-container iframe'), null, { what: 'the iframe' }).then(() =>
      page.frames().find((f) => f.url().includes('/embed/')),
    );
    assert.ok(frame, 'the embed frame did not load');
    await embedLoaded(frame);
    await frame.locator('#big-play').waitFor({ state: 'visible' });
    assert.equal(await frame.locator('#title').textContent(), 'Shoal sample video');
    // The page's own player still plays next to it.
    await until(page, () => document.getElementById('video').currentTime > 1, null, { what: 'the demo player' });
    assert.equal(await page.evaluate(() => typeof window.shoalPlayer), 'object');
    assert.deepEqual(session.pageErrors, []);
  } finally {
    await session.close();
  }
});
