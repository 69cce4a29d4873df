/* proto/stack.c — one engine's protocol stack: set-up, the entry points the
 * engine calls, and the queues between the layers and the engine.
 *
 * The glue of proto/: stack_input hands a frame to eth_input; stack_timers
 * runs every layer's timers; the layers hand their output to stack_tx (frames
 * for the device), stack_event (socket events) and stack_loopback (packets
 * for ourselves, delivered on the next stack_poll_loopback so that a layer
 * never re-enters the receive path from inside its own transmit path).
 * stack_input_burst holds a burst's TCP segments and hands them to TCP
 * merged at its end (proto/gro.h), as NAPI's poll ends with napi_gro_flush.
 */
#include "proto/stack.h"

#include <errno.h>
#include <string.h>

#include "proto/arp.h"
#include "proto/ip_reasm.h"

static const char *const drop_names[] = {
#define NAME(name, text) #name,
	PROTO_DROP_REASONS(NAME)
#undef NAME
};

static const char *const drop_texts[] = {
#define TEXT(name, text) text,
	PROTO_DROP_REASONS(TEXT)
#undef TEXT
};

static const char *const counter_names[] = {
#define NAME(name, text) #name,
	PROTO_COUNTERS(NAME)
#undef NAME
};

const char *proto_drop_name(unsigned reason)
{
	return reason < PROTO_DROP_MAX ? drop_names[reason] : "?";
}

const char *proto_drop_text(unsigned reason)
{
	return reason < PROTO_DROP_MAX ? drop_texts[reason] : "?";
}

const char *proto_counter_name(unsigned counter)
{
	return counter < PROTO_CNT_MAX ? counter_names[counter] : "?";
}

static int config_routes(struct stack *stk, const struct stack_config *cfg)
{
	struct route_table *rt = &stk->routes;
	int err;

	route_init(rt);
	if ((err = route_set_if_mtu(rt, STACK_IF_ETH, cfg->mtu)) < 0)
		return err;
	if ((err = route_addr_add(rt, cfg->addr, cfg->prefix_len, STACK_IF_ETH)) < 0)
		return err;
	if (cfg->gateway == 0)
		return 0;
	return route_add(rt, &(struct route){ .prefix = 0, .len = 0, .gateway = cfg->gateway,
					     .ifindex = STACK_IF_ETH, .src = cfg->addr });
}

int stack_init(struct stack *stk, const struct stack_config *cfg,
	       struct pkb_cache *cache, uint64_t now)
{
	int err;

	if (cfg->addr == 0 || cfg->prefix_len > 32 || cfg->mtu < 68 || cfg->vlan_id > 4094)
		return -EINVAL;
	memset(stk, 0, sizeof(*stk));
	stk->cfg = *cfg;
	stk->cache = cache;
	neigh_init(&stk->neigh);
	hook_init(&stk->hooks);
	ipv4_init(&stk->ip, cfg->secret);
	icmp_init(&stk->icmp);
	udp_init(&stk->udp);
	if ((err = config_routes(stk, cfg)) < 0)
		return err;
	/* RFC 5227 3: announce our address so peers' caches learn (or fix) it;
	 * once, by the engine that answers ARP. */
	if (!cfg->steer_sockets)
		arp_send_gratuitous(stk, now);
	return 0;
}

void stack_input(struct stack *stk, struct pkb *frame, uint64_t now)
{
	PROTO_COUNT(stk, ETH_IN);
	/* pkb->port carries the device queue up to here; above it names the
	 * interface, which ipv4_input trusts to tell loopback from the wire. */
	frame->port = STACK_IF_ETH;
	eth_input(stk, frame, now);
}

void stack_input_burst(struct stack *stk, struct pkb **frames, unsigned n, uint64_t now)
{
	if (n == 1) {                /* nothing to merge with: the direct path */
		stack_input(stk, frames[0], now);
		return;
	}
	stk->in_burst = true;
	for (unsigned i = 0; i < n; i++)
		stack_input(stk, frames[i], now);
	stk->in_burst = false;
	stack_tcp_flush(stk, now);
}

