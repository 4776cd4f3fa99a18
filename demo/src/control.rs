//! Test-control mode: fault injection, throttling and the request log behind `/__control/*`,
//! and mirrors of the media tree that misbehave (`/mirrors/*`).
//!
//! Browser tests need a real origin that misbehaves on cue ("answers 500 for one segment twice",
//! "delivers media at 100 KB/s") and a record of what the player actually fetched. All of it
//! lives in [`ControlState`], shared by the `/__control` handlers and the [`observe`] middleware
//! that wraps every file route. The mirrors ([`MIRRORS`]) serve the media tree under other
//! prefixes, each with a fixed behaviour applied by [`mirror_behaviour`]; they are file routes
//! like the others, so faults, the throttle and the request log apply to them too.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::{Body, BodyDataStream, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

/// The log keeps at most this many entries (oldest dropped) so a long test session cannot grow
/// memory without bound; far more than one browser test makes.
const MAX_LOGGED_REQUESTS: usize = 100_000;

/// A registered fault, as posted to `/__control/faults`. It does exactly one of three things
/// (exactly one of `status`, `drop_after_bytes`, `corrupt_bytes` is given):
///
/// - `status`: answer that status with an empty body instead of the file;
/// - `drop_after_bytes`: send the real response head (its `Content-Length` is the full answer's)
///   and close the connection after that many body bytes, as an origin whose connection breaks
///   mid-body (a body no longer than that goes out whole);
/// - `corrupt_bytes`: send the real response with its first that many body bytes overwritten
///   with zeros. An MP4 segment then starts with a box of size 0 ("runs to the end of the
///   file"), which Media Source Extensions refuse, so the append fails.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Request path to match exactly, e.g. `/media/vod/480p.mp4` (no query).
    pub path: String,
    /// Match only requests whose Range header starts at this byte; `None` matches any request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_start: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_after_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrupt_bytes: Option<u64>,
    /// How many matching requests to spoil; the fault is dropped after that.
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

/// What a fault does to one request it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FaultAction {
    Status(StatusCode),
    DropAfter(u64),
    Corrupt(u64),
}

impl Fault {
    fn matches(&self, path: &str, range_start: Option<u64>) -> bool {
        self.path == path && (self.range_start.is_none() || self.range_start == range_start)
    }

    /// The one action the fault names, or why it does not name exactly one valid action.
    fn action(&self) -> Result<FaultAction, String> {
        match (self.status, self.drop_after_bytes, self.corrupt_bytes) {
            (Some(status), None, None) => match StatusCode::from_u16(status) {
                Ok(code) if (200..=599).contains(&status) => Ok(FaultAction::Status(code)),
                _ => Err(format!("status {status} is not in 200..=599")),
            },
            (None, Some(bytes), None) => Ok(FaultAction::DropAfter(bytes)),
            (None, None, Some(0)) => Err("corrupt_bytes must be at least 1".into()),
            (None, None, Some(bytes)) => Ok(FaultAction::Corrupt(bytes)),
            _ => Err("give exactly one of status, drop_after_bytes, corrupt_bytes".into()),
        }
    }
}

/// One served request, as returned by `GET /__control/requests`. Deliberately no client address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedRequest {
    pub path: String,
    /// The raw Range header, e.g. `bytes=0-99`, or null.
    pub range: Option<String>,
    pub status: u16,
    /// The fault that spoiled the answer (`status`, `drop_after_bytes`, `corrupt_bytes`), if
    /// one did: a dropped or corrupted body has the file's own status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
}

/// The body of `POST /__control/throttle`. `bytes_per_second: null` (or absent) removes the
/// throttle.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleRequest {
    pub bytes_per_second: Option<u64>,
    /// Request paths starting with this are throttled; default [`DEFAULT_THROTTLE_PREFIX`].
    #[serde(default)]
    pub path_prefix: Option<String>,
}

/// What a throttle applies to when the request names no prefix: every media response.
pub const DEFAULT_THROTTLE_PREFIX: &str = "/media/";

/// An active throttle: each matching response body is sent no faster than `bytes_per_second`
/// (a per-response rate: two parallel responses get that rate each).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Throttle {
    pub bytes_per_second: u64,
    pub path_prefix: String,
}

impl Throttle {
    fn matches(&self, path: &str) -> bool {
        path.starts_with(&self.path_prefix)
    }
}

