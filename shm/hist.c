/* shm/hist.c — the reading side of latency histograms.
 *
 * Recording is inline in hist.h (it is on every stage of the data path); what
 * is here runs in readers: ctl/ showing live latencies, a daemon's own status
 * line, tests. Nothing here allocates, locks or blocks.
 */
#include "shm/hist.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->magic = HIST_MAGIC;
	h->version = HIST_VERSION;
	/* Relaxed: the histogram is not shared yet; whoever publishes the region
	 * (its header's release store) publishes this too. */
	atomic_store_explicit(&h->min, UINT64_MAX, memory_order_relaxed);
}

/* What a snapshot promises, copied while the writer keeps recording.
 *
 * A lock-free copy of ~1000 counters cannot be an instant picture: a sample
 * recorded during the copy is counted if its bucket is copied after its
 * store, and missed otherwise. A seqlock would make the copy exact, but a copy
 * takes about a microsecond and a busy writer records every few tens of
 * nanoseconds, so the reader would retry forever. Instead "consistent" means:
 *
 *  1. Every bucket value copied is one that bucket really held at some moment
 *     of the copy (single writer, only increments, no torn 64-bit loads).
 *  2. count is the sum of the buckets copied, never read separately, so the
 *     ranks percentiles walk reach exactly count: they agree with the data.
 *  3. min <= every sample counted <= max: the writer updates min and max
 *     before it releases the bucket store, and the reader loads min and max
 *     after its acquire loads of the buckets (see hist_record()). So
 *     clamping a percentile to [min, max] never moves it off the data.
 *  4. A later snapshot by the same reader never has a smaller bucket, hence
 *     never a smaller count (loads of one location are coherent).
 *  5. sum, min and max may also include the few samples recorded during the
 *     copy whose buckets were copied too early to count them; the mean is off
 *     by at most those samples' weight, and hist_mean() clamps it anyway.
 */
int hist_snapshot(const struct hist *h, struct hist_snap *snap)
{
	uint64_t count = 0;

	if (h->magic != HIST_MAGIC || h->version != HIST_VERSION)
		return -EPROTO;
	for (unsigned i = 0; i < HIST_NBUCKETS; i++) {
		/* Acquire: pairs with the release bucket store in hist_record(). */
		snap->bucket[i] = atomic_load_explicit(&h->bucket[i], memory_order_acquire);
		count += snap->bucket[i];
	}
	snap->count = count;
	if (count == 0) {
		snap->min = snap->max = snap->sum = 0;
		return 0;
	}
	/* Relaxed: ordered after the acquire loads above (point 3). */
	snap->min = atomic_load_explicit(&h->min, memory_order_relaxed);
	snap->max = atomic_load_explicit(&h->max, memory_order_relaxed);
	snap->sum = atomic_load_explicit(&h->sum, memory_order_relaxed);
	return 0;
}

void hist_snap_clear(struct hist_snap *snap)
{
	memset(snap, 0, sizeof(*snap));
}

void hist_merge(struct hist_snap *dst, const struct hist_snap *src)
{
	if (src->count == 0)
		return;
	if (dst->count == 0 || src->min < dst->min)
		dst->min = src->min;
	if (dst->count == 0 || src->max > dst->max)
		dst->max = src->max;
	for (unsigned i = 0; i < HIST_NBUCKETS; i++)
		dst->bucket[i] += src->bucket[i];
	dst->count += src->count;
	dst->sum += src->sum;
}

/* Bound the interval's min and max by its lowest and highest non-empty
 * buckets: every sample of the interval lies in those, and within now's
 * [min, max] (hist_snapshot() point 3), so both bounds hold at once. */
static void delta_bounds(struct hist_snap *out, const struct hist_snap *now)
{
	unsigned lo = 0, hi = HIST_NBUCKETS - 1;

	while (out->bucket[lo] == 0)
		lo++;
	while (out->bucket[hi] == 0)
		hi--;
	out->min = hist_bucket_lower(lo) > now->min ? hist_bucket_lower(lo) : now->min;
	out->max = hist_bucket_upper(hi) < now->max ? hist_bucket_upper(hi) : now->max;
}

int hist_delta(struct hist_snap *out, const struct hist_snap *now,
	       const struct hist_snap *before)
{
	hist_snap_clear(out);
	for (unsigned i = 0; i < HIST_NBUCKETS; i++) {
		if (before->bucket[i] > now->bucket[i]) {
			hist_snap_clear(out);
			return -EINVAL;
		}
		out->bucket[i] = now->bucket[i] - before->bucket[i];
		out->count += out->bucket[i];
	}
	if (out->count == 0)
		return 0;
	/* Wraps like the shared sum does, so the difference is still right. */
	out->sum = now->sum - before->sum;
	delta_bounds(out, now);
	return 0;
}

