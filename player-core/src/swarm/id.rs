//! Swarm identity: which tracker swarm (info hash) a viewer of a given stream joins, computed
//! exactly as p2p-media-loader 2.3.x with hls.js does, so that Shoal viewers and hls.js +
//! p2p-media-loader viewers of the same stream meet; PeerTube's own swarm ids; our peer ids.
//!
//! How p2p-media-loader names a swarm (read in `p2p-media-loader-core/src/utils/stream.ts`,
//! `utils/peer.ts`, `core.ts` and `p2p-media-loader-hlsjs/src/segment-manager.ts`, 2.3.1):
//! - swarm id: the `swarmId` option if set, else the manifest's *response* URL (after
//!   redirects) cut at its first `?` (`Core.setManifestResponseUrl`);
//! - stream swarm id: `"v2-" + swarmId + "-" + type + "-" + shortId`, type `main` for hls.js
//!   levels (video or muxed) and `secondary` for hls.js audio tracks;
//! - short id: standard base64 (28 characters, `=`-padded) of the SHA-1 of a string built from
//!   the level's or audio track's attributes (see [`StreamProperties`]);
//! - info hash: base64 of the first 15 bytes of SHA-1(stream swarm id): 20 ASCII characters,
//!   sent to the tracker as its 20 bytes.
//!
//! The goldens in `tests/fixtures/swarm/goldens.json` come from the real packages
//! (`tests/interop/swarm-goldens.mjs`) and `tests/swarm_ids.rs` holds this file to them.

use sha1::{Digest, Sha1};

use crate::hls::{MultivariantPlaylist, Rendition, RenditionKind, Variant};

/// p2p-media-loader's `PEER_PROTOCOL_VERSION`, the first part of every stream swarm id.
pub const PEER_PROTOCOL_VERSION: &str = "v2";

/// Which of p2p-media-loader's two stream kinds a swarm is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamType {
    /// An hls.js level: video, or muxed audio and video.
    Main,
    /// An hls.js audio track: an `#EXT-X-MEDIA:TYPE=AUDIO` rendition with its own playlist.
    Secondary,
}

impl StreamType {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamType::Main => "main",
            StreamType::Secondary => "secondary",
        }
    }
}

/// One stream p2p-media-loader would register for a multivariant playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamIdentity {
    /// The media playlist URL (p2p-media-loader's `runtimeId`).
    pub url: String,
    pub stream_type: StreamType,
    /// The base64 SHA-1 short id (p2p-media-loader's `stream.index`).
    pub short_id: String,
}

/// The inputs of p2p-media-loader's `generateStreamShortId`, already taken out of the
/// playlist the way p2p-media-loader-hlsjs takes them out of hls.js objects.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamProperties {
    /// A JavaScript number: `NaN` and infinities are possible (see [`variant_properties`]).
    pub bitrate: f64,
    pub codecs: Option<String>,
    pub width: Option<u64>,
    pub height: Option<u64>,
    pub language: Option<String>,
    pub channels: Option<String>,
    pub name: Option<String>,
    pub frame_rate: Option<f64>,
    pub video_range: Option<String>,
}

/// The swarm id p2p-media-loader derives from the manifest URL when no `swarmId` is
/// configured: the URL cut at its first `?`.
///
/// p2p-media-loader takes the URL from the XHR's `responseURL` or the fetch `Response.url`,
/// both of which browsers give without the fragment, so a fragment is dropped too. Pass the
/// URL the playlist was finally served from (after redirects), serialized by a WHATWG URL
/// parser (as `url::Url` does).
pub fn manifest_swarm_id(manifest_response_url: &str) -> &str {
    let no_fragment = manifest_response_url
        .split('#')
        .next()
        .unwrap_or(manifest_response_url);
    no_fragment.split('?').next().unwrap_or(no_fragment)
}

/// `"v2-" + swarm_id + "-" + type + "-" + short_id` (p2p-media-loader `getStreamSwarmId`).
pub fn stream_swarm_id(swarm_id: &str, stream_type: StreamType, short_id: &str) -> String {
    format!(
        "{PEER_PROTOCOL_VERSION}-{swarm_id}-{}-{short_id}",
        stream_type.as_str()
    )
}

