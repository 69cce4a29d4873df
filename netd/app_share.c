/* netd/app_share.c — listening sockets shared across fork.
 *
 * Where it sits: beside the commands (app_cmd.c), on the engine thread.
 * nginx, Apache's prefork, gunicorn and friends open their listening
 * sockets, fork, and let the children accept. In the kernel the children's
 * descriptors name one socket; here each process has a region of its own,
 * so each gets its own socket entry, and the entries that name one TCP
 * listener form a group, a ring through nsock.share_next:
 *
 *     parent: fork() returns pid      --APP_OP_FORK(pid)-->    netd records the child
 *     child:  first use of a listener --APP_OP_INHERIT(parent pid, its index)-->
 *             netd: the child's entry joins the group of the parent's
 *
 * The group's leader is the entry the conn map names: TCP's events for the
 * listener reach it, and it holds the one conn accepted ahead (stash); every
 * entry shows ACCEPTQ while it does (NSF_GROUP_ACCEPTQ). Any entry accepts,
 * from the leader's stash or TCP's queue, into its own app. An entry that
 * closes leaves the group; if it led, the next entry takes the conn map, the
 * stash and the port. The last one closes the listener, as the kernel
 * closes a socket when its last descriptor goes.
 *
 * A parent that exits before its children inherited (a daemon's first
 * process: nginx forks its master and exits at once) keeps its listeners,
 * held, while a recorded child lives and has inherited nothing, for at most
 * NETD_FORK_LINGER_NS (app.c's exit and sweep ask app_fork_waiting).
 *
 * Trust: the child names its parent by pid and the parent's socket by
 * index and port; netd accepts only a child the parent itself recorded
 * with APP_OP_FORK whose process (pinned by a pidfd since) still lives,
 * and only the listening socket the child saw.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "netd/app_internal.h"

#define SHARE_WALK_MAX (NETD_APPS_MAX * 4096u)   /* entries a ring can hold, at most */

/* ------------------------------------------------------------ the ring */

/* A reference to app's socket i, as the conn map packs it. */
static uint32_t share_ref(const struct netd_app *app, uint32_t i)
{
	return 1 + (app->slot << 16 | i);
}

/* The socket ref names, or NULL (its app is gone: never, while it is in a
 * ring, but cheap to check). */
static struct nsock *share_deref(struct netd_apps_state *st, uint32_t ref, struct netd_app **app,
				 uint32_t *i)
{
	uint32_t e = ref - 1, slot = e >> 16;

	*i = e & 0xffff;
	*app = ref && slot < NETD_APPS_MAX ? st->app[slot] : NULL;
	return *app && *i < (*app)->nsocks ? &(*app)->sock[*i] : NULL;
}

/* Does the group's leader hold an accepted conn? */
static bool group_ready(struct netd_apps_state *st, const struct nsock *ns)
{
	uint32_t li;
	struct netd_app *la = app_conn_owner(st, ns->conn, &li);

	return la && la->sock[li].stash != TCP_CONN_NONE;
}

void app_share_publish(struct netd_apps_state *st, struct netd_app *app, uint32_t i)
{
	struct nsock *ns = &app->sock[i];
	uint32_t start = share_ref(app, i), ref = start, k;
	bool ready;

	if (!ns->share_next) {
		ns->flags &= ~(uint32_t)NSF_GROUP_ACCEPTQ;   /* alone again: its own stash says */
		nsock_publish(app, i);
		return;
	}
	ready = group_ready(st, ns);
	for (unsigned n = 0; n < SHARE_WALK_MAX; n++) {
		struct netd_app *a;
		struct nsock *m = share_deref(st, ref, &a, &k);

		if (!m)
			return;
		m->flags = ready ? m->flags | NSF_GROUP_ACCEPTQ : m->flags & ~(uint32_t)NSF_GROUP_ACCEPTQ;
		nsock_publish(a, k);
		if ((ref = m->share_next) == start || ref == 0)
			return;
	}
}

struct nsock *app_share_leader(struct netd_apps_state *st, struct netd_app *app, uint32_t i,
			       struct netd_app **la, uint32_t *li)
{
	struct nsock *ns = &app->sock[i];

	*la = app;
	*li = i;
	if (ns->share_next && !(*la = app_conn_owner(st, ns->conn, li))) {
		*la = app;                   /* no owner: cannot be, act alone */
		*li = i;
	}
	return &(*la)->sock[*li];
}

/* The entry whose share_next is ref (its predecessor in the ring), or NULL. */
static struct nsock *share_prev(struct netd_apps_state *st, uint32_t ref, struct netd_app **pa,
				uint32_t *pi)
{
	uint32_t at = ref;

	for (unsigned n = 0; n < SHARE_WALK_MAX; n++) {
		struct nsock *m = share_deref(st, at, pa, pi);

		if (!m || m->share_next == 0)
			return NULL;
		if (m->share_next == ref)
			return m;
		at = m->share_next;
	}
	return NULL;
}

