/* tests/unit/test_stack.c — proto/stack: the glue between the layers and the
 * engine: set-up, flush, the bounded queues, and TCP reached through IPv4
 * (two stacks joined back to back, so a handshake crosses eth/ARP/IP/TCP).
 * With several engines (cfg.steer_sockets), a third stack `c` is engine 1
 * of a's netd: same address and MAC, no sockets; frames from b reach it as
 * nicd's RSS would send them to queue 1, and what it steers goes to a. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/stack.h"
#include "tests/support/pkb_fixture.h"

#define NOW0 1000000000000ull
#define A_IP 0x0a000002u   /* 10.0.0.2 */
#define B_IP 0x0a000003u   /* 10.0.0.3 */

struct side {
	struct stack stk;
	void *tcp_mem;
};

struct fx {
	struct pkb_fixture pf;
	struct side a, b, c;
	uint64_t now;
};

static void side_init(struct fx *fx, struct side *s, uint32_t ip, uint8_t last, bool steer)
{
	struct stack_config cfg = { .mac = { 0x02, 0, 0, 0, 0, last }, .addr = ip,
				    .prefix_len = 24, .mtu = 1500, .secret = { last, 7 },
				    .steer_sockets = steer };
	struct tcp_config tc;
	size_t bytes;

	assert_int_equal(stack_init(&s->stk, &cfg, &fx->pf.cache, fx->now), 0);
	tcp_config_default(&tc);
	tc.max_conns = 16;
	tc.sndbuf = tc.rcvbuf = 1 << 16;
	bytes = tcp_stack_bytes(&tc);
	assert_true(bytes > 0);
	s->tcp_mem = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
	assert_non_null(s->tcp_mem);
	stack_attach_tcp(&s->stk, tcp_stack_format(s->tcp_mem, bytes, &tc, fx->now));
	assert_non_null(s->stk.tcp);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx || pkb_fixture_init(&fx->pf, 1024, 0) != 0)
		return -1;
	fx->now = NOW0;
	side_init(fx, &fx->a, A_IP, 1, false);
	side_init(fx, &fx->b, B_IP, 2, false);
	side_init(fx, &fx->c, A_IP, 1, true);     /* a's engine 1 */
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	uint32_t leaks;

	stack_flush(&fx->a.stk);
	stack_flush(&fx->b.stk);
	stack_flush(&fx->c.stk);
	leaks = pkb_fixture_leaks(&fx->pf);
	free(fx->a.tcp_mem);
	free(fx->b.tcp_mem);
	free(fx->c.tcp_mem);
	pkb_fixture_fini(&fx->pf);
	free(fx);
	assert_int_equal(leaks, 0);
	return 0;
}

/* Move every frame one side queued for the device to the other side's input,
 * until both are quiet (bounded). */
static void exchange(struct fx *fx)
{
	for (int round = 0; round < 64; round++) {
		uint32_t moved = 0;

		for (int dir = 0; dir < 2; dir++) {
			struct stack *from = dir ? &fx->b.stk : &fx->a.stk;
			struct stack *to = dir ? &fx->a.stk : &fx->b.stk;
			uint32_t n = from->txq.n;
			struct pkb *q[STACK_TXQ_MAX];

			memcpy(q, from->txq.pkb, n * sizeof(q[0]));
			from->txq.n = 0;
			for (uint32_t i = 0; i < n; i++)
				stack_input(to, q[i], fx->now);
			moved += n;
		}
		if (moved == 0)
			return;
		fx->now += 1000;
	}
	fail_msg("frames kept flowing after 64 rounds");
}

static int find_event(struct stack *stk, uint32_t conn, unsigned bit)
{
	for (uint32_t i = 0; i < stk->evq.n; i++)
		if (stk->evq.ev[i].type == STACK_EV_TCP && stk->evq.ev[i].sock_id == conn &&
		    (stk->evq.ev[i].info & bit))
			return 1;
	return 0;
}

static void test_stack_init_rejects_bad_config(void **state)
{
	struct fx *fx = *state;
	static struct stack s;
	struct stack_config cfg = { .addr = A_IP, .prefix_len = 24, .mtu = 1500 };

	cfg.addr = 0;
	assert_int_equal(stack_init(&s, &cfg, &fx->pf.cache, fx->now), -EINVAL);
	cfg.addr = A_IP;
	cfg.mtu = 60;
	assert_int_equal(stack_init(&s, &cfg, &fx->pf.cache, fx->now), -EINVAL);
	cfg.mtu = 1500;
	cfg.prefix_len = 33;
	assert_int_equal(stack_init(&s, &cfg, &fx->pf.cache, fx->now), -EINVAL);
}

