/* shm/pkb.h — packet buffers: ringstack's sk_buff.
 *
 * A pool is a run of fixed-size *slots* inside a shared region that nicd and
 * netd both map, each at its own address. A slot is 128 bytes of metadata
 * (struct pkb) followed by the data buffer it owns:
 *
 *      slot i                       slot i+1
 *      +----------+--------------------------------------+----------+----
 *      | struct   | head      data         tail     end  | struct   |
 *      | pkb      |  |<-headroom->|<--len-->|<-tailroom->| pkb      | ...
 *      +----------+--------------------------------------+----------+----
 *                 ^ pkb_buf(b) == head, offset 0: offsets count from here
 *
 * Nothing inside a pool is a pointer: data, tail and end are byte offsets into
 * the data buffer (head is offset 0 by definition: a slot's buffer never
 * moves, so it needs no field), chains and clones name other slots by index,
 * and a slot finds another slot's address from its own (slot arithmetic), so
 * every process that maps the pool can follow them. Rings carry slot indices
 * (pkb_index / pkb_at), never addresses.
 *
 * Ownership: a pkb has one owner at a time; handing its index over a ring hands
 * over ownership. A clone (pkb_clone) has its own metadata and shares the
 * original's data; shared data is read-only, so pkb_push and pkb_put refuse
 * (NULL) on a pkb whose data is shared, while pkb_pull and pkb_trim, which only
 * move this pkb's own offsets, are allowed.
 *
 * Checked and unchecked twins (Linux's skb_push / __skb_push): pkb_push, pkb_pull,
 * pkb_put and pkb_trim either succeed or leave the pkb unchanged; the `__`
 * versions skip the checks for a hot path that has already made them.
 *
 * Debug builds (-DPKB_DEBUG=1, as `make SAN=1` and the fuzzers build) also
 * check every pkb handed to the pool for double free, use after free and
 * out-of-range indices, count them in the pool header and refuse the
 * operation instead of corrupting the pool. Release builds keep the checks
 * that guard memory against indices from rings (pkb_at) and count the drops
 * (alloc_fail, no_room, shared_write) that normal traffic can cause.
 *
 * Free slots: a process allocates and frees through its own struct pkb_cache
 * (no shared write per packet); caches exchange slots with the shared pool a
 * *magazine* (up to PKB_MAGAZINE slots) at a time, one CAS each. The pool's
 * free list is a lock-free stack of magazines; pkb.c argues its ABA safety
 * and memory ordering, docs/PKB.md draws it.
 */
#ifndef RINGSTACK_SHM_PKB_H
#define RINGSTACK_SHM_PKB_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#ifndef PKB_DEBUG
#define PKB_DEBUG 0
#endif

#define PKB_NONE            UINT32_MAX  /* "no slot": end of a chain */
#define PKB_META_SIZE       128u        /* struct pkb, two cache lines */
#define PKB_HEADROOM        128u        /* reserved by pkb_alloc for headers to push */
#define PKB_DEFAULT_BUFSIZE 2048u       /* one 1500-byte frame plus headroom, 64-aligned */
#define PKB_CACHE_MAX       256u        /* slots a per-consumer cache may hold */
#define PKB_MAGAZINE        32u         /* slots moved between cache and pool at once */
#define PKB_BUF_MIN         (PKB_HEADROOM + 64u)  /* smallest data buffer a pool accepts */
#define PKB_BUF_MAX         65536u      /* largest: header offsets are 16-bit */
#define PKB_POOL_MAX_SLOTS  (1u << 24)  /* 16M slots: indices stay far from PKB_NONE */

/* Per-stage timestamps (ns, CLOCK_MONOTONIC) that every stage stamps as the
 * packet passes; the difference of two is a per-stage latency sample. */
enum pkb_stage {
	PKB_TS_NIC_RX = 0,   /* nicd took the frame off the device */
	PKB_TS_NETD_RX,      /* netd dequeued it from the rx ring */
	PKB_TS_PROTO,        /* proto/ finished with it */
	PKB_TS_APP,          /* handed to an application's socket */
	PKB_TS_APP_TX,       /* an application's send produced it */
	PKB_TS_NETD_TX,      /* netd enqueued it on a tx ring */
	PKB_TS_NIC_TX,       /* nicd handed it to the device */
	PKB_TS_COUNT
};

/* Lifecycle states, kept so that misuse is caught rather than corrupting. */
enum pkb_state {
	PKB_STATE_FREE = 0x46524545u,     /* "FREE": in the pool or a cache */
	PKB_STATE_LIVE = 0x4c495645u,     /* "LIVE": owned by someone */
	PKB_STATE_DETACHED = 0x44455441u, /* "DETA": owner freed it, clones still use its data */
};

