/* netd/engine.c — one protocol engine: NAPI in user space.
 *
 * Where it sits: the middle of every frame's path. Engine q consumes nicd's
 * rx ring q and produces its tx ring q:
 *
 *     rx ring --burst--> stack_input_burst --> stk->txq --burst--> tx ring
 *                         (proto/, given the time)   stk->evq --> netd/app.c (sockets)
 *
 * A pass: adopt a new link if the control thread published one (nic.c),
 * take bursts of up to NETD_BURST frames off the rx ring until the budget is
 * spent (stamping PKB_TS_NETD_RX), hand each to stack_input_burst, deliver
 * looped back packets, run stack_timers once their deadline has passed, and
 * after every burst move stk->txq onto the tx ring (stamping PKB_TS_NETD_TX)
 * and ring nicd's eventfd doorbell once (a syscall only when nicd sleeps).
 *
 * Idle: after a pass with no work the engine spins for spin_ns, re-polling,
 * then announces itself on the rx doorbell, re-checks, and sleeps until
 * nicd rings or the next timer is due. spin_ns adapts as cpuidle-haltpoll's
 * poll window does: a sleep that ended (rung) sooner than the longest spin
 * would have caught the work by spinning, so the spin grows; a sleep longer
 * than that shows spinning was wasted, so it shrinks, to zero on a quiet
 * link. On two cores a spin that never ends starves the kernel's side of the
 * TAP (shared/notes/baselines.md); an idle engine uses no CPU.
 *
 * Per packet: no allocation, no lock, no syscall. Per burst: two reads of
 * the vDSO clock and at most one eventfd write.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "netd/netd.h"

uint64_t netd_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

static inline unsigned min_u(unsigned a, unsigned b)
{
	return a < b ? a : b;
}

/* Several engines: the others steer datagrams for sockets to engine 0. */
static inline bool nd_steers(const struct netd *nd)
{
	return nd->nengines > 1;
}

/* Engine q > 0 of several: its ring to engine 0 (netd_steer). */
static int steer_init(struct netd_steer *st)
{
	size_t len = ring_bytes(NETD_STEER_RING, sizeof(uint64_t));
	int err;

	if (!(st->mem = aligned_alloc(128, (len + 127) & ~(size_t)127)))
		return -ENOMEM;
	if ((err = ring_init(st->mem, NETD_STEER_RING, sizeof(uint64_t))) < 0 ||
	    (err = ring_prod_attach(&st->tx, st->mem, len, NETD_STEER_RING, sizeof(uint64_t))) < 0 ||
	    (err = ring_cons_attach(&st->rx, st->mem, len, NETD_STEER_RING, sizeof(uint64_t))) < 0) {
		free(st->mem);
		st->mem = NULL;
		return err;
	}
	return 0;
}

int netd_engine_init(struct netd *nd, unsigned i)
{
	struct netd_engine *e = &nd->eng[i];
	int err;

	if (i == 0)
		doorbell_init(&nd->steer_db);
	else if ((err = steer_init(&e->steer)) < 0)
		return err;
	e->nd = nd;
	e->q = i;
	e->stk = aligned_alloc(64, (sizeof(struct stack) + 63) & ~(size_t)63);
	if (!e->stk)
		return -ENOMEM;
	memset(e->stk, 0, sizeof(*e->stk));
	doorbell_init(&e->local_db);
	e->rxdb = &e->local_db;
	e->spin_ns = (uint64_t)nd->cfg.spin_us * 1000u;
	e->deadline = UINT64_MAX;
	atomic_store_explicit(&e->seq_ack, 0, memory_order_relaxed);
	return 0;
}

void netd_engine_fini(struct netd_engine *e)
{
	free(e->stk);
	e->stk = NULL;
	free(e->steer.mem);
	e->steer.mem = NULL;
}

/* ------------------------------------------------------------ the link */

/* The pool changed (first link, or nicd formatted a new region): the stack
 * starts again on the new pool. pkbs it held in the old one are forgotten
 * with that pool; TCP's state (no pkbs) carries on. Returns 0 or -errno. */
