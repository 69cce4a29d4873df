/* proto/icmp.c — ICMP for IPv4 (RFC 792, RFC 1122 3.2.2): echo, errors in
 * and out, and the rate limit on errors we send.
 *
 * Where it sits: ipv4_input -> icmp_input (echo reply via ipv4_output;
 * errors -> udp_icmp_error -> STACK_EV_ICMP_ERR, or -> stack_tcp_icmp_error
 * -> tcp_icmp_error). icmp_send_error is called
 * by ipv4 (protocol unreachable), udp (port unreachable) and ip_reasm (time
 * exceeded), and sends through ipv4_output.
 *
 *      0      1      2      3      4                               8
 *     +------+------+-------------+---------------------------------+
 *     | type | code |  checksum   | rest (id/seq, unused/MTU, ptr)  |
 *     +------+------+-------------+---------------------------------+
 *     | errors: the offending IP header + at least 8 bytes of data  |
 */
#include "proto/icmp.h"

#include <errno.h>
#include <string.h>

#include "proto/csum.h"
#include "proto/stack.h"

/* Named offsets into the ICMP header. */
enum {
	ICMP_OFF_TYPE = 0,
	ICMP_OFF_CODE = 1,
	ICMP_OFF_CSUM = 2,
	ICMP_OFF_REST = 4,       /* echo: id, seq; frag needed: unused(2), MTU(2) */
	ICMP_OFF_MTU = 6,
	ICMP_OFF_QUOTE = 8,      /* errors: the offending datagram */
};

#define NSEC_PER_SEC 1000000000ull
#define ICMP_TOS_PREC_INTERNETCONTROL 0xc0   /* RFC 1812 4.3.2.5 */
#define ICMP_TOS_MASK 0x1e

/* The header of an ICMP message, host order. */
struct icmp_info {
	uint8_t type, code;
	uint32_t rest;
};

/* What an error's quoted datagram tells about the datagram we sent. */
struct icmp_quote {
	uint32_t src, dst;
	uint8_t proto;
	uint16_t sport, dport;
	uint32_t seq;            /* TCP: the sequence number (RFC 5927 4.1 checks it) */
};

void icmp_init(struct icmp_state *st)
{
	st->rate_per_sec = ICMP_RATE_PER_SEC;
	st->burst = ICMP_RATE_BURST;
	st->ratemask = ICMP_RATEMASK;
	st->credit = (NSEC_PER_SEC / ICMP_RATE_PER_SEC) * ICMP_RATE_BURST;
	st->last = 0;
}

/* Linux's icmp_err_convert table, by code of ICMP_DEST_UNREACH. */
static const int unreach_errno[ICMP_NR_UNREACH] = {
	ENETUNREACH, EHOSTUNREACH, ENOPROTOOPT, ECONNREFUSED, EMSGSIZE, EOPNOTSUPP,
	ENETUNREACH, EHOSTDOWN, ENONET, ENETUNREACH, EHOSTUNREACH, ENETUNREACH,
	EHOSTUNREACH, EHOSTUNREACH, EHOSTUNREACH, EHOSTUNREACH,
};

int icmp_errno(uint8_t type, uint8_t code)
{
	switch (type) {
	case ICMP_DEST_UNREACH:
		return code < ICMP_NR_UNREACH ? -unreach_errno[code] : -EHOSTUNREACH;
	case ICMP_TIME_EXCEEDED:
		return -EHOSTUNREACH;
	case ICMP_PARAMETERPROB:
		return -EPROTO;
	default:
		return 0;
	}
}

/* ------------------------------------------------------------ rate limit */

/* Token bucket of Linux's icmp_global_allow, on the types icmp_ratemask
 * names; fragmentation needed is never limited (it drives PMTU discovery,
 * RFC 1191). A rate of 0 means no limit. */
