//! Live streams in the simulation harness (tests/sim): an origin that publishes a 4 s segment
//! every 4 s and lists the last six, with media timestamps counted from the start of the
//! broadcast (a late joiner's first segment is at 100 s, not 0). The viewer starts near the
//! live edge, reloads the playlist as RFC 8216 asks, follows the sliding window without a
//! stall, turns into a VOD at `#EXT-X-ENDLIST`, jumps back to the edge after a long pause,
//! and shares live segments with a second viewer.

mod sim;

use player_core::player::{FetchPurpose, SegmentSource};
use player_core::Event;

use sim::clock::secs;
use sim::log::HttpEnd;
use sim::media::Piece;
use sim::origin::Content;
use sim::swarm::SwarmConfig;
use sim::Sim;

const BITRATE_BPS: u64 = 1_000_000;
const WINDOW: usize = 6;

/// Live viewers joining at the given times, P2P off unless `p2p`.
fn live(duration_s: f64, joins_s: &[f64], p2p: bool) -> Sim {
    let mut config = SwarmConfig::new(Content::live(duration_s, &[BITRATE_BPS], WINDOW), 0, 0.0);
    config.origin.bandwidth_bytes_per_s = 2_000_000;
    for (i, &join_at_s) in joins_s.iter().enumerate() {
        let mut viewer = sim::swarm::ViewerConfig::new(100 + i as u64, join_at_s);
        if !p2p {
            viewer.core.p2p.trackers.clear();
        }
        config.viewers.push(viewer);
    }
    Sim::swarm(config)
}

/// Where the viewer's playhead is in the broadcast's own time (the element's time is the
/// player's playlist timeline, which starts at the first segment it saw): read off the
/// appended segment under the playhead.
fn broadcast_position_s(sim: &Sim, viewer: usize) -> f64 {
    let media = &sim.hosts[viewer].media;
    let chunk = media
        .chunks
        .iter()
        .find(|c| c.start_s <= media.position_s + 1e-6 && media.position_s < c.end_s + 1e-6)
        .unwrap_or_else(|| {
            panic!(
                "nothing buffered under the playhead at {}",
                media.position_s
            )
        });
    sim.content().segment(chunk.level, chunk.index).start_s + (media.position_s - chunk.start_s)
}

/// How far behind the newest published media the viewer's playhead is.
fn latency_s(sim: &Sim, viewer: usize) -> f64 {
    let published = sim.content().published(0, secs(sim.now));
    let edge = sim.content().segment(0, published - 1).end_s();
    edge - broadcast_position_s(sim, viewer)
}

fn playlist_fetch_times(sim: &Sim, viewer: usize) -> Vec<f64> {
    sim.hosts[viewer]
        .log
        .fetches
        .iter()
        .filter(|f| f.purpose == FetchPurpose::Playlist)
        .map(|f| secs(f.at))
        .collect()
}

#[test]
fn a_late_joiner_plays_near_the_live_edge_without_stalling() {
    let mut sim = live(600.0, &[100.0], false);
    sim.run_until_s(106.0);
    let started = broadcast_position_s(&sim, 0);
    println!("  playhead at {started:.1} s of the broadcast 6 s after joining at 100 s");
    assert!(started > 80.0, "did not start near the edge: {started}");
    for t in (110..=260).step_by(10) {
        sim.run_until_s(t as f64);
        let latency = latency_s(&sim, 0);
        assert!(
            (4.0..=28.0).contains(&latency),
            "latency {latency:.1} s at {t} s"
        );
    }
    sim.unload_all();
    sim.assert_clean();
    let media = &sim.hosts[0].media;
    assert!(media.started, "never played");
    assert_eq!(media.stalls, vec![], "stalled");
    assert_eq!(sim.hosts[0].log.errors(), vec![]);
    // Every segment fetched exists (none asked before it was published) and only once.
    let log = &sim.hosts[0].log;
    assert!(
        log.http_ends
            .iter()
            .all(|(_, _, end)| !matches!(end, HttpEnd::Failed(_))),
        "failed requests: {:?}",
        log.http_ends
    );
    // Reloads every target duration (4 s), or 2 s after an unchanged reload.
    let reloads = playlist_fetch_times(&sim, 0);
    let gaps: Vec<f64> = reloads.windows(2).skip(1).map(|w| w[1] - w[0]).collect();
    println!(
        "  {} playlist loads, gaps {:.1}..{:.1} s",
        reloads.len(),
        gaps.iter().cloned().fold(f64::INFINITY, f64::min),
        gaps.iter().cloned().fold(0.0, f64::max)
    );
    assert!(
        gaps.iter().all(|&g| g >= 1.99),
        "reloaded too soon: {gaps:?}"
    );
    assert!(
        gaps.iter().all(|&g| g <= 4.5),
        "reloaded too late: {gaps:?}"
    );
}

