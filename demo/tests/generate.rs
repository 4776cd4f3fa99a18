//! Tests of the sample-media pipeline around ffmpeg: stamp check, atomic install, master playlist
//! and integrity file. A stand-in `ffmpeg` script copies handmade outputs, so these run without
//! ffmpeg; `real_ffmpeg_short_sample` (ignored by default) runs the real encoder.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use shoal_demo::generate::{
    ensure_vod_sample, Outcome, Rendition, Tracks, VodOptions, SPLIT_RENDITIONS, STAMP_FILE,
    VOD_RENDITIONS,
};
use shoal_demo::playlist::parse_media_playlist;

/// An init segment holding just enough of `avcC` and `esds` for codec detection, with the
/// tracks `tracks` says.
fn fake_init(tracks: Tracks, level: u8) -> Vec<u8> {
    let mut init = b"\0\0\0\x18ftypiso6".to_vec();
    if tracks.has_video() {
        init.extend_from_slice(b"\0\0\0\x10avcC\x01\x64\x00");
        init.push(level);
        init.extend_from_slice(b"\xff\xe1");
    }
    if tracks.has_audio() {
        init.extend_from_slice(b"mp4a\0\0\0\0esds\0\0\0\0");
        init.extend_from_slice(&[0x03, 0x19, 0x00, 0x01, 0x00]);
        init.extend_from_slice(&[
            0x04, 0x11, 0x40, 0x15, 0, 0, 0, 0, 1, 0xf4, 0, 0, 1, 0xf4, 0,
        ]);
        init.extend_from_slice(&[0x05, 0x02, 0x11, 0x90]);
    }
    init
}

struct Fake {
    dir: tempfile::TempDir,
}

impl Fake {
    /// Prepares per-rendition outputs (init + two 4 s segments) and a script that copies them
    /// into its working directory, printing ffmpeg-style progress and counting its runs.
    fn new(exit_code: i32) -> Self {
        Self::with(&VOD_RENDITIONS, exit_code)
    }

    fn with(renditions: &[Rendition], exit_code: i32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        fs::create_dir_all(&out).unwrap();
        for (i, r) in renditions.iter().enumerate() {
            let init = fake_init(r.tracks, 0x1e + u8::from(i > 0));
            let seg1 = vec![b'a' + i as u8; 1000 * (i + 1)];
            let seg2 = vec![b'x'; 500 * (i + 1)];
            let mut media = init.clone();
            media.extend_from_slice(&seg1);
            media.extend_from_slice(&seg2);
            fs::write(out.join(format!("{}.mp4", r.name)), &media).unwrap();
            // The second range uses an implicit offset, as RFC 8216 allows.
            let playlist = format!(
                "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-PLAYLIST-TYPE:VOD\n\
                 #EXT-X-MAP:URI=\"{n}.mp4\",BYTERANGE=\"{il}@0\"\n\
                 #EXTINF:4.000000,\n#EXT-X-BYTERANGE:{l1}@{il}\n{n}.mp4\n\
                 #EXTINF:4.000000,\n#EXT-X-BYTERANGE:{l2}\n{n}.mp4\n#EXT-X-ENDLIST\n",
                n = r.name,
                il = init.len(),
                l1 = seg1.len(),
                l2 = seg2.len()
            );
            fs::write(out.join(format!("{}.m3u8", r.name)), playlist).unwrap();
        }
        let script = dir.path().join("ffmpeg");
        fs::write(
            &script,
            format!(
                "#!/bin/sh\necho run >> '{runs}'\necho out_time_us=4000000\n\
                 cp '{out}'/* .\necho progress=end\nexit {exit_code}\n",
                runs = dir.path().join("runs").display(),
                out = out.display()
            ),
        )
        .unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        Self { dir }
    }

    fn options(&self, media_dir: &Path) -> VodOptions {
        let mut opts = VodOptions::new(media_dir);
        opts.ffmpeg = self.dir.path().join("ffmpeg");
        opts.duration_secs = 8;
        opts.progress = false;
        opts
    }

