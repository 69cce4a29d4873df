/* shm/pkb.c — packet buffers: the pool, per-consumer caches, and the buffer
 * operations of shm/pkb.h.
 *
 * Where it sits: nicd allocates a pkb per received frame and hands its index
 * to netd over an rx ring; netd parses it (pull), answers or forwards it
 * (push, put, clone for retransmission) and frees it, or hands it back over a
 * tx ring for nicd to free. So slots are allocated in one process and freed in
 * another, all the time, and the free list is shared.
 *
 * The free list: a lock-free stack of magazines.
 *   A magazine is a chain of up to PKB_MAGAZINE FREE pkbs linked through
 *   `next`; magazines are stacked through `free_next` of their first slot, and
 *   the header's 64-bit `top` word holds {first slot of the top magazine, tag}.
 *   A cache refills (pool_pop) or spills (pool_push) a whole magazine with one
 *   compare-exchange on `top`, so the shared line is touched once per
 *   PKB_MAGAZINE packets, not per packet. Format builds magazines of
 *   consecutive slots, the last one short when nslots is not a multiple;
 *   cache_flush spills short magazines too, so any magazine may be short.
 *
 * ABA: pop reads top {i, t}, then i's free_next n, then CASes {i, t} ->
 *   {n, t+1}. If meanwhile i was popped and pushed back on a different
 *   successor, each of those CASes bumped the tag, so ours fails and retries.
 *   It could succeed wrongly only after exactly 2^32 CASes between one
 *   thread's load and its CAS. The stale read of free_next is harmless: slot
 *   memory is never unmapped, free_next is written only by pool_push and
 *   accessed only atomically (the new owner of a popped slot never writes it),
 *   and a stale value is discarded by the failing CAS.
 *
 * Ordering: pool_push's successful CAS is a release; pool_pop's load of top
 *   and its CAS are acquires. They pair: the pusher's writes to the
 *   magazine's links, states and free_next happen before the popper reads
 *   them, and the previous holder's last reads and writes of the data happen
 *   before the next allocator reuses the buffer. Every write of `top` after
 *   format is a read-modify-write, so every acquire synchronises with every
 *   earlier push through the release sequence, whoever popped in between.
 *
 * Clones are DPDK's indirect mbufs: see pkb_release for the reference rules.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "shm/pkb.h"
#include "shm/pkb_internal.h"

/* ------------------------------------------------------------ helpers */

static inline struct pkb *pool_slot(const struct pkb_pool *pool, uint32_t idx)
{
	return (struct pkb *)(pool->slots + (size_t)idx * pool->slot_size);
}

static inline uint64_t top_make(uint32_t idx, uint32_t tag)
{
	return (uint64_t)tag << 32 | idx;
}

static inline uint32_t top_idx(uint64_t top) { return (uint32_t)top; }
static inline uint32_t top_tag(uint64_t top) { return (uint32_t)(top >> 32); }

static inline uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }

/* Debug builds: true when b is a LIVE pkb of a well-formed pool; otherwise
 * counts why (bad_index; double_free when `freeing`, else use_after_free, for
 * a pkb that is not LIVE) and returns false. A pointer whose pool header has
 * no magic is not a pkb at all and has no pool to count in. Release builds:
 * always true, and the compiler drops the call. */
static bool pkb_debug_ok(const struct pkb *b, bool freeing)
{
	struct pkb_pool_hdr *hdr;

	if (!PKB_DEBUG)
		return true;
	hdr = pkb_hdr_of(b);
	if (hdr->magic != PKB_POOL_MAGIC)
		return false;
	if (b->slot >= hdr->nslots || b->data_slot >= hdr->nslots ||
	    (b->next != PKB_NONE && b->next >= hdr->nslots)) {
		PKB_COUNT(hdr, bad_index);
		return false;
	}
	if (b->state == PKB_STATE_LIVE)
		return true;
	if (freeing)
		PKB_COUNT(hdr, double_free);
	else
		PKB_COUNT(hdr, use_after_free);
	return false;
}

/* Last segment of head's chain (bounded by nb_segs against a broken chain). */
static struct pkb *pkb_last(struct pkb *head)
{
	struct pkb *seg = head;
	uint32_t n;

