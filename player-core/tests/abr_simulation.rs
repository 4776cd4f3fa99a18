//! Adaptive bitrate in the simulation harness (tests/sim): a three-level VOD (0.4, 1 and
//! 2.5 Mbit/s, like the demo's 240p/480p/720p) played while the origin's bandwidth changes.
//! The scenarios: a drop below the current level switches down without a stall and the
//! return switches up in bounded time; a slow peer does not pull the level down while the
//! origin is fast; a level the viewer picks holds; and a bandwidth trace with drops, played
//! with the ABR rule and with a naive "highest sustainable bitrate" rule side by side.

mod sim;

use player_core::player::SegmentSource;
use player_core::{Event, Input};

use sim::clock::secs;
use sim::swarm::SwarmConfig;
use sim::{Sim, SimConfig, ViewerId};

const BITRATES_BPS: [u64; 3] = [400_000, 1_000_000, 2_500_000];
const DURATION_S: f64 = 240.0;

fn content() -> sim::origin::Content {
    sim::origin::Content::vod(DURATION_S, &BITRATES_BPS)
}

/// Bytes per second for `mbps` megabits per second.
fn mbps(mbps: f64) -> u64 {
    (mbps * 1_000_000.0 / 8.0) as u64
}

fn single_viewer(bandwidth_mbps: f64) -> Sim {
    let mut config = SimConfig::new(content());
    config.origin.bandwidth_bytes_per_s = mbps(bandwidth_mbps);
    Sim::new(config)
}

/// Level switches a viewer's core decided (`LevelSelected`), with when.
fn selections(sim: &Sim, viewer: ViewerId) -> Vec<(f64, usize)> {
    sim.hosts[viewer]
        .log
        .events
        .iter()
        .filter_map(|(at, event)| match event {
            Event::LevelSelected { level } => Some((secs(*at), *level)),
            _ => None,
        })
        .collect()
}

/// The level loaded at `at_s`: the last selection at or before it.
fn level_at(selections: &[(f64, usize)], at_s: f64) -> Option<usize> {
    selections
        .iter()
        .take_while(|(t, _)| *t <= at_s)
        .last()
        .map(|&(_, level)| level)
}

/// The level of the media under the playhead (the chunk the element plays from).
fn played_level(sim: &Sim, viewer: ViewerId) -> Option<usize> {
    let media = &sim.hosts[viewer].media;
    media
        .chunks
        .iter()
        .find(|c| c.start_s <= media.position_s && media.position_s < c.end_s)
        .map(|c| c.level)
}

#[test]
fn a_bandwidth_drop_switches_down_without_a_stall_and_the_return_switches_up() {
    let mut sim = single_viewer(8.0);
    sim.run_until_s(40.0);
    assert_eq!(
        sim.hosts[0].player.current_level(),
        Some(2),
        "8 Mbit/s plays the top level"
    );

    // 1.5 Mbit/s: less than the top level's 2.5, enough for the middle one.
    sim.origin.config.bandwidth_bytes_per_s = mbps(1.5);
    sim.run_until_s(120.0);
    let chosen = selections(&sim, 0);
    let down = chosen
        .iter()
        .find(|&&(t, level)| t >= 40.0 && level < 2)
        .copied()
        .expect("no switch down after the drop");
    println!("  switched down to level {} at {:.1} s", down.1, down.0);
    assert_eq!(level_at(&chosen, 120.0), Some(1), "{chosen:?}");

    sim.origin.config.bandwidth_bytes_per_s = mbps(8.0);
    sim.run_until_s(180.0);
    let chosen = selections(&sim, 0);
    let up = chosen
        .iter()
        .find(|&&(t, level)| t >= 120.0 && level == 2)
        .copied()
        .expect("no switch back up within 60 s of the bandwidth returning");
    println!("  switched up again at {:.1} s", up.0);

    assert!(sim.run_until_ended(400.0), "playback did not reach the end");
    sim.assert_clean();
    assert_eq!(sim.stalls(), &[], "stalled");
    assert_eq!(sim.log().errors(), vec![]);
    // Every level change appended the new level's init segment first (the media element
    // checks each segment against the last init) and played on without a gap.
    let switched: Vec<usize> = sim
        .log()
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::LevelSwitched { level } => Some(*level),
            _ => None,
        })
        .collect();
    println!("  levels shown: {switched:?}");
    assert!(switched.len() >= 3, "{switched:?}");
}

