/* tests/unit/test_ipv4.c — IPv4 (RFC 791, RFC 1122 3.2): header validation,
 * source/destination checks, hooks, output with fragmentation checked byte
 * for byte against scapy's fragment(), and per-destination IP IDs.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/support/netsim.h"
#include "tests/unit/l3_fixture.h"

#define OUR L3V_OUR_IP
#define PEER L3V_PEER_IP

/* A copy of l3v_udp_in with one header byte changed and the header checksum
 * fixed (unless the test is about the checksum). */
static void udp_in_with(uint8_t *pkt, unsigned off, uint8_t val)
{
	uint16_t sum;

	memcpy(pkt, l3v_udp_in, sizeof(l3v_udp_in));
	pkt[off] = val;
	pkt[10] = pkt[11] = 0;
	sum = inet_csum(pkt, 20);
	memcpy(pkt + 10, &sum, 2);
}

static void set_addr(uint8_t *pkt, unsigned off, uint32_t a)
{
	uint16_t sum;

	ipv4_put32(pkt + off, a);
	pkt[10] = pkt[11] = 0;
	sum = inet_csum(pkt, 20);
	memcpy(pkt + 10, &sum, 2);
}

static void test_parse_scapy_options(void **state)
{
	struct ipv4_info ip;

	(void)state;
	assert_int_equal(ipv4_parse(l3v_ip_opts_in, sizeof(l3v_ip_opts_in), &ip), 32);
	assert_int_equal(ip.hdr_len, 32);
	assert_int_equal(ip.total_len, sizeof(l3v_ip_opts_in));
	assert_int_equal(ip.id, 0x1234);
	assert_int_equal(ip.ttl, 3);
	assert_int_equal(ip.tos, 0x10);
	assert_int_equal(ip.proto, IPV4_PROTO_UDP);
	assert_int_equal(ip.src, PEER);
	assert_int_equal(ip.dst, OUR);
	assert_false(ip.df || ip.mf);
	assert_int_equal(ip.frag_off, 0);
}

static void test_parse_scapy_fragments(void **state)
{
	struct ipv4_info ip;

	(void)state;
	for (unsigned i = 0; i < L3V_FRAG_UDP_IN_N; i++) {
		assert_int_equal(ipv4_parse(l3v_frag_udp_in[i].data, l3v_frag_udp_in[i].len, &ip), 20);
		assert_int_equal(ip.frag_off, i * L3V_FRAGSIZE);
		assert_int_equal(ip.mf, i + 1 < L3V_FRAG_UDP_IN_N);
		assert_int_equal(ip.id, 0xbeef);
	}
}

static void test_parse_rejects_each_malformation(void **state)
{
	uint8_t p[sizeof(l3v_udp_in)];
	struct ipv4_info ip;

	(void)state;
	assert_int_equal(ipv4_parse(l3v_udp_in, 19, &ip), -ENODATA);
	assert_int_equal(ipv4_parse(l3v_udp_in, sizeof(l3v_udp_in) - 1, &ip), -ENODATA);
	udp_in_with(p, 0, 0x65);                         /* version 6 */
	assert_int_equal(ipv4_parse(p, sizeof(p), &ip), -EPROTONOSUPPORT);
	udp_in_with(p, 0, 0x44);                         /* IHL 4 */
	assert_int_equal(ipv4_parse(p, sizeof(p), &ip), -EINVAL);
	udp_in_with(p, 0, 0x4f);                         /* IHL 15: 60 bytes, more than given */
	assert_int_equal(ipv4_parse(p, 40, &ip), -ENODATA);
	udp_in_with(p, 3, 10);                           /* total length 10 < IHL */
	assert_int_equal(ipv4_parse(p, sizeof(p), &ip), -EMSGSIZE);
	memcpy(p, l3v_udp_in, sizeof(p));
	p[8] ^= 1;                                       /* TTL, checksum not fixed */
	assert_int_equal(ipv4_parse(p, sizeof(p), &ip), -EBADMSG);
	assert_int_equal(ipv4_parse(l3v_udp_in, sizeof(l3v_udp_in) + 0, &ip), 20);
}

