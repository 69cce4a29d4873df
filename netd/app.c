/* netd/app.c — the engine's side of the applications: adopting and
 * dropping apps, the poll over their command rings and marked sockets,
 * stack events, and the wake-ups.
 *
 * Where it sits: on the engine thread, after proto/ has run for a pass:
 *
 *     handoff ring --ATTACH/DETACH--> adopt / drop --RETURN--> link thread frees
 *     app.cmd --commands--> app_cmd_exec (app_cmd.c) --completions--> app.cpl
 *     stk->evq --netd_apps_event--> mark the socket (TCP) / rx record (UDP)
 *     marked sockets --app_sock_service (app_data.c)--> bytes, state bits
 *     then one doorbell_ring_eventfd on app_ctl.wake per changed app
 *
 * Per poll, per app: one acquire load of each ring index it touches, no
 * allocation, no lock; a syscall only to wake an app that sleeps. An app
 * whose command or completion ring turns out corrupt is dropped here: its
 * sockets are aborted and it goes back to the link thread to be unmapped,
 * and no other app notices.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "netd/app_internal.h"
#include "netd/netd.h"

/* ------------------------------------------------------------ set-up */

/* The two handoff rings in one heap block, with a view on each end. */
static int handoff_rings(struct netd_apps_state *st)
{
	size_t rb = ring_bytes(NETD_HANDOFF_SLOTS, sizeof(struct ring_u128));   /* 64 * k */
	uint8_t *mem = aligned_alloc(64, 2 * rb);

	if (!mem)
		return -ENOMEM;
	st->ring_mem = mem;
	if (ring_init(mem, NETD_HANDOFF_SLOTS, 16) < 0 ||
	    ring_init(mem + rb, NETD_HANDOFF_SLOTS, 16) < 0 ||
	    ring_prod_attach(&st->hand_p, mem, rb, NETD_HANDOFF_SLOTS, 16) < 0 ||
	    ring_cons_attach(&st->hand_c, mem, rb, NETD_HANDOFF_SLOTS, 16) < 0 ||
	    ring_prod_attach(&st->ret_p, mem + rb, rb, NETD_HANDOFF_SLOTS, 16) < 0 ||
	    ring_cons_attach(&st->ret_c, mem + rb, rb, NETD_HANDOFF_SLOTS, 16) < 0)
		return -EINVAL;
	return 0;
}

static void apps_state_free(struct netd_apps_state *st)
{
	if (st->link_efd >= 0)
		close(st->link_efd);
	free(st->ring_mem);
	free(st->conn_map);
	free(st->ports);
	free(st->rss);
	free(st);
}

/* Everything but the link thread (tests drive the rest without it). The
 * conn map and port table are calloc'd: untouched pages cost nothing. */
static int apps_state_new(struct netd_apps_state **out, struct stack *stk, const char *run_dir)
{
	size_t size = (sizeof(struct netd_apps_state) + 127) & ~(size_t)127;
	struct netd_apps_state *st = aligned_alloc(128, size);
	int err;

	if (!st)
		return -ENOMEM;
	memset(st, 0, sizeof(*st));
	st->stk = stk;
	st->sock = -1;
	st->link_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	st->conn_map = calloc(NETD_CONN_MAP_MAX, sizeof(uint32_t));
	st->ports = calloc(NETD_PORTS, sizeof(struct port_use));
	err = st->link_efd < 0 ? -errno : !st->conn_map || !st->ports ? -ENOMEM : handoff_rings(st);
	if (err == 0 && (size_t)snprintf(st->sock_path, sizeof(st->sock_path), "%s/%s", run_dir,
					 APP_SOCK_FILE) >= sizeof(st->sock_path))
		err = -ENAMETOOLONG;
	if (err < 0) {
		apps_state_free(st);
		return err;
	}
	doorbell_init(&st->ctl_db);
	netd_app_counters_init(&st->ctr);
	st->port_next = (uint32_t)stk->cfg.secret[0];
	*out = st;
	return 0;
}

