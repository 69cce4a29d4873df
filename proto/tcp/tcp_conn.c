/* proto/tcp/tcp_conn.c — the connection table: the engine block's layout, the
 * TCB pool, the 4-tuple hash, listeners (wildcard address, SO_REUSEPORT), the
 * accept queue, and the one function every state change goes through.
 *
 * Where it sits: tcp_input looks a segment's TCB up here first (exact 4-tuple,
 * then listeners); tcp_user and the state machine allocate, link and free
 * TCBs here. Everything is an index into struct tcp_stack, so the whole table
 * survives in shared memory across an engine restart.
 *
 * Scale: the 4-tuple hash has a power-of-two bucket count >= 4 * max_conns
 * (a quarter of a conn per bucket at most, so a lookup reads the TCB it
 * wants and, one time in eight, one more), keyed with SipHash so that remote
 * peers cannot aim many tuples at one chain. The cost per lookup does not
 * grow with the number of conns; what does is the share of lookups that
 * miss the CPU caches, which tcp_input_burst hides by fetching ahead.
 * bench/tcp_conns.c measures both.
 */
#include <errno.h>
#include <string.h>

#include "proto/siphash.h"
#include "proto/tcp/tcp_internal.h"

static const char *const state_names[TCPS_NSTATES] = {
	"CLOSED", "LISTEN", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED",
	"FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT",
};

const char *tcp_state_name(unsigned state)
{
	return state < TCPS_NSTATES ? state_names[state] : "?";
}

/* ------------------------------------------------------------ layout */

static uint64_t align64(uint64_t x) { return (x + 63u) & ~(uint64_t)63u; }
static bool is_pow2(uint32_t x) { return x && !(x & (x - 1)); }

/* Four buckets per conn, at least: chains stay a quarter long on average
 * when the pool is full, so a lookup almost never reads a TCB that is not
 * the one it wants (each such read is a cache miss once the TCBs outgrow
 * the caches), for 16 bytes per conn. */
static uint32_t buckets_for(const struct tcp_config *cfg)
{
	uint32_t n = 1;

	if (cfg->hash_buckets)
		return cfg->hash_buckets;
	while (n < cfg->max_conns * 4ull && n < (1u << 30))
		n <<= 1;
	return n;
}

/* Offsets of each table in the block; 0 bytes when cfg is unusable. */
static uint64_t layout(const struct tcp_config *cfg, uint64_t *tcb_off, uint64_t *hash_off,
		       uint64_t *buf_off)
{
	uint32_t nb = buckets_for(cfg);

	if (cfg->max_conns == 0 || cfg->max_conns >= TCP_CONN_NONE / 2 || !is_pow2(nb) ||
	    !is_pow2(cfg->sndbuf) || !is_pow2(cfg->rcvbuf) || cfg->sndbuf > (1u << 30) ||
	    cfg->rcvbuf > (1u << 30) || cfg->sndbuf < 4096 || cfg->rcvbuf < 4096 ||
	    cfg->mtu < TCP_IPV4_HDRS + TCP_MSS_MIN)
		return 0;
	*tcb_off = align64(sizeof(struct tcp_stack));
	*hash_off = align64(*tcb_off + (uint64_t)cfg->max_conns * sizeof(struct tcb));
	*buf_off = align64(*hash_off + (uint64_t)nb * sizeof(uint32_t));
	return *buf_off + (uint64_t)cfg->max_conns * (cfg->sndbuf + cfg->rcvbuf);
}

