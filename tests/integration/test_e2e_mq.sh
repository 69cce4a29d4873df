#!/usr/bin/env bash
# test_e2e_mq.sh BUILD_DIR — two queues, two netd engines: unmodified
# programs still work when RSS spreads their flows over both.
#
# In a namespace of its own (rs_stack_up with nicd --queues 2, so netd runs
# two engines): engine 0 owns every socket and answers ARP; engine 1 takes
# the flows RSS gives queue 1, does their link and IP work and steers the
# datagrams for sockets to engine 0 (docs/NETD.md, "Several engines").
#   1. The kernel pings the stack: 5 of 5 echo replies.
#   2. curl on the stack fetches a 1 MiB file 8 times, one connection each,
#      SHA-256 checked each time. netd picks each connect's ephemeral port so
#      that RSS gives its replies to queue 0 (RSS_PORTS): engine 1 steers
#      none of those datagrams (ctl stats before and after).
#   3. A Python echo server on the stack (TCP and UDP, selectors/epoll):
#      the kernel opens 32 TCP connections (64 KiB echoed on each) and sends
#      64 UDP datagrams from 64 source ports (each echoed): with that many
#      flows RSS gives both queues some (all on one: about 2^-90).
#   4. iperf3 TCP with 4 parallel streams, 3 s each way (client on the
#      stack, then server on the stack), and UDP kernel -> stack with 4
#      streams of 1400-byte datagrams.
#   5. netd's counters: engine 1 steered datagrams to engine 0 and engine 0
#      took every one (none stale, none lost to a full ring); no neighbour
#      resolution failed; engine 1 owns no TCP connection.
#   On the wire (dumpcap on the TAP during 1 and 2): the stack answered
#   each ARP request for 10.0.0.2 once (one engine answers), and every
#   frame it sent decodes with good checksums (rs_tshark_check).
# Exit 0 pass, 77 skip (not root / no TUN / no netns), 1 fail. About 30 s.
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/../.." || exit 1
. scripts/netns-lib.sh
rs_init "$BUILD"
rs_need nginx curl iperf3 ping tshark dumpcap python3 sha256sum
missing=$(rs_stack_ready) || rs_fail "the application path is not built: $missing"

rs_ns_new NS rsmq
RS_NICD_ARGS="--queues 2"
rs_stack_up "$NS"
grep -q "2 engines" "$RS_RUN/netd.log" || rs_fail "netd did not start two engines: $(grep -m3 engine "$RS_RUN/netd.log")"

PCAP=$RS_TMP/mq.pcap
rs_capture_start "$NS" rs0 "$PCAP"
# The kernel forgets the stack's MAC: the first ping must ask for it.
rs_in "$NS" ip neigh flush dev rs0

# 1. ping
rs_in "$NS" ping -c 5 -i 0.2 -W 2 "$RS_SADDR" >"$RS_TMP/ping.log" 2>&1 ||
  rs_fail "ping: $(tail -3 "$RS_TMP/ping.log")"
echo "ping: $(grep -o '[0-9]* received' "$RS_TMP/ping.log") of 5"

# 2. curl, eight connections
ectl() {   # ectl ENGINE NAME: a counter of netd's engine, live (ctl stats)
  "$RS_BUILD/bin/ctl" -d "$RS_RUN" stats netd |
    awk -v e="e$1" -v k="$2" '$2 == e && $4 == k { v = $5 } END { print v + 0 }'
}
steered0=$(ectl 1 STEER_OUT)
WWW=$RS_TMP/www
mkdir -p "$WWW"
rs_make_file "$WWW/f1M" $((1 << 20))
rs_nginx "$NS" "$WWW" "$RS_KADDR" 80
want=$(rs_sha "$WWW/f1M")
for i in 1 2 3 4 5 6 7 8; do
  T=20 rs_app "$NS" curl -sS --max-time 15 -o "$RS_TMP/f1M.$i" "http://$RS_KADDR/f1M" \
    2>"$RS_TMP/curl.$i.err" || rs_fail "curl $i: $(cat "$RS_TMP/curl.$i.err")"
  got=$(rs_sha "$RS_TMP/f1M.$i")
  [ "$got" = "$want" ] || rs_fail "curl $i: sha256 $got, want $want"
  rm -f "$RS_TMP/f1M.$i"
