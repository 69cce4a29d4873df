/* tests/unit/test_icmp.c — ICMP (RFC 792, RFC 1122 3.2.2): echo replies
 * checked byte for byte against scapy (small and fragmented), errors matched
 * to UDP sockets, the RFC 1122 "never an error about" rules, and the rate
 * limit's token bucket. Errors about TCP go to TCP (its own cases are in
 * test_tcp_icmp.c; here, that the quote reaches it).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/l3_fixture.h"

#define OUR L3V_OUR_IP
#define PEER L3V_PEER_IP
#define MSEC 1000000ull

/* Rewrite a packet's destination (and fix the header checksum). */
static void with_dst(uint8_t *pkt, const uint8_t *src, uint32_t len, uint32_t dst)
{
	uint16_t sum;

	memcpy(pkt, src, len);
	ipv4_put32(pkt + 16, dst);
	pkt[10] = pkt[11] = 0;
	sum = inet_csum(pkt, 20);
	memcpy(pkt + 10, &sum, 2);
}

static void test_echo_reply_matches_scapy(void **state)
{
	struct l3f *fx = *state;

	l3f_inject(fx, l3v_echo_req_in, sizeof(l3v_echo_req_in));
	assert_int_equal(fx->stk->txq.n, 1);
	l3f_assert_tx(fx, 0, l3v_echo_rep_out, sizeof(l3v_echo_rep_out));
	assert_int_equal(L3F_COUNT(fx, ICMP_IN), 1);
	assert_int_equal(L3F_COUNT(fx, ICMP_OUT), 1);
	assert_int_equal(l3f_total_drops(fx), 0);
}

static void test_echo_fragmented_reply_matches_scapy(void **state)
{
	struct l3f *fx = *state;

	l3f_inject_frags(fx, l3v_frag_ping_in, L3V_FRAG_PING_IN_N);
	assert_int_equal(fx->stk->txq.n, L3V_FRAG_PONG_OUT_N);
	for (unsigned i = 0; i < L3V_FRAG_PONG_OUT_N; i++)
		l3f_assert_tx(fx, i, l3v_frag_pong_out[i].data, l3v_frag_pong_out[i].len);
	assert_int_equal(l3f_total_drops(fx), 0);
}

static void test_echo_to_loopback_answered_by_loopback(void **state)
{
	struct l3f *fx = *state;
	uint8_t req[sizeof(l3v_echo_req_in)];
	struct pkb *b;

	with_dst(req, l3v_echo_req_in, sizeof(req), IPV4_ADDR(127, 0, 0, 1));
	ipv4_put32(req + 12, IPV4_ADDR(127, 0, 0, 1));
	req[10] = req[11] = 0;
	uint16_t sum = inet_csum(req, 20);
	memcpy(req + 10, &sum, 2);
	b = pkb_from_bytes(fx->stk->cache, req, sizeof(req));
	b->port = STACK_IF_LOOPBACK;
	ipv4_input(fx->stk, b, fx->now);
	assert_int_equal(fx->stk->txq.n, 0);
	/* The reply loops back; with no ping sockets it ends as unhandled. */
	assert_int_equal(stack_poll_loopback(fx->stk, 8, fx->now), 1);
	assert_int_equal(L3F_COUNT(fx, ICMP_IN), 2);
	assert_int_equal(L3F_DROPS(fx, ICMP_UNHANDLED), 1);
}

static void test_echo_broadcast_ignored(void **state)
{
	struct l3f *fx = *state;
	uint8_t req[sizeof(l3v_echo_req_in)];

	with_dst(req, l3v_echo_req_in, sizeof(req), IPV4_ADDR(10, 0, 0, 255));
	l3f_inject(fx, req, sizeof(req));
	assert_int_equal(fx->stk->txq.n, 0);
	assert_int_equal(L3F_DROPS(fx, ICMP_BCAST_IGNORED), 1);
}

