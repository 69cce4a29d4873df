/* tests/fuzz/fuzz_eth.c — libFuzzer target for the link layer as the engine
 * drives it: frames into stack_input (eth_input, arp_input, ipv4_input and
 * what lies behind), IPv4 packets out through eth_output_ipv4 (the neighbour
 * table and its queues), and the clock moving the neighbour timers.
 *
 * Input: one configuration byte (bit 0: VLAN 100, bit 1: promiscuous), then
 * records [op][len hi][len lo][len bytes], at most FUZZ_RECORDS of them:
 *   op % 3 == 0  receive the bytes as a frame
 *   op % 3 == 1  send bytes[4..] as an IPv4 packet to next hop bytes[0..4)
 *   op % 3 == 2  advance the clock by bytes[0] * 50 ms and run the timers
 * The seed corpus (tests/vectors/gen_l2_vectors.py) holds scapy's frames in
 * this form, and two whole resolutions (send, wait, reply / fail).
 *
 * Each input gets a fresh stack; afterwards every buffer must be back in the
 * pool and the pool must have seen no double free (either traps), so the
 * fuzzer finds leaks and misuse as well as memory errors.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/eth.h"
#include "proto/neigh.h"
#include "proto/stack.h"
#include "tests/support/pkb_fixture.h"

#define FUZZ_RECORDS 64
#define FUZZ_T0      1000000000000ull
#define FUZZ_STEP_NS 50000000ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pkb_fixture fx;
static struct stack *stk;

static void drain(void)
{
	stack_poll_loopback(stk, STACK_LOOP_MAX, 0);
	for (uint32_t i = 0; i < stk->txq.n; i++)
		pkb_free(stk->cache, stk->txq.pkb[i]);
	stk->txq.n = 0;
	for (uint32_t i = 0; i < stk->evq.n; i++)
		pkb_free(stk->cache, stk->evq.ev[i].pkb);
	stk->evq.n = 0;
}

static void run_record(uint8_t op, const uint8_t *p, size_t len, uint64_t *now)
{
	struct pkb *b;

	switch (op % 3) {
	case 0:
		b = pkb_from_bytes(&fx.cache, p, (uint32_t)len);
		if (b)
			stack_input(stk, b, *now);
		break;
	case 1:
		if (len < 4)
			break;
		b = pkb_from_bytes(&fx.cache, p + 4, (uint32_t)len - 4);
		if (b)
			eth_output_ipv4(stk, b, (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3],
					STACK_IF_ETH, *now);
		break;
	default:
		*now += (len ? p[0] : 1) * FUZZ_STEP_NS;
		stack_timers(stk, *now);
		break;
	}
	drain();
}

/* Double frees and uses after free are counted, not fatal, in the pool
 * (PKB_DEBUG): turn them into findings. */
static int pool_misused(void)
{
	struct pkb_pool_stats ps;

	pkb_pool_stats(&fx.pool, &ps);
	return ps.double_free || ps.use_after_free || ps.bad_index;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stack_config cfg = {
		.mac = { 0x02, 0, 0, 0, 0, 0x01 }, .addr = 0x0a000002u, .prefix_len = 24,
		.gateway = 0x0a000001u, .mtu = 1500,
	};
	uint64_t now = FUZZ_T0;

	if (!stk) {
		stk = calloc(1, sizeof(*stk));
		if (!stk || pkb_fixture_init(&fx, 512, 0) != 0)
			abort();
	}
	if (size < 1)
		return 0;
	cfg.vlan_id = data[0] & 1 ? 100 : 0;
	cfg.promisc = data[0] & 2;
	if (stack_init(stk, &cfg, &fx.cache, now) != 0)
		abort();
	for (size_t at = 1, n = 0; at + 3 <= size && n < FUZZ_RECORDS; n++) {
		size_t len = (size_t)data[at + 1] << 8 | data[at + 2];

		if (len > size - at - 3)
			len = size - at - 3;
		run_record(data[at], data + at + 3, len, &now);
		at += 3 + len;
	}
	ip_reasm_flush(stk);   /* fragments still waiting for their datagram */
	drain();
	neigh_flush(stk);
	if (pkb_fixture_leaks(&fx) != 0 || pool_misused())
		__builtin_trap();   /* a packet buffer leaked, or was freed twice */
	return 0;
}
