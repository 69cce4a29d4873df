/* netd/app_data.c — moving bytes between the apps' byte rings and the
 * stack, and keeping each socket's state current.
 *
 * Where it sits: the copies of the data path (shm/app_layout.h counts them):
 *
 *     send:    tx ring --tcp_send (copy into TCP's send buffer)--> segments
 *              tx ring record --udp_output (copy into a pkb)--> datagram
 *     receive: TCP's receive buffer --tcp_recv (copy)--> rx ring
 *              STACK_EV_UDP_RX pkb --pkb_copy_out (copy)--> rx ring record
 *
 * Flow control falls out of the rings: netd moves only what fits, so a
 * full rx ring leaves bytes in TCP and closes its window, and a full TCP
 * send buffer leaves bytes in the tx ring until TCP_EV_WRITABLE. Each
 * socket service moves at most NETD_SERVICE_BYTES (and NETD_SERVICE_DGRAMS
 * datagrams) so that what one poll puts on stk->txq stays well inside
 * STACK_TXQ_MAX; a socket with more is serviced again at the next poll.
 *
 * Hostile rings: the app's index (tx.prod, rx.cons) is read once per move
 * and checked against netd's own; more than buf_size apart fails the socket
 * with -EIO (app_sock_fail), nothing else. Buffer addresses come from the index
 * and netd's buf_size alone, and UDP record lengths are checked before use.
 */
#include <errno.h>
#include <string.h>

#include "netd/app_internal.h"

static inline uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static inline uint32_t align8(uint32_t v)
{
	return (v + 7u) & ~7u;
}

uint32_t app_rx_unread(const struct netd_app *app, uint32_t i)
{
	/* Acquire: pairs with libsock's release store of rx.cons once it has
	 * copied the bytes out; only then are they free for us to overwrite. */
	uint32_t cons = atomic_load_explicit(&app->socks[i].rx.cons, memory_order_acquire);
	uint32_t used = app->sock[i].rx_prod - cons;

	return used > app->buf_size ? UINT32_MAX : used;
}

void app_sock_fail(struct netd_apps_state *st, struct netd_app *app, uint32_t i, uint64_t now)
{
	struct nsock *ns = &app->sock[i];

	APP_CTR(st, BYTE_RING_CORRUPT);
	if (ns->type == SOCK_STREAM)
		app_tcp_release(st, app, i, false, now);
	else if (ns->state == NS_BOUND && udp_unbind(&st->stk->udp, udp_sock_id(app, i)) == 0)
		ns->state = NS_OPEN;
	ns->flags |= NSF_BROKEN;
	ns->error = -EIO;
	nsock_publish(app, i);
}

/* ----------------------------------------------------------- TCP moves */

/* The index protocol with libsock (libsock/stream.c, docs/LIBSOCK.md): the
 * app posts APP_OP_TX only when it finds that we had consumed everything
 * before its write, and APP_OP_RX_DONE only when it finds the ring was at
 * least half full. Each side stores its own index, then loads the other's,
 * both seq_cst (Dekker): whichever store comes second in the single order,
 * its side's load sees the first. So after publishing an index we load the
 * app's again: if it moved in the window between our first load and our
 * store, the app may have decided not to post, and we go on ourselves. */

/* After filling the rx ring: did the app free room meanwhile? */
static bool rx_room_reopened(const struct netd_app *app, uint32_t i)
{
	uint32_t cons = atomic_load_explicit(&app->socks[i].rx.cons, memory_order_seq_cst);

	return app->sock[i].rx_prod - cons < app->buf_size;
}

/* After publishing tx.cons: did the app write more meanwhile? */
static bool tx_grew(const struct netd_app *app, uint32_t i)
{
	return atomic_load_explicit(&app->socks[i].tx.prod, memory_order_seq_cst) !=
	       app->sock[i].tx_cons;
}

/* TCP's in-order bytes into the rx ring, up to its free space. Returns
 * false if TCP reported an error (the caller looks at the conn). */
