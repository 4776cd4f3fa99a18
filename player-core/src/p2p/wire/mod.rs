//! The peer wire protocol of p2p-media-loader v2 (npm `p2p-media-loader-core` 2.x): the six
//! commands peers exchange over a reliable ordered data channel, their binary encoding, and
//! their framing into data-channel messages. Bytes are pinned by goldens that the real package
//! produces (`tests/interop/wire-goldens.mjs`).
//!
//! A command body is one byte of command type, then fields: a field-name byte (the ASCII letter
//! of the package's property name) and an item (see `items`). Fields may come in any order;
//! unknown fields are skipped and a repeated field's last value counts, as in the package.
//!
//! Where the package's own encoding breaks, Shoal writes something the package reads correctly
//! instead of copying the bug: the package writes a 256-block's id count and the group count in
//! one byte each, so an announcement with all 256 ids of a block (a VOD of 256+ segments fully
//! loaded) or with ids in more than 255 blocks is unreadable or misread by every package peer.
//! Shoal splits such a block into two groups and leaves out groups past the 255th.
//!
//! Ids are JavaScript numbers on the package's side: ids above 2^53 lose precision there.

mod frame;
mod items;

use std::fmt;

pub use frame::{is_command_frame, Message, MessageReader};
pub use items::{MAX_GROUPS, MAX_IDS_PER_GROUP};

/// p2p-media-loader's segment id: the segment's index in its media playlist (VOD) or its media
/// sequence number (live).
pub type SegmentId = u64;
/// The requester's number for one segment request, echoed in replies.
pub type WireRequestId = u32;

/// The package's default (and PeerTube's) `webRtcMaxMessageSize`: 64 KiB - 1. Commands longer
/// than this are split, and the package sends segment data in chunks of this size.
pub const MAX_MESSAGE_BYTES: usize = 65_535;

/// A bound for [`MessageReader::new`]. The largest command the package can read back is an
/// announcement of two full lists, each at most 255 groups of (10-byte Int + 255 ids), about
/// 135 kB; 256 KiB leaves room and still stops a peer that never ends a command.
pub const DEFAULT_MAX_COMMAND_BYTES: usize = 256 * 1024;

/// Command type bytes.
const SEGMENTS_ANNOUNCEMENT: u8 = 0;
const SEGMENT_REQUEST: u8 = 1;
const SEGMENT_DATA: u8 = 2;
const SEGMENT_DATA_SENDING_COMPLETED: u8 = 3;
const SEGMENT_ABSENT: u8 = 4;
const CANCEL_SEGMENT_REQUEST: u8 = 5;

/// Field names.
const LOADED: u8 = b'l';
const HTTP_LOADING: u8 = b'p';
const SEGMENT: u8 = b'i';
const REQUEST: u8 = b'r';
const RESUME_FROM: u8 = b'b';
const BYTE_LENGTH: u8 = b's';

/// One command of the peer protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerCommand {
    /// Type 0: the sender's full state; replaces the previous announcement. Either list may be
    /// empty (an empty list is not written, and a missing one reads as empty).
    SegmentsAnnouncement {
        /// `l`: segments the sender has and can upload.
        loaded: Vec<SegmentId>,
        /// `p`: segments the sender is loading over HTTP.
        http_loading: Vec<SegmentId>,
    },
    /// Type 1: asks for a segment. It replaces whatever the receiver is uploading to the sender.
    SegmentRequest {
        /// `i`.
        segment: SegmentId,
        /// `r`.
        request: WireRequestId,
        /// `b`: resume after the first `b` bytes, which the requester already has. Offset 0 is
        /// not written (the package leaves it out too), so `Some(0)` reads back as `None`.
        resume_from_bytes: Option<u64>,
    },
    /// Type 2: the header of an upload; `byte_length` raw segment bytes follow as non-command
    /// messages. On a resumed request it counts only the bytes from the offset on.
    SegmentData {
        /// `i`.
        segment: SegmentId,
        /// `r`.
        request: WireRequestId,
        /// `s`.
        byte_length: u64,
    },
    /// Type 3: all bytes announced by [`PeerCommand::SegmentData`] have been sent.
    SegmentDataSendingCompleted {
        /// `i`.
        segment: SegmentId,
        /// `r`.
        request: WireRequestId,
    },
    /// Type 4: the receiver of a request does not have the segment.
    SegmentAbsent {
        /// `i`.
        segment: SegmentId,
        /// `r`.
        request: WireRequestId,
    },
    /// Type 5: the requester no longer wants the segment; the uploader stops only if `request`
    /// is the one it is serving.
    CancelSegmentRequest {
        /// `i`.
        segment: SegmentId,
        /// `r`.
        request: WireRequestId,
    },
}

