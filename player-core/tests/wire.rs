//! Tests of the p2p-media-loader v2 peer wire codec (player_core::p2p::wire) against goldens that
//! the real npm package produced (tests/fixtures/wire/goldens.json, written by
//! tests/interop/wire-goldens.mjs), plus round-trip properties and the reader's rejections of
//! truncated, oversized, out-of-order and garbage input.

use player_core::p2p::wire::{
    decode_command, encode_command, is_command_frame, try_encode_command, EncodeError, Message,
    MessageReader, PeerCommand, WireError, DEFAULT_MAX_COMMAND_BYTES, MAX_MESSAGE_BYTES,
};
use proptest::prelude::*;
use serde_json::Value;
use std::sync::OnceLock;

// ---- goldens -----------------------------------------------------------------------------------

fn goldens() -> &'static Value {
    static GOLDENS: OnceLock<Value> = OnceLock::new();
    GOLDENS.get_or_init(|| {
        let path = format!(
            "{}/tests/fixtures/wire/goldens.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).expect("goldens.json is JSON")
    })
}

fn cases<'a>(goldens: &'a Value, kind: &str) -> &'a [Value] {
    goldens[kind].as_array().expect("a case list")
}

fn name(case: &Value) -> &str {
    case["name"].as_str().expect("a case name")
}

