#!/usr/bin/env bash
# test_sockd.sh BUILD_DIR — sockd: admission, policy, cleanup, netd replay.
#
# No network is involved: sockd runs on a private temporary run directory
# with fake_netd_app (tests/tools) as netd and fake_app as the applications.
#   0. No netd: an app is refused -EAGAIN after the attach timeout; an app
#      still waiting when netd connects is replayed to it and admitted.
#   1. A root app is admitted: welcome 0, region and layout checked, one
#      command through the rings and back (--ping), APP_F_BIND_PRIV set;
#      netd printed its attach with the pid from SO_PEERCRED (not the hello's).
#   2. An app run as nobody without capabilities is admitted without it.
#   3. SIGKILL of an app: netd gets its detach within a second. An app that
#      exits while a child keeps its socket open is caught by its pidfd.
#   4. Hostile peers (silent, closing early or mid-hello, short or garbage
#      hellos, fds attached, a message after the hello, layout version 99:
#      -EPROTO) leave sockd running, and the next app is admitted.
#   5. Quotas: the per-uid and the global limit answer -EUSERS.
#   6. A second netd gets -EBUSY, an unprivileged one -EPERM. netd restarts:
#      the new one receives an attach for every live app, and a new app is
#      welcomed only after netd acked (ack delayed 300 ms: the app waits).
#   7. Bogus adoption offers from netd (fake_netd_app --offer): a dead pid,
#      a region that is no region, a region of another size (ADOPT_GONE,
#      ADOPT_REFUSED), and offers with no fds, 3 fds, a short and a long body
#      (NETD_BAD_MSG) leave sockd running, adopt nothing, leak no descriptor
#      (/proc/PID/fd before and after), and the next app is admitted.
#   8. SIGUSR1 prints the counters; SIGTERM exits 0; counters match.
# Exit 0 pass, 77 skip (not root: the unprivileged app needs a second uid), 1 fail.
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/../.."
SOCKD=$BUILD/bin/sockd

skip() { echo "SKIP: $*"; exit 77; }
for b in "$SOCKD" "$BUILD/tools/fake_app" "$BUILD/tools/fake_netd_app"; do
  [ -x "$b" ] || { echo "FAIL: $b not built"; exit 1; }
done
[ "$(id -u)" -eq 0 ] || skip "needs root (an unprivileged second uid via setpriv)"
command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"

