/* proto/tcp/tcp_input.c — segment arrival, RFC 9293 section 3.10.7.
 *
 * Where it sits: stack_tcp_input -> tcp_input -> (parse) -> (look up) ->
 *
 *   no TCB           3.10.7.1  input_closed: answer with a RST
 *   LISTEN           3.10.7.2  input_listen: new child, or a SYN cookie
 *   SYN_SENT         3.10.7.3  input_syn_sent
 *   any other state  3.10.7.4  the RFC's eight steps, one function each:
 *        first   check_seq      sequence acceptability, PAWS (RFC 7323 5)
 *        second  check_rst      RFC 5961 3: exact RST resets, in-window is challenged
 *        fourth  check_syn      RFC 5961 4: any SYN is challenged
 *        fifth   check_ack      RFC 5961 5 acceptability, SND.UNA, window, state
 *                               changes; tcp_ack() does loss recovery
 *        seventh input_text     in-order into the ring, OOO at its offset (SACK)
 *        eighth  input_fin      the peer's FIN, once everything before it arrived
 *   (third, security/precedence, and sixth, URG, are not implemented: URG is
 *   read as ordinary data, as RFC 6093 recommends for new applications.)
 *
 * then tcp_output() sends what the segment allowed (ACK, data, FIN). The
 * segment's pkb is freed before tcp_input returns; payload bytes are copied
 * into the receive ring, never kept as pkbs. tcp_input_burst (at the end)
 * runs the same path for a batch, fetching buckets and TCBs ahead.
 */
#include <errno.h>
#include <string.h>

#include "proto/csum.h"
#include "proto/tcp/tcp_internal.h"

#define PAWS_IDLE_NS (24ull * 24 * 3600 * 1000000000ull)   /* RFC 7323 5.5: 24 days */
#define QUICKACK_SEGS 16u   /* ACK every segment at first (Linux's quickack) */

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void tcp_ack_now(struct tcb *t)
{
	t->flags |= TF_ACK_NOW;
}

/* ------------------------------------------------------------ parse */

/* Check lengths and the checksum, then read every header field once into
 * *seg (STYLE.md 2). Returns 0, or -EINVAL with the drop counted. */
static int parse(struct tcp_stack *ts, const struct pkb *b, uint32_t saddr,
		 uint32_t daddr, struct tcp_seg *seg)
{
	uint8_t hdrbuf[TCP_HDR_MAX];
	uint32_t len = b->pkt_len, contig = 0, hlen;
	const uint8_t *h = pkb_seg_at(b, 0, &contig);

	if (len < TCP_HDR_LEN || !h)
		return TCP_DROP(ts, TCP_TRUNCATED), -EINVAL;
	if (contig < TCP_HDR_MAX && contig < len) {
		pkb_copy_out(b, 0, len < TCP_HDR_MAX ? len : TCP_HDR_MAX, hdrbuf);
		h = hdrbuf;
	}
	hlen = (uint32_t)(h[TCP_OFF_DOFF] >> 4) * 4u;
	if (hlen < TCP_HDR_LEN || hlen > len)
		return TCP_DROP(ts, TCP_BAD_OFFSET), -EINVAL;
	if (!(b->flags & PKB_F_CSUM_OK) &&
	    csum_fold(csum_pkb(b, 0, len, csum_pseudo_ipv4(saddr, daddr, TCP_IPPROTO,
							   (uint16_t)len))) != 0)
		return TCP_DROP(ts, TCP_BAD_CSUM), -EINVAL;
	seg->saddr = saddr; seg->daddr = daddr;
	seg->sport = rd16(h + TCP_OFF_SPORT);
	seg->dport = rd16(h + TCP_OFF_DPORT);
	seg->seq = rd32(h + TCP_OFF_SEQ);
	seg->ack = rd32(h + TCP_OFF_ACK);
	seg->flags = h[TCP_OFF_FLAGS] & 0x3f;
	seg->wnd = rd16(h + TCP_OFF_WND);
	seg->hdr_len = (uint16_t)hlen;
	seg->data_len = len - hlen;
	seg->len = seg->data_len + !!(seg->flags & TH_SYN) + !!(seg->flags & TH_FIN);
	seg->pkb = b;
	tcp_opt_parse(h + TCP_HDR_LEN, hlen - TCP_HDR_LEN, seg->flags & TH_SYN, &seg->opt);
	return 0;
}

/* ------------------------------------------------------------ no TCB, LISTEN */

/* RFC 9293 3.10.7.1: a segment for no connection is answered with a RST. */
static void input_closed(struct tcp_stack *ts, const struct tcp_env *env,
			 const struct tcp_seg *seg, uint64_t now)
{
	TCP_DROP(ts, TCP_NO_SOCKET);
	tcp_reply_rst(ts, env, seg, now);
}

static void seg_tuple(const struct tcp_seg *seg, struct tcp_isn_tuple *tu)
{
	tu->laddr = seg->daddr; tu->lport = seg->dport;
	tu->raddr = seg->saddr; tu->rport = seg->sport;
}

/* A child of listener l in SYN_RECEIVED for the SYN seg (3.10.7.2 third
 * check): ISS chosen, options negotiated, SYN-ACK sent by tcp_output. */
static struct tcb *new_child(struct tcp_stack *ts, const struct tcp_env *env,
			     struct tcb *l, const struct tcp_seg *seg, uint64_t now)
{
	struct tcp_isn_tuple tu;
	struct tcb *t = tcp_tcb_alloc(ts, now);

