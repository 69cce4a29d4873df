/* netd/netd.h — netd's private interfaces between its files.
 *
 * Where it sits: netd is the protocol engine, the middle of every frame's
 * path (docs/NETD.md):
 *
 *     nicd --rx ring q--> engine q: stack_input, timers --tx ring q--> nicd
 *
 * Two kinds of thread. One engine thread per nicd queue (engine.c) runs the
 * NAPI loop: take a burst off the rx ring, hand it to proto/, push what
 * proto/ sends onto the tx ring, run timers, spin briefly when idle, then
 * sleep on the rx doorbell. The control thread (main.c, nic.c) owns
 * everything that is not a packet: flags, signals, systemd, the connection
 * to nicd, the regions. It tells the engines about nicd through one
 * published pointer, struct netd_link (nic.c has the protocol).
 *
 * Files: main.c (process, control loop), config.c (flags and config file),
 * nic.c (hello, links, nicd's death and return), engine.c (the loop),
 * state.c (the TCP state region and the stats region), stats.c (publishing
 * proto/'s counters, printing the tables).
 */
#ifndef RINGSTACK_NETD_NETD_H
#define RINGSTACK_NETD_NETD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "proto/stack.h"
#include "netd/app.h"
#include "shm/doorbell.h"
#include "shm/netd_layout.h"
#include "shm/nic_layout.h"
#include "shm/pkb.h"
#include "shm/region.h"
#include "shm/ring.h"
#include "shm/rtsched.h"

/* ------------------------------------------------------------------ logging */

/* syslog priorities as journald reads them from a "<N>" prefix on stderr */
#define NETD_ERR    3
#define NETD_WARN   4
#define NETD_INFO   6

void netd_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------- tunables */

#define NETD_BURST           32u      /* descriptors moved per ring operation */
#define NETD_BUDGET_DEF      64u      /* frames per engine pass before timers and tx */
#define NETD_SPIN_US_DEF     50u      /* longest idle spin before sleeping */
#define NETD_NIC_TIMEOUT_DEF 2000u    /* ms without a nicd heartbeat: nicd is lost */
#define NETD_HOUSE_MS        100u     /* control thread's tick: heartbeat, watchdog, retry */
#define NETD_IDLE_MAX_NS     1000000000ull  /* longest engine sleep: its heartbeat */
#define NETD_PUBLISH_NS      1000000ull     /* proto/ counters copied out at most this often */
#define NETD_STEER_RING      1024u    /* descriptors on each engine's ring to engine 0 */
#define NETD_RT_PRIO_DEF     1u       /* engines' SCHED_FIFO priority (shm/rtsched.h) */
#define NETD_SLICE_US_DEF    100u     /* their EEVDF slice when SCHED_OTHER */

struct netd_config {
	char run_dir[256];
	struct stack_config stack;       /* addr, prefix, gateway, mac, mtu (0: nicd's) */
	bool have_addr, have_mac;
	unsigned engines;                /* 0: one per nicd queue */
	unsigned budget;
	unsigned spin_us;
	unsigned nic_timeout_ms;
	uint32_t max_conns;              /* TCP: 0 keeps tcp_config_default's */
	uint32_t tcp_buf;                /* TCP send and receive buffer, bytes; 0: default */
	bool fresh_state;                /* format TCP state even if one can be re-attached */
	unsigned rt_prio;                /* engines' SCHED_FIFO priority, 0: SCHED_OTHER */
	unsigned slice_us;               /* their sched_runtime under SCHED_OTHER, 0: kernel's */
};

/* ------------------------------------------------------------ the link */

/* One mapping of a nicd pool region. A nicd that restarts normally
 * re-attaches the same file: the mapping (and with it every pkb pointer the
 * stacks hold) stays; only a new file (nicd formatted anew) needs another. */
struct netd_pool {
	struct region region;
	struct pkb_pool pool;
	struct nic_ctl *ctl;
	dev_t dev;
	ino_t ino;
	uint32_t serial;                 /* which mapping: tags steered descriptors */
};

/* What an engine needs of one attachment to one nicd process. Written by
 * the control thread before it is published, read-only afterwards. */
struct netd_link {
	struct netd_pool *pm;
	int efd;                         /* nicd's tx eventfd (this process's fd) */
	uint32_t generation;             /* nic_ctl.generation at the hello */
	uint32_t nqueues, ring_size;
	struct doorbell *txdb;
	void *rx[NIC_QUEUES_MAX], *tx[NIC_QUEUES_MAX];
	size_t rx_len[NIC_QUEUES_MAX], tx_len[NIC_QUEUES_MAX];
	struct doorbell *rxdb[NIC_QUEUES_MAX];
};

/* ------------------------------------------------------------ engines */

struct netd;

/* Engine q > 0 -> engine 0: datagrams for sockets (docs/NETD.md, "Several
 * engines"). Elements: the pool mapping's serial << 32 | pkb slot. Engine
 * q owns tx, engine 0 rx; each view on lines of its own. */
struct netd_steer {
	struct ring_prod tx;
	struct ring_cons rx;
	void *mem;                       /* heap; NULL for engine 0 or one engine */
};

