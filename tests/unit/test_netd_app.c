/* tests/unit/test_netd_app.c — netd's application side (netd/app*.c,
 * netd/sockd_link.c) driven from both ends:
 *
 *     the test as libsock --region (made here as sockd makes it)--> netd_apps
 *     netd_apps --stack A (TCP attached)== back to back ==stack B--> the test as peer
 *
 * The module's files are compiled into this test (netd/ is not a library),
 * and netd_apps is set up without its link thread except in the test of
 * the link itself, which plays sockd on a Unix socket in a temporary run
 * directory. Every test ends with no packet buffer leaked.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "netd/app.c"
#include "netd/app_cmd.c"
#include "netd/app_data.c"
#include "netd/app_share.c"
#include "netd/app_sock.c"
#include "netd/app_tcpinfo.c"
#include "netd/sockd_link.c"
#include "tests/support/pkb_fixture.h"

#define NOW0     1000000000000ull
#define A_IP     0x0a000002u       /* 10.0.0.2: netd's stack */
#define B_IP     0x0a000003u       /* 10.0.0.3: the peer */
#define FAR_IP   0x08080808u       /* no route (no gateway configured) */
#define NSOCKS   16u
#define BUFSZ    8192u
#define APP_ID   7u

void netd_log(int prio, const char *fmt, ...)
{
	(void)prio;
	(void)fmt;
}

struct side {
	struct stack stk;
	void *tcp_mem;
};

/* One application: its region and its (libsock's) views. */
struct tapp {
	struct ring_prod cmd;
	struct ring_cons cpl;
	struct region reg;
	struct app_ctl *ctl;
	struct app_sock *socks;
	uint8_t *bufs;
	int wake_efd;
	uint32_t seq, app_id;
	unsigned ncpl;
	struct app_cpl cpls[32];       /* completions not yet claimed by a caller */
};

struct fx {
	struct tapp app[2];
	struct pkb_fixture pf;
	struct side a, b;
	struct netd_apps na;
	uint64_t now;
	uint8_t peer_dgram[2048];     /* the peer's last datagram */
	uint32_t peer_dgram_len;
	uint16_t peer_dgram_sport;
};

/* ------------------------------------------------------------ the region */

static size_t up(size_t v)
{
	return (v + REGION_ALIGN - 1) / REGION_ALIGN * REGION_ALIGN;
}

/* The carving sockd does (sockd/app_region.c): ctl, cmd, cpl, socks, bufs. */
static void region_make(struct tapp *t, uint32_t app_id, unsigned flags)
{
	size_t cmd = ring_bytes(APP_CMD_RING, 64), cpl = ring_bytes(APP_CPL_RING, 64);
	size_t socks = NSOCKS * sizeof(struct app_sock), bufs = (size_t)NSOCKS * 2 * BUFSZ;
	struct region_opts o = { .name = "test-app", .kind = REGION_KIND_APP, .flags = flags,
				 .layout_version = APP_LAYOUT_VERSION };
	void *c, *p;

	o.size = REGION_ALIGN + up(sizeof(struct app_ctl)) + up(cmd) + up(cpl) + up(socks) + up(bufs);
	assert_int_equal(region_create(&t->reg, &o), 0);
	t->ctl = region_carve(&t->reg, APP_AREA_CTL, sizeof(struct app_ctl), REGION_ALIGN);
	c = region_carve(&t->reg, APP_AREA_CMD, cmd, REGION_ALIGN);
	p = region_carve(&t->reg, APP_AREA_CPL, cpl, REGION_ALIGN);
	t->socks = region_carve(&t->reg, APP_AREA_SOCKS, socks, REGION_ALIGN);
	t->bufs = region_carve(&t->reg, APP_AREA_BUFS, bufs, REGION_ALIGN);
	assert_true(t->ctl && c && p && t->socks && t->bufs);
	assert_int_equal(ring_init(c, APP_CMD_RING, 64), 0);
	assert_int_equal(ring_init(p, APP_CPL_RING, 64), 0);
	doorbell_init(&t->ctl->wake);
	doorbell_init(&t->ctl->netd);
	t->ctl->magic = APP_CTL_MAGIC;
	assert_int_equal(ring_prod_attach(&t->cmd, c, cmd, APP_CMD_RING, 64), 0);
	assert_int_equal(ring_cons_attach(&t->cpl, p, cpl, APP_CPL_RING, 64), 0);
	t->wake_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(t->wake_efd >= 0);
	t->app_id = app_id;
}

static struct app_attach attach_msg(const struct tapp *t)
{
	return (struct app_attach){ .magic = APP_ATTACH_MAGIC, .app_id = t->app_id, .pid = 42,
				    .uid = 1000, .nsocks = NSOCKS, .buf_size = BUFSZ,
				    .region_size = t->reg.size };
}

/* Hand the region to netd as the link thread does on an attach. */
static void attach_with(struct fx *fx, struct tapp *t, struct app_attach m)
{
	int fds[2] = { dup(t->reg.fd), dup(t->wake_efd) };

	link_attach(fx->na.s, &m, fds, 2);
	netd_apps_poll(&fx->na, 64, fx->now);
}

static void attach(struct fx *fx, struct tapp *t, uint32_t flags)
{
	struct app_attach m = attach_msg(t);

	m.flags = flags;
	attach_with(fx, t, m);
	assert_int_equal(fx->na.s->nlive, t == &fx->app[0] ? 1 : 2);
}

/* ---------------------------------------------------------- the fixture */

static void side_init(struct fx *fx, struct side *s, uint32_t ip, uint8_t last)
{
	struct stack_config cfg = { .mac = { 0x02, 0, 0, 0, 0, last }, .addr = ip,
				    .prefix_len = 24, .mtu = 1500, .secret = { last, 7 } };
	struct tcp_config tc;
	size_t bytes;

	assert_int_equal(stack_init(&s->stk, &cfg, &fx->pf.cache, fx->now), 0);
	tcp_config_default(&tc);
	tc.max_conns = 64;
	tc.sndbuf = tc.rcvbuf = 1 << 15;
	bytes = tcp_stack_bytes(&tc);
	s->tcp_mem = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
	assert_non_null(s->tcp_mem);
	stack_attach_tcp(&s->stk, tcp_stack_format(s->tcp_mem, bytes, &tc, fx->now));
	assert_non_null(s->stk.tcp);
}

