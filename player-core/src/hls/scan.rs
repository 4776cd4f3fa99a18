//! A line-by-line pass over a playlist that checks the syntax the player relies on and records
//! what the parser library loses: line numbers and full-precision `#EXTINF` durations.
//!
//! m3u8-rs builds the structure but is lenient (a malformed tag silently becomes an unknown
//! tag, and parsing may stop early without an error) and keeps durations as `f32`. This pass
//! runs first so that every rejection names its line.

use super::error::{ParseError, ParseErrorKind};

/// What the scan learned; segment entries are in playlist order, one per URI line.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub kind: ScannedKind,
    pub segments: Vec<ScannedSegment>,
    /// 1-based line of each variant's URI, in order.
    pub variant_lines: Vec<usize>,
    pub has_target_duration: bool,
}

#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
pub(crate) enum ScannedKind {
    #[default]
    Media,
    Multivariant,
}

#[derive(Debug)]
pub(crate) struct ScannedSegment {
    /// 1-based line of the segment's URI.
    pub line: usize,
    pub duration_s: f64,
    /// Line of its `#EXT-X-BYTERANGE`, if it has one.
    pub byte_range_line: Option<usize>,
    /// An `#EXT-X-KEY:METHOD=NONE` stands before it: m3u8-rs rejects that tag (it wrongly
    /// demands an IV for NONE) and keeps it as an unknown tag, so the reset is recorded here.
    pub key_cleared: bool,
}

/// One non-blank line: a tag (`#EXT...`), a comment, or a URI.
enum Entry<'a> {
    Tag {
        name: &'a str,
        value: Option<&'a str>,
    },
    Comment,
    Uri,
}

fn classify(text: &str) -> Entry<'_> {
    if text.starts_with("#EXT") {
        let tag = &text[1..];
        match tag.split_once(':') {
            Some((name, value)) => Entry::Tag {
                name,
                value: Some(value),
            },
            None => Entry::Tag {
                name: tag,
                value: None,
            },
        }
    } else if text.starts_with('#') {
        Entry::Comment
    } else {
        Entry::Uri
    }
}

/// Tags that only appear in multivariant playlists (RFC 8216 4.3.4).
const MULTIVARIANT_TAGS: &[&str] = &[
    "EXT-X-STREAM-INF",
    "EXT-X-MEDIA",
    "EXT-X-I-FRAME-STREAM-INF",
    "EXT-X-SESSION-DATA",
    "EXT-X-SESSION-KEY",
];

/// Tags that only appear in media playlists (RFC 8216 4.3.2, 4.3.3).
const MEDIA_TAGS: &[&str] = &[
    "EXTINF",
    "EXT-X-TARGETDURATION",
    "EXT-X-MEDIA-SEQUENCE",
    "EXT-X-DISCONTINUITY-SEQUENCE",
    "EXT-X-ENDLIST",
    "EXT-X-PLAYLIST-TYPE",
    "EXT-X-BYTERANGE",
    "EXT-X-MAP",
    "EXT-X-KEY",
    "EXT-X-DISCONTINUITY",
];

fn error(line: usize, kind: ParseErrorKind) -> ParseError {
    ParseError { line, kind }
}

/// The text's lines, 1-based, without line terminators and trailing white space.
pub(crate) fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim_end()))
}

