/* sockd/conn.c — RUN_DIR/sockd.sock: accepting peers and reading hellos.
 *
 * Where it sits: the front door of the stack. Any process may connect (the
 * socket is mode 0666: unprivileged apps must reach it), so everything read
 * here is hostile until proven otherwise: a hello must be exactly one
 * struct app_hello record; a peer that sends less, more, garbage or nothing
 * within SOCKD_HELLO_MS is counted and dropped, and descriptors it tries to
 * pass are closed unread. Nothing a peer sends can block sockd: every socket
 * is non-blocking and read only when epoll says it is readable.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sockd/sockd.h"

#define RECV_FDS_MAX        16      /* fds one message may carry (unasked-for ones closed) */
#define ACCEPT_PAUSE_NS     (100 * 1000000ull)  /* out of fds: retry after this */

int sockd_listen_open(struct sockd *sd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err;

	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", sd->cfg.run_dir,
			     APP_SOCK_FILE) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(sa.sun_path);     /* a dead sockd's socket: the run-dir lock says it is dead */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(sa.sun_path, 0666) < 0 || listen(fd, SOMAXCONN) < 0)
		goto fail;
	if ((err = sockd_epoll_add(sd, fd, EPOLLIN, sockd_tag(SOCKD_TAG_LISTEN, 0, 0))) < 0) {
		errno = -err;
		goto fail;
	}
	sd->listen_fd = fd;
	memcpy(sd->sock_path, sa.sun_path, sizeof(sd->sock_path));
	return 0;

fail:
	err = -errno;
	close(fd);
	unlink(sa.sun_path);
	return err;
}

void sockd_listen_close(struct sockd *sd)
{
	if (sd->listen_fd < 0)
		return;
	close(sd->listen_fd);
	unlink(sd->sock_path);
	sd->listen_fd = -1;
}

/* Out of descriptors: accept would fail at once and the listening socket
 * would stay readable, a busy loop. Stop watching it for a while instead. */
static void accept_pause(struct sockd *sd, int err)
{
	sockd_log(SOCKD_WARN, "accept: %s; pausing accepts for 100 ms", strerror(err));
	sockd_epoll_mod(sd, sd->listen_fd, 0, sockd_tag(SOCKD_TAG_LISTEN, 0, 0));
	sd->accept_resume_ns = sockd_now_ns() + ACCEPT_PAUSE_NS;
}

uint64_t sockd_listen_timers(struct sockd *sd, uint64_t now)
{
	if (!sd->accept_resume_ns)
		return UINT64_MAX;
	if (now < sd->accept_resume_ns)
		return sd->accept_resume_ns;
	sd->accept_resume_ns = 0;
	sockd_epoll_mod(sd, sd->listen_fd, EPOLLIN, sockd_tag(SOCKD_TAG_LISTEN, 0, 0));
	return UINT64_MAX;
}

/* Hellos owed by uid. A peer that connects and says nothing holds a slot
 * until SOCKD_HELLO_MS; one uid may hold only SOCKD_HELLO_PER_UID of them,
 * so a flood from one user cannot keep every other user out. */
static unsigned hellos_of(const struct sockd *sd, uint32_t uid)
{
	unsigned n = 0;

	for (unsigned i = 0; i < sd->nslots; i++)
		n += sd->apps[i].state == SOCKD_SLOT_HELLO && sd->apps[i].uid == uid;
	return n;
}

/* Give an accepted socket a slot and a hello deadline. 0, or -ENOSPC (no
 * slot), -EUSERS (its uid owes too many hellos), -errno. */
static int conn_start(struct sockd *sd, int fd)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	struct sockd_app *a;
	int i;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return -errno;
	if (hellos_of(sd, uc.uid) >= SOCKD_HELLO_PER_UID)
		return -EUSERS;
	if ((i = sockd_slot_claim(sd)) < 0)
		return -ENOSPC;
	a = &sd->apps[i];
	a->fd = fd;
	a->uid = uc.uid;     /* for hellos_of(); admission reads the creds again */
	a->deadline_ns = sockd_now_ns() + (uint64_t)SOCKD_HELLO_MS * 1000000u;
	if (sockd_epoll_add(sd, fd, EPOLLIN | EPOLLRDHUP, sockd_tag(SOCKD_TAG_CONN, i, a->gen)) < 0) {
		a->fd = -1;
		sockd_slot_release(sd, i);
		return -ENOMEM;
	}
	return 0;
}

void sockd_accept(struct sockd *sd)
{
	int err;

	for (unsigned n = 0; n < SOCKD_ACCEPT_BATCH; n++) {
		int fd = accept4(sd->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				accept_pause(sd, errno);
			return;     /* EAGAIN: drained; ECONNABORTED and the like: next time */
		}
		COUNTER_INC(sd->ctr, SOCKD_CONNS);
		err = conn_start(sd, fd);
		if (err == 0)
			continue;
		close(fd);
		if (err == -EUSERS)
			sockd_bad(sd, SOCKD_CONNS_UID_LIMIT, "a uid owes %u hellos: closing its "
				  "next connection", SOCKD_HELLO_PER_UID);
		else
			sockd_bad(sd, SOCKD_CONNS_REFUSED, "no free slot (%s): closing a connection",
				  strerror(-err));
	}
}

