/* netd/app_cmd.c — the socket commands of shm/app_layout.h, executed with
 * Linux's semantics and errnos.
 *
 * Where it sits: app.c's poll copies each command out of the app's cmd
 * ring and calls app_cmd_exec, which checks it (op, socket index, netd's own
 * view of the socket), runs it on proto/ (tcp_*, udp_*), and posts exactly
 * one completion, except for the notifications (TX, RX_DONE: mark the
 * socket for service) and a CLOSE whose tx ring must drain first (its
 * completion follows from app_data.c).
 *
 * Nothing in a command is trusted: an unknown op is -EINVAL, a socket index
 * out of range or not open is -EBADF, every address and port is checked
 * against policy (ports below 1024 need APP_F_BIND_PRIV) and the stack.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "netd/app_internal.h"

#define CMD_DEFERRED 1               /* the completion is posted later */
#define BACKLOG_MAX  4096            /* Linux's somaxconn */

struct cmd_ctx {
	struct netd_apps_state *st;
	struct netd_app *app;
	const struct app_cmd *c;
	struct nsock *ns;                /* app->sock[c->sock] */
	struct app_cpl *out;
	uint64_t now;
};

static struct tcp_stack *ctx_tcp(const struct cmd_ctx *x) { return x->st->stk->tcp; }
static const struct tcp_env *ctx_env(const struct cmd_ctx *x) { return &x->st->stk->tcp_env; }

/* ---------------------------------------------------------- SOCKET, BIND */

static int op_socket(struct cmd_ctx *x)
{
	uint32_t type = (uint32_t)x->c->arg0 & 0xfu;   /* SOCK_NONBLOCK and friends are libsock's */

	if (x->ns->type)
		return -EBUSY;
	if (type != SOCK_STREAM && type != SOCK_DGRAM)
		return -EINVAL;
	nsock_open(x->app, x->c->sock, (uint8_t)type);
	return 0;
}

/* A TCP socket holds its port in netd's table until the conn exists. */
static int tcp_bind_sock(struct cmd_ctx *x, uint32_t addr, uint16_t port)
{
	int r = app_port_take(x->st, x->app, x->ns, port);

	if (r < 0)
		return r;
	x->ns->laddr = addr;
	x->ns->lport = (uint16_t)r;
	x->ns->flags |= NSF_BOUND;
	return 0;
}

static int udp_bind_sock(struct cmd_ctx *x, uint32_t addr, uint16_t port)
{
	struct nsock *ns = x->ns;
	unsigned f = (ns->flags & NSF_REUSEADDR ? UDP_F_REUSEADDR : 0) |
		     (ns->flags & NSF_REUSEPORT ? UDP_F_REUSEPORT : 0);
	int r = udp_bind(&x->st->stk->udp, udp_sock_id(x->app, x->c->sock), addr, port, f,
			 x->app->uid);

	if (r < 0)
		return r;
	ns->laddr = addr;
	ns->lport = (uint16_t)r;
	ns->state = NS_BOUND;
	return 0;
}

static int op_bind(struct cmd_ctx *x)
{
	const struct app_cmd *c = x->c;
	const struct route_table *rt = &x->st->stk->routes;
	int r;

	if (x->ns->state != NS_OPEN || (x->ns->flags & NSF_BOUND))
		return -EINVAL;
	if (c->port && c->port < 1024 && !(x->app->flags & APP_F_BIND_PRIV))
		return -EACCES;
	if (c->addr && !route_is_local(rt, c->addr) &&
	    !(x->ns->type == SOCK_DGRAM && route_is_broadcast(rt, c->addr)))
		return -EADDRNOTAVAIL;
	x->ns->flags |= (c->arg0 & APP_SO_REUSEADDR ? NSF_REUSEADDR : 0) |
			(c->arg0 & APP_SO_REUSEPORT ? NSF_REUSEPORT : 0);
	r = x->ns->type == SOCK_STREAM ? tcp_bind_sock(x, c->addr, c->port)
				       : udp_bind_sock(x, c->addr, c->port);
	if (r < 0)
		return r;
	x->out->addr = x->ns->laddr;
	x->out->port = x->ns->lport;
	return 0;
}

