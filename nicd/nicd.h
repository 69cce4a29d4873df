/* nicd/nicd.h — nicd's private interfaces between its files.
 *
 * Where it sits: nicd is the first and last hop of every frame. Its engine
 * (engine.c) is one thread with one io_uring: it reaps device completions,
 * hands received frames to netd on rx rings (rx.c), takes netd's frames off
 * tx rings and gives them to the backend (tap.c: TAP through io_uring;
 * packet.c: AF_PACKET TPACKET_V3), serves the hello on nicd.sock (ctrl.c),
 * and keeps the pool region (region.c). main.c parses flags and handles the
 * process: logging, signals, sd_notify.
 *
 * Every io_uring request carries its purpose in user_data (nicd_ud_*), so
 * one wait covers the device, the tx doorbell's eventfd, signals and peers.
 */
#ifndef RINGSTACK_NICD_NICD_H
#define RINGSTACK_NICD_NICD_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

#include "shm/rss.h"
#include "shm/doorbell.h"
#include "shm/nic_layout.h"
#include "shm/pkb.h"
#include "shm/region.h"
#include "shm/rtsched.h"
#include "shm/ring.h"

/* ------------------------------------------------------------------ logging */

/* syslog priorities as journald reads them from a "<N>" prefix on stderr */
#define NICD_ERR    3
#define NICD_WARN   4
#define NICD_INFO   6

void nicd_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------- tunables */

#define NICD_BURST         32u     /* descriptors moved per ring operation */
#define NICD_CQE_BUDGET    256u    /* completions handled per engine pass */
#define NICD_TX_SEGS_MAX   8u      /* chain length nicd writes in one writev */
#define NICD_CONNS_MAX     8u      /* peers connected to nicd.sock at once */
#define NICD_SPIN_US_DEF   50u     /* busy-poll this long after the last work */
#define NICD_RT_PRIO_DEF   1u      /* SCHED_FIFO priority (sched.c) */
#define NICD_SLICE_US_DEF  100u    /* EEVDF slice under SCHED_OTHER: the kernel's minimum */
#define NICD_RX_WINDOW_DEF 64u
#define NICD_TX_WINDOW_DEF 64u
#define NICD_RX_NONE       (~0u)   /* no waiting read (nicd_queue.rx_waiter) */

struct nicd_config {
	const char *run_dir;
	const char *ifname;          /* TAP name to create/attach, or the AF_PACKET interface */
	enum nic_backend backend;
	unsigned queues;
	unsigned ring_size;
	unsigned nslots;
	unsigned rx_window;          /* reads in flight per TAP queue */
	unsigned tx_window;          /* writes in flight per TAP queue */
	unsigned spin_us;
	unsigned rt_prio;            /* SCHED_FIFO priority; 0: SCHED_OTHER */
	unsigned slice_us;           /* sched_runtime under SCHED_OTHER; 0: kernel default */
	unsigned blk_tov_ms;         /* AF_PACKET block retire timeout */
	bool persist;                /* TAP survives nicd (TUNSETPERSIST) */
	bool fresh;                  /* ignore an existing region: format a new one */
	bool fixed_bufs;             /* --fixed: READ_FIXED/WRITE_FIXED into the registered pool */
	bool no_huge;
};

/* ------------------------------------------------------------ user_data */

enum nicd_ud_kind {
	NICD_UD_RX = 1,              /* TAP read into window entry idx of queue q */
	NICD_UD_TX,                  /* TAP write from window entry idx of queue q */
	NICD_UD_TXDB,                /* read of the tx doorbell's eventfd */
	NICD_UD_SIGNAL,              /* read of the signalfd */
	NICD_UD_ACCEPT,              /* accept on nicd.sock */
	NICD_UD_CONN,                /* poll on connection idx */
	NICD_UD_PKT,                 /* poll on the AF_PACKET socket */
};

