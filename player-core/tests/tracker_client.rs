//! Drives `swarm::TrackerClient` with virtual time and scripted tracker frames: the
//! announce cycle, offer and answer relaying, deduplication, expiry, backoff, hostile
//! trackers and leaving.

use player_core::swarm::wire::{decode_id20, encode_binary};
use player_core::swarm::{
    ConnectionId, SocketState, TrackerAction, TrackerClient, TrackerConfig, TrackerId,
};
use player_core::{Duration, Instant};
use proptest::prelude::*;
use serde_json::{json, Value};

const INFO_HASH: [u8; 20] = *b"jBhYO0xAdOZIBt6Y0Xx6";
const ME: [u8; 20] = *b"-SH0001-abcdefghijkl";
const T0: TrackerId = TrackerId(0);
const T1: TrackerId = TrackerId(1);

fn peer(n: u8) -> [u8; 20] {
    // High bytes on purpose: ids are binary, not ASCII.
    let mut id = [0xf0u8; 20];
    id[0] = n;
    id
}

fn config(urls: &[&str]) -> TrackerConfig {
    TrackerConfig {
        urls: urls.iter().map(|u| u.to_string()).collect(),
        ..TrackerConfig::default()
    }
}

struct Harness {
    client: TrackerClient,
    now: Instant,
}

impl Harness {
    fn new(config: TrackerConfig) -> Self {
        let now = Instant(1_000_000);
        Harness {
            client: TrackerClient::new(config, INFO_HASH, ME, 42, now),
            now,
        }
    }

    fn drain(&mut self) -> Vec<TrackerAction> {
        std::iter::from_fn(|| self.client.poll_action()).collect()
    }

    fn advance(&mut self, d: Duration) {
        self.now = self.now + d;
        self.client.handle_timer(self.now);
    }

    /// Runs the timer at every deadline up to `until`.
    fn run_until(&mut self, until: Instant) -> Vec<TrackerAction> {
        let mut out = self.drain();
        while let Some(at) = self.client.next_timeout() {
            if at > until {
                break;
            }
            self.now = at.max(self.now);
            self.client.handle_timer(self.now);
            out.extend(self.drain());
        }
        self.now = until;
        out
    }

    fn message(&mut self, tracker: TrackerId, v: Value) {
        self.client
            .handle_socket_message(self.now, tracker, &v.to_string());
    }

    /// Opens `tracker` and reports every offer it asks for; returns the announce frame and
    /// the connections, in offer order.
    fn open_and_announce(&mut self, tracker: TrackerId) -> (Value, Vec<ConnectionId>) {
        self.client.handle_socket_opened(self.now, tracker);
        let conns = create_offers(&self.drain());
        for c in &conns {
            self.client
                .handle_offer_created(self.now, *c, format!("sdp-offer-{}", c.0));
        }
        let sent = sends(&self.drain());
        assert_eq!(sent.len(), 1, "one announce");
        assert_eq!(sent[0].0, tracker);
        (sent[0].1.clone(), conns)
    }
}

fn create_offers(actions: &[TrackerAction]) -> Vec<ConnectionId> {
    actions
        .iter()
        .filter_map(|a| match a {
            TrackerAction::CreateOffer { connection } => Some(*connection),
            _ => None,
        })
        .collect()
}

fn sends(actions: &[TrackerAction]) -> Vec<(TrackerId, Value)> {
    actions
        .iter()
        .filter_map(|a| match a {
            TrackerAction::Send { tracker, text } => {
                Some((*tracker, serde_json::from_str(text).expect("we send JSON")))
            }
            _ => None,
        })
        .collect()
}

fn closed(actions: &[TrackerAction]) -> Vec<ConnectionId> {
    actions
        .iter()
        .filter_map(|a| match a {
            TrackerAction::CloseConnection { connection } => Some(*connection),
            _ => None,
        })
        .collect()
}

