// Browser end-to-end test of separate audio renditions: the demo's split sample
// (/media/vod-split/: video-only 240p and 480p renditions and one AAC audio-only rendition in
// an #EXT-X-MEDIA:TYPE=AUDIO group) played in headless Chromium. What it reads comes from the
// browser itself: the SourceBuffers are recorded as MediaSource.addSourceBuffer returns them
// (with the MIME type the player passed) and checked to be the MediaSource's own
// `sourceBuffers`; their `buffered` ranges, the element's decoded byte counters (Chromium's
// `webkitAudioDecodedByteCount`) and an AnalyserNode on the element's (unmuted) audio output
// are sampled in the page while it plays.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  describe as show,
  launchBrowser,
  openPlayerPage,
  pageState,
  saveScreenshot,
  startDemo,
  watchPlayback,
} from './harness.mjs';
import { parseMediaPlaylist, rangeStart } from './hls.mjs';

const TEST_TIMEOUT_MS = 240_000;
const SPLIT_MASTER = '/media/vod-split/master.m3u8';
const AUDIO_PLAYLIST = '/media/vod-split/audio.m3u8';
const PLAY_S = 15;
// Seconds of playback during which the forward buffer fills (see the in-step check).
const FILL_S = 2;

let server;

before(async () => {
  server = await startDemo();
});

after(async () => {
  await server?.stop();
});

async function mediaPlaylist(path) {
  const response = await server.get(path);
  assert.equal(response.status, 200, `${path}: HTTP ${response.status}`);
  return parseMediaPlaylist(await response.text(), new URL(path, server.url).href);
}

/**
 * Before any script of the context's pages: remembers every SourceBuffer as
 * `MediaSource.addSourceBuffer` returns it, with the MIME type it was made for, and from then
 * on samples every 200 ms: currentTime, each SourceBuffer's ranges, whether it is `updating`
 * and still one of its MediaSource's `sourceBuffers`, the element's decoded byte counters and,
 * once `startAudioGraph` ran, the RMS level of the element's audio output.
 */
async function recordSourceBuffers(context) {
  await context.addInitScript(() => {
    window.__sourceBuffers = [];
    window.__splitSamples = [];
    const native = MediaSource.prototype.addSourceBuffer;
    MediaSource.prototype.addSourceBuffer = function addSourceBuffer(mime) {
      const sourceBuffer = native.call(this, mime);
      window.__sourceBuffers.push({ mime, sourceBuffer, mediaSource: this });
      return sourceBuffer;
    };
    const ranges = (timeRanges) => {
      const out = [];
      for (let i = 0; i < timeRanges.length; i++) out.push([timeRanges.start(i), timeRanges.end(i)]);
      return out;
    };
    const level = () => {
      const analyser = window.__analyser;
      if (!analyser) return null;
      const data = new Float32Array(analyser.fftSize);
      analyser.getFloatTimeDomainData(data);
      let sum = 0;
      for (const x of data) sum += x * x;
      return Math.sqrt(sum / data.length);
    };
    const sample = () => {
      const video = document.getElementById('video');
      if (!video || window.__sourceBuffers.length === 0) return;
      const tracks = window.__sourceBuffers.map(({ mime, sourceBuffer, mediaSource }) => {
        const list = mediaSource.sourceBuffers;
        const attached = Array.from({ length: list.length }, (_, i) => list[i]).includes(sourceBuffer);
        let buffered = null;
        try {
          buffered = ranges(sourceBuffer.buffered);
        } catch {
          // removed from its MediaSource
        }
        return { mime, attached, updating: sourceBuffer.updating, buffered };
      });
      window.__splitSamples.push({
        t: video.currentTime,
        element: ranges(video.buffered),
        tracks,
        audioDecodedBytes: video.webkitAudioDecodedByteCount,
        videoDecodedBytes: video.webkitVideoDecodedByteCount,
        rms: level(),
      });
    };
    window.__splitSampler = setInterval(sample, 200);
  });
}

/**
 * Routes the element's audio through an AnalyserNode to the speakers, for the sampler's RMS.
 * The demo page starts muted (for autoplay), and a muted element feeds silence to Web Audio:
 * it is unmuted here (the browser runs with no-user-gesture-required autoplay).
 */
