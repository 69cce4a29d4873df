/* tests/unit/test_arp.c — ARP (proto/arp.c) and the neighbour table
 * (proto/neigh.c) on a whole stack: scapy's frames parsed and matched byte
 * for byte, RFC 826's merge rules, the neighbour states and timers with a
 * fake clock (retries, failure, ageing, probing), the bounded queues, the
 * table's hashing against an oracle, and random garbage. Every test's
 * teardown drains the stack and asserts no packet buffer leaked. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/arp.h"
#include "proto/eth.h"
#include "proto/neigh.h"
#include "proto/stack.h"
#include "shm/pkb.h"
#include "tests/support/pkb_fixture.h"
#include "tests/vectors/l2_vectors.h"
#include "tests/unit/l2_fixture.h"

static void assert_frame(const struct pkb *b, const uint8_t *want, size_t len)
{
	assert_non_null(b);
	assert_int_equal(pkb_len(b), len);
	assert_memory_equal(pkb_data(b), want, len);
}

/* A small IPv4 packet to send (its content does not matter to L2). */
static struct pkb *ip_packet(struct l2fx *fx)
{
	struct pkb *b = pkb_from_bytes(&fx->pf->cache, l2v_ipv4_udp_in + ETH_HLEN,
				       sizeof(l2v_ipv4_udp_in) - ETH_HLEN);

	assert_non_null(b);
	return b;
}

static void send_to(struct l2fx *fx, uint32_t nexthop, uint64_t now)
{
	eth_output_ipv4(fx->stk, ip_packet(fx), nexthop, STACK_IF_ETH, now);
}

static const struct neigh_entry *peer(const struct l2fx *fx)
{
	return neigh_lookup(&fx->stk->neigh, L2V_PEER_IP);
}

/* Frames on the txq that are ARP requests for `target`. */
static unsigned requests_for(const struct stack *stk, uint32_t target)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < stk->txq.n; i++) {
		const uint8_t *f = pkb_data(stk->txq.pkb[i]);
		struct arp_info a;

		if (pkb_len(stk->txq.pkb[i]) >= ETH_HLEN + ARP_HLEN && f[12] == 0x08 && f[13] == 0x06 &&
		    arp_parse(f + ETH_HLEN, pkb_len(stk->txq.pkb[i]) - ETH_HLEN, &a) == 0 &&
		    a.op == ARP_OP_REQUEST && a.tpa == target)
			n++;
	}
	return n;
}

/* ------------------------------------------------------------- parsing */

static void test_arp_parse_scapy_request(void **state)
{
	struct arp_info a;

	(void)state;
	/* scapy's frame is padded to 60 bytes: the padding is ignored */
	assert_int_equal(arp_parse(l2v_arp_request_in + ETH_HLEN,
				   sizeof(l2v_arp_request_in) - ETH_HLEN, &a), 0);
	assert_int_equal(a.op, ARP_OP_REQUEST);
	assert_memory_equal(a.sha, peer_mac, 6);
	assert_int_equal(a.spa, L2V_PEER_IP);
	assert_int_equal(a.tpa, L2V_OUR_IP);
	assert_int_equal(arp_parse(l2v_arp_reply_in + ETH_HLEN, ARP_HLEN, &a), 0);
	assert_int_equal(a.op, ARP_OP_REPLY);
	assert_memory_equal(a.tha, our_mac, 6);
}

static void test_arp_parse_rejects_short_and_foreign(void **state)
{
	uint8_t p[ARP_HLEN];
	struct arp_info a;

	(void)state;
	memcpy(p, l2v_arp_reply_in + ETH_HLEN, ARP_HLEN);
	assert_int_equal(arp_parse(p, ARP_HLEN - 1, &a), -EINVAL);
	p[1] = 6;   /* IEEE 802 hardware */
	assert_int_equal(arp_parse(p, ARP_HLEN, &a), -EPROTONOSUPPORT);
	p[1] = 1, p[5] = 16;   /* IPv6-sized protocol addresses */
	assert_int_equal(arp_parse(p, ARP_HLEN, &a), -EPROTONOSUPPORT);
	p[5] = 4, p[7] = 3;   /* RARP request */
	assert_int_equal(arp_parse(p, ARP_HLEN, &a), -EINVAL);
}

