//! Turns playlist bytes into the resolved model: the line scan checks and measures, m3u8-rs
//! builds the structure, and this file resolves URIs, byte ranges, keys and init segments.

use m3u8_rs::{AlternativeMediaType, KeyMethod, MediaPlaylistType};
use url::Url;

use super::error::{ParseError, ParseErrorKind};
use super::model::{
    ByteRange, EncryptionKey, InitSegment, MediaPlaylist, MultivariantPlaylist, Playlist,
    PlaylistType, Rendition, RenditionKind, Resolution, Segment, Variant,
};
use super::scan::{self, Scan, ScannedKind};

/// Parses a playlist fetched from `url` (absolute; relative URIs inside resolve against it).
pub fn parse_playlist(bytes: &[u8], url: &str) -> Result<Playlist, ParseError> {
    let base = Url::parse(url).map_err(|_| ParseError {
        line: 0,
        kind: ParseErrorKind::InvalidUri {
            uri: url.to_owned(),
        },
    })?;
    let text = std::str::from_utf8(bytes).map_err(|e| ParseError {
        line: line_of_offset(bytes, e.valid_up_to()),
        kind: ParseErrorKind::NotUtf8,
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let scan = scan::scan(text)?;

    let (rest, parsed) = m3u8_rs::parse_playlist(text.as_bytes()).map_err(|e| {
        let line = match &e {
            nom::Err::Error(inner) | nom::Err::Failure(inner) => {
                line_of_offset(text.as_bytes(), text.len() - inner.input.len())
            }
            nom::Err::Incomplete(_) => 0,
        };
        ParseError {
            line,
            kind: ParseErrorKind::Unparsable,
        }
    })?;
    if !rest.iter().all(u8::is_ascii_whitespace) {
        let line = line_of_offset(text.as_bytes(), text.len() - rest.len());
        return Err(ParseError {
            line,
            kind: ParseErrorKind::Unparsable,
        });
    }

    match (parsed, scan.kind) {
        (m3u8_rs::Playlist::MasterPlaylist(master), ScannedKind::Multivariant) => {
            build_multivariant(master, &scan, &base).map(Playlist::Multivariant)
        }
        (m3u8_rs::Playlist::MediaPlaylist(media), ScannedKind::Media) => {
            build_media(media, &scan, &base).map(Playlist::Media)
        }
        // The library and the scan disagree about the kind: only possible for odd inputs.
        _ => Err(ParseError {
            line: 0,
            kind: ParseErrorKind::MixedPlaylistKinds,
        }),
    }
}

/// 1-based line holding byte `offset`.
fn line_of_offset(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

fn resolve(base: &Url, uri: &str, line: usize) -> Result<String, ParseError> {
    base.join(uri.trim())
        .map(String::from)
        .map_err(|_| ParseError {
            line,
            kind: ParseErrorKind::InvalidUri {
                uri: uri.to_owned(),
            },
        })
}

fn build_multivariant(
    master: m3u8_rs::MasterPlaylist,
    scan: &Scan,
    base: &Url,
) -> Result<MultivariantPlaylist, ParseError> {
    // I-frame-only variants are for trick play; the player does not use them.
    let streams: Vec<_> = master
        .variants
        .into_iter()
        .filter(|v| !v.is_i_frame)
        .collect();
    if streams.len() != scan.variant_lines.len() {
        return Err(ParseError {
            line: 0,
            kind: ParseErrorKind::Unparsable,
        });
    }
    let variants = streams
        .into_iter()
        .zip(&scan.variant_lines)
        .map(|(v, &line)| {
            Ok(Variant {
                uri: resolve(base, &v.uri, line)?,
                bandwidth: v.bandwidth,
                average_bandwidth: v.average_bandwidth,
                resolution: v.resolution.map(|r| Resolution {
                    width: r.width,
                    height: r.height,
                }),
                codecs: v.codecs,
                frame_rate: v.frame_rate,
                video_range: v
                    .other_attributes
                    .as_ref()
                    .and_then(|attrs| attrs.get("VIDEO-RANGE"))
                    .map(|value| value.as_str().to_owned()),
                audio_group: v.audio,
                subtitles_group: v.subtitles,
            })
        })
        .collect::<Result<Vec<_>, ParseError>>()?;
    let renditions = master
        .alternatives
        .into_iter()
        .map(|m| {
            let kind = match m.media_type {
                AlternativeMediaType::Audio => RenditionKind::Audio,
                AlternativeMediaType::Video => RenditionKind::Video,
                AlternativeMediaType::Subtitles => RenditionKind::Subtitles,
                AlternativeMediaType::ClosedCaptions => RenditionKind::ClosedCaptions,
                // m3u8-rs keeps unknown TYPE values; nothing can play them.
                _ => return Ok(None),
            };
            let uri = m.uri.map(|u| resolve(base, &u, 0)).transpose()?;
            Ok(Some(Rendition {
                kind,
                group_id: m.group_id,
                name: m.name,
                language: m.language,
                uri,
                default: m.default,
                autoselect: m.autoselect,
                channels: m.channels,
            }))
        })
        .filter_map(Result::transpose)
        .collect::<Result<Vec<_>, ParseError>>()?;
    Ok(MultivariantPlaylist {
        url: base.to_string(),
        variants,
        renditions,
    })
}

fn build_media(
    media: m3u8_rs::MediaPlaylist,
    scan: &Scan,
    base: &Url,
) -> Result<MediaPlaylist, ParseError> {
    if media.segments.len() != scan.segments.len() {
        return Err(ParseError {
            line: 0,
            kind: ParseErrorKind::Unparsable,
        });
    }
    let mut playlist = MediaPlaylist {
        url: base.to_string(),
        target_duration_s: media.target_duration as f64,
        media_sequence: media.media_sequence,
        discontinuity_sequence: media.discontinuity_sequence,
        ended: media.end_list,
        playlist_type: match media.playlist_type {
            Some(MediaPlaylistType::Vod) => Some(PlaylistType::Vod),
            Some(MediaPlaylistType::Event) => Some(PlaylistType::Event),
            _ => None,
        },
        segments: Vec::with_capacity(media.segments.len()),
        init_segments: Vec::new(),
        keys: Vec::new(),
    };

    // m3u8-rs attaches EXT-X-MAP and EXT-X-KEY only to the first segment after the tag, but
    // both apply to every following segment until the next such tag (RFC 8216 4.3.2.4, 4.3.2.5).
    let mut current_init: Option<usize> = None;
    let mut current_key: Option<usize> = None;
    // End of the previous sub-range, per resource, for implicit offsets (RFC 8216 4.3.2.2).
    let mut previous_range_end: Option<(String, u64)> = None;
    let mut start_s = 0.0;
    let mut discontinuity_sequence = media.discontinuity_sequence;

    for (index, (segment, scanned)) in media.segments.into_iter().zip(&scan.segments).enumerate() {
        let line = scanned.line;
        if let Some(map) = segment.map {
            let init = InitSegment {
                uri: resolve(base, &map.uri, line)?,
                byte_range: map.byte_range.map(|r| ByteRange {
                    // An init byte range without an offset starts at 0 (RFC 8216 4.3.2.5).
                    offset: r.offset.unwrap_or(0),
                    length: r.length,
                }),
            };
            current_init = Some(intern(&mut playlist.init_segments, init));
        }
        if scanned.key_cleared {
            current_key = None;
        }
        if let Some(key) = segment.key {
            current_key = match key.method {
                KeyMethod::None => None,
                method => {
                    let key = EncryptionKey {
                        method: method.to_string(),
                        uri: key.uri.map(|u| resolve(base, &u, line)).transpose()?,
                        iv: key.iv,
                    };
                    Some(intern(&mut playlist.keys, key))
                }
            };
        }
        let uri = resolve(base, &segment.uri, line)?;
        let byte_range = match segment.byte_range {
            None => None,
            Some(range) => {
                let range_line = scanned.byte_range_line.unwrap_or(line);
                let offset = match (range.offset, &previous_range_end) {
                    (Some(offset), _) => offset,
                    (None, Some((resource, end))) if *resource == uri => *end,
                    (None, _) => {
                        return Err(ParseError {
                            line: range_line,
                            kind: ParseErrorKind::ByteRangeWithoutOffset,
                        })
                    }
                };
                // The scan checked explicit offsets; an implicit one can still end past u64::MAX.
                if offset.checked_add(range.length).is_none() {
                    return Err(ParseError {
                        line: range_line,
                        kind: ParseErrorKind::InvalidByteRange,
                    });
                }
                Some(ByteRange {
                    offset,
                    length: range.length,
                })
            }
        };
        previous_range_end = byte_range.map(|r| (uri.clone(), r.offset + r.length));
        if segment.discontinuity {
            discontinuity_sequence += 1;
        }
        playlist.segments.push(Segment {
            sequence: media.media_sequence + index as u64,
            uri,
            duration_s: scanned.duration_s,
            start_s,
            byte_range,
            init_segment: current_init,
            key: current_key,
            discontinuity: segment.discontinuity,
            discontinuity_sequence,
            line,
        });
        start_s += scanned.duration_s;
    }
    Ok(playlist)
}

/// Index of `item` in `items`, appending it first if it is new.
fn intern<T: PartialEq>(items: &mut Vec<T>, item: T) -> usize {
    match items.iter().position(|existing| *existing == item) {
        Some(index) => index,
        None => {
            items.push(item);
            items.len() - 1
        }
    }
}
