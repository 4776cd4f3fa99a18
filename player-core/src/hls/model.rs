//! The HLS data model the player works with (RFC 8216 nouns), independent of the parser library.
//!
//! Everything here is resolved: URIs are absolute, byte ranges have explicit offsets, and each
//! segment points at the init segment and key that apply to it.

#[cfg(feature = "serde")]
use serde::Serialize;

/// A byte range of a resource, with the offset always known (RFC 8216 4.3.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, serde::Deserialize))]
pub struct ByteRange {
    pub offset: u64,
    pub length: u64,
}

impl ByteRange {
    /// The last byte's position; HTTP Range and PeerTube's integrity file both use inclusive ends.
    pub fn last_byte(&self) -> u64 {
        self.offset + self.length.saturating_sub(1)
    }

    /// The value for an HTTP `Range` header.
    pub fn to_http_range(&self) -> String {
        format!("bytes={}-{}", self.offset, self.last_byte())
    }
}

/// A playlist as it was parsed: either kind can be the URL a user loads.
#[derive(Debug, Clone, PartialEq)]
pub enum Playlist {
    Multivariant(MultivariantPlaylist),
    Media(MediaPlaylist),
}

/// RFC 8216 4.3.4: the list of variants and renditions.
#[derive(Debug, Clone, PartialEq)]
pub struct MultivariantPlaylist {
    pub url: String,
    pub variants: Vec<Variant>,
    pub renditions: Vec<Rendition>,
}

/// RFC 8216 4.3.4.2: one `#EXT-X-STREAM-INF` and its media playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub uri: String,
    /// Peak bits per second.
    pub bandwidth: u64,
    pub average_bandwidth: Option<u64>,
    pub resolution: Option<Resolution>,
    pub codecs: Option<String>,
    pub frame_rate: Option<f64>,
    /// `VIDEO-RANGE` (`SDR`, `HLG`, `PQ`) as written: p2p-media-loader hashes it into the
    /// variant's swarm identity.
    pub video_range: Option<String>,
    /// GROUP-ID of the audio renditions this variant plays with.
    pub audio_group: Option<String>,
    pub subtitles_group: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Resolution {
    pub width: u64,
    pub height: u64,
}

/// RFC 8216 4.3.4.1: one `#EXT-X-MEDIA`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendition {
    pub kind: RenditionKind,
    pub group_id: String,
    pub name: String,
    pub language: Option<String>,
    /// Absent when the rendition's media is carried in the variant's own stream.
    pub uri: Option<String>,
    pub default: bool,
    pub autoselect: bool,
    pub channels: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenditionKind {
    Audio,
    Video,
    Subtitles,
    ClosedCaptions,
}

/// RFC 8216 4.3.3: a media playlist with its segments in order.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaPlaylist {
    pub url: String,
    pub target_duration_s: f64,
    /// Media sequence number of the first segment (RFC 8216 4.3.3.2).
    pub media_sequence: u64,
    pub discontinuity_sequence: u64,
    /// `#EXT-X-ENDLIST` seen: no segment will be added (VOD, or a live stream that ended).
    pub ended: bool,
    pub playlist_type: Option<PlaylistType>,
    pub segments: Vec<Segment>,
    /// Distinct init segments (`#EXT-X-MAP`), referenced by index from segments.
    pub init_segments: Vec<InitSegment>,
    /// Distinct keys (`#EXT-X-KEY` other than METHOD=NONE), referenced by index from segments.
    pub keys: Vec<EncryptionKey>,
}

impl MediaPlaylist {
    /// Sum of segment durations, i.e. the presentation length of a VOD.
    pub fn duration_s(&self) -> f64 {
        self.segments
            .last()
            .map(|s| s.start_s + s.duration_s)
            .unwrap_or(0.0)
    }

    /// Index of the segment whose time span holds `position_s`; positions past the end map to
    /// the last segment and negative ones to the first.
    pub fn segment_index_at(&self, position_s: f64) -> Option<usize> {
        if self.segments.is_empty() {
            return None;
        }
        let after = self
            .segments
            .partition_point(|s| s.start_s <= position_s.max(0.0));
        Some(after.saturating_sub(1))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaylistType {
    Vod,
    Event,
}

/// RFC 8216 4.3.2: one media segment with everything needed to fetch and place it.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Media sequence number (RFC 8216 3): the segment's id on live streams.
    pub sequence: u64,
    pub uri: String,
    pub duration_s: f64,
    /// Start time on the playlist timeline: the sum of the durations before it.
    pub start_s: f64,
    pub byte_range: Option<ByteRange>,
    /// Index into `MediaPlaylist::init_segments`.
    pub init_segment: Option<usize>,
    /// Index into `MediaPlaylist::keys`.
    pub key: Option<usize>,
    /// `#EXT-X-DISCONTINUITY` before this segment.
    pub discontinuity: bool,
    pub discontinuity_sequence: u64,
    /// 1-based line of the segment's URI in the playlist, for error messages.
    pub line: usize,
}

/// RFC 8216 4.3.2.5: `#EXT-X-MAP`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitSegment {
    pub uri: String,
    pub byte_range: Option<ByteRange>,
}

/// RFC 8216 4.3.2.4: `#EXT-X-KEY` with a method other than NONE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionKey {
    pub method: String,
    pub uri: Option<String>,
    pub iv: Option<String>,
}