uint64_t hist_count(const struct hist_snap *snap)
{
	return snap->count;
}

double hist_mean(const struct hist_snap *snap)
{
	double mean;

	if (snap->count == 0)
		return 0.0;
	mean = (double)snap->sum / (double)snap->count;
	if (mean < (double)snap->min)
		return (double)snap->min;
	if (mean > (double)snap->max)
		return (double)snap->max;
	return mean;
}

uint64_t hist_bucket_lower(unsigned idx)
{
	unsigned shift;

	if (idx < HIST_SUB_COUNT)
		return idx;
	if (idx >= HIST_OVERFLOW)
		return 1ull << HIST_TOP_BITS;
	shift = idx / HIST_SUB_COUNT - 1;
	return (uint64_t)(idx % HIST_SUB_COUNT + HIST_SUB_COUNT) << shift;
}

uint64_t hist_bucket_upper(unsigned idx)
{
	if (idx < HIST_SUB_COUNT)
		return idx;
	if (idx >= HIST_OVERFLOW)
		return UINT64_MAX;
	return hist_bucket_lower(idx) + (1ull << (idx / HIST_SUB_COUNT - 1)) - 1;
}

static uint64_t clamp(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* The value that stands for bucket i's samples: the middle of the part of the
 * bucket inside [min, max]. Narrowing to [min, max] first matters for the
 * overflow bucket, whose own middle (about 2^63 ns) says nothing; for the
 * others it only sharpens the buckets holding min and max. */
static uint64_t bucket_middle(const struct hist_snap *snap, unsigned i)
{
	uint64_t lo = clamp(hist_bucket_lower(i), snap->min, snap->max);
	uint64_t hi = clamp(hist_bucket_upper(i), snap->min, snap->max);

	return lo + (hi - lo) / 2;
}

uint64_t hist_percentile(const struct hist_snap *snap, double p)
{
	uint64_t rank, seen = 0;
	double x;

	if (snap->count == 0)
		return 0;
	if (!(p > 0.0))                  /* also catches NaN */
		return snap->min;
	if (p >= 100.0)
		return snap->max;
	/* rank = ceil(p% of count), without libm (the TSan build has no -lm).
	 * p * count first: 99.9 * 1e6 rounds to an exact 99900000, while
	 * 99.9 / 100 * 1e6 lands just above 999000 and would round up. */
	x = p * (double)snap->count / 100.0;
	rank = (uint64_t)x;
	rank += (double)rank < x;
	rank = clamp(rank, 1, snap->count);
	for (unsigned i = 0; i < HIST_NBUCKETS; i++) {
		seen += snap->bucket[i];
		if (seen >= rank)
			return bucket_middle(snap, i);
	}
	return snap->max;                /* not reached: count is the buckets' sum */
}

/* snprintf's result as ours: the length, or -ENOSPC when truncated. */
static int fitted(int n, size_t len)
{
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}

int hist_format_ns(uint64_t ns, char *buf, size_t len)
{
	static const char *const unit[] = { "us", "ms", "s" };
	unsigned u = 0;
	double v;

	if (ns < 1000)
		return fitted(snprintf(buf, len, "%" PRIu64 "ns", ns), len);
	/* Move up a unit when three significant digits would print "1000". */
	v = (double)ns / 1e3;
	while (u < 2 && v >= 999.5) {
		v /= 1e3;
		u++;
	}
	return fitted(snprintf(buf, len, "%.*f%s",
			       v < 9.995 ? 2 : v < 99.95 ? 1 : 0, v, unit[u]), len);
}

int hist_format(const struct hist_snap *snap, char *buf, size_t len)
{
	static const struct { const char *key; double p; } col[] = {
		{ "p50", 50.0 }, { "p90", 90.0 }, { "p99", 99.0 },
		{ "p99.9", 99.9 }, { "max", 100.0 },
	};
	char val[32];
	size_t off;
	int n;

	n = fitted(snprintf(buf, len, "n=%" PRIu64, snap->count), len);
	if (n < 0 || snap->count == 0)
		return n;
	off = (size_t)n;
	for (size_t i = 0; i < sizeof(col) / sizeof(col[0]); i++) {
		hist_format_ns(hist_percentile(snap, col[i].p), val, sizeof(val));
		n = fitted(snprintf(buf + off, len - off, " %s=%s", col[i].key, val),
			   len - off);
		if (n < 0)
			return n;
		off += (size_t)n;
	}
	return (int)off;
}