static int engine_reset_pool(struct netd_engine *e, struct netd_pool *pm)
{
	struct stack_config sc = e->nd->cfg.stack;
	int err;

	if (sc.mtu == 0)
		sc.mtu = pm->ctl->mtu >= 576 && pm->ctl->mtu <= 9000 ? (uint16_t)pm->ctl->mtu : 1500;
	sc.steer_sockets = e->q != 0;    /* engine 0 owns every socket */
	pkb_cache_init(&e->cache, &pm->pool);
	if (e->pm)
		COUNTER_INC(&e->st->ctr, NETD_STACK_RESETS);
	e->pm = NULL;
	if ((err = stack_init(e->stk, &sc, &e->cache, e->now)) < 0) {
		netd_log(NETD_ERR, "engine %u: stack_init: %s", e->q, strerror(-err));
		return err;
	}
	stack_attach_tcp(e->stk, e->tcp);
	if (e->apps_on)
		netd_apps_stack_reset(&e->apps);   /* stack_init emptied the UDP table */
	e->pm = pm;
	e->deadline = stack_next_deadline(e->stk);
	return 0;
}

/* Make this engine's ring views on link l. A ring attached corrupt moves
 * nothing; it is counted and the engine stays off it until the next link. */
static void engine_bind(struct netd_engine *e, const struct netd_link *l)
{
	unsigned q = e->q;
	int err = ring_cons_attach(&e->rx, l->rx[q], l->rx_len[q], l->ring_size, NIC_DESC_SIZE);

	if (err == 0)
		err = ring_prod_attach(&e->tx, l->tx[q], l->tx_len[q], l->ring_size, NIC_DESC_SIZE);
	if (err < 0) {
		COUNTER_INC(&e->st->ctr, NETD_RING_CORRUPT);
		netd_log(NETD_ERR, "engine %u: nicd's rings unusable (%s); not using them",
			 q, strerror(-err));
		return;
	}
	e->link = l;
	e->rxdb = l->rxdb[q];
}

/* Adopt the link the control thread published, if it changed (nic.c has
 * the protocol). */
static void engine_adopt(struct netd_engine *e)
{
	struct netd *nd = e->nd;
	/* Acquire: pairs with the release store of link_seq in link_publish();
	 * the link it names is complete. */
	uint32_t seq = atomic_load_explicit(&nd->link_seq, memory_order_acquire);
	const struct netd_link *l;

	if (seq == e->seq_seen)
		return;
	l = atomic_load_explicit(&nd->link, memory_order_relaxed);
	e->link = NULL;
	e->rxdb = &e->local_db;
	if (l && l->pm != e->pm)
		engine_reset_pool(e, l->pm);
	if (l && l->pm == e->pm && e->q < l->nqueues)
		engine_bind(e, l);
	COUNTER_INC(&e->st->ctr, NETD_LINK_CHANGES);
	e->seq_seen = seq;
	/* Release: pairs with the acquire load in engines_acked(); every use
	 * of the old link (its rings, doorbells, eventfd) is done before. */
	atomic_store_explicit(&e->seq_ack, seq, memory_order_release);
}

/* A ring turned out corrupt under us: stop using the link. */
static void engine_unbind(struct netd_engine *e, const char *which)
{
	COUNTER_INC(&e->st->ctr, NETD_RING_CORRUPT);
	netd_log(NETD_ERR, "engine %u: %s ring indices impossible; off nicd's rings until it reconnects",
		 e->q, which);
	e->link = NULL;
	e->rxdb = &e->local_db;
}

/* ------------------------------------------------------------ transmit */

/* Enqueue n descriptors (of the pkbs in b); free and count what does not
 * fit; ring nicd once for the burst. */
static void engine_tx_push(struct netd_engine *e, const nic_desc *d, struct pkb **b, unsigned n)
{
	const struct netd_link *l = e->link;
	unsigned done = ring_enqueue_burst_u64(&e->tx, d, n);
	int r;

	COUNTER_ADD(&e->st->ctr, NETD_TX_FRAMES, done);
	for (unsigned i = done; i < n; i++) {
		COUNTER_INC(&e->st->ctr, ring_prod_corrupt(&e->tx) ? NETD_RING_CORRUPT
								   : NETD_TX_RING_FULL);
		pkb_free(&e->cache, b[i]);
	}
	if (done == 0)
		return;
	/* after the ring's release store: wakes nicd only if it announced sleep */
	r = doorbell_ring_eventfd(l->txdb, l->efd);
	if (r > 0)
		COUNTER_INC(&e->st->ctr, NETD_TX_DOORBELL_WAKES);
	else if (r < 0 && r != -EAGAIN)
		COUNTER_INC(&e->st->ctr, NETD_TX_DOORBELL_ERR);
}

/* Move every frame proto/ queued onto the tx ring, a burst at a time.
 * Returns how many frames left proto/. */