struct netd_engine {
	/* ring views first: 128-byte aligned, never sharing a line pair */
	struct ring_cons rx;
	struct ring_prod tx;
	struct netd_steer steer;         /* q > 0: to engine 0 */
	struct netd *nd;
	unsigned q;                      /* the nicd queue it serves */
	pthread_t thread;
	bool started;
	struct stack *stk;               /* heap, allocated at start */
	struct tcp_stack *tcp;           /* in the state region */
	struct netd_engine_stats *st;    /* in the stats region */
	struct pkb_cache cache;
	/* the link as this engine has adopted it */
	uint32_t seq_seen;
	_Atomic uint32_t seq_ack;        /* seq_seen, for the control thread */
	const struct netd_link *link;    /* NULL: no nicd (rings not touched) */
	struct netd_pool *pm;            /* pool the stack's pkbs come from */
	struct doorbell *rxdb;           /* link's, or local_db without one */
	struct doorbell local_db;        /* where it sleeps with no nicd */
	/* applications (netd/app.h): engine 0 serves them all */
	struct netd_apps apps;
	bool apps_on;
	struct rt_sched rt;              /* its thread's scheduling (shm/rtsched.h) */
	/* loop state */
	uint64_t now;
	uint64_t deadline;               /* stack_next_deadline */
	uint64_t spin_ns;                /* adaptive: current idle spin */
	uint64_t published_ns;
};

struct netd {
	struct netd_config cfg;
	unsigned nengines;
	struct netd_engine eng[NETD_ENGINES_MAX];
	_Atomic bool stop;
	/* control thread -> engines: the current link (NULL: nicd away) and a
	 * sequence number bumped on every change (nic.c) */
	_Atomic(struct netd_link *) link;
	_Atomic uint32_t link_seq;
	/* engines q > 0 -> engine 0: rung after each steered burst */
	struct doorbell steer_db;
	/* control thread only */
	struct netd_link links[2];       /* the published one and the next */
	struct netd_pool pools[2];       /* the mapping in use and a new one */
	struct netd_pool *pm;            /* the mapping in use (NULL before the first) */
	uint32_t pool_serial;            /* serial of the last mapping made */
	int sock;                        /* nicd.sock, -1 when not linked */
	uint64_t linked_ns;              /* when the current link was made */
	bool nic_down_logged;
	struct region stats;             /* RUN_DIR/netd.stats */
	struct netd_info *info;
	struct region state;             /* RUN_DIR/netd.state */
	enum netd_tcp_origin tcp_origin;
};

/* ------------------------------------------------------------ config.c */

/* Fill cfg from the command line (and the --config file it names, flags
 * winning). Exits with status 2 and a usage message on a bad argument. */
void netd_config_parse(struct netd_config *cfg, int argc, char **argv);

/* ---------------------------------------------------------------- nic.c */

/* Try once to connect to nicd, say hello and publish the link it gives.
 * Returns 0 (linked), -EAGAIN (nicd not there: try later) or -errno. */
int netd_nic_connect(struct netd *nd);

/* nicd is gone (why: for the log): withdraw the link from the engines,
 * close the socket and the eventfd; the pool stays mapped. */
void netd_nic_lost(struct netd *nd, enum netd_ctl_counter why);

/* Control thread's tick while linked: EOF on the socket or a stalled
 * heartbeat call netd_nic_lost. */
void netd_nic_check(struct netd *nd, bool sock_readable);

/* Wake every engine (a new link, or stop). */
void netd_engines_kick(struct netd *nd);

/* Unmap what is left at exit. */
void netd_nic_close(struct netd *nd);

/* ------------------------------------------------------------ engine.c */

/* Allocate engine i's stack and bind its TCP and stats; the stack itself
 * is initialised when the engine adopts its first link. Returns 0 or -errno. */
int netd_engine_init(struct netd *nd, unsigned i);

/* The engine thread's body (arg: struct netd_engine *). */
void *netd_engine_run(void *arg);

/* Free what netd_engine_init allocated (after the thread was joined). */
void netd_engine_fini(struct netd_engine *e);

/* After every engine was joined: give back to the pool the datagrams still
 * on the rings to engine 0 (steered as the engines stopped). */
void netd_engines_drain_steer(struct netd *nd);

uint64_t netd_now_ns(void);

/* ------------------------------------------------------------- state.c */

/* Re-attach RUN_DIR/netd.state if it holds nd->nengines TCP stacks this
 * netd can use, else format it; sets each engine's tcp. Returns 0 or -errno. */
int netd_state_open(struct netd *nd);

/* Create RUN_DIR/netd.stats afresh (renamed into place when complete) and
 * point each engine's st at its area. Returns 0 or -errno. */
int netd_stats_open(struct netd *nd);

void netd_state_close(struct netd *nd);

/* ------------------------------------------------------------- stats.c */

/* Format the named counter sets of one engine's stats area. */
void netd_stats_format(struct netd_engine_stats *st, unsigned q);

/* Copy proto/'s counters (struct stack, TCP) of engine e into its area.
 * Engine thread only. */
void netd_stats_publish(struct netd_engine *e);

/* Print every engine's counters (nonzero only), drops by reason and
 * histograms, as a table with the "<6>netd:" prefix. Any thread. */
void netd_stats_print(const struct netd *nd, FILE *f);

#endif /* RINGSTACK_NETD_NETD_H */