static void test_stack_init_announces_address(void **state)
{
	struct fx *fx = *state;

	/* One gratuitous ARP each, queued for the device at start. */
	assert_int_equal(fx->a.stk.txq.n, 1);
	assert_int_equal(fx->b.stk.txq.n, 1);
	assert_int_equal(fx->a.stk.stats.cnt[PROTO_CNT_ARP_OUT], 1);
}

static void test_stack_tcp_handshake_and_data_through_ip(void **state)
{
	struct fx *fx = *state;
	struct stack *a = &fx->a.stk, *b = &fx->b.stk;
	struct tcp_endpoint peer;
	char buf[64];
	int l, c, s;

	exchange(fx);   /* the gratuitous ARPs teach each side the other's MAC */
	l = tcp_listen(b->tcp, &b->tcp_env, 0, 80, 8, 0);
	assert_true(l >= 0);
	c = tcp_connect(a->tcp, &a->tcp_env, A_IP, 0, B_IP, 80, fx->now);
	assert_true(c >= 0);
	exchange(fx);
	assert_true(find_event(a, (uint32_t)c, TCP_EV_CONNECTED));
	s = tcp_accept(b->tcp, &b->tcp_env, (uint32_t)l, &peer);
	assert_true(s >= 0);
	assert_int_equal(peer.addr, A_IP);
	assert_int_equal(tcp_send(a->tcp, &a->tcp_env, (uint32_t)c, "hello, stack", 12, 0, fx->now), 12);
	exchange(fx);
	assert_int_equal(tcp_recv(b->tcp, &b->tcp_env, (uint32_t)s, buf, sizeof(buf), 0, fx->now), 12);
	assert_memory_equal(buf, "hello, stack", 12);
	assert_int_equal(a->stats.drop[PROTO_DROP_IP_BAD_CSUM] + b->stats.drop[PROTO_DROP_TCP_BAD_CSUM], 0);
}

static void test_stack_tcp_without_tcp_counts_no_socket(void **state)
{
	struct fx *fx = *state;
	struct stack *a = &fx->a.stk, *b = &fx->b.stk;

	exchange(fx);
	b->tcp = NULL;   /* as if the engine had not attached TCP */
	assert_true(tcp_connect(a->tcp, &a->tcp_env, A_IP, 0, B_IP, 80, fx->now) >= 0);
	exchange(fx);
	assert_int_equal(b->stats.drop[PROTO_DROP_TCP_NO_SOCKET], 1);
	stack_attach_tcp(b, (struct tcp_stack *)fx->b.tcp_mem);
}

static void test_stack_loopback_queue_is_bounded(void **state)
{
	struct fx *fx = *state;
	struct stack *a = &fx->a.stk;

	for (unsigned i = 0; i < STACK_LOOP_MAX + 3; i++) {
		struct pkb *p = pkb_alloc(a->cache);

		assert_non_null(p);
		stack_loopback(a, p);
	}
	assert_int_equal(a->loop_n, STACK_LOOP_MAX);
	assert_int_equal(a->stats.drop[PROTO_DROP_LOOPBACK_FULL], 3);
	/* teardown's stack_flush must give every queued buffer back */
}

static void test_stack_flush_returns_every_buffer(void **state)
{
	struct fx *fx = *state;
	struct stack *a = &fx->a.stk;

	/* A TCP SYN to an unresolved neighbour waits in the ARP queue. */
	assert_true(tcp_connect(a->tcp, &a->tcp_env, A_IP, 0, 0x0a000009u, 80, fx->now) >= 0);
	assert_int_equal(a->neigh.queued, 1);
	stack_flush(a);
	assert_int_equal(a->neigh.queued, 0);
	assert_int_equal(a->txq.n, 0);
}

