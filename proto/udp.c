/* proto/udp.c — UDP (RFC 768): bind/connect table, demultiplexing, input,
 * output, and ICMP errors for UDP sockets.
 *
 * Where it sits: ipv4_input -> udp_input -> STACK_EV_UDP_RX; a send ->
 * udp_output -> ipv4_output; icmp_input -> udp_icmp_error -> STACK_EV_ICMP_ERR.
 *
 *      0      7 8     15 16    23 24    31
 *     +--------+--------+--------+--------+
 *     |  source port    |  destination    |
 *     +--------+--------+--------+--------+
 *     |     length      |    checksum     |
 *     +--------+--------+--------+--------+
 *
 * The rules for sharing a port follow Linux (udp_lib_lport_inuse,
 * compute_score, reuseport_select_sock); docs/PROTO-L3.md says what they are.
 */
#include "proto/udp.h"

#include <errno.h>
#include <string.h>

#include "proto/csum.h"
#include "proto/siphash.h"
#include "proto/stack.h"

/* Named offsets into the header. */
enum {
	UDP_OFF_SPORT = 0,
	UDP_OFF_DPORT = 2,
	UDP_OFF_LEN = 4,
	UDP_OFF_CSUM = 6,
};

#define UDP_MAX_PAYLOAD (IPV4_MAX_LEN - IPV4_HLEN_MIN - UDP_HLEN)   /* 65507 */
#define UDP_BCAST_MAX   64u      /* sockets one broadcast is delivered to */

/* A parsed UDP header, host order. */
struct udp_info {
	uint16_t sport, dport, len, csum;
};

/* ------------------------------------------------------------ the table */

static unsigned udp_bucket(uint16_t port)
{
	return (port ^ (port >> 8) ^ (port >> 4)) & (UDP_HASH_BUCKETS - 1);
}

void udp_init(struct udp_table *t)
{
	memset(t, 0, sizeof(*t));
	for (unsigned i = 0; i < UDP_HASH_BUCKETS; i++)
		t->bucket[i] = UDP_NONE;
	for (unsigned i = 0; i < UDP_TABLE_SIZE; i++)
		t->sock[i].next = (uint16_t)(i + 1 < UDP_TABLE_SIZE ? i + 1 : UDP_NONE);
	t->free_head = 0;
}

/* Index of sock_id's entry, or -ENOENT. A control-path scan. */
static int udp_find(const struct udp_table *t, uint32_t sock_id)
{
	for (unsigned i = 0; i < UDP_TABLE_SIZE; i++)
		if (t->sock[i].in_use && t->sock[i].sock_id == sock_id)
			return (int)i;
	return -ENOENT;
}

/* Linux udp_lib_lport_inuse: s conflicts with a new bind when the local
 * addresses overlap (equal or either wildcard) unless both set SO_REUSEADDR,
 * or both set SO_REUSEPORT as the same user. */
static bool udp_conflicts(const struct udp_sock *s, uint32_t laddr, unsigned flags, uint32_t uid)
{
	if (s->laddr && laddr && s->laddr != laddr)
		return false;
	if (s->flags & flags & UDP_F_REUSEADDR)
		return false;
	return !((s->flags & flags & UDP_F_REUSEPORT) && s->uid == uid);
}

static bool udp_port_taken(const struct udp_table *t, uint32_t laddr, uint16_t port,
			   unsigned flags, uint32_t uid)
{
	unsigned guard = UDP_TABLE_SIZE;

	for (uint16_t i = t->bucket[udp_bucket(port)]; i != UDP_NONE && guard--; i = t->sock[i].next)
		if (t->sock[i].lport == port && udp_conflicts(&t->sock[i], laddr, flags, uid))
			return true;
	return false;
}

int udp_alloc_port(const struct udp_table *t, uint32_t laddr, uint32_t offset)
{
	const uint32_t range = UDP_EPHEMERAL_HI - UDP_EPHEMERAL_LO + 1;

	/* A port no other socket uses on an overlapping address, whatever
	 * its flags: an ephemeral port is never shared. */
	for (uint32_t i = 0; i < range; i++) {
		uint16_t port = (uint16_t)(UDP_EPHEMERAL_LO + (offset + i) % range);

		if (!udp_port_taken(t, laddr, port, 0, 0))
			return port;
	}
	return -EADDRINUSE;
}

