/* tests/unit/test_udp.c — UDP (RFC 768): the bind table's Linux rules,
 * demultiplexing, broadcast delivery, checksums, and output checked byte for
 * byte against scapy (tests/vectors/l3_vectors.h).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/l3_fixture.h"

#define ANY 0u
#define OUR L3V_OUR_IP
#define PEER L3V_PEER_IP

/* l3v_udp_in carries 32 bytes PEER:40000 -> OUR:9999 from byte 28. */
#define UDP_IN_PAYLOAD (l3v_udp_in + 28)

static void test_bind_same_port_conflicts(void **state)
{
	struct udp_table *t = &((struct l3f *)*state)->stk->udp;

	assert_int_equal(udp_bind(t, 1, ANY, 9999, 0, 1000), 9999);
	assert_int_equal(udp_bind(t, 2, ANY, 9999, 0, 1000), -EADDRINUSE);
	assert_int_equal(udp_bind(t, 3, OUR, 9999, 0, 1000), -EADDRINUSE);  /* wildcard overlaps */
	assert_int_equal(udp_bind(t, 4, ANY, 9998, 0, 1000), 9998);
	assert_int_equal(udp_bind(t, 4, ANY, 9997, 0, 1000), -EINVAL);      /* already bound */
}

static void test_bind_distinct_addresses_coexist(void **state)
{
	struct udp_table *t = &((struct l3f *)*state)->stk->udp;

	assert_int_equal(udp_bind(t, 1, OUR, 53, 0, 0), 53);
	assert_int_equal(udp_bind(t, 2, IPV4_ADDR(127, 0, 0, 1), 53, 0, 0), 53);
	assert_int_equal(udp_bind(t, 3, ANY, 53, 0, 0), -EADDRINUSE);
}

static void test_bind_reuseaddr_needs_both(void **state)
{
	struct udp_table *t = &((struct l3f *)*state)->stk->udp;

	assert_int_equal(udp_bind(t, 1, ANY, 5000, UDP_F_REUSEADDR, 0), 5000);
	assert_int_equal(udp_bind(t, 2, ANY, 5000, 0, 0), -EADDRINUSE);
	assert_int_equal(udp_bind(t, 3, ANY, 5000, UDP_F_REUSEADDR, 7), 5000);  /* any user */
	assert_int_equal(udp_bind(t, 4, OUR, 5000, UDP_F_REUSEADDR, 0), 5000);
}

static void test_bind_reuseport_same_uid_only(void **state)
{
	struct udp_table *t = &((struct l3f *)*state)->stk->udp;

	assert_int_equal(udp_bind(t, 1, ANY, 6000, UDP_F_REUSEPORT, 1000), 6000);
	assert_int_equal(udp_bind(t, 2, ANY, 6000, UDP_F_REUSEPORT, 1000), 6000);
	assert_int_equal(udp_bind(t, 3, ANY, 6000, UDP_F_REUSEPORT, 1001), -EADDRINUSE);
	assert_int_equal(udp_bind(t, 4, ANY, 6000, 0, 1000), -EADDRINUSE);
}

static void test_bind_ephemeral_ports_distinct(void **state)
{
	struct udp_table *t = &((struct l3f *)*state)->stk->udp;
	int p[20];

	for (unsigned i = 0; i < 20; i++) {
		p[i] = udp_bind(t, 100 + i, ANY, 0, 0, 0);
		assert_in_range(p[i], UDP_EPHEMERAL_LO, UDP_EPHEMERAL_HI);
		for (unsigned j = 0; j < i; j++)
			assert_int_not_equal(p[i], p[j]);
	}
}

static void test_bind_table_full_enobufs(void **state)
{
	struct udp_table *t = &((struct l3f *)*state)->stk->udp;

	for (uint32_t i = 0; i < UDP_TABLE_SIZE; i++)
		assert_int_equal(udp_bind(t, i, ANY, (uint16_t)(1 + i), 0, 0), 1 + i);
	assert_int_equal(udp_bind(t, 5000, ANY, 5000, 0, 0), -ENOBUFS);
	assert_int_equal(udp_unbind(t, 17), 0);
	assert_int_equal(udp_unbind(t, 17), -ENOENT);
	assert_int_equal(udp_bind(t, 5000, ANY, 5000, 0, 0), 5000);
}

