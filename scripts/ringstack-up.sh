#!/usr/bin/env bash
# ringstack-up.sh — start ringstack's daemons in dependency order, for
# development and tests (systemd units do this in production).
#
#   ringstack-up.sh [start] [-b BUILD] [-d RUN_DIR] [--nicd "ARGS"] [--sockd "ARGS"] [--netd "ARGS"]
#                           [--only nicd|sockd|netd]
#   ringstack-up.sh stop    [-d RUN_DIR] [--only nicd|sockd|netd]
#   ringstack-up.sh status  [-d RUN_DIR]
#
# start: nicd first (it owns the device and the pool region), then sockd
# (admission; it waits for netd before welcoming apps), then netd (which
# connects to both). Each daemon is started in its own
# session with NOTIFY_SOCKET pointing at a socket this script listens on, and
# counts as up once it says READY=1 (sd_notify, as under systemd); a daemon
# that exits first, or is not ready within $RS_READY_TIMEOUT seconds
# (default 10), fails the start. A daemon whose pid file names a live process
# of that name is left alone, so `start` after a crash restarts only what died.
# Logs go to RUN_DIR/NAME.log (appended), pids to RUN_DIR/NAME.pid.
#
# stop: netd, sockd, then nicd: SIGTERM, up to 5 s for a clean exit, then SIGKILL.
#
# To run them in a network namespace, run this script under
# `ip netns exec NS`: nicd creates its TAP device where it runs.
# Needs python3 (the readiness listener). Exit status 0, or 1 on failure.
set -euo pipefail

BUILD=build
RUN_DIR=/run/ringstack
NICD_ARGS=""
NETD_ARGS=""
SOCKD_ARGS=""
ONLY=""
CMD=start
TIMEOUT=${RS_READY_TIMEOUT:-10}

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

case ${1:-} in start|stop|status) CMD=$1; shift ;; esac
while [ $# -gt 0 ]; do
  case $1 in
    -b) BUILD=$2; shift 2 ;;
    -d) RUN_DIR=$2; shift 2 ;;
    --nicd) NICD_ARGS=$2; shift 2 ;;
    --netd) NETD_ARGS=$2; shift 2 ;;
    --sockd) SOCKD_ARGS=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    *) usage ;;
  esac
done

log() { echo "ringstack-up: $*" >&2; }

# alive NAME: the pid in RUN_DIR/NAME.pid is a live process called NAME
# (not a zombie: a killed daemon's parent may not have reaped it yet)
alive() {
  local pid stat
  pid=$(cat "$RUN_DIR/$1.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

# start_one NAME ARGS...: start NAME, wait for READY=1, record its pid.
# A small Python listener binds the notify socket before the daemon starts
# (no race), spawns it, and prints its pid once READY=1 arrives.
start_one() {
  local name=$1; shift
  local sock pid rc=0
  if alive "$name"; then
    log "$name already running (pid $(cat "$RUN_DIR/$name.pid"))"; return 0
  fi
  sock=$(mktemp -u "$RUN_DIR/.notify-$name.XXXXXX")
  pid=$(python3 - "$sock" "$TIMEOUT" "$RUN_DIR/$name.log" "$@" <<'PY'
import os, socket, subprocess, sys, time
path, timeout, logpath, argv = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
log = open(logpath, "ab")
p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                     env=dict(os.environ, NOTIFY_SOCKET=path), start_new_session=True)
print(p.pid, flush=True)
deadline = time.monotonic() + timeout
try:
    while True:
        if p.poll() is not None:
            sys.exit(3)                      # exited before READY=1
        left = deadline - time.monotonic()
        if left <= 0:
            sys.exit(4)                      # not ready in time
        s.settimeout(min(left, 0.1))
        try:
            msg = s.recv(4096)
        except socket.timeout:
            continue
        if b"READY=1" in msg.split(b"\n"):
            sys.exit(0)
finally:
    os.unlink(path)
PY
  ) || rc=$?
  pid=${pid%%$'\n'*}
  if [ $rc -ne 0 ]; then
    if [ $rc -eq 4 ] && [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
    log "$name failed to start ($([ $rc -eq 3 ] && echo "exited" || echo "not ready in ${TIMEOUT}s")); last lines of $RUN_DIR/$name.log:"
    tail -n 15 "$RUN_DIR/$name.log" >&2 || true
    return 1
  fi
  echo "$pid" > "$RUN_DIR/$name.pid"
  log "$name ready (pid $pid)"
}

# stop_one NAME: SIGTERM, wait up to 5 s, then SIGKILL.
stop_one() {
  local name=$1 pid
  if ! alive "$name"; then rm -f "$RUN_DIR/$name.pid"; return 0; fi
  pid=$(cat "$RUN_DIR/$name.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    alive "$name" || break
    sleep 0.1
  done
  if alive "$name"; then
    log "$name (pid $pid) ignored SIGTERM for 5 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$RUN_DIR/$name.pid"
  log "$name stopped"
}

want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

case $CMD in
  start)
    mkdir -p "$RUN_DIR"
    # shellcheck disable=SC2086  # the ARGS strings are word-split on purpose
    if want nicd; then start_one nicd "$BUILD/bin/nicd" --run-dir "$RUN_DIR" $NICD_ARGS; fi
    # shellcheck disable=SC2086
    if want sockd; then start_one sockd "$BUILD/bin/sockd" --run-dir "$RUN_DIR" $SOCKD_ARGS; fi
    # shellcheck disable=SC2086
    if want netd; then start_one netd "$BUILD/bin/netd" --run-dir "$RUN_DIR" $NETD_ARGS; fi
    ;;
  stop)
    if want netd; then stop_one netd; fi
    if want sockd; then stop_one sockd; fi
    if want nicd; then stop_one nicd; fi
    ;;
  status)
    for n in nicd sockd netd; do
      if alive "$n"; then echo "$n running (pid $(cat "$RUN_DIR/$n.pid"))"; else echo "$n not running"; fi
    done
    ;;
esac
