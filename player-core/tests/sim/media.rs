//! The simulated media element with one SourceBuffer per track the core creates (the video,
//! and a separate audio rendition's): buffered ranges built from the playlist times of
//! appended segments, per SourceBuffer and for the element (their intersection, as MSE
//! defines `HTMLMediaElement.buffered`), a playhead that advances in playback time over what
//! every track holds, seeking, eviction, a byte quota, and stall accounting.
//!
//! Simplifications, on purpose: media times are exactly the playlist's (no priming offsets),
//! each SourceBuffer runs one operation at a time (like `updating` forces the JS shim to)
//! while different SourceBuffers run side by side, and the quota (over all SourceBuffers
//! together) is checked before an append instead of the browser evicting on its own first.

use std::collections::{BTreeMap, VecDeque};

use player_core::player::{MediaSnapshot, RequestId, TrackBuffered, TrackId};
use player_core::schedule::TimeRange;
use player_core::{Duration, Input, Instant};

use super::clock::secs;

/// Below this, two times are the same: segment edges are sums of float durations.
const EPSILON_S: f64 = 1e-6;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MediaConfig {
    /// How long one append takes.
    pub append_delay: Duration,
    /// How long one eviction takes.
    pub evict_delay: Duration,
    /// Bytes the SourceBuffer holds before appends fail with QuotaExceededError.
    pub quota_bytes: u64,
    /// Whether the element plays as soon as it can (otherwise it starts paused).
    pub autoplay: bool,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            append_delay: Duration::from_millis(20),
            evict_delay: Duration::from_millis(10),
            quota_bytes: u64::MAX,
            autoplay: true,
        }
    }
}

/// What an append carries, as the host knows it from the request's URL and range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Piece {
    Init {
        level: usize,
    },
    Segment {
        level: usize,
        index: usize,
        start_s: f64,
        end_s: f64,
    },
    /// Bytes that are not one segment (e.g. a whole file): the browser would reject them.
    Garbage,
}

/// The SourceBuffer the core puts a separate audio rendition on.
pub const AUDIO_TRACK: TrackId = TrackId(1);

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SourceBufferOp {
    Append {
        track: TrackId,
        request: RequestId,
        piece: Piece,
        bytes: u64,
    },
    Evict {
        track: TrackId,
        start_s: f64,
        end_s: f64,
    },
}

impl SourceBufferOp {
    fn track(&self) -> TrackId {
        match *self {
            SourceBufferOp::Append { track, .. } | SourceBufferOp::Evict { track, .. } => track,
        }
    }
}

/// Media of one appended segment still in a SourceBuffer (trimmed by evictions).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chunk {
    pub track: TrackId,
    pub level: usize,
    pub index: usize,
    pub start_s: f64,
    pub end_s: f64,
    pub bytes: u64,
}

/// A time the playhead waited for data in the middle of playback.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stall {
    pub start: Instant,
    pub end: Option<Instant>,
    pub position_s: f64,
}

/// One SourceBuffer: its operations and the init segment in force.
#[derive(Debug, Default)]
struct SourceBuffer {
    /// The level of the init segment appended last: MSE parses what follows with it.
    last_init: Option<usize>,
    queue: VecDeque<SourceBufferOp>,
    busy: Option<SourceBufferOp>,
}

#[derive(Debug)]
pub struct MediaElement {
    pub config: MediaConfig,
    /// Up to when the playhead has been advanced.
    clock: Instant,
    pub position_s: f64,
    pub paused: bool,
    pub seeking: bool,
    pub ended: bool,
    /// `playbackRate`: media seconds per second of simulated time.
    pub rate: f64,
    pub duration_s: Option<f64>,
    /// `endOfStream()` was called and no append reopened the MediaSource since.
    pub end_of_stream: bool,
    /// The playhead has moved at least once: waiting before that is startup, not a stall.
    pub started: bool,
    /// What every SourceBuffer holds.
    pub chunks: Vec<Chunk>,
    /// The SourceBuffers, by track.
    buffers: BTreeMap<TrackId, SourceBuffer>,
    pub stalls: Vec<Stall>,
    /// Things a real browser would have refused.
    pub violations: Vec<String>,
    /// An append failed to parse: MSE ended the MediaSource with a decode error and the
    /// element plays nothing more (until the host attaches a new MediaSource).
    pub failed: bool,
}

impl MediaElement {
    pub fn new(config: MediaConfig, now: Instant) -> Self {
        MediaElement {
            config,
            clock: now,
            position_s: 0.0,
            paused: !config.autoplay,
            seeking: false,
            ended: false,
            rate: 1.0,
            duration_s: None,
            end_of_stream: false,
            started: false,
            chunks: Vec::new(),
            buffers: BTreeMap::new(),
            stalls: Vec::new(),
            violations: Vec::new(),
            failed: false,
        }
    }

