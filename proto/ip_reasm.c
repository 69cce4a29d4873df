/* proto/ip_reasm.c — IPv4 reassembly: fragments in, whole datagrams out as
 * pkb chains (RFC 791 section 3.2, RFC 815, RFC 5722's overlap rule).
 *
 * Where it sits: ipv4_input -> ip_reasm_add -> (complete) -> ipv4_input's
 * local delivery; ipv4_timers -> ip_reasm_timers -> icmp_send_error.
 *
 * Accounting: drop counters count packets, so every fragment that is freed
 * without being delivered is counted once under the reason its datagram
 * died (REASM_OVERLAP, REASM_TIMEOUT, ...). Received = delivered + dropped.
 */
#include "proto/ip_reasm.h"

#include <errno.h>
#include <string.h>

#include "proto/csum.h"
#include "proto/stack.h"

/* Outcome of inserting one fragment into its datagram. */
enum reasm_verdict {
	REASM_KEPT,          /* held; the datagram may now be complete */
	REASM_DUP,           /* exact duplicate: drop only the new fragment */
	REASM_KILL_OVERLAP,  /* overlap: drop the whole datagram (RFC 5722) */
	REASM_KILL_BAD,      /* inconsistent ends: drop the whole datagram */
	REASM_KILL_MANY,     /* over IP_REASM_MAX_FRAGS: drop the whole datagram */
};

void ip_reasm_init(struct ip_reasm *r)
{
	memset(r, 0, sizeof(*r));
	r->mem_max = IP_REASM_MEM_MAX;
	r->timeout = IP_REASM_TIMEOUT_NS;
}

/* Buffer memory a pkb chain pins (Linux's truesize): every segment's
 * metadata and whole data buffer, whatever it holds. */
static uint32_t reasm_truesize(const struct pkb *b)
{
	uint32_t sz = 0;
	unsigned guard = 65535;

	for (; b && guard > 0; b = pkb_next(b), guard--)
		sz += b->end + PKB_META_SIZE;
	return sz;
}

/* Free every fragment of d, each counted under `reason`, and free the entry.
 * PROTO_DROP with reason PROTO_DROP_MAX frees without counting (flush). */
static void reasm_kill(struct stack *stk, struct ip_reasm_dgram *d, enum proto_drop reason)
{
	struct ip_reasm *r = &stk->ip.reasm;

	for (unsigned i = 0; i < d->nfrags; i++) {
		if (reason < PROTO_DROP_MAX)
			proto_drop(stk, reason, d->frag[i].b);
		else
			pkb_free(stk->cache, d->frag[i].b);
	}
	r->mem -= d->mem;
	r->count--;
	memset(d, 0, sizeof(*d));
}

static bool reasm_match(const struct ip_reasm_dgram *d, const struct ipv4_info *ip)
{
	return d->in_use && d->id == ip->id && d->src == ip->src && d->dst == ip->dst &&
	       d->proto == ip->proto;
}

/* The entry for ip's datagram, created if new; NULL when the table is full. */
static struct ip_reasm_dgram *reasm_get(struct ip_reasm *r, const struct ipv4_info *ip,
					uint64_t now)
{
	struct ip_reasm_dgram *free_d = NULL;

	for (unsigned i = 0; i < IP_REASM_MAX_DGRAMS; i++) {
		if (reasm_match(&r->dgram[i], ip))
			return &r->dgram[i];
		if (!r->dgram[i].in_use && !free_d)
			free_d = &r->dgram[i];
	}
	if (!free_d)
		return NULL;
	*free_d = (struct ip_reasm_dgram){ .src = ip->src, .dst = ip->dst, .id = ip->id,
					   .proto = ip->proto, .in_use = true,
					   .expires = now + r->timeout };
	r->count++;
	return free_d;
}

/* RFC 791: the fragment with MF clear fixes the datagram's length; a later
 * fragment may not contradict it (Linux ip_frag_queue does the same). */
