//! Mirrors (PeerTube's redundancy servers) in the simulation harness (tests/sim): the origin's
//! tree served under other base URLs, each mirror answering well, with an error, or with
//! corrupted bytes, and one viewer (P2P off) spreading its segment requests over the origin
//! and the mirrors. The host flags any appended byte that is not the segment's, so a corrupt
//! body that got through would break the run. Every scenario is deterministic and prints what
//! it saw (`cargo test --test mirror_simulation -- --nocapture`).

mod sim;

use player_core::player::{FetchPurpose, IntegrityCheck, SegmentSource};
use player_core::schedule::RetryPolicy;
use player_core::{Event, Instant};

use sim::clock::secs;
use sim::host::Host;
use sim::log::{FetchRecord, HttpEnd};
use sim::origin::{Content, Fault, MirrorBehaviour, Resource, BASE_URL, INTEGRITY_URL};
use sim::{Sim, SimConfig};

const MIRROR_A: &str = "https://mirror-a.test/hls/demo/";
const MIRROR_B: &str = "https://mirror-b.test/copy/demo/";

/// A 120 s single-level VOD (30 segments of 4 s) with its integrity file, played by one
/// viewer (P2P off: no tracker) told about `mirrors` (in that order) and the integrity file,
/// the simulation's configuration then adjusted by `adjust`.
fn sim_with(mirrors: &[(&str, MirrorBehaviour)], adjust: impl FnOnce(&mut SimConfig)) -> Sim {
    let mut config = SimConfig::new(Content::vod(120.0, &[1_000_000]).with_integrity());
    config.origin.bandwidth_bytes_per_s = 2_500_000;
    config.core.integrity_url = Some(INTEGRITY_URL.to_owned());
    config.core.mirrors = mirrors.iter().map(|(base, _)| base.to_string()).collect();
    adjust(&mut config);
    let mut sim = Sim::new(config);
    for (base, behaviour) in mirrors {
        sim.origin.add_mirror(base, *behaviour);
    }
    sim
}

/// Plays to the end and checks what every scenario needs: no broken invariant (nothing
/// wrong appended), the end reached, no stall, no fatal error, every segment loaded.
fn play_to_the_end(sim: &mut Sim, scenario: &str) {
    let ended = sim.run_until_ended(300.0);
    sim.print_figures(scenario);
    println!(
        "  origin {} B, mirrors {} B; mirror requests: {}",
        sim.origin.served_bytes,
        sim.origin.mirror_served_bytes,
        [MIRROR_A, MIRROR_B]
            .map(|base| format!("{base} {}", fetches_to(&sim.hosts[0], base).len()))
            .join(", ")
    );
    sim.assert_clean();
    assert!(ended, "{scenario}: did not reach the end");
    assert_eq!(sim.stalls(), &[], "{scenario}");
    let fatal: Vec<_> = sim.log().errors().into_iter().filter(|e| e.2).collect();
    assert_eq!(fatal, [], "{scenario}");
    assert_eq!(loaded_sources(&sim.hosts[0]).len(), 30, "{scenario}");
}

/// Fetches ordered to URLs under `base`.
fn fetches_to<'a>(host: &'a Host, base: &str) -> Vec<&'a FetchRecord> {
    host.log
        .fetches
        .iter()
        .filter(|f| f.url.starts_with(base))
        .collect()
}

/// `(url, reason)` of every `MirrorDropped`.
fn dropped(host: &Host) -> Vec<(String, String)> {
    host.log
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::MirrorDropped { url, reason } => Some((url.clone(), reason.clone())),
            _ => None,
        })
        .collect()
}

/// The source of every segment loaded, in order.
fn loaded_sources(host: &Host) -> Vec<(usize, SegmentSource)> {
    host.log
        .events
        .iter()
        .filter_map(|(_, e)| match *e {
            Event::SegmentLoaded {
                segment, source, ..
            } => Some((segment, source)),
            _ => None,
        })
        .collect()
}

fn count(sources: &[(usize, SegmentSource)], source: SegmentSource) -> usize {
    sources.iter().filter(|(_, s)| *s == source).count()
}

/// When the request ended, and how.
fn end_of(host: &Host, fetch: &FetchRecord) -> (Instant, HttpEnd) {
    host.log
        .http_ends
        .iter()
        .find(|(_, request, _)| *request == fetch.request)
        .map(|&(at, _, end)| (at, end))
        .expect("every request ends")
}

/// The first fetch of `resource` from the origin after `after`.
fn origin_fetch_after(host: &Host, resource: Resource, after: Instant) -> Option<&FetchRecord> {
    host.log
        .fetches
        .iter()
        .find(|f| f.resource == resource && f.at >= after && f.url.starts_with(BASE_URL))
}

