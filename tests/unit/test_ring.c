/* tests/unit/test_ring.c — the SPSC ring in one thread: geometry, attach
 * checks, empty and full rings, bulk versus burst, wrap-around of the 32-bit
 * indices, 8-, 16- and odd-sized descriptors, and a peer that scribbles on the
 * shared indices and header (the ring must detect it and never touch memory
 * outside its slots). Two-process and threaded tests are elsewhere
 * (test_ring_2proc.c, tests/tsan/test_ring_tsan.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "shm/ring.h"

#define GUARD_BYTES 256
#define GUARD_BYTE  0xa5

/* A ring in heap memory with guard bytes after it, and both views. */
struct fx {
	struct ring_prod p;
	struct ring_cons c;
	uint8_t *mem;
	size_t bytes;
};

static struct fx *fx_new(uint32_t count, uint32_t esize, uint32_t start)
{
	struct fx *f = aligned_alloc(128, sizeof(*f));

	assert_non_null(f);
	f->bytes = ring_bytes(count, esize);
	assert_true(f->bytes > 0);
	f->mem = aligned_alloc(64, f->bytes + GUARD_BYTES);
	assert_non_null(f->mem);
	memset(f->mem, 0x5a, f->bytes);
	memset(f->mem + f->bytes, GUARD_BYTE, GUARD_BYTES);
	assert_int_equal(ring_init_at(f->mem, count, esize, start), 0);
	assert_int_equal(ring_prod_attach(&f->p, f->mem, f->bytes, count, esize), 0);
	assert_int_equal(ring_cons_attach(&f->c, f->mem, f->bytes, count, esize), 0);
	return f;
}

/* Frees the fixture after checking nothing wrote past the ring. */
static void fx_free(struct fx *f)
{
	for (size_t i = 0; i < GUARD_BYTES; i++)
		assert_int_equal(f->mem[f->bytes + i], GUARD_BYTE);
	free(f->mem);
	free(f);
}

static struct ring *fx_ring(struct fx *f)
{
	return (struct ring *)f->mem;
}

static void test_ring_bytes_bad_geometry(void **state)
{
	(void)state;
	assert_int_equal(ring_bytes(0, 8), 0);
	assert_int_equal(ring_bytes(3, 8), 0);
	assert_int_equal(ring_bytes(RING_COUNT_MAX * 2u, 8), 0);
	assert_int_equal(ring_bytes(8, 0), 0);
	assert_int_equal(ring_bytes(8, 6), 0);
	assert_int_equal(ring_bytes(8, RING_ESIZE_MAX + 4), 0);
	assert_int_equal(ring_bytes(1, 4), RING_HDR_SIZE + 64);
	assert_int_equal(ring_bytes(1024, 16), RING_HDR_SIZE + 1024 * 16);
}

static void test_ring_init_bad_args(void **state)
{
	uint8_t *mem = aligned_alloc(64, 4096);

	(void)state;
	assert_int_equal(ring_init(NULL, 8, 8), -EINVAL);
	assert_int_equal(ring_init(mem + 8, 8, 8), -EINVAL);
	assert_int_equal(ring_init(mem, 6, 8), -EINVAL);
	assert_int_equal(ring_init(mem, 8, 10), -EINVAL);
	free(mem);
}

/* Every header field that can be wrong makes attach refuse. */
static void test_ring_attach_bad_header(void **state)
{
	struct fx *f = fx_new(16, 8, 0);
	struct ring *r = fx_ring(f);
	struct ring_cons c;

	(void)state;
	assert_int_equal(ring_validate(f->mem, f->bytes, 16, 8), 0);
	assert_int_equal(ring_validate(f->mem, f->bytes, 0, 8), 0);
	assert_int_equal(ring_cons_attach(&c, f->mem, f->bytes, 16, 16), -EPROTO);
	assert_int_equal(ring_cons_attach(&c, f->mem, f->bytes, 32, 8), -EPROTO);
	assert_int_equal(ring_cons_attach(&c, f->mem, f->bytes - 64, 16, 8), -EPROTO);
	assert_int_equal(ring_cons_attach(&c, f->mem, 100, 16, 8), -EINVAL);
	assert_int_equal(ring_cons_attach(&c, f->mem + 4, f->bytes, 16, 8), -EINVAL);
	r->mask = 7;
	assert_int_equal(ring_validate(f->mem, f->bytes, 0, 8), -EPROTO);
	r->mask = 15;
	r->count = 1u << 20;    /* claims more slots than are mapped */
	r->mask = r->count - 1;
	assert_int_equal(ring_validate(f->mem, f->bytes, 0, 8), -EPROTO);
	r->count = 16;
	r->mask = 15;
	r->version = RING_VERSION + 1;
	assert_int_equal(ring_validate(f->mem, f->bytes, 16, 8), -EPROTO);
	r->version = RING_VERSION;
	atomic_store(&r->magic, 0);
	assert_int_equal(ring_validate(f->mem, f->bytes, 16, 8), -EPROTO);
	fx_free(f);
}

