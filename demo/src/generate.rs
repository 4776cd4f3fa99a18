//! Sample media: generates the VOD test stream with ffmpeg in PeerTube's HLS layout, then writes
//! the master playlist and `segments-sha256.json` from what ffmpeg produced.
//!
//! Layout of `<media-dir>/vod/` (as PeerTube, protocols section 4):
//! - `<name>.mp4`: one fragmented MP4 per rendition (init + all 4 s fragments),
//! - `<name>.m3u8`: media playlist with `#EXT-X-MAP:...BYTERANGE` and `#EXT-X-BYTERANGE`,
//! - `master.m3u8`, `segments-sha256.json`, and the stamp `.complete`,
//! - for the embed player: `video.json` and `captions/{en,fr}.vtt` (see `sidecar`).
//!
//! The folder is built in a temporary sibling and renamed into place, so an interrupted run never
//! leaves a half sample that a later start would take for complete.

use std::fmt;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::integrity::{hash_playlist_segments, vod_integrity_json};
use crate::playlist::{parse_media_playlist, ByteRange, MediaPlaylist};
use crate::sidecar::write_sidecars;

/// Bump when anything below changes what is generated: a stamp with another version makes the
/// next start regenerate.
pub const VOD_GENERATION_VERSION: &str = "shoal-vod-5";

/// The font the running timestamp is drawn with (Debian package fonts-dejavu-core).
pub const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Name of the stamp file whose content must equal [`VodOptions::stamp`].
pub const STAMP_FILE: &str = ".complete";

/// Segment length in seconds; keyframes are forced exactly on this grid.
pub const SEGMENT_SECONDS: u32 = 4;

pub const FRAME_RATE: u32 = 30;

/// One encoded quality level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    /// Also the file stem: `<name>.mp4`, `<name>.m3u8`.
    pub name: &'static str,
    pub width: u32,
    pub height: u32,
    pub video_kbps: u32,
    pub audio_kbps: u32,
    /// x264 `-level`; High profile always (what PeerTube's default transcoding produces).
    pub level: &'static str,
}

impl Rendition {
    /// RFC 6381 string for what we ask x264 for; used only if the init segment cannot be read.
    fn expected_avc_codec(&self) -> String {
        let level: u32 = self
            .level
            .split('.')
            .map(|p| p.parse::<u32>().unwrap_or(0))
            .fold(0, |acc, p| acc * 10 + p);
        format!("avc1.6400{level:02x}")
    }
}

/// The three VOD renditions, ascending. Levels are the lowest that fit size x 30 fps.
pub const VOD_RENDITIONS: [Rendition; 3] = [
    Rendition {
        name: "240p",
        width: 426,
        height: 240,
        video_kbps: 400,
        audio_kbps: 64,
        level: "3.0",
    },
    Rendition {
        name: "480p",
        width: 854,
        height: 480,
        video_kbps: 1000,
        audio_kbps: 96,
        level: "3.1",
    },
    Rendition {
        name: "720p",
        width: 1280,
        height: 720,
        video_kbps: 2500,
        audio_kbps: 128,
        level: "3.1",
    },
];

/// What to generate and where.
#[derive(Debug, Clone)]
pub struct VodOptions {
    /// The sample goes to `<media_dir>/vod/`.
    pub media_dir: PathBuf,
    pub ffmpeg: PathBuf,
    pub duration_secs: u32,
    /// `None` (or a missing file) falls back to lavfi `testsrc`, which draws its own counter.
    pub font: Option<PathBuf>,
    pub renditions: Vec<Rendition>,
    /// Print progress to stderr.
    pub progress: bool,
}

impl VodOptions {
    pub fn new(media_dir: impl Into<PathBuf>) -> Self {
        Self {
            media_dir: media_dir.into(),
            ffmpeg: PathBuf::from("ffmpeg"),
            duration_secs: 120,
            font: Some(PathBuf::from(DEFAULT_FONT)),
            renditions: VOD_RENDITIONS.to_vec(),
            progress: true,
        }
    }

    pub fn vod_dir(&self) -> PathBuf {
        self.media_dir.join("vod")
    }

    /// Usable font path, if any: it must exist and be safe to embed in a filtergraph unquoted.
    fn usable_font(&self) -> Option<&Path> {
        let font = self.font.as_deref()?;
        let text = font.to_str()?;
        let safe = !text.contains([':', '\'', '\\', ',', ';', '[', ']', '=', ' ']);
        (safe && font.is_file()).then_some(font)
    }

