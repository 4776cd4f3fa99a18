//! Sample media: generates the VOD test streams with ffmpeg in PeerTube's HLS layout, then writes
//! the master playlist and `segments-sha256.json` from what ffmpeg produced.
//!
//! Two samples are made from the same test pattern and tone:
//! - `<media-dir>/vod/`: three renditions (240p, 480p, 720p), each with its audio muxed in;
//! - `<media-dir>/vod-split/`: PeerTube's split form, two video-only renditions (240p, 480p)
//!   and one audio-only rendition (`audio`) listed as `#EXT-X-MEDIA:TYPE=AUDIO`.
//!
//! Layout of each folder (as PeerTube, protocols section 4):
//! - `<name>.mp4`: one fragmented MP4 per rendition (init + all 4 s fragments),
//! - `<name>.m3u8`: media playlist with `#EXT-X-MAP:...BYTERANGE` and `#EXT-X-BYTERANGE`,
//! - `master.m3u8`, `segments-sha256.json`, and the stamp `.complete`,
//! - for the embed player: `video.json` and `captions/{en,fr}.vtt` (see `sidecar`).
//!
//! A folder is built in a temporary sibling and renamed into place, so an interrupted run never
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
pub const VOD_GENERATION_VERSION: &str = "shoal-vod-6";

/// Folder (under the media directory) of the sample with muxed renditions.
pub const VOD_FOLDER: &str = "vod";

/// Folder of the sample with audio and video split.
pub const SPLIT_FOLDER: &str = "vod-split";

/// `GROUP-ID` of the audio renditions in a split sample's master playlist (PeerTube's).
pub const AUDIO_GROUP: &str = "audio";

/// The font the running timestamp is drawn with (Debian package fonts-dejavu-core).
pub const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Name of the stamp file whose content must equal [`VodOptions::stamp`].
pub const STAMP_FILE: &str = ".complete";

/// Segment length in seconds; keyframes are forced exactly on this grid.
pub const SEGMENT_SECONDS: u32 = 4;

pub const FRAME_RATE: u32 = 30;

/// Which elementary streams a rendition's file carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracks {
    /// Video and audio in one file: the usual PeerTube layout.
    Muxed,
    /// Video only; the audio is a separate audio-only rendition of the same sample.
    Video,
    /// Audio only, listed in the master playlist as an `#EXT-X-MEDIA:TYPE=AUDIO` rendition.
    Audio,
}

impl Tracks {
    pub fn has_video(self) -> bool {
        matches!(self, Self::Muxed | Self::Video)
    }

    pub fn has_audio(self) -> bool {
        matches!(self, Self::Muxed | Self::Audio)
    }

    fn label(self) -> &'static str {
        match self {
            Self::Muxed => "muxed",
            Self::Video => "video",
            Self::Audio => "audio",
        }
    }
}

/// One encoded quality level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    /// Also the file stem: `<name>.mp4`, `<name>.m3u8`.
    pub name: &'static str,
    pub tracks: Tracks,
    /// Picture size; 0 for audio-only renditions.
    pub width: u32,
    pub height: u32,
    /// 0 when the rendition has no video.
    pub video_kbps: u32,
    /// 0 when the rendition has no audio.
    pub audio_kbps: u32,
    /// x264 `-level`; High profile always (what PeerTube's default transcoding produces).
    /// Empty for audio-only renditions.
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

    /// The codecs we ask ffmpeg for, as RFC 6381 strings; a fallback for unreadable inits.
    fn expected_codecs(&self) -> String {
        let mut codecs = Vec::new();
        if self.tracks.has_video() {
            codecs.push(self.expected_avc_codec());
        }
        if self.tracks.has_audio() {
            codecs.push("mp4a.40.2".to_string());
        }
        codecs.join(",")
    }
}

/// The three VOD renditions, ascending. Levels are the lowest that fit size x 30 fps.
pub const VOD_RENDITIONS: [Rendition; 3] = [
    Rendition {
        name: "240p",
        tracks: Tracks::Muxed,
        width: 426,
        height: 240,
        video_kbps: 400,
        audio_kbps: 64,
        level: "3.0",
    },
    Rendition {
        name: "480p",
        tracks: Tracks::Muxed,
        width: 854,
        height: 480,
        video_kbps: 1000,
        audio_kbps: 96,
        level: "3.1",
    },
    Rendition {
        name: "720p",
        tracks: Tracks::Muxed,
        width: 1280,
        height: 720,
        video_kbps: 2500,
        audio_kbps: 128,
        level: "3.1",
    },
];

