/* tests/unit/test_reasm.c — IPv4 reassembly (RFC 791 3.2, RFC 815, RFC 5722's
 * overlap rule): scapy's fragments in any order, duplicates, overlaps, the
 * limits, the 30 s timeout with its ICMP time exceeded, and a property test:
 * random datagrams cut at random sizes, shuffled, with duplicates,
 * reassemble to the original (seeded PRNG, many iterations).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/support/netsim.h"
#include "tests/unit/l3_fixture.h"

#define OUR L3V_OUR_IP
#define PEER L3V_PEER_IP
#define SEC 1000000000ull

/* The UDP payload scapy's frag_udp_in carries. */
#define FRAG_PAYLOAD     (l3v_frag_udp_in_whole + 28)
#define FRAG_PAYLOAD_LEN (sizeof(l3v_frag_udp_in_whole) - 28)

/* Write fragment [off, off + len) of datagram l4 (the IP payload) into buf
 * behind a 20-byte header; returns its length. */
static uint32_t build_frag(uint8_t *buf, uint16_t id, uint8_t proto, const uint8_t *l4,
			   uint32_t off, uint32_t len, bool mf)
{
	uint16_t sum;

	memset(buf, 0, 20);
	buf[0] = 0x45;
	ipv4_put16(buf + 2, (uint16_t)(20 + len));
	ipv4_put16(buf + 4, id);
	ipv4_put16(buf + 6, (uint16_t)((mf ? 0x2000 : 0) | off / 8));
	buf[8] = 64;
	buf[9] = proto;
	ipv4_put32(buf + 12, PEER);
	ipv4_put32(buf + 16, OUR);
	sum = inet_csum(buf, 20);
	memcpy(buf + 10, &sum, 2);
	memcpy(buf + 20, l4 + off, len);
	return 20 + len;
}

static void inject_frag(struct l3f *fx, uint16_t id, const uint8_t *l4, uint32_t off,
			uint32_t len, bool mf)
{
	static uint8_t buf[65536];

	l3f_inject(fx, buf, build_frag(buf, id, IPV4_PROTO_UDP, l4, off, len, mf));
}

/* Assert one event carrying scapy's 3000-byte payload, as a chain. */
static void assert_frag_udp_delivered(struct l3f *fx)
{
	static uint8_t got[4096];

	assert_int_equal(fx->stk->evq.n, 1);
	assert_int_equal(fx->stk->evq.ev[0].lport, 2222);
	assert_int_equal(l3f_ev_payload(fx, 0, got, sizeof(got)), FRAG_PAYLOAD_LEN);
	assert_memory_equal(got, FRAG_PAYLOAD, FRAG_PAYLOAD_LEN);
	assert_int_equal(fx->stk->evq.ev[0].pkb->nb_segs, L3V_FRAG_UDP_IN_N);
	assert_int_equal(L3F_COUNT(fx, IP_REASM_OK), 1);
	assert_int_equal(fx->stk->ip.reasm.count, 0);
	assert_int_equal(fx->stk->ip.reasm.mem, 0);
}

static void test_reasm_scapy_in_order(void **state)
{
	struct l3f *fx = *state;

	udp_bind(&fx->stk->udp, 1, 0, 2222, 0, 0);
	l3f_inject_frags(fx, l3v_frag_udp_in, L3V_FRAG_UDP_IN_N);
	assert_frag_udp_delivered(fx);
	assert_int_equal(l3f_total_drops(fx), 0);
}

static void test_reasm_scapy_reverse_order(void **state)
{
	struct l3f *fx = *state;

	udp_bind(&fx->stk->udp, 1, 0, 2222, 0, 0);
	for (unsigned i = L3V_FRAG_UDP_IN_N; i-- > 0;) {
		assert_int_equal(fx->stk->evq.n, 0);
		l3f_inject(fx, l3v_frag_udp_in[i].data, l3v_frag_udp_in[i].len);
	}
	assert_frag_udp_delivered(fx);
}

static void test_reasm_exact_duplicate_ignored(void **state)
{
	struct l3f *fx = *state;

	udp_bind(&fx->stk->udp, 1, 0, 2222, 0, 0);
	l3f_inject(fx, l3v_frag_udp_in[1].data, l3v_frag_udp_in[1].len);
	l3f_inject(fx, l3v_frag_udp_in[0].data, l3v_frag_udp_in[0].len);
	l3f_inject(fx, l3v_frag_udp_in[1].data, l3v_frag_udp_in[1].len);
	assert_int_equal(L3F_DROPS(fx, REASM_DUPLICATE), 1);   /* the duplicate alone */
	assert_int_equal(L3F_DROPS(fx, REASM_OVERLAP), 0);
	assert_int_equal(fx->stk->ip.reasm.count, 1);
	l3f_inject(fx, l3v_frag_udp_in[2].data, l3v_frag_udp_in[2].len);
	assert_frag_udp_delivered(fx);
}

