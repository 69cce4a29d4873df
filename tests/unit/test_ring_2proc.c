/* tests/unit/test_ring_2proc.c — a ring and a doorbell across two processes.
 *
 * The parent makes a memfd holding a doorbell and a ring, forks, and consumes;
 * the child maps the memfd a second time (so it works at another address than
 * the parent's) and produces 50 million descriptors carrying a sequence
 * number. The parent checks none is lost, duplicated or reordered. The second
 * test does the same with the consumer sleeping on the doorbell whenever the
 * ring runs dry, and a producer that pauses between trains of descriptors so
 * that it really does sleep; it asserts that it slept, that no wait timed out
 * (a lost wake-up), and that the producer made at most one wake-up syscall per
 * announcement, suppressing the rest.
 *
 * Both sides bound every wait by a deadline, so a lost wake-up or a dead peer
 * fails the test instead of hanging it; the parent reaps the child (killing
 * it after a deadline) and checks its exit status.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "shm/doorbell.h"
#include "shm/ring.h"

#define TOTAL        50000000ull           /* descriptors per test */
#define SLOTS        4096u
#define BURST        32u                   /* producer burst; the consumer takes up to 2x */
#define TRAIN        65536u                /* doorbell test: descriptors between pauses (a multiple of BURST) */
#define PAUSE_NS     200000l               /* ... and the pause */
#define DEADLINE_NS  (9ull * 1000000000ull) /* each side, per test (~1 s when idle) */
#define SPIN_NS      30000ull              /* consumer polls this long before it sleeps:
					      * longer than a wake syscall, or the two
					      * sides fall into a sleep/wake cycle */
#define WAKE_LIMIT_NS 1000000000ll         /* a sleep this long is a lost wake-up */
#define DB_OFF       0u
#define RING_OFF     DOORBELL_SIZE         /* 384: 64-byte aligned */

enum { CHILD_OK = 0, CHILD_MAP = 10, CHILD_ATTACH, CHILD_TIMEOUT };

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Best effort: run on `cpu` alone, so that producer and consumer do not end
 * up sharing one core on a loaded machine (then each wake-up preempts the
 * other side and the test crawls). Failure (one CPU, a cpuset) is fine. */
static void pin_to(int cpu)
{
	cpu_set_t set;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	(void)sched_setaffinity(0, sizeof(set), &set);
}

static size_t shm_bytes(uint32_t esize)
{
	return RING_OFF + ring_bytes(SLOTS, esize);
}

/* A memfd-backed shared mapping with a doorbell and an empty ring. */
static uint8_t *shm_create(int *fd, uint32_t esize)
{
	size_t bytes = shm_bytes(esize);
	uint8_t *mem;

	*fd = memfd_create("test_ring_2proc", MFD_CLOEXEC);
	assert_true(*fd >= 0);
	assert_int_equal(ftruncate(*fd, (off_t)bytes), 0);
	mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	assert_true(mem != MAP_FAILED);
	assert_int_equal(doorbell_init((struct doorbell *)(mem + DB_OFF)), 0);
	assert_int_equal(ring_init(mem + RING_OFF, SLOTS, esize), 0);
	return mem;
}

/* Bounded back-off for a producer facing a full ring: spin a little, then
 * give the core away. Returns false once the deadline has passed. */
static bool producer_backoff(unsigned *tries, uint64_t deadline)
{
	if (++*tries % 64 != 0) {
		__builtin_ia32_pause();
		return true;
	}
	sched_yield();
	return now_ns() < deadline;
}

/* The child: maps the memfd again (another address), attaches the producer
 * view and sends TOTAL descriptors {seq, ~seq}. With ring_db, it rings the
 * doorbell after every burst and pauses between trains. Returns an exit code. */
