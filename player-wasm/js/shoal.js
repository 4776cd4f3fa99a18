// Shoal's JS shim: carries out the Rust core's orders in the browser (fetch, Media Source
// Extensions, timers) and reports facts back. It decides no policy: what to fetch, when to
// retry, what to append or evict is all decided in the core (player-core, via shoal_wasm).

import initWasm, { WasmPlayer, coreVersion, sha256 as wasmSha256 } from './shoal_wasm.js';
import { PeerTransport } from './peers.js';

let wasmReady = null;

/** Loads the wasm module once per page. */
function loadWasm() {
  wasmReady ??= initWasm();
  return wasmReady;
}

/** A 64-bit seed for the core's PRNG, as two 32-bit halves. */
function randomSeed() {
  const halves = new Uint32Array(2);
  crypto.getRandomValues(halves);
  return halves;
}

function bufferedRanges(timeRanges) {
  const ranges = [];
  for (let i = 0; i < timeRanges.length; i++) {
    ranges.push({ startS: timeRanges.start(i), endS: timeRanges.end(i) });
  }
  return ranges;
}

/**
 * Runs operations on one SourceBuffer strictly one after another: a SourceBuffer rejects a
 * new append or remove while it is `updating`.
 */
class SourceBufferQueue {
  constructor(sourceBuffer) {
    this.sourceBuffer = sourceBuffer;
    this.operations = [];
    this.running = false;
    // An operation failed other than for lack of space: MSE ended the MediaSource with a
    // decode error, and the next operations would only fail too until the core re-creates it.
    this.dead = false;
  }

  /** `start()` begins an operation on the buffer, or throws; `settled(error)` follows updateend. */
  push(operation) {
    this.operations.push(operation);
    this.runNext();
  }

  get idle() {
    return !this.running && this.operations.length === 0 && !this.sourceBuffer.updating;
  }

  runNext() {
    if (this.running || this.dead) return;
    const operation = this.operations.shift();
    if (!operation) return;
    this.running = true;
    const finish = (error) => {
      this.sourceBuffer.removeEventListener('updateend', onEnd);
      this.sourceBuffer.removeEventListener('error', onError);
      this.running = false;
      if (error && error.name !== 'QuotaExceededError') this.dead = true;
      operation.settled(error);
      this.runNext();
    };
    const onEnd = () => finish(null);
    const onError = () => finish(new Error('SourceBuffer error event (media could not be decoded)'));
    this.sourceBuffer.addEventListener('updateend', onEnd);
    this.sourceBuffer.addEventListener('error', onError);
    try {
      const started = operation.start();
      if (started === false) finish(null);
    } catch (error) {
      finish(error);
    }
  }

  clear() {
    this.operations = [];
  }
}

/**
 * A Shoal player bound to a `<video>` element.
 *
 * Events (listen with `player.on(type, fn)` or `addEventListener`): `levels`, `levelswitching`
 * (`{level, auto}`: a switch starts), `levelselected` (`{level}`: segments now come from it),
 * `levelswitched` (`{level}`: the picture now shows it),
 * `segmentloaded` (`{level, segment, bytes, source: 'http'|'peer'|'peer-then-http'|'mirror'}`),
 * `stats` (`{httpBytes, httpBps, mirrorBytes, p2pDownBytes, p2pDownBps, p2pUpBytes, p2pUpBps,
 * peers, bans, bansTotal}`, about once a second; `httpBytes` counts the origin and the mirrors,
 * `mirrorBytes` the mirrors' part; `bans` lists the peers banned this session, the first 16, as
 * `{peer, kind, reason}`: `peer` is the end of its peer id in hex, never an address, `kind` a
 * stable code such as `integrity` or `too-many-bytes`; `describeBans` words them),
 * `peerconnected`, `peerdropped` (`{reason, peers}`), `integrityfailure`
 * (`{level, segment, source, check: 'sha256'|'decode'}`: bytes from a peer or a mirror were
 * refused, the peer banned or the mirror dropped, and the segment fetched from the origin),
 * `mirrordropped` (`{url, reason}`: that mirror is not used again until the next load),
 * `mediarecovered` (`{reason: 'peer-segment'|'append-error'|'decode-error', message}`: the media
 * element failed and was re-created; playback goes on from the same position), `error`
 * (`detail: {code, message, fatal}`; `integrity-file` errors are never fatal), `ended`.
 *
 * `options.integrityUrl` names PeerTube's `segments-sha256.json` for the stream: segments from
 * peers and mirrors are then checked against it before they are played or shared
 * (`p2p.requireIntegrity` keeps P2P off without one).
 *
 * `options.mirrors` lists base URLs of servers that mirror the folder of the loaded playlist
 * (PeerTube's redundancy servers): media segment requests are spread over the origin and them.
 * They are used only with a loadable `integrityUrl`, and one that fails is dropped.
 *
 * P2P options (under `options.p2p`, see player-core's `P2pConfig`): `enabled`, `trackers`,
 * `swarmId`, `maxPeers`, `upload`, ...; `options.iceServers` is handed to RTCPeerConnection
 * (none by default: peers on the same network or with public addresses connect without).
 */
