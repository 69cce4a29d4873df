/* tests/tools/sock_client.c — an ordinary POSIX sockets program, used the
 * way curl and nginx use the API, for running under libsock (LD_PRELOAD)
 * against tests/tools/fake_netd_cmds (tests/integration/test_libsock_fake.sh).
 *
 * It knows nothing of ringstack: it only calls socket(), connect(), poll(),
 * epoll_wait()... and checks the answers Linux would give. The fake's
 * network (see fake_netd_cmds.c): host 10.0.0.2; connects elsewhere reach an
 * echo server, port 9 is refused, port 1 never answers, 10.99.0.0/16 is
 * unreachable; UDP to a port an app socket is bound to reaches it, anything
 * else is echoed.
 *
 *   sock_client SCENARIO      one of: roundtrip nbconnect epoll rcvtimeo eintr
 *                             fallback strict nostack fdreuse udp listen
 *                             sockopt tcpinfo sarestart sendfile threads fork
 * Prints "ok SCENARIO: step" per check and exits 0, or "FAIL SCENARIO: ..."
 * and exits 1. Every wait has a timeout; an alarm ends a stuck run.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ECHO_ADDR  "10.0.0.7"
#define HOST_ADDR  "10.0.0.2"

static const char *tool_who = "?";   /* the scenario, for CHECK and ok */
#include "tests/support/tool_check.h"


static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct sockaddr_in sin_of(const char *ip, uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

static int tcp_connect(const char *ip, uint16_t port)
{
	struct sockaddr_in a = sin_of(ip, port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0, "socket");
	CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "connect %s:%u", ip, port);
	return fd;
}

/* Is fd a kernel socket (not a libsock placeholder)? */
static bool is_kernel_socket(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

static void fill(uint8_t *p, size_t n, size_t start)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((start + i) % 251);
}

static void recv_all(int fd, void *buf, size_t n)
{
	size_t got = 0;

	for (int waits = 0; got < n;) {
		ssize_t r = recv(fd, (char *)buf + got, n - got, 0);

		/* A nonblocking socket may have nothing yet (the peer is slower
		 * under ASan): wait for POLLIN, bounded, as a real program does. */
		if (r < 0 && errno == EAGAIN && waits++ < 50) {
			struct pollfd p = { .fd = fd, .events = POLLIN };

			(void)poll(&p, 1, 100);
			continue;
		}
		CHECK(r > 0, "recv_all got %zu of %zu (r=%zd)", got, n, r);
		got += (size_t)r;
	}
}

static void echo_check(int fd, size_t n, size_t seed)
{
	uint8_t out[4096], in[4096];

	CHECK(n <= sizeof(out), "echo size");
	fill(out, n, seed);
	CHECK(send(fd, out, n, 0) == (ssize_t)n, "send %zu", n);
	recv_all(fd, in, n);
	CHECK(memcmp(out, in, n) == 0, "echo data differs");
}

/* ------------------------------------------------------------ roundtrip */

struct bulk { int fd; size_t n; };

static void *bulk_writer(void *arg)
{
	struct bulk *b = arg;
	uint8_t chunk[7000];

	for (size_t off = 0; off < b->n;) {
		size_t k = b->n - off < sizeof(chunk) ? b->n - off : sizeof(chunk);
		ssize_t r;

		fill(chunk, k, off);
		r = send(b->fd, chunk, k, 0);
		if (r <= 0)
			return (void *)1;
		off += (size_t)r;
	}
	return NULL;
}

static void bulk_check(int fd, size_t n)
{
	struct bulk b = { fd, n };
	uint8_t buf[5000], want[5000];
	pthread_t t;
	void *res;

	CHECK(pthread_create(&t, NULL, bulk_writer, &b) == 0, "thread");
	for (size_t off = 0; off < n;) {
		ssize_t r = read(fd, buf, sizeof(buf));

		CHECK(r > 0, "bulk read at %zu", off);
		fill(want, (size_t)r, off);
		CHECK(memcmp(buf, want, (size_t)r) == 0, "bulk data differs at %zu", off);
		off += (size_t)r;
	}
	pthread_join(t, &res);
	CHECK(res == NULL, "bulk writer failed");
}

static void vector_check(int fd)
{
	char a[] = "one,", b[] = "two,", c[] = "three";
	struct iovec out[3] = { { a, 4 }, { b, 4 }, { c, 5 } };
	char x[6] = { 0 }, y[8] = { 0 };
	struct iovec in[2] = { { x, 5 }, { y, 8 } };
	struct msghdr m = { .msg_iov = out, .msg_iovlen = 3 };

	CHECK(writev(fd, out, 3) == 13, "writev");
	usleep(30000);
	CHECK(readv(fd, in, 2) == 13, "readv");
	CHECK(!memcmp(x, "one,t", 5) && !memcmp(y, "wo,three", 8), "readv data");
	CHECK(sendmsg(fd, &m, MSG_NOSIGNAL) == 13, "sendmsg");
	m.msg_iov = in;
	m.msg_iovlen = 2;
	CHECK(recvmsg(fd, &m, MSG_WAITALL) == 13, "recvmsg waitall");
	CHECK(m.msg_flags == 0 && m.msg_namelen == 0, "recvmsg flags");
}

