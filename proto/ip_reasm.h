/* proto/ip_reasm.h — IPv4 reassembly (RFC 791 section 3.2, RFC 815).
 *
 * Where it sits: receive path, inside ipv4_input, after the header is
 * validated and the packet is known to be for us, before the INPUT hook and
 * the L4 dispatch:
 *
 *   eth_input -> ipv4_input -> [ip_reasm_add] -> INPUT hook -> icmp/udp/tcp
 *
 * Each datagram being reassembled is one entry keyed by (src, dst, id,
 * proto) (RFC 791: "the identification field ... together with source,
 * destination and protocol"). The entry holds its fragments' pkbs, sorted by
 * offset, with data at their IP payload (the header bytes stay in the
 * headroom, so the first fragment's header can be pushed back for an ICMP
 * time exceeded or for the reassembled datagram).
 *
 * Limits, all fixed at compile time and checked before a fragment is kept:
 *   - IP_REASM_MAX_DGRAMS datagrams at once (table full: the new fragment is
 *     dropped, REASM_MEMLIMIT; no eviction, as Linux since 4.17);
 *   - IP_REASM_MAX_FRAGS fragments per datagram (more: the whole datagram is
 *     dropped, REASM_MEMLIMIT), which bounds per-datagram memory;
 *   - mem_max bytes of buffer memory (truesize) over all datagrams;
 *   - a 30 s lifetime from the first fragment (Linux's ipfrag_time).
 * Overlaps are handled as RFC 5722 does for IPv6: any overlap drops the
 * whole datagram (REASM_OVERLAP); an exact duplicate (same offset and end)
 * drops only itself. See docs/PROTO-L3.md.
 */
#ifndef RINGSTACK_PROTO_IP_REASM_H
#define RINGSTACK_PROTO_IP_REASM_H

#include <stdbool.h>
#include <stdint.h>

struct stack;
struct pkb;
struct ipv4_info;

#define IP_REASM_MAX_DGRAMS  64u                 /* datagrams reassembled at once */
#define IP_REASM_MAX_FRAGS   64u                 /* fragments kept per datagram */
#define IP_REASM_TIMEOUT_NS  (30ull * 1000000000ull)   /* Linux ipfrag_time */
#define IP_REASM_MEM_MAX     (4u << 20)          /* Linux ipfrag_high_thresh */

/* One fragment held: b->data at its IP payload; [off, off + len) in bytes. */
struct ip_reasm_frag {
	struct pkb *b;
	uint16_t off;
	uint16_t len;
};

/* One datagram being reassembled. */
struct ip_reasm_dgram {
	uint32_t src, dst;
	uint16_t id;
	uint8_t proto;
	uint8_t nfrags;          /* entries used in frag[], sorted by off */
	bool in_use;
	bool have_last;          /* the fragment with MF = 0 arrived: total known */
	uint16_t total;          /* payload bytes of the whole datagram, once known */
	uint32_t received;       /* payload bytes held (no overlaps, so no double count) */
	uint32_t mem;            /* truesize of the pkbs held */
	uint64_t expires;        /* first fragment's arrival + timeout */
	struct ip_reasm_frag frag[IP_REASM_MAX_FRAGS];
};

struct ip_reasm {
	uint32_t mem;            /* truesize held over all datagrams */
	uint32_t mem_max;        /* limit for mem */
	uint32_t count;          /* entries in use */
	uint64_t timeout;        /* lifetime of an entry, ns */
	struct ip_reasm_dgram dgram[IP_REASM_MAX_DGRAMS];
};

/* Empty the table and set the default limits (no pkbs are freed: call
 * ip_reasm_flush first on a table that holds some). */
void ip_reasm_init(struct ip_reasm *r);

/* Take one fragment (b->data at its IP header, trimmed to ip->total_len;
 * ownership passes). Returns NULL while the datagram is incomplete or when
 * the fragment was dropped (counted). When b completes its datagram, returns
 * the whole datagram as a pkb chain with data at the first fragment's IP
 * header (rewritten: total length, no MF, offset 0, checksum) and fills
 * *whole with its header info; ownership passes to the caller. */
struct pkb *ip_reasm_add(struct stack *stk, struct pkb *b, const struct ipv4_info *ip,
			 struct ipv4_info *whole, uint64_t now);

/* Drop every datagram whose lifetime has passed (REASM_TIMEOUT per datagram),
 * sending ICMP time exceeded, code 1, when its first fragment had arrived
 * (RFC 792, RFC 1122 3.3.2). */
void ip_reasm_timers(struct stack *stk, uint64_t now);

/* Earliest expiry of any entry, or UINT64_MAX when the table is empty. */
uint64_t ip_reasm_next_deadline(const struct ip_reasm *r);

/* Free every held fragment, without ICMP and without counting (shutdown). */
void ip_reasm_flush(struct stack *stk);

#endif /* RINGSTACK_PROTO_IP_REASM_H */
