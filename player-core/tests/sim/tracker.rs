//! A model of a WebTorrent WebSocket tracker (protocols.md section 1, bittorrent-tracker's
//! behaviour), the way the origin is a model of a server: it reads the JSON frames the core's
//! tracker client sends with serde_json, keeps the swarms (info hash to peer ids and their
//! sockets), answers announces with an interval, relays each offer to a distinct other peer
//! of the swarm chosen at random (seeded), and forwards answers to the offerer.
//!
//! It is strict about what it reads: a frame that breaks the protocol is a violation of the
//! core, not something to work around. Knobs make it unreachable or silent.

use std::collections::{BTreeMap, BTreeSet};

use player_core::swarm::TrackerId;
use player_core::{Duration, Input, Instant};
use serde_json::{json, Value};

use super::clock::{secs, EventQueue};
use super::{SimEvent, ViewerId};

/// The tracker every swarm scenario configures.
pub const TRACKER_URL: &str = "wss://tracker.sim/announce";

/// bittorrent-tracker's limit of offers per announce.
const MAX_OFFERS: usize = 5;

#[derive(Debug, Clone, PartialEq)]
pub struct TrackerConfig {
    /// One-way delay between a viewer and the tracker.
    pub latency: Duration,
    /// The `interval` of announce replies (bittorrent-tracker's WebSocket default).
    pub interval_s: u64,
    /// False: connecting fails, as for a tracker that is down.
    pub reachable: bool,
    /// False: sockets open but frames get no reply, no relay, no forward.
    pub answers: bool,
    pub seed: u64,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            latency: Duration::from_millis(25),
            interval_s: 120,
            reachable: true,
            answers: true,
            seed: 1,
        }
    }
}

/// One WebSocket: the viewer's tracker id and a generation, since the shim opens a new socket
/// under the same id after a close.
type Socket = (ViewerId, TrackerId, u64);

/// Something due between viewers and the tracker.
#[derive(Debug)]
pub enum TrackerEvent {
    Opened(Socket),
    /// A frame reaches the tracker.
    FromViewer(Socket, String),
    /// A frame reaches the viewer.
    ToViewer(Socket, String),
    /// The tracker sees the socket close (after the frames sent before the close).
    Closed(Socket),
}

/// What the tracker did, for the scenario figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackerStats {
    pub announces: u64,
    pub offers_relayed: u64,
    pub answers_forwarded: u64,
}

#[derive(Debug)]
pub struct Tracker {
    pub config: TrackerConfig,
    rng: fastrand::Rng,
    /// The viewers' side: the socket each tracker id has now, and whether it is open.
    sockets: BTreeMap<(ViewerId, TrackerId), (u64, bool)>,
    next_generation: u64,
    /// The tracker's side: sockets it has not seen close.
    live: BTreeSet<Socket>,
    /// Info hash to peer id to socket, ids as the latin1 strings of the wire.
    swarms: BTreeMap<String, BTreeMap<String, Socket>>,
    pub stats: TrackerStats,
    pub violations: Vec<String>,
}

/// A 20-byte id as the wire carries it: 20 characters U+0000..U+00FF.
fn id20(frame: &Value, field: &str) -> Result<String, String> {
    let id = frame
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("no {field}"))?;
    let ok = id.chars().count() == 20 && id.chars().all(|c| u32::from(c) <= 0xff);
    ok.then(|| id.to_owned())
        .ok_or_else(|| format!("{field} is not 20 latin1 characters"))
}

/// `{"type": kind, "sdp": "..."}`.
fn sdp_object(value: Option<&Value>, kind: &str) -> Result<Value, String> {
    let value = value.ok_or_else(|| format!("no {kind}"))?;
    let typed = value.get("type").and_then(Value::as_str) == Some(kind);
    let has_sdp = value.get("sdp").is_some_and(Value::is_string);
    (typed && has_sdp)
        .then(|| value.clone())
        .ok_or_else(|| format!("malformed {kind}: {value}"))
}

impl Tracker {
    pub fn new(config: TrackerConfig) -> Self {
        Tracker {
            rng: fastrand::Rng::with_seed(config.seed),
            config,
            sockets: BTreeMap::new(),
            next_generation: 0,
            live: BTreeSet::new(),
            swarms: BTreeMap::new(),
            stats: TrackerStats::default(),
            violations: Vec::new(),
        }
    }