done
steered1=$(ectl 1 STEER_OUT); rssports=$(ectl 0 RSS_PORTS)
[ "$rssports" -ge 8 ] || rs_fail "netd picked $rssports RSS-aware ports for 8 connects"
[ "$steered1" -eq "$steered0" ] ||
  rs_fail "engine 1 steered $((steered1 - steered0)) datagrams of curl's connects (their ports should hash to queue 0)"
echo "curl: 8 x 1 MiB over 8 connections, sha256 ok; RSS_PORTS $rssports, none steered"
# the wire, while it carried ping and curl (iperf3's gigabytes would take
# tshark minutes)
rs_capture_stop
asked=$(timeout 30 tshark -n -r "$PCAP" -Y "arp.opcode == 1 && arp.dst.proto_ipv4 == $RS_SADDR" 2>/dev/null | wc -l)
answered=$(timeout 30 tshark -n -r "$PCAP" -Y "arp.opcode == 2 && eth.src == $RS_STACK_MAC" 2>/dev/null | wc -l)
echo "arp: $asked request(s) for $RS_SADDR, $answered reply(ies) from the stack"
[ "$asked" -ge 1 ] || rs_fail "the kernel never asked for $RS_SADDR (capture empty?)"
[ "$answered" -eq "$asked" ] || rs_fail "$asked ARP request(s) got $answered replies (want one each)"
rs_tshark_check "$PCAP" "$RS_STACK_MAC" || rs_fail "frames the stack sent do not decode cleanly"

# 3. many flows to an echo server on the stack
cat >"$RS_TMP/echo_server.py" <<'PY'
import selectors, socket, sys, time
sel = selectors.DefaultSelector()
lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lst.bind((sys.argv[1], 7000)); lst.listen(64); lst.setblocking(False)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind((sys.argv[1], 7001)); udp.setblocking(False)
sel.register(lst, selectors.EVENT_READ, "listen")
sel.register(udp, selectors.EVENT_READ, "udp")
print("ready", flush=True)
deadline = time.time() + float(sys.argv[2])
while time.time() < deadline:
    for key, _ in sel.select(timeout=0.5):
        if key.data == "listen":
            c, _ = lst.accept(); c.setblocking(True); c.settimeout(5)
            sel.register(c, selectors.EVENT_READ, "conn")
        elif key.data == "udp":
            d, peer = udp.recvfrom(2048); udp.sendto(d, peer)
        else:
            d = key.fileobj.recv(65536)
            if d:
                key.fileobj.sendall(d)
            else:
                sel.unregister(key.fileobj); key.fileobj.close()
PY
cat >"$RS_TMP/echo_client.py" <<'PY'
import os, socket, sys
addr = sys.argv[1]
for i in range(32):
    msg = os.urandom(65536)
    c = socket.create_connection((addr, 7000), timeout=5)
    c.sendall(msg); c.shutdown(socket.SHUT_WR)
    got = b""
    while len(got) < len(msg):
        d = c.recv(65536)
        if not d: break
        got += d
    c.close()
    if got != msg: sys.exit("tcp connection %d: %d of %d bytes echoed intact" % (i, len(got), len(msg)))
echoed = 0
for i in range(64):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(1)
    msg = os.urandom(200)
    for attempt in range(3):
        u.sendto(msg, (addr, 7001))
        try:
            if u.recv(2048) == msg: echoed += 1; break
        except socket.timeout:
            pass
    u.close()
if echoed != 64: sys.exit("udp: %d of 64 datagrams echoed" % echoed)
print("echo: 32 TCP connections x 64 KiB and 64 UDP datagrams from 64 ports, all echoed intact")
PY
rs_app_bg "$NS" python3 "$RS_TMP/echo_server.py" "$RS_SADDR" 40 >"$RS_TMP/echo_server.log" 2>&1
rs_wait 10 grep -q ready "$RS_TMP/echo_server.log" || rs_fail "echo server: $(tail -3 "$RS_TMP/echo_server.log")"
T=40 rs_in "$NS" python3 "$RS_TMP/echo_client.py" "$RS_SADDR" || rs_fail "echo client (server said: $(tail -3 "$RS_TMP/echo_server.log"))"
kill "$RS_BG_PID" 2>/dev/null

