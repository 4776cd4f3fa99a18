//! Adaptive bitrate: which level to load next, from the bandwidth estimate and the buffer.
//!
//! The rule, in the manner of hls.js's `findBestLevel`:
//! - A level fits when its bitrate is at most the estimate times a safety factor: 0.9 for the
//!   current level and lower ones, 0.7 for higher ones, so that going up needs clear headroom
//!   while staying put tolerates a little noise.
//! - Going up also needs a comfortable buffer and some time since the last switch, so a short
//!   burst of bandwidth does not cause a switch that the next dip undoes.
//! - The estimate is the lower of a fast and a slow average, so it drops at once and rises
//!   slowly. With a rich buffer the rule follows the fast average alone (it still drops
//!   within seconds), and going up needs no more headroom than staying: a wrong guess then costs a switch back down, not a stall, and without
//!   it a player whose buffer is full (downloading one short segment now and then) would
//!   take minutes to notice that the bandwidth came back.
//! - Once playing, with less than one segment of media ahead, a level is only chosen if one
//!   of its segments arrives before the buffer runs dry: that is what keeps a bandwidth drop
//!   from becoming a stall.
//! - A cap (the player's size) removes levels that would be scaled down anyway.

/// One level as the rule sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AbrLevel {
    /// Bits per second (the average bandwidth when the playlist gives it, else the peak).
    pub bitrate_bps: u64,
    /// Picture height, when known.
    pub height: Option<u64>,
}

/// Safety factor for the current level and lower ones.
const SAME_OR_DOWN_FACTOR: f64 = 0.9;
/// Safety factor for higher levels.
const UP_FACTOR: f64 = 0.7;
/// Buffered media ahead, in segments, needed before going up.
const UP_SWITCH_MIN_BUFFER_SEGMENTS: f64 = 2.0;
/// Buffered media ahead, in segments, from which going up may follow the fast average.
const RICH_BUFFER_SEGMENTS: f64 = 4.0;
/// Seconds after a switch before going up again.
pub const UP_SWITCH_MIN_INTERVAL_S: f64 = 4.0;

/// What the rule looks at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AbrInput<'a> {
    pub levels: &'a [AbrLevel],
    pub current: usize,
    /// Bits per second the player can count on (the lower of the fast and slow averages).
    pub estimate_bps: f64,
    /// The fast average alone: what the bandwidth seems to be right now.
    pub fast_estimate_bps: f64,
    /// How long the media loaded ahead of the playhead lasts, in seconds of real time (the
    /// media seconds divided by the playback rate).
    pub buffer_ahead_s: f64,
    /// A segment's duration (the target duration), seconds.
    pub segment_duration_s: f64,
    /// Playback has started: an empty buffer now means a stall, not startup.
    pub playing: bool,
    /// Media seconds played per second: at 2x a level needs twice its bitrate.
    pub playback_rate: f64,
    /// Seconds since the last level switch (infinite when there was none).
    pub since_last_switch_s: f64,
    /// Highest level allowed, as an index into `levels` (see [`size_cap`]).
    pub cap: Option<usize>,
}

