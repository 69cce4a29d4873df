/* tests/tools/fake_netd_cmds.c — a stand-in for sockd's admission and netd's
 * application side, so that libsock can be tested on its own.
 *
 * Where it sits: exactly where sockd and netd will. It listens on
 * RUN_DIR/sockd.sock, answers each app_hello by creating the app's region
 * (REGION_KIND_APP, shm/app_layout.h) and wake eventfd and sending both in
 * the app_welcome, then serves the app's commands from app.cmd, answers in
 * app.cpl, moves bytes between the byte rings, sets app_sock.events and
 * rings the app's wake doorbell, and sleeps on every app's netd doorbell
 * with doorbell_wait_many, as netd will. No TCP: a loopback model of a tiny
 * network, host 10.0.0.2:
 *
 *   TCP connect to a port some socket listens on (in this app or another
 *     app it serves): queued on the listener (ACCEPTQ); once accepted, the
 *     two sockets are joined, across apps too (curl -> nginx works).
 *   TCP connect to port 9: refused (ERR + HUP, ECONNREFUSED) after the delay.
 *   TCP connect to port 1: never completes (for connect timeouts).
 *   TCP connect elsewhere: an echo server; what the app sends comes back.
 *   Any connect to 127.0.0.0/8 or 10.99.0.0/16: -ENETUNREACH.
 *   UDP to a port some UDP socket of the app is bound to: delivered to it;
 *   elsewhere: echoed back from the destination's address.
 * Connects settle --connect-delay-ms after the command (so that a
 * nonblocking connect really is in progress for a while).
 *
 * It keeps the notification protocol honest (docs/LIBSOCK.md): it moves a
 * socket's tx bytes only after APP_OP_TX (re-checking tx.prod after storing
 * tx.cons), and when the receiving ring is full it waits for that ring's
 * APP_OP_RX_DONE. A libsock that forgets a notification hangs its test.
 *
 * Bounded: exits after --seconds (default 30). On SIGTERM/SIGINT, or at the
 * end, prints "fake_netd_cmds: key=value ..." (the tests read it).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

#include "shm/app_layout.h"
#include "shm/doorbell.h"
#include "shm/region.h"
#include "shm/ring.h"

#define MAX_APPS      8
#define HOST_ADDR     0x0a000002u     /* 10.0.0.2 */
#define PEER_NONE     (-1)
#define PEER_ECHO     (-2)
#define PEER_PENDING  (-3)            /* queued on a listener, not accepted yet */
#define ACCEPTQ_MAX   64
#define BURST         32u

struct app;

/* A socket of some app this fake serves. */
struct endp {
	struct app *a;
	int i;
};

struct fsock {
	bool open, bound, listening, fin, fin_sent, blocked, tx_kick, peer_gone;
	int type;
	uint32_t laddr, paddr;
	uint16_t lport, pport;
	int peer;                     /* an index in app pa, or PEER_* */
	struct app *pa;
	int64_t connect_at;           /* ns; 0: nothing pending */
	int connect_err;
	struct endp acceptq[ACCEPTQ_MAX];
	unsigned nq;
	int64_t nodelay, keepalive;   /* a few stored options */
};

struct app {
	bool used;
	int conn, efd;
	struct region region;
	struct app_ctl *ctl;
	struct app_sock *socks;
	uint8_t *bufs;
	uint32_t nsocks, buf_size;
	struct ring_cons cmd;
	struct ring_prod cpl;
	struct fsock *fs;
	bool dirty;
};

struct opts {
	const char *run_dir;
	double seconds;
	uint32_t nsocks, buf_size;
	int connect_delay_ms;
};

static struct {
	uint64_t apps, cmds, tx_notes, rx_done, closes, wakes, udp_drops, bad;
} st;

static struct app apps[MAX_APPS];
static struct opts o = { .seconds = 30, .nsocks = 64, .buf_size = 64 * 1024,
			 .connect_delay_ms = 20 };
static uint16_t next_port = 40000;
static volatile sig_atomic_t stop;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ------------------------------------------------------------ events, completions */

static void ev_set(struct app *a, uint32_t i, uint32_t bits)
{
	/* Release: what the bits announce (rx bytes, the error) is published first. */
	atomic_fetch_or_explicit(&a->socks[i].events, bits, memory_order_release);
	a->dirty = true;
}

static void ev_clear(struct app *a, uint32_t i, uint32_t bits)
{
	atomic_fetch_and_explicit(&a->socks[i].events, ~bits, memory_order_release);
	a->dirty = true;
}

