//! Test-control mode: fault injection and the request log behind `/__control/*`.
//!
//! Browser tests need a real origin that misbehaves on cue ("answers 500 for one segment twice")
//! and a record of what the player actually fetched. Both live in [`ControlState`], shared by
//! the `/__control` handlers and the [`observe`] middleware that wraps every file route.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

/// The log keeps at most this many entries (oldest dropped) so a long test session cannot grow
/// memory without bound; far more than one browser test makes.
const MAX_LOGGED_REQUESTS: usize = 100_000;

/// A registered fault, as posted to `/__control/faults`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Request path to match exactly, e.g. `/media/vod/480p.mp4` (no query).
    pub path: String,
    /// Match only requests whose Range header starts at this byte; `None` matches any request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_start: Option<u64>,
    /// Status to answer with (empty body) instead of the file.
    pub status: u16,
    /// How many matching requests to fail; the fault is dropped after that.
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

impl Fault {
    fn matches(&self, path: &str, range_start: Option<u64>) -> bool {
        self.path == path && (self.range_start.is_none() || self.range_start == range_start)
    }
}

/// One served request, as returned by `GET /__control/requests`. Deliberately no client address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedRequest {
    pub path: String,
    /// The raw Range header, e.g. `bytes=0-99`, or null.
    pub range: Option<String>,
    pub status: u16,
}

#[derive(Debug, Default)]
struct Inner {
    faults: Vec<Fault>,
    log: Vec<LoggedRequest>,
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
    fn take_fault(&self, path: &str, range_start: Option<u64>) -> Option<StatusCode> {
        let mut inner = self.lock();
        let index = inner
            .faults
            .iter()
            .position(|f| f.matches(path, range_start))?;
        let fault = &mut inner.faults[index];
        let status = StatusCode::from_u16(fault.status).ok();
        fault.count = fault.count.saturating_sub(1);
        if fault.count == 0 {
            inner.faults.remove(index);
        }
        status
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
        if !(200..=599).contains(&fault.status) {
            return Err(format!("status {} is not in 200..=599", fault.status));
        }
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
    }
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

/// Middleware around every file route: applies faults, records the request log, and logs to
/// stderr when verbose. Faults answer before the file service runs, so a faulted request costs
/// no disk read, like a real origin failing early.
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
        Some(status) => (status, Body::empty()).into_response(),
        None => next.run(req).await,
    };

    let status = response.status().as_u16();
    if state.verbose {
        eprintln!(
            "{method} {path} range={} -> {status}{} ({} ms)",
            range.as_deref().unwrap_or("-"),
            if fault.is_some() { " [fault]" } else { "" },
            started.elapsed().as_millis()
        );
    }
    if state.enabled {
        state.record(LoggedRequest {
            path,
            range,
            status,
        });
    }
    response
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
        .route("/reset", post(post_reset))
        .fallback(not_found)
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

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
                status: 500,
                count: 2,
            })
            .unwrap();
        assert_eq!(state.take_fault("/a", Some(0)), None);
        assert_eq!(state.take_fault("/a", None), None);
        assert_eq!(state.take_fault("/b", Some(10)), None);
        assert_eq!(
            state.take_fault("/a", Some(10)),
            Some(StatusCode::INTERNAL_SERVER_ERROR)
        );
        assert_eq!(
            state.take_fault("/a", Some(10)),
            Some(StatusCode::INTERNAL_SERVER_ERROR)
        );
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
        ] {
            assert!(
                state.add_fault(serde_json::from_str(bad).unwrap()).is_err(),
                "{bad}"
            );
        }
        assert!(serde_json::from_str::<Fault>(r#"{"path":"/x","status":500,"oops":1}"#).is_err());
    }
}