static void test_arp_parse_random_garbage_never_reads_past_len(void **state)
{
	(void)state;
	srand(21);
	for (unsigned k = 0; k < 100000; k++) {
		size_t len = (size_t)(rand() % 40);
		uint8_t *buf = malloc(len ? len : 1);   /* exact size: ASan sees overreads */
		struct arp_info a;
		int r;

		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)rand();
		if (len >= 8 && k % 2)   /* a valid prefix half of the time */
			memcpy(buf, l2v_arp_reply_in + ETH_HLEN, k % 4 == 1 ? 8 : 6);
		r = arp_parse(buf, len, &a);
		assert_true(r == 0 || r == -EINVAL || r == -EPROTONOSUPPORT);
		assert_true(r != 0 || len >= ARP_HLEN);
		free(buf);
	}
}

/* ------------------------------------------------ requests and replies */

static void test_arp_start_sends_gratuitous_like_scapy(void **state)
{
	struct l2fx *fx = *state;

	assert_int_equal(fx->stk->txq.n, 1);
	assert_frame(fx->stk->txq.pkb[0], l2v_arp_gratuitous_out, sizeof(l2v_arp_gratuitous_out));
	assert_int_equal(fx->stk->stats.cnt[PROTO_CNT_ARP_OUT], 1);
}

static void test_arp_request_for_us_replies_like_scapy(void **state)
{
	struct l2fx *fx = *state;

	txq_clear(fx->stk);
	inject(fx, l2v_arp_request_in, sizeof(l2v_arp_request_in), T0);
	assert_int_equal(fx->stk->txq.n, 1);
	assert_frame(fx->stk->txq.pkb[0], l2v_arp_reply_out, sizeof(l2v_arp_reply_out));
	/* RFC 826: we are the target, so the sender is added; a request is
	 * not a confirmation of reachability (RFC 1122 2.3.2.1), so STALE */
	assert_non_null(peer(fx));
	assert_int_equal(peer(fx)->state, NEIGH_STALE);
	assert_memory_equal(peer(fx)->mac, peer_mac, 6);
}

static void test_arp_vlan_request_for_us_replies_tagged(void **state)
{
	struct l2fx *fx = *state;
	const uint8_t *f;

	txq_clear(fx->stk);
	inject(fx, l2v_arp_request_in_vlan, sizeof(l2v_arp_request_in_vlan), T0);
	assert_int_equal(fx->stk->txq.n, 1);
	f = pkb_data(fx->stk->txq.pkb[0]);
	assert_int_equal(pkb_len(fx->stk->txq.pkb[0]), sizeof(l2v_arp_reply_out) + 4);
	assert_memory_equal(f, l2v_arp_reply_out, 12);
	assert_int_equal(f[12] << 8 | f[13], ETH_P_8021Q);
	assert_int_equal((f[14] << 8 | f[15]) & 0xfff, L2V_VLAN);
	assert_memory_equal(f + 16, l2v_arp_reply_out + 12, sizeof(l2v_arp_reply_out) - 12);
}

static void test_arp_request_for_other_is_not_learned(void **state)
{
	struct l2fx *fx = *state;

	txq_clear(fx->stk);
	inject(fx, l2v_arp_request_other_in, sizeof(l2v_arp_request_other_in), T0);
	assert_int_equal(fx->stk->txq.n, 0);
	assert_null(peer(fx));
	assert_int_equal(drops(fx, PROTO_DROP_ARP_NOT_FOR_US), 1);
}