int udp_bind(struct udp_table *t, uint32_t sock_id, uint32_t laddr, uint16_t lport,
	     unsigned flags, uint32_t uid)
{
	struct udp_sock *s;
	uint16_t i;

	if (udp_find(t, sock_id) >= 0)
		return -EINVAL;
	if (t->free_head == UDP_NONE)
		return -ENOBUFS;
	if (lport == 0) {
		int p = udp_alloc_port(t, laddr, t->port_offset);

		if (p < 0)
			return p;
		lport = (uint16_t)p;
		t->port_offset = t->port_offset * 1103515245u + 12345u;  /* not sequential */
	} else if (udp_port_taken(t, laddr, lport, flags, uid)) {
		return -EADDRINUSE;
	}
	i = t->free_head;
	s = &t->sock[i];
	t->free_head = s->next;
	*s = (struct udp_sock){ .sock_id = sock_id, .laddr = laddr, .lport = lport,
				.flags = (uint16_t)flags, .uid = uid, .seq = t->seq++, .in_use = true,
				.next = t->bucket[udp_bucket(lport)] };
	t->bucket[udp_bucket(lport)] = i;    /* at the head: bucket order is newest first */
	t->count++;
	return lport;
}

int udp_connect(struct udp_table *t, uint32_t sock_id, uint32_t laddr, uint32_t raddr,
		uint16_t rport)
{
	int i = udp_find(t, sock_id);

	if (i < 0)
		return i;
	if (raddr && !rport)
		return -EINVAL;
	t->sock[i].raddr = raddr;
	t->sock[i].rport = raddr ? rport : 0;
	if (laddr && !t->sock[i].laddr)
		t->sock[i].laddr = laddr;
	return 0;
}

int udp_unbind(struct udp_table *t, uint32_t sock_id)
{
	int i = udp_find(t, sock_id);
	uint16_t *link;
	unsigned guard = UDP_TABLE_SIZE;

	if (i < 0)
		return i;
	link = &t->bucket[udp_bucket(t->sock[i].lport)];
	while (*link != UDP_NONE && *link != i && guard--)
		link = &t->sock[*link].next;
	if (*link == i)
		*link = t->sock[i].next;
	t->sock[i] = (struct udp_sock){ .next = t->free_head };
	t->free_head = (uint16_t)i;
	t->count--;
	return 0;
}

/* ------------------------------------------------------------ lookup */

/* Linux compute_score: -1 when s cannot take the datagram; otherwise 4 for
 * each exact match (local address, remote address, remote port). */
static int udp_score(const struct udp_sock *s, uint32_t laddr, uint32_t raddr, uint16_t rport)
{
	int score = 0;

	if (s->laddr) {
		if (s->laddr != laddr)
			return -1;
		score += 4;
	}
	if (s->raddr) {
		if (s->raddr != raddr)
			return -1;
		score += 4;
	}
	if (s->rport) {
		if (s->rport != rport)
			return -1;
		score += 4;
	}
	return score;
}

/* Linux reuseport groups: every unconnected socket bound to the same
 * address and port with SO_REUSEPORT by the same user as `first`. */
static bool udp_in_group(const struct udp_sock *s, const struct udp_sock *first)
{
	return s->lport == first->lport && s->laddr == first->laddr &&
	       (s->flags & UDP_F_REUSEPORT) && s->uid == first->uid && !s->raddr;
}

/* Linux reuseport_select_sock: the flow hash picks one of the group, scaled
 * over the group in bind order (reciprocal_scale). */
static const struct udp_sock *udp_reuseport_pick(const struct udp_table *t,
						 const struct udp_sock *first, uint32_t hash)
{
	const struct udp_sock *pick = first;
	uint16_t head = t->bucket[udp_bucket(first->lport)];
	uint32_t n = 0, k, j = 0;
	unsigned guard = UDP_TABLE_SIZE;

	for (uint16_t i = head; i != UDP_NONE && guard--; i = t->sock[i].next)
		n += udp_in_group(&t->sock[i], first);
	k = (uint32_t)(((uint64_t)hash * n) >> 32);
	guard = UDP_TABLE_SIZE;
	/* The bucket is newest first: the k-th in bind order is n-1-k here. */
	for (uint16_t i = head; i != UDP_NONE && guard--; i = t->sock[i].next)
		if (udp_in_group(&t->sock[i], first) && j++ == n - 1 - k)
			pick = &t->sock[i];
	return pick;
}

const struct udp_sock *udp_lookup(const struct udp_table *t, uint32_t laddr, uint16_t lport,
				  uint32_t raddr, uint16_t rport, uint32_t hash)
{
	const struct udp_sock *best = NULL;
	int best_score = -1;
	unsigned guard = UDP_TABLE_SIZE;

	for (uint16_t i = t->bucket[udp_bucket(lport)]; i != UDP_NONE && guard--;
	     i = t->sock[i].next) {
		const struct udp_sock *s = &t->sock[i];
		int sc = s->lport == lport ? udp_score(s, laddr, raddr, rport) : -1;

		/* Ties go to the socket bound last, as Linux's head-inserted
		 * hash chains give them. */
		if (sc > best_score || (sc == best_score && sc >= 0 && s->seq > best->seq)) {
			best = s;
			best_score = sc;
		}
	}
	if (best && (best->flags & UDP_F_REUSEPORT) && !best->raddr)
		best = udp_reuseport_pick(t, best, hash);
	return best;
}

