//! Segment integrity: PeerTube's `segments-sha256.json` ([`crate::integrity`]) loaded once,
//! and every segment whose bytes did not come from the origin alone checked against it before
//! it is appended or shared with peers.
//!
//! - **The file** ([`crate::Config::integrity_url`]) is loaded after `Load`, once P2P is
//!   wanted or mirrors are configured (nothing else needs it). Failures are retried with the
//!   usual policy but are never fatal: playback goes on over HTTP, and a file that cannot be
//!   loaded or read is reported as a non-fatal [`ErrorKind::IntegrityFile`] and counts as no
//!   file (the mirrors are then dropped: their bytes could not be checked). The swarm is
//!   joined only once the first load has ended, so that no peer bytes arrive before they can
//!   be checked; with [`crate::config::P2pConfig::require_integrity`] and no usable file it is
//!   never joined.
//! - **Hashing** is the host's ([`Output::HashBody`], answered by [`Input::BodyHashed`]): the
//!   browser's WebCrypto hashes a 2 MiB segment in about 2.5 ms against 11-15 ms for SHA-256
//!   in our wasm build (tests/bench/sha256.mjs), and the bytes need not cross into wasm.
//! - **Checked**: segments a peer delivered, and segments HTTP finished after a peer started
//!   them (the whole body is checked: the peer's prefix is what is in doubt). While checked a
//!   segment's slot is [`Slot::Verifying`]: not appendable, not in the store, not announced.
//!   A match makes it `Fetched` as an HTTP body would be. A mismatch discards the bytes, drops
//!   and bans the peer for the session, and fetches the segment from the origin: that segment
//!   never goes to a peer again ([`Integrity::http_only`]). [`Event::IntegrityFailure`] and
//!   [`Event::PeerDropped`] (reason `integrity: ...`) tell the UI.
//! - **Not listed**: a live segment missing from the file (or listed with another byte range)
//!   may not be listed *yet*; the file is
//!   fetched again at once, then at most twice more a target duration apart
//!   ([`MAX_LIVE_REFETCHES`] in all), but never longer than HTTP could still take over in
//!   time before the segment is needed. A segment still not listed, a VOD segment the file does
//!   not list, or one listed with another byte range cannot be checked: with
//!   `require_integrity` it comes over HTTP, otherwise it is taken as it is (as without a
//!   file).
//! - **Without a file** (ordinary HLS streams) peer segments are taken unchecked, but one the
//!   media element refuses (`AppendFailed`, not a quota error) bans its peer and comes again
//!   from the origin instead of ending playback, in a re-created media element (recover.rs:
//!   the refusal killed the old one).
//! - **Mirrors** (PeerTube's redundancy servers, mirrors.rs): a segment a mirror served
//!   ([`super::InFlight::mirror`]) goes through the same check, as PeerTube checks HTTP
//!   segments too because mirrors may serve them. A mirror is asked only for segments the file
//!   lists; a mismatch or a segment the file does not list is never taken: the bytes are
//!   discarded, the mirror dropped and the segment fetched from the origin
//!   ([`Integrity::http_only`]), with [`Event::IntegrityFailure`] (source
//!   [`SegmentSource::Mirror`]) for a mismatch.

use std::collections::{BTreeMap, BTreeSet};

use crate::hls::Segment;
use crate::integrity::{Digest, IntegrityFile, Lookup};
use crate::p2p::wire::SegmentId;
use crate::schedule::{Failure, Slot};
use crate::swarm::ConnectionId;
use crate::time::{Duration, Instant};

use super::io::{BanKind, ErrorKind, Event, FetchOrder, FetchPurpose, IntegrityCheck, Output};
use super::mirrors::MirrorId;
use super::{Player, RequestId, RequestKind, SegmentSource};

/// Why every mirror is dropped when the integrity file's first load fails.
const MIRRORS_WITHOUT_FILE: &str =
    "segments-sha256.json could not be loaded or read: its segments cannot be checked";

/// How many times the integrity file is fetched again for a live segment it does not list.
pub(super) const MAX_LIVE_REFETCHES: u32 = 3;

/// The peer that delivered (some of) a body, to blame if the body is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PeerSource {
    pub(super) connection: ConnectionId,
    /// Its peer id, which the ban is on (a banned peer may come back on a new connection).
    pub(super) peer_id: Option<[u8; 20]>,
}

