#!/usr/bin/env bash
# test_e2e_iperf3.sh BUILD_DIR — iperf3 through ringstack, both ways, TCP and UDP.
#
# In a namespace of its own (rs_stack_up): TAP rs0, kernel 10.0.0.1/24,
# ringstack 10.0.0.2/24. Four runs, each bounded:
#   1. TCP 5 s, iperf3 client on the stack (ringstack-run --strict) -> kernel server
#   2. TCP 5 s, iperf3 server on the stack <- kernel client
#   3. UDP 5 s, -u -l 1400 -b 50M, client on the stack -> kernel server
#   4. UDP 5 s, -u -l 1400 -b 50M, kernel client -> server on the stack
# Pass: every run completes (exit 0, JSON without "error": any iperf3 error
# fails, the getsockopt ones included), TCP moved bytes at a rate > 0 both
# ways and the sender reported its retransmit count (iperf3 reads it with
# getsockopt(TCP_INFO): in run 1 that is the stack's TCP), UDP delivered
# datagrams (> 0 received, loss reported); the figures are printed. The
# daemons must still be running.
# Exit 0 pass, 77 skip (not root / no TUN / no netns), 1 fail. About 40 s.
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/../.." || exit 1
. scripts/netns-lib.sh
rs_init "$BUILD"
rs_need iperf3 python3
missing=$(rs_stack_ready) || rs_fail "the application path is not built: $missing"

rs_ns_new NS rsiperf
rs_stack_up "$NS"

# summary FILE MODE: one line of figures from iperf3's JSON; fails on an error
summary() {
  python3 - "$1" "$2" <<'PY'
import json, sys
try:
    j = json.load(open(sys.argv[1]))
except Exception as e:
    print("unreadable JSON: %s" % e); sys.exit(1)
end = j.get("end", {})
err = j.get("error")
if err:
    print("iperf3 error: %s" % err); sys.exit(1)
if sys.argv[2] == "tcp":
    s, r = end.get("sum_sent", {}), end.get("sum_received", {})
    rx = r.get("bits_per_second", 0)
    print("sent %.1f MB at %.0f Mbit/s, received %.1f MB at %.0f Mbit/s, retransmits %s"
          % (s.get("bytes", 0) / 1e6, s.get("bits_per_second", 0) / 1e6,
             r.get("bytes", 0) / 1e6, rx / 1e6, s.get("retransmits", "none reported")))
    if "retransmits" not in s:
        print("the sender reported no retransmit count (iperf3 reads it with TCP_INFO)")
        sys.exit(1)
    sys.exit(0 if rx > 0 and r.get("bytes", 0) > 0 else 1)
s = end.get("sum", {})
pk, lost = s.get("packets", 0), s.get("lost_packets", 0)
print("%.0f Mbit/s, %d datagrams, %d lost (%.2f%%), jitter %.3f ms"
      % (s.get("bits_per_second", 0) / 1e6, pk, lost, s.get("lost_percent", 0), s.get("jitter_ms", 0)))
sys.exit(0 if pk > lost and s.get("bits_per_second", 0) > 0 else 1)
PY
}

# kernel_server PORT: iperf3 server on 10.0.0.1 for one test
kernel_server() {
  ip netns exec "$NS" iperf3 -s -1 -B 10.0.0.1 -p "$1" >"$RS_TMP/ks$1.log" 2>&1 &
  rs_defer "kill -KILL $!"
  rs_wait 5 rs_listening "$NS" tcp 10.0.0.1 "$1" || rs_fail "kernel iperf3 server not listening on $1"
}

# stack_server PORT: iperf3 server on the stack (10.0.0.2) for one test
stack_server() {
  rs_app_bg "$NS" iperf3 -s -1 -B 10.0.0.2 -p "$1" --forceflush >"$RS_TMP/ss$1.log" 2>&1
  rs_wait 10 grep -q "Server listening" "$RS_TMP/ss$1.log" ||
    rs_fail "iperf3 server on the stack did not listen: $(tail -3 "$RS_TMP/ss$1.log")"
}

run() {   # run NAME MODE CMD...: one bounded run, JSON to RS_TMP/NAME.json
  local name=$1 mode=$2; shift 2
  "$@" >"$RS_TMP/$name.json" 2>"$RS_TMP/$name.err"
  local rc=$?
  line=$(summary "$RS_TMP/$name.json" "$mode") ||
    rs_fail "$name: exit $rc, $line $(tail -3 "$RS_TMP/$name.err")"
  [ $rc -eq 0 ] || rs_fail "$name: iperf3 exit $rc: $(tail -3 "$RS_TMP/$name.err")"
  printf '%-34s %s\n' "$name:" "$line"
}

IPC=(iperf3 -J -t 5 --connect-timeout 3000)

kernel_server 5201
T=25 run "TCP stack -> kernel" tcp rs_app "$NS" "${IPC[@]}" -c 10.0.0.1 -p 5201

stack_server 5202
T=25 run "TCP kernel -> stack" tcp rs_in "$NS" "${IPC[@]}" -c 10.0.0.2 -p 5202

kernel_server 5203
T=25 run "UDP stack -> kernel (1400 B, 50M)" udp rs_app "$NS" "${IPC[@]}" -u -l 1400 -b 50M -c 10.0.0.1 -p 5203

stack_server 5204
T=25 run "UDP kernel -> stack (1400 B, 50M)" udp rs_in "$NS" "${IPC[@]}" -u -l 1400 -b 50M -c 10.0.0.2 -p 5204

rs_alive nicd netd sockd || rs_fail "a daemon died"
rs_netd_stats && echo "netd drops: $(grep -E "e[0-9]+ drop " "$RS_RUN/netd.dump" | awk '{ printf "%s=%s ", $4, $5 }')"
echo "PASS"
