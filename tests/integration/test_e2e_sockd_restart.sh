#!/usr/bin/env bash
# test_e2e_sockd_restart.sh BUILD_DIR — kill -9 sockd in the middle of a
# transfer: the transfer finishes, a restarted sockd takes the live app back
# from netd, and still cleans up after it.
#
# In a namespace of its own (rs_stack_up): TAP rs0, kernel 10.0.0.1/24 with
# nginx, ringstack 10.0.0.2/24. curl on the stack downloads 64 MiB at a
# limited rate (about 6 s). One second in, sockd gets SIGKILL and is started
# again on the same run directory. Checks:
#   - curl finishes, SHA-256 intact (the data path never involved sockd);
#   - netd offered its orphaned app to the new sockd (ADOPT_OFFERED) and
#     the new sockd adopted it (ADOPTED): apps live 1 while curl runs;
#   - a new app admitted by the new sockd works (curl of 1 MiB);
#   - when curl exits the adopted app is cleaned up through its pidfd:
#     sockd apps live 0, netd's live TCP connections 0 (TIME_WAIT aside);
#   - nicd, netd and sockd still run.
# Exit 0 pass, 77 skip (not root / no TUN / no netns), 1 fail. About 15 s.
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/../.." || exit 1
. scripts/netns-lib.sh
rs_init "$BUILD"
rs_need nginx curl sha256sum
missing=$(rs_stack_ready) || rs_fail "the application path is not built: $missing"
rs_up_knows_sockd || rs_skip "ringstack-up.sh does not start sockd"

rs_ns_new NS rssdrst
rs_stack_up "$NS"
WWW=$RS_TMP/www
mkdir -p "$WWW"
rs_make_file "$WWW/big" $((64 << 20))
rs_make_file "$WWW/f1M" $((1 << 20))
rs_nginx "$NS" "$WWW" "$RS_KADDR" 80

# 1. a transfer that outlives sockd
rs_app_bg "$NS" curl -sS --max-time 40 --limit-rate 10M -o "$RS_TMP/big.out" \
  "http://$RS_KADDR/big" 2>"$RS_TMP/big.err"
CURL=$RS_BG_PID
rs_wait 5 test -s "$RS_TMP/big.out" || rs_fail "curl did not start receiving: $(cat "$RS_TMP/big.err")"
old=$(rs_pid sockd) || rs_fail "no sockd pid"
kill -KILL "$old"
rs_wait 5 bash -c "! kill -0 $old" || rs_fail "sockd $old survived SIGKILL"
echo "sockd $old killed with curl at $(stat -c %s "$RS_TMP/big.out") bytes"

# 2. a new sockd on the same run directory
T=20 rs_in "$NS" "$RS_ROOT/scripts/ringstack-up.sh" start -b "$RS_BUILD" -d "$RS_RUN" \
  --only sockd --sockd "${RS_SOCKD_ARGS:-}" 2>>"$RS_TMP/up.log" ||
  rs_fail "sockd did not restart: $(tail -3 "$RS_TMP/up.log")"
new=$(rs_pid sockd) || rs_fail "no new sockd pid"
adopted() { rs_sockd_stats && [ "$(rs_sockd_ctr ADOPTED)" -ge 1 ]; }
rs_wait 10 adopted || rs_fail "the new sockd adopted no app: $(grep -E 'adopt|netd' "$RS_RUN/sockd.log" | tail -5)"
kill -0 "$CURL" 2>/dev/null || rs_fail "curl ended before the check (too fast: raise the size)"
echo "sockd $new: adopted $(rs_sockd_ctr ADOPTED), apps live $(rs_sockd_live)"
[ "$(rs_sockd_live)" -ge 1 ] || rs_fail "the adopted app is not live in sockd"

# 3. the new sockd admits new apps
T=20 rs_app "$NS" curl -sS --max-time 15 -o "$RS_TMP/f1M.out" "http://$RS_KADDR/f1M" \
  2>"$RS_TMP/f1M.err" || rs_fail "a new curl after the restart: $(cat "$RS_TMP/f1M.err")"
[ "$(rs_sha "$RS_TMP/f1M.out")" = "$(rs_sha "$WWW/f1M")" ] || rs_fail "1 MiB after the restart: sha256 differs"
echo "a new app after the restart: 1 MiB, sha256 ok"

# 4. the old transfer completes
rs_wait 40 bash -c "! kill -0 $CURL" || rs_fail "curl did not finish"
wait "$CURL" 2>/dev/null; rc=$?
[ "$rc" -eq 0 ] || rs_fail "curl exit $rc: $(cat "$RS_TMP/big.err")"
[ "$(rs_sha "$RS_TMP/big.out")" = "$(rs_sha "$WWW/big")" ] || rs_fail "64 MiB across the restart: sha256 differs"
echo "64 MiB across the sockd restart: sha256 ok"

# 5. cleanup of the adopted app through its pidfd
rs_netd_stats
offered=$(rs_netd_ctr ADOPT_OFFERED)
[ "$offered" -ge 1 ] || rs_fail "netd offered no orphan (ADOPT_OFFERED $offered)"
drained() { rs_sockd_stats && rs_netd_stats && [ "$(rs_sockd_live)" = 0 ] && [ "$(rs_netd_conns)" = 0 ]; }
rs_wait 10 drained || rs_fail "after curl exited: sockd apps live $(rs_sockd_live), netd live tcp conns $(rs_netd_conns)"
[ "$(rs_netd_ctr ORPHANS_DROPPED)" -eq 0 ] || rs_fail "netd dropped $(rs_netd_ctr ORPHANS_DROPPED) orphan(s)"
rs_alive nicd netd sockd || rs_fail "a daemon died"
echo "netd offered $offered orphan(s); after curl: sockd apps live 0, netd live tcp conns 0"
echo "PASS"
