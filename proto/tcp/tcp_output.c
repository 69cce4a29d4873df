/* proto/tcp/tcp_output.c — what TCP may send now, and building it.
 *
 * Where it sits: after tcp_input, tcp_send, tcp_recv and the timers change a
 * TCB they call tcp_output(), which decides (windows, congestion control,
 * Nagle, SWS avoidance, SACK recovery) and calls tcp_xmit() for each segment;
 * tcp_xmit rebuilds the bytes from the send ring (no pkb is kept per unacked
 * segment), hands the finished segment to env->output with the checksum
 * filled, and does the bookkeeping (SND.NXT, retransmission timer, RTT
 * timing). Segments without a TCB (RST replies, SYN-cookie SYN-ACKs) go
 * through tcp_send_raw().
 */
#include <errno.h>
#include <string.h>

#include "proto/csum.h"
#include "proto/siphash.h"
#include "proto/tcp/tcp_internal.h"

#define OUTPUT_BUDGET 256u   /* segments per tcp_output call */

/* ------------------------------------------------------------ building */

static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* Copy len bytes of the ring starting at sequence number seq into the chain
 * (the byte of seq s lives at ring[s & mask]). All or nothing. */
static int put_ring(const struct tcp_env *env, struct pkb *b, const uint8_t *ring,
		    uint32_t size, uint32_t seq, uint32_t len)
{
	uint32_t off = seq & (size - 1), first = size - off < len ? size - off : len;
	uint8_t *p;

	if (len <= pkb_tailroom(b) && !b->next) {
		p = __pkb_put(b, len);
		memcpy(p, ring + off, first);
		memcpy(p + first, ring, len - first);
		return 0;
	}
	if (pkb_append(env->cache, b, ring + off, first) < 0)
		return -ENOBUFS;
	return pkb_append(env->cache, b, ring, len - first);
}

/* Write the header (and options) in front of the payload already in b, sum
 * it and hand it to env->output. */
static void finish(struct tcp_stack *ts, const struct tcp_env *env, struct pkb *b,
		   const struct tcp_hdr_out *h, uint64_t now)
{
	uint8_t optbuf[TCP_HDR_MAX - TCP_HDR_LEN];
	uint32_t olen = h->opt ? tcp_opt_write(h->opt, h->flags & TH_SYN, optbuf) : 0;
	uint32_t hlen = TCP_HDR_LEN + olen;
	uint8_t *p = __pkb_push(b, hlen);
	uint16_t sum;

	wr16(p + TCP_OFF_SPORT, h->sport);
	wr16(p + TCP_OFF_DPORT, h->dport);
	wr32(p + TCP_OFF_SEQ, h->seq);
	wr32(p + TCP_OFF_ACK, (h->flags & TH_ACK) ? h->ack : 0);
	p[TCP_OFF_DOFF] = (uint8_t)((hlen / 4) << 4);
	p[TCP_OFF_FLAGS] = h->flags;
	wr16(p + TCP_OFF_WND, h->wnd);
	memset(p + TCP_OFF_CSUM, 0, 4);             /* checksum and urgent pointer */
	memcpy(p + TCP_HDR_LEN, optbuf, olen);
	sum = csum_fold(csum_pkb(b, 0, b->pkt_len,
				 csum_pseudo_ipv4(h->saddr, h->daddr, TCP_IPPROTO,
						  (uint16_t)b->pkt_len)));
	memcpy(p + TCP_OFF_CSUM, &sum, 2);
	b->flags |= PKB_F_CSUM_OK;
	TCP_INC(ts, OUT_SEGS);
	if (h->flags & TH_RST)
		TCP_INC(ts, OUT_RSTS);
	env->output(env->ctx, b, h->saddr, h->daddr, now);
}

/* A header-only segment described by h (RST replies, cookie SYN-ACKs, ACKs).
 * Returns 0 or -ENOBUFS (counted as a NO_BUFFERS drop). */