/* ------------------------------------------------------- LISTEN, ACCEPT */

/* A conn the socket now holds: the map finds it for events. */
static int sock_take_conn(struct cmd_ctx *x, struct nsock *ns, uint32_t i, int conn)
{
	if (app_conn_set(x->st, x->app, (uint32_t)conn, i) < 0) {
		tcp_abort(ctx_tcp(x), ctx_env(x), (uint32_t)conn, x->now);
		APP_CTR(x->st, TCP_NO_CONN_SLOT);
		return -ENOBUFS;
	}
	ns->conn = (uint32_t)conn;
	return 0;
}

static int op_listen(struct cmd_ctx *x)
{
	struct nsock *ns = x->ns;
	int32_t backlog = x->c->arg0 < 0 ? 0 : x->c->arg0 > BACKLOG_MAX ? BACKLOG_MAX : x->c->arg0;
	int r;

	if (ns->type != SOCK_STREAM)
		return -EOPNOTSUPP;
	if (ns->state == NS_LISTEN)
		return 0;                    /* Linux: a new backlog; ours is fixed */
	if (ns->state != NS_OPEN)
		return -EINVAL;
	if (!(ns->flags & NSF_BOUND) && (r = tcp_bind_sock(x, 0, 0)) < 0)
		return r;
	r = tcp_listen(ctx_tcp(x), ctx_env(x), ns->laddr, ns->lport, (uint32_t)backlog,
		       ns->flags & NSF_REUSEPORT ? TCP_LISTEN_REUSEPORT : 0);
	if (r < 0 || (r = sock_take_conn(x, ns, x->c->sock, r)) < 0)
		return r;
	ns->state = NS_LISTEN;
	app_port_listen(x->st, ns);
	app_opts_apply(x->st, ns, x->now);
	return 0;
}

/* The index libsock names for the accepted socket: free, or a socket it
 * opened for the purpose and did nothing with. */
static bool accept_target_ok(const struct cmd_ctx *x, uint32_t ni)
{
	const struct nsock *nn = ni < x->app->nsocks ? &x->app->sock[ni] : NULL;

	return nn && ni != x->c->sock &&
	       (nn->type == 0 || (nn->type == SOCK_STREAM && nn->state == NS_OPEN && !nn->flags));
}

/* The new socket: connected, with its listener's options, and serviced at
 * the next poll (bytes or even the FIN may have come while it waited). */
static int accept_into(struct cmd_ctx *x, uint32_t ni, uint32_t conn)
{
	struct nsock *nn = &x->app->sock[ni];
	struct tcp_conn_info ti;
	int r;

	if (nn->type)
		nsock_free(x->st, x->app, ni);
	nsock_open(x->app, ni, SOCK_STREAM);
	if ((r = sock_take_conn(x, nn, ni, (int)conn)) < 0) {
		nsock_free(x->st, x->app, ni);
		return r;
	}
	tcp_info(ctx_tcp(x), conn, &ti);
	nn->state = NS_CONNECTED;
	nn->flags = NSF_UP | NSF_BOUND | (x->ns->flags & (NSF_REUSEADDR | NSF_REUSEPORT));
	nn->laddr = ti.laddr, nn->lport = ti.lport, nn->raddr = ti.raddr, nn->rport = ti.rport;
	nn->opt = x->ns->opt;
	app_opts_apply(x->st, nn, x->now);
	nn->tev = TCP_EV_CLOSED;         /* a conn reset while queued is noticed at once */
	app_dirty(x->app, ni);
	nsock_publish(x->app, ni);
	x->out->addr = ti.raddr;
	x->out->port = ti.rport;
	return 0;
}

