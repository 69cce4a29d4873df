#!/usr/bin/env bash
# test_e2e_nc.sh BUILD_DIR — netcat-openbsd through ringstack: TCP and UDP,
# both ways, with half-close.
#
# In a namespace of its own (rs_stack_up): TAP rs0, kernel 10.0.0.1/24,
# ringstack 10.0.0.2/24; "stack nc" runs under ringstack-run --strict.
#   1. TCP stack -> kernel: stack `nc -N` sends 1 MiB to a kernel `nc -l`;
#      -N shuts down the write side at stdin's EOF; the kernel side sees EOF.
#   2. TCP kernel -> stack: kernel `nc -N` sends 1 MiB to a stack `nc -l`.
#   3. Half-close, stack client: stack `nc -N` sends 256 KiB and shuts down its
#      write side; the kernel server (a few lines of python) reads to EOF and
#      only then answers with the SHA-256 of what it read, which must come
#      back over the half-closed connection.
#   4. Half-close, stack server: a kernel `nc -N` sends 512 KiB and shuts
#      down; the stack `nc -l` sends its own 192 KiB the other way and exits
#      once its peer's FIN arrived; both sides receive all bytes (the stack's
#      close must deliver what is still in flight). Why 192 KiB, not more:
#      netcat-openbsd in listen mode returns as soon as the network input is
#      gone and its stdin buffer happens to be empty, without reading the rest
#      of stdin (readwrite(): "listen and net in gone, queues empty, done"),
#      so a file larger than the socket takes at once races nc's own loop, on
#      the kernel too. 192 KiB fits the tx ring with POLLOUT to spare (room >=
#      a quarter of 256 KiB before every 16 KiB write), so nc reads all of it
#      in 13 turns whatever netd's pace, while the peer's 512 KiB and FIN need
#      at least 33.
#   5. UDP stack -> kernel: three datagrams (100 B, 1400 B, 6000 B: fragmented)
#      from a stack `nc -u` to a kernel `nc -u -l -W 3`.
#   6. UDP kernel -> stack: the same three from a kernel `nc -u` to a stack
#      `nc -u -l -W 3`.
# Every byte is compared (cmp). Exit 0 pass, 77 skip (not root / no TUN / no
# netns), 1 fail. About 20 s.
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/../.." || exit 1
. scripts/netns-lib.sh
rs_init "$BUILD"
rs_need nc python3 cmp
missing=$(rs_stack_ready) || rs_fail "the application path is not built: $missing"

rs_ns_new NS rsnc
rs_stack_up "$NS"
D=$RS_TMP
rs_make_file "$D/in1M" $((1 << 20))
rs_make_file "$D/in256K" $((256 << 10))
rs_make_file "$D/a512K" $((512 << 10))
rs_make_file "$D/b192K" $((192 << 10))   # phase 4: see the header for the size
head -c 100 /dev/urandom | base64 -w0 | head -c 100 >"$D/u1"
rs_make_file "$D/u2" 1400
rs_make_file "$D/u3" 6000
cat "$D/u1" "$D/u2" "$D/u3" >"$D/u.all"

same() {   # same WHAT GOT WANT
  cmp -s "$2" "$3" || rs_fail "$1: received $(stat -c %s "$2" 2>/dev/null || echo no) bytes, not equal to the $(stat -c %s "$3") sent"
}

# kernel_bg LOG CMD...: a kernel-side process in NS (background, killed at exit)
kernel_bg() {
  local log=$1; shift
  ip netns exec "$NS" timeout 30 "$@" 2>"$log" </dev/null &
  KPID=$!
  rs_defer "kill -KILL $KPID"
}

# wait_pid PID SECONDS WHAT: the process exits 0 within SECONDS
wait_pid() {
  rs_wait "$2" bash -c "! kill -0 $1" || rs_fail "$3: still running after $2 s"
  wait "$1" || rs_fail "$3: exit $?"
}

echo "== 1. TCP stack -> kernel, 1 MiB, nc -N"
kernel_bg "$D/k1.err" nc -n -l 10.0.0.1 7001 >"$D/k1.out"; K=$KPID
rs_wait 5 rs_listening "$NS" tcp 10.0.0.1 7001 || rs_fail "kernel nc not listening"
T=20 rs_app "$NS" nc -n -N 10.0.0.1 7001 <"$D/in1M" >/dev/null 2>"$D/s1.err" ||
  rs_fail "stack nc -N: exit $? $(cat "$D/s1.err")"
wait_pid $K 10 "kernel nc -l (the stack's FIN should end it)"
same "TCP stack -> kernel" "$D/k1.out" "$D/in1M"
echo "ok: 1 MiB intact; the kernel saw EOF"

echo "== 2. TCP kernel -> stack, 1 MiB, nc -N"
rs_app_bg "$NS" nc -n -v -l 7002 </dev/null >"$D/s2.out" 2>"$D/s2.err"; S=$RS_BG_PID
rs_wait 10 grep -q "Listening" "$D/s2.err" || rs_fail "stack nc -l did not listen: $(cat "$D/s2.err")"
T=20 rs_in "$NS" nc -n -N 10.0.0.2 7002 <"$D/in1M" >/dev/null 2>"$D/k2.err" ||
  rs_fail "kernel nc -N: exit $? $(cat "$D/k2.err")"
