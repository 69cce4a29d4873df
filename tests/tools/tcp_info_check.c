/* tests/tools/tcp_info_check.c — getsockopt(IPPROTO_TCP, TCP_INFO) as Linux
 * answers it, checked on whatever sockets this program gets: the kernel's,
 * or the stack's when it runs under libsock (tests/integration/
 * test_e2e_tcpinfo.sh runs it both ways, so the checks are themselves
 * checked against Linux).
 *
 *   tcp_info_check server ADDR PORT   accept one connection, check TCP_INFO
 *                                     on the listener and on it, echo every
 *                                     byte until EOF, check again
 *   tcp_info_check client ADDR PORT   check a fresh socket, connect, check,
 *                                     send 1 MiB through the echo, check the
 *                                     byte counts, optlen rules, UDP
 *
 * Prints "ok ROLE: ..." per check and one "figures" line, exits 0; or
 * "FAIL ROLE: ..." and exits 1. An alarm ends a stuck run.
 *
 * It includes <linux/tcp.h> (the whole struct tcp_info, not glibc's first
 * 104 bytes), and so also checks shm/app_layout.h's copy of that struct,
 * field by field, at build time.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shm/app_layout.h"

#define SAME_AT(f) _Static_assert(offsetof(struct tcp_info, f) == offsetof(struct app_tcp_info, f), \
				  "app_tcp_info." #f " is not where <linux/tcp.h> has it")
SAME_AT(tcpi_state); SAME_AT(tcpi_ca_state); SAME_AT(tcpi_retransmits); SAME_AT(tcpi_probes);
SAME_AT(tcpi_backoff); SAME_AT(tcpi_options); SAME_AT(tcpi_rto); SAME_AT(tcpi_ato);
SAME_AT(tcpi_snd_mss); SAME_AT(tcpi_rcv_mss); SAME_AT(tcpi_unacked); SAME_AT(tcpi_sacked);
SAME_AT(tcpi_lost); SAME_AT(tcpi_retrans); SAME_AT(tcpi_fackets); SAME_AT(tcpi_last_data_sent);
SAME_AT(tcpi_last_ack_sent); SAME_AT(tcpi_last_data_recv); SAME_AT(tcpi_last_ack_recv);
SAME_AT(tcpi_pmtu); SAME_AT(tcpi_rcv_ssthresh); SAME_AT(tcpi_rtt); SAME_AT(tcpi_rttvar);
SAME_AT(tcpi_snd_ssthresh); SAME_AT(tcpi_snd_cwnd); SAME_AT(tcpi_advmss);
SAME_AT(tcpi_reordering); SAME_AT(tcpi_rcv_rtt); SAME_AT(tcpi_rcv_space);
SAME_AT(tcpi_total_retrans); SAME_AT(tcpi_pacing_rate); SAME_AT(tcpi_max_pacing_rate);
SAME_AT(tcpi_bytes_acked); SAME_AT(tcpi_bytes_received); SAME_AT(tcpi_segs_out);
SAME_AT(tcpi_segs_in); SAME_AT(tcpi_notsent_bytes); SAME_AT(tcpi_min_rtt);
SAME_AT(tcpi_data_segs_in); SAME_AT(tcpi_data_segs_out); SAME_AT(tcpi_delivery_rate);
SAME_AT(tcpi_busy_time); SAME_AT(tcpi_rwnd_limited); SAME_AT(tcpi_sndbuf_limited);
SAME_AT(tcpi_delivered); SAME_AT(tcpi_delivered_ce); SAME_AT(tcpi_bytes_sent);
SAME_AT(tcpi_bytes_retrans); SAME_AT(tcpi_dsack_dups); SAME_AT(tcpi_reord_seen);
SAME_AT(tcpi_rcv_ooopack); SAME_AT(tcpi_snd_wnd);
_Static_assert(sizeof(struct tcp_info) == sizeof(struct app_tcp_info), "struct tcp_info's size");

#define XFER (1u << 20)     /* bytes through the echo */

/* tcpi_state's numbers (the kernel's net/tcp_states.h; <linux/tcp.h> does not
 * have them, and glibc's <netinet/tcp.h> cannot come with it). */
enum { TCPI_ESTABLISHED = 1, TCPI_CLOSE = 7, TCPI_CLOSE_WAIT = 8, TCPI_LISTEN = 10 };

static const char *tool_who = "?";   /* the role, for CHECK and ok */
#include "tests/support/tool_check.h"


static struct sockaddr_in sin_of(const char *ip, const char *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };

	CHECK(inet_pton(AF_INET, ip, &a.sin_addr) == 1, "address %s", ip);
	return a;
}