    fn runs(&self) -> usize {
        fs::read_to_string(self.dir.path().join("runs"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    fn output(&self, name: &str) -> Vec<u8> {
        fs::read(self.dir.path().join("out").join(name)).unwrap()
    }
}

fn leftovers(media_dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(media_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".vod.")
        })
        .collect()
}

#[test]
fn generates_master_and_integrity_then_reuses_by_stamp() {
    let fake = Fake::new(0);
    let media = tempfile::tempdir().unwrap();
    let opts = fake.options(media.path());
    let vod = media.path().join("vod");

    assert!(matches!(
        ensure_vod_sample(&opts).unwrap(),
        Outcome::Generated { .. }
    ));
    assert_eq!(fake.runs(), 1);
    assert!(leftovers(media.path()).is_empty());
    assert_eq!(
        fs::read_to_string(vod.join(STAMP_FILE)).unwrap(),
        opts.stamp()
    );

    // Ascending bandwidth; peak = biggest segment * 8 / 4 s; codecs from the init segment.
    let master = fs::read_to_string(vod.join("master.m3u8")).unwrap();
    assert_eq!(
        master,
        "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n\
         #EXT-X-STREAM-INF:BANDWIDTH=2000,AVERAGE-BANDWIDTH=1500,RESOLUTION=426x240,\
         FRAME-RATE=30.000,CODECS=\"avc1.64001e,mp4a.40.2\"\n240p.m3u8\n\
         #EXT-X-STREAM-INF:BANDWIDTH=4000,AVERAGE-BANDWIDTH=3000,RESOLUTION=854x480,\
         FRAME-RATE=30.000,CODECS=\"avc1.64001f,mp4a.40.2\"\n480p.m3u8\n\
         #EXT-X-STREAM-INF:BANDWIDTH=6000,AVERAGE-BANDWIDTH=4500,RESOLUTION=1280x720,\
         FRAME-RATE=30.000,CODECS=\"avc1.64001f,mp4a.40.2\"\n720p.m3u8\n"
    );

    let integrity: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(vod.join("segments-sha256.json")).unwrap())
            .unwrap();
    let files = integrity.as_object().unwrap();
    assert_eq!(files.len(), 3);
    let media_720 = fake.output("720p.mp4");
    let init_len = fake_init(Tracks::Muxed, 0x1f).len();
    let ranges = files["720p.mp4"].as_object().unwrap();
    assert_eq!(ranges.len(), 2);
    let (a, b) = (init_len, init_len + 3000 - 1);
    let hex = |bytes: &[u8]| format!("{:x}", Sha256::digest(bytes));
    assert_eq!(ranges[&format!("{a}-{b}")], hex(&media_720[a..=b]));
    let (c, d) = (b + 1, media_720.len() - 1);
    assert_eq!(ranges[&format!("{c}-{d}")], hex(&media_720[c..=d]));

    // The embed's sidecars: metadata and one WebVTT file per language, cues over the 8 s.
    let metadata: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(vod.join("video.json")).unwrap()).unwrap();
    assert_eq!(metadata["captions"][0]["src"], "captions/en.vtt");
    for language in ["en", "fr"] {
        let vtt = fs::read_to_string(vod.join("captions").join(format!("{language}.vtt"))).unwrap();
        assert!(vtt.starts_with("WEBVTT\n"), "{language}");
        assert_eq!(vtt.matches(" --> ").count(), 2, "{language}");
    }

    // Second start: nothing to do.
    assert_eq!(ensure_vod_sample(&opts).unwrap(), Outcome::UpToDate);
    assert_eq!(fake.runs(), 1);

    // An outdated stamp regenerates and replaces the folder.
    fs::write(vod.join(STAMP_FILE), "shoal-vod-0\n").unwrap();
    fs::write(vod.join("stray.txt"), "old").unwrap();
    assert!(matches!(
        ensure_vod_sample(&opts).unwrap(),
        Outcome::Generated { .. }
    ));
    assert_eq!(fake.runs(), 2);
    assert!(!vod.join("stray.txt").exists());
    assert!(leftovers(media.path()).is_empty());
}