static bool tcp_rx_move(struct netd_apps_state *st, struct netd_app *app, uint32_t i,
			uint64_t now)
{
	struct nsock *ns = &app->sock[i];
	uint32_t used = app_rx_unread(app, i), mask = app->buf_size - 1, moved = 0;
	uint8_t *buf = sock_buf(app, i, 0);
	int r = -EAGAIN;

	if (used == UINT32_MAX) {
		app_sock_fail(st, app, i, now);
		return true;
	}
	/* up to the ring's end, from its start, then once more to see the FIN */
	for (int k = 0; k < 3 && used < app->buf_size && moved < NETD_SERVICE_BYTES; k++) {
		uint32_t off = ns->rx_prod & mask;
		uint32_t chunk = min_u32(min_u32(app->buf_size - used, app->buf_size - off),
					 NETD_SERVICE_BYTES - moved);

		r = tcp_recv(st->stk->tcp, &st->stk->tcp_env, ns->conn, buf + off, chunk, 0, now);
		if (r <= 0)
			break;
		ns->rx_prod += (uint32_t)r;
		used += (uint32_t)r;
		moved += (uint32_t)r;
	}
	if (moved) {
		/* seq_cst (a release, and more): pairs with libsock's acquire load
		 * of rx.prod, so the bytes tcp_recv wrote are visible before the
		 * index that covers them; and it is our half of the rx Dekker pair
		 * (rx_room_reopened). */
		atomic_store_explicit(&app->socks[i].rx.prod, ns->rx_prod, memory_order_seq_cst);
		COUNTER_ADD(&st->ctr, NETD_APP_TCP_RX_BYTES, moved);
		app->changed = true;
	}
	if (used >= app->buf_size && rx_room_reopened(app, i))
		app_dirty(app, i);           /* the app read while we filled: go on */
	if (r == 0)
		ns->flags |= NSF_EOF;        /* published after rx.prod, by the caller */
	else if (moved >= NETD_SERVICE_BYTES)
		app_dirty(app, i);           /* more may wait: next poll */
	return r >= 0 || r == -EAGAIN;
}

/* Discard what the conn will never take (reset, or written after a
 * shutdown): the app sees ERR/HUP, and its ring must not fill up forever. */
static void tx_discard(struct netd_apps_state *st, struct nsock *ns, uint32_t n)
{
	COUNTER_ADD(&st->ctr, NETD_APP_TCP_TX_DISCARDED, n);
	ns->tx_cons += n;
}

/* One tcp_send per contiguous piece (two when the bytes wrap: the first
 * with TCP_SEND_MORE, so the wrap point does not cut a small segment). */
static int tx_send(struct netd_apps_state *st, struct netd_app *app, uint32_t i,
		   uint32_t *avail, uint32_t *moved, uint64_t now)
{
	struct nsock *ns = &app->sock[i];
	uint8_t *buf = sock_buf(app, i, 1);
	int r = 0;

	for (int k = 0; k < 2 && *avail > 0 && *moved < NETD_SERVICE_BYTES; k++) {
		uint32_t off = ns->tx_cons & (app->buf_size - 1);
		uint32_t chunk = min_u32(min_u32(*avail, app->buf_size - off),
					 NETD_SERVICE_BYTES - *moved);

		r = tcp_send(st->stk->tcp, &st->stk->tcp_env, ns->conn, buf + off, chunk,
			     chunk < *avail ? TCP_SEND_MORE : 0, now);
		if (r <= 0)
			break;
		ns->tx_cons += (uint32_t)r;
		*avail -= (uint32_t)r;
		*moved += (uint32_t)r;
		if ((uint32_t)r < chunk)
			break;
	}
	return r;
}

