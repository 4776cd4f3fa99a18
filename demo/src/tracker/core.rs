//! The tracker's state machine, without I/O: swarms and their peers, which socket registered
//! which peer, offer relay, answer forwarding, limits and idle expiry.
//!
//! The WebSocket glue (`super`) feeds it frames with the current time and sends the
//! [`Delivery`]s it returns; randomness comes from a seeded generator. Same seed and inputs give
//! the same outputs, so everything here is tested without sockets or sleeps.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use super::wire::{
    self, Announce, AnnounceReply, Event, FailureReply, ForwardedAnswer, InfoHash, PeerId,
    Rejection, RelayedOffer, Request, ScrapeFile, ScrapeFlags, ScrapeReply, ScrapeTarget,
};

/// Identifies one WebSocket connection; assigned by the glue, never reused while the tracker runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId(pub u64);

/// Bounds that keep one client, or many, from growing the tracker's memory without limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// (swarm, peer id) registrations one connection may hold. p2p-media-loader uses one per
    /// stream it loads (a rendition, and one more for separate audio), sharing one socket per
    /// tracker URL in a page, so a handful is normal.
    pub max_swarms_per_socket: usize,
    /// Peers in one swarm. bittorrent-tracker keeps at most 1000 (LRU) by default.
    pub max_peers_per_swarm: usize,
    /// Swarms in the whole tracker.
    pub max_swarms: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_swarms_per_socket: 100,
            max_peers_per_swarm: 1000,
            max_swarms: 10_000,
        }
    }
}

/// What the state machine needs to know; see `TrackerConfig` for the user-facing knobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreConfig {
    /// Told to clients as `interval`: how often they re-announce.
    pub interval: Duration,
    /// A peer that has not announced for this long is dropped from its swarm, even if its
    /// socket stays open (socket close drops it at once).
    pub peer_timeout: Duration,
    pub limits: Limits,
}

/// A frame for the glue to send to one socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub to: SocketId,
    pub text: String,
}

/// What one input produced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Output {
    pub deliveries: Vec<Delivery>,
    /// Human-readable notes about swarm membership for `--verbose`: info-hash hex and counts,
    /// never addresses or peer ids.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone)]
struct Peer {
    socket: SocketId,
    seeder: bool,
    last_seen: Instant,
}

#[derive(Debug, Default)]
struct Swarm {
    /// Ordered, so that the random choice depends only on the seed, not on hash-map order.
    peers: BTreeMap<PeerId, Peer>,
}

impl Swarm {
    /// (complete, incomplete). Counted on demand: swarms are small and counters could drift.
    fn counts(&self) -> (usize, usize) {
        let seeders = self.peers.values().filter(|p| p.seeder).count();
        (seeders, self.peers.len() - seeders)
    }
}

/// The whole tracker state.
#[derive(Debug)]
pub struct TrackerCore {
    config: CoreConfig,
    swarms: HashMap<InfoHash, Swarm>,
    /// What each socket registered, so a close removes exactly those peers.
    sockets: HashMap<SocketId, BTreeSet<(InfoHash, PeerId)>>,
    rng: fastrand::Rng,
    next_sweep: Option<Instant>,
}

impl TrackerCore {
    pub fn new(config: CoreConfig, seed: u64) -> Self {
        Self {
            config,
            swarms: HashMap::new(),
            sockets: HashMap::new(),
            rng: fastrand::Rng::with_seed(seed),
            next_sweep: None,
        }
    }

    /// Handles one text frame from `from`.
    pub fn handle_message(&mut self, now: Instant, from: SocketId, text: &str) -> Output {
        let mut out = Output::default();
        self.sweep_if_due(now, &mut out);
        let result = match wire::parse_request(text) {
            Ok(Request::Announce(announce)) => self.announce(now, from, announce, &mut out),
            Ok(Request::Scrape(target)) => {
                self.scrape(from, &target, &mut out);
                Ok(())
            }
            Err(rejection) => Err(rejection),
        };
        if let Err(rejection) = result {
            out.deliveries.push(Delivery {
                to: from,
                text: wire::to_text(&FailureReply::from_rejection(&rejection)),
            });
        }
        out
    }

    /// A frame that is not text (a binary frame that is not UTF-8): refused like bad JSON.
    pub fn handle_undecodable(&mut self, now: Instant, from: SocketId) -> Output {
        self.handle_message(now, from, "")
    }