/* A listener shared across fork accepts from its group's leader, which
 * holds the stash and is refilled after (app_share.c). */
static int op_accept(struct cmd_ctx *x)
{
	struct netd_app *la;
	uint32_t ni = (uint32_t)x->c->arg0, li, conn;
	struct nsock *ls = x->ns, *lead;
	int r;

	if (ls->state != NS_LISTEN || !accept_target_ok(x, ni))
		return -EINVAL;
	lead = app_share_leader(x->st, x->app, x->c->sock, &la, &li);
	conn = lead->stash;
	lead->stash = TCP_CONN_NONE;
	if (conn == TCP_CONN_NONE) {
		r = tcp_accept(ctx_tcp(x), ctx_env(x), ls->conn, NULL);
		if (r < 0) {
			app_share_publish(x->st, x->app, x->c->sock);   /* ACCEPTQ off */
			return r;
		}
		conn = (uint32_t)r;
	}
	r = accept_into(x, ni, conn);
	app_listener_refill(x->st, la, li);
	app_share_publish(x->st, x->app, x->c->sock);
	return r;
}

/* ------------------------------------------------------------- CONNECT */

/* connect() again after a failed attempt: Linux reports the error once
 * (or ECONNABORTED) and the socket is unconnected again. */
static int tcp_connect_failed(struct cmd_ctx *x)
{
	struct nsock *ns = x->ns;
	int err = ns->error ? ns->error : -ECONNABORTED;

	app_tcp_release(x->st, x->app, x->c->sock, false, x->now);
	ns->state = NS_OPEN;
	ns->flags &= ~(uint32_t)(NSF_DEAD | NSF_EOF | NSF_FIN | NSF_SHUT_RD | NSF_SHUT_WR);
	ns->error = 0;
	nsock_publish(x->app, x->c->sock);
	return err;
}

/* tcp_connect, from an ephemeral port whose replies RSS gives this engine
 * when there are several (app_rss_port); a 4-tuple in use tries another. */
static int tcp_connect_rss(struct cmd_ctx *x, uint32_t src)
{
	const struct app_cmd *c = x->c;
	int r = -EADDRINUSE;

	for (unsigned tries = 0; x->ns->lport == 0 && tries < 8 && r == -EADDRINUSE; tries++) {
		uint16_t port = app_rss_port(x->st, src, c->addr, c->port);

		if (port == 0)
			break;
		r = tcp_connect(ctx_tcp(x), ctx_env(x), src, port, c->addr, c->port, x->now);
		if (r != -EADDRINUSE)
			return r;
	}
	return tcp_connect(ctx_tcp(x), ctx_env(x), src, x->ns->lport, c->addr, c->port, x->now);
}

static int tcp_connect_sock(struct cmd_ctx *x)
{
	struct nsock *ns = x->ns;
	uint32_t src = ns->laddr ? ns->laddr : ipv4_select_src(x->st->stk, x->c->addr);
	struct tcp_conn_info ti;
	int r;

	if (ns->state == NS_CONNECTING && (ns->flags & NSF_DEAD))
		return tcp_connect_failed(x);
	if (ns->state == NS_CONNECTING)
		return -EALREADY;
	if (ns->state != NS_OPEN)
		return -EISCONN;             /* listening or connected, as Linux */
	if (!src)
		return -ENETUNREACH;         /* libsock falls back to the kernel */
	r = tcp_connect_rss(x, src);
	if (r < 0 || (r = sock_take_conn(x, ns, x->c->sock, r)) < 0)
		return r;
	tcp_info(ctx_tcp(x), ns->conn, &ti);
	ns->state = NS_CONNECTING;
	ns->lport = ti.lport, ns->raddr = ti.raddr, ns->rport = ti.rport;
	app_opts_apply(x->st, ns, x->now);
	return -EINPROGRESS;
}

