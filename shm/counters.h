/* shm/counters.h — named counters exported through shared memory.
 *
 * "Where did my packet go?" is answered by counters, not a debugger (STYLE.md,
 * practice 10). A module declares its list once, as an X-macro of
 * X(NAME, "what a person reads"), and everything else is generated from it:
 *
 *     #define UDP_DROPS(X)                                          \
 *             X(TRUNCATED, "udp: datagram shorter than its header") \
 *             X(BAD_CSUM,  "udp: bad checksum")
 *
 *     #define UDP_DROP_ID(name, text) UDP_DROP_##name,
 *     enum udp_drop { UDP_DROPS(UDP_DROP_ID) UDP_DROP_NR };
 *     COUNTERS_DECLARE(udp_drops, UDP_DROPS, UDP_DROP_NR);
 *
 * The enum is the module's own line because C cannot paste a prefix it is not
 * given onto the list's names; COUNTERS_DECLARE checks that it has one entry
 * per list item. The set's tag must differ from the enum's (C keeps struct and
 * enum tags in one namespace). It then defines:
 *
 *     struct udp_drops     the shared layout: a header (magic, count of
 *                          counters, hash of their names) and uint64 v[NR],
 *                          starting on its own cache line
 *     udp_drops_desc()     the table of { "TRUNCATED", "udp: ..." }
 *     udp_drops_init()     format a set in shared memory (all zero)
 *     udp_drops_check()    attach: 0, or -EPROTO if the set in memory was
 *                          built from another list (other names or order)
 *     udp_drops_snapshot() copy the values into a uint64_t[NR]
 *
 * and the data path bumps a counter with COUNTER_INC(set, UDP_DROP_BAD_CSUM).
 *
 * Writers. A set has either one writer (one engine thread owns it), which bumps
 * with COUNTER_INC / COUNTER_ADD: a relaxed load and a relaxed store, no lock
 * and no locked instruction, exact because nobody else stores to the word. Or
 * it is bumped by several threads or processes, which must all use
 * COUNTER_INC_MP / COUNTER_ADD_MP (a relaxed fetch_add, as DPDK says MP for
 * multi-producer). Never mix the two on one counter: a plain store would undo
 * another writer's fetch_add.
 *
 * Readers (any process) take relaxed loads: each counter is exact at some
 * moment of the read, counters never go backwards, and two counters are not
 * read at one instant (a "rx" may be read one ahead of the "drop" it explains).
 */
#ifndef RINGSTACK_SHM_COUNTERS_H
#define RINGSTACK_SHM_COUNTERS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define COUNTERS_MAGIC    0x434e5452u   /* "CNTR" */
#define COUNTERS_VERSION  1u

/* Header of every set, in shared memory. */
struct counters_hdr {
	uint32_t magic;          /* COUNTERS_MAGIC */
	uint16_t version;        /* COUNTERS_VERSION: this header and the value array */
	uint16_t nr;             /* counters that follow */
	uint32_t names_hash;     /* FNV-1a of the names in order: a set built from a
	                          * different list refuses to attach */
	uint32_t reserved;
};
_Static_assert(sizeof(struct counters_hdr) == 16, "counters_hdr layout changed");

/* One list item, as a person reads it (process-local, never shared). */
struct counters_desc {
	const char *name;        /* the list's NAME, e.g. "BAD_CSUM" */
	const char *text;        /* its description */
};

/* Flags for counters_fprint(). */
#define COUNTERS_SKIP_ZERO  0x1u        /* leave out counters that are 0 */
#define COUNTERS_WITH_TEXT  0x2u        /* append "  # description" */

/* ------------------------------------------------------- bumping a counter */

/* Single writer: only this thread ever stores to the counter, so load + store
 * loses nothing; relaxed atomics keep a remote reader's 64-bit load whole.
 * Nothing else is ordered by a counter, so no acquire/release pairs with it. */
#define COUNTER_ADD(set, id, n)                                                 \
	counters_add_sw(&(set)->v[(id)], (n))
#define COUNTER_INC(set, id)      COUNTER_ADD(set, id, 1)