void tcp_config_default(struct tcp_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_conns = 1024;
	cfg->sndbuf = 256u << 10;
	cfg->rcvbuf = 256u << 10;
	cfg->mtu = 1500;
	cfg->syn_backlog = 256;
	cfg->syncookies = 1;
	cfg->timestamps = cfg->window_scaling = cfg->sack = 1;
	cfg->msl = 30ull * 1000000000u;          /* 2*MSL = 60 s, as Linux */
	cfg->delack = 40ull * 1000000u;          /* Linux's TCP_DELACK_MIN */
	cfg->syn_rto = TCP_RTO_INIT;
	cfg->syn_retries = 6;
	cfg->retries2 = 15;                      /* RFC 1122 4.2.3.5: R2 >= 100 s */
	cfg->keepidle = 7200ull * 1000000000u;   /* RFC 1122 4.2.3.6: >= 2 hours */
	cfg->keepintvl = 75ull * 1000000000u;
	cfg->keepcnt = 9;
	cfg->ephemeral_lo = 32768;
	cfg->ephemeral_hi = 60999;
	cfg->challenge_ack_limit = 1000;         /* Linux 4.7-5.x tcp_challenge_ack_limit */
	strcpy(cfg->cc, "cubic");
}

size_t tcp_stack_bytes(const struct tcp_config *cfg)
{
	uint64_t a, b, c;

	return (size_t)layout(cfg, &a, &b, &c);
}

/* Put every TCB on the free list, lowest index first. */
static void pool_init(struct tcp_stack *ts)
{
	struct tcb *tcbs = tcp_tcbs(ts);
	uint32_t *hash = (uint32_t *)((uint8_t *)ts + ts->hash_off);

	for (uint32_t i = 0; i < ts->cfg.max_conns; i++) {
		memset(&tcbs[i], 0, sizeof(tcbs[i]));
		tw_entry_init(&tcbs[i].tw);
		tcbs[i].hash_next = i + 1 < ts->cfg.max_conns ? i + 1 : TCP_CONN_NONE;
	}
	for (uint32_t i = 0; i < ts->nbuckets; i++)
		hash[i] = TCP_CONN_NONE;
	for (uint32_t i = 0; i < TCP_LHASH_SIZE; i++)
		ts->lhash[i] = TCP_CONN_NONE;
	ts->free_head = 0;
	ts->nused = 0;
	ts->ntimewait = 0;
}

struct tcp_stack *tcp_stack_format(void *mem, size_t len, const struct tcp_config *cfg,
				   uint64_t now)
{
	struct tcp_stack *ts = mem;
	uint64_t tcb_off, hash_off, buf_off, need = layout(cfg, &tcb_off, &hash_off, &buf_off);

	if (!mem || need == 0 || len < need || ((uintptr_t)mem & 63u) ||
	    tcp_cc_by_name(cfg->cc) < 0)
		return NULL;
	memset(ts, 0, sizeof(*ts));
	ts->bytes = need;
	ts->cfg = *cfg;
	ts->tcb_off = tcb_off;
	ts->hash_off = hash_off;
	ts->buf_off = buf_off;
	ts->nbuckets = buckets_for(cfg);
	ts->next_ephemeral = cfg->ephemeral_lo;
	ts->last_now = now;
	ts->challenge_second = UINT64_MAX;          /* no budget drawn yet */
	tcp_counters_init(&ts->cnt);
	tcp_drops_init(&ts->drops);
	if (tw_init(&ts->wheel, TCP_TICK_NS, now) < 0)
		return NULL;
	pool_init(ts);
	ts->version = TCP_STACK_VERSION;
	ts->magic = TCP_STACK_MAGIC;    /* last: a half-formatted block never attaches */
	return ts;
}

struct tcp_stack *tcp_stack_attach(void *mem, size_t len)
{
	struct tcp_stack *ts = mem;
	uint64_t a, b, c;

	if (!mem || len < sizeof(*ts) || ts->magic != TCP_STACK_MAGIC ||
	    ts->version != TCP_STACK_VERSION || ts->bytes > len ||
	    layout(&ts->cfg, &a, &b, &c) != ts->bytes || a != ts->tcb_off ||
	    b != ts->hash_off || c != ts->buf_off ||
	    tcp_counters_check(&ts->cnt) < 0 || tcp_drops_check(&ts->drops) < 0)
		return NULL;
	return ts;
}

uint32_t tcp_conn_count(const struct tcp_stack *ts)
{
	return ts->nused;
}

