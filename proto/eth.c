/* proto/eth.c — Ethernet II in and out, with one 802.1Q tag.
 *
 * Receive: stack_input -> eth_input: parse, filter (source, destination MAC,
 * VLAN), pull the header, dispatch on ethertype to arp_input / ipv4_input.
 * Transmit: ipv4_output -> eth_output_ipv4: pick the destination MAC (the
 * neighbour table, or the broadcast / multicast mapping), push the header,
 * stack_tx. ARP frames are sent with eth_send.
 */
#include "proto/eth.h"

#include <errno.h>
#include <string.h>

#include "proto/arp.h"
#include "proto/ipv4.h"
#include "proto/l2_internal.h"
#include "proto/neigh.h"
#include "proto/route.h"
#include "proto/stack.h"

/* Field offsets in an Ethernet header; the _TAG ones exist only with a tag. */
enum {
	ETH_OFF_DST = 0,
	ETH_OFF_SRC = 6,
	ETH_OFF_TYPE = 12,        /* ethertype, or the TPID 0x8100 of a tag */
	ETH_OFF_TCI = 14,         /* tag control information (802.1Q 9.6) */
	ETH_OFF_TAG_TYPE = 16,    /* inner ethertype after the tag */
};

const uint8_t eth_broadcast_addr[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* 01:00:5e:00:00:01, the all-hosts group 224.0.0.1 every IP host belongs to
 * (RFC 1112 section 4), the one multicast address we accept. */
static const uint8_t eth_all_hosts[ETH_ALEN] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };

int eth_parse(const uint8_t *frame, size_t len, struct eth_info *out)
{
	uint16_t type;

	if (len < ETH_HLEN)
		return -EINVAL;
	memcpy(out->dst, frame + ETH_OFF_DST, ETH_ALEN);
	memcpy(out->src, frame + ETH_OFF_SRC, ETH_ALEN);
	type = l2_get_be16(frame + ETH_OFF_TYPE);
	out->vlan = false;
	out->vlan_tci = 0;
	out->ethertype = type;
	if (type != ETH_P_8021Q)
		return ETH_HLEN;
	if (len < ETH_VLAN_HLEN)
		return -EINVAL;
	out->vlan = true;
	out->vlan_tci = l2_get_be16(frame + ETH_OFF_TCI);
	out->ethertype = l2_get_be16(frame + ETH_OFF_TAG_TYPE);
	return ETH_VLAN_HLEN;
}

/* Destination filter: our MAC, broadcast, all-hosts; anything if promiscuous. */
static bool eth_dst_accepted(const struct stack *stk, const uint8_t dst[ETH_ALEN])
{
	if (stk->cfg.promisc || eth_is_broadcast(dst))
		return true;
	if (eth_is_multicast(dst))
		return memcmp(dst, eth_all_hosts, ETH_ALEN) == 0;
	return memcmp(dst, stk->cfg.mac, ETH_ALEN) == 0;
}

/* Configured for a VLAN: only frames tagged with its VID. Untagged: untagged
 * frames and priority-tagged ones (VID 0 carries only a priority, 802.1Q 9.6). */
static bool eth_vlan_accepted(const struct stack *stk, const struct eth_info *eh)
{
	uint16_t vid = eh->vlan ? (eh->vlan_tci & ETH_VLAN_VID_MASK) : 0;

	if (stk->cfg.vlan_id == 0)
		return vid == 0;
	return eh->vlan && vid == stk->cfg.vlan_id;
}