int app_tcp_tx_move(struct netd_apps_state *st, struct netd_app *app, uint32_t i, uint64_t now)
{
	struct nsock *ns = &app->sock[i];
	struct app_sock *as = &app->socks[i];
	/* Acquire: pairs with libsock's release store of tx.prod; the bytes
	 * before it are written. */
	uint32_t avail = atomic_load_explicit(&as->tx.prod, memory_order_acquire) - ns->tx_cons;
	uint32_t moved = 0;
	int r = 0, left;

	if (avail > app->buf_size) {
		app_sock_fail(st, app, i, now);
		return 0;
	}
	if (avail)
		r = tx_send(st, app, i, &avail, &moved, now);
	COUNTER_ADD(&st->ctr, NETD_APP_TCP_TX_BYTES, moved);
	if (r < 0 && r != -EAGAIN) {
		tx_discard(st, ns, avail);
		moved += avail;
		avail = 0;
	}
	left = r < 0 && r != -EAGAIN ? -1 : (int)avail;
	if (moved) {
		/* seq_cst (a release, and more): pairs with libsock's acquire load
		 * of tx.cons, TCP has copied the bytes and the app may write over
		 * them; and it is our half of the tx Dekker pair (above). */
		atomic_store_explicit(&as->tx.cons, ns->tx_cons, memory_order_seq_cst);
		app->changed = true;
	}
	/* Go on next poll if we stopped at NETD_SERVICE_BYTES, or if the app
	 * wrote while we moved (it may not have posted APP_OP_TX). Not when TCP
	 * is full: its TCP_EV_WRITABLE brings us back. */
	if (r != -EAGAIN && left >= 0 && ((avail && r > 0) || tx_grew(app, i)))
		app_dirty(app, i);
	return left;
}

/* The app shut writing: the FIN goes once every byte it wrote is in TCP. */
static void tcp_fin_if_drained(struct netd_apps_state *st, struct nsock *ns, int left,
			       uint64_t now)
{
	if (left == 0 && (ns->flags & (NSF_SHUT_WR | NSF_FIN)) == NSF_SHUT_WR &&
	    ns->conn != TCP_CONN_NONE) {
		tcp_shutdown(st->stk->tcp, &st->stk->tcp_env, ns->conn, TCP_SHUT_WR, now);
		ns->flags |= NSF_FIN;
	}
}

/* After an error or CLOSED event: if the conn reached CLOSED, take its
 * error (TCP_SOCKOPT_ERROR reads and clears it) as the socket's. */
static void tcp_check_dead(struct netd_apps_state *st, struct nsock *ns)
{
	struct tcp_conn_info ti;
	uint32_t len = sizeof(int);
	int err = 0;

	if (tcp_info(st->stk->tcp, ns->conn, &ti) < 0 || ti.state != TCPS_CLOSED)
		return;
	tcp_getsockopt(st->stk->tcp, ns->conn, TCP_SOCKOPT_ERROR, &err, &len);
	ns->flags |= NSF_DEAD;
	if (err)
		ns->error = err;
}

/* ------------------------------------------------------------ TCP state */

void app_listener_refill(struct netd_apps_state *st, struct netd_app *app, uint32_t i)
{
	struct netd_app *la;
	uint32_t li;
	struct nsock *ns = app_share_leader(st, app, i, &la, &li);   /* only a leader holds one */
	int c;

	if (ns->state != NS_LISTEN || ns->stash != TCP_CONN_NONE)
		return;
	c = tcp_accept(st->stk->tcp, &st->stk->tcp_env, ns->conn, NULL);
	if (c >= 0)
		ns->stash = (uint32_t)c;
}