    /// The socket closed (or was closed by the glue): every peer it registered leaves.
    pub fn handle_close(&mut self, now: Instant, socket: SocketId) -> Output {
        let mut out = Output::default();
        for (info_hash, peer_id) in self.sockets.remove(&socket).unwrap_or_default() {
            self.remove_peer(info_hash, peer_id, &mut out);
        }
        self.sweep_if_due(now, &mut out);
        out
    }

    /// Drops peers idle for longer than `peer_timeout`. Runs by itself on input at most once
    /// per `interval`; public so tests can force it.
    pub fn expire(&mut self, now: Instant) -> Output {
        let mut out = Output::default();
        self.sweep(now, &mut out);
        out
    }

    pub fn swarm_count(&self) -> usize {
        self.swarms.len()
    }

    /// (complete, incomplete) of one swarm; (0, 0) when it does not exist.
    pub fn counts(&self, info_hash: &InfoHash) -> (usize, usize) {
        self.swarms.get(info_hash).map_or((0, 0), Swarm::counts)
    }

    fn sweep_if_due(&mut self, now: Instant, out: &mut Output) {
        match self.next_sweep {
            Some(due) if now < due => {}
            _ => self.sweep(now, out),
        }
    }

    fn sweep(&mut self, now: Instant, out: &mut Output) {
        self.next_sweep = Some(now + self.config.interval);
        let timeout = self.config.peer_timeout;
        let idle: Vec<(InfoHash, PeerId, SocketId)> = self
            .swarms
            .iter()
            .flat_map(|(info_hash, swarm)| {
                swarm.peers.iter().filter_map(move |(peer_id, peer)| {
                    (now.saturating_duration_since(peer.last_seen) > timeout).then_some((
                        *info_hash,
                        *peer_id,
                        peer.socket,
                    ))
                })
            })
            .collect();
        for (info_hash, peer_id, socket) in idle {
            self.unregister(socket, info_hash, peer_id);
            self.remove_peer(info_hash, peer_id, out);
        }
    }

    fn unregister(&mut self, socket: SocketId, info_hash: InfoHash, peer_id: PeerId) {
        if let Some(registrations) = self.sockets.get_mut(&socket) {
            registrations.remove(&(info_hash, peer_id));
            if registrations.is_empty() {
                self.sockets.remove(&socket);
            }
        }
    }

    /// Removes a peer and, when it was the last one, its swarm.
    fn remove_peer(&mut self, info_hash: InfoHash, peer_id: PeerId, out: &mut Output) {
        let Some(swarm) = self.swarms.get_mut(&info_hash) else {
            return;
        };
        if swarm.peers.remove(&peer_id).is_none() {
            return;
        }
        let left = swarm.peers.len();
        if left == 0 {
            self.swarms.remove(&info_hash);
        }
        out.notes.push(format!(
            "swarm {}: a peer left ({left} peers)",
            info_hash.hex()
        ));
    }

    fn announce(
        &mut self,
        now: Instant,
        from: SocketId,
        announce: Announce,
        out: &mut Output,
    ) -> Result<(), Rejection> {
        let Announce {
            info_hash,
            peer_id,
            event,
            seeder,
            numwant,
            offers,
            answer,
        } = announce;

        if event == Event::Stopped {
            // Only the socket that registered a peer may remove it: peer ids travel to every
            // peer that gets an offer, and must not let one viewer unregister another.
            // (bittorrent-tracker removes by peer id alone.) Offers are not relayed on stop.
            let owned = self
                .swarms
                .get(&info_hash)
                .and_then(|s| s.peers.get(&peer_id))
                .is_some_and(|p| p.socket == from);
            if owned {
                self.unregister(from, info_hash, peer_id);
                self.remove_peer(info_hash, peer_id, out);
            }
            self.reply(from, info_hash, out);
            return Ok(());
        }

        self.register(now, from, info_hash, peer_id, event, seeder, out)?;

        // The answering side learns nothing from a reply, so bittorrent-tracker sends none.
        if answer.is_none() {
            self.reply(from, info_hash, out);
        }

        if !offers.is_empty() {
            let wanted = offers
                .len()
                .min(numwant.unwrap_or(usize::MAX))
                .min(wire::MAX_ANNOUNCE_PEERS);
            let targets = self.pick_peers(info_hash, peer_id, wanted);
            for (offer, to) in offers.iter().zip(targets) {
                out.deliveries.push(Delivery {
                    to,
                    text: wire::to_text(&RelayedOffer {
                        action: "announce",
                        offer: &offer.offer,
                        offer_id: offer.offer_id,
                        peer_id,
                        info_hash,
                    }),
                });
            }
        }

        if let Some(answer) = answer {
            // An answer to a peer that has left is dropped silently, as bittorrent-tracker does:
            // the offerer's own 50 s offer timeout cleans up on its side.
            if let Some(offerer) = self
                .swarms
                .get(&info_hash)
                .and_then(|s| s.peers.get(&answer.to_peer_id))
            {
                out.deliveries.push(Delivery {
                    to: offerer.socket,
                    text: wire::to_text(&ForwardedAnswer {
                        action: "announce",
                        answer: &answer.answer,
                        offer_id: answer.offer_id,
                        peer_id,
                        info_hash,
                    }),
                });
            }
        }
        Ok(())
    }

