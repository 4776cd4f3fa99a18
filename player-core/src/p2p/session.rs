//! One peer's side of the p2p-media-loader v2 conversation over its data channel: what the
//! peer announced, the one segment we are downloading from it, the one segment it asked us
//! for, and the protocol rules whose breach gets the peer dropped.
//!
//! Limits on a hostile peer, each a [`Violation`]: message and command size (the wire reader),
//! announcement size ([`MAX_ANNOUNCED_SEGMENTS`]), announcement and request rate (per
//! [`RATE_WINDOW`]), and requests for segments we never offered it. Its requests cannot pile
//! up: a new request replaces the one we serve (the protocol's rule), so there is at most one
//! upload per peer, and the request rate bounds how often one starts.
//!
//! The session decides nothing about which segment to ask for or whether to serve a request;
//! the player does. It only keeps the conversation consistent and reports what happened.

use std::collections::BTreeSet;
use std::fmt;

use crate::time::{Duration, Instant};

use super::wire::{
    encode_command, Message, MessageReader, PeerCommand, SegmentId, WireError, WireRequestId,
    MAX_MESSAGE_BYTES,
};

/// A split command may not grow beyond this: the largest honest one is an announcement of a
/// few thousand ids, a few kilobytes.
const MAX_COMMAND_BYTES: usize = 256 * 1024;

/// An announcement may not list more segments than this (each list): above what a peer's
/// store holds of any real stream (a 64 MiB store holds a few hundred segments), small
/// enough that a hostile peer cannot make us hold much. (The wire itself caps a list at
/// 255 groups of 255 ids.)
pub const MAX_ANNOUNCED_SEGMENTS: usize = 10_000;

/// Announcements and requests are counted over fixed windows this long.
pub const RATE_WINDOW: Duration = Duration::from_secs(10);

/// Announcements a peer may send per [`RATE_WINDOW`] (100 a second). p2p-media-loader sends
/// its announcement when its store or its HTTP loads change (a segment starts loading, is
/// loaded, is evicted: about three per segment), coalesced into one per JavaScript task; a
/// peer filling its buffer over a fast link with short segments stays well below 100 a second
/// for ten seconds. Above that it is flooding us with work (each announcement is parsed and
/// replaces a set of up to [`MAX_ANNOUNCED_SEGMENTS`] ids).
pub const MAX_ANNOUNCEMENTS_PER_WINDOW: u32 = 1000;

/// Requests a peer may send per [`RATE_WINDOW`] (10 a second). An honest peer asks us for one
/// segment at a time and waits for it, or cancels it (it gave up, or its viewer seeked) before
/// asking again; even a viewer scrubbing the timeline asks a few times a second. Each request
/// makes us start an upload (a header and a first chunk) that the next one replaces, so a
/// flood would cost upload bandwidth.
pub const MAX_REQUESTS_PER_WINDOW: u32 = 100;

/// Requests for segments we never offered that a peer may send per [`RATE_WINDOW`]. An honest
/// peer asks only for what we announced; it can miss only when the segment left our store
/// while our new announcements were on their way (answered as absent), a race that may recur
/// over a long session but never many times in ten seconds. Each such request is answered
/// absent; past this many in a window the peer is probing, not racing.
pub const MAX_UNOFFERED_REQUESTS: u32 = 16;

/// Cancelled transfers whose late bytes are still tolerated: the peer may have sent a header
/// and chunks before our cancel reached it, and a slow or congested channel can hold several
/// such transfers. A cancel is forgotten once a later transfer's header arrives (the channel
/// is ordered); this bound only limits memory for a peer that sends nothing at all.
const REMEMBERED_CANCELS: usize = 64;

