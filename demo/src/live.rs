//! Live mode (`--live`): ffmpeg encodes the test pattern in real time into a live HLS stream in
//! `<media-dir>/live/`, which the origin serves at `/media/live/` like any other media, and a
//! watcher keeps PeerTube's live integrity file `segments-sha256.json` in step with it.
//!
//! Layout of `<media-dir>/live/` while running (names made by ffmpeg):
//! - `master.m3u8`: written by ffmpeg (`-master_pl_name`), one variant per rendition with
//!   BANDWIDTH, RESOLUTION and CODECS;
//! - `<name>.m3u8`: media playlists, a rolling window of [`LiveOptions::list_size`] segments of
//!   [`LiveOptions::segment_seconds`] s with `#EXT-X-PROGRAM-DATE-TIME`, no `#EXT-X-ENDLIST`;
//! - `init-<name>.mp4` and `<name>-<sequence>.m4s`: fMP4 init and media segments; segment names
//!   are unique across renditions, as the flat integrity file needs. Segments that leave the
//!   window are deleted by ffmpeg a little later (`delete_segments`);
//! - `segments-sha256.json`: `{"<segment file name>": "<sha256 hex>"}` for every segment that a
//!   media playlist has listed and that still exists, rewritten atomically (temporary file,
//!   then rename) whenever that set changes. The folder is polled every [`SCAN_INTERVAL`], so
//!   the file can trail a playlist by that long; PeerTube's own live integrity file trails its
//!   playlists too, and its player refetches the file when a segment is not listed yet.
//!
//! The folder is emptied when live mode starts and removed when it stops, so a stale live
//! playlist is never served as if it were running.
//!
//! ffmpeg never outlives the server: [`LiveStream::stop`] (called on SIGTERM and Ctrl-C) kills
//! it, the child is spawned with `kill_on_drop`, and on Linux it is started through util-linux's
//! `setpriv --pdeathsig KILL` so that the kernel kills it even when the server itself is killed
//! with SIGKILL (when `setpriv` is missing, that last guard is skipped).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::generate::{
    audio_encoder_args, base_ffmpeg_args, source_args, usable_font, video_encoder_args, Rendition,
    DEFAULT_FONT, VOD_RENDITIONS,
};
use crate::integrity::{live_integrity_json, segment_file_name, sha256_file};
use crate::playlist::parse_media_playlist;

/// Folder under the media directory, and URL path under `/media/`.
pub const LIVE_FOLDER: &str = "live";

/// The master playlist ffmpeg writes.
pub const LIVE_MASTER: &str = "master.m3u8";

/// The integrity file the watcher writes.
pub const INTEGRITY_FILE: &str = "segments-sha256.json";

/// How often the watcher looks for new and deleted segments.
pub const SCAN_INTERVAL: Duration = Duration::from_millis(200);

/// What to encode and where.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// The stream goes to `<media_dir>/live/`.
    pub media_dir: PathBuf,
    pub ffmpeg: PathBuf,
    /// `None` (or a missing file) falls back to lavfi `testsrc`, which draws its own counter.
    pub font: Option<PathBuf>,
    /// Each muxed (video + audio); names become file names.
    pub renditions: Vec<Rendition>,
    pub segment_seconds: u32,
    /// Segments in each media playlist's window.
    pub list_size: u32,
}

impl LiveOptions {
    /// Two renditions (240p and 480p, as in the VOD sample), 2 s segments, a window of 6.
    pub fn new(media_dir: impl Into<PathBuf>) -> Self {
        Self {
            media_dir: media_dir.into(),
            ffmpeg: PathBuf::from("ffmpeg"),
            font: Some(PathBuf::from(DEFAULT_FONT)),
            renditions: VOD_RENDITIONS[..2].to_vec(),
            segment_seconds: 2,
            list_size: 6,
        }
    }

    pub fn live_dir(&self) -> PathBuf {
        self.media_dir.join(LIVE_FOLDER)
    }
}