fn warnings(actions: &[TrackerAction]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            TrackerAction::Warning { message, .. } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

fn offer_ids(announce: &Value) -> Vec<[u8; 20]> {
    announce["offers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| decode_id20(o["offer_id"].as_str().unwrap()).unwrap())
        .collect()
}

fn relayed_offer(from: [u8; 20], offer_id: [u8; 20]) -> Value {
    json!({
        "action": "announce",
        "info_hash": encode_binary(&INFO_HASH),
        "peer_id": encode_binary(&from),
        "offer_id": encode_binary(&offer_id),
        "offer": {"type": "offer", "sdp": "remote-offer"},
    })
}

fn relayed_answer(from: [u8; 20], offer_id: [u8; 20]) -> Value {
    json!({
        "action": "announce",
        "info_hash": encode_binary(&INFO_HASH),
        "peer_id": encode_binary(&from),
        "offer_id": encode_binary(&offer_id),
        "answer": {"type": "answer", "sdp": "remote-answer"},
    })
}

fn reply(interval: f64) -> Value {
    json!({
        "action": "announce",
        "interval": interval,
        "info_hash": encode_binary(&INFO_HASH),
        "complete": 0,
        "incomplete": 3,
    })
}

#[test]
fn opens_every_socket_then_announces_started_with_offers() {
    let mut h = Harness::new(config(&["wss://a.example/announce", "ws://b.example:8000"]));
    assert_eq!(
        h.drain(),
        vec![
            TrackerAction::OpenSocket {
                tracker: T0,
                url: "wss://a.example/announce".into()
            },
            TrackerAction::OpenSocket {
                tracker: T1,
                url: "ws://b.example:8000".into()
            },
        ]
    );
    let (announce, conns) = h.open_and_announce(T0);
    assert_eq!(conns.len(), 5);
    assert_eq!(announce["action"], "announce");
    assert_eq!(announce["event"], "started");
    assert_eq!(announce["numwant"], 5);
    assert_eq!(announce["uploaded"], 0);
    assert_eq!(announce["downloaded"], 0);
    assert_eq!(
        decode_id20(announce["info_hash"].as_str().unwrap()),
        Some(INFO_HASH)
    );
    assert_eq!(decode_id20(announce["peer_id"].as_str().unwrap()), Some(ME));
    let offers = announce["offers"].as_array().unwrap();
    assert_eq!(offers.len(), 5);
    assert_eq!(offers[0]["offer"]["type"], "offer");
    assert_eq!(
        offers[0]["offer"]["sdp"],
        format!("sdp-offer-{}", conns[0].0)
    );
    let mut ids = offer_ids(&announce);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "offer ids are unique");
    // Next announce in 30 s while the tracker has not said otherwise.
    assert_eq!(
        h.client.next_timeout(),
        Some(h.now + Duration::from_secs(30))
    );
}

#[test]
fn periodic_announces_use_the_default_then_the_tracker_interval() {
    let mut h = Harness::new(config(&["wss://a"]));
    h.drain();
    h.open_and_announce(T0);
    h.advance(Duration::from_secs(30));
    let conns = create_offers(&h.drain());
    assert_eq!(conns.len(), 5, "fresh offers for the periodic announce");
    for c in &conns {
        h.client.handle_offer_created(h.now, *c, "sdp".into());
    }
    let sent = sends(&h.drain());
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].1.get("event").is_none(),
        "periodic announces have no event"
    );

    h.message(T0, reply(120.0));
    assert!(h.drain().is_empty());
    let due = h.now + Duration::from_secs(120);
    let actions = h.run_until(due - Duration::from_secs(1));
    assert!(
        create_offers(&actions).is_empty(),
        "nothing before the interval"
    );
    h.advance(Duration::from_secs(1));
    assert_eq!(create_offers(&h.drain()).len(), 5);
}

#[test]
fn hostile_intervals_are_clamped() {
    let mut h = Harness::new(config(&["wss://a"]));
    h.drain();
    h.open_and_announce(T0);
    h.message(T0, reply(0.001));
    assert_eq!(
        h.client.next_timeout(),
        Some(h.now + Duration::from_secs(10))
    );
    h.message(T0, reply(1e300));
    // Offer expiry (50 s) now comes first; the announce is an hour away.
    let expiries = h.run_until(h.now + Duration::from_secs(60));
    assert_eq!(closed(&expiries).len(), 5);
    assert!(create_offers(&expiries).is_empty());
}

