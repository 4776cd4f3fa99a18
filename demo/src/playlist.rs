//! Minimal reader for HLS media playlists that address segments by byte range (RFC 8216 4.3.2.2).
//!
//! The demo needs exact segment byte ranges to hash them for `segments-sha256.json` and to
//! compute peak bandwidth for the master playlist. The player has its own full parser in
//! player-core; this one deliberately knows only the tags those two jobs need, so that the
//! origin server does not depend on the player it serves.

use std::fmt;

/// A contiguous byte range `[offset, offset + length)` inside one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub offset: u64,
    pub length: u64,
}

impl ByteRange {
    /// Inclusive last byte, as used in HTTP `Content-Range` and PeerTube's integrity keys.
    /// `None` for an empty range, which has no last byte.
    pub fn last_byte(&self) -> Option<u64> {
        self.length.checked_sub(1).map(|n| self.offset + n)
    }

    fn end_exclusive(&self) -> u64 {
        self.offset + self.length
    }
}

/// One media segment of a media playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// URI exactly as written in the playlist (relative to the playlist).
    pub uri: String,
    /// `#EXTINF` duration in seconds.
    pub duration: f64,
    /// `None` when the segment is the whole resource (no `#EXT-X-BYTERANGE`).
    pub range: Option<ByteRange>,
}

/// The `#EXT-X-MAP` initialization section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitSection {
    pub uri: String,
    pub range: Option<ByteRange>,
}

/// What this reader extracts from a media playlist.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MediaPlaylist {
    pub version: Option<u32>,
    pub target_duration: Option<u64>,
    pub init: Option<InitSection>,
    pub segments: Vec<Segment>,
    pub ended: bool,
}

impl MediaPlaylist {
    pub fn total_duration(&self) -> f64 {
        self.segments.iter().map(|s| s.duration).sum()
    }
}

/// Why a playlist could not be read; `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "playlist line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Parses `len[@offset]` as in `#EXT-X-BYTERANGE` and the `BYTERANGE` attribute of `#EXT-X-MAP`.
fn parse_range_spec(spec: &str) -> Result<(u64, Option<u64>), String> {
    let spec = spec.trim();
    let (len, offset) = match spec.split_once('@') {
        Some((len, offset)) => (len, Some(offset)),
        None => (spec, None),
    };
    let len = len
        .parse::<u64>()
        .map_err(|_| format!("bad byte-range length in {spec:?}"))?;
    let offset = offset
        .map(|o| o.parse::<u64>())
        .transpose()
        .map_err(|_| format!("bad byte-range offset in {spec:?}"))?;
    Ok((len, offset))
}

/// Finds `NAME=value` in an attribute list, honouring quoted strings (which may contain commas).
fn attribute<'a>(list: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = list;
    while !rest.is_empty() {
        let (key, after_eq) = rest.split_once('=')?;
        let (value, next) = if let Some(quoted) = after_eq.strip_prefix('"') {
            let close = quoted.find('"')?;
            let after = &quoted[close + 1..];
            (&quoted[..close], after.strip_prefix(',').unwrap_or(after))
        } else {
            match after_eq.split_once(',') {
                Some((v, n)) => (v, n),
                None => (after_eq, ""),
            }
        };
        if key.trim() == name {
            return Some(value);
        }
        rest = next;
    }
    None
}

