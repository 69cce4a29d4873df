/* proto/tcp/tcp_stats.c — TCP's observability: the `nstat`-style counters,
 * TCP's drops by reason, and tcp_info's `ss -ti` view of one connection.
 *
 * Where it sits: off the data path. ctl/ (another process) reads the same
 * counters through shared memory with relaxed loads; these functions are the
 * in-process way to read them.
 */
#include <errno.h>
#include <string.h>

#include "proto/tcp/tcp_internal.h"

void tcp_stats_read(const struct tcp_stack *ts, uint64_t *out, uint64_t *drops)
{
	if (out)
		tcp_counters_snapshot(&ts->cnt, out);
	if (drops)
		tcp_drops_snapshot(&ts->drops, drops);
}

const char *tcp_counter_name(unsigned i)
{
	return i < TCP_CNT_NR ? tcp_counters_desc()[i].name : NULL;
}

const char *tcp_counter_text(unsigned i)
{
	return i < TCP_CNT_NR ? tcp_counters_desc()[i].text : NULL;
}

/* Options negotiated on t, as TCP_INFO_OPT_* bits. */
static uint8_t info_opts(const struct tcb *t)
{
	return (uint8_t)(((t->flags & TF_TS_OK) ? TCP_INFO_OPT_TIMESTAMPS : 0) |
			 ((t->flags & TF_SACK_OK) ? TCP_INFO_OPT_SACK : 0) |
			 ((t->flags & TF_WS_OK) ? TCP_INFO_OPT_WSCALE : 0));
}

/* Where recovery stands: the same stages Linux's tcpi_ca_state names. */
static uint8_t info_ca_state(const struct tcb *t)
{
	if (t->flags & TF_IN_RECOVERY)
		return TCP_CAS_RECOVERY;
	if (t->n_rexmt && t->state >= TCPS_ESTABLISHED)
		return TCP_CAS_LOSS;         /* on_rexmt went back N; ack_advance ends it */
	return t->dupacks || t->n_score ? TCP_CAS_DISORDER : TCP_CAS_OPEN;
}

/* Bytes deemed lost, and retransmitted bytes in flight: after a timeout
 * everything outstanding and unSACKed is presumed lost (RFC 5681 3.1, go
 * back N) and what went again is [SND.UNA, SND.NXT); in SACK recovery,
 * RFC 6675's IsLost and HighRxt say; in NewReno recovery (RFC 6582) the
 * one segment at SND.UNA was lost and retransmitted. out->sacked is set. */
static void info_loss(const struct tcb *t, uint8_t ca, struct tcp_conn_info *out)
{
	uint32_t out_bytes = t->snd_max - t->snd_una;
	uint32_t head = out_bytes < t->snd_mss ? out_bytes : t->snd_mss;

	if (ca == TCP_CAS_LOSS) {
		out->lost = out_bytes - out->sacked;
		out->retrans = seq_lt(t->snd_nxt, t->snd_max) ? t->snd_nxt - t->snd_una : out_bytes;
	} else if (ca == TCP_CAS_RECOVERY && (t->flags & TF_SACK_OK)) {
		out->lost = tcp_sack_lost_bytes(t);
		out->retrans = tcp_sack_retrans_bytes(t);
	} else if (ca == TCP_CAS_RECOVERY) {
		out->lost = out->retrans = head;
	}
}

/* The per-conn counters tcb.h keeps for TCP_INFO. */
static void info_counts(const struct tcb *t, struct tcp_conn_info *out)
{
	out->bytes_acked = t->bytes_acked;
	out->bytes_received = t->bytes_received;
	out->bytes_sent = t->bytes_sent;
	out->bytes_retrans = t->bytes_retrans;
	out->total_retrans = t->total_retrans;
	out->segs_out = t->segs_out;
	out->segs_in = t->segs_in;
	out->data_segs_out = t->data_segs_out;
	out->data_segs_in = t->data_segs_in;
	out->dsack_dups = t->dsack_dups;
	out->rcv_ooopack = t->rcv_ooopack;
	out->last_data_sent = t->last_data_sent;
	out->last_data_rcvd = t->last_data_rcvd;
	out->last_seg_rcvd = t->last_seg_rcvd;
}

/* Bytes queued by the user and not sent yet (the SYN is not a byte). */
static uint32_t info_notsent(const struct tcb *t)
{
	uint32_t sent = seq_max(t->snd_max, t->iss + 1);

	return seq_gt(t->snd_end, sent) ? t->snd_end - sent : 0;
}

/* ns -> us, rounded up: an RTT measured below the timestamp clock's 1 ms
 * granularity (a 0 ms sample counts 1 ns, tcp_rtt.h) still reads as
 * measured, 1 us, as Linux counts a 0 us sample; 0 stays "none yet". */
static uint32_t us_up(uint64_t ns)
{
	return (uint32_t)((ns + 999u) / 1000u);
}

/* Windows, sizes and timers. */
static void info_windows(const struct tcp_stack *ts, const struct tcb *t,
			 struct tcp_conn_info *out)
{
	out->snd_wscale = t->snd_wscale;
	out->rcv_wscale = t->rcv_wscale;
	out->rtt_us = us_up(t->rtt.srtt);
	out->rttvar_us = us_up(t->rtt.rttvar);
	out->rto_us = (uint32_t)(tcp_rtt_rto(&t->rtt) / 1000u);
	out->min_rtt_us = us_up(t->rtt.min_rtt);
	out->ato_us = (uint32_t)(ts->cfg.delack / 1000u);
	out->snd_mss = t->snd_mss;
	out->rcv_mss = t->rcv_mss;
	out->snd_cwnd = t->cc.cwnd;
	out->snd_ssthresh = t->cc.ssthresh;
	out->snd_wnd = t->snd_wnd;
	out->rcv_wnd = seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
	out->rcvbuf = t->rcvbuf_lim;
	out->sndbuf = t->sndbuf_lim;
	out->pmtu = t->pmtu;
}

int tcp_info(const struct tcp_stack *ts, uint32_t conn, struct tcp_conn_info *out)
{
	const struct tcb *t;

	if (conn >= ts->cfg.max_conns || !(t = tcp_tcb(ts, conn))->in_use)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->state = t->state;
	out->opts = info_opts(t);
	out->laddr = t->laddr; out->lport = t->lport;
	out->raddr = t->raddr; out->rport = t->rport;
	info_windows(ts, t, out);
	out->unacked = t->snd_max - t->snd_una;
	out->sacked = tcp_sacked_bytes(t);
	out->notsent = info_notsent(t);
	out->backoff = t->rtt.backoff;
	out->ca_state = info_ca_state(t);
	out->retransmits = (uint8_t)(t->n_rexmt > 255 ? 255 : t->n_rexmt);
	out->probes = (uint8_t)(t->n_probes > 255 ? 255 : t->n_probes);
	info_loss(t, out->ca_state, out);
	info_counts(t, out);
	strncpy(out->cc, tcp_cc_name((enum tcp_cc_algo)t->cc.algo), sizeof(out->cc) - 1);
	return 0;
}
