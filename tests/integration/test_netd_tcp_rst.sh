#!/usr/bin/env bash
# test_netd_tcp_rst.sh BUILD_DIR — closed ports are refused, and netd comes
# back from kill -9.
#
# In a network namespace of its own: nicd makes TAP rs0 (kernel side
# 10.0.0.1/24), netd is 10.0.0.2/24 behind it. Checks:
#   - a kernel TCP connect to 10.0.0.2:80 (no listener) is refused at once:
#     the stack answers the SYN with a RST (RFC 9293 3.10.7.1);
#   - a UDP datagram to a closed port draws ICMP port unreachable: the
#     kernel's connected UDP socket sees ECONNREFUSED on recv;
#   - netd killed with SIGKILL in the middle of a ping, then started again,
#     re-attaches its TCP state and answers pings again (every one of a
#     fresh ping after the restart), and still refuses closed ports;
#   - netd's counters show the RSTs and port-unreachables it sent.
# Exit 0 pass, 77 skip (not root, no netns/TUN), 1 fail. About 15 s.
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/../.." || exit 1
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "FAIL: no build dir $1"; exit 1; }

NS=rsrst$$
RUN=""
PING_PID=""
NETD_ARGS="--addr 10.0.0.2/24 --mac 02:00:00:00:00:02 --max-conns 64 --tcp-buf 65536"

skip() { echo "SKIP: $*"; exit 77; }
in_ns() { timeout --kill-after=2 "${T:-10}" ip netns exec "$NS" "$@"; }
logs() {
  [ -n "$RUN" ] || return 0
  for n in nicd netd; do echo "--- $n.log (last 40 lines)"; tail -n 40 "$RUN/$n.log" 2>/dev/null; done
}
fail() { echo "FAIL: $*"; logs; exit 1; }

cleanup() {
  [ -n "$PING_PID" ] && kill "$PING_PID" 2>/dev/null
  [ -n "$RUN" ] && timeout 15 scripts/ringstack-up.sh stop -d "$RUN" >/dev/null 2>&1
  ip netns del "$NS" 2>/dev/null
  [ -n "$RUN" ] && rm -rf "$RUN"
}
trap cleanup EXIT

[ "$(id -u)" -eq 0 ] || skip "needs root (network namespace, TAP device)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
ip netns add "$NS" 2>/dev/null || skip "cannot create a network namespace"
for b in nicd netd; do [ -x "$BUILD/bin/$b" ] || fail "$BUILD/bin/$b is not built"; done
for t in python3 ping; do command -v $t >/dev/null || fail "$t is not installed"; done
RUN=$(mktemp -d /dev/shm/rs-netd-rst.XXXXXX)

in_ns ip link set lo up
in_ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
T=30 in_ns scripts/ringstack-up.sh start -b "$BUILD" -d "$RUN" --nicd "--tap rs0 --slots 2048" \
  --netd "$NETD_ARGS" || fail "daemons did not start"
in_ns ip addr add 10.0.0.1/24 dev rs0 || fail "no TAP rs0"

# refused: TCP within 1 s (a RST, not a timeout), UDP within 2 s (ICMP)
refused() {
  in_ns python3 - <<'PY'
import socket, sys, time
t = time.monotonic()
s = socket.socket()
s.settimeout(3)
try:
    s.connect(("10.0.0.2", 80))
    sys.exit("FAIL: TCP connect to a closed port succeeded")
except ConnectionRefusedError:
    print("tcp: refused after %.1f ms" % ((time.monotonic() - t) * 1e3))
except OSError as e:
    sys.exit("FAIL: TCP connect: %r (want ECONNREFUSED from a RST)" % e)
if time.monotonic() - t > 1.0:
    sys.exit("FAIL: the refusal took more than 1 s")
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(2)
u.connect(("10.0.0.2", 9))
t = time.monotonic()
u.send(b"anyone there?")
try:
    u.recv(100)
    sys.exit("FAIL: a closed UDP port answered")
except ConnectionRefusedError:
    print("udp: ECONNREFUSED (ICMP port unreachable) after %.1f ms" % ((time.monotonic() - t) * 1e3))
except OSError as e:
    sys.exit("FAIL: UDP recv: %r (want ECONNREFUSED)" % e)
PY
}

echo "== closed ports"
refused || fail "closed ports were not refused"

echo "== kill -9 netd in the middle of a ping, start it again"
ip netns exec "$NS" timeout 20 ping -c 80 -i 0.05 -W 1 10.0.0.2 >"$RUN/ping.out" 2>&1 &
PING_PID=$!
sleep 1
kill -KILL "$(cat "$RUN/netd.pid")"
sleep 0.5
T=30 in_ns scripts/ringstack-up.sh start -b "$BUILD" -d "$RUN" --only netd --netd "$NETD_ARGS" ||
  fail "netd did not start again"
wait "$PING_PID"
PING_PID=""
tail -2 "$RUN/ping.out"
grep -q "re-attached the TCP state" "$RUN/netd.log" || fail "the new netd did not re-attach the TCP state"
# replies after the restart: sequence numbers past the gap were answered
last=$(grep -o 'icmp_seq=[0-9]*' "$RUN/ping.out" | tail -1 | cut -d= -f2)
[ "${last:-0}" -ge 60 ] || fail "pings did not resume after the restart (last reply icmp_seq=${last:-none})"
out=$(in_ns ping -c 10 -i 0.05 -W 1 10.0.0.2) || true
echo "$out" | tail -2
grep -q " 10 received" <<<"$out" || fail "not every echo was answered after the restart"
refused || fail "closed ports were not refused after the restart"

echo "== netd's counters"
timeout 15 scripts/ringstack-up.sh stop -d "$RUN" --only netd >/dev/null 2>&1
grep -E "netd: e[0-9]+ (drop|tcp|proto +ICMP)" "$RUN/netd.log" | tail -12
grep -qE "tcp +OUT_RSTS +[1-9]" "$RUN/netd.log" || fail "netd counted no RST sent"
grep -qE "drop +TCP_NO_SOCKET +[1-9]" "$RUN/netd.log" || fail "netd counted no SYN to a closed port"
grep -qE "drop +UDP_NO_SOCKET +[1-9]" "$RUN/netd.log" || fail "netd counted no datagram to a closed port"
echo "PASS"
