/* tests/unit/test_hook.c — filter hooks (proto/hook.c): verdicts and
 * counters, the config-line parser (valid, malformed, hostile lines) and the
 * formatter, which must round-trip through the parser. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/hook.h"
#include "proto/stack.h"

#define A(a, b, c, d) IPV4_ADDR(a, b, c, d)

static struct hook_table t;

static int setup(void **state)
{
	(void)state;
	hook_init(&t);
	return 0;
}

static void add_line(const char *line)
{
	enum hook_point pt;
	struct hook_rule r;

	assert_int_equal(hook_parse_rule(line, &pt, &r), 0);
	assert_int_equal(hook_add(&t, pt, &r), 0);
}

static const struct hook_pkt dns = {
	.ifindex = STACK_IF_ETH, .proto = IPV4_PROTO_UDP,
	.src = A(10, 0, 0, 7), .dst = A(10, 0, 0, 2), .sport = 4000, .dport = 53,
};

static void test_hook_parse_example_line(void **state)
{
	enum hook_point pt;
	struct hook_rule r;

	(void)state;
	assert_int_equal(hook_parse_rule("INPUT proto=udp dport=53 src=10.0.0.0/24 action=drop\n",
					 &pt, &r), 0);
	assert_int_equal(pt, HOOK_INPUT);
	assert_int_equal(r.proto, IPV4_PROTO_UDP);
	assert_int_equal(r.dport_lo, 53);
	assert_int_equal(r.dport_hi, 53);
	assert_int_equal(r.sport_lo, 0);
	assert_int_equal(r.sport_hi, 65535);
	assert_int_equal(r.src, A(10, 0, 0, 0));
	assert_int_equal(r.src_len, 24);
	assert_int_equal(r.dst_len, 0);
	assert_int_equal(r.in_if, HOOK_IF_ANY);
	assert_int_equal(r.action, HOOK_ACT_DROP);
}

static void test_hook_run_drop_rule_drops_and_counts(void **state)
{
	struct hook_pkt other = dns;

	(void)state;
	add_line("INPUT proto=udp dport=53 src=10.0.0.0/24 action=drop");
	assert_int_equal(hook_run(&t, HOOK_INPUT, &dns, 100), HOOK_DROP);
	assert_int_equal(hook_run(&t, HOOK_PRE_ROUTING, &dns, 100), HOOK_ACCEPT);
	other.src = A(10, 0, 1, 7);
	assert_int_equal(hook_run(&t, HOOK_INPUT, &other, 100), HOOK_ACCEPT);
	other = dns;
	other.proto = IPV4_PROTO_TCP;
	assert_int_equal(hook_run(&t, HOOK_INPUT, &other, 100), HOOK_ACCEPT);
	assert_int_equal(t.rules[HOOK_INPUT][0].pkts, 1);
	assert_int_equal(t.rules[HOOK_INPUT][0].bytes, 100);
}

static void test_hook_run_first_match_wins_and_count_continues(void **state)
{
	(void)state;
	add_line("INPUT proto=udp action=count");
	add_line("INPUT dst=10.0.0.2 action=accept");
	add_line("INPUT proto=udp dport=53 action=drop");
	assert_int_equal(hook_run(&t, HOOK_INPUT, &dns, 60), HOOK_ACCEPT);
	assert_int_equal(hook_run(&t, HOOK_INPUT, &dns, 40), HOOK_ACCEPT);
	assert_int_equal(t.rules[HOOK_INPUT][0].pkts, 2);
	assert_int_equal(t.rules[HOOK_INPUT][0].bytes, 100);
	assert_int_equal(t.rules[HOOK_INPUT][1].pkts, 2);
	assert_int_equal(t.rules[HOOK_INPUT][2].pkts, 0);
}

static void test_hook_run_interface_follows_direction(void **state)
{
	struct hook_pkt p = dns;

	(void)state;
	add_line("INPUT in=lo action=drop");
	add_line("OUTPUT out=eth proto=udp sport=1000-2000 action=drop");
	assert_int_equal(hook_run(&t, HOOK_INPUT, &p, 1), HOOK_ACCEPT);
	p.ifindex = STACK_IF_LOOPBACK;
	assert_int_equal(hook_run(&t, HOOK_INPUT, &p, 1), HOOK_DROP);
	p.ifindex = STACK_IF_ETH;
	p.sport = 1000;
	assert_int_equal(hook_run(&t, HOOK_OUTPUT, &p, 1), HOOK_DROP);
	p.sport = 2001;
	assert_int_equal(hook_run(&t, HOOK_OUTPUT, &p, 1), HOOK_ACCEPT);
}

static void test_hook_run_empty_and_bad_point_accept(void **state)
{
	(void)state;
	assert_int_equal(hook_run(&t, HOOK_POST_ROUTING, &dns, 1), HOOK_ACCEPT);
	assert_int_equal(hook_run(&t, HOOK_MAX, &dns, 1), HOOK_ACCEPT);
}

static void test_hook_parse_rejects_malformed(void **state)
{
	static const char *const bad[] = {
		"BOGUS action=drop", "INPUT", "INPUT action=maybe", "INPUT action",
		"INPUT action=", "INPUT =drop", "INPUT dport=53 action=drop",
		"INPUT src=10.0.0.1/24 action=drop", "INPUT src=10.0.0/24 action=drop",
		"INPUT src=10.0.0.0.0 action=drop", "INPUT src=256.0.0.0 action=drop",
		"INPUT src=1.2.3.4/33 action=drop", "INPUT src=1.2.3.4/ action=drop",
		"INPUT src=-1.2.3.4 action=drop", "INPUT src=1..2.3 action=drop",
		"INPUT proto=udp dport=70000 action=drop", "INPUT proto=udp dport=20-10 action=drop",
		"INPUT proto=udp dport=99999999999999 action=drop", "INPUT proto=udp dport=- action=drop",
		"INPUT proto=udp dport=+5 action=drop", "INPUT proto=0 action=drop",
		"INPUT proto=256 action=drop", "INPUT proto=icmp dport=1 action=drop",
		"INPUT out=eth action=drop", "OUTPUT in=eth action=drop", "INPUT in=255 action=drop",
		"INPUT action=drop action=accept", "INPUT foo=bar action=drop",
		"INPUT proto=udp", "INPUT action=drop junk",
	};
	enum hook_point pt;
	struct hook_rule r;

	(void)state;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (hook_parse_rule(bad[i], &pt, &r) != -EINVAL)
			fail_msg("accepted: \"%s\"", bad[i]);
	}
}

static void test_hook_parse_hostile_long_line_is_refused(void **state)
{
	char line[4096];
	enum hook_point pt;
	struct hook_rule r;

	(void)state;
	memset(line, ' ', sizeof(line));
	memcpy(line, "INPUT", 5);
	memcpy(line + sizeof(line) - 13, "action=drop", 11);
	line[sizeof(line) - 1] = '\0';
	assert_int_equal(hook_parse_rule(line, &pt, &r), -EINVAL);
	/* 17 tokens: one past the bound */
	assert_int_equal(hook_parse_rule("INPUT action=drop proto=1 proto=1 proto=1 proto=1 "
					 "proto=1 proto=1 proto=1 proto=1 proto=1 proto=1 "
					 "proto=1 proto=1 proto=1 proto=1 proto=1", &pt, &r), -EINVAL);
}

