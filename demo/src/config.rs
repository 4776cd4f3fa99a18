//! Server configuration and the hand-written command-line parser for `shoal-demo`.
//!
//! Hand-parsed because the surface is a dozen flags: a parser crate would cost more build time
//! than it saves.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::tracker::{TrackerConfig, TRACKER_PATH};

/// Repository root as seen at compile time (`demo/`'s parent), the default for `--root`.
pub fn default_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// A directory served under a URL prefix, e.g. `/fixtures` -> `tests/fixtures/http`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Normalized: starts with `/`, no trailing `/`, never just `/`.
    pub prefix: String,
    pub dir: PathBuf,
}

impl Mount {
    /// Parses `/prefix=DIR`; a relative DIR is resolved against `base` (the root).
    pub fn parse(spec: &str, base: &Path) -> Result<Self, String> {
        let (prefix, dir) = spec
            .split_once('=')
            .ok_or_else(|| format!("--mount expects /prefix=DIR, got {spec:?}"))?;
        let prefix = normalize_prefix(prefix)?;
        if dir.is_empty() {
            return Err(format!("--mount {spec:?}: empty directory"));
        }
        Ok(Self {
            prefix,
            dir: base.join(dir),
        })
    }
}

/// Prefixes the server routes itself and that a mount must not shadow.
pub const RESERVED_PREFIXES: [&str; 7] = [
    "/pkg",
    "/media",
    "/embed",
    "/videos",
    "/__control",
    crate::control::MIRRORS_PREFIX,
    TRACKER_PATH,
];

fn normalize_prefix(prefix: &str) -> Result<String, String> {
    let trimmed = prefix.trim_end_matches('/');
    if !trimmed.starts_with('/') || trimmed.len() < 2 {
        return Err(format!("mount prefix must look like /name, got {prefix:?}"));
    }
    if trimmed.contains(['{', '}', '*', '?', '#']) || trimmed.contains("//") {
        return Err(format!(
            "mount prefix {prefix:?} has characters routing can't take"
        ));
    }
    Ok(trimmed.to_string())
}

/// Everything `serve` needs; build it with [`ServerConfig::new`] and adjust fields.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub host: IpAddr,
    /// 0 picks a free port; `serve` returns the bound address.
    pub port: u16,
    /// Served at `/` and for every path no other route takes.
    pub static_dir: PathBuf,
    pub media_dir: PathBuf,
    pub pkg_dir: PathBuf,
    /// The embeddable player page, served at `/embed/` with a strict Content-Security-Policy.
    pub embed_dir: PathBuf,
    pub mounts: Vec<Mount>,
    /// Enables `/__control/*` (fault injection and request log) for browser tests.
    pub test_control: bool,
    /// Logs one line per request to stderr (never client addresses).
    pub verbose: bool,
    /// The WebTorrent tracker at `/tracker`; `None` turns it off (`--no-tracker`).
    pub tracker: Option<TrackerConfig>,
}

impl ServerConfig {
    /// Defaults derived from a repository root: `demo/static`, `demo/media`, `player-wasm/pkg`,
    /// `embed`.
    pub fn new(root: &Path) -> Self {
        Self {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 8080,
            static_dir: root.join("demo").join("static"),
            media_dir: root.join("demo").join("media"),
            pkg_dir: root.join("player-wasm").join("pkg"),
            embed_dir: root.join("embed"),
            mounts: Vec::new(),
            test_control: false,
            verbose: false,
            tracker: Some(TrackerConfig::default()),
        }
    }

    /// Checks mounts for clashes with each other and with the built-in routes, which the router
    /// would otherwise reject with a panic.
    pub fn validate(&self) -> Result<(), String> {
        for (i, mount) in self.mounts.iter().enumerate() {
            if RESERVED_PREFIXES
                .iter()
                .any(|r| mount.prefix == *r || mount.prefix.starts_with(&format!("{r}/")))
            {
                return Err(format!("mount prefix {} is reserved", mount.prefix));
            }
            if self.mounts[..i].iter().any(|m| m.prefix == mount.prefix) {
                return Err(format!("mount prefix {} given twice", mount.prefix));
            }
        }
        Ok(())
    }
}

