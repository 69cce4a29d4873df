/* proto/tcp/tcp_cc.h — congestion control: how big the congestion window is.
 *
 * Where it sits: the TCP core owns loss detection and recovery (dup ACKs,
 * SACK, RFC 6582 partial ACKs, the retransmission timer) and calls in here at
 * each congestion event; this module only does the window arithmetic. The
 * sender may have min(cwnd, rwnd) - flight bytes outstanding more.
 *
 * struct tcp_cc lives inside the TCB, i.e. in shared memory: it holds no
 * function pointer, only an algorithm id, and each call switches on it.
 *
 *   TCP_CC_NEWRENO  RFC 5681 slow start and congestion avoidance, with
 *                   appropriate byte counting (RFC 3465, L = 2*SMSS)
 *   TCP_CC_CUBIC    RFC 9438: W_cubic, K, the Reno-friendly region, fast
 *                   convergence; time since the epoch comes from `now`
 *
 * Units: windows and byte counts are bytes; times are ns. The core's calls:
 *
 *   new data ACKed, not in recovery  tcp_cc_on_ack
 *   loss detected (3 dup ACKs/SACK)  tcp_cc_on_enter_recovery   cwnd = ssthresh
 *   each further dup ACK (RFC 6582)  tcp_cc_on_dupack           cwnd += SMSS
 *   partial ACK (RFC 6582 step 5)    tcp_cc_on_partial_ack      deflate
 *   full ACK, recovery over          tcp_cc_on_exit_recovery
 *   retransmission timeout           tcp_cc_on_rto              cwnd = 1 SMSS
 *
 * A core doing RFC 6675 (SACK, pipe) recovery uses cwnd as left by
 * on_enter_recovery and never calls on_dupack/on_partial_ack.
 */
#ifndef RINGSTACK_PROTO_TCP_TCP_CC_H
#define RINGSTACK_PROTO_TCP_TCP_CC_H

#include <stdint.h>

enum tcp_cc_algo {
	TCP_CC_NEWRENO = 0,
	TCP_CC_CUBIC = 1,
	TCP_CC_MAX
};

#define TCP_CC_DEFAULT  TCP_CC_CUBIC    /* as Linux */
#define TCP_CC_NAME_MAX 16              /* TCP_CA_NAME_MAX in Linux */

struct tcp_cc {
	uint32_t cwnd;          /* congestion window, bytes */
	uint32_t ssthresh;      /* slow-start threshold, bytes (UINT32_MAX at start) */
	uint32_t mss;           /* SMSS the window is counted in */
	uint8_t algo;           /* enum tcp_cc_algo */
	uint8_t in_recovery;    /* between on_enter_recovery and on_exit_recovery/on_rto */
	uint16_t reserved;
	uint32_t ca_acked;      /* NewReno CA byte counter (RFC 5681 section 3.1) */
	uint32_t ca_frac;       /* CUBIC: sub-byte growth carried over, 1/65536 byte */
	/* CUBIC state (RFC 9438 section 4) */
	uint64_t epoch_start;   /* ns when the current CA epoch began; 0: none */
	uint64_t k_ns;          /* K: time for W_cubic to climb back to W_max */
	uint32_t w_max;         /* bytes: window just before the last reduction */
	uint32_t cwnd_epoch;    /* bytes: cwnd at the start of the epoch */
	uint32_t cwnd_prior;    /* bytes: cwnd before the last reduction */
	uint32_t reserved2;
	uint64_t w_est_fx;      /* Reno-friendly estimate W_est, bytes * 65536 */
};
_Static_assert(sizeof(struct tcp_cc) == 64, "tcp_cc is part of the TCB layout");

/* Start a connection's window: cwnd = IW (RFC 6928: min(10*SMSS,
 * max(2*SMSS, 14600)), as Linux), ssthresh "arbitrarily high" (RFC 5681 3.1).
 * Returns 0, or -EINVAL for an unknown algo or mss == 0 (cc left unchanged). */