    /// The element with a new MediaSource (the host's answer to `RecreateMedia`): no
    /// SourceBuffers and no media; position, pause state, rate, clock and stall record stay.
    pub fn recreated(&mut self) -> MediaElement {
        MediaElement {
            clock: self.clock,
            position_s: self.position_s,
            paused: self.paused,
            rate: self.rate,
            started: self.started,
            stalls: std::mem::take(&mut self.stalls),
            violations: std::mem::take(&mut self.violations),
            ..MediaElement::new(self.config, self.clock)
        }
    }

    /// `MediaSource.addSourceBuffer` for each track.
    pub fn create_source_buffers(&mut self, tracks: &[TrackId]) {
        for &track in tracks {
            if self
                .buffers
                .insert(track, SourceBuffer::default())
                .is_some()
            {
                self.violations
                    .push(format!("a second SourceBuffer for {track:?}"));
            }
        }
    }

    /// The tracks that have a SourceBuffer, in order.
    pub fn tracks(&self) -> Vec<TrackId> {
        self.buffers.keys().copied().collect()
    }

    /// What `track`'s SourceBuffer holds (`SourceBuffer.buffered`): its chunks' time ranges,
    /// merged where they touch, in order.
    pub fn track_buffered(&self, track: TrackId) -> Vec<TimeRange> {
        let mut spans: Vec<(f64, f64)> = self
            .chunks
            .iter()
            .filter(|c| c.track == track)
            .map(|c| (c.start_s, c.end_s))
            .collect();
        spans.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut merged: Vec<TimeRange> = Vec::new();
        for (start_s, end_s) in spans {
            match merged.last_mut() {
                Some(last) if start_s <= last.end_s + EPSILON_S => {
                    last.end_s = last.end_s.max(end_s)
                }
                _ => merged.push(TimeRange { start_s, end_s }),
            }
        }
        merged
    }

    /// The element's buffered ranges (`HTMLMediaElement.buffered`): the intersection of every
    /// SourceBuffer's. Once the MediaSource has ended, each SourceBuffer's last range counts
    /// as reaching the highest end of them all (MSE's rule, so that a track ending a little
    /// earlier does not keep the other from playing out).
    pub fn buffered(&self) -> Vec<TimeRange> {
        let mut per_track: Vec<Vec<TimeRange>> = self
            .buffers
            .keys()
            .map(|&track| self.track_buffered(track))
            .collect();
        if self.end_of_stream {
            let highest = per_track
                .iter()
                .filter_map(|ranges| ranges.last().map(|r| r.end_s))
                .fold(f64::NEG_INFINITY, f64::max);
            for ranges in &mut per_track {
                if let Some(last) = ranges.last_mut() {
                    last.end_s = last.end_s.max(highest);
                }
            }
        }
        let mut tracks = per_track.into_iter();
        let Some(first) = tracks.next() else {
            return Vec::new();
        };
        tracks.fold(first, |acc, ranges| intersect(&acc, &ranges))
    }

    /// End of the buffered range holding `position_s`, if it has media ahead.
    pub fn buffered_end_at(&self, position_s: f64) -> Option<f64> {
        self.buffered()
            .into_iter()
            .find(|r| r.start_s <= position_s + EPSILON_S && position_s < r.end_s - EPSILON_S)
            .map(|r| r.end_s)
    }

    /// Seconds buffered contiguously ahead of the playhead.
    pub fn buffered_ahead_s(&self) -> f64 {
        self.buffered_end_at(self.position_s)
            .map_or(0.0, |end| end - self.position_s)
    }

    pub fn used_bytes(&self) -> u64 {
        self.chunks.iter().map(|c| c.bytes).sum()
    }

    /// Whether all `duration_s` seconds of segment `index` of `level` are in the buffer.
    pub fn holds_segment(&self, level: usize, index: usize, duration_s: f64) -> bool {
        self.chunks.iter().any(|c| {
            c.level == level && c.index == index && c.end_s - c.start_s >= duration_s - EPSILON_S
        })
    }

    /// Whether the init segment in force (the one appended last) of some SourceBuffer is
    /// this level's.
    pub fn holds_init(&self, level: usize) -> bool {
        self.buffers.values().any(|b| b.last_init == Some(level))
    }

