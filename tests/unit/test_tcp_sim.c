/* tests/unit/test_tcp_sim.c — TCP over the seeded lossy network (tests/support/netsim.h).
 *
 * First the simulator itself, with trivial endpoints: serialisation and delay
 * to the nanosecond, tail drop, the configured fault rates, one flipped bit
 * per corruption, timers, and that a seed fixes the run. Then two TCP stacks
 * (proto/tcp/tcp.h) joined by the simulated link, in the spirit of smoltcp's
 * and TigerBeetle's simulation tests:
 *
 *   - a property test: for many seeds, a random link (delay, bandwidth,
 *     queue, loss, reordering, duplication, corruption) and random streams in
 *     both directions; every byte arrives exactly once and in order, both
 *     ends close and every TCB is freed (TIME_WAIT included), and no packet
 *     buffer leaked;
 *   - the same seed gives the same run, packet for packet;
 *   - goodput of a bulk transfer under 0%, 1% and 5% random loss, printed
 *     and held above loose floors.
 *
 * Nothing here reads a clock: all times are the simulator's.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/tcp/tcp.h"
#include "tests/support/netsim.h"
#include "tests/support/pkb_fixture.h"

#define US  1000ull
#define MS  1000000ull
#define SEC 1000000000ull
#define POOL_SLOTS 8192u

static int fx_setup(void **state)
{
	*state = pkb_fixture_new(POOL_SLOTS, 0);
	return *state != NULL ? 0 : -1;
}

static int fx_teardown(void **state)
{
	struct pkb_fixture *fx = *state;
	uint32_t leaks = pkb_fixture_leaks(fx);

	pkb_fixture_destroy(fx);
	assert_int_equal(leaks, 0);
	return 0;
}

/* ================================================ the simulator alone */

/* A recording endpoint: keeps what arrived (time, length, first bytes). */
#define REC_MAX 20000
struct rec_ep {
	struct pkb_cache *cache;
	uint32_t n;
	uint64_t at[REC_MAX];
	uint32_t len[REC_MAX];
	uint32_t tag[REC_MAX];     /* the first 4 bytes: a sequence number */
};

static void rec_input(void *ctx, struct pkb *pkt, uint64_t now)
{
	struct rec_ep *r = ctx;

	if (r->n < REC_MAX) {
		r->at[r->n] = now;
		r->len[r->n] = pkt->pkt_len;
		r->tag[r->n] = 0;
		if (pkt->pkt_len >= 4)
			assert_int_equal(pkb_copy_out(pkt, 0, 4, &r->tag[r->n]), 0);
		r->n++;
	}
	pkb_free(r->cache, pkt);
}

static struct pkb *numbered(struct pkb_cache *c, uint32_t seq, uint32_t len)
{
	uint8_t buf[1500];

	assert_true(len >= 4 && len <= sizeof(buf));
	for (uint32_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 31 + seq);
	memcpy(buf, &seq, 4);
	struct pkb *b = pkb_from_bytes(c, buf, len);
	assert_non_null(b);
	return b;
}

static struct netsim *sim_with_recorder(struct pkb_fixture *fx, uint64_t seed,
					struct rec_ep *r, const struct netsim_link_cfg *link)
{
	struct netsim *sim = netsim_new(seed, 0, &fx->cache);
	struct netsim_ep ep = { .ctx = r, .input = rec_input };

	assert_non_null(sim);
	r->cache = &fx->cache;
	r->n = 0;
	assert_int_equal(netsim_attach(sim, 1, &ep), 0);
	assert_int_equal(netsim_set_link(sim, 0, link), 0);
	return sim;
}

static void test_netsim_serialisation_and_delay_exact(void **state)
{
	struct pkb_fixture *fx = *state;
	struct rec_ep *r = calloc(1, sizeof(*r));
	/* 8 Mbit/s: one byte per microsecond; 1 ms one-way */
	struct netsim_link_cfg link = { .delay_ns = MS, .rate_bps = 8000000, .overhead = 20 };
	struct netsim *sim = sim_with_recorder(fx, 1, r, &link);

	for (uint32_t i = 0; i < 10; i++)          /* a burst at t = 0 */
		assert_int_equal(netsim_send(sim, 0, numbered(&fx->cache, i, 980)), 0);
	assert_int_equal(netsim_run(sim, UINT64_MAX, NULL, NULL, 1000), 0);
	assert_int_equal(r->n, 10);
	for (uint32_t i = 0; i < 10; i++) {
		/* packet i leaves after (i+1) * 1000 us of serialisation */
		assert_int_equal(r->at[i], (i + 1) * 1000 * US + MS);
		assert_int_equal(r->tag[i], i);
		assert_int_equal(r->len[i], 980);
	}
	netsim_free(sim);
	free(r);
}

