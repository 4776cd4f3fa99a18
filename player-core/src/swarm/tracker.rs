//! The WebTorrent tracker client as a sans-IO state machine: announces with WebRTC offers,
//! relays answers, accepts relayed offers, and keeps one WebSocket per tracker URL alive.
//!
//! The host owns the WebSockets and RTCPeerConnections and carries out [`TrackerAction`]s;
//! it reports socket and connection facts through the `handle_*` methods. Behaviour follows
//! the npm `bittorrent-tracker` 11.2.3 client (`lib/client/websocket-tracker.js`, `client.js`),
//! which p2p-media-loader 2.3 and PeerTube use, except where noted. Nothing a tracker sends
//! can panic this machine or affect another tracker: a bad frame costs that tracker its
//! socket (with backoff), nothing more.

use std::collections::BTreeMap;

use crate::time::{Duration, Instant};

use super::wire::{self, AnnounceEvent, FrameError, Id20, OutgoingOffer, TrackerFrame};

/// One tracker URL (its index in [`TrackerConfig::urls`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct TrackerId(pub u32);

/// One RTCPeerConnection, allocated by the [`TrackerClient`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct ConnectionId(pub u32);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerConfig {
    /// `ws://` or `wss://` URLs; others are reported once and never opened.
    pub urls: Vec<String>,
    /// Offers per announce; bittorrent-tracker caps this at 5 ("it can be slow").
    pub max_offers_per_announce: usize,
    /// How long an offer waits for an answer: bittorrent-tracker's `OFFER_TIMEOUT`, 50 s.
    /// Also how long an answered or accepted connection may take to open.
    pub offer_ttl: Duration,
    /// How long to wait for the host to create offers before announcing with those ready.
    pub offer_gather_timeout: Duration,
    /// Announce period until a tracker gives its `interval`: bittorrent-tracker's
    /// `DEFAULT_ANNOUNCE_INTERVAL`, 30 s.
    pub default_announce_interval: Duration,
    /// Bounds applied to a tracker's `interval`, so a hostile one cannot make us spin.
    pub min_announce_interval: Duration,
    pub max_announce_interval: Duration,
    /// Connections of every state this client holds at once (offers included).
    pub max_connections: usize,
    /// Reconnect delay: `min(base * 2^attempt, max)` plus up to `jitter`.
    /// (bittorrent-tracker: 10 s base, 1 h cap, up to 5 min jitter, a long wait for video.)
    pub reconnect_base: Duration,
    pub reconnect_max: Duration,
    pub reconnect_jitter: Duration,
    /// Larger frames are refused: an SDP is a few kilobytes.
    pub max_message_bytes: usize,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            urls: Vec::new(),
            max_offers_per_announce: 5,
            offer_ttl: Duration::from_secs(50),
            offer_gather_timeout: Duration::from_secs(5),
            default_announce_interval: Duration::from_secs(30),
            min_announce_interval: Duration::from_secs(10),
            max_announce_interval: Duration::from_secs(3600),
            max_connections: 20,
            reconnect_base: Duration::from_secs(5),
            reconnect_max: Duration::from_secs(300),
            reconnect_jitter: Duration::from_secs(5),
            max_message_bytes: 256 * 1024,
        }
    }
}

/// An order for the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackerAction {
    OpenSocket {
        tracker: TrackerId,
        url: String,
    },
    /// One JSON text frame.
    Send {
        tracker: TrackerId,
        text: String,
    },
    CloseSocket {
        tracker: TrackerId,
    },
    /// New RTCPeerConnection (initiator) with its data channel; gather ICE fully, then report
    /// the offer SDP with [`TrackerClient::handle_offer_created`].
    CreateOffer {
        connection: ConnectionId,
    },
    /// New RTCPeerConnection, set this remote offer, answer, gather ICE fully, then report the
    /// answer SDP with [`TrackerClient::handle_answer_created`].
    AcceptOffer {
        connection: ConnectionId,
        sdp: String,
    },
    ApplyAnswer {
        connection: ConnectionId,
        sdp: String,
    },
    /// Expired offer, duplicate peer, tracker gone before the answer, or leaving.
    CloseConnection {
        connection: ConnectionId,
    },
    /// A tracker problem for the stats/log (failure reason, warning, garbage): never fatal
    /// for playback.
    Warning {
        tracker: TrackerId,
        message: String,
    },
}