/// Where the bytes of a body to check came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodySource {
    Peer(PeerSource),
    /// A peer's prefix, finished over HTTP.
    PeerThenHttp(PeerSource),
    /// An HTTP server that is not the origin (a mirror).
    Mirror(MirrorId),
}

impl BodySource {
    fn peer(self) -> Option<PeerSource> {
        match self {
            BodySource::Peer(peer) | BodySource::PeerThenHttp(peer) => Some(peer),
            BodySource::Mirror(_) => None,
        }
    }

    fn segment_source(self) -> SegmentSource {
        match self {
            BodySource::Peer(_) => SegmentSource::Peer,
            BodySource::PeerThenHttp(_) => SegmentSource::PeerThenHttp,
            BodySource::Mirror(_) => SegmentSource::Mirror,
        }
    }
}

/// What a body is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    Digest(Digest),
    /// A live segment the file does not list yet: `refetches` of the file since it waits.
    AwaitingFile {
        refetches: u32,
    },
}

/// A body being checked.
#[derive(Debug, Clone)]
struct Check {
    level: usize,
    index: usize,
    source: BodySource,
    bytes: u64,
    expected: Expected,
    /// The host's digest once reported (`None` inside: it held no such body).
    actual: Option<Option<Digest>>,
    since: Instant,
}

/// Segment integrity state of one loaded stream.
#[derive(Debug)]
pub(super) struct Integrity {
    /// The file's URL, resolved against the stream's.
    url: Option<String>,
    file: Option<IntegrityFile>,
    /// The first load: `Idle` until it starts, then as a playlist load.
    first_load: Slot,
    /// The first load ended (loaded, failed for good, or unreadable).
    settled: bool,
    /// When the file is to be fetched again for live segments it does not list yet.
    refetch_at: Option<Instant>,
    /// A refetch under way and when it started.
    refetch: Option<(RequestId, Instant)>,
    /// Bodies being checked.
    checks: BTreeMap<RequestId, Check>,
    /// Segments (level, id) whose bytes from a peer or a mirror were refused (or whose
    /// mirror failed): they come from the origin.
    pub(super) http_only: BTreeSet<(usize, SegmentId)>,
    /// Bodies from peers taken without a digest check: a media decode error blames the peer.
    unchecked: BTreeMap<RequestId, BodySource>,
}

impl Integrity {
    /// `url` resolved against the URL given to `Load`.
    pub(super) fn new(url: Option<&str>, source_url: &str) -> Self {
        let url = url.map(|url| {
            url::Url::parse(source_url)
                .and_then(|base| base.join(url))
                .map_or_else(|_| url.to_owned(), String::from)
        });
        Integrity {
            url,
            file: None,
            first_load: Slot::NEW,
            settled: false,
            refetch_at: None,
            refetch: None,
            checks: BTreeMap::new(),
            http_only: BTreeSet::new(),
            unchecked: BTreeMap::new(),
        }
    }
}

impl Integrity {
    /// A body `mirror` sent is being checked.
    pub(super) fn checking_from(&self, mirror: MirrorId) -> bool {
        self.checks
            .values()
            .any(|c| c.source == BodySource::Mirror(mirror))
    }

    /// The file is loaded and lists the digest of this segment (its bytes can be checked).
    pub(super) fn lists(&self, segment: &Segment) -> bool {
        self.file.as_ref().is_some_and(|file| {
            matches!(
                file.expected_digest(&segment.uri, segment.byte_range),
                Lookup::Found(_)
            )
        })
    }
}

impl Player {
    /// Whether P2P may run as far as integrity goes: without a file configured, unless it is
    /// required; with one, once its first load ended, and then only with a usable file if it
    /// is required.
    pub(super) fn integrity_allows_p2p(&self) -> bool {
        let integrity = &self.integrity;
        match (&integrity.url, integrity.settled) {
            (None, _) => !self.config.p2p.require_integrity,
            (Some(_), false) => false,
            (Some(_), true) => integrity.file.is_some() || !self.config.p2p.require_integrity,
        }
    }

