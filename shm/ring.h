/* shm/ring.h — lock-free single-producer/single-consumer descriptor rings.
 *
 * Every hop of the data path is one of these: nicd <-> netd rx/tx rings, and
 * netd <-> app command/completion rings. A ring carries fixed-size descriptors
 * (pkb slot indices, command words), never bytes and never pointers.
 *
 * Shared layout (struct ring, placed by the caller in memory it provides; each
 * process maps it at its own address, so nothing inside is a pointer):
 *
 *     0      +-----------------------------+
 *            | identity: magic, version,   |  written by ring_init(),
 *            | count, mask, esize          |  checked at attach
 *     128    +-----------------------------+
 *            | prod: producer's index      |  written only by the producer
 *     256    +-----------------------------+
 *            | cons: consumer's index      |  written only by the consumer
 *     384    +-----------------------------+
 *            | slot[0] .. slot[count-1]    |  count * esize bytes
 *            +-----------------------------+
 *
 * The two indices sit 128 bytes apart: far enough that the adjacent-line
 * prefetcher (which pulls cache lines in 128-byte pairs) does not drag the
 * consumer's line along with the producer's. Indices are free-running 32-bit
 * counters; slot i lives at (i & mask), and prod - cons (modulo 2^32) is the
 * number of descriptors in the ring, 0 .. count. All count slots are usable.
 *
 * Views: each side works through a private view (struct ring_prod or struct
 * ring_cons) made by ring_prod_attach()/ring_cons_attach(). The view holds the
 * trusted values: base pointer, mask and size copied once at attach, the
 * side's own index (authoritative; the shared copy is only published), and a
 * cached copy of the other side's index. Rings are shared with untrusted
 * applications, which can scribble on anything in the shared layout; the view
 * never re-reads the shared mask, so every slot access is (index & mask) into
 * the slot array, whatever the peer writes. An impossible distance between the
 * indices (more than count) marks the view corrupt: it transfers nothing from
 * then on, and ring_prod_corrupt()/ring_cons_corrupt() say so. See
 * docs/RINGS.md for the protocol and the memory-ordering argument.
 *
 * Hot-path functions are static inline and always inlined, with the element
 * size as an argument (as DPDK's rte_ring_elem): pass a constant and the copy
 * loops fold to plain moves. Typed wrappers exist for 8- and 16-byte
 * descriptors. Counts are returned as unsigned (0 .. n), not as -errno: a
 * full or empty ring is not an error.
 */
#ifndef RINGSTACK_SHM_RING_H
#define RINGSTACK_SHM_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define RING_MAGIC      0x52494e47u   /* "RING" */
#define RING_VERSION    1u            /* bump when struct ring changes */
#define RING_HDR_SIZE   384u          /* identity + prod + cons blocks */
#define RING_COUNT_MAX  (1u << 30)    /* keeps count * esize sane and indices unambiguous */
#define RING_ESIZE_MAX  1024u         /* descriptors, not payloads */

#define RING_ALWAYS_INLINE static inline __attribute__((always_inline))
#define ring_likely(x)   __builtin_expect(!!(x), 1)
#define ring_unlikely(x) __builtin_expect(!!(x), 0)

/* The shared layout. Only the producer stores to prod, only the consumer to
 * cons; identity is written once by ring_init() before the ring is shared. */
struct ring {
	_Atomic uint32_t magic;            /* RING_MAGIC, stored last by ring_init() */
	uint32_t version;                  /* RING_VERSION */
	uint32_t count;                    /* slots, a power of two */
	uint32_t mask;                     /* count - 1 */
	uint32_t esize;                    /* bytes per slot, a multiple of 4 */
	uint8_t pad_id[128 - 5 * 4];
	_Atomic uint32_t prod;             /* next slot the producer fills */
	uint8_t pad_prod[128 - 4];
	_Atomic uint32_t cons;             /* next slot the consumer drains */
	uint8_t pad_cons[128 - 4];
	uint8_t slot[];                    /* count * esize bytes */
} __attribute__((aligned(64)));

_Static_assert(offsetof(struct ring, prod) == 128, "prod on its own 128-byte block");
_Static_assert(offsetof(struct ring, cons) == 256, "cons on its own 128-byte block");
_Static_assert(offsetof(struct ring, slot) == RING_HDR_SIZE, "slots follow the header");
_Static_assert(sizeof(struct ring) == RING_HDR_SIZE, "struct ring layout changed");
_Static_assert(sizeof(_Atomic uint32_t) == 4 && ATOMIC_INT_LOCK_FREE == 2,
	       "indices must be plain lock-free 32-bit words to be shared");

/* The producer's private view. 128-byte aligned so that a producer and a
 * consumer view in one process (threads, tests) never share a line pair:
 * embed it, or allocate it with aligned_alloc(128, ...), never plain malloc.
 * esize is the attached size; the *_elem calls must pass the same value. */
