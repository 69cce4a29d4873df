/* sockd/main.c — the socket daemon's process: flags, run directory, signals,
 * systemd notification, and the one epoll loop everything else runs in.
 *
 * Where it sits: sockd is the control plane of the application boundary
 * (docs/SOCKD.md). It is on no packet's path: an app meets it once, at its
 * hello, and netd hears from it once per app arrival and departure.
 *
 * Start-up: lock the run directory (one sockd per directory), open the stats
 * region, listen on sockd.sock, READY=1. Shutdown (SIGTERM, SIGINT):
 * STOPPING=1, close every app and the netd connection, print the counters,
 * exit 0. SIGUSR1 prints the counters.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "sockd/sockd.h"
#include "shm/rundir.h"

#define LOOP_WAIT_MS_MAX 1000   /* the loop wakes at least this often (timers) */

void sockd_log(int prio, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "<%d>sockd: ", prio);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

uint64_t sockd_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int sockd_epoll_add(struct sockd *sd, int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event ev = { .events = events, .data.u64 = tag };

	return epoll_ctl(sd->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int sockd_epoll_mod(struct sockd *sd, int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event ev = { .events = events, .data.u64 = tag };

	return epoll_ctl(sd->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void sockd_status(struct sockd *sd)
{
	sd_notifyf(0, "STATUS=%u app(s), %u waiting for netd; netd %s",
		   atomic_load_explicit(&sd->gauge->apps_live, memory_order_relaxed),
		   atomic_load_explicit(&sd->gauge->apps_pending, memory_order_relaxed),
		   sd->netd.fd >= 0 ? "connected" : "not connected");
}

/* ------------------------------------------------------------------ flags */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sockd [options]\n"
		"  --run-dir DIR            sockd.sock, sockd.stats, sockd.lock (default %s)\n"
		"  --max-apps N             apps admitted at once, 1..%u (default %u)\n"
		"  --max-apps-per-uid N     apps of one uid at once (default %u)\n"
		"  --max-sockets N          sockets per app, 1..%u (default %u)\n"
		"  --attach-timeout-ms N    how long an app waits for netd (default %u)\n",
		SOCKD_RUN_DIR_DEFAULT, SOCKD_APPS_MAX, SOCKD_APPS_DEF, SOCKD_APPS_PER_UID_DEF,
		APP_SOCKS_MAX, APP_SOCKS_DEF, SOCKD_ATTACH_MS_DEF);
}

/* A number option in [lo, hi]; exits with usage on anything else. */
static unsigned num_arg(const char *name, const char *s, unsigned lo, unsigned hi)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (*s == '\0' || *end != '\0' || errno || v < lo || v > hi) {
		sockd_log(SOCKD_ERR, "--%s %s: want %u..%u", name, s, lo, hi);
		exit(2);
	}
	return (unsigned)v;
}

static void parse_args(struct sockd_config *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "run-dir", 1, 0, 'd' }, { "max-apps", 1, 0, 'a' },
		{ "max-apps-per-uid", 1, 0, 'u' }, { "max-sockets", 1, 0, 's' },
		{ "attach-timeout-ms", 1, 0, 't' }, { "help", 0, 0, 'h' }, { 0, 0, 0, 0 } };
	int o;

	*c = (struct sockd_config){ .run_dir = SOCKD_RUN_DIR_DEFAULT, .max_apps = SOCKD_APPS_DEF,
		.max_per_uid = SOCKD_APPS_PER_UID_DEF, .nsocks = APP_SOCKS_DEF,
		.attach_ms = SOCKD_ATTACH_MS_DEF };
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'd': c->run_dir = optarg; break;
		case 'a': c->max_apps = num_arg("max-apps", optarg, 1, SOCKD_APPS_MAX); break;
		case 'u': c->max_per_uid = num_arg("max-apps-per-uid", optarg, 1, SOCKD_APPS_MAX); break;
		case 's': c->nsocks = num_arg("max-sockets", optarg, 1, APP_SOCKS_MAX); break;
		case 't': c->attach_ms = num_arg("attach-timeout-ms", optarg, 1, 60000); break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc) {
		usage(stderr);
		exit(2);
	}
}

/* ---------------------------------------------------------------- process */

/* Every app costs sockd six descriptors (socket, pidfd, region, three pipe ends):
 * take the hard limit rather than fail admissions at the soft 1024. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Signals arrive through a signalfd in the epoll set. */
static int signals_open(struct sockd *sd)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	sd->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sd->sig_fd < 0)
		return -errno;
	return sockd_epoll_add(sd, sd->sig_fd, EPOLLIN, sockd_tag(SOCKD_TAG_SIGNAL, 0, 0));
}

static void signals_read(struct sockd *sd)
{
	struct signalfd_siginfo si;

	/* bounded: a signalfd holds at most one pending instance per signal */
	for (int n = 0; n < 8 && read(sd->sig_fd, &si, sizeof(si)) == sizeof(si); n++) {
		if (si.ssi_signo == SIGUSR1) {
			sockd_stats_print(sd, stderr);
		} else {
			sockd_log(SOCKD_INFO, "signal %u: stopping", si.ssi_signo);
			sd->stop = true;
		}
	}
}

/* ------------------------------------------------------------------- loop */

/* Whether a tag still names the slot it was registered for. */
static bool tag_live(const struct sockd *sd, uint64_t tag)
{
	unsigned i = sockd_tag_slot(tag);

	return i < sd->nslots && sd->apps[i].state != SOCKD_SLOT_FREE &&
	       sd->apps[i].gen == sockd_tag_gen(tag);
}