	for (n = 1; n < head->nb_segs && seg->next != PKB_NONE; n++)
		seg = pkb_next(seg);
	return seg;
}

/* ---------------------------------------------------------------- pool */

size_t pkb_pool_bytes(uint32_t nslots, uint32_t buf_size)
{
	uint32_t buf;

	if (nslots == 0 || nslots > PKB_POOL_MAX_SLOTS || buf_size > PKB_BUF_MAX)
		return 0;
	buf = (buf_size + 63u) & ~63u;
	if (buf < PKB_BUF_MIN)
		return 0;
	return PKB_POOL_HDR_SIZE + (size_t)nslots * (PKB_META_SIZE + buf);
}

static void pool_handle_fill(struct pkb_pool *pool, struct pkb_pool_hdr *hdr)
{
	pool->hdr = hdr;
	pool->slots = (uint8_t *)hdr + PKB_POOL_HDR_SIZE;
	pool->nslots = hdr->nslots;
	pool->slot_size = hdr->slot_size;
	pool->buf_size = hdr->buf_size;
}

/* Write every slot's fixed fields and link the slots into magazines of
 * PKB_MAGAZINE consecutive slots (the last possibly short), stacked in order
 * so that top is slot 0. */
static void format_slots(const struct pkb_pool *pool)
{
	uint32_t i, n = pool->nslots;

	for (i = 0; i < n; i++) {
		struct pkb *b = pool_slot(pool, i);
		bool mag_end = (i + 1) % PKB_MAGAZINE == 0 || i + 1 == n;
		bool mag_first = i % PKB_MAGAZINE == 0;

		memset(b, 0, sizeof(*b));
		b->slot = i;
		b->data_slot = i;
		b->slot_size = pool->slot_size;
		b->end = pool->buf_size;
		b->state = PKB_STATE_FREE;
		b->next = mag_end ? PKB_NONE : i + 1;
		atomic_init(&b->free_next, mag_first && i + PKB_MAGAZINE < n ?
					   i + PKB_MAGAZINE : PKB_NONE);
	}
}

int pkb_pool_format(struct pkb_pool *pool, void *mem, size_t len,
		    uint32_t nslots, uint32_t buf_size)
{
	size_t bytes = pkb_pool_bytes(nslots, buf_size);
	struct pkb_pool_hdr *hdr = mem;

	if (bytes == 0 || mem == NULL || len < bytes || (uintptr_t)mem % 64 != 0)
		return -EINVAL;
	memset(hdr, 0, sizeof(*hdr));
	hdr->version = PKB_POOL_VERSION;
	hdr->nslots = nslots;
	hdr->buf_size = (buf_size + 63u) & ~63u;
	hdr->slot_size = PKB_META_SIZE + hdr->buf_size;
	hdr->meta_size = PKB_META_SIZE;
	hdr->bytes = bytes;
	pool_handle_fill(pool, hdr);
	format_slots(pool);
	atomic_store_explicit(&hdr->free_count, nslots, memory_order_relaxed);
	/* Release: nobody else may touch the pool during format (its caller
	 * hands the region over afterwards, which orders it); this store only
	 * keeps the stack's first push-like write a release like all others. */
	atomic_store_explicit(&hdr->top, top_make(0, 0), memory_order_release);
	hdr->magic = PKB_POOL_MAGIC;  /* last: a half-formatted pool has none */
	return 0;
}

int pkb_pool_attach(struct pkb_pool *pool, void *mem, size_t len)
{
	struct pkb_pool_hdr *hdr = mem;
	size_t bytes;

	if (mem == NULL || len < PKB_POOL_HDR_SIZE || (uintptr_t)mem % 64 != 0)
		return -EINVAL;
	if (hdr->magic != PKB_POOL_MAGIC || hdr->version != PKB_POOL_VERSION ||
	    hdr->meta_size != PKB_META_SIZE)
		return -EPROTO;
	/* Geometry is copied into the process-local handle once checked, so a
	 * later scribble on the header cannot widen what pkb_at accepts. */
	bytes = pkb_pool_bytes(hdr->nslots, hdr->buf_size);
	if (bytes == 0 || hdr->buf_size % 64 != 0 || hdr->bytes != bytes ||
	    hdr->slot_size != PKB_META_SIZE + hdr->buf_size || len < bytes)
		return -EINVAL;
	pool_handle_fill(pool, hdr);
	return 0;
}

