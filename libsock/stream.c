/* libsock/stream.c — TCP's data path in the app: send copies into the
 * socket's tx byte ring, recv copies out of its rx byte ring.
 *
 * This is the one copy DESIGN.md allows between app memory and the socket
 * buffer; netd moves the bytes between these rings and TCP. Each ring has
 * one producer and one consumer (shm/app_layout.h); several app threads on
 * one socket take the socket's tx_lock or rx_lock for the copy only, never
 * while asleep.
 *
 * Notifications (docs/LIBSOCK.md has the argument in full). netd must never
 * miss new tx bytes, and the app must never leave netd waiting for rx room,
 * without a command on every call:
 *
 *   tx: the app stores tx.prod, then loads tx.cons (both seq_cst); if netd
 *       had consumed everything before this write (cons == the old prod) it
 *       may have gone idle: post APP_OP_TX. netd stores tx.cons, then
 *       re-loads tx.prod (seq_cst) and goes on if it moved. Either netd's
 *       re-load sees the new bytes or the app sees netd's final cons.
 *   rx: the app stores rx.cons, then re-loads rx.prod (seq_cst); if the ring
 *       as netd may last have seen it (prod - the old cons) was half full or
 *       more, post APP_OP_RX_DONE. netd stores rx.prod, then loads rx.cons
 *       (seq_cst), and waits for RX_DONE only when the free space is less
 *       than it needs, and it never needs more than half the ring.
 */
#include "libsock/libsock_internal.h"

#include <signal.h>
#include <unistd.h>

/* ------------------------------------------------------------ the index protocol */

void ls_tx_publish(struct ls_sock *s, uint32_t old_prod, uint32_t new_prod)
{
	struct app_bring *b = &ls_app_sock(s)->tx;
	struct app_cmd c = ls_cmd(APP_OP_TX, s);

	/* seq_cst store, then seq_cst load: the Dekker pair with netd's store of
	 * tx.cons and re-load of tx.prod (file comment). */
	atomic_store_explicit(&b->prod, new_prod, memory_order_seq_cst);
	if (atomic_load_explicit(&b->cons, memory_order_seq_cst) == old_prod)
		ls_cmd_post(&c, NULL);
}

void ls_rx_consume(struct ls_sock *s, uint32_t old_cons, uint32_t new_cons)
{
	struct app_bring *b = &ls_app_sock(s)->rx;
	struct app_cmd c = ls_cmd(APP_OP_RX_DONE, s);

	/* seq_cst: the Dekker pair with netd's store of rx.prod and load of
	 * rx.cons (file comment). The release half also orders our reads of
	 * the bytes before netd overwrites them. */
	atomic_store_explicit(&b->cons, new_cons, memory_order_seq_cst);
	if (atomic_load_explicit(&b->prod, memory_order_seq_cst) - old_cons >= ls.buf_size / 2)
		ls_cmd_post(&c, NULL);
}

/* Bytes in s's rx ring from cons (ours). An impossible count (a corrupt
 * index) reads as empty and is counted. */
static uint32_t rx_avail(struct ls_sock *s, uint32_t cons)
{
	/* Acquire: pairs with netd's release store of rx.prod; the bytes it
	 * publishes are visible before we copy them. */
	uint32_t prod = atomic_load_explicit(&ls_app_sock(s)->rx.prod, memory_order_acquire);

	if (ls_unlikely(prod - cons > ls.buf_size)) {
		ls_count(LS_C_RING_CORRUPT);
		return 0;
	}
	return prod - cons;
}

/* Free bytes in s's tx ring from prod (ours). */
static uint32_t tx_free(struct ls_sock *s, uint32_t prod)
{
	/* Acquire: pairs with netd's release store of tx.cons; its reads of
	 * the bytes are done before we overwrite them. */
	uint32_t cons = atomic_load_explicit(&ls_app_sock(s)->tx.cons, memory_order_acquire);

	if (ls_unlikely(prod - cons > ls.buf_size)) {
		ls_count(LS_C_RING_CORRUPT);
		return 0;
	}
	return ls.buf_size - (prod - cons);
}

size_t ls_tx_pending(struct ls_sock *s)
{
	uint32_t prod = atomic_load_explicit(&ls_app_sock(s)->tx.prod, memory_order_relaxed);

	return ls.buf_size - tx_free(s, prod);
}

/* ------------------------------------------------------------ one copy */

static size_t tx_once(struct ls_sock *s, struct ls_iov *c)
{
	uint32_t prod, n;

	pthread_mutex_lock(&s->tx_lock);
	prod = atomic_load_explicit(&ls_app_sock(s)->tx.prod, memory_order_relaxed);
	n = (uint32_t)bring_min(tx_free(s, prod), c->left);
	if (n > 0) {
		bring_put_iov(ls_buf(s, 1), ls.buf_size, prod, c, n);
		ls_tx_publish(s, prod, prod + n);
	}
	pthread_mutex_unlock(&s->tx_lock);
	return n;
}

