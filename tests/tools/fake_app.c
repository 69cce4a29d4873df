/* tests/tools/fake_app.c — a test client speaking the APP side of sockd's
 * hello, for sockd's integration test.
 *
 * Where it sits: where libsock will. It connects to RUN_DIR/sockd.sock, says
 * hello, and for a welcome with status 0 maps the region it is handed and
 * checks the layout as an app sees it (shm/app_layout.h): region kind and
 * version, every area and its size, app.ctl's fields (its own pid and uid,
 * the welcome's app_id), both doorbells, both rings attachable from the
 * app's side, the memfd's size seals, and that fd [1] is a non-blocking
 * eventfd.
 *
 *   --run-dir DIR        where sockd.sock is (default /run/ringstack)
 *   --expect LIST        statuses the connections must get, in order, e.g.
 *                        "0,0,-87": one connection per item (default "0")
 *   --nsocks N           app.ctl.nsocks expected (default APP_SOCKS_DEF)
 *   --expect-flags N     app.ctl.flags expected (APP_F_BIND_PRIV is 1)
 *   --layout-version N   put N in the hello (sockd must answer -EPROTO)
 *   --ping               post one command and wait (2 s) for its completion
 *                        through the wake eventfd (fake_netd_app answers)
 *   --hold S             keep the connections open S seconds after the checks
 *   --mode M             misbehave instead of a normal hello:
 *       close-early      connect, then close without a word
 *       half             send the first 10 bytes of a hello (a short record)
 *       garbage          send 32 bytes of nonsense
 *       hello-close      send a good hello and close at once (mid-call)
 *       extra            a normal admission, then one message more
 *       with-fds         a normal hello carrying two fds (sockd closes them)
 *       silent           connect and say nothing (sockd must drop it: EOF)
 *       fork-exit        a normal admission, then exit while a child keeps
 *                        the socket open 3 s (sockd must see the pidfd)
 *
 * Prints one line per connection ("fake_app: conn=0 status=0 app_id=3
 * flags=0x1 wait_ms=1 layout=ok") and "fake_app: holding" before --hold.
 * Exit 0 when every status (and check) is as expected, else 1.
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
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "shm/app_layout.h"
#include "shm/doorbell.h"
#include "shm/region.h"
#include "shm/ring.h"

#define CONNS_MAX 16

struct opts {
	const char *run_dir, *mode;
	int expect[CONNS_MAX];
	unsigned nexpect, nsocks, layout_version;
	long expect_flags;
	bool ping;
	double hold;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int connect_sockd(const struct opts *o)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", o->run_dir, APP_SOCK_FILE);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("fake_app: connect");
		exit(1);
	}
	return s;
}

/* Send the hello (or the --mode's misbehaviour). Returns false if this
 * mode expects no welcome at all. */
