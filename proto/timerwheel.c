/* proto/timerwheel.c — the hierarchical timer wheel (see timerwheel.h).
 *
 * Slot lists are doubly linked through the entries by record index; head[]
 * holds each list's first index. Head h < TW_LEVELS * 64 is slot (h % 64) of
 * level (h / 64); head TW_DUE holds entries whose tick the clock has already
 * passed. The clock `cur` is the next tick to process.
 *
 * Placement, for an entry due at tick e with d = e - cur: the lowest level L
 * with d < 64^(L+1), in slot (e >> 6L) & 63. Level L's slot s is processed at
 * the first tick T >= cur with T a multiple of 64^L and (T >> 6L) & 63 == s:
 * at level 0 that is e itself (the entry fires); above, the slot is emptied
 * and its entries placed again (a cascade), which drops them at least one
 * level. An entry placed that way is never in a slot that is processed before
 * its tick: d < 64^(L+1) rules out an earlier T with the same slot number.
 */
#include "proto/timerwheel.h"

#include <errno.h>

#define TW_DUE        (TW_LEVELS * TW_SLOTS)   /* head of the "already due" list */
#define TW_SHIFT(L)   (6u * (unsigned)(L))     /* log2 of a level-L slot's width */
#define TW_SPAN_TOP   (1ull << TW_SHIFT(TW_LEVELS))
#define TW_EXTRA_STEPS 1024u                   /* cascade-only steps per call, beyond budget */

static struct tw_entry *tw__entry(const struct tw *t, uint32_t i)
{
	return (struct tw_entry *)(t->base + (size_t)i * t->stride + t->entry_off);
}

/* First tick at which `expires` (ns) is due: ceil(expires / tick). */
static uint64_t tw__tick_of(const struct tw_wheel *w, uint64_t expires)
{
	return expires / w->tick_ns + (expires % w->tick_ns != 0);
}

int tw_init(struct tw_wheel *w, uint64_t tick_ns, uint64_t now)
{
	if (tick_ns == 0)
		return -EINVAL;
	w->tick_ns = tick_ns;
	w->cur = now / tick_ns;
	w->count = 0;
	w->reserved = 0;
	for (unsigned l = 0; l < TW_LEVELS; l++)
		w->busy[l] = 0;
	for (unsigned h = 0; h < TW_NHEADS; h++)
		w->head[h] = TW_NONE;
	return 0;
}

int tw_attach(struct tw *t, struct tw_wheel *w, void *base, size_t stride,
	      size_t entry_off, uint32_t nrecords)
{
	if (w == NULL || base == NULL || nrecords >= TW_NONE ||
	    entry_off + sizeof(struct tw_entry) > stride)
		return -EINVAL;
	t->wheel = w;
	t->base = base;
	t->stride = stride;
	t->entry_off = entry_off;
	t->nrecords = nrecords;
	return 0;
}

void tw_entry_init(struct tw_entry *e)
{
	e->expires = 0;
	e->next = TW_NONE;
	e->prev = TW_NONE;
	e->slot = TW_NONE;
	e->reserved = 0;
}

/* Hang entry i at the front of list h. */
static void tw__link(struct tw *t, uint32_t i, uint32_t h)
{
	struct tw_wheel *w = t->wheel;
	struct tw_entry *e = tw__entry(t, i);

	e->slot = h;
	e->prev = TW_NONE;
	e->next = w->head[h];
	if (e->next != TW_NONE)
		tw__entry(t, e->next)->prev = i;
	w->head[h] = i;
	if (h < TW_DUE)
		w->busy[h / TW_SLOTS] |= 1ull << (h % TW_SLOTS);
}

/* Take entry i off its list (it stays marked with its old slot). */
static void tw__unlink(struct tw *t, uint32_t i)
{
	struct tw_wheel *w = t->wheel;
	struct tw_entry *e = tw__entry(t, i);

	if (e->prev != TW_NONE)
		tw__entry(t, e->prev)->next = e->next;
	else
		w->head[e->slot] = e->next;
	if (e->next != TW_NONE)
		tw__entry(t, e->next)->prev = e->prev;
	if (w->head[e->slot] == TW_NONE && e->slot < TW_DUE)
		w->busy[e->slot / TW_SLOTS] &= ~(1ull << (e->slot % TW_SLOTS));
}

/* The list an entry due at tick `due` belongs on, given the clock. */
static uint32_t tw__head_for(const struct tw_wheel *w, uint64_t due)
{
	uint64_t d;

	if (due < w->cur)
		return TW_DUE;
	d = due - w->cur;
	if (d >= TW_SPAN_TOP) {
		/* Beyond the top level's span: wait in the farthest top slot and be
		 * placed again by its cascade. */
		due = w->cur + TW_SPAN_TOP - 1;
		d = TW_SPAN_TOP - 1;
	}
	for (unsigned l = 0; l < TW_LEVELS; l++)
		if ((d >> TW_SHIFT(l + 1)) == 0)
			return l * TW_SLOTS + (uint32_t)((due >> TW_SHIFT(l)) & (TW_SLOTS - 1));
	return TW_DUE;   /* unreachable: d < TW_SPAN_TOP */
}

int tw_arm(struct tw *t, uint32_t index, uint64_t expires)
{
	struct tw_entry *e;

	if (index >= t->nrecords)
		return -EINVAL;
	e = tw__entry(t, index);
	if (e->slot != TW_NONE)
		tw__unlink(t, index);
	else
		t->wheel->count++;
	e->expires = expires;
	tw__link(t, index, tw__head_for(t->wheel, tw__tick_of(t->wheel, expires)));
	return 0;
}

