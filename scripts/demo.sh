#!/usr/bin/env bash
# The one command to see Shoal play: installs what is missing, builds the wasm
# package and the demo server, then runs it (it generates sample media with
# ffmpeg on first start and prints "Shoal demo running at http://127.0.0.1:PORT/").
# Extra arguments go to shoal-demo, e.g. scripts/demo.sh --port 8080
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

section "bootstrap"
bash scripts/bootstrap.sh
section "build wasm"
bash scripts/build-wasm.sh
section "build demo server"
cargo build --release -p shoal-demo
section "run"
exec "$REPO_ROOT/target/release/shoal-demo" "$@"
