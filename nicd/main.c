/* nicd/main.c — the NIC daemon's process: flags, run directory, signals,
 * systemd notification; then the engine (engine.c) runs until SIGTERM.
 *
 * Where it sits: nicd is the first hop of every received frame and the last
 * of every sent one (docs/NICD.md):
 *
 *     TAP or AF_PACKET <-> nicd <-(rx/tx ring pair per queue, pool region)-> netd
 *
 * Start-up order: lock the run directory (one nicd per directory), open or
 * re-attach the pool region, open the device, set up io_uring and the control
 * socket, post the reads, READY=1. Shutdown (SIGTERM, SIGINT): stop taking
 * new work, let writes in flight finish, give every slot back to the pool,
 * print the counters, STOPPING=1, exit 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "nicd/nicd.h"
#include "shm/rundir.h"

void nicd_log(int prio, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "<%d>nicd: ", prio);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: nicd [--tap NAME | --packet IFNAME] [options]\n"
		"  --tap NAME        create/attach TAP NAME, io_uring backend (default: rs0)\n"
		"  --packet IFNAME   attach existing interface IFNAME via AF_PACKET TPACKET_V3\n"
		"  --queues N        rx/tx ring pairs (netd engines), 1..%u (default 1);\n"
		"                    a TAP gets N queues (IFF_MULTI_QUEUE)\n"
		"  --run-dir DIR     region file and socket (default %s)\n"
		"  --persist         keep the TAP after nicd exits (TUNSETPERSIST)\n"
		"  --fresh           format a new region even if one exists\n"
		"  --ring-size N     descriptors per ring, power of two (default %u)\n"
		"  --slots N         packet buffers in the pool (default %u)\n"
		"  --rx-window N     TAP reads per queue: one waits for a frame, the others\n"
		"                    only take frames already queued (default %u, max %u)\n"
		"  --tx-window N     TAP writes in flight per queue (default %u, max %u)\n"
		"  --spin-us N       busy-poll this long after the last work (default %u)\n"
		"  --rt-prio N       SCHED_FIFO priority, dropped to SCHED_OTHER while nicd\n"
		"                    uses over half a CPU; 0: SCHED_OTHER (default %u)\n"
		"  --slice-us N      EEVDF slice under SCHED_OTHER, 100..100000 or 0 for the\n"
		"                    kernel's (default %u)\n"
		"  --fixed           READ_FIXED/WRITE_FIXED into the registered pool (measured\n"
		"                    slower for TAP than plain reads: docs/NICD.md)\n"
		"  --no-huge         do not try hugetlbfs for the region\n"
		"  --blk-tov-ms N    AF_PACKET block retire timeout (default 1)\n",
		NIC_QUEUES_MAX, NIC_RUN_DIR_DEFAULT, NIC_RING_SIZE_DEF, NIC_POOL_SLOTS_DEF,
		NICD_RX_WINDOW_DEF, NIC_RX_WINDOW_MAX, NICD_TX_WINDOW_DEF, NIC_TX_WINDOW_MAX,
		NICD_SPIN_US_DEF, NICD_RT_PRIO_DEF, NICD_SLICE_US_DEF);
}

/* A number option in [lo, hi]; exits with usage on anything else. */
static unsigned num_arg(const char *name, const char *s, unsigned lo, unsigned hi)
{
	char *end;
	unsigned long v = strtoul(s, &end, 0);

	if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
		nicd_log(NICD_ERR, "--%s %s: want %u..%u", name, s, lo, hi);
		exit(2);
	}
	return (unsigned)v;
}