uint32_t tcp_conn_slots(const struct tcp_stack *ts)
{
	return ts->cfg.max_conns;
}

uint32_t tcp_timewait_count(const struct tcp_stack *ts)
{
	return ts->ntimewait;
}

/* ------------------------------------------------------------ TCB pool */

/* Take a TCB off the free list, zeroed and unarmed, state CLOSED. Returns NULL
 * when the pool is exhausted. */
/* Every TCB is in use: end an orphaned connection in TIME_WAIT early to make room,
 * as Linux does when its TIME_WAIT buckets overflow (tcp_max_tw_buckets):
 * a server closing first leaves one per connection for 2 MSL, and a table
 * full of them would refuse every new connection. Searched from where the
 * last search stopped, so a full table of TIME_WAITs costs one step. True
 * if a TCB was freed. */
static bool timewait_recycle(struct tcp_stack *ts)
{
	uint32_t n = ts->cfg.max_conns;

	if (ts->ntimewait == 0)
		return false;
	for (uint32_t k = 0; k < n; k++) {
		uint32_t i = (ts->tw_scan + k) % n;
		struct tcb *t = tcp_tcb(ts, i);

		/* Only an orphan: a TIME_WAIT the user still holds (shut down
		 * for writing, FIN received, not closed) is a socket of an app,
		 * and its conn id must not name someone else's connection. */
		if (t->in_use && t->state == TCPS_TIME_WAIT && (t->flags & TF_USER_CLOSED)) {
			ts->tw_scan = (i + 1) % n;
			tcp_tcb_free(ts, NULL, t);
			TCP_INC(ts, TW_RECYCLED);
			return true;
		}
	}
	return false;
}

struct tcb *tcp_tcb_alloc(struct tcp_stack *ts, uint64_t now)
{
	struct tcb *t;

	(void)now;
	if (ts->free_head == TCP_CONN_NONE && !timewait_recycle(ts))
		return NULL;
	t = tcp_tcb(ts, ts->free_head);
	ts->free_head = t->hash_next;
	memset(t, 0, sizeof(*t));
	tw_entry_init(&t->tw);
	t->in_use = 1;
	t->hash_next = t->parent = t->aq_next = t->aq_tail = TCP_CONN_NONE;
	t->sndbuf_lim = ts->cfg.sndbuf;
	t->rcvbuf_lim = ts->cfg.rcvbuf;
	t->keepidle = ts->cfg.keepidle;
	t->keepintvl = ts->cfg.keepintvl;
	t->keepcnt = ts->cfg.keepcnt;
	ts->nused++;
	return t;
}

/* Unlink t from everything (hash, listener chain, parent, wheel) and return it
 * to the pool. No event is sent: callers notify first. */
void tcp_tcb_free(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t)
{
	struct tw h;

	(void)env;
	if (!t->in_use)
		return;
	if (t->flags & TF_IN_HASH)
		tcp_conn_hash_remove(ts, t);
	if (t->state == TCPS_LISTEN)
		tcp_listener_remove(ts, t);
	tcp_child_unlink(ts, t);
	tcp_tw(ts, &h);
	tw_cancel(&h, tcp_conn_id(ts, t));
	t->in_use = 0;
	ts->ntimewait -= t->state == TCPS_TIME_WAIT;
	t->state = TCPS_CLOSED;
	t->hash_next = ts->free_head;
	ts->free_head = tcp_conn_id(ts, t);
	ts->nused--;
}

/* ------------------------------------------------------------ 4-tuple hash */

uint32_t tcp_flow_hash(const struct tcp_stack *ts, uint32_t laddr, uint16_t lport,
		       uint32_t raddr, uint16_t rport)
{
	uint32_t key[3] = { laddr, raddr, (uint32_t)lport << 16 | rport };

	return (uint32_t)siphash24(ts->cfg.secret, key, sizeof(key));
}

static uint32_t *bucket_of(const struct tcp_stack *ts, uint32_t flow_hash)
{
	uint32_t *hash = (uint32_t *)((uint8_t *)ts + ts->hash_off);

	return &hash[flow_hash & (ts->nbuckets - 1)];
}

