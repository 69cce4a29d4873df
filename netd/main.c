/* netd/main.c — the protocol engine daemon's process: configuration, the
 * control thread's loop, signals, systemd notification.
 *
 * Where it sits: netd runs the protocols between nicd's rings and (later)
 * the applications' (docs/NETD.md):
 *
 *     nicd <-(rx/tx rings, pool region)-> netd engines <-(app rings)-> apps
 *
 * Start-up: lock the run directory (one netd per nicd), connect to nicd and
 * take the pool region (nic.c; netd waits here for a nicd to appear), then
 * re-attach or format the TCP state, create the stats region, start one
 * engine thread per nicd queue (engine.c) and say READY=1.
 *
 * The control thread then waits in poll() on the signalfd and nicd's
 * socket, ticking every NETD_HOUSE_MS: nicd's death (EOF or a stalled
 * heartbeat) is noticed here and the engines told; while nicd is away it
 * retries the hello; the watchdog is fed only while every engine beats.
 * SIGTERM/SIGINT stop, SIGUSR1 prints the counter table.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "netd/netd.h"
#include "shm/rundir.h"

#define ENGINE_STALE_NS  3000000000ull   /* an engine beats at least every NETD_IDLE_MAX_NS */

void netd_log(int prio, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "<%d>netd: ", prio);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Block the signals in every thread (engines inherit the mask) and read
 * them from a signalfd in the control thread. */