static void test_hook_parse_blank_and_comment_are_nodata(void **state)
{
	enum hook_point pt;
	struct hook_rule r;

	(void)state;
	assert_int_equal(hook_parse_rule("", &pt, &r), -ENODATA);
	assert_int_equal(hook_parse_rule(" \t\r\n", &pt, &r), -ENODATA);
	assert_int_equal(hook_parse_rule("  # INPUT action=drop", &pt, &r), -ENODATA);
	assert_int_equal(hook_parse_rule("prerouting action=drop # trailing", &pt, &r), 0);
	assert_int_equal(pt, HOOK_PRE_ROUTING);
}

static void test_hook_format_prints_canonical_line(void **state)
{
	enum hook_point pt;
	struct hook_rule r;
	char buf[128];
	int n;

	(void)state;
	assert_int_equal(hook_parse_rule("INPUT proto=udp dport=53 src=10.0.0.0/24 action=drop",
					 &pt, &r), 0);
	n = hook_format_rule(pt, &r, buf, sizeof(buf));
	assert_string_equal(buf, "INPUT proto=udp src=10.0.0.0/24 dport=53 action=drop");
	assert_int_equal(n, (int)strlen(buf));
	assert_int_equal(hook_format_rule(pt, &r, buf, 10), -ENOSPC);
	assert_int_equal(strlen(buf), 9);   /* truncated, terminated */
	assert_int_equal(hook_format_rule(pt, &r, buf, 0), -ENOSPC);
}