static void test_reasm_overlap_drops_whole_datagram(void **state)
{
	struct l3f *fx = *state;

	udp_bind(&fx->stk->udp, 1, 0, 2222, 0, 0);
	l3f_inject(fx, l3v_frag_udp_in[0].data, l3v_frag_udp_in[0].len);
	l3f_inject(fx, l3v_frag_udp_in[2].data, l3v_frag_udp_in[2].len);
	/* Bytes 1472..1487: overlaps the end of fragment zero. */
	inject_frag(fx, 0xbeef, l3v_frag_udp_in_whole + 20, 1472, 16, true);
	assert_int_equal(L3F_DROPS(fx, REASM_OVERLAP), 3);     /* it and both held */
	assert_int_equal(fx->stk->ip.reasm.count, 0);
	assert_int_equal(fx->stk->ip.reasm.mem, 0);
	l3f_inject(fx, l3v_frag_udp_in[1].data, l3v_frag_udp_in[1].len);
	assert_int_equal(fx->stk->evq.n, 0);                    /* nothing to complete */
}

static void test_reasm_overlap_same_offset_other_length(void **state)
{
	struct l3f *fx = *state;

	l3f_inject(fx, l3v_frag_udp_in[0].data, l3v_frag_udp_in[0].len);
	inject_frag(fx, 0xbeef, l3v_frag_udp_in_whole + 20, 0, 8, true);
	assert_int_equal(L3F_DROPS(fx, REASM_OVERLAP), 2);
	assert_int_equal(fx->stk->ip.reasm.count, 0);
}

static void test_reasm_bad_fragments_counted(void **state)
{
	struct l3f *fx = *state;
	static uint8_t l4[65536 + 16];

	inject_frag(fx, 1, l4, 0, 13, true);             /* MF with a length not in 8s */
	inject_frag(fx, 2, l4, 64, 0, true);             /* empty */
	assert_int_equal(L3F_DROPS(fx, REASM_BAD_FRAG), 2);
	inject_frag(fx, 3, l4, 65528, 16, false);        /* past 65535 */
	assert_int_equal(L3F_DROPS(fx, REASM_TOO_BIG), 1);
	inject_frag(fx, 4, l4, 0, 16, true);
	inject_frag(fx, 4, l4, 32, 8, false);            /* last: the datagram is 40 bytes */
	inject_frag(fx, 4, l4, 40, 8, true);             /* past the last: contradiction */
	assert_int_equal(L3F_DROPS(fx, REASM_BAD_FRAG), 5);
	assert_int_equal(fx->stk->ip.reasm.count, 0);
}

static void test_reasm_too_many_fragments_memlimit(void **state)
{
	struct l3f *fx = *state;
	static uint8_t l4[2048];

	for (uint32_t i = 0; i < IP_REASM_MAX_FRAGS; i++)
		inject_frag(fx, 5, l4, i * 16, 8, true);  /* gaps: never complete */
	assert_int_equal(fx->stk->ip.reasm.count, 1);
	inject_frag(fx, 5, l4, IP_REASM_MAX_FRAGS * 16, 8, true);
	assert_int_equal(L3F_DROPS(fx, REASM_MEMLIMIT), IP_REASM_MAX_FRAGS + 1);
	assert_int_equal(fx->stk->ip.reasm.count, 0);
}

static void test_reasm_table_full_memlimit(void **state)
{
	struct l3f *fx = *state;
	static uint8_t l4[64];

	for (uint32_t id = 0; id < IP_REASM_MAX_DGRAMS; id++)
		inject_frag(fx, (uint16_t)id, l4, 0, 8, true);
	assert_int_equal(fx->stk->ip.reasm.count, IP_REASM_MAX_DGRAMS);
	inject_frag(fx, 999, l4, 0, 8, true);
	assert_int_equal(L3F_DROPS(fx, REASM_MEMLIMIT), 1);
	assert_int_equal(fx->stk->ip.reasm.count, IP_REASM_MAX_DGRAMS);
}

static void test_reasm_memory_limit_memlimit(void **state)
{
	struct l3f *fx = *state;

	fx->stk->ip.reasm.mem_max = 2 * (2048 + PKB_META_SIZE);   /* two buffers */
	l3f_inject(fx, l3v_frag_udp_in[0].data, l3v_frag_udp_in[0].len);
	l3f_inject(fx, l3v_frag_udp_in[1].data, l3v_frag_udp_in[1].len);
	l3f_inject(fx, l3v_frag_udp_in[2].data, l3v_frag_udp_in[2].len);
	assert_int_equal(L3F_DROPS(fx, REASM_MEMLIMIT), 1);
	assert_int_equal(fx->stk->evq.n, 0);
	assert_int_equal(fx->stk->ip.reasm.count, 1);   /* kept; it may still time out */
}