    /// Stamp content: the generation version plus every parameter that changes the output, so a
    /// stamp written for other settings never passes for this one.
    pub fn stamp(&self) -> String {
        let renditions: Vec<String> = self
            .renditions
            .iter()
            .map(|r| {
                format!(
                    "{}={}x{}@{}k+{}k/L{}",
                    r.name, r.width, r.height, r.video_kbps, r.audio_kbps, r.level
                )
            })
            .collect();
        format!(
            "{VOD_GENERATION_VERSION} duration={} fps={FRAME_RATE} segment={SEGMENT_SECONDS} \
             text={} {}\n",
            self.duration_secs,
            if self.usable_font().is_some() {
                "drawtext"
            } else {
                "testsrc"
            },
            renditions.join(" ")
        )
    }
}

#[derive(Debug)]
pub struct GenerateError(String);

impl GenerateError {
    fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for GenerateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GenerateError {}

fn io_error(context: impl fmt::Display) -> impl FnOnce(io::Error) -> GenerateError {
    move |e| GenerateError(format!("{context}: {e}"))
}

/// Result of [`ensure_vod_sample`].
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    UpToDate,
    Generated { elapsed: Duration },
}

/// Whether `<media_dir>/vod/` holds a complete sample made with these options.
pub fn is_up_to_date(opts: &VodOptions) -> bool {
    fs::read_to_string(opts.vod_dir().join(STAMP_FILE)).is_ok_and(|s| s == opts.stamp())
}

/// Makes sure the sample exists and is current; generates it (slow, ffmpeg) only when not.
pub fn ensure_vod_sample(opts: &VodOptions) -> Result<Outcome, GenerateError> {
    if is_up_to_date(opts) {
        return Ok(Outcome::UpToDate);
    }
    let started = Instant::now();
    fs::create_dir_all(&opts.media_dir).map_err(io_error(opts.media_dir.display()))?;
    remove_stale_work_dirs(&opts.media_dir);

    let pid = std::process::id();
    let work = opts.media_dir.join(format!(".vod.tmp-{pid}"));
    if work.exists() {
        fs::remove_dir_all(&work).map_err(io_error(work.display()))?;
    }
    fs::create_dir_all(&work).map_err(io_error(work.display()))?;
    if let Err(e) = generate_vod_into(opts, &work) {
        let _ = fs::remove_dir_all(&work);
        return Err(e);
    }
    install(&work, &opts.vod_dir(), pid)?;
    Ok(Outcome::Generated {
        elapsed: started.elapsed(),
    })
}

/// Replaces `target` with `work` by renames, so readers see the old or the new folder, never a
/// partial one (one brief moment with neither).
fn install(work: &Path, target: &Path, pid: u32) -> Result<(), GenerateError> {
    let parent = target.parent().unwrap_or(Path::new("."));
    let old = parent.join(format!(".vod.old-{pid}"));
    let had_old = target.exists();
    if had_old {
        if old.exists() {
            fs::remove_dir_all(&old).map_err(io_error(old.display()))?;
        }
        fs::rename(target, &old).map_err(io_error(target.display()))?;
    }
    if let Err(e) = fs::rename(work, target) {
        if had_old {
            let _ = fs::rename(&old, target);
        }
        return Err(io_error(target.display())(e));
    }
    if had_old {
        let _ = fs::remove_dir_all(&old);
    }
    Ok(())
}

/// Removes leftovers of interrupted runs. Only folders untouched for an hour, so a concurrent
/// generation by another process is not pulled out from under it.
fn remove_stale_work_dirs(media_dir: &Path) {
    let Ok(entries) = fs::read_dir(media_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(".vod.tmp-") || name.starts_with(".vod.old-")) {
            continue;
        }
        let age = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok());
        if age.is_some_and(|a| a > Duration::from_secs(3600)) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// The ffmpeg command line (without the program) that encodes every rendition in one process:
