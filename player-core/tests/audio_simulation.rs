//! Separate audio renditions in the simulation harness (tests/sim): PeerTube's split layout,
//! video-only levels and one AAC rendition in an `#EXT-X-MEDIA:TYPE=AUDIO` group, played on
//! two SourceBuffers. The scenarios: playback to the end with both tracks' buffers advancing
//! in step and every segment of each fetched once; a level switch that keeps the audio; an
//! audio segment that fails twice; QuotaExceededError evicting both tracks; an audio-only
//! variant on one SourceBuffer; live streams with split audio refused clearly; viewers sharing
//! the video over P2P while each takes the audio from the origin.

mod sim;

use player_core::player::{ErrorKind, FetchPurpose, TrackId};
use player_core::{Event, Input};

use sim::clock::secs;
use sim::log::HttpEnd;
use sim::media::{Piece, AUDIO_TRACK};
use sim::origin::{Content, Fault, Resource};
use sim::swarm::{SwarmConfig, ViewerConfig};
use sim::{Sim, SimConfig};

const VIDEO_TRACK: TrackId = TrackId(0);
const VIDEO_BPS: u64 = 1_000_000;
const AUDIO_BPS: u64 = 128_000;
const DURATION_S: f64 = 120.0;
const SEGMENTS: usize = 30;

/// A 120 s split VOD with one video level (level 0) and the audio rendition (level 1),
/// served at `speedup` times the sum of their bitrates.
fn config(video_bitrates_bps: &[u64], speedup: f64) -> SimConfig {
    let content = Content::vod_split_audio(DURATION_S, video_bitrates_bps, AUDIO_BPS);
    let mut config = SimConfig::new(content);
    let top = video_bitrates_bps.iter().max().copied().unwrap_or(0);
    config.origin.bandwidth_bytes_per_s = ((top + AUDIO_BPS) as f64 / 8.0 * speedup) as u64;
    // Every played second stays buffered, so that the scenarios can check what each track
    // holds over the whole video and which evictions a switch or a full buffer orders.
    config.core.back_buffer_max_s = None;
    config
}

fn audio_level(sim: &Sim) -> usize {
    sim.content().audio_level.expect("split content")
}

fn audio_segment(sim: &Sim, index: usize) -> Resource {
    Resource::Segment {
        level: audio_level(sim),
        index,
    }
}

/// Attempts at `resource` with when each started, ended and how.
fn attempts(sim: &Sim, resource: Resource) -> Vec<(f64, f64, HttpEnd)> {
    sim.log()
        .fetches_of(resource)
        .iter()
        .map(|f| {
            let (end, how) = sim
                .log()
                .end_of(f.request)
                .unwrap_or_else(|| panic!("{:?} never ended", f.request));
            (secs(f.at), secs(end), how)
        })
        .collect()
}

/// End of the range of `track`'s SourceBuffer holding the playhead (the playhead itself when
/// none does).
fn track_end_s(sim: &Sim, track: TrackId) -> f64 {
    let media = sim.media();
    let position_s = media.position_s;
    media
        .track_buffered(track)
        .iter()
        .find(|r| r.start_s <= position_s + 1e-6 && position_s <= r.end_s)
        .map_or(position_s, |r| r.end_s)
}

/// Per-track buffered ends sampled once a second while playing: (time, video end, audio end).
fn play_sampling(sim: &mut Sim, limit_s: f64) -> Vec<(f64, f64, f64)> {
    let mut samples = Vec::new();
    let mut t = 1.0;
    while !sim.all_ended() && t < limit_s {
        sim.run_until_s(t);
        samples.push((
            t,
            track_end_s(sim, VIDEO_TRACK),
            track_end_s(sim, AUDIO_TRACK),
        ));
        t += 1.0;
    }
    samples
}

