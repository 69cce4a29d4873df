/* tests/support/pkb_fixture.c — a heap-backed packet-buffer pool for tests
 * (see pkb_fixture.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/pkb_fixture.h"

int pkb_fixture_init(struct pkb_fixture *fx, uint32_t nslots, uint32_t buf_size)
{
	size_t bytes;
	int err;

	memset(fx, 0, sizeof(*fx));
	if (buf_size == 0)
		buf_size = PKB_DEFAULT_BUFSIZE;
	bytes = pkb_pool_bytes(nslots, buf_size);
	if (bytes == 0)
		return -EINVAL;
	/* aligned_alloc wants a size that is a multiple of the alignment */
	fx->mem = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
	if (fx->mem == NULL)
		return -ENOMEM;
	fx->bytes = bytes;
	err = pkb_pool_format(&fx->pool, fx->mem, bytes, nslots, buf_size);
	if (err != 0) {
		pkb_fixture_fini(fx);
		return err;
	}
	pkb_cache_init(&fx->cache, &fx->pool);
	return 0;
}

void pkb_fixture_fini(struct pkb_fixture *fx)
{
	free(fx->mem);
	memset(fx, 0, sizeof(*fx));
}

struct pkb_fixture *pkb_fixture_new(uint32_t nslots, uint32_t buf_size)
{
	struct pkb_fixture *fx = malloc(sizeof(*fx));

	if (fx != NULL && pkb_fixture_init(fx, nslots, buf_size) != 0) {
		free(fx);
		return NULL;
	}
	return fx;
}

void pkb_fixture_destroy(struct pkb_fixture *fx)
{
	if (fx == NULL)
		return;
	pkb_fixture_fini(fx);
	free(fx);
}

uint32_t pkb_fixture_leaks(struct pkb_fixture *fx)
{
	pkb_cache_flush(&fx->cache);
	return fx->pool.nslots - pkb_pool_free_count(&fx->pool);
}

struct pkb *pkb_from_bytes(struct pkb_cache *cache, const void *bytes, uint32_t len)
{
	struct pkb *b = pkb_alloc(cache);

	if (b == NULL)
		return NULL;
	if (pkb_append(cache, b, bytes, len) != 0) {
		pkb_free(cache, b);
		return NULL;
	}
	return b;
}
