/* proto/tcp/tcp.h — TCP (RFC 9293): the public face of the state machine.
 *
 * Where it sits: ipv4_input -> stack_tcp_input -> tcp_input (this module) ->
 * env->output -> ipv4_output. TCP does no I/O and reads no clock: segments and
 * the time come in as arguments; finished segments and readiness events go out
 * through the callbacks in struct tcp_env. A test drives it with crafted
 * segments and a fake clock (tests/support/tcp_seg.h).
 *
 * Two halves, split by where they live:
 *
 *   struct tcp_stack  ALL TCP state of one engine: the TCB pool, the 4-tuple
 *                     hash, listeners, the timer wheel, counters, secrets and
 *                     the per-connection byte buffers. One contiguous block,
 *                     formatted by tcp_stack_format() in memory the caller owns
 *                     (a shared-memory region), containing no pointers: a
 *                     restarted netd re-attaches with tcp_stack_attach() and
 *                     carries on; retransmission covers frames lost meanwhile.
 *                     Opaque here; the layout is in tcp_internal.h / tcb.h.
 *
 *   struct tcp_env    process-local: the pkb cache, the output and event
 *                     callbacks. Passed on every call, never stored.
 *
 * Connections are named by a uint32_t index into the TCB pool ("conn").
 * Listeners are conns too. A conn stays valid for the user until tcp_close()
 * or tcp_abort(); after that TCP may finish the close on its own (FIN_WAIT,
 * TIME_WAIT) and reuse the index later.
 *
 * Error convention: functions return 0 (or a count / a conn index) on success
 * and a negative errno on failure. Addresses and ports are host byte order.
 */
#ifndef RINGSTACK_PROTO_TCP_TCP_H
#define RINGSTACK_PROTO_TCP_TCP_H

#include <stddef.h>
#include <stdint.h>

#include "shm/pkb.h"

#define TCP_CONN_NONE UINT32_MAX

struct tcp_stack;   /* opaque: see tcp_internal.h */

/* RFC 9293 section 3.3.2 states. TCPS_ (as BSD) so as not to collide with
 * glibc's <netinet/tcp.h> enum of TCP_ESTABLISHED and friends. */
enum tcp_state {
	TCPS_CLOSED = 0,
	TCPS_LISTEN,
	TCPS_SYN_SENT,
	TCPS_SYN_RECEIVED,
	TCPS_ESTABLISHED,
	TCPS_FIN_WAIT_1,
	TCPS_FIN_WAIT_2,
	TCPS_CLOSE_WAIT,
	TCPS_CLOSING,
	TCPS_LAST_ACK,
	TCPS_TIME_WAIT,
	TCPS_NSTATES
};

/* Name of a state ("ESTABLISHED"), "?" when out of range. */
const char *tcp_state_name(unsigned state);

/* ------------------------------------------------------------ config */

/* Engine-wide settings, fixed at format time (tcp_config_default fills sane
 * values; the config file overrides). Times are in ns. */
struct tcp_config {
	uint32_t max_conns;       /* TCB pool size, listeners included */
	uint32_t hash_buckets;    /* power of two; 0: chosen from max_conns */
	uint32_t sndbuf;          /* bytes of send buffer per conn, power of two */
	uint32_t rcvbuf;          /* bytes of receive buffer per conn, power of two */
	uint16_t mtu;             /* default route MTU: MSS clamp = mtu - 40 */
	uint16_t syn_backlog;     /* embryonic conns per listener before SYN cookies */
	uint8_t syncookies;       /* 0 never, 1 when the SYN queue is full, 2 always */
	uint8_t timestamps;       /* offer RFC 7323 timestamps */
	uint8_t window_scaling;   /* offer RFC 7323 window scaling */
	uint8_t sack;             /* offer RFC 2018 SACK */
	uint64_t msl;             /* maximum segment lifetime; TIME_WAIT is 2*msl */
	uint64_t delack;          /* delayed-ACK timeout (RFC 1122 4.2.3.2: < 500 ms) */
	uint64_t syn_rto;         /* initial RTO (RFC 6298 2.1: 1 s) */
	uint32_t syn_retries;     /* SYN retransmissions before giving up */
	uint32_t retries2;        /* data retransmissions before giving up (R2) */
	uint64_t keepidle, keepintvl;   /* defaults for SO_KEEPALIVE */
	uint32_t keepcnt;
	uint16_t ephemeral_lo, ephemeral_hi;   /* tcp_connect with lport 0 */
	uint32_t challenge_ack_limit;  /* RFC 5961 7: challenge ACKs per second, engine-wide
					* (randomised per second, as Linux); 0: no limit */
	char cc[16];              /* default congestion control ("newreno", "cubic") */
	uint64_t secret[2];       /* keys for ISNs and SYN cookies (random at start) */
};

