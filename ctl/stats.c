/* ctl/stats.c — the daemons' counters and latency histograms, read live.
 *
 * Where it sits: a reader of the stats regions the daemons write
 * (shm/nic_layout.h "nic.stats" in RUN_DIR/nicd.pool, shm/netd_layout.h
 * RUN_DIR/netd.stats, shm/sockd_layout.h RUN_DIR/sockd.stats). Each set of
 * counters is checked against the list this ctl was built with
 * (counters_check: count and hash of names) before a value is shown: a set
 * written from another list is named, not misread. One line per nonzero
 * counter:
 *
 *     DAEMON SCOPE KIND NAME VALUE  description
 *
 * (SCOPE: "-" for the daemon, eN for netd's engine N, qN for a queue), and
 * one per histogram with samples (count, percentiles, max).
 */
#include <inttypes.h>
#include <string.h>

#include "ctl/ctl.h"
#include "proto/stats.h"
#include "proto/tcp/tcp.h"
#include "shm/counters.h"
#include "shm/hist.h"
#include "shm/netd_layout.h"
#include "shm/nic_layout.h"
#include "shm/sockd_layout.h"

#define DESC(name, text) { #name, text },

static const struct counters_desc proto_drop_desc[] = { PROTO_DROP_REASONS(DESC) { 0, 0 } };
static const struct counters_desc proto_cnt_desc[] = { PROTO_COUNTERS(DESC) { 0, 0 } };
static const struct counters_desc tcp_cnt_desc[] = { TCP_COUNTERS(DESC) { 0, 0 } };

#define SET_MAX 256u     /* values in the longest set shown */
_Static_assert(NETD_NAMED_CTRS_MAX <= SET_MAX && NICD_CTR_NR <= SET_MAX &&
	       SOCKD_CTR_NR <= SET_MAX && NETD_CTR_NR <= SET_MAX, "sets fit SET_MAX");

/* One set: its nonzero values, or a line saying it was written from
 * another list. */
static void print_set(FILE *f, const char *who, const char *scope, const char *kind,
		      const struct counters_hdr *hdr, const _Atomic uint64_t *v,
		      const struct counters_desc *desc, unsigned nr)
{
	uint64_t val[SET_MAX];

	if (counters_check(hdr, desc, nr) < 0) {
		fprintf(f, "%-5s %-3s %-7s (written from another list of counters: not shown)\n",
			who, scope, kind);
		return;
	}
	counters_snapshot(v, val, nr);
	for (unsigned i = 0; i < nr; i++)
		if (val[i])
			fprintf(f, "%-5s %-3s %-7s %-22s %14" PRIu64 "  %s\n", who, scope, kind,
				desc[i].name, val[i], desc[i].text);
}

static void print_hist(FILE *f, const char *who, const char *scope, const char *what,
		       const struct hist *h)
{
	struct hist_snap snap;
	char line[256];

	if (hist_snapshot(h, &snap) < 0 || hist_count(&snap) == 0)
		return;
	hist_format(&snap, line, sizeof(line));
	fprintf(f, "%-5s %-3s latency %-22s %s\n", who, scope, what, line);
}

/* ------------------------------------------------------------------ nicd */

static int stats_nicd(FILE *f, const char *run_dir)
{
	struct region r;
	const struct nic_ctl *ctl;
	const struct nic_stats *st;
	size_t len = 0, clen = 0;
	char scope[8];

	if (ctl_open(&r, run_dir, NIC_POOL_FILE, REGION_KIND_POOL, NIC_LAYOUT_VERSION,
		     "nicd's pool") < 0)
		return 1;
	st = region_find(&r, NIC_AREA_STATS, &len);
	ctl = region_find(&r, NIC_AREA_CTL, &clen);
	if (!st || len < sizeof(*st) || !ctl || clen < sizeof(*ctl)) {
		fprintf(stderr, "ctl: nicd's pool has no %s area\n", NIC_AREA_STATS);
		region_close(&r);
		return 1;
	}
	fprintf(f, "nicd  -   info    pid %u, %.*s, %u queue(s)\n", ctl->nicd_pid,
		(int)sizeof(ctl->ifname), ctl->ifname, ctl->nqueues);   /* not trusted to end */
	print_set(f, "nicd", "-", "nicd", &st->ctr.hdr, st->ctr.v, nicd_counters_desc(),
		  NICD_CTR_NR);
	for (unsigned q = 0; q < ctl->nqueues && q < NIC_QUEUES_MAX; q++) {
		uint64_t rx = atomic_load_explicit(&st->q[q].rx_frames, memory_order_relaxed);
		uint64_t drops = atomic_load_explicit(&st->q[q].rx_drops, memory_order_relaxed);

		snprintf(scope, sizeof(scope), "q%u", q);
		fprintf(f, "%-5s %-3s %-7s %-22s %14" PRIu64 "  %s\n", "nicd", scope, "queue",
			"RX_FRAMES", rx, "frames put on this queue's rx ring");
		if (drops)
			fprintf(f, "%-5s %-3s %-7s %-22s %14" PRIu64 "  %s\n", "nicd", scope, "queue",
				"RX_DROPS", drops, "frames this queue's rx ring could not take");
	}
	print_hist(f, "nicd", "-", "rx_frames_per_pass(n)", &st->rx_batch);
	print_hist(f, "nicd", "-", "tx_ring_residence", &st->tx_residence);
	region_close(&r);
	return 0;
}

