// The embed's JS API driven by the real @peertube/embed-api (its browser bundle, unchanged)
// from a host page on another origin, exactly as a site using PeerTubePlayer would: the
// jschannel handshake, every method, the periodic status and the events; and the
// apiOrigins/scope options that decide which host may talk to the embed.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openPage, show, startEmbedSuite, until, videoState } from './embed-helpers.mjs';

const TIMEOUT_MS = 180_000;
let suite;

before(async () => {
  suite = await startEmbedSuite();
});

after(async () => {
  await suite?.close();
});

/** The host fixture on 127.0.0.1 with the embed on localhost (another origin). */
function hostUrl(embedQuery, hostQuery = '') {
  const embed = suite.otherOriginUrl(`/videos/embed/vod?${embedQuery}`);
  return suite.url(`/fixtures/embed-host.html?embed=${encodeURIComponent(embed)}${hostQuery}`);
}

/** Resolves whether the PeerTubePlayer's `ready` resolved within `ms`. */
function readyWithin(page, ms) {
  return page.evaluate((ms) => Promise.race([window.ptReady, new Promise((r) => setTimeout(() => r(false), ms))]), ms);
}

const embedFrame = (page) => page.frames().find((f) => f.url().includes('/embed/'));

/** Calls `ptPlayer[method](...args)` in the host page; resolves to {value} or {error}. */
function call(page, method, ...args) {
  return page.evaluate(
    ([method, args]) =>
      window.ptPlayer[method](...args).then(
        (value) => ({ value }),
        (error) => ({ error: String(error) }),
      ),
    [method, args],
  );
}

async function value(page, method, ...args) {
  const result = await call(page, method, ...args);
  assert.ok(!('error' in result), `${method}(${args}) failed: ${result.error}`);
  return result.value;
}

const events = (page, name) => page.evaluate((name) => window.apiEvents.filter((e) => e.name === name), name);

