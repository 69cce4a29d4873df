/* libsock/inherit.c — listening sockets a forked child inherits.
 *
 * A child inherits the parent's descriptors, but the stack sockets behind
 * them live in the parent's region, whose rings are the parent's alone
 * (attach.c). For listening sockets, what preforking servers (nginx,
 * Apache, gunicorn) fork for, the child gets a socket of its own in its own
 * region that netd joins to the parent's listener (netd/app_share.c):
 *
 *     parent  fork(): claim what it inherited itself, REAL(fork), then
 *             APP_OP_FORK(child pid) before fork() returns: netd now knows
 *             the child may inherit, even if the parent exits at once
 *     child   the first use of an inherited listener's descriptor (any
 *             call that looks it up: accept, epoll_ctl, poll, getsockname..)
 *             attaches the child and posts APP_OP_INHERIT(parent pid, the
 *             parent's index) for a fresh index; the descriptor then names
 *             that socket, as any socket of the child's
 *
 * Other inherited sockets (connected TCP, UDP) stay stale in the child:
 * their calls fail with EOPNOTSUPP, close() works. close() of an inherited
 * descriptor never claims it (fdops.c peeks).
 */
#include "libsock/libsock_internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Count a failure and say it once on stderr: a child whose listeners stay
 * stale must not go unnoticed (its accept() fails with EOPNOTSUPP). */