static void test_netsim_queue_limit_tail_drops(void **state)
{
	struct pkb_fixture *fx = *state;
	struct rec_ep *r = calloc(1, sizeof(*r));
	struct netsim_link_cfg link = { .rate_bps = 8000000, .queue_bytes = 5000 };
	struct netsim *sim = sim_with_recorder(fx, 1, r, &link);
	struct netsim_stats st;

	for (uint32_t i = 0; i < 10; i++)
		netsim_send(sim, 0, numbered(&fx->cache, i, 1000));
	netsim_run(sim, UINT64_MAX, NULL, NULL, 1000);
	netsim_stats(sim, 0, &st);
	/* 5000 bytes of queue, the packet being serialised included */
	assert_int_equal(r->n, 5);
	assert_int_equal(st.queue_drops, 5);
	assert_int_equal(st.delivered, 5);
	netsim_free(sim);
	free(r);
}

static void test_netsim_fault_rates_near_configured(void **state)
{
	struct pkb_fixture *fx = *state;
	struct rec_ep *r = calloc(1, sizeof(*r));
	struct netsim_link_cfg link = { .delay_ns = MS, .loss = 0.1, .dup = 0.05,
					.reorder = 0.1, .reorder_ns = 10 * MS };
	struct netsim *sim = sim_with_recorder(fx, 7, r, &link);
	struct netsim_stats st;
	uint32_t inversions = 0;

	for (uint32_t i = 0; i < 10000; i++) {
		netsim_send(sim, 0, numbered(&fx->cache, i, 100));
		netsim_run(sim, netsim_now(sim) + 10 * US, NULL, NULL, 100000);
	}
	netsim_run(sim, UINT64_MAX, NULL, NULL, 100000);
	netsim_stats(sim, 0, &st);
	/* binomial, n = 10000: 3 sigma is under 100 for p = 0.1, 70 for 0.05 */
	assert_in_range(st.lost, 900, 1100);
	assert_in_range(st.duplicated, 400, 600);
	assert_in_range(st.reordered, 800, 1000);
	assert_int_equal(st.delivered, 10000 - st.lost + st.duplicated);
	assert_int_equal(r->n, st.delivered);
	for (uint32_t i = 1; i < r->n; i++)
		inversions += r->tag[i] < r->tag[i - 1];
	assert_true(inversions > 100);
	netsim_free(sim);
	free(r);
}

/* Corruption: every corrupted copy differs from the original in one bit. */
struct flip_ep {
	struct pkb_cache *cache;
	uint32_t one_bit, clean, other;
};

static void flip_input(void *ctx, struct pkb *pkt, uint64_t now)
{
	struct flip_ep *f = ctx;
	uint8_t got[1000];
	unsigned bits = 0;

	(void)now;
	assert_int_equal(pkt->pkt_len, sizeof(got));
	assert_false(pkt->flags & PKB_F_CSUM_OK);
	assert_int_equal(pkb_copy_out(pkt, 0, sizeof(got), got), 0);
	for (unsigned i = 0; i < sizeof(got); i++)   /* as numbered(seq 0) made it */
		bits += (unsigned)__builtin_popcount(got[i] ^ (i < 4 ? 0 : (uint8_t)(i * 31)));
	if (bits == 0)
		f->clean++;
	else if (bits == 1)
		f->one_bit++;
	else
		f->other++;
	pkb_free(f->cache, pkt);
}

