/* proto/l2_internal.h — byte-order helpers private to proto/'s link layer
 * (eth.c, arp.c). Wire fields are read and written only through these and
 * named offsets, so no code casts a packet to a struct (STYLE.md practice 2).
 */
#ifndef RINGSTACK_PROTO_L2_INTERNAL_H
#define RINGSTACK_PROTO_L2_INTERNAL_H

#include <stdint.h>

static inline uint16_t l2_get_be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t l2_get_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | p[3];
}

static inline void l2_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void l2_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

#endif /* RINGSTACK_PROTO_L2_INTERNAL_H */
