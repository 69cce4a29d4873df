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

int tcp_info(const struct tcp_stack *ts, uint32_t conn, struct tcp_conn_info *out)
{
	const struct tcb *t;

	if (conn >= ts->cfg.max_conns || !(t = tcp_tcb(ts, conn))->in_use)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->state = t->state;
	out->snd_wscale = t->snd_wscale;
	out->rcv_wscale = t->rcv_wscale;
	out->opts = info_opts(t);
	out->laddr = t->laddr; out->lport = t->lport;
	out->raddr = t->raddr; out->rport = t->rport;
	out->rtt_us = (uint32_t)(t->rtt.srtt / 1000u);
	out->rttvar_us = (uint32_t)(t->rtt.rttvar / 1000u);
	out->rto_us = (uint32_t)(tcp_rtt_rto(&t->rtt) / 1000u);
	out->snd_mss = t->snd_mss;
	out->rcv_mss = t->rcv_mss;
	out->snd_cwnd = t->cc.cwnd;
	out->snd_ssthresh = t->cc.ssthresh;
	out->snd_wnd = t->snd_wnd;
	out->rcv_wnd = seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
	out->unacked = t->snd_max - t->snd_una;
	out->sacked = tcp_sacked_bytes(t);
	out->backoff = t->rtt.backoff;
	out->bytes_acked = t->bytes_acked;
	out->bytes_received = t->bytes_received;
	out->total_retrans = t->total_retrans;
	strncpy(out->cc, tcp_cc_name((enum tcp_cc_algo)t->cc.algo), sizeof(out->cc) - 1);
	return 0;
}
