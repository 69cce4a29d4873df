/* proto/tcp/tcp_rtt.h — round-trip time estimation and the retransmission timeout.
 *
 * Where it sits: the TCP core measures RTT samples (RFC 7323 RTTM from the
 * echoed timestamp, or one timed segment per window without timestamps) and
 * feeds them here; it asks tcp_rtt_rto() when it arms the retransmission timer
 * and calls tcp_rtt_backoff() when that timer fires. Pure arithmetic on a
 * struct that lives inside the TCB (shared memory, fixed-width fields).
 *
 * RFC 6298, with these choices:
 *   - clock granularity G = 1 ms (netd's timer-wheel tick);
 *   - RTO is at least TCP_RTO_MIN = 200 ms, as Linux, not the RFC's 1 s
 *     (2.4 allows it: "MAY be used" is about the lower bound; on a LAN 1 s turns
 *     each tail loss into a long stall);
 *   - at most TCP_RTO_MAX = 120 s (2.5 allows a maximum of at least 60 s;
 *     Linux uses 120 s);
 *   - initial RTO 1 s (2.1); each timeout doubles it (5.5) up to the maximum;
 *     the next valid sample recomputes it and ends the backoff (Karn, 5.7 note);
 *   - Karn's algorithm (3): no sample from a retransmitted segment, except
 *     when it comes from a timestamp echo (RFC 7323 section 4: the echo says
 *     which transmission is acknowledged). Plain alpha = 1/8, beta = 1/4 for
 *     every sample, as Linux (RFC 7323 appendix G's per-window scaling is
 *     not applied).
 */
#ifndef RINGSTACK_PROTO_TCP_TCP_RTT_H
#define RINGSTACK_PROTO_TCP_TCP_RTT_H

#include <stdint.h>

#define TCP_RTO_INIT   1000000000ull    /* 1 s,   RFC 6298 2.1 */
#define TCP_RTO_MIN     200000000ull    /* 200 ms, Linux's TCP_RTO_MIN */
#define TCP_RTO_MAX  120000000000ull    /* 120 s, Linux's TCP_RTO_MAX */
#define TCP_RTT_G        1000000ull     /* clock granularity G: 1 ms */
#define TCP_RTO_BACKOFF_MAX 16u         /* doublings kept (the cap hits long before) */

struct tcp_rtt {
	uint64_t srtt;      /* ns; 0 until the first sample */
	uint64_t rttvar;    /* ns */
	uint64_t rto;       /* ns, before backoff */
	uint64_t latest;    /* ns, the last sample taken */
	uint64_t min_rtt;   /* ns, smallest sample seen (0: none) */
	uint32_t backoff;   /* timeouts since the last valid sample */
	uint32_t samples;   /* samples taken */
};
_Static_assert(sizeof(struct tcp_rtt) == 48, "tcp_rtt is part of the TCB layout");

/* Flags of a sample, for Karn's rule. */
enum tcp_rtt_flags {
	TCP_RTT_RETRANSMITTED = 1u << 0,  /* the ACKed segment had been retransmitted */
	TCP_RTT_FROM_TS       = 1u << 1,  /* measured from a timestamp echo (RTTM) */
};

/* No samples yet: RTO = `initial` ns (0 means TCP_RTO_INIT), no backoff. */
void tcp_rtt_init(struct tcp_rtt *r, uint64_t initial);

/* Take one RTT measurement of `rtt_ns` (RFC 6298 2.2 for the first, 2.3 for
 * the rest; RTO recomputed, clamped to [TCP_RTO_MIN, TCP_RTO_MAX], backoff
 * cleared). Karn: a sample of a retransmitted segment is refused unless it
 * comes from a timestamp echo. Returns 0 if the sample was used, -EINVAL if
 * refused (r unchanged). A 0 ns sample counts as 1 ns. */
int tcp_rtt_sample(struct tcp_rtt *r, uint64_t rtt_ns, unsigned flags);

/* The retransmission timeout to arm now, ns: rto * 2^backoff, at most
 * TCP_RTO_MAX (RFC 6298 5.5). */
uint64_t tcp_rtt_rto(const struct tcp_rtt *r);

/* The retransmission timer expired: double the timeout (RFC 6298 5.5). */
void tcp_rtt_backoff(struct tcp_rtt *r);

/* RFC 6298 5.7: the SYN (or SYN-ACK) was retransmitted and no sample was
 * taken during the handshake: RTO is 3 s once data transfer begins. */
void tcp_rtt_syn_lost(struct tcp_rtt *r);

#endif /* RINGSTACK_PROTO_TCP_TCP_RTT_H */
