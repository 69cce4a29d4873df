/* netd/app_internal.h — private to netd's application side (app.c,
 * app_cmd.c, app_sock.c, app_data.c, app_tcpinfo.c, sockd_link.c): the
 * trusted state netd keeps for each app and each of its sockets, and the
 * handoff between the link thread and the engine.
 *
 * Trust: everything here lives in netd's heap. The app's region is read
 * through these copies: geometry from sockd's app_attach (never app.ctl),
 * ring views that never re-read a shared mask, netd's own byte-ring indices
 * (the app's are read once per use and checked against them), socket types
 * and states from netd's table (never app_sock.state/type).
 */
#ifndef RINGSTACK_NETD_APP_INTERNAL_H
#define RINGSTACK_NETD_APP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "netd/app.h"
#include "shm/region.h"
#include "shm/ring.h"
#include "shm/rss.h"

#define NETD_APP_BURST        32u          /* commands per dequeue */
#define NETD_HANDOFF_SLOTS    256u         /* >= 4 * NETD_APPS_MAX: a push never waits long */
#define NETD_PORTS            65536u
#define NETD_CONN_MAP_MAX     (1u << 20)   /* config.c caps max_conns at 1 << 20 */
#define NETD_APP_BUF_MIN      4096u        /* byte ring sizes netd accepts from sockd */
#define NETD_APP_BUF_MAX      (16u << 20)
#define NETD_UDP_PAYLOAD_MAX  65507u
#define NETD_CLOSE_DRAIN_NS   60000000000ull  /* a closed socket's tx ring may drain this long */
#define NETD_SWEEP_NS         1000000000ull   /* how often closing sockets are checked */
#define NETD_ORPHAN_GRACE_NS  5000000000ull   /* sockd back: time to replay its attaches */
#define NETD_SERVICE_BYTES    (64u << 10)  /* bytes one socket service moves each way */
#define NETD_SERVICE_DGRAMS   32u          /* datagrams one socket service sends */
/* Stop servicing while proto/'s tx queue holds this many frames: the engine
 * flushes it after the poll. A service adds at most ~2 * 64 KiB of frames. */
#define NETD_TXQ_HIGH         (STACK_TXQ_MAX - 160u)

/* ------------------------------------------------------------ sockets */

enum nsock_state {
	NS_FREE = 0,
	NS_OPEN,          /* known (APP_OP_SOCKET); TCP maybe bound, no conn; UDP unbound */
	NS_BOUND,         /* UDP: in the stack's table */
	NS_LISTEN,        /* TCP listener */
	NS_CONNECTING,    /* TCP: SYN sent */
	NS_CONNECTED,     /* TCP: established or accepted, until the app closes */
	NS_CLOSING,       /* TCP: CLOSE posted, tx ring draining, its completion owed */
};

enum nsock_flags {
	NSF_BOUND     = 1u << 0,   /* TCP: laddr/lport chosen (bind, or listen's auto-bind) */
	NSF_SHUT_RD   = 1u << 1,   /* the app shut reading */
	NSF_SHUT_WR   = 1u << 2,   /* the app shut writing: FIN once the tx ring drained */
	NSF_FIN       = 1u << 3,   /* tcp_shutdown(WR) done */
	NSF_EOF       = 1u << 4,   /* tcp_recv said end of stream: RDHUP */
	NSF_DEAD      = 1u << 5,   /* the conn reached CLOSED (reset, refused, timed out) */
	NSF_BROKEN    = 1u << 6,   /* a byte ring was corrupt: -EIO, nothing moves */
	NSF_UP        = 1u << 7,   /* TCP: was established (APP_EV_CONNECTED stays) */
	NSF_REUSEADDR = 1u << 8,
	NSF_REUSEPORT = 1u << 9,
	NSF_GROUP_ACCEPTQ = 1u << 10, /* shared listener: the group's leader holds a conn */
};

