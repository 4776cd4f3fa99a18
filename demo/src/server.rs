//! The HTTP origin: routing, static files with Range, CORS, content types and caching headers;
//! it also mounts the WebTorrent tracker (`crate::tracker`) at `/tracker` on the same port.
//!
//! Files are served by tower-http's `ServeDir`, which implements conditional requests and single
//! byte ranges (206/416) correctly; this module only adds what a browser-based HLS player needs
//! on top: permissive CORS, exact media content types and `no-cache` on playlists, and the
//! embed player's routes (`/embed/`, PeerTube-style `/videos/embed/<id>`) with their
//! Content-Security-Policy, and in test-control mode the mirrors of the media tree
//! (`/mirrors/<name>/`, see `crate::control`).

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path as UrlPath, RawQuery, Request, State};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower_http::cors::{Any, CorsLayer};
use tower_http::services::ServeDir;

use crate::config::ServerConfig;
use crate::control::{self, ControlState};
use crate::tracker::{Tracker, TRACKER_PATH};

/// Content types the player and browsers care about, by lowercase file extension. Anything else
/// keeps ServeDir's guess. Media types are fixed here because guessers disagree on `.ts`
/// (TypeScript vs MPEG-TS) and `.m4s`, and `application/wasm` is required for streaming
/// compilation.
fn content_type_for(extension: &str) -> Option<&'static str> {
    Some(match extension {
        "m3u8" => "application/vnd.apple.mpegurl",
        "mp4" | "m4s" | "m4v" => "video/mp4",
        "m4a" => "audio/mp4",
        "ts" => "video/mp2t",
        "json" => "application/json",
        "wasm" => "application/wasm",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "vtt" => "text/vtt; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        _ => return None,
    })
}

fn extension_of(path: &str) -> Option<String> {
    let name = path.rsplit('/').next()?;
    let (_, ext) = name.rsplit_once('.')?;
    Some(ext.to_ascii_lowercase())
}

/// Playlists and JSON (the integrity file) change between runs and, for live, between requests,
/// so they must be revalidated every time; media bytes at a given URL never change.
fn needs_no_cache(extension: &str) -> bool {
    matches!(extension, "m3u8" | "json")
}

/// Post-processes file responses: content type by extension, cache policy, Accept-Ranges.
async fn file_headers(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let extension = extension_of(&path);
    let mut response = next.run(req).await;
    let status = response.status();
    let headers = response.headers_mut();
    if status.is_redirection() {
        // ServeDir's only redirect is "directory without trailing slash", built from the path it
        // saw, which `nest_service` has stripped of its prefix; rebuild it from the full path.
        let location = match &query {
            Some(q) => format!("{path}/?{q}"),
            None => format!("{path}/"),
        };
        if let Ok(value) = HeaderValue::from_str(&location) {
            headers.insert(header::LOCATION, value);
        }
    }
    let served_file = status == StatusCode::OK || status == StatusCode::PARTIAL_CONTENT;
    if served_file {
        if let Some(ct) = extension.as_deref().and_then(content_type_for) {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        // Advertise range support on full responses too, so clients know they may ask.
        headers
            .entry(header::ACCEPT_RANGES)
            .or_insert(HeaderValue::from_static("bytes"));
    }
    if (served_file || status == StatusCode::NOT_MODIFIED)
        && extension.as_deref().is_some_and(needs_no_cache)
    {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    response
}

/// Cross-origin access for everything: the demo page, embeds on other origins and peers' test
/// pages all fetch from this origin, and they send `Range`.
fn cors_layer() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::POST, Method::OPTIONS])
        .allow_headers([header::RANGE, header::CONTENT_TYPE, header::CACHE_CONTROL])
        .expose_headers([
            header::CONTENT_RANGE,
            header::CONTENT_LENGTH,
            header::ACCEPT_RANGES,
            HeaderName::from_static("etag"),
        ])
        .max_age(Duration::from_secs(600))
}

