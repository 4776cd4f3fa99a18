//! Simulated WebRTC between viewers, doing what the JS shim's `PeerTransport` does with real
//! RTCPeerConnections: offers and answers as synthetic SDP naming the viewer and connection,
//! a data channel that opens once both sides exchanged SDP, and ordered reliable delivery of
//! data-channel messages with per-link latency and bandwidth.
//!
//! Transmission model: a message first goes through its sender's uplink (one pipe per
//! viewer, shared by all its connections, `upload_bytes_per_s`), then through the link of its
//! connection (`link_bytes_per_s`), then arrives after the link's latency (the sum of both
//! viewers' access latencies). Both stages are FIFO, so a
//! channel's messages arrive in order. A channel's `bufferedAmount` is what was sent and has
//! not left the link yet; uploads wait while it is above 1 MiB, as the shim's do, so a
//! slow uplink throttles them and `StopUpload` cannot recall bytes already queued.
//!
//! Faults per viewer: an uplink that stalls (the channels stay open, nothing more leaves)
//! or a viewer that vanishes (every connection closes), each once it has uploaded a given
//! number of segment bytes, so that it happens in the middle of a transfer.
//!
//! Every side's messages are shown to its [`Watch`], which records the segment requests.

use std::collections::{BTreeMap, VecDeque};

use player_core::p2p::wire::{PeerCommand, SegmentId};
use player_core::player::Bytes;
use player_core::swarm::ConnectionId;
use player_core::{Duration, Input, Instant};

use super::clock::{secs, EventQueue};
use super::watch::{DownloadEnd, Ended, Sent, Watch};
use super::{SimEvent, ViewerId};

mod upload;

use upload::Upload;

/// One side of a peer connection.
pub type End = (ViewerId, ConnectionId);

/// The shim's upload flow control (peers.js): pause above, resume below.
const BUFFERED_HIGH_BYTES: u64 = 1024 * 1024;
const BUFFERED_LOW_BYTES: u64 = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetworkConfig {
    /// From `CreateOffer` or `AcceptOffer` to the SDP (ICE gathering).
    pub sdp_delay: Duration,
    /// From `ApplyAnswer` to the data channel opening on both sides (ICE, DTLS, SCTP).
    pub connect_delay: Duration,
    /// Capacity of each link in each direction, after the sender's uplink.
    pub link_bytes_per_s: u64,
    /// How long a side takes to notice that its connection will never open (ICE failure).
    pub failure_notice: Duration,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            sdp_delay: Duration::from_millis(40),
            connect_delay: Duration::from_millis(120),
            link_bytes_per_s: 10_000_000,
            failure_notice: Duration::from_secs(5),
        }
    }
}

/// One viewer's network as a peer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeerProfile {
    pub upload_bytes_per_s: u64,
    /// One-way delay of the viewer's access link: a link between two viewers takes both.
    pub latency: Duration,
    /// The uplink stops sending anything after this many segment bytes were uploaded.
    pub stall_after_bytes: Option<u64>,
    /// The viewer vanishes (closes its tab) after uploading this many segment bytes.
    pub vanish_after_bytes: Option<u64>,
    /// Every segment the viewer uploads is altered on the way (a broken or hostile peer).
    pub corrupt_uploads: Option<Corruption>,
}

/// How a corrupting peer alters the segments it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// One byte in the middle of the media data: the segment still parses (a demuxer would
    /// play it, with a glitch), only its digest tells.
    Payload,
    /// The first byte: the media element cannot parse the segment.
    Header,
}

impl Corruption {
    /// Alters a segment's bytes as this kind of corruption does.
    pub fn apply(self, body: &mut [u8]) {
        let at = match self {
            Corruption::Payload => body.len() / 2,
            Corruption::Header => 0,
        };
        if let Some(byte) = body.get_mut(at) {
            *byte ^= 0x5a;
        }
    }
}

impl Default for PeerProfile {
    fn default() -> Self {
        PeerProfile {
            upload_bytes_per_s: 2_500_000,
            latency: Duration::from_millis(15),
            stall_after_bytes: None,
            vanish_after_bytes: None,
            corrupt_uploads: None,
        }
    }
}

