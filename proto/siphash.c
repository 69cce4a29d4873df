/* proto/siphash.c — SipHash-2-4 (Aumasson & Bernstein, "SipHash: a fast
 * short-input PRF", 2012), written from the paper's description.
 *
 * Four 64-bit state words; each 8-byte little-endian message word m is
 * absorbed by v3 ^= m, two SipRounds, v0 ^= m. The last word carries the
 * remaining 0..7 bytes and the length mod 256 in its top byte. Finalisation
 * is v2 ^= 0xff and four SipRounds; the output is v0 ^ v1 ^ v2 ^ v3.
 */
#include "proto/siphash.h"

#define ROTL64(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

/* One SipRound (the paper's figure 2.1). */
#define SIPROUND(v0, v1, v2, v3)                                        \
	do {                                                            \
		v0 += v1; v1 = ROTL64(v1, 13); v1 ^= v0; v0 = ROTL64(v0, 32); \
		v2 += v3; v3 = ROTL64(v3, 16); v3 ^= v2;                \
		v0 += v3; v3 = ROTL64(v3, 21); v3 ^= v0;                \
		v2 += v1; v1 = ROTL64(v1, 17); v1 ^= v2; v2 = ROTL64(v2, 32); \
	} while (0)

/* Read 8 bytes little-endian whatever the host's byte order and alignment. */
static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void siphash_key_from_bytes(uint64_t key[2], const uint8_t bytes[16])
{
	key[0] = load_le64(bytes);
	key[1] = load_le64(bytes + 8);
}

uint64_t siphash24(const uint64_t key[2], const void *msg, size_t len)
{
	const uint8_t *p = msg;
	uint64_t v0 = key[0] ^ 0x736f6d6570736575ull;   /* "somepseudorandomlygeneratedbytes" */
	uint64_t v1 = key[1] ^ 0x646f72616e646f6dull;
	uint64_t v2 = key[0] ^ 0x6c7967656e657261ull;
	uint64_t v3 = key[1] ^ 0x7465646279746573ull;
	uint64_t last = (uint64_t)(len & 0xff) << 56;
	size_t words = len / 8;

	for (size_t i = 0; i < words; i++, p += 8) {
		uint64_t m = load_le64(p);

		v3 ^= m;
		SIPROUND(v0, v1, v2, v3);
		SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	for (size_t i = 0; i < (len & 7); i++)
		last |= (uint64_t)p[i] << (8 * i);
	v3 ^= last;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	v0 ^= last;
	v2 ^= 0xff;
	for (int i = 0; i < 4; i++)
		SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}