static void dispatch(struct sockd *sd, const struct epoll_event *ev)
{
	uint64_t tag = ev->data.u64;

	switch (sockd_tag_kind(tag)) {
	case SOCKD_TAG_LISTEN: sockd_accept(sd); break;
	case SOCKD_TAG_SIGNAL: signals_read(sd); break;
	case SOCKD_TAG_CONN:
		if (tag_live(sd, tag))
			sockd_conn_ready(sd, sockd_tag_slot(tag), ev->events);
		break;
	case SOCKD_TAG_PIDFD:
		if (tag_live(sd, tag))
			sockd_app_gone(sd, sockd_tag_slot(tag), SOCKD_APP_EXITED);
		break;
	case SOCKD_TAG_NETD:
		if (sd->netd.fd >= 0 && sd->netd.gen == sockd_tag_gen(tag))
			sockd_netd_ready(sd, ev->events);
		break;
	}
}

/* Milliseconds until deadline (ns), within [0, LOOP_WAIT_MS_MAX]. */
static int wait_ms(uint64_t now, uint64_t deadline)
{
	if (deadline <= now)
		return 0;
	if (deadline - now >= (uint64_t)LOOP_WAIT_MS_MAX * 1000000u)
		return LOOP_WAIT_MS_MAX;
	return (int)((deadline - now + 999999u) / 1000000u);
}

static int sockd_run(struct sockd *sd, uint64_t watchdog_ns)
{
	struct epoll_event ev[SOCKD_EVENTS];
	uint64_t now, next, t, next_wd = 0;
	int n;

	while (!sd->stop) {
		now = sockd_now_ns();
		if (watchdog_ns && now >= next_wd) {
			sd_notify(0, "WATCHDOG=1");
			next_wd = now + watchdog_ns;
		}
		next = sockd_app_timers(sd, now);
		t = sockd_listen_timers(sd, now);
		next = t < next ? t : next;
		sockd_netd_timers(sd, now);
		if (watchdog_ns && next_wd < next)
			next = next_wd;
		n = epoll_wait(sd->epfd, ev, SOCKD_EVENTS, wait_ms(now, next));
		if (n < 0 && errno != EINTR)
			return -errno;
		for (int k = 0; k < n; k++)
			dispatch(sd, &ev[k]);
	}
	return 0;
}

/* ------------------------------------------------------------ set up/down */

static int sockd_setup(struct sockd *sd, const char **what)
{
	int err;

	*what = "slot table";
	sd->nslots = sd->cfg.max_apps + SOCKD_HELLO_SLOTS;
	sd->apps = calloc(sd->nslots, sizeof(*sd->apps));
	sd->netd.detq_cap = sd->nslots;
	sd->netd.detq = calloc(sd->netd.detq_cap, sizeof(*sd->netd.detq));
	if (!sd->apps || !sd->netd.detq)
		return -ENOMEM;
	*what = "stats";
	if ((err = sockd_stats_open(sd)) < 0)
		return err;
	*what = "epoll/signalfd";
	sd->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sd->epfd < 0)
		return -errno;
	if ((err = signals_open(sd)) < 0)
		return err;
	*what = "listening socket";
	return sockd_listen_open(sd);
}

static void sockd_teardown(struct sockd *sd)
{
	for (unsigned i = 0; sd->apps && i < sd->nslots; i++)
		if (sd->apps[i].state != SOCKD_SLOT_FREE)
			sockd_slot_release(sd, i);
	if (sd->netd.fd >= 0)
		sockd_netd_drop(sd, "disconnected (sockd stopping)");
	sockd_listen_close(sd);
	if (sd->ctr)
		sockd_stats_print(sd, stderr);
	sockd_stats_close(sd);
	if (sd->sig_fd >= 0)
		close(sd->sig_fd);
	if (sd->epfd >= 0)
		close(sd->epfd);
	free(sd->netd.detq);
	free(sd->apps);
}

int main(int argc, char **argv)
{
	static struct sockd sd;
	const char *what = "";
	uint64_t wd_usec = 0;
	int lock_fd, err;

	parse_args(&sd.cfg, argc, argv);
	sd.epfd = sd.listen_fd = sd.sig_fd = sd.netd.fd = -1;
	sd.stats_region.fd = -1;
	sd.next_app_id = 1;
	raise_fd_limit();
	lock_fd = rundir_lock(sd.cfg.run_dir, "sockd");
	if (lock_fd < 0) {
		sockd_log(SOCKD_ERR, "run directory %s: %s", sd.cfg.run_dir,
			  lock_fd == -EBUSY ? "another sockd runs there" : strerror(-lock_fd));
		return 1;
	}
	err = sockd_setup(&sd, &what);
	if (err == 0) {
		if (sd_watchdog_enabled(0, &wd_usec) <= 0)
			wd_usec = 0;
		sd_notify(0, "READY=1");
		sockd_status(&sd);
		sockd_log(SOCKD_INFO, "ready: %s, up to %u apps (%u per uid), %u sockets each, pid %d",
			  sd.sock_path, sd.cfg.max_apps, sd.cfg.max_per_uid, sd.cfg.nsocks, getpid());
		err = sockd_run(&sd, wd_usec * 1000 / 2);
		sd_notify(0, "STOPPING=1");
		if (err < 0)
			sockd_log(SOCKD_ERR, "epoll_wait: %s", strerror(-err));
	} else {
		sockd_log(SOCKD_ERR, "%s: %s", what, strerror(-err));
	}
	sockd_teardown(&sd);
	close(lock_fd);
	return err == 0 ? 0 : 1;
}