/* TCP_INFO with the whole struct's room; the length must be all of it. */
static struct tcp_info info_of(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0xaa, sizeof(ti));
	CHECK(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0, "getsockopt TCP_INFO");
	CHECK(len == sizeof(ti), "optlen %u, not %zu", (unsigned)len, sizeof(ti));
	return ti;
}

/* What any established conn reports. */
static void check_established(const struct tcp_info *ti, const char *what)
{
	CHECK(ti->tcpi_state == TCPI_ESTABLISHED, "%s: state %u", what, ti->tcpi_state);
	CHECK(ti->tcpi_rtt > 0, "%s: rtt 0", what);
	CHECK(ti->tcpi_snd_cwnd > 0, "%s: snd_cwnd 0", what);
	CHECK(ti->tcpi_snd_mss >= 536 && ti->tcpi_snd_mss <= 1460, "%s: snd_mss %u", what,
	      ti->tcpi_snd_mss);
	CHECK(ti->tcpi_rto >= 200000, "%s: rto %u us", what, ti->tcpi_rto);
	CHECK(ti->tcpi_snd_ssthresh > 0 && ti->tcpi_reordering > 0, "%s: ssthresh, reordering",
	      what);
	CHECK(ti->tcpi_options & TCPI_OPT_TIMESTAMPS, "%s: timestamps not negotiated", what);
	CHECK(ti->tcpi_pmtu == 1500, "%s: pmtu %u", what, ti->tcpi_pmtu);
}

/* The optlen rules: min(optlen, the struct) copied and written back, and
 * a negative one refused. */
static void check_optlen(int fd)
{
	uint8_t buf[400];
	socklen_t len = 8;

	memset(buf, 0xaa, sizeof(buf));
	CHECK(getsockopt(fd, IPPROTO_TCP, TCP_INFO, buf, &len) == 0 && len == 8, "optlen 8");
	CHECK(buf[0] == TCPI_ESTABLISHED && buf[8] == 0xaa, "8 bytes, and nothing after them");
	len = 0;
	CHECK(getsockopt(fd, IPPROTO_TCP, TCP_INFO, buf, &len) == 0 && len == 0, "optlen 0");
	len = sizeof(buf);
	CHECK(getsockopt(fd, IPPROTO_TCP, TCP_INFO, buf, &len) == 0 &&
	      len >= sizeof(struct tcp_info) && len < sizeof(buf),
	      "optlen 400: the struct's size back, %u", (unsigned)len);
	len = (socklen_t)-1;
	CHECK(getsockopt(fd, IPPROTO_TCP, TCP_INFO, buf, &len) == -1 && errno == EINVAL,
	      "negative optlen: EINVAL");
	CHECK(setsockopt(fd, IPPROTO_TCP, TCP_INFO, buf, sizeof(struct tcp_info)) == -1 &&
	      errno == ENOPROTOOPT, "setsockopt TCP_INFO: ENOPROTOOPT");
	ok("optlen 8, 0, 400 and -1 as Linux; setsockopt refused");
}

static void check_udp(void)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int u = socket(AF_INET, SOCK_DGRAM, 0);

	CHECK(u >= 0, "UDP socket");
	CHECK(getsockopt(u, IPPROTO_TCP, TCP_INFO, &ti, &len) == -1 && errno == EOPNOTSUPP,
	      "UDP: EOPNOTSUPP");
	close(u);
	ok("TCP_INFO on a UDP socket: EOPNOTSUPP");
}

/* ------------------------------------------------------------ moving bytes */

/* Write XFER bytes and read as many back, interleaved (the echo would stall
 * on a full window otherwise). */
static void echo_through(int fd)
{
	static uint8_t out[64 << 10], in[64 << 10];
	size_t sent = 0, got = 0;

	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 13);
	while (got < XFER) {
		struct pollfd p = { .fd = fd, .events = POLLIN | (sent < XFER ? POLLOUT : 0) };
		ssize_t n;

		CHECK(poll(&p, 1, 5000) == 1, "echo stalled at %zu sent, %zu back", sent, got);
		if ((p.revents & POLLOUT) && sent < XFER) {
			n = send(fd, out, sent + sizeof(out) > XFER ? XFER - sent : sizeof(out),
				 MSG_DONTWAIT);
			CHECK(n > 0 || errno == EAGAIN, "send");
			sent += n > 0 ? (size_t)n : 0;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			n = recv(fd, in, sizeof(in), MSG_DONTWAIT);
			CHECK(n > 0 || (n < 0 && errno == EAGAIN), "recv: %zd after %zu", n, got);
			got += n > 0 ? (size_t)n : 0;
		}
	}
}

