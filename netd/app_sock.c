/* netd/app_sock.c — netd's table of application sockets: opening and
 * freeing entries, the conn map (TCP conn -> app, socket), the TCP port
 * table, options recorded before a conn exists, and publishing each
 * socket's state bits.
 *
 * Where it sits: under the commands (app_cmd.c) and the byte movers
 * (app_data.c), on the engine thread. Nothing here trusts the region: an
 * entry's type and state are netd's, and the only shared words written are
 * the ones netd owns (rx.prod, tx.cons, events, error).
 */
#include <errno.h>
#include <string.h>

#include "netd/app_internal.h"

/* ------------------------------------------------------------ entries */

void nsock_open(struct netd_app *app, uint32_t i, uint8_t type)
{
	struct nsock *ns = &app->sock[i];
	struct app_sock *as = &app->socks[i];

	memset(ns, 0, sizeof(*ns));
	ns->type = type;
	ns->state = NS_OPEN;
	ns->conn = ns->stash = TCP_CONN_NONE;
	/* Both byte rings start empty at the app's own end, whatever it left
	 * there: netd owns rx.prod and tx.cons and starts them where the app
	 * stands. Nothing is read from the buffers before, so relaxed loads. */
	ns->rx_prod = atomic_load_explicit(&as->rx.cons, memory_order_relaxed);
	ns->tx_cons = atomic_load_explicit(&as->tx.prod, memory_order_relaxed);
	atomic_store_explicit(&as->rx.prod, ns->rx_prod, memory_order_relaxed);
	atomic_store_explicit(&as->tx.cons, ns->tx_cons, memory_order_relaxed);
	atomic_store_explicit(&as->error, 0, memory_order_relaxed);
	/* Release: pairs with libsock's acquire load of events; the indices
	 * above are visible once the (empty) state is. */
	atomic_store_explicit(&as->events, 0, memory_order_release);
	app->nopen++;
	app->changed = true;
}

void nsock_free(struct netd_apps_state *st, struct netd_app *app, uint32_t i)
{
	struct nsock *ns = &app->sock[i];
	struct app_sock *as = &app->socks[i];

	if (ns->conn != TCP_CONN_NONE)
		app_conn_clear(st, ns->conn);
	if (ns->type == SOCK_DGRAM && ns->state == NS_BOUND)
		udp_unbind(&st->stk->udp, udp_sock_id(app, i));
	app_port_release(st, ns);
	memset(ns, 0, sizeof(*ns));
	ns->conn = ns->stash = TCP_CONN_NONE;
	atomic_store_explicit(&as->error, 0, memory_order_relaxed);
	atomic_store_explicit(&as->events, 0, memory_order_release);
	app->nopen--;
	app->changed = true;
}

/* Linux's poll bits, as app_layout.h maps them: RDHUP once reading is over
 * (FIN read, SHUT_RD, reset), HUP once both ways are (or the conn died). */
static uint32_t nsock_events(const struct nsock *ns)
{
	uint32_t ev = 0;

	if (ns->flags & NSF_UP)
		ev |= APP_EV_CONNECTED;
	if (ns->state == NS_LISTEN &&
	    (ns->stash != TCP_CONN_NONE || (ns->flags & NSF_GROUP_ACCEPTQ)))
		ev |= APP_EV_ACCEPTQ;
	if (ns->flags & (NSF_EOF | NSF_DEAD | NSF_BROKEN))
		ev |= APP_EV_RDHUP;
	if ((ns->flags & (NSF_DEAD | NSF_BROKEN)) ||
	    (ns->flags & (NSF_EOF | NSF_FIN)) == (NSF_EOF | NSF_FIN))
		ev |= APP_EV_HUP;
	if (ns->error)
		ev |= APP_EV_ERR;
	return ev;
}

void nsock_publish(struct netd_app *app, uint32_t i)
{
	struct nsock *ns = &app->sock[i];
	struct app_sock *as = &app->socks[i];
	uint32_t ev = nsock_events(ns);

	if (ev == ns->events && ns->error == ns->pub_error)
		return;
	atomic_store_explicit(&as->error, ns->error, memory_order_relaxed);
	/* Release: pairs with libsock's acquire load of events: the error and
	 * every rx byte published before are visible with the bits. */
	atomic_store_explicit(&as->events, ev, memory_order_release);
	ns->events = ev;
	ns->pub_error = ns->error;
	app->changed = true;
}

/* ------------------------------------------------------------ conn map */

int app_conn_set(struct netd_apps_state *st, struct netd_app *app, uint32_t conn, uint32_t i)
{
	if (conn >= NETD_CONN_MAP_MAX)
		return -ENOBUFS;
	st->conn_map[conn] = 1 + (app->slot << 16 | i);
	return 0;
}

void app_conn_clear(struct netd_apps_state *st, uint32_t conn)
{
	if (conn < NETD_CONN_MAP_MAX)
		st->conn_map[conn] = 0;
}

/* The app and socket holding conn, or NULL. The socket must still name the
 * conn: an entry outliving its socket (never, but cheap to check) is ignored. */
struct netd_app *app_conn_owner(struct netd_apps_state *st, uint32_t conn, uint32_t *sock)
{
	uint32_t e = conn < NETD_CONN_MAP_MAX ? st->conn_map[conn] : 0, slot, i;
	struct netd_app *app;

	if (e-- == 0)
		return NULL;
	slot = e >> 16;
	i = e & 0xffff;
	app = slot < NETD_APPS_MAX ? st->app[slot] : NULL;
	if (!app || i >= app->nsocks || app->sock[i].conn != conn)
		return NULL;
	*sock = i;
	return app;
}

