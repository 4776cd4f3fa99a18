//! Integration tests of the real origin server over loopback TCP: Range, CORS, content types,
//! routes, and the `/__control` fault injection and request log.
//!
//! The client is a deliberately small HTTP/1.1 one over `TcpStream` (one request per
//! connection), so what is asserted is exactly what went over the wire.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use shoal_demo::server::EMBED_CSP;
use shoal_demo::{serve, Mount, RunningServer, ServerConfig};

/// A server on 127.0.0.1:0 over a temporary root, on its own runtime so tests stay synchronous.
struct TestServer {
    addr: SocketAddr,
    // Field order matters: the server handle must drop (stopping it) before the runtime.
    _server: RunningServer,
    _runtime: tokio::runtime::Runtime,
    _root: tempfile::TempDir,
}

/// 1000 bytes whose values encode their position, so a wrong range is visible in the body.
fn media_bytes() -> Vec<u8> {
    (0..1000u32).map(|i| (i % 251) as u8).collect()
}

/// 300 KB, for the throttle.
fn big_bytes() -> Vec<u8> {
    (0..300_000u32).map(|i| (i % 251) as u8).collect()
}

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn start(test_control: bool) -> TestServer {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(
        r,
        "demo/static/index.html",
        b"<!doctype html><title>Shoal</title>",
    );
    write(r, "demo/static/app.css", b"body{}");
    write(r, "demo/static/app.js", b"export {};");
    write(r, "demo/static/subs.vtt", b"WEBVTT\n");
    write(r, "media/vod/480p.mp4", &media_bytes());
    write(r, "media/vod/big.mp4", &big_bytes());
    write(r, "media/vod/720p.mp4", &media_bytes());
    write(r, "media/vod/480p.m3u8", b"#EXTM3U\n");
    write(r, "media/vod/master.m3u8", b"#EXTM3U\n");
    write(r, "media/plain/master.m3u8", b"#EXTM3U\n");
    write(
        r,
        "embed/index.html",
        b"<!doctype html><title>Embed</title>",
    );
    write(r, "media/vod/segments-sha256.json", b"{}");
    write(r, "media/live/seg-1.ts", b"G\x00\x00\x10");
    write(r, "media/live/master.m3u8", b"#EXTM3U\n");
    write(r, "media/live/240p.m3u8", b"#EXTM3U\n");
    write(r, "media/live/240p-00001.m4s", b"m4s");
    write(r, "media/live/segments-sha256.json", b"{}");
    write(r, "media/vod/seg.m4s", b"m4s");
    write(r, "pkg/shoal.js", b"export default 1;");
    write(r, "pkg/shoal_bg.wasm", b"\0asm\x01\0\0\0");
    write(r, "fixtures/http/data.bin", b"fixture-data");

    let mut config = ServerConfig::new(r);
    config.port = 0;
    config.media_dir = r.join("media");
    config.pkg_dir = r.join("pkg");
    config.mounts = vec![Mount::parse("/fixtures=fixtures/http", r).unwrap()];
    config.test_control = test_control;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(serve(config)).unwrap();
    assert!(server.addr.ip().is_loopback());
    assert_ne!(server.addr.port(), 0);
    TestServer {
        addr: server.addr,
        _server: server,
        _runtime: runtime,
        _root: root,
    }
}

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

fn decode_chunked(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = std::str::from_utf8(&data[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

impl TestServer {
    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Response {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        head.push_str("Connection: close\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(body) = body {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        if let Some(body) = body {
            head.push_str(body);
        }
        stream.write_all(head.as_bytes()).unwrap();

        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = std::str::from_utf8(&raw[..split]).unwrap();
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.trim().to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        let mut response = Response {
            status,
            headers,
            body: raw[split + 4..].to_vec(),
        };
        if response
            .header("transfer-encoding")
            .is_some_and(|t| t.contains("chunked"))
        {
            response.body = decode_chunked(&response.body);
        }
        response
    }

    fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], None)
    }

    fn get_range(&self, path: &str, range: &str) -> Response {
        self.request("GET", path, &[("Range", range)], None)
    }

    fn post(&self, path: &str, body: &str) -> Response {
        self.request(
            "POST",
            path,
            &[("Content-Type", "application/json")],
            Some(body),
        )
    }
}