/// the test pattern is rendered once, split, scaled and labelled per rendition, which is much
/// cheaper than one ffmpeg per rendition on a 2-core machine.
pub fn ffmpeg_args(opts: &VodOptions) -> Vec<String> {
    let (src_w, src_h) = opts
        .renditions
        .iter()
        .map(|r| (r.width, r.height))
        .max()
        .unwrap_or((1280, 720));
    let n = opts.renditions.len();
    let d = opts.duration_secs;
    let font = opts.usable_font();

    let mut args: Vec<String> = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    // Progress goes to stdout as key=value lines that we turn into short stderr updates.
    args.extend(["-nostats", "-progress", "pipe:1"].map(String::from));

    let video_source = match font {
        Some(_) => format!("testsrc2=size={src_w}x{src_h}:rate={FRAME_RATE}:duration={d}"),
        // testsrc draws its own running counter, so playback position stays visible.
        None => format!("testsrc=size={src_w}x{src_h}:rate={FRAME_RATE}:duration={d}"),
    };
    // A 440 Hz tone with a 1760 Hz beep at the start of every second, to judge A/V sync.
    let audio_source = format!("sine=frequency=440:beep_factor=4:sample_rate=48000:duration={d}");
    args.extend(["-f", "lavfi", "-i"].map(String::from));
    args.push(video_source);
    args.extend(["-f", "lavfi", "-i"].map(String::from));
    args.push(audio_source);

    let mut graph = String::from("[0:v]");
    if let Some(font) = font {
        let font = font.display();
        // Media time (hh:mm:ss.mmm) and frame number, big, boxed and centred.
        graph.push_str(&format!(
            "drawtext=fontfile={font}:text='%{{pts\\:hms}}  #%{{n}}':fontsize={}:\
             fontcolor=white:box=1:boxcolor=black@0.7:boxborderw={}:\
             x=(w-text_w)/2:y=(h-text_h)/2,",
            src_h / 8,
            src_h / 36
        ));
    }
    graph.push_str(&format!("split={n}"));
    for i in 0..n {
        graph.push_str(&format!("[s{i}]"));
    }
    for (i, r) in opts.renditions.iter().enumerate() {
        graph.push_str(&format!(";[s{i}]scale={}:{}", r.width, r.height));
        if let Some(font) = font {
            // Rendition name top right, clear of testsrc2's own small clock in the top left.
            graph.push_str(&format!(
                ",drawtext=fontfile={}:text='{}':fontsize={}:fontcolor=yellow:\
                 box=1:boxcolor=black@0.7:boxborderw={}:x=w-text_w-{}:y={}",
                font.display(),
                r.name,
                r.height / 9,
                r.height / 60,
                r.height / 30,
                r.height / 30
            ));
        }
        graph.push_str(&format!("[v{i}]"));
    }
    graph.push_str(&format!(";[1:a]asplit={n}"));
    for i in 0..n {
        graph.push_str(&format!("[a{i}]"));
    }
    args.push("-filter_complex".into());
    args.push(graph);

    let gop = (SEGMENT_SECONDS * FRAME_RATE).to_string();
    for (i, r) in opts.renditions.iter().enumerate() {
        let v = r.video_kbps;
        let rendition_args: Vec<String> = vec![
            "-map".into(),
            format!("[v{i}]"),
            "-map".into(),
            format!("[a{i}]"),
            "-c:v".into(),
            "libx264".into(),
            "-preset".into(),
            "veryfast".into(),
            "-profile:v".into(),
            "high".into(),
            "-level:v".into(),
            r.level.into(),
            "-pix_fmt".into(),
            "yuv420p".into(),
            "-b:v".into(),
            format!("{v}k"),
            "-maxrate".into(),
            format!("{}k", v * 11 / 10),
            "-bufsize".into(),
            format!("{}k", v * 2),
            // Keyframes exactly every SEGMENT_SECONDS and nowhere else, so every segment is
            // exactly that long and starts with a keyframe.
            "-g".into(),
            gop.clone(),
            "-keyint_min".into(),
            gop.clone(),
            "-sc_threshold".into(),
            "0".into(),
            "-force_key_frames".into(),
            format!("expr:gte(t,n_forced*{SEGMENT_SECONDS})"),
            "-c:a".into(),
            "aac".into(),
            "-profile:a".into(),
            "aac_low".into(),
            "-b:a".into(),
            format!("{}k", r.audio_kbps),
            "-ar".into(),
            "48000".into(),
            "-ac".into(),
            "2".into(),
            // PeerTube's VOD HLS flags.
            "-f".into(),
            "hls".into(),
            "-hls_time".into(),
            SEGMENT_SECONDS.to_string(),
            "-hls_segment_type".into(),
            "fmp4".into(),
            "-hls_flags".into(),
            "single_file".into(),
            "-hls_playlist_type".into(),
            "vod".into(),
            "-hls_segment_filename".into(),
            format!("{}.mp4", r.name),
            format!("{}.m3u8", r.name),
        ];
        args.extend(rendition_args);
    }
    args
}

