/* nicd/engine.c — nicd's one engine thread: NAPI in user space.
 *
 * Where it sits: the loop every frame passes through in nicd. One io_uring
 * carries everything nicd waits for — TAP reads and writes, the AF_PACKET
 * socket's readiness, the tx doorbell's eventfd, the signalfd, the control
 * socket — so one wait covers them all.
 *
 * A pass: reap completions (received frames go to rx.c), drain the tx rings
 * into the backend, flush the rx bursts (one publish and at most one wake-up
 * per ring), repost reads, submit. While passes find work the engine loops;
 * after the last work it spins for --spin-us (entering the kernel only to run
 * io_uring's deferred completions), then announces itself on the tx doorbell,
 * re-checks the tx rings, and sleeps in io_uring_submit_and_wait_timeout. The
 * sleep is bounded by NIC_IDLE_POLL_MS: heartbeat, watchdog and retries run at
 * least that often. Around the sleep, sched.c keeps the engine SCHED_FIFO
 * while it uses under half a CPU, so a wake-up runs it at once. Never busy-polls forever (shared/notes/baselines.md: on
 * two cores that starves the kernel side of the TAP).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "nicd/nicd.h"

#define MS_NS          1000000ull
#define HOUSE_NS       (NIC_IDLE_POLL_MS * MS_NS)
#define STOP_FLUSH_NS  (500 * MS_NS)   /* how long SIGTERM waits for writes in flight */

uint64_t nicd_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct io_uring_sqe *nicd_sqe(struct nicd *nd)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&nd->uring);

	if (!sqe) {
		/* the SQ is full: hand it to the kernel and take a fresh entry */
		if (io_uring_submit(&nd->uring) < 0)
			return NULL;
		COUNTER_INC(nd->ctr, NICD_SUBMITS);
		nd->sq_pending = 0;
		sqe = io_uring_get_sqe(&nd->uring);
	}
	if (sqe)
		nd->sq_pending++;
	return sqe;
}

/* (Re)arm the read of the tx doorbell's eventfd and of the signalfd. */
static void arm_read(struct nicd *nd, int fd, void *buf, unsigned len, enum nicd_ud_kind kind)
{
	struct io_uring_sqe *sqe = nicd_sqe(nd);

	if (!sqe)
		return;
	io_uring_prep_read(sqe, fd, buf, len, 0);
	io_uring_sqe_set_data64(sqe, nicd_ud(kind, 0, 0));
}

/* Size the rings for every request nicd keeps in flight at once, then try
 * the flags that suit one thread waiting in io_uring (completions run when
 * it enters the kernel, never by interrupting it), falling back for older
 * kernels. */
int nicd_engine_init(struct nicd *nd)
{
	unsigned want = nd->cfg.queues * (nd->cfg.rx_window + nd->cfg.tx_window) +
			NICD_CONNS_MAX + 8;
	unsigned entries = 64;
	struct io_uring_params p;
	int err;

	while (entries < want && entries < 4096)
		entries <<= 1;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	p.cq_entries = entries * 2;
	err = io_uring_queue_init_params(entries, &nd->uring, &p);
	if (err == -EINVAL) {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE;
		p.cq_entries = entries * 2;
		err = io_uring_queue_init_params(entries, &nd->uring, &p);
	}
	if (err < 0)
		return err;
	arm_read(nd, nd->tx_efd, &nd->txdb_buf, sizeof(nd->txdb_buf), NICD_UD_TXDB);
	arm_read(nd, nd->sig_fd, nd->sig_buf, sizeof(struct signalfd_siginfo), NICD_UD_SIGNAL);
	return 0;
}

void nicd_engine_fini(struct nicd *nd)
{
	if (nd->uring.ring_fd > 0)
		io_uring_queue_exit(&nd->uring);
	nd->uring.ring_fd = -1;
}

/* A signal arrived through the signalfd: SIGTERM/SIGINT stop, SIGUSR1 prints. */
static void on_signal(struct nicd *nd, int res)
{
	const struct signalfd_siginfo *si = (const void *)nd->sig_buf;

	if (res == (int)sizeof(*si)) {
		if (si->ssi_signo == SIGUSR1)
			nd->dump_stats = true;
		else
			nd->stop = true;
	}
	if (!nd->stop)
		arm_read(nd, nd->sig_fd, nd->sig_buf, sizeof(*si), NICD_UD_SIGNAL);
}