static uint32_t *bucket(const struct tcp_stack *ts, uint32_t laddr, uint16_t lport,
			uint32_t raddr, uint16_t rport)
{
	return bucket_of(ts, tcp_flow_hash(ts, laddr, lport, raddr, rport));
}

struct tcb *tcp_conn_lookup(const struct tcp_stack *ts, uint32_t laddr, uint16_t lport,
			    uint32_t raddr, uint16_t rport)
{
	return tcp_conn_lookup_hashed(ts, tcp_flow_hash(ts, laddr, lport, raddr, rport),
				      laddr, lport, raddr, rport);
}

/* The TCB of an exact 4-tuple (synchronized, embryonic or TIME_WAIT), or NULL;
 * flow_hash is tcp_flow_hash of it. The walk is bounded by the pool size,
 * so a corrupted chain cannot loop. */
struct tcb *tcp_conn_lookup_hashed(const struct tcp_stack *ts, uint32_t flow_hash,
				   uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport)
{
	uint32_t i = *bucket_of(ts, flow_hash);

	for (uint32_t n = 0; i < ts->cfg.max_conns && n < ts->cfg.max_conns; n++) {
		struct tcb *t = tcp_tcb(ts, i);

		if (t->lport == lport && t->rport == rport && t->laddr == laddr &&
		    t->raddr == raddr)
			return t;
		i = t->hash_next;
	}
	return NULL;
}

/* Cache hints for tcp_input_burst: first the bucket of a flow hash, then,
 * once that line has arrived, the lines every segment touches (tcb.h:
 * TCB_SEG_BYTES) of the TCB its chain starts with (most often the conn).
 * Hints only: nothing is written, and a stale or foreign hash costs a
 * wasted fetch at worst. */
void tcp_conn_prefetch_bucket(const struct tcp_stack *ts, uint32_t flow_hash)
{
	__builtin_prefetch(bucket_of(ts, flow_hash));
}

void tcp_conn_prefetch_tcb(const struct tcp_stack *ts, uint32_t flow_hash)
{
	uint32_t i = *bucket_of(ts, flow_hash);
	const uint8_t *p;

	if (i >= ts->cfg.max_conns)
		return;
	p = (const uint8_t *)tcp_tcb(ts, i);
	for (size_t off = 0; off < TCB_SEG_BYTES; off += 64)   /* TCBs are line-aligned */
		__builtin_prefetch(p + off);
}

void tcp_conn_hash_insert(struct tcp_stack *ts, struct tcb *t)
{
	uint32_t *b = bucket(ts, t->laddr, t->lport, t->raddr, t->rport);

	t->hash_next = *b;
	*b = tcp_conn_id(ts, t);
	t->flags |= TF_IN_HASH;
}

/* Unlink t from a chain starting at *head; bounded like the lookup. */
static void chain_remove(const struct tcp_stack *ts, uint32_t *head, struct tcb *t)
{
	uint32_t id = tcp_conn_id(ts, t), *link = head;

	for (uint32_t n = 0; *link < ts->cfg.max_conns && n < ts->cfg.max_conns; n++) {
		if (*link == id) {
			*link = t->hash_next;
			t->hash_next = TCP_CONN_NONE;
			return;
		}
		link = &tcp_tcb(ts, *link)->hash_next;
	}
}

void tcp_conn_hash_remove(struct tcp_stack *ts, struct tcb *t)
{
	chain_remove(ts, bucket(ts, t->laddr, t->lport, t->raddr, t->rport), t);
	t->flags &= ~(uint32_t)TF_IN_HASH;
}

/* ------------------------------------------------------------ listeners */

static uint32_t *lbucket(struct tcp_stack *ts, uint16_t lport)
{
	return &ts->lhash[lport & (TCP_LHASH_SIZE - 1)];
}

void tcp_listener_insert(struct tcp_stack *ts, struct tcb *t)
{
	uint32_t *b = lbucket(ts, t->lport);

	t->hash_next = *b;
	*b = tcp_conn_id(ts, t);
}

