#!/usr/bin/env bash
# test_e2e_kill_app.sh BUILD_DIR — SIGKILL of applications in the middle of
# transfers frees everything they had on the stack.
#
# In a namespace of its own (rs_stack_up): TAP rs0, kernel 10.0.0.1/24 with
# nginx, ringstack 10.0.0.2/24. Two apps on the stack (ringstack-run --strict):
#   A  curl --parallel downloading 4 large files from the kernel nginx at a
#      limited rate (4 client sockets, all mid-transfer);
#   B  nc -l -k on port 7010 (a listener) with a kernel nc streaming into it
#      (one accepted socket, mid-transfer).
# Once bytes flow on all 5 connections (the kernel sees them ESTABLISHED and
# the files grow), both apps get SIGKILL. Then, within 10 s:
#   - sockd: apps live 0 (it saw both go, through pidfd/EOF);
#   - netd: TCP connections in use 0 (every socket of theirs aborted);
#   - the kernel: no connection left ESTABLISHED to or from the stack
#     (the peers were told: RST or FIN), the streaming kernel nc has ended;
#   - nicd, netd and sockd still run, and a new curl fetches 1 MiB intact
#     (the freed sockets and ports are usable again).
# netd's per-app counters (APPS_ADOPTED / APPS_DROPPED) are checked when netd
# prints them. Exit 0 pass, 77 skip (not root / no TUN / no netns), 1 fail.
# About 20 s.
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/../.." || exit 1
. scripts/netns-lib.sh
rs_init "$BUILD"
rs_need nginx curl nc ss
missing=$(rs_stack_ready) || rs_fail "the application path is not built: $missing"

rs_ns_new NS rskill
rs_stack_up "$NS"
WWW=$RS_TMP/www
mkdir -p "$WWW"
for i in 1 2 3 4; do rs_make_file "$WWW/big$i" $((64 << 20)); done
rs_make_file "$WWW/f1M" $((1 << 20))
rs_nginx "$NS" "$WWW" 10.0.0.1 80

# in_ns_pid COMM [REGEX]: the pid of the process called COMM in our namespace
# whose command line matches REGEX (the wrapper may or may not exec the
# program: find the program itself)
in_ns_pid() {
  local p
  for p in $(ip netns pids "${RS_APP_NS:-$NS}" 2>/dev/null); do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$1" ] || continue
    tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qE -- "${2:-.}" && { echo "$p"; return 0; }
  done
  return 1
}
established() { ip netns exec "$NS" ss -Htn state established "$@" 2>/dev/null | wc -l; }

echo "== app A: curl --parallel, 4 downloads at 4 MB/s each"
args=()
for i in 1 2 3 4; do args+=(-o "$RS_TMP/out$i" "http://10.0.0.1/big$i"); done
rs_app_bg "$NS" curl -sS --parallel --parallel-immediate --parallel-max 4 --limit-rate 4M "${args[@]}" </dev/null 2>"$RS_TMP/curlA.err"
disown "$RS_BG_PID"     # killed below: no job report

echo "== app B: nc -l -k 7010 on the stack, a kernel nc streaming into it"
rs_app_bg "$NS" nc -n -v -l -k 7010 </dev/null >/dev/null 2>"$RS_TMP/ncB.err"
disown "$RS_BG_PID"
rs_wait 10 grep -q "Listening" "$RS_TMP/ncB.err" || rs_fail "stack nc -l did not listen: $(cat "$RS_TMP/ncB.err")"
ip netns exec "$NS" timeout 60 bash -c 'head -c 2G /dev/zero | nc -n 10.0.0.2 7010' >/dev/null 2>"$RS_TMP/kstream.err" </dev/null &
KSTREAM=$!
rs_defer "kill -KILL $KSTREAM"

