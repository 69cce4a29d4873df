/* tests/unit/test_timerwheel.c — the hierarchical timer wheel (proto/timerwheel.h).
 *
 * The main test drives the wheel with random arm / cancel / advance against a
 * reference model (an array of deadlines) and checks after every advance that
 * exactly the entries with ceil(expires/tick) <= floor(now/tick) fired, none
 * early, none twice. Smaller tests pin down the edges: deadlines in the past,
 * callbacks that re-arm and cancel, the budget, re-attaching at another
 * address, far deadlines, and 100k entries.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/timerwheel.h"
#include "tests/support/netsim.h"

#define TICK 1000000ull   /* 1 ms, as netd */

/* A caller's record with the entry somewhere in the middle. */
struct rec {
	uint64_t payload;
	struct tw_entry tw;
	uint32_t more;
};

/* The reference model and what the callback saw. */
struct model {
	struct tw t;
	struct tw_wheel wheel;
	struct rec *recs;
	uint32_t n;
	uint8_t *armed;        /* reference: armed? */
	uint64_t *expires;     /* reference: deadline */
	uint32_t *fired;       /* how often each index fired */
	uint64_t now;          /* the now of the advance in progress */
	uint64_t last_tick;    /* tick of the last firing, for the order check */
	uint32_t rearm;        /* index the callback re-arms, TW_NONE: none */
	uint32_t victim;       /* index the callback cancels, TW_NONE: none */
};

static uint64_t tick_of(uint64_t expires) { return expires / TICK + (expires % TICK != 0); }

static struct model *model_new(uint32_t n, uint64_t start)
{
	struct model *m = calloc(1, sizeof(*m));

	assert_non_null(m);
	m->n = n;
	m->recs = calloc(n, sizeof(*m->recs));
	m->armed = calloc(n, 1);
	m->expires = calloc(n, sizeof(uint64_t));
	m->fired = calloc(n, sizeof(uint32_t));
	assert_true(m->recs && m->armed && m->expires && m->fired);
	assert_int_equal(tw_init(&m->wheel, TICK, start), 0);
	assert_int_equal(tw_attach(&m->t, &m->wheel, m->recs, sizeof(struct rec),
				   offsetof(struct rec, tw), n), 0);
	for (uint32_t i = 0; i < n; i++)
		tw_entry_init(&m->recs[i].tw);
	m->rearm = m->victim = TW_NONE;
	return m;
}

static void model_free(struct model *m)
{
	free(m->recs);
	free(m->armed);
	free(m->expires);
	free(m->fired);
	free(m);
}

static void on_expire(void *ctx, uint32_t i)
{
	struct model *m = ctx;

	assert_true(i < m->n);
	assert_true(m->armed[i]);                         /* armed, not cancelled */
	assert_true(tick_of(m->expires[i]) <= m->now / TICK);   /* never early */
	assert_true(m->expires[i] <= m->now);
	m->armed[i] = 0;
	m->fired[i]++;
}

static void model_arm(struct model *m, uint32_t i, uint64_t expires)
{
	assert_int_equal(tw_arm(&m->t, i, expires), 0);
	m->armed[i] = 1;
	m->expires[i] = expires;
}

static void model_cancel(struct model *m, uint32_t i)
{
	assert_int_equal(tw_cancel(&m->t, i), 0);
	m->armed[i] = 0;
}

/* Advance to now until the wheel says it is done, then check nothing that
 * was due is still armed and the count agrees. */
static void model_advance_with(struct model *m, uint64_t now, unsigned budget,
			       tw_expire_fn cb)
{
	uint32_t armed = 0;

	m->now = now;
	for (int guard = 0; guard < 100000; guard++) {
		tw_advance(&m->t, now, budget, cb, m);
		if (tw_next_deadline(&m->t) > now)
			break;
	}
	assert_true(tw_next_deadline(&m->t) > now);
	for (uint32_t i = 0; i < m->n; i++) {
		assert_int_equal(tw_armed(&m->t, i), m->armed[i]);
		if (m->armed[i]) {
			assert_true(tick_of(m->expires[i]) > now / TICK);   /* none missed */
			armed++;
		}
	}
	assert_int_equal(tw_count(&m->t), armed);
}

static void model_advance(struct model *m, uint64_t now, unsigned budget)
{
	model_advance_with(m, now, budget, on_expire);
}

/* A deadline from a mix of scales: this tick, level 0, level 1-2, far away,
 * beyond the top level, or in the past. */