void tcp_listener_remove(struct tcp_stack *ts, struct tcb *t)
{
	chain_remove(ts, lbucket(ts, t->lport), t);
}

/* Count listeners on lport bound to exactly laddr; *nth (when not NULL) gets
 * the n-th of them. */
static uint32_t listeners_on(const struct tcp_stack *ts, uint32_t laddr, uint16_t lport,
			     uint32_t nth, struct tcb **pick)
{
	uint32_t i = ts->lhash[lport & (TCP_LHASH_SIZE - 1)], count = 0;

	for (uint32_t n = 0; i < ts->cfg.max_conns && n < ts->cfg.max_conns; n++) {
		struct tcb *t = tcp_tcb(ts, i);

		if (t->lport == lport && t->laddr == laddr) {
			if (pick && count == nth)
				*pick = t;
			count++;
		}
		i = t->hash_next;
	}
	return count;
}

/* The listener for a SYN to (laddr, lport) from (raddr, rport): one bound to
 * laddr exactly wins over the wildcard (0). Within a SO_REUSEPORT group the
 * 4-tuple hash picks the member, so a flow always lands on the same one. */
struct tcb *tcp_listener_lookup(const struct tcp_stack *ts, uint32_t laddr,
				uint16_t lport, uint32_t raddr, uint16_t rport)
{
	uint32_t addrs[2] = { laddr, 0 };

	for (unsigned k = 0; k < 2; k++) {
		struct tcb *pick = NULL;
		uint32_t n = listeners_on(ts, addrs[k], lport, 0, NULL);

		if (n == 0)
			continue;
		n = tcp_flow_hash(ts, laddr, lport, raddr, rport) % n;
		listeners_on(ts, addrs[k], lport, n, &pick);
		return pick;
	}
	return NULL;
}

/* ------------------------------------------------------------ accept queue */

/* t (a child that just reached ESTABLISHED) joins its listener's accept queue. */
void tcp_accept_enqueue(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t)
{
	struct tcb *l = tcp_tcb(ts, t->parent);
	uint32_t id = tcp_conn_id(ts, t);

	if (l->syn_len)
		l->syn_len--;
	t->flags |= TF_IN_AQ;
	t->aq_next = TCP_CONN_NONE;
	if (l->aq_next == TCP_CONN_NONE)
		l->aq_next = id;
	else
		tcp_tcb(ts, l->aq_tail)->aq_next = id;
	l->aq_tail = id;
	l->aq_len++;
	tcp_notify(ts, env, l, TCP_EV_ACCEPT);
}

/* Detach a not-yet-accepted child from its listener (SYN queue count or the
 * accept queue). No-op for conns without a parent. */
void tcp_child_unlink(struct tcp_stack *ts, struct tcb *t)
{
	struct tcb *l;
	uint32_t id = tcp_conn_id(ts, t), *link, prev = TCP_CONN_NONE;

	if (t->parent >= ts->cfg.max_conns || (t->flags & TF_ACCEPTED))
		return;
	l = tcp_tcb(ts, t->parent);
	t->parent = TCP_CONN_NONE;
	if (!(t->flags & TF_IN_AQ)) {
		if (l->syn_len)
			l->syn_len--;
		return;
	}
	t->flags &= ~(uint32_t)TF_IN_AQ;
	link = &l->aq_next;
	for (uint32_t n = 0; *link < ts->cfg.max_conns && n <= l->aq_len; n++) {
		if (*link == id) {
			*link = t->aq_next;
			if (l->aq_tail == id)
				l->aq_tail = prev;
			l->aq_len--;
			return;
		}
		prev = *link;
		link = &tcp_tcb(ts, *link)->aq_next;
	}
}

/* ------------------------------------------------------------ state changes */

void tcp_notify(const struct tcp_stack *ts, const struct tcp_env *env,
		const struct tcb *t, unsigned events)
{
	if (env && env->event && events)
		env->event(env->ctx, tcp_conn_id(ts, t), events);
}

