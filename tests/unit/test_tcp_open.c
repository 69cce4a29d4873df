/* tests/unit/test_tcp_open.c — opening connections (RFC 9293 3.5): passive
 * and active three-way handshakes, simultaneous open, refused opens, option
 * negotiation (MSS, window scale, timestamps, SACK), SYN cookies, listen
 * queue limits and TIME_WAIT reuse (RFC 6191). The test plays the peer with
 * crafted segments (tests/support/tcp_seg.h). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "tests/support/tcp_seg.h"

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

static const struct tcp_opts full_opts = {
	.has = TCP_OPTF_MSS | TCP_OPTF_WSCALE | TCP_OPTF_SACKPERM | TCP_OPTF_TS,
	.mss = 1460, .wscale = 7, .tsval = 5000,
};

/* LISTEN + SYN -> SYN_RECEIVED, SYN-ACK carries our options; + ACK ->
 * ESTABLISHED on the accept queue. */
static void test_listen_syn(void **state)
{
	struct tcp_fx *fx = *state;
	int l = tcp_listen(fx->ts, &fx->env, 0, FX_LPORT, 4, 0);
	const struct tcp_cap *c;
	struct tcp_conn_info info;

	assert_true(l >= 0);
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_SYN, .seq = 100, .opt = full_opts });
	assert_int_equal(fx->ncap, 1);
	c = tcp_fx_last(fx);
	assert_true(c->csum_ok);
	assert_int_equal(c->flags, TH_SYN | TH_ACK);
	assert_int_equal(c->ack, 101);
	assert_int_equal(c->opt.mss, 1460);
	assert_true(c->opt.has & TCP_OPTF_WSCALE);
	assert_int_equal(c->opt.wscale, 1);      /* 64 KiB ring needs a shift of 1 */
	assert_true(c->opt.has & TCP_OPTF_SACKPERM);
	assert_int_equal(c->opt.tsecr, 5000);
	assert_int_equal(tcp_accept(fx->ts, &fx->env, (uint32_t)l, NULL), -EAGAIN);
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_ACK, .seq = 101, .ack = c->seq + 1,
		.opt = { .has = TCP_OPTF_TS, .tsval = 5001, .tsecr = c->opt.tsval } });
	assert_true(tcp_fx_events(fx, (uint32_t)l) & TCP_EV_ACCEPT);
	int conn = tcp_accept(fx->ts, &fx->env, (uint32_t)l, NULL);
	assert_true(conn >= 0);
	assert_int_equal(tcp_info(fx->ts, (uint32_t)conn, &info), 0);
	assert_int_equal(info.state, TCPS_ESTABLISHED);
	assert_int_equal(info.snd_wscale, 7);
	assert_int_equal(info.snd_mss, 1460 - 12);   /* timestamps take 12 bytes */
	assert_int_equal(info.opts, TCP_INFO_OPT_TIMESTAMPS | TCP_INFO_OPT_SACK |
				    TCP_INFO_OPT_WSCALE);
}

/* SYN_SENT + SYN-ACK -> ESTABLISHED, our ACK, CONNECTED event. */
static void test_syn_sent_synack(void **state)
{
	struct tcp_fx *fx = *state;
	int conn = tcp_connect(fx->ts, &fx->env, FX_LADDR, FX_LPORT, FX_RADDR, FX_RPORT, fx->now);
	const struct tcp_cap *c = tcp_fx_last(fx);
	uint32_t iss;

	assert_true(conn >= 0);
	assert_int_equal(c->flags, TH_SYN);
	assert_int_equal(tcp_fx_state(fx, (uint32_t)conn), TCPS_SYN_SENT);
	iss = c->seq;
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_SYN | TH_ACK, .seq = 7000, .ack = iss + 1,
					  .opt = { .has = TCP_OPTF_MSS, .mss = 1000 } });
	c = tcp_fx_last(fx);
	assert_int_equal(c->flags, TH_ACK);
	assert_int_equal(c->seq, iss + 1);
	assert_int_equal(c->ack, 7001);
	assert_int_equal(c->opt.has & TCP_OPTF_TS, 0);   /* peer did not offer TS */
	assert_int_equal(tcp_fx_state(fx, (uint32_t)conn), TCPS_ESTABLISHED);
	assert_true(tcp_fx_events(fx, (uint32_t)conn) & TCP_EV_CONNECTED);
	struct tcp_conn_info info;
	tcp_info(fx->ts, (uint32_t)conn, &info);
	assert_int_equal(info.snd_mss, 1000);
	assert_int_equal(info.snd_wscale, 0);
	assert_int_equal(info.rcv_wscale, 0);   /* no WS from the peer: none either way */
}

