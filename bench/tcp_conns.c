/* bench/tcp_conns.c — does TCP's connection table stay fast as it fills?
 *
 * One tcp_stack formatted for 131072 conns (4 KiB rings each way, so the
 * block is 1 GiB of address space of which only the TCBs and the hash are
 * touched). A wildcard listener on port 80 and a SO_REUSEPORT group of four
 * on 8080 take handshakes the bench plays with crafted segments (the peer's
 * SYN, our SYN-ACK read back from the output callback, the peer's ACK),
 * 1,000, then 10,000, then 100,000 conns. At each size it measures:
 *
 *   lookup   tcp_conn_lookup of a random established 4-tuple (the hash alone)
 *   ACK      tcp_input of an in-window pure ACK to a random established conn
 *            (checksum verified, lookup, RFC 9293 3.10.7.4 steps, no reply)
 *   burst    the same ACKs through tcp_input_burst, which fetches the
 *            buckets and TCBs of 16 segments into the cache before using them
 *   SYN/80   tcp_input of a SYN from a new 4-tuple to the wildcard listener:
 *            exact lookup misses, listener lookup, child TCB, SYN-ACK built
 *   SYN/rp   the same to the SO_REUSEPORT group (member picked by flow hash)
 *
 * Each figure is the median over rounds of the mean ns per call in a round
 * of 4096 prebuilt segments (wall clock: noisy on a shared machine; the
 * medians of a few runs agree within ~10%). The SYNs' children are reset
 * after each round, untimed. "flat" means the table costs the same per
 * packet at 100,000 conns as at 1,000, apart from the cache misses a working
 * set of 100,000 TCBs (552 bytes each) must take.
 *
 *   build/bench/tcp_conns [max_conns_to_reach]      (default 100000)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "proto/csum.h"
#include "proto/tcp/tcp_internal.h"

#define MAX_CONNS 131072u
#define BATCH     4096u
#define ROUNDS    25u
#define LADDR     0x0a000001u
#define PORT_WILD 80u
#define PORT_RP   8080u

struct peer {                   /* one established conn, as the peer sees it */
	uint32_t raddr;
	uint16_t rport;
	uint32_t conn, snd, rcv;    /* its next seq, and what it ACKs */
};

static struct pkb_cache cache;
static uint64_t now = 1000000000ull;
static struct { uint32_t seq, ack; uint8_t flags; } last_out;   /* the last segment sent */
static struct peer *peers;
static uint32_t npeers;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t xorshift(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double ns_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e9 + (double)(t1.tv_nsec - t0->tv_nsec);
}

