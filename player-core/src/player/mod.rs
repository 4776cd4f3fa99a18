//! The player state machine: loads playlists, picks a level, fetches segments over HTTP into a
//! forward buffer, appends them in order, retries failures, re-creates the media element when
//! an append or decode error killed it (recover.rs), and reports what it does.
//!
//! Each SourceBuffer is fed by a lane (lane.rs): the video lane is the level being played
//! (`Stream`), the audio lane the separate audio rendition (audio.rs). Both fetch, cancel,
//! release and append through the same lane code; this module adds on top what only the
//! video has (levels, live, P2P, integrity checks, mirrors).
//!
//! Drive it with [`Player::handle_input`] and drain [`Player::poll_output`] until it returns
//! [`Output::Timeout`].

mod audio;
mod io;
mod lane;
mod levels;
mod live;
mod media;
mod mirrors;
mod p2p;
mod recover;
mod verify;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

pub use io::{
    Ban, BanKind, Bytes, ErrorKind, Event, FetchOrder, FetchPurpose, Input, IntegrityCheck,
    LevelInfo, MediaSnapshot, Output, RecoveryReason, RequestId, SegmentSource, Stats,
    TrackBuffered, TrackId, TrackSpec,
};

use crate::config::Config;
use crate::hls::{parse_playlist, ByteRange, MediaPlaylist, Playlist, Variant};
use crate::schedule::{
    buffered_ahead_s, gap_jump_target, range_containing, BandwidthEstimator, Failure, PipeMeter,
    Slot, SlotTable,
};
use crate::time::{Duration, Instant};
use lane::{Lane, MediaItem};

/// How often the core wants to look at the media element when nothing else happens.
const TICK: Duration = Duration::from_millis(250);

/// Below this many target durations of media loaded ahead, HTTP segments are fetched one at
/// a time.
const THIN_BUFFER_SEGMENTS: f64 = 2.0;

/// Least time between two seeks back to a start position the element left.
const START_RESEEK_INTERVAL: Duration = Duration::from_millis(500);

/// How long appends wait after a QuotaExceededError when nothing can be evicted yet.
const QUOTA_WAIT: Duration = Duration::from_secs(1);

/// The SourceBuffer of the level being played: its video, or all of its media when the
/// audio is not a separate rendition (audio.rs has the other track).
const MAIN_TRACK: TrackId = TrackId(0);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RequestKind {
    Playlist,
    /// A reload of the live media playlist being played.
    LiveReload,
    Init(usize),
    Segment(usize),
    /// The media playlist of the separate audio rendition (audio.rs).
    AudioPlaylist,
    AudioInit(usize),
    AudioSegment(usize),
    /// The first load of `segments-sha256.json` (verify.rs).
    IntegrityFile,
    /// A live refetch of it, for segments it did not list yet.
    IntegrityRefetch,
}

impl RequestKind {
    /// Media bytes (init segments and segments), as opposed to playlists.
    fn is_media(self) -> bool {
        matches!(
            self,
            RequestKind::Init(_)
                | RequestKind::Segment(_)
                | RequestKind::AudioInit(_)
                | RequestKind::AudioSegment(_)
        )
    }

    /// A request of the separate audio rendition.
    fn is_audio(self) -> bool {
        matches!(
            self,
            RequestKind::AudioPlaylist | RequestKind::AudioInit(_) | RequestKind::AudioSegment(_)
        )
    }
}

/// A request under way and when it counts as timed out.
#[derive(Debug)]
struct InFlight {
    kind: RequestKind,
    deadline: Instant,
    /// The byte range asked for: a full `200` answer is wrong, and the body must have
    /// exactly its length.
    range: Option<ByteRange>,
    /// Body bytes received so far (for statistics and throughput).
    loaded_bytes: u64,
    /// The request continues a segment this peer delivered in part.
    resumed_from: Option<verify::PeerSource>,
    /// The request went to this mirror, not the origin: its body is checked against the
    /// integrity file before it is appended (the origin's bodies are trusted), and any
    /// failure is the mirror's (mirrors.rs).
    mirror: Option<mirrors::MirrorId>,
}

/// Which playlist is being loaded: the URL the user gave, or a level's media playlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PlaylistRole {
    Source,
    Level(usize),
}

#[derive(Debug)]
struct PlaylistLoad {
    url: String,
    role: PlaylistRole,
    slot: Slot,
}

/// The level being played: its media playlist and the state of every segment.
#[derive(Debug)]
struct Stream {
    level: usize,
    playlist: MediaPlaylist,
    slots: SlotTable,
    mime: String,
    /// The segment whose append was ordered last: in sequence mode the next one continues
    /// after it by itself.
    last_append: Option<usize>,
}

impl Stream {
    /// A segment's id on the peer wire and in the store: its media sequence number, as
    /// p2p-media-loader uses (hls.js's `sn`), so that live segments keep their id as the
    /// window slides.
    fn segment_id(&self, index: usize) -> crate::p2p::wire::SegmentId {
        self.playlist.segments[index].sequence
    }

