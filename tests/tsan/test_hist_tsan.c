/* tests/tsan/test_hist_tsan.c — ThreadSanitizer run of a histogram's one writer
 * against a reader snapshotting it, and of multi-writer counters.
 *
 * TSan reports any access pair that the atomics of hist_record() and
 * hist_snapshot() fail to cover; the asserts check that every snapshot is
 * self-consistent while the writer runs. Bounded by count and by time.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "shm/counters.h"
#include "shm/hist.h"

#define WRITES      2000000        /* TSan slows each record down ~10x */
#define MAX_SECONDS 10

struct shared {
	struct hist h;
	_Atomic int done;              /* writer -> reader: finished */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *writer(void *arg)
{
	struct shared *s = arg;
	uint64_t x = 88172645463325252ull, t0 = now_ns();

	for (int i = 0; i < WRITES; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		hist_record(&s->h, x >> (30 + x % 30));   /* 0 .. 2^34, log-spread */
		if (i % 65536 == 0 && now_ns() - t0 > MAX_SECONDS * 1000000000ull)
			break;
	}
	/* Release: pairs with the reader's acquire load of done. */
	atomic_store_explicit(&s->done, 1, memory_order_release);
	return NULL;
}

static void test_hist_tsan_reader_while_writing(void **state)
{
	struct shared *s = aligned_alloc(64, sizeof(*s));
	struct hist_snap *snap = malloc(sizeof(*snap));
	uint64_t prev = 0, t0 = now_ns();
	pthread_t t;
	int reads = 0;

	(void)state;
	assert_non_null(s);
	assert_non_null(snap);
	hist_init(&s->h);
	atomic_init(&s->done, 0);
	assert_int_equal(pthread_create(&t, NULL, writer, s), 0);
	while (!atomic_load_explicit(&s->done, memory_order_acquire) &&
	       now_ns() - t0 < (MAX_SECONDS + 5) * 1000000000ull) {
		assert_int_equal(hist_snapshot(&s->h, snap), 0);
		assert_true(snap->count >= prev);
		if (snap->count) {
			uint64_t p99 = hist_percentile(snap, 99);

			assert_true(snap->min <= p99 && p99 <= snap->max);
		}
		prev = snap->count;
		reads++;
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(hist_snapshot(&s->h, snap), 0);
	assert_true(snap->count >= prev && snap->count > 0);
	assert_true(reads > 0);
	free(snap);
	free(s);
}

#define TSAN_CNT(X) X(SHARED, "bumped by two threads") X(OWNED, "bumped by one")
#define TSAN_CNT_ID(name, text) TSAN_CNT_##name,
enum tsan_cnt { TSAN_CNT(TSAN_CNT_ID) TSAN_CNT_NR };
COUNTERS_DECLARE(tsan_cnt_set, TSAN_CNT, TSAN_CNT_NR);

#define BUMPS 100000

/* Thread 0 also owns OWNED (single-writer bumps); both share SHARED. */
struct bumper_arg {
	struct tsan_cnt_set *set;
	int owner;
};

static void *bumper(void *arg)
{
	struct bumper_arg *a = arg;

	for (int i = 0; i < BUMPS; i++) {
		COUNTER_INC_MP(a->set, TSAN_CNT_SHARED);
		if (a->owner)
			COUNTER_INC(a->set, TSAN_CNT_OWNED);
	}
	return NULL;
}

static void test_counters_tsan_writers_and_reader(void **state)
{
	struct tsan_cnt_set *set = aligned_alloc(64, sizeof(*set));
	struct bumper_arg arg[2];
	uint64_t v[TSAN_CNT_NR], prev = 0;
	pthread_t t[2];

	(void)state;
	assert_non_null(set);
	tsan_cnt_set_init(set);
	for (int i = 0; i < 2; i++) {
		arg[i] = (struct bumper_arg){ .set = set, .owner = i == 0 };
		assert_int_equal(pthread_create(&t[i], NULL, bumper, &arg[i]), 0);
	}
	for (int i = 0; i < 1000; i++) {        /* a reader racing the writers */
		tsan_cnt_set_snapshot(set, v);
		assert_true(v[TSAN_CNT_OWNED] >= prev);
		prev = v[TSAN_CNT_OWNED];
	}
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	tsan_cnt_set_snapshot(set, v);
	assert_int_equal(v[TSAN_CNT_SHARED], 2 * BUMPS);
	assert_int_equal(v[TSAN_CNT_OWNED], BUMPS);
	free(set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_tsan_reader_while_writing),
		cmocka_unit_test(test_counters_tsan_writers_and_reader),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
