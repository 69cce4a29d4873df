/* shm/hist.h — latency histograms that live in shared memory.
 *
 * Every daemon records per-stage latencies (the difference of two pkb
 * timestamps, or of an app command's) into a struct hist placed in its stats
 * region; ctl/ maps that region read-only in another process and reads the
 * histograms live, without disturbing the data path.
 *
 * Buckets are log-linear, as in HdrHistogram: values below 64 ns each have a
 * bucket of their own; above that, every power-of-two range [2^k, 2^(k+1)) is
 * split into HIST_SUB_COUNT (32) equal sub-buckets. A bucket is therefore at
 * most 1/32 = 3.125% as wide as its lower bound, and its midpoint is within
 * 1.6% of any value in it. Tracked values run to 2^34 ns (17.2 s); anything
 * larger falls in one overflow bucket (HIST_OVERFLOW).
 *
 *   value (ns)      0 .. 63        64 .. 127     128 .. 255  ...  2^33 .. 2^34-1
 *   buckets         0 .. 63        64 .. 95      96 .. 127   ...  928 .. 959
 *   bucket width    1              2             4                2^28
 *
 * One writer, any number of readers: the owning thread records with plain
 * (relaxed) loads and stores and no lock; readers copy the histogram into a
 * process-local struct hist_snap and compute everything from the copy. What a
 * snapshot promises is spelled out above hist_snapshot() in hist.c.
 */
#ifndef RINGSTACK_SHM_HIST_H
#define RINGSTACK_SHM_HIST_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define HIST_MAGIC      0x48495354u  /* "HIST" */
#define HIST_VERSION    1u           /* bump when the bucket geometry changes */

#define HIST_SUB_BITS   5u
#define HIST_SUB_COUNT  (1u << HIST_SUB_BITS)            /* 32 sub-buckets per 2^k */
#define HIST_TOP_BITS   34u                              /* tracked: v < 2^34 ns */
#define HIST_OVERFLOW   ((HIST_TOP_BITS - HIST_SUB_BITS + 1u) * HIST_SUB_COUNT) /* 960 */
#define HIST_NBUCKETS   (HIST_OVERFLOW + 1u)                                    /* 961 */
#define HIST_SIZE       7808u        /* sizeof(struct hist): 122 cache lines */

/* The shared layout. Fixed-width fields and no pointers, so that it can sit in
 * a region every process maps at its own address. The first cache line holds
 * what hist_record() touches besides its bucket. */
struct hist {
	uint32_t magic;                  /* HIST_MAGIC, written by hist_init() */
	uint32_t version;                /* HIST_VERSION */
	_Atomic uint64_t min;            /* UINT64_MAX until the first sample */
	_Atomic uint64_t max;
	_Atomic uint64_t sum;            /* of all samples, wraps modulo 2^64 */
	uint64_t reserved[4];
	_Atomic uint64_t bucket[HIST_NBUCKETS];
	uint64_t pad[7];                 /* to a whole number of cache lines */
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct hist) == HIST_SIZE, "struct hist layout changed");
_Static_assert(_Alignof(struct hist) == 64, "struct hist must be cache-line aligned");
_Static_assert(offsetof(struct hist, bucket) == 64, "buckets start the second cache line");
_Static_assert(sizeof(_Atomic uint64_t) == 8, "atomic counters must be plain 8-byte words");

/* A reader's private copy: plain memory, safe to keep, merge and compare. */
struct hist_snap {
	uint64_t count;                  /* sum of bucket[], as copied */
	uint64_t min;                    /* 0 when count == 0 */
	uint64_t max;
	uint64_t sum;
	uint64_t bucket[HIST_NBUCKETS];
};

/* Bucket of a value: the index of the log-linear bucket holding ns, or
 * HIST_OVERFLOW for ns >= 2^34. Branch-free: OR-ing in HIST_SUB_COUNT makes
 * every value below 64 land in the first range with shift 0 (and keeps clz
 * away from 0, where it is undefined). */
static inline unsigned hist_bucket_index(uint64_t ns)
{
	unsigned k = 63u - (unsigned)__builtin_clzll(ns | HIST_SUB_COUNT);
	unsigned shift = k - HIST_SUB_BITS;
	uint64_t idx = (uint64_t)shift * HIST_SUB_COUNT + (ns >> shift);

	return idx < HIST_OVERFLOW ? (unsigned)idx : HIST_OVERFLOW;
}

