/* tests/unit/test_doorbell.c — the doorbell's notify-suppression protocol
 * with threads: a ring with no sleeper makes no syscall (the counters say
 * so), a ring with a sleeper wakes it, every sleeper is woken, a stale token
 * does not sleep, timeouts, signals (-EINTR), and the eventfd form.
 *
 * Where a test needs its sleeper really asleep, it waits until the thread's
 * /proc/self/task/TID/syscall shows it blocked in futex (or ppoll), rather
 * than guessing with a sleep.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shm/doorbell.h"

#define LONG_NS   (5ll * 1000000000ll)   /* sleepers' bound: a lost wake fails, not hangs */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A sleeper thread: prepare, re-check `flag`, then wait (futex or eventfd). */
struct sleeper {
	struct doorbell *db;
	int efd;                    /* -1: futex form */
	atomic_int *flag;           /* the condition the producer sets */
	atomic_int tid;
	atomic_int done;
	int rc;
	uint64_t elapsed_ns;
	pthread_t th;
};

static void *sleeper_main(void *arg)
{
	struct sleeper *s = arg;
	uint64_t t0 = now_ns();
	uint32_t tok;

	atomic_store(&s->tid, (int)gettid());
	tok = doorbell_prepare_wait(s->db);
	if (s->flag != NULL && atomic_load(s->flag)) {
		doorbell_cancel_wait(s->db, tok);
		s->rc = 1;
	} else if (s->efd < 0) {
		s->rc = doorbell_wait(s->db, tok, LONG_NS);
	} else {
		s->rc = doorbell_wait_eventfd(s->db, tok, s->efd, LONG_NS);
	}
	s->elapsed_ns = now_ns() - t0;
	atomic_store(&s->done, 1);
	return NULL;
}

static void sleeper_start(struct sleeper *s, struct doorbell *db, int efd, atomic_int *flag)
{
	memset(s, 0, sizeof(*s));
	s->db = db;
	s->efd = efd;
	s->flag = flag;
	assert_int_equal(pthread_create(&s->th, NULL, sleeper_main, s), 0);
}

/* Waits (up to 5 s) until the sleeper is blocked in system call nr. */
static void await_blocked_in(struct sleeper *s, long nr)
{
	char path[64], buf[64];
	uint64_t t0 = now_ns();

	while (atomic_load(&s->tid) == 0 && now_ns() - t0 < (uint64_t)LONG_NS)
		sleep_ms(1);
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", atomic_load(&s->tid));
	while (now_ns() - t0 < (uint64_t)LONG_NS) {
		FILE *f = fopen(path, "r");
		long cur = -1;

		if (f != NULL) {
			if (fgets(buf, sizeof(buf), f) != NULL)
				cur = strtol(buf, NULL, 10);
			fclose(f);
		}
		if (cur == nr)
			return;
		sleep_ms(1);
	}
	fail_msg("sleeper never blocked in syscall %ld", nr);
}

static int setup_db(void **state)
{
	struct doorbell *db = aligned_alloc(64, sizeof(*db));

	if (db == NULL || doorbell_init(db) != 0)
		return -1;
	*state = db;
	return 0;
}

static int teardown_db(void **state)
{
	free(*state);
	return 0;
}

static void test_doorbell_init_bad_args(void **state)
{
	struct doorbell *db = *state;

	assert_int_equal(doorbell_init(NULL), -EINVAL);
	assert_int_equal(doorbell_init((struct doorbell *)((char *)db + 8)), -EINVAL);
	assert_int_equal(doorbell_init(db), 0);
	assert_int_equal(doorbell_validate(db), 0);
	db->magic = 0;
	assert_int_equal(doorbell_validate(db), -EPROTO);
}

/* Nobody announced: every ring is suppressed and none makes a syscall. */
static void test_doorbell_no_sleeper_no_syscall(void **state)
{
	struct doorbell *db = *state;

	for (int i = 0; i < 1000; i++)
		assert_int_equal(doorbell_ring(db), 0);
	assert_int_equal(doorbell_suppressed(db), 1000);
	assert_int_equal(doorbell_wakes(db), 0);
	/* Announce and withdraw: back to suppressed. */
	uint32_t tok = doorbell_prepare_wait(db);
	assert_int_equal(doorbell_waiters(db), 1);
	doorbell_cancel_wait(db, tok);
	assert_int_equal(doorbell_waiters(db), 0);
	assert_int_equal(doorbell_ring(db), 0);
	assert_int_equal(doorbell_suppressed(db), 1001);
}

