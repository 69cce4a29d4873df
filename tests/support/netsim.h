/* tests/support/netsim.h — a deterministic, seeded, lossy network for tests.
 *
 * Two endpoints (side 0 and side 1) joined by a simulated link, one direction
 * per side that sends. Each direction has its own configuration: one-way
 * delay, bandwidth (packets are serialised one after another, so a burst
 * queues), a tail-drop queue limit, and random loss, reordering, duplication
 * and corruption (exactly one bit flipped, which the Internet checksum always
 * catches). Nothing in here reads a clock: the simulator owns the time, and
 * every random choice comes from one xoshiro256** generator seeded by the
 * test, so the same seed gives the same run, event for event.
 *
 * Endpoints are the test's: a struct netsim_ep gives the simulator three
 * callbacks (take a packet, run timers, say when timers are next due). An
 * endpoint sends with netsim_send() from inside those callbacks, or from the
 * test between netsim_run() calls. What travels is whatever the endpoints put
 * in a pkb (TCP segments for test_tcp_sim.c); the simulator copies each packet
 * it delivers into a fresh, unshared pkb (the wire does not share memory with
 * the sender's retransmission queue) and frees the sender's.
 *
 * Event order: by time, then by the order events were created (a sequence
 * number), so ties never depend on heap layout.
 */
#ifndef RINGSTACK_TESTS_NETSIM_H
#define RINGSTACK_TESTS_NETSIM_H

#include <stdbool.h>
#include <stdint.h>

#include "shm/pkb.h"

/* ------------------------------------------------------ the generator */

/* xoshiro256** (Blackman & Vigna), seeded through splitmix64. */
struct netsim_rng {
	uint64_t s[4];
};

void netsim_rng_seed(struct netsim_rng *r, uint64_t seed);
uint64_t netsim_rng_next(struct netsim_rng *r);
/* Uniform in [0, n) (n > 0; 0 when n == 0). */
uint64_t netsim_rng_below(struct netsim_rng *r, uint64_t n);
/* True with probability p (p <= 0: never, p >= 1: always). */
bool netsim_rng_chance(struct netsim_rng *r, double p);

/* ---------------------------------------------------------- the link */

/* One direction of the link. All zero: a perfect wire with no delay and
 * infinite bandwidth. */
struct netsim_link_cfg {
	uint64_t delay_ns;       /* one-way propagation delay */
	uint64_t rate_bps;       /* bits per second; 0: no serialisation */
	uint32_t queue_bytes;    /* bytes at the transmitter (the one being serialised
				  * included) beyond which it tail-drops; 0: no limit */
	uint32_t overhead;       /* bytes of headers not carried (IP, Ethernet) per packet */
	double loss;             /* probability a packet is lost on the wire */
	double dup;              /* probability it is delivered twice */
	double corrupt;          /* probability one bit of it is flipped */
	double reorder;          /* probability it is held back by an extra delay */
	uint64_t reorder_ns;     /* that extra delay: uniform in [1, reorder_ns] */
};

struct netsim_stats {
	uint64_t sent;           /* packets given to netsim_send */
	uint64_t sent_bytes;
	uint64_t delivered;      /* packets handed to the receiving endpoint */
	uint64_t delivered_bytes;
	uint64_t lost;           /* random loss */
	uint64_t queue_drops;    /* tail drop: queue_bytes exceeded */
	uint64_t duplicated;
	uint64_t corrupted;
	uint64_t reordered;
	uint64_t nobufs;         /* a copy failed: the pool ran dry (counted as loss) */
};

/* ------------------------------------------------------ the endpoints */

struct netsim_ep {
	void *ctx;
	/* A packet arrived (ownership of pkt passes to the endpoint). */
	void (*input)(void *ctx, struct pkb *pkt, uint64_t now);
	/* The time returned by next_deadline has come: run what is due. */
	void (*poll)(void *ctx, uint64_t now);
	/* When poll next has work (UINT64_MAX: none). May be NULL with poll. */
	uint64_t (*next_deadline)(void *ctx);
};

struct netsim;

/* A simulator at time `start` (ns) with generator seeded by `seed`, copying
 * packets with buffers from `cache` (one pool may serve the endpoints too).
 * Both directions start as perfect wires. NULL if out of memory. */
struct netsim *netsim_new(uint64_t seed, uint64_t start, struct pkb_cache *cache);

/* Free the simulator, and every packet still in flight. */
void netsim_free(struct netsim *sim);

/* Install endpoint `side` (0 or 1); ep is copied. Returns 0 or -EINVAL. */
int netsim_attach(struct netsim *sim, unsigned side, const struct netsim_ep *ep);

/* Configure the direction in which `side` sends. Returns 0 or -EINVAL. */
int netsim_set_link(struct netsim *sim, unsigned side, const struct netsim_link_cfg *cfg);

/* Side `side` puts pkt on the wire now; ownership passes to the simulator,
 * which frees it after copying it for delivery (or drops it). Returns 0, or
 * -EINVAL for a bad side (pkt freed). A drop is not an error. */
int netsim_send(struct netsim *sim, unsigned side, struct pkb *pkt);

/* Run events and endpoint timers in time order until the clock would pass
 * `until`, done(ctx) returns true (checked before each step; done may be
 * NULL), nothing is left to happen, or max_steps steps were taken. Unless
 * done() stopped it, the clock ends at `until` (when finite). Returns 0, or
 * -ETIMEDOUT when max_steps ran out first. */
int netsim_run(struct netsim *sim, uint64_t until, bool (*done)(void *ctx),
	       void *ctx, uint64_t max_steps);

/* The simulated time, ns. */
uint64_t netsim_now(const struct netsim *sim);

/* Packets in flight (events not yet delivered). */
uint32_t netsim_in_flight(const struct netsim *sim);

/* The simulator's generator, for tests that want the same seed to drive
 * their data too. */
struct netsim_rng *netsim_rng(struct netsim *sim);

/* Counters of the direction `side` sends in. */
void netsim_stats(const struct netsim *sim, unsigned side, struct netsim_stats *out);

#endif /* RINGSTACK_TESTS_NETSIM_H */