static inline uint64_t nicd_ud(enum nicd_ud_kind kind, unsigned q, unsigned idx)
{
	return (uint64_t)kind << 56 | (uint64_t)q << 32 | idx;
}
static inline enum nicd_ud_kind nicd_ud_kind(uint64_t ud) { return (enum nicd_ud_kind)(ud >> 56); }
static inline unsigned nicd_ud_q(uint64_t ud) { return (unsigned)(ud >> 32) & 0xffffff; }
static inline unsigned nicd_ud_idx(uint64_t ud) { return (unsigned)ud; }

/* --------------------------------------------------------------- state */

/* One TAP write in flight: its pkb and, for a chain, the iovecs writev reads. */
struct nicd_txslot {
	struct pkb *b;
	struct iovec iov[NICD_TX_SEGS_MAX];
};

struct nicd_queue {
	int fd;                      /* TAP queue fd (-1 for AF_PACKET) */
	struct ring_prod rx;         /* to netd */
	struct ring_cons tx;         /* from netd */
	struct doorbell *rxdb;
	struct nic_own_queue *own;   /* in the region: slots held (restart reclaim) */
	/* TAP reads (tap.c): window entry i reads into rx_pkb[i] while
	 * rx_posted[i]. At most one posted read waits for a frame; the others
	 * are RWF_NOWAIT, posted on the credit frames earn. No read is posted
	 * before rx_retry_ns (pool empty, read error). */
	struct pkb *rx_pkb[NIC_RX_WINDOW_MAX];
	bool rx_posted[NIC_RX_WINDOW_MAX];
	unsigned rx_waiter;          /* entry of the waiting read, or NICD_RX_NONE */
	unsigned rx_nowait;          /* NOWAIT reads posted and not yet complete */
	unsigned rx_credit;          /* NOWAIT reads to post at the next refill */
	uint64_t rx_retry_ns;
	/* TAP writes: free entries are a stack of indices */
	struct nicd_txslot *txs;
	uint32_t tx_free[NIC_TX_WINDOW_MAX];
	unsigned tx_nfree;
	/* frames bound for this queue's rx ring, flushed once per pass */
	nic_desc pend[NICD_BURST];
	uint32_t pend_len[NICD_BURST];
	unsigned npend;
};

struct nicd_conn {
	int fd;                      /* -1: free */
	bool greeted;
	uint32_t pid;
	char name[16];
};

struct nicd_packet;                  /* packet.c's state */

struct nicd {
	struct nicd_config cfg;
	struct region region;
	struct nic_ctl *ctl;
	struct nic_stats *stats;
	struct nicd_counters *ctr;
	struct nic_own *own;
	struct pkb_pool pool;
	struct pkb_cache cache;
	struct doorbell *txdb;
	int tx_efd;                  /* eventfd netd writes to ring txdb */
	uint64_t txdb_buf;           /* where the armed eventfd read lands */
	int sig_fd;
	_Alignas(8) uint8_t sig_buf[128]; /* one struct signalfd_siginfo */
	int listen_fd;
	struct nicd_conn conns[NICD_CONNS_MAX];
	struct io_uring uring;
	unsigned sq_pending;         /* SQEs prepared since the last submit */
	struct nicd_queue q[NIC_QUEUES_MAX];
	struct nicd_packet *pkt;
	struct rss_table rss;
	uint64_t now_ns;             /* CLOCK_MONOTONIC at the start of this pass */
	unsigned pass_rx;            /* frames received in this pass */
	bool rx_nowait_off;          /* tun refused RWF_NOWAIT: plain reads only (tap.c) */
	bool stop;
	bool dump_stats;
	uint64_t last_house_ns;
	struct rt_sched rt;          /* the engine thread's scheduling (sched.c) */
};

/* ------------------------------------------------------------ region.c */

/* Open RUN_DIR/nicd.pool if it exists and matches the configuration (a
 * restart: re-attach, take back the dead nicd's slots), else create and
 * format it. Fills nd's pointers and ring views. Returns 0 or -errno. */
int nicd_region_open(struct nicd *nd);

/* Give back every slot nicd holds (window pkbs, cache) to the pool. */
void nicd_region_release(struct nicd *nd);

