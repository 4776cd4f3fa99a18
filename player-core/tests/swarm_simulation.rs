//! Scenario tests of P2P in the simulation harness (tests/sim): N viewers, each a real core
//! with its own media element, sharing one origin and finding each other through the
//! simulated tracker. Every scenario is deterministic and prints its figures
//! (`cargo test --test swarm_simulation -- --nocapture`).

mod sim;

use player_core::player::SegmentSource;
use player_core::{Event, Input};

use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use sim::host::Host;
use sim::media::Piece;
use sim::network::{DownloadRecord, PeerProfile};
use sim::origin::{Content, Resource};
use sim::swarm::SwarmConfig;
use sim::watch::DownloadEnd;
use sim::Sim;

/// 1 Mbit/s, the level every scenario plays.
const BITRATE_BPS: u64 = 1_000_000;

/// A 120 s single-level VOD (30 segments of 4 s).
fn content() -> Content {
    Content::vod(120.0, &[BITRATE_BPS])
}

/// Plays to the end (or `limit_s`), prints the figures, has everyone leave, and requires
/// every invariant to have held.
fn run(sim: &mut Sim, scenario: &str, limit_s: f64) {
    let ended = sim.run_until_ended(limit_s);
    sim.print_figures(scenario);
    sim.unload_all();
    sim.assert_clean();
    assert!(ended, "{scenario}: not every viewer reached the end");
}

/// Where each segment a viewer loaded came from, in order.
fn sources(host: &Host) -> Vec<(usize, SegmentSource)> {
    host.log
        .events
        .iter()
        .filter_map(|(_, event)| match event {
            Event::SegmentLoaded {
                segment, source, ..
            } => Some((*segment, *source)),
            _ => None,
        })
        .collect()
}

/// The same swarm with P2P off for every viewer (no tracker configured).
fn without_p2p(mut config: SwarmConfig) -> SwarmConfig {
    for viewer in &mut config.viewers {
        viewer.core.p2p.trackers.clear();
    }
    config
}

/// A seed alone with the stream from 0 s, and a second viewer from 20 s, whose only peer is
/// the seed: the seed's uplink is what the scenarios vary.
fn seed_and_viewer() -> SwarmConfig {
    let mut config = SwarmConfig::new(content(), 2, 20.0);
    // Far more than both need: only the peer side is under test.
    config.origin.bandwidth_bytes_per_s = 2_500_000;
    config
}

/// Four viewers joining 5 s apart with an origin at 8x the bitrate: nobody stalls, later
/// viewers take most of their segments from earlier ones, and the origin serves far less
/// than a copy per viewer.
#[test]
fn warm_swarm_shares_segments_without_stalls() {
    let mut sim = Sim::swarm(SwarmConfig::new(content(), 4, 5.0));
    run(&mut sim, "warm swarm", 300.0);
    for viewer in 0..4 {
        let figures = sim.figures(viewer);
        assert_eq!(figures.stalls, 0, "viewer {viewer} stalled");
        assert_eq!(figures.segments, 30, "viewer {viewer}");
        if viewer > 0 {
            let share = figures.p2p_share();
            assert!(share >= 0.5, "viewer {viewer}: P2P share {share:.2}");
        }
    }
    let ratio = sim.origin_ratio();
    assert!(ratio < 2.0, "origin served {ratio:.2} videos for 4 viewers");
}

/// A 5 Mbit/s stream: segments of about 2.5 MB, more than the shim lets wait in a data
/// channel (1 MiB), so uploads wait for the channel to drain and peers cancel uploads under
/// way. Each such upload must be stopped (the driver checks it), nobody stalls, and large
/// segments are shared as well as small ones.
#[test]
fn hd_swarm_stops_the_uploads_peers_cancel() {
    let mut config = SwarmConfig::new(Content::vod(120.0, &[5_000_000]), 4, 5.0);
    config.origin.bandwidth_bytes_per_s = 5_000_000;
    for viewer in &mut config.viewers {
        viewer.profile.upload_bytes_per_s = 1_500_000;
    }
    let mut sim = Sim::swarm(config);
    run(&mut sim, "HD swarm", 400.0);
    let cancelled = sim.net.waiting_uploads_cancelled;
    println!("  {cancelled} cancels reached an upload waiting for its channel");
    assert!(cancelled > 0, "no upload was cancelled while waiting");
    for viewer in 0..4 {
        let figures = sim.figures(viewer);
        assert_eq!(figures.stalls, 0, "viewer {viewer} stalled");
        let share = figures.p2p_share();
        assert!(
            viewer == 0 || share >= 0.4,
            "viewer {viewer}: P2P share {share:.2}"
        );
    }
    let ratio = sim.origin_ratio();
    assert!(ratio < 2.5, "origin served {ratio:.2} videos for 4 viewers");
}

