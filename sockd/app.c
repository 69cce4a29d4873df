/* sockd/app.c — an application's life in sockd: admitted, attached to
 * netd, welcomed, watched, cleaned up.
 *
 * Where it sits: between the app's hello and its first command. The order
 * is what keeps the app from touching a region netd does not have yet:
 *
 *   hello -> creds, quota, policy -> region + eventfd -> PENDING
 *         -> app_attach to netd (netd.c, now or when netd connects)
 *         -> netd's ack -> welcome + [region fd, eventfd] -> LIVE
 *         (no ack within attach_ms: welcome -EAGAIN, detach if attached)
 *
 * A LIVE app is watched through its pidfd (the process exited) and its
 * control socket (EOF: it closed it, or died). Either way netd gets one
 * app_detach and the slot is freed; sockd's copies of the fds are closed, so
 * the region's memory goes when netd and the app unmap it.
 */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sockd/sockd.h"

int sockd_slot_claim(struct sockd *sd)
{
	for (unsigned i = 0; i < sd->nslots; i++) {
		struct sockd_app *a = &sd->apps[i];

		if (a->state != SOCKD_SLOT_FREE)
			continue;
		*a = (struct sockd_app){ .state = SOCKD_SLOT_HELLO, .gen = a->gen + 1,
					 .fd = -1, .pidfd = -1, .efd = -1,
					 .efd_w = -1, .efd_netd = -1 };
		a->region.fd = -1;
		return (int)i;
	}
	return -1;
}

static void close_watched(struct sockd *sd, int *fd)
{
	if (*fd < 0)
		return;
	epoll_ctl(sd->epfd, EPOLL_CTL_DEL, *fd, NULL);
	close(*fd);
	*fd = -1;
}

void sockd_slot_release(struct sockd *sd, unsigned i)
{
	struct sockd_app *a = &sd->apps[i];

	close_watched(sd, &a->fd);
	close_watched(sd, &a->pidfd);
	for (int *fd = &a->efd; fd <= &a->efd_netd; fd++)
		if (*fd >= 0)
			close(*fd);
	region_close(&a->region);
	*a = (struct sockd_app){ .state = SOCKD_SLOT_FREE, .gen = a->gen, .fd = -1,
				 .pidfd = -1, .efd = -1, .efd_w = -1, .efd_netd = -1 };
	a->region.fd = -1;
}

/* Send a welcome: status 0 with the region and eventfd, or -errno alone. */
static int send_welcome(struct sockd_app *a, int status)
{
	struct app_welcome w = {
		.magic = APP_WELCOME_MAGIC, .version = APP_HELLO_VERSION,
		.status = (int16_t)status, .layout_version = APP_LAYOUT_VERSION,
		.app_id = status == 0 ? a->app_id : 0,
		.region_size = status == 0 ? a->region.size : 0,
	};
	int fds[APP_WELCOME_NFDS] = { a->region.fd, a->efd, a->efd_w };

	return sockd_send(a->fd, &w, sizeof(w), fds, status == 0 ? APP_WELCOME_NFDS : 0);
}

void sockd_refuse(struct sockd *sd, unsigned i, int status)
{
	/* Best effort: a peer that cannot take the refusal is dropped anyway. */
	send_welcome(&sd->apps[i], status);
	sockd_slot_release(sd, i);
}

static struct sockd_app *find_app(struct sockd *sd, uint32_t app_id, unsigned *slot);

/* Ids are unique among the apps sockd holds; 0 is never one (a zeroed
 * message). Adopted apps bring their own ids, so the next one is checked
 * against them (and the counter may wrap). */
static uint32_t next_app_id(struct sockd *sd)
{
	unsigned slot;

	while (sd->next_app_id == 0 || find_app(sd, sd->next_app_id, &slot))
		sd->next_app_id++;
	return sd->next_app_id++;
}