/* ---------------------------------------------------------- TCP ports */

enum port_flags { PF_REUSEADDR = 1, PF_REUSEPORT = 2, PF_LISTEN = 4 };

/* Linux's bind rules, addresses folded: a port is taken unless every
 * holder and the newcomer set SO_REUSEPORT (same user), or every holder
 * and the newcomer set SO_REUSEADDR and none of them listens. */
static bool port_conflict(const struct port_use *p, uint32_t flags, uint32_t uid)
{
	if (p->users == 0)
		return false;
	if ((flags & NSF_REUSEPORT) && p->reuseport == p->users && p->uid == uid)
		return false;
	if ((flags & NSF_REUSEADDR) && p->reuseaddr == p->users && p->listeners == 0)
		return false;
	return true;
}

/* An ephemeral port nobody holds, searched from a moving offset (RFC 6056
 * algorithm 1 in spirit). 0 if the range is full. */
static uint16_t port_pick(struct netd_apps_state *st)
{
	const uint32_t lo = UDP_EPHEMERAL_LO, span = UDP_EPHEMERAL_HI - UDP_EPHEMERAL_LO + 1;

	for (uint32_t n = 0; n < span; n++) {
		uint32_t p = lo + st->port_next++ % span;

		if (st->ports[p].users == 0)
			return (uint16_t)p;
	}
	return 0;
}

uint16_t app_rss_port(struct netd_apps_state *st, uint32_t laddr, uint32_t raddr, uint16_t rport)
{
	const uint32_t lo = UDP_EPHEMERAL_LO, span = UDP_EPHEMERAL_HI - UDP_EPHEMERAL_LO + 1;

	if (!st->rss)
		return 0;
	/* About one port in nqueues qualifies: a short walk from the offset. */
	for (uint32_t n = 0; n < span; n++) {
		uint16_t p = (uint16_t)(lo + st->port_next++ % span);

		if (st->ports[p].users == 0 &&
		    rss_flow_queue(st->rss, raddr, laddr, rport, p, st->nqueues) == 0) {
			APP_CTR(st, RSS_PORTS);
			return p;
		}
	}
	return 0;
}

int app_port_take(struct netd_apps_state *st, struct netd_app *app, struct nsock *ns, uint16_t port)
{
	struct port_use *p;

	if (port == 0 && (port = port_pick(st)) == 0)
		return -EADDRINUSE;
	p = &st->ports[port];
	if (port_conflict(p, ns->flags, app->uid))
		return -EADDRINUSE;
	if (p->users++ == 0)
		p->uid = app->uid;
	/* remember how it was counted: the flags may change before release */
	ns->port_reg = port;
	ns->port_flags = (ns->flags & NSF_REUSEADDR ? PF_REUSEADDR : 0) |
			 (ns->flags & NSF_REUSEPORT ? PF_REUSEPORT : 0);
	p->reuseaddr += (ns->port_flags & PF_REUSEADDR) ? 1 : 0;
	p->reuseport += (ns->port_flags & PF_REUSEPORT) ? 1 : 0;
	return port;
}

/* The socket now listens on the port it holds. */
void app_port_listen(struct netd_apps_state *st, struct nsock *ns)
{
	if (ns->port_reg && !(ns->port_flags & PF_LISTEN)) {
		st->ports[ns->port_reg].listeners++;
		ns->port_flags |= PF_LISTEN;
	}
}

void app_port_release(struct netd_apps_state *st, struct nsock *ns)
{
	struct port_use *p = &st->ports[ns->port_reg];

	if (ns->port_reg == 0)
		return;
	p->users--;
	p->reuseaddr -= (ns->port_flags & PF_REUSEADDR) ? 1 : 0;
	p->reuseport -= (ns->port_flags & PF_REUSEPORT) ? 1 : 0;
	p->listeners -= (ns->port_flags & PF_LISTEN) ? 1 : 0;
	ns->port_reg = 0;
	ns->port_flags = 0;
}

/* ------------------------------------------------------------ options */

/* One recorded option onto conn. */
static int opt_to_tcp(struct netd_apps_state *st, uint32_t conn, int opt,
		      const struct nsock_opts *o, uint64_t now)
{
	struct tcp_stack *ts = st->stk->tcp;
	const struct tcp_env *env = &st->stk->tcp_env;

	if (opt == TCP_SOCKOPT_CONGESTION)
		return tcp_setsockopt(ts, env, conn, opt, o->cc, (uint32_t)strnlen(o->cc, sizeof(o->cc)),
				      now);
	if (opt == TCP_SOCKOPT_LINGER) {
		struct tcp_linger lg = { o->v[opt] >= 0, o->v[opt] >= 0 ? o->v[opt] : 0 };

		return tcp_setsockopt(ts, env, conn, opt, &lg, sizeof(lg), now);
	}
	return tcp_setsockopt(ts, env, conn, opt, &o->v[opt], sizeof(int32_t), now);
}

int nsock_setopt(struct netd_apps_state *st, struct nsock *ns, int opt, uint64_t now)
{
	return opt_to_tcp(st, ns->conn, opt, &ns->opt, now);
}

void app_opts_apply(struct netd_apps_state *st, struct nsock *ns, uint64_t now)
{
	for (int opt = 1; opt < NOPT_N; opt++)
		if (ns->opt.set & (1u << opt))
			opt_to_tcp(st, ns->conn, opt, &ns->opt, now);
}