static unsigned engine_tx_flush(struct netd_engine *e)
{
	struct stack_txq *txq = &e->stk->txq;
	struct pkb *b[NETD_BURST];
	nic_desc d[NETD_BURST];
	unsigned n = txq->n, k = 0;
	uint64_t now;

	if (n == 0)
		return 0;
	now = netd_now_ns();
	for (unsigned i = 0; i < n; i++) {
		struct pkb *f = txq->pkb[i];

		if (!e->link) {
			COUNTER_INC(&e->st->ctr, NETD_TX_NIC_DOWN);
			pkb_free(&e->cache, f);
			continue;
		}
		f->ts[PKB_TS_NETD_TX] = now;
		if (f->ts[PKB_TS_NETD_RX] && f->ts[PKB_TS_NETD_RX] <= now)
			hist_record(&e->st->tx_turnaround, now - f->ts[PKB_TS_NETD_RX]);
		b[k] = f;
		d[k++] = nic_desc_make(pkb_index(f));
		if (k == NETD_BURST) {
			engine_tx_push(e, d, b, k);
			k = 0;
		}
	}
	txq->n = 0;
	if (k)
		engine_tx_push(e, d, b, k);
	if (e->link && ring_prod_corrupt(&e->tx))
		engine_unbind(e, "tx");
	return n;
}

/* Socket events, counted by type, go to the application side (which takes
 * their pkbs); an engine that serves no apps frees them. Returns how many. */
static unsigned engine_events(struct netd_engine *e)
{
	struct stack_evq *evq = &e->stk->evq;
	unsigned n = evq->n;

	for (unsigned i = 0; i < n; i++) {
		enum netd_counter c;

		switch (evq->ev[i].type) {
		case STACK_EV_UDP_RX: c = NETD_EV_UDP_RX; break;
		case STACK_EV_ICMP_ERR: c = NETD_EV_ICMP_ERR; break;
		case STACK_EV_TCP: c = NETD_EV_TCP; break;
		default: c = NETD_EV_OTHER; break;
		}
		COUNTER_INC(&e->st->ctr, c);
		if (e->apps_on)
			netd_apps_event(&e->apps, &evq->ev[i], e->now);
		else
			pkb_free(&e->cache, evq->ev[i].pkb);
	}
	evq->n = 0;
	return n;
}

/* ------------------------------------------------------------ steering */

/* Several engines: RSS spreads flows over queues, but the sockets all live
 * on engine 0 (it serves the applications). Engines q > 0 do the link and
 * IP work of their queue (ARP learning, validation, reassembly, echo) and
 * pass datagrams for sockets to engine 0 on their netd_steer ring, as
 * Linux's RPS hands a packet to the CPU of its socket. */

/* Engine q > 0: move what proto/ steered onto the ring to engine 0 and ring
 * its doorbell once (a futex wake only when it sleeps). Returns how many
 * left proto/. */
static unsigned engine_steer_flush(struct netd_engine *e)
{
	struct stack_steerq *sq = &e->stk->steerq;
	uint64_t d[STACK_STEER_MAX];
	unsigned n = sq->n, done;

	if (n == 0)
		return 0;
	for (unsigned i = 0; i < n; i++)
		d[i] = (uint64_t)e->pm->serial << 32 | pkb_index(sq->pkb[i]);
	done = ring_enqueue_burst_u64(&e->steer.tx, d, n);
	COUNTER_ADD(&e->st->ctr, NETD_STEER_OUT, done);
	for (unsigned i = done; i < n; i++) {
		COUNTER_INC(&e->st->ctr, NETD_STEER_FULL);
		pkb_free(&e->cache, sq->pkb[i]);
	}
	sq->n = 0;
	if (done)
		doorbell_ring(&e->nd->steer_db);
	return n;
}

/* The pkb a steered descriptor names, or NULL when it comes from a pool
 * mapping other than the one this engine uses (nicd restarted between the
 * steering and now: that pool is forgotten, its pkbs with it). */
static struct pkb *steered_pkb(const struct netd_pool *pm, uint64_t d)
{
	struct pkb *b;

	if ((uint32_t)(d >> 32) != pm->serial)
		return NULL;
	b = pkb_at(&pm->pool, (uint32_t)d);
	return b && b->state == PKB_STATE_LIVE ? b : NULL;
}

/* Engine 0: take up to budget datagrams the other engines steered here, a
 * burst per engine in turn, into the stack. Returns how many were taken. */
