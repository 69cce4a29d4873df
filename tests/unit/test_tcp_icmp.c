/* tests/unit/test_tcp_icmp.c — ICMP errors into TCP (tcp_icmp_error):
 * the RFC 5927 4.1 sequence check, hard errors refusing an open, soft
 * errors reported only when the conn times out (RFC 1122 4.2.3.9, RFC 5461),
 * and fragmentation needed lowering the MSS and resending (RFC 1191). The
 * ICMP layer's part (parsing the quote) is tested in test_icmp.c. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "tests/support/tcp_seg.h"

#define IRS 1000u
#define MS 1000000ull

static uint8_t payload[16 * 1024];

static int setup(void **state)
{
	*state = tcp_fx_new(NULL);
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	assert_int_equal(tcp_fx_free(*state), 0);   /* no pkb leaked */
	return 0;
}

static uint64_t counter(struct tcp_fx *fx, unsigned id)
{
	uint64_t cnt[TCP_CNT_NR];

	tcp_stats_read(fx->ts, cnt, NULL);
	return cnt[id];
}

static uint64_t drops(struct tcp_fx *fx, unsigned reason)
{
	uint64_t d[PROTO_DROP_MAX];

	tcp_stats_read(fx->ts, NULL, d);
	return d[reason];
}

/* An ICMP error about the fixture's 4-tuple quoting seq. */
static int icmp(struct tcp_fx *fx, uint32_t seq, int err, uint16_t mtu)
{
	return tcp_icmp_error(fx->ts, &fx->env, FX_LADDR, FX_LPORT, FX_RADDR, FX_RPORT, seq,
			      err, mtu, fx->now);
}

static int sock_error(struct tcp_fx *fx, uint32_t conn)
{
	int v = 1;
	uint32_t len = sizeof(v);

	assert_int_equal(tcp_getsockopt(fx->ts, conn, TCP_SOCKOPT_ERROR, &v, &len), 0);
	return v;
}

/* An ESTABLISHED conn with MSS 1460 (no options but MSS). */
static uint32_t open_conn(struct tcp_fx *fx, uint32_t *iss)
{
	static const struct tcp_opts o = { .has = TCP_OPTF_MSS, .mss = 1460 };
	int c = tcp_fx_passive_open(fx, IRS, &o, iss);

	assert_true(c >= 0);
	return (uint32_t)c;
}

/* SYN_SENT + port unreachable quoting our SYN -> CLOSED, ECONNREFUSED, as a
 * RST would; protocol unreachable likewise. */
static void test_syn_sent_port_unreach_refused(void **state)
{
	struct tcp_fx *fx = *state;
	int conn = tcp_connect(fx->ts, &fx->env, FX_LADDR, FX_LPORT, FX_RADDR, FX_RPORT, fx->now);
	uint32_t iss = tcp_fx_last(fx)->seq;

	assert_int_equal(icmp(fx, iss, -ECONNREFUSED, 0), 0);
	assert_int_equal(tcp_fx_state(fx, (uint32_t)conn), TCPS_CLOSED);
	assert_true(tcp_fx_events(fx, (uint32_t)conn) & TCP_EV_ERROR);
	assert_int_equal(sock_error(fx, (uint32_t)conn), -ECONNREFUSED);
	assert_int_equal(counter(fx, TCP_CNT_ICMP_HARD_ERRORS), 1);
	assert_int_equal(counter(fx, TCP_CNT_ATTEMPT_FAILS), 1);
	tcp_close(fx->ts, &fx->env, (uint32_t)conn, fx->now);

	conn = tcp_connect(fx->ts, &fx->env, FX_LADDR, FX_LPORT, FX_RADDR, FX_RPORT, fx->now);
	assert_int_equal(icmp(fx, tcp_fx_last(fx)->seq, -ENOPROTOOPT, 0), 0);
	assert_int_equal(tcp_fx_state(fx, (uint32_t)conn), TCPS_CLOSED);
	assert_int_equal(sock_error(fx, (uint32_t)conn), -ECONNREFUSED);
}

/* SYN_SENT + an error quoting a sequence number not in flight, or another
 * 4-tuple -> ignored (RFC 5927 4.1), counted. */
static void test_syn_sent_icmp_not_in_flight_ignored(void **state)
{
	struct tcp_fx *fx = *state;
	int conn = tcp_connect(fx->ts, &fx->env, FX_LADDR, FX_LPORT, FX_RADDR, FX_RPORT, fx->now);
	uint32_t iss = tcp_fx_last(fx)->seq;

	assert_int_equal(icmp(fx, iss + 1, -ECONNREFUSED, 0), -EINVAL);
	assert_int_equal(icmp(fx, iss - 1, -ECONNREFUSED, 0), -EINVAL);
	assert_int_equal(tcp_icmp_error(fx->ts, &fx->env, FX_LADDR, FX_LPORT, FX_RADDR,
					FX_RPORT + 1, iss, -ECONNREFUSED, 0, fx->now), -ENOENT);
	assert_int_equal(tcp_fx_state(fx, (uint32_t)conn), TCPS_SYN_SENT);
	assert_int_equal(drops(fx, PROTO_DROP_TCP_ICMP_OUT_OF_WINDOW), 2);
	assert_int_equal(tcp_fx_events(fx, (uint32_t)conn) & TCP_EV_ERROR, 0);
}