	if (!t)
		return NULL;
	seg_tuple(seg, &tu);
	t->user_mss = l->user_mss;
	t->flags |= l->flags & (TF_NODELAY | TF_KEEPALIVE);
	tcp_tcb_setup(ts, env, t, &tu, now);
	tcp_cc_switch(&t->cc, (enum tcp_cc_algo)l->cc.algo, now);   /* inherited, as Linux */
	t->irs = seg->seq;
	t->rcv_nxt = t->rcv_user = t->rcv_adv = seg->seq + 1;
	t->snd_wnd = seg->wnd;          /* RFC 7323 2.2: a SYN's window is not scaled */
	t->snd_wl1 = seg->seq;
	tcp_tcb_negotiate(ts, t, &seg->opt, now);
	t->parent = tcp_conn_id(ts, l);
	t->state = TCPS_LISTEN;         /* so the trace shows LISTEN -> SYN_RECEIVED */
	tcp_set_state(ts, env, t, TCPS_SYN_RECEIVED, now);
	tcp_conn_hash_insert(ts, t);
	l->syn_len++;
	TCP_INC(ts, PASSIVE_OPENS);
	return t;
}

/* Answer a SYN without keeping state: the ISS is a cookie (tcp_isn.h) and,
 * with timestamps, the TSval carries the peer's WS and SACK-permitted. */
static void send_cookie(struct tcp_stack *ts, const struct tcp_env *env,
			const struct tcp_seg *seg, uint64_t now)
{
	struct tcp_isn_tuple tu;
	struct tcp_opts o = { .has = TCP_OPTF_MSS };
	struct tcp_hdr_out h = { .saddr = seg->daddr, .daddr = seg->saddr,
				 .sport = seg->dport, .dport = seg->sport,
				 .ack = seg->seq + 1, .flags = TH_SYN | TH_ACK, .opt = &o };
	uint16_t pmss = (seg->opt.has & TCP_OPTF_MSS) ? seg->opt.mss : TCP_MSS_DEFAULT;
	bool tsok = ts->cfg.timestamps && (seg->opt.has & TCP_OPTF_TS);

	seg_tuple(seg, &tu);
	h.seq = tcp_syncookie_make(ts->cfg.secret, &tu, seg->seq, pmss, now, NULL);
	h.wnd = (uint16_t)(ts->cfg.rcvbuf > 0xffff ? 0xffff : ts->cfg.rcvbuf);
	o.mss = (uint16_t)tcp_route_mss(ts, env, seg->saddr, 0);
	if (tsok) {
		bool ws = ts->cfg.window_scaling && (seg->opt.has & TCP_OPTF_WSCALE);
		bool sack = ts->cfg.sack && (seg->opt.has & TCP_OPTF_SACKPERM);
		uint32_t now_ts = (uint32_t)(now / 1000000u) +
			tcp_ts_offset(ts, tu.laddr, tu.lport, tu.raddr, tu.rport);

		o.has |= TCP_OPTF_TS | (ws ? TCP_OPTF_WSCALE : 0) | (sack ? TCP_OPTF_SACKPERM : 0);
		o.wscale = tcp_rcv_wscale(ts);
		o.tsval = tcp_syncookie_ts(now_ts, ws ? seg->opt.wscale : TCP_SYNCOOKIE_NO_WSCALE,
					   sack);
		o.tsecr = seg->opt.tsval;
	}
	TCP_INC(ts, SYNCOOKIES_SENT);
	tcp_send_raw(ts, env, &h, now);
}

/* The ACK completing a cookie handshake: rebuild the connection from the
 * cookie (MSS) and the echoed TSval (WS, SACK), straight to ESTABLISHED.
 * Returns 0 with *child set; -EINVAL if seg carries no good cookie (the
 * caller answers with a RST); -ENOBUFS if it does but there is no room (a
 * full accept queue or no free TCB): the ACK is dropped and counted, as
 * Linux drops it (tcp_v4_syn_recv_sock), and the peer's next segment tries
 * again. */
static int cookie_child(struct tcp_stack *ts, const struct tcp_env *env,
			struct tcb *l, const struct tcp_seg *seg, uint64_t now,
			struct tcb **child)
{
	struct tcp_syncookie_opts co = { TCP_SYNCOOKIE_NO_WSCALE, false };
	struct tcp_opts o = { .has = TCP_OPTF_MSS };
	struct tcp_isn_tuple tu;
	struct tcb *t;
	int mss;

	seg_tuple(seg, &tu);
	mss = tcp_syncookie_check(ts->cfg.secret, &tu, seg->seq - 1, seg->ack - 1, now);
	if (mss < 0 || ((seg->opt.has & TCP_OPTF_TS) &&
			tcp_syncookie_ts_decode(seg->opt.tsecr, &co) < 0)) {
		TCP_INC(ts, SYNCOOKIES_FAILED);
		return -EINVAL;
	}
	if (l->aq_len >= l->backlog)
		return TCP_DROP(ts, TCP_LISTEN_OVERFLOW), -ENOBUFS;
	if (!(t = tcp_tcb_alloc(ts, now)))
		return TCP_DROP(ts, NO_BUFFERS), -ENOBUFS;
	TCP_INC(ts, SYNCOOKIES_RECV);
	o.mss = (uint16_t)mss;
	o.has |= (seg->opt.has & TCP_OPTF_TS) ? TCP_OPTF_TS : 0;
	o.has |= co.sack ? TCP_OPTF_SACKPERM : 0;
	o.has |= co.wscale != TCP_SYNCOOKIE_NO_WSCALE ? TCP_OPTF_WSCALE : 0;
	o.wscale = co.wscale;
	o.tsval = seg->opt.tsval;
	t->flags |= TF_COOKIE | (l->flags & (TF_NODELAY | TF_KEEPALIVE));
	tcp_tcb_setup(ts, env, t, &tu, now);
	tcp_cc_switch(&t->cc, (enum tcp_cc_algo)l->cc.algo, now);
	t->iss = t->snd_una = t->recover = seg->ack - 1;   /* as if the SYN-ACK were in flight */
	t->snd_nxt = t->snd_max = t->snd_end = seg->ack;
	t->irs = seg->seq - 1;
	t->rcv_nxt = t->rcv_user = seg->seq;
	t->rcv_adv = seg->seq + (ts->cfg.rcvbuf > 0xffff ? 0xffff : ts->cfg.rcvbuf);
	tcp_tcb_negotiate(ts, t, &o, now);
	t->parent = tcp_conn_id(ts, l);
	t->state = TCPS_LISTEN;
	tcp_set_state(ts, env, t, TCPS_SYN_RECEIVED, now);
	tcp_conn_hash_insert(ts, t);
	l->syn_len++;
	TCP_INC(ts, PASSIVE_OPENS);
	*child = t;
	return 0;
}

