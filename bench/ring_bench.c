/* bench/ring_bench.c — ringstack's SPSC ring against DPDK's rte_ring (SP/SC)
 * and Concurrency Kit's ck_ring (spsc), side by side in one run.
 *
 * A producer thread on one core and a consumer thread on another move
 * descriptors carrying a sequence number through each ring; the consumer
 * checks the sequence. Each configuration (descriptor size 8 or 16 bytes,
 * burst 1, 8 or 32) runs several times, the three rings interleaved so that
 * the machine's noise falls on all of them alike; the table shows the median
 * in millions of descriptors per second and our ratio to each.
 *
 * Both ours and rte_ring use their all-or-nothing bulk calls. ck_ring has no
 * bulk API: its "burst" is a loop of one-element calls (this is said in the
 * output). rte_ring is set up with rte_ring_init() on memory allocated here,
 * which needs no EAL initialisation. All rings have 1024 slots (rte_ring and
 * ck_ring can use 1023 of them, ours 1024).
 *
 * Usage: ring_bench [runs] [descriptors-per-run]   (defaults 5, 2^22)
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <ck_ring.h>

#include "shm/ring.h"

#define SLOTS        1024u
#define MAX_BURST    32u
#define MAX_RUNS     15
#define RUN_LIMIT_NS (10ull * 1000000000ull)  /* a run that takes longer has hung */
#define SPIN_CHECK   4096u                    /* failed tries between clock reads */

enum impl { IMPL_OURS, IMPL_RTE, IMPL_CK, IMPL_COUNT };
static const char *const impl_name[IMPL_COUNT] = { "ours", "rte_ring", "ck_ring" };

struct d8 { uint64_t seq; };
struct d16 { uint64_t seq; uint64_t tag; };
CK_RING_PROTOTYPE(d8, d8)
CK_RING_PROTOTYPE(d16, d16)

/* One run: the rings (only the one for impl is used), the knobs, and the
 * start flag and results the threads share. */
