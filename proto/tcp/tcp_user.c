/* proto/tcp/tcp_user.c — the user calls of RFC 9293 3.10 (OPEN, SEND,
 * RECEIVE, CLOSE, ABORT) and socket options, as tcp.h declares them.
 *
 * Where it sits: netd calls these on behalf of an application (commands from
 * its ring, brokered by sockd). Data is copied once, between the caller's
 * buffer and the conn's ring in the engine block; transmission happens in
 * tcp_output before the call returns.
 */
#include <errno.h>
#include <string.h>

#include "proto/tcp/tcp_internal.h"

/* The conn named by a user handle, or NULL if it is not a live TCB the user
 * still holds. */
static struct tcb *user_tcb(const struct tcp_stack *ts, uint32_t conn)
{
	struct tcb *t;

	if (conn >= ts->cfg.max_conns)
		return NULL;
	t = tcp_tcb(ts, conn);
	return t->in_use && !(t->flags & TF_USER_CLOSED) ? t : NULL;
}

/* ------------------------------------------------------------ opening */

/* Is (laddr, lport) free to listen on? Only SO_REUSEPORT listeners share. */
static bool listen_conflict(const struct tcp_stack *ts, uint32_t laddr, uint16_t lport,
			    unsigned flags)
{
	uint32_t i = ts->lhash[lport & (TCP_LHASH_SIZE - 1)];

	for (uint32_t n = 0; i < ts->cfg.max_conns && n < ts->cfg.max_conns; n++) {
		const struct tcb *l = tcp_tcb(ts, i);

		if (l->lport == lport && l->laddr == laddr &&
		    !((flags & TCP_LISTEN_REUSEPORT) && (l->flags & TF_REUSEPORT)))
			return true;
		i = l->hash_next;
	}
	return false;
}

int tcp_listen(struct tcp_stack *ts, const struct tcp_env *env, uint32_t laddr,
	       uint16_t lport, uint32_t backlog, unsigned flags)
{
	struct tcb *l;

	if (lport == 0)
		return -EINVAL;
	if (listen_conflict(ts, laddr, lport, flags))
		return -EADDRINUSE;
	l = tcp_tcb_alloc(ts, ts->last_now);
	if (!l)
		return -ENOBUFS;
	l->laddr = laddr;
	l->lport = lport;
	l->backlog = (uint16_t)(backlog == 0 ? 1 : backlog > 0xffff ? 0xffff : backlog);
	l->flags |= (flags & TCP_LISTEN_REUSEPORT) ? TF_REUSEPORT : 0;
	/* its children's congestion control (TCP_CONGESTION on the listener) */
	tcp_cc_init(&l->cc, (enum tcp_cc_algo)tcp_cc_by_name(ts->cfg.cc), TCP_MSS_DEFAULT,
		    ts->last_now);
	tcp_set_state(ts, env, l, TCPS_LISTEN, ts->last_now);
	tcp_listener_insert(ts, l);
	return (int)tcp_conn_id(ts, l);
}

int tcp_accept(struct tcp_stack *ts, const struct tcp_env *env, uint32_t listener,
	       struct tcp_endpoint *peer)
{
	struct tcb *l = user_tcb(ts, listener), *t;

	(void)env;
	if (!l || l->state != TCPS_LISTEN)
		return -EINVAL;
	if (l->aq_next == TCP_CONN_NONE)
		return -EAGAIN;
	t = tcp_tcb(ts, l->aq_next);
	l->aq_next = t->aq_next;
	if (l->aq_next == TCP_CONN_NONE)
		l->aq_tail = TCP_CONN_NONE;
	l->aq_len--;
	t->aq_next = TCP_CONN_NONE;
	t->parent = TCP_CONN_NONE;
	t->flags = (t->flags & ~(uint32_t)TF_IN_AQ) | TF_ACCEPTED;
	if (peer) {
		peer->addr = t->raddr;
		peer->port = t->rport;
	}
	return (int)tcp_conn_id(ts, t);
}

/* An unused ephemeral port for the pair (laddr, raddr:rport), or 0. Bounded
 * by the size of the range. */
