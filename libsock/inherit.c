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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Our socket for the parent's listener idx: claimed now (attach, INHERIT)
 * or before. NULL if it cannot be (not a listener, no stack, netd said no:
 * counted and logged once). Under inh.lock. */
static struct ls_sock *inherit_claim(uint32_t idx)
{
	const struct ls_sock *p = inherited_listener(idx);
	struct app_cpl cpl;
	struct app_cmd c;
	struct ls_sock *s;
	int r;

	if (ls.inh.map[idx])
		return ls.inh.map[idx];
	if (!p || !ls_attach() || !(s = ls_sock_alloc(SOCK_STREAM, p->protocol)))
		return NULL;
	c = ls_cmd(APP_OP_INHERIT, s);
	c.arg0 = (int32_t)idx;
	c.arg1 = (int32_t)ls.inh.ppid;
	if ((r = ls_cmd_call(&c, &cpl)) < 0) {
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
	return ls.inh.map[idx] = s;
}

enum ls_fd_kind ls_inherit_fd(int fd, uintptr_t entry, struct ls_sock **out)
{
	struct ls_sock *s;

	if (!ls.inh.sk || (uint16_t)(entry >> 32) != ls.inh.gen)
		return LS_FD_STALE;
	pthread_mutex_lock(&ls.inh.lock);
	/* Another thread may have claimed and bound this very fd meanwhile. */
	if (ls_fd_entry(fd) != entry) {
		pthread_mutex_unlock(&ls.inh.lock);
		return ls_fd_lookup(fd, out);
	}
	s = inherit_claim((uint32_t)entry - 1);
	if (s && ls_fd_bind_sock(fd, s) < 0)
		s = NULL;
	pthread_mutex_unlock(&ls.inh.lock);
	if (!s)
		return LS_FD_STALE;
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