static void test_input_delivers_payload(void **state)
{
	struct l3f *fx = *state;
	uint8_t buf[64];

	assert_int_equal(udp_bind(&fx->stk->udp, 77, ANY, 9999, 0, 0), 9999);
	l3f_inject(fx, l3v_udp_in, sizeof(l3v_udp_in));
	assert_int_equal(fx->stk->evq.n, 1);
	const struct stack_event *ev = &fx->stk->evq.ev[0];
	assert_int_equal(ev->type, STACK_EV_UDP_RX);
	assert_int_equal(ev->sock_id, 77);
	assert_int_equal(ev->lport, 9999);
	assert_int_equal(ev->rport, 40000);
	assert_int_equal(ev->laddr, OUR);
	assert_int_equal(ev->raddr, PEER);
	assert_int_equal(l3f_ev_payload(fx, 0, buf, sizeof(buf)), 32);
	assert_memory_equal(buf, UDP_IN_PAYLOAD, 32);
	assert_int_equal(L3F_COUNT(fx, UDP_IN), 1);
	assert_int_equal(l3f_total_drops(fx), 0);
}

static void test_input_zero_csum_accepted(void **state)
{
	struct l3f *fx = *state;

	udp_bind(&fx->stk->udp, 1, ANY, 9999, 0, 0);
	l3f_inject(fx, l3v_udp_zero_csum_in, sizeof(l3v_udp_zero_csum_in));
	assert_int_equal(fx->stk->evq.n, 1);
	assert_int_equal(l3f_total_drops(fx), 0);
}

static void test_input_bad_csum_dropped(void **state)
{
	struct l3f *fx = *state;
	uint8_t pkt[sizeof(l3v_udp_in)];

	udp_bind(&fx->stk->udp, 1, ANY, 9999, 0, 0);
	memcpy(pkt, l3v_udp_in, sizeof(pkt));
	pkt[sizeof(pkt) - 1] ^= 0x40;            /* payload byte: only UDP's sum sees it */
	l3f_inject(fx, pkt, sizeof(pkt));
	assert_int_equal(fx->stk->evq.n, 0);
	assert_int_equal(L3F_DROPS(fx, UDP_BAD_CSUM), 1);
	assert_int_equal(fx->stk->txq.n, 0);     /* no ICMP about a corrupt datagram */
}

/* Rewrite the UDP length field of a copy of udp_in, fixing the checksum to 0
 * (none) so that only the length is wrong. */
static void inject_udp_len(struct l3f *fx, uint16_t ulen)
{
	uint8_t pkt[sizeof(l3v_udp_in)];

	memcpy(pkt, l3v_udp_in, sizeof(pkt));
	pkt[24] = (uint8_t)(ulen >> 8);
	pkt[25] = (uint8_t)ulen;
	pkt[26] = pkt[27] = 0;
	l3f_inject(fx, pkt, sizeof(pkt));
}

static void test_input_bad_length_truncated(void **state)
{
	struct l3f *fx = *state;
	uint8_t buf[64];

	udp_bind(&fx->stk->udp, 1, ANY, 9999, 0, 0);
	inject_udp_len(fx, 7);                    /* shorter than the header */
	inject_udp_len(fx, 41);                   /* longer than the IP payload */
	assert_int_equal(L3F_DROPS(fx, UDP_TRUNCATED), 2);
	inject_udp_len(fx, 8 + 10);               /* shorter: the rest is trimmed */
	assert_int_equal(fx->stk->evq.n, 1);
	assert_int_equal(l3f_ev_payload(fx, 0, buf, sizeof(buf)), 10);
}

static void test_input_no_socket_port_unreach_matches_scapy(void **state)
{
	struct l3f *fx = *state;

	l3f_inject(fx, l3v_udp_in, sizeof(l3v_udp_in));
	assert_int_equal(L3F_DROPS(fx, UDP_NO_SOCKET), 1);
	assert_int_equal(fx->stk->txq.n, 1);
	l3f_assert_tx(fx, 0, l3v_port_unreach_out, sizeof(l3v_port_unreach_out));
	assert_int_equal(L3F_COUNT(fx, ICMP_OUT), 1);
}