/// Something due in the network.
#[derive(Debug)]
pub enum NetEvent {
    OfferReady(End),
    AnswerReady(End),
    /// Both sides' data channel opens.
    Open(End, End),
    Deliver {
        from: End,
        to: End,
        bytes: Vec<u8>,
    },
    /// This side learns that its connection closed or failed.
    Closed(End),
    /// An upload waiting for its channel to drain looks again.
    UploadStep(u64),
}

/// One segment request a viewer sent, from request to its end, as seen on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct DownloadRecord {
    pub viewer: ViewerId,
    pub connection: ConnectionId,
    /// The viewer asked.
    pub peer: ViewerId,
    pub segment: SegmentId,
    pub requested_at: Instant,
    pub ended_at: Instant,
    /// Segment bytes of this request delivered to the requester.
    pub received_bytes: u64,
    pub end: DownloadEnd,
}

#[derive(Debug)]
struct Conn {
    /// The other side: from the offer on the answering side, from the answer on the offering.
    remote: Option<End>,
    open: bool,
    link_free_at: Instant,
    /// Messages sent and still in the link, with when they leave it (`None`: never, behind
    /// a stalled uplink): the channel's `bufferedAmount`.
    queued: VecDeque<(Option<Instant>, u64)>,
    upload: Option<u64>,
    watch: Watch,
}

impl Conn {
    fn new(remote: Option<End>) -> Self {
        Conn {
            remote,
            open: false,
            link_free_at: Instant(0),
            queued: VecDeque::new(),
            upload: None,
            watch: Watch::new(),
        }
    }

    fn buffered(&mut self, now: Instant) -> u64 {
        while self
            .queued
            .front()
            .is_some_and(|(t, _)| t.is_some_and(|t| t <= now))
        {
            self.queued.pop_front();
        }
        self.queued.iter().map(|(_, n)| n).sum()
    }

    /// When `bufferedAmount` falls to the low mark; `None` if never.
    fn drained_at(&self) -> Option<Instant> {
        let mut left: u64 = self.queued.iter().map(|(_, n)| n).sum();
        let mut at = None;
        for &(leaves, bytes) in &self.queued {
            if left <= BUFFERED_LOW_BYTES {
                break;
            }
            at = Some(leaves?);
            left -= bytes;
        }
        at
    }
}

#[derive(Debug)]
struct Uplink {
    profile: PeerProfile,
    free_at: Instant,
    uploaded_bytes: u64,
    /// Nothing leaves any more.
    stuck: bool,
}

#[derive(Debug)]
pub struct Network {
    pub config: NetworkConfig,
    uplinks: Vec<Uplink>,
    conns: BTreeMap<End, Conn>,
    uploads: BTreeMap<u64, Upload>,
    next_upload: u64,
    /// Every segment request that ended, in order.
    pub downloads: Vec<DownloadRecord>,
    /// Uploads whose request the peer cancelled in this step: stopped by the end of it.
    cancelled_uploads: Vec<(End, u64)>,
    /// Cancels that reached an upload still waiting for its channel to drain.
    pub waiting_uploads_cancelled: u64,
    pub violations: Vec<String>,
}

/// The offer or answer SDP of one side: enough of a real one to look like it, and the line
/// that names the side.
fn sdp(kind: &str, (viewer, connection): End) -> String {
    format!(
        "v=0\r\no=- {viewer}{:06} 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
         m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n\
         a=setup:{kind}\r\na=sctp-port:5000\r\na=x-shoal-sim:{viewer}/{}\r\n",
        connection.0, connection.0
    )
}

fn parse_sdp(sdp: &str) -> Option<End> {
    let line = sdp.lines().find_map(|l| l.strip_prefix("a=x-shoal-sim:"))?;
    let (viewer, connection) = line.split_once('/')?;
    Some((viewer.parse().ok()?, ConnectionId(connection.parse().ok()?)))
}

/// Time to push `bytes` through a pipe of `bytes_per_s`.
fn transfer_time(bytes: u64, bytes_per_s: u64) -> Duration {
    Duration((bytes as u128 * 1_000_000 / bytes_per_s.max(1) as u128) as u64)
}

