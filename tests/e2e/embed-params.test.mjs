// The embed's URL parameters: the parsers on their own (Node, no browser), then each
// parameter's effect in the browser (start/stop, autoplay+muted, lazy loading, loop,
// controls/controlBar, subtitle, playbackRate, title, link, colours, P2P notice and panel,
// and what reaches the Player's configuration).

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { isColour, parseEmbedParams, parseTime } from '../../embed/params.js';
import { readMetadata } from '../../embed/metadata.js';
import { embedLoaded, openPage, show, startEmbedSuite, until, videoState } from './embed-helpers.mjs';

const TIMEOUT_MS = 180_000;
const BASE = 'http://embed.test/embed/';

describe('parameter parsing (no browser)', () => {
  test('times: seconds or durations', () => {
    for (const [text, seconds] of [
      ['90', 90],
      ['12.5', 12.5],
      ['1m30s', 90],
      ['1h2m3s', 3723],
      ['45s', 45],
      ['2m', 120],
    ]) {
      assert.equal(parseTime(text), seconds, text);
    }
    for (const bad of ['', '-5', 'abc', '1x', '1m-3s', '1e3', 'Infinity']) assert.equal(parseTime(bad), null, bad);
  });

  test('colours: only colour syntax', () => {
    for (const good of ['red', '#fff', '#12345678', 'rgb(10, 20, 30)', 'rgba(100, 100, 100, 0.5)', 'hsl(120 50% 50% / 0.5)']) {
      assert.ok(isColour(good), good);
    }
    for (const bad of [
      'red;background:url(http://x/)',
      'url(http://x/)',
      'var(--x)',
      'red}body{color:red',
      'rgb(1,2,3);x:y',
      'expression(alert(1))',
      '"red"',
      '',
    ]) {
      assert.ok(!isColour(bad), bad);
    }
  });

  test('defaults are PeerTube\'s', () => {
    const { options, warnings } = parseEmbedParams('', BASE);
    assert.deepEqual(warnings, []);
    assert.equal(options.src, null);
    assert.equal(options.autoplay, false);
    assert.equal(options.muted, false);
    assert.equal(options.loop, false);
    assert.equal(options.controls, true);
    assert.equal(options.controlBar, true);
    assert.equal(options.warningTitle, true);
    assert.equal(options.p2p, true);
    assert.equal(options.api, false);
    assert.equal(options.scope, 'peertube');
    assert.equal(options.showTitle, true);
    assert.equal(options.showLink, true);
    assert.deepEqual(options.playbackRates, [0.5, 0.75, 1, 1.25, 1.5, 2]);
  });

  test('every parameter is read and checked', () => {
    const query = new URLSearchParams({
      src: '/media/vod/master.m3u8',
      integrity: 'https://cdn.test/vod/segments-sha256.json',
      trackers: 'wss://t1.test/announce,ws://t2.test:8000',
      swarmId: 'pt-v2-abc',
      start: '1m',
      stop: '90',
      autoplay: 'true',
      muted: '1',
      loop: 'yes', // PeerTube: only 1 or true turn a toggle on
      controls: '0',
      controlBar: 'false',
      warningTitle: '0',
      p2p: '0',
      api: '1',
      title: ' A talk ',
      peertubeLink: 'https://video.test/w/1',
      subtitle: 'pt-BR',
      playbackRate: '1.1',
      bigPlayBackgroundColor: '#123456',
      foregroundColor: 'rgb(1, 2, 3)',
      scope: 'my-site',
      apiOrigins: 'https://a.test,http://b.test:8080',
    });
    const { options, warnings } = parseEmbedParams(query.toString(), BASE);
    assert.deepEqual(warnings, []);
    assert.equal(options.src, 'http://embed.test/media/vod/master.m3u8');
    assert.equal(options.integrity, 'https://cdn.test/vod/segments-sha256.json');
    assert.deepEqual(options.trackers, ['wss://t1.test/announce', 'ws://t2.test:8000/']);
    assert.equal(options.swarmId, 'pt-v2-abc');
    assert.equal(options.start, 60);
    assert.equal(options.stop, 90);
    assert.deepEqual(
      [options.autoplay, options.muted, options.loop, options.controls, options.controlBar],
      [true, true, false, false, false],
    );
    assert.deepEqual([options.warningTitle, options.p2p, options.api], [false, false, true]);
    assert.equal(options.titleText, 'A talk');
    assert.equal(options.linkUrl, 'https://video.test/w/1');
    assert.equal(options.subtitle, 'pt-BR');
    assert.equal(options.playbackRate, 1.1);
    assert.deepEqual(options.playbackRates, [0.5, 0.75, 1, 1.1, 1.25, 1.5, 2]);
    assert.equal(options.bigPlayBackgroundColor, '#123456');
    assert.equal(options.foregroundColor, 'rgb(1, 2, 3)');
    assert.equal(options.scope, 'my-site');
    assert.deepEqual(options.apiOrigins, ['https://a.test', 'http://b.test:8080']);
    assert.equal(parseEmbedParams('title=0&peertubeLink=0', BASE).options.showTitle, false);
    assert.equal(parseEmbedParams('title=0&peertubeLink=0', BASE).options.showLink, false);
  });

  test('bad values are dropped with a warning', () => {
    const query = new URLSearchParams({
      src: 'javascript:alert(1)',
      integrity: 'data:,{}',
      trackers: 'http://t.test/announce',
      swarmId: '<x>',
      start: 'soon',
      stop: '-1',
      peertubeLink: 'javascript:alert(1)',
      subtitle: '<script>',
      playbackRate: '100',
      bigPlayBackgroundColor: 'red;background:url(http://x/)',
      foregroundColor: 'url(http://x/)',
      scope: 'a::b',
      apiOrigins: 'https://a.test/path',
    });
    const { options, warnings } = parseEmbedParams(query.toString(), BASE);
    const ignored = warnings.map((w) => /^ignored (\w+):/.exec(w)?.[1]).sort();
    assert.deepEqual(
      ignored,
      [
        'apiOrigins',
        'bigPlayBackgroundColor',
        'foregroundColor',
        'integrity',
        'peertubeLink',
        'playbackRate',
        'scope',
        'src',
        'start',
        'stop',
        'subtitle',
        'swarmId',
        'trackers',
      ],
      show(warnings),
    );
    const { options: defaults } = parseEmbedParams('', BASE);
    assert.deepEqual(options, defaults, 'every bad value leaves the default');
    // A stop not after start is dropped too.
    assert.equal(parseEmbedParams('start=30&stop=20', BASE).options.stop, null);
  });

  test('video.json is checked like a parameter', () => {
    const json = {
      name: '  Sample  ',
      captions: [
        { language: 'en', label: 'English', src: 'captions/en.vtt' },
        { language: 'en', label: 'Twice', src: 'x.vtt' },
        { language: 'fr', src: 'javascript:alert(1)' },
        { language: '<b>', label: 'bad', src: 'b.vtt' },
        { language: 'de', src: 'https://cdn.test/de.vtt' },
      ],
    };
    const result = readMetadata(json, 'http://embed.test/media/vod/video.json');
    assert.equal(result.name, 'Sample');
    assert.deepEqual(result.captions, [
      { language: 'en', label: 'English', src: 'http://embed.test/media/vod/captions/en.vtt' },
      { language: 'de', label: 'de', src: 'https://cdn.test/de.vtt' },
    ]);
    assert.equal(result.warnings.length, 3, show(result.warnings));
    assert.deepEqual(readMetadata(null, BASE).captions, []);
  });
});

