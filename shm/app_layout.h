/* shm/app_layout.h — the application boundary: one app's region, the hellos
 * with sockd, and the command/completion protocol between libsock and netd.
 *
 * Who talks to whom:
 *
 *     app (libsock) --hello--> sockd     RUN_DIR/sockd.sock: admission (SO_PEERCRED),
 *                   <--welcome--         the app's region fd + its wake pipe (SCM_RIGHTS)
 *     sockd --APP_ATTACH--> netd         RUN_DIR/sockd.sock too (role NETD): the same
 *                                        fds and the app's policy; APP_DETACH when it dies
 *     app <==region==> netd              data path: commands, completions, socket
 *                                        state, byte rings; no daemon in between
 *
 * The region (kind REGION_KIND_APP, layout APP_LAYOUT_VERSION), created by
 * sockd per admitted application and mapped by the app and by netd:
 *
 *     area         what                                       written by
 *     "app.ctl"    struct app_ctl: geometry, ids, doorbells   sockd (geometry), both (doorbells)
 *     "app.cmd"    ring of struct app_cmd (app -> netd)        app produces, netd consumes
 *     "app.cpl"    ring of struct app_cpl (netd -> app)        netd produces, app consumes
 *     "app.socks"  struct app_sock[nsocks]: per-socket state   see the struct
 *     "app.bufs"   2 byte rings per socket, APP_BUF_SIZE each  rx: netd -> app, tx: app -> netd
 *
 * Trust. netd treats everything in this region as hostile input: it keeps its
 * own copy of the geometry (from sockd, never from app.ctl), checks every
 * socket index against its own table, reads ring indices once and clamps
 * them, and derives each socket's buffer address from the index alone. A
 * hostile app can corrupt its own sockets, never netd or another app.
 *
 * Sockets. A stack socket is named by its index in app.socks (0 .. nsocks-1);
 * libsock allocates indices (it owns the free list, in its own memory) and
 * netd learns of a socket with APP_OP_SOCKET. In the app, every stack socket
 * also has a real kernel file descriptor (a placeholder eventfd), so that fd
 * numbers never collide with the app's other files; libsock maps fd -> index.
 *
 * Readiness. netd keeps app_sock.events (the APP_EV_* state bits below)
 * current and libsock derives poll readiness from them and from its own view
 * of the byte rings:
 *
 *     POLLIN    rx ring not empty, or RDHUP, HUP or ERR, or (listener) ACCEPTQ
 *     POLLOUT   tx ring has room and (stream) CONNECTED and not HUP
 *     POLLERR   ERR          POLLHUP  HUP          POLLRDHUP  RDHUP
 *
 * netd publishes rx bytes (release store of rx.prod) before it sets the bits
 * that announce them, and sets bits before it rings; after changing any, it rings the
 * app's doorbell "wake" with the eventfd form, on a pipe (the app waits for
 * its wake pipe in poll/epoll/select/ppoll, together with its kernel fds).
 * A pipe, not an eventfd: every holder of an eventfd shares one open file
 * description, so an app could clear O_NONBLOCK on it and fill its counter
 * until netd's wake-up write blocked the engine. sockd reopens the pipe's
 * write end through /proc for netd: an open file description the app cannot
 * touch, always nonblocking (a full pipe means a wake-up is pending). An app
 * that posts a command rings netd's doorbell "netd" with doorbell_ring (the
 * futex form: netd sleeps on all its doorbells at once with
 * doorbell_wait_many, i.e. futex_waitv). Notify suppression on both: no
 * syscall while the other side is awake.
 *
 * Byte rings. Each socket has an rx ring (netd writes, app reads) and a tx
 * ring (app writes, netd reads) of APP_BUF_SIZE bytes. Indices are
 * free-running uint32 byte counts; producer publishes with a release store,
 * consumer reads with acquire (as shm/ring.h). TCP streams are raw bytes.
 * UDP datagrams are records: struct app_dgram then the payload, each record
 * starting 8-byte aligned; a record never wraps (a producer that would wrap
 * writes an APP_DGRAM_PAD record to the end of the buffer first).
 *
 * Copies (DESIGN.md counts them): send = app memory -> tx ring (libsock) ->
 * TCP's send buffer (netd) -> packet buffer (TCP); receive the reverse. That
 * is one more each way than DESIGN.md's budget, because TCP's buffers live in
 * netd's region, not in the app's: docs/ARCHITECTURE.md says why and what
 * removes it.
 */
#ifndef RINGSTACK_SHM_APP_LAYOUT_H
#define RINGSTACK_SHM_APP_LAYOUT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/doorbell.h"