#[test]
fn endlist_turns_the_live_stream_into_a_vod_that_plays_to_the_end() {
    let mut sim = live(160.0, &[100.0], false);
    assert!(sim.run_until_ended(260.0), "did not reach the end");
    sim.unload_all();
    sim.assert_clean();
    let host = &sim.hosts[0];
    assert_eq!(host.media.stalls, vec![]);
    assert_eq!(host.log.end_of_stream.len(), 1);
    let last = host
        .media
        .chunks
        .iter()
        .max_by(|a, b| a.end_s.total_cmp(&b.end_s))
        .unwrap();
    assert_eq!(
        last.index, 39,
        "the last segment played is not the broadcast's last"
    );
    assert!(
        (host.media.position_s - last.end_s).abs() < 0.5,
        "ended at {}",
        host.media.position_s
    );
    let reloads = playlist_fetch_times(&sim, 0);
    let last = reloads.last().copied().unwrap();
    assert!(
        last < 170.0,
        "reloads went on after ENDLIST (last at {last:.1} s)"
    );
}

#[test]
fn after_a_long_pause_playback_jumps_back_to_the_live_edge() {
    let mut sim = live(600.0, &[100.0], false);
    sim.run_until_s(130.0);
    sim.pause_viewer(0, true);
    sim.run_until_s(200.0);
    sim.pause_viewer(0, false);
    sim.run_until_s(215.0);
    let latency = latency_s(&sim, 0);
    println!("  latency {latency:.1} s 15 s after a 70 s pause");
    assert!(latency < 28.0, "still {latency:.1} s behind");
    sim.unload_all();
    sim.assert_clean();
    assert_eq!(sim.hosts[0].log.errors(), vec![]);
}

#[test]
fn two_live_viewers_share_segments_over_p2p() {
    let mut sim = live(600.0, &[60.0, 62.0], true);
    sim.run_until_s(200.0);
    sim.unload_all();
    sim.assert_clean();
    for viewer in 0..2 {
        assert_eq!(
            sim.hosts[viewer].media.stalls,
            vec![],
            "viewer {viewer} stalled"
        );
    }
    let from_peers: usize = sim
        .hosts
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
    println!("  {from_peers} live segments came from a peer");
    assert!(from_peers >= 5, "{from_peers}");
}

/// The encoder restarts at segment 30: `#EXT-X-DISCONTINUITY` and a new init segment. The
/// viewer loads the new init segment and appends it between the last segment before the
/// discontinuity and the first after it, and plays through without a stall.
#[test]
fn a_discontinuity_with_a_new_init_segment_plays_through() {
    let mut config = SwarmConfig::new(
        Content {
            discontinuity_at: Some(30),
            ..Content::live(600.0, &[BITRATE_BPS], WINDOW)
        },
        0,
        0.0,
    );
    config.origin.bandwidth_bytes_per_s = 2_000_000;
    let mut viewer = sim::swarm::ViewerConfig::new(100, 100.0);
    viewer.core.p2p.trackers.clear();
    config.viewers.push(viewer);
    let mut sim = Sim::swarm(config);
    sim.run_until_s(200.0);
    sim.unload_all();
    sim.assert_clean();
    let host = &sim.hosts[0];
    assert_eq!(host.media.stalls, vec![], "stalled");
    assert_eq!(host.log.errors(), vec![]);
    let order: Vec<String> = host
        .log
        .appends
        .iter()
        .filter_map(|a| match a.piece {
            Piece::Init { .. } => Some("init".to_string()),
            Piece::Segment { index, .. } if (28..=31).contains(&index) => Some(index.to_string()),
            _ => None,
        })
        .collect();
    println!("  appends around the discontinuity: {order:?}");
    let at = |what: &str| {
        order
            .iter()
            .position(|o| o == what)
            .unwrap_or_else(|| panic!("no {what}: {order:?}"))
    };
    let second_init = order
        .iter()
        .enumerate()
        .filter(|(_, o)| *o == "init")
        .nth(1)
        .map(|(i, _)| i);
    let second_init =
        second_init.unwrap_or_else(|| panic!("the new init segment was not appended: {order:?}"));
    assert!(
        at("29") < second_init && second_init < at("30"),
        "{order:?}"
    );
    assert!(
        broadcast_position_s(&sim, 0) > 150.0,
        "did not play past the discontinuity"
    );
}