static void input_synchronized(struct tcp_stack *ts, const struct tcp_env *env,
			       struct tcb *t, struct tcp_seg *seg, uint64_t now);

/* RFC 9293 3.10.7.2 LISTEN: RST ignored; an ACK is a SYN cookie's or gets a
 * RST; a SYN makes a child (or a cookie when the SYN queue is full). */
static struct tcb *input_listen(struct tcp_stack *ts, const struct tcp_env *env,
				struct tcb *l, struct tcp_seg *seg, uint64_t now)
{
	if (seg->flags & TH_RST)
		return TCP_DROP(ts, TCP_FLAGS), NULL;
	if (seg->flags & TH_ACK) {
		struct tcb *t = NULL;
		int err = -EINVAL;

		if (!(seg->flags & TH_SYN) && ts->cfg.syncookies)
			err = cookie_child(ts, env, l, seg, now, &t);
		if (err == -EINVAL) {
			/* "Any acknowledgment is bad if it arrives on a connection
			 * still in the LISTEN state": typically the rest of a flight
			 * the peer sent before our RST reached it. */
			TCP_DROP(ts, TCP_BAD_ACK);
			tcp_reply_rst(ts, env, seg, now);
		} else if (t) {
			input_synchronized(ts, env, t, seg, now);
		}
		return t;
	}
	if (!(seg->flags & TH_SYN))
		return TCP_DROP(ts, TCP_FLAGS), NULL;
	if (l->aq_len >= l->backlog) {
		TCP_DROP(ts, TCP_LISTEN_OVERFLOW);   /* as Linux: let the peer retry */
		return NULL;
	}
	if (ts->cfg.syncookies == 2 ||
	    (ts->cfg.syncookies && (l->syn_len >= ts->cfg.syn_backlog ||
				    ts->free_head == TCP_CONN_NONE))) {
		send_cookie(ts, env, seg, now);
		return NULL;
	}
	if (l->syn_len >= ts->cfg.syn_backlog) {
		TCP_DROP(ts, TCP_LISTEN_OVERFLOW);
		return NULL;
	}
	return new_child(ts, env, l, seg, now);
}

/* ------------------------------------------------------------ SYN_SENT */

/* An RTT sample from this ACK: the echoed timestamp (RFC 7323 4.1, RTTM) or
 * the one timed segment (RFC 6298 3, Karn: never a retransmitted one). */
static void rtt_sample(struct tcb *t, const struct tcp_seg *seg, uint64_t now)
{
	if ((t->flags & TF_TS_OK) && (seg->opt.has & TCP_OPTF_TS) && seg->opt.tsecr) {
		uint32_t ms = tcp_ts_now(t, now) - seg->opt.tsecr;

		if (ms < 0x7fffffffu)
			tcp_rtt_sample(&t->rtt, (uint64_t)ms * 1000000u, TCP_RTT_FROM_TS);
	} else if ((t->flags & TF_RTT_TIMING) && seq_gt(seg->ack, t->rtt_seq)) {
		t->flags &= ~(uint32_t)TF_RTT_TIMING;
		tcp_rtt_sample(&t->rtt, now - t->rtt_start, 0);
	}
}

/* Both directions are synchronized (RFC 9293 3.10.7.3 / 3.10.7.4 fifth):
 * take the peer's window and enter ESTABLISHED. */
static void establish(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		      const struct tcp_seg *seg, uint64_t now)
{
	t->snd_wnd = seg->wnd << ((seg->flags & TH_SYN) ? 0 : t->snd_wscale);
	t->max_sndwnd = t->snd_wnd;
	t->snd_wl1 = seg->seq;
	t->snd_wl2 = seg->ack;
	t->quickack = QUICKACK_SEGS;
	if (t->n_rexmt)
		tcp_rtt_syn_lost(&t->rtt);   /* RFC 6298 5.7 */
	t->n_rexmt = 0;
	t->first_unacked_at = 0;
	t->soft_error = 0;
	tcp_set_state(ts, env, t, TCPS_ESTABLISHED, now);
	tcp_timer_rexmt_restart(ts, t, now);
	tcp_timer_keepalive_reset(ts, t, now);
	if (t->flags & TF_FIN_QUEUED)      /* shut down before the handshake ended */
		tcp_fin_state(ts, env, t, now);
}

static void input_text(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		       const struct tcp_seg *seg, uint64_t now);
static void input_fin(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		      const struct tcp_seg *seg, uint64_t now);

