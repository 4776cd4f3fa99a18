//! Re-creating the media element after it failed (player/recover.rs), in the simulation
//! harness (tests/sim): the simulated element dies on an unparsable append as a browser's
//! does (MSE's append error ends the MediaSource; appending to it again is flagged), so the
//! player only plays on if it re-creates the media and appends everything again. The origin
//! damages chosen segments on the way; the element's own decode errors are reported with
//! `Input::MediaError`. (Peer bytes the element refuses: integrity_simulation.rs.)
//! Deterministic; `cargo test --test media_recovery_simulation -- --nocapture` prints the
//! figures.

mod sim;

use player_core::player::{ErrorKind, RecoveryReason};
use player_core::{Event, Input};

use sim::clock::secs;
use sim::origin::{Content, Fault, Resource};
use sim::{Sim, SimConfig};

/// A 120 s single-level VOD (30 segments of 4 s) of 1 Mbit/s, served at 4x its bitrate.
fn vod_sim() -> Sim {
    let mut config = SimConfig::new(Content::vod(120.0, &[1_000_000]));
    config.origin.bandwidth_bytes_per_s = 500_000;
    Sim::new(config)
}

/// The segment the origin damages: far enough ahead to be fetched while media plays.
const BAD_SEGMENT: usize = 6;

