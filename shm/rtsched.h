/* shm/rtsched.h — real-time scheduling for a data-path thread, with a duty cap.
 *
 * Every frame waits for the thread that moves it to be *running*. With other
 * CPU-bound work on a small machine, a SCHED_OTHER thread that was woken
 * often waits behind that work until the next scheduler tick (4 ms at
 * HZ=250: the tail docs/NICD.md measured). The kernel moves frames in
 * softirq, which runs before any task; nicd's engine and netd's engines take
 * the user-space equivalent, SCHED_FIFO, so a wake-up runs them at once.
 *
 * As softirq hands a flood over to ksoftirqd, a normal task
 * (kernel/softirq.c), a thread here bounds what it takes at real-time
 * priority: over each RT_SCHED_WINDOW_NS it measures the CPU time it used
 * (its own thread clock: waiting for a CPU does not count), drops to
 * SCHED_OTHER when that reaches RT_SCHED_DUTY_MAX percent, and takes
 * SCHED_FIFO back once it falls under RT_SCHED_DUTY_MIN. A flood gets a fair
 * share of a CPU, never all of it (shared/notes/baselines.md: busy loops
 * starve the kernel's threads on two cores); light traffic, the case the
 * tail hurt, stays real-time. SCHED_FIFO needs CAP_SYS_NICE or an
 * RLIMIT_RTPRIO (systemd: LimitRTPRIO=); without it the thread runs
 * SCHED_OTHER with a short EEVDF slice (sched_runtime, Linux 6.12), which
 * lets a wake-up preempt. RESET_ON_FORK: no child inherits either.
 *
 * One struct per thread, used by that thread only. Not a shared layout:
 * it lives here because nicd and netd both run data-path threads.
 */
#ifndef RINGSTACK_SHM_RTSCHED_H
#define RINGSTACK_SHM_RTSCHED_H

#include <stdint.h>

#define RT_SCHED_WINDOW_NS  10000000ull   /* duty measured over 10 ms */
#define RT_SCHED_DUTY_MAX   50u           /* percent of a CPU: drop SCHED_FIFO */
#define RT_SCHED_DUTY_MIN   25u           /* percent of a CPU: take it back */

enum rt_sched_state {
	RT_SCHED_OTHER,      /* SCHED_OTHER throughout (priority 0, or refused) */
	RT_SCHED_FIFO,       /* SCHED_FIFO now */
	RT_SCHED_DEMOTED,    /* SCHED_FIFO, dropped to SCHED_OTHER while busy */
};

struct rt_sched {
	enum rt_sched_state state;
	unsigned prio;               /* SCHED_FIFO priority, 0: never */
	unsigned slice_us;           /* sched_runtime under SCHED_OTHER, 0: the kernel's */
	uint64_t window_ns;          /* start of the current duty window */
	uint64_t cpu_ns;             /* the thread's CPU time then */
};

/* Put the calling thread under SCHED_FIFO at prio (0: SCHED_OTHER with the
 * slice). Returns 0, or -errno when SCHED_FIFO was refused (the thread then
 * runs SCHED_OTHER; the caller says so). *slice_err gets the result of
 * setting the slice (0, or -errno; kernels before 6.12 ignore it). */
int rt_sched_start(struct rt_sched *rs, unsigned prio, unsigned slice_us, uint64_t now,
		   int *slice_err);

/* Call at least once per window while busy and before sleeping (now: the
 * monotonic clock). One thread-clock read per window, nothing otherwise.
 * Returns 1 when it just dropped to SCHED_OTHER, -1 when it just took
 * SCHED_FIFO back, 0 otherwise. */
int rt_sched_account(struct rt_sched *rs, uint64_t now);

#endif /* RINGSTACK_SHM_RTSCHED_H */
