/* shm/pkb_internal.h — the pool header: the one layout nicd and netd must agree
 * on beyond struct pkb. Private to shm/pkb.c (and shm/ tests); everyone else
 * goes through shm/pkb.h.
 *
 * A pool's memory is this header followed directly by slot 0, so any pkb finds
 * its pool header by slot arithmetic (pkb_hdr_of) — that is how operations
 * that are handed only a pkb (pkb_push, pkb_put) still count their drops.
 *
 *      mem                                        mem + PKB_POOL_HDR_SIZE
 *      +---------------+-----------------+---------+------------------------+---
 *      | line 0:       | line 1:         | line 2: | slot 0                 | ...
 *      | identity,     | top {idx, tag}, | error   | struct pkb + buffer    |
 *      | geometry      | free_count      | counters|                        |
 *      +---------------+-----------------+---------+------------------------+---
 *
 * Line 0 is written once at format and only read after; line 1 is the only
 * line caches contend on (once per magazine, not per packet); line 2 is
 * written only on errors and drops.
 */
#ifndef RINGSTACK_SHM_PKB_INTERNAL_H
#define RINGSTACK_SHM_PKB_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/pkb.h"

#define PKB_POOL_MAGIC     0x504b4250u  /* "PKBP" */
#define PKB_POOL_VERSION   1u           /* bump on any change to this file or struct pkb */

struct pkb_pool_hdr {
	/* ---- line 0: identity and geometry, fixed at format ---- */
	uint32_t magic;
	uint32_t version;
	uint32_t nslots;
	uint32_t buf_size;          /* data bytes per slot, multiple of 64 */
	uint32_t slot_size;         /* PKB_META_SIZE + buf_size */
	uint32_t meta_size;         /* PKB_META_SIZE the formatter was built with */
	uint64_t bytes;             /* pkb_pool_bytes(nslots, buf_size) */
	/* ---- line 1: the shared free stack ---- */
	/* {first slot of the top magazine (low 32 bits), ABA tag (high 32)};
	 * changed only by compare-exchange in pool_push / pool_pop. */
	_Alignas(64) _Atomic uint64_t top;
	_Atomic uint32_t free_count; /* relaxed; see pkb_pool_free_count */
	/* ---- line 2: counters, relaxed fetch_add, on errors and drops only ---- */
	_Alignas(64) _Atomic uint64_t alloc_fail;
	_Atomic uint64_t double_free;
	_Atomic uint64_t use_after_free;
	_Atomic uint64_t bad_index;
	_Atomic uint64_t shared_write;
	_Atomic uint64_t no_room;
};

#define PKB_POOL_HDR_SIZE 192u
_Static_assert(sizeof(struct pkb_pool_hdr) == PKB_POOL_HDR_SIZE, "pool header is three lines");
_Static_assert(offsetof(struct pkb_pool_hdr, top) == 64, "free stack on its own line");
_Static_assert(offsetof(struct pkb_pool_hdr, alloc_fail) == 128, "counters on their own line");
_Static_assert(sizeof(_Atomic uint64_t) == 8, "top must be one lock-free 64-bit word");

/* The header of the pool b lives in: just before slot 0. */
static inline struct pkb_pool_hdr *pkb_hdr_of(const struct pkb *b)
{
	return (struct pkb_pool_hdr *)((uint8_t *)pkb__slot(b, 0) - PKB_POOL_HDR_SIZE);
}

/* Count one event in the pool header. Relaxed: a counter orders nothing, and
 * readers (pkb_pool_stats, ctl) want a value, not a synchronisation. */
#define PKB_COUNT(hdr, name) \
	atomic_fetch_add_explicit(&(hdr)->name, 1, memory_order_relaxed)

#endif /* RINGSTACK_SHM_PKB_INTERNAL_H */
