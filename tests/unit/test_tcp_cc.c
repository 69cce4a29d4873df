/* tests/unit/test_tcp_cc.c — congestion control (proto/tcp/tcp_cc.h).
 *
 * Expected windows are worked by hand from the RFCs: RFC 6928's initial
 * window, RFC 5681/3465 slow start and byte-counted congestion avoidance,
 * RFC 6582's recovery arithmetic, and RFC 9438's CUBIC with C = 0.4,
 * beta = 0.7 on a 100-segment window of 1000-byte segments, where
 * K = cbrt((100 - 70) / 0.4) = cbrt(75) = 4.2171633 s.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proto/tcp/tcp_cc.h"

#define MS  1000000ull
#define SEC 1000000000ull
#define T0  (100 * SEC)     /* an arbitrary "now" for the epoch start */

static struct tcp_cc reno(uint32_t mss)
{
	struct tcp_cc cc;

	assert_int_equal(tcp_cc_init(&cc, TCP_CC_NEWRENO, mss, 0), 0);
	return cc;
}

static void test_cc_init_window_rfc6928(void **state)
{
	struct tcp_cc cc;

	(void)state;
	cc = reno(1460);
	assert_int_equal(cc.cwnd, 14600);               /* min(14600, max(2920, 14600)) */
	assert_int_equal(cc.ssthresh, UINT32_MAX);
	cc = reno(536);
	assert_int_equal(cc.cwnd, 5360);                /* 10 * 536 */
	cc = reno(9000);
	assert_int_equal(cc.cwnd, 18000);               /* 2 * 9000 */
	assert_int_equal(tcp_cc_init(&cc, TCP_CC_MAX, 1460, 0), -EINVAL);
	assert_int_equal(tcp_cc_init(&cc, TCP_CC_CUBIC, 0, 0), -EINVAL);
	assert_int_equal(cc.cwnd, 18000);               /* unchanged on error */
}

static void test_cc_slow_start_byte_counting_l2(void **state)
{
	struct tcp_cc cc = reno(1460);

	(void)state;
	tcp_cc_on_ack(&cc, 1460, 14600, 0, 0);
	assert_int_equal(cc.cwnd, 16060);               /* + min(N, 2*SMSS) = + 1460 */
	tcp_cc_on_ack(&cc, 14600, 16060, 0, 0);         /* a stretch ACK of 10 segments */
	assert_int_equal(cc.cwnd, 18980);               /* + 2*SMSS only (RFC 3465 L=2) */
}

static void test_cc_slow_start_overshoot_goes_to_ca(void **state)
{
	struct tcp_cc cc = reno(1460);

	(void)state;
	cc.ssthresh = 16000;
	tcp_cc_on_ack(&cc, 2920, 14600, 0, 0);
	assert_int_equal(cc.cwnd, 16000);               /* capped at ssthresh ... */
	assert_int_equal(cc.ca_acked, 2920 - 1400);     /* ... the rest counted in CA */
}

static void test_cc_newreno_ca_one_mss_per_window(void **state)
{
	struct tcp_cc cc = reno(1460);

	(void)state;
	cc.ssthresh = 14600;                            /* cwnd == ssthresh: CA */
	for (int i = 0; i < 9; i++)
		tcp_cc_on_ack(&cc, 1460, 14600, 0, 0);
	assert_int_equal(cc.cwnd, 14600);               /* 9 * 1460 < cwnd */
	tcp_cc_on_ack(&cc, 1460, 14600, 0, 0);
	assert_int_equal(cc.cwnd, 16060);               /* a window's worth: + SMSS */
	assert_int_equal(cc.ca_acked, 0);
}

static void test_cc_unused_window_does_not_grow(void **state)
{
	struct tcp_cc cc = reno(1460);

	(void)state;
	tcp_cc_on_ack(&cc, 1460, 7000, 0, 0);           /* slow start, < half used */
	assert_int_equal(cc.cwnd, 14600);
	cc.ssthresh = 14600;
	for (int i = 0; i < 20; i++)                    /* CA, 3 segments + 1 byte short */
		tcp_cc_on_ack(&cc, 1460, 14600 - 3 * 1460 - 1, 0, 0);
	assert_int_equal(cc.cwnd, 14600);
}