static void parse_args(struct nicd_config *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tap", 1, 0, 't' }, { "packet", 1, 0, 'p' }, { "queues", 1, 0, 'q' },
		{ "run-dir", 1, 0, 'd' }, { "persist", 0, 0, 'P' }, { "fresh", 0, 0, 'F' },
		{ "ring-size", 1, 0, 'r' }, { "slots", 1, 0, 's' }, { "rx-window", 1, 0, 'R' },
		{ "tx-window", 1, 0, 'T' }, { "spin-us", 1, 0, 'S' }, { "fixed", 0, 0, 'X' },
		{ "no-huge", 0, 0, 'H' }, { "blk-tov-ms", 1, 0, 'b' }, { "help", 0, 0, 'h' },
		{ "rt-prio", 1, 0, 'x' }, { "slice-us", 1, 0, 'l' },
		{ 0, 0, 0, 0 } };
	int o;

	*c = (struct nicd_config){ .run_dir = NIC_RUN_DIR_DEFAULT, .ifname = "rs0",
		.backend = NIC_BACKEND_TAP, .queues = 1, .ring_size = NIC_RING_SIZE_DEF,
		.nslots = NIC_POOL_SLOTS_DEF, .rx_window = NICD_RX_WINDOW_DEF,
		.tx_window = NICD_TX_WINDOW_DEF, .spin_us = NICD_SPIN_US_DEF,
		.rt_prio = NICD_RT_PRIO_DEF, .slice_us = NICD_SLICE_US_DEF,
		.blk_tov_ms = 1 };
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 't': c->ifname = optarg; c->backend = NIC_BACKEND_TAP; break;
		case 'p': c->ifname = optarg; c->backend = NIC_BACKEND_PACKET; break;
		case 'q': c->queues = num_arg("queues", optarg, 1, NIC_QUEUES_MAX); break;
		case 'd': c->run_dir = optarg; break;
		case 'P': c->persist = true; break;
		case 'F': c->fresh = true; break;
		case 'r': c->ring_size = num_arg("ring-size", optarg, 64, NIC_RING_SIZE_MAX); break;
		case 's': c->nslots = num_arg("slots", optarg, 1024, PKB_POOL_MAX_SLOTS); break;
		case 'R': c->rx_window = num_arg("rx-window", optarg, 1, NIC_RX_WINDOW_MAX); break;
		case 'T': c->tx_window = num_arg("tx-window", optarg, 1, NIC_TX_WINDOW_MAX); break;
		case 'S': c->spin_us = num_arg("spin-us", optarg, 0, 1000000); break;
		case 'X': c->fixed_bufs = true; break;
		case 'H': c->no_huge = true; break;
		case 'b': c->blk_tov_ms = num_arg("blk-tov-ms", optarg, 1, 1000); break;
		case 'x': c->rt_prio = num_arg("rt-prio", optarg, 0, 99); break;
		case 'l': c->slice_us = num_arg("slice-us", optarg, 0, 100000); break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (c->slice_us != 0 && c->slice_us < 100) {
		nicd_log(NICD_ERR, "--slice-us %u: the kernel takes 100..100000, or 0", c->slice_us);
		exit(2);
	}
	if (optind != argc || (c->ring_size & (c->ring_size - 1)) ||
	    strlen(c->ifname) >= sizeof(((struct nic_ctl *)0)->ifname)) {
		usage(stderr);
		exit(2);
	}
}

/* Signals arrive through a signalfd read in the engine's io_uring. */
static int signals_open(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static int backend_open(struct nicd *nd)
{
	return nd->cfg.backend == NIC_BACKEND_TAP ? nicd_tap_open(nd) : nicd_pkt_open(nd);
}

static int backend_start(struct nicd *nd)
{
	return nd->cfg.backend == NIC_BACKEND_TAP ? nicd_tap_start(nd) : nicd_pkt_start(nd);
}

/* Everything before the engine runs; on failure, what to say. */
static int nicd_setup(struct nicd *nd, const char **what)
{
	int err;

	*what = "region";
	if ((err = nicd_region_open(nd)) < 0)
		return err;
	rss_table_init(&nd->rss, rss_default_key);
	*what = "device";
	if ((err = backend_open(nd)) < 0)
		return err;
	*what = "eventfd/signalfd";
	nd->tx_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	nd->sig_fd = signals_open();
	if (nd->tx_efd < 0 || nd->sig_fd < 0)
		return -errno;
	*what = "io_uring";
	if ((err = nicd_engine_init(nd)) < 0)
		return err;
	*what = "control socket";
	if ((err = nicd_ctrl_open(nd)) < 0)
		return err;
	*what = "device start";
	return backend_start(nd);
}

static void nicd_teardown(struct nicd *nd)
{
	nicd_ctrl_close(nd);
	nicd_engine_fini(nd);           /* cancels reads still posted */
	if (nd->cfg.backend == NIC_BACKEND_TAP)
		nicd_tap_close(nd);
	else
		nicd_pkt_close(nd);
	nicd_region_release(nd);        /* every slot nicd held back to the pool */
	if (nd->region.base)
		nicd_stats_print(nd, stderr);
	nicd_region_close(nd);
	if (nd->tx_efd >= 0)
		close(nd->tx_efd);
	if (nd->sig_fd >= 0)
		close(nd->sig_fd);
}

int main(int argc, char **argv)
{
	static struct nicd nd;          /* large (windows, RSS table): not on the stack */
	const char *what = "";
	int lock_fd, err;

	parse_args(&nd.cfg, argc, argv);
	nd.tx_efd = nd.sig_fd = nd.listen_fd = -1;
	for (unsigned q = 0; q < NIC_QUEUES_MAX; q++)
		nd.q[q].fd = -1;
	lock_fd = rundir_lock(nd.cfg.run_dir, "nicd");
	if (lock_fd < 0) {
		nicd_log(NICD_ERR, "run directory %s: %s", nd.cfg.run_dir,
			 lock_fd == -EBUSY ? "another nicd runs there" : strerror(-lock_fd));
		return 1;
	}
	err = nicd_setup(&nd, &what);
	if (err == 0) {
		sd_notifyf(0, "READY=1\nSTATUS=%s on %s, %u queue(s), generation %u",
			   nd.cfg.backend == NIC_BACKEND_TAP ? "TAP" : "AF_PACKET",
			   nd.ctl->ifname, nd.cfg.queues, nd.ctl->generation);
		nicd_log(NICD_INFO, "ready: %s, %u queue(s), pid %d", nd.ctl->ifname,
			 nd.cfg.queues, getpid());
		err = nicd_engine_run(&nd);
		sd_notify(0, "STOPPING=1");
	} else {
		nicd_log(NICD_ERR, "%s: %s", what, strerror(-err));
	}
	nicd_teardown(&nd);
	close(lock_fd);
	return err == 0 ? 0 : 1;
}