/// The split sample: the two smaller video renditions without audio, and one audio-only
/// rendition that both play with. Smaller than the muxed sample to keep generation short.
pub const SPLIT_RENDITIONS: [Rendition; 3] = [
    Rendition {
        name: "240p",
        tracks: Tracks::Video,
        width: 426,
        height: 240,
        video_kbps: 400,
        audio_kbps: 0,
        level: "3.0",
    },
    Rendition {
        name: "480p",
        tracks: Tracks::Video,
        width: 854,
        height: 480,
        video_kbps: 1000,
        audio_kbps: 0,
        level: "3.1",
    },
    Rendition {
        name: "audio",
        tracks: Tracks::Audio,
        width: 0,
        height: 0,
        video_kbps: 0,
        audio_kbps: 128,
        level: "",
    },
];

/// What to generate and where.
#[derive(Debug, Clone)]
pub struct VodOptions {
    /// The sample goes to `<media_dir>/<folder>/`.
    pub media_dir: PathBuf,
    /// [`VOD_FOLDER`] or [`SPLIT_FOLDER`] (or any other plain folder name).
    pub folder: String,
    pub ffmpeg: PathBuf,
    pub duration_secs: u32,
    /// `None` (or a missing file) falls back to lavfi `testsrc`, which draws its own counter.
    pub font: Option<PathBuf>,
    pub renditions: Vec<Rendition>,
    /// Print progress to stderr.
    pub progress: bool,
}

impl VodOptions {
    /// The muxed sample, `<media_dir>/vod/`.
    pub fn new(media_dir: impl Into<PathBuf>) -> Self {
        Self {
            media_dir: media_dir.into(),
            folder: VOD_FOLDER.to_string(),
            ffmpeg: PathBuf::from("ffmpeg"),
            duration_secs: 120,
            font: Some(PathBuf::from(DEFAULT_FONT)),
            renditions: VOD_RENDITIONS.to_vec(),
            progress: true,
        }
    }

    /// The split audio/video sample, `<media_dir>/vod-split/`.
    pub fn split(media_dir: impl Into<PathBuf>) -> Self {
        Self {
            folder: SPLIT_FOLDER.to_string(),
            renditions: SPLIT_RENDITIONS.to_vec(),
            ..Self::new(media_dir)
        }
    }

    /// Every sample the demo serves, in generation order.
    pub fn all(media_dir: &Path) -> Vec<Self> {
        vec![Self::new(media_dir), Self::split(media_dir)]
    }

    /// The sample's folder, `<media_dir>/<folder>/`.
    pub fn vod_dir(&self) -> PathBuf {
        self.media_dir.join(&self.folder)
    }

    /// Usable font path, if any: it must exist and be safe to embed in a filtergraph unquoted.
    fn usable_font(&self) -> Option<&Path> {
        usable_font(self.font.as_deref())
    }