#[test]
fn split_audio_plays_to_the_end_with_both_tracks_in_step() {
    let mut sim = Sim::new(config(&[VIDEO_BPS], 5.0));
    let samples = play_sampling(&mut sim, 300.0);
    assert!(sim.media().ended, "playback did not reach the end");
    sim.assert_clean();
    assert_eq!(sim.log().errors(), vec![]);
    assert_eq!(sim.stalls(), &[]);
    // Startup plus 120 s of playback, nothing more (sampled once a second).
    println!("  ended by {:.0} s", secs(sim.now));
    assert!(secs(sim.now) <= 122.0, "ended at {:.2}s", secs(sim.now));
    assert_eq!(sim.log().end_of_stream.len(), 1, "EndOfStream ordered once");

    // Two SourceBuffers, the variant's CODECS split between them.
    let buffers: Vec<(TrackId, String)> = sim
        .log()
        .source_buffers
        .iter()
        .map(|t| (t.track, t.mime.clone()))
        .collect();
    assert_eq!(
        buffers,
        vec![
            (VIDEO_TRACK, "video/mp4; codecs=\"avc1.64001f\"".to_owned()),
            (AUDIO_TRACK, "audio/mp4; codecs=\"mp4a.40.2\"".to_owned()),
        ]
    );

    // Every segment and init segment of both tracks fetched exactly once.
    let audio = audio_level(&sim);
    for level in [0, audio] {
        for index in 0..SEGMENTS {
            let resource = Resource::Segment { level, index };
            assert_eq!(sim.log().fetches_of(resource).len(), 1, "{resource:?}");
        }
        assert_eq!(sim.log().fetches_of(Resource::Init { level }).len(), 1);
    }
    let media_fetches = sim
        .log()
        .fetches
        .iter()
        .filter(|f| f.purpose != FetchPurpose::Playlist)
        .count();
    assert_eq!(media_fetches, 2 * (SEGMENTS + 1));
    assert!(sim.log().max_concurrent_fetches <= 2);

    // Both tracks' buffers advanced all along, and stayed within a segment of each other.
    let max_gap_s = samples
        .iter()
        .map(|&(_, video, audio)| (video - audio).abs())
        .fold(0.0, f64::max);
    let printed: Vec<String> = samples
        .iter()
        .step_by(20)
        .map(|(t, v, a)| format!("{t:.0}s: video to {v:.0}, audio to {a:.0}"))
        .collect();
    println!("  buffered ends: {}", printed.join("; "));
    println!("  largest gap between the tracks' buffered ends: {max_gap_s:.2} s");
    assert!(max_gap_s <= 4.0 + 1e-6, "tracks {max_gap_s} s apart");
    for window in samples.windows(2) {
        let ((_, v0, a0), (t, v1, a1)) = (window[0], window[1]);
        assert!(
            v1 >= v0 - 1e-6 && a1 >= a0 - 1e-6,
            "a buffer shrank at {t}s"
        );
    }
    let last = samples.last().unwrap();
    assert!(
        last.1 >= DURATION_S - 1e-6 && last.2 >= DURATION_S - 1e-6,
        "{last:?}"
    );
    // Each track holds all of it at the end; the element, their intersection, too.
    for track in [VIDEO_TRACK, AUDIO_TRACK] {
        let ranges = sim.media().track_buffered(track);
        assert_eq!(ranges.len(), 1, "{track:?}: {ranges:?}");
        assert!(ranges[0].start_s < 1e-6 && ranges[0].end_s > DURATION_S - 1e-6);
    }
    // Each init went to its track before that track's first segment.
    for track in [VIDEO_TRACK, AUDIO_TRACK] {
        let pieces: Vec<Piece> = sim
            .log()
            .appends
            .iter()
            .filter(|a| a.track == track)
            .map(|a| a.piece)
            .collect();
        assert!(
            matches!(pieces[0], Piece::Init { .. }),
            "{track:?}: {pieces:?}"
        );
    }
}

/// The viewer picks another level mid-play: the video ahead is replaced, the audio stays.
#[test]
fn a_level_switch_keeps_the_audio() {
    let mut config = config(&[400_000, VIDEO_BPS], 5.0);
    config.core.start_level = Some(0);
    let mut sim = Sim::new(config);
    sim.run_until_s(0.01);
    // Pinned to level 0 (the start level) so that ABR does not move it first.
    sim.input(
        0,
        Input::SetLevel {
            level: Some(0),
            smooth: false,
        },
    );
    sim.run_until_s(30.0);
    assert_eq!(sim.hosts[0].player.current_level(), Some(0));
    let audio_ahead_s = track_end_s(&sim, AUDIO_TRACK) - sim.media().position_s;
    println!("  at 30 s: audio buffered {audio_ahead_s:.1} s ahead");
    sim.input(
        0,
        Input::SetLevel {
            level: Some(1),
            smooth: false,
        },
    );
    assert!(sim.run_until_ended(300.0), "playback did not reach the end");
    sim.assert_clean();
    assert_eq!(sim.log().errors(), vec![]);
    assert_eq!(sim.stalls(), &[]);
    let shown: Vec<usize> = sim
        .log()
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::LevelSwitched { level } => Some(*level),
            _ => None,
        })
        .collect();
    assert_eq!(shown, vec![0, 1]);

    // Not one audio segment fetched twice, one audio init, no audio eviction.
    let audio = audio_level(&sim);
    for index in 0..SEGMENTS {
        assert_eq!(
            sim.log().fetches_of(audio_segment(&sim, index)).len(),
            1,
            "audio segment {index}"
        );
    }
    assert_eq!(
        sim.log().fetches_of(Resource::Init { level: audio }).len(),
        1
    );
    println!("  evictions: {:?}", sim.log().evict_tracks);
    assert!(
        !sim.log().evict_tracks.is_empty(),
        "the pick evicted nothing"
    );
    assert!(sim.log().evict_tracks.iter().all(|&t| t == VIDEO_TRACK));
    // Level 1's video was appended after its own init, on the video track.
    let level1_video = sim
        .log()
        .appends
        .iter()
        .filter(|a| matches!(a.piece, Piece::Segment { level: 1, .. }))
        .count();
    println!("  level 1 video segments appended: {level1_video}");
    assert!(level1_video >= 20, "{level1_video}");
    assert!(
        sim.log().change_types.is_empty(),
        "same codecs: no changeType"
    );
}