/* THE place a TCB changes state (STYLE.md 11): records the change in the
 * trace ring and does what entering the new state implies everywhere:
 * TIME_WAIT starts 2*MSL (RFC 9293 3.10.7.4), CLOSED leaves the hash and
 * frees a TCB nobody holds a handle for. */
void tcp_set_state(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		   enum tcp_state state, uint64_t now)
{
	struct tcp_trace *tr = &ts->trace[ts->trace_pos++ % TCP_TRACE_LEN];

	tr->when = now;
	tr->conn = tcp_conn_id(ts, t);
	tr->from = t->state;
	tr->to = (uint8_t)state;
	ts->ntimewait += (state == TCPS_TIME_WAIT) - (t->state == TCPS_TIME_WAIT);
	/* A listener leaves the listener hash with its state: tcp_tcb_free,
	 * which looks at the state, would not know it was there, and the
	 * freed TCB would stay chained (its port refused to the next listen,
	 * its slot reachable from the hash once reused). */
	if (t->state == TCPS_LISTEN && state != TCPS_LISTEN)
		tcp_listener_remove(ts, t);
	t->state = (uint8_t)state;
	if (state == TCPS_TIME_WAIT) {
		tcp_timer_clear_all(ts, t);
		tcp_timer_set(ts, t, TCB_T_2MSL, now + 2 * ts->cfg.msl);
	}
	if (state != TCPS_CLOSED)
		return;
	tcp_timer_clear_all(ts, t);
	if (t->flags & TF_IN_HASH)
		tcp_conn_hash_remove(ts, t);
	if ((t->flags & TF_USER_CLOSED) ||
	    (t->parent != TCP_CONN_NONE && !(t->flags & TF_ACCEPTED)))
		tcp_tcb_free(ts, env, t);
	else
		tcp_notify(ts, env, t, TCP_EV_CLOSED);
}

/* The connection dies (RST, timeout, abort): remember err for the user and go
 * to CLOSED (RFC 9293 3.10.7.4: "enter the CLOSED state, delete the TCB"). */
void tcp_conn_drop(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		   int err, uint64_t now)
{
	if (t->state == TCPS_SYN_SENT || t->state == TCPS_SYN_RECEIVED)
		TCP_INC(ts, ATTEMPT_FAILS);
	else if (t->state == TCPS_ESTABLISHED || t->state == TCPS_CLOSE_WAIT)
		TCP_INC(ts, ESTAB_RESETS);
	t->error = (int16_t)err;
	if (err && !(t->flags & TF_USER_CLOSED))
		tcp_notify(ts, env, t, TCP_EV_ERROR | TCP_EV_READABLE | TCP_EV_WRITABLE);
	tcp_set_state(ts, env, t, TCPS_CLOSED, now);
}

/* ------------------------------------------------------------ new TCBs */

/* The window shift we offer: the smallest that lets the 16-bit field cover
 * the whole receive ring (RFC 7323 2.2). */
uint8_t tcp_rcv_wscale(const struct tcp_stack *ts)
{
	uint8_t s = 0;

	while (s < TCP_WSCALE_MAX && (ts->cfg.rcvbuf >> s) > 0xffffu)
		s++;
	return ts->cfg.window_scaling ? s : 0;
}

/* RFC 7323 5.4: a per-connection offset for TSval, derived from the 4-tuple
 * under the secret (recomputable, which a SYN cookie's connection needs). */
uint32_t tcp_ts_offset(const struct tcp_stack *ts, uint32_t laddr, uint16_t lport,
		       uint32_t raddr, uint16_t rport)
{
	uint32_t key[4] = { laddr, raddr, (uint32_t)lport << 16 | rport, 0x54537631u };

	return (uint32_t)siphash24(ts->cfg.secret, key, sizeof(key));
}

/* MSS we announce on a SYN to daddr: route MTU minus the IPv4 and TCP
 * headers (RFC 9293 3.7.1, RFC 6691), further clamped by TCP_MAXSEG. */