int tcp_send_raw(struct tcp_stack *ts, const struct tcp_env *env,
		 const struct tcp_hdr_out *h, uint64_t now)
{
	struct pkb *b = pkb_alloc(env->cache);

	if (!b) {
		TCP_DROP(ts, NO_BUFFERS);
		return -ENOBUFS;
	}
	finish(ts, env, b, h, now);
	return 0;
}

/* ------------------------------------------------------------ windows */

/* The window to advertise, in bytes (before scaling). Receiver-side SWS
 * avoidance (RFC 1122 4.2.3.3, RFC 9293 3.8.6.2.2): the right edge moves
 * only by min(rcvbuf/2, MSS) or more, and never moves left (RFC 9293
 * 3.8.6.2.1: shrinking the window is strongly discouraged). */
uint32_t tcp_rcv_window(const struct tcp_stack *ts, const struct tcb *t)
{
	uint32_t used = t->rcv_nxt - t->rcv_user;
	uint32_t space = used < t->rcvbuf_lim ? t->rcvbuf_lim - used : 0;
	uint32_t cur = seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
	uint32_t step = t->rcvbuf_lim / 2 < t->rcv_mss ? t->rcvbuf_lim / 2 : t->rcv_mss;

	(void)ts;
	if (space <= cur || space - cur < step)
		return cur;
	return space;
}

/* The 16-bit window field for wnd bytes under our scale; rounded up when
 * rounding down would shrink the advertised edge (as Linux does). */
static uint16_t wnd_field(const struct tcb *t, uint32_t wnd, bool syn)
{
	uint32_t shift = syn ? 0 : t->rcv_wscale, f = wnd >> shift;

	if (f > 0xffff)
		return 0xffff;
	if ((f << shift) < wnd && seq_lt(t->rcv_nxt + (f << shift), t->rcv_adv))
		f++;
	return (uint16_t)(f > 0xffff ? 0xffff : f);
}

/* Bytes the user queued that are not yet acknowledged (data only). */
uint32_t tcp_snd_queued(const struct tcb *t)
{
	uint32_t una = t->snd_una == t->iss ? t->iss + 1 : t->snd_una;

	return t->snd_end - una;
}

/* Sequence number just past everything queued, the FIN included. */
static uint32_t snd_limit(const struct tcb *t)
{
	return t->snd_end + ((t->flags & TF_FIN_QUEUED) ? 1u : 0u);
}

/* ------------------------------------------------------------ one segment */

static void fill_hdr(const struct tcb *t, struct tcp_hdr_out *h, uint32_t seq,
		     uint8_t flags, const struct tcp_opts *o)
{
	h->saddr = t->laddr; h->daddr = t->raddr;
	h->sport = t->lport; h->dport = t->rport;
	h->seq = seq;
	h->ack = t->rcv_nxt;
	h->flags = flags;
	h->opt = o;
}

/* Bookkeeping after any segment carrying our ACK: the ACK owed is paid, and
 * what we advertised is remembered (RFC 7323 4.3 Last.ACK.sent). */
static void ack_sent(struct tcp_stack *ts, struct tcb *t, uint32_t wnd)
{
	t->flags &= ~(uint32_t)(TF_ACK_NOW | TF_DELACK);
	t->rcv_segs_unacked = 0;
	t->last_ack_sent = t->rcv_nxt;
	if (seq_gt(t->rcv_nxt + wnd, t->rcv_adv))
		t->rcv_adv = t->rcv_nxt + wnd;
	if (t->timer[TCB_T_DELACK])
		tcp_timer_clear(ts, t, TCB_T_DELACK);
}

/* What one segment from t adds to its statistics (tcb.h, for TCP_INFO). */
static void xmit_stats(struct tcb *t, uint32_t dlen, bool rexmt, uint64_t now)
{
	t->segs_out++;
	if (!dlen)
		return;
	t->data_segs_out++;
	t->bytes_sent += dlen;
	t->last_data_sent = now;
	if (rexmt)
		t->bytes_retrans += dlen;
}

