//! The sans-IO boundary: facts the host reports ([`Input`]) and orders it carries out
//! ([`Output`]), plus the events a UI shows.

use crate::hls::ByteRange;
use crate::schedule::TimeRange;
use crate::swarm::{ConnectionId, TrackerId};
use crate::time::Instant;

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

/// Names one HTTP request from the order that starts it to the append of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(transparent))]
pub struct RequestId(pub u32);

/// One SourceBuffer of the media element: `TrackId(0)` carries the video (or everything, when
/// the variant's audio is muxed in), `TrackId(1)` a separate audio rendition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(transparent))]
pub struct TrackId(pub u32);

/// What the media element looks like right now.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(Deserialize),
    serde(default, rename_all = "camelCase")
)]
pub struct MediaSnapshot {
    pub position_s: f64,
    /// The element's buffered ranges: the intersection of every SourceBuffer's.
    pub buffered: Vec<TimeRange>,
    pub paused: bool,
    pub seeking: bool,
    pub ended: bool,
    /// `playbackRate`: media seconds played per second (0 until the host reports it, read
    /// as 1).
    pub playback_rate: f64,
    /// Each SourceBuffer's own buffered ranges, when the host reports them. With separate
    /// audio the element's ranges end where the lagging track ends, so what a track holds
    /// must be read here (an empty list: only the element's ranges are known).
    pub tracks: Vec<TrackBuffered>,
}

impl MediaSnapshot {
    /// Seconds of real time `media_s` seconds of media last at the current rate.
    pub fn real_time_s(&self, media_s: f64) -> f64 {
        let rate = if self.playback_rate > 0.0 {
            self.playback_rate
        } else {
            1.0
        };
        media_s / rate
    }

    /// The buffered ranges of `track`'s SourceBuffer when reported, else the element's.
    pub fn track_buffered(&self, track: TrackId) -> &[TimeRange] {
        self.tracks
            .iter()
            .find(|t| t.track == track)
            .map_or(&self.buffered, |t| &t.buffered)
    }
}

/// What one SourceBuffer holds (`SourceBuffer.buffered`).
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(Deserialize),
    serde(default, rename_all = "camelCase")
)]
pub struct TrackBuffered {
    pub track: TrackId,
    pub buffered: Vec<TimeRange>,
}