fn recoveries(sim: &Sim) -> Vec<RecoveryReason> {
    sim.log()
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::MediaRecovered { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

/// Broken rules other than the element's own report of each unparsable append (expected
/// here, once per damaged body).
fn other_violations(sim: &Sim) -> Vec<&String> {
    sim.violations
        .iter()
        .filter(|v| !v.contains("appended bytes that are not a segment"))
        .collect()
}

fn fatal_errors(sim: &Sim) -> Vec<(ErrorKind, String)> {
    sim.log()
        .errors()
        .into_iter()
        .filter(|(_, _, fatal, _)| *fatal)
        .map(|(_, kind, _, message)| (kind, message))
        .collect()
}

/// Damaged once on the way from the origin: the element dies, is re-created, the segment is
/// fetched once more (and everything the old element held again), and playback reaches the
/// end after one short interruption.
#[test]
fn origin_bytes_refused_once_recreate_the_media_and_play_on() {
    let mut sim = vod_sim();
    sim.origin
        .fault_segment(0, BAD_SEGMENT, Fault::CorruptHeader, 1);
    // (time, playhead) after every event, to measure how long the playhead stood still.
    let mut samples = Vec::new();
    sim.run_until_checking(150.0, |sim| {
        if !sim.media().ended {
            samples.push((secs(sim.now), sim.media().position_s));
        }
    });
    let ended = sim.media().ended;
    let recreated_at: Vec<f64> = sim
        .log()
        .media_recreations
        .iter()
        .map(|&t| secs(t))
        .collect();
    let freeze_s = longest_freeze(&samples, recreated_at.first().copied().unwrap_or(0.0));
    println!("recreated at {recreated_at:?} s; the playhead then stood still for {freeze_s:.2} s");
    assert!(other_violations(&sim).is_empty(), "{:#?}", sim.violations);
    assert_eq!(sim.violations.len(), 1, "one unparsable append");
    assert!(ended, "did not reach the end");
    assert!(fatal_errors(&sim).is_empty(), "{:?}", fatal_errors(&sim));
    assert_eq!(recreated_at.len(), 1);
    assert_eq!(recoveries(&sim), [RecoveryReason::AppendError]);
    let bad = Resource::Segment {
        level: 0,
        index: BAD_SEGMENT,
    };
    assert_eq!(sim.log().fetches_of(bad).len(), 2, "fetched again once");
    // The new element got its init segment again.
    let init_fetches = sim.log().fetches_of(Resource::Init { level: 0 });
    assert!(init_fetches.iter().any(|f| secs(f.at) >= recreated_at[0]));
    // The media the old element held is fetched again: at 4x the bitrate a segment takes
    // 1 s, so a couple of seconds is the whole interruption.
    assert!(
        freeze_s < 2.5,
        "the playhead stood still for {freeze_s:.2} s"
    );
}

/// The longest time the playhead did not move after `from_s`, before the end.
fn longest_freeze(samples: &[(f64, f64)], from_s: f64) -> f64 {
    let mut longest: f64 = 0.0;
    let mut still_since: Option<(f64, f64)> = None;
    for &(at_s, position_s) in samples.iter().filter(|(at_s, _)| *at_s >= from_s) {
        match still_since {
            Some((since_s, at_position_s)) if at_position_s == position_s => {
                longest = longest.max(at_s - since_s);
            }
            _ => still_since = Some((at_s, position_s)),
        }
    }
    longest
}

/// Damaged on both attempts: the second refusal is the fatal `MediaAppend` error, not a loop.
#[test]
fn origin_bytes_refused_twice_end_playback_with_a_clear_error() {
    let mut sim = vod_sim();
    sim.origin
        .fault_segment(0, BAD_SEGMENT, Fault::CorruptHeader, u32::MAX);
    sim.run_until_s(120.0);
    assert!(other_violations(&sim).is_empty(), "{:#?}", sim.violations);
    assert_eq!(recoveries(&sim), [RecoveryReason::AppendError]);
    let fatal = fatal_errors(&sim);
    println!("{fatal:?}");
    assert_eq!(fatal.len(), 1);
    assert_eq!(fatal[0].0, ErrorKind::MediaAppend);
    assert!(fatal[0].1.contains("again after a recovery"), "{fatal:?}");
    let bad = Resource::Segment {
        level: 0,
        index: BAD_SEGMENT,
    };
    assert_eq!(sim.log().fetches_of(bad).len(), 2);
    // Nothing more happens after a fatal error.
    assert_eq!(sim.log().media_recreations.len(), 1);
}

/// Four different segments damaged once each: three recoveries, then the fatal error.
#[test]
fn recoveries_are_bounded_per_load() {
    let mut sim = vod_sim();
    for index in [4, 8, 12, 16] {
        sim.origin.fault_segment(0, index, Fault::CorruptHeader, 1);
    }
    sim.run_until_s(200.0);
    assert!(other_violations(&sim).is_empty(), "{:#?}", sim.violations);
    assert_eq!(recoveries(&sim), [RecoveryReason::AppendError; 3]);
    let fatal = fatal_errors(&sim);
    println!("{fatal:?}");
    assert_eq!(fatal.len(), 1);
    assert_eq!(fatal[0].0, ErrorKind::MediaAppend);
    assert!(fatal[0].1.contains("after 3 recoveries"), "{fatal:?}");
    assert!(!sim.media().ended);
}

/// The element's own decode error (media it had accepted) recovers the same way: the media is
/// re-created at the playhead and plays to the end; a fourth such error is fatal.
#[test]
fn media_element_errors_recover_then_hit_the_bound() {
    let mut sim = vod_sim();
    sim.run_until_s(30.0);
    let before_s = sim.media().position_s;
    sim.input(
        0,
        Input::MediaError {
            message: "MEDIA_ERR_DECODE".into(),
        },
    );
    // Playback resumes where it was (the new element is sought to the position the core last
    // heard of, a snapshot behind the element's own).
    sim.run_until_s(32.0);
    let seeks: Vec<f64> = sim.log().media_seeks.iter().map(|&(_, s)| s).collect();
    assert!(
        seeks
            .iter()
            .any(|s| (before_s - 0.5..=before_s).contains(s)),
        "no seek back to {before_s}: {seeks:?}"
    );
    let ended = sim.run_until_ended(300.0);
    sim.assert_clean();
    assert!(ended);
    assert_eq!(recoveries(&sim), [RecoveryReason::DecodeError]);
    assert!(fatal_errors(&sim).is_empty());

    let mut sim = vod_sim();
    sim.run_until_s(20.0);
    for round in 0..4 {
        sim.input(
            0,
            Input::MediaError {
                message: "MEDIA_ERR_DECODE".into(),
            },
        );
        // Let the new MediaSource open before the next error.
        sim.run_until_s(21.0 + f64::from(round));
    }
    sim.assert_clean();
    assert_eq!(recoveries(&sim), [RecoveryReason::DecodeError; 3]);
    let fatal = fatal_errors(&sim);
    assert_eq!(fatal.len(), 1, "{fatal:?}");
    assert!(fatal[0].1.contains("after 3 recoveries"), "{fatal:?}");
}
