/* proto/neigh.c — the neighbour table: resolution, queueing and ageing.
 *
 * Transmit path: eth_output_ipv4 -> neigh_resolve, which answers with a MAC,
 * or queues the packet and asks ARP; arp_input -> neigh_update sends what
 * waited. stack_timers -> neigh_timers retries and ages (RFC 1122 2.3.2.1:
 * at most one request per second per destination; entries time out).
 * The state diagram is in neigh.h.
 */
#include "proto/neigh.h"

#include <errno.h>
#include <string.h>

#include "proto/arp.h"
#include "proto/eth.h"
#include "proto/stack.h"

#define NEIGH_MASK        (NEIGH_TABLE_SIZE - 1)
/* Linear probing stays short while the table is at most 3/4 full. */
#define NEIGH_ENTRIES_MAX (NEIGH_TABLE_SIZE / 4 * 3)

_Static_assert((NEIGH_TABLE_SIZE & NEIGH_MASK) == 0, "table size must be a power of two");
_Static_assert(NEIGH_MAX_PROBES < 256, "probes is a uint8_t");

static unsigned neigh_home(uint32_t ip)
{
	/* Fibonacci hashing: spreads neighbours of one subnet, which differ
	 * only in their low bits, over the whole table. */
	return (ip * 0x9e3779b1u) >> (32 - 8) & NEIGH_MASK;
}

_Static_assert(NEIGH_TABLE_SIZE == 256, "neigh_home takes 8 bits");

/* Index of ip's entry, or -1. Stops at the first free slot. */
static int neigh_find(const struct neigh_table *nt, uint32_t ip)
{
	unsigned i = neigh_home(ip);

	for (unsigned k = 0; k < NEIGH_TABLE_SIZE; k++, i = (i + 1) & NEIGH_MASK) {
		if (nt->e[i].state == NEIGH_NONE)
			return -1;
		if (nt->e[i].ip == ip)
			return (int)i;
	}
	return -1;
}

/* Free slot i with backward-shift deletion: later entries of the same probe
 * run move up so that neigh_find never stops early (Knuth 6.4, Algorithm R). */
static void neigh_remove(struct neigh_table *nt, unsigned i)
{
	unsigned j = i;

	memset(&nt->e[i], 0, sizeof(nt->e[i]));   /* NEIGH_NONE, no queue */
	nt->count--;
	for (unsigned k = 0; k < NEIGH_TABLE_SIZE; k++) {
		unsigned h;

		j = (j + 1) & NEIGH_MASK;
		if (nt->e[j].state == NEIGH_NONE)
			return;
		h = neigh_home(nt->e[j].ip);
		/* Entry j may stay only if its home lies cyclically in (i, j]. */
		if (((j - h) & NEIGH_MASK) < ((j - i) & NEIGH_MASK))
			continue;
		/* The moved entry's queue moves with it: clear the old slot, or
		 * neigh_flush would drop those packets a second time. */
		nt->e[i] = nt->e[j];
		memset(&nt->e[j], 0, sizeof(nt->e[j]));
		i = j;
	}
}

/* Drop (counted NEIGH_FAILED) the packets waiting on e. */
static void neigh_drop_queue(struct stack *stk, struct neigh_entry *e)
{
	for (unsigned q = 0; q < e->nqueued; q++)
		PROTO_DROP(stk, NEIGH_FAILED, e->queue[q]);
	stk->neigh.queued -= e->nqueued;
	e->nqueued = 0;
}

/* Make room by freeing one entry nobody waits on (STALE or FAILED). */
static bool neigh_evict_one(struct neigh_table *nt)
{
	for (unsigned i = 0; i < NEIGH_TABLE_SIZE; i++) {
		uint8_t s = nt->e[i].state;

		if (s == NEIGH_STALE || s == NEIGH_FAILED) {
			neigh_remove(nt, i);
			return true;
		}
	}
	return false;
}

/* A fresh entry for ip (state INCOMPLETE, nothing sent yet), or -1 when the
 * table is full of entries in use (the caller counts NEIGH_TABLE_FULL). */
static int neigh_insert(struct neigh_table *nt, uint32_t ip)
{
	unsigned i;

	if (nt->count >= NEIGH_ENTRIES_MAX && !neigh_evict_one(nt))
		return -1;
	i = neigh_home(ip);
	for (unsigned k = 0; k < NEIGH_TABLE_SIZE && nt->e[i].state != NEIGH_NONE; k++)
		i = (i + 1) & NEIGH_MASK;   /* ends: count < size leaves a free slot */
	memset(&nt->e[i], 0, sizeof(nt->e[i]));
	nt->e[i].ip = ip;
	nt->e[i].state = NEIGH_INCOMPLETE;
	nt->count++;
	return (int)i;
}