/// Where a tracker's socket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketState {
    /// Never to be opened (bad URL, duplicate, or after [`TrackerClient::leave`]).
    Disabled,
    Connecting,
    Open,
    /// Closed; reopened at this time.
    Waiting {
        reopen_at: Instant,
    },
}

#[derive(Debug)]
struct Tracker {
    url: String,
    socket: SocketState,
    /// Consecutive connection attempts that ended in a close; reset once a socket opens.
    failed_attempts: u32,
    /// Consecutive protocol errors and failure reasons; reset by a good announce reply, so
    /// that a tracker that accepts the socket but refuses us still backs off.
    strikes: u32,
    interval: Option<Duration>,
    next_announce: Option<Instant>,
    /// The first announce on each fresh socket says `started`.
    started_sent: bool,
    tracker_id: Option<String>,
    pending: Option<PendingAnnounce>,
}

#[derive(Debug)]
struct PendingAnnounce {
    offers: Vec<ConnectionId>,
    deadline: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ConnState {
    /// Ours: waiting for the host's offer SDP.
    CreatingOffer {
        offer_id: Id20,
        sdp: Option<String>,
    },
    /// Ours: announced, waiting for an answer.
    Offered {
        offer_id: Id20,
    },
    /// Theirs: waiting for the host's answer SDP.
    Accepting {
        offer_id: Id20,
    },
    /// SDP exchanged; waiting for the data channel.
    Connecting,
    Open,
}

#[derive(Debug)]
struct Connection {
    tracker: TrackerId,
    state: ConnState,
    remote_peer: Option<Id20>,
    /// Closed when not open by then.
    expires_at: Option<Instant>,
}

/// The tracker client for one info hash. See the module docs.
#[derive(Debug)]
pub struct TrackerClient {
    config: TrackerConfig,
    info_hash: Id20,
    peer_id: Id20,
    rng: fastrand::Rng,
    trackers: Vec<Tracker>,
    connections: BTreeMap<ConnectionId, Connection>,
    next_connection: u32,
    actions: std::collections::VecDeque<TrackerAction>,
    uploaded: u64,
    downloaded: u64,
    left: Option<u64>,
    left_swarm: bool,
}

impl TrackerClient {
    /// Starts by asking the host to open every tracker socket.
    pub fn new(
        config: TrackerConfig,
        info_hash: [u8; 20],
        peer_id: [u8; 20],
        seed: u64,
        now: Instant,
    ) -> Self {
        let _ = now;
        let mut client = TrackerClient {
            info_hash,
            peer_id,
            rng: fastrand::Rng::with_seed(seed),
            trackers: Vec::new(),
            connections: BTreeMap::new(),
            next_connection: 0,
            actions: Default::default(),
            uploaded: 0,
            downloaded: 0,
            left: None,
            left_swarm: false,
            config,
        };
        let mut seen: Vec<&str> = Vec::new();
        for (i, url) in client.config.urls.iter().enumerate() {
            let tracker = TrackerId(i as u32);
            // bittorrent-tracker drops a trailing slash to catch duplicates, then dedupes.
            let key = url.strip_suffix('/').unwrap_or(url);
            let lower = url.to_ascii_lowercase();
            let problem = if !(lower.starts_with("ws://") || lower.starts_with("wss://")) {
                Some(format!("unsupported tracker URL: {url}"))
            } else if seen.contains(&key) {
                Some(format!("duplicate tracker URL: {url}"))
            } else {
                None
            };
            seen.push(key);
            let socket = if let Some(message) = problem {
                client
                    .actions
                    .push_back(TrackerAction::Warning { tracker, message });
                SocketState::Disabled
            } else {
                client.actions.push_back(TrackerAction::OpenSocket {
                    tracker,
                    url: url.clone(),
                });
                SocketState::Connecting
            };
            client.trackers.push(Tracker {
                url: url.clone(),
                socket,
                failed_attempts: 0,
                strikes: 0,
                interval: None,
                next_announce: None,
                started_sent: false,
                tracker_id: None,
                pending: None,
            });
        }
        client
    }

