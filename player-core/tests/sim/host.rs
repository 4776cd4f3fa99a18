//! One viewer's host: a real [`Player`] and the part the JS shim plays for it. It carries out
//! the core's orders (HTTP through the shared origin, appends and evictions on its own media
//! element, tracker and peer orders through the shared tracker and network), keeps the
//! bodies the core stores, reports facts back, and records everything the scenario tests
//! assert on (log.rs). Broken rules go to `violations`, which the simulation collects.

use std::collections::BTreeMap;

use player_core::integrity::sha256;
use player_core::p2p::wire::PeerCommand;
use player_core::player::{FetchOrder, FetchPurpose, RequestId, TrackId};
use player_core::swarm::ConnectionId;
use player_core::{Config, Duration, Event, Input, Instant, Output, Player};

use super::body::Body;
use super::clock::{secs, EventQueue};
use super::log::{AppendRecord, FetchRecord, HttpEnd, Log};
use super::media::{MediaConfig, MediaElement, Piece, SourceBufferOp, AUDIO_TRACK};
use super::network::Network;
use super::origin::{Content, HttpStep, Origin, Resource};
use super::tracker::Tracker;
use super::{HostOrder, SimEvent, ViewerId};

mod checks;

/// How long the host takes to hash a body (`HashBody`): WebCrypto needs a few milliseconds
/// for a 2 MiB segment.
pub const HASH_DELAY: Duration = Duration::from_millis(3);

/// Everything viewers share: the event queue, the origin, the tracker and the network.
#[derive(Debug)]
pub struct Shared<'a> {
    pub queue: &'a mut EventQueue<SimEvent>,
    pub origin: &'a mut Origin,
    pub tracker: &'a mut Tracker,
    pub net: &'a mut Network,
}

/// A request the host is carrying out.
#[derive(Debug, Clone)]
struct HostRequest {
    purpose: FetchPurpose,
    resource: Resource,
    resumes: bool,
}

/// A body in the host's store, under the request id that brought it.
#[derive(Debug, Clone)]
struct StoredBody {
    body: Body,
    /// What it is: from the fetch's URL and range, or for bytes from a peer, their header.
    resource: Option<Resource>,
    /// Appended and kept for peers (`Append { keep: true }`) until `ReleaseBody`.
    kept: bool,
    /// The pending append's `keep`.
    keep_after_append: bool,
}

/// What the host knows of its core's configuration, for the checks.
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_concurrent_http: usize,
    max_concurrent_p2p: usize,
    store_max_bytes: u64,
    trackers: bool,
}

#[derive(Debug)]
pub struct Host {
    pub viewer: ViewerId,
    pub player: Player,
    pub media: MediaElement,
    pub log: Log,
    /// Broken rules found since the simulation last collected them.
    pub violations: Vec<String>,
    /// Load was given: the viewer is watching.
    pub joined: bool,
    /// The viewer vanished: nothing reaches it any more.
    pub gone: bool,
    limits: Limits,
    host_order: HostOrder,
    timer: Option<Instant>,
    timer_generation: u64,
    in_flight: BTreeMap<RequestId, HostRequest>,
    store: BTreeMap<RequestId, StoredBody>,
    /// Where the next segment goes in sequence mode when its append sets no offset.
    sequence_end_s: Option<f64>,
    /// The URL of the init segment appended last, by level.
    appended_init_urls: BTreeMap<usize, String>,
    /// The viewer at the other end of each peer connection that opened.
    remotes: BTreeMap<ConnectionId, ViewerId>,
    /// From attaching a MediaSource to `MediaSourceOpen`.
    media_source_open_after: Duration,
    /// Media elements re-created so far: SourceBuffer events of older ones are dropped.
    media_generation: u64,
}

