/* tests/unit/test_pkb_2proc.c — one pool shared by two processes, as nicd and
 * netd share it: the child (the "nicd") maps the pool's memfd a second time,
 * at another address, attaches, allocates and hands slot indices to the
 * parent (the "netd") through mailboxes in the same memory; the parent frees
 * them through its own cache. Every other packet goes as a clone whose
 * original the child frees, so the last reference drops in the other
 * process. At the end every slot must be back in the pool. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "shm/pkb.h"

#define NSLOTS    1024u
#define MAILBOX   64u
#define PACKETS   200000u
#define CTL_BYTES 4096u    /* mailboxes, then the pool */
#define DEADLINE  15.0     /* seconds */

struct ctl {
	_Atomic uint32_t box[MAILBOX];  /* PKB_NONE: empty */
	_Atomic int stop;               /* either side gave up */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Wait until mailbox `slot` is empty (want_full false) or full, yielding
 * between looks (two shared cores). Returns the slot's value, or -ETIMEDOUT
 * past the deadline or once the other side has given up. */
static int64_t mailbox_wait(struct ctl *ctl, _Atomic uint32_t *slot, int want_full,
			    double deadline)
{
	unsigned spins = 0;
	uint32_t v;

	/* acquire pairs with the other side's release store of the slot */
	while (((v = atomic_load_explicit(slot, memory_order_acquire)) != PKB_NONE) != want_full) {
		if ((++spins & 1023u) == 0 && (now_s() > deadline || atomic_load(&ctl->stop)))
			return -ETIMEDOUT;
		sched_yield();
	}
	return v;
}

/* The child: allocate, stamp, hand over (every odd packet as a clone whose
 * original it frees at once). Returns its exit status: 0, or which step
 * failed. */
static int nicd_side(int fd, size_t bytes)
{
	uint8_t *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	struct ctl *ctl = (struct ctl *)mem;
	double deadline = now_s() + DEADLINE;
	struct pkb_pool pool;
	struct pkb_cache cache;

	if (mem == MAP_FAILED || pkb_pool_attach(&pool, mem + CTL_BYTES, bytes - CTL_BYTES) != 0)
		return 2;
	pkb_cache_init(&cache, &pool);
	for (uint32_t seq = 0; seq < PACKETS; seq++) {
		_Atomic uint32_t *slot = &ctl->box[seq % MAILBOX];
		struct pkb *b = pkb_alloc(&cache), *c = NULL;

		if (b == NULL)
			return 3;
		memcpy(pkb_put(b, sizeof(seq)), &seq, sizeof(seq));
		if (seq % 2 == 1 && (c = pkb_clone(&cache, b)) == NULL)
			return 4;
		if (mailbox_wait(ctl, slot, 0, deadline) < 0)
			return 5;
		/* release pairs with the parent's acquire in mailbox_wait */
		atomic_store_explicit(slot, pkb_index(c != NULL ? c : b), memory_order_release);
		pkb_free(&cache, c != NULL ? b : NULL);
	}
	pkb_cache_flush(&cache);
	return 0;
}

/* The parent: take each packet, check its stamp, free it. Returns how many
 * were wrong, or -ETIMEDOUT. */
static int netd_side(struct ctl *ctl, struct pkb_pool *pool)
{
	double deadline = now_s() + DEADLINE;
	struct pkb_cache cache;
	int wrong = 0;

	pkb_cache_init(&cache, pool);
	for (uint32_t seq = 0; seq < PACKETS; seq++) {
		_Atomic uint32_t *slot = &ctl->box[seq % MAILBOX];
		int64_t idx = mailbox_wait(ctl, slot, 1, deadline);
		struct pkb *b;
		uint32_t got = ~seq;

		if (idx < 0) {
			pkb_cache_flush(&cache);
			return -ETIMEDOUT;
		}
		b = pkb_at(pool, (uint32_t)idx);
		if (b == NULL || pkb_copy_out(b, 0, sizeof(got), &got) != 0 || got != seq ||
		    (seq % 2 == 1) != ((b->flags & PKB_F_CLONE) != 0))
			wrong++;
		pkb_free(&cache, b);
		/* release pairs with the child's acquire: the slot is reusable */
		atomic_store_explicit(slot, PKB_NONE, memory_order_release);
	}
	pkb_cache_flush(&cache);
	return wrong;
}

/* Reap the child within the deadline, killing it past that. Returns its exit
 * status, or -1 if it did not exit normally. */
static int reap(pid_t pid)
{
	double deadline = now_s() + DEADLINE;
	int status = 0;

	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_s() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		usleep(1000);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_pkb_2proc_rx_freed_by_other_process(void **state)
{
	size_t pool_bytes = pkb_pool_bytes(NSLOTS, PKB_DEFAULT_BUFSIZE);
	size_t bytes = CTL_BYTES + pool_bytes;
	int fd = memfd_create("pkb-2proc", MFD_CLOEXEC);
	uint8_t *mem;
	struct ctl *ctl;
	struct pkb_pool pool;
	struct pkb_pool_stats st;
	pid_t pid;
	int wrong, child;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)bytes), 0);
	mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(mem != MAP_FAILED);
	ctl = (struct ctl *)mem;
	for (unsigned i = 0; i < MAILBOX; i++)
		atomic_init(&ctl->box[i], PKB_NONE);
	assert_int_equal(pkb_pool_format(&pool, mem + CTL_BYTES, pool_bytes, NSLOTS,
					 PKB_DEFAULT_BUFSIZE), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int rc = nicd_side(fd, bytes);

		if (rc != 0)
			atomic_store(&ctl->stop, 1);
		_exit(rc);
	}
	wrong = netd_side(ctl, &pool);
	if (wrong != 0)
		atomic_store(&ctl->stop, 1);
	child = reap(pid);
	assert_int_equal(child, 0);
	assert_int_equal(wrong, 0);
	assert_int_equal(pkb_pool_free_count(&pool), NSLOTS);
	pkb_pool_stats(&pool, &st);
	assert_int_equal(st.alloc_fail + st.bad_index + st.double_free + st.use_after_free, 0);
	munmap(mem, bytes);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pkb_2proc_rx_freed_by_other_process),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
