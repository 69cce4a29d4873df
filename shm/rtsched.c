/* shm/rtsched.c — SCHED_FIFO with a duty cap (shm/rtsched.h says why). */
#include <errno.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shm/rtsched.h"

/* The kernel's struct sched_attr (include/uapi/linux/sched/types.h, first
 * version): that header cannot be included beside glibc's <sched.h> (both
 * define struct sched_param), and glibc before 2.41 has no copy. */
struct rt_sched_attr {
	uint32_t size;
	uint32_t sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime;     /* SCHED_OTHER: the EEVDF slice (Linux 6.12) */
	uint64_t sched_deadline;
	uint64_t sched_period;
};
_Static_assert(sizeof(struct rt_sched_attr) == 48, "SCHED_ATTR_SIZE_VER0");
#define RT_SCHED_RESET_ON_FORK 0x01u   /* SCHED_FLAG_RESET_ON_FORK */

/* CPU time the calling thread has used, in ns. */
static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* glibc before 2.41 has no wrapper. pid 0: the calling thread. */
static int sched_set(const struct rt_sched_attr *attr)
{
	return syscall(SYS_sched_setattr, 0, attr, 0) == 0 ? 0 : -errno;
}

static int sched_fifo(const struct rt_sched *rs)
{
	struct rt_sched_attr a = { .size = sizeof(a), .sched_policy = SCHED_FIFO,
				   .sched_flags = RT_SCHED_RESET_ON_FORK,
				   .sched_priority = rs->prio };

	return sched_set(&a);
}

/* SCHED_OTHER, nice 0, with the short slice (0: the kernel's default). */
static int sched_other(const struct rt_sched *rs)
{
	struct rt_sched_attr a = { .size = sizeof(a), .sched_policy = SCHED_OTHER,
				   .sched_flags = RT_SCHED_RESET_ON_FORK,
				   .sched_runtime = (uint64_t)rs->slice_us * 1000u };

	return sched_set(&a);
}

int rt_sched_start(struct rt_sched *rs, unsigned prio, unsigned slice_us, uint64_t now,
		   int *slice_err)
{
	int err;

	*rs = (struct rt_sched){ .prio = prio, .slice_us = slice_us, .window_ns = now,
				 .cpu_ns = thread_cpu_ns() };
	err = prio > 0 ? sched_fifo(rs) : -ENOTSUP;
	rs->state = err == 0 ? RT_SCHED_FIFO : RT_SCHED_OTHER;
	*slice_err = rs->state == RT_SCHED_OTHER ? sched_other(rs) : 0;
	return prio > 0 ? err : 0;
}

int rt_sched_account(struct rt_sched *rs, uint64_t now)
{
	uint64_t span = now - rs->window_ns, cpu, duty;

	if (span < RT_SCHED_WINDOW_NS || rs->state == RT_SCHED_OTHER)
		return 0;
	cpu = thread_cpu_ns();
	duty = (cpu - rs->cpu_ns) * 100u / span;
	rs->cpu_ns = cpu;
	rs->window_ns = now;
	if (rs->state == RT_SCHED_FIFO && duty >= RT_SCHED_DUTY_MAX && sched_other(rs) == 0) {
		rs->state = RT_SCHED_DEMOTED;
		return 1;
	}
	if (rs->state == RT_SCHED_DEMOTED && duty < RT_SCHED_DUTY_MIN && sched_fifo(rs) == 0) {
		rs->state = RT_SCHED_FIFO;
		return -1;
	}
	return 0;
}