static bool icmp_allow(struct icmp_state *st, uint8_t type, uint8_t code, uint64_t now)
{
	uint64_t cost, cap, elapsed;

	if (type >= 32 || !(st->ratemask & (1u << type)) || st->rate_per_sec == 0)
		return true;
	if (type == ICMP_DEST_UNREACH && code == ICMP_FRAG_NEEDED)
		return true;
	cost = NSEC_PER_SEC / st->rate_per_sec;
	cap = cost * st->burst;
	if (now > st->last) {
		elapsed = now - st->last;
		st->credit = elapsed >= cap || st->credit + elapsed > cap ? cap : st->credit + elapsed;
		st->last = now;
	}
	if (st->credit < cost)
		return false;
	st->credit -= cost;
	return true;
}

/* ------------------------------------------------------------ sending errors */

static bool icmp_type_is_error(uint8_t type)
{
	return type == ICMP_DEST_UNREACH || type == ICMP_SOURCE_QUENCH || type == ICMP_REDIRECT ||
	       type == ICMP_TIME_EXCEEDED || type == ICMP_PARAMETERPROB;
}

/* RFC 1122 3.2.2: no error about an ICMP error (nor an unknown type, as
 * Linux treats them), a datagram to a broadcast or multicast address, a
 * source that is not one host, or a fragment other than the first. */
static bool icmp_may_answer(struct stack *stk, const struct pkb *off, struct ipv4_info *ip)
{
	uint8_t h[IPV4_HLEN_MIN], itype;
	uint32_t hlen;

	if (pkb_copy_out(off, 0, sizeof(h), h) < 0 || (h[0] >> 4) != 4)
		return false;
	hlen = (uint32_t)(h[0] & 0x0f) * 4;
	ip->src = ipv4_get32(h + 12);
	ip->dst = ipv4_get32(h + 16);
	ip->proto = h[9];
	ip->tos = h[1];
	if (hlen < IPV4_HLEN_MIN || (ipv4_get16(h + 6) & 0x1fff) != 0)
		return false;
	if (ipv4_is_lbcast(ip->dst) || ipv4_is_multicast(ip->dst) ||
	    route_is_broadcast(&stk->routes, ip->dst))
		return false;
	if (ipv4_is_lbcast(ip->src) || ipv4_is_multicast(ip->src) || ipv4_is_zeronet(ip->src) ||
	    route_is_broadcast(&stk->routes, ip->src))
		return false;
	if (ip->proto != IPV4_PROTO_ICMP)
		return true;
	return pkb_copy_out(off, hlen, 1, &itype) == 0 && itype < ICMP_NR_TYPES &&
	       !icmp_type_is_error(itype);
}

/* The message body: header, then the offending datagram from its IP header,
 * cut so that the error fits in 576 bytes (RFC 1812 4.3.2.3; RFC 792 asks
 * for the header and 64 bits at least). NULL when out of buffers. */
static struct pkb *icmp_build_error(struct stack *stk, const struct pkb *off, uint8_t type,
				    uint8_t code, uint32_t info)
{
	uint32_t quote = ICMP_ERR_QUOTE_MAX - IPV4_HLEN_MIN - ICMP_HLEN;
	struct pkb *b = pkb_alloc(stk->cache);
	uint8_t *h;
	uint16_t sum;

	if (!b)
		return NULL;
	if (quote > off->pkt_len)
		quote = off->pkt_len;
	h = pkb_put(b, ICMP_HLEN);
	if (!h || ipv4_append_from(stk->cache, b, off, 0, quote) < 0) {
		pkb_free(stk->cache, b);
		return NULL;
	}
	memset(h, 0, ICMP_HLEN);
	h[ICMP_OFF_TYPE] = type;
	h[ICMP_OFF_CODE] = code;
	if (type == ICMP_DEST_UNREACH && code == ICMP_FRAG_NEEDED)
		ipv4_put16(h + ICMP_OFF_MTU, (uint16_t)info);   /* RFC 1191 section 4 */
	else if (type == ICMP_PARAMETERPROB)
		h[ICMP_OFF_REST] = (uint8_t)info;                 /* RFC 792: the pointer */
	else
		ipv4_put32(h + ICMP_OFF_REST, info);
	sum = csum_fold(csum_pkb(b, 0, b->pkt_len, 0));
	memcpy(h + ICMP_OFF_CSUM, &sum, 2);
	return b;
}