/// The 20-byte info hash of a stream swarm id: base64 of the first 15 bytes of its SHA-1
/// (p2p-media-loader `getStreamHash`; PeerTube's `generateP2PMediaLoaderHash` is the same).
/// The id is hashed as UTF-8 (`TextEncoder`), and the 20 base64 characters are the bytes.
pub fn info_hash(stream_swarm_id: &str) -> [u8; 20] {
    let digest = Sha1::digest(stream_swarm_id.as_bytes());
    let mut out = [0u8; 20];
    for (chunk, dst) in digest[..15].chunks(3).zip(out.chunks_mut(4)) {
        let n = (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]);
        for (i, byte) in dst.iter_mut().enumerate() {
            *byte = BASE64[((n >> (18 - 6 * i)) & 63) as usize];
        }
    }
    out
}

/// The stream swarm id a PeerTube viewer of `video_uuid` uses, as PeerTube's server computes
/// it for its tracker's allow-list (`generateSwarmId` in `packages/core-utils/src/videos/p2p.ts`,
/// fed by `VideoStreamingPlaylistModel.buildP2PMediaLoaderInfoHashes` with protocol `v2`):
/// `pt-v2-{uuid}-{type}-default-{resolution}`, or `pt-v2-{uuid}-{type}-default-default` when
/// the resolution is 0 (PeerTube's audio-only file). The info hash is [`info_hash`] of it; a
/// private PeerTube tracker refuses (and briefly blocks the IP of) any other info hash.
pub fn peertube_stream_swarm_id(
    video_uuid: &str,
    stream_type: StreamType,
    resolution: u32,
) -> String {
    let kind = stream_type.as_str();
    if resolution == 0 {
        format!("pt-{PEER_PROTOCOL_VERSION}-{video_uuid}-{kind}-default-default")
    } else {
        format!("pt-{PEER_PROTOCOL_VERSION}-{video_uuid}-{kind}-default-{resolution}")
    }
}