static void test_arp_gratuitous_updates_known_entry_only(void **state)
{
	struct l2fx *fx = *state;
	static const uint8_t moved[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x99 };

	inject(fx, l2v_arp_gratuitous_in, sizeof(l2v_arp_gratuitous_in), T0);
	assert_null(peer(fx));   /* unknown and not for us: nothing to merge */
	assert_int_equal(drops(fx, PROTO_DROP_ARP_NOT_FOR_US), 1);
	assert_int_equal(neigh_update(fx->stk, L2V_PEER_IP, peer_mac,
				      NEIGH_F_CREATE | NEIGH_F_CONFIRMED, T0), 0);
	inject(fx, l2v_arp_gratuitous_in, sizeof(l2v_arp_gratuitous_in), T0 + 1);
	assert_memory_equal(peer(fx)->mac, moved, 6);   /* merge flag */
	assert_int_equal(peer(fx)->state, NEIGH_STALE);
	assert_int_equal(drops(fx, PROTO_DROP_ARP_NOT_FOR_US), 1);
}

static void test_arp_bad_sender_dropped(void **state)
{
	struct l2fx *fx = *state;
	uint8_t f[sizeof(l2v_arp_request_in)];

	memcpy(f, l2v_arp_request_in, sizeof(f));
	memset(f + ETH_HLEN + 8, 0xff, 6);   /* broadcast sha */
	inject(fx, f, sizeof(f), T0);
	memcpy(f, l2v_arp_request_in, sizeof(f));
	f[ETH_HLEN + 17] = 0x02;   /* spa = our own address: a conflict */
	inject(fx, f, sizeof(f), T0);
	f[ETH_HLEN + 14] = 224;    /* spa multicast */
	inject(fx, f, sizeof(f), T0);
	assert_int_equal(drops(fx, PROTO_DROP_ARP_BAD_SENDER), 3);
	assert_int_equal(fx->stk->neigh.count, 0);
}

static void test_arp_probe_for_us_answered_to_sender(void **state)
{
	struct l2fx *fx = *state;
	uint8_t f[sizeof(l2v_arp_request_in)];
	struct arp_info a;

	memcpy(f, l2v_arp_request_in, sizeof(f));
	memset(f + ETH_HLEN + 14, 0, 4);   /* RFC 5227 probe: sender address 0 */
	txq_clear(fx->stk);
	inject(fx, f, sizeof(f), T0);
	assert_int_equal(fx->stk->txq.n, 1);
	assert_memory_equal(pkb_data(fx->stk->txq.pkb[0]), peer_mac, 6);
	assert_int_equal(arp_parse(pkb_data(fx->stk->txq.pkb[0]) + ETH_HLEN, ARP_HLEN, &a), 0);
	assert_int_equal(a.op, ARP_OP_REPLY);
	assert_int_equal(a.spa, L2V_OUR_IP);
	assert_int_equal(a.tpa, 0);
	assert_int_equal(fx->stk->neigh.count, 0);
}

static void test_arp_request_from_off_link_answered_not_learned(void **state)
{
	struct l2fx *fx = *state;
	uint8_t f[sizeof(l2v_arp_request_in)];

	memcpy(f, l2v_arp_request_in, sizeof(f));
	f[ETH_HLEN + 14] = 192, f[ETH_HLEN + 15] = 0, f[ETH_HLEN + 16] = 2;   /* 192.0.2.1 */
	txq_clear(fx->stk);
	inject(fx, f, sizeof(f), T0);
	assert_int_equal(fx->stk->txq.n, 1);   /* answered, as Linux does */
	assert_int_equal(fx->stk->neigh.count, 0);
}

static void test_arp_malformed_dropped(void **state)
{
	struct l2fx *fx = *state;

	inject(fx, l2v_arp_request_in, ETH_HLEN + ARP_HLEN - 1, T0);
	assert_int_equal(drops(fx, PROTO_DROP_ARP_MALFORMED), 1);
}