static void dispatch(struct nicd *nd, uint64_t ud, int res)
{
	switch (nicd_ud_kind(ud)) {
	case NICD_UD_RX:
		nicd_tap_rx_done(nd, nicd_ud_q(ud), nicd_ud_idx(ud), res);
		break;
	case NICD_UD_TX:
		nicd_tap_tx_done(nd, nicd_ud_q(ud), nicd_ud_idx(ud), res);
		break;
	case NICD_UD_TXDB:
		COUNTER_INC(nd->ctr, NICD_TX_DOORBELL_READS);
		if (!nd->stop)
			arm_read(nd, nd->tx_efd, &nd->txdb_buf, sizeof(nd->txdb_buf), NICD_UD_TXDB);
		break;
	case NICD_UD_SIGNAL:
		on_signal(nd, res);
		break;
	case NICD_UD_ACCEPT:
		nicd_ctrl_accept_done(nd, res);
		break;
	case NICD_UD_CONN:
		nicd_ctrl_conn_ready(nd, nicd_ud_idx(ud), res);
		break;
	case NICD_UD_PKT:
		nicd_pkt_poll_done(nd, res);
		break;
	}
}

/* Handle up to NICD_CQE_BUDGET completions; returns how many. */
static unsigned engine_reap(struct nicd *nd)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&nd->uring, head, cqe) {
		dispatch(nd, cqe->user_data, cqe->res);
		if (++n == NICD_CQE_BUDGET)
			break;
	}
	io_uring_cq_advance(&nd->uring, n);
	return n;
}

static unsigned engine_tx(struct nicd *nd)
{
	unsigned n = 0;

	for (unsigned q = 0; q < nd->cfg.queues; q++)
		n += nd->cfg.backend == NIC_BACKEND_TAP ? nicd_tap_tx(nd, q) : nicd_pkt_tx(nd, q);
	return n;
}

static void engine_submit(struct nicd *nd)
{
	if (nd->sq_pending == 0)
		return;
	if (io_uring_submit(&nd->uring) >= 0)
		COUNTER_INC(nd->ctr, NICD_SUBMITS);
	nd->sq_pending = 0;
}

/* Work that runs every NIC_IDLE_POLL_MS whatever the traffic. */
static void engine_house(struct nicd *nd)
{
	atomic_store_explicit(&nd->ctl->heartbeat_ns, nd->now_ns, memory_order_relaxed);
	sd_notify(0, "WATCHDOG=1");
	if (nd->cfg.backend == NIC_BACKEND_PACKET)
		nicd_pkt_housekeeping(nd);
	if (nd->dump_stats) {
		nicd_stats_print(nd, stderr);
		nd->dump_stats = false;
	}
	nd->last_house_ns = nd->now_ns;
}

/* One pass; returns the units of work done (0: idle). */
static unsigned engine_pass(struct nicd *nd)
{
	unsigned work;

	nd->now_ns = nicd_now_ns();
	COUNTER_INC(nd->ctr, NICD_LOOPS);
	work = engine_reap(nd);
	if (nd->cfg.backend == NIC_BACKEND_PACKET)
		work += nicd_pkt_rx(nd);
	if (!nd->stop)
		work += engine_tx(nd);
	nicd_rx_flush(nd);
	if (nd->cfg.backend == NIC_BACKEND_TAP && !nd->stop)
		nicd_tap_refill(nd);
	if (nd->now_ns - nd->last_house_ns >= HOUSE_NS || nd->dump_stats)
		engine_house(nd);
	engine_submit(nd);
	return work;
}

static bool tx_rings_empty(struct nicd *nd)
{
	for (unsigned q = 0; q < nd->cfg.queues; q++)
		if (ring_cons_count(&nd->q[q].tx) > 0)
			return false;
	return true;
}

/* How long the engine may sleep: until housekeeping, or until a TAP queue
 * with no read posted may post one again. */
static uint64_t sleep_ns(const struct nicd *nd)
{
	uint64_t until = nd->last_house_ns + HOUSE_NS;

	if (nd->cfg.backend == NIC_BACKEND_TAP) {
		uint64_t retry = nicd_tap_rx_retry_ns(nd);

		if (retry < until)
			until = retry;
	}
	return until > nd->now_ns ? until - nd->now_ns : 0;
}

/* Announce the sleep on the tx doorbell, re-check, and wait in io_uring for
 * one completion (a frame, the doorbell's eventfd, a signal, a peer). */