static void complete(struct app *a, const struct app_cmd *c, int32_t result,
		     uint32_t addr, uint16_t port, int64_t val)
{
	struct app_cpl cpl = { .seq = c->seq, .result = result, .sock = c->sock,
			       .addr = addr, .port = port, .op = c->op, .val = val };

	for (int tries = 0; tries < 1000; tries++) {
		if (ring_enqueue_bulk_elem(&a->cpl, &cpl, sizeof(cpl), 1) == 1) {
			a->dirty = true;
			return;
		}
		usleep(100);
	}
	st.bad++;
}

/* ------------------------------------------------------------ byte rings */

static uint8_t *buf_of(struct app *a, uint32_t i, int tx)
{
	return a->bufs + app_buf_off(i, a->buf_size, tx);
}

/* Copy n bytes between two byte rings of size sz, each index wrapping. */
static void ring_copy(uint8_t *dst, uint32_t dpos, const uint8_t *src, uint32_t spos,
		      uint32_t n, uint32_t sz)
{
	while (n > 0) {
		uint32_t d = dpos & (sz - 1), s = spos & (sz - 1);
		uint32_t k = n;

		if (k > sz - d)
			k = sz - d;
		if (k > sz - s)
			k = sz - s;
		memcpy(dst + d, src + s, k);
		dpos += k;
		spos += k;
		n -= k;
	}
}

/* Free space in socket d's rx ring, loading rx.cons after our last store of
 * rx.prod (seq_cst: the Dekker pair with libsock's ls_rx_consume). */
static uint32_t rx_free(struct app *a, uint32_t d)
{
	struct app_bring *b = &a->socks[d].rx;
	uint32_t used = atomic_load_explicit(&b->prod, memory_order_relaxed) -
			atomic_load_explicit(&b->cons, memory_order_seq_cst);

	return used > a->buf_size ? 0 : a->buf_size - used;
}

/* Where socket i's bytes go: its peer (maybe in another app), itself for
 * the echo server, or nowhere (< 0). */
static int dest_of(struct app *a, uint32_t i, struct app **da)
{
	int p = a->fs[i].peer;

	*da = p == PEER_ECHO ? a : a->fs[i].pa;
	return p == PEER_ECHO ? (int)i : p;
}

/* Stream: move what fits from i's tx to its destination's rx. Returns true
 * if bytes moved. Clears tx_kick only after the Dekker re-check of tx.prod. */
static bool stream_move(struct app *a, uint32_t i)
{
	struct fsock *f = &a->fs[i];
	struct app_bring *tx = &a->socks[i].tx;
	struct app *da;
	int d = dest_of(a, i, &da);
	bool moved = false;

	if (d < 0) {
		if (f->peer_gone && f->peer != PEER_PENDING) {
			/* bytes to a peer that closed: as a reset */
			atomic_store(&a->socks[i].error, -EPIPE);
			ev_set(a, i, APP_EV_HUP | APP_EV_ERR);
			f->tx_kick = false;
		}
		return false;
	}
	for (int round = 0; round < 8; round++) {
		uint32_t c = atomic_load_explicit(&tx->cons, memory_order_relaxed);
		uint32_t p = atomic_load_explicit(&tx->prod, memory_order_acquire);
		uint32_t rp = atomic_load_explicit(&da->socks[d].rx.prod, memory_order_relaxed);
		uint32_t n = p - c, room = rx_free(da, (uint32_t)d);

		if (n > a->buf_size) {
			st.bad++;
			return moved;
		}
		if (n > room)
			n = room;
		if (n > 0) {
			ring_copy(buf_of(da, (uint32_t)d, 0), rp, buf_of(a, i, 1), c, n, a->buf_size);
			atomic_store_explicit(&da->socks[d].rx.prod, rp + n, memory_order_seq_cst);
			da->dirty = a->dirty = moved = true;
		}
		atomic_store_explicit(&tx->cons, c + n, memory_order_seq_cst);
		/* The re-check (docs/LIBSOCK.md): new bytes after our store of cons? */
		if (atomic_load_explicit(&tx->prod, memory_order_seq_cst) == c + n) {
			f->tx_kick = false;
			return moved;
		}
		if (rx_free(da, (uint32_t)d) == 0) {
			f->blocked = true;          /* wait for d's APP_OP_RX_DONE */
			return moved;
		}
	}
	return moved;
}