struct job {
	struct ring_prod prod;
	struct ring_cons cons;
	struct rte_ring *rte;
	_Alignas(128) struct ck_ring ck;  /* its own lines, as ours and rte_ring have */
	_Alignas(128) void *ck_buf;        /* read-only knobs from here on */
	enum impl impl;
	unsigned esize;
	unsigned burst;
	uint64_t total;
	_Alignas(128) atomic_int ready;     /* threads spinning on go */
	atomic_int go;
	atomic_int failed;                  /* a thread hit RUN_LIMIT_NS */
	uint64_t t_end;                     /* consumer: time the last descriptor arrived */
	uint64_t errors;                    /* consumer: out-of-sequence descriptors */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* Called on every failed try; every SPIN_CHECK tries looks at the clock and
 * returns false once the run is over its time limit (or the peer gave up). */
static inline bool spin_ok(struct job *j, unsigned *tries, uint64_t t0)
{
	__builtin_ia32_pause();
	if (++*tries % SPIN_CHECK != 0)
		return true;
	if (atomic_load_explicit(&j->failed, memory_order_relaxed))
		return false;
	if (now_ns() - t0 > RUN_LIMIT_NS) {
		atomic_store(&j->failed, 1);
		return false;
	}
	return true;
}

/* One bulk (or ck's loop of singles) enqueue of n descriptors; returns the
 * number enqueued. impl and esize are constants at every call site. */
static inline __attribute__((always_inline)) unsigned
q_enqueue(struct job *j, enum impl impl, unsigned esize, const void *objs, unsigned n)
{
	unsigned i = 0;

	switch (impl) {
	case IMPL_OURS:
		return ring_enqueue_bulk_elem(&j->prod, objs, esize, n);
	case IMPL_RTE:
		return rte_ring_sp_enqueue_bulk_elem(j->rte, objs, esize, n, NULL);
	default:
		for (; i < n; i++) {
			bool ok = esize == 8
				? ck_ring_enqueue_spsc_d8(&j->ck, j->ck_buf, (struct d8 *)objs + i)
				: ck_ring_enqueue_spsc_d16(&j->ck, j->ck_buf, (struct d16 *)objs + i);
			if (!ok)
				break;
		}
		return i;
	}
}

static inline __attribute__((always_inline)) unsigned
q_dequeue(struct job *j, enum impl impl, unsigned esize, void *objs, unsigned n)
{
	unsigned i = 0;

	switch (impl) {
	case IMPL_OURS:
		return ring_dequeue_bulk_elem(&j->cons, objs, esize, n);
	case IMPL_RTE:
		return rte_ring_sc_dequeue_bulk_elem(j->rte, objs, esize, n, NULL);
	default:
		for (; i < n; i++) {
			bool ok = esize == 8
				? ck_ring_dequeue_spsc_d8(&j->ck, j->ck_buf, (struct d8 *)objs + i)
				: ck_ring_dequeue_spsc_d16(&j->ck, j->ck_buf, (struct d16 *)objs + i);
			if (!ok)
				break;
		}
		return i;
	}
}

/* Waits (bounded) for main's go; false if it never came. */
static bool wait_go(struct job *j)
{
	uint64_t t0 = now_ns();
	unsigned tries = 0;

	atomic_fetch_add(&j->ready, 1);
	while (!atomic_load_explicit(&j->go, memory_order_acquire))
		if (!spin_ok(j, &tries, t0))
			return false;
	return true;
}

/* The producer loop: fill a burst with the next sequence numbers, push it
 * (ck may take part of it), repeat until total descriptors are sent. */
static inline __attribute__((always_inline)) void
produce(struct job *j, enum impl impl, unsigned esize)
{
	_Alignas(64) struct d16 buf[MAX_BURST];
	uint64_t seq = 0, t0 = now_ns();
	unsigned b = j->burst, tries = 0;

	while (seq < j->total) {
		for (unsigned i = 0; i < b; i++) {
			if (esize == 8)
				((struct d8 *)buf)[i].seq = seq + i;
			else
				buf[i] = (struct d16){ seq + i, ~(seq + i) };
		}
		for (unsigned done = 0; done < b;) {
			unsigned n = q_enqueue(j, impl, esize, (uint8_t *)buf + done * esize, b - done);
			done += n;
			if (n == 0 && !spin_ok(j, &tries, t0))
				return;
		}
		seq += b;
	}
}

/* The consumer loop: pull bursts and check every sequence number. */
static inline __attribute__((always_inline)) void
consume(struct job *j, enum impl impl, unsigned esize)
{
	_Alignas(64) struct d16 buf[MAX_BURST];
	uint64_t seq = 0, errors = 0, t0 = now_ns();
	unsigned tries = 0;

	while (seq < j->total) {
		unsigned n = q_dequeue(j, impl, esize, buf, j->burst);
		if (n == 0 && !spin_ok(j, &tries, t0))
			break;
		for (unsigned i = 0; i < n; i++, seq++) {
			uint64_t v = esize == 8 ? ((struct d8 *)buf)[i].seq : buf[i].seq;
			errors += v != seq;
		}
	}
	j->t_end = now_ns();
	j->errors = errors;
}

/* One instantiation per (ring, size), so impl and esize fold to constants. */
#define INSTANTIATE(IMPL, ES)                                             \
	static void produce_##IMPL##_##ES(struct job *j) { produce(j, IMPL, ES); } \
	static void consume_##IMPL##_##ES(struct job *j) { consume(j, IMPL, ES); }
INSTANTIATE(IMPL_OURS, 8)
INSTANTIATE(IMPL_OURS, 16)
INSTANTIATE(IMPL_RTE, 8)
INSTANTIATE(IMPL_RTE, 16)
INSTANTIATE(IMPL_CK, 8)
INSTANTIATE(IMPL_CK, 16)

typedef void (*loop_fn)(struct job *);
static const loop_fn producers[IMPL_COUNT][2] = {
	{ produce_IMPL_OURS_8, produce_IMPL_OURS_16 },
	{ produce_IMPL_RTE_8, produce_IMPL_RTE_16 },
	{ produce_IMPL_CK_8, produce_IMPL_CK_16 },
};
static const loop_fn consumers[IMPL_COUNT][2] = {
	{ consume_IMPL_OURS_8, consume_IMPL_OURS_16 },
	{ consume_IMPL_RTE_8, consume_IMPL_RTE_16 },
	{ consume_IMPL_CK_8, consume_IMPL_CK_16 },
};

static void *producer_main(void *arg)
{
	struct job *j = arg;

	pin(0);
	if (wait_go(j))
		producers[j->impl][j->esize == 16](j);
	return NULL;
}

static void *consumer_main(void *arg)
{
	struct job *j = arg;

	pin(1);
	if (wait_go(j))
		consumers[j->impl][j->esize == 16](j);
	return NULL;
}

/* Fresh rings for one run: every run starts from empty, cold-ish rings. */
static int job_setup(struct job *j, void *mem_ours, void *mem_rte, void *mem_ck)
{
	size_t bytes = ring_bytes(SLOTS, j->esize);

	if (ring_init(mem_ours, SLOTS, j->esize) != 0 ||
	    ring_prod_attach(&j->prod, mem_ours, bytes, SLOTS, j->esize) != 0 ||
	    ring_cons_attach(&j->cons, mem_ours, bytes, SLOTS, j->esize) != 0)
		return -EINVAL;
	j->rte = mem_rte;
	if (rte_ring_init(j->rte, "bench", SLOTS, RING_F_SP_ENQ | RING_F_SC_DEQ) != 0)
		return -EINVAL;
	ck_ring_init(&j->ck, SLOTS);
	j->ck_buf = mem_ck;
	return 0;
}

/* Runs one (ring, size, burst) once; returns Mdesc/s, or -1 on failure. */
static double run_once(struct job *j)
{
	pthread_t pt, ct;
	uint64_t t0;

	atomic_store(&j->ready, 0);
	atomic_store(&j->go, 0);
	atomic_store(&j->failed, 0);
	j->errors = 0;
	if (pthread_create(&ct, NULL, consumer_main, j) != 0)
		return -1;
	if (pthread_create(&pt, NULL, producer_main, j) != 0) {
		atomic_store(&j->failed, 1);
		pthread_join(ct, NULL);
		return -1;
	}
	for (int i = 0; i < 1000 && atomic_load(&j->ready) < 2; i++)
		usleep(1000);
	t0 = now_ns();
	/* Release: pairs with the acquire load of go in wait_go(). */
	atomic_store_explicit(&j->go, 1, memory_order_release);
	pthread_join(pt, NULL);
	pthread_join(ct, NULL);
	if (atomic_load(&j->failed) || j->errors != 0) {
		fprintf(stderr, "ring_bench: %s esize %u burst %u: %s\n", impl_name[j->impl],
			j->esize, j->burst, j->errors ? "sequence errors" : "timed out");
		return -1;
	}
	return (double)j->total * 1e3 / (double)(j->t_end - t0);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Runs every ring `runs` times for one (size, burst), interleaved, and
 * prints one table row. Returns 0, or -1 if any run failed. */
static int bench_row(struct job *j, void *mem[3], int runs, int *below_target)
{
	double mops[IMPL_COUNT][MAX_RUNS], med[IMPL_COUNT];

	for (int r = 0; r < runs; r++) {
		for (int i = 0; i < IMPL_COUNT; i++) {
			j->impl = (enum impl)i;
			if (job_setup(j, mem[0], mem[1], mem[2]) != 0 ||
			    (mops[i][r] = run_once(j)) < 0)
				return -1;
			usleep(2000);   /* let the kernel's threads run between runs */
		}
	}
	for (int i = 0; i < IMPL_COUNT; i++)
		med[i] = median(mops[i], runs);
	printf("%5u %5u %9.1f %9.1f %9.1f %9.2fx %8.2fx\n", j->esize, j->burst,
	       med[IMPL_OURS], med[IMPL_RTE], med[IMPL_CK],
	       med[IMPL_OURS] / med[IMPL_RTE], med[IMPL_OURS] / med[IMPL_CK]);
	fflush(stdout);
	*below_target += med[IMPL_OURS] < med[IMPL_RTE];
	return 0;
}

int main(int argc, char **argv)
{
	static const unsigned sizes[] = { 8, 16 }, bursts[] = { 1, 8, 32 };
	int runs = argc > 1 ? atoi(argv[1]) : 5, below = 0, rc = 0;
	uint64_t total = argc > 2 ? strtoull(argv[2], NULL, 0) : (1ull << 22);
	struct job *j = aligned_alloc(128, sizeof(*j));
	void *mem[3];

	if (runs < 1 || runs > MAX_RUNS || total == 0 || total % MAX_BURST != 0 || j == NULL) {
		fprintf(stderr, "usage: ring_bench [runs 1..%d] [descriptors, a multiple of %u]\n",
			MAX_RUNS, MAX_BURST);
		return 2;
	}
	memset(j, 0, sizeof(*j));
	j->total = total;
	mem[0] = aligned_alloc(128, ring_bytes(SLOTS, 16));
	mem[1] = aligned_alloc(128, (size_t)rte_ring_get_memsize_elem(16, SLOTS));
	mem[2] = aligned_alloc(128, SLOTS * sizeof(struct d16));
	printf("ring_bench: SPSC rings of %u slots, producer on CPU 0, consumer on CPU 1,\n"
	       "%llu descriptors per run, median of %d runs, millions of descriptors/s.\n"
	       "ours and rte_ring use bulk calls; ck_ring has no bulk API, so its burst\n"
	       "is a loop of single-element ck_ring_enqueue/dequeue_spsc calls.\n\n",
	       SLOTS, (unsigned long long)total, runs);
	printf("esize burst      ours  rte_ring   ck_ring   ours/rte   ours/ck\n");
	for (unsigned s = 0; s < 2 && rc == 0; s++) {
		for (unsigned b = 0; b < 3 && rc == 0; b++) {
			j->esize = sizes[s];
			j->burst = bursts[b];
			rc = bench_row(j, mem, runs, &below);
		}
	}
	if (rc == 0)
		printf("\ntarget ours >= 1.0x rte_ring at every size and burst: %s\n",
		       below ? "NOT MET" : "met");
	free(mem[0]);
	free(mem[1]);
	free(mem[2]);
	free(j);
	return rc == 0 ? 0 : 1;
}