struct ring_prod {
	struct ring *r;                    /* base of the shared ring */
	uint32_t mask;                     /* trusted copy, never re-read */
	uint32_t size;                     /* mask + 1 */
	uint32_t esize;
	uint32_t head;                     /* our index: next slot to fill */
	uint32_t cons_cache;               /* last consumer index observed */
	bool corrupt;                      /* sticky: peer broke the protocol */
} __attribute__((aligned(128)));

/* The consumer's private view; mirror image of struct ring_prod. */
struct ring_cons {
	struct ring *r;
	uint32_t mask;
	uint32_t size;
	uint32_t esize;
	uint32_t head;                     /* our index: next slot to drain */
	uint32_t prod_cache;               /* last producer index observed */
	bool corrupt;
} __attribute__((aligned(128)));

/* A 16-byte descriptor, for the typed 16-byte wrappers. */
struct ring_u128 {
	uint64_t lo;
	uint64_t hi;
};

/* Bytes of shared memory a ring of count slots of esize bytes needs (header
 * included), or 0 if count is not a power of two in 1 .. RING_COUNT_MAX or
 * esize is not a multiple of 4 in 4 .. RING_ESIZE_MAX. */
size_t ring_bytes(uint32_t count, uint32_t esize);

/* Format mem (64-byte aligned, at least ring_bytes(count, esize) bytes) as an
 * empty ring. Call before the memory is shared. Returns 0 or -EINVAL. */
int ring_init(void *mem, uint32_t count, uint32_t esize);

/* ring_init() with both indices starting at start instead of 0. Any start is
 * valid (indices are free-running); tests use one near UINT32_MAX to cross the
 * 2^32 wrap within a few operations. */
int ring_init_at(void *mem, uint32_t count, uint32_t esize, uint32_t start);

/* Check the ring found at mem (len bytes mapped there) without attaching:
 * the header must carry our magic and version, the caller's esize, a
 * power-of-two count whose slots fit in len, and mask == count - 1; count
 * must equal the caller's count unless that is 0 ("whatever fits in len").
 * Returns 0, -EINVAL (bad arguments, misaligned mem) or -EPROTO (not a ring
 * we can use). */
int ring_validate(const void *mem, size_t len, uint32_t count, uint32_t esize);

/* Validate the ring at mem as ring_validate() does and make the producer's
 * (or consumer's) private view of it in *p. Each shared field is read once,
 * so a peer rewriting the header later changes nothing in the view. The
 * view's own index starts from the shared one (a restarted daemon carries on
 * where it stopped). Returns 0, an error of ring_validate(), or -EBADMSG if
 * the indices are more than count apart (the view is then made but corrupt).
 * Only one producer view and one consumer view may be in use on a ring at a
 * time; a view is used by one thread at a time. */
int ring_prod_attach(struct ring_prod *p, void *mem, size_t len,
		     uint32_t count, uint32_t esize);
int ring_cons_attach(struct ring_cons *c, void *mem, size_t len,
		     uint32_t count, uint32_t esize);

/* ------------------------------------------------------------------------
 * Memory ordering (the argument in full is in docs/RINGS.md):
 *
 *  - The producer writes slots, then publishes with a release store of prod.
 *    The consumer's acquire load of prod pairs with it: every slot write
 *    before the store is visible to reads after the load.
 *  - The consumer reads slots, then frees them with a release store of cons.
 *    The producer's acquire load of cons pairs with it: the consumer's slot
 *    reads are complete before the producer's next writes to those slots.
 *  - The cached index: a side uses its cached copy of the other's index in
 *    place of a fresh load. The copy was obtained by an acquire load, so the
 *    pairing above already covers every slot up to it; and an honest peer's
 *    index only moves forward, so a stale copy understates what is available
 *    (or free) and never overstates it. A side reloads only when the cached
 *    copy cannot satisfy the request, which is what keeps the other side's
 *    cache line from bouncing on every call.
 *  - A side's own index is kept in its view and only stored to the shared
 *    word, never loaded back, so the peer cannot move it.
 * ------------------------------------------------------------------------ */

/* Copy n descriptors of esize bytes from src into the slots starting at
 * index idx, wrapping at the end of the slot array. The per-element memcpy
 * with a constant esize compiles to one or two moves. Why one masked loop
 * rather than DPDK's two contiguous runs: GCC's loop distribution turns a
 * contiguous copy loop back into a call to memcpy, which measured 2-3x slower
 * for bursts of 1-8 (bench/ring_bench.c); the mask costs one AND. */