/// Two good mirrors: segments come from all three servers, only media segments go to a
/// mirror (playlists, init segment and integrity file come from the origin), every mirror
/// body is hashed once, the stats count the mirrors' bytes, and a second run makes exactly
/// the same requests.
#[test]
fn segment_requests_spread_over_the_origin_and_two_mirrors() {
    let mirrors = [
        (MIRROR_A, MirrorBehaviour::Ok),
        (MIRROR_B, MirrorBehaviour::Ok),
    ];
    let mut sim = sim_with(&mirrors, |_| {});
    play_to_the_end(&mut sim, "origin + 2 good mirrors");
    let host = &sim.hosts[0];
    let segments_from = |base: &str| {
        host.log
            .fetches
            .iter()
            .filter(|f| f.url.starts_with(base) && f.purpose == FetchPurpose::MediaSegment)
            .count()
    };
    let (origin, a, b) = (
        segments_from(BASE_URL),
        segments_from(MIRROR_A),
        segments_from(MIRROR_B),
    );
    println!("  segment requests: origin {origin}, mirror A {a}, mirror B {b}");
    assert!(origin >= 3 && a >= 3 && b >= 3, "{origin} {a} {b}");
    for base in [MIRROR_A, MIRROR_B] {
        assert!(fetches_to(host, base)
            .iter()
            .all(|f| f.purpose == FetchPurpose::MediaSegment));
    }
    assert_eq!(dropped(host), []);
    let sources = loaded_sources(host);
    let from_mirrors = count(&sources, SegmentSource::Mirror);
    assert_eq!(
        from_mirrors,
        a + b,
        "each mirror request loaded its segment"
    );
    assert_eq!(count(&sources, SegmentSource::Http), origin);
    assert_eq!(
        host.log.hashes.len(),
        from_mirrors,
        "mirror bodies are hashed"
    );
    let integrity_loads = host
        .log
        .fetches
        .iter()
        .filter(|f| f.purpose == FetchPurpose::IntegrityFile)
        .count();
    assert_eq!(integrity_loads, 1, "P2P is off: the mirrors want the file");
    let last_stats = host.log.events.iter().rev().find_map(|(_, e)| match e {
        Event::Stats(stats) => Some(stats.clone()),
        _ => None,
    });
    let stats = last_stats.expect("stats are reported");
    println!("  last stats: {stats:?}");
    assert!(stats.mirror_bytes > 0 && stats.mirror_bytes < stats.http_bytes);
    assert!(stats.mirror_bytes <= sim.origin.mirror_served_bytes);

    let mut again = sim_with(&mirrors, |_| {});
    again.run_until_ended(300.0);
    let urls = |sim: &Sim| -> Vec<(Instant, String)> {
        let log = &sim.hosts[0].log;
        log.fetches.iter().map(|f| (f.at, f.url.clone())).collect()
    };
    assert_eq!(urls(&sim), urls(&again), "the spread is deterministic");
}

/// A mirror answering 500 gets one request: it is dropped at once (`MirrorDropped`), the
/// segment is asked of the origin at the same instant, and the good mirror and the origin
/// serve the rest. The retry budget is one attempt (no retry at all): had the mirror's
/// failure counted against the segment, playback would have failed.
#[test]
fn a_mirror_answering_500_is_dropped_after_its_first_failure() {
    let mirrors = [
        (MIRROR_A, MirrorBehaviour::Status(500)),
        (MIRROR_B, MirrorBehaviour::Ok),
    ];
    let mut sim = sim_with(&mirrors, |config| {
        config.core.retry = RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        }
    });
    play_to_the_end(&mut sim, "mirror A answers 500, mirror B good");
    let host = &sim.hosts[0];
    let asked = fetches_to(host, MIRROR_A);
    assert_eq!(asked.len(), 1, "{asked:?}");
    let failed = asked[0];
    let (failed_at, end) = end_of(host, failed);
    assert_eq!(end, HttpEnd::Failed(Some(500)));
    let refetch = origin_fetch_after(host, failed.resource, failed_at)
        .expect("the segment is fetched from the origin");
    println!(
        "  {:?} failed at {:.3}s on mirror A, asked of the origin at {:.3}s",
        failed.resource,
        secs(failed_at),
        secs(refetch.at)
    );
    assert_eq!(refetch.at, failed_at, "at once: no backoff");
    let drops = dropped(host);
    assert_eq!(drops.len(), 1, "{drops:?}");
    assert_eq!(drops[0].0, MIRROR_A);
    assert!(drops[0].1.contains("500"), "{drops:?}");
    assert!(!fetches_to(host, MIRROR_B).is_empty());
    let sources = loaded_sources(host);
    assert!(count(&sources, SegmentSource::Mirror) > 0);
    assert!(count(&sources, SegmentSource::Http) > 0);
}

