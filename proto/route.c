/* proto/route.c — longest-prefix-match routing and the local address set.
 *
 * Where it sits: ipv4_input asks whether a destination is ours (local or
 * broadcast); ipv4_output asks for the route to a destination; arp_input asks
 * which addresses to answer for. A host has few routes, so the table is a
 * sorted array: longest prefix first, the first match wins, and a lookup is
 * a short linear scan with no allocation (RFC 1812 5.2.4.3's longest match).
 */
#include "proto/route.h"

#include <errno.h>
#include <string.h>

#include "proto/stack.h"

#define ROUTE_LOOPBACK_NET  0x7f000000u   /* 127.0.0.0/8, RFC 1122 3.2.1.3 (g) */
#define ROUTE_LOOPBACK_ADDR 0x7f000001u
#define ROUTE_MTU_MIN       68u           /* RFC 791: every host takes 68 bytes */
#define ROUTE_ETH_MTU       1500u

_Static_assert(ROUTE_IF_LOOPBACK == STACK_IF_LOOPBACK, "one loopback ifindex");
_Static_assert(STACK_IF_ETH < ROUTE_IF_MAX, "the device fits the interface table");

static uint32_t route_mask(uint8_t len)
{
	return len ? 0xffffffffu << (32 - len) : 0;
}

void route_init(struct route_table *rt)
{
	const struct route lo = {
		.prefix = ROUTE_LOOPBACK_NET, .len = 8, .ifindex = ROUTE_IF_LOOPBACK,
		.src = ROUTE_LOOPBACK_ADDR,
	};

	memset(rt, 0, sizeof(*rt));
	for (unsigned i = 0; i < ROUTE_IF_MAX; i++)
		rt->if_mtu[i] = ROUTE_ETH_MTU;
	rt->if_mtu[ROUTE_IF_LOOPBACK] = ROUTE_LOOPBACK_MTU;
	(void)route_add(rt, &lo);   /* an empty table has room */
}

int route_set_if_mtu(struct route_table *rt, unsigned ifindex, uint16_t mtu)
{
	if (ifindex >= ROUTE_IF_MAX || mtu < ROUTE_MTU_MIN)
		return -EINVAL;
	rt->if_mtu[ifindex] = mtu;
	return 0;
}

const struct route *route_lookup(const struct route_table *rt, uint32_t dst)
{
	for (uint32_t i = 0; i < rt->n && i < ROUTE_MAX; i++) {
		const struct route *r = &rt->r[i];

		if ((dst & route_mask(r->len)) == r->prefix)
			return r;
	}
	return NULL;
}

static int route_find(const struct route_table *rt, uint32_t prefix, uint8_t len)
{
	for (uint32_t i = 0; i < rt->n && i < ROUTE_MAX; i++) {
		if (rt->r[i].prefix == prefix && rt->r[i].len == len)
			return (int)i;
	}
	return -1;
}

int route_add(struct route_table *rt, const struct route *r)
{
	uint32_t pos = 0;

	if (r->len > 32 || (r->prefix & ~route_mask(r->len)) || r->ifindex >= ROUTE_IF_MAX)
		return -EINVAL;
	if (route_find(rt, r->prefix, r->len) >= 0)
		return -EEXIST;
	if (rt->n >= ROUTE_MAX)
		return -ENOSPC;
	while (pos < rt->n && rt->r[pos].len >= r->len)   /* after equal lengths */
		pos++;
	memmove(&rt->r[pos + 1], &rt->r[pos], (rt->n - pos) * sizeof(rt->r[0]));
	rt->r[pos] = *r;
	if (rt->r[pos].mtu == 0)
		rt->r[pos].mtu = rt->if_mtu[r->ifindex];
	rt->n++;
	return 0;
}

int route_del(struct route_table *rt, uint32_t prefix, uint8_t len)
{
	int i = route_find(rt, prefix, len);

	if (i < 0)
		return -ENOENT;
	memmove(&rt->r[i], &rt->r[i + 1], (rt->n - (uint32_t)i - 1) * sizeof(rt->r[0]));
	rt->n--;
	return 0;
}

static int route_addr_find(const struct route_table *rt, uint32_t addr)
{
	for (uint32_t i = 0; i < rt->naddr && i < ROUTE_ADDR_MAX; i++) {
		if (rt->addr[i].addr == addr)
			return (int)i;
	}
	return -1;
}

/* The routes an address brings: its connected subnet on ifindex (none for a
 * /32) and a host route through loopback (Linux's local table). Fills
 * out[] with the ones not present yet; returns how many. */
static unsigned route_addr_routes(const struct route_table *rt, uint32_t addr,
				  uint8_t plen, unsigned ifindex, struct route out[2])
{
	unsigned n = 0;
	uint32_t net = addr & route_mask(plen);

	if (plen < 32 && route_find(rt, net, plen) < 0)
		out[n++] = (struct route){ .prefix = net, .len = plen,
					   .ifindex = (uint8_t)ifindex, .src = addr };
	if (route_find(rt, addr, 32) < 0)
		out[n++] = (struct route){ .prefix = addr, .len = 32,
					   .ifindex = ROUTE_IF_LOOPBACK, .src = addr };
	return n;
}

int route_addr_add(struct route_table *rt, uint32_t addr, uint8_t prefix_len,
		   unsigned ifindex)
{
	struct route add[2];
	unsigned n;

	if (addr == 0 || prefix_len > 32 || ifindex >= ROUTE_IF_MAX ||
	    (addr >> 28) == 0xe || addr == 0xffffffffu)
		return -EINVAL;
	if (route_is_local(rt, addr))
		return -EEXIST;
	n = route_addr_routes(rt, addr, prefix_len, ifindex, add);
	if (rt->naddr >= ROUTE_ADDR_MAX || rt->n + n > ROUTE_MAX)
		return -ENOSPC;   /* checked first: all or nothing */
	for (unsigned i = 0; i < n; i++)
		(void)route_add(rt, &add[i]);
	rt->addr[rt->naddr++] = (struct route_addr){ .addr = addr, .prefix_len = prefix_len,
						     .ifindex = (uint8_t)ifindex };
	return 0;
}

bool route_is_local(const struct route_table *rt, uint32_t addr)
{
	return (addr >> 24) == (ROUTE_LOOPBACK_NET >> 24) || route_addr_find(rt, addr) >= 0;
}

bool route_is_local_on(const struct route_table *rt, uint32_t addr, unsigned ifindex)
{
	int i = route_addr_find(rt, addr);

	return i >= 0 && rt->addr[i].ifindex == ifindex;
}

bool route_is_broadcast(const struct route_table *rt, uint32_t addr)
{
	if (addr == 0xffffffffu)
		return true;
	for (uint32_t i = 0; i < rt->naddr && i < ROUTE_ADDR_MAX; i++) {
		const struct route_addr *a = &rt->addr[i];

		if (a->prefix_len <= 30 && addr == (a->addr | ~route_mask(a->prefix_len)))
			return true;
	}
	return false;
}