void app_tcp_release(struct netd_apps_state *st, struct netd_app *app, uint32_t i, bool graceful,
		     uint64_t now)
{
	struct nsock *ns = &app->sock[i];
	struct tcp_stack *ts = st->stk->tcp;

	if (app_share_leave(st, app, i))
		return;                      /* the listener stays for the rest of its group */
	if (ns->stash != TCP_CONN_NONE)
		tcp_abort(ts, &st->stk->tcp_env, ns->stash, now);
	ns->stash = TCP_CONN_NONE;
	if (ns->conn == TCP_CONN_NONE)
		return;
	app_conn_clear(st, ns->conn);
	/* RFC 2525 2.17, as Linux: closing with bytes unread resets. Bytes in
	 * the app's rx ring are unread too, though TCP has handed them over. */
	if (graceful && (ns->state == NS_CONNECTED || ns->state == NS_CLOSING) &&
	    app_rx_unread(app, i) != 0) {
		APP_CTR(st, TCP_ABORT_UNREAD);
		graceful = false;
	}
	if (graceful)
		tcp_close(ts, &st->stk->tcp_env, ns->conn, now);
	else
		tcp_abort(ts, &st->stk->tcp_env, ns->conn, now);
	ns->conn = TCP_CONN_NONE;
}

void app_tcp_close_finish(struct netd_apps_state *st, struct netd_app *app, uint32_t i,
			  bool graceful, uint64_t now)
{
	struct nsock *ns = &app->sock[i];
	struct app_cpl c = { .seq = ns->close_seq, .sock = i, .op = APP_OP_CLOSE };
	bool deferred = ns->state == NS_CLOSING;

	app_tcp_release(st, app, i, graceful, now);
	nsock_free(st, app, i);
	if (deferred) {
		app->owed--;
		app_cpl_post(app, &c);     /* room was kept for it (app.c cmds_drain) */
	}
}

bool app_tcp_defer_close(struct netd_apps_state *st, struct netd_app *app, uint32_t i,
			 uint32_t seq, uint64_t now)
{
	struct nsock *ns = &app->sock[i];

	if (ns->type != SOCK_STREAM || ns->state != NS_CONNECTED ||
	    (ns->flags & (NSF_DEAD | NSF_BROKEN)) || app_rx_unread(app, i) != 0 ||
	    app_tcp_tx_move(st, app, i, now) <= 0)
		return false;
	ns->state = NS_CLOSING;
	ns->close_seq = seq;
	ns->close_by = now + NETD_CLOSE_DRAIN_NS;
	app->owed++;
	return true;
}

void nsock_kill(struct netd_apps_state *st, struct netd_app *app, uint32_t i, bool graceful,
		uint64_t now)
{
	struct nsock *ns = &app->sock[i];
	bool up = ns->state == NS_CONNECTED || ns->state == NS_CLOSING;

	if (ns->type == SOCK_STREAM) {
		if (graceful && up && !(ns->flags & (NSF_DEAD | NSF_BROKEN)))
			app_tcp_tx_move(st, app, i, now);
		app_tcp_release(st, app, i, graceful && up, now);
	}
	if (ns->state == NS_CLOSING)
		app->owed--;
	nsock_free(st, app, i);
}

static void tcp_service(struct netd_apps_state *st, struct netd_app *app, uint32_t i,
			uint64_t now)
{
	struct nsock *ns = &app->sock[i];
	uint32_t tev = ns->tev;
	int left = 0;

	ns->tev = 0;
	if (ns->state == NS_LISTEN) {
		app_listener_refill(st, app, i);
		app_share_publish(st, app, i);
		return;
	}
	if (ns->conn != TCP_CONN_NONE && !(ns->flags & NSF_DEAD)) {
		bool ok = true;

		if ((tev & TCP_EV_CONNECTED) && ns->state == NS_CONNECTING) {
			ns->state = NS_CONNECTED;
			ns->flags |= NSF_UP;
		}
		if (ns->state != NS_CLOSING)
			ok = tcp_rx_move(st, app, i, now);
		if (ns->conn != TCP_CONN_NONE && (left = app_tcp_tx_move(st, app, i, now)) < 0)
			ok = false;
		tcp_fin_if_drained(st, ns, left, now);
		if (ns->conn != TCP_CONN_NONE && (!ok || (tev & (TCP_EV_ERROR | TCP_EV_CLOSED))))
			tcp_check_dead(st, ns);
	}
	if (ns->state == NS_CLOSING &&
	    (left <= 0 || ns->conn == TCP_CONN_NONE || (ns->flags & (NSF_DEAD | NSF_BROKEN))))
		app_tcp_close_finish(st, app, i, true, now);
}

