#!/usr/bin/env bash
# test_e2e_fork.sh BUILD_DIR — listening sockets inherited across fork:
# preforking servers, unmodified, on ringstack.
#
# In a namespace of its own (rs_stack_up): TAP rs0, kernel 10.0.0.1/24,
# ringstack 10.0.0.2/24.
#   1. A Python preforking server on the stack, started as a daemon is: the
#      first process binds and listens, forks the master and exits at once;
#      the master forks 3 workers that accept(). 12 kernel clients each get
#      an answer from a worker (never from the master, which only sleeps):
#      the exited parent's listener was held until the master took it over,
#      and the workers inherited it from the master.
#   2. nginx on the stack with its defaults: daemon on, a master and 2
#      worker processes. The kernel's curl fetches a 1 MiB file 6 times,
#      SHA-256 intact.
#   3. nginx -s quit: when the last process holding the listener goes, the
#      listener closes (no TCP connection left in netd), and a new nginx
#      binds the same port at once and serves.
# netd's counters: FORKS, INHERITS, LISTENERS_HELD as the steps imply.
# Exit 0 pass, 77 skip (not root / no TUN / no netns), 1 fail. About 20 s.
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/../.." || exit 1
. scripts/netns-lib.sh
rs_init "$BUILD"
rs_need nginx curl python3 sha256sum
missing=$(rs_stack_ready) || rs_fail "the application path is not built: $missing"

rs_ns_new NS rsfork
rs_stack_up "$NS"

# 1. a daemonizing preforking server in Python
cat >"$RS_TMP/prefork.py" <<'PY'
import os, socket, sys, time
lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lst.bind((sys.argv[1], 8080)); lst.listen(64)
if os.fork() > 0:
    os._exit(0)                      # the first process leaves at once
kids = []
for i in range(3):
    pid = os.fork()
    if pid == 0:
        while True:
            c, _ = lst.accept()
            c.sendall(b"worker %d\n" % os.getpid()); c.close()
    kids.append(pid)
with open(sys.argv[2], "w") as f:
    f.write("%d %s\n" % (os.getpid(), " ".join(map(str, kids))))
time.sleep(60)
PY
T=10 rs_app "$NS" python3 "$RS_TMP/prefork.py" "$RS_SADDR" "$RS_TMP/prefork.pids" ||
  rs_fail "the prefork server's first process failed"
rs_wait 10 test -s "$RS_TMP/prefork.pids" || rs_fail "the prefork master wrote no pids"
read -r master kids <"$RS_TMP/prefork.pids"
rs_defer "kill -KILL $master $kids"
answers=$(rs_in "$NS" python3 - "$RS_SADDR" <<'PY'
import socket, sys
for i in range(12):
    c = socket.create_connection((sys.argv[1], 8080), timeout=5)
    print(c.recv(100).decode().split()[1]); c.close()
PY
) || rs_fail "a client of the prefork server got no answer: $answers"
n=$(wc -l <<<"$answers")
for p in $answers; do
  grep -qw "$p" <<<"$kids" || rs_fail "answer from pid $p, not a worker ($kids; master $master)"
done
[ "$n" -eq 12 ] || rs_fail "$n answers of 12"
echo "prefork: 12 answers from workers $(sort -u <<<"$answers" | tr '\n' ' ')(master $master, first process gone)"
kill -KILL "$master" $kids

# 2. nginx with its defaults: daemon, master, 2 workers
NGX=$RS_TMP/ngx
mkdir -p "$NGX/www"
rs_make_file "$NGX/www/f1M" $((1 << 20))
rs_nginx_conf "$NGX" "$NGX/www" "$RS_SADDR:80" "worker_processes 2;" |
  sed 's/^error_log \(.*\) warn;/error_log \1 info;/' >"$NGX/nginx.conf"   # info: who served
start_nginx() {
  T=15 rs_app "$NS" nginx -c "$NGX/nginx.conf" -p "$NGX" || rs_fail "nginx did not start: $(tail -3 "$NGX/error.log")"
  rs_wait 5 test -s "$NGX/nginx.pid" || rs_fail "nginx wrote no pid file"
  rs_defer "kill -KILL \$(cat $NGX/nginx.pid) \$(pgrep -P \$(cat $NGX/nginx.pid)) 2>/dev/null"
}
fetch() {   # fetch N: the kernel's curl, N times, SHA-256 checked
  local want got
  want=$(rs_sha "$NGX/www/f1M")
  for i in $(seq 1 "$1"); do
    rs_in "$NS" curl -sS --max-time 10 -o "$RS_TMP/f1M.out" "http://$RS_SADDR/f1M" 2>"$RS_TMP/curl.err" ||
      rs_fail "curl $i: $(cat "$RS_TMP/curl.err"; tail -3 "$NGX/error.log")"
    got=$(rs_sha "$RS_TMP/f1M.out")
    [ "$got" = "$want" ] || rs_fail "curl $i: sha256 differs"
  done
}
start_nginx
workers=$(pgrep -c -P "$(cat "$NGX/nginx.pid")" || true)
[ "$workers" -eq 2 ] || rs_fail "nginx has $workers worker(s), want 2"
fetch 6
served=$(grep -o '[0-9]*#[0-9]*: \*[0-9]* client' "$NGX/error.log" | cut -d'#' -f1 | sort -u | tr '\n' ' ')
echo "nginx (daemon, master + 2 workers): 6 x 1 MiB, sha256 ok; connections served by worker(s) $served"

# 3. quit, the listener goes with the last process, and the port is free
master=$(cat "$NGX/nginx.pid")
procs=("$master" $(pgrep -P "$master"))
kill -QUIT "$master"
rs_wait 10 rs_gone "${procs[@]}" || rs_fail "nginx did not quit (${procs[*]})"
nolisten() { rs_netd_stats && [ "$(rs_netd_conns)" = 0 ]; }
rs_wait 5 nolisten || rs_fail "after nginx quit: netd still has $(rs_netd_conns) live TCP connection(s) (the listener?)"
rm -f "$NGX/nginx.pid"
start_nginx
fetch 1
echo "nginx quit: listener closed (netd live tcp 0); a new nginx binds :80 again and serves"

rs_netd_stats
for c in FORKS INHERITS LISTENERS_HELD; do
  [ "$(rs_netd_ctr $c)" -ge 1 ] || rs_fail "netd counted no $c"
done
[ "$(rs_netd_ctr INHERIT_REFUSED)" -eq 0 ] || rs_fail "netd refused $(rs_netd_ctr INHERIT_REFUSED) inherit(s)"
echo "netd: FORKS $(rs_netd_ctr FORKS), INHERITS $(rs_netd_ctr INHERITS), LISTENERS_HELD $(rs_netd_ctr LISTENERS_HELD)"
rs_alive nicd netd sockd || rs_fail "a daemon died"
echo "PASS"
