/* netd/sockd_link.c — the link thread: netd's connection to sockd, and
 * turning each attached application's region into state netd can trust.
 *
 * Where it sits: beside the data path, never on it (docs/NETD-APPS.md):
 *
 *     sockd --app_welcome, app_attach(+region fd, wake fd), app_detach--> link thread
 *     link thread: map + check the region, build struct netd_app
 *               --ATTACH / DETACH (handoff ring), ring ctl_db--> engine (app.c)
 *               --app_attach_ack--> sockd        (after the handoff)
 *     engine --RETURN (return ring), link_efd--> link thread: unmap, close, free
 *
 * The thread connects to RUN_DIR/sockd.sock (SOCK_SEQPACKET) and says
 * hello as APP_ROLE_NETD; while sockd is absent it retries with a doubling
 * backoff (100 ms to 2 s). On EOF the apps keep running (the data path does
 * not involve sockd): they are marked orphans. When a sockd welcomes us we
 * offer it each orphan (app_adopt: a restarted sockd has forgotten them and
 * takes them back); sockd replays the attaches of the apps still alive, and
 * an orphan not replayed within NETD_ORPHAN_GRACE_NS of the reconnection
 * is dropped. A replay is
 * recognised by the region's identity (st_dev, st_ino), acked again, and its
 * duplicate descriptors closed.
 *
 * Every syscall of the application side happens here (mmap, munmap, close,
 * the ack), so the engine never waits on one. Every wait is bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "netd/app_internal.h"
#include "netd/netd.h"

#define LINK_BACKOFF_MIN_MS  100
#define LINK_BACKOFF_MAX_MS  2000
#define LINK_TICK_MS         100     /* housekeeping while connected */
#define LINK_MSG_MAX         64
#define LINK_FDS_MAX         4       /* room to notice (and close) extra descriptors */