/* RFC 9293 3.10.7.3 SYN-SENT. */
static void input_syn_sent(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
			   const struct tcp_seg *seg, uint64_t now)
{
	bool ack = seg->flags & TH_ACK;

	if (ack && (seq_leq(seg->ack, t->iss) || seq_gt(seg->ack, t->snd_max))) {
		TCP_DROP(ts, TCP_BAD_ACK);
		return tcp_reply_rst(ts, env, seg, now);
	}
	if (seg->flags & TH_RST) {
		if (ack)      /* RFC 5961 3.2: acceptable only with an acceptable ACK */
			tcp_conn_drop(ts, env, t, -ECONNREFUSED, now);
		else
			TCP_DROP(ts, TCP_FLAGS);
		return;
	}
	if (!(seg->flags & TH_SYN))
		return TCP_DROP(ts, TCP_FLAGS);
	t->irs = seg->seq;
	t->rcv_nxt = t->rcv_user = t->rcv_adv = seg->seq + 1;
	tcp_tcb_negotiate(ts, t, &seg->opt, now);
	tcp_ack_now(t);
	if (!ack) {   /* simultaneous open: SYN-ACK from SND.NXT = ISS again */
		t->snd_wnd = seg->wnd;
		t->snd_wl1 = seg->seq;
		t->snd_nxt = t->iss;
		tcp_set_state(ts, env, t, TCPS_SYN_RECEIVED, now);
		return;
	}
	t->snd_una = seg->ack;
	rtt_sample(t, seg, now);
	establish(ts, env, t, seg, now);
	tcp_notify(ts, env, t, TCP_EV_CONNECTED | TCP_EV_WRITABLE);
	input_text(ts, env, t, seg, now);
	input_fin(ts, env, t, seg, now);
}

/* ------------------------------------------------------------ synchronized: 1st */

/* RFC 7323 5.3 PAWS: a segment whose TSval is older than TS.Recent is a
 * duplicate from an earlier wrap of the sequence space. */
static bool paws_reject(const struct tcb *t, const struct tcp_seg *seg, uint64_t now)
{
	return (t->flags & TF_TS_OK) && (seg->opt.has & TCP_OPTF_TS) &&
	       !(seg->flags & TH_RST) && seq_lt(seg->opt.tsval, t->ts_recent) &&
	       now - t->ts_recent_age < PAWS_IDLE_NS;
}

/* RFC 9293 3.10.7.4 first: the four cases of segment acceptability. */
static bool seq_acceptable(const struct tcb *t, const struct tcp_seg *seg)
{
	uint32_t wnd = seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
	uint32_t end = seg->seq + seg->len - 1;

	if (seg->len == 0)
		return wnd == 0 ? seg->seq == t->rcv_nxt
				: seq_in(seg->seq, t->rcv_nxt, t->rcv_nxt + wnd);
	if (wnd == 0)
		return false;
	return seq_in(seg->seq, t->rcv_nxt, t->rcv_nxt + wnd) ||
	       seq_in(end, t->rcv_nxt, t->rcv_nxt + wnd);
}

/* First step. Returns false when the segment is dropped (an ACK is owed for
 * anything but a RST, so a lost ACK of ours gets repeated). */
static bool check_seq(struct tcp_stack *ts, struct tcb *t, const struct tcp_seg *seg,
		      uint64_t now)
{
	if (paws_reject(t, seg, now)) {
		TCP_DROP(ts, TCP_PAWS);
		tcp_ack_now(t);
		return false;
	}
	if (!seq_acceptable(t, seg)) {
		/* a zero window still takes ACKs, RSTs and a window probe's ACK
		 * (RFC 9293 3.10.7.4: "special allowance") via the len-0 case */
		TCP_DROP(ts, TCP_OUT_OF_WINDOW);
		if (!(seg->flags & TH_RST))
			tcp_ack_now(t);
		if (t->state == TCPS_TIME_WAIT && (seg->flags & TH_FIN))
			tcp_timer_set(ts, t, TCB_T_2MSL, now + 2 * ts->cfg.msl);
		return false;
	}
	/* RFC 7323 4.3: remember TSval of a segment that covers Last.ACK.sent */
	if ((t->flags & TF_TS_OK) && (seg->opt.has & TCP_OPTF_TS) &&
	    seq_geq(seg->opt.tsval, t->ts_recent) && seq_leq(seg->seq, t->last_ack_sent)) {
		t->ts_recent = seg->opt.tsval;
		t->ts_recent_age = now;
	}
	return true;
}

/* ------------------------------------------------------------ 2nd and 4th */

/* RFC 5961 3.2: a RST resets only when SEG.SEQ == RCV.NXT exactly; one
 * elsewhere in the window gets a challenge ACK. Returns false to stop. */
static bool check_rst(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		      const struct tcp_seg *seg, uint64_t now)
{
	if (!(seg->flags & TH_RST))
		return true;
	if (seg->seq != t->rcv_nxt) {
		TCP_DROP(ts, TCP_RST_INVALID);
		tcp_send_challenge_ack(ts, env, t, now);
		return false;
	}
	switch (t->state) {
	case TCPS_SYN_RECEIVED:
		/* passive: back to LISTEN (the child just goes); active: refused */
		tcp_conn_drop(ts, env, t, t->parent != TCP_CONN_NONE ? 0 : -ECONNREFUSED, now);
		break;
	case TCPS_CLOSING: case TCPS_LAST_ACK: case TCPS_TIME_WAIT:
		tcp_set_state(ts, env, t, TCPS_CLOSED, now);
		break;
	default:
		tcp_conn_drop(ts, env, t, -ECONNRESET, now);
	}
	return false;
}

/* Simultaneous open (RFC 9293 figure 8): in SYN_RECEIVED the peer's SYN-ACK
 * repeats its SYN (SEG.SEQ = IRS) to carry the ACK of ours. Its SYN is old
 * news: strip it and process the ACK, as Linux does. */
