/* sockd/sockd.h — sockd's private interfaces between its files.
 *
 * Where it sits: on the control path, before any data moves. An app (libsock)
 * connects to RUN_DIR/sockd.sock and says hello; sockd admits it (SO_PEERCRED,
 * quotas, policy), makes its region (app_region.c), hands the region to netd
 * (netd.c) and, once netd acknowledged, welcomes the app with the same fds
 * (app.c). From then on app and netd talk through the region alone; sockd
 * only watches the app (pidfd, socket EOF) to tell netd when it is gone.
 *
 * One thread, one epoll set (main.c runs it). Every registered fd carries a
 * tag (kind, slot, generation): a slot freed and reused within one batch of
 * events is recognised and its stale events dropped.
 *
 *     main.c        flags, run directory, signals, sd_notify, the loop
 *     conn.c        the listening socket, accepts, reading hellos
 *     app.c         an app's life: admit, welcome, watch, clean up
 *     policy.c      credentials, capabilities, quotas
 *     app_region.c  building an app's region
 *     netd.c        the netd connection: attach, detach, acks, replay
 *     stats.c       counters and gauges (RUN_DIR/sockd.stats), printing
 */
#ifndef RINGSTACK_SOCKD_SOCKD_H
#define RINGSTACK_SOCKD_SOCKD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "shm/app_layout.h"
#include "shm/region.h"
#include "shm/app_layout.h"
#include "shm/sockd_layout.h"

/* ------------------------------------------------------------------ logging */

/* syslog priorities as journald reads them from a "<N>" prefix on stderr */
#define SOCKD_ERR    3
#define SOCKD_WARN   4
#define SOCKD_INFO   6

void sockd_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------- tunables */

#define SOCKD_RUN_DIR_DEFAULT   "/run/ringstack"
#define SOCKD_APPS_DEF          128u    /* apps admitted at once (--max-apps) */
#define SOCKD_APPS_MAX          4096u
#define SOCKD_APPS_PER_UID_DEF  64u     /* --max-apps-per-uid */
#define SOCKD_HELLO_SLOTS       64u     /* connections still owing a hello */
#define SOCKD_HELLO_PER_UID     16u     /* of those, from one uid (slow-loris bound) */
#define SOCKD_HELLO_MS          1000u   /* time a connection has to say hello */
#define SOCKD_ATTACH_MS_DEF     2000u   /* time netd has to ack (--attach-timeout-ms) */
#define SOCKD_NETD_STUCK_MS     5000u   /* netd that reads nothing this long is dropped */
#define SOCKD_ACCEPT_BATCH      16u     /* accepts per readiness event */
#define SOCKD_EVENTS            64u     /* epoll events per wait */

struct sockd_config {
	const char *run_dir;
	unsigned max_apps;
	unsigned max_per_uid;
	unsigned nsocks;             /* sockets per app (--max-sockets) */
	unsigned attach_ms;
};

/* ------------------------------------------------------------ epoll tags */

enum sockd_tag_kind {
	SOCKD_TAG_LISTEN = 1,
	SOCKD_TAG_SIGNAL,
	SOCKD_TAG_CONN,              /* a slot's control socket */
	SOCKD_TAG_PIDFD,             /* a slot's pidfd */
	SOCKD_TAG_NETD,
};

static inline uint64_t sockd_tag(enum sockd_tag_kind kind, unsigned slot, uint32_t gen)
{
	return (uint64_t)kind << 56 | (uint64_t)(slot & 0xffffff) << 32 | gen;
}
static inline enum sockd_tag_kind sockd_tag_kind(uint64_t t) { return (enum sockd_tag_kind)(t >> 56); }
static inline unsigned sockd_tag_slot(uint64_t t) { return (unsigned)(t >> 32) & 0xffffff; }
static inline uint32_t sockd_tag_gen(uint64_t t) { return (uint32_t)t; }

/* --------------------------------------------------------------- state */

enum sockd_slot_state {
	SOCKD_SLOT_FREE = 0,
	SOCKD_SLOT_HELLO,            /* accepted; its hello not read yet */
	SOCKD_SLOT_PENDING,          /* admitted, region made; waiting for netd's ack */
	SOCKD_SLOT_LIVE,             /* welcomed */
};

