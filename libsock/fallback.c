/* libsock/fallback.c — what goes to the kernel instead of the stack, never
 * silently.
 *
 * A fallback is a socket or a call the stack does not carry and the kernel
 * does: AF_UNIX and other families, IPv6, raw sockets, destinations the stack
 * cannot reach (127.0.0.0/8, or whatever netd answers -ENETUNREACH for), and
 * the whole process when sockd cannot be reached. Each is counted under its
 * reason and logged once per reason on stderr:
 *
 *     ringstack: fallback to kernel: <reason>
 *
 * RINGSTACK_STRICT=1 (ringstack-run --strict) turns the fallbacks that concern
 * IP traffic into errors: socket() fails with EAFNOSUPPORT, connect()/sendto()
 * with ENETUNREACH, bind() with EADDRNOTAVAIL. Local families (AF_UNIX,
 * netlink, ...) are counted and logged but always allowed: programs use them
 * for IPC and name resolution, and strict mode is about where the network
 * traffic goes. RINGSTACK_STATS=1 prints every non-zero counter at exit.
 *
 * The handoff: a stack socket that turns out to need the kernel (a connect to
 * an unreachable address) is replaced, at the same descriptor number, by a
 * kernel socket with the app's options replayed. Only while nothing can have
 * been observed: unbound by the app, unconnected, and named by one fd.
 */
#include "libsock/libsock_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

struct counter_info {
	const char *name;
	const char *why;      /* the log line's reason (fallbacks only) */
	bool strict;          /* strict mode refuses this fallback */
};

static const struct counter_info counter_info[LS_C__COUNT] = {
	[LS_FB_NO_STACK] = { "fallback.no_stack", "sockd not reachable: no stack in this process", true },
	[LS_FB_AF_UNIX] = { "fallback.af_unix", "AF_UNIX socket (local IPC)", false },
	[LS_FB_AF_OTHER] = { "fallback.af_other", "address family other than AF_INET (netlink, packet, ...)", false },
	[LS_FB_AF_INET6] = { "fallback.af_inet6", "AF_INET6 socket (the stack is IPv4 only)", true },
	[LS_FB_INET_TYPE] = { "fallback.inet_type", "AF_INET type or protocol the stack does not carry (raw, ICMP, ...)", true },
	[LS_FB_LOOPBACK_BIND] = { "fallback.loopback_bind", "bind to 127.0.0.0/8", true },
	[LS_FB_LOOPBACK_DEST] = { "fallback.loopback_dest", "destination in 127.0.0.0/8 or 0.0.0.0", true },
	[LS_FB_UNREACH_DEST] = { "fallback.unreach_dest", "destination the stack cannot reach (ENETUNREACH)", true },
	[LS_FB_NO_FREE_SOCK] = { "fallback.no_free_sock", "every stack socket of this app is in use", true },
	[LS_C_STALE_FD] = { "stale_fd", NULL, false },
	[LS_C_IOCTL_KERNEL] = { "ioctl_kernel", NULL, false },
	[LS_C_CLOSE_INTERNAL] = { "close_internal", NULL, false },
	[LS_C_CMD_TIMEOUT] = { "cmd_timeout", NULL, false },
	[LS_C_CPL_UNMATCHED] = { "cpl_unmatched", NULL, false },
	[LS_C_RING_CORRUPT] = { "ring_corrupt", NULL, false },
	[LS_C_CMSG_IGNORED] = { "cmsg_ignored", NULL, false },
	[LS_C_INHERITED] = { "inherited", NULL, false },
	[LS_C_INHERIT_FAILED] = { "inherit_failed", NULL, false },
};

static _Atomic uint64_t counters[LS_C__COUNT];
static _Atomic bool logged[LS_FB__COUNT];

void ls_count(enum ls_counter c)
{
	atomic_fetch_add_explicit(&counters[c], 1, memory_order_relaxed);
}

