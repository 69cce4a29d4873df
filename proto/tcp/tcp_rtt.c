/* proto/tcp/tcp_rtt.c — RFC 6298 SRTT/RTTVAR and the retransmission timeout
 * (choices and bounds in tcp_rtt.h).
 *
 * Integer nanoseconds throughout. The gains alpha = 1/8 and beta = 1/4 are
 * applied as (7*SRTT + R)/8 and (3*RTTVAR + |SRTT - R|)/4: at ns resolution
 * the truncation is far below the 1 ms granularity G.
 */
#include "proto/tcp/tcp_rtt.h"

#include <errno.h>

#define TCP_RTO_K        4u                  /* RFC 6298 2.2 */
#define TCP_RTO_SYN_LOST 3000000000ull       /* RFC 6298 5.7: 3 s */

void tcp_rtt_init(struct tcp_rtt *r, uint64_t initial)
{
	r->srtt = 0;
	r->rttvar = 0;
	r->rto = initial ? initial : TCP_RTO_INIT;
	r->latest = 0;
	r->min_rtt = 0;
	r->backoff = 0;
	r->samples = 0;
}

/* RTO = SRTT + max(G, K*RTTVAR) (2.2, 2.3), then the bounds (2.4, 2.5). */
static uint64_t rto_from(const struct tcp_rtt *r)
{
	uint64_t var = TCP_RTO_K * r->rttvar;
	uint64_t rto = r->srtt + (var > TCP_RTT_G ? var : TCP_RTT_G);

	if (rto < TCP_RTO_MIN)
		return TCP_RTO_MIN;
	return rto > TCP_RTO_MAX ? TCP_RTO_MAX : rto;
}

int tcp_rtt_sample(struct tcp_rtt *r, uint64_t rtt_ns, unsigned flags)
{
	/* Karn (RFC 6298 section 3): an ACK of a retransmitted segment does not
	 * say which transmission it answers, unless its timestamp echo does. */
	if ((flags & TCP_RTT_RETRANSMITTED) && !(flags & TCP_RTT_FROM_TS))
		return -EINVAL;
	if (rtt_ns == 0)
		rtt_ns = 1;
	if (r->samples == 0) {                       /* 2.2: the first measurement */
		r->srtt = rtt_ns;
		r->rttvar = rtt_ns / 2;
	} else {                                     /* 2.3: RTTVAR first, with the old SRTT */
		uint64_t diff = r->srtt > rtt_ns ? r->srtt - rtt_ns : rtt_ns - r->srtt;

		r->rttvar = (3 * r->rttvar + diff) / 4;
		r->srtt = (7 * r->srtt + rtt_ns) / 8;
	}
	r->rto = rto_from(r);
	r->latest = rtt_ns;
	if (r->min_rtt == 0 || rtt_ns < r->min_rtt)
		r->min_rtt = rtt_ns;
	r->samples++;
	r->backoff = 0;   /* the backed-off RTO holds only until a valid sample */
	return 0;
}

uint64_t tcp_rtt_rto(const struct tcp_rtt *r)
{
	uint64_t rto = r->rto;

	for (uint32_t i = 0; i < r->backoff && rto < TCP_RTO_MAX; i++)
		rto *= 2;
	return rto > TCP_RTO_MAX ? TCP_RTO_MAX : rto;
}

void tcp_rtt_backoff(struct tcp_rtt *r)
{
	if (r->backoff < TCP_RTO_BACKOFF_MAX)
		r->backoff++;
}

void tcp_rtt_syn_lost(struct tcp_rtt *r)
{
	if (r->samples == 0 && r->rto < TCP_RTO_SYN_LOST)
		r->rto = TCP_RTO_SYN_LOST;
	r->backoff = 0;
}