/* SYN_SENT + SYN (no ACK) -> SYN_RECEIVED, SYN-ACK from ISS; + SYN-ACK ->
 * ESTABLISHED (RFC 9293 figure 7, simultaneous open). */
static void test_syn_sent_syn_simultaneous(void **state)
{
	struct tcp_fx *fx = *state;
	int conn = tcp_connect(fx->ts, &fx->env, FX_LADDR, FX_LPORT, FX_RADDR, FX_RPORT, fx->now);
	uint32_t iss = tcp_fx_last(fx)->seq;
	const struct tcp_cap *c;

	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_SYN, .seq = 300 });
	assert_int_equal(tcp_fx_state(fx, (uint32_t)conn), TCPS_SYN_RECEIVED);
	c = tcp_fx_last(fx);
	assert_int_equal(c->flags, TH_SYN | TH_ACK);
	assert_int_equal(c->seq, iss);
	assert_int_equal(c->ack, 301);
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_SYN | TH_ACK, .seq = 300, .ack = iss + 1 });
	assert_int_equal(tcp_fx_state(fx, (uint32_t)conn), TCPS_ESTABLISHED);
	assert_true(tcp_fx_events(fx, (uint32_t)conn) & TCP_EV_CONNECTED);
}

/* SYN_SENT + RST,ACK -> CLOSED with ECONNREFUSED. */
static void test_syn_sent_rst_refused(void **state)
{
	struct tcp_fx *fx = *state;
	int conn = tcp_connect(fx->ts, &fx->env, FX_LADDR, FX_LPORT, FX_RADDR, FX_RPORT, fx->now);
	uint32_t iss = tcp_fx_last(fx)->seq;
	char buf[4];

	/* a RST whose ACK is unacceptable is ignored (RFC 5961 3.2) */
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_RST | TH_ACK, .ack = iss + 5 });
	assert_int_equal(tcp_fx_state(fx, (uint32_t)conn), TCPS_SYN_SENT);
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_RST | TH_ACK, .ack = iss + 1 });
	assert_int_equal(tcp_fx_state(fx, (uint32_t)conn), TCPS_CLOSED);
	assert_true(tcp_fx_events(fx, (uint32_t)conn) & TCP_EV_ERROR);
	assert_int_equal(tcp_recv(fx->ts, &fx->env, (uint32_t)conn, buf, 4, 0, fx->now),
			 -ECONNREFUSED);
	assert_int_equal(tcp_close(fx->ts, &fx->env, (uint32_t)conn, fx->now), 0);
	assert_int_equal(tcp_conn_count(fx->ts), 0);
}

/* SYN_SENT: the SYN is retransmitted on RTO with backoff (1 s, 2 s). */
static void test_syn_sent_rto(void **state)
{
	struct tcp_fx *fx = *state;
	uint64_t t0 = fx->now;

	tcp_connect(fx->ts, &fx->env, FX_LADDR, FX_LPORT, FX_RADDR, FX_RPORT, fx->now);
	tcp_fx_advance(fx, t0 + 999000000ull);
	assert_int_equal(fx->ncap, 1);
	tcp_fx_advance(fx, t0 + 1002000000ull);
	assert_int_equal(fx->ncap, 2);
	assert_int_equal(tcp_fx_cap(fx, 1)->flags, TH_SYN);
	assert_int_equal(tcp_fx_cap(fx, 1)->seq, tcp_fx_cap(fx, 0)->seq);
	tcp_fx_advance(fx, t0 + 2990000000ull);
	assert_int_equal(fx->ncap, 2);
	tcp_fx_advance(fx, t0 + 3010000000ull);
	assert_int_equal(fx->ncap, 3);
}

