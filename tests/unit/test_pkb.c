/* tests/unit/test_pkb.c — packet buffers (shm/pkb.h): geometry, clones,
 * chains, the magazine caches and, in debug builds (make SAN=1), misuse
 * detection. Every test's teardown asserts that no slot leaked. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "shm/pkb.h"
#include "tests/support/pkb_fixture.h"

#define NSLOTS   64u
#define BUF      PKB_DEFAULT_BUFSIZE
#define ROOM0    (BUF - PKB_HEADROOM)   /* tailroom of a fresh pkb */

static int setup(void **state)
{
	*state = pkb_fixture_new(NSLOTS, 0);
	return *state != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	struct pkb_fixture *fx = *state;
	uint32_t leaks = pkb_fixture_leaks(fx);

	pkb_fixture_destroy(fx);
	assert_int_equal(leaks, 0);
	return 0;
}

static struct pkb_pool_stats stats_of(struct pkb_fixture *fx)
{
	struct pkb_pool_stats s;

	pkb_pool_stats(&fx->pool, &s);
	return s;
}

/* A recognisable byte pattern: byte i of stream `seed`. */
static void pattern(uint8_t *p, uint32_t len, uint32_t seed)
{
	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7u + seed + (i >> 8));
}

static uint32_t in_use(struct pkb_fixture *fx)
{
	pkb_cache_flush(&fx->cache);
	return fx->pool.nslots - pkb_pool_free_count(&fx->pool);
}

/* ------------------------------------------------------------ alloc/free */

static void test_pkb_alloc_free_round_trip(void **state)
{
	struct pkb_fixture *fx = *state;
	struct pkb *b = pkb_alloc(&fx->cache);
	uint32_t idx;

	assert_non_null(b);
	assert_int_equal(b->state, PKB_STATE_LIVE);
	assert_int_equal(atomic_load(&b->refcnt), 1);
	assert_int_equal(pkb_headroom(b), PKB_HEADROOM);
	assert_int_equal(pkb_len(b), 0);
	assert_int_equal(b->pkt_len, 0);
	assert_int_equal(pkb_tailroom(b), ROOM0);
	assert_null(pkb_next(b));
	assert_int_equal(b->nb_segs, 1);
	assert_ptr_equal(pkb_at(&fx->pool, pkb_index(b)), b);
	assert_int_equal(in_use(fx), 1);

	b->ts[PKB_TS_NIC_RX] = 42;
	b->user = 7;
	b->hash = 9;
	idx = pkb_index(b);
	pkb_free(&fx->cache, b);
	assert_int_equal(in_use(fx), 0);

	/* the most recently freed slot comes back first (warm), reset */
	b = pkb_alloc(&fx->cache);
	assert_non_null(b);
	assert_int_equal(pkb_index(b), idx);
	assert_int_equal(b->ts[PKB_TS_NIC_RX], 0);
	assert_int_equal(b->user, 0);
	assert_int_equal(b->hash, 0);
	pkb_free(&fx->cache, b);
	pkb_free(&fx->cache, NULL);
}

static void test_pkb_pool_exhausted_alloc_fails_then_recovers(void **state)
{
	struct pkb_fixture *fx = *state;
	struct pkb *all[NSLOTS];

	for (uint32_t i = 0; i < NSLOTS; i++) {
		all[i] = pkb_alloc(&fx->cache);
		assert_non_null(all[i]);
	}
	assert_null(pkb_alloc(&fx->cache));
	assert_int_equal(stats_of(fx).alloc_fail, 1);
	assert_int_equal(pkb_pool_free_count(&fx->pool), 0);

	pkb_free(&fx->cache, all[5]);
	all[5] = pkb_alloc(&fx->cache);
	assert_non_null(all[5]);
	assert_int_equal(stats_of(fx).alloc_fail, 1);
	for (uint32_t i = 0; i < NSLOTS; i++)
		pkb_free(&fx->cache, all[i]);
}