/* Build and send the segment covering [seq, seq + len) of t's sequence space
 * (SYN and FIN included where they fall), retransmission or not. Returns 0 or
 * -ENOBUFS (nothing sent, the timers recover). */
static int xmit_build(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		      uint32_t seq, uint32_t len, uint64_t now)
{
	bool syn = seq == t->iss && (t->state == TCPS_SYN_SENT || t->state == TCPS_SYN_RECEIVED);
	bool fin = (t->flags & TF_FIN_QUEUED) && seq_lt(t->snd_end, seq + len + !len) &&
		   seq_leq(seq, t->snd_end) && len;
	uint32_t dseq = syn ? seq + 1 : seq;
	uint32_t dlen = len - syn - fin;
	uint8_t flags = (uint8_t)((t->state == TCPS_SYN_SENT ? 0 : TH_ACK) |
				  (syn ? TH_SYN : 0) | (fin ? TH_FIN : 0) | (dlen ? TH_PSH : 0));
	struct pkb *b = pkb_alloc(env->cache);
	struct tcp_hdr_out h;
	struct tcp_opts o;
	uint32_t wnd;

	if (!b || (dlen && put_ring(env, b, tcp_sndbuf(ts, t), ts->cfg.sndbuf, dseq, dlen))) {
		pkb_free(env->cache, b);
		TCP_DROP(ts, NO_BUFFERS);
		return -ENOBUFS;
	}
	tcp_opt_fill(t, syn, now, &o);
	fill_hdr(t, &h, seq, flags, &o);
	wnd = tcp_rcv_window(ts, t);
	h.wnd = wnd_field(t, wnd, syn);
	if (flags & TH_ACK)
		ack_sent(ts, t, syn ? h.wnd : (uint32_t)h.wnd << t->rcv_wscale);
	xmit_stats(t, dlen, seq_lt(dseq, t->snd_max), now);
	finish(ts, env, b, &h, now);
	return 0;
}

/* Send [seq, seq + len) and account for it: SND.NXT/SND.MAX advance,
 * retransmissions are counted, the RTT is timed on new data when timestamps
 * are off (RFC 6298 3: Karn, one segment per RTT), and the retransmission
 * timer runs while anything is outstanding (RFC 6298 5.1). */
int tcp_xmit(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
	     uint32_t seq, uint32_t len, uint64_t now)
{
	bool rexmt = seq_lt(seq, t->snd_max);

	if (xmit_build(ts, env, t, seq, len, now) < 0)
		return -ENOBUFS;
	if (rexmt) {
		TCP_INC(ts, RETRANS_SEGS);
		t->total_retrans++;
		if (t->flags & TF_RTT_TIMING && seq_leq(seq, t->rtt_seq))
			t->flags &= ~(uint32_t)TF_RTT_TIMING;   /* Karn */
	} else if (!(t->flags & (TF_TS_OK | TF_RTT_TIMING)) && len) {
		t->flags |= TF_RTT_TIMING;
		t->rtt_seq = seq;
		t->rtt_start = now;
	}
	if (seq_gt(seq + len, t->snd_nxt))
		t->snd_nxt = seq + len;
	if (seq_gt(t->snd_nxt, t->snd_max))
		t->snd_max = t->snd_nxt;
	if (len && !t->timer[TCB_T_REXMT]) {
		tcp_timer_set(ts, t, TCB_T_REXMT, now + tcp_rto(t));
		if (!t->first_unacked_at)
			t->first_unacked_at = now;
	}
	return 0;
}

/* ------------------------------------------------------------ control segments */