void tcp_config_default(struct tcp_config *cfg);

/* ------------------------------------------------------------ the env */

/* Readiness events, ORed into `events` of the event callback. */
enum tcp_event {
	TCP_EV_READABLE  = 1u << 0, /* tcp_recv has data, or the peer's FIN (returns 0) */
	TCP_EV_WRITABLE  = 1u << 1, /* send buffer space opened (after being short) */
	TCP_EV_CONNECTED = 1u << 2, /* an active open reached ESTABLISHED */
	TCP_EV_ACCEPT    = 1u << 3, /* on a listener: tcp_accept has a conn */
	TCP_EV_ERROR     = 1u << 4, /* reset, refused or timed out: see TCP_SOCKOPT_ERROR */
	TCP_EV_CLOSED    = 1u << 5, /* reached CLOSED: the last event for this conn */
};

/* Process-local context, passed to every call (never stored in tcp_stack). */
struct tcp_env {
	struct pkb_cache *cache;  /* buffers for outgoing segments */
	void *ctx;                /* first argument of the callbacks */
	/* A finished segment: seg->data at the TCP header, checksum filled in
	 * (pseudo-header of saddr/daddr). Ownership of seg passes to the callee. */
	void (*output)(void *ctx, struct pkb *seg, uint32_t saddr, uint32_t daddr,
		       uint64_t now);
	/* Readiness of conn changed (enum tcp_event bits). May be NULL. The callee
	 * must not call back into TCP for this stack (queue the work instead). */
	void (*event)(void *ctx, uint32_t conn, unsigned events);
	/* MTU of the route to daddr, for the MSS clamp; NULL: cfg.mtu. */
	uint16_t (*route_mtu)(void *ctx, uint32_t daddr);
};

/* ------------------------------------------------- the engine's block */

/* Bytes a tcp_stack for cfg needs (TCBs, hash, buffers included), or 0 if
 * cfg is unusable (buffer sizes not powers of two, zero conns, ...). */
size_t tcp_stack_bytes(const struct tcp_config *cfg);

/* Format a new stack in mem (len bytes, 64-byte aligned). Returns the stack
 * (== mem), or NULL for a bad cfg or too small a len. */
struct tcp_stack *tcp_stack_format(void *mem, size_t len, const struct tcp_config *cfg,
				   uint64_t now);

/* Re-attach to a stack formatted earlier (perhaps by a process that died).
 * Checks magic, layout version and sizes. Returns the stack or NULL. */
struct tcp_stack *tcp_stack_attach(void *mem, size_t len);

/* ------------------------------------------------------ packets, timers */

/* Take one received segment: b->data at the TCP header, b's length the TCP
 * length (IP header and padding already removed). The checksum is verified
 * here against the pseudo-header unless b has PKB_F_CSUM_OK. Ownership of b
 * passes to TCP (it is freed before return: no pkb is kept). */
void tcp_input(struct tcp_stack *ts, const struct tcp_env *env, struct pkb *b,
	       uint32_t saddr, uint32_t daddr, uint64_t now);

/* One received segment for tcp_input_burst: as tcp_input's arguments. */
struct tcp_rx {
	struct pkb *pkb;
	uint32_t saddr, daddr;
};