/* ------------------------------------------------------------------ UDP */

/* Bind an unbound UDP socket to an ephemeral port (sendto or connect
 * before bind, as Linux's autobind). */
int app_udp_autobind(struct netd_apps_state *st, struct netd_app *app, uint32_t i)
{
	struct nsock *ns = &app->sock[i];
	unsigned f = (ns->flags & NSF_REUSEADDR ? UDP_F_REUSEADDR : 0) |
		     (ns->flags & NSF_REUSEPORT ? UDP_F_REUSEPORT : 0);
	int r = udp_bind(&st->stk->udp, udp_sock_id(app, i), ns->laddr, 0, f, app->uid);

	if (r < 0)
		return r;
	ns->lport = (uint16_t)r;
	ns->state = NS_BOUND;
	return 0;
}

/* Send one datagram of a checked record. */
static void udp_send_one(struct netd_apps_state *st, struct netd_app *app, uint32_t i,
			 const struct app_dgram *h, const uint8_t *payload, uint64_t now)
{
	struct nsock *ns = &app->sock[i];
	struct udp_tx tx = { .src = ns->laddr, .dst = h->addr ? h->addr : ns->raddr,
			     .dport = h->addr ? h->port : ns->rport,
			     .ttl = ns->opt.ttl, .tos = ns->opt.tos };

	if (!tx.dst || !tx.dport) {
		APP_CTR(st, UDP_TX_NO_DEST);
		return;
	}
	if (ns->state == NS_OPEN && app_udp_autobind(st, app, i) < 0) {
		APP_CTR(st, UDP_TX_ERR);
		return;
	}
	tx.sport = ns->lport;
	if (udp_output(st->stk, &tx, payload, h->len, now) < 0)
		APP_CTR(st, UDP_TX_ERR);
	else
		APP_CTR(st, UDP_TX_DGRAMS);
}

/* One record at tx_cons, avail bytes published. Returns the bytes it
 * takes (a padding record: up to the buffer's end), or -1 if impossible.
 * The header is copied once: the app may rewrite it while we look. */
static int udp_tx_record(struct netd_apps_state *st, struct netd_app *app, uint32_t i,
			 uint32_t avail, uint64_t now)
{
	uint32_t off = app->sock[i].tx_cons & (app->buf_size - 1), room = app->buf_size - off;
	const uint8_t *rec = sock_buf(app, i, 1) + off;
	struct app_dgram h = { 0 };

	if ((off & 7) || avail < 8)
		return -1;
	/* a padding record may be only 8 bytes, up to the end: its len is all there is */
	memcpy(&h, rec, room < sizeof(h) ? sizeof(h.len) : sizeof(h));
	if (h.len == APP_DGRAM_PAD)
		return avail >= room ? (int)room : -1;
	if (room < sizeof(h) || h.len > NETD_UDP_PAYLOAD_MAX || h.len > room - sizeof(h) ||
	    align8((uint32_t)sizeof(h) + h.len) > avail)
		return -1;
	udp_send_one(st, app, i, &h, rec + sizeof(h), now);
	return (int)align8((uint32_t)sizeof(h) + h.len);
}