impl Network {
    pub fn new(config: NetworkConfig, profiles: Vec<PeerProfile>) -> Self {
        Network {
            config,
            uplinks: profiles
                .into_iter()
                .map(|profile| Uplink {
                    profile,
                    free_at: Instant(0),
                    uploaded_bytes: 0,
                    stuck: false,
                })
                .collect(),
            conns: BTreeMap::new(),
            uploads: BTreeMap::new(),
            next_upload: 0,
            downloads: Vec::new(),
            cancelled_uploads: Vec::new(),
            waiting_uploads_cancelled: 0,
            violations: Vec::new(),
        }
    }

    /// Segment requests `viewer` has open, per connection.
    pub fn open_requests(&self, viewer: ViewerId) -> Vec<(ConnectionId, Vec<SegmentId>)> {
        self.conns
            .range((viewer, ConnectionId(0))..=(viewer, ConnectionId(u32::MAX)))
            .map(|(&(_, id), c)| (id, c.watch.open_segments()))
            .filter(|(_, segments)| !segments.is_empty())
            .collect()
    }

    /// Checked after every event: an upload the peer cancelled was stopped.
    pub fn check(&mut self, now: Instant) {
        for (end, id) in std::mem::take(&mut self.cancelled_uploads) {
            if self.uploads.get(&id).is_some_and(|u| !u.stopped) {
                self.violations.push(format!(
                    "t={:.3}s: viewer {} kept uploading on {:?} after the peer cancelled",
                    secs(now),
                    end.0,
                    end.1
                ));
            }
        }
    }

    /// The viewer at the other end of one side of a connection, once known.
    pub fn remote_viewer(&self, end: End) -> Option<ViewerId> {
        self.conns.get(&end)?.remote.map(|(viewer, _)| viewer)
    }

    /// Whether `viewer` corrupts what it uploads.
    pub fn corrupts(&self, viewer: ViewerId) -> bool {
        self.uplinks
            .get(viewer)
            .is_some_and(|u| u.profile.corrupt_uploads.is_some())
    }

    /// One-way delay between two viewers.
    fn latency(&self, a: ViewerId, b: ViewerId) -> Duration {
        self.uplinks[a].profile.latency + self.uplinks[b].profile.latency
    }

    /// Segment bytes `viewer` has sent to peers.
    pub fn uploaded_bytes(&self, viewer: ViewerId) -> u64 {
        self.uplinks[viewer].uploaded_bytes
    }

    pub fn create_offer(&mut self, now: Instant, end: End, queue: &mut EventQueue<SimEvent>) {
        self.conns.insert(end, Conn::new(None));
        let at = now + self.config.sdp_delay;
        queue.push(at, SimEvent::Net(NetEvent::OfferReady(end)));
    }

    pub fn accept_offer(
        &mut self,
        now: Instant,
        end: End,
        offer: &str,
        queue: &mut EventQueue<SimEvent>,
    ) {
        let Some(offerer) = parse_sdp(offer) else {
            self.violations
                .push(format!("viewer {}: AcceptOffer with a foreign SDP", end.0));
            return;
        };
        self.conns.insert(end, Conn::new(Some(offerer)));
        let at = now + self.config.sdp_delay;
        queue.push(at, SimEvent::Net(NetEvent::AnswerReady(end)));
        if !self.conns.contains_key(&offerer) {
            // The offerer closed its side already: ICE will never connect.
            let at = now + self.config.failure_notice;
            queue.push(at, SimEvent::Net(NetEvent::Closed(end)));
        }
    }

    pub fn apply_answer(
        &mut self,
        now: Instant,
        end: End,
        answer: &str,
        queue: &mut EventQueue<SimEvent>,
    ) {
        if !self.conns.contains_key(&end) {
            return; // closed meanwhile: the shim ignores it too
        }
        let Some(answerer) = parse_sdp(answer) else {
            self.violations
                .push(format!("viewer {}: ApplyAnswer with a foreign SDP", end.0));
            return;
        };
        match self.conns.get(&answerer).map(|c| c.remote) {
            Some(remote) if remote == Some(end) => {
                self.conns.get_mut(&end).expect("checked above").remote = Some(answerer);
                let at = now + self.config.connect_delay;
                queue.push(at, SimEvent::Net(NetEvent::Open(end, answerer)));
            }
            Some(_) => self.violations.push(format!(
                "viewer {} connection {}: applied the answer to another offer",
                end.0, end.1 .0
            )),
            None => {
                // The answering side closed meanwhile: ICE will never connect.
                let at = now + self.config.failure_notice;
                queue.push(at, SimEvent::Net(NetEvent::Closed(end)));
            }
        }
    }

