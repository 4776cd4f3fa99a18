//! The lanes: one per SourceBuffer, each a media playlist with the state of its segments
//! ([`SlotTable`]) feeding one [`TrackId`]. The video lane is the level being played
//! ([`super::Stream`], on `MAIN_TRACK`); the audio lane is the separate audio rendition
//! (audio.rs, on `AUDIO_TRACK`) when the variant has one.
//!
//! What both lanes do the same way lives here once: naming their requests
//! ([`Lane::request_kind`] and back) and their slots, fetching their init segments and
//! segments over HTTP nearest first, cancelling what left the forward window and waking due
//! retries, releasing what an eviction removed, ordering appends (each segment after its
//! init segment), and telling what is appended. What only the video lane does (P2P,
//! integrity checks, mirrors, levels, live, sequence-mode offsets) is layered on top in
//! mod.rs and its modules; how far ahead the audio goes beside the video is audio.rs's.

use std::ops::Range;

use super::{
    audio::{AudioLane, AUDIO_TRACK},
    FetchOrder, FetchPurpose, Output, Player, RequestId, RequestKind, Stream, TrackId, MAIN_TRACK,
};
use crate::hls::MediaPlaylist;
use crate::schedule::{Slot, SlotTable};

/// Which lane: the video (the level being played) or the separate audio rendition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Lane {
    Video,
    Audio,
}

/// A piece of a lane's media: an init segment or a segment, by index in its playlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MediaItem {
    Init(usize),
    Segment(usize),
}

impl Lane {
    /// The SourceBuffer the lane feeds.
    pub(super) fn track(self) -> TrackId {
        match self {
            Lane::Video => MAIN_TRACK,
            Lane::Audio => AUDIO_TRACK,
        }
    }

    /// The request that fetches `item` of this lane.
    pub(super) fn request_kind(self, item: MediaItem) -> RequestKind {
        match (self, item) {
            (Lane::Video, MediaItem::Init(i)) => RequestKind::Init(i),
            (Lane::Video, MediaItem::Segment(i)) => RequestKind::Segment(i),
            (Lane::Audio, MediaItem::Init(i)) => RequestKind::AudioInit(i),
            (Lane::Audio, MediaItem::Segment(i)) => RequestKind::AudioSegment(i),
        }
    }

    /// The lane and the piece of media a request fetches; `None` for playlists.
    pub(super) fn of_request(kind: RequestKind) -> Option<(Lane, MediaItem)> {
        match kind {
            RequestKind::Init(i) => Some((Lane::Video, MediaItem::Init(i))),
            RequestKind::Segment(i) => Some((Lane::Video, MediaItem::Segment(i))),
            RequestKind::AudioInit(i) => Some((Lane::Audio, MediaItem::Init(i))),
            RequestKind::AudioSegment(i) => Some((Lane::Audio, MediaItem::Segment(i))),
            RequestKind::Playlist
            | RequestKind::LiveReload
            | RequestKind::AudioPlaylist
            | RequestKind::IntegrityFile
            | RequestKind::IntegrityRefetch => None,
        }
    }

    /// What error messages call the lane's media ("segment 3 …", "audio segment 3 …").
    fn name_prefix(self) -> &'static str {
        match self {
            Lane::Video => "",
            Lane::Audio => "audio ",
        }
    }

    /// The lane's playlist and slots, borrowed from the player's fields so that the caller
    /// may use its other fields meanwhile. `None` while the lane has no media playlist.
    pub(super) fn media_mut<'a>(
        self,
        stream: &'a mut Option<Stream>,
        audio: &'a mut Option<AudioLane>,
    ) -> Option<LaneMediaMut<'a>> {
        let (playlist, slots) = match self {
            Lane::Video => stream.as_mut().map(|s| (&s.playlist, &mut s.slots))?,
            Lane::Audio => audio.as_mut()?.media_mut()?,
        };
        Some(LaneMediaMut {
            lane: self,
            playlist,
            slots,
        })
    }
}