static void test_netsim_corruption_flips_one_bit(void **state)
{
	struct pkb_fixture *fx = *state;
	struct flip_ep f = { .cache = &fx->cache };
	struct netsim *sim = netsim_new(3, 0, &fx->cache);
	struct netsim_link_cfg link = { .corrupt = 0.5 };
	struct netsim_ep ep = { .ctx = &f, .input = flip_input };
	struct netsim_stats st;

	assert_int_equal(netsim_attach(sim, 1, &ep), 0);
	assert_int_equal(netsim_set_link(sim, 0, &link), 0);
	for (uint32_t i = 0; i < 2000; i++) {
		struct pkb *b = numbered(&fx->cache, 0, 1000);

		/* the sender's pkb with checksum-OK set: the copy must not keep it */
		b->flags |= PKB_F_CSUM_OK;
		netsim_send(sim, 0, b);
		netsim_run(sim, UINT64_MAX, NULL, NULL, 10);
	}
	netsim_stats(sim, 0, &st);
	assert_int_equal(f.other, 0);
	assert_in_range(f.one_bit, 900, 1100);
	assert_true(f.one_bit <= st.corrupted);
	assert_int_equal(f.one_bit + f.clean, 2000);
	netsim_free(sim);
}

/* A ticking endpoint: sends a packet every ms (its timer) until `left` runs
 * out; the other side echoes each packet back. */
struct tick_ep {
	struct netsim *sim;
	struct pkb_cache *cache;
	unsigned side;
	uint64_t next;
	uint32_t left, seq, echoed_back;
	uint64_t digest;
};

static void tick_poll(void *ctx, uint64_t now)
{
	struct tick_ep *t = ctx;

	if (t->left == 0 || now < t->next)
		return;
	t->left--;
	netsim_send(t->sim, t->side, numbered(t->cache, t->seq++, 64));
	t->next = now + MS;
}

static uint64_t tick_deadline(void *ctx)
{
	struct tick_ep *t = ctx;

	return t->left ? t->next : UINT64_MAX;
}

static void tick_input(void *ctx, struct pkb *pkt, uint64_t now)
{
	struct tick_ep *t = ctx;
	uint32_t tag;

	assert_int_equal(pkb_copy_out(pkt, 0, 4, &tag), 0);
	t->digest = (t->digest ^ tag ^ now) * 0x100000001b3ull;
	if (t->side == 1) {
		netsim_send(t->sim, 1, pkt);     /* echo: the same pkb goes back */
		return;
	}
	t->echoed_back++;
	pkb_free(t->cache, pkt);
}

static uint64_t run_echo(struct pkb_fixture *fx, uint64_t seed, uint32_t *back)
{
	struct tick_ep a = { .cache = &fx->cache, .side = 0, .left = 500 };
	struct tick_ep b = { .cache = &fx->cache, .side = 1 };
	struct netsim_link_cfg link = { .delay_ns = 3 * MS, .rate_bps = 10000000,
					.loss = 0.05, .reorder = 0.2, .reorder_ns = 5 * MS,
					.dup = 0.05 };
	struct netsim *sim = netsim_new(seed, 0, &fx->cache);
	struct netsim_ep ea = { &a, tick_input, tick_poll, tick_deadline };
	struct netsim_ep eb = { &b, tick_input, NULL, NULL };
	uint64_t digest;

	a.sim = b.sim = sim;
	netsim_attach(sim, 0, &ea);
	netsim_attach(sim, 1, &eb);
	netsim_set_link(sim, 0, &link);
	netsim_set_link(sim, 1, &link);
	assert_int_equal(netsim_run(sim, 10 * SEC, NULL, NULL, 100000), 0);
	assert_int_equal(netsim_now(sim), 10 * SEC);
	assert_int_equal(netsim_in_flight(sim), 0);
	*back = a.echoed_back;
	digest = a.digest ^ (b.digest << 1);
	netsim_free(sim);
	return digest;
}

static void test_netsim_same_seed_same_run(void **state)
{
	struct pkb_fixture *fx = *state;
	uint32_t n1, n2, n3;
	uint64_t d1 = run_echo(fx, 11, &n1), d2 = run_echo(fx, 11, &n2);
	uint64_t d3 = run_echo(fx, 12, &n3);

	assert_int_equal(d1, d2);
	assert_int_equal(n1, n2);
	assert_int_not_equal(d1, d3);
	/* 500 sent, ~10% lost each way, ~5% duplicated each way */
	assert_in_range(n1, 400, 520);
}