static void engine_sleep(struct nicd *nd)
{
	uint32_t tok = doorbell_prepare_wait(nd->txdb);
	uint64_t ns = sleep_ns(nd);
	struct __kernel_timespec ts = { .tv_sec = (long long)(ns / 1000000000ull),
					.tv_nsec = (long long)(ns % 1000000000ull) };
	struct io_uring_cqe *cqe;

	if (tx_rings_empty(nd) && io_uring_cq_ready(&nd->uring) == 0 && ns > 0) {
		COUNTER_INC(nd->ctr, NICD_SLEEPS);
		nicd_sched_sleep(nd);
		io_uring_submit_and_wait_timeout(&nd->uring, &cqe, 1, &ts, NULL);
		nd->sq_pending = 0;
	}
	doorbell_cancel_wait(nd->txdb, tok);
}

/* After SIGTERM: let the writes in flight complete (bounded), so that what
 * netd handed over reaches the device. Reads are left to be cancelled. */
static void engine_drain(struct nicd *nd)
{
	uint64_t deadline = nicd_now_ns() + STOP_FLUSH_NS;
	struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 10 * (long long)MS_NS };
	struct io_uring_cqe *cqe;

	while (nd->cfg.backend == NIC_BACKEND_TAP && nicd_tap_inflight_tx(nd) > 0 &&
	       nicd_now_ns() < deadline) {
		io_uring_submit_and_wait_timeout(&nd->uring, &cqe, 1, &ts, NULL);
		engine_pass(nd);
	}
}

int nicd_engine_run(struct nicd *nd)
{
	uint64_t spin_ns, idle_since;

	nicd_sched_init(nd);
	spin_ns = (uint64_t)nd->cfg.spin_us * 1000u;
	idle_since = nicd_now_ns();
	nd->last_house_ns = idle_since;
	while (!nd->stop) {
		if (engine_pass(nd) > 0) {
			idle_since = nd->now_ns;
			nicd_sched_busy(nd);
			continue;
		}
		if (nd->now_ns - idle_since < spin_ns) {
			/* run deferred completions; cheap, and no sleep */
			io_uring_get_events(&nd->uring);
			continue;
		}
		engine_sleep(nd);
		/* no spin unless the next pass finds work: a wake-up for nothing
		 * (a timeout) goes straight back to sleep */
		idle_since = nd->now_ns - spin_ns;
	}
	engine_drain(nd);
	return 0;
}

void nicd_stats_print(struct nicd *nd, FILE *f)
{
	uint64_t v[NICD_CTR_NR];
	struct pkb_pool_stats ps;
	struct hist_snap snap;
	char line[256];

	nicd_counters_snapshot(nd->ctr, v);
	pkb_pool_stats(&nd->pool, &ps);
	fprintf(f, "<6>nicd: counters (generation %u, pool %u/%u slots free):\n",
		nd->ctl->generation, pkb_pool_free_count(&nd->pool), nd->pool.nslots);
	counters_fprint(f, "<6>nicd", nicd_counters_desc(), v, NICD_CTR_NR, COUNTERS_SKIP_ZERO);
	/* the pool's own counters: misuse by anyone (debug builds), drops */
	fprintf(f, "<6>nicd: pool alloc_fail %" PRIu64 " double_free %" PRIu64
		" use_after_free %" PRIu64 " bad_index %" PRIu64 "\n", ps.alloc_fail,
		ps.double_free, ps.use_after_free, ps.bad_index);
	if (hist_snapshot(&nd->stats->rx_batch, &snap) == 0 && hist_format(&snap, line, sizeof(line)) > 0)
		fprintf(f, "<6>nicd: rx frames per pass (read ns as frames): %s\n", line);
	if (hist_snapshot(&nd->stats->tx_residence, &snap) == 0 && hist_format(&snap, line, sizeof(line)) > 0)
		fprintf(f, "<6>nicd: tx ring residence: %s\n", line);
	for (unsigned q = 0; q < nd->cfg.queues && nd->cfg.queues > 1; q++)
		fprintf(f, "<6>nicd: rx queue %u: %" PRIu64 " frames, %" PRIu64 " dropped\n", q,
			atomic_load_explicit(&nd->stats->q[q].rx_frames, memory_order_relaxed),
			atomic_load_explicit(&nd->stats->q[q].rx_drops, memory_order_relaxed));
	fflush(f);
}
