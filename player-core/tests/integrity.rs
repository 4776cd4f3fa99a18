//! Fixture tests of the integrity file reader: real playlists looked up in integrity files of
//! both of PeerTube's forms, and the fixtures' bytes checked against the digests.
//!
//! `fixtures/integrity/vod/segments-sha256.json` is byte for byte what the demo's generator
//! (`demo/src/integrity.rs`, `vod_integrity_json`) writes for the two renditions next to it;
//! `fixtures/integrity/live/` has the flat live form as PeerTube writes it (`JSON.stringify`),
//! with the playlist's last segment not listed yet.

use player_core::hls::{parse_playlist, ByteRange, MediaPlaylist, Playlist};
use player_core::integrity::{sha256, verify, IntegrityFile, Lookup};

const BASE: &str = "https://video.example.org/static/streaming-playlists/hls/3f1c9c8e/";

fn fixture(path: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/integrity/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn media(path: &str) -> MediaPlaylist {
    let name = path.rsplit('/').next().unwrap();
    match parse_playlist(&fixture(path), &format!("{BASE}{name}")).expect("parses") {
        Playlist::Media(m) => m,
        Playlist::Multivariant(_) => panic!("expected a media playlist"),
    }
}

fn slice(bytes: &[u8], range: ByteRange) -> &[u8] {
    &bytes[range.offset as usize..(range.offset + range.length) as usize]
}

#[test]
fn every_vod_segment_is_listed_and_its_bytes_verify() {
    let integrity = IntegrityFile::parse(&fixture("vod/segments-sha256.json")).unwrap();
    assert_eq!(integrity.len(), 5);
    for (rendition, segments) in [("720", 3), ("240", 2)] {
        let playlist = media(&format!("vod/{rendition}.m3u8"));
        let file = fixture(&format!("vod/{rendition}.mp4"));
        assert_eq!(playlist.segments.len(), segments);
        for segment in &playlist.segments {
            assert_eq!(segment.uri, format!("{BASE}{rendition}.mp4"));
            let range = segment.byte_range.expect("byte-range playlist");
            let Lookup::Found(expected) = integrity.expected_digest(&segment.uri, Some(range))
            else {
                panic!("{} {range:?} not found", segment.uri);
            };
            let bytes = slice(&file, range);
            assert!(verify(bytes, &expected), "{} {range:?}", segment.uri);

            // One flipped bit, or one byte too few, and the bytes no longer verify.
            let mut corrupt = bytes.to_vec();
            corrupt[0] ^= 1;
            assert!(!verify(&corrupt, &expected));
            assert!(!verify(&bytes[1..], &expected));
        }
        // The init section is not a media segment: its file is listed, its range is not.
        let init = playlist.init_segments[0].byte_range.unwrap();
        assert_eq!(
            integrity.expected_digest(&playlist.init_segments[0].uri, Some(init)),
            Lookup::RangeNotListed
        );
    }
}

#[test]
fn live_segments_not_listed_yet_are_told_apart() {
    let integrity = IntegrityFile::parse(&fixture("live/segments-sha256.json")).unwrap();
    let playlist = media("live/0.m3u8");
    let lookups: Vec<Lookup> = playlist
        .segments
        .iter()
        .map(|s| integrity.expected_digest(&s.uri, s.byte_range))
        .collect();
    assert!(matches!(
        lookups[..],
        [Lookup::Found(_), Lookup::Found(_), Lookup::NotListed]
    ));
    for (segment, lookup) in playlist.segments.iter().zip(&lookups) {
        let name = segment.uri.rsplit('/').next().unwrap();
        let bytes = fixture(&format!("live/{name}"));
        if let Lookup::Found(expected) = lookup {
            assert!(verify(&bytes, expected), "{name}");
            assert_eq!(sha256(&bytes), *expected);
        }
    }
}
