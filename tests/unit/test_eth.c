/* tests/unit/test_eth.c — Ethernet and 802.1Q (proto/eth.c) on a whole
 * stack (stack_init): parsing scapy's frames, the MAC / multicast / VLAN
 * filters and their drop reasons, the transmit path through the neighbour
 * table, byte-for-byte against scapy, and random garbage. Every test's
 * teardown drains the stack and asserts no packet buffer leaked. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/eth.h"
#include "proto/neigh.h"
#include "proto/stack.h"
#include "shm/pkb.h"
#include "tests/support/pkb_fixture.h"
#include "tests/vectors/l2_vectors.h"
#include "tests/unit/l2_fixture.h"

static uint64_t eth_drops(const struct l2fx *fx)
{
	return drops(fx, PROTO_DROP_ETH_TRUNCATED) + drops(fx, PROTO_DROP_ETH_NOT_FOR_US) +
	       drops(fx, PROTO_DROP_ETH_BAD_SRC) + drops(fx, PROTO_DROP_ETH_UNKNOWN_TYPE) +
	       drops(fx, PROTO_DROP_ETH_VLAN_MISMATCH);
}

static void assert_frame(const struct pkb *b, const uint8_t *want, size_t len)
{
	assert_non_null(b);
	assert_int_equal(pkb_len(b), len);
	assert_memory_equal(pkb_data(b), want, len);
}

/* The IPv4 packet inside scapy's ipv4_udp_in frame, as a fresh pkb. */
static struct pkb *ip_packet(struct l2fx *fx)
{
	struct pkb *b = pkb_from_bytes(&fx->pf->cache, l2v_ipv4_udp_in + ETH_HLEN,
				       sizeof(l2v_ipv4_udp_in) - ETH_HLEN);

	assert_non_null(b);
	return b;
}

/* ------------------------------------------------------------- parsing */

static void test_eth_parse_scapy_frames(void **state)
{
	struct eth_info eh;

	(void)state;
	assert_int_equal(eth_parse(l2v_ipv4_udp_in, sizeof(l2v_ipv4_udp_in), &eh), ETH_HLEN);
	assert_memory_equal(eh.dst, our_mac, 6);
	assert_memory_equal(eh.src, peer_mac, 6);
	assert_int_equal(eh.ethertype, ETH_P_IPV4);
	assert_false(eh.vlan);
	assert_int_equal(eth_parse(l2v_ipv4_udp_in_vlan, sizeof(l2v_ipv4_udp_in_vlan), &eh),
			 ETH_VLAN_HLEN);
	assert_true(eh.vlan);
	assert_int_equal(eh.vlan_tci, 3 << 13 | L2V_VLAN);
	assert_int_equal(eh.ethertype, ETH_P_IPV4);
	assert_int_equal(eth_parse(l2v_arp_request_in, sizeof(l2v_arp_request_in), &eh), ETH_HLEN);
	assert_int_equal(eh.ethertype, ETH_P_ARP);
	assert_true(eth_is_broadcast(eh.dst));
}

static void test_eth_parse_short_frames_rejected(void **state)
{
	struct eth_info eh;

	(void)state;
	assert_int_equal(eth_parse(l2v_ipv4_udp_in, ETH_HLEN - 1, &eh), -EINVAL);
	assert_int_equal(eth_parse(l2v_ipv4_udp_in, 0, &eh), -EINVAL);
	assert_int_equal(eth_parse(l2v_ipv4_udp_in, ETH_HLEN, &eh), ETH_HLEN);
	assert_int_equal(eth_parse(l2v_ipv4_udp_in_vlan, ETH_VLAN_HLEN - 1, &eh), -EINVAL);
	assert_int_equal(eth_parse(l2v_ipv4_udp_in_vlan, ETH_VLAN_HLEN, &eh), ETH_VLAN_HLEN);
}

static void test_eth_parse_random_garbage_never_reads_past_len(void **state)
{
	(void)state;
	srand(11);
	for (unsigned k = 0; k < 100000; k++) {
		size_t len = (size_t)(rand() % 24);
		uint8_t *buf = malloc(len ? len : 1);   /* exact size: ASan sees overreads */
		struct eth_info eh;
		int r;

		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)(k % 3 == 0 && i == 12 ? 0x81 : i == 13 && k % 3 == 0 ? 0 : rand());
		r = eth_parse(buf, len, &eh);
		assert_true(r == -EINVAL || r == ETH_HLEN || r == ETH_VLAN_HLEN);
		assert_true(r < 0 || (size_t)r <= len);
		free(buf);
	}
}

/* ------------------------------------------------------------- receive */

