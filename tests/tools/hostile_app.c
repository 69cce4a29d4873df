/* tests/tools/hostile_app.c — an application that gets admitted to the stack
 * and then attacks netd through everything it was given, for the end-to-end
 * hostile-app test (tests/integration/test_e2e_hostile.sh).
 *
 * Where it sits: where libsock would. It speaks the hello with sockd itself
 * (RUN_DIR/sockd.sock, shm/app_layout.h), maps the region it is handed and,
 * instead of well-formed commands, writes garbage into its own region and
 * rings. The design's promise under test (DESIGN.md, shm/app_layout.h
 * "Trust"): netd treats the region as hostile input, so a hostile app can hurt
 * only itself: netd and sockd keep running and every other app is unaffected.
 *
 *   --run-dir DIR     where sockd.sock is (default /run/ringstack)
 *   --mode M          what to do once admitted (default scribble):
 *       scribble      the phases below, in order, ringing netd's doorbell after
 *                     each and pausing --pause-ms so netd processes them
 *       close-mid-call post commands (sockets, connects to --target) and close
 *                     the sockd control socket before their completions arrive;
 *                     then keep posting into the region sockd has detached
 *       flood         fill the command ring, never read a completion, post more
 *   --target A:P      a kernel TCP listener the legitimate-looking commands
 *                     connect to (default 10.0.0.1:80)
 *   --seed N          PRNG seed (default: time); printed, for replay
 *   --pause-ms N      pause after each phase (default 150)
 *
 * The scribble phases (each names what netd must survive):
 *   1  legit      open 8 TCP sockets, connect them to --target, one UDP socket
 *   1b wakejam    fill the wake pipe and make both of the app's ends blocking,
 *                 so that a netd sharing their open file would block writing
 *                 (netd's own write end must stay nonblocking: shm/app_layout.h)
 *   2  badops     commands with unknown ops, op 0, APP_OP_MAX
 *   3  badsocks   every op on socket indices out of range, not open, ~0u
 *   4  badargs    bind/connect/listen/setsockopt with absurd addresses,
 *                 ports, backlogs, levels and option names
 *   5  notify     APP_OP_TX / RX_DONE for sockets that are not open
 *   6  brings     byte rings of the open sockets: tx.prod far ahead, rx.cons
 *                 beyond rx.prod, random indices; then APP_OP_TX on each
 *   7  udprec     a UDP tx record with an impossible length, and one that
 *                 claims APP_DGRAM_PAD mid-buffer
 *   8  socks      random bytes over app.socks (events, error, state, type)
 *   9  ctl        random bytes over app.ctl, doorbells included
 *   10 cplring    completion ring: cons moved past prod
 *   11 cmdring    command ring: prod far beyond cons + count, then random
 *   12 region     random bytes over the whole region, header included
 *
 * Prints one line per phase ("hostile_app: phase 3 badsocks: posted 120")
 * and "hostile_app: done". Exit 0 once every phase ran (what netd did about
 * them is for the test to read in netd's counters), 1 if not admitted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
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

struct opts {
	const char *run_dir, *mode;
	uint32_t target_addr;
	uint16_t target_port;
	uint64_t seed;
	unsigned pause_ms;
};

/* Everything the app was handed. */
struct victim {
	int sockd, efd, wfd;
	struct region r;
	struct app_ctl *ctl;
	struct ring *cmd_raw, *cpl_raw;
	size_t cmd_len, cpl_len, socks_len, bufs_len;
	struct ring_prod cmd;
	struct ring_cons cpl;
	struct app_sock *socks;
	uint8_t *bufs;
	uint32_t nsocks, seq;
};

static uint64_t rng_state;

/* xorshift64*: reproducible from --seed */
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static void fill_random(void *p, size_t n)
{
	uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)rnd();
}

static void pause_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------- admission */