/* Several writers: one relaxed fetch_add (a locked add on x86). */
#define COUNTER_ADD_MP(set, id, n)                                              \
	((void)atomic_fetch_add_explicit(&(set)->v[(id)], (uint64_t)(n),       \
					 memory_order_relaxed))
#define COUNTER_INC_MP(set, id)   COUNTER_ADD_MP(set, id, 1)

static inline void counters_add_sw(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* --------------------------------------------------------- declaring a set */

/* Generated helpers are static inline and marked unused: a module uses only
 * some of them, and clang warns about unused ones declared in a .c file. */
#define COUNTERS__FN                static inline __attribute__((unused))
#define COUNTERS__DESC(name, text)  { #name, text },
#define COUNTERS__ONE(name, text)   + 1

/* Number of items in an X-macro list, as a constant expression. */
#define COUNTERS_LEN(LIST)          (0 LIST(COUNTERS__ONE))

#define COUNTERS_DECLARE(tag, LIST, NR)                                         \
	_Static_assert((NR) == COUNTERS_LEN(LIST),                              \
		       #tag ": enum and list disagree");                        \
	_Static_assert((NR) <= UINT16_MAX, #tag ": too many counters");         \
	struct tag {                                                            \
		_Alignas(64) struct counters_hdr hdr;                           \
		_Atomic uint64_t v[NR];                                         \
	};                                                                      \
	_Static_assert(offsetof(struct tag, v) == sizeof(struct counters_hdr),  \
		       #tag ": values follow the header");                      \
	_Static_assert(sizeof(struct tag) % 64 == 0,                            \
		       #tag ": a set fills whole cache lines");                 \
	COUNTERS__FN const struct counters_desc *tag##_desc(void)               \
	{                                                                       \
		static const struct counters_desc d[(NR) + 1] = {               \
			LIST(COUNTERS__DESC) { NULL, NULL }                     \
		};                                                              \
		return d;                                                       \
	}                                                                       \
	COUNTERS__FN void tag##_init(struct tag *set)                           \
	{                                                                       \
		counters_init(&set->hdr, set->v, tag##_desc(), (NR));           \
	}                                                                       \
	COUNTERS__FN int tag##_check(const struct tag *set)                     \
	{                                                                       \
		return counters_check(&set->hdr, tag##_desc(), (NR));           \
	}                                                                       \
	COUNTERS__FN void tag##_snapshot(const struct tag *set, uint64_t *out)  \
	{                                                                       \
		counters_snapshot(set->v, out, (NR));                           \
	}                                                                       \
	struct tag /* the caller's semicolon ends this declaration */

/* ------------------------------------------ generic helpers (counters.c) */

/* Format a set in memory: header for the list desc[0..nr), values all 0.
 * Call before the memory is shared; its publisher's release covers it. */
void counters_init(struct counters_hdr *hdr, _Atomic uint64_t *v,
		   const struct counters_desc *desc, unsigned nr);

/* Check that a set in (possibly foreign) memory was formatted from the same
 * list as desc[0..nr). Returns 0, or -EPROTO (magic, version, nr or names). */
int counters_check(const struct counters_hdr *hdr,
		   const struct counters_desc *desc, unsigned nr);

/* Copy nr values into out[] with relaxed loads (any process, any time). */
void counters_snapshot(const _Atomic uint64_t *v, uint64_t *out, unsigned nr);

/* The hash counters_init() stores for desc[0..nr). */
uint32_t counters_names_hash(const struct counters_desc *desc, unsigned nr);

/* Print "prefix.NAME value" lines (prefix may be NULL or "") for nr values,
 * as a snapshot gave them, per flags (COUNTERS_SKIP_ZERO, COUNTERS_WITH_TEXT).
 * Returns the number of lines printed, or -EIO if writing failed. */
int counters_fprint(FILE *f, const char *prefix, const struct counters_desc *desc,
		    const uint64_t *val, unsigned nr, unsigned flags);

#endif /* RINGSTACK_SHM_COUNTERS_H */
