//! The whole `Player` facing hostile P2P input, driven by hand: a peer reached through the
//! tracker that sends garbage, an unknown command or wrong lengths, floods us with requests or
//! asks for segments we never offered is dropped (and banned, the ban listed in the stats
//! with its reason); one that never answers is given up on; a tracker that sends garbage
//! loses its socket, and in every case playback goes on over HTTP. Also: what metered connections and the P2P switch change, and the checks of peer
//! segments against the integrity file (the host's digest decides) or, without one, against
//! the media element's decode errors.

use player_core::p2p::wire::{
    encode_command, Message, MessageReader, PeerCommand, MAX_MESSAGE_BYTES,
};
use std::collections::BTreeSet;

use player_core::integrity::sha256;
use player_core::p2p::session::{MAX_REQUESTS_PER_WINDOW, MAX_UNOFFERED_REQUESTS};
use player_core::player::{
    Ban, BanKind, Bytes, FetchOrder, FetchPurpose, IntegrityCheck, MediaSnapshot, RecoveryReason,
    RequestId, SegmentSource, Stats,
};
use player_core::swarm::wire::encode_binary;
use player_core::swarm::{ConnectionId, TrackerId};
use player_core::{Config, Duration, Event, Input, Instant, Output, Player};
use serde_json::{json, Value};

const PLAYLIST_URL: &str = "https://origin.test/video/index.m3u8";
const SEGMENTS: usize = 10;
const SEGMENT_BYTES: u64 = 100_000;
const TRACKER: TrackerId = TrackerId(0);
const REMOTE_PEER: &[u8; 20] = b"-PM0203-remotepeer01";
const OTHER_PEER: &[u8; 20] = b"-PM0203-otherpeer002";

/// How the stats name a peer: the last four bytes of its id in hex.
fn short_id(peer_id: &[u8; 20]) -> String {
    peer_id[16..].iter().map(|b| format!("{b:02x}")).collect()
}

fn media_playlist() -> String {
    let mut text = String::from(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-PLAYLIST-TYPE:VOD\n\
         #EXT-X-MAP:URI=\"video.mp4\",BYTERANGE=\"1000@0\"\n",
    );
    for i in 0..SEGMENTS as u64 {
        let offset = 1000 + i * SEGMENT_BYTES;
        text.push_str(&format!(
            "#EXTINF:4.0,\n#EXT-X-BYTERANGE:{SEGMENT_BYTES}@{offset}\nvideo.mp4\n"
        ));
    }
    text.push_str("#EXT-X-ENDLIST\n");
    text
}

/// The bytes a peer is supposed to send for segment `index` in the integrity tests.
fn true_bytes(index: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; SEGMENT_BYTES as usize];
    bytes[..8].copy_from_slice(&index.to_be_bytes());
    bytes
}

/// PeerTube's VOD-form integrity file for [`media_playlist`], with the digests of
/// [`true_bytes`].
fn integrity_json() -> String {
    let ranges: Vec<String> = (0..SEGMENTS as u64)
        .map(|i| {
            let offset = 1000 + i * SEGMENT_BYTES;
            let last = offset + SEGMENT_BYTES - 1;
            format!("\"{offset}-{last}\": \"{}\"", sha256(&true_bytes(i)))
        })
        .collect();
    format!("{{\"video.mp4\": {{{}}}}}", ranges.join(", "))
}

/// A player and the host's side of it: answers every fetch at once, appends at once.
struct Host {
    player: Player,
    now: Instant,
    outputs: Vec<Output>,
    fetches: Vec<FetchOrder>,
    /// Bodies that came from peers (`StoreBytes`).
    peer_bodies: BTreeSet<RequestId>,
    /// Which appends the media element refuses (it cannot decode the bytes).
    appends_fail: AppendsFail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AppendsFail {
    Never,
    PeerBodies,
    OriginBodies,
}

impl Host {
    fn new(config: Config) -> Self {
        Self::with_first_inputs(config, Vec::new())
    }

