/* libsock/libsock_internal.h — libsock's private interfaces (never installed).
 *
 * libsock is the LD_PRELOAD shim: an unmodified program calls socket(),
 * send(), epoll_wait()...; the exported wrappers (sock.c, io.c, poll.c,
 * epoll.c, fdops.c, sockopt.c) decide whether the descriptor is a stack
 * socket, and either serve the call on the app's region (shm/app_layout.h)
 * or pass it to the real libc function unchanged. Where it sits:
 *
 *     app --(POSIX call)--> libsock --(app.cmd, byte rings, doorbells)--> netd
 *                              \--(anything else)--> libc --> kernel
 *
 * Modules (one prefix, ls_, for all of them):
 *     real.c      the real libc entry points, from dlsym(RTLD_NEXT)
 *     attach.c    the hello with sockd, the region, fork
 *     fdtab.c     fd -> stack socket table, socket indices, refcounts
 *     cmd.c       commands and completions (pending seqs), async close
 *     wait.c      sleeping on the wake doorbell with the app's own fds
 *     fallback.c  counters, once-per-reason logs, strict mode, kernel handoff
 *     stream.c, dgram.c   the byte rings: TCP bytes, UDP records (bring.h)
 *
 * Error convention: internal functions return 0, a count, or -errno; only
 * the exported wrappers set errno (STYLE.md practice 6), through ls_ret().
 */
#ifndef RINGSTACK_LIBSOCK_INTERNAL_H
#define RINGSTACK_LIBSOCK_INTERNAL_H

/* libsock defines read(), recv(), poll()... itself: glibc's fortified inline
 * versions of those must not be in scope. Every libsock .c includes this
 * header first, before any system header, so that this takes effect. */
#undef _FORTIFY_SOURCE

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "libsock/bring.h"
#include "shm/app_layout.h"
#include "shm/region.h"
#include "shm/ring.h"

/* Marks the calls libsock interposes; libsock.map lists the same names. */
#define LS_EXPORT __attribute__((visibility("default")))

#define ls_likely(x)   __builtin_expect(!!(x), 1)
#define ls_unlikely(x) __builtin_expect(!!(x), 0)

/* ------------------------------------------------------------ real.c */

/* The libc functions libsock wraps, resolved once with dlsym(RTLD_NEXT). */
struct ls_real {
	int (*socket)(int, int, int);
	int (*socketpair)(int, int, int, int[2]);
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*listen)(int, int);
	int (*accept)(int, struct sockaddr *, socklen_t *);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*readv)(int, const struct iovec *, int);
	ssize_t (*writev)(int, const struct iovec *, int);
	int (*shutdown)(int, int);
	int (*close)(int);
	int (*getsockname)(int, struct sockaddr *, socklen_t *);
	int (*getpeername)(int, struct sockaddr *, socklen_t *);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*fcntl)(int, int, ...);
	int (*ioctl)(int, unsigned long, ...);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
	int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
	int (*pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *,
		       const sigset_t *);
	int (*epoll_create)(int);
	int (*epoll_create1)(int);
	int (*epoll_ctl)(int, int, int, struct epoll_event *);
	int (*epoll_wait)(int, struct epoll_event *, int, int);
	int (*epoll_pwait)(int, struct epoll_event *, int, int, const sigset_t *);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	ssize_t (*sendfile)(int, int, off_t *, size_t);
	pid_t (*fork)(void);
};

extern struct ls_real ls_real;
extern _Atomic int ls_real_ready;

/* Resolve every entry of ls_real (idempotent, thread-safe). Wrappers can be
 * called before libsock's constructor (from another library's), so every
 * use goes through REAL(). */
void ls_real_init(void);

static inline const struct ls_real *ls_real_get(void)
{
	/* Acquire: pairs with the release store that ends ls_real_init(). */
	if (ls_unlikely(!atomic_load_explicit(&ls_real_ready, memory_order_acquire)))
		ls_real_init();
	return &ls_real;
}

#define REAL(fn) (ls_real_get()->fn)