/* Options set before a conn exists (the usual TCP_NODELAY before connect),
 * applied when it is made; an accepted socket inherits its listener's.
 * v[] is indexed by enum tcp_sockopt. */
#define NOPT_N  (TCP_SOCKOPT_SNDBUF + 1)
struct nsock_opts {
	uint32_t set;              /* bit i: v[i] holds a value */
	int32_t v[NOPT_N];         /* LINGER: -1 off, else seconds */
	char cc[16];               /* TCP_CONGESTION, when set bit TCP_SOCKOPT_CONGESTION */
	uint8_t ttl, tos;          /* IP_TTL, IP_TOS (UDP sends) */
};

/* One socket as netd knows it. rx_prod and tx_cons are netd's own indices
 * into the byte rings (authoritative: the shared copies are only published). */
struct nsock {
	uint8_t type;              /* 0 (free), SOCK_STREAM, SOCK_DGRAM */
	uint8_t state;             /* enum nsock_state */
	uint16_t port_reg;         /* TCP port this socket holds in the port table, 0: none */
	uint8_t port_flags;        /* how it holds it (app_sock.c's enum port_flags) */
	uint32_t flags;            /* enum nsock_flags */
	uint32_t conn;             /* TCP conn, TCP_CONN_NONE */
	uint32_t stash;            /* listener: one conn accepted ahead (exact ACCEPTQ) */
	uint32_t laddr, raddr;
	uint16_t lport, rport;
	uint32_t rx_prod, tx_cons;
	uint32_t tev;              /* TCP_EV_* bits since the last service */
	uint32_t events;           /* APP_EV_* as last published */
	int32_t error;             /* pending -errno (SO_ERROR) */
	int32_t pub_error;         /* error as last published */
	uint32_t share_next;       /* listener shared across fork: the next reference in
	                            * the group's ring (app_share.c), 0: not shared */
	uint32_t close_seq;        /* NS_CLOSING: the CLOSE's seq */
	uint64_t close_by;         /* NS_CLOSING: reset if not drained by then */
	struct nsock_opts opt;
};

/* ---------------------------------------------------------------- apps */

#define NETD_FORK_CHILDREN   128u          /* children one app may have yet to inherit at once */
#define NETD_FORK_LINGER_NS  30000000000ull /* an exited parent waits this long at most */

#define NETD_FORK_CLAIM_NS   2000000000ull  /* a child that inherited may still claim for this long */

/* A child the app forked (APP_OP_FORK): it may inherit the app's listeners.
 * The pidfd pins the process: while it has not exited, no other process
 * can have its pid (an app of another user that got a reused pid would
 * otherwise pass for the child). */
struct fork_child {
	uint32_t pid;
	int pidfd;
	bool claimed;              /* it has inherited one (APP_OP_INHERIT) */
	uint64_t claimed_at;       /*   when first */
};

/* One app. Built and freed by the link thread, used only by the engine in
 * between (from the handoff's ATTACH to its RETURN). */
struct netd_app {
	struct ring_cons cmd;      /* views first: 128-byte aligned */
	struct ring_prod cpl;
	struct region region;
	struct app_ctl *ctl;       /* doorbells only: its geometry is never read */
	struct app_sock *socks;
	uint8_t *bufs;
	uint32_t app_id, pid, uid, flags;
	uint32_t nsocks, buf_size; /* sockd's, checked against the region */
	uint32_t slot;
	int wake_efd;
	uint64_t dev, ino;         /* the region's identity, to recognise a replay */
	uint32_t owed;             /* completions owed by deferred CLOSEs: cpl slots kept */
	bool exiting;              /* the process is gone: closing sockets drain, then drop */
	uint32_t held;             /* exiting: listeners kept for children yet to inherit */
	uint64_t linger_until;     /*   until then at most (NETD_FORK_LINGER_NS) */
	unsigned nchildren;
	struct fork_child children[NETD_FORK_CHILDREN];
	uint32_t nopen;            /* sockets not FREE */
	bool changed;              /* the app can see something new: ring its wake */
	bool any_dirty;
	uint64_t *dirty;           /* bitmap over nsocks: service at the next poll */
	struct nsock *sock;        /* [nsocks] */
};

