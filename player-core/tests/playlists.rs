//! Fixture tests of the playlist parser: real-world shapes parse to the expected model, and
//! malformed playlists are rejected with the line and kind of the problem.

use player_core::hls::{
    parse_playlist, ByteRange, MediaPlaylist, MultivariantPlaylist, ParseError, ParseErrorKind,
    Playlist, PlaylistType, RenditionKind, Resolution,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn media(bytes: &[u8], url: &str) -> MediaPlaylist {
    match parse_playlist(bytes, url).expect("parses") {
        Playlist::Media(m) => m,
        Playlist::Multivariant(_) => panic!("expected a media playlist"),
    }
}

fn multivariant(bytes: &[u8], url: &str) -> MultivariantPlaylist {
    match parse_playlist(bytes, url).expect("parses") {
        Playlist::Multivariant(m) => m,
        Playlist::Media(_) => panic!("expected a multivariant playlist"),
    }
}

#[test]
fn peertube_single_file_byte_range_vod() {
    let url = "https://video.example.org/static/streaming-playlists/hls/3f1c/3f1c9c8e-720.m3u8";
    let p = media(&fixture("peertube-vod-720.m3u8"), url);
    let file =
        "https://video.example.org/static/streaming-playlists/hls/3f1c/3f1c9c8e-720-fragmented.mp4";
    assert!(p.ended);
    assert_eq!(p.playlist_type, Some(PlaylistType::Vod));
    assert_eq!(p.target_duration_s, 4.0);
    assert_eq!(p.init_segments.len(), 1);
    assert_eq!(p.init_segments[0].uri, file);
    assert_eq!(
        p.init_segments[0].byte_range,
        Some(ByteRange {
            offset: 0,
            length: 1418
        })
    );
    assert_eq!(p.segments.len(), 4);
    let ranges: Vec<_> = p.segments.iter().map(|s| s.byte_range.unwrap()).collect();
    assert_eq!(
        ranges,
        vec![
            ByteRange {
                offset: 1418,
                length: 1048121
            },
            ByteRange {
                offset: 1049539,
                length: 983447
            },
            ByteRange {
                offset: 2032986,
                length: 1012331
            },
            ByteRange {
                offset: 3045317,
                length: 402210
            },
        ]
    );
    assert!(p
        .segments
        .iter()
        .all(|s| s.uri == file && s.init_segment == Some(0)));
    // Durations keep full precision (the parser library stores f32).
    assert_eq!(p.segments[0].duration_s, 4.004);
    assert_eq!(p.segments[3].duration_s, 1.668333);
    assert_eq!(p.segments[2].start_s, 8.008);
    assert!((p.duration_s() - 13.680333).abs() < 1e-9);
    assert_eq!(
        p.segments.iter().map(|s| s.line).collect::<Vec<_>>(),
        vec![10, 13, 16, 19]
    );
    assert_eq!(ranges[0].to_http_range(), "bytes=1418-1049538");
}

#[test]
fn implicit_byte_range_offsets_continue_the_same_resource() {
    let p = media(
        &fixture("implicit-offsets.m3u8"),
        "http://h.example/a/b/index.m3u8",
    );
    let offsets: Vec<_> = p
        .segments
        .iter()
        .map(|s| s.byte_range.unwrap().offset)
        .collect();
    assert_eq!(offsets, vec![0, 75232, 75232 + 82112, 0]);
    assert_eq!(p.segments[0].uri, "http://h.example/a/b/media/all.ts");
    assert_eq!(p.segments[3].uri, "http://h.example/other/file.ts");
    assert_eq!(p.media_sequence, 100);
    assert_eq!(
        p.segments.iter().map(|s| s.sequence).collect::<Vec<_>>(),
        vec![100, 101, 102, 103]
    );
    assert!(p.segments.iter().all(|s| s.init_segment.is_none()));
}

#[test]
fn multivariant_with_audio_group() {
    let m = multivariant(
        &fixture("peertube-master-split-audio.m3u8"),
        "https://v.example/hls/master.m3u8",
    );
    assert_eq!(
        m.variants.len(),
        2,
        "the I-frame variant is not a playable level"
    );
    let low = &m.variants[0];
    assert_eq!(low.uri, "https://v.example/hls/360.m3u8");
    assert_eq!(low.bandwidth, 712345);
    assert_eq!(low.average_bandwidth, Some(500000));
    assert_eq!(
        low.resolution,
        Some(Resolution {
            width: 640,
            height: 360
        })
    );
    assert_eq!(low.frame_rate, Some(30.0));
    assert_eq!(low.codecs.as_deref(), Some("avc1.64001e,mp4a.40.2"));
    assert_eq!(low.audio_group.as_deref(), Some("audio"));
    let high = &m.variants[1];
    assert_eq!(
        high.uri,
        "https://cdn.example.org/streaming/720.m3u8?token=abc"
    );
    assert_eq!(high.frame_rate, Some(29.97));
    assert_eq!(m.renditions.len(), 1);
    let audio = &m.renditions[0];
    assert_eq!(audio.kind, RenditionKind::Audio);
    assert_eq!(audio.group_id, "audio");
    assert_eq!(audio.name, "Audio");
    assert_eq!(audio.language.as_deref(), Some("en"));
    assert!(audio.default && audio.autoselect);
    assert_eq!(audio.channels.as_deref(), Some("2"));
    assert_eq!(
        audio.uri.as_deref(),
        Some("https://v.example/hls/0-audio.m3u8")
    );
}

#[test]
fn map_and_key_carry_forward_and_discontinuities_count() {
    let p = media(
        &fixture("map-key-discontinuity.m3u8"),
        "http://h.example/live/v/index.m3u8",
    );
    assert_eq!(p.init_segments.len(), 2);
    assert_eq!(p.init_segments[0].uri, "http://h.example/live/v/init-a.mp4");
    assert_eq!(p.init_segments[0].byte_range, None);
    assert_eq!(p.init_segments[1].uri, "http://h.example/live/init-b.mp4");
    // RFC 8216 4.3.2.5: a MAP byte range without offset starts at 0.
    assert_eq!(
        p.init_segments[1].byte_range,
        Some(ByteRange {
            offset: 0,
            length: 720
        })
    );
    let inits: Vec<_> = p.segments.iter().map(|s| s.init_segment).collect();
    assert_eq!(
        inits,
        vec![Some(0), Some(0), Some(1), Some(1), Some(1), Some(1)]
    );
    let keys: Vec<_> = p.segments.iter().map(|s| s.key).collect();
    assert_eq!(keys, vec![None, None, None, Some(0), Some(0), None]);
    assert_eq!(p.keys[0].method, "AES-128");
    assert_eq!(
        p.keys[0].uri.as_deref(),
        Some("https://keys.example.org/k1")
    );
    let discontinuity: Vec<_> = p
        .segments
        .iter()
        .map(|s| (s.discontinuity, s.discontinuity_sequence))
        .collect();
    assert_eq!(
        discontinuity,
        vec![
            (false, 2),
            (false, 2),
            (true, 3),
            (false, 3),
            (false, 3),
            (false, 3)
        ]
    );
    assert_eq!(p.segments[0].sequence, 7);
    assert!(!p.ended || p.segments.len() == 6);
}

#[test]
fn windows_line_endings_and_bom_are_accepted() {
    let text =
        "\u{feff}#EXTM3U\r\n#EXT-X-TARGETDURATION:4\r\n#EXTINF:4.0,\r\na.ts\r\n#EXT-X-ENDLIST\r\n";
    let p = media(text.as_bytes(), "http://h.example/x.m3u8");
    assert_eq!(p.segments.len(), 1);
    assert_eq!(p.segments[0].uri, "http://h.example/a.ts");
}

fn error_of(text: &[u8]) -> ParseError {
    parse_playlist(text, "http://h.example/p.m3u8").expect_err("must be rejected")
}

fn err(line: usize, kind: ParseErrorKind) -> ParseError {
    ParseError { line, kind }
}

#[test]
fn malformed_playlists_are_rejected_with_line_and_kind() {
    use ParseErrorKind::*;
    let head = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n";
    let cases: Vec<(String, ParseError)> = vec![
        (String::new(), err(1, Empty)),
        ("   \n\n".into(), err(1, Empty)),
        ("<html>404</html>\n".into(), err(1, MissingHeader)),
        ("\n#EXT-X-TARGETDURATION:4\n#EXTM3U\n".into(), err(2, MissingHeader)),
        (format!("{head}#EXTINF:abc,\na.ts\n"), err(3, InvalidDuration)),
        (format!("{head}#EXTINF:-4.0,\na.ts\n"), err(3, InvalidDuration)),
        ("#EXTM3U\n#EXTINF:4,\na.ts\n#EXT-X-ENDLIST\n".into(), err(0, MissingTargetDuration)),
        ("#EXTM3U\n#EXT-X-TARGETDURATION:4.5\n".into(), err(2, InvalidInteger { tag: "EXT-X-TARGETDURATION" })),
        (format!("{head}#EXT-X-MEDIA-SEQUENCE:x\n"), err(3, InvalidInteger { tag: "EXT-X-MEDIA-SEQUENCE" })),
        (format!("{head}#EXTINF:4,\na.ts\n#EXTINF:4,\n"), err(5, MissingUri { tag: "EXTINF" })),
        (format!("{head}a.ts\n"), err(3, SegmentWithoutDuration)),
        (format!("{head}#EXTINF:4,\n#EXT-X-BYTERANGE:12x@0\na.ts\n"), err(4, InvalidByteRange)),
        (format!("{head}#EXTINF:4,\n#EXT-X-BYTERANGE:100\na.ts\n"), err(4, ByteRangeWithoutOffset)),
        (
            format!("{head}#EXTINF:4,\n#EXT-X-BYTERANGE:100@0\na.ts\n#EXTINF:4,\n#EXT-X-BYTERANGE:100\nb.ts\n"),
            err(7, ByteRangeWithoutOffset),
        ),
        (format!("{head}#EXT-X-MAP:URI=\"init.mp4\n"), err(3, InvalidAttributeList { tag: "EXT-X-MAP" })),
        (format!("{head}#EXT-X-MAP:BYTERANGE=\"10@0\"\n"), err(3, MissingAttribute { tag: "EXT-X-MAP", attribute: "URI" })),
        (format!("{head}#EXT-X-MAP:URI=\"i.mp4\",BYTERANGE=\"x\"\n"), err(3, InvalidByteRange)),
        // Ranges ending past u64::MAX: explicit, in EXT-X-MAP, and through an implicit offset.
        (format!("{head}#EXTINF:4,\n#EXT-X-BYTERANGE:2@18446744073709551614\na.ts\n"), err(4, InvalidByteRange)),
        (format!("{head}#EXT-X-MAP:URI=\"i.mp4\",BYTERANGE=\"18446744073709551615@1\"\n"), err(3, InvalidByteRange)),
        (
            format!("{head}#EXTINF:4,\n#EXT-X-BYTERANGE:1@18446744073709551614\na.ts\n#EXTINF:4,\n#EXT-X-BYTERANGE:2\na.ts\n"),
            err(7, InvalidByteRange),
        ),
        (format!("{head}#EXT-X-KEY:URI=\"k\"\n"), err(3, MissingAttribute { tag: "EXT-X-KEY", attribute: "METHOD" })),
        (
            "#EXTM3U\n#EXT-X-STREAM-INF:RESOLUTION=640x360\nlow.m3u8\n".into(),
            err(2, MissingAttribute { tag: "EXT-X-STREAM-INF", attribute: "BANDWIDTH" }),
        ),
        (
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=lots\nlow.m3u8\n".into(),
            err(2, InvalidAttribute { tag: "EXT-X-STREAM-INF", attribute: "BANDWIDTH" }),
        ),
        ("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\n".into(), err(2, MissingUri { tag: "EXT-X-STREAM-INF" })),
        (
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\n#EXT-X-VERSION:3\nlow.m3u8\n".into(),
            err(2, MissingUri { tag: "EXT-X-STREAM-INF" }),
        ),
        (
            "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,NAME=\"a\",URI=\"a.m3u8\"\n".into(),
            err(2, MissingAttribute { tag: "EXT-X-MEDIA", attribute: "GROUP-ID" }),
        ),
        ("#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"a\"\n".into(), err(0, NoVariants)),
        (
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nlow.m3u8\n#EXTINF:4,\na.ts\n".into(),
            err(4, MixedPlaylistKinds),
        ),
        (format!("{head}#EXTINF:4,\nhttp://[::1\n"), err(4, InvalidUri { uri: "http://[::1".into() })),
    ];
    assert!(cases.len() >= 10);
    for (text, expected) in cases {
        assert_eq!(error_of(text.as_bytes()), expected, "for playlist:\n{text}");
    }
}

#[test]
fn invalid_utf8_names_its_line() {
    let mut bytes = b"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,".to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, b'\n']);
    assert_eq!(error_of(&bytes), err(3, ParseErrorKind::NotUtf8));
}

#[test]
fn a_relative_playlist_url_is_an_error_not_a_panic() {
    let e = parse_playlist(b"#EXTM3U\n", "/relative/p.m3u8").unwrap_err();
    assert_eq!(
        e,
        err(
            0,
            ParseErrorKind::InvalidUri {
                uri: "/relative/p.m3u8".into()
            }
        )
    );
}

#[test]
fn errors_read_well() {
    let e = error_of(b"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:abc,\na.ts\n");
    assert_eq!(
        e.to_string(),
        "line 3: #EXTINF duration is not a non-negative number"
    );
}

#[test]
fn truncated_prefixes_of_a_valid_playlist_never_panic() {
    let full = fixture("peertube-vod-720.m3u8");
    for end in 0..full.len() {
        let _ = parse_playlist(&full[..end], "http://h.example/p.m3u8");
    }
}
