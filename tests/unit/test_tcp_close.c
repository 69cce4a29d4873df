/* tests/unit/test_tcp_close.c — every close path (RFC 9293 3.6): active
 * close through FIN_WAIT_1/2 and TIME_WAIT, passive close through
 * CLOSE_WAIT/LAST_ACK, simultaneous close through CLOSING, half-close, the
 * RST cases (unread data, SO_LINGER 0, abort) and TIME_WAIT reuse. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "tests/support/tcp_seg.h"

#define IRS 1000u
#define MSL_NS 1000000000ull   /* tcp_fx_config: 2*MSL = 2 s */

struct st {
	struct tcp_fx *fx;
	uint32_t conn, iss;
};

static int setup(void **state)
{
	static struct st s;

	s.fx = tcp_fx_new(NULL);
	if (!s.fx)
		return -1;
	int c = tcp_fx_passive_open(s.fx, IRS, NULL, &s.iss);
	if (c < 0)
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

/* ESTABLISHED + close -> FIN_WAIT_1 (FIN sent); + ACK of FIN -> FIN_WAIT_2;
 * + FIN -> TIME_WAIT, ACK sent; 2*MSL later -> CLOSED and the TCB freed. */
static void test_established_close_active(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;

	assert_int_equal(tcp_close(fx->ts, &fx->env, s->conn, fx->now), 0);
	assert_int_equal(tcp_fx_last(fx)->flags, TH_FIN | TH_ACK);
	assert_int_equal(tcp_fx_last(fx)->seq, s->iss + 1);
	assert_int_equal(tcp_fx_state(fx, s->conn), TCPS_FIN_WAIT_1);
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_ACK, .seq = IRS + 1, .ack = s->iss + 2 });
	assert_int_equal(tcp_fx_state(fx, s->conn), TCPS_FIN_WAIT_2);
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_FIN | TH_ACK, .seq = IRS + 1,
					  .ack = s->iss + 2 });
	assert_int_equal(tcp_fx_state(fx, s->conn), TCPS_TIME_WAIT);
	assert_int_equal(tcp_fx_last(fx)->flags, TH_ACK);
	assert_int_equal(tcp_fx_last(fx)->ack, IRS + 2);
	/* a retransmitted FIN in TIME_WAIT is ACKed again */
	fx->ncap = 0;
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_FIN | TH_ACK, .seq = IRS + 1,
					  .ack = s->iss + 2 });
	assert_int_equal(fx->ncap, 1);
	assert_int_equal(tcp_fx_last(fx)->ack, IRS + 2);
	tcp_fx_advance(fx, fx->now + 2 * MSL_NS - 10000000);
	assert_int_equal(tcp_fx_state(fx, s->conn), TCPS_TIME_WAIT);
	assert_int_equal(tcp_timewait_count(fx->ts), 1);
	tcp_fx_advance(fx, fx->now + 20000000);
	assert_int_equal(tcp_conn_count(fx->ts), 1);     /* only the listener */
	assert_int_equal(tcp_timewait_count(fx->ts), 0);
}

/* ESTABLISHED + FIN -> CLOSE_WAIT (EOF to the reader); close -> LAST_ACK;
 * + ACK -> CLOSED, freed. */
static void test_established_fin_passive(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;
	char buf[8];

	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_FIN | TH_ACK, .seq = IRS + 1,
					  .ack = s->iss + 1 });
	assert_int_equal(tcp_fx_state(fx, s->conn), TCPS_CLOSE_WAIT);
	assert_int_equal(tcp_fx_last(fx)->ack, IRS + 2);
	assert_true(tcp_fx_events(fx, s->conn) & TCP_EV_READABLE);
	assert_int_equal(tcp_recv(fx->ts, &fx->env, s->conn, buf, 8, 0, fx->now), 0);
	/* half-close: we may still send in CLOSE_WAIT */
	assert_int_equal(tcp_send(fx->ts, &fx->env, s->conn, "abc", 3, 0, fx->now), 3);
	assert_int_equal(tcp_fx_last(fx)->len, 3);
	tcp_close(fx->ts, &fx->env, s->conn, fx->now);
	assert_int_equal(tcp_fx_state(fx, s->conn), TCPS_LAST_ACK);
	assert_int_equal(tcp_fx_last(fx)->flags, TH_FIN | TH_ACK);
	assert_int_equal(tcp_fx_last(fx)->seq, s->iss + 4);
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_ACK, .seq = IRS + 2, .ack = s->iss + 5 });
	assert_int_equal(tcp_conn_count(fx->ts), 1);
}