RING_ALWAYS_INLINE void ring__copy_in(uint8_t *slot, uint32_t mask, uint32_t idx,
				      const void *src, uint32_t esize, uint32_t n)
{
	const uint8_t *s = (const uint8_t *)src;
	uint32_t pos = idx & mask;

	for (uint32_t i = 0; i < n; i++) {
		memcpy(slot + (size_t)pos * esize, s + (size_t)i * esize, esize);
		pos = (pos + 1) & mask;
	}
}

/* Mirror image of ring__copy_in(): slots from idx into dst. */
RING_ALWAYS_INLINE void ring__copy_out(const uint8_t *slot, uint32_t mask, uint32_t idx,
				       void *dst, uint32_t esize, uint32_t n)
{
	uint8_t *d = (uint8_t *)dst;
	uint32_t pos = idx & mask;

	for (uint32_t i = 0; i < n; i++) {
		memcpy(d + (size_t)i * esize, slot + (size_t)pos * esize, esize);
		pos = (pos + 1) & mask;
	}
}

/* Reload the consumer's index and return the free slots. An honest consumer
 * is never ahead of us nor more than size behind; anything else means the
 * shared word was scribbled on: mark the view corrupt and report no space,
 * now and forever (cons_cache is set so the fast path always comes here). */
RING_ALWAYS_INLINE uint32_t ring__prod_refresh(struct ring_prod *p)
{
	uint32_t cons, used;

	if (ring_unlikely(p->corrupt))
		return 0;
	/* Acquire: pairs with the consumer's release store of cons in
	 * ring__dequeue(), so its reads of the slots we may now overwrite are
	 * done before our writes. */
	cons = atomic_load_explicit(&p->r->cons, memory_order_acquire);
	used = p->head - cons;
	if (ring_unlikely(used > p->size)) {
		p->corrupt = true;
		p->cons_cache = p->head - p->size;
		return 0;
	}
	p->cons_cache = cons;
	return p->size - used;
}

/* Reload the producer's index and return the descriptors available, or 0
 * and a corrupt view if the producer claims more than size (or is behind us). */
RING_ALWAYS_INLINE uint32_t ring__cons_refresh(struct ring_cons *c)
{
	uint32_t prod, avail;

	if (ring_unlikely(c->corrupt))
		return 0;
	/* Acquire: pairs with the producer's release store of prod in
	 * ring__enqueue(), so the slot writes it published are visible. */
	prod = atomic_load_explicit(&c->r->prod, memory_order_acquire);
	avail = prod - c->head;
	if (ring_unlikely(avail > c->size)) {
		c->corrupt = true;
		c->prod_cache = c->head;
		return 0;
	}
	c->prod_cache = prod;
	return avail;
}

/* Enqueue up to n descriptors; all or nothing when bulk. Returns the number
 * enqueued. Free space comes from the cached consumer index first and the
 * shared one only when the cache says there is not enough. */
RING_ALWAYS_INLINE unsigned ring__enqueue(struct ring_prod *p, const void *objs,
					  uint32_t esize, unsigned n, bool bulk)
{
	uint32_t free_slots = p->size - (p->head - p->cons_cache);

	if (ring_unlikely(free_slots < n)) {
		free_slots = ring__prod_refresh(p);
		if (free_slots < n) {
			if (bulk || free_slots == 0)
				return 0;
			n = free_slots;
		}
	}
	ring__copy_in(p->r->slot, p->mask, p->head, objs, esize, n);
	p->head += n;
	/* Release: pairs with the consumer's acquire load of prod in
	 * ring__cons_refresh(); publishes the slot writes above. */
	atomic_store_explicit(&p->r->prod, p->head, memory_order_release);
	return n;
}

/* Dequeue up to n descriptors into objs; all or nothing when bulk. */
RING_ALWAYS_INLINE unsigned ring__dequeue(struct ring_cons *c, void *objs,
					  uint32_t esize, unsigned n, bool bulk)
{
	uint32_t avail = c->prod_cache - c->head;

	if (ring_unlikely(avail < n)) {
		avail = ring__cons_refresh(c);
		if (avail < n) {
			if (bulk || avail == 0)
				return 0;
			n = avail;
		}
	}
	ring__copy_out(c->r->slot, c->mask, c->head, objs, esize, n);
	c->head += n;
	/* Release: pairs with the producer's acquire load of cons in
	 * ring__prod_refresh(); our slot reads above happen before it reuses
	 * the slots. */
	atomic_store_explicit(&c->r->cons, c->head, memory_order_release);
	return n;
}

/* Enqueue exactly n descriptors of esize bytes (esize must be the ring's)
 * from objs, or none. Returns n or 0. Producer only. */
RING_ALWAYS_INLINE unsigned ring_enqueue_bulk_elem(struct ring_prod *p, const void *objs,
						   uint32_t esize, unsigned n)
{
	return ring__enqueue(p, objs, esize, n, true);
}