/* ------------------------------------------------------------ fdtab.c */

/* A map from descriptor numbers to small values, read without locks: two
 * levels (LS_FD_CHUNKS chunks of LS_FD_CHUNK entries) allocated on demand,
 * so a process with RLIMIT_NOFILE of a million pays for the fds it uses. */
#define LS_FD_CHUNK   4096u
#define LS_FD_CHUNKS  256u      /* fds 0 .. 1M-1; beyond that nothing is ours */

struct ls_fdmap {
	_Atomic(_Atomic uintptr_t *) chunk[LS_FD_CHUNKS];
};

uintptr_t ls_fdmap_get(struct ls_fdmap *m, int fd);
int ls_fdmap_set(struct ls_fdmap *m, int fd, uintptr_t v);  /* 0 or -ENOMEM/-EBADF */
uintptr_t ls_fdmap_take(struct ls_fdmap *m, int fd);       /* get and clear */

/* Where a stack socket is in its life, as libsock sees it. */
enum ls_phase {
	LS_PH_NEW = 0,       /* created, not bound */
	LS_PH_BOUND,         /* bind() done (explicitly or implicitly) */
	LS_PH_LISTENING,
	LS_PH_CONNECTING,    /* APP_OP_CONNECT answered -EINPROGRESS */
	LS_PH_CONNECTED,     /* stream established, or UDP peer set */
	LS_PH_FAILED,        /* a connect failed; the error was reported */
};

#define LS_SHUT_RD  1u
#define LS_SHUT_WR  2u

/* One option the app set, replayed on the kernel socket by a handoff. */
#define LS_OPTS_MAX 16
struct ls_opt {
	int level, name;
	socklen_t len;
	uint8_t val[16];
};

/* libsock's private state for one stack socket (index idx in app.socks).
 * The array of them lives as long as the attachment and is never freed, so a
 * racing lookup can only see a reused socket, never freed memory (the same
 * race the kernel's fd reuse has). */
struct ls_sock {
	uint32_t idx;
	uint32_t sgen;                /* bumped each time idx is handed out */
	_Atomic uint32_t refs;        /* descriptors naming it (dup) */
	int type;                     /* SOCK_STREAM or SOCK_DGRAM */
	int protocol;
	_Atomic int phase;            /* enum ls_phase */
	_Atomic int nonblock;         /* O_NONBLOCK of its open file (shared by dups) */
	_Atomic unsigned shut;        /* LS_SHUT_* the app asked for */
	_Atomic bool closing;         /* APP_OP_CLOSE posted, completion pending */
	uint32_t close_seq;
	bool user_bound;              /* the app called bind(): no handoff then */
	bool local_known, peer_known;
	struct sockaddr_in local, peer;
	int64_t rcvtimeo_ns, sndtimeo_ns;   /* 0: block without limit */
	uint32_t bind_flags;          /* APP_SO_REUSEADDR | APP_SO_REUSEPORT */
	unsigned nopts;
	struct ls_opt opts[LS_OPTS_MAX];
	pthread_mutex_t lock;         /* state, options, names */
	pthread_mutex_t rx_lock;      /* consumer of rx: one reader at a time */
	pthread_mutex_t tx_lock;      /* producer of tx: one writer at a time */
	pthread_mutex_t optval_lock;  /* app_sock.optval: one large getsockopt in flight */
};

/* What fd names. LS_FD_NONE: not a stack socket (a kernel fd); LS_FD_STALE: a
 * stack socket inherited over fork (the parent's: unusable here). */
enum ls_fd_kind { LS_FD_NONE = 0, LS_FD_SOCK, LS_FD_STALE };

enum ls_fd_kind ls_fd_lookup(int fd, struct ls_sock **out);

/* The common case of every wrapper: the stack socket behind fd, or NULL. */
static inline struct ls_sock *ls_fd_sock(int fd)
{
	struct ls_sock *s = NULL;

	return ls_fd_lookup(fd, &s) == LS_FD_SOCK ? s : NULL;
}

