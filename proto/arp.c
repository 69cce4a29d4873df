/* proto/arp.c — ARP for IPv4 over Ethernet (RFC 826).
 *
 * Receive: eth_input -> arp_input -> neigh_update (what the sender told us)
 * and, for a request aimed at one of our addresses, a reply via eth_send.
 * Transmit: neigh.c asks for requests (resolution, probes), stack_init for
 * the gratuitous announcement. Every frame is built by arp_send.
 *
 *   0        2        4    5    6        8          14     18         24    28
 *   | htype  | ptype  |hlen|plen|  op    | sha (6)  |spa(4)| tha (6)  |tpa(4)|
 */
#include "proto/arp.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "proto/eth.h"
#include "proto/ipv4.h"
#include "proto/l2_internal.h"
#include "proto/neigh.h"
#include "proto/route.h"
#include "proto/stack.h"

enum {
	ARP_OFF_HTYPE = 0,
	ARP_OFF_PTYPE = 2,
	ARP_OFF_HLEN = 4,
	ARP_OFF_PLEN = 5,
	ARP_OFF_OP = 6,
	ARP_OFF_SHA = 8,
	ARP_OFF_SPA = 14,
	ARP_OFF_THA = 18,
	ARP_OFF_TPA = 24,
};

int arp_parse(const uint8_t *buf, size_t len, struct arp_info *out)
{
	uint16_t op;

	if (len < ARP_HLEN)
		return -EINVAL;
	if (l2_get_be16(buf + ARP_OFF_HTYPE) != ARP_HTYPE_ETHER ||
	    l2_get_be16(buf + ARP_OFF_PTYPE) != ETH_P_IPV4 ||
	    buf[ARP_OFF_HLEN] != ETH_ALEN || buf[ARP_OFF_PLEN] != 4)
		return -EPROTONOSUPPORT;
	op = l2_get_be16(buf + ARP_OFF_OP);
	if (op != ARP_OP_REQUEST && op != ARP_OP_REPLY)
		return -EINVAL;
	out->op = op;
	memcpy(out->sha, buf + ARP_OFF_SHA, ETH_ALEN);
	out->spa = l2_get_be32(buf + ARP_OFF_SPA);
	memcpy(out->tha, buf + ARP_OFF_THA, ETH_ALEN);
	out->tpa = l2_get_be32(buf + ARP_OFF_TPA);
	return 0;
}

/* Build and send one ARP packet from cfg.mac. tha NULL: all zeros (RFC 826
 * leaves it open in requests; zeros as Linux sends). */
static int arp_send(struct stack *stk, uint16_t op, uint32_t spa, const uint8_t *tha,
		    uint32_t tpa, const uint8_t eth_dst[ETH_ALEN])
{
	struct pkb *b = pkb_alloc(stk->cache);
	uint8_t *p = b ? pkb_put(b, ARP_HLEN) : NULL;

	if (!p) {
		PROTO_DROP(stk, NO_BUFFERS, b);
		return -ENOBUFS;
	}
	l2_put_be16(p + ARP_OFF_HTYPE, ARP_HTYPE_ETHER);
	l2_put_be16(p + ARP_OFF_PTYPE, ETH_P_IPV4);
	p[ARP_OFF_HLEN] = ETH_ALEN;
	p[ARP_OFF_PLEN] = 4;
	l2_put_be16(p + ARP_OFF_OP, op);
	memcpy(p + ARP_OFF_SHA, stk->cfg.mac, ETH_ALEN);
	l2_put_be32(p + ARP_OFF_SPA, spa);
	if (tha)
		memcpy(p + ARP_OFF_THA, tha, ETH_ALEN);
	else
		memset(p + ARP_OFF_THA, 0, ETH_ALEN);
	l2_put_be32(p + ARP_OFF_TPA, tpa);
	PROTO_COUNT(stk, ARP_OUT);
	eth_send(stk, b, eth_dst, ETH_P_ARP);
	return 0;
}

/* Our address to ask from: the route's preferred source if it is ours on the
 * device, else the configured address. */
static uint32_t arp_source_for(const struct stack *stk, uint32_t target)
{
	const struct route *r = route_lookup(&stk->routes, target);

	if (r && r->src && route_is_local_on(&stk->routes, r->src, STACK_IF_ETH))
		return r->src;
	return stk->cfg.addr;
}

int arp_send_request(struct stack *stk, uint32_t target, const uint8_t *dst_mac,
		     uint64_t now)
{
	(void)now;
	return arp_send(stk, ARP_OP_REQUEST, arp_source_for(stk, target), NULL, target,
			dst_mac ? dst_mac : eth_broadcast_addr);
}

int arp_send_gratuitous(struct stack *stk, uint64_t now)
{
	(void)now;
	if (stk->cfg.addr == 0)
		return -EADDRNOTAVAIL;
	return arp_send(stk, ARP_OP_REQUEST, stk->cfg.addr, NULL, stk->cfg.addr,
			eth_broadcast_addr);
}

/* A sender we may learn from: a unicast MAC, and an address that is unset
 * (an RFC 5227 probe) or a unicast one that is not ours. Someone else
 * claiming our address, or our own frame coming back, is refused. */
static bool arp_sender_ok(const struct stack *stk, const struct arp_info *a)
{
	if (eth_is_multicast(a->sha) || eth_is_zero(a->sha))
		return false;
	if (a->spa == 0)
		return true;
	return !ipv4_is_multicast(a->spa) && !ipv4_is_loopback(a->spa) &&
	       !route_is_broadcast(&stk->routes, a->spa) &&
	       !route_is_local(&stk->routes, a->spa);
}

/* An address we would resolve ourselves: reached through a connected route on
 * the device. Learning anything else only pollutes the table. */
static bool arp_on_link(const struct stack *stk, uint32_t addr)
{
	const struct route *r = route_lookup(&stk->routes, addr);

	return r && r->ifindex == STACK_IF_ETH && r->gateway == 0;
}

void arp_input(struct stack *stk, struct pkb *b, uint64_t now)
{
	struct arp_info a;
	bool for_us, merged = false;

	PROTO_COUNT(stk, ARP_IN);
	if (arp_parse(pkb_data(b), pkb_len(b), &a) < 0)
		return PROTO_DROP(stk, ARP_MALFORMED, b);
	if (!arp_sender_ok(stk, &a))
		return PROTO_DROP(stk, ARP_BAD_SENDER, b);
	for_us = route_is_local_on(&stk->routes, a.tpa, STACK_IF_ETH);
	/* RFC 826 "Packet Reception": update the sender's entry if we have
	 * one (merge flag); add it only if we are the target. A reply to us
	 * also confirms the neighbour is reachable. */
	if (a.spa != 0 && arp_on_link(stk, a.spa)) {
		unsigned flags = for_us ? NEIGH_F_CREATE : 0;

		if (for_us && a.op == ARP_OP_REPLY)
			flags |= NEIGH_F_CONFIRMED;
		merged = neigh_update(stk, a.spa, a.sha, flags, now) == 0;
	}
	if (!for_us) {
		if (!merged)
			return PROTO_DROP(stk, ARP_NOT_FOR_US, b);
		return pkb_free(stk->cache, b);   /* news of a known neighbour: used */
	}
	/* A probe (spa 0) is answered to its sha. With several engines each
	 * sees the request (nicd copies ARP to every queue) and learns from
	 * it; one answers. */
	if (a.op == ARP_OP_REQUEST && !stk->cfg.steer_sockets)
		(void)arp_send(stk, ARP_OP_REPLY, a.tpa, a.sha, a.spa, a.sha);
	pkb_free(stk->cache, b);
}