/// The level to load next.
pub fn choose_level(input: &AbrInput) -> usize {
    let levels = input.levels;
    if levels.is_empty() {
        return 0;
    }
    let current = input.current.min(levels.len() - 1);
    let allowed = allowed_by_bitrate(levels, input.cap);
    let lowest = allowed[0];
    let rich_buffer = input.buffer_ahead_s >= RICH_BUFFER_SEGMENTS * input.segment_duration_s;
    let estimate = if rich_buffer {
        input.fast_estimate_bps.max(1.0)
    } else {
        input.estimate_bps.max(1.0)
    };
    let rate = if input.playback_rate > 0.0 {
        input.playback_rate
    } else {
        1.0
    };
    let current_bps = levels[current].bitrate_bps;
    let can_go_up = input.buffer_ahead_s
        >= UP_SWITCH_MIN_BUFFER_SEGMENTS * input.segment_duration_s
        && input.since_last_switch_s >= UP_SWITCH_MIN_INTERVAL_S;
    let up_factor = if rich_buffer {
        SAME_OR_DOWN_FACTOR
    } else {
        UP_FACTOR
    };
    let fits = |level: usize| {
        let bps = levels[level].bitrate_bps;
        let needed_bps = bps as f64 * rate;
        if bps > current_bps {
            can_go_up && needed_bps <= estimate * up_factor
        } else {
            needed_bps <= estimate * SAME_OR_DOWN_FACTOR
        }
    };
    // A segment of this level arrives before the media ahead is played.
    let arrives_in_time = |level: usize| {
        let fetch_s = input.segment_duration_s * levels[level].bitrate_bps as f64 / estimate;
        fetch_s < input.buffer_ahead_s
    };
    let low_buffer = input.playing && input.buffer_ahead_s < input.segment_duration_s;
    allowed
        .iter()
        .rev()
        .copied()
        .find(|&level| fits(level) && (!low_buffer || arrives_in_time(level)))
        .unwrap_or(lowest)
}

/// The levels under the cap, lightest first; never empty for a non-empty list.
fn allowed_by_bitrate(levels: &[AbrLevel], cap: Option<usize>) -> Vec<usize> {
    let mut order: Vec<usize> = (0..levels.len()).collect();
    order.sort_by_key(|&i| (levels[i].bitrate_bps, i));
    let Some(cap) = cap.filter(|&c| c < levels.len()) else {
        return order;
    };
    let cap_bps = levels[cap].bitrate_bps;
    let under: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&i| levels[i].bitrate_bps <= cap_bps)
        .collect();
    if under.is_empty() {
        vec![order[0]]
    } else {
        under
    }
}

