# shellcheck shell=bash
# scripts/netns-lib.sh — bash helpers shared by the end-to-end tests,
# `make run` and the end-to-end benchmark. Source it; do not run it.
#
#     . scripts/netns-lib.sh
#     rs_init "$BUILD"               # root? TUN? netns? else exit 77; trap EXIT
#     rs_ns_new NS                   # a private netns, lo up, IPv6 off
#     rs_stack_up "$NS"              # nicd (TAP rs0) + sockd + netd, kernel 10.0.0.1/24,
#                                    # stack 10.0.0.2/24; RS_RUN is the run directory
#     rs_app "$NS" curl ...          # an unmodified program on the stack (strict)
#     rs_netd_stats; rs_netd_ctr TCP_RX_BYTES
#
# The topology rs_stack_up makes (all inside NS):
#
#     kernel: rs0 10.0.0.1/24  <--TAP-->  nicd <--rings--> netd 10.0.0.2/24 <--app rings--> app
#                                                             ^ sockd (admission)
#
# RS_DRY=1 (for checking the tests themselves, never in CI): no daemons; the
# "stack" is the kernel of a second namespace NS-s at 10.0.0.2 behind a veth
# pair named rs0 on the kernel side, and rs_app runs programs there without
# the wrapper. Counter reads return empty tables.
#
# Everything is bounded: every command in a namespace runs under timeout(1),
# every wait polls with a deadline, and one EXIT trap undoes what was made, in
# reverse order (rs_defer), on every exit path: daemons stopped by pid,
# processes left in our namespaces killed by pid, namespaces and temporary
# directories removed. Exit codes: 0 pass, 77 skip (no privilege only), 1 fail.

RS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RS_BUILD=""
RS_RUN=""                      # the stack's run directory (rs_stack_up)
RS_TMP=""                      # this script's scratch directory
RS_NS_LIST=()                  # namespaces we made
RS_DEFER=()                    # cleanup commands, run last-in first-out
RS_SOCKD_OURS=0                # 1 if we started sockd ourselves
RS_STACK_MAC=02:00:00:00:00:02
RS_KADDR=10.0.0.1
RS_SADDR=10.0.0.2
RS_QUIET=${RS_QUIET:-0}
RS_DRY=${RS_DRY:-0}
RS_APP_NS=""                   # RS_DRY: the namespace playing the stack

rs_log()  { [ "$RS_QUIET" = 1 ] || echo "$*"; }
rs_skip() { echo "SKIP: $*"; exit 77; }