static void test_arp_input_random_garbage_never_crashes(void **state)
{
	struct l2fx *fx = *state;
	uint8_t f[ETH_HLEN + 40];

	srand(22);
	for (unsigned k = 0; k < 20000; k++) {
		size_t len = ETH_HLEN + (size_t)(rand() % 41);

		memcpy(f, l2v_arp_request_in, ETH_HLEN);
		for (size_t i = ETH_HLEN; i < len; i++)
			f[i] = (uint8_t)rand();
		if (k % 2 && len >= ETH_HLEN + 8)   /* valid header half of the time */
			memcpy(f + ETH_HLEN, l2v_arp_request_in + ETH_HLEN, 8);
		if (k % 4 == 1 && len >= ETH_HLEN + ARP_HLEN)   /* and aimed at us */
			memcpy(f + ETH_HLEN + 24, l2v_arp_request_in + ETH_HLEN + 24, 4);
		inject(fx, f, len, T0 + k * 10000000ull);
		stack_timers(fx->stk, T0 + k * 10000000ull);
		txq_clear(fx->stk);
	}
	assert_int_equal(fx->stk->stats.cnt[PROTO_CNT_ARP_IN], 20000);
}

/* ----------------------------------------------------- neighbour states */

static void test_neigh_reply_confirms_and_sends_queue(void **state)
{
	struct l2fx *fx = *state;
	struct stack *stk = fx->stk;

	txq_clear(stk);
	send_to(fx, L2V_PEER_IP, T0);
	send_to(fx, L2V_PEER_IP, T0 + 1);
	assert_int_equal(stk->txq.n, 1);   /* one request for both */
	assert_int_equal(peer(fx)->nqueued, 2);
	txq_clear(stk);
	inject(fx, l2v_arp_reply_in, sizeof(l2v_arp_reply_in), T0 + 2);
	assert_int_equal(peer(fx)->state, NEIGH_REACHABLE);
	assert_int_equal(peer(fx)->nqueued, 0);
	assert_int_equal(stk->neigh.queued, 0);
	assert_int_equal(stk->txq.n, 2);
	send_to(fx, L2V_PEER_IP, T0 + 3);   /* resolved: goes straight out */
	assert_int_equal(stk->txq.n, 3);
}

static void test_neigh_incomplete_retries_then_fails(void **state)
{
	struct l2fx *fx = *state;
	struct stack *stk = fx->stk;

	txq_clear(stk);
	send_to(fx, L2V_PEER_IP, T0);
	send_to(fx, L2V_PEER_IP, T0);
	assert_int_equal(neigh_next_deadline(&stk->neigh), T0 + SEC);
	stack_timers(stk, T0 + SEC - 1);   /* not yet */
	assert_int_equal(requests_for(stk, L2V_PEER_IP), 1);
	stack_timers(stk, T0 + SEC);
	stack_timers(stk, T0 + 2 * SEC);
	assert_int_equal(requests_for(stk, L2V_PEER_IP), 3);
	assert_int_equal(peer(fx)->state, NEIGH_INCOMPLETE);
	stack_timers(stk, T0 + 3 * SEC);   /* three unanswered: give up */
	assert_int_equal(requests_for(stk, L2V_PEER_IP), 3);
	assert_int_equal(peer(fx)->state, NEIGH_FAILED);
	assert_int_equal(drops(fx, PROTO_DROP_NEIGH_FAILED), 2);
	assert_int_equal(stk->neigh.queued, 0);
	send_to(fx, L2V_PEER_IP, T0 + 3 * SEC + 1);   /* held: dropped at once, no request */
	assert_int_equal(drops(fx, PROTO_DROP_NEIGH_FAILED), 3);
	assert_int_equal(requests_for(stk, L2V_PEER_IP), 3);
	stack_timers(stk, T0 + 4 * SEC);   /* hold over: forgotten */
	assert_null(peer(fx));
	send_to(fx, L2V_PEER_IP, T0 + 5 * SEC);
	assert_int_equal(requests_for(stk, L2V_PEER_IP), 4);
}