static int setup(void **state)
{
	struct fx *fx = aligned_alloc(128, (sizeof(struct fx) + 127) & ~(size_t)127);

	if (!fx)
		return -1;
	memset(fx, 0, sizeof(*fx));
	if (pkb_fixture_init(&fx->pf, 2048, 0) != 0)
		return -1;
	fx->now = NOW0;
	side_init(fx, &fx->a, A_IP, 1);
	side_init(fx, &fx->b, B_IP, 2);
	if (apps_state_new(&fx->na.s, &fx->a.stk, "/nonexistent") != 0)
		return -1;
	region_make(&fx->app[0], APP_ID, 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	uint32_t leaks;

	netd_apps_fini(&fx->na);
	stack_flush(&fx->a.stk);
	stack_flush(&fx->b.stk);
	leaks = pkb_fixture_leaks(&fx->pf);
	for (int i = 0; i < 2; i++) {
		region_close(&fx->app[i].reg);
		if (fx->app[i].wake_efd > 0)
			close(fx->app[i].wake_efd);
	}
	free(fx->a.tcp_mem);
	free(fx->b.tcp_mem);
	pkb_fixture_fini(&fx->pf);
	free(fx);
	assert_int_equal(leaks, 0);
	return 0;
}

/* ------------------------------------------------------------ the wire */

static void forward_events(struct fx *fx)
{
	struct stack_evq *q = &fx->a.stk.evq;
	struct stack_event ev[STACK_EVQ_MAX];
	uint32_t n = q->n;

	memcpy(ev, q->ev, n * sizeof(ev[0]));
	q->n = 0;
	for (uint32_t i = 0; i < n; i++)
		netd_apps_event(&fx->na, &ev[i], fx->now);
}

/* The peer keeps its last datagram; TCP events it does not need. */
static void peer_events(struct fx *fx)
{
	struct stack_evq *q = &fx->b.stk.evq;

	for (uint32_t i = 0; i < q->n; i++) {
		struct pkb *b = q->ev[i].pkb;

		if (q->ev[i].type == STACK_EV_UDP_RX && b && b->pkt_len <= sizeof(fx->peer_dgram)) {
			fx->peer_dgram_len = b->pkt_len;
			fx->peer_dgram_sport = q->ev[i].rport;
			pkb_copy_out(b, 0, b->pkt_len, fx->peer_dgram);
		}
		pkb_free(&fx->pf.cache, b);
	}
	q->n = 0;
}

static unsigned exchange(struct fx *fx)
{
	unsigned moved = 0;

	for (int dir = 0; dir < 2; dir++) {
		struct stack *from = dir ? &fx->b.stk : &fx->a.stk;
		struct stack *to = dir ? &fx->a.stk : &fx->b.stk;
		struct pkb *q[STACK_TXQ_MAX];
		uint32_t n = from->txq.n;

		memcpy(q, from->txq.pkb, n * sizeof(q[0]));
		from->txq.n = 0;
		for (uint32_t i = 0; i < n; i++)
			stack_input(to, q[i], fx->now);
		moved += n + stack_poll_loopback(from, STACK_LOOP_MAX, fx->now);
	}
	return moved;
}

/* One engine pass and one trip over the wire; 1 ms goes by. */
static unsigned pump(struct fx *fx)
{
	unsigned work = netd_apps_poll(&fx->na, 256, fx->now);

	forward_events(fx);
	work += exchange(fx);
	forward_events(fx);
	peer_events(fx);
	fx->now += 1000000;
	for (int i = 0; i < 2; i++) {
		struct stack *s = i ? &fx->b.stk : &fx->a.stk;

		if (fx->now >= stack_next_deadline(s))
			stack_timers(s, fx->now);
	}
	return work;
}

/* Pump until nothing moved for 60 ms (delayed ACKs are 40). Bounded. */
static void settle(struct fx *fx)
{
	for (int round = 0, quiet = 0; round < 2000 && quiet < 60; round++)
		quiet = pump(fx) || netd_apps_busy(&fx->na) ? 0 : quiet + 1;
}

/* ---------------------------------------------------- the test as libsock */

static uint32_t post(struct tapp *t, struct app_cmd c)
{
	c.seq = ++t->seq;
	assert_int_equal(ring_enqueue_bulk_elem(&t->cmd, &c, sizeof(c), 1), 1);
	return c.seq;
}

static void collect(struct tapp *t)
{
	struct app_cpl c;

	while (t->ncpl < 32 && ring_dequeue_burst_elem(&t->cpl, &c, sizeof(c), 1) == 1)
		t->cpls[t->ncpl++] = c;
}

/* The completion of seq if it came (removed from the list). */
static bool take_cpl(struct tapp *t, uint32_t seq, struct app_cpl *out)
{
	collect(t);
	for (unsigned i = 0; i < t->ncpl; i++) {
		if (t->cpls[i].seq == seq) {
			*out = t->cpls[i];
			t->cpls[i] = t->cpls[--t->ncpl];
			return true;
		}
	}
	return false;
}

static struct app_cpl call_on(struct fx *fx, struct tapp *t, struct app_cmd c)
{
	uint32_t seq = post(t, c);
	struct app_cpl out;

	for (int i = 0; i < 100; i++) {
		pump(fx);
		if (take_cpl(t, seq, &out))
			return out;
	}
	fail_msg("no completion for op %u", c.op);
	return out;
}

static struct app_cpl call(struct fx *fx, struct app_cmd c)
{
	return call_on(fx, &fx->app[0], c);
}

static int res(struct fx *fx, struct app_cmd c)
{
	return call(fx, c).result;
}

static uint32_t ev_of(struct tapp *t, uint32_t s)
{
	return atomic_load_explicit(&t->socks[s].events, memory_order_acquire);
}

static uint8_t *tbuf(struct tapp *t, uint32_t s, int tx)
{
	return t->bufs + app_buf_off(s, BUFSZ, tx);
}

/* Write up to len bytes into the tx ring; tell netd. Returns bytes written. */
static uint32_t app_write(struct tapp *t, uint32_t s, const uint8_t *src, uint32_t len)
{
	struct app_bring *r = &t->socks[s].tx;
	uint32_t prod = atomic_load(&r->prod), room = BUFSZ - (prod - atomic_load(&r->cons));
	uint32_t n = len < room ? len : room;

	for (uint32_t k = 0; k < n; k++)
		tbuf(t, s, 1)[(prod + k) & (BUFSZ - 1)] = src[k];
	atomic_store_explicit(&r->prod, prod + n, memory_order_release);
	if (n)
		post(t, (struct app_cmd){ .op = APP_OP_TX, .sock = s });
	return n;
}

/* Read up to len bytes from the rx ring; tell netd. */
static uint32_t app_read(struct tapp *t, uint32_t s, uint8_t *dst, uint32_t len)
{
	struct app_bring *r = &t->socks[s].rx;
	uint32_t cons = atomic_load(&r->cons);
	uint32_t avail = atomic_load_explicit(&r->prod, memory_order_acquire) - cons;
	uint32_t n = len < avail ? len : avail;

	for (uint32_t k = 0; k < n; k++)
		dst[k] = tbuf(t, s, 0)[(cons + k) & (BUFSZ - 1)];
	atomic_store_explicit(&r->cons, cons + n, memory_order_release);
	if (n)
		post(t, (struct app_cmd){ .op = APP_OP_RX_DONE, .sock = s });
	return n;
}

/* A UDP record into the tx ring (padding first if it would wrap). */
static void app_sendto(struct tapp *t, uint32_t s, uint32_t addr, uint16_t port,
		       const void *data, uint32_t len)
{
	struct app_bring *r = &t->socks[s].tx;
	uint32_t prod = atomic_load(&r->prod), off = prod & (BUFSZ - 1);
	uint32_t rec = (16 + len + 7) & ~7u;
	struct app_dgram h = { .len = len, .addr = addr, .port = port };

	if (off + rec > BUFSZ) {
		uint32_t pad = APP_DGRAM_PAD;

		memcpy(tbuf(t, s, 1) + off, &pad, 4);
		prod += BUFSZ - off;
		off = 0;
	}
	memcpy(tbuf(t, s, 1) + off, &h, sizeof(h));
	memcpy(tbuf(t, s, 1) + off + sizeof(h), data, len);
	atomic_store_explicit(&r->prod, prod + rec, memory_order_release);
	post(t, (struct app_cmd){ .op = APP_OP_TX, .sock = s });
}

/* The next UDP record of the rx ring: its header, payload into dst. */
static bool app_recvfrom(struct tapp *t, uint32_t s, struct app_dgram *h, void *dst)
{
	struct app_bring *r = &t->socks[s].rx;
	uint32_t cons = atomic_load(&r->cons);

	for (int k = 0; k < 2; k++) {
		uint32_t off = cons & (BUFSZ - 1);

		if (atomic_load_explicit(&r->prod, memory_order_acquire) == cons)
			return false;
		memcpy(&h->len, tbuf(t, s, 0) + off, 4);
		if (h->len == APP_DGRAM_PAD) {
			cons += BUFSZ - off;
			continue;
		}
		memcpy(h, tbuf(t, s, 0) + off, sizeof(*h));
		memcpy(dst, tbuf(t, s, 0) + off + sizeof(*h), h->len);
		atomic_store_explicit(&r->cons, cons + ((16 + h->len + 7) & ~7u), memory_order_release);
		return true;
	}
	return false;
}

static uint64_t ctr(struct fx *fx, enum netd_app_counter c)
{
	uint64_t v[NETD_APP_CTR_NR];

	netd_apps_stats(&fx->na, v);
	return v[c];
}

#define CMD(...) ((struct app_cmd){ __VA_ARGS__ })

static uint32_t tcp_socket(struct fx *fx, uint32_t s)
{
	assert_int_equal(res(fx, CMD(.op = APP_OP_SOCKET, .sock = s, .arg0 = SOCK_STREAM)), 0);
	return s;
}

/* App socket s connected to a listener on the peer; *peer_conn its peer. */
static void connect_to_peer(struct fx *fx, uint32_t s, uint16_t port, int *peer_conn)
{
	struct tcp_stack *bt = fx->b.stk.tcp;
	int l = tcp_listen(bt, &fx->b.stk.tcp_env, 0, port, 8, 0);

	assert_true(l >= 0);
	tcp_socket(fx, s);
	assert_int_equal(res(fx, CMD(.op = APP_OP_SETSOCKOPT, .sock = s, .arg0 = IPPROTO_TCP,
				      .arg1 = TCP_NODELAY, .val = 1)), 0);
	assert_int_equal(res(fx, CMD(.op = APP_OP_CONNECT, .sock = s, .addr = B_IP, .port = port)),
			 -EINPROGRESS);
	settle(fx);
	assert_true(ev_of(&fx->app[0], s) & APP_EV_CONNECTED);
	*peer_conn = tcp_accept(bt, &fx->b.stk.tcp_env, (uint32_t)l, NULL);
	assert_true(*peer_conn >= 0);
}

/* Everything the peer can read on conn, up to len. */
static uint32_t peer_read_all(struct fx *fx, int conn, uint8_t *dst, uint32_t len)
{
	uint32_t got = 0;

	for (int i = 0; i < 400 && got < len; i++) {
		int r = tcp_recv(fx->b.stk.tcp, &fx->b.stk.tcp_env, (uint32_t)conn, dst + got,
				 len - got, 0, fx->now);

		if (r > 0)
			got += (uint32_t)r;
		else if (r == 0)
			break;
		pump(fx);
	}
	return got;
}

/* ------------------------------------------------------------------ TCP */

static void test_tcp_connect_send_peer_receives(void **state)
{
	struct fx *fx = *state;
	uint8_t msg[3000], got[3000];
	int pc;
	struct app_cpl c;

	for (unsigned i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7);
	attach(fx, &fx->app[0], 0);
	connect_to_peer(fx, 0, 80, &pc);
	assert_int_equal(app_write(&fx->app[0], 0, msg, sizeof(msg)), sizeof(msg));
	settle(fx);
	assert_int_equal(peer_read_all(fx, pc, got, sizeof(got)), sizeof(msg));
	assert_memory_equal(got, msg, sizeof(msg));
	c = call(fx, CMD(.op = APP_OP_GETNAME, .sock = 0, .arg0 = 1));
	assert_int_equal(c.result, 0);
	assert_int_equal(c.addr, B_IP);
	assert_int_equal(c.port, 80);
	c = call(fx, CMD(.op = APP_OP_GETNAME, .sock = 0, .arg0 = 0));
	assert_int_equal(c.addr, A_IP);
	assert_true(c.port >= UDP_EPHEMERAL_LO);
	assert_int_equal(ctr(fx, NETD_APP_TCP_TX_BYTES), sizeof(msg));
	/* the option set before the conn existed reached it */
	c = call(fx, CMD(.op = APP_OP_GETSOCKOPT, .sock = 0, .arg0 = IPPROTO_TCP, .arg1 = TCP_NODELAY));
	assert_int_equal(c.val, 1);
}

static void test_tcp_peer_sends_rx_ring_backpressure_then_eof(void **state)
{
	struct fx *fx = *state;
	static uint8_t msg[40000], got[40000];
	uint32_t sent = 0, have = 0;
	int pc;

	for (unsigned i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 13 + 1);
	attach(fx, &fx->app[0], 0);
	connect_to_peer(fx, 0, 80, &pc);
	/* more than the 8 KiB rx ring and TCP's 32 KiB buffer: the peer's
	 * window must close and reopen as the app reads */
	for (int round = 0; round < 2000 && have < sizeof(msg); round++) {
		if (sent < sizeof(msg)) {
			int r = tcp_send(fx->b.stk.tcp, &fx->b.stk.tcp_env, (uint32_t)pc, msg + sent,
					 sizeof(msg) - sent, 0, fx->now);
			sent += r > 0 ? (uint32_t)r : 0;
		}
		pump(fx);
		if (round % 3 == 0)            /* a slow reader */
			have += app_read(&fx->app[0], 0, got + have, 1500);
	}
	assert_int_equal(have, sizeof(msg));
	assert_memory_equal(got, msg, sizeof(msg));
	assert_false(ev_of(&fx->app[0], 0) & APP_EV_RDHUP);
	tcp_shutdown(fx->b.stk.tcp, &fx->b.stk.tcp_env, (uint32_t)pc, TCP_SHUT_WR, fx->now);
	settle(fx);
	assert_true(ev_of(&fx->app[0], 0) & APP_EV_RDHUP);
	assert_false(ev_of(&fx->app[0], 0) & APP_EV_HUP);
	/* our own FIN after the peer's: both ways closed */
	assert_int_equal(res(fx, CMD(.op = APP_OP_SHUTDOWN, .sock = 0, .arg0 = SHUT_WR)), 0);
	settle(fx);
	assert_true(ev_of(&fx->app[0], 0) & APP_EV_HUP);
	assert_int_equal(tcp_recv(fx->b.stk.tcp, &fx->b.stk.tcp_env, (uint32_t)pc, got, 1, 0,
				  fx->now), 0);
}

static void test_tcp_listen_accept_and_graceful_close(void **state)
{
	struct fx *fx = *state;
	struct tcp_stack *bt = fx->b.stk.tcp;
	struct app_cpl c;
	uint8_t got[16];
	int pc;

	attach(fx, &fx->app[0], 0);
	tcp_socket(fx, 3);
	c = call(fx, CMD(.op = APP_OP_BIND, .sock = 3, .port = 8080, .arg0 = APP_SO_REUSEADDR));
	assert_int_equal(c.result, 0);
	assert_int_equal(c.port, 8080);
	assert_int_equal(res(fx, CMD(.op = APP_OP_LISTEN, .sock = 3, .arg0 = 16)), 0);
	assert_int_equal(res(fx, CMD(.op = APP_OP_ACCEPT, .sock = 3, .arg0 = 4)), -EAGAIN);
	pc = tcp_connect(bt, &fx->b.stk.tcp_env, B_IP, 0, A_IP, 8080, fx->now);
	assert_true(pc >= 0);
	settle(fx);
	assert_true(ev_of(&fx->app[0], 3) & APP_EV_ACCEPTQ);
	tcp_send(bt, &fx->b.stk.tcp_env, (uint32_t)pc, "early", 5, 0, fx->now);
	settle(fx);
	c = call(fx, CMD(.op = APP_OP_ACCEPT, .sock = 3, .arg0 = 4));
	assert_int_equal(c.result, 0);
	assert_int_equal(c.addr, B_IP);
	assert_false(ev_of(&fx->app[0], 3) & APP_EV_ACCEPTQ);
	settle(fx);
	assert_true(ev_of(&fx->app[0], 4) & APP_EV_CONNECTED);
	assert_int_equal(app_read(&fx->app[0], 4, got, sizeof(got)), 5);   /* came before accept */
	assert_memory_equal(got, "early", 5);
	app_write(&fx->app[0], 4, (const uint8_t *)"reply", 5);
	assert_int_equal(res(fx, CMD(.op = APP_OP_CLOSE, .sock = 4)), 0);
	settle(fx);
	assert_int_equal(peer_read_all(fx, pc, got, sizeof(got)), 5);
	assert_memory_equal(got, "reply", 5);
	assert_int_equal(tcp_recv(bt, &fx->b.stk.tcp_env, (uint32_t)pc, got, 1, 0, fx->now), 0);
	assert_int_equal(ev_of(&fx->app[0], 4), 0);              /* the index is free */
}

static void test_tcp_close_waits_for_tx_ring_to_drain(void **state)
{
	struct fx *fx = *state;
	static uint8_t msg[100000], got[100000];   /* > both TCP buffers + the ring */
	uint32_t put = 0, have = 0, seq;
	struct app_cpl c;
	int pc;

	for (unsigned i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i ^ (i >> 8));
	attach(fx, &fx->app[0], 0);
	connect_to_peer(fx, 0, 80, &pc);
	/* the peer reads nothing: TCP's buffers fill, then the tx ring */
	for (int i = 0; i < 200 && put < sizeof(msg); i++) {
		put += app_write(&fx->app[0], 0, msg + put, sizeof(msg) - put);
		pump(fx);
	}
	assert_true(atomic_load(&fx->app[0].socks[0].tx.prod) !=
		    atomic_load(&fx->app[0].socks[0].tx.cons));
	seq = post(&fx->app[0], CMD(.op = APP_OP_CLOSE, .sock = 0));
	settle(fx);
	assert_false(take_cpl(&fx->app[0], seq, &c));             /* deferred */
	assert_int_equal(res(fx, CMD(.op = APP_OP_GETNAME, .sock = 0)), -EBADF);
	have = peer_read_all(fx, pc, got, sizeof(got));
	settle(fx);
	have += peer_read_all(fx, pc, got + have, sizeof(got) - have);
	assert_int_equal(have, put);
	assert_memory_equal(got, msg, put);
	assert_true(take_cpl(&fx->app[0], seq, &c));
	assert_int_equal(c.result, 0);
	assert_int_equal(fx->na.s->app[0]->owed, 0);
}

static void test_tcp_linger_zero_close_resets(void **state)
{
	struct fx *fx = *state;
	uint8_t b[4];
	int pc;

	attach(fx, &fx->app[0], 0);
	connect_to_peer(fx, 0, 80, &pc);
	assert_int_equal(res(fx, CMD(.op = APP_OP_SETSOCKOPT, .sock = 0, .arg0 = SOL_SOCKET,
				      .arg1 = SO_LINGER, .val = 0)), 0);
	assert_int_equal(res(fx, CMD(.op = APP_OP_CLOSE, .sock = 0)), 0);
	settle(fx);
	assert_int_equal(tcp_recv(fx->b.stk.tcp, &fx->b.stk.tcp_env, (uint32_t)pc, b, 1, 0,
				  fx->now), -ECONNRESET);
}

static void test_tcp_errors_as_linux(void **state)
{
	struct fx *fx = *state;
	struct app_cpl c;
	int pc;

	attach(fx, &fx->app[0], 0);
	tcp_socket(fx, 1);
	tcp_socket(fx, 2);
	assert_int_equal(res(fx, CMD(.op = APP_OP_BIND, .sock = 1, .port = 80)), -EACCES);
	assert_int_equal(res(fx, CMD(.op = APP_OP_BIND, .sock = 1, .port = 5000, .addr = B_IP)),
			 -EADDRNOTAVAIL);
	assert_int_equal(res(fx, CMD(.op = APP_OP_BIND, .sock = 1, .port = 5000)), 0);
	assert_int_equal(res(fx, CMD(.op = APP_OP_BIND, .sock = 1, .port = 5001)), -EINVAL);
	assert_int_equal(res(fx, CMD(.op = APP_OP_BIND, .sock = 2, .port = 5000)), -EADDRINUSE);
	assert_int_equal(res(fx, CMD(.op = APP_OP_CONNECT, .sock = 2, .addr = FAR_IP, .port = 80)),
			 -ENETUNREACH);
	assert_int_equal(res(fx, CMD(.op = APP_OP_SOCKET, .sock = 2, .arg0 = SOCK_STREAM)), -EBUSY);
	assert_int_equal(res(fx, CMD(.op = APP_OP_GETNAME, .sock = 2, .arg0 = 1)), -ENOTCONN);
	assert_int_equal(res(fx, CMD(.op = APP_OP_SHUTDOWN, .sock = 2, .arg0 = SHUT_WR)), -ENOTCONN);
	/* nobody listens on the peer's port 9: refused, via ERR and SO_ERROR */
	assert_int_equal(res(fx, CMD(.op = APP_OP_CONNECT, .sock = 2, .addr = B_IP, .port = 9)),
			 -EINPROGRESS);
	assert_int_equal(res(fx, CMD(.op = APP_OP_CONNECT, .sock = 2, .addr = B_IP, .port = 9)),
			 -EALREADY);
	settle(fx);
	assert_true(ev_of(&fx->app[0], 2) & APP_EV_ERR);
	assert_true(ev_of(&fx->app[0], 2) & APP_EV_HUP);
	assert_int_equal(atomic_load(&fx->app[0].socks[2].error), -ECONNREFUSED);
	c = call(fx, CMD(.op = APP_OP_GETSOCKOPT, .sock = 2, .arg0 = SOL_SOCKET, .arg1 = SO_ERROR));
	assert_int_equal(c.val, ECONNREFUSED);
	assert_false(ev_of(&fx->app[0], 2) & APP_EV_ERR);
	/* connected: connect again is EISCONN; listen on a UDP socket unsupported */
	connect_to_peer(fx, 3, 81, &pc);
	assert_int_equal(res(fx, CMD(.op = APP_OP_CONNECT, .sock = 3, .addr = B_IP, .port = 81)),
			 -EISCONN);
	assert_int_equal(res(fx, CMD(.op = APP_OP_SOCKET, .sock = 5, .arg0 = SOCK_DGRAM)), 0);
	assert_int_equal(res(fx, CMD(.op = APP_OP_LISTEN, .sock = 5)), -EOPNOTSUPP);
	assert_int_equal(res(fx, CMD(.op = APP_OP_SETSOCKOPT, .sock = 5, .arg0 = IPPROTO_TCP,
				      .arg1 = TCP_NODELAY, .val = 1)), -ENOPROTOOPT);
}

static void test_tcp_privileged_port_with_bind_priv(void **state)
{
	struct fx *fx = *state;

	attach(fx, &fx->app[0], APP_F_BIND_PRIV);
	tcp_socket(fx, 0);
	assert_int_equal(res(fx, CMD(.op = APP_OP_BIND, .sock = 0, .port = 80)), 0);
	assert_int_equal(res(fx, CMD(.op = APP_OP_LISTEN, .sock = 0, .arg0 = 4)), 0);
	tcp_socket(fx, 1);        /* a second listener on the port: taken */
	assert_int_equal(res(fx, CMD(.op = APP_OP_BIND, .sock = 1, .port = 80,
				      .arg0 = APP_SO_REUSEADDR)), -EADDRINUSE);
}

/* TCP_INFO as libsock reads it: the completion's val is the length netd
 * wrote into the socket's app_sock.optval. */
static struct app_tcp_info tcp_info_of(struct fx *fx, uint32_t s)
{
	struct app_cpl c = call(fx, CMD(.op = APP_OP_GETSOCKOPT, .sock = s, .arg0 = IPPROTO_TCP,
					 .arg1 = TCP_INFO));
	struct app_tcp_info ti;

	assert_int_equal(c.result, 0);
	assert_int_equal(c.val, sizeof(ti));
	memcpy(&ti, fx->app[0].socks[s].optval, sizeof(ti));
	return ti;
}

static void test_tcp_info_established_after_transfer(void **state)
{
	struct fx *fx = *state;
	uint8_t msg[3000], got[3000];
	struct app_tcp_info ti;
	int pc;

	memset(msg, 'x', sizeof(msg));
	attach(fx, &fx->app[0], 0);
	connect_to_peer(fx, 0, 80, &pc);
	assert_int_equal(app_write(&fx->app[0], 0, msg, sizeof(msg)), sizeof(msg));
	settle(fx);
	assert_int_equal(peer_read_all(fx, pc, got, sizeof(got)), sizeof(msg));
	assert_int_equal(tcp_send(fx->b.stk.tcp, &fx->b.stk.tcp_env, (uint32_t)pc, msg, 700, 0,
				  fx->now), 700);
	settle(fx);
	ti = tcp_info_of(fx, 0);
	assert_int_equal(ti.tcpi_state, TCP_ESTABLISHED);
	assert_int_equal(ti.tcpi_ca_state, TCP_CA_Open);
	assert_int_equal(ti.tcpi_options, TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE);
	/* the fake clock ticks 1 ms per trip, and often not within one: TCP
	 * took samples of 0 and 1 ms; 0 reads 1 us (measured, below the clock) */
	assert_true(ti.tcpi_rtt > 0 && ti.tcpi_rtt <= 1000);
	assert_true(ti.tcpi_min_rtt > 0 && ti.tcpi_min_rtt <= 1000);
	assert_true(ti.tcpi_rto >= 200000);
	assert_true(ti.tcpi_snd_mss > 1000 && ti.tcpi_snd_mss <= 1460);
	assert_true(ti.tcpi_snd_cwnd >= 10);          /* segments: IW10, then slow start */
	assert_int_equal(ti.tcpi_snd_ssthresh, 0x7fffffff);
	assert_int_equal(ti.tcpi_unacked, 0);
	assert_int_equal(ti.tcpi_pmtu, 1500);
	assert_int_equal(ti.tcpi_reordering, 3);
	assert_int_equal(ti.tcpi_bytes_acked, sizeof(msg));
	assert_int_equal(ti.tcpi_bytes_sent, sizeof(msg));
	assert_int_equal(ti.tcpi_bytes_received, 700);
	assert_true(ti.tcpi_data_segs_out >= 3 && ti.tcpi_segs_out > ti.tcpi_data_segs_out);
	assert_int_equal(ti.tcpi_data_segs_in, 1);
	assert_true(ti.tcpi_segs_in > ti.tcpi_data_segs_in);
	assert_int_equal(ti.tcpi_total_retrans, 0);
	assert_true(ti.tcpi_last_data_recv < ti.tcpi_last_data_sent);   /* ms: received last */
	assert_true(ti.tcpi_last_data_sent < 1000);
	assert_true(ti.tcpi_snd_wnd > 0);
}

static void test_tcp_info_unconnected_listening_and_udp(void **state)
{
	struct fx *fx = *state;
	struct app_tcp_info ti;

	attach(fx, &fx->app[0], 0);
	tcp_socket(fx, 0);
	ti = tcp_info_of(fx, 0);                      /* as Linux for a fresh socket */
	assert_int_equal(ti.tcpi_state, TCP_CLOSE);
	assert_int_equal(ti.tcpi_rto, 1000000);
	assert_int_equal(ti.tcpi_snd_cwnd, 10);
	assert_int_equal(ti.tcpi_bytes_acked, 0);
	assert_int_equal(res(fx, CMD(.op = APP_OP_LISTEN, .sock = 0, .arg0 = 4)), 0);
	assert_int_equal(tcp_info_of(fx, 0).tcpi_state, TCP_LISTEN);
	assert_int_equal(res(fx, CMD(.op = APP_OP_SOCKET, .sock = 1, .arg0 = SOCK_DGRAM)), 0);
	assert_int_equal(res(fx, CMD(.op = APP_OP_GETSOCKOPT, .sock = 1, .arg0 = IPPROTO_TCP,
				      .arg1 = TCP_INFO)), -EOPNOTSUPP);
	assert_int_equal(res(fx, CMD(.op = APP_OP_GETSOCKOPT, .sock = 1, .arg0 = IPPROTO_TCP,
				      .arg1 = TCP_NODELAY)), -EOPNOTSUPP);
}

/* ------------------------------------------------------------------ UDP */

static void test_udp_round_trip(void **state)
{
	struct fx *fx = *state;
	struct udp_tx tx = { .src = B_IP, .dst = A_IP, .sport = 53 };
	struct app_dgram h;
	struct app_cpl c;
	char got[64];

	attach(fx, &fx->app[0], 0);
	assert_int_equal(udp_bind(&fx->b.stk.udp, 99, 0, 53, 0, 0), 53);
	assert_int_equal(res(fx, CMD(.op = APP_OP_SOCKET, .sock = 6, .arg0 = SOCK_DGRAM)), 0);
	c = call(fx, CMD(.op = APP_OP_BIND, .sock = 6));
	assert_int_equal(c.result, 0);
	assert_true(c.port >= UDP_EPHEMERAL_LO);
	app_sendto(&fx->app[0], 6, B_IP, 53, "question", 8);
	settle(fx);
	assert_int_equal(fx->peer_dgram_len, 8);
	assert_memory_equal(fx->peer_dgram, "question", 8);
	assert_int_equal(fx->peer_dgram_sport, c.port);
	tx.dport = c.port;
	assert_int_equal(udp_output(&fx->b.stk, &tx, "answer", 6, fx->now), 0);
	settle(fx);
	assert_true(app_recvfrom(&fx->app[0], 6, &h, got));
	assert_int_equal(h.len, 6);
	assert_int_equal(h.addr, B_IP);
	assert_int_equal(h.port, 53);
	assert_memory_equal(got, "answer", 6);
	/* connected: records without an address go to the peer */
	assert_int_equal(res(fx, CMD(.op = APP_OP_CONNECT, .sock = 6, .addr = B_IP, .port = 53)), 0);
	app_sendto(&fx->app[0], 6, 0, 0, "again", 5);
	settle(fx);
	assert_memory_equal(fx->peer_dgram, "again", 5);
	assert_int_equal(ctr(fx, NETD_APP_UDP_TX_DGRAMS), 2);
	assert_int_equal(ctr(fx, NETD_APP_UDP_RX_DGRAMS), 1);
}

static void test_udp_rx_ring_full_drops_and_wraps(void **state)
{
	struct fx *fx = *state;
	struct udp_tx tx = { .src = B_IP, .dst = A_IP, .sport = 53, .dport = 4000 };
	static char payload[1000], got[1000];
	struct app_dgram h;
	unsigned n = 0;

	attach(fx, &fx->app[0], 0);
	assert_int_equal(res(fx, CMD(.op = APP_OP_SOCKET, .sock = 1, .arg0 = SOCK_DGRAM)), 0);
	assert_int_equal(res(fx, CMD(.op = APP_OP_BIND, .sock = 1, .port = 4000)), 0);
	for (int i = 0; i < 12; i++) {              /* 12 * 1016 > 8 KiB */
		payload[0] = (char)i;
		udp_output(&fx->b.stk, &tx, payload, sizeof(payload), fx->now);
		pump(fx);
	}
	assert_true(ctr(fx, NETD_APP_UDP_RX_RING_FULL) >= 4);
	while (app_recvfrom(&fx->app[0], 1, &h, got))
		assert_int_equal(got[0], (char)n++);
	assert_int_equal(n, ctr(fx, NETD_APP_UDP_RX_DGRAMS));
	for (int i = 0; i < 4; i++) {               /* after the app read: records wrap */
		payload[0] = (char)(100 + i);
		udp_output(&fx->b.stk, &tx, payload, sizeof(payload), fx->now);
		pump(fx);
		assert_true(app_recvfrom(&fx->app[0], 1, &h, got));
		assert_int_equal(got[0], (char)(100 + i));
	}
}

static void test_udp_icmp_port_unreachable_sets_err(void **state)
{
	struct fx *fx = *state;
	struct app_cpl c;

	attach(fx, &fx->app[0], 0);
	assert_int_equal(res(fx, CMD(.op = APP_OP_SOCKET, .sock = 2, .arg0 = SOCK_DGRAM)), 0);
	assert_int_equal(res(fx, CMD(.op = APP_OP_CONNECT, .sock = 2, .addr = B_IP, .port = 9)), 0);
	app_sendto(&fx->app[0], 2, 0, 0, "anyone?", 7);     /* nobody on the peer's port 9 */
	settle(fx);
	assert_int_equal(ctr(fx, NETD_APP_ICMP_ERR_SET), 1);
	assert_true(ev_of(&fx->app[0], 2) & APP_EV_ERR);
	c = call(fx, CMD(.op = APP_OP_GETSOCKOPT, .sock = 2, .arg0 = SOL_SOCKET, .arg1 = SO_ERROR));
	assert_int_equal(c.val, ECONNREFUSED);
	assert_false(ev_of(&fx->app[0], 2) & APP_EV_ERR);
}

static void test_udp_sockets_rebound_after_stack_reset(void **state)
{
	struct fx *fx = *state;
	struct udp_tx tx = { .src = B_IP, .dst = A_IP, .sport = 53, .dport = 4000 };
	struct stack_config cfg = fx->a.stk.cfg;
	struct tcp_stack *tcp = fx->a.stk.tcp;   /* TCP carries on over a reset */
	struct app_dgram h;
	char got[8];

	attach(fx, &fx->app[0], 0);
	assert_int_equal(res(fx, CMD(.op = APP_OP_SOCKET, .sock = 1, .arg0 = SOCK_DGRAM)), 0);
	assert_int_equal(res(fx, CMD(.op = APP_OP_BIND, .sock = 1, .port = 4000)), 0);
	stack_flush(&fx->a.stk);              /* the engine re-initialises its stack (new pool) */
	assert_int_equal(stack_init(&fx->a.stk, &cfg, &fx->pf.cache, fx->now), 0);
	stack_attach_tcp(&fx->a.stk, tcp);
	assert_int_equal(fx->a.stk.udp.count, 0);
	netd_apps_stack_reset(&fx->na);
	assert_int_equal(fx->a.stk.udp.count, 1);
	udp_output(&fx->b.stk, &tx, "still", 5, fx->now);
	settle(fx);
	assert_true(app_recvfrom(&fx->app[0], 1, &h, got));
	assert_memory_equal(got, "still", 5);
}

/* -------------------------------------------------------------- hostile */

static void test_hostile_bad_ops_and_socket_numbers(void **state)
{
	struct fx *fx = *state;
	struct tapp *t = &fx->app[0];

	attach(fx, t, 0);
	assert_int_equal(res(fx, CMD(.op = 0, .sock = 0)), -EINVAL);
	assert_int_equal(res(fx, CMD(.op = 999, .sock = 0)), -EINVAL);
	assert_int_equal(res(fx, CMD(.op = APP_OP_SOCKET, .sock = 99999, .arg0 = SOCK_STREAM)),
			 -EBADF);
	assert_int_equal(res(fx, CMD(.op = APP_OP_BIND, .sock = 3, .port = 5000)), -EBADF);
	assert_int_equal(res(fx, CMD(.op = APP_OP_SOCKET, .sock = 3, .arg0 = 77)), -EINVAL);
	tcp_socket(fx, 3);
	assert_int_equal(res(fx, CMD(.op = APP_OP_ACCEPT, .sock = 3, .arg0 = -1)), -EINVAL);
	assert_int_equal(res(fx, CMD(.op = APP_OP_SHUTDOWN, .sock = 3, .arg0 = 42)), -EINVAL);
	post(t, CMD(.op = APP_OP_TX, .sock = 12345));          /* no completion, counted */
	post(t, CMD(.op = APP_OP_RX_DONE, .sock = 9));
	settle(fx);
	assert_int_equal(ctr(fx, NETD_APP_NOTIFY_BAD_SOCK), 2);
	assert_int_equal(t->ncpl, 0);
	assert_true(ctr(fx, NETD_APP_CMD_BAD_SOCK) >= 2);
	assert_int_equal(res(fx, CMD(.op = APP_OP_CLOSE, .sock = 3)), 0);
	assert_int_equal(fx->na.s->nlive, 1);                 /* still served */
}

static void test_hostile_byte_ring_indices_fail_only_that_socket(void **state)
{
	struct fx *fx = *state;
	struct tapp *t = &fx->app[0];
	uint8_t msg[100] = { 1, 2, 3 }, got[100];
	int pc, pc2;

	attach(fx, t, 0);
	connect_to_peer(fx, 0, 80, &pc);
	connect_to_peer(fx, 1, 81, &pc2);
	atomic_store(&t->socks[0].tx.prod, atomic_load(&t->socks[0].tx.cons) + 5 * BUFSZ);
	post(t, CMD(.op = APP_OP_TX, .sock = 0));
	settle(fx);
	assert_int_equal(ctr(fx, NETD_APP_BYTE_RING_CORRUPT), 1);
	assert_int_equal(atomic_load(&t->socks[0].error), -EIO);
	assert_true((ev_of(t, 0) & (APP_EV_ERR | APP_EV_HUP)) == (APP_EV_ERR | APP_EV_HUP));
	assert_int_equal(tcp_recv(fx->b.stk.tcp, &fx->b.stk.tcp_env, (uint32_t)pc, got, 1, 0,
				  fx->now), -ECONNRESET);
	/* rx side: the app claims to have read what was never written */
	atomic_store(&t->socks[1].rx.cons, 0x80000000u);
	tcp_send(fx->b.stk.tcp, &fx->b.stk.tcp_env, (uint32_t)pc2, msg, 10, 0, fx->now);
	settle(fx);
	assert_int_equal(ctr(fx, NETD_APP_BYTE_RING_CORRUPT), 2);
	/* a fresh socket on the same app still works */
	connect_to_peer(fx, 2, 82, &pc);
	app_write(t, 2, msg, sizeof(msg));
	settle(fx);
	assert_int_equal(peer_read_all(fx, pc, got, sizeof(got)), sizeof(msg));
	assert_int_equal(res(fx, CMD(.op = APP_OP_CLOSE, .sock = 0)), 0);
	assert_int_equal(res(fx, CMD(.op = APP_OP_CLOSE, .sock = 1)), 0);
}

static void test_hostile_udp_record_fails_socket(void **state)
{
	struct fx *fx = *state;
	struct tapp *t = &fx->app[0];
	struct app_dgram bad = { .len = 0x7fffffff, .addr = B_IP, .port = 53 };

	attach(fx, t, 0);
	assert_int_equal(res(fx, CMD(.op = APP_OP_SOCKET, .sock = 0, .arg0 = SOCK_DGRAM)), 0);
	memcpy(tbuf(t, 0, 1), &bad, sizeof(bad));
	atomic_store(&t->socks[0].tx.prod, 64);
	post(t, CMD(.op = APP_OP_TX, .sock = 0));
	settle(fx);
	assert_int_equal(ctr(fx, NETD_APP_UDP_TX_BAD_RECORD), 1);
	assert_int_equal(atomic_load(&t->socks[0].error), -EIO);
	assert_int_equal(fx->a.stk.udp.count, 0);
}

static void test_hostile_corrupt_cmd_ring_detaches_only_that_app(void **state)
{
	struct fx *fx = *state;
	struct tapp *t = &fx->app[0], *u = &fx->app[1];
	struct ring *cmd = t->cmd.r;
	uint8_t got[8];
	int pc;

	region_make(u, APP_ID + 1, 0);
	attach(fx, t, 0);
	attach(fx, u, 0);
	connect_to_peer(fx, 0, 80, &pc);
	assert_int_equal(call_on(fx, u, CMD(.op = APP_OP_SOCKET, .sock = 0, .arg0 = SOCK_DGRAM)).result,
			 0);
	atomic_store(&cmd->prod, atomic_load(&cmd->cons) + 5000);   /* > APP_CMD_RING */
	settle(fx);
	assert_int_equal(ctr(fx, NETD_APP_CMD_RING_CORRUPT), 1);
	assert_int_equal(fx->na.s->nlive, 1);
	assert_int_equal(tcp_recv(fx->b.stk.tcp, &fx->b.stk.tcp_env, (uint32_t)pc, got, 1, 0,
				  fx->now), -ECONNRESET);
	assert_int_equal(tcp_conn_count(fx->a.stk.tcp), 0);
	assert_int_equal(call_on(fx, u, CMD(.op = APP_OP_BIND, .sock = 0, .port = 7000)).result, 0);
	/* a corrupt completion ring detaches too */
	atomic_store(&u->cpl.r->cons, atomic_load(&u->cpl.r->prod) + 9999);
	post(u, CMD(.op = APP_OP_GETNAME, .sock = 0));
	settle(fx);
	assert_int_equal(ctr(fx, NETD_APP_CPL_RING_CORRUPT), 1);
	assert_int_equal(fx->na.s->nlive, 0);
	assert_int_equal(fx->a.stk.udp.count, 0);
}

static void test_hostile_attach_geometry_refused(void **state)
{
	struct fx *fx = *state;
	struct tapp *t = &fx->app[0];
	struct app_attach m = attach_msg(t);

	m.nsocks = APP_SOCKS_MAX + 1;
	attach_with(fx, t, m);
	m = attach_msg(t);
	m.buf_size = BUFSZ + 1;
	attach_with(fx, t, m);
	assert_int_equal(ctr(fx, NETD_APP_ATTACH_BAD_MSG), 2);
	m = attach_msg(t);
	m.nsocks = NSOCKS * 4;                   /* claims more sockets than the region holds */
	attach_with(fx, t, m);
	m = attach_msg(t);
	m.region_size = t->reg.size * 2;
	attach_with(fx, t, m);
	assert_int_equal(ctr(fx, NETD_APP_ATTACH_BAD_REGION), 2);
	assert_int_equal(fx->na.s->nlive, 0);
	/* an unsealed region could shrink under netd: refused */
	region_make(&fx->app[1], APP_ID + 1, REGION_F_NO_SEAL);
	attach_with(fx, &fx->app[1], attach_msg(&fx->app[1]));
	assert_int_equal(ctr(fx, NETD_APP_ATTACH_BAD_REGION), 3);
	assert_int_equal(fx->na.s->nlive, 0);
}

/* ----------------------------------------------------------- detaching */

static void test_detach_frees_every_socket(void **state)
{
	struct fx *fx = *state;
	struct netd_apps_state *st = fx->na.s;
	uint8_t got[8];
	int pc;

	attach(fx, &fx->app[0], 0);
	connect_to_peer(fx, 0, 80, &pc);
	tcp_socket(fx, 1);
	assert_int_equal(res(fx, CMD(.op = APP_OP_BIND, .sock = 1, .port = 8080)), 0);
	assert_int_equal(res(fx, CMD(.op = APP_OP_LISTEN, .sock = 1)), 0);
	assert_int_equal(res(fx, CMD(.op = APP_OP_SOCKET, .sock = 2, .arg0 = SOCK_DGRAM)), 0);
	assert_int_equal(res(fx, CMD(.op = APP_OP_BIND, .sock = 2, .port = 4000)), 0);
	app_write(&fx->app[0], 0, (const uint8_t *)"bye", 3);
	link_detach(st, APP_ID);                 /* sockd: the app exited */
	settle(fx);
	assert_int_equal(st->nlive, 0);
	assert_int_equal(fx->a.stk.udp.count, 0);
	assert_int_equal(st->ports[8080].users, 0);
	for (uint32_t c = 0; c < 64; c++)
		assert_int_equal(st->conn_map[c], 0);
	/* as the kernel at exit: what it wrote, then FIN */
	assert_int_equal(peer_read_all(fx, pc, got, sizeof(got)), 3);
	assert_int_equal(tcp_recv(fx->b.stk.tcp, &fx->b.stk.tcp_env, (uint32_t)pc, got, 1, 0,
				  fx->now), 0);
	sockd_link_reap(st);
	assert_int_equal(st->ls[0].state, LS_FREE);
	assert_int_equal(ctr(fx, NETD_APP_APPS_DROPPED), 1);
	link_detach(st, APP_ID);
	assert_int_equal(ctr(fx, NETD_APP_DETACH_UNKNOWN), 1);
}

/* sockd went away and came back: it replays the attach of a live app
 * (acked again, same region kept); an app it does not replay is dropped
 * once the grace period ends. */
static void test_link_replay_and_orphan_expiry(void **state)
{
	struct fx *fx = *state;
	struct netd_apps_state *st = fx->na.s;
	struct app_attach m = attach_msg(&fx->app[0]);

	region_make(&fx->app[1], APP_ID + 1, 0);
	attach(fx, &fx->app[0], 0);
	attach(fx, &fx->app[1], 0);
	link_orphan_all(st);
	m.app_id = 70;                        /* a restarted sockd may renumber */
	attach_with(fx, &fx->app[0], m);
	assert_int_equal(ctr(fx, NETD_APP_ATTACH_REPLAYED), 1);
	assert_int_equal(st->nlive, 2);
	assert_false(st->ls[0].orphan);
	assert_true(st->ls[1].orphan);
	st->orphan_deadline = 1;              /* the grace period is over */
	link_orphans_expire(st);
	netd_apps_poll(&fx->na, 64, fx->now);
	assert_int_equal(st->nlive, 1);
	assert_int_equal(st->app[st->live[0]]->dev, fx->na.s->ls[0].dev);
	assert_int_equal(ctr(fx, NETD_APP_ORPHANS_DROPPED), 1);
	link_detach(st, 70);                  /* detaches follow the new number */
	netd_apps_poll(&fx->na, 64, fx->now);
	assert_int_equal(st->nlive, 0);
}

/* ------------------------------------------------------------ the link */

static bool readable_within(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) > 0;
}