/* CLOSED (no listener) + SYN -> RST,ACK with ACK = SEQ + 1; + ACK -> RST
 * with SEQ = SEG.ACK; + RST -> nothing (RFC 9293 3.10.7.1). */
static void test_closed_segment_rst(void **state)
{
	struct tcp_fx *fx = *state;
	uint64_t drops[PROTO_DROP_MAX];

	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_SYN, .seq = 41 });
	assert_int_equal(tcp_fx_last(fx)->flags, TH_RST | TH_ACK);
	assert_int_equal(tcp_fx_last(fx)->ack, 42);
	assert_int_equal(tcp_fx_last(fx)->seq, 0);
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_ACK, .seq = 41, .ack = 999 });
	assert_int_equal(tcp_fx_last(fx)->flags, TH_RST);
	assert_int_equal(tcp_fx_last(fx)->seq, 999);
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_RST, .seq = 41 });
	assert_int_equal(fx->ncap, 2);
	tcp_stats_read(fx->ts, NULL, drops);
	assert_int_equal(drops[PROTO_DROP_TCP_NO_SOCKET], 3);
}

/* A bad checksum is dropped and counted; nothing is sent. */
static void test_listen_bad_csum(void **state)
{
	struct tcp_fx *fx = *state;
	uint64_t drops[PROTO_DROP_MAX];

	tcp_listen(fx->ts, &fx->env, 0, FX_LPORT, 4, 0);
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_SYN, .seq = 1, .bad_csum = true });
	assert_int_equal(fx->ncap, 0);
	tcp_stats_read(fx->ts, NULL, drops);
	assert_int_equal(drops[PROTO_DROP_TCP_BAD_CSUM], 1);
}

/* LISTEN with a full accept queue: the final ACK is dropped (the child stays
 * in SYN_RECEIVED) until the user accepts. */
static void test_listen_backlog_full(void **state)
{
	struct tcp_fx *fx = *state;
	int l = tcp_listen(fx->ts, &fx->env, 0, FX_LPORT, 1, 0);
	uint32_t iss[2];

	for (unsigned i = 0; i < 2; i++) {
		tcp_fx_in(fx, &(struct tcp_spec){ .sport = (uint16_t)(6000 + i), .flags = TH_SYN,
						  .seq = 10 });
		iss[i] = tcp_fx_last(fx)->seq;
	}
	for (unsigned i = 0; i < 2; i++)
		tcp_fx_in(fx, &(struct tcp_spec){ .sport = (uint16_t)(6000 + i), .flags = TH_ACK,
						  .seq = 11, .ack = iss[i] + 1 });
	uint64_t drops[PROTO_DROP_MAX];
	tcp_stats_read(fx->ts, NULL, drops);
	assert_int_equal(drops[PROTO_DROP_TCP_LISTEN_OVERFLOW], 1);
	assert_true(tcp_accept(fx->ts, &fx->env, (uint32_t)l, NULL) >= 0);
	assert_int_equal(tcp_accept(fx->ts, &fx->env, (uint32_t)l, NULL), -EAGAIN);
	/* the peer repeats its ACK: now there is room */
	tcp_fx_in(fx, &(struct tcp_spec){ .sport = 6001, .flags = TH_ACK, .seq = 11,
					  .ack = iss[1] + 1 });
	assert_true(tcp_accept(fx->ts, &fx->env, (uint32_t)l, NULL) >= 0);
}

/* LISTEN with syncookies=2: the SYN-ACK keeps no state; the ACK echoing the
 * cookie (and TSecr carrying WS/SACK) creates an ESTABLISHED conn. */