impl Host {
    pub fn new(
        viewer: ViewerId,
        core: Config,
        seed: u64,
        media: MediaConfig,
        host_order: HostOrder,
        media_source_open_after: Duration,
        now: Instant,
    ) -> Self {
        let limits = Limits {
            max_concurrent_http: core.max_concurrent_http,
            max_concurrent_p2p: core.p2p.max_concurrent_p2p,
            store_max_bytes: core.p2p.store_max_bytes,
            trackers: !core.p2p.trackers.is_empty(),
        };
        Host {
            viewer,
            player: Player::new(core, seed, now),
            media: MediaElement::new(media, now),
            log: Log::default(),
            violations: Vec::new(),
            joined: false,
            gone: false,
            limits,
            host_order,
            timer: None,
            timer_generation: 0,
            in_flight: BTreeMap::new(),
            store: BTreeMap::new(),
            sequence_end_s: None,
            appended_init_urls: BTreeMap::new(),
            remotes: BTreeMap::new(),
            media_source_open_after,
            media_generation: 0,
        }
    }

    /// Media fetches under way, as the host counts them.
    pub fn concurrent_fetches(&self) -> usize {
        self.in_flight
            .values()
            .filter(|r| {
                matches!(
                    r.purpose,
                    FetchPurpose::InitSegment | FetchPurpose::MediaSegment
                )
            })
            .count()
    }

    /// Bodies appended and kept for peers, and their bytes.
    pub fn kept_bodies(&self) -> (usize, u64) {
        let kept = self.store.values().filter(|b| b.kept);
        kept.fold((0, 0), |(n, bytes), b| (n + 1, bytes + b.body.len()))
    }

    fn violation(&mut self, now: Instant, message: String) {
        self.violations.push(format!(
            "t={:.3}s viewer {}: {message}",
            secs(now),
            self.viewer
        ));
    }

    /// Hands one input to the core, then a fresh media snapshot (as the JS shim does after
    /// every input), then carries out what the core orders.
    pub fn feed(&mut self, sh: &mut Shared<'_>, now: Instant, input: Input) {
        if self.gone {
            return;
        }
        if let Input::Load { .. } = input {
            self.joined = true;
        }
        if let Input::PeerOpened { connection } = input {
            if let Some(remote) = sh.net.remote_viewer((self.viewer, connection)) {
                self.remotes.insert(connection, remote);
            }
        }
        if self.host_order == HostOrder::SnapshotAround {
            let snapshot = self.media.snapshot();
            self.player.handle_input(now, Input::Media(snapshot));
        }
        self.player.handle_input(now, input);
        self.report_media(sh, now);
    }

    pub fn report_media(&mut self, sh: &mut Shared<'_>, now: Instant) {
        let snapshot = self.media.snapshot();
        self.player.handle_input(now, Input::Media(snapshot));
        self.drain(sh, now);
    }

    fn drain(&mut self, sh: &mut Shared<'_>, now: Instant) {
        for _ in 0..100_000 {
            match self.player.poll_output() {
                Output::Timeout { at } => return self.set_timer(sh, now, at),
                output => self.carry_out(sh, now, output),
            }
        }
        self.violation(
            now,
            "the core produced 100000 outputs without a Timeout".into(),
        );
    }

    fn set_timer(&mut self, sh: &mut Shared<'_>, now: Instant, at: Option<Instant>) {
        let Some(at) = at else {
            self.timer = None;
            self.timer_generation += 1;
            return;
        };
        if at < now {
            let message = format!("Timeout at {:.6}s is in the past", secs(at));
            self.violation(now, message);
        }
        if self.timer == Some(at) {
            return;
        }
        self.timer_generation += 1;
        self.timer = Some(at);
        let event = SimEvent::Timer {
            viewer: self.viewer,
            generation: self.timer_generation,
        };
        sh.queue.push(at.max(now), event);
    }

    pub fn on_timer(&mut self, sh: &mut Shared<'_>, now: Instant, generation: u64) {
        if generation == self.timer_generation {
            self.timer = None;
            self.feed(sh, now, Input::Timer);
        }
    }