/* Receive one message on s within 2 s. */
static ssize_t recv_wait(int s, void *buf, size_t len)
{
	return readable_within(s, 2000) ? recv(s, buf, len, 0) : -1;
}

static void send_fds(int s, const void *msg, size_t len, const int *fds, unsigned n)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 2)];
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (n) {
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	}
	assert_int_equal(sendmsg(s, &mh, MSG_NOSIGNAL), (ssize_t)len);
}

/* Poll (as the engine) until nlive is n, within 2 s. */
static void wait_live(struct fx *fx, unsigned n)
{
	for (int i = 0; i < 400 && fx->na.s->nlive != n; i++) {
		netd_apps_poll(&fx->na, 64, fx->now);
		usleep(5000);
	}
	assert_int_equal(fx->na.s->nlive, n);
}

/* The test plays sockd: hello in, welcome out, attach + fds, ack back. */
static void test_link_attach_ack_detach_eof(void **state)
{
	struct fx *fx = *state;
	char dir[] = "/tmp/netd-app-XXXXXX", path[128];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct app_welcome w = { .magic = APP_WELCOME_MAGIC, .version = APP_HELLO_VERSION };
	struct app_attach m = attach_msg(&fx->app[0]);
	struct app_detach d = { .magic = APP_DETACH_MAGIC, .app_id = APP_ID };
	struct app_hello h;
	struct app_attach_ack ack;
	struct doorbell *dbs[4];
	int ls, s, fds[2] = { fx->app[0].reg.fd, fx->app[0].wake_efd };

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, APP_SOCK_FILE);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	ls = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(ls, 4), 0);
	netd_apps_fini(&fx->na);                            /* again, with its thread */
	assert_int_equal(netd_apps_init(&fx->na, &fx->a.stk, dir), 0);
	usleep(150000);
	assert_false(readable_within(ls, 0));        /* no engine pass yet: not offered */
	netd_apps_poll(&fx->na, 64, fx->now);
	assert_true(readable_within(ls, 3000));      /* the link connects (backoff < 2 s) */
	s = accept(ls, NULL, NULL);
	assert_true(s >= 0);
	assert_int_equal(recv_wait(s, &h, sizeof(h)), sizeof(h));
	assert_int_equal(h.role, APP_ROLE_NETD);
	send_fds(s, &w, sizeof(w), NULL, 0);
	send_fds(s, &m, sizeof(m), fds, 2);
	assert_int_equal(recv_wait(s, &ack, sizeof(ack)), sizeof(ack));
	assert_int_equal(ack.magic, APP_ATTACH_ACK_MAGIC);
	assert_int_equal(ack.app_id, APP_ID);
	wait_live(fx, 1);
	assert_int_equal(netd_apps_doorbells(&fx->na, dbs, 4), 2);
	assert_ptr_equal(dbs[1], &fx->na.s->app[fx->na.s->live[0]]->ctl->netd);
	send_fds(s, &d, sizeof(d), NULL, 0);
	wait_live(fx, 0);
	close(s);                                            /* sockd goes away */
	for (int i = 0; i < 400 && ctr(fx, NETD_APP_LINK_EOF) == 0; i++)
		usleep(5000);
	assert_int_equal(ctr(fx, NETD_APP_LINK_EOF), 1);
	assert_int_equal(ctr(fx, NETD_APP_ATTACHES), 1);
	netd_apps_fini(&fx->na);
	assert_int_equal(apps_state_new(&fx->na.s, &fx->a.stk, "/nonexistent"), 0);
	close(ls);
	unlink(path);
	rmdir(dir);
}