static void scen_roundtrip(void)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int64_t t0;
	char c;
	int fd = tcp_connect(ECHO_ADDR, 7);

	ok("connect");
	t0 = now_ms();
	for (int i = 0; i < 200; i++)
		echo_check(fd, 1000, (size_t)i);
	/* A lost wake-up costs a 1 s slice: 200 exchanges must be far faster. */
	CHECK(now_ms() - t0 < 900, "200 round trips took %lld ms", (long long)(now_ms() - t0));
	ok("200 round trips");
	vector_check(fd);
	ok("writev/readv/sendmsg/recvmsg");
	bulk_check(fd, 4u << 20);
	ok("4 MiB through a 64 KiB ring, blocking both ways");
	CHECK(getpeername(fd, (struct sockaddr *)&a, &al) == 0 && a.sin_port == htons(7) &&
	      a.sin_addr.s_addr == inet_addr(ECHO_ADDR), "getpeername");
	al = sizeof(a);
	CHECK(getsockname(fd, (struct sockaddr *)&a, &al) == 0 && a.sin_port != 0 &&
	      a.sin_addr.s_addr == inet_addr(HOST_ADDR), "getsockname");
	ok("names");
	CHECK(send(fd, "pq", 2, 0) == 2, "send");
	usleep(30000);
	CHECK(recv(fd, &c, 1, MSG_PEEK) == 1 && c == 'p', "peek");
	CHECK(recv(fd, &c, 1, 0) == 1 && c == 'p' && recv(fd, &c, 1, 0) == 1 && c == 'q', "after peek");
	CHECK(shutdown(fd, SHUT_WR) == 0, "shutdown");
	CHECK(recv(fd, &c, 1, 0) == 0, "EOF after our FIN is echoed");
	CHECK(send(fd, "x", 1, MSG_NOSIGNAL) == -1 && errno == EPIPE, "send after SHUT_WR: EPIPE");
	ok("peek, shutdown, EOF, EPIPE");
	CHECK(close(fd) == 0, "close");
}

/* ------------------------------------------------------------ nbconnect */

static int nb_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	CHECK(fd >= 0, "socket");
	return fd;
}

static int so_error(int fd)
{
	int e = -1;
	socklen_t l = sizeof(e);

	CHECK(getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) == 0 && l == sizeof(e), "SO_ERROR");
	return e;
}

static void nb_refused(void)
{
	struct sockaddr_in a = sin_of(ECHO_ADDR, 9);
	struct pollfd p;
	int fd = nb_socket();

	CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == -1 && errno == EINPROGRESS, "connect");
	p = (struct pollfd){ .fd = fd, .events = POLLOUT };
	CHECK(poll(&p, 1, 2000) == 1 && (p.revents & POLLERR), "poll: POLLERR (revents %x)", p.revents);
	CHECK(so_error(fd) == ECONNREFUSED, "SO_ERROR ECONNREFUSED");
	CHECK(so_error(fd) == 0, "SO_ERROR cleared");
	close(fd);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == -1 && errno == ECONNREFUSED,
	      "blocking connect refused");
	close(fd);
	ok("refused: POLLERR + SO_ERROR, blocking ECONNREFUSED");
}

static void nb_select(void)
{
	struct sockaddr_in a = sin_of(ECHO_ADDR, 80);
	struct timeval tv = { .tv_sec = 2 };
	fd_set w;
	int fd = nb_socket();

	CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == -1 && errno == EINPROGRESS, "connect");
	FD_ZERO(&w);
	FD_SET(fd, &w);
	CHECK(select(fd + 1, NULL, &w, NULL, &tv) == 1 && FD_ISSET(fd, &w), "select writable");
	CHECK(so_error(fd) == 0, "SO_ERROR 0");
	close(fd);
	ok("select for a nonblocking connect");
}

static void nb_timeout(void)
{
	struct sockaddr_in a = sin_of(ECHO_ADDR, 1);
	struct timeval tv = { .tv_usec = 100000 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int64_t t0 = now_ms();

	CHECK(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0, "SO_SNDTIMEO");
	CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == -1 && errno == EINPROGRESS,
	      "connect under SO_SNDTIMEO: EINPROGRESS");
	CHECK(now_ms() - t0 >= 90 && now_ms() - t0 < 900, "timed out after %lld ms",
	      (long long)(now_ms() - t0));
	close(fd);
	ok("blocking connect with SO_SNDTIMEO times out with EINPROGRESS");
}

static void scen_nbconnect(void)
{
	struct sockaddr_in a = sin_of(ECHO_ADDR, 7);
	struct pollfd p;
	int fd = nb_socket();

	CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == -1 && errno == EINPROGRESS, "EINPROGRESS");
	CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == -1 && errno == EALREADY, "EALREADY");
	p = (struct pollfd){ .fd = fd, .events = POLLOUT };
	CHECK(poll(&p, 1, 0) == 0, "not writable yet");
	CHECK(send(fd, "x", 1, 0) == -1 && errno == EAGAIN, "send while connecting: EAGAIN");
	CHECK(poll(&p, 1, 2000) == 1 && p.revents == POLLOUT, "POLLOUT (revents %x)", p.revents);
	CHECK(so_error(fd) == 0, "SO_ERROR 0");
	CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "connect again: 0");
	CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == -1 && errno == EISCONN, "EISCONN");
	ok("EINPROGRESS, poll POLLOUT, SO_ERROR 0");
	echo_check(fd, 100, 1);
	ok("data after a nonblocking connect");
	close(fd);
	nb_refused();
	nb_select();
	nb_timeout();
}

/* ------------------------------------------------------------ epoll */

static int ep_wait(int ep, struct epoll_event *ev, int max, int ms)
{
	int n = epoll_wait(ep, ev, max, ms);

	CHECK(n >= 0, "epoll_wait");
	return n;
}

static void *send_later(void *arg)
{
	usleep(100000);
	send(*(int *)arg, "late", 4, 0);
	return NULL;
}

