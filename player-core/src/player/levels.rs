//! Which level plays: automatic choice (the ABR rule in `schedule/abr.rs`) or the viewer's,
//! and switching the stream from one level to another without a gap.
//!
//! A switch loads the new level's media playlist (once; playlists are kept for switching
//! back), waits for the old level's appends under way to finish, cancels the old level's
//! downloads, and continues with the new level from the end of what is buffered: the media
//! already in the buffer keeps playing, and the new init segment goes in before the new
//! level's first segment. A level the viewer picks replaces the buffered media after the
//! current segment at once, so the choice shows within seconds. The swarm is per level, so a
//! switch also moves to the new level's swarm.

use std::collections::BTreeMap;

use super::{media, Event, Output, Player, PlaylistLoad, PlaylistRole, Stream, MAIN_TRACK};
use crate::hls::MediaPlaylist;
use crate::schedule::abr::{self, AbrInput, AbrLevel};
use crate::schedule::{buffered_ahead_s, Slot, SlotTable};
use crate::time::Instant;

/// Buffered media ending this close to the end of a VOD counts as reaching it.
const END_TOLERANCE_S: f64 = 0.5;

/// A switch under way.
#[derive(Debug)]
pub(super) struct PendingSwitch {
    level: usize,
    /// The viewer picked the level: replace the media ahead instead of playing it out.
    immediate: bool,
    /// The new level's playlist, once loaded.
    playlist: Option<MediaPlaylist>,
}

/// Level choice and switching state of one loaded stream.
#[derive(Debug, Default)]
pub(super) struct Levels {
    /// The viewer's pick; `None` is automatic.
    manual: Option<usize>,
    pending: Option<PendingSwitch>,
    /// Media playlists already loaded, by level.
    playlists: BTreeMap<usize, MediaPlaylist>,
    last_switch_at: Option<Instant>,
    /// Appended media by level: start (ms) to (end (ms), level).
    appended: BTreeMap<u64, (u64, usize)>,
    /// The level last reported with `LevelSwitched`.
    shown: Option<usize>,
    /// The level and index of the init segment appended last: the media element parses
    /// what follows with it, so switching back to that level needs no new init segment.
    pub(super) init_in_force: Option<(usize, usize)>,
}

impl Levels {
    /// The level the viewer picked, if any.
    pub(super) fn manual(&self) -> Option<usize> {
        self.manual
    }

    /// Remembers that the media element holds `level` from `start_s` to `end_s`.
    fn record_append(&mut self, start_s: f64, end_s: f64, level: usize) {
        let (start, end) = (millis(start_s), millis(end_s));
        let overlapping: Vec<u64> = self
            .appended
            .range(..end)
            .filter(|(_, &(e, _))| e > start)
            .map(|(&s, _)| s)
            .collect();
        for key in overlapping {
            self.appended.remove(&key);
        }
        self.appended.insert(start, (end, level));
    }

    /// The media element was re-created empty (recover.rs): no media and no init segment of
    /// any level is in it.
    pub(super) fn forget_buffer(&mut self) {
        self.appended.clear();
        self.init_in_force = None;
    }

    fn level_at(&self, position_s: f64) -> Option<usize> {
        let position = millis(position_s);
        let (_, &(end, level)) = self.appended.range(..=position).next_back()?;
        (position < end).then_some(level)
    }
}

fn millis(seconds: f64) -> u64 {
    (seconds.max(0.0) * 1000.0).round() as u64
}

impl Player {
    /// The viewer's choice: a level, or automatic (`None`).
    pub(super) fn set_level(&mut self, level: Option<usize>, smooth: bool) {
        match level {
            Some(level) if !self.variants.is_empty() && level >= self.variants.len() => {}
            Some(level) => {
                self.levels.manual = Some(level);
                if self.stream.is_some() && self.target_level() != Some(level) {
                    self.begin_switch(level, !smooth, false);
                }
            }
            None => self.levels.manual = None,
        }
    }

    /// The level the stream is on or switching to.
    fn target_level(&self) -> Option<usize> {
        let pending = self.levels.pending.as_ref().map(|p| p.level);
        pending.or(self.stream.as_ref().map(|s| s.level))
    }

    /// Whether the viewer's pick or the ABR rule wants another level now.
    pub(super) fn choose_level(&mut self, position_s: f64) {
        if self.variants.len() < 2 || self.stream.is_none() {
            return;
        }
        let wanted = match self.levels.manual {
            Some(level) => level,
            // An automatic switch under way finishes before the next decision.
            None if self.levels.pending.is_some() => return,
            None => self.auto_level(position_s),
        };
        if self.target_level() != Some(wanted) {
            // A pick made before the stream started: nothing is buffered to replace.
            let auto = self.levels.manual.is_none();
            self.begin_switch(wanted, false, auto);
        }
    }

