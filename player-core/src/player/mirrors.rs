//! Mirrors (PeerTube's redundancy servers): other HTTP servers that hold a copy of the folder
//! of the URL given to `Load` ([`crate::Config::mirrors`]).
//!
//! - **What goes to a mirror**: media segments of the level being played whose URL lies in
//!   that folder, as `mirror base + the path relative to the folder`, with the same byte
//!   range. Playlists, init segments and the integrity file always come from the origin (the
//!   integrity file lists no init segment: a mirror's could not be checked), and so do the
//!   segments of a separate audio rendition (they are small and a fraction of the traffic).
//! - **Spread**: each segment request goes to the origin or one of the mirrors still in use,
//!   picked from a number fixed per viewer and segment (the same splitmix64 draw as the P2P
//!   spread in p2p.rs, on another seed): viewers spread their requests over every server
//!   as PeerTube's random pick does, and a simulation stays reproducible.
//! - **Probed**: until a mirror's first segment passed the check, it is asked for one segment
//!   at a time (a segment the draw gives it meanwhile goes to the origin): a mirror that is
//!   down or corrupt costs one request, not as many as were sent before its first answer.
//! - **Checked**: a mirror's body goes through the integrity check (verify.rs) before it can
//!   be appended, stored or announced to peers, so mirrors are used only once
//!   `segments-sha256.json` is loaded, and only for segments it lists. Without an integrity
//!   URL, or when the file cannot be loaded or read, every mirror is dropped at once with
//!   that reason and everything comes from the origin. On a live stream the file is fetched
//!   again only for segments peers delivered (verify.rs), so a mirror serves the segments
//!   the version loaded last lists.
//! - **Dropped**: a mirror that fails in any way (an error status, a timeout, a network
//!   error, a `200` for a range, a wrong `Content-Range`, a short body, a digest mismatch, a
//!   segment the integrity file does not list) is not asked again until the next `Load`, and
//!   [`Event::MirrorDropped`] says why. The segment is fetched from the origin at once, and
//!   so are those the mirror was still sending (cancelled): the failure costs neither a
//!   retry nor a backoff, as the origin did nothing wrong. Bad bytes also raise
//!   [`Event::IntegrityFailure`] with source [`SegmentSource::Mirror`].
//! - **Counted**: a mirror's bytes count in [`super::Stats::http_bytes`] like the origin's,
//!   and on their own in [`super::Stats::mirror_bytes`].
//!
//! [`SegmentSource::Mirror`]: super::SegmentSource::Mirror

use crate::schedule::Slot;

use super::io::Event;
use super::p2p::spread_fraction;
use super::{Player, RequestId, RequestKind};

/// Names one configured mirror: its index in [`Mirrors`]'s list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct MirrorId(usize);

#[derive(Debug)]
struct Mirror {
    /// Ends with `/`: the path relative to the origin's folder is appended to it.
    base: String,
    dropped: bool,
    /// A segment it sent passed the integrity check: it may have several requests at once.
    proven: bool,
}

/// The mirrors of one loaded stream.
#[derive(Debug, Default)]
pub(super) struct Mirrors {
    /// The folder of the URL given to `Load` (up to its last `/`).
    origin_folder: String,
    mirrors: Vec<Mirror>,
    /// Seed of the per-segment pick among the origin and the mirrors.
    seed: u64,
}

impl Mirrors {
    /// `bases` resolved against `source_url`, the URL given to `Load`.
    pub(super) fn new(bases: &[String], source_url: &str, seed: u64) -> Self {
        let source = url::Url::parse(source_url).ok();
        let origin_folder = source
            .as_ref()
            .and_then(|url| url.join(".").ok())
            .map_or_else(String::new, String::from);
        let mirrors = bases
            .iter()
            .map(|base| {
                let mut base = source
                    .as_ref()
                    .and_then(|source| source.join(base).ok())
                    .map_or_else(|| base.clone(), String::from);
                if !base.ends_with('/') {
                    base.push('/');
                }
                Mirror {
                    base,
                    dropped: false,
                    proven: false,
                }
            })
            .collect();
        Mirrors {
            origin_folder,
            mirrors,
            seed: seed ^ 0xc2b2_ae3d_27d4_eb4f,
        }
    }