bool app_share_leave(struct netd_apps_state *st, struct netd_app *app, uint32_t i)
{
	struct nsock *ns = &app->sock[i], *prev, *next;
	struct netd_app *pa, *na, *la;
	uint32_t me = share_ref(app, i), pi, ni, li;

	if (!ns->share_next || !(prev = share_prev(st, me, &pa, &pi)) ||
	    !(next = share_deref(st, ns->share_next, &na, &ni)))
		return false;
	prev->share_next = ns->share_next == share_ref(pa, pi) ? 0 : ns->share_next;
	la = app_conn_owner(st, ns->conn, &li);
	if (la == app && li == i) {          /* the leader: the next one leads */
		app_conn_set(st, na, ns->conn, ni);
		next->stash = ns->stash;
		next->port_reg = ns->port_reg;
		next->port_flags = ns->port_flags;
		ns->port_reg = 0;
		ns->port_flags = 0;
	}
	ns->conn = ns->stash = TCP_CONN_NONE;
	ns->share_next = 0;
	ns->flags &= ~(uint32_t)NSF_GROUP_ACCEPTQ;
	APP_CTR(st, SHARE_LEAVES);
	/* TCP's event for a conn that completed meanwhile went to the old
	 * leader and leaves with it: look at the queue for the new one. */
	app_listener_refill(st, na, ni);
	app_share_publish(st, na, ni);
	return true;
}

/* Child socket ci joins the group of parent socket pi (a listener). */
static void share_join(struct netd_apps_state *st, struct netd_app *pa, uint32_t pi,
		       struct netd_app *ca, uint32_t ci)
{
	struct nsock *p = &pa->sock[pi], *c = &ca->sock[ci];

	nsock_open(ca, ci, SOCK_STREAM);
	c->state = NS_LISTEN;
	c->conn = p->conn;
	c->laddr = p->laddr;
	c->lport = p->lport;
	c->flags = p->flags & (NSF_BOUND | NSF_REUSEADDR | NSF_REUSEPORT);
	c->opt = p->opt;                 /* accepted sockets inherit them, as the parent's */
	c->share_next = p->share_next ? p->share_next : share_ref(pa, pi);
	p->share_next = share_ref(ca, ci);
	app_share_publish(st, ca, ci);
}

/* ------------------------------------------------------------ fork */

/* Has the child not exited? Its pidfd turns readable when it does. */
static bool child_alive(const struct fork_child *fc)
{
	struct pollfd p = { .fd = fc->pidfd, .events = POLLIN };

	return poll(&p, 1, 0) == 0;
}

static void child_forget(struct fork_child *fc)
{
	if (fc->pidfd >= 0)
		close(fc->pidfd);
	fc->pidfd = -1;
}

/* Forget children that are gone, or that inherited more than
 * NETD_FORK_CLAIM_NS ago (their claims come together: libsock takes over
 * every inherited listener at the first). */
static void children_prune(struct netd_app *app, uint64_t now)
{
	unsigned k = 0;

	for (unsigned n = 0; n < app->nchildren; n++) {
		struct fork_child *fc = &app->children[n];

		if (child_alive(fc) && (!fc->claimed || now - fc->claimed_at < NETD_FORK_CLAIM_NS))
			app->children[k++] = *fc;
		else
			child_forget(fc);
	}
	app->nchildren = k;
}

int app_op_fork(struct netd_apps_state *st, struct netd_app *app, int32_t pid)
{
	int pidfd;

	if (pid <= 0)
		return -EINVAL;
	children_prune(app, st->now);
	if (app->nchildren == NETD_FORK_CHILDREN) {
		APP_CTR(st, FORK_FULL);
		return -ENOSPC;
	}
	if ((pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0)) < 0)
		return -errno;               /* gone already: nothing to inherit */
	app->children[app->nchildren++] = (struct fork_child){ .pid = (uint32_t)pid,
							      .pidfd = pidfd };
	APP_CTR(st, FORKS);
	return 0;
}

void app_fork_forget(struct netd_app *app)
{
	for (unsigned n = 0; n < app->nchildren; n++)
		child_forget(&app->children[n]);
	app->nchildren = 0;
}

/* The app with that pid that recorded child as its own, and the record. */
static struct netd_app *parent_of(struct netd_apps_state *st, uint32_t ppid, uint32_t child,
				  struct fork_child **fc)
{
	for (unsigned k = 0; k < st->nlive; k++) {
		struct netd_app *p = st->app[st->live[k]];

		if (!p || p->pid != ppid)
			continue;
		for (unsigned n = 0; n < p->nchildren; n++)
			if (p->children[n].pid == child) {
				*fc = &p->children[n];
				return p;
			}
	}
	return NULL;
}

int app_op_inherit(struct netd_apps_state *st, struct netd_app *app, uint32_t ci, int32_t pi,
		   int32_t ppid, uint16_t lport, struct app_cpl *out)
{
	struct fork_child *fc = NULL;
	struct netd_app *pa = ppid > 0 ? parent_of(st, (uint32_t)ppid, app->pid, &fc) : NULL;
	const struct nsock *p;

	if (!pa || !child_alive(fc)) {
		APP_CTR(st, INHERIT_REFUSED);
		return -EPERM;
	}
	/* The index and the port the child saw at fork: an index the parent
	 * has since given to another listener is not the one inherited. */
	p = pi >= 0 && (uint32_t)pi < pa->nsocks ? &pa->sock[pi] : NULL;
	if (!p || p->type != SOCK_STREAM || p->state != NS_LISTEN || p->lport != lport) {
		APP_CTR(st, INHERIT_REFUSED);
		return -EBADF;
	}
	if (app->sock[ci].type)
		return -EBUSY;
	share_join(st, pa, (uint32_t)pi, app, ci);
	if (!fc->claimed)
		fc->claimed_at = st->now;
	fc->claimed = true;
	out->addr = p->laddr;
	out->port = p->lport;
	APP_CTR(st, INHERITS);
	return 0;
}

bool app_fork_waiting(const struct netd_app *app)
{
	for (unsigned n = 0; n < app->nchildren; n++)
		if (!app->children[n].claimed && child_alive(&app->children[n]))
			return true;
	return false;
}
