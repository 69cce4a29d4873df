#!/usr/bin/env bash
# test_e2e_hostile.sh BUILD_DIR — hostile applications hurt only themselves.
#
# In a namespace of its own (rs_stack_up): TAP rs0, kernel 10.0.0.1/24 with
# nginx, ringstack 10.0.0.2/24. A well-behaved app (curl under ringstack-run
# --strict) downloads 100 MiB at a limited rate while tests/tools/hostile_app
# (admitted by sockd like any app, speaking the hello itself) attacks netd
# through its own region, three times:
#   scribble        TCP connects to nginx, then garbage: unknown ops, bad
#                   socket indices, absurd arguments, notifications for no
#                   socket, byte-ring indices out of bounds, impossible UDP
#                   records, random bytes over app.socks and app.ctl, corrupt
#                   completion and command ring indices, the whole region
#                   overwritten (tests/tools/hostile_app.c lists the phases)
#   close-mid-call  commands in flight, the control socket closed before their
#                   completions, more commands into the detached region
#   flood           4096 commands, no completion ever read
# Pass:
#   - nicd, netd and sockd run throughout (checked after every attack);
#   - curl's 100 MiB arrive intact (SHA-256), and a new curl after the
#     attacks fetches 1 MiB intact; the kernel still pings the stack;
#   - within 10 s after the last attack sockd has no live app, the kernel no
#     connection ESTABLISHED on port 80 (the hostile apps' connections were
#     freed), netd at most the 2 curls' TCBs (TIME_WAIT);
#   - the garbage reached netd: it completed (with errors) the bad-op,
#     bad-socket and bad-argument commands; and it counted the attacks
#     (CMD_BAD_OP, CMD_BAD_SOCK, a corrupt ring) when it prints its
#     application counters.
# Exit 0 pass, 77 skip (not root / no TUN / no netns), 1 fail. About 25 s.
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/../.." || exit 1
. scripts/netns-lib.sh
rs_init "$BUILD"
rs_need nginx curl
missing=$(rs_stack_ready) || rs_fail "the application path is not built: $missing"
HOSTILE=$RS_BUILD/tools/hostile_app
[ -x "$HOSTILE" ] || rs_fail "$HOSTILE is not built"

rs_ns_new NS rshost
rs_stack_up "$NS"
WWW=$RS_TMP/www
mkdir -p "$WWW"
rs_make_file "$WWW/f100M" $((100 << 20))
rs_make_file "$WWW/f1M" $((1 << 20))
rs_nginx "$NS" "$WWW" 10.0.0.1 80

daemons_ok() { rs_alive nicd netd sockd || rs_fail "a daemon died $1"; }

echo "== a well-behaved app: curl, 100 MiB at 15 MB/s"
rs_app_bg "$NS" curl -sS --max-time 60 --limit-rate 15M -o "$RS_TMP/f100M.out" http://10.0.0.1/f100M \
  </dev/null 2>"$RS_TMP/curl.err"
CURL=$RS_BG_PID
rs_wait 10 test -s "$RS_TMP/f100M.out" || rs_fail "curl is not downloading: $(cat "$RS_TMP/curl.err")"

seed=${HOSTILE_SEED:-$(date +%s)}
for mode in scribble close-mid-call flood; do
  echo "== hostile_app --mode $mode (seed $seed)"
  T=30 rs_in "$NS" "$HOSTILE" --run-dir "$RS_RUN" --mode "$mode" --seed "$seed" \
    --target 10.0.0.1:80 >"$RS_TMP/h-$mode.log" 2>&1
  rc=$?
  sed 's/^/   /' "$RS_TMP/h-$mode.log"
  [ $rc -eq 0 ] || rs_fail "hostile_app --mode $mode: exit $rc (not admitted?)"
  if [ "$mode" = scribble ]; then   # netd answered the garbage: it reached netd
    for ph in badops badsocks badargs; do
      n=$(sed -n "s/.* $ph: posted [0-9]*, \([0-9]*\) completions/\1/p" "$RS_TMP/h-$mode.log")
      [ "${n:-0}" -gt 0 ] || rs_fail "netd answered none of the $ph commands"
    done
  fi
  sleep 0.3
  daemons_ok "after hostile_app --mode $mode"