void pkb_pool_stats(const struct pkb_pool *pool, struct pkb_pool_stats *out)
{
	struct pkb_pool_hdr *h = pool->hdr;

	out->alloc_fail = atomic_load_explicit(&h->alloc_fail, memory_order_relaxed);
	out->double_free = atomic_load_explicit(&h->double_free, memory_order_relaxed);
	out->use_after_free = atomic_load_explicit(&h->use_after_free, memory_order_relaxed);
	out->bad_index = atomic_load_explicit(&h->bad_index, memory_order_relaxed);
	out->shared_write = atomic_load_explicit(&h->shared_write, memory_order_relaxed);
	out->no_room = atomic_load_explicit(&h->no_room, memory_order_relaxed);
}

uint32_t pkb_pool_free_count(const struct pkb_pool *pool)
{
	return atomic_load_explicit(&pool->hdr->free_count, memory_order_relaxed);
}

/* ------------------------------------------------ the magazine stack */

/* Publish the magazine that starts at `first` (n slots linked through next)
 * on top of the pool's stack. Lock-free: a failed CAS means another cache
 * moved a magazine meanwhile. */
static void pool_push(const struct pkb_pool *pool, struct pkb *first, uint32_t n)
{
	struct pkb_pool_hdr *hdr = pool->hdr;
	uint64_t old = atomic_load_explicit(&hdr->top, memory_order_relaxed);
	uint64_t new;

	/* Counted before it is published, so a pop's fetch_sub (after its CAS)
	 * can never take the counter below zero. */
	atomic_fetch_add_explicit(&hdr->free_count, n, memory_order_relaxed);
	do {
		/* relaxed: the CAS's release below publishes it */
		atomic_store_explicit(&first->free_next, top_idx(old),
				      memory_order_relaxed);
		new = top_make(first->slot, top_tag(old) + 1);
		/* release pairs with the acquires in pool_pop; on failure we
		 * only retry with the fresh top, which we never dereference. */
	} while (!atomic_compare_exchange_weak_explicit(&hdr->top, &old, new,
			memory_order_release, memory_order_relaxed));
}

/* Take the top magazine off the pool's stack: returns its first slot, or
 * PKB_NONE when the pool is empty (or its top is out of range: counted). */
static uint32_t pool_pop(const struct pkb_pool *pool)
{
	struct pkb_pool_hdr *hdr = pool->hdr;
	/* acquire pairs with pool_push's release CAS: the free_next we read
	 * next is at least the one written by the push that set this top. */
	uint64_t old = atomic_load_explicit(&hdr->top, memory_order_acquire);
	uint32_t first, next;

	do {
		first = top_idx(old);
		if (first == PKB_NONE)
			return PKB_NONE;
		if (first >= pool->nslots) {
			PKB_COUNT(hdr, bad_index);
			return PKB_NONE;
		}
		/* may be stale if `first` is popped under us: the CAS then
		 * fails on the tag (ABA argument above) */
		next = atomic_load_explicit(&pool_slot(pool, first)->free_next,
					    memory_order_relaxed);
		/* success acquire pairs with the release of the push that
		 * published this magazine: its links are ours to read now;
		 * failure acquire as for the first load. */
	} while (!atomic_compare_exchange_weak_explicit(&hdr->top, &old,
			top_make(next, top_tag(old) + 1),
			memory_order_acquire, memory_order_acquire));
	return first;
}

/* ---------------------------------------------------------------- caches */

void pkb_cache_init(struct pkb_cache *cache, struct pkb_pool *pool)
{
	cache->pool = pool;
	cache->count = 0;
}

/* Move the top n slots of the cache (the most recently freed, still warm in
 * this core's cache) to the pool as one magazine. 1 <= n <= PKB_MAGAZINE. */
