/* proto/stack.h — one protocol engine instance and the contracts between layers.
 *
 * proto/ is pure (DESIGN.md): a struct stack holds every table of one engine
 * (neighbours, routes, reassembly, sockets, hooks, counters); the engine calls
 *
 *      stack_input_burst(stk, frames, n, now)   for each burst from the device
 *                                        (stack_input(stk, frame, now) for one),
 *      stack_timers(stk, now)           when stack_next_deadline() has passed,
 *
 * and collects what came out in two bounded queues it drains after each batch:
 *
 *      stk->txq   frames for the device (complete Ethernet frames, owned by the queue)
 *      stk->evq   events for sockets (a datagram to deliver, an ICMP error, ...)
 *
 * Nothing here sleeps, reads a clock or makes a syscall; buffers come from
 * stk->cache, which the engine owns. A test drives all of it with crafted
 * frames and a fake clock.
 *
 * The receive path, and who owns each step:
 *
 *   stack_input -> eth_input -+-> arp_input                    (proto/arp.c)
 *   (stack.c)     (eth.c)     +-> ipv4_input -+-> icmp_input   (proto/ipv4.c, icmp.c)
 *                                             +-> udp_input    (proto/udp.c)
 *                                             +-> stack_tcp_input -> TCP (proto/tcp/)
 * (in a burst, stack_tcp_input holds TCP segments and stack_tcp_flush merges
 * and delivers them at its end: proto/gro.h; with cfg.steer_sockets the
 * datagrams for sockets leave ipv4_input on stk->steerq instead, and the
 * owning engine's stack_input_steered hands them to its ICMP, UDP and TCP)
 * The transmit path:
 *   udp_output / icmp / TCP -> ipv4_output (route, hooks, fragment)
 *                           -> eth_output_ipv4 (neighbour, Ethernet header) -> stack_tx
 *
 * Addresses are host byte order (uint32_t) everywhere above the parsers;
 * ports are host order too. Wire structs are only read through the parsers.
 */
#ifndef RINGSTACK_PROTO_STACK_H
#define RINGSTACK_PROTO_STACK_H

#include <stdbool.h>
#include <stdint.h>

#include "shm/pkb.h"
#include "proto/stats.h"
#include "proto/eth.h"
#include "proto/neigh.h"
#include "proto/route.h"
#include "proto/hook.h"
#include "proto/ipv4.h"
#include "proto/icmp.h"
#include "proto/udp.h"
#include "proto/gro.h"
#include "proto/tcp/tcp.h"

#define STACK_TXQ_MAX 512   /* frames queued for the device per engine pass */
#define STACK_EVQ_MAX 512   /* socket events queued per engine pass */
#define STACK_LOOP_MAX 256  /* packets looped back per engine pass */
#define STACK_STEER_MAX 256 /* datagrams steered to the socket engine per drain */

enum stack_ifindex {
	STACK_IF_LOOPBACK = 0,  /* 127.0.0.0/8 and our own addresses, inside the stack */
	STACK_IF_ETH = 1,       /* the device nicd owns */
};

/* What the engine is told at start (config file / flags). */
struct stack_config {
	uint8_t mac[6];          /* our MAC on STACK_IF_ETH */
	uint32_t addr;           /* our IPv4 address on STACK_IF_ETH */
	uint8_t prefix_len;      /* its prefix: the connected route */
	uint32_t gateway;        /* default gateway, 0 for none */
	uint16_t mtu;            /* device MTU (1500) */
	uint16_t vlan_id;        /* 0: untagged; else we tag and accept only this VLAN */
	bool promisc;            /* accept frames for any MAC (off by default) */
	/* Several engines, one owning the sockets (netd): the others set this.
	 * Their TCP, UDP and ICMP-error datagrams for us go to stk->steerq for
	 * the owner (stack_input_steered) instead of to a socket, and they
	 * leave to the owner what nicd copies to every queue: answering ARP,
	 * the gratuitous announcement, and broadcast or multicast IP. */
	bool steer_sockets;
	uint64_t secret[2];      /* keys for IP IDs, ISNs, cookies: random at start */
};

