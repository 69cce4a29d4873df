#!/usr/bin/env bash
# bench/run-bench.sh — the `make bench` driver: run every benchmark binary in
# BUILD/bench/ in turn, then every benchmark script bench/*.sh (end-to-end
# runs with daemons and namespaces), and report which failed.
#
#   bench/run-bench.sh BUILD_DIR [NAME...]
#
# With names, only those benchmarks run (e.g. `ring_bench doorbell_bench`,
# or `e2e_bench.sh`). Each benchmark prints its own table and baselines side
# by side; this script adds a header per benchmark, a time limit and a pause
# between benchmarks so that two busy cores give the kernel's own threads a
# moment (docs/baselines: two busy loops starve them here).
# Time limits: BENCH_TIMEOUT seconds (default 120) per binary; a script
# declares its own in a header line `# bench-timeout: SECONDS` (default
# BENCH_SCRIPT_TIMEOUT, 300). A script is called as `script BUILD_DIR`; exit
# 77 means skipped (no privilege: namespaces need root) and is not a failure.
# Exit status: 0 if every benchmark exited 0 (or a script 77), else 1.
set -uo pipefail

build=${1:?usage: run-bench.sh BUILD_DIR [NAME...]}
shift
limit=${BENCH_TIMEOUT:-120}

here=$(cd "$(dirname "$0")" && pwd)
script_limit=${BENCH_SCRIPT_TIMEOUT:-300}
shopt -s nullglob
bins=() scripts=()
if [ $# -gt 0 ]; then
  for name in "$@"; do
    case $name in
      *.sh) scripts+=("$here/$name") ;;
      *)    bins+=("$build/bench/$name") ;;
    esac
  done
else
  bins=("$build"/bench/*)
  for s in "$here"/*.sh; do
    [ "$(basename "$s")" = run-bench.sh ] || scripts+=("$s")
  done
fi

if [ ${#bins[@]} -eq 0 ] && [ ${#scripts[@]} -eq 0 ]; then
  echo "run-bench: no benchmarks in $build/bench or $here/*.sh" >&2
  exit 1
fi

failed=() skipped=()
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

for script in "${scripts[@]}"; do
  name=$(basename "$script")
  [ -f "$script" ] || { echo "run-bench: $script: no such script" >&2; failed+=("$name"); continue; }
  limit_s=$(sed -n 's/^# bench-timeout: *\([0-9][0-9]*\).*/\1/p' "$script" | head -n1)
  limit_s=${limit_s:-$script_limit}
  echo "=== $name  ($(date -u +%H:%M:%S), nproc $(nproc), load $(cut -d' ' -f1-3 /proc/loadavg), limit ${limit_s} s)"
  start=$SECONDS
  timeout --kill-after=10 "$limit_s" bash "$script" "$build"
  rc=$?
  echo "=== $name: exit $rc after $((SECONDS - start)) s"
  echo
  if [ $rc -eq 77 ]; then skipped+=("$name"); elif [ $rc -ne 0 ]; then failed+=("$name"); fi
  sleep 1
done

[ ${#skipped[@]} -eq 0 ] || echo "run-bench: skipped (no privilege): ${skipped[*]}" >&2
if [ ${#failed[@]} -gt 0 ]; then
  echo "run-bench: failed: ${failed[*]}" >&2
  exit 1
fi
exit 0