/* MSG_TRUNC on a stream discards instead of copying (Linux). */
static size_t rx_once(struct ls_sock *s, struct ls_iov *c, int flags)
{
	uint32_t cons, n;

	pthread_mutex_lock(&s->rx_lock);
	cons = atomic_load_explicit(&ls_app_sock(s)->rx.cons, memory_order_relaxed);
	n = (uint32_t)bring_min(rx_avail(s, cons), c->left);
	if (n > 0 && !(flags & MSG_TRUNC))
		bring_get_iov(ls_buf(s, 0), ls.buf_size, cons, c, n);
	else if (n > 0)
		ls_iov_advance(c, n);
	if (n > 0 && !(flags & MSG_PEEK))
		ls_rx_consume(s, cons, cons + n);
	pthread_mutex_unlock(&s->rx_lock);
	return n;
}

/* ------------------------------------------------------------ conditions */

static uint32_t sock_events(struct ls_sock *s)
{
	/* Acquire: pairs with netd's release store of events; what a bit
	 * announces (rx bytes, the error) was published before it. */
	return atomic_load_explicit(&ls_app_sock(s)->events, memory_order_acquire);
}

static bool tx_ready(void *arg)
{
	struct ls_sock *s = arg;
	uint32_t ev = sock_events(s);

	if (ev & (APP_EV_ERR | APP_EV_HUP))
		return true;
	if (atomic_load(&s->phase) == LS_PH_CONNECTING)
		return ev & APP_EV_CONNECTED;
	return tx_free(s, atomic_load_explicit(&ls_app_sock(s)->tx.prod, memory_order_relaxed)) > 0;
}

static bool rx_ready(void *arg)
{
	struct ls_sock *s = arg;

	if (sock_events(s) & (APP_EV_ERR | APP_EV_HUP | APP_EV_RDHUP))
		return true;
	if (atomic_load(&s->shut) & LS_SHUT_RD)
		return true;
	return rx_avail(s, atomic_load_explicit(&ls_app_sock(s)->rx.cons, memory_order_relaxed)) > 0;
}

size_t ls_rx_pending(struct ls_sock *s)
{
	uint32_t cons = atomic_load_explicit(&ls_app_sock(s)->rx.cons, memory_order_relaxed);

	return rx_avail(s, cons);
}

/* ------------------------------------------------------------ send */

/* Why s cannot take bytes now, as the kernel would say it: 0 (it can, or it
 * must wait: still connecting), or -errno. EPIPE raises SIGPIPE unless
 * MSG_NOSIGNAL, as tcp_sendmsg does. */
static int send_state(struct ls_sock *s, int flags)
{
	uint32_t ev;
	int phase, e;

	ls_sock_sync(s);
	ev = sock_events(s);
	phase = atomic_load(&s->phase);
	if (ev & APP_EV_ERR && (e = ls_sock_error(s)) != 0)
		return -e;
	if (phase == LS_PH_CONNECTING)
		return 0;
	if (phase != LS_PH_CONNECTED && phase != LS_PH_FAILED)
		return -ENOTCONN;
	if (phase == LS_PH_FAILED || ev & APP_EV_HUP || atomic_load(&s->shut) & LS_SHUT_WR) {
		if (!(flags & MSG_NOSIGNAL))
			raise(SIGPIPE);
		return -EPIPE;
	}
	return 0;
}

/* Wait for room (or the connection's outcome), `sent` bytes into the call.
 * Returns 0 or the call's error: -EAGAIN on an SO_SNDTIMEO timeout, -EINTR
 * on a signal (ls_intr_for: restarted instead when that is Linux's way). */
static int send_wait(struct ls_sock *s, int64_t *deadline, size_t sent)
{
	int r;

	if (*deadline == -2)
		*deadline = ls_deadline(s->sndtimeo_ns);
	r = ls_block(tx_ready, s, *deadline, ls_intr_for(s->sndtimeo_ns, sent));
	return r == -ETIMEDOUT ? -EAGAIN : r;
}

ssize_t ls_stream_send(struct ls_sock *s, struct ls_iov *c, int flags)
{
	bool nb = (flags & MSG_DONTWAIT) || atomic_load(&s->nonblock);
	int64_t deadline = -2;    /* computed when first needed */
	size_t total = 0;
	int err;

	for (;;) {
		err = send_state(s, flags);
		if (err < 0)
			return total ? (ssize_t)total : err;
		if (atomic_load(&s->phase) != LS_PH_CONNECTING) {
			total += tx_once(s, c);
			if (c->left == 0)
				return (ssize_t)total;
		}
		if (nb)
			return total ? (ssize_t)total : -EAGAIN;
		err = send_wait(s, &deadline, total);
		if (err < 0)
			return total ? (ssize_t)total : err;
	}
}

