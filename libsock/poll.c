/* libsock/poll.c — readiness of stack sockets, and poll, ppoll, select,
 * pselect over a mix of stack sockets and kernel descriptors.
 *
 * A stack socket's readiness is computed, never waited for in the kernel:
 * its placeholder eventfd is handed to the kernel as -1 (ignored), and the
 * wake eventfd is added instead, so one real ppoll sleeps until either a
 * kernel descriptor is ready or netd rings (wait.c's protocol around it):
 *
 *     scan stack sockets -> any ready? -> kernel ppoll with zero timeout, merge
 *     otherwise: prepare, re-scan, ppoll(kernel fds + wake fd, timeout), finish
 *
 * The rules (shm/app_layout.h), as Linux's tcp_poll/udp_poll report them:
 *     POLLIN   rx not empty, or RDHUP/HUP/ERR, or (listener) ACCEPTQ
 *     POLLOUT  tx has room (a quarter of the ring for a stream, half for
 *              datagrams, so that a writer is not woken for a few bytes) and,
 *              for a stream, connected and not HUP; also a stream never
 *              connected (POLLOUT|POLLHUP, as Linux reports a fresh socket)
 *     POLLERR  ERR    POLLHUP  HUP or both directions shut    POLLRDHUP  RDHUP
 */
#include "libsock/libsock_internal.h"

#include <stdlib.h>
#include <string.h>

#define LS_POLL_STACK_FDS 32         /* pollfd copies up to this many on the stack */

/* ------------------------------------------------------------ readiness */

static uint32_t tx_room(struct ls_sock *s)
{
	struct app_bring *b = &ls_app_sock(s)->tx;
	uint32_t used = atomic_load_explicit(&b->prod, memory_order_relaxed) -
			atomic_load_explicit(&b->cons, memory_order_acquire);

	return used > ls.buf_size ? 0 : ls.buf_size - used;
}

static unsigned stream_out(struct ls_sock *s, uint32_t ev, int phase)
{
	if (phase == LS_PH_NEW || phase == LS_PH_BOUND)
		return POLLOUT | POLLWRNORM | POLLHUP;
	if (ev & APP_EV_HUP || !(phase == LS_PH_CONNECTED ||
				 (phase == LS_PH_CONNECTING && ev & APP_EV_CONNECTED)))
		return 0;
	return tx_room(s) >= ls.buf_size / 4 ? POLLOUT | POLLWRNORM : 0;
}

unsigned ls_sock_revents(struct ls_sock *s)
{
	/* Acquire: pairs with netd's release store of events (app_layout.h). */
	uint32_t ev = atomic_load_explicit(&ls_app_sock(s)->events, memory_order_acquire);
	unsigned shut = atomic_load(&s->shut), m = 0;
	int phase = atomic_load(&s->phase);

	if (phase == LS_PH_LISTENING) {
		if (ev & APP_EV_ACCEPTQ)
			m |= POLLIN | POLLRDNORM;
	} else if (ls_rx_pending(s) > 0 || ev & (APP_EV_RDHUP | APP_EV_HUP | APP_EV_ERR) ||
		   shut & LS_SHUT_RD) {
		m |= POLLIN | POLLRDNORM;
	}
	if (s->type == SOCK_STREAM && phase != LS_PH_LISTENING)
		m |= stream_out(s, ev, phase);
	else if (s->type == SOCK_DGRAM && tx_room(s) >= ls.buf_size / 2)
		m |= POLLOUT | POLLWRNORM;
	if (ev & APP_EV_ERR)
		m |= POLLERR;
	if (ev & APP_EV_HUP || shut == (LS_SHUT_RD | LS_SHUT_WR))
		m |= POLLHUP;
	if (ev & APP_EV_RDHUP || shut & LS_SHUT_RD)
		m |= POLLRDHUP;
	return m;
}

/* ------------------------------------------------------------ poll */

/* Set revents of every stack socket in fds (kernel entries untouched).
 * Returns how many stack entries are ready. */
static int stack_scan(struct pollfd *fds, nfds_t n)
{
	struct ls_sock *s;
	int ready = 0;

	for (nfds_t i = 0; i < n; i++) {
		if (ls_fd_lookup(fds[i].fd, &s) != LS_FD_SOCK)
			continue;
		fds[i].revents = (short)(ls_sock_revents(s) &
					 ((unsigned)fds[i].events | POLLERR | POLLHUP));
		ready += fds[i].revents != 0;
	}
	return ready;
}

/* The kernel's share: fds with stack sockets masked out (fd -1 is ignored
 * by poll and gets revents 0). Returns the copy's entry count, n. */
static void kernel_view(const struct pollfd *fds, struct pollfd *k, nfds_t n)
{
	for (nfds_t i = 0; i < n; i++) {
		k[i] = fds[i];
		k[i].revents = 0;
		if (ls_fd_sock(fds[i].fd))
			k[i].fd = -1;
	}
}

