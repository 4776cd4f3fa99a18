//! The simulated HTTP origin: generated HLS content in PeerTube's layout (one fragmented MP4
//! per level, addressed by byte ranges; with [`Content::vod_split_audio`], video-only levels and
//! one audio rendition in an `#EXT-X-MEDIA` group, as PeerTube splits them), latency,
//! bandwidth, progress in chunks and scripted faults.
//!
//! One origin serves every viewer of a simulation: transfers are keyed by viewer and request,
//! and the bytes it sends are counted (what a CDN would bill). Mirrors ([`Origin::add_mirror`])
//! serve the same tree under other base URLs, each with a [`MirrorBehaviour`], through the
//! same pipe; their bytes are counted apart.
//!
//! Bandwidth model: `bandwidth_bytes_per_s` is one pipe shared equally among the transfers
//! (of every viewer) whose body is flowing. The share is taken when each chunk starts, so a transfer speeds up
//! or slows down at chunk boundaries as others start and finish. Headers arrive `latency`
//! after the request and do not use bandwidth.

use std::collections::BTreeMap;

use player_core::hls::ByteRange;
use player_core::integrity::{sha256, Digest};
use player_core::player::{FetchOrder, RequestId};
use player_core::{Duration, Input, Instant};

use super::clock::EventQueue;
use super::network::Corruption;
use super::{SimEvent, ViewerId};

/// Where the simulated origin serves from; relative playlist URIs resolve against it.
pub const BASE_URL: &str = "https://origin.test/static/streaming-playlists/hls/demo/";

/// Size of the `#EXT-X-MAP` init segment at the start of each level's file.
const INIT_BYTES: u64 = 1418;

/// `GROUP-ID` of the audio rendition of split content (PeerTube's).
pub const AUDIO_GROUP: &str = "audio";

/// Where the origin serves PeerTube's integrity file (when the content has one).
pub const INTEGRITY_URL: &str =
    "https://origin.test/static/streaming-playlists/hls/demo/segments-sha256.json";

/// One media segment of a level: its bytes in the level's file and its playlist time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentInfo {
    pub range: ByteRange,
    pub start_s: f64,
    pub duration_s: f64,
}

impl SegmentInfo {
    pub fn end_s(&self) -> f64 {
        self.start_s + self.duration_s
    }
}

/// One quality level (or the audio rendition of split content): a media playlist and the
/// single fragmented MP4 it points into.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    pub bitrate_bps: u64,
    pub playlist_url: String,
    pub file_url: String,
    pub init: ByteRange,
    pub segments: Vec<SegmentInfo>,
    pub file_len: u64,
}

/// What a (URL, range) names on the origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    Multivariant,
    MediaPlaylist {
        level: usize,
    },
    /// `segments-sha256.json`.
    IntegrityFile,
    Init {
        level: usize,
    },
    Segment {
        level: usize,
        index: usize,
    },
    /// The whole media file (an unranged request, or a server ignoring Range).
    File {
        level: usize,
    },
    /// Some other byte range inside a media file.
    OtherBytes {
        level: usize,
    },
    /// A range past the end of the file.
    OutOfRange,
    NotFound,
}

/// A VOD, or a live stream, as the origin serves it.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    pub multivariant_url: String,
    pub levels: Vec<Level>,
    pub duration_s: f64,
    /// A live stream listing this many segments: segment `i` is published once the clock
    /// passes its end time (the encoder started at time 0), and media playlists list the last
    /// `window` published ones, with `#EXT-X-ENDLIST` once all are.
    pub live_window: Option<usize>,
    /// Split content: this entry of `levels` is the audio rendition, listed in the master
    /// playlist as `#EXT-X-MEDIA:TYPE=AUDIO` and not as a variant; the others are video only.
    pub audio_level: Option<usize>,
    /// An `#EXT-X-DISCONTINUITY` before this segment, with a new `#EXT-X-MAP` (the encoder
    /// restarted): the same init bytes under another URI (`?restart=1`), so that the player
    /// must load and append an init segment again there.
    pub discontinuity_at: Option<usize>,
    /// Each segment (and init segment) is a file of its own, as PeerTube's live streams are
    /// cut, instead of a byte range of the level's file. The bytes are the same.
    pub segment_files: bool,
    /// The SHA-256 digest of every segment, by level, when the origin serves an integrity
    /// file at [`INTEGRITY_URL`]: PeerTube's VOD form (by byte range) for byte-range content,
    /// its live form (by file name) for [`Content::segment_files`].
    pub digests: Option<Vec<Vec<Digest>>>,
    /// A live integrity file lists a segment this long after it is published (PeerTube's
    /// trails the playlist); infinite: never.
    pub integrity_lag_s: f64,
}

