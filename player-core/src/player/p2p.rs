//! The player's P2P side: joining the swarm of the level being played through the trackers,
//! the peer connections and their conversations, deciding per segment and per moment
//! whether HTTP or which peer delivers it, serving peers from the segment store, and the
//! traffic statistics.
//!
//! The policy, in short (the scheduling issue's rules):
//! - A segment needed within the *urgency window* goes to HTTP, unless a peer that has
//!   already proven fast will deliver it well in time. The window is what recovering over
//!   HTTP would take if a peer failed at the worst moment: the P2P stall timeout plus twice
//!   the measured HTTP time of the segment. It is measured from the playhead, so a thin
//!   buffer puts the next segments inside it.
//! - Farther segments go to the best-ranked peer that has them (measured throughput over one
//!   plus its failures: stalls, late transfers), when it would finish early enough that HTTP
//!   could still take over. At most `max_concurrent_p2p` peer downloads, one per peer.
//! - A segment no peer has and no peer is loading over HTTP is fetched over HTTP a little
//!   before it becomes urgent, at a point spread at random per viewer and segment, so that
//!   in a swarm one viewer fetches it and the others take it from that viewer. With peers
//!   connected HTTP does not prefetch further; with none, behaviour is plain HTTP.
//! - A peer transfer that stalls or would miss its deadline is cancelled and HTTP resumes
//!   from the bytes already received.
//!
//! A peer that breaks the protocol (its session's limits, a segment length the playlist
//! contradicts) or sends bad bytes (verify.rs) is dropped and banned by peer id for the
//! session; [`Bans`] keeps why, for the stats.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::P2pConfig;
use crate::hls::{ByteRange, Segment};
use crate::p2p::session::{PeerSession, SessionEvent, Violation};
use crate::p2p::store::{SegmentStore, StoredSegment};
use crate::p2p::wire::{SegmentId, WireRequestId, MAX_MESSAGE_BYTES};
use crate::schedule::BandwidthEstimator;
use crate::swarm::id::{self, StreamType};
use crate::swarm::{ConnectionId, TrackerAction, TrackerClient, TrackerConfig};
use crate::time::{Duration, Instant};

use super::io::{
    Ban, BanKind, Bytes, Event, FetchOrder, FetchPurpose, Output, Stats, MAX_LISTED_BANS,
};
use super::lane::Lane;
use super::verify::{BodySource, PeerSource};
use super::{InFlight, Player, RequestId, RequestKind, Slot};

/// How often traffic statistics are reported.
const STATS_INTERVAL: Duration = Duration::from_secs(1);

/// Time to first byte assumed for a request, on top of the transfer itself.
const REQUEST_LATENCY_S: f64 = 0.25;

/// Margin kept between a predicted finish and the moment the segment is needed.
const DEADLINE_MARGIN_S: f64 = 0.5;

/// A transfer's own rate is trusted after this long; before, it is mostly the request's round
/// trip (one 16 KiB chunk after 70 ms reads as 1.8 Mbit/s from a 12 Mbit/s peer), and the
/// peer's estimate stands in.
const TRANSFER_RATE_AFTER_S: f64 = 1.0;

/// A peer counts as proven after this many delivered segments without a failure since.
const PROVEN_AFTER_DELIVERIES: u32 = 2;

/// Upper bound of the random head start HTTP takes over urgency for a segment no peer has,
/// in target durations: bounds HTTP prefetch while peers are connected. One target duration:
/// viewers a few seconds apart then nearly always leave the fetch to the one ahead (with 3,
/// the second of four demo viewers 4 s apart raced the first and got only 43% from peers in
/// one browser run; with 1, 73% in two runs), while viewers at the same position still
/// spread it.
const HTTP_SPREAD_TARGET_DURATIONS: f64 = 1.0;

/// After joining a swarm where a remote peer answered (so there is someone to share with),
/// HTTP prefetch beyond the urgency window waits up to this long for the connection to open
/// (ICE) before behaving as plain HTTP: otherwise every viewer joining a swarm would fill its
/// whole forward buffer from the origin at start. A lone viewer never waits.
const PEER_DISCOVERY_GRACE: Duration = Duration::from_secs(3);

/// Raw segment bytes per data-channel message when uploading (the command frames use the
/// same bound).
const UPLOAD_CHUNK_BYTES: usize = 16 * 1024;

#[derive(Debug)]
pub(super) struct Peer {
    session: PeerSession,
    /// The data channel is open (before that the connection is being negotiated).
    open: bool,
    /// A remote peer took part in the negotiation (sent us an offer or answered ours).
    remote_known: bool,
    bandwidth: BandwidthEstimator,
    delivered: u32,
    failures: u32,
    /// `UploadSegment`s ordered and not yet reported finished: the host reports a replaced
    /// upload only when its loop wakes, after the upload that replaced it started.
    uploads: u32,
}

impl Peer {
    fn new() -> Self {
        Peer {
            session: PeerSession::new(),
            open: false,
            remote_known: false,
            bandwidth: BandwidthEstimator::new(),
            delivered: 0,
            failures: 0,
            uploads: 0,
        }
    }

    fn estimate_bps(&self, config: &P2pConfig) -> f64 {
        self.bandwidth
            .estimate_bps()
            .unwrap_or(config.untested_peer_bps as f64)
    }

    fn proven(&self) -> bool {
        self.delivered >= PROVEN_AFTER_DELIVERIES && self.failures == 0
    }

    /// How much the scheduler prefers this peer: its measured throughput, divided by one
    /// plus its failures (stalls, late transfers, bad bytes), so that of two peers equally
    /// fast the one that failed loses, and one that keeps failing loses to slower clean ones.
    fn rank(&self, config: &P2pConfig) -> f64 {
        self.estimate_bps(config) / (1.0 + self.failures as f64)
    }
}