/* tcp_input for rx[0..n) in order, with the same results, but faster when
 * the conns outnumber what the CPU caches hold (100,000 TCBs are 57 MB):
 * 4-tuple hashes are computed a few segments ahead, and the hash buckets,
 * then the TCBs, fetched into the cache ahead of use (as DPDK's bulk hash
 * lookups do), so the memory latencies of a burst overlap instead of adding
 * up. The engine calls it with a poll's batch. */
void tcp_input_burst(struct tcp_stack *ts, const struct tcp_env *env,
		     const struct tcp_rx *rx, unsigned n, uint64_t now);

/* Run every timer due at `now` (retransmission, delayed ACK, persist,
 * keepalive, TIME_WAIT, user timeout). Bounded work per call. */
void tcp_timers(struct tcp_stack *ts, const struct tcp_env *env, uint64_t now);

/* Earliest time tcp_timers has work to do, UINT64_MAX for none. */
uint64_t tcp_next_deadline(const struct tcp_stack *ts);

/* An ICMP error (RFC 792) about a segment this stack sent from (laddr, lport)
 * to (raddr, rport); seq is the sequence number the error quotes. err is
 * icmp_errno()'s reading of it: -ECONNREFUSED (port unreachable) and
 * -ENOPROTOOPT (protocol unreachable) are hard errors, -EMSGSIZE is
 * fragmentation needed with the next-hop mtu (0 from an RFC 792 router),
 * anything else is soft. What TCP does (RFC 1122 4.2.3.9, RFC 5927, RFC 1191):
 *   - nothing unless seq lies in [SND.UNA, SND.MAX) (RFC 5927 4.1: an
 *     off-path attacker must guess data in flight); counted drop
 *     TCP_ICMP_OUT_OF_WINDOW;
 *   - a hard error while opening (SYN_SENT, SYN_RECEIVED) ends the open:
 *     TCP_EV_ERROR with -ECONNREFUSED (a passive child just goes, as on RST);
 *   - fragmentation needed lowers the conn's MSS to mtu - 40 (not below 536)
 *     and retransmits what is in flight in the smaller segments;
 *   - any other error (a hard one on a synchronized conn too, RFC 5461) is
 *     soft: remembered, and reported (TCP_SOCKOPT_ERROR) instead of
 *     -ETIMEDOUT only if the conn later times out; an ACK forgets it.
 * Returns 0 (acted on, or ignored as above), -ENOENT when no conn has that
 * 4-tuple (the caller counts ICMP_ERR_NO_SOCKET), -EINVAL (seq not in flight). */
int tcp_icmp_error(struct tcp_stack *ts, const struct tcp_env *env, uint32_t laddr,
		   uint16_t lport, uint32_t raddr, uint16_t rport, uint32_t seq, int err,
		   uint16_t mtu, uint64_t now);

/* ------------------------------------------------------- user calls */

enum tcp_listen_flags {
	TCP_LISTEN_REUSEPORT = 1u << 0,  /* share (laddr, lport) with other REUSEPORT listeners */
};

/* Passive open on (laddr, lport); laddr 0 is the wildcard. backlog bounds the
 * accept queue. Returns the listener's conn, or -EADDRINUSE, -ENOBUFS (no
 * free TCB), -EINVAL. */
int tcp_listen(struct tcp_stack *ts, const struct tcp_env *env, uint32_t laddr,
	       uint16_t lport, uint32_t backlog, unsigned flags);

struct tcp_endpoint {
	uint32_t addr;
	uint16_t port;
};

/* Take the oldest established conn from listener's accept queue; its remote
 * end goes in *peer (may be NULL). Returns the conn, -EAGAIN if none,
 * -EINVAL if `listener` is not listening. */
int tcp_accept(struct tcp_stack *ts, const struct tcp_env *env, uint32_t listener,
	       struct tcp_endpoint *peer);

/* Active open: sends a SYN now. lport 0 picks an ephemeral port. Returns the
 * conn (TCP_EV_CONNECTED follows, or TCP_EV_ERROR), or -EADDRINUSE (4-tuple
 * taken), -ENOBUFS, -EINVAL. */