fn unhex(hex: &str) -> Vec<u8> {
    assert!(hex.len() % 2 == 0, "odd hex length");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

fn messages(case: &Value) -> Vec<Vec<u8>> {
    case["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| unhex(m.as_str().expect("hex string")))
        .collect()
}

/// An exact decimal string of the goldens as a non-negative integer that fits `u64`.
fn number(value: &Value) -> Option<u64> {
    value.as_str()?.parse().ok()
}

/// Run strings ("5", "0-254") to ids; None if some are negative, too large or not numbers.
fn id_list(value: &Value) -> Option<Vec<u64>> {
    let mut ids = Vec::new();
    for run in value.as_array()? {
        let run = run.as_str()?;
        // A leading '-' is a negative number, not a range.
        let (a, b) = match run[1..].find('-') {
            Some(at) => (&run[..=at], &run[at + 2..]),
            None => (run, run),
        };
        let (a, b): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
        ids.extend(a..=b);
    }
    Some(ids)
}

/// The command a golden's JSON view stands for, read the way a Shoal command is: None when the
/// view is not a valid Shoal command (unknown type, a required field missing, a negative or too
/// large number, a field of the wrong kind).
fn command(view: &Value) -> Option<PeerCommand> {
    let field = |key: &str| view.get(key).filter(|v| !v.is_null());
    let int = |key: &str| number(field(key)?);
    let request = || u32::try_from(int("r")?).ok();
    let list = |key: &str| match field(key) {
        None => Some(Vec::new()),
        Some(v) => id_list(v),
    };
    Some(match view["c"].as_u64()? {
        0 => PeerCommand::SegmentsAnnouncement {
            loaded: list("l")?,
            http_loading: list("p")?,
        },
        1 => PeerCommand::SegmentRequest {
            segment: int("i")?,
            request: request()?,
            resume_from_bytes: match field("b") {
                None => None,
                Some(b) => Some(number(b)?).filter(|&b| b != 0),
            },
        },
        2 => PeerCommand::SegmentData {
            segment: int("i")?,
            request: request()?,
            byte_length: int("s")?,
        },
        3 => PeerCommand::SegmentDataSendingCompleted {
            segment: int("i")?,
            request: request()?,
        },
        4 => PeerCommand::SegmentAbsent {
            segment: int("i")?,
            request: request()?,
        },
        5 => PeerCommand::CancelSegmentRequest {
            segment: int("i")?,
            request: request()?,
        },
        _ => return None,
    })
}

/// What Shoal's reader must return for one entry of a golden's `package_reads`, where Shoal reads
/// what the package reads.
fn expected_read(package_read: &Value) -> Result<Message, WireError> {
    if package_read.get("segment_bytes").is_some() {
        Ok(Message::SegmentBytes)
    } else if package_read.get("part").is_some() {
        Ok(Message::CommandPart)
    } else if let Some(view) = package_read.get("command") {
        Ok(Message::Command(command(view).unwrap_or_else(|| {
            panic!("the package read {view}, which is no Shoal command")
        })))
    } else {
        panic!("the package failed where Shoal should read the same: {package_read}")
    }
}

fn read_all(messages: &[Vec<u8>]) -> Vec<Result<Message, WireError>> {
    let mut reader = MessageReader::new(DEFAULT_MAX_COMMAND_BYTES);
    messages.iter().map(|m| reader.read(m)).collect()
}

/// The command a message sequence reads as, checking that every message before it is a part.
fn read_command(messages: &[Vec<u8>]) -> Result<PeerCommand, WireError> {
    let mut results = read_all(messages);
    let last = results.pop().expect("at least one message");
    for (i, r) in results.iter().enumerate() {
        assert_eq!(
            r,
            &Ok(Message::CommandPart),
            "message {i} of {}",
            messages.len()
        );
    }
    match last? {
        Message::Command(c) => Ok(c),
        other => panic!("last message read as {other:?}"),
    }
}

fn announcement(loaded: Vec<u64>, http_loading: Vec<u64>) -> PeerCommand {
    PeerCommand::SegmentsAnnouncement {
        loaded,
        http_loading,
    }
}

#[test]
fn goldens_come_from_the_pinned_package() {
    let g = goldens();
    assert_eq!(g["package"], "p2p-media-loader-core@2.3.1");
    assert_eq!(
        g["default_max_message_bytes"].as_u64(),
        Some(MAX_MESSAGE_BYTES as u64)
    );
    assert!(cases(g, "encode").len() >= 40);
    assert!(cases(g, "decode").len() >= 30);
}

#[test]
fn encoding_matches_the_package_byte_for_byte() {
    let g = goldens();
    let mut checked = 0;
    for case in cases(g, "encode") {
        if case["package_roundtrip"] != true {
            continue;
        }
        let name = name(case);
        let cmd = command(&case["command"]).unwrap_or_else(|| panic!("{name}: not a command"));
        let max = case["max_message_bytes"].as_u64().expect("max") as usize;
        let golden = messages(case);
        assert_eq!(encode_command(&cmd, max), golden, "{name}");
        assert_eq!(
            try_encode_command(&cmd, max).as_ref(),
            Ok(&golden),
            "{name}"
        );

        // Reading the package's messages gives what the package's reader gives: the command,
        // with list ids grouped by 256-block, as the package reads them back.
        let package_reads = case["package_reads"].as_array().expect("reads");
        assert_eq!(read_all(&golden).len(), package_reads.len(), "{name}");
        for (i, (ours, theirs)) in read_all(&golden).iter().zip(package_reads).enumerate() {
            assert_eq!(ours, &expected_read(theirs), "{name}: message {i}");
        }
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} encode goldens checked");
}

#[test]
fn sorted_goldens_read_back_as_given() {
    // Apart from the unsorted case, the package's reader returns each command as given.
    let g = goldens();
    for case in cases(g, "encode") {
        let name = name(case);
        if case["package_roundtrip"] != true || name.contains("unsorted") {
            continue;
        }
        let cmd = command(&case["command"]).expect("a command");
        let cmd = match cmd {
            PeerCommand::SegmentRequest {
                segment,
                request,
                resume_from_bytes: Some(0),
            } => PeerCommand::SegmentRequest {
                segment,
                request,
                resume_from_bytes: None,
            },
            other => other,
        };
        assert_eq!(read_command(&messages(case)), Ok(cmd), "{name}");
    }
}

#[test]
fn package_bug_full_block_is_encoded_readably() {
    let g = goldens();
    let case = cases(g, "encode")
        .iter()
        .find(|c| name(c).starts_with("announce 256 ids in one block"))
        .expect("the case");
    assert_eq!(case["package_roundtrip"], false);
    let cmd = command(&case["command"]).expect("a command");
    let ours = encode_command(&cmd, MAX_MESSAGE_BYTES);
    // The package wraps the count 256 to 0; Shoal writes 255 + 1 instead ...
    assert_ne!(ours, messages(case));
    assert_eq!(read_command(&ours), Ok(cmd.clone()));
    // ... which is exactly the hand-built decode golden that the package reads back whole.
    let shoal_case = cases(g, "decode")
        .iter()
        .find(|c| name(c).starts_with("256 ids of one block as 255 + 1"))
        .expect("the decode case");
    assert_eq!(ours, messages(shoal_case));
    assert_eq!(
        expected_read(&shoal_case["package_reads"][0]),
        Ok(Message::Command(cmd))
    );
    // The package's own bytes: its reader throws; Shoal's rejects them too.
    assert!(case["package_reads"][0].get("error").is_some());
    assert!(read_command(&messages(case)).is_err());
}

#[test]
fn package_bug_too_many_groups_is_not_copied() {
    let g = goldens();
    let case = cases(g, "encode")
        .iter()
        .find(|c| name(c).starts_with("announce 300 blocks"))
        .expect("the case");
    assert_eq!(case["package_roundtrip"], false);
    let cmd = command(&case["command"]).expect("a command");
    let PeerCommand::SegmentsAnnouncement { loaded, .. } = &cmd else {
        panic!("an announcement")
    };
    // Shoal keeps the first 255 groups, and says so when asked.
    assert_eq!(
        try_encode_command(&cmd, MAX_MESSAGE_BYTES),
        Err(EncodeError::TooManyIdGroups {
            field: 'l',
            left_out: 45
        })
    );
    let ours = encode_command(&cmd, MAX_MESSAGE_BYTES);
    assert_ne!(ours, messages(case));
    assert_eq!(
        read_command(&ours),
        Ok(announcement(loaded[..255].to_vec(), vec![]))
    );
    // The package's bytes claim 300 & 0xff = 44 groups; the rest is junk that its lenient reader
    // takes for a string field and Shoal's rejects as a string running past the end.
    assert_eq!(read_command(&messages(case)), Err(WireError::Truncated));
}

#[test]
fn decoding_agrees_with_the_package_or_rejects_on_purpose() {
    let g = goldens();
    for case in cases(g, "decode") {
        let name = name(case);
        let package_reads = case["package_reads"].as_array().expect("reads");
        let ours = read_all(&messages(case));
        assert_eq!(ours.len(), package_reads.len(), "{name}");
        match case["shoal"].as_str() {
            Some("same") => {
                for (i, (ours, theirs)) in ours.iter().zip(package_reads).enumerate() {
                    assert_eq!(ours, &expected_read(theirs), "{name}: message {i}");
                }
            }
            Some("reject") => {
                let (last, before) = ours.split_last().expect("a message");
                assert!(last.is_err(), "{name}: read {last:?}");
                for (i, (ours, theirs)) in before.iter().zip(package_reads).enumerate() {
                    assert_eq!(ours, &expected_read(theirs), "{name}: message {i}");
                }
            }
            other => panic!("{name}: shoal = {other:?}"),
        }
    }
}

#[test]
fn rejections_say_why() {
    // The decode goldens Shoal rejects, with the error each must give.
    let expected = [
        (
            "negative segment id",
            WireError::ValueOutOfRange { field: 'i' },
        ),
        (
            "negative request id",
            WireError::ValueOutOfRange { field: 'r' },
        ),
        (
            "request id above 2^32-1",
            WireError::ValueOutOfRange { field: 'r' },
        ),
        (
            "segment id above 2^64-1",
            WireError::ValueOutOfRange { field: 'i' },
        ),
        ("unknown command type 6", WireError::UnknownCommand(6)),
        ("missing request id", WireError::MissingField('r')),
        ("missing size in segment data", WireError::MissingField('s')),
        ("empty command body", WireError::EmptyCommand),
        (
            "item type 3 does not exist",
            WireError::UnknownItemType {
                field: 'i',
                item_type: 3,
            },
        ),
        ("int cut short at the end", WireError::Truncated),
        ("string cut short at the end", WireError::Truncated),
        ("array cut short", WireError::Truncated),
        ("array group ids cut short", WireError::Truncated),
        ("field name without item", WireError::Truncated),
        (
            "segment id as a string",
            WireError::WrongItemType { field: 'i' },
        ),
        (
            "resume offset as an array",
            WireError::WrongItemType { field: 'b' },
        ),
        (
            "loaded list as an int",
            WireError::WrongItemType { field: 'l' },
        ),
        (
            "negative id in a list",
            WireError::ValueOutOfRange { field: 'l' },
        ),
        ("part without a start", WireError::PartWithoutStart),
        (
            "new command while one is being joined",
            WireError::InterruptedCommand,
        ),
    ];
    let g = goldens();
    let rejected: Vec<&Value> = cases(g, "decode")
        .iter()
        .filter(|c| c["shoal"] == "reject")
        .collect();
    assert_eq!(rejected.len(), expected.len());
    for (case_name, error) in expected {
        let case = rejected
            .iter()
            .find(|c| name(c) == case_name)
            .unwrap_or_else(|| panic!("no decode golden {case_name:?}"));
        let last = read_all(&messages(case)).pop().expect("a message");
        assert_eq!(last, Err(error), "{case_name}");
    }
}

// ---- truncation -------------------------------------------------------------------------------

/// The body inside one frame.
fn frame_body(message: &[u8]) -> &[u8] {
    &message[4..message.len() - 4]
}

/// The one-frame body Shoal writes for a command.
fn canonical_body(cmd: &PeerCommand) -> Vec<u8> {
    let mut framed = encode_command(cmd, usize::MAX);
    assert_eq!(framed.len(), 1);
    let framed = framed.pop().expect("one message");
    frame_body(&framed).to_vec()
}

#[test]
fn messages_cut_short_never_read_as_a_wrong_command() {
    let g = goldens();
    let mut prefixes = 0;
    for case in cases(g, "encode") {
        if case["package_roundtrip"] != true {
            continue;
        }
        let name = name(case);
        let msgs = messages(case);
        // Cut each message at every length, after feeding the ones before it whole.
        for (m, message) in msgs.iter().enumerate() {
            let mut reader = MessageReader::new(DEFAULT_MAX_COMMAND_BYTES);
            for before in &msgs[..m] {
                assert_eq!(reader.read(before), Ok(Message::CommandPart), "{name}");
            }
            let joined_before: Vec<u8> = msgs[..m]
                .iter()
                .flat_map(|p| frame_body(p).to_vec())
                .collect();
            for cut in 0..message.len() {
                let prefix = &message[..cut];
                prefixes += 1;
                if !is_command_frame(prefix) {
                    // The frame rule no longer holds: the cut message reads as segment bytes
                    // (which leaves the reader as it was).
                    assert_eq!(reader.read(prefix), Ok(Message::SegmentBytes), "{name}");
                    continue;
                }
                // The cut landed right after bytes that spell an end marker.
                match reader.clone().read(prefix) {
                    Err(_) | Ok(Message::CommandPart) => {}
                    Ok(Message::Command(c)) => {
                        // Only if the bytes so far happen to be a whole command of their own.
                        let mut body = joined_before.clone();
                        body.extend_from_slice(frame_body(prefix));
                        assert_eq!(canonical_body(&c), body, "{name}: {m}/{cut} read {c:?}");
                    }
                    Ok(Message::SegmentBytes) => unreachable!("a frame"),
                }
            }
        }
    }
    assert!(prefixes > 140_000, "{prefixes} prefixes");
}

#[test]
fn bodies_cut_short_are_rejected_unless_whole_commands_themselves() {
    let g = goldens();
    let mut accepted = 0;
    for case in cases(g, "encode") {
        if case["package_roundtrip"] != true {
            continue;
        }
        let name = name(case);
        let body: Vec<u8> = messages(case)
            .iter()
            .flat_map(|m| frame_body(m).to_vec())
            .collect();
        let full = decode_command(&body).expect("the whole body decodes");
        // Every cut of the small bodies; the ends and a sample of the middle of the large ones
        // (each cut decodes from the start, so all cuts would be quadratic).
        let cuts =
            (0..body.len()).filter(|&cut| cut < 700 || body.len() - cut < 300 || cut % 997 == 0);
        for cut in cuts {
            let mut framed = b"cstr".to_vec();
            framed.extend_from_slice(&body[..cut]);
            framed.extend_from_slice(b"cend");
            let result = MessageReader::new(DEFAULT_MAX_COMMAND_BYTES).read(&framed);
            assert_eq!(
                result,
                decode_command(&body[..cut]).map(Message::Command),
                "{name}"
            );
            match result {
                Ok(Message::Command(c)) => {
                    // e.g. a request cut before its `b`, or an announcement before its `p`.
                    assert_ne!(c, full, "{name}: cut at {cut}");
                    assert_eq!(canonical_body(&c), body[..cut], "{name}: cut at {cut}");
                    accepted += 1;
                }
                Ok(other) => panic!("{name}: {other:?}"),
                Err(e) => {
                    if cut == 0 {
                        assert_eq!(e, WireError::EmptyCommand);
                    }
                }
            }
        }
    }
    // Announcements cut to their type byte or before `p`, requests before `b`.
    assert!(accepted > 10, "{accepted}");
}

// ---- joining ----------------------------------------------------------------------------------

fn big_announcement() -> PeerCommand {
    announcement((0..2000).collect(), (5000..5100).collect())
}

#[test]
fn oversized_commands_are_cut_off_and_the_reader_recovers() {
    let parts = encode_command(&big_announcement(), 200);
    assert!(parts.len() > 10);
    let mut reader = MessageReader::new(1000);
    let results: Vec<_> = parts.iter().map(|p| reader.read(p)).collect();
    let first_error = results.iter().position(Result::is_err).expect("an error");
    // 192 body bytes a part: the sixth part takes the body past 1000.
    assert_eq!(first_error, 5);
    assert!(results[..5].iter().all(|r| r == &Ok(Message::CommandPart)));
    assert_eq!(results[5], Err(WireError::Oversized { limit: 1000 }));
    assert!(results[6..]
        .iter()
        .all(|r| r == &Err(WireError::PartWithoutStart)));

    let cancel = PeerCommand::CancelSegmentRequest {
        segment: 3,
        request: 4,
    };
    let msgs = encode_command(&cancel, MAX_MESSAGE_BYTES);
    assert_eq!(reader.read(&msgs[0]), Ok(Message::Command(cancel)));
}

#[test]
fn endless_parts_are_cut_off() {
    let mut reader = MessageReader::new(DEFAULT_MAX_COMMAND_BYTES);
    let mut part = b"dstr".to_vec();
    part.extend([0x42; 60_000]);
    part.extend_from_slice(b"dend");
    let mut first = b"cstr\x00".to_vec();
    first.extend_from_slice(b"dend");
    assert_eq!(reader.read(&first), Ok(Message::CommandPart));
    let mut results = Vec::new();
    for _ in 0..10 {
        results.push(reader.read(&part));
    }
    assert_eq!(
        results,
        [
            Ok(Message::CommandPart),
            Ok(Message::CommandPart),
            Ok(Message::CommandPart),
            Ok(Message::CommandPart),
            Err(WireError::Oversized {
                limit: DEFAULT_MAX_COMMAND_BYTES
            }),
            Err(WireError::PartWithoutStart),
            Err(WireError::PartWithoutStart),
            Err(WireError::PartWithoutStart),
            Err(WireError::PartWithoutStart),
            Err(WireError::PartWithoutStart),
        ]
    );
}

#[test]
fn a_single_frame_over_the_limit_is_oversized() {
    let msgs = encode_command(&big_announcement(), MAX_MESSAGE_BYTES);
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        MessageReader::new(100).read(&msgs[0]),
        Err(WireError::Oversized { limit: 100 })
    );
}

#[test]
fn parts_out_of_place_are_rejected_and_the_reader_recovers() {
    let parts = encode_command(&big_announcement(), 1000);
    assert!(parts.len() >= 3);
    let mut reader = MessageReader::new(DEFAULT_MAX_COMMAND_BYTES);
    // A later part with no first part.
    assert_eq!(reader.read(&parts[1]), Err(WireError::PartWithoutStart));
    assert_eq!(reader.read(&parts[2]), Err(WireError::PartWithoutStart));
    // A first part, then a new first part: both dropped.
    assert_eq!(reader.read(&parts[0]), Ok(Message::CommandPart));
    assert_eq!(reader.read(&parts[0]), Err(WireError::InterruptedCommand));
    assert_eq!(reader.read(&parts[1]), Err(WireError::PartWithoutStart));
    // A whole command in the middle of a split one interrupts it as well.
    assert_eq!(reader.read(&parts[0]), Ok(Message::CommandPart));
    let absent = PeerCommand::SegmentAbsent {
        segment: 1,
        request: 2,
    };
    let absent_msg = encode_command(&absent, MAX_MESSAGE_BYTES);
    assert_eq!(
        reader.read(&absent_msg[0]),
        Err(WireError::InterruptedCommand)
    );
    // Then everything reads normally again, segment bytes in between included.
    let mut results = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        results.push(reader.read(part));
        if i == 1 {
            assert_eq!(reader.read(&[1, 2, 3]), Ok(Message::SegmentBytes));
        }
    }
    assert_eq!(
        results.pop(),
        Some(Ok(Message::Command(big_announcement())))
    );
    assert_eq!(reader.read(&absent_msg[0]), Ok(Message::Command(absent)));
}