static void test_stack_next_deadline_covers_neighbour_retry(void **state)
{
	struct fx *fx = *state;
	struct stack *a = &fx->a.stk;
	uint64_t d;

	uint64_t arp_out;

	assert_true(tcp_connect(a->tcp, &a->tcp_env, A_IP, 0, 0x0a000009u, 80, fx->now) >= 0);
	arp_out = a->stats.cnt[PROTO_CNT_ARP_OUT];   /* the announce and the first request */
	d = stack_next_deadline(a);
	assert_true(d > fx->now && d <= fx->now + 1000000000ull);
	/* Deadlines may be early, never late: following them, the ARP retry
	 * (1 s after the request) goes out on time. */
	for (int i = 0; i < 100 && d <= NOW0 + 1000000000ull; i++) {
		stack_timers(a, d);
		d = stack_next_deadline(a);
	}
	assert_int_equal(a->stats.cnt[PROTO_CNT_ARP_OUT], arp_out + 1);
}

/* ------------------------------------------------ several engines */

/* Queue every frame of from's txq on *q (at most cap). Returns how many. */
static uint32_t take_txq(struct stack *from, struct pkb **q)
{
	uint32_t n = from->txq.n;

	memcpy(q, from->txq.pkb, n * sizeof(q[0]));
	from->txq.n = 0;
	return n;
}

/* Is this frame ARP or an L2 broadcast (nicd copies those to every queue)? */
static bool every_queue(const struct pkb *f)
{
	const uint8_t *h = pkb_data(f);

	return (h[0] & 1) || (h[12] == 0x08 && h[13] == 0x06);
}

/* b talks to the netd of a (engine 0) and c (engine 1): b's frames go to c
 * as RSS would steer them to queue 1, and ARP or broadcast frames to a as
 * well (a clone each); c's steered datagrams go to a; whatever a and c send
 * goes to b. Until quiet (bounded). */
static void exchange_steered(struct fx *fx)
{
	struct stack *a = &fx->a.stk, *b = &fx->b.stk, *c = &fx->c.stk;

	for (int round = 0; round < 64; round++) {
		struct pkb *q[STACK_TXQ_MAX];
		uint32_t n = take_txq(b, q), moved = n;

		for (uint32_t i = 0; i < n; i++) {
			if (every_queue(q[i])) {
				struct pkb *copy = pkb_clone(&fx->pf.cache, q[i]);

				assert_non_null(copy);
				stack_input(a, copy, fx->now);
			}
			stack_input(c, q[i], fx->now);
		}
		moved += c->steerq.n;
		stack_input_steered(a, c->steerq.pkb, c->steerq.n, fx->now);
		c->steerq.n = 0;
		for (int s = 0; s < 2; s++) {
			n = take_txq(s ? c : a, q);
			for (uint32_t i = 0; i < n; i++)
				stack_input(b, q[i], fx->now);
			moved += n;
		}
		if (moved == 0)
			return;
		fx->now += 1000;
	}
	fail_msg("frames kept flowing after 64 rounds");
}

static void test_steer_engine_leaves_arp_to_the_owner(void **state)
{
	struct fx *fx = *state;
	struct stack *a = &fx->a.stk, *b = &fx->b.stk, *c = &fx->c.stk;

	/* no announcement from engine 1: engine 0 made it */
	assert_int_equal(c->txq.n, 0);
	a->txq.n = 0;                            /* b learns a's MAC by asking */
	pkb_free(a->cache, a->txq.pkb[0]);
	assert_true(tcp_connect(b->tcp, &b->tcp_env, B_IP, 0, A_IP, 80, fx->now) >= 0);
	exchange_steered(fx);
	/* a replied (and re-confirms b with a unicast probe of its own); c
	 * sent nothing, yet learned b from the request all the same */
	assert_true(a->stats.cnt[PROTO_CNT_ARP_OUT] >= 2);     /* announce + reply */
	assert_non_null(neigh_lookup(&b->neigh, A_IP));
	assert_int_equal(c->stats.cnt[PROTO_CNT_ARP_OUT], 0);
	assert_non_null(neigh_lookup(&c->neigh, B_IP));
}

