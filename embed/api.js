// PeerTube's embed JS API (`api=1`) on top of the jschannel transport: the methods a host's
// `PeerTubePlayer` calls, and the events it listens to (protocols.md section 5). Method
// results and event payloads have PeerTube's shapes, so host code written for PeerTube works.

import { ChannelError, ParentChannel } from './channel.js';

const STATUS_INTERVAL_MS = 500;

/** A finite number from the host, or a rejection the host sees as `invalid_params`. */
function number(value, name) {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ChannelError('invalid_params', `${name} must be a finite number`);
  }
  return value;
}

/** JSON has no NaN: an unknown duration is sent as 0 (what PeerTube sends before metadata). */
const finiteOr0 = (value) => (Number.isFinite(value) ? value : 0);

/**
 * Starts answering the host page.
 * @param {import('./media.js').MediaController} media
 * @param {object} options parsed embed parameters
 * @param {Promise<void>} setUp resolves when the embed is ready to be driven
 * @returns {ParentChannel}
 */
export function startApi(media, options, setUp) {
  const video = media.video;
  const channel = new ParentChannel({ scope: options.scope, allowedOrigins: options.apiOrigins });
  let ready = false;

  channel.bind('isReady', () => ready);
  channel.bind('play', async () => {
    try {
      await media.play();
    } catch (error) {
      throw new ChannelError('play_failed', `cannot play: ${error.message}`);
    }
  });
  channel.bind('pause', () => media.pause());
  channel.bind('isPlaying', () => media.playing);
  channel.bind('seek', (seconds) => media.seek(Math.max(0, number(seconds, 'seconds'))));
  channel.bind('getCurrentTime', () => media.currentTime);
  channel.bind('setVolume', (volume) => {
    number(volume, 'volume');
    if (volume < 0 || volume > 1) throw new ChannelError('invalid_params', 'volume must be from 0 to 1');
    media.setVolume(volume);
  });
  channel.bind('getVolume', () => video.volume);
  channel.bind('getCaptions', () => media.captions());
  channel.bind('setCaption', (id) => {
    // PeerTube shows the track whose id matches and hides the others: any other id hides all.
    media.selectCaption(typeof id === 'string' ? id : null);
  });
  channel.bind('getResolutions', () => media.resolutions());
  channel.bind('setResolution', (id) => {
    try {
      media.selectLevel(id);
    } catch (error) {
      throw new ChannelError('invalid_params', error.message);
    }
  });
  channel.bind('getPlaybackRates', () => options.playbackRates);
  channel.bind('getPlaybackRate', () => video.playbackRate);
  channel.bind('setPlaybackRate', (rate) => {
    number(rate, 'rate');
    if (rate < 0.0625 || rate > 16) throw new ChannelError('invalid_params', 'rate must be from 0.0625 to 16');
    media.setPlaybackRate(rate);
  });

  media.addEventListener('state', ({ detail }) => {
    if (detail.state === 'playing' || detail.state === 'paused') channel.notify(detail.state === 'playing' ? 'play' : 'pause');
    channel.notify('playbackStatusChange', detail.state);
  });
  media.addEventListener('resolutions', () => channel.notify('resolutionUpdate', media.resolutions()));
  video.addEventListener('volumechange', () => channel.notify('volumeChange', video.volume));

  channel.start();
  setUp.then(() => {
    ready = true;
    channel.notify('ready', true);
    setInterval(() => {
      channel.notify('playbackStatusUpdate', {
        position: media.currentTime,
        volume: video.volume,
        duration: finiteOr0(media.duration),
        playbackState: media.playbackState,
      });
    }, STATUS_INTERVAL_MS);
  });
  return channel;
}