/// A lane's media playlist and the state of its segments.
pub(super) struct LaneMedia<'a> {
    pub(super) playlist: &'a MediaPlaylist,
    pub(super) slots: &'a SlotTable,
}

impl LaneMedia<'_> {
    /// Whether the segment at `position_s` is appended.
    pub(super) fn appended_at(&self, position_s: f64) -> bool {
        self.playlist
            .segment_index_at(position_s)
            .is_some_and(|i| self.slots.segments[i] == Slot::Appended)
    }

    /// Whether the playlist is complete and every segment from `position_s` to its end is
    /// appended; `None` when `position_s` is outside the playlist.
    pub(super) fn appended_to_end(&self, position_s: f64) -> Option<bool> {
        let first = self.playlist.segment_index_at(position_s)?;
        Some(
            self.playlist.ended
                && self.slots.segments[first..]
                    .iter()
                    .all(|s| *s == Slot::Appended),
        )
    }

    /// The init segment or segment whose append `request` is.
    pub(super) fn appending(&self, request: RequestId) -> Option<MediaItem> {
        let appending = Slot::Appending { request };
        let init = self.slots.inits.iter().position(|s| *s == appending);
        let segment = self.slots.segments.iter().position(|s| *s == appending);
        init.map(MediaItem::Init)
            .or(segment.map(MediaItem::Segment))
    }
}

/// A lane's media playlist and the state of its segments, to change.
pub(super) struct LaneMediaMut<'a> {
    lane: Lane,
    pub(super) playlist: &'a MediaPlaylist,
    pub(super) slots: &'a mut SlotTable,
}

impl<'a> LaneMediaMut<'a> {
    /// The slot of `item`.
    pub(super) fn slot(self, item: MediaItem) -> &'a mut Slot {
        match item {
            MediaItem::Init(i) => &mut self.slots.inits[i],
            MediaItem::Segment(i) => &mut self.slots.segments[i],
        }
    }

    /// The slot of `item`, and what to call it in an error.
    pub(super) fn slot_and_name(self, item: MediaItem) -> (&'a mut Slot, String) {
        let prefix = self.lane.name_prefix();
        let name = match item {
            MediaItem::Init(i) => {
                let url = &self.playlist.init_segments[i].uri;
                format!("{prefix}init segment {url}")
            }
            MediaItem::Segment(i) => {
                let segment = &self.playlist.segments[i];
                let range = segment
                    .byte_range
                    .map(|r| format!(" ({})", r.to_http_range()))
                    .unwrap_or_default();
                format!("{prefix}segment {i} {}{range}", segment.uri)
            }
        };
        (self.slot(item), name)
    }
}

