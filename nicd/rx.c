/* nicd/rx.c — the ring side of nicd: received frames onto rx rings, frames
 * to send off tx rings. Backend-neutral: tap.c and packet.c call in here.
 *
 * Where it sits: between the device backends and netd. A received frame is
 * stamped (PKB_TS_NIC_RX), hashed (software RSS) and queued for the rx ring
 * its flow maps to; ARP and L2 broadcast/multicast frames go to every rx
 * ring instead (a clone per extra ring), because each netd engine keeps its
 * own neighbour table. At the end of each engine pass every queued burst is
 * enqueued at once and each netd engine that sleeps is woken once, so a pass
 * costs one ring publish and at most one wake-up per ring, not per frame.
 */
#include "nicd/nicd.h"

/* Enqueue queue q's pending burst; what does not fit is dropped here. */
static void rx_flush_queue(struct nicd *nd, struct nicd_queue *nq)
{
	struct nic_queue_stats *qs = &nd->stats->q[nq - nd->q];
	unsigned n = ring_enqueue_burst_u64(&nq->rx, nq->pend, nq->npend);
	uint64_t bytes = 0;

	for (unsigned i = 0; i < n; i++)
		bytes += nq->pend_len[i];
	COUNTER_ADD(nd->ctr, NICD_RX_FRAMES, n);
	COUNTER_ADD(nd->ctr, NICD_RX_BYTES, bytes);
	counters_add_sw(&qs->rx_frames, n);
	counters_add_sw(&qs->rx_drops, nq->npend - n);
	/* the ring is full: the frames are nicd's still, and dropped here */
	for (unsigned i = n; i < nq->npend; i++) {
		struct pkb *b = pkb_at(&nd->pool, nic_desc_slot(nq->pend[i]));

		COUNTER_INC(nd->ctr, ring_prod_corrupt(&nq->rx) ? NICD_RING_CORRUPT
							       : NICD_RX_RING_FULL);
		pkb_free(&nd->cache, b);
	}
	nq->npend = 0;
	/* after the ring's release store: a netd that announced sleep is woken */
	if (n > 0 && doorbell_ring(nq->rxdb) > 0)
		COUNTER_INC(nd->ctr, NICD_RX_DOORBELL_WAKES);
}

/* Queue b for rx ring q's end-of-pass burst (flushing a full burst first). */
static void rx_queue_add(struct nicd *nd, unsigned q, struct pkb *b)
{
	struct nicd_queue *nq = &nd->q[q];

	b->port = (uint16_t)q;
	if (nq->npend == NICD_BURST)
		rx_flush_queue(nd, nq);
	nq->pend_len[nq->npend] = b->pkt_len;
	nq->pend[nq->npend++] = nic_desc_make(pkb_index(b));
}

/* A frame every engine must see (ARP, L2 broadcast or multicast): queue 0
 * gets b, every other queue a clone (own metadata, shared read-only data:
 * enough for receive; proto/ copies before it rewrites shared data). A
 * clone the pool cannot give is that queue's drop, counted per queue. */
static void rx_deliver_all(struct nicd *nd, struct pkb *b)
{
	COUNTER_INC(nd->ctr, NICD_RX_ALL_QUEUES);
	for (unsigned q = 1; q < nd->cfg.queues; q++) {
		struct pkb *c = pkb_clone(&nd->cache, b);

		if (!c) {
			COUNTER_INC(nd->ctr, NICD_RX_CLONE_FAIL);
			counters_add_sw(&nd->stats->q[q].rx_drops, 1);
			continue;
		}
		rx_queue_add(nd, q, c);
	}
	rx_queue_add(nd, 0, b);
}

void nicd_rx_deliver(struct nicd *nd, struct pkb *b)
{
	const uint8_t *f = pkb_data(b);

	b->hash = rss_frame_hash(&nd->rss, f, pkb_len(b));
	b->ts[PKB_TS_NIC_RX] = nd->now_ns;
	nd->pass_rx++;
	if (nd->cfg.queues > 1 && rss_frame_to_all(f, pkb_len(b)))
		rx_deliver_all(nd, b);
	else
		rx_queue_add(nd, nd->cfg.queues > 1 ? rss_queue(b->hash, nd->cfg.queues) : 0, b);
}

void nicd_rx_flush(struct nicd *nd)
{
	for (unsigned q = 0; q < nd->cfg.queues; q++)
		if (nd->q[q].npend > 0)
			rx_flush_queue(nd, &nd->q[q]);
	if (nd->pass_rx > 0)
		hist_record(&nd->stats->rx_batch, nd->pass_rx);
	nd->pass_rx = 0;
}

/* Check one tx descriptor: the pkb it names must be LIVE, non-empty, no
 * longer than a frame the device takes, and a chain nicd can write. Returns
 * the pkb, or NULL with the drop counted (and the pkb freed if there is one). */
static struct pkb *tx_check(struct nicd *nd, nic_desc d)
{
	struct pkb *b = pkb_at(&nd->pool, nic_desc_slot(d));
	enum nicd_counter why;

	if (!b || b->state != PKB_STATE_LIVE) {
		COUNTER_INC(nd->ctr, NICD_TX_BAD_DESC);
		return NULL;
	}
	if (b->pkt_len < 14 || b->pkt_len > 65535)
		why = NICD_TX_BAD_LEN;
	else if (b->nb_segs > NICD_TX_SEGS_MAX || b->nb_segs == 0)
		why = NICD_TX_TOO_MANY_SEGS;
	else
		return b;
	COUNTER_INC(nd->ctr, why);
	pkb_free(&nd->cache, b);
	return NULL;
}

unsigned nicd_tx_take(struct nicd *nd, unsigned q, struct pkb **out, unsigned max)
{
	nic_desc d[NICD_BURST];
	unsigned n, k = 0;

	if (max > NICD_BURST)
		max = NICD_BURST;
	n = ring_dequeue_burst_u64(&nd->q[q].tx, d, max);
	for (unsigned i = 0; i < n; i++) {
		struct pkb *b = tx_check(nd, d[i]);

		if (!b)
			continue;
		if (b->ts[PKB_TS_NETD_TX] && b->ts[PKB_TS_NETD_TX] <= nd->now_ns)
			hist_record(&nd->stats->tx_residence, nd->now_ns - b->ts[PKB_TS_NETD_TX]);
		b->ts[PKB_TS_NIC_TX] = nd->now_ns;
		out[k++] = b;
	}
	return k;
}
