//! The swarm: which peers a viewer meets (swarm identity, shared with p2p-media-loader and
//! PeerTube viewers) and how it finds them (the WebTorrent tracker client).
//!
//! Both are sans-IO like the rest of the core: identities are pure functions of the
//! playlist, and the tracker client is a state machine the host feeds with socket and
//! WebRTC facts and drains for orders.

pub mod id;
pub mod tracker;
pub mod wire;

pub use id::{
    info_hash, manifest_swarm_id, new_peer_id, peertube_resolution, peertube_stream_swarm_id,
    playlist_streams, stream_swarm_id, StreamIdentity, StreamType,
};
pub use tracker::{
    ConnectionId, SocketState, TrackerAction, TrackerClient, TrackerConfig, TrackerId,
};
