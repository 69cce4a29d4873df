/* tests/unit/test_tcp_scale.c — the connection table at 100,000 conns: every
 * handshake completes, every 4-tuple is found again, the hash chains stay
 * short (the cost of a lookup does not grow with the table), a segment
 * through tcp_input reaches the right conn, and a SYN still finds the
 * wildcard listener. The timing side is bench/tcp_conns.c. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "tests/support/tcp_seg.h"

#define NCONNS 100000u

struct peer {
	uint32_t raddr;
	uint16_t rport;
	uint32_t conn, iss;
};

static void remote(uint32_t i, uint32_t *raddr, uint16_t *rport)
{
	*raddr = 0x0b000000u + (i >> 14);
	*rport = (uint16_t)(1024u + (i & 0x3fffu));
}

/* The peer's SYN, our SYN-ACK, the peer's ACK, accept. */
static void establish(struct tcp_fx *fx, uint32_t listener, uint32_t i, struct peer *p)
{
	const struct tcp_cap *c;
	int conn;

	remote(i, &p->raddr, &p->rport);
	tcp_fx_clear(fx);
	tcp_fx_in(fx, &(struct tcp_spec){ .saddr = p->raddr, .sport = p->rport, .flags = TH_SYN,
					  .seq = i });
	c = tcp_fx_last(fx);
	assert_non_null(c);
	assert_int_equal(c->flags, TH_SYN | TH_ACK);
	p->iss = c->seq;
	tcp_fx_in(fx, &(struct tcp_spec){ .saddr = p->raddr, .sport = p->rport, .flags = TH_ACK,
					  .seq = i + 1, .ack = p->iss + 1 });
	conn = tcp_accept(fx->ts, &fx->env, listener, NULL);
	assert_true(conn >= 0);
	p->conn = (uint32_t)conn;
}

/* Longest 4-tuple chain, and TCBs read on average to find each conn. */
static void chain_stats(const struct tcp_stack *ts, uint32_t *longest, double *probes)
{
	const uint32_t *hash = (const uint32_t *)((const uint8_t *)ts + ts->hash_off);
	uint64_t sum = 0, n = 0;

	*longest = 0;
	for (uint32_t b = 0; b < ts->nbuckets; b++) {
		uint32_t len = 0;

		for (uint32_t i = hash[b]; i != TCP_CONN_NONE; i = tcp_tcb(ts, i)->hash_next)
			sum += ++len;    /* the k-th in a chain costs k reads */
		n += len;
		*longest = len > *longest ? len : *longest;
	}
	*probes = n ? (double)sum / (double)n : 0;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* 100,000 passive opens -> 100,000 ESTABLISHED conns, each found by its
 * 4-tuple (lookup, then a data segment through tcp_input); chains at most a
 * few long, about one TCB read per lookup; a SYN from a new peer still gets
 * its SYN-ACK from the wildcard listener. */
static void test_listen_100k_conns_established_and_found(void **state)
{
	struct tcp_config cfg;
	struct tcp_fx *fx;
	struct peer *peers = calloc(NCONNS, sizeof(*peers));
	struct timespec t0;
	uint32_t longest, found = 0;
	double probes, lookup_s;
	int l;

	(void)state;
	tcp_fx_config(&cfg);
	cfg.max_conns = NCONNS + 2;
	cfg.sndbuf = cfg.rcvbuf = 4096;
	assert_non_null(peers);
	assert_non_null(fx = tcp_fx_new(&cfg));
	assert_true((l = tcp_listen(fx->ts, &fx->env, 0, FX_LPORT, 64, 0)) >= 0);
	for (uint32_t i = 0; i < NCONNS; i++)
		establish(fx, (uint32_t)l, i, &peers[i]);
	assert_int_equal(tcp_conn_count(fx->ts), NCONNS + 1);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint32_t i = 0; i < NCONNS; i++)
		found += tcp_conn_lookup(fx->ts, FX_LADDR, FX_LPORT, peers[i].raddr, peers[i].rport) ==
			 tcp_tcb(fx->ts, peers[i].conn);
	lookup_s = seconds_since(&t0);
	assert_int_equal(found, NCONNS);
	assert_true(lookup_s < 2.0);              /* bounded: < 20 us a lookup, sanitizers too */
	chain_stats(fx->ts, &longest, &probes);
	print_message("  %u conns: %.3f s for every lookup, longest chain %u, %.3f reads a lookup\n",
		      NCONNS, lookup_s, longest, probes);
	assert_true(longest <= 8);
	assert_true(probes < 1.25);

	for (uint32_t i = 0; i < NCONNS; i += 997) {   /* a segment reaches its own conn */
		struct tcp_conn_info info;

		tcp_fx_in(fx, &(struct tcp_spec){ .saddr = peers[i].raddr, .sport = peers[i].rport,
			.flags = TH_ACK, .seq = i + 1, .ack = peers[i].iss + 1, .data = "x", .len = 1 });
		assert_int_equal(tcp_info(fx->ts, peers[i].conn, &info), 0);
		assert_int_equal(info.state, TCPS_ESTABLISHED);
		assert_int_equal(info.bytes_received, 1);
	}
	tcp_fx_clear(fx);
	tcp_fx_in(fx, &(struct tcp_spec){ .saddr = 0x0c000001u, .sport = 999, .flags = TH_SYN,
					  .seq = 5 });
	assert_int_equal(tcp_fx_last(fx)->flags, TH_SYN | TH_ACK);
	free(peers);
	assert_int_equal(tcp_fx_free(fx), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listen_100k_conns_established_and_found),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
