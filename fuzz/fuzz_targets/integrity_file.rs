//! Fuzzes the `segments-sha256.json` reader and its lookups, checked against serde_json's
//! own reading of the same input.
//!
//! The checks live in `player-core/tests/fuzz_checks`, shared with the regression tests that
//! replay inputs that once made a target panic.

#![no_main]

#[path = "../../player-core/tests/fuzz_checks/mod.rs"]
mod fuzz_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::integrity_file(data));
