/* tests/unit/test_gro.c — receive batching (proto/gro.h): which segments of
 * a burst merge and which pass through as they came, and, through two
 * stacks joined back to back (as test_stack.c), that TCP given merged
 * segments delivers every byte exactly, ACKs at least every second full
 * segment (RFC 1122 4.2.3.2), and survives reordered, duplicated, lost and
 * corrupted frames in random bursts. Every test ends with no buffer leaked. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/csum.h"
#include "proto/gro.h"
#include "proto/stack.h"
#include "tests/support/tcp_seg.h"

#define NOW0 1000000000000ull
#define MS 1000000ull
#define A_IP 0x0a000002u   /* 10.0.0.2: the sender in the two-stack tests */
#define B_IP 0x0a000003u   /* 10.0.0.3: the receiver, whose bursts merge */

struct side {
	struct stack stk;
	void *tcp_mem;
};

struct fx {
	struct pkb_fixture pf;
	struct side a, b;
	uint64_t now;
	uint64_t rng;
};

/* ------------------------------------------------------------ fixtures */

static void side_init(struct fx *fx, struct side *s, uint32_t ip, uint8_t last)
{
	struct stack_config cfg = { .mac = { 0x02, 0, 0, 0, 0, last }, .addr = ip,
				    .prefix_len = 24, .mtu = 1500, .secret = { last, 7 } };
	struct tcp_config tc;
	size_t bytes;

	assert_int_equal(stack_init(&s->stk, &cfg, &fx->pf.cache, fx->now), 0);
	tcp_config_default(&tc);
	tc.max_conns = 16;
	tc.sndbuf = tc.rcvbuf = 1 << 16;
	bytes = tcp_stack_bytes(&tc);
	s->tcp_mem = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
	assert_non_null(s->tcp_mem);
	stack_attach_tcp(&s->stk, tcp_stack_format(s->tcp_mem, bytes, &tc, fx->now));
	assert_non_null(s->stk.tcp);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx || pkb_fixture_init(&fx->pf, 2048, 0) != 0)
		return -1;
	fx->now = NOW0;
	fx->rng = 0x9e3779b97f4a7c15ull;
	side_init(fx, &fx->a, A_IP, 1);
	side_init(fx, &fx->b, B_IP, 2);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	uint32_t leaks;

	stack_flush(&fx->a.stk);
	stack_flush(&fx->b.stk);
	leaks = pkb_fixture_leaks(&fx->pf);
	free(fx->a.tcp_mem);
	free(fx->b.tcp_mem);
	pkb_fixture_fini(&fx->pf);
	free(fx);
	assert_int_equal(leaks, 0);
	return 0;
}