static void test_echo_bad_csum_and_short_dropped(void **state)
{
	struct l3f *fx = *state;
	uint8_t req[sizeof(l3v_echo_req_in)];

	memcpy(req, l3v_echo_req_in, sizeof(req));
	req[sizeof(req) - 1] ^= 1;
	l3f_inject(fx, req, sizeof(req));
	assert_int_equal(L3F_DROPS(fx, ICMP_BAD_CSUM), 1);
	/* 4 bytes of ICMP: the IP header says 24 in all. */
	memcpy(req, l3v_echo_req_in, 24);
	ipv4_put16(req + 2, 24);
	req[10] = req[11] = 0;
	uint16_t sum = inet_csum(req, 20);
	memcpy(req + 10, &sum, 2);
	l3f_inject(fx, req, 24);
	assert_int_equal(L3F_DROPS(fx, ICMP_TRUNCATED), 1);
	assert_int_equal(fx->stk->txq.n, 0);
}

static void test_error_port_unreach_reaches_socket(void **state)
{
	struct l3f *fx = *state;

	udp_bind(&fx->stk->udp, 42, 0, 9999, 0, 0);
	l3f_inject(fx, l3v_port_unreach_in, sizeof(l3v_port_unreach_in));
	assert_int_equal(fx->stk->evq.n, 1);
	const struct stack_event *ev = &fx->stk->evq.ev[0];
	assert_int_equal(ev->type, STACK_EV_ICMP_ERR);
	assert_int_equal(ev->sock_id, 42);
	assert_int_equal(ev->err, -ECONNREFUSED);
	assert_int_equal(ev->laddr, OUR);
	assert_int_equal(ev->lport, 9999);
	assert_int_equal(ev->raddr, L3V_REMOTE_IP);
	assert_int_equal(ev->rport, 53);
	assert_null(ev->pkb);
	assert_int_equal(l3f_total_drops(fx), 0);
	assert_int_equal(fx->stk->txq.n, 0);        /* never an error about an error */
}

static void test_error_frag_needed_carries_mtu(void **state)
{
	struct l3f *fx = *state;

	udp_bind(&fx->stk->udp, 43, OUR, 9999, 0, 0);
	udp_connect(&fx->stk->udp, 43, 0, L3V_REMOTE_IP, 53);
	l3f_inject(fx, l3v_frag_needed_in, sizeof(l3v_frag_needed_in));
	assert_int_equal(fx->stk->evq.n, 1);
	assert_int_equal(fx->stk->evq.ev[0].sock_id, 43);
	assert_int_equal(fx->stk->evq.ev[0].err, -EMSGSIZE);
	assert_int_equal(fx->stk->evq.ev[0].info, 1400);
}

static void test_error_no_socket_counted(void **state)
{
	struct l3f *fx = *state;

	udp_bind(&fx->stk->udp, 44, 0, 9998, 0, 0);
	l3f_inject(fx, l3v_port_unreach_in, sizeof(l3v_port_unreach_in));
	assert_int_equal(fx->stk->evq.n, 0);
	assert_int_equal(L3F_DROPS(fx, ICMP_ERR_NO_SOCKET), 1);
	assert_int_equal(fx->stk->txq.n, 0);
}

/* Give the stack a small TCP (freed by the caller with free(*mem)). */
static struct tcp_stack *attach_tcp(struct l3f *fx, void **mem)
{
	struct tcp_config cfg;
	size_t bytes;

	tcp_config_default(&cfg);
	cfg.max_conns = 4;
	cfg.sndbuf = cfg.rcvbuf = 4096;
	bytes = tcp_stack_bytes(&cfg);
	*mem = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
	assert_non_null(*mem);
	stack_attach_tcp(fx->stk, tcp_stack_format(*mem, bytes, &cfg, fx->now));
	assert_non_null(fx->stk->tcp);
	return fx->stk->tcp;
}

/* An ICMP error from the remote host about `quoted` (an IP packet of ours:
 * its header and first 8 bytes are quoted, RFC 792). Returns the length. */