static void test_ring_empty_dequeue_returns_zero(void **state)
{
	struct fx *f = fx_new(16, 8, 0);
	uint64_t v[4];

	(void)state;
	assert_true(ring_cons_empty(&f->c));
	assert_true(ring_prod_empty(&f->p));
	assert_int_equal(ring_cons_count(&f->c), 0);
	assert_int_equal(ring_cons_free(&f->c), 16);
	assert_int_equal(ring_prod_free(&f->p), 16);
	assert_int_equal(ring_dequeue_burst_u64(&f->c, v, 4), 0);
	assert_int_equal(ring_dequeue_bulk_u64(&f->c, v, 1), 0);
	assert_false(ring_cons_corrupt(&f->c));
	fx_free(f);
}

static void test_ring_full_enqueue_returns_zero(void **state)
{
	struct fx *f = fx_new(16, 8, 0);
	uint64_t in[16], out[16], one = 99;

	(void)state;
	for (int i = 0; i < 16; i++)
		in[i] = 1000 + i;
	assert_int_equal(ring_enqueue_bulk_u64(&f->p, in, 16), 16);
	assert_true(ring_prod_full(&f->p));
	assert_true(ring_cons_full(&f->c));
	assert_int_equal(ring_prod_count(&f->p), 16);
	assert_int_equal(ring_cons_count(&f->c), 16);
	assert_int_equal(ring_enqueue_burst_u64(&f->p, &one, 1), 0);
	assert_int_equal(ring_enqueue_bulk_u64(&f->p, &one, 1), 0);
	assert_int_equal(ring_dequeue_bulk_u64(&f->c, out, 16), 16);
	assert_memory_equal(in, out, sizeof(in));
	assert_true(ring_cons_empty(&f->c));
	assert_int_equal(ring_prod_free(&f->p), 16);
	assert_false(ring_prod_corrupt(&f->p));
	fx_free(f);
}

/* More than fits: burst takes what fits, bulk takes nothing. */
static void test_ring_burst_larger_than_free(void **state)
{
	struct fx *f = fx_new(16, 8, 0);
	uint64_t in[20], out[20];

	(void)state;
	for (int i = 0; i < 20; i++)
		in[i] = (uint64_t)i;
	assert_int_equal(ring_enqueue_bulk_u64(&f->p, in, 10), 10);
	assert_int_equal(ring_enqueue_bulk_u64(&f->p, in + 10, 10), 0);
	assert_int_equal(ring_cons_count(&f->c), 10);
	assert_int_equal(ring_enqueue_burst_u64(&f->p, in + 10, 10), 6);
	assert_int_equal(ring_dequeue_bulk_u64(&f->c, out, 20), 0);
	assert_int_equal(ring_dequeue_burst_u64(&f->c, out, 20), 16);
	assert_memory_equal(in, out, 16 * sizeof(uint64_t));
	assert_int_equal(ring_dequeue_burst_u64(&f->c, out, 20), 0);
	fx_free(f);
}

/* Pushes and pops a running sequence in bursts of varying size through a
 * small ring whose indices start just below 2^32, so they wrap early. */
static void run_sequence(struct fx *f, unsigned rounds, unsigned seed)
{
	uint64_t in[8], out[8], next_in = 0, next_out = 0;

	for (unsigned r = 0; r < rounds; r++) {
		unsigned n = 1 + (seed = seed * 1103515245u + 12345u) % 8;
		for (unsigned i = 0; i < n; i++)
			in[i] = next_in + i;
		next_in += (r & 1) ? ring_enqueue_burst_u64(&f->p, in, n)
				   : ring_enqueue_bulk_u64(&f->p, in, n);
		n = 1 + (seed = seed * 1103515245u + 12345u) % 8;
		n = (r & 2) ? ring_dequeue_burst_u64(&f->c, out, n)
			    : ring_dequeue_bulk_u64(&f->c, out, n);
		for (unsigned i = 0; i < n; i++)
			assert_int_equal(out[i], next_out++);
		assert_true(next_in - next_out <= 8);
	}
	assert_int_equal(ring_cons_count(&f->c), next_in - next_out);
	assert_true(next_out > rounds);   /* it did move data */
}