/* The flow hash of Linux's udp_ehashfn, keyed by our secret. */
static uint32_t udp_flow_hash(const struct stack *stk, uint32_t laddr, uint16_t lport,
			      uint32_t raddr, uint16_t rport)
{
	const uint32_t msg[3] = { laddr, raddr, (uint32_t)lport << 16 | rport };

	return (uint32_t)siphash24(stk->cfg.secret, msg, sizeof(msg));
}

/* ------------------------------------------------------------ input */

/* Check length and checksum; trim to the UDP length (RFC 768: the IP
 * payload may be longer). Counts and frees b on failure. */
static int udp_rcv_check(struct stack *stk, struct pkb *b, const struct ipv4_info *ip,
			 struct udp_info *u)
{
	uint8_t h[UDP_HLEN];

	if (pkb_copy_out(b, 0, UDP_HLEN, h) < 0) {
		PROTO_DROP(stk, UDP_TRUNCATED, b);
		return -EINVAL;
	}
	*u = (struct udp_info){ .sport = ipv4_get16(h + UDP_OFF_SPORT),
				.dport = ipv4_get16(h + UDP_OFF_DPORT),
				.len = ipv4_get16(h + UDP_OFF_LEN) };
	memcpy(&u->csum, h + UDP_OFF_CSUM, 2);
	if (u->len < UDP_HLEN || u->len > b->pkt_len ||
	    (b->pkt_len > u->len && pkb_trim(stk->cache, b, u->len) < 0)) {
		PROTO_DROP(stk, UDP_TRUNCATED, b);
		return -EINVAL;
	}
	/* RFC 768: a zero checksum means the sender computed none. */
	if (u->csum != 0 &&
	    csum_fold(csum_pkb(b, 0, u->len, csum_pseudo_ipv4(ip->src, ip->dst, IPV4_PROTO_UDP,
							       u->len))) != 0) {
		PROTO_DROP(stk, UDP_BAD_CSUM, b);
		return -EBADMSG;
	}
	return 0;
}

/* Queue b (data at the UDP header) for socket s, data at the payload. */
static void udp_deliver(struct stack *stk, struct pkb *b, const struct ipv4_info *ip,
			const struct udp_info *u, const struct udp_sock *s)
{
	if (!pkb_pull(b, UDP_HLEN)) {
		PROTO_DROP(stk, UDP_TRUNCATED, b);
		return;
	}
	PROTO_COUNT(stk, UDP_IN);
	stack_event(stk, &(struct stack_event){ .type = STACK_EV_UDP_RX, .lport = u->dport,
						.rport = u->sport, .sock_id = s->sock_id,
						.laddr = ip->dst, .raddr = ip->src, .pkb = b });
}

/* Linux __udp_is_mcast_sock: a socket gets a broadcast if bound to the
 * wildcard or that address, and not connected elsewhere. */
static bool udp_bcast_match(const struct udp_sock *s, const struct ipv4_info *ip,
			    const struct udp_info *u)
{
	return s->lport == u->dport && (!s->laddr || s->laddr == ip->dst) &&
	       (!s->raddr || s->raddr == ip->src) && (!s->rport || s->rport == u->sport);
}

/* Every matching socket gets the datagram: clones share one buffer (read
 * only), a chain is copied since clones cover one segment only. */
static void udp_deliver_bcast(struct stack *stk, struct pkb *b, const struct ipv4_info *ip,
			      const struct udp_info *u)
{
	const struct udp_table *t = &stk->udp;
	const struct udp_sock *match[UDP_BCAST_MAX];
	unsigned n = 0, guard = UDP_TABLE_SIZE;

	for (uint16_t i = t->bucket[udp_bucket(u->dport)]; i != UDP_NONE && guard-- && n < UDP_BCAST_MAX;
	     i = t->sock[i].next)
		if (udp_bcast_match(&t->sock[i], ip, u))
			match[n++] = &t->sock[i];
	if (n == 0) {
		PROTO_DROP(stk, UDP_NO_SOCKET, b);     /* no ICMP for a broadcast */
		return;
	}
	for (unsigned k = 0; k + 1 < n; k++) {
		struct pkb *c = b->next == PKB_NONE ? pkb_clone(stk->cache, b)
						    : pkb_copy(stk->cache, b);

		if (!c) {
			PROTO_DROP(stk, NO_BUFFERS, NULL);
			continue;
		}
		udp_deliver(stk, c, ip, u, match[k]);
	}
	udp_deliver(stk, b, ip, u, match[n - 1]);
}

