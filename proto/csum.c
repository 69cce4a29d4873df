/* proto/csum.c — the Internet checksum (RFC 1071) and RFC 1624 updates.
 *
 * Every layer's checksum goes through here: ipv4 header checks and builds,
 * ICMP, UDP and TCP over their pseudo headers, on receive and transmit.
 *
 * Speed: the one's-complement sum is associative and commutative and does not
 * care how wide the words are as long as carries are folded back in (RFC 1071
 * 2.(B) and (C)). So csum_partial reads 64-bit words and adds their two
 * 32-bit halves into two 64-bit accumulators: no carry can be lost until
 * 2^32 additions (16 GiB per accumulator), and the adds are independent so
 * the CPU runs them in parallel. bench/csum_bench.c measures it against the
 * plain 16-bit loop and an add-with-carry (__int128) variant.
 */
#include "proto/csum.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>

#include "shm/pkb.h"

#define CSUM_CHAIN_GUARD 65535u   /* segments walked at most by csum_pkb */

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));   /* unaligned-safe; one mov on x86 */
	return v;
}

/* Fold a 64-bit accumulator to 32 bits with end-around carry. Two rounds
 * suffice: the first leaves at most 2^33 - 2, the second at most 2^32 - 1. */
static inline uint32_t fold64(uint64_t s)
{
	s = (s & 0xffffffffu) + (s >> 32);
	s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

static inline uint32_t ror32(uint32_t v, unsigned n)
{
	return (v >> n) | (v << (32 - n));
}

/* Sum of the last 0..7 bytes, as 32-, 16- and 8-bit pieces. */
static uint64_t csum_tail(const uint8_t *p, size_t len)
{
	uint64_t s = 0;

	if (len >= 4) {
		uint32_t w;

		memcpy(&w, p, 4);
		s += w;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t w;

		memcpy(&w, p, 2);
		s += w;
		p += 2;
		len -= 2;
	}
	if (len) {
		/* RFC 1071 4.1: the odd last byte is the first byte of a word
		 * whose second byte is zero, in memory order. */
		uint16_t w = 0;

		memcpy(&w, p, 1);
		s += w;
	}
	return s;
}

uint32_t csum_partial(const void *buf, size_t len, uint32_t sum)
{
	const uint8_t *p = buf;
	uint64_t a = sum, b = 0;

	for (; len >= 32; len -= 32, p += 32) {
		uint64_t w0 = load64(p), w1 = load64(p + 8);
		uint64_t w2 = load64(p + 16), w3 = load64(p + 24);

		a += (w0 & 0xffffffffu) + (w0 >> 32) + (w1 & 0xffffffffu) + (w1 >> 32);
		b += (w2 & 0xffffffffu) + (w2 >> 32) + (w3 & 0xffffffffu) + (w3 >> 32);
	}
	for (; len >= 8; len -= 8, p += 8) {
		uint64_t w = load64(p);

		a += (w & 0xffffffffu) + (w >> 32);
	}
	b += csum_tail(p, len);
	return fold64(a + (b & 0xffffffffu) + (b >> 32));
}

uint16_t csum_fold(uint32_t sum)
{
	sum = (sum & 0xffffu) + (sum >> 16);
	sum = (sum & 0xffffu) + (sum >> 16);
	return (uint16_t)~sum;
}

uint16_t inet_csum(const void *buf, size_t len)
{
	return csum_fold(csum_partial(buf, len, 0));
}

uint32_t csum_pseudo_ipv4(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
	/* Sum in host order, fold, then swap to memory order: a byte swap
	 * commutes with one's-complement addition (RFC 1071 2.(B)). */
	uint32_t s = (src >> 16) + (src & 0xffffu) + (dst >> 16) + (dst & 0xffffu) +
		     proto + len;

	s = (s & 0xffffu) + (s >> 16);
	s = (s & 0xffffu) + (s >> 16);
	return htons((uint16_t)s);
}

uint16_t csum_update16(uint16_t csum, uint16_t old_val, uint16_t new_val)
{
	/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). Unlike eqn. 2 it never
	 * turns a correct 0x0000 into the -0 that RFC 1624 section 3 warns of. */
	uint32_t s = (uint16_t)~csum + (uint32_t)(uint16_t)~old_val + new_val;

	return csum_fold(s);
}

uint32_t csum_pkb(const struct pkb *b, uint32_t off, uint32_t len, uint32_t sum)
{
	uint64_t acc = sum;
	bool odd = false;
	unsigned guard = CSUM_CHAIN_GUARD;

	for (const struct pkb *seg = b; seg && len && guard; seg = pkb_next(seg), guard--) {
		uint32_t n = pkb_len(seg), s;

		if (off >= n) {
			off -= n;
			continue;
		}
		n -= off;
		if (n > len)
			n = len;
		s = csum_partial(pkb_data(seg) + off, n, 0);
		/* A block that starts at an odd position has its bytes in the
		 * other half of each word: rotating the 32-bit sum by 8
		 * multiplies it by 2^8 mod 0xffff, i.e. swaps them (RFC 1071 2.(B)). */
		if (odd)
			s = ror32(s, 8);
		acc += s;
		odd ^= n & 1;
		len -= n;
		off = 0;
	}
	return fold64(acc);
}