void eth_input(struct stack *stk, struct pkb *b, uint64_t now)
{
	struct eth_info eh;
	int hlen = eth_parse(pkb_data(b), pkb_len(b), &eh);

	if (hlen < 0)   /* ETH_IN was counted by stack_input */
		return PROTO_DROP(stk, ETH_TRUNCATED, b);
	if (eth_is_multicast(eh.src))   /* IEEE 802: a source is never a group */
		return PROTO_DROP(stk, ETH_BAD_SRC, b);
	if (!eth_dst_accepted(stk, eh.dst))
		return PROTO_DROP(stk, ETH_NOT_FOR_US, b);
	if (!eth_vlan_accepted(stk, &eh))
		return PROTO_DROP(stk, ETH_VLAN_MISMATCH, b);
	b->l2_off = (uint16_t)b->data;
	if (eh.vlan) {
		b->vlan_tci = eh.vlan_tci;
		b->flags |= PKB_F_VLAN;
	}
	__pkb_pull(b, (uint32_t)hlen);   /* hlen <= pkb_len(b): checked by eth_parse */
	b->l3_off = (uint16_t)b->data;
	switch (eh.ethertype) {
	case ETH_P_ARP:
		return arp_input(stk, b, now);
	case ETH_P_IPV4:
		/* nicd gives every queue a copy of a broadcast: the engine
		 * owning the sockets takes it, the others let theirs go. */
		if (stk->cfg.steer_sockets && eth_is_multicast(eh.dst))
			return PROTO_DROP(stk, BCAST_ELSEWHERE, b);
		return ipv4_input(stk, b, now);
	default:
		return PROTO_DROP(stk, ETH_UNKNOWN_TYPE, b);
	}
}

int eth_push_header(struct stack *stk, struct pkb *b, const uint8_t dst[ETH_ALEN],
		    uint16_t ethertype)
{
	uint16_t vid = stk->cfg.vlan_id & ETH_VLAN_VID_MASK;
	uint32_t hlen = vid ? ETH_VLAN_HLEN : ETH_HLEN;
	uint8_t *h = pkb_push(b, hlen);   /* NULL (b unchanged): no room or shared */

	if (!h)
		return -ENOBUFS;
	memcpy(h + ETH_OFF_DST, dst, ETH_ALEN);
	memcpy(h + ETH_OFF_SRC, stk->cfg.mac, ETH_ALEN);
	if (vid) {
		l2_put_be16(h + ETH_OFF_TYPE, ETH_P_8021Q);
		l2_put_be16(h + ETH_OFF_TCI, vid);   /* PCP 0 (best effort), DEI 0 */
		l2_put_be16(h + ETH_OFF_TAG_TYPE, ethertype);
	} else {
		l2_put_be16(h + ETH_OFF_TYPE, ethertype);
	}
	b->l2_off = (uint16_t)b->data;
	return 0;
}

void eth_send(struct stack *stk, struct pkb *b, const uint8_t dst[ETH_ALEN],
	      uint16_t ethertype)
{
	if (eth_push_header(stk, b, dst, ethertype) < 0)
		return PROTO_DROP(stk, ETH_NO_HEADROOM, b);
	stack_tx(stk, b);
}

/* RFC 1112 6.4: 01:00:5e followed by the low 23 bits of the group address. */
static void eth_map_multicast(uint32_t group, uint8_t mac[ETH_ALEN])
{
	mac[0] = 0x01;
	mac[1] = 0x00;
	mac[2] = 0x5e;
	mac[3] = (uint8_t)((group >> 16) & 0x7f);
	mac[4] = (uint8_t)(group >> 8);
	mac[5] = (uint8_t)group;
}

void eth_output_ipv4(struct stack *stk, struct pkb *b, uint32_t nexthop,
		     unsigned ifindex, uint64_t now)
{
	uint8_t mac[ETH_ALEN];

	if (ifindex == STACK_IF_LOOPBACK)
		return stack_loopback(stk, b);
	if (ifindex != STACK_IF_ETH)
		return PROTO_DROP(stk, IP_NO_ROUTE, b);
	if (route_is_broadcast(&stk->routes, nexthop))
		memcpy(mac, eth_broadcast_addr, ETH_ALEN);
	else if (ipv4_is_multicast(nexthop))
		eth_map_multicast(nexthop, mac);
	else if (neigh_resolve(stk, nexthop, b, mac, now) != 0)
		return;   /* queued until resolved, or dropped and counted */
	eth_send(stk, b, mac, ETH_P_IPV4);
}
