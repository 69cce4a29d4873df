/* proto/tcp/tcp_timer.c — TCP's timers: retransmission (RFC 6298), persist
 * (RFC 9293 3.8.6.1), delayed ACK (RFC 1122 4.2.3.2), keepalive (RFC 1122
 * 4.2.3.6), TIME_WAIT (2*MSL) and the user timeout (RFC 5482).
 *
 * Where it sits: each TCB keeps one absolute deadline per timer in
 * tcb.timer[] and ONE entry on the engine's timer wheel (proto/timerwheel.h),
 * armed for the earliest of them. tcp_timers() advances the wheel; for each
 * TCB that fires, every due deadline runs and the entry is re-armed for the
 * next. Setting a timer is O(1) and allocation-free.
 */
#include <errno.h>

#include "proto/tcp/tcp_internal.h"

#define TIMERS_BUDGET 4096u   /* TCBs handled per tcp_timers call */

/* Re-arm t's wheel entry for the earliest deadline (or cancel it). */
static void rearm(struct tcp_stack *ts, struct tcb *t)
{
	uint64_t next = UINT64_MAX;
	struct tw h;

	for (unsigned i = 0; i < TCB_T_NR; i++)
		if (t->timer[i] && t->timer[i] < next)
			next = t->timer[i];
	tcp_tw(ts, &h);
	if (next == UINT64_MAX)
		tw_cancel(&h, tcp_conn_id(ts, t));
	else if (!tw_armed(&h, tcp_conn_id(ts, t)) || t->tw.expires != next)
		tw_arm(&h, tcp_conn_id(ts, t), next);
}

void tcp_timer_set(struct tcp_stack *ts, struct tcb *t, enum tcb_timer which,
		   uint64_t when)
{
	t->timer[which] = when ? when : 1;
	rearm(ts, t);
}

void tcp_timer_clear(struct tcp_stack *ts, struct tcb *t, enum tcb_timer which)
{
	if (!t->timer[which])
		return;
	t->timer[which] = 0;
	rearm(ts, t);
}

void tcp_timer_clear_all(struct tcp_stack *ts, struct tcb *t)
{
	for (unsigned i = 0; i < TCB_T_NR; i++)
		t->timer[i] = 0;
	rearm(ts, t);
}

/* The retransmission timeout now, backoff included (RFC 6298 5.5). */
uint64_t tcp_rto(const struct tcb *t)
{
	return tcp_rtt_rto(&t->rtt);
}

/* RFC 6298 5.1/5.3: (re)start the retransmission timer when data is
 * outstanding, stop it when everything is acknowledged. */
void tcp_timer_rexmt_restart(struct tcp_stack *ts, struct tcb *t, uint64_t now)
{
	if (t->snd_una == t->snd_max)
		tcp_timer_clear(ts, t, TCB_T_REXMT);
	else
		tcp_timer_set(ts, t, TCB_T_REXMT, now + tcp_rto(t));
}

/* Restart the keepalive idle period after activity (RFC 1122 4.2.3.6). */
void tcp_timer_keepalive_reset(struct tcp_stack *ts, struct tcb *t, uint64_t now)
{
	t->n_probes = t->timer[TCB_T_PERSIST] ? t->n_probes : 0;
	if ((t->flags & TF_KEEPALIVE) && t->state >= TCPS_ESTABLISHED &&
	    t->state != TCPS_TIME_WAIT)
		tcp_timer_set(ts, t, TCB_T_KEEP, now + t->keepidle);
}

/* True when the peer has been silent too long for TCP_USER_TIMEOUT, or the
 * retransmissions exceed R2 (RFC 1122 4.2.3.5, RFC 5482). */
static bool give_up(const struct tcp_stack *ts, const struct tcb *t, uint64_t now)
{
	uint32_t limit = t->state == TCPS_SYN_SENT || t->state == TCPS_SYN_RECEIVED
		? ts->cfg.syn_retries : ts->cfg.retries2;

	if (t->user_timeout && t->first_unacked_at &&
	    now - t->first_unacked_at >= t->user_timeout)
		return true;
	return !t->user_timeout && t->n_rexmt >= limit;
}

/* RFC 6298 5.4-5.6: retransmit the earliest unacknowledged segment, back the
 * timer off, and tell congestion control (RFC 5681 3.1 eq. 4, cwnd = 1 SMSS).
 * Recovery state and the SACK scoreboard are abandoned (RFC 6675 5.1). */
static void on_rexmt(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		     uint64_t now)
{
	if (give_up(ts, t, now)) {
		TCP_INC(ts, ABORT_ON_TIMEOUT);
		if (t->state != TCPS_SYN_SENT)
			tcp_send_rst(ts, env, t, now);
		tcp_conn_drop(ts, env, t, tcp_timeout_error(t), now);
		return;
	}
	uint32_t out = t->snd_max - t->snd_una;

	TCP_INC(ts, TIMEOUTS);
	if (t->state >= TCPS_ESTABLISHED)
		tcp_cc_on_rto(&t->cc, out, t->n_rexmt == 0, now);
	tcp_rtt_backoff(&t->rtt);
	/* RFC 9293 3.8.6.1: a zero window is probed for as long as the peer
	 * answers; only the user timeout ends that */
	if (t->snd_wnd != 0 || t->state < TCPS_ESTABLISHED)
		t->n_rexmt++;
	t->flags &= ~(uint32_t)(TF_IN_RECOVERY | TF_RTT_TIMING);
	t->dupacks = 0;
	t->n_score = 0;             /* RFC 6675 5.1: SACK info may be reneged */
	t->recover = t->snd_max;    /* RFC 6582 4: no fast retransmit for old dupacks */
	t->snd_nxt = t->snd_una;    /* go back N (RFC 5681 3.1 after a timeout) */
	tcp_timer_clear(ts, t, TCB_T_REXMT);
	if (out)
		tcp_xmit(ts, env, t, t->snd_una, out < t->snd_mss ? out : t->snd_mss, now);
	tcp_timer_set(ts, t, TCB_T_REXMT, now + tcp_rto(t));
}

