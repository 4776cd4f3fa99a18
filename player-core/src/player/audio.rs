//! Separate audio renditions (`#EXT-X-MEDIA:TYPE=AUDIO` with a URI, as PeerTube produces when
//! it splits audio from video): the audio lane plays the rendition's media playlist on a
//! second SourceBuffer, [`AUDIO_TRACK`], kept in step with the video on `MAIN_TRACK`.
//!
//! - **Choice**: in the starting variant's `AUDIO` group, the rendition with `DEFAULT=YES`,
//!   else `AUTOSELECT=YES`, else the first (RFC 8216 4.3.4.1.1). A chosen rendition without a
//!   URI has its audio in the variant's own stream, and a variant whose CODECS are all audio
//!   is audio-only: both play on one SourceBuffer as before.
//! - **SourceBuffers**: the variant's CODECS (RFC 8216 4.3.4.2: every codec, the audio
//!   rendition's included) are split: audio codecs go to the audio SourceBuffer, the rest to
//!   the video's; AAC-LC is assumed when no audio codec is listed.
//! - **Fetching**: the init segment and the segments over HTTP, for the same forward window
//!   (by time) as the video, with the same retry policy and within the same concurrency
//!   limit: the audio is a lane like the video (lane.rs), fetched, cancelled, released after
//!   evictions and appended by the same code; this module adds what is the audio's own (the
//!   rendition's choice and playlist, its codecs, its pace beside the video). The audio goes first whenever it is loaded no further ahead than the video, and
//!   it is never fetched beyond the video segments loaded or being loaded (the segment at the
//!   playhead aside): neither track holds the other back, and the two buffers stay within
//!   about a segment of each other. Counted in the HTTP statistics and in the origin's
//!   throughput measurement like the video.
//! - **Buffer**: each lane reads its own SourceBuffer's ranges (the element's are the
//!   intersection, which ends where the lagging track ends) to notice evictions. A
//!   QuotaExceededError on either track evicts played media of both; the stream ends once
//!   both tracks hold everything to the end.
//! - **Level switches** change the video only: the buffered audio stays and is not fetched
//!   again. The group of the starting variant is kept for all levels (the variants of one
//!   multivariant playlist share their audio group in practice, as PeerTube's do).
//! - **P2P** carries the video track only; the audio always comes from the origin. Audio
//!   swarms (p2p-media-loader's `StreamType::Secondary`) are future work.
//! - **Live** streams with separate audio are refused (`Unsupported`) for now: the audio
//!   playlist would need reloads of its own and a timeline aligned with the video's.

use super::lane::{self, Lane};
use super::{
    media, ErrorKind, FetchOrder, Output, Player, RequestId, RequestKind, TrackId, TrackSpec,
    THIN_BUFFER_SEGMENTS,
};
use crate::hls::{parse_playlist, MediaPlaylist, Playlist, Rendition, RenditionKind, Variant};
use crate::schedule::{Slot, SlotTable};
use crate::time::Instant;

/// The SourceBuffer of a separate audio rendition.
pub(super) const AUDIO_TRACK: TrackId = TrackId(1);

/// Why a live stream with separate audio does not play.
const LIVE_UNSUPPORTED: &str =
    "live streams with a separate audio rendition (EXT-X-MEDIA TYPE=AUDIO) are not supported yet";

/// The audio rendition played beside the video.
#[derive(Debug)]
pub(super) struct AudioLane {
    /// The rendition's media playlist.
    url: String,
    /// Codecs for the audio SourceBuffer, from the variant's CODECS.
    codecs: String,
    /// Loading the media playlist (once).
    load: Slot,
    media: Option<AudioMedia>,
}

/// The rendition's playlist, once loaded, and the state of its segments.
#[derive(Debug)]
struct AudioMedia {
    playlist: MediaPlaylist,
    slots: SlotTable,
    mime: String,
}

/// The audio rendition `variant` plays with when its audio is a playlist of its own.
pub(super) fn choose_rendition<'a>(
    variant: &Variant,
    renditions: &'a [Rendition],
) -> Option<&'a Rendition> {
    let group = variant.audio_group.as_deref()?;
    if media::is_audio_only(variant.codecs.as_deref()) {
        return None;
    }
    let group: Vec<&Rendition> = renditions
        .iter()
        .filter(|r| r.kind == RenditionKind::Audio && r.group_id == group)
        .collect();
    let chosen = group
        .iter()
        .find(|r| r.default)
        .or_else(|| group.iter().find(|r| r.autoselect))
        .or(group.first())?;
    chosen.uri.is_some().then_some(*chosen)
}