static bool reasm_ends_agree(struct ip_reasm_dgram *d, uint32_t end, bool mf)
{
	uint32_t held_end = d->nfrags ? d->frag[d->nfrags - 1].off + d->frag[d->nfrags - 1].len : 0;

	if (!mf) {
		if ((d->have_last && end != d->total) || held_end > end)
			return false;
		d->have_last = true;
		d->total = (uint16_t)end;
		return true;
	}
	return !(d->have_last && end > d->total);
}

/* Insert [off, off + len) in sorted order. Neighbours suffice for the
 * overlap check: the held fragments never overlap one another. */
static enum reasm_verdict reasm_insert(struct ip_reasm_dgram *d, struct pkb *b, uint32_t off,
				       uint32_t len, bool mf)
{
	unsigned i = 0;

	while (i < d->nfrags && d->frag[i].off <= off)
		i++;
	if (i > 0) {
		const struct ip_reasm_frag *prev = &d->frag[i - 1];

		/* RFC 5722 (errata 3089): an exact duplicate is ignored. */
		if (prev->off == off && prev->len == len)
			return REASM_DUP;
		if ((uint32_t)prev->off + prev->len > off)
			return REASM_KILL_OVERLAP;
	}
	if (i < d->nfrags && off + len > d->frag[i].off)
		return REASM_KILL_OVERLAP;
	if (!reasm_ends_agree(d, off + len, mf))
		return REASM_KILL_BAD;
	if (d->nfrags == IP_REASM_MAX_FRAGS)
		return REASM_KILL_MANY;
	memmove(&d->frag[i + 1], &d->frag[i], (d->nfrags - i) * sizeof(d->frag[0]));
	d->frag[i] = (struct ip_reasm_frag){ .b = b, .off = (uint16_t)off, .len = (uint16_t)len };
	d->nfrags++;
	d->received += len;
	return REASM_KEPT;
}

/* Link the held fragments into one chain behind fragment zero, whose header
 * (pushed back) becomes the datagram's: total length, no MF, offset 0 and
 * its checksum rewritten as Linux's ip_frag_reasm does. Frees the entry. */
static struct pkb *reasm_build(struct stack *stk, struct ip_reasm_dgram *d,
			       const struct ipv4_info *ip, struct ipv4_info *whole)
{
	struct ip_reasm *r = &stk->ip.reasm;
	struct pkb *head = d->frag[0].b;
	uint16_t hlen = (uint16_t)(head->data - head->l3_off);
	uint8_t *h;

	__pkb_push(head, hlen);          /* ip_reasm_add pulled exactly this */
	for (unsigned i = 1; i < d->nfrags; i++)
		pkb_chain(head, d->frag[i].b);
	h = pkb_data(head);
	*whole = *ip;
	whole->hdr_len = hlen;
	whole->total_len = (uint16_t)(hlen + d->total);
	whole->frag_off = 0;
	whole->mf = false;
	whole->tos = h[1];
	whole->ttl = h[8];
	whole->df = (h[6] & 0x40) != 0;
	if (!pkb_is_shared(head)) {
		uint16_t sum;

		ipv4_put16(h + 2, whole->total_len);
		ipv4_put16(h + 6, whole->df ? 0x4000 : 0);
		ipv4_put16(h + 10, 0);
		sum = inet_csum(h, hlen);
		memcpy(h + 10, &sum, 2);
	}
	r->mem -= d->mem;
	r->count--;
	memset(d, 0, sizeof(*d));
	PROTO_COUNT(stk, IP_REASM_OK);
	return head;
}

/* Reasons a single fragment is refused before it touches any entry. */
static int reasm_check_frag(const struct ipv4_info *ip, uint32_t len)
{
	if (len == 0 || (ip->mf && (len & 7) != 0))
		return PROTO_DROP_REASM_BAD_FRAG;   /* RFC 791: 8-byte units but the last */
	if ((uint32_t)ip->frag_off + len + ip->hdr_len > IPV4_MAX_LEN)
		return PROTO_DROP_REASM_TOO_BIG;
	return PROTO_DROP_MAX;
}

