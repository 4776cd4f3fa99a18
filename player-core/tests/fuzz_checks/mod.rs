//! What each fuzz target checks on one input, shared by the cargo-fuzz targets in `fuzz/`
//! (which include this file by path) and by `fuzz_regressions.rs`, which replays inputs that once
//! made a target panic: both run exactly the same code. Only the public API is used.
//!
//! Every check must hold for any input: a panic here is a bug, in the decoder or in the check.

// Each fuzz target uses one of these functions.
#![allow(dead_code)]

use player_core::hls::{parse_playlist, ByteRange, Playlist};
use player_core::integrity::{Digest, IntegrityError, IntegrityFile, Lookup};
use player_core::p2p::wire::{
    decode_command, try_encode_command, Message, MessageReader, PeerCommand,
    DEFAULT_MAX_COMMAND_BYTES, MAX_MESSAGE_BYTES,
};
use player_core::swarm::wire::{decode_frame, decode_id20, encode_binary};

/// The playlist parser on arbitrary bytes, then what the player derives from a parsed playlist.
pub fn playlist_parser(data: &[u8]) {
    let playlist = match parse_playlist(data, "https://example.org/hls/uuid/master.m3u8") {
        Ok(playlist) => playlist,
        Err(error) => {
            let _ = error.to_string();
            return;
        }
    };
    match playlist {
        Playlist::Multivariant(_) => {}
        Playlist::Media(media) => {
            let _ = media.duration_s();
            let _ = media.segment_index_at(media.duration_s() / 2.0);
            for segment in &media.segments {
                if let Some(range) = segment.byte_range {
                    let _ = range.to_http_range();
                }
                assert!(segment
                    .init_segment
                    .is_none_or(|i| i < media.init_segments.len()));
                assert!(segment.key.is_none_or(|i| i < media.keys.len()));
            }
            for init in &media.init_segments {
                if let Some(range) = init.byte_range {
                    let _ = range.to_http_range();
                }
            }
        }
    }
}

/// The peer wire decoder: the input as one command body, then as a sequence of data-channel
/// messages for a [`MessageReader`]. Every command that decodes must encode again and read back
/// as itself (announcement ids regrouped the way the encoder groups them).
pub fn peer_wire_decoder(data: &[u8]) {
    if let Ok(command) = decode_command(data) {
        round_trip(&command);
    }

    // Messages: a 2-byte header (3 bits of framing, 13 bits of length), then the body.
    let mut reader = MessageReader::new(4096);
    let mut rest = data;
    while let [high, low, tail @ ..] = rest {
        let len = (usize::from(high & 0x1f) << 8 | usize::from(*low)).min(tail.len());
        let (body, after) = tail.split_at(len);
        rest = after;
        let message = match high >> 5 {
            0 => frame(b"cstr", body, b"cend"),
            1 => frame(b"cstr", body, b"dend"),
            2 => frame(b"dstr", body, b"dend"),
            3 => frame(b"dstr", body, b"cend"),
            // Raw bytes: segment data, or anything that happens to look like a frame.
            _ => body.to_vec(),
        };
        match reader.read(&message) {
            Ok(Message::Command(command)) => round_trip(&command),
            Ok(Message::CommandPart | Message::SegmentBytes) => {}
            Err(error) => {
                let _ = error.to_string();
                // After any error the reader is ready for the next command.
                let ok = PeerCommand::SegmentAbsent {
                    segment: 1,
                    request: 2,
                };
                let frames = try_encode_command(&ok, MAX_MESSAGE_BYTES).unwrap();
                assert_eq!(reader.read(&frames[0]), Ok(Message::Command(ok)));
            }
        }
    }
}

fn frame(start: &[u8], body: &[u8], end: &[u8]) -> Vec<u8> {
    [start, body, end].concat()
}

/// `command` encoded (split into messages if it must be) and read back by a fresh reader.
fn round_trip(command: &PeerCommand) {
    // A decoded list never has more than 255 groups, and regrouping only merges groups.
    let frames = try_encode_command(command, MAX_MESSAGE_BYTES)
        .unwrap_or_else(|e| panic!("{command:?} decoded but does not encode: {e}"));
    let mut reader = MessageReader::new(DEFAULT_MAX_COMMAND_BYTES);
    let mut read_back = None;
    for (i, message) in frames.iter().enumerate() {
        match reader.read(message) {
            Ok(Message::CommandPart) if i + 1 < frames.len() => {}
            Ok(Message::Command(c)) if i + 1 == frames.len() => read_back = Some(c),
            other => panic!(
                "{command:?}: message {i} of {} read as {other:?}",
                frames.len()
            ),
        }
    }
    assert_eq!(read_back, Some(regrouped(command)));
}

