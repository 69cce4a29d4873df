/* proto/hook.c — filter hooks: matching, counting, and the rule syntax.
 *
 * Where it sits: ipv4_input and ipv4_output call hook_run at their hook
 * points; netd loads rules from the config file with hook_parse_rule at
 * start; ctl lists them with hook_format_rule. Matching is a linear walk of
 * at most HOOK_RULES_MAX rules, in the order given (iptables semantics:
 * the first terminal match decides, count rules fall through).
 *
 * Parsing is pure string work (no I/O, no allocation, no locale): each
 * line is split into `key=value` tokens and each value parsed by hand with
 * its bounds checked, so a hostile config line can only be refused.
 */
#include "proto/hook.h"

#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "proto/ipv4.h"
#include "proto/stack.h"

#define HOOK_LINE_MAX   512u   /* longest config line we read */
#define HOOK_TOKENS_MAX 16u    /* key=value pairs per line */

static const char *const hook_names[HOOK_MAX] = {
	[HOOK_PRE_ROUTING] = "PRE_ROUTING", [HOOK_INPUT] = "INPUT",
	[HOOK_FORWARD] = "FORWARD", [HOOK_OUTPUT] = "OUTPUT",
	[HOOK_POST_ROUTING] = "POST_ROUTING",
};

/* Which interface a point sees: the one a packet came in on, or goes out on. */
static bool hook_has_in(enum hook_point pt)
{
	return pt == HOOK_PRE_ROUTING || pt == HOOK_INPUT || pt == HOOK_FORWARD;
}

static bool hook_has_out(enum hook_point pt)
{
	return pt == HOOK_FORWARD || pt == HOOK_OUTPUT || pt == HOOK_POST_ROUTING;
}

static uint32_t hook_mask(uint8_t len)
{
	return len ? 0xffffffffu << (32 - len) : 0;
}

const char *hook_point_name(enum hook_point pt)
{
	return (unsigned)pt < HOOK_MAX ? hook_names[pt] : "?";
}

void hook_init(struct hook_table *t)
{
	memset(t, 0, sizeof(*t));
}

void hook_rule_init(struct hook_rule *r)
{
	memset(r, 0, sizeof(*r));
	r->in_if = HOOK_IF_ANY;
	r->out_if = HOOK_IF_ANY;
	r->action = HOOK_ACT_ACCEPT;
	r->sport_hi = UINT16_MAX;
	r->dport_hi = UINT16_MAX;
}

static bool hook_ports_any(const struct hook_rule *r)
{
	return r->sport_lo == 0 && r->sport_hi == UINT16_MAX &&
	       r->dport_lo == 0 && r->dport_hi == UINT16_MAX;
}

/* A rule hook_run can trust: sane ranges, prefixes without host bits, ports
 * only for TCP/UDP, and interfaces only where the point has them. */
static bool hook_rule_valid(enum hook_point pt, const struct hook_rule *r)
{
	if ((unsigned)pt >= HOOK_MAX || r->action > HOOK_ACT_COUNT)
		return false;
	if (r->sport_lo > r->sport_hi || r->dport_lo > r->dport_hi)
		return false;
	if (r->src_len > 32 || r->dst_len > 32 || (r->src & ~hook_mask(r->src_len)) ||
	    (r->dst & ~hook_mask(r->dst_len)))
		return false;
	if (!hook_ports_any(r) && r->proto != IPV4_PROTO_TCP && r->proto != IPV4_PROTO_UDP)
		return false;
	if ((r->in_if != HOOK_IF_ANY && !hook_has_in(pt)) ||
	    (r->out_if != HOOK_IF_ANY && !hook_has_out(pt)))
		return false;
	return true;
}

int hook_add(struct hook_table *t, enum hook_point pt, const struct hook_rule *r)
{
	struct hook_rule *dst;

	if (!hook_rule_valid(pt, r))
		return -EINVAL;
	if (t->n[pt] >= HOOK_RULES_MAX)
		return -ENOSPC;
	dst = &t->rules[pt][t->n[pt]++];
	*dst = *r;
	dst->pkts = 0;
	dst->bytes = 0;
	return 0;
}

