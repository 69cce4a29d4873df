/* tests/support/pkb_fixture.h — a packet-buffer pool in plain heap memory for
 * tests: one pool, one cache, and a leak count for teardown to assert on.
 * No cmocka here (fuzz targets link tests/support too).
 *
 *	static int setup(void **state)
 *	{
 *		*state = pkb_fixture_new(64, 0);
 *		return *state != NULL ? 0 : -1;
 *	}
 *	static int teardown(void **state)
 *	{
 *		struct pkb_fixture *fx = *state;
 *		uint32_t leaks = pkb_fixture_leaks(fx);
 *
 *		pkb_fixture_destroy(fx);
 *		assert_int_equal(leaks, 0);
 *		return 0;
 *	}
 */
#ifndef RINGSTACK_TESTS_PKB_FIXTURE_H
#define RINGSTACK_TESTS_PKB_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "shm/pkb.h"

struct pkb_fixture {
	void *mem;               /* aligned_alloc'd, pool header first */
	size_t bytes;
	struct pkb_pool pool;
	struct pkb_cache cache;  /* the test's own cache on pool */
};

/* Format a pool of `nslots` slots with `buf_size`-byte buffers (0 means
 * PKB_DEFAULT_BUFSIZE) in fresh heap memory, and init fx->cache on it.
 * Returns 0 or -EINVAL / -ENOMEM (fx left empty). */
int pkb_fixture_init(struct pkb_fixture *fx, uint32_t nslots, uint32_t buf_size);

/* Free the memory pkb_fixture_init took. Safe on an empty fixture. */
void pkb_fixture_fini(struct pkb_fixture *fx);

/* Heap-allocated fixture for cmocka's void **state; NULL on failure. */
struct pkb_fixture *pkb_fixture_new(uint32_t nslots, uint32_t buf_size);
void pkb_fixture_destroy(struct pkb_fixture *fx);

/* Flush fx->cache, then return how many slots are not back in the pool
 * (0 when nothing leaked). Other caches on the pool must be flushed first. */
uint32_t pkb_fixture_leaks(struct pkb_fixture *fx);

/* A LIVE pkb holding a copy of len bytes of `bytes` after PKB_HEADROOM of
 * headroom, chained over several buffers if it does not fit in one. NULL
 * (nothing allocated) if the pool runs out. */
struct pkb *pkb_from_bytes(struct pkb_cache *cache, const void *bytes, uint32_t len);

#endif /* RINGSTACK_TESTS_PKB_FIXTURE_H */