/// The query that names the init segment after [`Content::discontinuity_at`].
const RESTART_QUERY: &str = "?restart=1";

impl Content {
    /// A VOD of `duration_s` seconds cut in 4 s segments, one level per bitrate. Segment sizes
    /// vary by ±15% around the bitrate so byte ranges differ, as real encodes do.
    pub fn vod(duration_s: f64, bitrates_bps: &[u64]) -> Content {
        const SEGMENT_S: f64 = 4.0;
        let levels = bitrates_bps
            .iter()
            .enumerate()
            .map(|(level, &bitrate_bps)| {
                let mut segments = Vec::new();
                let mut offset = INIT_BYTES;
                let mut start_s = 0.0;
                let mut index = 0u64;
                while start_s < duration_s - 1e-9 {
                    let duration = SEGMENT_S.min(duration_s - start_s);
                    let factor = 0.85 + 0.3 * ((index * 37 + 11) % 17) as f64 / 16.0;
                    let length = (bitrate_bps as f64 / 8.0 * duration * factor).round() as u64;
                    segments.push(SegmentInfo {
                        range: ByteRange { offset, length },
                        start_s,
                        duration_s: duration,
                    });
                    offset += length;
                    start_s += duration;
                    index += 1;
                }
                Level {
                    bitrate_bps,
                    playlist_url: format!("{BASE_URL}demo-level{level}.m3u8"),
                    file_url: format!("{BASE_URL}demo-level{level}-fragmented.mp4"),
                    init: ByteRange {
                        offset: 0,
                        length: INIT_BYTES,
                    },
                    segments,
                    file_len: offset,
                }
            })
            .collect();
        Content {
            multivariant_url: format!("{BASE_URL}master.m3u8"),
            levels,
            duration_s,
            live_window: None,
            audio_level: None,
            discontinuity_at: None,
            segment_files: false,
            digests: None,
            integrity_lag_s: 0.0,
        }
    }

    /// The same content with PeerTube's integrity file served at [`INTEGRITY_URL`].
    pub fn with_integrity(mut self) -> Content {
        let digests = (0..self.levels.len())
            .map(|level| {
                self.levels[level]
                    .segments
                    .iter()
                    .map(|s| sha256(&self.file_bytes(level, s.range.offset, s.range.length)))
                    .collect()
            })
            .collect();
        self.digests = Some(digests);
        self
    }

    /// A live stream cut in one file per segment, as PeerTube's live streams are (see
    /// [`Content::live`]).
    pub fn live_files(duration_s: f64, bitrates_bps: &[u64], window: usize) -> Content {
        Content {
            segment_files: true,
            ..Content::live(duration_s, bitrates_bps, window)
        }
    }

    /// The URL of a segment: its own file, or the level's file (with a byte range).
    pub fn segment_url(&self, level: usize, index: usize) -> String {
        if self.segment_files {
            format!("{BASE_URL}demo-level{level}-{index:05}.m4s")
        } else {
            self.levels[level].file_url.clone()
        }
    }

    /// The URL of a level's init segment.
    fn init_url(&self, level: usize) -> String {
        if self.segment_files {
            format!("{BASE_URL}demo-level{level}-init.mp4")
        } else {
            self.levels[level].file_url.clone()
        }
    }