fn run_ffmpeg(opts: &VodOptions, dir: &Path) -> Result<(), GenerateError> {
    let args = ffmpeg_args(opts);
    let mut child = Command::new(&opts.ffmpeg)
        .args(&args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| {
            GenerateError::new(format!(
                "cannot run {}: {e}. Install ffmpeg (Debian: apt-get install ffmpeg \
                 fonts-dejavu-core) or start with --no-generate",
                opts.ffmpeg.display()
            ))
        })?;

    // Report every 10% of media time; ffmpeg's own progress line is too chatty for a log.
    let total_us = u64::from(opts.duration_secs) * 1_000_000;
    let mut next_report = 10;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let Some(us) = line
                .strip_prefix("out_time_us=")
                .and_then(|v| v.trim().parse::<u64>().ok())
            else {
                continue;
            };
            let percent = us.saturating_mul(100) / total_us.max(1);
            if opts.progress && percent >= next_report && next_report < 100 {
                eprintln!("shoal-demo: encoding sample media: {percent}%");
                next_report = (percent / 10 + 1) * 10;
            }
        }
    }
    let status = child.wait().map_err(io_error("waiting for ffmpeg"))?;
    if !status.success() {
        return Err(GenerateError::new(format!("ffmpeg failed ({status})")));
    }
    Ok(())
}

/// Generates the complete sample into `dir` (an existing, empty folder), stamp included.
/// Public so that a live mode or a test with a shorter duration can reuse it.
pub fn generate_vod_into(opts: &VodOptions, dir: &Path) -> Result<(), GenerateError> {
    if opts.renditions.is_empty() {
        return Err(GenerateError::new("no renditions to generate"));
    }
    if opts.progress {
        eprintln!(
            "shoal-demo: generating {} s sample media ({}) in {} (one-time, under a minute)",
            opts.duration_secs,
            opts.renditions
                .iter()
                .map(|r| r.name)
                .collect::<Vec<_>>()
                .join(", "),
            opts.vod_dir().display()
        );
        if opts.usable_font().is_none() {
            eprintln!("shoal-demo: font {DEFAULT_FONT} missing, using ffmpeg testsrc's counter");
        }
    }
    run_ffmpeg(opts, dir)?;
    let variants = finish_vod_folder(dir, &opts.renditions, opts.duration_secs)?;
    if opts.progress {
        for v in &variants {
            eprintln!(
                "shoal-demo: {}: {} segments, peak {} kb/s, average {} kb/s, {}",
                v.rendition.name,
                v.segment_count,
                v.bandwidth / 1000,
                v.average_bandwidth / 1000,
                v.codecs
            );
        }
    }
    // Written last: its presence means everything above succeeded.
    fs::write(dir.join(STAMP_FILE), opts.stamp()).map_err(io_error(STAMP_FILE))?;
    Ok(())
}

/// A master-playlist entry, measured from the encoded files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub rendition: Rendition,
    /// Peak: max over segments of bytes * 8 / duration (RFC 8216 4.3.4.2).
    pub bandwidth: u64,
    pub average_bandwidth: u64,
    pub codecs: String,
    pub segment_count: usize,
}