# rs_logs: the last lines of every daemon's log (on failure)
rs_logs() {
  local f
  [ -n "$RS_RUN" ] && [ -d "$RS_RUN" ] || return 0
  if [ "$RS_DRY" != 1 ] && rs_pid netd >/dev/null && rs_netd_stats 2>/dev/null; then
    echo "--- netd's counters now (SIGUSR1; histograms left out)"
    grep -v " latency " "$RS_RUN/netd.dump"
  fi
  for f in "$RS_RUN"/*.log; do
    [ -f "$f" ] || continue
    echo "--- $(basename "$f") (last ${RS_LOG_LINES:-25} lines)"
    tail -n "${RS_LOG_LINES:-25}" "$f"
  done
}

rs_fail() { echo "FAIL: $*"; rs_logs; exit 1; }

# rs_defer CMD: run CMD (a string, eval'ed) at exit, before what was deferred earlier
rs_defer() { RS_DEFER+=("$1"); }

rs_cleanup() {
  local i ns p
  trap - EXIT INT TERM
  for ((i = ${#RS_DEFER[@]} - 1; i >= 0; i--)); do
    eval "${RS_DEFER[$i]}" >/dev/null 2>&1 || true
  done
  for ns in "${RS_NS_LIST[@]}"; do
    # anything still running in our namespace is ours: end it by pid
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  [ -n "$RS_TMP" ] && rm -rf "$RS_TMP"
  [ -n "$RS_RUN" ] && rm -rf "$RS_RUN"
  return 0
}

# rs_init BUILD: absolute build dir, privilege checks (exit 77), scratch dir, trap.
rs_init() {
  RS_BUILD=$(cd "${1:-build}" 2>/dev/null && pwd) || { echo "FAIL: no build dir ${1:-build}"; exit 1; }
  [ "$(id -u)" -eq 0 ] || rs_skip "needs root (network namespaces, TAP devices)"
  [ -c /dev/net/tun ] || rs_skip "no /dev/net/tun"
  trap rs_cleanup EXIT
  trap 'exit 1' INT TERM
  RS_TMP=$(mktemp -d /dev/shm/rs-e2e.XXXXXX) || { echo "FAIL: mktemp"; exit 1; }
  # A sanitized test tool (make test SAN=1) run under rs_app has libsock
  # preloaded ahead of ASan's runtime: let it start.
  export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
  chmod 755 "$RS_TMP"
}

# rs_need TOOL...: every tool installed (scripts/install-deps.sh), else fail
rs_need() {
  local t
  for t in "$@"; do command -v "$t" >/dev/null || rs_fail "$t is not installed (scripts/install-deps.sh)"; done
}

# rs_need_bin NAME...: BUILD/bin/NAME built, else fail
rs_need_bin() {
  local b
  for b in "$@"; do [ -x "$RS_BUILD/bin/$b" ] || rs_fail "$RS_BUILD/bin/$b is not built"; done
}

# rs_stack_ready: 0 if the whole path for unmodified programs exists
# (the wrapper and libringstack.so); otherwise prints what is missing.
rs_stack_ready() {
  [ "$RS_DRY" = 1 ] && return 0
  local absent=() b
  [ -x "$RS_ROOT/scripts/ringstack-run" ] || absent+=("scripts/ringstack-run")
  [ -f "$RS_BUILD/lib/libringstack.so" ] || absent+=("$RS_BUILD/lib/libringstack.so")
  for b in nicd netd sockd; do [ -x "$RS_BUILD/bin/$b" ] || absent+=("$RS_BUILD/bin/$b"); done
  [ ${#absent[@]} -eq 0 ] && return 0
  echo "${absent[*]}"
  return 1
}

# rs_ns_new VAR [PREFIX]: make a namespace, name it in VAR; lo up, IPv6 off
# (captures then hold only our traffic). A failure to make one is a skip.
rs_ns_new() {
  local __var=$1 name="${2:-rse2e}$$n${#RS_NS_LIST[@]}"
  ip netns add "$name" 2>/dev/null || rs_skip "cannot create a network namespace"
  RS_NS_LIST+=("$name")
  ip netns exec "$name" ip link set lo up
  ip netns exec "$name" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  printf -v "$__var" '%s' "$name"
}

# rs_in NS CMD...: CMD inside NS, killed after ${T:-30} s
rs_in() {
  local ns=$1; shift
  timeout --kill-after=3 "${T:-30}" ip netns exec "$ns" "$@"
}

# rs_wait SECONDS CMD...: poll CMD every 0.1 s until it succeeds; 1 on timeout
rs_wait() {
  local secs=$1; shift
  local end=$(( $(date +%s%N) / 1000000 + ${secs%.*} * 1000 ))
  until "$@" >/dev/null 2>&1; do
    [ $(( $(date +%s%N) / 1000000 )) -lt "$end" ] || return 1
    sleep 0.1
  done
}

# rs_listening NS PROTO ADDR PORT: something in NS (kernel) listens on ADDR:PORT
rs_listening() {
  local opt=-ltn
  [ "$2" = udp ] && opt=-lun
  ip netns exec "$1" ss -H "$opt" "src $3:$4" 2>/dev/null | grep -q .
}

# rs_veth NS_A NS_B ADDR_A ADDR_B [MTU]: a veth pair between two namespaces
# (the kernel-to-kernel baseline's topology)
rs_veth() {
  local a=$1 b=$2 name="rsv$$"
  ip link add "${name}a" type veth peer name "${name}b" || rs_fail "cannot create a veth pair"
  rs_defer "ip link del ${name}a"     # only if it never left this namespace
  ip link set "${name}a" netns "$a" || rs_fail "veth move"
  ip link set "${name}b" netns "$b" || rs_fail "veth move"
  ip netns exec "$a" ip link set "${name}a" name veth0
  ip netns exec "$b" ip link set "${name}b" name veth0
  ip netns exec "$a" ip addr add "$3/24" dev veth0
  ip netns exec "$b" ip addr add "$4/24" dev veth0
  if [ -n "${5:-}" ]; then
    ip netns exec "$a" ip link set veth0 mtu "$5"
    ip netns exec "$b" ip link set veth0 mtu "$5"
  fi
  ip netns exec "$a" ip link set veth0 up
  ip netns exec "$b" ip link set veth0 up
}

# ------------------------------------------------------------- the daemons

# rs_pid NAME: the pid of a running daemon of ours, or nothing
rs_pid() {
  local p
  p=$(cat "$RS_RUN/$1.pid" 2>/dev/null) || return 1
  [ -n "$p" ] && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$1" ] && echo "$p"
}

rs_up_knows_sockd() { grep -q 'want sockd' "$RS_ROOT/scripts/ringstack-up.sh"; }

# rs_sockd_start: sockd on RS_RUN, for as long as ringstack-up.sh does not start it
rs_sockd_start() {
  # shellcheck disable=SC2086  # RS_SOCKD_ARGS is word-split on purpose
  "$RS_BUILD/bin/sockd" --run-dir "$RS_RUN" ${RS_SOCKD_ARGS:-} >>"$RS_RUN/sockd.log" 2>&1 </dev/null &
  echo $! >"$RS_RUN/sockd.pid"
  RS_SOCKD_OURS=1
  rs_wait 5 grep -q "ready" "$RS_RUN/sockd.log" || rs_fail "sockd not ready within 5 s"
}

rs_sockd_stop() {
  local p
  [ "$RS_SOCKD_OURS" = 1 ] || return 0
  p=$(rs_pid sockd) || return 0
  kill -TERM "$p" 2>/dev/null
  rs_wait 5 bash -c "! kill -0 $p" || kill -KILL "$p" 2>/dev/null
  rm -f "$RS_RUN/sockd.pid"
}

# rs_stack_up NS [--no-sockd]: nicd (TAP rs0), sockd, netd at 10.0.0.2/24 in NS;
# the kernel side of the TAP gets 10.0.0.1/24. Extra netd flags: RS_NETD_ARGS;
# nicd flags: RS_NICD_ARGS. Daemons start in their own sessions inside NS.
rs_stack_up() {
  local ns=$1 nosockd=${2:-}
  local up=("$RS_ROOT/scripts/ringstack-up.sh")
  local nicd="--tap rs0 ${RS_NICD_ARGS:-}"
  local netd="--addr $RS_SADDR/24 --mac $RS_STACK_MAC ${RS_NETD_ARGS:-}"
  RS_RUN=$(mktemp -d /dev/shm/rs-run.XXXXXX) || rs_fail "mktemp"
  chmod 755 "$RS_RUN"
  if [ "$RS_DRY" = 1 ]; then rs_dry_up "$ns"; return; fi
  rs_defer rs_stack_down
  # ringstack-up.sh's own lines go to RS_TMP/up.log, shown if it fails
  if [ -z "$nosockd" ] && rs_up_knows_sockd; then
    T=40 rs_in "$ns" "${up[@]}" start -b "$RS_BUILD" -d "$RS_RUN" --nicd "$nicd" --netd "$netd" \
      --sockd "${RS_SOCKD_ARGS:-}" 2>>"$RS_TMP/up.log" \
      || rs_fail "the daemons did not start: $(cat "$RS_TMP/up.log")"
  else
    T=20 rs_in "$ns" "${up[@]}" start -b "$RS_BUILD" -d "$RS_RUN" --only nicd --nicd "$nicd" \
      2>>"$RS_TMP/up.log" || rs_fail "nicd did not start: $(cat "$RS_TMP/up.log")"
    # sockd before netd: netd's link thread then finds it at once
    [ -n "$nosockd" ] || rs_sockd_start_in "$ns"
    T=20 rs_in "$ns" "${up[@]}" start -b "$RS_BUILD" -d "$RS_RUN" --only netd --netd "$netd" \
      2>>"$RS_TMP/up.log" || rs_fail "netd did not start: $(cat "$RS_TMP/up.log")"
  fi
  rs_in "$ns" ip addr add "$RS_KADDR/24" dev rs0 || rs_fail "no TAP rs0 in $ns"
  rs_in "$ns" ip link set rs0 up
  # netd says hello to sockd on its own thread: wait for the link
  if [ -z "$nosockd" ]; then
    rs_wait 10 grep -qE "netd .*(connected|hello|welcome)|netd pid" "$RS_RUN/sockd.log" ||
      rs_log "note: sockd's log does not show netd's hello yet"
  fi
}

rs_dry_up() {
  RS_APP_NS=${1}s
  ip netns add "$RS_APP_NS" || rs_fail "netns $RS_APP_NS"
  RS_NS_LIST+=("$RS_APP_NS")
  ip netns exec "$RS_APP_NS" ip link set lo up
  ip netns exec "$RS_APP_NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip link add rsd$$a type veth peer name rsd$$b
  ip link set rsd$$a netns "$1"; ip link set rsd$$b netns "$RS_APP_NS"
  ip netns exec "$1" ip link set rsd$$a name rs0
  ip netns exec "$RS_APP_NS" ip link set rsd$$b name veth0
  ip netns exec "$RS_APP_NS" ip link set veth0 address "$RS_STACK_MAC"
  ip netns exec "$RS_APP_NS" ip addr add "$RS_SADDR/24" dev veth0
  ip netns exec "$RS_APP_NS" ip link set veth0 up
  ip netns exec "$1" ip addr add "$RS_KADDR/24" dev rs0
  ip netns exec "$1" ip link set rs0 up
}

rs_sockd_start_in() {
  local ns=$1
  # shellcheck disable=SC2086  # RS_SOCKD_ARGS is word-split on purpose
  ip netns exec "$ns" "$RS_BUILD/bin/sockd" --run-dir "$RS_RUN" ${RS_SOCKD_ARGS:-} \
    >>"$RS_RUN/sockd.log" 2>&1 </dev/null &
  echo $! >"$RS_RUN/sockd.pid"
  RS_SOCKD_OURS=1
  rs_wait 5 grep -q "ready" "$RS_RUN/sockd.log" || rs_fail "sockd not ready within 5 s"
}

# rs_stack_down: stop netd, sockd, nicd (each SIGTERM, then SIGKILL after 5 s)
rs_stack_down() {
  [ -n "$RS_RUN" ] && [ -d "$RS_RUN" ] || return 0
  timeout 20 "$RS_ROOT/scripts/ringstack-up.sh" stop -d "$RS_RUN" --only netd >/dev/null 2>&1
  rs_sockd_stop
  timeout 20 "$RS_ROOT/scripts/ringstack-up.sh" stop -d "$RS_RUN" >/dev/null 2>&1
  return 0
}

# rs_alive NAME...: every named daemon still runs
rs_alive() {
  [ "$RS_DRY" = 1 ] && return 0
  local n
  for n in "$@"; do rs_pid "$n" >/dev/null || return 1; done
}

# ----------------------------------------------------- programs on the stack

# rs_app NS CMD...: CMD inside NS on the stack, through scripts/ringstack-run
# --strict (an AF_INET socket that cannot use the stack fails instead of
# silently using the kernel), bounded by ${T:-30} s.
rs_app() {
  local ns=$1; shift
  if [ "$RS_DRY" = 1 ]; then rs_in "$RS_APP_NS" "$@"; return; fi
  timeout --kill-after=3 "${T:-30}" ip netns exec "$ns" \
    env RINGSTACK_BUILD="$RS_BUILD" RINGSTACK_LIB="$RS_BUILD/lib/libringstack.so" \
    "$RS_ROOT/scripts/ringstack-run" --run-dir "$RS_RUN" --strict "$@"
}

# rs_app_bg NS CMD...: the same in the background; the pid is in RS_BG_PID.
# Its stdin is the caller's (an explicit <&0: bash gives background jobs
# /dev/null otherwise).
rs_app_bg() {
  local ns=$1; shift
  if [ "$RS_DRY" = 1 ]; then
    ip netns exec "$RS_APP_NS" "$@" <&0 &
    RS_BG_PID=$!; rs_defer "kill -KILL $RS_BG_PID"; return
  fi
  ip netns exec "$ns" env RINGSTACK_BUILD="$RS_BUILD" RINGSTACK_LIB="$RS_BUILD/lib/libringstack.so" \
    "$RS_ROOT/scripts/ringstack-run" --run-dir "$RS_RUN" --strict "$@" <&0 &
  RS_BG_PID=$!
  rs_defer "kill -KILL $RS_BG_PID"
}

# ------------------------------------------------------------------ servers

# rs_make_file PATH BYTES: a file of random bytes
rs_make_file() {
  head -c "$2" /dev/urandom >"$1" || rs_fail "cannot write $1"
}

rs_sha() { sha256sum "$1" | cut -d' ' -f1; }

# rs_nginx_conf DIR DOCROOT LISTEN [EXTRA [ACCESS_LOG]]: an nginx.conf serving
# DOCROOT on LISTEN (addr:port), everything it writes in DIR (pid, logs, temp
# files); EXTRA goes in the main context ("daemon off;", "worker_processes
# 2;", ...); ACCESS_LOG is a file (default DIR/access.log) or "off"
rs_nginx_conf() {
  local dir=$1 root=$2 listen=$3 extra=${4:-} alog=${5:-$1/access.log}
  cat <<EOF
user root root;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
$extra
events { worker_connections 1024; }
http {
  access_log $alog;
  client_body_temp_path $dir; proxy_temp_path $dir; fastcgi_temp_path $dir;
  uwsgi_temp_path $dir; scgi_temp_path $dir;
  types { text/html html; application/octet-stream bin; }
  default_type application/octet-stream;
  sendfile on;
  keepalive_timeout 5;
  keepalive_requests 1000000;
  server { listen $listen; root $root; }
}
EOF
}

# rs_nginx NS DOCROOT ADDR [PORT]: a kernel nginx in NS serving DOCROOT on
# ADDR:PORT (default 80), logs and pid in RS_TMP; stopped at exit.
rs_nginx() {
  local ns=$1 root=$2 addr=$3 port=${4:-80} dir
  dir="$RS_TMP/nginx-$1-${4:-80}"
  mkdir -p "$dir"
  rs_nginx_conf "$dir" "$root" "$addr:$port" "daemon off; worker_processes 1;" >"$dir/nginx.conf"
  ip netns exec "$ns" nginx -c "$dir/nginx.conf" -p "$dir" >"$dir/stderr.log" 2>&1 </dev/null &
  local pid=$!
  rs_defer "kill -TERM $pid; sleep 0.2; kill -KILL $pid"
  rs_wait 5 rs_listening "$ns" tcp "$addr" "$port" ||
    rs_fail "nginx did not listen on $addr:$port: $(cat "$dir/stderr.log" "$dir/error.log" 2>/dev/null | tail -5)"
}

# rs_gone PID...: none of these processes is left
rs_gone() { local p; for p in "$@"; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }

# ------------------------------------------------------------------ counters

# rs_dump NAME MARKER_REGEX: SIGUSR1 to daemon NAME and wait (5 s) until its log
# grows a new table that contains MARKER_REGEX; the new table is in
# RS_RUN/NAME.dump.
rs_dump() {
  local name=$1 marker=$2 pid before
  if [ "$RS_DRY" = 1 ]; then : >"$RS_RUN/$name.dump"; return 0; fi
  pid=$(rs_pid "$name") || { echo "(no $name running)" >"$RS_RUN/$name.dump"; return 1; }
  before=$(wc -l <"$RS_RUN/$name.log")
  kill -USR1 "$pid"
  rs_wait 5 bash -c "tail -n +$((before + 1)) '$RS_RUN/$name.log' | grep -qE '$marker'" || return 1
  sleep 0.2     # the rest of the table
  tail -n +$((before + 1)) "$RS_RUN/$name.log" >"$RS_RUN/$name.dump"
}

rs_netd_stats()  { rs_dump netd "tcp connections in use|counters \\(pid"; }
rs_sockd_stats() { rs_dump sockd "sockd\\.[A-Z_]+ "; }
rs_nicd_stats()  { rs_dump nicd "RX_FRAMES|TX_FRAMES|counters"; }

# rs_netd_ctr NAME: the sum over engines of counter NAME in the last netd dump
# (any kind: engine, proto, tcp, drop, app); 0 if absent (tables show nonzero only)
rs_netd_ctr() {
  awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k && $(i+1) ~ /^[0-9]+$/) { s += $(i+1); break } }
                 END { print s + 0 }' "$RS_RUN/netd.dump" 2>/dev/null
}

# rs_sockd_ctr NAME: counter NAME in the last sockd dump
rs_sockd_ctr() {
  awk -v k="<6>sockd.$1" '$1 == k { v = $2 } END { print v + 0 }' "$RS_RUN/sockd.dump" 2>/dev/null
}

# rs_sockd_live: apps live, from sockd's last dump header "counters (apps live N, ..."
rs_sockd_live() {
  [ "$RS_DRY" = 1 ] && { echo 0; return; }
  sed -n 's/.*apps live \([0-9]*\).*/\1/p' "$RS_RUN/sockd.dump" 2>/dev/null | tail -n1
}