    /// `segments-sha256.json` as served at `now_s` (`None` without one): for byte-range
    /// content PeerTube's VOD form, `{"<file>": {"<start>-<end>": "<hex>"}}`; for segment
    /// files its live form, `{"<segment file>": "<hex>"}`, listing the segments published
    /// [`Content::integrity_lag_s`] ago at least that are still in the live window.
    pub fn integrity_json_at(&self, now_s: f64) -> Option<String> {
        let digests = self.digests.as_ref()?;
        let mut entries = Vec::new();
        for (level, (info, digests)) in self.levels.iter().zip(digests).enumerate() {
            let published = self.published(level, now_s);
            let first = self.live_window.map_or(0, |w| published.saturating_sub(w));
            let listed = info.segments[..published]
                .iter()
                .take_while(|s| s.end_s() + self.integrity_lag_s <= now_s)
                .count()
                .max(if self.live_window.is_some() {
                    0
                } else {
                    published
                });
            let segments = (first.min(listed)..listed).map(|i| (i, &info.segments[i]));
            if self.segment_files {
                for (index, _) in segments {
                    let url = self.segment_url(level, index);
                    let name = url.trim_start_matches(BASE_URL);
                    entries.push(format!("\"{name}\": \"{}\"", digests[index]));
                }
            } else {
                let ranges: Vec<String> = segments
                    .map(|(index, s)| {
                        let last = s.range.offset + s.range.length - 1;
                        format!("\"{}-{last}\": \"{}\"", s.range.offset, digests[index])
                    })
                    .collect();
                let name = info.file_url.trim_start_matches(BASE_URL);
                entries.push(format!("\"{name}\": {{{}}}", ranges.join(", ")));
            }
        }
        Some(format!("{{{}}}", entries.join(",\n")))
    }

    /// Where the body of a (URL, range) request lies in a level's file: `(level, offset,
    /// length)`, or `None` when the URL names no media or the range does not fit.
    pub fn file_span(&self, url: &str, range: Option<ByteRange>) -> Option<(usize, u64, u64)> {
        let (level, base) = self.media_file_of(url)?;
        let within = match range {
            Some(r) if r.length == 0 || r.offset + r.length > base.length => return None,
            Some(r) => r,
            None => ByteRange {
                offset: 0,
                length: base.length,
            },
        };
        Some((level, base.offset + within.offset, within.length))
    }