/* RFC 9293 3.8.6.1: probe a zero window with one byte beyond it, backing off
 * like the retransmission timer; the probe's ACK reopens or keeps it shut.
 * With a non-zero window this is the SWS override timeout instead. */
static void on_persist(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		       uint64_t now)
{
	if (tcp_snd_queued(t) == 0 && !(t->flags & TF_FIN_QUEUED))
		return;
	if (t->snd_wnd != 0) {
		tcp_send_override(ts, env, t, now);
		tcp_output(ts, env, t, now);
		return;
	}
	if (t->user_timeout && t->first_unacked_at &&
	    now - t->first_unacked_at >= t->user_timeout) {
		tcp_conn_drop(ts, env, t, tcp_timeout_error(t), now);
		return;
	}
	TCP_INC(ts, PERSIST_PROBES);
	tcp_send_probe(ts, env, t, now);
	tcp_rtt_backoff(&t->rtt);
	tcp_timer_set(ts, t, TCB_T_PERSIST, now + tcp_rto(t));
}

/* RFC 1122 4.2.3.6: after keepidle of silence send a probe (seq SND.NXT-1, no
 * data, so the peer must ACK); keepcnt unanswered probes kill the conn. */
static void on_keep(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		    uint64_t now)
{
	if (t->state == TCPS_SYN_RECEIVED || t->state == TCPS_SYN_SENT)
		return;     /* the establishment limit is the rexmt timer's */
	if (!(t->flags & TF_KEEPALIVE) || t->snd_max != t->snd_una)
		return tcp_timer_keepalive_reset(ts, t, now);
	if (t->n_probes >= t->keepcnt) {
		tcp_send_rst(ts, env, t, now);
		tcp_conn_drop(ts, env, t, tcp_timeout_error(t), now);
		return;
	}
	t->n_probes++;
	TCP_INC(ts, KEEPALIVE_PROBES);
	tcp_send_keepalive(ts, env, t, now);
	tcp_timer_set(ts, t, TCB_T_KEEP, now + t->keepintvl);
}

/* TIME_WAIT's 2*MSL ended, or FIN_WAIT_2 / linger waited long enough. */
static void on_2msl(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		    uint64_t now)
{
	if (t->state != TCPS_TIME_WAIT)
		tcp_send_rst(ts, env, t, now);
	tcp_set_state(ts, env, t, TCPS_CLOSED, now);
}

/* One TCB's entry fired: run each due deadline in a fixed order, stopping if
 * the TCB went away; then re-arm for what is left. */
static void fire(struct tcp_stack *ts, const struct tcp_env *env, struct tcb *t,
		 uint64_t now)
{
	static void (*const run[TCB_T_NR])(struct tcp_stack *, const struct tcp_env *,
					    struct tcb *, uint64_t) = {
		[TCB_T_REXMT] = on_rexmt, [TCB_T_PERSIST] = on_persist,
		[TCB_T_DELACK] = NULL, [TCB_T_KEEP] = on_keep, [TCB_T_2MSL] = on_2msl,
	};

	for (unsigned i = 0; i < TCB_T_NR && t->in_use; i++) {
		if (!t->timer[i] || t->timer[i] > now)
			continue;
		t->timer[i] = 0;
		if (i == TCB_T_DELACK) {
			if (t->flags & TF_DELACK) {
				TCP_INC(ts, DELAYED_ACKS);
				tcp_send_ack(ts, env, t, now);
			}
		} else {
			run[i](ts, env, t, now);
		}
	}
	if (t->in_use)
		rearm(ts, t);
}

struct fire_ctx {
	struct tcp_stack *ts;
	const struct tcp_env *env;
	uint64_t now;
};

static void fire_cb(void *ctx, uint32_t index)
{
	struct fire_ctx *c = ctx;
	struct tcb *t;

	if (index >= c->ts->cfg.max_conns)
		return;
	t = tcp_tcb(c->ts, index);
	if (t->in_use)
		fire(c->ts, c->env, t, c->now);
}

void tcp_timers(struct tcp_stack *ts, const struct tcp_env *env, uint64_t now)
{
	struct fire_ctx c = { ts, env, now };
	struct tw h;

	ts->last_now = now;
	tcp_tw(ts, &h);
	tw_advance(&h, now, TIMERS_BUDGET, fire_cb, &c);
}

uint64_t tcp_next_deadline(const struct tcp_stack *ts)
{
	struct tw h;

	tcp_tw(ts, &h);
	return tw_next_deadline(&h);
}
