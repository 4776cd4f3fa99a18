//! Player configuration: every tunable the policy uses, with defaults a viewer would expect.

use crate::schedule::RetryPolicy;
use crate::time::Duration;

#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(default, rename_all = "camelCase")
)]
pub struct Config {
    /// Seconds of media to keep buffered ahead of the playhead; fetching pauses beyond it.
    pub forward_buffer_target_s: f64,
    /// Seconds of already-played media kept when space must be freed (QuotaExceededError).
    pub back_buffer_keep_s: f64,
    /// Most seconds of already-played media kept in the buffer; older media is evicted as
    /// playback goes on. `None`: kept until the browser runs out of room.
    pub back_buffer_max_s: Option<f64>,
    /// Most HTTP segment downloads at once.
    pub max_concurrent_http: usize,
    /// Bandwidth assumed before anything was measured; picks the starting level.
    pub initial_bandwidth_bps: u64,
    /// Level to start with (index into the variant list) instead of the bandwidth pick.
    pub start_level: Option<usize>,
    /// Leave out levels taller than needed for the player's size (reported with
    /// `Input::PlayerSize`): the lightest level at least as tall as the player is the highest
    /// automatic choice. Manual choice is not capped.
    pub cap_level_to_player_size: bool,
    /// Where playback starts, in seconds.
    pub start_position_s: f64,
    /// Live streams: seconds behind the live edge to play at. `None`: 3 target durations.
    pub live_latency_target_s: Option<f64>,
    /// Live streams: once further behind the edge than this, playback jumps back to the
    /// target latency. `None`: the target latency plus 3 target durations.
    pub live_max_latency_s: Option<f64>,
    /// How long to wait for response headers before giving up on an HTTP request.
    pub first_byte_timeout_ms: u64,
    /// How long a response may go without new bytes before it counts as timed out.
    pub stall_timeout_ms: u64,
    pub retry: RetryPolicy,
    /// Holes in the buffered media up to this size are jumped over instead of waited on.
    pub max_gap_jump_s: f64,
    /// PeerTube's `segments-sha256.json` for this stream (absolute, or relative to the URL
    /// given to `Load`). Segments from peers are checked against it before they are appended
    /// or shared; without it P2P still runs unless [`P2pConfig::require_integrity`].
    pub integrity_url: Option<String>,
    /// Base URLs of servers that mirror the folder of the URL given to `Load` (PeerTube's
    /// redundancy servers), absolute or relative to that URL. Media segment requests are
    /// spread over the origin and the mirrors; a mirror's segments are checked against
    /// [`Config::integrity_url`], so without a usable integrity file the mirrors are unused.
    /// A mirror that fails once is dropped until the next `Load`.
    pub mirrors: Vec<String>,
    pub p2p: P2pConfig,
}

/// Sharing segments with other viewers.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(default, rename_all = "camelCase")
)]
pub struct P2pConfig {
    /// Off: no tracker connection and no peer connection is ever opened.
    pub enabled: bool,
    /// WebTorrent tracker URLs (`wss://...`), all used at once.
    pub trackers: Vec<String>,
    /// Replaces the playlist URL in swarm ids, so viewers of differently addressed copies of
    /// one stream meet (p2p-media-loader's `swarmId`).
    pub swarm_id: Option<String>,
    /// A PeerTube video's UUID: join the swarms PeerTube's own player uses for it
    /// (`pt-v2-{uuid}-main-default-{resolution}`) instead of p2p-media-loader's.
    pub peertube_video_uuid: Option<String>,
    /// Most peer connections at once, pending ones included.
    pub max_peers: usize,
    /// Most segment downloads from peers at once (one per peer).
    pub max_concurrent_p2p: usize,
    /// Serve segments to peers. `None`: yes, unless the browser says data is metered
    /// (cellular or Save-Data).
    pub upload: Option<bool>,
    /// Bytes of segments kept in memory to serve peers.
    pub store_max_bytes: u64,
    /// A peer transfer without new bytes for this long is abandoned.
    pub stall_timeout_ms: u64,
    /// Speed assumed for a peer that has not delivered anything yet.
    pub untested_peer_bps: u64,
    /// Take segments from peers only when they can be checked: without a usable integrity
    /// file ([`Config::integrity_url`]) P2P stays off (no tracker connection), and a segment
    /// the file does not list comes over HTTP. PeerTube's player behaves this way.
    pub require_integrity: bool,
}

impl Default for P2pConfig {
    fn default() -> Self {
        P2pConfig {
            enabled: true,
            trackers: Vec::new(),
            swarm_id: None,
            peertube_video_uuid: None,
            max_peers: 10,
            max_concurrent_p2p: 3,
            upload: None,
            store_max_bytes: 64 * 1024 * 1024,
            stall_timeout_ms: 2_000,
            untested_peer_bps: 1_000_000,
            require_integrity: false,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            forward_buffer_target_s: 30.0,
            back_buffer_keep_s: 10.0,
            back_buffer_max_s: Some(60.0),
            max_concurrent_http: 2,
            initial_bandwidth_bps: 2_000_000,
            start_level: None,
            cap_level_to_player_size: false,
            start_position_s: 0.0,
            live_latency_target_s: None,
            live_max_latency_s: None,
            first_byte_timeout_ms: 10_000,
            stall_timeout_ms: 10_000,
            retry: RetryPolicy::default(),
            max_gap_jump_s: 1.0,
            integrity_url: None,
            mirrors: Vec::new(),
            p2p: P2pConfig::default(),
        }
    }
}

impl Config {
    pub(crate) fn first_byte_timeout(&self) -> Duration {
        Duration::from_millis(self.first_byte_timeout_ms)
    }

    pub(crate) fn stall_timeout(&self) -> Duration {
        Duration::from_millis(self.stall_timeout_ms)
    }
}