/* FIN_WAIT_1 + FIN (our FIN not yet ACKed) -> CLOSING; + ACK -> TIME_WAIT. */
static void test_fin_wait_1_fin_simultaneous(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;

	tcp_close(fx->ts, &fx->env, s->conn, fx->now);
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_FIN | TH_ACK, .seq = IRS + 1,
					  .ack = s->iss + 1 });
	assert_int_equal(tcp_fx_state(fx, s->conn), TCPS_CLOSING);
	assert_int_equal(tcp_fx_last(fx)->ack, IRS + 2);
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_ACK, .seq = IRS + 2, .ack = s->iss + 2 });
	assert_int_equal(tcp_fx_state(fx, s->conn), TCPS_TIME_WAIT);
}

/* FIN_WAIT_1 + FIN,ACK of our FIN together -> TIME_WAIT directly. */
static void test_fin_wait_1_finack(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;

	tcp_close(fx->ts, &fx->env, s->conn, fx->now);
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_FIN | TH_ACK, .seq = IRS + 1,
					  .ack = s->iss + 2 });
	assert_int_equal(tcp_fx_state(fx, s->conn), TCPS_TIME_WAIT);
}

/* FIN_WAIT_1: the FIN is retransmitted on RTO. */
static void test_fin_wait_1_rto(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;

	tcp_close(fx->ts, &fx->env, s->conn, fx->now);
	tcp_fx_clear(fx);
	/* the handshake measured an RTT of ~0: RTO is the 200 ms floor */
	tcp_fx_advance(fx, fx->now + 190000000ull);
	assert_int_equal(fx->ncap, 0);
	tcp_fx_advance(fx, fx->now + 20000000ull);
	assert_int_equal(fx->ncap, 1);
	assert_int_equal(tcp_fx_last(fx)->flags, TH_FIN | TH_ACK);
	assert_int_equal(tcp_fx_last(fx)->seq, s->iss + 1);
}

/* ESTABLISHED + close with unread data -> RST (RFC 2525 2.17), freed. */
static void test_established_close_unread_rst(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;

	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_ACK | TH_PSH, .seq = IRS + 1,
					  .ack = s->iss + 1, .data = "hello", .len = 5 });
	tcp_close(fx->ts, &fx->env, s->conn, fx->now);
	assert_true(tcp_fx_last(fx)->flags & TH_RST);
	assert_int_equal(tcp_fx_last(fx)->seq, s->iss + 1);
	assert_int_equal(tcp_conn_count(fx->ts), 1);
}

/* ESTABLISHED + SO_LINGER{1, 0} + close -> RST, freed. */
static void test_established_linger_zero(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;
	struct tcp_linger lg = { 1, 0 };

	assert_int_equal(tcp_setsockopt(fx->ts, &fx->env, s->conn, TCP_SOCKOPT_LINGER, &lg,
					sizeof(lg), fx->now), 0);
	tcp_close(fx->ts, &fx->env, s->conn, fx->now);
	assert_true(tcp_fx_last(fx)->flags & TH_RST);
	assert_int_equal(tcp_conn_count(fx->ts), 1);
}

/* ESTABLISHED + shutdown(WR) -> FIN_WAIT_1 but reading continues. */
static void test_established_shutdown_wr(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;
	char buf[8];

	tcp_shutdown(fx->ts, &fx->env, s->conn, TCP_SHUT_WR, fx->now);
	assert_int_equal(tcp_fx_last(fx)->flags, TH_FIN | TH_ACK);
	assert_int_equal(tcp_send(fx->ts, &fx->env, s->conn, "x", 1, 0, fx->now), -EPIPE);
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_ACK, .seq = IRS + 1, .ack = s->iss + 2,
					  .data = "late", .len = 4 });
	assert_int_equal(tcp_fx_state(fx, s->conn), TCPS_FIN_WAIT_2);
	assert_int_equal(tcp_recv(fx->ts, &fx->env, s->conn, buf, 8, 0, fx->now), 4);
	assert_memory_equal(buf, "late", 4);
}

/* TIME_WAIT + new SYN with a higher timestamp/sequence -> the 4-tuple is
 * reused by a fresh SYN_RECEIVED child (RFC 6191). An old-seq SYN is not. */
