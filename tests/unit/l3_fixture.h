/* tests/unit/l3_fixture.h — the fixture test_ipv4, test_reasm, test_icmp and
 * test_udp share: a stack on a heap pkb pool (10.0.0.2/24, gateway 10.0.0.1
 * already resolved), a fake clock, helpers to inject IP packets and to look
 * at what came out (frames on txq, events on evq), and a teardown that frees
 * everything the stack still holds and asserts that no buffer leaked.
 *
 * Header-only (static functions): each test file is its own binary.
 * Include after <cmocka.h>.
 */
#ifndef RINGSTACK_TESTS_L3_FIXTURE_H
#define RINGSTACK_TESTS_L3_FIXTURE_H

#include <stdlib.h>
#include <string.h>

#include "proto/arp.h"
#include "proto/csum.h"
#include "proto/stack.h"
#include "tests/support/pkb_fixture.h"
#include "tests/vectors/l3_vectors.h"

#define L3F_NOW0   1000000000000ull          /* the fake clock starts here */
#define L3F_SLOTS  1024u

static const uint8_t l3f_our_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t l3f_peer_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };

struct l3f {
	struct pkb_fixture pf;
	struct stack *stk;
	uint64_t now;
};

#define L3F_DROPS(fx, name) ((fx)->stk->stats.drop[PROTO_DROP_##name])
#define L3F_COUNT(fx, name) ((fx)->stk->stats.cnt[PROTO_CNT_##name])

/* Free every frame on txq. */
static inline void l3f_drain_txq(struct l3f *fx)
{
	for (uint32_t i = 0; i < fx->stk->txq.n; i++)
		pkb_free(fx->stk->cache, fx->stk->txq.pkb[i]);
	fx->stk->txq.n = 0;
}

/* Free every event's pkb on evq. */
static inline void l3f_drain_evq(struct l3f *fx)
{
	for (uint32_t i = 0; i < fx->stk->evq.n; i++)
		pkb_free(fx->stk->cache, fx->stk->evq.ev[i].pkb);
	fx->stk->evq.n = 0;
}

static int l3f_setup(void **state)
{
	struct l3f *fx = calloc(1, sizeof(*fx));
	struct stack_config cfg = { .addr = L3V_OUR_IP, .prefix_len = 24, .gateway = L3V_PEER_IP,
				    .mtu = 1500, .secret = { 0x0123456789abcdefull, 42 } };

	if (!fx || pkb_fixture_init(&fx->pf, L3F_SLOTS, 0) != 0)
		return -1;
	fx->stk = calloc(1, sizeof(*fx->stk));
	memcpy(cfg.mac, l3f_our_mac, 6);
	fx->now = L3F_NOW0;
	if (!fx->stk || stack_init(fx->stk, &cfg, &fx->pf.cache, fx->now) != 0)
		return -1;
	l3f_drain_txq(fx);       /* the gratuitous ARP */
	neigh_update(fx->stk, L3V_PEER_IP, l3f_peer_mac, NEIGH_F_CREATE | NEIGH_F_CONFIRMED,
		     fx->now);
	*state = fx;
	return 0;
}

static int l3f_teardown(void **state)
{
	struct l3f *fx = *state;
	uint32_t leaks;

	stack_poll_loopback(fx->stk, STACK_LOOP_MAX, fx->now);
	l3f_drain_txq(fx);
	l3f_drain_evq(fx);
	ip_reasm_flush(fx->stk);
	neigh_flush(fx->stk);
	leaks = pkb_fixture_leaks(&fx->pf);
	pkb_fixture_fini(&fx->pf);
	free(fx->stk);
	free(fx);
	assert_int_equal(leaks, 0);
	return 0;
}

/* Hand an IP packet to ipv4_input as if it came from the device. */
static inline void l3f_inject(struct l3f *fx, const void *pkt, uint32_t len)
{
	struct pkb *b = pkb_from_bytes(fx->stk->cache, pkt, len);

	assert_non_null(b);
	b->port = STACK_IF_ETH;
	ipv4_input(fx->stk, b, fx->now);
}

static inline void l3f_inject_frags(struct l3f *fx, const struct l3v_frag *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		l3f_inject(fx, f[i].data, f[i].len);
}

