#!/usr/bin/env bash
# run.sh BUILD_DIR — `make run`, the main job.
#
# The daemons (nicd, netd, sockd) and the libsock shim are not built yet
# (issue 5), so there is no TAP device to bring up and no program to run on
# the stack. Until they land, `make run` shows what does exist and works end
# to end: the shared-memory foundation, by running the ring and doorbell
# benchmarks (two processes on two cores, against DPDK's rte_ring and
# Concurrency Kit's ck_ring) — and it says so.
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."

cat <<'TXT'
ringstack — make run
--------------------
The stack's daemons are not built yet (see README.md, "Status"), so this run
cannot put a program on a TAP device. It runs what the foundation already
does for real: lock-free SPSC rings between two cores, measured beside DPDK's
rte_ring and Concurrency Kit's ck_ring, and the doorbell's wake-up latency.

TXT
"$BUILD"/bench/ring_bench
echo
"$BUILD"/bench/doorbell_bench
