//! Throughput estimates: an exponentially weighted moving average pair in the manner of
//! hls.js's `EwmaBandWidthEstimator`, where each sample weighs as much as the seconds it took,
//! and the estimate is the lower of a fast and a slow average (quick to drop, slow to rise).
//!
//! One estimator is kept per source (the origin, each peer) so that a slow peer does not drag
//! down what the origin is known to deliver.

use crate::time::{Duration, Instant};

/// An exponentially weighted moving average whose samples carry a weight (seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct Ewma {
    alpha: f64,
    estimate: f64,
    total_weight: f64,
}

impl Ewma {
    /// An average in which a sample's influence halves every `half_life` units of weight.
    pub fn new(half_life: f64) -> Self {
        let alpha = if half_life > 0.0 {
            (0.5f64.ln() / half_life).exp()
        } else {
            0.0
        };
        Ewma {
            alpha,
            estimate: 0.0,
            total_weight: 0.0,
        }
    }

    pub fn sample(&mut self, weight: f64, value: f64) {
        let adjusted_alpha = self.alpha.powf(weight);
        self.estimate = value * (1.0 - adjusted_alpha) + adjusted_alpha * self.estimate;
        self.total_weight += weight;
    }

    pub fn total_weight(&self) -> f64 {
        self.total_weight
    }

    /// The average, corrected for starting at zero (without the correction the first samples
    /// would be pulled towards 0).
    pub fn estimate(&self) -> f64 {
        if self.alpha == 0.0 {
            return self.estimate;
        }
        let zero_factor = 1.0 - self.alpha.powf(self.total_weight);
        if zero_factor > 0.0 {
            self.estimate / zero_factor
        } else {
            self.estimate
        }
    }
}

/// Transfers shorter than this are counted as lasting this long: timers are coarse and a
/// tiny transfer would otherwise claim an absurd speed (hls.js uses the same floor).
const MIN_SAMPLE: Duration = Duration::from_millis(50);

/// Weight below which the estimator has seen too little to say anything.
const MIN_TOTAL_WEIGHT_S: f64 = 0.001;

/// Bits per second delivered by one source.
#[derive(Debug, Clone, PartialEq)]
pub struct BandwidthEstimator {
    fast: Ewma,
    slow: Ewma,
}

impl BandwidthEstimator {
    /// hls.js's VOD half-lives: 3 s for the fast average, 9 s for the slow one.
    pub fn new() -> Self {
        Self::with_half_lives(3.0, 9.0)
    }

    pub fn with_half_lives(fast_s: f64, slow_s: f64) -> Self {
        BandwidthEstimator {
            fast: Ewma::new(fast_s),
            slow: Ewma::new(slow_s),
        }
    }

    /// Records that `bytes` took `elapsed` to arrive.
    pub fn sample(&mut self, elapsed: Duration, bytes: u64) {
        let seconds = elapsed.max(MIN_SAMPLE).as_secs_f64();
        let bits_per_second = bytes as f64 * 8.0 / seconds;
        self.fast.sample(seconds, bits_per_second);
        self.slow.sample(seconds, bits_per_second);
    }

    /// The fast average alone, once anything was measured.
    pub fn fast_estimate_bps(&self) -> Option<f64> {
        (self.fast.total_weight() >= MIN_TOTAL_WEIGHT_S).then(|| self.fast.estimate())
    }

    /// The estimate in bits per second, once anything was measured.
    pub fn estimate_bps(&self) -> Option<f64> {
        (self.fast.total_weight() >= MIN_TOTAL_WEIGHT_S)
            .then(|| self.fast.estimate().min(self.slow.estimate()))
    }
}

impl Default for BandwidthEstimator {
    fn default() -> Self {
        Self::new()
    }
}

/// The throughput of a pipe that several transfers share (the origin, fetched two segments
/// at a time): all bytes that arrived over the time any transfer was under way, measured each
/// time a transfer completes. Timing each transfer alone would halve the estimate whenever two
/// run at once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PipeMeter {
    /// Start of the interval being measured; `None` while the pipe is idle.
    since: Option<Instant>,
    bytes: u64,
}

impl PipeMeter {
    /// A transfer starts: the pipe is busy from now on if it was idle.
    pub fn transfer_started(&mut self, now: Instant) {
        if self.since.is_none() {
            self.since = Some(now);
            self.bytes = 0;
        }
    }

    pub fn bytes_arrived(&mut self, bytes: u64) {
        if self.since.is_some() {
            self.bytes += bytes;
        }
    }