/// Why an incoming message was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The command body ends inside an item, or a field name has no item.
    Truncated,
    /// A command frame with an empty body: not even a command type.
    EmptyCommand,
    /// The joined command body would exceed the reader's limit.
    Oversized {
        /// The reader's `max_command_bytes`.
        limit: usize,
    },
    /// A command type other than 0..=5.
    UnknownCommand(u8),
    /// An item header whose type nibble is not Int, SimilarIntArray or String.
    UnknownItemType {
        /// The field the item belongs to.
        field: char,
        /// The header's high nibble.
        item_type: u8,
    },
    /// A field the command needs holds another item type than it should (or a SimilarIntArray
    /// group does not start with an Int).
    WrongItemType {
        /// The field.
        field: char,
    },
    /// A field the command needs is absent.
    MissingField(char),
    /// A number is negative or too large for its field (u64 ids and sizes, u32 request ids).
    ValueOutOfRange {
        /// The field.
        field: char,
    },
    /// A later part (`dstr`) of a split command with no first part (`cstr`) before it.
    PartWithoutStart,
    /// A new command (`cstr`) began while a split command was still being joined; both dropped.
    InterruptedCommand,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated => write!(f, "peer command ends in the middle of a field"),
            WireError::EmptyCommand => write!(f, "peer command frame is empty"),
            WireError::Oversized { limit } => {
                write!(f, "peer command is longer than {limit} bytes")
            }
            WireError::UnknownCommand(c) => write!(f, "unknown peer command type {c}"),
            WireError::UnknownItemType { field, item_type } => write!(
                f,
                "field {:?} of a peer command has unknown item type {item_type}",
                field
            ),
            WireError::WrongItemType { field } => {
                write!(
                    f,
                    "field {field:?} of a peer command has the wrong item type"
                )
            }
            WireError::MissingField(field) => {
                write!(f, "peer command lacks its required field {field:?}")
            }
            WireError::ValueOutOfRange { field } => {
                write!(
                    f,
                    "field {field:?} of a peer command is negative or too large"
                )
            }
            WireError::PartWithoutStart => {
                write!(
                    f,
                    "part of a split peer command arrived without its first part"
                )
            }
            WireError::InterruptedCommand => write!(
                f,
                "a new peer command began before the split one before it was complete"
            ),
        }
    }
}

impl std::error::Error for WireError {}

/// Why [`try_encode_command`] could not encode a command whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// An announcement list spans more 256-blocks than 255 groups can hold.
    TooManyIdGroups {
        /// The list (`'l'` or `'p'`).
        field: char,
        /// How many of its ids [`encode_command`] leaves out.
        left_out: usize,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::TooManyIdGroups { field, left_out } => write!(
                f,
                "announcement list {field:?} needs more than {MAX_GROUPS} groups; \
                 {left_out} ids would be left out"
            ),
        }
    }
}

impl std::error::Error for EncodeError {}

/// Encodes and frames one command: `cstr..cend`, or split into `cstr..dend`, `dstr..dend`, ...,
/// `dstr..cend` when longer than `max_message_bytes`. Every returned Vec is one data-channel
/// message.
///
/// An announcement list whose ids need more than [`MAX_GROUPS`] groups loses the ids of the
/// groups past the 255th (groups are taken in the order their first id appears, so list the ids
/// that matter most first); [`try_encode_command`] reports that instead.
pub fn encode_command(command: &PeerCommand, max_message_bytes: usize) -> Vec<Vec<u8>> {
    frame::frame_body(&encode_body(command).0, max_message_bytes)
}

/// [`encode_command`], failing instead of leaving announced ids out.
pub fn try_encode_command(
    command: &PeerCommand,
    max_message_bytes: usize,
) -> Result<Vec<Vec<u8>>, EncodeError> {
    let (body, problem) = encode_body(command);
    match problem {
        Some(error) => Err(error),
        None => Ok(frame::frame_body(&body, max_message_bytes)),
    }
}