const MEDIA: &str = "/media/vod/480p.mp4";

#[test]
fn full_file_is_200_with_length_and_accept_ranges() {
    let s = start(false);
    let r = s.get(MEDIA);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, media_bytes());
    assert_eq!(r.header("content-length"), Some("1000"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(r.header("content-range"), None);
}

#[test]
fn head_has_length_and_no_body() {
    let s = start(false);
    let r = s.request("HEAD", MEDIA, &[], None);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("1000"));
    assert!(r.body.is_empty());
}

#[test]
fn byte_ranges_are_206_with_exact_content_range() {
    let s = start(false);
    let all = media_bytes();
    for (range, start, end) in [
        ("bytes=10-19", 10, 19),
        ("bytes=0-0", 0, 0),
        ("bytes=990-", 990, 999),
        ("bytes=-5", 995, 999),
        // A last-byte-pos past the end is clamped (RFC 9110 14.1.2), not an error.
        ("bytes=995-5000", 995, 999),
    ] {
        let r = s.get_range(MEDIA, range);
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes {start}-{end}/1000").as_str()),
            "{range}"
        );
        assert_eq!(
            r.header("content-length"),
            Some((end - start + 1).to_string().as_str())
        );
        assert_eq!(r.body, &all[start..=end], "{range}");
        assert_eq!(r.header("content-type"), Some("video/mp4"));
    }
}

#[test]
fn unsatisfiable_range_is_416() {
    let s = start(false);
    for range in ["bytes=1000-1005", "bytes=5000-"] {
        let r = s.get_range(MEDIA, range);
        assert_eq!(r.status, 416, "{range}");
        assert_eq!(r.header("content-range"), Some("bytes */1000"), "{range}");
    }
}

#[test]
fn cors_headers_on_responses_and_preflight() {
    let s = start(false);
    let r = s.request(
        "GET",
        MEDIA,
        &[("Origin", "http://example.test"), ("Range", "bytes=0-1")],
        None,
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let exposed = r
        .header("access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase();
    for h in ["content-range", "content-length", "accept-ranges"] {
        assert!(exposed.contains(h), "{exposed}");
    }

    let pre = s.request(
        "OPTIONS",
        MEDIA,
        &[
            ("Origin", "http://example.test"),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "range"),
        ],
        None,
    );
    assert!(pre.status == 200 || pre.status == 204, "{}", pre.status);
    assert_eq!(pre.header("access-control-allow-origin"), Some("*"));
    let allowed = pre
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("range"), "{allowed}");
    let methods = pre.header("access-control-allow-methods").unwrap();
    assert!(methods.contains("GET"), "{methods}");
    assert!(pre.body.is_empty());

    // Error responses carry CORS headers too, so a page can see the status.
    let missing = s.request(
        "GET",
        "/media/nope.mp4",
        &[("Origin", "http://example.test")],
        None,
    );
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("access-control-allow-origin"), Some("*"));
}

#[test]
fn content_types_and_cache_control_by_extension() {
    let s = start(false);
    for (path, content_type, no_cache) in [
        (
            "/media/vod/480p.m3u8",
            "application/vnd.apple.mpegurl",
            true,
        ),
        ("/media/vod/480p.mp4", "video/mp4", false),
        ("/media/vod/seg.m4s", "video/mp4", false),
        // The live stream's playlists and integrity file change every 2 s.
        (
            "/media/live/master.m3u8",
            "application/vnd.apple.mpegurl",
            true,
        ),
        (
            "/media/live/240p.m3u8",
            "application/vnd.apple.mpegurl",
            true,
        ),
        ("/media/live/segments-sha256.json", "application/json", true),
        ("/media/live/240p-00001.m4s", "video/mp4", false),
        ("/media/live/seg-1.ts", "video/mp2t", false),
        ("/media/vod/segments-sha256.json", "application/json", true),
        ("/pkg/shoal_bg.wasm", "application/wasm", false),
        ("/pkg/shoal.js", "text/javascript", false),
        ("/app.js", "text/javascript", false),
        ("/", "text/html", false),
        ("/index.html", "text/html", false),
        ("/app.css", "text/css", false),
        ("/subs.vtt", "text/vtt", false),
    ] {
        let r = s.get(path);
        assert_eq!(r.status, 200, "{path}");
        let ct = r.header("content-type").unwrap();
        assert!(ct.starts_with(content_type), "{path}: {ct}");
        assert_eq!(
            r.header("cache-control") == Some("no-cache"),
            no_cache,
            "{path}"
        );
    }
    // Ranged playlist fetches keep the policy as well.
    let r = s.get_range("/media/vod/480p.m3u8", "bytes=0-2");
    assert_eq!(r.status, 206);
    assert_eq!(r.header("cache-control"), Some("no-cache"));
}