static uint16_t pick_port(struct tcp_stack *ts, uint32_t laddr, uint32_t raddr,
			  uint16_t rport)
{
	uint32_t lo = ts->cfg.ephemeral_lo, span = ts->cfg.ephemeral_hi - lo + 1u;

	for (uint32_t n = 0; n < span; n++) {
		uint16_t p = ts->next_ephemeral;

		ts->next_ephemeral = (uint16_t)(p >= ts->cfg.ephemeral_hi ? lo : p + 1u);
		if (p >= lo && !tcp_conn_lookup(ts, laddr, p, raddr, rport))
			return p;
	}
	return 0;
}

int tcp_connect(struct tcp_stack *ts, const struct tcp_env *env, uint32_t laddr,
		uint16_t lport, uint32_t raddr, uint16_t rport, uint64_t now)
{
	struct tcp_isn_tuple tu = { laddr, raddr, lport, rport };
	struct tcb *t;

	ts->last_now = now;
	if (rport == 0 || raddr == 0 || laddr == 0)
		return -EINVAL;
	if (lport == 0 && (tu.lport = pick_port(ts, laddr, raddr, rport)) == 0)
		return -EADDRNOTAVAIL;
	if (tcp_conn_lookup(ts, laddr, tu.lport, raddr, rport))
		return -EADDRINUSE;
	t = tcp_tcb_alloc(ts, now);
	if (!t)
		return -ENOBUFS;
	tcp_tcb_setup(ts, env, t, &tu, now);
	tcp_set_state(ts, env, t, TCPS_SYN_SENT, now);
	tcp_conn_hash_insert(ts, t);
	TCP_INC(ts, ACTIVE_OPENS);
	tcp_output(ts, env, t, now);
	return (int)tcp_conn_id(ts, t);
}

/* ------------------------------------------------------------ data */

int tcp_send(struct tcp_stack *ts, const struct tcp_env *env, uint32_t conn,
	     const void *buf, uint32_t len, unsigned flags, uint64_t now)
{
	struct tcb *t = user_tcb(ts, conn);
	uint32_t space, n, at, first;
	uint8_t *ring;

	if (!t)
		return -EINVAL;
	ts->last_now = now;
	if (t->error)
		return t->error;
	if (t->flags & TF_FIN_QUEUED)
		return -EPIPE;
	if (t->state < TCPS_SYN_SENT || t->state > TCPS_CLOSE_WAIT)
		return -ENOTCONN;
	space = t->sndbuf_lim - tcp_snd_queued(t);
	n = len < space ? len : space;
	if (n < len)
		t->flags |= TF_WANT_WRITE;
	if (n == 0)
		return len ? -EAGAIN : 0;
	ring = tcp_sndbuf(ts, t);
	at = t->snd_end & (ts->cfg.sndbuf - 1);
	first = ts->cfg.sndbuf - at < n ? ts->cfg.sndbuf - at : n;
	memcpy(ring + at, buf, first);
	memcpy(ring, (const uint8_t *)buf + first, n - first);
	t->snd_end += n;
	t->flags = (flags & TCP_SEND_MORE) ? t->flags | TF_MORE : t->flags & ~(uint32_t)TF_MORE;
	tcp_output(ts, env, t, now);
	return (int)(n > 0x7fffffffu ? 0x7fffffffu : n);
}

/* In-order bytes waiting for the user (the FIN is not a byte). */
static uint32_t readable(const struct tcb *t)
{
	uint32_t n = t->rcv_nxt - t->rcv_user;

	return (t->flags & TF_FIN_RCVD) && n ? n - 1 : n;
}

/* RFC 9293 3.8.6.2.2 / RFC 1122 4.2.3.3: after the user reads, announce the
 * larger window once it grew by min(rcvbuf/2, 2*MSS), so a sender stalled by
 * a small window learns of the space without waiting for its persist timer. */
static void window_update_after_read(struct tcp_stack *ts, const struct tcp_env *env,
				     struct tcb *t, uint64_t now)
{
	uint32_t cur = seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
	uint32_t thresh = t->rcvbuf_lim / 2 < 2 * t->rcv_mss ? t->rcvbuf_lim / 2 : 2 * t->rcv_mss;

	if (t->state < TCPS_ESTABLISHED || t->state == TCPS_TIME_WAIT)
		return;
	if (tcp_rcv_window(ts, t) >= cur + thresh) {
		tcp_ack_now(t);
		tcp_output(ts, env, t, now);
	}
}