/* Echo until EOF; returns the bytes echoed. */
static size_t echo_serve(int fd)
{
	static uint8_t buf[64 << 10];
	size_t total = 0;
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
		for (ssize_t off = 0, w; off < n; off += w) {
			w = send(fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
			CHECK(w > 0, "echo send");
		}
		total += (size_t)n;
	}
	CHECK(n == 0, "echo recv");
	return total;
}

static void print_figures(const struct tcp_info *ti)
{
	printf("figures %s: rtt %u us rttvar %u rto %u mss %u cwnd %u ssthresh %u pmtu %u "
	       "bytes_acked %llu bytes_received %llu segs_out %u segs_in %u data_segs_out %u "
	       "total_retrans %u lost %u\n", tool_who, ti->tcpi_rtt, ti->tcpi_rttvar, ti->tcpi_rto,
	       ti->tcpi_snd_mss, ti->tcpi_snd_cwnd, ti->tcpi_snd_ssthresh, ti->tcpi_pmtu,
	       (unsigned long long)ti->tcpi_bytes_acked, (unsigned long long)ti->tcpi_bytes_received,
	       ti->tcpi_segs_out, ti->tcpi_segs_in, ti->tcpi_data_segs_out, ti->tcpi_total_retrans,
	       ti->tcpi_lost);
}

/* ------------------------------------------------------------ the roles */

static void run_client(const char *ip, const char *port)
{
	struct sockaddr_in a = sin_of(ip, port);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct tcp_info ti;

	CHECK(fd >= 0, "socket");
	ti = info_of(fd);
	CHECK(ti.tcpi_state == TCPI_CLOSE && ti.tcpi_snd_cwnd > 0, "fresh: state %u", ti.tcpi_state);
	ok("a socket not yet connected: TCP_CLOSE");
	CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "connect %s:%s", ip, port);
	ti = info_of(fd);
	check_established(&ti, "connected");
	ok("connected: ESTABLISHED, rtt, cwnd, mss, rto, pmtu");
	check_optlen(fd);
	echo_through(fd);
	ti = info_of(fd);
	check_established(&ti, "after 1 MiB");
	CHECK(ti.tcpi_bytes_acked >= XFER && ti.tcpi_bytes_received >= XFER,
	      "bytes_acked %llu, bytes_received %llu", (unsigned long long)ti.tcpi_bytes_acked,
	      (unsigned long long)ti.tcpi_bytes_received);
	CHECK(ti.tcpi_data_segs_out >= XFER / 65536 && ti.tcpi_segs_in > 0 &&
	      ti.tcpi_segs_out >= ti.tcpi_data_segs_out, "segment counts");
	CHECK(ti.tcpi_last_data_recv < 5000 && ti.tcpi_last_data_sent < 5000, "last data ages");
	ok("after 1 MiB each way: bytes_acked, bytes_received, segments");
	print_figures(&ti);
	check_udp();
	close(fd);
}

static void run_server(const char *ip, const char *port)
{
	struct sockaddr_in a = sin_of(ip, port);
	int one = 1, l = socket(AF_INET, SOCK_STREAM, 0), c;
	struct tcp_info ti;
	size_t n;

	CHECK(l >= 0 && setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0, "socket");
	CHECK(bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, 4) == 0, "bind, listen");
	CHECK(info_of(l).tcpi_state == TCPI_LISTEN, "listener: TCP_LISTEN");
	printf("listening\n");
	fflush(stdout);
	c = accept(l, NULL, NULL);
	CHECK(c >= 0, "accept");
	ti = info_of(c);
	check_established(&ti, "accepted");
	ok("listener TCP_LISTEN; accepted: ESTABLISHED, rtt, cwnd, mss");
	n = echo_serve(c);
	ti = info_of(c);
	CHECK(ti.tcpi_state == TCPI_CLOSE_WAIT, "after the peer's FIN: state %u", ti.tcpi_state);
	CHECK(ti.tcpi_bytes_received >= n && ti.tcpi_bytes_acked >= n && n >= XFER,
	      "echoed %zu: bytes_received %llu bytes_acked %llu", n,
	      (unsigned long long)ti.tcpi_bytes_received, (unsigned long long)ti.tcpi_bytes_acked);
	ok("after the echo: CLOSE_WAIT, bytes_received and bytes_acked");
	print_figures(&ti);
	close(c);
	close(l);
}

int main(int argc, char **argv)
{
	if (argc != 4 || (strcmp(argv[1], "client") && strcmp(argv[1], "server"))) {
		fprintf(stderr, "usage: tcp_info_check client|server ADDR PORT\n");
		return 2;
	}
	tool_who = argv[1];
	alarm(30);
	if (!strcmp(tool_who, "client"))
		run_client(argv[2], argv[3]);
	else
		run_server(argv[2], argv[3]);
	return 0;
}