static void test_cc_newreno_recovery_rfc6582(void **state)
{
	struct tcp_cc cc = reno(1460);

	(void)state;
	cc.cwnd = 20000;
	tcp_cc_on_enter_recovery(&cc, 20000, 0);
	assert_int_equal(cc.ssthresh, 10000);           /* max(FlightSize/2, 2*SMSS) */
	assert_int_equal(cc.cwnd, 10000);
	tcp_cc_on_enter_recovery(&cc, 10000, 0);        /* already in recovery: no second cut */
	assert_int_equal(cc.ssthresh, 10000);
	tcp_cc_on_ack(&cc, 1460, 10000, 0, 0);          /* no growth in recovery */
	assert_int_equal(cc.cwnd, 10000);
	tcp_cc_on_dupack(&cc);                          /* step 4: + SMSS */
	assert_int_equal(cc.cwnd, 11460);
	tcp_cc_on_partial_ack(&cc, 3000);               /* step 5: - 3000 + SMSS */
	assert_int_equal(cc.cwnd, 9920);
	tcp_cc_on_partial_ack(&cc, 500);                /* less than SMSS: no add-back */
	assert_int_equal(cc.cwnd, 9420);
	tcp_cc_on_exit_recovery(&cc, 4000, 0);          /* step 6: min(10000, 4000 + 1460) */
	assert_int_equal(cc.cwnd, 5460);
	assert_int_equal(cc.in_recovery, 0);
	tcp_cc_on_dupack(&cc);                          /* outside recovery: nothing */
	assert_int_equal(cc.cwnd, 5460);
}

static void test_cc_exit_recovery_full_flight_takes_ssthresh(void **state)
{
	struct tcp_cc cc = reno(1460);

	(void)state;
	tcp_cc_on_enter_recovery(&cc, 2000, 0);
	assert_int_equal(cc.ssthresh, 2920);            /* floor 2*SMSS */
	tcp_cc_on_exit_recovery(&cc, 20000, 0);
	assert_int_equal(cc.cwnd, 2920);
}

static void test_cc_rto_loss_window_once_per_episode(void **state)
{
	struct tcp_cc cc = reno(1460);

	(void)state;
	cc.cwnd = 30000;
	tcp_cc_on_rto(&cc, 30000, 1, 0);
	assert_int_equal(cc.ssthresh, 15000);
	assert_int_equal(cc.cwnd, 1460);
	tcp_cc_on_rto(&cc, 1460, 0, 0);                 /* backed-off repeat */
	assert_int_equal(cc.ssthresh, 15000);
	assert_int_equal(cc.cwnd, 1460);
}

static void test_cc_names_for_tcp_congestion(void **state)
{
	(void)state;
	assert_int_equal(tcp_cc_by_name("newreno"), TCP_CC_NEWRENO);
	assert_int_equal(tcp_cc_by_name("reno"), TCP_CC_NEWRENO);
	assert_int_equal(tcp_cc_by_name("cubic"), TCP_CC_CUBIC);
	assert_int_equal(tcp_cc_by_name("bbr"), -ENOENT);
	assert_int_equal(tcp_cc_by_name(""), -ENOENT);
	assert_int_equal(tcp_cc_by_name(NULL), -ENOENT);
	assert_string_equal(tcp_cc_name(TCP_CC_NEWRENO), "newreno");
	assert_string_equal(tcp_cc_name(TCP_CC_CUBIC), "cubic");
	assert_string_equal(tcp_cc_name((enum tcp_cc_algo)7), "?");
}

static void test_cc_set_mss_keeps_segments(void **state)
{
	struct tcp_cc cc = reno(1460);

	(void)state;
	tcp_cc_set_mss(&cc, 1000);
	assert_int_equal(cc.cwnd, 10000);
	assert_int_equal(cc.ssthresh, UINT32_MAX);
	tcp_cc_set_mss(&cc, 0);
	assert_int_equal(cc.mss, 1000);
}

/* CUBIC after one loss at 100 segments: W_max = 100000, cwnd = ssthresh =
 * 70000, recovery over; the next ACK at T0 starts the epoch. */
static struct tcp_cc cubic_after_loss(void)
{
	struct tcp_cc cc;

	assert_int_equal(tcp_cc_init(&cc, TCP_CC_CUBIC, 1000, 0), 0);
	cc.cwnd = 100000;
	tcp_cc_on_enter_recovery(&cc, 100000, 0);
	assert_int_equal(cc.ssthresh, 70000);           /* 0.7 * flight (4.6) */
	assert_int_equal(cc.cwnd, 70000);
	assert_int_equal(cc.w_max, 100000);
	tcp_cc_on_exit_recovery(&cc, 70000, 0);
	assert_int_equal(cc.cwnd, 70000);
	return cc;
}

static void test_cc_cubic_epoch_start_k_and_reno_region(void **state)
{
	struct tcp_cc cc = cubic_after_loss();

	(void)state;
	tcp_cc_on_ack(&cc, 1000, 70000, 0, T0);
	/* K = cbrt(75) s = 4.217163327 s */
	assert_true(cc.k_ns > 4217163000ull && cc.k_ns < 4217164000ull);
	assert_int_equal(cc.cwnd_epoch, 70000);
	/* W_cubic(0) = 70000 exactly; W_est = 70000 + 0.5294 * 1000 * 1000 /
	 * 70000 = 70007.56 is ahead: the Reno-friendly region sets cwnd. */
	assert_int_equal(cc.cwnd, 70007);
}

