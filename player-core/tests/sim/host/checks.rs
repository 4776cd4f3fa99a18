//! The rules a host checks on its viewer after every event and on every fetch and peer
//! request: HTTP and peer download limits (peer downloads read off the wire), one download
//! per connection, no duplicate fetch or request, bodies kept within the store limit.

use player_core::Instant;

use super::super::origin::{Content, Resource};
use super::{Host, Shared};

impl Host {
    /// Why fetching `resource` now would be a duplicate, if it would.
    pub(super) fn duplicate_reason(
        &self,
        content: &Content,
        resource: Resource,
    ) -> Option<&'static str> {
        if !matches!(resource, Resource::Init { .. } | Resource::Segment { .. }) {
            return None;
        }
        if self.in_flight.values().any(|r| r.resource == resource) {
            return Some("in flight");
        }
        if self
            .store
            .values()
            .any(|b| !b.kept && b.resource == Some(resource))
        {
            return Some("downloaded and waiting to be appended");
        }
        let piece = self.piece_of(content, resource);
        if self.media.appending(|p| *p == piece) {
            return Some("being appended");
        }
        match resource {
            Resource::Init { level } if self.media.holds_init(level) => Some("already appended"),
            Resource::Segment { level, index } => {
                let duration_s = content.segment(level, index).duration_s;
                self.media
                    .holds_segment(level, index, duration_s)
                    .then_some("buffered")
            }
            _ => None,
        }
    }

    /// A segment asked of a peer must not be one this viewer has or is fetching.
    pub(super) fn check_peer_request(&mut self, sh: &Shared<'_>, now: Instant, segment: u64) {
        let Some(level) = self.player.current_level() else {
            return;
        };
        let content = &sh.origin.content;
        let index = segment as usize;
        if index >= content.levels[level].segments.len() {
            return self.violation(now, format!("asked a peer for segment {segment}"));
        }
        let resource = Resource::Segment { level, index };
        if let Some(reason) = self.duplicate_reason(content, resource) {
            let message = format!("asked a peer for {resource:?} ({reason})");
            self.violation(now, message);
        }
    }

    /// Rules checked after every event.
    pub fn check_invariants(&mut self, sh: &Shared<'_>, now: Instant) {
        let concurrent = self.concurrent_fetches();
        self.log.max_concurrent_fetches = self.log.max_concurrent_fetches.max(concurrent);
        if concurrent > self.limits.max_concurrent_http {
            let message = format!(
                "{concurrent} media fetches at once, limit {}",
                self.limits.max_concurrent_http
            );
            self.violation(now, message);
        }
        let open = sh.origin.open_transfers(self.viewer);
        if !self.gone && self.in_flight.len() != open {
            let message = format!(
                "host tracks {} requests, origin {open}",
                self.in_flight.len()
            );
            self.violation(now, message);
        }
        let media_violations = std::mem::take(&mut self.media.violations);
        for message in media_violations {
            self.violation(now, message);
        }
        if self.gone {
            return;
        }
        self.check_peer_downloads(sh, now);
        let (_, kept_bytes) = self.kept_bodies();
        if kept_bytes > self.limits.store_max_bytes {
            let message = format!(
                "{kept_bytes} bytes kept for peers, store limit {}",
                self.limits.store_max_bytes
            );
            self.violation(now, message);
        }
    }

    /// Peer downloads as seen on the wire: within the limit, one per connection, and never a
    /// segment HTTP is fetching at the same time.
    fn check_peer_downloads(&mut self, sh: &Shared<'_>, now: Instant) {
        let open = sh.net.open_requests(self.viewer);
        let downloads: usize = open.iter().map(|(_, segments)| segments.len()).sum();
        self.log.max_peer_downloads = self.log.max_peer_downloads.max(downloads);
        if downloads > self.limits.max_concurrent_p2p {
            let message = format!(
                "{downloads} peer downloads at once, limit {}",
                self.limits.max_concurrent_p2p
            );
            self.violation(now, message);
        }
        for (connection, segments) in &open {
            if segments.len() > 1 {
                let message = format!("segments {segments:?} asked at once of {connection:?}");
                self.violation(now, message);
            }
        }
        // Peers carry video only: a separate audio rendition's segments share indices with
        // the video's but are other segments.
        let audio_level = sh.origin.content.audio_level;
        let over_http: Vec<usize> = self
            .in_flight
            .values()
            .filter_map(|r| match r.resource {
                Resource::Segment { level, index } if Some(level) != audio_level => Some(index),
                _ => None,
            })
            .collect();
        for (connection, segments) in open {
            for segment in segments {
                if over_http.contains(&(segment as usize)) {
                    let message =
                        format!("segment {segment} fetched over HTTP and from {connection:?}");
                    self.violation(now, message);
                }
            }
        }
    }
}