static void test_pkb_alloc_bulk_all_or_nothing(void **state)
{
	struct pkb_fixture *fx = *state;
	struct pkb *all[NSLOTS], *more[5];

	assert_int_equal(pkb_alloc_bulk(&fx->cache, all, NSLOTS - 3), NSLOTS - 3);
	assert_int_equal(pkb_alloc_bulk(&fx->cache, more, 5), 0);
	assert_int_equal(stats_of(fx).alloc_fail, 1);
	assert_int_equal(in_use(fx), NSLOTS - 3);
	assert_int_equal(pkb_alloc_bulk(&fx->cache, more, 3), 3);
	for (uint32_t i = 0; i < 3; i++)
		pkb_free(&fx->cache, more[i]);
	for (uint32_t i = 0; i < NSLOTS - 3; i++)
		pkb_free(&fx->cache, all[i]);
}

/* ------------------------------------------------------------ geometry */

static void test_pkb_push_headroom_too_small(void **state)
{
	struct pkb_fixture *fx = *state;
	struct pkb *b = pkb_alloc(&fx->cache);
	uint8_t *p;

	assert_non_null(pkb_put(b, 10));
	assert_null(pkb_push(b, PKB_HEADROOM + 1));
	assert_int_equal(pkb_headroom(b), PKB_HEADROOM);
	assert_int_equal(pkb_len(b), 10);
	assert_int_equal(b->pkt_len, 10);
	assert_int_equal(stats_of(fx).no_room, 1);

	p = pkb_push(b, PKB_HEADROOM);
	assert_ptr_equal(p, pkb_buf(b));
	assert_int_equal(pkb_headroom(b), 0);
	assert_int_equal(b->pkt_len, PKB_HEADROOM + 10);
	assert_null(pkb_push(b, 1));
	assert_int_equal(stats_of(fx).no_room, 2);
	pkb_free(&fx->cache, b);
}

static void test_pkb_put_tailroom_exhausted(void **state)
{
	struct pkb_fixture *fx = *state;
	struct pkb *b = pkb_alloc(&fx->cache);
	uint8_t *p;

	assert_null(pkb_put(b, ROOM0 + 1));
	assert_int_equal(pkb_len(b), 0);
	p = pkb_put(b, ROOM0);
	assert_ptr_equal(p, pkb_buf(b) + PKB_HEADROOM);
	memset(p, 0xab, ROOM0);  /* ASan: the whole buffer is ours */
	assert_int_equal(pkb_tailroom(b), 0);
	assert_null(pkb_put(b, 1));
	assert_int_equal(pkb_len(b), ROOM0);
	assert_int_equal(b->pkt_len, ROOM0);
	assert_int_equal(stats_of(fx).no_room, 2);
	pkb_free(&fx->cache, b);
}

static void test_pkb_pull_past_length(void **state)
{
	struct pkb_fixture *fx = *state;
	struct pkb *b = pkb_alloc(&fx->cache);
	uint8_t *start;

	start = pkb_put(b, 10);
	assert_null(pkb_pull(b, 11));
	assert_ptr_equal(pkb_data(b), start);
	assert_int_equal(pkb_len(b), 10);
	assert_ptr_equal(pkb_pull(b, 4), start + 4);
	assert_int_equal(b->pkt_len, 6);
	assert_ptr_equal(pkb_pull(b, 6), start + 10);
	assert_int_equal(pkb_len(b), 0);
	assert_int_equal(b->pkt_len, 0);
	pkb_free(&fx->cache, b);
}

static void test_pkb_trim_single(void **state)
{
	struct pkb_fixture *fx = *state;
	struct pkb *b = pkb_alloc(&fx->cache);

	pkb_put(b, 100);
	assert_int_equal(pkb_trim(&fx->cache, b, 101), -EINVAL);
	assert_int_equal(pkb_len(b), 100);
	assert_int_equal(pkb_trim(&fx->cache, b, 40), 0);
	assert_int_equal(pkb_len(b), 40);
	assert_int_equal(b->pkt_len, 40);
	assert_int_equal(pkb_trim(&fx->cache, b, 0), 0);
	assert_int_equal(pkb_len(b), 0);
	pkb_free(&fx->cache, b);
}