#[derive(Debug, Default)]
struct Inner {
    faults: Vec<Fault>,
    log: Vec<LoggedRequest>,
    throttle: Option<Throttle>,
    /// Bumped on every throttle change, so bodies already streaming restart their pacing
    /// from the moment of the change instead of paying off or spending an old allowance.
    throttle_generation: u64,
}

/// Shared between the control handlers and the request middleware.
#[derive(Debug, Default)]
pub struct ControlState {
    /// Off unless `--test-control`: then nothing is recorded and no fault can exist.
    enabled: bool,
    verbose: bool,
    inner: Mutex<Inner>,
}

impl ControlState {
    pub fn new(enabled: bool, verbose: bool) -> Self {
        Self {
            enabled,
            verbose,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave Inner half-updated in a way that matters
        // for tests, so keep serving rather than poisoning every later request.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Consumes one use of the first fault matching this request, if any.
    fn take_fault(&self, path: &str, range_start: Option<u64>) -> Option<FaultAction> {
        let mut inner = self.lock();
        let index = inner
            .faults
            .iter()
            .position(|f| f.matches(path, range_start))?;
        let fault = &mut inner.faults[index];
        // Every stored fault passed `add_fault`'s validation.
        let action = fault.action().ok();
        fault.count = fault.count.saturating_sub(1);
        if fault.count == 0 {
            inner.faults.remove(index);
        }
        action
    }

    fn record(&self, entry: LoggedRequest) {
        let mut inner = self.lock();
        if inner.log.len() >= MAX_LOGGED_REQUESTS {
            inner.log.remove(0);
        }
        inner.log.push(entry);
    }

    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.lock().log.clone()
    }

    pub fn faults(&self) -> Vec<Fault> {
        self.lock().faults.clone()
    }

    pub fn add_fault(&self, fault: Fault) -> Result<(), String> {
        fault.action()?;
        if fault.count == 0 {
            return Err("count must be at least 1".into());
        }
        if !fault.path.starts_with('/') {
            return Err(format!("path {:?} must start with /", fault.path));
        }
        self.lock().faults.push(fault);
        Ok(())
    }

    pub fn reset(&self) {
        let mut inner = self.lock();
        inner.faults.clear();
        inner.log.clear();
        inner.throttle = None;
        inner.throttle_generation += 1;
    }

    pub fn throttle(&self) -> Option<Throttle> {
        self.lock().throttle.clone()
    }

    /// Installs (or, with `bytes_per_second: None`, removes) the throttle.
    pub fn set_throttle(&self, request: ThrottleRequest) -> Result<Option<Throttle>, String> {
        let throttle = match request.bytes_per_second {
            None => None,
            Some(0) => return Err("bytes_per_second must be at least 1 (or null)".into()),
            Some(bytes_per_second) => {
                let path_prefix = request
                    .path_prefix
                    .unwrap_or_else(|| DEFAULT_THROTTLE_PREFIX.to_string());
                if !path_prefix.starts_with('/') {
                    return Err(format!("path_prefix {path_prefix:?} must start with /"));
                }
                Some(Throttle {
                    bytes_per_second,
                    path_prefix,
                })
            }
        };
        let mut inner = self.lock();
        inner.throttle.clone_from(&throttle);
        inner.throttle_generation += 1;
        Ok(throttle)
    }

    /// The rate for a response to `path` now, with the setting's generation.
    fn throttle_for(&self, path: &str) -> Option<(u64, u64)> {
        let inner = self.lock();
        inner
            .throttle
            .as_ref()
            .filter(|t| t.matches(path))
            .map(|t| (t.bytes_per_second, inner.throttle_generation))
    }
}

/// Size of the pieces a throttled body is cut into: a twentieth of a second's worth, so the
/// stream flows evenly and a change of setting takes effect within about 50 ms, capped so
/// fast rates do not mean huge bursts, and at least one byte.
fn piece_size(bytes_per_second: u64) -> usize {
    usize::try_from(bytes_per_second / 20)
        .unwrap_or(usize::MAX)
        .clamp(1, 16 * 1024)
}

/// When `sent` bytes may have gone out at `rate` bytes/s, counting from the start of the pacing.
fn pacing_offset(sent: u64, rate: u64) -> Duration {
    let nanos = u128::from(sent) * 1_000_000_000 / u128::from(rate.max(1));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// A response body on its way out, paced by whatever throttle applies to its path at each
/// piece; with no throttle it passes frames through untouched.
struct Pacer {
    state: Arc<ControlState>,
    path: String,
    body: BodyDataStream,
    /// What is left of the frame being sent.
    pending: Bytes,
    /// (throttle generation, start of pacing, bytes sent since then).
    pacing: Option<(u64, tokio::time::Instant, u64)>,
}

impl Pacer {
    async fn next_piece(mut self) -> Option<(Result<Bytes, axum::Error>, Self)> {
        while self.pending.is_empty() {
            match self.body.next().await? {
                Ok(frame) => self.pending = frame,
                Err(e) => return Some((Err(e), self)),
            }
        }
        let Some((rate, generation)) = self.state.throttle_for(&self.path) else {
            self.pacing = None;
            let frame = std::mem::take(&mut self.pending);
            return Some((Ok(frame), self));
        };
        let piece = self
            .pending
            .split_to(piece_size(rate).min(self.pending.len()));
        let (start, sent) = match self.pacing {
            Some((g, start, sent)) if g == generation => (start, sent),
            _ => (tokio::time::Instant::now(), 0),
        };
        let sent = sent + piece.len() as u64;
        self.pacing = Some((generation, start, sent));
        // A piece leaves once the whole of it fits in the rate: no prefix of the body is ever
        // faster than the throttle.
        tokio::time::sleep_until(start + pacing_offset(sent, rate)).await;
        Some((Ok(piece), self))
    }
}

/// Wraps a response body so the throttle (current or set later, while it streams) applies.
pub fn paced_body(state: Arc<ControlState>, path: String, body: Body) -> Body {
    let pacer = Pacer {
        state,
        path,
        body: body.into_data_stream(),
        pending: Bytes::new(),
        pacing: None,
    };
    Body::from_stream(futures_util::stream::unfold(pacer, Pacer::next_piece))
}

/// How long a body cut by `drop_after_bytes` waits after its last byte before the connection
/// is closed, so that the bytes before the cut leave the server's write buffer first.
const DROP_FLUSH_DELAY: Duration = Duration::from_millis(20);

/// A file body as a `drop_after_bytes` or `corrupt_bytes` fault spoils it (see [`Fault`]).
/// The cut is a body error: hyper then closes the connection, and the client sees fewer bytes
/// than the `Content-Length` it was promised.
fn spoiled_body(body: Body, action: FaultAction) -> Body {
    /// The inner stream (none once the cut was made), the body bytes passed so far, and
    /// whether the cut is due.
    type State = (Option<BodyDataStream>, u64, bool);
    let next = move |(body, passed, cut_due): State| async move {
        let mut body = body?;
        if cut_due {
            tokio::time::sleep(DROP_FLUSH_DELAY).await;
            let error = std::io::Error::other("connection dropped by a drop_after_bytes fault");
            return Some((Err(axum::Error::new(error)), (None, passed, false)));
        }
        let mut frame = match body.next().await? {
            Ok(frame) => frame,
            Err(e) => return Some((Err(e), (None, passed, false))),
        };
        let end = passed + frame.len() as u64;
        match action {
            FaultAction::DropAfter(limit) if end > limit => {
                let keep = usize::try_from(limit.saturating_sub(passed)).unwrap_or(usize::MAX);
                frame.truncate(keep);
                Some((Ok(frame), (Some(body), limit, true)))
            }
            FaultAction::Corrupt(limit) if passed < limit => {
                let mut bytes = frame.to_vec();
                let zeroed =
                    usize::try_from(limit - passed).map_or(bytes.len(), |n| n.min(bytes.len()));
                bytes[..zeroed].fill(0);
                Some((Ok(Bytes::from(bytes)), (Some(body), end, false)))
            }
            _ => Some((Ok(frame), (Some(body), end, false))),
        }
    };
    let start: State = (Some(body.into_data_stream()), 0, false);
    Body::from_stream(futures_util::stream::unfold(start, next))
}

/// First byte of the first range in a `Range: bytes=a-b` header; `None` for suffix ranges
/// (`bytes=-n`), other units or garbage.
pub fn range_start(range: &str) -> Option<u64> {
    let spec = range.trim();
    let (unit, ranges) = spec.split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return None;
    }
    let first = ranges.split(',').next()?.trim();
    let (start, _) = first.split_once('-')?;
    start.trim().parse().ok()
}

/// Middleware around every file route: applies faults and the throttle, records the request
/// log, and logs to stderr when verbose. Status faults answer before the file service runs, so
/// such a request costs no disk read, like a real origin failing early; the other faults spoil
/// the real response's body ([`spoiled_body`]). With test control on,
/// every file body goes through [`paced_body`], so a throttle set while a response is already
/// streaming slows its remaining bytes too (`Content-Length` and `Content-Range` are untouched:
/// only the timing changes).
pub async fn observe(State(state): State<Arc<ControlState>>, req: Request, next: Next) -> Response {
    if !state.enabled && !state.verbose {
        return next.run(req).await;
    }
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let range = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);

