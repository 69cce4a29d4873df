/* shm/netd_layout.h — netd's regions as other processes see them: the stats
 * region (read live by ctl/ and the tests) and the state region (TCP, kept
 * across netd restarts).
 *
 * Where it sits: beside the data path, never on it. netd's engines bump
 * counters and record histograms here as frames pass
 *
 *     nicd --rx ring--> [netd engine q: stack_input ...] --tx ring--> nicd
 *                              |  counters, histograms (single writer)
 *                              v
 *                        RUN_DIR/netd.stats  <-- ctl/ maps it read-only
 *
 * The stats region (kind REGION_KIND_STATS, layout NETD_LAYOUT_VERSION) is
 * made afresh by each netd process and renamed into place once complete, so
 * a reader never maps a half-formatted one; a reader that finds another pid
 * in netd.info re-opens the file. Its areas:
 *
 *     area          what                                         writer
 *     "netd.info"   struct netd_info: pid, engines, nicd link    netd's control thread
 *     "netd.eng.Q"  struct netd_engine_stats of engine Q         engine Q's thread
 *
 * Every word has exactly one writer thread, so writers use COUNTER_INC and
 * hist_record (no locked instruction); readers take relaxed loads and
 * hist_snapshot (shm/counters.h, shm/hist.h say what a reader is promised).
 *
 * Counter sets named by proto/ (drop reasons, traffic counters, TCP's
 * counters) cannot be declared here: shm/ depends on nothing of ours. They
 * are stored as struct netd_named_ctrs, a counters header and up to
 * NETD_NAMED_CTRS_MAX values; the header's count and hash of names tell a
 * reader which list wrote them, and counters_check() against proto/'s list
 * (ctl/ may include proto/) refuses a set written from another list.
 *
 * The state region RUN_DIR/netd.state (kind REGION_KIND_NETD, layout
 * NETD_STATE_VERSION) holds one struct tcp_stack per engine in area
 * "netd.tcp.Q", formatted by proto/tcp and opaque here; tcp_stack_attach()
 * checks its own magic and version inside.
 */
#ifndef RINGSTACK_SHM_NETD_LAYOUT_H
#define RINGSTACK_SHM_NETD_LAYOUT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/counters.h"
#include "shm/hist.h"

#define NETD_LAYOUT_VERSION   6u            /* the stats region: bump on any change here */
#define NETD_STATE_VERSION    1u            /* the state region's table of areas */

#define NETD_STATS_FILE       "netd.stats"
#define NETD_STATE_FILE       "netd.state"
#define NETD_ENGINES_MAX      8u            /* = NIC_QUEUES_MAX: one engine per nicd queue */
#define NETD_NAMED_CTRS_MAX   94u           /* room for proto/'s longest list; 768-byte sets */

#define NETD_AREA_INFO        "netd.info"
#define NETD_AREA_ENGINE_FMT  "netd.eng.%u"
#define NETD_AREA_TCP_FMT     "netd.tcp.%u"  /* in the state region */

/* ------------------------------------------------- the engine's counters */

/* Every frame an engine takes off an rx ring is handed to proto/ (which
 * counts its own drops) or counted in RX_BAD_DESC; every frame proto/ puts
 * on stk->txq is enqueued on a tx ring (TX_FRAMES) or freed and counted in
 * one TX drop. Socket events are freed and counted per type until sockets
 * exist (no sockd yet). */