int ls_fd_bind_sock(int fd, struct ls_sock *s);   /* table[fd] = s, refs += 1 */
void ls_fd_forget(int fd);                        /* table[fd] = none, no unref */
uint32_t ls_fd_key(int fd);                       /* the raw entry (epoll staleness) */
uintptr_t ls_fd_entry(int fd);                    /* the whole raw entry: gen << 32 | idx + 1 */

/* fd names s (one more reference) if its entry is still old: a close() in
 * another thread meanwhile wins (-EBADF, s's reference dropped again). */
int ls_fd_rebind(int fd, uintptr_t old, struct ls_sock *s);

/* fd's kind without taking over an inherited listener (close, dup2's
 * victim: nothing to claim for a descriptor that goes). */
enum ls_fd_kind ls_fd_peek(int fd, struct ls_sock **out);

/* Take over every inherited listener every descriptor names (before a
 * fork: the child inherits from us). */
void ls_fd_claim_inherited(void);

/* inherit.c: fd's entry is a stale one of the parent's generation: take the
 * listener over (LS_FD_SOCK, *out set) or say LS_FD_STALE. */
enum ls_fd_kind ls_inherit_fd(int fd, uintptr_t entry, struct ls_sock **out);

/* inherit.c: the child's side of fork, before attach.c forgets the parent's
 * attachment: remember what may be inherited. */
void ls_inherit_at_fork_child(void);

struct ls_sock *ls_sock_alloc(int type, int protocol);  /* NULL: none free */
void ls_sock_ref(struct ls_sock *s);
void ls_sock_unref(struct ls_sock *s);            /* last one posts APP_OP_CLOSE */
void ls_sock_release(struct ls_sock *s);          /* its CLOSE completed: index free */
void ls_sock_discard(struct ls_sock *s);          /* netd never took it: index free */
void ls_sock_record_opt(struct ls_sock *s, int level, int name, const void *v, socklen_t len);

/* After the kernel made newfd a copy of oldfd (dup, dup2, F_DUPFD): newfd
 * names the same stack socket (one more reference), or the same stale one. */
void ls_fd_copy(int oldfd, int newfd);

/* ------------------------------------------------------------ attach.c */

enum ls_attach_state { LS_UNATTACHED = 0, LS_ATTACHED, LS_NO_STACK };

#define LS_PENDING_MAX 64

struct ls_pending {
	uint32_t seq;
	bool used, done;
	struct app_cpl cpl;
};

struct ls_waiter;

struct ls_inherited {
	struct ls_sock *s;            /* our socket for a parent's listener */
	uint32_t sgen;                /* s->sgen when claimed: s was not reused since */
};

/* What a forked child inherited (inherit.c): the parent's private socket
 * array (its memory, copied by fork) and generation, to take over its
 * listeners on their first use. */
struct ls_inherit {
	const struct ls_sock *sk;     /* NULL: nothing to inherit */
	uint32_t nsocks;
	uint16_t gen;                 /* the parent's attachment generation */
	uint32_t ppid;                /* the parent's pid (it told netd of us) */
	struct ls_inherited *map;     /* the parent's index -> our socket, once claimed */
	bool all_claimed;             /* the first claim takes every inherited listener */
	pthread_mutex_t lock;
};

/* The process's attachment to the stack. One per process; a forked child
 * starts a new one (gen moves on) the first time it creates a socket. */
