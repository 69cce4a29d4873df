/* netd/app.h — netd's application side: the hooks the engine calls to serve
 * every application's region (shm/app_layout.h) on one struct stack.
 *
 * Where it sits: at the top of netd, between proto/ and the apps' regions
 * (docs/NETD-APPS.md has the whole story):
 *
 *     sockd --attach/detach--> link thread --handoff ring + control doorbell--+
 *           (RUN_DIR/sockd.sock)  (sockd_link.c: maps, validates, acks)       |
 *                                                                              v
 *     app --cmd ring, tx byte rings, app_ctl.netd--> netd_apps_poll --> tcp_* / udp_output
 *     app <--cpl ring, rx byte rings, events, wake-- netd_apps_poll <-- tcp_recv
 *                                                     netd_apps_event <-- stk->evq
 *
 * Threads. netd_apps_init starts the link thread; every other hook runs on
 * the engine thread that owns the struct stack. The two share nothing but
 * two process-local SPSC rings (attach/detach one way, dropped apps back)
 * and the control doorbell.
 *
 * The engine's part, per pass (after its own rx, timers and tx flush):
 *
 *     for each ev in stk->evq:  netd_apps_event(a, &ev, now)   (takes ev.pkb)
 *     stk->evq.n = 0;
 *     netd_apps_poll(a, budget, now);   then flush stk->txq again
 *
 * and before it sleeps: netd_apps_doorbells() for the wait set, prepare
 * every doorbell, re-check with netd_apps_busy(), doorbell_wait_many().
 */
#ifndef RINGSTACK_NETD_APP_H
#define RINGSTACK_NETD_APP_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/stack.h"
#include "shm/app_layout.h"
#include "shm/counters.h"
#include "shm/doorbell.h"

#define NETD_APPS_MAX  64u   /* apps one netd serves (+1 control doorbell: fits futex_waitv) */

/* Every drop and error of the application side, by reason. Each counter has
 * one writer thread: LINK_* and ATTACH_* the link thread, the rest the
 * engine thread (so both bump with COUNTER_INC; shm/counters.h). */
#define NETD_APP_COUNTERS(X) \
	X(LINK_CONNECTS,      "link: connected to sockd and said hello") \
	X(LINK_CONNECT_FAIL,  "link: sockd absent or refused the hello (retried with backoff)") \
	X(LINK_EOF,           "link: sockd's socket closed (apps kept, orphaned)") \
	X(LINK_BAD_MSG,       "link: message from sockd of wrong size or magic (ignored)") \
	X(LINK_FDS_CLOSED,    "link: descriptors received with a message that wanted none") \
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

struct netd_apps_state;

/* The engine's handle; everything else is private (netd/app_internal.h). */
struct netd_apps {
	struct netd_apps_state *s;
};

/* Set up the application side for stk (the engine's stack, TCP attached)
 * and start the link thread, which connects to RUN_DIR/sockd.sock (retrying
 * with backoff while sockd is absent, reconnecting after EOF). Call from
 * any thread before the engine's first pass. Returns 0, -ENOMEM,
 * -ENAMETOOLONG (run_dir) or the error of starting the thread. */
int netd_apps_init(struct netd_apps *a, struct stack *stk, const char *run_dir);

/* Stop the link thread, then abort every socket of every app (RSTs go on
 * stk->txq), unmap the regions and free everything. Call on the engine
 * thread (or once it has stopped). Safe on a zeroed or failed handle. */
void netd_apps_fini(struct netd_apps *a);

/* Fill dbs[0..max) with the doorbells the engine adds to its
 * doorbell_wait_many set: the control doorbell first, then each live app's
 * app_ctl.netd. Returns how many. Engine thread. */
unsigned netd_apps_doorbells(struct netd_apps *a, struct doorbell **dbs, unsigned max);

/* The engine's re-check between preparing its doorbells and sleeping: true
 * if a poll would find work (a handoff message, a command it can complete,
 * a socket to service, a wake owed). Engine thread. */
bool netd_apps_busy(struct netd_apps *a);

/* Adopt and drop apps from the handoff; execute up to budget commands
 * (round robin over the apps); service every socket an event or command
 * marked (bytes between byte rings and TCP/UDP, state bits); post
 * completions; ring each changed app's wake doorbell once. Returns the
 * work done (0: idle). Engine thread. */
unsigned netd_apps_poll(struct netd_apps *a, unsigned budget, uint64_t now);

/* One event from stk->evq; ev->pkb (if any) is the callee's. UDP_RX: a
 * record into the socket's rx ring (or a counted drop); ICMP_ERR: the
 * error on a connected UDP socket; TCP: the conn's socket is serviced at
 * the next poll. Engine thread. */
void netd_apps_event(struct netd_apps *a, struct stack_event *ev, uint64_t now);

/* The engine re-initialised stk (stack_init wipes the UDP table; TCP
 * carries on): bind every UDP socket again. Engine thread. */
void netd_apps_stack_reset(struct netd_apps *a);

/* Copy the counters into out[NETD_APP_CTR_NR] (relaxed loads: any thread). */
void netd_apps_stats(const struct netd_apps *a, uint64_t *out);

#endif /* RINGSTACK_NETD_APP_H */
