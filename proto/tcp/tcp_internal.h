/* proto/tcp/tcp_internal.h — what the TCP source files share and nobody else
 * sees: the layout of struct tcp_stack, the parsed segment, sequence-number
 * arithmetic, and the functions one file of proto/tcp/ calls in another.
 *
 * Files and their roles (the packet's path through them):
 *   tcp_input.c   parse, look up, then RFC 9293 3.10.7's steps per state
 *   tcp_opt.c     option parse/build (MSS, WS, SACK-perm, SACK, TS)
 *   tcp_sack.c    receive-side OOO intervals, send-side scoreboard, RFC 6675
 *   tcp_icmp.c    ICMP errors about our segments (RFC 5927, RFC 1191)
 *   tcp_output.c  decide what may be sent (windows, Nagle, SWS) and build it
 *   tcp_timer.c   per-TCB deadlines behind one timer-wheel entry per TCB
 *   tcp_conn.c    TCB pool, 4-tuple hash, listeners, state changes
 *   tcp_user.c    the user calls of tcp.h
 *   tcp_stats.c   counters, names, tcp_info
 */
#ifndef RINGSTACK_PROTO_TCP_TCP_INTERNAL_H
#define RINGSTACK_PROTO_TCP_TCP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/counters.h"
#include "shm/pkb.h"
#include "proto/stats.h"
#include "proto/timerwheel.h"
#include "proto/tcp/tcp.h"
#include "proto/tcp/tcb.h"
#include "proto/tcp/tcp_isn.h"

#define TCP_STACK_MAGIC   0x54435053u   /* "TCPS" */
#define TCP_STACK_VERSION 6u   /* 5: per-TCB statistics for TCP_INFO (tcb.h); 6: tw_scan */

/* ------------------------------------------------- wire format (RFC 9293 3.1) */

#define TCP_HDR_LEN      20u
#define TCP_HDR_MAX      60u
#define TCP_OFF_SPORT    0
#define TCP_OFF_DPORT    2
#define TCP_OFF_SEQ      4
#define TCP_OFF_ACK      8
#define TCP_OFF_DOFF     12    /* data offset, high nibble */
#define TCP_OFF_FLAGS    13
#define TCP_OFF_WND      14
#define TCP_OFF_CSUM     16
#define TCP_OFF_URP      18

#define TH_FIN 0x01u
#define TH_SYN 0x02u
#define TH_RST 0x04u
#define TH_PSH 0x08u
#define TH_ACK 0x10u
#define TH_URG 0x20u

#define TCP_IPPROTO      6u
#define TCP_MSS_DEFAULT  536u   /* RFC 9293 3.7.1: no MSS option */
#define TCP_MSS_MIN      88u    /* a floor against tiny MSS options */
#define TCP_WSCALE_MAX   14u    /* RFC 7323 2.3 */
#define TCP_IPV4_HDRS    40u    /* IPv4 + TCP headers without options */
#define TCP_PMTU_MIN     576u   /* ICMP cannot push the path MTU below this (MSS 536) */

/* ------------------------------------------------------------ parsed segment */

/* Options of one segment, host order (tcp_opt.c). */
struct tcp_opts {
	uint8_t has;                 /* TCP_OPTF_* present */
	uint8_t wscale;
	uint8_t nsack;
	uint16_t mss;
	uint32_t tsval, tsecr;
	struct tcp_range sack[4];
};
#define TCP_OPTF_MSS      0x01u
#define TCP_OPTF_WSCALE   0x02u
#define TCP_OPTF_SACKPERM 0x04u
#define TCP_OPTF_SACK     0x08u
#define TCP_OPTF_TS       0x10u

/* One received segment after parsing: nothing reads the wire bytes again. */
struct tcp_seg {
	uint32_t saddr, daddr;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint32_t wnd;                /* raw 16-bit field; scaled by the receiver */
	uint8_t flags;               /* TH_* */
	uint16_t hdr_len;
	uint32_t data_len;           /* payload bytes */
	uint32_t len;                /* SEG.LEN: data_len + SYN + FIN */
	const struct pkb *pkb;       /* payload at byte hdr_len of its chain */
	struct tcp_opts opt;
};

