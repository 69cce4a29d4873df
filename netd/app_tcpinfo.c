/* netd/app_tcpinfo.c — getsockopt(IPPROTO_TCP, TCP_INFO): what TCP knows of
 * a socket's connection (proto/tcp's tcp_info), in Linux's struct tcp_info.
 *
 * Where it sits: app_cmd.c's GETSOCKOPT hands TCP_INFO here. The value (232
 * bytes) does not fit a completion, so it is written into the socket's
 * app_sock.optval and the completion carries its length; libsock copies it
 * out for the app (shm/app_layout.h says why this way). netd only writes
 * into the app's region here, at an address derived from a checked index.
 *
 * Linux's units, not TCP's: segments where Linux counts segments (unacked,
 * sacked, lost, retrans, snd_cwnd, snd_ssthresh; TCP counts bytes, so these
 * are bytes / SMSS, rounded up where a partial segment is still one), times
 * in microseconds, the last_* ages in milliseconds.
 *
 * segs_in and data_segs_in count segments as TCP received them: after GRO
 * merged a burst's (proto/gro.h), where Linux counts the wire's.
 *
 * Left 0 because this stack has no such figure: ca_state's CWR (no ECN),
 * fackets (Linux too, since 4.15), last_ack_sent (Linux too: "not
 * remembered"), rcv_rtt (no receiver-side RTT estimate), delivery_rate,
 * delivered, delivered_ce, busy_time, rwnd_limited, sndbuf_limited (no
 * delivery-rate sampling or chrono accounting), reord_seen (reordering is
 * not detected: DupThresh is fixed), the rate flags (no rate sampling, no
 * Fast Open). Not 0 but fixed: reordering is DupThresh (3), the pacing rates
 * are ~0 ("unlimited", as Linux reports for a socket nothing paces), and
 * rcv_space and rcv_ssthresh are the conn's receive buffer (no autotuning:
 * the buffer is the space, and the most the window opens to).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

#include "netd/app_internal.h"

#define TCPI_DUPTHRESH     3u                 /* RFC 5681 3.2 / RFC 6675: fixed in proto/tcp */
#define TCPI_INF_SSTHRESH  0x7fffffffu        /* Linux's TCP_INFINITE_SSTHRESH */
#define TCPI_NO_MIN_RTT    UINT32_MAX         /* Linux's min_rtt before any sample */
#define TCPI_UNLIMITED     UINT64_MAX         /* Linux's pacing rate when nothing limits it */
#define TCPI_MSS_DEFAULT   536u               /* RFC 9293 3.7.1, Linux's for a fresh socket */
#define TCPI_IW            10u                /* RFC 6928 initial window, in segments */
#define TCPI_RTO_INIT_US   1000000u           /* RFC 6298 2.1 */

/* proto/tcp's enum tcp_state -> Linux's TCP_* numbers (netinet/tcp.h). */
static uint8_t linux_state(uint8_t s)
{
	static const uint8_t map[TCPS_NSTATES] = {
		[TCPS_CLOSED] = TCP_CLOSE,           [TCPS_LISTEN] = TCP_LISTEN,
		[TCPS_SYN_SENT] = TCP_SYN_SENT,      [TCPS_SYN_RECEIVED] = TCP_SYN_RECV,
		[TCPS_ESTABLISHED] = TCP_ESTABLISHED, [TCPS_FIN_WAIT_1] = TCP_FIN_WAIT1,
		[TCPS_FIN_WAIT_2] = TCP_FIN_WAIT2,   [TCPS_CLOSE_WAIT] = TCP_CLOSE_WAIT,
		[TCPS_CLOSING] = TCP_CLOSING,        [TCPS_LAST_ACK] = TCP_LAST_ACK,
		[TCPS_TIME_WAIT] = TCP_TIME_WAIT,
	};

	return s < TCPS_NSTATES ? map[s] : TCP_CLOSE;
}

/* proto/tcp's enum tcp_ca_phase -> Linux's TCP_CA_* (no CWR: no ECN). */
static uint8_t linux_ca_state(uint8_t p)
{
	switch (p) {
	case TCP_CAS_DISORDER: return TCP_CA_Disorder;
	case TCP_CAS_RECOVERY: return TCP_CA_Recovery;
	case TCP_CAS_LOSS: return TCP_CA_Loss;
	default: return TCP_CA_Open;
	}
}

static uint8_t linux_options(const struct tcp_conn_info *ci)
{
	return (uint8_t)((ci->opts & TCP_INFO_OPT_TIMESTAMPS ? TCPI_OPT_TIMESTAMPS : 0) |
			 (ci->opts & TCP_INFO_OPT_SACK ? TCPI_OPT_SACK : 0) |
			 (ci->opts & TCP_INFO_OPT_WSCALE ? TCPI_OPT_WSCALE : 0));
}

/* Bytes as segments of mss, a partial one counting as one. */
static uint32_t segs_of(uint32_t bytes, uint32_t mss)
{
	return mss ? (uint32_t)(((uint64_t)bytes + mss - 1) / mss) : 0;
}