#[test]
fn routes_static_pkg_media_and_mounts() {
    let s = start(false);
    assert_eq!(s.get("/").text(), "<!doctype html><title>Shoal</title>");
    assert_eq!(s.get("/pkg/shoal.js").text(), "export default 1;");
    assert_eq!(s.get("/fixtures/data.bin").text(), "fixture-data");
    assert_eq!(s.get_range("/fixtures/data.bin", "bytes=8-").text(), "data");
    assert_eq!(s.get("/no/such/file.txt").status, 404);
    assert_eq!(s.get("/media/vod/none.m3u8").status, 404);
    // A folder without its trailing slash redirects to the full path, prefix included.
    let r = s.get("/media/vod?x=1");
    assert_eq!(r.status, 307);
    assert_eq!(r.header("location"), Some("/media/vod/?x=1"));
    // Traversal out of a served folder must not work.
    assert_eq!(s.get("/media/../demo/static/index.html").status, 404);
}

#[test]
fn embed_page_has_its_security_policy() {
    let s = start(false);
    let r = s.get("/embed/");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "<!doctype html><title>Embed</title>");
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert_eq!(r.header("content-security-policy"), Some(EMBED_CSP));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert!(EMBED_CSP.contains("'wasm-unsafe-eval'") && !EMBED_CSP.contains("unsafe-inline"));
    // The demo's own pages keep no such policy.
    assert_eq!(s.get("/").header("content-security-policy"), None);
}

#[test]
fn peertube_style_embed_urls_redirect_to_the_embed() {
    let s = start(false);
    let r = s.get("/videos/embed/vod?api=1&src=http://elsewhere/x.m3u8&title=a%20b");
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("location"),
        Some(
            "/embed/?src=/media/vod/master.m3u8&integrity=/media/vod/segments-sha256.json\
             &api=1&title=a%20b"
        )
    );
    assert_eq!(r.header("content-security-policy"), Some(EMBED_CSP));
    // No integrity file, no integrity parameter; no query, nothing appended.
    let r = s.get("/videos/embed/plain");
    assert_eq!(
        r.header("location"),
        Some("/embed/?src=/media/plain/master.m3u8")
    );
    for missing in [
        "/videos/embed/none",
        "/videos/embed/a.b",
        "/videos/embed/%2e%2e",
    ] {
        assert_eq!(s.get(missing).status, 404, "{missing}");
    }
}

