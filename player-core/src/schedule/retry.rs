//! When a failed HTTP request is tried again, and after how long.
//!
//! Follows hls.js's fragment loading policy in spirit: client errors (4xx) are final because
//! asking again gives the same answer; server errors (5xx), timeouts and network failures are
//! retried with a capped exponential backoff.

use crate::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(default, rename_all = "camelCase")
)]
pub struct RetryPolicy {
    /// Retries after the first attempt; the request fails for good after `max_retries + 1` tries.
    pub max_retries: u32,
    /// Wait before the first retry; each further retry doubles it.
    pub base_delay_ms: u64,
    /// Upper bound of the wait.
    pub max_delay_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            base_delay_ms: 500,
            max_delay_ms: 8_000,
        }
    }
}

/// How a request failed, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The server answered with this status.
    Status(u16),
    /// No answer in time, or the body stopped arriving.
    Timeout,
    /// The connection failed (reset, DNS, CORS...), or the body was not what was asked for.
    Network,
}

impl RetryPolicy {
    /// Whether a request that failed this way is worth sending again at all.
    pub fn is_retriable(failure: Failure) -> bool {
        match failure {
            // 408 Request Timeout and 429 Too Many Requests are transient by definition.
            Failure::Status(408) | Failure::Status(429) => true,
            Failure::Status(status) => !(400..500).contains(&status),
            Failure::Timeout | Failure::Network => true,
        }
    }

    /// The wait before retry number `retry` (0 for the first retry), or `None` when the
    /// budget is spent or the failure is final.
    pub fn delay_before_retry(&self, retry: u32, failure: Failure) -> Option<Duration> {
        if retry >= self.max_retries || !Self::is_retriable(failure) {
            return None;
        }
        let factor = 1u64.checked_shl(retry).unwrap_or(u64::MAX);
        let delay_ms = self
            .base_delay_ms
            .saturating_mul(factor)
            .min(self.max_delay_ms);
        Some(Duration::from_millis(delay_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_are_final_server_errors_are_not() {
        assert!(!RetryPolicy::is_retriable(Failure::Status(404)));
        assert!(!RetryPolicy::is_retriable(Failure::Status(403)));
        assert!(RetryPolicy::is_retriable(Failure::Status(408)));
        assert!(RetryPolicy::is_retriable(Failure::Status(429)));
        assert!(RetryPolicy::is_retriable(Failure::Status(500)));
        assert!(RetryPolicy::is_retriable(Failure::Status(503)));
        assert!(RetryPolicy::is_retriable(Failure::Timeout));
        assert!(RetryPolicy::is_retriable(Failure::Network));
    }

    #[test]
    fn backoff_doubles_then_caps_then_stops() {
        let policy = RetryPolicy {
            max_retries: 6,
            base_delay_ms: 500,
            max_delay_ms: 4_000,
        };
        let delays: Vec<_> = (0..7)
            .map(|n| {
                policy
                    .delay_before_retry(n, Failure::Status(500))
                    .map(|d| d.as_millis())
            })
            .collect();
        assert_eq!(
            delays,
            vec![
                Some(500),
                Some(1000),
                Some(2000),
                Some(4000),
                Some(4000),
                Some(4000),
                None
            ]
        );
    }

    #[test]
    fn no_retry_for_final_failures() {
        assert_eq!(
            RetryPolicy::default().delay_before_retry(0, Failure::Status(404)),
            None
        );
    }

    #[test]
    fn huge_retry_numbers_do_not_overflow() {
        let policy = RetryPolicy {
            max_retries: u32::MAX,
            base_delay_ms: 500,
            max_delay_ms: 8_000,
        };
        assert_eq!(
            policy.delay_before_retry(200, Failure::Timeout),
            Some(Duration::from_millis(8_000))
        );
    }
}
