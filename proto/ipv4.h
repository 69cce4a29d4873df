/* proto/ipv4.h — IPv4 (RFC 791, RFC 1122 section 3): header parsing, local
 * delivery, output with fragmentation, and IP ID selection.
 *
 * Where it sits:
 *   receive:  eth_input / stack_poll_loopback -> ipv4_input
 *                -> PRE_ROUTING hook -> local? -> ip_reasm -> INPUT hook
 *                -> icmp_input / udp_input / stack_tcp_input
 *   transmit: udp_output / icmp / TCP -> ipv4_output -> route -> OUTPUT hook
 *                -> IP header -> POST_ROUTING hook -> fragment to the MTU
 *                -> eth_output_ipv4 (which loops STACK_IF_LOOPBACK back)
 *
 * A host, not a router: packets not addressed to one of our addresses (or a
 * broadcast) are dropped IP_NOT_FOR_US; nothing is forwarded.
 *
 *      0                   1                   2                   3
 *      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |Version|  IHL  |Type of Service|          Total Length         |
 *     |         Identification        |Flags|      Fragment Offset    |
 *     |  Time to Live |    Protocol   |         Header Checksum       |
 *     |                       Source Address                          |
 *     |                    Destination Address                        |
 *     |                    Options (IHL > 5)                          |
 */
#ifndef RINGSTACK_PROTO_IPV4_H
#define RINGSTACK_PROTO_IPV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/pkb.h"
#include "proto/ip_reasm.h"

struct stack;

#define IPV4_HLEN_MIN      20u
#define IPV4_HLEN_MAX      60u
#define IPV4_MAX_LEN       65535u
#define IPV4_DEFAULT_TTL   64u       /* Linux ip_default_ttl */

#define IPV4_PROTO_ICMP    1u        /* RFC 790 protocol numbers (proto/ does */
#define IPV4_PROTO_TCP     6u        /* not include libc's <netinet/in.h>) */
#define IPV4_PROTO_UDP     17u

#define IPV4_ADDR(a, b, c, d) \
	(((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))
#define IPV4_BROADCAST     0xffffffffu

/* Number of per-destination ID counters (Linux's ip_idents has 2048+). */
#define IPV4_IDENTS        2048u

/* A parsed IPv4 header, host order. frag_off is the offset in bytes
 * (the wire's 13-bit field times 8). ifindex is the interface it arrived on
 * (enum stack_ifindex). */
struct ipv4_info {
	uint32_t src, dst;
	uint16_t total_len, hdr_len, id, frag_off;
	uint8_t proto, ttl, tos, ifindex;
	bool df, mf;
};

/* What a sender asks of ipv4_output. src 0: the route's source address;
 * ttl 0: IPV4_DEFAULT_TTL. */
struct ipv4_tx {
	uint32_t src, dst;
	uint8_t proto, ttl, tos;
	bool df;
};

struct ipv4_state {
	uint64_t key[2];                 /* secret for ID selection */
	uint32_t idents[IPV4_IDENTS];    /* per-destination-bucket ID counters */
	struct ip_reasm reasm;           /* proto/ip_reasm.h */
};

/* Validate the IPv4 header at pkt[0..len) and fill *out. Pure: reads only
 * within len. Checks version 4, IHL >= 5 and within len, total length
 * >= IHL and <= len (bytes after it are link-layer padding, to be trimmed),
 * the header checksum, and that options (skipped, not interpreted) fit in
 * IHL. ifindex is left 0. Returns the header length, or a negative errno
 * naming what is wrong: -ENODATA (len shorter than 20, IHL or total length),
 * -EPROTONOSUPPORT (version), -EINVAL (IHL < 5), -EMSGSIZE (total length
 * < IHL), -EBADMSG (checksum). */
int ipv4_parse(const uint8_t *pkt, size_t len, struct ipv4_info *out);

/* Receive one IPv4 packet (b->data at the IP header; ownership passes).
 * b->port is the interface it arrived on (enum stack_ifindex), as
 * stack_poll_loopback and eth_input set it. Validates, trims link padding, checks the source and destination,
 * runs the hooks, reassembles fragments and hands the datagram to ICMP, UDP
 * or TCP with b->data at the L4 header and b->l3_off at the IP header.
 * Unknown protocols get ICMP protocol unreachable. Every drop is counted. */
void ipv4_input(struct stack *stk, struct pkb *b, uint64_t now);

/* Receive a whole datagram another engine's stack steered here (b->data
 * at its IP header; stack_input_steered): re-parsed, no hooks run again,
 * handed to ICMP, UDP or TCP as ipv4_input does. */
void ipv4_input_steered(struct stack *stk, struct pkb *b, uint64_t now);

/* Send one datagram (b->data at the L4 header, may be a chain; ownership
 * passes in every case). Fills tx->src from the route when 0, runs the
 * OUTPUT hook, pushes the IP header (a new buffer when b lacks headroom),
 * runs POST_ROUTING, fragments to the route's MTU and hands each packet to
 * eth_output_ipv4 (loopback included). Returns 0, -ENETUNREACH (no route),
 * -EMSGSIZE (too big with DF, or over 65535), -ENOBUFS (out of buffers),
 * -EPERM (a hook dropped it); every failure is counted. */
int ipv4_output(struct stack *stk, struct pkb *b, const struct ipv4_tx *tx, uint64_t now);

/* Source address ipv4_output would use to reach dst (for L4 pseudo-header
 * checksums computed before the call), or 0 when there is no route. */
uint32_t ipv4_select_src(struct stack *stk, uint32_t dst);

/* Expire reassembly entries (ICMP time exceeded where RFC 792 asks). */
void ipv4_timers(struct stack *stk, uint64_t now);

/* Earliest time ipv4_timers has work, UINT64_MAX for none. */
uint64_t ipv4_next_deadline(const struct stack *stk);

/* Set up IDs (keyed by secret) and an empty reassembly table. */
void ipv4_init(struct ipv4_state *ip, const uint64_t secret[2]);

/* The next IP ID towards dst for proto: a counter chosen by a keyed hash of
 * (dst, proto), so IDs seen by one peer tell nothing about traffic to
 * others (Linux ip_idents; RFC 7739 section 5.2). */
uint16_t ipv4_select_id(struct ipv4_state *ip, uint32_t dst, uint8_t proto);

/* Append len bytes of src's chain, from byte off, to dst's chain (copying,
 * chaining new buffers as needed). Returns 0, -EINVAL (src too short) or
 * -ENOBUFS; on error dst may hold part of the bytes. */
int ipv4_append_from(struct pkb_cache *cache, struct pkb *dst, const struct pkb *src,
		     uint32_t off, uint32_t len);

/* Big-endian field access for the L3/L4 parsers and builders (the bytes
 * may be unaligned; these compile to a load and a byte swap). */
static inline uint16_t ipv4_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t ipv4_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void ipv4_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void ipv4_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* Classes of addresses (host order). */
static inline bool ipv4_is_multicast(uint32_t a) { return (a >> 28) == 0xe; }
static inline bool ipv4_is_loopback(uint32_t a) { return (a >> 24) == 127; }
static inline bool ipv4_is_zeronet(uint32_t a) { return (a >> 24) == 0; }
static inline bool ipv4_is_lbcast(uint32_t a) { return a == IPV4_BROADCAST; }

/* Address of the IP header of a packet ipv4_input has seen (b->l3_off is
 * counted from the buffer start, as eth_input sets it). */
static inline const uint8_t *ipv4_hdr(const struct pkb *b)
{
	return pkb_buf(b) + b->l3_off;
}

#endif /* RINGSTACK_PROTO_IPV4_H */