/// A fact the host reports. Every input is handed over together with the time it happened.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(Deserialize),
    serde(
        tag = "type",
        rename_all = "camelCase",
        rename_all_fields = "camelCase"
    )
)]
pub enum Input {
    /// The user asked to play this playlist URL (absolute).
    Load { url: String },
    /// The MediaSource is open: SourceBuffers can be created. After
    /// [`Output::RecreateMedia`], the new MediaSource is.
    MediaSourceOpen,
    /// The media element reported an error (`HTMLMediaElement.error`, e.g. `MEDIA_ERR_DECODE`
    /// from a decoder that failed on media already appended): it plays nothing more until the
    /// media is re-created.
    MediaError { message: String },
    /// The media element's current state.
    Media(MediaSnapshot),
    /// Response headers arrived with a success status.
    HttpResponse {
        request: RequestId,
        status: u16,
        /// The first byte the `Content-Range` of a `206` names, when the host can read it
        /// (cross-origin, only if the server exposes the header).
        #[cfg_attr(feature = "serde", serde(default))]
        range_start: Option<u64>,
    },
    /// More of the body arrived; `loaded_bytes` counts all bytes so far.
    HttpProgress {
        request: RequestId,
        loaded_bytes: u64,
    },
    /// The whole body arrived. `text` is set for requests ordered with `want_text`; other
    /// bodies stay in the host's store under the request id until appended or released.
    HttpDone {
        request: RequestId,
        loaded_bytes: u64,
        text: Option<String>,
    },
    /// The request failed: `status` when the server answered with an error, none for network
    /// failures.
    HttpFailed {
        request: RequestId,
        status: Option<u16>,
        message: String,
    },
    /// The bytes of `request` are in the SourceBuffer.
    AppendDone { request: RequestId },
    /// The append failed. The host keeps the bytes when `quota_exceeded`, frees them otherwise.
    AppendFailed {
        request: RequestId,
        quota_exceeded: bool,
        message: String,
    },
    /// An ordered eviction finished.
    EvictDone { track: TrackId },
    /// The timeout the core asked for has passed.
    Timer,
    /// The viewer turned P2P on or off.
    SetP2p { enabled: bool },
    /// The viewer picked a level (index into [`Event::Levels`]), or `None` for automatic
    /// choice. A picked level replaces the media ahead of the current segment at once, unless
    /// `smooth`: then what is buffered plays out first (hls.js's `nextLevel`).
    SetLevel {
        level: Option<usize>,
        #[cfg_attr(feature = "serde", serde(default))]
        smooth: bool,
    },
    /// The video element's size in device pixels (CSS size times `devicePixelRatio`), for
    /// [`crate::Config::cap_level_to_player_size`].
    PlayerSize { width_px: u64, height_px: u64 },
    /// What the browser says about the connection (`navigator.connection`): uploading to
    /// peers is off by default when data is metered.
    Network { save_data: bool, cellular: bool },
    /// The page is going away: leave the swarm politely.
    Unload,
    /// The tracker WebSocket ordered by [`Output::TrackerConnect`] is open.
    TrackerOpened { tracker: TrackerId },
    /// A text frame from a tracker.
    TrackerMessage { tracker: TrackerId, text: String },
    /// The tracker WebSocket closed or failed.
    TrackerClosed { tracker: TrackerId },
    /// The SDP offer ordered by [`Output::CreateOffer`], with every ICE candidate in it.
    OfferCreated {
        connection: ConnectionId,
        sdp: String,
    },
    /// The SDP answer ordered by [`Output::AcceptOffer`], with every ICE candidate in it.
    AnswerCreated {
        connection: ConnectionId,
        sdp: String,
    },
    /// The peer connection's data channel is open.
    PeerOpened { connection: ConnectionId },
    /// One data-channel message from the peer.
    PeerMessage {
        connection: ConnectionId,
        #[cfg_attr(feature = "serde", serde(with = "serde_bytes"))]
        bytes: Vec<u8>,
    },
    /// The peer connection failed or closed (whether it had opened or not).
    PeerClosed { connection: ConnectionId },
    /// An [`Output::UploadSegment`] ended: all sent (`completed`), or stopped.
    UploadFinished {
        connection: ConnectionId,
        sent_bytes: u64,
        completed: bool,
    },
    /// The SHA-256 digest ordered by [`Output::HashBody`]: 32 bytes, or none when the host
    /// holds no body under `request`.
    BodyHashed {
        request: RequestId,
        #[cfg_attr(feature = "serde", serde(with = "serde_bytes"))]
        sha256: Vec<u8>,
    },
}

/// What a fetch is for; the host may use it for priorities and logging only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize), serde(rename_all = "kebab-case"))]
pub enum FetchPurpose {
    Playlist,
    InitSegment,
    MediaSegment,
    /// PeerTube's `segments-sha256.json` (text).
    IntegrityFile,
}

#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize), serde(rename_all = "camelCase"))]
pub struct FetchOrder {
    pub request: RequestId,
    pub url: String,
    pub range: Option<ByteRange>,
    pub purpose: FetchPurpose,
    /// Hand the body back as text in `HttpDone` (playlists); otherwise keep it in the store.
    pub want_text: bool,
    /// The store already holds the start of this body under `request` (bytes a peer
    /// delivered before it was dropped): the response continues it.
    pub append_to_stored: bool,
}

impl FetchOrder {
    /// A playlist, handed back as text.
    pub(crate) fn playlist(request: RequestId, url: String) -> Self {
        FetchOrder {
            request,
            url,
            range: None,
            purpose: FetchPurpose::Playlist,
            want_text: true,
            append_to_stored: false,
        }
    }
}