static void test_netsim_free_releases_in_flight(void **state)
{
	struct pkb_fixture *fx = *state;
	struct rec_ep *r = calloc(1, sizeof(*r));
	struct netsim_link_cfg link = { .delay_ns = SEC, .dup = 1.0 };
	struct netsim *sim = sim_with_recorder(fx, 1, r, &link);

	for (uint32_t i = 0; i < 100; i++)
		netsim_send(sim, 0, numbered(&fx->cache, i, 100));
	assert_int_equal(netsim_in_flight(sim), 200);
	assert_int_equal(netsim_send(sim, 5, numbered(&fx->cache, 0, 100)), -EINVAL);
	netsim_free(sim);     /* teardown checks that nothing leaked */
	free(r);
}

/* ============================================== TCP over the simulator */

#define ADDR_A 0x0a000001u   /* 10.0.0.1: the client */
#define ADDR_B 0x0a000002u   /* 10.0.0.2: the server */
#define PORT_B 5001

struct sim_case {
	uint64_t seed;
	struct netsim_link_cfg link[2];   /* client -> server, server -> client */
	uint32_t len_ab, len_ba;          /* bytes client -> server, server -> client */
	uint32_t bufsize;                 /* sndbuf and rcvbuf, power of two */
	uint32_t chunk;                   /* the application reads and writes this much per call */
	const char *cc;
};

struct host {
	struct netsim *sim;
	unsigned side;
	void *mem;
	struct tcp_stack *ts;
	struct tcp_env env;
	struct pkb_cache cache;
	uint32_t addr, peer;
	int listener;              /* the server's listener, -1 on the client */
	uint32_t conn;             /* the data connection, TCP_CONN_NONE before */
	bool connected;            /* client: TCP_EV_CONNECTED seen */
	const uint8_t *tx;         /* what this end sends ... */
	uint32_t tx_len, tx_off;
	const uint8_t *rx_want;    /* ... and what it must receive */
	uint32_t rx_len, rx_off;
	bool shut_wr, eof, closed, mismatch;
	int err;                   /* first unexpected error from a user call */
	unsigned events;           /* all events seen on conn */
	uint64_t rx_done_at;       /* when the last expected byte arrived */
	uint64_t digest;           /* of every packet delivered here, with its time */
	uint32_t chunk;            /* bytes per tcp_send / tcp_recv call */
	uint8_t buf[65536];
};

static void host_output(void *ctx, struct pkb *seg, uint32_t saddr, uint32_t daddr,
			uint64_t now)
{
	struct host *h = ctx;

	(void)now;
	assert_int_equal(saddr, h->addr);
	assert_int_equal(daddr, h->peer);
	netsim_send(h->sim, h->side, seg);
}

static void host_event(void *ctx, uint32_t conn, unsigned events)
{
	struct host *h = ctx;

	/* no calls into TCP from here (tcp.h): the pump runs after each call */
	if (conn == h->conn) {
		h->events |= events;
		if (events & TCP_EV_CONNECTED)
			h->connected = true;
	}
}

static void note_err(struct host *h, int rc)
{
	if (h->err == 0)
		h->err = rc;
}

/* Read everything TCP has, checking it against the expected stream. */
static bool pump_recv(struct host *h, uint64_t now)
{
	bool progress = false;

	for (int i = 0; i < 64 && !h->eof; i++) {
		int n = tcp_recv(h->ts, &h->env, h->conn, h->buf, h->chunk, 0, now);

		if (n == -EAGAIN)
			break;
		if (n < 0) {
			note_err(h, n);
			break;
		}
		progress = true;
		if (n == 0) {
			h->eof = true;
			break;
		}
		if (h->rx_off + (uint32_t)n > h->rx_len ||
		    memcmp(h->buf, h->rx_want + h->rx_off, (size_t)n) != 0)
			h->mismatch = true;
		h->rx_off += (uint32_t)n;
		if (h->rx_off == h->rx_len)
			h->rx_done_at = now;
	}
	return progress;
}

/* Write what the send buffer takes; half-close when all is written. */
static bool pump_send(struct host *h, uint64_t now)
{
	bool progress = false;

	for (int i = 0; i < 64 && h->tx_off < h->tx_len; i++) {
		uint32_t left = h->tx_len - h->tx_off;
		int n = tcp_send(h->ts, &h->env, h->conn, h->tx + h->tx_off,
				 left < h->chunk ? left : h->chunk, 0, now);

		if (n == -EAGAIN)
			break;
		if (n <= 0) {
			note_err(h, n);
			break;
		}
		h->tx_off += (uint32_t)n;
		progress = true;
	}
	if (h->tx_off == h->tx_len && !h->shut_wr) {
		int rc = tcp_shutdown(h->ts, &h->env, h->conn, TCP_SHUT_WR, now);

		if (rc < 0)
			note_err(h, rc);
		h->shut_wr = true;
		progress = true;
	}
	return progress;
}