/* Hello, welcome, map. 0 or -1 (reason printed). */
static int admit(struct victim *v, const struct opts *o)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct app_hello h = { .magic = APP_HELLO_MAGIC, .version = APP_HELLO_VERSION,
			       .role = APP_ROLE_APP, .layout_version = APP_LAYOUT_VERSION,
			       .pid = (uint32_t)getpid(), .name = "hostile_app" };
	union { char b[CMSG_SPACE(sizeof(int) * APP_WELCOME_NFDS)]; struct cmsghdr a; } u;
	struct app_welcome w = { 0 };
	struct iovec iov = { &w, sizeof(w) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
			    .msg_controllen = sizeof(u.b) };
	struct pollfd p;
	struct cmsghdr *c;
	int fds[APP_WELCOME_NFDS];

	v->sockd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", o->run_dir, APP_SOCK_FILE);
	if (v->sockd < 0 || connect(v->sockd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(v->sockd, &h, sizeof(h), MSG_NOSIGNAL) != sizeof(h)) {
		perror("hostile_app: sockd");
		return -1;
	}
	p = (struct pollfd){ v->sockd, POLLIN, 0 };
	if (poll(&p, 1, 5000) != 1 || recvmsg(v->sockd, &m, MSG_CMSG_CLOEXEC) != sizeof(w) ||
	    w.magic != APP_WELCOME_MAGIC || w.status != 0) {
		fprintf(stderr, "hostile_app: not welcomed (status %d)\n", w.status);
		return -1;
	}
	c = CMSG_FIRSTHDR(&m);
	if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(fds))) {
		fprintf(stderr, "hostile_app: welcome without its fds\n");
		return -1;
	}
	memcpy(fds, CMSG_DATA(c), sizeof(fds));
	v->efd = fds[1];
	v->wfd = fds[2];
	v->r.fd = -1;
	if (region_attach_fd(&v->r, fds[0], REGION_KIND_APP, APP_LAYOUT_VERSION) < 0) {
		fprintf(stderr, "hostile_app: region does not attach\n");
		return -1;
	}
	v->ctl = region_find(&v->r, APP_AREA_CTL, NULL);
	v->cmd_raw = region_find(&v->r, APP_AREA_CMD, &v->cmd_len);
	v->cpl_raw = region_find(&v->r, APP_AREA_CPL, &v->cpl_len);
	v->socks = region_find(&v->r, APP_AREA_SOCKS, &v->socks_len);
	v->bufs = region_find(&v->r, APP_AREA_BUFS, &v->bufs_len);
	if (!v->ctl || !v->cmd_raw || !v->cpl_raw || !v->socks || !v->bufs ||
	    ring_prod_attach(&v->cmd, v->cmd_raw, v->cmd_len, APP_CMD_RING, sizeof(struct app_cmd)) < 0 ||
	    ring_cons_attach(&v->cpl, v->cpl_raw, v->cpl_len, APP_CPL_RING, sizeof(struct app_cpl)) < 0) {
		fprintf(stderr, "hostile_app: region areas missing\n");
		return -1;
	}
	v->nsocks = v->ctl->nsocks;
	printf("hostile_app: admitted app_id=%u nsocks=%u seed=%llu\n", w.app_id, v->nsocks,
	       (unsigned long long)o->seed);
	return 0;
}

/* ------------------------------------------------------------- commands */

/* Post one command (no wait); ring netd. Returns 1 if it fit. */
static unsigned post(struct victim *v, uint16_t op, uint32_t sock, uint32_t addr, uint16_t port,
		     int32_t arg0, int32_t arg1, int64_t val)
{
	struct app_cmd c = { .op = op, .port = port, .sock = sock, .seq = ++v->seq, .addr = addr,
			     .arg0 = arg0, .arg1 = arg1, .val = val };
	unsigned n = ring_enqueue_bulk_elem(&v->cmd, &c, sizeof(c), 1);

	doorbell_ring(&v->ctl->netd);
	return n;
}

/* Read and discard every completion there is; returns how many. */
static unsigned drain(struct victim *v)
{
	struct app_cpl cpl[32];
	unsigned n, total = 0;

	while ((n = ring_dequeue_burst_elem(&v->cpl, cpl, sizeof(cpl[0]), 32)) > 0)
		total += n;
	return total;
}