struct ls_stack {
	struct ring_prod cmd;         /* app.cmd, producer: under cmd_lock */
	struct ring_cons cpl;         /* app.cpl, consumer: under cpl_lock */
	_Atomic int state;            /* enum ls_attach_state */
	uint16_t gen;                 /* attachment generation (fork) */
	struct region region;
	struct app_ctl *ctl;
	struct app_sock *socks;       /* shared, [nsocks] */
	uint8_t *bufs;                /* shared, 2 * nsocks * buf_size */
	uint32_t nsocks, buf_size;
	int wake_fd;                  /* our wake pipe's read end (nonblocking) */
	int wake_wfd;                 /* its write end, ours (re-arming a drained wake-up) */
	int sockd_fd;                 /* the connection sockd watches */
	uint32_t app_id;
	_Atomic uint32_t next_seq;
	pthread_mutex_t attach_lock;
	pthread_mutex_t cmd_lock;
	pthread_mutex_t cpl_lock;     /* cpl ring and pending[] */
	struct ls_pending pending[LS_PENDING_MAX];
	pthread_mutex_t alloc_lock;   /* free list */
	uint32_t *free_idx;
	uint32_t nfree;
	_Atomic uint32_t closes_in_flight;
	struct ls_sock *sk;           /* private, [nsocks] */
	pthread_mutex_t wait_lock;    /* waiters list (wait.c) */
	struct ls_waiter *waiters;
	struct ls_inherit inh;        /* a forked child's inheritance (inherit.c) */
	uint32_t fork_pid;            /* getpid() before the last fork(): a child's parent */
	/* configuration, from the environment at init */
	bool strict;
	bool stats;
	int64_t spin_ns;
	char run_dir[108];
};

extern struct ls_stack ls;

/* Attach to the stack if not yet tried: the hello with sockd, the region and
 * the views. Returns true if attached, false if the process runs without the
 * stack (sockd unreachable, refused, or a bad region: logged and counted). */
bool ls_attach(void);
bool ls_is_internal_fd(int fd);
int ls_move_internal_fd(int fd);

static inline struct app_sock *ls_app_sock(const struct ls_sock *s)
{
	return &ls.socks[s->idx];
}

static inline uint8_t *ls_buf(const struct ls_sock *s, int tx)
{
	return ls.bufs + app_buf_off(s->idx, ls.buf_size, tx);
}

/* ------------------------------------------------------------ cmd.c */

/* Post cmd and wait for its completion (into *cpl, may be NULL). Returns
 * the completion's result (0, a count or -errno), -ETIMEDOUT if netd did not
 * answer within LS_CMD_TIMEOUT_NS, -ENOBUFS if the rings stay full, -EIO if
 * a ring is corrupt. Not interrupted by signals (netd answers at once). */
#define LS_CMD_TIMEOUT_NS (5ll * 1000000000)
int ls_cmd_call(struct app_cmd *cmd, struct app_cpl *cpl);

/* Post a command that has no completion (APP_OP_TX, APP_OP_RX_DONE) or whose
 * completion nobody waits for (APP_OP_CLOSE: *seq gets its seq). 0 or -errno. */
int ls_cmd_post(struct app_cmd *cmd, uint32_t *seq);

/* Consume every completion in app.cpl: hand each to its waiter, finish
 * asynchronous closes. Cheap when the ring is empty (one load). */
void ls_cpl_drain(void);

/* A command for socket s, filled for the common fields. */
static inline struct app_cmd ls_cmd(uint16_t op, const struct ls_sock *s)
{
	return (struct app_cmd){ .op = op, .sock = s ? s->idx : 0 };
}

/* ------------------------------------------------------------ wait.c */

struct ls_waiter {
	uint32_t token;
	struct ls_waiter *next;
};

/* The longest one sleep lasts before the condition is re-checked: a lost
 * wake-up (a peer that scribbled on the doorbell) costs this much latency,
 * never a hang (wait.c). */
#define LS_SLEEP_SLICE_NS 1000000000ll

int64_t ls_now_ns(void);
int64_t ls_deadline(int64_t timeout_ns);   /* now + timeout, or -1 for none (<= 0) */

/* Announce a sleep on the wake doorbell and register w (before re-checking
 * the condition), then, after the caller's own wait, withdraw it. fired: the
 * wake eventfd was seen readable (it is then drained here, and re-armed if
 * another thread's announcement would otherwise lose that wake-up). */
void ls_sleep_prepare(struct ls_waiter *w);
bool ls_sleep_rung(const struct ls_waiter *w);
void ls_sleep_finish(struct ls_waiter *w, bool fired);

typedef bool (*ls_cond_fn)(void *arg);

