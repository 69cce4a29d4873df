/* proto/tcp/tcp_cc_newreno.c — NewReno's window arithmetic (RFC 5681, 6582).
 *
 * Only the parts that differ from CUBIC: linear growth in congestion
 * avoidance and the halving on loss. Slow start and the recovery arithmetic
 * are shared (tcp_cc.c); the partial-ACK logic is the TCP core's.
 */
#include "proto/tcp/tcp_cc_internal.h"

void tcp_cc_newreno_ca(struct tcp_cc *cc, uint32_t acked)
{
	/* RFC 5681 3.1, byte counting (RFC 3465 2.1): one SMSS per cwnd bytes
	 * ACKed, i.e. one segment per round trip. At most one SMSS per ACK;
	 * what exceeds a window is not carried further. */
	uint64_t total = (uint64_t)cc->ca_acked + acked;

	if (total >= cc->cwnd) {
		total -= cc->cwnd;
		if (cc->cwnd <= UINT32_MAX - cc->mss)
			cc->cwnd += cc->mss;
		if (total > cc->cwnd)
			total = cc->cwnd;
	}
	cc->ca_acked = (uint32_t)total;
}

uint32_t tcp_cc_newreno_ssthresh(const struct tcp_cc *cc, uint32_t flight)
{
	(void)cc;
	return flight / 2;   /* RFC 5681 eq. 4; the 2*SMSS floor is the caller's */
}