#[test]
fn split_sample_lists_the_audio_rendition_as_an_audio_group() {
    let fake = Fake::with(&SPLIT_RENDITIONS, 0);
    let media = tempfile::tempdir().unwrap();
    let opts = VodOptions {
        folder: VodOptions::split(media.path()).folder,
        renditions: SPLIT_RENDITIONS.to_vec(),
        ..fake.options(media.path())
    };
    assert!(matches!(
        ensure_vod_sample(&opts).unwrap(),
        Outcome::Generated { .. }
    ));
    let split = media.path().join("vod-split");
    assert_eq!(
        fs::read_to_string(split.join(STAMP_FILE)).unwrap(),
        opts.stamp()
    );
    assert!(!media.path().join("vod").exists());
    assert!(fs::read_dir(media.path())
        .unwrap()
        .flatten()
        .all(|e| !e.file_name().to_string_lossy().starts_with('.')));

    // The audio group first, then the video variants ascending, each naming the group, with
    // the audio codec and bit rate added to its own (the fake audio: peak 6000, average 4500).
    let master = fs::read_to_string(split.join("master.m3u8")).unwrap();
    assert_eq!(
        master,
        "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n\
         #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"Audio\",AUTOSELECT=YES,DEFAULT=YES,\
         URI=\"audio.m3u8\"\n\
         #EXT-X-STREAM-INF:BANDWIDTH=8000,AVERAGE-BANDWIDTH=6000,RESOLUTION=426x240,\
         FRAME-RATE=30.000,CODECS=\"avc1.64001e,mp4a.40.2\",AUDIO=\"audio\"\n240p.m3u8\n\
         #EXT-X-STREAM-INF:BANDWIDTH=10000,AVERAGE-BANDWIDTH=7500,RESOLUTION=854x480,\
         FRAME-RATE=30.000,CODECS=\"avc1.64001f,mp4a.40.2\",AUDIO=\"audio\"\n480p.m3u8\n"
    );

    // The audio playlist is PeerTube-shaped too: init and segments as byte ranges of one file.
    let audio =
        parse_media_playlist(&fs::read_to_string(split.join("audio.m3u8")).unwrap()).unwrap();
    let init = audio.init.unwrap();
    assert_eq!(init.uri, "audio.mp4");
    let init_len = fake_init(Tracks::Audio, 0).len() as u64;
    assert_eq!(init.range.unwrap().length, init_len);
    assert_eq!(audio.segments.len(), 2);
    assert!(audio.segments.iter().all(|s| s.uri == "audio.mp4"));
    assert_eq!(audio.segments[0].range.unwrap().offset, init_len);

    // Every file of the sample, audio included, is in the integrity file.
    let integrity: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(split.join("segments-sha256.json")).unwrap())
            .unwrap();
    let mut files: Vec<&String> = integrity.as_object().unwrap().keys().collect();
    files.sort();
    assert_eq!(files, ["240p.mp4", "480p.mp4", "audio.mp4"]);
    let audio_file = fake.output("audio.mp4");
    let start = init_len as usize;
    let end = start + 3000 - 1;
    assert_eq!(
        integrity["audio.mp4"][format!("{start}-{end}")],
        format!("{:x}", Sha256::digest(&audio_file[start..=end]))
    );
    assert!(split.join("video.json").is_file());

    // The muxed sample's stamp never passes for the split one, and the other way round.
    assert_eq!(ensure_vod_sample(&opts).unwrap(), Outcome::UpToDate);
    assert_ne!(opts.stamp(), fake.options(media.path()).stamp());
}

#[test]
fn failed_generation_keeps_the_old_sample_and_leaves_nothing_behind() {
    let media = tempfile::tempdir().unwrap();
    let vod = media.path().join("vod");
    fs::create_dir_all(&vod).unwrap();
    fs::write(vod.join("master.m3u8"), "old").unwrap();

    let failing = Fake::new(1);
    let err = ensure_vod_sample(&failing.options(media.path())).unwrap_err();
    assert!(err.to_string().contains("ffmpeg failed"), "{err}");
    assert_eq!(fs::read_to_string(vod.join("master.m3u8")).unwrap(), "old");
    assert!(leftovers(media.path()).is_empty());

    // Outputs of the wrong length (8 s expected, 120 s asked) are rejected, not installed.
    let fake = Fake::new(0);
    let mut opts = fake.options(media.path());
    opts.duration_secs = 120;
    let err = ensure_vod_sample(&opts).unwrap_err();
    assert!(err.to_string().contains("total duration"), "{err}");
    assert_eq!(fs::read_to_string(vod.join("master.m3u8")).unwrap(), "old");
    assert!(leftovers(media.path()).is_empty());
}