static int child_produce(int fd, uint32_t esize, bool ring_db)
{
	size_t bytes = shm_bytes(esize);
	uint8_t *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	struct ring_prod *p = aligned_alloc(128, sizeof(*p));
	uint64_t buf[BURST * 2], seq = 0, deadline = now_ns() + DEADLINE_NS;
	struct timespec pause = { 0, PAUSE_NS };
	struct doorbell *db;
	unsigned tries = 0;

	if (mem == MAP_FAILED || p == NULL)
		return CHILD_MAP;
	db = (struct doorbell *)(mem + DB_OFF);
	if (doorbell_validate(db) != 0 ||
	    ring_prod_attach(p, mem + RING_OFF, bytes - RING_OFF, SLOTS, esize) != 0)
		return CHILD_ATTACH;
	while (seq < TOTAL) {
		unsigned n = 0, want = BURST;
		for (unsigned i = 0; i < BURST; i++) {
			if (esize == 8) {
				buf[i] = seq + i;
			} else {
				buf[2 * i] = seq + i;
				buf[2 * i + 1] = ~(seq + i);
			}
		}
		while (n < want) {
			unsigned k = esize == 8
				? ring_enqueue_burst_u64(p, buf + n, want - n)
				: ring_enqueue_burst_u128(p, (struct ring_u128 *)buf + n, want - n);
			if (k > 0 && ring_db)
				doorbell_ring(db);
			n += k;
			if (k == 0 && !producer_backoff(&tries, deadline))
				return CHILD_TIMEOUT;
		}
		seq += BURST;
		if (ring_db && seq % TRAIN == 0)
			nanosleep(&pause, NULL);
	}
	return CHILD_OK;
}

static pid_t fork_producer(int fd, uint32_t esize, bool ring_db)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pin_to(0);
		_exit(child_produce(fd, esize, ring_db));
	}
	return pid;
}

/* Waits (bounded) for the child and returns its wait status; kills it if it
 * is still running at the deadline. */
static int reap(pid_t pid, uint64_t deadline)
{
	struct timespec ms = { 0, 1000000 };
	int status = 0;

	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
		nanosleep(&ms, NULL);
	}
	return status;
}

/* What the consumer saw. */
struct tally {
	uint64_t received;
	uint64_t bad;          /* descriptors out of sequence */
	uint64_t announces;    /* doorbell_prepare_wait() calls */
	uint64_t sleeps;       /* doorbell waits that went to the kernel */
	uint64_t timeouts;     /* ... that timed out: a lost wake-up */
	bool timed_out;
};

/* Checks a burst of n descriptors against the running sequence. */
static void check_burst(struct tally *t, const uint64_t *buf, unsigned n, uint32_t esize)
{
	for (unsigned i = 0; i < n; i++, t->received++) {
		uint64_t seq = esize == 8 ? buf[i] : buf[2 * i];
		bool ok = seq == t->received && (esize == 8 || buf[2 * i + 1] == ~seq);
		t->bad += !ok;
	}
}

/* Idle consumer with a doorbell: poll for SPIN_NS since the ring ran dry
 * (*idle_since, 0 while busy), then announce, re-check and sleep. Returns
 * false past the deadline. */
static bool consumer_idle(struct ring_cons *c, struct doorbell *db, struct tally *t,
			  uint64_t *idle_since, uint64_t deadline)
{
	uint64_t now = now_ns();
	uint32_t tok;

	if (*idle_since == 0)
		*idle_since = now;
	if (now - *idle_since < SPIN_NS) {
		__builtin_ia32_pause();
		return true;
	}
	*idle_since = 0;
	t->announces++;
	tok = doorbell_prepare_wait(db);
	if (!ring_cons_empty(c)) {                 /* the re-check */
		doorbell_cancel_wait(db, tok);
		return true;
	}
	t->sleeps++;
	/* The producer never pauses for more than PAUSE_NS, so a wait that
	 * times out was not woken when it should have been. */
	if (doorbell_wait(db, tok, WAKE_LIMIT_NS) == -ETIMEDOUT)
		t->timeouts++;
	return now_ns() < deadline;
}