flowing() {
  local n i
  [ "$(established '( sport = :80 )')" -ge 4 ] && [ "$(established '( dport = :7010 )')" -ge 1 ] || return 1
  for i in 1 2 3 4; do n=$(stat -c %s "$RS_TMP/out$i" 2>/dev/null || echo 0); [ "$n" -gt 0 ] || return 1; done
}
rs_wait 15 flowing || rs_fail "transfers not flowing: kernel sees $(established '( sport = :80 )') nginx conns, $(established '( dport = :7010 )') to 7010; $(cat "$RS_TMP/curlA.err")"
sleep 1
rs_netd_stats; rs_sockd_stats
conns=$(rs_netd_conns); live=$(rs_sockd_live)
echo "before: sockd apps live $live, netd tcp conns in use $conns, kernel established $(established)"
if [ "$RS_DRY" != 1 ]; then
  [ "$live" -ge 2 ] || rs_fail "sockd counts $live live apps, want 2"
  [ "$conns" -ge 5 ] || rs_fail "netd counts $conns TCP connections, want >= 5"
fi
sizes=$(for i in 1 2 3 4; do stat -c %s "$RS_TMP/out$i"; done | tr '\n' ' ')

echo "== SIGKILL both apps mid-transfer (downloaded so far: $sizes)"
A=$(in_ns_pid curl) || rs_fail "no curl process in $NS"
B=$(in_ns_pid nc " -k 7010") || rs_fail "no stack nc process in $NS"
kill -KILL "$A" "$B"
t0=$(date +%s%N)

freed() {
  rs_sockd_stats && rs_netd_stats || return 1
  [ "$(rs_sockd_live)" = 0 ] && [ "$(rs_netd_conns)" = 0 ] || return 1
  [ "$(established '( sport = :80 )')" = 0 ] && [ "$(established '( dport = :7010 )')" = 0 ]
}
if ! rs_wait 10 freed; then
  ip netns exec "$NS" ss -tan | head -20
  rs_fail "10 s after SIGKILL: sockd apps live $(rs_sockd_live), netd tcp conns $(rs_netd_conns)," \
          "kernel still established: nginx $(established '( sport = :80 )'), 7010 $(established '( dport = :7010 )')"
fi
echo "after $(( ($(date +%s%N) - t0) / 1000000 )) ms: sockd apps live 0, netd tcp conns 0, the kernel has no connection left"
rs_wait 5 bash -c "! kill -0 $KSTREAM" || rs_fail "the kernel's streaming nc did not learn its peer was gone"
echo "the kernel's streaming nc ended: $(head -c 200 "$RS_TMP/kstream.err" | tr '\n' ' ')"

if grep -q APPS_ADOPTED "$RS_RUN/netd.dump"; then
  ad=$(rs_netd_ctr APPS_ADOPTED); dr=$(rs_netd_ctr APPS_DROPPED)
  [ "$ad" = "$dr" ] || rs_fail "netd adopted $ad apps and dropped $dr"
  echo "netd: APPS_ADOPTED $ad = APPS_DROPPED $dr"
else
  echo "note: netd prints no APPS_ADOPTED/APPS_DROPPED: its live-app count was not checked"
fi
echo "sockd: APP_EXITED $(rs_sockd_ctr APP_EXITED), APP_CLOSED $(rs_sockd_ctr APP_CLOSED), DETACHES_SENT $(rs_sockd_ctr DETACHES_SENT)"

rs_alive nicd netd sockd || rs_fail "a daemon died"
echo "== a new app after the kills"
T=20 rs_app "$NS" curl -sS --max-time 15 -o "$RS_TMP/f1M.out" http://10.0.0.1/f1M 2>"$RS_TMP/curlC.err" ||
  rs_fail "curl after the kills: $(cat "$RS_TMP/curlC.err")"
[ "$(rs_sha "$RS_TMP/f1M.out")" = "$(rs_sha "$WWW/f1M")" ] || rs_fail "1 MiB after the kills: sha256 differs"
echo "ok: 1 MiB intact"
echo "PASS"