/* A bare ACK (or keepalive probe, seq chosen by the caller) from t. */
static void send_ctl(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		     uint32_t seq, uint8_t flags, uint64_t now)
{
	struct tcp_hdr_out h;
	struct tcp_opts o;
	uint32_t wnd;

	tcp_opt_fill(t, false, now, &o);
	fill_hdr(t, &h, seq, flags, &o);
	wnd = (flags & TH_RST) ? 0 : tcp_rcv_window(ts, t);
	h.wnd = (flags & TH_RST) ? 0 : wnd_field(t, wnd, false);
	if (tcp_send_raw(ts, env, &h, now) != 0)
		return;
	xmit_stats(t, 0, false, now);
	if ((flags & TH_ACK) && !(flags & TH_RST))
		ack_sent(ts, t, (uint32_t)h.wnd << t->rcv_wscale);
}

/* A bare ACK carries SND.MAX, not SND.NXT: after a timeout SND.NXT falls
 * back to SND.UNA, and an ACK numbered below what the peer already received
 * would fail its acceptability test and be ignored (as in BSD's
 * tcp_output: "we want the sequence number of the next unsent octet"). */
void tcp_send_ack(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		  uint64_t now)
{
	send_ctl(ts, env, t, t->snd_max, TH_ACK, now);
}

/* Keepalive probe: SEG.SEQ = SND.UNA - 1 (= SND.NXT - 1 when idle) with no data, which the peer must
 * answer with an ACK (RFC 1122 4.2.3.6). */
void tcp_send_keepalive(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
			uint64_t now)
{
	send_ctl(ts, env, t, t->snd_una - 1, TH_ACK, now);
}

/* RFC 5961 7: about cfg.challenge_ack_limit challenge ACKs per second,
 * engine-wide. Each second's budget is drawn from [limit/2, limit*3/2) by
 * a keyed hash of the second, as Linux draws it at random since
 * CVE-2016-5696: with a fixed budget shared by every conn, an off-path
 * attacker who spends it and counts the challenge ACKs he still gets learns
 * whether a guessed 4-tuple is in use. True if one may go now. */
static bool challenge_ack_allowed(struct tcp_stack *ts, uint64_t now)
{
	uint32_t limit = ts->cfg.challenge_ack_limit;
	uint64_t second = now / 1000000000u;

	if (limit == 0)
		return true;
	if (second != ts->challenge_second) {
		ts->challenge_second = second;
		ts->challenge_left = (limit + 1) / 2 +
			(uint32_t)(siphash24(ts->cfg.secret, &second, sizeof(second)) % limit);
	}
	if (ts->challenge_left == 0)
		return false;
	ts->challenge_left--;
	return true;
}

/* RFC 5961 3.2/4.2/5.2: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, within the
 * section 7 rate limit (counted CHALLENGE_ACKS_LIMITED when over it). */
void tcp_send_challenge_ack(struct tcp_stack *ts, const struct tcp_env *env,
			    struct tcb *t, uint64_t now)
{
	if (!challenge_ack_allowed(ts, now)) {
		TCP_INC(ts, CHALLENGE_ACKS_LIMITED);
		return;
	}
	TCP_INC(ts, CHALLENGE_ACKS);
	tcp_send_ack(ts, env, t, now);
}

/* RFC 9293 3.10.5 ABORT / 3.10.7.4: <SEQ=SND.NXT><CTL=RST> from a TCB
 * (SND.MAX, for the reason given at tcp_send_ack). */
void tcp_send_rst(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		  uint64_t now)
{
	send_ctl(ts, env, t, t->snd_max, TH_RST | TH_ACK, now);
}

/* RFC 9293 3.10.7.1: the RST answering a segment that has no connection:
 * <SEQ=SEG.ACK><CTL=RST> if it had an ACK, else
 * <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. Never answer a RST. */
void tcp_reply_rst(struct tcp_stack *ts, const struct tcp_env *env,
		   const struct tcp_seg *seg, uint64_t now)
{
	struct tcp_hdr_out h = {
		.saddr = seg->daddr, .daddr = seg->saddr,
		.sport = seg->dport, .dport = seg->sport,
	};

	if (seg->flags & TH_RST)
		return;
	if (seg->flags & TH_ACK) {
		h.seq = seg->ack;
		h.flags = TH_RST;
	} else {
		h.ack = seg->seq + seg->len;
		h.flags = TH_RST | TH_ACK;
	}
	tcp_send_raw(ts, env, &h, now);
}

