/* proto/ipv4.c — IPv4 input (validation, local delivery) and output (header,
 * fragmentation), RFC 791 and RFC 1122 section 3.
 *
 * Where it sits: between eth (below) and icmp / udp / TCP (above).
 *
 *   eth_input ─┐                        ┌─> icmp_input
 *              ├─> ipv4_input ─ reasm ──┼─> udp_input
 *   loopback ──┘                        └─> stack_tcp_input
 *
 *   icmp / udp / TCP ─> ipv4_output ─ fragment ─> eth_output_ipv4
 *
 * We are a host: nothing is forwarded (the FORWARD hook point exists for the
 * rule syntax, but no packet reaches it). Every drop is counted by reason.
 */
#include "proto/ipv4.h"

#include <errno.h>
#include <string.h>

#include "proto/csum.h"
#include "proto/siphash.h"
#include "proto/stack.h"

/* Named offsets into the header (RFC 791 section 3.1). */
enum {
	IP_OFF_VER_IHL = 0,
	IP_OFF_TOS = 1,
	IP_OFF_TOTLEN = 2,
	IP_OFF_ID = 4,
	IP_OFF_FRAG = 6,
	IP_OFF_TTL = 8,
	IP_OFF_PROTO = 9,
	IP_OFF_CSUM = 10,
	IP_OFF_SRC = 12,
	IP_OFF_DST = 16,
};

#define IP_FLAG_DF   0x4000u
#define IP_FLAG_MF   0x2000u
#define IP_OFFMASK   0x1fffu

/* Where ipv4_output sends a packet: the result of routing it. */
struct ip_path {
	uint32_t nexthop;
	uint16_t mtu;
	uint8_t ifindex;
	bool bcast;              /* a broadcast: also looped back to our sockets */
};

/* ------------------------------------------------------------ parsing */

/* Validate the header in hdr[0..seglen) of a packet pktlen bytes long (the
 * header must be contiguous; the rest may sit in later segments). */
static int ip_parse_seg(const uint8_t *hdr, size_t seglen, size_t pktlen, struct ipv4_info *out)
{
	uint16_t frag;
	size_t hlen;

	if (seglen < IPV4_HLEN_MIN || pktlen < seglen)
		return -ENODATA;
	if ((hdr[IP_OFF_VER_IHL] >> 4) != 4)
		return -EPROTONOSUPPORT;
	hlen = (size_t)(hdr[IP_OFF_VER_IHL] & 0x0f) * 4;
	if (hlen < IPV4_HLEN_MIN)
		return -EINVAL;
	if (hlen > seglen)
		return -ENODATA;
	out->total_len = ipv4_get16(hdr + IP_OFF_TOTLEN);
	if (out->total_len < hlen)
		return -EMSGSIZE;
	if (out->total_len > pktlen)
		return -ENODATA;
	/* Options (IHL > 5) are summed with the header and otherwise skipped:
	 * we interpret none, which RFC 1122 3.2.1.8 allows a host to do. */
	if (csum_fold(csum_partial(hdr, hlen, 0)) != 0)
		return -EBADMSG;
	frag = ipv4_get16(hdr + IP_OFF_FRAG);
	out->hdr_len = (uint16_t)hlen;
	out->tos = hdr[IP_OFF_TOS];
	out->id = ipv4_get16(hdr + IP_OFF_ID);
	out->df = (frag & IP_FLAG_DF) != 0;
	out->mf = (frag & IP_FLAG_MF) != 0;
	out->frag_off = (uint16_t)((frag & IP_OFFMASK) * 8);
	out->ttl = hdr[IP_OFF_TTL];
	out->proto = hdr[IP_OFF_PROTO];
	out->src = ipv4_get32(hdr + IP_OFF_SRC);
	out->dst = ipv4_get32(hdr + IP_OFF_DST);
	out->ifindex = 0;
	return (int)hlen;
}

int ipv4_parse(const uint8_t *pkt, size_t len, struct ipv4_info *out)
{
	return ip_parse_seg(pkt, len, len, out);
}