/* The application: accept, read, write, half-close, and close once the
 * peer's FIN has been read. Runs after every call into TCP. */
static void host_pump(struct host *h, uint64_t now)
{
	for (int round = 0; round < 16; round++) {
		bool progress = false;

		if (h->conn == TCP_CONN_NONE && h->listener >= 0) {
			int c = tcp_accept(h->ts, &h->env, (uint32_t)h->listener, NULL);

			if (c < 0)
				return;
			h->conn = (uint32_t)c;
			h->connected = true;
		}
		if (h->conn == TCP_CONN_NONE || !h->connected || h->closed)
			return;
		progress |= pump_recv(h, now);
		progress |= pump_send(h, now);
		if (h->shut_wr && h->eof) {
			int rc = tcp_close(h->ts, &h->env, h->conn, now);

			if (rc < 0)
				note_err(h, rc);
			h->closed = true;
			return;
		}
		if (!progress)
			return;
	}
}

/* TCP_SIM_TRACE=1 in the environment prints every delivered segment. */
static bool trace_on;

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void trace_segment(const struct host *h, const struct pkb *pkt, uint64_t now)
{
	uint8_t th[20];

	if (pkb_copy_out(pkt, 0, sizeof(th), th) < 0)
		return;
	print_message("%12.6f %s seq %10u ack %10u %c%c%c%c len %5u win %5u\n",
		      (double)now / SEC, h->side ? "A>B" : "B>A", be32(th + 4), be32(th + 8),
		      th[13] & 0x02 ? 'S' : '.', th[13] & 0x10 ? 'A' : '.',
		      th[13] & 0x01 ? 'F' : '.', th[13] & 0x04 ? 'R' : '.',
		      pkt->pkt_len - (uint32_t)((th[12] >> 4) * 4), (unsigned)(th[14] << 8 | th[15]));
}

static void host_input(void *ctx, struct pkb *pkt, uint64_t now)
{
	struct host *h = ctx;
	uint32_t off = 0, contig;
	const uint8_t *p;

	if (trace_on)
		trace_segment(h, pkt, now);

	h->digest = (h->digest ^ now ^ pkt->pkt_len) * 0x100000001b3ull;
	for (int i = 0; i < 64 && (p = pkb_seg_at(pkt, off, &contig)) != NULL; i++) {
		for (uint32_t j = 0; j < contig; j++)
			h->digest = (h->digest ^ p[j]) * 0x100000001b3ull;
		off += contig;
	}
	tcp_input(h->ts, &h->env, pkt, h->peer, h->addr, now);
	host_pump(h, now);
}

static void host_poll(void *ctx, uint64_t now)
{
	struct host *h = ctx;

	tcp_timers(h->ts, &h->env, now);
	host_pump(h, now);
}

static uint64_t host_deadline(void *ctx)
{
	struct host *h = ctx;

	return tcp_next_deadline(h->ts);
}

static void host_init(struct host *h, struct pkb_fixture *fx, struct netsim *sim,
		      unsigned side, uint64_t now, const struct sim_case *c)
{
	struct tcp_config cfg;
	size_t len;
	struct netsim_ep ep = { h, host_input, host_poll, host_deadline };

	tcp_config_default(&cfg);
	cfg.max_conns = 4;
	cfg.sndbuf = cfg.rcvbuf = c->bufsize;
	cfg.msl = 1 * SEC;                 /* TIME_WAIT of 2 s keeps runs short */
	snprintf(cfg.cc, sizeof(cfg.cc), "%s", c->cc);
	cfg.secret[0] = 0x1234 + side;
	cfg.secret[1] = 0x5678;
	len = tcp_stack_bytes(&cfg);
	assert_true(len > 0);
	h->mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	assert_non_null(h->mem);
	h->ts = tcp_stack_format(h->mem, len, &cfg, now);
	assert_non_null(h->ts);
	pkb_cache_init(&h->cache, &fx->pool);
	h->env = (struct tcp_env){ .cache = &h->cache, .ctx = h, .output = host_output,
				   .event = host_event };
	h->sim = sim;
	h->side = side;
	h->addr = side ? ADDR_B : ADDR_A;
	h->peer = side ? ADDR_A : ADDR_B;
	h->listener = -1;
	h->conn = TCP_CONN_NONE;
	h->chunk = c->chunk;
	assert_int_equal(netsim_attach(sim, side, &ep), 0);
}