static void test_pkb_trim_chain_frees_fragments(void **state)
{
	struct pkb_fixture *fx = *state;
	static uint8_t src[10000], out[10000];
	struct pkb *b;

	pattern(src, sizeof(src), 1);
	b = pkb_from_bytes(&fx->cache, src, sizeof(src));
	assert_non_null(b);
	assert_int_equal(b->nb_segs, 5);  /* 1920 + 4 x 2048 = 10112 */
	assert_int_equal(in_use(fx), 5);

	/* cut at a segment boundary: no empty fragment is kept */
	assert_int_equal(pkb_trim(&fx->cache, b, ROOM0 + BUF), 0);
	assert_int_equal(b->nb_segs, 2);
	assert_int_equal(b->pkt_len, ROOM0 + BUF);
	assert_int_equal(pkb_len(pkb_next(b)), BUF);
	assert_null(pkb_next(pkb_next(b)));
	assert_int_equal(in_use(fx), 2);

	assert_int_equal(pkb_trim(&fx->cache, b, 1000), 0);
	assert_int_equal(b->nb_segs, 1);
	assert_null(pkb_next(b));
	assert_int_equal(in_use(fx), 1);
	assert_int_equal(pkb_copy_out(b, 0, 1000, out), 0);
	assert_memory_equal(out, src, 1000);
	assert_int_equal(pkb_copy_out(b, 0, 1001, out), -EINVAL);
	pkb_free(&fx->cache, b);
}

static void test_pkb_reserve_moves_empty_data(void **state)
{
	struct pkb_fixture *fx = *state;
	struct pkb *b = pkb_alloc(&fx->cache);

	assert_int_equal(pkb_reserve(b, ROOM0 + 1), -EINVAL);
	assert_int_equal(pkb_headroom(b), PKB_HEADROOM);
	assert_int_equal(pkb_reserve(b, 14), 0);
	assert_int_equal(pkb_headroom(b), PKB_HEADROOM + 14);
	assert_int_equal(pkb_tailroom(b), ROOM0 - 14);
	assert_int_equal(pkb_len(b), 0);
	pkb_put(b, 1);
	assert_int_equal(pkb_reserve(b, 1), -EINVAL);  /* not empty */
	assert_int_equal(pkb_headroom(b), PKB_HEADROOM + 14);
	pkb_free(&fx->cache, b);
}

/* ---------------------------------------------------------------- clones */

static struct pkb *patterned(struct pkb_fixture *fx, uint32_t len, uint32_t seed)
{
	uint8_t buf[BUF];

	pattern(buf, len, seed);
	return pkb_from_bytes(&fx->cache, buf, len);
}

static void test_pkb_clone_free_original_first(void **state)
{
	struct pkb_fixture *fx = *state;
	struct pkb *b = patterned(fx, 200, 3), *c;
	uint8_t want[200];

	pattern(want, sizeof(want), 3);
	b->l3_off = 14;
	b->ts[PKB_TS_NETD_RX] = 1234;
	c = pkb_clone(&fx->cache, b);
	assert_non_null(c);
	assert_true(c->flags & PKB_F_CLONE);
	assert_int_equal(c->data_slot, pkb_index(b));
	assert_ptr_equal(pkb_data(c), pkb_data(b));
	assert_int_equal(c->pkt_len, 200);
	assert_int_equal(c->l3_off, 14);
	assert_int_equal(c->ts[PKB_TS_NETD_RX], 1234);
	assert_int_equal(atomic_load(&b->refcnt), 2);
	assert_int_equal(in_use(fx), 2);

	pkb_free(&fx->cache, b);
	/* b's metadata is dead but its buffer lives on for the clone */
	assert_int_equal(b->state, PKB_STATE_DETACHED);
	assert_int_equal(in_use(fx), 2);
	assert_memory_equal(pkb_data(c), want, sizeof(want));

	pkb_free(&fx->cache, c);
	assert_int_equal(in_use(fx), 0);
}

static void test_pkb_clone_free_clone_first(void **state)
{
	struct pkb_fixture *fx = *state;
	struct pkb *b = patterned(fx, 200, 4), *c = pkb_clone(&fx->cache, b);

	assert_non_null(c);
	pkb_free(&fx->cache, c);
	assert_int_equal(atomic_load(&b->refcnt), 1);
	assert_int_equal(b->state, PKB_STATE_LIVE);
	assert_false(pkb_is_shared(b));
	assert_int_equal(in_use(fx), 1);
	/* sole owner again: writable */
	assert_non_null(pkb_push(b, 14));
	assert_non_null(pkb_put(b, 4));
	pkb_free(&fx->cache, b);
}

