/* proto/eth.h — Ethernet II framing with one optional 802.1Q VLAN tag.
 *
 * Where it sits: the bottom of proto/. Receive: stack_input -> eth_input ->
 * arp_input / ipv4_input. Transmit: ipv4_output -> eth_output_ipv4 (neighbour
 * resolution, header) -> stack_tx; ARP frames go through eth_send directly.
 *
 *      dst[6] src[6] [0x8100 TCI(2)] ethertype(2) payload...
 *
 * Frames are carried without FCS and are not padded to ETH_ZLEN here: the
 * device (nicd / the TAP driver) pads short frames.
 */
#ifndef RINGSTACK_PROTO_ETH_H
#define RINGSTACK_PROTO_ETH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct stack;
struct pkb;

#define ETH_ALEN         6
#define ETH_HLEN         14      /* dst, src, ethertype */
#define ETH_VLAN_TAG_LEN 4       /* TPID 0x8100 + TCI */
#define ETH_VLAN_HLEN    (ETH_HLEN + ETH_VLAN_TAG_LEN)
#define ETH_ZLEN         60      /* minimum frame without FCS */

#define ETH_P_IPV4       0x0800
#define ETH_P_ARP        0x0806
#define ETH_P_8021Q      0x8100

#define ETH_VLAN_VID_MASK 0x0fffu  /* TCI: PCP(3) DEI(1) VID(12) */

/* A parsed Ethernet header, host order. ethertype is the inner one when the
 * frame carries a VLAN tag (vlan true, vlan_tci set). */
struct eth_info {
	uint8_t dst[ETH_ALEN], src[ETH_ALEN];
	uint16_t ethertype;
	uint16_t vlan_tci;
	bool vlan;
};

extern const uint8_t eth_broadcast_addr[ETH_ALEN];

static inline bool eth_is_broadcast(const uint8_t mac[ETH_ALEN])
{
	return (mac[0] & mac[1] & mac[2] & mac[3] & mac[4] & mac[5]) == 0xff;
}

/* Group bit (IEEE 802, I/G): set for multicast and for broadcast. */
static inline bool eth_is_multicast(const uint8_t mac[ETH_ALEN])
{
	return (mac[0] & 0x01) != 0;
}

static inline bool eth_is_zero(const uint8_t mac[ETH_ALEN])
{
	return (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]) == 0;
}

/* Parse the Ethernet (and one 802.1Q) header of frame[0..len). Pure: reads
 * only within len. Returns the header length (14 or 18) with *out filled, or
 * -EINVAL if the frame is too short for its header. */
int eth_parse(const uint8_t *frame, size_t len, struct eth_info *out);

/* Receive one frame (b->data at the Ethernet header; ownership passes).
 * Filters on destination MAC (ours, broadcast, all-hosts multicast; anything
 * with cfg.promisc) and VLAN, sets b->l2_off / l3_off / vlan_tci, pulls the
 * header and hands the payload to arp_input or ipv4_input. Every drop is
 * counted under its reason. */
void eth_input(struct stack *stk, struct pkb *b, uint64_t now);

/* Send an IPv4 packet (b->data at the IP header; ownership passes) to nexthop
 * (host order) on ifindex. STACK_IF_LOOPBACK goes to stack_loopback.
 * Broadcast and multicast next hops map to their MAC (RFC 1112 6.4); others
 * are resolved through the neighbour table, where b waits (bounded) while
 * resolution is under way. Drops are counted. */
void eth_output_ipv4(struct stack *stk, struct pkb *b, uint32_t nexthop,
		     unsigned ifindex, uint64_t now);

/* Push an Ethernet header (dst, our MAC, ethertype) in front of b->data,
 * with an 802.1Q tag when cfg.vlan_id is set, and set b->l2_off.
 * Returns 0, or -ENOBUFS (b unchanged) if b lacks headroom or is shared. */
int eth_push_header(struct stack *stk, struct pkb *b, const uint8_t dst[ETH_ALEN],
		    uint16_t ethertype);

/* eth_push_header then stack_tx (ownership passes). A frame that cannot take
 * its header is dropped and counted (NO_BUFFERS). */
void eth_send(struct stack *stk, struct pkb *b, const uint8_t dst[ETH_ALEN],
	      uint16_t ethertype);

#endif /* RINGSTACK_PROTO_ETH_H */