#define NETD_COUNTERS(X) \
	X(LOOPS,            "engine passes") \
	X(BATCHES,          "rx bursts handed to proto/") \
	X(BUDGET_EXHAUSTED, "passes that used their whole budget (work left over)") \
	X(SPIN_HITS,        "idle spins that found work before the spin ran out") \
	X(SPIN_MISSES,      "idle spins that ran out: the engine went to sleep") \
	X(SLEEPS,           "sleeps on the rx doorbell") \
	X(WAKE_TIMEOUTS,    "sleeps ended by their timeout (a timer or housekeeping)") \
	X(RX_FRAMES,        "rx: frames taken off the rx ring") \
	X(RX_BAD_DESC,      "rx drop: descriptor names no pkb of the pool") \
	X(RING_CORRUPT,     "an rx or tx ring's indices were impossible; ring ignored") \
	X(TX_FRAMES,        "tx: frames enqueued on the tx ring") \
	X(TX_RING_FULL,     "tx drop: the tx ring was full (nicd behind)") \
	X(TX_NIC_DOWN,      "tx drop: no nicd attached") \
	X(TX_DOORBELL_WAKES, "tx: eventfd writes that woke a sleeping nicd") \
	X(TX_DOORBELL_ERR,  "tx: eventfd write failed") \
	X(TIMER_RUNS,       "stack_timers calls (a deadline had passed)") \
	X(LOOPBACK,         "packets delivered by stack_poll_loopback") \
	X(EV_UDP_RX,        "event: UDP datagram for a socket") \
	X(EV_ICMP_ERR,      "event: ICMP error for a socket") \
	X(EV_TCP,           "event: TCP readiness of a connection") \
	X(EV_OTHER,         "event: unknown type") \
	X(LINK_CHANGES,     "nicd links adopted (attach, loss, reconnect)") \
	X(STACK_RESETS,     "stack re-initialised for a new pool (nicd formatted anew)") \
	X(STEER_OUT,        "steer: datagrams for sockets sent to engine 0 (the owner)") \
	X(STEER_FULL,       "steer drop: the ring to engine 0 was full") \
	X(STEER_IN,         "steer: datagrams taken from the other engines (engine 0)") \
	X(STEER_STALE,      "steer drop: descriptor of a pool since replaced (nicd restart)") \
	X(SCHED_DEMOTIONS,  "engine used >= 50% of a CPU over 10 ms: SCHED_FIFO dropped until quiet")

#define NETD_CTR_ID(name, text) NETD_##name,
enum netd_counter { NETD_COUNTERS(NETD_CTR_ID) NETD_CTR_NR };
#undef NETD_CTR_ID
COUNTERS_DECLARE(netd_counters, NETD_COUNTERS, NETD_CTR_NR);

/* Every drop and error of netd's application side (netd/app*.c), by reason,
 * in area "netd.eng.0"'s app_cnt. Each counter has
 * one writer thread: LINK_* and ATTACH_* the link thread, the rest the
 * engine thread (so both bump with COUNTER_INC; shm/counters.h). */