#[test]
fn an_empty_first_part_starts_nothing() {
    // The package judges "joining" by collected bytes; so does Shoal.
    let mut reader = MessageReader::new(DEFAULT_MAX_COMMAND_BYTES);
    assert_eq!(reader.read(b"cstrdend"), Ok(Message::CommandPart));
    assert_eq!(
        reader.read(b"dstr\x04i\x01\x01r\x01\x02cend"),
        Err(WireError::PartWithoutStart)
    );
    assert_eq!(
        reader.read(b"cstr\x04i\x01\x01r\x01\x02cend"),
        Ok(Message::Command(PeerCommand::SegmentAbsent {
            segment: 1,
            request: 2
        }))
    );
}

#[test]
fn garbage_is_segment_bytes_or_an_error() {
    let mut reader = MessageReader::new(DEFAULT_MAX_COMMAND_BYTES);
    assert_eq!(reader.read(b""), Ok(Message::SegmentBytes));
    assert_eq!(reader.read(b"cstr"), Ok(Message::SegmentBytes));
    assert_eq!(reader.read(b"cstrcen"), Ok(Message::SegmentBytes));
    assert_eq!(reader.read(b"cstrcend"), Err(WireError::EmptyCommand));
    assert_eq!(
        reader.read(b"cstr\x07cend"),
        Err(WireError::UnknownCommand(7))
    );
    assert_eq!(
        reader.read(b"cstr\xffcend"),
        Err(WireError::UnknownCommand(255))
    );
    assert_eq!(
        reader.read(b"cstr\x04i\xf0cend"),
        Err(WireError::UnknownItemType {
            field: 'i',
            item_type: 15
        })
    );
    assert_eq!(reader.read(b"cstr\x04icend"), Err(WireError::Truncated));
    assert_eq!(
        reader.read(b"cstr\x04i\x01\x01cend"),
        Err(WireError::MissingField('r'))
    );
}

