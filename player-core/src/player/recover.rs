//! Recovering the media element after an append or decode error.
//!
//! In a browser, an append that fails for any reason but a full buffer runs MSE's "append
//! error" algorithm: the MediaSource is ended with a decode error, the media element gets
//! `MEDIA_ERR_DECODE` and plays nothing more. A decoder failing on media it had accepted ends
//! the same way. The only way on is a new MediaSource ([`Output::RecreateMedia`]), as hls.js's
//! `recoverMediaError` does. Everything the old SourceBuffers held is gone with them: segments
//! and init segments appended or being appended are fetched again (bodies fetched and not yet
//! appended stay in the store and are appended to the new SourceBuffers), appends and
//! evictions under way are forgotten, and once the host reports the new MediaSource open
//! ([`Input::MediaSourceOpen`]) the SourceBuffers are created again and playback resumes at
//! the position it had (the start position mechanism seeks there).
//!
//! - **Bytes a peer sent unchecked** (no integrity file to check them against, verify.rs) that
//!   the element refuses ban their peer; the segment comes from the origin.
//! - **Bytes from the origin** that the element refuses may have been damaged on the way: the
//!   segment is fetched once more. Refused again, it is the fatal [`ErrorKind::MediaAppend`].
//! - **An error of the media element itself** ([`Input::MediaError`]) recovers the same way.
//! - At most [`MAX_MEDIA_RECOVERIES`] recoveries per `Load`: after that a refusal of origin
//!   bytes or an element error is fatal ([`ErrorKind::MediaAppend`]), so a stream the browser
//!   cannot play does not loop. Bad peer bytes never end playback: past the bound, peers are
//!   not used again for this `Load` (each bad body still costs a recovery, but no new one can
//!   arrive).
//!
//! Each recovery is reported with [`Event::MediaRecovered`].

use std::collections::BTreeSet;

use super::io::{ErrorKind, Event, Output, RecoveryReason};
use super::lane::{Lane, MediaItem};
use super::{Player, RequestId, RequestKind, Slot};

/// Recoveries allowed per `Load` before an element failure is fatal.
pub(super) const MAX_MEDIA_RECOVERIES: u32 = 3;

/// A piece of media the element refused, named so that it is recognised when it comes again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct RefusedPiece {
    lane: Lane,
    /// The video's level (0 for the audio).
    level: usize,
    init: bool,
    /// The media sequence number of a video segment (it stays put as a live window slides),
    /// the index in its playlist of anything else.
    id: u64,
}

/// Media element recoveries of one `Load`.
#[derive(Debug, Default)]
pub(super) struct Recovery {
    /// Recoveries so far.
    count: u32,
    /// Pieces from the origin the element refused once already.
    refused_from_origin: BTreeSet<RefusedPiece>,
    /// Too many recoveries came from bad peer bytes: no more P2P for this `Load`.
    pub(super) peers_refused: bool,
}

impl Player {
    /// An append failed, not for lack of space: the media element is dead.
    pub(super) fn on_media_refused(&mut self, request: RequestId, message: &str) {
        if self.on_unchecked_append_failed(request) {
            // The peer is banned and the segment comes from the origin.
            if self.recovery.count >= MAX_MEDIA_RECOVERIES {
                self.recovery.peers_refused = true;
                self.leave_swarm();
            }
            return self.recover_media(RecoveryReason::PeerSegment, message);
        }
        let Some(piece) = self.refused_piece(request) else {
            // Not an append under way (a stale report): nothing to recover.
            return;
        };
        if let Some(slot) = self.lane_slot_of_request(piece.lane, request) {
            *slot = Slot::NEW;
        }
        self.forget_refused_append(request);
        let refused_before = !self.recovery.refused_from_origin.insert(piece);
        if refused_before {
            return self.fail(
                ErrorKind::MediaAppend,
                format!("the browser refused the media again after a recovery: {message}"),
            );
        }
        self.recover_unless_too_often(RecoveryReason::AppendError, message);
    }