static void test_input_options_skipped_and_delivered(void **state)
{
	struct l3f *fx = *state;
	uint8_t buf[64];

	udp_bind(&fx->stk->udp, 1, 0, 9999, 0, 0);
	l3f_inject(fx, l3v_ip_opts_in, sizeof(l3v_ip_opts_in));
	assert_int_equal(fx->stk->evq.n, 1);
	assert_int_equal(l3f_ev_payload(fx, 0, buf, sizeof(buf)), 12);
	assert_memory_equal(buf, "with options", 12);
	assert_int_equal(L3F_COUNT(fx, IP_DELIVERED), 1);
}

static void test_input_link_padding_trimmed(void **state)
{
	struct l3f *fx = *state;
	uint8_t frame[sizeof(l3v_udp_in) + 18], buf[64];

	memset(frame, 0xee, sizeof(frame));
	memcpy(frame, l3v_udp_in, sizeof(l3v_udp_in));
	udp_bind(&fx->stk->udp, 1, 0, 9999, 0, 0);
	l3f_inject(fx, frame, sizeof(frame));
	assert_int_equal(fx->stk->evq.n, 1);
	assert_int_equal(l3f_ev_payload(fx, 0, buf, sizeof(buf)), 32);
}

static void test_input_malformed_counted_by_reason(void **state)
{
	struct l3f *fx = *state;
	uint8_t p[sizeof(l3v_udp_in)];

	l3f_inject(fx, l3v_udp_in, 10);
	assert_int_equal(L3F_DROPS(fx, IP_TRUNCATED), 1);
	udp_in_with(p, 0, 0x65);
	l3f_inject(fx, p, sizeof(p));
	assert_int_equal(L3F_DROPS(fx, IP_BAD_VERSION), 1);
	udp_in_with(p, 0, 0x43);
	l3f_inject(fx, p, sizeof(p));
	assert_int_equal(L3F_DROPS(fx, IP_BAD_IHL), 1);
	udp_in_with(p, 3, 19);
	l3f_inject(fx, p, sizeof(p));
	assert_int_equal(L3F_DROPS(fx, IP_BAD_LENGTH), 1);
	memcpy(p, l3v_udp_in, sizeof(p));
	p[12] ^= 0x80;
	l3f_inject(fx, p, sizeof(p));
	assert_int_equal(L3F_DROPS(fx, IP_BAD_CSUM), 1);
	assert_int_equal(l3f_total_drops(fx), 5);
	assert_int_equal(fx->stk->txq.n, 0);
}

static void test_input_martian_sources_dropped(void **state)
{
	struct l3f *fx = *state;
	uint8_t p[sizeof(l3v_udp_in)];
	const uint32_t bad[] = { IPV4_ADDR(127, 0, 0, 1), IPV4_BROADCAST, IPV4_ADDR(224, 0, 0, 1),
				 IPV4_ADDR(10, 0, 0, 255), OUR, 0 };

	udp_bind(&fx->stk->udp, 1, 0, 9999, 0, 0);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(p, l3v_udp_in, sizeof(p));
		set_addr(p, 12, bad[i]);
		l3f_inject(fx, p, sizeof(p));
	}
	assert_int_equal(L3F_DROPS(fx, IP_BAD_SRC), 6);
	assert_int_equal(fx->stk->evq.n, 0);
}

