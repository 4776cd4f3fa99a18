//! Playlist parse errors: a 1-based line and a kind that tests can compare.

use std::fmt;

/// Why a playlist was rejected, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number; 0 when the error is about the playlist as a whole (e.g. its URL).
    pub line: usize,
    pub kind: ParseErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// The body is empty or only white space.
    Empty,
    NotUtf8,
    /// RFC 8216 4.3.1.1: the first line must be `#EXTM3U`.
    MissingHeader,
    /// Both media-playlist and multivariant-playlist tags appear (RFC 8216 4.1).
    MixedPlaylistKinds,
    /// `#EXTINF` whose duration is not a non-negative decimal number.
    InvalidDuration,
    /// A tag whose value must be a decimal integer.
    InvalidInteger {
        tag: &'static str,
    },
    /// `#EXT-X-BYTERANGE` or a BYTERANGE attribute not of the form `<n>[@<o>]`.
    InvalidByteRange,
    /// RFC 8216 4.3.2.2: an implicit offset needs a previous sub-range of the same resource.
    ByteRangeWithoutOffset,
    /// An attribute list that does not follow RFC 8216 4.2 (e.g. an unterminated quote).
    InvalidAttributeList {
        tag: &'static str,
    },
    MissingAttribute {
        tag: &'static str,
        attribute: &'static str,
    },
    InvalidAttribute {
        tag: &'static str,
        attribute: &'static str,
    },
    /// RFC 8216 4.3.3.1: a media playlist must have `#EXT-X-TARGETDURATION`.
    MissingTargetDuration,
    /// A segment URI with no `#EXTINF` before it.
    SegmentWithoutDuration,
    /// A tag that must be followed by a URI line is the last thing in the playlist (truncated).
    MissingUri {
        tag: &'static str,
    },
    /// A multivariant playlist with no `#EXT-X-STREAM-INF`.
    NoVariants,
    /// A URI (or the playlist's own URL) that cannot be resolved to an absolute URL.
    InvalidUri {
        uri: String,
    },
    /// The parser library stopped before the end although the line looked valid.
    Unparsable,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: ", self.line)?;
        }
        match &self.kind {
            ParseErrorKind::Empty => write!(f, "the playlist is empty"),
            ParseErrorKind::NotUtf8 => write!(f, "the playlist is not UTF-8 text"),
            ParseErrorKind::MissingHeader => {
                write!(f, "not an HLS playlist: the first line is not #EXTM3U")
            }
            ParseErrorKind::MixedPlaylistKinds => {
                write!(f, "media and multivariant playlist tags are mixed")
            }
            ParseErrorKind::InvalidDuration => {
                write!(f, "#EXTINF duration is not a non-negative number")
            }
            ParseErrorKind::InvalidInteger { tag } => write!(f, "#{tag} needs a whole number"),
            ParseErrorKind::InvalidByteRange => {
                write!(f, "byte range is not of the form <length>[@<offset>]")
            }
            ParseErrorKind::ByteRangeWithoutOffset => write!(
                f,
                "byte range has no offset and no previous range of the same resource"
            ),
            ParseErrorKind::InvalidAttributeList { tag } => {
                write!(f, "#{tag} has a malformed attribute list")
            }
            ParseErrorKind::MissingAttribute { tag, attribute } => {
                write!(f, "#{tag} is missing its {attribute} attribute")
            }
            ParseErrorKind::InvalidAttribute { tag, attribute } => {
                write!(f, "#{tag} has an invalid {attribute} attribute")
            }
            ParseErrorKind::MissingTargetDuration => {
                write!(f, "media playlist has no #EXT-X-TARGETDURATION")
            }
            ParseErrorKind::SegmentWithoutDuration => {
                write!(f, "segment URI without a preceding #EXTINF")
            }
            ParseErrorKind::MissingUri { tag } => {
                write!(f, "#{tag} is not followed by a URI (truncated playlist?)")
            }
            ParseErrorKind::NoVariants => {
                write!(
                    f,
                    "multivariant playlist lists no #EXT-X-STREAM-INF variant"
                )
            }
            ParseErrorKind::InvalidUri { uri } => write!(f, "cannot resolve URI {uri:?}"),
            ParseErrorKind::Unparsable => write!(f, "the playlist could not be parsed here"),
        }
    }
}

impl std::error::Error for ParseError {}
