/* proto/tcp/tcb.h — the Transmission Control Block (RFC 9293 3.3.1).
 *
 * One struct tcb per connection or listener, in an array inside struct
 * tcp_stack (shared memory). Links are TCB indices, never pointers, so a
 * restarted engine that maps the block elsewhere follows them unchanged.
 * The bytes a TCB refers to live in its two rings (tcp_internal.h): the send
 * ring holds every byte from SND.UNA on (retransmissions are rebuilt from it),
 * the receive ring holds unread in-order bytes and out-of-order bytes at
 * their own offsets, described by the interval list ooo[].
 *
 *   send sequence space (RFC 9293 3.3.1, plus snd_max and snd_end):
 *
 *        snd_una      snd_nxt      snd_max        snd_end   snd_una + wnd
 *   ------|------------|------------|--------------|--------------|----
 *    acked | sent, not acked; snd_nxt | queued by the user, not yet sent
 *          | falls back below snd_max |
 *          | on retransmission        |
 */
#ifndef RINGSTACK_PROTO_TCP_TCB_H
#define RINGSTACK_PROTO_TCP_TCB_H

#include <stddef.h>
#include <stdint.h>

#include "proto/tcp/tcp_cc.h"
#include "proto/tcp/tcp_rtt.h"
#include "proto/timerwheel.h"

/* A half-open range of sequence numbers [start, end). */
struct tcp_range {
	uint32_t start, end;
};

#define TCP_OOO_MAX   6u   /* receive: out-of-order intervals kept (memory bound) */
#define TCP_SCORE_MAX 8u   /* send: SACKed ranges kept on the scoreboard */

/* Per-TCB deadlines; one timer-wheel entry per TCB fires at the earliest. */
enum tcb_timer {
	TCB_T_REXMT = 0,   /* retransmission (SYN, data, FIN): RFC 6298 */
	TCB_T_PERSIST,     /* zero-window probe: RFC 9293 3.8.6.1 */
	TCB_T_DELACK,      /* delayed ACK: RFC 1122 4.2.3.2 */
	TCB_T_KEEP,        /* keepalive, or the connection-establishment limit */
	TCB_T_2MSL,        /* TIME_WAIT, and the FIN_WAIT_2 / linger limit */
	TCB_T_NR
};

enum tcb_flags {
	TF_ACK_NOW      = 1u << 0,   /* send an ACK at the next tcp_output */
	TF_DELACK       = 1u << 1,   /* an ACK is owed, delayed */
	TF_TS_OK        = 1u << 2,   /* RFC 7323 timestamps negotiated */
	TF_WS_OK        = 1u << 3,   /* window scaling negotiated */
	TF_SACK_OK      = 1u << 4,   /* SACK permitted both ways */
	TF_NODELAY      = 1u << 5,   /* TCP_NODELAY */
	TF_CORK         = 1u << 6,   /* TCP_CORK */
	TF_MORE         = 1u << 7,   /* the last send said TCP_SEND_MORE */
	TF_FIN_QUEUED   = 1u << 8,   /* user closed writing: FIN at snd_end */
	TF_FIN_RCVD     = 1u << 9,   /* peer's FIN consumed (rcv_nxt past it) */
	TF_RCV_SHUT     = 1u << 10,  /* user shut reading: discard arriving data */
	TF_USER_CLOSED  = 1u << 11,  /* no user handle: free on CLOSED */
	TF_KEEPALIVE    = 1u << 12,  /* SO_KEEPALIVE */
	TF_IN_RECOVERY  = 1u << 13,  /* fast recovery (RFC 6582 / RFC 6675) */
	TF_WANT_WRITE   = 1u << 14,  /* a send found the buffer full: report WRITABLE */
	TF_QUICKACK     = 1u << 15,  /* ACK every segment (start of a connection) */
	TF_COOKIE       = 1u << 16,  /* created from a SYN cookie */
	TF_LINGER       = 1u << 17,  /* SO_LINGER on */
	TF_ACCEPTED     = 1u << 18,  /* handed to the user by tcp_accept */
	TF_REUSEPORT    = 1u << 19,  /* listener in a SO_REUSEPORT group */
	TF_IN_HASH      = 1u << 20,  /* linked in the 4-tuple hash */
	TF_RTT_TIMING   = 1u << 21,  /* rtt_seq is being timed (no timestamps) */
	TF_SYN_SACKPERM = 1u << 22,  /* peer's SYN carried SACK-permitted */
	TF_IN_AQ        = 1u << 23,  /* child linked in its listener's accept queue */
};

/* Fields are ordered by temperature, and every TCB starts on a cache line of
 * its own. Lines 0-2 hold what every segment of an established conn reads
 * or writes (identity, sequence spaces, timestamps, timer deadlines): these
 * TCB_SEG_BYTES are what tcp_input_burst fetches ahead. Lines 3-5 add what
 * an ACK of new data touches (the wheel entry, RTT, congestion control).
 * After TCB_HOT_BYTES: out-of-order data, SACK recovery, listeners,
 * options and statistics. */
struct tcb {
	/* ================================================================ hot */
	/* ---- identity and links ---- */
	uint32_t laddr, raddr;
	uint16_t lport, rport;
	uint8_t state;               /* enum tcp_state */
	uint8_t in_use;
	uint8_t snd_wscale;          /* peer's shift: applied to SEG.WND we receive */
	uint8_t rcv_wscale;          /* our shift: applied to windows we send */
	uint32_t flags;              /* enum tcb_flags */
	uint32_t hash_next;          /* chain: 4-tuple hash, listener hash or free list */
	int16_t error;               /* pending -errno for the user */
	int16_t soft_error;          /* last ICMP soft error: reported only on a timeout */

