/* libsock/epoll.c — epoll over a mix of stack sockets and kernel fds.
 *
 * The app's epoll fd stays a real epoll instance holding its kernel fds.
 * Stack sockets it adds are kept beside it, in a set libsock keeps per epoll
 * fd (their placeholders are also added to the real instance with no events,
 * only so that the kernel validates the call and answers EEXIST, ENOENT,
 * EBADF... as it would). epoll_wait then:
 *
 *     collect: stack sockets' readiness (ls_sock_revents) + the kernel's
 *              events with a zero timeout; return if any
 *     sleep:   prepare, re-check the stack sockets, ppoll([epfd, wake fd]),
 *              finish; go round (an epoll fd is itself pollable)
 *
 * Triggering. Level-triggered reports whatever is ready. Edge-triggered
 * reports a socket again only when something changed since its last report:
 * a readiness bit appeared, new rx bytes arrived (rx.prod moved), tx room
 * opened (tx.cons moved) or netd's state bits changed; as Linux wakes ET
 * waiters on each new segment or freed buffer. EPOLLONESHOT disarms the item
 * after one report until EPOLL_CTL_MOD. EPOLLEXCLUSIVE and EPOLLWAKEUP are
 * accepted and have no effect here.
 *
 * Items whose fd was closed (or now names something else) are found by
 * comparing the fd table entry saved at EPOLL_CTL_ADD, and dropped.
 */
#include "libsock/libsock_internal.h"

#include <stdlib.h>
#include <string.h>


/* What was true of a socket when last reported (edge detection). */
struct ls_snap {
	uint32_t mask, rx_prod, tx_cons, events;
};

struct ls_epitem {
	int fd;
	uint32_t key;                 /* ls_fd_key(fd) at ADD: staleness */
	struct epoll_event ev;        /* requested events and the app's data */
	bool armed;                   /* false after a ONESHOT report */
	struct ls_snap last;
};

struct ls_epset {
	pthread_mutex_t lock;
	unsigned n, cap;
	struct ls_epitem *items;
	unsigned turn;                /* alternates who fills the array first */
};

static struct ls_fdmap epsets;

/* ------------------------------------------------------------ sets */

static struct ls_epset *epset_get(int epfd, bool create)
{
	struct ls_epset *set = (struct ls_epset *)ls_fdmap_get(&epsets, epfd);

	if (set || !create)
		return set;
	set = calloc(1, sizeof(*set));
	if (!set)
		return NULL;
	pthread_mutex_init(&set->lock, NULL);
	if (ls_fdmap_set(&epsets, epfd, (uintptr_t)set) < 0) {
		free(set);
		return NULL;
	}
	return set;
}

void ls_epoll_forget(int fd)
{
	struct ls_epset *set = (struct ls_epset *)ls_fdmap_take(&epsets, fd);

	if (set) {
		free(set->items);
		free(set);
	}
}

/* In a forked child, a lock some other thread of the parent held would
 * stay held forever: make them all fresh. */
void ls_epoll_reset_child(void)
{
	for (int fd = 0; fd < (int)(LS_FD_CHUNK * LS_FD_CHUNKS); fd += (int)LS_FD_CHUNK) {
		if (!atomic_load(&epsets.chunk[fd / LS_FD_CHUNK]))
			continue;
		for (int i = fd; i < fd + (int)LS_FD_CHUNK; i++) {
			struct ls_epset *set = (struct ls_epset *)ls_fdmap_get(&epsets, i);

			if (set)
				pthread_mutex_init(&set->lock, NULL);
		}
	}
}

static struct ls_epitem *epset_find(struct ls_epset *set, int fd)
{
	for (unsigned i = 0; i < set->n; i++)
		if (set->items[i].fd == fd)
			return &set->items[i];
	return NULL;
}

static void epset_remove(struct ls_epset *set, struct ls_epitem *it)
{
	*it = set->items[--set->n];
}

static int epset_add(struct ls_epset *set, int fd, const struct epoll_event *ev)
{
	struct ls_epitem *items = set->items;

	if (set->n == set->cap) {
		items = realloc(set->items, (set->cap ? set->cap * 2 : 8) * sizeof(*items));
		if (!items)
			return -ENOMEM;
		set->items = items;
		set->cap = set->cap ? set->cap * 2 : 8;
	}
	set->items[set->n++] = (struct ls_epitem){ .fd = fd, .key = ls_fd_key(fd),
						   .ev = *ev, .armed = true };
	return 0;
}

/* ------------------------------------------------------------ epoll_ctl */