/* Who is it and may it come in? 0, or the refusal status (counted). */
static int admit_check(struct sockd *sd, struct sockd_app *a)
{
	enum sockd_counter why;
	int err = sockd_peer_creds(a);

	if (err < 0) {
		sockd_bad(sd, SOCKD_REFUSED_CREDS, "%s: no credentials or pidfd (%s): refused",
			  a->name, strerror(-err));
		return -EPERM;
	}
	if (sockd_quota_check(sd, a->uid, &why) < 0) {
		sockd_bad(sd, why, "%s (pid %u, uid %u): %s: refused -EUSERS", a->name, a->pid,
			  a->uid, why == SOCKD_REFUSED_QUOTA_UID ? "per-uid quota" : "app quota");
		return -EUSERS;
	}
	return 0;
}

/* The app's wake channel: a nonblocking pipe, and a second open file of
 * its write end (through /proc) for netd, which the app cannot make
 * blocking (shm/app_layout.h says why). 0 or -errno; partial results are
 * released with the slot. */
static int wake_pipe_make(struct sockd_app *a)
{
	char path[64];
	int p[2];

	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
		return -errno;
	a->efd = p[0];
	a->efd_w = p[1];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", p[1]);
	a->efd_netd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	return a->efd_netd < 0 ? -errno : 0;
}

/* Make what the app will be given: region, wake pipe; watch its pidfd. */
static int admit_make(struct sockd *sd, unsigned i)
{
	struct sockd_app *a = &sd->apps[i];
	int err;

	a->flags = sockd_policy_flags(a);
	a->app_id = next_app_id(sd);
	a->nsocks = sd->cfg.nsocks;
	if ((err = sockd_region_build(a, sd->cfg.nsocks)) < 0)
		goto fail;
	if ((err = wake_pipe_make(a)) < 0)
		goto fail;
	if ((err = sockd_epoll_add(sd, a->pidfd, EPOLLIN, sockd_tag(SOCKD_TAG_PIDFD, i, a->gen))) < 0)
		goto fail;
	return 0;

fail:
	sockd_bad(sd, SOCKD_REFUSED_NOMEM, "%s (pid %u): region or eventfd: %s: refused",
		  a->name, a->pid, strerror(-err));
	return err;
}

void sockd_app_hello(struct sockd *sd, unsigned i, const struct app_hello *h)
{
	struct sockd_app *a = &sd->apps[i];
	uint64_t now = sockd_now_ns();
	int err;

	(void)h;        /* its pid is informational: SO_PEERCRED says who it is */
	if ((err = admit_check(sd, a)) < 0 || (err = admit_make(sd, i)) < 0) {
		sockd_refuse(sd, i, err);
		return;
	}
	a->state = SOCKD_SLOT_PENDING;
	a->hello_ns = now;
	a->deadline_ns = now + (uint64_t)sd->cfg.attach_ms * 1000000u;
	sockd_gauges_update(sd);
	sockd_netd_flush(sd);           /* the attach goes now if netd is here */
}

static struct sockd_app *find_app(struct sockd *sd, uint32_t app_id, unsigned *slot)
{
	for (unsigned i = 0; i < sd->nslots; i++) {
		struct sockd_app *a = &sd->apps[i];

		if ((a->state == SOCKD_SLOT_PENDING || a->state == SOCKD_SLOT_LIVE) &&
		    a->app_id == app_id) {
			*slot = i;
			return a;
		}
	}
	return NULL;
}

