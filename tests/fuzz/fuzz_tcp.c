/* tests/fuzz/fuzz_tcp.c — random segments against a connection in every
 * state. The first input byte picks the state (LISTEN ... TIME_WAIT), which
 * scripted segments reach (tests/support/tcp_seg.h); the rest is a series
 * of records, each one of:
 *
 *   op 0..3  a segment: flags, seq/ack as offsets from RCV.NXT/SND.UNA (so
 *            most land near the window), window, options bytes, payload;
 *            with bit 0 set it waits, with up to 7 more, for tcp_input_burst
 *   op 4     advance the clock by up to ~65 s and run timers
 *   op 5     tcp_send / op 6 tcp_recv
 *   op 7     a user call by the low 3 bits: close, shutdown WR, shutdown RD,
 *            abort, setsockopt, an ICMP error (tcp_icmp_error: hard, soft,
 *            fragmentation needed, seq near SND.UNA), accept, getsockopt
 *
 * Checked: no crash or sanitizer report, no pkb leaked, and the TCB's
 * sequence invariants hold after every step (SND.UNA <= SND.NXT <= SND.MAX,
 * unread bytes within the ring).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/tcp_seg.h"

#define IRS 5000u

static void check(struct tcp_fx *fx, uint32_t conn)
{
	const struct tcb *t = tcp_tcb(fx->ts, conn);

	if (!t->in_use || t->state == TCPS_LISTEN || t->state == TCPS_CLOSED)
		return;
	if (seq_gt(t->snd_una, t->snd_nxt) || seq_gt(t->snd_nxt, t->snd_max) ||
	    (t->state >= TCPS_ESTABLISHED && t->rcv_nxt - t->rcv_user > t->rcvbuf_lim + 1) ||
	    t->n_ooo > TCP_OOO_MAX || t->n_score > TCP_SCORE_MAX)
		abort();
}

/* Bring a fresh connection to the state named by sel; returns its conn. */
static int reach(struct tcp_fx *fx, unsigned sel, uint32_t *iss)
{
	int c;

	switch (sel % 10) {
	case 0: return tcp_listen(fx->ts, &fx->env, 0, FX_LPORT, 4, 0);
	case 1: c = tcp_connect(fx->ts, &fx->env, FX_LADDR, FX_LPORT, FX_RADDR, FX_RPORT, fx->now);
		*iss = tcp_fx_last(fx)->seq;
		return c;
	case 2: tcp_listen(fx->ts, &fx->env, 0, FX_LPORT, 4, 0);
		tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_SYN, .seq = IRS });
		*iss = tcp_fx_last(fx)->seq;
		return (int)tcp_conn_count(fx->ts) - 1 >= 0 ? 1 : -1;   /* child after listener */
	}
	c = tcp_fx_passive_open(fx, IRS, NULL, iss);
	if (c < 0)
		return c;
	switch (sel % 10) {
	case 4: tcp_close(fx->ts, &fx->env, (uint32_t)c, fx->now); break;            /* FIN_WAIT_1 */
	case 5: tcp_close(fx->ts, &fx->env, (uint32_t)c, fx->now);                   /* FIN_WAIT_2 */
		tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_ACK, .seq = IRS + 1, .ack = *iss + 2 });
		break;
	case 6: case 7:                                                               /* CLOSE_WAIT, LAST_ACK */
		tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_FIN | TH_ACK, .seq = IRS + 1, .ack = *iss + 1 });
		if (sel % 10 == 7)
			tcp_close(fx->ts, &fx->env, (uint32_t)c, fx->now);
		break;
	case 8: case 9:                                                               /* CLOSING, TIME_WAIT */
		tcp_close(fx->ts, &fx->env, (uint32_t)c, fx->now);
		tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_FIN | TH_ACK, .seq = IRS + 1,
						  .ack = *iss + 1 + (sel % 10 == 9) });
		break;
	}
	return c;
}

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* Segments waiting for tcp_input_burst. */
static struct tcp_rx pending[8];
static unsigned npending;

static void flush(struct tcp_fx *fx)
{
	tcp_input_burst(fx->ts, &fx->env, pending, npending, fx->now);
	npending = 0;
}

/* One segment record (at most 12 + 40 + 255 bytes of input). */
static size_t fuzz_segment(struct tcp_fx *fx, uint32_t conn, const uint8_t *d, size_t n)
{
	const struct tcb *t = tcp_tcb(fx->ts, conn);
	struct tcp_spec s = { 0 };
	uint8_t optb[40];
	size_t need;

	if (n < 12)
		return n;
	s.flags = d[1] & 0x3f;
	s.seq = (t->in_use ? t->rcv_nxt : IRS) + (uint32_t)(int16_t)(d[2] | d[3] << 8);
	s.ack = (t->in_use ? t->snd_una : 0) + (uint32_t)(int16_t)(d[4] | d[5] << 8);
	if (d[0] & 2)
		s.seq = rd32(d + 2), s.ack = rd32(d + 6) ^ 0x5a5a5a5a;   /* anywhere */
	s.wnd = (uint16_t)(d[6] | d[7] << 8);
	s.wnd_zero = s.wnd == 0;
	s.len = d[8];
	need = 12 + (d[9] % 41) + s.len;
	if (need > n)
		return n;
	memcpy(optb, d + 12, d[9] % 41);
	tcp_opt_parse(optb, d[9] % 41, s.flags & TH_SYN, &s.opt);   /* well-formed rebuild */
	s.data = d + 12 + d[9] % 41;
	s.sport = (d[10] & 1) ? (uint16_t)(FX_RPORT + 1) : 0;
	if (!(d[0] & 1)) {
		tcp_fx_in(fx, &s);
	} else if ((pending[npending].pkb = tcp_spec_build(&fx->pk.cache, &s)) != NULL) {
		pending[npending].saddr = FX_RADDR;
		pending[npending++].daddr = FX_LADDR;
		if (npending == 8)
			flush(fx);
	}
	return need;
}

