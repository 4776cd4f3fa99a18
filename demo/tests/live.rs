//! The `shoal-demo --live` binary against the real ffmpeg (ignored by default: needs ffmpeg,
//! takes about 30 s of real time, and keeps a core about a quarter busy):
//! `cargo test -p shoal-demo --test live -- --ignored`.
//!
//! The integrity watcher, the ffmpeg command line and the flag itself have deterministic unit
//! tests in `src/live.rs` and `src/config.rs`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use shoal_demo::playlist::parse_media_playlist;

const BIN: &str = env!("CARGO_BIN_EXE_shoal-demo");

struct Live {
    child: Child,
    /// `127.0.0.1:PORT`
    addr: String,
    root: tempfile::TempDir,
    started: Instant,
}

/// A failing test must not leave the server running (and ffmpeg writing into a folder that
/// is being removed): kill it before the temporary root goes.
impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `shoal-demo --live` in a temporary root and waits for its three stdout lines.
fn start() -> Live {
    let root = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .args(["--port", "0", "--no-generate", "--live", "--root"])
        .arg(root.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let line = || rx.recv_timeout(Duration::from_secs(60)).unwrap();
    let first = line();
    let addr = first
        .strip_prefix("Shoal demo running at http://")
        .and_then(|rest| rest.strip_suffix('/'))
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();
    assert_eq!(line(), format!("Shoal tracker at ws://{addr}/tracker"));
    assert_eq!(
        line(),
        format!("Shoal live stream at http://{addr}/media/live/master.m3u8")
    );
    eprintln!("live stream announced {:?} after start", started.elapsed());
    Live {
        child,
        addr,
        root,
        started,
    }
}

struct Response {
    status: u16,
    head: String,
    body: Vec<u8>,
}

fn get(addr: &str, path: &str) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..split].to_vec())
        .unwrap()
        .to_ascii_lowercase();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(!head.contains("transfer-encoding"), "{head}");
    Response {
        status,
        head,
        body: raw[split + 4..].to_vec(),
    }
}

fn text(addr: &str, path: &str) -> String {
    let r = get(addr, path);
    assert_eq!(r.status, 200, "{path}");
    assert!(
        r.head.contains("cache-control: no-cache"),
        "{path}: {}",
        r.head
    );
    String::from_utf8(r.body).unwrap()
}

fn media_sequence(playlist: &str) -> u64 {
    playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// The ffmpeg child of `pid`, from /proc.
fn ffmpeg_child_of(pid: u32) -> u32 {
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        let (name, rest) = stat.split_once(") ").unwrap_or(("", ""));
        let parent: u32 = rest.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0);
        if parent == pid && name.ends_with("(ffmpeg") {
            return child;
        }
    }
    panic!("no ffmpeg child of {pid}");
}

/// Whether `pid` is a live (not zombie) ffmpeg process.
fn ffmpeg_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.contains("(ffmpeg)") && !stat.split_once(") ").unwrap().1.starts_with('Z')
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

#[test]
#[ignore = "needs ffmpeg; runs a real-time encoder for about 30 s"]
fn live_stream_slides_with_a_matching_integrity_file_and_stops_with_the_server() {
    let mut live = start();
    let addr = live.addr.clone();
    let ffmpeg = ffmpeg_child_of(live.child.id());
    assert!(ffmpeg_running(ffmpeg));

    let master = text(&addr, "/media/live/master.m3u8");
    assert_eq!(master.matches("#EXT-X-STREAM-INF:").count(), 2, "{master}");
    assert!(
        master.contains("CODECS=\"avc1.64001e,mp4a.40.2\"\n240p.m3u8"),
        "{master}"
    );
    assert!(
        master.contains("CODECS=\"avc1.64001f,mp4a.40.2\"\n480p.m3u8"),
        "{master}"
    );

    // Until the window has slid (6 segments of 2 s, then one more): never an end, segments
    // listed in order, at least 3 at some point.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut most_listed = 0;
    let playlist = loop {
        assert!(Instant::now() < deadline, "the window never slid");
        let playlist = text(&addr, "/media/live/240p.m3u8");
        assert!(!playlist.contains("#EXT-X-ENDLIST"), "{playlist}");
        assert!(playlist.contains("#EXT-X-PROGRAM-DATE-TIME:"), "{playlist}");
        let parsed = parse_media_playlist(&playlist).unwrap();
        most_listed = most_listed.max(parsed.segments.len());
        let sequence = media_sequence(&playlist);
        assert_eq!(
            parsed.segments[0].uri,
            format!("240p-{sequence:05}.m4s"),
            "{playlist}"
        );
        if sequence > 0 && most_listed >= 3 {
            break playlist;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(most_listed <= 6, "window of 6, saw {most_listed}");
    eprintln!("window slid {:?} after start", live.started.elapsed());

    // Every segment the playlists list is in the integrity file with the hash of the bytes the
    // origin serves. The file follows the playlists by up to one watcher pass (200 ms), so a
    // segment not listed yet is looked up again the way PeerTube's player does: the file is
    // fetched again every 500 ms, 10 times at most.
    let listed_240 = parse_media_playlist(&playlist).unwrap();
    let listed_480 = parse_media_playlist(&text(&addr, "/media/live/480p.m3u8")).unwrap();
    let fetch_integrity = || -> serde_json::Value {
        serde_json::from_str(&text(&addr, "/media/live/segments-sha256.json")).unwrap()
    };
    let mut integrity = fetch_integrity();
    let mut checked = 0;
    for segment in listed_240.segments.iter().chain(&listed_480.segments) {
        let r = get(&addr, &format!("/media/live/{}", segment.uri));
        assert_eq!(r.status, 200, "{}", segment.uri);
        let mut tries = 0;
        while integrity.get(&segment.uri).is_none() && tries < 10 {
            std::thread::sleep(Duration::from_millis(500));
            integrity = fetch_integrity();
            tries += 1;
        }
        assert_eq!(
            integrity[&segment.uri].as_str(),
            Some(sha256_hex(&r.body).as_str()),
            "{} in {integrity}",
            segment.uri
        );
        if tries > 0 {
            eprintln!(
                "{} was listed in the integrity file after {tries} refetch(es)",
                segment.uri
            );
        }
        checked += 1;
    }
    assert!(checked >= 6, "{checked}");

    // The first segment, once ffmpeg deletes it, leaves the integrity file too.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let integrity: serde_json::Value =
            serde_json::from_str(&text(&addr, "/media/live/segments-sha256.json")).unwrap();
        if integrity.get("240p-00000.m4s").is_none() {
            assert_eq!(get(&addr, "/media/live/240p-00000.m4s").status, 404);
            break;
        }
        assert!(Instant::now() < deadline, "240p-00000.m4s never left");
        std::thread::sleep(Duration::from_millis(500));
    }

    // SIGTERM: the server exits cleanly, ffmpeg is gone and so is the live folder.
    let pid = live.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = live.child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(!ffmpeg_running(ffmpeg));
    assert!(!live.root.path().join("demo/media/live").exists());
}

#[test]
#[ignore = "needs ffmpeg; runs a real-time encoder for a few seconds"]
fn live_ffmpeg_dies_with_a_killed_server() {
    let mut live = start();
    let ffmpeg = ffmpeg_child_of(live.child.id());
    assert!(ffmpeg_running(ffmpeg));
    live.child.kill().unwrap();
    live.child.wait().unwrap();
    // The parent-death signal: no graceful path ran, the kernel killed it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while ffmpeg_running(ffmpeg) {
        assert!(
            Instant::now() < deadline,
            "ffmpeg {ffmpeg} outlived the server"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
