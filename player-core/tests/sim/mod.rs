//! Deterministic simulation harness for the player core (architecture.md, "Tests, in layers",
//! item 3): virtual time and one event queue, one simulated HTTP origin shared by N viewers,
//! each a real `Player` with its own simulated media element and host (host.rs), and between
//! the viewers a simulated WebTorrent tracker (tracker.rs) and WebRTC network (network.rs).
//! Single-viewer scenarios start from [`SimConfig`], swarm scenarios from
//! [`swarm::SwarmConfig`]; the driver checks invariants after every event.

// Each test binary (simulation.rs, swarm_simulation.rs) uses its own part of the harness.
#![allow(dead_code)]

pub mod body;
pub mod clock;
pub mod host;
pub mod log;
pub mod media;
pub mod network;
pub mod origin;
pub mod swarm;
pub mod tracker;
pub mod watch;

use player_core::player::{RequestId, TrackId};
use player_core::{Config, Duration, Input, Instant};

use clock::{secs, EventQueue};
use host::{Host, Shared};
use media::{MediaConfig, MediaElement, Stall};
use network::{NetEvent, Network, PeerProfile};
use origin::{Content, HttpStep, Origin, OriginConfig};
use swarm::{SwarmConfig, ViewerConfig};
use tracker::{Tracker, TrackerEvent};

use log::Log;

/// A viewer's index in the simulation.
pub type ViewerId = usize;

/// Something due at a point of virtual time.
#[derive(Debug)]
pub enum SimEvent {
    /// An input a viewer's host reports on its own (load, MediaSource open, upload ends).
    Core {
        viewer: ViewerId,
        input: Input,
    },
    /// The next step of an HTTP transfer.
    Http {
        viewer: ViewerId,
        request: RequestId,
        step: HttpStep,
    },
    /// The running operation of one of a viewer's SourceBuffers finishes.
    SourceBuffer {
        viewer: ViewerId,
        track: TrackId,
        /// The viewer's media element it belongs to: a re-created element drops the old
        /// one's operations.
        media: u64,
    },
    /// A viewer's core timer; stale generations were replaced by a later `Timeout`.
    Timer {
        viewer: ViewerId,
        generation: u64,
    },
    Net(NetEvent),
    Tracker(TrackerEvent),
    /// The viewer's tab goes away without a word.
    Vanish {
        viewer: ViewerId,
    },
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

/// One viewer alone with the origin, no tracker.
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

/// Events handled at one instant beyond this mean the cores and hosts are spinning.
const MAX_STEPS_PER_INSTANT: u32 = 10_000;

#[derive(Debug)]
pub struct Sim {
    pub now: Instant,
    queue: EventQueue<SimEvent>,
    pub origin: Origin,
    pub tracker: Tracker,
    pub net: Network,
    pub hosts: Vec<Host>,
    /// Broken invariants of every viewer, in the order found; scenario tests require it empty.
    pub violations: Vec<String>,
    steps_at_now: u32,
    pub steps: u64,
}

impl Sim {
    /// A single-viewer simulation.
    pub fn new(config: SimConfig) -> Self {
        let viewer = ViewerConfig {
            core: config.core,
            seed: config.seed,
            media: config.media,
            host_order: config.host_order,
            join_at_s: 0.0,
            vanish_at_s: None,
            profile: PeerProfile::default(),
        };
        let mut swarm = SwarmConfig::new(config.content, 0, 0.0);
        swarm.origin = config.origin;
        swarm.media_source_open_after = config.media_source_open_after;
        swarm.viewers.push(viewer);
        Sim::swarm(swarm)
    }

    /// The hosts on one side, what they share on the other.
    fn parts(&mut self) -> (&mut Vec<Host>, Shared<'_>) {
        let shared = Shared {
            queue: &mut self.queue,
            origin: &mut self.origin,
            tracker: &mut self.tracker,
            net: &mut self.net,
        };
        (&mut self.hosts, shared)
    }

    pub fn content(&self) -> &Content {
        &self.origin.content
    }

    /// The first viewer's records (the only viewer of single-viewer scenarios).
    pub fn log(&self) -> &Log {
        &self.hosts[0].log
    }

    pub fn media(&self) -> &MediaElement {
        &self.hosts[0].media
    }

    /// Media fetches of the first viewer under way.
    pub fn concurrent_fetches(&self) -> usize {
        self.hosts[0].concurrent_fetches()
    }