static void simopen_synack(const struct tcb *t, struct tcp_seg *seg)
{
	if (t->state == TCPS_SYN_RECEIVED && (seg->flags & (TH_SYN | TH_ACK)) == (TH_SYN | TH_ACK) &&
	    seg->seq == t->irs && seg->data_len == 0 && seg->ack == t->snd_max) {
		seg->seq++;
		seg->len--;
		seg->flags &= (uint8_t)~TH_SYN;
	}
}

/* RFC 5961 4.2: a SYN in a synchronized state is answered with a challenge
 * ACK whatever its sequence number, and dropped. */
static bool check_syn(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		      struct tcp_seg *seg, uint64_t now)
{
	if (!(seg->flags & TH_SYN))
		return true;
	TCP_DROP(ts, TCP_SYN_INVALID);
	tcp_send_challenge_ack(ts, env, t, now);
	return false;
}

/* ------------------------------------------------------------ 5th: ACK */

/* RFC 9293 3.10.7.4 fifth, window update: only from a segment newer than the
 * last one that updated it (SND.WL1/WL2), so old segments cannot shrink it. */
static void window_update(struct tcb *t, const struct tcp_seg *seg)
{
	if (seq_lt(t->snd_wl1, seg->seq) ||
	    (t->snd_wl1 == seg->seq && seq_leq(t->snd_wl2, seg->ack))) {
		t->snd_wnd = seg->wnd << t->snd_wscale;
		t->snd_wl1 = seg->seq;
		t->snd_wl2 = seg->ack;
		if (t->snd_wnd > t->max_sndwnd)
			t->max_sndwnd = t->snd_wnd;
	}
}

/* Length (sequence space) of the segment at SND.UNA to retransmit. */
static uint32_t head_len(const struct tcb *t)
{
	uint32_t out = t->snd_max - t->snd_una;

	return out < t->snd_mss ? out : t->snd_mss;
}

/* RFC 5681 3.2 / RFC 6582 3.2 step 2 / RFC 6675 5: enough duplicate ACKs
 * (or SACKed data saying SND.UNA is lost) start fast retransmit. */
static void on_dupack(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		      const struct tcp_seg *seg, uint64_t now)
{
	bool sack = t->flags & TF_SACK_OK;

	t->dupacks++;
	if (t->flags & TF_IN_RECOVERY) {
		if (!sack)
			tcp_cc_on_dupack(&t->cc);     /* RFC 6582 step 4 */
		return;
	}
	if (!(t->dupacks >= 3 || (sack && tcp_sack_is_lost(t, t->snd_una, t->snd_mss))) ||
	    !seq_gt(seg->ack, t->recover))
		return;
	t->flags |= TF_IN_RECOVERY;
	t->recover = t->snd_max;
	tcp_cc_on_enter_recovery(&t->cc, t->snd_max - t->snd_una, now);
	TCP_INC(ts, FAST_RETRANS);
	tcp_xmit(ts, env, t, t->snd_una, head_len(t), now);
	if (sack) {
		TCP_INC(ts, SACK_RECOVERY);
		/* RFC 6675 5 (4.3): HighRxt and RescueRxt at the retransmission's end */
		t->rexmt_high = t->rescue_rxt = t->snd_una + head_len(t);
	} else {
		TCP_INC(ts, RENO_RECOVERY);
		for (unsigned i = 0; i < 3; i++)      /* RFC 6582 step 3 */
			tcp_cc_on_dupack(&t->cc);
	}
}

/* New data acknowledged during or outside recovery (RFC 6582 3.2 steps 5-6,
 * RFC 6675 5 exit, RFC 5681 3.1 growth). */
static void on_new_ack(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		       uint32_t acked, uint32_t flight, uint64_t now)
{
	t->dupacks = 0;
	if (!(t->flags & TF_IN_RECOVERY)) {
		tcp_cc_on_ack(&t->cc, acked, flight, t->rtt.srtt, now);
		return;
	}
	if (seq_geq(t->snd_una, t->recover)) {          /* full ACK */
		t->flags &= ~(uint32_t)TF_IN_RECOVERY;
		tcp_cc_on_exit_recovery(&t->cc, t->snd_max - t->snd_una, now);
		return;
	}
	if (t->flags & TF_SACK_OK)
		return;      /* RFC 6675: tcp_output retransmits by NextSeg */
	tcp_cc_on_partial_ack(&t->cc, acked);           /* RFC 6582 step 5 */
	tcp_xmit(ts, env, t, t->snd_una, head_len(t), now);
}

/* SND.UNA advances to ack: release the acknowledged bytes (the ring's start
 * moves with SND.UNA), sample the RTT, restart the timer (RFC 6298 5.3). */
static void ack_advance(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
			const struct tcp_seg *seg, uint64_t now)
{
	uint32_t acked = seg->ack - t->snd_una, flight = t->snd_max - t->snd_una;

	rtt_sample(t, seg, now);
	t->snd_una = seg->ack;
	if (seq_lt(t->snd_nxt, t->snd_una))
		t->snd_nxt = t->snd_una;
	t->bytes_acked += acked;
	t->n_rexmt = 0;
	t->rtt.backoff = 0;
	t->first_unacked_at = t->snd_una == t->snd_max ? 0 : now;
	tcp_scoreboard_ack(t, t->snd_una);
	on_new_ack(ts, env, t, acked, flight, now);
	tcp_timer_rexmt_restart(ts, t, now);
	if ((t->flags & TF_WANT_WRITE) && tcp_snd_queued(t) < t->sndbuf_lim) {
		t->flags &= ~(uint32_t)TF_WANT_WRITE;
		tcp_notify(ts, env, t, TCP_EV_WRITABLE);
	}
}