static unsigned engine_steer_rx(struct netd_engine *e, unsigned budget)
{
	struct netd *nd = e->nd;
	unsigned done = 0;

	for (unsigned q = 1; q < nd->nengines && done < budget; q++) {
		uint64_t d[NETD_BURST];
		struct pkb *b[NETD_BURST];
		unsigned n = ring_dequeue_burst_u64(&nd->eng[q].steer.rx, d,
						    min_u(NETD_BURST, budget - done)), k = 0;

		for (unsigned i = 0; i < n; i++) {
			if (!(b[k] = steered_pkb(e->pm, d[i])))
				COUNTER_INC(&e->st->ctr, NETD_STEER_STALE);
			else
				k++;
		}
		if (k)
			stack_input_steered(e->stk, b, k, e->now);
		engine_tx_flush(e);
		engine_events(e);
		done += n;
	}
	COUNTER_ADD(&e->st->ctr, NETD_STEER_IN, done);
	return done;
}

/* Has any other engine steered something here? (engine 0) */
static bool engine_steer_pending(struct netd_engine *e)
{
	struct netd *nd = e->nd;

	for (unsigned q = 1; q < nd->nengines; q++)
		if (ring_cons_count(&nd->eng[q].steer.rx) > 0)
			return true;
	return false;
}

void netd_engines_drain_steer(struct netd *nd)
{
	struct netd_engine *e0 = &nd->eng[0];
	uint64_t d;

	if (!e0->pm)
		return;
	for (unsigned q = 1; q < nd->nengines; q++)
		while (ring_dequeue_burst_u64(&nd->eng[q].steer.rx, &d, 1) == 1) {
			struct pkb *b = steered_pkb(e0->pm, d);

			if (b)
				pkb_free(&e0->cache, b);
		}
	pkb_cache_flush(&e0->cache);
}

/* ------------------------------------------------------------- receive */

/* Hand one burst to proto/ and record its latencies. One stack_input_burst
 * call per NETD_BURST frames, so that TCP gets the burst's same-flow
 * segments merged (proto/gro.h), as NAPI's poll ends with a GRO flush. */
static void engine_input(struct netd_engine *e, const nic_desc *d, unsigned n)
{
	const struct pkb_pool *pool = &e->pm->pool;
	struct netd_engine_stats *st = e->st;
	uint64_t t0 = netd_now_ns(), t1;
	struct pkb *frames[NETD_BURST];
	unsigned k = 0;

	for (unsigned i = 0; i < n; i++) {
		struct pkb *b = pkb_at(pool, nic_desc_slot(d[i]));

		if (!b || b->state != PKB_STATE_LIVE) {
			COUNTER_INC(&st->ctr, NETD_RX_BAD_DESC);   /* not ours to free */
			continue;
		}
		b->ts[PKB_TS_NETD_RX] = t0;
		if (b->ts[PKB_TS_NIC_RX] && b->ts[PKB_TS_NIC_RX] <= t0)
			hist_record(&st->rx_residence, t0 - b->ts[PKB_TS_NIC_RX]);
		frames[k++] = b;
		if (k == NETD_BURST) {   /* engine_rx takes no more; bounded all the same */
			stack_input_burst(e->stk, frames, k, t0);
			k = 0;
		}
	}
	stack_input_burst(e->stk, frames, k, t0);
	COUNTER_ADD(&st->ctr, NETD_LOOPBACK, stack_poll_loopback(e->stk, STACK_LOOP_MAX, t0));
	t1 = netd_now_ns();
	hist_record(&st->proto_batch, t1 - t0);
	hist_record(&st->rx_burst, n);
	COUNTER_ADD(&st->ctr, NETD_RX_FRAMES, n);
	COUNTER_INC(&st->ctr, NETD_BATCHES);
	e->now = t1;
}

/* Take bursts off the rx ring until it is empty or budget frames were
 * taken; proto/'s output leaves after each burst. Returns frames taken. */
static unsigned engine_rx(struct netd_engine *e, unsigned budget)
{
	nic_desc d[NETD_BURST];
	unsigned done = 0;

	while (done < budget && e->link) {
		unsigned want = min_u(NETD_BURST, budget - done);
		unsigned n = ring_dequeue_burst_u64(&e->rx, d, want);

		if (n == 0) {
			if (ring_cons_corrupt(&e->rx))
				engine_unbind(e, "rx");
			break;
		}
		engine_input(e, d, n);
		engine_tx_flush(e);
		engine_steer_flush(e);
		engine_events(e);            /* each burst's: the event queue holds 512 */
		done += n;
		if (n < want)
			break;
	}
	return done;
}

