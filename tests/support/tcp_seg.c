/* tests/support/tcp_seg.c — the TCP scenario fixtures (see tcp_seg.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/csum.h"
#include "tests/support/tcp_seg.h"

static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void tcp_fx_config(struct tcp_config *cfg)
{
	tcp_config_default(cfg);
	cfg->max_conns = 16;
	cfg->sndbuf = cfg->rcvbuf = 64u << 10;
	cfg->msl = 1000000000ull;
	cfg->secret[0] = 0x0123456789abcdefull;
	cfg->secret[1] = 0xfedcba9876543210ull;
	strcpy(cfg->cc, "newreno");
}

struct pkb *tcp_spec_build(struct pkb_cache *cache, const struct tcp_spec *s)
{
	uint8_t hdr[TCP_HDR_MAX + FX_CAP_DATA * 32];
	uint32_t olen = tcp_opt_write(&s->opt, s->flags & TH_SYN, hdr + TCP_HDR_LEN);
	uint32_t hlen = TCP_HDR_LEN + olen, len = hlen + s->len;
	uint32_t saddr = s->saddr ? s->saddr : FX_RADDR, daddr = s->daddr ? s->daddr : FX_LADDR;
	uint16_t sum;

	if (s->len > sizeof(hdr) - TCP_HDR_MAX)
		return NULL;
	wr16(hdr + TCP_OFF_SPORT, s->sport ? s->sport : FX_RPORT);
	wr16(hdr + TCP_OFF_DPORT, s->dport ? s->dport : FX_LPORT);
	wr32(hdr + TCP_OFF_SEQ, s->seq);
	wr32(hdr + TCP_OFF_ACK, s->ack);
	hdr[TCP_OFF_DOFF] = (uint8_t)((hlen / 4) << 4);
	hdr[TCP_OFF_FLAGS] = s->flags;
	wr16(hdr + TCP_OFF_WND, s->wnd_zero ? 0 : s->wnd ? s->wnd : 65535);
	memset(hdr + TCP_OFF_CSUM, 0, 4);
	if (s->len)
		memcpy(hdr + hlen, s->data, s->len);
	sum = csum_fold(csum_partial(hdr, len, csum_pseudo_ipv4(saddr, daddr, TCP_IPPROTO,
								  (uint16_t)len)));
	if (s->bad_csum)
		sum ^= 0x0101;
	memcpy(hdr + TCP_OFF_CSUM, &sum, 2);
	return pkb_from_bytes(cache, hdr, len);
}

/* Parse what TCP sent into a capture (and check its checksum). */
static void capture(struct tcp_fx *fx, struct pkb *b, uint32_t saddr, uint32_t daddr)
{
	uint8_t buf[TCP_HDR_MAX + FX_CAP_DATA];
	uint32_t len = b->pkt_len < sizeof(buf) ? b->pkt_len : sizeof(buf), hlen;
	struct tcp_cap *c;

	if (fx->ncap >= FX_CAP_MAX || len < TCP_HDR_LEN)
		return;
	c = &fx->cap[fx->ncap++];
	memset(c, 0, sizeof(*c));
	pkb_copy_out(b, 0, len, buf);
	c->csum_ok = csum_fold(csum_pkb(b, 0, b->pkt_len, csum_pseudo_ipv4(
		saddr, daddr, TCP_IPPROTO, (uint16_t)b->pkt_len))) == 0;
	hlen = (uint32_t)(buf[TCP_OFF_DOFF] >> 4) * 4;
	c->saddr = saddr; c->daddr = daddr;
	c->sport = rd16(buf + TCP_OFF_SPORT); c->dport = rd16(buf + TCP_OFF_DPORT);
	c->seq = rd32(buf + TCP_OFF_SEQ); c->ack = rd32(buf + TCP_OFF_ACK);
	c->flags = buf[TCP_OFF_FLAGS];
	c->wnd = rd16(buf + TCP_OFF_WND);
	tcp_opt_parse(buf + TCP_HDR_LEN, hlen - TCP_HDR_LEN, c->flags & TH_SYN, &c->opt);
	c->len = b->pkt_len - hlen;
	memcpy(c->data, buf + hlen, c->len < len - hlen ? c->len : len - hlen);
	c->when = fx->now;
}

static void fx_output(void *ctx, struct pkb *seg, uint32_t saddr, uint32_t daddr,
		      uint64_t now)
{
	struct tcp_fx *fx = ctx;

	if (fx->forward)
		return fx->forward(fx->forward_ctx, seg, saddr, daddr, now);
	if (!fx->keep_out)
		capture(fx, seg, saddr, daddr);
	pkb_free(&fx->pk.cache, seg);
}

static void fx_event(void *ctx, uint32_t conn, unsigned events)
{
	struct tcp_fx *fx = ctx;

	if (fx->nev < FX_EV_MAX)
		fx->ev[fx->nev++] = (struct tcp_ev){ conn, events };
}

struct tcp_fx *tcp_fx_new(const struct tcp_config *cfg)
{
	struct tcp_config def;
	struct tcp_fx *fx = calloc(1, sizeof(*fx));
	size_t bytes;

