/* tests/unit/test_tcp_data.c — data transfer in ESTABLISHED: ACK policy
 * (quick ACK, delayed ACK), out-of-order data and SACK blocks, window
 * scaling, retransmission on RTO, NewReno fast retransmit and recovery,
 * SACK-based recovery (RFC 6675), zero window and persist probes, keepalive,
 * Nagle / TCP_NODELAY / TCP_CORK, and the window update after a read. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "tests/support/tcp_seg.h"

#define IRS 1000u
#define MS 1000000ull

struct st {
	struct tcp_fx *fx;
	uint32_t conn, iss;
};

static struct st S;
static uint8_t payload[64 * 1024];

static int open_with(void **state, const struct tcp_opts *o)
{
	int c;

	for (unsigned i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7);
	if (!(S.fx = tcp_fx_new(NULL)) || (c = tcp_fx_passive_open(S.fx, IRS, o, &S.iss)) < 0)
		return -1;
	S.conn = (uint32_t)c;
	*state = &S;
	return 0;
}

/* No options: MSS 536, no SACK, no timestamps, no scaling. */
static int setup_plain(void **state) { return open_with(state, NULL); }

static int setup_sack(void **state)
{
	static const struct tcp_opts o = { .has = TCP_OPTF_MSS | TCP_OPTF_SACKPERM, .mss = 1000 };

	return open_with(state, &o);
}

static int setup_wscale(void **state)
{
	static const struct tcp_opts o = { .has = TCP_OPTF_MSS | TCP_OPTF_WSCALE, .mss = 1000,
					   .wscale = 7 };

	return open_with(state, &o);
}

static int teardown(void **state)
{
	struct st *s = *state;

	assert_int_equal(tcp_fx_free(s->fx), 0);
	return 0;
}

static uint64_t counter(struct tcp_fx *fx, unsigned id)
{
	uint64_t cnt[TCP_CNT_NR];

	tcp_stats_read(fx->ts, cnt, NULL);
	return cnt[id];
}

static void peer_data(struct st *s, uint32_t off, uint32_t len)
{
	tcp_fx_in(s->fx, &(struct tcp_spec){ .flags = TH_ACK, .seq = IRS + 1 + off,
					     .ack = s->iss + 1, .data = payload + off, .len = len });
}

static void peer_ack(struct st *s, uint32_t acked, uint16_t wnd, bool zero)
{
	tcp_fx_in(s->fx, &(struct tcp_spec){ .flags = TH_ACK, .seq = IRS + 1,
					     .ack = s->iss + 1 + acked, .wnd = wnd,
					     .wnd_zero = zero });
}

/* ESTABLISHED + data: the first segments are ACKed at once (quick ACK);
 * later a lone segment waits for the delayed-ACK timer (40 ms), and every
 * second full-sized segment is ACKed at once (RFC 1122 4.2.3.2). */
static void test_established_data_delayed_ack(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;
	uint8_t buf[4096];

	peer_data(s, 0, 100);
	assert_int_equal(fx->ncap, 1);
	assert_int_equal(tcp_fx_last(fx)->ack, IRS + 101);
	assert_true(tcp_fx_events(fx, s->conn) & TCP_EV_READABLE);
	tcp_tcb(fx->ts, s->conn)->quickack = 0;
	tcp_fx_clear(fx);
	peer_data(s, 100, 100);
	assert_int_equal(fx->ncap, 0);
	tcp_fx_advance(fx, fx->now + 39 * MS);
	assert_int_equal(fx->ncap, 0);
	tcp_fx_advance(fx, fx->now + 2 * MS);
	assert_int_equal(fx->ncap, 1);
	assert_int_equal(tcp_fx_last(fx)->ack, IRS + 201);
	assert_int_equal(counter(fx, TCP_CNT_DELAYED_ACKS), 1);
	tcp_fx_clear(fx);
	peer_data(s, 200, 536);
	assert_int_equal(fx->ncap, 0);
	peer_data(s, 736, 536);
	assert_int_equal(fx->ncap, 1);
	assert_int_equal(tcp_fx_last(fx)->ack, IRS + 1273);
	assert_int_equal(tcp_recv(fx->ts, &fx->env, s->conn, buf, sizeof(buf), 0, fx->now), 1272);
	assert_memory_equal(buf, payload, 1272);
}

