/* nicd/sched.c — how nicd asks the scheduler for a CPU when a frame waits.
 *
 * Where it sits: around the engine's sleep (engine.c). Every frame in either
 * direction waits for nicd to be *running*: a frame the kernel queued on the
 * TAP, a descriptor netd put on a tx ring and rang the eventfd for.
 *
 * Why it matters (measured, docs/NICD.md "Wake-up latency"): with other
 * CPU-bound work on the two cores, a SCHED_OTHER nicd that was woken, or that
 * the netd it had just woken on its own CPU preempted, often waited behind
 * that work until the next scheduler tick (4 ms at HZ=250): the ~4 ms tail
 * of tx ring residence and of ping. No doorbell was lost; nicd was runnable
 * and not chosen. A shorter EEVDF slice (sched_attr.sched_runtime, Linux
 * 6.12) lets a wake-up preempt, but not a preempted nicd that has used its
 * share; nice -5 did not either.
 *
 * The kernel moves frames in softirq, which runs before any task. nicd takes
 * the user-space equivalent, SCHED_FIFO (--rt-prio, default 1): a wake-up
 * runs it at once. As softirq hands a flood over to ksoftirqd, a normal task
 * (kernel/softirq.c), nicd bounds what it takes at real-time priority: over
 * each NICD_RT_WINDOW_NS it measures the CPU time it used (the thread's
 * clock, not time awake: waiting for a CPU must not count), drops to
 * SCHED_OTHER when that reaches NICD_RT_DUTY_MAX percent of the window, and
 * takes SCHED_FIFO back once it falls under NICD_RT_DUTY_MIN. A flood gets a fair
 * share of a CPU, never all of it (shared/notes/baselines.md: busy loops
 * starve the kernel's threads on two cores); light traffic, the case the
 * tail hurt, stays real-time. SCHED_FIFO needs CAP_SYS_NICE or an
 * RLIMIT_RTPRIO (systemd: LimitRTPRIO=1); without it nicd says so once and
 * runs SCHED_OTHER with the short slice (--slice-us).
 *
 * The spin after the last work (--spin-us) stays under SCHED_FIFO. It keeps
 * the CPU from a netd the kernel queued on nicd's CPU for up to 50 us, but
 * catches netd's reply without a wake-up when netd runs on the other one;
 * measured both ways (docs/NICD.md), the spin won on a normally loaded
 * machine and lost only with both CPUs saturated.
 */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "nicd/nicd.h"

#define NICD_RT_WINDOW_NS  (10000000ull)  /* duty measured over 10 ms */
#define NICD_RT_DUTY_MAX   50u            /* percent of a CPU: drop SCHED_FIFO */
#define NICD_RT_DUTY_MIN   25u            /* percent of a CPU: take it back */

/* The kernel's struct sched_attr (include/uapi/linux/sched/types.h, first
 * version): that header cannot be included beside glibc's <sched.h> (both
 * define struct sched_param), and glibc before 2.41 has no copy. */
struct nicd_sched_attr {
	uint32_t size;
	uint32_t sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime;     /* SCHED_OTHER: the EEVDF slice (Linux 6.12) */
	uint64_t sched_deadline;
	uint64_t sched_period;
};
_Static_assert(sizeof(struct nicd_sched_attr) == 48, "SCHED_ATTR_SIZE_VER0");
#define NICD_SCHED_RESET_ON_FORK 0x01u   /* SCHED_FLAG_RESET_ON_FORK */

/* CPU time the calling thread (the engine) has used, in ns. */
static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* glibc before 2.41 has no wrapper. Applies to the calling thread (pid 0):
 * nicd's one engine thread. */
static int sched_set(const struct nicd_sched_attr *attr)
{
	return syscall(SYS_sched_setattr, 0, attr, 0) == 0 ? 0 : -errno;
}

/* SCHED_FIFO at cfg.rt_prio. RESET_ON_FORK: no child inherits it. */
static int sched_fifo(const struct nicd *nd)
{
	struct nicd_sched_attr a = { .size = sizeof(a), .sched_policy = SCHED_FIFO,
				     .sched_flags = NICD_SCHED_RESET_ON_FORK,
				     .sched_priority = nd->cfg.rt_prio };

	return sched_set(&a);
}

/* SCHED_OTHER, nice 0, with the short slice (0: the kernel's default).
 * Kernels before 6.12 ignore sched_runtime for SCHED_OTHER. */
static int sched_other(const struct nicd *nd)
{
	struct nicd_sched_attr a = { .size = sizeof(a), .sched_policy = SCHED_OTHER,
				     .sched_flags = NICD_SCHED_RESET_ON_FORK,
				     .sched_runtime = (uint64_t)nd->cfg.slice_us * 1000u };

	return sched_set(&a);
}

void nicd_sched_init(struct nicd *nd)
{
	int err = nd->cfg.rt_prio > 0 ? sched_fifo(nd) : -ENOTSUP;

	nd->sched = err == 0 ? NICD_SCHED_FIFO : NICD_SCHED_OTHER;
	if (nd->cfg.rt_prio > 0 && err < 0)
		nicd_log(NICD_WARN, "SCHED_FIFO %u refused (%s): SCHED_OTHER, so wake-ups may wait "
			 "up to a scheduler tick behind other work (CAP_SYS_NICE or "
			 "LimitRTPRIO= allows it)", nd->cfg.rt_prio, strerror(-err));
	if (nd->sched == NICD_SCHED_OTHER && (err = sched_other(nd)) < 0)
		nicd_log(NICD_WARN, "scheduler slice %u us: %s", nd->cfg.slice_us, strerror(-err));
	nd->sched_window_ns = nicd_now_ns();
	nd->sched_cpu_ns = thread_cpu_ns();
}

/* Once per window: move between SCHED_FIFO and SCHED_OTHER by the share of
 * a CPU the engine used in it. One clock read per window, none otherwise. */
static void sched_account(struct nicd *nd, uint64_t now)
{
	uint64_t span = now - nd->sched_window_ns;
	uint64_t cpu, duty;

	if (span < NICD_RT_WINDOW_NS || nd->sched == NICD_SCHED_OTHER)
		return;
	cpu = thread_cpu_ns();
	duty = (cpu - nd->sched_cpu_ns) * 100u / span;
	nd->sched_cpu_ns = cpu;
	nd->sched_window_ns = now;
	if (nd->sched == NICD_SCHED_FIFO && duty >= NICD_RT_DUTY_MAX && sched_other(nd) == 0) {
		nd->sched = NICD_SCHED_DEMOTED;
		COUNTER_INC(nd->ctr, NICD_SCHED_DEMOTIONS);
	} else if (nd->sched == NICD_SCHED_DEMOTED && duty < NICD_RT_DUTY_MIN &&
		   sched_fifo(nd) == 0) {
		nd->sched = NICD_SCHED_FIFO;
	}
}

void nicd_sched_busy(struct nicd *nd)
{
	sched_account(nd, nd->now_ns);
}

void nicd_sched_sleep(struct nicd *nd)
{
	sched_account(nd, nicd_now_ns());
}