/// The highest level worth loading for a player `height_px` device pixels tall: the lightest
/// level at least that tall (a smaller one would look blurred, a taller one is scaled down
/// anyway). `None` when no level says its height or the player is taller than all of them.
pub fn size_cap(levels: &[AbrLevel], height_px: u64) -> Option<usize> {
    levels
        .iter()
        .enumerate()
        .filter(|(_, l)| l.height.is_some_and(|h| h >= height_px))
        .min_by_key(|(i, l)| (l.bitrate_bps, *i))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels() -> Vec<AbrLevel> {
        [(400_000, 240), (1_000_000, 480), (2_500_000, 720)]
            .into_iter()
            .map(|(bitrate_bps, h)| AbrLevel {
                bitrate_bps,
                height: Some(h),
            })
            .collect()
    }

    fn input(levels: &[AbrLevel], current: usize, estimate_bps: f64) -> AbrInput<'_> {
        AbrInput {
            levels,
            current,
            estimate_bps,
            fast_estimate_bps: estimate_bps,
            buffer_ahead_s: 10.0,
            segment_duration_s: 4.0,
            playing: true,
            playback_rate: 1.0,
            since_last_switch_s: f64::INFINITY,
            cap: None,
        }
    }

    #[test]
    fn picks_the_highest_level_with_headroom() {
        let l = levels();
        assert_eq!(choose_level(&input(&l, 0, 10_000_000.0)), 2);
        // 2.5 Mbps needs 2.5 / 0.7 = 3.57 Mbps to go up, but only 2.78 to stay.
        assert_eq!(choose_level(&input(&l, 1, 3_000_000.0)), 1);
        assert_eq!(choose_level(&input(&l, 2, 3_000_000.0)), 2);
        assert_eq!(choose_level(&input(&l, 2, 2_000_000.0)), 1);
        assert_eq!(choose_level(&input(&l, 2, 100_000.0)), 0);
    }

    #[test]
    fn goes_up_only_with_a_buffer_and_after_a_pause() {
        let l = levels();
        let thin = AbrInput {
            buffer_ahead_s: 5.0,
            ..input(&l, 0, 10_000_000.0)
        };
        assert_eq!(choose_level(&thin), 0);
        let just_switched = AbrInput {
            since_last_switch_s: 1.0,
            ..input(&l, 0, 10_000_000.0)
        };
        assert_eq!(choose_level(&just_switched), 0);
        // Going down is never held back.
        let down = AbrInput {
            buffer_ahead_s: 5.0,
            since_last_switch_s: 0.5,
            ..input(&l, 2, 1_500_000.0)
        };
        assert_eq!(choose_level(&down), 1);
    }

    #[test]
    fn a_rich_buffer_goes_up_on_the_fast_average() {
        let l = levels();
        let recovering = AbrInput {
            fast_estimate_bps: 3_000_000.0,
            buffer_ahead_s: 20.0,
            ..input(&l, 0, 1_000_000.0)
        };
        // 2.5 Mbit/s needs 2.78 Mbit/s of fast average with a rich buffer.
        assert_eq!(choose_level(&recovering), 2);
        let thinner = AbrInput {
            buffer_ahead_s: 10.0,
            ..recovering
        };
        assert_eq!(choose_level(&thinner), 0);
        // Once up there, the same average keeps it: no switching straight back.
        let arrived = AbrInput {
            since_last_switch_s: 0.0,
            buffer_ahead_s: 20.0,
            ..input(&l, 2, 1_000_000.0)
        };
        assert_eq!(
            choose_level(&AbrInput {
                fast_estimate_bps: 4_000_000.0,
                ..arrived
            }),
            2
        );
        // And the fast average drops quickly when the bandwidth does.
        assert_eq!(
            choose_level(&AbrInput {
                fast_estimate_bps: 500_000.0,
                ..arrived
            }),
            0
        );
    }

    #[test]
    fn a_nearly_empty_buffer_takes_a_level_that_arrives_in_time() {
        let l = levels();
        // 1 Mbps fits 3 Mbps, but a 4 s segment of it takes 1.33 s and only 1 s is buffered.
        let low = AbrInput {
            buffer_ahead_s: 1.0,
            ..input(&l, 1, 3_000_000.0)
        };
        assert_eq!(choose_level(&low), 0);
        // Before playback starts an empty buffer is normal.
        let startup = AbrInput {
            buffer_ahead_s: 0.0,
            playing: false,
            ..input(&l, 1, 3_000_000.0)
        };
        assert_eq!(choose_level(&startup), 1);
    }

    #[test]
    fn faster_playback_needs_more_bandwidth() {
        let l = levels();
        assert_eq!(choose_level(&input(&l, 2, 3_000_000.0)), 2);
        let double = AbrInput {
            playback_rate: 2.0,
            ..input(&l, 2, 3_000_000.0)
        };
        // 2.5 Mbit/s at 2x needs 5; 1 Mbit/s at 2x needs 2, which 3 Mbit/s carries.
        assert_eq!(choose_level(&double), 1);
    }

    #[test]
    fn the_size_cap_limits_the_choice() {
        let l = levels();
        assert_eq!(size_cap(&l, 360), Some(1));
        assert_eq!(size_cap(&l, 200), Some(0));
        assert_eq!(size_cap(&l, 1080), None);
        let capped = AbrInput {
            cap: size_cap(&l, 360),
            ..input(&l, 0, 10_000_000.0)
        };
        assert_eq!(choose_level(&capped), 1);
    }

    #[test]
    fn unsorted_levels_are_handled() {
        let l = vec![
            AbrLevel {
                bitrate_bps: 2_500_000,
                height: Some(720),
            },
            AbrLevel {
                bitrate_bps: 400_000,
                height: Some(240),
            },
        ];
        assert_eq!(choose_level(&input(&l, 1, 10_000_000.0)), 0);
        assert_eq!(choose_level(&input(&l, 0, 1_000_000.0)), 1);
        assert_eq!(choose_level(&input(&[], 0, 1.0)), 0);
    }
}
