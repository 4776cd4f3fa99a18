//! The demo's WebTorrent WebSocket tracker at `/tracker`: the axum route, one task per
//! connection, and the shared state that routes frames between connections.
//!
//! Viewers (Shoal, or hls.js + p2p-media-loader) announce the swarms they play here and swap
//! WebRTC offers and answers through it; no media passes. The protocol logic lives in
//! [`core`] (no I/O) and [`wire`] (frame formats); this module only moves frames.
//!
//! It is sized for a demo: one process, state in memory behind one mutex. Large deployments
//! should run a dedicated tracker (aquatic_ws, bittorrent-tracker).
//!
//! Privacy: nothing here sees or logs client addresses; `--verbose` notes carry info-hash hex
//! and counts only.

pub mod core;
pub mod wire;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use tokio::sync::{mpsc, oneshot};

use self::core::{CoreConfig, Limits, Output, SocketId, TrackerCore};

/// The URL path the tracker answers on.
pub const TRACKER_PATH: &str = "/tracker";

/// Tracker settings; [`TrackerConfig::default`] is what `shoal-demo` runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerConfig {
    /// The `interval` told to clients (bittorrent-tracker's WebSocket default is 120 s).
    pub interval: Duration,
    /// How long a peer that stops announcing stays listed while its socket stays open.
    /// [`TrackerConfig::with_interval`] keeps it at 10 intervals, bittorrent-tracker's ratio
    /// (20 min peer lifetime against a 2 min WebSocket interval).
    pub peer_timeout: Duration,
    /// Largest accepted frame or message. An announce with 5 non-trickled offers (every ICE
    /// candidate inside each SDP) is about 2-3 KiB per offer, so 64 KiB leaves ample room
    /// (aquatic_ws uses 64 KiB too; bittorrent-tracker keeps the `ws` default of 100 MiB).
    /// A bigger message closes the connection with code 1009.
    pub max_message_bytes: usize,
    /// Frames queued for one connection before it is considered stuck and closed (code 1008),
    /// so that a client that stops reading cannot hold memory or slow others down.
    pub send_queue: usize,
    /// How long one send may take before the connection is considered dead.
    pub send_timeout: Duration,
    pub limits: Limits,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self::with_interval(Duration::from_secs(120))
    }
}

impl TrackerConfig {
    /// Defaults, with the given announce interval and a peer timeout of 10 intervals.
    pub fn with_interval(interval: Duration) -> Self {
        Self {
            interval,
            peer_timeout: interval * 10,
            max_message_bytes: 64 * 1024,
            send_queue: 256,
            send_timeout: Duration::from_secs(10),
            limits: Limits::default(),
        }
    }
}

