//! Reading the media element's buffered ranges: what is playable around the playhead.

/// A time range in seconds, as `HTMLMediaElement.buffered` reports them.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "camelCase")
)]
pub struct TimeRange {
    pub start_s: f64,
    pub end_s: f64,
}

/// Tolerance for "inside a range": timestamps in media rarely line up exactly with the
/// playlist's (audio priming, frame durations), so tiny differences must not count as holes.
const EPSILON_S: f64 = 0.1;

/// The range holding `position_s`, if any.
pub fn range_containing(ranges: &[TimeRange], position_s: f64) -> Option<TimeRange> {
    ranges
        .iter()
        .copied()
        .find(|r| r.start_s - EPSILON_S <= position_s && position_s < r.end_s)
}

/// Seconds of media buffered contiguously ahead of `position_s`.
pub fn buffered_ahead_s(ranges: &[TimeRange], position_s: f64) -> f64 {
    range_containing(ranges, position_s).map_or(0.0, |r| (r.end_s - position_s).max(0.0))
}

/// Whether any buffered range overlaps `[start_s, end_s)` by more than the tolerance.
pub fn overlaps(ranges: &[TimeRange], start_s: f64, end_s: f64) -> bool {
    ranges
        .iter()
        .any(|r| r.start_s < end_s - EPSILON_S && start_s + EPSILON_S < r.end_s)
}

/// Whether one buffered range holds all of `[start_s, end_s)`, give or take the tolerance.
pub fn covers(ranges: &[TimeRange], start_s: f64, end_s: f64) -> bool {
    ranges
        .iter()
        .any(|r| r.start_s <= start_s + EPSILON_S && end_s - EPSILON_S <= r.end_s)
}

/// Where to jump when the playhead sits in a hole no wider than `max_gap_s`: the start of
/// the next buffered range.
pub fn gap_jump_target(ranges: &[TimeRange], position_s: f64, max_gap_s: f64) -> Option<f64> {
    if range_containing(ranges, position_s).is_some() {
        return None;
    }
    ranges
        .iter()
        .map(|r| r.start_s)
        .filter(|&start| start > position_s && start - position_s <= max_gap_s)
        .min_by(f64::total_cmp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(list: &[(f64, f64)]) -> Vec<TimeRange> {
        list.iter()
            .map(|&(start_s, end_s)| TimeRange { start_s, end_s })
            .collect()
    }

    #[test]
    fn ahead_counts_only_the_contiguous_range() {
        let r = ranges(&[(0.0, 10.0), (12.0, 20.0)]);
        assert_eq!(buffered_ahead_s(&r, 4.0), 6.0);
        assert_eq!(buffered_ahead_s(&r, 11.0), 0.0);
        assert_eq!(buffered_ahead_s(&r, 12.5), 7.5);
    }

    #[test]
    fn priming_offset_counts_as_inside() {
        let r = ranges(&[(0.021, 8.0)]);
        assert!(range_containing(&r, 0.0).is_some());
    }

    #[test]
    fn overlap_ignores_touching_edges() {
        let r = ranges(&[(0.0, 4.0)]);
        assert!(overlaps(&r, 2.0, 6.0));
        assert!(!overlaps(&r, 4.0, 8.0));
        assert!(!overlaps(&[], 0.0, 4.0));
    }

    #[test]
    fn gap_jump_only_over_small_holes() {
        let r = ranges(&[(0.0, 4.0), (4.6, 8.0), (20.0, 24.0)]);
        assert_eq!(gap_jump_target(&r, 4.2, 1.0), Some(4.6));
        assert_eq!(gap_jump_target(&r, 9.0, 1.0), None);
        assert_eq!(gap_jump_target(&r, 2.0, 1.0), None);
    }
}