static void test_pkb_clone_push_put_refused(void **state)
{
	struct pkb_fixture *fx = *state;
	struct pkb *b = patterned(fx, 100, 5), *c = pkb_clone(&fx->cache, b);
	uint8_t *orig_data = pkb_data(b);

	assert_non_null(c);
	assert_true(pkb_is_shared(b));
	assert_true(pkb_is_shared(c));
	assert_null(pkb_push(c, 1));
	assert_null(pkb_put(c, 1));
	assert_null(pkb_push(b, 1));
	assert_null(pkb_put(b, 1));
	assert_int_equal(stats_of(fx).shared_write, 4);
	assert_int_equal(stats_of(fx).no_room, 0);
	assert_int_equal(pkb_len(b), 100);

	/* pull and trim move only the clone's own offsets */
	assert_non_null(pkb_pull(c, 20));
	assert_int_equal(pkb_trim(&fx->cache, c, 50), 0);
	assert_int_equal(pkb_len(c), 50);
	assert_ptr_equal(pkb_data(b), orig_data);
	assert_int_equal(pkb_len(b), 100);
	pkb_free(&fx->cache, b);
	assert_null(pkb_put(c, 1));  /* a clone stays read-only to the end */
	pkb_free(&fx->cache, c);
}

static void test_pkb_clone_of_clone_shares_data(void **state)
{
	struct pkb_fixture *fx = *state;
	struct pkb *b = patterned(fx, 64, 6);
	struct pkb *c1 = pkb_clone(&fx->cache, b);
	struct pkb *c2 = pkb_clone(&fx->cache, c1);

	assert_non_null(c2);
	assert_int_equal(c2->data_slot, pkb_index(b));
	assert_int_equal(atomic_load(&b->refcnt), 3);
	pkb_free(&fx->cache, b);
	pkb_free(&fx->cache, c1);
	assert_int_equal(in_use(fx), 2);  /* c2 and the data slot */
	pkb_free(&fx->cache, c2);
}

/* ---------------------------------------------------------------- chains */

static void test_pkb_append_10k_reads_back(void **state)
{
	struct pkb_fixture *fx = *state;
	static uint8_t src[10240], out[10240];
	const uint8_t *p;
	struct pkb *b = pkb_alloc(&fx->cache);
	uint32_t off = 0, contig = 1, segs = 0;

	pattern(src, sizeof(src), 7);
	memcpy(pkb_put(b, 100), src, 100);
	assert_int_equal(pkb_append(&fx->cache, b, src + 100, sizeof(src) - 100), 0);
	assert_int_equal(b->pkt_len, sizeof(src));
	assert_int_equal(b->nb_segs, 6);  /* 1920 + 5 x 2048 >= 10240 */
	assert_int_equal(pkb_copy_out(b, 0, sizeof(src), out), 0);
	assert_memory_equal(out, src, sizeof(src));
	assert_int_equal(pkb_copy_out(b, ROOM0 - 20, 2100, out), 0);  /* spans 3 segments */
	assert_memory_equal(out, src + ROOM0 - 20, 2100);
	assert_int_equal(pkb_copy_out(b, sizeof(src) - 1, 2, out), -EINVAL);
	assert_int_equal(pkb_copy_out(b, sizeof(src), 0, out), 0);

	while (off < sizeof(src) && segs < 10) {
		p = pkb_seg_at(b, off, &contig);
		assert_non_null(p);
		assert_memory_equal(p, src + off, contig);
		off += contig;
		segs++;
	}
	assert_int_equal(off, sizeof(src));
	assert_int_equal(segs, 6);
	assert_null(pkb_seg_at(b, off, &contig));
	assert_int_equal(contig, 0);
	p = pkb_seg_at(b, ROOM0 + 5, &contig);  /* 6th byte of the 2nd segment */
	assert_int_equal(contig, BUF - 5);
	assert_int_equal(*p, src[ROOM0 + 5]);
	pkb_free(&fx->cache, b);
}