/* Post and wait (up to ms) for a completion with its seq; its result, or -ETIME. */
static int call(struct victim *v, uint16_t op, uint32_t sock, uint32_t addr, uint16_t port,
		int32_t arg0, unsigned ms)
{
	struct app_cpl cpl;

	if (!post(v, op, sock, addr, port, arg0, 0, 0))
		return -ENOBUFS;
	for (unsigned t = 0; t < ms; t++) {
		while (ring_dequeue_bulk_elem(&v->cpl, &cpl, sizeof(cpl), 1) == 1)
			if (cpl.seq == v->seq)
				return cpl.result;
		pause_ms(1);
	}
	return -ETIME;
}

/* ------------------------------------------------------------- phases */

static unsigned phase_legit(struct victim *v, const struct opts *o)
{
	unsigned ok = 0;

	for (uint32_t s = 0; s < 8 && s < v->nsocks; s++) {
		v->socks[s].state = APP_SOCK_OPEN;
		v->socks[s].type = SOCK_STREAM;
		if (call(v, APP_OP_SOCKET, s, 0, 0, SOCK_STREAM, 500) == 0)
			ok++;
		int r = call(v, APP_OP_CONNECT, s, o->target_addr, o->target_port, 0, 500);
		ok += (r == 0 || r == -EINPROGRESS);
	}
	if (v->nsocks > 8) {
		v->socks[8].state = APP_SOCK_OPEN;
		v->socks[8].type = SOCK_DGRAM;
		ok += call(v, APP_OP_SOCKET, 8, 0, 0, SOCK_DGRAM, 500) == 0;
		ok += call(v, APP_OP_BIND, 8, 0, 0, 0, 500) == 0;
	}
	pause_ms(100);          /* the handshakes complete */
	return ok;
}

static unsigned phase_badops(struct victim *v)
{
	static const uint16_t ops[] = { 0, APP_OP_MAX, APP_OP_MAX + 1, 0x7fff, 0xffff };
	unsigned n = 0;

	for (unsigned k = 0; k < 64; k++)
		n += post(v, k < 5 ? ops[k] : (uint16_t)rnd(), (uint32_t)rnd() % 16, (uint32_t)rnd(),
			  (uint16_t)rnd(), (int32_t)rnd(), (int32_t)rnd(), (int64_t)rnd());
	return n;
}

static unsigned phase_badsocks(struct victim *v)
{
	const uint32_t socks[] = { v->nsocks, v->nsocks + 1, APP_SOCKS_MAX, 0x7fffffffu, ~0u, 200 };
	unsigned n = 0;

	for (unsigned i = 0; i < sizeof(socks) / sizeof(socks[0]); i++)
		for (uint16_t op = 1; op < APP_OP_MAX; op++)
			n += post(v, op, socks[i], 0x0a000001u, 80, SOCK_STREAM, 1, 1);
	for (uint16_t op = APP_OP_BIND; op < APP_OP_MAX; op++)  /* in range, never opened */
		n += post(v, op, 100, 0x0a000001u, 80, 0, 0, 0);
	return n;
}