/// A segment being downloaded from a peer. Its slot is `Fetching` with the same request id.
#[derive(Debug)]
pub(super) struct PeerDownload {
    connection: ConnectionId,
    segment: usize,
    started: Instant,
    last_bytes_at: Instant,
    received_bytes: u64,
    total_bytes: Option<u64>,
}

#[derive(Debug, Default)]
pub(super) struct Traffic {
    /// From the origin and mirrors.
    http_bytes: u64,
    /// The mirrors' part of `http_bytes`.
    mirror_bytes: u64,
    p2p_down_bytes: u64,
    p2p_up_bytes: u64,
    /// Counters at the last report, for the speeds.
    reported: (u64, u64, u64),
    reported_at: Option<Instant>,
}

#[derive(Debug)]
pub(super) struct Swarm {
    tracker: TrackerClient,
    peers: BTreeMap<ConnectionId, Peer>,
    downloads: BTreeMap<RequestId, PeerDownload>,
    store: SegmentStore,
    next_wire_request: WireRequestId,
    last_announcement: Option<(Vec<SegmentId>, Vec<SegmentId>)>,
    /// Seed of the per-segment HTTP spread.
    spread_seed: u64,
    joined_at: Instant,
}

impl Swarm {
    /// Peers whose data channel is open.
    fn open_peer_count(&self) -> usize {
        self.peers.values().filter(|p| p.open).count()
    }

    /// The request of our download from `connection` (one per peer), if any.
    fn download_from(&self, connection: ConnectionId) -> Option<RequestId> {
        self.downloads
            .iter()
            .find(|(_, d)| d.connection == connection)
            .map(|(&request, _)| request)
    }
}

/// Peers banned for the session (by peer id: a banned peer may come back on a new
/// connection), and why, for the stats.
#[derive(Debug, Default)]
pub(super) struct Bans {
    peers: BTreeSet<[u8; 20]>,
    listed: Vec<Ban>,
}

impl Bans {
    pub(super) fn contains(&self, peer_id: &[u8; 20]) -> bool {
        self.peers.contains(peer_id)
    }

    /// Bans `peer_id`; the first reason given for a peer is the one kept.
    pub(super) fn ban(&mut self, peer_id: [u8; 20], kind: BanKind, reason: &str) {
        if !self.peers.insert(peer_id) || self.listed.len() >= MAX_LISTED_BANS {
            return;
        }
        let peer = peer_id[16..].iter().map(|b| format!("{b:02x}")).collect();
        self.listed.push(Ban {
            peer,
            kind,
            reason: reason.to_owned(),
        });
    }
}

/// The ban code of a protocol violation.
fn ban_kind(violation: &Violation) -> BanKind {
    match violation {
        Violation::Wire(_) => BanKind::MalformedMessage,
        Violation::UnexpectedBytes => BanKind::UnexpectedBytes,
        Violation::UnrequestedData { .. } => BanKind::UnrequestedData,
        Violation::TooManyBytes { .. } => BanKind::TooManyBytes,
        Violation::WrongCompletion => BanKind::WrongCompletion,
        Violation::OversizedAnnouncement { .. } => BanKind::OversizedAnnouncement,
        Violation::AnnouncementFlood => BanKind::AnnouncementFlood,
        Violation::RequestFlood => BanKind::RequestFlood,
        Violation::UnofferedRequests => BanKind::UnofferedRequests,
    }
}

/// What the scheduler decided for one idle segment.
enum Source {
    Http,
    Peer(ConnectionId),
    Wait,
}

impl Player {
    /// Statistics are reported whether P2P is on or not: the HTTP side matters on its own.
    pub(super) fn report_stats_if_due(&mut self) {
        if self.stream.is_none() {
            return;
        }
        let now = self.now;
        let peers = self.open_peer_count();
        let traffic = &mut self.traffic;
        if traffic
            .reported_at
            .is_some_and(|at| now < at + STATS_INTERVAL)
        {
            return;
        }
        let elapsed_s = traffic
            .reported_at
            .map_or(0.0, |at| now.saturating_since(at).as_secs_f64());
        let speed = |bytes: u64, before: u64| {
            if elapsed_s > 0.0 {
                (bytes - before) as f64 * 8.0 / elapsed_s
            } else {
                0.0
            }
        };
        let (http_before, down_before, up_before) = traffic.reported;
        let stats = Stats {
            http_bytes: traffic.http_bytes,
            http_bps: speed(traffic.http_bytes, http_before),
            mirror_bytes: traffic.mirror_bytes,
            p2p_down_bytes: traffic.p2p_down_bytes,
            p2p_down_bps: speed(traffic.p2p_down_bytes, down_before),
            p2p_up_bytes: traffic.p2p_up_bytes,
            p2p_up_bps: speed(traffic.p2p_up_bytes, up_before),
            peers,
            bans: self.bans.listed.clone(),
            bans_total: self.bans.peers.len(),
        };
        traffic.reported = (
            traffic.http_bytes,
            traffic.p2p_down_bytes,
            traffic.p2p_up_bytes,
        );
        traffic.reported_at = Some(now);
        self.event(Event::Stats(stats));
    }

    pub(super) fn next_stats_at(&self) -> Option<Instant> {
        self.stream.as_ref()?;
        Some(
            self.traffic
                .reported_at
                .map_or(self.now, |at| at + STATS_INTERVAL),
        )
    }

    pub(super) fn count_http_bytes(&mut self, bytes: u64, from_mirror: bool) {
        self.traffic.http_bytes += bytes;
        if from_mirror {
            self.traffic.mirror_bytes += bytes;
        }
    }

    fn open_peer_count(&self) -> usize {
        self.swarm.as_ref().map_or(0, Swarm::open_peer_count)
    }