/* ------------------------------------------------------------ deciding */

/* Sender-side SWS avoidance and Nagle (RFC 1122 4.2.3.4, RFC 9293 3.8.6.2.1):
 * send len bytes now if it is a full segment, or everything queued (FIN
 * included) with nothing unacknowledged or TCP_NODELAY, and not corked; or at
 * least half the largest window the peer ever offered. Bytes sent before
 * (going back N after a timeout or a smaller path MTU) are not held: they
 * were small-segment-checked when they were new. */
static bool worth_sending(const struct tcb *t, uint32_t len, uint32_t avail)
{
	if (len >= t->snd_mss || seq_lt(t->snd_nxt, t->snd_max))
		return true;
	if (len == avail && !(t->flags & (TF_CORK | TF_MORE)) &&
	    ((t->flags & TF_NODELAY) || t->snd_nxt == t->snd_una))
		return true;
	if (len == avail && seq_lt(t->snd_end, snd_limit(t)) && !(t->flags & TF_CORK))
		return true;    /* the FIN goes now: nothing more will come */
	return t->max_sndwnd && len >= t->max_sndwnd / 2 && !(t->flags & TF_CORK);
}

/* Bytes the windows let us put in flight beyond `in_flight`. */
static uint32_t usable(const struct tcb *t, uint32_t in_flight)
{
	uint32_t wnd = t->snd_wnd < t->cc.cwnd ? t->snd_wnd : t->cc.cwnd;

	return wnd > in_flight ? wnd - in_flight : 0;
}

/* The handshake segments: (re)send the SYN or SYN-ACK when SND.NXT is back
 * at ISS. */
static bool output_syn(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		       uint64_t now)
{
	if (t->state != TCPS_SYN_SENT && t->state != TCPS_SYN_RECEIVED)
		return false;
	if (t->snd_nxt == t->iss)
		tcp_xmit(ts, env, t, t->iss, 1, now);
	else if (t->flags & TF_ACK_NOW)
		tcp_send_ack(ts, env, t, now);
	return true;
}

/* New data (and the FIN) from SND.NXT as the windows, Nagle and SWS allow.
 * Returns segments sent. */
static unsigned output_new(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
			   uint64_t now)
{
	unsigned n = 0;

	while (n < OUTPUT_BUDGET && seq_lt(t->snd_nxt, snd_limit(t))) {
		uint32_t in_flight = (t->flags & TF_SACK_OK) ? tcp_sack_pipe(t)
							     : t->snd_nxt - t->snd_una;
		uint32_t avail = snd_limit(t) - t->snd_nxt;
		uint32_t len = usable(t, in_flight);

		len = len < t->snd_mss ? len : t->snd_mss;
		len = len < avail ? len : avail;
		if (len == 0 && avail == 1 && t->snd_nxt == t->snd_end && usable(t, in_flight))
			len = 1;
		if (len == 0 || !worth_sending(t, len, avail))
			break;
		if (tcp_xmit(ts, env, t, t->snd_nxt, len, now) < 0)
			break;
		n++;
	}
	return n;
}

/* The override timeout fired with a usable window: send what it allows,
 * small or not (RFC 1122 4.2.3.4). */
void tcp_send_override(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		       uint64_t now)
{
	uint32_t avail = snd_limit(t) - t->snd_nxt, len = t->snd_wnd;

	len = len < t->snd_mss ? len : t->snd_mss;
	len = len < avail ? len : avail;
	if (len)
		tcp_xmit(ts, env, t, t->snd_nxt, len, now);
}

/* RFC 9293 3.8.6.1: a zero-window probe, one byte beyond the window. It is
 * sent without advancing SND.NXT (the peer usually refuses it, and the data
 * must then go again from SND.UNA), while SND.MAX covers it so that an ACK
 * of the byte is acceptable. */
