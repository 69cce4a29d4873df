/* libsock/sock.c — the socket calls: socket, socketpair, bind, listen,
 * accept, accept4, connect, shutdown, getsockname, getpeername.
 *
 * Which sockets go to the stack: AF_INET SOCK_STREAM (TCP) and SOCK_DGRAM
 * (UDP). Everything else goes to the kernel untouched, counted as a fallback
 * with its reason (fallback.c). A stack socket can still end up in the
 * kernel before it is used: bind to 127.0.0.0/8, or connect/sendto to
 * 127.0.0.0/8, 0.0.0.0, or an address netd answers -ENETUNREACH for (then
 * remembered, so the next connect there does not ask). That handoff happens
 * only while the socket is unbound and unconnected; afterwards the call fails
 * with ENETUNREACH, as it would on a host without that route.
 *
 * Each call that changes netd's view is one command round trip (cmd.c);
 * addresses and phases are cached here so that getsockname/getpeername and
 * the poll rules need no round trip.
 */
#include "libsock/libsock_internal.h"

#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>

/* ------------------------------------------------------------ addresses */

int ls_sockaddr_in(const struct sockaddr *sa, socklen_t len, struct ls_addr *out)
{
	struct sockaddr_in sin;

	if (!sa || len < sizeof(sa_family_t))
		return -EINVAL;
	if (sa->sa_family != AF_INET)
		return -EAFNOSUPPORT;
	if (len < sizeof(sin))
		return -EINVAL;
	memcpy(&sin, sa, sizeof(sin));
	*out = (struct ls_addr){ .addr = ntohl(sin.sin_addr.s_addr),
				 .port = ntohs(sin.sin_port), .set = true };
	return 0;
}

/* Write addr:port as a sockaddr_in, truncated to *len as the kernel does;
 * *len gets the full size. */
void ls_sockaddr_out(struct sockaddr *sa, socklen_t *len, uint32_t addr, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(addr) };

	if (!sa || !len)
		return;
	memcpy(sa, &sin, *len < sizeof(sin) ? *len : sizeof(sin));
	*len = sizeof(sin);
}

bool ls_addr_loopback(uint32_t addr)
{
	return (addr >> 24) == 127 || addr == INADDR_ANY;   /* 0.0.0.0 means this host */
}

static void sock_set_name(struct ls_sock *s, bool peer, uint32_t addr, uint16_t port)
{
	struct sockaddr_in *sin = peer ? &s->peer : &s->local;

	pthread_mutex_lock(&s->lock);
	*sin = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(port),
				     .sin_addr.s_addr = htonl(addr) };
	if (peer)
		s->peer_known = true;
	else
		s->local_known = true;
	pthread_mutex_unlock(&s->lock);
}

/* ------------------------------------------------------------ state from netd */

void ls_sock_sync(struct ls_sock *s)
{
	int phase = LS_PH_CONNECTING;
	uint32_t ev = atomic_load_explicit(&ls_app_sock(s)->events, memory_order_acquire);

	/* A plain load first: on every send and recv of a connected socket
	 * the swap would fail anyway, and a failed lock cmpxchg still takes
	 * the line exclusive (it bounces between a reader and a writer). */
	if ((ev & APP_EV_CONNECTED) &&
	    atomic_load_explicit(&s->phase, memory_order_relaxed) == LS_PH_CONNECTING)
		atomic_compare_exchange_strong(&s->phase, &phase, LS_PH_CONNECTED);
}

int ls_sock_error(struct ls_sock *s)
{
	struct app_sock *as = ls_app_sock(s);
	struct app_cmd c = ls_cmd(APP_OP_GETSOCKOPT, s);
	struct app_cpl cpl = { 0 };

	if (!(atomic_load_explicit(&as->events, memory_order_acquire) & APP_EV_ERR) &&
	    atomic_load_explicit(&as->error, memory_order_relaxed) == 0)
		return 0;
	c.arg0 = SOL_SOCKET;
	c.arg1 = SO_ERROR;
	/* netd reads and clears the pending error (and the ERR bit) itself:
	 * both are its to write. If it cannot answer, report without clearing. */
	if (ls_cmd_call(&c, &cpl) < 0)
		return -atomic_load(&as->error);
	return cpl.val > 0 && cpl.val < 4096 ? (int)cpl.val : 0;
}