static unsigned phase_badargs(struct victim *v)
{
	unsigned n = 0;

	n += post(v, APP_OP_SOCKET, 9, 0, 0, 12345, 0, 0);                 /* bad type */
	n += post(v, APP_OP_SOCKET, 0, 0, 0, SOCK_STREAM, 0, 0);           /* already open */
	n += post(v, APP_OP_BIND, 0, 0xffffffffu, 0, ~0, 0, 0);
	n += post(v, APP_OP_CONNECT, 1, 0, 0, 0, 0, 0);                    /* 0.0.0.0:0 */
	n += post(v, APP_OP_CONNECT, 2, 0xe0000001u, 9, 0, 0, 0);          /* multicast */
	n += post(v, APP_OP_CONNECT, 3, 0x0a000002u, 80, 0, 0, 0);         /* ourselves */
	n += post(v, APP_OP_LISTEN, 4, 0, 0, -1, 0, 0);
	n += post(v, APP_OP_LISTEN, 5, 0, 0, 0x7fffffff, 0, 0);
	n += post(v, APP_OP_SHUTDOWN, 6, 0, 0, 77, 0, 0);
	for (unsigned k = 0; k < 32; k++)
		n += post(v, APP_OP_SETSOCKOPT, (uint32_t)rnd() % 9, 0, 0, (int32_t)rnd(),
			  (int32_t)rnd(), (int64_t)rnd());
	for (unsigned k = 0; k < 32; k++)
		n += post(v, APP_OP_GETSOCKOPT, (uint32_t)rnd() % 9, 0, 0, (int32_t)rnd() % 300,
			  (int32_t)rnd() % 100, 0);
	n += post(v, APP_OP_GETNAME, 0, 0, 0, 7, 0, 0);
	n += post(v, APP_OP_ACCEPT, 0, 0, 0, (int32_t)v->nsocks + 5, 0, 0);  /* not a listener, bad index */
	/* fork records for pids that are no children (0, -1, init, our own),
	 * more than netd keeps; inherits from parents that never forked us, of
	 * sockets that are no listeners, into indices in use */
	n += post(v, APP_OP_FORK, 0, 0, 0, 0, 0, 0);
	n += post(v, APP_OP_FORK, 0, 0, 0, -1, 0, 0);
	for (unsigned k = 0; k < 140; k++)
		n += post(v, APP_OP_FORK, 0, 0, 0, 1, 0, 0);
	n += post(v, APP_OP_FORK, 0, 0, 0, (int32_t)getpid(), 0, 0);
	n += post(v, APP_OP_INHERIT, 10, 0, 0, 0, 1, 0);                    /* init never forked us */
	n += post(v, APP_OP_INHERIT, 11, 0, 0, 0, (int32_t)getpid(), 0);    /* our own "parent" */
	n += post(v, APP_OP_INHERIT, 12, 0, 0, -5, (int32_t)getppid(), 0);
	n += post(v, APP_OP_INHERIT, 0, 0, 0, 0x7fffffff, -1, 0);
	return n;
}

static unsigned phase_notify(struct victim *v)
{
	unsigned n = 0;

	for (unsigned k = 0; k < 64; k++)
		n += post(v, k & 1 ? APP_OP_TX : APP_OP_RX_DONE, 20 + (uint32_t)rnd() % 200, 0, 0, 0, 0, 0);
	return n;
}

static unsigned phase_brings(struct victim *v)
{
	unsigned n = 0;

	for (uint32_t s = 0; s < 9 && s < v->nsocks; s++) {
		struct app_sock *k = &v->socks[s];
		uint32_t rp = atomic_load(&k->rx.prod);

		switch (s % 4) {
		case 0: atomic_store(&k->tx.prod, atomic_load(&k->tx.cons) + 0x80000000u); break;
		case 1: atomic_store(&k->rx.cons, rp + 12345); break;
		case 2: atomic_store(&k->tx.prod, (uint32_t)rnd()); atomic_store(&k->tx.cons, (uint32_t)rnd()); break;
		default: atomic_store(&k->rx.cons, (uint32_t)rnd()); atomic_store(&k->rx.prod, (uint32_t)rnd()); break;
		}
		n += post(v, APP_OP_TX, s, 0, 0, 0, 0, 0);
		n += post(v, APP_OP_RX_DONE, s, 0, 0, 0, 0, 0);
	}
	return n;
}

static unsigned phase_udprec(struct victim *v)
{
	const uint32_t s = 8;
	uint32_t size = v->ctl->buf_size;   /* a lie would only hurt us: bounds are netd's own */
	unsigned n = 0;

	if (v->nsocks <= s || size != APP_BUF_SIZE)
		return 0;
	uint8_t *tx = v->bufs + app_buf_off(s, APP_BUF_SIZE, 1);
	struct app_sock *k = &v->socks[s];
	uint32_t prod = atomic_load(&k->tx.cons);
	struct app_dgram d = { .len = 0x7ffffff0u, .addr = 0x0a000001u, .port = 9 };

	atomic_store(&k->tx.prod, prod);
	memcpy(tx + (prod & (APP_BUF_SIZE - 1)), &d, sizeof(d));
	atomic_store(&k->tx.prod, prod + 64);
	n += post(v, APP_OP_TX, s, 0, 0, 0, 0, 0);
	pause_ms(20);
	d = (struct app_dgram){ .len = APP_DGRAM_PAD, .addr = 0x0a000001u, .port = 9 };
	prod = atomic_load(&k->tx.cons);
	memcpy(tx + (prod & (APP_BUF_SIZE - 1)), &d, sizeof(d));
	atomic_store(&k->tx.prod, prod + 16);
	n += post(v, APP_OP_TX, s, 0, 0, 0, 0, 0);
	return n;
}