/* ------------------------------------------------------------ handoff */

/* Link thread -> engine (hand ring) and engine -> link thread (return ring),
 * 16-byte messages: lo = op | slot << 8 | app_id << 32, hi = the app's
 * address. Pointers are fine here: both rings are process-local heap. */
enum handoff_op {
	HANDOFF_ATTACH = 1,        /* adopt hi */
	HANDOFF_DETACH,            /* drop the app in slot (if its app_id matches) */
	HANDOFF_RETURN,            /* engine is done with hi: unmap and free it */
};

enum link_slot_state { LS_FREE = 0, LS_LIVE, LS_DETACHING };

struct link_slot {             /* the link thread's view of one app slot */
	uint8_t state;             /* enum link_slot_state */
	bool orphan;               /* sockd left; kept until it replays or the grace ends */
	uint32_t app_id;
	uint64_t dev, ino;
	struct netd_app *app;
};

/* Ports TCP sockets of every app hold (Linux's bind buckets, addresses
 * folded: one IPv4 address serves most stacks). */
struct port_use {
	uint32_t users, reuseaddr, reuseport, listeners;   /* up to 64 apps x 4096 sockets */
	uint32_t uid;              /* of the first holder: REUSEPORT is per user */
};

struct netd_apps_state {
	/* engine thread */
	struct ring_cons hand_c;
	struct ring_prod ret_p;
	/* link thread */
	struct ring_prod hand_p;
	struct ring_cons ret_c;
	struct doorbell ctl_db;    /* rung after each handoff push; the engine sleeps on it */
	struct stack *stk;
	struct netd_app *app[NETD_APPS_MAX];   /* adopted apps by slot */
	uint8_t live[NETD_APPS_MAX];           /* their slots, dense */
	unsigned nlive, rr;
	uint32_t *conn_map;        /* conn -> 1 + (slot << 16 | sock); 0: none */
	struct port_use *ports;    /* [NETD_PORTS] */
	uint32_t port_next;
	struct rss_table *rss;     /* several engines: nicd's hash, for connect's ports */
	unsigned nqueues;          /*   and how many queues it spreads over */
	uint64_t sweep_at;
	uint64_t now;              /* of the current poll or event */
	struct netd_app_counters ctr;
	/* link thread */
	struct link_slot ls[NETD_APPS_MAX];
	char sock_path[108];       /* sun_path */
	pthread_t thread;
	bool started;
	_Atomic bool stop;
	_Atomic bool ready;        /* the engine has polled: its stack exists */
	bool down_logged;          /* sockd's absence logged for this outage */
	int link_efd;              /* wakes the link thread: stop, or an app returned */
	int sock;                  /* sockd.sock, -1 when not connected */
	uint64_t orphan_deadline;  /* 0: no orphans waiting */
	void *ring_mem;
};

#define APP_CTR(st, name) COUNTER_INC(&(st)->ctr, NETD_APP_##name)

/* ------------------------------------------------- app.c (engine side) */

/* Mark socket i for service at the next poll. */
void app_dirty(struct netd_app *app, uint32_t i);
/* Give the app back to the link thread, its sockets closed first
 * (graceful: the app went away; else reset: corrupt rings, shutdown). */
void app_drop(struct netd_apps_state *st, struct netd_app *app, bool graceful);
/* Post one completion; false if the ring refused it (corrupt: the app is
 * dropped at the end of its poll). */
bool app_cpl_post(struct netd_app *app, const struct app_cpl *c);

/* ------------------------------------------------------------ app_cmd.c */

/* Execute one command copied out of the ring (posts its completion, unless
 * it is a notification or a deferred CLOSE). */