static int signals_open(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -EINVAL;
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static void on_signal(struct netd *nd, int sig_fd)
{
	struct signalfd_siginfo si;

	while (read(sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo != SIGUSR1) {
			atomic_store_explicit(&nd->stop, true, memory_order_relaxed);
			continue;
		}
		if (nd->info)
			COUNTER_INC(&nd->info->ctr, NETD_CTL_STATS_DUMPS);
		netd_stats_print(nd, stderr);
	}
}

/* Wait up to ms for a signal or for nicd's socket; returns the socket's revents. */
static short control_wait(struct netd *nd, int sig_fd, int ms)
{
	struct pollfd p[2] = { { .fd = sig_fd, .events = POLLIN },
			       { .fd = nd->sock, .events = POLLIN | POLLRDHUP } };

	if (poll(p, nd->sock >= 0 ? 2 : 1, ms) <= 0)
		return 0;
	if (p[0].revents)
		on_signal(nd, sig_fd);
	return nd->sock >= 0 ? p[1].revents : 0;
}

/* One attempt at the hello; logs the first failure of an outage only. */
static int try_connect(struct netd *nd)
{
	int err = netd_nic_connect(nd);

	if (err == 0) {
		if (nd->nengines)            /* a reconnect; the first link says READY=1 */
			sd_notifyf(0, "STATUS=linked to nicd (generation %u), %u engine(s)",
				   atomic_load(&nd->link)->generation, nd->nengines);
		return 0;
	}
	if (nd->info)
		COUNTER_INC(&nd->info->ctr, NETD_CTL_NIC_CONNECT_FAIL);
	if (!nd->nic_down_logged) {
		netd_log(err == -EAGAIN ? NETD_INFO : NETD_WARN, "no nicd in %s yet (%s); retrying",
			 nd->cfg.run_dir, err == -EAGAIN ? "not listening" : strerror(-err));
		sd_notifyf(0, "STATUS=waiting for nicd in %s", nd->cfg.run_dir);
		nd->nic_down_logged = true;
	}
	return err;
}

/* Connect to nicd before anything else: the pool decides the engines. */
static int first_link(struct netd *nd, int sig_fd)
{
	while (!atomic_load_explicit(&nd->stop, memory_order_relaxed)) {
		if (try_connect(nd) == 0)
			return 0;
		control_wait(nd, sig_fd, NETD_HOUSE_MS);
	}
	return -EINTR;
}

/* Engines = nicd's queues (or fewer, if asked); the MTU is the device's
 * unless set. */
static void size_engines(struct netd *nd)
{
	const struct nic_ctl *ctl = nd->pm->ctl;
	unsigned want = nd->cfg.engines ? nd->cfg.engines : ctl->nqueues;

	if (want > ctl->nqueues)
		netd_log(NETD_WARN, "--engines %u but nicd has %u queue(s): using %u", want,
			 ctl->nqueues, ctl->nqueues);
	else if (want < ctl->nqueues)
		netd_log(NETD_WARN, "nicd has %u queues; only %u are served", ctl->nqueues, want);
	nd->nengines = want < ctl->nqueues ? want : ctl->nqueues;
	if (nd->nengines > 1)
		netd_log(NETD_INFO, "%u engines: engine 0 owns the sockets and answers ARP; the "
			 "others steer datagrams for sockets to it (docs/NETD.md)", nd->nengines);
	if (nd->cfg.stack.mtu == 0)
		nd->cfg.stack.mtu = ctl->mtu >= 576 && ctl->mtu <= 9000 ? (uint16_t)ctl->mtu : 1500;
}

static int start_engines(struct netd *nd)
{
	char name[32];
	int err;

	for (unsigned i = 0; i < nd->nengines; i++) {
		struct netd_engine *e = &nd->eng[i];

		if ((err = pthread_create(&e->thread, NULL, netd_engine_run, e)) != 0)
			return -err;
		e->started = true;
		snprintf(name, sizeof(name), "netd-eng%u", i);
		name[15] = '\0';            /* the kernel keeps 15 characters */
		pthread_setname_np(e->thread, name);
	}
	return 0;
}

/* Everything between the first link and READY=1; *what says what failed. */
static int netd_setup(struct netd *nd, const char **what)
{
	int err;

	size_engines(nd);
	*what = "engines";
	for (unsigned i = 0; i < nd->nengines; i++)
		if ((err = netd_engine_init(nd, i)) < 0)
			return err;
	*what = "TCP state region";
	if ((err = netd_state_open(nd)) < 0)
		return err;
	*what = "stats region";
	if ((err = netd_stats_open(nd)) < 0)
		return err;
	atomic_store_explicit(&nd->info->nic_up, 1, memory_order_relaxed);
	atomic_store_explicit(&nd->info->nic_generation,
			      atomic_load(&nd->link)->generation, memory_order_relaxed);
	COUNTER_INC(&nd->info->ctr, NETD_CTL_NIC_ATTACHES);
	*what = "engine threads";
	return start_engines(nd);
}

/* Feed the watchdog only while every engine has beaten recently. */
static void watchdog(struct netd *nd, uint64_t usec, uint64_t *last)
{
	uint64_t now = netd_now_ns();

	if (usec == 0 || now - *last < usec * 1000u / 2)
		return;
	for (unsigned i = 0; i < nd->nengines; i++) {
		uint64_t hb = atomic_load_explicit(&nd->eng[i].st->heartbeat_ns, memory_order_relaxed);

		if (now > hb && now - hb > ENGINE_STALE_NS) {
			COUNTER_INC(&nd->info->ctr, NETD_CTL_WATCHDOG_HELD);
			return;
		}
	}
	sd_notify(0, "WATCHDOG=1");
	*last = now;
}

static void control_loop(struct netd *nd, int sig_fd)
{
	uint64_t wd_usec = 0, wd_last = 0;

	if (sd_watchdog_enabled(0, &wd_usec) <= 0)
		wd_usec = 0;
	while (!atomic_load_explicit(&nd->stop, memory_order_relaxed)) {
		short ev = control_wait(nd, sig_fd, NETD_HOUSE_MS);

		if (atomic_load_explicit(&nd->stop, memory_order_relaxed))
			break;
		netd_nic_check(nd, ev != 0);
		if (nd->sock < 0)
			try_connect(nd);
		watchdog(nd, wd_usec, &wd_last);
	}
}

static void netd_teardown(struct netd *nd)
{
	atomic_store_explicit(&nd->stop, true, memory_order_relaxed);
	netd_engines_kick(nd);
	for (unsigned i = 0; i < nd->nengines; i++)
		if (nd->eng[i].started)
			pthread_join(nd->eng[i].thread, NULL);
	netd_engines_drain_steer(nd);
	netd_stats_print(nd, stderr);
	netd_nic_close(nd);                 /* after the engines: they used the pool */
	netd_state_close(nd);
	for (unsigned i = 0; i < nd->nengines; i++)
		netd_engine_fini(&nd->eng[i]);
}

int main(int argc, char **argv)
{
	static struct netd nd;             /* large and 128-byte aligned: not on the stack */
	const char *what = "run directory";
	int lock_fd, sig_fd, err;

	netd_config_parse(&nd.cfg, argc, argv);
	nd.sock = -1;
	lock_fd = rundir_lock(nd.cfg.run_dir, "netd");
	sig_fd = signals_open();
	if (lock_fd < 0 || sig_fd < 0) {
		netd_log(NETD_ERR, "%s: %s", lock_fd < 0 ? nd.cfg.run_dir : "signalfd",
			 lock_fd == -EBUSY ? "another netd runs there" : strerror(lock_fd < 0 ? -lock_fd : errno));
		return 1;
	}
	err = first_link(&nd, sig_fd);
	if (err == 0 && (err = netd_setup(&nd, &what)) == 0) {
		sd_notifyf(0, "READY=1\nSTATUS=linked to nicd, %u engine(s), TCP state %s",
			   nd.nengines, nd.tcp_origin == NETD_TCP_ATTACHED ? "re-attached" : "new");
		netd_log(NETD_INFO, "ready: %u engine(s), pid %d", nd.nengines, getpid());
		control_loop(&nd, sig_fd);
	} else if (err != -EINTR) {
		netd_log(NETD_ERR, "%s: %s", what, strerror(-err));
	}
	sd_notify(0, "STOPPING=1");
	netd_teardown(&nd);
	close(sig_fd);
	close(lock_fd);
	return err == 0 || err == -EINTR ? 0 : 1;
}
