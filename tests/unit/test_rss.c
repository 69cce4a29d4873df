/* tests/unit/test_rss.c — nicd's software RSS (shm/rss.h) against the
 * verification vectors of Microsoft's RSS specification (also the Intel
 * 82599 datasheet, 7.1.2.8.3): five IPv4 flows with the standard key, each
 * hashed over the 2-tuple (addresses) and the 4-tuple (addresses, ports).
 * Both the bit-by-bit definition and the table form nicd runs must agree
 * with the published values, and the frame parser must pick the right tuple
 * out of real Ethernet frames. Last, the classification that sends ARP and
 * L2 broadcast/multicast to every queue instead of one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "shm/rss.h"

struct vec {
	uint8_t src[4], dst[4];
	uint16_t sport, dport;
	uint32_t h2, h4;
};

/* Destination and source as the specification lists them; input order is
 * source address, destination address, source port, destination port. */
static const struct vec vecs[] = {
	{ { 66, 9, 149, 187 }, { 161, 142, 100, 80 }, 2794, 1766, 0x323e8fc2, 0x51ccc178 },
	{ { 199, 92, 111, 2 }, { 65, 69, 140, 83 }, 14230, 4739, 0xd718262a, 0xc626b0ea },
	{ { 24, 19, 198, 95 }, { 12, 22, 207, 184 }, 12898, 38024, 0xd2d0a5de, 0x5c2b394a },
	{ { 38, 27, 205, 30 }, { 209, 142, 163, 6 }, 48228, 2217, 0x82989176, 0xafc7327f },
	{ { 153, 39, 163, 191 }, { 202, 188, 127, 2 }, 44251, 1303, 0x5d1809c5, 0x10e828a2 },
};
#define NVEC (sizeof(vecs) / sizeof(vecs[0]))

static void tuple_of(const struct vec *v, uint8_t *t)
{
	memcpy(t, v->src, 4);
	memcpy(t + 4, v->dst, 4);
	t[8] = (uint8_t)(v->sport >> 8);
	t[9] = (uint8_t)v->sport;
	t[10] = (uint8_t)(v->dport >> 8);
	t[11] = (uint8_t)v->dport;
}

/* An Ethernet + IPv4 frame of the vector's flow, protocol proto. */
static size_t frame_of(const struct vec *v, uint8_t proto, uint8_t *f)
{
	memset(f, 0, 64);
	f[12] = 0x08;
	f[14] = 0x45;
	f[14 + 9] = proto;
	memcpy(f + 14 + 12, v->src, 4);
	memcpy(f + 14 + 16, v->dst, 4);
	f[34] = (uint8_t)(v->sport >> 8);
	f[35] = (uint8_t)v->sport;
	f[36] = (uint8_t)(v->dport >> 8);
	f[37] = (uint8_t)v->dport;
	return 60;
}

static void test_toeplitz_reference_vectors(void **state)
{
	uint8_t t[RSS_TUPLE_MAX];

	(void)state;
	for (size_t i = 0; i < NVEC; i++) {
		tuple_of(&vecs[i], t);
		assert_int_equal(rss_toeplitz(rss_default_key, t, 8), vecs[i].h2);
		assert_int_equal(rss_toeplitz(rss_default_key, t, 12), vecs[i].h4);
	}
}

static void test_toeplitz_table_vectors(void **state)
{
	struct rss_table *tbl = malloc(sizeof(*tbl));
	uint8_t t[RSS_TUPLE_MAX];

	(void)state;
	assert_non_null(tbl);
	rss_table_init(tbl, rss_default_key);
	for (size_t i = 0; i < NVEC; i++) {
		tuple_of(&vecs[i], t);
		assert_int_equal(rss_table_hash(tbl, t, 8), vecs[i].h2);
		assert_int_equal(rss_table_hash(tbl, t, 12), vecs[i].h4);
	}
	free(tbl);
}

static void test_frame_tcp_udp_hash_4tuple(void **state)
{
	struct rss_table *tbl = malloc(sizeof(*tbl));
	uint8_t f[64];

	(void)state;
	assert_non_null(tbl);
	rss_table_init(tbl, rss_default_key);
	for (size_t i = 0; i < NVEC; i++) {
		size_t len = frame_of(&vecs[i], 6, f);

		assert_int_equal(rss_frame_hash(tbl, f, len), vecs[i].h4);
		len = frame_of(&vecs[i], 17, f);
		assert_int_equal(rss_frame_hash(tbl, f, len), vecs[i].h4);
		/* ICMP: addresses only */
		len = frame_of(&vecs[i], 1, f);
		assert_int_equal(rss_frame_hash(tbl, f, len), vecs[i].h2);
	}
	free(tbl);
}

/* netd picks connect ports with rss_flow_queue: it must name the queue nicd
 * gives the flow's frames, for every queue count. */