void app_cmd_exec(struct netd_apps_state *st, struct netd_app *app, const struct app_cmd *c,
		  uint64_t now);

/* ----------------------------------------------------------- app_sock.c */

static inline uint32_t udp_sock_id(const struct netd_app *app, uint32_t i)
{
	return app->slot << 16 | i;
}

static inline uint8_t *sock_buf(const struct netd_app *app, uint32_t i, int tx)
{
	return app->bufs + app_buf_off(i, app->buf_size, tx);
}

void nsock_open(struct netd_app *app, uint32_t i, uint8_t type);
/* Forget socket i: conn map, port, stack tables (the conn must be closed or
 * aborted already); publish it empty. */
void nsock_free(struct netd_apps_state *st, struct netd_app *app, uint32_t i);
/* Release whatever socket i holds in the stack and free it: as the kernel
 * closes a dead process's sockets when graceful (tx ring bytes TCP can take
 * go first, then FIN), else reset. */
/* A TCP close that must wait for the tx ring to drain into TCP (the
 * kernel's close: written bytes go first, then the FIN): moves what TCP
 * takes now and, if bytes remain, puts socket i in NS_CLOSING with the
 * completion for seq owed. Returns true if deferred; false if the caller
 * closes now (nothing left, not a live stream, or unread bytes: reset). */
bool app_tcp_defer_close(struct netd_apps_state *st, struct netd_app *app, uint32_t i,
			 uint32_t seq, uint64_t now);

void nsock_kill(struct netd_apps_state *st, struct netd_app *app, uint32_t i, bool graceful,
		uint64_t now);
/* Compute APP_EV_* and the error, publish if changed. */
void nsock_publish(struct netd_app *app, uint32_t i);

int app_conn_set(struct netd_apps_state *st, struct netd_app *app, uint32_t conn, uint32_t i);
void app_conn_clear(struct netd_apps_state *st, uint32_t conn);
struct netd_app *app_conn_owner(struct netd_apps_state *st, uint32_t conn, uint32_t *sock);

int app_port_take(struct netd_apps_state *st, struct netd_app *app, struct nsock *ns, uint16_t port);
void app_port_listen(struct netd_apps_state *st, struct nsock *ns);
void app_port_release(struct netd_apps_state *st, struct nsock *ns);

/* Apply every recorded option to ns->conn (errors ignored: recorded values
 * were checked when set), or the one option opt. */
void app_opts_apply(struct netd_apps_state *st, struct nsock *ns, uint64_t now);
int nsock_setopt(struct netd_apps_state *st, struct nsock *ns, int opt, uint64_t now);

/* ----------------------------------------------------------- app_data.c */

/* Bring socket i up to date: move bytes, finish shutdowns and closes,
 * notice a dead conn; then publish its state. */
void app_sock_service(struct netd_apps_state *st, struct netd_app *app, uint32_t i, uint64_t now);
/* TCP: the tx ring drained (or the socket is dead): close for real and
 * post the deferred completion. */
void app_tcp_close_finish(struct netd_apps_state *st, struct netd_app *app, uint32_t i,
			  bool graceful, uint64_t now);
/* Move what TCP takes of the tx ring. Returns the bytes left in the ring,
 * or -1 if the conn refused them for good (they are discarded). */
int app_tcp_tx_move(struct netd_apps_state *st, struct netd_app *app, uint32_t i, uint64_t now);
/* Give the conn (and a listener's stash) back to TCP: tcp_close when
 * graceful (a reset if the app left bytes unread), else tcp_abort. */
void app_tcp_release(struct netd_apps_state *st, struct netd_app *app, uint32_t i, bool graceful,
		     uint64_t now);