    /// Whether an append of this piece is queued or running.
    pub fn appending(&self, matches: impl Fn(&Piece) -> bool) -> bool {
        self.buffers
            .values()
            .flat_map(|b| b.busy.iter().chain(&b.queue))
            .any(|op| match op {
                SourceBufferOp::Append { piece, .. } => matches(piece),
                SourceBufferOp::Evict { .. } => false,
            })
    }

    fn at_end(&self) -> bool {
        self.duration_s
            .is_some_and(|d| self.position_s >= d - EPSILON_S)
    }

    pub fn snapshot(&self) -> MediaSnapshot {
        MediaSnapshot {
            position_s: self.position_s,
            buffered: self.buffered(),
            paused: self.paused,
            seeking: self.seeking,
            ended: self.ended,
            playback_rate: self.rate,
            tracks: self
                .buffers
                .keys()
                .map(|&track| TrackBuffered {
                    track,
                    buffered: self.track_buffered(track),
                })
                .collect(),
        }
    }

    fn open_stall(&mut self) -> Option<&mut Stall> {
        self.stalls.last_mut().filter(|s| s.end.is_none())
    }

    /// Brings the element's flags in line with its buffer after anything changed.
    fn settle(&mut self, now: Instant) {
        let has_data = self.buffered_end_at(self.position_s).is_some();
        // A seek to the very end completes once the MediaSource has ended: there is no media
        // at the duration itself, only the end of the stream.
        if self.seeking && (has_data || (self.end_of_stream && self.at_end())) {
            self.seeking = false;
        }
        let waiting_over =
            !self.failed && (has_data || self.paused || self.seeking || self.at_end());
        if let Some(stall) = self.open_stall() {
            if waiting_over {
                stall.end = Some(now);
            }
        }
        if !self.ended && self.end_of_stream && self.at_end() {
            self.ended = true;
        }
    }

    fn begin_stall(&mut self, at: Instant) {
        if self.started && self.open_stall().is_none() && !self.at_end() {
            let position_s = self.position_s;
            self.stalls.push(Stall {
                start: at,
                end: None,
                position_s,
            });
        }
    }

    /// Plays from the last advance up to `to`: the playhead moves over buffered media only.
    pub fn advance(&mut self, to: Instant) {
        if to <= self.clock {
            return;
        }
        let from = self.clock;
        self.clock = to;
        self.settle(from);
        if self.failed {
            self.begin_stall(from);
            return;
        }
        if self.paused || self.seeking || self.ended || self.duration_s.is_none() {
            return;
        }
        let Some(end_s) = self.buffered_end_at(self.position_s) else {
            self.begin_stall(from);
            return;
        };
        self.started = true;
        let room_s = end_s - self.position_s;
        let played_s = to.saturating_since(from).as_secs_f64() * self.rate;
        if played_s < room_s {
            self.position_s += played_s;
        } else {
            self.position_s = end_s;
            self.begin_stall(from + Duration::from_secs_f64(room_s / self.rate));
        }
        self.settle(to);
    }

    /// Sets the playhead, as `currentTime = x` does: seeking until the position is buffered.
    pub fn seek(&mut self, now: Instant, position_s: f64) {
        let limit = self.duration_s.unwrap_or(f64::INFINITY);
        self.position_s = position_s.clamp(0.0, limit);
        self.seeking = true;
        self.ended = false;
        self.settle(now);
    }

    pub fn set_paused(&mut self, now: Instant, paused: bool) {
        self.paused = paused;
        self.settle(now);
    }

    pub fn set_end_of_stream(&mut self, now: Instant) {
        self.end_of_stream = true;
        // endOfStream() sets the duration to the end of the buffered media (MSE's duration
        // change with the highest end time).
        if let Some(end_s) = self.chunks.iter().map(|c| c.end_s).max_by(f64::total_cmp) {
            self.duration_s = Some(end_s);
        }
        self.settle(now);
    }

    /// Queues an operation on its track's SourceBuffer; returns when it finishes if it starts
    /// right away.
    pub fn enqueue(&mut self, now: Instant, op: SourceBufferOp) -> Option<Instant> {
        let track = op.track();
        if self.failed {
            self.violations
                .push(format!("{op:?} after the MediaSource failed"));
        }
        if !self.buffers.contains_key(&track) {
            self.violations
                .push(format!("{op:?} on {track:?}, which has no SourceBuffer"));
        }
        let buffer = self.buffers.entry(track).or_default();
        buffer.queue.push_back(op);
        if buffer.busy.is_some() {
            return None;
        }
        self.start_next(now, track)
    }

    fn start_next(&mut self, now: Instant, track: TrackId) -> Option<Instant> {
        let buffer = self.buffers.get_mut(&track)?;
        let op = buffer.queue.pop_front()?;
        let delay = match op {
            SourceBufferOp::Append { .. } => self.config.append_delay,
            SourceBufferOp::Evict { .. } => self.config.evict_delay,
        };
        buffer.busy = Some(op);
        Some(now + delay)
    }

