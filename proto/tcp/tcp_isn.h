/* proto/tcp/tcp_isn.h — initial sequence numbers and SYN cookies.
 *
 * Where it sits: the TCP core calls tcp_isn() when it opens a connection
 * (tcp_connect, or a SYN on a listener), and the SYN-cookie pair when a
 * listener's SYN queue is full: tcp_syncookie_make() gives the ISS of the
 * SYN-ACK, tcp_syncookie_check() validates the ACK that comes back (its
 * ack - 1) and recovers the MSS, so no state is kept for the half-open
 * connection.
 *
 * ISN (RFC 6528 section 3): ISN = M + F(localip, localport, remoteip,
 * remoteport, secretkey), M a timer ticking every 4 us (taken from `now`),
 * F = SipHash-2-4 (proto/siphash.h) under the engine's secret.
 *
 * SYN cookies, laid out as Linux's (net/ipv4/syncookies.c):
 *
 *   cookie = H1(tuple) + peer_isn + (count << 24)
 *          + ((H2(tuple, count) + mss_index) & 0xffffff)
 *
 * with count = now / 64 s (8 bits kept) and mss_index one of the 4 entries of
 * tcp_syncookie_mss[] (the largest not above the peer's MSS). A cookie is
 * accepted for the count it was made in and the one before (64 to 128 s).
 * Options: without timestamps a cookie carries only the MSS, so a connection
 * made from it has no window scaling and no SACK. With timestamps on, the
 * SYN-ACK's TSval carries the peer's window scale and SACK-permitted in its
 * low 6 bits (tcp_syncookie_ts), which the peer echoes in TSecr of its ACK
 * (tcp_syncookie_ts_decode). Keys: the same secret as ISNs, kept apart by a
 * distinct tag in the hashed message.
 */
#ifndef RINGSTACK_PROTO_TCP_TCP_ISN_H
#define RINGSTACK_PROTO_TCP_TCP_ISN_H

#include <stdbool.h>
#include <stdint.h>

#define TCP_ISN_TICK_NS         4000ull           /* RFC 6528: 4 us */
#define TCP_SYNCOOKIE_PERIOD_NS 64000000000ull    /* 64 s per cookie count */
#define TCP_SYNCOOKIE_NMSS      4
#define TCP_SYNCOOKIE_NO_WSCALE 0xf               /* wscale field: option absent */
#define TCP_SYNCOOKIE_TSBITS    6                 /* TSval low bits used for options */

/* MSS values a cookie can encode, ascending (Linux's msstab for IPv4). */
extern const uint16_t tcp_syncookie_mss[TCP_SYNCOOKIE_NMSS];

/* Addresses and ports in host order, as in the TCB. */
struct tcp_isn_tuple {
	uint32_t laddr, raddr;
	uint16_t lport, rport;
};

/* Options recovered from a timestamp echo. */
struct tcp_syncookie_opts {
	uint8_t wscale;          /* peer's window shift 0..14, or TCP_SYNCOOKIE_NO_WSCALE */
	bool sack;               /* peer sent SACK-permitted */
};

/* RFC 6528 ISN for the connection `t` at time `now` (ns) under key[2]. */
uint32_t tcp_isn(const uint64_t key[2], const struct tcp_isn_tuple *t, uint64_t now);

/* The ISS of a SYN-ACK answering a SYN with sequence `peer_isn` and MSS
 * option `peer_mss` (536 if absent, RFC 9293 3.7.1). *mss_out (may be NULL)
 * gets the MSS the cookie encodes: the connection must use it, nothing more. */
uint32_t tcp_syncookie_make(const uint64_t key[2], const struct tcp_isn_tuple *t,
			    uint32_t peer_isn, uint16_t peer_mss, uint64_t now,
			    uint16_t *mss_out);

/* Validate `cookie` (the ACK's ack number - 1) of a connection whose peer ISN
 * was `peer_isn` (the ACK's seq number - 1). Returns the MSS it encodes, or
 * -EACCES if the cookie is not ours or older than two counts. */
int tcp_syncookie_check(const uint64_t key[2], const struct tcp_isn_tuple *t,
			uint32_t peer_isn, uint32_t cookie, uint64_t now);

/* The TSval to send in a cookie SYN-ACK: `tsval_now` with its low 6 bits
 * replaced by the options, never ahead of tsval_now (RFC 7323 wants TSvals
 * monotonic). wscale is the peer's shift, TCP_SYNCOOKIE_NO_WSCALE if it sent
 * none. */
uint32_t tcp_syncookie_ts(uint32_t tsval_now, uint8_t wscale, bool sack);

/* Recover the options from the TSecr of the ACK. Returns 0, or -EINVAL when
 * bit 5 (Linux's ECN bit, which we never set) is set: not a value we sent.
 * The MSS check (tcp_syncookie_check) is what authenticates the ACK. */
int tcp_syncookie_ts_decode(uint32_t tsecr, struct tcp_syncookie_opts *out);

#endif /* RINGSTACK_PROTO_TCP_TCP_ISN_H */