int tcp_cc_init(struct tcp_cc *cc, enum tcp_cc_algo algo, uint32_t mss, uint64_t now);

/* TCP_CONGESTION on a live conn (as Linux's tcp_reinit_congestion_control):
 * what the conn has earned carries over (cwnd, ssthresh, SMSS, a recovery
 * in progress); the new algorithm's own state starts afresh: NewReno with an
 * empty byte counter, CUBIC as after a timeout (no W_max, so its first
 * epoch starts at the current cwnd with K = 0, RFC 9438 4.8). Switching to
 * the algorithm in use changes nothing. Returns 0, or -EINVAL for an
 * unknown algo (cc unchanged). */
int tcp_cc_switch(struct tcp_cc *cc, enum tcp_cc_algo algo, uint64_t now);

/* The path's SMSS changed (PMTU, MSS option): keep cwnd in the same number of
 * segments. mss == 0 is ignored. */
void tcp_cc_set_mss(struct tcp_cc *cc, uint32_t mss);

/* `acked_bytes` of new data were cumulatively ACKed. `flight_bytes` is what
 * was outstanding when the ACK arrived (before it is applied): the window only
 * grows while the sender is using it (RFC 7661). `rtt_ns` is the smoothed RTT
 * (0 if unknown), used by CUBIC's target W_cubic(t + RTT). Slow start below
 * ssthresh, congestion avoidance above. No-op during recovery. */
void tcp_cc_on_ack(struct tcp_cc *cc, uint32_t acked_bytes, uint32_t flight_bytes,
		   uint64_t rtt_ns, uint64_t now);

/* Loss detected: ssthresh = max(flight/2, 2*SMSS) for NewReno (RFC 5681
 * eq. 4), max(cwnd * 0.7, 2*SMSS) for CUBIC (RFC 9438 4.6, with fast
 * convergence 4.7); cwnd = ssthresh. Ignored if already in recovery. */
void tcp_cc_on_enter_recovery(struct tcp_cc *cc, uint32_t flight_bytes, uint64_t now);

/* RFC 6582 3.2 step 4: a further duplicate ACK during recovery inflates cwnd
 * by SMSS (a core inflating for the first three dup ACKs calls this 3 times
 * right after on_enter_recovery, step 3). No-op outside recovery. */
void tcp_cc_on_dupack(struct tcp_cc *cc);

/* RFC 6582 3.2 step 5: a partial ACK of `acked_bytes` deflates cwnd by that
 * amount and adds back SMSS if at least SMSS was ACKed. No-op outside recovery. */
void tcp_cc_on_partial_ack(struct tcp_cc *cc, uint32_t acked_bytes);

/* Recovery ends (full ACK): cwnd = min(ssthresh, max(flight, SMSS) + SMSS),
 * RFC 6582 3.2 step 6 option 1, which avoids a burst; `flight_bytes` is what
 * is outstanding after the full ACK. */
void tcp_cc_on_exit_recovery(struct tcp_cc *cc, uint32_t flight_bytes, uint64_t now);

/* Retransmission timeout: ssthresh as on entering recovery (RFC 5681 eq. 4 /
 * RFC 9438 4.8), cwnd = 1 SMSS (the loss window), recovery abandoned. Call
 * once per timeout episode, not per backed-off retransmission (RFC 5681 3.1:
 * ssthresh is not halved again while the retransmission is unacknowledged):
 * pass `first` = 0 for the repeated timeouts of one episode. */
void tcp_cc_on_rto(struct tcp_cc *cc, uint32_t flight_bytes, int first, uint64_t now);

/* TCP_CONGESTION: the algorithm called `name` ("newreno", "reno" or
 * "cubic"), or -ENOENT. */
int tcp_cc_by_name(const char *name);

/* Name of `algo` for getsockopt(TCP_CONGESTION) and ss; "?" if unknown. */
const char *tcp_cc_name(enum tcp_cc_algo algo);

#endif /* RINGSTACK_PROTO_TCP_TCP_CC_H */