/* Copy the kernel's revents back and count every ready entry. */
static int merge(struct pollfd *fds, const struct pollfd *k, nfds_t n)
{
	int ready = 0;

	for (nfds_t i = 0; i < n; i++) {
		if (k[i].fd >= 0 || fds[i].fd < 0)
			fds[i].revents = k[i].revents;
		ready += fds[i].revents != 0;
	}
	return ready;
}

static int kernel_poll_now(struct pollfd *fds, struct pollfd *k, nfds_t n, const sigset_t *mask)
{
	struct timespec zero = { 0 };

	if (REAL(ppoll)(k, n, &zero, mask) < 0)
		return -errno;
	return merge(fds, k, n);
}

static struct timespec slice_ts(int64_t deadline)
{
	int64_t left = deadline < 0 ? LS_SLEEP_SLICE_NS : deadline - ls_now_ns();

	if (left > LS_SLEEP_SLICE_NS)
		left = LS_SLEEP_SLICE_NS;
	if (left < 0)
		left = 0;
	return (struct timespec){ .tv_sec = left / 1000000000, .tv_nsec = left % 1000000000 };
}

/* Sleep once in the kernel with the wake fd in k[n]. Returns a count of
 * ready entries, 0 to go round again, or -errno (EINTR). */
static int poll_sleep(struct pollfd *fds, struct pollfd *k, nfds_t n, int64_t deadline,
		      const sigset_t *mask)
{
	struct timespec ts = slice_ts(deadline);
	struct ls_waiter w;
	bool fired;
	int r, err;

	ls_sleep_prepare(&w);
	if (stack_scan(fds, n) > 0 || ls_sleep_rung(&w)) {
		ls_sleep_finish(&w, false);
		return 0;
	}
	k[n] = (struct pollfd){ .fd = ls.wake_fd, .events = POLLIN };
	r = REAL(ppoll)(k, n + 1, &ts, mask);
	err = errno;
	fired = r > 0 && (k[n].revents & POLLIN);
	ls_sleep_finish(&w, fired);
	if (r < 0)
		return -err;
	if (r - fired <= 0)
		return 0;
	stack_scan(fds, n);
	return merge(fds, k, n);
}

/* poll over fds holding at least one stack socket; deadline as ls_block's,
 * 0 meaning "do not block". k has room for n + 1 entries. */
static int poll_stack(struct pollfd *fds, struct pollfd *k, nfds_t n, int64_t deadline,
		      const sigset_t *mask)
{
	int r;

	kernel_view(fds, k, n);
	for (;;) {
		ls_cpl_drain();
		for (nfds_t i = 0; i < n; i++)
			fds[i].revents = 0;
		if (stack_scan(fds, n) > 0 || deadline == 0 ||
		    (deadline > 0 && ls_now_ns() >= deadline))
			return kernel_poll_now(fds, k, n, mask);
		r = poll_sleep(fds, k, n, deadline, mask);
		if (r != 0)
			return r;
	}
}

static bool has_stack_fd(const struct pollfd *fds, nfds_t n)
{
	for (nfds_t i = 0; i < n; i++)
		if (ls_fd_sock(fds[i].fd))
			return true;
	return false;
}

/* deadline: -1 no limit, 0 do not block, else absolute (ls_now_ns()). */
static int ls_poll(struct pollfd *fds, nfds_t n, int64_t deadline, const sigset_t *mask)
{
	struct pollfd local[LS_POLL_STACK_FDS + 1];
	struct pollfd *k = local;
	int r;

	if (n > LS_POLL_STACK_FDS) {
		k = malloc((n + 1) * sizeof(*k));
		if (!k)
			return -ENOMEM;
	}
	r = poll_stack(fds, k, n, deadline, mask);
	if (k != local)
		free(k);
	return r;
}

static int64_t deadline_ms(int timeout)
{
	return timeout < 0 ? -1 : timeout == 0 ? 0 : ls_now_ns() + (int64_t)timeout * 1000000;
}

static int64_t deadline_ts(const struct timespec *ts)
{
	if (!ts)
		return -1;
	if (ts->tv_sec == 0 && ts->tv_nsec == 0)
		return 0;
	return ls_now_ns() + (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/* glibc declares poll's and ppoll's array write-only (an access attribute
 * for its fortify checks), but poll reads events from it: at -O1 (SAN=1
 * builds) GCC would warn that we read what "may be uninitialized". */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

LS_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	int saved = errno;

	if (ls_likely(!has_stack_fd(fds, n)))
		return REAL(poll)(fds, n, timeout);
	return (int)ls_ret(ls_poll(fds, n, deadline_ms(timeout), NULL), saved);
}

LS_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
	int saved = errno;

	if (ls_likely(!has_stack_fd(fds, n)))
		return REAL(ppoll)(fds, n, ts, mask);
	if (ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000))
		return (int)ls_ret(-EINVAL, saved);
	return (int)ls_ret(ls_poll(fds, n, deadline_ts(ts), mask), saved);
}