    fn auto_level(&self, position_s: f64) -> usize {
        let stream = self.stream.as_ref().expect("checked by the caller");
        let buffer_ahead_s = buffered_ahead_s(&self.snapshot.buffered, position_s);
        // At 2x the buffer lasts half as long: ABR weighs it in seconds of real time.
        let buffer_lasts_s = self.snapshot.real_time_s(buffer_ahead_s);
        if position_s + buffer_ahead_s >= stream.playlist.duration_s() - END_TOLERANCE_S
            && stream.playlist.ended
        {
            // Everything to the end is buffered: the little left to play says nothing
            // about the bandwidth.
            return stream.level;
        }
        let levels: Vec<AbrLevel> = self.variants.iter().map(abr_level).collect();
        let cap = self
            .player_height_px
            .filter(|_| self.config.cap_level_to_player_size)
            .and_then(|height| abr::size_cap(&levels, height));
        let since_last_switch_s = self.levels.last_switch_at.map_or(f64::INFINITY, |at| {
            self.now.saturating_since(at).as_secs_f64()
        });
        abr::choose_level(&AbrInput {
            levels: &levels,
            current: stream.level,
            estimate_bps: self.abr_estimate_bps(),
            fast_estimate_bps: self
                .http_bandwidth
                .fast_estimate_bps()
                .unwrap_or(0.0)
                .max(self.abr_estimate_bps()),
            buffer_ahead_s: buffer_lasts_s,
            segment_duration_s: stream.playlist.target_duration_s,
            // With nothing buffered the player is starting or seeking (or already stalled):
            // the low-buffer rule is for keeping a stall from happening.
            playback_rate: self.snapshot.playback_rate,
            playing: !self.snapshot.paused
                && !self.snapshot.seeking
                && self.pending_start_s.is_none()
                && buffer_ahead_s > 0.0,
            since_last_switch_s,
            cap,
        })
    }

    /// What ABR counts on: the origin's throughput, or the best proven peer's when that is
    /// higher. A slow peer never lowers it: the origin is always there to fall back on.
    fn abr_estimate_bps(&self) -> f64 {
        let peers = self.best_proven_peer_bps().unwrap_or(0.0);
        self.http_bps().max(peers)
    }

    fn begin_switch(&mut self, level: usize, immediate: bool, auto: bool) {
        self.levels.last_switch_at = Some(self.now);
        self.event(Event::LevelSwitching { level, auto });
        if let Some(load) = self.playlist_load.take() {
            // A playlist for an earlier switch is still loading: the new choice replaces it.
            if let Slot::Fetching { request, .. } = load.slot {
                self.cancel_http(request);
            }
        }
        if self.stream.as_ref().map(|s| s.level) == Some(level) {
            // Back to the level being loaded before the switch went through.
            self.levels.pending = None;
            return;
        }
        // A live level's playlist goes stale at once: it is loaded afresh for every switch.
        let playlist = self
            .levels
            .playlists
            .get(&level)
            .filter(|_| self.live.is_none())
            .cloned();
        if playlist.is_none() {
            self.playlist_load = Some(PlaylistLoad {
                url: self.variants[level].uri.clone(),
                role: PlaylistRole::Level(level),
                slot: Slot::NEW,
            });
        }
        self.levels.pending = Some(PendingSwitch {
            level,
            immediate,
            playlist,
        });
    }

    /// A level's media playlist arrived while another level plays.
    pub(super) fn on_switch_playlist(&mut self, level: usize, mut playlist: MediaPlaylist) {
        if let Err(message) = media::check_playable(&playlist) {
            return self.fail(super::ErrorKind::Unsupported, message);
        }
        if let (Some(stream), Some(live)) = (self.stream.as_ref(), self.live.as_mut()) {
            playlist.align_to(&stream.playlist);
            // The fresh playlist is exactly the server's window.
            live.window_start = 0;
        } else {
            self.levels.playlists.insert(level, playlist.clone());
        }
        if let Some(pending) = self.levels.pending.as_mut().filter(|p| p.level == level) {
            pending.playlist = Some(playlist);
        }
    }

    /// Continues the stream with another playlist of the same level (a live reload that
    /// could not be folded in), through the switch machinery.
    pub(super) fn replace_playlist(&mut self, level: usize, playlist: MediaPlaylist) {
        self.levels.pending = Some(PendingSwitch {
            level,
            immediate: false,
            playlist: Some(playlist),
        });
    }

    /// Remembers a level's playlist for switching back later.
    pub(super) fn keep_playlist(&mut self, level: usize, playlist: &MediaPlaylist) {
        self.levels.playlists.insert(level, playlist.clone());
    }

    /// Once a switch only waits for the old level's appends to drain, no new one starts.
    pub(super) fn switch_pending(&self) -> bool {
        self.levels
            .pending
            .as_ref()
            .is_some_and(|p| p.playlist.is_some())
    }

