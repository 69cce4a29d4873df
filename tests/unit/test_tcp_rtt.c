/* tests/unit/test_tcp_rtt.c — RFC 6298 RTT estimation (proto/tcp/tcp_rtt.h).
 *
 * Expected values are worked by hand from RFC 6298 sections 2 and 5 with
 * G = 1 ms, K = 4, alpha = 1/8, beta = 1/4 and our bounds [200 ms, 120 s].
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proto/tcp/tcp_rtt.h"

#define MS 1000000ull
#define SEC 1000000000ull

static void test_rtt_init_rto_one_second(void **state)
{
	struct tcp_rtt r;

	(void)state;
	tcp_rtt_init(&r, 0);
	assert_int_equal(tcp_rtt_rto(&r), 1 * SEC);       /* 2.1 */
	assert_int_equal(r.srtt, 0);
	tcp_rtt_init(&r, 3 * SEC);
	assert_int_equal(tcp_rtt_rto(&r), 3 * SEC);
}

static void test_rtt_first_sample_sets_srtt_and_half_var(void **state)
{
	struct tcp_rtt r;

	(void)state;
	tcp_rtt_init(&r, 0);
	assert_int_equal(tcp_rtt_sample(&r, 400 * MS, 0), 0);
	/* 2.2: SRTT = R, RTTVAR = R/2, RTO = R + max(G, 4 * R/2) = 3R */
	assert_int_equal(r.srtt, 400 * MS);
	assert_int_equal(r.rttvar, 200 * MS);
	assert_int_equal(tcp_rtt_rto(&r), 1200 * MS);
}

static void test_rtt_second_sample_updates_var_with_old_srtt(void **state)
{
	struct tcp_rtt r;

	(void)state;
	tcp_rtt_init(&r, 0);
	tcp_rtt_sample(&r, 400 * MS, 0);
	tcp_rtt_sample(&r, 800 * MS, 0);
	/* 2.3: RTTVAR = 3/4 * 200 + 1/4 * |400 - 800| = 250 ms,
	 *      SRTT   = 7/8 * 400 + 1/8 * 800       = 450 ms,
	 *      RTO    = 450 + 4 * 250               = 1450 ms */
	assert_int_equal(r.rttvar, 250 * MS);
	assert_int_equal(r.srtt, 450 * MS);
	assert_int_equal(tcp_rtt_rto(&r), 1450 * MS);
}

static void test_rtt_small_rtt_clamped_to_200ms(void **state)
{
	struct tcp_rtt r;

	(void)state;
	tcp_rtt_init(&r, 0);
	tcp_rtt_sample(&r, 10 * MS, 0);      /* 10 + 4 * 5 = 30 ms: below the floor */
	assert_int_equal(tcp_rtt_rto(&r), 200 * MS);
	for (int i = 0; i < 200; i++)         /* steady 100 us: RTTVAR decays to 0 */
		tcp_rtt_sample(&r, 100000, 0);
	assert_true(r.rttvar < 4 * TCP_RTT_G);  /* G now dominates K*RTTVAR ... */
	assert_int_equal(tcp_rtt_rto(&r), 200 * MS);   /* ... and the floor both */
}

static void test_rtt_huge_rtt_clamped_to_120s(void **state)
{
	struct tcp_rtt r;

	(void)state;
	tcp_rtt_init(&r, 0);
	tcp_rtt_sample(&r, 100 * SEC, 0);     /* 300 s: capped */
	assert_int_equal(tcp_rtt_rto(&r), 120 * SEC);
}

static void test_rtt_backoff_doubles_until_cap(void **state)
{
	struct tcp_rtt r;

	(void)state;
	tcp_rtt_init(&r, 0);
	tcp_rtt_sample(&r, 100 * MS, 0);      /* RTO = 100 + 4 * 50 = 300 ms */
	assert_int_equal(tcp_rtt_rto(&r), 300 * MS);
	tcp_rtt_backoff(&r);
	assert_int_equal(tcp_rtt_rto(&r), 600 * MS);
	tcp_rtt_backoff(&r);
	assert_int_equal(tcp_rtt_rto(&r), 1200 * MS);
	for (int i = 0; i < 100; i++)         /* 5.5 with the 120 s maximum */
		tcp_rtt_backoff(&r);
	assert_int_equal(tcp_rtt_rto(&r), 120 * SEC);
	/* a valid sample ends the backoff and recomputes */
	tcp_rtt_sample(&r, 100 * MS, 0);
	assert_int_equal(r.backoff, 0);
	assert_true(tcp_rtt_rto(&r) < 1 * SEC);
}

static void test_rtt_karn_refuses_retransmitted_unless_timestamped(void **state)
{
	struct tcp_rtt r;

	(void)state;
	tcp_rtt_init(&r, 0);
	tcp_rtt_sample(&r, 100 * MS, 0);
	tcp_rtt_backoff(&r);
	assert_int_equal(tcp_rtt_sample(&r, 900 * MS, TCP_RTT_RETRANSMITTED), -EINVAL);
	assert_int_equal(r.srtt, 100 * MS);           /* unchanged ... */
	assert_int_equal(r.backoff, 1);               /* ... and still backed off */
	assert_int_equal(tcp_rtt_sample(&r, 900 * MS,
					TCP_RTT_RETRANSMITTED | TCP_RTT_FROM_TS), 0);
	assert_int_equal(r.srtt, (7 * 100 + 900) * MS / 8);
	assert_int_equal(r.backoff, 0);
}

static void test_rtt_syn_lost_sets_three_seconds(void **state)
{
	struct tcp_rtt r;

	(void)state;
	tcp_rtt_init(&r, 0);
	tcp_rtt_backoff(&r);                  /* the SYN timed out once */
	tcp_rtt_syn_lost(&r);                 /* 5.7 */
	assert_int_equal(tcp_rtt_rto(&r), 3 * SEC);
	tcp_rtt_init(&r, 0);
	tcp_rtt_sample(&r, 50 * MS, TCP_RTT_FROM_TS);   /* sampled in the handshake */
	tcp_rtt_syn_lost(&r);
	assert_int_equal(tcp_rtt_rto(&r), 200 * MS);
}

static void test_rtt_min_and_latest_tracked(void **state)
{
	struct tcp_rtt r;

	(void)state;
	tcp_rtt_init(&r, 0);
	tcp_rtt_sample(&r, 30 * MS, 0);
	tcp_rtt_sample(&r, 20 * MS, 0);
	tcp_rtt_sample(&r, 40 * MS, 0);
	assert_int_equal(r.min_rtt, 20 * MS);
	assert_int_equal(r.latest, 40 * MS);
	assert_int_equal(r.samples, 3);
	assert_int_equal(tcp_rtt_sample(&r, 0, 0), 0);   /* 0 ns counts as 1 ns */
	assert_int_equal(r.min_rtt, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rtt_init_rto_one_second),
		cmocka_unit_test(test_rtt_first_sample_sets_srtt_and_half_var),
		cmocka_unit_test(test_rtt_second_sample_updates_var_with_old_srtt),
		cmocka_unit_test(test_rtt_small_rtt_clamped_to_200ms),
		cmocka_unit_test(test_rtt_huge_rtt_clamped_to_120s),
		cmocka_unit_test(test_rtt_backoff_doubles_until_cap),
		cmocka_unit_test(test_rtt_karn_refuses_retransmitted_unless_timestamped),
		cmocka_unit_test(test_rtt_syn_lost_sets_three_seconds),
		cmocka_unit_test(test_rtt_min_and_latest_tracked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