static void ep_levels(int ep, int fd)
{
	struct epoll_event ev[4], e = { .events = EPOLLIN, .data.u64 = 0x5eed };
	char buf[64];

	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) == 0, "ADD");
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) == -1 && errno == EEXIST, "ADD twice: EEXIST");
	CHECK(ep_wait(ep, ev, 4, 50) == 0, "nothing yet");
	CHECK(send(fd, "0123456789", 10, 0) == 10, "send");
	CHECK(ep_wait(ep, ev, 4, 2000) == 1 && ev[0].events == EPOLLIN && ev[0].data.u64 == 0x5eed,
	      "LT: EPOLLIN with our data");
	CHECK(ep_wait(ep, ev, 4, 0) == 1, "LT: again without reading");
	e.events = EPOLLIN | EPOLLET;
	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e) == 0, "MOD to ET");
	CHECK(ep_wait(ep, ev, 4, 100) == 1, "ET: reported once after MOD");
	CHECK(ep_wait(ep, ev, 4, 100) == 0, "ET: not again without new data");
	CHECK(send(fd, "ab", 2, 0) == 2, "send more");
	CHECK(ep_wait(ep, ev, 4, 2000) == 1, "ET: new data reports again");
	CHECK(recv(fd, buf, sizeof(buf), 0) == 12, "read all");
	ok("level- and edge-triggered EPOLLIN");
}

static void ep_oneshot_out(int ep, int fd)
{
	struct epoll_event ev[4], e = { .events = EPOLLOUT | EPOLLONESHOT };

	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e) == 0, "MOD oneshot");
	CHECK(ep_wait(ep, ev, 4, 100) == 1 && ev[0].events == EPOLLOUT, "EPOLLOUT once");
	CHECK(ep_wait(ep, ev, 4, 50) == 0, "oneshot: disarmed");
	e.events = EPOLLOUT | EPOLLET;
	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e) == 0, "MOD ET out");
	CHECK(ep_wait(ep, ev, 4, 100) == 1, "ET EPOLLOUT once");
	CHECK(ep_wait(ep, ev, 4, 50) == 0, "ET EPOLLOUT not again");
	ok("EPOLLONESHOT and ET EPOLLOUT");
}

static void ep_mixed(int ep, int fd)
{
	struct epoll_event ev[4], e = { .events = EPOLLIN, .data.u64 = 0x919e };
	int p[2];
	pthread_t t;
	int64_t t0;
	char buf[8];

	CHECK(pipe(p) == 0, "pipe");
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e) == 0, "ADD pipe");
	e = (struct epoll_event){ .events = EPOLLIN, .data.u64 = 0x5eed };
	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e) == 0, "MOD in");
	CHECK(write(p[1], "k", 1) == 1, "pipe write");
	CHECK(ep_wait(ep, ev, 4, 1000) == 1 && ev[0].data.u64 == 0x919e, "kernel fd reported");
	CHECK(read(p[0], buf, 1) == 1, "pipe read");
	pthread_create(&t, NULL, send_later, &fd);
	t0 = now_ms();
	CHECK(ep_wait(ep, ev, 4, 3000) == 1 && ev[0].data.u64 == 0x5eed, "woken by netd");
	CHECK(now_ms() - t0 < 900, "woken in %lld ms", (long long)(now_ms() - t0));
	pthread_join(t, NULL);
	CHECK(recv(fd, buf, sizeof(buf), 0) == 4, "read late");
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL) == 0, "DEL");
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL) == -1 && errno == ENOENT, "DEL twice: ENOENT");
	close(p[0]);
	close(p[1]);
	ok("a stack socket and a pipe in one epoll set; a blocked epoll_wait wakes");
}

static void scen_epoll(void)
{
	int fd = tcp_connect(ECHO_ADDR, 7);
	int ep = epoll_create1(EPOLL_CLOEXEC);

	CHECK(ep >= 0, "epoll_create1");
	ep_levels(ep, fd);
	ep_oneshot_out(ep, fd);
	ep_mixed(ep, fd);
	close(fd);
	close(ep);
}

/* ------------------------------------------------------------ rcvtimeo, eintr */

static void scen_rcvtimeo(void)
{
	struct timeval tv = { .tv_usec = 200000 }, got;
	socklen_t l = sizeof(got);
	int fd = tcp_connect(ECHO_ADDR, 7);
	int64_t t0;
	char c;

	CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0, "SO_RCVTIMEO");
	CHECK(getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &got, &l) == 0 && got.tv_sec == 0 &&
	      got.tv_usec == 200000, "read back SO_RCVTIMEO");
	t0 = now_ms();
	CHECK(recv(fd, &c, 1, 0) == -1 && (errno == EAGAIN || errno == EWOULDBLOCK), "EAGAIN");
	CHECK(now_ms() - t0 >= 180 && now_ms() - t0 < 900, "after %lld ms", (long long)(now_ms() - t0));
	ok("blocking recv times out with EAGAIN after SO_RCVTIMEO");
	close(fd);
}

static void on_alarm(int sig)
{
	(void)sig;
}

static void scen_eintr(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };   /* no SA_RESTART */
	struct itimerval it = { .it_value = { .tv_usec = 150000 } };
	int fd = tcp_connect(ECHO_ADDR, 7);
	int64_t t0 = now_ms();
	char c;

	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	CHECK(recv(fd, &c, 1, 0) == -1 && errno == EINTR, "EINTR");
	CHECK(now_ms() - t0 >= 100 && now_ms() - t0 < 900, "after %lld ms", (long long)(now_ms() - t0));
	ok("a signal interrupts a blocking recv with EINTR");
	echo_check(fd, 10, 3);
	ok("the socket still works after EINTR");
	close(fd);
}

/* ------------------------------------------------------------ fallback, strict */

static void fb_loopback(void)
{
	struct sockaddr_in a = sin_of("127.0.0.1", 0);
	socklen_t al = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0), c, s;
	char buf[8];

	CHECK(l >= 0 && !is_kernel_socket(l), "a stack socket at first");
	CHECK(bind(l, (struct sockaddr *)&a, sizeof(a)) == 0, "bind 127.0.0.1");
	CHECK(is_kernel_socket(l), "handed to the kernel");
	CHECK(listen(l, 4) == 0 && getsockname(l, (struct sockaddr *)&a, &al) == 0, "listen");
	c = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(connect(c, (struct sockaddr *)&a, sizeof(a)) == 0 && is_kernel_socket(c),
	      "connect 127.0.0.1 through the kernel");
	s = accept(l, NULL, NULL);
	CHECK(s >= 0 && send(c, "via-k", 5, 0) == 5 && recv(s, buf, 5, MSG_WAITALL) == 5 &&
	      !memcmp(buf, "via-k", 5), "kernel loopback data");
	close(s);
	close(c);
	close(l);
	ok("bind and connect to 127.0.0.1 go to the kernel");
}