    let fault = if state.enabled {
        state.take_fault(&path, range.as_deref().and_then(range_start))
    } else {
        None
    };
    let response = match fault {
        Some(FaultAction::Status(status)) => (status, Body::empty()).into_response(),
        _ if state.enabled => {
            let response = next.run(req).await;
            let (parts, mut body) = response.into_parts();
            if let Some(action) = fault {
                body = spoiled_body(body, action);
            }
            Response::from_parts(parts, paced_body(state.clone(), path.clone(), body))
        }
        _ => next.run(req).await,
    };

    let status = response.status().as_u16();
    let fault = fault.map(|action| match action {
        FaultAction::Status(_) => "status",
        FaultAction::DropAfter(_) => "drop_after_bytes",
        FaultAction::Corrupt(_) => "corrupt_bytes",
    });
    if state.verbose {
        eprintln!(
            "{method} {path} range={} -> {status}{} ({} ms)",
            range.as_deref().unwrap_or("-"),
            fault.map(|f| format!(" [fault: {f}]")).unwrap_or_default(),
            started.elapsed().as_millis()
        );
    }
    if state.enabled {
        state.record(LoggedRequest {
            path,
            range,
            status,
            fault: fault.map(str::to_string),
        });
    }
    response
}

/// Where the mirrors of the media tree are served (test-control mode).
pub const MIRRORS_PREFIX: &str = "/mirrors";