    pub fn peer_id(&self) -> [u8; 20] {
        self.peer_id
    }

    pub fn info_hash(&self) -> [u8; 20] {
        self.info_hash
    }

    /// Where a tracker's socket is (`None` for an unknown id).
    pub fn socket_state(&self, tracker: TrackerId) -> Option<SocketState> {
        self.trackers.get(tracker.0 as usize).map(|t| t.socket)
    }

    /// Connections in every state, offers included.
    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    /// The tracker a connection was made through.
    pub fn connection_tracker(&self, connection: ConnectionId) -> Option<TrackerId> {
        self.connections.get(&connection).map(|c| c.tracker)
    }

    /// The other side's peer id, known once an answer or a relayed offer named it.
    pub fn remote_peer_id(&self, connection: ConnectionId) -> Option<[u8; 20]> {
        self.connections.get(&connection)?.remote_peer
    }

    /// Counters reported in announces (`left: None` omits the field, as p2p-media-loader does).
    pub fn set_transfer_stats(&mut self, uploaded: u64, downloaded: u64, left: Option<u64>) {
        self.uploaded = uploaded;
        self.downloaded = downloaded;
        self.left = left;
    }

    pub fn poll_action(&mut self) -> Option<TrackerAction> {
        self.actions.pop_front()
    }

    pub fn handle_socket_opened(&mut self, now: Instant, tracker: TrackerId) {
        let Some(t) = self.trackers.get_mut(tracker.0 as usize) else {
            return;
        };
        if t.socket != SocketState::Connecting {
            // A late event for a socket we gave up on (or after leave): not ours any more.
            if !matches!(t.socket, SocketState::Open) {
                self.actions
                    .push_back(TrackerAction::CloseSocket { tracker });
            }
            return;
        }
        t.socket = SocketState::Open;
        // bittorrent-tracker resets its retry count on connect.
        t.failed_attempts = 0;
        t.started_sent = false;
        self.start_announce(now, tracker);
    }

    pub fn handle_socket_closed(&mut self, now: Instant, tracker: TrackerId) {
        let Some(t) = self.trackers.get_mut(tracker.0 as usize) else {
            return;
        };
        if !matches!(t.socket, SocketState::Connecting | SocketState::Open) {
            return;
        }
        t.failed_attempts = t.failed_attempts.saturating_add(1);
        self.schedule_reconnect(now, tracker);
    }

    pub fn handle_socket_message(&mut self, now: Instant, tracker: TrackerId, text: &str) {
        let Some(t) = self.trackers.get(tracker.0 as usize) else {
            return;
        };
        if t.socket != SocketState::Open {
            return;
        }
        match wire::decode_frame(text, self.config.max_message_bytes) {
            Ok(frame) => self.handle_frame(now, tracker, frame),
            Err(err) => self.protocol_error(now, tracker, &err),
        }
    }

    /// The host created the offer asked for by `CreateOffer`.
    pub fn handle_offer_created(&mut self, now: Instant, connection: ConnectionId, sdp: String) {
        let Some(c) = self.connections.get_mut(&connection) else {
            return;
        };
        let ConnState::CreatingOffer { sdp: slot, .. } = &mut c.state else {
            return;
        };
        *slot = Some(sdp);
        let tracker = c.tracker;
        let all_ready = self.trackers[tracker.0 as usize]
            .pending
            .as_ref()
            .is_some_and(|p| {
                p.offers.iter().all(|id| {
                    matches!(
                        self.connections.get(id).map(|c| &c.state),
                        Some(ConnState::CreatingOffer { sdp: Some(_), .. })
                    )
                })
            });
        if all_ready {
            self.send_pending_announce(now, tracker);
        }
    }

