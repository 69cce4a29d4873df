/* tests/unit/test_tcp_isn.c — SipHash-2-4, RFC 6528 ISNs and SYN cookies
 * (proto/siphash.h, proto/tcp/tcp_isn.h).
 *
 * SipHash against the 64 reference outputs published with the paper (key
 * 00..0f, message 00..len-1); ISNs for the 4 us clock and key/tuple
 * dependence; cookies for every MSS class, the two-count window, forgery
 * and tampering; the timestamp encoding of window scale and SACK.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proto/siphash.h"
#include "proto/tcp/tcp_isn.h"
#include "tests/support/netsim.h"

#define SEC 1000000000ull

/* SipHash-2-4 outputs for key 00 01 .. 0f and messages 00 01 .. (i-1),
 * i = 0 .. 63, as little-endian words (vectors.h of the reference code;
 * entry 15 is the paper's appendix A example, a129ca6149be45e5). */
static const uint64_t sip24_vectors[64] = {
	0x726fdb47dd0e0e31ull, 0x74f839c593dc67fdull, 0x0d6c8009d9a94f5aull,
	0x85676696d7fb7e2dull, 0xcf2794e0277187b7ull, 0x18765564cd99a68dull,
	0xcbc9466e58fee3ceull, 0xab0200f58b01d137ull, 0x93f5f5799a932462ull,
	0x9e0082df0ba9e4b0ull, 0x7a5dbbc594ddb9f3ull, 0xf4b32f46226bada7ull,
	0x751e8fbc860ee5fbull, 0x14ea5627c0843d90ull, 0xf723ca908e7af2eeull,
	0xa129ca6149be45e5ull, 0x3f2acc7f57c29bdbull, 0x699ae9f52cbe4794ull,
	0x4bc1b3f0968dd39cull, 0xbb6dc91da77961bdull, 0xbed65cf21aa2ee98ull,
	0xd0f2cbb02e3b67c7ull, 0x93536795e3a33e88ull, 0xa80c038ccd5ccec8ull,
	0xb8ad50c6f649af94ull, 0xbce192de8a85b8eaull, 0x17d835b85bbb15f3ull,
	0x2f2e6163076bcfadull, 0xde4daaaca71dc9a5ull, 0xa6a2506687956571ull,
	0xad87a3535c49ef28ull, 0x32d892fad841c342ull, 0x7127512f72f27cceull,
	0xa7f32346f95978e3ull, 0x12e0b01abb051238ull, 0x15e034d40fa197aeull,
	0x314dffbe0815a3b4ull, 0x027990f029623981ull, 0xcadcd4e59ef40c4dull,
	0x9abfd8766a33735cull, 0x0e3ea96b5304a7d0ull, 0xad0c42d6fc585992ull,
	0x187306c89bc215a9ull, 0xd4a60abcf3792b95ull, 0xf935451de4f21df2ull,
	0xa9538f0419755787ull, 0xdb9acddff56ca510ull, 0xd06c98cd5c0975ebull,
	0xe612a3cb9ecba951ull, 0xc766e62cfcadaf96ull, 0xee64435a9752fe72ull,
	0xa192d576b245165aull, 0x0a8787bf8ecb74b2ull, 0x81b3e73d20b49b6full,
	0x7fa8220ba3b2eceaull, 0x245731c13ca42499ull, 0xb78dbfaf3a8d83bdull,
	0xea1ad565322a1a0bull, 0x60e61c23a3795013ull, 0x6606d7e446282b93ull,
	0x6ca4ecb15c5f91e1ull, 0x9f626da15c9625f3ull, 0xe51b38608ef25f57ull,
	0x958a324ceb064572ull,
};

static const uint64_t test_key[2] = { 0x0123456789abcdefull, 0xfedcba9876543210ull };
static const struct tcp_isn_tuple tuple = { 0x0a000001, 0x0a000002, 80, 40000 };

