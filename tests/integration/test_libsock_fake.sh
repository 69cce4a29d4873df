#!/usr/bin/env bash
# test_libsock_fake.sh BUILD_DIR — libsock (the LD_PRELOAD shim) on its own:
# sock_client, an ordinary sockets program, runs under scripts/ringstack-run
# against fake_netd_cmds, which plays sockd's admission and netd's app side
# (a loopback model: an echo server, a refusing port, in-app listeners, UDP).
#
#   roundtrip   socket/connect/send/recv, writev/readv, 4 MiB both ways
#               through a 64 KiB ring, peek, shutdown, EOF, EPIPE
#   nbconnect   EINPROGRESS, EALREADY, poll POLLOUT, SO_ERROR, refused,
#               select, SO_SNDTIMEO on a blocking connect
#   epoll       LT and ET, ONESHOT, EPOLLOUT, a pipe in the same set, a
#               blocked epoll_wait woken by netd's doorbell
#   rcvtimeo    blocking recv with SO_RCVTIMEO: EAGAIN on time
#   eintr       a signal interrupts a blocking recv: EINTR
#   sarestart   as Linux: an SA_RESTART handler lets a blocking recv and
#               accept go on, unless SO_RCVTIMEO is set (EINTR); without
#               SA_RESTART, EINTR; MSG_WAITALL returns the partial count;
#               poll is never restarted
#   tcpinfo     getsockopt(TCP_INFO) through app_sock.optval: Linux's optlen
#               rules, read-only, EOPNOTSUPP on UDP, 4 threads on one socket
#   fallback    AF_UNIX, AF_INET6, 127.0.0.1 (bind and connect), an address
#               netd cannot reach: kernel sockets, counted and logged once
#   strict      --strict turns those into errors; the stack still works
#   nostack     no sockd: fallback (logged), or EAFNOSUPPORT under --strict
#   fdreuse     fd numbers reused, 300 connect/close cycles through 64
#               indices, dup/dup2/F_DUPFD refcounts
#   udp listen sockopt sendfile threads fork
#   nginx+curl  (when installed) nginx serves curl, both preloaded
# Needs no privilege. Every program runs under a timeout.
# Exit 0 pass, 1 fail.
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/../.."
FAKE=$BUILD/tools/fake_netd_cmds
CLIENT=$BUILD/tools/sock_client
LIB=$BUILD/lib/libringstack.so
WRAP=scripts/ringstack-run

[ -x "$FAKE" ] && [ -x "$CLIENT" ] && [ -r "$LIB" ] || {
  echo "FAIL: $FAKE, $CLIENT or $LIB not built"; exit 1; }