static void test_neigh_queue_full_drops_counted(void **state)
{
	struct l2fx *fx = *state;
	struct stack *stk = fx->stk;

	for (unsigned i = 0; i < NEIGH_QUEUE_PER_ENTRY + 2; i++)
		send_to(fx, L2V_PEER_IP, T0);
	assert_int_equal(peer(fx)->nqueued, NEIGH_QUEUE_PER_ENTRY);
	assert_int_equal(drops(fx, PROTO_DROP_NEIGH_QUEUE_FULL), 2);
	/* the table-wide bound: many destinations, three packets each */
	for (uint32_t h = 10; h < 40; h++) {
		for (unsigned i = 0; i < NEIGH_QUEUE_PER_ENTRY; i++)
			send_to(fx, IPV4_ADDR(10, 0, 0, h), T0);
		txq_clear(stk);
	}
	assert_int_equal(stk->neigh.queued, NEIGH_QUEUE_TOTAL);
	assert_int_equal(drops(fx, PROTO_DROP_NEIGH_QUEUE_FULL),
			 2 + 31 * NEIGH_QUEUE_PER_ENTRY - NEIGH_QUEUE_TOTAL);
}

static void test_neigh_reachable_goes_stale_then_probes_on_use(void **state)
{
	struct l2fx *fx = *state;
	struct stack *stk = fx->stk;
	struct arp_info a;
	const uint8_t *f;

	assert_int_equal(neigh_update(stk, L2V_PEER_IP, peer_mac,
				      NEIGH_F_CREATE | NEIGH_F_CONFIRMED, T0), 0);
	stack_timers(stk, T0 + 30 * SEC - 1);
	assert_int_equal(peer(fx)->state, NEIGH_REACHABLE);
	stack_timers(stk, T0 + 30 * SEC);
	assert_int_equal(peer(fx)->state, NEIGH_STALE);
	txq_clear(stk);
	send_to(fx, L2V_PEER_IP, T0 + 31 * SEC);
	assert_int_equal(peer(fx)->state, NEIGH_PROBE);
	assert_int_equal(stk->txq.n, 2);   /* the unicast probe, then the packet */
	f = pkb_data(stk->txq.pkb[0]);
	assert_memory_equal(f, peer_mac, 6);   /* RFC 1122 2.3.2.1: unicast */
	assert_int_equal(arp_parse(f + ETH_HLEN, ARP_HLEN, &a), 0);
	assert_int_equal(a.tpa, L2V_PEER_IP);
	assert_memory_equal(pkb_data(stk->txq.pkb[1]), peer_mac, 6);
	inject(fx, l2v_arp_reply_in, sizeof(l2v_arp_reply_in), T0 + 31 * SEC + 1000);
	assert_int_equal(peer(fx)->state, NEIGH_REACHABLE);
}

static void test_neigh_probe_unanswered_fails(void **state)
{
	struct l2fx *fx = *state;
	struct stack *stk = fx->stk;

	assert_int_equal(neigh_update(stk, L2V_PEER_IP, peer_mac, NEIGH_F_CREATE, T0), 0);
	assert_int_equal(peer(fx)->state, NEIGH_STALE);
	txq_clear(stk);
	send_to(fx, L2V_PEER_IP, T0 + SEC);
	stack_timers(stk, T0 + 2 * SEC);
	stack_timers(stk, T0 + 3 * SEC);
	assert_int_equal(requests_for(stk, L2V_PEER_IP), NEIGH_MAX_PROBES);
	assert_int_equal(peer(fx)->state, NEIGH_PROBE);
	stack_timers(stk, T0 + 4 * SEC);
	assert_int_equal(peer(fx)->state, NEIGH_FAILED);
}

