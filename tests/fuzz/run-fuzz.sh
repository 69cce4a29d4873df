#!/usr/bin/env bash
# run-fuzz.sh BUILD_DIR SECONDS — run every libFuzzer target for SECONDS each,
# growing a scratch copy of its seed corpus, and report executions and findings.
# Crashes are written to build/fuzz-artifacts/<target>/ and fail the run.
set -uo pipefail
BUILD=${1:-build}; SECS=${2:-60}
cd "$(dirname "$0")/../.."
status=0
for t in "$BUILD"/fuzz/fuzz_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  work=$BUILD/fuzz-work/$name; art=$BUILD/fuzz-artifacts/$name/
  mkdir -p "$work" "$art"
  [ -d tests/fuzz/corpus/$name ] && cp -n tests/fuzz/corpus/$name/* "$work"/ 2>/dev/null
  log=$BUILD/fuzz-work/$name.log
  "$t" -max_total_time="$SECS" -artifact_prefix="$art" -print_final_stats=1 "$work" >"$log" 2>&1
  rc=$?
  execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
  cov=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -oE 'cov: [0-9]+' )
  if [ $rc -eq 0 ]; then
    echo "fuzz $name: ${execs:-?} executions in ${SECS} s, ${cov:-cov ?}, no findings"
  else
    echo "fuzz $name: FINDING (exit $rc), see $log and $art"; status=1
  fi
done
exit $status
