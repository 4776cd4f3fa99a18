//! Which segments the host keeps in memory to serve peers, and how many bytes that costs.
//!
//! The bytes themselves stay on the JS side under the request id that brought them (the
//! core never copies media it does not have to); this ledger decides what is kept and
//! orders the rest released. The store is bounded in bytes: over the cap, what is least
//! useful goes first. Media behind the playhead is no use to this viewer any more, only to
//! peers behind it: of that, what peers asked for least goes first (the oldest of equals,
//! as viewers move forward). Only when nothing is behind does what lies farthest ahead go.

use std::collections::BTreeMap;

use crate::player::RequestId;

use super::wire::SegmentId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredSegment {
    /// The host holds the bytes under this id.
    pub body: RequestId,
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    stored: StoredSegment,
    /// How many times peers were sent this segment: its popularity in the swarm.
    served: u32,
}

#[derive(Debug, Default)]
pub struct SegmentStore {
    segments: BTreeMap<SegmentId, Entry>,
    total_bytes: u64,
    max_bytes: u64,
}

impl SegmentStore {
    pub fn new(max_bytes: u64) -> Self {
        SegmentStore {
            segments: BTreeMap::new(),
            total_bytes: 0,
            max_bytes,
        }
    }

    pub fn get(&self, segment: SegmentId) -> Option<StoredSegment> {
        self.segments.get(&segment).map(|entry| entry.stored)
    }

    /// Counts one upload of `segment` to a peer (for what to evict first).
    pub fn note_served(&mut self, segment: SegmentId) {
        if let Some(entry) = self.segments.get_mut(&segment) {
            entry.served = entry.served.saturating_add(1);
        }
    }

    pub fn contains(&self, segment: SegmentId) -> bool {
        self.segments.contains_key(&segment)
    }

    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Segment ids held, ascending (for announcements).
    pub fn segment_ids(&self) -> Vec<SegmentId> {
        self.segments.keys().copied().collect()
    }

    /// Keeps `segment`; returns the bodies the host may now free (a replaced copy, and
    /// whatever had to go to stay under the cap, possibly the new one itself when it alone
    /// is larger than the cap).
    pub fn insert(
        &mut self,
        segment: SegmentId,
        stored: StoredSegment,
        playhead: SegmentId,
    ) -> Vec<RequestId> {
        let mut released = Vec::new();
        let served = self.segments.get(&segment).map_or(0, |old| old.served);
        if let Some(old) = self.segments.insert(segment, Entry { stored, served }) {
            self.total_bytes -= old.stored.bytes;
            if old.stored.body != stored.body {
                released.push(old.stored.body);
            }
        }
        self.total_bytes += stored.bytes;
        while self.total_bytes > self.max_bytes {
            let Some(victim) = self.least_useful(playhead) else {
                break;
            };
            released.extend(self.remove(victim));
        }
        released
    }

    /// Forgets `segment`; returns the body to free.
    pub fn remove(&mut self, segment: SegmentId) -> Option<RequestId> {
        let entry = self.segments.remove(&segment)?;
        self.total_bytes -= entry.stored.bytes;
        Some(entry.stored.body)
    }

    /// Forgets everything; returns the bodies to free.
    pub fn clear(&mut self) -> Vec<RequestId> {
        self.total_bytes = 0;
        std::mem::take(&mut self.segments)
            .into_values()
            .map(|entry| entry.stored.body)
            .collect()
    }

    /// Behind the playhead, the one peers asked for least (the oldest of equals); when
    /// nothing is behind, the farthest ahead.
    fn least_useful(&self, playhead: SegmentId) -> Option<SegmentId> {
        let least_served_behind = self
            .segments
            .range(..playhead)
            .min_by_key(|(&segment, entry)| (entry.served, segment))
            .map(|(&segment, _)| segment);
        least_served_behind.or_else(|| self.segments.keys().next_back().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(body: u32, bytes: u64) -> StoredSegment {
        StoredSegment {
            body: RequestId(body),
            bytes,
        }
    }

    #[test]
    fn stays_under_the_cap_dropping_the_past_first() {
        let mut store = SegmentStore::new(300);
        assert!(store.insert(1, stored(1, 100), 1).is_empty());
        assert!(store.insert(2, stored(2, 100), 1).is_empty());
        assert!(store.insert(3, stored(3, 100), 1).is_empty());
        // Playhead at 3: segment 1 is the least useful.
        assert_eq!(store.insert(4, stored(4, 100), 3), vec![RequestId(1)]);
        assert_eq!(store.segment_ids(), vec![2, 3, 4]);
        // Playhead at 2, nothing behind: the farthest ahead goes (here the new one).
        assert_eq!(store.insert(5, stored(5, 100), 2), vec![RequestId(5)]);
        assert_eq!(store.total_bytes(), 300);
    }

    #[test]
    fn behind_the_playhead_what_peers_asked_for_least_goes_first() {
        let mut store = SegmentStore::new(300);
        store.insert(1, stored(1, 100), 1);
        store.insert(2, stored(2, 100), 1);
        store.insert(3, stored(3, 100), 1);
        store.note_served(1);
        store.note_served(1);
        store.note_served(2);
        // Playhead at 4: 1, 2 and 3 are behind; 3 was never asked for.
        assert_eq!(store.insert(4, stored(4, 100), 4), vec![RequestId(3)]);
        // 2 and 4 were asked for once each: the older goes.
        store.note_served(4);
        assert_eq!(store.insert(5, stored(5, 100), 5), vec![RequestId(2)]);
        for _ in 0..3 {
            store.note_served(5);
        }
        // A new body for 1 keeps its count (2), so 4 (asked once) goes before it.
        assert_eq!(store.insert(1, stored(11, 100), 5), vec![RequestId(1)]);
        assert_eq!(store.insert(6, stored(6, 100), 6), vec![RequestId(4)]);
        assert_eq!(store.segment_ids(), vec![1, 5, 6]);
    }

    #[test]
    fn replacing_a_segment_frees_the_old_body() {
        let mut store = SegmentStore::new(1000);
        store.insert(1, stored(1, 100), 0);
        assert_eq!(store.insert(1, stored(9, 50), 0), vec![RequestId(1)]);
        assert_eq!(store.total_bytes(), 50);
        assert_eq!(store.remove(1), Some(RequestId(9)));
        assert_eq!(store.total_bytes(), 0);
    }
}