static void test_listen_syncookie_ack(void **state)
{
	struct tcp_fx *fx = *state;
	struct tcp_config cfg;
	struct tcp_conn_info info;
	uint64_t cnt[TCP_CNT_NR];

	tcp_fx_free(fx);
	tcp_fx_config(&cfg);
	cfg.syncookies = 2;
	*state = fx = tcp_fx_new(&cfg);
	int l = tcp_listen(fx->ts, &fx->env, 0, FX_LPORT, 4, 0);
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_SYN, .seq = 500, .opt = full_opts });
	const struct tcp_cap *c = tcp_fx_last(fx);
	assert_int_equal(c->flags, TH_SYN | TH_ACK);
	assert_int_equal(tcp_conn_count(fx->ts), 1);      /* only the listener */
	/* a forged cookie is refused with a RST */
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_ACK, .seq = 501, .ack = c->seq + 77,
		.opt = { .has = TCP_OPTF_TS, .tsval = 5001, .tsecr = c->opt.tsval } });
	assert_int_equal(tcp_fx_last(fx)->flags, TH_RST);
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_ACK, .seq = 501, .ack = c->seq + 1,
		.opt = { .has = TCP_OPTF_TS, .tsval = 5001, .tsecr = c->opt.tsval } });
	int conn = tcp_accept(fx->ts, &fx->env, (uint32_t)l, NULL);
	assert_true(conn >= 0);
	tcp_info(fx->ts, (uint32_t)conn, &info);
	assert_int_equal(info.state, TCPS_ESTABLISHED);
	assert_int_equal(info.snd_wscale, 7);
	assert_true(info.opts & TCP_INFO_OPT_SACK);
	tcp_stats_read(fx->ts, cnt, NULL);
	assert_int_equal(cnt[TCP_CNT_SYNCOOKIES_SENT], 1);
	assert_int_equal(cnt[TCP_CNT_SYNCOOKIES_RECV], 1);
	assert_int_equal(cnt[TCP_CNT_SYNCOOKIES_FAILED], 1);
}

/* LISTEN + ACK for no connection (a peer still sending after we reset the
 * conn, say) -> RST with SEQ = SEG.ACK, counted as an unacceptable ACK
 * (RFC 9293 3.10.7.2: "any acknowledgment is bad ... in the LISTEN state";
 * Linux counts it SKB_DROP_REASON_TCP_FLAGS). Nothing else is counted. */
static void test_listen_ack_rst(void **state)
{
	struct tcp_fx *fx = *state;
	uint64_t drops[PROTO_DROP_MAX];

	assert_true(tcp_listen(fx->ts, &fx->env, 0, FX_LPORT, 4, 0) >= 0);
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_ACK | TH_PSH, .seq = 41, .ack = 999,
					  .data = "late", .len = 4 });
	assert_int_equal(fx->ncap, 1);
	assert_int_equal(tcp_fx_last(fx)->flags, TH_RST);
	assert_int_equal(tcp_fx_last(fx)->seq, 999);
	tcp_stats_read(fx->ts, NULL, drops);
	assert_int_equal(drops[PROTO_DROP_TCP_BAD_ACK], 1);
	assert_int_equal(drops[PROTO_DROP_TCP_NO_SOCKET], 0);
	assert_int_equal(tcp_conn_count(fx->ts), 1);      /* only the listener */
}

/* LISTEN with syncookies=2 and a full accept queue: the ACK of a good cookie
 * is dropped, not answered with a RST (docs/TCP.md "Full accept queue", as
 * Linux's tcp_v4_syn_recv_sock overflow); the peer repeats it and gets in
 * once the user has accepted. */
static void test_listen_syncookie_ack_backlog_full(void **state)
{
	struct tcp_fx *fx = *state;
	struct tcp_config cfg;
	uint64_t drops[PROTO_DROP_MAX];
	uint32_t iss[2];

	tcp_fx_free(fx);
	tcp_fx_config(&cfg);
	cfg.syncookies = 2;
	*state = fx = tcp_fx_new(&cfg);
	int l = tcp_listen(fx->ts, &fx->env, 0, FX_LPORT, 1, 0);
	for (unsigned i = 0; i < 2; i++) {
		tcp_fx_in(fx, &(struct tcp_spec){ .sport = (uint16_t)(6000 + i), .flags = TH_SYN,
						  .seq = 10 });
		iss[i] = tcp_fx_last(fx)->seq;
	}
	tcp_fx_clear(fx);
	for (unsigned i = 0; i < 2; i++)
		tcp_fx_in(fx, &(struct tcp_spec){ .sport = (uint16_t)(6000 + i), .flags = TH_ACK,
						  .seq = 11, .ack = iss[i] + 1 });
	assert_int_equal(fx->ncap, 0);                     /* no RST */
	tcp_stats_read(fx->ts, NULL, drops);
	assert_int_equal(drops[PROTO_DROP_TCP_LISTEN_OVERFLOW], 1);
	assert_int_equal(drops[PROTO_DROP_TCP_BAD_ACK], 0);
	assert_true(tcp_accept(fx->ts, &fx->env, (uint32_t)l, NULL) >= 0);
	tcp_fx_in(fx, &(struct tcp_spec){ .sport = 6001, .flags = TH_ACK, .seq = 11,
					  .ack = iss[1] + 1 });
	assert_true(tcp_accept(fx->ts, &fx->env, (uint32_t)l, NULL) >= 0);
}