    /// The next step of one of our HTTP transfers.
    pub fn on_http(
        &mut self,
        sh: &mut Shared<'_>,
        now: Instant,
        request: RequestId,
        step: HttpStep,
    ) {
        let viewer = self.viewer;
        let Some(outcome) = sh.origin.on_step(now, viewer, request, step, sh.queue) else {
            return;
        };
        let resumes = self.in_flight.get(&request).is_some_and(|r| r.resumes);
        match &outcome.input {
            Input::HttpDone { .. } => self.finish_request(now, request, HttpEnd::Done),
            Input::HttpFailed { status, .. } => {
                self.finish_request(now, request, HttpEnd::Failed(*status))
            }
            _ => {}
        }
        // Playlists come back as text; media bodies stay in the host's store, after the
        // bytes a peer delivered when the request resumes them.
        if let Some(served) = outcome.body {
            if let Some((level, offset)) = served.file {
                let mut response = Body::file(level, offset, served.bytes);
                if let Some(corruption) = served.corruption {
                    let mut bytes = sh.origin.content.materialize(&response);
                    corruption.apply(&mut bytes);
                    response = Body::wire(bytes);
                }
                let (body, resource) = match self.store.remove(&request) {
                    Some(prefix) if resumes => {
                        let body = prefix.body.then(response);
                        let resource = sh.origin.content.identify(&body);
                        (body, resource)
                    }
                    _ if served.corruption.is_some() => {
                        let resource = sh.origin.content.identify(&response);
                        (response, resource)
                    }
                    _ => (response, Some(served.resource)),
                };
                let stored = StoredBody {
                    body,
                    resource,
                    kept: false,
                    keep_after_append: false,
                };
                self.store.insert(request, stored);
            }
        }
        self.feed(sh, now, outcome.input);
    }

    /// The running operation of `track`'s SourceBuffer finished.
    pub fn on_source_buffer(
        &mut self,
        sh: &mut Shared<'_>,
        now: Instant,
        track: TrackId,
        media: u64,
    ) {
        if media != self.media_generation {
            // The element was re-created: its SourceBuffers and their operations are gone.
            return;
        }
        let (input, op, next) = self.media.finish(now, track);
        if let Some(next) = next {
            self.schedule_source_buffer(sh, next, track);
        }
        if let SourceBufferOp::Append { request, .. } = op {
            let failure = match &input {
                Input::AppendFailed { quota_exceeded, .. } => Some(*quota_exceeded),
                _ => None,
            };
            // The host keeps the bytes when the core may append them again, or when it asked
            // to keep them for peers.
            match (failure, self.store.get_mut(&request)) {
                (None, Some(stored)) if stored.keep_after_append => stored.kept = true,
                (Some(true), _) => {}
                _ => {
                    self.store.remove(&request);
                }
            }
            self.log.append_results.push((now, request, failure));
        }
        self.feed(sh, now, input);
    }

    /// The running operation of `track`'s SourceBuffer finishes at `at`.
    fn schedule_source_buffer(&mut self, sh: &mut Shared<'_>, at: Instant, track: TrackId) {
        let event = SimEvent::SourceBuffer {
            viewer: self.viewer,
            track,
            media: self.media_generation,
        };
        sh.queue.push(at, event);
    }

    fn finish_request(&mut self, now: Instant, request: RequestId, end: HttpEnd) {
        if self.in_flight.remove(&request).is_some() {
            self.log.http_ends.push((now, request, end));
        }
    }

    fn piece_of(&self, content: &Content, resource: Resource) -> Piece {
        match resource {
            Resource::Init { level } => Piece::Init { level },
            Resource::Segment { level, index } => {
                let segment = content.segment(level, index);
                Piece::Segment {
                    level,
                    index,
                    start_s: segment.start_s,
                    end_s: segment.end_s(),
                }
            }
            _ => Piece::Garbage,
        }
    }

