/* ctl/conns.c — netd's TCP connections, listed as `ss -ti` lists the kernel's.
 *
 * Where it sits: a reader of RUN_DIR/netd.state (shm/netd_layout.h), the
 * region that holds one TCP block per engine ("netd.tcp.Q"), mapped
 * read-only. proto/tcp's own check (tcp_stack_attach: magic, version,
 * sizes) accepts the block before anything in it is read, and tcp_info
 * reads each connection as TCP itself reports it (getsockopt TCP_INFO uses
 * the same), without writing a byte. A connection changing meanwhile shows
 * a mix of two moments, as /proc/net/tcp may.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>

#include "ctl/ctl.h"
#include "proto/tcp/tcp.h"
#include "shm/netd_layout.h"

/* "a.b.c.d:port" (host order in). */
static const char *endpoint(char *buf, size_t len, uint32_t addr, uint16_t port)
{
	snprintf(buf, len, "%u.%u.%u.%u:%u", addr >> 24, addr >> 16 & 0xff, addr >> 8 & 0xff,
		 addr & 0xff, port);
	return buf;
}

static void print_conn(FILE *f, unsigned q, uint32_t id, const struct tcp_conn_info *ti)
{
	char local[32], peer[32];

	fprintf(f, "e%-2u %-7u %-12s %-21s %-21s", q, id, tcp_state_name(ti->state),
		endpoint(local, sizeof(local), ti->laddr, ti->lport),
		ti->state == TCPS_LISTEN ? "*:*" : endpoint(peer, sizeof(peer), ti->raddr, ti->rport));
	if (ti->state != TCPS_LISTEN)
		fprintf(f, " rtt %u/%u us cwnd %u mss %u unacked %u notsent %u retrans %" PRIu64
			" sent %" PRIu64 " rcvd %" PRIu64 " %s",
			ti->rtt_us, ti->rttvar_us, ti->snd_cwnd, ti->snd_mss, ti->unacked, ti->notsent,
			ti->total_retrans, ti->bytes_acked, ti->bytes_received, ti->cc);
	fputc('\n', f);
}

/* Engine q's connections; returns how many were shown. */
static unsigned list_engine(FILE *f, const struct tcp_stack *ts, unsigned q, bool all)
{
	unsigned shown = 0;

	for (uint32_t id = 0; id < tcp_conn_slots(ts); id++) {
		struct tcp_conn_info ti;

		if (tcp_info(ts, id, &ti) < 0)
			continue;
		if (!all && (ti.state == TCPS_LISTEN || ti.state == TCPS_TIME_WAIT))
			continue;
		print_conn(f, q, id, &ti);
		shown++;
	}
	return shown;
}

int ctl_conns(FILE *f, const char *run_dir, bool all)
{
	struct region r;
	unsigned shown = 0, engines = 0;
	char area[32];

	if (ctl_open(&r, run_dir, NETD_STATE_FILE, REGION_KIND_NETD, NETD_STATE_VERSION,
		     "netd's TCP state") < 0)
		return 1;
	fprintf(f, "%-3s %-7s %-12s %-21s %-21s\n", "eng", "conn", "state", "local", "peer");
	for (unsigned q = 0; q < NETD_ENGINES_MAX; q++) {
		size_t len = 0;
		void *mem;
		const struct tcp_stack *ts;

		snprintf(area, sizeof(area), NETD_AREA_TCP_FMT, q);
		if (!(mem = region_find(&r, area, &len)))
			break;
		engines++;
		if (!(ts = tcp_stack_attach(mem, len))) {
			fprintf(stderr, "ctl: %s: not a TCP block of this version\n", area);
			continue;
		}
		shown += list_engine(f, ts, q, all);
	}
	fprintf(f, "(%u connection(s) shown, %u engine(s)%s)\n", shown, engines,
		all ? "" : "; -a adds listeners and TIME_WAIT");
	region_close(&r);
	return engines ? 0 : 1;
}