static void neigh_arm(struct neigh_table *nt, struct neigh_entry *e, uint64_t deadline)
{
	e->deadline = deadline;
	if (deadline < nt->next_deadline)
		nt->next_deadline = deadline;
}

void neigh_init(struct neigh_table *nt)
{
	memset(nt, 0, sizeof(*nt));
	nt->next_deadline = UINT64_MAX;
}

const struct neigh_entry *neigh_lookup(const struct neigh_table *nt, uint32_t ip)
{
	int i = neigh_find(nt, ip);

	return i < 0 ? NULL : &nt->e[i];
}

/* Start (or restart) resolution: a broadcast request now, retries from the
 * timers (RFC 1122 2.3.2.1: no more than one request per second). */
static void neigh_solicit(struct stack *stk, struct neigh_entry *e, uint64_t now)
{
	e->state = NEIGH_INCOMPLETE;
	e->probes = 1;
	neigh_arm(&stk->neigh, e, now + NEIGH_RETRANS_NS);
	(void)arp_send_request(stk, e->ip, NULL, now);   /* lost: the retry resends */
}

/* A STALE entry is in use: keep sending to its MAC while unicast requests
 * re-confirm it (RFC 1122 2.3.2.1 (2); Linux's DELAY and PROBE in one). */
static void neigh_probe(struct stack *stk, struct neigh_entry *e, uint64_t now)
{
	e->state = NEIGH_PROBE;
	e->probes = 1;
	neigh_arm(&stk->neigh, e, now + NEIGH_RETRANS_NS);
	(void)arp_send_request(stk, e->ip, e->mac, now);
}

/* Park b on an INCOMPLETE entry: bounded per entry and across the table. */
static int neigh_enqueue(struct stack *stk, struct neigh_entry *e, struct pkb *b)
{
	struct neigh_table *nt = &stk->neigh;

	if (e->nqueued >= NEIGH_QUEUE_PER_ENTRY || nt->queued >= NEIGH_QUEUE_TOTAL) {
		PROTO_DROP(stk, NEIGH_QUEUE_FULL, b);
		return -ENOBUFS;
	}
	e->queue[e->nqueued++] = b;
	nt->queued++;
	return -EINPROGRESS;
}

/* ip's entry; a new one starts resolution. -1 (counted) when the table is full. */
static int neigh_find_or_solicit(struct stack *stk, uint32_t ip, struct pkb *b, uint64_t now)
{
	int i = neigh_find(&stk->neigh, ip);

	if (i >= 0)
		return i;
	i = neigh_insert(&stk->neigh, ip);
	if (i < 0) {
		PROTO_DROP(stk, NEIGH_TABLE_FULL, b);
		return -1;
	}
	neigh_solicit(stk, &stk->neigh.e[i], now);
	return i;
}

int neigh_resolve(struct stack *stk, uint32_t ip, struct pkb *b, uint8_t mac[6],
		  uint64_t now)
{
	int i = neigh_find_or_solicit(stk, ip, b, now);
	struct neigh_entry *e;

	if (i < 0)
		return -ENOSPC;
	e = &stk->neigh.e[i];
	switch (e->state) {
	case NEIGH_STALE:
		/* The stale MAC is still the best guess: use it while probing. */
		neigh_probe(stk, e, now);
		/* fall through */
	case NEIGH_REACHABLE:
	case NEIGH_PROBE:
		memcpy(mac, e->mac, 6);
		return 0;
	case NEIGH_FAILED:
		if (now < e->deadline) {
			PROTO_DROP(stk, NEIGH_FAILED, b);
			return -EHOSTUNREACH;
		}
		neigh_solicit(stk, e, now);   /* the hold is over: try again */
		break;
	default:
		break;
	}
	return neigh_enqueue(stk, e, b);
}

/* Take in a MAC heard for e. A reply addressed to us confirms reachability;
 * anything else (requests, gratuitous ARP) only proves the MAC was in use, so
 * it leaves a confirmed entry alone or makes it STALE (RFC 1122 2.3.2.1). */