    /// `first` goes in before the load (as the shim reports the network type first).
    fn with_first_inputs(config: Config, first: Vec<Input>) -> Self {
        let now = Instant(5_000_000);
        let mut host = Host {
            player: Player::new(config, 11, now),
            now,
            outputs: Vec::new(),
            fetches: Vec::new(),
            peer_bodies: BTreeSet::new(),
            appends_fail: AppendsFail::Never,
        };
        for input in first {
            host.input(input);
        }
        host.input(Input::Load {
            url: PLAYLIST_URL.into(),
        });
        host.input(Input::MediaSourceOpen);
        host
    }

    fn p2p_config() -> Config {
        let mut config = Config::default();
        config.p2p.trackers = vec!["wss://tracker.test/announce".into()];
        config
    }

    fn input(&mut self, input: Input) {
        self.player.handle_input(self.now, input);
        self.drain();
    }

    /// Carries out the orders a browser would, at once, until nothing is left to do now.
    fn drain(&mut self) {
        let mut pending = Vec::new();
        loop {
            match self.player.poll_output() {
                Output::Timeout { .. } => break,
                output => pending.push(output),
            }
        }
        for output in pending {
            self.outputs.push(output.clone());
            match output {
                Output::Fetch(order) => {
                    self.fetches.push(order.clone());
                    let request = order.request;
                    self.player.handle_input(
                        self.now,
                        Input::HttpResponse {
                            request,
                            status: if order.range.is_some() { 206 } else { 200 },
                            range_start: order.range.map(|r| r.offset),
                        },
                    );
                    let text = match order.purpose {
                        _ if !order.want_text => None,
                        FetchPurpose::IntegrityFile => Some(integrity_json()),
                        _ => Some(media_playlist()),
                    };
                    let loaded_bytes = order.range.map_or(1000, |r| r.length);
                    self.player.handle_input(
                        self.now,
                        Input::HttpDone {
                            request,
                            loaded_bytes,
                            text,
                        },
                    );
                    self.drain();
                }
                Output::StoreBytes { request, .. } => {
                    self.peer_bodies.insert(request);
                }
                Output::RecreateMedia => {
                    self.player.handle_input(self.now, Input::MediaSourceOpen);
                    self.drain();
                }
                Output::Append { request, .. } => {
                    let fails = match self.appends_fail {
                        AppendsFail::Never => false,
                        AppendsFail::PeerBodies => self.peer_bodies.contains(&request),
                        AppendsFail::OriginBodies => !self.peer_bodies.contains(&request),
                    };
                    let input = if fails {
                        Input::AppendFailed {
                            request,
                            quota_exceeded: false,
                            message: "CHUNK_DEMUXER_ERROR_APPEND_FAILED".into(),
                        }
                    } else {
                        Input::AppendDone { request }
                    };
                    self.player.handle_input(self.now, input);
                    self.drain();
                }
                _ => {}
            }
        }
    }

    fn advance(&mut self, by: Duration, position_s: f64) {
        self.now = self.now + by;
        self.input(Input::Media(MediaSnapshot {
            position_s,
            buffered: Vec::new(),
            paused: false,
            seeking: false,
            ended: false,
            playback_rate: 1.0,
            tracks: Vec::new(),
        }));
        self.input(Input::Timer);
    }