/// A mirror sending corrupted bytes (right length, one byte flipped) is dropped at the first
/// mismatch: an `IntegrityFailure` from a mirror (no peer), the body never appended (the host
/// would flag it), the segment fetched from the origin, the mirror never asked again (nor
/// before: until its first segment passes, a mirror gets one request at a time).
#[test]
fn a_corrupting_mirror_is_dropped_at_the_first_mismatch() {
    let mirrors = [
        (MIRROR_A, MirrorBehaviour::Corrupt),
        (MIRROR_B, MirrorBehaviour::Ok),
    ];
    let mut sim = sim_with(&mirrors, |_| {});
    play_to_the_end(&mut sim, "mirror A corrupts, mirror B good");
    let host = &sim.hosts[0];
    let asked = fetches_to(host, MIRROR_A);
    assert_eq!(asked.len(), 1, "probed with one request: {asked:?}");
    let corrupt = asked[0];
    let failures: Vec<_> = host
        .log
        .events
        .iter()
        .filter_map(|(at, e)| match *e {
            Event::IntegrityFailure {
                segment,
                source,
                connection,
                check,
                ..
            } => Some((*at, segment, source, connection, check)),
            _ => None,
        })
        .collect();
    println!("  integrity failures: {failures:?}");
    println!("  dropped: {:?}", dropped(host));
    assert_eq!(failures.len(), 1);
    let (failed_at, segment, source, connection, check) = failures[0];
    assert_eq!(
        (source, connection, check),
        (SegmentSource::Mirror, None, IntegrityCheck::Sha256)
    );
    assert_eq!(
        corrupt.resource,
        Resource::Segment {
            level: 0,
            index: segment
        }
    );
    assert!(host
        .log
        .appends
        .iter()
        .all(|a| a.request != corrupt.request));
    assert!(host.log.released.iter().any(|(_, r)| *r == corrupt.request));
    assert!(origin_fetch_after(host, corrupt.resource, failed_at).is_some());
    let drops = dropped(host);
    assert_eq!(drops.len(), 1);
    assert_eq!(drops[0].0, MIRROR_A);
    assert!(drops[0].1.starts_with("integrity: segment"), "{drops:?}");
    assert!(count(&loaded_sources(host), SegmentSource::Mirror) > 0);
}

/// A mirror that served well fails later: once two of its segments passed, it stops
/// answering. With seed 9 the draw gives mirror A most of the first segments, so with the
/// buffer past its thin start two requests to it hang at once (segments 5 and 7): when the
/// first times out the mirror is dropped, the other is cancelled at that instant and sent to
/// the origin, and the mirror is not asked again; no stall.
#[test]
fn a_proven_mirror_failing_later_is_dropped_with_its_requests_under_way() {
    let mirrors = [
        (MIRROR_A, MirrorBehaviour::Ok),
        (MIRROR_B, MirrorBehaviour::Ok),
    ];
    let mut sim = sim_with(&mirrors, |config| {
        config.seed = 9;
        config.core.first_byte_timeout_ms = 3_000;
    });
    let from_mirror = |sim: &Sim| count(&loaded_sources(&sim.hosts[0]), SegmentSource::Mirror);
    while from_mirror(&sim) < 2 {
        assert!(sim.step(), "the mirror never served a segment");
    }
    let asked_before = fetches_to(&sim.hosts[0], MIRROR_A).len();
    let file = format!("{MIRROR_A}demo-level0-fragmented.mp4");
    sim.origin.add_fault(&file, None, Fault::NoAnswer, u32::MAX);
    play_to_the_end(&mut sim, "mirror A stops answering after its first segment");

    let host = &sim.hosts[0];
    let hung = &fetches_to(host, MIRROR_A)[asked_before..];
    let first = hung.first().expect("mirror A was asked again");
    let (failed_at, end) = end_of(host, first);
    // The core gives up on it and cancels it.
    assert_eq!(end, HttpEnd::Cancelled);
    assert_eq!(
        secs(failed_at) - secs(first.at),
        3.0,
        "the first-byte timeout"
    );
    assert_eq!(
        dropped(host),
        [(MIRROR_A.to_owned(), "timed out".to_owned())]
    );
    println!(
        "  hung at mirror A: {:?}",
        hung.iter().map(|f| f.resource).collect::<Vec<_>>()
    );
    assert!(
        hung.len() >= 2,
        "only one request to the mirror was under way"
    );
    for fetch in hung {
        assert!(fetch.at <= failed_at, "asked after the failure: {fetch:?}");
        assert_eq!(end_of(host, fetch), (failed_at, HttpEnd::Cancelled));
        assert!(origin_fetch_after(host, fetch.resource, failed_at).is_some());
    }
}