/* A random rule that hook_add accepts. */
static void random_rule(enum hook_point *pt, struct hook_rule *r)
{
	hook_rule_init(r);
	*pt = (enum hook_point)(rand() % HOOK_MAX);
	r->action = (uint8_t)(rand() % 3);
	r->proto = (uint8_t)(rand() % 4 == 0 ? 0 : rand() % 256);
	r->src_len = (uint8_t)(rand() % 33);
	r->src = (uint32_t)rand() * 2654435761u & (r->src_len ? 0xffffffffu << (32 - r->src_len) : 0);
	r->dst_len = (uint8_t)(rand() % 33);
	r->dst = (uint32_t)rand() * 40503u & (r->dst_len ? 0xffffffffu << (32 - r->dst_len) : 0);
	if (r->proto == IPV4_PROTO_TCP || r->proto == IPV4_PROTO_UDP) {
		r->dport_lo = (uint16_t)(rand() % 1000);
		r->dport_hi = (uint16_t)(r->dport_lo + rand() % 3);
	}
	if (*pt == HOOK_INPUT && rand() % 2)
		r->in_if = (uint8_t)(rand() % 3);
	if (*pt == HOOK_OUTPUT && rand() % 2)
		r->out_if = (uint8_t)(rand() % 3);
}

static void test_hook_format_parse_round_trip(void **state)
{
	(void)state;
	srand(6);
	for (unsigned k = 0; k < 5000; k++) {
		enum hook_point pt, pt2;
		struct hook_rule r, r2;
		char buf[160];

		random_rule(&pt, &r);
		assert_true(hook_format_rule(pt, &r, buf, sizeof(buf)) > 0);
		if (hook_parse_rule(buf, &pt2, &r2) != 0)
			fail_msg("did not parse back: \"%s\"", buf);
		assert_int_equal(pt2, pt);
		assert_memory_equal(&r2, &r, sizeof(r));
	}
}

static void test_hook_add_full_list_is_enospc(void **state)
{
	struct hook_rule r;

	(void)state;
	hook_rule_init(&r);
	for (unsigned i = 0; i < HOOK_RULES_MAX; i++)
		assert_int_equal(hook_add(&t, HOOK_OUTPUT, &r), 0);
	assert_int_equal(hook_add(&t, HOOK_OUTPUT, &r), -ENOSPC);
	r.action = 7;
	assert_int_equal(hook_add(&t, HOOK_INPUT, &r), -EINVAL);
	hook_flush(&t, HOOK_OUTPUT);
	assert_int_equal(t.n[HOOK_OUTPUT], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_hook_parse_example_line, setup),
		cmocka_unit_test_setup(test_hook_run_drop_rule_drops_and_counts, setup),
		cmocka_unit_test_setup(test_hook_run_first_match_wins_and_count_continues, setup),
		cmocka_unit_test_setup(test_hook_run_interface_follows_direction, setup),
		cmocka_unit_test_setup(test_hook_run_empty_and_bad_point_accept, setup),
		cmocka_unit_test_setup(test_hook_parse_rejects_malformed, setup),
		cmocka_unit_test_setup(test_hook_parse_hostile_long_line_is_refused, setup),
		cmocka_unit_test_setup(test_hook_parse_blank_and_comment_are_nodata, setup),
		cmocka_unit_test_setup(test_hook_format_prints_canonical_line, setup),
		cmocka_unit_test_setup(test_hook_format_parse_round_trip, setup),
		cmocka_unit_test_setup(test_hook_add_full_list_is_enospc, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
