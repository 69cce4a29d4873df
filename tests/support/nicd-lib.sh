# tests/support/nicd-lib.sh — what the nicd integration tests share
# (test_nicd_tap.sh, test_nicd_packet.sh, test_nicd_mq.sh): nicd with
# tests/tools/fake_netd as its peer, in a namespace of the test's own.
# Source it from the repository root after setting BUILD, then call
# nicd_init NAME WHY... (WHY: the privileges the skip message names).
#
# Gives: NS, RUN (a tmpfs run directory), NICD, FAKE, NICD_PID; nx CMD
# (in the namespace), skip, fail (with the logs), start_nicd ARGS (nicd in
# the namespace, waited for), receiver FILE SECS (a kernel-side UDP counter
# on 10.0.0.1:9000; RECV_PID), counter LOG NAME (nicd.NAME from fake_netd's
# --print-nicd), field LOG NAME (fake_netd's NAME=value). Cleanup at exit
# stops nicd and every job, deletes the namespace and the run directory
# (KEEP_RUN=DIR keeps the logs there).

NICD=$BUILD/bin/nicd
FAKE=$BUILD/tools/fake_netd
NICD_PID=

skip() { echo "SKIP: $*"; exit 77; }

fail() {
  echo "FAIL: $*"
  for f in "$RUN"/*.log; do echo "--- $f"; tail -n 40 "$f"; done
  exit 1
}

nicd_cleanup() {
  [ -n "$NICD_PID" ] && kill -TERM "$NICD_PID" 2>/dev/null && wait "$NICD_PID" 2>/dev/null
  jobs -p | xargs -r kill 2>/dev/null
  ip netns del "$NS" 2>/dev/null
  [ -n "${KEEP_RUN:-}" ] && cp "$RUN"/*.log "$KEEP_RUN"/ 2>/dev/null; rm -rf "$RUN"
}

# nicd_init NAME WHY: check what the test needs, make NS and RUN
nicd_init() {
  [ -x "$NICD" ] && [ -x "$FAKE" ] || { echo "FAIL: $NICD or $FAKE not built"; exit 1; }
  [ "$(id -u)" -eq 0 ] || skip "needs root ($2)"
  command -v python3 >/dev/null || skip "needs python3 for the kernel side"
  NS=rs-$1-$$
  RUN=$(mktemp -d "/dev/shm/rs-$1.XXXXXX") || exit 1
  trap nicd_cleanup EXIT
  trap 'exit 1' INT TERM
  ip netns add "$NS" 2>/dev/null || skip "cannot create a network namespace"
}

nx() { ip netns exec "$NS" "$@"; }

# start_nicd ARGS...: nicd with ARGS in the namespace; waits (5 s at most)
# for its socket and "ready"
start_nicd() {
  rm -f "$RUN/nicd.sock"
  # not through nx: $! must be nicd itself (ip netns exec execs it), not a subshell
  ip netns exec "$NS" "$NICD" "$@" --run-dir "$RUN" >>"$RUN/nicd.log" 2>&1 &
  NICD_PID=$!
  for _ in $(seq 50); do
    [ -S "$RUN/nicd.sock" ] && grep -q "ready" "$RUN/nicd.log" && return 0
    kill -0 "$NICD_PID" 2>/dev/null || fail "nicd exited at start"
    sleep 0.1
  done
  fail "nicd not ready after 5 s"
}

# receiver FILE SECS: count UDP datagrams to 10.0.0.1:9000 (kernel side)
# until 2 s pass without one or SECS end; the count goes to FILE
receiver() {
  ip netns exec "$NS" python3 - "$1" "$2" <<'PY' &
import socket, sys, time
out, limit = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind(("10.0.0.1", 9000))
s.settimeout(0.2)
open(out + ".ready", "w").close()
n, end, last = 0, time.time() + limit, None
while time.time() < end and (last is None or time.time() - last < 2):
    try:
        s.recv(4096); n += 1; last = time.time()
    except socket.timeout:
        pass
open(out, "w").write(str(n))
PY
  RECV_PID=$!
  for _ in $(seq 50); do [ -e "$1.ready" ] && return 0; sleep 0.1; done
  fail "receiver did not start"
}

counter() { awk -v k="nicd.$2" '$1 == k { print $2 }' "$1"; }
field() { grep -oE "(^| )$2=[0-9]+" "$1" | tail -n1 | cut -d= -f2; }