/* setsockopt: d[1] the option, d[2..3] the value. 4 bytes. */
static size_t fuzz_setsockopt(struct tcp_fx *fx, uint32_t conn, const uint8_t *d, size_t n)
{
	static const char *const cc[] = { "cubic", "newreno", "reno", "vegas" };
	struct tcp_linger lg;
	int opt, v;

	if (n < 4)
		return n;
	opt = 1 + d[1] % 14;
	v = (int16_t)rd16(d + 2);
	lg = (struct tcp_linger){ v & 1, v >> 1 };
	if (opt == TCP_SOCKOPT_CONGESTION)
		tcp_setsockopt(fx->ts, &fx->env, conn, opt, cc[v & 3],
			       (uint32_t)strlen(cc[v & 3]) + 1, fx->now);
	else if (opt == TCP_SOCKOPT_LINGER)
		tcp_setsockopt(fx->ts, &fx->env, conn, opt, &lg, sizeof(lg), fx->now);
	else
		tcp_setsockopt(fx->ts, &fx->env, conn, opt, &v, sizeof(v), fx->now);
	return 4;
}

/* An ICMP error about the conn: d[1] the kind, d[2..3] seq offset from
 * SND.UNA, d[4..5] the MTU. 6 bytes. */
static size_t fuzz_icmp(struct tcp_fx *fx, uint32_t conn, const uint8_t *d, size_t n)
{
	static const int err[] = { -ECONNREFUSED, -ENOPROTOOPT, -EHOSTUNREACH, -ENETUNREACH,
				   -EMSGSIZE, -EPROTO, 0 };
	const struct tcb *t = tcp_tcb(fx->ts, conn);

	if (n < 6)
		return n;
	tcp_icmp_error(fx->ts, &fx->env, FX_LADDR, FX_LPORT, FX_RADDR, FX_RPORT,
		       t->snd_una + (uint32_t)(int16_t)rd16(d + 2), err[d[1] % 7], rd16(d + 4),
		       fx->now);
	return 6;
}

/* Op 7: a user call. Returns the input bytes it took. */
static size_t fuzz_user(struct tcp_fx *fx, uint32_t conn, const uint8_t *d, size_t n)
{
	uint8_t v[16];
	uint32_t len = sizeof(v);

	switch (d[0] & 7) {
	case 0: tcp_close(fx->ts, &fx->env, conn, fx->now); return 1;
	case 1: tcp_shutdown(fx->ts, &fx->env, conn, TCP_SHUT_WR, fx->now); return 1;
	case 2: tcp_shutdown(fx->ts, &fx->env, conn, TCP_SHUT_RD, fx->now); return 1;
	case 3: tcp_abort(fx->ts, &fx->env, conn, fx->now); return 1;
	case 4: return fuzz_setsockopt(fx, conn, d, n);
	case 5: return fuzz_icmp(fx, conn, d, n);
	case 6: tcp_accept(fx->ts, &fx->env, conn, NULL); return 1;
	default: tcp_getsockopt(fx->ts, conn, 1 + (d[0] >> 3) % 14, v, &len); return 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tcp_fx *fx;     /* one fixture, formatted afresh for each input */
	uint32_t iss = 0;
	uint8_t buf[4096];
	int c;

	if (!fx) {
		struct tcp_config cfg;

		tcp_fx_config(&cfg);
		cfg.max_conns = 8;    /* the pool can run out */
		cfg.sndbuf = cfg.rcvbuf = 8192;
		if (!(fx = tcp_fx_new(&cfg)))
			abort();
	}
	if (size < 1 || tcp_fx_reset(fx) < 0)
		return 0;
	c = reach(fx, data[0], &iss);
	fx->keep_out = true;          /* captures were for reach(); now just free */
	for (size_t i = 1, steps = 0; c >= 0 && i < size && steps < 512; steps++) {
		const uint8_t *d = data + i;
		size_t left = size - i;

		if (d[0] >> 5 >= 4 && npending)
			flush(fx);
		switch (d[0] >> 5) {
		case 4: tcp_fx_advance(fx, fx->now + (uint64_t)(d[0] & 31) * 2000000000ull + 1000000);
			i += 1; break;
		case 5: tcp_send(fx->ts, &fx->env, (uint32_t)c, buf, (uint32_t)(d[0] & 31) * 100, 0, fx->now);
			i += 1; break;
		case 6: tcp_recv(fx->ts, &fx->env, (uint32_t)c, buf, sizeof(buf), 0, fx->now);
			i += 1; break;
		case 7: i += fuzz_user(fx, (uint32_t)c, d, left); break;
		default: i += fuzz_segment(fx, (uint32_t)c, d, left);
		}
		check(fx, (uint32_t)c);
	}
	flush(fx);
	if (pkb_fixture_leaks(&fx->pk) != 0)
		abort();     /* a pkb leaked */
	return 0;
}