void sockd_app_acked(struct sockd *sd, uint32_t app_id)
{
	unsigned i;
	struct sockd_app *a = find_app(sd, app_id, &i);

	if (!a || !a->attach_sent) {
		COUNTER_INC(sd->ctr, SOCKD_ACK_UNKNOWN);     /* the app left meanwhile */
		return;
	}
	if (a->state == SOCKD_SLOT_LIVE)
		return;                                      /* a replayed attach's ack */
	if (send_welcome(a, 0) < 0) {
		COUNTER_INC(sd->ctr, SOCKD_WELCOME_FAILED);
		sockd_app_gone(sd, i, SOCKD_APP_CLOSED);
		return;
	}
	a->state = SOCKD_SLOT_LIVE;
	COUNTER_INC(sd->ctr, SOCKD_APPS_ADMITTED);
	if (a->flags & APP_F_BIND_PRIV)
		COUNTER_INC(sd->ctr, SOCKD_APPS_BIND_PRIV);
	sockd_log(SOCKD_INFO, "app %s (pid %u, uid %u) admitted as %u%s, netd acked in %llu us",
		  a->name, a->pid, a->uid, a->app_id,
		  a->flags & APP_F_BIND_PRIV ? " (may bind < 1024)" : "",
		  (unsigned long long)(sockd_now_ns() - a->hello_ns) / 1000);
	sockd_gauges_update(sd);
	sockd_status(sd);
}

/* ------------------------------------------------------------ adoption */

/* The real uid of pid from /proc/PID/status (its owner is root for a
 * process that is not dumpable, as after a change of uid). -1 if unknown. */