    /// The viewer and the configuration want P2P.
    pub(super) fn p2p_requested(&self) -> bool {
        self.p2p_enabled && !self.config.p2p.trackers.is_empty() && !self.stopped
    }

    /// P2P is requested, the integrity policy lets it run (verify.rs), and peers' bytes did
    /// not kill the media element too often (recover.rs).
    fn p2p_wanted(&self) -> bool {
        self.p2p_requested() && self.integrity_allows_p2p() && !self.recovery.peers_refused
    }

    fn upload_allowed(&self) -> bool {
        self.config.p2p.upload.unwrap_or(!self.network_metered)
    }

    /// Joins the swarm of the level being played, if P2P is wanted and not joined yet.
    pub(super) fn join_swarm_if_wanted(&mut self) {
        if self.swarm.is_some() || !self.p2p_wanted() {
            return;
        }
        let Some(stream) = self.stream.as_ref() else {
            return;
        };
        let Some(identity) = self.swarm_identity(stream.level) else {
            return;
        };
        let config = TrackerConfig {
            urls: self.config.p2p.trackers.clone(),
            max_connections: self.config.p2p.max_peers,
            ..TrackerConfig::default()
        };
        let (info_hash, peer_id) = identity;
        let tracker = TrackerClient::new(config, info_hash, peer_id, self.seed, self.now);
        self.swarm = Some(Swarm {
            tracker,
            peers: BTreeMap::new(),
            downloads: BTreeMap::new(),
            store: SegmentStore::new(self.config.p2p.store_max_bytes),
            next_wire_request: 1,
            last_announcement: None,
            spread_seed: self.seed ^ 0x9e37_79b9_7f4a_7c15,
            joined_at: self.now,
        });
    }

    /// The info hash of the level's swarm and our peer id.
    fn swarm_identity(&self, level: usize) -> Option<([u8; 20], [u8; 20])> {
        let stream_swarm_id = self.stream_swarm_id(level)?;
        let info_hash = id::info_hash(&stream_swarm_id);
        let mut rng = fastrand::Rng::with_seed(self.seed);
        Some((info_hash, id::new_peer_id(&mut rng)))
    }

    /// The swarm p2p-media-loader (or PeerTube's player) would put a viewer of this level in.
    fn stream_swarm_id(&self, level: usize) -> Option<String> {
        let variant = self.variants.get(level);
        if let Some(uuid) = self.config.p2p.peertube_video_uuid.as_deref() {
            let resolution = variant.and_then(|v| v.resolution).map_or(0, |r| r.height);
            let resolution = u32::try_from(resolution).unwrap_or(0);
            return Some(id::peertube_stream_swarm_id(
                uuid,
                StreamType::Main,
                resolution,
            ));
        }
        // The URL as requested: redirects are not visible to the core, so a swarm behind a
        // redirect needs `swarmId` to meet p2p-media-loader viewers.
        let source_url = self.source_url.as_deref()?;
        let swarm_id = match self.config.p2p.swarm_id.as_deref() {
            Some(swarm_id) => swarm_id,
            None => id::manifest_swarm_id(source_url),
        };
        let short_id = match variant {
            Some(variant) => id::variant_short_id(variant),
            None => id::media_playlist_short_id(),
        };
        Some(id::stream_swarm_id(swarm_id, StreamType::Main, &short_id))
    }

    /// Leaves the swarm: `stopped` to the trackers, every peer closed, peer downloads handed
    /// back to the scheduler, stored bodies kept only where an append still needs them.
    pub(super) fn leave_swarm(&mut self) {
        let Some(mut swarm) = self.swarm.take() else {
            return;
        };
        swarm.tracker.leave(self.now);
        self.carry_out_tracker_actions(&mut swarm);
        for connection in swarm.peers.keys() {
            self.outputs.push_back(Output::ClosePeer {
                connection: *connection,
            });
        }
        for request in swarm.downloads.keys() {
            if let Some(slot) = self
                .stream
                .as_mut()
                .and_then(|s| s.slots.find_request(*request))
            {
                *slot = Slot::NEW;
            }
        }
        for body in swarm.store.clear() {
            if !self.body_awaits_append(body) {
                self.outputs
                    .push_back(Output::ReleaseBody { request: body });
            }
        }
    }

    fn body_awaits_append(&mut self, body: RequestId) -> bool {
        self.stream
            .as_mut()
            .and_then(|s| s.slots.find_request(body))
            .is_some()
    }

    /// Turns what the tracker client wants into orders for the host.
    fn carry_out_tracker_actions(&mut self, swarm: &mut Swarm) {
        while let Some(action) = swarm.tracker.poll_action() {
            let output = match action {
                TrackerAction::OpenSocket { tracker, url } => {
                    Output::TrackerConnect { tracker, url }
                }
                TrackerAction::Send { tracker, text } => Output::TrackerSend { tracker, text },
                TrackerAction::CloseSocket { tracker } => Output::TrackerClose { tracker },
                TrackerAction::CreateOffer { connection } => {
                    swarm.peers.insert(connection, Peer::new());
                    Output::CreateOffer { connection }
                }
                TrackerAction::AcceptOffer { connection, sdp } => {
                    let mut peer = Peer::new();
                    peer.remote_known = true;
                    swarm.peers.insert(connection, peer);
                    Output::AcceptOffer { connection, sdp }
                }
                TrackerAction::ApplyAnswer { connection, sdp } => {
                    if let Some(peer) = swarm.peers.get_mut(&connection) {
                        peer.remote_known = true;
                    }
                    Output::ApplyAnswer { connection, sdp }
                }
                TrackerAction::CloseConnection { connection } => {
                    swarm.peers.remove(&connection);
                    Output::ClosePeer { connection }
                }
                // Tracker trouble never reaches the viewer as an error: P2P is optional.
                TrackerAction::Warning { .. } => continue,
            };
            self.outputs.push_back(output);
        }
    }

