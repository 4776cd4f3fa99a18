//! The bytes of the simulated media and of the bodies the host stores.
//!
//! Every level's file has deterministic synthetic content: a self-describing header at the
//! start of the init segment and of each media segment (what a demuxer reads a fragment's
//! identity and timestamps from), pseudo-random bytes everywhere else, so that a shifted,
//! truncated or foreign byte is never equal to the right one.
//!
//! A stored body is a list of extents: file ranges as the origin served them, or bytes that
//! came over a data channel. Bytes are made real only where the wire needs them (uploads)
//! or where they must be checked (bytes from peers): an append reads the header to learn
//! what the body claims to be, like the browser does, and [`Content::verify`] then requires
//! the body to be exactly that piece's bytes, so corrupted or misassembled P2P transfers and
//! wrong HTTP resume ranges are caught.

use player_core::hls::ByteRange;

use super::origin::{Content, Resource};

/// Bytes of the header at the start of every init and media segment.
pub const HEADER_BYTES: u64 = 16;
const INIT_MAGIC: &[u8; 8] = b"SIM-INIT";
const SEGMENT_MAGIC: &[u8; 8] = b"SIM-SEGM";

/// A run of body bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extent {
    /// `length` bytes of `level`'s file from `offset`, as the origin served them.
    File {
        level: usize,
        offset: u64,
        length: u64,
    },
    /// Bytes that arrived from a peer (through the core's `StoreBytes`).
    Wire(Vec<u8>),
}

impl Extent {
    fn len(&self) -> u64 {
        match self {
            Extent::File { length, .. } => *length,
            Extent::Wire(bytes) => bytes.len() as u64,
        }
    }
}

/// A body in the host's store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Body {
    pub extents: Vec<Extent>,
}

impl Body {
    pub fn file(level: usize, offset: u64, length: u64) -> Body {
        Body {
            extents: vec![Extent::File {
                level,
                offset,
                length,
            }],
        }
    }

    pub fn wire(bytes: Vec<u8>) -> Body {
        Body {
            extents: vec![Extent::Wire(bytes)],
        }
    }

    pub fn len(&self) -> u64 {
        self.extents.iter().map(Extent::len).sum()
    }

    /// This body followed by `rest` (an HTTP response continuing a peer's bytes).
    pub fn then(mut self, rest: Body) -> Body {
        self.extents.extend(rest.extents);
        self
    }
}

/// splitmix64: the noise of one 8-byte word of a level's file.
fn noise(level: usize, word: u64) -> [u8; 8] {
    let mut z = (((level as u64) << 56) ^ word).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)).to_le_bytes()
}

fn header(magic: &[u8; 8], level: usize, index: usize) -> [u8; HEADER_BYTES as usize] {
    let mut h = [0u8; HEADER_BYTES as usize];
    h[..8].copy_from_slice(magic);
    h[8..12].copy_from_slice(&(level as u32).to_le_bytes());
    h[12..].copy_from_slice(&(index as u32).to_le_bytes());
    h
}

impl Content {
    /// The byte range of an init or media segment.
    pub fn range_of(&self, resource: Resource) -> Option<(usize, ByteRange)> {
        match resource {
            Resource::Init { level } => Some((level, self.levels[level].init)),
            Resource::Segment { level, index } => {
                Some((level, self.levels[level].segments[index].range))
            }
            _ => None,
        }
    }

    /// Bytes `offset..offset + length` of `level`'s file.
    pub fn file_bytes(&self, level: usize, offset: u64, length: u64) -> Vec<u8> {
        let end = offset + length;
        let mut out = Vec::with_capacity(length as usize);
        let mut at = offset;
        while at < end {
            let word = noise(level, at / 8);
            let from = (at % 8) as usize;
            let take = (8 - from).min((end - at) as usize);
            out.extend_from_slice(&word[from..from + take]);
            at += take as u64;
        }
        let info = &self.levels[level];
        let headers = std::iter::once((info.init.offset, header(INIT_MAGIC, level, 0))).chain(
            info.segments
                .iter()
                .enumerate()
                .map(|(i, s)| (s.range.offset, header(SEGMENT_MAGIC, level, i))),
        );
        for (start, bytes) in headers {
            if start + HEADER_BYTES <= offset || start >= end {
                continue;
            }
            for (i, byte) in bytes.iter().enumerate() {
                let at = start + i as u64;
                if (offset..end).contains(&at) {
                    out[(at - offset) as usize] = *byte;
                }
            }
        }
        out
    }

    /// The body as real bytes.
    pub fn materialize(&self, body: &Body) -> Vec<u8> {
        let mut out = Vec::with_capacity(body.len() as usize);
        for extent in &body.extents {
            match extent {
                Extent::File {
                    level,
                    offset,
                    length,
                } => out.extend(self.file_bytes(*level, *offset, *length)),
                Extent::Wire(bytes) => out.extend_from_slice(bytes),
            }
        }
        out
    }

    /// What the body says it is, from the header it starts with; `None` for bytes that do
    /// not start an init or media segment.
    pub fn identify(&self, body: &Body) -> Option<Resource> {
        let mut head = Vec::new();
        for extent in &body.extents {
            let missing = HEADER_BYTES - head.len() as u64;
            if missing == 0 {
                break;
            }
            match extent {
                Extent::File {
                    level,
                    offset,
                    length,
                } => head.extend(self.file_bytes(*level, *offset, missing.min(*length))),
                Extent::Wire(bytes) => {
                    head.extend_from_slice(&bytes[..bytes.len().min(missing as usize)])
                }
            }
        }
        if head.len() as u64 != HEADER_BYTES {
            return None;
        }
        let level = u32::from_le_bytes(head[8..12].try_into().ok()?) as usize;
        let index = u32::from_le_bytes(head[12..].try_into().ok()?) as usize;
        let info = self.levels.get(level)?;
        match &head[..8] {
            magic if magic == INIT_MAGIC && index == 0 => Some(Resource::Init { level }),
            magic if magic == SEGMENT_MAGIC && index < info.segments.len() => {
                Some(Resource::Segment { level, index })
            }
            _ => None,
        }
    }

    /// Checks that `body` is exactly the bytes of `resource` (an init or media segment).
    pub fn verify(&self, body: &Body, resource: Resource) -> Result<(), String> {
        let Some((level, range)) = self.range_of(resource) else {
            return Err(format!("{resource:?} is not media"));
        };
        if body.len() != range.length {
            return Err(format!(
                "{} bytes for {resource:?}, which has {}",
                body.len(),
                range.length
            ));
        }
        let mut position = 0;
        for extent in &body.extents {
            let at = range.offset + position;
            let same_file_range = matches!(
                extent,
                Extent::File { level: l, offset, .. } if *l == level && *offset == at
            );
            if !same_file_range {
                let got = self.materialize(&Body {
                    extents: vec![extent.clone()],
                });
                let expected = self.file_bytes(level, at, extent.len());
                if let Some(i) = got.iter().zip(&expected).position(|(a, b)| a != b) {
                    return Err(format!(
                        "byte {} of {resource:?} is wrong",
                        position + i as u64
                    ));
                }
            }
            position += extent.len();
        }
        Ok(())
    }
}