/* SYN_SENT + host unreachable -> a soft error: the SYN goes on being
 * retransmitted, and only when the open times out is the error reported
 * (EHOSTUNREACH instead of ETIMEDOUT, as Linux's sk_err_soft). */
static void test_syn_sent_host_unreach_reported_on_timeout(void **state)
{
	struct tcp_fx *fx = *state;
	int conn = tcp_connect(fx->ts, &fx->env, FX_LADDR, FX_LPORT, FX_RADDR, FX_RPORT, fx->now);

	assert_int_equal(icmp(fx, tcp_fx_last(fx)->seq, -EHOSTUNREACH, 0), 0);
	assert_int_equal(tcp_fx_state(fx, (uint32_t)conn), TCPS_SYN_SENT);
	assert_int_equal(sock_error(fx, (uint32_t)conn), 0);
	assert_int_equal(counter(fx, TCP_CNT_ICMP_SOFT_ERRORS), 1);
	tcp_fx_advance(fx, fx->now + 5000 * MS);
	assert_int_equal(tcp_fx_state(fx, (uint32_t)conn), TCPS_SYN_SENT);
	assert_true(fx->ncap >= 3);                      /* the SYN was retransmitted */
	tcp_fx_advance(fx, fx->now + 200000 * MS);       /* 6 retries: 127 s */
	assert_int_equal(tcp_fx_state(fx, (uint32_t)conn), TCPS_CLOSED);
	assert_true(tcp_fx_events(fx, (uint32_t)conn) & TCP_EV_ERROR);
	assert_int_equal(sock_error(fx, (uint32_t)conn), -EHOSTUNREACH);
}

/* SYN_RECEIVED (passive) + port unreachable quoting our SYN-ACK -> the child
 * goes without a word to the listener, as on a RST. */
static void test_syn_received_port_unreach_drops_child(void **state)
{
	struct tcp_fx *fx = *state;
	int l = tcp_listen(fx->ts, &fx->env, 0, FX_LPORT, 4, 0);

	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_SYN, .seq = IRS });
	assert_int_equal(tcp_conn_count(fx->ts), 2);
	assert_int_equal(icmp(fx, tcp_fx_last(fx)->seq, -ECONNREFUSED, 0), 0);
	assert_int_equal(tcp_conn_count(fx->ts), 1);
	assert_int_equal(tcp_fx_events(fx, (uint32_t)l), 0);
	assert_int_equal(tcp_accept(fx->ts, &fx->env, (uint32_t)l, NULL), -EAGAIN);
}

/* ESTABLISHED + port unreachable -> soft (RFC 5461): the conn lives on; an
 * ACK from the peer forgets the error; an error that is still there when
 * the conn times out is what the user reads. */
static void test_established_unreach_soft_until_timeout(void **state)
{
	struct tcp_fx *fx = *state;
	uint32_t iss, conn = open_conn(fx, &iss);
	int ms = 3000;

	tcp_setsockopt(fx->ts, &fx->env, conn, TCP_SOCKOPT_USER_TIMEOUT, &ms, sizeof(ms), fx->now);
	assert_int_equal(tcp_send(fx->ts, &fx->env, conn, payload, 1000, 0, fx->now), 1000);
	assert_int_equal(icmp(fx, iss + 1, -ECONNREFUSED, 0), 0);
	assert_int_equal(tcp_fx_state(fx, conn), TCPS_ESTABLISHED);
	assert_int_equal(counter(fx, TCP_CNT_ICMP_SOFT_ERRORS), 1);
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_ACK, .seq = IRS + 1, .ack = iss + 1001 });
	assert_int_equal(tcp_tcb(fx->ts, conn)->soft_error, 0);   /* the peer answered */

	assert_int_equal(tcp_send(fx->ts, &fx->env, conn, payload, 1000, 0, fx->now), 1000);
	assert_int_equal(icmp(fx, iss + 1001, -EHOSTUNREACH, 0), 0);
	assert_int_equal(sock_error(fx, conn), 0);       /* not reported yet */
	tcp_fx_advance(fx, fx->now + 10000 * MS);
	assert_int_equal(tcp_fx_state(fx, conn), TCPS_CLOSED);
	assert_int_equal(sock_error(fx, conn), -EHOSTUNREACH);
}

/* ESTABLISHED + fragmentation needed -> MSS = MTU - 40 (RFC 1191), what was
 * in flight is sent again from SND.UNA in the smaller segments, cwnd keeps
 * its number of segments; an MTU not below the current one is ignored, one
 * below 576 is taken as 576, and MTU 0 (an old router) means the next
 * plateau down (RFC 1191 7.1). */