    /// Runs `f` on the swarm, then carries out whatever the tracker client wants.
    fn with_swarm(&mut self, f: impl FnOnce(&mut Player, &mut Swarm)) {
        let Some(mut swarm) = self.swarm.take() else {
            return;
        };
        f(self, &mut swarm);
        self.carry_out_tracker_actions(&mut swarm);
        self.swarm = Some(swarm);
    }

    /// Inputs about trackers and peers.
    pub(super) fn handle_p2p_input(&mut self, input: super::Input) {
        use super::Input;
        let now = self.now;
        match input {
            Input::SetP2p { enabled } => {
                self.p2p_enabled = enabled;
                if !enabled {
                    self.leave_swarm();
                }
            }
            Input::Network {
                save_data,
                cellular,
            } => self.network_metered = save_data || cellular,
            Input::Unload => {
                self.leave_swarm();
                self.p2p_enabled = false;
            }
            Input::TrackerOpened { tracker } => {
                self.with_swarm(|_, s| s.tracker.handle_socket_opened(now, tracker))
            }
            Input::TrackerMessage { tracker, text } => {
                self.with_swarm(|_, s| s.tracker.handle_socket_message(now, tracker, &text))
            }
            Input::TrackerClosed { tracker } => {
                self.with_swarm(|_, s| s.tracker.handle_socket_closed(now, tracker))
            }
            Input::OfferCreated { connection, sdp } => {
                self.with_swarm(|_, s| s.tracker.handle_offer_created(now, connection, sdp))
            }
            Input::AnswerCreated { connection, sdp } => {
                self.with_swarm(|_, s| s.tracker.handle_answer_created(now, connection, sdp))
            }
            Input::PeerOpened { connection } => {
                self.with_swarm(|p, s| p.on_peer_opened(s, connection))
            }
            Input::PeerMessage { connection, bytes } => {
                self.with_swarm(|p, s| p.on_peer_message(s, connection, &bytes))
            }
            Input::PeerClosed { connection } => self.with_swarm(|p, s| {
                if s.peers.contains_key(&connection) {
                    p.drop_peer(s, connection, "connection closed".into(), None);
                }
            }),
            Input::UploadFinished {
                connection,
                sent_bytes,
                ..
            } => {
                self.traffic.p2p_up_bytes += sent_bytes;
                if let Some(peer) = self
                    .swarm
                    .as_mut()
                    .and_then(|s| s.peers.get_mut(&connection))
                {
                    peer.uploads = peer.uploads.saturating_sub(1);
                    if peer.uploads == 0 {
                        peer.session.upload_finished();
                    }
                }
            }
            _ => unreachable!("only P2P inputs are routed here"),
        }
    }

    fn on_peer_opened(&mut self, swarm: &mut Swarm, connection: ConnectionId) {
        swarm.tracker.handle_connection_opened(self.now, connection);
        let banned = swarm
            .tracker
            .remote_peer_id(connection)
            .is_some_and(|id| self.bans.contains(&id));
        if banned {
            return self.drop_peer(swarm, connection, "banned earlier".into(), None);
        }
        let Some(peer) = swarm.peers.get_mut(&connection) else {
            // Already dropped (expired offer): the host closes what it opened late.
            self.outputs.push_back(Output::ClosePeer { connection });
            return;
        };
        peer.open = true;
        let (loaded, http_loading) = self.announcement(swarm);
        let messages = swarm
            .peers
            .get_mut(&connection)
            .map(|peer| peer.session.announce(&loaded, &http_loading))
            .unwrap_or_default();
        self.send(connection, messages);
        let peers = swarm.open_peer_count();
        self.event(Event::PeerConnected { connection, peers });
    }

    fn send(&mut self, connection: ConnectionId, messages: Vec<Vec<u8>>) {
        if messages.is_empty() {
            return;
        }
        let messages = messages.into_iter().map(Bytes).collect();
        self.outputs.push_back(Output::PeerSend {
            connection,
            messages,
        });
    }

    /// Drops a peer: its download goes back to the scheduler (resumed over HTTP when it had
    /// bytes), and a peer that broke the protocol (`ban`) is banned for the session.
    fn drop_peer(
        &mut self,
        swarm: &mut Swarm,
        connection: ConnectionId,
        reason: String,
        ban: Option<BanKind>,
    ) {
        let Some(mut peer) = swarm.peers.remove(&connection) else {
            return;
        };
        if let (Some(kind), Some(id)) = (ban, swarm.tracker.remote_peer_id(connection)) {
            self.bans.ban(id, kind, &reason);
        }
        swarm.tracker.handle_connection_closed(self.now, connection);
        if let Some(request) = swarm.download_from(connection) {
            let (received, _) = peer.session.cancel_download();
            // A violating peer's bytes are not trusted as a prefix.
            let prefix = if ban.is_some() { Vec::new() } else { received };
            self.abandon_peer_download(swarm, request, prefix);
        }
        self.outputs.push_back(Output::ClosePeer { connection });
        let peers = swarm.open_peer_count();
        self.event(Event::PeerDropped {
            connection,
            reason,
            peers,
        });
    }

    /// Drops a peer that sent bad segment bytes (verify.rs), if it is still connected under
    /// the same peer id; the ban on the id is already recorded.
    pub(super) fn drop_banned_peer(
        &mut self,
        connection: ConnectionId,
        peer_id: Option<[u8; 20]>,
        kind: BanKind,
        reason: String,
    ) {
        self.with_swarm(|player, swarm| {
            let same = swarm.tracker.remote_peer_id(connection) == peer_id;
            let Some(peer) = swarm.peers.get_mut(&connection).filter(|_| same) else {
                return;
            };
            peer.failures += 1;
            player.drop_peer(swarm, connection, reason, Some(kind));
        });
    }

