//! Inputs that once made a fuzz target (`fuzz/`, run by `scripts/fuzz.sh`) panic, replayed through
//! the same checks (`fuzz_checks`) as ordinary tests: `tests/fixtures/fuzz/<target>/<name>`, one
//! file per input, named after what it broke. The fuzzers' committed seeds
//! (`fuzz/corpus/<target>/seed-*`, real playlists, frames and integrity files) are replayed too,
//! so the checks themselves run on every test run.

mod fuzz_checks;

use std::path::{Path, PathBuf};

/// The files in `dir` whose names start with `prefix`, sorted; none if `dir` does not exist.
fn inputs(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.expect("readable fixture dir").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    paths.sort();
    paths
}

/// Runs `check` on every input saved for `target` and on its seeds, naming the input that fails.
fn replay(target: &str, check: fn(&[u8])) {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let seeds = inputs(&crate_dir.join("../fuzz/corpus").join(target), "seed-");
    assert!(!seeds.is_empty(), "{target} has no seeds");
    let crashes = inputs(&crate_dir.join("tests/fixtures/fuzz").join(target), "");
    for path in crashes.into_iter().chain(seeds) {
        let input = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let outcome = std::panic::catch_unwind(|| check(&input));
        assert!(outcome.is_ok(), "{target}: {} fails again", path.display());
    }
}

#[test]
fn playlist_parser() {
    replay("playlist_parser", fuzz_checks::playlist_parser);
}

#[test]
fn peer_wire_decoder() {
    replay("peer_wire_decoder", fuzz_checks::peer_wire_decoder);
}

#[test]
fn tracker_message() {
    replay("tracker_message", fuzz_checks::tracker_message);
}

#[test]
fn integrity_file() {
    replay("integrity_file", fuzz_checks::integrity_file);
}