    /// Starts the first load of the integrity file once P2P is wanted, and live refetches when
    /// they are due.
    pub(super) fn load_integrity_if_due(&mut self, p2p_wanted: bool) {
        let now = self.now;
        let Some(url) = self.integrity.url.clone() else {
            return;
        };
        let kind = if !self.integrity.settled {
            if !p2p_wanted {
                return;
            }
            self.integrity.first_load.wake_if_retry_due(now);
            let Slot::Idle { failed_attempts } = self.integrity.first_load else {
                return;
            };
            let request = self.new_request(RequestKind::IntegrityFile, None);
            self.integrity.first_load = Slot::Fetching {
                request,
                failed_attempts,
            };
            (request, url)
        } else {
            let due = self.integrity.refetch_at.is_some_and(|at| at <= now);
            if !due || self.integrity.refetch.is_some() {
                return;
            }
            let request = self.new_request(RequestKind::IntegrityRefetch, None);
            self.integrity.refetch_at = None;
            self.integrity.refetch = Some((request, now));
            (request, url)
        };
        let (request, url) = kind;
        self.outputs.push_back(Output::Fetch(FetchOrder {
            request,
            url,
            range: None,
            purpose: FetchPurpose::IntegrityFile,
            want_text: true,
            append_to_stored: false,
        }));
    }

    /// When the integrity file wants attention next (a retry, a live refetch).
    pub(super) fn integrity_timeout(&self) -> Option<Instant> {
        let integrity = &self.integrity;
        let retry = match integrity.first_load {
            Slot::WaitingRetry { at, .. } if !integrity.settled => Some(at),
            _ => None,
        };
        let refetch = integrity.refetch_at.filter(|_| integrity.refetch.is_none());
        retry.into_iter().chain(refetch).min()
    }

    /// The integrity file arrived (first load or refetch).
    pub(super) fn on_integrity_file(&mut self, kind: RequestKind, text: &str) {
        let parsed = IntegrityFile::parse(text.as_bytes());
        let url = self.integrity.url.clone().unwrap_or_default();
        match kind {
            RequestKind::IntegrityFile => {
                self.integrity.first_load = Slot::NEW;
                self.integrity.settled = true;
                match parsed {
                    Ok(file) => self.integrity.file = Some(file),
                    Err(error) => {
                        self.integrity_error(format!(
                            "cannot read {url}: {error}; segments from peers are not checked"
                        ));
                        self.drop_all_mirrors(MIRRORS_WITHOUT_FILE);
                    }
                }
            }
            _ => {
                let started = self.integrity.refetch.take().map_or(self.now, |(_, at)| at);
                match parsed {
                    Ok(file) => self.integrity.file = Some(file),
                    // The last good version still vouches for what it lists.
                    Err(error) => self.integrity_error(format!("cannot read {url}: {error}")),
                }
                self.recheck_awaiting(started);
            }
        }
    }

    /// Loading the integrity file failed.
    pub(super) fn on_integrity_failure(
        &mut self,
        kind: RequestKind,
        failure: Failure,
        message: &str,
    ) {
        let url = self.integrity.url.clone().unwrap_or_default();
        if kind == RequestKind::IntegrityRefetch {
            // A refetch is not retried on its own: it counts as one of the tries for the
            // segments that wait for it.
            let started = self.integrity.refetch.take().map_or(self.now, |(_, at)| at);
            return self.recheck_awaiting(started);
        }
        let retry = self.config.retry.clone();
        let slot = &mut self.integrity.first_load;
        if let Some(tries) = slot.fail_attempt(self.now, &retry, failure) {
            self.integrity.first_load = Slot::NEW;
            self.integrity.settled = true;
            self.integrity_error(format!(
                "could not load {url} after {tries} attempt(s): {message}; segments from peers \
                 are not checked"
            ));
            self.drop_all_mirrors(MIRRORS_WITHOUT_FILE);
        }
    }

    fn integrity_error(&mut self, message: String) {
        self.event(Event::Error {
            kind: ErrorKind::IntegrityFile,
            fatal: false,
            message,
        });
    }