/// How a mirror answers every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorBehaviour {
    /// As `/media/` does.
    Ok,
    /// `500` with an empty body.
    Error,
    /// As `/media/` does (same status, headers and length), with every body byte flipped.
    Corrupt,
}

/// The mirrors: `/mirrors/<name>/...` serves `/media/...` as the behaviour says.
pub const MIRRORS: [(&str, MirrorBehaviour); 3] = [
    ("ok", MirrorBehaviour::Ok),
    ("error", MirrorBehaviour::Error),
    ("corrupt", MirrorBehaviour::Corrupt),
];

/// The behaviour of the mirror a request path is under, if any.
fn mirror_of(path: &str) -> Option<MirrorBehaviour> {
    let rest = path.strip_prefix(MIRRORS_PREFIX)?.strip_prefix('/')?;
    let (name, _) = rest.split_once('/')?;
    MIRRORS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, behaviour)| behaviour)
}

/// Each byte of a corrupting mirror's answer.
fn corrupt_byte(byte: u8) -> u8 {
    !byte
}

/// Middleware of the mirror routes: answers as the path's mirror behaves.
pub async fn mirror_behaviour(req: Request, next: Next) -> Response {
    match mirror_of(req.uri().path()) {
        Some(MirrorBehaviour::Error) => {
            (StatusCode::INTERNAL_SERVER_ERROR, Body::empty()).into_response()
        }
        Some(MirrorBehaviour::Corrupt) => {
            let response = next.run(req).await;
            if !response.status().is_success() {
                return response;
            }
            let (parts, body) = response.into_parts();
            let flipped = body.into_data_stream().map(|frame| {
                frame.map(|bytes| {
                    Bytes::from(bytes.iter().copied().map(corrupt_byte).collect::<Vec<u8>>())
                })
            });
            Response::from_parts(parts, Body::from_stream(flipped))
        }
        Some(MirrorBehaviour::Ok) | None => next.run(req).await,
    }
}

fn json_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

/// Bodies are parsed by hand rather than with the `Json` extractor so that a test posting JSON
/// without a Content-Type header still works.
async fn post_fault(State(state): State<Arc<ControlState>>, body: Bytes) -> Response {
    let fault: Fault = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, format!("bad fault JSON: {e}")),
    };
    match state.add_fault(fault) {
        Ok(()) => Json(serde_json::json!({ "ok": true, "faults": state.faults() })).into_response(),
        Err(e) => json_error(StatusCode::BAD_REQUEST, e),
    }
}