async function startAudioGraph(page) {
  return page.evaluate(async () => {
    const video = document.getElementById('video');
    try {
      video.muted = false;
      const context = new AudioContext();
      const source = context.createMediaElementSource(video);
      const analyser = context.createAnalyser();
      analyser.fftSize = 2048;
      source.connect(analyser);
      analyser.connect(context.destination);
      await context.resume();
      window.__analyser = analyser;
      return { state: context.state, error: null };
    } catch (error) {
      return { state: 'none', error: String(error) };
    }
  });
}

/** End of the range of `ranges` holding time `t` (a little slack for priming), or null. */
function endAt(ranges, t) {
  const range = (ranges ?? []).find(([start, end]) => start - 0.25 <= t && t <= end);
  return range ? range[1] : null;
}

test(
  'split audio and video play 15 s without stalls on two SourceBuffers kept in step, and the audio is decoded',
  { timeout: TEST_TIMEOUT_MS },
  async (t) => {
    const audioPlaylist = await mediaPlaylist(AUDIO_PLAYLIST);
    const segmentS = Math.max(...audioPlaylist.segments.map((s) => s.duration));
    await server.control.reset();

    const browser = await launchBrowser();
    let session;
    try {
      await recordSourceBuffers(browser.context);
      session = await openPlayerPage(browser, new URL(`/?src=${SPLIT_MASTER}`, server.url).href);
      const audio = await startAudioGraph(session.page);
      const report = await watchPlayback(session.page, { seconds: PLAY_S });
      const samples = await session.page.evaluate(() => {
        clearInterval(window.__splitSampler);
        return window.__splitSamples;
      });
      const events = await session.page.evaluate(() => window.shoalEvents.map((e) => e.type));

      assert.equal(report.fatalError, null, `fatal error: ${show(report.fatalError)}`);
      assert.ok(report.began, `playback never began (${report.reason}): ${show(report.state)}`);
      assert.ok(report.advanced >= PLAY_S, `advanced only ${report.advanced.toFixed(2)} s: ${show(report)}`);
      assert.deepEqual(report.stalls, [], `stalls: ${show(report.stalls)}`);
      assert.deepEqual(session.pageErrors, [], `page errors: ${session.pageErrors.join('\n')}`);
      assert.ok(!events.includes('error'), `error events: ${show(events)}`);

      // Two SourceBuffers, one video-only and one audio-only, both attached to the
      // MediaSource.
      const last = samples[samples.length - 1];
      const mimes = last.tracks.map((track) => track.mime);
      t.diagnostic(`SourceBuffers: ${JSON.stringify(mimes)}`);
      assert.equal(last.tracks.length, 2, `SourceBuffers: ${show(mimes)}`);
      const video = last.tracks.findIndex((track) => track.mime.startsWith('video/mp4') && !/mp4a/.test(track.mime));
      const audioTrack = last.tracks.findIndex((track) => /^audio\/mp4; codecs="mp4a\.40\.2"$/.test(track.mime));
      assert.ok(video >= 0 && audioTrack >= 0, `expected a video-only and an audio-only SourceBuffer: ${show(mimes)}`);
      assert.ok(last.tracks.every((track) => track.attached), 'a SourceBuffer is not in its MediaSource');

      // Both SourceBuffers' ranges at the playhead advance, and stay within a segment of each
      // other once the forward buffer has filled: the first FILL_S of playback are left out
      // (the local server fills 30 s of buffer in about a second, in a burst where the video's
      // slower downloads and appends trail the audio's by up to two segments), and so are
      // samples taken while a SourceBuffer is appending (they see part of a segment).
      const both = (s) => endAt(s.tracks[video].buffered, s.t) !== null && endAt(s.tracks[audioTrack].buffered, s.t) !== null;
      const ends = samples.filter(both).map((s) => ({
        t: s.t,
        video: endAt(s.tracks[video].buffered, s.t),
        audio: endAt(s.tracks[audioTrack].buffered, s.t),
        element: endAt(s.element, s.t),
        settled: !s.tracks[video].updating && !s.tracks[audioTrack].updating,
      }));
      assert.ok(ends.length >= 40, `only ${ends.length} samples with both tracks buffered at the playhead`);
      const steady = ends.filter((e) => e.t >= ends[0].t + FILL_S);
      const settled = steady.filter((e) => e.settled);
      const filling = ends.filter((e) => e.t < ends[0].t + FILL_S);
      const first = ends[0];
      const final = ends[ends.length - 1];
      const gap = (list) => Math.max(...list.map((e) => Math.abs(e.video - e.audio)));
      t.diagnostic(
        `at t=${first.t.toFixed(2)}: video buffered to ${first.video.toFixed(2)}, audio to ${first.audio.toFixed(2)}; ` +
          `at t=${final.t.toFixed(2)}: video to ${final.video.toFixed(2)}, audio to ${final.audio.toFixed(2)}, ` +
          `element to ${final.element?.toFixed(2)}`,
      );
      t.diagnostic(
        `largest gap between the buffered ends: ${gap(settled).toFixed(3)} s over ${settled.length} samples with both ` +
          `SourceBuffers idle after the first ${FILL_S} s, ${gap(steady).toFixed(3)} s over all ${steady.length} after them, ` +
          `${gap(filling).toFixed(3)} s over the ${filling.length} in them (segment ${segmentS} s)`,
      );
      const gaps = ends.filter((_, i) => i % 5 === 0 || !ends[i].settled);
      t.diagnostic(
        `video minus audio buffered end (* = a SourceBuffer updating): ${gaps.map((e) => `${e.t.toFixed(1)}:${(e.video - e.audio).toFixed(2)}${e.settled ? '' : '*'}`).join(' ')}`,
      );
      t.diagnostic(`final ranges: video ${JSON.stringify(last.tracks[video].buffered)}, audio ${JSON.stringify(last.tracks[audioTrack].buffered)}, element ${JSON.stringify(last.element)}`);
      assert.ok(final.video > first.video && final.audio > first.audio, `buffers did not advance: ${show([first, final])}`);
      assert.ok(final.t > first.t + PLAY_S - 2, `playhead ${first.t} -> ${final.t}`);
      assert.ok(settled.length >= 20, `only ${settled.length} samples with both SourceBuffers idle`);

      // The audio is decoded, and what the element plays out is not silence.
      t.diagnostic(
        `decoded bytes: audio ${last.audioDecodedBytes}, video ${last.videoDecodedBytes}; ` +
          `AudioContext ${audio.state}${audio.error ? ` (${audio.error})` : ''}; ` +
          `largest output RMS ${Math.max(...samples.map((s) => s.rms ?? 0)).toFixed(4)}`,
      );
      assert.equal(typeof last.audioDecodedBytes, 'number', 'webkitAudioDecodedByteCount is not available');
      assert.ok(last.audioDecodedBytes > 0, 'no audio decoded');
      const early = samples.find(both).audioDecodedBytes;
      assert.ok(last.audioDecodedBytes > early, `audio decoding stopped: ${early} -> ${last.audioDecodedBytes}`);
      assert.ok(last.videoDecodedBytes > 0, 'no video decoded');
      assert.equal(audio.state, 'running', `AudioContext: ${show(audio)}`);
      const loud = samples.filter((s) => (s.rms ?? 0) > 0.01).length;
      assert.ok(loud >= 10, `the element's audio output is silent in ${samples.length - loud} of ${samples.length} samples`);

      // The audio rendition came from the origin, in byte ranges, each fetched once.
      const log = await server.control.requests();
      const audioPath = audioPlaylist.map.path;
      const audioRanges = log.filter((r) => r.path === audioPath).map((r) => ({ start: rangeStart(r.range), status: r.status }));
      t.diagnostic(`audio file requests: ${audioRanges.length} (${audioRanges.filter((r) => r.status === 206).length} answered 206)`);
      assert.ok(audioRanges.length >= 4 && audioRanges.every((r) => r.status === 206), show(audioRanges));
      // No byte range of either track was fetched twice (each lane reads its own
      // SourceBuffer's ranges, so the other track lagging is no eviction).
      const media = log.filter((r) => r.path.startsWith('/media/vod-split/') && r.path.endsWith('.mp4'));
      const keys = media.map((r) => `${r.path}@${rangeStart(r.range)}`);
      const twice = keys.filter((k, i) => keys.indexOf(k) !== i);
      t.diagnostic(`media requests: ${media.length}, fetched twice: ${JSON.stringify(twice)}`);
      assert.deepEqual(twice, [], 'byte ranges fetched twice');
      assert.ok(gap(settled) <= segmentS + 0.25, `the tracks' buffers were ${gap(settled).toFixed(3)} s apart: ${show(settled)}`);
      await saveScreenshot(session.page, 'split-audio');
    } catch (err) {
      if (session) {
        const extra = `\n--- player state ---\n${show(await pageState(session.page))}`;
        if (err instanceof Error) err.message += extra;
        await saveScreenshot(session.page, 'split-audio-failure');
      }
      throw err;
    } finally {
      await browser.close();
    }
  },
);
