//! Shoal's player core: everything a P2P HLS player decides, with no I/O, clock or randomness
//! of its own (sans-IO). The host feeds timestamped [`Input`]s to [`Player::handle_input`] and
//! carries out the [`Output`]s it drains from [`Player::poll_output`].

#![forbid(unsafe_code)]

pub mod config;
pub mod hls;
pub mod integrity;
pub mod p2p;
pub mod player;
pub mod schedule;
pub mod swarm;
pub mod time;

pub use config::Config;
pub use player::{Event, Input, Output, Player};
pub use time::{Duration, Instant};
