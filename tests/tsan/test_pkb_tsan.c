/* tests/tsan/test_pkb_tsan.c — packet buffers under ThreadSanitizer: two
 * threads, each with its own cache on one pool, hand slots to each other (as
 * nicd and netd do) and fight over the pool's magazine stack. TSan checks the
 * orderings argued in shm/pkb.c; the tests check that no slot is lost or
 * handed out twice. Built with the shm/ sources only (no tests/support). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "shm/pkb.h"

#define NSLOTS     512u   /* small: caches must spill and refill constantly */
#define BUFSZ      256u
#define MAILBOX    64u    /* single-slot mailboxes, used round-robin */
#define HANDOFFS   200000u
#define CONTENDERS 3      /* one more than cores: preemption inside a pop's
			   * load..CAS window is what makes ABA possible */
#define ROUNDS     6000u  /* contention test: rounds per thread */
#define BURST      40u    /* slots a thread grabs per round: > one magazine */
#define DEADLINE_S 20

struct pool_mem {
	void *mem;
	struct pkb_pool pool;
};

static void pool_mem_init(struct pool_mem *pm)
{
	size_t bytes = pkb_pool_bytes(NSLOTS, BUFSZ);

	pm->mem = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
	assert_non_null(pm->mem);
	assert_int_equal(pkb_pool_format(&pm->pool, pm->mem, bytes, NSLOTS, BUFSZ), 0);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Wait politely (the machine has two cores, shared): yield, and give up past
 * the deadline. Returns 0, or -ETIMEDOUT. */
static int backoff(unsigned *spins, double deadline)
{
	if ((++*spins & 1023u) == 0 && now_s() > deadline)
		return -ETIMEDOUT;
	sched_yield();
	return 0;
}

/* ------------------------------------------------- producer -> consumer */

struct handoff {
	struct pkb_pool *pool;
	_Atomic uint32_t box[MAILBOX];  /* PKB_NONE: empty */
	double deadline;
	_Atomic int failed;
	uint32_t bad_data;              /* consumer's own count */
};

static void stamp(struct pkb *b, uint32_t seq)
{
	memcpy(pkb_put(b, sizeof(seq)), &seq, sizeof(seq));
	memset(pkb_put(b, 60), (int)(seq & 0xff), 60);
}

static int stamped(const struct pkb *b, uint32_t seq)
{
	uint8_t buf[64];

	if (pkb_copy_out(b, 0, sizeof(buf), buf) != 0 || memcmp(buf, &seq, 4) != 0)
		return 0;
	for (unsigned i = 4; i < sizeof(buf); i++)
		if (buf[i] != (seq & 0xff))
			return 0;
	return 1;
}

/* Post idx in mailbox seq % MAILBOX once the consumer has emptied it. */
static int post(struct handoff *h, uint32_t seq, uint32_t idx)
{
	_Atomic uint32_t *slot = &h->box[seq % MAILBOX];
	unsigned spins = 0;

	/* acquire pairs with the consumer's release of PKB_NONE */
	while (atomic_load_explicit(slot, memory_order_acquire) != PKB_NONE)
		if (atomic_load(&h->failed) || backoff(&spins, h->deadline) != 0)
			return -ETIMEDOUT;
	/* release pairs with the consumer's acquire: the pkb's data and
	 * metadata written before are visible to it */
	atomic_store_explicit(slot, idx, memory_order_release);
	return 0;
}

/* One handoff: every other packet the producer keeps a clone (and frees it
 * after posting the original) or posts a clone (and frees the original), so
 * both threads race to drop the last reference, in both orders. */
static int produce_one(struct handoff *h, struct pkb_cache *cache, uint32_t seq)
{
	struct pkb *b = pkb_alloc(cache), *c;
	unsigned spins = 0;

	while (b == NULL) {  /* the consumer's cache holds the rest: wait */
		if (backoff(&spins, h->deadline) != 0)
			return -ETIMEDOUT;
		b = pkb_alloc(cache);
	}
	stamp(b, seq);
	if (seq % 4 >= 2)
		return post(h, seq, pkb_index(b));
	c = pkb_clone(cache, b);
	if (c == NULL) {
		pkb_free(cache, b);
		return post(h, seq, PKB_NONE - 1);  /* a skipped packet */
	}
	if (post(h, seq, pkb_index(seq % 4 == 0 ? c : b)) != 0)
		return -ETIMEDOUT;
	pkb_free(cache, seq % 4 == 0 ? b : c);
	return 0;
}

static void *producer(void *arg)
{
	struct handoff *h = arg;
	struct pkb_cache cache;

	pkb_cache_init(&cache, h->pool);
	for (uint32_t seq = 0; seq < HANDOFFS; seq++) {
		if (produce_one(h, &cache, seq) != 0) {
			atomic_store(&h->failed, 1);
			break;
		}
	}
	pkb_cache_flush(&cache);
	return NULL;
}

static void *consumer(void *arg)
{
	struct handoff *h = arg;
	struct pkb_cache cache;

	pkb_cache_init(&cache, h->pool);
	for (uint32_t seq = 0; seq < HANDOFFS && !atomic_load(&h->failed); seq++) {
		_Atomic uint32_t *slot = &h->box[seq % MAILBOX];
		unsigned spins = 0;
		uint32_t idx;

		/* acquire pairs with post's release */
		while ((idx = atomic_load_explicit(slot, memory_order_acquire)) == PKB_NONE)
			if (atomic_load(&h->failed) || backoff(&spins, h->deadline) != 0)
				goto out;
		if (idx != PKB_NONE - 1) {
			struct pkb *b = pkb_at(h->pool, idx);

			if (b == NULL || !stamped(b, seq))
				h->bad_data++;
			pkb_free(&cache, b);
		}
		/* release pairs with post's acquire: we are done with it */
		atomic_store_explicit(slot, PKB_NONE, memory_order_release);
	}
out:
	pkb_cache_flush(&cache);
	return NULL;
}

static void test_pkb_tsan_handoff_frees_on_other_thread(void **state)
{
	struct pool_mem pm;
	struct handoff *h = calloc(1, sizeof(*h));
	struct pkb_pool_stats st;
	pthread_t tp, tc;

	(void)state;
	assert_non_null(h);
	pool_mem_init(&pm);
	h->pool = &pm.pool;
	h->deadline = now_s() + DEADLINE_S;
	for (unsigned i = 0; i < MAILBOX; i++)
		atomic_init(&h->box[i], PKB_NONE);
	assert_int_equal(pthread_create(&tc, NULL, consumer, h), 0);
	assert_int_equal(pthread_create(&tp, NULL, producer, h), 0);
	pthread_join(tp, NULL);
	pthread_join(tc, NULL);

	print_message("%u handoffs, half through clones\n", HANDOFFS);
	assert_int_equal(atomic_load(&h->failed), 0);
	assert_int_equal(h->bad_data, 0);
	assert_int_equal(pkb_pool_free_count(&pm.pool), NSLOTS);
	pkb_pool_stats(&pm.pool, &st);
	assert_int_equal(st.bad_index + st.double_free + st.use_after_free, 0);
	free(h);
	free(pm.mem);
}

/* ------------------------------------------------ two caches contending */

struct contender {
	struct pkb_pool *pool;
	uint64_t id;
	double deadline;
	uint32_t got, dup;  /* slots allocated; slots found owned by another */
};

/* Grab up to BURST slots, mark them ours in metadata and data, check the
 * marks, and give them all back, flushing so every round moves magazines. */
static void *contend(void *arg)
{
	struct contender *ct = arg;
	struct pkb *held[BURST];
	struct pkb_cache cache;

	pkb_cache_init(&cache, ct->pool);
	for (uint32_t r = 0; r < ROUNDS && now_s() < ct->deadline; r++) {
		uint32_t n = 0;

		while (n < BURST && (held[n] = pkb_alloc(&cache)) != NULL) {
			held[n]->user = ct->id;
			memcpy(pkb_put(held[n], 8), &ct->id, 8);
			n++;
		}
		ct->got += n;
		while (n > 0) {
			struct pkb *b = held[--n];

			if (b->user != ct->id || memcmp(pkb_data(b), &ct->id, 8) != 0)
				ct->dup++;
			pkb_free(&cache, b);
		}
		pkb_cache_flush(&cache);
	}
	pkb_cache_flush(&cache);
	return NULL;
}

static void test_pkb_tsan_caches_contend(void **state)
{
	struct pool_mem pm;
	struct contender ct[CONTENDERS];
	pthread_t t[CONTENDERS];

	(void)state;
	pool_mem_init(&pm);
	for (int i = 0; i < CONTENDERS; i++) {
		ct[i] = (struct contender){ .pool = &pm.pool, .id = 0x1111u * (i + 1),
					    .deadline = now_s() + DEADLINE_S };
		assert_int_equal(pthread_create(&t[i], NULL, contend, &ct[i]), 0);
	}
	for (int i = 0; i < CONTENDERS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < CONTENDERS; i++) {
		print_message("contender %d: %u slots allocated\n", i, ct[i].got);
		assert_int_equal(ct[i].dup, 0);
		assert_true(ct[i].got > 0);
	}
	assert_int_equal(pkb_pool_free_count(&pm.pool), NSLOTS);
	free(pm.mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pkb_tsan_handoff_frees_on_other_thread),
		cmocka_unit_test(test_pkb_tsan_caches_contend),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