async fn get_faults(State(state): State<Arc<ControlState>>) -> Json<Vec<Fault>> {
    Json(state.faults())
}

async fn get_requests(State(state): State<Arc<ControlState>>) -> Response {
    let mut response = Json(state.requests()).into_response();
    insert_no_store(response.headers_mut());
    response
}

fn throttle_json(throttle: Option<&Throttle>) -> serde_json::Value {
    serde_json::json!({
        "bytes_per_second": throttle.map(|t| t.bytes_per_second),
        "path_prefix": throttle.map(|t| t.path_prefix.as_str()),
    })
}

/// `{"bytes_per_second": N|null, "path_prefix": "/media/..."?}`; answers the new setting.
async fn post_throttle(State(state): State<Arc<ControlState>>, body: Bytes) -> Response {
    let request: ThrottleRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, format!("bad throttle JSON: {e}")),
    };
    match state.set_throttle(request) {
        Ok(throttle) => Json(throttle_json(throttle.as_ref())).into_response(),
        Err(e) => json_error(StatusCode::BAD_REQUEST, e),
    }
}

async fn get_throttle(State(state): State<Arc<ControlState>>) -> Response {
    let mut response = Json(throttle_json(state.throttle().as_ref())).into_response();
    insert_no_store(response.headers_mut());
    response
}

async fn post_reset(State(state): State<Arc<ControlState>>) -> Json<serde_json::Value> {
    state.reset();
    Json(serde_json::json!({ "ok": true }))
}

fn insert_no_store(headers: &mut HeaderMap) {
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
}

async fn not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, "not found")
}