/* Enqueue as many of the n descriptors as fit. Returns 0 .. n. */
RING_ALWAYS_INLINE unsigned ring_enqueue_burst_elem(struct ring_prod *p, const void *objs,
						    uint32_t esize, unsigned n)
{
	return ring__enqueue(p, objs, esize, n, false);
}

/* Dequeue exactly n descriptors into objs, or none. Returns n or 0. */
RING_ALWAYS_INLINE unsigned ring_dequeue_bulk_elem(struct ring_cons *c, void *objs,
						   uint32_t esize, unsigned n)
{
	return ring__dequeue(c, objs, esize, n, true);
}

/* Dequeue up to n descriptors into objs. Returns 0 .. n. */
RING_ALWAYS_INLINE unsigned ring_dequeue_burst_elem(struct ring_cons *c, void *objs,
						    uint32_t esize, unsigned n)
{
	return ring__dequeue(c, objs, esize, n, false);
}

/* Typed wrappers: 8-byte (a pkb index and flags) and 16-byte descriptors. */
RING_ALWAYS_INLINE unsigned ring_enqueue_bulk_u64(struct ring_prod *p, const uint64_t *objs, unsigned n)
{
	return ring__enqueue(p, objs, 8, n, true);
}

RING_ALWAYS_INLINE unsigned ring_enqueue_burst_u64(struct ring_prod *p, const uint64_t *objs, unsigned n)
{
	return ring__enqueue(p, objs, 8, n, false);
}

RING_ALWAYS_INLINE unsigned ring_dequeue_bulk_u64(struct ring_cons *c, uint64_t *objs, unsigned n)
{
	return ring__dequeue(c, objs, 8, n, true);
}

RING_ALWAYS_INLINE unsigned ring_dequeue_burst_u64(struct ring_cons *c, uint64_t *objs, unsigned n)
{
	return ring__dequeue(c, objs, 8, n, false);
}

RING_ALWAYS_INLINE unsigned ring_enqueue_bulk_u128(struct ring_prod *p,
						   const struct ring_u128 *objs, unsigned n)
{
	return ring__enqueue(p, objs, 16, n, true);
}

RING_ALWAYS_INLINE unsigned ring_enqueue_burst_u128(struct ring_prod *p,
						    const struct ring_u128 *objs, unsigned n)
{
	return ring__enqueue(p, objs, 16, n, false);
}

RING_ALWAYS_INLINE unsigned ring_dequeue_bulk_u128(struct ring_cons *c,
						   struct ring_u128 *objs, unsigned n)
{
	return ring__dequeue(c, objs, 16, n, true);
}

RING_ALWAYS_INLINE unsigned ring_dequeue_burst_u128(struct ring_cons *c,
						    struct ring_u128 *objs, unsigned n)
{
	return ring__dequeue(c, objs, 16, n, false);
}

/* Queries. Each reloads the other side's index (so it is exact at the time
 * of the load) and may therefore mark the view corrupt. A corrupt view
 * reports 0 descriptors and 0 free slots: both empty and full. */

/* Free slots, as the producer sees them. */
static inline uint32_t ring_prod_free(struct ring_prod *p)
{
	return ring__prod_refresh(p);
}

/* Descriptors in the ring, as the producer sees them. */
static inline uint32_t ring_prod_count(struct ring_prod *p)
{
	uint32_t free_slots = ring__prod_refresh(p);

	return p->corrupt ? 0 : p->size - free_slots;
}

static inline bool ring_prod_full(struct ring_prod *p)
{
	return ring_prod_free(p) == 0;
}

static inline bool ring_prod_empty(struct ring_prod *p)
{
	return ring_prod_count(p) == 0;
}

/* Descriptors available, as the consumer sees them. */
static inline uint32_t ring_cons_count(struct ring_cons *c)
{
	return ring__cons_refresh(c);
}

/* Free slots, as the consumer sees them. */
static inline uint32_t ring_cons_free(struct ring_cons *c)
{
	uint32_t avail = ring__cons_refresh(c);

	return c->corrupt ? 0 : c->size - avail;
}

static inline bool ring_cons_empty(struct ring_cons *c)
{
	return ring_cons_count(c) == 0;
}

static inline bool ring_cons_full(struct ring_cons *c)
{
	return ring_cons_free(c) == 0;
}

/* True once the view has seen the peer break the protocol (an index distance
 * above count). Sticky until the view is attached again. */
static inline bool ring_prod_corrupt(const struct ring_prod *p)
{
	return p->corrupt;
}

static inline bool ring_cons_corrupt(const struct ring_cons *c)
{
	return c->corrupt;
}

/* Slots in the ring (its capacity). */
static inline uint32_t ring_prod_size(const struct ring_prod *p)
{
	return p->size;
}

static inline uint32_t ring_cons_size(const struct ring_cons *c)
{
	return c->size;
}

#endif /* RINGSTACK_SHM_RING_H */
