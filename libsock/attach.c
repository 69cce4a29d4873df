/* libsock/attach.c — joining the stack: the hello with sockd, the app's
 * region, and what a fork does to both.
 *
 * The first AF_INET socket the program creates attaches the process (not
 * the constructor: a program that never opens a socket costs sockd nothing):
 *
 *     libsock --app_hello--> sockd         RUN_DIR/sockd.sock, SOCK_SEQPACKET
 *             <--app_welcome + [region fd, wake eventfd]--
 *
 * then maps the region, checks every area against the geometry in app.ctl,
 * and makes the producer view of app.cmd and the consumer view of app.cpl.
 * The connection to sockd stays open: sockd watches it to clean up after us.
 * If sockd cannot be reached (or refuses), the process runs without the
 * stack: every AF_INET socket falls back to the kernel, counted and logged,
 * or fails under RINGSTACK_STRICT=1 (fallback.c).
 *
 * fork: the child inherits the mapping and the descriptors, but the rings
 * are single-producer/single-consumer and belong to the parent. The child
 * therefore drops its copies (region, wake eventfd, sockd connection), moves
 * the attachment generation on so the stack sockets it inherited read as
 * stale, and attaches on its own, as a new app, the first time it needs
 * to. Inherited listeners are taken over on first use (inherit.c); other
 * inherited sockets fail with EOPNOTSUPP (close() works). exec starts from
 * nothing: libsock's own descriptors are close-on-exec.
 */
#include "libsock/libsock_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/un.h>
#include <unistd.h>

#include "shm/doorbell.h"

#define LS_HELLO_TIMEOUT_S  2          /* sockd answers at once or not at all */
#define LS_RUN_DIR_DEFAULT  "/run/ringstack"
#define LS_SPIN_US_DEFAULT  20         /* see wait.c: a short spin saves a ~7 us wake-up */

struct ls_stack ls = {
	.wake_fd = -1,
	.wake_wfd = -1,
	.sockd_fd = -1,
	.attach_lock = PTHREAD_MUTEX_INITIALIZER,
	.cmd_lock = PTHREAD_MUTEX_INITIALIZER,
	.cpl_lock = PTHREAD_MUTEX_INITIALIZER,
	.alloc_lock = PTHREAD_MUTEX_INITIALIZER,
	.wait_lock = PTHREAD_MUTEX_INITIALIZER,
	.region = { .fd = -1 },
};

/* ------------------------------------------------------------ the hello */

static int sockd_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = LS_HELLO_TIMEOUT_S };
	int fd, n;

	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", ls.run_dir, APP_SOCK_FILE);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	fd = REAL(socket)(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	REAL(setsockopt)(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	REAL(setsockopt)(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (REAL(connect)(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		n = -errno;
		REAL(close)(fd);
		return n;
	}
	return fd;
}

static int hello_send(int fd)
{
	struct app_hello h = { .magic = APP_HELLO_MAGIC, .version = APP_HELLO_VERSION,
			       .role = APP_ROLE_APP, .layout_version = APP_LAYOUT_VERSION,
			       .pid = (uint32_t)getpid() };

	prctl(PR_GET_NAME, h.name);   /* 16 bytes, NUL-terminated by the kernel */
	if (REAL(send)(fd, &h, sizeof(h), MSG_NOSIGNAL) != (ssize_t)sizeof(h))
		return errno ? -errno : -EPROTO;
	return 0;
}

/* Receive the welcome and its two descriptors (close-on-exec). Any
 * descriptors that came with a bad welcome are closed here. */