void tcp_send_probe(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		    uint64_t now)
{
	t->snd_nxt = t->snd_una;
	if (xmit_build(ts, env, t, t->snd_una, 1, now) == 0 && seq_lt(t->snd_max, t->snd_una + 1))
		t->snd_max = t->snd_una + 1;
}

/* With data waiting and nothing in flight, no ACK will come to clock more
 * out: either the window is zero (RFC 9293 3.8.6.1: probe it) or SWS
 * avoidance / TCP_CORK held a small segment back (RFC 1122 4.2.3.4: the
 * override timeout sends it anyway). The persist timer covers both, so a
 * lost window update cannot stall the connection. */
static void maybe_persist(struct tcp_stack *ts, struct tcb *t, uint64_t now)
{
	if (t->snd_nxt == t->snd_una && t->snd_max - t->snd_una <= 1 &&   /* a probe byte */
	    seq_lt(t->snd_nxt, snd_limit(t))) {
		if (!t->timer[TCB_T_PERSIST])
			tcp_timer_set(ts, t, TCB_T_PERSIST, now + tcp_rto(t));
	} else if (t->timer[TCB_T_PERSIST]) {
		tcp_timer_clear(ts, t, TCB_T_PERSIST);
	}
}

/* RFC 6675 5 (C.5): room for another segment while cwnd - pipe >= 1 SMSS. */
static bool sack_room(const struct tcb *t)
{
	uint32_t pipe = tcp_sack_pipe(t);

	return pipe < t->cc.cwnd && t->cc.cwnd - pipe >= t->snd_mss;
}

/* RFC 6675 5 (C): retransmit what NextSeg() names while there is room:
 * rule 1 (lost bytes) before new data (rule 2, output_new), rules 3 and 4
 * after it (last_resort). (C.2): HighRxt follows rules 1 and 3; the rescue
 * of rule 4 moves RescueRxt to RecoveryPoint instead, so it happens once. */
static unsigned output_sack_rexmt(struct tcp_stack *ts, const struct tcp_env *env,
				  struct tcb *t, bool last_resort, uint64_t now)
{
	unsigned n = 0, rule;
	uint32_t seq, len;

	while (n < OUTPUT_BUDGET && sack_room(t) &&
	       (rule = tcp_sack_next_seg(t, last_resort, &seq, &len)) != 0) {
		if (tcp_xmit(ts, env, t, seq, len, now) < 0)
			break;
		if (rule == 4) {
			t->rescue_rxt = t->recover;
			TCP_INC(ts, SACK_RESCUE);
		} else {
			t->rexmt_high = seq + len;
		}
		n++;
	}
	return n;
}

/* Send what t may send now, then an ACK if one is still owed now. Returns
 * segments sent. Callers: input, user calls and timers after any change. */
int tcp_output(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
	       uint64_t now)
{
	unsigned n = 0;

	if (!t->in_use || t->state == TCPS_LISTEN || t->state == TCPS_CLOSED)
		return 0;
	if (output_syn(ts, env, t, now))
		return 1;
	if (t->state != TCPS_TIME_WAIT) {
		bool sack = (t->flags & (TF_IN_RECOVERY | TF_SACK_OK)) ==
			    (TF_IN_RECOVERY | TF_SACK_OK);

		if (sack)
			n += output_sack_rexmt(ts, env, t, false, now);
		n += output_new(ts, env, t, now);
		if (sack)
			n += output_sack_rexmt(ts, env, t, true, now);
		maybe_persist(ts, t, now);
	}
	if ((t->flags & TF_ACK_NOW) && n == 0)
		tcp_send_ack(ts, env, t, now);
	else if ((t->flags & TF_DELACK) && !t->timer[TCB_T_DELACK])
		tcp_timer_set(ts, t, TCB_T_DELACK, now + ts->cfg.delack);
	return (int)n;
}