/// Checks ffmpeg's media playlists have PeerTube's single-file byte-range form with 4 s
/// segments, then writes `master.m3u8`, `segments-sha256.json` and the embed's sidecars
/// next to them.
pub fn finish_vod_folder(
    dir: &Path,
    renditions: &[Rendition],
    duration_secs: u32,
) -> Result<Vec<Variant>, GenerateError> {
    let mut variants = Vec::new();
    let mut all_hashes = Vec::new();
    for rendition in renditions {
        let playlist_name = format!("{}.m3u8", rendition.name);
        let text =
            fs::read_to_string(dir.join(&playlist_name)).map_err(io_error(&playlist_name))?;
        let playlist = parse_media_playlist(&text)
            .map_err(|e| GenerateError::new(format!("{playlist_name}: {e}")))?;
        let init_range = check_playlist_shape(&playlist, rendition, duration_secs)
            .map_err(|e| GenerateError::new(format!("{playlist_name}: {e}")))?;

        let media_name = format!("{}.mp4", rendition.name);
        let init = read_range(&dir.join(&media_name), init_range).map_err(io_error(&media_name))?;
        let codecs = codecs_from_init(&init).unwrap_or_else(|| {
            eprintln!("shoal-demo: warning: could not read codecs from {media_name}'s init");
            format!("{},mp4a.40.2", rendition.expected_avc_codec())
        });

        let (bandwidth, average_bandwidth) = bandwidths(&playlist);
        variants.push(Variant {
            rendition: rendition.clone(),
            bandwidth,
            average_bandwidth,
            codecs,
            segment_count: playlist.segments.len(),
        });
        all_hashes.extend(
            hash_playlist_segments(dir, &playlist)
                .map_err(|e| GenerateError::new(e.to_string()))?,
        );
    }
    variants.sort_by_key(|v| v.bandwidth);
    fs::write(dir.join("master.m3u8"), master_playlist(&variants))
        .map_err(io_error("master.m3u8"))?;
    fs::write(
        dir.join("segments-sha256.json"),
        vod_integrity_json(&all_hashes),
    )
    .map_err(io_error("segments-sha256.json"))?;
    write_sidecars(dir, duration_secs).map_err(io_error("caption sidecars"))?;
    Ok(variants)
}

/// Returns the init section's range if the playlist is PeerTube-shaped, else why not.
fn check_playlist_shape(
    playlist: &MediaPlaylist,
    rendition: &Rendition,
    duration_secs: u32,
) -> Result<ByteRange, String> {
    let media_name = format!("{}.mp4", rendition.name);
    let init = playlist.init.as_ref().ok_or("no #EXT-X-MAP")?;
    if init.uri != media_name {
        return Err(format!("init URI {:?}, expected {media_name:?}", init.uri));
    }
    let init_range = init.range.ok_or("#EXT-X-MAP without BYTERANGE")?;
    if !playlist.ended {
        return Err("no #EXT-X-ENDLIST".into());
    }
    let Some((last, rest)) = playlist.segments.split_last() else {
        return Err("no segments".into());
    };
    let segment = f64::from(SEGMENT_SECONDS);
    for (i, s) in playlist.segments.iter().enumerate() {
        if s.uri != media_name || s.range.is_none() {
            return Err(format!("segment {i} is not a byte range of {media_name}"));
        }
    }
    if let Some((i, s)) = rest
        .iter()
        .enumerate()
        .find(|(_, s)| (s.duration - segment).abs() > 0.1)
    {
        return Err(format!(
            "segment {i} lasts {} s, not {segment} s",
            s.duration
        ));
    }
    if last.duration <= 0.0 || last.duration > segment + 0.1 {
        return Err(format!("last segment lasts {} s", last.duration));
    }
    let total = playlist.total_duration();
    if (total - f64::from(duration_secs)).abs() > 1.0 {
        return Err(format!(
            "total duration {total} s, expected {duration_secs} s"
        ));
    }
    Ok(init_range)
}

fn read_range(path: &Path, range: ByteRange) -> io::Result<Vec<u8>> {
    let mut file = fs::File::open(path)?;
    file.seek(SeekFrom::Start(range.offset))?;
    let mut buf = Vec::new();
    file.take(range.length).read_to_end(&mut buf)?;
    Ok(buf)
}

/// (peak, average) bit rates in bit/s, rounded up.
pub fn bandwidths(playlist: &MediaPlaylist) -> (u64, u64) {
    let mut peak = 0u64;
    let mut bytes = 0u64;
    let mut seconds = 0f64;
    for s in &playlist.segments {
        let len = s.range.map_or(0, |r| r.length);
        bytes += len;
        seconds += s.duration;
        if s.duration > 0.0 {
            peak = peak.max(bits_per_second(len, s.duration));
        }
    }
    let average = if seconds > 0.0 {
        bits_per_second(bytes, seconds)
    } else {
        0
    };
    (peak, average)
}

#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]
fn bits_per_second(bytes: u64, seconds: f64) -> u64 {
    (bytes as f64 * 8.0 / seconds).ceil() as u64
}