static void test_input_not_for_us_dropped(void **state)
{
	struct l3f *fx = *state;
	uint8_t p[sizeof(l3v_udp_in)];
	const uint32_t other[] = { IPV4_ADDR(10, 0, 0, 9), IPV4_ADDR(127, 0, 0, 1),
				   IPV4_ADDR(224, 0, 0, 251), L3V_REMOTE_IP };

	for (unsigned i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		memcpy(p, l3v_udp_in, sizeof(p));
		set_addr(p, 16, other[i]);
		l3f_inject(fx, p, sizeof(p));
	}
	assert_int_equal(L3F_DROPS(fx, IP_NOT_FOR_US), 4);
	assert_int_equal(fx->stk->txq.n, 0);                  /* no ICMP: not forwarding */
}

static void test_input_ttl_zero_still_delivered(void **state)
{
	struct l3f *fx = *state;
	uint8_t p[sizeof(l3v_udp_in)];

	udp_bind(&fx->stk->udp, 1, 0, 9999, 0, 0);
	udp_in_with(p, 8, 0);            /* RFC 1122 3.2.1.7: a host keeps it */
	l3f_inject(fx, p, sizeof(p));
	assert_int_equal(fx->stk->evq.n, 1);
}

static void test_input_unknown_proto_unreach_matches_scapy(void **state)
{
	struct l3f *fx = *state;

	l3f_inject(fx, l3v_proto_in, sizeof(l3v_proto_in));
	assert_int_equal(L3F_DROPS(fx, IP_UNKNOWN_PROTO), 1);
	assert_int_equal(fx->stk->txq.n, 1);
	l3f_assert_tx(fx, 0, l3v_proto_unreach_out, sizeof(l3v_proto_unreach_out));
}

static void test_input_hook_drop_counted(void **state)
{
	struct l3f *fx = *state;
	struct hook_rule r;
	enum hook_point pt;

	assert_int_equal(hook_parse_rule("INPUT proto=udp dport=9999 action=drop", &pt, &r), 0);
	assert_int_equal(hook_add(&fx->stk->hooks, pt, &r), 0);
	udp_bind(&fx->stk->udp, 1, 0, 9999, 0, 0);
	l3f_inject(fx, l3v_udp_in, sizeof(l3v_udp_in));
	assert_int_equal(L3F_DROPS(fx, HOOK_DROP), 1);
	assert_int_equal(fx->stk->evq.n, 0);
	l3f_inject(fx, l3v_ip_opts_in, sizeof(l3v_ip_opts_in));   /* also dport 9999 */
	assert_int_equal(L3F_DROPS(fx, HOOK_DROP), 2);
}

static void test_output_fragments_match_scapy(void **state)
{
	struct l3f *fx = *state;
	struct udp_tx tx = { .dst = L3V_REMOTE_IP, .sport = 2222, .dport = 1111 };
	static uint8_t buf[2048];
	uint16_t id[L3V_FRAG_UDP_OUT_N];

	/* The data is the whole datagram's UDP payload (after 28 bytes). */
	assert_int_equal(udp_output(fx->stk, &tx, l3v_frag_udp_out_whole + 28,
				    sizeof(l3v_frag_udp_out_whole) - 28, fx->now), 0);
	assert_int_equal(fx->stk->txq.n, L3V_FRAG_UDP_OUT_N);
	for (unsigned i = 0; i < L3V_FRAG_UDP_OUT_N; i++) {
		uint32_t n = l3f_tx_ip(fx, i, buf, sizeof(buf), l3f_peer_mac, &id[i]);

		assert_int_equal(n, l3v_frag_udp_out[i].len);
		assert_memory_equal(buf, l3v_frag_udp_out[i].data, n);
		assert_int_equal(id[i], id[0]);
	}
	assert_int_equal(L3F_COUNT(fx, IP_FRAG_OUT), L3V_FRAG_UDP_OUT_N);
}