/* TCP_MAXSEG / route MTU clamp the MSS we announce (RFC 6691). */
static uint16_t small_mtu(void *ctx, uint32_t daddr)
{
	(void)ctx; (void)daddr;
	return 1280;
}

static void test_syn_sent_mss_clamp(void **state)
{
	struct tcp_fx *fx = *state;

	fx->env.route_mtu = small_mtu;
	tcp_connect(fx->ts, &fx->env, FX_LADDR, FX_LPORT, FX_RADDR, FX_RPORT, fx->now);
	assert_int_equal(tcp_fx_last(fx)->opt.mss, 1240);
}

/* SO_REUSEPORT: two listeners share a port; one bound to an exact address
 * wins over the wildcard; a third without REUSEPORT is refused. */
static void test_listen_reuseport(void **state)
{
	struct tcp_fx *fx = *state;

	assert_true(tcp_listen(fx->ts, &fx->env, 0, 81, 4, TCP_LISTEN_REUSEPORT) >= 0);
	assert_true(tcp_listen(fx->ts, &fx->env, 0, 81, 4, TCP_LISTEN_REUSEPORT) >= 0);
	assert_int_equal(tcp_listen(fx->ts, &fx->env, 0, 81, 4, 0), -EADDRINUSE);
	int exact = tcp_listen(fx->ts, &fx->env, FX_LADDR, 81, 4, 0);
	assert_true(exact >= 0);
	tcp_fx_in(fx, &(struct tcp_spec){ .dport = 81, .flags = TH_SYN, .seq = 1 });
	tcp_fx_in(fx, &(struct tcp_spec){ .dport = 81, .flags = TH_ACK, .seq = 2,
					  .ack = tcp_fx_last(fx)->seq + 1 });
	assert_true(tcp_accept(fx->ts, &fx->env, (uint32_t)exact, NULL) >= 0);
}

/* A closed listener leaves the listener hash: its port can be listened on
 * again, a SYN to it is refused, and the freed TCB, reused for a
 * connection, is not reachable from the hash. */
static void test_listen_close_frees_port(void **state)
{
	struct tcp_fx *fx = *state;
	int a = tcp_listen(fx->ts, &fx->env, 0, 82, 4, 0), b, c;

	assert_true(a >= 0);
	b = tcp_listen(fx->ts, &fx->env, 0, 83, 4, 0);   /* same bucket's neighbour */
	assert_true(b >= 0);
	assert_int_equal(tcp_close(fx->ts, &fx->env, (uint32_t)a, fx->now), 0);
	assert_int_equal(tcp_conn_count(fx->ts), 1);
	c = tcp_connect(fx->ts, &fx->env, FX_LADDR, 0, FX_RADDR, FX_RPORT, fx->now);
	assert_true(c >= 0);                          /* takes the freed slot */
	tcp_fx_in(fx, &(struct tcp_spec){ .dport = 82, .flags = TH_SYN, .seq = 1 });
	assert_true(tcp_fx_last(fx)->flags & TH_RST);  /* nobody listens on 82 */
	a = tcp_listen(fx->ts, &fx->env, 0, 82, 4, 0);
	assert_true(a >= 0);
	assert_int_equal(tcp_close(fx->ts, &fx->env, (uint32_t)b, fx->now), 0);
	assert_true(tcp_listen(fx->ts, &fx->env, 0, 83, 4, 0) >= 0);
}

/* A table full of TIME_WAITs (a server that closes first) does not refuse
 * new connections: one TIME_WAIT is ended early for each, counted. */