/* One connection on sockd.sock: first a hello, then (if admitted) an app. */
struct sockd_app {
	enum sockd_slot_state state;
	uint32_t gen;                /* bumped at every reuse of the slot */
	int fd;                      /* control socket */
	int pidfd;
	int efd;                     /* the app's wake pipe: read end (the app's) */
	int efd_w;                   /*   write end, the app's open file */
	int efd_netd;                /*   write end reopened for netd: its own open file */
	struct region region;        /* the app's region (sockd keeps its mapping) */
	uint32_t app_id;
	uint32_t pid, uid, gid;      /* SO_PEERCRED */
	uint32_t flags;              /* enum app_flags */
	uint32_t nsocks;             /* sockets in its region (an adopted app's may differ) */
	bool attach_sent;            /* the current netd connection has its attach */
	uint64_t deadline_ns;        /* HELLO: hello due; PENDING: ack due */
	uint64_t hello_ns;           /* when the hello was read */
	char name[16];               /* the hello's comm, for logs */
};

/* The one netd connection. Detaches owed to it wait in detq when its socket
 * is full; attaches are owed by every admitted app with !attach_sent. */
struct sockd_netd {
	int fd;                      /* -1: no netd */
	uint32_t gen;
	uint32_t pid, uid;
	bool want_out;               /* EPOLLOUT armed: a send found the socket full */
	uint64_t blocked_ns;         /* when it filled (for SOCKD_NETD_STUCK_MS) */
	uint32_t *detq;              /* app ids owed a detach: a circular FIFO */
	unsigned detq_head, detq_n, detq_cap;
};

struct sockd {
	struct sockd_config cfg;
	int epfd, listen_fd, sig_fd;
	struct sockd_app *apps;      /* nslots = max_apps + SOCKD_HELLO_SLOTS */
	unsigned nslots;
	struct sockd_netd netd;
	struct region stats_region;  /* RUN_DIR/sockd.stats, or unmapped (heap counters) */
	struct sockd_counters *ctr;
	struct sockd_gauges *gauge;
	void *stats_heap;            /* counters' memory when the stats file failed */
	uint32_t next_app_id;
	uint64_t accept_resume_ns;   /* accepts paused (out of fds) until then; 0: not */
	uint64_t logged;             /* bit per counter: its "first one" line was logged */
	bool stop;
	char sock_path[108];
};

/* --------------------------------------------------------------- main.c */

uint64_t sockd_now_ns(void);

/* Register fd in the epoll set with events and tag; 0 or -errno. */
int sockd_epoll_add(struct sockd *sd, int fd, uint32_t events, uint64_t tag);
int sockd_epoll_mod(struct sockd *sd, int fd, uint32_t events, uint64_t tag);

/* Tell systemd (STATUS=) how many apps there are and whether netd is here. */
void sockd_status(struct sockd *sd);

/* --------------------------------------------------------------- conn.c */

/* Create RUN_DIR/sockd.sock (mode 0666) and listen. 0 or -errno. */
int sockd_listen_open(struct sockd *sd);
void sockd_listen_close(struct sockd *sd);

/* The listening socket is readable: accept up to SOCKD_ACCEPT_BATCH peers. */
void sockd_accept(struct sockd *sd);

/* Resume accepts paused for want of descriptors; returns the next deadline
 * in ns (UINT64_MAX: none). */
uint64_t sockd_listen_timers(struct sockd *sd, uint64_t now);

/* Slot i's socket is readable (or hung up): its hello, or, for an admitted
 * app, EOF or a message it had no business sending. */
void sockd_conn_ready(struct sockd *sd, unsigned i, uint32_t events);

/* Receive one message of at most len bytes into buf, without blocking.
 * File descriptors the peer attached are closed (counted), never kept.
 * Returns its length, 0 at EOF, -EMSGSIZE if it was longer than len (the
 * rest is lost), or -errno (-EAGAIN: nothing yet). */
int sockd_recv(struct sockd *sd, int fd, void *buf, size_t len);

/* sockd_recv, keeping up to max descriptors the message carried in fds
 * (*nfds of them; the rest closed and counted). For netd's adoption offers
 * only: an app's descriptors are never kept. */
int sockd_recv_fds(struct sockd *sd, int fd, void *buf, size_t len, int *fds, unsigned max,
		   unsigned *nfds);

/* Send one message with nfds descriptors, without blocking: 0 or -errno. */
int sockd_send(int fd, const void *msg, size_t len, const int *fds, unsigned nfds);

/* ---------------------------------------------------------------- app.c */