impl Player {
    /// The lane's playlist and slots; see [`Lane::media_mut`].
    pub(super) fn lane_media_mut(&mut self, lane: Lane) -> Option<LaneMediaMut<'_>> {
        lane.media_mut(&mut self.stream, &mut self.audio)
    }

    /// The lane's playlist and slots, once its media playlist is loaded.
    pub(super) fn lane_media(&self, lane: Lane) -> Option<LaneMedia<'_>> {
        let (playlist, slots) = match lane {
            Lane::Video => self.stream.as_ref().map(|s| (&s.playlist, &s.slots))?,
            Lane::Audio => self.audio.as_ref()?.media()?,
        };
        Some(LaneMedia { playlist, slots })
    }

    /// Marks the lane's appended segments its SourceBuffer no longer holds as not loaded.
    /// Each lane reads its own SourceBuffer: the element's ranges end where the lagging
    /// track ends, which is no eviction of the other.
    pub(super) fn release_evicted(&mut self, lane: Lane) {
        let buffered = self.snapshot.track_buffered(lane.track());
        if let Some(media) = lane.media_mut(&mut self.stream, &mut self.audio) {
            media.slots.release_evicted(media.playlist, buffered);
        }
    }

    /// Cancels the lane's downloads of segments outside `window` (the playhead no longer needs
    /// them), forgets their retries, and wakes the retries that are due. Returns what an HTTP
    /// cancel does not end, for the video lane to drop.
    pub(super) fn prune_fetches(&mut self, lane: Lane, window: Range<usize>) -> Unneeded {
        let now = self.now;
        let mut unneeded = Unneeded::default();
        let Some(media) = lane.media_mut(&mut self.stream, &mut self.audio) else {
            return unneeded;
        };
        for (index, slot) in media.slots.segments.iter_mut().enumerate() {
            let needed = window.contains(&index);
            match *slot {
                Slot::Verifying { request } if !needed => {
                    unneeded.checks.push(request);
                    *slot = Slot::NEW;
                }
                Slot::Fetching { request, .. } if !needed => {
                    if self.requests.remove(&request).is_some() {
                        self.outputs.push_back(Output::CancelFetch { request });
                    } else {
                        unneeded.peer_downloads.push(request);
                    }
                    *slot = Slot::NEW;
                }
                Slot::WaitingRetry { .. } if !needed => *slot = Slot::NEW,
                _ => slot.wake_if_retry_due(now),
            }
        }
        for slot in media.slots.inits.iter_mut() {
            slot.wake_if_retry_due(now);
        }
        unneeded
    }

    /// An init segment, or a segment that needs no check (the audio's), arrived over HTTP:
    /// it waits for its append. The video's segments go through `receive_segment`
    /// (verify.rs) instead.
    pub(super) fn on_media_fetched(&mut self, request: RequestId, kind: RequestKind) {
        let Some((lane, item)) = Lane::of_request(kind) else {
            return;
        };
        let Some(media) = self.lane_media_mut(lane) else {
            return;
        };
        *media.slot(item) = Slot::Fetched { request };
        if let MediaItem::Segment(_) = item {
            self.http_pipe
                .transfer_completed(self.now, &mut self.http_bandwidth);
        }
    }

    /// The lane's slot (segment or init) naming `request`, in any state.
    pub(super) fn lane_slot_of_request(
        &mut self,
        lane: Lane,
        request: RequestId,
    ) -> Option<&mut Slot> {
        self.lane_media_mut(lane)?.slots.find_request(request)
    }

    /// HTTP requests for the lane's segments under way.
    pub(super) fn segments_in_flight(&self, lane: Lane) -> usize {
        self.requests
            .values()
            .filter(|r| {
                matches!(Lane::of_request(r.kind), Some((l, MediaItem::Segment(_))) if l == lane)
            })
            .count()
    }

    /// Starts HTTP downloads of the lane's media for the window, nearest first, within the
    /// concurrency limit shared by both lanes.
    pub(super) fn schedule_http_fetches(
        &mut self,
        lane: Lane,
        window: Range<usize>,
        thin_buffer: bool,
    ) {
        let max_concurrent = self.config.max_concurrent_http.max(1);
        for index in window {
            if self.http_media_in_flight() >= max_concurrent {
                break;
            }
            let Some(media) = self.lane_media_mut(lane) else {
                return;
            };
            let init = media.playlist.segments[index]
                .init_segment
                .map(|i| (i, media.slots.inits[i]));
            let segment_slot = media.slots.segments[index];
            if let Some((init, Slot::Idle { failed_attempts })) = init {
                // The init and the segment at the playhead go out together: startup needs
                // both.
                self.fetch_media(lane.request_kind(MediaItem::Init(init)), failed_attempts);
                if self.http_media_in_flight() >= max_concurrent {
                    break;
                }
            }
            if let Slot::Idle { failed_attempts } = segment_slot {
                self.fetch_media(
                    lane.request_kind(MediaItem::Segment(index)),
                    failed_attempts,
                );
            }
            // While the buffer ahead is thin, segments go one at a time in playback order:
            // parallel downloads share the connection and delay the one needed next.
            if thin_buffer && self.segments_in_flight(lane) > 0 {
                break;
            }
        }
    }

    /// Fetches an init segment or a segment of either lane over HTTP. A video segment may go
    /// to a mirror (mirrors.rs); the audio always comes from the origin.
    pub(super) fn fetch_media(&mut self, kind: RequestKind, failed_attempts: u32) {
        let (lane, item) = Lane::of_request(kind).expect("only called for media requests");
        let playlist = self
            .lane_media(lane)
            .expect("only called while the lane has its playlist")
            .playlist;
        let (url, range, purpose) = match item {
            MediaItem::Init(i) => {
                let init = &playlist.init_segments[i];
                (init.uri.clone(), init.byte_range, FetchPurpose::InitSegment)
            }
            MediaItem::Segment(i) => {
                let segment = &playlist.segments[i];
                (
                    segment.uri.clone(),
                    segment.byte_range,
                    FetchPurpose::MediaSegment,
                )
            }
        };
        let mirror = match (lane, item) {
            (Lane::Video, MediaItem::Segment(i)) => self.choose_mirror(i),
            _ => None,
        };
        let request = self.new_request(kind, range);
        let url = match mirror {
            Some((mirror, mirror_url)) => {
                if let Some(in_flight) = self.requests.get_mut(&request) {
                    in_flight.mirror = Some(mirror);
                }
                mirror_url
            }
            None => url,
        };
        if let Some(media) = self.lane_media_mut(lane) {
            *media.slot(item) = Slot::Fetching {
                request,
                failed_attempts,
            };
        }
        self.outputs.push_back(Output::Fetch(FetchOrder {
            request,
            url,
            range,
            purpose,
            want_text: false,
            append_to_stored: false,
        }));
    }
}