    fn on_peer_message(&mut self, swarm: &mut Swarm, connection: ConnectionId, bytes: &[u8]) {
        let Some(peer) = swarm.peers.get_mut(&connection) else {
            return;
        };
        match peer.session.handle_message(self.now, bytes) {
            Ok(None) => {}
            Ok(Some(event)) => self.on_session_event(swarm, connection, event),
            Err(violation) => self.on_violation(swarm, connection, violation),
        }
    }

    fn on_violation(&mut self, swarm: &mut Swarm, connection: ConnectionId, violation: Violation) {
        self.drop_peer(
            swarm,
            connection,
            format!("protocol violation: {violation}"),
            Some(ban_kind(&violation)),
        );
    }

    fn on_session_event(
        &mut self,
        swarm: &mut Swarm,
        connection: ConnectionId,
        event: SessionEvent,
    ) {
        let now = self.now;
        match event {
            SessionEvent::Announced => {}
            SessionEvent::SegmentRequested {
                segment,
                request,
                resume_from_bytes,
            } => self.serve_request(swarm, connection, segment, request, resume_from_bytes),
            SessionEvent::UploadCancelled => {
                self.outputs.push_back(Output::StopUpload { connection });
            }
            SessionEvent::Discarded { bytes } => self.traffic.p2p_down_bytes += bytes,
            SessionEvent::DownloadProgress {
                segment,
                received_bytes,
                total_bytes,
            } => {
                let expected = self.segment_length(segment);
                let Some(download) = swarm
                    .download_from(connection)
                    .and_then(|request| swarm.downloads.get_mut(&request))
                else {
                    return;
                };
                self.traffic.p2p_down_bytes += received_bytes - download.received_bytes;
                download.received_bytes = received_bytes;
                download.total_bytes = Some(total_bytes);
                download.last_bytes_at = now;
                if expected.is_some_and(|length| length != total_bytes) {
                    let violation = format!(
                        "announced {total_bytes} bytes for segment {segment}, the playlist says {}",
                        expected.unwrap_or_default()
                    );
                    self.drop_peer(swarm, connection, violation, Some(BanKind::WrongLength));
                }
            }
            SessionEvent::DownloadComplete { segment, bytes } => {
                self.on_peer_download_complete(swarm, connection, segment, bytes)
            }
            SessionEvent::DownloadAbsent { segment } => {
                if let Some(request) = swarm.download_from(connection) {
                    swarm.downloads.remove(&request);
                    self.reset_slot(request);
                }
                if let Some(peer) = swarm.peers.get_mut(&connection) {
                    peer.session.forget_segment(segment);
                }
            }
        }
    }

    /// The playlist's length of a segment when it is a byte range (a peer must agree).
    fn segment_length(&self, segment: SegmentId) -> Option<u64> {
        let stream = self.stream.as_ref()?;
        let index = stream.index_of(segment)?;
        stream
            .playlist
            .segments
            .get(index)?
            .byte_range
            .map(|r| r.length)
    }

    fn serve_request(
        &mut self,
        swarm: &mut Swarm,
        connection: ConnectionId,
        segment: SegmentId,
        request: WireRequestId,
        resume_from_bytes: Option<u64>,
    ) {
        let stored = swarm.store.get(segment).filter(|_| self.upload_allowed());
        let Some(peer) = swarm.peers.get_mut(&connection) else {
            return;
        };
        let Some(stored) = stored else {
            let messages = peer.session.absent(segment, request);
            return self.send(connection, messages);
        };
        swarm.store.note_served(segment);
        let from_byte = resume_from_bytes.unwrap_or(0).min(stored.bytes);
        let (header, footer) =
            peer.session
                .upload_frames(segment, request, stored.bytes - from_byte);
        peer.uploads += 1;
        self.outputs.push_back(Output::UploadSegment {
            connection,
            body: stored.body,
            from_byte,
            chunk_bytes: UPLOAD_CHUNK_BYTES.min(MAX_MESSAGE_BYTES),
            header: header.into_iter().map(Bytes).collect(),
            footer: footer.into_iter().map(Bytes).collect(),
        });
    }

    fn on_peer_download_complete(
        &mut self,
        swarm: &mut Swarm,
        connection: ConnectionId,
        segment: SegmentId,
        bytes: Vec<u8>,
    ) {
        let Some(request) = swarm.download_from(connection) else {
            return;
        };
        let download = swarm.downloads.remove(&request).expect("found above");
        let byte_count = bytes.len() as u64;
        if let Some(peer) = swarm.peers.get_mut(&connection) {
            peer.bandwidth
                .sample(self.now.saturating_since(download.started), byte_count);
            peer.delivered += 1;
        }
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        let index = download.segment;
        if stream.segment_id(index) != segment {
            return;
        }
        let source = PeerSource {
            connection,
            peer_id: swarm.tracker.remote_peer_id(connection),
        };
        // Like an HTTP body: checked against the integrity file if there is one, then the
        // append keeps it for peers and the store ledger needs its size.
        self.outputs.push_back(Output::StoreBytes {
            request,
            bytes: Bytes(bytes),
        });
        self.receive_segment(request, index, byte_count, Some(BodySource::Peer(source)));
    }