# rs_netd_conns: TCP connections that are alive (TCBs in use less those in
# TIME_WAIT, which no app owns), summed over engines, from the last netd dump
rs_netd_conns() {
  awk '/tcp connections in use:/ { s += $NF } /tcp connections in TIME_WAIT:/ { s -= $NF }
       END { print s + 0 }' "$RS_RUN/netd.dump" 2>/dev/null
}

# ------------------------------------------------------------------ capture

# rs_capture_start NS IFACE FILE: dumpcap on IFACE in NS; stopped by rs_capture_stop
rs_capture_start() {
  ip netns exec "$1" dumpcap -q -i "$2" -w "$3" 2>"$3.log" &
  RS_CAP_PID=$!
  rs_defer "kill -INT $RS_CAP_PID"
  rs_wait 5 test -s "$3" || rs_fail "dumpcap did not start: $(cat "$3.log")"
  sleep 0.3
}

rs_capture_stop() {
  [ -n "${RS_CAP_PID:-}" ] || return 0
  kill -INT "$RS_CAP_PID" 2>/dev/null
  rs_wait 5 bash -c "! kill -0 $RS_CAP_PID" || kill -KILL "$RS_CAP_PID" 2>/dev/null
  RS_CAP_PID=""
}

# rs_tshark_check PCAP MAC: every frame sent by MAC decodes with checksums
# verified (IPv4, TCP, UDP) and no malformed packet or error-level expert info
# (bad checksums, bogus header lengths are errors). Warning-level TCP sequence
# analysis ("previous segment not captured", "window full") is about the flow
# and the capture, not the frame's encoding: counted and shown, not failed.
# Returns 1 (and prints the bad frames) otherwise. A positive control first:
# the same filter must flag a frame with a broken TCP checksum.
rs_tshark_check() {
  local pcap=$1 mac=$2 ts bad n
  ts=(timeout 60 tshark -n -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE)
  local filt="eth.src == $mac && (_ws.malformed || _ws.expert.severity >= error || ip.checksum.status == 0 || tcp.checksum.status == 0 || udp.checksum.status == 0)"
  python3 - "$RS_TMP/control.pcap" "$mac" <<'PY'
import struct, sys
mac = bytes.fromhex(sys.argv[2].replace(":", ""))
eth = bytes.fromhex("0a0000000001") + mac + b"\x08\x00"
ip = bytearray.fromhex("4500002c00004000400600000a0000020a000001")
s = sum(struct.unpack("!10H", bytes(ip)))
while s >> 16: s = (s & 0xffff) + (s >> 16)
ip[10:12] = struct.pack("!H", ~s & 0xffff)
tcp = bytes.fromhex("0050c00000000001000000006012ffff12340000020405b4")   # checksum 0x1234: wrong
pkt = eth + bytes(ip) + tcp
open(sys.argv[1], "wb").write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1) +
                              struct.pack("<IIII", 0, 0, len(pkt), len(pkt)) + pkt)