static void host_fini(struct host *h)
{
	pkb_cache_flush(&h->cache);
	free(h->mem);
}

/* Both ends have read everything, closed, and every TCB is gone (the
 * listener excepted): CLOSED reached on both sides, TIME_WAIT included. */
static bool both_done(void *ctx)
{
	struct host *h = ctx;   /* h[0], h[1] */

	for (int i = 0; i < 2; i++)
		if (!h[i].closed || tcp_conn_count(h[i].ts) != (i == 1 ? 1u : 0u))
			return false;
	return netsim_in_flight(h[0].sim) == 0;
}


struct sim_result {
	bool done, exact;
	int err_a, err_b;
	uint64_t end, start;
	uint64_t ab_done_at;          /* when the server had every client byte */
	uint64_t digest;
	struct netsim_stats st[2];
};

static uint8_t *random_bytes(struct netsim_rng *r, uint32_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	assert_non_null(p);
	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)(netsim_rng_next(r) >> 56);
	return p;
}

static void print_host(const struct host *h, const char *name)
{
	struct tcp_conn_info ci = { 0 };

	if (h->conn != TCP_CONN_NONE && !h->closed)
		tcp_info(h->ts, h->conn, &ci);
	print_message("  %s: conn %u state %s tx %u/%u rx %u/%u shut %d eof %d closed %d "
		      "err %d events %#x conns %u cwnd %u snd_wnd %u rcv_wnd %u unacked %u "
		      "rto %u us retrans %lu\n",
		      name, h->conn, tcp_state_name(ci.state), h->tx_off, h->tx_len,
		      h->rx_off, h->rx_len, h->shut_wr, h->eof, h->closed, h->err,
		      h->events, tcp_conn_count(h->ts), ci.snd_cwnd, ci.snd_wnd, ci.rcv_wnd,
		      ci.unacked, ci.rto_us,
		      (unsigned long)ci.total_retrans);
}

/* One connection, client (side 0) to server (side 1), over c->link both
 * ways; returns what happened. Leaves no buffer behind. */
static struct sim_result run_tcp(struct pkb_fixture *fx, const struct sim_case *c,
				 uint64_t time_limit)
{
	struct sim_result res = { 0 };
	struct netsim_rng data;
	struct netsim *sim = netsim_new(c->seed, 1 * SEC, &fx->cache);
	struct host *h = calloc(2, sizeof(*h));
	uint8_t *ab, *ba;
	int rc;

	assert_true(sim && h);
	netsim_rng_seed(&data, c->seed ^ 0xda7a);
	ab = random_bytes(&data, c->len_ab);
	ba = random_bytes(&data, c->len_ba);
	host_init(&h[0], fx, sim, 0, netsim_now(sim), c);
	host_init(&h[1], fx, sim, 1, netsim_now(sim), c);
	assert_int_equal(netsim_set_link(sim, 0, &c->link[0]), 0);
	assert_int_equal(netsim_set_link(sim, 1, &c->link[1]), 0);
	h[0].tx = ab; h[0].tx_len = c->len_ab; h[1].rx_want = ab; h[1].rx_len = c->len_ab;
	h[1].tx = ba; h[1].tx_len = c->len_ba; h[0].rx_want = ba; h[0].rx_len = c->len_ba;
	h[1].listener = tcp_listen(h[1].ts, &h[1].env, ADDR_B, PORT_B, 8, 0);
	assert_true(h[1].listener >= 0);
	res.start = netsim_now(sim);
	rc = tcp_connect(h[0].ts, &h[0].env, ADDR_A, 0, ADDR_B, PORT_B, res.start);
	assert_true(rc >= 0);
	h[0].conn = (uint32_t)rc;
	netsim_run(sim, res.start + time_limit, both_done, h, 20000000);
	res.done = both_done(h);
	res.exact = !h[0].mismatch && !h[1].mismatch && h[0].rx_off == c->len_ba &&
		    h[1].rx_off == c->len_ab && h[0].eof && h[1].eof;
	res.err_a = h[0].err;
	res.err_b = h[1].err;
	res.end = netsim_now(sim);
	res.ab_done_at = h[1].rx_done_at;
	res.digest = h[0].digest ^ (h[1].digest * 3) ^ res.end;
	netsim_stats(sim, 0, &res.st[0]);
	netsim_stats(sim, 1, &res.st[1]);
	if (!res.done || !res.exact || res.err_a || res.err_b) {
		print_message("seed %lu: done %d exact %d at %.3f s\n", (unsigned long)c->seed,
			      res.done, res.exact, (double)(res.end - res.start) / SEC);
		print_host(&h[0], "client");
		print_host(&h[1], "server");
	}
	netsim_free(sim);
	host_fini(&h[0]);
	host_fini(&h[1]);
	free(h);
	free(ab);
	free(ba);
	return res;
}