/// Something the peer did that the player has to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// The peer's lists of loaded and HTTP-loading segments changed.
    Announced,
    /// The peer asks for a segment (it replaces whatever we were sending it).
    SegmentRequested {
        segment: SegmentId,
        request: WireRequestId,
        resume_from_bytes: Option<u64>,
    },
    /// The peer withdrew the request we are serving.
    UploadCancelled,
    /// Bytes of our download arrived; `received_bytes` counts all so far.
    DownloadProgress {
        segment: SegmentId,
        received_bytes: u64,
        total_bytes: u64,
    },
    /// The download is complete; the bytes are the whole segment from the resume offset on.
    DownloadComplete { segment: SegmentId, bytes: Vec<u8> },
    /// The peer does not have the segment we asked for.
    DownloadAbsent { segment: SegmentId },
    /// Bytes of a transfer we had cancelled: counted, then dropped.
    Discarded { bytes: u64 },
}

/// A breach of the protocol: the peer is dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    Wire(WireError),
    /// Raw bytes arrived with no transfer announced by a `SegmentData` header.
    UnexpectedBytes,
    /// A `SegmentData` header for a segment or request we never asked for.
    UnrequestedData {
        segment: SegmentId,
    },
    /// More bytes than the `SegmentData` header announced.
    TooManyBytes {
        announced: u64,
    },
    /// Completion reported for a different transfer, or before all bytes arrived.
    WrongCompletion,
    /// An announcement above [`MAX_ANNOUNCED_SEGMENTS`].
    OversizedAnnouncement {
        segments: usize,
    },
    /// More than [`MAX_ANNOUNCEMENTS_PER_WINDOW`] announcements within [`RATE_WINDOW`].
    AnnouncementFlood,
    /// More than [`MAX_REQUESTS_PER_WINDOW`] requests within [`RATE_WINDOW`].
    RequestFlood,
    /// More than [`MAX_UNOFFERED_REQUESTS`] requests for segments we never announced.
    UnofferedRequests,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Wire(error) => write!(f, "malformed message: {error}"),
            Violation::UnexpectedBytes => write!(f, "segment bytes without a transfer"),
            Violation::UnrequestedData { segment } => {
                write!(f, "sent segment {segment}, which was not requested")
            }
            Violation::TooManyBytes { announced } => {
                write!(f, "sent more than the {announced} bytes it announced")
            }
            Violation::WrongCompletion => write!(f, "reported a transfer complete wrongly"),
            Violation::OversizedAnnouncement { segments } => {
                write!(f, "announced {segments} segments, above the limit")
            }
            Violation::AnnouncementFlood => write!(
                f,
                "sent more than {MAX_ANNOUNCEMENTS_PER_WINDOW} announcements in {} s",
                RATE_WINDOW.as_secs_f64()
            ),
            Violation::RequestFlood => write!(
                f,
                "sent more than {MAX_REQUESTS_PER_WINDOW} requests in {} s",
                RATE_WINDOW.as_secs_f64()
            ),
            Violation::UnofferedRequests => write!(
                f,
                "asked for more than {MAX_UNOFFERED_REQUESTS} segments we never offered in {} s",
                RATE_WINDOW.as_secs_f64()
            ),
        }
    }
}

/// Counts events over fixed windows of [`RATE_WINDOW`].
#[derive(Debug, Clone, Copy)]
struct RateCounter {
    window_start: Option<Instant>,
    count: u32,
}

impl RateCounter {
    const fn new() -> Self {
        RateCounter {
            window_start: None,
            count: 0,
        }
    }

    /// Counts one event at `now`; false when it is one more than `max` in its window.
    fn count(&mut self, now: Instant, max: u32) -> bool {
        let window_over = self
            .window_start
            .is_none_or(|start| now >= start + RATE_WINDOW);
        if window_over {
            self.window_start = Some(now);
            self.count = 0;
        }
        self.count += 1;
        self.count <= max
    }
}

/// What we asked this peer for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Download {
    segment: SegmentId,
    request: WireRequestId,
}

/// The transfer whose bytes are arriving now.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Incoming {
    segment: SegmentId,
    request: WireRequestId,
    announced_bytes: u64,
    received: Vec<u8>,
    received_bytes: u64,
    /// False for a transfer we cancelled: bytes are counted and dropped.
    keep: bool,
}