static unsigned phase_socks(struct victim *v)
{
	fill_random(v->socks, v->socks_len);
	unsigned n = 0;
	for (uint32_t s = 0; s < 16 && s < v->nsocks; s++)
		n += post(v, (uint16_t)(APP_OP_TX + (s & 1)), s, 0, 0, 0, 0, 0);
	return n;
}

static unsigned phase_ctl(struct victim *v)
{
	struct doorbell keep = v->ctl->netd;   /* to ring netd once more afterwards */
	unsigned n;

	fill_random(v->ctl, sizeof(*v->ctl));
	n = post(v, APP_OP_GETNAME, 0, 0, 0, 0, 0, 0);
	v->ctl->netd = keep;
	doorbell_ring(&v->ctl->netd);
	return n;
}

static unsigned phase_cplring(struct victim *v)
{
	atomic_store(&v->cpl_raw->cons, atomic_load(&v->cpl_raw->prod) + 5000);
	return post(v, APP_OP_GETNAME, 0, 0, 0, 0, 0, 0);
}

static unsigned phase_cmdring(struct victim *v)
{
	atomic_store(&v->cmd_raw->prod, atomic_load(&v->cmd_raw->cons) + 3 * APP_CMD_RING);
	doorbell_ring(&v->ctl->netd);
	pause_ms(20);
	atomic_store(&v->cmd_raw->prod, (uint32_t)rnd());
	v->cmd_raw->mask = (uint32_t)rnd();
	doorbell_ring(&v->ctl->netd);
	return 2;
}

static unsigned phase_region(struct victim *v)
{
	struct doorbell keep = v->ctl->netd;

	fill_random(v->r.base, v->r.size > (64u << 20) ? (64u << 20) : v->r.size);
	v->ctl->netd = keep;
	doorbell_ring(&v->ctl->netd);
	return 1;
}

/* Fill the wake pipe (bounded: a pipe holds at most 1 MiB by default), then
 * clear O_NONBLOCK on the app's ends. Returns the bytes written. */
static unsigned phase_wakejam(struct victim *v)
{
	static const char junk[4096];
	unsigned total = 0;
	ssize_t n;

	fcntl(v->wfd, F_SETFL, fcntl(v->wfd, F_GETFL) | O_NONBLOCK);
	for (int i = 0; i < 4096 && (n = write(v->wfd, junk, sizeof(junk))) > 0; i++)
		total += (unsigned)n;
	fcntl(v->wfd, F_SETFL, fcntl(v->wfd, F_GETFL) & ~O_NONBLOCK);
	fcntl(v->efd, F_SETFL, fcntl(v->efd, F_GETFL) & ~O_NONBLOCK);
	/* Announce a sleeper, so that netd's next ring really writes. */
	(void)doorbell_prepare_wait(&v->ctl->wake);
	return total;
}