    fn carry_out(&mut self, sh: &mut Shared<'_>, now: Instant, output: Output) {
        let viewer = self.viewer;
        if is_p2p(&output) && !self.limits.trackers {
            let message = format!("P2P order without a configured tracker: {output:?}");
            return self.violation(now, message);
        }
        match output {
            Output::Fetch(order) => self.start_fetch(sh, now, order),
            Output::CancelFetch { request } => {
                self.log.cancels.push((now, request));
                self.finish_request(now, request, HttpEnd::Cancelled);
                self.store.remove(&request);
                sh.origin.cancel(viewer, request);
            }
            Output::ReleaseBody { request } => {
                self.log.released.push((now, request));
                self.store.remove(&request);
            }
            Output::CreateSourceBuffers { tracks } => {
                let ids: Vec<TrackId> = tracks.iter().map(|t| t.track).collect();
                self.media.create_source_buffers(&ids);
                self.log.source_buffers.extend(tracks);
            }
            Output::SetDuration { duration_s } => {
                self.media.duration_s = Some(duration_s.unwrap_or(f64::INFINITY));
            }
            Output::Append {
                track,
                request,
                keep,
                timestamp_offset_s,
            } => self.append(sh, now, track, request, keep, timestamp_offset_s),
            Output::Evict {
                track,
                start_s,
                end_s,
            } => {
                let position_s = self.media.position_s;
                self.log.evicts.push((now, start_s, end_s, position_s));
                self.log.evict_tracks.push(track);
                let op = SourceBufferOp::Evict {
                    track,
                    start_s,
                    end_s,
                };
                if let Some(done) = self.media.enqueue(now, op) {
                    self.schedule_source_buffer(sh, done, track);
                }
            }
            Output::ChangeType { mime, .. } => self.log.change_types.push((now, mime)),
            Output::SeekMedia { position_s } => {
                self.log.media_seeks.push((now, position_s));
                self.media.seek(now, position_s);
            }
            Output::EndOfStream => {
                self.log.end_of_stream.push(now);
                self.media.set_end_of_stream(now);
            }
            Output::RecreateMedia => {
                self.log.media_recreations.push(now);
                self.media = self.media.recreated();
                self.media_generation += 1;
                let input = Input::MediaSourceOpen;
                let open_at = now + self.media_source_open_after;
                sh.queue.push(open_at, SimEvent::Core { viewer, input });
            }
            Output::Event(event) => {
                // Every peer here is a real core behind a host, honest unless its profile
                // corrupts what it uploads: dropping an honest one for breaking the protocol
                // or for bad bytes is a bug of the core.
                let honest = |host: &Host, connection: &ConnectionId| {
                    host.remotes
                        .get(connection)
                        .is_none_or(|&remote| !sh.net.corrupts(remote))
                };
                match &event {
                    Event::PeerDropped {
                        reason, connection, ..
                    } if honest(self, connection)
                        && (reason.starts_with("protocol violation")
                            || reason.starts_with("integrity")
                            || reason.contains("banned")) =>
                    {
                        self.violation(now, format!("dropped an honest peer: {reason}"));
                    }
                    Event::IntegrityFailure {
                        connection: Some(connection),
                        ..
                    } if honest(self, connection) => {
                        let message = format!("refused an honest peer's bytes: {event:?}");
                        self.violation(now, message);
                    }
                    _ => {}
                }
                self.log.events.push((now, event));
            }
            Output::HashBody { request } => {
                self.log.hashes.push((now, request));
                let digest = match self.store.get(&request) {
                    Some(stored) => sha256(&sh.origin.content.materialize(&stored.body))
                        .as_bytes()
                        .to_vec(),
                    None => {
                        self.violation(
                            now,
                            format!("HashBody of {request:?}, which is not stored"),
                        );
                        Vec::new()
                    }
                };
                let input = Input::BodyHashed {
                    request,
                    sha256: digest,
                };
                sh.queue
                    .push(now + HASH_DELAY, SimEvent::Core { viewer, input });
            }
            Output::Timeout { .. } => unreachable!("handled by drain"),
            Output::StoreBytes { request, bytes } => {
                self.log.stored.push((now, request, bytes.0.len() as u64));
                let body = Body::wire(bytes.0);
                let stored = StoredBody {
                    resource: sh.origin.content.identify(&body),
                    body,
                    kept: false,
                    keep_after_append: false,
                };
                self.store.insert(request, stored);
            }
            Output::TrackerConnect { tracker, url } => {
                sh.tracker.connect(now, viewer, tracker, &url, sh.queue)
            }
            Output::TrackerSend { tracker, text } => {
                sh.tracker.send(now, viewer, tracker, text, sh.queue)
            }
            Output::TrackerClose { tracker } => sh.tracker.close(now, viewer, tracker, sh.queue),
            Output::CreateOffer { connection } => {
                sh.net.create_offer(now, (viewer, connection), sh.queue)
            }
            Output::AcceptOffer { connection, sdp } => {
                sh.net
                    .accept_offer(now, (viewer, connection), &sdp, sh.queue)
            }
            Output::ApplyAnswer { connection, sdp } => {
                sh.net
                    .apply_answer(now, (viewer, connection), &sdp, sh.queue)
            }
            Output::ClosePeer { connection } => sh.net.close(now, (viewer, connection), sh.queue),
            Output::PeerSend {
                connection,
                messages,
            } => {
                let end = (viewer, connection);
                for command in sh.net.send(now, end, messages, sh.queue) {
                    if let PeerCommand::SegmentRequest { segment, .. } = command {
                        self.check_peer_request(sh, now, segment);
                    }
                }
            }
            Output::UploadSegment {
                connection,
                body,
                from_byte,
                chunk_bytes,
                header,
                footer,
            } => {
                let bytes = match self.store.get(&body) {
                    Some(stored) => Some(sh.origin.content.materialize(&stored.body)),
                    None => {
                        let message = format!("UploadSegment of {body:?}, which is not stored");
                        self.violation(now, message);
                        None
                    }
                };
                let end = (viewer, connection);
                sh.net.upload(
                    now,
                    end,
                    bytes,
                    from_byte,
                    chunk_bytes,
                    header,
                    footer,
                    sh.queue,
                );
            }
            Output::StopUpload { connection } => sh.net.stop_upload((viewer, connection)),
        }
    }

