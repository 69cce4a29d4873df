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

/* Put the peer's SACK blocks on the scoreboard. Blocks outside
 * (SND.UNA, SND.MAX] are ignored (D-SACK and bogus ones, RFC 2883 / 5961). */
void tcp_scoreboard_update(struct tcb *t, const struct tcp_opts *o)
{
	for (unsigned i = 0; i < o->nsack; i++) {
		uint32_t s = o->sack[i].start, e = o->sack[i].end;
		int n;

		if (!seq_lt(s, e) || seq_leq(s, t->snd_una) || seq_gt(e, t->snd_max))
			continue;
		n = range_insert(t->score, t->n_score, TCP_SCORE_MAX, s, e);
		if (n >= 0)
			t->n_score = (uint8_t)n;
	}
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

/* RFC 6675 4 IsLost for the hole just below score[k]: DupThresh SACKed
 * ranges above it, or more than (DupThresh - 1) * SMSS bytes SACKed above. */
static bool hole_lost(const struct tcb *t, unsigned k)
{
	uint32_t above = 0;

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

/* RFC 6675 4 SetPipe: bytes believed in the network. For each hole below the
 * highest SACKed byte: its bytes count unless lost, and its retransmitted
 * bytes (below HighRxt) count again; bytes above the highest SACK count. */
uint32_t tcp_sack_pipe(const struct tcb *t)
{
	uint32_t pipe = 0, from = t->snd_una;

	if (!(t->flags & TF_IN_RECOVERY) || t->n_score == 0)
		return t->snd_nxt - t->snd_una;
	for (unsigned k = 0; k < t->n_score; k++) {
		uint32_t hs = from, he = t->score[k].start;

		if (!hole_lost(t, k))
			pipe += he - hs;
		if (seq_gt(t->rexmt_high, hs))
			pipe += seq_min(t->rexmt_high, he) - hs;
		from = t->score[k].end;
	}
	if (seq_lt(from, t->snd_nxt))
		pipe += t->snd_nxt - from;
	return pipe;
}

/* RFC 6675 4 NextSeg rule 1: the first lost, unSACKed bytes above HighRxt,
 * at most one SMSS. Rule 2 (new data) is tcp_output's. Returns false when
 * nothing qualifies. */
bool tcp_sack_next_seg(const struct tcb *t, uint32_t *seq, uint32_t *len)
{
	uint32_t from = t->snd_una;

	for (unsigned k = 0; k < t->n_score; k++) {
		uint32_t hs = seq_max(from, t->rexmt_high), he = t->score[k].start;

		if (seq_lt(hs, he) && hole_lost(t, k)) {
			*seq = hs;
			*len = he - hs < t->snd_mss ? he - hs : t->snd_mss;
			return true;
		}
		from = t->score[k].end;
	}
	return false;
}