    /// The core closed its side (`ClosePeer`): the other side hears of it, no input comes
    /// back except the end of a waiting upload, as the shim's close event wakes it.
    pub fn close(&mut self, now: Instant, end: End, queue: &mut EventQueue<SimEvent>) {
        if self.forget(now, end, queue) {
            self.finish_waiting_upload(now, end, queue);
        }
    }

    /// Removes one side, telling whoever is connected or connecting to it; false if unknown.
    fn forget(&mut self, now: Instant, end: End, queue: &mut EventQueue<SimEvent>) -> bool {
        let Some(conn) = self.conns.remove(&end) else {
            return false;
        };
        for ended in conn.watch.close() {
            self.record(now, end, conn.remote, ended);
        }
        if let Some(remote) = conn.remote {
            if self
                .conns
                .get(&remote)
                .is_some_and(|c| c.remote == Some(end))
            {
                let delay = if conn.open {
                    self.latency(end.0, remote.0)
                } else {
                    self.config.failure_notice
                };
                queue.push(now + delay, SimEvent::Net(NetEvent::Closed(remote)));
            }
        }
        // Sides that answered our offer and wait for us to apply their answer.
        let waiting: Vec<End> = self
            .conns
            .iter()
            .filter(|(&e, c)| c.remote == Some(end) && Some(e) != conn.remote)
            .map(|(&e, _)| e)
            .collect();
        for side in waiting {
            let at = now + self.config.failure_notice;
            queue.push(at, SimEvent::Net(NetEvent::Closed(side)));
        }
        true
    }

    fn record(
        &mut self,
        now: Instant,
        (viewer, connection): End,
        remote: Option<End>,
        ended: Ended,
    ) {
        self.downloads.push(DownloadRecord {
            viewer,
            connection,
            peer: remote.map_or(usize::MAX, |r| r.0),
            segment: ended.segment,
            requested_at: ended.requested_at,
            ended_at: now,
            received_bytes: ended.received_bytes,
            end: ended.end,
        });
    }

    /// Sends the core's messages on an open channel (the shim drops them otherwise); returns
    /// the commands they carried.
    pub fn send(
        &mut self,
        now: Instant,
        end: End,
        messages: Vec<Bytes>,
        queue: &mut EventQueue<SimEvent>,
    ) -> Vec<PeerCommand> {
        let mut commands = Vec::new();
        if !self.conns.get(&end).is_some_and(|c| c.open) {
            return commands;
        }
        for Bytes(message) in messages {
            let conn = self.conns.get_mut(&end).expect("checked above");
            let remote = conn.remote;
            match conn.watch.on_sent(now, &message) {
                Ok(Sent::Command(command, ended)) => {
                    if let Some(ended) = ended {
                        self.record(now, end, remote, ended);
                    }
                    commands.push(command);
                }
                Ok(Sent::Part) => {}
                Ok(Sent::Bytes) | Err(_) => self.violations.push(format!(
                    "viewer {} sent a message that is not a command frame with PeerSend",
                    end.0
                )),
            }
            self.transmit(now, end, message, queue);
        }
        commands
    }

    /// Puts one message on the wire of an open channel; returns when it leaves the uplink
    /// (`None`: it never does).
    fn transmit(
        &mut self,
        now: Instant,
        end: End,
        message: Vec<u8>,
        queue: &mut EventQueue<SimEvent>,
    ) -> Option<Instant> {
        let link_bytes_per_s = self.config.link_bytes_per_s;
        let remote = self.conns.get(&end)?.remote?;
        let latency = self.latency(end.0, remote.0);
        let uplink = &mut self.uplinks[end.0];
        let conn = self.conns.get_mut(&end)?;
        if !conn.open {
            return None;
        }
        let bytes = message.len() as u64;
        if uplink.stuck {
            conn.queued.push_back((None, bytes));
            return None;
        }
        let up_done =
            now.max(uplink.free_at) + transfer_time(bytes, uplink.profile.upload_bytes_per_s);
        uplink.free_at = up_done;
        let link_done = up_done.max(conn.link_free_at) + transfer_time(bytes, link_bytes_per_s);
        conn.link_free_at = link_done;
        conn.queued.push_back((Some(link_done), bytes));
        let deliver = NetEvent::Deliver {
            from: end,
            to: remote,
            bytes: message,
        };
        queue.push(link_done + latency, SimEvent::Net(deliver));
        Some(up_done)
    }

