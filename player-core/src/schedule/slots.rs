//! The life of each fetchable piece of media (segment or init segment) from not loaded to
//! appended, and the forward window of segments the playhead needs next.

use crate::hls::MediaPlaylist;
use crate::player::RequestId;
use crate::time::Instant;

use super::retry::{Failure, RetryPolicy};

use super::buffer::{covers, overlaps, TimeRange};

/// Where one segment or init segment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// Not loaded, nothing under way.
    Idle { failed_attempts: u32 },
    /// An HTTP request is under way.
    Fetching {
        request: RequestId,
        failed_attempts: u32,
    },
    /// The last attempt failed; the next may start at `at`.
    WaitingRetry { at: Instant, failed_attempts: u32 },
    /// The bytes are in the host's store under `request` and are being checked (bytes from a
    /// peer against `segments-sha256.json`): neither appended nor shared until they pass.
    Verifying { request: RequestId },
    /// The bytes are in the host's store under `request`, not yet handed to the media element.
    Fetched { request: RequestId },
    /// An append of the bytes of `request` was ordered and has not finished.
    Appending { request: RequestId },
    /// In the media element's buffer.
    Appended,
}

impl Slot {
    pub const NEW: Slot = Slot::Idle { failed_attempts: 0 };

    /// The attempt under way failed: wait for a retry, or, once `retry` allows no more, go
    /// idle and return how many attempts were made (the caller reports the failure).
    pub fn fail_attempt(
        &mut self,
        now: Instant,
        retry: &RetryPolicy,
        failure: Failure,
    ) -> Option<u32> {
        let failed_attempts = match *self {
            Slot::Fetching {
                failed_attempts, ..
            } => failed_attempts,
            _ => 0,
        } + 1;
        match retry.delay_before_retry(failed_attempts - 1, failure) {
            Some(delay) => {
                *self = Slot::WaitingRetry {
                    at: now + delay,
                    failed_attempts,
                };
                None
            }
            None => {
                *self = Slot::Idle { failed_attempts };
                Some(failed_attempts)
            }
        }
    }

    /// When the retry this slot waits for is due, if it waits for one.
    pub fn retry_at(&self) -> Option<Instant> {
        match *self {
            Slot::WaitingRetry { at, .. } => Some(at),
            _ => None,
        }
    }

    /// A retry whose wait is over becomes idle again, keeping its count of failures.
    pub fn wake_if_retry_due(&mut self, now: Instant) {
        if let Slot::WaitingRetry {
            at,
            failed_attempts,
        } = *self
        {
            if at <= now {
                *self = Slot::Idle { failed_attempts };
            }
        }
    }
}

/// How often the media element may drop a segment we appended before we stop refetching it:
/// protects against a timeline mismatch making us download the same bytes forever.
const MAX_REFETCH_AFTER_EVICTION: u8 = 3;

/// Slots for one media playlist's segments and init segments.
#[derive(Debug)]
pub(crate) struct SlotTable {
    pub segments: Vec<Slot>,
    pub inits: Vec<Slot>,
    evictions: Vec<u8>,
}

impl SlotTable {
    pub fn new(playlist: &MediaPlaylist) -> Self {
        SlotTable {
            segments: vec![Slot::NEW; playlist.segments.len()],
            inits: vec![Slot::NEW; playlist.init_segments.len()],
            evictions: vec![0; playlist.segments.len()],
        }
    }

    /// Adds idle slots for segments and init segments appended to the playlist (a live
    /// reload).
    pub fn grow_to(&mut self, playlist: &MediaPlaylist) {
        self.segments.resize(playlist.segments.len(), Slot::NEW);
        self.evictions.resize(playlist.segments.len(), 0);
        self.inits.resize(playlist.init_segments.len(), Slot::NEW);
    }

    /// Seconds of media loaded (fetched, appending or appended) contiguously from segment
    /// `first` on, counted from `position_s`.
    pub fn loaded_ahead_s(&self, playlist: &MediaPlaylist, position_s: f64, first: usize) -> f64 {
        self.ahead_s(playlist, position_s, first, |slot| {
            matches!(
                slot,
                Slot::Fetched { .. } | Slot::Appending { .. } | Slot::Appended
            )
        })
    }

    /// Like [`SlotTable::loaded_ahead_s`], counting segments being downloaded too.
    pub fn requested_ahead_s(
        &self,
        playlist: &MediaPlaylist,
        position_s: f64,
        first: usize,
    ) -> f64 {
        self.ahead_s(playlist, position_s, first, |slot| {
            matches!(
                slot,
                Slot::Fetching { .. }
                    | Slot::Verifying { .. }
                    | Slot::Fetched { .. }
                    | Slot::Appending { .. }
                    | Slot::Appended
            )
        })
    }

    fn ahead_s(
        &self,
        playlist: &MediaPlaylist,
        position_s: f64,
        first: usize,
        counts: impl Fn(&Slot) -> bool,
    ) -> f64 {
        let loaded_end = self.segments[first.min(self.segments.len())..]
            .iter()
            .zip(&playlist.segments[first.min(playlist.segments.len())..])
            .take_while(|(slot, _)| counts(slot))
            .last()
            .map(|(_, segment)| segment.start_s + segment.duration_s);
        loaded_end.map_or(0.0, |end| (end - position_s).max(0.0))
    }