static void test_reasm_timeout_sends_time_exceeded(void **state)
{
	struct l3f *fx = *state;

	l3f_inject(fx, l3v_frag_udp_in[0].data, l3v_frag_udp_in[0].len);
	l3f_inject(fx, l3v_frag_udp_in[1].data, l3v_frag_udp_in[1].len);
	assert_int_equal(ipv4_next_deadline(fx->stk), L3F_NOW0 + 30 * SEC);
	stack_timers(fx->stk, L3F_NOW0 + 30 * SEC - 1);
	assert_int_equal(fx->stk->ip.reasm.count, 1);
	assert_int_equal(fx->stk->txq.n, 0);
	stack_timers(fx->stk, L3F_NOW0 + 30 * SEC);
	assert_int_equal(fx->stk->ip.reasm.count, 0);
	assert_int_equal(L3F_DROPS(fx, REASM_TIMEOUT), 2);
	assert_int_equal(l3f_ip_frames(fx), 1);
	l3f_assert_tx(fx, 0, l3v_time_exceeded_out_0, sizeof(l3v_time_exceeded_out_0));
	assert_int_equal(ipv4_next_deadline(fx->stk), UINT64_MAX);
}

static void test_reasm_timeout_without_first_no_icmp(void **state)
{
	struct l3f *fx = *state;

	l3f_inject(fx, l3v_frag_udp_in[1].data, l3v_frag_udp_in[1].len);
	l3f_inject(fx, l3v_frag_udp_in[2].data, l3v_frag_udp_in[2].len);
	stack_timers(fx->stk, L3F_NOW0 + 31 * SEC);
	assert_int_equal(L3F_DROPS(fx, REASM_TIMEOUT), 2);
	assert_int_equal(fx->stk->txq.n, 0);           /* RFC 792: only with fragment zero */
}

static void test_reasm_unknown_proto_after_reassembly(void **state)
{
	struct l3f *fx = *state;
	static uint8_t l4[3000], buf[2048];

	for (uint32_t i = 0; i < sizeof(l4); i++)
		l4[i] = (uint8_t)i;
	l3f_inject(fx, buf, build_frag(buf, 77, 200, l4, 0, 1480, true));
	l3f_inject(fx, buf, build_frag(buf, 77, 200, l4, 1480, 1520, false));
	assert_int_equal(L3F_COUNT(fx, IP_REASM_OK), 1);
	/* Whole, it is one packet: one drop, one protocol unreachable
	 * quoting the rewritten header (total length 3020) and 548 bytes. */
	assert_int_equal(L3F_DROPS(fx, IP_UNKNOWN_PROTO), 1);
	assert_int_equal(fx->stk->txq.n, 1);
	assert_int_equal(fx->stk->txq.pkb[0]->pkt_len, 14 + 576);
	assert_int_equal(pkb_copy_out(fx->stk->txq.pkb[0], 14 + 28, 20, buf), 0);
	assert_int_equal(ipv4_get16(buf + 2), 3020);
	assert_int_equal(ipv4_get16(buf + 6), 0);
	assert_int_equal(inet_csum(buf, 20), 0);
}

/* ------------------------------------------------------------ property */

struct dgram {
	uint16_t id, sport;
	uint32_t len;            /* UDP length */
	uint8_t l4[9008];
};

/* A UDP datagram PEER:sport -> OUR:4000 with random data and a checksum. */
static void make_dgram(struct netsim_rng *r, struct dgram *d, uint16_t id, uint16_t sport)
{
	uint32_t n = 1 + (uint32_t)netsim_rng_below(r, 9000);
	uint16_t sum;

	d->id = id;
	d->sport = sport;
	d->len = 8 + n;
	for (uint32_t i = 8; i < d->len; i++)
		d->l4[i] = (uint8_t)netsim_rng_next(r);
	ipv4_put16(d->l4, sport);
	ipv4_put16(d->l4 + 2, 4000);
	ipv4_put16(d->l4 + 4, (uint16_t)d->len);
	ipv4_put16(d->l4 + 6, 0);
	sum = csum_fold(csum_partial(d->l4, d->len, csum_pseudo_ipv4(PEER, OUR, 17, (uint16_t)d->len)));
	memcpy(d->l4 + 6, &sum, 2);
}

struct piece {
	const struct dgram *d;
	uint32_t off, len;
	bool mf;
};