static void udp_tx_move(struct netd_apps_state *st, struct netd_app *app, uint32_t i,
			uint64_t now)
{
	struct nsock *ns = &app->sock[i];
	struct app_sock *as = &app->socks[i];
	/* Acquire: pairs with libsock's release store of tx.prod (records written). */
	uint32_t avail = atomic_load_explicit(&as->tx.prod, memory_order_acquire) - ns->tx_cons;
	uint32_t moved = 0;
	unsigned n = 0;

	if (avail > app->buf_size) {
		app_sock_fail(st, app, i, now);
		return;
	}
	while (avail > 0 && n < NETD_SERVICE_DGRAMS && moved < NETD_SERVICE_BYTES) {
		int used = udp_tx_record(st, app, i, avail, now);

		if (used < 0) {
			APP_CTR(st, UDP_TX_BAD_RECORD);
			app_sock_fail(st, app, i, now);
			break;
		}
		ns->tx_cons += (uint32_t)used;
		avail -= (uint32_t)used;
		moved += (uint32_t)used;
		n++;
	}
	if (moved) {
		/* seq_cst: pairs with libsock's acquire load of tx.cons (records
		 * sent), and our half of the tx Dekker pair (tcp moves, above). */
		atomic_store_explicit(&as->tx.cons, ns->tx_cons, memory_order_seq_cst);
		app->changed = true;
	}
	if (!(ns->flags & NSF_BROKEN) && (avail || tx_grew(app, i)))
		app_dirty(app, i);
}

/* Room for a record of rec bytes at rx_prod, padding to the end first if
 * it would wrap; writes the padding. Returns false if the ring is full. */
static bool udp_rx_room(struct netd_app *app, uint32_t i, uint32_t used, uint32_t rec)
{
	struct nsock *ns = &app->sock[i];
	uint32_t off = ns->rx_prod & (app->buf_size - 1), room = app->buf_size - off;
	uint32_t pad = rec > room ? room : 0, len = APP_DGRAM_PAD;

	if (app->buf_size - used < pad + rec)
		return false;
	if (pad) {
		memcpy(sock_buf(app, i, 0) + off, &len, sizeof(len));
		ns->rx_prod += pad;
	}
	return true;
}

void app_udp_rx(struct netd_apps_state *st, struct stack_event *ev)
{
	uint32_t slot = ev->sock_id >> 16, i = ev->sock_id & 0xffff, used, len, rec;
	struct netd_app *app = slot < NETD_APPS_MAX ? st->app[slot] : NULL;
	struct app_dgram h = { .addr = ev->raddr, .port = ev->rport };
	uint8_t *dst;

	if (!app || i >= app->nsocks || app->sock[i].type != SOCK_DGRAM ||
	    app->sock[i].state != NS_BOUND || !ev->pkb) {
		APP_CTR(st, UDP_RX_NO_SOCKET);
		return;                      /* the caller frees the pkb */
	}
	h.len = len = ev->pkb->pkt_len;
	rec = align8((uint32_t)sizeof(h) + len);
	if (rec > app->buf_size) {
		APP_CTR(st, UDP_RX_TOO_BIG);
		return;
	}
	if ((used = app_rx_unread(app, i)) == UINT32_MAX) {
		app_sock_fail(st, app, i, st->now);
		return;
	}
	if (!udp_rx_room(app, i, used, rec)) {
		APP_CTR(st, UDP_RX_RING_FULL);
		return;
	}
	dst = sock_buf(app, i, 0) + (app->sock[i].rx_prod & (app->buf_size - 1));
	memcpy(dst, &h, sizeof(h));
	pkb_copy_out(ev->pkb, 0, len, dst + sizeof(h));
	app->sock[i].rx_prod += rec;
	/* Release: pairs with libsock's acquire load of rx.prod (record written). */
	atomic_store_explicit(&app->socks[i].rx.prod, app->sock[i].rx_prod, memory_order_release);
	app->changed = true;
	APP_CTR(st, UDP_RX_DGRAMS);
}

/* --------------------------------------------------------------- both */

void app_sock_service(struct netd_apps_state *st, struct netd_app *app, uint32_t i, uint64_t now)
{
	struct nsock *ns = &app->sock[i];

	if (ns->flags & NSF_BROKEN) {
		if (ns->state == NS_CLOSING)
			app_tcp_close_finish(st, app, i, false, now);
		return;
	}
	if (ns->type == SOCK_STREAM)
		tcp_service(st, app, i, now);
	else if (ns->type == SOCK_DGRAM)
		udp_tx_move(st, app, i, now);
	if (ns->type)
		nsock_publish(app, i);
}
