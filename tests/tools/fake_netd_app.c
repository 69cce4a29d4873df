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
 *   --offer LIST         right after the welcome, send sockd these bogus
 *                        adoption offers (app_attach, APP_ADOPT_MAGIC), in
 *                        order; a comma list, and repeatable:
 *       dead             a pid that no longer exists (a child forked, exited
 *                        and reaped), an empty memfd as region, a pipe's
 *                        write end: sockd must count ADOPT_GONE
 *       notregion        our own pid and uid (alive, right owner), but the
 *                        "region" is a memfd of garbage: ADOPT_REFUSED
 *       badsize          our pid, a real app-kind region, but region_size
 *                        says a page more than the region has: ADOPT_REFUSED
 *       nofds            a well-formed offer carrying no fds: NETD_BAD_MSG
 *       extrafds         a well-formed offer with 3 fds: NETD_BAD_MSG
 *       short            its first 20 bytes, with 2 fds: NETD_BAD_MSG
 *       long             the offer and 8 bytes more, with 2 fds: NETD_BAD_MSG
 *                        The last four carry an offer sockd would adopt if
 *                        it looked past the framing (our live pid and uid,
 *                        an app-kind region of the size stated): a sockd
 *                        that did would replay it to us, and that attach
 *                        fails our checks (the region has no app.ctl).
 *
 * One line on stdout per event, flushed at once, which the test greps:
 *   fake_netd_app: welcome status=0
 *   fake_netd_app: offer dead sent: 40 bytes, 2 fds
 *   fake_netd_app: offers sent=7
 *   fake_netd_app: attach app_id=3 pid=123 uid=0 flags=0x1 nsocks=64 check=ok
 *   fake_netd_app: detach app_id=3
 *   fake_netd_app: done attaches=N detaches=N bad=N served=N
 * Exit 0, or 1 if the hello failed, an offer could not be sent or any
 * attach failed its checks.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm/app_layout.h"
#include "shm/doorbell.h"
#include "shm/region.h"
#include "shm/ring.h"
#include "shm/sockd_layout.h"

#define APPS_MAX   64
#define POLL_MS    10
#define OFFERS_MAX 32

enum offer_kind {
	OFFER_DEAD, OFFER_NOTREGION, OFFER_BADSIZE, OFFER_NOFDS, OFFER_EXTRAFDS,
	OFFER_SHORT, OFFER_LONG, OFFER_NR
};

static const char *const offer_names[OFFER_NR] = {
	"dead", "notregion", "badsize", "nofds", "extrafds", "short", "long",
};

struct opts {
	const char *run_dir;
	double seconds;
	int expect_status;
	bool expect_set, no_ack;
	unsigned ack_delay_ms;
	enum offer_kind offers[OFFERS_MAX];
	unsigned noffers;
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

/* ------------------------------------------------------ bogus adoption offers */

/* One offer as it goes on the wire: len bytes of body, nfds descriptors.
 * Every descriptor here is ours and closed once it is sent. */
struct offer {
	struct {
		struct app_attach m;
		uint8_t tail[8];      /* "long": bytes past the attach */
	} body;
	size_t len;
	int fds[3];
	unsigned nfds;
	struct region region;     /* the app-kind region some offers carry */
};

/* A pid that existed a moment ago and is no process now: a child that
 * exited at once, reaped. */
static pid_t dead_pid(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	if (pid < 0 || waitpid(pid, NULL, 0) != pid) {
		perror("fake_netd_app: fork/waitpid");
		exit(1);
	}
	return pid;
}

/* A memfd of len bytes of 0xa5 (len 0: empty): no region header. */
static int garbage_memfd(size_t len)
{
	static uint8_t junk[2 * REGION_ALIGN];
	int fd = memfd_create("fake_netd_junk", MFD_CLOEXEC);

	memset(junk, 0xa5, sizeof(junk));
	if (fd < 0 || len > sizeof(junk) || write(fd, junk, len) != (ssize_t)len) {
		perror("fake_netd_app: memfd");
		exit(1);
	}
	return fd;
}

/* A real app-kind region of the right layout version, with no areas: what
 * sockd's adoption check accepts (netd would refuse its replay). */
static void app_region(struct region *r)
{
	struct region_opts ro = { .name = "fake_netd_offer", .kind = REGION_KIND_APP,
				  .layout_version = APP_LAYOUT_VERSION,
				  .size = 2 * REGION_ALIGN, .flags = REGION_F_NO_NUMA };
	int err = region_create(r, &ro);

	if (err < 0) {
		fprintf(stderr, "fake_netd_app: region_create: %s\n", strerror(-err));
		exit(1);
	}
}

static int pipe_write_end(void)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
		perror("fake_netd_app: pipe2");
		exit(1);
	}
	close(p[0]);
	return p[1];
}

/* The offer a sockd would adopt: our pid and uid, an app region of the
 * stated size, a wake write end. The hostile kinds spoil one thing in it. */