    /// The host created the answer asked for by `AcceptOffer`.
    pub fn handle_answer_created(&mut self, now: Instant, connection: ConnectionId, sdp: String) {
        let Some(c) = self.connections.get_mut(&connection) else {
            return;
        };
        let ConnState::Accepting { offer_id } = c.state else {
            return;
        };
        let tracker = c.tracker;
        let (Some(remote), Some(t)) = (c.remote_peer, self.trackers.get(tracker.0 as usize)) else {
            return;
        };
        if t.socket != SocketState::Open {
            // The answer can only travel through the tracker that relayed the offer.
            self.close_connection(connection);
            return;
        }
        let text = wire::encode_answer(
            &self.info_hash,
            &self.peer_id,
            &remote,
            &offer_id,
            &sdp,
            t.tracker_id.as_deref(),
        );
        c.state = ConnState::Connecting;
        c.expires_at = Some(now + self.config.offer_ttl);
        self.actions
            .push_back(TrackerAction::Send { tracker, text });
    }

    /// ICE or SDP failed before the data channel opened.
    pub fn handle_connection_failed(&mut self, _now: Instant, connection: ConnectionId) {
        self.connections.remove(&connection);
    }

    /// The data channel is open: the connection is no longer pending.
    pub fn handle_connection_opened(&mut self, _now: Instant, connection: ConnectionId) {
        if let Some(c) = self.connections.get_mut(&connection) {
            if matches!(c.state, ConnState::Connecting | ConnState::Open) {
                c.state = ConnState::Open;
                c.expires_at = None;
            }
        }
    }

    pub fn handle_connection_closed(&mut self, _now: Instant, connection: ConnectionId) {
        self.connections.remove(&connection);
    }

    pub fn handle_timer(&mut self, now: Instant) {
        // Connections that waited too long: unanswered offers (bittorrent-tracker's
        // `trackerTimeout`) and SDP exchanges whose channel never opened.
        let expired: Vec<ConnectionId> = self
            .connections
            .iter()
            .filter(|(_, c)| c.expires_at.is_some_and(|at| at <= now))
            .map(|(&id, _)| id)
            .collect();
        for id in expired {
            self.close_connection(id);
        }
        for i in 0..self.trackers.len() {
            let tracker = TrackerId(i as u32);
            let t = &self.trackers[i];
            match t.socket {
                SocketState::Waiting { reopen_at } if reopen_at <= now => {
                    let url = t.url.clone();
                    self.trackers[i].socket = SocketState::Connecting;
                    self.actions
                        .push_back(TrackerAction::OpenSocket { tracker, url });
                }
                SocketState::Open => {
                    if t.pending.as_ref().is_some_and(|p| p.deadline <= now) {
                        self.send_pending_announce(now, tracker);
                    } else if t.pending.is_none() && t.next_announce.is_some_and(|at| at <= now) {
                        self.start_announce(now, tracker);
                    }
                }
                _ => {}
            }
        }
    }

    /// Leaves the swarm: a `stopped` announce on every open socket, then every socket closed;
    /// no reconnects after. Offers not yet answered are closed; connections that exchanged
    /// SDP stay with the host. (bittorrent-tracker sends `stopped` only on `client.stop()`;
    /// p2p-media-loader never calls it and just drops the socket, which the server also
    /// reads as stopped.)
    pub fn leave(&mut self, _now: Instant) {
        if self.left_swarm {
            return;
        }
        self.left_swarm = true;
        for i in 0..self.trackers.len() {
            let tracker = TrackerId(i as u32);
            let t = &mut self.trackers[i];
            let was = t.socket;
            t.socket = SocketState::Disabled;
            t.pending = None;
            t.next_announce = None;
            match was {
                SocketState::Open => {
                    let text = wire::encode_announce(&wire::Announce {
                        info_hash: self.info_hash,
                        peer_id: self.peer_id,
                        uploaded: self.uploaded,
                        downloaded: self.downloaded,
                        left: self.left,
                        event: Some(AnnounceEvent::Stopped),
                        offers: &[],
                        tracker_id: t.tracker_id.as_deref(),
                    });
                    // WebSocket.close() still sends frames queued before it.
                    self.actions
                        .push_back(TrackerAction::Send { tracker, text });
                    self.actions
                        .push_back(TrackerAction::CloseSocket { tracker });
                }
                SocketState::Connecting => {
                    self.actions
                        .push_back(TrackerAction::CloseSocket { tracker });
                }
                SocketState::Waiting { .. } | SocketState::Disabled => {}
            }
        }
        self.close_unanswered(None);
    }