/* ------------------------------------------------------------ input */

/* Parse b's header and trim link-layer padding after total_len (an Ethernet
 * frame is at least 60 bytes). Counts and frees b on failure. */
static int ip_rcv_validate(struct stack *stk, struct pkb *b, struct ipv4_info *ip)
{
	int rc = ip_parse_seg(pkb_data(b), pkb_len(b), b->pkt_len, ip);

	switch (rc) {
	case -ENODATA:         PROTO_DROP(stk, IP_TRUNCATED, b); return rc;
	case -EPROTONOSUPPORT: PROTO_DROP(stk, IP_BAD_VERSION, b); return rc;
	case -EINVAL:          PROTO_DROP(stk, IP_BAD_IHL, b); return rc;
	case -EMSGSIZE:        PROTO_DROP(stk, IP_BAD_LENGTH, b); return rc;
	case -EBADMSG:         PROTO_DROP(stk, IP_BAD_CSUM, b); return rc;
	default:               break;
	}
	if (b->pkt_len > ip->total_len && pkb_trim(stk->cache, b, ip->total_len) < 0) {
		PROTO_DROP(stk, IP_BAD_LENGTH, b);
		return -EINVAL;
	}
	b->l3_off = (uint16_t)b->data;
	ip->ifindex = b->port == STACK_IF_LOOPBACK ? STACK_IF_LOOPBACK : STACK_IF_ETH;
	return 0;
}

/* RFC 1122 3.2.1.3: a source must name one host. Martians as Linux has them:
 * broadcast, multicast, 0/8 (except to limited broadcast, for BOOTP/DHCP),
 * and 127/8 or one of our own addresses arriving from the wire. */
static bool ip_src_valid(const struct stack *stk, const struct ipv4_info *ip)
{
	uint32_t s = ip->src;

	if (ipv4_is_lbcast(s) || ipv4_is_multicast(s) || route_is_broadcast(&stk->routes, s))
		return false;
	if (ipv4_is_zeronet(s) && !ipv4_is_lbcast(ip->dst))
		return false;
	if (ip->ifindex != STACK_IF_LOOPBACK && route_is_local(&stk->routes, s))
		return false;
	return true;
}

/* Is the packet ours to deliver? One of our addresses (127/8 only from
 * loopback, RFC 1122 3.2.1.3(g)) or a broadcast we belong to. Multicast
 * groups are not joined, so multicast is not ours. */
static bool ip_dst_local(const struct stack *stk, const struct ipv4_info *ip)
{
	if (ipv4_is_loopback(ip->dst))
		return ip->ifindex == STACK_IF_LOOPBACK;
	return route_is_local(&stk->routes, ip->dst) || route_is_broadcast(&stk->routes, ip->dst);
}

/* The hook's view of a packet; ports only when the L4 header is at hand
 * (unfragmented or first fragment: later fragments show ports 0). */
static void ip_hook_pkt(const struct pkb *b, const struct ipv4_info *ip, uint8_t ifindex,
			uint32_t l4_at, struct hook_pkt *hp)
{
	uint8_t ports[4];

	*hp = (struct hook_pkt){ .ifindex = ifindex, .proto = ip->proto,
				 .src = ip->src, .dst = ip->dst };
	if ((ip->proto != IPV4_PROTO_UDP && ip->proto != IPV4_PROTO_TCP) || ip->frag_off != 0 ||
	    pkb_copy_out(b, l4_at, sizeof(ports), ports) < 0)
		return;
	hp->sport = ipv4_get16(ports);
	hp->dport = ipv4_get16(ports + 2);
}

/* Run hook point pt on a received packet (b->data at its IP header);
 * counts and frees b on HOOK_DROP. */
static int ip_rcv_hook(struct stack *stk, struct pkb *b, const struct ipv4_info *ip,
		       enum hook_point pt)
{
	struct hook_pkt hp;