/**
 * The bans of a `stats` event in a few words for a status display: `none`, or their count and
 * each listed one as `peer kind`.
 */
export function describeBans({ bans = [], bansTotal = 0 }) {
  if (bansTotal === 0) return 'none';
  return `${bansTotal}: ${bans.map((ban) => `${ban.peer} ${ban.kind}`).join(', ')}`;
}

export class Player extends EventTarget {
  /**
   * @param {HTMLMediaElement} video
   * @param {object} [options] core configuration (camelCase fields of player-core's Config),
   *   plus `iceServers` for WebRTC
   */
  constructor(video, options = {}) {
    super();
    this.video = video;
    const { iceServers, iceGatheringTimeoutMs, ...coreOptions } = options;
    this.options = coreOptions;
    this.transport = new PeerTransport((fact) => this.input(fact), { iceServers, iceGatheringTimeoutMs });
    this.onPageHide = () => this.leaveSwarmNow();
    addEventListener('pagehide', this.onPageHide);
    this.core = null;
    this.pendingInputs = [];
    this.flushScheduled = false;
    this.timer = null;
    this.downloads = new Map(); // request id -> AbortController
    this.bodies = new Map(); // request id -> Uint8Array waiting to be appended
    this.queues = new Map(); // track id -> SourceBufferQueue
    this.mediaSource = null;
    this.objectUrl = null;
    this.destroyed = false;
    this.mediaListeners = [];
    this.manualLevel = null;
    this.resizeObserver = null;
  }

  /** Version of the Rust core in use. */
  static async coreVersion() {
    await loadWasm();
    return coreVersion();
  }

  on(type, listener) {
    const wrapped = (event) => listener(event.detail);
    this.addEventListener(type, wrapped);
    return () => this.removeEventListener(type, wrapped);
  }

  /** Starts playing the HLS playlist at `url` (multivariant or media playlist). */
  async load(url) {
    await loadWasm();
    if (this.destroyed) return;
    this.teardownMedia();
    if (!this.core) {
      const [high, low] = randomSeed();
      this.core = new WasmPlayer(this.options, high, low, performance.now());
      const connection = navigator.connection;
      if (connection) {
        const cellular = connection.type === 'cellular';
        this.input({ type: 'network', saveData: Boolean(connection.saveData), cellular });
      }
    }
    this.attachMedia();
    const absolute = new URL(url, document.baseURI).href;
    this.manualLevel = null;
    this.input({ type: 'load', url: absolute });
    this.reportPlayerSize();
  }

  /** Moves the playhead; the core sees the seek through the media element's state. */
  seek(seconds) {
    this.video.currentTime = seconds;
  }

  /**
   * Picks a quality level (index into the `levels` event's list), or automatic choice with
   * `-1` or `null`. A picked level replaces the buffered media after the current segment at
   * once; with `{smooth: true}` what is buffered plays out first.
   */
  setLevel(level, { smooth = false } = {}) {
    const auto = level === null || level === undefined || level < 0;
    this.manualLevel = auto ? null : level;
    this.input({ type: 'setLevel', level: auto ? null : level, smooth: Boolean(smooth) });
  }