    fn tracker_frames(&self) -> Vec<Value> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::TrackerSend { text, .. } => Some(serde_json::from_str(text).unwrap()),
                _ => None,
            })
            .collect()
    }

    fn events(&self) -> Vec<Event> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Event(e) => Some(e.clone()),
                _ => None,
            })
            .collect()
    }

    /// How many times the core re-created the media element.
    fn recreations(&self) -> usize {
        self.outputs
            .iter()
            .filter(|o| matches!(o, Output::RecreateMedia))
            .count()
    }

    fn closed_peers(&self) -> Vec<ConnectionId> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::ClosePeer { connection } => Some(*connection),
                _ => None,
            })
            .collect()
    }

    /// Opens the tracker socket, answers the offer requests, then has the tracker relay a
    /// remote peer's offer, which the player accepts; the channel opens. Returns the
    /// connection.
    fn connect_remote_peer(&mut self) -> ConnectionId {
        assert!(
            self.outputs.iter().any(
                |o| matches!(o, Output::TrackerConnect { tracker, .. } if *tracker == TRACKER)
            ),
            "the player opened no tracker socket"
        );
        self.input(Input::TrackerOpened { tracker: TRACKER });
        let offers: Vec<ConnectionId> = self
            .outputs
            .iter()
            .filter_map(|o| match o {
                Output::CreateOffer { connection } => Some(*connection),
                _ => None,
            })
            .collect();
        for connection in offers {
            self.input(Input::OfferCreated {
                connection,
                sdp: format!("offer-sdp-{}", connection.0),
            });
        }
        self.connect_peer(REMOTE_PEER)
    }

    /// Once the tracker socket is open: the tracker relays the offer of the remote peer
    /// `peer_id`, which the player accepts; the channel opens. Returns the connection.
    fn connect_peer(&mut self, peer_id: &[u8; 20]) -> ConnectionId {
        let announce = self
            .tracker_frames()
            .into_iter()
            .find(|f| f["action"] == "announce")
            .expect("the player announced");
        let info_hash = announce["info_hash"].as_str().unwrap().to_owned();
        let offer_sdp = format!("offer-sdp-of-{}", encode_binary(peer_id));
        let mut offer_id = *b"remote-offer-0000000";
        offer_id[12..].copy_from_slice(&peer_id[12..]);
        let offer = json!({
            "action": "announce",
            "info_hash": info_hash,
            "peer_id": encode_binary(peer_id),
            "offer_id": encode_binary(&offer_id),
            "offer": {"type": "offer", "sdp": offer_sdp},
        });
        self.input(Input::TrackerMessage {
            tracker: TRACKER,
            text: offer.to_string(),
        });
        // The latest: a peer may come back with the same offer.
        let connection = self
            .outputs
            .iter()
            .rev()
            .find_map(|o| match o {
                Output::AcceptOffer { connection, sdp } if *sdp == offer_sdp => Some(*connection),
                _ => None,
            })
            .expect("the player accepted the relayed offer");
        self.input(Input::AnswerCreated {
            connection,
            sdp: "answer-sdp".into(),
        });
        let answered = self.tracker_frames().iter().any(|f| {
            f["answer"]["sdp"] == "answer-sdp" && f["to_peer_id"] == encode_binary(peer_id)
        });
        assert!(answered, "the answer went back through the tracker");
        self.input(Input::PeerOpened { connection });
        connection
    }

    /// The statistics last reported.
    fn last_stats(&self) -> Stats {
        self.events()
            .into_iter()
            .rev()
            .find_map(|e| match e {
                Event::Stats(stats) => Some(stats),
                _ => None,
            })
            .expect("no statistics were reported")
    }

    fn peer_says(&mut self, connection: ConnectionId, command: PeerCommand) {
        for message in encode_command(&command, MAX_MESSAGE_BYTES) {
            self.input(Input::PeerMessage {
                connection,
                bytes: message,
            });
        }
    }

    /// Every command the player sent to `connection`, decoded.
    /// The segment request under way to the peer, as (segment, wire request id): the one
    /// with the highest request id (the host's log is not in order: it records the orders of
    /// nested steps first).
    fn latest_segment_request_to(&self, connection: ConnectionId) -> Option<(u64, u32)> {
        self.commands_sent_to(connection)
            .into_iter()
            .filter_map(|command| match command {
                PeerCommand::SegmentRequest {
                    segment, request, ..
                } => Some((segment, request)),
                _ => None,
            })
            .max_by_key(|&(_, request)| request)
    }

    fn commands_sent_to(&self, connection: ConnectionId) -> Vec<PeerCommand> {
        let mut reader = MessageReader::new(1 << 16);
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::PeerSend {
                    connection: c,
                    messages,
                } if *c == connection => Some(messages),
                _ => None,
            })
            .flatten()
            .filter_map(|Bytes(message)| match reader.read(message) {
                Ok(Message::Command(command)) => Some(command),
                _ => None,
            })
            .collect()
    }

    fn dropped_reasons(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::PeerDropped { reason, .. } => Some(reason),
                _ => None,
            })
            .collect()
    }

    /// The peer announces it holds every segment, and a second of playback passes (the
    /// player asks it for one).
    fn peer_announces_every_segment(&mut self, connection: ConnectionId) {
        self.peer_says(
            connection,
            PeerCommand::SegmentsAnnouncement {
                loaded: (0..SEGMENTS as u64).collect(),
                http_loading: vec![],
            },
        );
        self.play_on(1);
    }

    /// The peer announces every segment and the player asks it for one: the peer sends a
    /// segment's length of bytes for it (what they are only matters to the digest, which the
    /// tests report themselves). Returns the segment and the request id the core stored the
    /// body under.
    fn peer_delivers(&mut self, connection: ConnectionId) -> (u64, RequestId) {
        let bytes = vec![7u8; SEGMENT_BYTES as usize];
        self.peer_announces_every_segment(connection);
        let (segment, wire_request) = self
            .latest_segment_request_to(connection)
            .expect("the player asked the peer for a segment");
        self.peer_says(
            connection,
            PeerCommand::SegmentData {
                segment,
                request: wire_request,
                byte_length: bytes.len() as u64,
            },
        );
        for chunk in bytes.chunks(50_000) {
            self.input(Input::PeerMessage {
                connection,
                bytes: chunk.to_vec(),
            });
        }
        self.peer_says(
            connection,
            PeerCommand::SegmentDataSendingCompleted {
                segment,
                request: wire_request,
            },
        );
        let body = self
            .outputs
            .iter()
            .rev()
            .find_map(|o| match o {
                Output::StoreBytes { request, .. } => Some(*request),
                _ => None,
            })
            .expect("the peer's bytes were stored");
        (segment, body)
    }

    fn appended(&self, request: RequestId) -> bool {
        self.outputs
            .iter()
            .any(|o| matches!(o, Output::Append { request: r, .. } if *r == request))
    }

    fn integrity_failures(&self) -> Vec<(usize, SegmentSource, IntegrityCheck)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::IntegrityFailure {
                    segment,
                    source,
                    check,
                    ..
                } => Some((segment, source, check)),
                _ => None,
            })
            .collect()
    }

    /// Whether segment `index` was fetched over HTTP (whole, not as a resume).
    fn fetched_over_http(&self, index: u64) -> bool {
        self.fetches.iter().any(|f| {
            f.range
                .is_some_and(|r| r.offset == 1000 + index * SEGMENT_BYTES && !f.append_to_stored)
        })
    }

    /// Plays on for a while; returns how many media fetches that took.
    fn play_on(&mut self, seconds: u64) -> usize {
        let before = self.fetches.len();
        for s in 1..=seconds * 4 {
            self.advance(Duration::from_millis(250), s as f64 / 4.0);
        }
        self.fetches.len() - before
    }
}