/// The unframed body of a command, and the first list that did not fit whole.
fn encode_body(command: &PeerCommand) -> (Vec<u8>, Option<EncodeError>) {
    let mut out = Vec::new();
    let mut problem = None;
    let field_int = |out: &mut Vec<u8>, name: u8, value: u64| {
        out.push(name);
        items::write_int(out, value);
    };
    match command {
        PeerCommand::SegmentsAnnouncement {
            loaded,
            http_loading,
        } => {
            out.push(SEGMENTS_ANNOUNCEMENT);
            for (name, ids) in [(LOADED, loaded), (HTTP_LOADING, http_loading)] {
                // Empty lists are left out, as the package does.
                if ids.is_empty() {
                    continue;
                }
                out.push(name);
                let left_out = items::write_similar_int_array(&mut out, ids);
                if left_out > 0 && problem.is_none() {
                    problem = Some(EncodeError::TooManyIdGroups {
                        field: char::from(name),
                        left_out,
                    });
                }
            }
        }
        PeerCommand::SegmentRequest {
            segment,
            request,
            resume_from_bytes,
        } => {
            out.push(SEGMENT_REQUEST);
            field_int(&mut out, SEGMENT, *segment);
            field_int(&mut out, REQUEST, u64::from(*request));
            if let Some(offset) = resume_from_bytes.filter(|&b| b != 0) {
                field_int(&mut out, RESUME_FROM, offset);
            }
        }
        PeerCommand::SegmentData {
            segment,
            request,
            byte_length,
        } => {
            out.push(SEGMENT_DATA);
            // The package writes i, s, r in this order; the goldens compare bytes.
            field_int(&mut out, SEGMENT, *segment);
            field_int(&mut out, BYTE_LENGTH, *byte_length);
            field_int(&mut out, REQUEST, u64::from(*request));
        }
        PeerCommand::SegmentDataSendingCompleted { segment, request }
        | PeerCommand::SegmentAbsent { segment, request }
        | PeerCommand::CancelSegmentRequest { segment, request } => {
            out.push(command_type(command));
            field_int(&mut out, SEGMENT, *segment);
            field_int(&mut out, REQUEST, u64::from(*request));
        }
    }
    (out, problem)
}

/// The command type byte of a command.
fn command_type(command: &PeerCommand) -> u8 {
    match command {
        PeerCommand::SegmentsAnnouncement { .. } => SEGMENTS_ANNOUNCEMENT,
        PeerCommand::SegmentRequest { .. } => SEGMENT_REQUEST,
        PeerCommand::SegmentData { .. } => SEGMENT_DATA,
        PeerCommand::SegmentDataSendingCompleted { .. } => SEGMENT_DATA_SENDING_COMPLETED,
        PeerCommand::SegmentAbsent { .. } => SEGMENT_ABSENT,
        PeerCommand::CancelSegmentRequest { .. } => CANCEL_SEGMENT_REQUEST,
    }
}

/// A field's item as read, before the command type says what the field must be.
#[derive(Debug)]
enum Item {
    Int(i128),
    Ids(items::Ids),
    String,
}

/// The last value of each field some command uses.
#[derive(Debug, Default)]
struct Fields {
    segment: Option<Item>,
    request: Option<Item>,
    resume_from: Option<Item>,
    byte_length: Option<Item>,
    loaded: Option<Item>,
    http_loading: Option<Item>,
}

impl Fields {
    fn slot(&mut self, name: u8) -> Option<&mut Option<Item>> {
        match name {
            SEGMENT => Some(&mut self.segment),
            REQUEST => Some(&mut self.request),
            RESUME_FROM => Some(&mut self.resume_from),
            BYTE_LENGTH => Some(&mut self.byte_length),
            LOADED => Some(&mut self.loaded),
            HTTP_LOADING => Some(&mut self.http_loading),
            _ => None,
        }
    }
}