    /// Whether a peer must not be asked for this segment: its peer bytes were refused once, or
    /// they could not be checked and checks are required (a VOD file does not change).
    pub(super) fn peer_data_refused(&self, index: usize) -> bool {
        let Some(stream) = self.stream.as_ref() else {
            return true;
        };
        let key = (stream.level, stream.segment_id(index));
        if self.integrity.http_only.contains(&key) {
            return true;
        }
        let live = self.live.is_some() && !stream.playlist.ended;
        match (&self.integrity.file, self.config.p2p.require_integrity) {
            (Some(file), true) if !live => {
                let segment = &stream.playlist.segments[index];
                !matches!(
                    file.expected_digest(&segment.uri, segment.byte_range),
                    Lookup::Found(_)
                )
            }
            _ => false,
        }
    }

    /// A segment's whole body is in the host's store under `request`. From the origin
    /// (`source` none) it is ready to append; otherwise it is checked first when there is an
    /// integrity file.
    pub(super) fn receive_segment(
        &mut self,
        request: RequestId,
        index: usize,
        bytes: u64,
        source: Option<BodySource>,
    ) {
        let Some(stream) = self.stream.as_ref() else {
            return;
        };
        let level = stream.level;
        self.body_bytes.insert(request, bytes);
        let Some(source) = source else {
            return self.accept_segment(request, level, index, bytes, SegmentSource::Http);
        };
        let Some(file) = self.integrity.file.as_ref() else {
            if source.peer().is_some() {
                self.integrity.unchecked.insert(request, source);
            }
            return self.accept_segment(request, level, index, bytes, source.segment_source());
        };
        let segment = &stream.playlist.segments[index];
        let live = self.live.is_some() && !stream.playlist.ended;
        let expected = match file.expected_digest(&segment.uri, segment.byte_range) {
            Lookup::Found(digest) => Expected::Digest(digest),
            // On a live stream the file may trail the playlist (a mirror is asked only for
            // segments it lists).
            Lookup::NotListed | Lookup::RangeNotListed if live && source.peer().is_some() => {
                Expected::AwaitingFile { refetches: 0 }
            }
            Lookup::NotListed | Lookup::RangeNotListed => {
                return self.unverifiable(request, level, index, bytes, source);
            }
        };
        if let Some(stream) = self.stream.as_mut() {
            stream.slots.segments[index] = Slot::Verifying { request };
        }
        self.integrity.checks.insert(
            request,
            Check {
                level,
                index,
                source,
                bytes,
                expected,
                actual: None,
                since: self.now,
            },
        );
        self.outputs.push_back(Output::HashBody { request });
        if let Expected::AwaitingFile { .. } = expected {
            self.want_refetch_now();
        }
    }

    /// A live segment waits for the file: fetch it again now unless a fetch is under way
    /// (its end looks at the waiting segments again).
    fn want_refetch_now(&mut self) {
        if self.integrity.refetch.is_none() {
            let at = self
                .integrity
                .refetch_at
                .map_or(self.now, |at| at.min(self.now));
            self.integrity.refetch_at = Some(at);
        }
    }

    /// The host hashed a body.
    pub(super) fn on_body_hashed(&mut self, request: RequestId, sha256: &[u8]) {
        let Some(check) = self.integrity.checks.get_mut(&request) else {
            return; // discarded meanwhile
        };
        let digest = <[u8; 32]>::try_from(sha256).ok().map(Digest::from_bytes);
        check.actual = Some(digest);
        self.settle_check(request);
    }

    /// Decides a check once both digests are known.
    fn settle_check(&mut self, request: RequestId) {
        let Some(check) = self.integrity.checks.get(&request) else {
            return;
        };
        let (Some(actual), Expected::Digest(expected)) = (check.actual, check.expected) else {
            return;
        };
        let check = self.integrity.checks.remove(&request).expect("found above");
        let current = self.stream.as_ref().is_some_and(|s| {
            s.level == check.level
                && s.slots.segments.get(check.index) == Some(&Slot::Verifying { request })
        });
        if !current {
            return self.discard_body(request);
        }
        match actual {
            Some(actual) if actual == expected => {
                if let BodySource::Mirror(mirror) = check.source {
                    self.mirror_proven(mirror);
                }
                let source = check.source.segment_source();
                self.accept_segment(request, check.level, check.index, check.bytes, source);
            }
            Some(_) => self.refuse_segment(request, &check, IntegrityCheck::Sha256),
            None => {
                // The host had no such body: nobody to blame, the origin sends it again.
                self.discard_body(request);
                self.fetch_from_origin_only(check.level, check.index);
            }
        }
    }