/* stderr through the real write(): no stdio lock, no recursion into us. */
static void log_line(const char *a, const char *b)
{
	char msg[200];
	int n = snprintf(msg, sizeof(msg), "ringstack: %s%s\n", a, b);

	if (n > 0)
		(void)!REAL(write)(2, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
}

bool ls_fallback(enum ls_counter reason)
{
	const struct counter_info *ci = &counter_info[reason];
	bool refuse = ls.strict && ci->strict;

	ls_count(reason);
	if (!atomic_exchange_explicit(&logged[reason], true, memory_order_relaxed))
		log_line(refuse ? "strict: refused fallback to kernel: " : "fallback to kernel: ",
			 ci->why);
	return refuse;
}

/* ------------------------------------------------------------ the handoff */

static void replay_options(int kfd, struct ls_sock *s)
{
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < s->nopts; i++)
		REAL(setsockopt)(kfd, s->opts[i].level, s->opts[i].name, s->opts[i].val,
				 s->opts[i].len);
	pthread_mutex_unlock(&s->lock);
}

int ls_handoff(int fd, struct ls_sock *s)
{
	int fdflags = REAL(fcntl)(fd, F_GETFD);
	int kfd, err;

	if (atomic_load(&s->refs) != 1 || s->user_bound)
		return -EBUSY;
	kfd = REAL(socket)(AF_INET, s->type | (atomic_load(&s->nonblock) ? SOCK_NONBLOCK : 0),
			   s->protocol);
	if (kfd < 0)
		return -errno;
	replay_options(kfd, s);
	/* dup3 replaces the placeholder atomically: the number never frees. */
	if (REAL(dup3)(kfd, fd, fdflags > 0 && (fdflags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
		err = -errno;
		REAL(close)(kfd);
		return err;
	}
	REAL(close)(kfd);
	ls_fd_forget(fd);
	ls_sock_unref(s);
	return 0;
}

/* ------------------------------------------------------------ unreachable destinations */

#define LS_UNREACH_CACHE 64u

static _Atomic uint32_t unreach[LS_UNREACH_CACHE];   /* addr + 1; 0: empty */
static _Atomic unsigned unreach_next;

bool ls_unreach_known(uint32_t addr)
{
	for (unsigned i = 0; i < LS_UNREACH_CACHE; i++)
		if (atomic_load_explicit(&unreach[i], memory_order_relaxed) == addr + 1)
			return true;
	return false;
}

void ls_unreach_learn(uint32_t addr)
{
	unsigned i = atomic_fetch_add_explicit(&unreach_next, 1, memory_order_relaxed);

	if (!ls_unreach_known(addr))
		atomic_store_explicit(&unreach[i % LS_UNREACH_CACHE], addr + 1, memory_order_relaxed);
}

/* ------------------------------------------------------------ the stats line */

static bool counters_any(void)
{
	for (int c = 0; c < LS_C__COUNT; c++)
		if (atomic_load_explicit(&counters[c], memory_order_relaxed))
			return true;
	return false;
}

/* At exit, with RINGSTACK_STATS=1, for a process that used the network at
 * all (a shell script's every helper process would otherwise print one). */
__attribute__((destructor)) static void ls_stats_dump(void)
{
	bool attached = atomic_load(&ls.state) == LS_ATTACHED;
	char line[1024], comm[17] = "";
	size_t off;
	int n;

	if (!ls.stats || (!attached && !counters_any()))
		return;
	prctl(PR_GET_NAME, comm);
	n = snprintf(line, sizeof(line), "ringstack: stats pid=%d comm=%s attached=%d",
		     (int)getpid(), comm, attached);
	off = n > 0 ? (size_t)n : 0;
	for (int c = 0; c < LS_C__COUNT && off < sizeof(line); c++) {
		uint64_t v = atomic_load(&counters[c]);

		if (!v)
			continue;
		n = snprintf(line + off, sizeof(line) - off, " %s=%llu", counter_info[c].name,
			     (unsigned long long)v);
		off += n > 0 ? (size_t)n : 0;
	}
	if (off >= sizeof(line) - 1)
		off = sizeof(line) - 2;
	line[off++] = '\n';
	(void)!REAL(write)(2, line, off);
}