/* Record one sample of ns nanoseconds. Only the histogram's one writer may
 * call this; no lock, no read-modify-write instruction, never fails.
 *
 * Why plain load + store is enough: nobody else ever stores to these words,
 * so a load followed by a store cannot lose an update. The accesses are
 * atomic (relaxed) only so that a reader in another process never sees a
 * torn 64-bit value and the program has no data race. */
static inline void hist_record(struct hist *h, uint64_t ns)
{
	_Atomic uint64_t *b = &h->bucket[hist_bucket_index(ns)];

	if (ns < atomic_load_explicit(&h->min, memory_order_relaxed))
		atomic_store_explicit(&h->min, ns, memory_order_relaxed);
	if (ns > atomic_load_explicit(&h->max, memory_order_relaxed))
		atomic_store_explicit(&h->max, ns, memory_order_relaxed);
	atomic_store_explicit(&h->sum,
			      atomic_load_explicit(&h->sum, memory_order_relaxed) + ns,
			      memory_order_relaxed);
	/* Release: pairs with the acquire bucket loads in hist_snapshot(), so a
	 * reader that counts this sample also sees min, max and sum updated for
	 * it. Free on x86 (a plain mov); it only stops the compiler reordering. */
	atomic_store_explicit(b, atomic_load_explicit(b, memory_order_relaxed) + 1,
			      memory_order_release);
}

/* Format h as an empty histogram (call before the region is shared). */
void hist_init(struct hist *h);

/* Copy h into the caller's snap (any process, any time, while the writer
 * records). Returns 0, or -EPROTO if h's magic or version is not ours. */
int hist_snapshot(const struct hist *h, struct hist_snap *snap);

/* An empty snapshot, the identity for hist_merge(). */
void hist_snap_clear(struct hist_snap *snap);

/* Add src's samples into dst (e.g. the same stage across several engines). */
void hist_merge(struct hist_snap *dst, const struct hist_snap *src);

/* The samples recorded between two snapshots of one histogram (before taken
 * first). min and max of the interval are not known exactly: they are taken
 * as the bounds of its lowest and highest non-empty buckets, clamped to now's.
 * Returns 0, or -EINVAL if before has a bucket above now's (not the same
 * histogram, or reset in between); out is then empty. */
int hist_delta(struct hist_snap *out, const struct hist_snap *now,
	       const struct hist_snap *before);

/* Number of samples; mean of them (0 if none), clamped to [min, max]. */
uint64_t hist_count(const struct hist_snap *snap);
double hist_mean(const struct hist_snap *snap);

/* The value at percentile p (0..100, e.g. 99.9): the midpoint of the bucket
 * holding the ceil(p% * count)-th smallest sample, that bucket first narrowed
 * to [min, max] (so the answer lies in both, and the overflow bucket gives a
 * value between 2^34 and max); p <= 0 gives min, p >= 100 gives max, an
 * empty snapshot gives 0. */
uint64_t hist_percentile(const struct hist_snap *snap, double p);

/* Smallest and largest value (inclusive) bucket idx holds; idx must be below
 * HIST_NBUCKETS. The overflow bucket holds [2^34, UINT64_MAX]. */
uint64_t hist_bucket_lower(unsigned idx);
uint64_t hist_bucket_upper(unsigned idx);

/* Write ns with a human unit and three significant digits ("812ns",
 * "4.20us", "17.3ms", "2.00s") into buf. Returns the length written, or
 * -ENOSPC if it did not fit (buf then holds a truncated, terminated string). */
int hist_format_ns(uint64_t ns, char *buf, size_t len);

/* One-line summary "n=1000 p50=4.20us p90=8.10us p99=12.0us p99.9=15.1us
 * max=16.0us" into buf; "n=0" when empty. No allocation. Returns the length
 * written, or -ENOSPC if it did not fit (buf then holds a truncated,
 * terminated string). */
int hist_format(const struct hist_snap *snap, char *buf, size_t len);

#endif /* RINGSTACK_SHM_HIST_H */