/// Limits that bite: one HTTP download at a time, two peer downloads, five viewers close
/// together and a sixth joining later, one of them vanishing mid-upload so that downloads resume over HTTP. The
/// driver checks after every event that no viewer has more HTTP media requests in flight than
/// `max_concurrent_http`, more segment requests open with peers (read off the wire) than
/// `max_concurrent_p2p`, or two open on one connection.
#[test]
fn never_more_concurrent_downloads_than_configured() {
    let mut config = SwarmConfig::new(content(), 6, 2.0);
    for viewer in &mut config.viewers {
        viewer.core.max_concurrent_http = 1;
        viewer.core.p2p.max_concurrent_p2p = 2;
    }
    config.viewers[1].profile.vanish_after_bytes = Some(3_000_000);
    // A late joiner finds several peers holding what it needs next: its start fills both
    // peer download slots.
    config.viewers[5].join_at_s = 30.0;
    let mut sim = Sim::swarm(config);
    run(&mut sim, "concurrency limits", 300.0);
    for (viewer, host) in sim.hosts.iter().enumerate() {
        println!(
            "  viewer {viewer}: at most {} HTTP media and {} peer downloads at once",
            host.log.max_concurrent_fetches, host.log.max_peer_downloads
        );
    }
    let most_http = sim.hosts.iter().map(|h| h.log.max_concurrent_fetches).max();
    let most_p2p = sim.hosts.iter().map(|h| h.log.max_peer_downloads).max();
    // The limits were reached, so the checks had something to check.
    assert_eq!((most_http, most_p2p), (Some(1), Some(2)));
}

/// The only peer holding the segments uploads at 80 kbit/s, an eighth of the bitrate: the
/// second viewer gives up on it in time and plays from HTTP without a stall, as it does with
/// P2P off.
#[test]
fn a_slow_peer_falls_back_to_http_in_time() {
    let mut config = seed_and_viewer();
    config.viewers[0].profile.upload_bytes_per_s = 10_000;
    let mut baseline = Sim::swarm(without_p2p(config.clone()));
    run(&mut baseline, "slow peer, P2P off", 300.0);
    let mut sim = Sim::swarm(config);
    run(&mut sim, "slow peer", 300.0);

    let viewer = &sim.hosts[1];
    let tried: Vec<&DownloadRecord> = sim.net.downloads.iter().filter(|d| d.viewer == 1).collect();
    assert!(!tried.is_empty(), "the viewer never asked the slow peer");
    assert!(
        tried.iter().all(|d| d.end != DownloadEnd::Completed),
        "a download from the slow peer completed: {tried:?}"
    );
    // Once measured, the slow peer is not asked again and again.
    assert!(
        tried.len() <= 2,
        "asked the slow peer {} times",
        tried.len()
    );
    let loaded = sources(viewer);
    assert_eq!(loaded.len(), 30);
    assert!(
        loaded.iter().all(|(_, s)| *s != SegmentSource::Peer),
        "{loaded:?}"
    );
    assert_eq!(sim.figures(1).stalls, 0);
    assert_eq!(baseline.figures(1).stalls, 0);
}

/// The only peer's uplink stops in the middle of a transfer (the channel stays open): the
/// viewer notices the silence and HTTP finishes the segment from where the peer stopped.
#[test]
fn a_stalling_peer_is_replaced_by_http_from_where_it_stopped() {
    let mut config = seed_and_viewer();
    config.viewers[0].profile.stall_after_bytes = Some(1_300_000);
    let mut sim = Sim::swarm(config);
    run(&mut sim, "stalling peer", 300.0);
    let (record, fetch) = resumed_download(&sim, 1);
    println!("  {record:?} resumed by {fetch:?}");
    assert_eq!(sim.figures(1).stalls, 0);
}