int tcp_recv(struct tcp_stack *ts, const struct tcp_env *env, uint32_t conn,
	     void *buf, uint32_t len, unsigned flags, uint64_t now)
{
	struct tcb *t = user_tcb(ts, conn);
	uint32_t n, at, first;
	const uint8_t *ring;

	if (!t)
		return -EINVAL;
	ts->last_now = now;
	n = t->state >= TCPS_ESTABLISHED || t->state == TCPS_CLOSED ? readable(t) : 0;
	if (n == 0) {
		if ((t->flags & (TF_FIN_RCVD | TF_RCV_SHUT)) || (t->state == TCPS_CLOSED && !t->error))
			return 0;
		return t->error ? t->error : (t->state == TCPS_LISTEN ? -ENOTCONN : -EAGAIN);
	}
	n = len < n ? len : n;
	ring = tcp_rcvbuf(ts, t);
	at = t->rcv_user & (ts->cfg.rcvbuf - 1);
	first = ts->cfg.rcvbuf - at < n ? ts->cfg.rcvbuf - at : n;
	memcpy(buf, ring + at, first);
	memcpy((uint8_t *)buf + first, ring, n - first);
	if (!(flags & TCP_RECV_PEEK)) {
		t->rcv_user += n;
		window_update_after_read(ts, env, t, now);
	}
	return (int)(n > 0x7fffffffu ? 0x7fffffffu : n);
}

/* ------------------------------------------------------------ closing */

/* The user will send no more: the FIN is queued at SND.END, and a
 * synchronized conn moves on (RFC 9293 3.10.4 CLOSE: ESTABLISHED ->
 * FIN_WAIT_1, CLOSE_WAIT -> LAST_ACK). Before ESTABLISHED the FIN waits for
 * the handshake (establish() calls back here). */
void tcp_fin_state(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		   uint64_t now)
{
	t->flags |= TF_FIN_QUEUED;
	if (t->state == TCPS_ESTABLISHED)
		tcp_set_state(ts, env, t, TCPS_FIN_WAIT_1, now);
	else if (t->state == TCPS_CLOSE_WAIT)
		tcp_set_state(ts, env, t, TCPS_LAST_ACK, now);
}

int tcp_shutdown(struct tcp_stack *ts, const struct tcp_env *env, uint32_t conn,
		 int how, uint64_t now)
{
	struct tcb *t = user_tcb(ts, conn);

	if (!t || how < TCP_SHUT_RD || how > TCP_SHUT_RDWR)
		return -EINVAL;
	if (t->state < TCPS_SYN_SENT || t->state == TCPS_TIME_WAIT)
		return -ENOTCONN;
	ts->last_now = now;
	if (how & TCP_SHUT_RD)
		t->flags |= TF_RCV_SHUT;
	if ((how & TCP_SHUT_WR) && !(t->flags & TF_FIN_QUEUED)) {
		tcp_fin_state(ts, env, t, now);
		tcp_output(ts, env, t, now);
	}
	return 0;
}

/* Reset and free every child of listener l (queued or embryonic): nobody
 * will accept them. Scans the pool: closing a listener is rare. */
static void drop_children(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *l,
			  uint64_t now)
{
	uint32_t id = tcp_conn_id(ts, l);

	for (uint32_t i = 0; i < ts->cfg.max_conns; i++) {
		struct tcb *c = tcp_tcb(ts, i);

		if (c->in_use && c->parent == id && !(c->flags & TF_ACCEPTED)) {
			tcp_send_rst(ts, env, c, now);
			c->flags |= TF_USER_CLOSED;
			tcp_set_state(ts, env, c, TCPS_CLOSED, now);
		}
	}
}

/* Send a RST where the peer has state to reset, then free at once. */
static void abort_conn(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		       uint64_t now)
{
	if (t->state >= TCPS_SYN_RECEIVED && t->state != TCPS_TIME_WAIT)
		tcp_send_rst(ts, env, t, now);
	if (t->state == TCPS_LISTEN)
		drop_children(ts, env, t, now);
	t->flags |= TF_USER_CLOSED;
	tcp_set_state(ts, env, t, TCPS_CLOSED, now);
}