static int welcome_recv(int fd, struct app_welcome *w, int fds[APP_WELCOME_NFDS])
{
	union { char buf[CMSG_SPACE(sizeof(int) * APP_WELCOME_NFDS)]; struct cmsghdr a; } u;
	struct iovec iov = { w, sizeof(*w) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;
	ssize_t n = REAL(recvmsg)(fd, &m, MSG_CMSG_CLOEXEC);

	if (n < 0)
		return -errno;
	c = CMSG_FIRSTHDR(&m);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
	    c->cmsg_len == CMSG_LEN(sizeof(int) * APP_WELCOME_NFDS)) {
		memcpy(fds, CMSG_DATA(c), sizeof(int) * APP_WELCOME_NFDS);
	} else {
		fds[0] = fds[1] = fds[2] = -1;
	}
	if (n == (ssize_t)sizeof(*w) && w->magic == APP_WELCOME_MAGIC && w->status == 0 &&
	    w->layout_version == APP_LAYOUT_VERSION && fds[0] >= 0)
		return 0;
	for (unsigned i = 0; i < APP_WELCOME_NFDS; i++)
		if (fds[i] >= 0)
			REAL(close)(fds[i]);
	if (n == (ssize_t)sizeof(*w) && w->magic == APP_WELCOME_MAGIC && w->status < 0)
		return w->status;
	return -EPROTO;
}

/* ------------------------------------------------------------ the region */

/* Find the areas and check them against the geometry app.ctl states: our own
 * region, but a bad one must fail the attach, not fault later. */
static int region_map_areas(void)
{
	size_t len = 0;
	struct app_ctl *ctl = region_find(&ls.region, APP_AREA_CTL, &len);

	if (!ctl || len < sizeof(*ctl) || ctl->magic != APP_CTL_MAGIC ||
	    ctl->version != APP_LAYOUT_VERSION || ctl->nsocks == 0 ||
	    ctl->nsocks > APP_SOCKS_MAX || ctl->buf_size < 4096 ||
	    ctl->buf_size > (64u << 20) || (ctl->buf_size & (ctl->buf_size - 1)) ||
	    doorbell_validate(&ctl->wake) < 0 || doorbell_validate(&ctl->netd) < 0)
		return -EPROTO;
	ls.ctl = ctl;
	ls.nsocks = ctl->nsocks;
	ls.buf_size = ctl->buf_size;
	ls.socks = region_find(&ls.region, APP_AREA_SOCKS, &len);
	if (!ls.socks || len < (size_t)ls.nsocks * sizeof(struct app_sock))
		return -EPROTO;
	ls.bufs = region_find(&ls.region, APP_AREA_BUFS, &len);
	if (!ls.bufs || len < 2 * (size_t)ls.nsocks * ls.buf_size)
		return -EPROTO;
	return 0;
}

static int region_map_rings(void)
{
	size_t len = 0;
	void *cmd = region_find(&ls.region, APP_AREA_CMD, &len);
	size_t cpl_len = 0;
	void *cpl = region_find(&ls.region, APP_AREA_CPL, &cpl_len);
	int err;

	if (!cmd || !cpl)
		return -EPROTO;
	err = ring_prod_attach(&ls.cmd, cmd, len, 0, sizeof(struct app_cmd));
	if (err < 0)
		return err;
	return ring_cons_attach(&ls.cpl, cpl, cpl_len, 0, sizeof(struct app_cpl));
}

/* The private socket array and the free list, every index free. Listed in
 * reverse so that index 0 is handed out first (easier to read in ctl/). */
static int sockets_init(void)
{
	ls.sk = calloc(ls.nsocks, sizeof(*ls.sk));
	ls.free_idx = calloc(ls.nsocks, sizeof(*ls.free_idx));
	if (!ls.sk || !ls.free_idx) {
		free(ls.sk);
		free(ls.free_idx);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < ls.nsocks; i++) {
		ls.sk[i].idx = i;
		pthread_mutex_init(&ls.sk[i].lock, NULL);
		pthread_mutex_init(&ls.sk[i].rx_lock, NULL);
		pthread_mutex_init(&ls.sk[i].tx_lock, NULL);
		pthread_mutex_init(&ls.sk[i].optval_lock, NULL);
		ls.free_idx[i] = ls.nsocks - 1 - i;
	}
	ls.nfree = ls.nsocks;
	atomic_store(&ls.closes_in_flight, 0);
	return 0;
}

