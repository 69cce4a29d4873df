/* shm/doorbell.c — futex and eventfd doorbells with notify suppression.
 *
 * The protocol and its users are described in doorbell.h; the ordering
 * argument is written out here, next to the fences it justifies, and in
 * docs/RINGS.md.
 */
#include "shm/doorbell.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define DB_EPOCH(w)    ((uint32_t)((w) >> 32))
#define DB_WAITERS(w)  ((uint32_t)(w))
#define DB_CAS_TRIES   64   /* bound on every CAS loop: the word may be hostile */

/* The futex word: the epoch, the upper half of word (little-endian, as
 * doorbell.h asserts). The kernel reads it with a 32-bit load. */
static uint32_t *doorbell_futex_word(struct doorbell *db)
{
	return (uint32_t *)(void *)&db->word + 1;
}

/* Process-shared futex (FUTEX_WAIT, not FUTEX_WAIT_PRIVATE): the kernel keys
 * it by the page's backing object, so processes mapping the doorbell at
 * different addresses meet on the same wait queue. */
static long futex(uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, word, op, val, ts, NULL, 0);
}

/* Relative timeout in ns to a timespec; NULL (no limit) when negative. */
static const struct timespec *doorbell_timespec(int64_t ns, struct timespec *ts)
{
	if (ns < 0)
		return NULL;
	ts->tv_sec = (time_t)(ns / 1000000000);
	ts->tv_nsec = (long)(ns % 1000000000);
	return ts;
}

int doorbell_init(struct doorbell *db)
{
	if (db == NULL || (uintptr_t)db % 64 != 0)
		return -EINVAL;
	memset(db, 0, sizeof(*db));
	db->magic = DOORBELL_MAGIC;
	db->version = DOORBELL_VERSION;
	return 0;
}

int doorbell_validate(const struct doorbell *db)
{
	const volatile struct doorbell *v = db;

	if (v->magic != DOORBELL_MAGIC || v->version != DOORBELL_VERSION)
		return -EPROTO;
	return 0;
}

/* The Dekker pair. Consumer: store its announcement, fence, load the ring
 * index (the caller's re-check). Producer: store the ring index, fence, load
 * the announcements. Both fences are seq_cst, so one precedes the other in
 * the single total order S; the side whose fence comes second is guaranteed
 * to see the other side's store. Either the consumer's re-check sees the new
 * work and it does not sleep, or the producer sees waiters > 0 and wakes it.
 * Without the fences both loads could be satisfied before either store left
 * its core's store buffer, and the wake-up would be lost. */
uint32_t doorbell_prepare_wait(struct doorbell *db)
{
	/* Acquire: pairs with the release CAS in doorbell_should_wake(). If a
	 * wake that raced with us is already in the epoch we return, its
	 * producer's publish is visible to the caller's re-check, so we never
	 * sleep on an epoch whose wake was meant for us. */
	uint64_t prev = atomic_fetch_add_explicit(&db->word, 1, memory_order_acquire);

	/* seq_cst fence: pairs with the fence in doorbell_should_wake(). */
	atomic_thread_fence(memory_order_seq_cst);
	return DB_EPOCH(prev);
}

/* Take back our count if it is still there: only while the epoch is the one
 * we announced in (a wake zeroes the count and moves the epoch on). Relaxed:
 * a count left behind costs one needless wake, never a lost one. */
static void doorbell_withdraw(struct doorbell *db, uint32_t token)
{
	uint64_t w = atomic_load_explicit(&db->word, memory_order_relaxed);

	for (int i = 0; i < DB_CAS_TRIES; i++) {
		if (DB_EPOCH(w) != token || DB_WAITERS(w) == 0)
			return;
		if (atomic_compare_exchange_weak_explicit(&db->word, &w, w - 1,
							  memory_order_relaxed,
							  memory_order_relaxed))
			return;
	}
}

void doorbell_cancel_wait(struct doorbell *db, uint32_t token)
{
	doorbell_withdraw(db, token);
}

/* The producer's half of the Dekker pair: true if consumers announced
 * themselves since the last wake; their count is then zeroed and the epoch
 * bumped in one CAS, so the rings that follow are suppressed until someone
 * announces again. Otherwise counts the suppressed ring. */