/// The ffmpeg command line (without the program): the VOD sample's sources and timestamp
/// drawing, read in real time (`-re`) and without end, encoded per rendition with keyframes on
/// the segment grid, into one HLS muxer that writes every media playlist and the master.
pub fn ffmpeg_args(opts: &LiveOptions) -> Vec<String> {
    let videos: Vec<&Rendition> = opts.renditions.iter().collect();
    let mut args = base_ffmpeg_args(false);
    args.extend(source_args(
        usable_font(opts.font.as_deref()),
        &videos,
        opts.renditions.len(),
        None,
        true,
    ));
    let mut stream_map = Vec::new();
    for (i, r) in opts.renditions.iter().enumerate() {
        args.extend([
            "-map".into(),
            format!("[v{i}]"),
            "-map".into(),
            format!("[a{i}]"),
        ]);
        args.extend(video_encoder_args(
            r,
            &format!("v:{i}"),
            opts.segment_seconds,
        ));
        args.extend(audio_encoder_args(r, &format!("a:{i}")));
        stream_map.push(format!("v:{i},a:{i},name:{}", r.name));
    }
    args.extend(
        [
            "-f",
            "hls",
            "-hls_time",
            &opts.segment_seconds.to_string(),
            "-hls_list_size",
            &opts.list_size.to_string(),
            // temp_file: segments and playlists appear under their names only once complete.
            "-hls_flags",
            "delete_segments+independent_segments+program_date_time+temp_file",
            "-hls_segment_type",
            "fmp4",
            "-hls_fmp4_init_filename",
            "init-%v.mp4",
            "-hls_segment_filename",
            "%v-%05d.m4s",
            "-master_pl_name",
            LIVE_MASTER,
            "-var_stream_map",
            &stream_map.join(" "),
            "%v.m3u8",
        ]
        .map(String::from),
    );
    args
}

/// What one [`LiveIntegrity::scan`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanReport {
    /// The integrity file was (re)written.
    pub written: bool,
    /// The master playlist exists and every media playlist it names exists and lists at least
    /// one segment, all of them hashed: a player can start now.
    pub ready: bool,
}

/// Keeps `segments-sha256.json` in a live folder in step with the segments.
///
/// A segment is hashed once a media playlist lists it (ffmpeg lists a segment only after it is
/// complete), and dropped once its file is gone. Driven by [`LiveIntegrity::scan`], so tests
/// can feed it files and call it by hand.
#[derive(Debug)]
pub struct LiveIntegrity {
    dir: PathBuf,
    hashes: BTreeMap<String, String>,
    written: bool,
}

impl LiveIntegrity {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            hashes: BTreeMap::new(),
            written: false,
        }
    }

    /// Segment name -> SHA-256 hex, as last written.
    pub fn hashes(&self) -> &BTreeMap<String, String> {
        &self.hashes
    }

    /// One pass: hashes newly listed segments, forgets deleted ones, and rewrites the file if
    /// that changed anything (or it was never written).
    pub fn scan(&mut self) -> io::Result<ScanReport> {
        let mut changed = false;
        let mut playlists: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for entry in fs::read_dir(&self.dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".m3u8") || name == LIVE_MASTER {
                continue;
            }
            // Playlists are replaced by rename, so a read sees a whole one; a playlist that
            // vanished or does not parse is skipped until the next pass.
            let Ok(text) = fs::read_to_string(self.dir.join(&name)) else {
                continue;
            };
            let Ok(playlist) = parse_media_playlist(&text) else {
                continue;
            };
            let segments: Vec<String> = playlist
                .segments
                .iter()
                .map(|s| segment_file_name(&s.uri).to_string())
                .collect();
            for segment in &segments {
                if self.hashes.contains_key(segment) || !is_plain_file_name(segment) {
                    continue;
                }
                match sha256_file(&self.dir.join(segment)) {
                    Ok(hash) => {
                        self.hashes.insert(segment.clone(), hash);
                        changed = true;
                    }
                    // Listed but already deleted: nothing to vouch for.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            playlists.insert(name, segments);
        }
        let before = self.hashes.len();
        let dir = &self.dir;
        self.hashes.retain(|segment, _| dir.join(segment).is_file());
        changed |= self.hashes.len() != before;

        let written = changed || !self.written;
        if written {
            self.write()?;
        }
        Ok(ScanReport {
            written,
            ready: self.is_ready(&playlists),
        })
    }

    fn write(&mut self) -> io::Result<()> {
        let target = self.dir.join(INTEGRITY_FILE);
        let temporary = self.dir.join(format!(".{INTEGRITY_FILE}.tmp"));
        fs::write(&temporary, live_integrity_json(&self.hashes))?;
        fs::rename(&temporary, &target)?;
        self.written = true;
        Ok(())
    }

    fn is_ready(&self, playlists: &BTreeMap<String, Vec<String>>) -> bool {
        let Ok(master) = fs::read_to_string(self.dir.join(LIVE_MASTER)) else {
            return false;
        };
        let mut variants = master
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .peekable();
        variants.peek().is_some()
            && variants.all(|uri| {
                playlists
                    .get(segment_file_name(uri))
                    .is_some_and(|segments| {
                        !segments.is_empty() && segments.iter().all(|s| self.hashes.contains_key(s))
                    })
            })
    }
}