done
kill -0 "$CURL" 2>/dev/null && echo "curl was still downloading when the attacks ended: good" ||
  echo "note: curl finished before the attacks ended"

echo "== the well-behaved app"
rs_wait 60 bash -c "! kill -0 $CURL" || rs_fail "curl did not finish in 60 s: $(cat "$RS_TMP/curl.err")"
wait "$CURL" || rs_fail "curl: exit $? $(cat "$RS_TMP/curl.err")"
[ "$(rs_sha "$RS_TMP/f100M.out")" = "$(rs_sha "$WWW/f100M")" ] || rs_fail "curl's 100 MiB differ (sha256)"
echo "ok: 100 MiB intact beside the hostile apps"
T=20 rs_app "$NS" curl -sS --max-time 15 -o "$RS_TMP/f1M.out" http://10.0.0.1/f1M 2>"$RS_TMP/curl2.err" ||
  rs_fail "a new curl after the attacks: $(cat "$RS_TMP/curl2.err")"
[ "$(rs_sha "$RS_TMP/f1M.out")" = "$(rs_sha "$WWW/f1M")" ] || rs_fail "1 MiB after the attacks: sha256 differs"
echo "ok: a new curl after the attacks: 1 MiB intact"
out=$(T=10 rs_in "$NS" ping -c 3 -i 0.2 -W 1 10.0.0.2) || true
grep -q " 3 received" <<<"$out" || rs_fail "the stack no longer answers ping"
echo "ok: the stack answers ping"

# Every app has exited: sockd has none live, the kernel has no connection
# ESTABLISHED on port 80 (the hostile apps' 8 connects were freed and their
# peer told), and netd has no live connection (TIME_WAIT left out: no app
# owns those, and a hostile app's connect/close loops leave many).
established80() { ip netns exec "$NS" ss -Htn state established '( sport = :80 )' | wc -l; }
freed() {
  rs_sockd_stats && rs_netd_stats && [ "$(rs_sockd_live)" = 0 ] && [ "$(rs_netd_conns)" = 0 ] &&
    [ "$(established80)" = 0 ]
}
rs_wait 10 freed || { ip netns exec "$NS" ss -tan | sed 's/^/   kernel: /'; false; } || rs_fail "10 s after the attacks: sockd apps live $(rs_sockd_live)," \
  "netd live tcp conns $(rs_netd_conns) (want 0), kernel established on :80 $(established80)"
echo "ok: sockd apps live 0, kernel established on :80 0, netd live tcp conns 0"
daemons_ok "at the end"

if grep -q "CMD_BAD_OP" "$RS_RUN/netd.dump" || grep -q "APPS_ADOPTED" "$RS_RUN/netd.dump"; then
  for c in CMD_BAD_OP CMD_BAD_SOCK CMD_ERRORS CMD_RING_CORRUPT CPL_RING_CORRUPT BYTE_RING_CORRUPT \
           UDP_TX_BAD_RECORD NOTIFY_BAD_SOCK APPS_ADOPTED APPS_DROPPED; do
    printf '%s %s  ' "$c" "$(rs_netd_ctr $c)"
  done; echo
  [ "$(rs_netd_ctr CMD_BAD_OP)" -gt 0 ] || rs_fail "netd counted no bad op: did the garbage reach it?"
  [ "$(rs_netd_ctr CMD_BAD_SOCK)" -gt 0 ] || rs_fail "netd counted no bad socket index"
  [ $(( $(rs_netd_ctr CMD_RING_CORRUPT) + $(rs_netd_ctr CPL_RING_CORRUPT) )) -gt 0 ] ||
    rs_fail "netd noticed no corrupt ring"
else
  echo "note: netd prints no application counters (CMD_BAD_OP, ...): what it caught was not checked"
fi
echo "sockd: APPS_ADMITTED $(rs_sockd_ctr APPS_ADMITTED) APP_EXITED $(rs_sockd_ctr APP_EXITED) APP_CLOSED $(rs_sockd_ctr APP_CLOSED)"
echo "PASS"
