/* shm/nic_layout.h — the nicd <-> netd boundary: the pool region and the hello.
 *
 * Where it sits: nicd owns the device; every frame it receives lands in a pkb
 * of the pool region and its slot index goes to netd over an rx ring; every
 * frame netd sends comes back over a tx ring for nicd to write and free.
 *
 *     device --> nicd --rx ring q (nicd produces)--> netd engine q
 *     device <-- nicd <--tx ring q (netd produces)-- netd engine q
 *
 * This header is everything a peer codes against: the region's area names,
 * the control block, the ring descriptor, the doorbells, nicd's counter set,
 * and the hello exchanged over RUN_DIR/nicd.sock. Layout version
 * NIC_LAYOUT_VERSION covers all of it: bump it on any change here, and a peer
 * built against another version is refused at attach (region header) and at
 * hello (the welcome's status).
 *
 * The pool region (kind REGION_KIND_POOL, layout NIC_LAYOUT_VERSION), one per
 * nicd, a file RUN_DIR/nicd.pool so that a restarted nicd re-attaches it:
 *
 *     area            what                                      who writes
 *     "nic.ctl"       struct nic_ctl: geometry, generation      nicd
 *     "nic.pool"      the pkb pool (shm/pkb.h)                  both (pkb_*)
 *     "nic.rx.Q"      rx ring of queue Q, nic_desc elements     nicd prod, netd cons
 *     "nic.tx.Q"      tx ring of queue Q, nic_desc elements     netd prod, nicd cons
 *     "nic.rxdb.Q"    doorbell netd engine Q sleeps on (futex)  nicd rings
 *     "nic.txdb"      doorbell nicd sleeps on (eventfd form)    netd rings
 *     "nic.stats"     struct nic_stats: counters + histograms   nicd
 *     "nic.own"       struct nic_own: slots nicd holds          nicd only
 *
 * Wake-ups. netd engine Q sleeps on "nic.rxdb.Q" with doorbell_wait(); nicd
 * rings it after each rx burst (a syscall only when the engine announced it
 * sleeps). nicd sleeps in io_uring, so its doorbell is the eventfd form: one
 * doorbell for all tx rings, and the eventfd that makes it ring travels to the
 * peer with the hello. A peer enqueues on tx ring Q, then calls
 * doorbell_ring_eventfd(txdb, efd). The eventfd belongs to one nicd process:
 * after a nicd restart the peer's socket reads EOF, and the peer reconnects
 * to take the new one (until then nicd still drains the tx rings every
 * NIC_IDLE_POLL_MS).
 *
 * Ownership rides the rings (shm/pkb.h): an rx descriptor hands a LIVE pkb
 * to netd, who frees it (pkb_free, any cache) or hands it back on a tx ring;
 * a tx descriptor hands a LIVE pkb to nicd, who writes it and frees it. A pkb
 * on a tx ring may be a chain (nb_segs > 1): nicd writes it as one frame.
 * Frame length: pkt_len of the first pkb (== pkb_len for one segment). nicd
 * sets hash (software RSS, Toeplitz) and port (= queue) on rx and stamps
 * PKB_TS_NIC_RX; it stamps PKB_TS_NIC_TX before the write.
 */
#ifndef RINGSTACK_SHM_NIC_LAYOUT_H
#define RINGSTACK_SHM_NIC_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "shm/counters.h"
#include "shm/hist.h"
#include "shm/pkb.h"
#include "shm/ring.h"

#define NIC_LAYOUT_VERSION   2u

/* ------------------------------------------------------------ names, sizes */

#define NIC_POOL_FILE        "nicd.pool"   /* RUN_DIR/nicd.pool: the region */
#define NIC_SOCK_FILE        "nicd.sock"   /* RUN_DIR/nicd.sock: the hello */
#define NIC_RUN_DIR_DEFAULT  "/run/ringstack"