    /// Stamp content: the generation version plus every parameter that changes the output, so a
    /// stamp written for other settings never passes for this one.
    pub fn stamp(&self) -> String {
        let renditions: Vec<String> = self
            .renditions
            .iter()
            .map(|r| {
                format!(
                    "{}={}:{}x{}@{}k+{}k/L{}",
                    r.name,
                    r.tracks.label(),
                    r.width,
                    r.height,
                    r.video_kbps,
                    r.audio_kbps,
                    r.level
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

/// A font path that exists and is safe to embed in a filtergraph unquoted, if any.
pub fn usable_font(font: Option<&Path>) -> Option<&Path> {
    let font = font?;
    let text = font.to_str()?;
    let safe = !text.contains([':', '\'', '\\', ',', ';', '[', ']', '=', ' ']);
    (safe && font.is_file()).then_some(font)
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

/// Whether `<media_dir>/<folder>/` holds a complete sample made with these options.
pub fn is_up_to_date(opts: &VodOptions) -> bool {
    fs::read_to_string(opts.vod_dir().join(STAMP_FILE)).is_ok_and(|s| s == opts.stamp())
}

/// Makes sure the sample exists and is current; generates it (slow, ffmpeg) only when not.
pub fn ensure_vod_sample(opts: &VodOptions) -> Result<Outcome, GenerateError> {
    if is_up_to_date(opts) {
        return Ok(Outcome::UpToDate);
    }
    let started = Instant::now();
    if opts.folder.is_empty() || opts.folder.contains(['/', '\\']) || opts.folder.starts_with('.') {
        return Err(GenerateError::new(format!(
            "sample folder {:?} must be a plain name",
            opts.folder
        )));
    }
    fs::create_dir_all(&opts.media_dir).map_err(io_error(opts.media_dir.display()))?;
    remove_stale_work_dirs(&opts.media_dir, &opts.folder);

    let pid = std::process::id();
    let work = opts.media_dir.join(format!(".{}.tmp-{pid}", opts.folder));
    if work.exists() {
        fs::remove_dir_all(&work).map_err(io_error(work.display()))?;
    }
    fs::create_dir_all(&work).map_err(io_error(work.display()))?;
    if let Err(e) = generate_vod_into(opts, &work) {
        let _ = fs::remove_dir_all(&work);
        return Err(e);
    }
    install(&work, &opts.vod_dir(), &opts.folder, pid)?;
    Ok(Outcome::Generated {
        elapsed: started.elapsed(),
    })
}

/// Replaces `target` with `work` by renames, so readers see the old or the new folder, never a
/// partial one (one brief moment with neither).
fn install(work: &Path, target: &Path, folder: &str, pid: u32) -> Result<(), GenerateError> {
    let parent = target.parent().unwrap_or(Path::new("."));
    let old = parent.join(format!(".{folder}.old-{pid}"));
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
fn remove_stale_work_dirs(media_dir: &Path, folder: &str) {
    let Ok(entries) = fs::read_dir(media_dir) else {
        return;
    };
    let (tmp, old) = (format!(".{folder}.tmp-"), format!(".{folder}.old-"));
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(&tmp) || name.starts_with(&old)) {
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

/// Arguments common to every ffmpeg run: quiet, never reading stdin, overwriting outputs, and
/// with `progress`, progress as `key=value` lines on stdout (for a reader of that pipe only).
pub fn base_ffmpeg_args(progress: bool) -> Vec<String> {
    let mut args: Vec<String> = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
        .map(String::from)
        .to_vec();
    if progress {
        args.extend(["-nostats", "-progress", "pipe:1"].map(String::from));
    }
    args
}

/// The test pattern and the tone as lavfi inputs, then a `-filter_complex` that renders the
/// pattern once with its running timestamp and makes one scaled, labelled output `[v<i>]` per
/// entry of `videos` (in order) and `audio_outputs` copies `[a<i>]` of the tone. Rendering once
/// and splitting is much cheaper than one ffmpeg per rendition on a 2-core machine.
///
/// `duration_secs: None` makes endless sources; `realtime` reads them at their native rate
/// (`-re`), as a live encoder would receive them.
pub fn source_args(
    font: Option<&Path>,
    videos: &[&Rendition],
    audio_outputs: usize,
    duration_secs: Option<u32>,
    realtime: bool,
) -> Vec<String> {
    let (src_w, src_h) = videos
        .iter()
        .map(|r| (r.width, r.height))
        .max()
        .unwrap_or((1280, 720));
    let duration = duration_secs.map_or(String::new(), |d| format!(":duration={d}"));
    let mut args = Vec::new();
    let mut parts = Vec::new();
    let mut input = 0;

    if !videos.is_empty() {
        let video_source = match font {
            Some(_) => format!("testsrc2=size={src_w}x{src_h}:rate={FRAME_RATE}{duration}"),
            // testsrc draws its own running counter, so playback position stays visible.
            None => format!("testsrc=size={src_w}x{src_h}:rate={FRAME_RATE}{duration}"),
        };
        if realtime {
            args.push("-re".to_string());
        }
        args.extend(["-f", "lavfi", "-i"].map(String::from));
        args.push(video_source);

        let mut graph = format!("[{input}:v]");
        input += 1;
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
        graph.push_str(&format!("split={}", videos.len()));
        for i in 0..videos.len() {
            graph.push_str(&format!("[s{i}]"));
        }
        parts.push(graph);
        for (i, r) in videos.iter().enumerate() {
            let mut chain = format!("[s{i}]scale={}:{}", r.width, r.height);
            if let Some(font) = font {
                // Rendition name top right, clear of testsrc2's own small clock in the top left.
                chain.push_str(&format!(
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
            chain.push_str(&format!("[v{i}]"));
            parts.push(chain);
        }
    }

    if audio_outputs > 0 {
        // A 440 Hz tone with a 1760 Hz beep at the start of every second, to judge A/V sync.
        if realtime {
            args.push("-re".to_string());
        }
        args.extend(["-f", "lavfi", "-i"].map(String::from));
        args.push(format!(
            "sine=frequency=440:beep_factor=4:sample_rate=48000{duration}"
        ));
        let mut graph = format!("[{input}:a]asplit={audio_outputs}");
        for i in 0..audio_outputs {
            graph.push_str(&format!("[a{i}]"));
        }
        parts.push(graph);
    }

    args.push("-filter_complex".into());
    args.push(parts.join(";"));
    args
}

/// x264 settings for one video stream: `spec` is the stream specifier (`v` for the only video
/// stream of an output, `v:1` for the second of several). Keyframes fall exactly every
/// `segment_seconds` and nowhere else, so every segment is that long and starts with one.
pub fn video_encoder_args(r: &Rendition, spec: &str, segment_seconds: u32) -> Vec<String> {
    let v = r.video_kbps;
    let gop = (segment_seconds * FRAME_RATE).to_string();
    let pairs: [(&str, String); 12] = [
        ("c", "libx264".into()),
        ("preset", "veryfast".into()),
        ("profile", "high".into()),
        ("level", r.level.into()),
        ("pix_fmt", "yuv420p".into()),
        ("b", format!("{v}k")),
        ("maxrate", format!("{}k", v * 11 / 10)),
        ("bufsize", format!("{}k", v * 2)),
        ("g", gop.clone()),
        ("keyint_min", gop),
        ("sc_threshold", "0".into()),
        (
            "force_key_frames",
            format!("expr:gte(t,n_forced*{segment_seconds})"),
        ),
    ];
    pairs
        .into_iter()
        .flat_map(|(option, value)| [format!("-{option}:{spec}"), value])
        .collect()
}

/// AAC-LC stereo 48 kHz settings for one audio stream (`spec` as in [`video_encoder_args`]).
pub fn audio_encoder_args(r: &Rendition, spec: &str) -> Vec<String> {
    let pairs: [(&str, String); 5] = [
        ("c", "aac".into()),
        ("profile", "aac_low".into()),
        ("b", format!("{}k", r.audio_kbps)),
        ("ar", "48000".into()),
        ("ac", "2".into()),
    ];
    pairs
        .into_iter()
        .flat_map(|(option, value)| [format!("-{option}:{spec}"), value])
        .collect()
}

/// The ffmpeg command line (without the program) that encodes every rendition of the sample in
/// one process, each into its own HLS output in PeerTube's single-file form.
pub fn ffmpeg_args(opts: &VodOptions) -> Vec<String> {
    let videos: Vec<&Rendition> = opts
        .renditions
        .iter()
        .filter(|r| r.tracks.has_video())
        .collect();
    let audio_outputs = opts
        .renditions
        .iter()
        .filter(|r| r.tracks.has_audio())
        .count();

    let mut args = base_ffmpeg_args(true);
    args.extend(source_args(
        opts.usable_font(),
        &videos,
        audio_outputs,
        Some(opts.duration_secs),
        false,
    ));

    let (mut next_video, mut next_audio) = (0, 0);
    for r in &opts.renditions {
        if r.tracks.has_video() {
            args.extend(["-map".into(), format!("[v{next_video}]")]);
            args.extend(video_encoder_args(r, "v", SEGMENT_SECONDS));
            next_video += 1;
        }
        if r.tracks.has_audio() {
            args.extend(["-map".into(), format!("[a{next_audio}]")]);
            args.extend(audio_encoder_args(r, "a"));
            next_audio += 1;
        }
        // PeerTube's VOD HLS flags.
        args.extend(
            [
                "-f",
                "hls",
                "-hls_time",
                &SEGMENT_SECONDS.to_string(),
                "-hls_segment_type",
                "fmp4",
                "-hls_flags",
                "single_file",
                "-hls_playlist_type",
                "vod",
                "-hls_segment_filename",
                &format!("{}.mp4", r.name),
                &format!("{}.m3u8", r.name),
            ]
            .map(String::from),
        );
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
            rendition.expected_codecs()
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
///
/// Audio-only renditions become `#EXT-X-MEDIA:TYPE=AUDIO` entries of group [`AUDIO_GROUP`],
/// with PeerTube's attributes (`NAME="Audio",AUTOSELECT=YES,DEFAULT=YES`), and every video
/// variant then names that group with `AUDIO="audio"`. As RFC 8216 4.3.4.2 asks, and as PeerTube
/// does (its master lists the separate audio file's codec on every video variant), a variant's
/// `CODECS` carries both its video codec and the audio group's codec, and its `BANDWIDTH` (and
/// `AVERAGE-BANDWIDTH`) include the audio rendition's, so they describe what playing the variant
/// really costs (PeerTube counts the video file alone there; the RFC's sum is what a player's
/// bandwidth choice needs).
pub fn master_playlist(variants: &[Variant]) -> String {
    let is_audio = |v: &&Variant| v.rendition.tracks == Tracks::Audio;
    let audio: Vec<&Variant> = variants.iter().filter(is_audio).collect();
    // The group's most demanding rendition sets what a variant may need on top of its video.
    let group = audio.iter().max_by_key(|v| v.bandwidth);
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for (i, a) in audio.iter().enumerate() {
        out.push_str(&format!(
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"{AUDIO_GROUP}\",NAME=\"{}\",\
             AUTOSELECT=YES,DEFAULT={},URI=\"{}.m3u8\"\n",
            if audio.len() == 1 {
                "Audio"
            } else {
                a.rendition.name
            },
            if i == 0 { "YES" } else { "NO" },
            a.rendition.name
        ));
    }
    for v in variants.iter().filter(|v| !is_audio(v)) {
        let (mut bandwidth, mut average, mut codecs) =
            (v.bandwidth, v.average_bandwidth, v.codecs.clone());
        let mut audio_attribute = String::new();
        if let Some(a) = group {
            bandwidth += a.bandwidth;
            average += a.average_bandwidth;
            codecs = format!("{codecs},{}", a.codecs);
            audio_attribute = format!(",AUDIO=\"{AUDIO_GROUP}\"");
        }
        out.push_str(&format!(
            "#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},AVERAGE-BANDWIDTH={average},RESOLUTION={}x{},\
             FRAME-RATE={FRAME_RATE}.000,CODECS=\"{codecs}\"{audio_attribute}\n{}.m3u8\n",
            v.rendition.width, v.rendition.height, v.rendition.name
        ));
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// RFC 6381 codec strings read from an fMP4 init segment: `avc1.PPCCLL` from the `avcC` box and
/// `mp4a.OO.A` from the `esds` descriptors, joined by a comma (either may be absent: video-only
/// and audio-only renditions). Scans for box types instead of walking the box tree: init
/// segments are tiny and these four-byte tags do not occur elsewhere in practice. `None` when
/// neither is found or one is unreadable.
pub fn codecs_from_init(init: &[u8]) -> Option<String> {
    let mut codecs = Vec::new();
    if let Some(avcc) = find(init, b"avcC") {
        let avc = init.get(avcc + 4..avcc + 8)?;
        if avc[0] != 1 {
            return None; // configurationVersion must be 1
        }
        codecs.push(format!("avc1.{:02x}{:02x}{:02x}", avc[1], avc[2], avc[3]));
    }
    if find(init, b"mp4a").is_some() {
        codecs.push(mp4a_codec(init)?);
    }
    (!codecs.is_empty()).then(|| codecs.join(","))
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
        assert_eq!(args.matches("-sc_threshold:v 0").count(), 3);
        assert_eq!(args.matches("-map [a").count(), 3);
        assert!(!args.contains("drawtext"));
    }

    #[test]
    fn split_ffmpeg_args_encode_video_and_audio_into_separate_outputs() {
        let mut opts = VodOptions::split("/m");
        opts.font = None;
        assert_eq!(opts.vod_dir(), Path::new("/m/vod-split"));
        let args = ffmpeg_args(&opts);
        let text = args.join(" ");
        // The pattern is rendered at the largest video size and split in two; the tone once.
        assert!(
            text.contains("testsrc=size=854x480:rate=30:duration=120"),
            "{text}"
        );
        let graph = &args[args.iter().position(|a| a == "-filter_complex").unwrap() + 1];
        assert_eq!(
            graph,
            "[0:v]split=2[s0][s1];[s0]scale=426:240[v0];[s1]scale=854:480[v1];\
             [1:a]asplit=1[a0]"
        );
        // One output per rendition: its maps, codec options, then the HLS muxer and playlist.
        let outputs: Vec<&str> = text.split(".m3u8").collect();
        assert_eq!(outputs.len(), 4, "{text}");
        let (v240, v480, audio) = (outputs[0], outputs[1], outputs[2]);
        for (output, map, name) in [(v240, "[v0]", "240p"), (v480, "[v1]", "480p")] {
            assert!(
                output.contains(&format!("-map {map} -c:v libx264")),
                "{output}"
            );
            assert!(
                !output.contains("-map [a") && !output.contains("aac"),
                "{output}"
            );
            assert!(output.ends_with(&format!("-hls_segment_filename {name}.mp4 {name}")));
        }
        assert!(audio.contains("-map [a0] -c:a aac -profile:a aac_low -b:a 128k"));
        assert!(!audio.contains("-map [v") && !audio.contains("libx264"));
        assert!(audio.ends_with("-hls_segment_filename audio.mp4 audio"));
        assert_eq!(text.matches("-hls_flags single_file").count(), 3);
    }

    #[test]
    fn split_master_playlist_has_the_audio_group() {
        let v = |r: &Rendition, bw, codecs: &str| Variant {
            rendition: r.clone(),
            bandwidth: bw,
            average_bandwidth: bw / 2,
            codecs: codecs.into(),
            segment_count: 30,
        };
        let text = master_playlist(&[
            v(&SPLIT_RENDITIONS[2], 140_000, "mp4a.40.2"),
            v(&SPLIT_RENDITIONS[0], 500_000, "avc1.64001e"),
            v(&SPLIT_RENDITIONS[1], 1_200_000, "avc1.64001f"),
        ]);
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"Audio\",AUTOSELECT=YES,\
             DEFAULT=YES,URI=\"audio.m3u8\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=640000,AVERAGE-BANDWIDTH=320000,RESOLUTION=426x240,\
             FRAME-RATE=30.000,CODECS=\"avc1.64001e,mp4a.40.2\",AUDIO=\"audio\"\n240p.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1340000,AVERAGE-BANDWIDTH=670000,RESOLUTION=854x480,\
             FRAME-RATE=30.000,CODECS=\"avc1.64001f,mp4a.40.2\",AUDIO=\"audio\"\n480p.m3u8\n"
        );
    }

    #[test]
    fn codecs_of_single_track_inits() {
        assert_eq!(
            codecs_from_init(b"....avcC\x01\x64\x00\x1e\xff").as_deref(),
            Some("avc1.64001e")
        );
        let mut audio = b"....mp4a....esds\0\0\0\0".to_vec();
        audio.extend_from_slice(&[0x03, 0x19, 0x00, 0x01, 0x00]);
        audio.extend_from_slice(&[
            0x04, 0x11, 0x40, 0x15, 0, 0, 0, 0, 1, 0xf4, 0, 0, 1, 0xf4, 0,
        ]);
        audio.extend_from_slice(&[0x05, 0x02, 0x11, 0x90]);
        assert_eq!(codecs_from_init(&audio).as_deref(), Some("mp4a.40.2"));
        assert_eq!(SPLIT_RENDITIONS[0].expected_codecs(), "avc1.64001e");
        assert_eq!(SPLIT_RENDITIONS[2].expected_codecs(), "mp4a.40.2");
        assert_eq!(VOD_RENDITIONS[2].expected_codecs(), "avc1.64001f,mp4a.40.2");
    }

    #[test]
    fn stamp_changes_with_parameters() {
        let a = VodOptions::new("/m");
        let mut b = a.clone();
        b.duration_secs = 10;
        assert_ne!(a.stamp(), b.stamp());
        assert!(a.stamp().starts_with(VOD_GENERATION_VERSION));
        let split = VodOptions::split("/m");
        assert_ne!(a.stamp(), split.stamp());
        assert!(split.stamp().contains("240p=video:") && split.stamp().contains("audio=audio:"));
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