/* ESTABLISHED + out-of-order data -> immediate duplicate ACK with a SACK
 * block; the hole filled -> ACK of everything, data readable in order. */
static void test_established_ooo_sack_blocks(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;
	uint8_t buf[4096];

	peer_data(s, 1000, 500);
	peer_data(s, 2000, 500);
	assert_int_equal(fx->ncap, 2);
	const struct tcp_cap *c = tcp_fx_last(fx);
	assert_int_equal(c->ack, IRS + 1);
	assert_int_equal(c->opt.nsack, 2);
	assert_int_equal(c->opt.sack[0].start, IRS + 2001);   /* most recent first */
	assert_int_equal(c->opt.sack[1].start, IRS + 1001);
	assert_int_equal(tcp_recv(fx->ts, &fx->env, s->conn, buf, sizeof(buf), 0, fx->now), -EAGAIN);
	peer_data(s, 0, 1000);
	assert_int_equal(tcp_fx_last(fx)->ack, IRS + 1501);
	assert_int_equal(tcp_fx_last(fx)->opt.nsack, 1);
	peer_data(s, 1500, 500);
	assert_int_equal(tcp_fx_last(fx)->ack, IRS + 2501);
	assert_int_equal(tcp_recv(fx->ts, &fx->env, s->conn, buf, sizeof(buf), 0, fx->now), 2500);
	assert_memory_equal(buf, payload, 2500);
}

/* ESTABLISHED, peer WS 7: a window field of 100 means 12800 bytes. */
static void test_established_window_scaled(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;
	uint32_t sent = 0;

	peer_ack(s, 0, 100, false);
	tcp_cc_init(&tcp_tcb(fx->ts, s->conn)->cc, TCP_CC_NEWRENO, 1000, fx->now);
	tcp_tcb(fx->ts, s->conn)->cc.cwnd = 100000;
	tcp_fx_clear(fx);
	assert_int_equal(tcp_send(fx->ts, &fx->env, s->conn, payload, 20000, 0, fx->now), 20000);
	for (uint32_t i = 0; i < fx->ncap; i++)
		sent += fx->cap[i].len;
	/* 12 full segments; the 800-byte tail waits: sender SWS avoidance
	 * (RFC 1122 4.2.3.4) sends less than an MSS only as the last data */
	assert_int_equal(sent, 12000);
	/* and our window is scaled by 1 (64 KiB ring) */
	assert_int_equal(tcp_fx_last(fx)->wnd, 65536 / 2);
}

/* ESTABLISHED + data unacked past RTO -> retransmitted, backoff doubles. */
static void test_established_rto_retransmit(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;
	uint64_t t0 = fx->now;

	tcp_send(fx->ts, &fx->env, s->conn, payload, 100, 0, fx->now);
	assert_int_equal(fx->ncap, 1);
	tcp_fx_advance(fx, t0 + 210 * MS);
	assert_int_equal(fx->ncap, 2);
	assert_int_equal(fx->cap[1].seq, s->iss + 1);
	assert_int_equal(fx->cap[1].len, 100);
	assert_memory_equal(fx->cap[1].data, payload, 100);
	tcp_fx_advance(fx, t0 + 590 * MS);
	assert_int_equal(fx->ncap, 2);
	tcp_fx_advance(fx, t0 + 610 * MS);
	assert_int_equal(fx->ncap, 3);
	assert_int_equal(counter(fx, TCP_CNT_TIMEOUTS), 2);
	peer_ack(s, 100, 0, false);
	struct tcp_conn_info info;
	tcp_info(fx->ts, s->conn, &info);
	assert_int_equal(info.unacked, 0);
	assert_int_equal(info.backoff, 0);
	assert_int_equal(info.snd_cwnd, 536);   /* loss window: 1 SMSS... */
}