/// `program` itself if it is a path, else its first match on `PATH`.
fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// A segment URI that names a file in the live folder itself.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\'])
}

/// Empties (or creates) the live folder.
fn fresh_dir(dir: &Path) -> io::Result<()> {
    match fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    fs::create_dir_all(dir)
}

/// A running live encoder and its integrity watcher. Stop it with [`LiveStream::stop`]; if it is
/// dropped instead, its task kills ffmpeg (and ffmpeg is killed with the runtime in any case:
/// the child is spawned with `kill_on_drop`).
#[derive(Debug)]
pub struct LiveStream {
    dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    ready: watch::Receiver<Readiness>,
    task: JoinHandle<()>,
}

/// Whether the stream can be played yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    Starting,
    Ready,
    /// ffmpeg exited before the stream was ready.
    Failed,
}

impl LiveStream {
    /// Empties `<media_dir>/live/`, starts ffmpeg there and the watcher. Must be called inside a
    /// tokio runtime, from a thread that lives as long as the stream (the parent-death signal
    /// follows the thread that spawned the child: in `shoal-demo` that is the main thread).
    /// Fails if ffmpeg cannot be found or started.
    pub fn start(opts: &LiveOptions) -> io::Result<Self> {
        let ffmpeg = find_program(&opts.ffmpeg).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "cannot find {} for --live. Install ffmpeg (Debian: apt-get install \
                     ffmpeg fonts-dejavu-core)",
                    opts.ffmpeg.display()
                ),
            )
        })?;
        let dir = opts.live_dir();
        fresh_dir(&dir)?;
        let mut command = match find_program(Path::new("setpriv")) {
            Some(setpriv) if cfg!(target_os = "linux") => {
                let mut command = Command::new(setpriv);
                command.args(["--pdeathsig", "KILL", "--"]).arg(&ffmpeg);
                command
            }
            _ => Command::new(&ffmpeg),
        };
        command
            .args(ffmpeg_args(opts))
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        // Its own process group: Ctrl-C in a terminal reaches the server only, which then
        // stops ffmpeg itself.
        #[cfg(unix)]
        command.process_group(0);
        let child = command.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot run {} for --live: {e}", ffmpeg.display()),
            )
        })?;
        let (stop_tx, stop_rx) = oneshot::channel();
        let (ready_tx, ready_rx) = watch::channel(Readiness::Starting);
        let task = tokio::spawn(supervise(
            child,
            LiveIntegrity::new(&dir),
            stop_rx,
            ready_tx,
        ));
        Ok(Self {
            dir,
            stop: Some(stop_tx),
            ready: ready_rx,
            task,
        })
    }

    /// A receiver of the stream's readiness, e.g. to announce it from another task.
    pub fn readiness(&self) -> watch::Receiver<Readiness> {
        self.ready.clone()
    }

    /// Kills ffmpeg, waits for it to exit, stops the watcher and removes the live folder.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Waits until the stream is ready (true) or failed to start (false).