    /// Mirrors not dropped.
    fn in_use(&self) -> impl Iterator<Item = (MirrorId, &Mirror)> {
        self.mirrors
            .iter()
            .enumerate()
            .filter(|(_, m)| !m.dropped)
            .map(|(i, m)| (MirrorId(i), m))
    }

    /// Some mirror is still in use.
    pub(super) fn any_in_use(&self) -> bool {
        self.in_use().next().is_some()
    }

    /// Where the request for `url` goes: the origin (`None`) or a mirror, picked by `draw`
    /// (in [0, 1)) among the origin and the mirrors in use, with the URL to ask it. A mirror
    /// being probed (`probing` says whether it is) leaves the request to the origin.
    fn pick(
        &self,
        url: &str,
        draw: f64,
        probing: impl Fn(MirrorId) -> bool,
    ) -> Option<(MirrorId, String)> {
        if self.origin_folder.is_empty() {
            return None;
        }
        let relative = url.strip_prefix(&self.origin_folder)?;
        let servers = 1 + self.in_use().count();
        let pick = ((draw * servers as f64) as usize).min(servers - 1);
        let (id, mirror) = self.in_use().nth(pick.checked_sub(1)?)?;
        if !mirror.proven && probing(id) {
            return None;
        }
        Some((id, format!("{}{relative}", mirror.base)))
    }
}

impl Player {
    /// The mirror to ask for segment `index` of the level being played, with its URL; `None`
    /// for the origin.
    pub(super) fn choose_mirror(&self, index: usize) -> Option<(MirrorId, String)> {
        let stream = self.stream.as_ref()?;
        let id = stream.segment_id(index);
        let segment = &stream.playlist.segments[index];
        // Only bytes that can be checked are taken from a mirror.
        if self.integrity.http_only.contains(&(stream.level, id)) || !self.integrity.lists(segment)
        {
            return None;
        }
        let draw = spread_fraction(self.mirrors.seed, id as usize);
        let probing = |mirror| {
            self.requests.values().any(|r| r.mirror == Some(mirror))
                || self.integrity.checking_from(mirror)
        };
        self.mirrors.pick(&segment.uri, draw, probing)
    }

    /// A segment `mirror` sent passed the integrity check.
    pub(super) fn mirror_proven(&mut self, mirror: MirrorId) {
        if let Some(entry) = self.mirrors.mirrors.get_mut(mirror.0) {
            entry.proven = true;
        }
    }

    /// Mirrors are configured and could be used once the integrity file is in: it must be
    /// loaded even without P2P.
    pub(super) fn mirrors_want_integrity(&self) -> bool {
        self.mirrors.any_in_use()
    }

    /// A request to `mirror` failed: the mirror is dropped and the segment goes back to the
    /// scheduler for the origin, with the failures it had (this one is the mirror's).
    pub(super) fn on_mirror_failure(
        &mut self,
        mirror: MirrorId,
        request: RequestId,
        kind: RequestKind,
        reason: &str,
    ) {
        self.drop_mirror(mirror, reason);
        self.refetch_from_origin(request, kind);
    }

    /// The segment `request` was fetching from a mirror goes back to the scheduler, for the
    /// origin only.
    fn refetch_from_origin(&mut self, request: RequestId, kind: RequestKind) {
        let (RequestKind::Segment(index), Some(stream)) = (kind, self.stream.as_ref()) else {
            return;
        };
        let fetching = matches!(
            stream.slots.segments.get(index),
            Some(Slot::Fetching { request: r, .. }) if *r == request
        );
        if fetching {
            self.fetch_from_origin_only(stream.level, index);
        }
    }