#[test]
fn ids_and_sizes_at_their_limits_round_trip() {
    for cmd in [
        PeerCommand::SegmentData {
            segment: u64::MAX,
            request: u32::MAX,
            byte_length: u64::MAX,
        },
        PeerCommand::SegmentRequest {
            segment: u64::MAX,
            request: 0,
            resume_from_bytes: Some(u64::MAX),
        },
        announcement(vec![u64::MAX, 0, 1 << 63], vec![u64::MAX - 255]),
    ] {
        assert_eq!(
            read_command(&encode_command(&cmd, MAX_MESSAGE_BYTES)),
            Ok(cmd)
        );
    }
}

// ---- properties -------------------------------------------------------------------------------

/// Announcement lists: a few ids spread over all of u64, or runs of a live window with gaps,
/// small enough to stay within 255 groups.
fn id_list_strategy() -> impl Strategy<Value = Vec<u64>> {
    prop_oneof![
        prop::collection::vec(any::<u64>(), 0..60),
        (any::<u64>(), prop::collection::vec(0u64..20_000, 0..3000)).prop_map(|(base, offsets)| {
            let base = base % (u64::MAX - 20_000);
            offsets.into_iter().map(|o| base + o).collect()
        }),
    ]
}

fn command_strategy() -> impl Strategy<Value = PeerCommand> {
    let sorted = || {
        id_list_strategy().prop_map(|mut ids| {
            ids.sort_unstable();
            ids
        })
    };
    prop_oneof![
        (sorted(), sorted()).prop_map(|(l, p)| announcement(l, p)),
        (any::<u64>(), any::<u32>(), prop::option::of(1..=u64::MAX)).prop_map(|(i, r, b)| {
            PeerCommand::SegmentRequest {
                segment: i,
                request: r,
                resume_from_bytes: b,
            }
        }),
        (any::<u64>(), any::<u32>(), any::<u64>()).prop_map(|(i, r, s)| {
            PeerCommand::SegmentData {
                segment: i,
                request: r,
                byte_length: s,
            }
        }),
        (any::<u64>(), any::<u32>()).prop_map(|(segment, request)| {
            PeerCommand::SegmentDataSendingCompleted { segment, request }
        }),
        (any::<u64>(), any::<u32>())
            .prop_map(|(segment, request)| PeerCommand::SegmentAbsent { segment, request }),
        (any::<u64>(), any::<u32>()).prop_map(|(segment, request)| {
            PeerCommand::CancelSegmentRequest { segment, request }
        }),
    ]
}