int tw_cancel(struct tw *t, uint32_t index)
{
	struct tw_entry *e;

	if (index >= t->nrecords)
		return -EINVAL;
	e = tw__entry(t, index);
	if (e->slot == TW_NONE)
		return 0;
	tw__unlink(t, index);
	e->slot = TW_NONE;
	t->wheel->count--;
	return 0;
}

bool tw_armed(const struct tw *t, uint32_t index)
{
	return index < t->nrecords && tw__entry(t, index)->slot != TW_NONE;
}

/* The first tick >= cur at which level l has a busy slot to process, or
 * UINT64_MAX. Slot numbers repeat every 64 slot widths, so rotating the
 * bitmap to start at the first candidate slot finds it with one bit scan. */
static uint64_t tw__level_next(const struct tw_wheel *w, unsigned l)
{
	uint64_t busy = w->busy[l], k0, rot;
	unsigned sh = TW_SHIFT(l), r;

	if (busy == 0)
		return UINT64_MAX;
	k0 = (w->cur >> sh) + ((w->cur & ((1ull << sh) - 1)) != 0);   /* ceil(cur / 64^l) */
	r = (unsigned)(k0 & (TW_SLOTS - 1));
	rot = r ? (busy >> r) | (busy << (64 - r)) : busy;
	k0 += (uint64_t)__builtin_ctzll(rot);
	if (k0 > (UINT64_MAX >> sh))
		return UINT64_MAX;
	return k0 << sh;
}

/* The next tick with anything to process, UINT64_MAX if none. */
static uint64_t tw__next_tick(const struct tw_wheel *w)
{
	uint64_t best = UINT64_MAX;

	for (unsigned l = 0; l < TW_LEVELS; l++) {
		uint64_t k = tw__level_next(w, l);

		if (k < best)
			best = k;
	}
	return best;
}

uint64_t tw_next_deadline(const struct tw *t)
{
	const struct tw_wheel *w = t->wheel;
	uint64_t k;

	if (w->count == 0)
		return UINT64_MAX;
	if (w->head[TW_DUE] != TW_NONE)
		return 0;
	k = tw__next_tick(w);
	if (k == UINT64_MAX || k > UINT64_MAX / w->tick_ns)
		return UINT64_MAX;
	return k * w->tick_ns;
}

/* Empty list h and place each of its entries again by its deadline
 * (the clock has moved, so they land lower; see the file comment). */
static void tw__cascade(struct tw *t, uint32_t h)
{
	struct tw_wheel *w = t->wheel;
	uint32_t i = w->head[h];

	w->head[h] = TW_NONE;
	w->busy[h / TW_SLOTS] &= ~(1ull << (h % TW_SLOTS));
	while (i != TW_NONE) {   /* bounded: the list is finite and detached */
		struct tw_entry *e = tw__entry(t, i);
		uint32_t next = e->next;

		tw__link(t, i, tw__head_for(w, tw__tick_of(w, e->expires)));
		i = next;
	}
}

/* Fire list h's entries, one at a time from the front, so that a callback
 * may cancel or re-arm any entry, this list's included. Returns how many
 * fired (at most budget). */
static unsigned tw__fire(struct tw *t, uint32_t h, unsigned budget,
			 tw_expire_fn cb, void *ctx)
{
	struct tw_wheel *w = t->wheel;
	unsigned n = 0;

	while (n < budget && w->head[h] != TW_NONE) {
		uint32_t i = w->head[h];

		tw__unlink(t, i);
		tw__entry(t, i)->slot = TW_NONE;
		w->count--;
		n++;
		cb(ctx, i);
	}
	return n;
}

/* Process tick k: cascade the higher levels whose slot boundary it is (top
 * first), then fire level 0's slot. The clock stays on k until the slot is
 * empty, so a call cut short by the budget resumes here (cascading again
 * finds the slots already empty). */
static unsigned tw__process(struct tw *t, uint64_t k, unsigned budget,
			    tw_expire_fn cb, void *ctx)
{
	struct tw_wheel *w = t->wheel;
	uint32_t h0 = (uint32_t)(k & (TW_SLOTS - 1));
	unsigned n;

	w->cur = k;
	for (unsigned l = TW_LEVELS - 1; l > 0; l--) {
		uint32_t h = l * TW_SLOTS + (uint32_t)((k >> TW_SHIFT(l)) & (TW_SLOTS - 1));

		if ((k & ((1ull << TW_SHIFT(l)) - 1)) == 0 && w->head[h] != TW_NONE)
			tw__cascade(t, h);
	}
	n = tw__fire(t, h0, budget, cb, ctx);
	if (w->head[h0] == TW_NONE)
		w->cur = k + 1;
	return n;
}

unsigned tw_advance(struct tw *t, uint64_t now, unsigned budget,
		    tw_expire_fn cb, void *ctx)
{
	struct tw_wheel *w = t->wheel;
	uint64_t c = now / w->tick_ns;
	unsigned fired = 0;

	for (unsigned steps = 0; steps < budget + TW_EXTRA_STEPS; steps++) {
		uint64_t k;

		fired += tw__fire(t, TW_DUE, budget - fired, cb, ctx);
		if (fired == budget)
			break;
		k = tw__next_tick(w);
		if (k > c) {
			if (c >= w->cur)
				w->cur = c + 1;   /* nothing due up to c: jump */
			break;
		}
		fired += tw__process(t, k, budget - fired, cb, ctx);
	}
	return fired;
}