static int epset_ctl(struct ls_epset *set, int op, int fd, const struct epoll_event *ev)
{
	struct ls_epitem *it = epset_find(set, fd);

	if (it && it->key != ls_fd_key(fd)) {
		epset_remove(set, it);      /* an old socket that had this number */
		it = NULL;
	}
	if (op == EPOLL_CTL_ADD)
		return it ? -EEXIST : epset_add(set, fd, ev);
	if (!it)
		return -ENOENT;
	if (op == EPOLL_CTL_DEL) {
		epset_remove(set, it);
		return 0;
	}
	it->ev = *ev;                       /* MOD: re-armed, re-evaluated */
	it->armed = true;
	it->last = (struct ls_snap){ 0 };
	return 0;
}

static int stack_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct epoll_event none = { .events = 0 };
	struct ls_epset *set;
	int r;

	if (op != EPOLL_CTL_DEL && !ev)
		return -EFAULT;
	if (REAL(epoll_ctl)(epfd, op, fd, op == EPOLL_CTL_DEL ? NULL : &none) < 0 &&
	    !(op != EPOLL_CTL_ADD && errno == ENOENT))
		return -errno;
	set = epset_get(epfd, op == EPOLL_CTL_ADD);
	if (!set)
		return op == EPOLL_CTL_ADD ? -ENOMEM : -ENOENT;
	pthread_mutex_lock(&set->lock);
	r = epset_ctl(set, op, fd, ev);
	pthread_mutex_unlock(&set->lock);
	return r;
}

LS_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct ls_sock *s = NULL;
	enum ls_fd_kind k = ls_fd_lookup(fd, &s);
	int saved = errno;

	if (ls_likely(k == LS_FD_NONE))
		return REAL(epoll_ctl)(epfd, op, fd, ev);
	return (int)ls_ret(k == LS_FD_STALE ? ls_stale() : stack_epoll_ctl(epfd, op, fd, ev), saved);
}

/* ------------------------------------------------------------ readiness of items */

static struct ls_snap snap_of(struct ls_sock *s)
{
	struct app_sock *as = ls_app_sock(s);

	return (struct ls_snap){
		.mask = ls_sock_revents(s),
		.rx_prod = atomic_load_explicit(&as->rx.prod, memory_order_acquire),
		.tx_cons = atomic_load_explicit(&as->tx.cons, memory_order_acquire),
		.events = atomic_load_explicit(&as->events, memory_order_acquire),
	};
}

/* The events to report for it now (0: none). poll bits and epoll bits have
 * the same values on Linux. */
static uint32_t item_hits(const struct ls_epitem *it, struct ls_sock *s, struct ls_snap *cur)
{
	uint32_t want = it->ev.events | EPOLLERR | EPOLLHUP, hit;

	*cur = snap_of(s);
	hit = cur->mask & want;
	if (!hit || !it->armed)
		return 0;
	if (!(it->ev.events & EPOLLET))
		return hit;
	if ((hit & ~it->last.mask) || cur->events != it->last.events ||
	    ((hit & EPOLLIN) && cur->rx_prod != it->last.rx_prod) ||
	    ((hit & EPOLLOUT) && cur->tx_cons != it->last.tx_cons))
		return hit;
	return 0;
}

/* Fill out[] with up to max stack events; commit records the report (edge
 * state, ONESHOT), otherwise only count. Drops stale items when committing. */
static int stack_collect(struct ls_epset *set, struct epoll_event *out, int max, bool commit)
{
	struct ls_snap cur;
	struct ls_sock *s;
	unsigned i = 0;
	uint32_t hit;
	int n = 0;

	while (i < set->n && n < max) {
		struct ls_epitem *it = &set->items[i];

		if (it->key != ls_fd_key(it->fd) || ls_fd_lookup(it->fd, &s) != LS_FD_SOCK) {
			if (commit)
				epset_remove(set, it);   /* the last item moves into slot i */
			else
				i++;
			continue;
		}
		i++;
		hit = item_hits(it, s, &cur);
		if (!hit)
			continue;
		if (commit) {
			out[n] = (struct epoll_event){ .events = hit, .data = it->ev.data };
			it->last = cur;
			it->armed = !(it->ev.events & EPOLLONESHOT);
		}
		n++;
	}
	return n;
}

/* ------------------------------------------------------------ epoll_wait */

static int kernel_collect(int epfd, struct epoll_event *out, int max)
{
	int r = max > 0 ? REAL(epoll_wait)(epfd, out, max, 0) : 0;

	return r < 0 ? -errno : r;
}

/* Both kinds of events, taking turns at filling the array first so that
 * neither can starve the other. */
static int collect(int epfd, struct ls_epset *set, struct epoll_event *out, int max)
{
	int n, m;

	pthread_mutex_lock(&set->lock);
	if (set->turn++ & 1) {
		n = stack_collect(set, out, max, true);
		m = kernel_collect(epfd, out + n, max - n);
	} else {
		m = kernel_collect(epfd, out, max);
		n = m < 0 ? 0 : stack_collect(set, out + m, max - m, true);
	}
	pthread_mutex_unlock(&set->lock);
	return m < 0 ? m : n + m;
}