static void test_output_small_mtu_eight_byte_units(void **state)
{
	struct l3f *fx = *state;
	static uint8_t data[1000], buf[2048];
	struct udp_tx tx = { .dst = PEER, .sport = 1, .dport = 2 };
	struct ipv4_info ip;
	uint32_t expect_off = 0;

	memset(data, 0x5a, sizeof(data));
	route_set_if_mtu(&fx->stk->routes, STACK_IF_ETH, 68);     /* RFC 791's minimum */
	route_del(&fx->stk->routes, IPV4_ADDR(10, 0, 0, 0), 24);
	route_add(&fx->stk->routes, &(struct route){ .prefix = IPV4_ADDR(10, 0, 0, 0), .len = 24,
						     .ifindex = STACK_IF_ETH, .src = OUR });
	assert_int_equal(udp_output(fx->stk, &tx, data, sizeof(data), fx->now), 0);
	assert_int_equal(fx->stk->txq.n, (1008 + 47) / 48);
	for (uint32_t i = 0; i < fx->stk->txq.n; i++) {
		uint32_t n = l3f_tx_ip(fx, i, buf, sizeof(buf), NULL, NULL);

		assert_true(n <= 68);
		assert_int_equal(ipv4_parse(buf, n, &ip), 20);
		assert_int_equal(ip.frag_off, expect_off);
		assert_int_equal(ip.mf, i + 1 < fx->stk->txq.n);
		assert_true(ip.mf ? (n - 20) == 48 : true);
		expect_off += n - 20;
	}
	assert_int_equal(expect_off, 1008);
}

static void test_output_no_route_enetunreach(void **state)
{
	struct l3f *fx = *state;
	struct udp_tx tx = { .dst = L3V_REMOTE_IP, .src = OUR, .sport = 1, .dport = 2 };

	assert_int_equal(route_del(&fx->stk->routes, 0, 0), 0);
	assert_int_equal(udp_output(fx->stk, &tx, "x", 1, fx->now), -ENETUNREACH);
	assert_int_equal(L3F_DROPS(fx, IP_NO_ROUTE), 1);
}

static void test_output_hook_drop_eperm(void **state)
{
	struct l3f *fx = *state;
	struct udp_tx tx = { .dst = PEER, .sport = 1, .dport = 53 };
	struct hook_rule r;
	enum hook_point pt;

	assert_int_equal(hook_parse_rule("OUTPUT proto=udp dport=53 action=drop", &pt, &r), 0);
	assert_int_equal(hook_add(&fx->stk->hooks, pt, &r), 0);
	assert_int_equal(udp_output(fx->stk, &tx, "q", 1, fx->now), -EPERM);
	assert_int_equal(L3F_DROPS(fx, HOOK_DROP), 1);
	assert_int_equal(fx->stk->txq.n, 0);
}

static void test_output_shared_buffer_gets_header_buffer(void **state)
{
	struct l3f *fx = *state;
	struct pkb *b = pkb_from_bytes(fx->stk->cache, l3v_udp_out + 20, sizeof(l3v_udp_out) - 20);
	struct pkb *c = pkb_clone(fx->stk->cache, b);
	struct ipv4_tx tx = { .src = OUR, .dst = PEER, .proto = IPV4_PROTO_UDP };

	assert_non_null(c);
	assert_int_equal(ipv4_output(fx->stk, c, &tx, fx->now), 0);   /* b is read-only now */
	l3f_assert_tx(fx, 0, l3v_udp_out, sizeof(l3v_udp_out));
	pkb_free(fx->stk->cache, b);
}

static void test_ids_per_destination_counter(void **state)
{
	struct l3f *fx = *state;
	struct ipv4_state other;
	const uint64_t key2[2] = { 1, 2 };
	uint16_t a0 = ipv4_select_id(&fx->stk->ip, PEER, 17);
	uint16_t a1 = ipv4_select_id(&fx->stk->ip, PEER, 17);
	unsigned same = 0;

	assert_int_equal((uint16_t)(a0 + 1), a1);
	/* Traffic to others does not move PEER's counter (barring a shared
	 * bucket, which these addresses do not hit under this key). */
	for (uint32_t d = 1; d <= 50; d++)
		ipv4_select_id(&fx->stk->ip, IPV4_ADDR(192, 0, 2, d), 17);
	assert_int_equal(ipv4_select_id(&fx->stk->ip, PEER, 17), (uint16_t)(a1 + 1));
	/* Another key: other starting points. */
	ipv4_init(&other, key2);
	for (uint32_t d = 1; d <= 50; d++)
		same += ipv4_select_id(&other, IPV4_ADDR(192, 0, 2, d), 6) ==
			ipv4_select_id(&fx->stk->ip, IPV4_ADDR(192, 0, 2, d), 6);
	assert_true(same < 3);
}