/* UDP connect sets the default peer (addr 0: AF_UNSPEC, forget it). */
static int udp_connect_sock(struct cmd_ctx *x)
{
	struct nsock *ns = x->ns;
	uint32_t id = udp_sock_id(x->app, x->c->sock), src;
	int r;

	if (x->c->addr == 0) {
		if (ns->state == NS_BOUND)
			udp_connect(&x->st->stk->udp, id, 0, 0, 0);
		ns->raddr = ns->rport = 0;
		return 0;
	}
	if (x->c->port == 0)
		return -EINVAL;
	if ((src = ipv4_select_src(x->st->stk, x->c->addr)) == 0)
		return -ENETUNREACH;
	if (ns->state == NS_OPEN && (r = app_udp_autobind(x->st, x->app, x->c->sock)) < 0)
		return r;
	if ((r = udp_connect(&x->st->stk->udp, id, src, x->c->addr, x->c->port)) < 0)
		return r;
	ns->raddr = x->c->addr;
	ns->rport = x->c->port;
	if (!ns->laddr)
		ns->laddr = src;
	return 0;
}

static int op_connect(struct cmd_ctx *x)
{
	return x->ns->type == SOCK_STREAM ? tcp_connect_sock(x) : udp_connect_sock(x);
}

/* ------------------------------------------------------ SHUTDOWN, CLOSE */

static int op_shutdown(struct cmd_ctx *x)
{
	struct nsock *ns = x->ns;
	int how = x->c->arg0;

	if (how < SHUT_RD || how > SHUT_RDWR)
		return -EINVAL;
	if (ns->type == SOCK_DGRAM ? !ns->raddr
				   : (ns->state != NS_CONNECTING && ns->state != NS_CONNECTED) ||
				     (ns->flags & (NSF_DEAD | NSF_BROKEN)))
		return -ENOTCONN;
	if (how != SHUT_WR) {
		ns->flags |= NSF_SHUT_RD | (ns->type == SOCK_DGRAM ? NSF_EOF : 0);
		if (ns->type == SOCK_STREAM)
			tcp_shutdown(ctx_tcp(x), ctx_env(x), ns->conn, TCP_SHUT_RD, x->now);
	}
	if (how != SHUT_RD)                  /* TCP: the FIN follows the tx ring's bytes */
		ns->flags |= NSF_SHUT_WR | (ns->type == SOCK_DGRAM ? NSF_FIN : 0);
	app_dirty(x->app, x->c->sock);
	return 0;
}

static bool linger_zero(const struct nsock *ns)
{
	return (ns->opt.set & (1u << TCP_SOCKOPT_LINGER)) && ns->opt.v[TCP_SOCKOPT_LINGER] == 0;
}

/* TCP close as the kernel's: the bytes the app wrote go first, then the
 * FIN. What TCP cannot take yet stays in the tx ring, which is the index's:
 * so the completion (after which libsock reuses the index) waits for it. */
static int op_close(struct cmd_ctx *x)
{
	struct nsock *ns = x->ns;
	uint32_t i = x->c->sock;

	if (!linger_zero(ns) && app_tcp_defer_close(x->st, x->app, i, x->c->seq, x->now))
		return CMD_DEFERRED;
	/* (a listener shared across fork only leaves its group: app_tcp_release) */
	if (ns->type == SOCK_STREAM)
		app_tcp_release(x->st, x->app, i, true, x->now);
	nsock_free(x->st, x->app, i);
	return 0;
}

/* ------------------------------------------------------------- options */

