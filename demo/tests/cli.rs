//! Tests of the `shoal-demo` binary itself: the stdout contract other tools parse (the running
//! line, then the tracker line), `--help`, argument errors, and a clean stop on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_shoal-demo");

#[test]
fn help_documents_every_flag() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--host",
        "--port",
        "--root",
        "--media-dir",
        "--pkg-dir",
        "--embed-dir",
        "--mount",
        "--test-control",
        "--no-generate",
        "--verbose",
        "--no-tracker",
        "--tracker-interval-s",
        "--live",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn bad_arguments_exit_2() {
    let out = Command::new(BIN).arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bogus"));
}

#[test]
fn prints_the_running_line_then_the_tracker_line_then_serves() {
    let root = tempfile::tempdir().unwrap();
    let fixtures = root.path().join("tests/fixtures/http");
    std::fs::create_dir_all(&fixtures).unwrap();
    std::fs::write(fixtures.join("hello.txt"), "hello").unwrap();

    let mut child = Command::new(BIN)
        .args(["--port", "0", "--no-generate", "--test-control", "--root"])
        .arg(root.path())
        .args(["--mount", "/fixtures=tests/fixtures/http"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line
        .strip_prefix("Shoal demo running at http://127.0.0.1:")
        .and_then(|rest| rest.strip_suffix("/\n"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let port: u16 = url.parse().unwrap();
    assert_ne!(port, 0);
    line.clear();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(
        line,
        format!("Shoal tracker at ws://127.0.0.1:{port}/tracker\n")
    );

    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /fixtures/hello.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=1-\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 206"), "{response}");
    assert!(response.ends_with("\r\n\r\nello"), "{response}");

    // SIGTERM stops it cleanly, and nothing else was printed to stdout.
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "");
}

#[test]
fn no_tracker_prints_only_the_running_line() {
    let root = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["--port", "0", "--no-generate", "--no-tracker", "--root"])
        .arg(root.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("Shoal demo running at http://"),
        "{line:?}"
    );
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    assert!(child.wait().unwrap().success());
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "");
}

#[test]
fn sigterm_exits_promptly_even_with_a_stuck_connection() {
    let root = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["--port", "0", "--no-generate", "--root"])
        .arg(root.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("Shoal demo running at http://")
        .and_then(|rest| rest.strip_suffix('/'))
        .unwrap()
        .to_string();
    // Half a request: graceful shutdown would wait for it forever without the grace period.
    let mut stuck = TcpStream::connect(&addr).unwrap();
    stuck.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));

    let started = std::time::Instant::now();
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