/* A socket event for the engine to act on; pkb (when set) belongs to the
 * event and whoever drains the queue must free it. */
enum stack_event_type {
	STACK_EV_UDP_RX = 1,     /* pkb->data at the UDP payload */
	STACK_EV_ICMP_ERR,       /* an ICMP error concerning sock_id */
	STACK_EV_TCP,            /* TCP readiness: sock_id is the conn, info the tcp_event bits */
};

struct stack_event {
	uint16_t type;           /* enum stack_event_type */
	uint16_t lport, rport;   /* local and remote port */
	uint32_t sock_id;        /* whose socket (opaque to proto/) */
	uint32_t laddr, raddr;   /* local and remote address */
	int32_t err;             /* -errno for ICMP errors (-ECONNREFUSED, -EMSGSIZE, ...) */
	uint32_t info;           /* e.g. the next-hop MTU of a frag-needed error */
	struct pkb *pkb;
};

struct stack_txq {
	uint32_t n;
	struct pkb *pkb[STACK_TXQ_MAX];
};

struct stack_evq {
	uint32_t n;
	struct stack_event ev[STACK_EVQ_MAX];
};

/* Datagrams for the engine that owns the sockets (cfg.steer_sockets): each
 * validated, reassembled and past the INPUT hook, data at its IP header. */
struct stack_steerq {
	uint32_t n;
	struct pkb *pkb[STACK_STEER_MAX];
};

struct stack {
	struct stack_config cfg;
	struct pkb_cache *cache;       /* buffers: the engine's per-thread cache */
	struct proto_stats stats;
	struct neigh_table neigh;      /* proto/neigh.h */
	struct route_table routes;     /* proto/route.h: routes and local addresses */
	struct hook_table hooks;       /* proto/hook.h */
	struct ipv4_state ip;          /* proto/ipv4.h: IDs, reassembly */
	struct icmp_state icmp;        /* proto/icmp.h: rate limit */
	struct udp_table udp;          /* proto/udp.h: bound sockets */
	struct tcp_stack *tcp;         /* proto/tcp: NULL until stack_attach_tcp */
	struct tcp_env tcp_env;        /* process-local callbacks into this stack */
	bool in_burst;                 /* inside stack_input_burst: TCP segments are held */
	struct gro_batch gro;          /* proto/gro.h: the TCP segments held */
	uint32_t loop_first;           /* loopback packets waiting for stack_poll_loopback: */
	uint32_t loop_n;               /*   a FIFO of loop_n entries from loop_first */
	struct pkb *loop[STACK_LOOP_MAX];
	struct stack_txq txq;
	struct stack_evq evq;
	struct stack_steerq steerq;
};

/* Initialise every table from cfg (connected route, default route, local
 * address, gratuitous ARP queued on txq). The stack struct is large: the
 * caller owns its memory (static, heap at start, or a shared region).
 * Returns 0 or -EINVAL for an unusable config. */
int stack_init(struct stack *stk, const struct stack_config *cfg,
	       struct pkb_cache *cache, uint64_t now);

/* Give the stack its TCP (formatted or re-attached by the engine in memory
 * it owns). TCP's segments go out through ipv4_output and its readiness
 * events come back as STACK_EV_TCP events on stk->evq. */
void stack_attach_tcp(struct stack *stk, struct tcp_stack *tcp);

/* Take one received Ethernet frame (ownership passes to the stack). */
void stack_input(struct stack *stk, struct pkb *frame, uint64_t now);

/* Take a burst of received frames (ownership of each passes), as n calls of
 * stack_input, except that TCP segments are held until the burst's end,
 * then merged where they continue each other (proto/gro.h) and handed to
 * TCP together (stack_tcp_flush), counted GRO_SEGS_IN and GRO_SEGS_OUT. A
 * burst of one frame is exactly stack_input: nothing to merge it with. */
void stack_input_burst(struct stack *stk, struct pkb **frames, unsigned n, uint64_t now);