impl AudioLane {
    /// The lane for `variant`, if it plays with a separate audio rendition.
    pub(super) fn for_variant(variant: &Variant, renditions: &[Rendition]) -> Option<AudioLane> {
        let rendition = choose_rendition(variant, renditions)?;
        let (_, codecs) = media::split_codecs(variant.codecs.as_deref());
        Some(AudioLane {
            url: rendition.uri.clone()?,
            codecs,
            load: Slot::NEW,
            media: None,
        })
    }

    /// The rendition's media playlist and its slots, once loaded.
    pub(super) fn media(&self) -> Option<(&MediaPlaylist, &SlotTable)> {
        self.media.as_ref().map(|m| (&m.playlist, &m.slots))
    }

    /// The rendition's media playlist and its slots, once loaded.
    pub(super) fn media_mut(&mut self) -> Option<(&MediaPlaylist, &mut SlotTable)> {
        self.media.as_mut().map(|m| (&m.playlist, &mut m.slots))
    }

    /// The slot of the audio playlist's load, and what to call it in an error.
    fn playlist_slot(&mut self) -> (&mut Slot, String) {
        (&mut self.load, format!("audio playlist {}", self.url))
    }
}

impl Player {
    /// The MIME type of the video SourceBuffer for `level`: the variant's codecs without the
    /// audio ones when a separate audio rendition plays beside it.
    pub(super) fn video_mime(
        &self,
        level: usize,
        playlist: &MediaPlaylist,
    ) -> Result<String, String> {
        let codecs = self.variants.get(level).and_then(|v| v.codecs.as_deref());
        if self.audio.is_none() {
            return media::mime_type(codecs, playlist);
        }
        let (video, _) = media::split_codecs(codecs);
        media::mime_type(Some(&video), playlist)
    }

    /// A live stream cannot play with separate audio (yet): refuses it.
    pub(super) fn refuse_live_split_audio(&mut self, playlist: &MediaPlaylist) -> bool {
        if self.audio.is_none() || playlist.ended {
            return false;
        }
        self.fail(ErrorKind::Unsupported, LIVE_UNSUPPORTED.into());
        true
    }

    /// Whether SourceBuffers must wait for the audio playlist.
    pub(super) fn audio_pending(&self) -> bool {
        self.audio.as_ref().is_some_and(|lane| lane.media.is_none())
    }

    /// The audio SourceBuffer to create, if the stream has separate audio.
    pub(super) fn audio_track_spec(&self) -> Option<TrackSpec> {
        let media = self.audio.as_ref()?.media.as_ref()?;
        Some(TrackSpec {
            track: AUDIO_TRACK,
            mime: media.mime.clone(),
            // Live streams with separate audio are refused: the audio is always a VOD.
            sequence_mode: false,
        })
    }

    /// Starts loading the audio playlist, alongside the video's.
    pub(super) fn load_audio_playlist_if_due(&mut self) {
        let now = self.now;
        let Some(lane) = self.audio.as_mut() else {
            return;
        };
        lane.load.wake_if_retry_due(now);
        let Slot::Idle { failed_attempts } = lane.load else {
            return;
        };
        if lane.media.is_some() {
            return;
        }
        let url = lane.url.clone();
        let request = self.new_request(RequestKind::AudioPlaylist, None);
        if let Some(lane) = self.audio.as_mut() {
            lane.load = Slot::Fetching {
                request,
                failed_attempts,
            };
        }
        self.outputs
            .push_back(Output::Fetch(FetchOrder::playlist(request, url)));
    }