#define NIC_AREA_CTL         "nic.ctl"
#define NIC_AREA_POOL        "nic.pool"
#define NIC_AREA_RX_FMT      "nic.rx.%u"
#define NIC_AREA_TX_FMT      "nic.tx.%u"
#define NIC_AREA_RXDB_FMT    "nic.rxdb.%u"
#define NIC_AREA_TXDB        "nic.txdb"
#define NIC_AREA_STATS       "nic.stats"
#define NIC_AREA_OWN         "nic.own"

#define NIC_QUEUES_MAX       8u            /* 3 areas each + 5: fits REGION_AREAS_MAX */
#define NIC_RING_SIZE_DEF    1024u         /* descriptors per ring, a power of two */
#define NIC_RING_SIZE_MAX    16384u
#define NIC_POOL_SLOTS_DEF   8192u         /* 8192 x 2176 B = 17 MiB */
#define NIC_BUF_SIZE_DEF     PKB_DEFAULT_BUFSIZE
#define NIC_RX_WINDOW_MAX    256u          /* reads nicd keeps in flight per queue */
#define NIC_TX_WINDOW_MAX    256u          /* writes nicd keeps in flight per queue */
#define NIC_IDLE_POLL_MS     100u          /* nicd's longest sleep: tx rings drained at least this often */

_Static_assert((NIC_RING_SIZE_DEF & (NIC_RING_SIZE_DEF - 1)) == 0, "ring size is a power of two");
_Static_assert(5 + 3 * NIC_QUEUES_MAX <= 32, "areas fit the region's table of contents");

/* ------------------------------------------------------------- descriptor */

/* One ring element, 8 bytes (use the ring_*_u64 wrappers): the pkb's slot
 * index in the low half; the high half is reserved, written 0, ignored by
 * readers. Everything else about the frame is in the pkb itself. */
typedef uint64_t nic_desc;

static inline nic_desc nic_desc_make(uint32_t slot) { return (nic_desc)slot; }
static inline uint32_t nic_desc_slot(nic_desc d) { return (uint32_t)d; }

#define NIC_DESC_SIZE        8u
_Static_assert(sizeof(nic_desc) == NIC_DESC_SIZE, "nic_desc is 8 bytes");

/* ----------------------------------------------------------- control block */

#define NIC_CTL_MAGIC        0x4e494343u   /* "NICC" */

enum nic_backend {
	NIC_BACKEND_TAP = 1,       /* /dev/net/tun, io_uring, zero copy */
	NIC_BACKEND_PACKET = 2,    /* AF_PACKET TPACKET_V3, one copy on rx */
};

/* "nic.ctl": written by nicd when it creates the region; generation and
 * the run fields again each time a nicd attaches. Peers read it to size
 * their views (ring_cons_attach(..., ring_size, NIC_DESC_SIZE)). */
struct nic_ctl {
	uint32_t magic;            /* NIC_CTL_MAGIC */
	uint32_t version;          /* NIC_LAYOUT_VERSION */
	uint32_t nqueues;          /* ring pairs: 1 .. NIC_QUEUES_MAX */
	uint32_t ring_size;        /* descriptors per ring */
	uint32_t nslots;           /* pool geometry, as pkb_pool_attach finds it */
	uint32_t buf_size;
	uint32_t generation;       /* +1 each time a nicd process attaches */
	uint32_t nicd_pid;         /* the nicd that attached last */
	uint32_t backend;          /* enum nic_backend */
	uint32_t mtu;              /* device MTU at attach */
	uint8_t mac[6];            /* device's MAC (TAP: kernel side; packet: the interface) */
	uint8_t pad0[2];
	char ifname[16];
	_Atomic uint64_t heartbeat_ns; /* CLOCK_MONOTONIC. Stored by nicd when it
	                                * attaches, before generation moves on
	                                * (release fence; read generation, acquire
	                                * fence, then this) and before any hello is
	                                * answered; then at least every
	                                * NIC_IDLE_POLL_MS. A peer may rely on it:
	                                * under a new generation it is never the
	                                * dead nicd's last beat, and a beat older
	                                * than a few NIC_IDLE_POLL_MS means no
	                                * nicd is running. */
	uint8_t pad1[56];
};
_Static_assert(sizeof(struct nic_ctl) == 128, "nic_ctl layout changed");
_Static_assert(offsetof(struct nic_ctl, heartbeat_ns) == 64, "nic_ctl layout changed");