PY
  n=$("${ts[@]}" -r "$RS_TMP/control.pcap" -Y "$filt" 2>/dev/null | wc -l)
  [ "$n" -eq 1 ] || { echo "tshark's filter did not flag a TCP segment with a bad checksum (control)"; return 1; }
  RS_TS_OURS=$("${ts[@]}" -r "$pcap" -Y "eth.src == $mac" 2>/dev/null | wc -l)
  RS_TS_TCP=$("${ts[@]}" -r "$pcap" -Y "eth.src == $mac && tcp" 2>/dev/null | wc -l)
  RS_TS_UDP=$("${ts[@]}" -r "$pcap" -Y "eth.src == $mac && udp" 2>/dev/null | wc -l)
  bad=$("${ts[@]}" -r "$pcap" -Y "$filt" 2>"$RS_TMP/tshark.err") || { echo "tshark failed: $(tail -3 "$RS_TMP/tshark.err")"; return 1; }
  RS_TS_WARN=$("${ts[@]}" -r "$pcap" -Y "eth.src == $mac && _ws.expert.severity == warning" 2>/dev/null | wc -l)
  echo "tshark: $RS_TS_OURS frames from the stack ($RS_TS_TCP TCP, $RS_TS_UDP UDP), checksums verified;" \
       "$RS_TS_WARN with flow warnings (sequence analysis)"
  [ "$RS_TS_WARN" -eq 0 ] || "${ts[@]}" -r "$pcap" -Y "eth.src == $mac && _ws.expert.severity == warning" \
    -T fields -e _ws.expert.message 2>/dev/null | tr ',' '\n' | sort | uniq -c | head -5 | sed 's/^/  warning: /'
  if [ -n "$bad" ] && [ "$RS_DRY" = 1 ]; then
    echo "RS_DRY: $(echo "$bad" | wc -l) frame(s) flagged; a veth's checksum offload leaves them partial: ignored"
  elif [ -n "$bad" ]; then
    echo "tshark flags $(echo "$bad" | wc -l) frame(s) the stack sent:"
    echo "$bad" | head -20
    "${ts[@]}" -r "$pcap" -Y "eth.src == $mac" -q -z expert 2>/dev/null | head -30
    return 1
  fi
  return 0
}