#define NETD_APP_COUNTERS(X) \
	X(LINK_CONNECTS,      "link: connected to sockd and said hello") \
	X(LINK_CONNECT_FAIL,  "link: sockd absent or refused the hello (retried with backoff)") \
	X(LINK_EOF,           "link: sockd's socket closed (apps kept, orphaned)") \
	X(LINK_BAD_MSG,       "link: message from sockd of wrong size or magic (ignored)") \
	X(LINK_FDS_CLOSED,    "link: descriptors received with a message that wanted none") \
	X(RSS_PORTS,          "connect: ephemeral ports picked so RSS sends replies to engine 0") \
	X(FORKS,              "fork: children recorded (APP_OP_FORK)") \
	X(FORK_FULL,          "fork: children refused, the app has NETD_FORK_CHILDREN waiting") \
	X(INHERITS,           "fork: listeners inherited by a child (APP_OP_INHERIT)") \
	X(INHERIT_REFUSED,    "fork: inherits refused (no such parent's child, or no listener)") \
	X(SHARE_LEAVES,       "fork: entries that left a shared listener (it stays for the rest)") \
	X(LISTENERS_HELD,     "fork: listeners an exited parent kept for its children") \
	X(ADOPT_OFFERED,      "link: orphans offered to a (restarted) sockd with app_adopt") \
	X(ADOPT_OFFER_FAILED, "link: offers that could not be sent (the orphan waits out its grace)") \
	X(ATTACHES,           "attach: app adopted and acked") \
	X(ATTACH_REPLAYED,    "attach: a replay of a region netd already serves, acked again") \
	X(ATTACH_BAD_MSG,     "attach refused: geometry or descriptor count unusable") \
	X(ATTACH_BAD_REGION,  "attach refused: region unmappable, unsealed, or areas too small") \
	X(ATTACH_NO_SLOT,     "attach refused: NETD_APPS_MAX apps already") \
	X(ATTACH_NOMEM,       "attach refused: no memory for the app's table") \
	X(ACK_FAILED,         "attach: the ack could not be sent") \
	X(DETACHES,           "detach: sockd said the app is gone") \
	X(DETACH_UNKNOWN,     "detach: for no app netd serves (already dropped, or refused)") \
	X(ORPHANS_DROPPED,    "apps dropped: sockd came back and did not replay them") \
	X(APPS_ADOPTED,       "engine: apps adopted from the handoff") \
	X(APPS_DROPPED,       "engine: apps dropped (detach, corrupt ring, shutdown)") \
	X(CMD_RING_CORRUPT,   "app detached: its command ring's indices were impossible") \
	X(CPL_RING_CORRUPT,   "app detached: its completion ring's indices were impossible") \
	X(CMDS,               "commands executed") \
	X(CMD_BAD_OP,         "commands with an unknown op (-EINVAL)") \
	X(CMD_BAD_SOCK,       "commands naming a socket index out of range or not open (-EBADF)") \
	X(CMD_ERRORS,         "commands completed with an error") \
	X(NOTIFY_BAD_SOCK,    "TX/RX_DONE notifications for no open socket (ignored)") \
	X(WAKES,              "app wake doorbells rung (a syscall only if the app slept)") \
	X(WAKE_ERR,           "app wake eventfd writes that failed") \
	X(BYTE_RING_CORRUPT,  "socket failed -EIO: its rx or tx byte ring's indices were impossible") \
	X(TCP_TX_BYTES,       "bytes moved from apps' tx rings into TCP") \
	X(TCP_RX_BYTES,       "bytes moved from TCP into apps' rx rings") \
	X(TCP_TX_DISCARDED,   "tx ring bytes discarded: the connection could not take them") \
	X(TCP_EV_STALE,       "TCP events for a conn no socket holds (closed meanwhile)") \
	X(TCP_ABORT_UNREAD,   "closes that reset: unread bytes in the app's rx ring") \
	X(TCP_CLOSE_DRAIN_TIMEOUT, "closes that reset: the tx ring did not drain in time") \
	X(TCP_NO_CONN_SLOT,   "conns aborted: index beyond netd's conn map") \
	X(UDP_TX_DGRAMS,      "datagrams sent from apps' tx rings") \
	X(UDP_TX_BAD_RECORD,  "socket failed -EIO: a tx record's length was impossible") \
	X(UDP_TX_NO_DEST,     "datagrams dropped: no destination and not connected") \
	X(UDP_TX_ERR,         "datagrams dropped: udp_output failed (no route, no buffers)") \
	X(UDP_RX_DGRAMS,      "datagrams written into apps' rx rings") \
	X(UDP_RX_RING_FULL,   "datagrams dropped: the app's rx ring was full") \
	X(UDP_RX_TOO_BIG,     "datagrams dropped: larger than the app's rx ring") \
	X(UDP_RX_NO_SOCKET,   "datagrams dropped: sock_id names no open UDP socket") \
	X(ICMP_ERR_SET,       "ICMP errors reported on a connected UDP socket") \
	X(ICMP_ERR_IGNORED,   "ICMP errors ignored: socket gone or not connected (as Linux)") \
	X(EV_OTHER,           "stack events of an unknown type (freed)") \
	X(UDP_REBIND_FAIL,    "UDP sockets failed -EADDRINUSE re-binding after a stack reset")

#define NETD_APP_CTR_ID(name, text) NETD_APP_##name,
enum netd_app_counter { NETD_APP_COUNTERS(NETD_APP_CTR_ID) NETD_APP_CTR_NR };
#undef NETD_APP_CTR_ID
COUNTERS_DECLARE(netd_app_counters, NETD_APP_COUNTERS, NETD_APP_CTR_NR);

/* A counter set whose list lives in proto/ (see the top of this file). */
struct netd_named_ctrs {
	_Alignas(64) struct counters_hdr hdr;  /* nr and names_hash of the writer's list */
	_Atomic uint64_t v[NETD_NAMED_CTRS_MAX];
};
_Static_assert(sizeof(struct netd_named_ctrs) == 16 + 8 * NETD_NAMED_CTRS_MAX &&
	       sizeof(struct netd_named_ctrs) == 768, "netd_named_ctrs layout changed");

/* "netd.eng.Q": one engine's statistics. The engine publishes proto/'s
 * counters (kept process-local in struct stack) here after each busy pass;
 * its own counters and the histograms are written in place. */