/* Linux's (level, name) -> enum tcp_sockopt, 0 if not a TCP option. */
static int tcp_opt_of(int level, int name)
{
	if (level == SOL_SOCKET)
		return name == SO_KEEPALIVE ? TCP_SOCKOPT_KEEPALIVE : name == SO_RCVBUF ? TCP_SOCKOPT_RCVBUF
		     : name == SO_SNDBUF ? TCP_SOCKOPT_SNDBUF : name == SO_LINGER ? TCP_SOCKOPT_LINGER : 0;
	if (level != IPPROTO_TCP)
		return 0;
	switch (name) {
	case TCP_NODELAY: return TCP_SOCKOPT_NODELAY;
	case TCP_CORK: return TCP_SOCKOPT_CORK;
	case TCP_KEEPIDLE: return TCP_SOCKOPT_KEEPIDLE;
	case TCP_KEEPINTVL: return TCP_SOCKOPT_KEEPINTVL;
	case TCP_KEEPCNT: return TCP_SOCKOPT_KEEPCNT;
	case TCP_USER_TIMEOUT: return TCP_SOCKOPT_USER_TIMEOUT;
	case TCP_MAXSEG: return TCP_SOCKOPT_MAXSEG;
	case TCP_CONGESTION: return TCP_SOCKOPT_CONGESTION;
	default: return 0;
	}
}

/* Record a TCP option's value (and set it on the conn, if there is one).
 * LINGER's val: -1 off, else seconds; CONGESTION's: up to 8 name bytes. */
static int set_tcp_opt(struct cmd_ctx *x, int opt)
{
	struct nsock *ns = x->ns;
	int64_t v = x->c->val;

	if (opt == TCP_SOCKOPT_CONGESTION) {
		memset(ns->opt.cc, 0, sizeof(ns->opt.cc));
		memcpy(ns->opt.cc, &x->c->val, sizeof(x->c->val));
	} else if (opt == TCP_SOCKOPT_LINGER) {
		ns->opt.v[opt] = v < 0 ? -1 : v > INT32_MAX ? INT32_MAX : (int32_t)v;
	} else if (v < 0 || v > INT32_MAX || (v == 0 && (opt == TCP_SOCKOPT_KEEPIDLE ||
			opt == TCP_SOCKOPT_KEEPINTVL || opt == TCP_SOCKOPT_KEEPCNT))) {
		return -EINVAL;
	} else {
		ns->opt.v[opt] = (int32_t)v;
	}
	ns->opt.set |= 1u << opt;
	if (ns->type == SOCK_STREAM && ns->conn != TCP_CONN_NONE && !(ns->flags & NSF_DEAD))
		return nsock_setopt(x->st, ns, opt, x->now);
	return 0;
}

static int set_other_opt(struct cmd_ctx *x)
{
	struct nsock *ns = x->ns;
	int64_t v = x->c->val;

	if (x->c->arg0 == SOL_SOCKET) {
		uint32_t f = x->c->arg1 == SO_REUSEADDR ? NSF_REUSEADDR
			   : x->c->arg1 == SO_REUSEPORT ? NSF_REUSEPORT : 0;

		if (f)
			ns->flags = v ? ns->flags | f : ns->flags & ~f;
		return f || x->c->arg1 == SO_BROADCAST ? 0 : -ENOPROTOOPT;
	}
	if (x->c->arg0 == IPPROTO_IP && x->c->arg1 == IP_TTL) {
		if (v == 0 || v < -1 || v > 255)
			return -EINVAL;
		ns->opt.ttl = v < 0 ? 0 : (uint8_t)v;
		return 0;
	}
	if (x->c->arg0 == IPPROTO_IP && x->c->arg1 == IP_TOS) {
		ns->opt.tos = (uint8_t)v;
		return 0;
	}
	return -ENOPROTOOPT;
}

static int op_setsockopt(struct cmd_ctx *x)
{
	int opt = tcp_opt_of(x->c->arg0, x->c->arg1);

	if (opt && x->ns->type != SOCK_STREAM)    /* UDP: SOL_SOCKET ones are accepted, unused */
		return x->c->arg0 == SOL_SOCKET ? 0 : -ENOPROTOOPT;
	return opt ? set_tcp_opt(x, opt) : set_other_opt(x);
}

