/* tests/fuzz/fuzz_icmp.c — libFuzzer target for ICMP: the input is an ICMP
 * message that the harness wraps in a valid IPv4 header (and, if asked,
 * gives a valid ICMP checksum), so that every input reaches icmp_input:
 * echo replies, errors whose quoted datagram is matched to UDP sockets,
 * and the unhandled types. The wrapped packet is then used as the offending
 * datagram of icmp_send_error, whose RFC 1122 rules and quoting it stresses.
 *
 * Input: flags(1) then the ICMP bytes.
 *   bit 0     fix the ICMP checksum
 *   bit 1     send to the subnet broadcast instead of our address
 *   bits 2-7  advance the clock by that many ms (rate limit refills)
 * One stack lives across inputs (the rate limiter's state carries over);
 * after each input everything is drained and a leaked buffer traps.
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
static uint64_t now = FUZZ_T0;
static uint8_t pkt[65536];

static void setup(void)
{
	const struct stack_config cfg = {
		.mac = { 0x02, 0, 0, 0, 0, 0x01 }, .addr = OUR, .prefix_len = 24,
		.gateway = PEER, .mtu = 1500, .secret = { 5, 6 },
	};

	stk = calloc(1, sizeof(*stk));
	if (!stk || pkb_fixture_init(&fx, 1024, 0) != 0 || stack_init(stk, &cfg, &fx.cache, now) != 0)
		abort();
	udp_bind(&stk->udp, 1, 0, 9999, 0, 0);
	udp_bind(&stk->udp, 2, OUR, 53, 0, 0);
	udp_connect(&stk->udp, 2, 0, 0xc0000207u, 53);
}

static void drain(void)
{
	for (unsigned k = 0; k < 4 && stack_poll_loopback(stk, 64, now) > 0; k++)
		;
	for (uint32_t i = 0; i < stk->txq.n; i++)
		pkb_free(stk->cache, stk->txq.pkb[i]);
	stk->txq.n = 0;
	for (uint32_t i = 0; i < stk->evq.n; i++)
		pkb_free(stk->cache, stk->evq.ev[i].pkb);
	stk->evq.n = 0;
}

static void ip_wrap(uint32_t dst, uint32_t len)
{
	uint16_t sum;

	memset(pkt, 0, 20);
	pkt[0] = 0x45;
	ipv4_put16(pkt + 2, (uint16_t)(20 + len));
	pkt[8] = 64;
	pkt[9] = IPV4_PROTO_ICMP;
	ipv4_put32(pkt + 12, PEER);
	ipv4_put32(pkt + 16, dst);
	sum = inet_csum(pkt, 20);
	memcpy(pkt + 10, &sum, 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t len;
	uint8_t flags;
	struct pkb *b;

	if (size < 1 || size - 1 > sizeof(pkt) - 20)
		return 0;
	if (!stk)
		setup();
	flags = data[0];
	len = (uint32_t)size - 1;
	now += (uint64_t)(flags >> 2) * 1000000u;
	memcpy(pkt + 20, data + 1, len);
	ip_wrap(flags & 2 ? 0x0a0000ffu : OUR, len);
	if ((flags & 1) && len >= 4) {
		uint16_t sum;

		pkt[22] = pkt[23] = 0;
		sum = inet_csum(pkt + 20, len);
		memcpy(pkt + 22, &sum, 2);
	}
	if ((b = pkb_from_bytes(&fx.cache, pkt, 20 + len))) {
		b->port = STACK_IF_ETH;
		ipv4_input(stk, b, now);
	}
	drain();
	if ((b = pkb_from_bytes(&fx.cache, pkt, 20 + len))) {
		icmp_send_error(stk, b, data[0] % 19, len ? data[1] : 0, 1400, now);
		pkb_free(&fx.cache, b);
	}
	neigh_flush(stk);
	drain();
	if (pkb_fixture_leaks(&fx) != 0)
		__builtin_trap();
	return 0;
}
