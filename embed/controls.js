// The embed's on-screen controls: big play button, control bar (play, mute, volume, time,
// seek bar with buffered ranges and hover time), caption and settings menus (speed, quality),
// P2P panel and IP notice, fullscreen, picture-in-picture, spinner, error screen, the title
// bar, the captions themselves, keyboard shortcuts and touch. It reads and drives a MediaController (media.js) and
// never decides playback policy itself. Text from outside (title, error messages, labels)
// goes in with textContent only.

import { describeBans } from '/pkg/shoal.js';

const SEEK_STEP_S = 5;
const JUMP_STEP_S = 10;
const VOLUME_STEP = 0.05;
const IDLE_AFTER_MS = 3000;

/** `m:ss`, or `h:mm:ss` from an hour on. */
export function formatTime(seconds) {
  const total = Number.isFinite(seconds) && seconds > 0 ? Math.floor(seconds) : 0;
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

function formatBytes(bytes) {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(0)} kB`;
  return `${Math.round(bytes)} B`;
}

/** Bytes and bytes per second, as the P2P panel shows them. */
function formatTransfer(bytes, bytesPerSecond) {
  const rate = Number.isFinite(bytesPerSecond) ? ` (${formatBytes(bytesPerSecond)}/s)` : '';
  return `${formatBytes(Number.isFinite(bytes) ? bytes : 0)}${rate}`;
}

const $ = (id) => document.getElementById(id);

export class Controls {
  /**
   * @param {import('./media.js').MediaController} media
   * @param {object} options parsed embed parameters
   */
  constructor(media, options) {
    this.media = media;
    this.video = media.video;
    this.options = options;
    this.root = $('player');
    this.openMenu = null; // {button, menu} of the open menu or panel
    this.idleTimer = null;
    this.dragging = null; // 'seek' | 'volume' while a pointer drags a slider
    this.captionTrack = null; // the TextTrack whose cues are on screen
    this.onCueChange = () => this.renderCaption();

    this.applyOptions();
    this.bindButtons();
    this.bindSliders();
    this.bindMediaEvents();
    this.bindKeyboard();
    this.bindPointer();
    this.buildSpeedMenu();
    this.renderQualityMenu();
    this.renderCaptionsMenu();
    this.renderP2p(null);
    this.update();
  }

  applyOptions() {
    const { options, root } = this;
    if (!options.controls) root.classList.add('no-controls');
    if (!options.controlBar) root.classList.add('no-control-bar');
    // CSSOM, not a style attribute: allowed by the page's CSP, and values are colour-checked.
    if (options.foregroundColor) root.style.setProperty('--fg', options.foregroundColor);
    if (options.bigPlayBackgroundColor) root.style.setProperty('--big-play-bg', options.bigPlayBackgroundColor);

    if (options.showLink) {
      const link = $('link');
      const href = options.linkUrl ?? (options.src ? new URL('/', options.src).href : null);
      if (href) {
        link.href = href;
        link.textContent = `Watch on ${new URL(href).host}`;
        link.hidden = false;
      }
    }
    $('p2p-notice').hidden = !(options.p2p && options.warningTitle);
    $('fullscreen').hidden = !(document.fullscreenEnabled || this.video.webkitEnterFullscreen);
    $('pip').hidden = !(document.pictureInPictureEnabled && !this.video.disablePictureInPicture);
  }

  /** The title bar text: `title=` text first, else the name from video.json. */
  setTitle(name) {
    const text = this.options.showTitle ? (this.options.titleText ?? name) : null;
    const title = $('title');
    title.textContent = text ?? '';
    title.hidden = !text;
  }

  showError(message) {
    $('error-message').textContent = message;
    $('error').hidden = false;
    this.closeMenu();
    this.update();
  }

  // --- buttons and menus ------------------------------------------------------------------

  bindButtons() {
    const { media } = this;
    const playOrReport = () => media.togglePlay()?.catch?.(() => {});
    $('big-play').addEventListener('click', playOrReport);
    $('play').addEventListener('click', playOrReport);
    $('mute').addEventListener('click', () => this.toggleMute());
    $('fullscreen').addEventListener('click', () => this.toggleFullscreen());
    $('pip').addEventListener('click', () => this.togglePip());
    $('p2p-notice-close').addEventListener('click', () => {
      $('p2p-notice').hidden = true;
    });
    for (const [buttonId, menuId] of [
      ['captions-button', 'captions-menu'],
      ['settings-button', 'settings-menu'],
      ['p2p-button', 'p2p-panel'],
    ]) {
      const button = $(buttonId);
      const menu = $(menuId);
      button.addEventListener('click', () => {
        if (this.openMenu?.menu === menu) this.closeMenu();
        else this.showMenu(button, menu);
      });
      menu.addEventListener('keydown', (event) => this.menuKeydown(event, button, menu));
    }
    // A menu closes when focus or a click goes elsewhere.
    document.addEventListener('focusin', (event) => {
      const open = this.openMenu;
      if (open && !open.menu.contains(event.target) && event.target !== open.button) this.closeMenu();
    });
    document.addEventListener('pointerdown', (event) => {
      const open = this.openMenu;
      if (open && !open.menu.contains(event.target) && !open.button.contains(event.target)) this.closeMenu();
    });
  }

  showMenu(button, menu) {
    this.closeMenu();
    menu.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    this.openMenu = { button, menu };
    this.wake();
    // Menus move focus to their checked item; the P2P panel is read, not operated.
    if (menu.getAttribute('role') === 'menu') {
      (menu.querySelector('[aria-checked="true"]') ?? menu.querySelector('[role^="menuitem"]'))?.focus();
    }
  }

  closeMenu({ returnFocus = false } = {}) {
    const open = this.openMenu;
    if (!open) return;
    open.menu.hidden = true;
    open.button.setAttribute('aria-expanded', 'false');
    this.openMenu = null;
    if (returnFocus) open.button.focus();
    this.wake();
  }

  /** Arrow keys move between items (Tab works too); Escape closes back to the button. */
  menuKeydown(event, button, menu) {
    const items = [...menu.querySelectorAll('[role^="menuitem"]')];
    const index = items.indexOf(document.activeElement);
    const focusAt = (i) => items[(i + items.length) % items.length]?.focus();
    switch (event.key) {
      case 'ArrowDown':
        focusAt(index + 1);
        break;
      case 'ArrowUp':
        focusAt(index - 1);
        break;
      case 'Home':
        focusAt(0);
        break;
      case 'End':
        focusAt(items.length - 1);
        break;
      case 'Escape':
        this.closeMenu({ returnFocus: true });
        break;
      default:
        return;
    }
    event.preventDefault();
    event.stopPropagation();
  }

  /** A radio item of a menu; `onSelect` runs on click (Enter/Space on a button click too). */
  menuItem(label, checked, onSelect) {
    const item = document.createElement('button');
    item.type = 'button';
    item.className = 'menu-item';
    item.setAttribute('role', 'menuitemradio');
    item.setAttribute('aria-checked', String(checked));
    item.textContent = label;
    item.addEventListener('click', () => {
      onSelect();
      this.closeMenu({ returnFocus: true });
    });
    return item;
  }

  buildSpeedMenu() {
    const group = $('speed-group');
    for (const rate of this.options.playbackRates) {
      const item = this.menuItem(rate === 1 ? 'Normal' : `${rate}×`, false, () => this.media.setPlaybackRate(rate));
      item.dataset.rate = String(rate);
      group.append(item);
    }
    this.renderSpeed();
  }

  renderSpeed() {
    for (const item of $('speed-group').querySelectorAll('[data-rate]')) {
      item.setAttribute('aria-checked', String(Number(item.dataset.rate) === this.video.playbackRate));
    }
  }

  renderQualityMenu() {
    const group = $('quality-group');
    const focused = group.contains(document.activeElement) ? document.activeElement.dataset.level : null;
    group.querySelectorAll('.menu-item').forEach((item) => item.remove());
    // Highest first, as viewers expect; "Auto" on top.
    const entries = this.media
      .resolutions()
      .sort((a, b) => (a.id === -1 ? -1 : b.id === -1 ? 1 : b.height - a.height));
    for (const entry of entries) {
      const item = this.menuItem(entry.label, entry.active, () => this.selectLevel(entry.id));
      item.dataset.level = String(entry.id);
      group.append(item);
    }
    if (focused !== null) group.querySelector(`[data-level="${CSS.escape(focused)}"]`)?.focus();
  }

  selectLevel(id) {
    try {
      this.media.selectLevel(id);
    } catch (error) {
      console.warn('shoal embed:', error.message);
    }
  }

  renderCaptionsMenu() {
    const menu = $('captions-menu');
    menu.replaceChildren();
    const current = this.media.captionLanguage;
    menu.append(this.menuItem('Off', current === null, () => this.media.selectCaption(null)));
    for (const caption of this.media.captionList) {
      menu.append(
        this.menuItem(caption.label, caption.language === current, () => this.media.selectCaption(caption.language)),
      );
    }
    $('captions-button').hidden = this.media.captionList.length === 0;
    $('captions-button').classList.toggle('active', current !== null);
  }

  /** Follows the chosen track's cues (tracks fire `cuechange` as the playhead moves). */
  watchCaptionTrack() {
    const track = this.media.captionTrack;
    if (this.captionTrack === track) return this.renderCaption();
    this.captionTrack?.removeEventListener('cuechange', this.onCueChange);
    track?.addEventListener('cuechange', this.onCueChange);
    this.captionTrack = track;
    this.renderCaption();
  }

  renderCaption() {
    // getCueAsHTML() parses WebVTT's own tags into inert nodes; only their text is used.
    const cues = [...(this.captionTrack?.activeCues ?? [])];
    const text = cues.map((cue) => cue.getCueAsHTML().textContent).join('\n');
    $('captions-text').textContent = text;
    $('captions').hidden = text === '';
  }

  renderP2p(stats) {
    const on = this.options.p2p;
    $('p2p-state').textContent = !on
      ? 'P2P off: this video comes from its server only.'
      : stats
        ? 'Sharing with other viewers.'
        : 'Waiting for peer statistics…';
    $('p2p-stats').hidden = !(on && stats);
    if (!on || !stats) return;
    $('stat-peers').textContent = String(Number.isFinite(stats.peers) ? stats.peers : 0);
    $('stat-p2p-down').textContent = formatTransfer(stats.p2pDownBytes, stats.p2pDownBps);
    $('stat-p2p-up').textContent = formatTransfer(stats.p2pUpBytes, stats.p2pUpBps);
    $('stat-http').textContent = formatTransfer(stats.httpBytes, stats.httpBps);
    $('stat-bans').textContent = describeBans(stats);
  }

  toggleMute() {
    this.video.muted = !this.video.muted;
    // Unmuting at volume 0 would stay silent: bring the volume back.
    if (!this.video.muted && this.video.volume === 0) this.media.setVolume(0.5);
  }

  async toggleFullscreen() {
    try {
      if (document.fullscreenElement) await document.exitFullscreen();
      else if (this.root.requestFullscreen) await this.root.requestFullscreen();
      else this.video.webkitEnterFullscreen?.(); // iPhone: only the video itself can go fullscreen
    } catch (error) {
      console.warn('shoal embed: fullscreen refused:', error.message);
    }
  }

  async togglePip() {
    try {
      if (document.pictureInPictureElement) await document.exitPictureInPicture();
      else await this.video.requestPictureInPicture();
    } catch (error) {
      console.warn('shoal embed: picture-in-picture refused:', error.message);
    }
  }

  // --- sliders ----------------------------------------------------------------------------

  bindSliders() {
    const seek = $('seek');
    const volume = $('volume');
    const fraction = (element, event) => {
      const box = element.getBoundingClientRect();
      return Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
    };
    const drag = (element, name, apply) => {
      element.addEventListener('pointerdown', (event) => {
        if (event.button !== 0) return;
        element.setPointerCapture(event.pointerId);
        element.classList.add('dragging');
        this.dragging = name;
        apply(fraction(element, event), false);
      });
      element.addEventListener('pointermove', (event) => {
        if (this.dragging === name) apply(fraction(element, event), false);
      });
      const end = (event) => {
        if (this.dragging !== name) return;
        this.dragging = null;
        element.classList.remove('dragging');
        if (event.type === 'pointerup') apply(fraction(element, event), true);
        this.update();
      };
      element.addEventListener('pointerup', end);
      element.addEventListener('pointercancel', end);
    };
    // The seek bar previews while dragging and seeks on release (one seek, not dozens).
    drag(seek, 'seek', (f, done) => {
      const duration = this.media.duration;
      if (!Number.isFinite(duration)) return;
      this.renderSeek(f * duration);
      if (done) this.media.seek(f * duration);
    });
    drag(volume, 'volume', (f) => {
      this.media.setVolume(f);
      this.video.muted = f === 0;
    });

    const hover = $('seek-hover');
    seek.addEventListener('pointermove', (event) => {
      const duration = this.media.duration;
      if (!Number.isFinite(duration)) return;
      const f = fraction(seek, event);
      hover.textContent = formatTime(f * duration);
      hover.style.left = `${f * 100}%`;
      hover.hidden = false;
    });
    seek.addEventListener('pointerleave', () => {
      hover.hidden = true;
    });
  }

  renderSeek(position) {
    const duration = this.media.duration;
    const known = Number.isFinite(duration) && duration > 0;
    const f = known ? Math.min(1, position / duration) : 0;
    $('seek-fill').style.width = `${f * 100}%`;
    const seek = $('seek');
    seek.setAttribute('aria-valuemax', String(known ? Math.round(duration) : 0));
    seek.setAttribute('aria-valuenow', String(Math.round(Math.max(0, position))));
    seek.setAttribute('aria-valuetext', `${formatTime(position)} of ${formatTime(known ? duration : 0)}`);
    $('time-current').textContent = formatTime(position);
    $('time-duration').textContent = formatTime(known ? duration : 0);
  }

  renderBuffered() {
    const duration = this.media.duration;
    const box = $('seek-buffered');
    const ranges = this.video.buffered;
    if (!Number.isFinite(duration) || duration <= 0) return box.replaceChildren();
    const bars = [];
    for (let i = 0; i < ranges.length; i++) {
      const bar = document.createElement('div');
      bar.style.left = `${(ranges.start(i) / duration) * 100}%`;
      bar.style.width = `${((ranges.end(i) - ranges.start(i)) / duration) * 100}%`;
      bars.push(bar);
    }
    box.replaceChildren(...bars);
  }

  // --- state ------------------------------------------------------------------------------

  bindMediaEvents() {
    const { media, video } = this;
    for (const type of ['play', 'pause', 'playing', 'waiting', 'seeking', 'seeked', 'canplay', 'loadedmetadata', 'durationchange', 'ended', 'emptied']) {
      video.addEventListener(type, () => this.update());
    }
    video.addEventListener('timeupdate', () => {
      if (this.dragging !== 'seek') this.renderSeek(video.currentTime);
      this.renderBuffered();
    });
    video.addEventListener('progress', () => this.renderBuffered());
    video.addEventListener('volumechange', () => this.update());
    video.addEventListener('ratechange', () => this.renderSpeed());
    media.addEventListener('state', () => this.update());
    media.addEventListener('resolutions', () => this.renderQualityMenu());
    media.addEventListener('captions', () => {
      this.renderCaptionsMenu();
      this.watchCaptionTrack();
    });
    media.addEventListener('stats', ({ detail }) => this.renderP2p(detail));
    media.addEventListener('fatal', ({ detail }) => this.showError(`${detail.message} (${detail.code})`));
    document.addEventListener('fullscreenchange', () => this.update());
    video.addEventListener('enterpictureinpicture', () => this.update());
    video.addEventListener('leavepictureinpicture', () => this.update());
  }

  /** Brings every state-dependent part of the UI up to date. */
  update() {
    const { media, video, root } = this;
    const failed = !$('error').hidden;
    const playing = media.playing;
    root.classList.toggle('playing', playing);
    root.classList.toggle('unstarted', !media.started);
    root.classList.toggle('muted', video.muted || video.volume === 0);
    root.classList.toggle('fullscreen', document.fullscreenElement === root);

    $('play').setAttribute('aria-label', playing ? 'Pause' : 'Play');
    $('mute').setAttribute('aria-label', video.muted ? 'Unmute' : 'Mute');
    $('fullscreen').setAttribute('aria-label', document.fullscreenElement ? 'Exit fullscreen' : 'Fullscreen');
    $('pip').setAttribute(
      'aria-label',
      document.pictureInPictureElement ? 'Exit picture-in-picture' : 'Picture-in-picture',
    );
    // Picture-in-picture needs the video's metadata.
    $('pip').disabled = video.readyState < HTMLMediaElement.HAVE_METADATA;

    const volume = video.muted ? 0 : video.volume;
    $('volume-fill').style.width = `${volume * 100}%`;
    $('volume').setAttribute('aria-valuenow', String(Math.round(volume * 100)));
    $('volume').setAttribute('aria-valuetext', video.muted ? 'muted' : `${Math.round(volume * 100)}%`);

    const bigPlay = $('big-play');
    const showBigPlay = !failed && !playing && (!media.started || media.playbackState === 'ended');
    // A button vanishing under focus would drop keyboard users on <body>: hand focus over.
    if (!showBigPlay && document.activeElement === bigPlay) $('play').focus();
    bigPlay.hidden = !showBigPlay;

    const busy =
      media.started && !failed && (video.seeking || (!video.paused && video.readyState < HTMLMediaElement.HAVE_FUTURE_DATA));
    $('spinner').hidden = !busy;
    if (this.dragging !== 'seek') this.renderSeek(media.currentTime);
    this.scheduleIdle();
  }

  // --- idle chrome, keyboard, pointer -----------------------------------------------------

  /** Shows the chrome and restarts the countdown to hiding it. */
  wake() {
    this.root.classList.remove('idle');
    this.scheduleIdle();
  }

  scheduleIdle() {
    clearTimeout(this.idleTimer);
    if (!this.media.playing) {
      this.root.classList.remove('idle');
      return;
    }
    this.idleTimer = setTimeout(() => {
      // Keep the chrome while a menu is open or the keyboard is working in it.
      const keyboardInside = document.querySelector('.chrome :focus-visible');
      if (this.media.playing && !this.openMenu && !this.dragging && !keyboardInside) this.root.classList.add('idle');
    }, IDLE_AFTER_MS);
  }

  bindKeyboard() {
    document.addEventListener('keydown', (event) => this.keydown(event));
    document.addEventListener('focusin', () => this.wake());
  }

  keydown(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || !this.options.controls) return;
    const { media, video } = this;
    const target = event.target;
    const onVolume = target.id === 'volume';
    const onSeek = target.id === 'seek';
    const activatable = target.closest?.('button, a');
    const seekBy = (delta) => media.seek(media.currentTime + delta);
    const volumeBy = (delta) => {
      media.setVolume(video.volume + delta);
      video.muted = video.volume === 0;
    };
    const key = event.key;
    if (key === ' ' || key === 'Enter') {
      // Buttons and links act on these themselves; elsewhere space plays or pauses.
      if (activatable || key === 'Enter') return;
      media.togglePlay()?.catch?.(() => {});
    } else if (key === 'k' || key === 'K') media.togglePlay()?.catch?.(() => {});
    else if (key === 'j' || key === 'J') seekBy(-JUMP_STEP_S);
    else if (key === 'l' || key === 'L') seekBy(JUMP_STEP_S);
    else if (key === 'ArrowLeft') onVolume ? volumeBy(-VOLUME_STEP) : seekBy(-SEEK_STEP_S);
    else if (key === 'ArrowRight') onVolume ? volumeBy(VOLUME_STEP) : seekBy(SEEK_STEP_S);
    else if (key === 'ArrowUp') volumeBy(VOLUME_STEP);
    else if (key === 'ArrowDown') volumeBy(-VOLUME_STEP);
    else if ((key === 'Home' || key === 'End') && (onSeek || onVolume)) {
      if (onVolume) volumeBy(key === 'Home' ? -1 : 1);
      else media.seek(key === 'Home' ? 0 : media.duration);
    } else if (key === 'm' || key === 'M') this.toggleMute();
    else if (key === 'f' || key === 'F') this.toggleFullscreen();
    else if (key === 'c' || key === 'C') media.toggleCaptions();
    else if (/^[0-9]$/.test(key)) {
      if (Number.isFinite(media.duration)) media.seek((Number(key) / 10) * media.duration);
    } else if (key === 'Escape' && this.openMenu) this.closeMenu({ returnFocus: true });
    else return;
    event.preventDefault();
    this.wake();
  }

  bindPointer() {
    const { root, video } = this;
    root.addEventListener('pointermove', (event) => {
      if (event.pointerType === 'mouse') this.wake();
    });
    // On the picture: a mouse click plays or pauses; a tap first brings the controls back
    // (they hide while playing), and plays or pauses only when they are already shown.
    video.addEventListener('pointerup', (event) => {
      if (!this.options.controls || !$('error').hidden) return;
      if (event.pointerType !== 'mouse' && root.classList.contains('idle')) return this.wake();
      this.media.togglePlay()?.catch?.(() => {});
      this.wake();
    });
    video.addEventListener('dblclick', () => {
      if (this.options.controls) this.toggleFullscreen();
    });
  }
}
