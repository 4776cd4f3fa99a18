//! PeerTube's segment integrity file `segments-sha256.json`: reading both of its forms, looking a
//! segment up in it, and checking segment bytes against the SHA-256 digest it lists.
//!
//! The two forms (PeerTube's; shared protocol notes, section 4):
//! - VOD: `{ "<file name>": { "<start>-<end>": "<sha256 hex>", ... }, ... }`, one range per media
//!   segment of a byte-range playlist, `end` inclusive (`start + length - 1`, as
//!   [`ByteRange::last_byte`]).
//! - Live: `{ "<segment file name>": "<sha256 hex>", ... }`, one digest per whole segment file.
//!   The origin rewrites it as the live window slides, so a segment missing from it may only be
//!   missing *yet* ([`Lookup::NotListed`]: the caller fetches the file again later).
//!
//! Each file entry has its own form, so a document mixing both is read too (PeerTube writes one
//! form per file; nothing is gained by refusing the mix).
//!
//! The JSON is read with a streaming serde visitor rather than into a `serde_json::Value`: the
//! size and entry limits then hold while reading (a hostile file cannot make the core build a
//! large tree first), duplicate keys are seen (a `Value` map silently keeps the last one) and are
//! refused as ambiguous, and digests and ranges are checked where they stand so that errors name
//! the entry.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::error::Category;
use sha2::{Digest as _, Sha256};

use crate::hls::ByteRange;

/// The largest integrity file read. PeerTube's hold one line of about 90 bytes per segment and
/// rendition, so 16 MiB is over 150 hours of 4-second segments in 8 renditions.
pub const MAX_INTEGRITY_FILE_BYTES: usize = 16 * 1024 * 1024;

/// The most keys (file names and ranges together) an integrity file may hold: 36 hours of
/// 4-second segments in 8 renditions. It bounds memory independently of how short keys are.
pub const MAX_INTEGRITY_ENTRIES: usize = 262_144;

/// Longest key excerpt kept in an error, so a hostile multi-megabyte key does not end up in logs.
const ERROR_KEY_CHARS: usize = 80;

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

impl Digest {
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Digest(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Reads exactly 64 hex digits. PeerTube writes lowercase; uppercase is accepted too, since
    /// both spell the same bytes.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let hex = hex.as_bytes();
        if hex.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
            *byte = (hex_value(pair[0])? << 4) | hex_value(pair[1])?;
        }
        Some(Digest(bytes))
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// Lowercase hex, as PeerTube writes digests.
impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

/// The SHA-256 digest of `bytes`.
pub fn sha256(bytes: &[u8]) -> Digest {
    Digest(Sha256::digest(bytes).into())
}

/// Whether `bytes` hash to `expected`. Digests are public, so a plain comparison is fine.
pub fn verify(bytes: &[u8], expected: &Digest) -> bool {
    sha256(bytes) == *expected
}

/// What the integrity file says about one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The digest the segment's bytes must have.
    Found(Digest),
    /// The segment's file is listed, but not with this byte range: the file does not vouch for
    /// these bytes (a playlist and an integrity file that disagree).
    RangeNotListed,
    /// The segment's file is not listed at all. On a live stream it may not be listed *yet*:
    /// fetch the integrity file again later.
    NotListed,
}

/// One file's digests.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FileDigests {
    /// Live form: the digest of the whole file.
    Whole(Digest),
    /// VOD form: digests by inclusive byte range `(start, end)`.
    Ranges(BTreeMap<(u64, u64), Digest>),
}

/// A parsed `segments-sha256.json`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IntegrityFile {
    /// Keyed by file name as written in the JSON (a BTreeMap: no OS-seeded hasher in the core).
    files: BTreeMap<String, FileDigests>,
    digests: usize,
}