	ip_hook_pkt(b, ip, ip->ifindex, ip->hdr_len, &hp);
	if (hook_run(&stk->hooks, pt, &hp, ip->total_len) == HOOK_DROP) {
		PROTO_DROP(stk, HOOK_DROP, b);
		return -EPERM;
	}
	return 0;
}

/* Hand a whole datagram that passed every check (b->data at its IP header,
 * proto one of ours) to ICMP, UDP or TCP, with b->data at the L4 header. */
static void ip_deliver_l4(struct stack *stk, struct pkb *b, const struct ipv4_info *ip,
			  uint64_t now)
{
	__pkb_pull(b, ip->hdr_len);     /* ip_parse_seg: header is in segment one */
	b->l4_off = (uint16_t)b->data;
	PROTO_COUNT(stk, IP_DELIVERED);
	if (ip->proto == IPV4_PROTO_ICMP)
		icmp_input(stk, b, ip, now);
	else if (ip->proto == IPV4_PROTO_UDP)
		udp_input(stk, b, ip, now);
	else
		stack_tcp_input(stk, b, ip, now);
}

/* Does the datagram concern a socket? TCP and UDP do, and so do ICMP
 * errors (they name the socket whose packet failed). An echo request is
 * answered by whichever engine received it. */
static bool ip_for_sockets(const struct pkb *b, const struct ipv4_info *ip)
{
	uint8_t type;

	if (ip->proto != IPV4_PROTO_ICMP)
		return true;
	return pkb_copy_out(b, ip->hdr_len, 1, &type) < 0 || type != ICMP_ECHO;
}

/* Hand a whole datagram (b->data at its IP header) to its protocol, or to
 * the engine that owns the sockets. Unknown protocols get ICMP protocol
 * unreachable (RFC 1122 3.2.2.1). */
static void ip_local_deliver(struct stack *stk, struct pkb *b, const struct ipv4_info *ip,
			     uint64_t now)
{
	if (ip_rcv_hook(stk, b, ip, HOOK_INPUT) < 0)
		return;
	if (ip->proto != IPV4_PROTO_ICMP && ip->proto != IPV4_PROTO_UDP &&
	    ip->proto != IPV4_PROTO_TCP) {
		icmp_send_error(stk, b, ICMP_DEST_UNREACH, ICMP_PROT_UNREACH, 0, now);
		PROTO_DROP(stk, IP_UNKNOWN_PROTO, b);
		return;
	}
	if (stk->cfg.steer_sockets && ip_for_sockets(b, ip)) {
		stack_steer(stk, b);
		return;
	}
	ip_deliver_l4(stk, b, ip, now);
}

void ipv4_input_steered(struct stack *stk, struct pkb *b, uint64_t now)
{
	struct ipv4_info ip;

	/* The engine that steered it validated it, reassembled it (the header
	 * rewritten for the whole) and ran the hooks; the header is parsed
	 * again for its fields, checked as ever: a failure is a counted drop. */
	PROTO_COUNT(stk, STEERED_IN);
	if (ip_rcv_validate(stk, b, &ip) < 0)
		return;
	if (ip.mf || ip.frag_off != 0) {
		PROTO_DROP(stk, IP_BAD_LENGTH, b);
		return;
	}
	ip_deliver_l4(stk, b, &ip, now);
}

void ipv4_input(struct stack *stk, struct pkb *b, uint64_t now)
{
	struct ipv4_info ip, whole;

	PROTO_COUNT(stk, IP_IN);
	if (ip_rcv_validate(stk, b, &ip) < 0)
		return;
	if (!ip_src_valid(stk, &ip)) {
		PROTO_DROP(stk, IP_BAD_SRC, b);
		return;
	}
	if (ip_rcv_hook(stk, b, &ip, HOOK_PRE_ROUTING) < 0)
		return;
	/* RFC 1122 3.2.1.7: a host does not discard a datagram for its TTL;
	 * only forwarding does, and we do not forward. */
	if (!ip_dst_local(stk, &ip)) {
		PROTO_DROP(stk, IP_NOT_FOR_US, b);
		return;
	}
	if (ip.mf || ip.frag_off != 0) {
		b = ip_reasm_add(stk, b, &ip, &whole, now);
		if (!b)
			return;
		ip = whole;
	}
	ip_local_deliver(stk, b, &ip, now);
}