static bool send_hello(int s, const struct opts *o)
{
	struct app_hello h = { .magic = APP_HELLO_MAGIC, .version = APP_HELLO_VERSION,
			       .role = APP_ROLE_APP, .layout_version = o->layout_version,
			       .pid = 1 /* a lie sockd must ignore */, .name = "fake_app" };
	union { char b[CMSG_SPACE(sizeof(int) * 2)]; struct cmsghdr a; } u;
	struct iovec iov = { &h, sizeof(h) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fds[2] = { 0, 1 };
	char junk[32];

	if (!strcmp(o->mode, "close-early"))
		return false;
	if (!strcmp(o->mode, "silent"))
		return true;
	if (!strcmp(o->mode, "half"))
		iov.iov_len = 10;
	if (!strcmp(o->mode, "garbage")) {
		for (unsigned k = 0; k < sizeof(junk); k++)
			junk[k] = (char)(k * 37 + 11);
		iov = (struct iovec){ junk, sizeof(junk) };
	}
	if (!strcmp(o->mode, "with-fds")) {
		m.msg_control = u.b;
		m.msg_controllen = sizeof(u.b);
		CMSG_FIRSTHDR(&m)->cmsg_level = SOL_SOCKET;
		CMSG_FIRSTHDR(&m)->cmsg_type = SCM_RIGHTS;
		CMSG_FIRSTHDR(&m)->cmsg_len = CMSG_LEN(sizeof(fds));
		memcpy(CMSG_DATA(CMSG_FIRSTHDR(&m)), fds, sizeof(fds));
	}
	if (sendmsg(s, &m, MSG_NOSIGNAL) < 0)
		perror("fake_app: send");
	return strcmp(o->mode, "hello-close") != 0;
}

/* Wait (5 s at most) for the welcome and its fds. Returns its status, or
 * 1000 for EOF (sockd closed without a welcome), 1001 for no answer, 1002
 * for something that is not a welcome. */
static int recv_welcome(int s, struct app_welcome *w, int *fds)
{
	union { char b[CMSG_SPACE(sizeof(int) * APP_WELCOME_NFDS)]; struct cmsghdr a; } u;
	struct iovec iov = { w, sizeof(*w) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
			    .msg_controllen = sizeof(u.b) };
	struct pollfd p = { s, POLLIN, 0 };
	struct cmsghdr *c;
	ssize_t n;

	fds[0] = fds[1] = fds[2] = -1;
	if (poll(&p, 1, 5000) != 1)
		return 1001;
	n = recvmsg(s, &m, MSG_CMSG_CLOEXEC);
	if (n == 0)
		return 1000;
	if (n != sizeof(*w) || w->magic != APP_WELCOME_MAGIC)
		return 1002;
	c = CMSG_FIRSTHDR(&m);
	if (w->status == 0 && c && c->cmsg_type == SCM_RIGHTS &&
	    c->cmsg_len == CMSG_LEN(sizeof(int) * APP_WELCOME_NFDS))
		memcpy(fds, CMSG_DATA(c), sizeof(int) * APP_WELCOME_NFDS);
	return w->status;
}

#define CHECK(cond, what) do { if (!(cond)) { why = what; goto bad; } } while (0)

/* fds[1] and fds[2]: the two ends of one non-blocking pipe (the wake
 * channel, shm/app_layout.h): a byte written to [2] is read from [1]. */
static int check_wake_pipe(int rfd, int wfd)
{
	char link_r[64], link_w[64], path[64], b = 1;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", rfd);
	n = readlink(path, link_r, sizeof(link_r) - 1);
	if (n <= 0)
		return -1;
	link_r[n] = '\0';
	snprintf(path, sizeof(path), "/proc/self/fd/%d", wfd);
	n = readlink(path, link_w, sizeof(link_w) - 1);
	if (n <= 0)
		return -1;
	link_w[n] = '\0';
	if (!strstr(link_r, "pipe:") || strcmp(link_r, link_w) != 0 ||
	    !(fcntl(rfd, F_GETFL) & O_NONBLOCK))
		return -1;
	return write(wfd, &b, 1) == 1 && read(rfd, &b, 1) == 1 ? 0 : -1;
}

/* The app's views: producer of app.cmd, consumer of app.cpl. 0 or -1. */
static int attach_rings(struct region *r, struct ring_prod *cmd, struct ring_cons *cpl)
{
	size_t len_cmd = 0, len_cpl = 0;
	void *pcmd = region_find(r, APP_AREA_CMD, &len_cmd);
	void *pcpl = region_find(r, APP_AREA_CPL, &len_cpl);

	if (!pcmd || !pcpl ||
	    ring_prod_attach(cmd, pcmd, len_cmd, APP_CMD_RING, sizeof(struct app_cmd)) < 0 ||
	    ring_cons_attach(cpl, pcpl, len_cpl, APP_CPL_RING, sizeof(struct app_cpl)) < 0)
		return -1;
	return 0;
}

/* Everything libsock will rely on, as an app sees it. */
static int check_layout(struct region *r, const struct app_welcome *w, const int *fds,
			const struct opts *o, struct app_ctl **ctlp)
{
	struct ring_prod cmd;
	struct ring_cons cpl;
	struct app_ctl *ctl;
	struct app_sock *socks;
	const char *why;
	uint8_t *bufs;
	size_t len;
	int seals;

	CHECK(fds[0] >= 0 && fds[1] >= 0 && fds[2] >= 0, "welcome without 3 fds");
	seals = fcntl(fds[0], F_GET_SEALS);
	CHECK(seals >= 0 && (seals & F_SEAL_SHRINK) && (seals & F_SEAL_GROW), "size not sealed");
	CHECK(check_wake_pipe(fds[1], fds[2]) == 0, "fds [1], [2] are not one non-blocking pipe");
	CHECK(region_attach_fd(r, fds[0], REGION_KIND_APP, APP_LAYOUT_VERSION) == 0,
	      "region does not attach as REGION_KIND_APP v1");
	CHECK(r->size == w->region_size, "region size differs from the welcome");
	*ctlp = ctl = region_find(r, APP_AREA_CTL, &len);
	CHECK(ctl && len >= sizeof(*ctl), "no app.ctl");
	CHECK(ctl->magic == APP_CTL_MAGIC && ctl->version == APP_LAYOUT_VERSION, "app.ctl magic");
	CHECK(ctl->app_id == w->app_id, "app.ctl app_id != welcome's");
	CHECK(ctl->pid == (uint32_t)getpid() && ctl->uid == (uint32_t)getuid(), "app.ctl pid/uid");
	CHECK(ctl->nsocks == o->nsocks && ctl->buf_size == APP_BUF_SIZE, "app.ctl geometry");
	CHECK(o->expect_flags < 0 || ctl->flags == (uint32_t)o->expect_flags, "app.ctl flags");
	CHECK(doorbell_validate(&ctl->wake) == 0 && doorbell_validate(&ctl->netd) == 0, "doorbells");
	CHECK(attach_rings(r, &cmd, &cpl) == 0, "app.cmd/app.cpl rings (app's side)");
	socks = region_find(r, APP_AREA_SOCKS, &len);
	CHECK(socks && o->nsocks > 0 && len == o->nsocks * sizeof(*socks) && socks[0].state == APP_SOCK_FREE &&
	      socks[o->nsocks - 1].state == APP_SOCK_FREE, "app.socks");
	bufs = region_find(r, APP_AREA_BUFS, &len);
	CHECK(bufs && len == (size_t)o->nsocks * 2 * APP_BUF_SIZE, "app.bufs size");
	bufs[len - 1] = 1;           /* the last byte is mapped and writable */
	return 0;
bad:
	printf("fake_app: layout=FAIL (%s)\n", why);
	return -1;
}

/* One command through netd and back: the rings and both doorbells work. */
static int ping(struct region *r, struct app_ctl *ctl, int efd)
{
	struct app_cmd c = { .op = APP_OP_SOCKET, .sock = 0, .seq = 0x5eed, .arg0 = SOCK_STREAM };
	struct app_cpl cpl;
	struct ring_prod cmd;
	struct ring_cons cq;
	uint64_t t0 = now_ms();

	if (attach_rings(r, &cmd, &cq) < 0 || ring_enqueue_bulk_elem(&cmd, &c, sizeof(c), 1) != 1)
		return -1;
	doorbell_ring(&ctl->netd);
	while (now_ms() - t0 < 2000) {
		uint32_t tok;

		if (ring_dequeue_bulk_elem(&cq, &cpl, sizeof(cpl), 1) == 1)
			return cpl.seq == c.seq && cpl.result == 0 ? (int)(now_ms() - t0) : -1;
		tok = doorbell_prepare_wait(&ctl->wake);
		if (!ring_cons_empty(&cq))
			doorbell_cancel_wait(&ctl->wake, tok);
		else
			doorbell_wait_eventfd(&ctl->wake, tok, efd, 100 * 1000000ll);
	}
	return -1;
}

/* One connection: hello, welcome, checks. Returns 0 if all as expected. */
static int one_conn(unsigned i, const struct opts *o, int *sock)
{
	struct app_welcome w = { 0 };
	struct region r = { .fd = -1 };
	struct app_ctl *ctl = NULL;
	int fds[APP_WELCOME_NFDS] = { -1, -1, -1 }, st, ok = 0;
	uint64_t t0 = now_ms();

	*sock = connect_sockd(o);
	if (!send_hello(*sock, o)) {
		close(*sock);
		*sock = -1;
		printf("fake_app: conn=%u mode=%s sent\n", i, o->mode);
		return 0;
	}
	st = recv_welcome(*sock, &w, fds);
	if (st == 0) {
		ok = check_layout(&r, &w, fds, o, &ctl);
		if (ok == 0 && o->ping && ping(&r, ctl, fds[1]) < 0)
			ok = -1;
	}
	printf("fake_app: conn=%u status=%d app_id=%u flags=%#x wait_ms=%u layout=%s%s\n", i, st,
	       w.app_id, ctl ? ctl->flags : 0, (unsigned)(now_ms() - t0),
	       st ? "none" : ok ? "FAIL" : "ok", o->ping && st == 0 ? (ok ? " ping=FAIL" : " ping=ok") : "");
	if (st == 0 && !strcmp(o->mode, "extra"))
		send(*sock, "more", 4, MSG_NOSIGNAL);
	return (st == o->expect[i] && ok == 0) ? 0 : -1;
}

static void parse(struct opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "run-dir", 1, 0, 'd' }, { "expect", 1, 0, 'e' }, { "nsocks", 1, 0, 'n' },
		{ "expect-flags", 1, 0, 'f' }, { "layout-version", 1, 0, 'l' }, { "ping", 0, 0, 'p' },
		{ "hold", 1, 0, 'H' }, { "mode", 1, 0, 'm' }, { 0, 0, 0, 0 } };
	char *tok, *save = NULL;
	int c;

	*o = (struct opts){ .run_dir = "/run/ringstack", .mode = "normal", .nexpect = 1,
			    .nsocks = APP_SOCKS_DEF, .layout_version = APP_LAYOUT_VERSION,
			    .expect_flags = -1 };
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd': o->run_dir = optarg; break;
		case 'e':
			o->nexpect = 0;
			for (tok = strtok_r(optarg, ",", &save); tok && o->nexpect < CONNS_MAX;
			     tok = strtok_r(NULL, ",", &save))
				o->expect[o->nexpect++] = atoi(tok);
			break;
		case 'n': o->nsocks = (unsigned)atoi(optarg); break;
		case 'f': o->expect_flags = atol(optarg); break;
		case 'l': o->layout_version = (unsigned)atoi(optarg); break;
		case 'p': o->ping = true; break;
		case 'H': o->hold = atof(optarg); break;
		case 'm': o->mode = optarg; break;
		default: fprintf(stderr, "fake_app: see the file's header for options\n"); exit(2);
		}
	}
}

int main(int argc, char **argv)
{
	struct opts o;
	int socks[CONNS_MAX], fails = 0;
	uint64_t end;

	parse(&o, argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGTERM, on_signal);
	for (unsigned i = 0; i < o.nexpect; i++)
		fails += one_conn(i, &o, &socks[i]) < 0;
	if (!strcmp(o.mode, "fork-exit") && fork() == 0) {
		sleep(3);            /* the child holds the sockets; the parent leaves */
		_exit(0);
	}
	if (o.hold > 0) {
		printf("fake_app: holding\n");
		end = now_ms() + (uint64_t)(o.hold * 1000);
		while (!stop && now_ms() < end)
			usleep(20000);
	}
	return fails ? 1 : 0;
}