/* What a signal handler that runs while a call sleeps does to the call, as
 * signal(7) ("Interruption of system calls and library functions by signal
 * handlers") says the kernel's socket calls behave. */
enum ls_intr {
	LS_INTR_NEVER = 0,    /* nothing: command round trips (netd answers at once) */
	LS_INTR_EINTR,        /* the call ends with EINTR (or the bytes it moved) */
	LS_INTR_RESTART,      /* EINTR, unless the handler has SA_RESTART: then the call
	                       * goes on, as the kernel restarts it */
};

/* The rule for a blocking socket call (Linux's sock_intr_errno): restarted
 * only if the socket has no timeout for it (SO_RCVTIMEO for recv and accept,
 * SO_SNDTIMEO for send and connect), and a stream call that already moved
 * bytes returns their count instead (tcp_sendmsg, tcp_recvmsg). poll,
 * select and epoll_wait are never restarted: they do not come here. */
static inline enum ls_intr ls_intr_for(int64_t timeo_ns, size_t moved)
{
	return timeo_ns || moved ? LS_INTR_EINTR : LS_INTR_RESTART;
}

/* Block until cond(arg) is true, the absolute deadline (ls_now_ns() clock;
 * negative: none) passes, or a signal handler runs and intr says that ends
 * the call. Returns 0, -ETIMEDOUT or -EINTR. Completions are drained on
 * every turn. A restarted wait keeps its absolute deadline, so whatever time
 * was left is what is left. */
int ls_block(ls_cond_fn cond, void *arg, int64_t deadline_ns, enum ls_intr intr);

/* ------------------------------------------------------------ fallback.c */

/* Counters: fallbacks (with a reason, logged once, subject to strict mode)
 * and other named events worth knowing about. */
enum ls_counter {
	LS_FB_NO_STACK = 0,   /* sockd unreachable or refused: no stack in this process */
	LS_FB_AF_UNIX,        /* local IPC: never subject to strict */
	LS_FB_AF_OTHER,       /* netlink, packet, ...: never subject to strict */
	LS_FB_AF_INET6,       /* the stack is IPv4 only */
	LS_FB_INET_TYPE,      /* AF_INET raw, ICMP, SCTP, SEQPACKET... */
	LS_FB_LOOPBACK_BIND,  /* bind to 127.0.0.0/8 */
	LS_FB_LOOPBACK_DEST,  /* connect/sendto to 127.0.0.0/8 or 0.0.0.0 */
	LS_FB_UNREACH_DEST,   /* netd answered -ENETUNREACH */
	LS_FB_NO_FREE_SOCK,   /* every stack socket index in use (quota) */
	LS_FB__COUNT,         /* the fallbacks end here */
	LS_C_STALE_FD = LS_FB__COUNT, /* a stack socket used in a forked child */
	LS_C_IOCTL_KERNEL,    /* an interface ioctl served by a kernel socket */
	LS_C_CLOSE_INTERNAL,  /* the app closed one of libsock's own fds: refused */
	LS_C_CMD_TIMEOUT,     /* netd did not answer a command in time */
	LS_C_CPL_UNMATCHED,   /* a completion nobody waited for (a timed-out waiter) */
	LS_C_RING_CORRUPT,    /* a byte ring's indices were impossible */
	LS_C_CMSG_IGNORED,    /* sendmsg control data on a stack socket */
	LS_C_INHERITED,       /* a listener a forked child took over (inherit.c) */
	LS_C_INHERIT_FAILED,  /* netd refused a FORK or an INHERIT: stale in the child */
	LS_C__COUNT
};

void ls_count(enum ls_counter c);

/* Record a fallback: count it, log it once per reason on stderr ("ringstack:
 * fallback to kernel: <reason>"). Returns true if strict mode forbids it:
 * the caller then fails the call instead. */
bool ls_fallback(enum ls_counter reason);

/* Give fd (a stack socket, unbound and unconnected, named by fd alone) to the
 * kernel: a kernel socket of the same type replaces the placeholder at the
 * same number, with the options the app set replayed; the stack socket is
 * closed. Returns 0 or -errno (-EBUSY if other fds name the socket). */