static void test_cc_cubic_at_k_moves_towards_w_max(void **state)
{
	struct tcp_cc cc = cubic_after_loss();

	(void)state;
	tcp_cc_on_ack(&cc, 1000, 70000, 0, T0);
	tcp_cc_on_ack(&cc, 1000, 70007, 0, T0 + cc.k_ns);
	/* target = W_cubic(K) = W_max = 100000; cwnd += (100000 - 70007) *
	 * 1000 / 70007 = 428.43, plus the 0.56 carried: 70435 */
	assert_int_equal(cc.cwnd, 70435);
}

static void test_cc_cubic_rtt_looks_ahead(void **state)
{
	struct tcp_cc a = cubic_after_loss(), b;

	(void)state;
	tcp_cc_on_ack(&a, 1000, 70000, 0, T0);
	b = a;
	/* t = 1 s: W_cubic(1) = 86680.8; with RTT 1 s the target is
	 * W_cubic(2) = 95640.3. Growth (target - 70007) * 1000 / 70007:
	 * 238.17 and 366.15 bytes (+ the 0.56 carried). */
	tcp_cc_on_ack(&a, 1000, 70007, 0, T0 + SEC);
	tcp_cc_on_ack(&b, 1000, 70007, SEC, T0 + SEC);
	assert_int_equal(a.cwnd, 70007 + 238);
	assert_int_equal(b.cwnd, 70007 + 366);
}

static void test_cc_cubic_convex_growth_capped_at_half_window(void **state)
{
	struct tcp_cc cc = cubic_after_loss();
	uint32_t before;

	(void)state;
	tcp_cc_on_ack(&cc, 1000, 70000, 0, T0);
	before = cc.cwnd;
	/* t = K + 10 s: W_cubic = 0.4 * 1000 + 100 = 500 segments, above
	 * 1.5 * cwnd: target = 1.5 cwnd, growth 0.5 * 1000 bytes per 1000 ACKed */
	tcp_cc_on_ack(&cc, 1000, before, 0, T0 + cc.k_ns + 10 * SEC);
	assert_true(cc.cwnd == before + 500 || cc.cwnd == before + 501);
}

static void test_cc_cubic_fast_convergence(void **state)
{
	struct tcp_cc cc = cubic_after_loss();

	(void)state;
	tcp_cc_on_ack(&cc, 1000, 70000, 0, T0);
	cc.cwnd = 90000;                                /* peaked below W_max = 100000 */
	tcp_cc_on_enter_recovery(&cc, 90000, T0 + SEC);
	assert_int_equal(cc.w_max, 76500);              /* 90000 * (1 + 0.7) / 2 (4.7) */
	assert_int_equal(cc.ssthresh, 63000);
	assert_int_equal(cc.cwnd_prior, 90000);
}

static void test_cc_cubic_rto_restarts_with_k_zero(void **state)
{
	struct tcp_cc cc = cubic_after_loss();

	(void)state;
	tcp_cc_on_ack(&cc, 1000, 70000, 0, T0);
	tcp_cc_on_rto(&cc, 70000, 1, T0 + SEC);
	assert_int_equal(cc.cwnd, 1000);
	assert_int_equal(cc.ssthresh, 49000);           /* 0.7 * 70000 */
	cc.cwnd = cc.ssthresh;                          /* slow start brought it back */
	tcp_cc_on_ack(&cc, 1000, 49000, 0, T0 + 5 * SEC);
	assert_int_equal(cc.k_ns, 0);                   /* 4.8: K = 0 ... */
	assert_int_equal(cc.cwnd_epoch, 49000);
	assert_true(cc.w_max == 49000);                 /* ... W_max = cwnd at the start */
}

static void test_cc_cubic_slow_start_same_as_newreno(void **state)
{
	struct tcp_cc c, r = reno(1460);

	(void)state;
	assert_int_equal(tcp_cc_init(&c, TCP_CC_CUBIC, 1460, 0), 0);
	for (int i = 0; i < 50; i++) {
		tcp_cc_on_ack(&c, 1460, c.cwnd, 0, (uint64_t)i * MS);
		tcp_cc_on_ack(&r, 1460, r.cwnd, 0, (uint64_t)i * MS);
	}
	assert_int_equal(c.cwnd, r.cwnd);
	assert_int_equal(c.cwnd, 14600 + 50 * 1460);
}