/* ------------------------------------------------------------------ netd */

static void netd_engine(FILE *f, const struct netd_engine_stats *st, unsigned q)
{
	char scope[8];

	snprintf(scope, sizeof(scope), "e%u", q);
	print_set(f, "netd", scope, "engine", &st->ctr.hdr, st->ctr.v, netd_counters_desc(),
		  NETD_CTR_NR);
	print_set(f, "netd", scope, "proto", &st->proto_cnt.hdr, st->proto_cnt.v, proto_cnt_desc,
		  PROTO_CNT_MAX);
	print_set(f, "netd", scope, "tcp", &st->tcp_cnt.hdr, st->tcp_cnt.v, tcp_cnt_desc,
		  TCP_CNT_NR);
	if (q == 0)
		print_set(f, "netd", scope, "app", &st->app_cnt.hdr, st->app_cnt.v,
			  netd_app_counters_desc(), NETD_APP_CTR_NR);
	print_set(f, "netd", scope, "drop", &st->proto_drop.hdr, st->proto_drop.v,
		  proto_drop_desc, PROTO_DROP_MAX);
	print_hist(f, "netd", scope, "rx_ring_residence", &st->rx_residence);
	print_hist(f, "netd", scope, "proto_per_burst", &st->proto_batch);
	print_hist(f, "netd", scope, "rx_to_tx", &st->tx_turnaround);
	print_hist(f, "netd", scope, "sleep", &st->sleep);
	print_hist(f, "netd", scope, "frames_per_burst(n)", &st->rx_burst);
	fprintf(f, "%-5s %-3s tcp     connections in use %u, of which TIME_WAIT %u\n", "netd",
		scope, st->tcp_conns, st->tcp_timewait);
}

static int stats_netd(FILE *f, const char *run_dir)
{
	struct region r;
	const struct netd_info *in;
	size_t len = 0;
	char area[32];

	if (ctl_open(&r, run_dir, NETD_STATS_FILE, REGION_KIND_STATS, NETD_LAYOUT_VERSION,
		     "netd's stats") < 0)
		return 1;
	in = region_find(&r, NETD_AREA_INFO, &len);
	if (!in || len < sizeof(*in) || in->magic != NETD_INFO_MAGIC) {
		fprintf(stderr, "ctl: netd's stats have no %s area\n", NETD_AREA_INFO);
		region_close(&r);
		return 1;
	}
	fprintf(f, "netd  -   info    pid %u, %u engine(s), nicd %s\n", in->pid, in->nengines,
		atomic_load_explicit(&in->nic_up, memory_order_relaxed) ? "linked" : "away");
	print_set(f, "netd", "-", "control", &in->ctr.hdr, in->ctr.v, netd_ctl_counters_desc(),
		  NETD_CTL_NR);
	for (unsigned q = 0; q < in->nengines && q < NETD_ENGINES_MAX; q++) {
		const struct netd_engine_stats *st;

		snprintf(area, sizeof(area), NETD_AREA_ENGINE_FMT, q);
		if ((st = region_find(&r, area, &len)) && len >= sizeof(*st))
			netd_engine(f, st, q);
	}
	region_close(&r);
	return 0;
}

/* ----------------------------------------------------------------- sockd */

static int stats_sockd(FILE *f, const char *run_dir)
{
	struct region r;
	const struct sockd_counters *c;
	const struct sockd_gauges *g;
	size_t len = 0, glen = 0;

	if (ctl_open(&r, run_dir, SOCKD_STATS_FILE, REGION_KIND_STATS, SOCKD_STATS_VERSION,
		     "sockd's stats") < 0)
		return 1;
	c = region_find(&r, SOCKD_AREA_CTR, &len);
	g = region_find(&r, SOCKD_AREA_GAUGE, &glen);
	if (!c || len < sizeof(*c) || !g || glen < sizeof(*g)) {
		fprintf(stderr, "ctl: sockd's stats have no counters\n");
		region_close(&r);
		return 1;
	}
	fprintf(f, "sockd -   info    apps live %u, pending %u, netd %s\n",
		atomic_load_explicit(&g->apps_live, memory_order_relaxed),
		atomic_load_explicit(&g->apps_pending, memory_order_relaxed),
		atomic_load_explicit(&g->netd_connected, memory_order_relaxed) ? "connected" : "away");
	print_set(f, "sockd", "-", "sockd", &c->hdr, c->v, sockd_counters_desc(), SOCKD_CTR_NR);
	region_close(&r);
	return 0;
}

/* ------------------------------------------------------------------ all */

int ctl_stats(FILE *f, const char *run_dir, const char *daemon)
{
	static const struct {
		const char *name;
		int (*fn)(FILE *, const char *);
	} daemons[] = { { "nicd", stats_nicd }, { "netd", stats_netd }, { "sockd", stats_sockd } };
	int rc = 0;
	bool known = false;

	for (unsigned i = 0; i < sizeof(daemons) / sizeof(daemons[0]); i++) {
		if (daemon && strcmp(daemon, daemons[i].name))
			continue;
		known = true;
		rc |= daemons[i].fn(f, run_dir);
	}
	if (!known) {
		fprintf(stderr, "ctl: stats of what? nicd, netd or sockd (not %s)\n", daemon);
		return 2;
	}
	return rc;
}