void icmp_send_error(struct stack *stk, const struct pkb *offending, uint8_t type,
		     uint8_t code, uint32_t info, uint64_t now)
{
	struct ipv4_info oip;
	struct pkb *b;

	if (!icmp_may_answer(stk, offending, &oip))
		return;
	if (!icmp_allow(&stk->icmp, type, code, now)) {
		PROTO_DROP(stk, ICMP_RATELIMIT, NULL);
		return;
	}
	if (!(b = icmp_build_error(stk, offending, type, code, info))) {
		PROTO_DROP(stk, NO_BUFFERS, NULL);
		return;
	}
	/* Answer from the address the datagram was sent to when it is ours
	 * (RFC 1122 3.2.2), with the internetwork-control precedence. */
	struct ipv4_tx tx = {
		.src = route_is_local(&stk->routes, oip.dst) ? oip.dst : 0, .dst = oip.src,
		.proto = IPV4_PROTO_ICMP,
		.tos = (uint8_t)((oip.tos & ICMP_TOS_MASK) | ICMP_TOS_PREC_INTERNETCONTROL),
	};
	if (ipv4_output(stk, b, &tx, now) == 0)
		PROTO_COUNT(stk, ICMP_OUT);
}

/* ------------------------------------------------------------ receiving */

/* RFC 792 echo: the reply is the request with type 0, sent back from the
 * address it was sent to. The request's buffers are reused in place, so the
 * data (however long, however fragmented) is echoed byte for byte. RFC
 * 1122 3.2.2.6: requests to broadcast/multicast may be ignored, and are. */
static void icmp_echo(struct stack *stk, struct pkb *b, const struct ipv4_info *ip, uint64_t now)
{
	uint16_t old_word, new_word = 0, sum;
	uint8_t *h;

	if (!route_is_local(&stk->routes, ip->dst)) {
		PROTO_DROP(stk, ICMP_BCAST_IGNORED, b);
		return;
	}
	if (pkb_is_shared(b) || pkb_len(b) < ICMP_HLEN) {
		struct pkb *c = pkb_copy(stk->cache, b);

		pkb_free(stk->cache, b);
		if (!(b = c) || pkb_len(b) < ICMP_HLEN) {
			PROTO_DROP(stk, NO_BUFFERS, b);
			return;
		}
	}
	h = pkb_data(b);
	memcpy(&old_word, h + ICMP_OFF_TYPE, 2);
	memcpy(&sum, h + ICMP_OFF_CSUM, 2);
	h[ICMP_OFF_TYPE] = ICMP_ECHOREPLY;
	memcpy(&new_word, h + ICMP_OFF_TYPE, 2);
	sum = csum_update16(sum, old_word, new_word);    /* RFC 1624 */
	memcpy(h + ICMP_OFF_CSUM, &sum, 2);
	struct ipv4_tx tx = { .src = ip->dst, .dst = ip->src, .proto = IPV4_PROTO_ICMP,
			      .tos = ip->tos };
	if (ipv4_output(stk, b, &tx, now) == 0)
		PROTO_COUNT(stk, ICMP_OUT);
}

/* Parse the datagram an error quotes (it starts at byte 8): its IP header
 * and the first 8 bytes of its payload, enough for the ports (RFC 792). */