int tcp_connect(struct tcp_stack *ts, const struct tcp_env *env, uint32_t laddr,
		uint16_t lport, uint32_t raddr, uint16_t rport, uint64_t now);

enum tcp_send_flags {
	TCP_SEND_MORE = 1u << 0,  /* more follows (MSG_MORE): hold a partial segment */
};

/* Copy up to len bytes into conn's send buffer and transmit what the windows,
 * Nagle and TCP_CORK allow. Returns the bytes accepted (0 < n <= len), or
 * -EAGAIN (buffer full), -ENOTCONN, -EPIPE (shut down for writing), or the
 * pending error (-ECONNRESET, -ETIMEDOUT, ...). */
int tcp_send(struct tcp_stack *ts, const struct tcp_env *env, uint32_t conn,
	     const void *buf, uint32_t len, unsigned flags, uint64_t now);

enum tcp_recv_flags {
	TCP_RECV_PEEK = 1u << 0,  /* copy without consuming */
};

/* Copy up to len in-order bytes out of conn's receive buffer, opening the
 * window (a window update goes out when it grew enough, RFC 9293 3.8.6.2.2).
 * Returns bytes copied, 0 at end of stream (the peer's FIN), -EAGAIN when
 * nothing is there yet, or the pending error. */
int tcp_recv(struct tcp_stack *ts, const struct tcp_env *env, uint32_t conn,
	     void *buf, uint32_t len, unsigned flags, uint64_t now);

enum tcp_shut { TCP_SHUT_RD = 1, TCP_SHUT_WR = 2, TCP_SHUT_RDWR = 3 };

/* Half-close: TCP_SHUT_WR queues a FIN after the data already sent. Returns 0,
 * -ENOTCONN or -EINVAL. */
int tcp_shutdown(struct tcp_stack *ts, const struct tcp_env *env, uint32_t conn,
		 int how, uint64_t now);

/* Release the user's handle. Orderly close (FIN after queued data), except:
 * unread received data or SO_LINGER with 0 time abort with a RST (RFC 2525
 * 2.17); a listener drops its queued conns. TCP finishes the close on its
 * own. Returns 0 or -EINVAL. */
int tcp_close(struct tcp_stack *ts, const struct tcp_env *env, uint32_t conn,
	      uint64_t now);

/* Send a RST (in synchronized states) and free the TCB at once (RFC 9293
 * 3.10.5 ABORT). Returns 0 or -EINVAL. */
int tcp_abort(struct tcp_stack *ts, const struct tcp_env *env, uint32_t conn,
	      uint64_t now);

/* Socket options (our own numbers: netinet/tcp.h's are not ours to reuse).
 * Values are int (4 bytes) unless said otherwise. */
enum tcp_sockopt {
	TCP_SOCKOPT_NODELAY = 1,    /* disable Nagle */
	TCP_SOCKOPT_CORK,           /* hold partial segments until uncorked */
	TCP_SOCKOPT_CONGESTION,     /* char[16]: "newreno", "cubic"; mid-conn keeps cwnd and
	                             * ssthresh (tcp_cc_switch); a listener passes it on */
	TCP_SOCKOPT_KEEPIDLE,       /* seconds */
	TCP_SOCKOPT_KEEPINTVL,      /* seconds */
	TCP_SOCKOPT_KEEPCNT,
	TCP_SOCKOPT_KEEPALIVE,      /* SO_KEEPALIVE */
	TCP_SOCKOPT_USER_TIMEOUT,   /* ms; 0: default (retries2) */
	TCP_SOCKOPT_LINGER,         /* struct tcp_linger */
	TCP_SOCKOPT_MAXSEG,         /* clamp our MSS */
	TCP_SOCKOPT_RCVBUF,         /* bytes, at most cfg.rcvbuf */
	TCP_SOCKOPT_SNDBUF,         /* bytes, at most cfg.sndbuf */
	TCP_SOCKOPT_ERROR,          /* get only: pending -errno, cleared by reading */
};

struct tcp_linger {
	int32_t onoff;
	int32_t linger;             /* seconds; 0 with onoff: close aborts */
};