/// Checks `text` (already UTF-8, BOM removed) and records lines and durations.
pub(crate) fn scan(text: &str) -> Result<Scan, ParseError> {
    if text.trim().is_empty() {
        return Err(error(1, ParseErrorKind::Empty));
    }
    let mut lines = numbered_lines(text).filter(|(_, l)| !l.trim_start().is_empty());
    match lines.next() {
        Some((_, first)) if first.trim_start() == "#EXTM3U" => {}
        Some((n, _)) => return Err(error(n, ParseErrorKind::MissingHeader)),
        None => return Err(error(1, ParseErrorKind::Empty)),
    }

    let mut scan = Scan::default();
    let mut seen_media_tag = false;
    let mut seen_multivariant_tag = false;
    // A tag that still waits for its URI line: (tag name, its line, duration if EXTINF).
    let mut pending_uri: Option<(&'static str, usize)> = None;
    let mut pending_duration: Option<f64> = None;
    let mut pending_byte_range_line: Option<usize> = None;
    let mut pending_key_cleared = false;

    for (number, raw) in lines {
        let text = raw.trim_start();
        match classify(text) {
            Entry::Comment => {}
            Entry::Uri => match pending_uri.take() {
                Some(("EXT-X-STREAM-INF", _)) => scan.variant_lines.push(number),
                Some(_) => scan.segments.push(ScannedSegment {
                    line: number,
                    duration_s: pending_duration.take().unwrap_or_default(),
                    byte_range_line: pending_byte_range_line.take(),
                    key_cleared: std::mem::take(&mut pending_key_cleared),
                }),
                None => return Err(error(number, ParseErrorKind::SegmentWithoutDuration)),
            },
            Entry::Tag { name, value } => {
                if MULTIVARIANT_TAGS.contains(&name) {
                    seen_multivariant_tag = true;
                } else if MEDIA_TAGS.contains(&name) {
                    seen_media_tag = true;
                }
                if seen_media_tag && seen_multivariant_tag {
                    return Err(error(number, ParseErrorKind::MixedPlaylistKinds));
                }
                if let Some((tag, line)) = pending_uri {
                    // RFC 8216 4.3.4.2: the URI line follows EXT-X-STREAM-INF directly.
                    if tag == "EXT-X-STREAM-INF" {
                        return Err(error(line, ParseErrorKind::MissingUri { tag }));
                    }
                }
                check_tag(&mut scan, number, name, value.unwrap_or(""))?;
                match name {
                    "EXTINF" => {
                        pending_duration = Some(parse_duration(value.unwrap_or(""), number)?);
                        pending_uri = Some(("EXTINF", number));
                    }
                    "EXT-X-BYTERANGE" => pending_byte_range_line = Some(number),
                    "EXT-X-KEY" => pending_key_cleared = is_method_none(value.unwrap_or("")),
                    "EXT-X-STREAM-INF" => pending_uri = Some(("EXT-X-STREAM-INF", number)),
                    _ => {}
                }
            }
        }
    }
    if let Some((tag, line)) = pending_uri {
        return Err(error(line, ParseErrorKind::MissingUri { tag }));
    }
    if seen_multivariant_tag {
        scan.kind = ScannedKind::Multivariant;
        if scan.variant_lines.is_empty() {
            return Err(error(0, ParseErrorKind::NoVariants));
        }
    } else if !scan.has_target_duration {
        return Err(error(0, ParseErrorKind::MissingTargetDuration));
    }
    Ok(scan)
}

/// Validates the value of one tag the player relies on.
fn check_tag(scan: &mut Scan, line: usize, name: &str, value: &str) -> Result<(), ParseError> {
    match name {
        "EXT-X-TARGETDURATION" => {
            check_integer(value, line, "EXT-X-TARGETDURATION")?;
            scan.has_target_duration = true;
        }
        "EXT-X-MEDIA-SEQUENCE" => check_integer(value, line, "EXT-X-MEDIA-SEQUENCE")?,
        "EXT-X-DISCONTINUITY-SEQUENCE" => {
            check_integer(value, line, "EXT-X-DISCONTINUITY-SEQUENCE")?
        }
        "EXT-X-BYTERANGE" => {
            parse_byte_range(value).ok_or(error(line, ParseErrorKind::InvalidByteRange))?;
        }
        "EXT-X-MAP" => {
            let tag = "EXT-X-MAP";
            let attributes = parse_attribute_list(value, line, tag)?;
            require_quoted(&attributes, line, tag, "URI")?;
            if let Some(range) = find(&attributes, "BYTERANGE") {
                if !range.quoted || parse_byte_range(range.text).is_none() {
                    return Err(error(line, ParseErrorKind::InvalidByteRange));
                }
            }
        }
        "EXT-X-KEY" => {
            let attributes = parse_attribute_list(value, line, "EXT-X-KEY")?;
            let method = find(&attributes, "METHOD").ok_or(error(
                line,
                ParseErrorKind::MissingAttribute {
                    tag: "EXT-X-KEY",
                    attribute: "METHOD",
                },
            ))?;
            if method.text != "NONE" {
                require_quoted(&attributes, line, "EXT-X-KEY", "URI")?;
            }
        }
        "EXT-X-STREAM-INF" => {
            let tag = "EXT-X-STREAM-INF";
            let attributes = parse_attribute_list(value, line, tag)?;
            let bandwidth = find(&attributes, "BANDWIDTH").ok_or(error(
                line,
                ParseErrorKind::MissingAttribute {
                    tag,
                    attribute: "BANDWIDTH",
                },
            ))?;
            if bandwidth.quoted || bandwidth.text.parse::<u64>().is_err() {
                return Err(error(
                    line,
                    ParseErrorKind::InvalidAttribute {
                        tag,
                        attribute: "BANDWIDTH",
                    },
                ));
            }
        }
        "EXT-X-MEDIA" => {
            let tag = "EXT-X-MEDIA";
            let attributes = parse_attribute_list(value, line, tag)?;
            for attribute in ["TYPE", "GROUP-ID", "NAME"] {
                if find(&attributes, attribute).is_none() {
                    return Err(error(
                        line,
                        ParseErrorKind::MissingAttribute { tag, attribute },
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn is_method_none(value: &str) -> bool {
    parse_attribute_list(value, 0, "EXT-X-KEY")
        .ok()
        .and_then(|attributes| find(&attributes, "METHOD"))
        .is_some_and(|method| method.text == "NONE")
}

fn check_integer(value: &str, line: usize, tag: &'static str) -> Result<(), ParseError> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) || value.len() > 19 {
        return Err(error(line, ParseErrorKind::InvalidInteger { tag }));
    }
    Ok(())
}

/// RFC 8216 4.3.2.1: `#EXTINF:<duration>,[<title>]`, duration a decimal-floating-point or integer.
fn parse_duration(value: &str, line: usize) -> Result<f64, ParseError> {
    let number = value.split(',').next().unwrap_or("").trim();
    let well_formed = !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && number.bytes().filter(|&b| b == b'.').count() <= 1
        && number.bytes().next().is_some_and(|b| b.is_ascii_digit());
    match number.parse::<f64>() {
        Ok(d) if well_formed && d.is_finite() => Ok(d),
        _ => Err(error(line, ParseErrorKind::InvalidDuration)),
    }
}

/// `<length>[@<offset>]` (RFC 8216 4.3.2.2), as (length, offset). A range whose end lies past
/// `u64::MAX` is refused: no resource is that long, and its end could not be computed.
pub(crate) fn parse_byte_range(value: &str) -> Option<(u64, Option<u64>)> {
    let digits = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    match value.trim().split_once('@') {
        Some((length, offset)) => {
            let (length, offset) = (digits(length)?, digits(offset)?);
            offset.checked_add(length)?;
            Some((length, Some(offset)))
        }
        None => Some((digits(value.trim())?, None)),
    }
}

/// One attribute value, with its quotes removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AttributeValue<'a> {
    pub text: &'a str,
    pub quoted: bool,
}

/// RFC 8216 4.2: `NAME=value` pairs separated by commas; quoted strings may contain commas.
pub(crate) fn parse_attribute_list<'a>(
    input: &'a str,
    line: usize,
    tag: &'static str,
) -> Result<Vec<(&'a str, AttributeValue<'a>)>, ParseError> {
    let malformed = || error(line, ParseErrorKind::InvalidAttributeList { tag });
    let mut attributes = Vec::new();
    let mut rest = input.trim();
    while !rest.is_empty() {
        let (name, after_name) = rest.split_once('=').ok_or_else(malformed)?;
        let name = name.trim();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(malformed());
        }
        let (value, after_value) = if let Some(quoted) = after_name.strip_prefix('"') {
            let end = quoted.find('"').ok_or_else(malformed)?;
            let value = AttributeValue {
                text: &quoted[..end],
                quoted: true,
            };
            (value, &quoted[end + 1..])
        } else {
            let end = after_name.find(',').unwrap_or(after_name.len());
            let text = after_name[..end].trim();
            if text.is_empty() {
                return Err(malformed());
            }
            (
                AttributeValue {
                    text,
                    quoted: false,
                },
                &after_name[end..],
            )
        };
        attributes.push((name, value));
        rest = after_value.trim_start();
        if let Some(next) = rest.strip_prefix(',') {
            rest = next.trim_start();
        } else if !rest.is_empty() {
            return Err(malformed());
        }
    }
    Ok(attributes)
}

fn find<'a>(attributes: &[(&str, AttributeValue<'a>)], name: &str) -> Option<AttributeValue<'a>> {
    attributes.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

fn require_quoted(
    attributes: &[(&str, AttributeValue<'_>)],
    line: usize,
    tag: &'static str,
    attribute: &'static str,
) -> Result<(), ParseError> {
    match find(attributes, attribute) {
        Some(value) if value.quoted && !value.text.is_empty() => Ok(()),
        Some(_) => Err(error(
            line,
            ParseErrorKind::InvalidAttribute { tag, attribute },
        )),
        None => Err(error(
            line,
            ParseErrorKind::MissingAttribute { tag, attribute },
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_list_with_quoted_commas() {
        let attrs = parse_attribute_list(
            r#"BANDWIDTH=1280000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720"#,
            3,
            "EXT-X-STREAM-INF",
        )
        .unwrap();
        assert_eq!(attrs.len(), 3);
        assert_eq!(attrs[1].0, "CODECS");
        assert_eq!(
            attrs[1].1,
            AttributeValue {
                text: "avc1.64001f,mp4a.40.2",
                quoted: true
            }
        );
        assert_eq!(attrs[2].1.text, "1280x720");
    }

    #[test]
    fn attribute_list_unterminated_quote_is_an_error() {
        let err = parse_attribute_list(r#"URI="init.mp4"#, 7, "EXT-X-MAP").unwrap_err();
        assert_eq!(
            err,
            error(7, ParseErrorKind::InvalidAttributeList { tag: "EXT-X-MAP" })
        );
    }

    #[test]
    fn byte_ranges() {
        assert_eq!(parse_byte_range("100@20"), Some((100, Some(20))));
        assert_eq!(parse_byte_range("100"), Some((100, None)));
        assert_eq!(parse_byte_range("-1@0"), None);
        assert_eq!(parse_byte_range("10@"), None);
        assert_eq!(parse_byte_range(""), None);
        // The end must fit u64: the parser adds offset and length.
        assert_eq!(
            parse_byte_range("1@18446744073709551614"),
            Some((1, Some(u64::MAX - 1)))
        );
        assert_eq!(parse_byte_range("2@18446744073709551614"), None);
        assert_eq!(parse_byte_range("18446744073709551615@1"), None);
        assert_eq!(parse_byte_range("18446744073709551616"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("4.004,", 1).unwrap(), 4.004);
        assert_eq!(parse_duration("10", 1).unwrap(), 10.0);
        assert_eq!(
            parse_duration("4.000000,title, with comma", 1).unwrap(),
            4.0
        );
        assert!(parse_duration("abc,", 1).is_err());
        assert!(parse_duration("-4,", 1).is_err());
        assert!(parse_duration(".5,", 1).is_err());
        assert!(parse_duration("1e3,", 1).is_err());
        assert!(parse_duration(",", 1).is_err());
    }
}