/// Every way a mirror can answer wrongly drops it after that one request, and the segment
/// comes from the origin: no answer (timeout), `200` for a range, another range's
/// `Content-Range`, a body cut short.
#[test]
fn any_wrong_answer_drops_the_mirror_and_the_origin_takes_over() {
    let file = format!("{MIRROR_A}demo-level0-fragmented.mp4");
    for fault in [
        Fault::NoAnswer,
        Fault::IgnoreRange,
        Fault::WrongContentRange,
        Fault::TruncateAt { bytes: 1000 },
    ] {
        // Within the first stall's time: a mirror that does not answer costs 2 s.
        let mut sim = sim_with(&[(MIRROR_A, MirrorBehaviour::Ok)], |config| {
            config.core.first_byte_timeout_ms = 2_000
        });
        sim.origin.add_fault(&file, None, fault, u32::MAX);
        let ended = sim.run_until_ended(300.0);
        let host = &sim.hosts[0];
        let scenario = format!("mirror answering {fault:?}");
        sim.assert_clean();
        assert!(ended, "{scenario}");
        let asked = fetches_to(host, MIRROR_A);
        let drops = dropped(host);
        println!(
            "  {scenario}: {} request(s), dropped {drops:?}, {} stall(s)",
            asked.len(),
            sim.stalls().len()
        );
        assert_eq!(asked.len(), 1, "{scenario}");
        assert_eq!(drops.len(), 1, "{scenario}");
        let (ended_at, _) = end_of(host, asked[0]);
        assert!(
            origin_fetch_after(host, asked[0].resource, ended_at).is_some(),
            "{scenario}"
        );
        assert!(host.log.errors().iter().all(|e| !e.2), "{scenario}");
        assert_eq!(loaded_sources(host).len(), 30, "{scenario}");
    }
}

/// Mirror bodies can only be checked with the integrity file. Without an integrity URL the
/// mirrors are dropped at `Load`; with a file the origin does not have, once its load failed
/// for good. Either way no mirror is asked for anything and the origin serves everything.
#[test]
fn without_an_integrity_file_mirrors_are_unused() {
    let mirrors = [
        (MIRROR_A, MirrorBehaviour::Ok),
        (MIRROR_B, MirrorBehaviour::Ok),
    ];
    for (integrity_url, reason) in [
        (None, "no integrity file"),
        (
            Some(format!("{BASE_URL}missing-sha256.json")),
            "could not be loaded",
        ),
    ] {
        let mut sim = sim_with(&mirrors, |config| {
            config.core.integrity_url = integrity_url.clone()
        });
        let scenario = format!("integrity file {integrity_url:?}");
        play_to_the_end(&mut sim, &scenario);
        let host = &sim.hosts[0];
        let drops = dropped(host);
        println!("  dropped: {drops:?}");
        let urls: Vec<&str> = drops.iter().map(|(url, _)| url.as_str()).collect();
        assert_eq!(urls, [MIRROR_A, MIRROR_B], "{scenario}");
        assert!(drops.iter().all(|(_, r)| r.contains(reason)), "{drops:?}");
        assert!(fetches_to(host, MIRROR_A).is_empty() && fetches_to(host, MIRROR_B).is_empty());
        assert_eq!(host.log.hashes.len(), 0);
        let sources = loaded_sources(host);
        assert_eq!(count(&sources, SegmentSource::Http), 30, "{scenario}");
    }
}

/// P2P switched off: the integrity file is loaded all the same when mirrors are configured
/// (and only then), and the mirrors are used.
#[test]
fn with_p2p_off_mirrors_still_load_the_integrity_file() {
    for mirrored in [true, false] {
        let mirrors: &[(&str, MirrorBehaviour)] = if mirrored {
            &[(MIRROR_A, MirrorBehaviour::Ok)]
        } else {
            &[]
        };
        // A tracker is configured, but the viewer's P2P switch is off.
        let mut sim = sim_with(mirrors, |config| {
            config.core.p2p.enabled = false;
            config.core.p2p.trackers = vec!["wss://tracker.test/".into()]
        });
        play_to_the_end(&mut sim, &format!("P2P off, mirrored {mirrored}"));
        let host = &sim.hosts[0];
        let integrity_loads = host
            .log
            .fetches
            .iter()
            .filter(|f| f.purpose == FetchPurpose::IntegrityFile)
            .count();
        assert_eq!(integrity_loads, usize::from(mirrored));
        let from_mirror = count(&loaded_sources(host), SegmentSource::Mirror);
        assert_eq!(from_mirror > 0, mirrored, "{from_mirror}");
    }
}