/* Cut d at random multiples of 8, never into more than 60 pieces. */
static unsigned cut(struct netsim_rng *r, const struct dgram *d, struct piece *p)
{
	uint32_t min = ((d->len / 60 + 7) & ~7u) > 8 ? ((d->len / 60 + 7) & ~7u) : 8;
	unsigned n = 0;

	for (uint32_t off = 0; off < d->len; n++) {
		uint32_t len = (min + 8 * (uint32_t)netsim_rng_below(r, (1480 - min) / 8 + 1));

		if (off + len >= d->len)      /* the last piece; never the only one */
			len = off == 0 ? (d->len - 1) & ~7u : d->len - off;
		p[n] = (struct piece){ .d = d, .off = off, .len = len, .mf = off + len < d->len };
		off += len;
	}
	return n;
}

static void check_delivered(struct l3f *fx, const struct dgram *d)
{
	static uint8_t got[9100];
	uint32_t i;

	for (i = 0; i < fx->stk->evq.n && fx->stk->evq.ev[i].rport != d->sport; i++)
		;
	assert_true(i < fx->stk->evq.n);
	assert_int_equal(l3f_ev_payload(fx, i, got, sizeof(got)), d->len - 8);
	assert_memory_equal(got, d->l4 + 8, d->len - 8);
}

static void test_reasm_property_random_order_with_duplicates(void **state)
{
	struct l3f *fx = *state;
	static struct dgram d[2];
	static struct piece p[300];
	struct netsim_rng r;

	netsim_rng_seed(&r, 0x5eed0003);
	udp_bind(&fx->stk->udp, 1, 0, 4000, 0, 0);
	for (unsigned iter = 0; iter < 2000; iter++) {
		uint64_t drops = L3F_DROPS(fx, REASM_DUPLICATE) + L3F_DROPS(fx, REASM_TIMEOUT);
		unsigned n, dups = 0;

		make_dgram(&r, &d[0], (uint16_t)(2 * iter), 1000);
		make_dgram(&r, &d[1], (uint16_t)(2 * iter + 1), 1001);
		n = cut(&r, &d[0], p);
		n += cut(&r, &d[1], p + n);
		/* Duplicates, never of a last piece: one arriving after its
		 * datagram completed must not complete it again. */
		for (unsigned k = 0, m = n; k < 6; k++) {
			unsigned j = (unsigned)netsim_rng_below(&r, m);

			if (p[j].mf && netsim_rng_chance(&r, 0.6)) {
				p[n++] = p[j];
				dups++;
			}
		}
		for (unsigned k = n; k > 1; k--) {                /* Fisher-Yates */
			unsigned j = (unsigned)netsim_rng_below(&r, k);
			struct piece t = p[k - 1];

			p[k - 1] = p[j];
			p[j] = t;
		}
		for (unsigned k = 0; k < n; k++)
			inject_frag(fx, p[k].d->id, p[k].d->l4, p[k].off, p[k].len, p[k].mf);
		assert_int_equal(fx->stk->evq.n, 2);
		check_delivered(fx, &d[0]);
		check_delivered(fx, &d[1]);
		l3f_drain_evq(fx);
		/* Duplicates after completion start entries that time out. */
		fx->now += 31 * SEC;
		stack_timers(fx->stk, fx->now);
		l3f_drain_txq(fx);
		/* Every duplicate dropped once: before completion as a
		 * duplicate, after it with the entry it started. (The time
		 * exceeded errors those entries cause wait on ARP and fail:
		 * NEIGH_FAILED, not counted here.) */
		assert_int_equal(L3F_DROPS(fx, REASM_DUPLICATE) + L3F_DROPS(fx, REASM_TIMEOUT) - drops,
				 dups);
		assert_int_equal(L3F_DROPS(fx, REASM_OVERLAP), 0);
		assert_int_equal(fx->stk->ip.reasm.count, 0);
	}
	assert_int_equal(L3F_COUNT(fx, IP_REASM_OK), 4000);
}

#define T(f) cmocka_unit_test_setup_teardown(f, l3f_setup, l3f_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_reasm_scapy_in_order),
		T(test_reasm_scapy_reverse_order),
		T(test_reasm_exact_duplicate_ignored),
		T(test_reasm_overlap_drops_whole_datagram),
		T(test_reasm_overlap_same_offset_other_length),
		T(test_reasm_bad_fragments_counted),
		T(test_reasm_too_many_fragments_memlimit),
		T(test_reasm_table_full_memlimit),
		T(test_reasm_memory_limit_memlimit),
		T(test_reasm_timeout_sends_time_exceeded),
		T(test_reasm_timeout_without_first_no_icmp),
		T(test_reasm_unknown_proto_after_reassembly),
		T(test_reasm_property_random_order_with_duplicates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