/// One data-channel message (or any bytes handed to the host), a `Uint8Array` in JS.
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize), serde(transparent))]
pub struct Bytes(#[cfg_attr(feature = "serde", serde(with = "serde_bytes"))] pub Vec<u8>);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize), serde(rename_all = "camelCase"))]
pub struct TrackSpec {
    pub track: TrackId,
    /// MIME type with codecs for `MediaSource.addSourceBuffer`.
    pub mime: String,
    /// Set the SourceBuffer's `mode` to `"sequence"`: each segment is placed at the
    /// `timestamp_offset_s` its append gives, whatever its own timestamps say (live streams,
    /// whose media times are the broadcast's and may restart at a discontinuity).
    pub sequence_mode: bool,
}

/// An order for the host.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(Serialize),
    serde(
        tag = "type",
        rename_all = "camelCase",
        rename_all_fields = "camelCase"
    )
)]
pub enum Output {
    Fetch(FetchOrder),
    /// Abort the request and free anything stored for it.
    CancelFetch {
        request: RequestId,
    },
    /// Free the stored body of a finished request that will not be appended.
    ReleaseBody {
        request: RequestId,
    },
    CreateSourceBuffers {
        tracks: Vec<TrackSpec>,
    },
    /// Set `MediaSource.duration`; `None` is an open-ended (live) stream: `Infinity`.
    SetDuration {
        duration_s: Option<f64>,
    },
    /// Append the stored body of `request` to `track`, then free it unless `keep` (the
    /// body is shared with peers and freed later by [`Output::ReleaseBody`]).
    Append {
        track: TrackId,
        request: RequestId,
        keep: bool,
        /// Set `SourceBuffer.timestampOffset` to this first (in sequence mode: where the
        /// segment starts).
        timestamp_offset_s: Option<f64>,
    },
    /// Store these bytes under `request` (a segment that came from a peer).
    StoreBytes {
        request: RequestId,
        bytes: Bytes,
    },
    /// Compute the SHA-256 digest of the body stored under `request` (as it is now: the
    /// body may be released before the digest is ready) and report [`Input::BodyHashed`].
    /// The browser's WebCrypto does it several times faster than SHA-256 compiled to wasm.
    HashBody {
        request: RequestId,
    },
    /// Open a WebSocket to a tracker.
    TrackerConnect {
        tracker: TrackerId,
        url: String,
    },
    /// Send a text frame on the tracker's WebSocket.
    TrackerSend {
        tracker: TrackerId,
        text: String,
    },
    TrackerClose {
        tracker: TrackerId,
    },
    /// Create an RTCPeerConnection as the offering side with one reliable ordered data
    /// channel, gather every ICE candidate (capped in time) and report
    /// [`Input::OfferCreated`].
    CreateOffer {
        connection: ConnectionId,
    },
    /// Create an RTCPeerConnection for a remote offer, answer it, gather every candidate and
    /// report [`Input::AnswerCreated`].
    AcceptOffer {
        connection: ConnectionId,
        sdp: String,
    },
    /// The remote answer to our offer.
    ApplyAnswer {
        connection: ConnectionId,
        sdp: String,
    },
    /// Close the peer connection; no input about it is expected afterwards.
    ClosePeer {
        connection: ConnectionId,
    },
    /// Send these data-channel messages, in order.
    PeerSend {
        connection: ConnectionId,
        messages: Vec<Bytes>,
    },
    /// Send a stored body to a peer: the `header` messages, the body's bytes from `from_byte`
    /// on in chunks of at most `chunk_bytes` (waiting while the channel's buffer is full),
    /// then the `footer` messages; report [`Input::UploadFinished`]. Replaces any upload to
    /// that peer under way.
    UploadSegment {
        connection: ConnectionId,
        body: RequestId,
        from_byte: u64,
        chunk_bytes: usize,
        header: Vec<Bytes>,
        footer: Vec<Bytes>,
    },
    /// Stop the upload to this peer (it cancelled), reporting [`Input::UploadFinished`].
    StopUpload {
        connection: ConnectionId,
    },
    Evict {
        track: TrackId,
        start_s: f64,
        end_s: f64,
    },
    /// The next appends to `track` carry another codec: `SourceBuffer.changeType(mime)`.
    ChangeType {
        track: TrackId,
        mime: String,
    },
    /// Move the playhead (start position, jumping a hole in the buffer).
    SeekMedia {
        position_s: f64,
    },
    /// All media up to the end is appended: call `MediaSource.endOfStream()`.
    EndOfStream,
    /// The media element is dead after an append or decode error (MSE ends the MediaSource
    /// with a decode error): detach its MediaSource (dropping every SourceBuffer and every
    /// append or eviction not yet done, without reporting them), attach a new one, keep the
    /// playback position, paused state and rate, and report [`Input::MediaSourceOpen`] once
    /// it is open. The core then orders [`Output::CreateSourceBuffers`] again and appends
    /// everything anew; bodies in the store stay until appended or released as usual.
    RecreateMedia,
    Event(Event),
    /// Nothing more to do now: call back with `Input::Timer` at this time (none: no timer).
    Timeout {
        at: Option<Instant>,
    },
}

