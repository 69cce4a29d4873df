/* libsock/fdops.c — descriptor calls on stack sockets: close, dup, dup2,
 * dup3, fcntl (and fcntl64, its name under _FILE_OFFSET_BITS=64), ioctl.
 *
 * A stack socket's descriptor is a real one (the placeholder eventfd), so
 * the kernel does the descriptor work (numbers, CLOEXEC, O_NONBLOCK on the
 * open file) and libsock keeps its table in step:
 *   close     forget the fd, close it, drop the socket's reference (the last
 *             one closes the socket in netd, asynchronously: fdtab.c)
 *   dup*      the new fd names the same socket, one more reference; a dup2
 *             onto a stack socket drops that one's reference
 *   fcntl     F_SETFL's O_NONBLOCK is mirrored into the socket (shared by
 *             dups, as the kernel's open-file flag is); F_DUPFD and
 *             F_DUPFD_CLOEXEC are dups; the rest act on the placeholder
 *             (F_GETFD/F_SETFD, F_GETFL work unchanged; F_SETOWN/O_ASYNC
 *             have no effect: no SIGIO from the stack)
 *   ioctl     FIONBIO, FIONREAD, SIOCOUTQ, SIOCATMARK here; interface
 *             requests (SIOCGIF*) on a kernel socket; others ENOTTY
 * libsock's own descriptors (the wake eventfd, the sockd connection) are
 * protected: close() on one is refused (counted), and a dup2/dup3 onto one
 * moves ours out of the way first.
 */
#include "libsock/libsock_internal.h"

#include <fcntl.h>
#include <linux/sockios.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* ------------------------------------------------------------ close */

LS_EXPORT int close(int fd)
{
	struct ls_sock *s = NULL;
	enum ls_fd_kind k = ls_fd_peek(fd, &s);
	int r;

	if (ls_likely(k == LS_FD_NONE)) {
		if (ls_unlikely(ls_is_internal_fd(fd))) {
			ls_count(LS_C_CLOSE_INTERNAL);
			return 0;
		}
		ls_epoll_forget(fd);
		return REAL(close)(fd);
	}
	ls_fd_forget(fd);
	r = REAL(close)(fd);
	if (k == LS_FD_SOCK)
		ls_sock_unref(s);
	return r;
}

/* ------------------------------------------------------------ dup */

LS_EXPORT int dup(int fd)
{
	int nfd = REAL(dup)(fd);

	if (nfd >= 0)
		ls_fd_copy(fd, nfd);
	return nfd;
}

/* newfd is about to be replaced by the kernel: take it out of our tables
 * (after the kernel succeeded, so a failed dup2 changes nothing). */
static void forget_replaced(int newfd, enum ls_fd_kind k, struct ls_sock *s)
{
	if (k == LS_FD_NONE) {
		ls_epoll_forget(newfd);
		return;
	}
	ls_fd_forget(newfd);
	if (k == LS_FD_SOCK)
		ls_sock_unref(s);
}

static int dup_onto(int oldfd, int newfd, int flags, bool is_dup3)
{
	struct ls_sock *s = NULL;
	enum ls_fd_kind k;
	int r;

	if (oldfd == newfd)
		return is_dup3 ? REAL(dup3)(oldfd, newfd, flags) : REAL(dup2)(oldfd, newfd);
	if (ls_unlikely(ls_is_internal_fd(newfd)) && ls_move_internal_fd(newfd) < 0) {
		errno = EBUSY;
		return -1;
	}
	k = ls_fd_peek(newfd, &s);          /* the victim: nothing to take over */
	r = is_dup3 ? REAL(dup3)(oldfd, newfd, flags) : REAL(dup2)(oldfd, newfd);
	if (r < 0)
		return r;
	forget_replaced(newfd, k, s);
	ls_fd_copy(oldfd, newfd);
	return r;
}

LS_EXPORT int dup2(int oldfd, int newfd)
{
	return dup_onto(oldfd, newfd, 0, false);
}

LS_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	return dup_onto(oldfd, newfd, flags, true);
}

/* ------------------------------------------------------------ fcntl */

static int fcntl_impl(int fd, int cmd, void *arg)
{
	struct ls_sock *s = NULL;
	enum ls_fd_kind k = ls_fd_lookup(fd, &s);
	int r;

	if (ls_likely(k == LS_FD_NONE))
		return REAL(fcntl)(fd, cmd, arg);
	r = REAL(fcntl)(fd, cmd, arg);
	if (r < 0)
		return r;
	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
		ls_fd_copy(fd, r);
	else if (cmd == F_SETFL && k == LS_FD_SOCK)
		atomic_store(&s->nonblock, ((int)(intptr_t)arg & O_NONBLOCK) != 0);
	return r;
}

/* The third argument is an int or a pointer depending on cmd; as glibc
 * does, take it as a pointer-sized word and pass it on unchanged. */
LS_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_impl(fd, cmd, arg);
}

LS_EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_impl(fd, cmd, arg);
}

/* ------------------------------------------------------------ ioctl */

/* Interface requests (SIOCGIFADDR, SIOCGIFCONF...) ask about the host, not
 * the socket: any AF_INET kernel socket answers them. */
static int ioctl_kernel(unsigned long req, void *arg)
{
	int kfd = REAL(socket)(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int r, err;

	if (kfd < 0)
		return -errno;
	ls_count(LS_C_IOCTL_KERNEL);
	r = REAL(ioctl)(kfd, req, arg);
	err = errno;
	REAL(close)(kfd);
	return r < 0 ? -err : r;
}

static int put_int(void *arg, size_t v)
{
	if (!arg)
		return -EFAULT;
	*(int *)arg = v > INT32_MAX ? INT32_MAX : (int)v;
	return 0;
}

static int stack_ioctl(int fd, struct ls_sock *s, unsigned long req, void *arg)
{
	switch (req) {
	case FIONBIO:
		if (!arg)
			return -EFAULT;
		atomic_store(&s->nonblock, *(int *)arg != 0);
		return REAL(ioctl)(fd, req, arg) < 0 ? -errno : 0;
	case FIONREAD:
		return put_int(arg, s->type == SOCK_DGRAM ? ls_dgram_next_len(s) : ls_rx_pending(s));
	case SIOCOUTQ:
		return put_int(arg, ls_tx_pending(s));
	case SIOCATMARK:
		return put_int(arg, 0);    /* no urgent data */
	case FIOCLEX:
	case FIONCLEX:
		return REAL(ioctl)(fd, req, arg) < 0 ? -errno : 0;
	default:
		if ((req & 0xff00) == 0x8900 && req >= SIOCGIFNAME && req <= SIOCSIFMAP)
			return ioctl_kernel(req, arg);
		return -ENOTTY;
	}
}

LS_EXPORT int ioctl(int fd, unsigned long req, ...)
{
	struct ls_sock *s = NULL;
	enum ls_fd_kind k = ls_fd_lookup(fd, &s);
	int saved = errno;
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (ls_likely(k == LS_FD_NONE))
		return REAL(ioctl)(fd, req, arg);
	return (int)ls_ret(k == LS_FD_STALE ? ls_stale() : stack_ioctl(fd, s, req, arg), saved);
}