    /// The level and the span of its file a media URL serves (the whole file, or one
    /// segment's or init segment's part of it).
    fn media_file_of(&self, url: &str) -> Option<(usize, ByteRange)> {
        let url = url.strip_suffix(RESTART_QUERY).unwrap_or(url);
        for (level, info) in self.levels.iter().enumerate() {
            if !self.segment_files {
                if url == info.file_url {
                    let whole = ByteRange {
                        offset: 0,
                        length: info.file_len,
                    };
                    return Some((level, whole));
                }
                continue;
            }
            if url == self.init_url(level) {
                return Some((level, info.init));
            }
            let prefix = format!("{BASE_URL}demo-level{level}-");
            if let Some(index) = url
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix(".m4s"))
                .and_then(|n| n.parse::<usize>().ok())
            {
                return info.segments.get(index).map(|s| (level, s.range));
            }
        }
        None
    }

    /// A VOD with audio and video split, as PeerTube can produce it: one video-only level per
    /// video bitrate, and one audio-only rendition (the last entry of `levels`) in the audio
    /// group every variant names. Same 4 s segments and byte-range layout as [`Content::vod`].
    pub fn vod_split_audio(
        duration_s: f64,
        video_bitrates_bps: &[u64],
        audio_bitrate_bps: u64,
    ) -> Content {
        let mut bitrates = video_bitrates_bps.to_vec();
        bitrates.push(audio_bitrate_bps);
        let mut content = Content::vod(duration_s, &bitrates);
        let audio = video_bitrates_bps.len();
        content.levels[audio].playlist_url = format!("{BASE_URL}demo-audio.m3u8");
        content.levels[audio].file_url = format!("{BASE_URL}demo-audio-fragmented.mp4");
        content.audio_level = Some(audio);
        content
    }

    /// The levels that are variants (all but the audio rendition of split content).
    pub fn video_levels(&self) -> Vec<usize> {
        (0..self.levels.len())
            .filter(|&l| Some(l) != self.audio_level)
            .collect()
    }

    /// A live stream of `duration_s` seconds (see [`Content::live_window`]).
    pub fn live(duration_s: f64, bitrates_bps: &[u64], window: usize) -> Content {
        Content {
            live_window: Some(window),
            ..Content::vod(duration_s, bitrates_bps)
        }
    }

    /// Segments of a level published by `now_s` (all of a VOD).
    pub fn published(&self, level: usize, now_s: f64) -> usize {
        let segments = &self.levels[level].segments;
        match self.live_window {
            None => segments.len(),
            Some(_) => segments
                .iter()
                .take_while(|s| s.end_s() <= now_s + 1e-9)
                .count(),
        }
    }

    pub fn multivariant_text(&self) -> String {
        let mut text = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
        let audio = self.audio_level.map(|a| &self.levels[a]);
        if let Some(audio) = audio {
            let uri = audio.playlist_url.trim_start_matches(BASE_URL);
            text.push_str(&format!(
                "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"{AUDIO_GROUP}\",NAME=\"Audio\",\
                 AUTOSELECT=YES,DEFAULT=YES,URI=\"{uri}\"\n"
            ));
        }
        for level in self.video_levels() {
            let info = &self.levels[level];
            // BANDWIDTH is the peak rate (RFC 8216 4.3.4.2): the ±15% segment sizes stay under
            // it. With split audio, BANDWIDTH and CODECS cover the audio rendition too.
            let bitrate_bps = info.bitrate_bps + audio.map_or(0, |a| a.bitrate_bps);
            let peak = bitrate_bps * 115 / 100;
            let group = if audio.is_some() {
                format!(",AUDIO=\"{AUDIO_GROUP}\"")
            } else {
                String::new()
            };
            text.push_str(&format!(
                "#EXT-X-STREAM-INF:BANDWIDTH={peak},CODECS=\"avc1.64001f,mp4a.40.2\"{group}\n\
                 demo-level{level}.m3u8\n"
            ));
        }
        text
    }

    /// PeerTube's layout: `#EXT-X-MAP` with BYTERANGE, then `#EXTINF` + `#EXT-X-BYTERANGE`
    /// + the file name for every segment. Segment `i`'s byte range is on line `9 + 3 * i`.
    pub fn media_playlist_text(&self, level: usize) -> String {
        self.media_playlist_text_at(level, f64::INFINITY)
    }

    /// The media playlist as served at `now_s`: a live stream lists its window then.
    pub fn media_playlist_text_at(&self, level: usize, now_s: f64) -> String {
        let info = &self.levels[level];
        let file = info.file_url.trim_start_matches(BASE_URL);
        if self.segment_files {
            return self.segment_files_playlist_at(level, now_s);
        }
        let published = self.published(level, now_s);
        let first = self.live_window.map_or(0, |w| published.saturating_sub(w));
        let playlist_type = if self.live_window.is_some() {
            ""
        } else {
            "#EXT-X-PLAYLIST-TYPE:VOD\n"
        };
        let mut text = format!(
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:{first}\n\
             {playlist_type}#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-MAP:URI=\"{file}\",BYTERANGE=\"{}@{}\"\n",
            info.init.length, info.init.offset
        );
        for (index, segment) in info.segments[..published].iter().enumerate().skip(first) {
            if self.discontinuity_at == Some(index) {
                text.push_str(&format!(
                    "#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"{file}{RESTART_QUERY}\",BYTERANGE=\"{}@{}\"\n",
                    info.init.length, info.init.offset
                ));
            }
            text.push_str(&format!(
                "#EXTINF:{:.6},\n#EXT-X-BYTERANGE:{}@{}\n{file}\n",
                segment.duration_s, segment.range.length, segment.range.offset
            ));
        }
        if published == info.segments.len() {
            text.push_str("#EXT-X-ENDLIST\n");
        }
        text
    }

    /// The media playlist of segment-file content: `#EXT-X-MAP` and one URI per segment,
    /// no byte ranges.
    fn segment_files_playlist_at(&self, level: usize, now_s: f64) -> String {
        let info = &self.levels[level];
        let published = self.published(level, now_s);
        let first = self.live_window.map_or(0, |w| published.saturating_sub(w));
        let init = self.init_url(level);
        let mut text = format!(
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:{first}\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"{}\"\n",
            init.trim_start_matches(BASE_URL)
        );
        for (index, segment) in info.segments[first..published].iter().enumerate() {
            let url = self.segment_url(level, first + index);
            text.push_str(&format!(
                "#EXTINF:{:.6},\n{}\n",
                segment.duration_s,
                url.trim_start_matches(BASE_URL)
            ));
        }
        if published == info.segments.len() {
            text.push_str("#EXT-X-ENDLIST\n");
        }
        text
    }

    pub fn resolve(&self, url: &str, range: Option<ByteRange>) -> Resource {
        let url = url.strip_suffix(RESTART_QUERY).unwrap_or(url);
        if url == self.multivariant_url {
            return Resource::Multivariant;
        }
        if url == INTEGRITY_URL {
            return if self.digests.is_some() {
                Resource::IntegrityFile
            } else {
                Resource::NotFound
            };
        }
        if self.segment_files {
            return self.resolve_segment_file(url, range);
        }
        for (level, info) in self.levels.iter().enumerate() {
            if url == info.playlist_url {
                return Resource::MediaPlaylist { level };
            }
            if url != info.file_url {
                continue;
            }
            let Some(range) = range else {
                return Resource::File { level };
            };
            if range.length == 0 || range.offset + range.length > info.file_len {
                return Resource::OutOfRange;
            }
            if range == info.init {
                return Resource::Init { level };
            }
            return match info.segments.iter().position(|s| s.range == range) {
                Some(index) => Resource::Segment { level, index },
                None => Resource::OtherBytes { level },
            };
        }
        Resource::NotFound
    }

    /// [`Content::resolve`] for segment-file content.
    fn resolve_segment_file(&self, url: &str, range: Option<ByteRange>) -> Resource {
        for (level, info) in self.levels.iter().enumerate() {
            if url == info.playlist_url {
                return Resource::MediaPlaylist { level };
            }
        }
        let Some((level, base)) = self.media_file_of(url) else {
            return Resource::NotFound;
        };
        let Some((_, offset, length)) = self.file_span(url, range) else {
            return Resource::OutOfRange;
        };
        let span = ByteRange { offset, length };
        let info = &self.levels[level];
        if span == info.init {
            return Resource::Init { level };
        }
        match info.segments.iter().position(|s| s.range == span) {
            Some(index) => Resource::Segment { level, index },
            None if span == base => Resource::File { level },
            None => Resource::OtherBytes { level },
        }
    }

    /// A segment's playlist time span, for the media element.
    pub fn segment(&self, level: usize, index: usize) -> SegmentInfo {
        self.levels[level].segments[index]
    }
}