    /// Forgets the body of an append the element refused. The host frees such a body
    /// itself: nothing to release.
    pub(super) fn forget_refused_append(&mut self, request: RequestId) {
        self.body_bytes.remove(&request);
        self.kept_appends.remove(&request);
        if let Some(stream) = self.stream.as_mut() {
            // Sequence mode must not place the next segment after one that is not there.
            stream.last_append = None;
        }
    }

    /// The media element reported an error of its own.
    pub(super) fn on_media_error(&mut self, message: &str) {
        let recovering = self.recovery.count > 0 && !self.media_source_open;
        if self.stopped || recovering {
            // While a new MediaSource is being attached the error is the old element's.
            return;
        }
        self.recover_unless_too_often(RecoveryReason::DecodeError, message);
    }

    fn recover_unless_too_often(&mut self, reason: RecoveryReason, message: &str) {
        if self.recovery.count >= MAX_MEDIA_RECOVERIES {
            return self.fail(
                ErrorKind::MediaAppend,
                format!(
                    "the media element failed after {MAX_MEDIA_RECOVERIES} recoveries: {message}"
                ),
            );
        }
        self.recover_media(reason, message);
    }

    /// Cancels the HTTP downloads of media under way: they are for media ahead of what the old
    /// element held, and they would keep the connection from the media at the playhead, which
    /// the new element needs first. They start again nearest first.
    fn restart_media_downloads(&mut self) {
        let downloads: Vec<(RequestId, RequestKind)> = self
            .requests
            .iter()
            .filter(|(_, r)| r.kind.is_media() && r.resumed_from.is_none())
            .map(|(&request, r)| (request, r.kind))
            .collect();
        for (request, kind) in downloads {
            self.cancel_http(request);
            let Some((lane, _)) = Lane::of_request(kind) else {
                continue;
            };
            if let Some(slot) = self.lane_slot_of_request(lane, request) {
                if let Slot::Fetching {
                    failed_attempts, ..
                } = *slot
                {
                    *slot = Slot::Idle { failed_attempts };
                }
            }
        }
    }

    /// Which piece of media the append of `request` is.
    fn refused_piece(&self, request: RequestId) -> Option<RefusedPiece> {
        let audio = self
            .lane_media(Lane::Audio)
            .and_then(|a| a.appending(request));
        if let Some(item) = audio {
            let (init, index) = match item {
                MediaItem::Init(index) => (true, index),
                MediaItem::Segment(index) => (false, index),
            };
            return Some(RefusedPiece {
                lane: Lane::Audio,
                level: 0,
                init,
                id: index as u64,
            });
        }
        let stream = self.stream.as_ref()?;
        let (init, id) = match self.lane_media(Lane::Video)?.appending(request)? {
            MediaItem::Init(index) => (true, index as u64),
            MediaItem::Segment(index) => (false, stream.segment_id(index)),
        };
        Some(RefusedPiece {
            lane: Lane::Video,
            level: stream.level,
            init,
            id,
        })
    }

    /// Orders a new MediaSource and forgets everything that assumed the old SourceBuffers.
    fn recover_media(&mut self, reason: RecoveryReason, message: &str) {
        self.recovery.count += 1;
        self.outputs.push_back(Output::RecreateMedia);
        self.media_source_open = false;
        self.source_buffers_created = false;
        self.evictions_pending = 0;
        self.appends_blocked_until = None;
        self.appends_one_at_a_time = false;
        self.end_of_stream_sent = false;
        self.last_gap_jump_s = None;
        // Playback resumes where it was: the new element is sought there once it has media.
        let position_s = self.snapshot.position_s;
        self.pending_start_s.get_or_insert(position_s);
        self.start_reseek_at = None;
        self.levels.forget_buffer();
        let mut appending = Vec::new();
        if let Some(stream) = self.stream.as_mut() {
            appending.extend(stream.slots.forget_buffer());
            stream.last_append = None;
        }
        appending.extend(self.forget_audio_buffer());
        for request in appending {
            self.discard_body(request);
        }
        self.restart_media_downloads();
        self.event(Event::MediaRecovered {
            reason,
            message: message.to_owned(),
        });
    }
}