impl IntegrityFile {
    /// Reads a `segments-sha256.json` body (either form). A UTF-8 byte order mark is skipped.
    /// Never panics; any input that is not one of the two forms is an [`IntegrityError`].
    pub fn parse(bytes: &[u8]) -> Result<Self, IntegrityError> {
        if bytes.len() > MAX_INTEGRITY_FILE_BYTES {
            return Err(IntegrityError::TooLarge {
                bytes: bytes.len(),
                limit: MAX_INTEGRITY_FILE_BYTES,
            });
        }
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut context = Context::default();
        let mut json = serde_json::Deserializer::from_slice(bytes);
        let read = Document(&mut context)
            .deserialize(&mut json)
            .and_then(|files| json.end().map(|()| files));
        match read {
            Ok(files) => Ok(IntegrityFile {
                files,
                digests: context.digests,
            }),
            Err(error) => Err(context.error.take().unwrap_or_else(|| {
                match (error.classify(), context.file, context.range) {
                    // A value of the wrong JSON type, reported by serde where it stood.
                    (Category::Data, None, _) => IntegrityError::NotAnObject,
                    (Category::Data, Some(file), None) => IntegrityError::WrongShape { file },
                    (Category::Data, Some(file), Some(range)) => IntegrityError::BadDigest {
                        file,
                        range: Some(range),
                    },
                    _ => IntegrityError::NotJson {
                        line: error.line(),
                        column: error.column(),
                    },
                }
            })),
        }
    }

    /// The digest listed for a segment, found by the file name of `segment_uri` (see
    /// [`segment_file_name`]) and, in the VOD form, by `byte_range`.
    ///
    /// The name is looked up as it appears in the URI first (PeerTube's player compares URL
    /// basenames undecoded), then percent-decoded if that differs: the playlist parser resolves
    /// URIs with the `url` crate, which percent-encodes characters such as spaces and non-ASCII
    /// letters, while the JSON holds the file's real name.
    ///
    /// Ranges that cannot match, whatever the file says:
    /// - a VOD-form file and no `byte_range` (the segment is the whole file): the file's only
    ///   range if it has exactly one and it starts at 0 (how the demo's generator lists a
    ///   whole-file segment), otherwise [`Lookup::RangeNotListed`]; a caller that knows the
    ///   length gets an exact match by passing `0..length` instead;
    /// - a live-form file (one digest for the whole file) and a range starting past 0: that range
    ///   cannot be the whole file, so [`Lookup::RangeNotListed`];
    /// - an empty range, or one whose end overflows `u64`: [`Lookup::RangeNotListed`].
    pub fn expected_digest(&self, segment_uri: &str, byte_range: Option<ByteRange>) -> Lookup {
        let name = segment_file_name(segment_uri);
        let entry = self.files.get(name).or_else(|| {
            percent_decode(name)
                .filter(|decoded| decoded != name)
                .and_then(|decoded| self.files.get(&decoded))
        });
        let Some(entry) = entry else {
            return Lookup::NotListed;
        };
        let found = match (entry, byte_range) {
            (FileDigests::Whole(digest), None) => Some(*digest),
            (FileDigests::Whole(digest), Some(range)) => {
                (range.offset == 0 && range.length > 0).then_some(*digest)
            }
            (FileDigests::Ranges(ranges), None) => match ranges.iter().next() {
                Some((&(0, _), digest)) if ranges.len() == 1 => Some(*digest),
                _ => None,
            },
            (FileDigests::Ranges(ranges), Some(range)) => inclusive_range(range)
                .and_then(|key| ranges.get(&key))
                .copied(),
        };
        found.map_or(Lookup::RangeNotListed, Lookup::Found)
    }

    /// How many digests the file lists.
    pub fn len(&self) -> usize {
        self.digests
    }

    pub fn is_empty(&self) -> bool {
        self.digests == 0
    }
}

/// `(start, inclusive end)` of a non-empty range, as the integrity file keys it; `None` when the
/// range is empty or ends past `u64::MAX` (no key can name it).
fn inclusive_range(range: ByteRange) -> Option<(u64, u64)> {
    let last = range.offset.checked_add(range.length.checked_sub(1)?)?;
    Some((range.offset, last))
}

