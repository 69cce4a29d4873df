/* tests/support/tcp_seg.h — fixtures for TCP scenario tests: a segment
 * builder (the test plays the remote peer), a captured transmit list (what
 * TCP sent, parsed back), an event log, and a fake clock. No cmocka here
 * (fuzz targets and bench/ link it too).
 *
 *	struct tcp_fx *fx = tcp_fx_new(NULL);          default small config
 *	int l = tcp_listen(fx->ts, &fx->env, FX_LADDR, 80, 8, 0);
 *	tcp_fx_in(fx, &(struct tcp_spec){ .flags = TH_SYN, .seq = 1000 });
 *	const struct tcp_cap *c = tcp_fx_last(fx);      the SYN-ACK
 */
#ifndef RINGSTACK_TESTS_TCP_SEG_H
#define RINGSTACK_TESTS_TCP_SEG_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/tcp/tcp.h"
#include "proto/tcp/tcp_internal.h"
#include "tests/support/pkb_fixture.h"

#define FX_LADDR 0x0a000001u   /* 10.0.0.1: the stack under test */
#define FX_RADDR 0x0a000002u   /* 10.0.0.2: the peer the test plays */
#define FX_LPORT 80u
#define FX_RPORT 5555u
#define FX_CAP_MAX 256u
#define FX_CAP_DATA 2048u
#define FX_EV_MAX 256u

/* A segment the test sends. Zero fields mean the defaults: peer -> stack
 * addresses and ports, window 65535. Options only where `opt.has` says. */
struct tcp_spec {
	uint32_t saddr, daddr;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t wnd;
	bool wnd_zero;           /* send a window of 0 (wnd == 0 means 65535) */
	struct tcp_opts opt;
	const void *data;
	uint32_t len;
	bool bad_csum;
};

/* A segment TCP sent, parsed back. */
struct tcp_cap {
	uint32_t saddr, daddr;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t wnd;
	struct tcp_opts opt;
	uint32_t len;            /* payload bytes */
	uint8_t data[FX_CAP_DATA];
	uint64_t when;
	bool csum_ok;
};

struct tcp_ev {
	uint32_t conn;
	unsigned events;
};

struct tcp_fx {
	struct pkb_fixture pk;
	struct tcp_stack *ts;
	void *mem;
	struct tcp_env env;
	uint64_t now;
	uint32_t ncap;           /* captured since the last tcp_fx_clear */
	struct tcp_cap cap[FX_CAP_MAX];
	uint32_t nev;
	struct tcp_ev ev[FX_EV_MAX];
	bool keep_out;           /* true: don't capture, free (bench) */
	void (*forward)(void *ctx, struct pkb *seg, uint32_t saddr, uint32_t daddr,
			uint64_t now);   /* if set, output goes here instead (two-stack tests) */
	void *forward_ctx;
};

/* The config tests use: 16 conns, 64 KiB rings, MTU 1500, 1 s MSL. */
void tcp_fx_config(struct tcp_config *cfg);

/* A fixture with its own pool and stack (cfg NULL: tcp_fx_config). */
struct tcp_fx *tcp_fx_new(const struct tcp_config *cfg);

/* Start over in the same memory: the stack formatted afresh with its config,
 * the clock back at its start, captures and events cleared (the pool is
 * kept: check pkb_fixture_leaks(&fx->pk) between uses). For fuzz targets,
 * which would otherwise spend their time in the kernel's page faults.
 * Returns 0 or -EINVAL. */
int tcp_fx_reset(struct tcp_fx *fx);

/* Free everything; returns the pkbs leaked (0 when none). */
uint32_t tcp_fx_free(struct tcp_fx *fx);

/* Build spec as a pkb (TCP header at data, checksum filled). */
struct pkb *tcp_spec_build(struct pkb_cache *cache, const struct tcp_spec *spec);

/* Build spec and give it to tcp_input at fx->now. */
void tcp_fx_in(struct tcp_fx *fx, const struct tcp_spec *spec);

/* Advance the clock to `to` and run timers at each deadline on the way. */
void tcp_fx_advance(struct tcp_fx *fx, uint64_t to);

/* Captured segment i, the last one, or NULL. */
const struct tcp_cap *tcp_fx_cap(const struct tcp_fx *fx, uint32_t i);
const struct tcp_cap *tcp_fx_last(const struct tcp_fx *fx);
void tcp_fx_clear(struct tcp_fx *fx);

/* Events ORed together for conn since the last clear. */
unsigned tcp_fx_events(const struct tcp_fx *fx, uint32_t conn);

/* State of conn (TCPS_*), or -1. */
int tcp_fx_state(const struct tcp_fx *fx, uint32_t conn);

/* Drive a passive open to ESTABLISHED: listener on FX_LPORT, the peer's SYN
 * (seq irs, options opt), our SYN-ACK, the peer's ACK; accepted. Returns the
 * conn (>= 0) or -1. *iss gets our ISS. */
int tcp_fx_passive_open(struct tcp_fx *fx, uint32_t irs, const struct tcp_opts *opt,
			uint32_t *iss);

/* Drive an active open: tcp_connect, then the peer's SYN-ACK (seq irs,
 * options opt) and our ACK. Returns the conn or -1. *iss gets our ISS. */
int tcp_fx_active_open(struct tcp_fx *fx, uint32_t irs, const struct tcp_opts *opt,
		       uint32_t *iss);

#endif /* RINGSTACK_TESTS_TCP_SEG_H */
