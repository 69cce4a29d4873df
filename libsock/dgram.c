/* libsock/dgram.c — UDP's data path in the app: each datagram is one record
 * in a byte ring (shm/app_layout.h):
 *
 *     | app_dgram: len addr port flags | payload ... | pad to 8 | next record
 *
 * A record never wraps: a producer that would cross the end first fills the
 * rest of the buffer with an APP_DGRAM_PAD record. Records are 8-aligned and
 * a header is 16 bytes, so the gap before the end can be 8 bytes, too small
 * for a pad header: such a gap is padding without a header, and a reader
 * that finds fewer than 16 bytes before the end skips to the start (the
 * same rule for netd; docs/LIBSOCK.md).
 *
 * Notifications follow stream.c's protocol (ls_tx_publish, ls_rx_consume).
 * A datagram is sent whole or not at all (EAGAIN / block for room).
 */
#include "libsock/libsock_internal.h"

#include <string.h>

#define LS_DGRAM_HDR  ((uint32_t)sizeof(struct app_dgram))
#define LS_UDP_MAX    65507u        /* IPv4: 65535 - 20 (IP) - 8 (UDP) */

/* The largest payload a record can carry here: a record and the pad before
 * it must fit in the half ring that netd may need (stream.c). */
static uint32_t dgram_max(void)
{
	uint32_t half = ls.buf_size / 2 - 2 * LS_DGRAM_HDR;

	return half < LS_UDP_MAX ? half : LS_UDP_MAX;
}

/* ------------------------------------------------------------ send */

/* Write one record for c->left bytes to `to` (0:0 = the connected peer).
 * Returns 0, or -EAGAIN when there is no room for it (and its pad). */
static int dgram_put(struct ls_sock *s, struct ls_iov *c, const struct ls_addr *to)
{
	struct app_bring *b = &ls_app_sock(s)->tx;
	uint32_t size = ls.buf_size, len = (uint32_t)c->left, need = bring_rec_size(len);
	uint32_t prod = atomic_load_explicit(&b->prod, memory_order_relaxed);
	/* Acquire: pairs with netd's release store of tx.cons. */
	uint32_t used = prod - atomic_load_explicit(&b->cons, memory_order_acquire);
	uint32_t to_end = size - (prod & (size - 1)), pad = need > to_end ? to_end : 0;
	struct app_dgram h = { .len = len, .addr = to->addr, .port = to->port };
	uint8_t *buf = ls_buf(s, 1);

	if (used > size) {
		ls_count(LS_C_RING_CORRUPT);
		return -EAGAIN;
	}
	if (used + pad + need > size)
		return -EAGAIN;
	if (pad >= LS_DGRAM_HDR) {
		struct app_dgram p = { .len = APP_DGRAM_PAD };

		memcpy(buf + (prod & (size - 1)), &p, sizeof(p));
	}
	memcpy(buf + ((prod + pad) & (size - 1)), &h, sizeof(h));
	bring_put_iov(buf, size, prod + pad + LS_DGRAM_HDR, c, len);
	ls_tx_publish(s, prod, prod + pad + need);
	return 0;
}

static bool dgram_room(void *arg)
{
	struct ls_sock *s = arg;
	struct app_bring *b = &ls_app_sock(s)->tx;
	uint32_t used = atomic_load_explicit(&b->prod, memory_order_relaxed) -
			atomic_load_explicit(&b->cons, memory_order_acquire);

	/* Room for the largest record and its pad: what send waits for. */
	return used <= ls.buf_size / 2 || (atomic_load(&ls_app_sock(s)->events) & APP_EV_ERR);
}

/* Why s cannot send to `to` now: 0 or -errno. */
static int dgram_send_state(struct ls_sock *s, size_t len, const struct ls_addr *to)
{
	int e;

	if (len > dgram_max())
		return -EMSGSIZE;
	if (!to->set && atomic_load(&s->phase) != LS_PH_CONNECTED)
		return -EDESTADDRREQ;
	if (atomic_load(&s->shut) & LS_SHUT_WR)
		return -EPIPE;
	if (atomic_load(&ls_app_sock(s)->events) & APP_EV_ERR && (e = ls_sock_error(s)) != 0)
		return -e;   /* an ICMP error on a connected socket, as Linux reports it */
	return ls_sock_autobind(s);
}

ssize_t ls_dgram_send(struct ls_sock *s, struct ls_iov *c, int flags, const struct ls_addr *to)
{
	bool nb = (flags & MSG_DONTWAIT) || atomic_load(&s->nonblock);
	struct ls_addr dst = to->set ? *to : (struct ls_addr){ 0 };
	size_t len = c->left;
	int r = dgram_send_state(s, len, to);

	while (r == 0) {
		pthread_mutex_lock(&s->tx_lock);
		r = dgram_put(s, c, &dst);
		pthread_mutex_unlock(&s->tx_lock);
		if (r != -EAGAIN || nb)
			break;
		r = ls_block(dgram_room, s, ls_deadline(s->sndtimeo_ns),
			     ls_intr_for(s->sndtimeo_ns, 0));
		if (r == -ETIMEDOUT)
			r = -EAGAIN;
	}
	return r < 0 ? r : (ssize_t)len;
}

