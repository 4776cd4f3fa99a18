//! HLS playlists (RFC 8216): the resolved model and its parser.

mod error;
mod live;
mod model;
mod parse;
mod scan;

pub use error::{ParseError, ParseErrorKind};
pub use live::{LiveMerge, LiveMergeError};
pub use model::{
    ByteRange, EncryptionKey, InitSegment, MediaPlaylist, MultivariantPlaylist, Playlist,
    PlaylistType, Rendition, RenditionKind, Resolution, Segment, Variant,
};
pub use parse::parse_playlist;