/* Write one UDP record into socket d's rx ring (pad first if it would wrap). */
static bool dgram_deliver(struct app *a, uint32_t d, uint32_t src, uint16_t sport,
			  const uint8_t *payload, uint32_t len)
{
	struct app_bring *b = &a->socks[d].rx;
	uint32_t sz = a->buf_size, prod = atomic_load_explicit(&b->prod, memory_order_relaxed);
	uint32_t need = (16 + len + 7) & ~7u, to_end = sz - (prod & (sz - 1));
	uint32_t pad = need > to_end ? to_end : 0;
	struct app_dgram h = { .len = len, .addr = src, .port = sport };
	uint8_t *buf = buf_of(a, d, 0);

	if (sz - rx_free(a, d) + pad + need > sz) {
		st.udp_drops++;
		return false;
	}
	if (pad >= 16) {
		struct app_dgram p = { .len = APP_DGRAM_PAD };

		memcpy(buf + (prod & (sz - 1)), &p, sizeof(p));
	}
	memcpy(buf + ((prod + pad) & (sz - 1)), &h, sizeof(h));
	memcpy(buf + ((prod + pad + 16) & (sz - 1)), payload, len);
	atomic_store_explicit(&b->prod, prod + pad + need, memory_order_seq_cst);
	ev_set(a, d, 0);
	return true;
}

static int udp_find_bound(struct app *a, uint16_t port)
{
	for (uint32_t i = 0; i < a->nsocks; i++)
		if (a->fs[i].open && a->fs[i].type == SOCK_DGRAM && a->fs[i].bound &&
		    a->fs[i].lport == port)
			return (int)i;
	return -1;
}

/* Datagrams: route each record of i's tx ring (see the file comment). */
static bool dgram_move(struct app *a, uint32_t i)
{
	struct app_bring *tx = &a->socks[i].tx;
	uint32_t sz = a->buf_size, c = atomic_load_explicit(&tx->cons, memory_order_relaxed);
	uint32_t p = atomic_load_explicit(&tx->prod, memory_order_acquire);
	struct fsock *f = &a->fs[i];
	bool moved = false;

	for (int k = 0; k < 1024 && c != p; k++) {
		uint32_t off = c & (sz - 1), to_end = sz - off;
		struct app_dgram h;

		if (to_end < 16) {
			c += to_end;
			continue;
		}
		memcpy(&h, buf_of(a, i, 1) + off, sizeof(h));
		if (h.len == APP_DGRAM_PAD) {
			c += to_end;
			continue;
		}
		if (h.len > 65507 || ((16 + h.len + 7) & ~7u) > to_end) {
			st.bad++;
			c = p;
			break;
		}
		uint32_t dst = h.addr ? h.addr : f->paddr;
		uint16_t dport = h.addr ? h.port : f->pport;
		int d = udp_find_bound(a, dport);

		if (d >= 0)
			moved |= dgram_deliver(a, (uint32_t)d, f->laddr ? f->laddr : HOST_ADDR,
					       f->lport, buf_of(a, i, 1) + off + 16, h.len);
		else
			moved |= dgram_deliver(a, i, dst, dport, buf_of(a, i, 1) + off + 16, h.len);
		c += (16 + h.len + 7) & ~7u;
	}
	atomic_store_explicit(&tx->cons, c, memory_order_seq_cst);
	if (atomic_load_explicit(&tx->prod, memory_order_seq_cst) == c)
		f->tx_kick = false;
	return moved;
}

/* After i's tx is drained: a pending FIN reaches the destination as RDHUP. */
static void fin_deliver(struct app *a, uint32_t i)
{
	struct fsock *f = &a->fs[i];
	struct app *da;
	int d = dest_of(a, i, &da);

	if (!f->fin || f->fin_sent || f->tx_kick || d < 0)
		return;
	f->fin_sent = true;
	ev_set(da, (uint32_t)d, APP_EV_RDHUP);
}

/* ------------------------------------------------------------ commands */

static uint16_t ephemeral(void)
{
	if (next_port < 40000)
		next_port = 40000;
	return next_port++;
}

static bool port_in_use(struct app *a, int type, uint16_t port)
{
	for (uint32_t i = 0; i < a->nsocks; i++)
		if (a->fs[i].open && a->fs[i].bound && a->fs[i].type == type &&
		    a->fs[i].lport == port && (type == SOCK_DGRAM || a->fs[i].listening))
			return true;
	return false;
}

static void op_bind(struct app *a, const struct app_cmd *c, struct fsock *f)
{
	uint16_t port = c->port ? c->port : ephemeral();

	if (c->port && !(c->arg0 & APP_SO_REUSEADDR) && port_in_use(a, f->type, port)) {
		complete(a, c, -EADDRINUSE, 0, 0, 0);
		return;
	}
	f->bound = true;
	f->laddr = c->addr;
	f->lport = port;
	complete(a, c, 0, c->addr, port, 0);
}