static void test_demux_exact_beats_wildcard(void **state)
{
	struct l3f *fx = *state;
	struct udp_table *t = &fx->stk->udp;

	udp_bind(t, 1, ANY, 9999, UDP_F_REUSEADDR, 0);
	udp_bind(t, 2, OUR, 9999, UDP_F_REUSEADDR, 0);
	udp_bind(t, 3, ANY, 9999, UDP_F_REUSEADDR, 0);   /* bound last, but wildcard */
	assert_int_equal(udp_lookup(t, OUR, 9999, PEER, 40000, 0)->sock_id, 2);
	assert_int_equal(udp_connect(t, 3, 0, PEER, 40000), 0);
	assert_int_equal(udp_lookup(t, OUR, 9999, PEER, 40000, 0)->sock_id, 3);
	assert_int_equal(udp_lookup(t, OUR, 9999, PEER, 40001, 0)->sock_id, 2);
	assert_int_equal(udp_lookup(t, IPV4_ADDR(127, 0, 0, 1), 9999, PEER, 40001, 0)->sock_id, 1);
	assert_int_equal(udp_connect(t, 3, 0, 0, 0), 0);                 /* disconnect */
	assert_int_equal(udp_lookup(t, OUR, 9999, PEER, 40000, 0)->sock_id, 2);
}

static void test_demux_reuseaddr_last_bound_wins(void **state)
{
	struct udp_table *t = &((struct l3f *)*state)->stk->udp;

	udp_bind(t, 1, ANY, 7000, UDP_F_REUSEADDR, 0);
	udp_bind(t, 2, ANY, 7000, UDP_F_REUSEADDR, 0);
	assert_int_equal(udp_lookup(t, OUR, 7000, PEER, 1, 0)->sock_id, 2);
	udp_unbind(t, 2);
	assert_int_equal(udp_lookup(t, OUR, 7000, PEER, 1, 0)->sock_id, 1);
	assert_null(udp_lookup(t, OUR, 7001, PEER, 1, 0));
}

static void test_demux_reuseport_spreads_flows(void **state)
{
	struct l3f *fx = *state;
	unsigned hits[4] = { 0 };

	for (uint32_t s = 0; s < 4; s++)
		udp_bind(&fx->stk->udp, 10 + s, ANY, 8000, UDP_F_REUSEPORT, 1000);
	for (uint32_t h = 0; h < 400; h++) {
		uint32_t hash = h * 0x9e3779b9u;
		const struct udp_sock *a = udp_lookup(&fx->stk->udp, OUR, 8000, PEER, 1, hash);
		const struct udp_sock *b = udp_lookup(&fx->stk->udp, OUR, 8000, PEER, 1, hash);

		assert_ptr_equal(a, b);            /* one flow, one socket */
		hits[a->sock_id - 10]++;
	}
	for (unsigned s = 0; s < 4; s++)
		assert_in_range(hits[s], 50, 150);
	/* hash 0 picks the first bound, the top hash the last (bind order). */
	assert_int_equal(udp_lookup(&fx->stk->udp, OUR, 8000, PEER, 1, 0)->sock_id, 10);
	assert_int_equal(udp_lookup(&fx->stk->udp, OUR, 8000, PEER, 1, UINT32_MAX)->sock_id, 13);
}