# 4. iperf3, four streams each
iperf() {   # iperf NAME MODE CMD...: one bounded run; prints its figures
  local name=$1 mode=$2; shift 2
  "$@" >"$RS_TMP/$name.json" 2>"$RS_TMP/$name.err" || rs_fail "$name: exit $?: $(tail -3 "$RS_TMP/$name.err")"
  python3 - "$RS_TMP/$name.json" "$mode" "$name" <<'PY' || rs_fail "$name: see above"
import json, sys
j = json.load(open(sys.argv[1]))
end = j.get("end", {})
if sys.argv[2] == "tcp":
    r = end.get("sum_received", {})
    print("%s: %d streams, %.1f MB received at %.0f Mbit/s"
          % (sys.argv[3], len(end.get("streams", [])), r.get("bytes", 0) / 1e6, r.get("bits_per_second", 0) / 1e6))
    ok = r.get("bytes", 0) > 0
else:
    s = end.get("sum", {})
    pk, lost = s.get("packets", 0), s.get("lost_packets", 0)
    print("%s: %d datagrams, %d lost" % (sys.argv[3], pk, lost))
    ok = pk > lost
sys.exit(0 if ok else 1)
PY
}
IPC=(iperf3 -J -t 3 -P 4 --connect-timeout 3000)
rs_in "$NS" iperf3 -s -1 -B "$RS_KADDR" -p 5301 >"$RS_TMP/ks.log" 2>&1 &
rs_defer "kill -KILL $!"
rs_wait 5 rs_listening "$NS" tcp "$RS_KADDR" 5301 || rs_fail "kernel iperf3 server not listening"
T=20 iperf "TCP stack -> kernel" tcp rs_app "$NS" "${IPC[@]}" -c "$RS_KADDR" -p 5301
for p in 5302 5303; do
  rs_app_bg "$NS" iperf3 -s -1 -B "$RS_SADDR" -p $p --forceflush >"$RS_TMP/ss$p.log" 2>&1
  rs_wait 10 grep -q "Server listening" "$RS_TMP/ss$p.log" ||
    rs_fail "iperf3 server on the stack did not listen: $(tail -3 "$RS_TMP/ss$p.log")"
  if [ $p = 5302 ]; then
    T=20 iperf "TCP kernel -> stack" tcp rs_in "$NS" "${IPC[@]}" -c "$RS_SADDR" -p $p
  else
    T=20 iperf "UDP kernel -> stack" udp rs_in "$NS" "${IPC[@]}" -u -l 1400 -b 20M -c "$RS_SADDR" -p $p
  fi
done

# 5. counters
rs_alive nicd netd sockd || rs_fail "a daemon died"
rs_netd_stats || rs_fail "netd printed no counters"
ectr() {   # ectr ENGINE NAME: one engine's counter from the dump (0 if absent)
  awk -v e="e$1" -v k="$2" '$2 == e && $4 == k { v = $5 } END { print v + 0 }' "$RS_RUN/netd.dump"
}
out=$(ectr 1 STEER_OUT); in0=$(ectr 0 STEER_IN)
echo "netd: engine 1 rx $(ectr 1 RX_FRAMES) frames, steered $out to engine 0; engine 0 rx $(ectr 0 RX_FRAMES), took $in0"
[ "$out" -gt 0 ] || rs_fail "engine 1 steered nothing: RSS gave queue 1 no flow of a socket?"
[ "$in0" -eq "$out" ] || rs_fail "engine 0 took $in0 of the $out datagrams engine 1 steered"
for c in STEER_FULL STEER_STALE; do
  [ "$(rs_netd_ctr $c)" -eq 0 ] || rs_fail "netd counted $c $(rs_netd_ctr $c)"
done
for d in NEIGH_FAILED STEER_FULL; do
  [ "$(rs_netd_ctr "$d")" -eq 0 ] || rs_fail "netd dropped $(rs_netd_ctr "$d") under $d"
done
grep -q "e1 tcp connections in use: 0" "$RS_RUN/netd.dump" ||
  rs_fail "engine 1 holds TCP connections: $(grep 'e1 tcp connections' "$RS_RUN/netd.dump")"

echo "PASS"