  /** Whether the level is chosen automatically (no `setLevel` pick in force). */
  get autoLevel() {
    return this.manualLevel === null;
  }

  /** Turns sharing with peers on or off (the viewer's switch). */
  setP2p(enabled) {
    this.input({ type: 'setP2p', enabled: Boolean(enabled) });
  }

  /** Sends the tracker `stopped` announces right now (the page is going away). */
  leaveSwarmNow() {
    if (!this.core || this.destroyed) return;
    this.pendingInputs.push({ type: 'unload' });
    this.flush();
  }

  destroy() {
    this.leaveSwarmNow();
    this.destroyed = true;
    removeEventListener('pagehide', this.onPageHide);
    this.resizeObserver?.disconnect();
    clearTimeout(this.timer);
    this.transport.destroy();
    this.teardownMedia();
    this.core?.free();
    this.core = null;
  }

  attachMedia() {
    this.attachMediaSource();
    // Every change the core may care about triggers a step; the step itself carries a fresh
    // snapshot of the element, so the event types need no payload.
    for (const type of ['timeupdate', 'seeking', 'seeked', 'waiting', 'playing', 'pause', 'play', 'progress', 'ended']) {
      const listener = () => this.wake();
      this.video.addEventListener(type, listener);
      this.mediaListeners.push([type, listener]);
    }
    const endedListener = () => this.emit('ended', {});
    this.video.addEventListener('ended', endedListener);
    this.mediaListeners.push(['ended', endedListener]);
    const errorListener = () => this.reportMediaError();
    this.video.addEventListener('error', errorListener);
    this.mediaListeners.push(['error', errorListener]);
    if (typeof ResizeObserver === 'function' && !this.resizeObserver) {
      this.resizeObserver = new ResizeObserver(() => this.reportPlayerSize());
      this.resizeObserver.observe(this.video);
    }
  }

  /** A new MediaSource on the element; its `sourceopen` is reported to the core. */
  attachMediaSource() {
    const mediaSource = new MediaSource();
    this.mediaSource = mediaSource;
    this.objectUrl = URL.createObjectURL(mediaSource);
    const onOpen = () => {
      // A MediaSource replaced before it opened is no news.
      if (this.mediaSource === mediaSource) this.input({ type: 'mediaSourceOpen' });
    };
    mediaSource.addEventListener('sourceopen', onOpen, { once: true });
    this.video.src = this.objectUrl;
  }

  /**
   * Forgets the MediaSource: its SourceBuffers go with it, and appends and evictions not yet
   * done are dropped unreported (the core ordered the re-creation and expects no news of them).
   */
  detachMediaSource() {
    for (const queue of this.queues.values()) queue.clear();
    this.queues.clear();
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
    this.mediaSource = null;
    this.objectUrl = null;
  }

  /**
   * The core's `recreateMedia`: an append or decode error killed the element (MSE ends the
   * MediaSource with a decode error). A new MediaSource replaces the old one; the position,
   * paused state and rate are kept (loading a new source resets them), and the core creates
   * the SourceBuffers again once it hears `mediaSourceOpen`.
   */
  recreateMedia() {
    const { currentTime, paused, playbackRate } = this.video;
    this.detachMediaSource();
    this.attachMediaSource();
    this.video.playbackRate = playbackRate;
    // Before the new source has metadata this is the default playback start position.
    this.video.currentTime = currentTime;
    if (!paused) {
      // A rejection (autoplay policy, or a later pause) leaves the element paused, as the
      // viewer would find it after any load.
      this.video.play().catch(() => {});
    }
  }

  /** The element failed on its own (e.g. a decoder error on media it had accepted). */
  reportMediaError() {
    const error = this.video.error;
    // After a re-creation the new source has no error: the event belonged to the old one.
    if (!error || !this.mediaSource || error.code === MediaError.MEDIA_ERR_ABORTED) return;
    const message = `media element error ${error.code}${error.message ? `: ${error.message}` : ''}`;
    this.input({ type: 'mediaError', message });
  }