/// One quality level the viewer could pick.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize), serde(rename_all = "camelCase"))]
pub struct LevelInfo {
    pub bandwidth_bps: u64,
    pub width: Option<u64>,
    pub height: Option<u64>,
    pub codecs: Option<String>,
}

/// Something the UI may show. Tagged `event` (not `type`) because it travels inside
/// `Output::Event`, whose own tag is `type`.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(Serialize),
    serde(
        tag = "event",
        rename_all = "camelCase",
        rename_all_fields = "camelCase"
    )
)]
pub enum Event {
    /// The levels of the loaded stream, in playlist order.
    Levels { levels: Vec<LevelInfo> },
    /// A switch to `level` starts (its playlist loads); `auto` tells whether ABR chose it
    /// or the viewer did.
    LevelSwitching { level: usize, auto: bool },
    /// Segments now come from `level`.
    LevelSelected { level: usize },
    /// The playhead entered media of `level`: the level the viewer sees.
    LevelSwitched { level: usize },
    /// A segment's bytes arrived.
    SegmentLoaded {
        level: usize,
        segment: usize,
        bytes: u64,
        source: SegmentSource,
    },
    /// Traffic so far and over the last interval, about once a second while P2P is on.
    Stats(Stats),
    /// A peer's data channel opened.
    PeerConnected {
        connection: ConnectionId,
        peers: usize,
    },
    /// A peer was dropped, with the reason (never its address).
    PeerDropped {
        connection: ConnectionId,
        reason: String,
        peers: usize,
    },
    /// A segment's bytes were refused: they do not match `segments-sha256.json`, or (without
    /// one) the browser could not decode bytes a peer sent. They are discarded and the
    /// segment is fetched from the origin; the peer (`connection`, when one delivered them)
    /// is dropped and banned, a mirror (`source` [`SegmentSource::Mirror`]) dropped.
    IntegrityFailure {
        level: usize,
        segment: usize,
        source: SegmentSource,
        connection: Option<ConnectionId>,
        check: IntegrityCheck,
    },
    /// A mirror ([`crate::Config::mirrors`]) is not asked for anything more until the next
    /// `Load`: it failed a request or sent bad bytes (the segment then comes from the
    /// origin), or there is no integrity file to check its segments against.
    MirrorDropped {
        /// The mirror's base URL, as resolved against the URL given to `Load`.
        url: String,
        reason: String,
    },
    Error {
        kind: ErrorKind,
        fatal: bool,
        message: String,
    },
    /// The media element failed and was re-created ([`Output::RecreateMedia`]); playback
    /// goes on from the same position after a short interruption.
    MediaRecovered {
        reason: RecoveryReason,
        message: String,
    },
}

/// Why the media element was re-created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize), serde(rename_all = "kebab-case"))]
pub enum RecoveryReason {
    /// It refused a segment a peer sent (no integrity file to check it against): the peer is
    /// banned and the segment comes from the origin.
    PeerSegment,
    /// It refused bytes from the origin, which may have been damaged on the way: they are
    /// fetched once more.
    AppendError,
    /// It failed to decode media it had accepted.
    DecodeError,
}

/// How bad segment bytes were found out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize), serde(rename_all = "kebab-case"))]
pub enum IntegrityCheck {
    /// Their SHA-256 digest differs from the one `segments-sha256.json` lists.
    Sha256,
    /// The media element refused them (no integrity file to check against).
    Decode,
}

/// Where a segment's bytes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize), serde(rename_all = "kebab-case"))]
pub enum SegmentSource {
    Http,
    Peer,
    /// Started with a peer, finished over HTTP.
    PeerThenHttp,
    /// Over HTTP from a mirror of the origin ([`crate::Config::mirrors`]).
    Mirror,
}