static void test_steer_tcp_connection_lives_on_the_owner(void **state)
{
	struct fx *fx = *state;
	struct stack *a = &fx->a.stk, *b = &fx->b.stk, *c = &fx->c.stk;
	static char big[200000], got[200000];
	struct tcp_endpoint peer;
	uint32_t total = 0, queued = 0;
	int l, cn, s;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7 + 3);
	exchange_steered(fx);
	l = tcp_listen(a->tcp, &a->tcp_env, 0, 80, 8, 0);
	assert_true(l >= 0);
	cn = tcp_connect(b->tcp, &b->tcp_env, B_IP, 0, A_IP, 80, fx->now);
	assert_true(cn >= 0);
	exchange_steered(fx);
	s = tcp_accept(a->tcp, &a->tcp_env, (uint32_t)l, &peer);
	assert_true(s >= 0);
	assert_int_equal(peer.addr, B_IP);
	/* more than a window: every segment goes b -> c -> a, every ACK a -> b */
	for (int round = 0; round < 200 && total < sizeof(big); round++) {
		int sent = tcp_send(b->tcp, &b->tcp_env, (uint32_t)cn, big + queued,
				    sizeof(big) - queued, 0, fx->now);
		int r;

		assert_true(sent >= 0);
		queued += (uint32_t)sent;
		exchange_steered(fx);
		while ((r = tcp_recv(a->tcp, &a->tcp_env, (uint32_t)s, got + total,
				     sizeof(got) - total, 0, fx->now)) > 0)
			total += (uint32_t)r;
		exchange_steered(fx);   /* the window update */
	}
	assert_int_equal(total, sizeof(big));
	assert_memory_equal(got, big, sizeof(big));
	assert_true(c->stats.cnt[PROTO_CNT_STEERED] > 0);
	assert_int_equal(a->stats.cnt[PROTO_CNT_STEERED_IN], c->stats.cnt[PROTO_CNT_STEERED]);
	assert_int_equal(c->stats.drop[PROTO_DROP_TCP_NO_SOCKET], 0);
	assert_int_equal(tcp_conn_count(c->tcp), 0);
}

static void test_steer_udp_fragments_reassembled_then_steered(void **state)
{
	struct fx *fx = *state;
	struct stack *a = &fx->a.stk, *b = &fx->b.stk, *c = &fx->c.stk;
	static uint8_t payload[4000];
	const struct stack_event *ev;
	struct udp_tx tx = { .src = B_IP, .dst = A_IP, .sport = 5000, .dport = 9 };

	exchange_steered(fx);
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i ^ 0x5a);
	assert_true(udp_bind(&a->udp, 42, 0, 9, 0, 0) == 9);
	assert_int_equal(udp_output(b, &tx, payload, sizeof(payload), fx->now), 0);
	exchange_steered(fx);                    /* ARP, then three fragments to c */
	assert_int_equal(c->stats.cnt[PROTO_CNT_IP_REASM_OK], 1);
	assert_int_equal(c->stats.cnt[PROTO_CNT_STEERED], 1);
	assert_int_equal(a->evq.n, 1);
	ev = &a->evq.ev[0];
	assert_int_equal(ev->type, STACK_EV_UDP_RX);
	assert_int_equal(ev->sock_id, 42);
	assert_int_equal(ev->pkb->pkt_len, sizeof(payload));   /* data at the payload */
}

static void test_steer_broadcast_left_to_the_owner(void **state)
{
	struct fx *fx = *state;
	struct stack *a = &fx->a.stk, *b = &fx->b.stk, *c = &fx->c.stk;
	struct udp_tx tx = { .src = B_IP, .dst = 0x0a0000ffu, .sport = 5000, .dport = 9 };

	exchange_steered(fx);
	assert_true(udp_bind(&a->udp, 42, 0, 9, 0, 0) == 9);
	assert_int_equal(udp_output(b, &tx, "hi", 2, fx->now), 0);
	exchange_steered(fx);
	/* c's copy is let go; a's is delivered once */
	assert_int_equal(c->stats.drop[PROTO_DROP_BCAST_ELSEWHERE], 1);
	assert_int_equal(c->stats.cnt[PROTO_CNT_STEERED], 0);
	assert_int_equal(a->evq.n, 1);
	assert_int_equal(a->evq.ev[0].type, STACK_EV_UDP_RX);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_stack_init_rejects_bad_config),
		T(test_stack_init_announces_address),
		T(test_stack_tcp_handshake_and_data_through_ip),
		T(test_stack_tcp_without_tcp_counts_no_socket),
		T(test_stack_loopback_queue_is_bounded),
		T(test_stack_flush_returns_every_buffer),
		T(test_stack_next_deadline_covers_neighbour_retry),
		T(test_steer_engine_leaves_arp_to_the_owner),
		T(test_steer_tcp_connection_lives_on_the_owner),
		T(test_steer_udp_fragments_reassembled_then_steered),
		T(test_steer_broadcast_left_to_the_owner),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
