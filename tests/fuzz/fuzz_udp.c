/* tests/fuzz/fuzz_udp.c — libFuzzer target for UDP: the input is a UDP
 * header and payload that the harness wraps in a valid IPv4 header, so that
 * every input reaches udp_input (length and checksum checks, demux over a
 * table with wildcard, exact, connected, SO_REUSEADDR and SO_REUSEPORT
 * sockets, broadcast delivery, port unreachable). The same bytes are then
 * sent with udp_output (to the peer, to ourselves, fragmented) and the
 * looped-back copies received again.
 *
 * Input: flags(1) then the UDP bytes.
 *   bit 0     fix the UDP checksum (else it is whatever the input says)
 *   bits 1-2  destination: our address, subnet broadcast, 255.255.255.255,
 *             127.0.0.1 (arriving on loopback)
 * Each input gets a fresh stack; a leaked packet buffer traps.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/csum.h"
#include "proto/stack.h"
#include "tests/support/pkb_fixture.h"

#define FUZZ_T0 1000000000000ull
#define OUR     0x0a000002u
#define PEER    0x0a000001u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pkb_fixture fx;
static struct stack *stk;
static uint8_t pkt[65536];

static void setup_stack(void)
{
	const struct stack_config cfg = {
		.mac = { 0x02, 0, 0, 0, 0, 0x01 }, .addr = OUR, .prefix_len = 24,
		.gateway = PEER, .mtu = 1500, .secret = { 3, 4 },
	};
	struct udp_table *t;

	if (!stk && (!(stk = calloc(1, sizeof(*stk))) || pkb_fixture_init(&fx, 1024, 0) != 0))
		abort();
	if (stack_init(stk, &cfg, &fx.cache, FUZZ_T0) != 0)
		abort();
	t = &stk->udp;
	udp_bind(t, 1, 0, 9999, UDP_F_REUSEADDR, 0);
	udp_bind(t, 2, OUR, 9999, UDP_F_REUSEADDR, 0);
	udp_bind(t, 3, 0, 9999, UDP_F_REUSEADDR, 0);
	udp_connect(t, 3, OUR, PEER, 40000);
	udp_bind(t, 4, 0, 67, UDP_F_REUSEADDR, 0);
	udp_bind(t, 5, 0, 67, UDP_F_REUSEADDR, 0);
	for (uint32_t i = 0; i < 4; i++)
		udp_bind(t, 10 + i, 0, 8000, UDP_F_REUSEPORT, 1000);
	udp_bind(t, 20, 0x7f000001u, 53, 0, 0);
}

static void drain(void)
{
	for (unsigned k = 0; k < 4 && stack_poll_loopback(stk, 64, FUZZ_T0) > 0; k++)
		;
	for (uint32_t i = 0; i < stk->txq.n; i++)
		pkb_free(stk->cache, stk->txq.pkb[i]);
	stk->txq.n = 0;
	for (uint32_t i = 0; i < stk->evq.n; i++)
		pkb_free(stk->cache, stk->evq.ev[i].pkb);
	stk->evq.n = 0;
}

/* An IPv4 header for len bytes of UDP, src -> dst, valid checksum. */
static void ip_wrap(uint32_t src, uint32_t dst, uint32_t len)
{
	uint16_t sum;

	memset(pkt, 0, 20);
	pkt[0] = 0x45;
	ipv4_put16(pkt + 2, (uint16_t)(20 + len));
	pkt[8] = 64;
	pkt[9] = IPV4_PROTO_UDP;
	ipv4_put32(pkt + 12, src);
	ipv4_put32(pkt + 16, dst);
	sum = inet_csum(pkt, 20);
	memcpy(pkt + 10, &sum, 2);
}

static void fix_udp_csum(uint32_t src, uint32_t dst, uint32_t len)
{
	uint16_t sum;

	if (len < 8)
		return;
	pkt[26] = pkt[27] = 0;
	sum = csum_fold(csum_partial(pkt + 20, len, csum_pseudo_ipv4(src, dst, 17, (uint16_t)len)));
	memcpy(pkt + 26, &sum, 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t dsts[4] = { OUR, 0x0a0000ffu, 0xffffffffu, 0x7f000001u };
	uint8_t flags;
	uint32_t len, src, dst;
	struct pkb *b;

	if (size < 1 || size - 1 > sizeof(pkt) - 20)
		return 0;
	flags = data[0];
	len = (uint32_t)size - 1;
	dst = dsts[(flags >> 1) & 3];
	src = dst == 0x7f000001u ? dst : PEER;
	setup_stack();
	memcpy(pkt + 20, data + 1, len);
	ip_wrap(src, dst, len);
	if (flags & 1)
		fix_udp_csum(src, dst, len);
	if ((b = pkb_from_bytes(&fx.cache, pkt, 20 + len))) {
		b->port = src == dst ? STACK_IF_LOOPBACK : STACK_IF_ETH;
		ipv4_input(stk, b, FUZZ_T0);
	}
	drain();
	if (len >= 4) {
		struct udp_tx tx = { .dst = dsts[flags >> 6 & 3], .sport = ipv4_get16(data + 1),
				     .dport = ipv4_get16(data + 3), .df = (flags & 0x20) != 0 };

		udp_output(stk, &tx, data + 1, len, FUZZ_T0);
		drain();
	}
	ip_reasm_flush(stk);
	neigh_flush(stk);
	drain();
	if (pkb_fixture_leaks(&fx) != 0)
		__builtin_trap();
	return 0;
}