static void test_eth_input_ipv4_for_us_reaches_ipv4(void **state)
{
	struct l2fx *fx = *state;

	inject(fx, l2v_ipv4_udp_in, sizeof(l2v_ipv4_udp_in), T0);
	assert_int_equal(fx->stk->stats.cnt[PROTO_CNT_ETH_IN], 1);
	assert_int_equal(fx->stk->stats.cnt[PROTO_CNT_IP_IN], 1);
	assert_int_equal(eth_drops(fx), 0);
}

static void test_eth_input_other_mac_dropped_not_for_us(void **state)
{
	struct l2fx *fx = *state;
	uint8_t f[sizeof(l2v_ipv4_udp_in)];

	memcpy(f, l2v_ipv4_udp_in, sizeof(f));
	f[5] = 0x77;   /* 02:00:00:00:00:77 */
	inject(fx, f, sizeof(f), T0);
	assert_int_equal(drops(fx, PROTO_DROP_ETH_NOT_FOR_US), 1);
	assert_int_equal(fx->stk->stats.cnt[PROTO_CNT_IP_IN], 0);
}

static void test_eth_input_promisc_accepts_other_mac(void **state)
{
	struct l2fx *fx = *state;
	uint8_t f[sizeof(l2v_ipv4_udp_in)];

	memcpy(f, l2v_ipv4_udp_in, sizeof(f));
	f[5] = 0x77;
	inject(fx, f, sizeof(f), T0);
	assert_int_equal(eth_drops(fx), 0);
	assert_int_equal(fx->stk->stats.cnt[PROTO_CNT_IP_IN], 1);
}

static void test_eth_input_multicast_only_all_hosts(void **state)
{
	struct l2fx *fx = *state;

	inject(fx, l2v_eth_mcast_mdns_in, sizeof(l2v_eth_mcast_mdns_in), T0);
	assert_int_equal(drops(fx, PROTO_DROP_ETH_NOT_FOR_US), 1);
	inject(fx, l2v_eth_mcast_allhosts_in, sizeof(l2v_eth_mcast_allhosts_in), T0);
	assert_int_equal(drops(fx, PROTO_DROP_ETH_NOT_FOR_US), 1);
	assert_int_equal(fx->stk->stats.cnt[PROTO_CNT_IP_IN], 1);
}

static void test_eth_input_group_source_dropped(void **state)
{
	struct l2fx *fx = *state;
	uint8_t f[sizeof(l2v_ipv4_udp_in)];

	memcpy(f, l2v_ipv4_udp_in, sizeof(f));
	memset(f + 6, 0xff, 6);
	inject(fx, f, sizeof(f), T0);
	f[6] = 0x01;   /* any group address */
	inject(fx, f, sizeof(f), T0);
	assert_int_equal(drops(fx, PROTO_DROP_ETH_BAD_SRC), 2);
}

static void test_eth_input_truncated_dropped(void **state)
{
	struct l2fx *fx = *state;

	inject(fx, l2v_ipv4_udp_in, ETH_HLEN - 1, T0);
	inject(fx, l2v_ipv4_udp_in_vlan, ETH_VLAN_HLEN - 2, T0);
	assert_int_equal(drops(fx, PROTO_DROP_ETH_TRUNCATED), 2);
}

static void test_eth_input_unknown_type_dropped(void **state)
{
	struct l2fx *fx = *state;
	uint8_t f[sizeof(l2v_ipv4_udp_in)];

	memcpy(f, l2v_ipv4_udp_in, sizeof(f));
	f[12] = 0x86, f[13] = 0xdd;   /* IPv6 */
	inject(fx, f, sizeof(f), T0);
	f[12] = 0x00, f[13] = 0x40;   /* an 802.3 length, not a type */
	inject(fx, f, sizeof(f), T0);
	assert_int_equal(drops(fx, PROTO_DROP_ETH_UNKNOWN_TYPE), 2);
}

static void test_eth_input_tagged_without_vlan_config_dropped(void **state)
{
	struct l2fx *fx = *state;
	uint8_t f[sizeof(l2v_ipv4_udp_in_vlan)];

	inject(fx, l2v_ipv4_udp_in_vlan, sizeof(l2v_ipv4_udp_in_vlan), T0);
	assert_int_equal(drops(fx, PROTO_DROP_ETH_VLAN_MISMATCH), 1);
	memcpy(f, l2v_ipv4_udp_in_vlan, sizeof(f));
	f[14] = 0x60, f[15] = 0x00;   /* priority 3, VID 0: priority-tagged */
	inject(fx, f, sizeof(f), T0);
	assert_int_equal(drops(fx, PROTO_DROP_ETH_VLAN_MISMATCH), 1);
	assert_int_equal(fx->stk->stats.cnt[PROTO_CNT_IP_IN], 1);
}

