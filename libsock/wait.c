/* libsock/wait.c — sleeping on the wake doorbell, for every blocking call.
 *
 * netd rings the app's wake doorbell (app_ctl.wake, eventfd form) after it
 * publishes completions, bytes or state bits, and only if someone announced
 * a sleep (notify suppression, shm/doorbell.h). A blocking call here:
 *
 *     spin briefly re-checking its condition        (a wake-up costs ~7 us)
 *     ls_sleep_prepare:  announce, register          (the token = the epoch)
 *     re-check the condition                         (the Dekker half)
 *     ppoll on the wake eventfd (+ the app's fds)    (signals interrupt it)
 *     ls_sleep_finish:   withdraw, drain, re-arm
 *
 * Several threads share the one eventfd, and poll() re-checks readiness after
 * a wake-up: if one thread drains the eventfd before another's ppoll runs,
 * the second would sleep through a ring meant for it too. So the threads
 * register their tokens in a list, and whoever drains looks for a registered
 * thread whose token is older than the doorbell's epoch (a ring happened
 * after it announced, which its ppoll may not yet have seen) and writes the
 * wake-up back for it. Every announced sleeper whose epoch moved on is thus
 * woken at least once; the cost is one extra eventfd write per extra sleeper.
 *
 * Each sleep is capped at LS_SLEEP_SLICE_NS, and the condition re-checked: a
 * hostile or buggy peer can zero the doorbell word (doorbell.h), and a lost
 * wake-up must cost latency, never a hang.
 *
 * Signals. ppoll returns EINTR after any handler ran, and the kernel's own
 * socket calls are then restarted if the handler has SA_RESTART and the call
 * has no timeout (ls_intr_for). ppoll does not say which signal it was, so
 * handler_restarts() works it out from what could have been (below).
 */
#include "libsock/libsock_internal.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "shm/doorbell.h"


int64_t ls_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t ls_deadline(int64_t timeout_ns)
{
	return timeout_ns > 0 ? ls_now_ns() + timeout_ns : -1;
}

/* The doorbell's epoch: the upper half of its word (shm/doorbell.h). */
static uint32_t wake_epoch(void)
{
	return (uint32_t)(atomic_load_explicit(&ls.ctl->wake.word, memory_order_acquire) >> 32);
}

void ls_sleep_prepare(struct ls_waiter *w)
{
	pthread_mutex_lock(&ls.wait_lock);
	w->token = doorbell_prepare_wait(&ls.ctl->wake);
	w->next = ls.waiters;
	ls.waiters = w;
	pthread_mutex_unlock(&ls.wait_lock);
}

bool ls_sleep_rung(const struct ls_waiter *w)
{
	return wake_epoch() != w->token;
}

static void waiter_unlink(struct ls_waiter *w)
{
	for (struct ls_waiter **pp = &ls.waiters; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			return;
		}
}

/* Drain the wake pipe (a bounded read: what is left wakes the next poll at
 * once, which is harmless), then write one wake-up back if a registered
 * sleeper announced before the latest ring (its token is not the epoch):
 * that ring may be the one just drained. */
static void wake_drain_and_rearm(void)
{
	uint64_t v = 1, sink[32];
	uint32_t epoch;

	(void)!REAL(read)(ls.wake_fd, sink, sizeof(sink));
	epoch = wake_epoch();
	for (struct ls_waiter *o = ls.waiters; o; o = o->next)
		if (o->token != epoch) {
			v = 1;
			(void)!REAL(write)(ls.wake_wfd, &v, sizeof(v));
			return;
		}
}

void ls_sleep_finish(struct ls_waiter *w, bool fired)
{
	pthread_mutex_lock(&ls.wait_lock);
	waiter_unlink(w);
	if (fired)
		wake_drain_and_rearm();
	pthread_mutex_unlock(&ls.wait_lock);
	doorbell_cancel_wait(&ls.ctl->wake, w->token);
}

/* ------------------------------------------------------------ ls_block */

static void cpu_relax(void)
{
	__builtin_ia32_pause();
}

/* The condition, after handing out any completions that arrived: a thread
 * that waits drains for the threads that wait on commands (cmd.c). */
static bool check(ls_cond_fn cond, void *arg)
{
	ls_cpl_drain();
	return cond(arg);
}

