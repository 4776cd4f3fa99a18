//! Live streams (a media playlist without `#EXT-X-ENDLIST`): reloading the playlist at the
//! interval RFC 8216 6.3.4 gives, starting near the live edge, catching up when playback
//! falls behind, and the timestamp offset between the playlist and the media.
//!
//! - **Reloads**: the target duration after the last load began, half of it after a reload
//!   that changed nothing. Each reload is folded into the known segments
//!   ([`MediaPlaylist::merge_reload`]), so indices and times stay put while the window
//!   slides; only segments the server still lists are fetched. `#EXT-X-ENDLIST` ends the
//!   reloads and the stream plays out as a VOD.
//! - **Start and catching up**: playback starts the target latency behind the live edge
//!   (3 target durations unless configured, like hls.js). When the playhead falls further
//!   behind than the maximum latency, or out of the server's window (after a long pause),
//!   it jumps back to the target latency.
//! - **Timestamps**: a live segment's media times are those of the whole broadcast (a
//!   viewer joining after an hour gets media at 3600 s, and a restarted encoder starts again
//!   at 0 after a discontinuity), while the playlist timeline starts at the first segment
//!   this player saw. The SourceBuffer runs in sequence mode and each segment is appended
//!   with its playlist start as `timestampOffset`, so media lands where the playlist places
//!   it, discontinuities included, without parsing the segments.

use super::{ErrorKind, FetchOrder, Output, Player, RequestKind};
use crate::hls::{parse_playlist, MediaPlaylist, Playlist};
use crate::schedule::{Failure, Slot};
use crate::time::{Duration, Instant};

/// Target durations behind the live edge to start at, unless configured (hls.js's
/// `liveSyncDurationCount`).
const DEFAULT_LATENCY_TARGET_DURATIONS: f64 = 3.0;
/// Target durations of extra latency tolerated before jumping back towards the edge.
const DEFAULT_LATENCY_TOLERANCE_TARGET_DURATIONS: f64 = 3.0;

/// State of a live stream.
#[derive(Debug)]
pub(super) struct Live {
    /// Index of the first segment the server still lists.
    pub(super) window_start: usize,
    reload: Slot,
    /// When the next reload may start.
    reload_at: Instant,
}

impl Player {
    /// A live stream starts: reloads are scheduled and playback starts near the edge.
    pub(super) fn start_live(&mut self, playlist: &MediaPlaylist) {
        let reload_at = self.now + Duration::from_secs_f64(playlist.target_duration_s);
        self.live = Some(Live {
            window_start: 0,
            reload: Slot::NEW,
            reload_at,
        });
        self.pending_start_s = Some(self.live_start_s(playlist));
    }

    fn latency_target_s(&self, playlist: &MediaPlaylist) -> f64 {
        self.config
            .live_latency_target_s
            .unwrap_or(DEFAULT_LATENCY_TARGET_DURATIONS * playlist.target_duration_s)
    }

    /// Where to play from: the target latency behind the edge, within the server's window.
    fn live_start_s(&self, playlist: &MediaPlaylist) -> f64 {
        let window_start = self.live.as_ref().map_or(0, |l| l.window_start);
        let first_s = playlist
            .segments
            .get(window_start)
            .map_or(0.0, |s| s.start_s);
        (playlist.duration_s() - self.latency_target_s(playlist)).max(first_s)
    }

    /// The first segment index worth fetching: the server's window start on live streams.
    pub(super) fn first_fetchable(&self) -> usize {
        self.live.as_ref().map_or(0, |l| l.window_start)
    }

    /// Starts the next reload once it is due.
    pub(super) fn reload_live_playlist_if_due(&mut self) {
        let now = self.now;
        let Some(stream) = self.stream.as_ref() else {
            return;
        };
        if stream.playlist.ended {
            return;
        }
        let url = stream.playlist.url.clone();
        let target_duration = Duration::from_secs_f64(stream.playlist.target_duration_s);
        let Some(live) = self.live.as_mut() else {
            return;
        };
        live.reload.wake_if_retry_due(now);
        let Slot::Idle { failed_attempts } = live.reload else {
            return;
        };
        if now < live.reload_at {
            return;
        }
        let request = self.new_request(RequestKind::LiveReload, None);
        let live = self.live.as_mut().expect("checked above");
        live.reload = Slot::Fetching {
            request,
            failed_attempts,
        };
        // RFC 8216 6.3.4: the next reload waits at least the target duration from when this
        // one began.
        live.reload_at = now + target_duration;
        self.outputs
            .push_back(Output::Fetch(FetchOrder::playlist(request, url)));
    }