  /** The element's size in device pixels, for the core's `capLevelToPlayerSize`. */
  reportPlayerSize() {
    const ratio = globalThis.devicePixelRatio || 1;
    const widthPx = Math.round(this.video.clientWidth * ratio);
    const heightPx = Math.round(this.video.clientHeight * ratio);
    if (widthPx === this.reportedWidth && heightPx === this.reportedHeight) return;
    this.reportedWidth = widthPx;
    this.reportedHeight = heightPx;
    this.input({ type: 'playerSize', widthPx, heightPx });
  }

  teardownMedia() {
    for (const controller of this.downloads.values()) controller.abort();
    this.downloads.clear();
    this.bodies.clear();
    for (const [type, listener] of this.mediaListeners) this.video.removeEventListener(type, listener);
    this.mediaListeners = [];
    if (this.objectUrl) {
      this.video.removeAttribute('src');
      this.video.load();
    }
    this.detachMediaSource();
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** Queues a fact for the core; all facts of one task go in one step. */
  input(fact) {
    this.pendingInputs.push(fact);
    this.wake();
  }

  wake() {
    if (this.flushScheduled || this.destroyed || !this.core) return;
    this.flushScheduled = true;
    queueMicrotask(() => this.flush());
  }

  snapshot() {
    const video = this.video;
    return {
      type: 'media',
      positionS: video.currentTime,
      buffered: bufferedRanges(video.buffered),
      paused: video.paused,
      seeking: video.seeking,
      ended: video.ended,
      playbackRate: video.playbackRate,
      tracks: this.trackRanges(),
    };
  }

  /**
   * Each SourceBuffer's own buffered ranges: with separate audio the element's `buffered` is
   * their intersection, which ends where the lagging track ends.
   */
  trackRanges() {
    const tracks = [];
    for (const [track, queue] of this.queues) {
      try {
        tracks.push({ track, buffered: bufferedRanges(queue.sourceBuffer.buffered) });
      } catch {
        // The SourceBuffer left its MediaSource (closed): it holds nothing any more.
      }
    }
    return tracks;
  }

  flush() {
    this.flushScheduled = false;
    if (this.destroyed || !this.core) return;
    const inputs = this.pendingInputs;
    this.pendingInputs = [];
    inputs.push(this.snapshot());
    let result;
    try {
      result = this.core.step(performance.now(), inputs);
    } catch (error) {
      // Only a bug can get here (inputs are built by this file): report it, don't throw.
      this.emit('error', { code: 'internal', message: String(error?.message ?? error), fatal: true });
      return;
    }
    for (const order of result.orders) this.carryOut(order);
    clearTimeout(this.timer);
    if (result.timeoutMs !== null && result.timeoutMs !== undefined) {
      const delay = Math.max(0, result.timeoutMs - performance.now());
      this.timer = setTimeout(() => this.input({ type: 'timer' }), delay);
    }
  }

  carryOut(order) {
    switch (order.type) {
      case 'fetch':
        return this.fetch(order);
      case 'cancelFetch':
        this.downloads.get(order.request)?.abort();
        this.downloads.delete(order.request);
        this.bodies.delete(order.request);
        return;
      case 'releaseBody':
        this.bodies.delete(order.request);
        return;
      case 'createSourceBuffers':
        return this.createSourceBuffers(order.tracks);
      case 'setDuration':
        return this.setDuration(order.durationS);
      case 'append':
        return this.append(order.track, order.request, order.keep, order.timestampOffsetS);
      case 'storeBytes':
        this.bodies.set(order.request, order.bytes);
        return;
      case 'hashBody':
        return this.hashBody(order.request);
      case 'trackerConnect':
        return this.transport.connectTracker(order.tracker, order.url);
      case 'trackerSend':
        return this.transport.sendTracker(order.tracker, order.text);
      case 'trackerClose':
        return this.transport.closeTracker(order.tracker);
      case 'createOffer':
        return this.transport.createOffer(order.connection);
      case 'acceptOffer':
        return this.transport.acceptOffer(order.connection, order.sdp);
      case 'applyAnswer':
        return this.transport.applyAnswer(order.connection, order.sdp);
      case 'closePeer':
        return this.transport.close(order.connection);
      case 'peerSend':
        return this.transport.send(order.connection, order.messages);
      case 'uploadSegment':
        return this.transport.upload(
          order.connection,
          this.bodies.get(order.body),
          order.fromByte,
          order.chunkBytes,
          order.header,
          order.footer,
        );
      case 'stopUpload':
        return this.transport.stopUpload(order.connection);
      case 'changeType':
        return this.changeType(order.track, order.mime);
      case 'evict':
        return this.evict(order.track, order.startS, order.endS);
      case 'seekMedia':
        this.video.currentTime = order.positionS;
        return;
      case 'endOfStream':
        return this.endOfStream();
      case 'recreateMedia':
        return this.recreateMedia();
      case 'event':
        return this.forwardEvent(order);
      default:
        console.warn('shoal: unknown order', order.type);
    }
  }

  forwardEvent(event) {
    switch (event.event) {
      case 'error':
        return this.emit('error', { code: event.kind, message: event.message, fatal: event.fatal });
      case 'levels':
        return this.emit('levels', { levels: event.levels });
      case 'levelSelected':
        return this.emit('levelselected', { level: event.level });
      case 'levelSwitching':
        return this.emit('levelswitching', { level: event.level, auto: event.auto });
      case 'levelSwitched':
        return this.emit('levelswitched', { level: event.level });
      case 'segmentLoaded':
        return this.emit('segmentloaded', {
          level: event.level,
          segment: event.segment,
          bytes: event.bytes,
          source: event.source,
        });
      case 'stats': {
        const { event: _tag, ...stats } = event;
        return this.emit('stats', stats);
      }
      case 'mediaRecovered':
        return this.emit('mediarecovered', { reason: event.reason, message: event.message });
      case 'integrityFailure':
        return this.emit('integrityfailure', {
          level: event.level,
          segment: event.segment,
          source: event.source,
          check: event.check,
        });
      case 'mirrorDropped':
        return this.emit('mirrordropped', { url: event.url, reason: event.reason });
      default:
        return this.emit(event.event.toLowerCase(), event);
    }
  }

  async fetch({ request, url, range, wantText, appendToStored }) {
    const controller = new AbortController();
    this.downloads.set(request, controller);
    const headers = {};
    if (range) headers.Range = `bytes=${range.offset}-${range.offset + range.length - 1}`;
    try {
      const response = await fetch(url, { headers, signal: controller.signal, cache: 'no-store' });
      if (!response.ok) {
        this.downloads.delete(request);
        controller.abort();
        this.input({ type: 'httpFailed', request, status: response.status, message: `HTTP ${response.status} for ${url}` });
        return;
      }
      // The first byte of a 206's Content-Range, when readable (cross-origin servers must
      // expose the header): the core checks it is the one asked for.
      const contentRange = /^bytes (\d+)-/.exec(response.headers.get('content-range') ?? '');
      const rangeStart = contentRange ? Number(contentRange[1]) : null;
      this.input({ type: 'httpResponse', request, status: response.status, rangeStart });
      const chunks = [];
      let loadedBytes = 0;
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        loadedBytes += value.byteLength;
        this.input({ type: 'httpProgress', request, loadedBytes });
      }
      if (controller.signal.aborted) return;
      this.downloads.delete(request);
      // A resumed segment continues the bytes a peer delivered before it was dropped.
      const prefix = appendToStored ? this.bodies.get(request) : null;
      if (prefix) chunks.unshift(prefix);
      const body = concat(chunks, loadedBytes + (prefix?.byteLength ?? 0));
      if (wantText) {
        this.input({ type: 'httpDone', request, loadedBytes, text: new TextDecoder().decode(body) });
      } else {
        this.bodies.set(request, body);
        this.input({ type: 'httpDone', request, loadedBytes });
      }
    } catch (error) {
      if (controller.signal.aborted) return; // cancelled by the core: nothing to report
      this.downloads.delete(request);
      this.input({ type: 'httpFailed', request, status: null, message: `network error for ${url}: ${error.message}` });
    }
  }