    /// Adds or refreshes a peer. Any announce other than `stopped` (answers included) counts as
    /// being in the swarm, as in bittorrent-tracker, where unknown peers' updates are starts.
    #[allow(clippy::too_many_arguments)] // each is one field of the announce, named
    fn register(
        &mut self,
        now: Instant,
        from: SocketId,
        info_hash: InfoHash,
        peer_id: PeerId,
        event: Event,
        seeder: bool,
        out: &mut Output,
    ) -> Result<(), Rejection> {
        let limits = &self.config.limits;
        let existing_owner = self
            .swarms
            .get(&info_hash)
            .and_then(|s| s.peers.get(&peer_id))
            .map(|p| p.socket);
        if existing_owner != Some(from) {
            let held = self.sockets.get(&from).map_or(0, BTreeSet::len);
            if held >= limits.max_swarms_per_socket {
                return Err(Rejection::for_swarm(
                    "too many swarms on one connection",
                    info_hash,
                ));
            }
        }
        if existing_owner.is_none() {
            match self.swarms.get(&info_hash) {
                None if self.swarms.len() >= limits.max_swarms => {
                    return Err(Rejection::for_swarm("tracker is full", info_hash));
                }
                Some(swarm) if swarm.peers.len() >= limits.max_peers_per_swarm => {
                    return Err(Rejection::for_swarm("swarm is full", info_hash));
                }
                _ => {}
            }
        }

        let swarm = self.swarms.entry(info_hash).or_default();
        match swarm.peers.get_mut(&peer_id) {
            Some(peer) => {
                // The same peer id from a new socket: a client that reconnected before its old
                // socket's close was seen. Offers must go to the live socket.
                peer.socket = from;
                peer.seeder |= seeder || event == Event::Completed;
                peer.last_seen = now;
            }
            None => {
                swarm.peers.insert(
                    peer_id,
                    Peer {
                        socket: from,
                        seeder,
                        last_seen: now,
                    },
                );
                out.notes.push(format!(
                    "swarm {}: a peer joined ({} peers)",
                    info_hash.hex(),
                    swarm.peers.len()
                ));
            }
        }
        if let Some(old) = existing_owner.filter(|old| *old != from) {
            self.unregister(old, info_hash, peer_id);
        }
        self.sockets
            .entry(from)
            .or_default()
            .insert((info_hash, peer_id));
        Ok(())
    }

    /// Up to `wanted` distinct random peers of the swarm other than `own`, as their sockets.
    fn pick_peers(&mut self, info_hash: InfoHash, own: PeerId, wanted: usize) -> Vec<SocketId> {
        let Some(swarm) = self.swarms.get(&info_hash) else {
            return Vec::new();
        };
        let mut candidates: Vec<SocketId> = swarm
            .peers
            .iter()
            .filter(|(id, _)| **id != own)
            .map(|(_, peer)| peer.socket)
            .collect();
        // Partial Fisher-Yates: the first `wanted` slots become a uniform random choice.
        let take = wanted.min(candidates.len());
        for i in 0..take {
            let j = self.rng.usize(i..candidates.len());
            candidates.swap(i, j);
        }
        candidates.truncate(take);
        candidates
    }

    fn reply(&self, to: SocketId, info_hash: InfoHash, out: &mut Output) {
        let (complete, incomplete) = self.counts(&info_hash);
        out.deliveries.push(Delivery {
            to,
            text: wire::to_text(&AnnounceReply {
                complete,
                incomplete,
                action: "announce",
                info_hash,
                interval: self.config.interval.as_secs(),
            }),
        });
    }