/* ------------------------------------------------------------ output */

uint32_t ipv4_select_src(struct stack *stk, uint32_t dst)
{
	const struct route *rt = route_lookup(&stk->routes, dst);

	if (rt && rt->src)
		return rt->src;
	/* RFC 1122 3.3.4.3: with no preferred source, use an address of the
	 * interface; 127/8 destinations are answered from 127.0.0.1. */
	if (ipv4_is_loopback(dst))
		return IPV4_ADDR(127, 0, 0, 1);
	if (rt || ipv4_is_lbcast(dst))
		return stk->cfg.addr;
	return 0;
}

/* Route dst. The limited broadcast goes out of the device even without a
 * route to it (RFC 919); directed broadcasts of our subnets are broadcast on
 * the link. Both are also looped back, as Linux does for RTCF_BROADCAST. */
static int ip_route_output(struct stack *stk, uint32_t dst, struct ip_path *p)
{
	const struct route *rt = route_lookup(&stk->routes, dst);

	p->bcast = ipv4_is_lbcast(dst) || route_is_broadcast(&stk->routes, dst);
	if (!rt && !p->bcast)
		return -ENETUNREACH;
	p->ifindex = rt ? rt->ifindex : STACK_IF_ETH;
	p->mtu = rt && rt->mtu ? rt->mtu : stk->routes.if_mtu[p->ifindex % ROUTE_IF_MAX];
	p->nexthop = rt && rt->gateway && !p->bcast && !ipv4_is_multicast(dst) ? rt->gateway : dst;
	if (p->bcast)
		p->ifindex = STACK_IF_ETH;
	return 0;
}

/* Write a 20-byte header (we send no options) with its checksum. */
static void ip_write_hdr(uint8_t *h, const struct ipv4_info *ip)
{
	uint16_t frag = (uint16_t)((ip->df ? IP_FLAG_DF : 0) | (ip->mf ? IP_FLAG_MF : 0) |
				   (ip->frag_off / 8));
	uint16_t sum;

	h[IP_OFF_VER_IHL] = 0x45;
	h[IP_OFF_TOS] = ip->tos;
	ipv4_put16(h + IP_OFF_TOTLEN, ip->total_len);
	ipv4_put16(h + IP_OFF_ID, ip->id);
	ipv4_put16(h + IP_OFF_FRAG, frag);
	h[IP_OFF_TTL] = ip->ttl;
	h[IP_OFF_PROTO] = ip->proto;
	ipv4_put16(h + IP_OFF_CSUM, 0);
	ipv4_put32(h + IP_OFF_SRC, ip->src);
	ipv4_put32(h + IP_OFF_DST, ip->dst);
	sum = inet_csum(h, IPV4_HLEN_MIN);
	memcpy(h + IP_OFF_CSUM, &sum, 2);    /* csum.h: already in wire order */
}

/* Put the header in front of b: in b's headroom when there is room for it
 * and the link header, else in a new buffer that b is chained behind.
 * Returns the packet (data at the IP header) or NULL with b freed. */
static struct pkb *ip_push_hdr(struct stack *stk, struct pkb *b, const struct ipv4_info *ip)
{
	struct pkb *h = b;

	if (pkb_is_shared(b) || pkb_headroom(b) < IPV4_HLEN_MIN + ETH_VLAN_HLEN) {
		h = pkb_alloc(stk->cache);
		if (!h) {
			PROTO_DROP(stk, NO_BUFFERS, b);
			return NULL;
		}
		pkb_chain(h, b);
	}
	ip_write_hdr(pkb_push(h, IPV4_HLEN_MIN), ip);
	h->l3_off = (uint16_t)h->data;
	return h;
}

