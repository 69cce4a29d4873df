/* shm/sockd_layout.h — sockd's stats region, for ctl/ to read live.
 *
 * RUN_DIR/sockd.stats (REGION_KIND_STATS, SOCKD_STATS_VERSION): area
 * "sockd.ctr" holds struct sockd_counters (shm/counters.h; single writer,
 * sockd), area "sockd.gauge" holds struct sockd_gauges (values that go down
 * as well as up, which a counter must not).
 */
#ifndef RINGSTACK_SHM_SOCKD_LAYOUT_H
#define RINGSTACK_SHM_SOCKD_LAYOUT_H

#include <stdatomic.h>
#include <stdint.h>

#include "shm/counters.h"

#define SOCKD_STATS_FILE     "sockd.stats"   /* RUN_DIR/sockd.stats */
#define SOCKD_STATS_VERSION  2u
#define SOCKD_AREA_CTR       "sockd.ctr"
#define SOCKD_AREA_GAUGE     "sockd.gauge"

#define SOCKD_COUNTERS(X) \
	X(CONNS,            "connections accepted on sockd.sock") \
	X(CONNS_REFUSED,    "connections closed at once: no free slot") \
	X(CONNS_UID_LIMIT,  "connections closed at once: their uid owes too many hellos") \
	X(HELLO_EOF,        "peers that closed before their hello") \
	X(HELLO_TIMEOUT,    "peers that sent no hello in time") \
	X(BAD_HELLO,        "hellos refused: wrong size, magic, version or role") \
	X(APPS_ADMITTED,    "apps welcomed with status 0") \
	X(REFUSED_LAYOUT,   "apps refused -EPROTO: built for another layout") \
	X(REFUSED_QUOTA_UID, "apps refused -EUSERS: their uid has too many apps") \
	X(REFUSED_QUOTA_ALL, "apps refused -EUSERS: sockd has too many apps") \
	X(REFUSED_NO_NETD,  "apps refused -EAGAIN: netd did not ack in time") \
	X(REFUSED_CREDS,    "apps refused -EPERM: no credentials or pidfd") \
	X(REFUSED_NOMEM,    "apps refused: region or eventfd could not be made") \
	X(APPS_BIND_PRIV,   "apps admitted with APP_F_BIND_PRIV") \
	X(APP_EXITED,       "apps gone: the process exited (pidfd)") \
	X(APP_CLOSED,       "apps gone: closed their control socket") \
	X(APP_GONE_PENDING, "apps gone before their welcome") \
	X(APP_BAD_MSG,      "apps dropped: sent something after their hello") \
	X(WELCOME_FAILED,   "welcomes that could not be sent") \
	X(ATTACHES_SENT,    "app_attach messages sent to netd (replays included)") \
	X(DETACHES_SENT,    "app_detach messages sent to netd") \
	X(ACKS,             "app_attach_ack received from netd") \
	X(ACK_UNKNOWN,      "acks for no pending or live app (late, or bogus)") \
	X(NETD_CONNECTS,    "netd hellos accepted") \
	X(NETD_LEFT,        "netd connections that ended") \
	X(NETD_BUSY,        "netd hellos refused -EBUSY: one is connected") \
	X(NETD_PERM,        "netd hellos refused -EPERM: not root or sockd's uid") \
	X(NETD_BAD_MSG,     "messages from netd that are not an ack") \
	X(NETD_STUCK,       "netd dropped: did not read its messages in time") \
	X(FDS_DISCARDED,    "file descriptors a peer sent us, closed") \
	X(ADOPTED,          "apps taken back from netd after a sockd restart (app_adopt)") \
	X(ADOPT_KNOWN,      "adoption offers for apps we have: ignored") \
	X(ADOPT_GONE,       "adoption offers for a process gone (or not that app's)") \
	X(ADOPT_REFUSED,    "adoption offers refused: no slot, or region unusable")

#define SOCKD_CTR_ID(name, text) SOCKD_##name,
enum sockd_counter { SOCKD_COUNTERS(SOCKD_CTR_ID) SOCKD_CTR_NR };
COUNTERS_DECLARE(sockd_counters, SOCKD_COUNTERS, SOCKD_CTR_NR);

/* Gauges, single writer (sockd), relaxed; readers take a snapshot. */
struct sockd_gauges {
	_Atomic uint32_t apps_live;       /* welcomed, not gone */
	_Atomic uint32_t apps_pending;    /* hello accepted, waiting for netd's ack */
	_Atomic uint32_t netd_connected;  /* 0 or 1 */
	_Atomic uint32_t netd_pid;        /* SO_PEERCRED of the connected netd, or 0 */
	uint8_t pad[48];
};
_Static_assert(sizeof(struct sockd_gauges) == 64, "sockd_gauges layout changed");

#endif /* RINGSTACK_SHM_SOCKD_LAYOUT_H */
