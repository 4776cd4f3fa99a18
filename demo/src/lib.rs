//! Shoal demo server as a library: the HTTP origin (`server`), its test controls (`control`),
//! the WebTorrent tracker (`tracker`), configuration and CLI (`config`), the sample-media
//! pipeline (`generate`, `playlist`, `integrity`, `sidecar`) and the live stream (`live`). The
//! `shoal-demo` binary is a thin wrapper; tests start the server in-process.

pub mod config;
pub mod control;
pub mod generate;
pub mod integrity;
pub mod live;
pub mod playlist;
pub mod server;
pub mod sidecar;
pub mod tracker;

pub use config::{Mount, ServerConfig};
pub use server::{serve, RunningServer};
pub use tracker::TrackerConfig;