#[derive(Debug)]
pub struct PeerSession {
    reader: MessageReader,
    max_message_bytes: usize,
    loaded: BTreeSet<SegmentId>,
    http_loading: BTreeSet<SegmentId>,
    download: Option<Download>,
    incoming: Option<Incoming>,
    cancelled: Vec<(SegmentId, WireRequestId)>,
    /// The request of the peer we are serving, if any.
    upload: Option<(SegmentId, WireRequestId)>,
    /// What our last two announcements to the peer listed (loaded or loading): the previous
    /// one too, since the peer may have asked before our latest reached it.
    offered: BTreeSet<SegmentId>,
    previously_offered: BTreeSet<SegmentId>,
    unoffered_requests: RateCounter,
    announcements: RateCounter,
    requests: RateCounter,
}

impl Default for PeerSession {
    fn default() -> Self {
        Self::new()
    }
}

impl PeerSession {
    pub fn new() -> Self {
        PeerSession {
            reader: MessageReader::new(MAX_COMMAND_BYTES),
            max_message_bytes: MAX_MESSAGE_BYTES,
            loaded: BTreeSet::new(),
            http_loading: BTreeSet::new(),
            download: None,
            incoming: None,
            cancelled: Vec::new(),
            upload: None,
            offered: BTreeSet::new(),
            previously_offered: BTreeSet::new(),
            unoffered_requests: RateCounter::new(),
            announcements: RateCounter::new(),
            requests: RateCounter::new(),
        }
    }

    /// The peer said it holds this segment.
    pub fn has_segment(&self, segment: SegmentId) -> bool {
        self.loaded.contains(&segment)
    }

    /// The peer said it is loading this segment over HTTP.
    pub fn is_loading_over_http(&self, segment: SegmentId) -> bool {
        self.http_loading.contains(&segment)
    }

    /// The peer answered that it does not have `segment` after all: stop counting on it until
    /// it announces the segment again.
    pub fn forget_segment(&mut self, segment: SegmentId) {
        self.loaded.remove(&segment);
    }

    /// Our download from this peer, if one is under way.
    pub fn downloading(&self) -> Option<SegmentId> {
        self.download.as_ref().map(|d| d.segment)
    }

    /// The segment we are sending this peer, if any.
    pub fn uploading(&self) -> Option<(SegmentId, WireRequestId)> {
        self.upload
    }

    /// Reads one data-channel message from the peer, received at `now`.
    pub fn handle_message(
        &mut self,
        now: Instant,
        message: &[u8],
    ) -> Result<Option<SessionEvent>, Violation> {
        match self.reader.read(message).map_err(Violation::Wire)? {
            Message::CommandPart => Ok(None),
            Message::SegmentBytes => self.on_bytes(message),
            Message::Command(command) => self.on_command(now, command),
        }
    }