#[test]
fn a_peer_sending_garbage_is_dropped_and_playback_goes_on() {
    let mut host = Host::new(Host::p2p_config());
    let connection = host.connect_remote_peer();
    assert!(host
        .events()
        .iter()
        .any(|e| matches!(e, Event::PeerConnected { connection: c, .. } if *c == connection)));
    host.input(Input::PeerMessage {
        connection,
        bytes: b"cstr\x07\x00garbagecend".to_vec(),
    });
    assert_eq!(host.closed_peers(), vec![connection]);
    let reasons = host.dropped_reasons();
    assert_eq!(reasons.len(), 1);
    assert!(reasons[0].contains("malformed"), "{reasons:?}");
    assert!(
        host.play_on(10) > 0,
        "playback stopped fetching after the drop"
    );
    assert!(!host
        .events()
        .iter()
        .any(|e| matches!(e, Event::Error { fatal: true, .. })));
}

#[test]
fn a_peer_announcing_the_wrong_length_is_dropped_and_its_segment_comes_over_http() {
    let mut host = Host::new(Host::p2p_config());
    let connection = host.connect_remote_peer();
    host.peer_announces_every_segment(connection);
    let (segment, wire_request) = host
        .latest_segment_request_to(connection)
        .expect("the player asked the peer for a segment it announced");
    host.peer_says(
        connection,
        PeerCommand::SegmentData {
            segment,
            request: wire_request,
            byte_length: SEGMENT_BYTES + 1,
        },
    );
    host.input(Input::PeerMessage {
        connection,
        bytes: vec![0u8; 10],
    });
    assert_eq!(host.closed_peers(), vec![connection]);
    assert!(
        host.dropped_reasons()[0].contains("announced"),
        "{:?}",
        host.dropped_reasons()
    );
    host.play_on(2);
    let refetched = host.fetches.iter().any(|f| {
        f.range
            .is_some_and(|r| r.offset == 1000 + segment * SEGMENT_BYTES && !f.append_to_stored)
    });
    assert!(
        refetched,
        "segment {segment} was not fetched over HTTP after the drop"
    );
}