static void test_neigh_stale_unused_is_freed(void **state)
{
	struct l2fx *fx = *state;
	struct stack *stk = fx->stk;

	assert_int_equal(neigh_update(stk, L2V_PEER_IP, peer_mac,
				      NEIGH_F_CREATE | NEIGH_F_CONFIRMED, T0), 0);
	stack_timers(stk, T0 + 30 * SEC);
	stack_timers(stk, T0 + 90 * SEC - 1);
	assert_non_null(peer(fx));
	stack_timers(stk, T0 + 90 * SEC);
	assert_null(peer(fx));
	assert_int_equal(stk->neigh.count, 0);
	assert_int_equal(neigh_next_deadline(&stk->neigh), UINT64_MAX);
}

static void test_neigh_update_absent_without_create_is_enoent(void **state)
{
	struct l2fx *fx = *state;

	assert_int_equal(neigh_update(fx->stk, L2V_PEER_IP, peer_mac, 0, T0), -ENOENT);
	assert_null(peer(fx));
}

static void test_neigh_table_full_drops_counted(void **state)
{
	struct l2fx *fx = *state;
	struct stack *stk = fx->stk;
	uint32_t h = 0;

	/* fill with INCOMPLETE entries, which may not be evicted */
	while (stk->neigh.count < NEIGH_TABLE_SIZE / 4 * 3) {
		send_to(fx, IPV4_ADDR(10, 0, 1, 0) + h++, T0);
		txq_clear(stk);
		assert_true(h < NEIGH_TABLE_SIZE);
	}
	send_to(fx, IPV4_ADDR(10, 0, 2, 1), T0);
	assert_int_equal(drops(fx, PROTO_DROP_NEIGH_TABLE_FULL), 1);
	assert_null(neigh_lookup(&stk->neigh, IPV4_ADDR(10, 0, 2, 1)));
	/* once some have failed and their hold is over, there is room again */
	for (uint64_t t = 1; t <= 4; t++) {
		stack_timers(stk, T0 + t * SEC);
		txq_clear(stk);
	}
	assert_int_equal(stk->neigh.count, 0);
	send_to(fx, IPV4_ADDR(10, 0, 2, 1), T0 + 5 * SEC);
	assert_non_null(neigh_lookup(&stk->neigh, IPV4_ADDR(10, 0, 2, 1)));
}

static void test_neigh_full_table_evicts_stale(void **state)
{
	struct l2fx *fx = *state;
	struct stack *stk = fx->stk;

	for (uint32_t h = 0; h < NEIGH_TABLE_SIZE / 4 * 3; h++)
		assert_int_equal(neigh_update(stk, IPV4_ADDR(10, 0, 1, 0) + h, peer_mac,
					      NEIGH_F_CREATE, T0), 0);
	assert_int_equal(neigh_update(stk, IPV4_ADDR(10, 0, 2, 1), peer_mac,
				      NEIGH_F_CREATE, T0), 0);
	assert_int_equal(stk->neigh.count, NEIGH_TABLE_SIZE / 4 * 3);
	assert_int_equal(drops(fx, PROTO_DROP_NEIGH_TABLE_FULL), 0);
}

/* Slot of ip's entry in an otherwise empty table: its hash home. */
static long home_of(struct stack *stk, uint32_t ip)
{
	long slot;

	assert_int_equal(neigh_update(stk, ip, peer_mac, NEIGH_F_CREATE, T0), 0);
	slot = neigh_lookup(&stk->neigh, ip) - stk->neigh.e;
	neigh_flush(stk);
	return slot;
}