static bool stack_ready(struct ls_epset *set)
{
	struct epoll_event dummy;
	bool ready;

	pthread_mutex_lock(&set->lock);
	ready = stack_collect(set, &dummy, 1, false) > 0;
	pthread_mutex_unlock(&set->lock);
	return ready;
}

/* Sleep until the epoll fd or the wake fd is readable (or a slice ends).
 * Returns 0 to go round, or -errno (EINTR). */
static int epoll_sleep(int epfd, struct ls_epset *set, int64_t deadline, const sigset_t *mask)
{
	int64_t left = deadline < 0 ? LS_SLEEP_SLICE_NS : deadline - ls_now_ns();
	struct pollfd p[2] = { { .fd = epfd, .events = POLLIN },
			       { .fd = ls.wake_fd, .events = POLLIN } };
	struct timespec ts;
	struct ls_waiter w;
	int r, err;

	if (left > LS_SLEEP_SLICE_NS)
		left = LS_SLEEP_SLICE_NS;
	ts = (struct timespec){ .tv_sec = left / 1000000000, .tv_nsec = left % 1000000000 };
	ls_sleep_prepare(&w);
	if (stack_ready(set) || ls_sleep_rung(&w)) {
		ls_sleep_finish(&w, false);
		return 0;
	}
	r = REAL(ppoll)(p, 2, &ts, mask);
	err = errno;
	ls_sleep_finish(&w, r > 0 && (p[1].revents & POLLIN));
	return r < 0 ? -err : 0;
}

static bool set_has_items(struct ls_epset *set)
{
	return set && __atomic_load_n(&set->n, __ATOMIC_RELAXED) > 0;
}

static int kernel_wait(int epfd, struct epoll_event *out, int max, int64_t deadline,
		       const sigset_t *mask)
{
	int64_t left = deadline < 0 ? -1 : (deadline - ls_now_ns() + 999999) / 1000000;
	int r;

	if (deadline >= 0 && left < 0)
		left = 0;
	r = REAL(epoll_pwait)(epfd, out, max, left > INT32_MAX ? INT32_MAX : (int)left, mask);
	return r < 0 ? -errno : r;
}

/* deadline: -1 no limit, else absolute (0 or past: do not block). */
static int ls_epoll_wait(int epfd, struct ls_epset *set, struct epoll_event *out, int max,
			 int64_t deadline, const sigset_t *mask)
{
	int r;

	if (max <= 0 || !out)
		return -EINVAL;
	for (;;) {
		ls_cpl_drain();
		r = collect(epfd, set, out, max);
		if (r != 0)
			return r;
		if (deadline >= 0 && ls_now_ns() >= deadline)
			return 0;
		/* Every stack item was stale and is gone (closed sockets, or a
		 * forked child's inherited ones): the kernel alone can wait. */
		if (!set_has_items(set))
			return kernel_wait(epfd, out, max, deadline, mask);
		r = epoll_sleep(epfd, set, deadline, mask);
		if (r < 0)
			return r;
	}
}

static int64_t deadline_ms(int timeout)
{
	return timeout < 0 ? -1 : ls_now_ns() + (int64_t)timeout * 1000000;
}

LS_EXPORT int epoll_wait(int epfd, struct epoll_event *out, int max, int timeout)
{
	struct ls_epset *set = epset_get(epfd, false);
	int saved = errno;

	if (ls_likely(!set_has_items(set)))
		return REAL(epoll_wait)(epfd, out, max, timeout);
	return (int)ls_ret(ls_epoll_wait(epfd, set, out, max, deadline_ms(timeout), NULL), saved);
}

LS_EXPORT int epoll_pwait(int epfd, struct epoll_event *out, int max, int timeout,
			  const sigset_t *mask)
{
	struct ls_epset *set = epset_get(epfd, false);
	int saved = errno;

	if (ls_likely(!set_has_items(set)))
		return REAL(epoll_pwait)(epfd, out, max, timeout, mask);
	return (int)ls_ret(ls_epoll_wait(epfd, set, out, max, deadline_ms(timeout), mask), saved);
}

/* ------------------------------------------------------------ epoll_create */

/* Passed through; a new epoll fd must not inherit the set of an old one
 * that had its number and was closed behind our back (close_range, say). */
LS_EXPORT int epoll_create(int size)
{
	int fd = REAL(epoll_create)(size);

	if (fd >= 0)
		ls_epoll_forget(fd);
	return fd;
}

LS_EXPORT int epoll_create1(int flags)
{
	int fd = REAL(epoll_create1)(flags);

	if (fd >= 0)
		ls_epoll_forget(fd);
	return fd;
}
