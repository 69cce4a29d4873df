#!/usr/bin/env bash
# test_nicd_packet.sh BUILD_DIR — nicd's AF_PACKET backend end to end, and a
# restart: test_nicd_tap.sh's checks over a veth pair instead of a TAP.
#
# In a network namespace of its own: veth pair ve0 (kernel side, 10.0.0.1/24)
# <-> ve1, and nicd attached to ve1 with --packet (TPACKET_V3 rx ring,
# sendmmsg tx); fake_netd plays host 10.0.0.2 behind it.
#   1. The kernel pings 10.0.0.2: its ARP request and echo requests cross
#      ve0 -> ve1 -> nicd -> rx ring -> fake_netd, whose replies cross back; ping
#      must get 3 of 3. fake_netd sends N UDP datagrams (half as two-pkb
#      chains, sent as iovecs) to 10.0.0.1:9000, a kernel socket counts
#      them all, and nicd's counters (read from the region) agree exactly.
#   2. Restart: while fake_netd sends, nicd is killed with SIGKILL and started
#      again. It must re-attach the same region (generation 2) and traffic
#      must flow again: fake_netd reconnects and the kernel receives every
#      datagram (AF_PACKET tx is synchronous: nothing is in flight to lose).
# KEEP_RUN=DIR keeps the logs (copied to DIR). Exit 0 pass, 77 skip (no privilege for namespaces/veth), 1 fail.
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/../.."
N=2000
. tests/support/nicd-lib.sh
nicd_init nicd-pkt "network namespace, veth, AF_PACKET"

nx ip link set lo up
nx ip link add ve0 type veth peer name ve1 || skip "cannot create a veth pair"
for d in ve0 ve1; do nx sysctl -qw net.ipv6.conf.$d.disable_ipv6=1; done
nx ip addr add 10.0.0.1/24 dev ve0
nx ip link set ve0 up
start_nicd --packet ve1
MAC=$(nx cat /sys/class/net/ve0/address)

# ---- 1. ping through fake_netd, N datagrams to the kernel
receiver "$RUN/recv1" 20
ip netns exec "$NS" "$FAKE" --run-dir "$RUN" --arp-reply --icmp-echo --udp $N --gap-us 50 --dst-mac "$MAC" \
  --expect-arp 1 --expect-icmp 3 --exit-when-done --seconds 20 --print-nicd \
  >"$RUN/fake1.log" 2>&1 &
FAKE_PID=$!
nx ping -c 3 -i 0.2 -W 2 10.0.0.2 >"$RUN/ping.log" 2>&1 || fail "ping 10.0.0.2 through nicd failed"
wait $FAKE_PID || fail "fake_netd (phase 1) did not see what it expected"
wait $RECV_PID; for _ in $(seq 50); do [ -s "$RUN/recv1" ] && break; sleep 0.1; done
got=$(cat "$RUN/recv1")
[ "$got" = "$N" ] || fail "kernel received $got of $N datagrams"
sent=$(( $(field "$RUN/fake1.log" udp_sent) + $(field "$RUN/fake1.log" arp_rep_sent) + $(field "$RUN/fake1.log" icmp_rep_sent) ))
[ "$(counter "$RUN/fake1.log" TX_FRAMES)" = "$sent" ] || fail "nicd TX_FRAMES $(counter "$RUN/fake1.log" TX_FRAMES) != $sent frames handed to it"
for c in TX_WRITE_ERR TX_BAD_DESC TX_BAD_LEN RX_RING_FULL RX_READ_ERR; do
  [ "$(counter "$RUN/fake1.log" $c)" = 0 ] || fail "nicd $c = $(counter "$RUN/fake1.log" $c)"
done
rx=$(counter "$RUN/fake1.log" RX_FRAMES)
[ "$rx" -ge 4 ] || fail "nicd RX_FRAMES $rx < 4 (1 ARP + 3 echo requests)"
echo "phase 1: ping 3/3, kernel received $got/$N datagrams, nicd TX_FRAMES $sent, RX_FRAMES $rx"

# chains: the same again, each datagram two pkbs (writev)
receiver "$RUN/recv1c" 20
nx "$FAKE" --run-dir "$RUN" --udp 500 --gap-us 50 --chain --payload 600 --dst-mac "$MAC" \
  --exit-when-done --seconds 20 >"$RUN/fake1c.log" 2>&1 || fail "fake_netd (chains) failed"
wait $RECV_PID; for _ in $(seq 50); do [ -s "$RUN/recv1c" ] && break; sleep 0.1; done
[ "$(cat "$RUN/recv1c")" = 500 ] || fail "kernel received $(cat "$RUN/recv1c") of 500 chained datagrams"
echo "phase 1: 500/500 two-segment chains received"

# ---- 2. SIGKILL nicd mid-way, restart, traffic flows again
M=3000
receiver "$RUN/recv2" 30
ip netns exec "$NS" "$FAKE" --run-dir "$RUN" --reconnect --udp $M --gap-us 1000 --dst-mac "$MAC" \
  --exit-when-done --seconds 25 --print-nicd >"$RUN/fake2.log" 2>&1 &
FAKE_PID=$!
sleep 1
kill -KILL "$NICD_PID"; wait "$NICD_PID" 2>/dev/null; NICD_PID=
sleep 0.3
start_nicd --packet ve1
grep -q "re-attached .*generation 2" "$RUN/nicd.log" || fail "restarted nicd did not re-attach the region"
wait $FAKE_PID || fail "fake_netd (phase 2) failed"
[ "$(field "$RUN/fake2.log" reconnects)" = 1 ] || fail "fake_netd did not reconnect"
wait $RECV_PID; for _ in $(seq 50); do [ -s "$RUN/recv2" ] && break; sleep 0.1; done
got=$(cat "$RUN/recv2")
# a frame nicd had taken off the ring when it was killed may be lost
[ "$got" -ge $((M - 32)) ] || fail "after the restart the kernel received only $got of $M"
echo "phase 2: restart re-attached generation 2, kernel received $got/$M"

kill -TERM "$NICD_PID"; wait "$NICD_PID"; rc=$?; NICD_PID=
[ $rc -eq 0 ] || fail "nicd exited $rc on SIGTERM"
grep -q "nicd.TX_FRAMES" "$RUN/nicd.log" || fail "nicd printed no counters at exit"
echo "PASS"