static void test_ring_indices_wrap_past_2_32(void **state)
{
	uint32_t start = UINT32_MAX - 20;
	struct fx *f = fx_new(8, 8, start);

	(void)state;
	assert_int_equal(f->p.head, start);
	run_sequence(f, 2000, 7);
	/* Both free-running indices went past 2^32 and wrapped to small values. */
	assert_true(f->p.head < start && f->c.head < start);
	assert_int_equal(atomic_load(&fx_ring(f)->prod), f->p.head);
	assert_false(ring_prod_corrupt(&f->p) || ring_cons_corrupt(&f->c));
	fx_free(f);
}

/* A full and an empty ring exactly at the wrap: distance arithmetic must
 * still say "count" and "0". */
static void test_ring_full_across_wrap(void **state)
{
	struct fx *f = fx_new(8, 8, UINT32_MAX - 3);
	uint64_t in[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, out[8];

	(void)state;
	assert_int_equal(ring_enqueue_bulk_u64(&f->p, in, 8), 8);
	assert_true(f->p.head == 4);
	assert_true(ring_prod_full(&f->p));
	assert_int_equal(ring_cons_count(&f->c), 8);
	assert_int_equal(ring_dequeue_bulk_u64(&f->c, out, 8), 8);
	assert_memory_equal(in, out, sizeof(in));
	assert_true(ring_cons_empty(&f->c));
	fx_free(f);
}

static void test_ring_u128_roundtrip(void **state)
{
	struct fx *f = fx_new(32, 16, UINT32_MAX - 5);
	struct ring_u128 in[24], out[24];
	uint64_t seq = 0;

	(void)state;
	for (int round = 0; round < 100; round++) {
		for (int i = 0; i < 24; i++) {
			in[i].lo = seq + i;
			in[i].hi = ~(seq + i);
		}
		assert_int_equal(ring_enqueue_bulk_u128(&f->p, in, 24), 24);
		assert_int_equal(ring_dequeue_burst_u128(&f->c, out, 24), 24);
		assert_memory_equal(in, out, sizeof(in));
		seq += 24;
	}
	assert_int_equal(ring_enqueue_burst_u128(&f->p, in, 24), 24);
	assert_int_equal(ring_enqueue_burst_u128(&f->p, in, 24), 8);
	assert_int_equal(ring_dequeue_bulk_u128(&f->c, out, 24), 24);
	assert_int_equal(ring_dequeue_bulk_u128(&f->c, out, 24), 0);
	fx_free(f);
}

/* A 12-byte descriptor through the generic functions. */
static void test_ring_odd_esize_roundtrip(void **state)
{
	struct fx *f = fx_new(4, 12, UINT32_MAX - 1);
	uint32_t in[3 * 3], out[3 * 3];

	(void)state;
	for (int round = 0; round < 10; round++) {
		for (int i = 0; i < 9; i++)
			in[i] = (uint32_t)(round * 9 + i);
		assert_int_equal(ring_enqueue_burst_elem(&f->p, in, 12, 3), 3);
		assert_int_equal(ring_enqueue_bulk_elem(&f->p, in, 12, 3), 0);
		assert_int_equal(ring_dequeue_bulk_elem(&f->c, out, 12, 3), 3);
		assert_memory_equal(in, out, sizeof(in));
	}
	fx_free(f);
}

/* A consumer that claims to be ahead of the producer, or further behind
 * than the ring is long: the producer refuses and says so, for good. */
static void test_ring_corrupt_cons_index_detected(void **state)
{
	struct fx *f = fx_new(16, 8, 100);
	struct ring *r = fx_ring(f);
	uint64_t in[32] = { 0 };

	(void)state;
	assert_int_equal(ring_enqueue_bulk_u64(&f->p, in, 4), 4);
	atomic_store(&r->cons, f->p.head + 1);          /* ahead of prod */
	assert_int_equal(ring_enqueue_bulk_u64(&f->p, in, 16), 0);
	assert_true(ring_prod_corrupt(&f->p));
	atomic_store(&r->cons, f->p.head);               /* "repaired": still refused */
	assert_int_equal(ring_enqueue_burst_u64(&f->p, in, 1), 0);
	assert_int_equal(ring_prod_free(&f->p), 0);
	assert_int_equal(ring_prod_count(&f->p), 0);
	assert_int_equal(atomic_load(&r->prod), 104);    /* nothing was published */

	assert_int_equal(ring_prod_attach(&f->p, f->mem, f->bytes, 16, 8), 0);
	atomic_store(&r->cons, f->p.head - 17);          /* 17 behind a 16-slot ring */
	assert_true(ring_prod_full(&f->p));
	assert_true(ring_prod_corrupt(&f->p));
	assert_int_equal(ring_prod_attach(&f->p, f->mem, f->bytes, 16, 8), -EBADMSG);
	fx_free(f);
}

/* A producer that claims more descriptors than slots, or to be behind us. */
static void test_ring_corrupt_prod_index_detected(void **state)
{
	struct fx *f = fx_new(16, 8, UINT32_MAX - 2);
	struct ring *r = fx_ring(f);
	uint64_t out[32];

	(void)state;
	atomic_store(&r->prod, f->c.head + 17);
	assert_int_equal(ring_dequeue_burst_u64(&f->c, out, 32), 0);
	assert_true(ring_cons_corrupt(&f->c));
	assert_true(ring_cons_empty(&f->c));
	assert_int_equal(ring_cons_free(&f->c), 0);

	atomic_store(&r->prod, f->c.head);
	assert_int_equal(ring_cons_attach(&f->c, f->mem, f->bytes, 16, 8), 0);
	atomic_store(&r->prod, f->c.head - 1);           /* behind the consumer */
	assert_int_equal(ring_dequeue_bulk_u64(&f->c, out, 1), 0);
	assert_true(ring_cons_corrupt(&f->c));
	assert_int_equal(ring_cons_attach(&f->c, f->mem, f->bytes, 16, 8), -EBADMSG);
	assert_true(ring_cons_corrupt(&f->c));
	fx_free(f);
}

/* The peer rewrites the shared mask and count after attach: the views keep
 * their own copies, so every access stays in the slots (the guard bytes
 * after the ring are checked by fx_free) and data still flows. */
static void test_ring_scribbled_header_ignored(void **state)
{
	struct fx *f = fx_new(16, 8, 0);
	struct ring *r = fx_ring(f);
	uint64_t in[16], out[16];

	(void)state;
	r->mask = UINT32_MAX;
	r->count = 1u << 30;
	r->esize = 1024;
	for (int round = 0; round < 10; round++) {
		for (int i = 0; i < 16; i++)
			in[i] = (uint64_t)(round * 16 + i);
		assert_int_equal(ring_enqueue_bulk_u64(&f->p, in, 16), 16);
		assert_int_equal(ring_dequeue_bulk_u64(&f->c, out, 16), 16);
		assert_memory_equal(in, out, sizeof(in));
	}
	assert_int_equal(ring_validate(f->mem, f->bytes, 0, 8), -EPROTO);
	fx_free(f);
}

/* A consumer that attaches to a ring in use (a restarted daemon) starts at
 * the shared consumer index and drains what was left. */
static void test_ring_attach_resumes_indices(void **state)
{
	struct fx *f = fx_new(16, 8, 5);
	uint64_t in[6] = { 10, 11, 12, 13, 14, 15 }, out[6];
	struct ring_cons *c2 = aligned_alloc(128, sizeof(*c2));

	(void)state;
	assert_non_null(c2);
	assert_int_equal(ring_enqueue_bulk_u64(&f->p, in, 6), 6);
	assert_int_equal(ring_dequeue_bulk_u64(&f->c, out, 2), 2);
	assert_int_equal(ring_cons_attach(c2, f->mem, f->bytes, 0, 8), 0);
	assert_int_equal(ring_cons_size(c2), 16);
	assert_int_equal(ring_cons_count(c2), 4);
	assert_int_equal(ring_dequeue_bulk_u64(c2, out, 4), 4);
	assert_memory_equal(in + 2, out, 4 * sizeof(uint64_t));
	free(c2);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_bytes_bad_geometry),
		cmocka_unit_test(test_ring_init_bad_args),
		cmocka_unit_test(test_ring_attach_bad_header),
		cmocka_unit_test(test_ring_empty_dequeue_returns_zero),
		cmocka_unit_test(test_ring_full_enqueue_returns_zero),
		cmocka_unit_test(test_ring_burst_larger_than_free),
		cmocka_unit_test(test_ring_indices_wrap_past_2_32),
		cmocka_unit_test(test_ring_full_across_wrap),
		cmocka_unit_test(test_ring_u128_roundtrip),
		cmocka_unit_test(test_ring_odd_esize_roundtrip),
		cmocka_unit_test(test_ring_corrupt_cons_index_detected),
		cmocka_unit_test(test_ring_corrupt_prod_index_detected),
		cmocka_unit_test(test_ring_scribbled_header_ignored),
		cmocka_unit_test(test_ring_attach_resumes_indices),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
