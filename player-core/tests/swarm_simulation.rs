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
