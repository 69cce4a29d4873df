#!/usr/bin/env bash
# bench-timeout: 300
# bench/e2e_bench.sh BUILD_DIR — the stack beside the kernel, end to end.
#
# One run, three topologies, the same programs on each (run by `make bench`
# through bench/run-bench.sh; docs/BENCHMARKS.md "End to end" has the figures):
#
#   veth        kernel <-veth-> kernel, two namespaces, offloads as they come
#               (TSO/GSO/GRO: ~64 KB per packet; the everyday kernel baseline)
#   veth-1500   the same veth with TSO, GSO and GRO off (ethtool -K): every
#               packet a 1500-byte frame, as ringstack's are
#   ringstack   kernel <-TAP-> nicd <-rings-> netd <-rings-> app (ringstack-run --strict)
#
# The "app side" (10.0.x.2) runs the clients; the kernel side (10.0.x.1)
# runs iperf3 -s and nginx. Measured per topology:
#   iperf3 TCP, one stream, E2E_SECS (default 5) s: app -> kernel, and
#   kernel -> app (-R); the receiver's rate
#   curl of a 100 MiB file from nginx, E2E_CURL_REPS (default 3) times: median
#   the other way round, requests: nginx on the app side (its defaults:
#   daemon, master, 2 workers; on ringstack through the stack), wrk on the
#   kernel side, a 1 KiB file, 32 connections, E2E_SECS s: requests/s with
#   keep-alive, and with "Connection: close" (a TCP connection per request:
#   the accept/close path)
# Printed: a table with ringstack's ratio to each kernel baseline. The
# machine is shared and noisy (shared/notes/baselines.md): read ratios from
# one run, not absolute figures across runs.
# Exit 0 if every measurement completed, 77 without root, 1 otherwise.
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.." || exit 1
. scripts/netns-lib.sh
RS_QUIET=1
rs_init "$BUILD"
rs_need iperf3 nginx curl ethtool python3 wrk
missing=$(rs_stack_ready) || rs_fail "the application path is not built: $missing"
SECS=${E2E_SECS:-5}
REPS=${E2E_CURL_REPS:-3}
FILE=$RS_TMP/www/f100M
mkdir -p "$RS_TMP/www"
rs_make_file "$FILE" $((100 << 20))
rs_make_file "$RS_TMP/www/f1k" 1024
WANT=$(rs_sha "$FILE")
declare -A R                      # R[topology,metric] = value

# bps FILE: the receiver's bits/s from iperf3's JSON (a TCP_INFO "getsockopt"
# error from libsock is not fatal: iperf3 only wanted its retransmit count)
bps() {
  python3 - "$1" <<'PY'
import json, sys
try:
    j = json.load(open(sys.argv[1]))
except Exception:
    sys.exit(1)
err, end = j.get("error"), j.get("end", {})
if (err and not (err.startswith("getsockopt - ") and end)) or not end:
    sys.exit(1)
print("%.0f" % end.get("sum_received", {}).get("bits_per_second", 0))
PY
}

# measure TOPO SERVER_ADDR RUNNER...: the three figures for one topology;
# RUNNER is how a client program is started on the app side
measure() {
  local topo=$1 srv=$2; shift 2
  local dir v i t times=()
  for dir in up down; do
    local flag=""; [ $dir = down ] && flag=-R
    T=$((SECS + 20)) "$@" iperf3 -J -t "$SECS" --connect-timeout 3000 -c "$srv" $flag \
      >"$RS_TMP/$topo-$dir.json" 2>"$RS_TMP/$topo-$dir.err"
    v=$(bps "$RS_TMP/$topo-$dir.json") ||
      rs_fail "$topo iperf3 $dir: $(head -c 300 "$RS_TMP/$topo-$dir.json") $(tail -2 "$RS_TMP/$topo-$dir.err")"
    R[$topo,$dir]=$v
    sleep 1
  done
  for ((i = 0; i < REPS; i++)); do
    t=$(T=60 "$@" curl -sS --max-time 50 -o "$RS_TMP/out" -w '%{time_total}' "http://$srv/f100M" \
        2>"$RS_TMP/curl.err") || rs_fail "$topo curl: $(cat "$RS_TMP/curl.err")"
    [ "$(rs_sha "$RS_TMP/out")" = "$WANT" ] || rs_fail "$topo curl: the 100 MiB arrived corrupt"
    rm -f "$RS_TMP/out"
    times+=("$t")
  done
  R[$topo,curl]=$(printf '%s\n' "${times[@]}" | sort -g | sed -n "$(( (REPS + 1) / 2 ))p")
  R[$topo,curlall]="${times[*]}"
}

# app_nginx ADDR RUNNER...: nginx with its defaults on the app side, serving
# RS_TMP/www on ADDR:8080 (RUNNER starts it: rs_in NS, or rs_app NS)
app_nginx() {
  local addr=$1 d=$RS_TMP/appngx; shift
  mkdir -p "$d"; rm -f "$d/nginx.pid"
  rs_nginx_conf "$d" "$RS_TMP/www" "$addr:8080" "worker_processes 2;" off >"$d/nginx.conf"
  T=15 "$@" nginx -c "$d/nginx.conf" -p "$d" || rs_fail "app-side nginx: $(tail -3 "$d/error.log")"
  rs_wait 5 test -s "$d/nginx.pid" || rs_fail "app-side nginx wrote no pid"
  rs_defer "app_nginx_stop"
}