int tcp_close(struct tcp_stack *ts, const struct tcp_env *env, uint32_t conn, uint64_t now)
{
	struct tcb *t = user_tcb(ts, conn);

	if (!t)
		return -EINVAL;
	ts->last_now = now;
	if (t->state == TCPS_LISTEN || t->state == TCPS_SYN_SENT || t->state == TCPS_CLOSED) {
		abort_conn(ts, env, t, now);
		return 0;
	}
	if (readable(t) || ((t->flags & TF_LINGER) && t->linger_s == 0)) {
		/* RFC 2525 2.17 / RFC 9293 3.10.4: unread data means the peer's
		 * bytes were lost; say so with a RST. SO_LINGER 0 asks for it. */
		if (readable(t))
			TCP_INC(ts, ABORT_ON_DATA);
		else
			TCP_INC(ts, ABORT_ON_LINGER);
		abort_conn(ts, env, t, now);
		return 0;
	}
	t->flags |= TF_USER_CLOSED;
	if (!(t->flags & TF_FIN_QUEUED))
		tcp_fin_state(ts, env, t, now);
	if (t->state == TCPS_FIN_WAIT_2)
		tcp_timer_set(ts, t, TCB_T_2MSL, now + 2 * ts->cfg.msl);
	if ((t->flags & TF_LINGER) && t->state != TCPS_TIME_WAIT)
		tcp_timer_set(ts, t, TCB_T_2MSL, now + (uint64_t)t->linger_s * 1000000000u);
	tcp_output(ts, env, t, now);
	return 0;
}

int tcp_abort(struct tcp_stack *ts, const struct tcp_env *env, uint32_t conn, uint64_t now)
{
	struct tcb *t = user_tcb(ts, conn);

	if (!t)
		return -EINVAL;
	ts->last_now = now;
	TCP_INC(ts, ABORT_ON_USER);
	abort_conn(ts, env, t, now);
	return 0;
}

/* ------------------------------------------------------------ options */

static int get_int(const void *val, uint32_t len, int *out)
{
	if (!val || len < sizeof(int))
		return -EINVAL;
	memcpy(out, val, sizeof(int));
	return 0;
}

static void set_flag(struct tcb *t, uint32_t flag, int on)
{
	t->flags = on ? t->flags | flag : t->flags & ~flag;
}

/* Options whose value is a non-negative int. */
static int setsockopt_int(struct tcp_stack *ts, struct tcb *t, int opt, int v, uint64_t now)
{
	if (v < 0)
		return -EINVAL;
	switch (opt) {
	case TCP_SOCKOPT_NODELAY: set_flag(t, TF_NODELAY, v); return 0;
	case TCP_SOCKOPT_CORK: set_flag(t, TF_CORK, v); return 0;
	case TCP_SOCKOPT_KEEPIDLE: if (!v) return -EINVAL; t->keepidle = (uint64_t)v * 1000000000u; break;
	case TCP_SOCKOPT_KEEPINTVL: if (!v) return -EINVAL; t->keepintvl = (uint64_t)v * 1000000000u; return 0;
	case TCP_SOCKOPT_KEEPCNT: if (!v) return -EINVAL; t->keepcnt = (uint32_t)v; return 0;
	case TCP_SOCKOPT_KEEPALIVE: set_flag(t, TF_KEEPALIVE, v); break;
	case TCP_SOCKOPT_USER_TIMEOUT: t->user_timeout = (uint64_t)v * 1000000u; return 0;
	case TCP_SOCKOPT_MAXSEG:
		if (v && (v < (int)TCP_MSS_MIN || v > 65535)) return -EINVAL;
		t->user_mss = (uint32_t)v;
		if (v && t->snd_mss > (uint32_t)v)
			t->snd_mss = (uint32_t)v;
		return 0;
	case TCP_SOCKOPT_RCVBUF:
		t->rcvbuf_lim = v < 4096 ? 4096u : (uint32_t)v > ts->cfg.rcvbuf ? ts->cfg.rcvbuf : (uint32_t)v;
		return 0;
	case TCP_SOCKOPT_SNDBUF:
		t->sndbuf_lim = v < 4096 ? 4096u : (uint32_t)v > ts->cfg.sndbuf ? ts->cfg.sndbuf : (uint32_t)v;
		return 0;
	default: return -ENOPROTOOPT;
	}
	tcp_timer_keepalive_reset(ts, t, now);   /* KEEPIDLE / KEEPALIVE take effect now */
	if (!(t->flags & TF_KEEPALIVE))
		tcp_timer_clear(ts, t, TCB_T_KEEP);
	return 0;
}

