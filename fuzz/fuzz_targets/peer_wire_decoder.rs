//! Fuzzes the p2p-media-loader peer wire decoder: `decode_command` on the input, and a
//! `MessageReader` fed the input cut into framed and raw messages. Every command that
//! decodes must encode again and read back as itself.
//!
//! The checks live in `player-core/tests/fuzz_checks`, shared with the regression tests that
//! replay inputs that once made a target panic.

#![no_main]

#[path = "../../player-core/tests/fuzz_checks/mod.rs"]
mod fuzz_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::peer_wire_decoder(data));