#define APP_LAYOUT_VERSION  3u   /* 2: app_sock.optval (TCP_INFO); 3: FORK, INHERIT */

#define APP_SOCK_FILE       "sockd.sock"   /* RUN_DIR/sockd.sock */
#define APP_AREA_CTL        "app.ctl"
#define APP_AREA_CMD        "app.cmd"
#define APP_AREA_CPL        "app.cpl"
#define APP_AREA_SOCKS      "app.socks"
#define APP_AREA_BUFS       "app.bufs"

#define APP_SOCKS_DEF       256u           /* sockets per app (quota) */
#define APP_SOCKS_MAX       4096u
#define APP_BUF_SIZE        (256u * 1024)  /* bytes per byte ring, a power of two */
#define APP_CMD_RING        1024u          /* commands in flight */
#define APP_CPL_RING        1024u          /* completions in flight */

/* ------------------------------------------------------------- app.ctl */

#define APP_CTL_MAGIC       0x41505043u    /* "APPC" */

struct app_ctl {
	uint32_t magic;            /* APP_CTL_MAGIC */
	uint32_t version;          /* APP_LAYOUT_VERSION */
	uint32_t app_id;           /* sockd's id for the app, unique while sockd runs */
	uint32_t pid;              /* the admitted process */
	uint32_t uid;
	uint32_t nsocks;           /* entries in app.socks */
	uint32_t buf_size;         /* bytes per byte ring */
	uint32_t flags;            /* enum app_flags (policy, informational for the app) */
	uint8_t pad[32];
	struct doorbell wake;      /* app sleeps on it; netd rings (eventfd form) */
	struct doorbell netd;      /* netd sleeps on it (futex); the app rings */
};
_Static_assert(offsetof(struct app_ctl, wake) == 64, "app_ctl layout changed");
_Static_assert(sizeof(struct app_ctl) == 64 + 2 * DOORBELL_SIZE, "app_ctl layout changed");

enum app_flags {
	APP_F_BIND_PRIV = 1u << 0, /* may bind ports below 1024 (CAP_NET_BIND_SERVICE) */
};

/* ------------------------------------------------------------ commands */

/* What libsock asks of netd. Every command gets exactly one completion with
 * the same seq, except APP_OP_TX and APP_OP_RX_DONE (notifications). */
enum app_op {
	APP_OP_SOCKET = 1,    /* sock, arg0 = SOCK_STREAM | SOCK_DGRAM      -> 0 | -errno */
	APP_OP_BIND,          /* sock, addr:port (port 0: ephemeral), arg0 = APP_SO_* flags
	                       *                             -> 0, cpl.addr:port = bound */
	APP_OP_LISTEN,        /* sock, arg0 = backlog          -> 0 | -errno */
	APP_OP_ACCEPT,        /* sock = listener, arg0 = new sock index
	                       *   -> 0, cpl.addr:port = peer | -EAGAIN | -errno */
	APP_OP_CONNECT,       /* sock, addr:port -> 0 (connected, or for UDP: set peer)
	                       *   | -EINPROGRESS (TCP: POLLOUT|POLLERR on sock follow) */
	APP_OP_SHUTDOWN,      /* sock, arg0 = SHUT_RD/WR/RDWR  -> 0 | -errno */
	APP_OP_CLOSE,         /* sock                          -> 0; the index is free after */
	APP_OP_SETSOCKOPT,    /* sock, arg0 = level, arg1 = optname, val = value -> 0 | -errno */
	APP_OP_GETSOCKOPT,    /* sock, arg0 = level, arg1 = optname -> 0, cpl.val | -errno;
	                       *   a value too big for cpl.val (TCP_INFO) goes to
	                       *   app_sock.optval, and cpl.val is its length */
	APP_OP_GETNAME,       /* sock, arg0 = 0 local / 1 peer -> 0, cpl.addr:port | -ENOTCONN */
	APP_OP_TX,            /* sock: the tx ring has new bytes (notification, no completion) */
	APP_OP_RX_DONE,       /* sock: the app consumed rx bytes (window update; no completion) */
	APP_OP_FORK,          /* arg0 = the pid fork() just returned: that child may inherit
	                       *   this app's listening sockets (INHERIT) -> 0 | -ENOSPC */
	APP_OP_INHERIT,       /* sock = a free index of ours, arg0 = the parent's socket
	                       *   index, port = its local port as we saw it at fork,
	                       *   arg1 = the parent's pid (it posted FORK for us):
	                       *   sock becomes another reference to that listening socket
	                       *   -> 0, cpl.addr:port = its local name | -EPERM | -EBADF */
	APP_OP_MAX
};

