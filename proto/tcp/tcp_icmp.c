/* proto/tcp/tcp_icmp.c — ICMP errors about segments we sent: hard and soft
 * errors (RFC 1122 4.2.3.9, RFC 5461), their validation (RFC 5927), and path
 * MTU discovery's "fragmentation needed" (RFC 1191).
 *
 * Where it sits: ipv4_input -> icmp_input (parses the quoted datagram: its
 * addresses, ports and sequence number) -> stack_tcp_icmp_error ->
 * tcp_icmp_error -> maybe tcp_output (retransmission in smaller segments).
 *
 * An ICMP error is easy to forge and carries no proof of being on the path.
 * What keeps a blind attacker out is the RFC 5927 4.1 check: the quoted
 * sequence number must be data we sent and that is not yet acknowledged.
 * Even then, an established conn is never killed by ICMP (RFC 5461 / RFC 5927
 * 5.2: hard errors are treated as soft once synchronized); only an open in
 * progress is refused, as a RST would refuse it.
 */
#include <errno.h>

#include "proto/tcp/tcp_internal.h"

/* RFC 1191 7.1: the plateaus of common MTUs, highest first. */
static const uint16_t mtu_plateaus[] = {
	32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68,
};

/* The MTU to assume below `mtu` when a router did not say (RFC 1191 5:
 * the next plateau down). */
static uint32_t plateau_below(uint32_t mtu)
{
	for (unsigned i = 0; i < sizeof(mtu_plateaus) / sizeof(mtu_plateaus[0]); i++)
		if (mtu_plateaus[i] < mtu)
			return mtu_plateaus[i];
	return 68;
}

/* The largest datagram t sends now: before the SYN-ACK, what the route
 * allows; after, the segment size in use plus headers and options. */
static uint32_t current_mtu(const struct tcb *t)
{
	if (t->state == TCPS_SYN_SENT)
		return t->pmtu ? t->pmtu : t->rcv_mss + TCP_IPV4_HDRS;
	return t->snd_mss + tcp_opt_len(t) + TCP_IPV4_HDRS;
}

/* Every segment in flight was too big and is gone: send it all again from
 * SND.UNA in segments of the new size (as Linux's tcp_simple_retransmit).
 * The window is not cut: the bytes did not meet congestion, and
 * tcp_cc_set_mss already kept cwnd in segments. Recovery in progress is
 * over (its scoreboard described the old segments). */
static void resend_in_flight(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
			     uint64_t now)
{
	if (t->snd_una == t->snd_max || t->state < TCPS_ESTABLISHED)
		return;
	if (t->flags & TF_IN_RECOVERY)
		tcp_cc_on_exit_recovery(&t->cc, t->snd_max - t->snd_una, now);
	t->flags &= ~(uint32_t)(TF_IN_RECOVERY | TF_RTT_TIMING);
	t->dupacks = 0;
	t->n_score = 0;
	t->recover = t->snd_max;    /* RFC 6582 4: dupacks of the old segments are old news */
	t->snd_nxt = t->snd_una;
	tcp_output(ts, env, t, now);
}

/* RFC 1191 6.1: fragmentation needed with next-hop MTU mtu (0: unknown).
 * A report that does not lower the MTU is stale or forged and ignored; the
 * new MTU is never taken below TCP_PMTU_MIN (RFC 1191 / RFC 1122 3.3.3's 576
 * that every IPv4 path carries: an attacker cannot shrink segments to nothing). */
static void pmtu_reduce(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
			uint32_t mtu, uint64_t now)
{
	uint32_t cur = current_mtu(t), mss;

	if (mtu == 0)
		mtu = plateau_below(cur);
	if (mtu < TCP_PMTU_MIN)
		mtu = TCP_PMTU_MIN;
	if (mtu >= cur)
		return;
	t->pmtu = (uint16_t)mtu;
	TCP_INC(ts, PMTU_REDUCED);
	if (t->state == TCPS_SYN_SENT)
		return;                 /* tcp_tcb_negotiate applies t->pmtu */
	mss = mtu - TCP_IPV4_HDRS - tcp_opt_len(t);
	t->snd_mss = mss;
	tcp_cc_set_mss(&t->cc, mss);
	resend_in_flight(ts, env, t, now);
}

/* RFC 1122 4.2.3.9: port and protocol unreachable are hard errors. */
static bool hard_error(int err)
{
	return err == -ECONNREFUSED || err == -ENOPROTOOPT;
}

int tcp_icmp_error(struct tcp_stack *ts, const struct tcp_env *env, uint32_t laddr,
		   uint16_t lport, uint32_t raddr, uint16_t rport, uint32_t seq, int err,
		   uint16_t mtu, uint64_t now)
{
	struct tcb *t = tcp_conn_lookup(ts, laddr, lport, raddr, rport);

	ts->last_now = now;
	if (!t || t->state == TCPS_CLOSED || t->state == TCPS_LISTEN)
		return -ENOENT;
	if (!seq_in(seq, t->snd_una, t->snd_max)) {      /* RFC 5927 4.1 */
		TCP_DROP(ts, TCP_ICMP_OUT_OF_WINDOW);
		return -EINVAL;
	}
	if (err == -EMSGSIZE) {
		pmtu_reduce(ts, env, t, mtu, now);
	} else if (hard_error(err) && (t->state == TCPS_SYN_SENT ||
				       t->state == TCPS_SYN_RECEIVED)) {
		TCP_INC(ts, ICMP_HARD_ERRORS);
		/* as a RST would (check_rst): a passive child just goes */
		tcp_conn_drop(ts, env, t, t->parent != TCP_CONN_NONE ? 0 : -ECONNREFUSED, now);
	} else if (err < 0) {
		TCP_INC(ts, ICMP_SOFT_ERRORS);
		t->soft_error = (int16_t)err;
	}
	return 0;
}

/* The error a conn that timed out reports: the last soft error if an ICMP
 * message explained the silence, else -ETIMEDOUT (as Linux's sk_err_soft). */
int tcp_timeout_error(const struct tcb *t)
{
	return t->soft_error ? t->soft_error : -ETIMEDOUT;
}
