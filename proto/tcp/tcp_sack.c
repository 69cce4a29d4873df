/* proto/tcp/tcp_sack.c — the two interval lists of SACK (RFC 2018) and the
 * loss-recovery queries of RFC 6675.
 *
 * Where it sits:
 *   receive side  tcp_input stores out-of-order bytes straight into the
 *                 receive ring at their offset and records the interval here
 *                 (t->ooo, at most TCP_OOO_MAX: the memory bound is the ring
 *                 itself plus these few words, no pkb is held). The intervals
 *                 become the SACK blocks of our ACKs.
 *   send side     the peer's SACK blocks go on the scoreboard (t->score,
 *                 sorted, disjoint, above SND.UNA); tcp_output asks IsLost,
 *                 pipe and NextSeg (RFC 6675 section 4) at hole granularity:
 *                 every byte of a hole has the same SACKed bytes above it, so
 *                 one answer per hole is the RFC's answer per octet.
 */
#include <errno.h>
#include <string.h>

#include "proto/tcp/tcp_internal.h"

#define DUPTHRESH 3u   /* RFC 6675 2 / RFC 5681 3.2 */

/* Insert [s, e) into a sorted disjoint list of n (<= max) ranges, merging
 * overlapping and adjacent ones. Returns the new count, or -ENOBUFS when it
 * would need a new entry and the list is full (list unchanged). */
static int range_insert(struct tcp_range *r, unsigned n, unsigned max, uint32_t s, uint32_t e)
{
	unsigned i = 0, j;

	while (i < n && seq_lt(r[i].end, s))
		i++;
	j = i;
	while (j < n && seq_leq(r[j].start, e)) {     /* r[j] touches [s, e) */
		s = seq_min(s, r[j].start);
		e = seq_max(e, r[j].end);
		j++;
	}
	if (j == i && n == max)
		return -ENOBUFS;
	if (j == i) {
		memmove(&r[i + 1], &r[i], (n - i) * sizeof(*r));
		n++;
	} else if (j > i + 1) {
		memmove(&r[i + 1], &r[j], (n - j) * sizeof(*r));
		n -= j - i - 1;
	}
	r[i].start = s;
	r[i].end = e;
	return (int)n;
}

/* Drop everything below seq from a sorted list; returns the new count. */
static unsigned range_trim(struct tcp_range *r, unsigned n, uint32_t seq)
{
	unsigned k = 0;

	while (k < n && seq_leq(r[k].end, seq))
		k++;
	memmove(r, &r[k], (n - k) * sizeof(*r));
	n -= k;
	if (n && seq_lt(r[0].start, seq))
		r[0].start = seq;
	return n;
}

/* ------------------------------------------------------------ receive side */

/* Record out-of-order data [start, end) (already copied into the ring).
 * Returns 0, or -ENOBUFS when TCP_OOO_MAX intervals are in use and this one
 * joins none: the caller drops the segment (TCP_OFO_MEMLIMIT). */
int tcp_ooo_insert(struct tcb *t, uint32_t start, uint32_t end)
{
	int n = range_insert(t->ooo, t->n_ooo, TCP_OOO_MAX, start, end);

	if (n < 0)
		return n;
	t->n_ooo = (uint8_t)n;
	t->ooo_recent = start;
	return 0;
}

/* RCV.NXT moved to rcv_nxt: absorb the intervals it reaches and return the
 * new RCV.NXT (past every byte now contiguous). */
uint32_t tcp_ooo_advance(struct tcb *t, uint32_t rcv_nxt)
{
	while (t->n_ooo && seq_leq(t->ooo[0].start, rcv_nxt)) {
		rcv_nxt = seq_max(rcv_nxt, t->ooo[0].end);
		t->n_ooo = (uint8_t)range_trim(t->ooo, t->n_ooo, rcv_nxt);
	}
	return rcv_nxt;
}

/* SACK blocks for our next ACK: the interval holding the most recent
 * out-of-order segment first (RFC 2018 4), then the others. Returns count. */
