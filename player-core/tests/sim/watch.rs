//! The p2p-media-loader protocol on one side of a data channel, read from the outside with
//! the core's own wire reader: which segment requests that side has open, and how each one
//! ended. The network shows it every message the side sends and receives, so the scenario
//! checks (download limits, one per connection, resumes) do not rely on the core's word.

use std::collections::BTreeMap;

use player_core::p2p::wire::{
    Message, MessageReader, PeerCommand, SegmentId, WireError, WireRequestId,
    DEFAULT_MAX_COMMAND_BYTES,
};
use player_core::Instant;

/// How a segment request ended, as seen on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadEnd {
    Completed,
    Absent,
    Cancelled,
    /// The connection closed first.
    Closed,
}

/// A segment request that ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ended {
    pub segment: SegmentId,
    pub requested_at: Instant,
    /// Segment bytes of this request delivered to the requester.
    pub received_bytes: u64,
    pub end: DownloadEnd,
}

/// What a message this side sends was.
#[derive(Debug, Clone, PartialEq)]
pub enum Sent {
    /// A whole command, and the request it ended (a cancel).
    Command(PeerCommand, Option<Ended>),
    /// Part of a split command.
    Part,
    /// Raw segment bytes.
    Bytes,
}

#[derive(Debug, Clone, Copy)]
struct Open {
    segment: SegmentId,
    at: Instant,
    received_bytes: u64,
}

#[derive(Debug)]
pub struct Watch {
    sent: MessageReader,
    received: MessageReader,
    /// Requests this side sent that have not ended.
    open: BTreeMap<WireRequestId, Open>,
    /// The request whose bytes are arriving.
    incoming: Option<WireRequestId>,
}

impl Watch {
    pub fn new() -> Self {
        Watch {
            sent: MessageReader::new(DEFAULT_MAX_COMMAND_BYTES),
            received: MessageReader::new(DEFAULT_MAX_COMMAND_BYTES),
            open: BTreeMap::new(),
            incoming: None,
        }
    }

    /// Segments this side has asked for and not received, in request order.
    pub fn open_segments(&self) -> Vec<SegmentId> {
        self.open.values().map(|r| r.segment).collect()
    }

    fn end(&mut self, request: WireRequestId, end: DownloadEnd) -> Option<Ended> {
        let open = self.open.remove(&request)?;
        Some(Ended {
            segment: open.segment,
            requested_at: open.at,
            received_bytes: open.received_bytes,
            end,
        })
    }

    /// A message this side sends at `now`.
    pub fn on_sent(&mut self, now: Instant, message: &[u8]) -> Result<Sent, WireError> {
        let command = match self.sent.read(message)? {
            Message::Command(command) => command,
            Message::CommandPart => return Ok(Sent::Part),
            Message::SegmentBytes => return Ok(Sent::Bytes),
        };
        let ended = match command {
            PeerCommand::SegmentRequest {
                segment, request, ..
            } => {
                let open = Open {
                    segment,
                    at: now,
                    received_bytes: 0,
                };
                self.open.insert(request, open);
                None
            }
            PeerCommand::CancelSegmentRequest { request, .. } => {
                self.end(request, DownloadEnd::Cancelled)
            }
            _ => None,
        };
        Ok(Sent::Command(command, ended))
    }

    /// A message this side receives: the command it completes, if any, and the request of
    /// this side it ended.
    pub fn on_received(
        &mut self,
        message: &[u8],
    ) -> Result<(Option<PeerCommand>, Option<Ended>), WireError> {
        let command = match self.received.read(message)? {
            Message::Command(command) => command,
            Message::CommandPart => return Ok((None, None)),
            Message::SegmentBytes => {
                let incoming = self.incoming.and_then(|r| self.open.get_mut(&r));
                if let Some(open) = incoming {
                    open.received_bytes += message.len() as u64;
                }
                return Ok((None, None));
            }
        };
        let ended = match command {
            PeerCommand::SegmentData { request, .. } => {
                self.incoming = Some(request);
                None
            }
            PeerCommand::SegmentDataSendingCompleted { request, .. } => {
                self.incoming = None;
                self.end(request, DownloadEnd::Completed)
            }
            PeerCommand::SegmentAbsent { request, .. } => self.end(request, DownloadEnd::Absent),
            _ => None,
        };
        Ok((Some(command), ended))
    }

    /// The connection closed: every open request ends with it.
    pub fn close(mut self) -> Vec<Ended> {
        let requests: Vec<WireRequestId> = self.open.keys().copied().collect();
        requests
            .into_iter()
            .filter_map(|r| self.end(r, DownloadEnd::Closed))
            .collect()
    }
}
