/* shm/doorbell.h — wake-ups with notify suppression, across processes.
 *
 * Every ring consumer that sleeps when idle (netd, nicd, an app waiting in
 * libsock) sleeps on a doorbell; the ring's producer rings it after it
 * publishes. As virtio's event index, the producer makes a system call only
 * when a consumer has said it is going to sleep: a producer whose consumer is
 * awake pays one fence and one load, no syscall.
 *
 * The consumer's side, in this order:
 *
 *     tok = doorbell_prepare_wait(db);      announce: waiters += 1
 *     if (ring has work)                    re-check the condition
 *             doorbell_cancel_wait(db, tok);   withdraw, go and work
 *     else
 *             doorbell_wait(db, tok, ns);   sleep; withdrawn on return
 *
 * The producer's side: publish (the ring's release store), then
 * doorbell_ring(db). Whichever of the two stores (the announcement, the ring
 * index) comes second in the seq_cst order, the other side's load sees it:
 * either the consumer's re-check finds the work, or the producer finds the
 * waiter and wakes it. docs/RINGS.md has the argument in full.
 *
 * One 64-bit word holds an epoch (its upper half, the futex word) and the
 * count of waiters announced in that epoch (its lower half). A ring that finds
 * waiters bumps the epoch and zeroes the count in one compare-and-swap, then
 * wakes every sleeper: so a producer that keeps ringing while its consumer is
 * still on its way out of the kernel pays one syscall per sleep, not one per
 * ring. A waiter withdraws its own count (cancel, timeout, signal) only while
 * the epoch is still its token; after a wake its count is already gone.
 * waiters is a count, not a flag: any number of consumers may sleep on one
 * doorbell, and each re-checks its own condition when woken.
 *
 * The eventfd form is the same protocol with the sleep done elsewhere: the
 * consumer waits for an eventfd to become readable (epoll, io_uring, or
 * doorbell_wait_eventfd()), and the producer rings with
 * doorbell_ring_eventfd(), which writes to the eventfd instead of waking the
 * futex. The eventfd is a process-local file descriptor: each side passes its
 * own (the producer's received over SCM_RIGHTS, for instance).
 *
 * A doorbell shared with an untrusted application can be scribbled on: a
 * forged count makes the producer wake needlessly (a cost to it, never a
 * fault), a zeroed one makes the app miss its own wake-ups. Every loop here is
 * bounded whatever the word holds, and sleepers should use a timeout.
 */
#ifndef RINGSTACK_SHM_DOORBELL_H
#define RINGSTACK_SHM_DOORBELL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define DOORBELL_MAGIC    0x44424c4cu   /* "DBLL" */
#define DOORBELL_VERSION  1u
#define DOORBELL_SIZE     384u

/* The shared layout: three 128-byte blocks so that the word both sides touch,
 * the producer's counters and the consumer's counter never share a line pair. */
struct doorbell {
	_Atomic uint64_t word;         /* epoch << 32 | waiters; see above */
	uint32_t magic;                /* DOORBELL_MAGIC */
	uint32_t version;              /* DOORBELL_VERSION */
	uint8_t pad_word[128 - 16];
	_Atomic uint64_t wakes;        /* rings that found waiters and woke them */
	_Atomic uint64_t suppressed;   /* rings that found none: no syscall */
	uint8_t pad_prod[128 - 16];
	_Atomic uint64_t sleeps;       /* waits that went to the kernel */
	uint8_t pad_cons[128 - 8];
} __attribute__((aligned(64)));

_Static_assert(offsetof(struct doorbell, wakes) == 128, "producer counters on their own block");
_Static_assert(offsetof(struct doorbell, sleeps) == 256, "consumer counter on its own block");
_Static_assert(sizeof(struct doorbell) == DOORBELL_SIZE, "struct doorbell layout changed");
_Static_assert(sizeof(_Atomic uint64_t) == 8 && ATOMIC_LLONG_LOCK_FREE == 2,
	       "the doorbell word must be a plain lock-free 64-bit word");
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "the futex word is the upper half of word: its address is word + 4");

/* Format db (in memory shared or about to be) as a doorbell nobody waits on,
 * all counters zero. Returns 0 or -EINVAL (db NULL or misaligned). */