static void test_time_wait_syn_reuse(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;
	uint64_t cnt[TCP_CNT_NR];

	tcp_close(fx->ts, &fx->env, s->conn, fx->now);
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_FIN | TH_ACK, .seq = IRS + 1,
					  .ack = s->iss + 2 });
	assert_int_equal(tcp_fx_state(fx, s->conn), TCPS_TIME_WAIT);
	tcp_fx_clear(fx);
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_SYN, .seq = IRS - 50 });
	assert_int_equal(tcp_fx_state(fx, s->conn), TCPS_TIME_WAIT);   /* old: not reused */
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_SYN, .seq = IRS + 100000 });
	assert_int_equal(tcp_fx_last(fx)->flags, TH_SYN | TH_ACK);
	assert_int_equal(tcp_fx_last(fx)->ack, IRS + 100001);
	tcp_stats_read(fx->ts, cnt, NULL);
	assert_int_equal(cnt[TCP_CNT_TW_REUSED], 1);
}

/* ESTABLISHED + abort -> RST, freed; the user's handle is gone. */
static void test_established_abort(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;

	tcp_abort(fx->ts, &fx->env, s->conn, fx->now);
	assert_true(tcp_fx_last(fx)->flags & TH_RST);
	assert_int_equal(tcp_send(fx->ts, &fx->env, s->conn, "x", 1, 0, fx->now), -EINVAL);
	assert_int_equal(tcp_conn_count(fx->ts), 1);
}

/* ESTABLISHED (active open, no listener) sending a flight + the peer's RST
 * (it closed with our data unread, RFC 2525 2.17) -> CLOSED, out of the hash.
 * The rest of the flight reaches the peer after its close and each segment
 * draws a bare RST (SEQ = its ACK, RFC 9293 3.10.7.1); those find no conn:
 * each is a TCP_NO_SOCKET drop and none is answered. This is the ~100
 * TCP_NO_SOCKET of every iperf3 run (tests/integration/test_e2e_iperf3.sh,
 * stack -> kernel); Linux's sender drops them as SKB_DROP_REASON_NO_SOCKET. */
static void test_established_rst_then_stray_rsts(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx;
	static char buf[8000];
	uint64_t drops[PROTO_DROP_MAX], cnt[TCP_CNT_NR];
	uint32_t i, sent;
	int c;

	assert_int_equal(tcp_fx_free(s->fx), 0);
	s->fx = fx = tcp_fx_new(NULL);
	c = tcp_fx_active_open(fx, IRS, NULL, &s->iss);
	assert_true(c >= 0);
	assert_int_equal(tcp_send(fx->ts, &fx->env, (uint32_t)c, buf, sizeof(buf), 0, fx->now),
			 (int)sizeof(buf));
	sent = fx->ncap;
	assert_true(sent >= 3);
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_RST | TH_ACK, .seq = IRS + 1,
					  .ack = s->iss + 1 + 1460 });
	assert_int_equal(tcp_fx_state(fx, (uint32_t)c), TCPS_CLOSED);
	assert_true(tcp_fx_events(fx, (uint32_t)c) & TCP_EV_ERROR);
	for (i = 1; i < sent; i++)
		tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_RST, .seq = IRS + 1 });
	assert_int_equal(fx->ncap, sent);                  /* no answer to a RST */
	tcp_stats_read(fx->ts, cnt, drops);
	assert_int_equal(cnt[TCP_CNT_ESTAB_RESETS], 1);
	assert_int_equal(drops[PROTO_DROP_TCP_NO_SOCKET], sent - 1);
	assert_int_equal(tcp_send(fx->ts, &fx->env, (uint32_t)c, "x", 1, 0, fx->now),
			 -ECONNRESET);
	tcp_close(fx->ts, &fx->env, (uint32_t)c, fx->now);
	assert_int_equal(tcp_conn_count(fx->ts), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_established_close_active, setup, teardown),
		cmocka_unit_test_setup_teardown(test_established_fin_passive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fin_wait_1_fin_simultaneous, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fin_wait_1_finack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fin_wait_1_rto, setup, teardown),
		cmocka_unit_test_setup_teardown(test_established_close_unread_rst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_established_linger_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_established_shutdown_wr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_time_wait_syn_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_established_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_established_rst_then_stray_rsts, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
