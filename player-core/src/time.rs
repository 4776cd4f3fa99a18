//! The core's own clock types: microseconds since an arbitrary origin chosen by the host.
//!
//! The core never reads a clock. Every input carries `now`, which the JS shim takes from
//! `performance.now()`; simulations drive it as virtual time.

use std::ops::{Add, Sub};

/// A point in time, in microseconds since an origin the host picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Instant(pub u64);

/// A span of time in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Duration(pub u64);

impl Instant {
    /// Converts milliseconds (as `performance.now()` gives them) to an instant.
    pub fn from_millis_f64(ms: f64) -> Self {
        Instant((ms.max(0.0) * 1000.0).round() as u64)
    }

    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// Time elapsed since `earlier`, zero if `earlier` is in the future.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
}

impl Duration {
    pub const ZERO: Duration = Duration(0);

    pub const fn from_millis(ms: u64) -> Self {
        Duration(ms * 1000)
    }

    pub const fn from_secs(s: u64) -> Self {
        Duration(s * 1_000_000)
    }

    pub fn from_secs_f64(s: f64) -> Self {
        Duration((s.max(0.0) * 1_000_000.0).round() as u64)
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1_000_000.0
    }

    pub fn as_millis(self) -> u64 {
        self.0 / 1000
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant(self.0.saturating_add(rhs.0))
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, rhs: Duration) -> Instant {
        Instant(self.0.saturating_sub(rhs.0))
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, rhs: Duration) -> Duration {
        Duration(self.0.saturating_add(rhs.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_round_trip() {
        let t = Instant::from_millis_f64(1234.567);
        assert_eq!(t, Instant(1_234_567));
        assert!((t.as_millis_f64() - 1234.567).abs() < 1e-9);
    }

    #[test]
    fn negative_inputs_clamp_to_zero() {
        assert_eq!(Instant::from_millis_f64(-5.0), Instant(0));
        assert_eq!(Duration::from_secs_f64(-1.0), Duration::ZERO);
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Instant(5) - Duration(10), Instant(0));
        assert_eq!(Instant(5).saturating_since(Instant(10)), Duration::ZERO);
        assert_eq!(Instant(u64::MAX) + Duration(1), Instant(u64::MAX));
    }
}