app_nginx_stop() {   # quit the app side's nginx: its master and its workers only
  local d=$RS_TMP/appngx pid procs
  pid=$(cat "$d/nginx.pid" 2>/dev/null) || return 0
  procs=("$pid" $(pgrep -P "$pid"))
  kill -QUIT "$pid" 2>/dev/null
  rs_wait 10 rs_gone "${procs[@]}" || kill -KILL "${procs[@]}" 2>/dev/null
  rm -f "$d/nginx.pid"
}

# requests TOPO KERNEL_NS ADDR: wrk from the kernel side to the app side's
# nginx, keep-alive and one connection per request
requests() {
  local topo=$1 ns=$2 addr=$3 mode out
  for mode in ka close; do
    local hdr=(); [ $mode = close ] && hdr=(-H "Connection: close")
    out=$(timeout $((SECS + 20)) ip netns exec "$ns" wrk -t2 -c32 -d"${SECS}s" "${hdr[@]}" \
          "http://$addr:8080/f1k" 2>&1) || rs_fail "$topo wrk $mode: $out"
    grep -q "Non-2xx\|Socket errors: connect [1-9]" <<<"$out" && rs_fail "$topo wrk $mode: errors: $out"
    R[$topo,rps_$mode]=$(awk '/Requests\/sec/ { print $2 }' <<<"$out")
    [ -n "${R[$topo,rps_$mode]}" ] || rs_fail "$topo wrk $mode: no rate in: $out"
  done
}

servers() {   # servers NS ADDR: iperf3 -s and nginx on the kernel side
  ip netns exec "$1" iperf3 -s -B "$2" >/dev/null 2>&1 </dev/null &
  rs_defer "kill -KILL $!"
  disown $!               # killed at exit: no job report
  rs_wait 5 rs_listening "$1" tcp "$2" 5201 || rs_fail "iperf3 -s did not listen on $2"
  rs_nginx "$1" "$RS_TMP/www" "$2" 80
}

echo "e2e_bench: iperf3 TCP ${SECS} s each way, curl 100 MiB x $REPS, wrk ${SECS} s x 2 to nginx, per topology (load $(cut -d' ' -f1-3 /proc/loadavg))"

# ---- kernel <-> kernel over veth
rs_ns_new KA rsbk; rs_ns_new KB rsbk
rs_veth "$KA" "$KB" 10.0.1.1 10.0.1.2
servers "$KA" 10.0.1.1
measure veth 10.0.1.1 rs_in "$KB"
app_nginx 10.0.1.2 rs_in "$KB"; requests veth "$KA" 10.0.1.2
for ns in "$KA" "$KB"; do
  ip netns exec "$ns" ethtool -K veth0 tso off gso off gro off >/dev/null 2>&1 || rs_fail "ethtool -K on veth0"
done
measure veth-1500 10.0.1.1 rs_in "$KB"
requests veth-1500 "$KA" 10.0.1.2; app_nginx_stop

# ---- kernel <-> ringstack over the TAP
rs_ns_new RS rsbs
rs_stack_up "$RS"
servers "$RS" 10.0.0.1
measure ringstack 10.0.0.1 rs_app "$RS"
app_nginx 10.0.0.2 rs_app "$RS"; requests ringstack "$RS" 10.0.0.2; app_nginx_stop
rs_netd_stats
drops=$(grep -E "e[0-9]+ drop " "$RS_RUN/netd.dump" | awk '{ printf "%s=%s ", $4, $5 }')

# ---- the table
python3 - "$SECS" "$REPS" <<PY
import sys
R = {}
for kv in """$(for k in "${!R[@]}"; do echo "$k=${R[$k]}"; done)""".split("\n"):
    if "=" in kv:
        k, v = kv.split("=", 1); R[k] = v
secs, reps = sys.argv[1], sys.argv[2]
topos = ["veth", "veth-1500", "ringstack"]
def g(t, m): return float(R["%s,%s" % (t, m)])
rows = [("iperf3 TCP app -> kernel (Gbit/s)", "up", lambda t: g(t, "up") / 1e9),
        ("iperf3 TCP kernel -> app (Gbit/s)", "down", lambda t: g(t, "down") / 1e9),
        ("curl 100 MiB, median of %s (MB/s)" % reps, "curl", lambda t: 104.8576 / g(t, "curl")),
        ("nginx on app side, keep-alive (req/s)", "rps_ka", lambda t: g(t, "rps_ka")),
        ("nginx on app side, conn/request (req/s)", "rps_close", lambda t: g(t, "rps_close"))]
print()
print("%-36s %10s %10s %10s %10s %10s" % ("", "veth", "veth-1500", "ringstack", "rs/veth", "rs/1500"))
for name, _, f in rows:
    v = [f(t) for t in topos]
    print("%-36s %10.2f %10.2f %10.2f %9.2fx %9.2fx" % (name, v[0], v[1], v[2], v[2] / v[0], v[2] / v[1]))
print()
for t in topos:
    print("curl 100 MiB times (s), %-10s %s" % (t + ":", R[t + ",curlall"]))
PY
echo "netd drops during the ringstack runs: ${drops:-none}"
echo "(veth: offloads on; veth-1500: ethtool -K veth0 tso off gso off gro off; ringstack: TAP rs0, nicd + netd, 1 queue)"