/// The master playlist, variants in the given order (callers sort ascending by bandwidth).
pub fn master_playlist(variants: &[Variant]) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for v in variants {
        out.push_str(&format!(
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},RESOLUTION={}x{},\
             FRAME-RATE={FRAME_RATE}.000,CODECS=\"{}\"\n{}.m3u8\n",
            v.bandwidth,
            v.average_bandwidth,
            v.rendition.width,
            v.rendition.height,
            v.codecs,
            v.rendition.name
        ));
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// RFC 6381 codec strings read from an fMP4 init segment: `avc1.PPCCLL` from the `avcC` box and
/// `mp4a.OO.A` from the `esds` descriptors, joined by a comma. Scans for box types instead of
/// walking the box tree: init segments are tiny and these four-byte tags do not occur elsewhere
/// in practice.
pub fn codecs_from_init(init: &[u8]) -> Option<String> {
    let avcc = find(init, b"avcC")? + 4;
    let avc = init.get(avcc..avcc + 4)?;
    if avc[0] != 1 {
        return None; // configurationVersion must be 1
    }
    let mut codecs = format!("avc1.{:02x}{:02x}{:02x}", avc[1], avc[2], avc[3]);
    if find(init, b"mp4a").is_some() {
        codecs.push(',');
        codecs.push_str(&mp4a_codec(init)?);
    }
    Some(codecs)
}

/// Reads an MPEG-4 descriptor header at `pos`: (tag, payload start, payload length).
fn descriptor(data: &[u8], pos: usize) -> Option<(u8, usize, usize)> {
    let tag = *data.get(pos)?;
    let mut len = 0usize;
    let mut p = pos + 1;
    for _ in 0..4 {
        let b = *data.get(p)?;
        p += 1;
        len = (len << 7) | usize::from(b & 0x7f);
        if b & 0x80 == 0 {
            return Some((tag, p, len));
        }
    }
    None
}

