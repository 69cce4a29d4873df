/* bench/doorbell_bench.c — one-way wake-up latency of a doorbell, and the
 * producer's cost of a ring that is suppressed.
 *
 * A consumer process on CPU 1 sleeps on the doorbell; a producer process on
 * CPU 0 waits until the consumer has announced itself (and a little longer,
 * so that it is really in the kernel), stamps CLOCK_MONOTONIC into shared
 * memory and rings. The woken consumer records now - stamp into a struct hist
 * (shm/hist.h) in the same shared mapping. Both the futex form and the
 * eventfd form (consumer in ppoll) are measured, and as a reference a consumer
 * blocked in read() on a pipe, paced the same way: waking an idle core costs
 * what it costs, and the reference shows how much of it is ours. Then the
 * producer's cost of
 * doorbell_ring() with nobody asleep: the price notify suppression pays
 * instead of a syscall.
 *
 * Usage: doorbell_bench [samples]   (default 3000)
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm/doorbell.h"
#include "shm/hist.h"

#define WAIT_LIMIT_NS  (1000000000ll)   /* a consumer wait longer than this is a lost wake-up */
#define SETTLE_NS      50000l           /* after the announcement: let it reach the kernel */
#define SUPPRESSED_N   10000000u

/* Shared between the two processes (MAP_SHARED, set up before fork). */
struct shared {
	struct doorbell db;
	struct hist lat;                 /* consumer: wake-up latencies */
	_Alignas(64) _Atomic uint64_t stamp;   /* producer: time of the ring */
	_Atomic uint64_t seq;            /* producer: sample number published */
	_Atomic uint64_t lost;           /* consumer: waits that timed out */
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
	sched_setaffinity(0, sizeof(set), &set);
}

enum form { FORM_FUTEX, FORM_EVENTFD, FORM_PIPE };

/* The reference consumer: block in read() on the pipe, record the latency. */
static int consumer_pipe(struct shared *sh, unsigned samples, int rfd)
{
	uint64_t v;

	for (unsigned i = 0; i < samples; i++) {
		if (read(rfd, &v, sizeof(v)) != (ssize_t)sizeof(v))
			return 1;
		hist_record(&sh->lat, now_ns() - atomic_load(&sh->stamp));
	}
	return 0;
}

/* The consumer: for each sample, announce, re-check, sleep; on waking,
 * record how long ago the producer stamped. efd < 0: futex form. */
static int consumer(struct shared *sh, unsigned samples, int efd)
{
	uint64_t seen = 0;

	while (seen < samples) {
		uint32_t tok = doorbell_prepare_wait(&sh->db);
		int rc;

		/* Acquire: pairs with the producer's release store of seq. */
		if (atomic_load_explicit(&sh->seq, memory_order_acquire) != seen) {
			doorbell_cancel_wait(&sh->db, tok);
		} else {
			rc = efd < 0 ? doorbell_wait(&sh->db, tok, WAIT_LIMIT_NS)
				     : doorbell_wait_eventfd(&sh->db, tok, efd, WAIT_LIMIT_NS);
			if (rc == -ETIMEDOUT && atomic_fetch_add(&sh->lost, 1) > 3)
				return 1;
		}
		if (atomic_load_explicit(&sh->seq, memory_order_acquire) == seen + 1) {
			hist_record(&sh->lat, now_ns() - atomic_load(&sh->stamp));
			seen++;
		}
	}
	return 0;
}

/* Waits (bounded) until the consumer has announced itself (the pipe's
 * consumer cannot say: assume it), then a little more so it is in the kernel. */
static void await_sleeper(struct shared *sh, enum form form)
{
	struct timespec settle = { 0, SETTLE_NS }, tick = { 0, 20000 };
	uint64_t t0 = now_ns();

	while (form != FORM_PIPE && doorbell_waiters(&sh->db) == 0 &&
	       now_ns() - t0 < (uint64_t)WAIT_LIMIT_NS)
		nanosleep(&tick, NULL);
	nanosleep(&settle, NULL);
}