#[test]
fn a_slow_peer_does_not_pull_the_level_down_while_the_origin_is_fast() {
    let mut config = SwarmConfig::new(content(), 2, 20.0);
    config.origin.bandwidth_bytes_per_s = mbps(20.0);
    // The first viewer uploads at 40 kB/s: a quarter of what the top level needs.
    config.viewers[0].profile.upload_bytes_per_s = 40_000;
    let mut sim = Sim::swarm(config);
    assert!(sim.run_until_ended(600.0), "playback did not reach the end");
    sim.unload_all();
    sim.assert_clean();
    let viewer = 1;
    let from_peer = sim
        .net
        .downloads
        .iter()
        .filter(|d| d.viewer == viewer)
        .count();
    println!("  viewer 1 asked the slow peer {from_peer} time(s)");
    assert!(
        from_peer > 0,
        "the slow peer was never tried: nothing was tested"
    );
    let chosen = selections(&sim, viewer);
    let top_at = chosen
        .iter()
        .position(|&(_, level)| level == 2)
        .expect("never reached the top level");
    assert_eq!(
        &chosen[top_at..],
        &chosen[top_at..top_at + 1],
        "left the top level: {chosen:?}"
    );
    assert_eq!(sim.figures(viewer).stalls, 0);
}

#[test]
fn a_level_the_viewer_picks_holds_and_auto_comes_back() {
    let mut sim = single_viewer(8.0);
    sim.run_until_s(30.0);
    assert_eq!(sim.hosts[0].player.current_level(), Some(2));
    sim.input(
        0,
        Input::SetLevel {
            level: Some(0),
            smooth: false,
        },
    );
    // The pick replaces the media after the current segment: it shows within a segment.
    sim.run_until_s(36.0);
    assert_eq!(
        played_level(&sim, 0),
        Some(0),
        "the picked level is not playing"
    );
    sim.run_until_s(120.0);
    let chosen = selections(&sim, 0);
    assert_eq!(
        chosen
            .iter()
            .filter(|&&(t, _)| t >= 30.0)
            .map(|&(_, l)| l)
            .collect::<Vec<_>>(),
        vec![0],
        "{chosen:?}"
    );
    assert_eq!(sim.stalls(), &[], "the immediate switch stalled");

    sim.input(
        0,
        Input::SetLevel {
            level: None,
            smooth: false,
        },
    );
    sim.run_until_s(150.0);
    assert_eq!(
        sim.hosts[0].player.current_level(),
        Some(2),
        "auto did not come back"
    );
    assert!(sim.run_until_ended(400.0));
    sim.assert_clean();
    assert_eq!(sim.stalls(), &[]);
}

#[test]
fn playing_at_double_speed_takes_a_level_the_bandwidth_carries_at_that_speed() {
    // 4 Mbit/s carries the top level (2.5) at 1x but not at 2x (5): the middle one (2) then.
    let mut sim = single_viewer(4.0);
    sim.hosts[0].media.rate = 2.0;
    assert!(sim.run_until_ended(400.0), "playback did not reach the end");
    sim.assert_clean();
    assert_eq!(sim.stalls(), &[], "stalled at 2x");
    let chosen = selections(&sim, 0);
    println!("  levels chosen at 2x: {chosen:?}");
    assert!(
        chosen
            .iter()
            .filter(|&&(t, _)| t > 20.0)
            .all(|&(_, level)| level < 2),
        "took the top level at 2x: {chosen:?}"
    );
}

/// Bandwidth over time, Mbit/s from each time on: drops below each level's bitrate and back.
const TRACE: &[(f64, f64)] = &[
    (0.0, 6.0),
    (30.0, 1.6),
    (60.0, 0.7),
    (80.0, 4.0),
    (110.0, 1.2),
    (140.0, 6.0),
    (170.0, 0.6),
    (190.0, 3.0),
];

/// How a run went: stalls, time stalled, and the level under the playhead averaged over
/// playback time.
#[derive(Debug)]
struct TraceFigures {
    stalls: usize,
    stalled_s: f64,
    average_level: f64,
    switches: usize,
}

