/* proto/icmp.h — ICMP for IPv4 (RFC 792, RFC 1122 section 3.2.2).
 *
 * Where it sits:
 *   receive:  ipv4_input -> icmp_input -> echo reply (-> ipv4_output)
 *                                      -> errors -> the UDP socket concerned
 *                                         (STACK_EV_ICMP_ERR), or TCP
 *                                         (stack_tcp_icmp_error)
 *   transmit: ipv4_input (protocol unreachable), udp_input (port unreachable),
 *             ip_reasm (time exceeded) -> icmp_send_error -> ipv4_output
 *
 * Errors we send are rate-limited by one token bucket, as Linux's
 * icmp_msgs_per_sec / icmp_msgs_burst limit the types in icmp_ratemask
 * (destination unreachable except fragmentation needed, source quench, time
 * exceeded, parameter problem); echo replies are not limited.
 */
#ifndef RINGSTACK_PROTO_ICMP_H
#define RINGSTACK_PROTO_ICMP_H

#include <stdint.h>

struct stack;
struct pkb;
struct ipv4_info;

#define ICMP_HLEN                8u

/* Types (RFC 792) and the codes we use. */
#define ICMP_ECHOREPLY           0
#define ICMP_DEST_UNREACH        3
#define ICMP_SOURCE_QUENCH       4
#define ICMP_REDIRECT            5
#define ICMP_ECHO                8
#define ICMP_TIME_EXCEEDED       11
#define ICMP_PARAMETERPROB       12
#define ICMP_TIMESTAMP           13
#define ICMP_TIMESTAMPREPLY      14
#define ICMP_NR_TYPES            18

#define ICMP_NET_UNREACH         0   /* codes of ICMP_DEST_UNREACH */
#define ICMP_HOST_UNREACH        1
#define ICMP_PROT_UNREACH        2
#define ICMP_PORT_UNREACH        3
#define ICMP_FRAG_NEEDED         4   /* info: next-hop MTU (RFC 1191) */
#define ICMP_NR_UNREACH          16

#define ICMP_EXC_TTL             0   /* codes of ICMP_TIME_EXCEEDED */
#define ICMP_EXC_FRAGTIME        1

#define ICMP_RATE_PER_SEC        1000u      /* Linux icmp_msgs_per_sec */
#define ICMP_RATE_BURST          50u        /* Linux icmp_msgs_burst */
#define ICMP_RATEMASK            0x1818u    /* Linux icmp_ratemask: types 3, 4, 11, 12 */
#define ICMP_ERR_QUOTE_MAX       576u       /* RFC 1812 4.3.2.3: error datagram <= 576 */

/* Token bucket: credit is time in ns, each message costs 1e9 / rate ns, and
 * the bucket holds at most burst messages' worth. */
struct icmp_state {
	uint64_t credit;         /* ns of credit */
	uint64_t last;           /* time of the last refill */
	uint32_t rate_per_sec;
	uint32_t burst;
	uint32_t ratemask;       /* bit t set: type t is limited */
};

/* Receive one ICMP message (b->data at the ICMP header, b->l3_off at the IP
 * header; ownership passes). Echo requests to a unicast address of ours are
 * answered with the payload echoed byte for byte (fragmented or not);
 * destination unreachable, time exceeded and parameter problem are matched
 * to the UDP socket they concern and queued as STACK_EV_ICMP_ERR, or passed
 * to TCP (stack_tcp_icmp_error -> tcp_icmp_error) with the quoted sequence
 * number. No socket or connection: counted ICMP_ERR_NO_SOCKET. */
void icmp_input(struct stack *stk, struct pkb *b, const struct ipv4_info *ip, uint64_t now);

/* Send an ICMP error about `offending` (data at its IP header; the caller
 * keeps ownership): type, code, and info (the next-hop MTU for
 * ICMP_FRAG_NEEDED, the pointer for ICMP_PARAMETERPROB). Quotes the
 * offending header and as much data as keeps the error within 576 bytes.
 * Never sent (RFC 1122 3.2.2) about an ICMP error, a broadcast or multicast
 * destination, a source that is not one host, or a fragment other than the
 * first; rate-limited (ICMP_RATELIMIT). */
void icmp_send_error(struct stack *stk, const struct pkb *offending, uint8_t type,
		     uint8_t code, uint32_t info, uint64_t now);

/* Default limits (ICMP_RATE_PER_SEC, ICMP_RATE_BURST, ICMP_RATEMASK) and a
 * full bucket. */
void icmp_init(struct icmp_state *st);

/* The socket error an ICMP error type/code means (Linux icmp_err_convert):
 * -ECONNREFUSED for port unreachable, -EMSGSIZE for fragmentation needed, ...
 * Returns 0 for messages that are not errors. */
int icmp_errno(uint8_t type, uint8_t code);

#endif /* RINGSTACK_PROTO_ICMP_H */