int netd_apps_set_rss(struct netd_apps *a, unsigned nqueues)
{
	struct netd_apps_state *st = a->s;

	if (!st || nqueues < 2)
		return 0;
	if (!st->rss && !(st->rss = malloc(sizeof(*st->rss))))
		return -ENOMEM;
	rss_table_init(st->rss, rss_default_key);
	st->nqueues = nqueues;
	return 0;
}

int netd_apps_init(struct netd_apps *a, struct stack *stk, const char *run_dir)
{
	struct netd_apps_state *st;
	int err;

	a->s = NULL;
	if ((err = apps_state_new(&st, stk, run_dir)) < 0)
		return err;
	if ((err = sockd_link_start(st)) < 0) {
		apps_state_free(st);
		return err;
	}
	a->s = st;
	return 0;
}

/* ------------------------------------------------------------ handoff */

static void app_adopt(struct netd_apps_state *st, struct netd_app *app)
{
	st->app[app->slot] = app;
	st->live[st->nlive++] = (uint8_t)app->slot;
	APP_CTR(st, APPS_ADOPTED);
}

void app_drop(struct netd_apps_state *st, struct netd_app *app, bool graceful)
{
	struct ring_u128 m = { .lo = HANDOFF_RETURN | (uint64_t)app->slot << 8 |
				     (uint64_t)app->app_id << 32,
			       .hi = (uint64_t)(uintptr_t)app };
	uint64_t one = 1;

	for (uint32_t i = 0; i < app->nsocks && app->nopen > 0; i++)
		if (app->sock[i].type)
			nsock_kill(st, app, i, graceful, st->now);
	app_fork_forget(app);
	for (unsigned k = 0; k < st->nlive; k++)
		if (st->live[k] == app->slot)
			st->live[k] = st->live[--st->nlive];
	st->app[app->slot] = NULL;
	/* Cannot be full: at most NETD_APPS_MAX apps are ever out of the link
	 * thread's hands, and the ring has more slots than that. */
	ring_enqueue_bulk_u128(&st->ret_p, &m, 1);
	if (write(st->link_efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: a wake-up is pending anyway; the link thread also reaps on its tick */
	}
	APP_CTR(st, APPS_DROPPED);
}

/* The app's process is gone (sockd's detach): close its sockets as the
 * kernel closes a dead process's files. A TCP socket's unsent bytes still
 * go, then the FIN: such sockets drain in NS_CLOSING (bounded by
 * NETD_CLOSE_DRAIN_NS, closing_sweep) and the app is dropped when none is
 * left. Its listeners stay, held, while a child it forked has yet to
 * inherit them (app_share.c; released by linger_sweep). The region stays
 * mapped meanwhile; nobody writes it any more. */
static void app_exit(struct netd_apps_state *st, struct netd_app *app)
{
	bool hold = app_fork_waiting(app);

	app->exiting = true;
	app->linger_until = st->now + NETD_FORK_LINGER_NS;
	for (uint32_t i = 0; i < app->nsocks && app->nopen > 0; i++) {
		struct nsock *ns = &app->sock[i];

		if (!ns->type || ns->state == NS_CLOSING)
			continue;
		if (hold && ns->state == NS_LISTEN) {
			app->held++;
			APP_CTR(st, LISTENERS_HELD);
			continue;
		}
		if (!app_tcp_defer_close(st, app, i, 0, st->now))
			nsock_kill(st, app, i, true, st->now);
	}
	if (app->owed == 0 && app->held == 0)
		app_drop(st, app, true);
}

static void handoff_one(struct netd_apps_state *st, const struct ring_u128 *m)
{
	unsigned op = (unsigned)(m->lo & 0xff), slot = (unsigned)(m->lo >> 8 & 0xff);
	struct netd_app *app = (struct netd_app *)(uintptr_t)m->hi;

	if (slot >= NETD_APPS_MAX)
		return;
	if (op == HANDOFF_ATTACH && app && !st->app[slot])
		app_adopt(st, app);
	else if (op == HANDOFF_DETACH && app && st->app[slot] == app && !app->exiting)
		app_exit(st, app);
}

/* Bounded by the ring's size: the link thread cannot keep us here. */
static unsigned handoff_drain(struct netd_apps_state *st)
{
	struct ring_u128 m[16];
	unsigned total = 0, n;

	while (total < NETD_HANDOFF_SLOTS && (n = ring_dequeue_burst_u128(&st->hand_c, m, 16)) > 0) {
		for (unsigned i = 0; i < n; i++)
			handoff_one(st, &m[i]);
		total += n;
	}
	return total;
}

void netd_apps_fini(struct netd_apps *a)
{
	struct netd_apps_state *st = a->s;

	if (!st)
		return;
	sockd_link_stop(st);
	handoff_drain(st);
	while (st->nlive > 0)
		app_drop(st, st->app[st->live[0]], false);
	sockd_link_reap(st);
	apps_state_free(st);
	a->s = NULL;
}

/* ---------------------------------------------------------- one app */

void app_dirty(struct netd_app *app, uint32_t i)
{
	app->dirty[i / 64] |= 1ull << (i % 64);
	app->any_dirty = true;
}

bool app_cpl_post(struct netd_app *app, const struct app_cpl *c)
{
	app->changed = true;
	return ring_enqueue_bulk_elem(&app->cpl, c, sizeof(*c), 1) == 1;
}

/* Completion slots free for new commands: deferred CLOSEs keep theirs. */
static uint32_t cpl_room(struct netd_app *app)
{
	uint32_t room = ring_prod_free(&app->cpl);

	return room > app->owed ? room - app->owed : 0;
}

/* proto/'s tx queue is nearly full: leave the rest for the next poll, after
 * the engine has flushed it (else frames would be dropped TXQ_FULL). */
static bool txq_high(const struct netd_apps_state *st)
{
	return st->stk->txq.n >= NETD_TXQ_HIGH;
}

/* Execute up to budget commands, never more than the completions the app
 * has room for: an app that stops reading completions stops being served,
 * and netd never has to hold a completion back. */
static unsigned cmds_drain(struct netd_apps_state *st, struct netd_app *app, unsigned budget,
			   uint64_t now)
{
	struct app_cmd c[NETD_APP_BURST];
	uint32_t room = cpl_room(app);
	unsigned done = 0, n;

	if (budget > room)
		budget = room;
	while (done < budget && !txq_high(st)) {
		unsigned want = budget - done < NETD_APP_BURST ? budget - done : NETD_APP_BURST;

		n = ring_dequeue_burst_elem(&app->cmd, c, sizeof(c[0]), want);
		for (unsigned i = 0; i < n; i++)
			app_cmd_exec(st, app, &c[i], now);
		done += n;
		if (n < want)
			break;
	}
	COUNTER_ADD(&st->ctr, NETD_APP_CMDS, done);
	return done;
}

/* Service every marked socket once; marks made meanwhile wait for the
 * next poll, so one poll is bounded by nsocks services. */
static unsigned dirty_service(struct netd_apps_state *st, struct netd_app *app, uint64_t now)
{
	unsigned words = (app->nsocks + 63) / 64, n = 0;

	app->any_dirty = false;
	for (unsigned w = 0; w < words; w++) {
		uint64_t bits = app->dirty[w];

		app->dirty[w] = 0;
		for (; bits; bits &= bits - 1, n++) {
			if (txq_high(st)) {
				app->dirty[w] |= bits;       /* the rest: next poll */
				app->any_dirty = true;
				return n;
			}
			app_sock_service(st, app, w * 64 + (unsigned)__builtin_ctzll(bits), now);
		}
	}
	return n;
}

static void app_wake(struct netd_apps_state *st, struct netd_app *app)
{
	/* after every release store the app may read (rx.prod, events, cpl) */
	int r = doorbell_ring_eventfd(&app->ctl->wake, app->wake_efd);

	app->changed = false;
	if (r > 0)
		APP_CTR(st, WAKES);
	else if (r < 0 && r != -EAGAIN)
		APP_CTR(st, WAKE_ERR);
}

static bool app_corrupt(const struct netd_app *app)
{
	return ring_cons_corrupt(&app->cmd) || ring_prod_corrupt(&app->cpl);
}

static unsigned app_poll(struct netd_apps_state *st, struct netd_app *app, unsigned budget,
			 uint64_t now)
{
	unsigned work = app->exiting ? 0 : cmds_drain(st, app, budget, now);

	if (app->any_dirty)
		work += dirty_service(st, app, now);
	if (app->exiting && app->owed == 0 && app->held == 0) {
		app_drop(st, app, true);     /* its last closing socket has drained */
		return work + 1;
	}
	if (app_corrupt(app)) {
		COUNTER_INC(&st->ctr, ring_cons_corrupt(&app->cmd) ? NETD_APP_CMD_RING_CORRUPT
								   : NETD_APP_CPL_RING_CORRUPT);
		netd_log(NETD_WARN, "app %u (pid %u): impossible ring indices; detached",
			 app->app_id, app->pid);
		app_drop(st, app, false);
		return work + 1;
	}
	if (app->changed) {
		app_wake(st, app);
		work++;
	}
	return work;
}

/* A closing socket whose tx ring did not drain in NETD_CLOSE_DRAIN_NS is
 * reset: a peer that never opens its window cannot pin an index forever. */
static void closing_sweep(struct netd_apps_state *st, uint64_t now)
{
	for (unsigned k = 0; k < st->nlive; k++) {
		struct netd_app *app = st->app[st->live[k]];

		for (uint32_t i = 0; i < app->nsocks && app->owed > 0; i++) {
			struct nsock *ns = &app->sock[i];

			if (ns->state == NS_CLOSING && now >= ns->close_by) {
				APP_CTR(st, TCP_CLOSE_DRAIN_TIMEOUT);
				app_tcp_close_finish(st, app, i, false, now);
			}
		}
	}
}

/* An exited parent's held listeners go once no child of its waits to
 * inherit them, or its linger is over (app_share.c): shared ones leave
 * their group, the others close. The next poll drops the app. */
static void linger_sweep(struct netd_apps_state *st, uint64_t now)
{
	for (unsigned k = 0; k < st->nlive; k++) {
		struct netd_app *app = st->app[st->live[k]];

		if (!app->exiting || app->held == 0 || (now < app->linger_until && app_fork_waiting(app)))
			continue;
		for (uint32_t i = 0; i < app->nsocks; i++)
			if (app->sock[i].state == NS_LISTEN)
				nsock_kill(st, app, i, true, now);
		app->held = 0;
	}
}

/* ----------------------------------------------------------- the hooks */

unsigned netd_apps_poll(struct netd_apps *a, unsigned budget, uint64_t now)
{
	struct netd_apps_state *st = a->s;
	uint8_t slots[NETD_APPS_MAX];
	unsigned n, work, share;

	if (!st)
		return 0;
	st->now = now;
	/* The link thread offers netd to sockd only from now on: before the
	 * engine serves, sockd refuses apps (-EAGAIN) and they use the kernel. */
	if (!atomic_load_explicit(&st->ready, memory_order_relaxed))
		atomic_store_explicit(&st->ready, true, memory_order_relaxed);
	work = handoff_drain(st);
	if (now >= st->sweep_at) {
		closing_sweep(st, now);
		linger_sweep(st, now);
		st->sweep_at = now + NETD_SWEEP_NS;
	}
	n = st->nlive;                       /* app_poll may drop an app: iterate a copy */
	memcpy(slots, st->live, n);
	share = n && budget / n > NETD_APP_BURST ? budget / n : NETD_APP_BURST;
	for (unsigned k = 0; k < n; k++) {
		struct netd_app *app = st->app[slots[(st->rr + k) % n]];

		if (app)
			work += app_poll(st, app, share, now);
		if (txq_high(st))
			break;                       /* rr moves on: the next app goes first */
	}
	st->rr++;
	return work;
}

bool netd_apps_busy(struct netd_apps *a)
{
	struct netd_apps_state *st = a->s;

	if (!st)
		return false;
	if (ring_cons_count(&st->hand_c) > 0)
		return true;
	for (unsigned k = 0; k < st->nlive; k++) {
		struct netd_app *app = st->app[st->live[k]];

		/* a command counts only if it can complete: else an app that
		 * never reads completions would keep netd spinning */
		if (app->changed || app->any_dirty || app_corrupt(app) ||
		    (ring_cons_count(&app->cmd) > 0 && cpl_room(app) > 0))
			return true;
	}
	return false;
}

unsigned netd_apps_doorbells(struct netd_apps *a, struct doorbell **dbs, unsigned max)
{
	struct netd_apps_state *st = a->s;
	unsigned n = 0;

	if (!st || max == 0)
		return 0;
	dbs[n++] = &st->ctl_db;
	for (unsigned k = 0; k < st->nlive && n < max; k++)
		dbs[n++] = &st->app[st->live[k]]->ctl->netd;
	return n;
}

/* An ICMP error reaches a UDP socket only if it is connected: Linux reports
 * errors on unconnected sockets only with IP_RECVERR (udp_err). */
static void icmp_err(struct netd_apps_state *st, const struct stack_event *ev)
{
	uint32_t slot = ev->sock_id >> 16, i = ev->sock_id & 0xffff;
	struct netd_app *app = slot < NETD_APPS_MAX ? st->app[slot] : NULL;

	if (!app || i >= app->nsocks || app->sock[i].type != SOCK_DGRAM || !app->sock[i].raddr) {
		APP_CTR(st, ICMP_ERR_IGNORED);
		return;
	}
	app->sock[i].error = ev->err;
	nsock_publish(app, i);
	APP_CTR(st, ICMP_ERR_SET);
}

static void tcp_event(struct netd_apps_state *st, const struct stack_event *ev)
{
	uint32_t i;
	struct netd_app *app = app_conn_owner(st, ev->sock_id, &i);

	if (!app) {
		APP_CTR(st, TCP_EV_STALE);
		return;
	}
	app->sock[i].tev |= ev->info;
	app_dirty(app, i);
}

void netd_apps_event(struct netd_apps *a, struct stack_event *ev, uint64_t now)
{
	struct netd_apps_state *st = a->s;

	if (st) {
		st->now = now;
		switch (ev->type) {
		case STACK_EV_UDP_RX: app_udp_rx(st, ev); break;
		case STACK_EV_ICMP_ERR: icmp_err(st, ev); break;
		case STACK_EV_TCP: tcp_event(st, ev); break;
		default: APP_CTR(st, EV_OTHER); break;
		}
	}
	if (ev->pkb && st)
		pkb_free(st->stk->cache, ev->pkb);
	ev->pkb = NULL;
}

/* stack_init emptied the UDP table: put every bound socket back. */
static void udp_rebind(struct netd_apps_state *st, struct netd_app *app, uint32_t i)
{
	struct nsock *ns = &app->sock[i];
	unsigned f = (ns->flags & NSF_REUSEADDR ? UDP_F_REUSEADDR : 0) |
		     (ns->flags & NSF_REUSEPORT ? UDP_F_REUSEPORT : 0);

	if (udp_bind(&st->stk->udp, udp_sock_id(app, i), ns->laddr, ns->lport, f, app->uid) < 0) {
		APP_CTR(st, UDP_REBIND_FAIL);
		ns->state = NS_OPEN;
		ns->error = -EADDRINUSE;
		nsock_publish(app, i);
		return;
	}
	if (ns->raddr)
		udp_connect(&st->stk->udp, udp_sock_id(app, i), 0, ns->raddr, ns->rport);
}

void netd_apps_stack_reset(struct netd_apps *a)
{
	struct netd_apps_state *st = a->s;

	for (unsigned k = 0; st && k < st->nlive; k++) {
		struct netd_app *app = st->app[st->live[k]];

		for (uint32_t i = 0; i < app->nsocks; i++)
			if (app->sock[i].type == SOCK_DGRAM && app->sock[i].state == NS_BOUND)
				udp_rebind(st, app, i);
		app->changed = true;
	}
}

void netd_apps_stats(const struct netd_apps *a, uint64_t *out)
{
	if (a->s)
		netd_app_counters_snapshot(&a->s->ctr, out);
	else
		memset(out, 0, NETD_APP_CTR_NR * sizeof(*out));
}