static void fb_unreachable(void)
{
	struct sockaddr_in a = sin_of("10.99.0.5", 80);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int r = connect(fd, (struct sockaddr *)&a, sizeof(a));

	CHECK(r == 0 || errno == EINPROGRESS || errno == ENETUNREACH || errno == EHOSTUNREACH,
	      "connect to an address the stack cannot reach: kernel's answer");
	CHECK(is_kernel_socket(fd), "handed to the kernel");
	close(fd);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	connect(fd, (struct sockaddr *)&a, sizeof(a));
	CHECK(is_kernel_socket(fd), "the second time, without asking netd");
	close(fd);
	ok("ENETUNREACH from netd: handed to the kernel, remembered");
}

static void scen_fallback(void)
{
	int sv[2], fd;
	char c;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	CHECK(write(sv[0], "u", 1) == 1 && read(sv[1], &c, 1) == 1 && c == 'u', "AF_UNIX data");
	close(sv[0]);
	close(sv[1]);
	ok("AF_UNIX socketpair works (kernel)");
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	CHECK(fd >= 0 && is_kernel_socket(fd), "AF_INET6 socket from the kernel");
	close(fd);
	ok("AF_INET6 goes to the kernel");
	fb_loopback();
	fb_unreachable();
	fd = tcp_connect(ECHO_ADDR, 7);
	CHECK(!is_kernel_socket(fd), "still on the stack");
	echo_check(fd, 50, 9);
	close(fd);
	ok("the stack still carries what it can");
}

static void scen_strict(void)
{
	struct sockaddr_in a = sin_of("127.0.0.1", 80);
	int sv[2], fd;

	CHECK(socket(AF_INET6, SOCK_STREAM, 0) == -1 && errno == EAFNOSUPPORT, "AF_INET6: EAFNOSUPPORT");
	fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0, "AF_INET socket");
	CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == -1 && errno == ENETUNREACH,
	      "connect 127.0.0.1: ENETUNREACH");
	CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == -1 && errno == EADDRNOTAVAIL,
	      "bind 127.0.0.1: EADDRNOTAVAIL");
	close(fd);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "AF_UNIX still allowed");
	close(sv[0]);
	close(sv[1]);
	fd = tcp_connect(ECHO_ADDR, 7);
	echo_check(fd, 20, 4);
	close(fd);
	ok("strict: fallbacks fail, the stack works");
}

/* Without sockd: AF_INET falls back (lenient) or fails (strict). */
static void scen_nostack(const char *mode)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (mode && !strcmp(mode, "strict")) {
		CHECK(fd == -1 && errno == EAFNOSUPPORT, "no stack + strict: EAFNOSUPPORT");
		ok("no sockd, strict: socket() fails");
		return;
	}
	CHECK(fd >= 0 && is_kernel_socket(fd), "no stack: a kernel socket");
	close(fd);
	ok("no sockd: sockets fall back to the kernel");
}

/* ------------------------------------------------------------ fdreuse */

static void reuse_dups(void)
{
	int fd = tcp_connect(ECHO_ADDR, 7), d = dup(fd), d2;

	CHECK(d >= 0 && close(fd) == 0, "dup, close the original");
	echo_check(d, 30, 5);
	CHECK(dup2(d, 50) == 50, "dup2");
	close(d);
	echo_check(50, 30, 6);
	d2 = fcntl(50, F_DUPFD_CLOEXEC, 60);
	CHECK(d2 >= 60 && (fcntl(d2, F_GETFD) & FD_CLOEXEC), "F_DUPFD_CLOEXEC");
	close(50);
	echo_check(d2, 30, 7);
	close(d2);
	ok("dup, dup2, F_DUPFD share the socket; the last close frees it");
}

static void scen_fdreuse(void)
{
	int a = socket(AF_INET, SOCK_STREAM, 0), b, fds[64];

	CHECK(a >= 0 && close(a) == 0, "socket, close");
	b = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(b == a, "the number is reused (%d, %d)", a, b);
	close(b);
	ok("a closed stack fd's number is reused");
	for (int i = 0; i < 300; i++) {
		int fd = tcp_connect(ECHO_ADDR, 7);

		echo_check(fd, 1, (size_t)i);
		CHECK(close(fd) == 0, "close %d", i);
	}
	ok("300 connect/close cycles through 64 socket indices");
	reuse_dups();
	for (int i = 0; i < 64; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		CHECK(fds[i] >= 0 && !is_kernel_socket(fds[i]), "stack socket %d of 64", i);
	}
	for (int i = 0; i < 64; i++)
		close(fds[i]);
	ok("all 64 indices free again");
}

/* ------------------------------------------------------------ udp */

static void udp_pair(void)
{
	struct sockaddr_in a = sin_of("0.0.0.0", 6000), from;
	socklen_t fl = sizeof(from);
	int u1 = socket(AF_INET, SOCK_DGRAM, 0), u2 = socket(AF_INET, SOCK_DGRAM, 0);
	char buf[64];

	CHECK(bind(u1, (struct sockaddr *)&a, sizeof(a)) == 0, "bind 6000");
	a = sin_of(HOST_ADDR, 6000);
	CHECK(sendto(u2, "hello", 5, 0, (struct sockaddr *)&a, sizeof(a)) == 5, "sendto");
	CHECK(recvfrom(u1, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl) == 5 &&
	      !memcmp(buf, "hello", 5), "recvfrom");
	CHECK(from.sin_addr.s_addr == inet_addr(HOST_ADDR) && from.sin_port != 0, "source");
	CHECK(sendto(u1, "back", 4, 0, (struct sockaddr *)&from, fl) == 4, "reply");
	CHECK(recv(u2, buf, sizeof(buf), 0) == 4 && !memcmp(buf, "back", 4), "reply received");
	close(u1);
	close(u2);
	ok("two UDP sockets: sendto/recvfrom both ways");
}

