//! Integration tests of the WebTorrent tracker at `/tracker` over real loopback WebSockets:
//! announce replies, offer relay, answer forwarding, `stopped`, socket close, several swarms on
//! one socket, failure replies, the message size limit, numwant and per-socket limits, shutdown.
//!
//! No sleeps for synchronisation. To show that a socket received nothing, the test sends it a
//! scrape and expects the scrape reply as its very next frame: the tracker queues frames per
//! socket in order, and the action under test was fully handled (its sender got its reply, or
//! its effect was observed) before the scrape was sent. Timeouts only guard against hangs.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use shoal_demo::tracker::core::Limits;
use shoal_demo::{serve, RunningServer, ServerConfig, TrackerConfig};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

/// Guard against a hung test; every wait here normally ends in milliseconds.
const GUARD: Duration = Duration::from_secs(10);

struct Server {
    running: RunningServer,
    _root: tempfile::TempDir,
}

impl Server {
    async fn start(tracker: Option<TrackerConfig>) -> Self {
        let root = tempfile::tempdir().unwrap();
        let mut config = ServerConfig::new(root.path());
        config.port = 0;
        config.tracker = tracker;
        let running = serve(config).await.unwrap();
        Self {
            running,
            _root: root,
        }
    }

    async fn default() -> Self {
        Self::start(Some(TrackerConfig::default())).await
    }

    fn url(&self) -> String {
        self.running.tracker_url().expect("tracker enabled")
    }

    async fn client(&self) -> Client {
        Client::connect(&self.url()).await
    }
}

/// A 20-character id: `tag` padded with `.`.
fn id(tag: &str) -> String {
    assert!(tag.chars().count() <= 20);
    let mut s = tag.to_string();
    while s.chars().count() < 20 {
        s.push('.');
    }
    s
}

fn offer(n: usize) -> Value {
    json!({"offer": {"type": "offer", "sdp": format!("v=0 offer {n}")}, "offer_id": id(&format!("offer{n}"))})
}

fn announce(info_hash: &str, peer_id: &str, extra: Value) -> Value {
    let mut v = json!({
        "action": "announce", "info_hash": info_hash, "peer_id": peer_id,
        "numwant": 0, "uploaded": 0, "downloaded": 0, "left": 1000,
    });
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    v
}

fn with_offers(n: usize) -> Value {
    json!({"offers": (0..n).map(offer).collect::<Vec<_>>(), "numwant": n})
}

struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    async fn connect(url: &str) -> Self {
        let (ws, _) = tokio::time::timeout(GUARD, connect_async(url))
            .await
            .expect("connect timed out")
            .expect("connect failed");
        Self { ws }
    }

    async fn send(&mut self, v: &Value) {
        self.send_text(&v.to_string()).await;
    }

    async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    /// The next data frame, as JSON.
    async fn recv(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(GUARD, self.ws.next())
                .await
                .expect("no frame within the guard time")
                .expect("socket ended")
                .expect("socket error");
            match msg {
                Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Announces and returns the tracker's reply.
    async fn announce(&mut self, info_hash: &str, peer_id: &str, extra: Value) -> Value {
        self.send(&announce(info_hash, peer_id, extra)).await;
        let reply = self.recv().await;
        assert_eq!(reply["action"], "announce", "{reply}");
        assert_eq!(reply["info_hash"], info_hash, "{reply}");
        reply
    }

    async fn scrape(&mut self, info_hash: &str) -> Value {
        self.send(&json!({"action": "scrape", "info_hash": info_hash}))
            .await;
        let reply = self.recv().await;
        assert_eq!(
            reply["action"], "scrape",
            "expected the scrape reply next: {reply}"
        );
        reply["files"][info_hash].clone()
    }

    /// Asserts nothing was queued for this socket before now (see the module doc).
    async fn assert_nothing_received(&mut self) {
        self.scrape(&id("barrier")).await;
    }

    /// Reads until the server closes; returns the close code, if a close frame came.
    async fn closed(&mut self) -> Option<CloseCode> {
        loop {
            match tokio::time::timeout(GUARD, self.ws.next())
                .await
                .expect("socket not closed within the guard time")
            {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    async fn close(mut self) {
        self.ws.close(None).await.unwrap();
        // Drain until the server's close reply, so the server has seen ours.
        while let Ok(Some(Ok(_))) = tokio::time::timeout(GUARD, self.ws.next()).await {}
    }
}

/// Polls `client`'s scrape of `info_hash` until `incomplete` is `want` (the server handles a
/// closed socket asynchronously); fails after the guard time.
async fn wait_incomplete(client: &mut Client, info_hash: &str, want: u64) {
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        let counts = client.scrape(info_hash).await;
        if counts["incomplete"] == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "incomplete stayed {} (want {want})",
            counts["incomplete"]
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn announce_reply_has_counts_info_hash_and_interval() {
    let server = Server::default().await;
    let mut a = server.client().await;
    let h = id("swarm");
    let reply = a
        .announce(&h, &id("a"), json!({"event": "started", "left": 0}))
        .await;
    assert_eq!(
        reply,
        json!({"complete": 1, "incomplete": 0, "action": "announce", "info_hash": h, "interval": 120})
    );
    let mut b = server.client().await;
    let reply = b.announce(&h, &id("b"), json!({"event": "started"})).await;
    assert_eq!(
        (reply["complete"].clone(), reply["incomplete"].clone()),
        (json!(1), json!(1))
    );

    // The interval is configurable (--tracker-interval-s).
    let custom = Server::start(Some(TrackerConfig::with_interval(Duration::from_secs(30)))).await;
    let mut c = custom.client().await;
    assert_eq!(c.announce(&h, &id("c"), json!({})).await["interval"], 30);
}

#[tokio::test]
async fn binary_ids_survive_the_wire() {
    let server = Server::default().await;
    // Bytes 0x00, 0x7f, 0x80 and 0xff: control escapes and two-byte UTF-8 in JSON text.
    let h: String = ['\u{0}', '\u{7f}', '\u{80}', '\u{ff}']
        .iter()
        .cycle()
        .take(20)
        .collect();
    let mut a = server.client().await;
    a.announce(&h, &id("a"), json!({})).await;
    let mut b = server.client().await;
    b.announce(&h, &id("b"), with_offers(1)).await;
    assert_eq!(a.recv().await["info_hash"], h.as_str());
}

#[tokio::test]
async fn offer_is_relayed_and_answer_forwarded() {
    let server = Server::default().await;
    let h = id("swarm");
    let mut a = server.client().await;
    a.announce(&h, &id("a"), json!({"event": "started"})).await;

    let mut b = server.client().await;
    let reply = b
        .announce(
            &h,
            &id("b"),
            json!({"event": "started", "offers": [offer(1)], "numwant": 1}),
        )
        .await;
    assert_eq!(reply["incomplete"], 2);

    let relayed = a.recv().await;
    assert_eq!(
        relayed,
        json!({"action": "announce", "offer": {"type": "offer", "sdp": "v=0 offer 1"},
               "offer_id": id("offer1"), "peer_id": id("b"), "info_hash": h})
    );

    // A answers through the tracker; B gets it with peer_id set to the answerer.
    a.send(&announce(
        &h,
        &id("a"),
        json!({"answer": {"type": "answer", "sdp": "v=0 answer"}, "offer_id": id("offer1"), "to_peer_id": id("b")}),
    ))
    .await;
    let answer = b.recv().await;
    assert_eq!(
        answer,
        json!({"action": "announce", "answer": {"type": "answer", "sdp": "v=0 answer"},
               "offer_id": id("offer1"), "peer_id": id("a"), "info_hash": h})
    );
    // The answerer gets no announce reply for an answer.
    a.assert_nothing_received().await;
    b.assert_nothing_received().await;
}

#[tokio::test]
async fn stopped_removes_the_peer() {
    let server = Server::default().await;
    let h = id("swarm");
    let mut a = server.client().await;
    let mut b = server.client().await;
    a.announce(&h, &id("a"), json!({})).await;
    b.announce(&h, &id("b"), json!({})).await;

    let reply = a.announce(&h, &id("a"), json!({"event": "stopped"})).await;
    assert_eq!(reply["incomplete"], 1);
    // A stopped peer gets no offers any more.
    let reply = b.announce(&h, &id("b"), with_offers(5)).await;
    assert_eq!(reply["incomplete"], 1);
    a.assert_nothing_received().await;
}

#[tokio::test]
async fn closing_a_socket_removes_its_peers_from_every_swarm() {
    let server = Server::default().await;
    let (h1, h2) = (id("swarm1"), id("swarm2"));
    let mut a = server.client().await;
    a.announce(&h1, &id("a"), json!({})).await;
    a.announce(&h2, &id("a"), json!({})).await;
    let mut b = server.client().await;
    b.announce(&h1, &id("b"), json!({})).await;
    b.announce(&h2, &id("b"), json!({})).await;
    assert_eq!(b.scrape(&h1).await["incomplete"], 2);

    a.close().await;
    wait_incomplete(&mut b, &h1, 1).await;
    wait_incomplete(&mut b, &h2, 1).await;
    // And offers no longer go to it: nobody is left to receive B's offers.
    let reply = b.announce(&h1, &id("b"), with_offers(3)).await;
    assert_eq!(reply["incomplete"], 1);
    assert_eq!(
        server.running.tracker.as_ref().unwrap().connection_count(),
        1
    );
}

#[tokio::test]
async fn one_socket_carries_several_swarms() {
    let server = Server::default().await;
    let (h1, h2) = (id("swarm1"), id("swarm2"));
    let mut a = server.client().await;
    a.announce(&h1, &id("a1"), json!({})).await;
    a.announce(&h2, &id("a2"), json!({})).await;

    let mut b = server.client().await;
    b.announce(&h1, &id("b"), with_offers(1)).await;
    let first = a.recv().await;
    assert_eq!(
        (first["info_hash"].as_str(), first["peer_id"].as_str()),
        (Some(h1.as_str()), Some(id("b").as_str()))
    );

    b.announce(&h2, &id("b"), with_offers(1)).await;
    let second = a.recv().await;
    assert_eq!(second["info_hash"], h2.as_str());

    // Each swarm counts only its own peers.
    assert_eq!(b.scrape(&h1).await["incomplete"], 2);
    assert_eq!(b.scrape(&id("none")).await["incomplete"], 0);
}

#[tokio::test]
async fn numwant_and_offer_count_bound_the_relay() {
    let server = Server::default().await;
    let h = id("swarm");
    let mut others = Vec::new();
    for name in ["a", "b", "c"] {
        let mut c = server.client().await;
        c.announce(&h, &id(name), json!({})).await;
        others.push(c);
    }
    let mut d = server.client().await;

    // Five offers, three other peers: each peer gets exactly one, all different.
    d.announce(&h, &id("d"), with_offers(5)).await;
    let mut offer_ids = Vec::new();
    for c in &mut others {
        let v = c.recv().await;
        assert_eq!(v["peer_id"], id("d").as_str());
        offer_ids.push(v["offer_id"].as_str().unwrap().to_string());
        c.assert_nothing_received().await;
    }
    offer_ids.sort();
    offer_ids.dedup();
    assert_eq!(offer_ids.len(), 3, "each peer got a different offer");

    // numwant 1 with five offers: exactly one peer gets one offer.
    let mut capped = with_offers(5);
    capped["numwant"] = json!(1);
    d.announce(&h, &id("d"), capped).await;
    let mut got = 0;
    for c in &mut others {
        c.send(&json!({"action": "scrape", "info_hash": id("barrier")}))
            .await;
        let v = c.recv().await;
        if v["action"] == "announce" {
            assert!(v["offer"].is_object());
            got += 1;
            assert_eq!(c.recv().await["action"], "scrape");
        }
    }
    assert_eq!(got, 1);
    // The announcer never gets its own offer.
    d.assert_nothing_received().await;
}

#[tokio::test]
async fn invalid_ids_get_failure_reasons_and_the_socket_stays_usable() {
    let server = Server::default().await;
    let mut a = server.client().await;
    let cases = [
        (
            json!({"action": "announce", "info_hash": "short", "peer_id": id("a")}),
            "invalid info_hash",
        ),
        (
            json!({"action": "announce", "info_hash": format!("{}x", id("h")), "peer_id": id("a")}),
            "invalid info_hash",
        ),
        (
            json!({"action": "announce", "info_hash": id("h"), "peer_id": 12}),
            "invalid peer_id",
        ),
        (
            json!({"action": "announce", "info_hash": id("h"), "peer_id": id("a"), "answer": {"type": "answer"}}),
            "invalid `to_peer_id` (required with `answer`)",
        ),
        (
            json!({"action": "connect"}),
            "invalid action in WS request: connect",
        ),
    ];
    for (frame, reason) in cases {
        a.send(&frame).await;
        assert_eq!(a.recv().await, json!({"failure reason": reason}), "{frame}");
    }
    let reply = a
        .announce(&id("h"), &id("a"), json!({"event": "bogus"}))
        .await;
    assert_eq!(reply["failure reason"], "invalid event");
    assert_eq!(
        a.announce(&id("h"), &id("a"), json!({})).await["incomplete"],
        1
    );
}

#[tokio::test]
async fn garbage_gets_a_failure_without_affecting_other_sockets() {
    let server = Server::default().await;
    let h = id("swarm");
    let mut good = server.client().await;
    good.announce(&h, &id("good"), json!({})).await;

    let mut bad = server.client().await;
    for garbage in [
        "",
        "not json",
        "{\"action\":",
        "[]",
        "null",
        "42",
        "\"text\"",
    ] {
        bad.send_text(garbage).await;
        let v = bad.recv().await;
        assert!(v["failure reason"].is_string(), "{garbage:?}: {v}");
    }
    // Binary frames: JSON is accepted as bittorrent-tracker does; invalid UTF-8 is a failure.
    bad.ws
        .send(Message::binary(vec![0xff, 0xfe, 0x00]))
        .await
        .unwrap();
    assert!(bad.recv().await["failure reason"].is_string());
    let frame = announce(&h, &id("bad"), json!({})).to_string();
    bad.ws
        .send(Message::binary(frame.into_bytes()))
        .await
        .unwrap();
    assert_eq!(bad.recv().await["incomplete"], 2);
    // Malformed offers are refused whole, and nothing reaches the other peer.
    bad.send(&announce(
        &h,
        &id("bad"),
        json!({"offers": [offer(1), {"offer": 5}]}),
    ))
    .await;
    assert_eq!(bad.recv().await["failure reason"], "invalid offers");
    good.assert_nothing_received().await;
    assert_eq!(
        good.announce(&h, &id("good"), json!({})).await["incomplete"],
        2
    );
}

#[tokio::test]
async fn an_oversized_message_closes_only_that_socket() {
    let server = Server::default().await;
    let h = id("swarm");
    let mut other = server.client().await;
    other.announce(&h, &id("other"), json!({})).await;

    // Five offers with 10 KB SDPs fit under 64 KiB.
    let mut big = server.client().await;
    let sdp = "a".repeat(10_000);
    let offers: Vec<Value> = (0..5)
        .map(|i| json!({"offer": {"type": "offer", "sdp": sdp}, "offer_id": id(&format!("o{i}"))}))
        .collect();
    big.announce(&h, &id("big"), json!({"offers": offers, "numwant": 5}))
        .await;
    assert_eq!(
        other.recv().await["offer"]["sdp"].as_str().unwrap().len(),
        10_000
    );

    // 64 KiB + 1 is refused: close code 1009 (message too big).
    let mut huge = server.client().await;
    huge.send_text(&format!("\"{}\"", "x".repeat(64 * 1024 - 1)))
        .await;
    assert_eq!(huge.closed().await, Some(CloseCode::Size));
    assert_eq!(
        other.announce(&h, &id("other"), json!({})).await["incomplete"],
        2
    );
}

#[tokio::test]
async fn per_socket_swarm_limit_is_enforced() {
    let config = TrackerConfig {
        limits: Limits {
            max_swarms_per_socket: 2,
            ..Limits::default()
        },
        ..TrackerConfig::default()
    };
    let server = Server::start(Some(config)).await;
    let mut a = server.client().await;
    a.announce(&id("s1"), &id("a"), json!({})).await;
    a.announce(&id("s2"), &id("a"), json!({})).await;
    let reply = a.announce(&id("s3"), &id("a"), json!({})).await;
    assert_eq!(reply["failure reason"], "too many swarms on one connection");
    // Leaving one makes room again; another socket has its own allowance.
    a.announce(&id("s1"), &id("a"), json!({"event": "stopped"}))
        .await;
    assert_eq!(
        a.announce(&id("s3"), &id("a"), json!({})).await["incomplete"],
        1
    );
    let mut b = server.client().await;
    assert_eq!(
        b.announce(&id("s3"), &id("b"), json!({})).await["incomplete"],
        2
    );
}

#[tokio::test]
async fn a_peer_that_stops_reading_is_dropped_not_waited_for() {
    let config = TrackerConfig {
        send_queue: 4,
        ..TrackerConfig::default()
    };
    let server = Server::start(Some(config)).await;
    let tracker = server.running.tracker.clone().unwrap();
    let h = id("swarm");
    // A announces, then never reads again.
    let mut stuck = server.client().await;
    stuck.announce(&h, &id("stuck"), json!({})).await;
    let mut busy = server.client().await;
    busy.announce(&h, &id("busy"), json!({})).await;

    // Each announce relays a ~60 KB offer to A. Once the kernel's socket buffers are full the
    // tracker's queue for A fills and A is closed, while B keeps getting its replies. The bound
    // only guards against a tracker that never gives up (far more than any socket buffer).
    let sdp = "s".repeat(60_000);
    let big_offer = json!({"offers": [{"offer": {"type": "offer", "sdp": sdp}, "offer_id": id("o")}], "numwant": 1});
    let mut sent = 0;
    while tracker.connection_count() == 2 {
        assert!(sent < 3_000, "a non-reading peer was never dropped");
        busy.announce(&h, &id("busy"), big_offer.clone()).await;
        sent += 1;
    }
    // Its peer left with it: B is alone in the swarm.
    assert_eq!(busy.scrape(&h).await["incomplete"], 1);
    drop(stuck);
}

#[tokio::test]
async fn shutdown_closes_tracker_sockets_with_going_away() {
    let server = Server::default().await;
    let mut a = server.client().await;
    a.announce(&id("h"), &id("a"), json!({})).await;
    let Server { running, _root } = server;
    let stopping = tokio::spawn(running.shutdown());
    assert_eq!(a.closed().await, Some(CloseCode::Away));
    tokio::time::timeout(GUARD, stopping)
        .await
        .expect("shutdown hung")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn no_tracker_means_no_websocket_route() {
    let server = Server::start(None).await;
    assert_eq!(server.running.tracker_url(), None);
    let url = format!("ws://{}/tracker", server.running.addr);
    let error = connect_async(url).await.unwrap_err();
    match error {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            assert_eq!(response.status(), 404)
        }
        other => panic!("expected an HTTP 404, got {other}"),
    }
}
