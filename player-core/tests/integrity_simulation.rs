//! Segment integrity in the simulation harness (tests/sim): an origin that serves PeerTube's
//! `segments-sha256.json` (its VOD form by byte range, its live form by segment file), a
//! peer whose uploads are corrupted on the way, and honest viewers that must never append
//! what it sends. Every scenario is deterministic and prints what it saw
//! (`cargo test --test integrity_simulation -- --nocapture`).

mod sim;

use std::collections::BTreeSet;

use player_core::player::{FetchPurpose, IntegrityCheck, RecoveryReason, SegmentSource};
use player_core::{Config, Event, Instant};

use proptest::prelude::*;
use proptest::test_runner::RngSeed;

use sim::clock::secs;
use sim::host::Host;
use sim::network::Corruption;
use sim::origin::{Content, Resource, INTEGRITY_URL};
use sim::swarm::SwarmConfig;
use sim::Sim;

/// 1 Mbit/s, the level every scenario plays.
const BITRATE_BPS: u64 = 1_000_000;

/// A 120 s single-level VOD (30 segments of 4 s) with its integrity file.
fn content() -> Content {
    Content::vod(120.0, &[BITRATE_BPS]).with_integrity()
}

/// Viewer 0 holds the stream first and corrupts every segment it uploads; viewer 1 joins
/// 20 s later with viewer 0 as its only peer. Both are told where the integrity file is
/// when `integrity` (the origin serves it either way, if the content has one).
fn corrupt_seed_and_viewer(
    content: Content,
    corruption: Corruption,
    integrity: bool,
) -> SwarmConfig {
    let mut config = SwarmConfig::new(content, 2, 20.0);
    config.origin.bandwidth_bytes_per_s = 2_500_000;
    config.viewers[0].profile.corrupt_uploads = Some(corruption);
    for viewer in &mut config.viewers {
        viewer.core.integrity_url = integrity.then(|| INTEGRITY_URL.to_owned());
    }
    config
}

/// `(at, level, segment, source, connection, check)` of every `IntegrityFailure`.
type Failure = (
    Instant,
    usize,
    usize,
    SegmentSource,
    Option<player_core::swarm::ConnectionId>,
    IntegrityCheck,
);

fn integrity_failures(host: &Host) -> Vec<Failure> {
    host.log
        .events
        .iter()
        .filter_map(|(at, e)| match *e {
            Event::IntegrityFailure {
                level,
                segment,
                source,
                connection,
                check,
            } => Some((*at, level, segment, source, connection, check)),
            _ => None,
        })
        .collect()
}