static struct endp find_listener(uint16_t port)
{
	for (int k = 0; k < MAX_APPS; k++)
		for (uint32_t i = 0; apps[k].used && i < apps[k].nsocks; i++)
			if (apps[k].fs[i].open && apps[k].fs[i].listening && apps[k].fs[i].lport == port)
				return (struct endp){ &apps[k], (int)i };
	return (struct endp){ NULL, -1 };
}

static void op_connect_stream(struct app *a, const struct app_cmd *c, struct fsock *f)
{
	struct endp l = find_listener(c->port);
	struct fsock *lf = l.a ? &l.a->fs[l.i] : NULL;

	f->paddr = c->addr;
	f->pport = c->port;
	f->connect_at = now_ns() + (int64_t)o.connect_delay_ms * 1000000;
	f->connect_err = c->port == 9 ? ECONNREFUSED : 0;
	if (c->port == 1)
		f->connect_at = INT64_MAX;            /* never */
	if (lf && lf->nq < ACCEPTQ_MAX) {
		f->peer = PEER_PENDING;
		lf->acceptq[lf->nq++] = (struct endp){ a, (int)c->sock };
		ev_set(l.a, (uint32_t)l.i, APP_EV_ACCEPTQ);
	} else {
		f->peer = c->port == 9 || c->port == 1 ? PEER_NONE : PEER_ECHO;
	}
	complete(a, c, -EINPROGRESS, 0, 0, 0);
}

static void op_connect(struct app *a, const struct app_cmd *c, struct fsock *f)
{
	if ((c->addr >> 24) == 127 || (c->addr >> 16) == 0x0a63) {
		complete(a, c, -ENETUNREACH, 0, 0, 0);
		return;
	}
	if (!f->bound) {
		f->bound = true;
		f->laddr = HOST_ADDR;
		f->lport = ephemeral();
	}
	if (f->type == SOCK_DGRAM) {
		f->paddr = c->addr;
		f->pport = c->port;
		complete(a, c, 0, 0, 0, 0);
		return;
	}
	op_connect_stream(a, c, f);
}

static void op_accept(struct app *a, const struct app_cmd *c, struct fsock *l)
{
	uint32_t ns = (uint32_t)c->arg0;
	struct endp cl;
	struct fsock *cf;

	if (!l->listening || ns >= a->nsocks || a->fs[ns].open) {
		complete(a, c, l->listening ? -EINVAL : -EINVAL, 0, 0, 0);
		return;
	}
	if (l->nq == 0) {
		ev_clear(a, c->sock, APP_EV_ACCEPTQ);
		complete(a, c, -EAGAIN, 0, 0, 0);
		return;
	}
	cl = l->acceptq[0];
	cf = &cl.a->fs[cl.i];
	memmove(l->acceptq, l->acceptq + 1, --l->nq * sizeof(l->acceptq[0]));
	if (l->nq == 0)
		ev_clear(a, c->sock, APP_EV_ACCEPTQ);
	a->fs[ns] = (struct fsock){ .open = true, .bound = true, .type = SOCK_STREAM,
				    .laddr = HOST_ADDR, .lport = l->lport, .peer = cl.i,
				    .pa = cl.a, .paddr = cf->laddr, .pport = cf->lport };
	cf->peer = (int)ns;
	cf->pa = a;
	cf->tx_kick = true;                      /* bytes sent before the accept */
	ev_set(a, ns, APP_EV_CONNECTED);
	complete(a, c, 0, cf->laddr, cf->lport, 0);
}

/* The peer of (a, i) is gone: it reads EOF after what it has. */
static void peer_gone(struct app *a, int i)
{
	a->fs[i].peer_gone = true;
	a->fs[i].peer = PEER_NONE;
	ev_set(a, (uint32_t)i, APP_EV_RDHUP);
}

/* A listener closed with connections never accepted: they are reset. */
static void acceptq_reset(struct fsock *l)
{
	for (unsigned q = 0; l->listening && q < l->nq; q++) {
		struct endp e = l->acceptq[q];
		struct fsock *cf = &e.a->fs[e.i];

		cf->peer = PEER_NONE;
		if (cf->connect_at) {
			cf->connect_err = ECONNRESET;
		} else {
			atomic_store(&e.a->socks[e.i].error, -ECONNRESET);
			ev_set(e.a, (uint32_t)e.i, APP_EV_ERR | APP_EV_HUP);
		}
	}
}

static void op_close(struct app *a, const struct app_cmd *c, struct fsock *f)
{
	struct app *da;
	int d = dest_of(a, c->sock, &da);

	if (f->type == SOCK_STREAM && f->peer >= 0)
		stream_move(a, c->sock);              /* best effort: flush what fits */
	if (f->type == SOCK_STREAM && f->peer >= 0 && da->fs[d].open)
		peer_gone(da, d);
	acceptq_reset(f);
	*f = (struct fsock){ .peer = PEER_NONE };
	st.closes++;
	complete(a, c, 0, 0, 0, 0);
}