/* Verdict to drop reason, for the datagram-killing outcomes. */
static enum proto_drop reasm_kill_reason(enum reasm_verdict v)
{
	if (v == REASM_KILL_OVERLAP)
		return PROTO_DROP_REASM_OVERLAP;
	if (v == REASM_KILL_MANY)
		return PROTO_DROP_REASM_MEMLIMIT;
	return PROTO_DROP_REASM_BAD_FRAG;
}

/* The datagram is whole when its end is known, fragment zero is held, and
 * the held bytes (which never overlap) add up to the end. */
static bool reasm_complete(const struct ip_reasm_dgram *d)
{
	return d->have_last && d->nfrags > 0 && d->frag[0].off == 0 && d->received == d->total;
}

struct pkb *ip_reasm_add(struct stack *stk, struct pkb *b, const struct ipv4_info *ip,
			 struct ipv4_info *whole, uint64_t now)
{
	struct ip_reasm *r = &stk->ip.reasm;
	uint32_t len = (uint32_t)ip->total_len - ip->hdr_len, ts = reasm_truesize(b);
	int bad = reasm_check_frag(ip, len);
	struct ip_reasm_dgram *d;
	enum reasm_verdict v;

	if (bad != PROTO_DROP_MAX) {
		proto_drop(stk, (enum proto_drop)bad, b);
		return NULL;
	}
	d = reasm_get(r, ip, now);
	if (!d || r->mem + ts > r->mem_max) {   /* no eviction, as Linux >= 4.17 */
		if (d && d->nfrags == 0)
			reasm_kill(stk, d, PROTO_DROP_MAX);
		PROTO_DROP(stk, REASM_MEMLIMIT, b);
		return NULL;
	}
	__pkb_pull(b, ip->hdr_len);      /* ipv4_parse: the header is in segment one */
	v = reasm_insert(d, b, ip->frag_off, len, ip->mf);
	if (v == REASM_DUP) {
		PROTO_DROP(stk, REASM_DUPLICATE, b);
		return NULL;
	}
	if (v != REASM_KEPT) {
		proto_drop(stk, reasm_kill_reason(v), b);
		reasm_kill(stk, d, reasm_kill_reason(v));
		return NULL;
	}
	d->mem += ts;
	r->mem += ts;
	return reasm_complete(d) ? reasm_build(stk, d, ip, whole) : NULL;
}

void ip_reasm_timers(struct stack *stk, uint64_t now)
{
	struct ip_reasm *r = &stk->ip.reasm;

	for (unsigned i = 0; i < IP_REASM_MAX_DGRAMS && r->count > 0; i++) {
		struct ip_reasm_dgram *d = &r->dgram[i];

		if (!d->in_use || d->expires > now)
			continue;
		/* RFC 792 / RFC 1122 3.3.2: time exceeded (code 1) only when
		 * fragment zero arrived; its header and 8 bytes are quoted. */
		if (d->nfrags > 0 && d->frag[0].off == 0) {
			struct pkb *f0 = d->frag[0].b;
			uint32_t hlen = f0->data - f0->l3_off;

			__pkb_push(f0, hlen);
			icmp_send_error(stk, f0, ICMP_TIME_EXCEEDED, ICMP_EXC_FRAGTIME, 0, now);
		}
		reasm_kill(stk, d, PROTO_DROP_REASM_TIMEOUT);
	}
}

uint64_t ip_reasm_next_deadline(const struct ip_reasm *r)
{
	uint64_t next = UINT64_MAX;

	for (unsigned i = 0; i < IP_REASM_MAX_DGRAMS && r->count > 0; i++)
		if (r->dgram[i].in_use && r->dgram[i].expires < next)
			next = r->dgram[i].expires;
	return next;
}

void ip_reasm_flush(struct stack *stk)
{
	struct ip_reasm *r = &stk->ip.reasm;

	for (unsigned i = 0; i < IP_REASM_MAX_DGRAMS; i++)
		if (r->dgram[i].in_use)
			reasm_kill(stk, &r->dgram[i], PROTO_DROP_MAX);
}