/* --------------------------------------- sequence arithmetic (RFC 9293 3.4) */

static inline bool seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline bool seq_leq(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }
static inline bool seq_gt(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }
static inline bool seq_geq(uint32_t a, uint32_t b) { return (int32_t)(a - b) >= 0; }
static inline uint32_t seq_max(uint32_t a, uint32_t b) { return seq_gt(a, b) ? a : b; }
static inline uint32_t seq_min(uint32_t a, uint32_t b) { return seq_lt(a, b) ? a : b; }
/* lo <= s < hi */
static inline bool seq_in(uint32_t s, uint32_t lo, uint32_t hi)
{
	return seq_geq(s, lo) && seq_lt(s, hi);
}

/* ------------------------------------------------------------ the engine block */

COUNTERS_DECLARE(tcp_counters, TCP_COUNTERS, TCP_CNT_NR);
/* TCP's drops use proto/stats.h's one list of reasons (TCP_* entries). */
COUNTERS_DECLARE(tcp_drops, PROTO_DROP_REASONS, PROTO_DROP_MAX);

#define TCP_LHASH_SIZE 256u          /* listener buckets, by local port */
#define TCP_TRACE_LEN  64u           /* state changes remembered */
#define TCP_TICK_NS    1000000u      /* timer wheel granularity: 1 ms */

/* One recorded state change (tcp_set_state). */
struct tcp_trace {
	uint64_t when;
	uint32_t conn;
	uint8_t from, to;
	uint16_t pad;
};

/* All TCP state of one engine, in one block without pointers: every table is
 * found by its offset from the block's start, every link is a TCB index. */
struct tcp_stack {
	uint32_t magic;              /* TCP_STACK_MAGIC */
	uint32_t version;            /* TCP_STACK_VERSION: layout of this block */
	uint64_t bytes;              /* size of the whole block */
	struct tcp_config cfg;
	uint64_t tcb_off;            /* struct tcb[cfg.max_conns] */
	uint64_t hash_off;           /* uint32_t[nbuckets]: 4-tuple chains */
	uint64_t buf_off;            /* per-conn send then receive byte rings */
	uint32_t nbuckets;           /* power of two */
	uint32_t free_head;          /* free TCB list, linked by hash_next */
	uint32_t nused;              /* TCBs off the free list */
	uint16_t next_ephemeral;
	uint16_t pad;
	uint32_t lhash[TCP_LHASH_SIZE];   /* listener chains by lport */
	uint64_t last_now;           /* time of the last call */
	uint64_t challenge_second;       /* RFC 5961 7: the second challenge_left is for */
	uint32_t challenge_left;         /*   challenge ACKs still allowed in it */
	uint32_t ntimewait;          /* TCBs in TIME_WAIT (of nused) */
	uint32_t trace_pos;          /* next slot of trace[] (free-running) */
	uint32_t tw_scan;            /* where the next TIME_WAIT recycling looks (tcp_conn.c) */
	struct tcp_trace trace[TCP_TRACE_LEN];   /* last state changes, for ctl/ */
	struct tw_wheel wheel;       /* one entry per TCB (tcb.tw) */
	struct tcp_counters cnt;
	struct tcp_drops drops;
};

#define TCP_INC(ts, name)      COUNTER_INC(&(ts)->cnt, TCP_CNT_##name)
#define TCP_ADD(ts, name, n)   COUNTER_ADD(&(ts)->cnt, TCP_CNT_##name, (n))
#define TCP_DROP(ts, name)     COUNTER_INC(&(ts)->drops, PROTO_DROP_##name)

static inline struct tcb *tcp_tcbs(const struct tcp_stack *ts)
{
	return (struct tcb *)((uint8_t *)ts + ts->tcb_off);
}

static inline struct tcb *tcp_tcb(const struct tcp_stack *ts, uint32_t conn)
{
	return &tcp_tcbs(ts)[conn];
}

