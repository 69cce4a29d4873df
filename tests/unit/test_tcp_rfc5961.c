/* tests/unit/test_tcp_rfc5961.c — robustness against blind in-window
 * attacks (RFC 5961) and old duplicates (PAWS, RFC 7323 5): which RSTs,
 * SYNs and ACKs an ESTABLISHED connection acts on, challenges, or drops,
 * and the challenge-ACK rate limit (RFC 5961 7). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "tests/support/tcp_seg.h"

#define IRS 1000u

struct st {
	struct tcp_fx *fx;
	uint32_t conn, iss;
};

static const struct tcp_opts ts_opts = { .has = TCP_OPTF_TS | TCP_OPTF_MSS, .mss = 1460,
					 .tsval = 100 };

static int setup(void **state)
{
	static struct st s;
	int c;

	if (!(s.fx = tcp_fx_new(NULL)) || (c = tcp_fx_passive_open(s.fx, IRS, &ts_opts, &s.iss)) < 0)
		return -1;
	s.conn = (uint32_t)c;
	*state = &s;
	return 0;
}

static int teardown(void **state)
{
	struct st *s = *state;

	assert_int_equal(tcp_fx_free(s->fx), 0);
	return 0;
}

static struct tcp_spec seg(const struct st *s, uint8_t flags, uint32_t seq, uint32_t tsval)
{
	return (struct tcp_spec){ .flags = flags, .seq = seq, .ack = s->iss + 1,
				  .opt = { .has = TCP_OPTF_TS, .tsval = tsval } };
}

/* ESTABLISHED + RST at exactly RCV.NXT -> CLOSED, ECONNRESET. */
static void test_established_rst_exact(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;
	struct tcp_spec r = seg(s, TH_RST, IRS + 1, 200);
	char b[4];

	tcp_fx_in(fx, &r);
	assert_int_equal(tcp_fx_state(fx, s->conn), TCPS_CLOSED);
	assert_int_equal(fx->ncap, 0);
	assert_int_equal(tcp_recv(fx->ts, &fx->env, s->conn, b, 4, 0, fx->now), -ECONNRESET);
}

/* ESTABLISHED + RST inside the window but not at RCV.NXT -> challenge ACK. */
static void test_established_rst_in_window(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;
	struct tcp_spec r = seg(s, TH_RST, IRS + 500, 200);
	uint64_t cnt[TCP_CNT_NR];

	tcp_fx_in(fx, &r);
	assert_int_equal(tcp_fx_state(fx, s->conn), TCPS_ESTABLISHED);
	assert_int_equal(fx->ncap, 1);
	assert_int_equal(tcp_fx_last(fx)->flags, TH_ACK);
	assert_int_equal(tcp_fx_last(fx)->seq, s->iss + 1);
	assert_int_equal(tcp_fx_last(fx)->ack, IRS + 1);
	tcp_stats_read(fx->ts, cnt, NULL);
	assert_int_equal(cnt[TCP_CNT_CHALLENGE_ACKS], 1);
}

/* ESTABLISHED + RST outside the window -> silently dropped. */
static void test_established_rst_out_of_window(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;
	struct tcp_spec r = seg(s, TH_RST, IRS + 10000000, 200);

	tcp_fx_in(fx, &r);
	assert_int_equal(tcp_fx_state(fx, s->conn), TCPS_ESTABLISHED);
	assert_int_equal(fx->ncap, 0);
}

/* ESTABLISHED + SYN (any seq) -> challenge ACK, conn unchanged. */
static void test_established_syn_challenge(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;
	struct tcp_spec r = seg(s, TH_SYN, IRS + 1, 200);

	tcp_fx_in(fx, &r);
	assert_int_equal(tcp_fx_state(fx, s->conn), TCPS_ESTABLISHED);
	assert_int_equal(fx->ncap, 1);
	assert_int_equal(tcp_fx_last(fx)->flags, TH_ACK);
	assert_int_equal(tcp_fx_last(fx)->ack, IRS + 1);
}

/* ESTABLISHED + ACK of data never sent -> challenge ACK, segment dropped
 * (its data is not taken). */
static void test_established_ack_unsent(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;
	struct tcp_spec r = seg(s, TH_ACK, IRS + 1, 200);
	char b[4];

	r.ack = s->iss + 5000;
	r.data = "evil";
	r.len = 4;
	tcp_fx_in(fx, &r);
	assert_int_equal(tcp_fx_last(fx)->ack, IRS + 1);
	assert_int_equal(tcp_recv(fx->ts, &fx->env, s->conn, b, 4, 0, fx->now), -EAGAIN);
}

/* ESTABLISHED + data with a TSval older than TS.Recent -> PAWS drop + ACK;
 * the same data with a fresh TSval is accepted. */