static void test_timewait_recycled_when_full(void **state)
{
	struct tcp_fx *fx = *state;
	struct tcp_config cfg;
	uint64_t cnt[TCP_CNT_NR];
	uint32_t iss;
	int l;

	tcp_fx_free(fx);
	tcp_fx_config(&cfg);
	cfg.max_conns = 4;
	*state = fx = tcp_fx_new(&cfg);
	l = tcp_listen(fx->ts, &fx->env, 0, FX_LPORT, 8, 0);
	assert_true(l >= 0);
	for (uint16_t port = 2000; port < 2010; port++) {
		int c;

		tcp_fx_in(fx, &(struct tcp_spec){ .sport = port, .flags = TH_SYN, .seq = 100 });
		assert_int_equal(tcp_fx_last(fx)->flags, TH_SYN | TH_ACK);
		iss = tcp_fx_last(fx)->seq;
		tcp_fx_in(fx, &(struct tcp_spec){ .sport = port, .flags = TH_ACK, .seq = 101,
						  .ack = iss + 1 });
		c = tcp_accept(fx->ts, &fx->env, (uint32_t)l, NULL);
		assert_true(c >= 0);
		assert_int_equal(tcp_close(fx->ts, &fx->env, (uint32_t)c, fx->now), 0);
		tcp_fx_in(fx, &(struct tcp_spec){ .sport = port, .flags = TH_FIN | TH_ACK,
						  .seq = 101, .ack = iss + 2 });
		assert_int_equal(tcp_fx_state(fx, (uint32_t)c), TCPS_TIME_WAIT);
	}
	tcp_stats_read(fx->ts, cnt, NULL);
	assert_int_equal(cnt[TCP_CNT_TW_RECYCLED], 10 - 3);   /* 3 TCBs beside the listener */
	assert_int_equal(tcp_conn_count(fx->ts), 4);
}

/* A TIME_WAIT the app still holds (it shut writing, the peer's FIN came:
 * nginx's lingering close) is not recycled for a new connection: its id
 * would name a stranger's connection to the app. The new SYN waits. */
static void test_timewait_user_held_not_recycled(void **state)
{
	struct tcp_fx *fx = *state;
	struct tcp_config cfg;
	uint32_t iss, held;
	int l;

	tcp_fx_free(fx);
	tcp_fx_config(&cfg);
	cfg.max_conns = 2;
	*state = fx = tcp_fx_new(&cfg);
	l = tcp_listen(fx->ts, &fx->env, 0, FX_LPORT, 8, 0);
	assert_true(l >= 0);
	tcp_fx_in(fx, &(struct tcp_spec){ .sport = 2000, .flags = TH_SYN, .seq = 100 });
	iss = tcp_fx_last(fx)->seq;
	tcp_fx_in(fx, &(struct tcp_spec){ .sport = 2000, .flags = TH_ACK, .seq = 101, .ack = iss + 1 });
	held = (uint32_t)tcp_accept(fx->ts, &fx->env, (uint32_t)l, NULL);
	assert_int_equal(tcp_shutdown(fx->ts, &fx->env, held, TCP_SHUT_WR, fx->now), 0);
	tcp_fx_in(fx, &(struct tcp_spec){ .sport = 2000, .flags = TH_FIN | TH_ACK, .seq = 101,
					  .ack = iss + 2 });
	assert_int_equal(tcp_fx_state(fx, held), TCPS_TIME_WAIT);
	tcp_fx_in(fx, &(struct tcp_spec){ .sport = 3000, .flags = TH_SYN, .seq = 500 });
	assert_int_equal(tcp_fx_state(fx, held), TCPS_TIME_WAIT);   /* still the app's */
	assert_int_equal(tcp_accept(fx->ts, &fx->env, (uint32_t)l, NULL), -EAGAIN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_listen_syn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syn_sent_synack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syn_sent_syn_simultaneous, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syn_sent_rst_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syn_sent_rto, setup, teardown),
		cmocka_unit_test_setup_teardown(test_closed_segment_rst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_bad_csum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_backlog_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_syncookie_ack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_ack_rst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_syncookie_ack_backlog_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syn_sent_mss_clamp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_reuseport, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_close_frees_port, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timewait_recycled_when_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timewait_user_held_not_recycled, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