static void test_established_frag_needed_lowers_mss(void **state)
{
	struct tcp_fx *fx = *state;
	uint32_t iss, conn = open_conn(fx, &iss);
	struct tcp_conn_info info;
	uint32_t cwnd_segs;

	assert_int_equal(tcp_send(fx->ts, &fx->env, conn, payload, 4 * 1460, 0, fx->now), 4 * 1460);
	assert_int_equal(fx->ncap, 4);
	tcp_info(fx->ts, conn, &info);
	cwnd_segs = info.snd_cwnd / info.snd_mss;
	tcp_fx_clear(fx);
	assert_int_equal(icmp(fx, iss + 1 + 1460, -EMSGSIZE, 0), 0);     /* 1500 -> 1492 */
	tcp_info(fx->ts, conn, &info);
	assert_int_equal(info.snd_mss, 1452);
	assert_int_equal(info.snd_cwnd / info.snd_mss, cwnd_segs);
	assert_int_equal(fx->ncap, 5);                   /* 5840 bytes in 1452-byte segments */
	assert_int_equal(fx->cap[0].seq, iss + 1);
	assert_int_equal(fx->cap[0].len, 1452);
	assert_memory_equal(fx->cap[1].data, payload + 1452, 1452);
	assert_int_equal(counter(fx, TCP_CNT_RETRANS_SEGS), 5);
	tcp_fx_clear(fx);
	assert_int_equal(icmp(fx, iss + 1, -EMSGSIZE, 1000), 0);
	assert_int_equal(fx->ncap, 7);                   /* 6 * 960 + 80 */
	assert_int_equal(fx->cap[0].len, 960);
	assert_int_equal(fx->cap[6].len, 80);
	assert_int_equal(icmp(fx, iss + 1, -EMSGSIZE, 1200), 0);         /* not lower */
	tcp_info(fx->ts, conn, &info);
	assert_int_equal(info.snd_mss, 960);
	assert_int_equal(icmp(fx, iss + 1, -EMSGSIZE, 100), 0);          /* floor */
	tcp_info(fx->ts, conn, &info);
	assert_int_equal(info.snd_mss, 536);
	assert_int_equal(counter(fx, TCP_CNT_PMTU_REDUCED), 3);
	assert_int_equal(tcp_fx_state(fx, conn), TCPS_ESTABLISHED);
	assert_int_equal(sock_error(fx, conn), 0);
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_ACK, .seq = IRS + 1, .ack = iss + 1 + 5840 });
	tcp_info(fx->ts, conn, &info);
	assert_int_equal(info.unacked, 0);
}

/* SYN_SENT + fragmentation needed -> remembered; the MSS the SYN-ACK
 * negotiates stays within it. */
static void test_syn_sent_frag_needed_applies_at_synack(void **state)
{
	struct tcp_fx *fx = *state;
	int conn = tcp_connect(fx->ts, &fx->env, FX_LADDR, FX_LPORT, FX_RADDR, FX_RPORT, fx->now);
	uint32_t iss = tcp_fx_last(fx)->seq;
	struct tcp_conn_info info;

	assert_int_equal(icmp(fx, iss, -EMSGSIZE, 1280), 0);
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_SYN | TH_ACK, .seq = IRS, .ack = iss + 1,
					  .opt = { .has = TCP_OPTF_MSS, .mss = 1460 } });
	tcp_info(fx->ts, (uint32_t)conn, &info);
	assert_int_equal(info.state, TCPS_ESTABLISHED);
	assert_int_equal(info.snd_mss, 1240);
}

/* TIME_WAIT (nothing in flight) + any error -> ignored. */
static void test_time_wait_icmp_ignored(void **state)
{
	struct tcp_fx *fx = *state;
	uint32_t iss, conn = open_conn(fx, &iss);

	tcp_close(fx->ts, &fx->env, conn, fx->now);
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_FIN | TH_ACK, .seq = IRS + 1, .ack = iss + 2 });
	assert_int_equal(tcp_fx_state(fx, conn), TCPS_TIME_WAIT);
	assert_int_equal(icmp(fx, iss + 1, -ECONNREFUSED, 0), -EINVAL);
	assert_int_equal(tcp_fx_state(fx, conn), TCPS_TIME_WAIT);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_syn_sent_port_unreach_refused),
		T(test_syn_sent_icmp_not_in_flight_ignored),
		T(test_syn_sent_host_unreach_reported_on_timeout),
		T(test_syn_received_port_unreach_drops_child),
		T(test_established_unreach_soft_until_timeout),
		T(test_established_frag_needed_lowers_mss),
		T(test_syn_sent_frag_needed_applies_at_synack),
		T(test_time_wait_icmp_ignored),
	};

	for (unsigned i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 13);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
