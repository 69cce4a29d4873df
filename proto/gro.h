/* proto/gro.h — receive batching for TCP: the segments of one burst that
 * continue each other are merged into one before TCP sees them (Linux's
 * GRO, in spirit; docs/TCP.md "Receive batching (GRO)").
 *
 * Where it sits: stack_input_burst -> eth -> ipv4 -> stack_tcp_input, which
 * checks each TCP segment with gro_verify and holds it in the stack's
 * struct gro_batch; at the burst's end stack_tcp_flush runs gro_merge and
 * hands what is left to tcp_input_burst. TCP then runs once per merged
 * segment instead of once per wire segment: one lookup, one ACK decision,
 * one window update, one readiness event (its payload is copied out of the
 * chain as from any other: pkb_copy_out).
 *
 * A segment joins the run of its flow (Linux's tcp_gro_receive rules,
 * net/ipv4/tcp_offload.c, kept strict but for PSH) when:
 *   - its 4-tuple is the run's and its seq is where the run ends;
 *   - its flags are exactly ACK or ACK|PSH, and it carries data;
 *   - its ACK number, window and options are the run's, byte for byte (so
 *     timestamps match: Linux flushes on any option that differs);
 *   - it is no longer than the run's first segment (Linux's gso_size); a
 *     shorter one joins and ends the run;
 *   - the merged segment stays within GRO_MAX_BYTES;
 *   - its checksum was verified (PKB_F_CSUM_OK), its header is in its first
 *     buffer, it is one unshared buffer.
 * PSH, unlike Linux, neither ends a run nor keeps a segment out of one (the
 * merged header carries it if any segment had it). Linux flushes on PSH
 * because its GRO may hold a segment past the poll (gro_flush_timeout);
 * ours never holds one past the burst, so PSH's "deliver promptly" (RFC
 * 9293 3.9.1) is kept, and our TCP reads nothing else into it. And our own
 * tcp_output sets PSH on every data segment: with Linux's rule, traffic
 * between two ringstack hosts would never merge.
 * Anything else (SYN, FIN, RST, URG, ECE/CWR, pure ACKs, out-of-order or
 * duplicate data) passes through as it came, and closes its flow's run, so
 * one flow's segments reach TCP in their arrival order. Runs of up to
 * GRO_FLOWS flows are open at once (Linux keeps 8 per NAPI bucket,
 * MAX_GRO_SKBS): software RSS puts many flows on one queue, and their
 * segments interleave in a burst. Different flows may pass each other;
 * they are different connections.
 *
 * Pure: no allocation (headers are pulled and buffers chained), no clock.
 */
#ifndef RINGSTACK_PROTO_GRO_H
#define RINGSTACK_PROTO_GRO_H

#include <stdint.h>

#include "shm/pkb.h"
#include "proto/tcp/tcp.h"

#define GRO_BATCH_MAX 64u     /* segments held per burst before an early flush */
#define GRO_FLOWS     8u      /* runs open at once (Linux's MAX_GRO_SKBS) */
#define GRO_MAX_BYTES 65535u  /* a merged segment, TCP header included (IPv4 total length) */

/* The TCP segments of the current burst, in arrival order. */
struct gro_batch {
	uint32_t n;
	struct tcp_rx rx[GRO_BATCH_MAX];
};

/* Verify the TCP checksum of b (b->data at the TCP header, pkt_len the TCP
 * length) against the pseudo-header of saddr/daddr (host order) and mark b
 * PKB_F_CSUM_OK, so that neither gro_merge's output nor TCP sums it again.
 * Returns 0 (verified, or PKB_F_CSUM_OK already), -EBADMSG for a bad
 * checksum (the caller drops it, TCP_BAD_CSUM), or -EINVAL when b is too
 * short for a TCP header or its data offset is invalid: left unverified,
 * for tcp_input to count the drop it counts today. */
int gro_verify(struct pkb *b, uint32_t saddr, uint32_t daddr);

/* Merge the runs in rx[0..n) in place (rules above) and return how many
 * segments are left, in the order of each one's first arrival. A merged
 * segment is its first pkb with its header (PSH set if the run's last had
 * it), followed by the others' pkbs, headers pulled, chained with
 * pkb_chain; the ownership of every pkb stays with the caller, through the
 * rx[] left. Nothing is dropped or allocated. */
unsigned gro_merge(struct tcp_rx *rx, unsigned n);

#endif /* RINGSTACK_PROTO_GRO_H */