#[test]
fn announce_goes_out_with_ready_offers_after_the_gather_cap() {
    let mut h = Harness::new(config(&["wss://a"]));
    h.drain();
    h.client.handle_socket_opened(h.now, T0);
    let conns = create_offers(&h.drain());
    h.client.handle_offer_created(h.now, conns[1], "one".into());
    h.client
        .handle_offer_created(h.now, conns[3], "three".into());
    assert!(h.drain().is_empty(), "waits for the others");
    let actions = h.run_until(h.now + Duration::from_secs(5));
    let sent = sends(&actions);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1["numwant"], 2);
    let sdps: Vec<&str> = sent[0].1["offers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["offer"]["sdp"].as_str().unwrap())
        .collect();
    assert_eq!(sdps, ["one", "three"]);
    let mut gone = closed(&actions);
    gone.sort();
    assert_eq!(gone, vec![conns[0], conns[2], conns[4]]);
    // A late offer for a closed connection is ignored.
    h.client
        .handle_offer_created(h.now, conns[0], "late".into());
    assert!(h.drain().is_empty());
    assert_eq!(h.client.connection_count(), 2);
}

#[test]
fn offers_are_limited_by_free_slots() {
    let mut h = Harness::new(TrackerConfig {
        max_connections: 3,
        ..config(&["wss://a"])
    });
    h.drain();
    let (announce, conns) = h.open_and_announce(T0);
    assert_eq!(conns.len(), 3);
    assert_eq!(announce["numwant"], 3);
    // Full: the next announce has no offers, and relayed offers are not accepted.
    h.advance(Duration::from_secs(30));
    let sent = sends(&h.drain());
    assert_eq!(sent[0].1["numwant"], 0);
    assert_eq!(sent[0].1["offers"], json!([]));
    h.message(T0, relayed_offer(peer(1), [9; 20]));
    assert!(h.drain().is_empty());
}

#[test]
fn relayed_offer_is_answered_through_the_same_tracker() {
    let mut h = Harness::new(config(&["wss://a", "wss://b"]));
    h.drain();
    h.open_and_announce(T0);
    h.open_and_announce(T1);
    h.message(T1, relayed_offer(peer(7), [0xee; 20]));
    let actions = h.drain();
    let [TrackerAction::AcceptOffer { connection, sdp }] = actions.as_slice() else {
        panic!("expected AcceptOffer, got {actions:?}");
    };
    assert_eq!(sdp, "remote-offer");
    assert_eq!(h.client.remote_peer_id(*connection), Some(peer(7)));
    assert_eq!(h.client.connection_tracker(*connection), Some(T1));
    h.client
        .handle_answer_created(h.now, *connection, "my-answer".into());
    let sent = sends(&h.drain());
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, T1);
    let a = &sent[0].1;
    assert_eq!(a["action"], "announce");
    assert_eq!(
        decode_id20(a["to_peer_id"].as_str().unwrap()),
        Some(peer(7))
    );
    assert_eq!(
        decode_id20(a["offer_id"].as_str().unwrap()),
        Some([0xee; 20])
    );
    assert_eq!(decode_id20(a["peer_id"].as_str().unwrap()), Some(ME));
    assert_eq!(a["answer"], json!({"type": "answer", "sdp": "my-answer"}));
    assert!(a.get("offers").is_none());
}

#[test]
fn relayed_offers_that_are_not_for_us_are_ignored() {
    let mut h = Harness::new(config(&["wss://a", "wss://b"]));
    h.drain();
    h.open_and_announce(T0);
    h.open_and_announce(T1);
    // Our own peer id (the tracker echoing us).
    h.message(T0, relayed_offer(ME, [1; 20]));
    // Another swarm on a shared socket.
    let mut other = relayed_offer(peer(2), [2; 20]);
    other["info_hash"] = encode_binary(&[b'x'; 20]).into();
    h.message(T0, other);
    assert!(h.drain().is_empty());
    // A peer we already have, reached again, also through the other tracker.
    h.message(T0, relayed_offer(peer(3), [3; 20]));
    assert_eq!(h.drain().len(), 1);
    h.message(T0, relayed_offer(peer(3), [4; 20]));
    h.message(T1, relayed_offer(peer(3), [5; 20]));
    assert!(h.drain().is_empty());
}