	if (!cfg) {
		tcp_fx_config(&def);
		cfg = &def;
	}
	bytes = tcp_stack_bytes(cfg);
	if (!fx || !bytes || pkb_fixture_init(&fx->pk, 512, 0) < 0)
		goto fail;
	fx->mem = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
	fx->now = 1000000000ull;
	if (!fx->mem || !(fx->ts = tcp_stack_format(fx->mem, bytes, cfg, fx->now)))
		goto fail;
	fx->env = (struct tcp_env){ .cache = &fx->pk.cache, .ctx = fx,
				    .output = fx_output, .event = fx_event };
	return fx;
fail:
	if (fx) {
		free(fx->mem);
		pkb_fixture_fini(&fx->pk);
	}
	free(fx);
	return NULL;
}

int tcp_fx_reset(struct tcp_fx *fx)
{
	struct tcp_config cfg = fx->ts->cfg;
	size_t bytes = fx->ts->bytes;

	fx->now = 1000000000ull;
	fx->ncap = fx->nev = 0;
	fx->keep_out = false;
	fx->forward = NULL;
	fx->ts = tcp_stack_format(fx->mem, bytes, &cfg, fx->now);
	return fx->ts ? 0 : -EINVAL;
}

uint32_t tcp_fx_free(struct tcp_fx *fx)
{
	uint32_t leaks = pkb_fixture_leaks(&fx->pk);

	pkb_fixture_fini(&fx->pk);
	free(fx->mem);
	free(fx);
	return leaks;
}

void tcp_fx_in(struct tcp_fx *fx, const struct tcp_spec *spec)
{
	struct pkb *b = tcp_spec_build(&fx->pk.cache, spec);

	if (b)
		tcp_input(fx->ts, &fx->env, b, spec->saddr ? spec->saddr : FX_RADDR,
			  spec->daddr ? spec->daddr : FX_LADDR, fx->now);
}

void tcp_fx_advance(struct tcp_fx *fx, uint64_t to)
{
	for (unsigned n = 0; n < 100000; n++) {
		uint64_t d = tcp_next_deadline(fx->ts);

		if (d > to)
			break;
		if (d > fx->now)
			fx->now = d;
		tcp_timers(fx->ts, &fx->env, fx->now);
	}
	fx->now = to;
	tcp_timers(fx->ts, &fx->env, fx->now);
}

const struct tcp_cap *tcp_fx_cap(const struct tcp_fx *fx, uint32_t i)
{
	return i < fx->ncap ? &fx->cap[i] : NULL;
}

const struct tcp_cap *tcp_fx_last(const struct tcp_fx *fx)
{
	return fx->ncap ? &fx->cap[fx->ncap - 1] : NULL;
}

void tcp_fx_clear(struct tcp_fx *fx)
{
	fx->ncap = 0;
	fx->nev = 0;
}

unsigned tcp_fx_events(const struct tcp_fx *fx, uint32_t conn)
{
	unsigned ev = 0;

	for (uint32_t i = 0; i < fx->nev; i++)
		if (fx->ev[i].conn == conn)
			ev |= fx->ev[i].events;
	return ev;
}

int tcp_fx_state(const struct tcp_fx *fx, uint32_t conn)
{
	struct tcp_conn_info info;

	return tcp_info(fx->ts, conn, &info) == 0 ? info.state : -1;
}

int tcp_fx_passive_open(struct tcp_fx *fx, uint32_t irs, const struct tcp_opts *opt,
			uint32_t *iss)
{
	struct tcp_spec syn = { .flags = TH_SYN, .seq = irs };
	const struct tcp_cap *c;
	int l = tcp_listen(fx->ts, &fx->env, 0, FX_LPORT, 8, 0);

	if (l < 0)
		return -1;
	if (opt)
		syn.opt = *opt;
	tcp_fx_in(fx, &syn);
	c = tcp_fx_last(fx);
	if (!c || c->flags != (TH_SYN | TH_ACK) || c->ack != irs + 1)
		return -1;
	*iss = c->seq;
	struct tcp_spec ack = { .flags = TH_ACK, .seq = irs + 1, .ack = c->seq + 1 };
	if (opt && (opt->has & TCP_OPTF_TS)) {
		ack.opt.has = TCP_OPTF_TS;
		ack.opt.tsval = opt->tsval + 1;
		ack.opt.tsecr = c->opt.tsval;
	}
	tcp_fx_in(fx, &ack);
	tcp_fx_clear(fx);
	return tcp_accept(fx->ts, &fx->env, (uint32_t)l, NULL);
}

int tcp_fx_active_open(struct tcp_fx *fx, uint32_t irs, const struct tcp_opts *opt,
		       uint32_t *iss)
{
	int conn = tcp_connect(fx->ts, &fx->env, FX_LADDR, FX_LPORT, FX_RADDR, FX_RPORT,
			       fx->now);
	const struct tcp_cap *c = tcp_fx_last(fx);
	struct tcp_spec sa = { .flags = TH_SYN | TH_ACK, .seq = irs };

	if (conn < 0 || !c || c->flags != TH_SYN)
		return -1;
	*iss = c->seq;
	sa.ack = c->seq + 1;
	if (opt)
		sa.opt = *opt;
	if (opt && (opt->has & TCP_OPTF_TS))
		sa.opt.tsecr = c->opt.tsval;
	tcp_fx_in(fx, &sa);
	c = tcp_fx_last(fx);
	if (!c || c->flags != TH_ACK || tcp_fx_state(fx, (uint32_t)conn) != TCPS_ESTABLISHED)
		return -1;
	tcp_fx_clear(fx);
	return conn;
}