static void neigh_learn(struct neigh_table *nt, struct neigh_entry *e,
			const uint8_t mac[6], unsigned flags, uint64_t now)
{
	bool known = e->state != NEIGH_INCOMPLETE && e->state != NEIGH_FAILED &&
		     memcmp(e->mac, mac, 6) == 0;

	memcpy(e->mac, mac, 6);
	if (flags & NEIGH_F_CONFIRMED) {
		e->state = NEIGH_REACHABLE;
		e->probes = 0;
		neigh_arm(nt, e, now + NEIGH_REACHABLE_NS);
		return;
	}
	if (known && (e->state == NEIGH_REACHABLE || e->state == NEIGH_PROBE))
		return;
	e->state = NEIGH_STALE;
	e->probes = 0;
	neigh_arm(nt, e, now + NEIGH_STALE_GC_NS);
}

/* Send what waited on e, in the order it came. */
static void neigh_send_queue(struct stack *stk, struct neigh_entry *e)
{
	struct pkb *q[NEIGH_QUEUE_PER_ENTRY];
	uint8_t mac[6];
	unsigned n = e->nqueued;

	memcpy(q, e->queue, n * sizeof(q[0]));
	memcpy(mac, e->mac, 6);
	e->nqueued = 0;
	stk->neigh.queued -= n;
	for (unsigned k = 0; k < n; k++)
		eth_send(stk, q[k], mac, ETH_P_IPV4);
}

int neigh_update(struct stack *stk, uint32_t ip, const uint8_t mac[6],
		 unsigned flags, uint64_t now)
{
	int i = neigh_find(&stk->neigh, ip);

	if (i < 0) {
		if (!(flags & NEIGH_F_CREATE))
			return -ENOENT;
		i = neigh_insert(&stk->neigh, ip);
		if (i < 0) {
			PROTO_DROP(stk, NEIGH_TABLE_FULL, NULL);
			return -ENOSPC;
		}
	}
	neigh_learn(&stk->neigh, &stk->neigh.e[i], mac, flags, now);
	neigh_send_queue(stk, &stk->neigh.e[i]);
	return 0;
}

/* Entry i's deadline has passed. Returns true if the entry was freed (and
 * slot i may now hold another entry, shifted back by neigh_remove). */
static bool neigh_expire(struct stack *stk, unsigned i, uint64_t now)
{
	struct neigh_table *nt = &stk->neigh;
	struct neigh_entry *e = &nt->e[i];

	switch (e->state) {
	case NEIGH_INCOMPLETE:
	case NEIGH_PROBE:
		if (e->probes < NEIGH_MAX_PROBES) {
			e->probes++;
			neigh_arm(nt, e, now + NEIGH_RETRANS_NS);
			(void)arp_send_request(stk, e->ip,
					       e->state == NEIGH_PROBE ? e->mac : NULL, now);
			return false;
		}
		neigh_drop_queue(stk, e);
		e->state = NEIGH_FAILED;
		neigh_arm(nt, e, now + NEIGH_FAILED_HOLD_NS);
		return false;
	case NEIGH_REACHABLE:
		e->state = NEIGH_STALE;
		neigh_arm(nt, e, now + NEIGH_STALE_GC_NS);
		return false;
	default:   /* STALE and unused since, or FAILED with its hold over */
		neigh_remove(nt, i);
		return true;
	}
}

static uint64_t neigh_earliest(const struct neigh_table *nt)
{
	uint64_t min = UINT64_MAX;

	for (unsigned i = 0; i < NEIGH_TABLE_SIZE; i++) {
		if (nt->e[i].state != NEIGH_NONE && nt->e[i].deadline < min)
			min = nt->e[i].deadline;
	}
	return min;
}

void neigh_timers(struct stack *stk, uint64_t now)
{
	struct neigh_table *nt = &stk->neigh;
	unsigned i = 0;

	if (now < nt->next_deadline)
		return;
	/* A freed slot is looked at again: neigh_remove may have shifted an
	 * unvisited entry into it. At most one extra step per entry freed. */
	for (unsigned steps = 0; i < NEIGH_TABLE_SIZE && steps < 2 * NEIGH_TABLE_SIZE; steps++) {
		const struct neigh_entry *e = &nt->e[i];

		if (e->state != NEIGH_NONE && e->deadline <= now && neigh_expire(stk, i, now))
			continue;
		i++;
	}
	nt->next_deadline = neigh_earliest(nt);
}

uint64_t neigh_next_deadline(const struct neigh_table *nt)
{
	return nt->next_deadline;
}

void neigh_flush(struct stack *stk)
{
	for (unsigned i = 0; i < NEIGH_TABLE_SIZE; i++) {
		if (stk->neigh.e[i].state != NEIGH_NONE)
			neigh_drop_queue(stk, &stk->neigh.e[i]);
	}
	neigh_init(&stk->neigh);
}