/// How the origin misbehaves for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and no body.
    Status(u16),
    /// Never answer (the request hangs until the client gives up).
    NoAnswer,
    /// Send headers and this many body bytes, then nothing more.
    StallAfter { bytes: u64 },
    /// Send headers and this many body bytes, then end the body as if complete (a server
    /// whose Content-Length is wrong, or whose connection ended where the client did not
    /// notice).
    TruncateAt { bytes: u64 },
    /// Answer 206 with the right bytes but a `Content-Range` naming another first byte.
    WrongContentRange,
    /// Ignore the Range header: answer 200 with the whole file.
    IgnoreRange,
    /// Answer in full, with the body's first byte damaged on the way: the media element
    /// cannot parse it.
    CorruptHeader,
}

/// How a mirror answers every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorBehaviour {
    /// As the origin does.
    Ok,
    /// With this status and no body.
    Status(u16),
    /// The right status and length, with a byte of the body flipped (after the header the
    /// media element reads, so that appending it would be caught as wrong bytes).
    Corrupt,
}

#[derive(Debug, Clone)]
struct MirrorRule {
    /// Ends with `/`; stands for [`BASE_URL`].
    base: String,
    behaviour: MirrorBehaviour,
}

#[derive(Debug, Clone)]
struct FaultRule {
    url: String,
    /// `None` matches any range of the URL.
    range: Option<ByteRange>,
    fault: Fault,
    /// How many more matching requests get the fault.
    remaining: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OriginConfig {
    /// From request to response headers.
    pub latency: Duration,
    /// Shared among flowing transfers (see the module doc).
    pub bandwidth_bytes_per_s: u64,
    /// Body bytes per `HttpProgress`.
    pub chunk_bytes: u64,
}

impl Default for OriginConfig {
    fn default() -> Self {
        OriginConfig {
            latency: Duration::from_millis(50),
            bandwidth_bytes_per_s: 1_000_000,
            chunk_bytes: 64 * 1024,
        }
    }
}

/// The next thing that happens to a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpStep {
    Headers,
    Chunk,
    Fail(u16),
}