/// How the glue tells a connection task to end, and with which close code.
type Kill = oneshot::Sender<(u16, &'static str)>;

/// A connection task's ends of its channels.
#[derive(Debug)]
struct Registered {
    socket: SocketId,
    /// Frames to send, in order.
    queued: mpsc::Receiver<String>,
    /// Fires when the tracker closes this connection.
    killed: oneshot::Receiver<(u16, &'static str)>,
}

/// The tracker's ends of one connection's channels.
#[derive(Debug)]
struct Connection {
    outgoing: mpsc::Sender<String>,
    kill: Option<Kill>,
}

#[derive(Debug)]
struct Hub {
    core: TrackerCore,
    connections: HashMap<SocketId, Connection>,
    /// Set by [`Tracker::close_all`]: no new connection is admitted afterwards.
    closing: bool,
}

#[derive(Debug)]
struct Shared {
    config: TrackerConfig,
    /// Prints swarm membership notes (info-hash hex and counts) to stderr.
    verbose: bool,
    state: Mutex<Hub>,
    next_socket: AtomicU64,
}

/// A running tracker; cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct Tracker(Arc<Shared>);

impl Tracker {
    /// `verbose` prints swarm membership notes (info-hash hex and counts) to stderr.
    pub fn new(config: TrackerConfig, verbose: bool) -> Self {
        // Peer choice needs no cryptographic randomness, only a different sequence per run.
        let seed = fastrand::u64(..);
        let core = TrackerCore::new(
            CoreConfig {
                interval: config.interval,
                peer_timeout: config.peer_timeout,
                limits: config.limits.clone(),
            },
            seed,
        );
        Self(Arc::new(Shared {
            config,
            verbose,
            state: Mutex::new(Hub {
                core,
                connections: HashMap::new(),
                closing: false,
            }),
            next_socket: AtomicU64::new(1),
        }))
    }

    /// The route to merge into the app: `GET /tracker` with a WebSocket upgrade.
    pub fn router(&self) -> Router {
        Router::new()
            .route(TRACKER_PATH, get(upgrade))
            .with_state(self.clone())
    }

    /// Closes every connection (code 1001, going away) and refuses new ones; for shutdown.
    pub fn close_all(&self) {
        let mut state = self.lock();
        state.closing = true;
        for connection in state.connections.values_mut() {
            if let Some(kill) = connection.kill.take() {
                let _ = kill.send((close_code::AWAY, "tracker shutting down"));
            }
        }
    }

    /// Open connections, for tests and notes.
    pub fn connection_count(&self) -> usize {
        self.lock().connections.len()
    }

    fn lock(&self) -> MutexGuard<'_, Hub> {
        // A panic while holding the lock would be a bug in plain map updates that leaves the
        // maps usable; keep serving rather than failing every later connection.
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn note(&self, output: &Output) {
        if self.0.verbose {
            for note in &output.notes {
                eprintln!("tracker: {note}");
            }
        }
    }

    /// Queues a core output's frames. A connection whose queue is full is closed (code 1008)
    /// and its peers leave at once, so nothing more is relayed to it.
    fn deliver(&self, state: &mut Hub, output: Output) {
        self.note(&output);
        let mut stuck = Vec::new();
        for delivery in output.deliveries {
            let Some(connection) = state.connections.get_mut(&delivery.to) else {
                continue; // closed in the meantime
            };
            if let Err(mpsc::error::TrySendError::Full(_)) =
                connection.outgoing.try_send(delivery.text)
            {
                if let Some(kill) = connection.kill.take() {
                    let _ = kill.send((close_code::POLICY, "not reading fast enough"));
                }
                stuck.push(delivery.to);
            }
        }
        for socket in stuck {
            state.connections.remove(&socket);
            let output = state.core.handle_close(Instant::now(), socket);
            self.note(&output);
            // Closing can only remove peers; it produces no frames to deliver.
            debug_assert!(output.deliveries.is_empty());
        }
    }

    fn handle_text(&self, socket: SocketId, text: &str) {
        let mut state = self.lock();
        let output = state.core.handle_message(Instant::now(), socket, text);
        self.deliver(&mut state, output);
    }

    fn handle_undecodable(&self, socket: SocketId) {
        let mut state = self.lock();
        let output = state.core.handle_undecodable(Instant::now(), socket);
        self.deliver(&mut state, output);
    }

    fn register(&self) -> Option<Registered> {
        let socket = SocketId(self.0.next_socket.fetch_add(1, Ordering::Relaxed));
        let (outgoing, queued) = mpsc::channel(self.0.config.send_queue);
        let (kill, killed) = oneshot::channel();
        let mut state = self.lock();
        if state.closing {
            return None;
        }
        state.connections.insert(
            socket,
            Connection {
                outgoing,
                kill: Some(kill),
            },
        );
        Some(Registered {
            socket,
            queued,
            killed,
        })
    }

    fn unregister(&self, socket: SocketId) {
        let mut state = self.lock();
        state.connections.remove(&socket);
        let output = state.core.handle_close(Instant::now(), socket);
        self.note(&output);
    }

    /// Serves one WebSocket until either side closes it.
    async fn run_connection(self, mut ws: WebSocket) {
        let Some(Registered {
            socket,
            mut queued,
            mut killed,
        }) = self.register()
        else {
            let _ = close(&mut ws, close_code::AWAY, "tracker shutting down").await;
            return;
        };
        let send_timeout = self.0.config.send_timeout;
        loop {
            tokio::select! {
                // Kills first: a stuck connection must not keep draining its queue.
                biased;
                reason = &mut killed => {
                    let (code, text) = reason.unwrap_or((close_code::AWAY, "going away"));
                    let _ = tokio::time::timeout(send_timeout, close(&mut ws, code, text)).await;
                    break;
                }
                Some(text) = queued.recv() => {
                    let sent = tokio::time::timeout(send_timeout, ws.send(Message::text(text))).await;
                    if !matches!(sent, Ok(Ok(()))) {
                        break;
                    }
                }
                incoming = ws.recv() => match incoming {
                    Some(Ok(Message::Text(text))) => self.handle_text(socket, text.as_str()),
                    // bittorrent-tracker parses binary frames as JSON text too.
                    Some(Ok(Message::Binary(bytes))) => match std::str::from_utf8(&bytes) {
                        Ok(text) => self.handle_text(socket, text),
                        Err(_) => self.handle_undecodable(socket),
                    },
                    // Pings are answered by the WebSocket layer itself.
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) => {
                        // The WebSocket layer queued its close reply; one more read sends it.
                        let _ = tokio::time::timeout(send_timeout, ws.recv()).await;
                        break;
                    }
                    None => break,
                    Some(Err(error)) => {
                        if is_too_big(error) {
                            let _ = tokio::time::timeout(
                                send_timeout,
                                close(&mut ws, close_code::SIZE, "message too big"),
                            )
                            .await;
                        }
                        break;
                    }
                },
            }
        }
        self.unregister(socket);
    }
}

async fn close(ws: &mut WebSocket, code: u16, reason: &'static str) -> Result<(), axum::Error> {
    ws.send(Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    })))
    .await
}

/// Whether a read failed because a message or frame exceeded `max_message_bytes`.
fn is_too_big(error: axum::Error) -> bool {
    matches!(
        error.into_inner().downcast_ref::<tungstenite::Error>(),
        Some(tungstenite::Error::Capacity(_))
    )
}

async fn upgrade(State(tracker): State<Tracker>, ws: WebSocketUpgrade) -> Response {
    let max = tracker.0.config.max_message_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| tracker.run_connection(socket))
}