    /// `timestamp_offset_s` places a segment there instead of at its own media times, as a
    /// SourceBuffer in sequence mode does.
    fn append(
        &mut self,
        sh: &mut Shared<'_>,
        now: Instant,
        track: TrackId,
        request: RequestId,
        keep: bool,
        timestamp_offset_s: Option<f64>,
    ) {
        let content = &sh.origin.content;
        let Some(stored) = self.store.get_mut(&request) else {
            let message = format!("Append of {request:?} whose body is not stored");
            return self.violation(now, message);
        };
        stored.keep_after_append = keep;
        // The media element reads what the bytes are from the bytes, as a demuxer does.
        let claimed = content.identify(&stored.body);
        let checked = claimed.map(|r| (r, content.verify(&stored.body, r)));
        let bytes = stored.body.len();
        let sequence_mode = self.log.source_buffers.iter().any(|t| t.sequence_mode);
        let piece = match checked {
            Some((resource, Ok(()))) => match self.piece_of(content, resource) {
                // In sequence mode a segment goes to the timestampOffset set before it, or
                // right after the media appended before it.
                Piece::Segment {
                    level,
                    index,
                    start_s,
                    end_s,
                } if sequence_mode => {
                    let at_s = timestamp_offset_s.or(self.sequence_end_s).unwrap_or(0.0);
                    self.sequence_end_s = Some(at_s + (end_s - start_s));
                    Piece::Segment {
                        level,
                        index,
                        start_s: at_s,
                        end_s: at_s + (end_s - start_s),
                    }
                }
                piece => piece,
            },
            Some((resource, Err(problem))) => {
                let message =
                    format!("{request:?}: appended wrong bytes as {resource:?}: {problem}");
                self.violation(now, message);
                Piece::Garbage
            }
            // The media element reports bytes that are not media itself.
            None => Piece::Garbage,
        };
        // With an audio SourceBuffer, the audio rendition's media goes there and nothing else
        // does (an audio-only variant plays alone on the first SourceBuffer).
        let split = self.media.tracks().contains(&AUDIO_TRACK);
        if let (true, Piece::Init { level } | Piece::Segment { level, .. }) = (split, piece) {
            let audio = content.audio_level == Some(level);
            if audio != (track == AUDIO_TRACK) {
                let message = format!("{piece:?} appended to {track:?}");
                self.violation(now, message);
            }
        }
        if let Piece::Init { level } = piece {
            if let Some(fetch) = self.log.fetches.iter().rev().find(|f| f.request == request) {
                self.appended_init_urls.insert(level, fetch.url.clone());
            }
        }
        self.log.appends.push(AppendRecord {
            at: now,
            request,
            track,
            piece,
        });
        let op = SourceBufferOp::Append {
            track,
            request,
            piece,
            bytes,
        };
        if let Some(done) = self.media.enqueue(now, op) {
            self.schedule_source_buffer(sh, done, track);
        }
    }