static void test_established_paws_old_timestamp(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;
	struct tcp_spec d = seg(s, TH_ACK, IRS + 1, 50);   /* TS.Recent is 101 */
	uint64_t drops[PROTO_DROP_MAX];
	char b[8];

	d.data = "old";
	d.len = 3;
	tcp_fx_in(fx, &d);
	tcp_stats_read(fx->ts, NULL, drops);
	assert_int_equal(drops[PROTO_DROP_TCP_PAWS], 1);
	assert_int_equal(tcp_fx_last(fx)->ack, IRS + 1);
	assert_int_equal(tcp_recv(fx->ts, &fx->env, s->conn, b, 8, 0, fx->now), -EAGAIN);
	d.opt.tsval = 150;
	tcp_fx_in(fx, &d);
	assert_int_equal(tcp_recv(fx->ts, &fx->env, s->conn, b, 8, 0, fx->now), 3);
	/* our next segment echoes the newest TSval (RFC 7323 4.3) */
	assert_int_equal(tcp_fx_last(fx)->opt.tsecr, 150);
}

/* ESTABLISHED + data entirely before RCV.NXT -> duplicate: ACK, drop. */
static void test_established_old_duplicate(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;
	struct tcp_spec d = seg(s, TH_ACK, IRS - 100, 200);

	d.data = "dup";
	d.len = 3;
	tcp_fx_in(fx, &d);
	assert_int_equal(fx->ncap, 1);
	assert_int_equal(tcp_fx_last(fx)->ack, IRS + 1);
}

/* ESTABLISHED + an ACK older than SND.UNA - MAX.SND.WND -> challenge ACK and
 * dropped, data and all (RFC 5961 5.2); one just inside the bound is an old
 * duplicate ACK and its data is taken. */
static void test_established_ack_too_old(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;
	struct tcp_spec r = seg(s, TH_ACK, IRS + 1, 200);
	uint64_t cnt[TCP_CNT_NR];
	char b[8];

	r.ack = s->iss + 1 - 65535 - 1;          /* MAX.SND.WND is 65535 (no scaling) */
	r.data = "old";
	r.len = 3;
	tcp_fx_in(fx, &r);
	tcp_stats_read(fx->ts, cnt, NULL);
	assert_int_equal(cnt[TCP_CNT_CHALLENGE_ACKS], 1);
	assert_int_equal(tcp_recv(fx->ts, &fx->env, s->conn, b, 8, 0, fx->now), -EAGAIN);
	r.ack++;
	tcp_fx_in(fx, &r);
	tcp_stats_read(fx->ts, cnt, NULL);
	assert_int_equal(cnt[TCP_CNT_CHALLENGE_ACKS], 1);
	assert_int_equal(tcp_recv(fx->ts, &fx->env, s->conn, b, 8, 0, fx->now), 3);
}

/* ESTABLISHED + a flood of in-window RSTs -> challenge ACKs within the
 * RFC 5961 7 budget: a limit of 10 a second allows 5..14 in each second
 * (drawn anew each second, as Linux since CVE-2016-5696, so budgets
 * differ); the rest are counted, not sent, and the conn is untouched. */
static void test_established_challenge_ack_rate_limit(void **state)
{
	struct tcp_config cfg;
	struct tcp_fx *fx;
	uint64_t cnt[TCP_CNT_NR], total = 0;
	uint32_t iss, first = 0;
	bool differ = false;
	int c;

	(void)state;
	tcp_fx_config(&cfg);
	cfg.challenge_ack_limit = 10;
	assert_non_null(fx = tcp_fx_new(&cfg));
	assert_true((c = tcp_fx_passive_open(fx, IRS, NULL, &iss)) >= 0);
	for (unsigned sec = 0; sec < 8; sec++) {
		fx->now = (10ull + sec) * 1000000000ull + 1000;
		tcp_fx_clear(fx);
		for (unsigned i = 0; i < 100; i++)
			tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_RST, .seq = IRS + 500 + i });
		assert_in_range(fx->ncap, 5, 14);
		first = sec ? first : fx->ncap;
		differ |= fx->ncap != first;
		total += fx->ncap;
	}
	assert_true(differ);
	tcp_stats_read(fx->ts, cnt, NULL);
	assert_int_equal(cnt[TCP_CNT_CHALLENGE_ACKS], total);
	assert_int_equal(cnt[TCP_CNT_CHALLENGE_ACKS_LIMITED], 800 - total);
	assert_int_equal(tcp_fx_state(fx, (uint32_t)c), TCPS_ESTABLISHED);
	assert_int_equal(tcp_fx_free(fx), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_established_rst_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_established_rst_in_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_established_rst_out_of_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_established_syn_challenge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_established_ack_unsent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_established_paws_old_timestamp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_established_old_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_established_ack_too_old, setup, teardown),
		cmocka_unit_test(test_established_challenge_ack_rate_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