/// An audio segment answered with 500 twice: retried with the usual backoff while the video
/// goes on, and nothing of the video is fetched again although the element's buffered range
/// (the intersection) stops at the missing audio for a while.
#[test]
fn an_audio_segment_failing_twice_is_retried_and_playback_continues() {
    const FAILING: usize = 5;
    let mut sim = Sim::new(config(&[VIDEO_BPS], 5.0));
    let audio = audio_level(&sim);
    sim.origin
        .fault_segment(audio, FAILING, Fault::Status(500), 2);
    assert!(sim.run_until_ended(300.0), "playback did not reach the end");
    sim.assert_clean();
    let tries = attempts(&sim, audio_segment(&sim, FAILING));
    println!("  attempts (start, end, how): {tries:?}");
    assert_eq!(tries.len(), 3, "{tries:?}");
    assert_eq!(tries[0].2, HttpEnd::Failed(Some(500)));
    assert_eq!(tries[1].2, HttpEnd::Failed(Some(500)));
    assert_eq!(tries[2].2, HttpEnd::Done);
    let gaps: Vec<f64> = tries.windows(2).map(|w| w[1].0 - w[0].1).collect();
    println!("  waits before the retries: {gaps:?}");
    // RetryPolicy::default(): 500 ms, then twice that (or later: the audio waits for the
    // video to be loaded that far).
    assert!(
        gaps[0] >= 0.5 - 1e-3 && gaps[1] >= 1.0 - 1e-3,
        "gaps {gaps:?}"
    );
    assert_eq!(sim.log().errors(), vec![]);
    assert_eq!(sim.stalls(), &[]);
    for level in [0, audio] {
        for index in (0..SEGMENTS).filter(|&i| level == 0 || i != FAILING) {
            let resource = Resource::Segment { level, index };
            assert_eq!(sim.log().fetches_of(resource).len(), 1, "{resource:?}");
        }
    }
}

/// A full SourceBuffer: played media of both tracks is evicted, and playback goes on.
#[test]
fn quota_exceeded_evicts_both_tracks() {
    let mut config = config(&[VIDEO_BPS], 5.0);
    config.media.quota_bytes = 5_000_000;
    let keep_s = config.core.back_buffer_keep_s;
    let mut sim = Sim::new(config);
    let quota = sim.media().config.quota_bytes;
    let mut max_used = 0;
    let mut ok = true;
    while ok && !sim.media().ended && secs(sim.now) < 400.0 {
        ok = sim.step();
        max_used = max_used.max(sim.media().used_bytes());
    }
    assert!(
        sim.media().ended,
        "playback stuck at {}",
        sim.media().position_s
    );
    sim.assert_clean();
    assert!(max_used <= quota);
    let quota_failures = sim
        .log()
        .append_results
        .iter()
        .filter(|r| r.2 == Some(true))
        .count();
    let tracks = &sim.log().evict_tracks;
    let on = |track| tracks.iter().filter(|&&t| t == track).count();
    println!(
        "  {quota_failures} appends refused, evictions: {} video, {} audio; most bytes held {max_used}",
        on(VIDEO_TRACK),
        on(AUDIO_TRACK)
    );
    assert!(quota_failures > 0, "the quota was never hit");
    assert!(on(VIDEO_TRACK) > 0 && on(VIDEO_TRACK) == on(AUDIO_TRACK));
    for &(at, start_s, end_s, position_s) in &sim.log().evicts {
        assert!(
            start_s <= end_s && end_s <= position_s - keep_s + 1e-6,
            "evicted {start_s}..{end_s} with the playhead at {position_s} ({}s)",
            secs(at)
        );
    }
    // Media behind the playhead left both SourceBuffers.
    for track in [VIDEO_TRACK, AUDIO_TRACK] {
        let first = sim.media().track_buffered(track)[0].start_s;
        assert!(first > 30.0, "{track:?} still holds media from {first} s");
    }
    assert_eq!(sim.log().errors(), vec![]);
    let stalled_s = sim.media().stalled_s(sim.now);
    assert!(stalled_s < 5.0, "stalled {stalled_s}s: {:?}", sim.stalls());
}