/* Our FIN is acknowledged once SND.UNA passes it. */
static bool fin_acked(const struct tcb *t)
{
	return (t->flags & TF_FIN_QUEUED) && seq_gt(t->snd_una, t->snd_end);
}

/* The state changes an ACK of our FIN makes (RFC 9293 3.10.7.4 fifth). */
static void ack_state(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		      uint64_t now)
{
	if (!fin_acked(t))
		return;
	if (t->state == TCPS_FIN_WAIT_1) {
		tcp_set_state(ts, env, t, TCPS_FIN_WAIT_2, now);
		if (t->flags & TF_USER_CLOSED)      /* no one will read: don't wait forever */
			tcp_timer_set(ts, t, TCB_T_2MSL, now + 2 * ts->cfg.msl);
	} else if (t->state == TCPS_CLOSING) {
		tcp_set_state(ts, env, t, TCPS_TIME_WAIT, now);
	} else if (t->state == TCPS_LAST_ACK) {
		tcp_set_state(ts, env, t, TCPS_CLOSED, now);
	}
}

/* SYN_RECEIVED + acceptable ACK -> ESTABLISHED; a passive child joins the
 * accept queue (if full, the ACK is dropped and the handshake repeats, as
 * Linux does). Returns false to stop processing the segment. */
static bool ack_syn_received(struct tcp_stack *ts, const struct tcp_env *env,
			     struct tcb *t, const struct tcp_seg *seg, uint64_t now)
{
	if (!seq_gt(seg->ack, t->snd_una) || seq_gt(seg->ack, t->snd_max)) {
		TCP_DROP(ts, TCP_BAD_ACK);
		tcp_reply_rst(ts, env, seg, now);
		return false;
	}
	if (t->parent != TCP_CONN_NONE && tcp_tcb(ts, t->parent)->aq_len >=
	    tcp_tcb(ts, t->parent)->backlog) {
		TCP_DROP(ts, TCP_LISTEN_OVERFLOW);
		return false;
	}
	t->snd_una = seg->ack;
	rtt_sample(t, seg, now);
	establish(ts, env, t, seg, now);
	if (t->parent != TCP_CONN_NONE)
		tcp_accept_enqueue(ts, env, t);
	else
		tcp_notify(ts, env, t, TCP_EV_CONNECTED | TCP_EV_WRITABLE);
	return true;
}

/* RFC 5681 2's DUPLICATE ACK: nothing new in it but that the peer got a
 * segment. With SACK blocks in it, RFC 6675 2 also wants it to SACK bytes
 * not SACKed before (new_sacked): an ACK reporting a duplicate (a D-SACK,
 * RFC 2883) or repeating old blocks says nothing was lost. (One without
 * blocks is judged as RFC 5681 says, should a SACK peer send one.) */
static bool is_dupack(const struct tcb *t, const struct tcp_seg *seg, uint32_t new_sacked)
{
	return seg->ack == t->snd_una && seg->data_len == 0 && t->snd_una != t->snd_max &&
	       !(seg->flags & (TH_SYN | TH_FIN)) && (seg->wnd << t->snd_wscale) == t->snd_wnd &&
	       (!(t->flags & TF_SACK_OK) || !seg->opt.nsack || new_sacked);
}

/* Fifth step. Returns false when the segment is dropped. */
static bool check_ack(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		      const struct tcp_seg *seg, uint64_t now)
{
	uint32_t new_sacked = 0;
	bool dsack = false;

	if (!(seg->flags & TH_ACK))
		return TCP_DROP(ts, TCP_FLAGS), false;   /* RFC 9293: "drop the segment" */
	if (t->state == TCPS_SYN_RECEIVED && !ack_syn_received(ts, env, t, seg, now))
		return false;
	/* RFC 5961 5.2: acceptable if SND.UNA - MAX.SND.WND <= SEG.ACK <= SND.NXT
	 * (SND.MAX here: SND.NXT falls back when going back N) */
	if (seq_gt(seg->ack, t->snd_max) || seq_lt(seg->ack, t->snd_una - t->max_sndwnd)) {
		TCP_DROP(ts, TCP_BAD_ACK);
		tcp_send_challenge_ack(ts, env, t, now);
		return false;
	}
	if (seq_geq(seg->ack, t->snd_una))
		t->soft_error = 0;   /* the peer answers: an ICMP soft error is old news */
	if ((t->flags & TF_SACK_OK) && seg->opt.nsack) {
		new_sacked = tcp_scoreboard_update(t, &seg->opt, seg->ack, &dsack);
		if (dsack) {
			TCP_INC(ts, DSACKS_RECV);
			t->dsack_dups++;
		}
	}
	if (seq_gt(seg->ack, t->snd_una))
		ack_advance(ts, env, t, seg, now);
	else if (is_dupack(t, seg, new_sacked))
		on_dupack(ts, env, t, seg, now);
	window_update(t, seg);
	ack_state(ts, env, t, now);
	return t->in_use && t->state != TCPS_CLOSED;
}

/* ------------------------------------------------------------ 7th: text */

/* Copy len payload bytes starting at payload offset off into the receive
 * ring at sequence seq (two pieces across the ring's end). */
static void copy_to_ring(const struct tcp_stack *ts, const struct tcb *t,
			 const struct tcp_seg *seg, uint32_t off, uint32_t seq, uint32_t len)
{
	uint8_t *ring = tcp_rcvbuf(ts, t);
	uint32_t mask = ts->cfg.rcvbuf - 1, at = seq & mask;
	uint32_t first = ts->cfg.rcvbuf - at < len ? ts->cfg.rcvbuf - at : len;

	pkb_copy_out(seg->pkb, seg->hdr_len + off, first, ring + at);
	if (len > first)
		pkb_copy_out(seg->pkb, seg->hdr_len + off + first, len - first, ring);
}

