//! Swarms of viewers: their configuration (each viewer's core configuration, join time, peer
//! profile, and the tracker and network between them), building the simulation from it, and
//! the figures swarm scenarios report (P2P share, stalls, origin bytes against the video).

use player_core::player::SegmentSource;
use player_core::{Config, Duration, Event, Input};

use super::clock::{at_s, EventQueue};
use super::host::Host;
use super::media::MediaConfig;
use super::network::{Network, NetworkConfig, PeerProfile};
use super::origin::{Content, Origin, OriginConfig};
use super::tracker::{Tracker, TrackerConfig, TRACKER_URL};
use super::{HostOrder, Sim, SimEvent, ViewerId};

#[derive(Debug, Clone)]
pub struct ViewerConfig {
    pub core: Config,
    /// Seeds the core (its peer id among others): distinct per viewer.
    pub seed: u64,
    pub media: MediaConfig,
    pub host_order: HostOrder,
    /// When the viewer loads the stream.
    pub join_at_s: f64,
    /// When the viewer's tab goes away without a word, if it does.
    pub vanish_at_s: Option<f64>,
    pub profile: PeerProfile,
}

impl ViewerConfig {
    /// A viewer with the simulated tracker configured.
    pub fn new(seed: u64, join_at_s: f64) -> Self {
        let mut core = Config::default();
        core.p2p.trackers = vec![TRACKER_URL.into()];
        ViewerConfig {
            core,
            seed,
            media: MediaConfig::default(),
            host_order: HostOrder::InputThenSnapshot,
            join_at_s,
            vanish_at_s: None,
            profile: PeerProfile::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SwarmConfig {
    pub content: Content,
    pub origin: OriginConfig,
    pub network: NetworkConfig,
    pub tracker: TrackerConfig,
    /// From `Load` to `MediaSourceOpen`.
    pub media_source_open_after: Duration,
    pub viewers: Vec<ViewerConfig>,
}

impl SwarmConfig {
    /// `viewers` viewers of `content` with the tracker configured, joining `join_every_s`
    /// apart from 0.
    pub fn new(content: Content, viewers: usize, join_every_s: f64) -> Self {
        SwarmConfig {
            content,
            origin: OriginConfig::default(),
            network: NetworkConfig::default(),
            tracker: TrackerConfig::default(),
            media_source_open_after: Duration::from_millis(30),
            viewers: (0..viewers)
                .map(|i| ViewerConfig::new(100 + i as u64, i as f64 * join_every_s))
                .collect(),
        }
    }
}

/// Where one viewer's segments came from, and how playback went.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ViewerFigures {
    pub http_bytes: u64,
    pub peer_bytes: u64,
    /// Segments a peer started and HTTP finished (counted whole, not as peer bytes).
    pub peer_then_http_bytes: u64,
    /// Segments a mirror of the origin served (not in `http_bytes`).
    pub mirror_bytes: u64,
    pub segments: usize,
    pub stalls: usize,
    pub stalled_s: f64,
    /// Segment bytes this viewer sent to peers.
    pub uploaded_bytes: u64,
}

impl ViewerFigures {
    /// Share of the segment bytes that came from peers alone.
    pub fn p2p_share(&self) -> f64 {
        let total =
            self.http_bytes + self.peer_bytes + self.peer_then_http_bytes + self.mirror_bytes;
        if total == 0 {
            return 0.0;
        }
        self.peer_bytes as f64 / total as f64
    }
}

impl Sim {
    pub fn swarm(config: SwarmConfig) -> Sim {
        let now = at_s(0.0);
        let mut queue = EventQueue::new();
        let url = config.content.multivariant_url.clone();
        let open_after = config.media_source_open_after;
        let mut hosts = Vec::new();
        let mut profiles = Vec::new();
        for (viewer, v) in config.viewers.into_iter().enumerate() {
            let join = at_s(v.join_at_s);
            let load = Input::Load { url: url.clone() };
            queue.push(
                join,
                SimEvent::Core {
                    viewer,
                    input: load,
                },
            );
            let input = Input::MediaSourceOpen;
            queue.push(join + open_after, SimEvent::Core { viewer, input });
            if let Some(at) = v.vanish_at_s {
                queue.push(at_s(at), SimEvent::Vanish { viewer });
            }
            profiles.push(v.profile);
            hosts.push(Host::new(
                viewer,
                v.core,
                v.seed,
                v.media,
                v.host_order,
                open_after,
                now,
            ));
        }
        Sim {
            now,
            queue,
            origin: Origin::new(config.origin, config.content),
            tracker: Tracker::new(config.tracker),
            net: Network::new(config.network, profiles),
            hosts,
            violations: Vec::new(),
            steps_at_now: 0,
            steps: 0,
        }
    }

    pub fn figures(&self, viewer: ViewerId) -> ViewerFigures {
        let host = &self.hosts[viewer];
        let mut figures = ViewerFigures {
            stalls: host.media.stalls.len(),
            stalled_s: host.media.stalled_s(self.now),
            uploaded_bytes: self.net.uploaded_bytes(viewer),
            ..ViewerFigures::default()
        };
        for (_, event) in &host.log.events {
            if let Event::SegmentLoaded { bytes, source, .. } = event {
                figures.segments += 1;
                match source {
                    SegmentSource::Http => figures.http_bytes += bytes,
                    SegmentSource::Peer => figures.peer_bytes += bytes,
                    SegmentSource::PeerThenHttp => figures.peer_then_http_bytes += bytes,
                    SegmentSource::Mirror => figures.mirror_bytes += bytes,
                }
            }
        }
        figures
    }

    /// The bytes of the whole video at the first level (init and segments).
    pub fn video_bytes(&self) -> u64 {
        self.content().levels[0].file_len
    }

    /// What the origin served, in videos.
    pub fn origin_ratio(&self) -> f64 {
        self.origin.served_bytes as f64 / self.video_bytes() as f64
    }

    /// Prints the figures (`cargo test -- --nocapture` shows them).
    pub fn print_figures(&self, scenario: &str) {
        println!(
            "{scenario}: origin served {} bytes = {:.2} x the video ({} bytes); tracker {:?}",
            self.origin.served_bytes,
            self.origin_ratio(),
            self.video_bytes(),
            self.tracker.stats
        );
        for viewer in 0..self.hosts.len() {
            let f = self.figures(viewer);
            println!(
                "  viewer {viewer}: P2P share {:5.1}% (peer {} B, http {} B, peer-then-http {} B, \
                 {} segments), uploaded {} B, stalls {} ({:.2} s){}",
                100.0 * f.p2p_share(),
                f.peer_bytes,
                f.http_bytes,
                f.peer_then_http_bytes,
                f.segments,
                f.uploaded_bytes,
                f.stalls,
                f.stalled_s,
                if self.hosts[viewer].gone {
                    ", vanished"
                } else {
                    ""
                }
            );
        }
    }

    /// Every viewer still there closes its tab politely (`Unload`): the swarm is left, and
    /// every body kept for peers must be released.
    pub fn unload_all(&mut self) {
        for viewer in 0..self.hosts.len() {
            if self.hosts[viewer].gone || !self.hosts[viewer].joined {
                continue;
            }
            self.input(viewer, Input::Unload);
            let (bodies, bytes) = self.hosts[viewer].kept_bodies();
            if bodies > 0 {
                self.violations.push(format!(
                    "viewer {viewer}: {bodies} bodies ({bytes} bytes) kept for peers after Unload"
                ));
            }
        }
    }
}