uint32_t tcp_sack_fill(const struct tcb *t, struct tcp_range *out, uint32_t max)
{
	uint32_t n = 0;

	for (unsigned i = 0; i < t->n_ooo && n < max; i++)
		if (seq_in(t->ooo_recent, t->ooo[i].start, t->ooo[i].end))
			out[n++] = t->ooo[i];
	for (unsigned i = 0; i < t->n_ooo && n < max; i++)
		if (!seq_in(t->ooo_recent, t->ooo[i].start, t->ooo[i].end))
			out[n++] = t->ooo[i];
	return n;
}

/* ------------------------------------------------------------ send side */

/* RFC 2883 4: the first block reports a duplicate (D-SACK) when it lies
 * below the cumulative ACK or inside the second block. */
static bool is_dsack(const struct tcp_opts *o, uint32_t ack)
{
	const struct tcp_range *b = o->sack;

	return o->nsack && seq_lt(b[0].start, b[0].end) &&
	       (seq_leq(b[0].end, ack) || (o->nsack > 1 && seq_geq(b[0].start, b[1].start) &&
					   seq_leq(b[0].end, b[1].end)));
}

/* Put the peer's SACK blocks of an ACK of `ack` on the scoreboard. Blocks
 * outside (SND.UNA, SND.MAX] are ignored (D-SACKs and bogus ones, RFC 2883,
 * RFC 5961), as is what the list cannot hold. Returns the bytes SACKed that
 * were not before (RFC 6675 2: what makes the ACK a duplicate ACK); *dsack
 * says whether the first block was a D-SACK. */
uint32_t tcp_scoreboard_update(struct tcb *t, const struct tcp_opts *o, uint32_t ack,
			       bool *dsack)
{
	uint32_t before = tcp_sacked_bytes(t);

	*dsack = is_dsack(o, ack);
	for (unsigned i = *dsack ? 1 : 0; i < o->nsack; i++) {
		uint32_t s = o->sack[i].start, e = o->sack[i].end;
		int n;

		if (!seq_lt(s, e) || seq_leq(s, t->snd_una) || seq_gt(e, t->snd_max))
			continue;
		n = range_insert(t->score, t->n_score, TCP_SCORE_MAX, s, e);
		if (n >= 0)
			t->n_score = (uint8_t)n;
	}
	return tcp_sacked_bytes(t) - before;
}

/* SND.UNA advanced: forget what it covers. */
void tcp_scoreboard_ack(struct tcb *t, uint32_t snd_una)
{
	t->n_score = (uint8_t)range_trim(t->score, t->n_score, snd_una);
}

uint32_t tcp_sacked_bytes(const struct tcb *t)
{
	uint32_t b = 0;

	for (unsigned i = 0; i < t->n_score; i++)
		b += t->score[i].end - t->score[i].start;
	return b;
}

/* The unSACKed ranges of the send space, in order: range k < n_score is
 * the hole below score[k] (from SND.UNA or the block before); range
 * n_score is the tail from the highest SACKed byte to HighData (SND.MAX). */
static struct tcp_range unsacked(const struct tcb *t, unsigned k)
{
	struct tcp_range r;

	r.start = k ? t->score[k - 1].end : t->snd_una;
	r.end = k < t->n_score ? t->score[k].start : t->snd_max;
	return r;
}

/* RFC 6675 4 IsLost for the bytes of range k: DupThresh discontiguous SACKed
 * ranges above them, or more than (DupThresh - 1) * SMSS bytes SACKed above.
 * Nothing is SACKed above the tail: never lost. */
static bool hole_lost(const struct tcb *t, unsigned k)
{
	uint32_t above = 0;

	if (k >= t->n_score)
		return false;
	if (t->n_score - k >= DUPTHRESH)
		return true;
	for (unsigned i = k; i < t->n_score; i++)
		above += t->score[i].end - t->score[i].start;
	return above > (DUPTHRESH - 1) * t->snd_mss;
}

bool tcp_sack_is_lost(const struct tcb *t, uint32_t seq, uint32_t mss)
{
	(void)mss;
	for (unsigned k = 0; k < t->n_score; k++)
		if (seq_lt(seq, t->score[k].start))
			return hole_lost(t, k);
	return false;
}

