/* bench/gro_bench.c — the receive path with and without GRO (proto/gro.h):
 * two whole stacks (eth, ARP, IPv4, TCP) in one process, A sending bulk
 * data to B in full segments as bench/tcp_fastpath does, B taking A's
 * frames in bursts of up to BURST (NETD_BURST is 32), either
 *
 *   off   one by one through stack_input (the path before GRO), or
 *   on    a burst at a time through stack_input_burst (merged).
 *
 * Frames cross a "wire" that clears the sender's PKB_F_CSUM_OK, so both
 * modes verify every checksum, as frames from nicd must be. B's receive
 * work (eth to TCP, the ACKs it builds) is all inside rx_burst(), so
 * callgrind counts exactly it:
 *
 *   valgrind --tool=callgrind --toggle-collect='rx_burst*' \
 *       --callgrind-out-file=cg.off build/bench/gro_bench off 20000 32
 *   (the same with `on`; the * catches gcc's rx_burst.constprop.0);
 *   instructions per segment = "Collected" / the frames it prints.
 *   Figures: docs/BENCHMARKS.md "GRO".
 *
 * Arguments: off|on [segments (20000)] [burst (32)] [ts: timestamps on];
 * none (`make bench`): off, then on, side by side. Plain runs print ns per
 * frame (wall clock of both sides, noisy on a shared machine).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/stack.h"

#define A_IP 0x0a000002u
#define B_IP 0x0a000003u
#define MSS 1460u
#define POOL_SLOTS 4096u

static struct pkb_pool pool;
static struct pkb_cache cache;
static uint64_t now = 1000000000000ull;

static struct tcp_stack *make_tcp(bool ts)
{
	struct tcp_config cfg;
	size_t bytes;
	void *mem;

	tcp_config_default(&cfg);
	cfg.max_conns = 4;
	cfg.sndbuf = cfg.rcvbuf = 1u << 20;
	cfg.timestamps = ts;    /* off by default, as bench/tcp_fastpath */
	cfg.secret[0] = 1;
	bytes = tcp_stack_bytes(&cfg);
	mem = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
	return mem ? tcp_stack_format(mem, bytes, &cfg, now) : NULL;
}

static int make_stack(struct stack *stk, uint32_t ip, uint8_t last, bool ts)
{
	struct stack_config cfg = { .mac = { 2, 0, 0, 0, 0, last }, .addr = ip,
				    .prefix_len = 24, .mtu = 1500, .secret = { last, 7 } };
	struct tcp_stack *tcp = make_tcp(ts);

	if (!tcp || stack_init(stk, &cfg, &cache, now) < 0) {
		free(tcp);
		return -1;
	}
	stack_attach_tcp(stk, tcp);
	return 0;
}

/* Take up to max frames `from` queued for the device, off the wire. */
static unsigned take_tx(struct stack *from, struct pkb **q, unsigned max)
{
	unsigned n = from->txq.n < max ? from->txq.n : max;

	memcpy(q, from->txq.pkb, n * sizeof(q[0]));
	memmove(from->txq.pkb, from->txq.pkb + n, (from->txq.n - n) * sizeof(q[0]));
	from->txq.n -= n;
	for (unsigned i = 0; i < n; i++)
		q[i]->flags &= (uint16_t)~PKB_F_CSUM_OK;
	return n;
}

static void drop_events(struct stack *stk)
{
	for (uint32_t i = 0; i < stk->evq.n; i++)
		pkb_free(&cache, stk->evq.ev[i].pkb);
	stk->evq.n = 0;
}

/* B's receive work for one burst: everything callgrind counts. */
__attribute__((noinline)) static void rx_burst(struct stack *b, struct pkb **q, unsigned n,
					       bool gro)
{
	if (gro) {
		stack_input_burst(b, q, n, now);
		return;
	}
	for (unsigned i = 0; i < n; i++)
		stack_input(b, q[i], now);
}

/* Move frames both ways until both sides are quiet; A's to B in bursts.
 * Returns the frames B took. */
static unsigned pump(struct stack *a, struct stack *b, unsigned burst, bool gro)
{
	struct pkb *q[STACK_TXQ_MAX];
	unsigned took = 0, n, m;

	do {
		while ((n = take_tx(a, q, burst)) > 0) {
			rx_burst(b, q, n, gro);
			took += n;
		}
		m = take_tx(b, q, STACK_TXQ_MAX);
		stack_input_burst(a, q, m, now);
		drop_events(a);
		drop_events(b);
	} while (m > 0 || a->txq.n > 0);
	return took;
}