void hook_flush(struct hook_table *t, enum hook_point pt)
{
	for (unsigned p = 0; p < HOOK_MAX; p++) {
		if (pt == HOOK_MAX || p == (unsigned)pt)
			t->n[p] = 0;
	}
}

static bool hook_match(const struct hook_rule *r, enum hook_point pt,
		       const struct hook_pkt *pkt)
{
	uint8_t want_if = hook_has_in(pt) ? r->in_if : r->out_if;

	if (want_if != HOOK_IF_ANY && want_if != pkt->ifindex)
		return false;
	if (r->proto && r->proto != pkt->proto)
		return false;
	if ((pkt->src & hook_mask(r->src_len)) != r->src ||
	    (pkt->dst & hook_mask(r->dst_len)) != r->dst)
		return false;
	return pkt->sport >= r->sport_lo && pkt->sport <= r->sport_hi &&
	       pkt->dport >= r->dport_lo && pkt->dport <= r->dport_hi;
}

enum hook_verdict hook_run(struct hook_table *t, enum hook_point pt,
			   const struct hook_pkt *pkt, uint32_t len)
{
	unsigned n;

	if ((unsigned)pt >= HOOK_MAX)
		return HOOK_ACCEPT;
	n = t->n[pt] < HOOK_RULES_MAX ? t->n[pt] : HOOK_RULES_MAX;
	for (unsigned i = 0; i < n; i++) {
		struct hook_rule *r = &t->rules[pt][i];

		if (!hook_match(r, pt, pkt))
			continue;
		r->pkts++;
		r->bytes += len;
		if (r->action != HOOK_ACT_COUNT)
			return r->action == HOOK_ACT_DROP ? HOOK_DROP : HOOK_ACCEPT;
	}
	return HOOK_ACCEPT;
}

/* ------------------------------------------------------------- parsing */

/* A slice of the line: not NUL-terminated. */
struct hook_tok {
	const char *s;
	size_t len;
};

static bool hook_tok_is(struct hook_tok t, const char *word)
{
	return t.len == strlen(word) && strncasecmp(t.s, word, t.len) == 0;
}