/// The embed page's policy. It runs only its own scripts (`'self'`: no inline script, no eval)
/// plus WebAssembly compilation (`'wasm-unsafe-eval'`); styles come from its own stylesheet
/// (colours from URL parameters are set through the CSSOM, which style-src does not govern).
/// The video may come from any HTTP(S) origin the embedder names, and trackers are WebSockets,
/// hence the scheme sources in `connect-src`/`media-src` (media plays from a `blob:` MediaSource;
/// `<track>` captions are media loads). `http:`/`ws:` are there because the demo and local
/// trackers are plain HTTP on loopback. Framing is allowed everywhere: being framed is the point.
pub const EMBED_CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self'; img-src 'self' data:; media-src 'self' blob: https: http:; \
     connect-src 'self' https: http: wss: ws:; base-uri 'none'; form-action 'none'; \
     object-src 'none'; frame-ancestors *";

/// Adds the embed's security headers to every response of the embed routes.
async fn embed_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(EMBED_CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Whether `id` can name a folder under the media directory: short, no separators or dots.
fn is_video_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `/videos/embed/<id>?<params>` (PeerTube's embed URL) -> `/embed/?src=/media/<id>/master.m3u8`
/// (+ `integrity=` when the folder has one) followed by the caller's parameters, so existing
/// PeerTube-style embed codes work. The caller's own `src`/`integrity` are dropped: the id says
/// which video this is.
async fn embed_redirect(
    State(media_dir): State<Arc<PathBuf>>,
    UrlPath(id): UrlPath<String>,
    RawQuery(query): RawQuery,
) -> Response {
    // Two stat calls on a local disk: cheap enough not to need a blocking-thread hop.
    let folder = media_dir.join(&id);
    if !is_video_id(&id) || !folder.join("master.m3u8").is_file() {
        return (StatusCode::NOT_FOUND, "no such video\n").into_response();
    }
    let mut location = format!("/embed/?src=/media/{id}/master.m3u8");
    if folder.join("segments-sha256.json").is_file() {
        location.push_str(&format!("&integrity=/media/{id}/segments-sha256.json"));
    }
    for pair in query.as_deref().unwrap_or("").split('&') {
        let key = pair.split('=').next().unwrap_or("");
        if !pair.is_empty() && key != "src" && key != "integrity" {
            location.push('&');
            location.push_str(pair);
        }
    }
    Redirect::to(&location).into_response()
}

/// The embed page's files, behind [`embed_headers`]; merged into the file routes so they get
/// the same content types and directory redirects.
fn embed_files(config: &ServerConfig) -> Router {
    Router::new()
        .nest_service("/embed", serve_dir(&config.embed_dir))
        .layer(middleware::from_fn(embed_headers))
}

/// The PeerTube-style URL, outside the file routes: [`file_headers`] would take its redirect
/// for a directory redirect of ServeDir's and rewrite it.
fn embed_redirect_route(config: &ServerConfig) -> Router {
    Router::new()
        .route(
            "/videos/embed/{id}",
            get(embed_redirect).with_state(Arc::new(config.media_dir.clone())),
        )
        .layer(middleware::from_fn(embed_headers))
}

fn serve_dir(dir: &Path) -> ServeDir {
    ServeDir::new(dir)
}

/// The mirrors of the media tree (test-control mode): `/mirrors/<name>/` serves what `/media/`
/// does, as [`control::MIRRORS`] says that mirror behaves.
fn mirror_files(config: &ServerConfig) -> Router {
    let mut mirrors = Router::new();
    for (name, _) in control::MIRRORS {
        let prefix = format!("{}/{name}", control::MIRRORS_PREFIX);
        mirrors = mirrors.nest_service(&prefix, serve_dir(&config.media_dir));
    }
    mirrors.layer(middleware::from_fn(control::mirror_behaviour))
}

/// Builds the whole application. Public so a later `--live` mode or tests can extend it.
/// `tracker` is served at `/tracker` when given.
pub fn app(config: &ServerConfig, control: Arc<ControlState>, tracker: Option<&Tracker>) -> Router {
    let mut files = Router::new()
        .nest_service("/pkg", serve_dir(&config.pkg_dir))
        .nest_service("/media", serve_dir(&config.media_dir))
        .merge(embed_files(config));
    for mount in &config.mounts {
        files = files.nest_service(&mount.prefix, serve_dir(&mount.dir));
    }
    if config.test_control {
        files = files.merge(mirror_files(config));
    }
    // Layers on `files` wrap each route outside the prefix stripping of `nest_service`, so the
    // middlewares see the full request path (what faults and the log are keyed by).
    let files = files
        .fallback_service(serve_dir(&config.static_dir))
        .layer(middleware::from_fn(file_headers))
        .layer(middleware::from_fn_with_state(
            control.clone(),
            control::observe,
        ));

    let mut router = Router::new()
        .nest("/__control", control::router(control))
        .merge(embed_redirect_route(config));
    if let Some(tracker) = tracker {
        router = router.merge(tracker.router());
    }
    router.fallback_service(files).layer(cors_layer())
}

/// A server running in the background of the current tokio runtime.
#[derive(Debug)]
pub struct RunningServer {
    /// The bound address (with the real port when 0 was asked for).
    pub addr: SocketAddr,
    /// The tracker, when enabled (for its URL and for tests).
    pub tracker: Option<Tracker>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<io::Result<()>>,
}

impl RunningServer {
    /// `http://ADDR/` with a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// `ws://ADDR/tracker` when the tracker runs.
    pub fn tracker_url(&self) -> Option<String> {
        self.tracker
            .as_ref()
            .map(|_| format!("ws://{}{TRACKER_PATH}", self.addr))
    }

    /// Stops accepting, lets in-flight requests finish, and waits for the server task.
    pub async fn shutdown(mut self) -> io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.wait().await
    }

    /// Waits until the server stops: after a sender from `take_shutdown` fires or is dropped,
    /// or on an accept error. Without a prior `take_shutdown` it runs until the process ends.
    pub async fn wait(self) -> io::Result<()> {
        // Keep our own sender alive while waiting; dropping it would stop the server.
        let Self { shutdown, task, .. } = self;
        let result = task.await;
        drop(shutdown);
        result.map_err(|e| io::Error::other(format!("server task failed: {e}")))?
    }

    /// A handle that stops the server when sent to (or dropped), for signal handlers.
    pub fn take_shutdown(&mut self) -> Option<oneshot::Sender<()>> {
        self.shutdown.take()
    }
}

/// Binds `config.host:config.port` and serves in a spawned task. Returns once the socket is
/// bound, so the caller can print or use the real address immediately.
pub async fn serve(config: ServerConfig) -> io::Result<RunningServer> {
    config.validate().map_err(io::Error::other)?;
    let control = Arc::new(ControlState::new(config.test_control, config.verbose));
    let tracker = config
        .tracker
        .clone()
        .map(|t| Tracker::new(t, config.verbose));
    let app = app(&config, control, tracker.as_ref());
    let listener = TcpListener::bind((config.host, config.port)).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let closing_tracker = tracker.clone();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                // A dropped sender also means "stop": nobody can ask any more.
                let _ = rx.await;
                // Upgraded WebSockets live outside hyper's graceful shutdown; say goodbye.
                if let Some(tracker) = closing_tracker {
                    tracker.close_all();
                }
            })
            .await
    });
    Ok(RunningServer {
        addr,
        tracker,
        shutdown: Some(tx),
        task,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_and_types() {
        assert_eq!(
            extension_of("/media/vod/720P.M3U8").as_deref(),
            Some("m3u8")
        );
        assert_eq!(extension_of("/a.b/c"), None);
        assert_eq!(extension_of("/"), None);
        assert_eq!(content_type_for("ts"), Some("video/mp2t"));
        assert_eq!(content_type_for("wasm"), Some("application/wasm"));
        assert_eq!(content_type_for("xyz"), None);
        assert!(needs_no_cache("json") && needs_no_cache("m3u8") && !needs_no_cache("mp4"));
    }

    #[test]
    fn video_ids() {
        for good in ["vod", "a-b_C9", &"x".repeat(64)] {
            assert!(is_video_id(good), "{good}");
        }
        for bad in ["", "..", "a/b", "a.b", "a%2fb", &"x".repeat(65)] {
            assert!(!is_video_id(bad), "{bad}");
        }
    }
}
