/* proto/route.h — the IPv4 routing table (longest-prefix match) and the set
 * of local addresses.
 *
 * Where it sits: ipv4_input asks route_is_local / route_is_broadcast whether a
 * packet is for us; ipv4_output asks route_lookup for the interface, next hop,
 * MTU and source address, then hands the packet to eth_output_ipv4.
 *
 * Like Linux's local and main tables in one: route_addr_add puts an address
 * in the local set and adds its connected route plus a /32 host route through
 * the loopback interface, so that sending to our own address loops back.
 * 127.0.0.0/8 is always local and routed through loopback (RFC 1122 3.2.1.3).
 * Routes are kept sorted by prefix length, longest first, so the first match
 * is the longest. Addresses are host order.
 */
#ifndef RINGSTACK_PROTO_ROUTE_H
#define RINGSTACK_PROTO_ROUTE_H

#include <stdbool.h>
#include <stdint.h>

#define ROUTE_MAX       64u    /* routes */
#define ROUTE_ADDR_MAX  16u    /* local addresses */
#define ROUTE_IF_MAX    4u     /* interfaces (ifindex < ROUTE_IF_MAX) */
#define ROUTE_IF_LOOPBACK 0u   /* == STACK_IF_LOOPBACK */
#define ROUTE_LOOPBACK_MTU 65535u

struct route {
	uint32_t prefix;       /* network, host bits zero */
	uint8_t len;           /* prefix length 0..32 */
	uint32_t gateway;      /* next hop, 0 for on-link (connected) */
	uint8_t ifindex;       /* enum stack_ifindex */
	uint16_t mtu;          /* 0 when added: the interface's MTU is filled in */
	uint32_t src;          /* preferred source address, 0: pick a local one */
};

struct route_addr {
	uint32_t addr;
	uint8_t prefix_len;
	uint8_t ifindex;
};

struct route_table {
	uint32_t n;                              /* routes in r[] */
	uint32_t naddr;                          /* addresses in addr[] */
	uint16_t if_mtu[ROUTE_IF_MAX];           /* per-interface MTU */
	struct route r[ROUTE_MAX];               /* sorted by len, longest first */
	struct route_addr addr[ROUTE_ADDR_MAX];
};

/* Empty table with the loopback route 127.0.0.0/8 and interface MTUs of
 * ROUTE_LOOPBACK_MTU (loopback) and 1500 (others). */
void route_init(struct route_table *rt);

/* Set an interface's MTU (used by routes added afterwards with mtu 0).
 * Returns 0 or -EINVAL (bad ifindex, mtu < 68: RFC 791's minimum). */
int route_set_if_mtu(struct route_table *rt, unsigned ifindex, uint16_t mtu);

/* The longest-prefix route for dst, or NULL (no route). */
const struct route *route_lookup(const struct route_table *rt, uint32_t dst);

/* Add a route (copied). Returns 0; -EINVAL (len > 32, host bits set in prefix,
 * bad ifindex); -EEXIST (same prefix/len present); -ENOSPC (table full). */
int route_add(struct route_table *rt, const struct route *r);

/* Remove the route prefix/len. Returns 0 or -ENOENT. */
int route_del(struct route_table *rt, uint32_t prefix, uint8_t len);

/* Make addr local on ifindex, adding its connected route (prefix_len, src
 * addr) and a /32 host route through loopback. Returns 0, -EINVAL, -EEXIST
 * (already local) or -ENOSPC; on error nothing was added. */
int route_addr_add(struct route_table *rt, uint32_t addr, uint8_t prefix_len,
		   unsigned ifindex);

/* addr is one of ours: in the local set or in 127.0.0.0/8. */
bool route_is_local(const struct route_table *rt, uint32_t addr);

/* addr is one of ours on interface ifindex (the set only, never 127/8):
 * what ARP answers for. */
bool route_is_local_on(const struct route_table *rt, uint32_t addr, unsigned ifindex);

/* addr is the limited broadcast 255.255.255.255 or the directed broadcast of
 * a local address's subnet (RFC 919, RFC 922; /31 and /32 have none, RFC 3021). */
bool route_is_broadcast(const struct route_table *rt, uint32_t addr);

#endif /* RINGSTACK_PROTO_ROUTE_H */