#[test]
fn answers_to_our_offers_are_applied_once() {
    let mut h = Harness::new(config(&["wss://a"]));
    h.drain();
    let (announce, conns) = h.open_and_announce(T0);
    let ids = offer_ids(&announce);
    h.message(T0, relayed_answer(peer(1), ids[2]));
    assert_eq!(
        h.drain(),
        vec![TrackerAction::ApplyAnswer {
            connection: conns[2],
            sdp: "remote-answer".into()
        }]
    );
    assert_eq!(h.client.remote_peer_id(conns[2]), Some(peer(1)));
    // Duplicate answer, unknown offer id: nothing.
    h.message(T0, relayed_answer(peer(1), ids[2]));
    h.message(T0, relayed_answer(peer(2), [0x55; 20]));
    assert!(h.drain().is_empty());
    // The same peer answering a second offer is a duplicate connection.
    h.message(T0, relayed_answer(peer(1), ids[0]));
    assert_eq!(
        h.drain(),
        vec![TrackerAction::CloseConnection {
            connection: conns[0]
        }]
    );
    // Once open, the connection no longer expires.
    h.client.handle_connection_opened(h.now, conns[2]);
    let later = h.run_until(h.now + Duration::from_secs(55));
    assert!(!closed(&later).contains(&conns[2]));
    assert_eq!(h.client.remote_peer_id(conns[2]), Some(peer(1)));
}

#[test]
fn answers_only_count_on_the_tracker_that_carried_the_offer() {
    let mut h = Harness::new(config(&["wss://a", "wss://b"]));
    h.drain();
    let (a0, c0) = h.open_and_announce(T0);
    let (a1, c1) = h.open_and_announce(T1);
    let (ids0, ids1) = (offer_ids(&a0), offer_ids(&a1));
    assert!(
        ids0.iter().all(|id| !ids1.contains(id)),
        "offer ids unique across trackers"
    );
    assert!(c0.iter().all(|c| !c1.contains(c)));
    h.message(T1, relayed_answer(peer(1), ids0[0]));
    assert!(h.drain().is_empty());
    h.message(T0, relayed_answer(peer(1), ids0[0]));
    assert_eq!(h.drain().len(), 1);
    // The same peer answering through the other tracker is a duplicate.
    h.message(T1, relayed_answer(peer(1), ids1[0]));
    assert_eq!(
        h.drain(),
        vec![TrackerAction::CloseConnection { connection: c1[0] }]
    );
}

#[test]
fn unanswered_offers_expire_after_50_seconds() {
    let mut h = Harness::new(TrackerConfig {
        max_connections: 5,
        ..config(&["wss://a"])
    });
    h.drain();
    let start = h.now;
    let (_, conns) = h.open_and_announce(T0);
    let actions = h.run_until(start + Duration::from_secs(49));
    assert!(closed(&actions).is_empty());
    let actions = h.run_until(start + Duration::from_secs(50));
    let mut gone = closed(&actions);
    gone.sort();
    assert_eq!(gone, conns);
    assert_eq!(h.client.connection_count(), 0);
}

#[test]
fn accepted_offer_expires_when_the_channel_never_opens() {
    let mut h = Harness::new(config(&["wss://a"]));
    h.drain();
    h.open_and_announce(T0);
    h.message(T0, relayed_offer(peer(4), [4; 20]));
    let [TrackerAction::AcceptOffer { connection, .. }] = h.drain()[..] else {
        panic!()
    };
    h.client
        .handle_answer_created(h.now, connection, "a".into());
    h.drain();
    let actions = h.run_until(h.now + Duration::from_secs(51));
    assert!(closed(&actions).contains(&connection));
}

#[test]
fn failed_and_closed_connections_free_their_slots() {
    let mut h = Harness::new(TrackerConfig {
        max_connections: 2,
        ..config(&["wss://a"])
    });
    h.drain();
    let (_, conns) = h.open_and_announce(T0);
    assert_eq!(h.client.connection_count(), 2);
    h.client.handle_connection_failed(h.now, conns[0]);
    h.client.handle_connection_closed(h.now, conns[1]);
    assert_eq!(h.client.connection_count(), 0);
    assert!(h.drain().is_empty(), "the host already knows");
    h.message(T0, relayed_offer(peer(1), [1; 20]));
    assert_eq!(h.drain().len(), 1);
}

#[test]
fn answer_created_after_the_tracker_closed_closes_the_connection() {
    let mut h = Harness::new(config(&["wss://a"]));
    h.drain();
    h.open_and_announce(T0);
    h.message(T0, relayed_offer(peer(4), [4; 20]));
    let [TrackerAction::AcceptOffer { connection, .. }] = h.drain()[..] else {
        panic!()
    };
    h.client.handle_socket_closed(h.now, T0);
    let actions = h.drain();
    assert!(closed(&actions).contains(&connection), "{actions:?}");
    h.client
        .handle_answer_created(h.now, connection, "a".into());
    assert!(h.drain().is_empty());
}

