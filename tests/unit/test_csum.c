/* tests/unit/test_csum.c — the Internet checksum (proto/csum.c) against
 * scapy's (tests/vectors/l2_vectors.h), against a plain RFC 1071 loop on
 * random data at every alignment, RFC 1624 updates, the IPv4 pseudo header,
 * and sums over packet-buffer chains with odd segment lengths. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/csum.h"
#include "shm/pkb.h"
#include "tests/support/pkb_fixture.h"
#include "tests/vectors/l2_vectors.h"

#define NCASES (sizeof(l2v_csum_cases) / sizeof(l2v_csum_cases[0]))

static int setup(void **state)
{
	*state = pkb_fixture_new(64, 0);
	return *state != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	struct pkb_fixture *fx = *state;
	uint32_t leaks = pkb_fixture_leaks(fx);

	pkb_fixture_destroy(fx);
	assert_int_equal(leaks, 0);
	return 0;
}

/* RFC 1071 4.1, big-endian words, folded as it goes: the independent
 * reference. Returns the checksum in host order. */
static uint16_t ref_csum(const uint8_t *p, size_t len)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* A checksum as csum_fold stored it, read back in host order. */
static uint16_t stored(uint16_t c)
{
	uint8_t b[2];

	memcpy(b, &c, 2);
	return (uint16_t)(b[0] << 8 | b[1]);
}

static void fill_random(uint8_t *p, size_t len, unsigned seed)
{
	srand(seed);
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)rand();
}

static void test_csum_scapy_vectors_match(void **state)
{
	static uint8_t buf[4096 + 8];

	(void)state;
	for (unsigned i = 0; i < NCASES; i++) {
		const struct l2v_csum_case *c = &l2v_csum_cases[i];
		uint16_t got = inet_csum(l2v_csum_data + c->off, c->len);

		assert_memory_equal(&got, c->csum, 2);
		/* the same bytes at every misalignment */
		for (unsigned shift = 1; shift < 8; shift++) {
			memcpy(buf + shift, l2v_csum_data + c->off, c->len);
			got = inet_csum(buf + shift, c->len);
			assert_memory_equal(&got, c->csum, 2);
		}
	}
}

static void test_csum_random_matches_rfc1071_loop(void **state)
{
	static uint8_t buf[65536 + 8];

	(void)state;
	fill_random(buf, sizeof(buf), 1);
	for (size_t len = 0; len <= 300; len++) {
		for (unsigned off = 0; off < 8; off++)
			assert_int_equal(stored(inet_csum(buf + off, len)), ref_csum(buf + off, len));
	}
	assert_int_equal(stored(inet_csum(buf, 65536)), ref_csum(buf, 65536));
	assert_int_equal(stored(inet_csum(buf + 3, 65535)), ref_csum(buf + 3, 65535));
	memset(buf, 0xff, 65536);   /* worst case for carries */
	assert_int_equal(stored(inet_csum(buf, 65536)), ref_csum(buf, 65536));
}

static void test_csum_partial_even_blocks_chain(void **state)
{
	uint8_t buf[1000];

	(void)state;
	fill_random(buf, sizeof(buf), 2);
	for (size_t cut = 0; cut <= sizeof(buf); cut += 2) {
		uint32_t s = csum_partial(buf, cut, 0);

		s = csum_partial(buf + cut, sizeof(buf) - cut, s);
		assert_int_equal(csum_fold(s), inet_csum(buf, sizeof(buf)));
	}
}

static void test_csum_ip_header_verifies_to_zero(void **state)
{
	uint8_t hdr[20];
	uint16_t c;

	(void)state;
	assert_int_equal(csum_fold(csum_partial(l2v_ip_ttl64, 20, 0)), 0);
	memcpy(hdr, l2v_ip_ttl64, 20);
	memset(hdr + 10, 0, 2);   /* recompute from a zeroed field */
	c = inet_csum(hdr, 20);
	assert_memory_equal(&c, l2v_ip_ttl64 + 10, 2);
}

