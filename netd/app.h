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
#include "shm/netd_layout.h"

#define NETD_APPS_MAX  64u   /* apps one netd serves (+1 control doorbell: fits futex_waitv) */

/* The application side's counters (NETD_APP_COUNTERS) are part of the
 * stats region's layout: shm/netd_layout.h, where ctl/ finds their names. */

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

/* Several engines (nqueues > 1): pick the ephemeral ports of connects so
 * that nicd's RSS sends their replies to this engine (shm/rss.h), saving
 * the hop through another engine. Returns 0 or -ENOMEM. */
int netd_apps_set_rss(struct netd_apps *a, unsigned nqueues);

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