static inline uint32_t tcp_conn_id(const struct tcp_stack *ts, const struct tcb *t)
{
	return (uint32_t)(t - tcp_tcbs(ts));
}

/* This process's handle on the wheel (cheap: five stores; rebuilt per call
 * because the block may be mapped at another address after a restart). */
static inline void tcp_tw(const struct tcp_stack *ts, struct tw *h)
{
	h->wheel = (struct tw_wheel *)&ts->wheel;
	h->base = (uint8_t *)tcp_tcbs(ts);
	h->stride = sizeof(struct tcb);
	h->entry_off = offsetof(struct tcb, tw);
	h->nrecords = ts->cfg.max_conns;
}

/* Byte rings of a conn: the byte of sequence number s lives at ring[s & mask]
 * (sizes are powers of two dividing 2^32, so this holds across wrap). */
static inline uint8_t *tcp_sndbuf(const struct tcp_stack *ts, const struct tcb *t)
{
	uint64_t per = (uint64_t)ts->cfg.sndbuf + ts->cfg.rcvbuf;

	return (uint8_t *)ts + ts->buf_off + per * tcp_conn_id(ts, t);
}

static inline uint8_t *tcp_rcvbuf(const struct tcp_stack *ts, const struct tcb *t)
{
	return tcp_sndbuf(ts, t) + ts->cfg.sndbuf;
}

/* ------------------------------------------------------------ tcp_conn.c */

struct tcb *tcp_tcb_alloc(struct tcp_stack *ts, uint64_t now);
void tcp_tcb_free(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t);
void tcp_tcb_setup(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		   const struct tcp_isn_tuple *tu, uint64_t now);
void tcp_tcb_negotiate(struct tcp_stack *ts, struct tcb *t, const struct tcp_opts *o,
		       uint64_t now);
struct tcb *tcp_conn_lookup(const struct tcp_stack *ts, uint32_t laddr, uint16_t lport,
			    uint32_t raddr, uint16_t rport);
struct tcb *tcp_conn_lookup_hashed(const struct tcp_stack *ts, uint32_t flow_hash,
				   uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport);
void tcp_conn_prefetch_bucket(const struct tcp_stack *ts, uint32_t flow_hash);
void tcp_conn_prefetch_tcb(const struct tcp_stack *ts, uint32_t flow_hash);
struct tcb *tcp_listener_lookup(const struct tcp_stack *ts, uint32_t laddr,
				uint16_t lport, uint32_t raddr, uint16_t rport);
void tcp_conn_hash_insert(struct tcp_stack *ts, struct tcb *t);
void tcp_conn_hash_remove(struct tcp_stack *ts, struct tcb *t);
void tcp_listener_insert(struct tcp_stack *ts, struct tcb *t);
void tcp_listener_remove(struct tcp_stack *ts, struct tcb *t);
void tcp_set_state(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		   enum tcp_state state, uint64_t now);
void tcp_notify(const struct tcp_stack *ts, const struct tcp_env *env,
		const struct tcb *t, unsigned events);
void tcp_conn_drop(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		   int err, uint64_t now);
void tcp_accept_enqueue(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t);
void tcp_child_unlink(struct tcp_stack *ts, struct tcb *t);
uint32_t tcp_flow_hash(const struct tcp_stack *ts, uint32_t laddr, uint16_t lport,
		       uint32_t raddr, uint16_t rport);
uint8_t tcp_rcv_wscale(const struct tcp_stack *ts);
uint32_t tcp_ts_offset(const struct tcp_stack *ts, uint32_t laddr, uint16_t lport,
		       uint32_t raddr, uint16_t rport);
uint32_t tcp_route_mss(const struct tcp_stack *ts, const struct tcp_env *env,
		       uint32_t daddr, uint32_t user_mss);

/* ------------------------------------------------------------ tcp_opt.c */