    /// `TrackerConnect`: replaces the socket under that id, as the shim does.
    pub fn connect(
        &mut self,
        now: Instant,
        viewer: ViewerId,
        tracker: TrackerId,
        url: &str,
        queue: &mut EventQueue<SimEvent>,
    ) {
        self.close(now, viewer, tracker, queue);
        let at = now + self.config.latency;
        if url != TRACKER_URL || !self.config.reachable {
            let input = Input::TrackerClosed { tracker };
            queue.push(at, SimEvent::Core { viewer, input });
            return;
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        self.sockets.insert((viewer, tracker), (generation, false));
        self.live.insert((viewer, tracker, generation));
        let event = TrackerEvent::Opened((viewer, tracker, generation));
        queue.push(at, SimEvent::Tracker(event));
    }

    /// `TrackerSend`: only an open socket sends.
    pub fn send(
        &mut self,
        now: Instant,
        viewer: ViewerId,
        tracker: TrackerId,
        text: String,
        queue: &mut EventQueue<SimEvent>,
    ) {
        if let Some(&(generation, true)) = self.sockets.get(&(viewer, tracker)) {
            let event = TrackerEvent::FromViewer((viewer, tracker, generation), text);
            queue.push(now + self.config.latency, SimEvent::Tracker(event));
        }
    }

    /// `TrackerClose` (or the tab going away): frames already sent still arrive first.
    pub fn close(
        &mut self,
        now: Instant,
        viewer: ViewerId,
        tracker: TrackerId,
        queue: &mut EventQueue<SimEvent>,
    ) {
        if let Some((generation, _)) = self.sockets.remove(&(viewer, tracker)) {
            let event = TrackerEvent::Closed((viewer, tracker, generation));
            queue.push(now + self.config.latency, SimEvent::Tracker(event));
        }
    }

    /// Every socket of a viewer that vanished.
    pub fn vanish(&mut self, now: Instant, viewer: ViewerId, queue: &mut EventQueue<SimEvent>) {
        let trackers: Vec<TrackerId> = self
            .sockets
            .keys()
            .filter(|(v, _)| *v == viewer)
            .map(|&(_, t)| t)
            .collect();
        for tracker in trackers {
            self.close(now, viewer, tracker, queue);
        }
    }

    /// Carries out a due event; returns the input for a viewer, if any.
    pub fn handle(
        &mut self,
        now: Instant,
        event: TrackerEvent,
        queue: &mut EventQueue<SimEvent>,
    ) -> Option<(ViewerId, Input)> {
        let current = |sockets: &BTreeMap<_, _>, (v, t, g): Socket| {
            sockets
                .get(&(v, t))
                .is_some_and(|&(generation, _)| generation == g)
        };
        match event {
            TrackerEvent::Opened(socket) => {
                let (viewer, tracker, generation) = socket;
                if !current(&self.sockets, socket) {
                    return None;
                }
                self.sockets.insert((viewer, tracker), (generation, true));
                Some((viewer, Input::TrackerOpened { tracker }))
            }
            TrackerEvent::ToViewer(socket, text) => {
                let (viewer, tracker, _) = socket;
                current(&self.sockets, socket)
                    .then_some((viewer, Input::TrackerMessage { tracker, text }))
            }
            TrackerEvent::FromViewer(socket, text) => {
                if self.live.contains(&socket) && self.config.answers {
                    if let Err(problem) = self.on_frame(now, socket, &text, queue) {
                        self.violations.push(format!(
                            "t={:.3}s: viewer {} sent the tracker a bad frame ({problem}): {text}",
                            secs(now),
                            socket.0
                        ));
                    }
                }
                None
            }
            TrackerEvent::Closed(socket) => {
                // bittorrent-tracker removes a socket's peers when it closes.
                self.live.remove(&socket);
                for peers in self.swarms.values_mut() {
                    peers.retain(|_, s| *s != socket);
                }
                None
            }
        }
    }

    fn deliver(&self, now: Instant, to: Socket, frame: Value, queue: &mut EventQueue<SimEvent>) {
        let event = TrackerEvent::ToViewer(to, frame.to_string());
        queue.push(now + self.config.latency, SimEvent::Tracker(event));
    }

    fn on_frame(
        &mut self,
        now: Instant,
        from: Socket,
        text: &str,
        queue: &mut EventQueue<SimEvent>,
    ) -> Result<(), String> {
        let frame: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if frame.get("action").and_then(Value::as_str) != Some("announce") {
            return Err("not an announce".into());
        }
        let info_hash = id20(&frame, "info_hash")?;
        let peer_id = id20(&frame, "peer_id")?;
        self.stats.announces += 1;
        let event = frame.get("event").map(|e| e.as_str().unwrap_or("?"));
        if !matches!(event, None | Some("started" | "stopped" | "completed")) {
            return Err(format!("unknown event {event:?}"));
        }
        if event == Some("stopped") {
            if frame.get("offers").is_some_and(|o| o != &json!([])) {
                return Err("offers with stopped".into());
            }
            let peers = self.swarms.entry(info_hash.clone()).or_default();
            if peers.get(&peer_id) == Some(&from) {
                peers.remove(&peer_id);
            }
            self.reply(now, from, &info_hash, queue);
            return Ok(());
        }
        let offers = match frame.get("offers") {
            None => Vec::new(),
            Some(Value::Array(offers)) => offers.clone(),
            Some(other) => return Err(format!("offers is {other}")),
        };
        if offers.len() > MAX_OFFERS {
            return Err(format!("{} offers", offers.len()));
        }
        let mut relayed = Vec::new();
        for offer in &offers {
            let sdp = sdp_object(offer.get("offer"), "offer")?;
            relayed.push((id20(offer, "offer_id")?, sdp));
        }
        let answer = match frame.get("answer") {
            None => None,
            answer => Some((
                sdp_object(answer, "answer")?,
                id20(&frame, "to_peer_id")?,
                id20(&frame, "offer_id")?,
            )),
        };
        self.swarms
            .entry(info_hash.clone())
            .or_default()
            .insert(peer_id.clone(), from);
        if answer.is_none() {
            self.reply(now, from, &info_hash, queue);
        }
        let targets = self.pick_peers(&info_hash, &peer_id, relayed.len());
        for ((offer_id, offer), to) in relayed.into_iter().zip(targets) {
            let frame = json!({
                "action": "announce", "info_hash": info_hash, "peer_id": peer_id,
                "offer_id": offer_id, "offer": offer,
            });
            self.deliver(now, to, frame, queue);
            self.stats.offers_relayed += 1;
        }
        if let Some((answer, to_peer_id, offer_id)) = answer {
            // An answer to a peer that left is dropped: the offer times out on its side.
            if let Some(&to) = self.swarms[&info_hash].get(&to_peer_id) {
                let frame = json!({
                    "action": "announce", "info_hash": info_hash, "peer_id": peer_id,
                    "offer_id": offer_id, "answer": answer,
                });
                self.deliver(now, to, frame, queue);
                self.stats.answers_forwarded += 1;
            }
        }
        Ok(())
    }

    fn reply(&self, now: Instant, to: Socket, info_hash: &str, queue: &mut EventQueue<SimEvent>) {
        let peers = self.swarms.get(info_hash).map_or(0, BTreeMap::len);
        let frame = json!({
            "action": "announce", "interval": self.config.interval_s, "info_hash": info_hash,
            "complete": 0, "incomplete": peers,
        });
        self.deliver(now, to, frame, queue);
    }

    /// Up to `wanted` distinct random peers of the swarm other than `own`.
    fn pick_peers(&mut self, info_hash: &str, own: &str, wanted: usize) -> Vec<Socket> {
        let mut candidates: Vec<Socket> = self.swarms[info_hash]
            .iter()
            .filter(|(id, _)| id.as_str() != own)
            .map(|(_, &socket)| socket)
            .collect();
        let take = wanted.min(candidates.len());
        for i in 0..take {
            let j = self.rng.usize(i..candidates.len());
            candidates.swap(i, j);
        }
        candidates.truncate(take);
        candidates
    }
}