/* One direction of a random link. */
static void random_link(struct netsim_rng *r, struct netsim_link_cfg *l)
{
	l->delay_ns = 100 * US + netsim_rng_below(r, 20 * MS);
	l->rate_bps = 1000000 + netsim_rng_below(r, 99000000);
	l->queue_bytes = 16384 + (uint32_t)netsim_rng_below(r, 256 << 10);
	l->overhead = 20;
	l->loss = (double)netsim_rng_below(r, 50) / 1000.0;      /* 0 .. 4.9% */
	l->reorder = (double)netsim_rng_below(r, 50) / 1000.0;
	l->reorder_ns = 1 + netsim_rng_below(r, 2 * l->delay_ns);
	l->dup = (double)netsim_rng_below(r, 20) / 1000.0;
	l->corrupt = (double)netsim_rng_below(r, 20) / 1000.0;
}

/* A random link, application and streams for one seed of the property
 * test; half the seeds share one link configuration both ways. With
 * `small`, buffers of 4..64 KB and reads and writes of random sizes close
 * the windows (window updates, persist probes, receiver and sender SWS
 * avoidance); otherwise 256 KB buffers and 64 KB calls. */
static struct sim_case random_case(uint64_t seed, bool small)
{
	struct netsim_rng r;
	struct sim_case c = { .seed = seed, .cc = (seed & 1) ? "cubic" : "newreno" };

	netsim_rng_seed(&r, seed * 0x9e3779b97f4a7c15ull);
	random_link(&r, &c.link[0]);
	if (netsim_rng_below(&r, 2))
		random_link(&r, &c.link[1]);
	else
		c.link[1] = c.link[0];
	c.bufsize = small ? 4096u << netsim_rng_below(&r, 5) : 256u << 10;
	c.chunk = small ? 1 + (uint32_t)netsim_rng_below(&r, 65536) : 65536;
	c.len_ab = (uint32_t)netsim_rng_below(&r, 1u << 20);
	c.len_ba = (uint32_t)netsim_rng_below(&r, 1u << 20);
	if (netsim_rng_below(&r, 8) == 0)
		c.len_ba = 0;                  /* one-way transfers too */
	return c;
}

#define SIM_SEEDS 200

/* The property, over SIM_SEEDS seeds (TCP_SIM_SEED=n replays seed n alone,
 * TCP_SIM_TRACE=1 prints every segment delivered). */
static void check_many_seeds(struct pkb_fixture *fx, bool small)
{
	const char *only = getenv("TCP_SIM_SEED");
	uint64_t first = only ? strtoull(only, NULL, 0) : 1;
	uint64_t last = only ? first : SIM_SEEDS;
	uint64_t corrupted = 0, lost = 0, sim_ns = 0;
	unsigned ok = 0;

	trace_on = getenv("TCP_SIM_TRACE") != NULL;
	for (uint64_t seed = first; seed <= last; seed++) {
		struct sim_case c = random_case(seed, small);
		struct sim_result r = run_tcp(fx, &c, 600 * SEC);

		ok += r.done && r.exact && !r.err_a && !r.err_b;
		corrupted += r.st[0].corrupted + r.st[1].corrupted;
		lost += r.st[0].lost + r.st[1].lost;
		sim_ns += r.end - r.start;
		assert_int_equal(pkb_fixture_leaks(fx), 0);
	}
	trace_on = false;
	print_message("  %u/%u seeds exact and closed; %lu packets lost, %lu corrupted, "
		      "%.1f s simulated\n", ok, (unsigned)(last - first + 1), (unsigned long)lost,
		      (unsigned long)corrupted, (double)sim_ns / SEC);
	assert_int_equal(ok, last - first + 1);
}