static void test_csum_update16_ttl_decrement_matches_scapy(void **state)
{
	uint16_t old_word, new_word, csum, got;

	(void)state;
	memcpy(&old_word, l2v_ip_ttl64 + 8, 2);   /* TTL and protocol */
	memcpy(&new_word, l2v_ip_ttl63 + 8, 2);
	memcpy(&csum, l2v_ip_ttl64 + 10, 2);
	got = csum_update16(csum, old_word, new_word);
	assert_memory_equal(&got, l2v_ip_ttl63 + 10, 2);
}

static void test_csum_update16_random_matches_recompute(void **state)
{
	uint8_t hdr[20];

	(void)state;
	srand(3);
	for (unsigned n = 0; n < 10000; n++) {
		unsigned w = 2 * (unsigned)(rand() % 10);
		uint16_t csum, old_word, new_word = (uint16_t)rand(), upd;

		if (w == 10)
			continue;   /* the checksum field itself */
		fill_random(hdr, sizeof(hdr), n + 100);
		memset(hdr + 10, 0, 2);
		csum = inet_csum(hdr, 20);
		memcpy(hdr + 10, &csum, 2);
		memcpy(&old_word, hdr + w, 2);
		memcpy(hdr + w, &new_word, 2);
		upd = csum_update16(csum, old_word, new_word);
		memcpy(hdr + 10, &upd, 2);
		assert_int_equal(csum_fold(csum_partial(hdr, 20, 0)), 0);
		memset(hdr + 10, 0, 2);
		assert_int_equal(upd, inet_csum(hdr, 20));
	}
}

static void test_csum_pseudo_udp_matches_scapy(void **state)
{
	uint8_t seg[sizeof(l2v_udp_seg)];
	uint16_t len = (uint16_t)sizeof(seg), c;
	uint32_t ph = csum_pseudo_ipv4(L2V_PEER_IP, L2V_OUR_IP, 17, len);

	(void)state;
	assert_int_equal(csum_fold(csum_partial(l2v_udp_seg, len, ph)), 0);
	memcpy(seg, l2v_udp_seg, len);
	memset(seg + 6, 0, 2);
	c = csum_fold(csum_partial(seg, len, ph));
	assert_memory_equal(&c, l2v_udp_seg + 6, 2);
}

/* A chain of segments of the given (odd) lengths holding data[0..total). */
static struct pkb *odd_chain(struct pkb_cache *cache, const uint8_t *data,
			     const uint32_t *lens, unsigned nsegs)
{
	struct pkb *head = NULL;
	uint32_t at = 0;

	for (unsigned i = 0; i < nsegs; i++) {
		struct pkb *seg = pkb_alloc(cache);
		uint8_t *p = seg ? pkb_put(seg, lens[i]) : NULL;

		assert_non_null(p);
		memcpy(p, data + at, lens[i]);
		at += lens[i];
		if (head)
			pkb_chain(head, seg);
		else
			head = seg;
	}
	return head;
}

static void test_csum_pkb_odd_segments_match_flat(void **state)
{
	struct pkb_fixture *fx = *state;
	static const uint32_t lens[] = { 1, 3, 5, 2, 7, 1000, 1, 33 };
	uint8_t data[1052];
	struct pkb *b;

	fill_random(data, sizeof(data), 4);
	b = odd_chain(&fx->cache, data, lens, 8);
	assert_int_equal(b->pkt_len, sizeof(data));
	for (uint32_t off = 0; off < 40; off++) {
		for (uint32_t len = 0; off + len <= sizeof(data); len += 13) {
			uint16_t want = inet_csum(data + off, len);

			assert_int_equal(csum_fold(csum_pkb(b, off, len, 0)), want);
		}
	}
	pkb_free(&fx->cache, b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csum_scapy_vectors_match),
		cmocka_unit_test(test_csum_random_matches_rfc1071_loop),
		cmocka_unit_test(test_csum_partial_even_blocks_chain),
		cmocka_unit_test(test_csum_ip_header_verifies_to_zero),
		cmocka_unit_test(test_csum_update16_ttl_decrement_matches_scapy),
		cmocka_unit_test(test_csum_update16_random_matches_recompute),
		cmocka_unit_test(test_csum_pseudo_udp_matches_scapy),
		cmocka_unit_test_setup_teardown(test_csum_pkb_odd_segments_match_flat, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