/* ------------------------------------------------------- nicd's own slots */

/* "nic.own": the slots nicd holds in flight (reads posted, writes posted),
 * PKB_NONE where none. Only nicd reads or writes it: a restarted nicd frees
 * what the dead one held instead of leaking it. nicd clears an entry before
 * the slot leaves its hands (release store of a ring, or the free), so a
 * crash can leak a slot but never hand one out twice. */
struct nic_own_queue {
	uint32_t rx[NIC_RX_WINDOW_MAX];
	uint32_t tx[NIC_TX_WINDOW_MAX];
};

struct nic_own {
	struct nic_own_queue q[NIC_QUEUES_MAX];
};
_Static_assert(sizeof(struct nic_own) == NIC_QUEUES_MAX * (NIC_RX_WINDOW_MAX + NIC_TX_WINDOW_MAX) * 4,
	       "nic_own layout changed");

/* ------------------------------------------------------ nicd's counter set */

/* Every frame nicd takes in is either enqueued on an rx ring or counted in
 * one RX drop; every descriptor it takes off a tx ring is either written
 * (TX_FRAMES) or counted in one TX drop. Single writer: nicd's engine. */
#define NICD_COUNTERS(X) \
	X(RX_FRAMES,        "rx: frames enqueued on an rx ring") \
	X(RX_BYTES,         "rx: bytes of those frames") \
	X(RX_RING_FULL,     "rx drop: the rx ring was full (netd behind)") \
	X(RX_SHORT,         "rx drop: frame shorter than an Ethernet header") \
	X(RX_TOO_BIG,       "rx drop: frame larger than nicd can hold") \
	X(RX_POOL_EMPTY,    "rx: no pkb for a read or copy (pool empty)") \
	X(RX_READ_ERR,      "rx: device read failed") \
	X(RX_KERNEL_DROPS,  "rx drop: dropped by the kernel before nicd (AF_PACKET)") \
	X(TX_FRAMES,        "tx: frames written to the device") \
	X(TX_BYTES,         "tx: bytes of those frames") \
	X(TX_BAD_DESC,      "tx drop: descriptor names no pkb of the pool") \
	X(TX_BAD_LEN,       "tx drop: frame empty or longer than the device takes") \
	X(TX_TOO_MANY_SEGS, "tx drop: chain longer than nicd writes at once") \
	X(TX_WRITE_ERR,     "tx drop: device write failed") \
	X(TX_SHORT_WRITE,   "tx: device wrote part of a frame") \
	X(RING_CORRUPT,     "a ring's indices were impossible; ring ignored") \
	X(RX_DOORBELL_WAKES, "rx: doorbell rings that woke a sleeping netd") \
	X(TX_DOORBELL_READS, "tx: wake-ups from the tx doorbell's eventfd") \
	X(LOOPS,            "engine loop iterations") \
	X(SLEEPS,           "engine sleeps (waits in io_uring with nothing to do)") \
	X(SUBMITS,          "io_uring submissions (system calls)") \
	X(RECLAIMED,        "slots a restarted nicd took back from the one before") \
	X(PEERS,            "peers that completed the hello") \
	X(PEER_BAD_HELLO,   "peers refused: bad hello") \
	X(PEER_HELLO_LOST,  "peers gone before the hello was done (closed, reset, gave up)") \
	X(RX_ALL_QUEUES,    "rx: ARP/broadcast/multicast frames given to every queue") \
	X(RX_CLONE_FAIL,    "rx drop: no pkb to clone such a frame for one more queue") \
	X(SCHED_DEMOTIONS,  "engine used >= 50% of a CPU over 10 ms: SCHED_FIFO dropped until quiet")