int tcp_setsockopt(struct tcp_stack *ts, const struct tcp_env *env, uint32_t conn,
		   int opt, const void *val, uint32_t len, uint64_t now)
{
	struct tcb *t = user_tcb(ts, conn);
	int v = 0, rc;

	if (!t)
		return -EINVAL;
	if (opt == TCP_SOCKOPT_CONGESTION) {
		char name[TCP_CC_NAME_MAX] = { 0 };

		if (!val || len == 0)
			return -EINVAL;
		memcpy(name, val, len < sizeof(name) - 1 ? len : sizeof(name) - 1);
		if ((rc = tcp_cc_by_name(name)) < 0)
			return rc;
		return tcp_cc_switch(&t->cc, (enum tcp_cc_algo)rc, now);
	}
	if (opt == TCP_SOCKOPT_LINGER) {
		struct tcp_linger lg;

		if (!val || len < sizeof(lg))
			return -EINVAL;
		memcpy(&lg, val, sizeof(lg));
		set_flag(t, TF_LINGER, lg.onoff);
		t->linger_s = lg.linger < 0 ? 0 : (uint32_t)lg.linger;
		return 0;
	}
	if ((rc = get_int(val, len, &v)) < 0)
		return rc;
	rc = setsockopt_int(ts, t, opt, v, now);
	if (rc == 0 && opt == TCP_SOCKOPT_CORK && !v)
		tcp_output(ts, env, t, now);       /* uncorking sends what waited */
	return rc;
}

static int put_int(void *val, uint32_t *len, int v)
{
	if (!val || !len || *len < sizeof(int))
		return -EINVAL;
	memcpy(val, &v, sizeof(int));
	*len = sizeof(int);
	return 0;
}

int tcp_getsockopt(struct tcp_stack *ts, uint32_t conn, int opt, void *val, uint32_t *len)
{
	struct tcb *t = user_tcb(ts, conn);
	int v;

	if (!t || !val || !len)
		return -EINVAL;
	switch (opt) {
	case TCP_SOCKOPT_NODELAY: v = !!(t->flags & TF_NODELAY); break;
	case TCP_SOCKOPT_CORK: v = !!(t->flags & TF_CORK); break;
	case TCP_SOCKOPT_KEEPIDLE: v = (int)(t->keepidle / 1000000000u); break;
	case TCP_SOCKOPT_KEEPINTVL: v = (int)(t->keepintvl / 1000000000u); break;
	case TCP_SOCKOPT_KEEPCNT: v = (int)t->keepcnt; break;
	case TCP_SOCKOPT_KEEPALIVE: v = !!(t->flags & TF_KEEPALIVE); break;
	case TCP_SOCKOPT_USER_TIMEOUT: v = (int)(t->user_timeout / 1000000u); break;
	case TCP_SOCKOPT_MAXSEG: v = (int)t->snd_mss; break;
	case TCP_SOCKOPT_RCVBUF: v = (int)t->rcvbuf_lim; break;
	case TCP_SOCKOPT_SNDBUF: v = (int)t->sndbuf_lim; break;
	case TCP_SOCKOPT_ERROR: v = t->error; t->error = 0; break;
	case TCP_SOCKOPT_CONGESTION: {
		const char *name = tcp_cc_name((enum tcp_cc_algo)t->cc.algo);
		uint32_t n = (uint32_t)strlen(name) + 1;

		if (*len < n)
			return -EINVAL;
		memcpy(val, name, n);
		*len = n;
		return 0;
	}
	case TCP_SOCKOPT_LINGER: {
		struct tcp_linger lg = { !!(t->flags & TF_LINGER), (int32_t)t->linger_s };

		if (*len < sizeof(lg))
			return -EINVAL;
		memcpy(val, &lg, sizeof(lg));
		*len = sizeof(lg);
		return 0;
	}
	default: return -ENOPROTOOPT;
	}
	return put_int(val, len, v);
}