static void offer_adoptable(struct offer *of, uint32_t app_id)
{
	app_region(&of->region);
	of->body.m = (struct app_attach){
		.magic = APP_ADOPT_MAGIC, .app_id = app_id, .pid = (uint32_t)getpid(),
		.uid = (uint32_t)getuid(), .nsocks = 64, .buf_size = APP_BUF_SIZE,
		.region_size = of->region.size,
	};
	of->len = sizeof(of->body.m);
	of->fds[0] = of->region.fd;
	of->fds[1] = pipe_write_end();
	of->nfds = 2;
}

static void offer_build(struct offer *of, enum offer_kind k)
{
	memset(of, 0, sizeof(*of));
	of->region.fd = -1;
	of->fds[0] = of->fds[1] = of->fds[2] = -1;
	offer_adoptable(of, 0x7f000000u + (uint32_t)k);   /* an id sockd never gave */
	switch (k) {
	case OFFER_DEAD:
		of->body.m.pid = (uint32_t)dead_pid();
		of->fds[0] = garbage_memfd(0);
		break;
	case OFFER_NOTREGION:
		of->fds[0] = garbage_memfd(2 * REGION_ALIGN);
		of->body.m.region_size = 2 * REGION_ALIGN;
		break;
	case OFFER_BADSIZE:
		of->body.m.region_size += REGION_ALIGN;
		break;
	case OFFER_NOFDS:
		of->nfds = 0;
		break;
	case OFFER_EXTRAFDS:
		of->fds[2] = garbage_memfd(0);
		of->nfds = 3;
		break;
	case OFFER_SHORT:
		of->len = 20;
		break;
	case OFFER_LONG:
		of->len = sizeof(of->body);
		break;
	default:
		break;
	}
}

static void offer_free(struct offer *of)
{
	if (of->fds[0] != of->region.fd && of->fds[0] >= 0)
		close(of->fds[0]);
	for (unsigned k = 1; k < 3; k++)
		if (of->fds[k] >= 0)
			close(of->fds[k]);
	region_close(&of->region);
}

/* Send one message with nfds descriptors (blocking). 0 or -errno. */
static int send_fds(int s, const void *buf, size_t len, const int *fds, unsigned nfds)
{
	union { char b[CMSG_SPACE(sizeof(int) * 3)]; struct cmsghdr a; } u;
	struct iovec iov = { (void *)buf, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (nfds > 3)
		return -EINVAL;
	if (nfds) {
		memset(&u, 0, sizeof(u));
		m.msg_control = u.b;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&m);
		*c = (struct cmsghdr){ .cmsg_len = CMSG_LEN(sizeof(int) * nfds),
				       .cmsg_level = SOL_SOCKET, .cmsg_type = SCM_RIGHTS };
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	return sendmsg(s, &m, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -errno;
}

/* Right after the welcome: every --offer, in order. A send that fails
 * counts as bad (the test would check nothing). */
static void send_offers(int s, const struct opts *o)
{
	for (unsigned i = 0; i < o->noffers; i++) {
		struct offer of;
		int err;

		offer_build(&of, o->offers[i]);
		err = send_fds(s, &of.body, of.len, of.fds, of.nfds);
		if (err < 0) {
			printf("fake_netd_app: offer %s send failed: %s\n",
			       offer_names[o->offers[i]], strerror(-err));
			n_bad++;
		} else {
			printf("fake_netd_app: offer %s sent: %zu bytes, %u fds\n",
			       offer_names[o->offers[i]], of.len, of.nfds);
		}
		offer_free(&of);
	}
	if (o->noffers)
		printf("fake_netd_app: offers sent=%u\n", o->noffers);
}

/* --offer LIST: names separated by commas, appended in order. */
static void parse_offers(struct opts *o, char *list)
{
	char *save = NULL;

	for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		unsigned k = 0;

		while (k < OFFER_NR && strcmp(t, offer_names[k]) != 0)
			k++;
		if (k == OFFER_NR || o->noffers == OFFERS_MAX) {
			fprintf(stderr, "fake_netd_app: --offer %s: unknown, or too many\n", t);
			exit(2);
		}
		o->offers[o->noffers++] = (enum offer_kind)k;
	}
}

static void parse(struct opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "run-dir", 1, 0, 'd' }, { "seconds", 1, 0, 's' }, { "expect-status", 1, 0, 'e' },
		{ "no-ack", 0, 0, 'n' }, { "ack-delay-ms", 1, 0, 'a' }, { "offer", 1, 0, 'o' },
		{ 0, 0, 0, 0 } };
	int c;

	*o = (struct opts){ .run_dir = "/run/ringstack", .seconds = 30 };
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd': o->run_dir = optarg; break;
		case 's': o->seconds = atof(optarg); break;
		case 'e': o->expect_status = atoi(optarg); o->expect_set = true; break;
		case 'n': o->no_ack = true; break;
		case 'a': o->ack_delay_ms = (unsigned)atoi(optarg); break;
		case 'o': parse_offers(o, optarg); break;
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
	send_offers(s, &o);
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