static void test_broadcast_delivered_to_every_socket(void **state)
{
	struct l3f *fx = *state;
	struct udp_table *t = &fx->stk->udp;
	uint8_t buf[64];

	udp_bind(t, 1, ANY, 67, UDP_F_REUSEADDR, 0);
	udp_bind(t, 2, ANY, 67, UDP_F_REUSEADDR, 0);
	udp_bind(t, 3, IPV4_ADDR(10, 0, 0, 255), 67, UDP_F_REUSEADDR, 0);
	udp_bind(t, 4, OUR, 67, UDP_F_REUSEADDR, 0);    /* a unicast bind: not for broadcast */
	l3f_inject(fx, l3v_udp_bcast_in, sizeof(l3v_udp_bcast_in));
	assert_int_equal(fx->stk->evq.n, 3);
	for (uint32_t i = 0; i < 3; i++) {
		assert_int_not_equal(fx->stk->evq.ev[i].sock_id, 4);
		assert_int_equal(l3f_ev_payload(fx, i, buf, sizeof(buf)), 32);
		assert_memory_equal(buf, l3v_udp_bcast_in + 28, 32);
	}
	assert_int_equal(l3f_total_drops(fx), 0);
}

static void test_broadcast_no_socket_no_icmp(void **state)
{
	struct l3f *fx = *state;

	l3f_inject(fx, l3v_udp_bcast_in, sizeof(l3v_udp_bcast_in));
	assert_int_equal(L3F_DROPS(fx, UDP_NO_SOCKET), 1);
	assert_int_equal(fx->stk->txq.n, 0);
}

static void test_output_matches_scapy(void **state)
{
	struct l3f *fx = *state;
	struct udp_tx tx = { .dst = PEER, .sport = 9999, .dport = 40000 };

	assert_int_equal(udp_output(fx->stk, &tx, UDP_IN_PAYLOAD, 32, fx->now), 0);
	assert_int_equal(fx->stk->txq.n, 1);
	l3f_assert_tx(fx, 0, l3v_udp_out, sizeof(l3v_udp_out));
	assert_int_equal(L3F_COUNT(fx, UDP_OUT), 1);
}

static void test_output_zero_csum_sent_as_ffff(void **state)
{
	struct l3f *fx = *state;
	struct udp_tx tx = { .dst = PEER, .sport = 9999, .dport = 40000 };
	uint8_t data[4] = { 1, 2, 0, 0 }, ip[64];
	uint16_t c;

	/* Make the datagram sum to 0xffff: put its checksum in the data. */
	assert_int_equal(udp_output(fx->stk, &tx, data, 4, fx->now), 0);
	l3f_tx_ip(fx, 0, ip, sizeof(ip), NULL, NULL);
	memcpy(data + 2, ip + 26, 2);
	l3f_drain_txq(fx);
	assert_int_equal(udp_output(fx->stk, &tx, data, 4, fx->now), 0);
	l3f_tx_ip(fx, 0, ip, sizeof(ip), NULL, NULL);
	memcpy(&c, ip + 26, 2);
	assert_int_equal(c, 0xffff);
	assert_int_equal(csum_fold(csum_partial(ip + 20, 12, csum_pseudo_ipv4(OUR, PEER, 17, 12))),
			 0);
}

static void test_output_rejects_bad_requests(void **state)
{
	struct l3f *fx = *state;
	struct udp_tx tx = { .dst = PEER, .sport = 9999, .dport = 0 };
	static uint8_t big[65508];

	assert_int_equal(udp_output(fx->stk, &tx, big, 1, fx->now), -EINVAL);
	tx.dport = 1;
	assert_int_equal(udp_output(fx->stk, &tx, big, sizeof(big), fx->now), -EMSGSIZE);
	tx.df = true;
	assert_int_equal(udp_output(fx->stk, &tx, big, 2000, fx->now), -EMSGSIZE);
	assert_int_equal(L3F_DROPS(fx, IP_FRAG_NEEDED), 1);
	assert_int_equal(fx->stk->txq.n, 0);
}

static void test_output_loopback_large_chain(void **state)
{
	struct l3f *fx = *state;
	static uint8_t data[60000], got[60000];
	struct udp_tx tx = { .dst = IPV4_ADDR(127, 0, 0, 1), .sport = 1, .dport = 2 };

	for (uint32_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + (i >> 8));
	udp_bind(&fx->stk->udp, 5, IPV4_ADDR(127, 0, 0, 1), 2, 0, 0);
	assert_int_equal(udp_output(fx->stk, &tx, data, sizeof(data), fx->now), 0);
	assert_int_equal(fx->stk->txq.n, 0);
	assert_int_equal(stack_poll_loopback(fx->stk, 8, fx->now), 1);
	assert_int_equal(fx->stk->evq.n, 1);
	assert_int_equal(fx->stk->evq.ev[0].raddr, IPV4_ADDR(127, 0, 0, 1));
	assert_true(fx->stk->evq.ev[0].pkb->nb_segs > 1);
	assert_int_equal(l3f_ev_payload(fx, 0, got, sizeof(got)), sizeof(data));
	assert_memory_equal(got, data, sizeof(data));
	assert_int_equal(l3f_total_drops(fx), 0);
}