void stack_input_steered(struct stack *stk, struct pkb **pkts, unsigned n, uint64_t now)
{
	stk->in_burst = n > 1;       /* as stack_input_burst: one is not merged */
	for (unsigned i = 0; i < n; i++)
		ipv4_input_steered(stk, pkts[i], now);
	stk->in_burst = false;
	stack_tcp_flush(stk, now);
}

void stack_tcp_flush(struct stack *stk, uint64_t now)
{
	unsigned n = stk->gro.n, kept;

	if (n == 0)
		return;
	stk->gro.n = 0;
	kept = n > 1 ? gro_merge(stk->gro.rx, n) : 1;
	stk->stats.cnt[PROTO_CNT_GRO_SEGS_IN] += n;
	stk->stats.cnt[PROTO_CNT_GRO_SEGS_OUT] += kept;
	/* One segment has nothing to fetch ahead of: the burst pipeline would
	 * cost it ~270 instructions of set-up (bench/gro_bench, burst 1). */
	if (kept == 1)
		tcp_input(stk->tcp, &stk->tcp_env, stk->gro.rx[0].pkb, stk->gro.rx[0].saddr,
			  stk->gro.rx[0].daddr, now);
	else
		tcp_input_burst(stk->tcp, &stk->tcp_env, stk->gro.rx, kept, now);
}