    /// Carries out the pending switch once its playlist is here and no append is under way.
    pub(super) fn complete_switch_if_ready(&mut self, position_s: f64) {
        let ready = self
            .levels
            .pending
            .as_ref()
            .is_some_and(|p| p.playlist.is_some());
        let Some(stream) = self.stream.as_ref() else {
            return;
        };
        let appending = |slot: &Slot| matches!(slot, Slot::Appending { .. });
        let draining =
            stream.slots.segments.iter().any(appending) || stream.slots.inits.iter().any(appending);
        if !ready || draining || self.evicting() {
            return;
        }
        let pending = self.levels.pending.take().expect("checked above");
        let playlist = pending.playlist.expect("checked above");
        let mime = match self.video_mime(pending.level, &playlist) {
            Ok(mime) => mime,
            Err(message) => return self.fail(super::ErrorKind::Unsupported, message),
        };
        self.leave_swarm();
        self.drop_old_level_work();

        // The viewer's pick shows after the segment playing now; automatic switches play
        // out everything buffered.
        let keep_until_s = if pending.immediate {
            playlist
                .segment_index_at(position_s)
                .map_or(position_s, |i| {
                    let segment = &playlist.segments[i];
                    segment.start_s + segment.duration_s
                })
        } else {
            f64::INFINITY
        };
        let mut slots = SlotTable::new(&playlist);
        if let Some((level, init)) = self.levels.init_in_force {
            if level == pending.level && init < slots.inits.len() {
                slots.inits[init] = Slot::Appended;
            }
        }
        // The video's own SourceBuffer says what it holds: with separate audio the element's
        // ranges stop where the audio does.
        let buffered = self.snapshot.track_buffered(MAIN_TRACK);
        if self.source_buffers_created {
            slots.adopt_buffered(&playlist, buffered, keep_until_s);
        }
        let buffered_end_s = buffered.last().map_or(0.0, |r| r.end_s);
        if self.source_buffers_created && buffered_end_s > keep_until_s {
            self.evictions_pending += 1;
            self.outputs.push_back(Output::Evict {
                track: MAIN_TRACK,
                start_s: keep_until_s,
                end_s: buffered_end_s.max(playlist.duration_s()),
            });
        }
        let old_mime = self.stream.as_ref().map(|s| s.mime.clone());
        if self.source_buffers_created && old_mime.as_deref() != Some(mime.as_str()) {
            self.outputs.push_back(Output::ChangeType {
                track: MAIN_TRACK,
                mime: mime.clone(),
            });
        }
        self.end_of_stream_sent = false;
        self.event(Event::LevelSelected {
            level: pending.level,
        });
        self.stream = Some(Stream {
            level: pending.level,
            playlist,
            slots,
            mime,
            last_append: None,
        });
    }

    /// Cancels the old level's downloads and frees its bodies not yet appended.
    fn drop_old_level_work(&mut self) {
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        let mut orders = Vec::new();
        let mut checks = Vec::new();
        for slot in stream
            .slots
            .segments
            .iter_mut()
            .chain(&mut stream.slots.inits)
        {
            match *slot {
                Slot::Fetching { request, .. } if self.requests.remove(&request).is_some() => {
                    orders.push(Output::CancelFetch { request });
                }
                Slot::Fetched { request } => {
                    self.body_bytes.remove(&request);
                    self.kept_appends.remove(&request);
                    orders.push(Output::ReleaseBody { request });
                }
                Slot::Verifying { request } => checks.push(request),
                _ => {}
            }
            *slot = Slot::NEW;
        }
        for order in &orders {
            if let Output::ReleaseBody { request } = *order {
                self.forget_unchecked(request);
            }
        }
        self.outputs.extend(orders);
        for request in checks {
            self.drop_check(request);
        }
    }

    /// Notes which level an appended segment belongs to, for `LevelSwitched`.
    pub(super) fn record_appended_level(&mut self, index: usize) {
        let Some(stream) = self.stream.as_ref() else {
            return;
        };
        let segment = &stream.playlist.segments[index];
        let (start_s, end_s, level) = (
            segment.start_s,
            segment.start_s + segment.duration_s,
            stream.level,
        );
        self.levels.record_append(start_s, end_s, level);
    }

    /// Reports the level the viewer sees when the playhead enters media of another level.
    pub(super) fn report_shown_level(&mut self, position_s: f64) {
        let Some(level) = self.levels.level_at(position_s) else {
            return;
        };
        if self.levels.shown != Some(level) {
            self.levels.shown = Some(level);
            self.event(Event::LevelSwitched { level });
        }
    }
}

fn abr_level(variant: &crate::hls::Variant) -> AbrLevel {
    AbrLevel {
        bitrate_bps: variant.average_bandwidth.unwrap_or(variant.bandwidth),
        height: variant.resolution.map(|r| r.height),
    }
}