static void cache_spill(struct pkb_cache *cache, uint32_t n)
{
	const struct pkb_pool *pool = cache->pool;
	const uint32_t *idx = &cache->slots[cache->count - n];
	uint32_t i;

	for (i = 0; i + 1 < n; i++)
		pool_slot(pool, idx[i])->next = idx[i + 1];
	pool_slot(pool, idx[n - 1])->next = PKB_NONE;
	pool_push(pool, pool_slot(pool, idx[0]), n);
	cache->count -= n;
}

/* Refill the cache with one magazine from the pool; the caller has room for
 * PKB_MAGAZINE more. Returns 0, or -ENOBUFS when the pool is empty. */
static int cache_refill(struct pkb_cache *cache)
{
	const struct pkb_pool *pool = cache->pool;
	uint32_t idx = pool_pop(pool);
	uint32_t n = 0;

	/* bounded by PKB_MAGAZINE: a longer or out-of-range chain is a
	 * corrupted pool, and what follows the corruption is lost (counted) */
	while (idx != PKB_NONE && idx < pool->nslots && n < PKB_MAGAZINE) {
		cache->slots[cache->count + n++] = idx;
		idx = pool_slot(pool, idx)->next;
	}
	if (idx != PKB_NONE)
		PKB_COUNT(pool->hdr, bad_index);
	if (n == 0)
		return -ENOBUFS;
	atomic_fetch_sub_explicit(&pool->hdr->free_count, n, memory_order_relaxed);
	cache->count += n;
	return 0;
}

void pkb_cache_flush(struct pkb_cache *cache)
{
	/* at most PKB_CACHE_MAX / PKB_MAGAZINE rounds */
	while (cache->count > 0)
		cache_spill(cache, min_u32(cache->count, PKB_MAGAZINE));
}

/* Give slot b back to the cache, spilling a magazine first if it is full. */
static void cache_put(struct pkb_cache *cache, struct pkb *b)
{
	b->state = PKB_STATE_FREE;
	if (cache->count == PKB_CACHE_MAX)
		cache_spill(cache, PKB_MAGAZINE);
	cache->slots[cache->count++] = b->slot;
}

/* A FREE slot from the cache (refilled if empty), not yet reset; NULL when
 * the pool is empty too. Counts nothing: the callers decide what failed. */
static struct pkb *cache_take(struct pkb_cache *cache)
{
	if (cache->count == 0 && cache_refill(cache) != 0)
		return NULL;
	return pool_slot(cache->pool, cache->slots[--cache->count]);
}

/* ------------------------------------------------------ alloc, free, clone */

/* Make a freshly taken slot a LIVE, empty pkb with `headroom` reserved. */
static void pkb_reset(struct pkb *b, uint32_t headroom)
{
	b->data_slot = b->slot;
	b->data = headroom;
	b->tail = headroom;
	b->end = b->slot_size - PKB_META_SIZE;
	b->pkt_len = 0;
	b->next = PKB_NONE;
	b->nb_segs = 1;
	b->flags = 0;
	/* relaxed: the slot is ours alone; the pop's acquire ordered it */
	atomic_store_explicit(&b->refcnt, 1, memory_order_relaxed);
	b->state = PKB_STATE_LIVE;
	b->l2_off = b->l3_off = b->l4_off = b->vlan_tci = 0;
	b->hash = 0;
	b->port = 0;
	b->reserved = 0;
	memset(b->ts, 0, sizeof(b->ts));
	b->user = 0;
}

struct pkb *pkb_alloc(struct pkb_cache *cache)
{
	struct pkb *b = cache_take(cache);

	if (b == NULL) {
		PKB_COUNT(cache->pool->hdr, alloc_fail);
		return NULL;
	}
	pkb_reset(b, PKB_HEADROOM);
	return b;
}

unsigned pkb_alloc_bulk(struct pkb_cache *cache, struct pkb **out, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		out[i] = cache_take(cache);
		if (out[i] == NULL)
			goto fail;
		pkb_reset(out[i], PKB_HEADROOM);
	}
	return n;
fail:
	PKB_COUNT(cache->pool->hdr, alloc_fail);
	while (i > 0) {
		struct pkb *b = out[--i];

		atomic_store_explicit(&b->refcnt, 0, memory_order_relaxed);
		cache_put(cache, b);
	}
	return 0;
}