static void test_neigh_removal_shifts_waiting_entry_once(void **state)
{
	struct l2fx *fx = *state;
	struct stack *stk = fx->stk;
	uint32_t x = IPV4_ADDR(10, 0, 0, 50), y = x;
	long h = home_of(stk, x);

	for (uint32_t k = 1; k < 100000 && y == x; k++) {   /* a y that collides with x */
		if (home_of(stk, IPV4_ADDR(10, 1, 0, 0) + k) == h)
			y = IPV4_ADDR(10, 1, 0, 0) + k;
	}
	assert_int_not_equal(y, x);
	assert_int_equal(neigh_update(stk, x, peer_mac, NEIGH_F_CREATE, T0), 0);   /* STALE */
	send_to(fx, y, T0 + 59 * SEC);   /* INCOMPLETE, one packet waiting, behind x */
	assert_int_equal(neigh_lookup(&stk->neigh, y) - stk->neigh.e, (h + 1) % NEIGH_TABLE_SIZE);
	stack_timers(stk, T0 + 60 * SEC);   /* x is freed, y moves up to its home */
	assert_null(neigh_lookup(&stk->neigh, x));
	assert_int_equal(neigh_lookup(&stk->neigh, y) - stk->neigh.e, h);
	assert_int_equal(neigh_lookup(&stk->neigh, y)->nqueued, 1);
	assert_int_equal(stk->neigh.queued, 1);
	/* teardown's neigh_flush must drop the waiting packet exactly once */
}

/* Random adds and expiries against an oracle: the open-addressing table with
 * backward-shift deletion must never lose or invent an entry. */
static void test_neigh_table_matches_oracle(void **state)
{
	struct l2fx *fx = *state;
	struct stack *stk = fx->stk;
	enum { NIP = 150 };
	uint32_t ip[NIP];
	uint64_t last[NIP] = { 0 }, now = T0;

	srand(23);
	for (unsigned i = 0; i < NIP; i++)
		ip[i] = IPV4_ADDR(10, 1, 0, 0) + (uint32_t)(rand() % 65536) * NIP + i;  /* distinct */
	for (unsigned step = 0; step < 3000; step++) {
		unsigned i = (unsigned)rand() % NIP;

		now += (uint64_t)(rand() % 1000) * 1000000ull;   /* up to 1 s: ~100 live entries */
		stack_timers(stk, now);
		assert_int_equal(neigh_update(stk, ip[i], peer_mac, NEIGH_F_CREATE, now), 0);
		last[i] = now;
		for (unsigned j = 0; j < NIP; j++) {
			bool want = last[j] && now < last[j] + NEIGH_STALE_GC_NS;
			const struct neigh_entry *e = neigh_lookup(&stk->neigh, ip[j]);

			if (want != (e != NULL))
				fail_msg("step %u: entry %u %s", step, j, want ? "lost" : "invented");
		}
	}
}

#define FX(fn, su) cmocka_unit_test_setup_teardown(fn, su, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arp_parse_scapy_request),
		cmocka_unit_test(test_arp_parse_rejects_short_and_foreign),
		cmocka_unit_test(test_arp_parse_random_garbage_never_reads_past_len),
		FX(test_arp_start_sends_gratuitous_like_scapy, setup),
		FX(test_arp_request_for_us_replies_like_scapy, setup),
		FX(test_arp_vlan_request_for_us_replies_tagged, setup_vlan),
		FX(test_arp_request_for_other_is_not_learned, setup),
		FX(test_arp_gratuitous_updates_known_entry_only, setup),
		FX(test_arp_bad_sender_dropped, setup),
		FX(test_arp_probe_for_us_answered_to_sender, setup),
		FX(test_arp_request_from_off_link_answered_not_learned, setup),
		FX(test_arp_malformed_dropped, setup),
		FX(test_arp_input_random_garbage_never_crashes, setup),
		FX(test_neigh_reply_confirms_and_sends_queue, setup),
		FX(test_neigh_incomplete_retries_then_fails, setup),
		FX(test_neigh_queue_full_drops_counted, setup),
		FX(test_neigh_reachable_goes_stale_then_probes_on_use, setup),
		FX(test_neigh_probe_unanswered_fails, setup),
		FX(test_neigh_stale_unused_is_freed, setup),
		FX(test_neigh_update_absent_without_create_is_enoent, setup),
		FX(test_neigh_table_full_drops_counted, setup),
		FX(test_neigh_full_table_evicts_stale, setup),
		FX(test_neigh_removal_shifts_waiting_entry_once, setup),
		FX(test_neigh_table_matches_oracle, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
