/* tests/unit/l2_fixture.h — the fixture test_eth and test_arp share: a
 * whole stack (stack_init, 10.0.0.2/24 by the scapy vectors' addresses) on
 * a heap pkb pool, a fake clock, frame injection, and a teardown that gives
 * back everything the stack holds (stack_flush) and asserts that no buffer
 * leaked and, in PKB_DEBUG builds, none was misused.
 *
 * Header-only (static functions): each test file is its own binary.
 * Include after <cmocka.h>.
 */
#ifndef RINGSTACK_TESTS_L2_FIXTURE_H
#define RINGSTACK_TESTS_L2_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "proto/stack.h"
#include "shm/pkb.h"
#include "tests/support/pkb_fixture.h"
#include "tests/vectors/l2_vectors.h"

#define T0  1000000000000ull   /* the fake clock starts at 1000 s */
#define SEC 1000000000ull

static const uint8_t our_mac[6] = L2V_OUR_MAC, peer_mac[6] = L2V_PEER_MAC;

struct l2fx {
	struct pkb_fixture *pf;
	struct stack *stk;
};

static inline int fx_setup(void **state, uint16_t vlan, bool promisc)
{
	struct stack_config cfg = {
		.mac = L2V_OUR_MAC, .addr = L2V_OUR_IP, .prefix_len = 24,
		.gateway = L2V_PEER_IP, .mtu = 1500, .vlan_id = vlan, .promisc = promisc,
	};
	struct l2fx *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	fx->pf = pkb_fixture_new(512, 0);
	fx->stk = calloc(1, sizeof(*fx->stk));
	*state = fx;
	if (!fx->pf || !fx->stk)
		return -1;
	return stack_init(fx->stk, &cfg, &fx->pf->cache, T0) == 0 ? 0 : -1;
}

static inline int setup(void **state) { return fx_setup(state, 0, false); }
static inline int setup_vlan(void **state) { return fx_setup(state, L2V_VLAN, false); }
static inline int setup_promisc(void **state) { return fx_setup(state, 0, true); }

static inline void txq_clear(struct stack *stk)
{
	for (uint32_t i = 0; i < stk->txq.n; i++)
		pkb_free(stk->cache, stk->txq.pkb[i]);
	stk->txq.n = 0;
}

static inline int teardown(void **state)
{
	struct l2fx *fx = *state;
	uint32_t leaks = 0;
	uint64_t misuse = 0;

	if (fx && fx->stk && fx->pf) {
		struct pkb_pool_stats ps;

		stack_flush(fx->stk);
		leaks = pkb_fixture_leaks(fx->pf);
		pkb_pool_stats(&fx->pf->pool, &ps);
		misuse = ps.double_free + ps.use_after_free + ps.bad_index;
	}
	if (fx)
		pkb_fixture_destroy(fx->pf);
	free(fx ? fx->stk : NULL);
	free(fx);
	assert_int_equal(leaks, 0);
	assert_int_equal(misuse, 0);   /* double frees etc. (counted in PKB_DEBUG builds) */
	return 0;
}

static inline void inject(struct l2fx *fx, const uint8_t *frame, size_t len, uint64_t now)
{
	struct pkb *b = pkb_from_bytes(&fx->pf->cache, frame, (uint32_t)len);

	assert_non_null(b);
	stack_input(fx->stk, b, now);
}

static inline uint64_t drops(const struct l2fx *fx, enum proto_drop reason)
{
	return fx->stk->stats.drop[reason];
}

#endif /* RINGSTACK_TESTS_L2_FIXTURE_H */