    /// Finishes the running operation of `track`'s SourceBuffer: the input to report, the
    /// operation itself and when the next one finishes.
    pub fn finish(
        &mut self,
        now: Instant,
        track: TrackId,
    ) -> (Input, SourceBufferOp, Option<Instant>) {
        let op = self
            .buffers
            .get_mut(&track)
            .and_then(|b| b.busy.take())
            .expect("a SourceBuffer event only while busy");
        let input = match op {
            SourceBufferOp::Append {
                track,
                request,
                piece,
                bytes,
            } => self.append(track, request, piece, bytes),
            SourceBufferOp::Evict {
                track,
                start_s,
                end_s,
            } => {
                self.remove(track, start_s, end_s);
                Input::EvictDone { track }
            }
        };
        self.settle(now);
        (input, op, self.start_next(now, track))
    }

    fn append(&mut self, track: TrackId, request: RequestId, piece: Piece, bytes: u64) -> Input {
        let buffer = self.buffers.entry(track).or_default();
        match piece {
            Piece::Init { level } => {
                buffer.last_init = Some(level);
            }
            Piece::Segment {
                level,
                index,
                start_s,
                end_s,
            } => {
                if buffer.last_init != Some(level) {
                    let last_init = buffer.last_init;
                    self.violations.push(format!(
                        "segment {index} of level {level} appended to {track:?} after the init \
                         segment of level {last_init:?}"
                    ));
                }
                if self.used_bytes().saturating_add(bytes) > self.config.quota_bytes {
                    return Input::AppendFailed {
                        request,
                        quota_exceeded: true,
                        message: "QuotaExceededError".into(),
                    };
                }
                // Appending over buffered media replaces it, as MSE's coded frame processing does.
                self.remove(track, start_s, end_s);
                self.chunks.push(Chunk {
                    track,
                    level,
                    index,
                    start_s,
                    end_s,
                    bytes,
                });
                // appendBuffer() on an ended MediaSource reopens it.
                self.end_of_stream = false;
                // Media past the duration (or with none set, as for live) extends it, as
                // MSE's coded frame processing does.
                if self.duration_s.is_none_or(|d| end_s > d) {
                    self.duration_s = Some(end_s);
                }
            }
            Piece::Garbage => {
                self.violations.push(format!(
                    "{request:?}: appended bytes that are not a segment"
                ));
                self.failed = true;
                return Input::AppendFailed {
                    request,
                    quota_exceeded: false,
                    message: "CHUNK_DEMUXER_ERROR_APPEND_FAILED".into(),
                };
            }
        }
        Input::AppendDone { request }
    }

    /// `SourceBuffer.remove(start, end)` on `track`'s SourceBuffer: chunks are cut, their
    /// bytes shrink in proportion.
    fn remove(&mut self, track: TrackId, start_s: f64, end_s: f64) {
        let mut kept = Vec::new();
        for chunk in self.chunks.drain(..) {
            if chunk.track != track
                || chunk.end_s <= start_s + EPSILON_S
                || chunk.start_s >= end_s - EPSILON_S
            {
                kept.push(chunk);
                continue;
            }
            let span = chunk.end_s - chunk.start_s;
            for (from, to) in [(chunk.start_s, start_s), (end_s, chunk.end_s)] {
                if to - from > EPSILON_S {
                    kept.push(Chunk {
                        start_s: from,
                        end_s: to,
                        bytes: (chunk.bytes as f64 * (to - from) / span).round() as u64,
                        ..chunk
                    });
                }
            }
        }
        self.chunks = kept;
    }

    /// Seconds of stall still open or finished, up to `now`.
    pub fn stalled_s(&self, now: Instant) -> f64 {
        // Float sums start at -0.0: no stall reads as 0.
        self.stalls
            .iter()
            .map(|s| secs(s.end.unwrap_or(now)) - secs(s.start))
            .sum::<f64>()
            + 0.0
    }
}

/// The ranges both lists cover (ranges in order, not overlapping), as MSE intersects
/// SourceBuffers' ranges; slivers thinner than the tolerance are dropped.
fn intersect(a: &[TimeRange], b: &[TimeRange]) -> Vec<TimeRange> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let start_s = a[i].start_s.max(b[j].start_s);
        let end_s = a[i].end_s.min(b[j].end_s);
        if end_s - start_s > EPSILON_S {
            out.push(TimeRange { start_s, end_s });
        }
        if a[i].end_s < b[j].end_s {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}
