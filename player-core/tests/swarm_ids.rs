//! Holds `swarm::id` to the goldens the real npm packages produced
//! (`tests/interop/swarm-goldens.mjs`: hls.js 1.7.4 parsing, p2p-media-loader-hlsjs 2.3.1
//! registering streams, p2p-media-loader-core 2.3.1 naming and hashing them).

use player_core::hls::{parse_playlist, Playlist};
use player_core::swarm::id::{
    info_hash, manifest_swarm_id, media_playlist_short_id, peer_id_prefix,
    peertube_stream_swarm_id, playlist_streams, stream_short_id, stream_swarm_id, StreamProperties,
    StreamType,
};
use serde_json::Value;

fn goldens() -> Value {
    let text = include_str!("fixtures/swarm/goldens.json");
    serde_json::from_str(text).expect("goldens.json is JSON")
}

fn stream_type(name: &str) -> StreamType {
    match name {
        "main" => StreamType::Main,
        "secondary" => StreamType::Secondary,
        other => panic!("unknown stream type {other}"),
    }
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {v}"))
}

#[test]
fn manifests_give_the_same_streams_swarm_ids_and_info_hashes() {
    let g = goldens();
    let manifests = g["manifests"].as_array().unwrap();
    assert!(manifests.len() >= 5);
    for m in manifests {
        let name = str_field(m, "name");
        let url = str_field(m, "url");
        let swarm = m["swarmIdOption"]
            .as_str()
            .unwrap_or_else(|| manifest_swarm_id(url));
        assert_eq!(swarm, str_field(m, "swarmId"), "{name}: swarm id");

        let ours: Vec<(String, StreamType, String)> =
            match parse_playlist(str_field(m, "text").as_bytes(), url).unwrap() {
                Playlist::Multivariant(p) => playlist_streams(&p)
                    .into_iter()
                    .map(|s| (s.url, s.stream_type, s.short_id))
                    .collect(),
                Playlist::Media(_) => {
                    vec![(url.to_owned(), StreamType::Main, media_playlist_short_id())]
                }
            };
        let theirs = m["streams"].as_array().unwrap();
        assert_eq!(ours.len(), theirs.len(), "{name}: stream count");
        for ((url, kind, short_id), want) in ours.iter().zip(theirs) {
            assert_eq!(url, str_field(want, "url"), "{name}: stream order");
            assert_eq!(*kind, stream_type(str_field(want, "type")), "{name}: {url}");
            assert_eq!(short_id, str_field(want, "shortId"), "{name}: {url}");
            let id = stream_swarm_id(swarm, *kind, short_id);
            assert_eq!(id, str_field(want, "streamSwarmId"), "{name}: {url}");
            assert_eq!(
                info_hash(&id).as_slice(),
                str_field(want, "infoHash").as_bytes(),
                "{name}: {url}"
            );
        }
    }
}

#[test]
fn short_ids_of_edge_case_properties() {
    let g = goldens();
    for case in g["shortIds"].as_array().unwrap() {
        let p = &case["props"];
        let text = |key: &str| p[key].as_str().map(str::to_owned);
        let bitrate = match &p["bitrate"] {
            Value::String(s) if s == "NaN" => f64::NAN,
            Value::String(s) if s == "Infinity" => f64::INFINITY,
            v => v.as_f64().unwrap(),
        };
        let props = StreamProperties {
            bitrate,
            codecs: text("codecs"),
            width: p["width"].as_u64(),
            height: p["height"].as_u64(),
            language: text("language"),
            channels: text("channels"),
            name: text("name"),
            // The raw attribute as m3u8-rs reads it: Rust's f64 parse.
            frame_rate: p["frameRate"].as_str().map(|f| f.parse().unwrap()),
            video_range: text("videoRange"),
        };
        assert_eq!(stream_short_id(&props), str_field(case, "shortId"), "{p}");
    }
}

#[test]
fn info_hashes_of_odd_strings() {
    let g = goldens();
    for case in g["infoHashes"].as_array().unwrap() {
        let input = str_field(case, "input");
        assert_eq!(
            info_hash(input).as_slice(),
            str_field(case, "infoHash").as_bytes(),
            "{input:?}"
        );
    }
}

#[test]
fn peertube_swarm_ids_and_hashes() {
    let g = goldens();
    for case in g["peertube"].as_array().unwrap() {
        let id = peertube_stream_swarm_id(
            str_field(case, "uuid"),
            stream_type(str_field(case, "type")),
            case["resolution"].as_u64().unwrap() as u32,
        );
        assert_eq!(id, str_field(case, "streamSwarmId"));
        assert_eq!(
            info_hash(&id).as_slice(),
            str_field(case, "infoHash").as_bytes()
        );
    }
}

#[test]
fn peer_id_prefix_has_the_same_shape_as_p2p_media_loader() {
    let g = goldens();
    let theirs = str_field(&g, "peerIdPrefix");
    let ours = peer_id_prefix();
    assert_eq!(theirs.len(), ours.len());
    let shape = |s: &str| {
        s.chars()
            .map(|c| {
                if c.is_ascii_digit() {
                    '9'
                } else if c == '-' {
                    '-'
                } else {
                    'A'
                }
            })
            .collect::<String>()
    };
    assert_eq!(shape(theirs), shape(&ours));
}