/* ------------------------------------------------------------ socket */

/* Does (domain, type, protocol) go to the stack? If not, *why says why. */
static bool stack_kind(int domain, int base, int protocol, enum ls_counter *why)
{
	if (domain != AF_INET) {
		*why = domain == AF_UNIX ? LS_FB_AF_UNIX
		     : domain == AF_INET6 ? LS_FB_AF_INET6 : LS_FB_AF_OTHER;
		return false;
	}
	if ((base == SOCK_STREAM && (protocol == 0 || protocol == IPPROTO_TCP)) ||
	    (base == SOCK_DGRAM && (protocol == 0 || protocol == IPPROTO_UDP)))
		return true;
	*why = LS_FB_INET_TYPE;
	return false;
}

/* A stack socket: an index, netd told (APP_OP_SOCKET), a placeholder fd.
 * Returns the fd, -ENOSR if no index is free (the caller falls back), or
 * -errno. */
static int stack_socket(int base, int protocol, int flags)
{
	struct ls_sock *s = ls_sock_alloc(base, protocol ? protocol
					  : base == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP);
	struct app_cmd c;
	int fd, r;

	if (!s)
		return -ENOSR;
	fd = eventfd(0, (flags & SOCK_CLOEXEC ? EFD_CLOEXEC : 0) |
			(flags & SOCK_NONBLOCK ? EFD_NONBLOCK : 0));
	if (fd < 0) {
		r = -errno;
		ls_sock_discard(s);
		return r;
	}
	atomic_store(&s->nonblock, (flags & SOCK_NONBLOCK) != 0);
	c = ls_cmd(APP_OP_SOCKET, s);
	c.arg0 = base;
	r = ls_cmd_call(&c, NULL);
	if (r == 0)
		r = ls_fd_bind_sock(fd, s);
	if (r < 0) {
		REAL(close)(fd);
		if (r != -ETIMEDOUT)
			ls_sock_discard(s);   /* netd does not have it (a timed-out one leaks) */
		return r;
	}
	return fd;
}

LS_EXPORT int socket(int domain, int type, int protocol)
{
	int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	enum ls_counter why = LS_FB_NO_STACK;
	int saved = errno, r;

	if (stack_kind(domain, base, protocol, &why) && ls_attach()) {
		r = stack_socket(base, protocol, type);
		if (r != -ENOSR)
			return (int)ls_ret(r, saved);
		why = LS_FB_NO_FREE_SOCK;
	}
	if (ls_fallback(why))
		return (int)ls_ret(why == LS_FB_NO_FREE_SOCK ? -ENOBUFS : -EAFNOSUPPORT, saved);
	return REAL(socket)(domain, type, protocol);
}

/* Always the kernel's (no stack socket pairs); counted like any fallback. */
LS_EXPORT int socketpair(int domain, int type, int protocol, int sv[2])
{
	enum ls_counter why = LS_FB_AF_OTHER;

	stack_kind(domain, type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC), protocol, &why);
	if (ls_fallback(why)) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	return REAL(socketpair)(domain, type, protocol, sv);
}

/* ------------------------------------------------------------ bind, listen */

static int sock_bind(struct ls_sock *s, uint32_t addr, uint16_t port, bool user)
{
	struct app_cmd c = ls_cmd(APP_OP_BIND, s);
	struct app_cpl cpl = { 0 };
	int r;

	c.addr = addr;
	c.port = port;
	c.arg0 = (int32_t)s->bind_flags;
	r = ls_cmd_call(&c, &cpl);
	if (r < 0)
		return r;
	sock_set_name(s, false, cpl.addr, cpl.port);
	s->user_bound = user;
	atomic_store(&s->phase, LS_PH_BOUND);
	return 0;
}

