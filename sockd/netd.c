/* sockd/netd.c — the netd connection: attaches out, acks in, replay.
 *
 * Where it sits: between admission and the data path. netd says hello with
 * role NETD on sockd.sock (only root or sockd's own uid, one at a time);
 * sockd welcomes it (status 0, no fds) and then sends one app_attach with
 * [region fd, wake eventfd] per admitted app, and one app_detach per app
 * that leaves. netd answers each attach with an app_attach_ack
 * (shm/app_layout.h); the ack is what lets app.c welcome the app. A netd
 * that kept apps while no sockd was connected (we restarted) offers each
 * with an app_adopt; app.c takes it back and its attach is replayed.
 *
 * What netd is owed is kept as state, not as a queue of messages: every
 * admitted app with !attach_sent is owed an attach, and detq holds the ids
 * owed a detach. So a netd that reconnects (restarted, or dropped) is owed
 * every admitted app again: the replay falls out of clearing attach_sent.
 * Sends never block: when netd's socket is full sockd waits for EPOLLOUT,
 * and a netd that reads nothing for SOCKD_NETD_STUCK_MS is dropped (its
 * successor gets the replay, which is the whole truth).
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sockd/sockd.h"

#define ACKS_PER_EVENT 64u      /* messages read per readiness event */
#define NETD_EVENTS    (EPOLLIN | EPOLLRDHUP)

static uint64_t netd_tag(const struct sockd *sd)
{
	return sockd_tag(SOCKD_TAG_NETD, 0, sd->netd.gen);
}