    /// The audio playlist arrived.
    pub(super) fn on_audio_playlist(&mut self, text: String) {
        let Some(lane) = self.audio.as_mut() else {
            return;
        };
        lane.load = Slot::NEW;
        let url = lane.url.clone();
        let playlist = match parse_playlist(text.as_bytes(), &url) {
            Ok(Playlist::Media(playlist)) => playlist,
            Ok(Playlist::Multivariant(_)) => {
                let message =
                    format!("{url} is a multivariant playlist, expected a media playlist");
                return self.fail(ErrorKind::PlaylistParse, message);
            }
            Err(error) => {
                let message = format!("cannot read playlist {url}: {error}");
                return self.fail(ErrorKind::PlaylistParse, message);
            }
        };
        if let Err(message) = media::check_playable(&playlist) {
            return self.fail(ErrorKind::Unsupported, message);
        }
        if !playlist.ended {
            return self.fail(ErrorKind::Unsupported, LIVE_UNSUPPORTED.into());
        }
        let mime = match media::mime_type(Some(&lane.codecs), &playlist) {
            Ok(mime) => mime,
            Err(message) => return self.fail(ErrorKind::Unsupported, message),
        };
        let slots = SlotTable::new(&playlist);
        lane.media = Some(AudioMedia {
            playlist,
            slots,
            mime,
        });
    }

    /// The slot an audio request belongs to, and its name for error messages.
    pub(super) fn audio_slot_of_kind(&mut self, kind: RequestKind) -> Option<(&mut Slot, String)> {
        match Lane::of_request(kind) {
            Some((Lane::Audio, item)) => {
                Some(self.lane_media_mut(Lane::Audio)?.slot_and_name(item))
            }
            _ if kind == RequestKind::AudioPlaylist => Some(self.audio.as_mut()?.playlist_slot()),
            _ => None,
        }
    }

    /// Seconds of audio loaded contiguously ahead of `position_s`; `None` without separate
    /// audio.
    pub(super) fn audio_loaded_ahead_s(&self, position_s: f64, target_s: f64) -> Option<f64> {
        let media = self.audio.as_ref()?.media.as_ref()?;
        let window = SlotTable::window(&media.playlist, position_s, target_s);
        Some(
            media
                .slots
                .loaded_ahead_s(&media.playlist, position_s, window.start),
        )
    }

    /// Cancels the audio the playhead no longer needs and wakes retries that are due.
    pub(super) fn prune_audio_fetches(&mut self, position_s: f64, target_s: f64) {
        let Some(media) = self.audio_media() else {
            return;
        };
        let window = SlotTable::window(&media.playlist, position_s, target_s);
        // The audio is neither checked nor downloaded from peers: an HTTP cancel ends all.
        self.prune_fetches(Lane::Audio, window);
    }

    /// Starts audio downloads for the forward window, nearest first, over HTTP.
    pub(super) fn schedule_audio_fetches(&mut self, position_s: f64, target_s: f64) {
        let Some(ahead_s) = self.audio_loaded_ahead_s(position_s, target_s) else {
            return;
        };
        let Some(media) = self.audio.as_ref().and_then(|l| l.media.as_ref()) else {
            return;
        };
        let window = SlotTable::window(&media.playlist, position_s, target_s);
        let thin_buffer = ahead_s < THIN_BUFFER_SEGMENTS * media.playlist.target_duration_s;
        self.schedule_http_fetches(Lane::Audio, window, thin_buffer);
    }

    fn audio_media(&self) -> Option<&AudioMedia> {
        self.audio.as_ref()?.media.as_ref()
    }

    fn audio_media_mut(&mut self) -> Option<&mut AudioMedia> {
        self.audio.as_mut()?.media.as_mut()
    }

    /// Whether an audio append is under way.
    pub(super) fn audio_appending(&self) -> bool {
        self.audio_media().is_some_and(|media| {
            let appending = |slot: &Slot| matches!(slot, Slot::Appending { .. });
            media.slots.segments.iter().any(appending) || media.slots.inits.iter().any(appending)
        })
    }

    /// Hands fetched audio to the audio SourceBuffer in order, each segment after its init
    /// segment; only one append when `one_only`.
    pub(super) fn schedule_audio_appends(&mut self, one_only: bool) {
        let Some(media) = self.audio_media_mut() else {
            return;
        };
        let orders = lane::order_appends(
            &mut media.slots,
            &media.playlist,
            AUDIO_TRACK,
            one_only,
            |_, request| Output::Append {
                track: AUDIO_TRACK,
                request,
                keep: false,
                timestamp_offset_s: None,
            },
        );
        self.outputs.extend(orders);
    }

    /// An append finished: true if it was audio.
    pub(super) fn on_audio_append_done(&mut self, request: RequestId) -> bool {
        let Some(slot) = self.lane_slot_of_request(Lane::Audio, request) else {
            return false;
        };
        *slot = Slot::Appended;
        self.appends_one_at_a_time = false;
        true
    }

