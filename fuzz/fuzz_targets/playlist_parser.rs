//! Fuzzes `player_core::hls::parse_playlist` on arbitrary bytes, then what the player
//! derives from a parsed playlist (durations, HTTP ranges, init and key indexes).
//!
//! The checks live in `player-core/tests/fuzz_checks`, shared with the regression tests that
//! replay inputs that once made a target panic.

#![no_main]

#[path = "../../player-core/tests/fuzz_checks/mod.rs"]
mod fuzz_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::playlist_parser(data));