int ls_sock_autobind(struct ls_sock *s)
{
	if (atomic_load(&s->phase) != LS_PH_NEW)
		return 0;
	return sock_bind(s, INADDR_ANY, 0, false);
}

static int stack_bind(int fd, struct ls_sock *s, const struct sockaddr *sa, socklen_t len)
{
	struct ls_addr a;
	int r = ls_sockaddr_in(sa, len, &a);

	if (r < 0)
		return r;
	if (atomic_load(&s->phase) != LS_PH_NEW)
		return -EINVAL;
	if (a.addr != INADDR_ANY && ls_addr_loopback(a.addr)) {
		if (ls_fallback(LS_FB_LOOPBACK_BIND) || ls_handoff(fd, s) < 0)
			return -EADDRNOTAVAIL;
		return REAL(bind)(fd, sa, len) < 0 ? -errno : 0;
	}
	return sock_bind(s, a.addr, a.port, true);
}

LS_EXPORT int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	struct ls_sock *s = NULL;
	enum ls_fd_kind k = ls_fd_lookup(fd, &s);
	int saved = errno;

	if (ls_likely(k == LS_FD_NONE))
		return REAL(bind)(fd, sa, len);
	return (int)ls_ret(k == LS_FD_STALE ? ls_stale() : stack_bind(fd, s, sa, len), saved);
}

static int stack_listen(struct ls_sock *s, int backlog)
{
	struct app_cmd c = ls_cmd(APP_OP_LISTEN, s);
	int phase = atomic_load(&s->phase), r;

	if (s->type != SOCK_STREAM)
		return -EOPNOTSUPP;
	if (phase != LS_PH_NEW && phase != LS_PH_BOUND && phase != LS_PH_LISTENING)
		return -EINVAL;
	r = ls_sock_autobind(s);
	c.arg0 = backlog;
	if (r == 0)
		r = ls_cmd_call(&c, NULL);
	if (r == 0)
		atomic_store(&s->phase, LS_PH_LISTENING);
	return r;
}

LS_EXPORT int listen(int fd, int backlog)
{
	struct ls_sock *s = NULL;
	enum ls_fd_kind k = ls_fd_lookup(fd, &s);
	int saved = errno;

	if (ls_likely(k == LS_FD_NONE))
		return REAL(listen)(fd, backlog);
	return (int)ls_ret(k == LS_FD_STALE ? ls_stale() : stack_listen(s, backlog), saved);
}

/* ------------------------------------------------------------ accept */

static bool accept_ready(void *arg)
{
	struct ls_sock *s = arg;

	return atomic_load_explicit(&ls_app_sock(s)->events, memory_order_acquire) &
	       (APP_EV_ACCEPTQ | APP_EV_ERR | APP_EV_HUP);
}

/* One APP_OP_ACCEPT with a fresh index. Returns 0 with *out the new socket,
 * -EAGAIN if the queue is empty, or -errno. */
static int accept_once(struct ls_sock *l, struct ls_sock **out)
{
	struct app_cmd c = ls_cmd(APP_OP_ACCEPT, l);
	struct app_cpl cpl = { 0 };
	struct ls_sock *ns;
	int r;

	/* An empty queue costs no round trip: netd sets ACCEPTQ (and rings)
	 * when a connection arrives, so EAGAIN here is never a lost one. */
	if (!accept_ready(l))
		return -EAGAIN;
	ns = ls_sock_alloc(SOCK_STREAM, IPPROTO_TCP);
	if (!ns)
		return -ENFILE;
	c.arg0 = (int32_t)ns->idx;
	r = ls_cmd_call(&c, &cpl);
	if (r < 0) {
		if (r != -ETIMEDOUT)
			ls_sock_discard(ns);
		return r;
	}
	sock_set_name(ns, true, cpl.addr, cpl.port);
	ns->bind_flags = l->bind_flags;
	atomic_store(&ns->phase, LS_PH_CONNECTED);
	*out = ns;
	return 0;
}