/* RFC 1122 4.2.3.2 / RFC 5681 4.2: ACK at least every second full segment,
 * otherwise within the delayed-ACK time; at a connection's start ACK every
 * segment (quick ACK) so slow start is not held back. A segment merged from
 * several (proto/gro.h) counts as the full segments it carries, as Linux
 * counts a GRO'd skb by its gso_segs: two or more are ACKed at once. */
static void ack_policy(struct tcb *t, uint32_t len)
{
	uint32_t full = t->rcv_mss - tcp_opt_len(t), segs;

	full = full < t->snd_mss ? full : t->snd_mss;
	segs = len < full ? 0 : len < 2 * full || !full ? 1 : len / full;   /* rarely divides */
	t->rcv_segs_unacked += segs;
	if (t->quickack) {
		t->quickack -= segs <= 1 ? 1 : segs < t->quickack ? segs : t->quickack;
		tcp_ack_now(t);
	} else if (t->rcv_segs_unacked >= 2) {
		tcp_ack_now(t);
	} else {
		t->flags |= TF_DELACK;
	}
}

/* Seventh step: data within the ring's space goes in at its offset; in
 * order it advances RCV.NXT (absorbing OOO intervals it reaches), out of
 * order it is recorded for SACK and answered at once with a duplicate ACK
 * (RFC 5681 4.2). Data beyond the ring's end is cut off. */
static void input_text(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		       const struct tcp_seg *seg, uint64_t now)
{
	uint32_t seq = seg->seq + !!(seg->flags & TH_SYN), off = 0, len = seg->data_len;
	uint32_t limit = t->rcv_user + t->rcvbuf_lim;

	if (len == 0 || t->state < TCPS_ESTABLISHED || t->state > TCPS_FIN_WAIT_2 ||
	    (t->flags & TF_FIN_RCVD))
		return;
	if (seq_lt(seq, t->rcv_nxt)) {              /* already have the front */
		uint32_t cut = t->rcv_nxt - seq;

		if (cut >= len)
			return tcp_ack_now(t);
		off = cut; seq += cut; len -= cut;
	}
	if (seq_gt(seq + len, limit)) {
		TCP_DROP(ts, TCP_RCVBUF_FULL);
		if (!seq_lt(seq, limit))
			return tcp_ack_now(t);
		len = limit - seq;
	}
	copy_to_ring(ts, t, seg, off, seq, len);
	t->last_rcv = now;
	t->last_data_rcvd = now;
	if (seq != t->rcv_nxt) {
		t->rcv_ooopack++;
		if (tcp_ooo_insert(t, seq, seq + len) < 0)
			TCP_DROP(ts, TCP_OFO_MEMLIMIT);
		else
			TCP_INC(ts, OFO_QUEUED);
		return tcp_ack_now(t);
	}
	t->rcv_nxt = seq + len;
	if (t->n_ooo) {
		t->rcv_nxt = tcp_ooo_advance(t, t->rcv_nxt);
		tcp_ack_now(t);                          /* a gap filled: tell at once */
	}
	t->bytes_received += t->rcv_nxt - seq;
	ack_policy(t, len);
	tcp_notify(ts, env, t, TCP_EV_READABLE);
}

/* ------------------------------------------------------------ 8th: FIN */

/* Eighth step: note a FIN where it falls; act on it once RCV.NXT reaches it
 * (a FIN beyond a hole waits, like the data before it). */
static void input_fin(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		      const struct tcp_seg *seg, uint64_t now)
{
	if ((seg->flags & TH_FIN) && !t->fin_seen && t->state != TCPS_SYN_RECEIVED) {
		t->fin_seen = 1;
		t->fin_seq = seg->seq + seg->len - 1;
	}
	if (!t->fin_seen || (t->flags & TF_FIN_RCVD) || t->rcv_nxt != t->fin_seq)
		return;
	t->flags |= TF_FIN_RCVD;
	t->rcv_nxt++;
	tcp_ack_now(t);
	tcp_notify(ts, env, t, TCP_EV_READABLE);
	if (t->state == TCPS_ESTABLISHED)
		tcp_set_state(ts, env, t, TCPS_CLOSE_WAIT, now);
	else if (t->state == TCPS_FIN_WAIT_1)
		tcp_set_state(ts, env, t, fin_acked(t) ? TCPS_TIME_WAIT : TCPS_CLOSING, now);
	else if (t->state == TCPS_FIN_WAIT_2)
		tcp_set_state(ts, env, t, TCPS_TIME_WAIT, now);
}

/* ------------------------------------------------------------ dispatch */

/* RFC 9293 3.10.7.4: the steps in order, each able to stop the segment. */
static void input_synchronized(struct tcp_stack *ts, const struct tcp_env *env,
			       struct tcb *t, struct tcp_seg *seg, uint64_t now)
{
	simopen_synack(t, seg);
	if (!check_seq(ts, t, seg, now) || !check_rst(ts, env, t, seg, now) ||
	    !check_syn(ts, env, t, seg, now) || !check_ack(ts, env, t, seg, now))
		return;
	t->n_probes = t->timer[TCB_T_PERSIST] ? t->n_probes : 0;
	if (t->flags & TF_KEEPALIVE)
		tcp_timer_keepalive_reset(ts, t, now);
	input_text(ts, env, t, seg, now);
	input_fin(ts, env, t, seg, now);
	if (t->state == TCPS_TIME_WAIT && (seg->flags & TH_FIN))
		tcp_timer_set(ts, t, TCB_T_2MSL, now + 2 * ts->cfg.msl);
}