    fn on_command(
        &mut self,
        now: Instant,
        command: PeerCommand,
    ) -> Result<Option<SessionEvent>, Violation> {
        match command {
            PeerCommand::SegmentsAnnouncement {
                loaded,
                http_loading,
            } => {
                if !self.announcements.count(now, MAX_ANNOUNCEMENTS_PER_WINDOW) {
                    return Err(Violation::AnnouncementFlood);
                }
                let segments = loaded.len().max(http_loading.len());
                if segments > MAX_ANNOUNCED_SEGMENTS {
                    return Err(Violation::OversizedAnnouncement { segments });
                }
                self.loaded = loaded.into_iter().collect();
                self.http_loading = http_loading.into_iter().collect();
                Ok(Some(SessionEvent::Announced))
            }
            PeerCommand::SegmentRequest {
                segment,
                request,
                resume_from_bytes,
            } => {
                if !self.requests.count(now, MAX_REQUESTS_PER_WINDOW) {
                    return Err(Violation::RequestFlood);
                }
                let offered =
                    self.offered.contains(&segment) || self.previously_offered.contains(&segment);
                if !offered {
                    // Still answered (absent, as we do not hold it), up to the bound.
                    if !self.unoffered_requests.count(now, MAX_UNOFFERED_REQUESTS) {
                        return Err(Violation::UnofferedRequests);
                    }
                }
                self.upload = Some((segment, request));
                Ok(Some(SessionEvent::SegmentRequested {
                    segment,
                    request,
                    resume_from_bytes,
                }))
            }
            // p2p-media-loader matches a cancel on the request id alone.
            PeerCommand::CancelSegmentRequest { request, .. } => {
                if self.upload.is_some_and(|(_, r)| r == request) {
                    self.upload = None;
                    Ok(Some(SessionEvent::UploadCancelled))
                } else {
                    Ok(None)
                }
            }
            PeerCommand::SegmentData {
                segment,
                request,
                byte_length,
            } => self.on_data_header(segment, request, byte_length),
            PeerCommand::SegmentDataSendingCompleted { segment, request } => {
                self.on_completed(segment, request)
            }
            PeerCommand::SegmentAbsent { segment, request } => {
                let ours = self
                    .download
                    .as_ref()
                    .is_some_and(|d| d.segment == segment && d.request == request);
                if ours {
                    self.download = None;
                    self.incoming = None;
                    Ok(Some(SessionEvent::DownloadAbsent { segment }))
                } else {
                    Ok(None)
                }
            }
        }
    }

    fn on_data_header(
        &mut self,
        segment: SegmentId,
        request: WireRequestId,
        byte_length: u64,
    ) -> Result<Option<SessionEvent>, Violation> {
        let ours = self
            .download
            .as_ref()
            .is_some_and(|d| d.segment == segment && d.request == request);
        let cancelled = self.cancelled.iter().position(|c| *c == (segment, request));
        if !ours && cancelled.is_none() {
            return Err(Violation::UnrequestedData { segment });
        }
        // Transfers asked for before this one cannot come any more.
        let older = cancelled.map_or(self.cancelled.len(), |i| i + 1);
        self.cancelled.drain(..older);
        self.incoming = Some(Incoming {
            segment,
            request,
            announced_bytes: byte_length,
            received: Vec::new(),
            received_bytes: 0,
            keep: ours,
        });
        Ok(None)
    }

    fn on_bytes(&mut self, bytes: &[u8]) -> Result<Option<SessionEvent>, Violation> {
        let Some(incoming) = self.incoming.as_mut() else {
            return Err(Violation::UnexpectedBytes);
        };
        let received_bytes = incoming.received_bytes + bytes.len() as u64;
        if received_bytes > incoming.announced_bytes {
            return Err(Violation::TooManyBytes {
                announced: incoming.announced_bytes,
            });
        }
        incoming.received_bytes = received_bytes;
        if !incoming.keep {
            return Ok(Some(SessionEvent::Discarded {
                bytes: bytes.len() as u64,
            }));
        }
        incoming.received.extend_from_slice(bytes);
        Ok(Some(SessionEvent::DownloadProgress {
            segment: incoming.segment,
            received_bytes,
            total_bytes: incoming.announced_bytes,
        }))
    }

    fn on_completed(
        &mut self,
        segment: SegmentId,
        request: WireRequestId,
    ) -> Result<Option<SessionEvent>, Violation> {
        let matches = |i: &Incoming| i.segment == segment && i.request == request;
        match self.incoming.take() {
            Some(incoming) if matches(&incoming) => {
                if incoming.received_bytes != incoming.announced_bytes {
                    return Err(Violation::WrongCompletion);
                }
                if !incoming.keep {
                    return Ok(None);
                }
                self.download = None;
                Ok(Some(SessionEvent::DownloadComplete {
                    segment,
                    bytes: incoming.received,
                }))
            }
            // Completion of a transfer we cancelled before its header arrived.
            None if self.cancelled.contains(&(segment, request)) => Ok(None),
            _ => Err(Violation::WrongCompletion),
        }
    }

