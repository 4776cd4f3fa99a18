//! The shim's upload loop (`PeerTransport.upload` in peers.js) on the simulated network:
//! the header, the body from `from_byte` in chunks while the channel's `bufferedAmount` stays
//! under 1 MiB (waiting below 256 KiB otherwise), the footer, then `UploadFinished`. A new
//! upload to the same peer or `StopUpload` stops a waiting one, which reports when it wakes;
//! closing the connection wakes it too. Segment bytes leaving the uplink set off the
//! viewer's faults (a stalling or vanishing uplink).

use player_core::p2p::wire::{Message, MessageReader, PeerCommand, WireRequestId};
use player_core::player::Bytes;
use player_core::{Input, Instant};

use super::super::clock::EventQueue;
use super::super::{SimEvent, ViewerId};
use super::{End, NetEvent, Network, BUFFERED_HIGH_BYTES};

#[derive(Debug)]
pub(super) struct Upload {
    pub(super) end: End,
    /// The peer's request, from the header.
    pub(super) request: Option<WireRequestId>,
    body: Vec<u8>,
    offset: usize,
    chunk_bytes: usize,
    footer: Vec<Vec<u8>>,
    pub(super) sent_bytes: u64,
    pub(super) stopped: bool,
}

impl Network {
    /// `UploadSegment`: header, body from `from_byte` in chunks, footer, then
    /// `UploadFinished`; replaces an upload to that peer under way.
    #[allow(clippy::too_many_arguments)] // the order's fields
    pub fn upload(
        &mut self,
        now: Instant,
        end: End,
        body: Option<Vec<u8>>,
        from_byte: u64,
        chunk_bytes: usize,
        header: Vec<Bytes>,
        footer: Vec<Bytes>,
        queue: &mut EventQueue<SimEvent>,
    ) {
        let Some(conn) = self.conns.get_mut(&end) else {
            return; // the shim has no such peer and reports nothing
        };
        let replaced = conn.upload.take();
        let open = conn.open;
        if let Some(old) = replaced.and_then(|id| self.uploads.get_mut(&id)) {
            old.stopped = true;
        }
        let (Some(mut body), true) = (body, open) else {
            return report_upload(now, end, 0, false, queue);
        };
        if let Some(corruption) = self.uplinks[end.0].profile.corrupt_uploads {
            corruption.apply(&mut body);
        }
        let request = request_of(&header);
        for Bytes(message) in header {
            self.transmit(now, end, message, queue);
        }
        let id = self.next_upload;
        self.next_upload += 1;
        let upload = Upload {
            end,
            request,
            offset: from_byte.min(body.len() as u64) as usize,
            body,
            chunk_bytes: chunk_bytes.max(1),
            footer: footer.into_iter().map(|Bytes(m)| m).collect(),
            sent_bytes: 0,
            stopped: false,
        };
        self.uploads.insert(id, upload);
        self.conns.get_mut(&end).expect("checked above").upload = Some(id);
        self.run_upload(now, id, queue);
    }

    /// `StopUpload`: a waiting upload ends when it wakes, as in the shim.
    pub fn stop_upload(&mut self, end: End) {
        let Some(conn) = self.conns.get_mut(&end) else {
            return;
        };
        if let Some(upload) = conn.upload.take().and_then(|id| self.uploads.get_mut(&id)) {
            upload.stopped = true;
        }
    }

    /// The shim's upload loop, from where it waited.
    pub(super) fn run_upload(&mut self, now: Instant, id: u64, queue: &mut EventQueue<SimEvent>) {
        loop {
            let upload = &self.uploads[&id];
            let end = upload.end;
            let Some(conn) = self.conns.get_mut(&end) else {
                self.uploads.remove(&id);
                return;
            };
            if upload.stopped || !conn.open {
                let upload = self.uploads.remove(&id).expect("looked up above");
                return report_upload(now, end, upload.sent_bytes, false, queue);
            }
            if upload.offset >= upload.body.len() {
                let upload = self.uploads.remove(&id).expect("looked up above");
                for message in upload.footer {
                    self.transmit(now, end, message, queue);
                }
                if let Some(conn) = self.conns.get_mut(&end) {
                    conn.upload = conn.upload.filter(|&u| u != id);
                }
                return report_upload(now, end, upload.sent_bytes, true, queue);
            }
            if conn.buffered(now) > BUFFERED_HIGH_BYTES {
                if let Some(at) = conn.drained_at() {
                    queue.push(at, SimEvent::Net(NetEvent::UploadStep(id)));
                }
                return;
            }
            let upload = self.uploads.get_mut(&id).expect("looked up above");
            let to = (upload.offset + upload.chunk_bytes).min(upload.body.len());
            let chunk = upload.body[upload.offset..to].to_vec();
            upload.offset = to;
            upload.sent_bytes += chunk.len() as u64;
            let sent = chunk.len() as u64;
            if let Some(left_at) = self.transmit(now, end, chunk, queue) {
                self.count_upload(left_at, end.0, sent, queue);
            }
        }
    }

    /// Counts segment bytes leaving the uplink at `left_at` and sets off the viewer's faults:
    /// what is sent after the last byte counted never leaves, what left before still arrives.
    fn count_upload(
        &mut self,
        left_at: Instant,
        viewer: ViewerId,
        bytes: u64,
        queue: &mut EventQueue<SimEvent>,
    ) {
        let uplink = &mut self.uplinks[viewer];
        uplink.uploaded_bytes += bytes;
        let reached = |limit: Option<u64>| limit.is_some_and(|l| uplink.uploaded_bytes >= l);
        let stall = reached(uplink.profile.stall_after_bytes);
        let vanish = reached(uplink.profile.vanish_after_bytes);
        if (stall || vanish) && !uplink.stuck {
            uplink.stuck = true;
            if vanish {
                queue.push(left_at, SimEvent::Vanish { viewer });
            }
        }
    }

    pub(super) fn finish_waiting_upload(
        &mut self,
        now: Instant,
        end: End,
        queue: &mut EventQueue<SimEvent>,
    ) {
        let waiting: Vec<u64> = self
            .uploads
            .iter()
            .filter(|(_, u)| u.end == end)
            .map(|(&id, _)| id)
            .collect();
        for id in waiting {
            let upload = self.uploads.remove(&id).expect("listed above");
            report_upload(now, end, upload.sent_bytes, false, queue);
        }
    }
}

/// The request a `SegmentData` header answers.
fn request_of(header: &[Bytes]) -> Option<WireRequestId> {
    let mut reader = MessageReader::new(usize::MAX);
    header.iter().find_map(|Bytes(m)| match reader.read(m) {
        Ok(Message::Command(PeerCommand::SegmentData { request, .. })) => Some(request),
        _ => None,
    })
}

/// `UploadFinished`, reported by the shim's upload loop right after it ends.
pub(super) fn report_upload(
    now: Instant,
    (viewer, connection): End,
    sent_bytes: u64,
    completed: bool,
    queue: &mut EventQueue<SimEvent>,
) {
    let input = Input::UploadFinished {
        connection,
        sent_bytes,
        completed,
    };
    queue.push(now, SimEvent::Core { viewer, input });
}