/* TCP_INFO, as netd answers it: the value in app_sock.optval, its length in
 * cpl.val. Made up, but every 32-bit word after the first 8 bytes holds one
 * number per call, so a reader whose copy mixed two answers can tell. */
static int64_t tcp_info_fill(struct app *a, uint32_t i, const struct fsock *f)
{
	static uint32_t calls;
	uint32_t w[sizeof(struct app_tcp_info) / 4];
	struct app_tcp_info ti;

	calls++;
	for (size_t k = 0; k < sizeof(w) / sizeof(w[0]); k++)
		w[k] = calls;
	memcpy(&ti, w, sizeof(ti));
	memset(&ti, 0, 8);
	ti.tcpi_state = f->peer == PEER_NONE ? TCP_CLOSE : TCP_ESTABLISHED;
	memcpy(a->socks[i].optval, &ti, sizeof(ti));
	return sizeof(ti);
}

static void op_getsockopt(struct app *a, const struct app_cmd *c, struct fsock *f)
{
	int32_t err;

	if (c->arg0 == IPPROTO_TCP && f->type != SOCK_STREAM) {
		complete(a, c, -EOPNOTSUPP, 0, 0, 0);
	} else if (c->arg0 == IPPROTO_TCP && c->arg1 == TCP_INFO) {
		complete(a, c, 0, 0, 0, tcp_info_fill(a, c->sock, f));
	} else if (c->arg0 == SOL_SOCKET && c->arg1 == SO_ERROR) {
		err = atomic_exchange(&a->socks[c->sock].error, 0);
		ev_clear(a, c->sock, APP_EV_ERR);
		complete(a, c, 0, 0, 0, -err);
	} else if (c->arg0 == IPPROTO_TCP && c->arg1 == TCP_MAXSEG) {
		complete(a, c, 0, 0, 0, 1460);
	} else if (c->arg0 == IPPROTO_TCP && c->arg1 == TCP_NODELAY) {
		complete(a, c, 0, 0, 0, f->nodelay);
	} else {
		complete(a, c, -ENOPROTOOPT, 0, 0, 0);
	}
}

static void op_setsockopt(struct app *a, const struct app_cmd *c, struct fsock *f)
{
	if (c->arg0 == IPPROTO_TCP && c->arg1 == TCP_CONGESTION) {
		char name[9] = { 0 };

		memcpy(name, &c->val, 8);
		complete(a, c, strcmp(name, "cubic") && strcmp(name, "reno") ? -ENOENT : 0, 0, 0, 0);
		return;
	}
	if (c->arg0 == IPPROTO_TCP && c->arg1 == TCP_NODELAY)
		f->nodelay = c->val;
	if (c->arg0 == SOL_SOCKET && c->arg1 == SO_KEEPALIVE)
		f->keepalive = c->val;
	complete(a, c, 0, 0, 0, 0);
}

static void op_getname(struct app *a, const struct app_cmd *c, struct fsock *f)
{
	if (c->arg0 == 0)
		complete(a, c, 0, f->laddr ? f->laddr : HOST_ADDR, f->lport, 0);
	else if (f->pport)
		complete(a, c, 0, f->paddr, f->pport, 0);
	else
		complete(a, c, -ENOTCONN, 0, 0, 0);
}

static void op_shutdown(struct app *a, const struct app_cmd *c, struct fsock *f)
{
	if (c->arg0 == SHUT_WR || c->arg0 == SHUT_RDWR) {
		f->fin = true;
		f->tx_kick = true;
	}
	complete(a, c, 0, 0, 0, 0);
}

/* RX_DONE on (a, d): whoever was blocked on that rx ring may go on. */
static void op_rx_done(struct app *a, uint32_t d)
{
	struct app *da;

	st.rx_done++;
	for (int k = 0; k < MAX_APPS; k++)
		for (uint32_t i = 0; apps[k].used && i < apps[k].nsocks; i++)
			if (apps[k].fs[i].open && dest_of(&apps[k], i, &da) == (int)d && da == a)
				apps[k].fs[i].blocked = false;
}