int ls_handoff(int fd, struct ls_sock *s);

/* Destinations netd said it cannot reach (a small cache; later connects to
 * them go to the kernel without asking). */
bool ls_unreach_known(uint32_t addr);
void ls_unreach_learn(uint32_t addr);

/* ------------------------------------------------------------ readiness */

/* Poll bits for a stack socket, from app_sock.events and the byte rings
 * (shm/app_layout.h's rules). */
unsigned ls_sock_revents(struct ls_sock *s);

/* Promote the phase from netd's events (a connect that completed). */
void ls_sock_sync(struct ls_sock *s);

/* Take the pending error (SO_ERROR, cleared via APP_OP_GETSOCKOPT): a
 * positive errno, or 0. */
int ls_sock_error(struct ls_sock *s);

/* ------------------------------------------------------------ data (stream.c, dgram.c) */

/* The call's view of a destination/source address (host order). */
struct ls_addr {
	uint32_t addr;
	uint16_t port;
	bool set;
};

ssize_t ls_stream_send(struct ls_sock *s, struct ls_iov *c, int flags);
ssize_t ls_stream_recv(struct ls_sock *s, struct ls_iov *c, int flags);
ssize_t ls_stream_sendfile(struct ls_sock *s, int in_fd, off_t *off, size_t count);
ssize_t ls_dgram_send(struct ls_sock *s, struct ls_iov *c, int flags, const struct ls_addr *to);
ssize_t ls_dgram_recv(struct ls_sock *s, struct ls_iov *c, int flags,
		      struct ls_addr *from, int *msg_flags);
size_t ls_rx_pending(struct ls_sock *s);   /* FIONREAD: stream bytes, or the next datagram */
size_t ls_tx_pending(struct ls_sock *s);   /* SIOCOUTQ */
size_t ls_dgram_next_len(struct ls_sock *s);

/* The byte rings' index protocol with netd (docs/LIBSOCK.md, "notifications"):
 * publish tx bytes, posting APP_OP_TX if netd may have gone idle; consume rx
 * bytes, posting APP_OP_RX_DONE if netd may be waiting for room. */
void ls_tx_publish(struct ls_sock *s, uint32_t old_prod, uint32_t new_prod);
void ls_rx_consume(struct ls_sock *s, uint32_t old_cons, uint32_t new_cons);

/* sock.c: bind to 0.0.0.0:0 if not bound yet (before listen, or a first UDP
 * send), as the kernel does implicitly. 0 or -errno. */
int ls_sock_autobind(struct ls_sock *s);

/* The error for a call on a stack socket inherited over fork. */
static inline long ls_stale(void)
{
	ls_count(LS_C_STALE_FD);
	return -EOPNOTSUPP;
}

/* ------------------------------------------------------------ helpers shared by wrappers */

/* Set errno from a negative result (practice 6), and keep the caller's errno
 * on success: internal steps (draining an eventfd, say) must not leak theirs. */
static inline long ls_ret(long r, int saved_errno)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	errno = saved_errno;
	return r;
}

int ls_sockaddr_in(const struct sockaddr *sa, socklen_t len, struct ls_addr *out);
void ls_sockaddr_out(struct sockaddr *sa, socklen_t *len, uint32_t addr, uint16_t port);
bool ls_addr_loopback(uint32_t addr);

/* epoll.c: forget the epoll set state kept for fd (closed or reused). */
void ls_epoll_forget(int fd);
void ls_epoll_reset_child(void);

/* sockopt.c: the shared part of options for a socket just allocated. */
void ls_sockopt_defaults(struct ls_sock *s);

/* The FORTIFY_SOURCE entry points (glibc declares them only under fortify,
 * which libsock's files turn off to define the plain names). */
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
		       struct sockaddr *addr, socklen_t *addrlen);
int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t nfds, const struct timespec *ts,
		const sigset_t *ss, size_t fdslen);
void __chk_fail(void) __attribute__((noreturn));

#endif /* RINGSTACK_LIBSOCK_INTERNAL_H */