/* A TCP option's value, from the conn when there is one. */
static int get_tcp_opt(struct cmd_ctx *x, int opt, int64_t *val)
{
	const struct nsock *ns = x->ns;
	union { int32_t i; struct tcp_linger lg; char cc[16]; } u;
	uint32_t len = sizeof(u);
	int r;

	if (ns->conn == TCP_CONN_NONE || (ns->flags & NSF_DEAD)) {
		if (opt == TCP_SOCKOPT_CONGESTION)
			memcpy(val, ns->opt.cc, sizeof(*val));
		else
			*val = ns->opt.set & (1u << opt) ? ns->opt.v[opt]
			     : opt == TCP_SOCKOPT_LINGER ? -1 : 0;
		return 0;
	}
	memset(&u, 0, sizeof(u));
	if ((r = tcp_getsockopt(ctx_tcp(x), ns->conn, opt, &u, &len)) < 0)
		return r;
	if (opt == TCP_SOCKOPT_CONGESTION)
		memcpy(val, u.cc, sizeof(*val));
	else
		*val = opt == TCP_SOCKOPT_LINGER ? (u.lg.onoff ? u.lg.linger : -1) : u.i;
	return 0;
}

static int get_other_opt(struct cmd_ctx *x, int64_t *val)
{
	struct nsock *ns = x->ns;

	if (x->c->arg0 == SOL_SOCKET) {
		switch (x->c->arg1) {
		case SO_ERROR:               /* read and clear, as Linux */
			*val = -ns->error;
			ns->error = 0;
			nsock_publish(x->app, x->c->sock);
			return 0;
		case SO_TYPE: *val = ns->type; return 0;
		case SO_ACCEPTCONN: *val = ns->state == NS_LISTEN; return 0;
		case SO_REUSEADDR: *val = !!(ns->flags & NSF_REUSEADDR); return 0;
		case SO_REUSEPORT: *val = !!(ns->flags & NSF_REUSEPORT); return 0;
		default: return -ENOPROTOOPT;
		}
	}
	if (x->c->arg0 == IPPROTO_IP && (x->c->arg1 == IP_TTL || x->c->arg1 == IP_TOS)) {
		*val = x->c->arg1 == IP_TOS ? ns->opt.tos : ns->opt.ttl ? ns->opt.ttl : 64;
		return 0;
	}
	return -ENOPROTOOPT;
}

static int op_getsockopt(struct cmd_ctx *x)
{
	int opt = tcp_opt_of(x->c->arg0, x->c->arg1);

	if (x->c->arg0 == IPPROTO_TCP && x->c->arg1 == TCP_INFO)   /* the value: app_sock.optval */
		return app_tcp_info(x->st, x->app, x->c->sock, x->now, &x->out->val);
	if (opt && x->ns->type != SOCK_STREAM) {     /* UDP: buffers are the byte rings */
		if (x->c->arg0 != SOL_SOCKET)
			return -EOPNOTSUPP;          /* Linux: no IPPROTO_TCP level on UDP */
		x->out->val = opt == TCP_SOCKOPT_RCVBUF || opt == TCP_SOCKOPT_SNDBUF ? (int64_t)x->app->buf_size
			    : opt == TCP_SOCKOPT_LINGER ? -1 : 0;
		return 0;
	}
	return opt ? get_tcp_opt(x, opt, &x->out->val) : get_other_opt(x, &x->out->val);
}

/* ------------------------------------------------------------- GETNAME */