/* May this peer be netd? Root, or the uid sockd runs as. 0 or -errno. */
static int netd_allowed(struct sockd *sd, unsigned i, uint32_t *pid, uint32_t *uid)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	if (getsockopt(sd->apps[i].fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return -EPERM;
	*pid = (uint32_t)uc.pid;
	*uid = uc.uid;
	if (uc.uid != 0 && uc.uid != geteuid()) {
		sockd_bad(sd, SOCKD_NETD_PERM, "netd hello from uid %u (pid %u): refused -EPERM",
			  uc.uid, uc.pid);
		return -EPERM;
	}
	if (sd->netd.fd >= 0) {
		sockd_bad(sd, SOCKD_NETD_BUSY, "second netd (pid %u, netd %u is connected): "
			  "refused -EBUSY", uc.pid, sd->netd.pid);
		return -EBUSY;
	}
	return 0;
}

void sockd_netd_hello(struct sockd *sd, unsigned i)
{
	struct sockd_app *a = &sd->apps[i];
	struct app_welcome w = { .magic = APP_WELCOME_MAGIC, .version = APP_HELLO_VERSION,
				 .layout_version = APP_LAYOUT_VERSION };
	uint32_t pid = 0, uid = 0;
	int err = netd_allowed(sd, i, &pid, &uid);

	if (err < 0) {
		sockd_refuse(sd, i, err);
		return;
	}
	if (sockd_send(a->fd, &w, sizeof(w), NULL, 0) < 0) {
		sockd_slot_release(sd, i);
		return;
	}
	/* The socket leaves the slot table and becomes the netd connection. */
	sd->netd = (struct sockd_netd){ .fd = a->fd, .gen = sd->netd.gen + 1, .pid = pid,
					.uid = uid, .detq = sd->netd.detq,
					.detq_cap = sd->netd.detq_cap };
	a->fd = -1;
	sockd_slot_release(sd, i);
	if (sockd_epoll_mod(sd, sd->netd.fd, NETD_EVENTS, netd_tag(sd)) < 0) {
		sockd_netd_drop(sd, "could not be watched");
		return;
	}
	COUNTER_INC(sd->ctr, SOCKD_NETD_CONNECTS);
	sockd_log(SOCKD_INFO, "netd (pid %u, uid %u) connected: replaying %u app(s)", pid, uid,
		  atomic_load_explicit(&sd->gauge->apps_live, memory_order_relaxed) +
		  atomic_load_explicit(&sd->gauge->apps_pending, memory_order_relaxed));
	sockd_gauges_update(sd);
	sockd_status(sd);
	sockd_netd_flush(sd);
}

void sockd_netd_drop(struct sockd *sd, const char *why)
{
	struct sockd_netd *n = &sd->netd;

	if (n->fd < 0)
		return;
	epoll_ctl(sd->epfd, EPOLL_CTL_DEL, n->fd, NULL);
	close(n->fd);
	sockd_log(SOCKD_INFO, "netd (pid %u) %s; apps stay admitted, replayed when it returns",
		  n->pid, why);
	*n = (struct sockd_netd){ .fd = -1, .gen = n->gen, .detq = n->detq,
				  .detq_cap = n->detq_cap };
	/* A new netd knows nothing: it is owed every app, and no detach. */
	for (unsigned i = 0; i < sd->nslots; i++)
		sd->apps[i].attach_sent = false;
	COUNTER_INC(sd->ctr, SOCKD_NETD_LEFT);
	sockd_gauges_update(sd);
	sockd_status(sd);
}

/* netd's socket is full: wait for EPOLLOUT (and start the stuck clock). */
static void netd_block(struct sockd *sd)
{
	if (sd->netd.want_out)
		return;
	sd->netd.want_out = true;
	sd->netd.blocked_ns = sockd_now_ns();
	if (sockd_epoll_mod(sd, sd->netd.fd, NETD_EVENTS | EPOLLOUT, netd_tag(sd)) < 0)
		sockd_netd_drop(sd, "could not be watched");
}

static void netd_unblock(struct sockd *sd)
{
	if (!sd->netd.want_out)
		return;
	sd->netd.want_out = false;
	if (sockd_epoll_mod(sd, sd->netd.fd, NETD_EVENTS, netd_tag(sd)) < 0)
		sockd_netd_drop(sd, "could not be watched");
}

/* Send one message to netd. 0 sent, 1 full (now blocked), -errno dropped. */
static int netd_send(struct sockd *sd, const void *msg, size_t len, const int *fds,
		     unsigned nfds)
{
	int err = sockd_send(sd->netd.fd, msg, len, fds, nfds);

	if (err == 0)
		return 0;
	if (err == -EAGAIN) {
		netd_block(sd);
		return 1;
	}
	sockd_netd_drop(sd, err == -EPIPE || err == -ECONNRESET ? "left" : "could not be written to");
	return err;
}

/* Send the detaches owed, oldest first. 0 all sent, else stop. */
static int flush_detaches(struct sockd *sd)
{
	struct sockd_netd *n = &sd->netd;
	unsigned head;
	int err;

	while (n->detq_n > 0) {
		struct app_detach d = { .magic = APP_DETACH_MAGIC };

		head = n->detq_head;
		d.app_id = n->detq[head];
		if ((err = netd_send(sd, &d, sizeof(d), NULL, 0)) != 0)
			return err;
		n->detq_head = (head + 1) % n->detq_cap;
		n->detq_n--;
		COUNTER_INC(sd->ctr, SOCKD_DETACHES_SENT);
	}
	return 0;
}

static int send_attach(struct sockd *sd, struct sockd_app *a)
{
	struct app_attach m = {
		.magic = APP_ATTACH_MAGIC, .app_id = a->app_id, .pid = a->pid, .uid = a->uid,
		.nsocks = a->nsocks, .buf_size = APP_BUF_SIZE, .flags = a->flags,
		.region_size = a->region.size,
	};
	int fds[APP_ATTACH_NFDS] = { a->region.fd, a->efd_netd };
	int err = netd_send(sd, &m, sizeof(m), fds, APP_ATTACH_NFDS);

	if (err == 0) {
		a->attach_sent = true;
		COUNTER_INC(sd->ctr, SOCKD_ATTACHES_SENT);
	}
	return err;
}

void sockd_netd_flush(struct sockd *sd)
{
	if (sd->netd.fd < 0 || flush_detaches(sd) != 0)
		return;
	for (unsigned i = 0; i < sd->nslots; i++) {
		struct sockd_app *a = &sd->apps[i];

		if ((a->state != SOCKD_SLOT_PENDING && a->state != SOCKD_SLOT_LIVE) ||
		    a->attach_sent)
			continue;
		if (send_attach(sd, a) != 0)
			return;
	}
	netd_unblock(sd);
}

void sockd_netd_detach(struct sockd *sd, uint32_t app_id)
{
	struct sockd_netd *n = &sd->netd;

	if (n->fd < 0)
		return;              /* a netd that comes back is never told of it */
	if (n->detq_n == n->detq_cap) {
		/* Cannot happen: attaches go out only when no detach is owed,
		 * so owed detaches plus attached apps never exceed the slots.
		 * Should it, drop netd: the replay to its successor is the truth. */
		sockd_netd_drop(sd, "fell too far behind (detach backlog full)");
		return;
	}
	n->detq[(n->detq_head + n->detq_n) % n->detq_cap] = app_id;
	n->detq_n++;
	sockd_netd_flush(sd);
}

/* One message from netd that is neither an ack nor an adoption offer. */
static void netd_bad_msg(struct sockd *sd, int n, const int *fds, unsigned nfds)
{
	for (unsigned k = 0; k < nfds; k++)
		close(fds[k]);
	sockd_bad(sd, SOCKD_NETD_BAD_MSG, "netd sent a %d-byte message that is not an ack "
		  "or an adoption offer: ignored", n);
}

/* Read what netd sent, up to ACKS_PER_EVENT messages: acks, and after a
 * restart of ours, offers of the apps it kept (app_attach with
 * APP_ADOPT_MAGIC and the region and wake fds). */
static void read_netd(struct sockd *sd)
{
	for (unsigned k = 0; k < ACKS_PER_EVENT && sd->netd.fd >= 0; k++) {
		union { struct app_attach_ack ack; struct app_attach adopt; } m;
		int fds[APP_ATTACH_NFDS + 1];   /* one more: an offer with too many is bad */
		unsigned nfds;
		int n = sockd_recv_fds(sd, sd->netd.fd, &m, sizeof(m), fds, APP_ATTACH_NFDS + 1, &nfds);

		if (n == -EAGAIN || n == -EINTR)
			return;
		if (n == 0 || (n < 0 && n != -EMSGSIZE)) {
			sockd_netd_drop(sd, "left");
			return;
		}
		if (n == (int)sizeof(m.ack) && m.ack.magic == APP_ATTACH_ACK_MAGIC && nfds == 0) {
			COUNTER_INC(sd->ctr, SOCKD_ACKS);
			sockd_app_acked(sd, m.ack.app_id);
		} else if (n == (int)sizeof(m.adopt) && m.adopt.magic == APP_ADOPT_MAGIC &&
			   nfds == APP_ATTACH_NFDS) {
			sockd_app_adopt(sd, &m.adopt, fds);
		} else {
			netd_bad_msg(sd, n, fds, nfds);
		}
	}
}

void sockd_netd_ready(struct sockd *sd, uint32_t events)
{
	if (events & EPOLLOUT)
		sockd_netd_flush(sd);
	if (sd->netd.fd >= 0 && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		read_netd(sd);
}

void sockd_netd_timers(struct sockd *sd, uint64_t now)
{
	struct sockd_netd *n = &sd->netd;

	if (n->fd >= 0 && n->want_out &&
	    now - n->blocked_ns > (uint64_t)SOCKD_NETD_STUCK_MS * 1000000u) {
		COUNTER_INC(sd->ctr, SOCKD_NETD_STUCK);
		sockd_netd_drop(sd, "read nothing for 5 s");
	}
}