/* ESTABLISHED (no SACK) + 3 dupacks -> fast retransmit of the hole, NewReno
 * recovery: a partial ACK retransmits the next hole, a full ACK ends it. */
static void test_established_dupacks_fast_retransmit(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;

	tcp_send(fx->ts, &fx->env, s->conn, payload, 536 * 8, 0, fx->now);
	assert_int_equal(fx->ncap, 8);
	peer_ack(s, 536, 0, false);               /* seg 1 arrived; 2 and 4 lost */
	tcp_fx_clear(fx);
	for (unsigned i = 0; i < 2; i++)
		peer_ack(s, 536, 0, false);
	assert_int_equal(fx->ncap, 0);
	peer_ack(s, 536, 0, false);               /* third duplicate */
	assert_true(fx->ncap >= 1);
	assert_int_equal(fx->cap[0].seq, s->iss + 1 + 536);
	assert_int_equal(counter(fx, TCP_CNT_FAST_RETRANS), 1);
	assert_int_equal(counter(fx, TCP_CNT_RENO_RECOVERY), 1);
	tcp_fx_clear(fx);
	peer_ack(s, 536 * 3, 0, false);           /* partial: hole at seg 4 */
	assert_true(fx->ncap >= 1);
	assert_int_equal(fx->cap[0].seq, s->iss + 1 + 536 * 3);
	peer_ack(s, 536 * 8, 0, false);           /* full ACK */
	assert_int_equal(tcp_tcb(fx->ts, s->conn)->flags & TF_IN_RECOVERY, 0);
	assert_int_equal(counter(fx, TCP_CNT_TIMEOUTS), 0);
}

/* ESTABLISHED with SACK + ACKs SACKing beyond a hole -> RFC 6675 recovery
 * retransmits only the lost bytes. */
static void test_established_sack_recovery(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;
	uint32_t base = s->iss + 1;

	tcp_send(fx->ts, &fx->env, s->conn, payload, 1000 * 8, 0, fx->now);
	assert_int_equal(fx->ncap, 8);
	tcp_fx_clear(fx);
	/* seg 0 lost; 1..3 arrive: three dup ACKs with growing SACK blocks */
	for (unsigned i = 1; i <= 3; i++)
		tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_ACK, .seq = IRS + 1, .ack = base,
			.opt = { .has = TCP_OPTF_SACK, .nsack = 1,
				 .sack = { { base + 1000, base + 1000 * (i + 1) } } } });
	assert_true(fx->ncap >= 1);
	assert_int_equal(fx->cap[0].seq, base);
	assert_int_equal(fx->cap[0].len, 1000);
	assert_int_equal(counter(fx, TCP_CNT_SACK_RECOVERY), 1);
	for (uint32_t i = 1; i < fx->ncap; i++)
		assert_true(fx->cap[i].seq != base);   /* no duplicate of the hole */
	tcp_fx_clear(fx);
	peer_ack(s, 8000, 0, false);
	assert_int_equal(tcp_tcb(fx->ts, s->conn)->flags & TF_IN_RECOVERY, 0);
}

/* ESTABLISHED + zero window -> data held, persist probes of one byte with
 * backoff; the window reopening lets the data go. */
static void test_established_zero_window_persist(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;
	uint64_t t0 = fx->now;

	peer_ack(s, 0, 0, true);
	tcp_fx_clear(fx);
	assert_int_equal(tcp_send(fx->ts, &fx->env, s->conn, payload, 1000, 0, fx->now), 1000);
	assert_int_equal(fx->ncap, 0);
	tcp_fx_advance(fx, t0 + 210 * MS);
	assert_int_equal(fx->ncap, 1);
	assert_int_equal(fx->cap[0].len, 1);
	assert_int_equal(fx->cap[0].seq, s->iss + 1);
	assert_int_equal(counter(fx, TCP_CNT_PERSIST_PROBES), 1);
	peer_ack(s, 0, 0, true);                  /* probe refused: still zero */
	tcp_fx_advance(fx, t0 + 5000 * MS);
	assert_true(fx->ncap >= 3);
	assert_int_equal(tcp_fx_state(fx, s->conn), TCPS_ESTABLISHED);
	tcp_fx_clear(fx);
	peer_ack(s, 0, 8000, false);
	/* one full segment from SND.UNA; Nagle holds the 464-byte tail */
	assert_int_equal(fx->ncap, 1);
	assert_int_equal(fx->cap[0].seq, s->iss + 1);
	assert_int_equal(fx->cap[0].len, 536);
	peer_ack(s, 536, 8000, false);
	assert_int_equal(tcp_fx_last(fx)->len, 464);
}