/// The peer serving a segment closes its tab mid-transfer: the viewer resumes over HTTP
/// with a byte range starting where the peer stopped, the appended bytes are exactly the
/// segment, and playback does not stall.
#[test]
fn a_vanishing_peer_is_resumed_over_http() {
    let mut config = seed_and_viewer();
    config.viewers[0].profile.vanish_after_bytes = Some(1_300_000);
    let mut sim = Sim::swarm(config);
    run(&mut sim, "vanishing peer", 300.0);
    assert!(sim.hosts[0].gone);
    let (record, fetch) = resumed_download(&sim, 1);
    println!("  {record:?} resumed by {fetch:?}");
    assert_eq!(record.end, DownloadEnd::Closed);
    assert_eq!(sim.figures(1).stalls, 0);
}

/// The peer download of `viewer` that ended early with bytes received, and the HTTP request
/// that finished it: it continues exactly where the peer stopped, and what was appended
/// under it is that segment (the host checked every byte).
fn resumed_download(sim: &Sim, viewer: usize) -> (DownloadRecord, sim::log::FetchRecord) {
    let record = sim
        .net
        .downloads
        .iter()
        .find(|d| d.viewer == viewer && d.end != DownloadEnd::Completed && d.received_bytes > 0)
        .cloned()
        .expect("no peer download ended mid-transfer");
    let host = &sim.hosts[viewer];
    let index = record.segment as usize;
    let range = sim.content().segment(0, index).range;
    let fetch = host
        .log
        .fetches
        .iter()
        .find(|f| f.resumes && f.at >= record.ended_at)
        .cloned()
        .expect("no HTTP resume");
    let resumed = fetch.range.expect("a resume asks for a byte range");
    assert_eq!(resumed.offset, range.offset + record.received_bytes);
    assert_eq!(resumed.offset + resumed.length, range.offset + range.length);
    let stored: Vec<u64> = host
        .log
        .stored
        .iter()
        .filter(|(_, r, _)| *r == fetch.request)
        .map(|&(_, _, bytes)| bytes)
        .collect();
    assert_eq!(stored, vec![record.received_bytes], "the peer's bytes kept");
    assert_eq!(
        sim.hosts[viewer].log.end_of(fetch.request).map(|e| e.1),
        Some(sim::log::HttpEnd::Done)
    );
    let appended: Vec<Piece> = host
        .log
        .appends
        .iter()
        .filter(|a| a.request == fetch.request)
        .map(|a| a.piece)
        .collect();
    assert!(
        matches!(appended[..], [Piece::Segment { index: i, .. }] if i == index),
        "appended {appended:?}"
    );
    assert!(sources(host).contains(&(index, SegmentSource::PeerThenHttp)));
    assert_eq!(fetch.resource, Resource::OtherBytes { level: 0 });
    (record, fetch)
}

/// Each viewer's media fetches: when, what, and which range.
fn media_fetches(host: &Host) -> Vec<(f64, Resource)> {
    host.log
        .fetches
        .iter()
        .filter(|f| {
            !matches!(
                f.resource,
                Resource::Multivariant | Resource::MediaPlaylist { .. }
            )
        })
        .map(|f| (sim::clock::secs(f.at), f.resource))
        .collect()
}

/// The core looks at the playhead on every input and at least every 250 ms after the last
/// one, so fetch decisions can shift by up to that when other inputs (tracker, stats timers)
/// shift the phase of its tick.
const CORE_TICK_S: f64 = 0.25;