static void test_flow_queue_matches_frames(void **state)
{
	struct rss_table *tbl = malloc(sizeof(*tbl));
	uint8_t f[64];

	(void)state;
	assert_non_null(tbl);
	rss_table_init(tbl, rss_default_key);
	for (size_t i = 0; i < NVEC; i++) {
		const struct vec *v = &vecs[i];
		uint32_t s = (uint32_t)v->src[0] << 24 | v->src[1] << 16 | v->src[2] << 8 | v->src[3];
		uint32_t d = (uint32_t)v->dst[0] << 24 | v->dst[1] << 16 | v->dst[2] << 8 | v->dst[3];
		size_t len = frame_of(v, 6, f);

		for (unsigned nq = 1; nq <= 8; nq++)
			assert_int_equal(rss_flow_queue(tbl, s, d, v->sport, v->dport, nq),
					 rss_queue(rss_frame_hash(tbl, f, len), nq));
	}
	free(tbl);
}

static void test_frame_fragment_vlan_and_short(void **state)
{
	struct rss_table *tbl = malloc(sizeof(*tbl));
	uint8_t f[80], t[RSS_TUPLE_MAX];
	size_t len;

	(void)state;
	assert_non_null(tbl);
	rss_table_init(tbl, rss_default_key);
	/* a non-first fragment has no ports: 2-tuple */
	len = frame_of(&vecs[0], 17, f);
	f[14 + 7] = 0x10;
	assert_int_equal(rss_frame_hash(tbl, f, len), vecs[0].h2);
	/* one 802.1Q tag is looked through */
	len = frame_of(&vecs[1], 6, f);
	memmove(f + 16, f + 12, len - 12);
	f[12] = 0x81;
	f[13] = 0x00;
	f[14] = 0x00;
	f[15] = 0x05;
	assert_int_equal(rss_frame_hash(tbl, f, len + 4), vecs[1].h4);
	/* ARP, and frames cut short, hash to 0 (queue 0) */
	memset(f, 0, sizeof(f));
	f[12] = 0x08;
	f[13] = 0x06;
	assert_int_equal(rss_frame_tuple(f, 42, t), 0);
	len = frame_of(&vecs[2], 6, f);
	assert_int_equal(rss_frame_tuple(f, 30, t), 0);
	assert_int_equal(rss_frame_tuple(f, 36, t), 8);    /* header whole, ports cut */
	free(tbl);
}

static void test_queue_spreads_reta(void **state)
{
	unsigned count[4] = { 0 };

	(void)state;
	for (uint32_t h = 0; h < 128; h++)
		count[rss_queue(((h * 0x9e3779b9u) & ~0x7fu) | h, 4)]++;
	for (unsigned q = 0; q < 4; q++)
		assert_int_equal(count[q], 32);
	assert_int_equal(rss_queue(0x51ccc178, 1), 0);
}

/* Classification: what nicd gives to every queue instead of steering. */
static void test_to_all_arp_whatever_destination(void **state)
{
	uint8_t f[64];

	(void)state;
	memset(f, 0, sizeof(f));
	f[12] = 0x08;
	f[13] = 0x06;
	memset(f, 0xff, 6);                                /* request: broadcast */
	assert_true(rss_frame_to_all(f, 42));
	memcpy(f, "\x02\x00\x00\x00\x00\x01", 6);        /* reply, unicast probe */
	assert_true(rss_frame_to_all(f, 42));
	memmove(f + 16, f + 12, 30);                       /* behind one 802.1Q tag */
	f[12] = 0x81;
	f[13] = 0x00;
	assert_true(rss_frame_to_all(f, 46));
	assert_false(rss_frame_to_all(f, 17));             /* tag cut: not seen as ARP */
}

static void test_to_all_broadcast_and_multicast(void **state)
{
	uint8_t f[64];
	size_t len = frame_of(&vecs[0], 17, f);

	(void)state;
	memset(f, 0xff, 6);                                /* IPv4 to ff:ff:ff:ff:ff:ff */
	assert_true(rss_frame_to_all(f, len));
	memcpy(f, "\x01\x00\x5e\x00\x00\xfb", 6);        /* IPv4 multicast (mDNS) */
	assert_true(rss_frame_to_all(f, len));
	memcpy(f, "\x33\x33\x00\x00\x00\x01", 6);        /* IPv6 all-nodes */
	f[12] = 0x86;
	f[13] = 0xdd;
	assert_true(rss_frame_to_all(f, len));
}

static void test_to_all_unicast_is_steered(void **state)
{
	uint8_t f[64];
	size_t len = frame_of(&vecs[0], 6, f);

	(void)state;
	memcpy(f, "\x02\x00\x00\x00\x00\x02", 6);        /* IPv4 unicast: RSS */
	assert_false(rss_frame_to_all(f, len));
	f[12] = 0x86;                                      /* IPv6 unicast: RSS (queue 0) */
	f[13] = 0xdd;
	assert_false(rss_frame_to_all(f, len));
	memset(f, 0xff, 6);
	assert_false(rss_frame_to_all(f, 13));             /* shorter than a header */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_toeplitz_reference_vectors),
		cmocka_unit_test(test_toeplitz_table_vectors),
		cmocka_unit_test(test_frame_tcp_udp_hash_4tuple),
		cmocka_unit_test(test_flow_queue_matches_frames),
		cmocka_unit_test(test_frame_fragment_vlan_and_short),
		cmocka_unit_test(test_queue_spreads_reta),
		cmocka_unit_test(test_to_all_arp_whatever_destination),
		cmocka_unit_test(test_to_all_broadcast_and_multicast),
		cmocka_unit_test(test_to_all_unicast_is_steered),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