    /// When to call [`TrackerClient::handle_timer`] next.
    pub fn next_timeout(&self) -> Option<Instant> {
        let conns = self.connections.values().filter_map(|c| c.expires_at);
        let trackers = self.trackers.iter().filter_map(|t| match t.socket {
            SocketState::Waiting { reopen_at } => Some(reopen_at),
            SocketState::Open => match &t.pending {
                Some(p) => Some(p.deadline),
                None => t.next_announce,
            },
            _ => None,
        });
        conns.chain(trackers).min()
    }

    fn handle_frame(&mut self, now: Instant, tracker: TrackerId, frame: TrackerFrame) {
        if frame.is_scrape {
            return; // we never scrape
        }
        // One socket may carry other swarms; frames for them are not ours.
        if frame.info_hash.is_some_and(|h| h != self.info_hash) {
            return;
        }
        // Our own offers and answers echoed back are not a peer.
        if frame.peer_id == Some(self.peer_id) {
            return;
        }
        if let Some(reason) = frame.failure_reason {
            self.failure_reason(now, tracker, &reason);
            return;
        }
        if frame.info_hash.is_none() {
            // bittorrent-tracker ignores such frames (their info hash is not ours).
            return;
        }
        if let Some(message) = frame.warning_message {
            self.actions.push_back(TrackerAction::Warning {
                tracker,
                message: format!("tracker warning: {message}"),
            });
        }
        let t = &mut self.trackers[tracker.0 as usize];
        if let Some(id) = frame.tracker_id {
            t.tracker_id = Some(id);
        }
        if let Some(seconds) = frame.interval_s {
            let interval = Duration::from_secs_f64(seconds)
                .max(self.config.min_announce_interval)
                .min(self.config.max_announce_interval);
            t.interval = Some(interval);
            // Like bittorrent-tracker's setInterval: the period restarts from the reply.
            if t.pending.is_none() {
                t.next_announce = Some(now + interval);
            }
            t.strikes = 0;
        }
        if let Some(offer) = frame.offer {
            self.remote_offer(now, tracker, offer);
        } else if let Some(answer) = frame.answer {
            self.remote_answer(now, tracker, answer);
        }
    }

    fn remote_offer(&mut self, now: Instant, tracker: TrackerId, offer: wire::RelayedSdp) {
        if self.knows_peer(&offer.peer_id) || self.free_slots() == 0 {
            return;
        }
        let connection = self.allocate_connection();
        self.connections.insert(
            connection,
            Connection {
                tracker,
                state: ConnState::Accepting {
                    offer_id: offer.offer_id,
                },
                remote_peer: Some(offer.peer_id),
                expires_at: Some(now + self.config.offer_ttl),
            },
        );
        self.actions.push_back(TrackerAction::AcceptOffer {
            connection,
            sdp: offer.sdp,
        });
    }

    fn remote_answer(&mut self, now: Instant, tracker: TrackerId, answer: wire::RelayedSdp) {
        let found = self.connections.iter().find(|(_, c)| {
            c.tracker == tracker
                && matches!(c.state, ConnState::Offered { offer_id } if offer_id == answer.offer_id)
        });
        let Some((&connection, _)) = found else {
            return; // unknown, expired or already answered: bittorrent-tracker ignores it too
        };
        if self.knows_peer(&answer.peer_id) {
            // The same peer answered another offer, or reached us through another tracker.
            self.close_connection(connection);
            return;
        }
        if let Some(c) = self.connections.get_mut(&connection) {
            c.state = ConnState::Connecting;
            c.remote_peer = Some(answer.peer_id);
            c.expires_at = Some(now + self.config.offer_ttl);
        }
        self.actions.push_back(TrackerAction::ApplyAnswer {
            connection,
            sdp: answer.sdp,
        });
    }