#[test]
fn an_unknown_command_drops_the_peer() {
    let mut host = Host::new(Host::p2p_config());
    let connection = host.connect_remote_peer();
    // Command type 9 does not exist in p2p-media-loader v2.
    host.input(Input::PeerMessage {
        connection,
        bytes: b"cstr\x09cend".to_vec(),
    });
    assert_eq!(host.closed_peers(), vec![connection]);
}

#[test]
fn a_tracker_sending_garbage_loses_its_socket_and_playback_goes_on() {
    let mut host = Host::new(Host::p2p_config());
    host.input(Input::TrackerOpened { tracker: TRACKER });
    host.input(Input::TrackerMessage {
        tracker: TRACKER,
        text: "{not json".into(),
    });
    assert!(host
        .outputs
        .iter()
        .any(|o| matches!(o, Output::TrackerClose { tracker } if *tracker == TRACKER)));
    assert!(host.play_on(10) > 0);
    assert!(!host
        .events()
        .iter()
        .any(|e| matches!(e, Event::Error { .. })));
}

#[test]
fn p2p_off_opens_nothing_and_switching_it_off_leaves_the_swarm() {
    let mut config = Host::p2p_config();
    config.p2p.enabled = false;
    let mut host = Host::new(config);
    host.play_on(5);
    let p2p_orders = host.outputs.iter().filter(|o| {
        matches!(
            o,
            Output::TrackerConnect { .. } | Output::CreateOffer { .. } | Output::AcceptOffer { .. }
        )
    });
    assert_eq!(p2p_orders.count(), 0);

    let mut host = Host::new(Host::p2p_config());
    let connection = host.connect_remote_peer();
    host.input(Input::SetP2p { enabled: false });
    // The open connection and the offers still pending.
    assert!(
        host.closed_peers().contains(&connection),
        "{:?}",
        host.closed_peers()
    );
    let stopped = host
        .tracker_frames()
        .iter()
        .any(|f| f["event"] == "stopped");
    assert!(stopped, "no stopped announce when P2P was switched off");
    assert!(host
        .outputs
        .iter()
        .any(|o| matches!(o, Output::TrackerClose { .. })));
    assert!(host.play_on(5) > 0);
}

