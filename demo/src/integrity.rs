//! Builds PeerTube's integrity file `segments-sha256.json`, in its VOD form from byte-range
//! media playlists and in its live form from whole segment files.
//!
//! Formats (see shared docs, protocols section 4):
//! - VOD: `{ "<file name>": { "<start>-<end>": "<sha256 hex>", ... }, ... }` where `end` is
//!   inclusive (`start + length - 1`);
//! - live: `{ "<segment file name>": "<sha256 hex>", ... }`, one entry per segment file.
//!
//! The player looks a segment up by the basename of its URL (query stripped) and, for VOD, the
//! byte range it fetched, so keys must match those exactly.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::playlist::{ByteRange, MediaPlaylist};

/// Hashes of the media segments stored in one file, in playlist order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHashes {
    /// Basename of the segment URI, the key PeerTube uses.
    pub file: String,
    pub ranges: Vec<(ByteRange, String)>,
}

#[derive(Debug)]
pub enum IntegrityError {
    Io {
        file: String,
        source: io::Error,
    },
    /// A segment range that is empty or reaches past the end of its file.
    BadRange {
        file: String,
        range: ByteRange,
    },
}

impl fmt::Display for IntegrityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { file, source } => write!(f, "{file}: {source}"),
            Self::BadRange { file, range } => write!(
                f,
                "{file}: segment range {}@{} is empty or past the end of the file",
                range.length, range.offset
            ),
        }
    }
}

impl std::error::Error for IntegrityError {}

/// The key PeerTube derives from a segment URL: its last path component, without query.
pub fn segment_file_name(uri: &str) -> &str {
    let path = uri.split(['?', '#']).next().unwrap_or(uri);
    path.rsplit('/').next().unwrap_or(path)
}

/// The integrity-file key for a range: `"<start>-<inclusive end>"`.
pub fn range_key(range: ByteRange) -> Option<String> {
    range
        .last_byte()
        .map(|end| format!("{}-{}", range.offset, end))
}

fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn hash_range(file: &mut File, range: ByteRange) -> io::Result<String> {
    file.seek(SeekFrom::Start(range.offset))?;
    let mut hasher = Sha256::new();
    let mut remaining = range.length;
    let mut buf = vec![0u8; 64 * 1024];
    while remaining > 0 {
        let want = usize::try_from(remaining.min(buf.len() as u64)).unwrap_or(buf.len());
        let got = file.read(&mut buf[..want])?;
        if got == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "range past end of file",
            ));
        }
        hasher.update(&buf[..got]);
        remaining -= got as u64;
    }
    Ok(to_hex(&hasher.finalize()))
}

/// SHA-256 (hex) of a whole file: a live segment.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let length = file.metadata()?.len();
    hash_range(&mut file, ByteRange { offset: 0, length })
}

/// Serializes segment hashes in PeerTube's live form, keys in name order.
pub fn live_integrity_json(hashes: &BTreeMap<String, String>) -> String {
    let mut text = serde_json::to_string_pretty(hashes).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    text
}

/// Hashes every media segment of `playlist`, reading files relative to `playlist_dir`.
/// A segment without `#EXT-X-BYTERANGE` is the whole file and is keyed `0-<size - 1>`.
pub fn hash_playlist_segments(
    playlist_dir: &Path,
    playlist: &MediaPlaylist,
) -> Result<Vec<FileHashes>, IntegrityError> {
    let mut out: Vec<FileHashes> = Vec::new();
    for segment in &playlist.segments {
        // Files are opened per segment: cheap, and keeps the code obvious; a rendition has ~30.
        let file_name = segment_file_name(&segment.uri).to_string();
        let io_err = |source| IntegrityError::Io {
            file: file_name.clone(),
            source,
        };
        let path = playlist_dir.join(segment.uri.split(['?', '#']).next().unwrap_or(""));
        let mut file = File::open(&path).map_err(io_err)?;
        let size = file.metadata().map_err(io_err)?.len();
        let range = segment.range.unwrap_or(ByteRange {
            offset: 0,
            length: size,
        });
        if range.length == 0 || range.offset.saturating_add(range.length) > size {
            return Err(IntegrityError::BadRange {
                file: file_name,
                range,
            });
        }
        let hash = hash_range(&mut file, range).map_err(io_err)?;
        match out.iter_mut().find(|f| f.file == file_name) {
            Some(entry) => entry.ranges.push((range, hash)),
            None => out.push(FileHashes {
                file: file_name,
                ranges: vec![(range, hash)],
            }),
        }
    }
    Ok(out)
}

