/* shm/rss.h — software RSS: the Toeplitz hash over a frame's IPv4 flow.
 *
 * Where it sits: nicd hashes every received frame before it picks the rx
 * ring, so that all frames of one flow reach the same netd engine (what a
 * NIC's receive-side scaling does in hardware). The hash is the one NICs
 * compute (Microsoft's RSS specification): Toeplitz over the IPv4 source
 * address, destination address, and for TCP and UDP the source and
 * destination ports, all in network byte order, with the standard 40-byte
 * key. A frame that is not IPv4 (ARP, IPv6, ...) and a non-first IPv4
 * fragment (no ports) hash on what they have: the 2-tuple, or 0.
 *
 * The queue is the low 7 bits of the hash through a 128-entry indirection
 * table, entry i = i % nqueues: a NIC's default RETA, computed instead of
 * stored. ARP and L2 broadcast/multicast frames are not steered at all:
 * rss_frame_to_all() says nicd gives them to every queue.
 *
 * Header-only (static inline) so that tests/unit/test_rss.c checks exactly
 * the code nicd runs against the specification's verification vectors. It
 * lives in shm/ because it is a contract between nicd and netd: netd picks
 * the ephemeral port of an active open so that the flow's replies hash to
 * the engine that owns the sockets (rss_flow_queue).
 */
#ifndef RINGSTACK_SHM_RSS_H
#define RINGSTACK_SHM_RSS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define RSS_KEY_LEN      40u
#define RSS_TUPLE_MAX    12u       /* IPv4: saddr daddr sport dport */
#define RSS_RETA_BITS    7u        /* 128-entry indirection table */