/* APP_OP_BIND / SOCKET flags (arg0 of BIND) */
#define APP_SO_REUSEADDR  0x1u
#define APP_SO_REUSEPORT  0x2u

struct app_cmd {
	uint16_t op;          /* enum app_op */
	uint16_t port;        /* host order */
	uint32_t sock;        /* socket index */
	uint32_t seq;         /* echoed in the completion */
	uint32_t addr;        /* IPv4, host order */
	int32_t arg0, arg1;
	int64_t val;          /* option value (ints and times) */
	uint64_t ts;          /* CLOCK_MONOTONIC ns when posted: per-stage latency */
	uint8_t pad[24];
};
_Static_assert(sizeof(struct app_cmd) == 64, "app_cmd is one cache line");

struct app_cpl {
	uint32_t seq;         /* the command's */
	int32_t result;       /* 0, a count, or -errno */
	uint32_t sock;
	uint32_t addr;        /* host order */
	uint16_t port;
	uint16_t op;
	uint32_t pad0;
	int64_t val;
	uint64_t pad[4];
};
_Static_assert(sizeof(struct app_cpl) == 64, "app_cpl is one cache line");

/* ------------------------------------------------------------- sockets */

enum app_sock_state {
	APP_SOCK_FREE = 0,
	APP_SOCK_OPEN,        /* netd knows it (after APP_OP_SOCKET) */
	APP_SOCK_CLOSING,     /* APP_OP_CLOSE posted */
};

/* A byte ring's indices; the buffer is found from the socket index. Each
 * index has one writer; 64 bytes apart so that they do not share a line. */
struct app_bring {
	_Atomic uint32_t prod;    /* bytes ever written (producer: release) */
	uint8_t pad0[60];
	_Atomic uint32_t cons;    /* bytes ever read (consumer: release) */
	uint8_t pad1[60];
};
_Static_assert(sizeof(struct app_bring) == 128, "app_bring layout changed");

/* app_sock.events: connection state netd reports (libsock reads). */
enum app_events {
	APP_EV_CONNECTED = 1u << 0,  /* stream: established (an active open completed) */
	APP_EV_ACCEPTQ = 1u << 1,    /* listener: at least one connection to accept */
	APP_EV_RDHUP = 1u << 2,      /* the peer closed its side: after the rx bytes, EOF */
	APP_EV_HUP = 1u << 3,        /* closed both ways, reset or failed: nothing more moves */
	APP_EV_ERR = 1u << 4,        /* app_sock.error holds a pending -errno */
};

/* Option values that do not fit app_cpl.val. A completion is one cache line
 * (40 bytes of it free) and struct tcp_info is 232 bytes, so netd writes such
 * a value here, in the socket's own slot, before it posts the completion
 * (the completion's release publishes it; libsock reads it after its
 * acquire), and cpl.val is the length written. One slot per socket, not per
 * command: libsock lets one such getsockopt per socket be in flight, so a
 * slot is never written while its reader copies it. Why not several
 * completions: every command has exactly one, and netd sizes its intake by
 * that; why not a slot per pending seq: a seq's slot would outlive a
 * timed-out waiter. netd only writes here, never reads. */
#define APP_OPTVAL_MAX 256u

struct app_sock {
	_Atomic uint32_t events;  /* enum app_events, netd writes (release) */
	_Atomic int32_t error;    /* pending -errno for SO_ERROR, netd writes; app clears via GETSOCKOPT */
	uint32_t state;           /* enum app_sock_state: the app's view */
	uint32_t type;            /* SOCK_STREAM or SOCK_DGRAM: the app's view */
	uint8_t pad[48];
	struct app_bring rx;      /* netd produces, app consumes */
	struct app_bring tx;      /* app produces, netd consumes */
	uint8_t optval[APP_OPTVAL_MAX];   /* netd writes the value of a GETSOCKOPT (above) */
};
_Static_assert(sizeof(struct app_sock) == 576, "app_sock layout changed");
_Static_assert(offsetof(struct app_sock, rx) == 64, "app_sock layout changed");
_Static_assert(offsetof(struct app_sock, optval) == 320, "app_sock layout changed");