static void cmd_handle(struct app *a, const struct app_cmd *c)
{
	struct fsock *f;

	st.cmds++;
	if (c->sock >= a->nsocks) {
		st.bad++;
		if (c->op != APP_OP_TX && c->op != APP_OP_RX_DONE)
			complete(a, c, -EBADF, 0, 0, 0);
		return;
	}
	f = &a->fs[c->sock];
	switch (c->op) {
	case APP_OP_SOCKET:
		*f = (struct fsock){ .open = true, .type = c->arg0, .peer = PEER_NONE };
		complete(a, c, 0, 0, 0, 0);
		break;
	case APP_OP_BIND:       op_bind(a, c, f); break;
	case APP_OP_LISTEN:     f->listening = true; complete(a, c, 0, 0, 0, 0); break;
	case APP_OP_ACCEPT:     op_accept(a, c, f); break;
	case APP_OP_CONNECT:    op_connect(a, c, f); break;
	case APP_OP_SHUTDOWN:   op_shutdown(a, c, f); break;
	case APP_OP_CLOSE:      op_close(a, c, f); break;
	case APP_OP_SETSOCKOPT: op_setsockopt(a, c, f); break;
	case APP_OP_GETSOCKOPT: op_getsockopt(a, c, f); break;
	case APP_OP_GETNAME:    op_getname(a, c, f); break;
	case APP_OP_TX:         st.tx_notes++; f->tx_kick = true; break;
	case APP_OP_RX_DONE:    op_rx_done(a, c->sock); break;
	default:                st.bad++; complete(a, c, -EINVAL, 0, 0, 0); break;
	}
}

/* ------------------------------------------------------------ serving an app */

static void timers_run(struct app *a, int64_t now)
{
	for (uint32_t i = 0; i < a->nsocks; i++) {
		struct fsock *f = &a->fs[i];

		if (!f->open || !f->connect_at || f->connect_at > now)
			continue;
		f->connect_at = 0;
		if (f->connect_err) {
			atomic_store(&a->socks[i].error, -f->connect_err);
			ev_set(a, i, APP_EV_ERR | APP_EV_HUP);
		} else {
			ev_set(a, i, APP_EV_CONNECTED);
		}
	}
}

/* One pass over the app: commands, timers, data. Returns true if it did work. */
static bool app_serve(struct app *a, int64_t now)
{
	struct app_cmd burst[BURST];
	bool work = false;
	unsigned n;

	while ((n = ring_dequeue_burst_elem(&a->cmd, burst, sizeof(burst[0]), BURST)) > 0) {
		for (unsigned i = 0; i < n; i++)
			cmd_handle(a, &burst[i]);
		work = true;
	}
	timers_run(a, now);
	for (uint32_t i = 0; i < a->nsocks; i++) {
		struct fsock *f = &a->fs[i];

		if (!f->open || !f->tx_kick || f->blocked)
			continue;
		work |= f->type == SOCK_STREAM ? stream_move(a, i) : dgram_move(a, i);
		fin_deliver(a, i);
	}
	return work;
}

/* Ring every app something changed for (bytes or bits: maybe from another
 * app's socket), as netd does after a pass. */
static void apps_wake(void)
{
	for (int k = 0; k < MAX_APPS; k++) {
		struct app *a = &apps[k];

		if (!a->used || !a->dirty)
			continue;
		a->dirty = false;
		if (doorbell_ring_eventfd(&a->ctl->wake, a->efd) > 0)
			st.wakes++;
	}
}

/* ------------------------------------------------------------ admission (sockd's part) */

static size_t app_region_size(void)
{
	return 4 * REGION_ALIGN + 2 * ring_bytes(APP_CMD_RING, 64) +
	       (size_t)o.nsocks * sizeof(struct app_sock) +
	       2 * (size_t)o.nsocks * o.buf_size + 4 * REGION_ALIGN;
}

static int app_region_build(struct app *a)
{
	struct region_opts ro = { .name = "fake-app", .kind = REGION_KIND_APP,
				  .layout_version = APP_LAYOUT_VERSION,
				  .size = app_region_size(), .flags = REGION_F_NO_NUMA };
	void *cmd, *cpl;
	int err = region_create(&a->region, &ro);

	if (err < 0)
		return err;
	a->ctl = region_carve(&a->region, APP_AREA_CTL, sizeof(struct app_ctl), 64);
	cmd = region_carve(&a->region, APP_AREA_CMD, ring_bytes(APP_CMD_RING, 64), 64);
	cpl = region_carve(&a->region, APP_AREA_CPL, ring_bytes(APP_CPL_RING, 64), 64);
	a->socks = region_carve(&a->region, APP_AREA_SOCKS, o.nsocks * sizeof(struct app_sock), 64);
	a->bufs = region_carve(&a->region, APP_AREA_BUFS, 2 * (size_t)o.nsocks * o.buf_size, 4096);
	if (!a->ctl || !cmd || !cpl || !a->socks || !a->bufs)
		return -ENOSPC;
	ring_init(cmd, APP_CMD_RING, 64);
	ring_init(cpl, APP_CPL_RING, 64);
	doorbell_init(&a->ctl->wake);
	doorbell_init(&a->ctl->netd);
	a->ctl->magic = APP_CTL_MAGIC;
	a->ctl->version = APP_LAYOUT_VERSION;
	a->ctl->app_id = (uint32_t)st.apps + 1;
	a->ctl->nsocks = o.nsocks;
	a->ctl->buf_size = o.buf_size;
	a->ctl->flags = APP_F_BIND_PRIV;
	a->nsocks = o.nsocks;
	a->buf_size = o.buf_size;
	if (ring_cons_attach(&a->cmd, cmd, ring_bytes(APP_CMD_RING, 64), APP_CMD_RING, 64) < 0 ||
	    ring_prod_attach(&a->cpl, cpl, ring_bytes(APP_CPL_RING, 64), APP_CPL_RING, 64) < 0)
		return -EPROTO;
	a->fs = calloc(o.nsocks, sizeof(*a->fs));
	return a->fs ? 0 : -ENOMEM;
}