/* ------------------------------------------------------------ receive */

/* The record at cons, skipping pads (each skip advances *cons). Returns 1
 * with *h filled, 0 if the ring is empty, -EIO if the record is impossible. */
static int dgram_peek(struct ls_sock *s, uint32_t *cons, struct app_dgram *h)
{
	uint32_t size = ls.buf_size, avail, off, to_end;
	/* Acquire: pairs with netd's release store of rx.prod. */
	uint32_t prod = atomic_load_explicit(&ls_app_sock(s)->rx.prod, memory_order_acquire);

	for (int i = 0; i < 2; i++) {     /* at most one pad before a record */
		avail = prod - *cons;
		if (avail == 0)
			return 0;
		off = *cons & (size - 1);
		to_end = size - off;
		if (avail > size || (to_end < LS_DGRAM_HDR && avail < to_end))
			return -EIO;
		if (to_end >= LS_DGRAM_HDR)
			memcpy(h, ls_buf(s, 0) + off, sizeof(*h));
		if (to_end < LS_DGRAM_HDR || h->len == APP_DGRAM_PAD) {
			*cons += to_end;
			continue;
		}
		if (h->len > LS_UDP_MAX || bring_rec_size(h->len) > bring_min(avail, to_end))
			return -EIO;
		return 1;
	}
	return prod == *cons ? 0 : -EIO;
}

/* Receive one datagram into c. Returns its full length, or -EAGAIN. */
static ssize_t dgram_get(struct ls_sock *s, struct ls_iov *c, int flags,
			 struct ls_addr *from, int *mflags)
{
	uint32_t cons0 = atomic_load_explicit(&ls_app_sock(s)->rx.cons, memory_order_relaxed);
	uint32_t cons = cons0, n;
	struct app_dgram h;
	int r = dgram_peek(s, &cons, &h);

	if (r < 0) {
		/* A corrupt ring (netd's bug or a scribbling app): drop what is
		 * in it rather than read out of bounds or spin. */
		ls_count(LS_C_RING_CORRUPT);
		ls_rx_consume(s, cons0, atomic_load(&ls_app_sock(s)->rx.prod));
		return -EAGAIN;
	}
	if (r == 0) {
		if (cons != cons0)
			ls_rx_consume(s, cons0, cons);   /* only pads */
		return -EAGAIN;
	}
	n = (uint32_t)bring_min(h.len, c->left);
	bring_get_iov(ls_buf(s, 0), ls.buf_size, cons + LS_DGRAM_HDR, c, n);
	if (n < h.len)
		*mflags |= MSG_TRUNC;
	*from = (struct ls_addr){ .addr = h.addr, .port = h.port, .set = true };
	if (!(flags & MSG_PEEK))
		cons += bring_rec_size(h.len);
	if (cons != cons0)
		ls_rx_consume(s, cons0, cons);
	return h.len;
}

static bool dgram_readable(void *arg)
{
	struct ls_sock *s = arg;

	return ls_rx_pending(s) > 0 || (atomic_load(&s->shut) & LS_SHUT_RD) ||
	       (atomic_load(&ls_app_sock(s)->events) & (APP_EV_ERR | APP_EV_HUP));
}

/* recv on a UDP socket: one datagram. Returns the bytes copied, or its full
 * length with MSG_TRUNC in flags (Linux), or -errno. */
ssize_t ls_dgram_recv(struct ls_sock *s, struct ls_iov *c, int flags,
		      struct ls_addr *from, int *msg_flags)
{
	bool nb = (flags & MSG_DONTWAIT) || atomic_load(&s->nonblock);
	int64_t deadline = ls_deadline(s->rcvtimeo_ns);
	size_t want = c->left;
	ssize_t r;
	int e;

	for (;;) {
		pthread_mutex_lock(&s->rx_lock);
		r = dgram_get(s, c, flags, from, msg_flags);
		pthread_mutex_unlock(&s->rx_lock);
		if (r >= 0)
			return (flags & MSG_TRUNC) ? r : (ssize_t)bring_min((size_t)r, want);
		if (atomic_load(&ls_app_sock(s)->events) & APP_EV_ERR && (e = ls_sock_error(s)) != 0)
			return -e;
		if (atomic_load(&s->shut) & LS_SHUT_RD)
			return 0;
		if (nb)
			return -EAGAIN;
		r = ls_block(dgram_readable, s, deadline, ls_intr_for(s->rcvtimeo_ns, 0));
		if (r < 0)
			return r == -ETIMEDOUT ? -EAGAIN : r;
	}
}

/* FIONREAD on UDP: the size of the next datagram (Linux), 0 if none. */
size_t ls_dgram_next_len(struct ls_sock *s)
{
	uint32_t cons = atomic_load_explicit(&ls_app_sock(s)->rx.cons, memory_order_relaxed);
	struct app_dgram h;

	return dgram_peek(s, &cons, &h) == 1 ? h.len : 0;
}