static void inherit_failed(const char *what, int err)
{
	static _Atomic bool said;
	char msg[160];
	int n;

	ls_count(LS_C_INHERIT_FAILED);
	if (atomic_exchange(&said, true))
		return;
	n = snprintf(msg, sizeof(msg), "ringstack: %s: %s; the child's inherited listeners "
		     "stay unusable\n", what, strerror(-err));
	if (n > 0)
		(void)!REAL(write)(2, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
}

/* The parent's socket idx, if it is a listener the child may inherit. */
static const struct ls_sock *inherited_listener(uint32_t idx)
{
	const struct ls_sock *p = idx < ls.inh.nsocks ? &ls.inh.sk[idx] : NULL;

	if (!p || p->type != SOCK_STREAM || atomic_load(&p->phase) != LS_PH_LISTENING ||
	    atomic_load(&p->refs) == 0 || atomic_load(&p->closing))
		return NULL;
	return p;
}

/* Post APP_OP_INHERIT for s. The parent records us (APP_OP_FORK) after
 * its fork() returned, which may be after our first use: -EPERM is retried
 * for up to LS_INHERIT_WAIT_MS before it counts. */
#define LS_INHERIT_WAIT_MS 1000

static int inherit_post(struct ls_sock *s, uint32_t idx, const struct ls_sock *p)
{
	struct app_cmd c = ls_cmd(APP_OP_INHERIT, s);
	struct timespec pause = { 0, 10 * 1000000 };
	struct app_cpl cpl;
	int r;

	c.arg0 = (int32_t)idx;
	c.arg1 = (int32_t)ls.inh.ppid;
	c.port = ntohs(p->local.sin_port);
	for (int waited = 0;; waited += 10) {
		r = ls_cmd_call(&c, &cpl);
		if (r != -EPERM || waited >= LS_INHERIT_WAIT_MS)
			return r;
		nanosleep(&pause, NULL);
	}
}

/* Our socket for the parent's listener idx: claimed now (attach, INHERIT)
 * or before. NULL if it cannot be (not a listener, no stack, netd said no:
 * counted and logged once). Under inh.lock. */
static struct ls_sock *inherit_claim(uint32_t idx)
{
	const struct ls_sock *p = inherited_listener(idx);
	struct ls_inherited *m = &ls.inh.map[idx];
	struct ls_sock *s;
	int r;

	if (m->s && m->s->sgen == m->sgen && !atomic_load(&m->s->closing))
		return m->s;                 /* claimed through another descriptor */
	if (m->s)
		return NULL;                 /* claimed, then closed here: gone */
	if (!p || !ls_attach() || !(s = ls_sock_alloc(SOCK_STREAM, p->protocol)))
		return NULL;
	if ((r = inherit_post(s, idx, p)) < 0) {
		if (r != -ETIMEDOUT)         /* netd may still take it: the index is lost */
			ls_sock_discard(s);
		inherit_failed("netd refused an inherited listener", r);
		return NULL;
	}
	atomic_store(&s->phase, LS_PH_LISTENING);
	atomic_store(&s->nonblock, atomic_load(&p->nonblock));
	s->user_bound = s->local_known = true;
	s->local = p->local;
	s->rcvtimeo_ns = p->rcvtimeo_ns;
	s->sndtimeo_ns = p->sndtimeo_ns;
	s->bind_flags = p->bind_flags;
	s->nopts = p->nopts;
	memcpy(s->opts, p->opts, sizeof(s->opts));
	ls_count(LS_C_INHERITED);
	*m = (struct ls_inherited){ .s = s, .sgen = s->sgen };
	return s;
}

enum ls_fd_kind ls_inherit_fd(int fd, uintptr_t entry, struct ls_sock **out)
{
	struct ls_sock *s;

	if (!ls.inh.sk || (uint16_t)(entry >> 32) != ls.inh.gen)
		return LS_FD_STALE;
	pthread_mutex_lock(&ls.inh.lock);
	s = inherit_claim((uint32_t)entry - 1);
	if (s && ls_fd_rebind(fd, entry, s) < 0)
		s = NULL;
	pthread_mutex_unlock(&ls.inh.lock);
	if (!s)
		return ls_fd_entry(fd) != entry ? ls_fd_lookup(fd, out) : LS_FD_STALE;
	/* The kernel's child holds every inherited descriptor: take over the
	 * other listeners now, while the parent surely still has them (and
	 * every descriptor naming this one, so that none is left stale). */
	if (!ls.inh.all_claimed) {
		ls.inh.all_claimed = true;
		ls_fd_claim_inherited();
	}
	*out = s;
	return LS_FD_SOCK;
}

/* ------------------------------------------------------------ fork */

void ls_inherit_at_fork_child(void)
{
	bool had = atomic_load(&ls.state) == LS_ATTACHED;

	ls.inh = (struct ls_inherit){ .sk = had ? ls.sk : NULL, .nsocks = had ? ls.nsocks : 0,
				      .gen = ls.gen, .ppid = ls.fork_pid };
	pthread_mutex_init(&ls.inh.lock, NULL);
	if (had && !(ls.inh.map = calloc(ls.inh.nsocks, sizeof(*ls.inh.map))))
		ls.inh.sk = NULL;            /* no memory: every inherited socket stays stale */
}

/* Does this process have a listening socket a child could inherit? */
static bool have_listeners(void)
{
	if (atomic_load(&ls.state) != LS_ATTACHED)
		return false;
	for (uint32_t i = 0; i < ls.nsocks; i++)
		if (ls.sk[i].type == SOCK_STREAM && atomic_load(&ls.sk[i].phase) == LS_PH_LISTENING &&
		    atomic_load(&ls.sk[i].refs) > 0 && !atomic_load(&ls.sk[i].closing))
			return true;
	return false;
}

/* Tell netd that child may inherit our listeners; on failure the child's
 * inherited listeners stay stale (counted, logged once). */
static void fork_tell(pid_t child)
{
	struct app_cmd c = ls_cmd(APP_OP_FORK, NULL);
	struct app_cpl cpl;
	int r;

	c.arg0 = (int32_t)child;
	if ((r = ls_cmd_call(&c, &cpl)) < 0)
		inherit_failed("netd did not record the forked child", r);
}

LS_EXPORT pid_t fork(void)
{
	pid_t pid;

	/* What we inherited ourselves becomes ours first, descriptors
	 * included: our child inherits from us, not from our parent. */
	if (ls.inh.sk)
		ls_fd_claim_inherited();
	pid = REAL(fork)();              /* fork_prepare (attach.c) notes our pid */
	if (pid > 0 && have_listeners())
		fork_tell(pid);
	return pid;
}