static uint32_t icmp_about(uint8_t *pkt, const uint8_t *quoted, uint8_t type, uint8_t code,
			   uint16_t mtu)
{
	uint32_t len = 20 + 8 + 28;
	uint16_t sum;

	memset(pkt, 0, len);
	pkt[0] = 0x45;
	ipv4_put16(pkt + 2, (uint16_t)len);
	pkt[8] = 64;
	pkt[9] = IPV4_PROTO_ICMP;
	ipv4_put32(pkt + 12, L3V_REMOTE_IP);
	ipv4_put32(pkt + 16, OUR);
	sum = inet_csum(pkt, 20);
	memcpy(pkt + 10, &sum, 2);
	pkt[20] = type;
	pkt[21] = code;
	ipv4_put16(pkt + 26, mtu);
	memcpy(pkt + 28, quoted, 28);
	sum = inet_csum(pkt + 20, len - 20);
	memcpy(pkt + 22, &sum, 2);
	return len;
}

/* An error about a TCP datagram for which there is no TCP, or no such
 * connection: counted ICMP_ERR_NO_SOCKET, nothing else happens. */
static void test_error_about_tcp_without_conn_counted_no_socket(void **state)
{
	struct l3f *fx = *state;
	uint8_t pkt[sizeof(l3v_port_unreach_in)];
	uint16_t sum;
	void *mem;

	memcpy(pkt, l3v_port_unreach_in, sizeof(pkt));
	pkt[28 + 9] = IPV4_PROTO_TCP;               /* the quoted datagram was TCP */
	pkt[22] = pkt[23] = 0;
	sum = inet_csum(pkt + 20, sizeof(pkt) - 20);
	memcpy(pkt + 22, &sum, 2);
	udp_bind(&fx->stk->udp, 45, 0, 9999, 0, 0);
	l3f_inject(fx, pkt, sizeof(pkt));
	assert_int_equal(L3F_DROPS(fx, ICMP_ERR_NO_SOCKET), 1);
	attach_tcp(fx, &mem);
	l3f_inject(fx, pkt, sizeof(pkt));
	assert_int_equal(L3F_DROPS(fx, ICMP_ERR_NO_SOCKET), 2);
	assert_int_equal(fx->stk->evq.n, 0);
	free(mem);
}

/* tcp_connect sends a SYN; port unreachable quoting it refuses the connect
 * (an ERROR event, ECONNREFUSED); an error quoting a sequence number not in
 * flight is ignored and shows in the combined drop counters. */
static void test_error_about_tcp_syn_refuses_connect(void **state)
{
	struct l3f *fx = *state;
	uint8_t syn[128], pkt[64];
	struct proto_stats st;
	void *mem;
	struct tcp_stack *ts = attach_tcp(fx, &mem);
	int err = 0, conn = tcp_connect(ts, &fx->stk->tcp_env, OUR, 40000, L3V_REMOTE_IP, 80,
					fx->now);
	uint32_t len = sizeof(err);

	assert_true(conn >= 0);
	assert_int_equal(l3f_ip_frames(fx), 1);
	assert_true(l3f_tx_ip(fx, 0, syn, sizeof(syn), NULL, NULL) >= 40);
	l3f_drain_txq(fx);
	syn[27] ^= 1;                               /* sequence number off by one */
	l3f_inject(fx, pkt, icmp_about(pkt, syn, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0));
	stack_stats_read(fx->stk, &st);
	assert_int_equal(st.drop[PROTO_DROP_TCP_ICMP_OUT_OF_WINDOW], 1);
	assert_int_equal(fx->stk->evq.n, 0);
	syn[27] ^= 1;
	l3f_inject(fx, pkt, icmp_about(pkt, syn, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0));
	assert_int_equal(fx->stk->evq.n, 2);              /* ERROR, then CLOSED */
	assert_int_equal(fx->stk->evq.ev[1].info, TCP_EV_CLOSED);
	assert_int_equal(fx->stk->evq.ev[0].type, STACK_EV_TCP);
	assert_int_equal(fx->stk->evq.ev[0].sock_id, (uint32_t)conn);
	assert_true(fx->stk->evq.ev[0].info & TCP_EV_ERROR);
	assert_int_equal(tcp_getsockopt(ts, (uint32_t)conn, TCP_SOCKOPT_ERROR, &err, &len), 0);
	assert_int_equal(err, -ECONNREFUSED);
	stack_stats_read(fx->stk, &st);
	assert_int_equal(st.drop[PROTO_DROP_ICMP_ERR_NO_SOCKET], 0);
	assert_int_equal(fx->stk->txq.n, 0);
	free(mem);
}