/// The key PeerTube derives from a segment URL: its last path component, without query or
/// fragment. Not percent-decoded (see [`IntegrityFile::expected_digest`]).
pub fn segment_file_name(uri: &str) -> &str {
    let path = uri.split(['?', '#']).next().unwrap_or(uri);
    path.rsplit('/').next().unwrap_or(path)
}

/// `%XX` sequences decoded; `None` when there are none, or the result is not UTF-8. A `%` not
/// followed by two hex digits stays as it is, as browsers treat it.
fn percent_decode(name: &str) -> Option<String> {
    if !name.contains('%') {
        return None;
    }
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', high, low]) => hex_value(*high).zip(hex_value(*low)),
            _ => None,
        };
        match escaped {
            Some((high, low)) => {
                out.push((high << 4) | low);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// `"<start>-<end>"`, both decimal, `start <= end`.
fn parse_range_key(key: &str) -> Option<(u64, u64)> {
    let (start, end) = key.split_once('-')?;
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (start, end) = (number(start)?, number(end)?);
    (start <= end).then_some((start, end))
}

/// Why an integrity file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntegrityError {
    /// Larger than [`MAX_INTEGRITY_FILE_BYTES`].
    TooLarge { bytes: usize, limit: usize },
    /// Not JSON (or not UTF-8, or something follows the JSON value); 1-based position.
    NotJson { line: usize, column: usize },
    /// Valid JSON, but not an object of file names.
    NotAnObject,
    /// A file's value is neither a digest string (live form) nor an object of ranges (VOD form).
    WrongShape { file: String },
    /// A digest that is not a string of 64 hex digits; `range` is its key in the VOD form.
    BadDigest { file: String, range: Option<String> },
    /// A VOD range key not of the form `"<start>-<end>"` with `start <= end`, both fitting u64.
    BadRange { file: String, range: String },
    /// The same file name twice.
    DuplicateFile { file: String },
    /// The same range twice in one file (also `"010-20"` after `"10-20"`: the same numbers).
    DuplicateRange { file: String, range: String },
    /// More than [`MAX_INTEGRITY_ENTRIES`] keys.
    TooManyEntries { limit: usize },
}

impl fmt::Display for IntegrityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = "segment integrity file";
        match self {
            IntegrityError::TooLarge { bytes, limit } => {
                write!(
                    f,
                    "{prefix} is {bytes} bytes, more than the {limit} allowed"
                )
            }
            IntegrityError::NotJson { line, column } => {
                write!(f, "{prefix} is not JSON (line {line}, column {column})")
            }
            IntegrityError::NotAnObject => {
                write!(f, "{prefix} is not a JSON object of file names")
            }
            IntegrityError::WrongShape { file } => write!(
                f,
                "{prefix}: {file:?} is neither a digest (live form) nor an object of byte \
                 ranges (VOD form)"
            ),
            IntegrityError::BadDigest { file, range } => {
                write!(f, "{prefix}: the digest of {file:?}")?;
                if let Some(range) = range {
                    write!(f, " range {range:?}")?;
                }
                write!(f, " is not a SHA-256 digest in 64 hex digits")
            }
            IntegrityError::BadRange { file, range } => write!(
                f,
                "{prefix}: {file:?} has range {range:?}, not \"<start>-<end>\" with start <= end"
            ),
            IntegrityError::DuplicateFile { file } => {
                write!(f, "{prefix} lists {file:?} twice")
            }
            IntegrityError::DuplicateRange { file, range } => {
                write!(f, "{prefix} lists range {range:?} of {file:?} twice")
            }
            IntegrityError::TooManyEntries { limit } => {
                write!(f, "{prefix} has more than {limit} entries")
            }
        }
    }
}

impl std::error::Error for IntegrityError {}

/// A key as kept in an error: at most [`ERROR_KEY_CHARS`] characters.
fn excerpt(key: &str) -> String {
    match key.char_indices().nth(ERROR_KEY_CHARS) {
        Some((end, _)) => format!("{}...", &key[..end]),
        None => key.to_owned(),
    }
}