static int op_getname(struct cmd_ctx *x)
{
	const struct nsock *ns = x->ns;
	bool peer = x->c->arg0 != 0;
	struct tcp_conn_info ti;

	if (ns->type == SOCK_STREAM && ns->conn != TCP_CONN_NONE &&
	    tcp_info(ctx_tcp(x), ns->conn, &ti) == 0) {
		if (peer && (ns->state != NS_CONNECTED || (ns->flags & NSF_DEAD)))
			return -ENOTCONN;
		x->out->addr = peer ? ti.raddr : ti.laddr;
		x->out->port = peer ? ti.rport : ti.lport;
		return 0;
	}
	if (peer && (ns->type == SOCK_STREAM || !ns->raddr))
		return -ENOTCONN;
	x->out->addr = peer ? ns->raddr : ns->laddr;
	x->out->port = peer ? ns->rport : ns->lport;
	return 0;
}

/* ---------------------------------------------------------- FORK, INHERIT */

static int op_fork(struct cmd_ctx *x)
{
	return app_op_fork(x->st, x->app, x->c->arg0);
}

static int op_inherit(struct cmd_ctx *x)
{
	return app_op_inherit(x->st, x->app, x->c->sock, x->c->arg0, x->c->arg1, x->c->port, x->out);
}

/* -------------------------------------------------------------- dispatch */

typedef int (*cmd_fn)(struct cmd_ctx *x);

static const cmd_fn cmd_table[APP_OP_MAX] = {
	[APP_OP_SOCKET] = op_socket,         [APP_OP_BIND] = op_bind,
	[APP_OP_LISTEN] = op_listen,         [APP_OP_ACCEPT] = op_accept,
	[APP_OP_CONNECT] = op_connect,       [APP_OP_SHUTDOWN] = op_shutdown,
	[APP_OP_CLOSE] = op_close,           [APP_OP_SETSOCKOPT] = op_setsockopt,
	[APP_OP_GETSOCKOPT] = op_getsockopt, [APP_OP_GETNAME] = op_getname,
	[APP_OP_FORK] = op_fork,             [APP_OP_INHERIT] = op_inherit,
};

/* TX and RX_DONE: the socket's rings moved; look at it at the end of the poll. */
static void cmd_notify(struct netd_apps_state *st, struct netd_app *app, const struct app_cmd *c)
{
	if (c->sock < app->nsocks && app->sock[c->sock].type)
		app_dirty(app, c->sock);
	else
		APP_CTR(st, NOTIFY_BAD_SOCK);
}

/* 0, or the error for a command that names no usable op or socket. */
static int cmd_check(struct netd_apps_state *st, const struct netd_app *app,
		     const struct app_cmd *c)
{
	if (c->op == 0 || c->op >= APP_OP_MAX || !cmd_table[c->op]) {
		APP_CTR(st, CMD_BAD_OP);
		return -EINVAL;
	}
	if (c->op == APP_OP_FORK)
		return 0;                    /* names no socket */
	if (c->sock >= app->nsocks ||
	    (c->op != APP_OP_SOCKET && c->op != APP_OP_INHERIT && !app->sock[c->sock].type) ||
	    app->sock[c->sock].state == NS_CLOSING) {
		APP_CTR(st, CMD_BAD_SOCK);
		return -EBADF;
	}
	return 0;
}

void app_cmd_exec(struct netd_apps_state *st, struct netd_app *app, const struct app_cmd *c,
		  uint64_t now)
{
	struct app_cpl out = { .seq = c->seq, .sock = c->sock, .op = c->op };
	struct cmd_ctx x = { .st = st, .app = app, .c = c, .out = &out, .now = now };
	int r;

	if (c->op == APP_OP_TX || c->op == APP_OP_RX_DONE) {
		cmd_notify(st, app, c);
		return;
	}
	if ((r = cmd_check(st, app, c)) == 0) {
		x.ns = c->op == APP_OP_FORK ? NULL : &app->sock[c->sock];   /* FORK names none */
		r = cmd_table[c->op](&x);
	}
	if (r == CMD_DEFERRED)
		return;
	if (r < 0 && r != -EINPROGRESS && r != -EAGAIN)
		APP_CTR(st, CMD_ERRORS);
	out.result = r;
	app_cpl_post(app, &out);
}