static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Remember what TCP sent (the SYN-ACK's ISS) and free it. */
static void output(void *ctx, struct pkb *seg, uint32_t saddr, uint32_t daddr, uint64_t t)
{
	uint8_t h[TCP_HDR_LEN];

	(void)ctx; (void)saddr; (void)daddr; (void)t;
	if (pkb_copy_out(seg, 0, sizeof(h), h) == 0) {
		last_out.seq = rd32(h + TCP_OFF_SEQ);
		last_out.ack = rd32(h + TCP_OFF_ACK);
		last_out.flags = h[TCP_OFF_FLAGS];
	}
	pkb_free(&cache, seg);
}

/* A 20-byte segment from (raddr, rport) to (LADDR, dport), checksummed. */
static struct pkb *segment(uint32_t raddr, uint16_t rport, uint16_t dport, uint32_t seq,
			   uint32_t ack, uint8_t flags)
{
	struct pkb *b = pkb_alloc(&cache);
	uint8_t *h;
	uint16_t sum;

	if (!b || !(h = pkb_put(b, TCP_HDR_LEN))) {
		fprintf(stderr, "tcp_conns: out of pkbs\n");
		exit(1);
	}
	memset(h, 0, TCP_HDR_LEN);
	wr16(h + TCP_OFF_SPORT, rport);
	wr16(h + TCP_OFF_DPORT, dport);
	wr32(h + TCP_OFF_SEQ, seq);
	wr32(h + TCP_OFF_ACK, ack);
	h[TCP_OFF_DOFF] = 5 << 4;
	h[TCP_OFF_FLAGS] = flags;
	wr16(h + TCP_OFF_WND, 65535);
	sum = csum_fold(csum_partial(h, TCP_HDR_LEN,
				     csum_pseudo_ipv4(raddr, LADDR, TCP_IPPROTO, TCP_HDR_LEN)));
	memcpy(h + TCP_OFF_CSUM, &sum, 2);
	return b;
}

/* The i-th remote end: 16,384 ports on each of many addresses. */
static void remote(uint32_t i, uint32_t *raddr, uint16_t *rport)
{
	*raddr = 0x0b000000u + (i >> 14);
	*rport = (uint16_t)(1024u + (i & 0x3fffu));
}

/* Play one handshake to port 80 and accept the conn. Returns 0 or -1. */
static int establish(struct tcp_stack *ts, const struct tcp_env *env, uint32_t listener)
{
	struct peer *p = &peers[npeers];
	uint32_t irs = (uint32_t)xorshift();
	int c;

	remote(npeers, &p->raddr, &p->rport);
	tcp_input(ts, env, segment(p->raddr, p->rport, PORT_WILD, irs, 0, TH_SYN), p->raddr,
		  LADDR, now);
	if (last_out.flags != (TH_SYN | TH_ACK) || last_out.ack != irs + 1)
		return -1;
	p->snd = irs + 1;
	p->rcv = last_out.seq + 1;
	tcp_input(ts, env, segment(p->raddr, p->rport, PORT_WILD, p->snd, p->rcv, TH_ACK),
		  p->raddr, LADDR, now);
	if ((c = tcp_accept(ts, env, listener, NULL)) < 0)
		return -1;
	p->conn = (uint32_t)c;
	npeers++;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

/* ns per tcp_conn_lookup of a random established conn. */
static double time_lookup(struct tcp_stack *ts)
{
	static uint32_t pick[BATCH];
	double per[ROUNDS];
	uint32_t found = 0;

	for (unsigned r = 0; r < ROUNDS; r++) {
		struct timespec t0;

		for (unsigned i = 0; i < BATCH; i++)
			pick[i] = (uint32_t)(xorshift() % npeers);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (unsigned i = 0; i < BATCH; i++) {
			const struct peer *p = &peers[pick[i]];

			found += tcp_conn_lookup(ts, LADDR, PORT_WILD, p->raddr, p->rport) != NULL;
		}
		per[r] = ns_since(&t0) / BATCH;
	}
	if (found != ROUNDS * BATCH)
		fprintf(stderr, "tcp_conns: %u lookups failed\n", ROUNDS * BATCH - found);
	return median(per, ROUNDS);
}

/* ns per tcp_input of an in-window pure ACK to a random established conn. */
static double time_acks(struct tcp_stack *ts, const struct tcp_env *env)
{
	static struct pkb *b[BATCH];
	static uint32_t src[BATCH];
	double per[ROUNDS];

	for (unsigned r = 0; r < ROUNDS; r++) {
		struct timespec t0;

		for (unsigned i = 0; i < BATCH; i++) {
			const struct peer *p = &peers[xorshift() % npeers];

			b[i] = segment(p->raddr, p->rport, PORT_WILD, p->snd, p->rcv, TH_ACK);
			src[i] = p->raddr;
		}
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (unsigned i = 0; i < BATCH; i++)
			tcp_input(ts, env, b[i], src[i], LADDR, now);
		per[r] = ns_since(&t0) / BATCH;
	}
	return median(per, ROUNDS);
}

/* The same ACKs given to tcp_input_burst (TCP_BURST at a time). */
static double time_acks_burst(struct tcp_stack *ts, const struct tcp_env *env)
{
	static struct tcp_rx rx[BATCH];
	double per[ROUNDS];

	for (unsigned r = 0; r < ROUNDS; r++) {
		struct timespec t0;

		for (unsigned i = 0; i < BATCH; i++) {
			const struct peer *p = &peers[xorshift() % npeers];

			rx[i] = (struct tcp_rx){ segment(p->raddr, p->rport, PORT_WILD, p->snd,
							 p->rcv, TH_ACK), p->raddr, LADDR };
		}
		clock_gettime(CLOCK_MONOTONIC, &t0);
		tcp_input_burst(ts, env, rx, BATCH, now);
		per[r] = ns_since(&t0) / BATCH;
	}
	return median(per, ROUNDS);
}

/* ns per SYN from a new 4-tuple to dport; the children are reset after
 * each round (untimed), so the table keeps its size. */
static double time_syns(struct tcp_stack *ts, const struct tcp_env *env, uint16_t dport)
{
	static struct pkb *b[BATCH];
	static uint32_t src[BATCH];
	double per[ROUNDS];
	uint32_t before = tcp_conn_count(ts);

	for (unsigned r = 0; r < ROUNDS; r++) {
		struct timespec t0;
		uint16_t rport = (uint16_t)(20000 + r);

		for (unsigned i = 0; i < BATCH; i++) {
			src[i] = 0x0c000000u + i;
			b[i] = segment(src[i], rport, dport, 1000, 0, TH_SYN);
		}
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (unsigned i = 0; i < BATCH; i++)
			tcp_input(ts, env, b[i], src[i], LADDR, now);
		per[r] = ns_since(&t0) / BATCH;
		for (unsigned i = 0; i < BATCH; i++)   /* RST at RCV.NXT: the child goes */
			tcp_input(ts, env, segment(src[i], rport, dport, 1001, 0, TH_RST), src[i],
				  LADDR, now);
	}
	if (tcp_conn_count(ts) != before)
		fprintf(stderr, "tcp_conns: %u children left over\n", tcp_conn_count(ts) - before);
	return median(per, ROUNDS);
}

static struct tcp_stack *make_stack(size_t *bytes)
{
	struct tcp_config cfg;
	void *mem;

	tcp_config_default(&cfg);
	cfg.max_conns = MAX_CONNS;
	cfg.sndbuf = cfg.rcvbuf = 4096;
	cfg.syn_backlog = 8192;
	cfg.secret[0] = 0x0123456789abcdefull;
	cfg.secret[1] = 42;
	*bytes = tcp_stack_bytes(&cfg);
	mem = mmap(NULL, *bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (mem == MAP_FAILED)
		return NULL;
	madvise(mem, *bytes, MADV_HUGEPAGE);   /* as netd maps its regions, where it can */
	return tcp_stack_format(mem, *bytes, &cfg, now);
}

int main(int argc, char **argv)
{
	static const uint32_t sizes[] = { 1000, 10000, 100000 };
	uint32_t reach = argc > 1 ? (uint32_t)atoi(argv[1]) : 100000;
	size_t pbytes = pkb_pool_bytes(2 * BATCH + 256, 512), bytes;
	void *pmem = aligned_alloc(64, (pbytes + 63) & ~(size_t)63);
	struct tcp_stack *ts = make_stack(&bytes);
	struct tcp_env env = { .cache = &cache, .output = output };
	struct pkb_pool pool;
	int wild;

	peers = calloc(MAX_CONNS, sizeof(*peers));
	if (!pmem || !ts || !peers || reach > MAX_CONNS - 2 * BATCH ||
	    pkb_pool_format(&pool, pmem, pbytes, 2 * BATCH + 256, 512) < 0)
		return fprintf(stderr, "tcp_conns: set-up failed\n"), 1;
	pkb_cache_init(&cache, &pool);
	wild = tcp_listen(ts, &env, 0, PORT_WILD, 16, 0);
	for (unsigned i = 0; i < 4; i++)
		tcp_listen(ts, &env, 0, PORT_RP, 16, TCP_LISTEN_REUSEPORT);
	printf("tcp_conns: %zu MiB block, TCB %zu bytes, %u hash buckets, medians of %u x %u\n",
	       bytes >> 20, sizeof(struct tcb), ts->nbuckets, ROUNDS, BATCH);
	printf("%8s %10s %8s %10s %10s %10s %8s\n", "conns", "lookup ns", "ACK ns",
	       "ACK burst", "SYN/80 ns", "SYN/rp ns", "setup s");
	for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]) && sizes[s] <= reach; s++) {
		struct timespec t0;
		double setup;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		while (npeers < sizes[s])
			if (wild < 0 || establish(ts, &env, (uint32_t)wild) < 0)
				return fprintf(stderr, "tcp_conns: handshake %u failed\n", npeers), 1;
		setup = ns_since(&t0) / 1e9;
		printf("%8u %10.1f %8.1f %10.1f %10.1f %10.1f %8.2f\n", npeers, time_lookup(ts),
		       time_acks(ts, &env), time_acks_burst(ts, &env),
		       time_syns(ts, &env, PORT_WILD), time_syns(ts, &env, PORT_RP), setup);
		fflush(stdout);
	}
	return 0;
}