/* The welcome: the region and both ends of the wake pipe (shm/app_layout.h). */
static int welcome_send(int conn, const struct app_welcome *w, int rfd, int wake_r, int wake_w)
{
	union { char buf[CMSG_SPACE(sizeof(int) * APP_WELCOME_NFDS)]; struct cmsghdr a; } u;
	struct iovec iov = { (void *)w, sizeof(*w) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	int fds[APP_WELCOME_NFDS] = { rfd, wake_r, wake_w };

	if (rfd >= 0) {
		m.msg_control = u.buf;
		m.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(fds));
		memcpy(CMSG_DATA(c), fds, sizeof(fds));
	}
	return sendmsg(conn, &m, MSG_NOSIGNAL) == (ssize_t)sizeof(*w) ? 0 : -errno;
}

/* Other apps' sockets joined to a's: their peer is gone (before a's memory is). */
static void app_unlink(struct app *a)
{
	for (int k = 0; k < MAX_APPS; k++) {
		struct app *o2 = &apps[k];

		for (uint32_t i = 0; o2->used && o2 != a && i < o2->nsocks; i++) {
			struct fsock *f = &o2->fs[i];

			if (f->open && f->peer >= 0 && f->pa == a)
				peer_gone(o2, (int)i);
			for (unsigned q = 0; q < f->nq; q++)
				if (f->acceptq[q].a == a) {
					f->acceptq[q--] = f->acceptq[--f->nq];
				}
		}
	}
}

static void app_drop(struct app *a)
{
	if (a->fs)
		app_unlink(a);
	region_close(&a->region);
	if (a->efd >= 0)
		close(a->efd);
	if (a->conn >= 0)
		close(a->conn);
	free(a->fs);
	*a = (struct app){ .conn = -1, .efd = -1 };
}

static void app_admit(int conn)
{
	struct app_welcome w = { .magic = APP_WELCOME_MAGIC, .version = APP_HELLO_VERSION,
				 .layout_version = APP_LAYOUT_VERSION };
	struct app_hello h;
	struct app *a = NULL;

	for (int i = 0; i < MAX_APPS && !a; i++)
		if (!apps[i].used)
			a = &apps[i];
	if (recv(conn, &h, sizeof(h), 0) != sizeof(h) || h.magic != APP_HELLO_MAGIC ||
	    h.layout_version != APP_LAYOUT_VERSION || !a) {
		w.status = !a ? -EUSERS : -EPROTO;
		welcome_send(conn, &w, -1, -1, -1);
		close(conn);
		return;
	}
	int wake[2] = { -1, -1 };

	*a = (struct app){ .used = true, .conn = conn, .efd = -1 };
	if (pipe2(wake, O_NONBLOCK | O_CLOEXEC) < 0 || app_region_build(a) < 0) {
		if (wake[0] >= 0) {
			close(wake[0]);
			close(wake[1]);
		}
		app_drop(a);
		return;
	}
	a->efd = wake[1];            /* the fake rings the app through the write end */
	w.app_id = a->ctl->app_id;
	w.region_size = a->region.size;
	if (welcome_send(conn, &w, a->region.fd, wake[0], wake[1]) < 0) {
		close(wake[0]);
		app_drop(a);
		return;
	}
	close(wake[0]);
	st.apps++;
}

/* ------------------------------------------------------------ the loop */

static int listen_sock(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", o.run_dir, APP_SOCK_FILE);
	unlink(sa.sun_path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		perror("fake_netd_cmds: listen");
		exit(1);
	}
	return fd;
}