static void test_tcp_sim_streams_arrive_exact_many_seeds(void **state)
{
	check_many_seeds(*state, false);
}

static void test_tcp_sim_small_windows_arrive_exact_many_seeds(void **state)
{
	check_many_seeds(*state, true);
}

static void test_tcp_sim_same_seed_same_result(void **state)
{
	struct pkb_fixture *fx = *state;
	struct sim_case c = random_case(42, false);
	struct sim_result a = run_tcp(fx, &c, 600 * SEC), b = run_tcp(fx, &c, 600 * SEC);

	assert_true(a.done && b.done);
	assert_int_equal(a.digest, b.digest);
	assert_int_equal(a.end, b.end);
	assert_memory_equal(&a.st, &b.st, sizeof(a.st));
	c.seed = 43;                       /* same links, other fates */
	b = run_tcp(fx, &c, 600 * SEC);
	assert_int_not_equal(a.digest, b.digest);
}

/* Goodput of a 4 MB bulk transfer over 20 Mbit/s, 20 ms RTT, a 100 KB
 * bottleneck queue, for a given random loss rate. */
static double bulk_goodput(struct pkb_fixture *fx, double loss, const char *cc,
			   uint64_t seed)
{
	/* 128 KB windows stay below BDP + queue (50 + 100 KB): no tail drop,
	 * so "0% loss" means no loss at all */
	struct sim_case c = { .seed = seed, .cc = cc, .len_ab = 4u << 20,
			      .bufsize = 128u << 10, .chunk = 65536 };
	struct sim_result r;

	c.link[0] = (struct netsim_link_cfg){ .delay_ns = 10 * MS, .rate_bps = 20000000,
					      .queue_bytes = 100000, .overhead = 20,
					      .loss = loss };
	c.link[1] = c.link[0];
	r = run_tcp(fx, &c, 600 * SEC);
	assert_true(r.done && r.exact);
	return (double)c.len_ab * 8 * SEC / (double)(r.ab_done_at - r.start) / 20e6;
}

static void test_tcp_sim_goodput_under_loss(void **state)
{
	struct pkb_fixture *fx = *state;
	static const double loss[3] = { 0.0, 0.01, 0.05 };
	/* Floors, as fractions of the 20 Mbit/s link (loss is applied both
	 * ways, ACKs included). At 0% loss only the handshake, slow start and
	 * headers (52 of 1500 bytes) stand between TCP and the link: 75%.
	 * Under random loss, the throughput model of Padhye et al. (SIGCOMM
	 * '98) for Reno with timeouts, B = 1 / (RTT sqrt(2bp/3) + T0 min(1,
	 * 3 sqrt(3bp/8)) p (1 + 32p^2)) with RTT 20 ms, T0 200 ms (RTO floor),
	 * b = 2 (delayed ACKs), MSS 1448, gives 4.1 Mbit/s (20%) at 1% and
	 * 1.0 Mbit/s (5%) at 5%. A SACK sender should not do worse than that
	 * model's Reno; over seeds 1000..5004 we measured 28-44% and 7-12%. */
	static const double floor[3] = { 0.75, 0.20, 0.05 };

	for (int i = 0; i < 3; i++) {
		for (int a = 0; a < 2; a++) {
			const char *cc = a ? "cubic" : "newreno";
			double g = bulk_goodput(fx, loss[i], cc, 1000 + (uint64_t)i);

			print_message("  goodput %-7s loss %4.1f%%: %5.1f%% of 20 Mbit/s (%.2f Mbit/s)\n",
				      cc, loss[i] * 100, g * 100, g * 20);
			assert_true(g >= floor[i]);
			assert_true(g <= 1.0);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_netsim_serialisation_and_delay_exact,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_netsim_queue_limit_tail_drops,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_netsim_fault_rates_near_configured,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_netsim_corruption_flips_one_bit,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_netsim_same_seed_same_run,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_netsim_free_releases_in_flight,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_tcp_sim_streams_arrive_exact_many_seeds,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_tcp_sim_small_windows_arrive_exact_many_seeds,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_tcp_sim_same_seed_same_result,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_tcp_sim_goodput_under_loss,
						fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