uint32_t tcp_route_mss(const struct tcp_stack *ts, const struct tcp_env *env,
		       uint32_t daddr, uint32_t user_mss)
{
	uint32_t mtu = env && env->route_mtu ? env->route_mtu(env->ctx, daddr) : ts->cfg.mtu;
	uint32_t mss = mtu > TCP_IPV4_HDRS + TCP_MSS_MIN ? mtu - TCP_IPV4_HDRS : TCP_MSS_MIN;

	if (user_mss && user_mss < mss)
		mss = user_mss < TCP_MSS_MIN ? TCP_MSS_MIN : user_mss;
	return mss;
}

/* Fill a fresh TCB for the 4-tuple with initial sequence state (ISS from
 * RFC 6528), our MSS, and the options the config offers; congestion control
 * and RTT start from their initial values. */
void tcp_tcb_setup(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		   const struct tcp_isn_tuple *tu, uint64_t now)
{
	t->laddr = tu->laddr; t->lport = tu->lport;
	t->raddr = tu->raddr; t->rport = tu->rport;
	t->iss = tcp_isn(ts->cfg.secret, tu, now);
	t->snd_una = t->snd_nxt = t->snd_max = t->iss;
	t->snd_end = t->iss + 1;
	t->recover = t->iss;
	t->rcv_mss = tcp_route_mss(ts, env, tu->raddr, t->user_mss);
	t->snd_mss = TCP_MSS_DEFAULT;
	t->rcv_wscale = tcp_rcv_wscale(ts);
	t->ts_offset = tcp_ts_offset(ts, tu->laddr, tu->lport, tu->raddr, tu->rport);
	t->flags |= (ts->cfg.timestamps ? TF_TS_OK : 0) | (ts->cfg.sack ? TF_SACK_OK : 0) |
		    (ts->cfg.window_scaling ? TF_WS_OK : 0);
	tcp_rtt_init(&t->rtt, ts->cfg.syn_rto);
	tcp_cc_init(&t->cc, (enum tcp_cc_algo)tcp_cc_by_name(ts->cfg.cc), TCP_MSS_DEFAULT, now);
	t->last_rcv = now;
}

/* Adopt the options of the peer's SYN (or SYN-ACK) o: what both sides
 * offered is on (RFC 7323 2.2 / 3.2, RFC 2018 2), and the send MSS is the
 * peer's MSS (536 without the option, RFC 9293 3.7.1) within our route's
 * (and a path MTU learned while in SYN_SENT, RFC 1191), less the bytes of
 * options every segment carries. */
void tcp_tcb_negotiate(struct tcp_stack *ts, struct tcb *t, const struct tcp_opts *o,
		       uint64_t now)
{
	uint32_t peer = (o->has & TCP_OPTF_MSS) ? o->mss : TCP_MSS_DEFAULT;

	if (!(o->has & TCP_OPTF_TS))
		t->flags &= ~(uint32_t)TF_TS_OK;
	if (!(o->has & TCP_OPTF_SACKPERM))
		t->flags &= ~(uint32_t)TF_SACK_OK;
	if (!(o->has & TCP_OPTF_WSCALE) || !(t->flags & TF_WS_OK)) {
		t->flags &= ~(uint32_t)TF_WS_OK;
		t->snd_wscale = t->rcv_wscale = 0;
	} else {
		t->snd_wscale = o->wscale;
	}
	if (t->flags & TF_TS_OK) {
		t->ts_recent = o->tsval;
		t->ts_recent_age = now;
	}
	peer = peer < t->rcv_mss ? peer : t->rcv_mss;
	if (t->pmtu && peer > t->pmtu - TCP_IPV4_HDRS)     /* ICMP said so meanwhile */
		peer = t->pmtu - TCP_IPV4_HDRS;
	peer = peer > TCP_MSS_MIN ? peer : TCP_MSS_MIN;
	t->snd_mss = peer - tcp_opt_len(t);
	tcp_cc_set_mss(&t->cc, t->snd_mss);
	(void)ts;
}
