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
    /// Most HTTP segment downloads at once.
    pub max_concurrent_http: usize,
    /// Bandwidth assumed before anything was measured; picks the starting level.
    pub initial_bandwidth_bps: u64,
    /// Level to start with (index into the variant list) instead of the bandwidth pick.
    pub start_level: Option<usize>,
    /// Where playback starts, in seconds.
    pub start_position_s: f64,
    /// How long to wait for response headers before giving up on an HTTP request.
    pub first_byte_timeout_ms: u64,
    /// How long a response may go without new bytes before it counts as timed out.
    pub stall_timeout_ms: u64,
    pub retry: RetryPolicy,
    /// Holes in the buffered media up to this size are jumped over instead of waited on.
    pub max_gap_jump_s: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            forward_buffer_target_s: 30.0,
            back_buffer_keep_s: 10.0,
            max_concurrent_http: 2,
            initial_bandwidth_bps: 2_000_000,
            start_level: None,
            start_position_s: 0.0,
            first_byte_timeout_ms: 10_000,
            stall_timeout_ms: 10_000,
            retry: RetryPolicy::default(),
            max_gap_jump_s: 1.0,
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
