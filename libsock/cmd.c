/* libsock/cmd.c — commands to netd and their completions.
 *
 * app.cmd is a single-producer ring and the app may have many threads, so
 * posting is serialised by a process-private lock (cmd_lock). app.cpl is
 * single-consumer too: one thread at a time drains it (cpl_lock) and hands
 * each completion to whichever thread waits for that seq, through a small
 * table of pending seqs. A thread that waits for its completion therefore
 * drains for everyone, and sleeps on the wake doorbell like any blocking
 * call (wait.c) when there is nothing to drain.
 *
 * Completions nobody waits for: APP_OP_CLOSE is posted without waiting
 * (close() does not block); its completion returns the socket index to the
 * free list. A completion for a waiter that gave up (timeout) is counted
 * and dropped.
 */
#include "libsock/libsock_internal.h"

#include <string.h>
#include <time.h>

#include "shm/doorbell.h"

#define LS_CPL_BURST 32u

/* ------------------------------------------------------------ posting */

/* Enqueue one command; if the ring is full netd is behind: ring it and wait
 * (bounded) for room. Returns 0, -ENOBUFS or -EIO (corrupt view). */
static int cmd_enqueue(const struct app_cmd *cmd)
{
	struct timespec pause = { .tv_nsec = 50000 };
	int64_t deadline = 0;          /* read the clock only once the ring was full */
	unsigned n;

	for (;;) {
		pthread_mutex_lock(&ls.cmd_lock);
		n = ring_enqueue_bulk_elem(&ls.cmd, cmd, sizeof(*cmd), 1);
		pthread_mutex_unlock(&ls.cmd_lock);
		if (n == 1)
			return 0;
		if (ring_prod_corrupt(&ls.cmd))
			return -EIO;
		doorbell_ring(&ls.ctl->netd);
		if (deadline == 0)
			deadline = ls_deadline(LS_CMD_TIMEOUT_NS);
		else if (ls_now_ns() > deadline)
			return -ENOBUFS;
		nanosleep(&pause, NULL);
	}
}

int ls_cmd_post(struct app_cmd *cmd, uint32_t *seq)
{
	int err;

	/* Notifications (TX, RX_DONE) get no completion: no seq, and no
	 * timestamp, which only matters for commands whose latency is timed. */
	if (seq || (cmd->op != APP_OP_TX && cmd->op != APP_OP_RX_DONE)) {
		cmd->seq = atomic_fetch_add_explicit(&ls.next_seq, 1, memory_order_relaxed) + 1;
		cmd->ts = (uint64_t)ls_now_ns();
	}
	/* Before the enqueue: the completion may be drained by another thread
	 * the moment netd sees the command. */
	if (seq)
		*seq = cmd->seq;
	err = cmd_enqueue(cmd);
	if (err == 0)
		doorbell_ring(&ls.ctl->netd);
	return err;
}

/* ------------------------------------------------------------ completions */

static struct ls_pending *pending_find(uint32_t seq)
{
	for (unsigned i = 0; i < LS_PENDING_MAX; i++)
		if (ls.pending[i].used && ls.pending[i].seq == seq)
			return &ls.pending[i];
	return NULL;
}

/* A completion for no waiter: an asynchronous close finishing, or a waiter
 * that timed out. The socket index comes from netd: check it. */
static void cpl_unclaimed(const struct app_cpl *c)
{
	struct ls_sock *s;

	if (c->op == APP_OP_CLOSE && c->sock < ls.nsocks) {
		s = &ls.sk[c->sock];
		if (atomic_load(&s->closing) && s->close_seq == c->seq) {
			ls_sock_release(s);
			return;
		}
	}
	ls_count(LS_C_CPL_UNMATCHED);
}

static void cpl_deliver(const struct app_cpl *c)
{
	struct ls_pending *p = pending_find(c->seq);

	if (p && !p->done) {
		p->cpl = *c;
		p->done = true;
	} else {
		cpl_unclaimed(c);
	}
}

void ls_cpl_drain(void)
{
	struct app_cpl burst[LS_CPL_BURST];
	unsigned n;

	if (ls_unlikely(atomic_load_explicit(&ls.state, memory_order_acquire) != LS_ATTACHED))
		return;
	/* Cheap test first: most calls find nothing to drain. */
	if (ring_cons_count(&ls.cpl) == 0)
		return;
	pthread_mutex_lock(&ls.cpl_lock);
	do {
		n = ring_dequeue_burst_elem(&ls.cpl, burst, sizeof(burst[0]), LS_CPL_BURST);
		for (unsigned i = 0; i < n; i++)
			cpl_deliver(&burst[i]);
	} while (n == LS_CPL_BURST);
	pthread_mutex_unlock(&ls.cpl_lock);
}

/* ------------------------------------------------------------ calls */

static struct ls_pending *pending_claim(uint32_t seq)
{
	struct ls_pending *p = NULL;

	pthread_mutex_lock(&ls.cpl_lock);
	for (unsigned i = 0; i < LS_PENDING_MAX && !p; i++)
		if (!ls.pending[i].used)
			p = &ls.pending[i];
	if (p)
		*p = (struct ls_pending){ .seq = seq, .used = true };
	pthread_mutex_unlock(&ls.cpl_lock);
	return p;
}

static bool pending_done(void *arg)
{
	struct ls_pending *p = arg;
	bool done;

	ls_cpl_drain();
	pthread_mutex_lock(&ls.cpl_lock);
	done = p->done;
	pthread_mutex_unlock(&ls.cpl_lock);
	return done;
}

/* Take the result out of the pending slot and free it; a slot still not done
 * is a command netd did not answer in time (posted is false when it never
 * reached the ring). */
static int pending_finish(struct ls_pending *p, struct app_cpl *cpl, bool posted)
{
	int r;

	pthread_mutex_lock(&ls.cpl_lock);
	r = p->done ? p->cpl.result : -ETIMEDOUT;
	if (p->done && cpl)
		*cpl = p->cpl;
	if (!p->done && posted)
		ls_count(LS_C_CMD_TIMEOUT);
	p->used = false;
	pthread_mutex_unlock(&ls.cpl_lock);
	return r;
}

int ls_cmd_call(struct app_cmd *cmd, struct app_cpl *cpl)
{
	uint32_t seq = atomic_fetch_add_explicit(&ls.next_seq, 1, memory_order_relaxed) + 1;
	struct ls_pending *p = pending_claim(seq);
	int err;

	if (!p)
		return -ENOBUFS;   /* LS_PENDING_MAX threads waiting on netd at once */
	cmd->seq = seq;
	cmd->ts = (uint64_t)ls_now_ns();
	err = cmd_enqueue(cmd);
	if (err < 0) {
		pending_finish(p, NULL, false);
		return err;
	}
	doorbell_ring(&ls.ctl->netd);
	ls_block(pending_done, p, ls_deadline(LS_CMD_TIMEOUT_NS), LS_INTR_NEVER);
	return pending_finish(p, cpl, true);
}