struct netd_engine_stats {
	struct netd_counters ctr;              /* NETD_COUNTERS */
	struct netd_named_ctrs proto_drop;     /* proto/stats.h PROTO_DROP_REASONS, TCP's included */
	struct netd_named_ctrs proto_cnt;      /* proto/stats.h PROTO_COUNTERS */
	struct netd_named_ctrs tcp_cnt;        /* proto/tcp/tcp.h TCP_COUNTERS */
	struct netd_named_ctrs app_cnt;        /* NETD_APP_COUNTERS above (engine 0) */
	/* Per-stage latencies (ns), from the pkb timestamps: */
	struct hist rx_residence;              /* PKB_TS_NETD_RX - PKB_TS_NIC_RX: wait in the rx ring */
	struct hist proto_batch;               /* proto/ time for one rx burst (input + loopback) */
	struct hist tx_turnaround;             /* PKB_TS_NETD_TX - PKB_TS_NETD_RX, for frames sent
	                                        * from the buffer they arrived in (echo replies) */
	struct hist rx_burst;                  /* frames per rx burst: read its "ns" as frames */
	struct hist sleep;                     /* time asleep per sleep on the doorbell */
	_Atomic uint64_t heartbeat_ns;         /* CLOCK_MONOTONIC of the engine's last pass */
	_Atomic uint64_t published_ns;         /* when proto/'s counters were last copied here */
	uint32_t queue;                        /* the nicd queue this engine serves */
	uint32_t tcp_conns;                    /* TCBs in use at the last publish */
	uint32_t tcp_timewait;                 /*   of which in TIME_WAIT */
	uint8_t pad[36];
};
_Static_assert(offsetof(struct netd_engine_stats, rx_residence) % 64 == 0,
	       "histograms start on a cache line");
_Static_assert(sizeof(struct netd_engine_stats) % 64 == 0, "whole cache lines");
_Static_assert(sizeof(struct netd_engine_stats) ==
	       sizeof(struct netd_counters) + 4 * sizeof(struct netd_named_ctrs) +
	       5 * HIST_SIZE + 64, "netd_engine_stats layout changed");

/* ------------------------------------------------- the control thread's */

/* The nicd link, as netd's control thread sees it. */
#define NETD_CTL_COUNTERS(X) \
	X(NIC_ATTACHES,     "hellos answered: links made to a nicd") \
	X(NIC_LOST_EOF,     "nicd lost: its control socket closed") \
	X(NIC_LOST_STALL,   "nicd lost: its heartbeat stalled") \
	X(NIC_CONNECT_FAIL, "connection or hello to nicd failed (retried)") \
	X(NIC_NEW_POOL,     "nicd came back with another pool region") \
	X(WATCHDOG_HELD,    "watchdog pings held back: an engine stopped beating") \
	X(STATS_DUMPS,      "counter tables printed (SIGUSR1)")

#define NETD_CTL_ID(name, text) NETD_CTL_##name,
enum netd_ctl_counter { NETD_CTL_COUNTERS(NETD_CTL_ID) NETD_CTL_NR };
#undef NETD_CTL_ID
COUNTERS_DECLARE(netd_ctl_counters, NETD_CTL_COUNTERS, NETD_CTL_NR);

#define NETD_INFO_MAGIC       0x4e455444u   /* "NETD" */

enum netd_tcp_origin {
	NETD_TCP_FORMATTED = 1,                /* this netd formatted the TCP state */
	NETD_TCP_ATTACHED = 2,                 /* it re-attached a dead netd's */
};

/* "netd.info": who writes this region and how it is linked to nicd. */
struct netd_info {
	uint32_t magic;                        /* NETD_INFO_MAGIC, stored last */
	uint32_t version;                      /* NETD_LAYOUT_VERSION */
	uint32_t pid;
	uint32_t nengines;                     /* areas "netd.eng.0" .. nengines-1 */
	uint64_t started_ns;                   /* CLOCK_MONOTONIC at start */
	uint32_t tcp_origin;                   /* enum netd_tcp_origin */
	uint32_t addr;                         /* our IPv4 address, host order */
	uint8_t mac[6];
	uint16_t mtu;
	uint8_t prefix_len;
	uint8_t pad0[3];
	_Atomic uint32_t nic_up;               /* 1 while linked to a live nicd */
	_Atomic uint32_t nic_generation;       /* nic_ctl.generation of the last link */
	uint8_t pad1[12];
	struct netd_ctl_counters ctr;          /* NETD_CTL_COUNTERS */
};
_Static_assert(offsetof(struct netd_info, ctr) == 64, "counters on their own cache line");
_Static_assert(sizeof(struct netd_info) == 64 + sizeof(struct netd_ctl_counters),
	       "netd_info layout changed");

#endif /* RINGSTACK_SHM_NETD_LAYOUT_H */