    /// The index of the segment with this id, if the playlist holds it.
    fn index_of(&self, id: crate::p2p::wire::SegmentId) -> Option<usize> {
        let first = self.playlist.segments.first()?.sequence;
        let index = usize::try_from(id.checked_sub(first)?).ok()?;
        (index < self.playlist.segments.len()).then_some(index)
    }
}

#[derive(Debug)]
pub struct Player {
    config: Config,
    seed: u64,
    now: Instant,
    /// The URL given to `Load` (swarm ids derive from it).
    source_url: Option<String>,
    outputs: VecDeque<Output>,
    next_request: u32,
    requests: BTreeMap<RequestId, InFlight>,
    snapshot: MediaSnapshot,
    /// The snapshot arrived since the last update: only then may it reveal evicted media, as
    /// an older one may predate appends that finished since.
    snapshot_is_fresh: bool,
    media_source_open: bool,
    source_buffers_created: bool,
    playlist_load: Option<PlaylistLoad>,
    variants: Vec<Variant>,
    stream: Option<Stream>,
    /// The separate audio rendition played beside the level, if the variant has one.
    audio: Option<audio::AudioLane>,
    /// Start position not yet reached by the media element (with media there to play).
    pending_start_s: Option<f64>,
    /// When the start position was last sought again (see `position_s`).
    start_reseek_at: Option<Instant>,
    /// Evictions ordered and not yet done (one per SourceBuffer at most).
    evictions_pending: u32,
    appends_blocked_until: Option<Instant>,
    /// After a QuotaExceededError, appends go one at a time until one succeeds, so a full
    /// buffer costs one failed append per wait, not one per pending segment.
    appends_one_at_a_time: bool,
    /// Forward buffer the media element showed it can hold (learnt from QuotaExceededError):
    /// fetching further ahead would only make appends fail again.
    forward_target_cap_s: Option<f64>,
    last_gap_jump_s: Option<f64>,
    end_of_stream_sent: bool,
    /// A fatal error happened: nothing more is fetched until the next load.
    stopped: bool,
    /// The viewer's P2P switch (the configuration gives its start value).
    p2p_enabled: bool,
    /// The browser says data is metered (cellular, Save-Data).
    network_metered: bool,
    /// The swarm of the level being played, while P2P is on.
    swarm: Option<p2p::Swarm>,
    traffic: p2p::Traffic,
    /// What the origin delivers, from finished segment downloads.
    http_bandwidth: BandwidthEstimator,
    /// Measures the origin across concurrent downloads for `http_bandwidth`.
    http_pipe: PipeMeter,
    /// Level choice and switching.
    levels: levels::Levels,
    /// Reloads, latency and timestamps of a live stream.
    live: Option<live::Live>,
    /// The video element's height in device pixels, when the host reported it.
    player_height_px: Option<u64>,
    /// Sizes of media bodies in the host's store, by request.
    body_bytes: BTreeMap<RequestId, u64>,
    /// Appends ordered with `keep`: the host holds those bodies until `ReleaseBody`, whatever
    /// P2P does meanwhile.
    kept_appends: BTreeSet<RequestId>,
    /// Segment integrity: the file, the bodies being checked (verify.rs).
    integrity: verify::Integrity,
    /// Servers that mirror the origin's folder (mirrors.rs).
    mirrors: mirrors::Mirrors,
    /// Peers that broke the protocol or sent bad segments: not accepted again this session.
    bans: p2p::Bans,
    /// Re-creations of the media element after append or decode errors (recover.rs).
    recovery: recover::Recovery,
}