static void test_deadline_none_when_idle(void **state)
{
	struct l3f *fx = *state;

	assert_int_equal(ipv4_next_deadline(fx->stk), UINT64_MAX);
}

/* Property: random bytes never crash the parser or the input path, and an
 * accepted header always lies within the bytes. Half the inputs are made
 * plausible (version 4, a checksum that holds) to get past the first checks. */
static void test_input_random_garbage_never_crashes(void **state)
{
	struct l3f *fx = *state;
	struct netsim_rng r;
	uint8_t p[160];

	netsim_rng_seed(&r, 0x6a7ba6e);
	udp_bind(&fx->stk->udp, 1, 0, 9999, 0, 0);
	for (unsigned iter = 0; iter < 20000; iter++) {
		uint32_t len = (uint32_t)netsim_rng_below(&r, sizeof(p) + 1);
		struct ipv4_info ip;
		int rc;

		for (uint32_t i = 0; i < len; i++)
			p[i] = (uint8_t)netsim_rng_next(&r);
		if (len >= 20 && (iter & 1)) {
			uint16_t sum;

			static const uint8_t protos[4] = { 1, 6, 17, 17 };

			p[0] = (uint8_t)(0x40 | (p[0] & 0x0f));
			ipv4_put16(p + 2, (uint16_t)(len - netsim_rng_below(&r, 8)));
			if (iter & 2) {                          /* unfragmented, known L4 */
				p[6] &= 0x40;
				p[7] = 0;
				p[9] = protos[iter >> 2 & 3];
			}
			ipv4_put32(p + 16, OUR);
			p[10] = p[11] = 0;
			sum = inet_csum(p, (size_t)(p[0] & 0x0f) * 4 <= len ? (size_t)(p[0] & 0x0f) * 4 : 20);
			memcpy(p + 10, &sum, 2);
		}
		rc = ipv4_parse(p, len, &ip);
		if (rc >= 0)
			assert_true(rc >= 20 && rc <= ip.total_len && ip.total_len <= len);
		l3f_inject(fx, p, len);
		stack_poll_loopback(fx->stk, 8, fx->now);
		l3f_drain_txq(fx);
		l3f_drain_evq(fx);
	}
	assert_int_equal(L3F_COUNT(fx, IP_IN), 20000);
	assert_true(L3F_COUNT(fx, IP_DELIVERED) > 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, l3f_setup, l3f_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_parse_scapy_options),
		T(test_parse_scapy_fragments),
		T(test_parse_rejects_each_malformation),
		T(test_input_options_skipped_and_delivered),
		T(test_input_link_padding_trimmed),
		T(test_input_malformed_counted_by_reason),
		T(test_input_martian_sources_dropped),
		T(test_input_not_for_us_dropped),
		T(test_input_ttl_zero_still_delivered),
		T(test_input_unknown_proto_unreach_matches_scapy),
		T(test_input_hook_drop_counted),
		T(test_output_fragments_match_scapy),
		T(test_output_small_mtu_eight_byte_units),
		T(test_output_no_route_enetunreach),
		T(test_output_hook_drop_eperm),
		T(test_output_shared_buffer_gets_header_buffer),
		T(test_ids_per_destination_counter),
		T(test_deadline_none_when_idle),
		T(test_input_random_garbage_never_crashes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