    /// Gives a peer download's slot back: to HTTP resuming after `prefix` when there is one,
    /// to the scheduler otherwise.
    fn abandon_peer_download(&mut self, swarm: &mut Swarm, request: RequestId, prefix: Vec<u8>) {
        let Some(download) = swarm.downloads.remove(&request) else {
            return;
        };
        let Some(stream) = self.stream.as_ref() else {
            return;
        };
        let segment = &stream.playlist.segments[download.segment];
        let total = segment
            .byte_range
            .map(|r| r.length)
            .or(download.total_bytes);
        // `max_concurrent_http` holds for resumes too: without a free slot the segment
        // starts over once one frees.
        let http_free = self.http_media_in_flight() < self.config.max_concurrent_http.max(1);
        let resume = match total {
            Some(total) if http_free && !prefix.is_empty() && (prefix.len() as u64) < total => {
                resume_range(segment, prefix.len() as u64, total)
            }
            _ => None,
        };
        let Some(range) = resume else {
            return self.reset_slot(request);
        };
        let url = segment.uri.clone();
        self.outputs.push_back(Output::StoreBytes {
            request,
            bytes: Bytes(prefix),
        });
        let deadline = self.now + self.config.first_byte_timeout();
        self.http_pipe.transfer_started(self.now);
        self.requests.insert(
            request,
            InFlight {
                kind: RequestKind::Segment(download.segment),
                deadline,
                range: Some(range),
                loaded_bytes: 0,
                resumed_from: Some(PeerSource {
                    connection: download.connection,
                    peer_id: swarm.tracker.remote_peer_id(download.connection),
                }),
                // The peer's prefix is finished by the origin.
                mirror: None,
            },
        );
        self.outputs.push_back(Output::Fetch(FetchOrder {
            request,
            url,
            range: Some(range),
            purpose: FetchPurpose::MediaSegment,
            want_text: false,
            append_to_stored: true,
        }));
    }

    fn reset_slot(&mut self, request: RequestId) {
        if let Some(slot) = self
            .stream
            .as_mut()
            .and_then(|s| s.slots.find_request(request))
        {
            *slot = Slot::NEW;
        }
    }

    /// Checks peer downloads under way: a stalled one, or one that would finish too late for
    /// HTTP to take over, is cancelled and resumed over HTTP.
    pub(super) fn supervise_peer_downloads(&mut self, position_s: f64) {
        let stall = self.p2p_stall_timeout();
        let http_bps = self.http_bps();
        self.with_swarm(|player, swarm| {
            let Some(stream) = player.stream.as_ref() else {
                return;
            };
            let now = player.now;
            let http_free =
                player.http_media_in_flight() < player.config.max_concurrent_http.max(1);
            let mut late = Vec::new();
            for (&request, download) in &swarm.downloads {
                let segment = &stream.playlist.segments[download.segment];
                let until_needed_s = (segment.start_s - position_s).max(0.0);
                let stalled = now.saturating_since(download.last_bytes_at) >= stall;
                let peer_bps = swarm
                    .peers
                    .get(&download.connection)
                    .map_or(1.0, |p| p.estimate_bps(&player.config.p2p));
                let total = download
                    .total_bytes
                    .unwrap_or_else(|| segment_bytes(segment, player.level_bandwidth()));
                let remaining = total.saturating_sub(download.received_bytes);
                let elapsed_s = now.saturating_since(download.started).as_secs_f64();
                let rate_bps = if download.received_bytes > 0 && elapsed_s >= TRANSFER_RATE_AFTER_S
                {
                    download.received_bytes as f64 * 8.0 / elapsed_s
                } else {
                    peer_bps
                };
                let p2p_left_s = remaining as f64 * 8.0 / rate_bps.max(1.0);
                let http_left_s = remaining as f64 * 8.0 / http_bps + REQUEST_LATENCY_S;
                let too_late = p2p_left_s + DEADLINE_MARGIN_S > until_needed_s - http_left_s;
                // A transfer still flowing is only worth cancelling when HTTP can take over.
                if stalled || (too_late && http_free) {
                    late.push((request, download.connection));
                }
            }
            for (request, connection) in late {
                let Some(peer) = swarm.peers.get_mut(&connection) else {
                    continue;
                };
                peer.failures += 1;
                // What the peer delivered is a measurement too: without it a peer that never
                // completes keeps the untested estimate and is asked again and again.
                if let Some(download) = swarm.downloads.get(&request) {
                    let elapsed = now.saturating_since(download.started);
                    peer.bandwidth.sample(elapsed, download.received_bytes);
                }
                let (received, messages) = peer.session.cancel_download();
                player.send(connection, messages);
                player.abandon_peer_download(swarm, request, received);
            }
        });
    }

    /// How long a peer transfer may go without new bytes. On a live stream at most half a
    /// target duration: its buffer is a few segments, and a peer that keeps it waiting longer
    /// leaves HTTP too little time (this also shrinks the urgency window, so that live
    /// segments can go to peers at all).
    pub(super) fn p2p_stall_timeout(&self) -> Duration {
        let configured = Duration::from_millis(self.config.p2p.stall_timeout_ms);
        match (&self.live, &self.stream) {
            (Some(_), Some(stream)) => configured.min(Duration::from_secs_f64(
                stream.playlist.target_duration_s / 2.0,
            )),
            _ => configured,
        }
    }

    /// Seconds before a segment is needed by which HTTP must start it to be safe: twice
    /// its measured HTTP time plus a margin (the urgency window without the peer stall).
    pub(super) fn http_fallback_s(&self, index: usize) -> f64 {
        let Some(stream) = self.stream.as_ref() else {
            return 0.0;
        };
        let segment = &stream.playlist.segments[index];
        let bytes = segment_bytes(segment, self.level_bandwidth()) as f64;
        2.0 * (bytes * 8.0 / self.http_bps() + REQUEST_LATENCY_S) + DEADLINE_MARGIN_S
    }

    /// The throughput of the origin: measured, or the configured guess.
    pub(super) fn http_bps(&self) -> f64 {
        self.http_bandwidth
            .estimate_bps()
            .unwrap_or(self.config.initial_bandwidth_bps as f64)
            .max(1.0)
    }

