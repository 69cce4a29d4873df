/* tests/unit/test_route.c — the routing table (proto/route.c): longest-prefix
 * match against a brute-force oracle, connected/host/loopback routes, the
 * local-address set, broadcast recognition and the error contract. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/route.h"
#include "proto/stack.h"

#define A(a, b, c, d) IPV4_ADDR(a, b, c, d)

static struct route_table rt;

static int setup(void **state)
{
	(void)state;
	route_init(&rt);
	return 0;
}

static int add(uint32_t prefix, uint8_t len, uint32_t gw, uint8_t ifindex)
{
	struct route r = { .prefix = prefix, .len = len, .gateway = gw, .ifindex = ifindex };

	return route_add(&rt, &r);
}

static void test_route_lookup_longest_prefix_wins(void **state)
{
	(void)state;
	assert_int_equal(add(0, 0, A(192, 0, 2, 1), STACK_IF_ETH), 0);
	assert_int_equal(add(A(10, 1, 2, 0), 24, A(192, 0, 2, 4), STACK_IF_ETH), 0);
	assert_int_equal(add(A(10, 0, 0, 0), 8, A(192, 0, 2, 2), STACK_IF_ETH), 0);
	assert_int_equal(add(A(10, 1, 0, 0), 16, A(192, 0, 2, 3), STACK_IF_ETH), 0);
	assert_int_equal(route_lookup(&rt, A(10, 1, 2, 9))->gateway, A(192, 0, 2, 4));
	assert_int_equal(route_lookup(&rt, A(10, 1, 3, 9))->gateway, A(192, 0, 2, 3));
	assert_int_equal(route_lookup(&rt, A(10, 2, 3, 9))->gateway, A(192, 0, 2, 2));
	assert_int_equal(route_lookup(&rt, A(8, 8, 8, 8))->gateway, A(192, 0, 2, 1));
	assert_int_equal(route_lookup(&rt, A(8, 8, 8, 8))->mtu, 1500);
}

static void test_route_empty_table_has_no_route(void **state)
{
	(void)state;
	assert_null(route_lookup(&rt, A(8, 8, 8, 8)));
}

static void test_route_loopback_net_always_local(void **state)
{
	const struct route *r = route_lookup(&rt, A(127, 5, 6, 7));

	(void)state;
	assert_non_null(r);
	assert_int_equal(r->ifindex, STACK_IF_LOOPBACK);
	assert_int_equal(r->mtu, ROUTE_LOOPBACK_MTU);
	assert_true(route_is_local(&rt, A(127, 0, 0, 1)));
	assert_true(route_is_local(&rt, A(127, 255, 0, 9)));
	assert_false(route_is_local_on(&rt, A(127, 0, 0, 1), STACK_IF_LOOPBACK));
	assert_false(route_is_local(&rt, A(128, 0, 0, 1)));
}

static void test_route_addr_add_adds_connected_and_host_routes(void **state)
{
	const struct route *r;

	(void)state;
	assert_int_equal(route_set_if_mtu(&rt, STACK_IF_ETH, 9000), 0);
	assert_int_equal(route_addr_add(&rt, A(10, 0, 0, 2), 24, STACK_IF_ETH), 0);
	r = route_lookup(&rt, A(10, 0, 0, 7));
	assert_non_null(r);
	assert_int_equal(r->ifindex, STACK_IF_ETH);
	assert_int_equal(r->gateway, 0);
	assert_int_equal(r->src, A(10, 0, 0, 2));
	assert_int_equal(r->mtu, 9000);
	r = route_lookup(&rt, A(10, 0, 0, 2));   /* ourselves: through loopback */
	assert_int_equal(r->ifindex, STACK_IF_LOOPBACK);
	assert_int_equal(r->len, 32);
	assert_true(route_is_local(&rt, A(10, 0, 0, 2)));
	assert_true(route_is_local_on(&rt, A(10, 0, 0, 2), STACK_IF_ETH));
	assert_false(route_is_local(&rt, A(10, 0, 0, 3)));
	assert_int_equal(route_addr_add(&rt, A(10, 0, 0, 2), 24, STACK_IF_ETH), -EEXIST);
	/* a second address in the same subnet shares the connected route */
	assert_int_equal(route_addr_add(&rt, A(10, 0, 0, 9), 24, STACK_IF_ETH), 0);
	assert_int_equal(rt.n, 4);   /* 127/8, 10.0.0.0/24, two /32 */
}

static void test_route_add_rejects_bad_duplicate_and_overflow(void **state)
{
	(void)state;
	assert_int_equal(add(A(10, 0, 0, 1), 24, 0, STACK_IF_ETH), -EINVAL);  /* host bits */
	assert_int_equal(add(0, 33, 0, STACK_IF_ETH), -EINVAL);
	assert_int_equal(add(A(10, 0, 0, 0), 24, 0, ROUTE_IF_MAX), -EINVAL);
	assert_int_equal(add(A(10, 0, 0, 0), 24, 0, STACK_IF_ETH), 0);
	assert_int_equal(add(A(10, 0, 0, 0), 24, 0, STACK_IF_ETH), -EEXIST);
	for (uint32_t i = rt.n; i < ROUTE_MAX; i++)
		assert_int_equal(add(A(20, 0, (uint8_t)i, 0), 24, 0, STACK_IF_ETH), 0);
	assert_int_equal(add(A(30, 0, 0, 0), 24, 0, STACK_IF_ETH), -ENOSPC);
	assert_int_equal(route_set_if_mtu(&rt, STACK_IF_ETH, 67), -EINVAL);
	assert_int_equal(route_set_if_mtu(&rt, ROUTE_IF_MAX, 1500), -EINVAL);
}