#[derive(Debug)]
struct Transfer {
    status: u16,
    total: u64,
    loaded: u64,
    stall_at: Option<u64>,
    text: Option<String>,
    body: Resource,
    /// The level file and offset the body's bytes come from (media bodies only).
    file: Option<(usize, u64)>,
    want_text: bool,
    /// Headers sent and body bytes still coming: takes a share of the bandwidth.
    flowing: bool,
    /// The first byte the answer's `Content-Range` names (206 answers).
    content_range_start: Option<u64>,
    /// Served by a mirror: its bytes are counted apart.
    mirror: bool,
    /// The body arrives damaged: by a corrupting mirror ([`MirrorBehaviour::Corrupt`]), or on
    /// the way ([`Fault::CorruptHeader`]).
    corruption: Option<Corruption>,
}

/// A whole body as it arrived: what it is, its length, and for media the level file and
/// offset its bytes were read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    pub resource: Resource,
    pub bytes: u64,
    pub file: Option<(usize, u64)>,
    /// How it was damaged, if it was: a corrupting mirror's bytes still parse, a header
    /// damaged on the way does not.
    pub corruption: Option<Corruption>,
}

/// What a transfer step tells the client; `body` is set when the whole body has arrived.
#[derive(Debug)]
pub struct StepOutcome {
    pub input: Input,
    pub body: Option<Served>,
}

#[derive(Debug)]
pub struct Origin {
    pub config: OriginConfig,
    pub content: Content,
    text_overrides: BTreeMap<String, String>,
    faults: Vec<FaultRule>,
    transfers: BTreeMap<(ViewerId, RequestId), Transfer>,
    mirrors: Vec<MirrorRule>,
    /// Body bytes the origin sent to every viewer so far, cancelled transfers included.
    pub served_bytes: u64,
    /// The same for the mirrors.
    pub mirror_served_bytes: u64,
}

impl Origin {
    pub fn new(config: OriginConfig, content: Content) -> Self {
        Origin {
            config,
            content,
            text_overrides: BTreeMap::new(),
            faults: Vec::new(),
            transfers: BTreeMap::new(),
            mirrors: Vec::new(),
            served_bytes: 0,
            mirror_served_bytes: 0,
        }
    }

    /// Serves the origin's tree under `base` (ending with `/`) too, as `behaviour` says.
    pub fn add_mirror(&mut self, base: &str, behaviour: MirrorBehaviour) {
        assert!(base.ends_with('/'), "a mirror base ends with /: {base}");
        self.mirrors.push(MirrorRule {
            base: base.to_owned(),
            behaviour,
        });
    }

    /// The origin's URL for `url` and, when a mirror's URL, how that mirror behaves.
    fn through_mirror(&self, url: &str) -> (String, Option<MirrorBehaviour>) {
        for mirror in &self.mirrors {
            if let Some(rest) = url.strip_prefix(&mirror.base) {
                return (format!("{BASE_URL}{rest}"), Some(mirror.behaviour));
            }
        }
        (url.to_owned(), None)
    }

    /// What a (URL, range) names, on the origin or a mirror.
    pub fn resolve(&self, url: &str, range: Option<ByteRange>) -> Resource {
        self.content.resolve(&self.through_mirror(url).0, range)
    }

    /// Serves `text` at `url` instead of the generated playlist.
    pub fn set_text(&mut self, url: &str, text: String) {
        self.text_overrides.insert(url.to_owned(), text);
    }

