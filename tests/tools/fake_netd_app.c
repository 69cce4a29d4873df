/* tests/tools/fake_netd_app.c — a stand-in for netd's application side, for
 * sockd's integration test.
 *
 * Where it sits: exactly where netd will. It connects to RUN_DIR/sockd.sock
 * with role NETD, then takes every app_attach sockd sends (with the region
 * fd and the app's wake eventfd), maps the region and checks it against the
 * attach as netd would (geometry from the attach, never from app.ctl),
 * answers with an app_attach_ack, and drops the app at its app_detach. It
 * also serves each app's command ring: every command gets a completion with
 * result 0 and a ring of the app's wake doorbell (fake_app --ping uses it).
 *
 *   --run-dir DIR        where sockd.sock is (default /run/ringstack)
 *   --seconds S          exit after S seconds (default 30)
 *   --expect-status N    exit 0 at once if the welcome's status is N (e.g. -16)
 *   --no-ack             never ack (sockd must then refuse the app -EAGAIN)
 *   --ack-delay-ms N     wait N ms before each ack (the app must wait too)
 *
 * One line on stdout per event, flushed at once, which the test greps:
 *   fake_netd_app: welcome status=0
 *   fake_netd_app: attach app_id=3 pid=123 uid=0 flags=0x1 nsocks=64 check=ok
 *   fake_netd_app: detach app_id=3
 *   fake_netd_app: done attaches=N detaches=N bad=N served=N
 * Exit 0, or 1 if the hello failed or any attach failed its checks.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "shm/app_layout.h"
#include "shm/doorbell.h"
#include "shm/region.h"
#include "shm/ring.h"
#include "shm/app_layout.h"
#include "shm/sockd_layout.h"

#define APPS_MAX 64
#define POLL_MS  10

struct opts {
	const char *run_dir;
	double seconds;
	int expect_status;
	bool expect_set, no_ack;
	unsigned ack_delay_ms;
};

struct app {
	bool used;
	uint32_t app_id;
	int efd;
	struct region region;
	struct app_ctl *ctl;
	struct ring_cons cmd;
	struct ring_prod cpl;
};

static struct app apps[APPS_MAX];
static volatile sig_atomic_t stop;
static unsigned n_attach, n_detach, n_bad, n_served;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Receive one message and up to 2 fds (*nfds set). Returns its length. */
static ssize_t recv_fds(int sock, void *buf, size_t len, int *fds, unsigned *nfds)
{
	union { char b[CMSG_SPACE(sizeof(int) * 2)]; struct cmsghdr a; } u;
	struct iovec iov = { buf, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
			    .msg_controllen = sizeof(u.b) };
	struct cmsghdr *c;
	ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);

	*nfds = 0;
	if (n < 0)
		return n;
	for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			*nfds = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(fds, CMSG_DATA(c), *nfds * sizeof(int));
		}
	}
	return n;
}

static int connect_sockd(const struct opts *o)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct app_hello h = { .magic = APP_HELLO_MAGIC, .version = APP_HELLO_VERSION,
			       .role = APP_ROLE_NETD, .layout_version = APP_LAYOUT_VERSION,
			       .pid = (uint32_t)getpid(), .name = "fake_netd_app" };
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", o->run_dir, APP_SOCK_FILE);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(s, &h, sizeof(h), MSG_NOSIGNAL) != sizeof(h)) {
		perror("fake_netd_app: connect/hello");
		exit(1);
	}
	return s;
}

/* The welcome: within 5 s, and its status as expected. */
static void welcome(int s, const struct opts *o)
{
	struct app_welcome w;
	struct pollfd p = { s, POLLIN, 0 };
	int fds[2];
	unsigned nfds;

	if (poll(&p, 1, 5000) != 1 || recv_fds(s, &w, sizeof(w), fds, &nfds) != sizeof(w) ||
	    w.magic != APP_WELCOME_MAGIC) {
		printf("fake_netd_app: no welcome\n");
		exit(1);
	}
	printf("fake_netd_app: welcome status=%d\n", w.status);
	if (o->expect_set)
		exit(w.status == o->expect_status ? 0 : 1);
	if (w.status != 0 || nfds != 0)
		exit(1);
}

#define CHECK(cond, what) do { if (!(cond)) { why = what; goto bad; } } while (0)

/* Map the region and check everything netd relies on against the attach. */
static int check_attach(struct app *a, const struct app_attach *m, int region_fd)
{
	const char *why;
	size_t len;
	void *p;

	CHECK(region_attach_fd(&a->region, region_fd, REGION_KIND_APP, APP_LAYOUT_VERSION) == 0,
	      "region does not attach");
	CHECK(a->region.size == m->region_size, "region size differs from the attach");
	a->ctl = region_find(&a->region, APP_AREA_CTL, &len);
	CHECK(a->ctl && len >= sizeof(*a->ctl), "no app.ctl");
	CHECK(a->ctl->magic == APP_CTL_MAGIC && a->ctl->version == APP_LAYOUT_VERSION &&
	      a->ctl->app_id == m->app_id && a->ctl->pid == m->pid && a->ctl->uid == m->uid &&
	      a->ctl->nsocks == m->nsocks && a->ctl->buf_size == m->buf_size &&
	      a->ctl->flags == m->flags, "app.ctl disagrees with the attach");
	CHECK(doorbell_validate(&a->ctl->wake) == 0 && doorbell_validate(&a->ctl->netd) == 0,
	      "doorbells not formatted");
	p = region_find(&a->region, APP_AREA_CMD, &len);
	CHECK(p && ring_cons_attach(&a->cmd, p, len, APP_CMD_RING, sizeof(struct app_cmd)) == 0,
	      "app.cmd is not a ring netd can consume");
	p = region_find(&a->region, APP_AREA_CPL, &len);
	CHECK(p && ring_prod_attach(&a->cpl, p, len, APP_CPL_RING, sizeof(struct app_cpl)) == 0,
	      "app.cpl is not a ring netd can produce");
	p = region_find(&a->region, APP_AREA_SOCKS, &len);
	CHECK(p && len == (size_t)m->nsocks * sizeof(struct app_sock), "app.socks size");
	p = region_find(&a->region, APP_AREA_BUFS, &len);
	CHECK(p && len == (size_t)m->nsocks * 2 * m->buf_size, "app.bufs size");
	return 0;
bad:
	printf("fake_netd_app: attach app_id=%u check=FAIL (%s)\n", m->app_id, why);
	return -1;
}