static uint64_t random_deadline(struct netsim_rng *r, uint64_t now)
{
	switch (netsim_rng_below(r, 8)) {
	case 0: return now - netsim_rng_below(r, now < 10 * TICK ? now + 1 : 10 * TICK);
	case 1: return now + netsim_rng_below(r, 2 * TICK);
	case 2: case 3: return now + netsim_rng_below(r, 64 * TICK);
	case 4: case 5: return now + netsim_rng_below(r, 300000 * TICK);
	case 6: return now + netsim_rng_below(r, 1ull << 40);
	default: return now + (1ull << 36) * TICK + netsim_rng_below(r, 1ull << 50);
	}
}

static uint64_t random_step(struct netsim_rng *r)
{
	switch (netsim_rng_below(r, 6)) {
	case 0: return 0;
	case 1: return netsim_rng_below(r, TICK);
	case 2: case 3: return netsim_rng_below(r, 100 * TICK);
	case 4: return netsim_rng_below(r, 100000 * TICK);
	default: return netsim_rng_below(r, 1ull << 45);
	}
}

static void test_timerwheel_random_matches_model(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 8; seed++) {
		struct netsim_rng r;
		uint64_t now = 5 * TICK + seed * 777;
		struct model *m = model_new(512, now);

		netsim_rng_seed(&r, seed);
		for (int op = 0; op < 4000; op++) {
			uint32_t i = (uint32_t)netsim_rng_below(&r, m->n);
			uint64_t what = netsim_rng_below(&r, 10);

			if (what < 5)
				model_arm(m, i, random_deadline(&r, now));
			else if (what < 7)
				model_cancel(m, i);
			else {
				now += random_step(&r);
				model_advance(m, now, 1 + (unsigned)netsim_rng_below(&r, 64));
			}
		}
		model_free(m);
	}
}

static void test_timerwheel_past_deadline_fires_next_advance(void **state)
{
	struct model *m = model_new(4, 100 * TICK);

	(void)state;
	model_arm(m, 0, 3 * TICK);            /* long past */
	model_arm(m, 1, 100 * TICK);          /* this very tick */
	model_arm(m, 2, 100 * TICK + 1);      /* the next tick */
	assert_int_equal(tw_next_deadline(&m->t), 0);
	model_advance(m, 100 * TICK, 16);     /* same now as at init */
	assert_int_equal(m->fired[0], 1);
	assert_int_equal(m->fired[1], 1);
	assert_int_equal(m->fired[2], 0);
	assert_int_equal(tw_next_deadline(&m->t), 101 * TICK);
	model_advance(m, 101 * TICK - 1, 16);
	assert_int_equal(m->fired[2], 0);
	model_advance(m, 101 * TICK, 16);
	assert_int_equal(m->fired[2], 1);
	assert_int_equal(tw_next_deadline(&m->t), UINT64_MAX);
	model_free(m);
}

/* The callback re-arms one entry and cancels another due in the same tick. */
static void on_expire_meddle(void *ctx, uint32_t i)
{
	struct model *m = ctx;

	on_expire(ctx, i);
	if (i == m->rearm) {
		m->rearm = TW_NONE;
		model_arm(m, i, m->now + 5 * TICK);
	}
	if (m->victim != TW_NONE && m->armed[m->victim]) {
		model_cancel(m, m->victim);
		m->victim = TW_NONE;
	}
}

static void test_timerwheel_callback_rearms_and_cancels(void **state)
{
	struct model *m = model_new(8, 0);

	(void)state;
	for (uint32_t i = 0; i < 8; i++)
		model_arm(m, i, 10 * TICK);
	m->rearm = 3;     /* re-armed from its own callback */
	m->victim = 5;    /* cancelled by the first callback, unless it fires first */
	model_advance_with(m, 10 * TICK, 100, on_expire_meddle);
	assert_int_equal(m->fired[3], 1);
	assert_true(m->armed[3]);
	assert_false(m->armed[5]);
	assert_int_equal(m->fired[5] + (m->victim == TW_NONE), 1);
	assert_int_equal(tw_count(&m->t), 1);
	model_advance(m, 15 * TICK, 100);
	assert_int_equal(m->fired[3], 2);
	model_free(m);
}

static void test_timerwheel_budget_bounds_one_call(void **state)
{
	struct model *m = model_new(100, 0);
	unsigned total = 0;

	(void)state;
	for (uint32_t i = 0; i < 100; i++)
		model_arm(m, i, 7 * TICK);
	m->now = 8 * TICK;
	for (int calls = 0; calls < 10; calls++) {
		assert_true(tw_next_deadline(&m->t) <= m->now);
		assert_int_equal(tw_advance(&m->t, m->now, 10, on_expire, m), 10);
		total += 10;
	}
	assert_int_equal(total, 100);
	assert_int_equal(tw_advance(&m->t, m->now, 10, on_expire, m), 0);
	assert_true(tw_next_deadline(&m->t) > m->now);
	model_free(m);
}