	/* ---- send sequence space ---- */
	uint32_t iss;
	uint32_t snd_una, snd_nxt, snd_max, snd_end;
	uint32_t snd_wnd;            /* scaled peer window */
	uint32_t snd_wl1, snd_wl2;   /* segment seq / ack of the last window update */
	uint32_t max_sndwnd;         /* largest window the peer offered (SWS, 4.2.3.4) */
	uint32_t snd_mss;            /* segment size we send: min(peer MSS, route, user) */
	uint32_t rcv_mss;            /* MSS we announced */
	uint32_t sndbuf_lim;         /* SO_SNDBUF, <= cfg.sndbuf */

	/* ---- receive sequence space ---- */
	uint32_t irs;
	uint32_t rcv_nxt;
	uint32_t rcv_user;           /* next byte the user reads (ring start) */
	uint32_t rcv_adv;            /* right edge of the window we advertised */
	uint32_t rcvbuf_lim;         /* SO_RCVBUF, <= cfg.rcvbuf */
	uint32_t fin_seq;            /* peer's FIN seq once seen (maybe out of order) */
	uint8_t fin_seen;
	uint8_t n_ooo;
	uint8_t n_score;
	uint8_t dupacks;
	uint16_t rcv_segs_unacked;   /* full segments received since our last ACK */
	uint16_t quickack;           /* segments still to ACK at once */

	/* ---- timestamps (RFC 7323) ---- */
	uint32_t ts_recent;          /* TS.Recent */
	uint32_t ts_offset;          /* per-connection TSval offset (RFC 7323 5.4) */
	uint32_t last_ack_sent;      /* RCV.NXT in our last ACK (RFC 7323 4.3) */
	uint64_t ts_recent_age;      /* when ts_recent was set (24-day rule, 5.5) */

	/* ---- timers ---- */
	uint64_t timer[TCB_T_NR];    /* absolute deadlines, 0: off */
	uint64_t last_rcv;           /* last segment received (keepalive idle) */
	uint64_t first_unacked_at;   /* start of the current stall (user timeout) */
	uint32_t n_rexmt;            /* consecutive retransmissions of one segment */
	uint32_t n_probes;           /* keepalive / persist probes unanswered */

	/* ---- lines 3-5: what an ACK of new data adds ---- */
	struct tw_entry tw;          /* the one wheel entry, armed for min(timer[]) */
	uint32_t recover;            /* RecoveryPoint / "recover" (RFC 6582, 6675) */
	uint32_t rtt_seq;            /* Karn timing without timestamps */
	uint64_t rtt_start;
	struct tcp_rtt rtt;          /* tcp_rtt.h: SRTT, RTTVAR, RTO, backoff */
	struct tcp_cc cc;            /* tcp_cc.h: cwnd, ssthresh, algorithm */

	/* =============================================================== cold */
	/* ---- out of order, SACK and loss recovery (RFC 2018, 6675) ---- */
	uint32_t ooo_recent;         /* start of the latest OOO segment (first SACK block) */
	uint32_t rexmt_high;         /* RFC 6675 HighRxt (end of the highest retransmission) */
	uint32_t rescue_rxt;         /* RFC 6675 RescueRxt (end of it, as rexmt_high) */
	uint16_t pmtu;               /* path MTU learned from ICMP (RFC 1191), 0: route's */
	uint16_t pad0;
	struct tcp_range ooo[TCP_OOO_MAX];      /* receive: OOO data, most recent first */
	struct tcp_range score[TCP_SCORE_MAX];  /* send: SACKed above snd_una, sorted */

	/* ---- listeners and their children ---- */
	uint32_t parent;             /* listener of an embryonic / queued child */
	uint32_t aq_next;            /* listener: accept-queue head; child: next in it */
	uint32_t aq_tail;            /* listener: accept-queue tail */
	uint16_t aq_len, backlog;    /* listener: accept queue length and limit */
	uint16_t syn_len;            /* listener: children in SYN_RECEIVED */
	uint16_t pad1;

	/* ---- options ---- */
	uint32_t user_mss;           /* TCP_MAXSEG, 0: none */
	uint32_t keepcnt;
	uint64_t keepidle, keepintvl;
	uint32_t linger_s;
	uint32_t pad2;
	uint64_t user_timeout;       /* TCP_USER_TIMEOUT in ns, 0: none */

	/* ---- statistics (tcp_info) ---- */
	uint64_t bytes_acked, bytes_received;
	uint64_t total_retrans;
	uint64_t bytes_sent;         /* payload bytes sent, retransmissions included */
	uint64_t bytes_retrans;      /* payload bytes retransmitted */
	uint64_t last_data_sent;     /* when a segment with payload last went out (0: never) */
	uint64_t last_data_rcvd;     /* when in-window payload last arrived (0: never) */
	uint64_t last_seg_rcvd;      /* when any segment for this TCB last arrived */
	uint32_t segs_out, segs_in;  /* segments sent / received (as GRO merged them), any kind */
	uint32_t data_segs_out, data_segs_in;   /* of those, the ones with payload */
	uint32_t dsack_dups;         /* D-SACK blocks received (RFC 2883) */
	uint32_t rcv_ooopack;        /* segments that arrived out of order */
} __attribute__((aligned(64)));

#define TCB_SEG_BYTES offsetof(struct tcb, tw)          /* every segment */
#define TCB_HOT_BYTES offsetof(struct tcb, ooo_recent)  /* every ACK of new data */
_Static_assert(sizeof(struct tcb) % 64 == 0, "a TCB fills whole cache lines");
_Static_assert(offsetof(struct tcb, tw) == 3 * 64, "every segment's fields: lines 0-2");
_Static_assert(offsetof(struct tcb, ooo_recent) <= 6 * 64, "the hot part is six lines at most");

#endif /* RINGSTACK_PROTO_TCP_TCB_H */
