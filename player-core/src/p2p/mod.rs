//! Peer-to-peer segment sharing, wire-compatible with p2p-media-loader v2.

pub mod session;
pub mod store;
pub mod wire;