    /// The integrity file was fetched again (or failed to be): live segments waiting for it
    /// are looked up again. `started` is when that fetch began: it counts as a try only for
    /// segments that were waiting by then.
    fn recheck_awaiting(&mut self, started: Instant) {
        let waiting: Vec<RequestId> = self
            .integrity
            .checks
            .iter()
            .filter(|(_, c)| matches!(c.expected, Expected::AwaitingFile { .. }))
            .map(|(&r, _)| r)
            .collect();
        let mut again_now = false;
        let mut again_later = false;
        for request in waiting {
            let Some(check) = self.integrity.checks.get_mut(&request) else {
                continue;
            };
            let Expected::AwaitingFile { mut refetches } = check.expected else {
                continue;
            };
            if check.since <= started {
                refetches += 1;
            }
            let lookup = match (self.stream.as_ref(), self.integrity.file.as_ref()) {
                (Some(stream), Some(file)) if stream.level == check.level => {
                    let segment = &stream.playlist.segments[check.index];
                    file.expected_digest(&segment.uri, segment.byte_range)
                }
                _ => Lookup::NotListed,
            };
            match lookup {
                Lookup::Found(digest) => {
                    check.expected = Expected::Digest(digest);
                    self.settle_check(request);
                }
                Lookup::NotListed | Lookup::RangeNotListed if refetches < MAX_LIVE_REFETCHES => {
                    check.expected = Expected::AwaitingFile { refetches };
                    if refetches == 0 {
                        again_now = true;
                    } else {
                        again_later = true;
                    }
                }
                Lookup::NotListed | Lookup::RangeNotListed => self.stop_waiting(request),
            }
        }
        let spacing = self.stream.as_ref().map_or(Duration::from_secs(1), |s| {
            Duration::from_secs_f64(s.playlist.target_duration_s)
        });
        if again_now {
            self.integrity.refetch_at = Some(self.now);
        } else if again_later {
            self.integrity.refetch_at = Some(self.now + spacing);
        }
    }

    /// A live segment waiting for the file is needed so soon that HTTP could no longer take
    /// over in time: it stops waiting and counts as unverifiable.
    pub(super) fn give_up_late_checks(&mut self, position_s: f64) {
        let Some(stream) = self.stream.as_ref() else {
            return;
        };
        let late: Vec<RequestId> = self
            .integrity
            .checks
            .iter()
            .filter(|(_, c)| matches!(c.expected, Expected::AwaitingFile { .. }))
            .filter(|(_, c)| {
                let start_s = stream
                    .playlist
                    .segments
                    .get(c.index)
                    .map_or(0.0, |s| s.start_s);
                c.level != stream.level || start_s - position_s < self.http_fallback_s(c.index)
            })
            .map(|(&request, _)| request)
            .collect();
        for request in late {
            self.stop_waiting(request);
        }
    }

    /// A live segment stops waiting for the file to list it.
    fn stop_waiting(&mut self, request: RequestId) {
        let Some(check) = self.integrity.checks.remove(&request) else {
            return;
        };
        let current = self.stream.as_ref().is_some_and(|s| {
            s.level == check.level
                && s.slots.segments.get(check.index) == Some(&Slot::Verifying { request })
        });
        if current {
            self.unverifiable(request, check.level, check.index, check.bytes, check.source);
        } else {
            self.discard_body(request);
        }
    }

    /// Bytes that cannot be checked: a mirror's are refused (a mirror is asked only for
    /// segments the file lists, and its bytes are never taken unchecked); a peer's come from
    /// the origin when checks are required, and are taken as they are otherwise (a decode
    /// error still blames their peer).
    fn unverifiable(
        &mut self,
        request: RequestId,
        level: usize,
        index: usize,
        bytes: u64,
        source: BodySource,
    ) {
        if let BodySource::Mirror(mirror) = source {
            self.discard_body(request);
            self.fetch_from_origin_only(level, index);
            let id = self.stream.as_ref().map_or(0, |s| s.segment_id(index));
            let reason = format!("segment {id} is not listed in segments-sha256.json");
            return self.drop_mirror(mirror, &reason);
        }
        if self.config.p2p.require_integrity {
            self.discard_body(request);
            return self.fetch_from_origin_only(level, index);
        }
        if source.peer().is_some() {
            self.integrity.unchecked.insert(request, source);
        }
        self.accept_segment(request, level, index, bytes, source.segment_source());
    }