/* A sleeping consumer is woken by one ring, well before its timeout. */
static void test_doorbell_sleeper_woken_by_ring(void **state)
{
	struct doorbell *db = *state;
	atomic_int flag = 0;
	struct sleeper s;

	sleeper_start(&s, db, -1, &flag);
	await_blocked_in(&s, SYS_futex);
	atomic_store(&flag, 1);
	assert_int_equal(doorbell_ring(db), 1);
	assert_int_equal(pthread_join(s.th, NULL), 0);
	assert_int_equal(s.rc, 0);
	assert_true(s.elapsed_ns < (uint64_t)LONG_NS / 2);
	assert_int_equal(doorbell_wakes(db), 1);
	assert_int_equal(doorbell_suppressed(db), 0);
	assert_int_equal(doorbell_sleeps(db), 1);
	assert_int_equal(doorbell_waiters(db), 0);
	assert_int_equal(doorbell_ring(db), 0);     /* it left: suppressed again */
}

/* A ring between prepare and wait: the token is stale, wait returns at once. */
static void test_doorbell_stale_token_returns_at_once(void **state)
{
	struct doorbell *db = *state;
	uint32_t tok = doorbell_prepare_wait(db);
	uint64_t t0 = now_ns();

	assert_int_equal(doorbell_ring(db), 1);
	assert_int_equal(doorbell_wait(db, tok, LONG_NS), 0);
	assert_true(now_ns() - t0 < (uint64_t)LONG_NS / 2);
	assert_int_equal(doorbell_waiters(db), 0);
}

/* One wake per announcement: the ring that wakes takes the count, so the
 * rings after it are suppressed even before the woken consumer runs, and a
 * late withdrawal with the old token takes nothing from the next waiter. */
static void test_doorbell_wake_takes_count_once(void **state)
{
	struct doorbell *db = *state;
	uint32_t tok_a = doorbell_prepare_wait(db), tok_b;

	assert_int_equal(doorbell_ring(db), 1);
	assert_int_equal(doorbell_waiters(db), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(doorbell_ring(db), 0);
	assert_int_equal(doorbell_wakes(db), 1);
	assert_int_equal(doorbell_suppressed(db), 100);
	tok_b = doorbell_prepare_wait(db);
	assert_int_not_equal(tok_a, tok_b);
	doorbell_cancel_wait(db, tok_a);          /* A was already woken */
	assert_int_equal(doorbell_waiters(db), 1);   /* B's count is intact */
	assert_int_equal(doorbell_wait(db, tok_a, LONG_NS), 0);   /* stale: at once */
	assert_int_equal(doorbell_waiters(db), 1);
	assert_int_equal(doorbell_ring(db), 1);
	assert_int_equal(doorbell_wait(db, tok_b, LONG_NS), 0);
	assert_int_equal(doorbell_waiters(db), 0);
}

static void test_doorbell_wait_times_out(void **state)
{
	struct doorbell *db = *state;
	uint32_t tok = doorbell_prepare_wait(db);
	uint64_t t0 = now_ns();

	assert_int_equal(doorbell_wait(db, tok, 20 * 1000000ll), -ETIMEDOUT);
	assert_true(now_ns() - t0 >= 20 * 1000000ull);
	assert_true(now_ns() - t0 < (uint64_t)LONG_NS / 2);
	assert_int_equal(doorbell_waiters(db), 0);
	assert_int_equal(doorbell_sleeps(db), 1);
}

static void on_sigusr1(int sig)
{
	(void)sig;
}

/* A signal handler that runs during the wait makes it return -EINTR. The
 * signal is repeated until the sleeper returns, in case the first one lands
 * before it is inside futex. */
static void test_doorbell_wait_interrupted_eintr(void **state)
{
	struct doorbell *db = *state;
	struct sigaction sa = { .sa_handler = on_sigusr1 }, old;
	struct sleeper s;
	uint64_t t0 = now_ns();

	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);   /* no SA_RESTART */
	sleeper_start(&s, db, -1, NULL);
	await_blocked_in(&s, SYS_futex);
	while (!atomic_load(&s.done) && now_ns() - t0 < (uint64_t)LONG_NS) {
		pthread_kill(s.th, SIGUSR1);
		sleep_ms(10);
	}
	assert_int_equal(pthread_join(s.th, NULL), 0);
	sigaction(SIGUSR1, &old, NULL);
	assert_int_equal(s.rc, -EINTR);
	assert_int_equal(doorbell_waiters(db), 0);
	assert_int_equal(doorbell_wakes(db), 0);
}