#[test]
fn control_routes_are_404_without_test_control() {
    let s = start(false);
    let fault = format!(r#"{{"path":"{MEDIA}","status":500}}"#);
    assert_eq!(s.post("/__control/faults", &fault).status, 404);
    assert_eq!(s.get("/__control/requests").status, 404);
    assert_eq!(s.post("/__control/reset", "").status, 404);
    let throttle = r#"{"bytes_per_second":1}"#;
    assert_eq!(s.post("/__control/throttle", throttle).status, 404);
    assert_eq!(s.get("/__control/throttle").status, 404);
    assert_eq!(s.get("/__control").status, 404);
    // And no fault was installed.
    assert_eq!(s.get(MEDIA).status, 200);
}

#[test]
fn mirrors_serve_the_media_tree_each_as_it_behaves_and_are_logged() {
    let s = start(true);
    let all = media_bytes();
    let ok = s.get_range("/mirrors/ok/vod/480p.mp4", "bytes=10-19");
    assert_eq!(ok.status, 206);
    assert_eq!(ok.header("content-range"), Some("bytes 10-19/1000"));
    assert_eq!(ok.header("content-type"), Some("video/mp4"));
    assert_eq!(ok.body, &all[10..=19]);

    let error = s.get_range("/mirrors/error/vod/480p.mp4", "bytes=10-19");
    assert_eq!(error.status, 500);
    assert!(error.body.is_empty());

    let corrupt = s.get_range("/mirrors/corrupt/vod/480p.mp4", "bytes=10-19");
    assert_eq!(corrupt.status, 206);
    assert_eq!(corrupt.header("content-range"), Some("bytes 10-19/1000"));
    assert_eq!(corrupt.header("content-length"), Some("10"));
    let flipped: Vec<u8> = all[10..=19].iter().map(|b| !b).collect();
    assert_eq!(corrupt.body, flipped);
    let whole = s.get("/mirrors/corrupt/vod/480p.mp4");
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body.len(), all.len());
    assert!(whole
        .body
        .iter()
        .zip(&all)
        .all(|(got, right)| *got == !right));

    assert_eq!(s.get("/mirrors/ok/vod/missing.mp4").status, 404);
    assert_eq!(s.get("/mirrors/other/vod/480p.mp4").status, 404);
    assert_eq!(
        s.get("/__control/requests").json(),
        serde_json::json!([
            {"path": "/mirrors/ok/vod/480p.mp4", "range": "bytes=10-19", "status": 206},
            {"path": "/mirrors/error/vod/480p.mp4", "range": "bytes=10-19", "status": 500},
            {"path": "/mirrors/corrupt/vod/480p.mp4", "range": "bytes=10-19", "status": 206},
            {"path": "/mirrors/corrupt/vod/480p.mp4", "range": null, "status": 200},
            {"path": "/mirrors/ok/vod/missing.mp4", "range": null, "status": 404},
            {"path": "/mirrors/other/vod/480p.mp4", "range": null, "status": 404},
        ])
    );
}

#[test]
fn mirrors_exist_only_with_test_control() {
    let s = start(false);
    for mirror in ["ok", "error", "corrupt"] {
        let r = s.get(&format!("/mirrors/{mirror}/vod/480p.mp4"));
        assert_eq!(r.status, 404, "{mirror}");
    }
}

#[test]
fn fault_count_is_honoured_then_service_resumes() {
    let s = start(true);
    let r = s.post(
        "/__control/faults",
        &format!(r#"{{"path":"{MEDIA}","status":500,"count":2}}"#),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    for _ in 0..2 {
        let r = s.request("GET", MEDIA, &[("Origin", "http://example.test")], None);
        assert_eq!(r.status, 500);
        assert!(r.body.is_empty());
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    }
    let r = s.get(MEDIA);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, media_bytes());
}

#[test]
fn fault_matches_range_start_only() {
    let s = start(true);
    let r = s.post(
        "/__control/faults",
        &format!(r#"{{"path":"{MEDIA}","range_start":100,"status":503,"count":1}}"#),
    );
    assert_eq!(r.status, 200);
    // Another path, a different start, a suffix range and no range at all are unaffected.
    assert_eq!(s.get_range("/media/vod/720p.mp4", "bytes=100-").status, 206);
    assert_eq!(s.get_range(MEDIA, "bytes=0-99").status, 206);
    assert_eq!(s.get_range(MEDIA, "bytes=-100").status, 206);
    assert_eq!(s.get(MEDIA).status, 200);
    assert_eq!(s.get_range(MEDIA, "bytes=100-199").status, 503);
    let r = s.get_range(MEDIA, "bytes=100-199");
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &media_bytes()[100..200]);
}