static void test_route_addr_add_when_full_adds_nothing(void **state)
{
	(void)state;
	for (uint32_t i = rt.n; i < ROUTE_MAX - 1; i++)
		assert_int_equal(add(A(20, 0, (uint8_t)i, 0), 24, 0, STACK_IF_ETH), 0);
	/* needs two routes (connected + host), one is free */
	assert_int_equal(route_addr_add(&rt, A(10, 0, 0, 2), 24, STACK_IF_ETH), -ENOSPC);
	assert_false(route_is_local(&rt, A(10, 0, 0, 2)));
	assert_int_equal(rt.n, ROUTE_MAX - 1);
	/* a /32 needs only the host route */
	assert_int_equal(route_addr_add(&rt, A(10, 0, 0, 2), 32, STACK_IF_ETH), 0);
	assert_int_equal(route_addr_add(&rt, 0, 24, STACK_IF_ETH), -EINVAL);
	assert_int_equal(route_addr_add(&rt, A(224, 0, 0, 1), 24, STACK_IF_ETH), -EINVAL);
}

static void test_route_del_removes_and_reports_missing(void **state)
{
	(void)state;
	assert_int_equal(add(A(10, 0, 0, 0), 8, A(1, 1, 1, 1), STACK_IF_ETH), 0);
	assert_int_equal(add(A(10, 1, 0, 0), 16, A(2, 2, 2, 2), STACK_IF_ETH), 0);
	assert_int_equal(route_del(&rt, A(10, 1, 0, 0), 16), 0);
	assert_int_equal(route_lookup(&rt, A(10, 1, 1, 1))->gateway, A(1, 1, 1, 1));
	assert_int_equal(route_del(&rt, A(10, 1, 0, 0), 16), -ENOENT);
	assert_int_equal(route_del(&rt, A(10, 0, 0, 0), 16), -ENOENT);
}

static void test_route_broadcast_limited_and_directed(void **state)
{
	(void)state;
	assert_true(route_is_broadcast(&rt, 0xffffffffu));
	assert_int_equal(route_addr_add(&rt, A(10, 0, 0, 2), 24, STACK_IF_ETH), 0);
	assert_int_equal(route_addr_add(&rt, A(192, 0, 2, 0), 31, STACK_IF_ETH), 0);
	assert_true(route_is_broadcast(&rt, A(10, 0, 0, 255)));
	assert_false(route_is_broadcast(&rt, A(10, 0, 0, 254)));
	assert_false(route_is_broadcast(&rt, A(10, 0, 1, 255)));
	assert_false(route_is_broadcast(&rt, A(192, 0, 2, 1)));   /* RFC 3021 /31 */
}

/* Longest match by brute force: the oracle for the property test. */
static int oracle(const struct route *rs, unsigned n, uint32_t dst)
{
	int best = -1;

	for (unsigned i = 0; i < n; i++) {
		uint32_t m = rs[i].len ? 0xffffffffu << (32 - rs[i].len) : 0;

		if ((dst & m) == rs[i].prefix && (best < 0 || rs[i].len > rs[best].len))
			best = (int)i;
	}
	return best;
}

static void test_route_lookup_matches_bruteforce(void **state)
{
	struct route rs[ROUTE_MAX];
	unsigned n = 0;

	(void)state;
	srand(5);
	rt.n = 0;   /* no loopback route: the oracle does not know it */
	while (n < ROUTE_MAX) {
		uint8_t len = (uint8_t)(rand() % 33);
		uint32_t m = len ? 0xffffffffu << (32 - len) : 0;
		/* few distinct high bits, so that prefixes nest */
		struct route r = { .prefix = ((uint32_t)rand() << 4 & 0x0f0f0f0fu) & m, .len = len,
				   .gateway = n + 1, .ifindex = STACK_IF_ETH };

		if (route_add(&rt, &r) == 0)
			rs[n++] = r;
	}
	for (unsigned k = 0; k < 20000; k++) {
		uint32_t dst = (uint32_t)rand() << 4 & 0x0f0f0f0fu;
		int want = oracle(rs, n, dst);
		const struct route *got = route_lookup(&rt, dst);

		if (want < 0) {
			assert_null(got);
			continue;
		}
		assert_non_null(got);
		assert_int_equal(got->gateway, rs[want].gateway);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_route_lookup_longest_prefix_wins, setup),
		cmocka_unit_test_setup(test_route_empty_table_has_no_route, setup),
		cmocka_unit_test_setup(test_route_loopback_net_always_local, setup),
		cmocka_unit_test_setup(test_route_addr_add_adds_connected_and_host_routes, setup),
		cmocka_unit_test_setup(test_route_add_rejects_bad_duplicate_and_overflow, setup),
		cmocka_unit_test_setup(test_route_addr_add_when_full_adds_nothing, setup),
		cmocka_unit_test_setup(test_route_del_removes_and_reports_missing, setup),
		cmocka_unit_test_setup(test_route_broadcast_limited_and_directed, setup),
		cmocka_unit_test_setup(test_route_lookup_matches_bruteforce, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