/* ------------------------------------------------------------ scheduling */

/* SCHED_FIFO for this engine's thread, as nicd's (shm/rtsched.h: a woken
 * engine runs at once instead of behind other work until the next tick). */
static void engine_sched_start(struct netd_engine *e)
{
	const struct netd_config *c = &e->nd->cfg;
	int slice_err, err = rt_sched_start(&e->rt, c->rt_prio, c->slice_us, netd_now_ns(),
					    &slice_err);

	if (err < 0 && e->q == 0)
		netd_log(NETD_WARN, "SCHED_FIFO %u refused (%s): engines run SCHED_OTHER, so "
			 "wake-ups may wait up to a scheduler tick behind other work "
			 "(CAP_SYS_NICE or LimitRTPRIO= allows it)", c->rt_prio, strerror(-err));
	if (slice_err < 0 && e->q == 0)
		netd_log(NETD_WARN, "scheduler slice %u us: %s", c->slice_us, strerror(-slice_err));
}

static void engine_sched_account(struct netd_engine *e, uint64_t now)
{
	if (rt_sched_account(&e->rt, now) > 0)
		COUNTER_INC(&e->st->ctr, NETD_SCHED_DEMOTIONS);
}

/* ---------------------------------------------------------------- a pass */

/* One pass; returns the units of work done (frames in and out, events). */
static unsigned engine_pass(struct netd_engine *e)
{
	const unsigned budget = e->nd->cfg.budget;
	unsigned work = 0;

	e->now = netd_now_ns();
	COUNTER_INC(&e->st->ctr, NETD_LOOPS);
	atomic_store_explicit(&e->st->heartbeat_ns, e->now, memory_order_relaxed);
	engine_adopt(e);
	if (!e->pm)
		return 0;                    /* no pool yet: nothing to run on */
	if (e->link && (work = engine_rx(e, budget)) == budget)
		COUNTER_INC(&e->st->ctr, NETD_BUDGET_EXHAUSTED);
	if (e->q == 0 && nd_steers(e->nd))
		work += engine_steer_rx(e, budget);
	if (e->stk->loop_n > 0)
		work += stack_poll_loopback(e->stk, STACK_LOOP_MAX, e->now);
	if (e->now >= e->deadline) {
		stack_timers(e->stk, e->now);
		COUNTER_INC(&e->st->ctr, NETD_TIMER_RUNS);
	}
	work += engine_tx_flush(e) + engine_steer_flush(e) + engine_events(e);
	if (e->apps_on) {
		/* Events first: the poll services the sockets they marked. */
		work += netd_apps_poll(&e->apps, budget, e->now);
		work += engine_tx_flush(e) + engine_events(e);
	}
	e->deadline = stack_next_deadline(e->stk);
	if (e->now - e->published_ns >= NETD_PUBLISH_NS)
		netd_stats_publish(e);
	if (work)
		engine_sched_account(e, e->now);
	return work;
}

/* ------------------------------------------------------------------ idle */

/* The re-check between announcing a sleep and sleeping. */
static bool engine_has_work(struct netd_engine *e)
{
	struct netd *nd = e->nd;

	return atomic_load_explicit(&nd->stop, memory_order_relaxed) ||
	       atomic_load_explicit(&nd->link_seq, memory_order_relaxed) != e->seq_seen ||
	       (e->link && ring_cons_count(&e->rx) > 0) ||
	       (e->pm && e->stk->loop_n > 0) ||
	       (e->q == 0 && nd_steers(nd) && engine_steer_pending(e)) ||
	       (e->apps_on && e->pm && netd_apps_busy(&e->apps));
}

/* Grow or shrink the idle spin after a sleep of slept ns (see the top). */
static void engine_adapt_spin(struct netd_engine *e, uint64_t slept, bool timed_out)
{
	const uint64_t max = (uint64_t)e->nd->cfg.spin_us * 1000u, start = max / 8;

	if (!timed_out && slept < max)
		e->spin_ns = e->spin_ns ? (e->spin_ns * 2 < max ? e->spin_ns * 2 : max) : start;
	else if (slept > max)
		e->spin_ns = e->spin_ns / 2 < start ? 0 : e->spin_ns / 2;
}

/* The doorbells this engine sleeps on: nicd's rx doorbell, and with apps
 * the control doorbell and every app's. Returns how many. */
