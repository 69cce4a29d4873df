/* proto/tcp/tcp_cc_internal.h — what tcp_cc.c shares with the algorithm files.
 *
 * tcp_cc.c owns everything the algorithms have in common (initial window,
 * slow start, the RFC 6582 recovery arithmetic, the by-name table) and
 * switches on cc->algo for the two things that differ: growth in congestion
 * avoidance and the ssthresh a congestion event leaves.
 */
#ifndef RINGSTACK_PROTO_TCP_TCP_CC_INTERNAL_H
#define RINGSTACK_PROTO_TCP_TCP_CC_INTERNAL_H

#include "proto/tcp/tcp_cc.h"

/* NewReno (tcp_cc_newreno.c) */
void tcp_cc_newreno_ca(struct tcp_cc *cc, uint32_t acked);
uint32_t tcp_cc_newreno_ssthresh(const struct tcp_cc *cc, uint32_t flight);

/* CUBIC (tcp_cc_cubic.c) */
void tcp_cc_cubic_init(struct tcp_cc *cc);
void tcp_cc_cubic_ca(struct tcp_cc *cc, uint32_t acked, uint64_t rtt_ns, uint64_t now);
uint32_t tcp_cc_cubic_on_loss(struct tcp_cc *cc, uint32_t flight);
void tcp_cc_cubic_on_rto(struct tcp_cc *cc);

#endif /* RINGSTACK_PROTO_TCP_TCP_CC_INTERNAL_H */
