//! Deterministic simulation harness for the player core (architecture.md, "Tests, in layers",
//! item 3): a virtual clock and event queue, a simulated HTTP origin, a simulated media
//! element, and a driver that plays the host's part the way the JS shim does, recording
//! everything the scenario tests assert on.

pub mod clock;
pub mod media;
pub mod origin;

use std::collections::BTreeMap;

use player_core::hls::ByteRange;
use player_core::player::{ErrorKind, FetchOrder, FetchPurpose, RequestId, TrackSpec};
use player_core::{Config, Duration, Event, Input, Instant, Output, Player};

use clock::{secs, EventQueue};
use media::{MediaConfig, MediaElement, Piece, SourceBufferOp, Stall};
use origin::{Content, HttpStep, Origin, OriginConfig, Resource};

/// Something due at a point of virtual time.
#[derive(Debug)]
pub enum SimEvent {
    /// An input the host reports on its own (load, MediaSource open).
    Core(Input),
    /// The next step of an HTTP transfer.
    Http { request: RequestId, step: HttpStep },
    /// The running SourceBuffer operation finishes.
    SourceBuffer,
    /// The core's timer; stale generations were replaced by a later `Timeout`.
    Timer { generation: u64 },
}

/// When the host reports the media element's state around each input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostOrder {
    /// The input, then a fresh snapshot: what the JS shim does.
    InputThenSnapshot,
    /// A fresh snapshot, the input, then a fresh snapshot again: the core sees every change
    /// of the element (e.g. the buffered range an append added) before the input about it.
    SnapshotAround,
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub core: Config,
    pub seed: u64,
    pub content: Content,
    pub origin: OriginConfig,
    pub media: MediaConfig,
    /// From `Load` to `MediaSourceOpen`, as attaching a MediaSource takes a moment.
    pub media_source_open_after: Duration,
    pub host_order: HostOrder,
}

impl SimConfig {
    pub fn new(content: Content) -> Self {
        SimConfig {
            core: Config::default(),
            seed: 7,
            content,
            origin: OriginConfig::default(),
            media: MediaConfig::default(),
            media_source_open_after: Duration::from_millis(30),
            host_order: HostOrder::InputThenSnapshot,
        }
    }
}

/// One `Fetch` order as the host received it.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchRecord {
    pub at: Instant,
    pub request: RequestId,
    pub url: String,
    pub range: Option<ByteRange>,
    pub purpose: FetchPurpose,
    pub resource: Resource,
    /// The playhead when the fetch was ordered.
    pub position_s: f64,
}

/// How an HTTP request ended, from the host's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpEnd {
    Done,
    Failed(Option<u16>),
    Cancelled,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AppendRecord {
    pub at: Instant,
    pub request: RequestId,
    pub piece: Piece,
}

/// Everything the host saw, in order.
#[derive(Debug, Default)]
pub struct Log {
    pub fetches: Vec<FetchRecord>,
    /// When each request ended and how (a request appears at most once).
    pub http_ends: Vec<(Instant, RequestId, HttpEnd)>,
    pub cancels: Vec<(Instant, RequestId)>,
    pub appends: Vec<AppendRecord>,
    /// Results of finished appends: `Some(quota_exceeded)` for failures.
    pub append_results: Vec<(Instant, RequestId, Option<bool>)>,
    /// Evictions ordered: when, the range, and the playhead at that moment.
    pub evicts: Vec<(Instant, f64, f64, f64)>,
    pub media_seeks: Vec<(Instant, f64)>,
    pub end_of_stream: Vec<Instant>,
    pub events: Vec<(Instant, Event)>,
    pub source_buffers: Vec<TrackSpec>,
    pub max_concurrent_fetches: usize,
}

impl Log {
    pub fn fetches_of(&self, resource: Resource) -> Vec<&FetchRecord> {
        self.fetches
            .iter()
            .filter(|f| f.resource == resource)
            .collect()
    }

