/* tests/unit/test_tcp_sack.c — the sender's side of SACK loss recovery
 * (RFC 6675 4 and 5): SetPipe and the four NextSeg rules on a scoreboard
 * built by hand, then rules 3 and 4 in a recovery driven by crafted ACKs
 * (rule 1 is in test_tcp_data.c's sack recovery), and D-SACKs (RFC 2883)
 * not taken for duplicate ACKs. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "tests/support/tcp_seg.h"

#define B 100000u        /* SND.UNA of the hand-built scoreboards */
#define IRS 1000u

static uint8_t payload[16 * 1024];

/* In recovery, 10 segments of 1000 bytes outstanding from B, and the
 * scoreboard {[B+1000, B+2000), [B+3000, B+5000)}: the hole at B is lost
 * (3000 bytes SACKed above), the hole at B+2000 is not (2000 above, one
 * block), the tail from B+5000 has nothing above it. */
static void board(struct tcb *t)
{
	memset(t, 0, sizeof(*t));
	t->flags = TF_SACK_OK | TF_IN_RECOVERY;
	t->snd_una = B;
	t->snd_nxt = t->snd_max = t->recover = B + 10000;
	t->snd_mss = 1000;
	t->n_score = 2;
	t->score[0] = (struct tcp_range){ B + 1000, B + 2000 };
	t->score[1] = (struct tcp_range){ B + 3000, B + 5000 };
	t->rexmt_high = t->rescue_rxt = B;
}

/* SetPipe counts unSACKed bytes not lost, and retransmitted ones again:
 * hole B+2000 (1000) + tail (5000), then + the retransmission of B. */
static void test_sack_pipe_rfc6675(void **state)
{
	struct tcb t;

	(void)state;
	board(&t);
	assert_int_equal(tcp_sack_pipe(&t), 6000);
	t.rexmt_high = B + 1000;
	assert_int_equal(tcp_sack_pipe(&t), 7000);
	t.rexmt_high = B + 2500;       /* part of the unlost hole: counted twice */
	assert_int_equal(tcp_sack_pipe(&t), 7500);
	t.n_score = 0;                 /* no SACK at all: the whole flight, + rexmt */
	assert_int_equal(tcp_sack_pipe(&t), 12500);
	t.flags &= ~(uint32_t)TF_IN_RECOVERY;
	assert_int_equal(tcp_sack_pipe(&t), 10000);
}

/* Rule 1: the first lost bytes above HighRxt, one SMSS at most. */
static void test_sack_next_seg_rule1_lost_above_highrxt(void **state)
{
	struct tcb t;
	uint32_t seq, len;

	(void)state;
	board(&t);
	assert_int_equal(tcp_sack_next_seg(&t, false, &seq, &len), 1);
	assert_int_equal(seq, B);
	assert_int_equal(len, 1000);
	t.rexmt_high = B + 400;
	assert_int_equal(tcp_sack_next_seg(&t, false, &seq, &len), 1);
	assert_int_equal(seq, B + 400);
	assert_int_equal(len, 600);
	t.rexmt_high = B + 1000;       /* the lost hole is done; the other is not lost */
	assert_int_equal(tcp_sack_next_seg(&t, false, &seq, &len), 0);
}

/* Rule 3 (after new data failed): unSACKed bytes above HighRxt below the
 * highest SACK, lost or not; never in the tail (1.b). */
static void test_sack_next_seg_rule3_not_yet_lost(void **state)
{
	struct tcb t;
	uint32_t seq, len;

	(void)state;
	board(&t);
	t.rexmt_high = B + 1000;
	assert_int_equal(tcp_sack_next_seg(&t, true, &seq, &len), 3);
	assert_int_equal(seq, B + 2000);
	assert_int_equal(len, 1000);
	t.rexmt_high = B + 3000;       /* every hole retransmitted: on to rule 4 */
	assert_int_equal(tcp_sack_next_seg(&t, true, &seq, &len), 0);   /* HighACK == RescueRxt */
}

/* Rule 4: once HighACK passed RescueRxt, one SMSS ending at the highest
 * unSACKed byte (the tail's end, or the last hole's when the tail is
 * SACKed); none once RescueRxt = RecoveryPoint. */
static void test_sack_next_seg_rule4_rescue(void **state)
{
	struct tcb t;
	uint32_t seq, len;

	(void)state;
	board(&t);
	t.rexmt_high = B + 3000;
	t.rescue_rxt = B - 1;
	assert_int_equal(tcp_sack_next_seg(&t, true, &seq, &len), 4);
	assert_int_equal(seq, B + 9000);
	assert_int_equal(len, 1000);
	assert_int_equal(tcp_sack_next_seg(&t, false, &seq, &len), 0);  /* not before rule 2 */
	t.score[1].end = B + 10000;    /* the tail SACKed: the last hole's end */
	t.score[1].start = B + 2500;
	t.score[0].end = B + 2000;
	assert_int_equal(tcp_sack_next_seg(&t, true, &seq, &len), 4);
	assert_int_equal(seq, B + 2000);
	assert_int_equal(len, 500);
	t.rescue_rxt = t.recover;
	assert_int_equal(tcp_sack_next_seg(&t, true, &seq, &len), 0);
}

/* ------------------------------------------------------------ scenario */

static uint64_t counter(struct tcp_fx *fx, unsigned id)
{
	uint64_t cnt[TCP_CNT_NR];

	tcp_stats_read(fx->ts, cnt, NULL);
	return cnt[id];
}

static void sack_ack(struct tcp_fx *fx, uint32_t ack, uint32_t s, uint32_t e)
{
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_ACK, .seq = IRS + 1, .ack = ack,
		.opt = { .has = TCP_OPTF_SACK, .nsack = 1, .sack = { { s, e } } } });
}