static void test_timerwheel_reattach_elsewhere_keeps_timers(void **state)
{
	struct model *m = model_new(64, 0);
	struct rec *moved = malloc(64 * sizeof(struct rec));
	struct tw_wheel *wmoved = malloc(sizeof(*wmoved));

	(void)state;
	assert_true(moved && wmoved);
	for (uint32_t i = 0; i < 64; i++)
		model_arm(m, i, (uint64_t)(i + 1) * 1000 * TICK);
	/* "restart": the same bytes mapped at another address */
	memcpy(moved, m->recs, 64 * sizeof(struct rec));
	memcpy(wmoved, &m->wheel, sizeof(*wmoved));
	memset(m->recs, 0xa5, 64 * sizeof(struct rec));
	free(m->recs);
	m->recs = moved;
	assert_int_equal(tw_attach(&m->t, wmoved, moved, sizeof(struct rec),
				   offsetof(struct rec, tw), 64), 0);
	model_advance(m, 32000 * TICK, 1000);
	for (uint32_t i = 0; i < 64; i++)
		assert_int_equal(m->fired[i], i < 32 ? 1 : 0);
	free(wmoved);
	model_free(m);
}

static void test_timerwheel_far_deadline_waits_years(void **state)
{
	struct model *m = model_new(2, 0);
	uint64_t far = (1ull << 37) * TICK;   /* twice the top level's span */

	(void)state;
	model_arm(m, 0, far);
	for (int i = 1; i <= 8; i++) {
		model_advance(m, far / 8 * (uint64_t)i - TICK, 10);
		assert_int_equal(m->fired[0], 0);
		assert_true(tw_next_deadline(&m->t) <= far);   /* never late */
	}
	model_advance(m, far, 10);
	assert_int_equal(m->fired[0], 1);
	model_free(m);
}

static void test_timerwheel_100k_entries_fire_in_order(void **state)
{
	const uint32_t n = 100000;
	struct model *m = model_new(n, 0);
	struct netsim_rng r;
	uint64_t now = 0;

	(void)state;
	netsim_rng_seed(&r, 42);
	for (uint32_t i = 0; i < n; i++)   /* RTOs, delayed ACKs, TIME_WAITs: up to 2 min */
		model_arm(m, i, netsim_rng_below(&r, 120000 * TICK));
	for (int step = 0; step < 100000 && tw_count(&m->t) > 0; step++) {
		uint64_t next = tw_next_deadline(&m->t);

		assert_true(next >= now);    /* never reports a past deadline as future work */
		now = next;
		m->now = now;
		tw_advance(&m->t, now, 4096, on_expire, m);
	}
	assert_int_equal(tw_count(&m->t), 0);
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(m->fired[i], 1);
	model_free(m);
}

static void test_timerwheel_bad_args_refused(void **state)
{
	struct tw_wheel w;
	struct tw t;
	struct rec recs[2];

	(void)state;
	assert_int_equal(tw_init(&w, 0, 0), -EINVAL);
	assert_int_equal(tw_init(&w, TICK, 0), 0);
	assert_int_equal(tw_attach(&t, &w, NULL, sizeof(struct rec), 0, 2), -EINVAL);
	assert_int_equal(tw_attach(&t, &w, recs, sizeof(struct rec), sizeof(struct rec), 2),
			 -EINVAL);
	assert_int_equal(tw_attach(&t, &w, recs, sizeof(struct rec), offsetof(struct rec, tw), 2), 0);
	tw_entry_init(&recs[0].tw);
	tw_entry_init(&recs[1].tw);
	assert_int_equal(tw_arm(&t, 2, TICK), -EINVAL);
	assert_int_equal(tw_cancel(&t, 2), -EINVAL);
	assert_false(tw_armed(&t, 2));
	assert_int_equal(tw_cancel(&t, 1), 0);     /* not armed: no-op */
	assert_int_equal(tw_count(&t), 0);
	assert_int_equal(tw_next_deadline(&t), UINT64_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timerwheel_random_matches_model),
		cmocka_unit_test(test_timerwheel_past_deadline_fires_next_advance),
		cmocka_unit_test(test_timerwheel_callback_rearms_and_cancels),
		cmocka_unit_test(test_timerwheel_budget_bounds_one_call),
		cmocka_unit_test(test_timerwheel_reattach_elsewhere_keeps_timers),
		cmocka_unit_test(test_timerwheel_far_deadline_waits_years),
		cmocka_unit_test(test_timerwheel_100k_entries_fire_in_order),
		cmocka_unit_test(test_timerwheel_bad_args_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