enum pkb_flags {
	PKB_F_CLONE = 1u << 0,     /* data lives in slot data_slot, not in this slot */
	PKB_F_CSUM_OK = 1u << 1,   /* checksums verified (or trusted) already */
	PKB_F_VLAN = 1u << 2,      /* vlan_tci is valid */
};

/* Metadata of one slot. The first cache line holds what every stage touches.
 * While a slot is FREE its geometry means nothing; the pool links a magazine's
 * slots through `next` (a magazine is a chain of free pkbs) and magazines
 * through `free_next` of their first slot. */
struct pkb {
	/* ---- cache line 0: geometry and ownership ---- */
	uint32_t slot;            /* own index, fixed at pool format */
	uint32_t data_slot;       /* slot whose buffer holds the data (== slot unless a clone) */
	uint32_t slot_size;       /* bytes from one struct pkb to the next, fixed */
	uint32_t data;            /* offsets into the data buffer: 0 <= data <= tail <= end */
	uint32_t tail;
	uint32_t end;
	uint32_t pkt_len;         /* bytes in the whole chain; kept on the chain's first pkb */
	uint32_t next;            /* next fragment's slot, or PKB_NONE */
	uint16_t nb_segs;         /* pkbs in the chain, on the first pkb */
	uint16_t flags;           /* enum pkb_flags */
	_Atomic uint32_t refcnt;  /* references to this slot's data: owner + clones
	                           * (a clone's own slot holds 1: its metadata) */
	uint32_t state;           /* enum pkb_state */
	uint16_t l2_off;          /* header offsets from head (offset 0), set by the parsers */
	uint16_t l3_off;
	uint16_t l4_off;
	uint16_t vlan_tci;
	uint32_t hash;            /* flow hash (software RSS) */
	uint16_t port;            /* device queue it came from / goes to */
	uint16_t reserved;
	/* Pool-private: on the first slot of a magazine in the pool's stack, the
	 * first slot of the next magazine. Only the pool touches it, and only
	 * atomically, because a cache popping a stale top may read it while the
	 * slot is LIVE elsewhere (see pool_pop in pkb.c). */
	_Atomic uint32_t free_next;
	/* ---- cache line 1: per-stage timestamps, owner's word ---- */
	uint64_t ts[PKB_TS_COUNT];
	uint64_t user;            /* one word for the current owner's use */
};
_Static_assert(sizeof(struct pkb) == PKB_META_SIZE, "struct pkb must be two cache lines");
_Static_assert(offsetof(struct pkb, free_next) == 60, "geometry fits the first cache line");
_Static_assert(offsetof(struct pkb, ts) == 64, "timestamps start the second cache line");
_Static_assert(offsetof(struct pkb, user) == 120, "user word ends the second cache line");

/* Pool header, at the start of the pool's memory (shared). */
struct pkb_pool_hdr;

/* A process's handle on a pool it has formatted or attached (process-local). */
struct pkb_pool {
	struct pkb_pool_hdr *hdr;
	uint8_t *slots;           /* address of slot 0 in this process */
	uint32_t nslots;
	uint32_t slot_size;
	uint32_t buf_size;
};

/* A per-consumer cache of free slots (process-local, one per thread or engine),
 * so that allocating and freeing cost no cross-core atomic per packet: slots
 * move between a cache and the shared pool a magazine at a time. */
struct pkb_cache {
	struct pkb_pool *pool;
	uint32_t count;
	uint32_t slots[PKB_CACHE_MAX];
};

/* Drop/misuse counters a pool keeps in its shared header. */
struct pkb_pool_stats {
	uint64_t alloc_fail;     /* pool empty */
	uint64_t double_free;    /* freed a FREE or DETACHED pkb (debug builds) */
	uint64_t use_after_free; /* operated on a pkb that is not LIVE (debug builds) */
	uint64_t bad_index;      /* a slot index outside the pool */
	uint64_t shared_write;   /* push/put refused on shared (cloned) data */
	uint64_t no_room;        /* push/put refused for lack of head/tailroom */
};

/* ----------------------------------------------------------------- pool */

/* Bytes of memory a pool of `nslots` slots with `buf_size`-byte data buffers
 * needs (header included). buf_size is rounded up to a multiple of 64.
 * Returns 0 when the sizes are outside the limits above. */
size_t pkb_pool_bytes(uint32_t nslots, uint32_t buf_size);

/* Format a new pool in `mem` (len bytes, 64-byte aligned, shared or not) and
 * fill `pool` with this process's handle. Every slot starts FREE, in the
 * pool's stack of magazines (the last one partial when nslots is not a
 * multiple of PKB_MAGAZINE). Nobody else may use `mem` during the call.
 * Returns 0, or -EINVAL for bad sizes / alignment / too small a `len`. */
