//! Scenario tests of the player core in the simulation harness (tests/sim): playback, buffer
//! target, seeks, retries, fatal errors, malformed playlists, quota, and a property test over
//! random seeks, pauses, faults and ticks.

mod sim;

use player_core::player::{ErrorKind, FetchPurpose};
use player_core::Event;

use sim::clock::secs;
use sim::origin::{Content, Resource};
use sim::{Sim, SimConfig};

/// 1 Mbit/s, the level every scenario plays unless it says otherwise.
const BITRATE_BPS: u64 = 1_000_000;

/// A 120 s single-level VOD served at `speedup` times its bitrate.
fn config(speedup: f64) -> SimConfig {
    let mut config = SimConfig::new(Content::vod(120.0, &[BITRATE_BPS]));
    config.origin.bandwidth_bytes_per_s = (BITRATE_BPS as f64 / 8.0 * speedup) as u64;
    config
}

#[test]
fn plays_a_vod_to_the_end_without_stalling() {
    let mut sim = Sim::new(config(5.0));
    assert!(sim.run_until_ended(300.0), "playback did not reach the end");
    sim.assert_clean();
    assert_eq!(sim.log.errors(), vec![]);
    assert_eq!(sim.stalls(), &[]);
    println!("ended at {:.2}", secs(sim.now));
    println!("{:#?}", &sim.log.fetches[..4]);
}
