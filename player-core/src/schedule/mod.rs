//! Deciding what to fetch and when: segment states, buffer accounting and retries.

pub mod abr;
mod bandwidth;
mod buffer;
mod retry;
mod slots;

pub use bandwidth::{BandwidthEstimator, Ewma, PipeMeter};
pub use buffer::{
    buffered_ahead_s, covers, gap_jump_target, overlaps, range_containing, TimeRange,
};
pub use retry::{Failure, RetryPolicy};
pub(crate) use slots::{Slot, SlotTable};