static int accept_wait(struct ls_sock *s, struct ls_sock **ns)
{
	bool nb = atomic_load(&s->nonblock);
	int64_t deadline = ls_deadline(s->rcvtimeo_ns);
	int r;

	if (atomic_load(&s->phase) != LS_PH_LISTENING)
		return -EINVAL;
	while ((r = accept_once(s, ns)) == -EAGAIN && !nb) {
		r = ls_block(accept_ready, s, deadline, ls_intr_for(s->rcvtimeo_ns, 0));
		if (r < 0)
			return r == -ETIMEDOUT ? -EAGAIN : r;
	}
	return r;
}

static int stack_accept(struct ls_sock *s, struct sockaddr *sa, socklen_t *len, int flags)
{
	struct ls_sock *ns = NULL;
	int fd, r = accept_wait(s, &ns);

	if (r < 0)
		return r;
	fd = eventfd(0, (flags & SOCK_CLOEXEC ? EFD_CLOEXEC : 0) |
			(flags & SOCK_NONBLOCK ? EFD_NONBLOCK : 0));
	if (fd < 0 || ls_fd_bind_sock(fd, ns) < 0) {
		r = fd < 0 ? -errno : -ENOMEM;
		if (fd >= 0)
			REAL(close)(fd);
		ls_sock_ref(ns);
		ls_sock_unref(ns);    /* closes it in netd */
		return r;
	}
	atomic_store(&ns->nonblock, (flags & SOCK_NONBLOCK) != 0);
	ls_sockaddr_out(sa, len, ntohl(ns->peer.sin_addr.s_addr), ntohs(ns->peer.sin_port));
	return fd;
}

LS_EXPORT int accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
	struct ls_sock *s = NULL;
	enum ls_fd_kind k = ls_fd_lookup(fd, &s);
	int saved = errno;

	if (ls_likely(k == LS_FD_NONE))
		return REAL(accept4)(fd, sa, len, flags);
	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return (int)ls_ret(-EINVAL, saved);
	return (int)ls_ret(k == LS_FD_STALE ? ls_stale() : stack_accept(s, sa, len, flags), saved);
}

LS_EXPORT int accept(int fd, struct sockaddr *sa, socklen_t *len)
{
	struct ls_sock *s = NULL;
	enum ls_fd_kind k = ls_fd_lookup(fd, &s);
	int saved = errno;

	if (ls_likely(k == LS_FD_NONE))
		return REAL(accept)(fd, sa, len);
	return (int)ls_ret(k == LS_FD_STALE ? ls_stale() : stack_accept(s, sa, len, 0), saved);
}

/* ------------------------------------------------------------ connect */

static bool connect_settled(void *arg)
{
	struct ls_sock *s = arg;

	return atomic_load_explicit(&ls_app_sock(s)->events, memory_order_acquire) &
	       (APP_EV_CONNECTED | APP_EV_ERR | APP_EV_HUP);
}

/* The outcome of a connect netd has settled: 0 or the error (SO_ERROR). */
static int connect_result(struct ls_sock *s)
{
	uint32_t ev = atomic_load_explicit(&ls_app_sock(s)->events, memory_order_acquire);
	int e;

	if (ev & APP_EV_CONNECTED && !(ev & APP_EV_ERR)) {
		atomic_store(&s->phase, LS_PH_CONNECTED);
		return 0;
	}
	e = ls_sock_error(s);
	atomic_store(&s->phase, LS_PH_FAILED);
	return -(e ? e : ECONNREFUSED);
}

/* A blocking connect waits under SO_SNDTIMEO; on expiry it returns
 * EINPROGRESS, as Linux does, and the connect goes on. */
