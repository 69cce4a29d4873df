/* netd/stats.c — netd's counters and histograms: published to the stats
 * region, printed as a table on SIGUSR1 and at exit.
 *
 * Where it sits: beside the data path. Engines bump their own counters and
 * record histograms in RUN_DIR/netd.stats in place (shm/netd_layout.h);
 * proto/'s counters live in the engine's struct stack and in TCP's block,
 * plain memory only the engine touches, so the engine copies them out here
 * at most every NETD_PUBLISH_NS and before each sleep: a few hundred
 * nanoseconds per millisecond of traffic, nothing per packet. TCP keeps its
 * own drops by reason (same list); the published drops are the sum.
 */
#include <inttypes.h>
#include <string.h>

#include "netd/netd.h"

#define DESC(name, text) { #name, text },

static const struct counters_desc proto_drop_desc[] = { PROTO_DROP_REASONS(DESC) { 0, 0 } };
static const struct counters_desc proto_cnt_desc[] = { PROTO_COUNTERS(DESC) { 0, 0 } };
static const struct counters_desc tcp_cnt_desc[] = { TCP_COUNTERS(DESC) { 0, 0 } };

_Static_assert(PROTO_DROP_MAX <= NETD_NAMED_CTRS_MAX, "drop reasons fit netd_named_ctrs");
_Static_assert(PROTO_CNT_MAX <= NETD_NAMED_CTRS_MAX, "proto counters fit netd_named_ctrs");
_Static_assert(TCP_CNT_NR <= NETD_NAMED_CTRS_MAX, "TCP counters fit netd_named_ctrs");
_Static_assert(NETD_APP_CTR_NR <= NETD_NAMED_CTRS_MAX, "app counters fit netd_named_ctrs");

void netd_stats_format(struct netd_engine_stats *st, unsigned q)
{
	netd_counters_init(&st->ctr);
	counters_init(&st->proto_drop.hdr, st->proto_drop.v, proto_drop_desc, PROTO_DROP_MAX);
	counters_init(&st->proto_cnt.hdr, st->proto_cnt.v, proto_cnt_desc, PROTO_CNT_MAX);
	counters_init(&st->tcp_cnt.hdr, st->tcp_cnt.v, tcp_cnt_desc, TCP_CNT_NR);
	counters_init(&st->app_cnt.hdr, st->app_cnt.v, netd_app_counters_desc(), NETD_APP_CTR_NR);
	hist_init(&st->rx_residence);
	hist_init(&st->proto_batch);
	hist_init(&st->tx_turnaround);
	hist_init(&st->rx_burst);
	hist_init(&st->sleep);
	st->queue = q;
}

/* Single writer: a relaxed store per value keeps remote loads whole. */
static void store_all(_Atomic uint64_t *dst, const uint64_t *src, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		atomic_store_explicit(&dst[i], src[i], memory_order_relaxed);
}

void netd_stats_publish(struct netd_engine *e)
{
	struct netd_engine_stats *st = e->st;
	const struct stack *stk = e->stk;
	uint64_t drops[PROTO_DROP_MAX], tcp_drops[PROTO_DROP_MAX], tcp[TCP_CNT_NR];

	memset(tcp_drops, 0, sizeof(tcp_drops));
	tcp_stats_read(e->tcp, tcp, tcp_drops);
	for (unsigned i = 0; i < PROTO_DROP_MAX; i++)
		drops[i] = stk->stats.drop[i] + tcp_drops[i];
	store_all(st->proto_drop.v, drops, PROTO_DROP_MAX);
	store_all(st->proto_cnt.v, stk->stats.cnt, PROTO_CNT_MAX);
	store_all(st->tcp_cnt.v, tcp, TCP_CNT_NR);
	if (e->apps_on) {
		uint64_t app[NETD_APP_CTR_NR];

		netd_apps_stats(&e->apps, app);
		store_all(st->app_cnt.v, app, NETD_APP_CTR_NR);
	}
	st->tcp_conns = tcp_conn_count(e->tcp);
	st->tcp_timewait = tcp_timewait_count(e->tcp);
	atomic_store_explicit(&st->published_ns, e->now, memory_order_relaxed);
	e->published_ns = e->now;
}