/* ------------------------------------------------------------ recv */

/* After an empty ring: 0 to wait, 1 for end of stream, or -errno. Bytes
 * netd published before it set RDHUP are read first (app_layout.h). */
static int recv_state(struct ls_sock *s)
{
	uint32_t ev;
	int phase, e;

	ls_sock_sync(s);
	ev = sock_events(s);
	phase = atomic_load(&s->phase);
	if (ev & APP_EV_ERR && (e = ls_sock_error(s)) != 0)
		return -e;
	if (ev & (APP_EV_RDHUP | APP_EV_HUP) || atomic_load(&s->shut) & LS_SHUT_RD)
		return ls_rx_pending(s) > 0 ? 0 : 1;
	if (phase != LS_PH_CONNECTED && phase != LS_PH_CONNECTING)
		return -ENOTCONN;
	return 0;
}

static int recv_wait(struct ls_sock *s, int64_t *deadline, size_t got)
{
	int r;

	if (*deadline == -2)
		*deadline = ls_deadline(s->rcvtimeo_ns);
	r = ls_block(rx_ready, s, *deadline, ls_intr_for(s->rcvtimeo_ns, got));
	return r == -ETIMEDOUT ? -EAGAIN : r;
}

ssize_t ls_stream_recv(struct ls_sock *s, struct ls_iov *c, int flags)
{
	bool nb = (flags & MSG_DONTWAIT) || atomic_load(&s->nonblock);
	bool waitall = (flags & MSG_WAITALL) && !(flags & MSG_PEEK);
	int64_t deadline = -2;
	size_t total = 0;
	int r;

	if (flags & MSG_OOB)
		return -EINVAL;    /* no urgent data, ever: as Linux with none pending */
	if (c->left == 0)
		return 0;
	for (;;) {
		total += rx_once(s, c, flags);
		if (total && (!waitall || c->left == 0))
			return (ssize_t)total;
		r = recv_state(s);
		if (r == 0 && ls_rx_pending(s) > 0)
			continue;
		if (r != 0)
			return total ? (ssize_t)total : (r > 0 ? 0 : r);
		if (nb)
			return total ? (ssize_t)total : -EAGAIN;
		r = recv_wait(s, &deadline, total);
		if (r < 0)
			return total ? (ssize_t)total : r;
	}
}

/* ------------------------------------------------------------ sendfile */

/* Read from in_fd straight into the tx ring's free space (one copy, as the
 * kernel's sendfile makes into its socket buffer). Returns the bytes moved,
 * 0 at end of file, -EAGAIN if the ring is full, or -errno from the read. */
static ssize_t tx_from_file(struct ls_sock *s, int in_fd, off_t *off, size_t count)
{
	uint32_t prod, pos, room;
	ssize_t n;

	pthread_mutex_lock(&s->tx_lock);
	prod = atomic_load_explicit(&ls_app_sock(s)->tx.prod, memory_order_relaxed);
	pos = prod & (ls.buf_size - 1);
	room = (uint32_t)bring_min(tx_free(s, prod), ls.buf_size - pos);   /* contiguous */
	room = (uint32_t)bring_min(room, count);
	n = room == 0 ? -EAGAIN
	    : off ? pread(in_fd, ls_buf(s, 1) + pos, room, *off)
		  : REAL(read)(in_fd, ls_buf(s, 1) + pos, room);
	if (n < 0 && room)
		n = -errno;
	if (n > 0) {
		ls_tx_publish(s, prod, prod + (uint32_t)n);
		if (off)
			*off += n;
	}
	pthread_mutex_unlock(&s->tx_lock);
	return n;
}

ssize_t ls_stream_sendfile(struct ls_sock *s, int in_fd, off_t *off, size_t count)
{
	bool nb = atomic_load(&s->nonblock);
	int64_t deadline = -2;
	size_t total = 0;
	ssize_t n;

	while (total < count) {
		n = send_state(s, 0);
		if (n == 0 && atomic_load(&s->phase) != LS_PH_CONNECTING)
			n = tx_from_file(s, in_fd, off, count - total);
		else if (n == 0)
			n = -EAGAIN;
		if (n == 0)
			break;                       /* end of file */
		if (n > 0) {
			total += (size_t)n;
			continue;
		}
		if (n != -EAGAIN || nb || (n = send_wait(s, &deadline, total)) < 0)
			return total ? (ssize_t)total : n;
	}
	return (ssize_t)total;
}