    fn knows_peer(&self, peer: &Id20) -> bool {
        self.connections
            .values()
            .any(|c| c.remote_peer.as_ref() == Some(peer))
    }

    fn free_slots(&self) -> usize {
        self.config
            .max_connections
            .saturating_sub(self.connections.len())
    }

    fn allocate_connection(&mut self) -> ConnectionId {
        loop {
            let id = ConnectionId(self.next_connection);
            self.next_connection = self.next_connection.wrapping_add(1);
            if !self.connections.contains_key(&id) {
                return id;
            }
        }
    }

    fn new_offer_id(&mut self) -> Id20 {
        loop {
            let mut id = [0u8; 20];
            for b in id.iter_mut() {
                *b = self.rng.u8(..);
            }
            let taken = self.connections.values().any(|c| {
                matches!(c.state, ConnState::CreatingOffer { offer_id, .. } | ConnState::Offered { offer_id } if offer_id == id)
            });
            if !taken {
                return id;
            }
        }
    }

    /// Asks the host for as many offers as there are free slots (at most
    /// `max_offers_per_announce`), then announces once they are ready.
    fn start_announce(&mut self, now: Instant, tracker: TrackerId) {
        let count = self.config.max_offers_per_announce.min(self.free_slots());
        let mut offers = Vec::with_capacity(count);
        for _ in 0..count {
            let connection = self.allocate_connection();
            let offer_id = self.new_offer_id();
            self.connections.insert(
                connection,
                Connection {
                    tracker,
                    state: ConnState::CreatingOffer {
                        offer_id,
                        sdp: None,
                    },
                    remote_peer: None,
                    // bittorrent-tracker starts the offer timeout when the offer is created.
                    expires_at: Some(now + self.config.offer_ttl),
                },
            );
            self.actions
                .push_back(TrackerAction::CreateOffer { connection });
            offers.push(connection);
        }
        let t = &mut self.trackers[tracker.0 as usize];
        t.next_announce = None;
        t.pending = Some(PendingAnnounce {
            offers,
            deadline: now + self.config.offer_gather_timeout,
        });
        if count == 0 {
            self.send_pending_announce(now, tracker);
        }
    }

    /// Sends the announce with the offers that are ready; those still being created are
    /// closed (the next announce makes fresh ones).
    fn send_pending_announce(&mut self, now: Instant, tracker: TrackerId) {
        let Some(pending) = self.trackers[tracker.0 as usize].pending.take() else {
            return;
        };
        let mut ready: Vec<(Id20, String)> = Vec::new();
        for id in pending.offers {
            let Some(c) = self.connections.get_mut(&id) else {
                continue;
            };
            match &mut c.state {
                ConnState::CreatingOffer {
                    offer_id,
                    sdp: Some(sdp),
                } => {
                    let (offer_id, sdp) = (*offer_id, std::mem::take(sdp));
                    c.state = ConnState::Offered { offer_id };
                    ready.push((offer_id, sdp));
                }
                ConnState::CreatingOffer { sdp: None, .. } => self.close_connection(id),
                _ => {}
            }
        }
        let t = &mut self.trackers[tracker.0 as usize];
        let event = (!t.started_sent).then_some(AnnounceEvent::Started);
        t.started_sent = true;
        let offers: Vec<OutgoingOffer<'_>> = ready
            .iter()
            .map(|(offer_id, sdp)| OutgoingOffer {
                offer_id: *offer_id,
                sdp,
            })
            .collect();
        let text = wire::encode_announce(&wire::Announce {
            info_hash: self.info_hash,
            peer_id: self.peer_id,
            uploaded: self.uploaded,
            downloaded: self.downloaded,
            left: self.left,
            event,
            offers: &offers,
            tracker_id: t.tracker_id.as_deref(),
        });
        let interval = t.interval.unwrap_or(self.config.default_announce_interval);
        t.next_announce = Some(now + interval);
        self.actions
            .push_back(TrackerAction::Send { tracker, text });
    }