/// `mp4a.<object type hex>.<audio object type>` from the esds box (ISO 14496-1 and -3).
fn mp4a_codec(init: &[u8]) -> Option<String> {
    let esds = find(init, b"esds")? + 4 + 4; // box type, then version + flags
    let (tag, mut p, _) = descriptor(init, esds)?;
    if tag != 0x03 {
        return None;
    }
    let flags = *init.get(p + 2)?;
    p += 3; // ES_ID, flags
    if flags & 0x80 != 0 {
        p += 2; // dependsOn_ES_ID
    }
    if flags & 0x40 != 0 {
        p += 1 + usize::from(*init.get(p)?); // URL
    }
    if flags & 0x20 != 0 {
        p += 2; // OCR_ES_Id
    }
    let (tag, p, _) = descriptor(init, p)?;
    if tag != 0x04 {
        return None;
    }
    let object_type = *init.get(p)?;
    // objectTypeIndication, streamType, bufferSizeDB(3), maxBitrate(4), avgBitrate(4)
    let (tag, p, _) = descriptor(init, p + 13)?;
    if tag != 0x05 {
        return Some(format!("mp4a.{object_type:02x}"));
    }
    let b0 = *init.get(p)?;
    let mut audio_object_type = u32::from(b0 >> 3);
    if audio_object_type == 31 {
        let b1 = *init.get(p + 1)?;
        audio_object_type = 32 + ((u32::from(b0 & 0x07) << 3) | u32::from(b1 >> 5));
    }
    Some(format!("mp4a.{object_type:02x}.{audio_object_type}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_codec_strings() {
        assert_eq!(VOD_RENDITIONS[0].expected_avc_codec(), "avc1.64001e");
        assert_eq!(VOD_RENDITIONS[2].expected_avc_codec(), "avc1.64001f");
    }

    #[test]
    fn codecs_from_synthetic_init() {
        let mut init = Vec::new();
        init.extend_from_slice(b"....avcC\x01\x64\x00\x1f\xff\xe1");
        init.extend_from_slice(b"....mp4a....");
        // esds: version/flags, ES_Descr(3) len, ES_ID, flags, DecoderConfig(4) ...
        init.extend_from_slice(b"esds\0\0\0\0");
        init.extend_from_slice(&[0x03, 0x80, 0x80, 0x80, 0x22, 0x00, 0x01, 0x00]);
        init.extend_from_slice(&[0x04, 0x80, 0x80, 0x80, 0x14, 0x40, 0x15]);
        init.extend_from_slice(&[0, 0, 0, 0, 1, 0xf4, 0, 0, 1, 0xf4, 0]);
        init.extend_from_slice(&[0x05, 0x80, 0x80, 0x80, 0x02, 0x11, 0x90]);
        assert_eq!(
            codecs_from_init(&init).as_deref(),
            Some("avc1.64001f,mp4a.40.2")
        );
        assert_eq!(codecs_from_init(b"no boxes here"), None);
    }

    #[test]
    fn master_playlist_format() {
        let v = |i: usize, bw| Variant {
            rendition: VOD_RENDITIONS[i].clone(),
            bandwidth: bw,
            average_bandwidth: bw / 2,
            codecs: "avc1.64001e,mp4a.40.2".into(),
            segment_count: 30,
        };
        let text = master_playlist(&[v(0, 500_000), v(2, 3_000_000)]);
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-STREAM-INF:BANDWIDTH=500000,AVERAGE-BANDWIDTH=250000,RESOLUTION=426x240,\
             FRAME-RATE=30.000,CODECS=\"avc1.64001e,mp4a.40.2\"\n240p.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=3000000,AVERAGE-BANDWIDTH=1500000,RESOLUTION=1280x720,\
             FRAME-RATE=30.000,CODECS=\"avc1.64001e,mp4a.40.2\"\n720p.m3u8\n"
        );
    }

    #[test]
    fn bandwidth_is_peak_and_average() {
        let p = parse_media_playlist(
            "#EXTM3U\n#EXTINF:4,\n#EXT-X-BYTERANGE:1000@0\na\n#EXTINF:2,\n#EXT-X-BYTERANGE:1000\na\n",
        )
        .unwrap();
        assert_eq!(bandwidths(&p), (4000, 2667));
    }

    #[test]
    fn ffmpeg_args_have_peertube_hls_flags_and_fixed_gop() {
        let mut opts = VodOptions::new("/m");
        opts.font = None;
        let args = ffmpeg_args(&opts).join(" ");
        assert!(args.contains("testsrc=size=1280x720:rate=30:duration=120"));
        for r in &VOD_RENDITIONS {
            assert!(args.contains(&format!("-hls_segment_filename {0}.mp4 {0}.m3u8", r.name)));
        }
        assert_eq!(args.matches("-hls_flags single_file").count(), 3);
        assert_eq!(args.matches("-hls_segment_type fmp4").count(), 3);
        assert_eq!(args.matches("expr:gte(t,n_forced*4)").count(), 3);
        assert_eq!(args.matches("-sc_threshold 0").count(), 3);
        assert!(!args.contains("drawtext"));
    }

    #[test]
    fn stamp_changes_with_parameters() {
        let a = VodOptions::new("/m");
        let mut b = a.clone();
        b.duration_secs = 10;
        assert_ne!(a.stamp(), b.stamp());
        assert!(a.stamp().starts_with(VOD_GENERATION_VERSION));
    }

    #[test]
    fn shape_check_rejects_uneven_segments() {
        let r = &VOD_RENDITIONS[0];
        let good = parse_media_playlist(
            "#EXTM3U\n#EXT-X-MAP:URI=\"240p.mp4\",BYTERANGE=\"10@0\"\n\
             #EXTINF:4.0,\n#EXT-X-BYTERANGE:5@10\n240p.mp4\n\
             #EXTINF:2.0,\n#EXT-X-BYTERANGE:5@15\n240p.mp4\n#EXT-X-ENDLIST\n",
        )
        .unwrap();
        assert_eq!(
            check_playlist_shape(&good, r, 6),
            Ok(ByteRange {
                offset: 0,
                length: 10
            })
        );
        let uneven = parse_media_playlist(
            "#EXTM3U\n#EXT-X-MAP:URI=\"240p.mp4\",BYTERANGE=\"10@0\"\n\
             #EXTINF:3.0,\n#EXT-X-BYTERANGE:5@10\n240p.mp4\n\
             #EXTINF:3.0,\n#EXT-X-BYTERANGE:5@15\n240p.mp4\n#EXT-X-ENDLIST\n",
        )
        .unwrap();
        assert!(check_playlist_shape(&uneven, r, 6).is_err());
    }
}