/// Plays the VOD under [`TRACE`]. With `naive`, the host overrides the choice after every
/// segment with the highest level whose bitrate is at most that segment's measured throughput
/// (as a smooth switch, so the buffer is kept).
fn run_trace(naive: bool) -> TraceFigures {
    let mut sim = single_viewer(TRACE[0].1);
    let mut level_samples = Vec::new();
    let mut seen_ends = 0;
    let mut naive_level = None;
    let mut next_sample_s = 0.0;
    for (index, &(from_s, bandwidth)) in TRACE.iter().enumerate() {
        sim.origin.config.bandwidth_bytes_per_s = mbps(bandwidth);
        let until_s = TRACE.get(index + 1).map_or(DURATION_S + 60.0, |&(t, _)| t);
        let mut t = from_s;
        while t < until_s && !sim.all_ended() {
            t = (t + 0.25).min(until_s);
            sim.run_until_s(t);
            let media = &sim.hosts[0].media;
            if media.started && !media.ended && secs(sim.now) >= next_sample_s {
                next_sample_s = secs(sim.now) + 0.5;
                if let Some(level) = played_level(&sim, 0) {
                    level_samples.push(level);
                }
            }
            if naive {
                let log = &sim.hosts[0].log;
                let ends = &log.http_ends[seen_ends..];
                seen_ends = log.http_ends.len();
                let throughputs: Vec<f64> = ends
                    .iter()
                    .filter_map(|(end, request, _)| {
                        let fetch = log.fetches.iter().find(|f| f.request == *request)?;
                        let bytes = fetch.range.filter(|_| {
                            matches!(fetch.resource, sim::origin::Resource::Segment { .. })
                        })?;
                        let seconds = secs(*end) - secs(fetch.at);
                        Some(bytes.length as f64 * 8.0 / seconds.max(0.05))
                    })
                    .collect();
                if let Some(&throughput) = throughputs.last() {
                    let level = BITRATES_BPS
                        .iter()
                        .rposition(|&b| b as f64 <= throughput)
                        .unwrap_or(0);
                    if naive_level != Some(level) {
                        naive_level = Some(level);
                        sim.input(
                            0,
                            Input::SetLevel {
                                level: Some(level),
                                smooth: true,
                            },
                        );
                    }
                }
            }
        }
    }
    assert!(
        sim.run_until_ended(DURATION_S * 4.0),
        "did not reach the end"
    );
    sim.assert_clean();
    let now = sim.now;
    let media = sim.media();
    TraceFigures {
        stalls: media.stalls.len(),
        stalled_s: media.stalled_s(now),
        average_level: level_samples.iter().sum::<usize>() as f64 / level_samples.len() as f64,
        switches: selections(&sim, 0).len().saturating_sub(1),
    }
}

#[test]
fn a_bandwidth_trace_with_drops_abr_against_a_naive_rule() {
    let abr = run_trace(false);
    let naive = run_trace(true);
    println!("  bandwidth trace (from s: Mbit/s): {TRACE:?}");
    println!("  rule                      stalls  stalled s  average level  switches");
    for (name, f) in [
        ("ABR (buffer + EWMA)", &abr),
        ("naive (last throughput)", &naive),
    ] {
        println!(
            "  {name:<24}  {:>6}  {:>9.1}  {:>13.2}  {:>8}",
            f.stalls, f.stalled_s, f.average_level, f.switches
        );
    }
    assert_eq!(abr.stalls, 0, "ABR stalled: {abr:?}");
    assert!(
        naive.stalls > 0,
        "the trace is too easy to tell the rules apart: {naive:?}"
    );
    assert!(abr.average_level > 0.8, "ABR stayed low: {abr:?}");
}

/// A swarm viewer's segments from peers count for nothing in the level rule unless the peer
/// is proven fast; meanwhile segments keep coming from both sources.
#[test]
fn segments_still_come_from_peers_across_level_switches() {
    let mut config = SwarmConfig::new(content(), 3, 8.0);
    config.origin.bandwidth_bytes_per_s = mbps(30.0);
    let mut sim = Sim::swarm(config);
    assert!(sim.run_until_ended(600.0));
    sim.unload_all();
    sim.assert_clean();
    for viewer in 0..3 {
        assert_eq!(sim.figures(viewer).stalls, 0, "viewer {viewer} stalled");
    }
    let from_peers = sim.hosts[1..]
        .iter()
        .flat_map(|h| &h.log.events)
        .filter(|(_, e)| {
            matches!(
                e,
                Event::SegmentLoaded {
                    source: SegmentSource::Peer,
                    ..
                }
            )
        })
        .count();
    println!("  later viewers loaded {from_peers} segments from peers");
    assert!(from_peers > 20, "{from_peers}");
}