int doorbell_init(struct doorbell *db);

/* Check a doorbell found in shared memory: 0, or -EPROTO if its magic or
 * version is not ours. */
int doorbell_validate(const struct doorbell *db);

/* Consumer: announce that it is about to sleep and return the token (the
 * epoch it announced in). The caller must re-check its wake condition after
 * this call and then call exactly one of doorbell_wait(),
 * doorbell_wait_eventfd() or doorbell_cancel_wait() with the token. */
uint32_t doorbell_prepare_wait(struct doorbell *db);

/* Consumer: withdraw the announcement made with token (the re-check found
 * work, or the caller's own epoll/io_uring wait is over). */
void doorbell_cancel_wait(struct doorbell *db, uint32_t token);

/* Consumer: sleep until a ring after doorbell_prepare_wait() returned token,
 * or timeout_ns nanoseconds (relative; negative means no limit). Withdraws
 * the announcement in every case. Returns 0 (rung, or a spurious wake-up: the
 * caller re-checks its condition either way), -ETIMEDOUT, or -EINTR if a
 * signal handler ran. */
int doorbell_wait(struct doorbell *db, uint32_t token, int64_t timeout_ns);

/* Producer: call after publishing (after the ring's release store). Wakes
 * every consumer sleeping on db if any announced itself since the last wake,
 * else only counts a suppressed ring. Returns 1 if it woke (made the
 * syscall), 0 if not. Any number of producers may ring one doorbell. */
int doorbell_ring(struct doorbell *db);

/* Producer, eventfd form: as doorbell_ring(), but a needed wake-up is a write
 * of 1 to efd (the producer's descriptor for the consumer's eventfd). Returns
 * 1 if it wrote, 0 if suppressed, or -errno if the write failed (-EAGAIN from
 * a nonblocking eventfd at its limit means a wake-up is pending anyway). */
int doorbell_ring_eventfd(struct doorbell *db, int efd);

/* Consumer, eventfd form: after doorbell_prepare_wait() and the re-check,
 * wait up to timeout_ns (negative: no limit) for efd to become readable, then
 * drain it (efd should be EFD_NONBLOCK: with several sleepers, another may
 * drain it first). For callers that do not wait in epoll or io_uring themselves;
 * those call doorbell_cancel_wait() once their wait is over. Withdraws the
 * announcement in every case. Returns 0, -ETIMEDOUT, -EINTR or -errno from
 * ppoll/read. */
int doorbell_wait_eventfd(struct doorbell *db, uint32_t token, int efd,
			  int64_t timeout_ns);

/* Consumer of several doorbells (netd: its nic rx doorbell and one per
 * application) sleeping on all of them at once with futex_waitv(2): after
 * doorbell_prepare_wait() on each (tokens[i] for dbs[i]) and the re-check of
 * every condition, sleep until any of them is rung or timeout_ns passes
 * (relative; negative: no limit). Withdraws every announcement. n is at most
 * DOORBELL_WAIT_MANY_MAX. Returns 0 (rung or spurious: re-check), -ETIMEDOUT,
 * -EINTR, -EINVAL, or -ENOSYS on a kernel without futex_waitv (5.16+). */
#define DOORBELL_WAIT_MANY_MAX 128u
int doorbell_wait_many(struct doorbell *const *dbs, const uint32_t *tokens, unsigned n,
		       int64_t timeout_ns);

/* Counters, for ctl/ and tests (relaxed reads: a snapshot, not a fence). */
static inline uint64_t doorbell_wakes(const struct doorbell *db)
{
	return atomic_load_explicit(&db->wakes, memory_order_relaxed);
}

static inline uint64_t doorbell_suppressed(const struct doorbell *db)
{
	return atomic_load_explicit(&db->suppressed, memory_order_relaxed);
}

static inline uint64_t doorbell_sleeps(const struct doorbell *db)
{
	return atomic_load_explicit(&db->sleeps, memory_order_relaxed);
}

/* Consumers announced in the current epoch (not yet woken or withdrawn). */
static inline uint32_t doorbell_waiters(const struct doorbell *db)
{
	return (uint32_t)atomic_load_explicit(&db->word, memory_order_relaxed);
}

#endif /* RINGSTACK_SHM_DOORBELL_H */