/* ------------------------------------------------ listeners shared across fork */

/* app[0] (pid 100) listens on :8080 and forks app[1], this process (a live
 * pid: netd pins the child with a pidfd), which inherits the listener as
 * its socket 5. */
static void share_setup(struct fx *fx)
{
	struct app_attach m0 = attach_msg(&fx->app[0]), m1;

	region_make(&fx->app[1], APP_ID + 1, 0);
	m1 = attach_msg(&fx->app[1]);
	m0.pid = 100;
	m1.pid = (uint32_t)getpid();
	attach_with(fx, &fx->app[0], m0);
	attach_with(fx, &fx->app[1], m1);
	tcp_socket(fx, 3);
	assert_int_equal(call(fx, CMD(.op = APP_OP_BIND, .sock = 3, .port = 8080)).result, 0);
	assert_int_equal(res(fx, CMD(.op = APP_OP_LISTEN, .sock = 3, .arg0 = 16)), 0);
	/* not yet recorded: refused; a wrong port: refused */
	assert_int_equal(call_on(fx, &fx->app[1], CMD(.op = APP_OP_INHERIT, .sock = 5, .arg0 = 3,
						      .arg1 = 100, .port = 8080)).result, -EPERM);
	assert_int_equal(res(fx, CMD(.op = APP_OP_FORK, .arg0 = (int32_t)getpid())), 0);
	assert_int_equal(call_on(fx, &fx->app[1], CMD(.op = APP_OP_INHERIT, .sock = 5, .arg0 = 3,
						      .arg1 = 100, .port = 8081)).result, -EBADF);
	assert_int_equal(call_on(fx, &fx->app[1], CMD(.op = APP_OP_INHERIT, .sock = 5, .arg0 = 3,
						      .arg1 = 100, .port = 8080)).result, 0);
}