    /// The next `times` requests of `url` (with exactly `range`, or any range when `None`)
    /// get `fault`. `u32::MAX` means always.
    pub fn add_fault(&mut self, url: &str, range: Option<ByteRange>, fault: Fault, times: u32) {
        self.faults.push(FaultRule {
            url: url.to_owned(),
            range,
            fault,
            remaining: times,
        });
    }

    /// Shorthand for a fault on one media segment.
    pub fn fault_segment(&mut self, level: usize, index: usize, fault: Fault, times: u32) {
        let url = self.content.levels[level].file_url.clone();
        let range = self.content.levels[level].segments[index].range;
        self.add_fault(&url, Some(range), fault, times);
    }

    fn take_fault(&mut self, url: &str, range: Option<ByteRange>) -> Option<Fault> {
        let rule = self
            .faults
            .iter_mut()
            .find(|r| r.remaining > 0 && r.url == url && (r.range.is_none() || r.range == range))?;
        rule.remaining -= 1;
        Some(rule.fault)
    }

    /// Transfers of `viewer` not finished, failed or cancelled.
    pub fn open_transfers(&self, viewer: ViewerId) -> usize {
        self.transfers.keys().filter(|(v, _)| *v == viewer).count()
    }

    /// Starts answering `order` of `viewer`; every later step arrives through `queue`.
    pub fn start(
        &mut self,
        now: Instant,
        viewer: ViewerId,
        order: &FetchOrder,
        queue: &mut EventQueue<SimEvent>,
    ) {
        let (url, mirror) = self.through_mirror(&order.url);
        // Faults are keyed by the URL asked for: the origin's and a mirror's differ.
        let mut fault = self.take_fault(&order.url, order.range);
        if let Some(MirrorBehaviour::Status(status)) = mirror {
            fault = Some(Fault::Status(status));
        }
        let resource = self.content.resolve(&url, order.range);
        if let Resource::Segment { level, index } = resource {
            if index >= self.content.published(level, super::clock::secs(now)) {
                // Not encoded yet: a live origin has no such segment.
                fault = Some(Fault::Status(404));
            }
        }
        let mut transfer = Transfer {
            status: 200,
            total: 0,
            loaded: 0,
            stall_at: None,
            text: None,
            body: resource,
            file: None,
            want_text: order.want_text,
            flowing: false,
            content_range_start: None,
            mirror: mirror.is_some(),
            corruption: if fault == Some(Fault::CorruptHeader) {
                Some(Corruption::Header)
            } else if mirror == Some(MirrorBehaviour::Corrupt) {
                Some(Corruption::Payload)
            } else {
                None
            },
        };
        let headers_at = now + self.config.latency;
        let mut step = HttpStep::Headers;
        match (fault, resource) {
            (Some(Fault::NoAnswer), _) => {
                // Kept so a CancelFetch finds it, but nothing is ever scheduled.
                self.transfers.insert((viewer, order.request), transfer);
                return;
            }
            (Some(Fault::Status(status)), _) => step = HttpStep::Fail(status),
            (_, Resource::NotFound) => step = HttpStep::Fail(404),
            (_, Resource::OutOfRange) => step = HttpStep::Fail(416),
            (
                _,
                Resource::Multivariant | Resource::MediaPlaylist { .. } | Resource::IntegrityFile,
            ) => {
                let now_s = super::clock::secs(now);
                let text =
                    self.text_overrides.get(&order.url).cloned().unwrap_or_else(
                        || match resource {
                            Resource::Multivariant => self.content.multivariant_text(),
                            Resource::MediaPlaylist { level } => {
                                self.content.media_playlist_text_at(level, now_s)
                            }
                            Resource::IntegrityFile => {
                                self.content.integrity_json_at(now_s).unwrap_or_default()
                            }
                            _ => unreachable!("matched above"),
                        },
                    );
                transfer.total = text.len() as u64;
                transfer.text = Some(text);
            }
            (
                _,
                Resource::Init { level }
                | Resource::Segment { level, .. }
                | Resource::OtherBytes { level }
                | Resource::File { level },
            ) => {
                let range = order.range.filter(|_| fault != Some(Fault::IgnoreRange));
                let (_, offset, length) = self
                    .content
                    .file_span(&url, range)
                    .expect("resolved to media above");
                transfer.file = Some((level, offset));
                transfer.total = length;
                if let Some(range) = range {
                    transfer.status = 206;
                    transfer.content_range_start = Some(range.offset);
                    if fault == Some(Fault::WrongContentRange) {
                        transfer.content_range_start = Some(range.offset + 1);
                    }
                } else if !self.content.segment_files {
                    transfer.body = Resource::File { level };
                }
            }
        }
        if let Some(Fault::StallAfter { bytes }) = fault {
            transfer.stall_at = Some(bytes.min(transfer.total.saturating_sub(1)));
        }
        if let Some(Fault::TruncateAt { bytes }) = fault {
            transfer.total = bytes.min(transfer.total);
        }
        self.transfers.insert((viewer, order.request), transfer);
        queue.push(
            headers_at,
            SimEvent::Http {
                viewer,
                request: order.request,
                step,
            },
        );
    }