/* Set an option on conn. Returns 0, -EINVAL (bad value or length),
 * -ENOPROTOOPT (unknown option), -ENOENT (unknown congestion control). */
int tcp_setsockopt(struct tcp_stack *ts, const struct tcp_env *env, uint32_t conn,
		   int opt, const void *val, uint32_t len, uint64_t now);

/* Read an option into val (*len in: room, out: bytes written). Returns 0,
 * -EINVAL or -ENOPROTOOPT. */
int tcp_getsockopt(struct tcp_stack *ts, uint32_t conn, int opt, void *val,
		   uint32_t *len);

/* ------------------------------------------------------ observability */

/* Where loss recovery stands: the stages of Linux's tcpi_ca_state (its
 * enum tcp_ca_state, a name glibc's <netinet/tcp.h> takes). */
enum tcp_ca_phase {
	TCP_CAS_OPEN = 0,          /* nothing amiss */
	TCP_CAS_DISORDER,          /* duplicate ACKs or SACKs seen, no recovery yet */
	TCP_CAS_RECOVERY,          /* fast recovery (RFC 6582 / RFC 6675) */
	TCP_CAS_LOSS,              /* after a retransmission timeout, until new data is ACKed */
};

/* One connection, as `ss -ti` shows it. Times in microseconds, except the
 * last_* instants, which are TCP's clock (the `now` of the calls, ns). */
struct tcp_conn_info {
	uint8_t state;             /* enum tcp_state */
	uint8_t snd_wscale, rcv_wscale;
	uint8_t opts;              /* TCP_INFO_OPT_* negotiated */
	uint32_t laddr, raddr;
	uint16_t lport, rport;
	uint32_t rtt_us, rttvar_us, rto_us;   /* rto with the backoff applied */
	uint32_t min_rtt_us;               /* smallest sample, 0: none yet */
	uint32_t snd_mss, rcv_mss;
	uint32_t snd_cwnd, snd_ssthresh;   /* bytes */
	uint32_t snd_wnd, rcv_wnd;         /* bytes, scaled */
	uint32_t unacked, sacked, lost;    /* bytes in flight / SACKed / deemed lost */
	uint32_t retrans;                  /* bytes retransmitted and still in flight */
	uint32_t notsent;                  /* bytes queued by the user, not sent yet */
	uint32_t backoff;                  /* consecutive RTO expiries */
	uint8_t ca_state;                  /* enum tcp_ca_phase */
	uint8_t retransmits;               /* retransmissions of the current head, unanswered */
	uint8_t probes;                    /* keepalive / zero-window probes unanswered */
	uint16_t pmtu;                     /* path MTU learned from ICMP, 0: the route's */
	uint32_t rcvbuf, sndbuf;           /* bytes TCP buffers for this conn (SO_RCVBUF/SNDBUF) */
	uint32_t ato_us;                   /* delayed-ACK timeout */
	uint64_t bytes_acked, bytes_received;
	uint64_t bytes_sent, bytes_retrans;   /* payload bytes, retransmissions in both */
	uint64_t total_retrans;            /* segments retransmitted */
	uint32_t segs_out, segs_in, data_segs_out, data_segs_in;
	uint32_t dsack_dups, rcv_ooopack;
	uint64_t last_data_sent, last_data_rcvd, last_seg_rcvd;   /* ns; 0: never */
	char cc[16];
};
#define TCP_INFO_OPT_TIMESTAMPS 0x1u
#define TCP_INFO_OPT_SACK       0x2u
#define TCP_INFO_OPT_WSCALE     0x4u

/* Fill *out for conn. Returns 0 or -EINVAL (no such conn). */
int tcp_info(const struct tcp_stack *ts, uint32_t conn, struct tcp_conn_info *out);