    /// The segment is ready to append.
    fn accept_segment(
        &mut self,
        request: RequestId,
        level: usize,
        index: usize,
        bytes: u64,
        source: SegmentSource,
    ) {
        if let Some(stream) = self.stream.as_mut() {
            stream.slots.segments[index] = Slot::Fetched { request };
        }
        self.event(Event::SegmentLoaded {
            level,
            segment: index,
            bytes,
            source,
        });
    }

    /// Bad bytes: discarded, their peer dropped and banned (their mirror dropped), the
    /// segment fetched from the origin.
    fn refuse_segment(&mut self, request: RequestId, check: &Check, how: IntegrityCheck) {
        self.discard_body(request);
        self.blame(check.level, check.index, check.source, how);
    }

    /// The segment's bytes from `source` were bad: it comes from the origin from now on, the
    /// UI hears of it, and their peer is dropped and banned, or their mirror dropped.
    fn blame(&mut self, level: usize, index: usize, source: BodySource, how: IntegrityCheck) {
        self.fetch_from_origin_only(level, index);
        let peer = source.peer();
        self.event(Event::IntegrityFailure {
            level,
            segment: index,
            source: source.segment_source(),
            connection: peer.map(|p| p.connection),
            check: how,
        });
        let id = self.stream.as_ref().map_or(0, |s| s.segment_id(index));
        let (kind, reason) = match how {
            IntegrityCheck::Sha256 => (
                BanKind::Integrity,
                format!("integrity: segment {id} does not match segments-sha256.json"),
            ),
            IntegrityCheck::Decode => (
                BanKind::Undecodable,
                format!("integrity: segment {id} could not be decoded"),
            ),
        };
        if let BodySource::Mirror(mirror) = source {
            return self.drop_mirror(mirror, &reason);
        }
        let Some(peer) = peer else {
            return;
        };
        if let Some(peer_id) = peer.peer_id {
            self.bans.ban(peer_id, kind, &reason);
        }
        self.drop_banned_peer(peer.connection, peer.peer_id, kind, reason);
    }

    /// Frees a body that will not be appended.
    pub(super) fn discard_body(&mut self, request: RequestId) {
        self.body_bytes.remove(&request);
        self.kept_appends.remove(&request);
        self.integrity.unchecked.remove(&request);
        self.outputs.push_back(Output::ReleaseBody { request });
    }

    /// The segment goes back to the scheduler, for the origin only. A request under way
    /// (to a mirror that failed) keeps its count of failures: they were the origin's.
    pub(super) fn fetch_from_origin_only(&mut self, level: usize, index: usize) {
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        if stream.level != level || index >= stream.slots.segments.len() {
            return;
        }
        let slot = &mut stream.slots.segments[index];
        *slot = match *slot {
            Slot::Fetching {
                failed_attempts, ..
            } => Slot::Idle { failed_attempts },
            _ => Slot::NEW,
        };
        let id = stream.segment_id(index);
        self.integrity.http_only.insert((level, id));
    }

    /// A checked body the playhead no longer needs (a seek, a level switch).
    pub(super) fn drop_check(&mut self, request: RequestId) {
        if self.integrity.checks.remove(&request).is_some() {
            self.discard_body(request);
        }
    }

    /// An append finished: the body is no longer in doubt.
    pub(super) fn forget_unchecked(&mut self, request: RequestId) {
        self.integrity.unchecked.remove(&request);
    }

    /// An append failed (not for lack of space). Bytes a peer sent unchecked ban that peer and
    /// the segment comes again from the origin: returns true. Otherwise (origin bytes) false.
    pub(super) fn on_unchecked_append_failed(&mut self, request: RequestId) -> bool {
        let Some(source) = self.integrity.unchecked.remove(&request) else {
            return false;
        };
        let Some(stream) = self.stream.as_mut() else {
            return false;
        };
        let appending = Slot::Appending { request };
        let Some(index) = stream.slots.segments.iter().position(|s| *s == appending) else {
            return false;
        };
        let level = stream.level;
        self.forget_refused_append(request);
        self.blame(level, index, source, IntegrityCheck::Decode);
        true
    }
}