wait_pid $S 10 "stack nc -l (the kernel's FIN should end it)"
same "TCP kernel -> stack" "$D/s2.out" "$D/in1M"
echo "ok: 1 MiB intact; the stack's nc saw EOF"

echo "== 3. half-close, stack client: answer after EOF"
ip netns exec "$NS" timeout 30 python3 - 10.0.0.1 7003 >"$D/k3.log" 2>&1 <<'PY' &
import hashlib, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); s.settimeout(20)
c, peer = s.accept(); c.settimeout(20)
h, n = hashlib.sha256(), 0
while True:
    b = c.recv(65536)
    if not b: break                      # the peer's FIN: its write side is shut
    h.update(b); n += len(b)
c.sendall((h.hexdigest() + "\n").encode())   # answered over the half-closed connection
c.close()
print("peer %s sent %d bytes" % (peer[0], n))
PY
K=$!; rs_defer "kill -KILL $K"
rs_wait 5 rs_listening "$NS" tcp 10.0.0.1 7003 || rs_fail "kernel python server not listening"
T=20 rs_app "$NS" nc -n -N 10.0.0.1 7003 <"$D/in256K" >"$D/s3.out" 2>"$D/s3.err" ||
  rs_fail "stack nc -N: exit $? $(cat "$D/s3.err")"
wait_pid $K 10 "kernel half-close server"
want=$(rs_sha "$D/in256K")
[ "$(cat "$D/s3.out")" = "$want" ] || rs_fail "half-close: the answer after EOF was '$(head -c 80 "$D/s3.out")', want $want"
grep -q "peer 10.0.0.2 sent $((256 << 10)) bytes" "$D/k3.log" || rs_fail "half-close server: $(cat "$D/k3.log")"
echo "ok: the stack shut its write side, then received the answer: $(cat "$D/k3.log")"

echo "== 4. half-close, stack server: data both ways around the peer's FIN"
rs_app_bg "$NS" nc -n -v -l 7004 <"$D/b192K" >"$D/s4.out" 2>"$D/s4.err"; S=$RS_BG_PID
rs_wait 10 grep -q "Listening" "$D/s4.err" || rs_fail "stack nc -l did not listen: $(cat "$D/s4.err")"
T=20 rs_in "$NS" nc -n -N 10.0.0.2 7004 <"$D/a512K" >"$D/k4.out" 2>"$D/k4.err" ||
  rs_fail "kernel nc -N: exit $? $(cat "$D/k4.err")"
wait_pid $S 10 "stack nc -l"
same "half-close kernel -> stack" "$D/s4.out" "$D/a512K"
same "half-close stack -> kernel" "$D/k4.out" "$D/b192K"
echo "ok: 512 KiB in, 192 KiB out, intact"

# udp_send FILES...: the files as separate datagrams, 0.3 s apart (nc reads
# each pipe write whole and sends it as one datagram)
udp_send() { local f; for f in "$@"; do cat "$f"; sleep 0.3; done; }

echo "== 5. UDP stack -> kernel: 100, 1400, 6000 bytes"
kernel_bg "$D/k5.err" nc -n -u -l -W 3 10.0.0.1 7005 >"$D/k5.out"; K=$KPID
rs_wait 5 rs_listening "$NS" udp 10.0.0.1 7005 || rs_fail "kernel nc -u not bound"
udp_send "$D/u1" "$D/u2" "$D/u3" | T=20 rs_app "$NS" nc -n -u -q 1 10.0.0.1 7005 >/dev/null 2>"$D/s5.err" ||
  rs_fail "stack nc -u: exit $? $(cat "$D/s5.err")"
wait_pid $K 10 "kernel nc -u -l -W 3 (three datagrams)"
same "UDP stack -> kernel" "$D/k5.out" "$D/u.all"
echo "ok: three datagrams intact (the 6000-byte one in fragments)"

echo "== 6. UDP kernel -> stack: 100, 1400, 6000 bytes"
rs_app_bg "$NS" nc -n -v -u -l -W 3 7006 </dev/null >"$D/s6.out" 2>"$D/s6.err"; S=$RS_BG_PID
rs_wait 10 grep -q "Bound" "$D/s6.err" || rs_fail "stack nc -u -l did not bind: $(cat "$D/s6.err")"
udp_send "$D/u1" "$D/u2" "$D/u3" | T=20 rs_in "$NS" nc -n -u -q 1 10.0.0.2 7006 >/dev/null 2>"$D/k6.err" ||
  rs_fail "kernel nc -u: exit $? $(cat "$D/k6.err")"
wait_pid $S 10 "stack nc -u -l -W 3 (three datagrams)"
same "UDP kernel -> stack" "$D/s6.out" "$D/u.all"
echo "ok: three datagrams intact (reassembled by the stack)"

rs_alive nicd netd sockd || rs_fail "a daemon died"
echo "PASS"
