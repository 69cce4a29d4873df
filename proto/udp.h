/* proto/udp.h — UDP (RFC 768): the socket table, demultiplexing, input and
 * output.
 *
 * Where it sits:
 *   receive:  ipv4_input -> udp_input -> demux -> STACK_EV_UDP_RX (stk->evq)
 *                                     -> no socket: ICMP port unreachable
 *   transmit: netd (a send on a socket) -> udp_output -> ipv4_output
 *
 * The table is fixed-size and pointer-free (indices only) so that it can live
 * in a shared region. Sockets are hashed by local port; a lookup scores each
 * socket on the port as Linux's compute_score does (a socket bound to the
 * exact local address, or connected to the exact remote, beats a wildcard);
 * among equal scores the last bound wins, and a SO_REUSEPORT group spreads
 * flows by hash. See docs/PROTO-L3.md for the bind rules.
 */
#ifndef RINGSTACK_PROTO_UDP_H
#define RINGSTACK_PROTO_UDP_H

#include <stdbool.h>
#include <stdint.h>

struct stack;
struct pkb;
struct ipv4_info;

#define UDP_HLEN             8u
#define UDP_TABLE_SIZE       1024u   /* sockets */
#define UDP_HASH_BUCKETS     256u    /* power of two */
#define UDP_NONE             0xffffu /* end of a bucket / free list */
#define UDP_EPHEMERAL_LO     32768u  /* Linux ip_local_port_range */
#define UDP_EPHEMERAL_HI     60999u

enum udp_sock_flags {
	UDP_F_REUSEADDR = 1u << 0,   /* SO_REUSEADDR */
	UDP_F_REUSEPORT = 1u << 1,   /* SO_REUSEPORT */
};

/* One bound socket (host order). raddr/rport are 0 until connected. */
struct udp_sock {
	uint32_t sock_id;
	uint32_t laddr, raddr;
	uint16_t lport, rport;
	uint16_t flags;          /* enum udp_sock_flags */
	uint16_t next;           /* next in bucket / free list, UDP_NONE ends */
	uint32_t uid;            /* owner, for SO_REUSEPORT's same-user rule */
	uint32_t seq;            /* bind order: later binds win ties */
	bool in_use;
};

struct udp_table {
	uint16_t bucket[UDP_HASH_BUCKETS];   /* first socket of each bucket */
	uint16_t free_head;
	uint32_t count;
	uint32_t seq;                        /* next bind order number */
	uint32_t port_offset;                /* next ephemeral port search start */
	struct udp_sock sock[UDP_TABLE_SIZE];
};

/* A datagram to send (host order). src 0: the route's source; ttl 0: the
 * default. */
struct udp_tx {
	uint32_t src, dst;
	uint16_t sport, dport;
	uint8_t ttl, tos;
	bool df;
};

/* Empty table. */
void udp_init(struct udp_table *t);

/* Bind sock_id to laddr:lport (laddr 0: any; lport 0: an ephemeral port).
 * Linux's rules: two sockets conflict when their local addresses overlap
 * (equal, or either is 0) unless both set UDP_F_REUSEADDR, or both set
 * UDP_F_REUSEPORT and have the same uid. Returns the bound port (> 0),
 * -EADDRINUSE, -EINVAL (sock_id already bound), or -ENOBUFS (table full). */
int udp_bind(struct udp_table *t, uint32_t sock_id, uint32_t laddr, uint16_t lport,
	     unsigned flags, uint32_t uid);

/* Connect a bound socket to raddr:rport (raddr 0: disconnect). laddr, when
 * not 0, replaces a wildcard local address (the source the route chose, as
 * Linux's connect does). Returns 0, -ENOENT (not bound), -EINVAL (rport 0
 * with raddr set). */
int udp_connect(struct udp_table *t, uint32_t sock_id, uint32_t laddr, uint32_t raddr,
		uint16_t rport);

/* Remove sock_id. Returns 0 or -ENOENT. */
int udp_unbind(struct udp_table *t, uint32_t sock_id);

/* An ephemeral port (UDP_EPHEMERAL_LO..HI) free for laddr, searched from
 * `offset` (RFC 6056 algorithm 1: the caller passes a random or keyed
 * value). Returns the port, or -EADDRINUSE when all are taken. */
int udp_alloc_port(const struct udp_table *t, uint32_t laddr, uint32_t offset);

/* The socket a unicast datagram from raddr:rport to laddr:lport goes to, or
 * NULL. hash spreads flows over a SO_REUSEPORT group. */
const struct udp_sock *udp_lookup(const struct udp_table *t, uint32_t laddr, uint16_t lport,
				  uint32_t raddr, uint16_t rport, uint32_t hash);

/* An ICMP error concerning a datagram we sent from laddr:lport to
 * raddr:rport (as quoted in the error): queue STACK_EV_ICMP_ERR with err
 * (-errno) and info for the socket that sent it. Returns 0, or -ENOENT when
 * no socket matches (the caller counts ICMP_ERR_NO_SOCKET). */
int udp_icmp_error(struct stack *stk, uint32_t laddr, uint16_t lport, uint32_t raddr,
		   uint16_t rport, int err, uint32_t info);

/* Receive one datagram (b->data at the UDP header, b->l3_off at the IP
 * header; ownership passes). Checks length and checksum (optional when 0,
 * RFC 768), delivers to the matching socket (every matching socket for a
 * broadcast) as STACK_EV_UDP_RX with data at the payload, or answers ICMP
 * port unreachable. Every drop is counted. */
void udp_input(struct stack *stk, struct pkb *b, const struct ipv4_info *ip, uint64_t now);

/* Send len bytes of payload: builds a pkb (a chain when larger than one
 * buffer) with the UDP header and checksum (always computed; 0 goes as
 * 0xffff) and hands it to ipv4_output. Returns 0, -EMSGSIZE (len over
 * 65507), -ENOBUFS, -EINVAL (dport 0), or ipv4_output's error. */
int udp_output(struct stack *stk, const struct udp_tx *tx, const void *payload, uint32_t len,
	       uint64_t now);

#endif /* RINGSTACK_PROTO_UDP_H */