    /// `failure reason`: the tracker refused us. bittorrent-tracker only warns; we also close
    /// this tracker's unanswered offers (it will not relay them) and wait a backoff delay
    /// before announcing again, growing while the tracker keeps refusing.
    fn failure_reason(&mut self, now: Instant, tracker: TrackerId, reason: &str) {
        self.actions.push_back(TrackerAction::Warning {
            tracker,
            message: format!("tracker failure: {reason}"),
        });
        self.close_unanswered(Some(tracker));
        let t = &mut self.trackers[tracker.0 as usize];
        t.strikes = t.strikes.saturating_add(1);
        t.pending = None;
        let delay = self.backoff(tracker);
        self.trackers[tracker.0 as usize].next_announce = Some(now + delay);
    }

    /// A frame that breaks the protocol: warn, drop the socket, reconnect with backoff.
    /// (bittorrent-tracker reconnects on an unknown action and only warns on bad JSON; a
    /// tracker sending garbage is not one to keep talking to.)
    fn protocol_error(&mut self, now: Instant, tracker: TrackerId, err: &FrameError) {
        self.actions.push_back(TrackerAction::Warning {
            tracker,
            message: format!("bad tracker frame: {err}"),
        });
        self.actions
            .push_back(TrackerAction::CloseSocket { tracker });
        let t = &mut self.trackers[tracker.0 as usize];
        t.strikes = t.strikes.saturating_add(1);
        self.schedule_reconnect(now, tracker);
    }

    /// The socket is gone (or being closed): forget what needed it and plan the reopen.
    fn schedule_reconnect(&mut self, now: Instant, tracker: TrackerId) {
        self.close_unanswered(Some(tracker));
        let delay = self.backoff(tracker);
        let t = &mut self.trackers[tracker.0 as usize];
        t.pending = None;
        t.next_announce = None;
        t.socket = SocketState::Waiting {
            reopen_at: now + delay,
        };
    }

    /// Closes the connections that still need `tracker` (any tracker for `None`): offers
    /// being created or waiting for an answer, and relayed offers whose answer was not sent
    /// yet. (bittorrent-tracker destroys its pending offers when the socket closes.)
    fn close_unanswered(&mut self, tracker: Option<TrackerId>) {
        let ids: Vec<ConnectionId> = self
            .connections
            .iter()
            .filter(|(_, c)| {
                tracker.is_none_or(|t| c.tracker == t)
                    && matches!(
                        c.state,
                        ConnState::CreatingOffer { .. }
                            | ConnState::Offered { .. }
                            | ConnState::Accepting { .. }
                    )
            })
            .map(|(&id, _)| id)
            .collect();
        for id in ids {
            self.close_connection(id);
        }
    }

    fn close_connection(&mut self, connection: ConnectionId) {
        if self.connections.remove(&connection).is_some() {
            self.actions
                .push_back(TrackerAction::CloseConnection { connection });
        }
    }

    /// `min(base * 2^n, max) + jitter`, n = failed attempts + strikes.
    fn backoff(&mut self, tracker: TrackerId) -> Duration {
        let t = &self.trackers[tracker.0 as usize];
        let exponent = t
            .failed_attempts
            .saturating_add(t.strikes)
            .saturating_sub(1);
        let factor = 1u64.checked_shl(exponent.min(63)).unwrap_or(u64::MAX);
        let base = Duration(
            self.config
                .reconnect_base
                .0
                .saturating_mul(factor)
                .min(self.config.reconnect_max.0),
        );
        let jitter = match self.config.reconnect_jitter.0 {
            0 => 0,
            j => self.rng.u64(..=j),
        };
        base + Duration(jitter)
    }
}