static void test_eth_vlan_input_only_our_vid(void **state)
{
	struct l2fx *fx = *state;
	uint8_t f[sizeof(l2v_ipv4_udp_in_vlan)];

	inject(fx, l2v_ipv4_udp_in_vlan, sizeof(l2v_ipv4_udp_in_vlan), T0);
	assert_int_equal(fx->stk->stats.cnt[PROTO_CNT_IP_IN], 1);
	inject(fx, l2v_ipv4_udp_in, sizeof(l2v_ipv4_udp_in), T0);   /* untagged */
	memcpy(f, l2v_ipv4_udp_in_vlan, sizeof(f));
	f[15] = L2V_VLAN + 1;
	inject(fx, f, sizeof(f), T0);
	assert_int_equal(drops(fx, PROTO_DROP_ETH_VLAN_MISMATCH), 2);
	assert_int_equal(fx->stk->stats.cnt[PROTO_CNT_IP_IN], 1);
}

static void test_eth_input_random_garbage_never_crashes(void **state)
{
	struct l2fx *fx = *state;
	static const uint16_t types[] = { ETH_P_IPV4, ETH_P_ARP, ETH_P_8021Q, 0x86dd };
	uint8_t f[128];

	srand(12);
	for (unsigned k = 0; k < 20000; k++) {
		size_t len = (size_t)(rand() % (int)sizeof(f));

		for (size_t i = 0; i < len; i++)
			f[i] = (uint8_t)rand();
		if (len >= 14 && k % 2) {   /* mostly well-addressed, to get past the filters */
			memcpy(f, k % 4 == 1 ? our_mac : eth_broadcast_addr, 6);
			f[6] &= 0xfe;
			f[12] = (uint8_t)(types[k % 4] >> 8), f[13] = (uint8_t)types[k % 4];
		}
		inject(fx, f, len, T0 + k * 1000000ull);
		stack_timers(fx->stk, T0 + k * 1000000ull);
		stack_flush(fx->stk);
	}
	assert_int_equal(fx->stk->stats.cnt[PROTO_CNT_ETH_IN], 20000);
}

/* ------------------------------------------------------------ transmit */

static void test_eth_output_ipv4_resolved_neighbour_pushes_header(void **state)
{
	struct l2fx *fx = *state;
	struct stack *stk = fx->stk;
	uint8_t want[sizeof(l2v_ipv4_udp_in)];

	txq_clear(stk);   /* the gratuitous ARP of stack_init */
	assert_int_equal(neigh_update(stk, L2V_PEER_IP, peer_mac,
				      NEIGH_F_CREATE | NEIGH_F_CONFIRMED, T0), 0);
	eth_output_ipv4(stk, ip_packet(fx), L2V_PEER_IP, STACK_IF_ETH, T0);
	memcpy(want, l2v_ipv4_udp_in, sizeof(want));
	memcpy(want, peer_mac, 6);
	memcpy(want + 6, our_mac, 6);
	assert_int_equal(stk->txq.n, 1);
	assert_frame(stk->txq.pkb[0], want, sizeof(want));
	assert_int_equal(stk->txq.pkb[0]->l2_off, PKB_HEADROOM - ETH_HLEN);
}

static void test_eth_output_ipv4_unresolved_asks_then_sends(void **state)
{
	struct l2fx *fx = *state;
	struct stack *stk = fx->stk;

	txq_clear(stk);
	eth_output_ipv4(stk, ip_packet(fx), L2V_PEER_IP, STACK_IF_ETH, T0);
	assert_int_equal(stk->txq.n, 1);
	assert_frame(stk->txq.pkb[0], l2v_arp_request_out, sizeof(l2v_arp_request_out));
	assert_int_equal(neigh_lookup(&stk->neigh, L2V_PEER_IP)->state, NEIGH_INCOMPLETE);
	txq_clear(stk);
	inject(fx, l2v_arp_reply_in, sizeof(l2v_arp_reply_in), T0 + 1000);
	assert_int_equal(stk->txq.n, 1);   /* the packet that waited */
	assert_memory_equal(pkb_data(stk->txq.pkb[0]), peer_mac, 6);
	assert_memory_equal(pkb_data(stk->txq.pkb[0]) + ETH_HLEN, l2v_ipv4_udp_in + ETH_HLEN,
			    sizeof(l2v_ipv4_udp_in) - ETH_HLEN);
}