static struct app *slot_of(uint32_t app_id, bool want_free)
{
	for (unsigned i = 0; i < APPS_MAX; i++)
		if (want_free ? !apps[i].used : (apps[i].used && apps[i].app_id == app_id))
			return &apps[i];
	return NULL;
}

static void on_attach(int s, const struct app_attach *m, const int *fds, unsigned nfds,
		      const struct opts *o)
{
	struct app_attach_ack ack = { APP_ATTACH_ACK_MAGIC, m->app_id };
	struct app *a = slot_of(0, true);

	if (nfds != 2 || !a) {
		printf("fake_netd_app: attach app_id=%u check=FAIL (%u fds, or table full)\n",
		       m->app_id, nfds);
		n_bad++;
		return;
	}
	*a = (struct app){ .app_id = m->app_id, .efd = fds[1] };
	if (check_attach(a, m, fds[0]) < 0) {
		n_bad++;
		region_close(&a->region);
		close(fds[1]);
		return;
	}
	a->used = true;
	n_attach++;
	printf("fake_netd_app: attach app_id=%u pid=%u uid=%u flags=%#x nsocks=%u check=ok\n",
	       m->app_id, m->pid, m->uid, m->flags, m->nsocks);
	if (o->no_ack)
		return;
	if (o->ack_delay_ms)
		usleep(o->ack_delay_ms * 1000u);
	if (send(s, &ack, sizeof(ack), MSG_NOSIGNAL) != sizeof(ack))
		printf("fake_netd_app: ack send failed: %s\n", strerror(errno));
}

static void on_detach(uint32_t app_id)
{
	struct app *a = slot_of(app_id, false);

	printf("fake_netd_app: detach app_id=%u%s\n", app_id, a ? "" : " (unknown)");
	n_detach++;
	if (!a)
		return;
	region_close(&a->region);
	close(a->efd);
	a->used = false;
}

/* One message from sockd. Returns false at EOF. */
static bool on_message(int s, const struct opts *o)
{
	union { struct app_attach at; struct app_detach de; char b[64]; } m;
	int fds[2];
	unsigned nfds;
	ssize_t n = recv_fds(s, &m, sizeof(m), fds, &nfds);

	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	if (n == 0)
		return false;
	if (n == sizeof(m.at) && m.at.magic == APP_ATTACH_MAGIC) {
		on_attach(s, &m.at, fds, nfds, o);
	} else if (n == sizeof(m.de) && m.de.magic == APP_DETACH_MAGIC) {
		on_detach(m.de.app_id);
	} else {
		printf("fake_netd_app: unexpected %zd-byte message\n", n);
		n_bad++;
		for (unsigned k = 0; k < nfds; k++)
			close(fds[k]);
	}
	return true;
}

/* Answer every command with a completion (result 0) and ring the app. */
static void serve(void)
{
	for (unsigned i = 0; i < APPS_MAX; i++) {
		struct app *a = &apps[i];
		struct app_cmd c;
		unsigned got = 0;

		if (!a->used)
			continue;
		while (got < 64 && ring_dequeue_bulk_elem(&a->cmd, &c, sizeof(c), 1) == 1) {
			struct app_cpl r = { .seq = c.seq, .result = 0, .sock = c.sock, .op = c.op };

			got += ring_enqueue_bulk_elem(&a->cpl, &r, sizeof(r), 1);
		}
		if (got) {
			n_served += got;
			doorbell_ring_eventfd(&a->ctl->wake, a->efd);
		}
	}
}

static void parse(struct opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "run-dir", 1, 0, 'd' }, { "seconds", 1, 0, 's' }, { "expect-status", 1, 0, 'e' },
		{ "no-ack", 0, 0, 'n' }, { "ack-delay-ms", 1, 0, 'a' }, { 0, 0, 0, 0 } };
	int c;

	*o = (struct opts){ .run_dir = "/run/ringstack", .seconds = 30 };
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd': o->run_dir = optarg; break;
		case 's': o->seconds = atof(optarg); break;
		case 'e': o->expect_status = atoi(optarg); o->expect_set = true; break;
		case 'n': o->no_ack = true; break;
		case 'a': o->ack_delay_ms = (unsigned)atoi(optarg); break;
		default: fprintf(stderr, "fake_netd_app: see the file's header for options\n"); exit(2);
		}
	}
}

int main(int argc, char **argv)
{
	struct opts o;
	uint64_t end;
	int s;

	parse(&o, argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	s = connect_sockd(&o);
	welcome(s, &o);
	end = now_ns() + (uint64_t)(o.seconds * 1e9);
	while (!stop && now_ns() < end) {
		struct pollfd p = { s, POLLIN, 0 };

		if (poll(&p, 1, POLL_MS) == 1 && !on_message(s, &o)) {
			printf("fake_netd_app: sockd closed the connection\n");
			break;
		}
		serve();
	}
	printf("fake_netd_app: done attaches=%u detaches=%u bad=%u served=%u\n", n_attach,
	       n_detach, n_bad, n_served);
	return n_bad ? 1 : 0;
}