    /// `mirror` is not asked for anything more this session; what it is still sending is
    /// cancelled and asked of the origin (it would be as suspect as what failed).
    pub(super) fn drop_mirror(&mut self, mirror: MirrorId, reason: &str) {
        let Some(entry) = self.mirrors.mirrors.get_mut(mirror.0) else {
            return;
        };
        if entry.dropped {
            return;
        }
        entry.dropped = true;
        let url = entry.base.clone();
        self.event(Event::MirrorDropped {
            url,
            reason: reason.to_owned(),
        });
        let under_way: Vec<(RequestId, RequestKind)> = self
            .requests
            .iter()
            .filter(|(_, r)| r.mirror == Some(mirror))
            .map(|(&request, r)| (request, r.kind))
            .collect();
        for (request, kind) in under_way {
            self.cancel_http(request);
            self.refetch_from_origin(request, kind);
        }
    }

    /// No mirror can be used this session (no integrity file to check their bytes).
    pub(super) fn drop_all_mirrors(&mut self, reason: &str) {
        let in_use: Vec<MirrorId> = self.mirrors.in_use().map(|(id, _)| id).collect();
        for mirror in in_use {
            self.drop_mirror(mirror, reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "https://origin.test/hls/video/master.m3u8?token=1";

    fn mirrors(bases: &[&str]) -> Mirrors {
        let bases: Vec<String> = bases.iter().map(|b| b.to_string()).collect();
        Mirrors::new(&bases, SOURCE, 7)
    }

    #[test]
    fn bases_resolve_against_the_source_and_end_with_a_slash() {
        let m = mirrors(&["https://m1.test/copy", "/other/video/", "rel"]);
        let bases: Vec<&str> = m.mirrors.iter().map(|m| m.base.as_str()).collect();
        assert_eq!(
            bases,
            [
                "https://m1.test/copy/",
                "https://origin.test/other/video/",
                "https://origin.test/hls/video/rel/"
            ]
        );
        assert_eq!(m.origin_folder, "https://origin.test/hls/video/");
    }

    const IDLE: fn(MirrorId) -> bool = |_| false;

    #[test]
    fn the_draw_splits_evenly_over_origin_and_mirrors_in_use() {
        let mut m = mirrors(&["https://m1.test/a/", "https://m2.test/b/"]);
        let url = "https://origin.test/hls/video/720p/seg-1.mp4";
        assert_eq!(
            m.pick(url, 0.2, IDLE),
            None,
            "the first third is the origin's"
        );
        assert_eq!(
            m.pick(url, 0.5, IDLE),
            Some((MirrorId(0), "https://m1.test/a/720p/seg-1.mp4".into()))
        );
        assert_eq!(
            m.pick(url, 0.9, IDLE),
            Some((MirrorId(1), "https://m2.test/b/720p/seg-1.mp4".into()))
        );
        m.mirrors[0].dropped = true;
        assert_eq!(
            m.pick(url, 0.4, IDLE),
            None,
            "the first half is the origin's now"
        );
        assert_eq!(
            m.pick(url, 0.6, IDLE),
            Some((MirrorId(1), "https://m2.test/b/720p/seg-1.mp4".into()))
        );
        m.mirrors[1].dropped = true;
        assert!(!m.any_in_use());
        assert_eq!(m.pick(url, 0.99, IDLE), None);
    }

    #[test]
    fn a_mirror_is_asked_one_segment_at_a_time_until_proven() {
        let mut m = mirrors(&["https://m1.test/a/"]);
        let url = "https://origin.test/hls/video/seg-1.mp4";
        let probing_first = |id: MirrorId| id == MirrorId(0);
        assert_eq!(m.pick(url, 0.9, probing_first), None);
        m.mirrors[0].proven = true;
        assert_eq!(
            m.pick(url, 0.9, probing_first),
            Some((MirrorId(0), "https://m1.test/a/seg-1.mp4".into()))
        );
    }

    #[test]
    fn urls_outside_the_folder_are_not_mirrored() {
        let m = mirrors(&["https://m1.test/a/"]);
        for url in [
            "https://origin.test/hls/other/seg.mp4",
            "https://cdn.test/hls/video/seg.mp4",
        ] {
            assert_eq!(m.pick(url, 0.99, IDLE), None, "{url}");
        }
    }
}
