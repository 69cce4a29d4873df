/* proto/gro.c — merging a burst's same-flow TCP segments (see gro.h).
 *
 * One pass over the burst. Each segment's header is read once (seg_read);
 * a segment that continues its flow's open run joins it (its header pulled,
 * the pair noted for chaining), anything else is kept in place and may open
 * a run of its own. The chains are made at the end, last pair first: then
 * every pkb_chain appends to a single buffer and costs O(1), where chaining
 * each arrival onto the run's head would walk the chain every time.
 */
#include "proto/gro.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "proto/csum.h"

/* TCP header fields (RFC 9293 3.1) that merging reads. */
#define TH_OFF_PORTS 0
#define TH_OFF_SEQ   4
#define TH_OFF_ACK   8
#define TH_OFF_DOFF  12
#define TH_OFF_FLAGS 13
#define TH_OFF_WND   14
#define TH_LEN       20u
#define TH_F_PSH     0x08u
#define TH_F_ACK     0x10u
#define IPPROTO_TCP_ 6u

/* One segment's header, read once. */
struct gro_seg {
	uint8_t *h;              /* the TCP header, contiguous in the first buffer */
	uint32_t hlen;
	uint32_t payload;
	uint32_t seq;
	bool ok;                 /* may join or open a run (flags, csum, layout) */
};

/* A flow's open run: the merged segment being built. */
struct gro_run {
	uint32_t saddr, daddr;
	uint8_t *h;              /* the first segment's header (ack, window, options) */
	struct pkb *last;        /* the run's last pkb, to chain the next behind */
	uint32_t hlen;
	uint32_t next_seq;       /* where the next segment must start */
	uint32_t len;            /* TCP length merged so far, header included */
	uint32_t seg_len;        /* the first's payload: longer ones do not join */
};

/* A pass's state: open runs, and the (pred, seg) pairs to chain at the end. */
struct gro_scan {
	unsigned nruns, njoin;
	struct gro_run run[GRO_FLOWS];
	struct { struct pkb *pred, *seg; } join[GRO_BATCH_MAX];
};

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int gro_verify(struct pkb *b, uint32_t saddr, uint32_t daddr)
{
	uint32_t len = b->pkt_len, contig = 0, hlen;
	const uint8_t *h;

	if (b->flags & PKB_F_CSUM_OK)
		return 0;
	h = pkb_seg_at(b, 0, &contig);
	if (!h || contig < TH_LEN || len > 0xffffu)
		return -EINVAL;
	hlen = (uint32_t)(h[TH_OFF_DOFF] >> 4) * 4u;
	if (hlen < TH_LEN || hlen > len)
		return -EINVAL;
	if (csum_fold(csum_pkb(b, 0, len, csum_pseudo_ipv4(saddr, daddr, IPPROTO_TCP_,
							   (uint16_t)len))) != 0)
		return -EBADMSG;
	b->flags |= PKB_F_CSUM_OK;
	return 0;
}

/* Read rx's header into *s. Returns false when not even its ports can be
 * read in its first buffer (then no run can be told it is of its flow). */
static bool seg_read(const struct tcp_rx *rx, struct gro_seg *s)
{
	struct pkb *b = rx->pkb;
	uint32_t contig = pkb_len(b);
	uint8_t flags;

	*s = (struct gro_seg){ .h = NULL };
	if (contig < 4)
		return false;
	s->h = pkb_data(b);
	if (contig < TH_LEN)
		return true;
	s->hlen = (uint32_t)(s->h[TH_OFF_DOFF] >> 4) * 4u;
	s->seq = rd32(s->h + TH_OFF_SEQ);
	flags = s->h[TH_OFF_FLAGS];
	/* Exactly ACK or ACK|PSH: ECE and CWR are congestion signals TCP must
	 * see on their own segment (Linux flushes on CWR too). */
	s->ok = (b->flags & PKB_F_CSUM_OK) && b->nb_segs == 1 && !pkb_is_shared(b) &&
		s->hlen >= TH_LEN && s->hlen < contig && (flags & ~TH_F_PSH) == TH_F_ACK;
	s->payload = s->ok ? contig - s->hlen : 0;
	return true;
}

