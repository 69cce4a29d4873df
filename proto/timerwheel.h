/* proto/timerwheel.h — a hierarchical timer wheel driven only by the time it is given.
 *
 * Where it sits: netd keeps one wheel per engine for its TCBs (retransmission,
 * delayed ACK, keepalive, TIME_WAIT). proto/ reads no clock: the caller arms
 * entries with absolute deadlines (ns) and calls tw_advance(now) when
 * tw_next_deadline() has passed.
 *
 * Index-based, because the records live in shared memory that a restarted
 * daemon re-attaches at a different address: a struct tw_entry is embedded in
 * each of the caller's records, entries name each other by record index, and
 * the process-local handle (struct tw) knows where record i is:
 *
 *      entry(i) = base + i * stride + entry_off
 *
 * struct tw_wheel (the slot heads, bitmaps and clock) holds no pointer either,
 * so it may sit in the same shared region; after a re-map, tw_attach() again.
 *
 * Geometry: TW_LEVELS levels of 64 slots, level L slots each 64^L ticks wide
 * (Varghese & Lauck's scheme 7, as Linux's classic wheel): level 0 is exact to
 * the tick, higher levels cascade their slot into the lower ones when the clock
 * reaches it. A 64-bit bitmap per level finds the next busy slot, so a long idle
 * gap costs a few bit scans, not one step per tick. Deadlines past the top
 * level's span (64^6 ticks, 2.2 years at 1 ms) wait in the top level and are
 * re-placed when it cascades.
 *
 * Semantics, exactly (the unit test checks them against a reference model):
 * with tick = tick_ns, an entry armed for `expires` fires during the first
 * tw_advance(now) with floor(now / tick) >= ceil(expires / tick): never early,
 * late by less than one tick. Arm, re-arm and cancel are O(1).
 */
#ifndef RINGSTACK_PROTO_TIMERWHEEL_H
#define RINGSTACK_PROTO_TIMERWHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TW_LEVELS     6
#define TW_SLOTS      64u                        /* slots per level: one bitmap word */
#define TW_NHEADS     (TW_LEVELS * TW_SLOTS + 1) /* + the "due now" list */
#define TW_NONE       UINT32_MAX                 /* no entry / not armed */

/* Embedded in each of the caller's records (shared memory). Zero-filled is
 * NOT "unarmed": call tw_entry_init() once when the record is created. */
struct tw_entry {
	uint64_t expires;   /* absolute deadline (ns) while armed */
	uint32_t next;      /* record indices of the neighbours in the slot list */
	uint32_t prev;
	uint32_t slot;      /* head index it hangs on, or TW_NONE when unarmed */
	uint32_t reserved;
};
_Static_assert(sizeof(struct tw_entry) == 24, "tw_entry is part of shared layouts");

/* The wheel's state: fixed-width, pointer-free, may live in shared memory. */
struct tw_wheel {
	uint64_t tick_ns;              /* granularity, fixed at tw_init */
	uint64_t cur;                  /* next tick to process */
	uint32_t count;                /* entries armed */
	uint32_t reserved;
	uint64_t busy[TW_LEVELS];      /* bit s: slot s of that level is non-empty */
	uint32_t head[TW_NHEADS];      /* first entry of each slot list, TW_NONE if empty */
};

/* A process's handle on a wheel and on the records its entries live in. */
struct tw {
	struct tw_wheel *wheel;
	uint8_t *base;                 /* record 0 in this process */
	size_t stride;                 /* bytes from one record to the next */
	size_t entry_off;              /* offsetof(record, its struct tw_entry) */
	uint32_t nrecords;             /* valid indices are 0 .. nrecords-1 */
};

/* Called once per expired entry. The entry is already unarmed; the callback
 * may re-arm it or arm/cancel any other entry. */
typedef void (*tw_expire_fn)(void *ctx, uint32_t index);

/* Format an empty wheel whose clock starts at `now` (ns). tick_ns is the
 * granularity (netd uses 1 ms). Returns 0, or -EINVAL for tick_ns == 0. */
int tw_init(struct tw_wheel *w, uint64_t tick_ns, uint64_t now);

/* Fill the process-local handle `t` for wheel `w` whose entries sit at
 * base + i * stride + entry_off, i < nrecords. Call again after re-mapping.
 * Returns 0, or -EINVAL for a NULL base/wheel, an entry past the stride or
 * nrecords >= TW_NONE. Does not touch the wheel or the entries. */
int tw_attach(struct tw *t, struct tw_wheel *w, void *base, size_t stride,
	      size_t entry_off, uint32_t nrecords);

/* Mark a freshly created record's entry unarmed. */
void tw_entry_init(struct tw_entry *e);

/* Arm record `index` to fire at `expires` (ns), re-arming it if it was armed.
 * A deadline at or before the wheel's clock fires at the next tw_advance.
 * Returns 0, or -EINVAL for an index out of range. */
int tw_arm(struct tw *t, uint32_t index, uint64_t expires);

/* Disarm record `index`; a no-op when it is not armed.
 * Returns 0, or -EINVAL for an index out of range. */
int tw_cancel(struct tw *t, uint32_t index);

/* True if record `index` is armed (false for an index out of range). */
bool tw_armed(const struct tw *t, uint32_t index);

/* Run the clock forward to `now` and call cb(ctx, index) for each entry due
 * (see the semantics above), at most `budget` times. Returns how many fired;
 * when that equals budget, more may be due: call again (tw_next_deadline
 * tells). Time that goes backwards is ignored. */
unsigned tw_advance(struct tw *t, uint64_t now, unsigned budget,
		    tw_expire_fn cb, void *ctx);

/* A time (ns) at which tw_advance next has work: exact for deadlines within
 * 64 ticks of the clock; for farther ones, the moment their slot cascades,
 * which is earlier (so a sleeper wakes at most TW_LEVELS-1 times early per
 * entry, and never late). 0 if an entry is already due, UINT64_MAX if none
 * is armed. */
uint64_t tw_next_deadline(const struct tw *t);

/* Entries armed. */
static inline uint32_t tw_count(const struct tw *t) { return t->wheel->count; }

#endif /* RINGSTACK_PROTO_TIMERWHEEL_H */
