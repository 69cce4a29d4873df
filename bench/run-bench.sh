#!/usr/bin/env bash
# bench/run-bench.sh — the `make bench` driver: run every benchmark binary in
# BUILD/bench/ in turn and report which failed.
#
#   bench/run-bench.sh BUILD_DIR [NAME...]
#
# With names, only those benchmarks run (e.g. `ring_bench doorbell_bench`).
# Each benchmark prints its own table and baselines side by side; this script
# adds a header per benchmark, a time limit (BENCH_TIMEOUT seconds, default
# 120) and a pause between benchmarks so that two busy cores give the kernel's
# own threads a moment (docs/baselines: two busy loops starve them here).
# Exit status: 0 if every benchmark exited 0, else 1.
set -uo pipefail

build=${1:?usage: run-bench.sh BUILD_DIR [NAME...]}
shift
limit=${BENCH_TIMEOUT:-120}

if [ $# -gt 0 ]; then
  bins=()
  for name in "$@"; do bins+=("$build/bench/$name"); done
else
  shopt -s nullglob
  bins=("$build"/bench/*)
fi

if [ ${#bins[@]} -eq 0 ]; then
  echo "run-bench: no benchmarks in $build/bench" >&2
  exit 1
fi

failed=()
for bin in "${bins[@]}"; do
  [ -f "$bin" ] && [ -x "$bin" ] || { echo "run-bench: $bin: not an executable" >&2; failed+=("$bin"); continue; }
  echo "=== $(basename "$bin")  ($(date -u +%H:%M:%S), nproc $(nproc), load $(cut -d' ' -f1-3 /proc/loadavg))"
  start=$SECONDS
  timeout --kill-after=5 "$limit" "$bin"
  rc=$?
  echo "=== $(basename "$bin"): exit $rc after $((SECONDS - start)) s"
  echo
  [ $rc -eq 0 ] || failed+=("$(basename "$bin")")
  sleep 1
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "run-bench: failed: ${failed[*]}" >&2
  exit 1
fi
exit 0