static uint64_t link_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void close_fds(const int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* ------------------------------------------------------ building an app */

/* sockd must have sealed the size: an app that could shrink its region
 * would turn netd's next access past the new end into SIGBUS. */
static bool region_sealed(int fd)
{
	int seals = fcntl(fd, F_GET_SEALS);

	return seals >= 0 && (seals & F_SEAL_SHRINK);
}

/* A named area of at least len bytes, aligned to align, or NULL. Read
 * once, at attach, before the app holds the fd (sockd welcomes it only
 * after our ack); never again. */
static void *area(const struct netd_app *app, const char *name, size_t len, size_t align)
{
	size_t have = 0;
	void *p = region_find(&app->region, name, &have);

	return p && have >= len && ((uintptr_t)p & (align - 1)) == 0 ? p : NULL;
}

/* Find and check every area against sockd's geometry; make the ring views. */
static int app_areas(struct netd_app *app)
{
	size_t cmd_len = ring_bytes(APP_CMD_RING, sizeof(struct app_cmd));
	size_t cpl_len = ring_bytes(APP_CPL_RING, sizeof(struct app_cpl));
	void *cmd = area(app, APP_AREA_CMD, cmd_len, 64), *cpl = area(app, APP_AREA_CPL, cpl_len, 64);

	app->ctl = area(app, APP_AREA_CTL, sizeof(struct app_ctl), 64);
	app->socks = area(app, APP_AREA_SOCKS, (size_t)app->nsocks * sizeof(struct app_sock), 64);
	app->bufs = area(app, APP_AREA_BUFS, (size_t)app->nsocks * 2 * app->buf_size, 64);
	if (!app->ctl || !app->socks || !app->bufs || !cmd || !cpl)
		return -EPROTO;
	if (doorbell_validate(&app->ctl->wake) < 0 || doorbell_validate(&app->ctl->netd) < 0)
		return -EPROTO;
	/* -EBADMSG (indices already impossible) refuses the app too */
	if (ring_cons_attach(&app->cmd, cmd, cmd_len, APP_CMD_RING, sizeof(struct app_cmd)) < 0 ||
	    ring_prod_attach(&app->cpl, cpl, cpl_len, APP_CPL_RING, sizeof(struct app_cpl)) < 0)
		return -EPROTO;
	return 0;
}

/* One heap block: the app, its socket table, its dirty bitmap. */
static struct netd_app *app_alloc(uint32_t nsocks)
{
	size_t head = (sizeof(struct netd_app) + 127) & ~(size_t)127;
	size_t socks = ((size_t)nsocks * sizeof(struct nsock) + 63) & ~(size_t)63;
	size_t size = (head + socks + (nsocks + 63) / 64 * 8 + 127) & ~(size_t)127;
	struct netd_app *app = aligned_alloc(128, size);   /* C11: size a multiple of 128 */

	if (!app)
		return NULL;
	memset(app, 0, size);
	app->sock = (struct nsock *)((uint8_t *)app + head);
	app->dirty = (uint64_t *)((uint8_t *)app->sock + socks);
	for (uint32_t i = 0; i < nsocks; i++)
		app->sock[i].conn = app->sock[i].stash = TCP_CONN_NONE;
	app->region.fd = -1;
	app->wake_efd = -1;
	return app;
}

void sockd_link_app_free(struct netd_app *app)
{
	if (!app)
		return;
	region_close(&app->region);
	if (app->wake_efd >= 0)
		close(app->wake_efd);
	free(app);
}

static bool geometry_ok(const struct app_attach *m)
{
	return m->nsocks > 0 && m->nsocks <= APP_SOCKS_MAX && m->buf_size >= NETD_APP_BUF_MIN &&
	       m->buf_size <= NETD_APP_BUF_MAX && (m->buf_size & (m->buf_size - 1)) == 0;
}

static void app_ids(struct netd_app *app, const struct app_attach *m, uint32_t slot,
		    const struct stat *sb)
{
	app->app_id = m->app_id;
	app->pid = m->pid;
	app->uid = m->uid;
	app->flags = m->flags;
	app->slot = slot;
	app->dev = (uint64_t)sb->st_dev;
	app->ino = (uint64_t)sb->st_ino;
}

int sockd_link_app_build(struct netd_apps_state *st, const struct app_attach *m, int region_fd,
			 int wake_fd, uint32_t slot, struct netd_app **out)
{
	struct netd_app *app = NULL;
	struct stat sb;
	int err = -EINVAL;

	if (!geometry_ok(m) || fstat(region_fd, &sb) < 0)
		goto bad_msg;
	if (!(app = app_alloc(m->nsocks))) {
		APP_CTR(st, ATTACH_NOMEM);
		err = -ENOMEM;
		goto fail;
	}
	app->nsocks = m->nsocks;
	app->buf_size = m->buf_size;
	err = !region_sealed(region_fd) ? -EPERM
	    : region_attach_fd(&app->region, region_fd, REGION_KIND_APP, APP_LAYOUT_VERSION);
	if (err == 0)
		region_fd = -1;              /* the region owns it now */
	if (err == 0 && app->region.size != m->region_size)
		err = -EINVAL;
	if (err < 0 || (err = app_areas(app)) < 0) {
		APP_CTR(st, ATTACH_BAD_REGION);
		goto fail;
	}
	/* a wake-up must never block the engine (a hostile app can clear this
	 * flag again on its own descriptor: docs/NETD-APPS.md) */
	fcntl(wake_fd, F_SETFL, fcntl(wake_fd, F_GETFL) | O_NONBLOCK);
	app->wake_efd = wake_fd;
	app_ids(app, m, slot, &sb);
	*out = app;
	return 0;
bad_msg:
	APP_CTR(st, ATTACH_BAD_MSG);
fail:
	sockd_link_app_free(app);
	close_fds((int[]){ region_fd, wake_fd }, 2);
	return err;
}

/* ------------------------------------------------------------- handoff */

void sockd_link_handoff(struct netd_apps_state *st, unsigned op, uint32_t slot, uint32_t app_id,
			struct netd_app *app)
{
	struct ring_u128 m = { .lo = op | (uint64_t)slot << 8 | (uint64_t)app_id << 32,
			       .hi = (uint64_t)(uintptr_t)app };

	/* Never full: each slot has at most an ATTACH and a DETACH in flight
	 * (NETD_HANDOFF_SLOTS >= 4 * NETD_APPS_MAX). */
	if (ring_enqueue_bulk_u128(&st->hand_p, &m, 1) != 1)
		netd_log(NETD_ERR, "apps: handoff ring full (op %u, slot %u): a bug", op, slot);
	/* after the ring's release store: wakes the engine if it sleeps */
	doorbell_ring(&st->ctl_db);
}

void sockd_link_reap(struct netd_apps_state *st)
{
	struct ring_u128 m[16];
	uint64_t junk;
	unsigned n;

	if (read(st->link_efd, &junk, sizeof(junk)) < 0) {
		/* EAGAIN: nothing signalled; the ring is looked at anyway */
	}
	while ((n = ring_dequeue_burst_u128(&st->ret_c, m, 16)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			struct netd_app *app = (struct netd_app *)(uintptr_t)m[i].hi;
			struct link_slot *ls = &st->ls[app->slot];

			if (ls->app == app)
				memset(ls, 0, sizeof(*ls));
			sockd_link_app_free(app);
		}
	}
}

/* ---------------------------------------------------- attach and detach */

static void link_ack(struct netd_apps_state *st, uint32_t app_id)
{
	struct app_attach_ack ack = { .magic = APP_ATTACH_ACK_MAGIC, .app_id = app_id };

	/* MSG_DONTWAIT: a sockd that reads nothing must not stall us; without
	 * the ack it refuses the app and sends a detach we then ignore */
	if (send(st->sock, &ack, sizeof(ack), MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)sizeof(ack))
		APP_CTR(st, ACK_FAILED);
}

/* A replayed attach (sockd reconnected, or said it twice): same region. */
static bool link_replay(struct netd_apps_state *st, const struct app_attach *m, int fd)
{
	struct stat sb;

	if (fstat(fd, &sb) < 0)
		return false;
	for (unsigned s = 0; s < NETD_APPS_MAX; s++) {
		struct link_slot *ls = &st->ls[s];

		if (ls->state == LS_LIVE && ls->dev == (uint64_t)sb.st_dev &&
		    ls->ino == (uint64_t)sb.st_ino) {
			ls->app_id = m->app_id;      /* a restarted sockd may renumber */
			ls->orphan = false;
			return true;
		}
	}
	return false;
}

static int free_slot(const struct netd_apps_state *st)
{
	for (unsigned s = 0; s < NETD_APPS_MAX; s++)
		if (st->ls[s].state == LS_FREE)
			return (int)s;
	return -1;
}

static void link_attach(struct netd_apps_state *st, const struct app_attach *m, int *fds,
			unsigned nfd)
{
	struct netd_app *app;
	int slot, err;

	if (nfd != APP_ATTACH_NFDS) {
		APP_CTR(st, ATTACH_BAD_MSG);
		close_fds(fds, nfd);
		return;
	}
	if (link_replay(st, m, fds[0])) {
		APP_CTR(st, ATTACH_REPLAYED);
		close_fds(fds, nfd);
		link_ack(st, m->app_id);
		return;
	}
	if ((slot = free_slot(st)) < 0) {
		APP_CTR(st, ATTACH_NO_SLOT);
		close_fds(fds, nfd);
		return;
	}
	if ((err = sockd_link_app_build(st, m, fds[0], fds[1], (uint32_t)slot, &app)) < 0) {
		netd_log(NETD_WARN, "apps: attach of app %u (pid %u) refused: %s", m->app_id, m->pid,
			 strerror(-err));
		return;
	}
	st->ls[slot] = (struct link_slot){ .state = LS_LIVE, .app_id = m->app_id, .dev = app->dev,
					   .ino = app->ino, .app = app };
	sockd_link_handoff(st, HANDOFF_ATTACH, (uint32_t)slot, m->app_id, app);
	link_ack(st, m->app_id);
	APP_CTR(st, ATTACHES);
}

static void link_detach_slot(struct netd_apps_state *st, unsigned s)
{
	st->ls[s].state = LS_DETACHING;
	sockd_link_handoff(st, HANDOFF_DETACH, s, st->ls[s].app_id, st->ls[s].app);
}

/* An orphan is never this sockd's to detach: it attached only what it
 * replayed or admitted in this session, and an id of a restarted sockd may
 * equal an orphan's. */
static void link_detach(struct netd_apps_state *st, uint32_t app_id)
{
	for (unsigned s = 0; s < NETD_APPS_MAX; s++) {
		if (st->ls[s].state == LS_LIVE && !st->ls[s].orphan && st->ls[s].app_id == app_id) {
			link_detach_slot(st, s);
			APP_CTR(st, DETACHES);
			return;
		}
	}
	APP_CTR(st, DETACH_UNKNOWN);
}

/* Offer sockd one app we kept while it was away, with the fields of its
 * attach and the same two descriptors (region, our wake write end): a
 * restarted sockd has forgotten it and takes it back, then replays its
 * attach as for any app (link_replay clears the orphan). MSG_DONTWAIT: an
 * offer that cannot go leaves the orphan to its grace. */
static void link_offer(struct netd_apps_state *st, const struct link_slot *ls)
{
	const struct netd_app *app = ls->app;
	/* the slot's id: a replay renumbers it there, not in the app */
	struct app_attach m = { .magic = APP_ADOPT_MAGIC, .app_id = ls->app_id, .pid = app->pid,
				.uid = app->uid, .nsocks = app->nsocks, .buf_size = app->buf_size,
				.flags = app->flags, .region_size = app->region.size };
	int fds[APP_ATTACH_NFDS] = { app->region.fd, app->wake_efd };
	union {
		char b[CMSG_SPACE(sizeof(fds))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { &m, sizeof(m) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
			      .msg_controllen = sizeof(u.b) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	if (sendmsg(st->sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)sizeof(m))
		APP_CTR(st, ADOPT_OFFERED);
	else
		APP_CTR(st, ADOPT_OFFER_FAILED);
}

/* Welcomed by sockd: offer it every orphan (a sockd that knows them
 * ignores the offers and replays them anyway). */
static void link_offer_orphans(struct netd_apps_state *st)
{
	for (unsigned s = 0; s < NETD_APPS_MAX; s++)
		if (st->ls[s].state == LS_LIVE && st->ls[s].orphan)
			link_offer(st, &st->ls[s]);
}

/* sockd left: keep serving, and wait for its replays once it is back. */
static void link_orphan_all(struct netd_apps_state *st)
{
	for (unsigned s = 0; s < NETD_APPS_MAX; s++)
		if (st->ls[s].state == LS_LIVE)
			st->ls[s].orphan = true;
	st->orphan_deadline = 0;
}

static void link_orphans_expire(struct netd_apps_state *st)
{
	if (st->orphan_deadline == 0 || link_now() < st->orphan_deadline)
		return;
	for (unsigned s = 0; s < NETD_APPS_MAX; s++) {
		if (st->ls[s].state == LS_LIVE && st->ls[s].orphan) {
			netd_log(NETD_INFO, "apps: app %u not replayed by sockd; dropping it",
				 st->ls[s].app_id);
			link_detach_slot(st, s);
			APP_CTR(st, ORPHANS_DROPPED);
		}
	}
	st->orphan_deadline = 0;
}

/* -------------------------------------------------------- the socket */

/* One message and its descriptors (*nfd of them, in fds). Returns its
 * length, 0 at EOF, or -errno (-EAGAIN: nothing there). */
static ssize_t link_recv(int sock, void *buf, size_t len, int *fds, unsigned *nfd)
{
	char cbuf[CMSG_SPACE(sizeof(int) * LINK_FDS_MAX)];
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	ssize_t n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	*nfd = 0;
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k = c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS
			   ? (c->cmsg_len - CMSG_LEN(0)) / sizeof(int) : 0;

		for (size_t j = 0; j < k; j++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + j * sizeof(int), sizeof(fd));
			if (*nfd < LINK_FDS_MAX)
				fds[(*nfd)++] = fd;
			else
				close(fd);
		}
	}
	return (mh.msg_flags & MSG_TRUNC) ? -EMSGSIZE : n;
}

/* Handle one message. Returns 0, or -errno to end the session (EOF, a
 * refused hello, a socket error). */
static int link_message(struct netd_apps_state *st, bool *welcomed)
{
	union { uint8_t raw[LINK_MSG_MAX]; uint32_t magic; struct app_attach at;
		struct app_detach dt; struct app_welcome w; } m;
	int fds[LINK_FDS_MAX];
	unsigned nfd;
	ssize_t n = link_recv(st->sock, &m, sizeof(m), fds, &nfd);

	if (n == 0)
		return -EPIPE;
	if (n == -EAGAIN || n == -EINTR)
		return 0;
	if (n > 0 && (size_t)n == sizeof(m.at) && m.magic == APP_ATTACH_MAGIC) {
		link_attach(st, &m.at, fds, nfd);
		return 0;
	}
	if (nfd) {
		APP_CTR(st, LINK_FDS_CLOSED);
		close_fds(fds, nfd);
	}
	if (n < 0 && n != -EMSGSIZE)
		return (int)n;
	if ((size_t)n == sizeof(m.dt) && m.magic == APP_DETACH_MAGIC) {
		link_detach(st, m.dt.app_id);
	} else if ((size_t)n == sizeof(m.w) && m.magic == APP_WELCOME_MAGIC) {
		if (m.w.status < 0) {
			netd_log(NETD_WARN, "apps: sockd refused our hello: %s", strerror(-m.w.status));
			return m.w.status;
		}
		*welcomed = true;
		netd_log(NETD_INFO, "apps: linked to sockd");
		link_offer_orphans(st);
	} else {
		APP_CTR(st, LINK_BAD_MSG);
	}
	return 0;
}

static int link_connect(struct netd_apps_state *st)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct app_hello h = { .magic = APP_HELLO_MAGIC, .version = APP_HELLO_VERSION,
			       .role = APP_ROLE_NETD, .layout_version = APP_LAYOUT_VERSION,
			       .pid = (uint32_t)getpid(), .name = "netd" };
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	memcpy(sa.sun_path, st->sock_path, sizeof(sa.sun_path));
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(s, &h, sizeof(h), MSG_NOSIGNAL) != (ssize_t)sizeof(h)) {
		if (!st->down_logged)
			netd_log(NETD_INFO, "apps: sockd not reachable at %s (%s); retrying",
				 st->sock_path, strerror(errno));
		st->down_logged = true;
		if (s >= 0)
			close(s);
		APP_CTR(st, LINK_CONNECT_FAIL);
		return -EAGAIN;
	}
	st->down_logged = false;
	st->sock = s;
	APP_CTR(st, LINK_CONNECTS);
	for (unsigned i = 0; i < NETD_APPS_MAX; i++)
		if (st->ls[i].state == LS_LIVE && st->ls[i].orphan)
			st->orphan_deadline = link_now() + NETD_ORPHAN_GRACE_NS;
	return 0;
}