    fn start_fetch(&mut self, sh: &mut Shared<'_>, now: Instant, order: FetchOrder) {
        let content = &sh.origin.content;
        // A resumed segment's rest is no segment of its own (`OtherBytes`): never a duplicate.
        let resource = sh.origin.resolve(&order.url, order.range);
        // Another init segment of the level (after a discontinuity) is no duplicate, even with
        // the same bytes.
        let another_init = matches!(resource, Resource::Init { level }
            if self.appended_init_urls.get(&level).is_some_and(|url| *url != order.url));
        if let Some(reason) = self
            .duplicate_reason(content, resource)
            .filter(|_| !another_init)
        {
            let message = format!("duplicate fetch of {resource:?} ({reason})");
            self.violation(now, message);
        }
        if order.append_to_stored && !self.store.contains_key(&order.request) {
            let message = format!("{:?} resumes a body that is not stored", order.request);
            self.violation(now, message);
        }
        if self.in_flight.contains_key(&order.request) {
            self.violation(now, format!("request id {:?} reused", order.request));
        }
        self.log.fetches.push(FetchRecord {
            at: now,
            request: order.request,
            url: order.url.clone(),
            range: order.range,
            purpose: order.purpose,
            resource,
            resumes: order.append_to_stored,
            position_s: self.media.position_s,
        });
        self.in_flight.insert(
            order.request,
            HostRequest {
                purpose: order.purpose,
                resource,
                resumes: order.append_to_stored,
            },
        );
        sh.origin.start(now, self.viewer, &order, sh.queue);
    }

    /// The tab is gone: its requests are dropped with it.
    pub fn vanish(&mut self, sh: &mut Shared) {
        self.gone = true;
        for request in std::mem::take(&mut self.in_flight).into_keys() {
            sh.origin.cancel(self.viewer, request);
        }
    }
}

fn is_p2p(output: &Output) -> bool {
    matches!(
        output,
        Output::StoreBytes { .. }
            | Output::TrackerConnect { .. }
            | Output::TrackerSend { .. }
            | Output::TrackerClose { .. }
            | Output::CreateOffer { .. }
            | Output::AcceptOffer { .. }
            | Output::ApplyAnswer { .. }
            | Output::ClosePeer { .. }
            | Output::PeerSend { .. }
            | Output::UploadSegment { .. }
            | Output::StopUpload { .. }
    )
}