/* The key of Microsoft's RSS verification suite, the usual default. */
static const uint8_t rss_default_key[RSS_KEY_LEN] = {
	0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67,
	0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb,
	0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
	0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

/* The definition, bit by bit: for every set bit of the input (most
 * significant first), XOR in the 32 key bits starting at that bit's position.
 * len must be at most keylen - 4. The reference the table form is tested
 * against; too slow for the data path. */
static inline uint32_t rss_toeplitz(const uint8_t *key, const uint8_t *data, size_t len)
{
	uint32_t window = (uint32_t)key[0] << 24 | (uint32_t)key[1] << 16 |
			  (uint32_t)key[2] << 8 | key[3];
	uint32_t hash = 0;

	for (size_t i = 0; i < len; i++) {
		for (int bit = 7; bit >= 0; bit--) {
			if (data[i] & (1u << bit))
				hash ^= window;
			/* slide the key window one bit: next key bit enters at the bottom */
			window = window << 1 | ((key[i + 4] >> bit) & 1u);
		}
	}
	return hash;
}

/* Toeplitz is linear over XOR, so the hash of a tuple is the XOR of each
 * byte's contribution at its position: 12 lookups instead of 96 bit steps. */
struct rss_table {
	uint32_t t[RSS_TUPLE_MAX][256];
};

/* Fill tbl for key (RSS_KEY_LEN bytes). 12 KiB; done once at start-up. */
static inline void rss_table_init(struct rss_table *tbl, const uint8_t *key)
{
	uint8_t one[RSS_TUPLE_MAX];

	for (unsigned pos = 0; pos < RSS_TUPLE_MAX; pos++) {
		for (unsigned v = 0; v < 256; v++) {
			memset(one, 0, sizeof(one));
			one[pos] = (uint8_t)v;
			tbl->t[pos][v] = rss_toeplitz(key, one, RSS_TUPLE_MAX);
		}
	}
}

/* The Toeplitz hash of data[0..len), len <= RSS_TUPLE_MAX, by table. */
static inline uint32_t rss_table_hash(const struct rss_table *tbl, const uint8_t *data, size_t len)
{
	uint32_t hash = 0;

	for (size_t i = 0; i < len; i++)
		hash ^= tbl->t[i][data[i]];
	return hash;
}

/* Write the RSS input of an Ethernet frame into tuple (RSS_TUPLE_MAX bytes)
 * and return its length: 12 for IPv4 TCP/UDP (first fragment), 8 for other
 * IPv4, 0 for anything else or a frame too short to say. One 802.1Q tag is
 * looked through. Reads only within frame[0..len). */
static inline size_t rss_frame_tuple(const uint8_t *frame, size_t len, uint8_t *tuple)
{
	size_t l3 = 14;
	uint16_t type;
	size_t ihl;
	uint8_t proto;

	if (len < 14)
		return 0;
	type = (uint16_t)(frame[12] << 8 | frame[13]);
	if (type == 0x8100 && len >= 18) {
		type = (uint16_t)(frame[16] << 8 | frame[17]);
		l3 = 18;
	}
	if (type != 0x0800 || len < l3 + 20 || (frame[l3] >> 4) != 4)
		return 0;
	ihl = (size_t)(frame[l3] & 0x0f) * 4;
	memcpy(tuple, frame + l3 + 12, 8);              /* saddr, daddr */
	proto = frame[l3 + 9];
	/* ports only in a first fragment (offset 0) that carries them whole */
	if ((proto != 6 && proto != 17) || ihl < 20 || len < l3 + ihl + 4 ||
	    ((frame[l3 + 6] & 0x1f) | frame[l3 + 7]) != 0)
		return 8;
	memcpy(tuple + 8, frame + l3 + ihl, 4);         /* sport, dport */
	return 12;
}

/* The frame's flow hash (0 when it has no IPv4 flow). */
static inline uint32_t rss_frame_hash(const struct rss_table *tbl, const uint8_t *frame, size_t len)
{
	uint8_t tuple[RSS_TUPLE_MAX];
	size_t n = rss_frame_tuple(frame, len, tuple);

	return n ? rss_table_hash(tbl, tuple, n) : 0;
}

/* True for a frame every queue must get rather than the one its hash picks:
 * an L2 broadcast or multicast (the group bit, the lowest bit of the first
 * destination byte) or ARP (its requests are broadcast, but its replies and
 * unicast probes are not, and each netd engine keeps its own neighbour
 * table), with one 802.1Q tag looked through. Reads only frame[0..len). */
static inline int rss_frame_to_all(const uint8_t *frame, size_t len)
{
	uint16_t type;

	if (len < 14)
		return 0;
	if (frame[0] & 1)
		return 1;
	type = (uint16_t)(frame[12] << 8 | frame[13]);
	if (type == 0x8100 && len >= 18)
		type = (uint16_t)(frame[16] << 8 | frame[17]);
	return type == 0x0806;
}

/* The queue for a hash among nqueues (>= 1), through the default RETA. */
static inline unsigned rss_queue(uint32_t hash, unsigned nqueues)
{
	return (hash & ((1u << RSS_RETA_BITS) - 1)) % nqueues;
}

/* The queue nicd gives a TCP or UDP frame from saddr:sport to daddr:dport
 * (host order), as rss_frame_hash would hash it. */
static inline unsigned rss_flow_queue(const struct rss_table *tbl, uint32_t saddr, uint32_t daddr,
				      uint16_t sport, uint16_t dport, unsigned nqueues)
{
	const uint8_t tuple[RSS_TUPLE_MAX] = {
		(uint8_t)(saddr >> 24), (uint8_t)(saddr >> 16), (uint8_t)(saddr >> 8), (uint8_t)saddr,
		(uint8_t)(daddr >> 24), (uint8_t)(daddr >> 16), (uint8_t)(daddr >> 8), (uint8_t)daddr,
		(uint8_t)(sport >> 8), (uint8_t)sport, (uint8_t)(dport >> 8), (uint8_t)dport,
	};

	return rss_queue(rss_table_hash(tbl, tuple, RSS_TUPLE_MAX), nqueues);
}

#endif /* RINGSTACK_SHM_RSS_H */