/* New apps, and apps whose connection closed (the app exited). */
static void control_poll(int lfd)
{
	int conn;

	while ((conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		app_admit(conn);
	for (int i = 0; i < MAX_APPS; i++) {
		struct pollfd p = { .fd = apps[i].conn, .events = POLLIN };

		if (apps[i].used && poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLIN | POLLERR)))
			app_drop(&apps[i]);
	}
}

/* Sleep on every app's netd doorbell (as netd does), at most max_ns. */
static void sleep_apps(int64_t max_ns)
{
	struct doorbell *dbs[MAX_APPS];
	uint32_t tokens[MAX_APPS];
	unsigned n = 0;
	bool work = false;

	for (int i = 0; i < MAX_APPS; i++) {
		if (!apps[i].used)
			continue;
		dbs[n] = &apps[i].ctl->netd;
		tokens[n++] = doorbell_prepare_wait(&apps[i].ctl->netd);
		work |= ring_cons_count(&apps[i].cmd) > 0;
	}
	if (n == 0) {
		usleep((useconds_t)(max_ns / 1000));
		return;
	}
	if (work) {
		for (unsigned i = 0; i < n; i++)
			doorbell_cancel_wait(dbs[i], tokens[i]);
		return;
	}
	doorbell_wait_many(dbs, tokens, n, max_ns);
}

static int64_t next_timer(int64_t now)
{
	int64_t t = now + 10000000;     /* 10 ms: new apps and exits are seen this often */

	for (int i = 0; i < MAX_APPS; i++)
		for (uint32_t s = 0; apps[i].used && s < apps[i].nsocks; s++)
			if (apps[i].fs[s].open && apps[i].fs[s].connect_at &&
			    apps[i].fs[s].connect_at < t)
				t = apps[i].fs[s].connect_at;
	return t;
}

static bool pending_moves(void)
{
	for (int i = 0; i < MAX_APPS; i++)
		for (uint32_t s = 0; apps[i].used && s < apps[i].nsocks; s++)
			if (apps[i].fs[s].open && apps[i].fs[s].tx_kick && !apps[i].fs[s].blocked)
				return true;
	return false;
}

static void run(int lfd)
{
	int64_t end = now_ns() + (int64_t)(o.seconds * 1e9), last_ctl = 0;

	while (!stop && now_ns() < end) {
		int64_t now = now_ns();
		bool work = false;

		if (now - last_ctl > 10000000) {
			control_poll(lfd);
			last_ctl = now;
		}
		for (int i = 0; i < MAX_APPS; i++)
			if (apps[i].used)
				work |= app_serve(&apps[i], now);
		apps_wake();
		if (!work && !pending_moves()) {
			int64_t t = next_timer(now) - now_ns();

			sleep_apps(t > 0 ? t : 0);
		}
	}
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: fake_netd_cmds --run-dir D [--seconds S] [--nsocks N] "
			"[--buf-size B] [--connect-delay-ms M]\n");
	exit(2);
}

static void parse(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "run-dir", required_argument, 0, 'r' }, { "seconds", required_argument, 0, 's' },
		{ "nsocks", required_argument, 0, 'n' }, { "buf-size", required_argument, 0, 'b' },
		{ "connect-delay-ms", required_argument, 0, 'd' }, { 0, 0, 0, 0 } };
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'r': o.run_dir = optarg; break;
		case 's': o.seconds = atof(optarg); break;
		case 'n': o.nsocks = (uint32_t)atoi(optarg); break;
		case 'b': o.buf_size = (uint32_t)atoi(optarg); break;
		case 'd': o.connect_delay_ms = atoi(optarg); break;
		default: usage();
		}
	}
	if (!o.run_dir || o.nsocks == 0 || o.nsocks > APP_SOCKS_MAX || o.buf_size < 4096 ||
	    (o.buf_size & (o.buf_size - 1)))
		usage();
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	int lfd;

	parse(argc, argv);
	for (int i = 0; i < MAX_APPS; i++)
		apps[i] = (struct app){ .conn = -1, .efd = -1 };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	lfd = listen_sock();
	printf("fake_netd_cmds: ready\n");
	fflush(stdout);
	run(lfd);
	for (int i = 0; i < MAX_APPS; i++)
		if (apps[i].used)
			app_drop(&apps[i]);
	close(lfd);
	printf("fake_netd_cmds: apps=%llu cmds=%llu tx_notes=%llu rx_done=%llu closes=%llu "
	       "wakes=%llu udp_drops=%llu bad=%llu\n",
	       (unsigned long long)st.apps, (unsigned long long)st.cmds,
	       (unsigned long long)st.tx_notes, (unsigned long long)st.rx_done,
	       (unsigned long long)st.closes, (unsigned long long)st.wakes,
	       (unsigned long long)st.udp_drops, (unsigned long long)st.bad);
	return 0;
}