    /// When the core next wants to look at reloads.
    pub(super) fn live_timeout(&self) -> Option<Instant> {
        let live = self.live.as_ref()?;
        if self.stream.as_ref().is_some_and(|s| s.playlist.ended) {
            return None;
        }
        match live.reload {
            Slot::Idle { .. } => Some(live.reload_at),
            Slot::WaitingRetry { at, .. } => Some(at),
            _ => None,
        }
    }

    /// A reload arrived: fold it in.
    pub(super) fn on_live_reload(&mut self, text: String) {
        let Some(live) = self.live.as_mut() else {
            return;
        };
        live.reload = Slot::NEW;
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        let url = stream.playlist.url.clone();
        let reload = match parse_playlist(text.as_bytes(), &url) {
            Ok(Playlist::Media(reload)) => reload,
            Ok(Playlist::Multivariant(_)) => {
                let message = format!("{url} became a multivariant playlist on reload");
                return self.fail(ErrorKind::PlaylistParse, message);
            }
            Err(error) => {
                let message = format!("cannot read live playlist {url}: {error}");
                return self.fail(ErrorKind::PlaylistParse, message);
            }
        };
        let half_target = Duration::from_secs_f64(reload.target_duration_s / 2.0);
        match stream.playlist.merge_reload(reload.clone()) {
            Ok(merge) => {
                stream.slots.grow_to(&stream.playlist);
                let live = self.live.as_mut().expect("checked above");
                live.window_start = merge.window_start;
                if merge.added == 0 {
                    // RFC 8216 6.3.4: an unchanged playlist is tried again after half the
                    // target duration.
                    live.reload_at = self.now + half_target;
                }
            }
            Err(_) => {
                // Segments were missed (or the stream restarted): continue from this reload,
                // placed after what is known, like a switch to the same level.
                let level = stream.level;
                let mut reload = reload;
                reload.align_to(&stream.playlist);
                let live = self.live.as_mut().expect("checked above");
                live.window_start = 0;
                self.replace_playlist(level, reload);
            }
        }
    }

    /// A reload failed: retried with the usual backoff, fatal once the retries are used up.
    pub(super) fn on_live_reload_failure(&mut self, failure: Failure, message: &str) {
        let now = self.now;
        let retry = self.config.retry.clone();
        let url = self
            .stream
            .as_ref()
            .map(|s| s.playlist.url.clone())
            .unwrap_or_default();
        let Some(live) = self.live.as_mut() else {
            return;
        };
        if let Some(tries) = live.reload.fail_attempt(now, &retry, failure) {
            self.fail(
                ErrorKind::PlaylistLoad,
                format!("could not reload live playlist {url} after {tries} attempt(s): {message}"),
            );
        }
    }

    /// Jumps back towards the live edge when playback fell too far behind it.
    pub(super) fn catch_up_live(&mut self, position_s: f64) {
        let (Some(live), Some(stream)) = (self.live.as_ref(), self.stream.as_ref()) else {
            return;
        };
        if self.pending_start_s.is_some() || self.snapshot.paused || stream.playlist.ended {
            return;
        }
        let playlist = &stream.playlist;
        let target_s = self.latency_target_s(playlist);
        let max_latency_s = self.config.live_max_latency_s.unwrap_or(
            target_s + DEFAULT_LATENCY_TOLERANCE_TARGET_DURATIONS * playlist.target_duration_s,
        );
        let window_start_s = playlist
            .segments
            .get(live.window_start)
            .map_or(0.0, |s| s.start_s);
        let latency_s = playlist.duration_s() - position_s;
        if latency_s > max_latency_s || position_s < window_start_s {
            let position_s = self.live_start_s(playlist);
            self.pending_start_s = Some(position_s);
            self.outputs.push_back(Output::SeekMedia { position_s });
        }
    }

    /// How far ahead of need a live segment may be fetched over HTTP by one viewer before
    /// the others: the live buffer is short, so the P2P head start shrinks with it.
    pub(super) fn live_spread_cap_s(&self) -> Option<f64> {
        let stream = self.stream.as_ref()?;
        self.live.as_ref()?;
        Some(self.latency_target_s(&stream.playlist) / 3.0)
    }
}