/* fd: the eventfd, or the pipe's write end; unused for the futex form. */
static void producer(struct shared *sh, unsigned samples, enum form form, int fd)
{
	for (uint64_t i = 1; i <= samples; i++) {
		await_sleeper(sh, form);
		atomic_store_explicit(&sh->stamp, now_ns(), memory_order_relaxed);
		/* Release: pairs with the consumer's acquire load of seq; the
		 * stamp above is visible once the new seq is. */
		atomic_store_explicit(&sh->seq, i, memory_order_release);
		if (form == FORM_FUTEX)
			doorbell_ring(&sh->db);
		else if (form == FORM_EVENTFD)
			doorbell_ring_eventfd(&sh->db, fd);
		else if (write(fd, &i, sizeof(i)) != (ssize_t)sizeof(i))
			break;
	}
}

static int consumer_main(struct shared *sh, unsigned samples, enum form form, int fd)
{
	pin(1);
	if (form == FORM_PIPE)
		return consumer_pipe(sh, samples, fd);
	return consumer(sh, samples, form == FORM_EVENTFD ? fd : -1);
}

/* One form: fork the consumer, produce, reap, print a row. For the pipe
 * form, fds are the pipe's two ends; else fds[0] is the eventfd. */
static int run_form(struct shared *sh, unsigned samples, const char *name,
		    enum form form, const int fds[2])
{
	struct hist_snap snap;
	char row[256];
	int status = 0;
	pid_t pid;

	memset(sh, 0, sizeof(*sh));
	if (doorbell_init(&sh->db) != 0)
		return -1;
	hist_init(&sh->lat);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(consumer_main(sh, samples, form, fds[0]));
	pin(0);
	producer(sh, samples, form, form == FORM_PIPE ? fds[1] : fds[0]);
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || hist_snapshot(&sh->lat, &snap) != 0)
		return -1;
	hist_format(&snap, row, sizeof(row));
	printf("%-8s %s", name, row);
	if (form != FORM_PIPE)
		printf("  (doorbell wakes %llu, lost %llu)", (unsigned long long)doorbell_wakes(&sh->db),
		       (unsigned long long)sh->lost);
	printf("\n");
	return 0;
}

/* ns per doorbell_ring() when nobody is waiting: a fence, a load, a count. */
static void run_suppressed(struct shared *sh)
{
	uint64_t t0;

	doorbell_init(&sh->db);
	pin(0);
	t0 = now_ns();
	for (unsigned i = 0; i < SUPPRESSED_N; i++)
		doorbell_ring(&sh->db);
	printf("suppressed doorbell_ring (nobody asleep): %.1f ns each, %llu suppressed, %llu wakes\n",
	       (double)(now_ns() - t0) / SUPPRESSED_N,
	       (unsigned long long)doorbell_suppressed(&sh->db),
	       (unsigned long long)doorbell_wakes(&sh->db));
}

int main(int argc, char **argv)
{
	unsigned samples = argc > 1 ? (unsigned)atoi(argv[1]) : 3000;
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int efd[2] = { eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), -1 }, pfd[2], rc = 0;

	if (sh == MAP_FAILED || efd[0] < 0 || pipe(pfd) != 0 || samples == 0) {
		fprintf(stderr, "doorbell_bench: setup failed (%s)\n", strerror(errno));
		return 1;
	}
	printf("doorbell_bench: one-way wake-up latency, producer on CPU 0 rings a consumer\n"
	       "asleep on CPU 1 (separate processes), %u samples, log-linear histogram (shm/hist.h).\n"
	       "pipe: the same measurement with the consumer blocked in read(), for reference.\n\n",
	       samples);
	if (run_form(sh, samples, "futex", FORM_FUTEX, efd) != 0 ||
	    run_form(sh, samples, "eventfd", FORM_EVENTFD, efd) != 0 ||
	    run_form(sh, samples, "pipe", FORM_PIPE, pfd) != 0) {
		fprintf(stderr, "doorbell_bench: a consumer failed (lost wake-ups?)\n");
		rc = 1;
	}
	run_suppressed(sh);
	close(efd[0]);
	close(pfd[0]);
	close(pfd[1]);
	munmap(sh, sizeof(*sh));
	return rc;
}
