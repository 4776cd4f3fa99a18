#!/usr/bin/env bash
# Installs everything Shoal needs to build and test on a Debian 12 machine:
#   - Debian packages: Chromium + ChromeDriver, ffmpeg (demo media), fonts, iproute2,
#     and, when the default rustc has no wasm32 std, Debian's rustc-web route;
#   - the wasm-bindgen CLI at exactly the version in Cargo.lock;
#   - the npm packages of tests/ (playwright-core).
# Idempotent and quick when everything is already there. Run as root (or with sudo).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

START=$SECONDS
export DEBIAN_FRONTEND=noninteractive

# ---------------------------------------------------------------- apt packages
APT_PKGS=(chromium chromium-driver ffmpeg fonts-dejavu-core iproute2)
ROUTE="$(wasm_route)"
if [[ "$ROUTE" == debian ]]; then
  APT_PKGS+=(rustc-web cargo-web rust-web-src lld-22)
fi
log "wasm toolchain route: $ROUTE"

pkg_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# Another apt/dpkg run (a provisioning step, a colleague) may hold the locks;
# wait for it instead of failing or corrupting its run.
wait_for_apt() {
  local waited=0
  while pgrep -x apt-get >/dev/null || pgrep -x apt >/dev/null || pgrep -x dpkg >/dev/null; do
    if ((waited == 0)); then log "another apt/dpkg process is running; waiting for it"; fi
    if ((waited >= 1800)); then die "apt/dpkg still busy after ${waited}s"; fi
    sleep 5
    waited=$((waited + 5))
  done
}

as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -E "$@"
  else
    die "need root to run: $*"
  fi
}

if command -v dpkg-query >/dev/null 2>&1; then
  MISSING=()
  for p in "${APT_PKGS[@]}"; do
    pkg_installed "$p" || MISSING+=("$p")
  done
  if ((${#MISSING[@]})); then
    log "apt: installing ${MISSING[*]}"
    wait_for_apt
    APT_OPTS=(-o DPkg::Lock::Timeout=1200 -o Acquire::Retries=3)
    as_root apt-get "${APT_OPTS[@]}" update -qq
    as_root apt-get "${APT_OPTS[@]}" install -y -q --no-install-recommends "${MISSING[@]}"
  else
    log "apt: all ${#APT_PKGS[@]} packages present"
  fi
else
  warn "no dpkg: not a Debian machine; install ${APT_PKGS[*]} (or equivalents) yourself"
fi

for c in chromium ffmpeg; do
  command -v "$c" >/dev/null 2>&1 || warn "$c not on PATH"
done
if [[ "$ROUTE" == debian ]]; then
  [[ -x /usr/bin/rustc ]] || die "Debian route needs /usr/bin/rustc (package rustc-web)"
  [[ -d /usr/lib/rustlib/src/rust/library ]] || die "Debian route needs std source (package rust-web-src)"
  debian_wasm_linker >/dev/null || die "no wasm linker (rust-lld or wasm-ld-22 from lld-22)"
fi

# ------------------------------------------------------------ wasm-bindgen CLI
WB_WANT="$(wasm_bindgen_version)"
if [[ -z "$WB_WANT" && -f "$REPO_ROOT/player-wasm/Cargo.toml" && ! -f "$REPO_ROOT/Cargo.lock" ]]; then
  # No lockfile yet (fresh workspace): let cargo resolve one, as a build would.
  (cd "$REPO_ROOT" && cargo metadata --format-version 1 >/dev/null 2>&1) || true
  WB_WANT="$(wasm_bindgen_version)"
fi

wb_have() { wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true; }

# A concurrent `cargo install wasm-bindgen-cli` (e.g. started by a colleague on
# this machine) would race ours for ~/.cargo/bin; wait for it to finish.
wait_for_other_wb_install() {
  local waited=0
  while pgrep -f 'cargo(-install)? install wasm-bindgen-cli' >/dev/null; do
    if ((waited == 0)); then log "wasm-bindgen-cli is already being installed by another process; waiting"; fi
    if ((waited >= 1500)); then die "other wasm-bindgen-cli install still running after ${waited}s"; fi
    sleep 10
    waited=$((waited + 10))
  done
}

if [[ -z "$WB_WANT" ]]; then
  warn "workspace has no wasm-bindgen dependency yet; skipping wasm-bindgen CLI"
elif [[ "$(wb_have)" == "$WB_WANT" ]]; then
  log "wasm-bindgen CLI $WB_WANT present"
else
  wait_for_other_wb_install
  if [[ "$(wb_have)" == "$WB_WANT" ]]; then
    log "wasm-bindgen CLI $WB_WANT present (installed by the other process)"
  else
    log "installing wasm-bindgen-cli $WB_WANT (have: '$(wb_have)'; takes ~3 min)"
    # Not --locked: the CLI's own lockfile pins crates the index lacks (toolchain.md).
    cargo install wasm-bindgen-cli --version "$WB_WANT"
    [[ "$(wb_have)" == "$WB_WANT" ]] || die "wasm-bindgen --version is '$(wb_have)', wanted $WB_WANT"
  fi
fi

# ------------------------------------------------------------------ npm (tests)
TESTS_DIR="$REPO_ROOT/tests"
if [[ -f "$TESTS_DIR/package-lock.json" ]]; then
  STAMP="$TESTS_DIR/node_modules/.shoal-lock-stamp"
  WANT_STAMP="$(cat "$TESTS_DIR/package.json" "$TESTS_DIR/package-lock.json" | sha256sum | cut -d' ' -f1) node-$(node --version)"
  if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT_STAMP" ]]; then
    log "npm: tests/node_modules matches the lockfile"
  else
    log "npm: npm ci --ignore-scripts in tests/"
    (cd "$TESTS_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    printf '%s\n' "$WANT_STAMP" >"$STAMP"
  fi
fi

log "done in $((SECONDS - START))s"