    fn scrape(&self, to: SocketId, target: &ScrapeTarget, out: &mut Output) {
        let hashes: Vec<InfoHash> = match target {
            ScrapeTarget::All => self.swarms.keys().copied().collect(),
            ScrapeTarget::Some(hashes) => hashes.clone(),
        };
        let files = hashes
            .into_iter()
            .map(|info_hash| {
                let (complete, incomplete) = self.counts(&info_hash);
                (
                    info_hash.to_binary_string(),
                    ScrapeFile {
                        complete,
                        incomplete,
                        downloaded: complete,
                    },
                )
            })
            .collect();
        out.deliveries.push(Delivery {
            to,
            text: wire::to_text(&ScrapeReply {
                action: "scrape",
                files,
                flags: ScrapeFlags {
                    min_request_interval: self.config.interval.as_secs(),
                },
            }),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const A: SocketId = SocketId(1);
    const B: SocketId = SocketId(2);
    const C: SocketId = SocketId(3);

    fn config() -> CoreConfig {
        CoreConfig {
            interval: Duration::from_secs(120),
            peer_timeout: Duration::from_secs(1200),
            limits: Limits::default(),
        }
    }

    fn id(c: char) -> String {
        std::iter::repeat_n(c, 20).collect()
    }

    fn announce(peer: char, extra: Value) -> String {
        let mut v = json!({"action": "announce", "info_hash": id('h'), "peer_id": id(peer)});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v.to_string()
    }

    fn offers(n: usize) -> Value {
        let list: Vec<Value> = (0..n)
            .map(|i| {
                let c = char::from(b'0' + i as u8);
                json!({"offer": {"type": "offer", "sdp": format!("sdp{i}")}, "offer_id": id(c)})
            })
            .collect();
        json!({ "offers": list, "numwant": n })
    }

    fn parse(d: &Delivery) -> Value {
        serde_json::from_str(&d.text).unwrap()
    }

    fn hash() -> InfoHash {
        InfoHash::from_binary_str(&id('h')).unwrap()
    }

    #[test]
    fn announce_replies_with_counts_and_interval() {
        let mut t = TrackerCore::new(config(), 1);
        let now = Instant::now();
        let out = t.handle_message(
            now,
            A,
            &announce('a', json!({"event": "started", "left": 0})),
        );
        assert_eq!(out.deliveries.len(), 1);
        assert_eq!(out.deliveries[0].to, A);
        assert_eq!(
            parse(&out.deliveries[0]),
            json!({"complete": 1, "incomplete": 0, "action": "announce", "info_hash": id('h'), "interval": 120})
        );
        let out = t.handle_message(now, B, &announce('b', json!({"left": 10})));
        assert_eq!(parse(&out.deliveries[0])["incomplete"], 1);
        assert_eq!(t.counts(&hash()), (1, 1));
        // A re-announce of a known peer is not counted twice; completing makes it a seeder.
        t.handle_message(now, B, &announce('b', json!({"event": "completed"})));
        assert_eq!(t.counts(&hash()), (2, 0));
    }

    #[test]
    fn offers_go_to_distinct_other_peers_at_most_numwant() {
        let mut t = TrackerCore::new(config(), 7);
        let now = Instant::now();
        for (socket, peer) in [(A, 'a'), (B, 'b'), (C, 'c')] {
            t.handle_message(now, socket, &announce(peer, json!({})));
        }
        let out = t.handle_message(now, SocketId(4), &announce('d', offers(5)));
        // Reply first, then one offer to each of the three others.
        assert_eq!(out.deliveries[0].to, SocketId(4));
        let relayed: Vec<&Delivery> = out.deliveries[1..].iter().collect();
        let mut targets: Vec<SocketId> = relayed.iter().map(|d| d.to).collect();
        targets.sort();
        assert_eq!(targets, vec![A, B, C]);
        let mut ids = BTreeSet::new();
        for d in relayed {
            let v = parse(d);
            assert_eq!(v["peer_id"], id('d'));
            assert_eq!(v["info_hash"], id('h'));
            assert_eq!(v["action"], "announce");
            ids.insert(v["offer_id"].as_str().unwrap().to_string());
            let i = v["offer_id"].as_str().unwrap().as_bytes()[0] - b'0';
            assert_eq!(
                v["offer"],
                json!({"type": "offer", "sdp": format!("sdp{i}")})
            );
        }
        assert_eq!(ids.len(), 3, "each peer gets a different offer");

        // numwant below the number of offers caps the relay.
        let mut limited = offers(5);
        limited["numwant"] = json!(2);
        let out = t.handle_message(now, SocketId(4), &announce('d', limited));
        assert_eq!(out.deliveries.len(), 1 + 2);
    }

    #[test]
    fn same_seed_same_choice() {
        let run = |seed| {
            let mut t = TrackerCore::new(config(), seed);
            let now = Instant::now();
            for i in 0..10u64 {
                let c = char::from(b'a' + i as u8);
                t.handle_message(now, SocketId(i), &announce(c, json!({})));
            }
            let mut o = offers(1);
            o["numwant"] = json!(1);
            t.handle_message(now, SocketId(99), &announce('z', o))
                .deliveries[1]
                .to
        };
        assert_eq!(run(42), run(42));
        let spread: BTreeSet<SocketId> = (0..50).map(run).collect();
        assert!(
            spread.len() > 3,
            "choice should vary with the seed: {spread:?}"
        );
    }

    #[test]
    fn answer_is_forwarded_to_the_offerer_without_reply_to_the_answerer() {
        let mut t = TrackerCore::new(config(), 1);
        let now = Instant::now();
        t.handle_message(now, A, &announce('a', offers(1)));
        let answer = announce(
            'b',
            json!({"answer": {"type": "answer", "sdp": "ans"}, "offer_id": id('0'), "to_peer_id": id('a')}),
        );
        let out = t.handle_message(now, B, &answer);
        assert_eq!(out.deliveries.len(), 1);
        assert_eq!(out.deliveries[0].to, A);
        assert_eq!(
            parse(&out.deliveries[0]),
            json!({"action": "announce", "answer": {"type": "answer", "sdp": "ans"},
                   "offer_id": id('0'), "peer_id": id('b'), "info_hash": id('h')})
        );
        // The answerer joined the swarm by answering.
        assert_eq!(t.counts(&hash()), (0, 2));
        // An answer to an unknown peer is dropped.
        let stray = announce(
            'b',
            json!({"answer": {"type": "answer"}, "offer_id": id('0'), "to_peer_id": id('x')}),
        );
        assert!(t.handle_message(now, B, &stray).deliveries.is_empty());
    }

    #[test]
    fn stopped_removes_only_a_peer_of_the_same_socket() {
        let mut t = TrackerCore::new(config(), 1);
        let now = Instant::now();
        t.handle_message(now, A, &announce('a', json!({})));
        t.handle_message(now, B, &announce('b', json!({})));
        // B cannot stop A's peer.
        let out = t.handle_message(now, B, &announce('a', json!({"event": "stopped"})));
        assert_eq!(parse(&out.deliveries[0])["incomplete"], 2);
        let out = t.handle_message(now, A, &announce('a', json!({"event": "stopped"})));
        assert_eq!(parse(&out.deliveries[0])["incomplete"], 1);
        t.handle_message(now, B, &announce('b', json!({"event": "stopped"})));
        assert_eq!(t.swarm_count(), 0, "empty swarms are dropped");
        assert!(t.sockets.is_empty());
    }

    #[test]
    fn close_removes_the_socket_from_all_its_swarms() {
        let mut t = TrackerCore::new(config(), 1);
        let now = Instant::now();
        let other = |peer: char| {
            let mut v: Value = serde_json::from_str(&announce(peer, json!({}))).unwrap();
            v["info_hash"] = json!(id('g'));
            v.to_string()
        };
        t.handle_message(now, A, &announce('a', json!({})));
        t.handle_message(now, A, &other('a'));
        t.handle_message(now, B, &announce('b', json!({})));
        assert_eq!(t.swarm_count(), 2);
        t.handle_close(now, A);
        assert_eq!(t.swarm_count(), 1);
        assert_eq!(t.counts(&hash()), (0, 1));
    }

    #[test]
    fn a_reconnected_peer_id_moves_to_the_new_socket() {
        let mut t = TrackerCore::new(config(), 1);
        let now = Instant::now();
        t.handle_message(now, A, &announce('a', json!({})));
        t.handle_message(now, B, &announce('a', json!({})));
        // The old socket closing must not remove the peer that now lives on B.
        t.handle_close(now, A);
        assert_eq!(t.counts(&hash()), (0, 1));
        let out = t.handle_message(now, C, &announce('c', offers(1)));
        assert_eq!(out.deliveries[1].to, B);
    }

    #[test]
    fn idle_peers_expire_and_announcing_keeps_them() {
        let mut t = TrackerCore::new(config(), 1);
        let t0 = Instant::now();
        t.handle_message(t0, A, &announce('a', json!({})));
        t.handle_message(t0, B, &announce('b', json!({})));
        let later = t0 + Duration::from_secs(1000);
        t.handle_message(later, B, &announce('b', json!({})));
        t.expire(t0 + Duration::from_secs(1201));
        assert_eq!(
            t.counts(&hash()),
            (0, 1),
            "a expired, b announced at 1000 s"
        );
        assert!(!t.sockets.contains_key(&A));
        // Expiry also runs by itself when input arrives after an interval.
        let out = t.handle_message(t0 + Duration::from_secs(2300), C, &announce('c', json!({})));
        assert_eq!(parse(&out.deliveries[0])["incomplete"], 1, "b expired too");
    }

    #[test]
    fn limits_refuse_with_a_reason_naming_the_swarm() {
        let mut t = TrackerCore::new(
            CoreConfig {
                limits: Limits {
                    max_swarms_per_socket: 2,
                    max_peers_per_swarm: 2,
                    max_swarms: 3,
                },
                ..config()
            },
            1,
        );
        let now = Instant::now();
        let in_swarm = |swarm: char, peer: char| {
            let mut v: Value = serde_json::from_str(&announce(peer, json!({}))).unwrap();
            v["info_hash"] = json!(id(swarm));
            v.to_string()
        };
        let failure = |out: Output| parse(&out.deliveries[0])["failure reason"].clone();
        t.handle_message(now, A, &in_swarm('1', 'a'));
        t.handle_message(now, A, &in_swarm('2', 'a'));
        let v = parse(&t.handle_message(now, A, &in_swarm('3', 'a')).deliveries[0]);
        assert_eq!(v["failure reason"], "too many swarms on one connection");
        assert_eq!(v["info_hash"], id('3'));
        assert_eq!(v["action"], "announce");
        // Re-announcing what it holds is fine.
        assert!(failure(t.handle_message(now, A, &in_swarm('1', 'a'))).is_null());

        t.handle_message(now, B, &in_swarm('1', 'b'));
        assert_eq!(
            failure(t.handle_message(now, C, &in_swarm('1', 'c'))),
            "swarm is full"
        );
        t.handle_message(now, B, &in_swarm('3', 'b'));
        assert_eq!(
            failure(t.handle_message(now, C, &in_swarm('4', 'c'))),
            "tracker is full"
        );
        assert_eq!(t.swarm_count(), 3);
    }

    #[test]
    fn failures_reply_only_to_the_sender_and_change_nothing() {
        let mut t = TrackerCore::new(config(), 1);
        let now = Instant::now();
        t.handle_message(now, A, &announce('a', json!({})));
        for garbage in [
            "",
            "{",
            "[]",
            "42",
            r#"{"action":"announce","info_hash":"short"}"#,
        ] {
            let out = t.handle_message(now, B, garbage);
            assert_eq!(out.deliveries.len(), 1, "{garbage}");
            assert_eq!(out.deliveries[0].to, B);
            assert!(parse(&out.deliveries[0])["failure reason"].is_string());
        }
        assert_eq!(t.counts(&hash()), (0, 1));
    }

    #[test]
    fn scrape_reports_counts() {
        let mut t = TrackerCore::new(config(), 1);
        let now = Instant::now();
        t.handle_message(now, A, &announce('a', json!({"left": 0})));
        let out = t.handle_message(
            now,
            B,
            &json!({"action": "scrape", "info_hash": [id('h'), id('x')]}).to_string(),
        );
        let v = parse(&out.deliveries[0]);
        assert_eq!(v["action"], "scrape");
        assert_eq!(
            v["files"][id('h')],
            json!({"complete": 1, "incomplete": 0, "downloaded": 1})
        );
        assert_eq!(
            v["files"][id('x')],
            json!({"complete": 0, "incomplete": 0, "downloaded": 0})
        );
        assert_eq!(v["flags"]["min_request_interval"], 120);
    }
}