/* Idle consumer without a doorbell: spin, then yield, within the deadline. */
static bool consumer_spin(uint64_t *polls, uint64_t deadline)
{
	if (++*polls % 64 != 0) {
		__builtin_ia32_pause();
		return true;
	}
	sched_yield();
	return now_ns() < deadline;
}

static void consume(uint8_t *mem, uint32_t esize, bool use_db, struct tally *t)
{
	struct ring_cons *c = aligned_alloc(128, sizeof(*c));
	struct doorbell *db = (struct doorbell *)(mem + DB_OFF);
	uint64_t buf[BURST * 2 * 2], deadline = now_ns() + DEADLINE_NS;
	uint64_t idle = 0;     /* consumer_idle: dry since; consumer_spin: polls */

	assert_non_null(c);
	assert_int_equal(ring_cons_attach(c, mem + RING_OFF, shm_bytes(esize) - RING_OFF,
					  SLOTS, esize), 0);
	while (t->received < TOTAL && t->bad == 0) {
		unsigned n = esize == 8
			? ring_dequeue_burst_u64(c, buf, BURST * 2)
			: ring_dequeue_burst_u128(c, (struct ring_u128 *)buf, BURST * 2);
		if (n > 0) {
			check_burst(t, buf, n, esize);
			idle = 0;
			continue;
		}
		if (!(use_db ? consumer_idle(c, db, t, &idle, deadline)
			     : consumer_spin(&idle, deadline))) {
			t->timed_out = true;
			break;
		}
	}
	assert_false(ring_cons_corrupt(c));
	assert_true(ring_cons_empty(c));
	free(c);
}

static void run_2proc(uint32_t esize, bool use_db, struct tally *t, struct doorbell *db_out)
{
	int fd, status;
	uint8_t *mem = shm_create(&fd, esize);
	uint64_t t0 = now_ns();
	pid_t pid = fork_producer(fd, esize, use_db);
	cpu_set_t saved;

	sched_getaffinity(0, sizeof(saved), &saved);
	pin_to(1);
	consume(mem, esize, use_db, t);
	sched_setaffinity(0, sizeof(saved), &saved);
	status = reap(pid, now_ns() + DEADLINE_NS);
	print_message("  %llu descriptors (%u bytes) in %.2f s, %llu sleeps, %llu timed out\n",
		      (unsigned long long)t->received, esize, (double)(now_ns() - t0) / 1e9,
		      (unsigned long long)t->sleeps, (unsigned long long)t->timeouts);
	*db_out = *(struct doorbell *)(mem + DB_OFF);
	munmap(mem, shm_bytes(esize));
	close(fd);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), CHILD_OK);
	assert_false(t->timed_out);
	assert_int_equal(t->bad, 0);
	assert_int_equal(t->received, TOTAL);
}

/* 50M 8-byte descriptors, both sides polling. */
static void test_ring_2proc_spin_in_order(void **state)
{
	struct tally t = { 0 };
	struct doorbell db;

	(void)state;
	run_2proc(8, false, &t, &db);
}

/* 50M 16-byte descriptors, the consumer sleeping on the doorbell when dry. */
static void test_ring_2proc_doorbell_sleeps(void **state)
{
	struct tally t = { 0 };
	struct doorbell db;

	(void)state;
	run_2proc(16, true, &t, &db);
	print_message("  doorbell: %llu wakes, %llu suppressed, %llu kernel waits\n",
		      (unsigned long long)doorbell_wakes(&db),
		      (unsigned long long)doorbell_suppressed(&db),
		      (unsigned long long)doorbell_sleeps(&db));
	assert_true(t.sleeps > 0);
	assert_int_equal(t.timeouts, 0);
	assert_true(doorbell_wakes(&db) > 0);
	/* One wake (one syscall) per announcement at most, however often the
	 * producer rang meanwhile: the epoch scheme's promise. */
	assert_true(doorbell_wakes(&db) <= t.announces);
	assert_true(doorbell_suppressed(&db) > 0);
	assert_int_equal(doorbell_waiters(&db), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_2proc_spin_in_order),
		cmocka_unit_test(test_ring_2proc_doorbell_sleeps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