static void test_siphash_reference_vectors(void **state)
{
	uint8_t kb[16], msg[64];
	uint64_t key[2];

	(void)state;
	for (int i = 0; i < 16; i++)
		kb[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	siphash_key_from_bytes(key, kb);
	assert_int_equal(key[0], 0x0706050403020100ull);
	assert_int_equal(key[1], 0x0f0e0d0c0b0a0908ull);
	for (int len = 0; len < 64; len++)
		assert_int_equal(siphash24(key, msg, (size_t)len), sip24_vectors[len]);
}

static void test_siphash_unaligned_input_same_result(void **state)
{
	uint8_t buf[80], kb[16] = { 0 };
	uint64_t key[2];

	(void)state;
	siphash_key_from_bytes(key, kb);
	for (int i = 0; i < 80; i++)
		buf[i] = (uint8_t)(i * 7);
	for (int off = 1; off < 8; off++) {
		uint8_t copy[72];

		for (int i = 0; i < 64; i++)
			copy[i] = buf[off + i];
		assert_int_equal(siphash24(key, buf + off, 64), siphash24(key, copy, 64));
	}
}

static void test_isn_clock_ticks_every_4us(void **state)
{
	uint64_t now = 12345 * SEC;
	uint32_t a = tcp_isn(test_key, &tuple, now);

	(void)state;
	assert_int_equal(tcp_isn(test_key, &tuple, now + 3999), a);
	assert_int_equal(tcp_isn(test_key, &tuple, now + 4000), a + 1);
	/* one second is 250000 ticks (RFC 6528 section 3's 4 us timer) */
	assert_int_equal((uint32_t)(tcp_isn(test_key, &tuple, now + SEC) - a), 250000);
}

static void test_isn_depends_on_tuple_and_key(void **state)
{
	uint64_t other_key[2] = { test_key[0], test_key[1] ^ 1 };
	struct tcp_isn_tuple t = tuple;
	uint32_t a = tcp_isn(test_key, &tuple, 0);

	(void)state;
	assert_int_not_equal(tcp_isn(other_key, &tuple, 0), a);
	t.rport++;
	assert_int_not_equal(tcp_isn(test_key, &t, 0), a);
	t = tuple;
	t.laddr = tuple.raddr;   /* swapping ends gives another connection */
	t.raddr = tuple.laddr;
	assert_int_not_equal(tcp_isn(test_key, &t, 0), a);
}

static void test_syncookie_roundtrip_every_mss_class(void **state)
{
	static const struct { uint16_t peer, want; } cases[] = {
		{ 100, 536 }, { 536, 536 }, { 1299, 536 }, { 1300, 1300 },
		{ 1439, 1300 }, { 1440, 1440 }, { 1460, 1460 }, { 9000, 1460 },
	};
	uint64_t now = 1000 * SEC;

	(void)state;
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint16_t mss = 0;
		uint32_t c = tcp_syncookie_make(test_key, &tuple, 0xdeadbeef + i,
						cases[i].peer, now, &mss);

		assert_int_equal(mss, cases[i].want);
		assert_int_equal(tcp_syncookie_check(test_key, &tuple, 0xdeadbeef + i, c, now + SEC),
				 cases[i].want);
	}
}

static void test_syncookie_window_is_two_counts(void **state)
{
	uint64_t made = 64 * SEC * 100;   /* the start of a count period */
	uint32_t c = tcp_syncookie_make(test_key, &tuple, 7, 1460, made, NULL);

	(void)state;
	assert_int_equal(tcp_syncookie_check(test_key, &tuple, 7, c, made), 1460);
	assert_int_equal(tcp_syncookie_check(test_key, &tuple, 7, c, made + 64 * SEC - 1), 1460);
	assert_int_equal(tcp_syncookie_check(test_key, &tuple, 7, c, made + 128 * SEC - 1), 1460);
	assert_int_equal(tcp_syncookie_check(test_key, &tuple, 7, c, made + 128 * SEC), -EACCES);
	/* a cookie "from the future" (clock went back a count) is not ours either */
	assert_int_equal(tcp_syncookie_check(test_key, &tuple, 7, c, made - 1), -EACCES);
}

