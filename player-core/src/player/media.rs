//! Decisions about the media itself: which level to start with, whether the player can play
//! a media playlist, and the MIME type the SourceBuffer needs.

use crate::config::Config;
use crate::hls::{MediaPlaylist, Variant};

/// The level to start on: the configured one, else the best whose peak bandwidth fits the
/// initial estimate, else the lightest.
pub(super) fn choose_start_level(variants: &[Variant], config: &Config) -> usize {
    if let Some(level) = config.start_level.filter(|&l| l < variants.len()) {
        return level;
    }
    let fitting = variants
        .iter()
        .enumerate()
        .filter(|(_, v)| v.bandwidth <= config.initial_bandwidth_bps)
        .max_by_key(|(_, v)| v.bandwidth);
    let lightest = variants.iter().enumerate().min_by_key(|(_, v)| v.bandwidth);
    fitting.or(lightest).map_or(0, |(index, _)| index)
}

/// Rejects what this player cannot play, with a message a viewer can read.
pub(super) fn check_playable(playlist: &MediaPlaylist) -> Result<(), String> {
    if !playlist.keys.is_empty() {
        return Err("encrypted HLS (EXT-X-KEY) is not supported".into());
    }
    if playlist.segments.is_empty() {
        return Err(format!(
            "the media playlist {} has no segments",
            playlist.url
        ));
    }
    Ok(())
}

/// Used when a variant does not declare CODECS: H.264 baseline with AAC-LC is what such
/// streams nearly always carry.
const DEFAULT_CODECS: &str = "avc1.42E01E,mp4a.40.2";

const AUDIO_CODEC_PREFIXES: &[&str] = &["mp4a", "ac-3", "ec-3", "opus", "flac", "mp3"];

/// The audio codec of a separate audio rendition whose variant's CODECS names none: AAC-LC,
/// what PeerTube and nearly every HLS packager produce.
const DEFAULT_AUDIO_CODECS: &str = "mp4a.40.2";

fn is_audio_codec(codec: &str) -> bool {
    AUDIO_CODEC_PREFIXES
        .iter()
        .any(|p| codec.trim().starts_with(p))
}

/// Whether a variant declares audio codecs only: it plays alone, as audio, on one
/// SourceBuffer (a separate audio rendition would only duplicate it).
pub(super) fn is_audio_only(codecs: Option<&str>) -> bool {
    codecs.is_some_and(|c| {
        let mut codecs = c.split(',').map(str::trim).filter(|c| !c.is_empty());
        codecs.clone().next().is_some() && codecs.all(is_audio_codec)
    })
}

/// A variant's CODECS split between its video SourceBuffer and the SourceBuffer of a
/// separate audio rendition: `(video, audio)`. RFC 8216 4.3.4.2 has CODECS list every codec
/// of the variant, the audio rendition's included; when it names no audio codec, AAC-LC is
/// assumed, and without any CODECS the usual H.264 + AAC-LC pair.
pub(super) fn split_codecs(codecs: Option<&str>) -> (String, String) {
    let codecs = codecs.unwrap_or(DEFAULT_CODECS);
    let (audio, video): (Vec<&str>, Vec<&str>) = codecs
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .partition(|c| is_audio_codec(c));
    let video = if video.is_empty() {
        let (default_video, _) = split_codecs(Some(DEFAULT_CODECS));
        default_video
    } else {
        video.join(",")
    };
    let audio = if audio.is_empty() {
        DEFAULT_AUDIO_CODECS.to_owned()
    } else {
        audio.join(",")
    };
    (video, audio)
}