/// Byte counters since the stream started and speeds over the last interval.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(Serialize), serde(rename_all = "camelCase"))]
pub struct Stats {
    /// Every byte that came over HTTP: from the origin and from mirrors.
    pub http_bytes: u64,
    pub http_bps: f64,
    /// The part of `http_bytes` that came from mirrors (the origin served the rest).
    pub mirror_bytes: u64,
    pub p2p_down_bytes: u64,
    pub p2p_down_bps: f64,
    pub p2p_up_bytes: u64,
    pub p2p_up_bps: f64,
    pub peers: usize,
    /// Peers banned this session, the first [`MAX_LISTED_BANS`] of them.
    pub bans: Vec<Ban>,
    /// Peers banned this session, listed or not.
    pub bans_total: usize,
}

/// How many bans [`Stats::bans`] lists: enough to see what happened, bounded for a swarm that
/// keeps sending hostile peers.
pub const MAX_LISTED_BANS: usize = 16;

/// A peer banned for the session, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize), serde(rename_all = "camelCase"))]
pub struct Ban {
    /// The last four bytes of its peer id in hex (the random part; the first bytes name the
    /// client). Never its address.
    pub peer: String,
    pub kind: BanKind,
    /// What it did, in words.
    pub reason: String,
}

/// Why a peer was banned, as a stable code the UI and tests can match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize), serde(rename_all = "kebab-case"))]
pub enum BanKind {
    /// A message that does not decode, or a command above the size limit.
    MalformedMessage,
    /// Segment bytes with no transfer under way.
    UnexpectedBytes,
    /// Segment data we did not ask for.
    UnrequestedData,
    /// More bytes than its `SegmentData` header announced.
    TooManyBytes,
    /// A transfer reported complete wrongly (for instance before all its bytes arrived).
    WrongCompletion,
    /// A segment length that differs from the playlist's byte range.
    WrongLength,
    /// An announcement listing too many segments.
    OversizedAnnouncement,
    /// Too many announcements too fast.
    AnnouncementFlood,
    /// Too many requests too fast.
    RequestFlood,
    /// Too many requests for segments we never offered.
    UnofferedRequests,
    /// Segment bytes that do not match `segments-sha256.json`.
    Integrity,
    /// Segment bytes the media element could not decode (no integrity file).
    Undecodable,
}

/// What went wrong, as a stable code the UI can match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize), serde(rename_all = "kebab-case"))]
pub enum ErrorKind {
    /// The playlist text is malformed.
    PlaylistParse,
    /// The playlist could not be downloaded.
    PlaylistLoad,
    /// A segment or init segment could not be downloaded.
    SegmentLoad,
    /// The media element refused the media.
    MediaAppend,
    /// The stream uses something this player does not play (yet).
    Unsupported,
    /// The integrity file (`segments-sha256.json`) could not be loaded or read. Never fatal:
    /// playback goes on, with P2P as if there were no file.
    IntegrityFile,
}

/// The JSON forms the JS shim reads and writes (through serde-wasm-bindgen) for the media
/// element's recovery: a misspelt name would only show as an unknown order in the browser.
#[cfg(all(test, feature = "serde"))]
mod tests {
    use super::*;

    #[test]
    fn recovery_messages_have_the_names_the_shim_uses() {
        let input: Input =
            serde_json::from_str(r#"{"type":"mediaError","message":"media element error 3"}"#)
                .unwrap();
        assert_eq!(
            input,
            Input::MediaError {
                message: "media element error 3".into()
            }
        );
        assert_eq!(
            serde_json::to_value(Output::RecreateMedia).unwrap(),
            serde_json::json!({"type": "recreateMedia"})
        );
        let event = Output::Event(Event::MediaRecovered {
            reason: RecoveryReason::AppendError,
            message: "refused".into(),
        });
        assert_eq!(
            serde_json::to_value(event).unwrap(),
            serde_json::json!({
                "type": "event",
                "event": "mediaRecovered",
                "reason": "append-error",
                "message": "refused"
            })
        );
    }
}