#[test]
fn missing_ffmpeg_explains_how_to_proceed() {
    let media = tempfile::tempdir().unwrap();
    let mut opts = VodOptions::new(media.path());
    opts.ffmpeg = media.path().join("no-such-ffmpeg");
    opts.progress = false;
    let err = ensure_vod_sample(&opts).unwrap_err().to_string();
    assert!(err.contains("--no-generate"), "{err}");
    assert!(!media.path().join("vod").exists());
}

/// Runs the real encoder on an 8 s sample: `cargo test -p shoal-demo -- --ignored`.
#[test]
#[ignore = "needs ffmpeg; takes a few seconds"]
fn real_ffmpeg_short_sample() {
    let media = tempfile::tempdir().unwrap();
    let mut opts = VodOptions::new(media.path());
    opts.duration_secs = 8;
    ensure_vod_sample(&opts).unwrap();
    let vod = media.path().join("vod");
    for r in &VOD_RENDITIONS {
        let playlist = fs::read_to_string(vod.join(format!("{}.m3u8", r.name))).unwrap();
        assert!(playlist.contains(&format!("#EXT-X-MAP:URI=\"{}.mp4\",BYTERANGE=\"", r.name)));
        assert_eq!(playlist.matches("#EXT-X-BYTERANGE:").count(), 2);
        assert_eq!(playlist.matches("#EXTINF:4.0").count(), 2);
    }
    let master = fs::read_to_string(vod.join("master.m3u8")).unwrap();
    assert!(
        master.contains("CODECS=\"avc1.64001e,mp4a.40.2\""),
        "{master}"
    );
}

/// Runs the real encoder on an 8 s split sample: `cargo test -p shoal-demo -- --ignored`.
#[test]
#[ignore = "needs ffmpeg; takes a few seconds"]
fn real_ffmpeg_short_split_sample() {
    let media = tempfile::tempdir().unwrap();
    let mut opts = VodOptions::split(media.path());
    opts.duration_secs = 8;
    ensure_vod_sample(&opts).unwrap();
    let split = media.path().join("vod-split");
    for r in &SPLIT_RENDITIONS {
        let text = fs::read_to_string(split.join(format!("{}.m3u8", r.name))).unwrap();
        assert!(text.contains(&format!("#EXT-X-MAP:URI=\"{}.mp4\",BYTERANGE=\"", r.name)));
        let playlist = parse_media_playlist(&text).unwrap();
        assert!(playlist.segments.iter().all(|s| s.range.is_some()));
        assert!((playlist.total_duration() - 8.0).abs() < 0.1, "{text}");
        // Audio-only segments are cut on AAC frames (21.3 ms), not keyframes, so they are only
        // about 4 s long, and the encoder's priming frame can leave a one-frame last segment.
        match r.tracks {
            Tracks::Audio => assert!((2..=3).contains(&playlist.segments.len()), "{text}"),
            _ => assert_eq!(playlist.segments.len(), 2, "{text}"),
        }
    }
    // Codecs come from each init: a video file with audio in it would show mp4a twice.
    let master = fs::read_to_string(split.join("master.m3u8")).unwrap();
    assert!(
        master.contains(
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"Audio\",AUTOSELECT=YES,\
             DEFAULT=YES,URI=\"audio.m3u8\"\n"
        ),
        "{master}"
    );
    assert!(
        master.contains("CODECS=\"avc1.64001e,mp4a.40.2\",AUDIO=\"audio\"\n240p.m3u8\n"),
        "{master}"
    );
    assert!(
        master.contains("CODECS=\"avc1.64001f,mp4a.40.2\",AUDIO=\"audio\"\n480p.m3u8\n"),
        "{master}"
    );
    let integrity: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(split.join("segments-sha256.json")).unwrap())
            .unwrap();
    for file in ["240p.mp4", "480p.mp4", "audio.mp4"] {
        assert!(integrity[file].as_object().unwrap().len() >= 2, "{file}");
    }
}