int pkb_pool_format(struct pkb_pool *pool, void *mem, size_t len,
		    uint32_t nslots, uint32_t buf_size);

/* Attach to a pool another process formatted in `mem`. Checks the header's
 * magic, layout version and that its geometry fits in `len`.
 * Returns 0, -EPROTO (bad magic/version) or -EINVAL (geometry). */
int pkb_pool_attach(struct pkb_pool *pool, void *mem, size_t len);

/* Copy the pool's counters (relaxed reads; may be read from any process). */
void pkb_pool_stats(const struct pkb_pool *pool, struct pkb_pool_stats *out);

/* Slots currently free in the shared pool (not counting those in caches).
 * A relaxed counter kept beside the stack's top: exact when no cache is
 * moving a magazine; while one is, it may run ahead of the stack by that
 * magazine (a spill counts before it publishes, a refill after it takes),
 * never behind and never below zero. nslots - free_count after every cache
 * has flushed is the number of leaked slots. */
uint32_t pkb_pool_free_count(const struct pkb_pool *pool);

/* ---------------------------------------------------------------- caches */

/* Make `cache` an empty cache on `pool`. A cache belongs to one thread; the
 * pool handle must outlive it. */
void pkb_cache_init(struct pkb_cache *cache, struct pkb_pool *pool);

/* Return every slot the cache holds to the shared pool (call before exit;
 * slots left in a dead process's cache are lost until the pool is formatted
 * again). */
void pkb_cache_flush(struct pkb_cache *cache);

/* ------------------------------------------------------ alloc, free, clone */

/* Allocate one pkb: LIVE, refcnt 1, empty, with PKB_HEADROOM reserved, every
 * other field zero (timestamps included), next PKB_NONE, nb_segs 1.
 * Returns NULL (and counts alloc_fail) when the pool is empty. */
struct pkb *pkb_alloc(struct pkb_cache *cache);

/* Allocate n pkbs into out[]; all or nothing: returns n, or 0 (one alloc_fail
 * counted, nothing left allocated) when the pool cannot supply them all. */
unsigned pkb_alloc_bulk(struct pkb_cache *cache, struct pkb **out, unsigned n);

/* Release the caller's reference to b and to every fragment chained after it;
 * freed slots go to `cache` (any cache on b's pool: the freer need not be the
 * allocator). A segment whose data clones still share becomes DETACHED: its
 * metadata is dead, its buffer lives until the last clone is freed, in either
 * order. NULL is a no-op. Debug builds count double frees (FREE or DETACHED)
 * and frees into another pool's cache, and ignore them. */
void pkb_free(struct pkb_cache *cache, struct pkb *b);

/* A new pkb (PKB_F_CLONE) with its own metadata: offsets, pkt_len (this
 * segment's length), header offsets, hash, port, vlan, flags, timestamps and
 * user copied; next PKB_NONE. It shares b's data, which stays read-only for
 * every holder (push/put refuse) until only one reference is left on a
 * non-clone. Clones only the first segment of a chain; cloning a clone shares
 * the same data. Returns NULL if the pool is empty (alloc_fail counted). */
struct pkb *pkb_clone(struct pkb_cache *cache, struct pkb *b);

/* A deep, writable copy of the whole chain: same headroom (so header offsets
 * stay valid) and the same metadata as pkb_clone copies, without PKB_F_CLONE;
 * data linearised as far as each buffer allows. Returns NULL if the pool is
 * empty (nothing left allocated). */
struct pkb *pkb_copy(struct pkb_cache *cache, const struct pkb *b);

/* -------------------------------------------------------------- indices */

/* The slot index to put in a ring descriptor. */
static inline uint32_t pkb_index(const struct pkb *b) { return b->slot; }

/* The pkb at slot `idx`, or NULL (counted as bad_index) when idx is outside
 * the pool: indices from rings are checked before use, in every build. Debug
 * builds also return NULL (counted as use_after_free) for a slot not LIVE. */
struct pkb *pkb_at(const struct pkb_pool *pool, uint32_t idx);

/* ---------------------------------------------------------- geometry */

/* Address of the pkb in slot `idx`, found from b's own address. */
static inline struct pkb *pkb__slot(const struct pkb *b, uint32_t idx)
{
	return (struct pkb *)((uint8_t *)b + ((int64_t)idx - (int64_t)b->slot) * b->slot_size);
}