static void udp_connected(void)
{
	struct sockaddr_in a = sin_of("10.0.0.9", 53), from;
	socklen_t fl = sizeof(from);
	char out[100], in[16];
	struct iovec v = { in, 10 };
	struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1 };
	int u = socket(AF_INET, SOCK_DGRAM, 0), n = 0;

	CHECK(send(u, "x", 1, 0) == -1 && errno == EDESTADDRREQ, "EDESTADDRREQ");
	CHECK(connect(u, (struct sockaddr *)&a, sizeof(a)) == 0, "connect");
	CHECK(send(u, "q", 1, 0) == 1, "send");
	CHECK(recvfrom(u, in, sizeof(in), 0, (struct sockaddr *)&from, &fl) == 1 &&
	      from.sin_port == htons(53), "echoed from 10.0.0.9:53");
	memset(out, 'z', sizeof(out));
	CHECK(send(u, out, 100, 0) == 100, "send 100");
	usleep(30000);
	CHECK(ioctl(u, FIONREAD, &n) == 0 && n == 100, "FIONREAD %d", n);
	CHECK(recvmsg(u, &m, 0) == 10 && (m.msg_flags & MSG_TRUNC), "MSG_TRUNC");
	close(u);
	ok("connected UDP, FIONREAD, truncation");
}

static void udp_many(void)
{
	struct sockaddr_in a = sin_of("10.0.0.9", 7);
	char out[1000], in[1000];
	int u = socket(AF_INET, SOCK_DGRAM, 0);

	CHECK(connect(u, (struct sockaddr *)&a, sizeof(a)) == 0, "connect");
	for (int i = 0; i < 2000; i++) {
		size_t len = 1 + (size_t)(i * 37) % sizeof(out);

		fill((uint8_t *)out, len, (size_t)i);
		CHECK(send(u, out, len, 0) == (ssize_t)len, "send %d", i);
		CHECK(recv(u, in, sizeof(in), 0) == (ssize_t)len && !memcmp(in, out, len),
		      "datagram %d", i);
	}
	close(u);
	ok("2000 datagrams of mixed sizes (records wrap with pads)");
}

static void scen_udp(void)
{
	udp_pair();
	udp_connected();
	udp_many();
}

/* ------------------------------------------------------------ listen */

static int listener(uint16_t port)
{
	struct sockaddr_in a = sin_of("0.0.0.0", port);
	int one = 1, l = socket(AF_INET, SOCK_STREAM, 0), v = 0;
	socklen_t vl = sizeof(v);

	CHECK(setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0, "SO_REUSEADDR");
	CHECK(bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, 16) == 0, "bind, listen");
	CHECK(getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl) == 0 && v == 1, "SO_ACCEPTCONN");
	return l;
}

static void scen_listen(void)
{
	struct sockaddr_in peer, local;
	socklen_t pl = sizeof(peer), ll = sizeof(local);
	int l = listener(8080), c, s, fl;
	struct pollfd p = { .fd = l, .events = POLLIN };
	char buf[8];

	fl = fcntl(l, F_GETFL);
	CHECK(fcntl(l, F_SETFL, fl | O_NONBLOCK) == 0, "O_NONBLOCK");
	CHECK(accept(l, NULL, NULL) == -1 && errno == EAGAIN, "accept: EAGAIN");
	c = tcp_connect(HOST_ADDR, 8080);
	CHECK(poll(&p, 1, 2000) == 1 && (p.revents & POLLIN), "listener POLLIN");
	s = accept4(l, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
	CHECK(s >= 0, "accept4");
	CHECK(getsockname(c, (struct sockaddr *)&local, &ll) == 0 && local.sin_port == peer.sin_port,
	      "accepted peer is the client's local address");
	CHECK(fcntl(s, F_GETFL) & O_NONBLOCK, "SOCK_NONBLOCK");
	CHECK(recv(s, buf, 4, 0) == -1 && errno == EAGAIN, "nothing yet");
	CHECK(send(c, "ping", 4, 0) == 4, "client send");
	p = (struct pollfd){ .fd = s, .events = POLLIN };
	CHECK(poll(&p, 1, 2000) == 1 && recv(s, buf, 4, 0) == 4 && !memcmp(buf, "ping", 4), "server got ping");
	CHECK(send(s, "pong", 4, 0) == 4 && recv(c, buf, 4, MSG_WAITALL) == 4 &&
	      !memcmp(buf, "pong", 4), "client got pong");
	CHECK(close(s) == 0 && recv(c, buf, 4, 0) == 0, "server close: client EOF");
	close(c);
	close(l);
	ok("listen, poll, accept4, both directions, EOF");
}

/* ------------------------------------------------------------ sockopt */

static int get_int(int fd, int level, int name)
{
	int v = -12345;
	socklen_t l = sizeof(v);

	CHECK(getsockopt(fd, level, name, &v, &l) == 0, "getsockopt %d/%d", level, name);
	return v;
}

static void set_int(int fd, int level, int name, int v)
{
	CHECK(setsockopt(fd, level, name, &v, sizeof(v)) == 0, "setsockopt %d/%d", level, name);
}

static void opt_ints(int fd)
{
	set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
	CHECK(get_int(fd, IPPROTO_TCP, TCP_NODELAY) == 1, "TCP_NODELAY");
	set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
	CHECK(get_int(fd, SOL_SOCKET, SO_KEEPALIVE) == 1, "SO_KEEPALIVE");
	set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, 30);
	CHECK(get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE) == 30, "TCP_KEEPIDLE");
	CHECK(get_int(fd, IPPROTO_TCP, TCP_KEEPCNT) == 9, "TCP_KEEPCNT default");
	set_int(fd, SOL_SOCKET, SO_RCVBUF, 10000);
	CHECK(get_int(fd, SOL_SOCKET, SO_RCVBUF) == 20000, "SO_RCVBUF doubled");
	CHECK(get_int(fd, SOL_SOCKET, SO_TYPE) == SOCK_STREAM, "SO_TYPE");
	CHECK(get_int(fd, SOL_SOCKET, SO_DOMAIN) == AF_INET, "SO_DOMAIN");
	set_int(fd, IPPROTO_IP, IP_TOS, 0x10);
	CHECK(get_int(fd, IPPROTO_IP, IP_TOS) == 0x10, "IP_TOS");
	CHECK(get_int(fd, IPPROTO_IP, IP_TTL) == 64, "IP_TTL default");
	CHECK(get_int(fd, IPPROTO_TCP, TCP_MAXSEG) == 1460, "TCP_MAXSEG from netd");
	CHECK(setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &(int){ 1 }, sizeof(int)) == -1 &&
	      errno == ENOPROTOOPT, "unknown: ENOPROTOOPT");
}

