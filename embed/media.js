// The embed's model of the video: one place that owns the <video> element and the Shoal
// Player, and that both the on-screen controls and the JS API drive. It loads lazily (on the
// first play or seek, or at once with autoplay, so a page with many embeds downloads nothing
// until one is played), applies the start/stop/loop/rate/mute parameters, keeps the caption
// tracks and the quality levels, and tells listeners what changed.
//
// Events (EventTarget, `detail` as noted): `resolutions` (levels or selection changed),
// `captions` (tracks or the chosen one changed), `state` (playbackState changed),
// `stats` (the shim's P2P/HTTP statistics), `fatal` ({code, message}).

import { Player } from '/pkg/shoal.js';

/** The label a level shows in menus and `getResolutions`: its height, else its bit rate. */
function levelLabel(level) {
  if (level?.height) return `${level.height}p`;
  if (level?.bandwidthBps) return `${Math.round(level.bandwidthBps / 1000)} kb/s`;
  return 'unknown';
}

export class MediaController extends EventTarget {
  /**
   * @param {HTMLVideoElement} video
   * @param {object} options parsed embed parameters (params.js)
   * @param {(player: Player) => void} [onPlayer] called with the Player once it exists
   */
  constructor(video, options, onPlayer = () => {}) {
    super();
    this.video = video;
    this.options = options;
    this.onPlayer = onPlayer;
    this.player = null;
    this.loading = null; // promise of the first load, once asked for
    this.pendingPosition = options.start;
    this.stopHandled = false;
    this.playbackState = 'unstarted';
    this.levels = [];
    this.currentLevel = null;
    this.requestedLevel = -1; // -1: the core picks (auto)
    this.levelShown = false;
    this.captionList = []; // [{language, label, src}]
    this.captionLanguage = null; // the showing track's language, or null
    this.lastCaption = null;
    this.fatalError = null;

    video.muted = options.muted;
    video.loop = options.loop;
    this.setPlaybackRate(options.playbackRate);
    this.listen();
  }

  get started() {
    return this.loading !== null;
  }

  get currentTime() {
    return this.player ? this.video.currentTime : this.pendingPosition;
  }

  get duration() {
    return this.player ? this.video.duration : NaN;
  }

  get playing() {
    return !this.video.paused && !this.video.ended;
  }

  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  listen() {
    const video = this.video;
    const setState = (state) => {
      this.playbackState = state;
      this.emit('state', { state });
    };
    video.addEventListener('play', () => setState('playing'));
    video.addEventListener('pause', () => {
      // The element pauses just before it ends; `ended` follows and wins.
      if (!video.ended) setState('paused');
    });
    video.addEventListener('ended', () => setState('ended'));
    video.addEventListener('timeupdate', () => this.checkStop());
    video.addEventListener('seeking', () => {
      if (this.options.stop !== null && video.currentTime < this.options.stop) this.stopHandled = false;
    });
    // The media element's own errors are the Player's: it re-creates the media (a
    // `mediarecovered` event) or reports a fatal `media-append` error, handled below.
  }

  /** `stop=`: pause there (PeerTube's behaviour), or go back to `start` when looping. */
  checkStop() {
    const stop = this.options.stop;
    if (stop === null || this.stopHandled || this.video.currentTime < stop) return;
    this.stopHandled = true;
    if (this.options.loop) this.seek(this.options.start);
    else this.video.pause();
  }

  fail(code, message) {
    if (this.fatalError) return;
    this.fatalError = { code, message };
    this.emit('fatal', this.fatalError);
  }

  /** Creates the Player and starts loading, once; resolves when the element has its source. */
  ensureLoaded() {
    if (this.loading) return this.loading;
    if (!this.options.src) {
      this.loading = Promise.reject(new Error('no source'));
      this.loading.catch(() => {});
      return this.loading;
    }
    const { options } = this;
    const player = new Player(this.video, {
      startPositionS: this.pendingPosition,
      // No level taller than the player is loaded automatically (the viewer may still pick one).
      capLevelToPlayerSize: true,
      // P2P settings for the core; parts it does not know yet are ignored by it.
      p2p: { enabled: options.p2p, trackers: options.trackers, swarmId: options.swarmId },
      integrityUrl: options.integrity,
    });
    this.player = player;
    player.on('levels', ({ levels }) => {
      this.levels = levels;
      this.emit('resolutions');
    });
    // The level shown is the one the picture plays; until a segment plays, the one loading.
    player.on('levelselected', ({ level }) => {
      if (this.currentLevel !== null && this.levelShown) return;
      this.currentLevel = level;
      this.emit('resolutions');
    });
    player.on('levelswitched', ({ level }) => {
      this.levelShown = true;
      if (this.currentLevel === level) return;
      this.currentLevel = level;
      this.emit('resolutions');
    });
    player.on('stats', (stats) => this.emit('stats', stats));
    player.on('error', ({ code, message, fatal }) => {
      if (fatal) this.fail(code, message);
    });
    this.onPlayer(player);
    this.loading = player.load(options.src).catch((error) => {
      this.fail('load', `the player could not start: ${error?.message ?? error}`);
      throw error;
    });
    return this.loading;
  }