static int doorbell_should_wake(struct doorbell *db)
{
	uint64_t w;

	/* seq_cst fence: pairs with the fence in doorbell_prepare_wait(); it
	 * orders the caller's publish (the ring's store) before our load. */
	atomic_thread_fence(memory_order_seq_cst);
	w = atomic_load_explicit(&db->word, memory_order_relaxed);
	for (int i = 0; i < DB_CAS_TRIES; i++) {
		if (DB_WAITERS(w) == 0) {
			atomic_fetch_add_explicit(&db->suppressed, 1, memory_order_relaxed);
			return 0;
		}
		/* Release: pairs with the acquire fetch_add in
		 * doorbell_prepare_wait(). The new epoch also makes FUTEX_WAIT
		 * on the old one return at once for a consumer not yet asleep. */
		if (atomic_compare_exchange_weak_explicit(&db->word, &w,
							  (uint64_t)(DB_EPOCH(w) + 1) << 32,
							  memory_order_release,
							  memory_order_relaxed)) {
			atomic_fetch_add_explicit(&db->wakes, 1, memory_order_relaxed);
			return 1;
		}
	}
	/* The word kept changing under us (a peer scribbling on it): move the
	 * epoch on without the CAS (release, as above); a wake too many is
	 * always safe. */
	atomic_fetch_add_explicit(&db->word, 1ull << 32, memory_order_release);
	atomic_fetch_add_explicit(&db->wakes, 1, memory_order_relaxed);
	return 1;
}

int doorbell_ring(struct doorbell *db)
{
	if (!doorbell_should_wake(db))
		return 0;
	futex(doorbell_futex_word(db), FUTEX_WAKE, INT_MAX, NULL);
	return 1;
}

int doorbell_ring_eventfd(struct doorbell *db, int efd)
{
	uint64_t one = 1;

	if (!doorbell_should_wake(db))
		return 0;
	if (write(efd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		return -errno;
	return 1;
}

int doorbell_wait(struct doorbell *db, uint32_t token, int64_t timeout_ns)
{
	struct timespec ts;
	const struct timespec *tsp = doorbell_timespec(timeout_ns, &ts);
	int err = 0;

	atomic_fetch_add_explicit(&db->sleeps, 1, memory_order_relaxed);
	/* The kernel compares the epoch with token under its wait-queue lock: a
	 * wake that moved the epoch on after our announcement makes this return
	 * at once (EAGAIN), one that comes later finds us queued and wakes us. */
	if (futex(doorbell_futex_word(db), FUTEX_WAIT, token, tsp) != 0)
		err = errno;
	doorbell_withdraw(db, token);
	if (err == 0 || err == EAGAIN)
		return 0;
	return -err;
}

/* futex_waitv takes an absolute CLOCK_MONOTONIC deadline. */
static const struct timespec *doorbell_deadline(int64_t ns, struct timespec *ts)
{
	if (ns < 0)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, ts);
	ns += ts->tv_nsec;
	ts->tv_sec += ns / 1000000000;
	ts->tv_nsec = ns % 1000000000;
	return ts;
}

int doorbell_wait_many(struct doorbell *const *dbs, const uint32_t *tokens, unsigned n,
		       int64_t timeout_ns)
{
	struct futex_waitv w[DOORBELL_WAIT_MANY_MAX];
	struct timespec ts;
	int err = 0;

	if (n == 0 || n > DOORBELL_WAIT_MANY_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		/* FUTEX_32 without FUTEX_PRIVATE_FLAG: process-shared, as
		 * doorbell_wait's FUTEX_WAIT, so a doorbell_ring wakes us. */
		w[i] = (struct futex_waitv){ .val = tokens[i], .flags = FUTEX_32,
					     .uaddr = (uintptr_t)doorbell_futex_word(dbs[i]) };
		atomic_fetch_add_explicit(&dbs[i]->sleeps, 1, memory_order_relaxed);
	}
	/* As in doorbell_wait: an epoch that moved on since its token makes the
	 * kernel return at once (EAGAIN); a later ring finds us queued. */
	if (syscall(SYS_futex_waitv, w, n, 0, doorbell_deadline(timeout_ns, &ts),
		    CLOCK_MONOTONIC) < 0)
		err = errno;
	for (unsigned i = 0; i < n; i++)
		doorbell_withdraw(dbs[i], tokens[i]);
	if (err == 0 || err == EAGAIN)
		return 0;
	return -err;
}

int doorbell_wait_eventfd(struct doorbell *db, uint32_t token, int efd,
			  int64_t timeout_ns)
{
	struct pollfd pfd = { .fd = efd, .events = POLLIN };
	struct timespec ts;
	uint64_t count;
	int n, err = 0;

	atomic_fetch_add_explicit(&db->sleeps, 1, memory_order_relaxed);
	n = ppoll(&pfd, 1, doorbell_timespec(timeout_ns, &ts), NULL);
	if (n < 0)
		err = -errno;
	else if (n == 0)
		err = -ETIMEDOUT;
	/* Drain, so the next wait sleeps; another sleeper may have drained it
	 * first, which a nonblocking eventfd reports as EAGAIN: not an error. */
	else if (read(efd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		err = -errno;
	doorbell_withdraw(db, token);
	return err;
}