#[test]
fn several_faults_at_once() {
    let s = start(true);
    for body in [
        format!(r#"{{"path":"{MEDIA}","range_start":0,"status":404}}"#),
        format!(r#"{{"path":"{MEDIA}","range_start":500,"status":502,"count":2}}"#),
        r#"{"path":"/media/vod/480p.m3u8","status":500}"#.to_string(),
    ] {
        assert_eq!(s.post("/__control/faults", &body).status, 200);
    }
    assert_eq!(
        s.get("/__control/faults").json().as_array().unwrap().len(),
        3
    );
    assert_eq!(s.get_range(MEDIA, "bytes=500-599").status, 502);
    assert_eq!(s.get_range(MEDIA, "bytes=0-9").status, 404);
    assert_eq!(s.get("/media/vod/480p.m3u8").status, 500);
    assert_eq!(s.get_range(MEDIA, "bytes=500-599").status, 502);
    assert_eq!(s.get_range(MEDIA, "bytes=500-599").status, 206);
    assert_eq!(s.get_range(MEDIA, "bytes=0-9").status, 206);
    assert_eq!(s.get("/media/vod/480p.m3u8").status, 200);
    assert!(s
        .get("/__control/faults")
        .json()
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn bad_fault_requests_are_400() {
    let s = start(true);
    for body in [
        "not json",
        r#"{"status":500}"#,
        r#"{"path":"/x","status":42}"#,
        r#"{"path":"/x","status":500,"count":0}"#,
        r#"{"path":"/x","status":500,"typo":1}"#,
        r#"{"path":"/x"}"#,
        r#"{"path":"/x","status":500,"corrupt_bytes":4}"#,
        r#"{"path":"/x","drop_after_bytes":-1}"#,
    ] {
        assert_eq!(s.post("/__control/faults", body).status, 400, "{body}");
    }
    // JSON without a Content-Type header is accepted.
    let r = s.request(
        "POST",
        "/__control/faults",
        &[],
        Some(r#"{"path":"/x","status":500}"#),
    );
    assert_eq!(r.status, 200);
}

#[test]
fn drop_after_bytes_sends_the_real_head_then_cuts_the_body_count_times() {
    let s = start(true);
    let r = s.post(
        "/__control/faults",
        &format!(r#"{{"path":"{MEDIA}","range_start":100,"drop_after_bytes":250,"count":2}}"#),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // Other ranges are untouched.
    assert_eq!(
        s.get_range(MEDIA, "bytes=0-599").body,
        &media_bytes()[..600]
    );
    for _ in 0..2 {
        let r = s.get_range(MEDIA, "bytes=100-899");
        // The head promises the whole range; the connection closes after 250 of its bytes.
        assert_eq!(r.status, 206);
        assert_eq!(r.header("content-length"), Some("800"));
        assert_eq!(r.header("content-range"), Some("bytes 100-899/1000"));
        assert_eq!(r.body, &media_bytes()[100..350]);
    }
    // Used up: the third request gets everything.
    let r = s.get_range(MEDIA, "bytes=100-899");
    assert_eq!(r.body, &media_bytes()[100..900]);
    let log = s.get("/__control/requests").json();
    let faults: Vec<_> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry.get("fault").cloned())
        .collect();
    let dropped = Some(serde_json::json!("drop_after_bytes"));
    assert_eq!(faults, [None, dropped.clone(), dropped, None]);
}

#[test]
fn corrupt_bytes_zeroes_the_start_of_a_full_length_body() {
    let s = start(true);
    let r = s.post(
        "/__control/faults",
        &format!(r#"{{"path":"{MEDIA}","corrupt_bytes":16}}"#),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s.get_range(MEDIA, "bytes=500-999");
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-length"), Some("500"));
    let mut expected = media_bytes()[500..].to_vec();
    expected[..16].fill(0);
    assert_eq!(r.body, expected);
    assert_eq!(
        s.get_range(MEDIA, "bytes=500-999").body,
        &media_bytes()[500..]
    );
}

#[test]
fn request_log_records_in_order_and_reset_clears_it() {
    let s = start(true);
    assert_eq!(s.get(MEDIA).status, 200);
    assert_eq!(s.get_range(MEDIA, "bytes=0-9").status, 206);
    assert_eq!(s.get("/missing.txt").status, 404);
    assert_eq!(
        s.post(
            "/__control/faults",
            r#"{"path":"/pkg/shoal.js","status":500}"#
        )
        .status,
        200
    );
    assert_eq!(s.get("/pkg/shoal.js?v=1").status, 500);

    let log = s.get("/__control/requests");
    assert_eq!(log.status, 200);
    assert!(log
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(
        log.json(),
        serde_json::json!([
            {"path": MEDIA, "range": null, "status": 200},
            {"path": MEDIA, "range": "bytes=0-9", "status": 206},
            {"path": "/missing.txt", "range": null, "status": 404},
            {"path": "/pkg/shoal.js", "range": null, "status": 500, "fault": "status"},
        ])
    );

    // Reset clears the log and the faults; control requests are never logged themselves.
    s.post(
        "/__control/faults",
        &format!(r#"{{"path":"{MEDIA}","status":500,"count":5}}"#),
    );
    let r = s.post("/__control/reset", "");
    assert_eq!(r.status, 200);
    assert_eq!(s.get("/__control/requests").json(), serde_json::json!([]));
    assert_eq!(s.get(MEDIA).status, 200);
    assert_eq!(
        s.get("/__control/requests").json(),
        serde_json::json!([{"path": MEDIA, "range": null, "status": 200}])
    );
}

#[test]
fn throttle_slows_range_responses_keeps_them_exact_and_reset_clears_it() {
    const BIG: &str = "/media/vod/big.mp4";
    const RANGE: &str = "bytes=50000-249999";
    let s = start(true);
    let expected = &big_bytes()[50_000..250_000];
    let timed = |path: &str| {
        let started = Instant::now();
        let r = s.get_range(path, RANGE);
        (r, started.elapsed())
    };
    // Timing bounds are deliberately loose: a 200 KB loopback response takes milliseconds, a
    // throttled one 2 s; only "at least 1.5 s" and "under 1.5 s" are asserted.
    let slow = Duration::from_millis(1500);
    let check = |r: &Response| {
        assert_eq!(r.status, 206);
        assert_eq!(r.header("content-range"), Some("bytes 50000-249999/300000"));
        assert_eq!(r.header("content-length"), Some("200000"));
        assert_eq!(r.header("transfer-encoding"), None);
        assert!(r.body == expected, "body differs");
    };

    let (r, took) = timed(BIG);
    check(&r);
    assert!(took < slow, "unthrottled took {took:?}");
    assert_eq!(
        s.get("/__control/throttle").json(),
        serde_json::json!({"bytes_per_second": null, "path_prefix": null})
    );

    let r = s.post("/__control/throttle", r#"{"bytes_per_second":100000}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    let setting = serde_json::json!({"bytes_per_second": 100000, "path_prefix": "/media/"});
    assert_eq!(r.json(), setting);
    assert_eq!(s.get("/__control/throttle").json(), setting);
    let (r, took) = timed(BIG);
    check(&r);
    assert!(took >= slow, "throttled took only {took:?}");
    // Both media requests are logged (control requests never are).
    assert_eq!(
        s.get("/__control/requests")
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Another prefix leaves this path alone.
    let r = s.post(
        "/__control/throttle",
        r#"{"bytes_per_second":1000,"path_prefix":"/media/live/"}"#,
    );
    assert_eq!(r.status, 200);
    let (r, took) = timed(BIG);
    check(&r);
    assert!(took < slow, "other prefix took {took:?}");

    // Reset clears it, and so does null.
    s.post("/__control/throttle", r#"{"bytes_per_second":100000}"#);
    assert_eq!(s.post("/__control/reset", "").status, 200);
    assert_eq!(
        s.get("/__control/throttle").json()["bytes_per_second"],
        serde_json::Value::Null
    );
    let (r, took) = timed(BIG);
    check(&r);
    assert!(took < slow, "after reset took {took:?}");
    s.post("/__control/throttle", r#"{"bytes_per_second":100000}"#);
    let r = s.post("/__control/throttle", r#"{"bytes_per_second":null}"#);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["bytes_per_second"], serde_json::Value::Null);
    let (r, took) = timed(BIG);
    check(&r);
    assert!(took < slow, "after null took {took:?}");

    for bad in [
        "nope",
        r#"{"bytes_per_second":0}"#,
        r#"{"bytes_per_second":-1}"#,
        r#"{"bytes_per_second":1,"path_prefix":"media"}"#,
        r#"{"bytes_per_second":1,"typo":1}"#,
    ] {
        assert_eq!(s.post("/__control/throttle", bad).status, 400, "{bad}");
    }
}