/* The open run of rx's flow, or NULL. */
static struct gro_run *run_find(struct gro_scan *sc, const struct tcp_rx *rx,
				const struct gro_seg *s)
{
	for (unsigned i = 0; i < sc->nruns; i++) {
		struct gro_run *r = &sc->run[i];

		if (r->saddr == rx->saddr && r->daddr == rx->daddr &&
		    memcmp(r->h + TH_OFF_PORTS, s->h + TH_OFF_PORTS, 4) == 0)
			return r;
	}
	return NULL;
}

static void run_close(struct gro_scan *sc, struct gro_run *r)
{
	*r = sc->run[--sc->nruns];
}

/* Whether s continues run r: next in sequence, no longer than the first,
 * within the size bound, and the same ACK, window and options (the data
 * offset byte first, so the option lengths match too). */
static bool run_takes(const struct gro_run *r, const struct gro_seg *s)
{
	return s->ok && s->seq == r->next_seq && s->payload <= r->seg_len &&
	       r->len + s->payload <= GRO_MAX_BYTES && s->hlen == r->hlen &&
	       memcmp(s->h + TH_OFF_ACK, r->h + TH_OFF_ACK, 5) == 0 &&
	       memcmp(s->h + TH_OFF_WND, r->h + TH_OFF_WND, 2) == 0 &&
	       memcmp(s->h + TH_LEN, r->h + TH_LEN, s->hlen - TH_LEN) == 0;
}

/* s (in b) joins r: its header goes, it is chained behind r's last pkb at
 * the end of the pass. A short segment ends the run (Linux's
 * tcp_gro_receive: flush when len < mss); a PSH does not (gro.h says why)
 * but is carried over to the merged header, as Linux ORs it in. */
static void run_join(struct gro_scan *sc, struct gro_run *r, struct pkb *b,
		     const struct gro_seg *s)
{
	__pkb_pull(b, s->hlen);          /* seg_read: the header is in this buffer */
	sc->join[sc->njoin].pred = r->last;
	sc->join[sc->njoin++].seg = b;
	r->last = b;
	r->next_seq += s->payload;
	r->len += s->payload;
	r->h[TH_OFF_FLAGS] |= s->h[TH_OFF_FLAGS] & TH_F_PSH;
	if (s->payload < r->seg_len)
		run_close(sc, r);
}

/* rx, kept in the output, opens its flow's run if it may be continued:
 * merge-able, and a run free (else it just passes through). */
static void run_open(struct gro_scan *sc, const struct tcp_rx *rx, const struct gro_seg *s)
{
	struct gro_run *r;

	if (!s->ok || sc->nruns == GRO_FLOWS)
		return;
	r = &sc->run[sc->nruns++];
	*r = (struct gro_run){ .saddr = rx->saddr, .daddr = rx->daddr, .h = s->h,
			       .last = rx->pkb, .hlen = s->hlen,
			       .next_seq = s->seq + s->payload,
			       .len = s->hlen + s->payload, .seg_len = s->payload };
}

/* One pass over rx[0..n), n <= GRO_BATCH_MAX, kept segments written from
 * out[0] on (out <= rx: in place). Returns how many were kept. */
static unsigned merge_chunk(const struct tcp_rx *rx, unsigned n, struct tcp_rx *out)
{
	struct gro_scan sc;
	unsigned k = 0;

	sc.nruns = sc.njoin = 0;
	for (unsigned i = 0; i < n; i++) {
		struct gro_seg s;
		struct gro_run *r;

		if (!seg_read(&rx[i], &s)) {
			sc.nruns = 0;            /* flow unknown: close every run */
		} else if ((r = run_find(&sc, &rx[i], &s))) {
			if (run_takes(r, &s)) {
				run_join(&sc, r, rx[i].pkb, &s);
				continue;
			}
			run_close(&sc, r);       /* the flow's order is kept */
		}
		out[k] = rx[i];
		run_open(&sc, &out[k++], &s);
	}
	/* Last pair first: each pred is still a single buffer when chained. */
	while (sc.njoin > 0) {
		sc.njoin--;
		pkb_chain(sc.join[sc.njoin].pred, sc.join[sc.njoin].seg);
	}
	return k;
}

unsigned gro_merge(struct tcp_rx *rx, unsigned n)
{
	unsigned kept = 0;

	for (unsigned at = 0; at < n; at += GRO_BATCH_MAX) {
		unsigned len = n - at < GRO_BATCH_MAX ? n - at : GRO_BATCH_MAX;

		kept += merge_chunk(rx + at, len, rx + kept);
	}
	return kept;
}