static void test_error_truncated_quote_dropped(void **state)
{
	struct l3f *fx = *state;
	uint8_t pkt[sizeof(l3v_port_unreach_in)];
	uint16_t sum;

	/* Keep 8 + 20 + 4 bytes of ICMP: the quote lacks its 8 data bytes. */
	memcpy(pkt, l3v_port_unreach_in, sizeof(pkt));
	ipv4_put16(pkt + 2, 20 + 32);
	pkt[10] = pkt[11] = 0;
	sum = inet_csum(pkt, 20);
	memcpy(pkt + 10, &sum, 2);
	pkt[22] = pkt[23] = 0;
	sum = inet_csum(pkt + 20, 32);
	memcpy(pkt + 22, &sum, 2);
	l3f_inject(fx, pkt, 20 + 32);
	assert_int_equal(L3F_DROPS(fx, ICMP_TRUNCATED), 1);
}

static void test_no_error_about_non_first_fragment(void **state)
{
	struct l3f *fx = *state;
	struct pkb *b = pkb_from_bytes(fx->stk->cache, l3v_frag_udp_in[1].data,
				       l3v_frag_udp_in[1].len);

	icmp_send_error(fx->stk, b, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, fx->now);
	assert_int_equal(fx->stk->txq.n, 0);
	pkb_free(fx->stk->cache, b);
	b = pkb_from_bytes(fx->stk->cache, l3v_frag_udp_in[0].data, l3v_frag_udp_in[0].len);
	icmp_send_error(fx->stk, b, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, fx->now);
	assert_int_equal(fx->stk->txq.n, 1);       /* the first fragment may be answered */
	pkb_free(fx->stk->cache, b);
}

static void test_no_error_about_broadcast_or_bad_source(void **state)
{
	struct l3f *fx = *state;
	uint8_t pkt[sizeof(l3v_udp_in)];
	const uint32_t dst[] = { IPV4_BROADCAST, IPV4_ADDR(10, 0, 0, 255), IPV4_ADDR(224, 0, 0, 9) };

	for (unsigned i = 0; i < 3; i++) {
		with_dst(pkt, l3v_udp_in, sizeof(pkt), dst[i]);
		struct pkb *b = pkb_from_bytes(fx->stk->cache, pkt, sizeof(pkt));
		icmp_send_error(fx->stk, b, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, fx->now);
		pkb_free(fx->stk->cache, b);
	}
	memcpy(pkt, l3v_udp_in, sizeof(pkt));
	ipv4_put32(pkt + 12, 0);                    /* source 0.0.0.0: not one host */
	struct pkb *b = pkb_from_bytes(fx->stk->cache, pkt, sizeof(pkt));
	icmp_send_error(fx->stk, b, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, fx->now);
	pkb_free(fx->stk->cache, b);
	assert_int_equal(fx->stk->txq.n, 0);
}

static void test_error_quote_capped_at_576(void **state)
{
	struct l3f *fx = *state;
	uint8_t ip[600];

	l3f_inject_frags(fx, l3v_frag_udp_in, L3V_FRAG_UDP_IN_N);   /* no socket on 2222 */
	assert_int_equal(fx->stk->txq.n, 1);
	assert_int_equal(l3f_tx_ip(fx, 0, ip, sizeof(ip), l3f_peer_mac, NULL), 576);
	assert_int_equal(ip[20], ICMP_DEST_UNREACH);
	assert_int_equal(ip[21], ICMP_PORT_UNREACH);
	/* It quotes the whole datagram, header rewritten as scapy's. */
	assert_int_equal(ipv4_get16(ip + 28 + 2), 3028);
	assert_memory_equal(ip + 28, l3v_frag_udp_in_whole, 576 - 28);
}