static void test_eth_vlan_output_tags_like_scapy(void **state)
{
	struct l2fx *fx = *state;
	struct stack *stk = fx->stk;

	txq_clear(stk);
	eth_output_ipv4(stk, ip_packet(fx), L2V_PEER_IP, STACK_IF_ETH, T0);
	assert_int_equal(stk->txq.n, 1);
	assert_frame(stk->txq.pkb[0], l2v_arp_request_out_vlan, sizeof(l2v_arp_request_out_vlan));
}

static void check_group_mac(struct l2fx *fx, uint32_t nexthop, const uint8_t mac[6])
{
	struct stack *stk = fx->stk;

	txq_clear(stk);
	eth_output_ipv4(stk, ip_packet(fx), nexthop, STACK_IF_ETH, T0);
	assert_int_equal(stk->txq.n, 1);
	assert_memory_equal(pkb_data(stk->txq.pkb[0]), mac, 6);
	assert_null(neigh_lookup(&stk->neigh, nexthop));
}

static void test_eth_output_ipv4_broadcast_and_multicast_map(void **state)
{
	struct l2fx *fx = *state;
	static const uint8_t mdns[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb };
	static const uint8_t high[6] = { 0x01, 0x00, 0x5e, 0x00, 0x01, 0x02 };

	check_group_mac(fx, 0xffffffffu, eth_broadcast_addr);
	check_group_mac(fx, IPV4_ADDR(10, 0, 0, 255), eth_broadcast_addr);
	check_group_mac(fx, IPV4_ADDR(224, 0, 0, 251), mdns);
	check_group_mac(fx, IPV4_ADDR(239, 128, 1, 2), high);   /* RFC 1112: 23 bits */
}

static void test_eth_output_ipv4_loopback_bypasses_device(void **state)
{
	struct l2fx *fx = *state;
	struct stack *stk = fx->stk;

	txq_clear(stk);
	eth_output_ipv4(stk, ip_packet(fx), L2V_OUR_IP, STACK_IF_LOOPBACK, T0);
	assert_int_equal(stk->txq.n, 0);
	assert_int_equal(stk->loop_n, 1);
}

static void test_eth_push_header_without_room_leaves_pkb_unchanged(void **state)
{
	struct l2fx *fx = *state;
	struct stack *stk = fx->stk;
	struct pkb *b = ip_packet(fx), *orig = ip_packet(fx), *c;
	uint32_t len;

	assert_non_null(pkb_push(b, pkb_headroom(b) - ETH_HLEN + 1));
	len = pkb_len(b);
	assert_int_equal(eth_push_header(stk, b, peer_mac, ETH_P_IPV4), -ENOBUFS);
	assert_int_equal(pkb_len(b), len);
	c = pkb_clone(&fx->pf->cache, orig);   /* shared data is read-only */
	assert_non_null(c);
	assert_int_equal(eth_push_header(stk, c, peer_mac, ETH_P_IPV4), -ENOBUFS);
	assert_int_equal(eth_push_header(stk, orig, peer_mac, ETH_P_IPV4), -ENOBUFS);
	pkb_free(stk->cache, c);
	pkb_free(stk->cache, orig);
	txq_clear(stk);
	eth_send(stk, b, peer_mac, ETH_P_IPV4);
	assert_int_equal(drops(fx, PROTO_DROP_ETH_NO_HEADROOM), 1);
	assert_int_equal(stk->txq.n, 0);
}

#define FX(fn, su) cmocka_unit_test_setup_teardown(fn, su, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eth_parse_scapy_frames),
		cmocka_unit_test(test_eth_parse_short_frames_rejected),
		cmocka_unit_test(test_eth_parse_random_garbage_never_reads_past_len),
		FX(test_eth_input_ipv4_for_us_reaches_ipv4, setup),
		FX(test_eth_input_other_mac_dropped_not_for_us, setup),
		FX(test_eth_input_promisc_accepts_other_mac, setup_promisc),
		FX(test_eth_input_multicast_only_all_hosts, setup),
		FX(test_eth_input_group_source_dropped, setup),
		FX(test_eth_input_truncated_dropped, setup),
		FX(test_eth_input_unknown_type_dropped, setup),
		FX(test_eth_input_tagged_without_vlan_config_dropped, setup),
		FX(test_eth_vlan_input_only_our_vid, setup_vlan),
		FX(test_eth_input_random_garbage_never_crashes, setup),
		FX(test_eth_output_ipv4_resolved_neighbour_pushes_header, setup),
		FX(test_eth_output_ipv4_unresolved_asks_then_sends, setup),
		FX(test_eth_vlan_output_tags_like_scapy, setup_vlan),
		FX(test_eth_output_ipv4_broadcast_and_multicast_map, setup),
		FX(test_eth_output_ipv4_loopback_bypasses_device, setup),
		FX(test_eth_push_header_without_room_leaves_pkb_unchanged, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