int ipv4_append_from(struct pkb_cache *cache, struct pkb *dst, const struct pkb *src,
		     uint32_t off, uint32_t len)
{
	unsigned guard = 65535;      /* segments: a chain is never longer */

	while (len > 0 && guard-- > 0) {
		uint32_t contig, n;
		const uint8_t *p = pkb_seg_at(src, off, &contig);

		if (!p || contig == 0)
			return -EINVAL;
		n = contig < len ? contig : len;
		if (pkb_append(cache, dst, p, n) < 0)
			return -ENOBUFS;
		off += n;
		len -= n;
	}
	return len == 0 ? 0 : -EINVAL;
}

/* One fragment of b (data at its IP header): payload bytes [off, off + len)
 * behind a copy of the header with MF/offset set. We send no options, so
 * RFC 791's "copied" flag has nothing to copy. One copy, on the slow path. */
static struct pkb *ip_make_fragment(struct stack *stk, const struct pkb *b,
				    const struct ipv4_info *ip, uint32_t off, uint32_t len,
				    bool last)
{
	struct ipv4_info f = *ip;
	struct pkb *fb = pkb_alloc(stk->cache);
	uint8_t *h;

	if (!fb)
		return NULL;
	f.total_len = (uint16_t)(IPV4_HLEN_MIN + len);
	f.frag_off = (uint16_t)(ip->frag_off + off);
	f.mf = ip->mf || !last;
	h = pkb_put(fb, IPV4_HLEN_MIN);
	if (!h || ipv4_append_from(stk->cache, fb, b, IPV4_HLEN_MIN + off, len) < 0) {
		pkb_free(stk->cache, fb);
		return NULL;
	}
	ip_write_hdr(h, &f);
	fb->l3_off = (uint16_t)fb->data;
	return fb;
}

/* RFC 791 3.2 (fragmentation): every fragment but the last carries a
 * multiple of 8 payload bytes; all carry the same ID. b is freed. */
static int ip_fragment(struct stack *stk, struct pkb *b, const struct ipv4_info *ip,
		       const struct ip_path *p, uint64_t now)
{
	uint32_t payload = (uint32_t)ip->total_len - IPV4_HLEN_MIN;
	uint32_t step = ((uint32_t)p->mtu - IPV4_HLEN_MIN) & ~7u;
	uint32_t off;

	if (step < 8) {      /* route.h keeps MTUs >= 68; a guard, not a path */
		PROTO_DROP(stk, IP_FRAG_NEEDED, b);
		return -EMSGSIZE;
	}
	for (off = 0; off < payload; off += step) {     /* <= 8192 rounds */
		uint32_t len = payload - off < step ? payload - off : step;
		struct pkb *f = ip_make_fragment(stk, b, ip, off, len, off + len == payload);

		if (!f) {
			PROTO_DROP(stk, IP_FRAG_NOMEM, b);
			return -ENOBUFS;
		}
		PROTO_COUNT(stk, IP_FRAG_OUT);
		PROTO_COUNT(stk, IP_OUT);
		eth_output_ipv4(stk, f, p->nexthop, p->ifindex, now);
	}
	pkb_free(stk->cache, b);
	return 0;
}

/* Run an output hook point; counts and frees b on HOOK_DROP. l4_at is where
 * the L4 header starts in b. */
static int ip_out_hook(struct stack *stk, struct pkb *b, const struct ipv4_info *ip,
		       uint8_t ifindex, uint32_t l4_at, enum hook_point pt)
{
	struct hook_pkt hp;

	ip_hook_pkt(b, ip, ifindex, l4_at, &hp);
	if (hook_run(&stk->hooks, pt, &hp, ip->total_len) == HOOK_DROP) {
		PROTO_DROP(stk, HOOK_DROP, b);
		return -EPERM;
	}
	return 0;
}