/* Milliseconds from `when` (TCP's clock) to now; 0 for "never". */
static uint32_t ms_since(uint64_t when, uint64_t now)
{
	uint64_t ms = when && now > when ? (now - when) / 1000000u : 0;

	return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

/* What no conn has to say: Linux's answer for a socket never connected. */
static void fill_unconnected(struct app_tcp_info *ti)
{
	ti->tcpi_state = TCP_CLOSE;
	ti->tcpi_rto = TCPI_RTO_INIT_US;
	ti->tcpi_snd_mss = TCPI_MSS_DEFAULT;
	ti->tcpi_snd_cwnd = TCPI_IW;
	ti->tcpi_snd_ssthresh = TCPI_INF_SSTHRESH;
	ti->tcpi_reordering = TCPI_DUPTHRESH;
	ti->tcpi_min_rtt = TCPI_NO_MIN_RTT;
	ti->tcpi_pacing_rate = ti->tcpi_max_pacing_rate = TCPI_UNLIMITED;
}

/* The window and the segment counts, in segments of the send MSS. */
static void fill_segments(const struct tcp_conn_info *ci, struct app_tcp_info *ti)
{
	uint32_t mss = ci->snd_mss;

	ti->tcpi_unacked = segs_of(ci->unacked, mss);
	ti->tcpi_sacked = segs_of(ci->sacked, mss);
	ti->tcpi_lost = segs_of(ci->lost, mss);
	ti->tcpi_retrans = segs_of(ci->retrans, mss);
	ti->tcpi_snd_cwnd = mss ? ci->snd_cwnd / mss : 0;
	ti->tcpi_snd_ssthresh = ci->snd_ssthresh == UINT32_MAX || !mss ? TCPI_INF_SSTHRESH
			      : ci->snd_ssthresh / mss;
	ti->tcpi_total_retrans = ci->total_retrans > UINT32_MAX ? UINT32_MAX
			       : (uint32_t)ci->total_retrans;
	ti->tcpi_segs_out = ci->segs_out;
	ti->tcpi_segs_in = ci->segs_in;
	ti->tcpi_data_segs_out = ci->data_segs_out;
	ti->tcpi_data_segs_in = ci->data_segs_in;
	ti->tcpi_dsack_dups = ci->dsack_dups;
	ti->tcpi_rcv_ooopack = ci->rcv_ooopack;
}

/* Times, sizes and byte counts. pmtu: the one ICMP taught TCP, else the
 * route's (what the conn's MSS was clamped to). */
static void fill_metrics(const struct tcp_conn_info *ci, uint16_t route_mtu, uint64_t now,
			 struct app_tcp_info *ti)
{
	ti->tcpi_rto = ci->rto_us;
	ti->tcpi_ato = ci->ato_us;
	ti->tcpi_snd_mss = ci->snd_mss;
	ti->tcpi_rcv_mss = ci->rcv_mss;      /* what we announced: the peer sends no more */
	ti->tcpi_advmss = ci->rcv_mss;
	ti->tcpi_rtt = ci->rtt_us;
	ti->tcpi_rttvar = ci->rttvar_us;
	ti->tcpi_min_rtt = ci->min_rtt_us ? ci->min_rtt_us : TCPI_NO_MIN_RTT;
	ti->tcpi_pmtu = ci->pmtu ? ci->pmtu : route_mtu;
	ti->tcpi_rcv_ssthresh = ti->tcpi_rcv_space = ci->rcvbuf;
	ti->tcpi_reordering = TCPI_DUPTHRESH;
	ti->tcpi_last_data_sent = ms_since(ci->last_data_sent, now);
	ti->tcpi_last_data_recv = ms_since(ci->last_data_rcvd, now);
	ti->tcpi_last_ack_recv = ms_since(ci->last_seg_rcvd, now);
	ti->tcpi_pacing_rate = ti->tcpi_max_pacing_rate = TCPI_UNLIMITED;
	ti->tcpi_bytes_acked = ci->bytes_acked;
	ti->tcpi_bytes_received = ci->bytes_received;
	ti->tcpi_bytes_sent = ci->bytes_sent;
	ti->tcpi_bytes_retrans = ci->bytes_retrans;
	ti->tcpi_notsent_bytes = ci->notsent;
	ti->tcpi_snd_wnd = ci->snd_wnd;
}

static void fill_conn(const struct tcp_conn_info *ci, uint16_t route_mtu, uint64_t now,
		      struct app_tcp_info *ti)
{
	ti->tcpi_state = linux_state(ci->state);
	ti->tcpi_ca_state = linux_ca_state(ci->ca_state);
	ti->tcpi_retransmits = ci->retransmits;
	ti->tcpi_probes = ci->probes;
	ti->tcpi_backoff = (uint8_t)(ci->backoff > 255 ? 255 : ci->backoff);
	ti->tcpi_options = linux_options(ci);
	if (ci->opts & TCP_INFO_OPT_WSCALE)    /* Linux: the scales only when negotiated */
		ti->tcpi_wscale = (uint8_t)((ci->snd_wscale & 0xfu) | (ci->rcv_wscale & 0xfu) << 4);
	fill_segments(ci, ti);
	fill_metrics(ci, route_mtu, now, ti);
}

static uint16_t route_mtu_to(const struct netd_apps_state *st, uint32_t raddr)
{
	const struct route *r = raddr ? route_lookup(&st->stk->routes, raddr) : NULL;

	return r ? r->mtu : 0;
}

int app_tcp_info(struct netd_apps_state *st, struct netd_app *app, uint32_t i, uint64_t now,
		 int64_t *len)
{
	const struct nsock *ns = &app->sock[i];
	struct app_tcp_info ti;
	struct tcp_conn_info ci;

	if (ns->type != SOCK_STREAM)
		return -EOPNOTSUPP;          /* Linux: a UDP socket has no IPPROTO_TCP level */
	memset(&ti, 0, sizeof(ti));
	if (ns->conn != TCP_CONN_NONE && tcp_info(st->stk->tcp, ns->conn, &ci) == 0)
		fill_conn(&ci, route_mtu_to(st, ci.raddr), now, &ti);
	else
		fill_unconnected(&ti);
	memcpy(app->socks[i].optval, &ti, sizeof(ti));
	*len = (int64_t)sizeof(ti);
	return 0;
}