describe('parameters in the browser', () => {
  let suite;

  before(async () => {
    suite = await startEmbedSuite();
  });

  after(async () => {
    await suite?.close();
  });

  beforeEach(async () => {
    await suite?.server.control.reset();
  });

  /** Opens the PeerTube-style embed URL with `query` and waits for its set-up. */
  async function openEmbed(query) {
    const session = await openPage(suite.browser, suite.url(`/videos/embed/vod?${query}`));
    await embedLoaded(session.page);
    return session;
  }

  const visible = (page, selector) => page.locator(selector).isVisible();

  test('start and stop (seconds or durations) play only that span', { timeout: TIMEOUT_MS }, async () => {
    const session = await openEmbed('start=20s&stop=0m24s&autoplay=1&muted=1');
    const { page } = session;
    try {
      const first = await until(
        page,
        () => {
          const v = document.getElementById('video');
          return !v.paused && v.currentTime > 0 ? v.currentTime : null;
        },
        null,
        { what: 'playback to begin' },
      );
      assert.ok(first >= 20 && first < 21.5, `playback began at ${first}, not at 20 s`);
      await until(page, () => document.getElementById('video').paused, null, { what: 'the pause at stop' });
      const state = await videoState(page);
      assert.ok(state.currentTime >= 24 && state.currentTime < 24.75, `paused at ${state.currentTime}: ${show(state)}`);
      assert.deepEqual(session.pageErrors, []);
    } finally {
      await session.close();
    }
  });

  test('autoplay with muted plays muted; without autoplay nothing downloads', { timeout: TIMEOUT_MS }, async () => {
    const autoplay = await openEmbed('autoplay=1&muted=1');
    try {
      await until(autoplay.page, () => document.getElementById('video').currentTime > 1, null, { what: 'autoplay' });
      const state = await videoState(autoplay.page);
      assert.equal(state.muted, true);
      assert.equal(state.paused, false);
    } finally {
      await autoplay.close();
    }

    await suite.server.control.reset();
    const idle = await openEmbed('');
    try {
      await idle.page.waitForTimeout(3000);
      const state = await videoState(idle.page);
      assert.equal(state.paused, true);
      assert.equal(state.muted, false);
      assert.equal(state.currentTime, 0);
      assert.ok(await visible(idle.page, '#big-play'), 'the big play button should wait for the viewer');
      const media = (await suite.server.control.requests()).filter((r) => /\.(mp4|m3u8)$/.test(r.path));
      assert.deepEqual(media, [], 'an embed that is not played must not download the video');
    } finally {
      await idle.close();
    }
  });

  test('loop starts again at the end', { timeout: TIMEOUT_MS }, async () => {
    const session = await openEmbed('start=115&loop=1&autoplay=1&muted=1');
    try {
      await until(session.page, () => document.getElementById('video').currentTime > 116, null, { what: 'playback near the end' });
      await until(
        session.page,
        () => {
          const v = document.getElementById('video');
          return v.currentTime > 0.5 && v.currentTime < 10 && !v.paused;
        },
        null,
        { what: 'playback again from the start' },
      );
      assert.equal((await videoState(session.page)).ended, false);
    } finally {
      await session.close();
    }
  });

  test('controls=0 removes every control; controlBar=0 only the bar', { timeout: TIMEOUT_MS }, async () => {
    const bare = await openEmbed('controls=0&autoplay=1&muted=1');
    const { page } = bare;
    try {
      await until(page, () => document.getElementById('video').currentTime > 0.5, null, { what: 'autoplay' });
      for (const selector of ['#control-bar', '#big-play', '#title', '#link', '#play']) {
        assert.equal(await visible(page, selector), false, `${selector} visible with controls=0`);
      }
      // No shortcuts and no click-to-pause either: the host page is in charge.
      await page.keyboard.press('k');
      await page.mouse.click(640, 360);
      await page.waitForTimeout(300);
      assert.equal((await videoState(page)).paused, false, 'controls=0 still reacts to the viewer');
    } finally {
      await bare.close();
    }
    const noBar = await openEmbed('controlBar=0');
    try {
      assert.equal(await visible(noBar.page, '#control-bar'), false);
      assert.equal(await visible(noBar.page, '#big-play'), true);
      await noBar.page.click('#big-play');
      await until(noBar.page, () => document.getElementById('video').currentTime > 0.5, null, { what: 'playback' });
    } finally {
      await noBar.close();
    }
  });

  test('subtitle picks the caption track; playbackRate sets the speed', { timeout: TIMEOUT_MS }, async () => {
    const session = await openEmbed('subtitle=fr&playbackRate=1.5&autoplay=1&muted=1');
    const { page } = session;
    try {
      // The embed draws the chosen track's cues itself (the track is `hidden` to the browser).
      const cue = await until(
        page,
        () => (document.getElementById('captions').hidden ? null : document.getElementById('captions-text').textContent),
        null,
        { what: 'a French caption on screen' },
      );
      assert.match(cue, /^Sous-titre français \d+ \(\d+:\d\d-\d+:\d\d\)$/);
      const state = await videoState(page);
      assert.deepEqual(state.tracks, [
        { language: 'en', mode: 'disabled' },
        { language: 'fr', mode: 'hidden' },
      ]);
      assert.equal(state.playbackRate, 1.5, 'loading the source must not reset the rate');
      await page.click('#captions-button');
      const checked = await page.locator('#captions-menu [aria-checked="true"]').textContent();
      assert.equal(checked, 'Français');
    } finally {
      await session.close();
    }
    const missing = await openEmbed('subtitle=de');
    try {
      assert.deepEqual(
        (await videoState(missing.page)).tracks.map((t) => t.mode),
        ['disabled', 'disabled'],
      );
      assert.equal(await missing.page.locator('#captions-menu [aria-checked="true"]').textContent(), 'Off');
    } finally {
      await missing.close();
    }
  });

  test('title, link, colours, P2P notice and panel, and the Player configuration', { timeout: TIMEOUT_MS }, async () => {
    const query = new URLSearchParams({
      title: 'My talk',
      peertubeLink: 'https://video.example/w/1',
      foregroundColor: 'rgb(255, 200, 0)',
      bigPlayBackgroundColor: '#123456',
      trackers: 'ws://127.0.0.1:1/announce',
      swarmId: 'swarm-1',
    });
    const styled = await openEmbed(query.toString());
    const { page } = styled;
    try {
      assert.equal(await page.locator('#title').textContent(), 'My talk');
      assert.equal(await page.locator('#link').getAttribute('href'), 'https://video.example/w/1');
      assert.equal(await page.locator('#link').textContent(), 'Watch on video.example');
      const colours = await page.evaluate(() => ({
        fg: getComputedStyle(document.getElementById('play')).color,
        bigPlay: getComputedStyle(document.getElementById('big-play')).backgroundColor,
      }));
      assert.deepEqual(colours, { fg: 'rgb(255, 200, 0)', bigPlay: 'rgb(18, 52, 86)' });
      assert.ok(await visible(page, '#p2p-notice'), 'the IP address notice shows when P2P is on');

      // The P2P panel: waits for the shim's `stats` events, then shows them.
      await page.click('#p2p-button');
      assert.match(await page.locator('#p2p-state').textContent(), /Waiting/);
      await page.click('#big-play');
      await until(page, () => window.shoalPlayer !== undefined, null, { what: 'the Player' });
      const config = await page.evaluate(() => window.shoalPlayer.options);
      assert.deepEqual(config.p2p, { enabled: true, trackers: ['ws://127.0.0.1:1/announce'], swarmId: 'swarm-1' });
      assert.match(config.integrityUrl, /\/media\/vod\/segments-sha256\.json$/);
      // The panel shows the shim's real `stats` events (about one a second).
      await page.evaluate(() => window.shoalPlayer.on('stats', (detail) => (window.__lastStats = detail)));
      await page.click('#p2p-button'); // the click on big play closed the panel
      const shown = await until(
        page,
        () => {
          const last = window.__lastStats;
          if (!last || last.httpBytes === 0) return null;
          const panel = Object.fromEntries(
            [...document.querySelectorAll('#p2p-stats dt')].map((dt) => [dt.textContent, dt.nextElementSibling.textContent]),
          );
          return { last, panel };
        },
        null,
        { what: 'a stats event with HTTP bytes' },
      );
      assert.deepEqual(Object.keys(shown.panel), ['Peers', 'From peers', 'To peers', 'From the server', 'Banned peers']);
      assert.equal(shown.panel.Peers, String(shown.last.peers));
      assert.equal(shown.last.bansTotal, 0);
      assert.equal(shown.panel['Banned peers'], 'none');
      assert.notEqual(shown.panel['From the server'], '0 B (0 B/s)', `panel ${JSON.stringify(shown)}`);

      // Quality: Auto and every level, all selectable.
      await page.click('#settings-button');
      await until(page, () => document.querySelectorAll('#quality-group .menu-item').length === 4, null, {
        what: 'Auto and three levels in the quality menu',
      });
      const quality = await page.evaluate(() =>
        [...document.querySelectorAll('#quality-group .menu-item')].map((item) => ({
          label: item.textContent,
          disabled: item.getAttribute('aria-disabled'),
          tooltip: item.title,
        })),
      );
      assert.deepEqual(
        quality.map((q) => q.label.replace(/\(\d+p\)/, '(…)')),
        ['Auto (…)', '720p', '480p', '240p'],
      );
      for (const q of quality) assert.equal(q.disabled, null, `${q.label} is disabled`);
    } finally {
      await styled.close();
    }

    const p2pOff = await openEmbed('p2p=0&title=0&peertubeLink=0');
    try {
      const { page } = p2pOff;
      assert.equal(await visible(page, '#p2p-notice'), false, 'no IP notice without P2P');
      assert.equal(await visible(page, '#title'), false);
      assert.equal(await visible(page, '#link'), false);
      await page.click('#p2p-button');
      assert.match(await page.locator('#p2p-state').textContent(), /^P2P off/);
      assert.equal(await visible(page, '#p2p-stats'), false);
    } finally {
      await p2pOff.close();
    }
    const noWarning = await openEmbed('warningTitle=0');
    try {
      assert.equal(await visible(noWarning.page, '#p2p-notice'), false);
      // The name from video.json is the default title.
      assert.equal(await noWarning.page.locator('#title').textContent(), 'Shoal sample video');
    } finally {
      await noWarning.close();
    }
  });
});