static void test_pkb_append_pool_empty_leaves_chain_unchanged(void **state)
{
	struct pkb_fixture *fx = *state;
	static uint8_t src[10240];
	struct pkb *hold[NSLOTS];
	struct pkb *b = patterned(fx, 300, 8);
	uint32_t n = 0;

	/* leave 3 slots free: 10 KB needs 5 fragments */
	while (in_use(fx) < NSLOTS - 3 && n < NSLOTS)
		hold[n++] = pkb_alloc(&fx->cache);
	assert_int_equal(pkb_append(&fx->cache, b, src, sizeof(src)), -ENOBUFS);
	assert_int_equal(b->pkt_len, 300);
	assert_int_equal(pkb_len(b), 300);
	assert_int_equal(b->nb_segs, 1);
	assert_null(pkb_next(b));
	assert_int_equal(in_use(fx), NSLOTS - 3);
	assert_int_equal(stats_of(fx).alloc_fail, 1);
	while (n > 0)
		pkb_free(&fx->cache, hold[--n]);
	pkb_free(&fx->cache, b);
}

static void test_pkb_chain_clone_payload_behind_header(void **state)
{
	struct pkb_fixture *fx = *state;
	struct pkb *payload = patterned(fx, 1000, 9);
	struct pkb *hdr = pkb_alloc(&fx->cache), *c = pkb_clone(&fx->cache, payload);
	uint8_t out[1040], want[1000];

	/* a retransmission: fresh headers, payload shared with the send queue */
	memset(pkb_put(hdr, 40), 0x45, 40);
	pkb_chain(hdr, c);
	assert_int_equal(hdr->pkt_len, 1040);
	assert_int_equal(hdr->nb_segs, 2);
	assert_int_equal(pkb_copy_out(hdr, 0, sizeof(out), out), 0);
	pattern(want, sizeof(want), 9);
	assert_memory_equal(out + 40, want, sizeof(want));
	/* appending after a shared segment starts a new fragment */
	assert_int_equal(pkb_append(&fx->cache, hdr, "xy", 2), 0);
	assert_int_equal(hdr->nb_segs, 3);
	assert_int_equal(pkb_len(payload), 1000);
	pkb_free(&fx->cache, payload);
	pkb_free(&fx->cache, hdr);
}

static void test_pkb_copy_is_independent(void **state)
{
	struct pkb_fixture *fx = *state;
	static uint8_t src[5000], out[5000];
	struct pkb *b, *c, *cc;

	pattern(src, sizeof(src), 10);
	b = pkb_from_bytes(&fx->cache, src, sizeof(src));
	b->l3_off = 14;
	b->hash = 0xabcd;
	b->ts[PKB_TS_PROTO] = 99;
	c = pkb_copy(&fx->cache, b);
	assert_non_null(c);
	assert_int_not_equal(c->data_slot, b->data_slot);
	assert_false(pkb_is_shared(c));
	assert_false(pkb_is_shared(b));
	assert_int_equal(pkb_headroom(c), pkb_headroom(b));
	assert_int_equal(c->pkt_len, sizeof(src));
	assert_int_equal(c->l3_off, 14);
	assert_int_equal(c->hash, 0xabcd);
	assert_int_equal(c->ts[PKB_TS_PROTO], 99);
	assert_int_equal(pkb_copy_out(c, 0, sizeof(src), out), 0);
	assert_memory_equal(out, src, sizeof(src));

	memset(pkb_data(c), 0, pkb_len(c));
	assert_non_null(pkb_push(c, 8));
	assert_int_equal(pkb_copy_out(b, 0, sizeof(src), out), 0);
	assert_memory_equal(out, src, sizeof(src));

	/* a copy of a clone is writable too */
	cc = pkb_clone(&fx->cache, b);
	pkb_free(&fx->cache, c);
	c = pkb_copy(&fx->cache, cc);
	assert_non_null(c);
	assert_false(c->flags & PKB_F_CLONE);
	assert_int_equal(c->pkt_len, ROOM0);  /* the clone's first segment only */
	assert_non_null(pkb_push(c, 1));
	pkb_free(&fx->cache, cc);
	pkb_free(&fx->cache, c);
	pkb_free(&fx->cache, b);
}

/* --------------------------------------------------------- pool, indices */

static void test_pkb_at_bad_index(void **state)
{
	struct pkb_fixture *fx = *state;
	struct pkb *b = pkb_alloc(&fx->cache);

	assert_null(pkb_at(&fx->pool, NSLOTS));
	assert_null(pkb_at(&fx->pool, PKB_NONE));
	assert_int_equal(stats_of(fx).bad_index, 2);
	assert_ptr_equal(pkb_at(&fx->pool, pkb_index(b)), b);
	pkb_free(&fx->cache, b);
	if (PKB_DEBUG) {
		assert_null(pkb_at(&fx->pool, pkb_index(b)));
		assert_int_equal(stats_of(fx).use_after_free, 1);
	}
}