    /// The audio SourceBuffer was replaced by an empty one (recover.rs): see
    /// [`SlotTable::forget_buffer`].
    pub(super) fn forget_audio_buffer(&mut self) -> Vec<RequestId> {
        self.audio_media_mut()
            .map_or_else(Vec::new, |media| media.slots.forget_buffer())
    }

    /// Whether the audio (if separate) is appended from `position_s` to the end.
    pub(super) fn audio_complete(&self, position_s: f64) -> bool {
        if self.audio.is_none() {
            return true;
        }
        self.lane_media(Lane::Audio)
            .is_some_and(|media| media.appended_to_end(position_s) == Some(true))
    }

    /// Whether the audio (if separate) at `position_s` is appended.
    pub(super) fn audio_appended_at(&self, position_s: f64) -> bool {
        if self.audio.is_none() {
            return true;
        }
        self.lane_media(Lane::Audio)
            .is_some_and(|media| media.appended_at(position_s))
    }

    /// The earliest retry the audio lane waits for.
    pub(super) fn audio_retry_at(&self) -> Option<Instant> {
        let lane = self.audio.as_ref()?;
        let segments = self
            .lane_media(Lane::Audio)
            .and_then(|media| media.slots.earliest_retry());
        lane.load.retry_at().into_iter().chain(segments).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hls::{parse_playlist, Playlist};

    fn multivariant(text: &str) -> (Vec<Variant>, Vec<Rendition>) {
        match parse_playlist(text.as_bytes(), "http://x/master.m3u8").unwrap() {
            Playlist::Multivariant(m) => (m.variants, m.renditions),
            Playlist::Media(_) => unreachable!(),
        }
    }

    #[test]
    fn the_default_rendition_of_the_group_is_chosen() {
        let (variants, renditions) = multivariant(
            "#EXTM3U\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"fr\",AUTOSELECT=YES,URI=\"fr.m3u8\"\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"en\",DEFAULT=YES,URI=\"en.m3u8\"\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"b\",NAME=\"x\",DEFAULT=YES,URI=\"x.m3u8\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1000,CODECS=\"avc1.64001f,mp4a.40.2\",AUDIO=\"a\"\n\
             v.m3u8\n",
        );
        let lane = AudioLane::for_variant(&variants[0], &renditions).unwrap();
        assert_eq!(lane.url, "http://x/en.m3u8");
        assert_eq!(lane.codecs, "mp4a.40.2");
    }

    #[test]
    fn autoselect_then_first() {
        let (variants, renditions) = multivariant(
            "#EXTM3U\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"fr\",URI=\"fr.m3u8\"\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"en\",AUTOSELECT=YES,URI=\"en.m3u8\"\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"b\",NAME=\"x\",URI=\"x.m3u8\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1000,CODECS=\"avc1.64001f\",AUDIO=\"a\"\n\
             v.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1000,AUDIO=\"b\"\n\
             w.m3u8\n",
        );
        let lane = AudioLane::for_variant(&variants[0], &renditions).unwrap();
        assert_eq!(lane.url, "http://x/en.m3u8");
        assert_eq!(
            lane.codecs, "mp4a.40.2",
            "AAC-LC when CODECS names no audio"
        );
        let lane = AudioLane::for_variant(&variants[1], &renditions).unwrap();
        assert_eq!(lane.url, "http://x/x.m3u8");
    }

    #[test]
    fn muxed_audio_and_audio_only_variants_need_no_lane() {
        let (variants, renditions) = multivariant(
            "#EXTM3U\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"main\",DEFAULT=YES\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"other\",URI=\"o.m3u8\"\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"b\",NAME=\"x\",DEFAULT=YES,URI=\"x.m3u8\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1000,CODECS=\"avc1.64001f,mp4a.40.2\",AUDIO=\"a\"\n\
             v.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=100,CODECS=\"mp4a.40.2\",AUDIO=\"b\"\n\
             x.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1000,CODECS=\"avc1.64001f,mp4a.40.2\"\n\
             y.m3u8\n",
        );
        // The default rendition's audio is in the variant's own stream.
        assert!(AudioLane::for_variant(&variants[0], &renditions).is_none());
        // An audio-only variant plays alone.
        assert!(AudioLane::for_variant(&variants[1], &renditions).is_none());
        // No AUDIO group.
        assert!(AudioLane::for_variant(&variants[2], &renditions).is_none());
    }
}