static int connect_ab(struct stack *a, struct stack *b, uint32_t *ca, uint32_t *cb)
{
	int one = 1, l = tcp_listen(b->tcp, &b->tcp_env, 0, 80, 16, 0);
	int c = tcp_connect(a->tcp, &a->tcp_env, A_IP, 40000, B_IP, 80, now);
	int s;

	pump(a, b, 32, false);
	s = tcp_accept(b->tcp, &b->tcp_env, (uint32_t)l, NULL);
	if (l < 0 || c < 0 || s < 0)
		return -1;
	tcp_setsockopt(a->tcp, &a->tcp_env, (uint32_t)c, TCP_SOCKOPT_NODELAY, &one, 4, now);
	*ca = (uint32_t)c;
	*cb = (uint32_t)s;
	return 0;
}

static uint64_t tcp_cnt(const struct stack *stk, enum tcp_counter c)
{
	uint64_t v[TCP_CNT_NR];

	tcp_stats_read(stk->tcp, v, NULL);
	return v[c];
}

struct run_cfg {
	bool gro, ts;
	uint32_t segs, burst;
};

/* A's bulk data to B until B has read rc->segs full segments; prints the
 * figures and returns 0. a and b are connected (ca, cb). */
static int transfer(struct stack *a, struct stack *b, uint32_t ca, uint32_t cb,
		    const struct run_cfg *rc)
{
	static uint8_t buf[1u << 16];
	uint64_t got = 0, frames = 0, in0 = tcp_cnt(b, TCP_CNT_IN_SEGS);
	uint64_t out0 = tcp_cnt(b, TCP_CNT_OUT_SEGS);
	struct timespec t0, t1;
	double ns;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (got < (uint64_t)rc->segs * MSS) {
		now += 10000;
		tcp_send(a->tcp, &a->tcp_env, ca, buf, rc->burst * MSS, 0, now);
		frames += pump(a, b, rc->burst, rc->gro);
		while ((r = tcp_recv(b->tcp, &b->tcp_env, cb, buf, sizeof(buf), 0, now)) > 0)
			got += (uint64_t)r;
		pump(a, b, rc->burst, rc->gro);
		if (stack_next_deadline(a) <= now)
			stack_timers(a, now);
		if (stack_next_deadline(b) <= now)
			stack_timers(b, now);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
	printf("gro %s, burst %u%s: %llu frames to B, %llu bytes; TCP ran %llu times, sent %llu ACKs; "
	       "GRO %llu segments in, %llu out; %.1f ns per frame (whole run)\n",
	       rc->gro ? "on" : "off", rc->burst, rc->ts ? ", timestamps" : "",
	       (unsigned long long)frames, (unsigned long long)got,
	       (unsigned long long)(tcp_cnt(b, TCP_CNT_IN_SEGS) - in0),
	       (unsigned long long)(tcp_cnt(b, TCP_CNT_OUT_SEGS) - out0),
	       (unsigned long long)b->stats.cnt[PROTO_CNT_GRO_SEGS_IN],
	       (unsigned long long)b->stats.cnt[PROTO_CNT_GRO_SEGS_OUT], ns / (double)frames);
	return 0;
}

/* One run on a fresh pool and fresh stacks. Returns 0, or 1 on failure. */
static int run(const struct run_cfg *rc)
{
	static struct stack a, b;
	size_t pbytes = pkb_pool_bytes(POOL_SLOTS, PKB_DEFAULT_BUFSIZE);
	void *pmem = aligned_alloc(64, (pbytes + 63) & ~(size_t)63);
	uint32_t ca, cb;
	int err = 1;

	if (!pmem || pkb_pool_format(&pool, pmem, pbytes, POOL_SLOTS, PKB_DEFAULT_BUFSIZE) < 0)
		goto out;
	pkb_cache_init(&cache, &pool);
	a.tcp = b.tcp = NULL;
	if (make_stack(&a, A_IP, 1, rc->ts) < 0 || make_stack(&b, B_IP, 2, rc->ts) < 0)
		goto out_tcp;
	pump(&a, &b, 32, false);    /* the gratuitous ARPs: each learns the other's MAC */
	if (connect_ab(&a, &b, &ca, &cb) < 0) {
		fprintf(stderr, "handshake failed\n");
		goto out_tcp;
	}
	err = transfer(&a, &b, ca, cb, rc);
out_tcp:
	free(a.tcp);
	free(b.tcp);
out:
	free(pmem);
	return err;
}

int main(int argc, char **argv)
{
	struct run_cfg rc = { .gro = argc > 1 && strcmp(argv[1], "on") == 0,
			      .ts = argc > 4 && strcmp(argv[4], "ts") == 0,
			      .segs = argc > 2 ? (uint32_t)atoi(argv[2]) : 20000,
			      .burst = argc > 3 ? (uint32_t)atoi(argv[3]) : 32 };

	if (rc.burst == 0 || rc.burst * MSS > (1u << 16) || rc.segs == 0)
		return fprintf(stderr, "usage: gro_bench [off|on [segments] [burst <= 44] [ts]]\n"), 1;
	if (argc > 1)
		return run(&rc);
	/* `make bench`: both, side by side (wall clock: read the ratio) */
	rc.gro = false;
	if (run(&rc))
		return 1;
	rc.gro = true;
	return run(&rc);
}