/* ---------------------------------------------------------------- printing */

/* One section of the table: "netd: e0 KIND NAME VALUE  text", nonzero only. */
static void print_set(FILE *f, unsigned q, const char *kind, const struct counters_desc *desc,
		      const _Atomic uint64_t *v, unsigned n)
{
	uint64_t val[NETD_NAMED_CTRS_MAX > NETD_CTR_NR ? NETD_NAMED_CTRS_MAX : NETD_CTR_NR];

	counters_snapshot(v, val, n);
	for (unsigned i = 0; i < n; i++)
		if (val[i])
			fprintf(f, "<6>netd: e%u %-7s %-20s %12" PRIu64 "  %s\n", q, kind,
				desc[i].name, val[i], desc[i].text);
}

static void print_hist(FILE *f, unsigned q, const char *what, const struct hist *h)
{
	struct hist_snap snap;
	char line[256];

	if (hist_snapshot(h, &snap) < 0 || hist_count(&snap) == 0)
		return;
	hist_format(&snap, line, sizeof(line));
	fprintf(f, "<6>netd: e%u latency %-20s %s\n", q, what, line);
}

static void print_engine(FILE *f, const struct netd_engine_stats *st, unsigned q)
{
	print_set(f, q, "engine", netd_counters_desc(), st->ctr.v, NETD_CTR_NR);
	print_set(f, q, "proto", proto_cnt_desc, st->proto_cnt.v, PROTO_CNT_MAX);
	print_set(f, q, "tcp", tcp_cnt_desc, st->tcp_cnt.v, TCP_CNT_NR);
	print_set(f, q, "app", netd_app_counters_desc(), st->app_cnt.v, NETD_APP_CTR_NR);
	print_set(f, q, "drop", proto_drop_desc, st->proto_drop.v, PROTO_DROP_MAX);
	print_hist(f, q, "rx_ring_residence", &st->rx_residence);
	print_hist(f, q, "proto_per_burst", &st->proto_batch);
	print_hist(f, q, "rx_to_tx", &st->tx_turnaround);
	print_hist(f, q, "sleep", &st->sleep);
	print_hist(f, q, "frames_per_burst(n)", &st->rx_burst);
	/* TIME_WAIT first: readers wait for the "in use" line as the end */
	fprintf(f, "<6>netd: e%u tcp connections in TIME_WAIT: %u\n", q, st->tcp_timewait);
	fprintf(f, "<6>netd: e%u tcp connections in use: %u\n", q, st->tcp_conns);
}

void netd_stats_print(const struct netd *nd, FILE *f)
{
	const struct netd_info *in = nd->info;
	uint64_t v[NETD_CTL_NR];

	if (!in)
		return;
	fprintf(f, "<6>netd: counters (pid %u, %u engine(s), nicd %s, generation %u; nonzero only):\n",
		in->pid, in->nengines,
		atomic_load_explicit(&in->nic_up, memory_order_relaxed) ? "linked" : "away",
		atomic_load_explicit(&in->nic_generation, memory_order_relaxed));
	netd_ctl_counters_snapshot(&in->ctr, v);
	for (unsigned i = 0; i < NETD_CTL_NR; i++)
		if (v[i])
			fprintf(f, "<6>netd: -- control %-20s %12" PRIu64 "  %s\n",
				netd_ctl_counters_desc()[i].name, v[i], netd_ctl_counters_desc()[i].text);
	for (unsigned q = 0; q < nd->nengines; q++)
		if (nd->eng[q].st)
			print_engine(f, nd->eng[q].st, q);
	fflush(f);
}