  /**
   * The SHA-256 digest of a stored body, for the core's integrity check. WebCrypto hashes a
   * 2 MiB segment in about 2.5 ms, SHA-256 in our wasm build in 11-15 ms
   * (tests/bench/sha256.mjs), so the browser does it; the core's own is the fallback where
   * WebCrypto is missing (pages not served from a secure context). `digest()` copies the
   * bytes when called, so the core may release the body meanwhile. An empty digest tells the
   * core there was no such body.
   */
  async hashBody(request) {
    const body = this.bodies.get(request);
    let sha256 = new Uint8Array(0);
    if (body) {
      try {
        sha256 = globalThis.crypto?.subtle
          ? new Uint8Array(await crypto.subtle.digest('SHA-256', body))
          : wasmSha256(body);
      } catch {
        sha256 = new Uint8Array(0);
      }
    }
    this.input({ type: 'bodyHashed', request, sha256 });
  }

  /** One SourceBuffer per track (the video, and a separate audio rendition's), all at once. */
  createSourceBuffers(tracks) {
    const unsupported = tracks.find(({ mime }) => !MediaSource.isTypeSupported(mime));
    if (unsupported) {
      this.emit('error', { code: 'unsupported', message: `this browser cannot play ${unsupported.mime}`, fatal: true });
      return;
    }
    for (const { track, mime, sequenceMode } of tracks) {
      const sourceBuffer = this.mediaSource.addSourceBuffer(mime);
      // Sequence mode: segments land at the timestampOffset each append sets (live streams).
      if (sequenceMode) sourceBuffer.mode = 'sequence';
      this.queues.set(track, new SourceBufferQueue(sourceBuffer));
    }
  }