/// Reads a media playlist. Implicit byte-range offsets (`#EXT-X-BYTERANGE:len` without `@o`)
/// continue right after the previous segment's range, which RFC 8216 requires to be a range of
/// the same resource; anything else is reported as an error rather than guessed.
pub fn parse_media_playlist(text: &str) -> Result<MediaPlaylist, ParseError> {
    let mut playlist = MediaPlaylist::default();
    let mut pending_duration: Option<f64> = None;
    let mut pending_range: Option<(u64, Option<u64>, usize)> = None;
    // (uri, end of range) of the previous media segment, for implicit offsets.
    let mut previous: Option<(String, u64)> = None;
    let mut saw_header = false;

    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.trim();
        let err = |message: String| ParseError {
            line: line_no,
            message,
        };
        if line.is_empty() {
            continue;
        }
        if !saw_header {
            if line != "#EXTM3U" {
                return Err(err("playlist must start with #EXTM3U".into()));
            }
            saw_header = true;
            continue;
        }
        if let Some(tag) = line.strip_prefix('#') {
            if let Some(v) = tag.strip_prefix("EXT-X-VERSION:") {
                playlist.version = Some(v.trim().parse().map_err(|_| err("bad version".into()))?);
            } else if let Some(v) = tag.strip_prefix("EXT-X-TARGETDURATION:") {
                playlist.target_duration = Some(
                    v.trim()
                        .parse()
                        .map_err(|_| err("bad target duration".into()))?,
                );
            } else if let Some(v) = tag.strip_prefix("EXTINF:") {
                let duration = v.split(',').next().unwrap_or("").trim();
                let duration: f64 = duration
                    .parse()
                    .map_err(|_| err(format!("bad EXTINF duration {duration:?}")))?;
                if !duration.is_finite() || duration < 0.0 {
                    return Err(err(format!("bad EXTINF duration {duration}")));
                }
                pending_duration = Some(duration);
            } else if let Some(v) = tag.strip_prefix("EXT-X-BYTERANGE:") {
                let (len, offset) = parse_range_spec(v).map_err(err)?;
                pending_range = Some((len, offset, line_no));
            } else if let Some(v) = tag.strip_prefix("EXT-X-MAP:") {
                let uri = attribute(v, "URI").ok_or_else(|| err("EXT-X-MAP without URI".into()))?;
                let range = match attribute(v, "BYTERANGE") {
                    Some(spec) => {
                        let (length, offset) = parse_range_spec(spec).map_err(err)?;
                        // RFC 8216 4.3.2.5: a missing offset in the map's BYTERANGE means 0.
                        Some(ByteRange {
                            offset: offset.unwrap_or(0),
                            length,
                        })
                    }
                    None => None,
                };
                playlist.init = Some(InitSection {
                    uri: uri.to_string(),
                    range,
                });
            } else if tag == "EXT-X-ENDLIST" {
                playlist.ended = true;
            }
            // Other tags and comments do not affect byte ranges.
            continue;
        }

        // A URI line closes the segment described by the preceding tags.
        let uri = line.to_string();
        let duration = pending_duration
            .take()
            .ok_or_else(|| err(format!("segment {uri:?} has no #EXTINF")))?;
        let range = match pending_range.take() {
            None => None,
            Some((length, Some(offset), _)) => Some(ByteRange { offset, length }),
            Some((length, None, range_line)) => match &previous {
                Some((prev_uri, prev_end)) if *prev_uri == uri => Some(ByteRange {
                    offset: *prev_end,
                    length,
                }),
                _ => {
                    return Err(ParseError {
                        line: range_line,
                        message: format!(
                            "implicit byte-range offset for {uri:?} but the previous segment is \
                             not a sub-range of the same resource"
                        ),
                    })
                }
            },
        };
        previous = range.map(|r| (uri.clone(), r.end_exclusive()));
        playlist.segments.push(Segment {
            uri,
            duration,
            range,
        });
    }

    if !saw_header {
        return Err(ParseError {
            line: 1,
            message: "empty playlist".into(),
        });
    }
    Ok(playlist)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_explicit_and_implicit_ranges_and_map() {
        let text = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n\
            #EXT-X-MAP:URI=\"a.mp4\",BYTERANGE=\"10@0\"\n\
            #EXTINF:4.000000,\n#EXT-X-BYTERANGE:100@10\na.mp4\n\
            #EXTINF:3.5,\n#EXT-X-BYTERANGE:50\na.mp4\n#EXT-X-ENDLIST\n";
        let p = parse_media_playlist(text).unwrap();
        assert_eq!(p.version, Some(7));
        assert_eq!(p.target_duration, Some(4));
        assert!(p.ended);
        let init = p.init.clone().unwrap();
        assert_eq!(init.uri, "a.mp4");
        assert_eq!(
            init.range,
            Some(ByteRange {
                offset: 0,
                length: 10
            })
        );
        assert_eq!(
            p.segments[0].range,
            Some(ByteRange {
                offset: 10,
                length: 100
            })
        );
        assert_eq!(
            p.segments[1].range,
            Some(ByteRange {
                offset: 110,
                length: 50
            })
        );
        assert_eq!(p.segments[1].range.unwrap().last_byte(), Some(159));
        assert!((p.total_duration() - 7.5).abs() < 1e-9);
    }

    #[test]
    fn implicit_offset_needs_previous_range_of_same_resource() {
        let first = "#EXTM3U\n#EXTINF:4,\n#EXT-X-BYTERANGE:50\na.mp4\n";
        assert_eq!(parse_media_playlist(first).unwrap_err().line, 3);
        let other = "#EXTM3U\n#EXTINF:4,\n#EXT-X-BYTERANGE:5@0\na.mp4\n\
            #EXTINF:4,\n#EXT-X-BYTERANGE:5\nb.mp4\n";
        assert!(parse_media_playlist(other).is_err());
    }

    #[test]
    fn whole_resource_segments_have_no_range() {
        let p =
            parse_media_playlist("#EXTM3U\n#EXTINF:2,\nseg0.ts\n#EXTINF:2,\nseg1.ts\n").unwrap();
        assert_eq!(p.segments.len(), 2);
        assert!(p.segments.iter().all(|s| s.range.is_none()));
        assert!(!p.ended);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_media_playlist("").is_err());
        assert!(parse_media_playlist("hello\n").is_err());
        assert!(parse_media_playlist("#EXTM3U\nseg.ts\n").is_err());
        assert!(parse_media_playlist("#EXTM3U\n#EXTINF:x,\nseg.ts\n").is_err());
        assert!(parse_media_playlist("#EXTM3U\n#EXTINF:1,\n#EXT-X-BYTERANGE:1@y\ns\n").is_err());
    }

    #[test]
    fn map_attribute_with_quoted_comma() {
        let p = parse_media_playlist(
            "#EXTM3U\n#EXT-X-MAP:BYTERANGE=\"7\",URI=\"we,ird.mp4\"\n#EXTINF:1,\nx\n",
        )
        .unwrap();
        let init = p.init.unwrap();
        assert_eq!(init.uri, "we,ird.mp4");
        assert_eq!(
            init.range,
            Some(ByteRange {
                offset: 0,
                length: 7
            })
        );
    }
}