/* No socket: ICMP port unreachable (RFC 1122 3.2.2.1) quoting the datagram
 * from its IP header, which is still in front of b->data. */
static void udp_no_socket(struct stack *stk, struct pkb *b, const struct ipv4_info *ip,
			  uint64_t now)
{
	if (b->l3_off <= b->data && b->data - b->l3_off == ip->hdr_len) {
		__pkb_push(b, ip->hdr_len);
		icmp_send_error(stk, b, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, now);
	}
	PROTO_DROP(stk, UDP_NO_SOCKET, b);
}

void udp_input(struct stack *stk, struct pkb *b, const struct ipv4_info *ip, uint64_t now)
{
	struct udp_info u;
	const struct udp_sock *s;

	if (udp_rcv_check(stk, b, ip, &u) < 0)
		return;
	if (ipv4_is_lbcast(ip->dst) || ipv4_is_multicast(ip->dst) ||
	    route_is_broadcast(&stk->routes, ip->dst)) {
		udp_deliver_bcast(stk, b, ip, &u);
		return;
	}
	s = udp_lookup(&stk->udp, ip->dst, u.dport, ip->src, u.sport,
		       udp_flow_hash(stk, ip->dst, u.dport, ip->src, u.sport));
	if (!s) {
		udp_no_socket(stk, b, ip, now);
		return;
	}
	udp_deliver(stk, b, ip, &u, s);
}

int udp_icmp_error(struct stack *stk, uint32_t laddr, uint16_t lport, uint32_t raddr,
		   uint16_t rport, int err, uint32_t info)
{
	/* The reply direction's lookup finds the socket that sent the
	 * datagram (Linux __udp4_lib_err), the same one its answers reach. */
	const struct udp_sock *s = udp_lookup(&stk->udp, laddr, lport, raddr, rport,
					      udp_flow_hash(stk, laddr, lport, raddr, rport));

	if (!s)
		return -ENOENT;
	return stack_event(stk, &(struct stack_event){ .type = STACK_EV_ICMP_ERR, .lport = lport,
						       .rport = rport, .sock_id = s->sock_id,
						       .laddr = laddr, .raddr = raddr,
						       .err = err, .info = info });
}

/* ------------------------------------------------------------ output */

/* Header and payload in a fresh chain; checksum over the pseudo header,
 * with 0 sent as 0xffff (RFC 768: 0 means "none"). NULL when out of buffers. */
static struct pkb *udp_build(struct stack *stk, const struct udp_tx *tx, uint32_t src,
			     const void *payload, uint32_t len)
{
	struct pkb *b = pkb_alloc(stk->cache);
	uint16_t ulen = (uint16_t)(UDP_HLEN + len), sum;
	uint8_t *h;

	if (!b)
		return NULL;
	h = pkb_put(b, UDP_HLEN);
	if (!h || pkb_append(stk->cache, b, payload, len) < 0) {
		pkb_free(stk->cache, b);
		return NULL;
	}
	ipv4_put16(h + UDP_OFF_SPORT, tx->sport);
	ipv4_put16(h + UDP_OFF_DPORT, tx->dport);
	ipv4_put16(h + UDP_OFF_LEN, ulen);
	ipv4_put16(h + UDP_OFF_CSUM, 0);
	sum = csum_fold(csum_pkb(b, 0, ulen, csum_pseudo_ipv4(src, tx->dst, IPV4_PROTO_UDP, ulen)));
	if (sum == 0)
		sum = 0xffff;
	memcpy(h + UDP_OFF_CSUM, &sum, 2);
	return b;
}

int udp_output(struct stack *stk, const struct udp_tx *tx, const void *payload, uint32_t len,
	       uint64_t now)
{
	uint32_t src = tx->src ? tx->src : ipv4_select_src(stk, tx->dst);
	struct pkb *b;

	if (tx->dport == 0)
		return -EINVAL;
	if (len > UDP_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (src == 0) {
		PROTO_DROP(stk, IP_NO_ROUTE, NULL);
		return -ENETUNREACH;
	}
	if (!(b = udp_build(stk, tx, src, payload, len))) {
		PROTO_DROP(stk, NO_BUFFERS, NULL);
		return -ENOBUFS;
	}
	PROTO_COUNT(stk, UDP_OUT);
	return ipv4_output(stk, b, &(struct ipv4_tx){ .src = src, .dst = tx->dst,
						      .proto = IPV4_PROTO_UDP, .ttl = tx->ttl,
						      .tos = tx->tos, .df = tx->df }, now);
}