/* RFC 6675 4 SetPipe: the bytes believed in the network. Over every
 * unSACKed byte from HighACK to HighData: (a) it counts unless IsLost, and
 * (b) it counts (again) if it was retransmitted, i.e. lies below HighRxt.
 * Outside recovery: what was sent and not acknowledged (FlightSize). */
uint32_t tcp_sack_pipe(const struct tcb *t)
{
	uint32_t pipe = 0;

	if (!(t->flags & TF_IN_RECOVERY))
		return t->snd_nxt - t->snd_una;
	for (unsigned k = 0; k <= t->n_score; k++) {
		struct tcp_range r = unsacked(t, k);

		if (!seq_lt(r.start, r.end))
			continue;
		if (!hole_lost(t, k))
			pipe += r.end - r.start;                          /* (a) */
		if (seq_gt(t->rexmt_high, r.start))
			pipe += seq_min(t->rexmt_high, r.end) - r.start;  /* (b) */
	}
	return pipe;
}

uint32_t tcp_sack_lost_bytes(const struct tcb *t)
{
	uint32_t lost = 0;

	for (unsigned k = 0; k < t->n_score; k++) {
		struct tcp_range r = unsacked(t, k);

		if (seq_lt(r.start, r.end) && hole_lost(t, k))
			lost += r.end - r.start;
	}
	return lost;
}

/* Pipe's part (b): retransmitted bytes still unSACKed, i.e. in flight again. */
uint32_t tcp_sack_retrans_bytes(const struct tcb *t)
{
	uint32_t rexmt = 0;

	for (unsigned k = 0; k <= t->n_score; k++) {
		struct tcp_range r = unsacked(t, k);

		if (seq_lt(r.start, r.end) && seq_gt(t->rexmt_high, r.start))
			rexmt += seq_min(t->rexmt_high, r.end) - r.start;
	}
	return rexmt;
}

/* Up to one SMSS from the start of [s, end). */
static unsigned pick(const struct tcb *t, uint32_t s, uint32_t end, unsigned rule,
		     uint32_t *seq, uint32_t *len)
{
	*seq = s;
	*len = end - s < t->snd_mss ? end - s : t->snd_mss;
	return rule;
}

/* Rules 1 and 3: the first unSACKed bytes above HighRxt and below the
 * highest SACKed byte (1.a, 1.b) that are lost (1.c, rule 1) or not (rule 3). */
static unsigned first_hole(const struct tcb *t, bool need_lost, uint32_t *seq, uint32_t *len)
{
	for (unsigned k = 0; k < t->n_score; k++) {
		struct tcp_range r = unsacked(t, k);
		uint32_t s = seq_max(r.start, t->rexmt_high);

		bool lost = hole_lost(t, k);

		if (seq_lt(s, r.end) && (lost || !need_lost))
			return pick(t, s, r.end, lost ? 1 : 3, seq, len);
	}
	return 0;
}

/* Rule 4, the rescue: once per recovery (HighACK > RescueRxt), one segment
 * ending at the highest outstanding unSACKed byte. */
static unsigned rescue(const struct tcb *t, uint32_t *seq, uint32_t *len)
{
	if (!seq_gt(t->snd_una, t->rescue_rxt))
		return 0;
	for (unsigned k = t->n_score + 1; k-- > 0;) {
		struct tcp_range r = unsacked(t, k);

		if (seq_lt(r.start, r.end)) {
			uint32_t n = r.end - r.start < t->snd_mss ? r.end - r.start : t->snd_mss;

			return pick(t, r.end - n, r.end, 4, seq, len);
		}
	}
	return 0;
}

/* RFC 6675 4 NextSeg, the retransmission rules; rule 2 (new data) is
 * tcp_output's and sits between: last_resort false asks rule 1, true asks
 * rule 3, then rule 4. Returns the rule that named [*seq, *seq + *len), or
 * 0 when none did. The caller moves HighRxt (rules 1, 3) or RescueRxt (4). */
unsigned tcp_sack_next_seg(const struct tcb *t, bool last_resort, uint32_t *seq,
			   uint32_t *len)
{
	unsigned rule = first_hole(t, !last_resort, seq, len);

	return rule || !last_resort ? rule : rescue(t, seq, len);
}