/* Copy a chain's bytes from off into buf (at most cap); returns the count. */
static inline uint32_t l3f_flat(const struct pkb *b, uint32_t off, uint8_t *buf, uint32_t cap)
{
	uint32_t n = b->pkt_len - off;

	assert_true(n <= cap);
	assert_int_equal(pkb_copy_out(b, off, n, buf), 0);
	return n;
}

/* Set an IP header's ID and fix its checksum: our IDs are our own choice. */
static inline void l3f_patch_id(uint8_t *ip, uint16_t id)
{
	uint16_t sum;

	ip[4] = (uint8_t)(id >> 8);
	ip[5] = (uint8_t)id;
	ip[10] = ip[11] = 0;
	sum = inet_csum(ip, (size_t)(ip[0] & 0x0f) * 4);
	memcpy(ip + 10, &sum, 2);
}

/* The txq index of the i-th IPv4 frame (ARP frames, e.g. neighbour probes
 * after the fake clock jumped, are skipped). */
static inline uint32_t l3f_ip_frame(struct l3f *fx, uint32_t i)
{
	for (uint32_t k = 0; k < fx->stk->txq.n; k++) {
		uint8_t eh[14];

		assert_int_equal(pkb_copy_out(fx->stk->txq.pkb[k], 0, 14, eh), 0);
		if ((eh[12] << 8 | eh[13]) == ETH_P_IPV4 && i-- == 0)
			return k;
	}
	fail_msg("no IPv4 frame %u on txq", i);
	return 0;
}

/* Number of IPv4 frames on txq. */
static inline uint32_t l3f_ip_frames(struct l3f *fx)
{
	uint32_t n = 0;

	for (uint32_t k = 0; k < fx->stk->txq.n; k++) {
		uint8_t eh[14];

		assert_int_equal(pkb_copy_out(fx->stk->txq.pkb[k], 0, 14, eh), 0);
		n += (eh[12] << 8 | eh[13]) == ETH_P_IPV4;
	}
	return n;
}

/* The i-th IPv4 frame on txq, from its IP header (Ethernet stripped), ID patched to
 * L3V_OUT_ID, into buf; returns its length. Checks it goes to the peer's MAC
 * (dst) unless dst_mac is NULL. Returns the original ID in *id if asked. */
static inline uint32_t l3f_tx_ip(struct l3f *fx, uint32_t i, uint8_t *buf, uint32_t cap,
				 const uint8_t *dst_mac, uint16_t *id)
{
	uint8_t eh[14];
	uint32_t n;

	i = l3f_ip_frame(fx, i);
	assert_int_equal(pkb_copy_out(fx->stk->txq.pkb[i], 0, 14, eh), 0);
	if (dst_mac)
		assert_memory_equal(eh, dst_mac, 6);
	assert_int_equal(eh[12] << 8 | eh[13], ETH_P_IPV4);
	n = l3f_flat(fx->stk->txq.pkb[i], 14, buf, cap);
	assert_int_equal(inet_csum(buf, (size_t)(buf[0] & 0x0f) * 4), 0);  /* ours was valid */
	if (id)
		*id = (uint16_t)(buf[4] << 8 | buf[5]);
	l3f_patch_id(buf, L3V_OUT_ID);
	return n;
}

/* Assert that frame i on txq is, from its IP header, exactly `want` once our
 * IP ID is replaced by the vector's. */
static inline void l3f_assert_tx(struct l3f *fx, uint32_t i, const uint8_t *want, uint32_t len)
{
	static uint8_t buf[65536];
	uint32_t n = l3f_tx_ip(fx, i, buf, sizeof(buf), NULL, NULL);

	assert_int_equal(n, len);
	assert_memory_equal(buf, want, len);
}

/* The payload of event i as a flat buffer; returns its length. */
static inline uint32_t l3f_ev_payload(struct l3f *fx, uint32_t i, uint8_t *buf, uint32_t cap)
{
	assert_true(i < fx->stk->evq.n);
	assert_non_null(fx->stk->evq.ev[i].pkb);
	return l3f_flat(fx->stk->evq.ev[i].pkb, 0, buf, cap);
}

/* Sum of every drop counter: "nothing else was dropped". */
static inline uint64_t l3f_total_drops(const struct l3f *fx)
{
	uint64_t s = 0;

	for (unsigned i = 0; i < PROTO_DROP_MAX; i++)
		s += fx->stk->stats.drop[i];
	return s;
}

#endif /* RINGSTACK_TESTS_L3_FIXTURE_H */