impl Player {
    /// `seed` feeds the core's deterministic randomness (peer id, HTTP spreading, tracker
    /// backoff jitter).
    pub fn new(config: Config, seed: u64, now: Instant) -> Self {
        Player {
            p2p_enabled: config.p2p.enabled,
            config,
            seed,
            now,
            source_url: None,
            outputs: VecDeque::new(),
            next_request: 1,
            requests: BTreeMap::new(),
            snapshot: MediaSnapshot::default(),
            snapshot_is_fresh: false,
            media_source_open: false,
            source_buffers_created: false,
            playlist_load: None,
            variants: Vec::new(),
            stream: None,
            audio: None,
            pending_start_s: None,
            start_reseek_at: None,
            evictions_pending: 0,
            appends_blocked_until: None,
            appends_one_at_a_time: false,
            forward_target_cap_s: None,
            last_gap_jump_s: None,
            end_of_stream_sent: false,
            stopped: false,
            network_metered: false,
            swarm: None,
            traffic: p2p::Traffic::default(),
            http_bandwidth: BandwidthEstimator::new(),
            http_pipe: PipeMeter::default(),
            levels: levels::Levels::default(),
            live: None,
            player_height_px: None,
            body_bytes: BTreeMap::new(),
            kept_appends: BTreeSet::new(),
            integrity: verify::Integrity::new(None, ""),
            bans: p2p::Bans::default(),
            mirrors: mirrors::Mirrors::default(),
            recovery: recover::Recovery::default(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Index of the level being played, once known.
    pub fn current_level(&self) -> Option<usize> {
        self.stream.as_ref().map(|s| s.level)
    }

    /// The level the viewer picked; `None` while the choice is automatic.
    pub fn manual_level(&self) -> Option<usize> {
        self.levels.manual()
    }

    /// Number of HTTP requests under way.
    pub fn requests_in_flight(&self) -> usize {
        self.requests.len()
    }

    pub fn handle_input(&mut self, now: Instant, input: Input) {
        self.now = self.now.max(now);
        match input {
            Input::Load { url } => self.load(url),
            Input::MediaSourceOpen => self.media_source_open = true,
            Input::MediaError { message } => self.on_media_error(&message),
            Input::Media(snapshot) => {
                self.snapshot = snapshot;
                self.snapshot_is_fresh = true;
            }
            Input::HttpResponse {
                request,
                status,
                range_start,
            } => self.on_response(request, status, range_start),
            Input::HttpProgress {
                request,
                loaded_bytes,
            } => {
                let deadline = self.now + self.config.stall_timeout();
                if let Some(in_flight) = self.requests.get_mut(&request) {
                    in_flight.deadline = deadline;
                    let new_bytes = loaded_bytes.saturating_sub(in_flight.loaded_bytes);
                    in_flight.loaded_bytes = in_flight.loaded_bytes.max(loaded_bytes);
                    if in_flight.kind.is_media() {
                        self.http_pipe.bytes_arrived(new_bytes);
                    }
                    let from_mirror = in_flight.mirror.is_some();
                    self.count_http_bytes(new_bytes, from_mirror);
                }
            }
            Input::HttpDone {
                request,
                loaded_bytes,
                text,
            } => self.on_done(request, loaded_bytes, text),
            Input::HttpFailed {
                request,
                status,
                message,
            } => {
                if let Some(in_flight) = self.requests.remove(&request) {
                    let failure = status.map_or(Failure::Network, Failure::Status);
                    self.on_request_failure(request, &in_flight, failure, &message);
                }
            }
            Input::AppendDone { request } => self.on_append_done(request),
            Input::AppendFailed {
                request,
                quota_exceeded,
                message,
            } => self.on_append_failed(request, quota_exceeded, &message),
            Input::EvictDone { .. } => {
                self.evictions_pending = self.evictions_pending.saturating_sub(1)
            }
            Input::Timer => self.handle_tracker_timer(),
            Input::SetLevel { level, smooth } => self.set_level(level, smooth),
            Input::PlayerSize { height_px, .. } => self.player_height_px = Some(height_px),
            Input::BodyHashed { request, sha256 } => self.on_body_hashed(request, &sha256),
            p2p_input => self.handle_p2p_input(p2p_input),
        }
        self.update();
    }

    fn on_append_done(&mut self, request: RequestId) {
        if self.on_audio_append_done(request) {
            return;
        }
        let appended = self
            .lane_media(Lane::Video)
            .and_then(|video| video.appending(request));
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        let (init, segment) = match appended {
            Some(MediaItem::Init(i)) => (Some(i), None),
            Some(MediaItem::Segment(i)) => (None, Some(i)),
            None => (None, None),
        };
        let level = stream.level;
        let Some(slot) = stream.slots.find_request(request) else {
            return;
        };
        *slot = Slot::Appended;
        if let Some(init) = init {
            self.levels.init_in_force = Some((level, init));
        }
        self.appends_one_at_a_time = false;
        if let Some(index) = segment {
            self.record_appended_level(index);
        }
        self.forget_unchecked(request);
        let bytes = self.body_bytes.remove(&request);
        // What the append order said decides, not whether P2P is on now: the swarm may have
        // been left or joined while the append ran.
        let kept = self.kept_appends.remove(&request);
        if let (Some(index), Some(bytes), true) = (segment, bytes, kept && self.keep_for_peers()) {
            self.store_appended(index, request, bytes);
        } else if kept {
            self.outputs.push_back(Output::ReleaseBody { request });
        }
    }

    /// The next order for the host; [`Output::Timeout`] once there is nothing else to do.
    pub fn poll_output(&mut self) -> Output {
        self.outputs.pop_front().unwrap_or_else(|| Output::Timeout {
            at: self.next_timeout(),
        })
    }

    fn load(&mut self, url: String) {
        self.leave_swarm();
        for request in std::mem::take(&mut self.requests).into_keys() {
            self.outputs.push_back(Output::CancelFetch { request });
        }
        let media_source_open = self.media_source_open;
        let p2p_enabled = self.p2p_enabled;
        let network_metered = self.network_metered;
        let next_request = self.next_request;
        let player_height_px = self.player_height_px;
        let outputs = std::mem::take(&mut self.outputs);
        *self = Player::new(self.config.clone(), self.seed, self.now);
        self.outputs = outputs;
        // Request ids keep counting: the host may still hold bodies of the old stream.
        self.next_request = next_request;
        self.media_source_open = media_source_open;
        self.p2p_enabled = p2p_enabled;
        self.network_metered = network_metered;
        self.player_height_px = player_height_px;
        self.integrity = verify::Integrity::new(self.config.integrity_url.as_deref(), &url);
        self.mirrors = mirrors::Mirrors::new(&self.config.mirrors, &url, self.seed);
        if self.config.integrity_url.is_none() {
            self.drop_all_mirrors("no integrity file (integrityUrl) to check its segments against");
        }
        self.source_url = Some(url.clone());
        if self.config.start_position_s > 0.0 {
            self.pending_start_s = Some(self.config.start_position_s);
        }
        self.playlist_load = Some(PlaylistLoad {
            url,
            role: PlaylistRole::Source,
            slot: Slot::NEW,
        });
    }

    fn allocate_request_id(&mut self) -> RequestId {
        let request = RequestId(self.next_request);
        self.next_request = self.next_request.wrapping_add(1).max(1);
        request
    }

    /// Cancels the HTTP request `request` if it is under way; returns what it was.
    fn cancel_http(&mut self, request: RequestId) -> Option<InFlight> {
        let in_flight = self.requests.remove(&request)?;
        self.outputs.push_back(Output::CancelFetch { request });
        Some(in_flight)
    }

    fn new_request(&mut self, kind: RequestKind, range: Option<ByteRange>) -> RequestId {
        let request = self.allocate_request_id();
        let deadline = self.now + self.config.first_byte_timeout();
        if kind.is_media() {
            self.http_pipe.transfer_started(self.now);
        }
        self.requests.insert(
            request,
            InFlight {
                kind,
                deadline,
                range,
                loaded_bytes: 0,
                resumed_from: None,
                mirror: None,
            },
        );
        request
    }

    /// HTTP requests for media (segments and init segments) under way.
    fn http_media_in_flight(&self) -> usize {
        self.requests.values().filter(|r| r.kind.is_media()).count()
    }

    fn on_response(&mut self, request: RequestId, status: u16, range_start: Option<u64>) {
        let stall = self.config.stall_timeout();
        let Some(in_flight) = self.requests.get_mut(&request) else {
            return;
        };
        // A server that ignores Range sends the whole file, and one that answers another
        // range sends other bytes: appending either would corrupt the buffer, so the answer
        // counts as a failed attempt.
        let problem = match (in_flight.range, range_start) {
            (Some(_), _) if status != 206 => {
                Some(format!("asked for a byte range, got HTTP {status}"))
            }
            (Some(asked), Some(start)) if start != asked.offset => Some(format!(
                "asked for {}, the answer's Content-Range starts at {start}",
                asked.to_http_range()
            )),
            _ => None,
        };
        if let Some(message) = problem {
            let in_flight = self.cancel_http(request).expect("looked up above");
            self.on_request_failure(request, &in_flight, Failure::Network, &message);
            return;
        }
        in_flight.deadline = self.now + stall;
    }

    fn on_done(&mut self, request: RequestId, loaded_bytes: u64, text: Option<String>) {
        let Some(in_flight) = self.requests.remove(&request) else {
            // Finished after we cancelled it: the host may have stored the body.
            if text.is_none() {
                self.outputs.push_back(Output::ReleaseBody { request });
            }
            return;
        };
        let new_bytes = loaded_bytes.saturating_sub(in_flight.loaded_bytes);
        self.count_http_bytes(new_bytes, in_flight.mirror.is_some());
        if in_flight.kind.is_media() {
            self.http_pipe.bytes_arrived(new_bytes);
        }
        if let Some(range) = in_flight.range.filter(|r| r.length != loaded_bytes) {
            // A truncated body (the connection ended early) or a wrong one: appending it
            // would corrupt the buffer. A failed attempt, retried like any other.
            self.outputs.push_back(Output::ReleaseBody { request });
            let message = format!(
                "asked for {} bytes ({}), got {loaded_bytes}",
                range.length,
                range.to_http_range()
            );
            return self.on_request_failure(request, &in_flight, Failure::Network, &message);
        }
        match in_flight.kind {
            RequestKind::Playlist => self.on_playlist(text.unwrap_or_default()),
            RequestKind::LiveReload => self.on_live_reload(text.unwrap_or_default()),
            RequestKind::AudioPlaylist => self.on_audio_playlist(text.unwrap_or_default()),
            RequestKind::IntegrityFile | RequestKind::IntegrityRefetch => {
                self.on_integrity_file(in_flight.kind, text.as_deref().unwrap_or_default())
            }
            RequestKind::Init(_) | RequestKind::AudioInit(_) | RequestKind::AudioSegment(_) => {
                self.on_media_fetched(request, in_flight.kind)
            }
            RequestKind::Segment(index) => {
                let Some(stream) = self.stream.as_ref() else {
                    return;
                };
                self.http_pipe
                    .transfer_completed(self.now, &mut self.http_bandwidth);
                let (bytes, source) = match in_flight.resumed_from {
                    Some(peer) => {
                        let full = stream.playlist.segments[index]
                            .byte_range
                            .map_or(loaded_bytes, |r| r.length);
                        (full, Some(verify::BodySource::PeerThenHttp(peer)))
                    }
                    None => (
                        loaded_bytes,
                        in_flight.mirror.map(verify::BodySource::Mirror),
                    ),
                };
                self.receive_segment(request, index, bytes, source);
            }
        }
    }

    fn on_playlist(&mut self, text: String) {
        let Some(load) = self.playlist_load.take() else {
            return;
        };
        let parsed = match parse_playlist(text.as_bytes(), &load.url) {
            Ok(parsed) => parsed,
            Err(error) => {
                let message = format!("cannot read playlist {}: {error}", load.url);
                return self.fail(ErrorKind::PlaylistParse, message);
            }
        };
        match (parsed, load.role) {
            (Playlist::Multivariant(multivariant), PlaylistRole::Source) => {
                self.variants = multivariant.variants;
                let levels = self.variants.iter().map(level_info).collect();
                self.event(Event::Levels { levels });
                let level = media::choose_start_level(&self.variants, &self.config);
                self.audio =
                    audio::AudioLane::for_variant(&self.variants[level], &multivariant.renditions);
                let url = self.variants[level].uri.clone();
                let role = PlaylistRole::Level(level);
                self.playlist_load = Some(PlaylistLoad {
                    url,
                    role,
                    slot: Slot::NEW,
                });
            }
            (Playlist::Media(playlist), role) => {
                let level = match role {
                    PlaylistRole::Level(level) => level,
                    PlaylistRole::Source => 0,
                };
                if self.stream.is_some() {
                    return self.on_switch_playlist(level, playlist);
                }
                if playlist.ended {
                    self.keep_playlist(level, &playlist);
                }
                self.start_stream(level, playlist);
            }
            (Playlist::Multivariant(_), PlaylistRole::Level(_)) => {
                let message = format!(
                    "{} is a multivariant playlist, expected a media playlist",
                    load.url
                );
                self.fail(ErrorKind::PlaylistParse, message);
            }
        }
    }

    fn start_stream(&mut self, level: usize, playlist: MediaPlaylist) {
        if let Err(message) = media::check_playable(&playlist) {
            return self.fail(ErrorKind::Unsupported, message);
        }
        if self.refuse_live_split_audio(&playlist) {
            return;
        }
        let mime = match self.video_mime(level, &playlist) {
            Ok(mime) => mime,
            Err(message) => return self.fail(ErrorKind::Unsupported, message),
        };
        self.event(Event::LevelSelected { level });
        if !playlist.ended {
            self.start_live(&playlist);
        }
        let slots = SlotTable::new(&playlist);
        self.stream = Some(Stream {
            level,
            playlist,
            slots,
            mime,
            last_append: None,
        });
    }

    /// A request failed: a mirror's failure drops the mirror, any other is an attempt of
    /// what it was for.
    fn on_request_failure(
        &mut self,
        request: RequestId,
        in_flight: &InFlight,
        failure: Failure,
        message: &str,
    ) {
        match in_flight.mirror {
            Some(mirror) => self.on_mirror_failure(mirror, request, in_flight.kind, message),
            None => self.on_failure(in_flight.kind, failure, message),
        }
    }

    fn on_failure(&mut self, kind: RequestKind, failure: Failure, message: &str) {
        if kind == RequestKind::LiveReload {
            return self.on_live_reload_failure(failure, message);
        }
        if matches!(
            kind,
            RequestKind::IntegrityFile | RequestKind::IntegrityRefetch
        ) {
            return self.on_integrity_failure(kind, failure, message);
        }
        let now = self.now;
        let retry = self.config.retry.clone();
        let (slot, what) = match (kind, self.playlist_load.as_mut()) {
            (kind, _) if kind.is_audio() => match self.audio_slot_of_kind(kind) {
                Some(found) => found,
                None => return,
            },
            (RequestKind::Playlist, Some(load)) => {
                (&mut load.slot, format!("playlist {}", load.url))
            }
            (kind, _) => match Lane::of_request(kind) {
                Some((lane, item)) => match self.lane_media_mut(lane) {
                    Some(media) => media.slot_and_name(item),
                    None => return,
                },
                None => return,
            },
        };
        if let Some(tries) = slot.fail_attempt(now, &retry, failure) {
            let kind = match kind {
                RequestKind::Playlist | RequestKind::AudioPlaylist => ErrorKind::PlaylistLoad,
                _ => ErrorKind::SegmentLoad,
            };
            self.fail(
                kind,
                format!("could not load {what} after {tries} attempt(s): {message}"),
            );
        }
    }

    fn on_append_failed(&mut self, request: RequestId, quota_exceeded: bool, message: &str) {
        if self.stopped {
            // Appends ordered before a fatal error fail after it: one error is enough.
            return;
        }
        if !quota_exceeded {
            // The media element is dead: re-create it, or give up (recover.rs).
            return self.on_media_refused(request, message);
        }
        let video_slot = self.lane_slot_of_request(Lane::Video, request);
        let Some(slot) = (match video_slot {
            Some(slot) => Some(slot),
            None => self.lane_slot_of_request(Lane::Audio, request),
        }) else {
            return;
        };
        // The host kept the bytes: append them again once space is freed.
        *slot = Slot::Fetched { request };
        self.appends_one_at_a_time = true;
        let held_ahead_s = buffered_ahead_s(&self.snapshot.buffered, self.snapshot.position_s);
        let floor_s = self
            .stream
            .as_ref()
            .map_or(0.0, |s| 2.0 * s.playlist.target_duration_s);
        self.forward_target_cap_s = Some(held_ahead_s.max(floor_s));
        self.free_space_behind_playhead();
    }

    /// Answers QuotaExceededError: drop media already played, keeping a little for small
    /// backward seeks; if there is none to drop, wait for playback to consume the buffer.
    /// With separate audio both SourceBuffers are evicted: either may be the one that is full.
    fn free_space_behind_playhead(&mut self) {
        // Evicting less than a segment's worth frees too little for the next append, which
        // would fail again at once: wait for playback to consume more instead.
        if !self.evict_played_media(self.config.back_buffer_keep_s) {
            self.appends_blocked_until = Some(self.now + QUOTA_WAIT);
        }
    }

    /// Keeps at most `back_buffer_max_s` of played media in the buffer, so a long video does
    /// not fill the browser's memory until appends fail.
    fn trim_back_buffer(&mut self) {
        let Some(max_s) = self.config.back_buffer_max_s else {
            return;
        };
        if self.source_buffers_created {
            self.evict_played_media(max_s);
        }
    }

    /// Evicts the segments that end more than `keep_s` before the playhead (from every
    /// SourceBuffer), if that is at least a segment's worth and no eviction is under way;
    /// returns whether it did.
    fn evict_played_media(&mut self, keep_s: f64) -> bool {
        let evicting = self.evicting();
        let Some(stream) = self.stream.as_mut() else {
            return false;
        };
        // Whole segments only: a segment cut in part stays "appended" for the scheduler while
        // the element lost some of it, a hole nothing would fill.
        let keep_from_s = self.snapshot.position_s - keep_s;
        let Some(evict_end) = stream
            .playlist
            .segment_index_at(keep_from_s)
            .map(|i| stream.playlist.segments[i].start_s)
        else {
            return false;
        };
        // The earliest media any SourceBuffer holds (the element's ranges start where the
        // last track starts).
        let first_buffered = self
            .snapshot
            .tracks
            .iter()
            .filter_map(|t| t.buffered.first())
            .chain(self.snapshot.buffered.first())
            .map(|r| r.start_s)
            .fold(f64::INFINITY, f64::min);
        let worth_evicting = evict_end - first_buffered >= stream.playlist.target_duration_s;
        if !worth_evicting || evicting {
            return false;
        }
        let mut tracks = Vec::new();
        for lane in [Lane::Video, Lane::Audio] {
            if let Some(media) = self.lane_media_mut(lane) {
                media.slots.release_ending_by(media.playlist, evict_end);
                tracks.push(lane.track());
            }
        }
        for track in tracks {
            self.evictions_pending += 1;
            self.outputs.push_back(Output::Evict {
                track,
                start_s: 0.0,
                end_s: evict_end,
            });
        }
        true
    }

    /// Whether an eviction is under way: what the buffer holds is about to change.
    fn evicting(&self) -> bool {
        self.evictions_pending > 0
    }

    fn fail(&mut self, kind: ErrorKind, message: String) {
        self.leave_swarm();
        for request in std::mem::take(&mut self.requests).into_keys() {
            self.outputs.push_back(Output::CancelFetch { request });
        }
        self.stopped = true;
        self.event(Event::Error {
            kind,
            fatal: true,
            message,
        });
    }

    fn event(&mut self, event: Event) {
        self.outputs.push_back(Output::Event(event));
    }

    /// Where the media that matters starts: the playhead, or the start position before the
    /// media element got there.
    fn position_s(&mut self) -> f64 {
        let Some(start) = self.pending_start_s else {
            return self.snapshot.position_s;
        };
        let position = self.snapshot.position_s;
        let at_start = (position - start).abs() < 1.0;
        // Only media appended to our SourceBuffers counts: a snapshot taken before a
        // re-created element replaced the old one still shows the old one's (recover.rs).
        let buffered = self.source_buffers_created
            && range_containing(&self.snapshot.buffered, position).is_some();
        if at_start && buffered {
            self.pending_start_s = None;
            return position;
        }
        if !at_start && self.snapshot.seeking {
            // Someone seeks elsewhere: that position is the one that matters now.
            self.pending_start_s = None;
            return position;
        }
        let start_buffered = range_containing(&self.snapshot.buffered, start).is_some();
        let reseek_due = self
            .start_reseek_at
            .is_none_or(|at| self.now >= at + START_RESEEK_INTERVAL);
        if !at_start && !self.snapshot.seeking && start_buffered && reseek_due {
            // The element is off the start although the media is there: a seek ordered
            // before the element had metadata can be dropped (Chromium then plays from 0).
            self.start_reseek_at = Some(self.now);
            self.outputs
                .push_back(Output::SeekMedia { position_s: start });
        }
        start
    }

    /// Re-evaluates everything after an input.
    fn update(&mut self) {
        if self.stopped {
            return;
        }
        self.expire_deadlines();
        self.reload_live_playlist_if_due();
        if self.stream.is_some() {
            let position_s = self.position_s();
            self.catch_up_live(position_s);
            self.choose_level(position_s);
            self.complete_switch_if_ready(position_s);
        }
        if self.stopped {
            return;
        }
        self.load_playlist_if_due();
        self.load_audio_playlist_if_due();
        self.load_integrity_if_due(self.p2p_requested() || self.mirrors_want_integrity());
        if self.stopped {
            return;
        }
        if self.http_media_in_flight() == 0 {
            self.http_pipe.idle();
        }
        if self.stream.is_none() {
            return;
        }
        self.setup_media_source();
        self.join_swarm_if_wanted();
        let position_s = self.position_s();
        self.supervise_peer_downloads(position_s);
        self.give_up_late_checks(position_s);
        self.schedule_fetches(position_s);
        self.schedule_appends();
        self.trim_back_buffer();
        self.jump_gap(position_s);
        self.signal_end_of_stream(position_s);
        self.announce_if_changed();
        self.report_shown_level(position_s);
        self.report_stats_if_due();
    }

    fn expire_deadlines(&mut self) {
        let now = self.now;
        let expired: Vec<RequestId> = self
            .requests
            .iter()
            .filter(|(_, r)| r.deadline <= now)
            .map(|(&id, _)| id)
            .collect();
        for request in expired {
            let in_flight = self.cancel_http(request).expect("listed above");
            self.on_request_failure(request, &in_flight, Failure::Timeout, "timed out");
            if self.stopped {
                return;
            }
        }
    }

    fn load_playlist_if_due(&mut self) {
        let now = self.now;
        let Some(load) = self.playlist_load.as_ref() else {
            return;
        };
        let failed_attempts = match load.slot {
            Slot::Idle { failed_attempts } => failed_attempts,
            Slot::WaitingRetry {
                at,
                failed_attempts,
            } if at <= now => failed_attempts,
            _ => return,
        };
        let url = load.url.clone();
        let request = self.new_request(RequestKind::Playlist, None);
        if let Some(load) = self.playlist_load.as_mut() {
            load.slot = Slot::Fetching {
                request,
                failed_attempts,
            };
        }
        self.outputs
            .push_back(Output::Fetch(FetchOrder::playlist(request, url)));
    }

    fn setup_media_source(&mut self) {
        if self.source_buffers_created || !self.media_source_open {
            return;
        }
        let Some(stream) = self.stream.as_ref() else {
            return;
        };
        if self.audio_pending() {
            // Both SourceBuffers are created at once: MSE wants them all before media flows.
            return;
        }
        self.source_buffers_created = true;
        let mut tracks = vec![TrackSpec {
            track: MAIN_TRACK,
            mime: stream.mime.clone(),
            sequence_mode: self.live.is_some(),
        }];
        tracks.extend(self.audio_track_spec());
        let duration_s = stream.playlist.duration_s();
        self.outputs
            .push_back(Output::CreateSourceBuffers { tracks });
        // A live stream's duration is open, so that its start position (ahead of anything
        // buffered) can be sought.
        let duration_s = self.live.is_none().then_some(duration_s);
        self.outputs.push_back(Output::SetDuration { duration_s });
        if let Some(position_s) = self.pending_start_s {
            self.outputs.push_back(Output::SeekMedia { position_s });
        }
    }

    /// Cancels what the playhead no longer needs and starts what it needs next, nearest first.
    fn schedule_fetches(&mut self, position_s: f64) {
        let target_s = self.forward_target_s();
        if self.evicting() {
            // The buffer is about to change (a level switch replaces the media ahead): what
            // to fetch is clear once the eviction is done.
            return;
        }
        let first_fetchable = self.first_fetchable();
        let release = self.source_buffers_created && self.snapshot_is_fresh;
        self.snapshot_is_fresh = false;
        if release {
            self.release_evicted(Lane::Audio);
        }
        self.prune_audio_fetches(position_s, target_s);
        if release {
            self.release_evicted(Lane::Video);
        }
        let Some(stream) = self.stream.as_ref() else {
            return;
        };
        let window = SlotTable::window(&stream.playlist, position_s, target_s);
        // Live segments that left the server's window cannot be fetched any more.
        let window = window.start.max(first_fetchable)..window.end;

        let unneeded = self.prune_fetches(Lane::Video, window.clone());
        let stream = self.stream.as_ref().expect("checked above");
        let ahead_s = stream
            .slots
            .loaded_ahead_s(&stream.playlist, position_s, window.start);
        let thin_buffer = ahead_s < THIN_BUFFER_SEGMENTS * stream.playlist.target_duration_s;
        for request in unneeded.peer_downloads {
            self.cancel_peer_download(request);
        }
        for request in unneeded.checks {
            self.drop_check(request);
        }
        // The audio is fetched no further ahead than the video is loaded or loading (beyond
        // the segment at the playhead): audio the video cannot play with yet would only take
        // the connection from it, and the two buffers stay within about a segment of each
        // other. The track loaded less far ahead goes first (audio is small: it goes first
        // on a tie).
        let video_first = window.start;
        let audio_lags = self
            .audio_loaded_ahead_s(position_s, target_s)
            .is_some_and(|audio_s| audio_s <= ahead_s);
        if audio_lags {
            let audio_target_s = self.video_requested_ahead_s(position_s, video_first);
            self.schedule_audio_fetches(position_s, audio_target_s.min(target_s));
        }
        if self.swarm_active() {
            self.schedule_with_peers(window, position_s, thin_buffer);
        } else {
            self.schedule_http_fetches(Lane::Video, window, thin_buffer);
        }
        let audio_target_s = self.video_requested_ahead_s(position_s, video_first);
        self.schedule_audio_fetches(position_s, audio_target_s.min(target_s));
    }

    /// Seconds of video loaded or being downloaded contiguously ahead of the playhead.
    fn video_requested_ahead_s(&self, position_s: f64, first: usize) -> f64 {
        self.stream.as_ref().map_or(0.0, |stream| {
            stream
                .slots
                .requested_ahead_s(&stream.playlist, position_s, first)
        })
    }

    /// Seconds ahead of the playhead to keep loaded.
    fn forward_target_s(&self) -> f64 {
        self.forward_target_cap_s
            .map_or(self.config.forward_buffer_target_s, |cap| {
                cap.min(self.config.forward_buffer_target_s)
            })
    }

    /// Hands fetched media to the SourceBuffer, each segment after its init segment.
    fn schedule_appends(&mut self) {
        if !self.source_buffers_created || self.evicting() || self.switch_pending() {
            return;
        }
        if let Some(until) = self.appends_blocked_until {
            if self.now < until {
                return;
            }
            self.appends_blocked_until = None;
        }
        let keep = self.keep_for_peers();
        let audio_appending = self.audio_appending();
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        let appending = |slot: &Slot| matches!(slot, Slot::Appending { .. });
        if self.appends_one_at_a_time
            && (audio_appending || stream.slots.segments.iter().any(appending))
        {
            return;
        }
        let (live, kept_appends) = (self.live.is_some(), &mut self.kept_appends);
        let (slots, playlist) = (&mut stream.slots, &stream.playlist);
        let orders = lane::order_appends(
            slots,
            playlist,
            MAIN_TRACK,
            self.appends_one_at_a_time,
            |index, request| {
                // Live segments (sequence mode) go where the playlist places them, unless
                // they continue the segment appended just before: then sequence mode puts
                // them right after it, with no gap where a duration in the playlist is
                // rounded.
                let follows = index > 0 && stream.last_append == Some(index - 1);
                let timestamp_offset_s =
                    (live && !follows).then(|| playlist.segments[index].start_s);
                stream.last_append = Some(index);
                if keep {
                    kept_appends.insert(request);
                } else {
                    kept_appends.remove(&request);
                }
                Output::Append {
                    track: MAIN_TRACK,
                    request,
                    keep,
                    timestamp_offset_s,
                }
            },
        );
        let video_appends = orders.iter().any(|o| matches!(o, Output::Append { .. }));
        self.outputs.extend(orders);
        // After a QuotaExceededError one append at a time, whichever track it is for.
        if !(self.appends_one_at_a_time && video_appends) {
            self.schedule_audio_appends(self.appends_one_at_a_time);
        }
    }

    /// Jumps a small hole in the buffer that would otherwise stall playback forever, but only
    /// where the media around it is already appended (a hole that a pending append will fill
    /// is not a hole).
    fn jump_gap(&mut self, position_s: f64) {
        let Some(video) = self.lane_media(Lane::Video) else {
            return;
        };
        if !video.appended_at(position_s)
            || !self.audio_appended_at(position_s)
            || self.pending_start_s.is_some()
        {
            return;
        }
        let buffered = &self.snapshot.buffered;
        if let Some(target) = gap_jump_target(buffered, position_s, self.config.max_gap_jump_s) {
            if self.last_gap_jump_s != Some(target) {
                self.last_gap_jump_s = Some(target);
                self.outputs
                    .push_back(Output::SeekMedia { position_s: target });
            }
        }
    }

    fn signal_end_of_stream(&mut self, position_s: f64) {
        let Some(video) = self.lane_media(Lane::Video) else {
            return;
        };
        let Some(video_complete) = video.appended_to_end(position_s) else {
            return;
        };
        // With separate audio, both tracks must hold everything to the end.
        let complete = video_complete && self.audio_complete(position_s);
        if complete && !self.end_of_stream_sent {
            self.end_of_stream_sent = true;
            self.outputs.push_back(Output::EndOfStream);
        } else if !complete {
            // An append after endOfStream() reopens the MediaSource; signal again later.
            self.end_of_stream_sent = false;
        }
    }

    fn next_timeout(&self) -> Option<Instant> {
        if self.stopped {
            return None;
        }
        let deadlines = self.requests.values().map(|r| r.deadline);
        let playlist_retry = self.playlist_load.as_ref().and_then(|l| l.slot.retry_at());
        let slot_retries = self.stream.as_ref().and_then(|s| s.slots.earliest_retry());
        let tick = self.stream.as_ref().map(|_| self.now + TICK);
        deadlines
            .chain(playlist_retry)
            .chain(slot_retries)
            .chain(self.audio_retry_at())
            .chain(self.appends_blocked_until)
            .chain(tick)
            .chain(self.tracker_timeout())
            .chain(self.live_timeout())
            .chain(self.integrity_timeout())
            .chain(self.next_stats_at())
            .min()
    }
}

fn level_info(variant: &Variant) -> LevelInfo {
    LevelInfo {
        bandwidth_bps: variant.bandwidth,
        width: variant.resolution.map(|r| r.width),
        height: variant.resolution.map(|r| r.height),
        codecs: variant.codecs.clone(),
    }
}