static void opt_others(int fd)
{
	struct linger lg = { 1, 5 }, lg2;
	char cc[16] = "";
	socklen_t l = sizeof(lg2);
	int u = socket(AF_INET, SOCK_DGRAM, 0), n = -1;

	CHECK(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0 &&
	      getsockopt(fd, SOL_SOCKET, SO_LINGER, &lg2, &l) == 0 && lg2.l_onoff && lg2.l_linger == 5,
	      "SO_LINGER");
	l = sizeof(cc);
	CHECK(getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, &l) == 0 && !strcmp(cc, "cubic"),
	      "TCP_CONGESTION default");
	CHECK(setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, "reno", 4) == 0, "set reno");
	l = sizeof(cc);
	CHECK(getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, &l) == 0 && !strcmp(cc, "reno"), "reno");
	CHECK(setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, "nosuch", 6) == -1 && errno == ENOENT,
	      "unknown congestion control: ENOENT");
	CHECK(setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int)) == -1 &&
	      errno == ENOPROTOOPT, "TCP option on UDP: ENOPROTOOPT");
	close(u);
	CHECK(ioctl(fd, FIONBIO, &(int){ 1 }) == 0 && (fcntl(fd, F_GETFL) & O_NONBLOCK), "FIONBIO");
	CHECK(recv(fd, cc, 1, 0) == -1 && errno == EAGAIN, "nonblocking recv: EAGAIN");
	CHECK(send(fd, "abc", 3, 0) == 3, "send");
	usleep(30000);
	CHECK(ioctl(fd, FIONREAD, &n) == 0 && n == 3, "FIONREAD %d", n);
	CHECK(fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 && fcntl(fd, F_GETFD) == FD_CLOEXEC, "FD_CLOEXEC");
}

static void scen_sockopt(void)
{
	int fd = tcp_connect(ECHO_ADDR, 7);

	opt_ints(fd);
	ok("int options: local, forwarded, defaults, errors");
	opt_others(fd);
	ok("SO_LINGER, TCP_CONGESTION, FIONBIO, FIONREAD, fcntl");
	close(fd);
}

/* ------------------------------------------------------------ tcpinfo */

/* The fake answers TCP_INFO with every 32-bit word after the first 8 bytes
 * set to one number per call: a copy that mixed two answers shows. */
static uint32_t info_word(const struct tcp_info *ti, unsigned w)
{
	uint32_t v;

	memcpy(&v, (const uint8_t *)ti + 4 * w, sizeof(v));
	return v;
}

static bool info_consistent(const struct tcp_info *ti, socklen_t len)
{
	for (unsigned w = 3; w < len / 4; w++)
		if (info_word(ti, w) != info_word(ti, 2))
			return false;
	return info_word(ti, 2) != 0;
}

/* Linux's optlen rules: min(optlen, the struct) copied and written back. */
static void info_lengths(int fd)
{
	uint8_t big[400];
	struct tcp_info ti;
	socklen_t l = sizeof(ti);

	CHECK(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) == 0 && l == sizeof(ti),
	      "glibc's struct tcp_info: len %u", (unsigned)l);
	CHECK(ti.tcpi_state == TCP_ESTABLISHED && info_consistent(&ti, l), "state, values");
	l = sizeof(big);
	CHECK(getsockopt(fd, IPPROTO_TCP, TCP_INFO, big, &l) == 0 && l == 232,
	      "a bigger buffer: the whole struct, 232 bytes, len %u", (unsigned)l);
	memset(big, 0xaa, sizeof(big));
	l = 8;
	CHECK(getsockopt(fd, IPPROTO_TCP, TCP_INFO, big, &l) == 0 && l == 8 &&
	      big[0] == TCP_ESTABLISHED && big[8] == 0xaa, "8 bytes: 8 copied, nothing after");
	l = 0;
	CHECK(getsockopt(fd, IPPROTO_TCP, TCP_INFO, big, &l) == 0 && l == 0, "len 0");
	l = (socklen_t)-1;
	CHECK(getsockopt(fd, IPPROTO_TCP, TCP_INFO, big, &l) == -1 && errno == EINVAL,
	      "negative len: EINVAL");
	CHECK(setsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, sizeof(ti)) == -1 && errno == ENOPROTOOPT,
	      "set TCP_INFO: ENOPROTOOPT");
}