/* Both entries show a queued connection; the child closes its copy and the
 * parent, alone again, accepts it: no ACCEPTQ left behind (a stale one
 * would spin a level-triggered poller on EAGAIN). */
static void test_share_alone_again_drops_acceptq(void **state)
{
	struct fx *fx = *state;

	share_setup(fx);
	assert_true(tcp_connect(fx->b.stk.tcp, &fx->b.stk.tcp_env, B_IP, 0, A_IP, 8080, fx->now) >= 0);
	settle(fx);
	assert_true(ev_of(&fx->app[0], 3) & APP_EV_ACCEPTQ);
	assert_true(ev_of(&fx->app[1], 5) & APP_EV_ACCEPTQ);
	assert_int_equal(call_on(fx, &fx->app[1], CMD(.op = APP_OP_CLOSE, .sock = 5)).result, 0);
	assert_int_equal(res(fx, CMD(.op = APP_OP_ACCEPT, .sock = 3, .arg0 = 4)), 0);
	settle(fx);
	assert_false(ev_of(&fx->app[0], 3) & APP_EV_ACCEPTQ);
}

/* A connection completes while the leader closes in the same poll: TCP's
 * event went to the leader and leaves with it; the new leader must look
 * at the queue itself, or the connection waits for the next one. */
static void test_share_leader_leaves_new_leader_sees_queue(void **state)
{
	struct fx *fx = *state;

	share_setup(fx);
	assert_true(tcp_connect(fx->b.stk.tcp, &fx->b.stk.tcp_env, B_IP, 0, A_IP, 8080, fx->now) >= 0);
	settle(fx);
	assert_true(tcp_connect(fx->b.stk.tcp, &fx->b.stk.tcp_env, B_IP, 0, A_IP, 8080, fx->now) >= 0);
	assert_int_equal(call_on(fx, &fx->app[1], CMD(.op = APP_OP_ACCEPT, .sock = 5, .arg0 = 6)).result, 0);
	for (int i = 0; i < 5; i++) {
		exchange(fx);
		fx->now += 1000000;
	}
	post(&fx->app[0], CMD(.op = APP_OP_CLOSE, .sock = 3));
	forward_events(fx);
	settle(fx);
	assert_true(ev_of(&fx->app[1], 5) & APP_EV_ACCEPTQ);
	assert_int_equal(call_on(fx, &fx->app[1], CMD(.op = APP_OP_ACCEPT, .sock = 5, .arg0 = 7)).result, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_share_alone_again_drops_acceptq),
		T(test_share_leader_leaves_new_leader_sees_queue),
		T(test_tcp_connect_send_peer_receives),
		T(test_tcp_peer_sends_rx_ring_backpressure_then_eof),
		T(test_tcp_listen_accept_and_graceful_close),
		T(test_tcp_close_waits_for_tx_ring_to_drain),
		T(test_tcp_linger_zero_close_resets),
		T(test_tcp_errors_as_linux),
		T(test_tcp_privileged_port_with_bind_priv),
		T(test_tcp_info_established_after_transfer),
		T(test_tcp_info_unconnected_listening_and_udp),
		T(test_udp_round_trip),
		T(test_udp_rx_ring_full_drops_and_wraps),
		T(test_udp_icmp_port_unreachable_sets_err),
		T(test_udp_sockets_rebound_after_stack_reset),
		T(test_hostile_bad_ops_and_socket_numbers),
		T(test_hostile_byte_ring_indices_fail_only_that_socket),
		T(test_hostile_udp_record_fails_socket),
		T(test_hostile_corrupt_cmd_ring_detaches_only_that_app),
		T(test_hostile_attach_geometry_refused),
		T(test_detach_frees_every_socket),
		T(test_link_replay_and_orphan_expiry),
		T(test_link_attach_ack_detach_eof),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
