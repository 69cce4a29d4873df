/* tests/tsan/test_ring_tsan.c — the SPSC ring and the doorbell under
 * ThreadSanitizer: a producer and a consumer thread move a few million
 * descriptors carrying a sequence number (bulk and burst calls of varying
 * sizes, 8- and 16-byte descriptors, indices starting near 2^32), and the
 * consumer checks the sequence. TSan reports any slot access that the
 * ring's release/acquire pairs do not order.
 *
 * Waiting: the first test polls (yielding), the second sleeps on a
 * doorbell. Every wait is bounded by a deadline so a bug fails the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shm/doorbell.h"
#include "shm/ring.h"

#define TOTAL_POLL   3000000ull
#define TOTAL_DB     1000000ull
#define SLOTS        256u
#define MAX_BURST    16u
#define DEADLINE_NS  (15ull * 1000000000ull)

struct pair {
	struct ring_prod p;
	struct ring_cons c;
	struct doorbell db;        /* used by the doorbell test only */
	void *mem;
	uint32_t esize;
	uint64_t total;
	bool use_db;
	atomic_int failed;         /* a side passed its deadline */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct pair *pair_new(uint32_t esize, uint64_t total, bool use_db)
{
	struct pair *pr = aligned_alloc(128, sizeof(*pr));
	size_t bytes = ring_bytes(SLOTS, esize);

	assert_non_null(pr);
	memset(pr, 0, sizeof(*pr));
	pr->mem = aligned_alloc(64, bytes);
	assert_non_null(pr->mem);
	assert_int_equal(ring_init_at(pr->mem, SLOTS, esize, UINT32_MAX - 1000), 0);
	assert_int_equal(ring_prod_attach(&pr->p, pr->mem, bytes, SLOTS, esize), 0);
	assert_int_equal(ring_cons_attach(&pr->c, pr->mem, bytes, SLOTS, esize), 0);
	assert_int_equal(doorbell_init(&pr->db), 0);
	pr->esize = esize;
	pr->total = total;
	pr->use_db = use_db;
	return pr;
}

/* Fills descriptor i of buf (esize bytes each) with sequence number seq. */
static void put_seq(uint64_t *buf, uint32_t esize, unsigned i, uint64_t seq)
{
	if (esize == 8) {
		buf[i] = seq;
	} else {
		buf[2 * i] = seq;
		buf[2 * i + 1] = ~seq;
	}
}

static bool seq_ok(const uint64_t *buf, uint32_t esize, unsigned i, uint64_t seq)
{
	return esize == 8 ? buf[i] == seq : buf[2 * i] == seq && buf[2 * i + 1] == ~seq;
}

static void *producer_main(void *arg)
{
	struct pair *pr = arg;
	uint64_t buf[MAX_BURST * 2], seq = 0, deadline = now_ns() + DEADLINE_NS;
	unsigned rnd = 1;

	while (seq < pr->total && !atomic_load(&pr->failed)) {
		unsigned n = 1 + (rnd = rnd * 1103515245u + 12345u) % MAX_BURST;
		if (n > pr->total - seq)
			n = (unsigned)(pr->total - seq);
		for (unsigned i = 0; i < n; i++)
			put_seq(buf, pr->esize, i, seq + i);
		n = (rnd & 0x100) ? ring_enqueue_bulk_elem(&pr->p, buf, pr->esize, n)
				  : ring_enqueue_burst_elem(&pr->p, buf, pr->esize, n);
		seq += n;
		if (n > 0 && pr->use_db)
			doorbell_ring(&pr->db);
		if (n == 0) {
			sched_yield();
			if (now_ns() > deadline)
				atomic_store(&pr->failed, 1);
		}
	}
	return NULL;
}

/* The consumer's idle step: yield, or announce/re-check/sleep on the doorbell. */
static void consumer_idle(struct pair *pr)
{
	uint32_t tok;

	if (!pr->use_db) {
		sched_yield();
		return;
	}
	tok = doorbell_prepare_wait(&pr->db);
	if (!ring_cons_empty(&pr->c))
		doorbell_cancel_wait(&pr->db, tok);
	else
		(void)doorbell_wait(&pr->db, tok, 100 * 1000000ll);
}

/* Returns the number of descriptors received in sequence. */
static uint64_t consume(struct pair *pr)
{
	uint64_t buf[MAX_BURST * 2], seq = 0, deadline = now_ns() + DEADLINE_NS;
	unsigned rnd = 7;

	while (seq < pr->total && !atomic_load(&pr->failed)) {
		unsigned n = 1 + (rnd = rnd * 1103515245u + 12345u) % MAX_BURST;
		n = (rnd & 0x100) ? ring_dequeue_bulk_elem(&pr->c, buf, pr->esize, n)
				  : ring_dequeue_burst_elem(&pr->c, buf, pr->esize, n);
		for (unsigned i = 0; i < n; i++, seq++)
			if (!seq_ok(buf, pr->esize, i, seq))
				return seq;
		if (n == 0) {
			consumer_idle(pr);
			if (now_ns() > deadline)
				atomic_store(&pr->failed, 1);
		}
	}
	return seq;
}

static void run_pair(uint32_t esize, uint64_t total, bool use_db)
{
	struct pair *pr = pair_new(esize, total, use_db);
	pthread_t th;
	uint64_t got;

	assert_int_equal(pthread_create(&th, NULL, producer_main, pr), 0);
	got = consume(pr);
	if (got != total)
		atomic_store(&pr->failed, 1);     /* stop the producer too */
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(got, total);
	assert_int_equal(atomic_load(&pr->failed), 0);
	assert_false(ring_prod_corrupt(&pr->p) || ring_cons_corrupt(&pr->c));
	free(pr->mem);
	free(pr);
}

static void test_ring_tsan_poll_u64_in_order(void **state)
{
	(void)state;
	run_pair(8, TOTAL_POLL, false);
}

static void test_ring_tsan_poll_u128_in_order(void **state)
{
	(void)state;
	run_pair(16, TOTAL_POLL, false);
}

static void test_ring_tsan_doorbell_in_order(void **state)
{
	(void)state;
	run_pair(8, TOTAL_DB, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_tsan_poll_u64_in_order),
		cmocka_unit_test(test_ring_tsan_poll_u128_in_order),
		cmocka_unit_test(test_ring_tsan_doorbell_in_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