static void *info_hammer(void *arg)
{
	int fd = (int)(intptr_t)arg;

	for (int i = 0; i < 500; i++) {
		struct tcp_info ti;
		socklen_t l = sizeof(ti);

		if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) != 0 || !info_consistent(&ti, l))
			return (void *)1;
	}
	return NULL;
}

static void scen_tcpinfo(void)
{
	int fd = tcp_connect(ECHO_ADDR, 7), u = socket(AF_INET, SOCK_DGRAM, 0), v;
	struct tcp_info ti;
	socklen_t l = sizeof(ti);
	pthread_t t[4];
	void *bad = NULL;

	info_lengths(fd);
	ok("TCP_INFO: Linux's optlen rules (short, long, 0, negative), read-only");
	CHECK(getsockopt(u, IPPROTO_TCP, TCP_INFO, &ti, &l) == -1 && errno == EOPNOTSUPP,
	      "UDP: EOPNOTSUPP");
	l = sizeof(v);
	CHECK(getsockopt(u, IPPROTO_TCP, TCP_NODELAY, &v, &l) == -1 && errno == EOPNOTSUPP,
	      "UDP, get TCP_NODELAY: EOPNOTSUPP");
	ok("TCP level on a UDP socket: getsockopt EOPNOTSUPP, as Linux");
	for (int i = 0; i < 4; i++)
		CHECK(pthread_create(&t[i], NULL, info_hammer, (void *)(intptr_t)fd) == 0, "thread");
	for (int i = 0; i < 4; i++) {
		void *r;

		pthread_join(t[i], &r);
		bad = r ? r : bad;
	}
	CHECK(!bad, "a TCP_INFO copy mixed two answers");
	ok("4 threads x 500 TCP_INFO on one socket: every copy is one answer");
	close(u);
	close(fd);
}

/* ------------------------------------------------------------ sarestart */

static volatile sig_atomic_t usr1_hits;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_hits++;
}

static void usr1_handler(int flags)
{
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = flags };

	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");
	usr1_hits = 0;
}

/* A helper thread: SIGUSR1 to `target` at sig_ms, then (act_ms > 0) at
 * act_ms one byte sent on fd, which the echo returns, or a connect to port. */
struct nudge {
	pthread_t target, thread;
	int fd, port, sig_ms, act_ms;
};

static void *nudger(void *arg)
{
	struct nudge *n = arg;

	usleep((useconds_t)n->sig_ms * 1000);
	pthread_kill(n->target, SIGUSR1);
	if (n->act_ms <= 0)
		return NULL;
	usleep((useconds_t)(n->act_ms - n->sig_ms) * 1000);
	if (n->port)
		n->fd = tcp_connect(HOST_ADDR, (uint16_t)n->port);
	else
		CHECK(send(n->fd, "r", 1, 0) == 1, "nudger send");
	return NULL;
}

static void nudge(struct nudge *n, int fd, int port, int sig_ms, int act_ms)
{
	*n = (struct nudge){ .target = pthread_self(), .fd = fd, .port = port,
			     .sig_ms = sig_ms, .act_ms = act_ms };
	CHECK(pthread_create(&n->thread, NULL, nudger, n) == 0, "nudger");
}

/* recv interrupted at 100 ms; the byte comes at 250 ms. */
static void restart_recv(int fd, int flags, bool expect_restart, const char *what)
{
	struct nudge n;
	int64_t t0 = now_ms();
	ssize_t r;
	char c = 0;

	usr1_handler(flags);
	nudge(&n, fd, 0, 100, 250);
	r = recv(fd, &c, 1, 0);
	if (expect_restart)
		CHECK(r == 1 && c == 'r' && usr1_hits == 1 && now_ms() - t0 >= 200,
		      "%s: r=%zd after %lld ms", what, r, (long long)(now_ms() - t0));
	else
		CHECK(r == -1 && errno == EINTR && usr1_hits == 1 && now_ms() - t0 < 240,
		      "%s: r=%zd after %lld ms", what, r, (long long)(now_ms() - t0));
	pthread_join(n.thread, NULL);
	if (!expect_restart)
		CHECK(recv(fd, &c, 1, 0) == 1 && c == 'r', "the late byte");
	ok(what);
}

static void restart_others(int fd)
{
	int l = listener(8090), s, c;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct nudge n;
	char buf[2];

	CHECK(send(fd, "a", 1, 0) == 1 && poll(&p, 1, 2000) == 1, "one byte back");
	nudge(&n, fd, 0, 100, 0);
	CHECK(recv(fd, buf, 2, MSG_WAITALL) == 1 && buf[0] == 'a', "MSG_WAITALL: the partial count");
	pthread_join(n.thread, NULL);
	ok("SA_RESTART, MSG_WAITALL with one of two bytes: the signal ends it with 1");
	nudge(&n, -1, 8090, 100, 250);
	s = accept(l, NULL, NULL);
	CHECK(s >= 0 && usr1_hits == 2, "accept restarted");
	pthread_join(n.thread, NULL);
	c = n.fd;
	ok("SA_RESTART: accept goes on after the handler and returns the connection");
	nudge(&n, fd, 0, 100, 0);
	CHECK(poll(&p, 1, 2000) == -1 && errno == EINTR, "poll: EINTR");
	pthread_join(n.thread, NULL);
	ok("SA_RESTART: poll is never restarted, EINTR");
	close(c);
	close(s);
	close(l);
}

static void on_fault(int sig)
{
	_exit(128 + sig);
}

