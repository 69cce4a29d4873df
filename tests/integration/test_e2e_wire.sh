#!/usr/bin/env bash
# test_e2e_wire.sh BUILD_DIR — every frame ringstack puts on the wire while
# real programs use it decodes cleanly in tshark, checksums verified.
#
# (This is the end-to-end "ping" test of the plan. ARP and ICMP echo, with
# fragments, are already checked frame by frame in tests/integration/
# test_netd_ping.sh; this test covers the frames the application path makes:
# TCP and UDP from unmodified programs, plus the stack's RST and ICMP errors.)
#
# In a namespace of its own (rs_stack_up): TAP rs0, kernel 10.0.0.1/24,
# ringstack 10.0.0.2/24. dumpcap captures rs0 (full frames) while:
#   - the kernel pings the stack (3 echoes);
#   - curl on the stack (ringstack-run --strict) fetches 0 B and 1 MiB from a
#     kernel nginx (the stack's SYN, ACKs, window updates, FIN);
#   - a kernel nc sends 256 KiB to nc -l on the stack (the stack's SYN-ACK,
#     ACKs, FIN after the peer's);
#   - nc on the stack sends 256 KiB to a kernel nc -l (full-size segments);
#   - nc -u on the stack sends 100, 1400 and 6000-byte datagrams (the last
#     in IPv4 fragments) to a kernel nc -u -l;
#   - the kernel connects to a closed TCP port of the stack (RST) and sends a
#     datagram to a closed UDP port (ICMP port unreachable).
# Then tshark (IPv4, TCP and UDP checksum validation on) reads every frame
# whose source MAC is the stack's: none may be malformed or carry an error
# (bad checksum, bogus header); and the capture must show what was exercised:
# the stack's SYN with an MSS option, its SYN-ACK, FIN, RST, fragments, an
# ICMP port unreachable, echo replies, UDP. A positive control first: the
# filter must flag a forged SYN-ACK with a wrong TCP checksum.
# Exit 0 pass, 77 skip (not root / no TUN / no netns), 1 fail. About 15 s.
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/../.." || exit 1
. scripts/netns-lib.sh
rs_init "$BUILD"
rs_need nginx curl nc tshark dumpcap python3
missing=$(rs_stack_ready) || rs_fail "the application path is not built: $missing"

rs_ns_new NS rswire
rs_stack_up "$NS"
D=$RS_TMP
mkdir -p "$D/www"
: >"$D/www/f0"
rs_make_file "$D/www/f1M" $((1 << 20))
rs_make_file "$D/in256K" $((256 << 10))
head -c 75 /dev/urandom | base64 -w0 >"$D/u1"
rs_make_file "$D/u2" 1400
rs_make_file "$D/u3" 6000
rs_nginx "$NS" "$D/www" 10.0.0.1 80

PCAP=$D/wire.pcap
rs_capture_start "$NS" rs0 "$PCAP"

echo "== ping"
out=$(T=10 rs_in "$NS" ping -c 3 -i 0.2 -W 1 10.0.0.2) || true
grep -q " 3 received" <<<"$out" || rs_fail "ping: $(tail -2 <<<"$out")"

echo "== curl on the stack: 0 B and 1 MiB"
for f in f0 f1M; do
  T=20 rs_app "$NS" curl -sS --max-time 15 -o "$D/$f.out" "http://10.0.0.1/$f" 2>"$D/curl.err" ||
    rs_fail "curl $f: $(cat "$D/curl.err")"
  cmp -s "$D/$f.out" "$D/www/$f" || rs_fail "curl $f: content differs"
done

echo "== kernel nc -> nc -l on the stack: 256 KiB"
rs_app_bg "$NS" nc -n -v -l 7001 </dev/null >"$D/s1.out" 2>"$D/s1.err"; S=$RS_BG_PID
rs_wait 10 grep -q "Listening" "$D/s1.err" || rs_fail "stack nc -l did not listen: $(cat "$D/s1.err")"
T=20 rs_in "$NS" nc -n -N 10.0.0.2 7001 <"$D/in256K" >/dev/null 2>"$D/k1.err" || rs_fail "kernel nc: $(cat "$D/k1.err")"
rs_wait 10 bash -c "! kill -0 $S" || rs_fail "stack nc -l did not end after the peer's FIN"
cmp -s "$D/s1.out" "$D/in256K" || rs_fail "256 KiB to the stack: content differs"