    /// Messages asking the peer for `segment`. Only one download per peer: the caller makes
    /// sure none is under way.
    pub fn request(
        &mut self,
        segment: SegmentId,
        request: WireRequestId,
        resume_from_bytes: Option<u64>,
    ) -> Vec<Vec<u8>> {
        debug_assert!(self.download.is_none(), "one download per peer");
        self.download = Some(Download { segment, request });
        // `incoming` can only be a cancelled transfer here: its bytes may still be arriving
        // (the peer cannot recall what it queued) and are dropped as they come.
        self.encode(&PeerCommand::SegmentRequest {
            segment,
            request,
            resume_from_bytes,
        })
    }

    /// Stops our download, returning the bytes received so far (for an HTTP resume) and the
    /// messages telling the peer.
    pub fn cancel_download(&mut self) -> (Vec<u8>, Vec<Vec<u8>>) {
        let Some(download) = self.download.take() else {
            return (Vec::new(), Vec::new());
        };
        let key = (download.segment, download.request);
        if self.cancelled.len() == REMEMBERED_CANCELS {
            self.cancelled.remove(0);
        }
        self.cancelled.push(key);
        let received = match self.incoming.as_mut() {
            Some(incoming) if (incoming.segment, incoming.request) == key => {
                incoming.keep = false;
                std::mem::take(&mut incoming.received)
            }
            _ => Vec::new(),
        };
        let messages = self.encode(&PeerCommand::CancelSegmentRequest {
            segment: download.segment,
            request: download.request,
        });
        (received, messages)
    }

    /// Messages announcing what we hold and what we are loading over HTTP.
    pub fn announce(&mut self, loaded: &[SegmentId], http_loading: &[SegmentId]) -> Vec<Vec<u8>> {
        self.previously_offered = std::mem::take(&mut self.offered);
        self.offered = loaded.iter().chain(http_loading).copied().collect();
        self.encode(&PeerCommand::SegmentsAnnouncement {
            loaded: loaded.to_vec(),
            http_loading: http_loading.to_vec(),
        })
    }