static void test_pkb_format_rejects_bad_geometry(void **state)
{
	struct pkb_fixture *fx = *state;
	struct pkb_pool p;
	size_t need = pkb_pool_bytes(NSLOTS, BUF);

	assert_int_equal(pkb_pool_bytes(0, BUF), 0);
	assert_int_equal(pkb_pool_bytes(NSLOTS, 100), 0);
	assert_int_equal(pkb_pool_bytes(NSLOTS, PKB_BUF_MAX + 1), 0);
	assert_int_equal(pkb_pool_bytes(PKB_POOL_MAX_SLOTS + 1, BUF), 0);
	assert_int_equal(pkb_pool_bytes(1, 1500), pkb_pool_bytes(1, 1536));
	assert_int_equal(pkb_pool_format(&p, fx->mem, need - 1, NSLOTS, BUF), -EINVAL);
	assert_int_equal(pkb_pool_format(&p, (uint8_t *)fx->mem + 8, need, 1, BUF), -EINVAL);
}

static void test_pkb_format_partial_magazine(void **state)
{
	struct pkb_fixture fx;
	struct pkb *all[70];

	(void)state;
	assert_int_equal(pkb_fixture_init(&fx, 70, 256), 0);  /* 32 + 32 + 6 */
	assert_int_equal(pkb_pool_free_count(&fx.pool), 70);
	for (uint32_t i = 0; i < 70; i++) {
		all[i] = pkb_alloc(&fx.cache);
		assert_non_null(all[i]);
	}
	assert_null(pkb_alloc(&fx.cache));
	for (uint32_t i = 0; i < 70; i++)
		pkb_free(&fx.cache, all[i]);
	assert_int_equal(pkb_fixture_leaks(&fx), 0);
	pkb_fixture_fini(&fx);
}

static void test_pkb_attach_checks_header(void **state)
{
	struct pkb_fixture *fx = *state;
	struct pkb_pool p;
	struct pkb *b = patterned(fx, 500, 11), *b2;
	uint8_t want[500];
	void *copy;

	assert_int_equal(pkb_pool_attach(&p, fx->mem, fx->bytes), 0);
	assert_int_equal(p.nslots, NSLOTS);
	assert_int_equal(p.buf_size, BUF);
	assert_int_equal(pkb_pool_attach(&p, fx->mem, fx->bytes - 1), -EINVAL);

	/* no pointers inside: a byte copy of the pool works at another address */
	copy = aligned_alloc(64, (fx->bytes + 63) & ~(size_t)63);
	assert_non_null(copy);
	memcpy(copy, fx->mem, fx->bytes);
	assert_int_equal(pkb_pool_attach(&p, copy, fx->bytes), 0);
	b2 = pkb_at(&p, pkb_index(b));
	assert_non_null(b2);
	pattern(want, sizeof(want), 11);
	assert_memory_equal(pkb_data(b2), want, sizeof(want));
	assert_ptr_not_equal(pkb_data(b2), pkb_data(b));

	((uint32_t *)copy)[0] ^= 1;  /* the magic */
	assert_int_equal(pkb_pool_attach(&p, copy, fx->bytes), -EPROTO);
	free(copy);
	pkb_free(&fx->cache, b);
}

/* Allocate everything through three caches on one pool, check that no slot
 * was handed out twice, free each slot through a different cache than the
 * one that allocated it (so caches spill and refill each other's
 * magazines), and check that the pool gets every slot back. */
