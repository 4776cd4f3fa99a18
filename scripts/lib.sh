# shellcheck shell=bash
# Shared helpers for the scripts in this folder. Source it; do not run it.
#
# Sets REPO_ROOT, puts cargo's bin dir on PATH, and provides logging plus the
# wasm toolchain detection used by bootstrap.sh and build-wasm.sh.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT

# `cargo install` puts wasm-bindgen here; CI's PATH may not have it.
CARGO_BIN_DIR="${CARGO_HOME:-$HOME/.cargo}/bin"
case ":$PATH:" in
  *":$CARGO_BIN_DIR:"*) ;;
  *) export PATH="$CARGO_BIN_DIR:$PATH" ;;
esac

WASM_TARGET=wasm32-unknown-unknown

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
warn() { printf '[%s] WARNING: %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() {
  printf '[%s] ERROR: %s\n' "$(basename "$0" .sh)" "$*" >&2
  exit 1
}

# Prints "native" when the default rustc already has a wasm32 std (rustup with
# the target installed, or any toolchain whose sysroot has it), else "debian":
# Debian's rustc-web + rust-web-src, building std from source (see
# ../shared/docs/toolchain.md). Never calls `rustup target add`: it hangs here.
wasm_route() {
  if [[ -n "${SHOAL_WASM_ROUTE:-}" ]]; then
    echo "$SHOAL_WASM_ROUTE"
    return
  fi
  if command -v rustup >/dev/null 2>&1; then
    if rustup target list --installed 2>/dev/null | grep -qx "$WASM_TARGET"; then
      echo native
      return
    fi
  else
    local sysroot
    sysroot="$(rustc --print sysroot 2>/dev/null || true)"
    if [[ -n "$sysroot" && -d "$sysroot/lib/rustlib/$WASM_TARGET/lib" ]]; then
      echo native
      return
    fi
  fi
  echo debian
}

# Linker for the Debian route. rustc wants `rust-lld`, which Debian only ships
# in rust-web-llvm (a Recommends we do not install); lld-22's wasm-ld does the
# same job for wasm32.
debian_wasm_linker() {
  local c
  for c in rust-lld wasm-ld-22 wasm-ld /usr/lib/llvm-22/bin/wasm-ld; do
    if command -v "$c" >/dev/null 2>&1; then
      command -v "$c"
      return 0
    fi
  done
  return 1
}

# Version of the wasm-bindgen crate the workspace resolves to, from Cargo.lock
# (or, before a lockfile exists, the `=X.Y.Z` pin in player-wasm/Cargo.toml).
# Prints nothing when the workspace has no wasm-bindgen yet.
wasm_bindgen_version() {
  local lock="$REPO_ROOT/Cargo.lock" v=""
  if [[ -f "$lock" ]]; then
    v="$(awk '
      /^\[\[package\]\]/ { name = "" }
      /^name = / { name = $3; gsub(/"/, "", name) }
      /^version = / && name == "wasm-bindgen" { v = $3; gsub(/"/, "", v); print v; exit }
    ' "$lock")"
  fi
  if [[ -z "$v" && -f "$REPO_ROOT/player-wasm/Cargo.toml" ]]; then
    v="$(sed -nE 's/^[[:space:]]*wasm-bindgen[[:space:]]*=[[:space:]]*(\{[^}]*version[[:space:]]*=[[:space:]]*)?"=?([0-9][0-9.]*)".*/\2/p' \
      "$REPO_ROOT/player-wasm/Cargo.toml" | head -n1)"
  fi
  printf '%s' "$v"
}

# Runs a command with a section header and its wall time.
section() {
  printf '\n==== %s ====\n' "$*"
}