static int connect_wait(struct ls_sock *s)
{
	int r = ls_block(connect_settled, s, ls_deadline(s->sndtimeo_ns),
			 ls_intr_for(s->sndtimeo_ns, 0));

	if (r < 0)
		return r == -ETIMEDOUT ? -EINPROGRESS : r;
	return connect_result(s);
}

/* Give a connect the stack cannot carry to the kernel, if it still may be. */
static int connect_fallback(int fd, struct ls_sock *s, const struct sockaddr *sa,
			    socklen_t len, enum ls_counter why)
{
	if (ls_fallback(why) || atomic_load(&s->phase) != LS_PH_NEW || ls_handoff(fd, s) < 0)
		return -ENETUNREACH;
	return REAL(connect)(fd, sa, len) < 0 ? -errno : 0;
}

static int connect_post(int fd, struct ls_sock *s, const struct sockaddr *sa,
			socklen_t len, const struct ls_addr *a)
{
	struct app_cmd c = ls_cmd(APP_OP_CONNECT, s);
	int r;

	c.addr = a->addr;
	c.port = a->port;
	r = ls_cmd_call(&c, NULL);
	if (r == -ENETUNREACH) {
		ls_unreach_learn(a->addr);
		return connect_fallback(fd, s, sa, len, LS_FB_UNREACH_DEST);
	}
	if (r == 0 || r == -EINPROGRESS) {
		sock_set_name(s, true, a->addr, a->port);
		s->local_known = false;     /* netd chose the local address: ask once */
		atomic_store(&s->phase, r == 0 ? LS_PH_CONNECTED : LS_PH_CONNECTING);
	}
	if (r == -EINPROGRESS && !atomic_load(&s->nonblock))
		return connect_wait(s);
	return r;
}

/* connect() again on a stream socket already connecting or connected. */
static int connect_again(struct ls_sock *s, int phase)
{
	if (phase == LS_PH_CONNECTED)
		return -EISCONN;
	if (connect_settled(s))
		return connect_result(s);
	return atomic_load(&s->nonblock) ? -EALREADY : connect_wait(s);
}

/* connect(AF_UNSPEC) on UDP dissolves the association: CONNECT 0.0.0.0:0. */
static int connect_dissolve(struct ls_sock *s)
{
	struct app_cmd c = ls_cmd(APP_OP_CONNECT, s);
	int r = ls_cmd_call(&c, NULL);

	if (r == 0 && atomic_load(&s->phase) == LS_PH_CONNECTED) {
		s->peer_known = false;
		atomic_store(&s->phase, LS_PH_BOUND);
	}
	return r;
}

static int stack_connect(int fd, struct ls_sock *s, const struct sockaddr *sa, socklen_t len)
{
	struct ls_addr a = { 0 };
	int phase, r = ls_sockaddr_in(sa, len, &a);

	if (r == -EAFNOSUPPORT && s->type == SOCK_DGRAM && sa->sa_family == AF_UNSPEC)
		return connect_dissolve(s);
	if (r < 0)
		return r;
	/* No ls_sock_sync() first: a connect() after a nonblocking one has
	 * completed returns 0 once (then EISCONN), as Linux's does. */
	phase = atomic_load(&s->phase);
	if (s->type == SOCK_STREAM && (phase == LS_PH_CONNECTING || phase == LS_PH_CONNECTED))
		return connect_again(s, phase);
	if (phase == LS_PH_LISTENING)
		return -EINVAL;
	if (a.set && ls_addr_loopback(a.addr))
		return connect_fallback(fd, s, sa, len, LS_FB_LOOPBACK_DEST);
	if (a.set && ls_unreach_known(a.addr))
		return connect_fallback(fd, s, sa, len, LS_FB_UNREACH_DEST);
	return connect_post(fd, s, sa, len, &a);
}

