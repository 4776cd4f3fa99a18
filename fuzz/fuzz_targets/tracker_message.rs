//! Fuzzes the WebTorrent tracker frame decoder (`swarm::wire::decode_frame`) on arbitrary
//! text.
//!
//! The checks live in `player-core/tests/fuzz_checks`, shared with the regression tests that
//! replay inputs that once made a target panic.

#![no_main]

#[path = "../../player-core/tests/fuzz_checks/mod.rs"]
mod fuzz_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::tracker_message(data));