/// Orders the appends of the fetched segments of a lane in playback order, each after its
/// init segment (once), and marks them appending; only one append when `one_only`.
/// `segment_append` makes a segment's order (the video lane adds what sequence mode and P2P
/// need).
pub(super) fn order_appends(
    slots: &mut SlotTable,
    playlist: &MediaPlaylist,
    track: TrackId,
    one_only: bool,
    mut segment_append: impl FnMut(usize, RequestId) -> Output,
) -> Vec<Output> {
    let mut orders = Vec::new();
    for index in 0..slots.segments.len() {
        let Slot::Fetched { request } = slots.segments[index] else {
            continue;
        };
        if one_only && !orders.is_empty() {
            break;
        }
        if !order_init_append(slots, playlist, index, track, &mut orders) {
            continue;
        }
        orders.push(segment_append(index, request));
        slots.segments[index] = Slot::Appending { request };
    }
    orders
}

/// Orders the append of segment `index`'s init segment when it is fetched and not in the
/// SourceBuffer yet, so that it goes in first; `false` while the init segment is not loaded
/// (the segment must wait).
fn order_init_append(
    slots: &mut SlotTable,
    playlist: &MediaPlaylist,
    index: usize,
    track: TrackId,
    orders: &mut Vec<Output>,
) -> bool {
    let Some(init) = playlist.segments[index].init_segment else {
        return true;
    };
    match slots.inits[init] {
        Slot::Fetched { request } => {
            orders.push(Output::Append {
                track,
                request,
                keep: false,
                timestamp_offset_s: None,
            });
            slots.inits[init] = Slot::Appending { request };
            true
        }
        Slot::Appending { .. } | Slot::Appended => true,
        _ => false,
    }
}

/// Requests of segments that left the window which an HTTP cancel does not end: the video
/// lane's integrity checks (verify.rs) and peer downloads (p2p.rs).
#[derive(Debug, Default)]
pub(super) struct Unneeded {
    /// Bodies being checked against the integrity file.
    pub(super) checks: Vec<RequestId>,
    /// Downloads under way with no HTTP request behind them: from peers.
    pub(super) peer_downloads: Vec<RequestId>,
}