/* RFC 6191 / RFC 1122 4.2.2.13: a new SYN may take over a TIME_WAIT 4-tuple
 * when it cannot be confused with the old incarnation: its timestamp is
 * newer, or (without timestamps) its sequence number is above RCV.NXT. */
static bool time_wait_reusable(const struct tcb *t, const struct tcp_seg *seg)
{
	if ((seg->flags & (TH_SYN | TH_ACK | TH_RST)) != TH_SYN)
		return false;
	if ((t->flags & TF_TS_OK) && (seg->opt.has & TCP_OPTF_TS))
		return seq_gt(seg->opt.tsval, t->ts_recent);
	return seq_gt(seg->seq, t->rcv_nxt);
}

/* What one segment for t adds to its statistics (tcb.h, for TCP_INFO). */
static void seg_stats(struct tcb *t, const struct tcp_seg *seg, uint64_t now)
{
	t->segs_in++;
	t->last_seg_rcvd = now;
	if (seg->data_len)
		t->data_segs_in++;
}

/* Find the TCB for seg (flow_hash: its tcp_flow_hash, NULL if not known
 * yet) and run the state's processing. Returns the TCB that may have output
 * pending, or NULL. */
static struct tcb *dispatch(struct tcp_stack *ts, const struct tcp_env *env,
			    struct tcp_seg *seg, const uint32_t *flow_hash, uint64_t now)
{
	uint32_t h = flow_hash ? *flow_hash : tcp_flow_hash(ts, seg->daddr, seg->dport,
							     seg->saddr, seg->sport);
	struct tcb *t = tcp_conn_lookup_hashed(ts, h, seg->daddr, seg->dport, seg->saddr,
					       seg->sport);

	if (t && t->state == TCPS_TIME_WAIT && time_wait_reusable(t, seg)) {
		TCP_INC(ts, TW_REUSED);
		tcp_set_state(ts, env, t, TCPS_CLOSED, now);   /* leaves the hash */
		t = NULL;
	}
	if (!t) {
		struct tcb *l = tcp_listener_lookup(ts, seg->daddr, seg->dport,
						    seg->saddr, seg->sport);

		if (!l)
			return input_closed(ts, env, seg, now), NULL;
		return input_listen(ts, env, l, seg, now);
	}
	seg_stats(t, seg, now);
	if (t->state == TCPS_SYN_SENT)
		input_syn_sent(ts, env, t, seg, now);
	else
		input_synchronized(ts, env, t, seg, now);
	return t;
}

/* tcp_input, with the segment's flow hash when the caller knows it. */
static void input_one(struct tcp_stack *ts, const struct tcp_env *env, struct pkb *b,
		      uint32_t saddr, uint32_t daddr, const uint32_t *flow_hash, uint64_t now)
{
	struct tcp_seg seg;
	struct tcb *t;

	ts->last_now = now;
	TCP_INC(ts, IN_SEGS);
	if (parse(ts, b, saddr, daddr, &seg) == 0) {
		t = dispatch(ts, env, &seg, flow_hash, now);
		if (t && t->in_use)
			tcp_output(ts, env, t, now);
	}
	pkb_free(env->cache, b);
}

void tcp_input(struct tcp_stack *ts, const struct tcp_env *env, struct pkb *b,
	       uint32_t saddr, uint32_t daddr, uint64_t now)
{
	input_one(ts, env, b, saddr, daddr, NULL, now);
}

/* The flow hash of a received segment, from its ports (the first 4 bytes);
 * false if they are not there to read (parse will drop it). */
static bool rx_hash(const struct tcp_stack *ts, const struct tcp_rx *rx, uint32_t *h)
{
	uint32_t contig = 0;
	const uint8_t *p = pkb_seg_at(rx->pkb, 0, &contig);

	if (!p || contig < 4)
		return false;
	*h = tcp_flow_hash(ts, rx->daddr, rd16(p + TCP_OFF_DPORT), rx->saddr,
			   rd16(p + TCP_OFF_SPORT));
	return true;
}

/* A software pipeline over the burst, TCP_BURST_AHEAD segments per stage:
 * segment i + 2D is hashed and its bucket fetched, segment i + D's bucket
 * is read and its TCB fetched, segment i is processed. Each line has D
 * segments' work to arrive, and the fetches of a burst overlap. */
#define TCP_BURST_AHEAD 8u
#define TCP_BURST_RING  32u      /* > 2 * TCP_BURST_AHEAD, a power of two */

void tcp_input_burst(struct tcp_stack *ts, const struct tcp_env *env,
		     const struct tcp_rx *rx, unsigned n, uint64_t now)
{
	const unsigned d = TCP_BURST_AHEAD, mask = TCP_BURST_RING - 1;
	uint32_t h[TCP_BURST_RING];
	bool ok[TCP_BURST_RING];

	for (unsigned i = 0; i < n + 2 * d; i++) {
		if (i < n && (ok[i & mask] = rx_hash(ts, &rx[i], &h[i & mask])))
			tcp_conn_prefetch_bucket(ts, h[i & mask]);
		if (i >= d && i - d < n && ok[(i - d) & mask])
			tcp_conn_prefetch_tcb(ts, h[(i - d) & mask]);
		if (i >= 2 * d) {
			unsigned j = i - 2 * d;

			input_one(ts, env, rx[j].pkb, rx[j].saddr, rx[j].daddr,
				  ok[j & mask] ? &h[j & mask] : NULL, now);
		}
	}
}