/* ESTABLISHED + SO_KEEPALIVE, idle -> probes at SND.NXT-1; unanswered
 * KEEPCNT times -> RST and ETIMEDOUT. An answer resets the count. */
static void test_established_keepalive(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;
	int one = 1, two = 2;
	uint64_t t0 = fx->now;
	char b[4];

	tcp_setsockopt(fx->ts, &fx->env, s->conn, TCP_SOCKOPT_KEEPIDLE, &one, 4, fx->now);
	tcp_setsockopt(fx->ts, &fx->env, s->conn, TCP_SOCKOPT_KEEPINTVL, &one, 4, fx->now);
	tcp_setsockopt(fx->ts, &fx->env, s->conn, TCP_SOCKOPT_KEEPCNT, &two, 4, fx->now);
	tcp_setsockopt(fx->ts, &fx->env, s->conn, TCP_SOCKOPT_KEEPALIVE, &one, 4, fx->now);
	tcp_fx_advance(fx, t0 + 1010 * MS);
	assert_int_equal(fx->ncap, 1);
	assert_int_equal(fx->cap[0].seq, s->iss);
	assert_int_equal(fx->cap[0].len, 0);
	peer_ack(s, 0, 0, false);                 /* answered */
	tcp_fx_clear(fx);
	tcp_fx_advance(fx, t0 + 4100 * MS);
	assert_int_equal(tcp_fx_state(fx, s->conn), TCPS_CLOSED);
	assert_true(tcp_fx_last(fx)->flags & TH_RST);
	assert_int_equal(counter(fx, TCP_CNT_KEEPALIVE_PROBES), 3);
	assert_int_equal(tcp_recv(fx->ts, &fx->env, s->conn, b, 4, 0, fx->now), -ETIMEDOUT);
}

/* Nagle: a second small send waits for the first one's ACK; TCP_NODELAY
 * sends it at once; TCP_CORK holds everything until uncorked. */
static void test_established_nagle(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;
	int one = 1, zero = 0;

	tcp_send(fx->ts, &fx->env, s->conn, payload, 10, 0, fx->now);
	tcp_send(fx->ts, &fx->env, s->conn, payload + 10, 10, 0, fx->now);
	assert_int_equal(fx->ncap, 1);
	peer_ack(s, 10, 0, false);
	assert_int_equal(fx->ncap, 2);
	assert_int_equal(tcp_fx_last(fx)->len, 10);
	peer_ack(s, 20, 0, false);
	tcp_fx_clear(fx);
	tcp_setsockopt(fx->ts, &fx->env, s->conn, TCP_SOCKOPT_NODELAY, &one, 4, fx->now);
	tcp_send(fx->ts, &fx->env, s->conn, payload, 10, 0, fx->now);
	tcp_send(fx->ts, &fx->env, s->conn, payload, 10, 0, fx->now);
	assert_int_equal(fx->ncap, 2);
	peer_ack(s, 40, 0, false);
	tcp_fx_clear(fx);
	tcp_setsockopt(fx->ts, &fx->env, s->conn, TCP_SOCKOPT_CORK, &one, 4, fx->now);
	tcp_send(fx->ts, &fx->env, s->conn, payload, 10, 0, fx->now);
	tcp_send(fx->ts, &fx->env, s->conn, payload, 10, 0, fx->now);
	assert_int_equal(fx->ncap, 0);
	tcp_setsockopt(fx->ts, &fx->env, s->conn, TCP_SOCKOPT_CORK, &zero, 4, fx->now);
	assert_int_equal(fx->ncap, 1);
	assert_int_equal(tcp_fx_last(fx)->len, 20);
}

