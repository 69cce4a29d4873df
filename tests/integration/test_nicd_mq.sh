#!/usr/bin/env bash
# test_nicd_mq.sh BUILD_DIR — nicd with two queues: what goes to every rx ring
# and what RSS steers to one.
#
# In a network namespace of its own: nicd creates a two-queue TAP rs0 (kernel
# side 10.0.0.1/24); fake_netd plays host 10.0.0.2 on both rx rings.
#   1. The kernel pings 10.0.0.2: its ARP request (a broadcast) must reach
#      BOTH rx rings (each netd engine keeps its own neighbour table), while
#      each echo request (unicast IPv4) reaches exactly one; fake_netd answers
#      ARP from queue 0 only, so ping gets 3 of 3.
#   2. One UDP broadcast (10.0.0.255) from the kernel reaches both rings; 64
#      unicast datagrams from 64 source ports are spread by RSS over both.
#   3. nicd's counters: every frame accounted for per queue, no drop.
# KEEP_RUN=DIR keeps the logs. Exit 0 pass, 77 skip (no privilege), 1 fail.
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/../.."
. tests/support/nicd-lib.sh
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
nicd_init nicd-mq "network namespace, TAP"

nx ip link set lo up
start_nicd --tap rs0 --queues 2
nx ip addr add 10.0.0.1/24 dev rs0
nx sysctl -qw net.ipv6.conf.rs0.disable_ipv6=1

# 1 + 2: fake_netd stays until it has seen the broadcast on both rings and
# the 64 unicast datagrams (1 ARP + 3 echo + 64 + 2 copies of the broadcast)
nx "$FAKE" --run-dir "$RUN" --arp-reply --icmp-echo --expect-arp-each 1 --expect-icmp 3 \
  --expect-udp-rx 66 --exit-when-done --seconds 15 --print-nicd >"$RUN/fake.log" 2>&1 &
FAKE_PID=$!
nx ping -c 3 -i 0.2 -W 2 10.0.0.2 >"$RUN/ping.log" 2>&1 || fail "ping 10.0.0.2 through a two-queue nicd failed"
nx python3 - <<'PY' || fail "kernel-side sender failed"
import socket
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
b.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
b.sendto(b"broadcast", ("10.0.0.255", 9000))
for port in range(40000, 40064):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("10.0.0.1", port))
    s.sendto(b"unicast", ("10.0.0.2", 9000))
    s.close()
PY
wait $FAKE_PID || fail "fake_netd did not see what it expected (ARP on both rings, 3 echoes, 66 datagrams)"

L=$RUN/fake.log
a0=$(field "$L" arp_q0); a1=$(field "$L" arp_q1)
[ "$a0" -ge 1 ] && [ "$a1" -ge 1 ] || fail "ARP requests per ring: q0=$a0 q1=$a1, want both >= 1"
icmp=$(field "$L" icmp_req)
[ "$icmp" = 3 ] || fail "echo requests seen $icmp times, want 3 (unicast goes to one ring)"
q0=$(field "$L" q0); q1=$(field "$L" q1)
[ "$q0" -ge 10 ] && [ "$q1" -ge 10 ] || fail "RSS spread of 64 flows: q0=$q0 q1=$q1"
all=$(counter "$L" RX_ALL_QUEUES)
[ "$all" -ge 2 ] || fail "nicd RX_ALL_QUEUES $all, want >= 2 (ARP request, broadcast)"
for c in RX_RING_FULL RX_CLONE_FAIL RX_READ_ERR TX_WRITE_ERR Q0_RX_DROPS Q1_RX_DROPS; do
  [ "$(counter "$L" $c)" = 0 ] || fail "nicd $c = $(counter "$L" $c)"
done
# per-ring counts in the region agree with what fake_netd took off each ring
[ "$(counter "$L" Q0_RX_FRAMES)" = "$q0" ] && [ "$(counter "$L" Q1_RX_FRAMES)" = "$q1" ] ||
  fail "nicd per-queue rx $(counter "$L" Q0_RX_FRAMES)/$(counter "$L" Q1_RX_FRAMES) != fake_netd's $q0/$q1"
echo "ARP request on both rings (q0 $a0, q1 $a1), 3/3 echoes, frames per ring q0=$q0 q1=$q1, RX_ALL_QUEUES $all"

kill -TERM "$NICD_PID"; wait "$NICD_PID"; rc=$?; NICD_PID=
[ $rc -eq 0 ] || fail "nicd exited $rc on SIGTERM"
echo "PASS"
