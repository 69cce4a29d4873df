/* proto/stats.h — every counter and drop reason of the protocol engine.
 *
 * "Where did my packet go?" must be answered without a debugger (STYLE.md,
 * practice 10): every place proto/ drops a packet names one of the reasons
 * below, through PROTO_DROP(), and the engine exports the counters through
 * shared memory for ctl/ to read. One list, one enum, one name table: add a
 * reason here, never a private counter in a module.
 *
 * The counters are written by one engine thread only (one struct stack per
 * engine), so increments are plain adds; readers in other processes tolerate
 * a value that is one behind.
 */
#ifndef RINGSTACK_PROTO_STATS_H
#define RINGSTACK_PROTO_STATS_H

#include <stdint.h>

/* X(NAME, "what a person reads") */
#define PROTO_DROP_REASONS(X)                                                   \
	/* link layer */                                                        \
	X(ETH_TRUNCATED,      "ethernet: frame shorter than its header")        \
	X(ETH_NOT_FOR_US,     "ethernet: destination MAC not ours")             \
	X(ETH_BAD_SRC,        "ethernet: multicast/broadcast source MAC")       \
	X(ETH_UNKNOWN_TYPE,   "ethernet: ethertype not handled")                \
	X(ETH_VLAN_MISMATCH,  "ethernet: VLAN not configured")                  \
	X(ETH_NO_HEADROOM,    "ethernet: no headroom (or shared data) for the header") \
	/* ARP and neighbours */                                                \
	X(ARP_MALFORMED,      "arp: malformed or unsupported packet")           \
	X(ARP_NOT_FOR_US,     "arp: target address not ours")                   \
	X(ARP_BAD_SENDER,     "arp: sender address invalid")                    \
	X(NEIGH_QUEUE_FULL,   "neigh: resolution queue full")                   \
	X(NEIGH_FAILED,       "neigh: address resolution failed")               \
	X(NEIGH_TABLE_FULL,   "neigh: neighbour table full")                    \
	/* IPv4 */                                                              \
	X(IP_TRUNCATED,       "ipv4: packet shorter than its headers")          \
	X(IP_BAD_VERSION,     "ipv4: version is not 4")                         \
	X(IP_BAD_IHL,         "ipv4: header length invalid")                    \
	X(IP_BAD_LENGTH,      "ipv4: total length invalid")                     \
	X(IP_BAD_CSUM,        "ipv4: bad header checksum")                      \
	X(IP_BAD_SRC,         "ipv4: invalid source address")                   \
	X(IP_NOT_FOR_US,      "ipv4: destination not local (no forwarding)")    \
	X(IP_TTL_EXPIRED,     "ipv4: TTL expired")                              \
	X(IP_NO_ROUTE,        "ipv4: no route to destination")                  \
	X(IP_UNKNOWN_PROTO,   "ipv4: protocol not handled")                     \
	X(IP_FRAG_NEEDED,     "ipv4: needs fragmenting but DF set")             \
	X(IP_FRAG_NOMEM,      "ipv4: out of buffers while fragmenting")         \
	X(REASM_TIMEOUT,      "ipv4 reassembly: timed out")                     \
	X(REASM_OVERLAP,      "ipv4 reassembly: overlapping fragment")          \
	X(REASM_MEMLIMIT,     "ipv4 reassembly: memory limit reached")          \
	X(REASM_TOO_BIG,      "ipv4 reassembly: datagram over 65535 bytes")     \
	X(REASM_BAD_FRAG,     "ipv4 reassembly: malformed fragment")            \
	X(REASM_DUPLICATE,    "ipv4 reassembly: duplicate fragment")            \
	/* ICMP */                                                              \
	X(ICMP_TRUNCATED,     "icmp: message too short")                        \
	X(ICMP_BAD_CSUM,      "icmp: bad checksum")                             \
	X(ICMP_RATELIMIT,     "icmp: reply suppressed by rate limit")           \
	X(ICMP_UNHANDLED,     "icmp: type not handled")                         \
	X(ICMP_BCAST_IGNORED, "icmp: echo to broadcast/multicast ignored")      \
	X(ICMP_ERR_NO_SOCKET, "icmp: error for no known socket")                \
	/* UDP */                                                               \
	X(UDP_TRUNCATED,      "udp: datagram shorter than header/length")       \
	X(UDP_BAD_CSUM,       "udp: bad checksum")                              \
	X(UDP_NO_SOCKET,      "udp: no socket bound to the port")               \
	X(UDP_SOCK_FULL,      "udp: socket receive queue full")                 \
	/* TCP */                                                               \
	X(TCP_TRUNCATED,      "tcp: segment shorter than its header")           \
	X(TCP_BAD_CSUM,       "tcp: bad checksum")                              \
	X(TCP_BAD_OFFSET,     "tcp: data offset invalid")                       \
	X(TCP_NO_SOCKET,      "tcp: no connection or listener")                 \
	X(TCP_OUT_OF_WINDOW,  "tcp: segment outside the receive window")        \
	X(TCP_PAWS,           "tcp: PAWS rejected old timestamp")               \
	X(TCP_BAD_ACK,        "tcp: unacceptable ACK")                          \
	X(TCP_RST_INVALID,    "tcp: RST outside window / challenged")           \
	X(TCP_SYN_INVALID,    "tcp: SYN in synchronized state")                 \
	X(TCP_LISTEN_OVERFLOW,"tcp: listen queue full")                         \
	X(TCP_OFO_MEMLIMIT,   "tcp: out-of-order queue full")                   \
	X(TCP_RCVBUF_FULL,    "tcp: receive buffer full")                       \
	X(TCP_FLAGS,          "tcp: flags the state does not take (no ACK, ...)") \
	X(TCP_ICMP_OUT_OF_WINDOW, "tcp: ICMP error quoting data not in flight")  \
	/* filter hooks and plumbing */                                         \
	X(HOOK_DROP,          "hook: rule said drop")                           \
	X(NO_BUFFERS,         "pool: no packet buffer")                         \
	X(TXQ_FULL,           "stack: transmit queue full")                     \
	X(EVQ_FULL,           "stack: event queue full")                        \
	X(LOOPBACK_FULL,      "stack: loopback queue full")                    \
	X(STEER_FULL,         "stack: queue to the socket engine full")         \
	X(BCAST_ELSEWHERE,    "stack: broadcast copy; the socket engine takes it")

