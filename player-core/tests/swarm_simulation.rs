//! Scenario tests of P2P in the simulation harness (tests/sim): N viewers, each a real core
//! with its own media element, sharing one origin and finding each other through the
//! simulated tracker. Every scenario is deterministic and prints its figures
//! (`cargo test --test swarm_simulation -- --nocapture`).

mod sim;

use sim::origin::Content;
use sim::swarm::SwarmConfig;
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

/// Limits that bite: one HTTP download at a time, two peer downloads, six viewers close
/// together, one of them vanishing mid-upload so that downloads resume over HTTP. The
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