#[test]
fn a_metered_connection_announces_nothing_and_serves_nothing() {
    let metered = Input::Network {
        save_data: true,
        cellular: false,
    };
    let mut host = Host::with_first_inputs(Host::p2p_config(), vec![metered]);
    host.play_on(8);
    let connection = host.connect_remote_peer();
    host.peer_says(
        connection,
        PeerCommand::SegmentRequest {
            segment: 0,
            request: 5,
            resume_from_bytes: None,
        },
    );
    assert!(!host
        .outputs
        .iter()
        .any(|o| matches!(o, Output::UploadSegment { .. })));
    let kept = host
        .outputs
        .iter()
        .any(|o| matches!(o, Output::Append { keep: true, .. }));
    assert!(!kept, "bodies kept for peers although uploading is off");
    let sent = host.commands_sent_to(connection);
    let absent = sent
        .iter()
        .any(|c| matches!(c, PeerCommand::SegmentAbsent { .. }));
    assert!(absent, "the request got no SegmentAbsent answer");
    let announcements: Vec<&PeerCommand> = sent
        .iter()
        .filter(|c| matches!(c, PeerCommand::SegmentsAnnouncement { .. }))
        .collect();
    assert!(!announcements.is_empty(), "no announcement sent on open");
    for announcement in announcements {
        assert_eq!(
            *announcement,
            PeerCommand::SegmentsAnnouncement {
                loaded: vec![],
                http_loading: vec![]
            }
        );
    }
}

#[test]
fn segments_are_served_to_a_peer_from_the_store() {
    let mut host = Host::new(Host::p2p_config());
    host.play_on(8);
    let connection = host.connect_remote_peer();
    host.peer_says(
        connection,
        PeerCommand::SegmentRequest {
            segment: 1,
            request: 77,
            resume_from_bytes: Some(100),
        },
    );
    let upload = host.outputs.iter().find_map(|o| match o {
        Output::UploadSegment {
            connection: c,
            from_byte,
            header,
            ..
        } if *c == connection => Some((*from_byte, header.clone())),
        _ => None,
    });
    let (from_byte, header) = upload.expect("the stored segment was not uploaded");
    assert_eq!(from_byte, 100);
    let header = MessageReader::new(1 << 16).read(&header[0].0);
    // p2p-media-loader counts only the bytes after the resume offset in `s`.
    assert_eq!(
        header,
        Ok(Message::Command(PeerCommand::SegmentData {
            segment: 1,
            request: 77,
            byte_length: SEGMENT_BYTES - 100
        }))
    );
}

fn integrity_config() -> Config {
    let mut config = Host::p2p_config();
    // Relative: resolved against the playlist's URL, as a page would write it.
    config.integrity_url = Some("segments-sha256.json".into());
    config
}

#[test]
fn a_peer_segment_is_appended_only_once_its_digest_matches() {
    let mut host = Host::new(integrity_config());
    let integrity_fetches: Vec<&FetchOrder> = host
        .fetches
        .iter()
        .filter(|f| f.purpose == FetchPurpose::IntegrityFile)
        .collect();
    assert_eq!(integrity_fetches.len(), 1);
    assert_eq!(
        integrity_fetches[0].url,
        "https://origin.test/video/segments-sha256.json"
    );
    let connection = host.connect_remote_peer();
    let (segment, body) = host.peer_delivers(connection);
    assert!(
        host.outputs
            .iter()
            .any(|o| matches!(o, Output::HashBody { request } if *request == body)),
        "the peer's body was not hashed"
    );
    assert!(!host.appended(body), "appended before the digest was known");
    host.input(Input::BodyHashed {
        request: body,
        sha256: sha256(&true_bytes(segment)).as_bytes().to_vec(),
    });
    host.play_on(1);
    assert!(host.appended(body), "not appended after the digest matched");
    assert!(host.integrity_failures().is_empty());
    assert!(!host.closed_peers().contains(&connection));
}