static void test_pkb_caches_never_lose_or_duplicate(void **state)
{
	enum { N = 1000, NCACHE = 3, ROUNDS = 3 };  /* 1000 = 31 magazines + 8 */
	struct pkb_fixture fx;
	struct pkb_cache caches[NCACHE];
	static struct pkb *got[N + 1];
	static uint8_t seen[N];

	(void)state;
	assert_int_equal(pkb_fixture_init(&fx, N, 256), 0);
	for (int k = 0; k < NCACHE; k++)
		pkb_cache_init(&caches[k], &fx.pool);
	for (int r = 0; r < ROUNDS; r++) {
		uint32_t n = 0, tries = 0;
		int misses = 0;

		memset(seen, 0, sizeof(seen));
		/* until all three caches (and so the pool) come up empty */
		while (misses < NCACHE && n <= N) {
			struct pkb *b = pkb_alloc(&caches[tries++ % NCACHE]);

			misses = b != NULL ? 0 : misses + 1;
			if (b == NULL)
				continue;
			assert_true(pkb_index(b) < N);
			assert_int_equal(seen[pkb_index(b)], 0);
			seen[pkb_index(b)] = 1;
			got[n++] = b;
		}
		assert_int_equal(n, N);
		assert_int_equal(pkb_pool_free_count(&fx.pool), 0);
		for (uint32_t i = 0; i < n; i++)
			pkb_free(&caches[(i + 1 + r) % NCACHE], got[i]);
		for (int k = 0; k < NCACHE; k++)
			pkb_cache_flush(&caches[k]);
		assert_int_equal(pkb_pool_free_count(&fx.pool), N);
	}
	assert_int_equal(pkb_fixture_leaks(&fx), 0);
	pkb_fixture_fini(&fx);
}

/* Three threads (one more than this machine's cores, so threads are
 * preempted inside pool_pop's load..CAS window) each grab a little more than
 * a magazine, mark each slot as theirs, check the marks and flush, for a
 * bounded time. Without the ABA tag on the stack's top this fails (duplicate
 * owners, a lost slot or a crash) in most runs; ThreadSanitizer cannot show
 * it, as it serialises atomics. */
struct contender {
	struct pkb_pool *pool;
	uint64_t id;
	struct timespec until;
	uint32_t rounds, dup;
};

static bool before(const struct timespec *until)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec < until->tv_sec ||
	       (now.tv_sec == until->tv_sec && now.tv_nsec < until->tv_nsec);
}

static void *contend(void *arg)
{
	struct contender *ct = arg;
	struct pkb *held[40];
	struct pkb_cache cache;

	pkb_cache_init(&cache, ct->pool);
	/* bounded by time, checked once per 256 rounds */
	for (ct->rounds = 0; (ct->rounds & 255u) != 0 || before(&ct->until); ct->rounds++) {
		uint32_t n = 0;

		while (n < 40 && (held[n] = pkb_alloc(&cache)) != NULL)
			held[n++]->user = ct->id;
		while (n > 0) {
			struct pkb *b = held[--n];

			ct->dup += b->user != ct->id;
			pkb_free(&cache, b);
		}
		pkb_cache_flush(&cache);
	}
	return NULL;
}

static void test_pkb_caches_contend_across_threads(void **state)
{
	enum { NT = 3, N = 512 };
	struct pkb_fixture fx;
	struct contender ct[NT];
	pthread_t t[NT];
	struct timespec until;

	(void)state;
	assert_int_equal(pkb_fixture_init(&fx, N, 256), 0);
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += 1;
	for (int i = 0; i < NT; i++) {
		ct[i] = (struct contender){ .pool = &fx.pool, .id = 0x1111u * (i + 1),
					    .until = until };
		assert_int_equal(pthread_create(&t[i], NULL, contend, &ct[i]), 0);
	}
	for (int i = 0; i < NT; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < NT; i++) {
		assert_int_equal(ct[i].dup, 0);
		assert_true(ct[i].rounds > 0);
	}
	assert_int_equal(pkb_fixture_leaks(&fx), 0);
	pkb_fixture_fini(&fx);
}

/* ------------------------------------------- misuse (debug builds only) */

static void test_pkb_double_free_detected(void **state)
{
	struct pkb_fixture *fx = *state;
	struct pkb *b, *c, *all[NSLOTS];
	static uint8_t seen[NSLOTS];

	if (!PKB_DEBUG)
		skip();  /* release builds trust their callers here */
	b = pkb_alloc(&fx->cache);
	pkb_free(&fx->cache, b);
	pkb_free(&fx->cache, b);
	assert_int_equal(stats_of(fx).double_free, 1);

	/* a DETACHED original freed again */
	b = pkb_alloc(&fx->cache);
	c = pkb_clone(&fx->cache, b);
	pkb_free(&fx->cache, b);
	pkb_free(&fx->cache, b);
	assert_int_equal(stats_of(fx).double_free, 2);
	pkb_free(&fx->cache, c);

	/* and the pool is intact: every slot exactly once */
	assert_int_equal(in_use(fx), 0);
	assert_int_equal(pkb_alloc_bulk(&fx->cache, all, NSLOTS), NSLOTS);
	for (uint32_t i = 0; i < NSLOTS; i++) {
		assert_int_equal(seen[pkb_index(all[i])], 0);
		seen[pkb_index(all[i])] = 1;
	}
	for (uint32_t i = 0; i < NSLOTS; i++)
		pkb_free(&fx->cache, all[i]);
}