    /// A transfer completed: what arrived since the last measurement becomes a sample.
    pub fn transfer_completed(&mut self, now: Instant, estimator: &mut BandwidthEstimator) {
        if let Some(since) = self.since {
            estimator.sample(now.saturating_since(since), self.bytes);
        }
        self.since = Some(now);
        self.bytes = 0;
    }

    /// No transfer is under way: idle time is not counted.
    pub fn idle(&mut self) {
        self.since = None;
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_is_its_own_estimate() {
        let mut e = BandwidthEstimator::new();
        assert_eq!(e.estimate_bps(), None);
        e.sample(Duration::from_secs(1), 125_000);
        let bps = e.estimate_bps().unwrap();
        assert!((bps - 1_000_000.0).abs() < 1e-6, "{bps}");
    }

    #[test]
    fn drops_fast_rises_slowly() {
        let mut e = BandwidthEstimator::new();
        for _ in 0..10 {
            e.sample(Duration::from_secs(1), 1_000_000); // 8 Mbps
        }
        e.sample(Duration::from_secs(2), 250_000); // 1 Mbps for 2 s
        let after_drop = e.estimate_bps().unwrap();
        assert!(after_drop < 6_000_000.0, "{after_drop}");
        let mut rising = BandwidthEstimator::new();
        for _ in 0..10 {
            rising.sample(Duration::from_secs(1), 125_000); // 1 Mbps
        }
        rising.sample(Duration::from_secs(2), 2_000_000); // 8 Mbps for 2 s
        let after_rise = rising.estimate_bps().unwrap();
        // The slow average holds the estimate back more than the fast one lets it drop.
        assert!(
            after_rise - 1_000_000.0 < 8_000_000.0 - after_drop,
            "{after_rise}"
        );
    }

    /// hls.js's published vectors (tests/unit/controller/ewma-bandwidth-estimator.ts):
    /// `EwmaBandWidthEstimator(slow, fast, 5e5)` fed `sample(8000 ms, 1e6 bytes)`, then
    /// `sample(4000, 1e6)`, then `sample(1000, 1e6)`, with the estimate after each sample.
    fn hls_js_vector(slow_s: f64, fast_s: f64, expected: [f64; 3]) {
        let mut e = BandwidthEstimator::with_half_lives(fast_s, slow_s);
        assert_eq!(e.estimate_bps(), None, "no estimate before a sample");
        for (millis, want) in [8000, 4000, 1000].into_iter().zip(expected) {
            e.sample(Duration::from_millis(millis), 1_000_000);
            let got = e.estimate_bps().unwrap();
            assert!(
                (got - want).abs() < 1e-8,
                "after {millis} ms: {got} != {want}"
            );
        }
    }

    #[test]
    fn hls_js_vectors_half_lives_zero_give_the_last_sample() {
        hls_js_vector(0.0, 0.0, [1_000_000.0, 2_000_000.0, 8_000_000.0]);
    }

    #[test]
    fn hls_js_vectors_slow_15_fast_4() {
        hls_js_vector(
            15.0,
            4.0,
            [
                1_000_000.0,
                1_396_480.154_473_622_6,
                2_056_826.948_982_794_8,
            ],
        );
    }

    #[test]
    fn hls_js_vectors_slow_9_fast_5() {
        hls_js_vector(
            9.0,
            5.0,
            [1_000_000.0, 1_439_580.319_105_247, 2_208_342.324_322_311],
        );
    }

    #[test]
    fn two_transfers_at_once_measure_the_whole_pipe() {
        let mut estimator = BandwidthEstimator::new();
        let mut pipe = PipeMeter::default();
        let t0 = Instant(0);
        pipe.transfer_started(t0);
        pipe.transfer_started(t0);
        // Both share 1 MB/s: each gets 500 KB in the first second.
        pipe.bytes_arrived(1_000_000);
        pipe.transfer_completed(t0 + Duration::from_secs(1), &mut estimator);
        assert_eq!(estimator.estimate_bps().unwrap().round(), 8_000_000.0);
        pipe.idle();
        pipe.bytes_arrived(5_000_000);
        pipe.transfer_started(t0 + Duration::from_secs(10));
        pipe.bytes_arrived(1_000_000);
        pipe.transfer_completed(t0 + Duration::from_secs(11), &mut estimator);
        // The idle time and the bytes counted while idle are not part of the estimate.
        assert_eq!(estimator.estimate_bps().unwrap().round(), 8_000_000.0);
    }

    #[test]
    fn tiny_transfers_are_floored() {
        let mut e = BandwidthEstimator::new();
        e.sample(Duration::ZERO, 1000);
        assert_eq!(e.estimate_bps().unwrap().round(), 160_000.0);
    }
}
