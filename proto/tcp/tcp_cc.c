/* proto/tcp/tcp_cc.c — the congestion-control interface (see tcp_cc.h).
 *
 * What every algorithm shares lives here: the initial window (RFC 6928),
 * slow start with appropriate byte counting (RFC 5681 3.1, RFC 3465 with
 * L = 2*SMSS), the "is the window in use" test (RFC 7661), and the fast
 * recovery arithmetic of RFC 6582 3.2. Growth in congestion avoidance and the
 * ssthresh after a loss are the algorithm's, dispatched on cc->algo (no
 * function pointers: the struct lives in shared memory).
 */
#include "proto/tcp/tcp_cc.h"

#include <errno.h>
#include <string.h>

#include "proto/tcp/tcp_cc_internal.h"

#define TCP_CC_ABC_L 2u        /* RFC 3465: at most L*SMSS per ACK in slow start */
#define TCP_CC_IW_BYTES 14600u /* RFC 6928 */

static const struct {
	const char *name;
	enum tcp_cc_algo algo;
} tcp_cc_names[] = {
	{ "newreno", TCP_CC_NEWRENO },
	{ "reno", TCP_CC_NEWRENO },   /* Linux's name for the same */
	{ "cubic", TCP_CC_CUBIC },
};

int tcp_cc_init(struct tcp_cc *cc, enum tcp_cc_algo algo, uint32_t mss, uint64_t now)
{
	uint32_t iw;

	(void)now;
	if ((unsigned)algo >= TCP_CC_MAX || mss == 0)
		return -EINVAL;
	memset(cc, 0, sizeof(*cc));
	/* RFC 6928: IW = min(10*SMSS, max(2*SMSS, 14600)), as Linux. */
	iw = 2 * mss > TCP_CC_IW_BYTES ? 2 * mss : TCP_CC_IW_BYTES;
	cc->cwnd = 10 * mss < iw ? 10 * mss : iw;
	cc->ssthresh = UINT32_MAX;   /* RFC 5681 3.1: "arbitrarily high" */
	cc->mss = mss;
	cc->algo = (uint8_t)algo;
	if (algo == TCP_CC_CUBIC)
		tcp_cc_cubic_init(cc);
	return 0;
}

int tcp_cc_switch(struct tcp_cc *cc, enum tcp_cc_algo algo, uint64_t now)
{
	(void)now;
	if ((unsigned)algo >= TCP_CC_MAX)
		return -EINVAL;
	if (algo == cc->algo)
		return 0;         /* as Linux: the same algorithm again changes nothing */
	cc->algo = (uint8_t)algo;
	cc->ca_acked = 0;
	cc->cwnd_epoch = 0;
	tcp_cc_cubic_init(cc);   /* clears every CUBIC field; harmless for NewReno */
	return 0;
}

