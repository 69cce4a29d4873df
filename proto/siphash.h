/* proto/siphash.h — SipHash-2-4, the keyed hash behind every secret-dependent value.
 *
 * Used where an outsider must not predict or steer a value: TCP initial
 * sequence numbers and SYN cookies (proto/tcp/tcp_isn.c, RFC 6528), and any
 * hash table keyed by attacker-chosen addresses. SipHash (Aumasson and
 * Bernstein, 2012) is a PRF with a 128-bit key and a 64-bit output, fast on
 * the short inputs a 4-tuple makes. Pure: no allocation, no state.
 *
 * The key is two 64-bit words, k0 = bytes 0..7 and k1 = bytes 8..15 of the
 * paper's 16-byte key read little-endian (siphash_key_from_bytes does it);
 * struct stack_config's secret[2] is used as is.
 */
#ifndef RINGSTACK_PROTO_SIPHASH_H
#define RINGSTACK_PROTO_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/* SipHash-2-4 of len bytes at msg under key {k0, k1}. */
uint64_t siphash24(const uint64_t key[2], const void *msg, size_t len);

/* Fill key[2] from a 16-byte key as the paper writes it. */
void siphash_key_from_bytes(uint64_t key[2], const uint8_t bytes[16]);

#endif /* RINGSTACK_PROTO_SIPHASH_H */