    pub fn stalls(&self) -> &[Stall] {
        &self.hosts[0].media.stalls
    }

    /// Delivers the earliest event; false when nothing is scheduled.
    pub fn step(&mut self) -> bool {
        let Some((at, event)) = self.queue.pop() else {
            return false;
        };
        self.advance_to(at);
        let now = self.now;
        let (hosts, mut sh) = self.parts();
        match event {
            SimEvent::Core { viewer, input } => hosts[viewer].feed(&mut sh, now, input),
            SimEvent::Http {
                viewer,
                request,
                step,
            } => hosts[viewer].on_http(&mut sh, now, request, step),
            SimEvent::SourceBuffer {
                viewer,
                track,
                media,
            } => hosts[viewer].on_source_buffer(&mut sh, now, track, media),
            SimEvent::Timer { viewer, generation } => {
                hosts[viewer].on_timer(&mut sh, now, generation)
            }
            SimEvent::Net(event) => {
                for (viewer, input) in sh.net.handle(now, event, sh.queue) {
                    hosts[viewer].feed(&mut sh, now, input);
                }
            }
            SimEvent::Tracker(event) => {
                if let Some((viewer, input)) = sh.tracker.handle(now, event, sh.queue) {
                    hosts[viewer].feed(&mut sh, now, input);
                }
            }
            SimEvent::Vanish { viewer } if !hosts[viewer].gone => {
                hosts[viewer].vanish(&mut sh);
                sh.net.vanish(now, viewer, sh.queue);
                sh.tracker.vanish(now, viewer, sh.queue);
            }
            SimEvent::Vanish { .. } => {}
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
                "{MAX_STEPS_PER_INSTANT} events at t={:.3}s: the cores and hosts are spinning",
                secs(self.now)
            ));
        }
        for host in self.hosts.iter_mut().filter(|h| !h.gone) {
            host.media.advance(self.now);
        }
    }

    /// Runs every event due up to `until`, then lets the playheads play up to it.
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
            self.steps_at_now = 0;
            self.advance_to(until);
        }
    }

    /// Whether every viewer that is still there reached the end.
    pub fn all_ended(&self) -> bool {
        self.hosts.iter().all(|h| h.gone || h.media.ended)
    }

    /// Runs until every viewer ended (or vanished) or `limit_s` passes; true if all ended.
    pub fn run_until_ended(&mut self, limit_s: f64) -> bool {
        let limit = clock::at_s(limit_s);
        while !self.all_ended() && self.now < limit {
            match self.queue.next_time() {
                Some(next) if next <= limit => {
                    if self.steps_at_now >= MAX_STEPS_PER_INSTANT {
                        break;
                    }
                    self.step();
                }
                _ => {
                    self.steps_at_now = 0;
                    self.advance_to(limit);
                }
            }
        }
        self.all_ended()
    }

    /// Hands `input` to a viewer's core now, as its host would.
    pub fn input(&mut self, viewer: ViewerId, input: Input) {
        let now = self.now;
        let (hosts, mut sh) = self.parts();
        hosts[viewer].feed(&mut sh, now, input);
        self.check_invariants();
    }

    /// The first viewer seeks: the element starts seeking and the shim reports it right away.
    pub fn seek(&mut self, position_s: f64) {
        self.seek_viewer(0, position_s);
    }

    pub fn pause(&mut self) {
        self.pause_viewer(0, true);
    }

    pub fn play(&mut self) {
        self.pause_viewer(0, false);
    }

    pub fn seek_viewer(&mut self, viewer: ViewerId, position_s: f64) {
        self.hosts[viewer].media.seek(self.now, position_s);
        self.report_media(viewer);
    }

    pub fn pause_viewer(&mut self, viewer: ViewerId, paused: bool) {
        self.hosts[viewer].media.set_paused(self.now, paused);
        self.report_media(viewer);
    }

    fn report_media(&mut self, viewer: ViewerId) {
        let now = self.now;
        let (hosts, mut sh) = self.parts();
        hosts[viewer].report_media(&mut sh, now);
        self.check_invariants();
    }

    fn check_invariants(&mut self) {
        let now = self.now;
        let (hosts, sh) = self.parts();
        for host in hosts.iter_mut() {
            host.check_invariants(&sh, now);
        }
        for host in &mut self.hosts {
            self.violations.append(&mut host.violations);
        }
        self.net.check(now);
        self.violations.append(&mut self.net.violations);
        self.violations.append(&mut self.tracker.violations);
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
