/* proto/tcp/tcp_opt.c — TCP options: parse the untrusted bytes once into a
 * host-order struct tcp_opts, and write a struct tcp_opts back out.
 *
 * Where it sits: tcp_input's parse step calls tcp_opt_parse on every segment;
 * tcp_output calls tcp_opt_fill + tcp_opt_write for every segment it builds.
 * Options known: MSS (RFC 9293 3.7.1), window scale and timestamps (RFC 7323),
 * SACK-permitted and SACK (RFC 2018). Everything else is skipped by length.
 */
#include <string.h>

#include "proto/tcp/tcp_internal.h"

enum {
	OPT_EOL = 0, OPT_NOP = 1, OPT_MSS = 2, OPT_WS = 3,
	OPT_SACKPERM = 4, OPT_SACK = 5, OPT_TS = 8,
};

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* One option of known kind and checked length into o. SYN-only options are
 * ignored elsewhere (RFC 7323 2.2: WS "MUST be ignored" off a SYN). */
static void opt_one(uint8_t kind, const uint8_t *p, uint32_t olen, bool syn,
		    struct tcp_opts *o)
{
	if (kind == OPT_MSS && olen == 4 && syn) {
		o->has |= TCP_OPTF_MSS;
		o->mss = rd16(p + 2);
	} else if (kind == OPT_WS && olen == 3 && syn) {
		o->has |= TCP_OPTF_WSCALE;
		/* RFC 7323 2.3: a shift above 14 is used as 14 */
		o->wscale = p[2] > TCP_WSCALE_MAX ? TCP_WSCALE_MAX : p[2];
	} else if (kind == OPT_SACKPERM && olen == 2 && syn) {
		o->has |= TCP_OPTF_SACKPERM;
	} else if (kind == OPT_TS && olen == 10) {
		o->has |= TCP_OPTF_TS;
		o->tsval = rd32(p + 2);
		o->tsecr = rd32(p + 6);
	} else if (kind == OPT_SACK && olen >= 10 && (olen - 2) % 8 == 0 && !syn) {
		uint32_t n = (olen - 2) / 8;

		o->has |= TCP_OPTF_SACK;
		for (uint32_t i = 0; i < n && o->nsack < 4; i++, o->nsack++) {
			o->sack[o->nsack].start = rd32(p + 2 + 8 * i);
			o->sack[o->nsack].end = rd32(p + 6 + 8 * i);
		}
	}
}

/* Parse len option bytes at p (the header after its first 20 bytes) into *o.
 * A malformed length ends parsing; what came before is kept (RFC 9293 3.1:
 * be prepared for illegal lengths, do not crash). Returns 0, or -EINVAL when
 * parsing stopped at a bad length. Bounded by len (at most 40). */
int tcp_opt_parse(const uint8_t *p, uint32_t len, bool syn, struct tcp_opts *o)
{
	uint32_t i = 0;

	memset(o, 0, sizeof(*o));
	while (i < len) {
		uint8_t kind = p[i];

		if (kind == OPT_EOL)
			return 0;
		if (kind == OPT_NOP) {
			i++;
			continue;
		}
		if (i + 1 >= len || p[i + 1] < 2 || p[i + 1] > len - i)
			return -22; /* -EINVAL without <errno.h> in the hot path */
		opt_one(kind, p + i, p[i + 1], syn, o);
		i += p[i + 1];
	}
	return 0;
}

/* Write the options of *o at p, aligned to 4 bytes with NOPs; SYN-only ones
 * only when syn. Order as Linux writes them (MSS, SACK-perm+TS, WS) so
 * middleboxes see the familiar layout. Returns bytes written (<= 40); SACK
 * blocks are cut to what fits. */
uint32_t tcp_opt_write(const struct tcp_opts *o, bool syn, uint8_t *p)
{
	uint32_t n = 0;

	if (syn && (o->has & TCP_OPTF_MSS)) {
		p[n] = OPT_MSS; p[n + 1] = 4; wr16(p + n + 2, o->mss); n += 4;
	}
	if (syn && (o->has & TCP_OPTF_SACKPERM)) {
		if (o->has & TCP_OPTF_TS) {
			p[n] = OPT_SACKPERM; p[n + 1] = 2; n += 2;
		} else {
			p[n] = OPT_NOP; p[n + 1] = OPT_NOP;
			p[n + 2] = OPT_SACKPERM; p[n + 3] = 2; n += 4;
		}
	}
	if (o->has & TCP_OPTF_TS) {
		if (!(syn && (o->has & TCP_OPTF_SACKPERM))) {
			p[n] = OPT_NOP; p[n + 1] = OPT_NOP; n += 2;
		}
		p[n] = OPT_TS; p[n + 1] = 10;
		wr32(p + n + 2, o->tsval); wr32(p + n + 6, o->tsecr); n += 10;
	}
	if (syn && (o->has & TCP_OPTF_WSCALE)) {
		p[n] = OPT_NOP; p[n + 1] = OPT_WS; p[n + 2] = 3; p[n + 3] = o->wscale; n += 4;
	}
	if (!syn && (o->has & TCP_OPTF_SACK) && o->nsack > 0) {
		uint32_t k = o->nsack, room = (TCP_HDR_MAX - TCP_HDR_LEN - n - 4) / 8;

		k = k < room ? k : room;
		p[n] = OPT_NOP; p[n + 1] = OPT_NOP; p[n + 2] = OPT_SACK;
		p[n + 3] = (uint8_t)(2 + 8 * k);
		for (uint32_t i = 0; i < k; i++) {
			wr32(p + n + 4 + 8 * i, o->sack[i].start);
			wr32(p + n + 8 + 8 * i, o->sack[i].end);
		}
		n += 4 + 8 * k;
	}
	return n;
}

/* Our timestamp clock: milliseconds (RFC 7323 5.4: 1 ms to 1 s per tick)
 * plus the connection's random offset. */
uint32_t tcp_ts_now(const struct tcb *t, uint64_t now)
{
	return (uint32_t)(now / 1000000u) + t->ts_offset;
}

/* The options t puts on its next segment: on a SYN or SYN-ACK what was
 * offered/negotiated (TF_* flags), otherwise TS and, when data is out of
 * order, SACK blocks (RFC 2018 4). */
void tcp_opt_fill(const struct tcb *t, bool syn, uint64_t now, struct tcp_opts *o)
{
	memset(o, 0, sizeof(*o));
	if (syn) {
		o->has |= TCP_OPTF_MSS;
		o->mss = (uint16_t)t->rcv_mss;
		if (t->flags & TF_SACK_OK)
			o->has |= TCP_OPTF_SACKPERM;
		if (t->flags & TF_WS_OK) {
			o->has |= TCP_OPTF_WSCALE;
			o->wscale = t->rcv_wscale;
		}
	}
	if (t->flags & TF_TS_OK) {
		o->has |= TCP_OPTF_TS;
		o->tsval = tcp_ts_now(t, now);
		o->tsecr = t->ts_recent;
	}
	if (!syn && (t->flags & TF_SACK_OK) && t->n_ooo > 0) {
		o->has |= TCP_OPTF_SACK;
		o->nsack = (uint8_t)tcp_sack_fill(t, o->sack, 4);
	}
}

/* Bytes of options on a non-SYN segment without SACK blocks: what the MSS
 * must leave room for (RFC 9293 3.7.1: the MSS excludes options). */
uint32_t tcp_opt_len(const struct tcb *t)
{
	return (t->flags & TF_TS_OK) ? 12u : 0u;
}