/// What the visitors share while reading: where they are (so that serde's own type errors can be
/// told apart), the first error they found themselves, and the counts the limits apply to.
#[derive(Debug, Default)]
struct Context {
    error: Option<IntegrityError>,
    /// The file whose value is being read (an excerpt).
    file: Option<String>,
    /// The range whose digest is being read (an excerpt).
    range: Option<String>,
    keys: usize,
    digests: usize,
}

impl Context {
    /// Records `error` and stops serde; [`IntegrityFile::parse`] reports the recorded error.
    fn fail<T, E: de::Error>(&mut self, error: IntegrityError) -> Result<T, E> {
        self.error = Some(error);
        Err(E::custom("integrity file refused"))
    }

    fn count_key<E: de::Error>(&mut self) -> Result<(), E> {
        self.keys += 1;
        if self.keys > MAX_INTEGRITY_ENTRIES {
            return self.fail(IntegrityError::TooManyEntries {
                limit: MAX_INTEGRITY_ENTRIES,
            });
        }
        Ok(())
    }

    fn digest<E: de::Error>(&mut self, hex: &str) -> Result<Digest, E> {
        match Digest::from_hex(hex) {
            Some(digest) => {
                self.digests += 1;
                Ok(digest)
            }
            None => {
                let error = IntegrityError::BadDigest {
                    file: self.file.clone().unwrap_or_default(),
                    range: self.range.clone(),
                };
                self.fail(error)
            }
        }
    }
}

/// The whole document: an object of file names.
struct Document<'c>(&'c mut Context);

impl<'de> DeserializeSeed<'de> for Document<'_> {
    type Value = BTreeMap<String, FileDigests>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Document<'_> {
    type Value = BTreeMap<String, FileDigests>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of file names")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let context = self.0;
        let mut files = BTreeMap::new();
        while let Some(file) = map.next_key::<String>()? {
            context.count_key()?;
            if files.contains_key(&file) {
                return context.fail(IntegrityError::DuplicateFile {
                    file: excerpt(&file),
                });
            }
            context.file = Some(excerpt(&file));
            let digests = map.next_value_seed(FileEntry(&mut *context))?;
            context.file = None;
            files.insert(file, digests);
        }
        Ok(files)
    }
}

/// One file's value: a digest (live form) or an object of ranges (VOD form).
struct FileEntry<'c>(&'c mut Context);

impl<'de> DeserializeSeed<'de> for FileEntry<'_> {
    type Value = FileDigests;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FileEntry<'_> {
    type Value = FileDigests;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a digest or an object of byte ranges")
    }

    fn visit_str<E: de::Error>(self, hex: &str) -> Result<Self::Value, E> {
        self.0.digest(hex).map(FileDigests::Whole)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let context = self.0;
        let mut ranges = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            context.count_key()?;
            let file = context.file.clone().unwrap_or_default();
            let Some(range) = parse_range_key(&key) else {
                return context.fail(IntegrityError::BadRange {
                    file,
                    range: excerpt(&key),
                });
            };
            if ranges.contains_key(&range) {
                return context.fail(IntegrityError::DuplicateRange {
                    file,
                    range: excerpt(&key),
                });
            }
            context.range = Some(excerpt(&key));
            let digest = map.next_value_seed(DigestValue(&mut *context))?;
            context.range = None;
            ranges.insert(range, digest);
        }
        Ok(FileDigests::Ranges(ranges))
    }
}

/// A range's value in the VOD form: a digest.
struct DigestValue<'c>(&'c mut Context);

