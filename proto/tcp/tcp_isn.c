/* proto/tcp/tcp_isn.c — RFC 6528 initial sequence numbers and SYN cookies
 * (see tcp_isn.h for the formulas and what a cookie can and cannot carry).
 *
 * Every hash is SipHash-2-4 over a byte string built here field by field, so
 * the value does not depend on struct padding or the host's byte order. A tag
 * byte keeps the three uses (ISN, cookie H1, cookie H2) apart under one key.
 */
#include "proto/tcp/tcp_isn.h"

#include <errno.h>

#include "proto/siphash.h"

enum { TAG_ISN = 0x49, TAG_COOKIE1 = 0x43, TAG_COOKIE2 = 0x63 };

#define COOKIE_BITS 24
#define COOKIE_MASK ((1u << COOKIE_BITS) - 1)
#define COOKIE_AGES 2u     /* counts a cookie is good for: this one and the last */
#define TS_OPT_MASK ((1u << TCP_SYNCOOKIE_TSBITS) - 1)
#define TS_OPT_SACK (1u << 4)
#define TS_OPT_UNUSED (1u << 5)

const uint16_t tcp_syncookie_mss[TCP_SYNCOOKIE_NMSS] = { 536, 1300, 1440, 1460 };

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* SipHash of (laddr, raddr, lport, rport, tag, extra): 17 bytes. */
static uint64_t tuple_hash(const uint64_t key[2], const struct tcp_isn_tuple *t,
			   uint8_t tag, uint32_t extra)
{
	uint8_t m[17];

	put32(m, t->laddr);
	put32(m + 4, t->raddr);
	m[8] = (uint8_t)t->lport;
	m[9] = (uint8_t)(t->lport >> 8);
	m[10] = (uint8_t)t->rport;
	m[11] = (uint8_t)(t->rport >> 8);
	m[12] = tag;
	put32(m + 13, extra);
	return siphash24(key, m, sizeof(m));
}

uint32_t tcp_isn(const uint64_t key[2], const struct tcp_isn_tuple *t, uint64_t now)
{
	/* RFC 6528 section 3: M, the 4 us timer, keeps ISNs of successive
	 * incarnations of one 4-tuple increasing; F hides the offset. */
	uint32_t m = (uint32_t)(now / TCP_ISN_TICK_NS);

	return m + (uint32_t)tuple_hash(key, t, TAG_ISN, 0);
}

static uint32_t cookie_count(uint64_t now)
{
	return (uint32_t)(now / TCP_SYNCOOKIE_PERIOD_NS);
}

/* Index of the largest table MSS not above mss (0 if mss is below them all,
 * as Linux: 536 is the default MSS every IPv4 host must accept anyway). */
static unsigned mss_index(uint16_t mss)
{
	unsigned i = TCP_SYNCOOKIE_NMSS - 1;

	while (i > 0 && tcp_syncookie_mss[i] > mss)
		i--;
	return i;
}

uint32_t tcp_syncookie_make(const uint64_t key[2], const struct tcp_isn_tuple *t,
			    uint32_t peer_isn, uint16_t peer_mss, uint64_t now,
			    uint16_t *mss_out)
{
	uint32_t count = cookie_count(now);
	unsigned idx = mss_index(peer_mss);
	uint32_t h1 = (uint32_t)tuple_hash(key, t, TAG_COOKIE1, 0);
	uint32_t h2 = (uint32_t)tuple_hash(key, t, TAG_COOKIE2, count);

	if (mss_out != NULL)
		*mss_out = tcp_syncookie_mss[idx];
	return h1 + peer_isn + (count << COOKIE_BITS) + ((h2 + idx) & COOKIE_MASK);
}

int tcp_syncookie_check(const uint64_t key[2], const struct tcp_isn_tuple *t,
			uint32_t peer_isn, uint32_t cookie, uint64_t now)
{
	uint32_t count = cookie_count(now);
	uint32_t c = cookie - (uint32_t)tuple_hash(key, t, TAG_COOKIE1, 0) - peer_isn;
	uint32_t age = (count - (c >> COOKIE_BITS)) & (0xffffffffu >> COOKIE_BITS);
	uint32_t idx;

	if (age >= COOKIE_AGES)
		return -EACCES;
	idx = (c - (uint32_t)tuple_hash(key, t, TAG_COOKIE2, count - age)) & COOKIE_MASK;
	if (idx >= TCP_SYNCOOKIE_NMSS)
		return -EACCES;   /* the 22 bits that must be zero are not: forged */
	return tcp_syncookie_mss[idx];
}

uint32_t tcp_syncookie_ts(uint32_t tsval_now, uint8_t wscale, bool sack)
{
	uint32_t opts, ts;

	if (wscale != TCP_SYNCOOKIE_NO_WSCALE && wscale > 14)
		wscale = 14;   /* RFC 7323 2.3: a larger shift is used as 14 */
	opts = wscale | (sack ? TS_OPT_SACK : 0u);
	ts = (tsval_now & ~TS_OPT_MASK) | opts;

	/* Never ahead of the clock: RFC 7323 5.4 wants TSvals monotonic. */
	if ((int32_t)(ts - tsval_now) > 0)
		ts -= 1u << TCP_SYNCOOKIE_TSBITS;
	return ts;
}

int tcp_syncookie_ts_decode(uint32_t tsecr, struct tcp_syncookie_opts *out)
{
	uint8_t ws = (uint8_t)(tsecr & 0xfu);

	/* 4 bits hold 0..14 or "none" (15); bit 5 (Linux's ECN) we never set. */
	if (tsecr & TS_OPT_UNUSED)
		return -EINVAL;
	out->wscale = ws;
	out->sack = (tsecr & TS_OPT_SACK) != 0;
	return 0;
}