/* Free slot, or -1. Claims it (state HELLO, fresh generation, fds -1). */
int sockd_slot_claim(struct sockd *sd);

/* Close everything a slot holds and free it (no message to anyone). */
void sockd_slot_release(struct sockd *sd, unsigned i);

/* Answer slot i with a welcome carrying status (-errno, no fds) and release
 * it. */
void sockd_refuse(struct sockd *sd, unsigned i, int status);

/* A valid APP hello arrived on slot i: credentials, quotas, policy, region;
 * then the attach to netd and, after its ack, the welcome. Refusals are
 * answered with a welcome carrying -errno and the slot is released. */
void sockd_app_hello(struct sockd *sd, unsigned i, const struct app_hello *h);

/* netd acknowledged app_id: welcome it if it is still waiting. */
void sockd_app_acked(struct sockd *sd, uint32_t app_id);

/* netd offers an app it kept while no sockd was connected (m: the fields
 * of its attach; fds: region and netd's wake write end, both ours now).
 * Taken in as LIVE, watched by pidfd, its attach owed to netd as a replay;
 * or ignored (known) or refused (gone, no slot), fds closed. */
void sockd_app_adopt(struct sockd *sd, const struct app_attach *m, int fds[APP_ATTACH_NFDS]);

/* Slot i's app is gone: count why (SOCKD_APP_EXITED, _CLOSED, _BAD_MSG),
 * log one line, send netd a detach if it had the attach, release the slot. */
void sockd_app_gone(struct sockd *sd, unsigned i, enum sockd_counter why);

/* Expire hellos and attaches past their deadline; returns the next deadline
 * in ns (UINT64_MAX: none). */
uint64_t sockd_app_timers(struct sockd *sd, uint64_t now);

/* ------------------------------------------------------------- policy.c */

/* Fill pid/uid/gid from SO_PEERCRED and open a pidfd for the peer
 * (SO_PEERPIDFD, else pidfd_open). Returns 0 or -errno. */
int sockd_peer_creds(struct sockd_app *a);

/* enum app_flags for the peer: APP_F_BIND_PRIV if the process has
 * CAP_NET_BIND_SERVICE in its effective set, in sockd's user namespace. */
uint32_t sockd_policy_flags(const struct sockd_app *a);

/* 0 if one more app for uid fits, else -EUSERS and *why the counter. */
int sockd_quota_check(const struct sockd *sd, uint32_t uid, enum sockd_counter *why);

/* --------------------------------------------------------- app_region.c */

/* Create and format a's region (a->app_id, pid, uid, flags set) with nsocks
 * sockets: areas, rings, doorbells, app_ctl. Returns 0 or -errno. */
int sockd_region_build(struct sockd_app *a, unsigned nsocks);

/* ---------------------------------------------------------------- netd.c */

/* A NETD hello on slot i: take its socket as the netd connection (or refuse:
 * -EBUSY, -EPERM), welcome it, replay every admitted app. */
void sockd_netd_hello(struct sockd *sd, unsigned i);

/* netd's socket is readable or writable: acks, EOF, the send backlog. */
void sockd_netd_ready(struct sockd *sd, uint32_t events);

/* Send every attach and detach owed to netd, as far as its socket takes. */
void sockd_netd_flush(struct sockd *sd);

/* Owe netd a detach for app_id (its attach was sent) and flush. */
void sockd_netd_detach(struct sockd *sd, uint32_t app_id);

/* Drop the netd connection (why: for the log). Apps stay admitted. */
void sockd_netd_drop(struct sockd *sd, const char *why);

/* Drop a netd stuck with a full socket too long. */
void sockd_netd_timers(struct sockd *sd, uint64_t now);

/* --------------------------------------------------------------- stats.c */

/* Counters and gauges in RUN_DIR/sockd.stats (else on the heap). 0/-errno. */
int sockd_stats_open(struct sockd *sd);
void sockd_stats_close(struct sockd *sd);
void sockd_stats_print(struct sockd *sd, FILE *f);

/* Bump a counter for bad input; log the first one of its kind only (a
 * hostile peer must not flood the journal). */
void sockd_bad(struct sockd *sd, enum sockd_counter c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Recount apps_live / apps_pending / netd_connected into the gauges. */
void sockd_gauges_update(struct sockd *sd);

#endif /* RINGSTACK_SOCKD_SOCKD_H */