/* Wait up to ms for the socket (if any) or link_efd. Returns true if the
 * socket is readable. */
static bool link_wait(struct netd_apps_state *st, int ms)
{
	struct pollfd p[2] = { { .fd = st->link_efd, .events = POLLIN },
			       { .fd = st->sock, .events = POLLIN } };

	if (poll(p, st->sock >= 0 ? 2 : 1, ms) <= 0)
		return false;
	return st->sock >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR));
}

static bool link_stopping(struct netd_apps_state *st)
{
	return atomic_load_explicit(&st->stop, memory_order_relaxed);
}

/* Connected: messages until EOF or stop. Returns true if sockd welcomed us. */
static bool link_session(struct netd_apps_state *st)
{
	bool welcomed = false;

	while (!link_stopping(st)) {
		bool readable = link_wait(st, LINK_TICK_MS);

		sockd_link_reap(st);
		link_orphans_expire(st);
		if (readable && link_message(st, &welcomed) < 0)
			break;
	}
	close(st->sock);
	st->sock = -1;
	link_orphan_all(st);
	if (welcomed && !link_stopping(st)) {
		APP_CTR(st, LINK_EOF);
		netd_log(NETD_WARN, "apps: sockd went away; apps kept until it replays them");
	}
	return welcomed;
}