enum proto_drop {
#define PROTO_DROP_ENUM(name, text) PROTO_DROP_##name,
	PROTO_DROP_REASONS(PROTO_DROP_ENUM)
#undef PROTO_DROP_ENUM
	PROTO_DROP_MAX
};

/* Traffic counters in the spirit of `nstat` (the TCP ones live in proto/tcp). */
#define PROTO_COUNTERS(X)                                                       \
	X(ETH_IN,       "frames received")                                      \
	X(ETH_OUT,      "frames sent")                                          \
	X(ARP_IN,       "ARP packets received")                                 \
	X(ARP_OUT,      "ARP packets sent")                                     \
	X(IP_IN,        "IPv4 packets received")                                \
	X(IP_DELIVERED, "IPv4 packets delivered locally")                       \
	X(IP_OUT,       "IPv4 packets sent")                                    \
	X(IP_FRAG_OUT,  "IPv4 fragments created")                               \
	X(IP_REASM_OK,  "IPv4 datagrams reassembled")                           \
	X(ICMP_IN,      "ICMP messages received")                               \
	X(ICMP_OUT,     "ICMP messages sent")                                   \
	X(UDP_IN,       "UDP datagrams delivered")                              \
	X(UDP_OUT,      "UDP datagrams sent")                                   \
	X(LOOPBACK,     "packets looped back inside the stack")                 \
	X(STEERED,      "datagrams steered to the engine owning the sockets")   \
	X(STEERED_IN,   "steered datagrams taken from other engines")           \
	X(GRO_SEGS_IN,  "TCP segments held in receive bursts (proto/gro.h)")    \
	X(GRO_SEGS_OUT, "TCP segments handed to TCP after merging them")

enum proto_counter {
#define PROTO_COUNTER_ENUM(name, text) PROTO_CNT_##name,
	PROTO_COUNTERS(PROTO_COUNTER_ENUM)
#undef PROTO_COUNTER_ENUM
	PROTO_CNT_MAX
};

struct proto_stats {
	uint64_t drop[PROTO_DROP_MAX];
	uint64_t cnt[PROTO_CNT_MAX];
};

/* Name of a drop reason / counter, for ctl/ and logs ("?" if out of range). */
const char *proto_drop_name(unsigned reason);
const char *proto_drop_text(unsigned reason);
const char *proto_counter_name(unsigned counter);

#define PROTO_COUNT(stk, name)      ((stk)->stats.cnt[PROTO_CNT_##name]++)

#endif /* RINGSTACK_PROTO_STATS_H */