RUN=$(mktemp -d /tmp/rs-libsock.XXXXXX) || exit 1
FAKE_PID=
cleanup() {
  if [ -n "$FAKE_PID" ]; then
    kill -TERM "$FAKE_PID" 2>/dev/null
    wait "$FAKE_PID" 2>/dev/null
  fi
  rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
# A sanitized sock_client (SAN=1) must accept a preloaded library ahead of ASan.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
export RINGSTACK_LIB=$LIB

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

"$FAKE" --run-dir "$RUN" --seconds 300 --nsocks 64 --buf-size 65536 >"$RUN/fake.log" 2>&1 &
FAKE_PID=$!
for _ in $(seq 50); do
  [ -S "$RUN/sockd.sock" ] && break
  kill -0 "$FAKE_PID" 2>/dev/null || { cat "$RUN/fake.log"; echo "FAIL: fake_netd_cmds exited"; exit 1; }
  sleep 0.1
done
[ -S "$RUN/sockd.sock" ] || { echo "FAIL: fake_netd_cmds not listening after 5 s"; exit 1; }

# client NAME [WRAPPER OPTIONS...] -- [CLIENT ARGS...]: run one scenario;
# its stdout/stderr stay in $RUN/NAME.out and $RUN/NAME.err.
client() {
  local name=$1 tag=$1; shift
  local wopts=() cargs=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do wopts+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  cargs=("$@")
  [ ${#cargs[@]} -gt 0 ] && tag="$name-${cargs[*]}"
  [ ${#wopts[@]} -gt 0 ] && tag="$tag${wopts[*]//[^a-z]/}"
  timeout --kill-after=5 30 "$WRAP" --stats "${wopts[@]}" "$CLIENT" "$name" "${cargs[@]}" \
    >"$RUN/$tag.out" 2>"$RUN/$tag.err"
  local rc=$?
  cat "$RUN/$tag.out"
  if [ $rc -ne 0 ]; then
    fail "sock_client $name ${cargs[*]} (${wopts[*]}) exit $rc"
    sed 's/^/    stderr: /' "$RUN/$tag.err" | tail -n 20
  fi
  LAST_ERR=$RUN/$tag.err
}

expect_err() {   # expect_err PATTERN WHY: the last client's stderr has it
  grep -q -- "$1" "$LAST_ERR" || fail "$2: no \"$1\" on stderr"
}

for s in roundtrip nbconnect epoll rcvtimeo eintr sarestart fdreuse udp listen sockopt tcpinfo \
         sendfile threads fork; do
  client "$s" --run-dir "$RUN"
done

client fallback --run-dir "$RUN"
expect_err "ringstack: fallback to kernel: AF_UNIX socket" "AF_UNIX logged"
expect_err "ringstack: fallback to kernel: AF_INET6" "AF_INET6 logged"
expect_err "ringstack: fallback to kernel: bind to 127.0.0.0/8" "loopback bind logged"
expect_err "ringstack: fallback to kernel: destination in 127.0.0.0/8" "loopback connect logged"
expect_err "ringstack: fallback to kernel: destination the stack cannot reach" "unreachable logged"
expect_err "fallback.af_unix=1 .*fallback.af_inet6=1 fallback.loopback_bind=1 fallback.loopback_dest=1 fallback.unreach_dest=2" \
  "fallback counters"
[ "$(grep -c 'cannot reach' "$LAST_ERR")" = 1 ] || fail "a reason must be logged once, not per fallback"

client strict --run-dir "$RUN" --strict
expect_err "ringstack: strict: refused fallback to kernel: AF_INET6" "strict logged"

client nostack --run-dir "$RUN/no-such-dir" -- lenient
expect_err "ringstack: no stack: sockd at $RUN/no-such-dir/sockd.sock" "no sockd logged"
expect_err "fallback.no_stack=1" "no_stack counted"
client nostack --run-dir "$RUN/no-such-dir" --strict -- strict

# nginx serving curl, both unmodified and both on the stack (two apps of the
# fake, joined by its loopback). nginx runs single-process here: the fake
# netd has no APP_OP_FORK/INHERIT; test_e2e_fork.sh runs nginx's master and
# workers on the real stack.
nginx_conf() {   # nginx_conf DIR WWW
  cat <<CONF
daemon off; master_process off; worker_processes 1; pid $1/nginx.pid;
error_log stderr info;
events { worker_connections 64; }
http { access_log off; sendfile on;
  client_body_temp_path $1; proxy_temp_path $1; fastcgi_temp_path $1;
  uwsgi_temp_path $1; scgi_temp_path $1;
  server { listen 8080; root $2; } }
CONF
}

nginx_curl() {
  local www=$RUN/www ngx=$RUN/nginx pid body before=$failures
  mkdir -p "$www" "$ngx" || return
  echo hello-from-nginx >"$www/index.html"
  head -c 300000 /dev/urandom >"$www/big.bin"
  nginx_conf "$ngx" "$www" >"$ngx/nginx.conf"
  timeout --kill-after=5 30 "$WRAP" --run-dir "$RUN" nginx -c "$ngx/nginx.conf" -e stderr \
    >"$ngx/nginx.log" 2>&1 &
  pid=$!
  for _ in $(seq 30); do
    grep -q 'epoll' "$ngx/nginx.log" && break
    sleep 0.1
  done
  body=$(timeout 10 "$WRAP" --run-dir "$RUN" curl -sS --max-time 5 \
    http://10.0.0.2:8080/index.html 2>>"$RUN/curl.err")
  [ "$body" = hello-from-nginx ] || fail "nginx+curl: got \"$body\""
  timeout 10 "$WRAP" --run-dir "$RUN" curl -sS --max-time 5 -o "$RUN/big.got" \
    -o "$RUN/big2.got" http://10.0.0.2:8080/big.bin http://10.0.0.2:8080/big.bin \
    2>>"$RUN/curl.err"
  cmp -s "$RUN/big.got" "$www/big.bin" && cmp -s "$RUN/big2.got" "$www/big.bin" ||
    fail "nginx+curl: the sendfile'd 300 KB file differs"
  kill -QUIT "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  if [ $failures -eq "$before" ]; then
    echo "ok nginx+curl: index.html, then 300 KB twice on one keep-alive connection (sendfile)"
  else
    tail -n 20 "$ngx/nginx.log" "$RUN/curl.err"
  fi
}

if command -v nginx >/dev/null && command -v curl >/dev/null; then
  nginx_curl
else
  echo "skip nginx+curl: not installed"
fi

kill -TERM "$FAKE_PID" 2>/dev/null
wait "$FAKE_PID" 2>/dev/null
FAKE_PID=
summary=$(grep '^fake_netd_cmds: apps=' "$RUN/fake.log")
echo "$summary"
case $summary in
  *" bad=0"*) ;;
  *) fail "fake_netd_cmds saw protocol errors: $summary" ;;
esac

if [ $failures -gt 0 ]; then
  echo "test_libsock_fake: $failures failure(s)"
  exit 1
fi
echo "test_libsock_fake: PASS"
exit 0