    /// Segment indices the playhead at `position_s` needs buffered: from the one holding it
    /// to the last that starts within `target_s` seconds ahead.
    pub fn window(
        playlist: &MediaPlaylist,
        position_s: f64,
        target_s: f64,
    ) -> std::ops::Range<usize> {
        let Some(first) = playlist.segment_index_at(position_s) else {
            return 0..0;
        };
        let horizon = position_s + target_s;
        let end = playlist.segments[first..]
            .iter()
            .position(|s| s.start_s >= horizon)
            .map_or(playlist.segments.len(), |n| first + n);
        first..end.max(first + 1)
    }

    /// The earliest retry a segment or init segment waits for.
    pub fn earliest_retry(&self) -> Option<Instant> {
        self.segments
            .iter()
            .chain(&self.inits)
            .filter_map(Slot::retry_at)
            .min()
    }

    /// Marks appended segments that the media element no longer holds as idle again, so they
    /// are fetched if the playhead needs them. Returns how many were released.
    pub fn release_evicted(&mut self, playlist: &MediaPlaylist, buffered: &[TimeRange]) -> usize {
        let mut released = 0;
        for (index, slot) in self.segments.iter_mut().enumerate() {
            let segment = &playlist.segments[index];
            let end_s = segment.start_s + segment.duration_s;
            if *slot == Slot::Appended
                && !overlaps(buffered, segment.start_s, end_s)
                && self.evictions[index] < MAX_REFETCH_AFTER_EVICTION
            {
                self.evictions[index] += 1;
                *slot = Slot::NEW;
                released += 1;
            }
        }
        released
    }

    /// Marks the appended segments that end by `end_s` as idle again: an eviction up to
    /// `end_s` is about to remove them.
    pub fn release_ending_by(&mut self, playlist: &MediaPlaylist, end_s: f64) {
        for (slot, segment) in self.segments.iter_mut().zip(&playlist.segments) {
            if *slot == Slot::Appended && segment.start_s + segment.duration_s <= end_s {
                *slot = Slot::NEW;
            }
        }
    }

    /// Marks the segments that end by `until_s` and whose time the media element already
    /// holds (from another level) as appended, so a level switch does not fetch them again.
    pub fn adopt_buffered(
        &mut self,
        playlist: &MediaPlaylist,
        buffered: &[TimeRange],
        until_s: f64,
    ) {
        for (slot, segment) in self.segments.iter_mut().zip(&playlist.segments) {
            let end_s = segment.start_s + segment.duration_s;
            if end_s <= until_s && covers(buffered, segment.start_s, end_s) {
                *slot = Slot::Appended;
            }
        }
    }

    /// The SourceBuffer this table feeds was replaced by an empty one: what was appended or
    /// being appended goes back to be fetched again. Returns the requests whose appends were
    /// under way (their bodies are no longer wanted).
    pub fn forget_buffer(&mut self) -> Vec<RequestId> {
        let mut appending = Vec::new();
        for slot in self.segments.iter_mut().chain(self.inits.iter_mut()) {
            match *slot {
                Slot::Appending { request } => {
                    appending.push(request);
                    *slot = Slot::NEW;
                }
                Slot::Appended => *slot = Slot::NEW,
                _ => {}
            }
        }
        appending
    }

    /// Finds the slot (segment or init) that `request` belongs to, in any state naming it.
    pub fn find_request(&mut self, request: RequestId) -> Option<&mut Slot> {
        self.segments
            .iter_mut()
            .chain(self.inits.iter_mut())
            .find(|slot| {
                matches!(**slot,
                Slot::Fetching { request: r, .. }
                    | Slot::Verifying { request: r }
                    | Slot::Fetched { request: r }
                    | Slot::Appending { request: r }
                if r == request)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hls::{parse_playlist, Playlist};

    fn vod(segments: usize) -> MediaPlaylist {
        let mut text = String::from("#EXTM3U\n#EXT-X-TARGETDURATION:4\n");
        for i in 0..segments {
            text.push_str(&format!("#EXTINF:4.0,\ns{i}.ts\n"));
        }
        text.push_str("#EXT-X-ENDLIST\n");
        match parse_playlist(text.as_bytes(), "http://x/v.m3u8").unwrap() {
            Playlist::Media(m) => m,
            Playlist::Multivariant(_) => unreachable!(),
        }
    }

    #[test]
    fn window_covers_the_target_ahead() {
        let p = vod(30);
        assert_eq!(SlotTable::window(&p, 0.0, 30.0), 0..8);
        assert_eq!(SlotTable::window(&p, 5.0, 30.0), 1..9);
        assert_eq!(SlotTable::window(&p, 110.0, 30.0), 27..30);
        assert_eq!(SlotTable::window(&p, 500.0, 30.0), 29..30);
    }

    #[test]
    fn eviction_release_is_bounded() {
        let p = vod(3);
        let mut table = SlotTable::new(&p);
        for _ in 0..5 {
            table.segments[0] = Slot::Appended;
            table.release_evicted(
                &p,
                &[TimeRange {
                    start_s: 4.0,
                    end_s: 12.0,
                }],
            );
        }
        assert_eq!(
            table.segments[0],
            Slot::Appended,
            "gives up after repeated evictions"
        );
    }
}
