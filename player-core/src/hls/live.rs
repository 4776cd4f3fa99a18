//! Live playlists (RFC 8216 6.3.4): folding each reload into the segments already known, and
//! placing another level's playlist on the same timeline.
//!
//! The player keeps every live segment it has seen in one growing [`MediaPlaylist`], so a
//! segment keeps its index (and its start time) while the server's window slides; what the
//! server still lists starts at [`LiveMerge::window_start`]. Segments are matched by media
//! sequence number.

use super::model::MediaPlaylist;

/// What one reload changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveMerge {
    /// Segments appended to the known ones.
    pub added: usize,
    /// Index of the first segment the server still lists.
    pub window_start: usize,
}

/// Why a reload cannot be folded into what is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveMergeError {
    /// The media sequence went backwards: the stream restarted.
    SequenceWentBack {
        known_first: u64,
        reloaded_first: u64,
    },
    /// Segments were missed between the last known one and the reload's first (the reload
    /// came too late).
    Gap {
        next_known: u64,
        reloaded_first: u64,
    },
}

impl std::fmt::Display for LiveMergeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            LiveMergeError::SequenceWentBack {
                known_first,
                reloaded_first,
            } => write!(
                f,
                "the live playlist's media sequence went back from {known_first} to {reloaded_first}"
            ),
            LiveMergeError::Gap {
                next_known,
                reloaded_first,
            } => write!(
                f,
                "segments {next_known} to {} were missed between two reloads",
                reloaded_first.saturating_sub(1)
            ),
        }
    }
}

impl MediaPlaylist {
    /// Folds a reload of this live playlist in: segments not known yet are appended after the
    /// last known one (their start times continue the timeline), and `ended`, the target
    /// duration and the init segments follow the reload.
    pub fn merge_reload(&mut self, reload: MediaPlaylist) -> Result<LiveMerge, LiveMergeError> {
        let known_first = self
            .segments
            .first()
            .map_or(reload.media_sequence, |s| s.sequence);
        let next_known = known_first + self.segments.len() as u64;
        let reloaded_first = reload
            .segments
            .first()
            .map_or(reload.media_sequence, |s| s.sequence);
        if reloaded_first < known_first {
            return Err(LiveMergeError::SequenceWentBack {
                known_first,
                reloaded_first,
            });
        }
        if reloaded_first > next_known {
            return Err(LiveMergeError::Gap {
                next_known,
                reloaded_first,
            });
        }
        let mut added = 0;
        let mut end_s = self.duration_s();
        for mut segment in reload.segments {
            if segment.sequence < next_known {
                continue;
            }
            segment.init_segment = segment.init_segment.map(|i| {
                let init = &reload.init_segments[i];
                match self.init_segments.iter().position(|known| known == init) {
                    Some(known) => known,
                    None => {
                        self.init_segments.push(init.clone());
                        self.init_segments.len() - 1
                    }
                }
            });
            segment.start_s = end_s;
            end_s += segment.duration_s;
            self.segments.push(segment);
            added += 1;
        }
        self.ended = reload.ended;
        self.target_duration_s = reload.target_duration_s;
        Ok(LiveMerge {
            added,
            window_start: (reloaded_first - known_first) as usize,
        })
    }

    /// Shifts this playlist's times so that a segment it shares (by media sequence) with
    /// `timeline` starts where it does there: another level of the same live stream, loaded
    /// fresh, joins the timeline the player already plays on. Without a shared segment, the
    /// first one is placed after `timeline`'s last as if the missing ones lasted a target
    /// duration each.
    pub fn align_to(&mut self, timeline: &MediaPlaylist) {
        let Some(first) = self.segments.first() else {
            return;
        };
        let Some(timeline_first) = timeline.segments.first() else {
            return;
        };
        let shared = self.segments.iter().find_map(|segment| {
            let index = segment.sequence.checked_sub(timeline_first.sequence)?;
            let known = timeline.segments.get(usize::try_from(index).ok()?)?;
            Some(known.start_s - segment.start_s)
        });
        let shift = shared.unwrap_or_else(|| {
            let next_known = timeline_first.sequence + timeline.segments.len() as u64;
            let missing = first.sequence.saturating_sub(next_known) as f64;
            timeline.duration_s() + missing * timeline.target_duration_s - first.start_s
        });
        for segment in &mut self.segments {
            segment.start_s += shift;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hls::{parse_playlist, Playlist};

    /// A live window of `count` 2 s segments from media sequence `first`.
    fn window(first: u64, count: u64, ended: bool) -> MediaPlaylist {
        let mut text = format!(
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:{first}\n\
             #EXT-X-MAP:URI=\"init.mp4\"\n"
        );
        for sequence in first..first + count {
            text.push_str(&format!("#EXTINF:2.0,\nseg{sequence}.m4s\n"));
        }
        if ended {
            text.push_str("#EXT-X-ENDLIST\n");
        }
        match parse_playlist(text.as_bytes(), "http://x/live/index.m3u8").unwrap() {
            Playlist::Media(m) => m,
            Playlist::Multivariant(_) => unreachable!(),
        }
    }

    #[test]
    fn a_reload_appends_new_segments_and_the_window_slides() {
        let mut known = window(10, 4, false);
        let merge = known.merge_reload(window(12, 4, false)).unwrap();
        assert_eq!(
            merge,
            LiveMerge {
                added: 2,
                window_start: 2
            }
        );
        let sequences: Vec<u64> = known.segments.iter().map(|s| s.sequence).collect();
        assert_eq!(sequences, vec![10, 11, 12, 13, 14, 15]);
        assert_eq!(known.segments[5].start_s, 10.0);
        assert_eq!(known.segments[5].uri, "http://x/live/seg15.m4s");
        assert_eq!(known.init_segments.len(), 1);
        assert_eq!(known.segments[5].init_segment, Some(0));
        assert!(!known.ended);
    }

    #[test]
    fn an_unchanged_reload_adds_nothing_and_endlist_ends_the_stream() {
        let mut known = window(10, 4, false);
        let merge = known.merge_reload(window(10, 4, false)).unwrap();
        assert_eq!(merge.added, 0);
        let merge = known.merge_reload(window(11, 4, true)).unwrap();
        assert_eq!(merge.added, 1);
        assert!(known.ended);
    }

    #[test]
    fn missed_segments_and_restarts_are_errors() {
        let mut known = window(10, 4, false);
        assert_eq!(
            known.merge_reload(window(20, 4, false)),
            Err(LiveMergeError::Gap {
                next_known: 14,
                reloaded_first: 20
            })
        );
        assert!(matches!(
            known.merge_reload(window(3, 4, false)),
            Err(LiveMergeError::SequenceWentBack { .. })
        ));
        assert_eq!(known.segments.len(), 4, "a refused reload changes nothing");
    }

    #[test]
    fn another_level_is_aligned_on_shared_sequences() {
        let mut timeline = window(10, 4, false);
        timeline.merge_reload(window(12, 4, false)).unwrap();
        let mut other = window(13, 4, false);
        other.align_to(&timeline);
        assert_eq!(other.segments[0].start_s, 6.0, "sequence 13 starts at 6 s");
        let mut later = window(18, 2, false);
        later.align_to(&timeline);
        // 16 and 17 are missing: 12 s of known timeline + 2 x 2 s.
        assert_eq!(later.segments[0].start_s, 16.0);
    }
}