    /// The header that starts sending the peer its requested segment (`byte_length` counts
    /// the bytes that will follow), and the completion message that ends it.
    pub fn upload_frames(
        &self,
        segment: SegmentId,
        request: WireRequestId,
        byte_length: u64,
    ) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let header = self.encode(&PeerCommand::SegmentData {
            segment,
            request,
            byte_length,
        });
        let footer = self.encode(&PeerCommand::SegmentDataSendingCompleted { segment, request });
        (header, footer)
    }

    /// Tells the peer we do not have what it asked for, ending that request.
    pub fn absent(&mut self, segment: SegmentId, request: WireRequestId) -> Vec<Vec<u8>> {
        if self.upload == Some((segment, request)) {
            self.upload = None;
        }
        self.encode(&PeerCommand::SegmentAbsent { segment, request })
    }

    /// The upload ended (sent or abandoned).
    pub fn upload_finished(&mut self) {
        self.upload = None;
    }

    fn encode(&self, command: &PeerCommand) -> Vec<Vec<u8>> {
        encode_command(command, self.max_message_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// When the messages of a test arrive, unless it is about rates.
    const T0: Instant = Instant(1_000_000);

    fn feed(
        session: &mut PeerSession,
        command: PeerCommand,
    ) -> Result<Option<SessionEvent>, Violation> {
        feed_at(session, T0, command)
    }

    fn data(segment: SegmentId, request: WireRequestId, byte_length: u64) -> PeerCommand {
        PeerCommand::SegmentData {
            segment,
            request,
            byte_length,
        }
    }

    fn completed(segment: SegmentId, request: WireRequestId) -> PeerCommand {
        PeerCommand::SegmentDataSendingCompleted { segment, request }
    }

    #[test]
    fn announcement_replaces_the_previous_one() {
        let mut s = PeerSession::new();
        let announce =
            |loaded: Vec<u64>, http_loading: Vec<u64>| PeerCommand::SegmentsAnnouncement {
                loaded,
                http_loading,
            };
        feed(&mut s, announce(vec![1, 2, 3], vec![4])).unwrap();
        assert!(s.has_segment(2) && s.is_loading_over_http(4));
        feed(&mut s, announce(vec![4], vec![])).unwrap();
        assert!(!s.has_segment(2) && s.has_segment(4) && !s.is_loading_over_http(4));
    }

    #[test]
    fn a_download_completes_with_exactly_the_announced_bytes() {
        let mut s = PeerSession::new();
        s.request(7, 1, None);
        feed(&mut s, data(7, 1, 5)).unwrap();
        assert_eq!(
            s.handle_message(T0, &[1, 2, 3]),
            Ok(Some(SessionEvent::DownloadProgress {
                segment: 7,
                received_bytes: 3,
                total_bytes: 5
            }))
        );
        s.handle_message(T0, &[4, 5]).unwrap();
        assert_eq!(
            feed(&mut s, completed(7, 1)),
            Ok(Some(SessionEvent::DownloadComplete {
                segment: 7,
                bytes: vec![1, 2, 3, 4, 5]
            }))
        );
        assert_eq!(s.downloading(), None);
    }

    #[test]
    fn extra_bytes_and_early_completion_are_violations() {
        let mut s = PeerSession::new();
        s.request(7, 1, None);
        feed(&mut s, data(7, 1, 2)).unwrap();
        assert_eq!(
            s.handle_message(T0, &[1, 2, 3]),
            Err(Violation::TooManyBytes { announced: 2 })
        );
        let mut s = PeerSession::new();
        s.request(7, 1, None);
        feed(&mut s, data(7, 1, 2)).unwrap();
        s.handle_message(T0, &[1]).unwrap();
        assert_eq!(
            feed(&mut s, completed(7, 1)),
            Err(Violation::WrongCompletion)
        );
    }

    #[test]
    fn unrequested_transfers_are_violations() {
        let mut s = PeerSession::new();
        assert_eq!(
            s.handle_message(T0, &[1, 2, 3]),
            Err(Violation::UnexpectedBytes)
        );
        let mut s = PeerSession::new();
        s.request(7, 1, None);
        assert_eq!(
            feed(&mut s, data(8, 1, 2)),
            Err(Violation::UnrequestedData { segment: 8 })
        );
        let mut s = PeerSession::new();
        assert_eq!(
            feed(&mut s, completed(7, 1)),
            Err(Violation::WrongCompletion)
        );
    }

    #[test]
    fn late_bytes_of_a_cancelled_transfer_are_dropped_quietly() {
        let mut s = PeerSession::new();
        s.request(7, 1, None);
        feed(&mut s, data(7, 1, 4)).unwrap();
        s.handle_message(T0, &[1, 2]).unwrap();
        let (received, messages) = s.cancel_download();
        assert_eq!(received, vec![1, 2]);
        assert_eq!(messages.len(), 1);
        assert_eq!(
            s.handle_message(T0, &[3, 4]),
            Ok(Some(SessionEvent::Discarded { bytes: 2 }))
        );
        assert_eq!(feed(&mut s, completed(7, 1)), Ok(None));
        // Cancelled before the header arrived: the whole transfer may still come.
        s.request(9, 2, None);
        s.cancel_download();
        feed(&mut s, data(9, 2, 1)).unwrap();
        assert_eq!(
            s.handle_message(T0, &[0]),
            Ok(Some(SessionEvent::Discarded { bytes: 1 }))
        );
        assert_eq!(feed(&mut s, completed(9, 2)), Ok(None));
    }

    #[test]
    fn a_new_request_still_drops_the_rest_of_a_cancelled_transfer() {
        let mut s = PeerSession::new();
        s.request(7, 1, None);
        feed(&mut s, data(7, 1, 4)).unwrap();
        s.handle_message(T0, &[1, 2]).unwrap();
        s.cancel_download();
        s.request(8, 2, None);
        assert_eq!(
            s.handle_message(T0, &[3, 4]),
            Ok(Some(SessionEvent::Discarded { bytes: 2 }))
        );
        assert_eq!(feed(&mut s, completed(7, 1)), Ok(None));
        feed(&mut s, data(8, 2, 1)).unwrap();
        s.handle_message(T0, &[9]).unwrap();
        assert_eq!(
            feed(&mut s, completed(8, 2)),
            Ok(Some(SessionEvent::DownloadComplete {
                segment: 8,
                bytes: vec![9]
            }))
        );
    }

    #[test]
    fn cancelled_transfers_are_tolerated_until_a_later_one_arrives() {
        let mut s = PeerSession::new();
        for request in 1..=10 {
            s.request(request as u64, request, None);
            s.cancel_download();
        }
        // The peer's channel delivers the cancelled transfers in order, then ours.
        s.request(11, 11, None);
        for request in 1..=10 {
            feed(&mut s, data(request as u64, request, 1)).unwrap();
            s.handle_message(T0, &[0]).unwrap();
            assert_eq!(feed(&mut s, completed(request as u64, request)), Ok(None));
        }
        feed(&mut s, data(11, 11, 1)).unwrap();
        s.handle_message(T0, &[7]).unwrap();
        assert!(feed(&mut s, completed(11, 11)).unwrap().is_some());
        // Once a later transfer arrived, an earlier one is not expected any more.
        assert_eq!(
            feed(&mut s, data(3, 3, 1)),
            Err(Violation::UnrequestedData { segment: 3 })
        );
    }

    #[test]
    fn absent_ends_our_download_and_cancel_ends_its_upload() {
        let mut s = PeerSession::new();
        s.request(3, 4, None);
        assert_eq!(
            feed(
                &mut s,
                PeerCommand::SegmentAbsent {
                    segment: 3,
                    request: 4
                }
            ),
            Ok(Some(SessionEvent::DownloadAbsent { segment: 3 }))
        );
        feed(
            &mut s,
            PeerCommand::SegmentRequest {
                segment: 5,
                request: 9,
                resume_from_bytes: None,
            },
        )
        .unwrap();
        assert_eq!(s.uploading(), Some((5, 9)));
        let cancel = |request| PeerCommand::CancelSegmentRequest {
            segment: 5,
            request,
        };
        assert_eq!(
            feed(&mut s, cancel(8)),
            Ok(None),
            "other request id: ignored"
        );
        assert_eq!(
            feed(&mut s, cancel(9)),
            Ok(Some(SessionEvent::UploadCancelled))
        );
        assert_eq!(s.uploading(), None);
    }

    #[test]
    fn oversized_announcements_are_violations() {
        let mut s = PeerSession::new();
        let loaded = (0..=MAX_ANNOUNCED_SEGMENTS as u64).collect();
        let result = feed(
            &mut s,
            PeerCommand::SegmentsAnnouncement {
                loaded,
                http_loading: vec![],
            },
        );
        assert_eq!(
            result,
            Err(Violation::OversizedAnnouncement {
                segments: MAX_ANNOUNCED_SEGMENTS + 1
            })
        );
    }

    fn request(segment: SegmentId, request: WireRequestId) -> PeerCommand {
        PeerCommand::SegmentRequest {
            segment,
            request,
            resume_from_bytes: None,
        }
    }

    fn feed_at(
        session: &mut PeerSession,
        now: Instant,
        command: PeerCommand,
    ) -> Result<Option<SessionEvent>, Violation> {
        let mut last = None;
        for message in encode_command(&command, MAX_MESSAGE_BYTES) {
            last = session.handle_message(now, &message)?;
        }
        Ok(last)
    }

    #[test]
    fn an_announcement_flood_is_a_violation_but_the_honest_rate_is_not() {
        let announcement = || PeerCommand::SegmentsAnnouncement {
            loaded: vec![1, 2],
            http_loading: vec![3],
        };
        let mut s = PeerSession::new();
        // The limit every window, window after window: an honest peer at its busiest.
        for window in 0..3u64 {
            let start = T0 + Duration(window * RATE_WINDOW.0);
            for _ in 0..MAX_ANNOUNCEMENTS_PER_WINDOW {
                assert_eq!(
                    feed_at(&mut s, start, announcement()),
                    Ok(Some(SessionEvent::Announced))
                );
            }
        }
        let last_window = T0 + Duration(2 * RATE_WINDOW.0);
        assert_eq!(
            feed_at(
                &mut s,
                last_window + Duration(RATE_WINDOW.0 - 1),
                announcement()
            ),
            Err(Violation::AnnouncementFlood)
        );
    }

    #[test]
    fn a_request_flood_is_a_violation_and_each_request_replaces_the_upload() {
        let mut s = PeerSession::new();
        s.announce(&[5], &[]);
        for r in 0..MAX_REQUESTS_PER_WINDOW {
            feed(&mut s, request(5, r)).unwrap();
            // One upload at a time: the newest request is the one served.
            assert_eq!(s.uploading(), Some((5, r)));
        }
        assert_eq!(
            feed(&mut s, request(5, MAX_REQUESTS_PER_WINDOW)),
            Err(Violation::RequestFlood)
        );
        // The next window allows as many again.
        let mut s = PeerSession::new();
        s.announce(&[5], &[]);
        for r in 0..MAX_REQUESTS_PER_WINDOW {
            feed(&mut s, request(5, r)).unwrap();
        }
        assert!(feed_at(&mut s, T0 + RATE_WINDOW, request(5, 0)).is_ok());
    }

    #[test]
    fn requests_for_segments_never_offered_are_answered_until_a_bound() {
        let mut s = PeerSession::new();
        s.announce(&[1, 2], &[3]);
        s.announce(&[2, 4], &[]);
        // Offered now or in the announcement before (the peer may not have our latest yet).
        for segment in [1, 2, 3, 4] {
            assert!(matches!(
                feed(&mut s, request(segment, 1)),
                Ok(Some(SessionEvent::SegmentRequested { .. }))
            ));
        }
        for n in 0..MAX_UNOFFERED_REQUESTS {
            assert!(
                matches!(
                    feed(&mut s, request(100 + u64::from(n), n)),
                    Ok(Some(SessionEvent::SegmentRequested { .. }))
                ),
                "unoffered request {n} is still answered"
            );
        }
        assert_eq!(
            feed(&mut s, request(99, 99)),
            Err(Violation::UnofferedRequests)
        );
        // Two announcements later, segment 1 is no longer offered.
        let mut s = PeerSession::new();
        s.announce(&[1], &[]);
        s.announce(&[2], &[]);
        s.announce(&[2], &[]);
        for n in 0..MAX_UNOFFERED_REQUESTS {
            feed(&mut s, request(1, n)).unwrap();
        }
        assert_eq!(
            feed(&mut s, request(1, 0)),
            Err(Violation::UnofferedRequests)
        );
    }

    #[test]
    fn unoffered_requests_spread_over_a_long_session_are_races_not_probing() {
        let mut s = PeerSession::new();
        s.announce(&[1], &[]);
        // The bound's worth of misses in every window, for an hour and a half.
        for window in 0..540u64 {
            let now = T0 + Duration(RATE_WINDOW.0 * window);
            for n in 0..MAX_UNOFFERED_REQUESTS {
                assert!(
                    feed_at(&mut s, now, request(100, n)).is_ok(),
                    "window {window}, miss {n}"
                );
            }
        }
    }
}