static unsigned engine_doorbells(struct netd_engine *e, struct doorbell **dbs)
{
	unsigned n = 0;

	dbs[n++] = e->rxdb;
	if (e->q == 0 && nd_steers(e->nd))
		dbs[n++] = &e->nd->steer_db;
	if (e->apps_on && e->pm)
		n += netd_apps_doorbells(&e->apps, dbs + n, DOORBELL_WAIT_MANY_MAX - n);
	return n;
}

static void engine_cancel_waits(struct doorbell **dbs, const uint32_t *tok, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		doorbell_cancel_wait(dbs[i], tok[i]);
}

/* Sleep on every doorbell at once until one is rung or the next deadline
 * (at most NETD_IDLE_MAX_NS: the engine's heartbeat). */
static void engine_sleep(struct netd_engine *e)
{
	struct doorbell *dbs[DOORBELL_WAIT_MANY_MAX];
	uint32_t tok[DOORBELL_WAIT_MANY_MAX];
	uint64_t now = netd_now_ns(), until = e->deadline, slept;
	unsigned n;
	int err;

	if (until > now + NETD_IDLE_MAX_NS)
		until = now + NETD_IDLE_MAX_NS;
	if (until <= now)
		return;
	engine_sched_account(e, now);
	if (e->pm)
		netd_stats_publish(e);       /* what a reader sees while we sleep is exact */
	n = engine_doorbells(e, dbs);
	for (unsigned i = 0; i < n; i++)
		tok[i] = doorbell_prepare_wait(dbs[i]);
	if (engine_has_work(e)) {
		engine_cancel_waits(dbs, tok, n);
		return;
	}
	COUNTER_INC(&e->st->ctr, NETD_SLEEPS);
	err = n == 1 ? doorbell_wait(dbs[0], tok[0], (int64_t)(until - now))
		     : doorbell_wait_many(dbs, tok, n, (int64_t)(until - now));
	slept = netd_now_ns() - now;
	hist_record(&e->st->sleep, slept);
	if (err == -ETIMEDOUT)
		COUNTER_INC(&e->st->ctr, NETD_WAKE_TIMEOUTS);
	engine_adapt_spin(e, slept, err == -ETIMEDOUT);
}

/* Leave cleanly: what proto/ queued goes out, every buffer the stack still
 * holds (reassembly, neighbour queues) and the cache's slots go back to the
 * pool for nicd and the next netd, and the counters are exact. */
static void engine_exit(struct netd_engine *e)
{
	if (e->apps_on) {
		netd_apps_fini(&e->apps);    /* its RSTs go out in the flush below */
		e->apps_on = false;
	}
	if (!e->pm)
		return;
	engine_tx_flush(e);
	engine_events(e);
	stack_flush(e->stk);
	netd_stats_publish(e);
	pkb_cache_flush(&e->cache);
}

void *netd_engine_run(void *arg)
{
	struct netd_engine *e = arg;
	atomic_bool *stop = &e->nd->stop;
	uint64_t idle_since = netd_now_ns();
	bool spinning = false;
	int err;

	/* Engine 0 serves every application (one stack owns their sockets).
	 * Started here so that its link thread inherits the engine's blocked
	 * signals. Without it netd still runs: apps fall back to the kernel. */
	if (e->q == 0) {
		if ((err = netd_apps_init(&e->apps, e->stk, e->nd->cfg.run_dir)) < 0)
			netd_log(NETD_ERR, "applications disabled: %s", strerror(-err));
		e->apps_on = err == 0;
		if (e->apps_on && netd_apps_set_rss(&e->apps, e->nd->nengines) < 0)
			netd_log(NETD_WARN, "no memory for RSS-aware ports: connects may land "
				 "on other engines (steered, a hop longer)");
	}
	engine_sched_start(e);               /* after: the link thread stays SCHED_OTHER */

	while (!atomic_load_explicit(stop, memory_order_relaxed)) {
		if (engine_pass(e) > 0) {
			if (spinning)
				COUNTER_INC(&e->st->ctr, NETD_SPIN_HITS);
			spinning = false;
			idle_since = e->now;
			continue;
		}
		if (e->now - idle_since < e->spin_ns) {
			spinning = true;
			cpu_relax();
			continue;
		}
		if (spinning)
			COUNTER_INC(&e->st->ctr, NETD_SPIN_MISSES);
		spinning = false;
		engine_sleep(e);
		idle_since = 0;              /* a wake-up that finds nothing sleeps again at once */
	}
	engine_exit(e);
	return NULL;
}