#define NICD_CTR_ID(name, text) NICD_##name,
enum nicd_counter { NICD_COUNTERS(NICD_CTR_ID) NICD_CTR_NR };
COUNTERS_DECLARE(nicd_counters, NICD_COUNTERS, NICD_CTR_NR);

/* Per rx ring: frames enqueued on it, and frames meant for it but dropped
 * (ring full, or no pkb for its clone of a frame every queue gets). Single
 * writer (nicd's engine, COUNTER_ADD's relaxed load and store). A frame
 * given to every queue counts once in each. */
struct nic_queue_stats {
	_Atomic uint64_t rx_frames;
	_Atomic uint64_t rx_drops;
};

/* "nic.stats": the counters, two histograms and the per-queue figures.
 * rx_batch records, per engine pass that received anything, the number of
 * frames (a count, not nanoseconds: read the histogram's "ns" as frames).
 * tx_residence records PKB_TS_NIC_TX - PKB_TS_NETD_TX when netd stamped the
 * latter: the time a frame waited in a tx ring. */
struct nic_stats {
	struct nicd_counters ctr;
	struct hist rx_batch;
	struct hist tx_residence;
	struct nic_queue_stats q[NIC_QUEUES_MAX];
};
_Static_assert(sizeof(struct nic_queue_stats) == 16, "nic_queue_stats layout changed");

/* ------------------------------------------------------------------ hello */

/* Over RUN_DIR/nicd.sock (SOCK_SEQPACKET): the peer sends one nic_hello;
 * nicd answers one nic_welcome carrying, if status is 0, NIC_WELCOME_NFDS
 * descriptors in SCM_RIGHTS: [0] the region (map with region_attach_fd,
 * REGION_KIND_POOL, NIC_LAYOUT_VERSION), [1] the tx eventfd (ring with
 * doorbell_ring_eventfd on "nic.txdb"). The connection then stays open:
 * EOF on it tells either side the other is gone. */
#define NIC_HELLO_MAGIC      0x4e48454cu   /* "NHEL" */
#define NIC_WELCOME_MAGIC    0x4e57454cu   /* "NWEL" */
#define NIC_HELLO_VERSION    1u
#define NIC_WELCOME_NFDS     2u

enum nic_role {
	NIC_ROLE_NETD = 1,         /* the protocol engine: uses the rings */
	NIC_ROLE_OBSERVER = 2,     /* ctl, tests: reads counters only */
};

struct nic_hello {
	uint32_t magic;            /* NIC_HELLO_MAGIC */
	uint16_t version;          /* NIC_HELLO_VERSION */
	uint16_t role;             /* enum nic_role */
	uint32_t layout_version;   /* NIC_LAYOUT_VERSION the peer was built with */
	uint32_t pid;
	char name[16];             /* for nicd's log */
};
_Static_assert(sizeof(struct nic_hello) == 32, "nic_hello layout changed");

struct nic_welcome {
	uint32_t magic;            /* NIC_WELCOME_MAGIC */
	uint16_t version;          /* NIC_HELLO_VERSION */
	int16_t status;            /* 0, or -errno: -EPROTO for a version mismatch */
	uint32_t layout_version;   /* NIC_LAYOUT_VERSION of nicd */
	uint32_t generation;       /* nic_ctl.generation at the time */
	uint32_t nqueues;
	uint32_t ring_size;
	uint64_t region_size;      /* bytes: must match the fd's size */
};
_Static_assert(sizeof(struct nic_welcome) == 32, "nic_welcome layout changed");

#endif /* RINGSTACK_SHM_NIC_LAYOUT_H */
