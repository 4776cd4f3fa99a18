//! Which segments the host keeps in memory to serve peers, and how many bytes that costs.
//!
//! The bytes themselves stay on the JS side under the request id that brought them (the
//! core never copies media it does not have to); this ledger decides what is kept and
//! orders the rest released. The store is bounded in bytes: over the cap, what is least
//! useful to the swarm goes first, i.e. what lies farthest behind the playhead, then what
//! lies farthest ahead.

use std::collections::BTreeMap;

use crate::player::RequestId;

use super::wire::SegmentId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredSegment {
    /// The host holds the bytes under this id.
    pub body: RequestId,
    pub bytes: u64,
}

#[derive(Debug, Default)]
pub struct SegmentStore {
    segments: BTreeMap<SegmentId, StoredSegment>,
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
        self.segments.get(&segment).copied()
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
        if let Some(old) = self.segments.insert(segment, stored) {
            self.total_bytes -= old.bytes;
            if old.body != stored.body {
                released.push(old.body);
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
        let stored = self.segments.remove(&segment)?;
        self.total_bytes -= stored.bytes;
        Some(stored.body)
    }

    /// Forgets everything; returns the bodies to free.
    pub fn clear(&mut self) -> Vec<RequestId> {
        self.total_bytes = 0;
        std::mem::take(&mut self.segments)
            .into_values()
            .map(|s| s.body)
            .collect()
    }

    /// Farthest behind the playhead first; when nothing is behind, farthest ahead.
    fn least_useful(&self, playhead: SegmentId) -> Option<SegmentId> {
        let first = *self.segments.keys().next()?;
        if first < playhead {
            return Some(first);
        }
        self.segments.keys().next_back().copied()
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
    fn replacing_a_segment_frees_the_old_body() {
        let mut store = SegmentStore::new(1000);
        store.insert(1, stored(1, 100), 0);
        assert_eq!(store.insert(1, stored(9, 50), 0), vec![RequestId(1)]);
        assert_eq!(store.total_bytes(), 50);
        assert_eq!(store.remove(1), Some(RequestId(9)));
        assert_eq!(store.total_bytes(), 0);
    }
}