/// MIME type for `MediaSource.addSourceBuffer`, from the declared codecs and the container
/// the segment URIs point at.
pub(super) fn mime_type(codecs: Option<&str>, playlist: &MediaPlaylist) -> Result<String, String> {
    let codecs = codecs.unwrap_or(DEFAULT_CODECS).trim();
    let audio_only = codecs.split(',').all(is_audio_codec);
    let first_uri = playlist.segments.first().map_or("", |s| s.uri.as_str());
    let path = first_uri
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let container = if !playlist.init_segments.is_empty()
        || [".mp4", ".m4s", ".m4v", ".m4a", ".cmfv", ".cmfa"]
            .iter()
            .any(|e| path.ends_with(e))
    {
        if audio_only {
            "audio/mp4"
        } else {
            "video/mp4"
        }
    } else if path.ends_with(".ts") {
        // Only Chromium plays MPEG-TS through MSE; other browsers need a transmuxer.
        "video/mp2t"
    } else {
        return Err(format!("unsupported segment container for {first_uri}"));
    };
    Ok(format!("{container}; codecs=\"{codecs}\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hls::{parse_playlist, Playlist};

    fn variant(bandwidth: u64) -> Variant {
        Variant {
            uri: format!("http://x/{bandwidth}.m3u8"),
            bandwidth,
            average_bandwidth: None,
            resolution: None,
            codecs: None,
            frame_rate: None,
            video_range: None,
            audio_group: None,
            subtitles_group: None,
        }
    }

    fn media(body: &str) -> MediaPlaylist {
        let text = format!("#EXTM3U\n#EXT-X-TARGETDURATION:4\n{body}");
        match parse_playlist(text.as_bytes(), "http://x/v.m3u8").unwrap() {
            Playlist::Media(m) => m,
            Playlist::Multivariant(_) => unreachable!(),
        }
    }

    #[test]
    fn start_level_fits_the_estimate() {
        let variants = [variant(400_000), variant(1_000_000), variant(2_500_000)];
        let config = Config {
            initial_bandwidth_bps: 2_000_000,
            ..Config::default()
        };
        assert_eq!(choose_start_level(&variants, &config), 1);
        let config = Config {
            initial_bandwidth_bps: 100,
            ..Config::default()
        };
        assert_eq!(choose_start_level(&variants, &config), 0);
        let config = Config {
            start_level: Some(2),
            ..Config::default()
        };
        assert_eq!(choose_start_level(&variants, &config), 2);
        let config = Config {
            start_level: Some(9),
            initial_bandwidth_bps: 100,
            ..Config::default()
        };
        assert_eq!(choose_start_level(&variants, &config), 0);
    }

    #[test]
    fn mime_types() {
        let fmp4 = media("#EXT-X-MAP:URI=\"a.mp4\",BYTERANGE=\"10@0\"\n#EXTINF:4,\n#EXT-X-BYTERANGE:5@10\na.mp4\n#EXT-X-ENDLIST\n");
        assert_eq!(
            mime_type(Some("avc1.64001f,mp4a.40.2"), &fmp4).unwrap(),
            "video/mp4; codecs=\"avc1.64001f,mp4a.40.2\""
        );
        assert_eq!(
            mime_type(Some("mp4a.40.2"), &fmp4).unwrap(),
            "audio/mp4; codecs=\"mp4a.40.2\""
        );
        let ts = media("#EXTINF:4,\nseg.ts?token=1\n#EXT-X-ENDLIST\n");
        assert_eq!(
            mime_type(None, &ts).unwrap(),
            "video/mp2t; codecs=\"avc1.42E01E,mp4a.40.2\""
        );
        let odd = media("#EXTINF:4,\nseg.aac\n#EXT-X-ENDLIST\n");
        assert!(mime_type(None, &odd).is_err());
    }

    #[test]
    fn codecs_split_between_video_and_audio() {
        let split = |c: Option<&str>| {
            let (video, audio) = split_codecs(c);
            (video, audio)
        };
        assert_eq!(
            split(Some("avc1.64001f,mp4a.40.2")),
            ("avc1.64001f".into(), "mp4a.40.2".into())
        );
        assert_eq!(
            split(Some(" mp4a.40.5 , avc1.4d401f, ec-3")),
            ("avc1.4d401f".into(), "mp4a.40.5,ec-3".into())
        );
        // No audio codec named: AAC-LC is assumed for the rendition.
        assert_eq!(
            split(Some("avc1.64001e")),
            ("avc1.64001e".into(), "mp4a.40.2".into())
        );
        assert_eq!(split(None), ("avc1.42E01E".into(), "mp4a.40.2".into()));
        assert!(is_audio_only(Some("mp4a.40.2")));
        assert!(is_audio_only(Some("opus, mp4a.40.2")));
        assert!(!is_audio_only(Some("avc1.64001f,mp4a.40.2")));
        assert!(!is_audio_only(Some("")));
        assert!(!is_audio_only(None));
    }

    #[test]
    fn encrypted_is_refused_clearly_live_is_played() {
        let live = media("#EXTINF:4,\ns.ts\n");
        assert_eq!(check_playable(&live), Ok(()));
        let encrypted =
            media("#EXT-X-KEY:METHOD=AES-128,URI=\"k\"\n#EXTINF:4,\ns.ts\n#EXT-X-ENDLIST\n");
        assert!(check_playable(&encrypted)
            .unwrap_err()
            .contains("encrypted"));
    }
}