/// What the command line asked for.
#[derive(Debug, Clone)]
pub enum Command {
    Help,
    /// Boxed: the options are large next to `Help`.
    Run(Box<CliOptions>),
}

#[derive(Debug, Clone)]
pub struct CliOptions {
    pub server: ServerConfig,
    /// Skip checking/generating the sample media at start.
    pub no_generate: bool,
    /// Run the live stream (ffmpeg in real time) into `<media-dir>/live/`.
    pub live: bool,
}

pub const HELP: &str = "\
shoal-demo: local HTTP origin for the Shoal P2P HLS player demo

USAGE:
    shoal-demo [OPTIONS]

OPTIONS:
    --host ADDR          Address to bind (default 127.0.0.1; loopback only unless changed)
    --port PORT          Port to bind, 0 picks a free one (default 8080)
    --root DIR           Repository root (default: the checkout this binary was built from)
    --media-dir DIR      Media folder served at /media/ (default <root>/demo/media)
    --pkg-dir DIR        Built wasm package served at /pkg/ (default <root>/player-wasm/pkg)
    --embed-dir DIR      Embed player page served at /embed/ (default <root>/embed)
    --mount /prefix=DIR  Also serve DIR under /prefix (repeatable; relative DIR is from <root>)
    --test-control       Enable /__control/ routes (fault injection, throttling, request log)
                         for tests
    --no-generate        Do not check or generate the sample media at start
    --live               Also run a live stream: ffmpeg encodes the test pattern in real time
                         (240p and 480p, 2 s fMP4 segments, a window of 6, program date
                         times) into <media-dir>/live/, served at /media/live/master.m3u8,
                         with PeerTube's live segments-sha256.json kept up to date
    --no-tracker         Do not run the WebTorrent tracker at /tracker
    --tracker-interval-s SECONDS
                         Re-announce interval the tracker tells clients (default 120);
                         peers silent for 10 intervals are dropped
    --verbose            Log each request (method, path, range, status) and tracker swarm
                         changes (info hash, peer counts; never addresses) to stderr
    -h, --help           Print this help

