#!/usr/bin/env bash
# install-deps.sh — install every Debian package ringstack's build, tests and
# benchmarks need. Idempotent: a second run with everything present does no apt
# work at all, so `make run` and `make test` can call it every time.
set -euo pipefail

PKGS=(
  build-essential pkg-config clang llvm
  liburing-dev libnuma-dev libsystemd-dev libcmocka-dev
  libdpdk-dev libck-dev
  python3 python3-scapy
  iproute2 iputils-ping curl nginx-light iperf3 netcat-openbsd tshark ethtool wrk
  valgrind
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run as root to install them" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer once, non-interactively.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
