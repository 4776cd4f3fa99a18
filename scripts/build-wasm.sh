#!/usr/bin/env bash
# Builds player-wasm for wasm32-unknown-unknown (release) and assembles the
# browser package in player-wasm/pkg/:
#   shoal_wasm.js + shoal_wasm_bg.wasm (+ .d.ts)  from wasm-bindgen --target web
#   *.js and package.json                         copied from player-wasm/js/
# Uses its own target dir (target/wasm) so native and wasm caches never collide.
# On machines without a rustup wasm32 std it takes Debian's rustc-web route and
# builds std from source (-Zbuild-std), for this command only.
# Needs scripts/bootstrap.sh to have run.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

START=$SECONDS
cd "$REPO_ROOT"

CRATE_DIR="$REPO_ROOT/player-wasm"
PKG_DIR="$CRATE_DIR/pkg"
OUT_NAME=shoal_wasm
export CARGO_TARGET_DIR="$REPO_ROOT/target/wasm"

[[ -f "$CRATE_DIR/Cargo.toml" ]] || die "player-wasm/Cargo.toml does not exist"

ROUTE="$(wasm_route)"
CARGO_ARGS=(build --release --target "$WASM_TARGET" --manifest-path "$CRATE_DIR/Cargo.toml"
  --message-format=json-render-diagnostics)
ENV_ARGS=()
if [[ "$ROUTE" == debian ]]; then
  LINKER="$(debian_wasm_linker)" || die "no wasm linker found; run scripts/bootstrap.sh"
  ENV_ARGS=(RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
    "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=$LINKER")
  CARGO_ARGS+=(-Zbuild-std=std,panic_abort)
fi

log "cargo build ($ROUTE route) -> $CARGO_TARGET_DIR"
MSGS="$(mktemp)"
trap 'rm -f "$MSGS"' EXIT
env "${ENV_ARGS[@]}" cargo "${CARGO_ARGS[@]}" >"$MSGS"

# The cdylib artifact of player-wasm, whatever its lib name is.
WASM="$(node -e '
  const fs = require("fs");
  let found = "";
  for (const line of fs.readFileSync(process.argv[1], "utf8").split("\n")) {
    if (!line.startsWith("{")) continue;
    const m = JSON.parse(line);
    if (m.reason !== "compiler-artifact" || !m.target.kind.includes("cdylib")) continue;
    for (const f of m.filenames) if (f.endsWith(".wasm")) found = f;
  }
  process.stdout.write(found);
' "$MSGS")"
[[ -n "$WASM" && -f "$WASM" ]] || die "no .wasm artifact for player-wasm (is crate-type cdylib?)"
log "built $(basename "$WASM") ($(stat -c %s "$WASM") bytes)"

WB_WANT="$(wasm_bindgen_version)"
WB_HAVE="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
[[ -n "$WB_HAVE" ]] || die "wasm-bindgen CLI not found; run scripts/bootstrap.sh"
if [[ -n "$WB_WANT" && "$WB_HAVE" != "$WB_WANT" ]]; then
  die "wasm-bindgen CLI is $WB_HAVE but Cargo.lock has $WB_WANT; run scripts/bootstrap.sh"
fi

# Rebuild pkg/ from scratch so files removed from js/ do not linger.
rm -rf "$PKG_DIR"
mkdir -p "$PKG_DIR"
log "wasm-bindgen --target web -> player-wasm/pkg/$OUT_NAME.js"
wasm-bindgen --target web --out-dir "$PKG_DIR" --out-name "$OUT_NAME" "$WASM"

shopt -s nullglob
SHIM=("$CRATE_DIR"/js/*.js)
[[ -f "$CRATE_DIR/js/package.json" ]] && SHIM+=("$CRATE_DIR/js/package.json")
if ((${#SHIM[@]})); then
  cp "${SHIM[@]}" "$PKG_DIR/"
  log "copied shim: $(for f in "${SHIM[@]}"; do printf '%s ' "$(basename "$f")"; done)"
else
  warn "player-wasm/js/ has no *.js shim files yet"
fi
[[ -f "$PKG_DIR/shoal.js" ]] || warn "player-wasm/pkg/shoal.js (the shim entry) is missing"

log "done in $((SECONDS - START))s: $(ls "$PKG_DIR" | tr '\n' ' ')"