#[test]
fn reconnects_with_growing_jittered_backoff_reset_after_open() {
    let cfg = TrackerConfig {
        reconnect_base: Duration::from_secs(5),
        reconnect_max: Duration::from_secs(40),
        reconnect_jitter: Duration::from_secs(2),
        ..config(&["wss://a"])
    };
    let mut h = Harness::new(cfg);
    h.drain();
    let mut delays = Vec::new();
    for _ in 0..6 {
        // Each attempt fails before opening.
        h.client.handle_socket_closed(h.now, T0);
        let SocketState::Waiting { reopen_at } = h.client.socket_state(T0).unwrap() else {
            panic!()
        };
        delays.push(reopen_at.saturating_since(h.now).as_secs_f64());
        assert_eq!(h.client.next_timeout(), Some(reopen_at));
        let actions = h.run_until(reopen_at);
        assert_eq!(
            actions,
            vec![TrackerAction::OpenSocket {
                tracker: T0,
                url: "wss://a".into()
            }]
        );
    }
    for (delay, base) in delays.iter().zip([5.0, 10.0, 20.0, 40.0, 40.0, 40.0]) {
        assert!(*delay >= base && *delay <= base + 2.0, "{delays:?}");
    }
    // A successful open resets the count: the next close waits the base delay again.
    h.open_and_announce(T0);
    h.client.handle_socket_closed(h.now, T0);
    let SocketState::Waiting { reopen_at } = h.client.socket_state(T0).unwrap() else {
        panic!()
    };
    let d = reopen_at.saturating_since(h.now).as_secs_f64();
    assert!((5.0..=7.0).contains(&d), "{d}");
}

#[test]
fn socket_close_drops_pending_offers_but_keeps_exchanged_connections() {
    let mut h = Harness::new(config(&["wss://a"]));
    h.drain();
    let (announce, conns) = h.open_and_announce(T0);
    h.message(T0, relayed_answer(peer(1), offer_ids(&announce)[0]));
    h.drain();
    h.client.handle_socket_closed(h.now, T0);
    let mut gone = closed(&h.drain());
    gone.sort();
    assert_eq!(gone, conns[1..].to_vec());
    assert_eq!(h.client.remote_peer_id(conns[0]), Some(peer(1)));
}

#[test]
fn garbage_closes_only_that_tracker_and_backs_off() {
    let mut h = Harness::new(config(&["wss://bad", "wss://good"]));
    h.drain();
    let (_, bad_conns) = h.open_and_announce(T0);
    let (good_announce, good_conns) = h.open_and_announce(T1);
    let garbage = [
        "not json at all".to_string(),
        "[]".into(),
        r#"{"action":"announce","info_hash":"too short"}"#.into(),
        r#"{"action":"announce","info_hash":"ĀĀĀĀĀĀĀĀĀĀĀĀĀĀĀĀĀĀĀĀ"}"#.into(),
        r#"{"action":"announce","interval":"soon"}"#.into(),
        r#"{"action":"dance"}"#.into(),
        "x".repeat(300 * 1024),
    ];
    let mut everything = Vec::new();
    let mut previous_delay = 0.0;
    for (i, text) in garbage.iter().enumerate() {
        h.client.handle_socket_message(h.now, T0, text);
        let actions = h.drain();
        assert_eq!(warnings(&actions).len(), 1, "{i}: {actions:?}");
        assert!(
            actions.contains(&TrackerAction::CloseSocket { tracker: T0 }),
            "{i}"
        );
        if i == 0 {
            let mut gone = closed(&actions);
            gone.sort();
            assert_eq!(gone, bad_conns);
        }
        everything.extend(actions);
        // Frames after our CloseSocket are ignored; the host's close event too.
        h.client.handle_socket_message(h.now, T0, "more garbage");
        h.client.handle_socket_closed(h.now, T0);
        assert!(h.drain().is_empty());
        // Reopen; a tracker that keeps sending garbage waits longer each time.
        let SocketState::Waiting { reopen_at } = h.client.socket_state(T0).unwrap() else {
            panic!()
        };
        let delay = reopen_at.saturating_since(h.now).as_secs_f64();
        assert!(
            delay > previous_delay || delay >= 300.0,
            "{i}: {delay} after {previous_delay}"
        );
        previous_delay = delay;
        everything.extend(h.run_until(reopen_at));
        h.client.handle_socket_opened(h.now, T0);
        let actions = h.drain();
        for c in create_offers(&actions) {
            h.client.handle_offer_created(h.now, c, "x".into());
        }
        everything.extend(actions);
        everything.extend(h.drain());
    }
    // The good tracker was never touched: no warning, no close, its offers only expired.
    assert_eq!(h.client.socket_state(T1), Some(SocketState::Open));
    assert!(!everything.contains(&TrackerAction::CloseSocket { tracker: T1 }));
    assert!(everything
        .iter()
        .all(|a| !matches!(a, TrackerAction::Warning { tracker, .. } if *tracker == T1)));
    assert!(
        sends(&everything).iter().any(|(t, _)| *t == T1),
        "kept announcing"
    );
    let _ = (good_announce, good_conns);
    h.message(T1, relayed_offer(peer(9), [9; 20]));
    assert!(matches!(
        h.drain().as_slice(),
        [TrackerAction::AcceptOffer { .. }]
    ));
}

