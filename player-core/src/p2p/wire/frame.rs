//! Framing of commands into data-channel messages: the `cstr`/`cend` markers, the split of long
//! commands into `dstr`/`dend` parts, the rule that tells a command frame from raw segment bytes,
//! and [`MessageReader`], which joins parts back and decodes the command.

use super::{decode_command, PeerCommand, WireError};

/// Bytes in each frame marker.
const MARKER_BYTES: usize = 4;
/// First part of a command (and the whole of a short one).
const COMMAND_START: &[u8; MARKER_BYTES] = b"cstr";
/// Last part of a command (and the whole of a short one).
const COMMAND_END: &[u8; MARKER_BYTES] = b"cend";
/// A later part of a split command.
const PART_START: &[u8; MARKER_BYTES] = b"dstr";
/// A part of a split command that more parts follow.
const PART_END: &[u8; MARKER_BYTES] = b"dend";
/// Bytes a frame adds around its body.
const FRAME_OVERHEAD: usize = 2 * MARKER_BYTES;

/// Whether a data-channel message is a command frame; every other message is raw bytes of the
/// segment being received.
///
/// The package's rule, which both sides must share since messages carry no other tag: the
/// message starts with `cstr` or `dstr` and ends with `cend` or `dend`. The start and end windows
/// cannot overlap in a message shorter than 8 bytes (neither end marker starts with the `s`, `t`
/// or `r` such a window would begin with), so the length check only makes that explicit.
pub fn is_command_frame(message: &[u8]) -> bool {
    message.len() >= FRAME_OVERHEAD
        && (message.starts_with(COMMAND_START) || message.starts_with(PART_START))
        && (message.ends_with(COMMAND_END) || message.ends_with(PART_END))
}

fn framed(start: &[u8], body: &[u8], end: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(start.len() + body.len() + end.len());
    message.extend_from_slice(start);
    message.extend_from_slice(body);
    message.extend_from_slice(end);
    message
}

/// Frames a command body into one message, or into parts when the framed body would exceed
/// `max_message_bytes`.
///
/// Parts are the package's: equal slices (the last may be shorter, even empty), as many as its
/// arithmetic finds, which keeps every message within the max whenever
/// `max >= 8 * (ceil(body / max) + 1)`, true for any max of a few hundred bytes or more; with
/// tinier maxima parts can exceed it, as the package's do. A max of 0 is taken as 1.
pub(crate) fn frame_body(body: &[u8], max_message_bytes: usize) -> Vec<Vec<u8>> {
    let max = max_message_bytes.max(1);
    let len = body.len();
    if len + FRAME_OVERHEAD <= max {
        return vec![framed(COMMAND_START, body, COMMAND_END)];
    }
    // One more part when equal slices of the first guess plus their markers do not fit.
    let mut parts = len.div_ceil(max);
    if len.div_ceil(parts) + FRAME_OVERHEAD > max {
        parts += 1;
    }
    let part_len = len.div_ceil(parts);
    // parts >= 2 here: a single part would be the whole body, which did not fit.
    (0..parts)
        .map(|i| {
            let from = (i * part_len).min(len);
            let to = ((i + 1) * part_len).min(len);
            let slice = body.get(from..to).unwrap_or_default();
            let start = if i == 0 { COMMAND_START } else { PART_START };
            let end = if i + 1 == parts {
                COMMAND_END
            } else {
                PART_END
            };
            framed(start, slice, end)
        })
        .collect()
}

/// What one incoming data-channel message was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A whole command (a single frame, or the last part of a split one).
    Command(PeerCommand),
    /// A part of a split command; more parts follow.
    CommandPart,
    /// Not a command frame: raw bytes of the segment currently being received (the caller keeps
    /// the bytes).
    SegmentBytes,
}