/* Take a burst of datagrams another engine's stack steered here (its
 * stk->steerq: validated, reassembled, hooks run; ownership passes) and
 * hand each to ICMP, UDP or TCP as ipv4_input would have, TCP segments
 * merged as in stack_input_burst. For the engine that owns the sockets. */
void stack_input_steered(struct stack *stk, struct pkb **pkts, unsigned n, uint64_t now);

/* Merge and hand to TCP the segments held so far (a no-op when none). Called
 * at the end of stack_input_burst, and before anything that must see TCP's
 * state up to date (an ICMP error for a connection). */
void stack_tcp_flush(struct stack *stk, uint64_t now);

/* Run due timers (ARP retries, neighbour ageing, reassembly timeouts). */
void stack_timers(struct stack *stk, uint64_t now);

/* Earliest time stack_timers has work to do (UINT64_MAX: none). */
uint64_t stack_next_deadline(const struct stack *stk);

/* Free every packet the stack holds (reassembly, neighbour queues, held TCP
 * segments, the tx, event and loopback queues) and forget neighbours: for
 * engine shutdown and test teardown, so that the pool gets every buffer
 * back. Tables stay usable. */
void stack_flush(struct stack *stk);

/* Deliver packets that were looped back (127/8, own address) during the last
 * pass: called by the engine after draining; bounded by `budget` packets.
 * Returns how many were processed. */
unsigned stack_poll_loopback(struct stack *stk, unsigned budget, uint64_t now);

/* ------------------------------------------------ used by the layers */

/* Queue a finished frame for the device (ownership passes); counted drop
 * TXQ_FULL when full. */
void stack_tx(struct stack *stk, struct pkb *frame);

/* Queue an IPv4 packet (data at its IP header) for delivery back into
 * ipv4_input at the next stack_poll_loopback. */
void stack_loopback(struct stack *stk, struct pkb *pkt);

/* Queue a datagram (data at its IP header) for the engine that owns the
 * sockets; counted STEERED, or drop STEER_FULL when the queue is full. */
void stack_steer(struct stack *stk, struct pkb *pkt);

/* Queue a socket event (its pkb passes with it); counted drop EVQ_FULL and the
 * pkb freed when full. Returns 0 or -ENOBUFS. */
int stack_event(struct stack *stk, const struct stack_event *ev);

/* TCP's receive entry, called by ipv4_input with b->data at the TCP header.
 * Outside a burst the segment goes to tcp_input at once; inside one its
 * checksum is verified (a bad one dropped TCP_BAD_CSUM) and it is held for
 * stack_tcp_flush. */
void stack_tcp_input(struct stack *stk, struct pkb *b, const struct ipv4_info *ip,
		     uint64_t now);

/* Every drop and counter of the engine in one view: stk->stats with TCP's
 * drops added in, reason by reason. (TCP counts its drops under the same
 * PROTO_DROP_* reasons, but in its own block, which survives a restart:
 * tcp_stats_read.) TCP's own traffic counters stay in tcp_stats_read. */
void stack_stats_read(const struct stack *stk, struct proto_stats *out);

/* An ICMP error about a TCP segment we sent (icmp_input parsed the quote):
 * handed to tcp_icmp_error (proto/tcp/tcp.h). No TCP attached, or no
 * connection with that 4-tuple: counted ICMP_ERR_NO_SOCKET. */
void stack_tcp_icmp_error(struct stack *stk, uint32_t laddr, uint16_t lport, uint32_t raddr,
			  uint16_t rport, uint32_t seq, int err, uint16_t mtu, uint64_t now);

/* Count a drop under `reason` and free the packet (b may be NULL). */
static inline void proto_drop(struct stack *stk, enum proto_drop reason, struct pkb *b)
{
	stk->stats.drop[reason]++;
	pkb_free(stk->cache, b);
}
#define PROTO_DROP(stk, name, b) proto_drop((stk), PROTO_DROP_##name, (b))

#endif /* RINGSTACK_PROTO_STACK_H */