static void test_output_to_own_address_loops_back(void **state)
{
	struct l3f *fx = *state;
	struct udp_tx tx = { .dst = OUR, .sport = 1, .dport = 2 };

	udp_bind(&fx->stk->udp, 5, ANY, 2, 0, 0);
	assert_int_equal(udp_output(fx->stk, &tx, "hi", 2, fx->now), 0);
	assert_int_equal(stack_poll_loopback(fx->stk, 8, fx->now), 1);
	assert_int_equal(fx->stk->evq.n, 1);
	assert_int_equal(fx->stk->evq.ev[0].raddr, OUR);
	assert_int_equal(fx->stk->txq.n, 0);
}

static void test_output_broadcast_also_loops_back(void **state)
{
	struct l3f *fx = *state;
	struct udp_tx tx = { .dst = IPV4_BROADCAST, .sport = 68, .dport = 67 };
	const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t ip[64];

	udp_bind(&fx->stk->udp, 5, ANY, 67, 0, 0);
	assert_int_equal(udp_output(fx->stk, &tx, "dhcp", 4, fx->now), 0);
	assert_int_equal(fx->stk->txq.n, 1);
	l3f_tx_ip(fx, 0, ip, sizeof(ip), bcast, NULL);
	assert_int_equal(stack_poll_loopback(fx->stk, 8, fx->now), 1);
	assert_int_equal(fx->stk->evq.n, 1);
}

static void test_port_unreach_error_reaches_socket(void **state)
{
	struct l3f *fx = *state;

	udp_bind(&fx->stk->udp, 9, ANY, 9999, 0, 0);
	assert_int_equal(udp_icmp_error(fx->stk, OUR, 9999, L3V_REMOTE_IP, 53, -ECONNREFUSED, 0), 0);
	assert_int_equal(udp_icmp_error(fx->stk, OUR, 9998, L3V_REMOTE_IP, 53, -ECONNREFUSED, 0),
			 -ENOENT);
	assert_int_equal(fx->stk->evq.n, 1);
	assert_int_equal(fx->stk->evq.ev[0].type, STACK_EV_ICMP_ERR);
	assert_int_equal(fx->stk->evq.ev[0].sock_id, 9);
	assert_null(fx->stk->evq.ev[0].pkb);
}

#define T(f) cmocka_unit_test_setup_teardown(f, l3f_setup, l3f_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_bind_same_port_conflicts),
		T(test_bind_distinct_addresses_coexist),
		T(test_bind_reuseaddr_needs_both),
		T(test_bind_reuseport_same_uid_only),
		T(test_bind_ephemeral_ports_distinct),
		T(test_bind_table_full_enobufs),
		T(test_input_delivers_payload),
		T(test_input_zero_csum_accepted),
		T(test_input_bad_csum_dropped),
		T(test_input_bad_length_truncated),
		T(test_input_no_socket_port_unreach_matches_scapy),
		T(test_demux_exact_beats_wildcard),
		T(test_demux_reuseaddr_last_bound_wins),
		T(test_demux_reuseport_spreads_flows),
		T(test_broadcast_delivered_to_every_socket),
		T(test_broadcast_no_socket_no_icmp),
		T(test_output_matches_scapy),
		T(test_output_zero_csum_sent_as_ffff),
		T(test_output_rejects_bad_requests),
		T(test_output_loopback_large_chain),
		T(test_output_to_own_address_loops_back),
		T(test_output_broadcast_also_loops_back),
		T(test_port_unreach_error_reaches_socket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
