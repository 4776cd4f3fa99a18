#!/usr/bin/env bash
# Fuzzes every decoder that reads bytes from the network (cargo-fuzz targets in fuzz/):
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# SECONDS_PER_TARGET defaults to 60; TARGETs default to all of `cargo fuzz list`.
# Targets run one after another on one core. Corpora grow in fuzz/corpus/<target>/ (only the
# committed seed-* files are tracked), dictionaries are fuzz/dicts/<target>.dict, logs go to
# fuzz/logs/<target>.log, and crashing inputs to fuzz/artifacts/<target>/. Prints executions and coverage per target and exits non-zero if any
# target crashed (then: `cargo +nightly fuzz run <target> <artifact>` to reproduce, and add the
# input under player-core/tests/fixtures/fuzz/<target>/ as a regression test).
#
# Needs the nightly toolchain (cargo-fuzz builds with -Zsanitizer flags); installs cargo-fuzz
# from crates.io if it is missing. FUZZ_SANITIZER picks the sanitizer (default none: the core is
# forbid(unsafe_code), so the bugs to find are panics, which debug assertions and overflow checks
# still catch; `address` finds memory errors in dependencies' unsafe code at about half the speed).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SECONDS_PER_TARGET="${1:-60}"
[[ "$SECONDS_PER_TARGET" =~ ^[1-9][0-9]*$ ]] ||
  die "SECONDS_PER_TARGET must be a positive whole number, not '$SECONDS_PER_TARGET'"
shift || true
SANITIZER="${FUZZ_SANITIZER:-none}"
FUZZ_DIR="$REPO_ROOT/fuzz"

cargo +nightly --version >/dev/null 2>&1 ||
  die "the nightly toolchain is missing (cargo-fuzz needs it): rustup toolchain install nightly"
if cargo fuzz --version >/dev/null 2>&1; then
  log "$(cargo fuzz --version)"
else
  log "installing cargo-fuzz"
  cargo install cargo-fuzz
fi

cd "$REPO_ROOT"
if (($# > 0)); then
  TARGETS=("$@")
else
  mapfile -t TARGETS < <(cargo +nightly fuzz list)
fi
((${#TARGETS[@]})) || die "no fuzz targets found in fuzz/"

mkdir -p "$FUZZ_DIR/logs"
log "building the fuzz targets (sanitizer: $SANITIZER)"
if ! cargo +nightly fuzz build --sanitizer "$SANITIZER" >"$FUZZ_DIR/logs/build.log" 2>&1; then
  tail -n 30 "$FUZZ_DIR/logs/build.log" >&2
  die "cargo fuzz build failed (fuzz/logs/build.log)"
fi
SUMMARY=()
FAILED=()
for target in "${TARGETS[@]}"; do
  corpus="$FUZZ_DIR/corpus/$target"
  log_file="$FUZZ_DIR/logs/$target.log"
  mkdir -p "$corpus"
  log "$target: ${SECONDS_PER_TARGET}s, corpus $(find "$corpus" -type f | wc -l) inputs"
  start=$SECONDS
  status=0
  # -timeout: an input that takes over 10 s is a hang, reported like a crash. A dictionary of
  # the format's words (fuzz/dicts/<target>.dict) lets mutations reach past the tokenizer.
  options=(-max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 -timeout=10)
  [[ -f "$FUZZ_DIR/dicts/$target.dict" ]] && options+=(-dict="$FUZZ_DIR/dicts/$target.dict")
  cargo +nightly fuzz run --sanitizer "$SANITIZER" "$target" "$corpus" -- "${options[@]}" \
    >"$log_file" 2>&1 || status=$?
  elapsed=$((SECONDS - start))

  # libFuzzer's last status line ("#N DONE cov: C ft: F corp: ...") and its final stats.
  last="$(grep -E '^#[0-9]+.*cov: ' "$log_file" | tail -n 1 || true)"
  field() { sed -nE "s/.* $1: ([^ ]+).*/\\1/p" <<<"$last"; }
  stat() { sed -nE "s/^stat::$1: *([0-9]+).*/\\1/p" "$log_file" | tail -n 1; }
  execs="$(stat number_of_executed_units)"
  [[ -n "$execs" ]] || execs="$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")"
  line="$(printf '%-18s %5ss  execs %-11s exec/s %-7s cov %-6s ft %-7s corpus %-12s' \
    "$target" "$elapsed" "${execs:-?}" "$(stat average_exec_per_sec)" "$(field cov)" \
    "$(field ft)" "$(field corp)")"
  if ((status != 0)); then
    artifacts="$(sed -nE 's/.*Test unit written to ([^ ]+).*/\1/p' "$log_file" | tr '\n' ' ')"
    line+="  CRASH (exit $status) ${artifacts:-see $log_file}"
    FAILED+=("$target")
  fi
  SUMMARY+=("$line")
  log "$line"
done

printf '\nfuzz summary (%ss per target, sanitizer %s):\n' "$SECONDS_PER_TARGET" "$SANITIZER"
printf '  %s\n' "${SUMMARY[@]}"
if ((${#FAILED[@]})); then
  printf 'crashed: %s (logs in fuzz/logs/)\n' "${FAILED[*]}"
  exit 1
fi
printf 'no crashes\n'
