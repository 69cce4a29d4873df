/* proto/tcp/tcp_cc_cubic.c — CUBIC's window arithmetic (RFC 9438).
 *
 * Congestion avoidance follows the cubic
 *
 *      W_cubic(t) = C * (t - K)^3 + W_max           (RFC 9438 eq. 1)
 *      K = cbrt((W_max - cwnd_epoch) / C)           (eq. 2)
 *
 * in segments and seconds, t the time since the epoch (the start of this
 * congestion-avoidance stage) taken from `now`. Each ACK moves cwnd towards
 * target = W_cubic(t + RTT), clamped to [cwnd, 1.5 cwnd] (4.2), unless the
 * Reno-friendly estimate W_est is ahead (4.3). A loss sets W_max (with fast
 * convergence, 4.7) and ssthresh = beta * flight (4.6).
 *
 * State is kept in bytes and ns (the TCB's fixed-width fields); the curve is
 * evaluated in double precision (no libm: a few Newton steps give the cube
 * root). Growth below one byte per ACK accumulates in ca_frac.
 */
#include "proto/tcp/tcp_cc_internal.h"

#define CUBIC_C     0.4                                /* segments / s^3 */
#define CUBIC_BETA  0.7                                /* beta_cubic */
#define CUBIC_ALPHA (3.0 * (1.0 - CUBIC_BETA) / (1.0 + CUBIC_BETA))  /* 4.3 */
#define FX_ONE      65536.0                            /* w_est_fx, ca_frac units */
#define NS_PER_S    1e9

/* Cube root of x >= 0: start at a power of two above the root, then Newton,
 * which from above falls monotonically onto it. */
static double cubic_cbrt(double x)
{
	double y = 1.0;

	if (x <= 0.0)
		return 0.0;
	for (int i = 0; i < 64 && y * y * y < x; i++)
		y *= 2.0;
	for (int i = 0; i < 64; i++) {
		double next = y - (y * y * y - x) / (3.0 * y * y);

		if (next >= y)
			break;
		y = next;
	}
	return y;
}

void tcp_cc_cubic_init(struct tcp_cc *cc)
{
	cc->epoch_start = 0;
	cc->k_ns = 0;
	cc->w_max = 0;          /* none yet: the first epoch takes K = 0 */
	cc->cwnd_prior = 0;
	cc->w_est_fx = 0;
	cc->ca_frac = 0;
}

/* A new congestion-avoidance stage begins (RFC 9438 4.2, 4.3, 4.8). */
static void cubic_epoch_start(struct tcp_cc *cc, uint64_t now)
{
	double mss = cc->mss, excess;

	cc->epoch_start = now ? now : 1;   /* 0 means "no epoch" */
	cc->cwnd_epoch = cc->cwnd;
	cc->w_est_fx = (uint64_t)cc->cwnd << 16;
	cc->ca_frac = 0;
	if (cc->w_max == 0)                /* after a timeout, or no loss yet */
		cc->w_max = cc->cwnd;
	excess = cc->w_max > cc->cwnd ? (cc->w_max - cc->cwnd) / mss : 0.0;
	cc->k_ns = (uint64_t)(cubic_cbrt(excess / CUBIC_C) * NS_PER_S);
}

/* W_cubic at `t_ns` after the epoch start, in bytes. */
static double cubic_w(const struct tcp_cc *cc, uint64_t t_ns)
{
	double t = ((double)t_ns - (double)cc->k_ns) / NS_PER_S;

	return (CUBIC_C * t * t * t) * cc->mss + cc->w_max;
}

/* 4.3: W_est += alpha * segments_acked / cwnd (alpha 1 once past cwnd_prior). */
static double cubic_reno_estimate(struct tcp_cc *cc, uint32_t acked)
{
	double w_est = cc->w_est_fx / FX_ONE;
	double alpha = w_est >= cc->cwnd_prior ? 1.0 : CUBIC_ALPHA;

	w_est += alpha * acked * (double)cc->mss / cc->cwnd;
	cc->w_est_fx = (uint64_t)(w_est * FX_ONE);
	return w_est;
}

/* Add `delta` bytes (fractional) to cwnd, carrying what is below a byte. */
static void cubic_add(struct tcp_cc *cc, double delta)
{
	double total = delta + cc->ca_frac / FX_ONE;
	uint64_t whole = (uint64_t)total;

	cc->ca_frac = (uint32_t)((total - (double)whole) * FX_ONE);
	if (cc->cwnd + whole > UINT32_MAX)
		whole = UINT32_MAX - cc->cwnd;
	cc->cwnd += (uint32_t)whole;
}

void tcp_cc_cubic_ca(struct tcp_cc *cc, uint32_t acked, uint64_t rtt_ns, uint64_t now)
{
	uint64_t t;
	double w_est, target, cwnd = cc->cwnd;

	if (cc->epoch_start == 0)
		cubic_epoch_start(cc, now);
	t = now > cc->epoch_start ? now - cc->epoch_start : 0;
	w_est = cubic_reno_estimate(cc, acked);
	if (cubic_w(cc, t) < w_est) {      /* Reno-friendly region (4.3) */
		if (w_est > cwnd)
			cubic_add(cc, w_est - cwnd);
		return;
	}
	/* Concave and convex regions (4.4, 4.5): per SMSS ACKed,
	 * cwnd += (target - cwnd) / cwnd segments. */
	target = cubic_w(cc, t + rtt_ns);
	if (target < cwnd)
		target = cwnd;
	if (target > 1.5 * cwnd)
		target = 1.5 * cwnd;
	cubic_add(cc, (target - cwnd) * acked / cwnd);
}

uint32_t tcp_cc_cubic_on_loss(struct tcp_cc *cc, uint32_t flight)
{
	/* 4.7 fast convergence: a window that peaked below the last W_max
	 * means another flow is taking its share: release some more. */
	if (cc->w_max != 0 && cc->cwnd < cc->w_max)
		cc->w_max = (uint32_t)((uint64_t)cc->cwnd * 17 / 20);   /* (1 + 0.7) / 2 */
	else
		cc->w_max = cc->cwnd;
	cc->cwnd_prior = cc->cwnd;
	cc->epoch_start = 0;
	/* 4.6: ssthresh = flight_size * beta_cubic (flight, not cwnd, so a
	 * sender that was not using its window is not rewarded for it). */
	return (uint32_t)((uint64_t)flight * 7 / 10);           /* beta_cubic, exact */
}

void tcp_cc_cubic_on_rto(struct tcp_cc *cc)
{
	/* 4.8: the first stage after a timeout takes K = 0 and W_max = cwnd at
	 * its start (w_max 0 tells cubic_epoch_start so). */
	cc->w_max = 0;
	cc->epoch_start = 0;
}
