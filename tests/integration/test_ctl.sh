#!/usr/bin/env bash
# test_ctl.sh BUILD_DIR — ctl reads the running daemons' counters and TCP
# connections live, read-only, without signalling them.
#
# In a namespace of its own (rs_stack_up): TAP rs0, kernel 10.0.0.1/24 with
# nginx, ringstack 10.0.0.2/24. While curl on the stack downloads at a
# limited rate and a Python server on the stack listens on :7070:
#   - `ctl conns` shows curl's connection ESTABLISHED 10.0.0.2:* -> 10.0.0.1:80
#     with bytes received growing between two calls; `conns -a` adds the
#     listener on :7070, `conns` alone does not show it;
#   - `ctl stats` shows all three daemons; netd's RX_FRAMES and TCP_RX_BYTES
#     grow between two calls; sockd has 2 apps live; nicd's per-queue frames;
#   - the figures agree with netd's own table (SIGUSR1): ctl's RX_FRAMES taken
#     after the dump is at least the dump's;
#   - errors: a run directory without daemons exits 1 saying what is missing,
#     a bad command exits 2.
# Exit 0 pass, 77 skip (not root / no TUN / no netns), 1 fail. About 10 s.
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/../.." || exit 1
. scripts/netns-lib.sh
rs_init "$BUILD"
rs_need nginx curl python3
missing=$(rs_stack_ready) || rs_fail "the application path is not built: $missing"
CTL=$RS_BUILD/bin/ctl
[ -x "$CTL" ] || rs_fail "$CTL not built"

rs_ns_new NS rsctl
rs_stack_up "$NS"
mkdir -p "$RS_TMP/www"
rs_make_file "$RS_TMP/www/big" $((40 << 20))
rs_nginx "$NS" "$RS_TMP/www" "$RS_KADDR" 80
rs_app_bg "$NS" python3 -c '
import socket, time
s = socket.socket(); s.bind(("10.0.0.2", 7070)); s.listen(4); print("listening", flush=True)
time.sleep(30)' >"$RS_TMP/listener.log" 2>&1
rs_app_bg "$NS" curl -sS --limit-rate 4M -o /dev/null "http://$RS_KADDR/big" 2>"$RS_TMP/curl.err"
rs_wait 10 grep -q listening "$RS_TMP/listener.log" || rs_fail "the listener on the stack did not start"
ctl() { "$CTL" -d "$RS_RUN" "$@"; }
curl_conn() { ctl conns | awk '$3 == "ESTABLISHED" && $4 ~ /^10\.0\.0\.2:/ && $5 == "10.0.0.1:80"'; }
rs_wait 10 test -n "$(curl_conn)" || rs_fail "ctl conns shows no connection of curl's: $(ctl conns)"

# connections
rcvd() { curl_conn | sed -n 's/.* rcvd \([0-9]*\) .*/\1/p'; }
r1=$(rcvd); sleep 1; r2=$(rcvd)
[ -n "$r1" ] && [ -n "$r2" ] && [ "$r2" -gt "$r1" ] || rs_fail "bytes received did not grow: '$r1' -> '$r2'"
echo "ctl conns: $(curl_conn | awk '{ print $3, $4, "->", $5 }'), rcvd $r1 -> $r2"
ctl conns | grep -q ":7070 " && rs_fail "ctl conns shows the listener without -a"
ctl conns -a | awk '$3 == "LISTEN" && $4 == "10.0.0.2:7070"' | grep -q . ||
  rs_fail "ctl conns -a does not show the listener on :7070: $(ctl conns -a)"
echo "ctl conns -a: the listener 10.0.0.2:7070 too"

# counters
stat() {   # stat DAEMON SCOPE NAME: one value from ctl stats (0 if absent)
  ctl stats "$1" | awk -v s="$2" -v k="$3" '$2 == s && $4 == k { v = $5 } END { print v + 0 }'
}
f1=$(stat netd e0 RX_FRAMES); b1=$(stat netd e0 TCP_RX_BYTES); sleep 1
f2=$(stat netd e0 RX_FRAMES); b2=$(stat netd e0 TCP_RX_BYTES)
[ "$f2" -gt "$f1" ] && [ "$b2" -gt "$b1" ] || rs_fail "netd's counters did not grow: RX_FRAMES $f1 -> $f2, TCP_RX_BYTES $b1 -> $b2"
echo "ctl stats netd: RX_FRAMES $f1 -> $f2, TCP_RX_BYTES $b1 -> $b2"
all=$(ctl stats) || rs_fail "ctl stats exit $?"
for d in nicd netd sockd; do
  grep -q "^$d " <<<"$all" || rs_fail "ctl stats shows nothing of $d"
done
grep -q "^sockd -   info    apps live 2," <<<"$all" || rs_fail "sockd's gauges: $(grep '^sockd -   info' <<<"$all")"
grep -qE "^nicd +q0 +queue +RX_FRAMES +[1-9]" <<<"$all" || rs_fail "nicd's queue figures missing"
grep -q "latency" <<<"$all" || rs_fail "no latency histogram shown"
rs_netd_stats || rs_fail "netd printed no table"
dumped=$(rs_netd_ctr RX_FRAMES); live=$(stat netd e0 RX_FRAMES)
[ "$live" -ge "$dumped" ] || rs_fail "ctl's RX_FRAMES $live is behind netd's own table ($dumped)"
echo "ctl stats: nicd, netd, sockd; RX_FRAMES $live >= netd's table $dumped"

# errors
out=$("$CTL" -d "$RS_TMP/nothing-here" stats 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "netd's stats" <<<"$out" || rs_fail "no daemons: exit $rc, '$out'"
"$CTL" -d "$RS_RUN" frobnicate >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || rs_fail "a bad command: exit $rc, want 2"
rs_alive nicd netd sockd || rs_fail "a daemon died"
echo "PASS"