/// Serializes hashes in PeerTube's VOD form. Written by hand rather than through a map type so
/// files and ranges keep playlist order (stable, diffable output) without imposing serde_json's
/// `preserve_order` feature on the rest of the workspace.
pub fn vod_integrity_json(files: &[FileHashes]) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""));
    let mut out = String::from("{\n");
    for (i, file) in files.iter().enumerate() {
        let _ = writeln!(out, "  {}: {{", quote(&file.file));
        let entries: Vec<String> = file
            .ranges
            .iter()
            .filter_map(|(range, hash)| {
                range_key(*range).map(|key| format!("    {}: {}", quote(&key), quote(hash)))
            })
            .collect();
        out.push_str(&entries.join(",\n"));
        out.push_str(if i + 1 < files.len() {
            "\n  },\n"
        } else {
            "\n  }\n"
        });
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playlist::parse_media_playlist;

    fn sha256_hex(bytes: &[u8]) -> String {
        to_hex(&Sha256::digest(bytes))
    }

    #[test]
    fn file_name_is_basename_without_query() {
        assert_eq!(segment_file_name("720p.mp4"), "720p.mp4");
        assert_eq!(segment_file_name("https://x/a/b/720p.mp4?t=1"), "720p.mp4");
        assert_eq!(segment_file_name("../v/seg-1.ts#frag"), "seg-1.ts");
    }

    #[test]
    fn keys_use_inclusive_end_and_implicit_offsets_continue() {
        let dir = tempfile::tempdir().unwrap();
        // 10 bytes of "init", then three segments of 5, 7 and 3 bytes.
        let data: Vec<u8> = (0u8..25).collect();
        std::fs::write(dir.path().join("r.mp4"), &data).unwrap();
        let text = "#EXTM3U\n#EXT-X-MAP:URI=\"r.mp4\",BYTERANGE=\"10@0\"\n\
            #EXTINF:4,\n#EXT-X-BYTERANGE:5@10\nr.mp4\n\
            #EXTINF:4,\n#EXT-X-BYTERANGE:7\nr.mp4\n\
            #EXTINF:2,\n#EXT-X-BYTERANGE:3\nr.mp4\n#EXT-X-ENDLIST\n";
        let playlist = parse_media_playlist(text).unwrap();
        let hashes = hash_playlist_segments(dir.path(), &playlist).unwrap();
        assert_eq!(hashes.len(), 1);
        assert_eq!(hashes[0].file, "r.mp4");

        let json: serde_json::Value = serde_json::from_str(&vod_integrity_json(&hashes)).unwrap();
        let ranges = json["r.mp4"].as_object().unwrap();
        // One entry per media segment; the init section is not listed.
        assert_eq!(ranges.len(), 3);
        assert_eq!(ranges["10-14"], sha256_hex(&data[10..15]));
        assert_eq!(ranges["15-21"], sha256_hex(&data[15..22]));
        assert_eq!(ranges["22-24"], sha256_hex(&data[22..25]));
    }

    #[test]
    fn output_keeps_playlist_order_and_several_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.mp4"), b"abcdefghijklmnopqrstuvwxyz").unwrap();
        std::fs::write(dir.path().join("b.ts"), b"whole").unwrap();
        let a = parse_media_playlist(
            "#EXTM3U\n#EXTINF:1,\n#EXT-X-BYTERANGE:2@20\na.mp4\n\
             #EXTINF:1,\n#EXT-X-BYTERANGE:3@0\na.mp4\n",
        )
        .unwrap();
        let b = parse_media_playlist("#EXTM3U\n#EXTINF:1,\nb.ts\n").unwrap();
        let mut files = hash_playlist_segments(dir.path(), &a).unwrap();
        files.extend(hash_playlist_segments(dir.path(), &b).unwrap());
        let json = vod_integrity_json(&files);
        let order: Vec<usize> = ["\"a.mp4\"", "\"20-21\"", "\"0-2\"", "\"b.ts\"", "\"0-4\""]
            .iter()
            .map(|needle| json.find(needle).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{json}");
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["b.ts"]["0-4"], sha256_hex(b"whole"));
        assert_eq!(value["a.mp4"]["0-2"], sha256_hex(b"abc"));
    }

    #[test]
    fn live_form_is_flat_and_whole_files_are_hashed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("240p-00001.m4s"), b"segment one").unwrap();
        let mut hashes = BTreeMap::new();
        hashes.insert(
            "240p-00001.m4s".to_string(),
            sha256_file(&dir.path().join("240p-00001.m4s")).unwrap(),
        );
        hashes.insert("240p-00000.m4s".to_string(), sha256_hex(b""));
        let json: serde_json::Value = serde_json::from_str(&live_integrity_json(&hashes)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "240p-00000.m4s": sha256_hex(b""),
                "240p-00001.m4s": sha256_hex(b"segment one"),
            })
        );
        assert_eq!(
            live_integrity_json(&BTreeMap::new()).trim(),
            "{}",
            "an empty live file is still valid JSON"
        );
    }

    #[test]
    fn range_past_end_of_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.mp4"), b"short").unwrap();
        let p =
            parse_media_playlist("#EXTM3U\n#EXTINF:1,\n#EXT-X-BYTERANGE:10@0\na.mp4\n").unwrap();
        assert!(matches!(
            hash_playlist_segments(dir.path(), &p),
            Err(IntegrityError::BadRange { .. })
        ));
    }
}