/// PeerTube's resolution id of a variant, as its player maps an hls.js level to a video
/// file: `min(width, height)` (`levelLabelHandler` in PeerTube's
/// `client/src/assets/player/shared/player-options-builder/hls-options-builder.ts`), so a
/// 1280x720 and a 720x1280 file are both 720; 0 when the variant has no RESOLUTION (an
/// audio-only file, PeerTube's `VideoResolution.H_NOVIDEO`).
pub fn peertube_resolution(variant: &Variant) -> u32 {
    variant
        .resolution
        .map(|r| u32::try_from(r.width.min(r.height)).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

/// Our peer id prefix, in p2p-media-loader's style (`-PM0203-` for 2.3.x): `-SH` then the
/// crate's major and minor version, two digits each.
pub fn peer_id_prefix() -> String {
    format!(
        "-SH{:0>2}{:0>2}-",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR")
    )
}

/// A fresh 20-byte peer id: [`peer_id_prefix`] then characters drawn uniformly from
/// `A-Z a-z 0-9`, like p2p-media-loader's `generatePeerId`.
pub fn new_peer_id(rng: &mut fastrand::Rng) -> [u8; 20] {
    const SYMBOLS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let prefix = peer_id_prefix();
    let mut id = [0u8; 20];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = match prefix.as_bytes().get(i) {
            Some(&b) => b,
            None => SYMBOLS[rng.usize(..SYMBOLS.len())],
        };
    }
    id
}

/// p2p-media-loader's `generateStreamShortId`: normalizes the properties into
/// `bitrate-codecs-width-height-language-channels-name-frameRate-videoRange`, hashes it with
/// SHA-1 and returns the digest in standard, padded base64.
pub fn stream_short_id(p: &StreamProperties) -> String {
    let codecs = p
        .codecs
        .as_deref()
        .map(normalize_codecs)
        .unwrap_or_default();
    let language = match p.language.as_deref() {
        Some(l) if !l.is_empty() && l != "und" => {
            // `language.slice(0, 2).toLowerCase()`: two UTF-16 units, not two chars.
            let units: Vec<u16> = l.encode_utf16().take(2).collect();
            String::from_utf16_lossy(&units).to_lowercase()
        }
        _ => String::new(),
    };
    let channels = p
        .channels
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(|c| c.split('/').next().unwrap_or_default())
        .unwrap_or_default();
    let name = p
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .map(|n| js_trim(&n.to_lowercase()).to_owned())
        .unwrap_or_default();
    let frame_rate = p
        .frame_rate
        .filter(|f| !f.is_nan())
        .map(js_number_string)
        .unwrap_or_default();
    let video_range = p
        .video_range
        .as_deref()
        .filter(|v| !v.is_empty())
        .map(|v| js_trim(&v.to_uppercase()).to_owned())
        .unwrap_or_default();
    let width = p
        .width
        .map(|w| js_number_string(w as f64))
        .unwrap_or_default();
    let height = p
        .height
        .map(|h| js_number_string(h as f64))
        .unwrap_or_default();
    let text = format!(
        "{}-{codecs}-{width}-{height}-{language}-{channels}-{name}-{frame_rate}-{video_range}",
        js_number_string(p.bitrate)
    );
    base64_padded(&Sha1::digest(text.as_bytes()))
}

/// What p2p-media-loader-hlsjs passes to `generateStreamShortId` for an hls.js level.
///
/// hls.js 1.7 sets `level.bitrate` to `BANDWIDTH || AVERAGE-BANDWIDTH` (so `NaN` when
/// BANDWIDTH is 0 and AVERAGE-BANDWIDTH absent, `Infinity` above 2^53 - 1); `maxBitrate`,
/// which the integration prefers, is not set at MANIFEST_LOADED. A bitrate of exactly 0
/// means "missing metadata": only the bitrate is hashed. The codecs are the level's
/// `videoCodec`: the CODECS entries whose first four characters hls.js lists as video.
pub fn variant_properties(variant: &Variant) -> StreamProperties {
    let bitrate = if variant.bandwidth != 0 {
        hlsjs_decimal_integer(variant.bandwidth)
    } else {
        variant
            .average_bandwidth
            .map(hlsjs_decimal_integer)
            .unwrap_or(f64::NAN)
    };
    if bitrate == 0.0 {
        return StreamProperties {
            bitrate,
            ..StreamProperties::default()
        };
    }
    StreamProperties {
        bitrate,
        codecs: variant
            .codecs
            .as_deref()
            .and_then(|c| hlsjs_codecs_of_kind(c, CodecKind::Video)),
        width: variant.resolution.map(|r| r.width),
        height: variant.resolution.map(|r| r.height),
        frame_rate: variant.frame_rate,
        video_range: variant.video_range.clone(),
        ..StreamProperties::default()
    }
}

/// The short id of an hls.js level (a variant). See [`variant_properties`].
pub fn variant_short_id(variant: &Variant) -> String {
    stream_short_id(&variant_properties(variant))
}

/// The short id of an hls.js audio track (an audio rendition) of `playlist`.
///
/// Bitrate 0, hls.js's `name` (NAME, else LANGUAGE), LANGUAGE, CHANNELS, and the track's
/// `audioCodec`, which hls.js borrows from the first level (after it drops levels with codecs
/// it does not know, when some levels remain) whose AUDIO group is the rendition's GROUP-ID,
/// else from the first level: the audio entries of that level's CODECS.
pub fn audio_rendition_short_id(rendition: &Rendition, playlist: &MultivariantPlaylist) -> String {
    stream_short_id(&audio_rendition_properties(rendition, playlist))
}

/// What p2p-media-loader-hlsjs passes to `generateStreamShortId` for an hls.js audio track.
pub fn audio_rendition_properties(
    rendition: &Rendition,
    playlist: &MultivariantPlaylist,
) -> StreamProperties {
    let levels = hlsjs_levels(playlist);
    let group_level = levels
        .iter()
        .find(|v| v.audio_group.as_deref() == Some(rendition.group_id.as_str()))
        .or(levels.first());
    let name = if rendition.name.is_empty() {
        rendition.language.clone()
    } else {
        Some(rendition.name.clone())
    };
    StreamProperties {
        bitrate: 0.0,
        codecs: group_level
            .and_then(|v| v.codecs.as_deref())
            .and_then(|c| hlsjs_codecs_of_kind(c, CodecKind::Audio)),
        language: rendition.language.clone(),
        channels: rendition.channels.clone(),
        name,
        ..StreamProperties::default()
    }
}

/// The short id of the single level hls.js makes when the loaded URL is a media playlist:
/// bitrate 0, hence "missing metadata".
pub fn media_playlist_short_id() -> String {
    stream_short_id(&StreamProperties::default())
}

/// Every stream p2p-media-loader-hlsjs registers for `playlist`, in its order: hls.js levels,
/// then audio tracks with a URI. A URL registered once keeps its first identity
/// (`Core.addStreamIfNoneExists`), so a playlist listed twice has one swarm.
pub fn playlist_streams(playlist: &MultivariantPlaylist) -> Vec<StreamIdentity> {
    let mut out: Vec<StreamIdentity> = Vec::new();
    let mut push = |url: &str, stream_type, short_id: String| {
        if !out.iter().any(|s| s.url == url) {
            out.push(StreamIdentity {
                url: url.to_owned(),
                stream_type,
                short_id,
            });
        }
    };
    for variant in hlsjs_levels(playlist) {
        push(&variant.uri, StreamType::Main, variant_short_id(variant));
    }
    for rendition in &playlist.renditions {
        if rendition.kind != RenditionKind::Audio {
            continue;
        }
        // hls.js gives URI-less renditions the URL "" and never loads them separately.
        if let Some(uri) = &rendition.uri {
            push(
                uri,
                StreamType::Secondary,
                audio_rendition_short_id(rendition, playlist),
            );
        }
    }
    out
}

/// The levels hls.js keeps at MANIFEST_LOADED: variants with a codec it does not know are
/// dropped when at least one variant has only known codecs (`parseMasterPlaylist`).
fn hlsjs_levels(playlist: &MultivariantPlaylist) -> Vec<&Variant> {
    let known: Vec<&Variant> = playlist
        .variants
        .iter()
        .filter(|v| {
            v.codecs
                .as_deref()
                .map(|c| hlsjs_codec_tokens(c).all(|t| codec_kind(t).is_some()))
                .unwrap_or(true)
        })
        .collect();
    if !known.is_empty() && known.len() < playlist.variants.len() {
        known
    } else {
        playlist.variants.iter().collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CodecKind {
    Video,
    Audio,
    Text,
    Image,
}

/// hls.js splits CODECS on runs of spaces and commas.
fn hlsjs_codec_tokens(codecs: &str) -> impl Iterator<Item = &str> {
    codecs.split([' ', ',']).filter(|t| !t.is_empty())
}

/// hls.js's `setCodecs`: the entries of one kind, each cut at `/`, joined with commas.
fn hlsjs_codecs_of_kind(codecs: &str, kind: CodecKind) -> Option<String> {
    let picked: Vec<&str> = hlsjs_codec_tokens(codecs)
        .filter(|t| codec_kind(t) == Some(kind))
        .map(|t| t.split('/').next().unwrap_or(t))
        .collect();
    (!picked.is_empty()).then(|| picked.join(","))
}

/// hls.js `isCodecType`: the first four characters looked up in its `sampleEntryCodesISO`
/// tables (hls.js 1.7.4 `src/utils/codecs.ts`). hls.js also promotes unknown codecs that the
/// browser's MediaSource accepts; that depends on the browser and is not reproduced here.
fn codec_kind(codec: &str) -> Option<CodecKind> {
    const VIDEO: &[&str] = &[
        "avc1", "avc2", "avc3", "avc4", "avcp", "av01", "dav1", "drac", "dva1", "dvav", "dvh1",
        "dvhe", "encv", "hev1", "hvc1", "mjp2", "mp4v", "mvc1", "mvc2", "mvc3", "mvc4", "resv",
        "rv60", "s263", "svc1", "svc2", "vc-1", "vp08", "vp09",
    ];
    const AUDIO: &[&str] = &[
        "a3ds", "ac-3", "ac-4", "alac", "alaw", "dra1", "dts+", "dts-", "dtsc", "dtse", "dtsh",
        "ec-3", "enca", "fLaC", "flac", "FLAC", "g719", "g726", "m4ae", "mha1", "mha2", "mhm1",
        "mhm2", "mlpa", "mp4a", "raw ", "Opus", "opus", "samr", "sawb", "sawp", "sevc", "sqcp",
        "ssmv", "twos", "ulaw",
    ];
    const TEXT: &[&str] = &["stpp", "wvtt"];
    const IMAGE: &[&str] = &["mjpg"];
    let end = codec
        .char_indices()
        .nth(4)
        .map(|(i, _)| i)
        .unwrap_or(codec.len());
    let head = &codec[..end];
    // hls.js checks video, audio, text, image in this order.
    [
        (VIDEO, CodecKind::Video),
        (AUDIO, CodecKind::Audio),
        (TEXT, CodecKind::Text),
        (IMAGE, CodecKind::Image),
    ]
    .into_iter()
    .find(|(table, _)| table.contains(&head))
    .map(|(_, kind)| kind)
}

/// p2p-media-loader's codec normalization: split on commas, trim, lowercase, rewrite RFC 6381
/// decimal `avc1.P.L` as hex `avc1.PP00LL`, sort, join.
fn normalize_codecs(codecs: &str) -> String {
    let mut list: Vec<String> = codecs
        .split(',')
        .map(|c| {
            let c = js_trim(c).to_lowercase();
            let parts: Vec<&str> = c.split('.').collect();
            if parts.len() == 3 && (parts[0] == "avc1" || parts[0] == "avc") {
                if let (Some(profile), Some(level)) =
                    (js_canonical_int(parts[1]), js_canonical_int(parts[2]))
                {
                    return format!("{}.{}00{}", parts[0], js_hex2(profile), js_hex2(level));
                }
            }
            c
        })
        .collect();
    // JavaScript's default sort compares UTF-16 code units.
    list.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
    list.join(",")
}

/// `parseInt(s, 10)` when `s === String(parseInt(s, 10))`, else `None`.
fn js_canonical_int(s: &str) -> Option<f64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: f64 = s.parse().ok()?;
    (js_number_string(value) == s).then_some(value)
}

/// `n.toString(16).padStart(2, "0")` for an integral `n` below 1e21.
fn js_hex2(n: f64) -> String {
    let hex = if n < 0.0 {
        format!("-{:x}", (-n) as u128)
    } else {
        format!("{:x}", n as u128)
    };
    format!("{hex:0>2}")
}

/// hls.js `AttrList.decimalInteger`: values above `Number.MAX_SAFE_INTEGER` become `Infinity`.
fn hlsjs_decimal_integer(n: u64) -> f64 {
    const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
    if n > MAX_SAFE_INTEGER {
        f64::INFINITY
    } else {
        n as f64
    }
}

/// JavaScript's `String.prototype.trim`: WhiteSpace and LineTerminator, which differ from
/// Rust's `char::is_whitespace` on U+FEFF (JS trims it) and U+0085 (JS keeps it).
fn js_trim(s: &str) -> &str {
    s.trim_matches(|c: char| (c.is_whitespace() && c != '\u{85}') || c == '\u{feff}')
}

/// ECMAScript `Number::toString(10)`: shortest round-trip digits, plain notation for
/// exponents in [-6, 21), exponent notation (`1e+21`, `1.5e-7`) outside.
pub(crate) fn js_number_string(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x == 0.0 {
        return "0".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if x < 0.0 {
        return format!("-{}", js_number_string(-x));
    }
    // Rust's `{:e}` prints the shortest digits that round-trip, like ECMAScript requires.
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let k = digits.len() as i64;
    let n = exp.parse::<i64>().unwrap_or(0) + 1;
    if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let sign = if n - 1 < 0 { '-' } else { '+' };
        let e = (n - 1).abs();
        if k == 1 {
            format!("{digits}e{sign}{e}")
        } else {
            format!("{}.{}e{sign}{e}", &digits[..1], &digits[1..])
        }
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with `=` padding (`btoa`).
fn base64_padded(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hls::{parse_playlist, Playlist};

    fn master(text: &str) -> MultivariantPlaylist {
        match parse_playlist(text.as_bytes(), "https://example.org/v/master.m3u8").unwrap() {
            Playlist::Multivariant(m) => m,
            Playlist::Media(_) => panic!("expected a multivariant playlist"),
        }
    }

    #[test]
    fn js_numbers_print_like_javascript() {
        let cases = [
            (30.0, "30"),
            (29.97, "29.97"),
            (0.1, "0.1"),
            (1e21, "1e+21"),
            (123456789012345680000.0, "123456789012345680000"),
            (1.5e-7, "1.5e-7"),
            (0.000001, "0.000001"),
            (-2.5, "-2.5"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (-0.0, "0"),
        ];
        for (x, want) in cases {
            assert_eq!(js_number_string(x), want, "{x}");
        }
    }

    #[test]
    fn base64_matches_btoa() {
        assert_eq!(base64_padded(b""), "");
        assert_eq!(base64_padded(b"f"), "Zg==");
        assert_eq!(base64_padded(b"fo"), "Zm8=");
        assert_eq!(base64_padded(b"foo"), "Zm9v");
        assert_eq!(base64_padded(&[0xff; 20]).len(), 28);
    }

    #[test]
    fn info_hash_is_twenty_base64_characters() {
        let hash = info_hash("v2-https://example.org/master.m3u8-main-abc");
        assert!(hash.iter().all(|b| BASE64.contains(b)));
    }

    #[test]
    fn manifest_url_loses_query_and_fragment() {
        assert_eq!(
            manifest_swarm_id("https://a.b/x.m3u8?token=1#t=5"),
            "https://a.b/x.m3u8"
        );
        assert_eq!(
            manifest_swarm_id("https://a.b/x.m3u8#a?b"),
            "https://a.b/x.m3u8"
        );
        assert_eq!(
            manifest_swarm_id("https://a.b/x.m3u8"),
            "https://a.b/x.m3u8"
        );
    }

    #[test]
    fn codecs_normalize_like_p2p_media_loader() {
        assert_eq!(
            normalize_codecs("mp4a.40.2, AVC1.66.30"),
            "avc1.42001e,mp4a.40.2"
        );
        assert_eq!(normalize_codecs("avc1.077.30"), "avc1.077.30");
        assert_eq!(normalize_codecs("avc1.-5.30"), "avc1.-5001e");
        assert_eq!(normalize_codecs("avc.100.40"), "avc.640028");
    }

    #[test]
    fn hlsjs_splits_codecs_by_kind() {
        let c = "avc1.64001f,mp4a.40.2 ec-3,hvc1.1.6.L93.B0";
        assert_eq!(
            hlsjs_codecs_of_kind(c, CodecKind::Video).as_deref(),
            Some("avc1.64001f,hvc1.1.6.L93.B0")
        );
        assert_eq!(
            hlsjs_codecs_of_kind(c, CodecKind::Audio).as_deref(),
            Some("mp4a.40.2,ec-3")
        );
        assert_eq!(hlsjs_codecs_of_kind(c, CodecKind::Text), None);
    }

    #[test]
    fn zero_bandwidth_hashes_only_the_bitrate() {
        let m = master(
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=0,AVERAGE-BANDWIDTH=0,RESOLUTION=640x360,CODECS=\"avc1.64001e\"\na.m3u8\n",
        );
        assert_eq!(variant_short_id(&m.variants[0]), media_playlist_short_id());
    }

    #[test]
    fn video_range_is_parsed() {
        let m = master("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,VIDEO-RANGE=PQ\na.m3u8\n");
        assert_eq!(m.variants[0].video_range.as_deref(), Some("PQ"));
    }

    #[test]
    fn duplicate_playlist_urls_keep_the_first_identity() {
        let m = master(
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=100\na.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=200\na.m3u8\n",
        );
        let streams = playlist_streams(&m);
        assert_eq!(streams.len(), 1);
        assert_eq!(streams[0].short_id, variant_short_id(&m.variants[0]));
    }

    #[test]
    fn peer_ids_have_the_prefix_and_alphanumerics() {
        assert_eq!(peer_id_prefix(), "-SH0001-");
        let mut rng = fastrand::Rng::with_seed(7);
        let a = new_peer_id(&mut rng);
        let b = new_peer_id(&mut rng);
        assert_ne!(a, b);
        assert_eq!(&a[..8], b"-SH0001-");
        assert!(a[8..].iter().all(u8::is_ascii_alphanumeric));
        assert_eq!(new_peer_id(&mut fastrand::Rng::with_seed(7)), a);
    }

    #[test]
    fn peertube_resolution_is_the_smaller_side() {
        let m = master(
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=720x1280\na.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=1\nb.m3u8\n",
        );
        assert_eq!(peertube_resolution(&m.variants[0]), 720);
        assert_eq!(peertube_resolution(&m.variants[1]), 0);
    }

    #[test]
    fn peertube_ids() {
        let uuid = "9c9de5e8-0a1e-484a-b099-e80766180a6d";
        assert_eq!(
            peertube_stream_swarm_id(uuid, StreamType::Main, 720),
            "pt-v2-9c9de5e8-0a1e-484a-b099-e80766180a6d-main-default-720"
        );
        assert_eq!(
            peertube_stream_swarm_id(uuid, StreamType::Secondary, 0),
            "pt-v2-9c9de5e8-0a1e-484a-b099-e80766180a6d-secondary-default-default"
        );
    }
}