    fn level_bandwidth(&self) -> u64 {
        self.stream
            .as_ref()
            .and_then(|s| self.variants.get(s.level))
            .map_or(self.config.initial_bandwidth_bps, |v| v.bandwidth)
    }

    /// The throughput of the fastest peer that has proven itself, if any.
    pub(super) fn best_proven_peer_bps(&self) -> Option<f64> {
        let swarm = self.swarm.as_ref()?;
        swarm
            .peers
            .values()
            .filter(|peer| peer.open && peer.proven())
            .filter_map(|peer| peer.bandwidth.estimate_bps())
            .max_by(f64::total_cmp)
    }

    /// Whether P2P takes part in scheduling now.
    pub(super) fn swarm_active(&self) -> bool {
        self.swarm.is_some()
    }

    /// Cancels a peer download the playhead no longer needs.
    pub(super) fn cancel_peer_download(&mut self, request: RequestId) {
        self.with_swarm(|player, swarm| {
            let Some(download) = swarm.downloads.remove(&request) else {
                return;
            };
            if let Some(peer) = swarm.peers.get_mut(&download.connection) {
                let (_, messages) = peer.session.cancel_download();
                player.send(download.connection, messages);
            }
        });
    }

    /// Decides where an idle segment comes from now.
    fn choose_source(&self, index: usize, position_s: f64, http_busy: bool) -> Source {
        let (Some(stream), Some(swarm)) = (self.stream.as_ref(), self.swarm.as_ref()) else {
            return Source::Http;
        };
        if self.peer_data_refused(index) {
            return Source::Http;
        }
        let segment = &stream.playlist.segments[index];
        let until_needed_s = (segment.start_s - position_s).max(0.0);
        // The same size as the supervision uses, or a transfer chosen as in time would be
        // cancelled as late at once.
        let bytes = segment_bytes(segment, self.level_bandwidth()) as f64;
        let http_time_s = bytes * 8.0 / self.http_bps() + REQUEST_LATENCY_S;
        let stall_s = self.p2p_stall_timeout().as_secs_f64();
        let urgent_s = stall_s + 2.0 * http_time_s + DEADLINE_MARGIN_S;
        let urgent = until_needed_s < urgent_s;

        let id = stream.segment_id(index);
        let p2p_slots_free = swarm.downloads.len() < self.config.p2p.max_concurrent_p2p;
        let mut best: Option<(f64, ConnectionId)> = None;
        for (&connection, peer) in &swarm.peers {
            if !peer.open || !peer.session.has_segment(id) || peer.session.downloading().is_some() {
                continue;
            }
            let bps = peer.estimate_bps(&self.config.p2p);
            let p2p_time_s = bytes * 8.0 / bps + REQUEST_LATENCY_S;
            let in_time = if urgent {
                peer.proven() && 2.0 * p2p_time_s + DEADLINE_MARGIN_S < until_needed_s
            } else {
                p2p_time_s + urgent_s <= until_needed_s
            };
            let score = peer.rank(&self.config.p2p);
            if in_time && best.is_none_or(|(s, _)| score > s) {
                best = Some((score, connection));
            }
        }
        if let (Some((_, connection)), true) = (best, p2p_slots_free) {
            return Source::Peer(connection);
        }
        if urgent {
            return Source::Http;
        }
        let open_peers = swarm.open_peer_count();
        let discovering = self.now < swarm.joined_at + PEER_DISCOVERY_GRACE
            && swarm.peers.values().any(|p| p.remote_known && !p.open);
        if open_peers == 0 && !discovering {
            return Source::Http;
        }
        let someone_has_it = swarm
            .peers
            .values()
            .any(|p| p.open && (p.session.has_segment(id) || p.session.is_loading_over_http(id)));
        if someone_has_it || http_busy {
            return Source::Wait;
        }
        let spread_s = HTTP_SPREAD_TARGET_DURATIONS * stream.playlist.target_duration_s;
        let spread_s = self
            .live_spread_cap_s()
            .map_or(spread_s, |cap| spread_s.min(cap));
        let head_start_s = spread_fraction(swarm.spread_seed, index) * spread_s;
        if until_needed_s < urgent_s + head_start_s {
            Source::Http
        } else {
            Source::Wait
        }
    }

    /// Starts downloads for idle segments of the window, nearest first, choosing HTTP or a
    /// peer for each (the P2P counterpart of the plain HTTP scheduler).
    pub(super) fn schedule_with_peers(
        &mut self,
        window: std::ops::Range<usize>,
        position_s: f64,
        thin_buffer: bool,
    ) {
        let max_http = self.config.max_concurrent_http.max(1);
        for index in window {
            let Some(stream) = self.stream.as_ref() else {
                return;
            };
            let init = stream.playlist.segments[index]
                .init_segment
                .map(|i| (i, stream.slots.inits[i]));
            if let Some((init, Slot::Idle { failed_attempts })) = init {
                // The init segment always comes over HTTP: it is small and needed first.
                if self.http_media_in_flight() < max_http {
                    self.fetch_media(RequestKind::Init(init), failed_attempts);
                }
            }
            let stream = self.stream.as_ref().expect("checked above");
            let Slot::Idle { failed_attempts } = stream.slots.segments[index] else {
                continue;
            };
            let http_busy = self.http_media_in_flight() >= max_http
                || (thin_buffer && self.segments_in_flight(Lane::Video) > 0);
            match self.choose_source(index, position_s, http_busy) {
                Source::Http if !http_busy => {
                    self.fetch_media(RequestKind::Segment(index), failed_attempts)
                }
                Source::Peer(connection) => self.request_from_peer(connection, index),
                Source::Http | Source::Wait => {}
            }
        }
    }