/* ESTABLISHED: the peer fills our window; reading opens it and a window
 * update goes out without waiting for the peer (RFC 9293 3.8.6.2.2). */
static void test_established_recv_window_update(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;
	static uint8_t buf[70000];
	uint32_t off = 0;

	while (off < 65535) {
		uint32_t n = 65535 - off < 536 ? 65535 - off : 536;

		peer_data(s, off, n);
		off += n;
	}
	tcp_fx_advance(fx, fx->now + 50 * MS);       /* the last ACK may be delayed */
	assert_true(tcp_fx_last(fx)->wnd < 10);
	assert_int_equal(tcp_fx_last(fx)->ack, IRS + 1 + 65535);
	tcp_fx_clear(fx);
	assert_int_equal(tcp_recv(fx->ts, &fx->env, s->conn, buf, sizeof(buf), 0, fx->now), 65535);
	assert_memory_equal(buf, payload, 65535);
	assert_int_equal(fx->ncap, 1);
	assert_true(tcp_fx_last(fx)->wnd >= 30000);
}

/* ESTABLISHED + TCP_CONGESTION "cubic" mid-connection -> the window the
 * conn earned is kept (tcp_cc_switch); a listener's choice is its
 * children's (as Linux). */
static void test_established_congestion_switch(void **state)
{
	struct st *s = *state;
	struct tcp_fx *fx = s->fx;
	struct tcp_conn_info before, after;
	char name[16] = "";
	uint32_t len = sizeof(name), iss;
	int l;

	tcp_send(fx->ts, &fx->env, s->conn, payload, 536 * 4, 0, fx->now);
	peer_ack(s, 536 * 4, 0, false);
	tcp_info(fx->ts, s->conn, &before);
	assert_string_equal(before.cc, "newreno");
	assert_int_equal(tcp_setsockopt(fx->ts, &fx->env, s->conn, TCP_SOCKOPT_CONGESTION,
					"cubic", 5, fx->now), 0);
	tcp_info(fx->ts, s->conn, &after);
	assert_string_equal(after.cc, "cubic");
	assert_int_equal(after.snd_cwnd, before.snd_cwnd);
	assert_int_equal(after.snd_ssthresh, before.snd_ssthresh);
	assert_int_equal(tcp_setsockopt(fx->ts, &fx->env, s->conn, TCP_SOCKOPT_CONGESTION,
					"vegas", 5, fx->now), -ENOENT);

	l = tcp_listen(fx->ts, &fx->env, 0, 8080, 4, 0);
	assert_int_equal(tcp_getsockopt(fx->ts, (uint32_t)l, TCP_SOCKOPT_CONGESTION, name, &len), 0);
	assert_string_equal(name, "newreno");              /* the config's */
	assert_int_equal(tcp_setsockopt(fx->ts, &fx->env, (uint32_t)l, TCP_SOCKOPT_CONGESTION,
					"cubic", 6, fx->now), 0);
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_SYN, .seq = 7000, .dport = 8080 });
	iss = tcp_fx_last(fx)->seq;
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_ACK, .seq = 7001, .ack = iss + 1,
					  .dport = 8080 });
	int c = tcp_accept(fx->ts, &fx->env, (uint32_t)l, NULL);
	assert_true(c >= 0);
	tcp_info(fx->ts, (uint32_t)c, &after);
	assert_string_equal(after.cc, "cubic");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_established_data_delayed_ack, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_established_ooo_sack_blocks, setup_sack, teardown),
		cmocka_unit_test_setup_teardown(test_established_window_scaled, setup_wscale, teardown),
		cmocka_unit_test_setup_teardown(test_established_rto_retransmit, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_established_dupacks_fast_retransmit, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_established_sack_recovery, setup_sack, teardown),
		cmocka_unit_test_setup_teardown(test_established_zero_window_persist, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_established_keepalive, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_established_nagle, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_established_recv_window_update, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_established_congestion_switch, setup_plain, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