static void test_ratelimit_bucket_burst_then_rate(void **state)
{
	struct l3f *fx = *state;

	for (unsigned i = 0; i < ICMP_RATE_BURST + 10; i++)
		l3f_inject(fx, l3v_udp_in, sizeof(l3v_udp_in));       /* closed port */
	assert_int_equal(fx->stk->txq.n, ICMP_RATE_BURST);
	assert_int_equal(L3F_DROPS(fx, ICMP_RATELIMIT), 10);
	assert_int_equal(L3F_DROPS(fx, UDP_NO_SOCKET), ICMP_RATE_BURST + 10);
	fx->now += 2 * MSEC;                                        /* two tokens at 1000/s */
	for (unsigned i = 0; i < 3; i++)
		l3f_inject(fx, l3v_udp_in, sizeof(l3v_udp_in));
	assert_int_equal(fx->stk->txq.n, ICMP_RATE_BURST + 2);
	assert_int_equal(L3F_DROPS(fx, ICMP_RATELIMIT), 11);
}

static void test_ratelimit_spares_echo_and_frag_needed(void **state)
{
	struct l3f *fx = *state;
	struct pkb *b;

	fx->stk->icmp.credit = 0;                  /* an empty bucket */
	fx->stk->icmp.last = fx->now;
	l3f_inject(fx, l3v_echo_req_in, sizeof(l3v_echo_req_in));
	b = pkb_from_bytes(fx->stk->cache, l3v_udp_in, sizeof(l3v_udp_in));
	icmp_send_error(fx->stk, b, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, 1280, fx->now);
	icmp_send_error(fx->stk, b, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, fx->now);
	pkb_free(fx->stk->cache, b);
	assert_int_equal(fx->stk->txq.n, 2);
	assert_int_equal(L3F_DROPS(fx, ICMP_RATELIMIT), 1);
}

static void test_errno_table_linux(void **state)
{
	(void)state;
	assert_int_equal(icmp_errno(ICMP_DEST_UNREACH, ICMP_PORT_UNREACH), -ECONNREFUSED);
	assert_int_equal(icmp_errno(ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED), -EMSGSIZE);
	assert_int_equal(icmp_errno(ICMP_DEST_UNREACH, ICMP_HOST_UNREACH), -EHOSTUNREACH);
	assert_int_equal(icmp_errno(ICMP_DEST_UNREACH, ICMP_NET_UNREACH), -ENETUNREACH);
	assert_int_equal(icmp_errno(ICMP_DEST_UNREACH, ICMP_PROT_UNREACH), -ENOPROTOOPT);
	assert_int_equal(icmp_errno(ICMP_DEST_UNREACH, 200), -EHOSTUNREACH);
	assert_int_equal(icmp_errno(ICMP_TIME_EXCEEDED, 0), -EHOSTUNREACH);
	assert_int_equal(icmp_errno(ICMP_PARAMETERPROB, 0), -EPROTO);
	assert_int_equal(icmp_errno(ICMP_ECHO, 0), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, l3f_setup, l3f_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_echo_reply_matches_scapy),
		T(test_echo_fragmented_reply_matches_scapy),
		T(test_echo_to_loopback_answered_by_loopback),
		T(test_echo_broadcast_ignored),
		T(test_echo_bad_csum_and_short_dropped),
		T(test_error_port_unreach_reaches_socket),
		T(test_error_frag_needed_carries_mtu),
		T(test_error_no_socket_counted),
		T(test_error_about_tcp_without_conn_counted_no_socket),
		T(test_error_about_tcp_syn_refuses_connect),
		T(test_error_truncated_quote_dropped),
		T(test_no_error_about_non_first_fragment),
		T(test_no_error_about_broadcast_or_bad_source),
		T(test_error_quote_capped_at_576),
		T(test_ratelimit_bucket_burst_then_rate),
		T(test_ratelimit_spares_echo_and_frag_needed),
		T(test_errno_table_linux),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