static int64_t proc_uid(uint32_t pid)
{
	char path[32], line[128];
	int64_t uid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/status", pid);
	if (!(f = fopen(path, "re")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Uid: %" SCNd64, &uid) == 1)
			break;
	fclose(f);
	return uid;
}

/* Is pid still the process netd knew, of uid? A pidfd says it lives; its
 * real uid says it is still of that user (a pid reused meanwhile by another
 * user's process is not adopted). Returns the pidfd, or -errno. */
static int adopt_pidfd(uint32_t pid, uint32_t uid)
{
	int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);

	if (pidfd < 0)
		return -errno;
	if (proc_uid(pid) != (int64_t)uid) {
		close(pidfd);
		return -ESRCH;
	}
	return pidfd;
}

/* The process's comm, for our log lines ("?" if it cannot be read). */
static void adopt_name(struct sockd_app *a)
{
	char path[32];
	ssize_t n = -1;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/comm", a->pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, a->name, sizeof(a->name) - 1);
		close(fd);
	}
	if (n <= 0)
		n = snprintf(a->name, sizeof(a->name), "?");
	a->name[n] = '\0';
	for (char *c = a->name; *c; c++)
		if (*c == '\n' || (unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			*c = *c == '\n' ? '\0' : '?';
}

/* Fill slot i from netd's offer; 0, or -errno with the offer's fds closed
 * or given to the slot (released by the caller). */
static int adopt_fill(struct sockd *sd, unsigned i, const struct app_attach *m,
		      int fds[APP_ATTACH_NFDS])
{
	struct sockd_app *a = &sd->apps[i];
	int err;

	a->pid = m->pid;
	a->uid = m->uid;
	a->flags = m->flags;
	a->nsocks = m->nsocks;
	adopt_name(a);
	a->efd_netd = fds[1];
	if ((err = adopt_pidfd(m->pid, m->uid)) < 0) {
		close(fds[0]);
		return err;
	}
	a->pidfd = err;
	/* An app region (netd checked it at the first attach, and will again
	 * at the replay): mapped so that a restarted netd can have it. */
	if ((err = region_attach_fd(&a->region, fds[0], REGION_KIND_APP, APP_LAYOUT_VERSION)) < 0) {
		close(fds[0]);               /* a region owns its fd only once attached */
		return -EPROTO;
	}
	if (a->region.size != m->region_size)
		return -EPROTO;
	return sockd_epoll_add(sd, a->pidfd, EPOLLIN, sockd_tag(SOCKD_TAG_PIDFD, i, a->gen));
}

void sockd_app_adopt(struct sockd *sd, const struct app_attach *m, int fds[APP_ATTACH_NFDS])
{
	unsigned known_slot;
	struct sockd_app *known = find_app(sd, m->app_id, &known_slot);
	int s, err;

	if (known && known->pid == m->pid) {
		COUNTER_INC(sd->ctr, SOCKD_ADOPT_KNOWN);   /* its replay is on its way */
		close(fds[0]);
		close(fds[1]);
		return;
	}
	if ((s = sockd_slot_claim(sd)) < 0) {
		sockd_bad(sd, SOCKD_ADOPT_REFUSED, "netd offered app %u (pid %u): no free slot",
			  m->app_id, m->pid);
		close(fds[0]);
		close(fds[1]);
		return;
	}
	if ((err = adopt_fill(sd, (unsigned)s, m, fds)) < 0) {
		sockd_bad(sd, err == -EPROTO ? SOCKD_ADOPT_REFUSED : SOCKD_ADOPT_GONE,
			  "netd offered app %u (pid %u): %s; netd drops it after its grace",
			  m->app_id, m->pid, err == -EPROTO ? "region unusable" : "process gone");
		sockd_slot_release(sd, (unsigned)s);
		return;
	}
	/* An id this sockd gave another app meanwhile: a new one (netd takes
	 * the id of the replay, which it recognises by the region). */
	sd->apps[s].app_id = known ? next_app_id(sd) : m->app_id;
	if (sd->apps[s].app_id >= sd->next_app_id)
		sd->next_app_id = sd->apps[s].app_id + 1;
	sd->apps[s].state = SOCKD_SLOT_LIVE;
	COUNTER_INC(sd->ctr, SOCKD_ADOPTED);
	sockd_log(SOCKD_INFO, "app %s (pid %u, uid %u) adopted from netd as %u (it outlived "
		  "the previous sockd)", sd->apps[s].name, m->pid, m->uid, sd->apps[s].app_id);
	sockd_gauges_update(sd);
	sockd_status(sd);
	sockd_netd_flush(sd);           /* the replay of its attach */
}

/* ------------------------------------------------------------ departures */

static const char *gone_text(enum sockd_counter why)
{
	switch (why) {
	case SOCKD_APP_EXITED: return "exited";
	case SOCKD_APP_BAD_MSG: return "dropped: sent a message after its hello";
	case SOCKD_REFUSED_NO_NETD: return "refused -EAGAIN: netd did not ack in time";
	default: return "closed its socket";
	}
}

void sockd_app_gone(struct sockd *sd, unsigned i, enum sockd_counter why)
{
	struct sockd_app *a = &sd->apps[i];
	bool was_live = a->state == SOCKD_SLOT_LIVE;

	COUNTER_INC(sd->ctr, why);
	if (!was_live && why != SOCKD_REFUSED_NO_NETD)
		COUNTER_INC(sd->ctr, SOCKD_APP_GONE_PENDING);
	sockd_log(was_live ? SOCKD_INFO : SOCKD_WARN, "app %s (pid %u, id %u) %s%s", a->name,
		  a->pid, a->app_id, gone_text(why), a->attach_sent ? "; detaching" : "");
	if (a->attach_sent)
		sockd_netd_detach(sd, a->app_id);
	sockd_slot_release(sd, i);
	sockd_gauges_update(sd);
	if (was_live)
		sockd_status(sd);
}

/* A hello or an ack that did not come in time. */
static void expire(struct sockd *sd, unsigned i)
{
	struct sockd_app *a = &sd->apps[i];

	if (a->state == SOCKD_SLOT_HELLO) {
		sockd_bad(sd, SOCKD_HELLO_TIMEOUT, "a peer sent no hello in %u ms: dropped",
			  SOCKD_HELLO_MS);
		sockd_slot_release(sd, i);
		return;
	}
	send_welcome(a, -EAGAIN);
	sockd_app_gone(sd, i, SOCKD_REFUSED_NO_NETD);
}

uint64_t sockd_app_timers(struct sockd *sd, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (unsigned i = 0; i < sd->nslots; i++) {
		struct sockd_app *a = &sd->apps[i];

		if (a->state != SOCKD_SLOT_HELLO && a->state != SOCKD_SLOT_PENDING)
			continue;
		if (a->deadline_ns <= now)
			expire(sd, i);
		else if (a->deadline_ns < next)
			next = a->deadline_ns;
	}
	return next;
}