  async play() {
    if (this.fatalError) throw new Error(this.fatalError.message);
    await this.ensureLoaded();
    if (this.video.ended || (this.options.stop !== null && this.video.currentTime >= this.options.stop)) {
      this.seek(this.options.start);
    }
    await this.video.play();
  }

  pause() {
    this.video.pause();
  }

  togglePlay() {
    return this.playing ? this.pause() : this.play();
  }

  seek(seconds) {
    const duration = this.duration;
    const target = Math.max(0, Number.isFinite(duration) ? Math.min(seconds, duration) : seconds);
    if (!this.player) {
      this.pendingPosition = target;
      // A failed load is reported through `fatal`; nobody awaits this one.
      this.ensureLoaded().catch(() => {});
      return;
    }
    this.player.seek(target);
  }

  /** Sets the volume only: like PeerTube's API, muting is a separate switch. */
  setVolume(volume) {
    this.video.volume = Math.min(1, Math.max(0, volume));
  }

  setPlaybackRate(rate) {
    // The element's load algorithm resets playbackRate to defaultPlaybackRate: set both.
    this.video.defaultPlaybackRate = rate;
    this.video.playbackRate = rate;
  }

  /** PeerTube's resolution objects: "Auto" (id -1) first, then one per level (id = index). */
  resolutions() {
    const auto = this.requestedLevel === -1;
    const current = this.levels[this.currentLevel];
    const list = [
      { id: -1, label: current ? `Auto (${levelLabel(current)})` : 'Auto', active: auto, width: 0, height: 0 },
    ];
    this.levels.forEach((level, index) => {
      list.push({
        id: index,
        label: levelLabel(level),
        // A picked level is the active choice at once; Auto's label follows the picture.
        active: !auto && index === this.requestedLevel,
        width: level.width ?? 0,
        height: level.height ?? 0,
      });
    });
    return list;
  }

  /** Asks the core for level `id` (-1 = auto). Throws for an unknown id or before loading. */
  selectLevel(id) {
    if (!this.player) throw new Error('the video has not started loading yet');
    if (id !== -1 && !(Number.isInteger(id) && id >= 0 && id < this.levels.length)) {
      throw new RangeError(`no resolution with id ${id}`);
    }
    this.player.setLevel(id);
    this.requestedLevel = id;
    this.emit('resolutions');
  }

  /** Adds one <track> per caption ({language, label, src}); languages must be unique. */
  setCaptionList(list) {
    this.captionList = list;
    for (const caption of list) {
      const track = document.createElement('track');
      track.kind = 'subtitles';
      track.srclang = caption.language;
      track.label = caption.label;
      track.src = caption.src;
      this.video.append(track);
    }
    // The chosen track is `hidden`, not `showing`: its cues load and change as usual, but the
    // controls draw them (above the control bar) instead of the browser. The browser also runs
    // its own automatic track selection when the media loads (Chromium shows a track in the
    // viewer's language): whatever it changes, the embed's choice wins.
    this.video.textTracks.addEventListener('change', () => this.applyCaption());
    this.applyCaption();
    this.emit('captions');
  }

  /** The TextTrack of the chosen language, or null. */
  get captionTrack() {
    return [...this.video.textTracks].find((track) => track.language === this.captionLanguage) ?? null;
  }

  applyCaption() {
    for (const track of this.video.textTracks) {
      const mode = track.language === this.captionLanguage ? 'hidden' : 'disabled';
      if (track.mode !== mode) track.mode = mode;
    }
  }

  /** Shows the track of `language` and hides the others; an unknown language hides all. */
  selectCaption(language) {
    const known = this.captionList.some((caption) => caption.language === language);
    this.captionLanguage = known ? language : null;
    if (known) this.lastCaption = language;
    this.applyCaption();
    this.emit('captions');
  }

  /** The `c` key: off when showing, else back to the last one (or the first). */
  toggleCaptions() {
    if (this.captionLanguage) return this.selectCaption(null);
    const language = this.lastCaption ?? this.captionList[0]?.language;
    if (language) this.selectCaption(language);
  }

  /** PeerTube's caption objects, `id` being the language code (what `setCaption` takes). */
  captions() {
    return this.captionList.map((caption) => ({
      id: caption.language,
      label: caption.label,
      src: caption.src,
      mode: caption.language === this.captionLanguage ? 'showing' : 'disabled',
    }));
  }
}