static int icmp_parse_quote(const struct pkb *b, struct icmp_quote *q)
{
	uint8_t buf[IPV4_HLEN_MAX + 8];
	uint32_t hlen, avail = b->pkt_len - ICMP_HLEN;

	if (avail < IPV4_HLEN_MIN + 8)
		return -ENODATA;
	if (avail > sizeof(buf))
		avail = sizeof(buf);
	if (pkb_copy_out(b, ICMP_HLEN, avail, buf) < 0)
		return -ENODATA;
	hlen = (uint32_t)(buf[0] & 0x0f) * 4;
	if ((buf[0] >> 4) != 4 || hlen < IPV4_HLEN_MIN || avail < hlen + 8)
		return -ENODATA;
	q->src = ipv4_get32(buf + 12);
	q->dst = ipv4_get32(buf + 16);
	q->proto = buf[9];
	q->sport = ipv4_get16(buf + hlen);
	q->dport = ipv4_get16(buf + hlen + 2);
	q->seq = ipv4_get32(buf + hlen + 4);
	return 0;
}

/* An error about a datagram we sent: tell the UDP socket or the TCP
 * connection that sent it (TCP checks the quoted sequence number and counts
 * what it ignores). The quoted source must be ours, or the error is not
 * about our traffic. */
static void icmp_error_input(struct stack *stk, struct pkb *b, const struct icmp_info *ic,
			     uint64_t now)
{
	struct icmp_quote q;
	uint32_t info = ic->rest;

	if (icmp_parse_quote(b, &q) < 0) {
		PROTO_DROP(stk, ICMP_TRUNCATED, b);
		return;
	}
	if (ic->type == ICMP_DEST_UNREACH && ic->code == ICMP_FRAG_NEEDED)
		info &= 0xffff;          /* RFC 1191: next-hop MTU, 0 from old routers */
	else if (ic->type == ICMP_PARAMETERPROB)
		info >>= 24;
	if (q.proto == IPV4_PROTO_TCP && route_is_local(&stk->routes, q.src)) {
		stack_tcp_icmp_error(stk, q.src, q.sport, q.dst, q.dport, q.seq,
				     icmp_errno(ic->type, ic->code), (uint16_t)info, now);
		pkb_free(stk->cache, b);
		return;
	}
	if (q.proto != IPV4_PROTO_UDP || !route_is_local(&stk->routes, q.src) ||
	    udp_icmp_error(stk, q.src, q.sport, q.dst, q.dport, icmp_errno(ic->type, ic->code),
			   info) < 0) {
		PROTO_DROP(stk, ICMP_ERR_NO_SOCKET, b);
		return;
	}
	pkb_free(stk->cache, b);         /* delivered as an event */
}

void icmp_input(struct stack *stk, struct pkb *b, const struct ipv4_info *ip, uint64_t now)
{
	uint8_t h[ICMP_HLEN];
	struct icmp_info ic;

	PROTO_COUNT(stk, ICMP_IN);
	if (pkb_copy_out(b, 0, ICMP_HLEN, h) < 0) {
		PROTO_DROP(stk, ICMP_TRUNCATED, b);
		return;
	}
	if (csum_fold(csum_pkb(b, 0, b->pkt_len, 0)) != 0) {
		PROTO_DROP(stk, ICMP_BAD_CSUM, b);
		return;
	}
	ic = (struct icmp_info){ .type = h[ICMP_OFF_TYPE], .code = h[ICMP_OFF_CODE],
				 .rest = ipv4_get32(h + ICMP_OFF_REST) };
	switch (ic.type) {
	case ICMP_ECHO:
		icmp_echo(stk, b, ip, now);
		return;
	case ICMP_DEST_UNREACH:
	case ICMP_TIME_EXCEEDED:
	case ICMP_PARAMETERPROB:
		icmp_error_input(stk, b, &ic, now);
		return;
	default:
		/* Echo replies (no ping sockets yet), source quench (RFC 6633
		 * deprecates it), redirects (a host on one link), queries. */
		PROTO_DROP(stk, ICMP_UNHANDLED, b);
		return;
	}
}