/* The byte at stream offset `off` of flow `flow`: data checks itself. */
static uint8_t pat(uint32_t flow, uint32_t off)
{
	return (uint8_t)(off * 131u + (off >> 8) * 7u + flow * 29u);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t rnd(struct fx *fx)
{
	fx->rng ^= fx->rng << 13;
	fx->rng ^= fx->rng >> 7;
	fx->rng ^= fx->rng << 17;
	return fx->rng;
}

/* ------------------------------------------ gro_merge on crafted segments */

/* A segment from the peer (tcp_seg.h defaults, sport FX_RPORT unless set)
 * with sp->len bytes of pat(sport, seq...) as payload, checksum verified. */
static struct tcp_rx mkseg(struct fx *fx, struct tcp_spec sp)
{
	static uint8_t data[2048];
	struct pkb *b;

	for (uint32_t i = 0; i < sp.len; i++)
		data[i] = pat(sp.sport ? sp.sport : FX_RPORT, sp.seq + i);
	sp.data = data;
	sp.ack = sp.ack ? sp.ack : 5000;
	b = tcp_spec_build(&fx->pf.cache, &sp);
	assert_non_null(b);
	assert_int_equal(gro_verify(b, FX_RADDR, FX_LADDR), 0);
	return (struct tcp_rx){ .pkb = b, .saddr = FX_RADDR, .daddr = FX_LADDR };
}

#define SEG(...) mkseg(fx, (struct tcp_spec){ __VA_ARGS__ })

/* rx holds one segment of `len` payload bytes at seq of flow sport, as
 * pat() wrote them, in nsegs buffers. */
static void assert_seg(const struct tcp_rx *rx, uint16_t sport, uint32_t seq,
		       uint32_t len, uint16_t nsegs)
{
	const uint8_t *h = pkb_data(rx->pkb);
	uint32_t hlen = (uint32_t)(h[TCP_OFF_DOFF] >> 4) * 4u;
	static uint8_t got[GRO_MAX_BYTES];

	assert_int_equal(((uint32_t)h[0] << 8 | h[1]), sport);
	assert_int_equal(rd32(h + TCP_OFF_SEQ), seq);
	assert_int_equal(rx->pkb->pkt_len - hlen, len);
	assert_int_equal(rx->pkb->nb_segs, nsegs);
	assert_true(rx->pkb->flags & PKB_F_CSUM_OK);
	assert_int_equal(pkb_copy_out(rx->pkb, hlen, len, got), 0);
	for (uint32_t i = 0; i < len; i++)
		if (got[i] != pat(sport, seq + i))
			fail_msg("byte %u of seq %u: %u, want %u", i, seq, got[i], pat(sport, seq + i));
}

static void free_rx(struct fx *fx, struct tcp_rx *rx, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		pkb_free(&fx->pf.cache, rx[i].pkb);
}

static void test_gro_run_merges_into_one_chain(void **state)
{
	struct fx *fx = *state;
	struct tcp_rx rx[4];

	for (unsigned i = 0; i < 4; i++)
		rx[i] = SEG(.seq = 1000 + 1000 * i, .flags = TH_ACK, .len = 1000);
	assert_int_equal(gro_merge(rx, 4), 1);
	assert_seg(&rx[0], FX_RPORT, 1000, 4000, 4);
	free_rx(fx, rx, 1);
}

static void test_gro_psh_merges_and_is_carried_over(void **state)
{
	struct fx *fx = *state;
	struct tcp_rx rx[4];

	/* Unlike Linux (gro.h: our flush is the burst's end, and our own
	 * sender sets PSH on every data segment), PSH anywhere merges. */
	rx[0] = SEG(.seq = 0, .flags = TH_ACK | TH_PSH, .len = 500);
	rx[1] = SEG(.seq = 500, .flags = TH_ACK, .len = 500);
	rx[2] = SEG(.seq = 1000, .flags = TH_ACK | TH_PSH, .len = 500);
	rx[3] = SEG(.seq = 0, .flags = TH_ACK, .sport = 9, .len = 500);
	assert_int_equal(gro_merge(rx, 4), 2);
	assert_seg(&rx[0], FX_RPORT, 0, 1500, 3);
	assert_int_equal(pkb_data(rx[0].pkb)[TCP_OFF_FLAGS], TH_ACK | TH_PSH);
	assert_int_equal(pkb_data(rx[1].pkb)[TCP_OFF_FLAGS], TH_ACK);
	free_rx(fx, rx, 2);
}

static void test_gro_out_of_order_and_duplicates_not_merged(void **state)
{
	struct fx *fx = *state;
	struct tcp_rx rx[5];

	rx[0] = SEG(.seq = 0, .flags = TH_ACK, .len = 100);
	rx[1] = SEG(.seq = 200, .flags = TH_ACK, .len = 100);   /* hole before it */
	rx[2] = SEG(.seq = 100, .flags = TH_ACK, .len = 100);   /* the hole, late */
	rx[3] = SEG(.seq = 100, .flags = TH_ACK, .len = 100);   /* and its duplicate */
	rx[4] = SEG(.seq = 200, .flags = TH_ACK, .len = 100);   /* joins rx[3]'s run */
	assert_int_equal(gro_merge(rx, 5), 4);
	assert_seg(&rx[0], FX_RPORT, 0, 100, 1);
	assert_seg(&rx[1], FX_RPORT, 200, 100, 1);
	assert_seg(&rx[2], FX_RPORT, 100, 100, 1);
	assert_seg(&rx[3], FX_RPORT, 100, 200, 2);
	free_rx(fx, rx, 4);
}

static void test_gro_control_segments_not_merged(void **state)
{
	struct fx *fx = *state;
	static const uint8_t flags[] = { TH_ACK | TH_FIN, TH_ACK | TH_SYN, TH_ACK | TH_RST,
					 TH_ACK | TH_URG, TH_ACK | 0x40 /* ECE */, 0 /* no ACK */ };
	struct tcp_rx rx[3];

	for (unsigned f = 0; f < sizeof(flags); f++) {
		rx[0] = SEG(.seq = 0, .flags = TH_ACK, .len = 100);
		rx[1] = SEG(.seq = 100, .flags = flags[f], .len = 100);
		rx[2] = SEG(.seq = 200, .flags = TH_ACK, .len = 100);
		assert_int_equal(gro_merge(rx, 3), 3);
		free_rx(fx, rx, 3);
	}
	/* A pure ACK between two data segments: nothing merges across it. */
	rx[0] = SEG(.seq = 0, .flags = TH_ACK, .len = 100);
	rx[1] = SEG(.seq = 100, .flags = TH_ACK, .len = 0);
	rx[2] = SEG(.seq = 100, .flags = TH_ACK, .len = 100);
	assert_int_equal(gro_merge(rx, 3), 3);
	free_rx(fx, rx, 3);
}

static void test_gro_differing_ack_window_options_not_merged(void **state)
{
	struct fx *fx = *state;
	struct tcp_opts ts1 = { .has = TCP_OPTF_TS, .tsval = 7, .tsecr = 9 };
	struct tcp_opts ts2 = { .has = TCP_OPTF_TS, .tsval = 8, .tsecr = 9 };
	struct tcp_rx rx[4];

	rx[0] = SEG(.seq = 0, .flags = TH_ACK, .len = 100, .opt = ts1);
	rx[1] = SEG(.seq = 100, .flags = TH_ACK, .len = 100, .opt = ts1);   /* joins */
	rx[2] = SEG(.seq = 200, .flags = TH_ACK, .len = 100, .opt = ts2);   /* TSval moved */
	rx[3] = SEG(.seq = 300, .flags = TH_ACK, .len = 100);               /* no options */
	assert_int_equal(gro_merge(rx, 4), 3);
	assert_seg(&rx[0], FX_RPORT, 0, 200, 2);
	free_rx(fx, rx, 3);

	rx[0] = SEG(.seq = 0, .flags = TH_ACK, .len = 100, .ack = 1);
	rx[1] = SEG(.seq = 100, .flags = TH_ACK, .len = 100, .ack = 2);    /* new ACK */
	rx[2] = SEG(.seq = 200, .flags = TH_ACK, .len = 100, .ack = 2, .wnd = 1000);
	assert_int_equal(gro_merge(rx, 3), 3);
	free_rx(fx, rx, 3);
}

static void test_gro_interleaved_flows_merge_each_in_order(void **state)
{
	struct fx *fx = *state;
	struct tcp_rx rx[7];

	rx[0] = SEG(.sport = 1, .seq = 0, .flags = TH_ACK, .len = 100);
	rx[1] = SEG(.sport = 2, .seq = 0, .flags = TH_ACK, .len = 100);
	rx[2] = SEG(.sport = 1, .seq = 100, .flags = TH_ACK, .len = 100);
	rx[3] = SEG(.sport = 2, .seq = 100, .flags = TH_ACK, .len = 100);
	rx[4] = SEG(.sport = 1, .seq = 200, .flags = TH_ACK | TH_FIN);   /* closes flow 1 */
	rx[5] = SEG(.sport = 1, .seq = 200, .flags = TH_ACK, .len = 100);
	rx[6] = SEG(.sport = 2, .seq = 200, .flags = TH_ACK, .len = 100);
	assert_int_equal(gro_merge(rx, 7), 4);
	assert_seg(&rx[0], 1, 0, 200, 2);
	assert_seg(&rx[1], 2, 0, 300, 3);
	assert_int_equal(pkb_data(rx[2].pkb)[TCP_OFF_FLAGS], TH_ACK | TH_FIN);
	assert_seg(&rx[3], 1, 200, 100, 1);    /* after the FIN, as it came */
	free_rx(fx, rx, 4);
}

static void test_gro_segment_sizes_follow_the_first(void **state)
{
	struct fx *fx = *state;
	struct tcp_rx rx[5];

	rx[0] = SEG(.seq = 0, .flags = TH_ACK, .len = 500);
	rx[1] = SEG(.seq = 500, .flags = TH_ACK, .len = 600);   /* longer: starts anew */
	rx[2] = SEG(.seq = 1100, .flags = TH_ACK, .len = 600);
	rx[3] = SEG(.seq = 1700, .flags = TH_ACK, .len = 10);   /* shorter: joins, ends */
	rx[4] = SEG(.seq = 1710, .flags = TH_ACK, .len = 10);
	assert_int_equal(gro_merge(rx, 5), 3);
	assert_seg(&rx[0], FX_RPORT, 0, 500, 1);
	assert_seg(&rx[1], FX_RPORT, 500, 1210, 3);
	assert_seg(&rx[2], FX_RPORT, 1710, 10, 1);
	free_rx(fx, rx, 3);
}

static void test_gro_merged_size_bounded(void **state)
{
	struct fx *fx = *state;
	struct tcp_rx rx[70];
	unsigned n = 70, per = (GRO_MAX_BYTES - 20) / 1460, k;

	for (unsigned i = 0; i < n; i++)
		rx[i] = SEG(.seq = 1460 * i, .flags = TH_ACK, .len = 1460);
	k = gro_merge(rx, n);   /* more than one batch's worth: chunked */
	assert_true(k >= 2 && k <= 3);
	assert_seg(&rx[0], FX_RPORT, 0, per * 1460, (uint16_t)per);
	for (unsigned i = 0; i < k; i++)
		assert_true(rx[i].pkb->pkt_len <= GRO_MAX_BYTES);
	free_rx(fx, rx, k);
}

static void test_gro_unverified_segment_not_merged(void **state)
{
	struct fx *fx = *state;
	struct tcp_rx rx[3];

	rx[0] = SEG(.seq = 0, .flags = TH_ACK, .len = 100);
	rx[1] = SEG(.seq = 100, .flags = TH_ACK, .len = 100);
	rx[2] = SEG(.seq = 200, .flags = TH_ACK, .len = 100);
	rx[1].pkb->flags &= (uint16_t)~PKB_F_CSUM_OK;   /* TCP must sum it itself */
	assert_int_equal(gro_merge(rx, 3), 3);
	free_rx(fx, rx, 3);
}

static void test_gro_verify_checks_sum_and_length(void **state)
{
	struct fx *fx = *state;
	uint8_t data[100] = { 0 };
	struct pkb *bad = tcp_spec_build(&fx->pf.cache, &(struct tcp_spec){
		.flags = TH_ACK, .data = data, .len = 100, .bad_csum = true });
	struct pkb *tiny = pkb_from_bytes(&fx->pf.cache, data, 12);
	uint8_t off60[20] = { [TCP_OFF_DOFF] = 0xf0 };
	struct pkb *badoff = pkb_from_bytes(&fx->pf.cache, off60, sizeof(off60));

	assert_int_equal(gro_verify(bad, FX_RADDR, FX_LADDR), -EBADMSG);
	assert_false(bad->flags & PKB_F_CSUM_OK);
	assert_int_equal(gro_verify(tiny, FX_RADDR, FX_LADDR), -EINVAL);
	assert_int_equal(gro_verify(badoff, FX_RADDR, FX_LADDR), -EINVAL);
	pkb_free(&fx->pf.cache, bad);
	pkb_free(&fx->pf.cache, tiny);
	pkb_free(&fx->pf.cache, badoff);
}

/* ------------------------------------------------ two stacks, back to back */

static void drain_events(struct stack *stk)
{
	for (uint32_t i = 0; i < stk->evq.n; i++)
		pkb_free(stk->cache, stk->evq.ev[i].pkb);
	stk->evq.n = 0;
}

/* Take the frames `from` queued for the device (up to max) into q. */
static uint32_t take_tx(struct stack *from, struct pkb **q, uint32_t max)
{
	uint32_t n = from->txq.n < max ? from->txq.n : max;

	memcpy(q, from->txq.pkb, n * sizeof(q[0]));
	memmove(from->txq.pkb, from->txq.pkb + n, (from->txq.n - n) * sizeof(q[0]));
	from->txq.n -= n;
	return n;
}

/* A frame off the wire: the sender's "checksum done" mark (tcp_output sets
 * PKB_F_CSUM_OK) does not cross it; nicd's buffers come without it. */
static void wire(struct pkb **q, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		q[i]->flags &= (uint16_t)~PKB_F_CSUM_OK;
}

/* Deliver q[0..n) to `to` off the wire in bursts of up to 32 (NETD_BURST). */
static void give(struct fx *fx, struct stack *to, struct pkb **q, uint32_t n)
{
	wire(q, n);
	for (uint32_t i = 0; i < n; i += 32)
		stack_input_burst(to, q + i, n - i < 32 ? n - i : 32, fx->now);
	drain_events(to);
}

/* Move frames both ways until quiet, a burst per direction per round (or
 * A's frames one by one through stack_input: nothing merged). */
static void exchange_as(struct fx *fx, bool bursts)
{
	for (int round = 0; round < 256; round++) {
		struct pkb *q[STACK_TXQ_MAX];
		uint32_t n = take_tx(&fx->a.stk, q, STACK_TXQ_MAX), m;

		if (bursts) {
			give(fx, &fx->b.stk, q, n);
		} else {
			wire(q, n);
			for (uint32_t i = 0; i < n; i++)
				stack_input(&fx->b.stk, q[i], fx->now);
			drain_events(&fx->b.stk);
		}
		m = take_tx(&fx->b.stk, q, STACK_TXQ_MAX);
		give(fx, &fx->a.stk, q, m);
		if (n + m == 0)
			return;
		fx->now += 10000;
	}
	fail_msg("frames kept flowing after 256 rounds");
}

static void exchange(struct fx *fx)
{
	exchange_as(fx, true);
}

/* Advance the clock by ns and run whichever side's timers are due. */
static void tick(struct fx *fx, uint64_t ns)
{
	fx->now += ns;
	if (stack_next_deadline(&fx->a.stk) <= fx->now)
		stack_timers(&fx->a.stk, fx->now);
	if (stack_next_deadline(&fx->b.stk) <= fx->now)
		stack_timers(&fx->b.stk, fx->now);
}

/* A listener on B:port. */
static uint32_t listen_b(struct fx *fx, uint16_t port)
{
	struct stack *b = &fx->b.stk;
	int l = tcp_listen(b->tcp, &b->tcp_env, 0, port, 8, 0);

	assert_true(l >= 0);
	return (uint32_t)l;
}

/* A connects to B's listener l on port; returns A's conn, *bconn gets B's. */
static uint32_t connect_ab(struct fx *fx, uint32_t l, uint16_t port, uint32_t *bconn)
{
	struct stack *a = &fx->a.stk, *b = &fx->b.stk;
	int c = tcp_connect(a->tcp, &a->tcp_env, A_IP, 0, B_IP, port, fx->now);
	int s;

	assert_true(c >= 0);
	exchange(fx);
	s = tcp_accept(b->tcp, &b->tcp_env, l, NULL);
	assert_true(s >= 0);
	*bconn = (uint32_t)s;
	return (uint32_t)c;
}

/* The TCP header in an Ethernet frame of ours (untagged, one buffer), and
 * its payload length. */
static const uint8_t *frame_tcp(const struct pkb *f, uint32_t *payload)
{
	const uint8_t *ip = pkb_data(f) + ETH_HLEN;
	uint32_t ihl = (ip[0] & 0xfu) * 4u, tot = (uint32_t)ip[2] << 8 | ip[3];
	const uint8_t *th = ip + ihl;

	*payload = tot - ihl - (uint32_t)(th[TCP_OFF_DOFF] >> 4) * 4u;
	return th;
}

/* Send len bytes of flow f's pattern from offset *sent on A's conn c (as
 * much as the buffer takes). */
static void send_some(struct fx *fx, uint32_t c, uint32_t f, uint32_t *sent, uint32_t total)
{
	struct stack *a = &fx->a.stk;
	static uint8_t buf[8192];
	int r;

	do {
		uint32_t n = total - *sent < sizeof(buf) ? total - *sent : sizeof(buf);

		for (uint32_t i = 0; i < n; i++)
			buf[i] = pat(f, *sent + i);
		r = n ? tcp_send(a->tcp, &a->tcp_env, c, buf, n, 0, fx->now) : 0;
		if (r > 0)
			*sent += (uint32_t)r;
	} while (r > 0);
}

/* Read what B's conn s has and check it against flow f's pattern. */
static void recv_check(struct fx *fx, uint32_t s, uint32_t f, uint32_t *got)
{
	struct stack *b = &fx->b.stk;
	static uint8_t buf[8192];
	int r;

	while ((r = tcp_recv(b->tcp, &b->tcp_env, s, buf, sizeof(buf), 0, fx->now)) > 0) {
		for (int i = 0; i < r; i++)
			if (buf[i] != pat(f, *got + (uint32_t)i))
				fail_msg("flow %u byte %u differs", f, *got + (uint32_t)i);
		*got += (uint32_t)r;
	}
}

static uint64_t tcp_cnt(struct stack *stk, enum tcp_counter c)
{
	uint64_t v[TCP_CNT_NR];

	tcp_stats_read(stk->tcp, v, NULL);
	return v[c];
}

static void test_gro_bulk_transfer_byte_exact_with_fewer_tcp_inputs(void **state)
{
	struct fx *fx = *state;
	struct stack *a = &fx->a.stk, *b = &fx->b.stk;
	const uint32_t total = 400000;
	uint32_t s, c, sent = 0, got = 0;
	uint64_t in0, out0, segs_in, segs_out;
	struct proto_stats st;

	exchange(fx);
	c = connect_ab(fx, listen_b(fx, 80), 80, &s);
	in0 = tcp_cnt(b, TCP_CNT_IN_SEGS);
	out0 = b->stats.cnt[PROTO_CNT_GRO_SEGS_OUT];
	for (int round = 0; round < 10000 && got < total; round++) {
		send_some(fx, c, 0, &sent, total);
		exchange(fx);
		recv_check(fx, s, 0, &got);
		tick(fx, MS);
	}
	assert_int_equal(got, total);
	segs_in = b->stats.cnt[PROTO_CNT_GRO_SEGS_IN];
	segs_out = b->stats.cnt[PROTO_CNT_GRO_SEGS_OUT];
	print_message("bulk: %u bytes, %llu segments in, %llu to TCP\n", total,
		      (unsigned long long)segs_in, (unsigned long long)segs_out);
	assert_true(segs_in >= total / 1460);
	assert_true(segs_out * 2 < segs_in);
	/* TCP ran once per merged segment (and per frame of a burst of one,
	 * which stack_input_burst hands over directly). */
	assert_true(tcp_cnt(b, TCP_CNT_IN_SEGS) - in0 >= segs_out - out0);
	assert_true((tcp_cnt(b, TCP_CNT_IN_SEGS) - in0) * 2 < segs_in);
	/* A received its ACKs in bursts too, and nothing was lost or dropped
	 * (but the other side's gratuitous ARP, not for us). */
	assert_int_equal(tcp_cnt(a, TCP_CNT_RETRANS_SEGS), 0);
	stack_stats_read(b, &st);
	for (unsigned r = 0; r < PROTO_DROP_MAX; r++)
		if (st.drop[r] && r != PROTO_DROP_ARP_NOT_FOR_US)
			fail_msg("B dropped %llu: %s", (unsigned long long)st.drop[r], proto_drop_name(r));
}

static void test_gro_outside_burst_nothing_held(void **state)
{
	struct fx *fx = *state;
	struct stack *a = &fx->a.stk, *b = &fx->b.stk;
	struct pkb *q[STACK_TXQ_MAX];
	uint32_t s, c, sent = 0, got = 0, n;
	uint64_t held;

	exchange(fx);
	c = connect_ab(fx, listen_b(fx, 80), 80, &s);
	held = b->stats.cnt[PROTO_CNT_GRO_SEGS_IN];
	send_some(fx, c, 0, &sent, 20000);
	n = take_tx(a, q, STACK_TXQ_MAX);
	for (uint32_t i = 0; i < n; i++)
		stack_input(b, q[i], fx->now);   /* one by one: TCP sees each at once */
	assert_int_equal(b->gro.n, 0);
	recv_check(fx, s, 0, &got);
	assert_true(got > 0);
	assert_int_equal(b->stats.cnt[PROTO_CNT_GRO_SEGS_IN], held);
	drain_events(b);
}

/* Bring A's conn c past B's quick-ACK start (16 segments, given one by
 * one) with the queues quiet and no ACK owed. */
static void past_quickack(struct fx *fx, uint32_t c, uint32_t s, uint32_t *sent, uint32_t *got)
{
	for (int round = 0; round < 200 && *got < 40000; round++) {
		send_some(fx, c, 0, sent, 40000);
		exchange_as(fx, false);
		recv_check(fx, s, 0, got);
		tick(fx, 50 * MS);      /* delayed ACKs out, window updates read */
		exchange_as(fx, false);
	}
	assert_int_equal(*got, 40000);
	assert_int_equal(tcp_tcb(fx->b.stk.tcp, s)->quickack, 0);
	assert_int_equal(tcp_tcb(fx->b.stk.tcp, s)->rcv_segs_unacked, 0);
}

static void test_gro_merged_two_full_segments_acked_at_once(void **state)
{
	struct fx *fx = *state;
	struct stack *a = &fx->a.stk, *b = &fx->b.stk;
	struct tcp_conn_info ai;
	struct pkb *q[STACK_TXQ_MAX];
	uint32_t s, c, sent = 0, got = 0, n, len, total, end;
	uint64_t in0, out0;
	const uint8_t *th;

	exchange(fx);
	c = connect_ab(fx, listen_b(fx, 80), 80, &s);
	past_quickack(fx, c, s, &sent, &got);
	assert_int_equal(tcp_info(a->tcp, c, &ai), 0);
	total = sent + 2 * ai.snd_mss;
	send_some(fx, c, 0, &sent, total);      /* two full segments */
	n = take_tx(a, q, STACK_TXQ_MAX);
	assert_int_equal(n, 2);
	th = frame_tcp(q[1], &len);
	end = rd32(th + TCP_OFF_SEQ) + len;
	in0 = b->stats.cnt[PROTO_CNT_GRO_SEGS_IN];
	out0 = b->stats.cnt[PROTO_CNT_GRO_SEGS_OUT];
	give(fx, b, q, n);
	assert_int_equal(b->stats.cnt[PROTO_CNT_GRO_SEGS_IN] - in0, 2);
	assert_int_equal(b->stats.cnt[PROTO_CNT_GRO_SEGS_OUT] - out0, 1);   /* merged */
	/* RFC 1122 4.2.3.2: two full segments are ACKed now, not on the timer. */
	assert_int_equal(b->txq.n, 1);
	th = frame_tcp(b->txq.pkb[0], &len);
	assert_int_equal(len, 0);
	assert_int_equal(rd32(th + TCP_OFF_ACK), end);
	exchange(fx);
	assert_int_equal(tcp_info(a->tcp, c, &ai), 0);
	assert_int_equal(ai.unacked, 0);
	/* One full segment alone waits for the delayed-ACK timer. */
	send_some(fx, c, 0, &sent, sent + ai.snd_mss);
	n = take_tx(a, q, STACK_TXQ_MAX);
	assert_int_equal(n, 1);
	give(fx, b, q, n);
	assert_int_equal(b->txq.n, 0);
	tick(fx, 50 * MS);
	assert_int_equal(b->txq.n, 1);
	exchange(fx);
	recv_check(fx, s, 0, &got);
	assert_int_equal(got, sent);
}

static void test_gro_bad_csum_mid_run_dropped_rest_delivered(void **state)
{
	struct fx *fx = *state;
	struct stack *a = &fx->a.stk, *b = &fx->b.stk;
	struct tcp_conn_info ai;
	struct pkb *q[STACK_TXQ_MAX];
	uint32_t s, c, sent = 0, got = 0, n, len;
	uint64_t tcp_drops[PROTO_DROP_MAX], in0, out0;

	exchange(fx);
	c = connect_ab(fx, listen_b(fx, 80), 80, &s);
	in0 = b->stats.cnt[PROTO_CNT_GRO_SEGS_IN];
	out0 = b->stats.cnt[PROTO_CNT_GRO_SEGS_OUT];
	assert_int_equal(tcp_info(a->tcp, c, &ai), 0);
	send_some(fx, c, 0, &sent, 4 * ai.snd_mss);
	n = take_tx(a, q, STACK_TXQ_MAX);
	assert_int_equal(n, 4);
	frame_tcp(q[1], &len);
	assert_int_equal(len, ai.snd_mss);
	assert_int_equal(pkb_len(q[1]), q[1]->pkt_len);
	pkb_data(q[1])[pkb_len(q[1]) - 1] ^= 0x5a;      /* one payload byte flipped */
	give(fx, b, q, n);
	assert_int_equal(b->stats.drop[PROTO_DROP_TCP_BAD_CSUM], 1);
	/* 1 | (hole) | 3+4 merged: the segment after the hole starts a new run */
	assert_int_equal(b->stats.cnt[PROTO_CNT_GRO_SEGS_IN] - in0, 3);
	assert_int_equal(b->stats.cnt[PROTO_CNT_GRO_SEGS_OUT] - out0, 2);
	for (int round = 0; round < 100 && got < sent; round++) {
		exchange(fx);
		recv_check(fx, s, 0, &got);
		tick(fx, 100 * MS);     /* the RTO retransmits the lost one */
	}
	assert_int_equal(got, sent);
	tcp_stats_read(b->tcp, NULL, tcp_drops);
	assert_int_equal(tcp_drops[PROTO_DROP_TCP_BAD_CSUM], 0);   /* counted once, by the stack */
}

/* A's frames for B, perturbed: adjacent swaps, duplicates, losses. */
static uint32_t perturb(struct fx *fx, struct pkb **q, uint32_t n, uint32_t max)
{
	for (uint32_t i = 0; i < n; i++) {
		uint64_t r = rnd(fx) % 100;

		if (r < 8 && i + 1 < n) {                  /* reordered */
			struct pkb *t = q[i];

			q[i] = q[i + 1];
			q[i + 1] = t;
		} else if (r < 12 && n < max) {            /* duplicated */
			memmove(q + i + 1, q + i, (n - i) * sizeof(q[0]));
			q[i + 1] = pkb_copy(&fx->pf.cache, q[i]);
			assert_non_null(q[i + 1]);
			n++;
			i++;
		} else if (r < 14) {                       /* lost */
			pkb_free(&fx->pf.cache, q[i]);
			memmove(q + i, q + i + 1, (n - i - 1) * sizeof(q[0]));
			n--;
			i--;
		}
	}
	return n;
}

/* One round of the random test: A's frames perturbed, in random bursts. */
static uint32_t random_round(struct fx *fx)
{
	struct pkb *q[STACK_TXQ_MAX + 64];
	uint32_t n = take_tx(&fx->a.stk, q, STACK_TXQ_MAX), m, i = 0;

	n = perturb(fx, q, n, STACK_TXQ_MAX + 64);
	wire(q, n);
	while (i < n) {
		uint32_t k = 1 + (uint32_t)(rnd(fx) % 32);

		k = k < n - i ? k : n - i;
		stack_input_burst(&fx->b.stk, q + i, k, fx->now);
		i += k;
	}
	drain_events(&fx->b.stk);
	m = take_tx(&fx->b.stk, q, STACK_TXQ_MAX);
	give(fx, &fx->a.stk, q, m);
	return n + m;
}

static void test_gro_random_bursts_two_flows_byte_exact(void **state)
{
	struct fx *fx = *state;
	const uint32_t total = 60000;
	uint32_t l[2];

	exchange(fx);
	l[0] = listen_b(fx, 1000);
	l[1] = listen_b(fx, 1001);
	for (uint64_t seed = 1; seed <= 12; seed++) {
		uint32_t s[2], c[2], sent[2] = { 0, 0 }, got[2] = { 0, 0 };
		int round;

		fx->rng = seed * 0x9e3779b97f4a7c15ull;
		c[0] = connect_ab(fx, l[0], 1000, &s[0]);
		c[1] = connect_ab(fx, l[1], 1001, &s[1]);
		for (round = 0; round < 20000 && (got[0] < total || got[1] < total); round++) {
			for (int f = 0; f < 2; f++)
				send_some(fx, c[f], (uint32_t)(seed * 2 + (uint64_t)f), &sent[f], total);
			uint64_t next = stack_next_deadline(&fx->a.stk);

			/* quiet: jump to A's next timer (a retransmission) */
			tick(fx, random_round(fx) == 0 && next != UINT64_MAX && next > fx->now
				 ? next - fx->now : MS);
			for (int f = 0; f < 2; f++)
				recv_check(fx, s[f], (uint32_t)(seed * 2 + (uint64_t)f), &got[f]);
		}
		assert_int_equal(got[0], total);
		assert_int_equal(got[1], total);
		for (int f = 0; f < 2; f++) {
			tcp_abort(fx->a.stk.tcp, &fx->a.stk.tcp_env, c[f], fx->now);
			tcp_abort(fx->b.stk.tcp, &fx->b.stk.tcp_env, s[f], fx->now);
		}
		exchange(fx);
	}
	print_message("random: %llu segments in, %llu to TCP\n",
		      (unsigned long long)fx->b.stk.stats.cnt[PROTO_CNT_GRO_SEGS_IN],
		      (unsigned long long)fx->b.stk.stats.cnt[PROTO_CNT_GRO_SEGS_OUT]);
	assert_true(fx->b.stk.stats.cnt[PROTO_CNT_GRO_SEGS_OUT] <
		    fx->b.stk.stats.cnt[PROTO_CNT_GRO_SEGS_IN]);
}

static void test_gro_stack_flush_frees_held_segments(void **state)
{
	struct fx *fx = *state;
	struct stack *a = &fx->a.stk, *b = &fx->b.stk;
	struct pkb *q[STACK_TXQ_MAX];
	uint32_t s, c, sent = 0, n;

	exchange(fx);
	c = connect_ab(fx, listen_b(fx, 80), 80, &s);
	send_some(fx, c, 0, &sent, 3000);
	n = take_tx(a, q, STACK_TXQ_MAX);
	b->in_burst = true;             /* as if the engine stopped mid-burst */
	for (uint32_t i = 0; i < n; i++)
		stack_input(b, q[i], fx->now);
	assert_int_equal(b->gro.n, n);
	/* teardown's stack_flush must give them back */
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_gro_run_merges_into_one_chain),
		T(test_gro_psh_merges_and_is_carried_over),
		T(test_gro_out_of_order_and_duplicates_not_merged),
		T(test_gro_control_segments_not_merged),
		T(test_gro_differing_ack_window_options_not_merged),
		T(test_gro_interleaved_flows_merge_each_in_order),
		T(test_gro_segment_sizes_follow_the_first),
		T(test_gro_merged_size_bounded),
		T(test_gro_unverified_segment_not_merged),
		T(test_gro_verify_checks_sum_and_length),
		T(test_gro_bulk_transfer_byte_exact_with_fewer_tcp_inputs),
		T(test_gro_outside_burst_nothing_held),
		T(test_gro_merged_two_full_segments_acked_at_once),
		T(test_gro_bad_csum_mid_run_dropped_rest_delivered),
		T(test_gro_random_bursts_two_flows_byte_exact),
		T(test_gro_stack_flush_frees_held_segments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