/* Re-check cond for up to spin_ns (and not past the deadline). */
static bool spin(ls_cond_fn cond, void *arg, int64_t deadline)
{
	int64_t end;

	if (ls.spin_ns <= 0)
		return false;
	end = ls_now_ns() + ls.spin_ns;
	if (deadline >= 0 && deadline < end)
		end = deadline;
	do {
		for (int i = 0; i < 32; i++)
			cpu_relax();
		if (check(cond, arg))
			return true;
	} while (ls_now_ns() < end);
	return false;
}

static struct timespec ns_to_ts(int64_t ns)
{
	return (struct timespec){ .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };
}

/* Signals the kernel raises for the thread's own instruction or write, and
 * abort()'s, which it raises for its caller: none can arrive while the
 * thread sleeps in ppoll (only a kill(2) of one could). Their handlers are
 * no candidates below, which matters: crash reporters and sanitizers
 * install them without SA_RESTART. */
static bool sig_synchronous(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE ||
	       sig == SIGTRAP || sig == SIGSYS || sig == SIGABRT || sig == SIGPIPE;
}

/* Did the handler that just interrupted this thread's ppoll have SA_RESTART?
 * The signal was one this thread had unblocked (ppoll ran with its mask)
 * whose disposition is a handler: no other signal interrupts a system call
 * (an ignored one is discarded, a default action ends or stops the process,
 * and a stopped ppoll resumes unseen), and not a synchronous one (above).
 * So read those dispositions
 * (sigaction(sig, NULL, &old), after the fact: only on this rare path). If
 * every one has SA_RESTART, the one that ran had it; if none has, it had
 * not. If they disagree, which one ran cannot be known without taking over
 * the app's handlers or blocking its signals (which would move
 * process-directed signals to other threads): answer EINTR, a deviation
 * docs/LIBSOCK.md lists. glibc's own signals (SIGCANCEL, SIGSETXID) refuse
 * sigaction and are skipped. */
static bool handler_restarts(void)
{
	sigset_t blocked;
	int handlers = 0;

	if (pthread_sigmask(SIG_BLOCK, NULL, &blocked) != 0)
		return false;
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction old;

		if (sigismember(&blocked, sig) == 1 || sig_synchronous(sig) ||
		    sigaction(sig, NULL, &old) != 0 ||
		    old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN)
			continue;            /* could not have interrupted this thread */
		if (!(old.sa_flags & SA_RESTART))
			return false;
		handlers++;
	}
	return handlers > 0;
}

/* After ppoll said EINTR: 1 if cond holds anyway, 0 to sleep on (the
 * kernel would have restarted the call), or -EINTR. */
static int after_signal(ls_cond_fn cond, void *arg, enum ls_intr intr)
{
	if (check(cond, arg))
		return 1;
	if (intr == LS_INTR_RESTART && handler_restarts())
		return 0;
	return -EINTR;
}

/* One sleep. Returns 1 if cond became true, 0 to go round again, or
 * -ETIMEDOUT / -EINTR. */
static int sleep_once(ls_cond_fn cond, void *arg, int64_t deadline, enum ls_intr intr)
{
	struct pollfd pfd = { .fd = ls.wake_fd, .events = POLLIN };
	int64_t left = deadline < 0 ? LS_SLEEP_SLICE_NS : deadline - ls_now_ns();
	struct ls_waiter w;
	struct timespec ts;
	int n, err;

	if (left <= 0)
		return check(cond, arg) ? 1 : -ETIMEDOUT;
	ls_sleep_prepare(&w);
	if (check(cond, arg) || ls_sleep_rung(&w)) {
		ls_sleep_finish(&w, false);
		return 0;    /* the caller's loop re-checks cond */
	}
	ts = ns_to_ts(left < LS_SLEEP_SLICE_NS ? left : LS_SLEEP_SLICE_NS);
	n = REAL(ppoll)(&pfd, 1, &ts, NULL);
	err = n < 0 ? errno : 0;
	ls_sleep_finish(&w, n > 0 && (pfd.revents & POLLIN));
	if (err == EINTR && intr != LS_INTR_NEVER)
		return after_signal(cond, arg, intr);
	return 0;
}

int ls_block(ls_cond_fn cond, void *arg, int64_t deadline_ns, enum ls_intr intr)
{
	int r;

	if (check(cond, arg) || spin(cond, arg, deadline_ns))
		return 0;
	do {
		if (check(cond, arg))
			return 0;
		r = sleep_once(cond, arg, deadline_ns, intr);
	} while (r == 0);
	return r > 0 ? 0 : r;
}