/* waiters is a count: one ring wakes three sleepers. */
static void test_doorbell_ring_wakes_all_sleepers(void **state)
{
	struct doorbell *db = *state;
	atomic_int flag = 0;
	struct sleeper s[3];

	for (int i = 0; i < 3; i++)
		sleeper_start(&s[i], db, -1, &flag);
	for (int i = 0; i < 3; i++)
		await_blocked_in(&s[i], SYS_futex);
	assert_int_equal(doorbell_waiters(db), 3);
	atomic_store(&flag, 1);
	assert_int_equal(doorbell_ring(db), 1);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pthread_join(s[i].th, NULL), 0);
		assert_int_equal(s[i].rc, 0);
		assert_true(s[i].elapsed_ns < (uint64_t)LONG_NS / 2);
	}
	assert_int_equal(doorbell_wakes(db), 1);
	assert_int_equal(doorbell_waiters(db), 0);
}

/* Ping-pong over two doorbells, one ring per message, each side sleeping as
 * soon as a short, varying spin finds nothing. Every round is a chance for
 * the Dekker race (a publish landing while the other side announces); a lost
 * wake-up shows as a wait that times out, which never happens otherwise. */
#define PP_ROUNDS  20000u

struct pingpong {
	struct doorbell *db[2];     /* db[i]: side i sleeps on it */
	atomic_ullong val[2];       /* val[i]: last round side i has seen */
	atomic_int timeouts;
	atomic_int failed;
};

/* Side `me` waits until val[me] >= want: spin a little, announce, re-check,
 * sleep. Returns false past the overall deadline. */
static bool pp_await(struct pingpong *pp, int me, uint64_t want, unsigned spin,
		     uint64_t deadline)
{
	while (now_ns() < deadline) {
		for (unsigned k = 0; k < spin; k++) {
			if (atomic_load_explicit(&pp->val[me], memory_order_acquire) >= want)
				return true;
			__builtin_ia32_pause();
		}
		uint32_t tok = doorbell_prepare_wait(pp->db[me]);
		if (atomic_load_explicit(&pp->val[me], memory_order_acquire) >= want) {
			doorbell_cancel_wait(pp->db[me], tok);
			return true;
		}
		if (doorbell_wait(pp->db[me], tok, 1000000000ll) == -ETIMEDOUT)
			atomic_fetch_add(&pp->timeouts, 1);
	}
	return false;
}

/* Side 1: answer every round: wait for it, publish it back, ring side 0. */
static void *pp_echo(void *arg)
{
	struct pingpong *pp = arg;
	uint64_t deadline = now_ns() + LONG_NS;

	for (uint64_t r = 1; r <= PP_ROUNDS; r++) {
		if (!pp_await(pp, 1, r, (unsigned)(r * 7) % 64, deadline)) {
			atomic_store(&pp->failed, 1);
			break;
		}
		atomic_store_explicit(&pp->val[0], r, memory_order_release);
		doorbell_ring(pp->db[0]);
	}
	return NULL;
}

static void test_doorbell_pingpong_no_lost_wakeup(void **state)
{
	struct pingpong pp = { .db = { *state, aligned_alloc(64, sizeof(struct doorbell)) } };
	uint64_t deadline = now_ns() + LONG_NS;
	pthread_t th;

	assert_int_equal(doorbell_init(pp.db[1]), 0);
	assert_int_equal(pthread_create(&th, NULL, pp_echo, &pp), 0);
	for (uint64_t r = 1; r <= PP_ROUNDS && !atomic_load(&pp.failed); r++) {
		atomic_store_explicit(&pp.val[1], r, memory_order_release);
		doorbell_ring(pp.db[1]);
		if (!pp_await(&pp, 0, r, (unsigned)(r * 13) % 64, deadline))
			atomic_store(&pp.failed, 1);
	}
	assert_int_equal(pthread_join(th, NULL), 0);
	uint64_t wakes = doorbell_wakes(pp.db[0]) + doorbell_wakes(pp.db[1]);
	print_message("  %u rounds: %llu wakes, %d timed out\n", PP_ROUNDS,
		      (unsigned long long)wakes, atomic_load(&pp.timeouts));
	free(pp.db[1]);
	assert_int_equal(atomic_load(&pp.failed), 0);
	assert_int_equal(atomic_load(&pp.timeouts), 0);
	assert_true(wakes > 0);
}

/* Eventfd form: suppressed rings write nothing; a sleeper in ppoll is woken
 * by a write, and the eventfd is drained. */
