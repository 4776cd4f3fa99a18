//! Virtual time for the simulation: an event queue ordered by (time, insertion sequence), so
//! events due at the same instant always come out in the order they were scheduled and every
//! run of a scenario replays identically.

use std::collections::BTreeMap;

use player_core::{Duration, Instant};

/// Pending events keyed by when they are due; the sequence number breaks ties
/// deterministically (a `BinaryHeap` of equal times would not).
#[derive(Debug)]
pub struct EventQueue<E> {
    events: BTreeMap<(Instant, u64), E>,
    next_sequence: u64,
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        EventQueue {
            events: BTreeMap::new(),
            next_sequence: 0,
        }
    }

    pub fn push(&mut self, at: Instant, event: E) {
        self.events.insert((at, self.next_sequence), event);
        self.next_sequence += 1;
    }

    /// The earliest event, first scheduled first among equals.
    pub fn pop(&mut self) -> Option<(Instant, E)> {
        self.events.pop_first().map(|((at, _), event)| (at, event))
    }

    pub fn next_time(&self) -> Option<Instant> {
        self.events.keys().next().map(|&(at, _)| at)
    }
}

/// The instant `s` seconds after the simulation's origin.
pub fn at_s(s: f64) -> Instant {
    Instant(0) + Duration::from_secs_f64(s)
}

/// Seconds since the simulation's origin, for assertions and messages.
pub fn secs(at: Instant) -> f64 {
    at.0 as f64 / 1_000_000.0
}
