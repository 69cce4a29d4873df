#!/usr/bin/env bash
# test_e2e_tcpinfo.sh BUILD_DIR — getsockopt(IPPROTO_TCP, TCP_INFO) on the
# stack's TCP sockets, held to the answers the kernel gives.
#
# In a namespace of its own (rs_stack_up): TAP rs0, kernel 10.0.0.1/24,
# ringstack 10.0.0.2/24. tests/tools/tcp_info_check (which see for the
# checks) runs twice, once on each side of the same link:
#   1. client on the stack (ringstack-run --strict) -> kernel echo server:
#      a fresh socket is TCP_CLOSE; connected, ESTABLISHED with rtt, cwnd,
#      mss, rto and pmtu; optlen 8, 0, 400, -1 as Linux; after 1 MiB each
#      way, bytes_acked, bytes_received and segment counts; UDP: EOPNOTSUPP;
#   2. server on the stack <- kernel client: the listener is TCP_LISTEN, the
#      accepted socket ESTABLISHED with rtt and cwnd, CLOSE_WAIT with the
#      byte counts after the echo.
# The other side of each run makes the same checks on kernel sockets: they
# are Linux's answers, not only what the stack happens to say. Each side
# prints its figures. Exit 0 pass, 77 skip (not root / no TUN / no netns),
# 1 fail. About 2 s.
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/../.." || exit 1
. scripts/netns-lib.sh
rs_init "$BUILD"
missing=$(rs_stack_ready) || rs_fail "the application path is not built: $missing"
TOOL=$RS_BUILD/tools/tcp_info_check
[ -x "$TOOL" ] || rs_fail "$TOOL is not built"

rs_ns_new NS rsinfo
rs_stack_up "$NS"

# show SIDE LOG: a run's lines, tagged with the side they ran on
show() { sed "s/^/  $1: /" "$2"; }

# 1. the client on the stack, the server in the kernel
ip netns exec "$NS" timeout 30 "$TOOL" server 10.0.0.1 7001 >"$RS_TMP/kserver.log" 2>&1 </dev/null &
KSERVER=$!
rs_defer "kill -KILL $KSERVER"
rs_wait 5 grep -q listening "$RS_TMP/kserver.log" ||
  rs_fail "the kernel server did not listen: $(cat "$RS_TMP/kserver.log")"
T=30 rs_app "$NS" "$TOOL" client 10.0.0.1 7001 >"$RS_TMP/sclient.log" 2>&1
rc=$?
show "stack client " "$RS_TMP/sclient.log"
[ $rc -eq 0 ] || rs_fail "TCP_INFO on the stack's client socket: exit $rc"
wait "$KSERVER"
rc=$?
show "kernel server" "$RS_TMP/kserver.log"
[ $rc -eq 0 ] || rs_fail "the kernel server's own checks (the control): exit $rc"

# 2. the server on the stack, the client in the kernel
rs_app_bg "$NS" "$TOOL" server 10.0.0.2 7002 >"$RS_TMP/sserver.log" 2>&1 </dev/null
SSERVER=$RS_BG_PID
rs_wait 10 grep -q listening "$RS_TMP/sserver.log" ||
  rs_fail "the stack server did not listen: $(cat "$RS_TMP/sserver.log")"
T=30 rs_in "$NS" "$TOOL" client 10.0.0.2 7002 >"$RS_TMP/kclient.log" 2>&1
rc=$?
show "kernel client" "$RS_TMP/kclient.log"
[ $rc -eq 0 ] || rs_fail "the kernel client's own checks (the control): exit $rc"
wait "$SSERVER"
rc=$?
show "stack server " "$RS_TMP/sserver.log"
[ $rc -eq 0 ] || rs_fail "TCP_INFO on the stack's listener and accepted socket: exit $rc"

rs_alive nicd netd sockd || rs_fail "a daemon died"
echo "PASS"