#[test]
fn a_peer_segment_with_the_wrong_digest_bans_the_peer_and_comes_from_the_origin() {
    let mut host = Host::new(integrity_config());
    let connection = host.connect_remote_peer();
    let (segment, body) = host.peer_delivers(connection);
    host.input(Input::BodyHashed {
        request: body,
        sha256: sha256(&[7u8; SEGMENT_BYTES as usize]).as_bytes().to_vec(),
    });
    assert!(host
        .outputs
        .iter()
        .any(|o| matches!(o, Output::ReleaseBody { request } if *request == body)));
    assert_eq!(
        host.integrity_failures(),
        vec![(
            segment as usize,
            SegmentSource::Peer,
            IntegrityCheck::Sha256
        )]
    );
    assert_eq!(host.closed_peers(), vec![connection]);
    let reasons = host.dropped_reasons();
    assert!(reasons[0].starts_with("integrity:"), "{reasons:?}");
    host.play_on(30);
    assert!(!host.appended(body));
    assert!(
        host.fetched_over_http(segment),
        "segment {segment} was not fetched from the origin"
    );
    assert!(!host
        .events()
        .iter()
        .any(|e| matches!(e, Event::Error { .. })));
}

#[test]
fn without_a_file_a_peer_segment_the_browser_refuses_bans_the_peer() {
    let mut host = Host::new(Host::p2p_config());
    host.appends_fail = AppendsFail::PeerBodies;
    let connection = host.connect_remote_peer();
    let (segment, body) = host.peer_delivers(connection);
    host.play_on(2);
    assert!(
        host.appended(body),
        "the unchecked peer segment was not appended"
    );
    assert!(
        !host
            .outputs
            .iter()
            .any(|o| matches!(o, Output::HashBody { .. })),
        "nothing to check a digest against"
    );
    assert_eq!(
        host.integrity_failures(),
        vec![(
            segment as usize,
            SegmentSource::Peer,
            IntegrityCheck::Decode
        )]
    );
    assert_eq!(host.closed_peers(), vec![connection]);
    assert!(host.dropped_reasons()[0].starts_with("integrity:"));
    // The refusal killed the media element (MSE's append error): it is re-created.
    assert_eq!(host.recreations(), 1);
    assert!(host.events().iter().any(|e| matches!(
        e,
        Event::MediaRecovered {
            reason: RecoveryReason::PeerSegment,
            ..
        }
    )));
    host.play_on(30);
    assert!(host.fetched_over_http(segment));
    assert!(!host
        .events()
        .iter()
        .any(|e| matches!(e, Event::Error { fatal: true, .. })));
}

#[test]
fn origin_bytes_the_browser_refuses_twice_end_playback() {
    let mut config = Host::p2p_config();
    config.p2p.enabled = false;
    let mut host = Host::new(config);
    host.appends_fail = AppendsFail::OriginBodies;
    host.play_on(2);
    // Refused once: the media element is re-created and the bytes fetched again; refused
    // again: fatal.
    assert_eq!(host.recreations(), 1);
    let fatal: Vec<Event> = host
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::Error { fatal: true, .. }))
        .collect();
    assert_eq!(fatal.len(), 1, "{fatal:?}");
    assert!(host.integrity_failures().is_empty());
}

#[test]
fn bans_are_listed_in_the_stats_with_their_reasons() {
    let mut host = Host::new(integrity_config());
    let liar = host.connect_remote_peer();
    let (_, body) = host.peer_delivers(liar);
    host.input(Input::BodyHashed {
        request: body,
        sha256: sha256(&[7u8; SEGMENT_BYTES as usize]).as_bytes().to_vec(),
    });
    let babbler = host.connect_peer(OTHER_PEER);
    host.input(Input::PeerMessage {
        connection: babbler,
        bytes: b"cstr\x07\x00garbagecend".to_vec(),
    });
    assert_eq!(host.closed_peers(), vec![liar, babbler]);
    host.play_on(2);
    let stats = host.last_stats();
    assert_eq!(stats.bans_total, 2);
    let kinds: Vec<(String, BanKind)> = stats
        .bans
        .iter()
        .map(|b| (b.peer.clone(), b.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (short_id(REMOTE_PEER), BanKind::Integrity),
            (short_id(OTHER_PEER), BanKind::MalformedMessage),
        ]
    );
    assert!(
        stats.bans[0].reason.contains("segments-sha256.json"),
        "{:?}",
        stats.bans
    );
    assert!(
        stats.bans[1].reason.contains("malformed"),
        "{:?}",
        stats.bans
    );
    // A banned peer that comes back is turned away, and listed once.
    host.connect_peer(OTHER_PEER);
    host.play_on(2);
    assert_eq!(host.last_stats().bans_total, 2);
    assert!(host.dropped_reasons().iter().any(|r| r == "banned earlier"));
}