/* Next whitespace-separated token of *p; false at the end or a '#'. */
static bool hook_next_tok(const char **p, const char *end, struct hook_tok *t)
{
	const char *s = *p;

	while (s < end && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
		s++;
	if (s >= end || *s == '#')
		return false;
	t->s = s;
	while (s < end && *s != ' ' && *s != '\t' && *s != '\r' && *s != '\n' && *s != '#')
		s++;
	t->len = (size_t)(s - t->s);
	*p = s;
	return true;
}

/* A decimal number in [0, max], all of t (no sign, no spaces). */
static int hook_parse_num(struct hook_tok t, uint32_t max, uint32_t *out)
{
	uint32_t v = 0;

	if (t.len == 0 || t.len > 10)
		return -EINVAL;
	for (size_t i = 0; i < t.len; i++) {
		if (t.s[i] < '0' || t.s[i] > '9')
			return -EINVAL;
		if (v > (max - (uint32_t)(t.s[i] - '0')) / 10)
			return -EINVAL;   /* v * 10 + digit would pass max */
		v = v * 10 + (uint32_t)(t.s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Split t at the first `sep`: head before it, tail after. Without a `sep`,
 * head is all of t, tail is empty, and the answer is false. */
static bool hook_split(struct hook_tok t, char sep, struct hook_tok *head, struct hook_tok *tail)
{
	const char *at = memchr(t.s, sep, t.len);

	*head = t;
	tail->s = t.s + t.len;
	tail->len = 0;
	if (!at)
		return false;
	head->len = (size_t)(at - t.s);
	tail->s = at + 1;
	tail->len = t.len - head->len - 1;
	return true;
}

/* a.b.c.d[/len] with the host bits zero; no /len means /32. */
static int hook_parse_prefix(struct hook_tok t, uint32_t *addr, uint8_t *len)
{
	struct hook_tok quad, plen, octet, rest;
	uint32_t a = 0, v, l = 32;

	if (hook_split(t, '/', &quad, &plen) && hook_parse_num(plen, 32, &l) < 0)
		return -EINVAL;
	for (unsigned i = 0; i < 4; i++) {
		bool more = hook_split(quad, '.', &octet, &rest);

		if (more != (i < 3) || hook_parse_num(octet, 255, &v) < 0)
			return -EINVAL;
		a = a << 8 | v;
		quad = rest;
	}
	if (a & ~hook_mask((uint8_t)l))
		return -EINVAL;
	*addr = a;
	*len = (uint8_t)l;
	return 0;
}

/* N or N-M, N <= M. */
static int hook_parse_ports(struct hook_tok t, uint16_t *lo, uint16_t *hi)
{
	struct hook_tok a, b;
	uint32_t l, h;

	if (hook_split(t, '-', &a, &b)) {
		if (hook_parse_num(a, UINT16_MAX, &l) < 0 || hook_parse_num(b, UINT16_MAX, &h) < 0)
			return -EINVAL;
	} else if (hook_parse_num(t, UINT16_MAX, &l) == 0) {
		h = l;
	} else {
		return -EINVAL;
	}
	if (l > h)
		return -EINVAL;
	*lo = (uint16_t)l;
	*hi = (uint16_t)h;
	return 0;
}

static int hook_parse_if(struct hook_tok t, uint8_t *out)
{
	uint32_t v;

	if (hook_tok_is(t, "lo"))
		v = STACK_IF_LOOPBACK;
	else if (hook_tok_is(t, "eth"))
		v = STACK_IF_ETH;
	else if (hook_parse_num(t, HOOK_IF_ANY - 1, &v) < 0)
		return -EINVAL;
	*out = (uint8_t)v;
	return 0;
}

static int hook_parse_proto(struct hook_tok t, uint8_t *out)
{
	uint32_t v;

	if (hook_tok_is(t, "tcp"))
		v = IPV4_PROTO_TCP;
	else if (hook_tok_is(t, "udp"))
		v = IPV4_PROTO_UDP;
	else if (hook_tok_is(t, "icmp"))
		v = IPV4_PROTO_ICMP;
	else if (hook_parse_num(t, 255, &v) < 0 || v == 0)
		return -EINVAL;   /* "any" is the key left out */
	*out = (uint8_t)v;
	return 0;
}

static int hook_parse_action(struct hook_tok t, uint8_t *out)
{
	if (hook_tok_is(t, "accept"))
		*out = HOOK_ACT_ACCEPT;
	else if (hook_tok_is(t, "drop"))
		*out = HOOK_ACT_DROP;
	else if (hook_tok_is(t, "count"))
		*out = HOOK_ACT_COUNT;
	else
		return -EINVAL;
	return 0;
}

/* One key=value into r; *seen collects the keys so that none repeats. */
static int hook_parse_kv(struct hook_tok kv, struct hook_rule *r, unsigned *seen)
{
	static const char *const keys[] = { "in", "out", "proto", "src", "dst",
					    "sport", "dport", "action" };
	struct hook_tok key, val;
	unsigned k = 0;

	if (!hook_split(kv, '=', &key, &val))
		return -EINVAL;
	while (k < sizeof(keys) / sizeof(keys[0]) && !hook_tok_is(key, keys[k]))
		k++;
	if (k == sizeof(keys) / sizeof(keys[0]) || (*seen & (1u << k)))
		return -EINVAL;
	*seen |= 1u << k;
	switch (k) {
	case 0: return hook_parse_if(val, &r->in_if);
	case 1: return hook_parse_if(val, &r->out_if);
	case 2: return hook_parse_proto(val, &r->proto);
	case 3: return hook_parse_prefix(val, &r->src, &r->src_len);
	case 4: return hook_parse_prefix(val, &r->dst, &r->dst_len);
	case 5: return hook_parse_ports(val, &r->sport_lo, &r->sport_hi);
	case 6: return hook_parse_ports(val, &r->dport_lo, &r->dport_hi);
	default: return hook_parse_action(val, &r->action);
	}
}

/* Hook point names as printed, plus iptables' spellings. */
static int hook_parse_point(struct hook_tok t, enum hook_point *pt)
{
	for (unsigned p = 0; p < HOOK_MAX; p++) {
		if (hook_tok_is(t, hook_names[p])) {
			*pt = (enum hook_point)p;
			return 0;
		}
	}
	if (hook_tok_is(t, "PREROUTING") || hook_tok_is(t, "POSTROUTING")) {
		*pt = hook_tok_is(t, "PREROUTING") ? HOOK_PRE_ROUTING : HOOK_POST_ROUTING;
		return 0;
	}
	return -EINVAL;
}

int hook_parse_rule(const char *line, enum hook_point *pt, struct hook_rule *out)
{
	size_t len = strnlen(line, HOOK_LINE_MAX + 1);
	const char *p = line, *end = line + len;
	struct hook_tok t;
	struct hook_rule r;
	enum hook_point point;
	unsigned seen = 0, n = 0;

	if (len > HOOK_LINE_MAX)
		return -EINVAL;
	if (!hook_next_tok(&p, end, &t))
		return -ENODATA;
	if (hook_parse_point(t, &point) < 0)
		return -EINVAL;
	hook_rule_init(&r);
	while (hook_next_tok(&p, end, &t)) {
		if (++n > HOOK_TOKENS_MAX || hook_parse_kv(t, &r, &seen) < 0)
			return -EINVAL;
	}
	if (!(seen & (1u << 7)) || !hook_rule_valid(point, &r))
		return -EINVAL;   /* action= is required */
	*pt = point;
	*out = r;
	return 0;
}

/* ---------------------------------------------------------- formatting */

/* Appends to a bounded buffer; remembers overflow instead of failing each call. */
struct hook_buf {
	char *s;
	size_t size, len;
	bool overflow;
};

static void hook_printf(struct hook_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void hook_printf(struct hook_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->s + b->len, b->size - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->size - b->len)
		b->overflow = true;
	else
		b->len += (size_t)n;
}

static void hook_format_if(struct hook_buf *b, const char *key, uint8_t ifindex)
{
	if (ifindex == HOOK_IF_ANY)
		return;
	if (ifindex == STACK_IF_LOOPBACK || ifindex == STACK_IF_ETH)
		hook_printf(b, " %s=%s", key, ifindex == STACK_IF_ETH ? "eth" : "lo");
	else
		hook_printf(b, " %s=%u", key, ifindex);
}

static void hook_format_prefix(struct hook_buf *b, const char *key, uint32_t a, uint8_t len)
{
	if (len == 0)
		return;
	hook_printf(b, " %s=%u.%u.%u.%u", key, a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
	if (len < 32)
		hook_printf(b, "/%u", len);
}

static void hook_format_ports(struct hook_buf *b, const char *key, uint16_t lo, uint16_t hi)
{
	if (lo == 0 && hi == UINT16_MAX)
		return;
	if (lo == hi)
		hook_printf(b, " %s=%u", key, lo);
	else
		hook_printf(b, " %s=%u-%u", key, lo, hi);
}

int hook_format_rule(enum hook_point pt, const struct hook_rule *r, char *buf, size_t size)
{
	static const char *const protos[256] = { [IPV4_PROTO_ICMP] = "icmp",
		[IPV4_PROTO_TCP] = "tcp", [IPV4_PROTO_UDP] = "udp" };
	static const char *const actions[] = { "accept", "drop", "count" };
	struct hook_buf b = { .s = buf, .size = size };

	if (size == 0)
		return -ENOSPC;
	buf[0] = '\0';
	hook_printf(&b, "%s", hook_point_name(pt));
	hook_format_if(&b, "in", r->in_if);
	hook_format_if(&b, "out", r->out_if);
	if (r->proto && protos[r->proto])
		hook_printf(&b, " proto=%s", protos[r->proto]);
	else if (r->proto)
		hook_printf(&b, " proto=%u", r->proto);
	hook_format_prefix(&b, "src", r->src, r->src_len);
	hook_format_prefix(&b, "dst", r->dst, r->dst_len);
	hook_format_ports(&b, "sport", r->sport_lo, r->sport_hi);
	hook_format_ports(&b, "dport", r->dport_lo, r->dport_hi);
	hook_printf(&b, " action=%s", r->action <= HOOK_ACT_COUNT ? actions[r->action] : "?");
	return b.overflow ? -ENOSPC : (int)b.len;
}
