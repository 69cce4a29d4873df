/* tests/support/netsim.c — the deterministic lossy network (see netsim.h).
 *
 * State: the clock, one generator, one event queue (a binary min-heap on
 * (time, seq)) holding packets on their way, and per direction its
 * configuration, the time its transmitter is busy until and its counters.
 * A packet's fate is drawn when it is sent, in a fixed order (queue, loss,
 * reordering, duplication, corruption per copy), so a seed fixes every run.
 */
#include "tests/support/netsim.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NETSIM_EVENTS_MAX (1u << 20)   /* packets in flight before send fails */

struct netsim_event {
	uint64_t time;
	uint64_t seq;        /* creation order: breaks ties */
	struct pkb *pkt;
	unsigned to;         /* receiving side */
};

struct netsim_dir {
	struct netsim_link_cfg cfg;
	uint64_t busy_until; /* the transmitter serialises until then */
	struct netsim_stats st;
};

struct netsim {
	uint64_t now;
	uint64_t seq;
	struct netsim_rng rng;
	struct pkb_cache *cache;
	struct netsim_ep ep[2];
	bool attached[2];
	struct netsim_dir dir[2];
	struct netsim_event *heap;
	uint32_t nev, cap;
};

/* ---------------------------------------------------------- generator */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void netsim_rng_seed(struct netsim_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t netsim_rng_next(struct netsim_rng *r)
{
	uint64_t *s = r->s, result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t netsim_rng_below(struct netsim_rng *r, uint64_t n)
{
	/* Lemire's multiply-shift: bias below 2^-64 * n, fine for a test. */
	return n == 0 ? 0 : (uint64_t)(((unsigned __int128)netsim_rng_next(r) * n) >> 64);
}

bool netsim_rng_chance(struct netsim_rng *r, double p)
{
	if (p <= 0.0)
		return false;
	return (double)(netsim_rng_next(r) >> 11) * 0x1.0p-53 < p;
}

/* --------------------------------------------------------- event heap */

static bool ev_before(const struct netsim_event *a, const struct netsim_event *b)
{
	return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

static int heap_push(struct netsim *sim, uint64_t time, struct pkb *pkt, unsigned to)
{
	uint32_t i;

	if (sim->nev == sim->cap) {
		uint32_t cap = sim->cap ? sim->cap * 2 : 256;
		struct netsim_event *h;

		if (cap > NETSIM_EVENTS_MAX ||
		    (h = realloc(sim->heap, cap * sizeof(*h))) == NULL)
			return -ENOBUFS;
		sim->heap = h;
		sim->cap = cap;
	}
	i = sim->nev++;
	sim->heap[i] = (struct netsim_event){ time, sim->seq++, pkt, to };
	while (i > 0 && ev_before(&sim->heap[i], &sim->heap[(i - 1) / 2])) {
		struct netsim_event tmp = sim->heap[i];

		sim->heap[i] = sim->heap[(i - 1) / 2];
		sim->heap[(i - 1) / 2] = tmp;
		i = (i - 1) / 2;
	}
	return 0;
}

static struct netsim_event heap_pop(struct netsim *sim)
{
	struct netsim_event top = sim->heap[0];
	uint32_t i = 0;

	sim->heap[0] = sim->heap[--sim->nev];
	for (;;) {   /* bounded: i at least doubles each round */
		uint32_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < sim->nev && ev_before(&sim->heap[l], &sim->heap[m]))
			m = l;
		if (r < sim->nev && ev_before(&sim->heap[r], &sim->heap[m]))
			m = r;
		if (m == i)
			break;
		struct netsim_event tmp = sim->heap[i];
		sim->heap[i] = sim->heap[m];
		sim->heap[m] = tmp;
		i = m;
	}
	return top;
}

/* ---------------------------------------------------------- lifecycle */

struct netsim *netsim_new(uint64_t seed, uint64_t start, struct pkb_cache *cache)
{
	struct netsim *sim = calloc(1, sizeof(*sim));

	if (sim == NULL)
		return NULL;
	sim->now = start;
	sim->cache = cache;
	netsim_rng_seed(&sim->rng, seed);
	return sim;
}

void netsim_free(struct netsim *sim)
{
	if (sim == NULL)
		return;
	for (uint32_t i = 0; i < sim->nev; i++)
		pkb_free(sim->cache, sim->heap[i].pkt);
	free(sim->heap);
	free(sim);
}

int netsim_attach(struct netsim *sim, unsigned side, const struct netsim_ep *ep)
{
	if (side > 1 || ep == NULL || ep->input == NULL)
		return -EINVAL;
	sim->ep[side] = *ep;
	sim->attached[side] = true;
	return 0;
}

int netsim_set_link(struct netsim *sim, unsigned side, const struct netsim_link_cfg *cfg)
{
	if (side > 1 || cfg == NULL || cfg->loss > 1.0 || cfg->dup > 1.0 ||
	    cfg->corrupt > 1.0 || cfg->reorder > 1.0)
		return -EINVAL;
	sim->dir[side].cfg = *cfg;
	return 0;
}

uint64_t netsim_now(const struct netsim *sim) { return sim->now; }
uint32_t netsim_in_flight(const struct netsim *sim) { return sim->nev; }
struct netsim_rng *netsim_rng(struct netsim *sim) { return &sim->rng; }

void netsim_stats(const struct netsim *sim, unsigned side, struct netsim_stats *out)
{
	if (side <= 1)
		*out = sim->dir[side].st;
	else
		memset(out, 0, sizeof(*out));
}

/* --------------------------------------------------------------- send */

/* When a packet of `len` bytes offered now leaves the transmitter, or
 * UINT64_MAX if the queue in front of it is over its limit (tail drop). */
static uint64_t serialise(struct netsim *sim, struct netsim_dir *d, uint64_t len)
{
	uint64_t start = d->busy_until > sim->now ? d->busy_until : sim->now;
	unsigned __int128 backlog;

	if (d->cfg.rate_bps == 0)
		return sim->now;
	backlog = (unsigned __int128)(start - sim->now) * d->cfg.rate_bps / 8000000000ull;
	if (d->cfg.queue_bytes && backlog + len > d->cfg.queue_bytes)
		return UINT64_MAX;
	d->busy_until = start + (len * 8000000000ull + d->cfg.rate_bps - 1) / d->cfg.rate_bps;
	return d->busy_until;
}

/* Flip one bit of the copy: one flipped bit changes one 16-bit word of the
 * Internet checksum's sum, so the checksum always catches it. */
static void flip_one_bit(struct netsim *sim, struct pkb *c)
{
	uint64_t bit = netsim_rng_below(&sim->rng, (uint64_t)c->pkt_len * 8);
	uint32_t contig;
	uint8_t *p = (uint8_t *)pkb_seg_at(c, (uint32_t)(bit / 8), &contig);

	if (p != NULL)
		*p ^= (uint8_t)(1u << (bit % 8));
}

/* Queue one copy of pkt for side `to` at time `at`. */
static void deliver_copy(struct netsim *sim, struct netsim_dir *d, struct pkb *pkt,
			 unsigned to, uint64_t at)
{
	struct pkb *c = pkb_copy(sim->cache, pkt);

	if (c == NULL) {
		d->st.nobufs++;
		return;
	}
	c->flags &= (uint16_t)~PKB_F_CSUM_OK;   /* the wire vouches for nothing */
	if (netsim_rng_chance(&sim->rng, d->cfg.corrupt) && c->pkt_len > 0) {
		flip_one_bit(sim, c);
		d->st.corrupted++;
	}
	if (heap_push(sim, at, c, to) < 0) {
		d->st.nobufs++;
		pkb_free(sim->cache, c);
	}
}

int netsim_send(struct netsim *sim, unsigned side, struct pkb *pkt)
{
	struct netsim_dir *d;
	uint64_t at;

	if (side > 1 || pkt == NULL) {
		pkb_free(sim->cache, pkt);
		return -EINVAL;
	}
	d = &sim->dir[side];
	d->st.sent++;
	d->st.sent_bytes += pkt->pkt_len;
	at = serialise(sim, d, (uint64_t)pkt->pkt_len + d->cfg.overhead);
	if (at == UINT64_MAX)
		d->st.queue_drops++;
	else if (netsim_rng_chance(&sim->rng, d->cfg.loss))
		d->st.lost++;
	else {
		at += d->cfg.delay_ns;
		if (netsim_rng_chance(&sim->rng, d->cfg.reorder) && d->cfg.reorder_ns) {
			at += 1 + netsim_rng_below(&sim->rng, d->cfg.reorder_ns);
			d->st.reordered++;
		}
		deliver_copy(sim, d, pkt, !side, at);
		if (netsim_rng_chance(&sim->rng, d->cfg.dup)) {
			d->st.duplicated++;
			deliver_copy(sim, d, pkt, !side, at);
		}
	}
	pkb_free(sim->cache, pkt);
	return 0;
}

/* ---------------------------------------------------------------- run */

static uint64_t ep_deadline(const struct netsim *sim, unsigned side)
{
	const struct netsim_ep *ep = &sim->ep[side];
	uint64_t t;

	if (!sim->attached[side] || ep->poll == NULL || ep->next_deadline == NULL)
		return UINT64_MAX;
	t = ep->next_deadline(ep->ctx);
	return t < sim->now ? sim->now : t;
}

/* Take the earliest step if it is due by `until`: deliver a packet (events
 * win ties, then side 0 before side 1). Returns false if nothing is due. */
static bool step(struct netsim *sim, uint64_t until)
{
	uint64_t tev = sim->nev ? sim->heap[0].time : UINT64_MAX;
	uint64_t t0 = ep_deadline(sim, 0), t1 = ep_deadline(sim, 1);
	uint64_t t = tev < t0 ? tev : t0;

	t = t < t1 ? t : t1;
	if (t == UINT64_MAX || t > until)
		return false;
	if (t > sim->now)
		sim->now = t;
	if (t == tev) {
		struct netsim_event ev = heap_pop(sim);
		struct netsim_dir *d = &sim->dir[!ev.to];

		d->st.delivered++;
		d->st.delivered_bytes += ev.pkt->pkt_len;
		if (sim->attached[ev.to])
			sim->ep[ev.to].input(sim->ep[ev.to].ctx, ev.pkt, sim->now);
		else
			pkb_free(sim->cache, ev.pkt);
	} else {
		unsigned side = t == t0 ? 0 : 1;

		sim->ep[side].poll(sim->ep[side].ctx, sim->now);
	}
	return true;
}

int netsim_run(struct netsim *sim, uint64_t until, bool (*done)(void *ctx),
	       void *ctx, uint64_t max_steps)
{
	for (uint64_t n = 0; n < max_steps; n++) {
		if (done != NULL && done(ctx))
			return 0;
		if (!step(sim, until)) {
			if (until != UINT64_MAX && until > sim->now)
				sim->now = until;
			return 0;
		}
	}
	return (done != NULL && done(ctx)) ? 0 : -ETIMEDOUT;
}