    fn request_from_peer(&mut self, connection: ConnectionId, index: usize) {
        let request = self.allocate_request_id();
        let now = self.now;
        self.with_swarm(|player, swarm| {
            let wire_request = swarm.next_wire_request;
            swarm.next_wire_request = swarm.next_wire_request.wrapping_add(1);
            let Some(peer) = swarm.peers.get_mut(&connection) else {
                return;
            };
            let Some(id) = player.stream.as_ref().map(|s| s.segment_id(index)) else {
                return;
            };
            let messages = peer.session.request(id, wire_request, None);
            swarm.downloads.insert(
                request,
                PeerDownload {
                    connection,
                    segment: index,
                    started: now,
                    last_bytes_at: now,
                    received_bytes: 0,
                    total_bytes: None,
                },
            );
            if let Some(stream) = player.stream.as_mut() {
                stream.slots.segments[index] = Slot::Fetching {
                    request,
                    failed_attempts: 0,
                };
            }
            player.send(connection, messages);
        });
    }

    /// Keeps a just-appended segment for peers when sharing; returns whether the host keeps
    /// the body.
    pub(super) fn keep_for_peers(&self) -> bool {
        self.swarm.is_some() && self.upload_allowed()
    }

    /// A segment's append finished: record its body in the store when it was kept.
    pub(super) fn store_appended(&mut self, index: usize, body: RequestId, bytes: u64) {
        let Some(stream) = self.stream.as_ref() else {
            return;
        };
        let id = stream.segment_id(index);
        let playhead = stream
            .playlist
            .segment_index_at(self.snapshot.position_s)
            .map_or(id, |i| stream.segment_id(i));
        let Some(swarm) = self.swarm.as_mut() else {
            self.outputs
                .push_back(Output::ReleaseBody { request: body });
            return;
        };
        let stored = StoredSegment { body, bytes };
        for released in swarm.store.insert(id, stored, playhead) {
            self.outputs
                .push_back(Output::ReleaseBody { request: released });
        }
    }

    /// Tells every open peer what we hold and load, when that changed.
    pub(super) fn announce_if_changed(&mut self) {
        let Some(mut swarm) = self.swarm.take() else {
            return;
        };
        let announcement = self.announcement(&swarm);
        if swarm.last_announcement.as_ref() != Some(&announcement) {
            for (&connection, peer) in swarm.peers.iter_mut().filter(|(_, p)| p.open) {
                let messages = peer.session.announce(&announcement.0, &announcement.1);
                self.send(connection, messages);
            }
            swarm.last_announcement = Some(announcement);
        }
        self.swarm = Some(swarm);
    }

    /// What we tell peers: segments in the store, segments loading over HTTP. Nothing when
    /// not uploading (consume-only), so peers do not ask in vain.
    fn announcement(&self, swarm: &Swarm) -> (Vec<SegmentId>, Vec<SegmentId>) {
        if !self.upload_allowed() {
            return (Vec::new(), Vec::new());
        }
        let Some(stream) = self.stream.as_ref() else {
            return (Vec::new(), Vec::new());
        };
        let loading = self
            .requests
            .values()
            .filter_map(|r| match r.kind {
                RequestKind::Segment(index) => Some(stream.segment_id(index)),
                _ => None,
            })
            .collect();
        (swarm.store.segment_ids(), loading)
    }

    pub(super) fn tracker_timeout(&self) -> Option<Instant> {
        self.swarm.as_ref().and_then(|s| s.tracker.next_timeout())
    }

    pub(super) fn handle_tracker_timer(&mut self) {
        let now = self.now;
        self.with_swarm(|_, s| s.tracker.handle_timer(now));
    }
}

/// A segment's size: its byte range's length, or a guess from its level's bandwidth.
fn segment_bytes(segment: &Segment, bandwidth_bps: u64) -> u64 {
    let guess = (segment.duration_s * bandwidth_bps as f64 / 8.0) as u64;
    segment.byte_range.map_or(guess, |r| r.length)
}

/// The rest of a segment after `received` bytes, as a byte range of its resource.
fn resume_range(segment: &Segment, received: u64, total: u64) -> Option<ByteRange> {
    let offset = segment.byte_range.map_or(0, |r| r.offset);
    Some(ByteRange {
        offset: offset + received,
        length: total.checked_sub(received).filter(|&n| n > 0)?,
    })
}

/// A number in [0, 1) fixed for this viewer and segment (splitmix64 of the pair).
pub(super) fn spread_fraction(seed: u64, index: usize) -> f64 {
    let mut z = seed.wrapping_add((index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer that delivered `bytes` in `seconds` each time, `deliveries` times, and failed
    /// `failures` times.
    fn peer(bytes: u64, seconds: u64, deliveries: u32, failures: u32) -> Peer {
        let mut peer = Peer::new();
        for _ in 0..deliveries {
            peer.bandwidth.sample(Duration::from_secs(seconds), bytes);
        }
        peer.delivered = deliveries;
        peer.failures = failures;
        peer
    }

    #[test]
    fn peers_rank_by_delivered_throughput_and_failures() {
        let config = P2pConfig::default();
        let clean = peer(1_000_000, 1, 3, 0);
        let failed = peer(1_000_000, 1, 3, 1);
        let faster = peer(2_000_000, 1, 3, 0);
        let faster_failing = peer(2_000_000, 1, 3, 3);
        assert_eq!(
            clean.estimate_bps(&config),
            failed.estimate_bps(&config),
            "equally fast"
        );
        assert!(clean.rank(&config) > failed.rank(&config));
        assert!(faster.rank(&config) > clean.rank(&config));
        assert!(clean.rank(&config) > faster_failing.rank(&config));
        // An untested peer stands at the configured guess.
        let untested = Peer::new();
        assert_eq!(untested.rank(&config), config.untested_peer_bps as f64);
    }
}