static int attach_region(int fds[APP_WELCOME_NFDS])
{
	int err = region_attach_fd(&ls.region, fds[0], REGION_KIND_APP, APP_LAYOUT_VERSION);
	int fl;

	if (err < 0) {
		REAL(close)(fds[0]);
		REAL(close)(fds[1]);
		REAL(close)(fds[2]);
		return err;
	}
	/* The mapping outlives the descriptor: one fewer of ours in the app. */
	REAL(close)(ls.region.fd);
	ls.region.fd = -1;
	ls.wake_fd = fds[1];
	ls.wake_wfd = fds[2];
	/* Nonblocking: several threads may wait on it and only one drains a
	 * wake-up; the others must find it empty, not block (doorbell.h). */
	fl = REAL(fcntl)(ls.wake_fd, F_GETFL);
	REAL(fcntl)(ls.wake_fd, F_SETFL, (fl < 0 ? 0 : fl) | O_NONBLOCK);
	fl = REAL(fcntl)(ls.wake_wfd, F_GETFL);
	REAL(fcntl)(ls.wake_wfd, F_SETFL, (fl < 0 ? 0 : fl) | O_NONBLOCK);
	err = region_map_areas();
	if (err == 0)
		err = region_map_rings();
	if (err == 0)
		err = sockets_init();
	return err;
}

static void detach_fds(void)
{
	if (ls.region.base)
		munmap(ls.region.base, ls.region.size);
	/* REAL: our own close() refuses to close libsock's descriptors. */
	if (ls.region.fd >= 0)
		REAL(close)(ls.region.fd);
	memset(&ls.region, 0, sizeof(ls.region));
	ls.region.fd = -1;
	if (ls.wake_fd >= 0)
		REAL(close)(ls.wake_fd);
	if (ls.wake_wfd >= 0)
		REAL(close)(ls.wake_wfd);
	if (ls.sockd_fd >= 0)
		REAL(close)(ls.sockd_fd);
	ls.wake_fd = ls.wake_wfd = ls.sockd_fd = -1;
	ls.ctl = NULL;
	ls.socks = NULL;
	ls.bufs = NULL;
}

static int attach_do(void)
{
	struct app_welcome w = { 0 };
	int fds[APP_WELCOME_NFDS] = { -1, -1, -1 };
	int err, fd = sockd_connect();

	if (fd < 0)
		return fd;
	ls.sockd_fd = fd;
	err = hello_send(fd);
	if (err == 0)
		err = welcome_recv(fd, &w, fds);
	if (err == 0)
		err = attach_region(fds);
	if (err < 0) {
		detach_fds();
		return err;
	}
	ls.app_id = w.app_id;
	return 0;
}

