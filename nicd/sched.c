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
 * runs it at once, with the duty cap of shm/rtsched.h (SCHED_OTHER while it
 * uses half a CPU or more, counted SCHED_DEMOTIONS). Without the privilege
 * nicd says so once and runs SCHED_OTHER with the short slice (--slice-us).
 *
 * The spin after the last work (--spin-us) stays under SCHED_FIFO. It keeps
 * the CPU from a netd the kernel queued on nicd's CPU for up to 50 us, but
 * catches netd's reply without a wake-up when netd runs on the other one;
 * measured both ways (docs/NICD.md), the spin won on a normally loaded
 * machine and lost only with both CPUs saturated.
 */
#include <string.h>

#include "nicd/nicd.h"

void nicd_sched_init(struct nicd *nd)
{
	int slice_err, err = rt_sched_start(&nd->rt, nd->cfg.rt_prio, nd->cfg.slice_us,
					    nicd_now_ns(), &slice_err);

	if (err < 0)
		nicd_log(NICD_WARN, "SCHED_FIFO %u refused (%s): SCHED_OTHER, so wake-ups may wait "
			 "up to a scheduler tick behind other work (CAP_SYS_NICE or "
			 "LimitRTPRIO= allows it)", nd->cfg.rt_prio, strerror(-err));
	if (slice_err < 0)
		nicd_log(NICD_WARN, "scheduler slice %u us: %s", nd->cfg.slice_us,
			 strerror(-slice_err));
}

/* Once per window: between SCHED_FIFO and SCHED_OTHER by the share of a
 * CPU the engine used in it (shm/rtsched.h). */
static void sched_account(struct nicd *nd, uint64_t now)
{
	if (rt_sched_account(&nd->rt, now) > 0)
		COUNTER_INC(nd->ctr, NICD_SCHED_DEMOTIONS);
}

void nicd_sched_busy(struct nicd *nd)
{
	sched_account(nd, nd->now_ns);
}

void nicd_sched_sleep(struct nicd *nd)
{
	sched_account(nd, nicd_now_ns());
}