/* Keep up to max of the descriptors an SCM_RIGHTS message brought us (in
 * fds, counted in *kept) and close the rest: sockd takes a peer's fds only
 * where it asked for them, and keeping others would let a peer fill our
 * table. */
static void take_fds(struct sockd *sd, struct msghdr *m, int *fds, unsigned max, unsigned *kept)
{
	*kept = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		size_t nfds;
		int got[RECV_FDS_MAX];

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		nfds = nfds > RECV_FDS_MAX ? RECV_FDS_MAX : nfds;
		memcpy(got, CMSG_DATA(c), nfds * sizeof(int));
		for (size_t k = 0; k < nfds; k++) {
			if (*kept < max) {
				fds[(*kept)++] = got[k];
				continue;
			}
			close(got[k]);
			COUNTER_INC(sd->ctr, SOCKD_FDS_DISCARDED);
		}
	}
}

int sockd_recv_fds(struct sockd *sd, int fd, void *buf, size_t len, int *fds, unsigned max,
		   unsigned *nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * RECV_FDS_MAX)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { buf, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.b, .msg_controllen = sizeof(u.b) };
	ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	*nfds = 0;
	if (n < 0)
		return -errno;
	take_fds(sd, &m, fds, max, nfds);
	if (m.msg_flags & MSG_TRUNC) {
		for (unsigned k = 0; k < *nfds; k++)
			close(fds[k]);
		*nfds = 0;
		return -EMSGSIZE;
	}
	return (int)n;
}

int sockd_recv(struct sockd *sd, int fd, void *buf, size_t len)
{
	unsigned none;

	return sockd_recv_fds(sd, fd, buf, len, NULL, 0, &none);
}

int sockd_send(int fd, const void *msg, size_t len, const int *fds, unsigned nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * APP_WELCOME_NFDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { (void *)msg, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (nfds > APP_WELCOME_NFDS)
		return -EINVAL;
	if (nfds) {
		m.msg_control = u.b;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	if (sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len)
		return 0;
	return errno ? -errno : -EIO;
}

/* The hello's comm, made printable: it goes into our log lines. */
static void copy_name(char *dst, const char *src, size_t n)
{
	size_t k;

	for (k = 0; k + 1 < n && src[k]; k++)
		dst[k] = (src[k] >= 0x20 && src[k] < 0x7f) ? src[k] : '?';
	dst[k] = '\0';
}

/* Slot i owes a hello: read it, check it, hand it to the app or netd side. */
static void conn_hello(struct sockd *sd, unsigned i)
{
	struct sockd_app *a = &sd->apps[i];
	struct app_hello h;
	int n = sockd_recv(sd, a->fd, &h, sizeof(h));

	if (n == -EAGAIN || n == -EINTR)
		return;
	if (n == 0 || (n < 0 && n != -EMSGSIZE)) {
		sockd_bad(sd, SOCKD_HELLO_EOF, "a peer closed before its hello");
		sockd_slot_release(sd, i);
		return;
	}
	if (n != (int)sizeof(h) || h.magic != APP_HELLO_MAGIC || h.version != APP_HELLO_VERSION ||
	    (h.role != APP_ROLE_APP && h.role != APP_ROLE_NETD)) {
		sockd_bad(sd, SOCKD_BAD_HELLO, "bad hello (%d bytes): refused -EPROTO", n);
		sockd_refuse(sd, i, -EPROTO);
		return;
	}
	copy_name(a->name, h.name, sizeof(a->name));
	if (h.layout_version != APP_LAYOUT_VERSION) {
		sockd_bad(sd, SOCKD_REFUSED_LAYOUT, "%s: layout version %u, ours %u: refused -EPROTO",
			  a->name, h.layout_version, APP_LAYOUT_VERSION);
		sockd_refuse(sd, i, -EPROTO);
		return;
	}
	if (h.role == APP_ROLE_NETD)
		sockd_netd_hello(sd, i);
	else
		sockd_app_hello(sd, i, &h);
}

void sockd_conn_ready(struct sockd *sd, unsigned i, uint32_t events)
{
	struct sockd_app *a = &sd->apps[i];
	char junk[64];
	int n;

	if (a->state == SOCKD_SLOT_HELLO) {
		conn_hello(sd, i);
		return;
	}
	/* An admitted app sends nothing after its hello: readable means EOF
	 * (it closed, or died) or a message it had no business sending. */
	n = sockd_recv(sd, a->fd, junk, sizeof(junk));
	if ((n == -EAGAIN || n == -EINTR) && !(events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)))
		return;
	sockd_app_gone(sd, i, n > 0 || n == -EMSGSIZE ? SOCKD_APP_BAD_MSG : SOCKD_APP_CLOSED);
}