#[test]
fn failure_reason_warns_drops_offers_and_backs_off() {
    let mut h = Harness::new(config(&["wss://a", "wss://b"]));
    h.drain();
    let (_, conns) = h.open_and_announce(T0);
    h.open_and_announce(T1);
    h.message(
        T0,
        json!({"action": "announce", "failure reason": "Unknown infoHash", "info_hash": encode_binary(&INFO_HASH)}),
    );
    let actions = h.drain();
    assert_eq!(
        warnings(&actions),
        vec!["tracker failure: Unknown infoHash"]
    );
    let mut gone = closed(&actions);
    gone.sort();
    assert_eq!(gone, conns);
    assert_eq!(h.client.socket_state(T0), Some(SocketState::Open));
    // A bare failure (the server could not parse us) counts too.
    h.message(T0, json!({"failure reason": "invalid info_hash"}));
    assert_eq!(warnings(&h.drain()).len(), 1);
    // A failure for another info hash is not ours.
    h.message(
        T0,
        json!({"action": "announce", "failure reason": "x", "info_hash": encode_binary(&[1; 20])}),
    );
    assert!(h.drain().is_empty());
}

#[test]
fn warning_message_is_reported_and_the_frame_still_counts() {
    let mut h = Harness::new(config(&["wss://a"]));
    h.drain();
    h.open_and_announce(T0);
    let mut offer = relayed_offer(peer(5), [5; 20]);
    offer["warning message"] = "slow down".into();
    h.message(T0, offer);
    let actions = h.drain();
    assert_eq!(warnings(&actions), vec!["tracker warning: slow down"]);
    assert!(matches!(
        actions.last(),
        Some(TrackerAction::AcceptOffer { .. })
    ));
}

#[test]
fn tracker_id_is_echoed() {
    let mut h = Harness::new(config(&["wss://a"]));
    h.drain();
    h.open_and_announce(T0);
    let mut r = reply(30.0);
    r["tracker id"] = "abc".into();
    h.message(T0, r);
    h.advance(Duration::from_secs(30));
    for c in create_offers(&h.drain()) {
        h.client.handle_offer_created(h.now, c, "x".into());
    }
    assert_eq!(sends(&h.drain())[0].1["trackerid"], "abc");
}

#[test]
fn leave_sends_stopped_closes_and_never_reconnects() {
    let mut h = Harness::new(config(&["wss://a", "wss://b", "https://not-a-ws"]));
    let first = h.drain();
    assert_eq!(warnings(&first).len(), 1, "non-WebSocket URL reported");
    assert_eq!(
        h.client.socket_state(TrackerId(2)),
        Some(SocketState::Disabled)
    );
    let (announce, conns) = h.open_and_announce(T0);
    h.message(T0, relayed_answer(peer(1), offer_ids(&announce)[0]));
    h.drain();
    h.client.leave(h.now);
    let actions = h.drain();
    let sent = sends(&actions);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, T0);
    assert_eq!(sent[0].1["event"], "stopped");
    assert!(sent[0].1.get("offers").is_none());
    assert!(actions.contains(&TrackerAction::CloseSocket { tracker: T0 }));
    assert!(
        actions.contains(&TrackerAction::CloseSocket { tracker: T1 }),
        "connecting socket closed"
    );
    let mut gone = closed(&actions);
    gone.sort();
    assert_eq!(
        gone,
        conns[1..].to_vec(),
        "unanswered offers closed, answered kept"
    );
    h.client.handle_socket_closed(h.now, T0);
    h.client.handle_socket_closed(h.now, T1);
    // Only the answered connection's own deadline is left: it must open within 50 s.
    let later = h.run_until(h.now + Duration::from_secs(3600));
    assert_eq!(
        later,
        vec![TrackerAction::CloseConnection {
            connection: conns[0]
        }]
    );
    assert_eq!(h.client.next_timeout(), None);
    h.client.leave(h.now);
    assert!(h.drain().is_empty());
}