LS_EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	struct ls_sock *s = NULL;
	enum ls_fd_kind k = ls_fd_lookup(fd, &s);
	int saved = errno;

	if (ls_likely(k == LS_FD_NONE))
		return REAL(connect)(fd, sa, len);
	return (int)ls_ret(k == LS_FD_STALE ? ls_stale() : stack_connect(fd, s, sa, len), saved);
}

/* ------------------------------------------------------------ shutdown, names */

static int stack_shutdown(struct ls_sock *s, int how)
{
	struct app_cmd c = ls_cmd(APP_OP_SHUTDOWN, s);
	int r;

	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return -EINVAL;
	ls_sock_sync(s);
	if (s->type == SOCK_STREAM && atomic_load(&s->phase) != LS_PH_CONNECTED &&
	    atomic_load(&s->phase) != LS_PH_LISTENING)
		return -ENOTCONN;
	c.arg0 = how;
	r = ls_cmd_call(&c, NULL);
	if (r == 0)
		atomic_fetch_or(&s->shut, how == SHUT_RD ? LS_SHUT_RD
				: how == SHUT_WR ? LS_SHUT_WR : LS_SHUT_RD | LS_SHUT_WR);
	return r;
}

LS_EXPORT int shutdown(int fd, int how)
{
	struct ls_sock *s = NULL;
	enum ls_fd_kind k = ls_fd_lookup(fd, &s);
	int saved = errno;

	if (ls_likely(k == LS_FD_NONE))
		return REAL(shutdown)(fd, how);
	return (int)ls_ret(k == LS_FD_STALE ? ls_stale() : stack_shutdown(s, how), saved);
}

/* The local name: cached, or asked once when netd chose it (a connect, or
 * an accept on a wildcard listener). An unbound socket is 0.0.0.0:0. */
static int stack_getsockname(struct ls_sock *s, struct sockaddr *sa, socklen_t *len)
{
	struct app_cmd c = ls_cmd(APP_OP_GETNAME, s);
	struct app_cpl cpl = { 0 };
	int phase = atomic_load(&s->phase);

	if (!sa || !len)
		return -EFAULT;
	if (!s->local_known && phase != LS_PH_NEW) {
		c.arg0 = 0;
		if (ls_cmd_call(&c, &cpl) == 0)
			sock_set_name(s, false, cpl.addr, cpl.port);
	}
	ls_sockaddr_out(sa, len, ntohl(s->local.sin_addr.s_addr), ntohs(s->local.sin_port));
	return 0;
}

LS_EXPORT int getsockname(int fd, struct sockaddr *sa, socklen_t *len)
{
	struct ls_sock *s = NULL;
	enum ls_fd_kind k = ls_fd_lookup(fd, &s);
	int saved = errno;

	if (ls_likely(k == LS_FD_NONE))
		return REAL(getsockname)(fd, sa, len);
	return (int)ls_ret(k == LS_FD_STALE ? ls_stale() : stack_getsockname(s, sa, len), saved);
}

static int stack_getpeername(struct ls_sock *s, struct sockaddr *sa, socklen_t *len)
{
	if (!sa || !len)
		return -EFAULT;
	ls_sock_sync(s);
	if (atomic_load(&s->phase) != LS_PH_CONNECTED || !s->peer_known)
		return -ENOTCONN;
	ls_sockaddr_out(sa, len, ntohl(s->peer.sin_addr.s_addr), ntohs(s->peer.sin_port));
	return 0;
}

LS_EXPORT int getpeername(int fd, struct sockaddr *sa, socklen_t *len)
{
	struct ls_sock *s = NULL;
	enum ls_fd_kind k = ls_fd_lookup(fd, &s);
	int saved = errno;

	if (ls_likely(k == LS_FD_NONE))
		return REAL(getpeername)(fd, sa, len);
	return (int)ls_ret(k == LS_FD_STALE ? ls_stale() : stack_getpeername(s, sa, len), saved);
}