#pragma GCC diagnostic pop

LS_EXPORT int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < nfds)
		__chk_fail();
	return poll(fds, nfds, timeout);
}

LS_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t nfds, const struct timespec *ts,
			  const sigset_t *ss, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < nfds)
		__chk_fail();
	return ppoll(fds, nfds, ts, ss);
}

/* ------------------------------------------------------------ select */

static bool sets_have_stack(int nfds, fd_set *r, fd_set *w, fd_set *e)
{
	for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++)
		if (((r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) || (e && FD_ISSET(fd, e))) &&
		    ls_fd_sock(fd))
			return true;
	return false;
}

/* fd_sets -> pollfds (one per descriptor in any set). Returns the count. */
static nfds_t sets_to_poll(int nfds, fd_set *r, fd_set *w, fd_set *e, struct pollfd *p)
{
	nfds_t n = 0;

	for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++) {
		short ev = (short)((r && FD_ISSET(fd, r) ? POLLIN : 0) |
				   (w && FD_ISSET(fd, w) ? POLLOUT : 0) |
				   (e && FD_ISSET(fd, e) ? POLLPRI : 0));

		if (ev)
			p[n++] = (struct pollfd){ .fd = fd, .events = ev };
	}
	return n;
}

/* pollfds -> fd_sets, with the kernel's select rules: readable is
 * IN|HUP|ERR, writable OUT|ERR, exceptional PRI. Returns the bits set. */
static int poll_to_sets(const struct pollfd *p, nfds_t n, fd_set *r, fd_set *w, fd_set *e)
{
	int count = 0;

	if (r)
		FD_ZERO(r);
	if (w)
		FD_ZERO(w);
	if (e)
		FD_ZERO(e);
	for (nfds_t i = 0; i < n; i++) {
		short re = p[i].revents;

		if (re & POLLNVAL)
			return -EBADF;
		if (r && (p[i].events & POLLIN) && (re & (POLLIN | POLLHUP | POLLERR)) && ++count)
			FD_SET(p[i].fd, r);
		if (w && (p[i].events & POLLOUT) && (re & (POLLOUT | POLLERR)) && ++count)
			FD_SET(p[i].fd, w);
		if (e && (p[i].events & POLLPRI) && (re & POLLPRI) && ++count)
			FD_SET(p[i].fd, e);
	}
	return count;
}

static int ls_select(int nfds, fd_set *r, fd_set *w, fd_set *e, int64_t deadline,
		     const sigset_t *mask)
{
	struct pollfd *p;
	nfds_t n;
	int res;

	if (nfds < 0)
		return -EINVAL;
	p = malloc(FD_SETSIZE * sizeof(*p));
	if (!p)
		return -ENOMEM;
	n = sets_to_poll(nfds, r, w, e, p);
	res = ls_poll(p, n, deadline, mask);
	if (res >= 0)
		res = poll_to_sets(p, n, r, w, e);
	free(p);
	return res;
}

/* Linux writes the time left back into select's timeout. */
static void timeval_left(struct timeval *tv, int64_t deadline)
{
	int64_t left = deadline > 0 ? deadline - ls_now_ns() : 0;

	if (!tv)
		return;
	if (left < 0)
		left = 0;
	tv->tv_sec = left / 1000000000;
	tv->tv_usec = left % 1000000000 / 1000;
}

LS_EXPORT int select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
	int64_t deadline = -1;
	int saved = errno, res;

	if (ls_likely(!sets_have_stack(nfds, r, w, e)))
		return REAL(select)(nfds, r, w, e, tv);
	if (tv && (tv->tv_sec < 0 || tv->tv_usec < 0))
		return (int)ls_ret(-EINVAL, saved);
	if (tv)
		deadline = (tv->tv_sec == 0 && tv->tv_usec == 0) ? 0
			 : ls_now_ns() + (int64_t)tv->tv_sec * 1000000000 + tv->tv_usec * 1000;
	res = ls_select(nfds, r, w, e, deadline, NULL);
	timeval_left(tv, deadline);
	return (int)ls_ret(res, saved);
}

LS_EXPORT int pselect(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *ts,
		      const sigset_t *mask)
{
	int saved = errno;

	if (ls_likely(!sets_have_stack(nfds, r, w, e)))
		return REAL(pselect)(nfds, r, w, e, ts, mask);
	if (ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000))
		return (int)ls_ret(-EINVAL, saved);
	return (int)ls_ret(ls_select(nfds, r, w, e, deadline_ts(ts), mask), saved);
}