/// Without peers P2P must cost nothing: every viewer fetches the same segments in the same
/// order as with P2P off, at the same moments up to the core's tick, and nobody stalls.
fn equals_plain_http(config: SwarmConfig, scenario: &str) {
    let mut plain = Sim::swarm(without_p2p(config.clone()));
    run(&mut plain, &format!("{scenario}, P2P off"), 300.0);
    let mut sim = Sim::swarm(config);
    run(&mut sim, scenario, 300.0);
    for (viewer, (host, plain_host)) in sim.hosts.iter().zip(&plain.hosts).enumerate() {
        let fetched = media_fetches(host);
        let plain_fetched = media_fetches(plain_host);
        assert_eq!(fetched.len(), 31, "viewer {viewer}: init and 30 segments");
        let what = |f: &[(f64, Resource)]| f.iter().map(|&(_, r)| r).collect::<Vec<_>>();
        assert_eq!(what(&fetched), what(&plain_fetched), "viewer {viewer}");
        for (&(at_s, resource), &(plain_s, _)) in fetched.iter().zip(&plain_fetched) {
            let shift_s = at_s - plain_s;
            assert!(
                shift_s.abs() <= CORE_TICK_S + 1e-6,
                "viewer {viewer}: {resource:?} fetched at {at_s:.3} s, with P2P off at {plain_s:.3} s"
            );
        }
        assert_eq!(sim.figures(viewer).stalls, 0, "viewer {viewer}");
    }
    assert_eq!(sim.origin.served_bytes, plain.origin.served_bytes);
}

/// Alone in the swarm: the tracker answers, nobody else is there.
#[test]
fn a_lone_viewer_fetches_what_plain_http_fetches() {
    equals_plain_http(SwarmConfig::new(content(), 1, 0.0), "lone viewer");
}

/// Three viewers whose tracker accepts the socket and never answers: no peer is ever met.
#[test]
fn viewers_without_tracker_answers_fetch_what_plain_http_fetches() {
    let mut config = SwarmConfig::new(content(), 3, 5.0);
    config.tracker.answers = false;
    equals_plain_http(config, "silent tracker");
}

/// Three viewers whose tracker is down.
#[test]
fn viewers_without_a_tracker_fetch_what_plain_http_fetches() {
    let mut config = SwarmConfig::new(content(), 3, 5.0);
    config.tracker.reachable = false;
    equals_plain_http(config, "unreachable tracker");
}

/// Runs until `viewer` has a media segment append under way, from `from_s` on.
fn run_until_appending(sim: &mut Sim, viewer: usize, from_s: f64) {
    sim.run_until_s(from_s);
    let segment = |p: &Piece| matches!(p, Piece::Segment { .. });
    while !sim.hosts[viewer].media.appending(segment) {
        assert!(sim.step(), "nothing more happens");
    }
}

/// A viewer turns P2P off while a segment it keeps for peers is being appended: the body
/// must still be released (the append was ordered with `keep`).
#[test]
fn p2p_turned_off_during_an_append_releases_its_body() {
    let mut sim = Sim::swarm(SwarmConfig::new(content(), 3, 2.0));
    run_until_appending(&mut sim, 2, 15.0);
    sim.input(2, Input::SetP2p { enabled: false });
    run(&mut sim, "P2P off during an append", 300.0);
}

/// A viewer turns P2P on while a segment is being appended without `keep`: the host frees
/// that body, so the viewer must not offer it to peers (who would ask for it).
#[test]
fn p2p_turned_on_during_an_append_does_not_offer_its_body() {
    let mut config = SwarmConfig::new(content(), 3, 10.0);
    config.viewers[0].core.p2p.enabled = false;
    let mut sim = Sim::swarm(config);
    run_until_appending(&mut sim, 0, 9.0);
    sim.input(0, Input::SetP2p { enabled: true });
    run(&mut sim, "P2P on during an append", 300.0);
    assert!(
        sim.figures(0).uploaded_bytes > 0,
        "the viewer never served its peers"
    );
}

/// What can go wrong with one viewer as a peer.
#[derive(Debug, Clone, Copy)]
enum Fault {
    None,
    /// Its uplink stops after this many segment bytes.
    Stall(u64),
    /// It vanishes after uploading this many segment bytes.
    VanishAfterBytes(u64),
    /// It vanishes at this time.
    VanishAt(f64),
}