impl<'de> DeserializeSeed<'de> for DigestValue<'_> {
    type Value = Digest;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for DigestValue<'_> {
    type Value = Digest;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a digest in hex")
    }

    fn visit_str<E: de::Error>(self, hex: &str) -> Result<Self::Value, E> {
        self.0.digest(hex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; // "abc"
    const B: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"; // ""

    fn digest(hex: &str) -> Digest {
        Digest::from_hex(hex).unwrap()
    }

    fn range(offset: u64, length: u64) -> Option<ByteRange> {
        Some(ByteRange { offset, length })
    }

    fn parse(text: &str) -> Result<IntegrityFile, IntegrityError> {
        IntegrityFile::parse(text.as_bytes())
    }

    #[test]
    fn sha256_and_verify() {
        assert_eq!(sha256(b"abc"), digest(A));
        assert_eq!(sha256(b"").to_string(), B);
        assert!(verify(b"abc", &digest(A)));
        assert!(!verify(b"abd", &digest(A)));
    }

    #[test]
    fn hex_digests() {
        assert_eq!(Digest::from_hex(&A.to_uppercase()), Some(digest(A)));
        assert_eq!(digest(&A.to_uppercase()).to_string(), A);
        assert_eq!(Digest::from_hex(&A[..63]), None);
        assert_eq!(Digest::from_hex(&A[..62]), None);
        assert_eq!(Digest::from_hex(&format!("{A}00")), None);
        assert_eq!(Digest::from_hex(&A.replace('b', "g")), None);
        assert_eq!(Digest::from_hex(&format!(" {}", &A[1..])), None);
        // 64 bytes but not 64 ASCII digits.
        assert_eq!(Digest::from_hex(&format!("é{}", &A[2..])), None);
        assert_eq!(format!("{:?}", digest(A)), format!("Digest({A})"));
    }

    #[test]
    fn vod_form_lookups() {
        let file = parse(&format!(
            r#"{{"720.mp4": {{"100-149": "{A}", "150-199": "{B}"}}, "480.mp4": {{}}}}"#
        ))
        .unwrap();
        assert_eq!(file.len(), 2);
        let uri = "https://example.org/hls/uuid/720.mp4";
        assert_eq!(
            file.expected_digest(uri, range(100, 50)),
            Lookup::Found(digest(A))
        );
        assert_eq!(
            file.expected_digest(uri, range(150, 50)),
            Lookup::Found(digest(B))
        );
        assert_eq!(
            file.expected_digest(uri, range(100, 49)),
            Lookup::RangeNotListed
        );
        assert_eq!(
            file.expected_digest(uri, range(0, 100)),
            Lookup::RangeNotListed
        );
        assert_eq!(file.expected_digest(uri, None), Lookup::RangeNotListed);
        assert_eq!(
            file.expected_digest("https://example.org/hls/uuid/480.mp4", range(0, 1)),
            Lookup::RangeNotListed
        );
        assert_eq!(
            file.expected_digest("https://example.org/hls/uuid/240.mp4", range(100, 50)),
            Lookup::NotListed
        );
    }

    #[test]
    fn live_form_lookups() {
        let file = parse(&format!(
            r#"{{"0-000001.ts": "{A}", "0-000002.ts": "{B}"}}"#
        ))
        .unwrap();
        assert_eq!(file.len(), 2);
        let base = "https://example.org/live/uuid/";
        assert_eq!(
            file.expected_digest(&format!("{base}0-000001.ts"), None),
            Lookup::Found(digest(A))
        );
        assert_eq!(
            file.expected_digest(&format!("{base}0-000002.ts?token=x"), None),
            Lookup::Found(digest(B))
        );
        // Not in the window yet: the caller fetches the file again.
        assert_eq!(
            file.expected_digest(&format!("{base}0-000003.ts"), None),
            Lookup::NotListed
        );
        // A range over the whole file may be it; one starting later is not.
        assert_eq!(
            file.expected_digest(&format!("{base}0-000001.ts"), range(0, 10)),
            Lookup::Found(digest(A))
        );
        assert_eq!(
            file.expected_digest(&format!("{base}0-000001.ts"), range(5, 10)),
            Lookup::RangeNotListed
        );
    }

    #[test]
    fn whole_file_segment_in_vod_form() {
        let one = parse(&format!(r#"{{"a.mp4": {{"0-99": "{A}"}}}}"#)).unwrap();
        assert_eq!(one.expected_digest("a.mp4", None), Lookup::Found(digest(A)));
        let later = parse(&format!(r#"{{"a.mp4": {{"5-99": "{A}"}}}}"#)).unwrap();
        assert_eq!(later.expected_digest("a.mp4", None), Lookup::RangeNotListed);
        let two = parse(&format!(r#"{{"a.mp4": {{"0-9": "{A}", "10-19": "{B}"}}}}"#)).unwrap();
        assert_eq!(two.expected_digest("a.mp4", None), Lookup::RangeNotListed);
        assert_eq!(
            two.expected_digest("a.mp4", range(0, 10)),
            Lookup::Found(digest(A))
        );
    }

    #[test]
    fn degenerate_ranges_never_match() {
        let file = parse(&format!(
            r#"{{"a.mp4": {{"0-0": "{A}", "18446744073709551615-18446744073709551615": "{B}"}}}}"#
        ))
        .unwrap();
        assert_eq!(
            file.expected_digest("a.mp4", range(0, 0)),
            Lookup::RangeNotListed
        );
        assert_eq!(
            file.expected_digest("a.mp4", range(0, 1)),
            Lookup::Found(digest(A))
        );
        assert_eq!(
            file.expected_digest("a.mp4", range(u64::MAX, 1)),
            Lookup::Found(digest(B))
        );
        assert_eq!(
            file.expected_digest("a.mp4", range(u64::MAX, 2)),
            Lookup::RangeNotListed
        );
        assert_eq!(
            file.expected_digest("a.mp4", range(2, u64::MAX)),
            Lookup::RangeNotListed
        );
    }

    #[test]
    fn file_names_from_uris() {
        assert_eq!(segment_file_name("720.mp4"), "720.mp4");
        assert_eq!(segment_file_name("https://x/a/b/720.mp4?t=1"), "720.mp4");
        assert_eq!(segment_file_name("https://x/a/b/720.mp4#t=1?x"), "720.mp4");
        assert_eq!(segment_file_name("https://x/a/?x=/y.mp4"), "");
        assert_eq!(segment_file_name(""), "");
    }

    #[test]
    fn percent_encoded_names_match_raw_and_decoded_keys() {
        let file = parse(&format!(
            r#"{{"my video é.mp4": {{"0-9": "{A}"}}, "a%20b.mp4": {{"0-9": "{B}"}}}}"#
        ))
        .unwrap();
        let r = range(0, 10);
        assert_eq!(
            file.expected_digest("https://x/my%20video%20%C3%A9.mp4", r),
            Lookup::Found(digest(A))
        );
        // Lowercase hex in escapes too.
        assert_eq!(
            file.expected_digest("https://x/my%20video%20%c3%a9.mp4", r),
            Lookup::Found(digest(A))
        );
        // The raw name wins when the file lists it.
        assert_eq!(
            file.expected_digest("https://x/a%20b.mp4", r),
            Lookup::Found(digest(B))
        );
        // Broken escapes and non-UTF-8 results do not panic and match nothing.
        for uri in ["x/%", "x/%2", "x/%zz.mp4", "x/%ff.mp4", "x/%C3"] {
            assert_eq!(file.expected_digest(uri, r), Lookup::NotListed, "{uri}");
        }
        assert_eq!(percent_decode("100%.mp4").as_deref(), Some("100%.mp4"));
        assert_eq!(percent_decode("%41%").as_deref(), Some("A%"));
    }

    #[test]
    fn mixed_forms_and_empty_document() {
        let file = parse(&format!(r#"{{"a.ts": "{A}", "b.mp4": {{"0-2": "{B}"}}}}"#)).unwrap();
        assert_eq!(file.expected_digest("a.ts", None), Lookup::Found(digest(A)));
        assert_eq!(
            file.expected_digest("b.mp4", range(0, 3)),
            Lookup::Found(digest(B))
        );
        let empty = parse(" {} \n").unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty.expected_digest("a.ts", None), Lookup::NotListed);
        // A byte order mark, as some servers write.
        assert!(IntegrityFile::parse(b"\xEF\xBB\xBF{}").is_ok());
    }

    #[test]
    fn not_json() {
        for text in [
            "",
            "{",
            "{\"a\": ",
            "nul",
            "{} {}",
            "{}x",
            "{'a': 1}",
            "{\"a\" {}}",
        ] {
            assert!(
                matches!(parse(text), Err(IntegrityError::NotJson { .. })),
                "{text:?}: {:?}",
                parse(text)
            );
        }
        assert_eq!(
            parse("{\n  \"a\": x}"),
            Err(IntegrityError::NotJson { line: 2, column: 8 })
        );
        assert!(matches!(
            IntegrityFile::parse(b"{\"\xff\": {}}"),
            Err(IntegrityError::NotJson { .. })
        ));
        // A lone surrogate is not a string Rust can hold.
        assert!(matches!(
            parse(r#"{"\ud800": {}}"#),
            Err(IntegrityError::NotJson { .. })
        ));
    }

    #[test]
    fn wrong_types() {
        for text in ["[]", "[{}]", "null", "1", "\"a\"", "true"] {
            assert_eq!(parse(text), Err(IntegrityError::NotAnObject), "{text}");
        }
        for value in ["1", "null", "[]", "true", "[\"x\"]", "-1.5"] {
            assert_eq!(
                parse(&format!(r#"{{"a.mp4": {value}}}"#)),
                Err(IntegrityError::WrongShape {
                    file: "a.mp4".into()
                }),
                "{value}"
            );
        }
        for value in ["1", "null", "{}", "[]", "false"] {
            assert_eq!(
                parse(&format!(r#"{{"a.mp4": {{"0-9": {value}}}}}"#)),
                Err(IntegrityError::BadDigest {
                    file: "a.mp4".into(),
                    range: Some("0-9".into())
                }),
                "{value}"
            );
        }
        // Deep nesting stops at the first wrong type, not at serde_json's recursion limit.
        let deep = format!(r#"{{"a": {}1{}}}"#, "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(
            parse(&deep),
            Err(IntegrityError::WrongShape { .. })
        ));
        let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(parse(&deep), Err(IntegrityError::NotAnObject)));
    }

    #[test]
    fn bad_digests() {
        let bad = [
            &A[..63],
            &A[..62],
            "",
            "zz",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a-",
        ];
        for hex in bad {
            assert_eq!(
                parse(&format!(r#"{{"a.ts": "{hex}"}}"#)),
                Err(IntegrityError::BadDigest {
                    file: "a.ts".into(),
                    range: None
                }),
                "{hex}"
            );
            assert_eq!(
                parse(&format!(r#"{{"a.mp4": {{"1-2": "{hex}"}}}}"#)),
                Err(IntegrityError::BadDigest {
                    file: "a.mp4".into(),
                    range: Some("1-2".into())
                }),
                "{hex}"
            );
        }
        // Uppercase digests are accepted (same bytes).
        let upper = parse(&format!(r#"{{"a.ts": "{}"}}"#, A.to_uppercase())).unwrap();
        assert_eq!(
            upper.expected_digest("a.ts", None),
            Lookup::Found(digest(A))
        );
    }

    #[test]
    fn bad_ranges() {
        let bad = [
            "10-5",
            "5",
            "-5",
            "5-",
            "-",
            "",
            "1-2-3",
            " 1-2",
            "1 -2",
            "+1-2",
            "1--2",
            "0x1-2",
            "1.0-2",
            "18446744073709551616-18446744073709551617",
            "0-18446744073709551616",
            "١-٢", // Arabic-Indic digits are not ASCII digits
        ];
        for key in bad {
            assert_eq!(
                parse(&format!(r#"{{"a.mp4": {{"{key}": "{A}"}}}}"#)),
                Err(IntegrityError::BadRange {
                    file: "a.mp4".into(),
                    range: key.into()
                }),
                "{key}"
            );
        }
        assert_eq!(parse_range_key("007-10"), Some((7, 10)));
        assert_eq!(parse_range_key("5-5"), Some((5, 5)));
        assert_eq!(
            parse_range_key("0-18446744073709551615"),
            Some((0, u64::MAX))
        );
    }

    #[test]
    fn duplicate_keys_are_refused() {
        assert_eq!(
            parse(&format!(r#"{{"a.ts": "{A}", "a.ts": "{A}"}}"#)),
            Err(IntegrityError::DuplicateFile {
                file: "a.ts".into()
            })
        );
        // The same name once escaped is the same key.
        assert_eq!(
            parse(&format!(r#"{{"a.ts": "{A}", "\u0061.ts": "{B}"}}"#)),
            Err(IntegrityError::DuplicateFile {
                file: "a.ts".into()
            })
        );
        assert_eq!(
            parse(&format!(
                r#"{{"a.mp4": {{"10-20": "{A}", "010-20": "{B}"}}}}"#
            )),
            Err(IntegrityError::DuplicateRange {
                file: "a.mp4".into(),
                range: "010-20".into()
            })
        );
    }

    #[test]
    fn limits() {
        let big = vec![b' '; MAX_INTEGRITY_FILE_BYTES + 1];
        assert_eq!(
            IntegrityFile::parse(&big),
            Err(IntegrityError::TooLarge {
                bytes: MAX_INTEGRITY_FILE_BYTES + 1,
                limit: MAX_INTEGRITY_FILE_BYTES
            })
        );
        // Empty files cost nothing to write but still count.
        let mut many = String::from("{");
        for i in 0..=MAX_INTEGRITY_ENTRIES {
            many.push_str(&format!("\"{i}\":{{}},"));
        }
        many.push_str("\"last\":{}}");
        assert!(many.len() < MAX_INTEGRITY_FILE_BYTES);
        assert_eq!(
            parse(&many),
            Err(IntegrityError::TooManyEntries {
                limit: MAX_INTEGRITY_ENTRIES
            })
        );
        // Ranges count too (each needs a valid digest, so fewer of them fit in the size limit):
        // one file of 70,000 ranges, then empty files up to the limit, then one more.
        let ranges = 70_000;
        let mut fits = String::from("{\"a.mp4\":{");
        for i in 0..ranges {
            fits.push_str(&format!("\"{i}-{i}\":\"{A}\","));
        }
        fits.pop();
        fits.push('}');
        for i in 0..MAX_INTEGRITY_ENTRIES - 1 - ranges {
            fits.push_str(&format!(",\"{i}\":{{}}"));
        }
        assert!(fits.len() < MAX_INTEGRITY_FILE_BYTES);
        assert_eq!(parse(&format!("{fits}}}")).map(|f| f.len()), Ok(ranges));
        assert_eq!(
            parse(&format!("{fits},\"one more\":{{}}}}")),
            Err(IntegrityError::TooManyEntries {
                limit: MAX_INTEGRITY_ENTRIES
            })
        );
    }

    #[test]
    fn long_keys_are_cut_in_errors() {
        let key = "k".repeat(10_000);
        let Err(IntegrityError::WrongShape { file }) = parse(&format!(r#"{{"{key}": 1}}"#)) else {
            panic!("expected WrongShape");
        };
        assert_eq!(file, format!("{}...", "k".repeat(ERROR_KEY_CHARS)));
        let key = "é".repeat(1_000);
        let Err(IntegrityError::BadRange { range, .. }) =
            parse(&format!(r#"{{"a": {{"{key}": "{A}"}}}}"#))
        else {
            panic!("expected BadRange");
        };
        assert_eq!(range.chars().count(), ERROR_KEY_CHARS + 3);
    }

    #[test]
    fn errors_read_as_sentences() {
        assert_eq!(
            IntegrityError::BadRange {
                file: "a.mp4".into(),
                range: "10-5".into()
            }
            .to_string(),
            "segment integrity file: \"a.mp4\" has range \"10-5\", not \"<start>-<end>\" with \
             start <= end"
        );
        assert_eq!(
            IntegrityError::BadDigest {
                file: "a.mp4".into(),
                range: Some("0-9".into())
            }
            .to_string(),
            "segment integrity file: the digest of \"a.mp4\" range \"0-9\" is not a SHA-256 \
             digest in 64 hex digits"
        );
        assert_eq!(
            IntegrityError::NotJson { line: 1, column: 2 }.to_string(),
            "segment integrity file is not JSON (line 1, column 2)"
        );
    }
}