/* Fill the header fields of an outgoing datagram of l4_len bytes. */
static int ip_tx_info(struct stack *stk, const struct ipv4_tx *tx, uint32_t l4_len,
		      struct ipv4_info *ip)
{
	if (l4_len > IPV4_MAX_LEN - IPV4_HLEN_MIN)
		return -EMSGSIZE;
	*ip = (struct ipv4_info){
		.src = tx->src ? tx->src : ipv4_select_src(stk, tx->dst), .dst = tx->dst,
		.total_len = (uint16_t)(IPV4_HLEN_MIN + l4_len), .hdr_len = IPV4_HLEN_MIN,
		.proto = tx->proto, .tos = tx->tos, .df = tx->df,
		/* RFC 1122 3.2.1.7: a host MUST NOT send a TTL of zero. */
		.ttl = tx->ttl ? tx->ttl : IPV4_DEFAULT_TTL,
		.id = ipv4_select_id(&stk->ip, tx->dst, tx->proto),
	};
	return 0;
}

/* A broadcast we send is for our own sockets too: loop a copy back. */
static void ip_loop_bcast(struct stack *stk, const struct pkb *b, uint64_t now)
{
	struct pkb *c = pkb_copy(stk->cache, b);

	if (!c) {
		PROTO_DROP(stk, NO_BUFFERS, NULL);
		return;
	}
	eth_output_ipv4(stk, c, IPV4_BROADCAST, STACK_IF_LOOPBACK, now);
}

int ipv4_output(struct stack *stk, struct pkb *b, const struct ipv4_tx *tx, uint64_t now)
{
	struct ipv4_info ip;
	struct ip_path p;

	if (ip_route_output(stk, tx->dst, &p) < 0) {
		PROTO_DROP(stk, IP_NO_ROUTE, b);
		return -ENETUNREACH;
	}
	if (ip_tx_info(stk, tx, b->pkt_len, &ip) < 0) {
		PROTO_DROP(stk, IP_BAD_LENGTH, b);
		return -EMSGSIZE;
	}
	if (ip_out_hook(stk, b, &ip, p.ifindex, 0, HOOK_OUTPUT) < 0)
		return -EPERM;
	if (ip.total_len > p.mtu && ip.df) {
		PROTO_DROP(stk, IP_FRAG_NEEDED, b);   /* the sender learns -EMSGSIZE */
		return -EMSGSIZE;
	}
	if (!(b = ip_push_hdr(stk, b, &ip)))
		return -ENOBUFS;
	if (ip_out_hook(stk, b, &ip, p.ifindex, IPV4_HLEN_MIN, HOOK_POST_ROUTING) < 0)
		return -EPERM;
	if (p.bcast)
		ip_loop_bcast(stk, b, now);
	if (ip.total_len > p.mtu)
		return ip_fragment(stk, b, &ip, &p, now);
	PROTO_COUNT(stk, IP_OUT);
	eth_output_ipv4(stk, b, p.nexthop, p.ifindex, now);
	return 0;
}

/* ------------------------------------------------------------ IDs, timers */

uint16_t ipv4_select_id(struct ipv4_state *ip, uint32_t dst, uint8_t proto)
{
	const uint32_t msg[2] = { dst, proto };
	uint64_t h = siphash24(ip->key, msg, sizeof(msg));

	return (uint16_t)ip->idents[h % IPV4_IDENTS]++;
}

void ipv4_init(struct ipv4_state *ip, const uint64_t secret[2])
{
	ip->key[0] = secret[0];
	ip->key[1] = secret[1];
	/* Each counter starts at a keyed value, so the first ID towards a
	 * destination says nothing about how long we have been up. */
	for (uint32_t i = 0; i < IPV4_IDENTS; i++)
		ip->idents[i] = (uint32_t)siphash24(secret, &i, sizeof(i));
	ip_reasm_init(&ip->reasm);
}

void ipv4_timers(struct stack *stk, uint64_t now)
{
	ip_reasm_timers(stk, now);
}

uint64_t ipv4_next_deadline(const struct stack *stk)
{
	return ip_reasm_next_deadline(&stk->ip.reasm);
}