/* TCP_CONGESTION mid-connection, CUBIC -> NewReno: cwnd and ssthresh
 * carry over, CUBIC's state is gone, and growth is NewReno's from there. */
static void test_cc_switch_cubic_to_newreno_keeps_window(void **state)
{
	struct tcp_cc cc = cubic_after_loss();

	(void)state;
	tcp_cc_on_ack(&cc, 1000, 70000, 0, T0);         /* a CUBIC epoch running */
	assert_true(cc.epoch_start != 0);
	uint32_t cwnd = cc.cwnd;
	assert_int_equal(tcp_cc_switch(&cc, TCP_CC_NEWRENO, T0 + SEC), 0);
	assert_int_equal(cc.algo, TCP_CC_NEWRENO);
	assert_int_equal(cc.cwnd, cwnd);
	assert_int_equal(cc.ssthresh, 70000);
	assert_int_equal(cc.mss, 1000);
	assert_int_equal(cc.epoch_start, 0);
	assert_int_equal(cc.w_max, 0);
	assert_int_equal(cc.ca_acked, 0);
	tcp_cc_on_ack(&cc, cwnd, cwnd, 0, T0 + 2 * SEC);  /* one window ACKed: + 1 SMSS */
	assert_int_equal(cc.cwnd, cwnd + 1000);
}

/* NewReno -> CUBIC in congestion avoidance: the first epoch starts at the
 * current cwnd with K = 0 (as after a timeout, RFC 9438 4.8); in recovery,
 * the recovery goes on. Same algorithm again: nothing changes; unknown:
 * -EINVAL, nothing changes. */
static void test_cc_switch_newreno_to_cubic_starts_epoch(void **state)
{
	struct tcp_cc cc = reno(1000);

	(void)state;
	cc.cwnd = 60000;
	cc.ssthresh = 50000;
	cc.ca_acked = 30000;
	assert_int_equal(tcp_cc_switch(&cc, TCP_CC_NEWRENO, T0), 0);
	assert_int_equal(cc.ca_acked, 30000);
	assert_int_equal(tcp_cc_switch(&cc, TCP_CC_MAX, T0), -EINVAL);
	assert_int_equal(cc.algo, TCP_CC_NEWRENO);
	assert_int_equal(tcp_cc_switch(&cc, TCP_CC_CUBIC, T0), 0);
	assert_int_equal(cc.cwnd, 60000);
	assert_int_equal(cc.ssthresh, 50000);
	assert_int_equal(cc.ca_acked, 0);
	tcp_cc_on_ack(&cc, 1000, 60000, 0, T0 + SEC);
	assert_int_equal(cc.w_max, 60000);
	assert_int_equal(cc.cwnd_epoch, 60000);
	assert_int_equal(cc.k_ns, 0);
	tcp_cc_on_enter_recovery(&cc, 60000, T0 + 2 * SEC);
	assert_int_equal(tcp_cc_switch(&cc, TCP_CC_NEWRENO, T0 + 2 * SEC), 0);
	assert_int_equal(cc.in_recovery, 1);
	assert_int_equal(cc.ssthresh, 42000);           /* CUBIC's cut stands */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cc_init_window_rfc6928),
		cmocka_unit_test(test_cc_slow_start_byte_counting_l2),
		cmocka_unit_test(test_cc_slow_start_overshoot_goes_to_ca),
		cmocka_unit_test(test_cc_newreno_ca_one_mss_per_window),
		cmocka_unit_test(test_cc_unused_window_does_not_grow),
		cmocka_unit_test(test_cc_newreno_recovery_rfc6582),
		cmocka_unit_test(test_cc_exit_recovery_full_flight_takes_ssthresh),
		cmocka_unit_test(test_cc_rto_loss_window_once_per_episode),
		cmocka_unit_test(test_cc_names_for_tcp_congestion),
		cmocka_unit_test(test_cc_set_mss_keeps_segments),
		cmocka_unit_test(test_cc_cubic_epoch_start_k_and_reno_region),
		cmocka_unit_test(test_cc_cubic_at_k_moves_towards_w_max),
		cmocka_unit_test(test_cc_cubic_rtt_looks_ahead),
		cmocka_unit_test(test_cc_cubic_convex_growth_capped_at_half_window),
		cmocka_unit_test(test_cc_cubic_fast_convergence),
		cmocka_unit_test(test_cc_cubic_rto_restarts_with_k_zero),
		cmocka_unit_test(test_cc_cubic_slow_start_same_as_newreno),
		cmocka_unit_test(test_cc_switch_cubic_to_newreno_keeps_window),
		cmocka_unit_test(test_cc_switch_newreno_to_cubic_starts_epoch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
