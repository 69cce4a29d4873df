/* proto/csum.h — the Internet checksum (RFC 1071) and its incremental update
 * (RFC 1624), used by every layer that sums headers or payloads: IPv4 header,
 * ICMP, UDP and TCP on both the receive and transmit paths.
 *
 * Byte order: sums are taken over the bytes as they lie in memory, so a
 * folded result is already in network byte order: store it with memcpy and
 * read a stored one back the same way. A packet (header with its checksum
 * field, or pseudo header + segment) is valid when its folded sum is 0:
 *
 *      if (csum_fold(csum_partial(hdr, hlen, 0)) != 0) drop;
 *
 * The 32-bit accumulator from csum_partial / csum_pseudo_ipv4 / csum_pkb is
 * not folded, so partial sums chain: csum_partial(b, n, csum_partial(a, m, 0))
 * sums a then b, provided m is even (an odd-length block shifts the next
 * block's bytes; csum_pkb handles that across a chain).
 */
#ifndef RINGSTACK_PROTO_CSUM_H
#define RINGSTACK_PROTO_CSUM_H

#include <stddef.h>
#include <stdint.h>

struct pkb;

/* One's-complement sum of len bytes at buf, added to sum. Unaligned buf and
 * odd len are fine (an odd last byte is padded with a zero, RFC 1071 4.1).
 * Returns the unfolded 32-bit accumulator. */
uint32_t csum_partial(const void *buf, size_t len, uint32_t sum);

/* Fold a 32-bit accumulator to 16 bits and complement it: the value to store
 * in a checksum field (network order). */
uint16_t csum_fold(uint32_t sum);

/* The checksum of one buffer: csum_fold(csum_partial(buf, len, 0)). */
uint16_t inet_csum(const void *buf, size_t len);

/* The IPv4 pseudo header (RFC 768, RFC 9293 3.1) as an accumulator to pass to
 * csum_partial. src and dst are host order; len is the UDP/TCP length
 * (header + data) in host order. */
uint32_t csum_pseudo_ipv4(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len);

/* The new checksum after one 16-bit word of the summed data changed from
 * old_val to new_val, without summing the rest again: RFC 1624 eqn. 3,
 * HC' = ~(~HC + ~m + m'). csum, old_val and new_val must be in the same byte
 * order (e.g. all three read from the packet with memcpy); the result is in
 * that order too. */
uint16_t csum_update16(uint16_t csum, uint16_t old_val, uint16_t new_val);

/* csum_partial over len bytes of b's chain starting at byte off, added to
 * sum, carrying the odd/even byte position across segments of odd length.
 * Sums only the bytes the chain holds: the caller has checked off + len
 * against b->pkt_len. */
uint32_t csum_pkb(const struct pkb *b, uint32_t off, uint32_t len, uint32_t sum);

#endif /* RINGSTACK_PROTO_CSUM_H */