static void test_doorbell_eventfd_wakes_sleeper(void **state)
{
	struct doorbell *db = *state;
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct pollfd pfd = { .fd = efd, .events = POLLIN };
	struct sleeper s;

	assert_true(efd >= 0);
	assert_int_equal(doorbell_ring_eventfd(db, efd), 0);
	assert_int_equal(poll(&pfd, 1, 0), 0);             /* nothing was written */
	sleeper_start(&s, db, efd, NULL);
	await_blocked_in(&s, SYS_ppoll);
	assert_int_equal(doorbell_ring_eventfd(db, efd), 1);
	assert_int_equal(pthread_join(s.th, NULL), 0);
	assert_int_equal(s.rc, 0);
	assert_true(s.elapsed_ns < (uint64_t)LONG_NS / 2);
	assert_int_equal(poll(&pfd, 1, 0), 0);             /* drained */
	assert_int_equal(doorbell_wakes(db), 1);
	assert_int_equal(doorbell_suppressed(db), 1);
	assert_int_equal(doorbell_waiters(db), 0);
	close(efd);
}

static void test_doorbell_eventfd_wait_times_out(void **state)
{
	struct doorbell *db = *state;
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	assert_true(efd >= 0);
	uint32_t tok = doorbell_prepare_wait(db);
	assert_int_equal(doorbell_wait_eventfd(db, tok, efd, 10 * 1000000ll), -ETIMEDOUT);
	assert_int_equal(doorbell_waiters(db), 0);
	close(efd);
}

/* netd's sleep: three doorbells at once; a ring on any one wakes it. */
struct many {
	struct doorbell *db[3];
	uint32_t tok[3];
	int result;
	uint64_t woke_ns;
};

static void *many_main(void *arg)
{
	struct many *m = arg;

	m->result = doorbell_wait_many(m->db, m->tok, 3, 5000000000ll);
	m->woke_ns = now_ns();
	return NULL;
}

static void test_doorbell_wait_many_wakes_on_any(void **state)
{
	struct doorbell *dbs = aligned_alloc(64, 3 * sizeof(*dbs));
	struct many m = { .result = 1 };
	pthread_t t;

	(void)state;
	assert_non_null(dbs);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(doorbell_init(&dbs[i]), 0);
		m.db[i] = &dbs[i];
		m.tok[i] = doorbell_prepare_wait(&dbs[i]);
	}
	assert_int_equal(pthread_create(&t, NULL, many_main, &m), 0);
	sleep_ms(50);
	assert_int_equal(m.result, 1);                 /* still asleep */
	uint64_t rung = now_ns();
	assert_int_equal(doorbell_ring(&dbs[1]), 1);   /* the middle one */
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(m.result, 0);
	assert_true(m.woke_ns - rung < 1000000000ull);
	for (int i = 0; i < 3; i++)                    /* every announcement withdrawn */
		assert_int_equal(doorbell_waiters(&dbs[i]), 0);
	assert_int_equal(doorbell_ring(&dbs[0]), 0);   /* nobody waits now: suppressed */
	free(dbs);
}

static void test_doorbell_wait_many_times_out_and_stale(void **state)
{
	struct doorbell *dbs = aligned_alloc(64, 2 * sizeof(*dbs));
	struct doorbell *p[2];
	uint32_t tok[2];
	uint64_t t0;

	(void)state;
	assert_non_null(dbs);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(doorbell_init(&dbs[i]), 0);
		p[i] = &dbs[i];
		tok[i] = doorbell_prepare_wait(&dbs[i]);
	}
	t0 = now_ns();
	assert_int_equal(doorbell_wait_many(p, tok, 2, 20000000), -ETIMEDOUT);
	assert_true(now_ns() - t0 >= 15000000ull);
	/* A ring between the announcement and the sleep is not lost. */
	for (int i = 0; i < 2; i++)
		tok[i] = doorbell_prepare_wait(&dbs[i]);
	assert_int_equal(doorbell_ring(&dbs[0]), 1);
	t0 = now_ns();
	assert_int_equal(doorbell_wait_many(p, tok, 2, 2000000000ll), 0);
	assert_true(now_ns() - t0 < 1000000000ull);
	assert_int_equal(doorbell_wait_many(p, tok, 0, 0), -EINVAL);
	free(dbs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_doorbell_init_bad_args, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(test_doorbell_no_sleeper_no_syscall, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(test_doorbell_sleeper_woken_by_ring, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(test_doorbell_stale_token_returns_at_once, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(test_doorbell_wake_takes_count_once, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(test_doorbell_wait_times_out, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(test_doorbell_wait_interrupted_eintr, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(test_doorbell_ring_wakes_all_sleepers, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(test_doorbell_pingpong_no_lost_wakeup, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(test_doorbell_eventfd_wakes_sleeper, setup_db, teardown_db),
		cmocka_unit_test_setup_teardown(test_doorbell_eventfd_wait_times_out, setup_db, teardown_db),
		cmocka_unit_test(test_doorbell_wait_many_wakes_on_any),
		cmocka_unit_test(test_doorbell_wait_many_times_out_and_stale),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