#[test]
fn same_seed_same_actions() {
    let run = || {
        let mut h = Harness::new(config(&["wss://a", "wss://b"]));
        let mut log = h.drain();
        h.open_and_announce(T0);
        h.client.handle_socket_closed(h.now, T1);
        log.extend(h.run_until(h.now + Duration::from_secs(120)));
        log
    };
    assert_eq!(run(), run());
}

#[derive(Debug, Clone)]
enum Step {
    Opened(u8),
    Closed(u8),
    Message(u8, String),
    OfferCreated(u32),
    AnswerCreated(u32),
    ConnOpened(u32),
    ConnFailed(u32),
    ConnClosed(u32),
    Advance(u64),
    Leave,
}

fn frame_text() -> impl Strategy<Value = String> {
    let id = prop_oneof![
        Just(encode_binary(&INFO_HASH)),
        Just(encode_binary(&ME)),
        (0u8..4).prop_map(|n| encode_binary(&peer(n))),
        "\\PC{0,25}",
    ];
    prop_oneof![
        "\\PC{0,40}",
        (id.clone(), id.clone(), id.clone(), 0u8..4, any::<f64>()).prop_map(
            |(h, p, o, kind, n)| {
                let mut v =
                    json!({"action": "announce", "info_hash": h, "peer_id": p, "offer_id": o});
                match kind {
                    0 => v["offer"] = json!({"type": "offer", "sdp": "s"}),
                    1 => v["answer"] = json!({"type": "answer", "sdp": "s"}),
                    2 => v["interval"] = json!(n),
                    _ => v["failure reason"] = json!("no"),
                }
                v.to_string()
            }
        ),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u8..3).prop_map(Step::Opened),
        (0u8..3).prop_map(Step::Closed),
        (0u8..3, frame_text()).prop_map(|(t, s)| Step::Message(t, s)),
        (0u32..30).prop_map(Step::OfferCreated),
        (0u32..30).prop_map(Step::AnswerCreated),
        (0u32..30).prop_map(Step::ConnOpened),
        (0u32..30).prop_map(Step::ConnFailed),
        (0u32..30).prop_map(Step::ConnClosed),
        (0u64..120_000).prop_map(Step::Advance),
        Just(Step::Leave),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 200,
        // The same cases on every run (proptest picks a random seed otherwise).
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x7a6c),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Any sequence of host facts and tracker frames: no panic, never more connections than
    /// allowed, and the timer is never in the past after handling it.
    #[test]
    fn never_panics_and_respects_the_connection_cap(steps in prop::collection::vec(step(), 1..80)) {
        let mut h = Harness::new(TrackerConfig { max_connections: 6, ..config(&["wss://a", "wss://b", "ws://c"]) });
        for s in steps {
            match s {
                Step::Opened(t) => h.client.handle_socket_opened(h.now, TrackerId(t.into())),
                Step::Closed(t) => h.client.handle_socket_closed(h.now, TrackerId(t.into())),
                Step::Message(t, text) => h.client.handle_socket_message(h.now, TrackerId(t.into()), &text),
                Step::OfferCreated(c) => h.client.handle_offer_created(h.now, ConnectionId(c), "o".into()),
                Step::AnswerCreated(c) => h.client.handle_answer_created(h.now, ConnectionId(c), "a".into()),
                Step::ConnOpened(c) => h.client.handle_connection_opened(h.now, ConnectionId(c)),
                Step::ConnFailed(c) => h.client.handle_connection_failed(h.now, ConnectionId(c)),
                Step::ConnClosed(c) => h.client.handle_connection_closed(h.now, ConnectionId(c)),
                Step::Advance(ms) => h.advance(Duration::from_millis(ms)),
                Step::Leave => h.client.leave(h.now),
            }
            h.drain();
            prop_assert!(h.client.connection_count() <= 6);
            if let Some(at) = h.client.next_timeout() {
                if at <= h.now {
                    h.client.handle_timer(h.now);
                    h.drain();
                    prop_assert!(h.client.next_timeout().is_none_or(|t| t > h.now));
                }
            }
        }
    }
}