/* Drop one reference to slot d's data; whoever drops the last one returns
 * the slot (DETACHED by then, if clones outlived its owner) to its cache. */
static void data_put(struct pkb_cache *cache, struct pkb *d)
{
	/* acq_rel: the release orders this holder's reads of the data (and an
	 * owner's DETACHED store) before the last decrement; the acquire, for
	 * the last one, orders every other holder's before the slot's reuse. */
	uint32_t old = atomic_fetch_sub_explicit(&d->refcnt, 1, memory_order_acq_rel);

	if (old != 1)
		return;
	if (PKB_DEBUG && d->state != PKB_STATE_DETACHED) {
		/* its owner still holds it: a reference was dropped twice */
		PKB_COUNT(pkb_hdr_of(d), double_free);
		return;
	}
	cache_put(cache, d);
}

/* Release one segment: a clone gives back its own slot at once and drops its
 * reference to the data slot; an owner gives back its slot when no clone
 * shares it, and otherwise leaves it DETACHED for the last clone to free. */
static void pkb_release(struct pkb_cache *cache, struct pkb *b)
{
	if (b->flags & PKB_F_CLONE) {
		struct pkb *d = pkb__slot(b, b->data_slot);

		atomic_store_explicit(&b->refcnt, 0, memory_order_relaxed);
		cache_put(cache, b);
		data_put(cache, d);
		return;
	}
	/* acquire pairs with data_put's acq_rel decrement by the last clone to
	 * go: its reads of the data happen before the slot is reused. A count
	 * of 1 cannot rise under us: only a holder can clone. */
	if (atomic_load_explicit(&b->refcnt, memory_order_acquire) == 1) {
		atomic_store_explicit(&b->refcnt, 0, memory_order_relaxed);
		cache_put(cache, b);
		return;
	}
	/* before the decrement: after it the last clone may free the slot */
	b->state = PKB_STATE_DETACHED;
	data_put(cache, b);
}

void pkb_free(struct pkb_cache *cache, struct pkb *b)
{
	uint32_t n;

	if (PKB_DEBUG && b != NULL && pkb_hdr_of(b) != cache->pool->hdr) {
		PKB_COUNT(cache->pool->hdr, bad_index);
		return;
	}
	/* bounded: a chain never has more segments than the pool has slots */
	for (n = 0; b != NULL && n < cache->pool->nslots; n++) {
		struct pkb *next;

		if (!pkb_debug_ok(b, true))
			return;
		next = pkb_next(b);  /* read before b may be reused */
		pkb_release(cache, b);
		b = next;
	}
}

/* The metadata pkb_clone and pkb_copy carry over (not geometry or chain). */
static void pkb_copy_meta(struct pkb *dst, const struct pkb *src)
{
	dst->flags = src->flags & (uint16_t)~PKB_F_CLONE;
	dst->l2_off = src->l2_off;
	dst->l3_off = src->l3_off;
	dst->l4_off = src->l4_off;
	dst->vlan_tci = src->vlan_tci;
	dst->hash = src->hash;
	dst->port = src->port;
	memcpy(dst->ts, src->ts, sizeof(dst->ts));
	dst->user = src->user;
}

struct pkb *pkb_clone(struct pkb_cache *cache, struct pkb *b)
{
	struct pkb *c;

	if (!pkb_debug_ok(b, false))
		return NULL;
	c = pkb_alloc(cache);
	if (c == NULL)
		return NULL;
	pkb_copy_meta(c, b);
	c->flags |= PKB_F_CLONE;
	c->data_slot = b->data_slot;
	c->data = b->data;
	c->tail = b->tail;
	c->end = b->end;
	c->pkt_len = pkb_len(b);
	/* relaxed: we hold a reference, so the count cannot reach zero under
	 * us, and nothing is published by taking one; data_put's acq_rel
	 * orders each holder's use of the data before the slot's reuse. */
	atomic_fetch_add_explicit(&pkb__slot(b, b->data_slot)->refcnt, 1,
				  memory_order_relaxed);
	return c;
}

