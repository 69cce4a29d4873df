/* proto/hook.h — netfilter-like filter hooks: short rule lists at five points
 * of the IPv4 path, loaded from the config file and listed by the CLI.
 *
 * Where it sits: ipv4_input runs HOOK_PRE_ROUTING then (for local packets)
 * HOOK_INPUT; ipv4_output runs HOOK_OUTPUT then HOOK_POST_ROUTING. A
 * HOOK_DROP verdict is counted by the caller as PROTO_DROP(HOOK_DROP).
 *
 * Rules are tried in order; the first matching accept or drop rule decides,
 * count rules add to their counters and go on; no match accepts. Config
 * syntax, one rule per line (hook_parse_rule / hook_format_rule):
 *
 *   INPUT proto=udp dport=53 src=10.0.0.0/24 action=drop
 *   OUTPUT out=eth proto=tcp dport=1000-2000 dst=192.0.2.1 action=count
 *
 * keys: in=/out= (lo, eth or a number; `in` at PRE_ROUTING/INPUT/FORWARD,
 * `out` at FORWARD/OUTPUT/POST_ROUTING), proto= (tcp, udp, icmp or 0-255),
 * src=/dst= (a.b.c.d[/len]), sport=/dport= (N or N-M; need proto tcp/udp),
 * action= (accept, drop, count; required). '#' starts a comment.
 */
#ifndef RINGSTACK_PROTO_HOOK_H
#define RINGSTACK_PROTO_HOOK_H

#include <stddef.h>
#include <stdint.h>

#define HOOK_RULES_MAX 32u     /* rules per hook point */
#define HOOK_IF_ANY    0xffu   /* rule matches any interface */

enum hook_point {
	HOOK_PRE_ROUTING,
	HOOK_INPUT,
	HOOK_FORWARD,
	HOOK_OUTPUT,
	HOOK_POST_ROUTING,
	HOOK_MAX
};

/* What a hook sees of a packet (host order; ports 0 unless TCP/UDP).
 * ifindex is the input interface at PRE_ROUTING/INPUT, the output one at
 * OUTPUT/POST_ROUTING. */
struct hook_pkt {
	uint8_t ifindex;
	uint8_t proto;
	uint32_t src, dst;
	uint16_t sport, dport;
};

enum hook_verdict { HOOK_ACCEPT, HOOK_DROP };

enum hook_action { HOOK_ACT_ACCEPT, HOOK_ACT_DROP, HOOK_ACT_COUNT };

struct hook_rule {
	uint8_t in_if, out_if;         /* HOOK_IF_ANY or an ifindex */
	uint8_t proto;                 /* 0: any */
	uint8_t action;                /* enum hook_action */
	uint32_t src, dst;             /* prefixes, host bits zero */
	uint8_t src_len, dst_len;      /* 0: any */
	uint16_t sport_lo, sport_hi;   /* inclusive; 0-65535 matches any */
	uint16_t dport_lo, dport_hi;
	uint64_t pkts, bytes;          /* packets and bytes this rule matched */
};

struct hook_table {
	uint8_t n[HOOK_MAX];
	struct hook_rule rules[HOOK_MAX][HOOK_RULES_MAX];
};

void hook_init(struct hook_table *t);

/* A rule that matches everything with action accept: start from it. */
void hook_rule_init(struct hook_rule *r);

/* Append a copy of rule r (counters zeroed) at point pt. Returns 0, -EINVAL
 * (bad point, action, ranges or prefixes) or -ENOSPC (list full). */
int hook_add(struct hook_table *t, enum hook_point pt, const struct hook_rule *r);

/* Remove every rule of point pt (all points if pt == HOOK_MAX). */
void hook_flush(struct hook_table *t, enum hook_point pt);

/* Run point pt's rules over pkt (len: the packet's IP length, for the byte
 * counters). Returns the verdict; matching rules' counters are bumped. */
enum hook_verdict hook_run(struct hook_table *t, enum hook_point pt,
			   const struct hook_pkt *pkt, uint32_t len);

/* Parse one config line (NUL-terminated). Returns 0 with *pt and *out set;
 * -ENODATA for a blank or comment-only line; -EINVAL for anything malformed. */
int hook_parse_rule(const char *line, enum hook_point *pt, struct hook_rule *out);

/* Write rule r of point pt as a config line hook_parse_rule reads back (no
 * counters, no newline) into buf[0..size). Returns its length, or -ENOSPC
 * if it does not fit (buf then holds a truncated, NUL-terminated line). */
int hook_format_rule(enum hook_point pt, const struct hook_rule *r, char *buf, size_t size);

/* "PRE_ROUTING", "INPUT", ... or "?" */
const char *hook_point_name(enum hook_point pt);

#endif /* RINGSTACK_PROTO_HOOK_H */