/// Reads the incoming data-channel messages of one peer, joining split commands.
///
/// It follows the package's joining, so both read the same stream the same way:
/// - segment bytes between parts of a command do not disturb the joining;
/// - a `dstr` part with no command started is [`WireError::PartWithoutStart`];
/// - a `cstr` frame while a command is half joined is [`WireError::InterruptedCommand`], and
///   both the unfinished command and the new frame are dropped;
/// - "started" means that some body bytes have been collected, so a first part with an empty body
///   starts nothing (the package's encoder never writes one).
///
/// On top of that it bounds a command at `max_command_bytes` of body ([`WireError::Oversized`]);
/// the parts that follow an oversized one then read as [`WireError::PartWithoutStart`]. After any
/// error the reader is ready for the next command. Any error is a protocol violation by the peer;
/// the package silently drops such commands, so dropping the command and going on is compatible,
/// and disconnecting is the stricter choice.
#[derive(Debug, Clone)]
pub struct MessageReader {
    max_command_bytes: usize,
    joined: Vec<u8>,
}

impl MessageReader {
    /// `max_command_bytes` bounds a reassembled command body (hostile peers send endless parts);
    /// [`super::DEFAULT_MAX_COMMAND_BYTES`] fits the largest command the package can read.
    pub fn new(max_command_bytes: usize) -> Self {
        MessageReader {
            max_command_bytes,
            joined: Vec::new(),
        }
    }

    /// Reads one data-channel message.
    pub fn read(&mut self, message: &[u8]) -> Result<Message, WireError> {
        if !is_command_frame(message) {
            return Ok(Message::SegmentBytes);
        }
        let body = message
            .get(MARKER_BYTES..message.len() - MARKER_BYTES)
            .unwrap_or_default();
        let first = message.starts_with(COMMAND_START);
        let last = message.ends_with(COMMAND_END);
        let joining = !self.joined.is_empty();

        if first && joining {
            self.joined.clear();
            return Err(WireError::InterruptedCommand);
        }
        if !first && !joining {
            return Err(WireError::PartWithoutStart);
        }
        if self.joined.len().saturating_add(body.len()) > self.max_command_bytes {
            self.joined.clear();
            return Err(WireError::Oversized {
                limit: self.max_command_bytes,
            });
        }
        if first && last {
            // The common case: a whole command in one message, decoded in place.
            return decode_command(body).map(Message::Command);
        }
        self.joined.extend_from_slice(body);
        if !last {
            return Ok(Message::CommandPart);
        }
        let joined = std::mem::take(&mut self.joined);
        decode_command(&joined).map(Message::Command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_rule_needs_both_markers() {
        assert!(is_command_frame(b"cstrcend"));
        assert!(is_command_frame(b"dstr\x01dend"));
        assert!(is_command_frame(b"cstr\x01dend"));
        assert!(is_command_frame(b"dstr\x01cend"));
        assert!(!is_command_frame(b"cstr\x01"));
        assert!(!is_command_frame(b"\x01cend"));
        assert!(!is_command_frame(b"cstrcen"));
        assert!(!is_command_frame(b"cend"));
        assert!(!is_command_frame(b""));
        assert!(!is_command_frame(b"Cstr\x01cend"));
    }

    #[test]
    fn short_bodies_take_one_frame() {
        assert_eq!(frame_body(&[1, 2], 10), vec![b"cstr\x01\x02cend".to_vec()]);
    }

    #[test]
    fn long_bodies_split_into_equal_parts() {
        let body: Vec<u8> = (0..10).collect();
        let parts = frame_body(&body, 17);
        assert_eq!(
            parts,
            vec![
                framed(b"cstr", &body[..5], b"dend"),
                framed(b"dstr", &body[5..], b"cend"),
            ]
        );
        // 9 bytes in 4 parts of 3: the last part is empty.
        let body: Vec<u8> = (0..9).collect();
        let parts = frame_body(&body, 4);
        assert_eq!(parts.len(), 4);
        assert_eq!(parts[3], b"dstrcend");
    }

    #[test]
    fn zero_max_is_taken_as_one() {
        assert_eq!(frame_body(&[7], 0), frame_body(&[7], 1));
    }
}
