/* proto/arp.h — ARP for IPv4 over Ethernet (RFC 826), with gratuitous ARP
 * (RFC 5227 section 3 announcements).
 *
 * Where it sits: eth_input -> arp_input, which answers requests for our
 * addresses and feeds neigh_update; neigh.c calls arp_send_request for
 * resolution and probes; stack_init calls arp_send_gratuitous.
 */
#ifndef RINGSTACK_PROTO_ARP_H
#define RINGSTACK_PROTO_ARP_H

#include <stddef.h>
#include <stdint.h>

struct stack;
struct pkb;

#define ARP_HLEN        28      /* Ethernet/IPv4 ARP packet */
#define ARP_HTYPE_ETHER 1
#define ARP_OP_REQUEST  1
#define ARP_OP_REPLY    2

/* A parsed Ethernet/IPv4 ARP packet, host order. */
struct arp_info {
	uint16_t op;
	uint8_t sha[6];
	uint32_t spa;
	uint8_t tha[6];
	uint32_t tpa;
};

/* Parse an ARP packet at buf[0..len) (trailing padding ignored). Returns 0;
 * -EINVAL if shorter than ARP_HLEN or op is neither request nor reply;
 * -EPROTONOSUPPORT if not Ethernet (htype 1, hlen 6) / IPv4 (0x0800, plen 4). */
int arp_parse(const uint8_t *buf, size_t len, struct arp_info *out);

/* Receive an ARP packet (b->data at the ARP header; ownership passes).
 * Runs RFC 826's reception algorithm: merge the sender into the neighbour
 * table if known, add it if we are the target, reply to requests for our
 * addresses. Drops are counted. */
void arp_input(struct stack *stk, struct pkb *b, uint64_t now);

/* Send a request for target (host order): broadcast if dst_mac is NULL, else
 * unicast to dst_mac (re-confirming a stale entry, RFC 1122 2.3.2.1).
 * Returns 0 or -ENOBUFS (counted NO_BUFFERS). */
int arp_send_request(struct stack *stk, uint32_t target, const uint8_t *dst_mac,
		     uint64_t now);

/* Announce cfg.addr at cfg.mac: a broadcast request with sender and target
 * address both ours (RFC 5227 section 3). Returns 0 or -ENOBUFS. */
int arp_send_gratuitous(struct stack *stk, uint64_t now);

#endif /* RINGSTACK_PROTO_ARP_H */