/// Decodes one unframed command body (what [`MessageReader`] does once a command is whole).
pub fn decode_command(body: &[u8]) -> Result<PeerCommand, WireError> {
    let mut cursor = items::Cursor::new(body);
    let command = cursor.byte().map_err(|_| WireError::EmptyCommand)?;
    if command > CANCEL_SEGMENT_REQUEST {
        return Err(WireError::UnknownCommand(command));
    }

    let mut fields = Fields::default();
    while !cursor.is_empty() {
        let name = cursor.byte()?;
        let field = char::from(name);
        let header = cursor.byte()?;
        let slot = fields.slot(name);
        let keep = slot.is_some();
        let item = match items::item_type(header) {
            items::INT => Item::Int(items::read_int(&mut cursor, header)?),
            items::SIMILAR_INT_ARRAY => {
                Item::Ids(items::read_similar_int_array(&mut cursor, field, keep)?)
            }
            items::STRING => {
                items::skip_string(&mut cursor, header)?;
                Item::String
            }
            item_type => return Err(WireError::UnknownItemType { field, item_type }),
        };
        if let Some(slot) = slot {
            *slot = Some(item);
        }
    }

    let segment = || required_u64(&fields.segment, SEGMENT);
    let request = || required_u32(&fields.request, REQUEST);
    Ok(match command {
        SEGMENTS_ANNOUNCEMENT => PeerCommand::SegmentsAnnouncement {
            loaded: ids(fields.loaded, LOADED)?,
            http_loading: ids(fields.http_loading, HTTP_LOADING)?,
        },
        SEGMENT_REQUEST => PeerCommand::SegmentRequest {
            segment: segment()?,
            request: request()?,
            resume_from_bytes: match &fields.resume_from {
                None => None,
                // The package treats offset 0 as "from the start" too.
                Some(_) => {
                    Some(required_u64(&fields.resume_from, RESUME_FROM)?).filter(|&b| b != 0)
                }
            },
        },
        SEGMENT_DATA => PeerCommand::SegmentData {
            segment: segment()?,
            request: request()?,
            byte_length: required_u64(&fields.byte_length, BYTE_LENGTH)?,
        },
        SEGMENT_DATA_SENDING_COMPLETED => PeerCommand::SegmentDataSendingCompleted {
            segment: segment()?,
            request: request()?,
        },
        SEGMENT_ABSENT => PeerCommand::SegmentAbsent {
            segment: segment()?,
            request: request()?,
        },
        _ => PeerCommand::CancelSegmentRequest {
            segment: segment()?,
            request: request()?,
        },
    })
}

fn required_int(item: &Option<Item>, name: u8) -> Result<i128, WireError> {
    let field = char::from(name);
    match item {
        None => Err(WireError::MissingField(field)),
        Some(Item::Int(value)) => Ok(*value),
        Some(_) => Err(WireError::WrongItemType { field }),
    }
}

fn required_u64(item: &Option<Item>, name: u8) -> Result<u64, WireError> {
    u64::try_from(required_int(item, name)?).map_err(|_| WireError::ValueOutOfRange {
        field: char::from(name),
    })
}

fn required_u32(item: &Option<Item>, name: u8) -> Result<u32, WireError> {
    u32::try_from(required_int(item, name)?).map_err(|_| WireError::ValueOutOfRange {
        field: char::from(name),
    })
}