    /// The viewer's tab is gone: every connection closes, the other sides hear of it.
    pub fn vanish(&mut self, now: Instant, viewer: ViewerId, queue: &mut EventQueue<SimEvent>) {
        self.uplinks[viewer].stuck = true;
        let ends: Vec<End> = self
            .conns
            .keys()
            .filter(|(v, _)| *v == viewer)
            .copied()
            .collect();
        for end in ends {
            self.forget(now, end, queue);
        }
        self.uploads.retain(|_, u| u.end.0 != viewer);
    }

    /// Carries out a due network event; returns the inputs for viewers, in order.
    pub fn handle(
        &mut self,
        now: Instant,
        event: NetEvent,
        queue: &mut EventQueue<SimEvent>,
    ) -> Vec<(ViewerId, Input)> {
        match event {
            NetEvent::OfferReady(end) => self
                .conns
                .contains_key(&end)
                .then(|| {
                    let sdp = sdp("actpass", end);
                    let input = Input::OfferCreated {
                        connection: end.1,
                        sdp,
                    };
                    (end.0, input)
                })
                .into_iter()
                .collect(),
            NetEvent::AnswerReady(end) => self
                .conns
                .contains_key(&end)
                .then(|| {
                    let sdp = sdp("active", end);
                    let input = Input::AnswerCreated {
                        connection: end.1,
                        sdp,
                    };
                    (end.0, input)
                })
                .into_iter()
                .collect(),
            NetEvent::Open(a, b) => {
                let paired = |x: End, y: End, conns: &BTreeMap<End, Conn>| {
                    conns.get(&x).is_some_and(|c| c.remote == Some(y))
                };
                if !paired(a, b, &self.conns) || !paired(b, a, &self.conns) {
                    return Vec::new();
                }
                let mut inputs = Vec::new();
                for end in [a, b] {
                    let conn = self.conns.get_mut(&end).expect("paired");
                    conn.open = true;
                    conn.link_free_at = now;
                    inputs.push((end.0, Input::PeerOpened { connection: end.1 }));
                }
                inputs
            }
            NetEvent::Deliver { from, to, bytes } => self.deliver(now, from, to, bytes),
            NetEvent::Closed(end) => {
                if !self.forget(now, end, queue) {
                    return Vec::new();
                }
                // A waiting upload reports after the close, as the shim's loop wakes on it.
                self.finish_waiting_upload(now, end, queue);
                vec![(end.0, Input::PeerClosed { connection: end.1 })]
            }
            NetEvent::UploadStep(id) => {
                if self.uploads.contains_key(&id) {
                    self.run_upload(now, id, queue);
                }
                Vec::new()
            }
        }
    }

    fn deliver(
        &mut self,
        now: Instant,
        from: End,
        to: End,
        bytes: Vec<u8>,
    ) -> Vec<(ViewerId, Input)> {
        let Some(conn) = self.conns.get_mut(&to) else {
            return Vec::new();
        };
        if !conn.open || conn.remote != Some(from) {
            return Vec::new();
        }
        let remote = conn.remote;
        let upload = conn.upload;
        match conn.watch.on_received(&bytes) {
            Ok((command, ended)) => {
                if let Some(ended) = ended {
                    self.record(now, to, remote, ended);
                }
                if let Some(PeerCommand::CancelSegmentRequest { request, .. }) = command {
                    // The core must stop the upload it is doing for that request now.
                    let serving = upload.and_then(|id| self.uploads.get(&id));
                    if serving.is_some_and(|u| u.request == Some(request) && !u.stopped) {
                        self.cancelled_uploads
                            .push((to, upload.expect("found above")));
                        self.waiting_uploads_cancelled += 1;
                    }
                }
            }
            Err(error) => self.violations.push(format!(
                "t={:.3}s: viewer {} received a malformed message from viewer {}: {error:?}",
                secs(now),
                to.0,
                from.0
            )),
        }
        let input = Input::PeerMessage {
            connection: to.1,
            bytes,
        };
        vec![(to.0, input)]
    }
}