test('a host page drives the embed through the real @peertube/embed-api', { timeout: TIMEOUT_MS }, async (t) => {
  const session = await openPage(suite.browser, hostUrl('api=1'));
  const { page } = session;
  try {
    assert.equal(await readyWithin(page, 30_000), true, 'PeerTubePlayer.ready never resolved');
    const frame = embedFrame(page);
    assert.ok(frame, 'no embed frame');

    // Before playback: captions, rates, volume, state.
    const captions = await value(page, 'getCaptions');
    assert.deepEqual(
      captions.map((c) => [c.id, c.label, c.mode]),
      [
        ['en', 'English', 'disabled'],
        ['fr', 'Français', 'disabled'],
      ],
      show(captions),
    );
    assert.match(captions[0].src, /\/media\/vod\/captions\/en\.vtt$/);
    assert.deepEqual(await value(page, 'getPlaybackRates'), [0.5, 0.75, 1, 1.25, 1.5, 2]);
    assert.equal(await value(page, 'getPlaybackRate'), 1);
    assert.equal(await value(page, 'isPlaying'), false);
    assert.equal(await value(page, 'getCurrentTime'), 0);
    assert.equal(await value(page, 'getVolume'), 1);

    await value(page, 'setVolume', 0.4);
    assert.equal(await value(page, 'getVolume'), 0.4);
    const volume = await until(page, () => window.apiEvents.findLast((e) => e.name === 'volumeChange')?.params, null, {
      what: 'a volumeChange event',
    });
    assert.equal(volume, 0.4);
    const badVolume = await call(page, 'setVolume', 2);
    assert.ok('error' in badVolume, `setVolume(2) should be refused: ${show(badVolume)}`);

    // Play: events, state, resolutions.
    await value(page, 'play');
    await until(page, () => window.apiEvents.some((e) => e.name === 'play'), null, { what: 'a play event' });
    await until(page, () => window.apiEvents.some((e) => e.name === 'playbackStatusChange' && e.params === 'playing'), null, {
      what: 'playbackStatusChange playing',
    });
    assert.equal(await value(page, 'isPlaying'), true);
    await until(page, () => window.apiEvents.some((e) => e.name === 'resolutionUpdate' && e.params.length > 1), null, {
      what: 'a resolutionUpdate with the levels',
    });
    const resolutions = await value(page, 'getResolutions');
    assert.deepEqual(
      resolutions.map((r) => [r.id, r.height]).sort((a, b) => a[0] - b[0]),
      [
        [-1, 0],
        [0, 240],
        [1, 480],
        [2, 720],
      ],
      show(resolutions),
    );
    for (const r of resolutions) {
      assert.equal(typeof r.label, 'string');
      assert.equal(typeof r.active, 'boolean');
    }
    assert.ok(resolutions.find((r) => r.id === -1).active, 'Auto should be the active choice');
    assert.match(resolutions.find((r) => r.id === -1).label, /^Auto \(\d+p\)$/);
    const lastUpdate = (await events(page, 'resolutionUpdate')).at(-1).params;
    assert.deepEqual(lastUpdate, resolutions, 'resolutionUpdate carries what getResolutions answers');

    // setResolution: a level picks what the picture shows within a segment or two; -1 is Auto.
    const badResolution = await call(page, 'setResolution', 9);
    assert.ok('error' in badResolution, `setResolution(9) should be refused: ${show(badResolution)}`);
    await value(page, 'setResolution', 0);
    await until(frame, () => document.getElementById('video').videoHeight === 240, null, {
      what: 'the 240p picture after setResolution(0)',
    });
    const picked = await value(page, 'getResolutions');
    assert.deepEqual(
      picked.filter((r) => r.active).map((r) => r.id),
      [0],
      `only the picked level is active: ${show(picked)}`,
    );
    await until(
      page,
      () => window.apiEvents.filter((e) => e.name === 'resolutionUpdate').at(-1).params.find((r) => r.id === 0).active,
      null,
      { what: 'a resolutionUpdate with 240p active' },
    );
    assert.equal((await videoState(frame)).paused, false, 'playback stopped at the switch');
    await value(page, 'setResolution', -1);
    const auto = await value(page, 'getResolutions');
    assert.deepEqual(
      auto.filter((r) => r.active).map((r) => r.id),
      [-1],
      show(auto),
    );

    // playbackStatusUpdate every 500 ms while playing, with PeerTube's fields.
    await page.waitForTimeout(3200);
    const updates = (await events(page, 'playbackStatusUpdate')).slice(-6);
    assert.equal(updates.length, 6, show(updates));
    const gaps = updates.slice(1).map((u, i) => u.at - updates[i].at);
    t.diagnostic(`playbackStatusUpdate gaps (ms): ${gaps.map((g) => g.toFixed(0)).join(', ')}`);
    const meanGap = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    assert.ok(meanGap > 430 && meanGap < 570, `mean gap ${meanGap} ms: ${show(gaps)}`);
    for (const { params } of updates) {
      assert.deepEqual(Object.keys(params).sort(), ['duration', 'playbackState', 'position', 'volume']);
      assert.equal(params.playbackState, 'playing');
      assert.equal(params.volume, 0.4);
      assert.ok(Math.abs(params.duration - 120) < 1, `duration ${params.duration}`);
    }
    assert.ok(updates.at(-1).params.position > updates[0].params.position, `position does not advance: ${show(updates)}`);

    // Seek, then the current time and the status follow.
    await value(page, 'seek', 60);
    await until(page, () => window.ptPlayer.getCurrentTime().then((t) => t >= 60.5 && t < 70), null, {
      what: 'playback past 60.5 s after seek(60)',
    });
    await until(
      page,
      () => window.apiEvents.filter((e) => e.name === 'playbackStatusUpdate').at(-1).params.position >= 60,
      null,
      { what: 'a status update past 60 s' },
    );

    // Playback rate.
    await value(page, 'setPlaybackRate', 1.5);
    assert.equal(await value(page, 'getPlaybackRate'), 1.5);
    assert.equal((await videoState(frame)).playbackRate, 1.5);
    await value(page, 'setPlaybackRate', 1);

    // Captions: setCaption shows one track; any other id hides them all (PeerTube's rule).
    await value(page, 'setCaption', 'fr');
    assert.deepEqual(
      (await value(page, 'getCaptions')).map((c) => c.mode),
      ['disabled', 'showing'],
    );
    const cue = await until(
      frame,
      () => {
        const track = [...document.getElementById('video').textTracks].find((t) => t.language === 'fr');
        return track.activeCues?.[0]?.text ?? null;
      },
      null,
      { what: 'an active French cue' },
    );
    assert.match(cue, /^Sous-titre français \d+ /);
    await value(page, 'setCaption', 'none');
    assert.deepEqual(
      (await value(page, 'getCaptions')).map((c) => c.mode),
      ['disabled', 'disabled'],
    );

    // Pause.
    await value(page, 'pause');
    await until(page, () => window.apiEvents.some((e) => e.name === 'pause'), null, { what: 'a pause event' });
    assert.equal(await value(page, 'isPlaying'), false);
    const changes = (await events(page, 'playbackStatusChange')).map((e) => e.params);
    assert.deepEqual(changes.slice(-1), ['paused'], show(changes));
    await until(
      page,
      () => window.apiEvents.filter((e) => e.name === 'playbackStatusUpdate').at(-1).params.playbackState === 'paused',
      null,
      { what: 'a paused status update' },
    );
    assert.deepEqual(session.pageErrors, [], show(session.pageErrors));
  } finally {
    await session.close();
  }
});

test('apiOrigins admits only the listed host origins', { timeout: TIMEOUT_MS }, async () => {
  const hostOrigin = new URL(suite.url('/')).origin;
  const refused = await openPage(suite.browser, hostUrl(`api=1&apiOrigins=${encodeURIComponent('https://example.org')}`));
  try {
    assert.equal(await readyWithin(refused.page, 5000), false, 'a host not in apiOrigins completed the handshake');
  } finally {
    await refused.close();
  }
  const admitted = await openPage(
    suite.browser,
    hostUrl(`api=1&apiOrigins=${encodeURIComponent(`https://example.org,${hostOrigin}`)}`),
  );
  try {
    assert.equal(await readyWithin(admitted.page, 30_000), true, `host ${hostOrigin} listed but not admitted`);
    assert.equal(await value(admitted.page, 'getVolume'), 1);
  } finally {
    await admitted.close();
  }
});

test('the API is off without api=1 and answers only its own scope', { timeout: TIMEOUT_MS }, async () => {
  for (const [embedQuery, hostQuery, expected] of [
    ['', '', false],
    ['api=1&scope=site-a', '&scope=site-b', false],
    ['api=1&scope=site-a', '&scope=site-a', true],
  ]) {
    const session = await openPage(suite.browser, hostUrl(embedQuery, hostQuery));
    try {
      const ready = await readyWithin(session.page, expected ? 30_000 : 5000);
      assert.equal(ready, expected, `embed ?${embedQuery}, host ${hostQuery || '(default scope)'}`);
    } finally {
      await session.close();
    }
  }
});