static void *link_main(void *arg)
{
	struct netd_apps_state *st = arg;
	int backoff = LINK_BACKOFF_MIN_MS;

	while (!link_stopping(st)) {
		if (!atomic_load_explicit(&st->ready, memory_order_relaxed)) {
			link_wait(st, LINK_TICK_MS);     /* no engine pass yet: no stack to serve */
			continue;
		}
		if (link_connect(st) == 0 && link_session(st))
			backoff = LINK_BACKOFF_MIN_MS;
		else
			backoff = backoff * 2 > LINK_BACKOFF_MAX_MS ? LINK_BACKOFF_MAX_MS : backoff * 2;
		if (!link_stopping(st))
			link_wait(st, backoff);
		sockd_link_reap(st);
	}
	return NULL;
}

int sockd_link_start(struct netd_apps_state *st)
{
	int err;

	atomic_store_explicit(&st->stop, false, memory_order_relaxed);
	if ((err = pthread_create(&st->thread, NULL, link_main, st)) != 0)
		return -err;
	st->started = true;
	return 0;
}

void sockd_link_stop(struct netd_apps_state *st)
{
	uint64_t one = 1;

	if (!st->started)
		return;
	atomic_store_explicit(&st->stop, true, memory_order_relaxed);
	if (write(st->link_efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: already signalled */
	}
	pthread_join(st->thread, NULL);
	st->started = false;
}