    pub fn errors(&self) -> Vec<(Instant, ErrorKind, bool, String)> {
        self.events
            .iter()
            .filter_map(|(at, e)| match e {
                Event::Error {
                    kind,
                    fatal,
                    message,
                } => Some((*at, *kind, *fatal, message.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn end_of(&self, request: RequestId) -> Option<(Instant, HttpEnd)> {
        self.http_ends
            .iter()
            .find(|(_, r, _)| *r == request)
            .map(|&(at, _, end)| (at, end))
    }
}

/// A request the host is carrying out.
#[derive(Debug, Clone)]
struct HostRequest {
    purpose: FetchPurpose,
    resource: Resource,
}

/// A finished body kept under its request id until appended or released.
#[derive(Debug, Clone, Copy)]
struct StoredBody {
    resource: Resource,
    bytes: u64,
}

/// Events handled at one instant beyond this mean the core and the host are spinning.
const MAX_STEPS_PER_INSTANT: u32 = 10_000;

#[derive(Debug)]
pub struct Sim {
    pub now: Instant,
    queue: EventQueue<SimEvent>,
    pub player: Player,
    pub origin: Origin,
    pub media: MediaElement,
    pub log: Log,
    /// Broken invariants, in the order found; scenario tests require it empty.
    pub violations: Vec<String>,
    max_concurrent_http: usize,
    host_order: HostOrder,
    timer: Option<Instant>,
    timer_generation: u64,
    in_flight: BTreeMap<RequestId, HostRequest>,
    store: BTreeMap<RequestId, StoredBody>,
    steps_at_now: u32,
    pub steps: u64,
}

impl Sim {
    pub fn new(config: SimConfig) -> Self {
        let now = Instant(0);
        Sim {
            now,
            queue: EventQueue::new(),
            max_concurrent_http: config.core.max_concurrent_http,
            host_order: config.host_order,
            player: Player::new(config.core, config.seed, now),
            origin: Origin::new(config.origin, config.content),
            media: MediaElement::new(config.media, now),
            log: Log::default(),
            violations: Vec::new(),
            timer: None,
            timer_generation: 0,
            in_flight: BTreeMap::new(),
            store: BTreeMap::new(),
            steps_at_now: 0,
            steps: 0,
        }
        .with_load(config.media_source_open_after)
    }

    fn with_load(mut self, open_after: Duration) -> Self {
        let url = self.origin.content.multivariant_url.clone();
        self.queue
            .push(self.now, SimEvent::Core(Input::Load { url }));
        self.queue.push(
            self.now + open_after,
            SimEvent::Core(Input::MediaSourceOpen),
        );
        self
    }

    pub fn content(&self) -> &Content {
        &self.origin.content
    }

    /// Media segment fetches under way, as the host counts them.
    pub fn concurrent_fetches(&self) -> usize {
        self.in_flight
            .values()
            .filter(|r| r.purpose != FetchPurpose::Playlist)
            .count()
    }

    pub fn stalls(&self) -> &[Stall] {
        &self.media.stalls
    }

    /// Delivers the earliest event; false when nothing is scheduled.
    pub fn step(&mut self) -> bool {
        let Some((at, event)) = self.queue.pop() else {
            return false;
        };
        self.advance_to(at);
        match event {
            SimEvent::Core(input) => self.feed(input),
            SimEvent::Http { request, step } => {
                let outcome = self
                    .origin
                    .on_step(self.now, request, step, &mut self.queue);
                if let Some(outcome) = outcome {
                    match &outcome.input {
                        Input::HttpDone { .. } => self.finish_request(request, HttpEnd::Done),
                        Input::HttpFailed { status, .. } => {
                            self.finish_request(request, HttpEnd::Failed(*status))
                        }
                        _ => {}
                    }
                    // Playlists come back as text; media bodies stay in the host's store.
                    if let Some((resource, bytes)) = outcome.body {
                        if !matches!(
                            resource,
                            Resource::Multivariant | Resource::MediaPlaylist { .. }
                        ) {
                            self.store.insert(request, StoredBody { resource, bytes });
                        }
                    }
                    self.feed(outcome.input);
                }
            }
            SimEvent::SourceBuffer => {
                let (input, op, next) = self.media.finish(self.now);
                if let Some(next) = next {
                    self.queue.push(next, SimEvent::SourceBuffer);
                }
                if let SourceBufferOp::Append { request, .. } = op {
                    let failure = match &input {
                        Input::AppendFailed { quota_exceeded, .. } => Some(*quota_exceeded),
                        _ => None,
                    };
                    // The host keeps the bytes only when the core may append them again.
                    if failure != Some(true) {
                        self.store.remove(&request);
                    }
                    self.log.append_results.push((self.now, request, failure));
                }
                self.feed(input);
            }
            SimEvent::Timer { generation } => {
                if generation == self.timer_generation {
                    self.timer = None;
                    self.feed(Input::Timer);
                }
            }
        }
        self.steps += 1;
        self.check_invariants();
        true
    }

    fn advance_to(&mut self, at: Instant) {
        if at > self.now {
            self.now = at;
            self.steps_at_now = 0;
        }
        self.steps_at_now += 1;
        if self.steps_at_now == MAX_STEPS_PER_INSTANT {
            self.violations.push(format!(
                "{MAX_STEPS_PER_INSTANT} events at t={:.3}s: the core and host are spinning",
                secs(self.now)
            ));
        }
        self.media.advance(self.now);
    }

    /// Runs every event due up to `until`, then lets the playhead play up to it.
    pub fn run_until_s(&mut self, until_s: f64) {
        self.run_until_checking(until_s, |_| {});
    }

    /// Like [`Sim::run_until_s`], calling `check` after every event.
    pub fn run_until_checking(&mut self, until_s: f64, mut check: impl FnMut(&Sim)) {
        let until = clock::at_s(until_s);
        while self.queue.next_time().is_some_and(|t| t <= until)
            && self.steps_at_now < MAX_STEPS_PER_INSTANT
        {
            self.step();
            check(self);
        }
        if until > self.now {
            self.now = until;
            self.steps_at_now = 0;
            self.media.advance(until);
        }
    }

    /// Runs until the media element reports `ended` or `limit_s` passes; true if it ended.
    pub fn run_until_ended(&mut self, limit_s: f64) -> bool {
        let limit = clock::at_s(limit_s);
        while !self.media.ended && self.now < limit {
            match self.queue.next_time() {
                Some(next) if next <= limit => {
                    if self.steps_at_now >= MAX_STEPS_PER_INSTANT {
                        break;
                    }
                    self.step();
                }
                _ => {
                    self.now = limit;
                    self.media.advance(limit);
                }
            }
        }
        self.media.ended
    }

    /// The viewer seeks: the element starts seeking and the shim reports it right away.
    pub fn seek(&mut self, position_s: f64) {
        self.media.seek(self.now, position_s);
        self.report_media();
    }

    pub fn pause(&mut self) {
        self.media.set_paused(self.now, true);
        self.report_media();
    }

    pub fn play(&mut self) {
        self.media.set_paused(self.now, false);
        self.report_media();
    }

    fn report_media(&mut self) {
        let snapshot = self.media.snapshot();
        self.player.handle_input(self.now, Input::Media(snapshot));
        self.drain();
    }

    /// Hands one input to the core, then a fresh media snapshot (as the JS shim does after
    /// every input), then carries out what the core orders.
    fn feed(&mut self, input: Input) {
        if self.host_order == HostOrder::SnapshotAround {
            let snapshot = self.media.snapshot();
            self.player.handle_input(self.now, Input::Media(snapshot));
        }
        self.player.handle_input(self.now, input);
        self.report_media();
    }

    fn drain(&mut self) {
        for _ in 0..100_000 {
            match self.player.poll_output() {
                Output::Timeout { at } => return self.set_timer(at),
                output => self.carry_out(output),
            }
        }
        self.violations
            .push("the core produced 100000 outputs without a Timeout".into());
    }

    fn set_timer(&mut self, at: Option<Instant>) {
        if let Some(at) = at {
            if at < self.now {
                self.violations.push(format!(
                    "Timeout at {:.6}s is in the past (now {:.6}s)",
                    secs(at),
                    secs(self.now)
                ));
            }
            if self.timer == Some(at) {
                return;
            }
            self.timer_generation += 1;
            self.timer = Some(at);
            let generation = self.timer_generation;
            self.queue
                .push(at.max(self.now), SimEvent::Timer { generation });
        } else {
            self.timer = None;
            self.timer_generation += 1;
        }
    }

    fn finish_request(&mut self, request: RequestId, end: HttpEnd) {
        if self.in_flight.remove(&request).is_some() {
            self.log.http_ends.push((self.now, request, end));
        }
    }

    fn piece_of(&self, resource: Resource) -> Piece {
        match resource {
            Resource::Init { level } => Piece::Init { level },
            Resource::Segment { level, index } => {
                let segment = self.content().segment(level, index);
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

    /// Why fetching `resource` now would be a duplicate, if it would.
    fn duplicate_reason(&self, resource: Resource) -> Option<&'static str> {
        if !matches!(resource, Resource::Init { .. } | Resource::Segment { .. }) {
            return None;
        }
        if self.in_flight.values().any(|r| r.resource == resource) {
            return Some("in flight");
        }
        if self.store.values().any(|b| b.resource == resource) {
            return Some("downloaded and waiting to be appended");
        }
        let piece = self.piece_of(resource);
        if self.media.appending(|p| *p == piece) {
            return Some("being appended");
        }
        match resource {
            Resource::Init { level } if self.media.holds_init(level) => Some("already appended"),
            Resource::Segment { level, index } => {
                let duration_s = self.content().segment(level, index).duration_s;
                self.media
                    .holds_segment(level, index, duration_s)
                    .then_some("buffered")
            }
            _ => None,
        }
    }

    fn carry_out(&mut self, output: Output) {
        let now = self.now;
        match output {
            Output::Fetch(order) => self.start_fetch(order),
            Output::CancelFetch { request } => {
                self.log.cancels.push((now, request));
                self.finish_request(request, HttpEnd::Cancelled);
                self.store.remove(&request);
                self.origin.cancel(request);
            }
            Output::ReleaseBody { request } => {
                self.store.remove(&request);
            }
            Output::CreateSourceBuffers { tracks } => self.log.source_buffers.extend(tracks),
            Output::SetDuration { duration_s } => self.media.duration_s = Some(duration_s),
            Output::Append { request, .. } => {
                let Some(body) = self.store.get(&request).copied() else {
                    self.violations
                        .push(format!("Append of {request:?} whose body is not stored"));
                    return;
                };
                let piece = self.piece_of(body.resource);
                self.log.appends.push(AppendRecord {
                    at: now,
                    request,
                    piece,
                });
                let op = SourceBufferOp::Append {
                    request,
                    piece,
                    bytes: body.bytes,
                };
                if let Some(done) = self.media.enqueue(now, op) {
                    self.queue.push(done, SimEvent::SourceBuffer);
                }
            }
            Output::Evict {
                track,
                start_s,
                end_s,
            } => {
                let position_s = self.media.position_s;
                self.log.evicts.push((now, start_s, end_s, position_s));
                let op = SourceBufferOp::Evict {
                    track,
                    start_s,
                    end_s,
                };
                if let Some(done) = self.media.enqueue(now, op) {
                    self.queue.push(done, SimEvent::SourceBuffer);
                }
            }
            Output::SeekMedia { position_s } => {
                self.log.media_seeks.push((now, position_s));
                self.media.seek(now, position_s);
            }
            Output::EndOfStream => {
                self.log.end_of_stream.push(now);
                self.media.set_end_of_stream(now);
            }
            Output::Event(event) => self.log.events.push((now, event)),
            Output::Timeout { .. } => unreachable!("handled by drain"),
            // This harness simulates one viewer without trackers: P2P must stay silent.
            other => self
                .violations
                .push(format!("P2P order without a configured tracker: {other:?}")),
        }
    }

    fn start_fetch(&mut self, order: FetchOrder) {
        let resource = self.origin.content.resolve(&order.url, order.range);
        if let Some(reason) = self.duplicate_reason(resource) {
            self.violations.push(format!(
                "t={:.3}s: duplicate fetch of {resource:?} ({reason})",
                secs(self.now)
            ));
        }
        if self.in_flight.contains_key(&order.request) {
            self.violations
                .push(format!("request id {:?} reused", order.request));
        }
        self.log.fetches.push(FetchRecord {
            at: self.now,
            request: order.request,
            url: order.url.clone(),
            range: order.range,
            purpose: order.purpose,
            resource,
            position_s: self.media.position_s,
        });
        self.in_flight.insert(
            order.request,
            HostRequest {
                purpose: order.purpose,
                resource,
            },
        );
        self.origin.start(self.now, &order, &mut self.queue);
    }

    fn check_invariants(&mut self) {
        let concurrent = self.concurrent_fetches();
        self.log.max_concurrent_fetches = self.log.max_concurrent_fetches.max(concurrent);
        if concurrent > self.max_concurrent_http {
            self.violations.push(format!(
                "t={:.3}s: {concurrent} media fetches at once, limit {}",
                secs(self.now),
                self.max_concurrent_http
            ));
        }
        if self.in_flight.len() != self.origin.open_transfers() {
            self.violations.push(format!(
                "t={:.3}s: host tracks {} requests, origin {}",
                secs(self.now),
                self.in_flight.len(),
                self.origin.open_transfers()
            ));
        }
        let media_violations = std::mem::take(&mut self.media.violations);
        self.violations.extend(media_violations);
    }

    /// Fails the test with every broken invariant.
    pub fn assert_clean(&self) {
        assert!(
            self.violations.is_empty(),
            "invariants broken:\n{}",
            self.violations.join("\n")
        );
    }
}