RUN=$(mktemp -d /dev/shm/rs-sockd.XXXXXX) || exit 1
chmod 755 "$RUN"     # apps of every uid reach sockd.sock, and run the copies below
cp "$BUILD/tools/fake_app" "$BUILD/tools/fake_netd_app" "$RUN/"
SOCKD_PID= NETD_PID= HOLD_PIDS=()
cleanup() {
  for p in "${HOLD_PIDS[@]}" $NETD_PID; do kill -TERM "$p" 2>/dev/null; done
  [ -n "$SOCKD_PID" ] && kill -TERM "$SOCKD_PID" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() {
  echo "FAIL: $*"
  for f in "$RUN"/*.log; do echo "--- $f"; tail -n 30 "$f"; done
  exit 1
}
ms() { date +%s%3N; }

# wait_for FILE REGEX SECONDS: poll (every 50 ms) until FILE has a line matching.
wait_for() {
  local end=$(( $(ms) + ${3%.*} * 1000 ))
  until grep -qE "$2" "$1" 2>/dev/null; do
    [ "$(ms)" -lt "$end" ] || return 1
    sleep 0.05
  done
}

start_sockd() {
  "$SOCKD" --run-dir "$RUN" --max-apps 5 --max-apps-per-uid 3 --max-sockets 64 \
    --attach-timeout-ms 1500 >>"$RUN/sockd.log" 2>&1 &
  SOCKD_PID=$!
  wait_for "$RUN/sockd.log" "ready:" 5 || fail "sockd not ready after 5 s"
}

# start_netd LOG [ARGS]: a fake netd, up once it printed its welcome.
start_netd() {
  local log=$1; shift
  "$RUN/fake_netd_app" --run-dir "$RUN" --seconds 50 "$@" >"$log" 2>&1 &
  NETD_PID=$!
  wait_for "$log" "welcome status=0" 5 || fail "fake_netd_app not welcomed ($log)"
}

app() { timeout 15 "$RUN/fake_app" --run-dir "$RUN" --nsocks 64 "$@"; }
nobody() {
  timeout 15 setpriv --reuid 65534 --regid 65534 --clear-groups --inh-caps=-all \
    "$RUN/fake_app" --run-dir "$RUN" --nsocks 64 "$@"
}
field() { grep -o "$2=[0-9x-]*" "$1" | head -n "${3:-1}" | tail -n1 | cut -d= -f2; }
alive() { kill -0 "$SOCKD_PID" 2>/dev/null || fail "sockd died ($1)"; }
counter() { awk -v k="<6>sockd.$1" '$1 == k { v = $2 } END { print v }' "$RUN/sockd.log"; }
# wait_count FILE REGEX N SECONDS: poll until FILE has at least N matching lines.
wait_count() {
  local end=$(( $(ms) + $4 * 1000 )) n
  while n=$(grep -cE "$2" "$1" 2>/dev/null); [ "${n:-0}" -lt "$3" ]; do
    [ "$(ms)" -lt "$end" ] || return 1
    sleep 0.05
  done
}
# snap NAME...: SIGUSR1, and wait until the new printout has each NAME.
snap() {
  local n k
  n=$(grep -c "^<6>sockd: counters (" "$RUN/sockd.log")
  kill -USR1 "$SOCKD_PID"
  for k in "$@"; do
    wait_count "$RUN/sockd.log" "^<6>sockd\.$k " $((n + 1)) 2 || fail "SIGUSR1 printed no $k"
  done
}
gauges() { grep -o "apps live [0-9]*, pending [0-9]*" "$RUN/sockd.log" | tail -n1; }
nfd() { ls "/proc/$SOCKD_PID/fd" | wc -l; }

start_sockd

# ---- 0. no netd: -EAGAIN after the timeout; a waiting app is replayed
app --expect -11 >"$RUN/app0.log" || fail "app without netd: want -EAGAIN"
w=$(field "$RUN/app0.log" wait_ms)
[ "$w" -ge 1400 ] || fail "-EAGAIN after $w ms, before the 1500 ms timeout"
app --expect 0 --ping >"$RUN/app0b.log" & P0=$!
sleep 0.3
start_netd "$RUN/netd1.log"
wait $P0 || fail "app waiting for netd was not admitted when netd connected"
echo "phase 0: no netd -> -EAGAIN after $w ms; waiting app admitted after $(field "$RUN/app0b.log" wait_ms) ms"

# ---- 1. a root app: admitted, layout, ping, BIND_PRIV, attach with the real pid
"$RUN/fake_app" --run-dir "$RUN" --nsocks 64 --expect-flags 1 --ping --hold 40 >"$RUN/app1.log" 2>&1 &
A1=$!; HOLD_PIDS+=($A1)
disown "$A1"         # killed with SIGKILL below: no "Killed" job report
wait_for "$RUN/app1.log" "holding" 5 || fail "root app not admitted"
grep -q "status=0 .*layout=ok ping=ok" "$RUN/app1.log" || fail "root app: layout or ping"
ID1=$(field "$RUN/app1.log" app_id)
grep -qE "attach app_id=$ID1 pid=$A1 uid=0 flags=0x1 nsocks=64 check=ok" "$RUN/netd1.log" \
  || fail "netd has no attach for app $ID1 with pid $A1 and BIND_PRIV"
echo "phase 1: root app $ID1 (pid $A1) admitted, layout ok, ping ok, APP_F_BIND_PRIV"

# ---- 2. unprivileged: no BIND_PRIV
nobody --expect-flags 0 --ping >"$RUN/app2.log" || fail "nobody's app: $(cat "$RUN/app2.log")"
grep -qE "attach app_id=$(field "$RUN/app2.log" app_id) pid=[0-9]+ uid=65534 flags=0 " \
  "$RUN/netd1.log" || fail "netd: no attach for nobody's app with flags 0"
echo "phase 2: nobody's app admitted without APP_F_BIND_PRIV"

# ---- 3. SIGKILL -> detach within a second; exit with the socket still open
t0=$(ms); kill -KILL "$A1"
wait_for "$RUN/netd1.log" "detach app_id=$ID1\$" 1 || fail "no detach for app $ID1 within 1 s of SIGKILL"
t1=$(ms)
app --mode fork-exit >"$RUN/app3.log" || fail "fork-exit app not admitted"
ID3=$(field "$RUN/app3.log" app_id)
wait_for "$RUN/netd1.log" "detach app_id=$ID3\$" 1 || fail "no detach for app $ID3 (exited, child holds socket)"
echo "phase 3: SIGKILL -> detach in $((t1 - t0)) ms; exit while a child holds the socket -> detach"

# ---- 4. hostile peers leave sockd running
app --mode silent --expect 1000 >"$RUN/app4.log" || fail "silent peer not dropped"
app --mode close-early >>"$RUN/app4.log" || fail "close-early"
app --mode half --expect -71 >>"$RUN/app4.log" || fail "half hello: want -EPROTO"
app --mode garbage --expect -71 >>"$RUN/app4.log" || fail "garbage: want -EPROTO"
app --mode hello-close >>"$RUN/app4.log" || fail "hello-close"
app --mode with-fds >>"$RUN/app4.log" || fail "hello with fds: want admission"
app --mode extra >>"$RUN/app4.log" || fail "extra message"
app --layout-version 99 --expect -71 >>"$RUN/app4.log" || fail "layout 99: want -EPROTO"
alive "hostile peers"
app --expect 0 --ping >>"$RUN/app4.log" || fail "an app after the hostile ones"
echo "phase 4: silent, early close, half, garbage, mid-call close, fds, extra message, layout 99: sockd fine"

# ---- 5. quotas: 3 per uid, 5 in all
app --expect 0,0,0,-87 >"$RUN/app5.log" || fail "per-uid quota: want 0,0,0,-EUSERS"
"$RUN/fake_app" --run-dir "$RUN" --nsocks 64 --expect 0,0,0 --hold 40 >"$RUN/app5h.log" 2>&1 &
A5=$!; HOLD_PIDS+=($A5)
wait_for "$RUN/app5h.log" "holding" 5 || fail "3 held apps not admitted"
nobody --expect 0,0,-87 >"$RUN/app5n.log" || fail "global quota: want 0,0,-EUSERS"
echo "phase 5: per-uid quota and global quota -> -EUSERS"

# ---- 6. one netd at a time, root only; restart and replay; ack before welcome
"$RUN/fake_netd_app" --run-dir "$RUN" --expect-status -16 >"$RUN/netd_busy.log" 2>&1 \
  || fail "second netd: want -EBUSY"
timeout 10 setpriv --reuid 65534 --regid 65534 --clear-groups --inh-caps=-all \
  "$RUN/fake_netd_app" --run-dir "$RUN" --expect-status -1 >"$RUN/netd_perm.log" 2>&1 \
  || fail "netd as nobody: want -EPERM"
kill -TERM "$NETD_PID"; wait "$NETD_PID" || fail "fake_netd_app (1) found bad attaches"
wait_for "$RUN/sockd.log" "netd .* left" 2 || fail "sockd did not notice netd leaving"
start_netd "$RUN/netd2.log" --ack-delay-ms 300
for k in 1 2 3; do
  id=$(field "$RUN/app5h.log" app_id $k)
  wait_for "$RUN/netd2.log" "attach app_id=$id .*check=ok" 2 || fail "restarted netd: no replay of app $id"
done
nobody --expect 0 --ping >"$RUN/app6.log" || fail "app after netd restart"
w=$(field "$RUN/app6.log" wait_ms)
[ "$w" -ge 300 ] || fail "app welcomed after $w ms, before netd's ack (300 ms)"
kill -TERM "$A5"; wait "$A5" 2>/dev/null
for k in 1 2 3; do
  wait_for "$RUN/netd2.log" "detach app_id=$(field "$RUN/app5h.log" app_id $k)\$" 2 || fail "no detach after the held apps left"
done
wait_for "$RUN/netd2.log" "detach app_id=$(field "$RUN/app6.log" app_id)\$" 2 || fail "no detach for app 6"
echo "phase 6: -EBUSY, -EPERM; restarted netd got 3 replayed attaches; welcome waited $w ms for the ack"

# ---- 7. bogus adoption offers: nothing adopted, nothing leaked, sockd fine
# Baseline: no netd, no app. Every offer is accounted for under one counter.
ADOPT_CTRS="ADOPTED ADOPT_KNOWN ADOPT_GONE ADOPT_REFUSED NETD_BAD_MSG FDS_DISCARDED"
kill -TERM "$NETD_PID"; wait "$NETD_PID" || fail "fake_netd_app (2) found bad attaches"
wait_count "$RUN/sockd.log" "netd .* left" 2 2 || fail "sockd did not notice netd (2) leaving"
snap $ADOPT_CTRS
[ "$(gauges)" = "apps live 0, pending 0" ] || fail "before the offers: $(gauges), want none"
declare -A C0
for k in $ADOPT_CTRS; do C0[$k]=$(counter "$k"); done
[ "${C0[FDS_DISCARDED]}" = 2 ] || fail "FDS_DISCARDED = ${C0[FDS_DISCARDED]} before the offers, want 2"
FD0=$(nfd)
OFFERS=dead,notregion,badsize
BAD_OFFERS=nofds,extrafds,short,long
start_netd "$RUN/netd3.log" --offer "$OFFERS" --offer "$BAD_OFFERS"
wait_for "$RUN/netd3.log" "offers sent=7" 2 || fail "fake_netd_app did not send its 7 offers"
declare -A D
for try in $(seq 20); do      # until sockd counted all 7 (at most 2 s)
  snap $ADOPT_CTRS
  sum=0
  for k in $ADOPT_CTRS; do D[$k]=$(( $(counter "$k") - ${C0[$k]} )); done
  for k in ADOPTED ADOPT_KNOWN ADOPT_GONE ADOPT_REFUSED NETD_BAD_MSG; do sum=$((sum + D[$k])); done
  [ "$sum" -ge 7 ] && break
  sleep 0.1
done
alive "bogus adoption offers"
LIVE7=$(gauges)
errs=()
[ "${D[ADOPT_GONE]}" = 1 ] || errs+=("ADOPT_GONE +${D[ADOPT_GONE]}, want +1 (dead)")
[ "${D[ADOPT_REFUSED]}" = 2 ] || errs+=("ADOPT_REFUSED +${D[ADOPT_REFUSED]}, want +2 (notregion, badsize)")
[ "${D[NETD_BAD_MSG]}" = 4 ] || errs+=("NETD_BAD_MSG +${D[NETD_BAD_MSG]}, want +4 (nofds, extrafds, short, long)")
[ "${D[ADOPTED]}" = 0 ] || errs+=("ADOPTED +${D[ADOPTED]}, want 0")
[ "${D[ADOPT_KNOWN]}" = 0 ] || errs+=("ADOPT_KNOWN +${D[ADOPT_KNOWN]}, want 0")
[ "${D[FDS_DISCARDED]}" -le 1 ] || errs+=("FDS_DISCARDED +${D[FDS_DISCARDED]}, want at most +1 (extrafds' third)")
[ "$LIVE7" = "apps live 0, pending 0" ] || errs+=("after the offers: $LIVE7, want none")
# The next app is admitted through the same netd.
app --expect 0 --ping >"$RUN/app7.log" || fail "an app after the bogus offers: $(cat "$RUN/app7.log")"
ID7=$(field "$RUN/app7.log" app_id)
grep -qE "attach app_id=$ID7 .*check=ok" "$RUN/netd3.log" || fail "netd (3) has no attach for app $ID7"
wait_for "$RUN/netd3.log" "detach app_id=$ID7\$" 2 || fail "no detach for app $ID7"
# netd leaves; sockd must hold what it held before the offers, no more.
kill -TERM "$NETD_PID"; wait "$NETD_PID"; rc=$?; NETD_PID=
[ $rc -eq 0 ] || errs+=("fake_netd_app (3) exited $rc: an offer failed to send or sockd replayed one")
wait_count "$RUN/sockd.log" "netd .* left" 3 2 || fail "sockd did not notice netd (3) leaving"
end=$(( $(ms) + 1000 ))
while FD1=$(nfd); [ "$FD1" -ne "$FD0" ] && [ "$(ms)" -lt "$end" ]; do sleep 0.05; done
if [ "$FD1" -ne "$FD0" ]; then
  errs+=("sockd holds $FD1 fds after the offers, $FD0 before: $(ls -l "/proc/$SOCKD_PID/fd" | awk 'NR > 1 { printf "%s->%s ", $9, $11 }')")
fi
alive "after the offers"
if [ ${#errs[@]} -gt 0 ]; then
  printf 'phase 7: %s\n' "${errs[@]}"
  fail "bogus adoption offers: ${#errs[@]} check(s) failed (above)"
fi
FDS7=$(( ${C0[FDS_DISCARDED]} + ${D[FDS_DISCARDED]} ))
echo "phase 7: offers $OFFERS -> gone 1, refused 2; $BAD_OFFERS -> bad 4; none adopted, $FD0 fds before and after; app $ID7 admitted"

# ---- 8. counters and a clean stop
alive "end"
kill -USR1 "$SOCKD_PID"
wait_for "$RUN/sockd.log" "sockd.FDS_DISCARDED" 2 || fail "SIGUSR1 printed no counters"
[ "$(stat -c %a "$RUN/sockd.stats")" = 644 ] || fail "no stats region RUN_DIR/sockd.stats (0644)"
kill -TERM "$SOCKD_PID"; wait "$SOCKD_PID"; rc=$?; SOCKD_PID=
[ $rc -eq 0 ] || fail "sockd exited $rc on SIGTERM"
[ ! -e "$RUN/sockd.sock" ] || fail "sockd.sock left behind"
for kv in REFUSED_NO_NETD=1 REFUSED_LAYOUT=1 BAD_HELLO=2 HELLO_TIMEOUT=1 REFUSED_QUOTA_UID=1 \
          REFUSED_QUOTA_ALL=1 APP_BAD_MSG=1 FDS_DISCARDED=$FDS7 NETD_BUSY=1 NETD_PERM=1 \
          NETD_CONNECTS=3 NETD_BAD_MSG=4 ADOPTED=0 ADOPT_KNOWN=0 ADOPT_GONE=1 ADOPT_REFUSED=2; do
  got=$(counter "${kv%=*}")
  [ "$got" = "${kv#*=}" ] || fail "counter ${kv%=*} = $got, want ${kv#*=}"
done
# The hello-close app closes right after its hello: whether sockd welcomed
# it before it saw the close is a race, so it counts in exactly one of these.
settled=$(( $(counter APPS_ADMITTED) + $(counter APP_GONE_PENDING) + $(counter WELCOME_FAILED) ))
[ "$settled" = 18 ] || fail "admitted + gone pending + welcome failed = $settled, want 18"
echo "phase 8: counters as expected, SIGTERM -> exit 0"
echo "PASS"