/// A viewer: join time, uplink, access latency, fault.
fn viewer() -> impl Strategy<Value = (f64, u64, u64, Fault)> {
    let fault = prop_oneof![
        3 => Just(Fault::None),
        1 => (1u64..2_000_000).prop_map(Fault::Stall),
        1 => (1u64..2_000_000).prop_map(Fault::VanishAfterBytes),
        1 => (1.0f64..60.0).prop_map(Fault::VanishAt),
    ];
    // Uplinks from 10 kB/s, far below any bitrate here, to 3 MB/s, far above; access
    // latencies from a LAN's to a satellite link's.
    (0.0f64..40.0, 10_000u64..3_000_000, 1u64..300, fault)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 32,
        // Regressions are reported in the failure message; no files outside tests/sim.
        failure_persistence: None,
        // The same cases on every run (proptest picks a random seed otherwise).
        rng_seed: RngSeed::Fixed(0x5ea1),
        ..ProptestConfig::default()
    })]

    /// Random join times, uplinks, access latencies and faults (stalls, vanishing), at 1 or
    /// 5 Mbit/s. Invariants checked by the driver after every event: no panic, no `Timeout`
    /// in the past, HTTP and peer downloads within their limits and one per connection, no
    /// duplicate fetch, nothing appended that is not exactly the bytes of a segment, no
    /// tracker frame or peer message that breaks its protocol, no honest peer dropped, every
    /// cancelled upload stopped, kept bodies within the store limit. At the end: every viewer
    /// still there played to the end, every HTTP fetch was answered or cancelled, every peer
    /// request ended, and leaving released every kept body.
    #[test]
    fn random_swarms_keep_the_invariants(
        viewers in prop::collection::vec(viewer(), 2..6),
        // 5 Mbit/s segments (2.5 MB) make uploads wait on the shim's 1 MiB channel window.
        bitrate_bps in prop_oneof![Just(BITRATE_BPS), Just(5 * BITRATE_BPS)],
        origin_speedup in 3.0f64..10.0,
    ) {
        let mut config = SwarmConfig::new(Content::vod(60.0, &[bitrate_bps]), 0, 0.0);
        config.origin.bandwidth_bytes_per_s = (bitrate_bps as f64 / 8.0 * origin_speedup) as u64;
        for (i, &(join_at_s, upload_bytes_per_s, latency_ms, fault)) in viewers.iter().enumerate() {
            let mut viewer = sim::swarm::ViewerConfig::new(100 + i as u64, join_at_s);
            viewer.profile = PeerProfile {
                upload_bytes_per_s,
                latency: player_core::Duration::from_millis(latency_ms),
                stall_after_bytes: match fault { Fault::Stall(b) => Some(b), _ => None },
                vanish_after_bytes: match fault { Fault::VanishAfterBytes(b) => Some(b), _ => None },
                ..PeerProfile::default()
            };
            viewer.vanish_at_s = match fault { Fault::VanishAt(at) => Some(at), _ => None };
            config.viewers.push(viewer);
        }
        let mut sim = Sim::swarm(config);
        let ended = sim.run_until_ended(400.0);
        prop_assert!(sim.violations.is_empty(), "{}", sim.violations.join("\n"));
        prop_assert!(ended, "not every viewer ended");
        for (viewer, host) in sim.hosts.iter().enumerate().filter(|(_, h)| !h.gone) {
            for fetch in &host.log.fetches {
                prop_assert!(
                    host.log.end_of(fetch.request).is_some(),
                    "viewer {viewer}: {fetch:?} never answered nor cancelled"
                );
            }
            let open = sim.net.open_requests(viewer);
            prop_assert!(open.is_empty(), "viewer {viewer}: peer requests still open: {open:?}");
        }
        sim.unload_all();
        prop_assert!(sim.violations.is_empty(), "{}", sim.violations.join("\n"));
    }
}

/// One thing a viewer or the clock does.
#[derive(Debug, Clone)]
enum Churn {
    Tick { ms: u64 },
    Seek { viewer: usize, to_s: f64 },
    Pause { viewer: usize },
    Play { viewer: usize },
    P2p { viewer: usize, enabled: bool },
    Metered { viewer: usize, metered: bool },
}