/// A variant whose CODECS are all audio plays alone, as audio, on one SourceBuffer, even when
/// it names an audio group.
#[test]
fn an_audio_only_variant_plays_on_one_source_buffer() {
    let mut sim = Sim::new(config(&[VIDEO_BPS], 5.0));
    let content = sim.content().clone();
    let audio = audio_level(&sim);
    let uri = content.levels[audio]
        .playlist_url
        .trim_start_matches(sim::origin::BASE_URL);
    let master = format!(
        "#EXTM3U\n#EXT-X-VERSION:7\n\
         #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"Audio\",DEFAULT=YES,URI=\"{uri}\"\n\
         #EXT-X-STREAM-INF:BANDWIDTH=150000,CODECS=\"mp4a.40.2\",AUDIO=\"audio\"\n{uri}\n"
    );
    sim.origin.set_text(&content.multivariant_url, master);
    assert!(sim.run_until_ended(300.0), "playback did not reach the end");
    sim.assert_clean();
    assert_eq!(sim.log().errors(), vec![]);
    let buffers: Vec<(TrackId, String)> = sim
        .log()
        .source_buffers
        .iter()
        .map(|t| (t.track, t.mime.clone()))
        .collect();
    assert_eq!(
        buffers,
        vec![(VIDEO_TRACK, "audio/mp4; codecs=\"mp4a.40.2\"".to_owned())]
    );
    for index in 0..SEGMENTS {
        assert_eq!(sim.log().fetches_of(audio_segment(&sim, index)).len(), 1);
    }
}

/// Live with split audio is not played yet: a clear, fatal `Unsupported` error.
#[test]
fn a_live_stream_with_split_audio_is_refused_clearly() {
    let content = Content {
        live_window: Some(6),
        ..Content::vod_split_audio(600.0, &[VIDEO_BPS], AUDIO_BPS)
    };
    // Joining at 100 s, when 25 segments are out and the server lists the last six.
    let mut config = SwarmConfig::new(content, 0, 0.0);
    let mut viewer = ViewerConfig::new(100, 100.0);
    viewer.core.p2p.trackers.clear();
    config.viewers.push(viewer);
    let mut sim = Sim::swarm(config);
    sim.run_until_s(110.0);
    sim.assert_clean();
    let errors = sim.log().errors();
    println!("  {errors:?}");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let (_, kind, fatal, message) = &errors[0];
    assert_eq!((*kind, *fatal), (ErrorKind::Unsupported, true));
    assert!(
        message.contains("live") && message.contains("audio"),
        "{message}"
    );
    assert!(sim.log().appends.is_empty());
}

/// Three viewers joining 5 s apart: they share the video over P2P, and each takes the audio
/// from the origin (audio swarms are future work), without a stall.
#[test]
fn viewers_share_the_video_and_take_the_audio_from_the_origin() {
    let content = Content::vod_split_audio(DURATION_S, &[VIDEO_BPS], AUDIO_BPS);
    let mut config = SwarmConfig::new(content, 3, 5.0);
    // 8 times the bitrate of video and audio together (in bytes per second).
    config.origin.bandwidth_bytes_per_s = VIDEO_BPS + AUDIO_BPS;
    let mut sim = Sim::swarm(config);
    let ended = sim.run_until_ended(300.0);
    sim.print_figures("split audio swarm");
    sim.unload_all();
    sim.assert_clean();
    assert!(ended, "not every viewer reached the end");
    let audio = audio_level(&sim);
    let mut peer_bytes = 0;
    for viewer in 0..3 {
        let figures = sim.figures(viewer);
        assert_eq!(figures.stalls, 0, "viewer {viewer} stalled");
        assert_eq!(
            figures.segments, SEGMENTS,
            "viewer {viewer}: video segments"
        );
        peer_bytes += figures.peer_bytes;
        let log = &sim.hosts[viewer].log;
        for index in 0..SEGMENTS {
            let resource = Resource::Segment {
                level: audio,
                index,
            };
            assert_eq!(
                log.fetches_of(resource).len(),
                1,
                "viewer {viewer}: {resource:?} over HTTP"
            );
        }
        assert!(
            log.errors().is_empty(),
            "viewer {viewer}: {:?}",
            log.errors()
        );
    }
    assert!(peer_bytes > 0, "no video came from peers");
}