/* nicd_region_release, then unmap. */
void nicd_region_close(struct nicd *nd);

/* ---------------------------------------------------------------- rx.c */

/* Hand a received frame in b (length set) to the rx ring its flow hashes
 * to: stamp, hash, queue it for the end-of-pass flush. nicd owns b until
 * the flush; b must no longer be recorded in nic.own. */
void nicd_rx_deliver(struct nicd *nd, struct pkb *b);

/* Enqueue every pending rx burst, count what did not fit, ring doorbells. */
void nicd_rx_flush(struct nicd *nd);

/* Take up to NICD_BURST descriptors off tx ring q into out[] and check
 * them: bad descriptors are counted and dropped. Returns how many valid
 * pkbs are in out[] (each owned by nicd now, stamped PKB_TS_NIC_TX). */
unsigned nicd_tx_take(struct nicd *nd, unsigned q, struct pkb **out, unsigned max);

/* -------------------------------------------------------------- engine.c */

/* Get an SQE, submitting the queue first if it is full. Never NULL in
 * practice (the SQ is sized for every request nicd keeps in flight); NULL
 * only if the kernel refuses the submit. */
struct io_uring_sqe *nicd_sqe(struct nicd *nd);

int nicd_engine_init(struct nicd *nd);
int nicd_engine_run(struct nicd *nd);
void nicd_engine_fini(struct nicd *nd);
void nicd_stats_print(struct nicd *nd, FILE *f);

/* --------------------------------------------------------------- sched.c */

/* Set nicd's scheduling policy at start-up: SCHED_FIFO at cfg.rt_prio if
 * asked and allowed (a warning if refused), else SCHED_OTHER with the short
 * slice. Call from the engine thread. */
void nicd_sched_init(struct nicd *nd);

/* After a pass that found work, and just before a sleep: once per window,
 * drop SCHED_FIFO to SCHED_OTHER (counted) if the engine used too much of a
 * CPU in it, or take SCHED_FIFO back once it is quiet. */
void nicd_sched_busy(struct nicd *nd);
void nicd_sched_sleep(struct nicd *nd);

/* -------------------------------------------------------------- backends */

/* TAP (tap.c). open: create/attach the device's queue fds, fill ctl's
 * device fields. start: post the read window. */
int nicd_tap_open(struct nicd *nd);
int nicd_tap_start(struct nicd *nd);
void nicd_tap_rx_done(struct nicd *nd, unsigned q, unsigned idx, int res);
void nicd_tap_tx_done(struct nicd *nd, unsigned q, unsigned idx, int res);
unsigned nicd_tap_tx(struct nicd *nd, unsigned q);
void nicd_tap_refill(struct nicd *nd);
/* The earliest time a queue with no read posted may post again (pool
 * empty, read error), or UINT64_MAX: the engine must not sleep past it. */
uint64_t nicd_tap_rx_retry_ns(const struct nicd *nd);
unsigned nicd_tap_inflight_tx(const struct nicd *nd);
void nicd_tap_close(struct nicd *nd);

/* AF_PACKET (packet.c). */
int nicd_pkt_open(struct nicd *nd);
int nicd_pkt_start(struct nicd *nd);
unsigned nicd_pkt_rx(struct nicd *nd);
void nicd_pkt_poll_done(struct nicd *nd, int res);
unsigned nicd_pkt_tx(struct nicd *nd, unsigned q);
void nicd_pkt_housekeeping(struct nicd *nd);
void nicd_pkt_close(struct nicd *nd);

/* --------------------------------------------------------------- ctrl.c */

int nicd_ctrl_open(struct nicd *nd);
void nicd_ctrl_accept_done(struct nicd *nd, int res);
void nicd_ctrl_conn_ready(struct nicd *nd, unsigned idx, int res);
void nicd_ctrl_close(struct nicd *nd);

/* Common helpers */
uint64_t nicd_now_ns(void);

#endif /* RINGSTACK_NICD_NICD_H */
