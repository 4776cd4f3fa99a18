//! What one viewer's host saw, in order: the records scenario tests assert on.

use player_core::hls::ByteRange;
use player_core::player::{ErrorKind, FetchPurpose, RequestId, TrackId, TrackSpec};
use player_core::{Event, Instant};

use super::media::Piece;
use super::origin::Resource;

/// One `Fetch` order as the host received it.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchRecord {
    pub at: Instant,
    pub request: RequestId,
    pub url: String,
    pub range: Option<ByteRange>,
    pub purpose: FetchPurpose,
    pub resource: Resource,
    /// The response continues bytes a peer delivered (`append_to_stored`).
    pub resumes: bool,
    /// The playhead when the fetch was ordered.
    pub position_s: f64,
}

/// How an HTTP request ended, from the host's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpEnd {
    Done,
    Failed(Option<u16>),
    Cancelled,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AppendRecord {
    pub at: Instant,
    pub request: RequestId,
    /// The SourceBuffer it went to.
    pub track: TrackId,
    pub piece: Piece,
}

/// Everything the host saw, in order.
#[derive(Debug, Default)]
pub struct Log {
    pub fetches: Vec<FetchRecord>,
    /// When each request ended and how (a request appears at most once).
    pub http_ends: Vec<(Instant, RequestId, HttpEnd)>,
    pub cancels: Vec<(Instant, RequestId)>,
    pub appends: Vec<AppendRecord>,
    /// Results of finished appends: `Some(quota_exceeded)` for failures.
    pub append_results: Vec<(Instant, RequestId, Option<bool>)>,
    /// Evictions ordered: when, the range, and the playhead at that moment.
    pub evicts: Vec<(Instant, f64, f64, f64)>,
    /// The SourceBuffer of each eviction in `evicts`, in the same order.
    pub evict_tracks: Vec<TrackId>,
    pub media_seeks: Vec<(Instant, f64)>,
    pub end_of_stream: Vec<Instant>,
    /// When the core ordered `RecreateMedia`.
    pub media_recreations: Vec<Instant>,
    pub events: Vec<(Instant, Event)>,
    pub source_buffers: Vec<TrackSpec>,
    /// `SourceBuffer.changeType` calls: when, and the new MIME type.
    pub change_types: Vec<(Instant, String)>,
    pub max_concurrent_fetches: usize,
    /// Most segment requests open with peers at once, as seen on the wire.
    pub max_peer_downloads: usize,
    /// `StoreBytes` orders: when, under which request, how many bytes.
    pub stored: Vec<(Instant, RequestId, u64)>,
    /// `HashBody` orders.
    pub hashes: Vec<(Instant, RequestId)>,
    /// `ReleaseBody` orders.
    pub released: Vec<(Instant, RequestId)>,
}

impl Log {
    pub fn fetches_of(&self, resource: Resource) -> Vec<&FetchRecord> {
        self.fetches
            .iter()
            .filter(|f| f.resource == resource)
            .collect()
    }

    pub fn errors(&self) -> Vec<(Instant, ErrorKind, bool, String)> {
        self.events
            .iter()
            .filter_map(|(at, e)| match e {
                Event::Error {
                    kind,
                    fatal,
                    message,
                } => Some((*at, *kind, *fatal, message.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn end_of(&self, request: RequestId) -> Option<(Instant, HttpEnd)> {
        self.http_ends
            .iter()
            .find(|(_, r, _)| *r == request)
            .map(|&(at, _, end)| (at, end))
    }
}