static void test_pkb_use_after_free_detected(void **state)
{
	struct pkb_fixture *fx = *state;
	struct pkb *b, *c;
	uint32_t contig;
	uint8_t byte;

	if (!PKB_DEBUG)
		skip();
	b = patterned(fx, 10, 12);
	pkb_free(&fx->cache, b);
	assert_null(pkb_push(b, 1));
	assert_null(pkb_put(b, 1));
	assert_null(pkb_pull(b, 1));
	assert_int_equal(pkb_trim(&fx->cache, b, 0), -EINVAL);
	assert_int_equal(pkb_reserve(b, 0), -EINVAL);
	assert_null(pkb_clone(&fx->cache, b));
	assert_null(pkb_copy(&fx->cache, b));
	assert_int_equal(pkb_copy_out(b, 0, 1, &byte), -EINVAL);
	assert_null(pkb_seg_at(b, 0, &contig));
	assert_int_equal(pkb_append(&fx->cache, b, "x", 1), -EINVAL);
	assert_int_equal(stats_of(fx).use_after_free, 10);

	/* the metadata of a DETACHED original is dead too */
	b = patterned(fx, 10, 13);
	c = pkb_clone(&fx->cache, b);
	pkb_free(&fx->cache, b);
	assert_null(pkb_pull(b, 1));
	assert_int_equal(stats_of(fx).use_after_free, 11);
	assert_int_equal(stats_of(fx).double_free, 0);
	pkb_free(&fx->cache, c);
}

static void test_pkb_free_into_other_pool_detected(void **state)
{
	struct pkb_fixture *fx = *state;
	struct pkb_fixture other;
	struct pkb *b;

	if (!PKB_DEBUG)
		skip();
	assert_int_equal(pkb_fixture_init(&other, 8, 256), 0);
	b = pkb_alloc(&fx->cache);
	pkb_free(&other.cache, b);
	assert_int_equal(b->state, PKB_STATE_LIVE);
	{
		struct pkb_pool_stats s;

		pkb_pool_stats(&other.pool, &s);
		assert_int_equal(s.bad_index, 1);
	}
	assert_int_equal(pkb_fixture_leaks(&other), 0);
	pkb_fixture_fini(&other);
	pkb_free(&fx->cache, b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_pkb_alloc_free_round_trip),
		T(test_pkb_pool_exhausted_alloc_fails_then_recovers),
		T(test_pkb_alloc_bulk_all_or_nothing),
		T(test_pkb_push_headroom_too_small),
		T(test_pkb_put_tailroom_exhausted),
		T(test_pkb_pull_past_length),
		T(test_pkb_trim_single),
		T(test_pkb_trim_chain_frees_fragments),
		T(test_pkb_reserve_moves_empty_data),
		T(test_pkb_clone_free_original_first),
		T(test_pkb_clone_free_clone_first),
		T(test_pkb_clone_push_put_refused),
		T(test_pkb_clone_of_clone_shares_data),
		T(test_pkb_append_10k_reads_back),
		T(test_pkb_append_pool_empty_leaves_chain_unchanged),
		T(test_pkb_chain_clone_payload_behind_header),
		T(test_pkb_copy_is_independent),
		T(test_pkb_at_bad_index),
		T(test_pkb_format_rejects_bad_geometry),
		T(test_pkb_format_partial_magazine),
		T(test_pkb_attach_checks_header),
		T(test_pkb_caches_never_lose_or_duplicate),
		T(test_pkb_caches_contend_across_threads),
		T(test_pkb_double_free_detected),
		T(test_pkb_use_after_free_detected),
		T(test_pkb_free_into_other_pool_detected),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