ROUTES:
    /                    <root>/demo/static/ (index.html), also every unmatched path
    /pkg/                --pkg-dir
    /media/              --media-dir; sample VOD at /media/vod/master.m3u8, the same with
                         audio and video split (an #EXT-X-MEDIA audio group) at
                         /media/vod-split/master.m3u8; with --live, the live stream at
                         /media/live/master.m3u8. Playlists and JSON are sent no-cache
    /embed/              --embed-dir: the iframe player (?src=PLAYLIST&...; embed/README.md)
    /videos/embed/ID     PeerTube-style embed URL: redirects to /embed/?src=/media/ID/master.m3u8
                         (plus integrity= when /media/ID/segments-sha256.json exists)
    /__control/faults    POST {\"path\",\"range_start\"?,\"count\"?} plus one of \"status\" (answer
                         it, empty body), \"drop_after_bytes\" (close the connection after N
                         body bytes) or \"corrupt_bytes\" (zero the body's first N bytes)
                                                                         (--test-control)
    /__control/requests  GET: JSON log of requests served                (--test-control)
    /__control/throttle  POST {\"bytes_per_second\":N|null,\"path_prefix\"?}  (--test-control):
                         send every file response whose path starts with path_prefix
                         (default /media/) at most N bytes/s, each response on its own
                         (a per-response rate), responses already streaming included;
                         null removes it. GET: the current setting
    /__control/reset     POST: clear faults, the throttle and the request log (--test-control)
    /mirrors/ok/...      The media tree again, as a mirror (redundancy server) serves it
                         (--test-control); /mirrors/error/... answers 500 to everything,
                         /mirrors/corrupt/... answers like ok with every byte flipped
    /tracker             WebTorrent WebSocket tracker, ws://HOST:PORT/tracker (unless --no-tracker)

On start (unless --no-generate) the sample media is generated with ffmpeg into
<media-dir>/vod/ and <media-dir>/vod-split/ if missing or outdated; later starts reuse it.
The first line on stdout is `Shoal demo running at http://HOST:PORT/`; with the tracker on,
the second is `Shoal tracker at ws://HOST:PORT/tracker`. With --live, once every rendition
has a segment (a few seconds after start), the next is
`Shoal live stream at http://HOST:PORT/media/live/master.m3u8`. ffmpeg is stopped and
<media-dir>/live/ removed when the server stops.
";

/// Parses arguments (without the program name).
pub fn parse_args<I, S>(args: I) -> Result<Command, String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut host: Option<IpAddr> = None;
    let mut port: Option<u16> = None;
    let mut root: Option<PathBuf> = None;
    let mut media_dir: Option<PathBuf> = None;
    let mut pkg_dir: Option<PathBuf> = None;
    let mut embed_dir: Option<PathBuf> = None;
    let mut mount_specs: Vec<String> = Vec::new();
    let mut test_control = false;
    let mut no_generate = false;
    let mut live = false;
    let mut verbose = false;
    let mut no_tracker = false;
    let mut tracker_interval: Option<Duration> = None;

    let mut args = args.into_iter().map(Into::into);
    while let Some(arg) = args.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--host" => {
                let v = value("--host")?;
                host = Some(
                    v.parse()
                        .map_err(|_| format!("--host: bad address {v:?}"))?,
                );
            }
            "--port" => {
                let v = value("--port")?;
                port = Some(v.parse().map_err(|_| format!("--port: bad port {v:?}"))?);
            }
            "--root" => root = Some(PathBuf::from(value("--root")?)),
            "--media-dir" => media_dir = Some(PathBuf::from(value("--media-dir")?)),
            "--pkg-dir" => pkg_dir = Some(PathBuf::from(value("--pkg-dir")?)),
            "--embed-dir" => embed_dir = Some(PathBuf::from(value("--embed-dir")?)),
            "--mount" => mount_specs.push(value("--mount")?),
            "--tracker-interval-s" => {
                let v = value("--tracker-interval-s")?;
                let seconds: u64 = v
                    .parse()
                    .ok()
                    // Clients turn it into milliseconds; keep that far from overflowing.
                    .filter(|s| (1..=86_400).contains(s))
                    .ok_or_else(|| {
                        format!("--tracker-interval-s: expected 1..=86400 seconds, got {v:?}")
                    })?;
                tracker_interval = Some(Duration::from_secs(seconds));
            }
            "--test-control" | "--no-generate" | "--verbose" | "--no-tracker" | "--live"
                if inline.is_some() =>
            {
                return Err(format!("{flag} takes no value"))
            }
            "--no-tracker" => no_tracker = true,
            "--test-control" => test_control = true,
            "--no-generate" => no_generate = true,
            "--live" => live = true,
            "--verbose" => verbose = true,
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }

    let root = root.unwrap_or_else(default_root);
    let mut server = ServerConfig::new(&root);
    if let Some(host) = host {
        server.host = host;
    }
    if let Some(port) = port {
        server.port = port;
    }
    if let Some(dir) = media_dir {
        server.media_dir = dir;
    }
    if let Some(dir) = pkg_dir {
        server.pkg_dir = dir;
    }
    if let Some(dir) = embed_dir {
        server.embed_dir = dir;
    }
    server.mounts = mount_specs
        .iter()
        .map(|spec| Mount::parse(spec, &root))
        .collect::<Result<_, _>>()?;
    server.test_control = test_control;
    server.verbose = verbose;
    server.tracker = match (no_tracker, tracker_interval) {
        (true, Some(_)) => {
            return Err("--tracker-interval-s has no effect with --no-tracker".into());
        }
        (true, None) => None,
        (false, None) => Some(TrackerConfig::default()),
        (false, Some(interval)) => Some(TrackerConfig::with_interval(interval)),
    };
    server.validate()?;
    Ok(Command::Run(Box::new(CliOptions {
        server,
        no_generate,
        live,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> CliOptions {
        match parse_args(args.iter().copied()).unwrap() {
            Command::Run(o) => *o,
            Command::Help => panic!("unexpected help"),
        }
    }

    #[test]
    fn defaults_follow_root() {
        let o = run(&["--root", "/r"]);
        assert_eq!(o.server.host, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(o.server.port, 8080);
        assert_eq!(o.server.static_dir, Path::new("/r/demo/static"));
        assert_eq!(o.server.media_dir, Path::new("/r/demo/media"));
        assert_eq!(o.server.pkg_dir, Path::new("/r/player-wasm/pkg"));
        assert_eq!(o.server.embed_dir, Path::new("/r/embed"));
        assert!(!o.server.test_control && !o.no_generate && !o.server.verbose);
        assert!(!o.live, "live mode only when asked: it starts ffmpeg");
        assert_eq!(o.server.tracker, Some(TrackerConfig::default()));
    }

    #[test]
    fn live_flag() {
        assert!(run(&["--live"]).live);
        let o = run(&["--live", "--no-generate", "--media-dir", "/m"]);
        assert!(o.live && o.no_generate);
        assert_eq!(o.server.media_dir, Path::new("/m"));
        for bad in [
            &["--live=1"][..],
            &["--live=yes"],
            &["--mount", "/x=y", "--live=0"],
        ] {
            assert!(parse_args(bad.iter().copied()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tracker_flags() {
        let o = run(&["--tracker-interval-s", "30"]);
        let tracker = o.server.tracker.unwrap();
        assert_eq!(tracker.interval, Duration::from_secs(30));
        assert_eq!(tracker.peer_timeout, Duration::from_secs(300));
        assert_eq!(run(&["--no-tracker"]).server.tracker, None);
        for bad in [
            &["--tracker-interval-s", "0"][..],
            &["--tracker-interval-s", "x"],
            &["--tracker-interval-s=86401"],
            &["--no-tracker", "--tracker-interval-s", "5"],
            &["--no-tracker=1"],
            &["--mount", "/tracker=dir"],
        ] {
            assert!(parse_args(bad.iter().copied()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn default_root_is_the_workspace() {
        assert!(default_root().join("demo").join("Cargo.toml").is_file());
    }

    #[test]
    fn all_flags() {
        let o = run(&[
            "--host=0.0.0.0",
            "--port",
            "0",
            "--root",
            "/r",
            "--media-dir",
            "/m",
            "--pkg-dir=/p",
            "--embed-dir",
            "/e",
            "--mount",
            "/fixtures/=tests/fixtures/http",
            "--mount=/abs=/x",
            "--test-control",
            "--no-generate",
            "--verbose",
        ]);
        assert_eq!(o.server.host, IpAddr::from([0, 0, 0, 0]));
        assert_eq!(o.server.port, 0);
        assert_eq!(o.server.media_dir, Path::new("/m"));
        assert_eq!(o.server.pkg_dir, Path::new("/p"));
        assert_eq!(o.server.embed_dir, Path::new("/e"));
        assert_eq!(
            o.server.mounts,
            vec![
                Mount {
                    prefix: "/fixtures".into(),
                    dir: "/r/tests/fixtures/http".into()
                },
                Mount {
                    prefix: "/abs".into(),
                    dir: "/x".into()
                },
            ]
        );
        assert!(o.server.test_control && o.no_generate && o.server.verbose);
    }

    #[test]
    fn help_and_errors() {
        assert!(matches!(parse_args(["--help"]), Ok(Command::Help)));
        assert!(matches!(parse_args(["-h"]), Ok(Command::Help)));
        for bad in [
            &["--port"][..],
            &["--port", "x"],
            &["--port", "70000"],
            &["--host", "nope"],
            &["--bogus"],
            &["--mount", "fixtures=dir"],
            &["--mount", "/=dir"],
            &["--mount", "/media=dir"],
            &["--mount", "/__control/x=dir"],
            &["--mount", "/embed=dir"],
            &["--mount", "/videos/embed=dir"],
            &["--mount", "/a=x", "--mount", "/a/=y"],
            &["--mount", "/a="],
            &["--verbose=1"],
        ] {
            assert!(parse_args(bad.iter().copied()).is_err(), "{bad:?}");
        }
    }
}
