/* tests/unit/test_hist.c — latency histograms (shm/hist.h).
 *
 * Bucket geometry and precision, percentiles of known distributions, merge,
 * interval deltas, overflow, zero, formatting, and a reader in one process
 * snapshotting while a writer in another records into shared memory.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "shm/hist.h"

/* ------------------------------------------------------------- fixtures */

struct fix {
	struct hist h;
	struct hist_snap s;
};

static int setup(void **state)
{
	struct fix *f = aligned_alloc(64, sizeof(*f));

	if (!f)
		return -1;
	hist_init(&f->h);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

/* xorshift64*: a seeded, repeatable stream of values. */
static uint64_t rnd(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545f4914f6cdd1dull;
}

/* Log-uniform-ish in [lo, hi]: a random power of two, then random low bits. */
static uint64_t rnd_latency(uint64_t *x, uint64_t lo, uint64_t hi)
{
	unsigned k = (unsigned)(rnd(x) % 35);
	uint64_t v = (1ull << k) | (rnd(x) & ((1ull << k) - 1));

	return v < lo ? lo : v > hi ? hi : v;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void assert_near(uint64_t got, uint64_t want, double rel)
{
	double err = ((double)got - (double)want) / (double)want;

	if (err < -rel || err > rel)
		fail_msg("got %llu, want %llu within %.1f%%", (unsigned long long)got,
			 (unsigned long long)want, rel * 100);
}

/* -------------------------------------------------------- bucket geometry */

static void test_hist_buckets_tile_range(void **state)
{
	(void)state;
	assert_int_equal(hist_bucket_lower(0), 0);
	assert_int_equal(hist_bucket_upper(HIST_OVERFLOW), UINT64_MAX);
	assert_int_equal(hist_bucket_lower(HIST_OVERFLOW), 1ull << HIST_TOP_BITS);
	for (unsigned i = 0; i < HIST_NBUCKETS; i++) {
		assert_int_equal(hist_bucket_index(hist_bucket_lower(i)), i);
		assert_int_equal(hist_bucket_index(hist_bucket_upper(i)), i);
		if (i + 1 < HIST_NBUCKETS)
			assert_int_equal(hist_bucket_lower(i + 1), hist_bucket_upper(i) + 1);
	}
	for (uint64_t v = 0; v < 64; v++) {       /* small values are exact */
		assert_int_equal(hist_bucket_index(v), v);
		assert_int_equal(hist_bucket_upper((unsigned)v), v);
	}
}

static void test_hist_bucket_holds_value(void **state)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	(void)state;
	for (int n = 0; n < 1000000; n++) {
		uint64_t v = rnd_latency(&x, 10, 10000000000ull);
		unsigned i = hist_bucket_index(v);
		uint64_t lo = hist_bucket_lower(i), hi = hist_bucket_upper(i);
		double width = (double)(hi - lo + 1) / (double)lo;

		assert_true(i < HIST_OVERFLOW);
		assert_true(lo <= v && v <= hi);
		if (hi > lo && width > 1.0 / 32 + 1e-12)     /* else exact */
			fail_msg("bucket %u [%llu,%llu] is %.3f%% wide", i,
				 (unsigned long long)lo, (unsigned long long)hi, width * 100);
	}
}

/* ------------------------------------------------------------ percentiles */

static void test_hist_uniform_percentiles(void **state)
{
	struct fix *f = *state;

	for (uint64_t v = 1; v <= 1000000; v++)
		hist_record(&f->h, v);
	assert_int_equal(hist_snapshot(&f->h, &f->s), 0);
	assert_int_equal(hist_count(&f->s), 1000000);
	assert_int_equal(f->s.min, 1);
	assert_int_equal(f->s.max, 1000000);
	assert_true(hist_mean(&f->s) == 500000.5);
	assert_near(hist_percentile(&f->s, 50), 500000, 0.03);
	assert_near(hist_percentile(&f->s, 90), 900000, 0.03);
	assert_near(hist_percentile(&f->s, 99), 990000, 0.03);
	assert_near(hist_percentile(&f->s, 99.9), 999000, 0.03);
	assert_int_equal(hist_percentile(&f->s, 0), 1);
	assert_int_equal(hist_percentile(&f->s, 100), 1000000);
}

/* 90% fast, 10% slow: p90 is still fast (rank 900000 of 1000000), p90.01 and
 * p99 are slow. */
static void test_hist_bimodal_percentiles(void **state)
{
	struct fix *f = *state;

	for (int i = 0; i < 1000000; i++)
		hist_record(&f->h, i % 10 == 9 ? 5000000 : 2000);
	assert_int_equal(hist_snapshot(&f->h, &f->s), 0);
	assert_near(hist_percentile(&f->s, 50), 2000, 0.016);
	assert_near(hist_percentile(&f->s, 90), 2000, 0.016);
	assert_near(hist_percentile(&f->s, 90.01), 5000000, 0.016);
	assert_near(hist_percentile(&f->s, 99.9), 5000000, 0.016);
}

static void test_hist_constant_exact(void **state)
{
	struct fix *f = *state;

	for (int i = 0; i < 1000; i++)
		hist_record(&f->h, 12345);
	assert_int_equal(hist_snapshot(&f->h, &f->s), 0);
	assert_int_equal(hist_percentile(&f->s, 50), 12345);
	assert_int_equal(hist_percentile(&f->s, 99.9), 12345);
	assert_true(hist_mean(&f->s) == 12345.0);
}

/* ------------------------------------------------ min, max, zero, overflow */

static void test_hist_min_max_mean(void **state)
{
	struct fix *f = *state;
	uint64_t p50;

	hist_record(&f->h, 200);
	hist_record(&f->h, 600);
	hist_record(&f->h, 100);
	assert_int_equal(hist_snapshot(&f->h, &f->s), 0);
	assert_int_equal(f->s.min, 100);
	assert_int_equal(f->s.max, 600);
	assert_int_equal(f->s.sum, 900);
	assert_true(hist_mean(&f->s) == 300.0);
	p50 = hist_percentile(&f->s, 50);
	assert_int_equal(hist_bucket_index(p50), hist_bucket_index(200));
}

static void test_hist_zero_recorded(void **state)
{
	struct fix *f = *state;
	char buf[128];

	for (int i = 0; i < 3; i++)
		hist_record(&f->h, 0);
	assert_int_equal(hist_snapshot(&f->h, &f->s), 0);
	assert_int_equal(f->s.bucket[0], 3);
	assert_int_equal(hist_count(&f->s), 3);
	assert_int_equal(f->s.min, 0);
	assert_int_equal(f->s.max, 0);
	assert_int_equal(hist_percentile(&f->s, 50), 0);
	assert_true(hist_mean(&f->s) == 0.0);
	assert_int_equal(hist_format(&f->s, buf, sizeof(buf)), 45);
	assert_string_equal(buf, "n=3 p50=0ns p90=0ns p99=0ns p99.9=0ns max=0ns");
}

static void test_hist_empty_snapshot(void **state)
{
	struct fix *f = *state;
	char buf[64];

	assert_int_equal(hist_snapshot(&f->h, &f->s), 0);
	assert_int_equal(hist_count(&f->s), 0);
	assert_int_equal(f->s.min, 0);
	assert_int_equal(f->s.max, 0);
	assert_int_equal(hist_percentile(&f->s, 50), 0);
	assert_true(hist_mean(&f->s) == 0.0);
	assert_int_equal(hist_format(&f->s, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "n=0");
}

static void test_hist_overflow_counted(void **state)
{
	struct fix *f = *state;
	uint64_t p75;

	hist_record(&f->h, 1);
	hist_record(&f->h, 1ull << HIST_TOP_BITS);       /* first value over the top */
	hist_record(&f->h, 20000000000ull);
	hist_record(&f->h, 30000000000ull);
	assert_int_equal(hist_bucket_index((1ull << HIST_TOP_BITS) - 1), HIST_OVERFLOW - 1);
	assert_int_equal(hist_bucket_index(UINT64_MAX), HIST_OVERFLOW);
	assert_int_equal(hist_snapshot(&f->h, &f->s), 0);
	assert_int_equal(f->s.bucket[HIST_OVERFLOW], 3);
	assert_int_equal(hist_count(&f->s), 4);
	assert_int_equal(f->s.max, 30000000000ull);
	assert_int_equal(hist_percentile(&f->s, 100), 30000000000ull);
	p75 = hist_percentile(&f->s, 75);        /* in the overflow bucket */
	assert_true(p75 >= 1ull << HIST_TOP_BITS && p75 <= 30000000000ull);
	assert_int_equal(hist_percentile(&f->s, 25), 1);
}

/* ------------------------------------------------------- merge and delta */

static void test_hist_merge_equals_one_histogram(void **state)
{
	struct fix *f = *state;
	struct fix *g = aligned_alloc(64, sizeof(*g)), *all = aligned_alloc(64, sizeof(*all));
	struct hist_snap *m = malloc(sizeof(*m));
	uint64_t x = 42;

	assert_non_null(g);
	assert_non_null(all);
	assert_non_null(m);
	hist_init(&g->h);
	hist_init(&all->h);
	for (int i = 0; i < 100000; i++) {
		uint64_t v = rnd_latency(&x, 10, 100000000);

		hist_record(i % 3 ? &f->h : &g->h, v);
		hist_record(&all->h, v);
	}
	assert_int_equal(hist_snapshot(&f->h, &f->s), 0);
	assert_int_equal(hist_snapshot(&g->h, &g->s), 0);
	assert_int_equal(hist_snapshot(&all->h, &all->s), 0);
	hist_snap_clear(m);
	hist_merge(m, &f->s);
	hist_merge(m, &g->s);
	assert_memory_equal(m, &all->s, sizeof(*m));
	free(m);
	free(g);
	free(all);
}

static void test_hist_delta_interval(void **state)
{
	struct fix *f = *state;
	struct hist_snap *before = malloc(sizeof(*before)), *d = malloc(sizeof(*d));

	assert_non_null(before);
	assert_non_null(d);
	for (int i = 0; i < 100; i++)
		hist_record(&f->h, 50);
	assert_int_equal(hist_snapshot(&f->h, before), 0);
	for (int i = 0; i < 10; i++)
		hist_record(&f->h, 5000 + i);
	assert_int_equal(hist_snapshot(&f->h, &f->s), 0);
	assert_int_equal(hist_delta(d, &f->s, before), 0);
	assert_int_equal(hist_count(d), 10);
	assert_int_equal(d->sum, 50045);
	assert_true(d->min <= 5000 && d->min >= hist_bucket_lower(hist_bucket_index(5000)));
	assert_int_equal(d->max, 5009);               /* clamped by now's max */
	assert_int_equal(hist_percentile(d, 50) / 100, 50);
	/* Swapped arguments: a bucket went down, so not an interval. */
	assert_int_equal(hist_delta(d, before, &f->s), -EINVAL);
	assert_int_equal(hist_count(d), 0);
	free(before);
	free(d);
}

/* ------------------------------------------------------------- formatting */

static void test_hist_format_ns_units(void **state)
{
	static const struct { uint64_t ns; const char *want; } t[] = {
		{ 0, "0ns" }, { 999, "999ns" }, { 1000, "1.00us" }, { 1234, "1.23us" },
		{ 12345, "12.3us" }, { 123456, "123us" }, { 999499, "999us" },
		{ 999500, "1.00ms" }, { 1500000, "1.50ms" }, { 2000000000, "2.00s" },
		{ 20000000000ull, "20.0s" }, { 1234000000000ull, "1234s" },
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(hist_format_ns(t[i].ns, buf, sizeof(buf)), strlen(t[i].want));
		assert_string_equal(buf, t[i].want);
	}
	assert_int_equal(hist_format_ns(1234, buf, 4), -ENOSPC);
	assert_string_equal(buf, "1.2");
}

static void test_hist_format_summary(void **state)
{
	struct fix *f = *state;
	char buf[128], small[16];

	for (int i = 0; i < 999; i++)
		hist_record(&f->h, 1000);
	hist_record(&f->h, 3000000);
	assert_int_equal(hist_snapshot(&f->h, &f->s), 0);
	assert_true(hist_format(&f->s, buf, sizeof(buf)) > 0);
	assert_string_equal(buf,
		"n=1000 p50=1.00us p90=1.00us p99=1.00us p99.9=1.00us max=3.00ms");
	assert_int_equal(hist_format(&f->s, small, sizeof(small)), -ENOSPC);
	assert_int_equal(strlen(small), sizeof(small) - 1);
}

static void test_hist_snapshot_bad_magic(void **state)
{
	struct fix *f = *state;

	f->h.magic ^= 1;
	assert_int_equal(hist_snapshot(&f->h, &f->s), -EPROTO);
	f->h.magic ^= 1;
	f->h.version++;
	assert_int_equal(hist_snapshot(&f->h, &f->s), -EPROTO);
}

/* ------------------------------------------------ reader while writing */

/* Shared between the writer (child) and the reader (parent). */
struct live {
	struct hist h;
	_Atomic int stop;            /* reader -> writer: enough, finish */
	uint64_t n, min, max;        /* writer's own account, valid after exit */
};

/* Child: record log-uniform values until told to stop (bounded anyway). */
static void live_writer(struct live *l)
{
	uint64_t x = 7, n = 0, min = UINT64_MAX, max = 0, t0 = now_ns();

	while (n < 200000000 && !atomic_load_explicit(&l->stop, memory_order_relaxed)) {
		for (int i = 0; i < 1024; i++, n++) {
			uint64_t v = rnd_latency(&x, 10, 100000000);

			min = v < min ? v : min;
			max = v > max ? v : max;
			hist_record(&l->h, v);
		}
		if (now_ns() - t0 > 10000000000ull)
			break;
	}
	l->n = n;
	l->min = min;
	l->max = max;
	_exit(0);
}

/* One reader-side check of a live snapshot against the previous one. */
static void live_check(const struct hist_snap *s, const struct hist_snap *prev,
		       struct hist_snap *d)
{
	static const double p[] = { 0, 1, 50, 90, 99, 99.9, 100 };
	unsigned lo = 0, hi = HIST_NBUCKETS - 1;

	assert_true(s->count >= prev->count);
	assert_int_equal(hist_delta(d, s, prev), 0);      /* no bucket went down */
	if (s->count == 0)
		return;
	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
		uint64_t v = hist_percentile(s, p[i]);

		assert_true(s->min <= v && v <= s->max);
	}
	while (s->bucket[lo] == 0)
		lo++;
	while (s->bucket[hi] == 0)
		hi--;
	/* min and max cover every counted sample (hist_snapshot point 3). */
	assert_true(s->min <= hist_bucket_upper(lo));
	assert_true(s->max >= hist_bucket_lower(hi));
}

static void test_hist_snapshot_while_recording(void **state)
{
	struct live *l = mmap(NULL, sizeof(*l), PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct hist_snap *s = calloc(3, sizeof(*s));
	uint64_t t0 = now_ns(), changes = 0;
	int snaps = 0, status;
	pid_t pid;

	(void)state;
	assert_true(l != MAP_FAILED);
	assert_non_null(s);
	hist_init(&l->h);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		live_writer(l);
	/* Read until enough snapshots saw the count move (bounded: 10 s). On a
	 * loaded 2-core machine the writer may get little CPU, so the bar is
	 * "the reader saw recording in progress", not a rate. */
	while ((snaps < 20000 || changes < 1000) && now_ns() - t0 < 10000000000ull) {
		assert_int_equal(hist_snapshot(&l->h, &s[0]), 0);
		live_check(&s[0], &s[1], &s[2]);
		changes += s[0].count != s[1].count;
		memcpy(&s[1], &s[0], sizeof(s[0]));
		snaps++;
	}
	atomic_store_explicit(&l->stop, 1, memory_order_relaxed);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(changes >= 20);
	/* Writer gone: the final snapshot is exact. */
	assert_int_equal(hist_snapshot(&l->h, &s[0]), 0);
	assert_int_equal(s[0].count, l->n);
	assert_int_equal(s[0].min, l->min);
	assert_int_equal(s[0].max, l->max);
	free(s);
	munmap(l, sizeof(*l));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_buckets_tile_range),
		cmocka_unit_test(test_hist_bucket_holds_value),
		cmocka_unit_test_setup_teardown(test_hist_uniform_percentiles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hist_bimodal_percentiles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hist_constant_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hist_min_max_mean, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hist_zero_recorded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hist_empty_snapshot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hist_overflow_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hist_merge_equals_one_histogram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hist_delta_interval, setup, teardown),
		cmocka_unit_test(test_hist_format_ns_units),
		cmocka_unit_test_setup_teardown(test_hist_format_summary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hist_snapshot_bad_magic, setup, teardown),
		cmocka_unit_test(test_hist_snapshot_while_recording),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