/* getsockopt(IPPROTO_TCP, TCP_INFO)'s value in app_sock.optval: Linux's
 * struct tcp_info (uapi <linux/tcp.h>, Linux 6.1's 232 bytes; the ABI only
 * grows at the end, and glibc's <netinet/tcp.h> version is its first 104
 * bytes), spelled here in fixed-width fields because <linux/tcp.h> and
 * <netinet/tcp.h> cannot be included together. libsock copies the app's
 * optlen's worth, whichever header the app was built with.
 * tests/tools/tcp_info_check.c checks every offset against <linux/tcp.h>.
 * Units are Linux's: times in microseconds (last_* in milliseconds),
 * unacked/sacked/lost/retrans/snd_cwnd/snd_ssthresh in segments. */
struct app_tcp_info {
	uint8_t tcpi_state;          /* Linux's TCP_ESTABLISHED... (netinet/tcp.h) */
	uint8_t tcpi_ca_state;       /* TCP_CA_Open... */
	uint8_t tcpi_retransmits;
	uint8_t tcpi_probes;
	uint8_t tcpi_backoff;
	uint8_t tcpi_options;        /* TCPI_OPT_* */
	uint8_t tcpi_wscale;         /* Linux's bitfields snd_wscale:4 (low), rcv_wscale:4 (high) */
	uint8_t tcpi_rate_flags;     /* delivery_rate_app_limited:1, fastopen_client_fail:2 */
	uint32_t tcpi_rto, tcpi_ato, tcpi_snd_mss, tcpi_rcv_mss;
	uint32_t tcpi_unacked, tcpi_sacked, tcpi_lost, tcpi_retrans, tcpi_fackets;
	uint32_t tcpi_last_data_sent, tcpi_last_ack_sent, tcpi_last_data_recv, tcpi_last_ack_recv;
	uint32_t tcpi_pmtu, tcpi_rcv_ssthresh, tcpi_rtt, tcpi_rttvar;
	uint32_t tcpi_snd_ssthresh, tcpi_snd_cwnd, tcpi_advmss, tcpi_reordering;
	uint32_t tcpi_rcv_rtt, tcpi_rcv_space;
	uint32_t tcpi_total_retrans;
	uint64_t tcpi_pacing_rate, tcpi_max_pacing_rate;
	uint64_t tcpi_bytes_acked, tcpi_bytes_received;
	uint32_t tcpi_segs_out, tcpi_segs_in;
	uint32_t tcpi_notsent_bytes, tcpi_min_rtt;
	uint32_t tcpi_data_segs_in, tcpi_data_segs_out;
	uint64_t tcpi_delivery_rate;
	uint64_t tcpi_busy_time, tcpi_rwnd_limited, tcpi_sndbuf_limited;
	uint32_t tcpi_delivered, tcpi_delivered_ce;
	uint64_t tcpi_bytes_sent, tcpi_bytes_retrans;
	uint32_t tcpi_dsack_dups, tcpi_reord_seen;
	uint32_t tcpi_rcv_ooopack;
	uint32_t tcpi_snd_wnd;
};
_Static_assert(sizeof(struct app_tcp_info) == 232, "Linux 6.1's struct tcp_info");
_Static_assert(offsetof(struct app_tcp_info, tcpi_rto) == 8, "struct tcp_info layout");
_Static_assert(offsetof(struct app_tcp_info, tcpi_total_retrans) == 100, "glibc's 104 bytes");
_Static_assert(offsetof(struct app_tcp_info, tcpi_pacing_rate) == 104, "struct tcp_info layout");
_Static_assert(offsetof(struct app_tcp_info, tcpi_snd_wnd) == 228, "struct tcp_info layout");
_Static_assert(sizeof(struct app_tcp_info) <= APP_OPTVAL_MAX, "TCP_INFO fits app_sock.optval");

/* UDP records in a byte ring: this header, then len payload bytes; the next
 * record starts at the next multiple of 8. */
#define APP_DGRAM_PAD    0xffffffffu   /* len of a filler record up to the buffer's end */

struct app_dgram {
	uint32_t len;         /* payload bytes, or APP_DGRAM_PAD */
	uint32_t addr;        /* rx: source; tx: destination (0: the connected peer). host order */
	uint16_t port;
	uint16_t flags;       /* rx: APP_DGRAM_TRUNC... reserved */
	uint32_t pad;
};
_Static_assert(sizeof(struct app_dgram) == 16, "app_dgram layout changed");

/* Where socket i's rx and tx buffers start inside app.bufs. Both sides use
 * this with their own trusted buf_size. */
static inline uint64_t app_buf_off(uint32_t sock, uint32_t buf_size, int tx)
{
	return ((uint64_t)sock * 2 + (tx ? 1 : 0)) * buf_size;
}