/* ESTABLISHED with SACK, 10 segments out, only the 9th SACKed (by three
 * dupacks, each SACKing more of it): recovery starts (head retransmitted); a partial ACK leaves a hole
 * that is not "lost" and no new data to send: rule 3 retransmits it as cwnd
 * allows; then with the hole ACKed, the unSACKed tail gets rule 4's one
 * rescue retransmission instead of waiting for the RTO. */
static void test_established_sack_rules_3_and_4(void **state)
{
	static const struct tcp_opts o = { .has = TCP_OPTF_MSS | TCP_OPTF_SACKPERM, .mss = 1000 };
	struct tcp_fx *fx = tcp_fx_new(NULL);
	uint32_t iss, base;
	int c;

	(void)state;
	assert_true((c = tcp_fx_passive_open(fx, IRS, &o, &iss)) >= 0);
	base = iss + 1;
	assert_int_equal(tcp_send(fx->ts, &fx->env, (uint32_t)c, payload, 10000, 0, fx->now), 10000);
	assert_int_equal(fx->ncap, 10);
	tcp_fx_clear(fx);
	for (unsigned i = 1; i <= 3; i++)          /* each SACKs more (RFC 6675 2) */
		sack_ack(fx, base, base + 8000, base + 8000 + i * 1000 / 3);
	assert_int_equal(fx->ncap, 1);                  /* the head, and pipe is full */
	assert_int_equal(fx->cap[0].seq, base);
	tcp_fx_clear(fx);
	sack_ack(fx, base + 6000, base + 8000, base + 9000);
	assert_int_equal(fx->ncap, 2);                  /* rule 3: the hole, not lost */
	assert_int_equal(fx->cap[0].seq, base + 6000);
	assert_int_equal(fx->cap[1].seq, base + 7000);
	assert_int_equal(counter(fx, TCP_CNT_SACK_RESCUE), 0);
	tcp_fx_clear(fx);
	sack_ack(fx, base + 8000, base + 8000, base + 9000);
	assert_int_equal(fx->ncap, 1);                  /* rule 4: the tail, once */
	assert_int_equal(fx->cap[0].seq, base + 9000);
	assert_int_equal(fx->cap[0].len, 1000);
	assert_memory_equal(fx->cap[0].data, payload + 9000, 1000);
	assert_int_equal(counter(fx, TCP_CNT_SACK_RESCUE), 1);
	tcp_fx_clear(fx);
	sack_ack(fx, base + 8000, base + 8000, base + 9000);
	assert_int_equal(fx->ncap, 0);
	sack_ack(fx, base + 10000, 0, 0);
	assert_int_equal(tcp_tcb(fx->ts, (uint32_t)c)->flags & TF_IN_RECOVERY, 0);
	assert_int_equal(counter(fx, TCP_CNT_TIMEOUTS), 0);
	assert_int_equal(tcp_fx_free(fx), 0);
}

/* ESTABLISHED with SACK + ACKs whose only news is a D-SACK (RFC 2883: the
 * peer got a segment twice; the block lies below the ACK, or inside the
 * next block) -> not duplicate ACKs (RFC 6675 2): no fast retransmit. */
static void test_established_dsack_not_dupack(void **state)
{
	static const struct tcp_opts o = { .has = TCP_OPTF_MSS | TCP_OPTF_SACKPERM, .mss = 1000 };
	struct tcp_fx *fx = tcp_fx_new(NULL);
	uint32_t iss, base;
	int c;

	(void)state;
	assert_true((c = tcp_fx_passive_open(fx, IRS, &o, &iss)) >= 0);
	base = iss + 1;
	tcp_send(fx->ts, &fx->env, (uint32_t)c, payload, 8000, 0, fx->now);
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_ACK, .seq = IRS + 1, .ack = base + 2000 });
	tcp_fx_clear(fx);
	for (unsigned i = 0; i < 4; i++)
		sack_ack(fx, base + 2000, base + 1000, base + 2000);     /* below the ACK */
	assert_int_equal(fx->ncap, 0);
	assert_int_equal(counter(fx, TCP_CNT_DSACKS_RECV), 4);
	assert_int_equal(tcp_tcb(fx->ts, (uint32_t)c)->dupacks, 0);
	sack_ack(fx, base + 2000, base + 3000, base + 5000);          /* news: a dupack */
	assert_int_equal(tcp_tcb(fx->ts, (uint32_t)c)->dupacks, 1);
	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_ACK, .seq = IRS + 1, .ack = base + 2000,
		.opt = { .has = TCP_OPTF_SACK, .nsack = 2,
			 .sack = { { base + 3000, base + 4000 }, { base + 3000, base + 5000 } } } });
	assert_int_equal(tcp_tcb(fx->ts, (uint32_t)c)->dupacks, 1);  /* inside the next */
	assert_int_equal(counter(fx, TCP_CNT_DSACKS_RECV), 5);
	assert_int_equal(counter(fx, TCP_CNT_FAST_RETRANS), 0);
	assert_int_equal(fx->ncap, 0);
	assert_int_equal(tcp_fx_free(fx), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sack_pipe_rfc6675),
		cmocka_unit_test(test_sack_next_seg_rule1_lost_above_highrxt),
		cmocka_unit_test(test_sack_next_seg_rule3_not_yet_lost),
		cmocka_unit_test(test_sack_next_seg_rule4_rescue),
		cmocka_unit_test(test_established_sack_rules_3_and_4),
		cmocka_unit_test(test_established_dsack_not_dupack),
	};

	for (unsigned i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 11);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
