#!/usr/bin/env bash
# Runs a command inside a private network namespace, so that nothing it starts
# (HTTP server, tracker, Chromium and its WebRTC/mDNS traffic) can reach any
# host: only loopback and a veth pair 198.18.0.1/24 (the benchmarking range)
# with a dead-end default route, so Chromium has a non-loopback interface for
# ICE host candidates but no packet leaves. Recipe from ../shared/docs/toolchain.md.
# Needs root (or CAP_SYS_ADMIN), util-linux's unshare and iproute2's ip.
#
#   scripts/netns-run.sh node --test tests/e2e/
#   scripts/netns-run.sh --check      # exit 0 if a namespace can be made here
set -euo pipefail

if [[ "${1:-}" == --check ]]; then
  [[ $(id -u) -eq 0 ]] && command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 &&
    unshare --net -- true 2>/dev/null
  exit $?
fi
(($#)) || { echo "usage: $0 COMMAND [ARGS...] | --check" >&2; exit 2; }

echo "[netns-run] private network namespace (lo + veth 198.18.0.1/24, dead-end default route): $*" >&2
exec unshare --net -- sh -c '
  set -e
  ip link set lo up
  ip link add t0 type veth peer name t1
  ip addr add 198.18.0.1/24 dev t0
  ip link set t0 up
  ip link set t1 up
  ip route add default via 198.18.0.254 dev t0
  exec "$@"
' sh "$@"
