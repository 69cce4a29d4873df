/* tests/unit/test_counters.c — named counters (shm/counters.h).
 *
 * What COUNTERS_DECLARE generates from an X-macro list (enum agreement, names,
 * descriptions, layout), single- and multi-writer bumps, the attach check
 * against a set built from another list, and printing.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shm/counters.h"

/* A list as a module would declare it. */
#define TEST_DROPS(X)                                   \
	X(TRUNCATED, "test: shorter than its header")   \
	X(BAD_CSUM,  "test: bad checksum")              \
	X(NO_SOCKET, "test: nobody listening")

#define TEST_DROP_ID(name, text) TEST_DROP_##name,
enum test_drop { TEST_DROPS(TEST_DROP_ID) TEST_DROP_NR };
COUNTERS_DECLARE(test_drops, TEST_DROPS, TEST_DROP_NR);

/* The same names in another order: must refuse to attach to test_drops. */
#define TEST_SWAPPED(X)                                 \
	X(BAD_CSUM,  "test: bad checksum")              \
	X(TRUNCATED, "test: shorter than its header")   \
	X(NO_SOCKET, "test: nobody listening")

#define TEST_SWAPPED_ID(name, text) TEST_SWAPPED_##name,
enum test_swapped { TEST_SWAPPED(TEST_SWAPPED_ID) TEST_SWAPPED_NR };
COUNTERS_DECLARE(test_swapped_set, TEST_SWAPPED, TEST_SWAPPED_NR);

/* A list of 9: its set needs a second cache line. */
#define TEST_NINE(X) X(A, "a") X(B, "b") X(C, "c") X(D, "d") X(E, "e") \
		     X(F, "f") X(G, "g") X(H, "h") X(I, "i")
#define TEST_NINE_ID(name, text) TEST_NINE_##name,
enum test_nine { TEST_NINE(TEST_NINE_ID) TEST_NINE_NR };
COUNTERS_DECLARE(test_nine_set, TEST_NINE, TEST_NINE_NR);

static int setup(void **state)
{
	struct test_drops *set = aligned_alloc(64, sizeof(*set));

	if (!set)
		return -1;
	memset(set, 0xa5, sizeof(*set));        /* init must not rely on zeroed memory */
	test_drops_init(set);
	*state = set;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

static void test_counters_declare_generates_names(void **state)
{
	const struct counters_desc *d = test_drops_desc();

	(void)state;
	assert_int_equal(TEST_DROP_TRUNCATED, 0);
	assert_int_equal(TEST_DROP_BAD_CSUM, 1);
	assert_int_equal(TEST_DROP_NO_SOCKET, 2);
	assert_int_equal(TEST_DROP_NR, 3);
	assert_int_equal(COUNTERS_LEN(TEST_DROPS), 3);
	assert_string_equal(d[TEST_DROP_TRUNCATED].name, "TRUNCATED");
	assert_string_equal(d[TEST_DROP_BAD_CSUM].name, "BAD_CSUM");
	assert_string_equal(d[TEST_DROP_NO_SOCKET].name, "NO_SOCKET");
	assert_string_equal(d[TEST_DROP_BAD_CSUM].text, "test: bad checksum");
	assert_null(d[TEST_DROP_NR].name);      /* terminated, for iteration */
}

static void test_counters_layout_whole_lines(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct test_drops), 64);
	assert_int_equal(_Alignof(struct test_drops), 64);
	assert_int_equal(offsetof(struct test_drops, v), 16);
	assert_int_equal(sizeof(struct test_nine_set), 128);
}

static void test_counters_init_zeroes(void **state)
{
	struct test_drops *set = *state;
	uint64_t v[TEST_DROP_NR];

	assert_int_equal(set->hdr.magic, COUNTERS_MAGIC);
	assert_int_equal(set->hdr.nr, TEST_DROP_NR);
	assert_int_equal(test_drops_check(set), 0);
	test_drops_snapshot(set, v);
	for (unsigned i = 0; i < TEST_DROP_NR; i++)
		assert_int_equal(v[i], 0);
}