static int scribble(struct victim *v, const struct opts *o)
{
	unsigned n;

	n = phase_legit(v, o);
	printf("hostile_app: phase 1 legit: %u of 19 calls succeeded\n", n);
	n = phase_wakejam(v);
	printf("hostile_app: phase 1b wakejam: %u bytes in the wake pipe, its ends now blocking\n", n);
#define PHASE(num, name, call)                                                     \
	do {                                                                       \
		n = (call);                                                        \
		pause_ms(o->pause_ms);                                             \
		printf("hostile_app: phase %d %s: posted %u, %u completions\n", num, \
		       name, n, drain(v));                                         \
	} while (0)
	PHASE(2, "badops", phase_badops(v));
	PHASE(3, "badsocks", phase_badsocks(v));
	PHASE(4, "badargs", phase_badargs(v));
	PHASE(5, "notify", phase_notify(v));
	PHASE(6, "brings", phase_brings(v));
	PHASE(7, "udprec", phase_udprec(v));
	PHASE(8, "socks", phase_socks(v));
	PHASE(9, "ctl", phase_ctl(v));
	PHASE(10, "cplring", phase_cplring(v));
	PHASE(11, "cmdring", phase_cmdring(v));
	PHASE(12, "region", phase_region(v));
#undef PHASE
	return 0;
}

static int close_mid_call(struct victim *v, const struct opts *o)
{
	unsigned n = 0;

	for (uint32_t s = 0; s < 16 && s < v->nsocks; s++) {
		n += post(v, APP_OP_SOCKET, s, 0, 0, SOCK_STREAM, 0, 0);
		n += post(v, APP_OP_CONNECT, s, o->target_addr, o->target_port, 0, 0, 0);
	}
	close(v->sockd);            /* mid-call: the completions are not in yet */
	v->sockd = -1;
	printf("hostile_app: posted %u, closed the control socket\n", n);
	n = 0;
	for (unsigned k = 0; k < 50; k++) {   /* keep talking into a detached region */
		n += post(v, APP_OP_SOCKET, 16 + k % 16, 0, 0, SOCK_STREAM, 0, 0);
		pause_ms(10);
	}
	printf("hostile_app: posted %u more after the close, %u completions\n", n, drain(v));
	return 0;
}

static int flood(struct victim *v, const struct opts *o)
{
	unsigned n = 0;

	for (unsigned k = 0; k < 4 * APP_CMD_RING; k++) {
		n += post(v, APP_OP_GETNAME, 0, 0, 0, 0, 0, 0);
		if ((k & 255) == 255)
			pause_ms(o->pause_ms / 4 + 1);
	}
	printf("hostile_app: flood posted %u commands, read no completion\n", n);
	return 0;
}

/* ------------------------------------------------------------- main */

static void parse(struct opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "run-dir", 1, 0, 'd' }, { "mode", 1, 0, 'm' }, { "target", 1, 0, 't' },
		{ "seed", 1, 0, 's' }, { "pause-ms", 1, 0, 'p' }, { 0, 0, 0, 0 } };
	struct in_addr a;
	char *colon;
	int c;

	*o = (struct opts){ .run_dir = "/run/ringstack", .mode = "scribble",
			    .target_addr = 0x0a000001u, .target_port = 80,
			    .seed = (uint64_t)time(NULL), .pause_ms = 150 };
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd': o->run_dir = optarg; break;
		case 'm': o->mode = optarg; break;
		case 't':
			colon = strchr(optarg, ':');
			if (!colon) goto usage;
			*colon = '\0';
			if (inet_pton(AF_INET, optarg, &a) != 1) goto usage;
			o->target_addr = ntohl(a.s_addr);
			o->target_port = (uint16_t)atoi(colon + 1);
			break;
		case 's': o->seed = strtoull(optarg, NULL, 0); break;
		case 'p': o->pause_ms = (unsigned)atoi(optarg); break;
		default: goto usage;
		}
	}
	return;
usage:
	fprintf(stderr, "hostile_app: see the file's header for options\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct victim v = { .sockd = -1, .efd = -1, .wfd = -1, .r = { .fd = -1 } };
	struct opts o;
	int rc;

	parse(&o, argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	rng_state = o.seed ? o.seed : 1;
	if (admit(&v, &o) < 0)
		return 1;
	if (!strcmp(o.mode, "close-mid-call"))
		rc = close_mid_call(&v, &o);
	else if (!strcmp(o.mode, "flood"))
		rc = flood(&v, &o);
	else
		rc = scribble(&v, &o);
	printf("hostile_app: done\n");
	return rc ? 1 : 0;
}