/// An announcement list; absent reads as empty.
fn ids(item: Option<Item>, name: u8) -> Result<Vec<SegmentId>, WireError> {
    let field = char::from(name);
    match item {
        None => Ok(Vec::new()),
        Some(Item::Ids(ids)) if ids.out_of_range => Err(WireError::ValueOutOfRange { field }),
        Some(Item::Ids(ids)) => Ok(ids.ids),
        Some(_) => Err(WireError::WrongItemType { field }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_of_each_command_type() {
        let body = |c: &PeerCommand| encode_body(c).0;
        assert_eq!(
            body(&PeerCommand::SegmentsAnnouncement {
                loaded: vec![],
                http_loading: vec![]
            }),
            [0]
        );
        assert_eq!(
            body(&PeerCommand::SegmentRequest {
                segment: 5,
                request: 7,
                resume_from_bytes: Some(1000)
            }),
            [1, b'i', 0x01, 5, b'r', 0x01, 7, b'b', 0x02, 0x03, 0xe8]
        );
        assert_eq!(
            body(&PeerCommand::SegmentData {
                segment: 1,
                request: 2,
                byte_length: 3
            }),
            [2, b'i', 0x01, 1, b's', 0x01, 3, b'r', 0x01, 2]
        );
        for (c, t) in [
            (
                PeerCommand::SegmentDataSendingCompleted {
                    segment: 1,
                    request: 2,
                },
                3,
            ),
            (
                PeerCommand::SegmentAbsent {
                    segment: 1,
                    request: 2,
                },
                4,
            ),
            (
                PeerCommand::CancelSegmentRequest {
                    segment: 1,
                    request: 2,
                },
                5,
            ),
        ] {
            assert_eq!(body(&c), [t, b'i', 0x01, 1, b'r', 0x01, 2]);
            assert_eq!(decode_command(&body(&c)), Ok(c));
        }
    }

    #[test]
    fn resume_offset_zero_is_not_written() {
        let c = PeerCommand::SegmentRequest {
            segment: 5,
            request: 7,
            resume_from_bytes: Some(0),
        };
        assert_eq!(encode_body(&c).0, [1, b'i', 0x01, 5, b'r', 0x01, 7]);
        assert_eq!(
            decode_command(&[1, b'i', 0x01, 5, b'r', 0x01, 7, b'b', 0x01, 0]),
            Ok(PeerCommand::SegmentRequest {
                segment: 5,
                request: 7,
                resume_from_bytes: None
            })
        );
    }

    #[test]
    fn decode_errors_name_the_field() {
        assert_eq!(decode_command(&[]), Err(WireError::EmptyCommand));
        assert_eq!(decode_command(&[6]), Err(WireError::UnknownCommand(6)));
        assert_eq!(
            decode_command(&[4, b'i', 0x01, 1]),
            Err(WireError::MissingField('r'))
        );
        assert_eq!(
            decode_command(&[2, b'i', 0x01, 1, b'r', 0x01, 1]),
            Err(WireError::MissingField('s'))
        );
        assert_eq!(
            decode_command(&[4, b'i', 0x01, 0x81, b'r', 0x01, 1]),
            Err(WireError::ValueOutOfRange { field: 'i' })
        );
        assert_eq!(
            decode_command(&[4, b'i', 0x01, 1, b'r', 0x05, 0x01, 0, 0, 0, 0]),
            Err(WireError::ValueOutOfRange { field: 'r' })
        );
        assert_eq!(
            decode_command(&[4, b'i', 0x10, 0, b'r', 0x01, 1]),
            Err(WireError::WrongItemType { field: 'i' })
        );
        assert_eq!(
            decode_command(&[0, b'l', 0x01, 1]),
            Err(WireError::WrongItemType { field: 'l' })
        );
        assert_eq!(
            decode_command(&[4, b'i', 0x31, 1]),
            Err(WireError::UnknownItemType {
                field: 'i',
                item_type: 3
            })
        );
        assert_eq!(decode_command(&[4, b'i']), Err(WireError::Truncated));
        assert_eq!(
            decode_command(&[0, b'p', 0x10, 1, 0x02, 0x80, 0xff, 0xff]),
            Err(WireError::ValueOutOfRange { field: 'p' })
        );
    }

    #[test]
    fn fields_a_command_does_not_use_are_not_checked() {
        // An 's' holding a string in a cancel, and a negative 'l' group in a request: ignored.
        assert_eq!(
            decode_command(&[5, b's', 0x20, 1, b'x', b'i', 0x01, 1, b'r', 0x01, 2]),
            Ok(PeerCommand::CancelSegmentRequest {
                segment: 1,
                request: 2
            })
        );
        assert_eq!(
            decode_command(&[
                1, b'l', 0x10, 1, 0x02, 0x80, 0xff, 0xff, b'i', 0x01, 1, b'r', 0x01, 2
            ]),
            Ok(PeerCommand::SegmentRequest {
                segment: 1,
                request: 2,
                resume_from_bytes: None
            })
        );
    }

    #[test]
    fn errors_display_as_sentences() {
        assert_eq!(
            WireError::MissingField('r').to_string(),
            "peer command lacks its required field 'r'"
        );
        assert_eq!(
            WireError::Oversized { limit: 10 }.to_string(),
            "peer command is longer than 10 bytes"
        );
        assert_eq!(
            EncodeError::TooManyIdGroups {
                field: 'l',
                left_out: 3
            }
            .to_string(),
            "announcement list 'l' needs more than 255 groups; 3 ids would be left out"
        );
    }
}
