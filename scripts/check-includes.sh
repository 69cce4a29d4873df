#!/usr/bin/env bash
# check-includes.sh — fail the build when an #include crosses a boundary that
# docs/ARCHITECTURE.md (after the design brief) does not allow, or when proto/
# reaches for the operating system. Run by `make` before anything compiles.
set -euo pipefail
cd "$(dirname "$0")/.."

# room -> the rooms it may include from (besides itself)
declare -A ALLOWED=(
  [shm]=""
  [proto]="shm"
  [nicd]="shm"
  [netd]="shm proto"
  [sockd]="shm proto"
  [libsock]="shm"
  [ctl]="shm proto"
)

status=0
for room in "${!ALLOWED[@]}"; do
  [ -d "$room" ] || continue
  while IFS= read -r line; do
    file=${line%%:*}
    inc=$(sed -E 's/.*#include "([^"]+)".*/\1/' <<<"$line")
    dep=${inc%%/*}
    [ "$dep" = "$inc" ] && continue          # same-folder include without a room prefix
    [ "$dep" = "$room" ] && continue
    case " ${ALLOWED[$room]} " in *" $dep "*) continue ;; esac
    echo "check-includes: $file includes \"$inc\": $room/ may not depend on $dep/" >&2
    status=1
  done < <(grep -rHn --include='*.[ch]' '#include "' "$room" || true)
done

# proto/ is pure: no system calls, clocks, threads or heap (DESIGN.md).
if [ -d proto ]; then
  if grep -rHnE --include='*.[ch]' '#include <(unistd|fcntl|poll|signal|pthread|time|threads)\.h>|#include <sys/' proto; then
    echo "check-includes: proto/ must not include operating-system headers (above)" >&2
    status=1
  fi
  if grep -rHnE --include='*.[ch]' '\b(malloc|calloc|realloc|free|clock_gettime|gettimeofday|syscall)\s*\(' proto \
       | grep -vE '^\S+:[0-9]+:\s*(\*|//|/\*)'; then
    echo "check-includes: proto/ must not allocate from the heap or read clocks (above)" >&2
    status=1
  fi
fi
exit $status