/// What an announcement reads back as: ids grouped by 256-block, groups in the order their
/// first id appears, ids within a group in their order (how the encoder writes them).
fn regrouped(command: &PeerCommand) -> PeerCommand {
    let regroup = |ids: &[u64]| {
        let mut blocks: Vec<u64> = Vec::new();
        let mut keyed: Vec<(usize, u64)> = ids
            .iter()
            .map(|&id| {
                let block = id >> 8;
                let position = blocks.iter().position(|&b| b == block).unwrap_or_else(|| {
                    blocks.push(block);
                    blocks.len() - 1
                });
                (position, id)
            })
            .collect();
        keyed.sort_by_key(|&(position, _)| position); // stable
        keyed.into_iter().map(|(_, id)| id).collect()
    };
    match command {
        PeerCommand::SegmentsAnnouncement {
            loaded,
            http_loading,
        } => PeerCommand::SegmentsAnnouncement {
            loaded: regroup(loaded),
            http_loading: regroup(http_loading),
        },
        other => other.clone(),
    }
}

/// The tracker frame decoder on arbitrary text, and what a decoded frame promises.
pub fn tracker_message(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let frame = match decode_frame(text, 64 * 1024) {
        Ok(frame) => frame,
        Err(error) => {
            let _ = error.to_string();
            return;
        }
    };
    assert!(frame.offer.is_none() || frame.answer.is_none());
    if let Some(sdp) = frame.offer.as_ref().or(frame.answer.as_ref()) {
        assert_eq!(Some(sdp.peer_id), frame.peer_id);
    }
    assert!(frame.interval_s.is_none_or(|s| s > 0.0 && s.is_finite()));
    // Ids read back from what they were read from.
    for id in [frame.info_hash, frame.peer_id].into_iter().flatten() {
        assert_eq!(decode_id20(&encode_binary(&id)), Some(id));
    }
}

/// The integrity file reader, checked against serde_json's own reading of the same bytes: every
/// digest the JSON holds must be found where the file puts it, and the reader may call the input
/// "not JSON" only when it is not.
pub fn integrity_file(data: &[u8]) {
    let parsed = IntegrityFile::parse(data);
    let json = serde_json::from_slice::<serde_json::Value>(
        data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data),
    );
    let file = match parsed {
        Ok(file) => file,
        Err(error) => {
            let _ = error.to_string();
            if matches!(error, IntegrityError::NotJson { .. }) {
                assert!(json.is_err(), "serde_json reads what was called not JSON");
            }
            return;
        }
    };
    let Ok(serde_json::Value::Object(files)) = json else {
        panic!("read as an integrity file, but not a JSON object: {json:?}");
    };
    let mut digests = 0;
    for (name, value) in &files {
        // Names that a URI cannot end with are never looked up.
        let plain = !name.contains(['/', '?', '#']);
        match value {
            serde_json::Value::String(hex) => {
                let digest = Digest::from_hex(hex).expect("a listed digest");
                digests += 1;
                if plain {
                    assert_eq!(file.expected_digest(name, None), Lookup::Found(digest));
                    let uri = format!("https://example.org/live/{name}?t=1");
                    assert_eq!(file.expected_digest(&uri, None), Lookup::Found(digest));
                }
            }
            serde_json::Value::Object(ranges) => {
                for (key, hex) in ranges {
                    let digest = Digest::from_hex(hex.as_str().expect("a digest string"))
                        .expect("a listed digest");
                    digests += 1;
                    let (start, end) = key.split_once('-').expect("a range");
                    let (start, end): (u64, u64) = (start.parse().unwrap(), end.parse().unwrap());
                    let Some(length) = (end - start).checked_add(1) else {
                        continue; // 0-18446744073709551615: no ByteRange spans it
                    };
                    let range = Some(ByteRange {
                        offset: start,
                        length,
                    });
                    if plain {
                        assert_eq!(file.expected_digest(name, range), Lookup::Found(digest));
                    }
                }
            }
            other => panic!("{name:?} read as an integrity entry, but is {other:?}"),
        }
    }
    assert_eq!(file.len(), digests);
    // Lookups of names and ranges the file may not hold never panic.
    for uri in ["a.mp4", "", "/", "%", "%zz", "x/%C3%A9.ts", "0-000001.ts"] {
        for range in [
            None,
            Some((0, 0)),
            Some((0, 1)),
            Some((u64::MAX, 2)),
            Some((5, 10)),
        ] {
            let range = range.map(|(offset, length)| ByteRange { offset, length });
            let _ = file.expected_digest(uri, range);
        }
    }
}
