/* tests/fuzz/fuzz_arp.c — libFuzzer target for ARP: arp_parse on the raw
 * bytes, then the same bytes as an ARP packet into arp_input on a stack
 * (b->data at the ARP header, as eth_input hands it over), several times
 * with the clock moving, so that merges, replies, neighbour state changes
 * and timers all see hostile input. The seed corpus holds scapy's ARP
 * packets (tests/vectors/gen_l2_vectors.py).
 *
 * Each input gets a fresh stack; a leaked or doubly freed buffer traps.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "proto/arp.h"
#include "proto/neigh.h"
#include "proto/stack.h"
#include "tests/support/pkb_fixture.h"

#define FUZZ_T0 1000000000000ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pkb_fixture fx;
static struct stack *stk;

static void drain(void)
{
	for (uint32_t i = 0; i < stk->txq.n; i++)
		pkb_free(stk->cache, stk->txq.pkb[i]);
	stk->txq.n = 0;
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
	const struct stack_config cfg = {
		.mac = { 0x02, 0, 0, 0, 0, 0x01 }, .addr = 0x0a000002u, .prefix_len = 24,
		.gateway = 0x0a000001u, .mtu = 1500,
	};
	struct arp_info a;
	int r;

	if (!stk) {
		stk = calloc(1, sizeof(*stk));
		if (!stk || pkb_fixture_init(&fx, 256, 0) != 0)
			abort();
	}
	r = arp_parse(data, size, &a);
	if (r != 0 && r != -EINVAL && r != -EPROTONOSUPPORT)
		__builtin_trap();   /* outside the documented contract */
	if (stack_init(stk, &cfg, &fx.cache, FUZZ_T0) != 0)
		abort();
	/* the same packet at 0, 1.5, 3 and 4.5 s: learn, retry, fail, expire */
	for (uint64_t k = 0; k < 4; k++) {
		struct pkb *b = pkb_from_bytes(&fx.cache, data, (uint32_t)size);
		uint64_t now = FUZZ_T0 + k * 1500000000ull;

		if (b)
			arp_input(stk, b, now);
		stack_timers(stk, now);
		drain();
	}
	neigh_flush(stk);
	if (pkb_fixture_leaks(&fx) != 0 || pool_misused())
		__builtin_trap();   /* a packet buffer leaked, or was freed twice */
	return 0;
}