/* Start of b's data buffer (offset 0; head is measured from here). */
static inline uint8_t *pkb_buf(const struct pkb *b)
{
	return (uint8_t *)pkb__slot(b, b->data_slot) + PKB_META_SIZE;
}

static inline uint8_t *pkb_data(const struct pkb *b) { return pkb_buf(b) + b->data; }
static inline uint32_t pkb_len(const struct pkb *b) { return b->tail - b->data; }
static inline uint32_t pkb_headroom(const struct pkb *b) { return b->data; }
static inline uint32_t pkb_tailroom(const struct pkb *b) { return b->end - b->tail; }
static inline int pkb_is_shared(const struct pkb *b)
{
	/* A count can only rise through a holder of a reference, so 1 cannot
	 * become 2 behind our back. Acquire pairs with the acq_rel decrement a
	 * clone's owner makes in pkb_free: once we see 1, that clone's reads of
	 * the data happen before the writes our caller is about to make. */
	return (b->flags & PKB_F_CLONE) ||
	       atomic_load_explicit(&b->refcnt, memory_order_acquire) > 1;
}

/* Next fragment of a chain, or NULL. */
static inline struct pkb *pkb_next(const struct pkb *b)
{
	return b->next == PKB_NONE ? NULL : pkb__slot(b, b->next);
}

/* Unchecked twins: the caller has checked room, length and sharing. */
static inline uint8_t *__pkb_push(struct pkb *b, uint32_t len)
{
	b->data -= len;
	b->pkt_len += len;
	return pkb_buf(b) + b->data;
}

static inline uint8_t *__pkb_pull(struct pkb *b, uint32_t len)
{
	b->data += len;
	b->pkt_len -= len;
	return pkb_buf(b) + b->data;
}

static inline uint8_t *__pkb_put(struct pkb *b, uint32_t len)
{
	uint8_t *old_tail = pkb_buf(b) + b->tail;

	b->tail += len;
	b->pkt_len += len;
	return old_tail;
}

/* Prepend len bytes (a header) in front of the data and grow pkt_len; returns
 * the new data start, or NULL with b unchanged if the headroom is too small
 * (no_room counted) or the data is shared (shared_write counted). */
uint8_t *pkb_push(struct pkb *b, uint32_t len);

/* Remove len bytes from the front of the first segment (a parsed header);
 * returns the new data start, or NULL with b unchanged if the segment is
 * shorter than len (the caller counts its own drop). Allowed on shared data. */
uint8_t *pkb_pull(struct pkb *b, uint32_t len);

/* Append len bytes at the tail of this segment and grow its pkt_len (on a
 * fragment that is not the chain's first, the caller fixes the first's
 * pkt_len: pkb_append does it all); returns where to write them, or NULL with
 * b unchanged if the tailroom is too small (no_room) or the data is shared
 * (shared_write). */
uint8_t *pkb_put(struct pkb *b, uint32_t len);

/* Shorten the whole chain to len bytes, freeing fragments that fall off the
 * end into `cache`. Allowed on shared data (only offsets move). Returns 0, or
 * -EINVAL with the chain unchanged if len > pkt_len. */
int pkb_trim(struct pkb_cache *cache, struct pkb *b, uint32_t len);

/* Move the empty pkb's data start forward by len (reserve headroom). Returns 0
 * or -EINVAL if b is not empty or len exceeds its tailroom. */
int pkb_reserve(struct pkb *b, uint32_t len);

/* ------------------------------------------------------------ chains */

/* Append `frag` (and its chain) to the end of `head`'s chain; head takes
 * ownership. Updates head's pkt_len and nb_segs (frag's own become
 * meaningless). Debug builds refuse a frag that is not LIVE or is head. */
void pkb_chain(struct pkb *head, struct pkb *frag);

/* Append len bytes from src to the chain, filling the last segment's tailroom
 * first (unless its data is shared) and allocating fragments (no headroom) as
 * needed. All or nothing: returns 0, -ENOBUFS with the chain unchanged (pool
 * empty), or -EINVAL if pkt_len or nb_segs would overflow. */
int pkb_append(struct pkb_cache *cache, struct pkb *head, const void *src, uint32_t len);

/* Copy len bytes starting at byte `off` of the chain into dst. Returns 0 or
 * -EINVAL if the chain is shorter than off + len. */
int pkb_copy_out(const struct pkb *head, uint32_t off, uint32_t len, void *dst);

/* Bytes of b's chain starting at `off` that are contiguous in one segment, and
 * their address (NULL and *contig 0 if off is at or past the end): for readers
 * that walk a chain without copying. */
const uint8_t *pkb_seg_at(const struct pkb *head, uint32_t off, uint32_t *contig);

#endif /* RINGSTACK_SHM_PKB_H */
