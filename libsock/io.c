/* libsock/io.c — the data calls: send, sendto, sendmsg, write, writev,
 * recv, recvfrom, recvmsg, read, readv, sendfile, and glibc's fortified
 * __read_chk, __recv_chk, __recvfrom_chk (what a program built with
 * _FORTIFY_SOURCE calls instead of read/recv/recvfrom).
 *
 * Every one reduces to an iovec and two cores, send and receive, which pick
 * the stream (stream.c) or datagram (dgram.c) path. A UDP sendto to a
 * destination the stack cannot reach hands the socket to the kernel (while
 * it is still unbound) and sends there, as connect does (sock.c).
 * Ancillary data is not carried: sendmsg's is ignored (counted), recvmsg
 * returns none (msg_controllen = 0).
 */
#include "libsock/libsock_internal.h"

#include <limits.h>
#include <sys/sendfile.h>
#include <unistd.h>

/* ------------------------------------------------------------ send */

/* A UDP send the kernel must make (see the file comment). */
static ssize_t dgram_send_kernel(int fd, struct ls_sock *s, const struct msghdr *m,
				 int flags, enum ls_counter why)
{
	if (ls_fallback(why) || atomic_load(&s->phase) != LS_PH_NEW || ls_handoff(fd, s) < 0)
		return -ENETUNREACH;
	ssize_t r = REAL(sendmsg)(fd, m, flags);

	return r < 0 ? -errno : r;
}

static ssize_t dgram_sendmsg(int fd, struct ls_sock *s, const struct msghdr *m, int flags)
{
	struct ls_addr to = { 0 };
	struct ls_iov c;
	int r;

	if (m->msg_name && m->msg_namelen) {
		r = ls_sockaddr_in(m->msg_name, m->msg_namelen, &to);
		if (r < 0)
			return r;
		if (ls_addr_loopback(to.addr))
			return dgram_send_kernel(fd, s, m, flags, LS_FB_LOOPBACK_DEST);
		if (ls_unreach_known(to.addr))
			return dgram_send_kernel(fd, s, m, flags, LS_FB_UNREACH_DEST);
	}
	ls_iov_init(&c, m->msg_iov, (int)m->msg_iovlen);
	return ls_dgram_send(s, &c, flags, &to);
}

/* The core of every send: fd is known to be ours (a stack socket, or a
 * stale one inherited over fork). */
static ssize_t io_sendmsg(int fd, enum ls_fd_kind k, struct ls_sock *s,
			  const struct msghdr *m, int flags)
{
	struct ls_iov c;

	if (k == LS_FD_STALE)
		return ls_stale();
	if (m->msg_controllen)
		ls_count(LS_C_CMSG_IGNORED);
	if (s->type == SOCK_DGRAM)
		return dgram_sendmsg(fd, s, m, flags);
	ls_iov_init(&c, m->msg_iov, (int)m->msg_iovlen);
	return ls_stream_send(s, &c, flags);   /* a destination is ignored, as TCP does */
}

static ssize_t io_send1(int fd, enum ls_fd_kind k, struct ls_sock *s, const void *buf,
			size_t len, int flags, const struct sockaddr *to, socklen_t tolen)
{
	struct iovec v = { (void *)buf, len };
	struct msghdr m = { .msg_name = (void *)to, .msg_namelen = to ? tolen : 0,
			    .msg_iov = &v, .msg_iovlen = 1 };
	int saved = errno;

	return ls_ret(io_sendmsg(fd, k, s, &m, flags), saved);
}

LS_EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	struct ls_sock *s = NULL;
	enum ls_fd_kind k = ls_fd_lookup(fd, &s);

	if (ls_likely(k == LS_FD_NONE))
		return REAL(send)(fd, buf, len, flags);
	return io_send1(fd, k, s, buf, len, flags, NULL, 0);
}

LS_EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags,
			 const struct sockaddr *to, socklen_t tolen)
{
	struct ls_sock *s = NULL;
	enum ls_fd_kind k = ls_fd_lookup(fd, &s);

	if (ls_likely(k == LS_FD_NONE))
		return REAL(sendto)(fd, buf, len, flags, to, tolen);
	return io_send1(fd, k, s, buf, len, flags, to, tolen);
}

LS_EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	struct ls_sock *s = NULL;
	enum ls_fd_kind k = ls_fd_lookup(fd, &s);

	if (ls_likely(k == LS_FD_NONE))
		return REAL(write)(fd, buf, len);
	return io_send1(fd, k, s, buf, len, 0, NULL, 0);
}

LS_EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
	struct ls_sock *s = NULL;
	enum ls_fd_kind k = ls_fd_lookup(fd, &s);
	int saved = errno;

	if (ls_likely(k == LS_FD_NONE))
		return REAL(sendmsg)(fd, m, flags);
	if (!m)
		return ls_ret(-EFAULT, saved);
	return ls_ret(io_sendmsg(fd, k, s, m, flags), saved);
}

LS_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	struct ls_sock *s = NULL;
	enum ls_fd_kind k = ls_fd_lookup(fd, &s);
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = cnt > 0 ? (size_t)cnt : 0 };
	int saved = errno;

	if (ls_likely(k == LS_FD_NONE))
		return REAL(writev)(fd, iov, cnt);
	if (cnt < 0 || cnt > IOV_MAX)
		return ls_ret(-EINVAL, saved);
	return ls_ret(io_sendmsg(fd, k, s, &m, 0), saved);
}