echo "== nc on the stack -> kernel nc -l: 256 KiB (full-size segments from the stack)"
ip netns exec "$NS" timeout 20 nc -n -l 10.0.0.1 7003 </dev/null >"$D/k3.out" 2>/dev/null &
K=$!; rs_defer "kill -KILL $K"
rs_wait 5 rs_listening "$NS" tcp 10.0.0.1 7003 || rs_fail "kernel nc -l not listening"
T=20 rs_app "$NS" nc -n -N 10.0.0.1 7003 <"$D/in256K" >/dev/null 2>"$D/s3.err" || rs_fail "stack nc -N: $(cat "$D/s3.err")"
rs_wait 10 bash -c "! kill -0 $K" || rs_fail "kernel nc -l did not end after the stack's FIN"
cmp -s "$D/k3.out" "$D/in256K" || rs_fail "256 KiB from the stack: content differs"

echo "== UDP from the stack: 100, 1400, 6000 bytes"
ip netns exec "$NS" timeout 20 nc -n -u -l -W 3 10.0.0.1 7002 </dev/null >"$D/k2.out" 2>/dev/null &
K=$!; rs_defer "kill -KILL $K"
rs_wait 5 rs_listening "$NS" udp 10.0.0.1 7002 || rs_fail "kernel nc -u not bound"
{ for f in u1 u2 u3; do cat "$D/$f"; sleep 0.3; done; } |
  T=20 rs_app "$NS" nc -n -u -q 1 10.0.0.1 7002 >/dev/null 2>"$D/s2.err" || rs_fail "stack nc -u: $(cat "$D/s2.err")"
rs_wait 10 bash -c "! kill -0 $K" || rs_fail "the kernel did not get 3 datagrams"
cat "$D/u1" "$D/u2" "$D/u3" | cmp -s - "$D/k2.out" || rs_fail "UDP from the stack: content differs"

echo "== closed ports: TCP RST, ICMP port unreachable"
T=10 rs_in "$NS" nc -n -z -w 2 10.0.0.2 9 && rs_fail "connect to a closed port of the stack succeeded"
echo probe | T=10 rs_in "$NS" nc -n -u -w 1 10.0.0.2 9 >/dev/null 2>&1
sleep 0.5
rs_capture_stop

echo "== tshark on the frames the stack sent"
rs_tshark_check "$PCAP" "$RS_STACK_MAC" || rs_fail "tshark flags frames the stack sent"
count() { timeout 60 tshark -n -r "$PCAP" -Y "eth.src == $RS_STACK_MAC && ($1)" 2>/dev/null | wc -l; }
fails=0
for want in "tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.options.mss_val:1:SYN with MSS" \
            "tcp.flags.syn == 1 && tcp.flags.ack == 1:1:SYN-ACK" \
            "tcp.flags.fin == 1:2:FIN" \
            "tcp.flags.reset == 1:1:RST" \
            "tcp.len >= 1000:50:full-size TCP segments" \
            "tcp.len == 0 && tcp.flags.ack == 1:20:pure ACKs" \
            "ip.flags.mf == 1:1:IPv4 fragments" \
            "icmp.type == 3 && icmp.code == 3:1:ICMP port unreachable" \
            "icmp.type == 0:3:echo replies" \
            "udp && !icmp:3:UDP datagrams"; do
  filt=${want%%:*}; rest=${want#*:}; min=${rest%%:*}; what=${rest#*:}
  n=$(count "$filt")
  printf '  %-24s %6d  (want >= %d)\n' "$what" "$n" "$min"
  [ "$n" -ge "$min" ] || fails=$((fails + 1))
done
[ $fails -eq 0 ] || rs_fail "$fails kind(s) of frame missing from the capture"
rs_alive nicd netd sockd || rs_fail "a daemon died"
echo "PASS"