fn dropped_reasons(host: &Host) -> Vec<String> {
    host.log
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::PeerDropped { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
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

fn integrity_fetch_times(host: &Host) -> Vec<f64> {
    host.log
        .fetches
        .iter()
        .filter(|f| f.purpose == FetchPurpose::IntegrityFile)
        .map(|f| secs(f.at))
        .collect()
}

fn tracker_traffic(sim: &Sim) -> u64 {
    let stats = &sim.tracker.stats;
    stats.announces + stats.offers_relayed + stats.answers_forwarded
}

/// With the integrity file, the honest viewer checks what the corrupting peer sends: it
/// never appends a corrupted segment (the host flags appended bytes that are not the
/// segment's), it drops and bans the peer at the first mismatch, fetches that segment from
/// the origin, asks the peer for nothing more, and plays to the end without a stall.
#[test]
fn a_corrupting_peer_is_caught_by_the_integrity_file_and_banned() {
    let config = corrupt_seed_and_viewer(content(), Corruption::Payload, true);
    let mut sim = Sim::swarm(config);
    let ended = sim.run_until_ended(300.0);
    sim.print_figures("corrupting peer, integrity file");
    sim.unload_all();
    sim.assert_clean();
    assert!(ended, "not every viewer reached the end");

    let viewer = &sim.hosts[1];
    let failures = integrity_failures(viewer);
    println!("  integrity failures: {failures:?}");
    println!("  peers dropped: {:?}", dropped_reasons(viewer));
    assert_eq!(failures.len(), 1, "one mismatch is enough to ban the peer");
    let (failed_at, level, segment, source, connection, check) = failures[0];
    assert_eq!(
        (source, check),
        (SegmentSource::Peer, IntegrityCheck::Sha256)
    );
    assert!(connection.is_some());
    assert!(
        dropped_reasons(viewer)
            .iter()
            .any(|r| r.starts_with("integrity: segment")),
        "the peer was not dropped for it"
    );
    assert_eq!(viewer.log.hashes.len(), 1, "only the peer's body is hashed");
    // The refused segment came from the origin afterwards.
    let refetched = viewer
        .log
        .fetches_of(Resource::Segment {
            level,
            index: segment,
        })
        .iter()
        .any(|f| f.at >= failed_at && f.purpose == FetchPurpose::MediaSegment);
    assert!(
        refetched,
        "segment {segment} was not fetched from the origin"
    );
    // Nothing more was asked of the banned peer.
    let asked_later: Vec<_> = sim
        .net
        .downloads
        .iter()
        .filter(|d| d.viewer == 1 && d.requested_at > failed_at)
        .collect();
    assert!(
        asked_later.is_empty(),
        "asked the banned peer: {asked_later:?}"
    );
    let loaded = sources(viewer);
    assert_eq!(loaded.len(), 30, "{loaded:?}");
    assert!(loaded.iter().all(|(_, s)| *s == SegmentSource::Http));
    assert_eq!(sim.figures(1).stalls, 0);
}

/// The corrupting peer's uplink also stalls in the middle of its first transfer, after the
/// corrupted byte: HTTP finishes the segment from where the peer stopped, and the whole body
/// (the peer's prefix and the origin's rest) is checked: it fails, the peer is banned, and
/// the segment is fetched whole from the origin.
#[test]
fn a_corrupt_prefix_finished_over_http_is_caught_too() {
    let mut config = corrupt_seed_and_viewer(content(), Corruption::Payload, true);
    // Segments are about 500 kB: the corrupted byte is in the first 300 kB.
    config.viewers[0].profile.stall_after_bytes = Some(400_000);
    let mut sim = Sim::swarm(config);
    let ended = sim.run_until_ended(300.0);
    sim.print_figures("corrupting peer stalling mid-transfer, integrity file");
    sim.unload_all();
    sim.assert_clean();
    assert!(ended);
    let viewer = &sim.hosts[1];
    let failures = integrity_failures(viewer);
    println!("  integrity failures: {failures:?}");
    println!("  peers dropped: {:?}", dropped_reasons(viewer));
    assert_eq!(failures.len(), 1);
    let (failed_at, level, segment, source, _, check) = failures[0];
    assert_eq!(
        (source, check),
        (SegmentSource::PeerThenHttp, IntegrityCheck::Sha256)
    );
    let fetches = viewer.log.fetches_of(Resource::Segment {
        level,
        index: segment,
    });
    assert!(fetches.iter().any(|f| f.at >= failed_at && !f.resumes));
    assert!(
        viewer.log.fetches.iter().any(|f| f.resumes),
        "no HTTP resume"
    );
    assert!(sources(viewer)
        .iter()
        .all(|(_, s)| *s == SegmentSource::Http));
    assert_eq!(sim.figures(1).stalls, 0);
}

/// Honest peers with the integrity file: every segment from a peer is hashed once and
/// passes, sharing goes on as without the file, and nobody is dropped.
#[test]
fn honest_peers_pass_the_integrity_check() {
    let mut config = SwarmConfig::new(content(), 3, 5.0);
    for viewer in &mut config.viewers {
        viewer.core.integrity_url = Some(INTEGRITY_URL.to_owned());
    }
    let mut sim = Sim::swarm(config);
    let ended = sim.run_until_ended(300.0);
    sim.print_figures("honest swarm, integrity file");
    sim.unload_all();
    sim.assert_clean();
    assert!(ended);
    for (v, host) in sim.hosts.iter().enumerate() {
        let peer_segments = sources(host)
            .iter()
            .filter(|(_, s)| *s != SegmentSource::Http)
            .count();
        println!(
            "  viewer {v}: {} bodies hashed, {peer_segments} segments from peers",
            host.log.hashes.len()
        );
        assert_eq!(host.log.hashes.len(), peer_segments, "viewer {v}");
        assert!(integrity_failures(host).is_empty());
        assert_eq!(integrity_fetch_times(host).len(), 1, "viewer {v}: one load");
        assert_eq!(sim.figures(v).stalls, 0, "viewer {v}");
    }
    assert!(sim.figures(2).p2p_share() >= 0.5, "{:?}", sim.figures(2));
}

/// Without an integrity file the same peer, sending segments the browser cannot parse, is
/// caught by the decode error: the refusal kills the media element (as MSE's append error
/// does), which is re-created once; the segment comes again from the origin instead of
/// playback failing, the peer is banned, and playback goes on after one short interruption
/// (the re-created element holds nothing until the media is appended again). (The media
/// element flags each unparsable append, which is expected here and only here.)
#[test]
fn without_a_file_a_decode_error_bans_the_peer_and_refetches() {
    let config = corrupt_seed_and_viewer(
        Content::vod(120.0, &[BITRATE_BPS]),
        Corruption::Header,
        false,
    );
    let mut sim = Sim::swarm(config);
    let ended = sim.run_until_ended(300.0);
    sim.print_figures("corrupting peer, no integrity file");
    sim.unload_all();
    let viewer = &sim.hosts[1];
    let failures = integrity_failures(viewer);
    println!("  integrity failures: {failures:?}");
    println!("  peers dropped: {:?}", dropped_reasons(viewer));
    let (unparsable, others): (Vec<&String>, Vec<&String>) = sim
        .violations
        .iter()
        .partition(|v| v.contains("appended bytes that are not a segment"));
    assert!(others.is_empty(), "invariants broken:\n{others:#?}");
    assert_eq!(unparsable.len(), failures.len(), "{unparsable:?}");
    assert!(ended);
    assert_eq!(
        failures.len(),
        1,
        "one decode error is enough to ban the peer"
    );
    let (failed_at, level, segment, source, connection, check) = failures[0];
    assert_eq!(
        (source, check),
        (SegmentSource::Peer, IntegrityCheck::Decode)
    );
    assert!(connection.is_some());
    assert!(viewer.log.errors().iter().all(|(_, _, fatal, _)| !fatal));
    assert!(viewer.log.hashes.is_empty(), "nothing to hash against");
    let refetched = viewer
        .log
        .fetches_of(Resource::Segment {
            level,
            index: segment,
        })
        .iter()
        .any(|f| f.at >= failed_at);
    assert!(
        refetched,
        "segment {segment} was not fetched from the origin"
    );
    assert!(sim
        .net
        .downloads
        .iter()
        .all(|d| d.viewer != 1 || d.requested_at <= failed_at));
    assert_eq!(viewer.log.media_recreations, [failed_at]);
    let recoveries: Vec<RecoveryReason> = viewer
        .log
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::MediaRecovered { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect();
    assert_eq!(recoveries, [RecoveryReason::PeerSegment]);
    let figures = sim.figures(1);
    println!(
        "  interruption: {} stall(s), {:.2} s",
        figures.stalls, figures.stalled_s
    );
    assert!(
        figures.stalls <= 1 && figures.stalled_s < 1.0,
        "{figures:?}"
    );
}

/// `require_integrity` without a file configured: no tracker socket, no peer, plain HTTP.
#[test]
fn require_integrity_without_a_file_keeps_p2p_off() {
    let mut config = SwarmConfig::new(content(), 2, 5.0);
    for viewer in &mut config.viewers {
        viewer.core.p2p.require_integrity = true;
    }
    let mut sim = Sim::swarm(config);
    let ended = sim.run_until_ended(300.0);
    sim.print_figures("require_integrity, no file");
    sim.assert_clean();
    assert!(ended);
    println!("  tracker traffic: {:?}", sim.tracker.stats);
    assert_eq!(tracker_traffic(&sim), 0);
    for host in &sim.hosts {
        assert!(host.log.hashes.is_empty());
        assert!(integrity_fetch_times(host).is_empty());
    }
}

/// `require_integrity` and a file the origin does not have (404, final) or cannot be read:
/// a non-fatal error, playback over HTTP, and still no tracker traffic. Without
/// `require_integrity` the same unreadable file leaves P2P on, unchecked.
#[test]
fn require_integrity_with_an_unusable_file_keeps_p2p_off() {
    for (missing, require) in [(true, true), (false, true), (false, false)] {
        let content = if missing {
            Content::vod(120.0, &[BITRATE_BPS])
        } else {
            content()
        };
        let mut config = SwarmConfig::new(content, 2, 5.0);
        for viewer in &mut config.viewers {
            viewer.core.integrity_url = Some(INTEGRITY_URL.to_owned());
            viewer.core.p2p.require_integrity = require;
        }
        let mut sim = Sim::swarm(config);
        if !missing {
            sim.origin
                .set_text(INTEGRITY_URL, "{\"demo-level0-fragmented.mp4\": 1}".into());
        }
        let ended = sim.run_until_ended(300.0);
        let scenario = format!("file missing: {missing}, required: {require}");
        sim.print_figures(&scenario);
        sim.unload_all();
        sim.assert_clean();
        assert!(ended, "{scenario}");
        for host in &sim.hosts {
            let errors = host.log.errors();
            println!("  {errors:?}");
            assert_eq!(errors.len(), 1, "{scenario}");
            let (_, kind, fatal, _) = &errors[0];
            assert_eq!(
                (*kind, *fatal),
                (player_core::player::ErrorKind::IntegrityFile, false)
            );
            // A 404 is final: one try. An unreadable file is not fetched again either.
            assert_eq!(integrity_fetch_times(host).len(), 1, "{scenario}");
        }
        println!("  tracker traffic: {:?}", sim.tracker.stats);
        if require {
            assert_eq!(tracker_traffic(&sim), 0, "{scenario}");
        } else {
            assert!(sim.figures(1).peer_bytes > 0, "{scenario}");
        }
    }
}

/// A live stream cut in segment files, whose integrity file (PeerTube's live form) lists a
/// segment only `lag_s` after it is published, and two viewers joining at 60 s and 62 s that
/// share segments. A segment the file does not list yet makes a viewer fetch the file again,
/// at once and then a target duration apart, at most three times per segment.
fn live_swarm(lag_s: f64, require: bool) -> Sim {
    let mut content = Content::live_files(600.0, &[BITRATE_BPS], 6).with_integrity();
    content.integrity_lag_s = lag_s;
    let mut config = SwarmConfig::new(content, 0, 0.0);
    config.origin.bandwidth_bytes_per_s = 2_000_000;
    for (i, join_at_s) in [60.0, 62.0].into_iter().enumerate() {
        let mut viewer = sim::swarm::ViewerConfig::new(100 + i as u64, join_at_s);
        viewer.core.integrity_url = Some(INTEGRITY_URL.to_owned());
        viewer.core.p2p.require_integrity = require;
        // Segments without byte ranges are sized from the level's peak bandwidth (1.15
        // Mbit/s here); at the default untested-peer guess of 1 Mbit/s no peer would ever
        // look fast enough to be tried in time.
        viewer.core.p2p.untested_peer_bps = 4_000_000;
        config.viewers.push(viewer);
    }
    Sim::swarm(config)
}

/// For each body a viewer hashed (a check starting), the integrity file fetches that started
/// while the check lasted, until the body was appended or released: the refetches made for
/// it (a check that has not ended by the end of the run counts what it saw so far).
fn refetches_per_check(host: &Host) -> Vec<usize> {
    let fetches = integrity_fetch_times(host);
    host.log
        .hashes
        .iter()
        .map(|&(at, request)| {
            let appended = host.log.appends.iter().find(|a| a.request == request);
            let released = host.log.released.iter().find(|(_, r)| *r == request);
            let end = appended
                .map(|a| secs(a.at))
                .into_iter()
                .chain(released.map(|(t, _)| secs(*t)))
                .fold(f64::INFINITY, f64::min);
            let start = secs(at);
            fetches.iter().filter(|&&f| f >= start && f <= end).count()
        })
        .collect()
}

/// Runs a live scenario to 200 s, prints what each viewer did, and returns per viewer the
/// segments from peers, the bodies hashed and the refetches per check.
fn run_live(sim: &mut Sim, scenario: &str) -> Vec<(usize, usize, Vec<usize>)> {
    sim.run_until_s(200.0);
    sim.print_figures(scenario);
    sim.unload_all();
    sim.assert_clean();
    let mut figures = Vec::new();
    for (v, host) in sim.hosts.iter().enumerate() {
        let from_peers = sources(host)
            .iter()
            .filter(|(_, s)| *s == SegmentSource::Peer)
            .count();
        let per_check = refetches_per_check(host);
        println!(
            "  viewer {v}: {} segments, {from_peers} from peers, {} bodies hashed, integrity \
             file fetched {} times, refetches per check {per_check:?}, stalls {:?}",
            sources(host).len(),
            host.log.hashes.len(),
            integrity_fetch_times(host).len(),
            host.media.stalls,
        );
        assert!(integrity_failures(host).is_empty(), "{scenario}");
        assert!(host.log.errors().is_empty(), "{scenario}");
        assert!(
            per_check.iter().all(|&n| n <= 3),
            "{scenario}: {per_check:?}"
        );
        figures.push((from_peers, host.log.hashes.len(), per_check));
    }
    figures
}

#[test]
fn a_live_segment_not_listed_yet_refetches_the_file_and_passes() {
    let mut sim = live_swarm(1.0, false);
    let figures = run_live(&mut sim, "live, integrity file 1 s behind the playlist");
    let from_peers: usize = figures.iter().map(|f| f.0).sum();
    let refetched = figures.iter().flat_map(|f| &f.2).any(|&n| n > 0);
    assert!(
        from_peers >= 5,
        "{from_peers} live segments came from a peer"
    );
    assert!(refetched, "the file was never fetched again");
    for (from_peers, hashed, _) in &figures {
        assert_eq!(from_peers, hashed, "every peer segment was checked");
    }
    for host in &sim.hosts {
        assert!(host.media.stalls.is_empty());
    }
}

/// The file never lists the new segments: each peer segment waits for at most three
/// refetches a target duration apart (less when it is needed sooner: then HTTP could no
/// longer take over), then is taken unchecked; with `require_integrity` it comes from the
/// origin instead. No stall either way.
#[test]
fn a_live_segment_never_listed_is_given_up_within_three_refetches() {
    for require in [false, true] {
        let mut sim = live_swarm(f64::INFINITY, require);
        let scenario = format!("live, the file never lists new segments, required: {require}");
        let figures = run_live(&mut sim, &scenario);
        let hashed: usize = figures.iter().map(|f| f.1).sum();
        assert!(hashed > 0, "{scenario}: no segment from a peer");
        // Each check waited for its three refetches (the last one may still wait at 200 s).
        let complete: Vec<usize> = figures.iter().flat_map(|f| f.2.clone()).collect();
        assert!(
            complete.iter().filter(|&&n| n == 3).count() > 0,
            "{scenario}"
        );
        for (from_peers, hashed, _) in &figures {
            if require {
                assert_eq!(*from_peers, 0, "{scenario}");
            } else {
                assert!(*from_peers + 1 >= *hashed, "{scenario}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 16,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x1a7e),
        ..ProptestConfig::default()
    })]

    /// Random swarms where some viewers corrupt what they upload, everyone with the integrity
    /// file. Besides every invariant of the harness (nothing appended that is not exactly a
    /// segment's bytes, no honest peer dropped or refused, limits, no duplicate fetch), every
    /// viewer plays to the end, and each refuses at most one segment per corrupting peer.
    #[test]
    fn corrupting_peers_never_get_bad_bytes_played(
        viewers in prop::collection::vec(
            (0.0f64..30.0, 100_000u64..3_000_000, prop::bool::weighted(0.4)),
            2..5,
        ),
    ) {
        let mut config = SwarmConfig::new(Content::vod(60.0, &[BITRATE_BPS]).with_integrity(), 0, 0.0);
        config.origin.bandwidth_bytes_per_s = 600_000;
        let corrupting = viewers.iter().filter(|v| v.2).count();
        for (i, &(join_at_s, upload_bytes_per_s, corrupt)) in viewers.iter().enumerate() {
            let mut viewer = sim::swarm::ViewerConfig::new(100 + i as u64, join_at_s);
            viewer.core.integrity_url = Some(INTEGRITY_URL.to_owned());
            viewer.profile.upload_bytes_per_s = upload_bytes_per_s;
            viewer.profile.corrupt_uploads = corrupt.then_some(Corruption::Payload);
            config.viewers.push(viewer);
        }
        let mut sim = Sim::swarm(config);
        let ended = sim.run_until_ended(400.0);
        prop_assert!(sim.violations.is_empty(), "{}", sim.violations.join("\n"));
        prop_assert!(ended, "not every viewer ended");
        let refused: Vec<usize> = sim.hosts.iter().map(|h| integrity_failures(h).len()).collect();
        println!("  {corrupting} corrupting of {} viewers: segments refused per viewer {refused:?}", sim.hosts.len());
        for &n in &refused {
            prop_assert!(n <= corrupting);
        }
        sim.unload_all();
        prop_assert!(sim.violations.is_empty(), "{}", sim.violations.join("\n"));
    }

    /// The same without an integrity file: segments the browser cannot parse are caught only
    /// when appended. Each corrupting peer costs a viewer at most one refused segment (and so
    /// one re-creation of its media element): once banned, nothing else it sent is appended.
    #[test]
    fn without_a_file_each_corrupting_peer_costs_one_refusal(
        viewers in prop::collection::vec(
            (0.0f64..30.0, 100_000u64..3_000_000, prop::bool::weighted(0.4)),
            2..5,
        ),
    ) {
        let mut config = SwarmConfig::new(Content::vod(60.0, &[BITRATE_BPS]), 0, 0.0);
        config.origin.bandwidth_bytes_per_s = 600_000;
        let corrupting = viewers.iter().filter(|v| v.2).count();
        for (i, &(join_at_s, upload_bytes_per_s, corrupt)) in viewers.iter().enumerate() {
            let mut viewer = sim::swarm::ViewerConfig::new(100 + i as u64, join_at_s);
            viewer.profile.upload_bytes_per_s = upload_bytes_per_s;
            viewer.profile.corrupt_uploads = corrupt.then_some(Corruption::Header);
            config.viewers.push(viewer);
        }
        let mut sim = Sim::swarm(config);
        let ended = sim.run_until_ended(400.0);
        let refused: Vec<usize> = sim.hosts.iter().map(|h| integrity_failures(h).len()).collect();
        println!("  {corrupting} corrupting of {} viewers, no file: segments refused per viewer {refused:?}", sim.hosts.len());
        let others: Vec<&String> = sim
            .violations
            .iter()
            .filter(|v| !v.contains("appended bytes that are not a segment"))
            .collect();
        prop_assert!(others.is_empty(), "{others:#?}");
        prop_assert!(ended, "not every viewer ended");
        for (host, &n) in sim.hosts.iter().zip(&refused) {
            prop_assert!(n <= corrupting);
            let blamed: BTreeSet<_> = integrity_failures(host).iter().map(|f| f.4).collect();
            prop_assert_eq!(blamed.len(), n, "a peer blamed twice");
        }
    }
}

/// The default configuration asks for nothing of this.
#[test]
fn integrity_is_off_by_default() {
    let config = Config::default();
    assert_eq!(config.integrity_url, None);
    assert!(!config.p2p.require_integrity);
}
