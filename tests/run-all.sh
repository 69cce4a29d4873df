#!/usr/bin/env bash
# run-all.sh BUILD_DIR — run every test suite `make test` built, in order:
#   1. unit tests (cmocka)          BUILD/tests/test_*
#   2. ThreadSanitizer tests         BUILD/tsan/test_*      (skipped under SAN=1 builds)
#   3. fuzz targets over their seed corpora  BUILD/fuzz/fuzz_*
#   4. integration tests             tests/integration/*.sh (namespaces, real peers)
# Each runs under a time limit. A suite that exits 77 was skipped for lack of
# privilege and says why; anything else non-zero is a failure. The last line is
# the plain "N passed, N failed, N skipped" summary CI reads.
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."

passed=0 failed=0 skipped=0
failures=()

run_one() {   # run_one NAME LIMIT_SECONDS CMD...
  local name=$1 limit=$2; shift 2
  local start=$SECONDS rc
  echo "=== $name"
  timeout --kill-after=5 "$limit" "$@"
  rc=$?
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1)); echo "--- PASS $name ($((SECONDS - start)) s)"
  elif [ $rc -eq 77 ]; then
    skipped=$((skipped + 1)); echo "--- SKIP $name"
  else
    failed=$((failed + 1)); failures+=("$name (exit $rc)"); echo "--- FAIL $name (exit $rc)"
  fi
}

for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] && run_one "unit/$(basename "$t")" 120 "$t"
done

for t in "$BUILD"/tsan/test_*; do
  # TSan needs a fixed address layout; setarch -R turns off ASLR for it.
  [ -x "$t" ] && run_one "tsan/$(basename "$t")" 300 setarch "$(uname -m)" -R "$t"
done

for t in "$BUILD"/fuzz/fuzz_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  corpus=tests/fuzz/corpus/$name
  if [ -d "$corpus" ]; then
    run_one "fuzz-corpus/$name" 300 "$t" -runs=0 "$corpus"
  else
    failed=$((failed + 1)); failures+=("fuzz-corpus/$name (no corpus in $corpus)")
  fi
done

for t in tests/integration/*.sh; do
  [ -x "$t" ] && run_one "integration/$(basename "$t" .sh)" 600 "$t" "$BUILD"
done

echo
if [ ${#failures[@]} -gt 0 ]; then
  echo "Failed suites:"; printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