/* Engine-wide counters, in the spirit of `nstat` (Tcp* and TcpExt*). */
#define TCP_COUNTERS(X)                                                         \
	X(ACTIVE_OPENS,     "connections opened actively (SYN sent)")           \
	X(PASSIVE_OPENS,    "connections opened passively (SYN received)")      \
	X(ATTEMPT_FAILS,    "opens that failed (RST or timeout before ESTAB)")  \
	X(ESTAB_RESETS,     "resets in ESTABLISHED or CLOSE_WAIT")              \
	X(IN_SEGS,          "segments received")                                \
	X(OUT_SEGS,         "segments sent")                                    \
	X(RETRANS_SEGS,     "segments retransmitted")                           \
	X(OUT_RSTS,         "RSTs sent")                                        \
	X(FAST_RETRANS,     "fast retransmits (3 dupacks or SACK loss)")        \
	X(TIMEOUTS,         "retransmission timeouts")                          \
	X(SACK_RECOVERY,    "SACK-based loss recoveries (RFC 6675)")            \
	X(SACK_RESCUE,      "rescue retransmissions (RFC 6675 NextSeg rule 4)") \
	X(TW_RECYCLED,      "TIME_WAITs ended early for a new conn (table full)") \
	X(DSACKS_RECV,      "D-SACK blocks received (RFC 2883)")                \
	X(RENO_RECOVERY,    "NewReno loss recoveries (RFC 6582)")               \
	X(CHALLENGE_ACKS,   "challenge ACKs sent (RFC 5961)")                   \
	X(CHALLENGE_ACKS_LIMITED, "challenge ACKs not sent: rate limit (RFC 5961 7)") \
	X(DELAYED_ACKS,     "ACKs sent by the delayed-ACK timer")               \
	X(PERSIST_PROBES,   "zero-window probes sent")                          \
	X(KEEPALIVE_PROBES, "keepalive probes sent")                            \
	X(SYNCOOKIES_SENT,  "SYN cookies sent")                                 \
	X(SYNCOOKIES_RECV,  "valid SYN cookies received")                       \
	X(SYNCOOKIES_FAILED,"invalid SYN cookies received")                     \
	X(TW_REUSED,        "TIME_WAIT conns reused by a new SYN (RFC 6191)")   \
	X(OFO_QUEUED,       "segments queued out of order")                     \
	X(ABORT_ON_DATA,    "closed with unread data: RST sent")                \
	X(ABORT_ON_LINGER,  "closed with SO_LINGER 0: RST sent")                \
	X(ABORT_ON_TIMEOUT, "aborted after too many retransmissions")           \
	X(ABORT_ON_USER,    "tcp_abort calls")                                  \
	X(ICMP_HARD_ERRORS, "opens ended by ICMP port/protocol unreachable")    \
	X(ICMP_SOFT_ERRORS, "ICMP soft errors remembered (RFC 1122 4.2.3.9)")   \
	X(PMTU_REDUCED,     "MSS lowered by ICMP fragmentation needed (RFC 1191)")

#define TCP_CNT_ID(name, text) TCP_CNT_##name,
enum tcp_counter { TCP_COUNTERS(TCP_CNT_ID) TCP_CNT_NR };
#undef TCP_CNT_ID

/* Copy the counters into out[TCP_CNT_NR] and TCP's drops by reason into
 * drops[PROTO_DROP_MAX] (only the PROTO_DROP_TCP_* entries move; either
 * pointer may be NULL). Relaxed reads: safe from another process. */
void tcp_stats_read(const struct tcp_stack *ts, uint64_t *out, uint64_t *drops);

/* Name and text of counter i, NULL when out of range. */
const char *tcp_counter_name(unsigned i);
const char *tcp_counter_text(unsigned i);

/* Number of TCBs in use (listeners, conns and TIME_WAIT). */
uint32_t tcp_conn_count(const struct tcp_stack *ts);

/* Number of TCB slots (max_conns): conn ids run 0 .. this - 1, and
 * tcp_info says which are in use (ctl/ lists them that way). */
uint32_t tcp_conn_slots(const struct tcp_stack *ts);

/* Of those, how many are in TIME_WAIT (RFC 9293 3.6: held 2*MSL after an
 * active close; no user owns them). */
uint32_t tcp_timewait_count(const struct tcp_stack *ts);

#endif /* RINGSTACK_PROTO_TCP_TCP_H */