void stack_timers(struct stack *stk, uint64_t now)
{
	neigh_timers(stk, now);
	ipv4_timers(stk, now);
	if (stk->tcp)
		tcp_timers(stk->tcp, &stk->tcp_env, now);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

uint64_t stack_next_deadline(const struct stack *stk)
{
	uint64_t t = min_u64(neigh_next_deadline(&stk->neigh), ipv4_next_deadline(stk));

	return stk->tcp ? min_u64(t, tcp_next_deadline(stk->tcp)) : t;
}

/* TCP's output: its segments leave through IPv4 with DF set, since TCP
 * clamps its MSS to the route's MTU (RFC 9293 3.7.1). */
static void tcp_output_cb(void *ctx, struct pkb *seg, uint32_t saddr, uint32_t daddr,
			  uint64_t now)
{
	struct stack *stk = ctx;
	const struct ipv4_tx tx = { .src = saddr, .dst = daddr, .proto = IPV4_PROTO_TCP,
				    .ttl = 64, .df = true };

	ipv4_output(stk, seg, &tx, now);
}

static void tcp_event_cb(void *ctx, uint32_t conn, unsigned events)
{
	stack_event(ctx, &(struct stack_event){ .type = STACK_EV_TCP, .sock_id = conn,
						  .info = events });
}

static uint16_t tcp_route_mtu_cb(void *ctx, uint32_t daddr)
{
	struct stack *stk = ctx;
	const struct route *r = route_lookup(&stk->routes, daddr);

	return r ? r->mtu : stk->cfg.mtu;
}

void stack_attach_tcp(struct stack *stk, struct tcp_stack *tcp)
{
	stk->tcp = tcp;
	stk->tcp_env = (struct tcp_env){ .cache = stk->cache, .ctx = stk,
					 .output = tcp_output_cb, .event = tcp_event_cb,
					 .route_mtu = tcp_route_mtu_cb };
}

/* Hold a segment of the current burst for stack_tcp_flush. Its checksum is
 * verified now, so that a bad segment never joins a merged one, whose
 * checksum nobody could check any more. (Out of line: stack_tcp_input
 * stays a tail call to tcp_input outside bursts.) */
static __attribute__((noinline)) void tcp_hold(struct stack *stk, struct pkb *b,
					       const struct ipv4_info *ip, uint64_t now)
{
	if (gro_verify(b, ip->src, ip->dst) == -EBADMSG) {
		PROTO_DROP(stk, TCP_BAD_CSUM, b);
		return;
	}
	if (stk->gro.n == GRO_BATCH_MAX)
		stack_tcp_flush(stk, now);
	stk->gro.rx[stk->gro.n++] = (struct tcp_rx){ .pkb = b, .saddr = ip->src,
						     .daddr = ip->dst };
}

void stack_tcp_input(struct stack *stk, struct pkb *b, const struct ipv4_info *ip,
		     uint64_t now)
{
	if (!stk->tcp) {
		PROTO_DROP(stk, TCP_NO_SOCKET, b);
		return;
	}
	if (stk->in_burst)
		tcp_hold(stk, b, ip, now);
	else
		tcp_input(stk->tcp, &stk->tcp_env, b, ip->src, ip->dst, now);
}

void stack_stats_read(const struct stack *stk, struct proto_stats *out)
{
	uint64_t tcp[PROTO_DROP_MAX];

	*out = stk->stats;
	if (!stk->tcp)
		return;
	tcp_stats_read(stk->tcp, NULL, tcp);
	for (unsigned i = 0; i < PROTO_DROP_MAX; i++)
		out->drop[i] += tcp[i];
}

void stack_tcp_icmp_error(struct stack *stk, uint32_t laddr, uint16_t lport, uint32_t raddr,
			  uint16_t rport, uint32_t seq, int err, uint16_t mtu, uint64_t now)
{
	stack_tcp_flush(stk, now);   /* segments that came before it first */
	if (!stk->tcp || tcp_icmp_error(stk->tcp, &stk->tcp_env, laddr, lport, raddr, rport,
					seq, err, mtu, now) == -ENOENT)
		PROTO_DROP(stk, ICMP_ERR_NO_SOCKET, NULL);
}

void stack_flush(struct stack *stk)
{
	ip_reasm_flush(stk);
	neigh_flush(stk);
	for (uint32_t i = 0; i < stk->gro.n; i++)
		pkb_free(stk->cache, stk->gro.rx[i].pkb);
	stk->gro.n = 0;
	stk->in_burst = false;
	for (uint32_t i = 0; i < stk->txq.n; i++)
		pkb_free(stk->cache, stk->txq.pkb[i]);
	stk->txq.n = 0;
	for (uint32_t i = 0; i < stk->evq.n; i++)
		pkb_free(stk->cache, stk->evq.ev[i].pkb);
	stk->evq.n = 0;
	for (uint32_t i = 0; i < stk->steerq.n; i++)
		pkb_free(stk->cache, stk->steerq.pkb[i]);
	stk->steerq.n = 0;
	for (; stk->loop_n > 0; stk->loop_n--) {
		pkb_free(stk->cache, stk->loop[stk->loop_first]);
		stk->loop_first = (stk->loop_first + 1) % STACK_LOOP_MAX;
	}
}

void stack_tx(struct stack *stk, struct pkb *frame)
{
	if (stk->txq.n == STACK_TXQ_MAX) {
		PROTO_DROP(stk, TXQ_FULL, frame);
		return;
	}
	stk->txq.pkb[stk->txq.n++] = frame;
	PROTO_COUNT(stk, ETH_OUT);
}

void stack_steer(struct stack *stk, struct pkb *pkt)
{
	if (stk->steerq.n == STACK_STEER_MAX) {
		PROTO_DROP(stk, STEER_FULL, pkt);
		return;
	}
	stk->steerq.pkb[stk->steerq.n++] = pkt;
	PROTO_COUNT(stk, STEERED);
}

int stack_event(struct stack *stk, const struct stack_event *ev)
{
	if (stk->evq.n == STACK_EVQ_MAX) {
		PROTO_DROP(stk, EVQ_FULL, ev->pkb);
		return -ENOBUFS;
	}
	stk->evq.ev[stk->evq.n++] = *ev;
	return 0;
}

void stack_loopback(struct stack *stk, struct pkb *pkt)
{
	if (stk->loop_n == STACK_LOOP_MAX) {
		PROTO_DROP(stk, LOOPBACK_FULL, pkt);
		return;
	}
	stk->loop[(stk->loop_first + stk->loop_n) % STACK_LOOP_MAX] = pkt;
	stk->loop_n++;
	PROTO_COUNT(stk, LOOPBACK);
}

unsigned stack_poll_loopback(struct stack *stk, unsigned budget, uint64_t now)
{
	unsigned done = 0;

	/* Packets looped back while we deliver these wait for the next call:
	 * the budget bounds the work, as NAPI's does. */
	while (stk->loop_n > 0 && done < budget) {
		struct pkb *pkt = stk->loop[stk->loop_first];

		stk->loop_first = (stk->loop_first + 1) % STACK_LOOP_MAX;
		stk->loop_n--;
		pkt->port = STACK_IF_LOOPBACK;
		ipv4_input(stk, pkt, now);
		done++;
	}
	return done;
}