  setDuration(durationS) {
    const [queue] = this.queues.values();
    queue?.push({
      start: () => {
        // null: an open-ended (live) stream.
        if (this.mediaSource?.readyState === 'open') this.mediaSource.duration = durationS ?? Infinity;
        return false; // no updateend follows a duration change
      },
      settled: () => {},
    });
  }

  append(track, request, keep, timestampOffsetS) {
    const queue = this.queues.get(track);
    if (!queue) return;
    queue.push({
      start: () => {
        const body = this.bodies.get(request);
        if (!body) throw new Error(`no stored bytes for request ${request}`);
        if (timestampOffsetS !== null && timestampOffsetS !== undefined) {
          queue.sourceBuffer.timestampOffset = timestampOffsetS;
        }
        queue.sourceBuffer.appendBuffer(body);
      },
      settled: (error) => {
        // The MediaSource was replaced meanwhile: the core no longer waits for this append.
        if (this.queues.get(track) !== queue) return;
        if (!error) {
          // A kept body serves peers until the core releases it.
          if (!keep) this.bodies.delete(request);
          this.input({ type: 'appendDone', request });
          return;
        }
        const quotaExceeded = error.name === 'QuotaExceededError';
        if (!quotaExceeded) this.bodies.delete(request);
        this.input({ type: 'appendFailed', request, quotaExceeded, message: String(error.message ?? error) });
      },
    });
  }

  /** The next appends carry another codec (a level switch between codecs). */
  changeType(track, mime) {
    const queue = this.queues.get(track);
    queue?.push({
      start: () => {
        if (typeof queue.sourceBuffer.changeType === 'function') queue.sourceBuffer.changeType(mime);
        return false; // changeType() is synchronous: no updateend follows
      },
      settled: () => {},
    });
  }

  evict(track, startS, endS) {
    const queue = this.queues.get(track);
    queue?.push({
      start: () => queue.sourceBuffer.remove(startS, endS),
      settled: () => {
        if (this.queues.get(track) === queue) this.input({ type: 'evictDone', track });
      },
    });
  }

  /** `endOfStream()` once every SourceBuffer's queue has run out (it throws while one updates). */
  endOfStream() {
    const queues = [...this.queues.values()];
    const mediaSource = this.mediaSource;
    const tryEnd = () => {
      // A re-created MediaSource gets its own order when its media is complete.
      if (this.mediaSource !== mediaSource || mediaSource?.readyState !== 'open') return;
      if (queues.every((q) => q.idle)) mediaSource.endOfStream();
      else setTimeout(tryEnd, 50);
    };
    tryEnd();
  }
}

function concat(chunks, length) {
  if (chunks.length === 1) return chunks[0];
  const body = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}