static void scen_sarestart(void)
{
	struct sigaction crash = { .sa_handler = on_fault };   /* as crash reporters: no SA_RESTART */
	struct timeval tv = { .tv_sec = 2 }, none = { 0 };
	int fd = tcp_connect(ECHO_ADDR, 7);

	CHECK(sigaction(SIGSEGV, &crash, NULL) == 0 && sigaction(SIGBUS, &crash, NULL) == 0,
	      "fault handlers");
	restart_recv(fd, SA_RESTART, true, "SA_RESTART: recv goes on after the handler, gets the byte "
		     "(fault handlers without it do not count)");
	restart_recv(fd, 0, false, "no SA_RESTART: recv fails with EINTR");
	CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0, "SO_RCVTIMEO");
	restart_recv(fd, SA_RESTART, false, "SA_RESTART with SO_RCVTIMEO: recv fails with EINTR");
	CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none)) == 0, "SO_RCVTIMEO 0");
	usr1_handler(SA_RESTART);
	restart_others(fd);
	close(fd);
}

/* ------------------------------------------------------------ sendfile */

static void scen_sendfile(void)
{
	char path[] = "/tmp/sock_client_sf.XXXXXX";
	size_t n = 1u << 20;
	uint8_t *data = malloc(n), *back = malloc(n);
	int f = mkstemp(path), fd = tcp_connect(ECHO_ADDR, 7);
	off_t off = 0;

	CHECK(data && back && f >= 0, "setup");
	unlink(path);
	fill(data, n, 17);
	CHECK(write(f, data, n) == (ssize_t)n, "write file");
	for (size_t got = 0, sent = 0; got < n;) {
		if (sent < n) {
			ssize_t r = sendfile(fd, f, &off, n - sent > 20000 ? 20000 : n - sent);

			CHECK(r > 0, "sendfile at %zu", sent);
			sent += (size_t)r;
		}
		ssize_t r = recv(fd, back + got, n - got, 0);

		CHECK(r > 0, "recv at %zu", got);
		got += (size_t)r;
	}
	CHECK((size_t)off == n && !memcmp(data, back, n), "sendfile data");
	close(f);
	close(fd);
	free(data);
	free(back);
	ok("sendfile 1 MiB from a file through the stack");
}

/* ------------------------------------------------------------ threads */

static void *thread_rt(void *arg)
{
	int fd = tcp_connect(ECHO_ADDR, 7);

	for (int i = 0; i < 200; i++)
		echo_check(fd, 64 + (size_t)i, (size_t)(uintptr_t)arg + (size_t)i);
	close(fd);
	return NULL;
}

static void *thread_churn(void *arg)
{
	(void)arg;
	for (int i = 0; i < 200; i++) {
		int fd = socket(AF_INET, i % 2 ? SOCK_DGRAM : SOCK_STREAM, 0);

		CHECK(fd >= 0, "churn socket");
		set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
		close(fd);
	}
	return NULL;
}

static void scen_threads(void)
{
	pthread_t t[5];
	int64_t t0 = now_ms();

	for (int i = 0; i < 4; i++)
		CHECK(pthread_create(&t[i], NULL, thread_rt, (void *)(uintptr_t)(i * 1000)) == 0, "thread");
	CHECK(pthread_create(&t[4], NULL, thread_churn, NULL) == 0, "thread");
	for (int i = 0; i < 5; i++)
		pthread_join(t[i], NULL);
	CHECK(now_ms() - t0 < 5000, "threads took %lld ms", (long long)(now_ms() - t0));
	ok("4 threads of round trips and one of socket churn, concurrently");
}

/* ------------------------------------------------------------ fork */

/* In the child: an inherited epoll set whose stack item is now stale must
 * neither crash nor spin; the kernel alone waits. */
static int child_epoll(int ep)
{
	struct epoll_event ev[2];
	int64_t t0 = now_ms();

	if (epoll_wait(ep, ev, 2, 100) != 0 || now_ms() - t0 < 80)
		return -1;
	return close(ep);
}

static void scen_fork(void)
{
	int fd = tcp_connect(ECHO_ADDR, 7), st = 0, ep = epoll_create1(0);
	struct epoll_event e = { .events = EPOLLIN };
	pid_t pid;

	CHECK(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) == 0, "epoll set");
	echo_check(fd, 10, 1);
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		int c;

		if (send(fd, "x", 1, MSG_NOSIGNAL) != -1 || errno != EOPNOTSUPP)
			_exit(2);
		if (child_epoll(ep) != 0)
			_exit(4);
		if (close(fd) != 0)
			_exit(3);
		c = tcp_connect(ECHO_ADDR, 7);     /* the child attaches as a new app */
		echo_check(c, 10, 2);
		close(c);
		_exit(0);
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "child status %d", st);
	echo_check(fd, 10, 3);
	close(ep);
	close(fd);
	ok("fork: the child's inherited socket is refused, its own works; the parent's too");
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv)
{
	static const struct { const char *name; void (*fn)(void); } sc[] = {
		{ "roundtrip", scen_roundtrip }, { "nbconnect", scen_nbconnect },
		{ "epoll", scen_epoll }, { "rcvtimeo", scen_rcvtimeo }, { "eintr", scen_eintr },
		{ "fallback", scen_fallback }, { "strict", scen_strict }, { "fdreuse", scen_fdreuse },
		{ "udp", scen_udp }, { "listen", scen_listen }, { "sockopt", scen_sockopt },
		{ "sendfile", scen_sendfile }, { "threads", scen_threads }, { "fork", scen_fork },
		{ "tcpinfo", scen_tcpinfo }, { "sarestart", scen_sarestart },
	};

	if (argc < 2) {
		fprintf(stderr, "usage: sock_client SCENARIO\n");
		return 2;
	}
	tool_who = argv[1];
	alarm(20);     /* nothing here takes longer; a hang must fail, not stall CI */
	if (!strcmp(tool_who, "nostack")) {
		scen_nostack(argc > 2 ? argv[2] : NULL);
		return 0;
	}
	for (size_t i = 0; i < sizeof(sc) / sizeof(sc[0]); i++)
		if (!strcmp(tool_who, sc[i].name)) {
			sc[i].fn();
			return 0;
		}
	fprintf(stderr, "sock_client: unknown scenario %s\n", tool_who);
	return 2;
}