/* ---------------------------------------------------------- the hellos */

/* Over RUN_DIR/sockd.sock (SOCK_SEQPACKET). A peer sends one app_hello; sockd
 * answers one app_welcome. For role APP with status 0, SCM_RIGHTS carries
 * [0] the region fd, [1] the read end of the app's wake pipe (wait on it;
 * netd rings it with doorbell_ring_eventfd on app_ctl.wake), [2] a write end
 * of it for the app's own use (re-arming a wake-up one thread drained for
 * another). For role NETD, sockd then sends one app_attach + [region fd,
 * netd's own write end of the pipe] per admitted
 * app and one app_detach when an app goes; the connection stays open and EOF
 * means the other side is gone. An app's connection stays open too: sockd
 * watches it (and the app's pidfd) to clean up after the app. */
#define APP_HELLO_MAGIC    0x41484c4fu   /* "AHLO" */
#define APP_WELCOME_MAGIC  0x4157454cu   /* "AWEL" */
#define APP_ATTACH_MAGIC   0x41415454u   /* "AATT" */
#define APP_DETACH_MAGIC   0x41444554u   /* "ADET" */
#define APP_HELLO_VERSION  1u
#define APP_WELCOME_NFDS   3u            /* region, wake read end, app's wake write end */
#define APP_ATTACH_NFDS    2u            /* region, netd's wake write end */

enum app_role {
	APP_ROLE_APP = 1,
	APP_ROLE_NETD = 2,
};

struct app_hello {
	uint32_t magic;           /* APP_HELLO_MAGIC */
	uint16_t version;         /* APP_HELLO_VERSION */
	uint16_t role;            /* enum app_role */
	uint32_t layout_version;  /* APP_LAYOUT_VERSION the peer was built with */
	uint32_t pid;             /* informational: sockd trusts SO_PEERCRED only */
	char name[16];            /* comm, for logs */
};
_Static_assert(sizeof(struct app_hello) == 32, "app_hello layout changed");

struct app_welcome {
	uint32_t magic;           /* APP_WELCOME_MAGIC */
	uint16_t version;
	int16_t status;           /* 0 or -errno (-EPROTO: version, -EUSERS: too many apps) */
	uint32_t layout_version;
	uint32_t app_id;
	uint64_t region_size;
	uint64_t pad;
};
_Static_assert(sizeof(struct app_welcome) == 32, "app_welcome layout changed");

/* sockd -> netd, with APP_ATTACH_NFDS fds in SCM_RIGHTS. The geometry here is
 * what netd trusts (never app.ctl's copy). */
struct app_attach {
	uint32_t magic;           /* APP_ATTACH_MAGIC */
	uint32_t app_id;
	uint32_t pid, uid;
	uint32_t nsocks;
	uint32_t buf_size;
	uint32_t flags;           /* enum app_flags: policy netd enforces */
	uint32_t pad;
	uint64_t region_size;
};
_Static_assert(sizeof(struct app_attach) == 40, "app_attach layout changed");

/* netd -> sockd, with APP_ATTACH_NFDS fds (the region, netd's wake write
 * end): an app netd kept serving while no sockd was connected, offered
 * once per app after sockd's welcome. The body is the app_attach netd got
 * (magic APP_ADOPT_MAGIC). A sockd that restarted has forgotten the app:
 * it checks the process still lives (pidfd, uid), takes it back and owes
 * netd its attach, which netd recognises as a replay by the region. A sockd
 * that knows the app ignores the offer. */
#define APP_ADOPT_MAGIC 0x41414450u   /* "AADP" */

struct app_detach {
	uint32_t magic;           /* APP_DETACH_MAGIC */
	uint32_t app_id;
};
_Static_assert(sizeof(struct app_detach) == 8, "app_detach layout changed");

/* netd -> sockd: netd answers every app_attach (replays included) with one
 * ack once it has mapped the region and handed it to its engine. sockd
 * welcomes the app only then, so an app never posts a command to a netd that
 * does not have its region yet; an attach not acknowledged in time gets the
 * app welcomed with -EAGAIN. */
#define APP_ATTACH_ACK_MAGIC 0x41414b4bu   /* "AAKK" */

struct app_attach_ack {
	uint32_t magic;           /* APP_ATTACH_ACK_MAGIC */
	uint32_t app_id;          /* the app_attach's */
};
_Static_assert(sizeof(struct app_attach_ack) == 8, "app_attach_ack layout changed");

#endif /* RINGSTACK_SHM_APP_LAYOUT_H */