static void test_counters_inc_single_writer(void **state)
{
	struct test_drops *set = *state;
	uint64_t v[TEST_DROP_NR];

	COUNTER_INC(set, TEST_DROP_BAD_CSUM);
	COUNTER_INC(set, TEST_DROP_BAD_CSUM);
	COUNTER_ADD(set, TEST_DROP_NO_SOCKET, 40);
	COUNTER_INC_MP(set, TEST_DROP_NO_SOCKET);
	COUNTER_ADD_MP(set, TEST_DROP_NO_SOCKET, 1);
	test_drops_snapshot(set, v);
	assert_int_equal(v[TEST_DROP_TRUNCATED], 0);
	assert_int_equal(v[TEST_DROP_BAD_CSUM], 2);
	assert_int_equal(v[TEST_DROP_NO_SOCKET], 42);
}

#define MP_THREADS  2
#define MP_BUMPS    1000000

static void *mp_bumper(void *arg)
{
	struct test_drops *set = arg;

	for (int i = 0; i < MP_BUMPS; i++)
		COUNTER_INC_MP(set, TEST_DROP_TRUNCATED);
	return NULL;
}

/* Two threads on one counter: fetch_add loses nothing. */
static void test_counters_inc_multi_writer(void **state)
{
	struct test_drops *set = *state;
	pthread_t t[MP_THREADS];
	uint64_t v[TEST_DROP_NR];

	for (int i = 0; i < MP_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, mp_bumper, set), 0);
	for (int i = 0; i < MP_THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	test_drops_snapshot(set, v);
	assert_int_equal(v[TEST_DROP_TRUNCATED], (uint64_t)MP_THREADS * MP_BUMPS);
}

static void test_counters_check_refuses_other_list(void **state)
{
	struct test_drops *set = *state;

	/* Same size and same names, other order: only the hash can tell. */
	_Static_assert(sizeof(struct test_swapped_set) == sizeof(struct test_drops), "");
	assert_int_equal(test_swapped_set_check((const struct test_swapped_set *)(const void *)set),
			 -EPROTO);
	assert_int_equal(counters_check(&set->hdr, test_drops_desc(), TEST_DROP_NR - 1),
			 -EPROTO);
	set->hdr.version++;
	assert_int_equal(test_drops_check(set), -EPROTO);
	set->hdr.version--;
	set->hdr.magic = 0;
	assert_int_equal(test_drops_check(set), -EPROTO);
}

static void test_counters_names_hash_splits_names(void **state)
{
	static const struct counters_desc ab_c[] = { { "AB", "" }, { "C", "" } };
	static const struct counters_desc a_bc[] = { { "A", "" }, { "BC", "" } };

	(void)state;
	assert_int_not_equal(counters_names_hash(ab_c, 2), counters_names_hash(a_bc, 2));
}

/* Print into a memory buffer and compare the whole text. */
static void print_to(char *buf, size_t len, const uint64_t *v, unsigned flags,
		     int want_lines)
{
	FILE *f = fmemopen(buf, len, "w");

	assert_non_null(f);
	assert_int_equal(counters_fprint(f, "test", test_drops_desc(), v,
					 TEST_DROP_NR, flags), want_lines);
	assert_int_equal(fclose(f), 0);
}

static void test_counters_fprint_skips_zero(void **state)
{
	struct test_drops *set = *state;
	uint64_t v[TEST_DROP_NR];
	char buf[512];

	COUNTER_ADD(set, TEST_DROP_BAD_CSUM, 7);
	test_drops_snapshot(set, v);
	print_to(buf, sizeof(buf), v, 0, 3);
	assert_string_equal(buf, "test.TRUNCATED 0\ntest.BAD_CSUM 7\ntest.NO_SOCKET 0\n");
	print_to(buf, sizeof(buf), v, COUNTERS_SKIP_ZERO | COUNTERS_WITH_TEXT, 1);
	assert_string_equal(buf, "test.BAD_CSUM 7  # test: bad checksum\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counters_declare_generates_names),
		cmocka_unit_test(test_counters_layout_whole_lines),
		cmocka_unit_test_setup_teardown(test_counters_init_zeroes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counters_inc_single_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counters_inc_multi_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counters_check_refuses_other_list, setup, teardown),
		cmocka_unit_test(test_counters_names_hash_splits_names),
		cmocka_unit_test_setup_teardown(test_counters_fprint_skips_zero, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