/* The socket's byte ring was corrupt: fail it with -EIO. */
void app_sock_fail(struct netd_apps_state *st, struct netd_app *app, uint32_t i, uint64_t now);
/* Listener: keep one conn accepted ahead so APP_EV_ACCEPTQ is exact. */
void app_listener_refill(struct netd_apps_state *st, struct netd_app *app, uint32_t i);
void app_udp_rx(struct netd_apps_state *st, struct stack_event *ev);
/* Bind an unbound UDP socket to an ephemeral port. 0 or udp_bind's error. */
int app_udp_autobind(struct netd_apps_state *st, struct netd_app *app, uint32_t i);
/* Bytes in socket i's rx ring the app has not read, or UINT32_MAX if corrupt. */
uint32_t app_rx_unread(const struct netd_app *app, uint32_t i);

/* -------------------------------------------------------- app_tcpinfo.c */

/* getsockopt(IPPROTO_TCP, TCP_INFO) on socket i: Linux's struct tcp_info
 * (struct app_tcp_info) written into app->socks[i].optval, *len = its
 * length. Returns 0, or -EOPNOTSUPP for a datagram socket (as Linux). */
int app_tcp_info(struct netd_apps_state *st, struct netd_app *app, uint32_t i, uint64_t now,
		 int64_t *len);

/* -------------------------------------------------------- sockd_link.c */

/* An ephemeral port for a connect from laddr to raddr:rport whose replies
 * nicd's RSS gives queue 0 (the engine owning the sockets), counted; 0 if
 * there is one engine, or none found (TCP then picks its own). The same
 * port may come again: TCP's connect refuses a 4-tuple in use. */
uint16_t app_rss_port(struct netd_apps_state *st, uint32_t laddr, uint32_t raddr, uint16_t rport);

/* ------------------------------------------------------------ app_share.c */

/* Publish socket i's state bits, and, if it is a listener shared across
 * fork, every other entry of its group's (their ACCEPTQ follows the leader). */
void app_share_publish(struct netd_apps_state *st, struct netd_app *app, uint32_t i);

/* The group's leader of listener i (itself when not shared): the entry
 * holding the conn map and the stash. */
struct nsock *app_share_leader(struct netd_apps_state *st, struct netd_app *app, uint32_t i,
			       struct netd_app **la, uint32_t *li);

/* Socket i leaves its group (if it is in one): the listener stays for the
 * others, a leader hands on the conn map, the stash and the port. Returns
 * true if it did (socket i then holds no conn), false if not shared. */
bool app_share_leave(struct netd_apps_state *st, struct netd_app *app, uint32_t i);

/* APP_OP_FORK and APP_OP_INHERIT (shm/app_layout.h): 0 or -errno. */
int app_op_fork(struct netd_apps_state *st, struct netd_app *app, int32_t pid);
int app_op_inherit(struct netd_apps_state *st, struct netd_app *app, uint32_t ci, int32_t pi,
		   int32_t ppid, uint16_t lport, struct app_cpl *out);

/* Has app a child, still alive, that has inherited nothing yet? */
bool app_fork_waiting(const struct netd_app *app);

/* The app goes: close its children's pidfds. */
void app_fork_forget(struct netd_app *app);

int sockd_link_start(struct netd_apps_state *st);
void sockd_link_stop(struct netd_apps_state *st);
/* Map and check the region behind an attach and build its app (link
 * thread, or a test). Takes both fds either way. Returns 0 or -errno. */
int sockd_link_app_build(struct netd_apps_state *st, const struct app_attach *m, int region_fd,
			 int wake_fd, uint32_t slot, struct netd_app **out);
void sockd_link_app_free(struct netd_app *app);
/* Hand a message to the engine and ring the control doorbell. */
void sockd_link_handoff(struct netd_apps_state *st, unsigned op, uint32_t slot, uint32_t app_id,
			struct netd_app *app);
/* Free the apps the engine gave back. */
void sockd_link_reap(struct netd_apps_state *st);

#endif /* RINGSTACK_NETD_APP_INTERNAL_H */
