/* shm/ring.c — laying out SPSC rings and attaching views to them.
 *
 * The data path (enqueue, dequeue, queries) is all inline in ring.h; this
 * file formats a ring in caller memory and checks a ring found in shared
 * memory before a view is made of it. A ring found in shared memory is
 * untrusted input: every field read here is read once and checked before it
 * is used, and the view keeps the checked copies.
 */
#include "shm/ring.h"

#include <errno.h>

#define RING_ALIGN 64u

/* True if count is a power of two in [1, RING_COUNT_MAX] and esize a
 * multiple of 4 in [4, RING_ESIZE_MAX]. */
static bool ring_geometry_ok(uint32_t count, uint32_t esize)
{
	if (count == 0 || count > RING_COUNT_MAX || (count & (count - 1)) != 0)
		return false;
	return esize >= 4 && esize <= RING_ESIZE_MAX && esize % 4 == 0;
}

size_t ring_bytes(uint32_t count, uint32_t esize)
{
	size_t bytes;

	if (!ring_geometry_ok(count, esize))
		return 0;
	bytes = RING_HDR_SIZE + (size_t)count * esize;
	return (bytes + RING_ALIGN - 1) & ~(size_t)(RING_ALIGN - 1);
}

int ring_init_at(void *mem, uint32_t count, uint32_t esize, uint32_t start)
{
	struct ring *r = mem;

	if (r == NULL || (uintptr_t)mem % RING_ALIGN != 0 || !ring_geometry_ok(count, esize))
		return -EINVAL;
	memset(r, 0, RING_HDR_SIZE);
	r->version = RING_VERSION;
	r->count = count;
	r->mask = count - 1;
	r->esize = esize;
	atomic_store_explicit(&r->prod, start, memory_order_relaxed);
	atomic_store_explicit(&r->cons, start, memory_order_relaxed);
	/* Release: pairs with the acquire load of magic in ring_check(); a
	 * process that sees the magic also sees the geometry and indices. */
	atomic_store_explicit(&r->magic, RING_MAGIC, memory_order_release);
	return 0;
}

int ring_init(void *mem, uint32_t count, uint32_t esize)
{
	return ring_init_at(mem, count, esize, 0);
}

/* One read of a header word the peer may be rewriting: volatile, so the
 * compiler cannot read it a second time after it has been checked. */
static uint32_t ring_read_once(const uint32_t *word)
{
	return *(const volatile uint32_t *)word;
}

/* The checks of ring_validate(); on success *mask is the mask that was
 * checked, which the view keeps in place of the shared field. */
static int ring_check(const void *mem, size_t len, uint32_t want_count,
		      uint32_t esize, uint32_t *mask)
{
	const struct ring *r = mem;
	uint32_t count, m;
	size_t need;

	if (r == NULL || (uintptr_t)mem % RING_ALIGN != 0 || len < RING_HDR_SIZE)
		return -EINVAL;
	/* Acquire: pairs with the release store of magic in ring_init_at(). */
	if (atomic_load_explicit(&r->magic, memory_order_acquire) != RING_MAGIC ||
	    ring_read_once(&r->version) != RING_VERSION)
		return -EPROTO;
	count = ring_read_once(&r->count);
	m = ring_read_once(&r->mask);
	if (ring_read_once(&r->esize) != esize || m != count - 1)
		return -EPROTO;
	if (want_count != 0 && count != want_count)
		return -EPROTO;
	need = ring_bytes(count, esize);
	if (need == 0 || need > len)
		return -EPROTO;
	*mask = m;
	return 0;
}

int ring_validate(const void *mem, size_t len, uint32_t count, uint32_t esize)
{
	uint32_t mask;

	return ring_check(mem, len, count, esize, &mask);
}

int ring_prod_attach(struct ring_prod *p, void *mem, size_t len,
		     uint32_t count, uint32_t esize)
{
	struct ring *r = mem;
	uint32_t mask;
	int err = ring_check(mem, len, count, esize, &mask);

	if (err)
		return err;
	memset(p, 0, sizeof(*p));
	p->r = r;
	p->mask = mask;
	p->size = mask + 1;
	p->esize = esize;
	p->head = atomic_load_explicit(&r->prod, memory_order_relaxed);
	/* The refresh loads cons (acquire) and checks the distance like any
	 * later refresh; until then the cache shows no room. */
	p->cons_cache = p->head - p->size;
	ring__prod_refresh(p);
	return p->corrupt ? -EBADMSG : 0;
}

int ring_cons_attach(struct ring_cons *c, void *mem, size_t len,
		     uint32_t count, uint32_t esize)
{
	struct ring *r = mem;
	uint32_t mask;
	int err = ring_check(mem, len, count, esize, &mask);

	if (err)
		return err;
	memset(c, 0, sizeof(*c));
	c->r = r;
	c->mask = mask;
	c->size = mask + 1;
	c->esize = esize;
	c->head = atomic_load_explicit(&r->cons, memory_order_relaxed);
	/* As in ring_prod_attach(): the cache shows no data until refreshed. */
	c->prod_cache = c->head;
	ring__cons_refresh(c);
	return c->corrupt ? -EBADMSG : 0;
}
