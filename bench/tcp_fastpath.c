/* bench/tcp_fastpath.c — TCP's fast path in isolation: two tcp_stacks in one
 * process joined by an in-memory queue, one sending N full segments of bulk
 * data to the other. Run under callgrind, the inclusive cost of tcp_input
 * and of tcp_xmit divided by their call counts gives instructions per
 * received segment and per sent segment:
 *
 *   valgrind --tool=callgrind --callgrind-out-file=cg.out build/bench/tcp_fastpath 20000
 *   callgrind_annotate --inclusive=yes cg.out | grep -E 'tcp_input|tcp_xmit'
 *
 * Plain runs print ns per segment (wall clock, noisy on a shared machine).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/tcp/tcp.h"

#define QMAX 4096u
#define A_ADDR 0x0a000001u
#define B_ADDR 0x0a000002u

struct wire {
	struct pkb *q[QMAX];
	uint32_t src[QMAX], dst[QMAX];
	uint32_t head, tail;
};

struct side {
	struct tcp_stack *ts;
	struct tcp_env env;
	struct wire *out;
};

static struct pkb_cache cache;
static uint64_t now = 1000000000ull;

static void output(void *ctx, struct pkb *seg, uint32_t saddr, uint32_t daddr, uint64_t t)
{
	struct wire *w = ctx;

	(void)t;
	if (w->tail - w->head >= QMAX) {
		pkb_free(&cache, seg);
		return;
	}
	w->q[w->tail % QMAX] = seg;
	w->src[w->tail % QMAX] = saddr;
	w->dst[w->tail % QMAX] = daddr;
	w->tail++;
}

/* Deliver everything queued on both wires until both are empty. */
static void pump(struct side *a, struct side *b)
{
	for (unsigned n = 0; n < 1000000; n++) {
		struct side *from = a->out->tail != a->out->head ? a :
				    b->out->tail != b->out->head ? b : NULL;
		struct side *to = from == a ? b : a;
		uint32_t i;

		if (!from)
			return;
		i = from->out->head++ % QMAX;
		tcp_input(to->ts, &to->env, from->out->q[i], from->out->src[i], from->out->dst[i], now);
	}
}

static struct tcp_stack *make_stack(void)
{
	struct tcp_config cfg;
	size_t bytes;
	void *mem;

	tcp_config_default(&cfg);
	cfg.max_conns = 4;
	cfg.sndbuf = cfg.rcvbuf = 1u << 20;
	cfg.timestamps = 0;    /* the common LAN case measured without; see docs/TCP.md */
	cfg.secret[0] = 1;
	bytes = tcp_stack_bytes(&cfg);
	mem = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
	return mem ? tcp_stack_format(mem, bytes, &cfg, now) : NULL;
}

int main(int argc, char **argv)
{
	static struct wire wa, wb;
	static uint8_t buf[1u << 16];
	struct pkb_pool pool;
	uint32_t n = argc > 1 ? (uint32_t)atoi(argv[1]) : 100000, got = 0;
	size_t pbytes = pkb_pool_bytes(4096, PKB_DEFAULT_BUFSIZE);
	void *pmem = aligned_alloc(64, (pbytes + 63) & ~(size_t)63);
	struct side a = { make_stack(), { &cache, &wa, output, NULL, NULL }, &wa };
	struct side b = { make_stack(), { &cache, &wb, output, NULL, NULL }, &wb };
	struct timespec t0, t1;
	int one = 1, l, ca, cb;

	if (!pmem || pkb_pool_format(&pool, pmem, pbytes, 4096, PKB_DEFAULT_BUFSIZE) < 0 || !a.ts || !b.ts)
		return 1;
	pkb_cache_init(&cache, &pool);
	l = tcp_listen(b.ts, &b.env, 0, 80, 16, 0);
	ca = tcp_connect(a.ts, &a.env, A_ADDR, 40000, B_ADDR, 80, now);
	pump(&a, &b);
	cb = tcp_accept(b.ts, &b.env, (uint32_t)l, NULL);
	if (l < 0 || ca < 0 || cb < 0)
		return fprintf(stderr, "handshake failed\n"), 1;
	tcp_setsockopt(a.ts, &a.env, (uint32_t)ca, TCP_SOCKOPT_NODELAY, &one, 4, now);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint32_t i = 0; i < n; i++) {
		int r;

		now += 1000;
		tcp_send(a.ts, &a.env, (uint32_t)ca, buf, 1460, 0, now);
		pump(&a, &b);
		while ((r = tcp_recv(b.ts, &b.env, (uint32_t)cb, buf, sizeof(buf), 0, now)) > 0)
			got += (uint32_t)r;
		pump(&a, &b);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
	printf("segments %u, bytes received %u, %.1f ns per segment (send+receive+ACKs)\n",
	       n, got, ns / n);
	return got == n * 1460u ? 0 : 2;
}