pub async fn wait_ready(mut readiness: watch::Receiver<Readiness>) -> bool {
    match readiness
        .wait_for(|r| *r != Readiness::Starting)
        .await
        .map(|r| *r)
    {
        Ok(Readiness::Ready) => true,
        Ok(_) | Err(_) => false,
    }
}

/// Owns ffmpeg: scans the folder on every tick until ffmpeg exits or a stop is asked (or the
/// stop sender is dropped), then makes sure ffmpeg is dead and reaped.
async fn supervise(
    mut child: Child,
    mut integrity: LiveIntegrity,
    mut stop: oneshot::Receiver<()>,
    ready: watch::Sender<Readiness>,
) {
    let mut tick = tokio::time::interval(SCAN_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut scan_failed = false;
    loop {
        tokio::select! {
            status = child.wait() => {
                match status {
                    Ok(status) => eprintln!("shoal-demo: live ffmpeg exited ({status})"),
                    Err(e) => eprintln!("shoal-demo: live ffmpeg: {e}"),
                }
                ready.send_if_modified(|r| {
                    let starting = *r == Readiness::Starting;
                    if starting {
                        *r = Readiness::Failed;
                    }
                    starting
                });
                return;
            }
            _ = &mut stop => {
                if let Err(e) = child.kill().await {
                    eprintln!("shoal-demo: cannot stop live ffmpeg: {e}");
                }
                return;
            }
            _ = tick.tick() => {
                // Hashing reads files: off the async workers.
                let outcome = tokio::task::spawn_blocking(move || {
                    let report = integrity.scan();
                    (integrity, report)
                })
                .await;
                let Ok((returned, report)) = outcome else {
                    eprintln!("shoal-demo: live integrity watcher panicked");
                    let _ = child.kill().await;
                    return;
                };
                integrity = returned;
                match report {
                    Ok(report) => {
                        scan_failed = false;
                        if report.ready {
                            ready.send_if_modified(|r| {
                                let starting = *r == Readiness::Starting;
                                if starting {
                                    *r = Readiness::Ready;
                                }
                                starting
                            });
                        }
                    }
                    // Reported once per run of failures, not on every tick.
                    Err(e) if !scan_failed => {
                        scan_failed = true;
                        eprintln!("shoal-demo: live integrity watcher: {e}");
                    }
                    Err(_) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn sha256_hex(bytes: &[u8]) -> String {
        format!("{:x}", Sha256::digest(bytes))
    }

    #[test]
    fn ffmpeg_args_make_a_realtime_rolling_fmp4_stream_with_a_master() {
        let mut opts = LiveOptions::new("/m");
        opts.font = None;
        assert_eq!(opts.live_dir(), Path::new("/m/live"));
        let args = ffmpeg_args(&opts);
        let text = args.join(" ");
        // Both sources in real time and endless; no progress pipe nobody would read.
        assert_eq!(args.iter().filter(|a| *a == "-re").count(), 2, "{text}");
        assert!(
            !text.contains("duration=") && !text.contains("-progress"),
            "{text}"
        );
        assert!(
            text.contains("-f lavfi -i testsrc=size=854x480:rate=30 "),
            "{text}"
        );
        for expected in [
            "-hls_time 2 ",
            "-hls_list_size 6 ",
            "-hls_flags delete_segments+independent_segments+program_date_time+temp_file ",
            "-hls_segment_type fmp4 ",
            "-hls_fmp4_init_filename init-%v.mp4 ",
            "-hls_segment_filename %v-%05d.m4s ",
            "-master_pl_name master.m3u8 ",
            "-var_stream_map v:0,a:0,name:240p v:1,a:1,name:480p %v.m3u8",
            "-map [v0] -map [a0] -c:v:0 libx264",
            "-map [v1] -map [a1] -c:v:1 libx264",
            "-b:v:1 1000k",
            "-b:a:0 64k",
            "-level:v:0 3.0",
            // Keyframes exactly on the 2 s grid: every segment starts with one.
            "-g:v:0 60 -keyint_min:v:0 60 -sc_threshold:v:0 0 \
             -force_key_frames:v:0 expr:gte(t,n_forced*2)",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from {text}");
        }
        assert!(text.ends_with("%v.m3u8"));
        assert!(
            !text.contains("-hls_playlist_type"),
            "a live playlist has no type"
        );
    }

    /// A live folder as ffmpeg leaves it: a master and two media playlists.
    struct Folder {
        dir: tempfile::TempDir,
    }

    impl Folder {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            Self { dir }
        }

        fn path(&self) -> &Path {
            self.dir.path()
        }

        fn write(&self, name: &str, bytes: &[u8]) {
            fs::write(self.path().join(name), bytes).unwrap();
        }

        fn remove(&self, name: &str) {
            fs::remove_file(self.path().join(name)).unwrap();
        }

        fn master(&self) {
            self.write(
                LIVE_MASTER,
                b"#EXTM3U\n#EXT-X-VERSION:7\n\
                  #EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=426x240,CODECS=\"avc1.64001e\"\n\
                  240p.m3u8\n\n\
                  #EXT-X-STREAM-INF:BANDWIDTH=2,RESOLUTION=854x480,CODECS=\"avc1.64001f\"\n\
                  480p.m3u8\n",
            );
        }

        fn playlist(&self, name: &str, first: u32, segments: &[&str]) {
            let mut text = format!(
                "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n\
                 #EXT-X-MEDIA-SEQUENCE:{first}\n#EXT-X-MAP:URI=\"init-{name}.mp4\"\n"
            );
            for s in segments {
                text.push_str(&format!(
                    "#EXTINF:2.000000,\n\
                     #EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000+0000\n{s}\n"
                ));
            }
            self.write(&format!("{name}.m3u8"), text.as_bytes());
        }

        fn integrity(&self) -> serde_json::Value {
            let text = fs::read_to_string(self.path().join(INTEGRITY_FILE)).unwrap();
            serde_json::from_str(&text).unwrap()
        }
    }

    #[test]
    fn watcher_hashes_listed_segments_and_drops_deleted_ones() {
        let f = Folder::new();
        let mut watcher = LiveIntegrity::new(f.path());

        // Nothing yet: an empty, valid file, and not ready.
        let report = watcher.scan().unwrap();
        assert_eq!(
            report,
            ScanReport {
                written: true,
                ready: false
            }
        );
        assert_eq!(f.integrity(), serde_json::json!({}));
        // Unchanged: not rewritten.
        assert!(!watcher.scan().unwrap().written);

        // A finished segment not yet in any playlist, and a temporary one, are not hashed.
        f.write("init-240p.mp4", b"init");
        f.write("240p-00000.m4s", b"seg 0");
        f.write("240p-00001.m4s.tmp", b"half");
        assert!(!watcher.scan().unwrap().written);

        // Listed: hashed. The master names 480p too, which has nothing yet: not ready.
        f.master();
        f.playlist("240p", 0, &["240p-00000.m4s"]);
        let report = watcher.scan().unwrap();
        assert!(report.written && !report.ready);
        assert_eq!(
            f.integrity(),
            serde_json::json!({"240p-00000.m4s": sha256_hex(b"seg 0")})
        );

        f.write("480p-00000.m4s", b"big seg 0");
        f.playlist("480p", 0, &["480p-00000.m4s"]);
        assert!(watcher.scan().unwrap().ready);

        // The window slides: 00000 leaves the playlist but stays listed in the file while it
        // exists on disk (a player may still be fetching it), then goes with the file.
        f.remove("240p-00001.m4s.tmp");
        f.write("240p-00001.m4s", b"seg 1");
        f.write("240p-00002.m4s", b"seg 2");
        f.playlist("240p", 1, &["240p-00001.m4s", "240p-00002.m4s"]);
        assert!(watcher.scan().unwrap().written);
        assert_eq!(
            f.integrity(),
            serde_json::json!({
                "240p-00000.m4s": sha256_hex(b"seg 0"),
                "240p-00001.m4s": sha256_hex(b"seg 1"),
                "240p-00002.m4s": sha256_hex(b"seg 2"),
                "480p-00000.m4s": sha256_hex(b"big seg 0"),
            })
        );
        f.remove("240p-00000.m4s");
        let report = watcher.scan().unwrap();
        assert!(report.written && report.ready);
        let json = f.integrity();
        assert_eq!(json.as_object().unwrap().len(), 3);
        assert!(json.get("240p-00000.m4s").is_none());
        assert_eq!(watcher.hashes().len(), 3);
        // No temporary file is left next to it.
        assert!(!f.path().join(format!(".{INTEGRITY_FILE}.tmp")).exists());
    }

    #[test]
    fn watcher_ignores_listed_but_missing_files_and_odd_names() {
        let f = Folder::new();
        f.master();
        f.playlist(
            "240p",
            5,
            &["240p-00005.m4s", "../escape.m4s", "sub/dir.m4s"],
        );
        f.playlist("480p", 5, &["480p-00005.m4s"]);
        f.write("480p-00005.m4s", b"x");
        f.write("garbage.m3u8", b"not a playlist");
        let mut watcher = LiveIntegrity::new(f.path());
        let report = watcher.scan().unwrap();
        // 240p lists files that are not there: nothing to hash for it, so not ready.
        assert!(!report.ready);
        assert_eq!(
            f.integrity(),
            serde_json::json!({"480p-00005.m4s": sha256_hex(b"x")})
        );
        // The folder vanishing is an error the caller reports.
        drop(f);
        assert!(watcher.scan().is_err());
    }

    #[tokio::test]
    async fn a_missing_ffmpeg_is_an_error_at_start() {
        let media = tempfile::tempdir().unwrap();
        let mut opts = LiveOptions::new(media.path());
        opts.ffmpeg = media.path().join("no-such-ffmpeg");
        let err = LiveStream::start(&opts).unwrap_err();
        assert!(err.to_string().contains("--live"), "{err}");
        opts.ffmpeg = PathBuf::from("no-such-ffmpeg-on-path");
        assert!(LiveStream::start(&opts).is_err());
        // Nothing was touched.
        assert!(!opts.live_dir().exists());
    }

    #[tokio::test]
    async fn an_ffmpeg_that_exits_early_reports_failure_and_stop_cleans_up() {
        let media = tempfile::tempdir().unwrap();
        let mut opts = LiveOptions::new(media.path());
        opts.ffmpeg = PathBuf::from("false");
        // A stale folder from an earlier run is emptied first.
        fs::create_dir_all(opts.live_dir()).unwrap();
        fs::write(opts.live_dir().join("240p.m3u8"), "#EXTM3U\n").unwrap();
        let live = LiveStream::start(&opts).unwrap();
        assert!(!opts.live_dir().join("240p.m3u8").exists());
        let ready = tokio::time::timeout(Duration::from_secs(60), wait_ready(live.readiness()));
        assert!(!ready.await.unwrap());
        live.stop().await;
        assert!(!opts.live_dir().exists());
    }

    #[tokio::test]
    async fn stop_kills_a_running_encoder() {
        let media = tempfile::tempdir().unwrap();
        let script = media.path().join("fake-ffmpeg");
        // Writes a ready stream, then runs until killed.
        fs::write(
            &script,
            "#!/bin/sh\nprintf 'seg' > 240p-00000.m4s\n\
             printf '#EXTM3U\\n#EXTINF:2,\\n240p-00000.m4s\\n' > 240p.m3u8\n\
             printf '#EXTM3U\\n#EXT-X-STREAM-INF:BANDWIDTH=1\\n240p.m3u8\\n' > master.m3u8\n\
             exec sleep 600\n",
        )
        .unwrap();
        let mut permissions = fs::metadata(&script).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        fs::set_permissions(&script, permissions).unwrap();
        let mut opts = LiveOptions::new(media.path());
        opts.ffmpeg = script;
        let live = LiveStream::start(&opts).unwrap();
        let ready = tokio::time::timeout(Duration::from_secs(60), wait_ready(live.readiness()));
        assert!(ready.await.unwrap());
        let json = fs::read_to_string(opts.live_dir().join(INTEGRITY_FILE)).unwrap();
        assert!(json.contains(&sha256_hex(b"seg")), "{json}");
        let started = std::time::Instant::now();
        live.stop().await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(!opts.live_dir().exists());
    }
}
