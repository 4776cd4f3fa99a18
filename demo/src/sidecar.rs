//! The files the embed player reads next to the sample besides HLS: WebVTT caption sidecars
//! (`captions/en.vtt`, `captions/fr.vtt`) and `video.json`, the video's metadata (its name and
//! caption list, see `embed/README.md`).
//!
//! The cues are simple and predictable ("English caption 3 (0:08-0:12)"), one per segment, so
//! browser tests can check which track is showing and that it follows the playhead.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;

use serde_json::json;

use crate::generate::SEGMENT_SECONDS;

/// Name of the metadata file the embed looks for next to the master playlist.
pub const VIDEO_METADATA_FILE: &str = "video.json";

/// Human name of the sample, shown in the embed's title bar.
pub const SAMPLE_NAME: &str = "Shoal sample video";

/// One caption language of the sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptionTrack {
    /// BCP 47 code, also the file stem under `captions/` and the embed's `subtitle=` value.
    pub language: &'static str,
    pub label: &'static str,
    /// Cue text before its number, e.g. "English caption".
    pub cue_prefix: &'static str,
}

pub const SAMPLE_CAPTIONS: [CaptionTrack; 2] = [
    CaptionTrack {
        language: "en",
        label: "English",
        cue_prefix: "English caption",
    },
    CaptionTrack {
        language: "fr",
        label: "Français",
        cue_prefix: "Sous-titre français",
    },
];

/// `mm:ss.mmm` as WebVTT wants it (hours are optional below one hour).
fn vtt_time(seconds: u32) -> String {
    format!("{:02}:{:02}.000", seconds / 60, seconds % 60)
}

/// `m:ss`, as the cue text shows it.
fn short_time(seconds: u32) -> String {
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

/// A WebVTT file with one cue per segment over `duration_secs`.
pub fn webvtt(track: &CaptionTrack, duration_secs: u32) -> String {
    let mut out = String::from("WEBVTT\n");
    let mut start = 0;
    let mut number = 1;
    while start < duration_secs {
        let end = (start + SEGMENT_SECONDS).min(duration_secs);
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "\n{number}\n{} --> {}\n{} {number} ({}-{})\n",
            vtt_time(start),
            vtt_time(end),
            track.cue_prefix,
            short_time(start),
            short_time(end)
        );
        start = end;
        number += 1;
    }
    out
}

/// The content of `video.json`: caption `src` values are relative to the file itself.
pub fn video_metadata_json(name: &str, captions: &[CaptionTrack]) -> String {
    let captions: Vec<_> = captions
        .iter()
        .map(|c| {
            json!({
                "language": c.language,
                "label": c.label,
                "src": format!("captions/{}.vtt", c.language),
            })
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&json!({ "name": name, "captions": captions }))
        .unwrap_or_default();
    text.push('\n');
    text
}

/// Writes `captions/<language>.vtt` for every sample caption track and `video.json` into `dir`.
pub fn write_sidecars(dir: &Path, duration_secs: u32) -> io::Result<()> {
    let captions_dir = dir.join("captions");
    fs::create_dir_all(&captions_dir)?;
    for track in &SAMPLE_CAPTIONS {
        fs::write(
            captions_dir.join(format!("{}.vtt", track.language)),
            webvtt(track, duration_secs),
        )?;
    }
    fs::write(
        dir.join(VIDEO_METADATA_FILE),
        video_metadata_json(SAMPLE_NAME, &SAMPLE_CAPTIONS),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cues_cover_the_duration_one_per_segment() {
        let text = webvtt(&SAMPLE_CAPTIONS[0], 10);
        assert_eq!(
            text,
            "WEBVTT\n\
             \n1\n00:00.000 --> 00:04.000\nEnglish caption 1 (0:00-0:04)\n\
             \n2\n00:04.000 --> 00:08.000\nEnglish caption 2 (0:04-0:08)\n\
             \n3\n00:08.000 --> 00:10.000\nEnglish caption 3 (0:08-0:10)\n"
        );
        assert_eq!(
            webvtt(&SAMPLE_CAPTIONS[1], 120).matches(" --> ").count(),
            30
        );
        assert!(webvtt(&SAMPLE_CAPTIONS[1], 120).contains("01:56.000 --> 02:00.000"));
    }

    #[test]
    fn metadata_lists_the_tracks_relative_to_itself() {
        let value: serde_json::Value =
            serde_json::from_str(&video_metadata_json("A \"name\"", &SAMPLE_CAPTIONS)).unwrap();
        assert_eq!(value["name"], "A \"name\"");
        assert_eq!(value["captions"][1]["language"], "fr");
        assert_eq!(value["captions"][1]["label"], "Français");
        assert_eq!(value["captions"][1]["src"], "captions/fr.vtt");
    }
}