static void test_syncookie_wrong_tuple_isn_or_key_refused(void **state)
{
	uint64_t now = 5000 * SEC, other_key[2] = { 1, 2 };
	uint32_t c = tcp_syncookie_make(test_key, &tuple, 99, 1460, now, NULL);
	struct tcp_isn_tuple t = tuple;

	(void)state;
	t.rport ^= 1;
	assert_int_equal(tcp_syncookie_check(test_key, &t, 99, c, now), -EACCES);
	assert_int_equal(tcp_syncookie_check(test_key, &tuple, 98, c, now), -EACCES);
	assert_int_equal(tcp_syncookie_check(other_key, &tuple, 99, c, now), -EACCES);
	/* flipping any bit above the two MSS-index bits breaks the cookie */
	for (int bit = 2; bit < 32; bit++)
		assert_int_equal(tcp_syncookie_check(test_key, &tuple, 99, c ^ (1u << bit), now),
				 -EACCES);
}

static void test_syncookie_random_forgeries_refused(void **state)
{
	struct netsim_rng r;
	uint64_t now = 777 * SEC;
	unsigned accepted = 0;

	(void)state;
	netsim_rng_seed(&r, 6528);
	for (int i = 0; i < 200000; i++)
		accepted += tcp_syncookie_check(test_key, &tuple, (uint32_t)netsim_rng_next(&r),
						(uint32_t)netsim_rng_next(&r), now) > 0;
	/* a guess passes with probability 2/256 * 4/2^24: about 4e-9 */
	assert_int_equal(accepted, 0);
}

static void test_syncookie_ts_carries_wscale_and_sack(void **state)
{
	static const uint32_t nows[] = { 0x40, 0x12345678, 0xffffffc5, 0x1000003f, 0x7 };

	(void)state;
	for (unsigned n = 0; n < sizeof(nows) / sizeof(nows[0]); n++) {
		for (unsigned ws = 0; ws <= 15; ws++) {
			for (int sack = 0; sack <= 1; sack++) {
				uint32_t ts = tcp_syncookie_ts(nows[n], (uint8_t)ws, sack);
				struct tcp_syncookie_opts o;

				/* never ahead of the clock, at most 63 ticks behind */
				assert_true((uint32_t)(nows[n] - ts) < 64);
				assert_int_equal(tcp_syncookie_ts_decode(ts, &o), 0);
				assert_int_equal(o.wscale, ws == 15 ? TCP_SYNCOOKIE_NO_WSCALE : ws);
				assert_int_equal(o.sack, sack);
			}
		}
	}
}

static void test_syncookie_ts_clamps_and_refuses(void **state)
{
	struct tcp_syncookie_opts o;

	(void)state;
	assert_int_equal(tcp_syncookie_ts_decode(tcp_syncookie_ts(1000, 20, false), &o), 0);
	assert_int_equal(o.wscale, 14);                     /* RFC 7323 2.3 */
	assert_int_equal(tcp_syncookie_ts_decode(1u << 5, &o), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_reference_vectors),
		cmocka_unit_test(test_siphash_unaligned_input_same_result),
		cmocka_unit_test(test_isn_clock_ticks_every_4us),
		cmocka_unit_test(test_isn_depends_on_tuple_and_key),
		cmocka_unit_test(test_syncookie_roundtrip_every_mss_class),
		cmocka_unit_test(test_syncookie_window_is_two_counts),
		cmocka_unit_test(test_syncookie_wrong_tuple_isn_or_key_refused),
		cmocka_unit_test(test_syncookie_random_forgeries_refused),
		cmocka_unit_test(test_syncookie_ts_carries_wscale_and_sack),
		cmocka_unit_test(test_syncookie_ts_clamps_and_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