/// Routes to nest under `/__control`. Without test control every path there is a 404, so a demo
/// server never exposes fault injection by accident.
pub fn router(state: Arc<ControlState>) -> Router {
    if !state.enabled {
        return Router::new().route("/", get(not_found)).fallback(not_found);
    }
    Router::new()
        .route("/faults", post(post_fault).get(get_faults))
        .route("/requests", get(get_requests))
        .route("/throttle", post(post_throttle).get(get_throttle))
        .route("/reset", post(post_reset))
        .fallback(not_found)
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_paths_name_their_behaviour() {
        assert_eq!(
            mirror_of("/mirrors/ok/vod/480p.mp4"),
            Some(MirrorBehaviour::Ok)
        );
        assert_eq!(
            mirror_of("/mirrors/error/vod/480p.mp4"),
            Some(MirrorBehaviour::Error)
        );
        assert_eq!(
            mirror_of("/mirrors/corrupt/vod/480p.mp4"),
            Some(MirrorBehaviour::Corrupt)
        );
        for other in [
            "/media/vod/480p.mp4",
            "/mirrors/other/a",
            "/mirrors/ok",
            "/mirrorsok/a",
        ] {
            assert_eq!(mirror_of(other), None, "{other}");
        }
        assert_eq!(corrupt_byte(0x00), 0xff);
        assert_eq!(corrupt_byte(0x5a), 0xa5);
    }

    #[test]
    fn range_start_parsing() {
        assert_eq!(range_start("bytes=12345-"), Some(12345));
        assert_eq!(range_start("bytes=0-99"), Some(0));
        assert_eq!(range_start(" Bytes = 7-8, 20-30"), Some(7));
        assert_eq!(range_start("bytes=-500"), None);
        assert_eq!(range_start("items=1-2"), None);
        assert_eq!(range_start("garbage"), None);
    }

    #[test]
    fn faults_count_down_and_match_ranges() {
        let state = ControlState::new(true, false);
        state
            .add_fault(Fault {
                path: "/a".into(),
                range_start: Some(10),
                status: Some(500),
                drop_after_bytes: None,
                corrupt_bytes: None,
                count: 2,
            })
            .unwrap();
        assert_eq!(state.take_fault("/a", Some(0)), None);
        assert_eq!(state.take_fault("/a", None), None);
        assert_eq!(state.take_fault("/b", Some(10)), None);
        let error = FaultAction::Status(StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(state.take_fault("/a", Some(10)), Some(error));
        assert_eq!(state.take_fault("/a", Some(10)), Some(error));
        assert_eq!(state.take_fault("/a", Some(10)), None);
        assert!(state.faults().is_empty());
    }

    #[test]
    fn fault_validation_and_defaults() {
        let state = ControlState::new(true, false);
        let parsed: Fault = serde_json::from_str(r#"{"path":"/x","status":404}"#).unwrap();
        assert_eq!(parsed.count, 1);
        assert_eq!(parsed.range_start, None);
        assert!(state.add_fault(parsed).is_ok());
        for bad in [
            r#"{"path":"/x","status":99}"#,
            r#"{"path":"/x","status":500,"count":0}"#,
            r#"{"path":"x","status":500}"#,
            r#"{"path":"/x"}"#,
            r#"{"path":"/x","status":500,"drop_after_bytes":10}"#,
            r#"{"path":"/x","drop_after_bytes":10,"corrupt_bytes":8}"#,
            r#"{"path":"/x","corrupt_bytes":0}"#,
        ] {
            assert!(
                state.add_fault(serde_json::from_str(bad).unwrap()).is_err(),
                "{bad}"
            );
        }
        assert!(serde_json::from_str::<Fault>(r#"{"path":"/x","status":500,"oops":1}"#).is_err());
        for good in [
            r#"{"path":"/x","drop_after_bytes":0}"#,
            r#"{"path":"/x","corrupt_bytes":8,"count":3}"#,
        ] {
            assert!(state.add_fault(serde_json::from_str(good).unwrap()).is_ok());
        }
    }

    /// `frames` as a body, read back through `spoiled_body`: the bytes that came, and
    /// whether the body ended with an error.
    async fn read_spoiled(frames: Vec<Vec<u8>>, action: FaultAction) -> (Vec<u8>, bool) {
        let stream = futures_util::stream::iter(
            frames
                .into_iter()
                .map(|f| Ok::<_, std::convert::Infallible>(Bytes::from(f))),
        );
        let mut body = spoiled_body(Body::from_stream(stream), action).into_data_stream();
        let mut out = Vec::new();
        while let Some(frame) = body.next().await {
            match frame {
                Ok(frame) => out.extend_from_slice(&frame),
                Err(_) => {
                    assert!(body.next().await.is_none(), "nothing follows the cut");
                    return (out, true);
                }
            }
        }
        (out, false)
    }

    #[tokio::test(start_paused = true)]
    async fn spoiled_bodies_are_cut_or_zeroed_exactly_where_asked() {
        let all = data(1000);
        let frames = || all.chunks(300).map(<[u8]>::to_vec).collect::<Vec<_>>();
        for cut in [0, 1, 299, 300, 301, 999] {
            let (got, failed) = read_spoiled(frames(), FaultAction::DropAfter(cut)).await;
            assert_eq!(got, &all[..cut as usize], "cut at {cut}");
            assert!(failed, "cut at {cut}");
        }
        // A body no longer than the cut goes out whole.
        assert_eq!(
            read_spoiled(frames(), FaultAction::DropAfter(1000)).await,
            (all.clone(), false)
        );
        for zeroed in [1, 300, 450, 5000] {
            let (got, failed) = read_spoiled(frames(), FaultAction::Corrupt(zeroed)).await;
            let zeroed = (zeroed as usize).min(all.len());
            assert!(!failed);
            assert_eq!(got.len(), all.len());
            assert!(got[..zeroed].iter().all(|&b| b == 0), "zeroed {zeroed}");
            assert_eq!(got[zeroed..], all[zeroed..], "zeroed {zeroed}");
        }
    }

    fn throttled_state(bytes_per_second: u64, path_prefix: Option<&str>) -> Arc<ControlState> {
        let state = Arc::new(ControlState::new(true, false));
        state
            .set_throttle(ThrottleRequest {
                bytes_per_second: Some(bytes_per_second),
                path_prefix: path_prefix.map(str::to_string),
            })
            .unwrap();
        state
    }

    /// `frames` as a body, read back through the pacer.
    async fn read_paced(state: &Arc<ControlState>, path: &str, frames: Vec<Vec<u8>>) -> Vec<u8> {
        let stream = futures_util::stream::iter(
            frames
                .into_iter()
                .map(|f| Ok::<_, std::convert::Infallible>(Bytes::from(f))),
        );
        let mut body =
            paced_body(state.clone(), path.into(), Body::from_stream(stream)).into_data_stream();
        let mut out = Vec::new();
        while let Some(frame) = body.next().await {
            out.extend_from_slice(&frame.unwrap());
        }
        out
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn throttled_body_takes_its_size_over_the_rate_and_keeps_every_byte() {
        let state = throttled_state(100_000, None);
        let all = data(200_000);
        let frames = all.chunks(65_536).map(<[u8]>::to_vec).collect();
        let started = tokio::time::Instant::now();
        let out = read_paced(&state, "/media/vod/480p.mp4", frames).await;
        let took = started.elapsed();
        assert_eq!(out, all);
        // 200 KB at 100 KB/s: 2 s of virtual time, exactly, since time only moves in sleeps.
        assert_eq!(took, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn unmatched_paths_and_no_throttle_are_not_slowed() {
        let all = data(200_000);
        for (state, path) in [
            (
                throttled_state(1000, Some("/media/live/")),
                "/media/vod/a.mp4",
            ),
            (throttled_state(1000, None), "/fixtures/a.bin"),
            (Arc::new(ControlState::new(true, false)), "/media/vod/a.mp4"),
        ] {
            let started = tokio::time::Instant::now();
            let out = read_paced(&state, path, vec![all.clone()]).await;
            assert_eq!(out, all, "{path}");
            assert_eq!(started.elapsed(), Duration::ZERO, "{path}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttle_set_or_removed_mid_stream_applies_to_the_remaining_bytes() {
        let state = Arc::new(ControlState::new(true, false));
        let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            let frame = rx.recv().await?;
            Some((Ok::<_, std::convert::Infallible>(Bytes::from(frame)), rx))
        });
        let mut body = paced_body(
            state.clone(),
            "/media/x.mp4".into(),
            Body::from_stream(stream),
        )
        .into_data_stream();

        let started = tokio::time::Instant::now();
        tx.send(data(50_000)).await.unwrap();
        assert_eq!(body.next().await.unwrap().unwrap().len(), 50_000);
        assert_eq!(started.elapsed(), Duration::ZERO);

        // Throttled from here on: the next 30 KB take 3 s at 10 KB/s, in 500-byte pieces.
        state
            .set_throttle(ThrottleRequest {
                bytes_per_second: Some(10_000),
                path_prefix: None,
            })
            .unwrap();
        tx.send(data(30_000)).await.unwrap();
        let mut got = 0;
        while got < 30_000 {
            let piece = body.next().await.unwrap().unwrap();
            assert!(piece.len() <= 500);
            got += piece.len();
        }
        assert_eq!(started.elapsed(), Duration::from_secs(3));

        // Reset removes it: the rest passes at once.
        state.reset();
        tx.send(data(40_000)).await.unwrap();
        drop(tx);
        assert_eq!(body.next().await.unwrap().unwrap().len(), 40_000);
        assert!(body.next().await.is_none());
        assert_eq!(started.elapsed(), Duration::from_secs(3));
    }

    #[test]
    fn throttle_settings_validate_and_clear() {
        let state = ControlState::new(true, false);
        let set =
            |json: &str| state.set_throttle(serde_json::from_str::<ThrottleRequest>(json).unwrap());
        assert_eq!(
            set(r#"{"bytes_per_second": 5000}"#).unwrap(),
            Some(Throttle {
                bytes_per_second: 5000,
                path_prefix: "/media/".into()
            })
        );
        assert_eq!(
            state.throttle_for("/media/vod/a.mp4").map(|t| t.0),
            Some(5000)
        );
        assert_eq!(state.throttle_for("/pkg/shoal.js"), None);
        assert!(set(r#"{"bytes_per_second": 0}"#).is_err());
        assert!(set(r#"{"bytes_per_second": 1, "path_prefix": "media"}"#).is_err());
        // A rejected request leaves the setting alone.
        assert_eq!(state.throttle().unwrap().bytes_per_second, 5000);
        assert_eq!(set(r#"{"bytes_per_second": null}"#).unwrap(), None);
        assert_eq!(state.throttle(), None);
        assert!(serde_json::from_str::<ThrottleRequest>(r#"{"rate": 1}"#).is_err());
        assert_eq!(piece_size(100_000), 5000);
        assert_eq!(piece_size(1), 1);
        assert_eq!(piece_size(u64::MAX), 16 * 1024);
    }
}