#[test]
fn a_request_flood_starts_a_bounded_number_of_uploads_then_drops_the_peer() {
    let mut host = Host::new(Host::p2p_config());
    host.play_on(8);
    let connection = host.connect_remote_peer();
    let uploads = |host: &Host| {
        host.outputs
            .iter()
            .filter(
                |o| matches!(o, Output::UploadSegment { connection: c, .. } if *c == connection),
            )
            .count()
    };
    for request in 0..=MAX_REQUESTS_PER_WINDOW {
        host.peer_says(
            connection,
            PeerCommand::SegmentRequest {
                segment: 1,
                request,
                resume_from_bytes: None,
            },
        );
    }
    // Each request replaced the previous upload (the host runs one per peer); the one past
    // the limit started none.
    assert_eq!(uploads(&host), MAX_REQUESTS_PER_WINDOW as usize);
    assert_eq!(host.closed_peers(), vec![connection]);
    host.play_on(2);
    let bans: Vec<Ban> = host.last_stats().bans;
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].kind, BanKind::RequestFlood);
}

#[test]
fn requests_for_segments_never_offered_are_answered_absent_then_drop_the_peer() {
    let mut host = Host::new(Host::p2p_config());
    let connection = host.connect_remote_peer();
    for request in 0..=MAX_UNOFFERED_REQUESTS {
        host.peer_says(
            connection,
            PeerCommand::SegmentRequest {
                segment: 1000 + u64::from(request),
                request,
                resume_from_bytes: None,
            },
        );
    }
    let absent = host
        .commands_sent_to(connection)
        .into_iter()
        .filter(|c| matches!(c, PeerCommand::SegmentAbsent { .. }))
        .count();
    assert_eq!(absent, MAX_UNOFFERED_REQUESTS as usize);
    assert_eq!(host.closed_peers(), vec![connection]);
    host.play_on(2);
    assert_eq!(host.last_stats().bans[0].kind, BanKind::UnofferedRequests);
}

#[test]
fn a_peer_that_never_answers_is_given_up_on_and_http_takes_the_segment() {
    let mut host = Host::new(Host::p2p_config());
    let connection = host.connect_remote_peer();
    host.peer_announces_every_segment(connection);
    let asked: Vec<u64> = host
        .commands_sent_to(connection)
        .into_iter()
        .filter_map(|c| match c {
            PeerCommand::SegmentRequest { segment, .. } => Some(segment),
            _ => None,
        })
        .collect();
    let segment = *asked.first().expect("the player asked the peer");
    // Not a word from the peer for longer than the stall timeout (2 s).
    host.play_on(4);
    let cancelled = host
        .commands_sent_to(connection)
        .into_iter()
        .any(|c| matches!(c, PeerCommand::CancelSegmentRequest { segment: s, .. } if s == segment));
    assert!(cancelled, "the silent request was not cancelled");
    assert!(
        host.fetched_over_http(segment),
        "segment {segment} was not fetched over HTTP"
    );
    // Silence is a failure, not a violation: the peer stays connected but is not asked again.
    assert!(host.closed_peers().is_empty());
    let asked_again = host
        .commands_sent_to(connection)
        .into_iter()
        .filter(|c| matches!(c, PeerCommand::SegmentRequest { .. }))
        .count();
    assert_eq!(asked_again, asked.len(), "the silent peer was asked again");
    assert!(!host
        .events()
        .iter()
        .any(|e| matches!(e, Event::Error { .. })));
}