int tcp_opt_parse(const uint8_t *p, uint32_t len, bool syn, struct tcp_opts *o);
uint32_t tcp_opt_write(const struct tcp_opts *o, bool syn, uint8_t *p);
void tcp_opt_fill(const struct tcb *t, bool syn, uint64_t now, struct tcp_opts *o);
uint32_t tcp_opt_len(const struct tcb *t);
uint32_t tcp_ts_now(const struct tcb *t, uint64_t now);

/* ------------------------------------------------------------ tcp_output.c */

/* A segment to build without (or apart from) a TCB. */
struct tcp_hdr_out {
	uint32_t saddr, daddr;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t wnd;                /* the 16-bit field as sent */
	const struct tcp_opts *opt;  /* NULL: none */
};

int tcp_output(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
	       uint64_t now);
int tcp_xmit(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
	     uint32_t seq, uint32_t len, uint64_t now);
int tcp_send_raw(struct tcp_stack *ts, const struct tcp_env *env,
		 const struct tcp_hdr_out *h, uint64_t now);
void tcp_send_ack(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		  uint64_t now);
void tcp_send_override(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		       uint64_t now);
void tcp_send_probe(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		    uint64_t now);
void tcp_send_keepalive(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
			uint64_t now);
void tcp_send_challenge_ack(struct tcp_stack *ts, const struct tcp_env *env,
			    struct tcb *t, uint64_t now);
void tcp_send_rst(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		  uint64_t now);
void tcp_reply_rst(struct tcp_stack *ts, const struct tcp_env *env,
		   const struct tcp_seg *seg, uint64_t now);
uint32_t tcp_rcv_window(const struct tcp_stack *ts, const struct tcb *t);
uint32_t tcp_snd_queued(const struct tcb *t);

/* ------------------------------------------------------------ tcp_timer.c */

void tcp_timer_set(struct tcp_stack *ts, struct tcb *t, enum tcb_timer which,
		   uint64_t when);
void tcp_timer_clear(struct tcp_stack *ts, struct tcb *t, enum tcb_timer which);
void tcp_timer_clear_all(struct tcp_stack *ts, struct tcb *t);
void tcp_timer_rexmt_restart(struct tcp_stack *ts, struct tcb *t, uint64_t now);
void tcp_timer_keepalive_reset(struct tcp_stack *ts, struct tcb *t, uint64_t now);
uint64_t tcp_rto(const struct tcb *t);

/* ------------------------------------------------------------ tcp_sack.c */

int tcp_ooo_insert(struct tcb *t, uint32_t start, uint32_t end);
uint32_t tcp_ooo_advance(struct tcb *t, uint32_t rcv_nxt);
uint32_t tcp_sack_fill(const struct tcb *t, struct tcp_range *out, uint32_t max);
uint32_t tcp_scoreboard_update(struct tcb *t, const struct tcp_opts *o, uint32_t ack,
			       bool *dsack);
void tcp_scoreboard_ack(struct tcb *t, uint32_t snd_una);
bool tcp_sack_is_lost(const struct tcb *t, uint32_t seq, uint32_t mss);
uint32_t tcp_sack_pipe(const struct tcb *t);
unsigned tcp_sack_next_seg(const struct tcb *t, bool last_resort, uint32_t *seq,
			   uint32_t *len);
uint32_t tcp_sacked_bytes(const struct tcb *t);
/* TCP_INFO's view of recovery: the unSACKed bytes RFC 6675 IsLost deems
 * lost, and those of them retransmitted and not yet acknowledged (below
 * HighRxt). */
uint32_t tcp_sack_lost_bytes(const struct tcb *t);
uint32_t tcp_sack_retrans_bytes(const struct tcb *t);

/* ------------------------------------------------------------ tcp_icmp.c */

int tcp_timeout_error(const struct tcb *t);

/* ------------------------------------------------------------ tcp_input.c, tcp_user.c */

void tcp_ack_now(struct tcb *t);
void tcp_fin_state(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		   uint64_t now);

#endif /* RINGSTACK_PROTO_TCP_TCP_INTERNAL_H */