static void attach_log_failure(int err)
{
	char msg[256];
	int n = snprintf(msg, sizeof(msg),
			 "ringstack: no stack: sockd at %s/%s: %s; AF_INET sockets %s\n",
			 ls.run_dir, APP_SOCK_FILE, strerror(-err),
			 ls.strict ? "fail (strict)" : "fall back to the kernel");

	if (n > 0)
		(void)!REAL(write)(2, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
}

bool ls_attach(void)
{
	int st = atomic_load_explicit(&ls.state, memory_order_acquire);
	int err;

	if (ls_likely(st != LS_UNATTACHED))
		return st == LS_ATTACHED;
	pthread_mutex_lock(&ls.attach_lock);
	st = atomic_load_explicit(&ls.state, memory_order_relaxed);
	if (st == LS_UNATTACHED) {
		err = attach_do();
		if (err < 0)
			attach_log_failure(err);
		ls.gen++;
		st = err < 0 ? LS_NO_STACK : LS_ATTACHED;
		/* Release: pairs with the acquire loads above and in
		 * ls_fd_lookup(); the mapping and views are complete first. */
		atomic_store_explicit(&ls.state, st, memory_order_release);
	}
	pthread_mutex_unlock(&ls.attach_lock);
	return st == LS_ATTACHED;
}

bool ls_is_internal_fd(int fd)
{
	if (fd < 0 || atomic_load_explicit(&ls.state, memory_order_acquire) != LS_ATTACHED)
		return false;
	return fd == ls.wake_fd || fd == ls.wake_wfd || fd == ls.sockd_fd;
}

/* The app is about to dup2 onto one of our descriptors: give ours another
 * number first (the same open file, so a thread asleep on the old number
 * still wakes). 0 or -errno. */
int ls_move_internal_fd(int fd)
{
	int nfd;

	pthread_mutex_lock(&ls.attach_lock);
	nfd = REAL(fcntl)(fd, F_DUPFD_CLOEXEC, fd + 1);
	if (nfd >= 0 && fd == ls.wake_fd)
		ls.wake_fd = nfd;
	else if (nfd >= 0 && fd == ls.wake_wfd)
		ls.wake_wfd = nfd;
	else if (nfd >= 0 && fd == ls.sockd_fd)
		ls.sockd_fd = nfd;
	pthread_mutex_unlock(&ls.attach_lock);
	return nfd < 0 ? -errno : 0;
}

/* ------------------------------------------------------------ fork */

static void fork_prepare(void)
{
	ls.fork_pid = (uint32_t)getpid();   /* the child's parent (inherit.c) */
	pthread_mutex_lock(&ls.attach_lock);
	pthread_mutex_lock(&ls.alloc_lock);
	pthread_mutex_lock(&ls.cmd_lock);
	pthread_mutex_lock(&ls.cpl_lock);
	pthread_mutex_lock(&ls.wait_lock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&ls.wait_lock);
	pthread_mutex_unlock(&ls.cpl_lock);
	pthread_mutex_unlock(&ls.cmd_lock);
	pthread_mutex_unlock(&ls.alloc_lock);
	pthread_mutex_unlock(&ls.attach_lock);
}

/* The child: only this thread exists. Give up the parent's attachment (see
 * the file comment); the private socket array is left allocated because
 * stale table entries may still be looked up, never dereferenced. */
static void fork_child(void)
{
	pthread_mutex_init(&ls.attach_lock, NULL);
	pthread_mutex_init(&ls.alloc_lock, NULL);
	pthread_mutex_init(&ls.cmd_lock, NULL);
	pthread_mutex_init(&ls.cpl_lock, NULL);
	pthread_mutex_init(&ls.wait_lock, NULL);
	ls.waiters = NULL;
	memset(ls.pending, 0, sizeof(ls.pending));
	ls_epoll_reset_child();
	ls_inherit_at_fork_child();
	if (atomic_load(&ls.state) == LS_ATTACHED)
		detach_fds();
	ls.sk = NULL;
	ls.free_idx = NULL;
	ls.nsocks = 0;
	atomic_store(&ls.state, LS_UNATTACHED);
}

/* ------------------------------------------------------------ configuration */

static int64_t env_int(const char *name, int64_t def)
{
	const char *v = getenv(name);
	char *end;
	long long x;

	if (!v || !*v)
		return def;
	x = strtoll(v, &end, 10);
	return *end ? def : x;
}

__attribute__((constructor)) static void ls_attach_ctor(void)
{
	const char *dir = getenv("RINGSTACK_RUN_DIR");

	snprintf(ls.run_dir, sizeof(ls.run_dir), "%s", dir && *dir ? dir : LS_RUN_DIR_DEFAULT);
	ls.strict = env_int("RINGSTACK_STRICT", 0) != 0;
	ls.stats = env_int("RINGSTACK_STATS", 0) != 0;
	ls.spin_ns = env_int("RINGSTACK_SPIN_US", LS_SPIN_US_DEFAULT) * 1000;
	if (ls.spin_ns < 0)
		ls.spin_ns = 0;
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}