fn max_size_strategy() -> impl Strategy<Value = usize> {
    prop_oneof![
        1usize..64,
        64usize..2000,
        Just(MAX_MESSAGE_BYTES),
        0usize..100_000
    ]
}

proptest! {
    #[test]
    fn commands_round_trip(cmd in command_strategy(), max in max_size_strategy()) {
        let msgs = try_encode_command(&cmd, max).expect("fits 255 groups");
        prop_assert_eq!(read_command(&msgs), Ok(cmd.clone()));
        // Every message is a frame, and only the last one ends the command.
        for (i, m) in msgs.iter().enumerate() {
            prop_assert!(is_command_frame(m));
            prop_assert_eq!(m.ends_with(b"cend"), i + 1 == msgs.len());
            prop_assert_eq!(m.starts_with(b"cstr"), i == 0);
        }
        // Messages stay within the max whenever the package's split arithmetic allows it.
        let body: usize = msgs.iter().map(|m| m.len() - 8).sum();
        let max = max.max(1);
        if max >= 8 * (body.div_ceil(max) + 1) {
            prop_assert!(msgs.iter().all(|m| m.len() <= max), "{:?}", msgs.iter().map(Vec::len).collect::<Vec<_>>());
        }
        if body + 8 <= max {
            prop_assert_eq!(msgs.len(), 1);
        }
    }

    #[test]
    fn unsorted_lists_read_back_grouped(l in id_list_strategy(), p in id_list_strategy()) {
        let cmd = announcement(l.clone(), p.clone());
        let read = read_command(&encode_command(&cmd, MAX_MESSAGE_BYTES));
        let Ok(PeerCommand::SegmentsAnnouncement { loaded, http_loading }) = read else {
            panic!("{read:?}");
        };
        // The same ids; each 256-block's ids together, in the order of the blocks' first ids.
        for (given, got) in [(l, loaded), (p, http_loading)] {
            let mut blocks: Vec<u64> = Vec::new();
            for id in &given {
                if !blocks.contains(&(id >> 8)) {
                    blocks.push(id >> 8);
                }
            }
            let expected: Vec<u64> = blocks
                .iter()
                .flat_map(|b| given.iter().copied().filter(move |id| id >> 8 == *b))
                .collect();
            prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn any_bytes_read_without_panicking(
        msgs in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 1..8),
    ) {
        let mut reader = MessageReader::new(200);
        for m in &msgs {
            let _ = reader.read(m);
        }
    }

    #[test]
    fn any_frame_body_decodes_to_something_that_round_trips_or_errors(
        body in prop::collection::vec(any::<u8>(), 0..80),
        first in 0u8..6,
    ) {
        let mut body = body;
        if let Some(b) = body.first_mut() {
            *b = first;
        }
        let mut framed = b"cstr".to_vec();
        framed.extend_from_slice(&body);
        framed.extend_from_slice(b"cend");
        match MessageReader::new(DEFAULT_MAX_COMMAND_BYTES).read(&framed) {
            Ok(Message::Command(c)) => {
                prop_assert_eq!(read_command(&encode_command(&c, MAX_MESSAGE_BYTES)), Ok(c));
            }
            Ok(other) => prop_assert!(false, "{:?}", other),
            Err(_) => {}
        }
    }

    #[test]
    fn mutated_goldens_never_panic(case in 0usize..46, at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let g = goldens();
        let encode = cases(g, "encode");
        let msgs = messages(&encode[case % encode.len()]);
        let total: usize = msgs.iter().map(Vec::len).sum();
        let mut at = at.index(total);
        let mut reader = MessageReader::new(DEFAULT_MAX_COMMAND_BYTES);
        for mut m in msgs {
            if at < m.len() {
                m[at] = byte;
                at = usize::MAX;
            } else if at != usize::MAX {
                at -= m.len();
            }
            let _ = reader.read(&m);
        }
    }
}
