/* proto/neigh.h — the neighbour table: IPv4 next hop -> MAC, with the states
 * and timers of RFC 1122 2.3.2 (ARP cache validation) in the way Linux's
 * NUD does it, and a bounded queue of packets waiting on resolution.
 *
 * Where it sits: eth_output_ipv4 asks neigh_resolve for a next hop's MAC;
 * arp_input feeds what it learns to neigh_update; stack_timers runs
 * neigh_timers, which sends ARP retries and ages entries.
 *
 *   (none) --use--> INCOMPLETE --reply--> REACHABLE --30 s--> STALE
 *                      | 3 requests 1 s apart,           use |   ^ 60 s unused: freed
 *                      v no answer                           v   |
 *                    FAILED (queue dropped, held 1 s)      PROBE (unicast requests;
 *                                                          packets still go out)
 * An ARP heard from a neighbour that is not a reply to us (a request, a
 * gratuitous ARP) moves the entry to STALE with the MAC it carried.
 *
 * The table is a fixed array with linear probing (backward-shift deletion,
 * so no tombstones); it lives inside struct stack.
 */
#ifndef RINGSTACK_PROTO_NEIGH_H
#define RINGSTACK_PROTO_NEIGH_H

#include <stdint.h>

struct stack;
struct pkb;

#define NEIGH_TABLE_SIZE      256u   /* entries, a power of two */
#define NEIGH_QUEUE_PER_ENTRY 3u     /* packets waiting per entry (Linux unres_qlen spirit) */
#define NEIGH_QUEUE_TOTAL     64u    /* packets waiting across the whole table */
#define NEIGH_MAX_PROBES      3u     /* requests per resolution or probe round */
#define NEIGH_RETRANS_NS      1000000000ull   /* between requests (RFC 1122: <= 1/s) */
#define NEIGH_REACHABLE_NS    30000000000ull  /* REACHABLE lifetime after confirmation */
#define NEIGH_STALE_GC_NS     60000000000ull  /* unused STALE entry freed after */
#define NEIGH_FAILED_HOLD_NS  1000000000ull   /* FAILED: drop at once, no new requests */

enum neigh_state {
	NEIGH_NONE = 0,       /* free slot */
	NEIGH_INCOMPLETE,     /* request sent, no MAC yet: packets wait */
	NEIGH_REACHABLE,      /* MAC confirmed recently */
	NEIGH_STALE,          /* MAC known but unconfirmed: usable, probed on use */
	NEIGH_PROBE,          /* stale entry in use: unicast requests to re-confirm */
	NEIGH_FAILED,         /* resolution failed: packets dropped until the hold ends */
};

/* neigh_update flags */
#define NEIGH_F_CREATE    0x1u  /* add the entry if absent (RFC 826: we are the target) */
#define NEIGH_F_CONFIRMED 0x2u  /* reachability confirmed (a reply addressed to us) */

struct neigh_entry {
	uint32_t ip;                 /* host order; meaningful unless state is NONE */
	uint8_t mac[6];
	uint8_t state;               /* enum neigh_state */
	uint8_t probes;              /* requests sent in the current round */
	uint64_t deadline;           /* next timer event of this entry (ns) */
	uint8_t nqueued;             /* packets in queue[] */
	struct pkb *queue[NEIGH_QUEUE_PER_ENTRY];
};

struct neigh_table {
	uint32_t count;              /* entries not NONE */
	uint32_t queued;             /* packets waiting across the table */
	uint64_t next_deadline;      /* lower bound of every entry's deadline */
	struct neigh_entry e[NEIGH_TABLE_SIZE];
};

/* Empty the table (no packets may be queued: see neigh_flush). */
void neigh_init(struct neigh_table *nt);

/* The entry for ip (host order), or NULL. For reading (tests, ctl listing). */
const struct neigh_entry *neigh_lookup(const struct neigh_table *nt, uint32_t ip);

/* Find the MAC to send b to next hop ip. Returns 0 with mac filled: the caller
 * sends b. -EINPROGRESS: b was queued on the entry (a request is out) and is
 * sent by neigh_update when the answer comes. -EHOSTUNREACH, -ENOBUFS or
 * -ENOSPC: b was dropped and counted (NEIGH_FAILED, NEIGH_QUEUE_FULL,
 * NEIGH_TABLE_FULL). A STALE entry answers at once and starts a probe. */
int neigh_resolve(struct stack *stk, uint32_t ip, struct pkb *b, uint8_t mac[6],
		  uint64_t now);

/* Record that ip is at mac (flags: NEIGH_F_*). With NEIGH_F_CONFIRMED the
 * entry becomes REACHABLE; otherwise STALE unless it is REACHABLE at the same
 * MAC already. Packets waiting on the entry are sent. Returns 0, -ENOENT
 * (absent and no NEIGH_F_CREATE) or -ENOSPC (table full, counted). */
int neigh_update(struct stack *stk, uint32_t ip, const uint8_t mac[6],
		 unsigned flags, uint64_t now);

/* Run the timers due at now: retries, INCOMPLETE -> FAILED (dropping its
 * queue), REACHABLE -> STALE, freeing old STALE and FAILED entries. */
void neigh_timers(struct stack *stk, uint64_t now);

/* Earliest time neigh_timers has work (UINT64_MAX: none). May be early, never late. */
uint64_t neigh_next_deadline(const struct neigh_table *nt);

/* Free every entry and drop (counted NEIGH_FAILED) every waiting packet:
 * for shutdown and test teardown. */
void neigh_flush(struct stack *stk);

#endif /* RINGSTACK_PROTO_NEIGH_H */