struct pkb *pkb_copy(struct pkb_cache *cache, const struct pkb *b)
{
	const struct pkb *seg = b;
	struct pkb *c;
	uint32_t n;

	if (!pkb_debug_ok(b, false))
		return NULL;
	c = pkb_alloc(cache);
	if (c == NULL)
		return NULL;
	/* same headroom, so l2_off..l4_off (from head) still point at the
	 * headers; same pool, so b->data <= c->end */
	c->data = b->data;
	c->tail = b->data;
	for (n = 0; seg != NULL && n < b->nb_segs; n++, seg = pkb_next(seg)) {
		if (pkb_append(cache, c, pkb_data(seg), pkb_len(seg)) != 0) {
			pkb_free(cache, c);
			return NULL;
		}
	}
	pkb_copy_meta(c, b);
	return c;
}

/* -------------------------------------------------------------- indices */

struct pkb *pkb_at(const struct pkb_pool *pool, uint32_t idx)
{
	struct pkb *b;

	if (idx >= pool->nslots) {
		PKB_COUNT(pool->hdr, bad_index);
		return NULL;
	}
	b = pool_slot(pool, idx);
	if (PKB_DEBUG && b->state != PKB_STATE_LIVE) {
		PKB_COUNT(pool->hdr, use_after_free);
		return NULL;
	}
	return b;
}

/* ---------------------------------------------------------- geometry */

uint8_t *pkb_push(struct pkb *b, uint32_t len)
{
	if (!pkb_debug_ok(b, false))
		return NULL;
	if (pkb_is_shared(b)) {
		PKB_COUNT(pkb_hdr_of(b), shared_write);
		return NULL;
	}
	if (len > pkb_headroom(b)) {
		PKB_COUNT(pkb_hdr_of(b), no_room);
		return NULL;
	}
	return __pkb_push(b, len);
}

uint8_t *pkb_pull(struct pkb *b, uint32_t len)
{
	if (!pkb_debug_ok(b, false) || len > pkb_len(b))
		return NULL;
	return __pkb_pull(b, len);
}

uint8_t *pkb_put(struct pkb *b, uint32_t len)
{
	if (!pkb_debug_ok(b, false))
		return NULL;
	if (pkb_is_shared(b)) {
		PKB_COUNT(pkb_hdr_of(b), shared_write);
		return NULL;
	}
	if (len > pkb_tailroom(b)) {
		PKB_COUNT(pkb_hdr_of(b), no_room);
		return NULL;
	}
	return __pkb_put(b, len);
}

int pkb_trim(struct pkb_cache *cache, struct pkb *b, uint32_t len)
{
	struct pkb *seg = b, *rest;
	uint32_t left = len, n;

	if (!pkb_debug_ok(b, false) || len > b->pkt_len)
		return -EINVAL;
	/* find the segment that keeps the new last byte; all after it go */
	for (n = 1; left > pkb_len(seg) && n < b->nb_segs && seg->next != PKB_NONE; n++) {
		left -= pkb_len(seg);
		seg = pkb_next(seg);
	}
	if (left > pkb_len(seg))
		return -EINVAL;  /* segments hold less than pkt_len says */
	seg->tail = seg->data + left;
	rest = pkb_next(seg);
	seg->next = PKB_NONE;
	b->pkt_len = len;
	b->nb_segs = (uint16_t)n;
	pkb_free(cache, rest);
	return 0;
}

int pkb_reserve(struct pkb *b, uint32_t len)
{
	if (!pkb_debug_ok(b, false))
		return -EINVAL;
	if (b->data != b->tail || b->next != PKB_NONE || len > pkb_tailroom(b))
		return -EINVAL;
	b->data += len;
	b->tail += len;
	return 0;
}

/* ------------------------------------------------------------ chains */

void pkb_chain(struct pkb *head, struct pkb *frag)
{
	struct pkb *last;

	if (!pkb_debug_ok(head, false) || !pkb_debug_ok(frag, false))
		return;
	if (PKB_DEBUG && frag == head) {
		PKB_COUNT(pkb_hdr_of(head), bad_index);
		return;
	}
	last = pkb_last(head);
	last->next = frag->slot;
	head->pkt_len += frag->pkt_len;
	head->nb_segs += frag->nb_segs;
}