    /// The client aborted: no further step of this transfer reaches it.
    pub fn cancel(&mut self, viewer: ViewerId, request: RequestId) {
        self.transfers.remove(&(viewer, request));
    }

    fn schedule_chunk(
        &self,
        now: Instant,
        viewer: ViewerId,
        request: RequestId,
        bytes: u64,
        queue: &mut EventQueue<SimEvent>,
    ) {
        let sharing = self.transfers.values().filter(|t| t.flowing).count().max(1) as u64;
        let micros = bytes * sharing * 1_000_000 / self.config.bandwidth_bytes_per_s.max(1);
        queue.push(
            now + Duration(micros.max(1)),
            SimEvent::Http {
                viewer,
                request,
                step: HttpStep::Chunk,
            },
        );
    }

    /// Carries out one step; `None` when the transfer was cancelled in the meantime.
    pub fn on_step(
        &mut self,
        now: Instant,
        viewer: ViewerId,
        request: RequestId,
        step: HttpStep,
        queue: &mut EventQueue<SimEvent>,
    ) -> Option<StepOutcome> {
        let chunk_bytes = self.config.chunk_bytes.max(1);
        let key = (viewer, request);
        let transfer = self.transfers.get_mut(&key)?;
        match step {
            HttpStep::Fail(status) => {
                self.transfers.remove(&key);
                Some(StepOutcome {
                    input: Input::HttpFailed {
                        request,
                        status: Some(status),
                        message: format!("HTTP {status}"),
                    },
                    body: None,
                })
            }
            HttpStep::Headers => {
                transfer.flowing = true;
                let status = transfer.status;
                let range_start = transfer.content_range_start;
                let next = chunk_bytes.min(transfer.total);
                self.schedule_chunk(now, viewer, request, next, queue);
                Some(StepOutcome {
                    input: Input::HttpResponse {
                        request,
                        status,
                        range_start,
                    },
                    body: None,
                })
            }
            HttpStep::Chunk => {
                let remaining = transfer.total - transfer.loaded;
                let sent = chunk_bytes.min(remaining);
                transfer.loaded += sent;
                if transfer.mirror {
                    self.mirror_served_bytes += sent;
                } else {
                    self.served_bytes += sent;
                }
                let loaded_bytes = transfer.loaded;
                if loaded_bytes >= transfer.total {
                    let transfer = self.transfers.remove(&key).expect("looked up above");
                    return Some(StepOutcome {
                        input: Input::HttpDone {
                            request,
                            loaded_bytes,
                            // Only requests that asked for text get it (playlists).
                            text: transfer.text.filter(|_| transfer.want_text),
                        },
                        body: Some(Served {
                            resource: transfer.body,
                            bytes: transfer.total,
                            file: transfer.file,
                            corruption: transfer.corruption,
                        }),
                    });
                }
                if transfer.stall_at.is_some_and(|at| loaded_bytes >= at) {
                    // Stalled: the connection stays open but frees its bandwidth share.
                    transfer.flowing = false;
                } else {
                    let next = chunk_bytes.min(transfer.total - loaded_bytes);
                    self.schedule_chunk(now, viewer, request, next, queue);
                }
                Some(StepOutcome {
                    input: Input::HttpProgress {
                        request,
                        loaded_bytes,
                    },
                    body: None,
                })
            }
        }
    }
}