fn churn() -> impl Strategy<Value = Churn> {
    prop_oneof![
        5 => (0u64..6_000).prop_map(|ms| Churn::Tick { ms }),
        2 => (0..4usize, 0.0f64..59.5).prop_map(|(viewer, to_s)| Churn::Seek { viewer, to_s }),
        1 => (0..4usize).prop_map(|viewer| Churn::Pause { viewer }),
        1 => (0..4usize).prop_map(|viewer| Churn::Play { viewer }),
        1 => (0..4usize, any::<bool>()).prop_map(|(viewer, enabled)| Churn::P2p { viewer, enabled }),
        1 => (0..4usize, any::<bool>()).prop_map(|(viewer, metered)| Churn::Metered { viewer, metered }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 32,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0xc4a2),
        ..ProptestConfig::default()
    })]

    /// The invariants of `random_swarms_keep_the_invariants` while viewers seek, pause, turn
    /// P2P off and on and move to metered networks.
    #[test]
    fn viewer_churn_keeps_the_invariants(
        joins in prop::collection::vec(0.0f64..20.0, 4),
        actions in prop::collection::vec(churn(), 1..40),
    ) {
        let mut config = SwarmConfig::new(Content::vod(60.0, &[BITRATE_BPS]), 4, 0.0);
        config.origin.bandwidth_bytes_per_s = BITRATE_BPS; // 8x the bitrate
        for (viewer, join_at_s) in config.viewers.iter_mut().zip(joins) {
            viewer.join_at_s = join_at_s;
        }
        let mut sim = Sim::swarm(config);
        sim.run_until_s(1.0);
        for action in actions {
            let live = |sim: &Sim, v: usize| sim.hosts[v].joined && !sim.hosts[v].gone;
            match action {
                Churn::Tick { ms } => {
                    let until = sim::clock::secs(sim.now) + ms as f64 / 1000.0;
                    sim.run_until_s(until);
                }
                Churn::Seek { viewer, to_s } if live(&sim, viewer) => sim.seek_viewer(viewer, to_s),
                Churn::Pause { viewer } if live(&sim, viewer) => sim.pause_viewer(viewer, true),
                Churn::Play { viewer } if live(&sim, viewer) => sim.pause_viewer(viewer, false),
                Churn::P2p { viewer, enabled } if live(&sim, viewer) => {
                    sim.input(viewer, Input::SetP2p { enabled })
                }
                Churn::Metered { viewer, metered } if live(&sim, viewer) => sim.input(
                    viewer,
                    Input::Network { save_data: metered, cellular: false },
                ),
                _ => {}
            }
            prop_assert!(sim.violations.is_empty(), "{}", sim.violations.join("\n"));
        }
        sim.run_until_s(25.0);
        for viewer in 0..4 {
            sim.pause_viewer(viewer, false);
        }
        let ended = sim.run_until_ended(sim::clock::secs(sim.now) + 400.0);
        prop_assert!(sim.violations.is_empty(), "{}", sim.violations.join("\n"));
        let fatal = sim.hosts.iter().any(|h| h.log.errors().iter().any(|e| e.2));
        prop_assert!(ended || fatal, "not every viewer ended");
        sim.unload_all();
        prop_assert!(sim.violations.is_empty(), "{}", sim.violations.join("\n"));
    }
}

/// Bounded memory: two viewers watch a two-hour VOD end to end, sharing it, with the store
/// capped at 8 MiB (16 segments of this stream). The driver checks after every event that the
/// bodies a host keeps for peers never exceed the cap; the store evicts what is least useful
/// (farthest behind the playhead) as playback goes on.
#[test]
fn a_two_hour_video_keeps_the_store_under_its_cap() {
    const CAP: u64 = 8 * 1024 * 1024;
    let mut config = SwarmConfig::new(Content::vod(7200.0, &[BITRATE_BPS]), 2, 10.0);
    for viewer in &mut config.viewers {
        viewer.core.p2p.store_max_bytes = CAP;
    }
    let mut sim = Sim::swarm(config);
    let mut most_kept = [0u64; 2];
    sim.run_until_checking(7400.0, |sim| {
        for (viewer, host) in sim.hosts.iter().enumerate() {
            most_kept[viewer] = most_kept[viewer].max(host.kept_bodies().1);
        }
    });
    sim.print_figures("two-hour video, 8 MiB store");
    println!("  most bytes kept for peers: {most_kept:?} (cap {CAP})");
    sim.unload_all();
    sim.assert_clean();
    for (viewer, &kept) in most_kept.iter().enumerate() {
        assert!(
            sim.hosts[viewer].media.ended,
            "viewer {viewer} did not reach the end"
        );
        assert!(kept <= CAP);
        // The cap was reached, so eviction really ran.
        assert!(kept > CAP / 2, "viewer {viewer} kept at most {kept}");
    }
    assert!(
        sim.figures(1).p2p_share() > 0.5,
        "the second viewer shared little"
    );
}