/* A chain of n empty fragments (no headroom) for pkb_append, all or nothing:
 * its first pkb, or NULL with nothing left allocated (alloc_fail counted). */
static struct pkb *frags_alloc(struct pkb_cache *cache, uint32_t n)
{
	struct pkb *first = NULL, *f;
	uint32_t i;

	for (i = 0; i < n; i++) {
		f = pkb_alloc(cache);
		if (f == NULL) {
			pkb_free(cache, first);
			return NULL;
		}
		f->data = 0;
		f->tail = 0;
		f->next = first != NULL ? first->slot : PKB_NONE;
		first = f;
	}
	return first;
}

/* Copy len bytes into the tailroom of the fragments from f on, in order. */
static void frags_fill(struct pkb *f, const uint8_t *src, uint32_t len)
{
	uint32_t n;

	for (; f != NULL && len > 0; f = pkb_next(f)) {
		n = min_u32(len, pkb_tailroom(f));
		memcpy(pkb_buf(f) + f->tail, src, n);
		f->tail += n;
		f->pkt_len = n;
		src += n;
		len -= n;
	}
}

int pkb_append(struct pkb_cache *cache, struct pkb *head, const void *src, uint32_t len)
{
	struct pkb *last, *frags = NULL;
	uint32_t room, nfrags, buf = cache->pool->buf_size;

	if (!pkb_debug_ok(head, false) || len > UINT32_MAX - head->pkt_len)
		return -EINVAL;
	last = pkb_last(head);
	room = pkb_is_shared(last) ? 0 : min_u32(pkb_tailroom(last), len);
	nfrags = (len - room + buf - 1) / buf;
	if (nfrags > (uint32_t)UINT16_MAX - head->nb_segs)
		return -EINVAL;
	if (nfrags > 0) {
		frags = frags_alloc(cache, nfrags);
		if (frags == NULL)
			return -ENOBUFS;
	}
	if (room > 0) {  /* src may be NULL when len is 0 */
		memcpy(pkb_buf(last) + last->tail, src, room);
		last->tail += room;
	}
	frags_fill(frags, (const uint8_t *)src + room, len - room);
	if (frags != NULL)
		last->next = frags->slot;
	head->nb_segs += (uint16_t)nfrags;
	head->pkt_len += len;
	return 0;
}

/* The segment of head's chain that holds byte *off, with *off made relative
 * to that segment's data; NULL if the chain ends first. */
static const struct pkb *seg_find(const struct pkb *head, uint32_t *off)
{
	const struct pkb *seg = head;
	uint32_t n;

	for (n = 0; seg != NULL && n < head->nb_segs; n++, seg = pkb_next(seg)) {
		if (*off < pkb_len(seg))
			return seg;
		*off -= pkb_len(seg);
	}
	return NULL;
}

int pkb_copy_out(const struct pkb *head, uint32_t off, uint32_t len, void *dst)
{
	const struct pkb *seg;
	uint8_t *out = dst;
	uint32_t n, chunk;

	if (!pkb_debug_ok(head, false) || off > head->pkt_len || len > head->pkt_len - off)
		return -EINVAL;
	seg = seg_find(head, &off);
	for (n = 0; len > 0; n++, seg = pkb_next(seg), off = 0) {
		if (seg == NULL || n >= head->nb_segs)
			return -EINVAL;  /* segments hold less than pkt_len says */
		chunk = min_u32(len, pkb_len(seg) - off);
		memcpy(out, pkb_data(seg) + off, chunk);
		out += chunk;
		len -= chunk;
	}
	return 0;
}

const uint8_t *pkb_seg_at(const struct pkb *head, uint32_t off, uint32_t *contig)
{
	const struct pkb *seg;

	*contig = 0;
	if (!pkb_debug_ok(head, false) || off >= head->pkt_len)
		return NULL;
	seg = seg_find(head, &off);
	if (seg == NULL)
		return NULL;
	*contig = pkb_len(seg) - off;
	return pkb_data(seg) + off;
}