/* ------------------------------------------------------------ receive */

static ssize_t io_recvmsg(enum ls_fd_kind k, struct ls_sock *s, struct msghdr *m, int flags)
{
	struct ls_addr from = { 0 };
	struct ls_iov c;
	int mflags = 0;
	ssize_t r;

	if (k == LS_FD_STALE)
		return ls_stale();
	ls_iov_init(&c, m->msg_iov, (int)m->msg_iovlen);
	if (s->type == SOCK_DGRAM)
		r = ls_dgram_recv(s, &c, flags, &from, &mflags);
	else
		r = ls_stream_recv(s, &c, flags);
	if (r < 0)
		return r;
	if (m->msg_name && from.set)
		ls_sockaddr_out(m->msg_name, &m->msg_namelen, from.addr, from.port);
	else
		m->msg_namelen = 0;     /* TCP reports no source address */
	m->msg_controllen = 0;
	m->msg_flags = mflags;
	return r;
}

static ssize_t io_recv1(enum ls_fd_kind k, struct ls_sock *s, void *buf, size_t len,
			int flags, struct sockaddr *from, socklen_t *fromlen)
{
	struct iovec v = { buf, len };
	struct msghdr m = { .msg_name = from, .msg_namelen = fromlen ? *fromlen : 0,
			    .msg_iov = &v, .msg_iovlen = 1 };
	int saved = errno;
	ssize_t r = io_recvmsg(k, s, &m, flags);

	if (r >= 0 && fromlen)
		*fromlen = m.msg_namelen;
	return ls_ret(r, saved);
}

LS_EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	struct ls_sock *s = NULL;
	enum ls_fd_kind k = ls_fd_lookup(fd, &s);

	if (ls_likely(k == LS_FD_NONE))
		return REAL(recv)(fd, buf, len, flags);
	return io_recv1(k, s, buf, len, flags, NULL, NULL);
}

LS_EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags,
			   struct sockaddr *from, socklen_t *fromlen)
{
	struct ls_sock *s = NULL;
	enum ls_fd_kind k = ls_fd_lookup(fd, &s);

	if (ls_likely(k == LS_FD_NONE))
		return REAL(recvfrom)(fd, buf, len, flags, from, fromlen);
	return io_recv1(k, s, buf, len, flags, from, fromlen);
}

LS_EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	struct ls_sock *s = NULL;
	enum ls_fd_kind k = ls_fd_lookup(fd, &s);

	if (ls_likely(k == LS_FD_NONE))
		return REAL(read)(fd, buf, len);
	return io_recv1(k, s, buf, len, 0, NULL, NULL);
}

LS_EXPORT ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
	struct ls_sock *s = NULL;
	enum ls_fd_kind k = ls_fd_lookup(fd, &s);
	int saved = errno;

	if (ls_likely(k == LS_FD_NONE))
		return REAL(recvmsg)(fd, m, flags);
	if (!m)
		return ls_ret(-EFAULT, saved);
	return ls_ret(io_recvmsg(k, s, m, flags), saved);
}

LS_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	struct ls_sock *s = NULL;
	enum ls_fd_kind k = ls_fd_lookup(fd, &s);
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = cnt > 0 ? (size_t)cnt : 0 };
	int saved = errno;

	if (ls_likely(k == LS_FD_NONE))
		return REAL(readv)(fd, iov, cnt);
	if (cnt < 0 || cnt > IOV_MAX)
		return ls_ret(-EINVAL, saved);
	return ls_ret(io_recvmsg(k, s, &m, 0), saved);
}

/* ------------------------------------------------------------ fortified entry points */

LS_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	if (n > buflen)
		__chk_fail();
	return read(fd, buf, n);
}

LS_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
	if (n > buflen)
		__chk_fail();
	return recv(fd, buf, n, flags);
}

LS_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
				 struct sockaddr *addr, socklen_t *addrlen)
{
	if (n > buflen)
		__chk_fail();
	return recvfrom(fd, buf, n, flags, addr, addrlen);
}

/* ------------------------------------------------------------ sendfile */

static ssize_t io_sendfile(int out_fd, int in_fd, off_t *off, size_t count)
{
	struct ls_sock *s = NULL;
	enum ls_fd_kind k = ls_fd_lookup(out_fd, &s);
	int saved = errno;

	if (ls_likely(k == LS_FD_NONE))
		return REAL(sendfile)(out_fd, in_fd, off, count);
	if (k == LS_FD_STALE)
		return ls_ret(ls_stale(), saved);
	if (s->type != SOCK_STREAM)
		return ls_ret(-EINVAL, saved);
	return ls_ret(ls_stream_sendfile(s, in_fd, off, count), saved);
}

LS_EXPORT ssize_t sendfile(int out_fd, int in_fd, off_t *off, size_t count)
{
	return io_sendfile(out_fd, in_fd, off, count);
}

/* Programs built with _FILE_OFFSET_BITS=64 (nginx) call this name; on
 * 64-bit Linux off64_t is off_t. */
LS_EXPORT ssize_t sendfile64(int out_fd, int in_fd, off64_t *off, size_t count)
{
	return io_sendfile(out_fd, in_fd, (off_t *)off, count);
}