/* x * num / den without overflow, saturated to 32 bits. */
static uint32_t scale32(uint32_t x, uint32_t num, uint32_t den)
{
	uint64_t v = (uint64_t)x * num / den;

	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

void tcp_cc_set_mss(struct tcp_cc *cc, uint32_t mss)
{
	uint32_t old = cc->mss;

	if (mss == 0 || mss == old)
		return;
	cc->cwnd = scale32(cc->cwnd, mss, old);
	if (cc->ssthresh != UINT32_MAX)
		cc->ssthresh = scale32(cc->ssthresh, mss, old);
	cc->w_max = scale32(cc->w_max, mss, old);
	cc->cwnd_epoch = scale32(cc->cwnd_epoch, mss, old);
	cc->cwnd_prior = scale32(cc->cwnd_prior, mss, old);
	cc->w_est_fx = (uint64_t)scale32((uint32_t)(cc->w_est_fx >> 16), mss, old) << 16;
	cc->ca_acked = 0;
	cc->mss = mss;
	if (cc->cwnd < mss)
		cc->cwnd = mss;
}

/* RFC 7661 / Linux tcp_is_cwnd_limited: grow only a window that is used. In
 * slow start, half used is enough (the window doubles each round trip); in
 * congestion avoidance, used to within 3 segments (small writes, Nagle). */
static int cwnd_limited(const struct tcp_cc *cc, uint32_t flight)
{
	if (cc->cwnd < cc->ssthresh)
		return (uint64_t)flight * 2 >= cc->cwnd;
	return (uint64_t)flight + 3ull * cc->mss >= cc->cwnd;
}

/* Congestion avoidance growth for `acked` bytes, by algorithm. */
static void ca_grow(struct tcp_cc *cc, uint32_t acked, uint64_t rtt_ns, uint64_t now)
{
	if (acked == 0)
		return;
	if (cc->algo == TCP_CC_CUBIC)
		tcp_cc_cubic_ca(cc, acked, rtt_ns, now);
	else
		tcp_cc_newreno_ca(cc, acked);
}

void tcp_cc_on_ack(struct tcp_cc *cc, uint32_t acked_bytes, uint32_t flight_bytes,
		   uint64_t rtt_ns, uint64_t now)
{
	if (cc->in_recovery || acked_bytes == 0 || !cwnd_limited(cc, flight_bytes))
		return;
	if (cc->cwnd < cc->ssthresh) {
		/* Slow start, RFC 5681 3.1 with RFC 3465 byte counting: cwnd +=
		 * min(N, L*SMSS). What would overshoot ssthresh is counted as
		 * congestion avoidance instead (as Linux's tcp_slow_start). */
		uint32_t inc = acked_bytes < TCP_CC_ABC_L * cc->mss ?
			       acked_bytes : TCP_CC_ABC_L * cc->mss;
		uint32_t room = cc->ssthresh - cc->cwnd;

		if (inc < room) {
			cc->cwnd += inc;
			return;
		}
		cc->cwnd = cc->ssthresh;
		acked_bytes -= room < acked_bytes ? room : acked_bytes;
	}
	ca_grow(cc, acked_bytes, rtt_ns, now);
}

/* ssthresh after a congestion event, by algorithm (never below 2*SMSS). */
static uint32_t loss_ssthresh(struct tcp_cc *cc, uint32_t flight)
{
	uint32_t ss = cc->algo == TCP_CC_CUBIC ? tcp_cc_cubic_on_loss(cc, flight)
					       : tcp_cc_newreno_ssthresh(cc, flight);

	return ss < 2 * cc->mss ? 2 * cc->mss : ss;
}

void tcp_cc_on_enter_recovery(struct tcp_cc *cc, uint32_t flight_bytes, uint64_t now)
{
	(void)now;
	if (cc->in_recovery)
		return;   /* RFC 6582 3.2 step 2: one reduction per window of loss */
	cc->ssthresh = loss_ssthresh(cc, flight_bytes);
	cc->cwnd = cc->ssthresh;
	cc->ca_acked = 0;
	cc->in_recovery = 1;
}

void tcp_cc_on_dupack(struct tcp_cc *cc)
{
	/* RFC 6582 3.2 step 4: each dup ACK means a segment left the network. */
	if (cc->in_recovery && cc->cwnd <= UINT32_MAX - cc->mss)
		cc->cwnd += cc->mss;
}

void tcp_cc_on_partial_ack(struct tcp_cc *cc, uint32_t acked_bytes)
{
	if (!cc->in_recovery)
		return;
	/* RFC 6582 3.2 step 5: deflate by the amount of new data ACKed, add
	 * back SMSS if that was at least SMSS, so ~ssthresh stays in flight. */
	cc->cwnd = cc->cwnd > acked_bytes ? cc->cwnd - acked_bytes : 0;
	if (acked_bytes >= cc->mss)
		cc->cwnd += cc->mss;
	if (cc->cwnd < cc->mss)
		cc->cwnd = cc->mss;
}

void tcp_cc_on_exit_recovery(struct tcp_cc *cc, uint32_t flight_bytes, uint64_t now)
{
	uint32_t floor = (flight_bytes > cc->mss ? flight_bytes : cc->mss) + cc->mss;

	(void)now;
	if (!cc->in_recovery)
		return;
	/* RFC 6582 3.2 step 6, option 1: no burst of more than one segment. */
	cc->cwnd = cc->ssthresh < floor ? cc->ssthresh : floor;
	cc->in_recovery = 0;
}

void tcp_cc_on_rto(struct tcp_cc *cc, uint32_t flight_bytes, int first, uint64_t now)
{
	(void)now;
	/* RFC 5681 3.1 eq. 4 (RFC 9438 4.8 with beta_cubic): once per episode;
	 * a backed-off retransmission does not cut ssthresh again. */
	if (first)
		cc->ssthresh = loss_ssthresh(cc, flight_bytes);
	if (cc->algo == TCP_CC_CUBIC)
		tcp_cc_cubic_on_rto(cc);
	cc->cwnd = cc->mss;   /* the loss window, RFC 5681 3.1 */
	cc->ca_acked = 0;
	cc->in_recovery = 0;
}

int tcp_cc_by_name(const char *name)
{
	if (name == NULL)
		return -ENOENT;
	for (size_t i = 0; i < sizeof(tcp_cc_names) / sizeof(tcp_cc_names[0]); i++)
		if (strncmp(name, tcp_cc_names[i].name, TCP_CC_NAME_MAX) == 0)
			return (int)tcp_cc_names[i].algo;
	return -ENOENT;
}

const char *tcp_cc_name(enum tcp_cc_algo algo)
{
	switch (algo) {
	case TCP_CC_NEWRENO: return "newreno";
	case TCP_CC_CUBIC: return "cubic";
	default: return "?";
	}
}
