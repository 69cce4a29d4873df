/* libsock/sockopt.c — setsockopt and getsockopt on stack sockets, with
 * Linux's semantics for the options programs use.
 *
 * Each option is one row of a table saying where it lives:
 *     LOCAL    libsock's alone (timeouts, bind flags, buffer sizes: the byte
 *              rings have a fixed size, so SO_RCVBUF/SO_SNDBUF are recorded
 *              and reported, doubled as Linux does, with no other effect)
 *     FWD      also sent to netd with APP_OP_SETSOCKOPT (TCP's and IP's)
 *     IGNORED  accepted and reported back, with no effect (docs/LIBSOCK.md
 *              lists them: they tune what this stack does not do)
 *     READONLY getsockopt only (SO_ERROR, SO_TYPE, ..., TCP_INFO)
 * Anything not in the table is ENOPROTOOPT, as Linux answers for an option
 * a protocol does not know; but getsockopt at level IPPROTO_TCP on a UDP
 * socket is EOPNOTSUPP, as Linux's ip_getsockopt answers for a level it does
 * not serve (setsockopt there is ENOPROTOOPT, as Linux's). Values the app set are kept (fdtab.c records
 * them, for getsockopt and for a handoff to the kernel); getsockopt of an
 * option never set reports the table's default, which is Linux's, except
 * TCP_MAXSEG on a connected socket, which netd is asked for, and TCP_INFO,
 * which netd answers each time (a value too big for a completion: it comes
 * back in the socket's app_sock.optval, shm/app_layout.h).
 *
 * Forwarded values travel in app_cmd.val: ints as they are, SO_LINGER as
 * l_linger or -1 when off, TCP_CONGESTION as its name's first 8 bytes
 * (little-endian, NUL-padded; longer names are ENOENT).
 */
#include "libsock/libsock_internal.h"

#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/time.h>

enum opt_kind { OK_INT, OK_TIMEO, OK_LINGER, OK_NAME, OK_OPTVAL };
enum opt_how { OH_LOCAL, OH_FWD, OH_IGNORED, OH_READONLY };

#define DEF_BUF  (-1)   /* the default is the byte ring's size */

struct opt_desc {
	int level, name;
	uint8_t kind, how;
	bool stream_only;
	int32_t def;
};

static const struct opt_desc opt_table[] = {
	{ SOL_SOCKET, SO_REUSEADDR, OK_INT, OH_LOCAL, false, 0 },
	{ SOL_SOCKET, SO_REUSEPORT, OK_INT, OH_LOCAL, false, 0 },
	{ SOL_SOCKET, SO_RCVBUF, OK_INT, OH_LOCAL, false, DEF_BUF },
	{ SOL_SOCKET, SO_SNDBUF, OK_INT, OH_LOCAL, false, DEF_BUF },
	{ SOL_SOCKET, SO_RCVTIMEO_OLD, OK_TIMEO, OH_LOCAL, false, 0 },
	{ SOL_SOCKET, SO_SNDTIMEO_OLD, OK_TIMEO, OH_LOCAL, false, 0 },
	{ SOL_SOCKET, SO_RCVTIMEO_NEW, OK_TIMEO, OH_LOCAL, false, 0 },
	{ SOL_SOCKET, SO_SNDTIMEO_NEW, OK_TIMEO, OH_LOCAL, false, 0 },
	{ SOL_SOCKET, SO_KEEPALIVE, OK_INT, OH_FWD, false, 0 },
	{ SOL_SOCKET, SO_BROADCAST, OK_INT, OH_FWD, false, 0 },
	{ SOL_SOCKET, SO_LINGER, OK_LINGER, OH_FWD, false, -1 },
	{ SOL_SOCKET, SO_RCVLOWAT, OK_INT, OH_IGNORED, false, 1 },
	{ SOL_SOCKET, SO_PRIORITY, OK_INT, OH_IGNORED, false, 0 },
	{ SOL_SOCKET, SO_OOBINLINE, OK_INT, OH_IGNORED, false, 0 },
	{ SOL_SOCKET, SO_ERROR, OK_INT, OH_READONLY, false, 0 },
	{ SOL_SOCKET, SO_TYPE, OK_INT, OH_READONLY, false, 0 },
	{ SOL_SOCKET, SO_DOMAIN, OK_INT, OH_READONLY, false, 0 },
	{ SOL_SOCKET, SO_PROTOCOL, OK_INT, OH_READONLY, false, 0 },
	{ SOL_SOCKET, SO_ACCEPTCONN, OK_INT, OH_READONLY, false, 0 },
	{ IPPROTO_TCP, TCP_NODELAY, OK_INT, OH_FWD, true, 0 },
	{ IPPROTO_TCP, TCP_CORK, OK_INT, OH_FWD, true, 0 },
	{ IPPROTO_TCP, TCP_KEEPIDLE, OK_INT, OH_FWD, true, 7200 },
	{ IPPROTO_TCP, TCP_KEEPINTVL, OK_INT, OH_FWD, true, 75 },
	{ IPPROTO_TCP, TCP_KEEPCNT, OK_INT, OH_FWD, true, 9 },
	{ IPPROTO_TCP, TCP_USER_TIMEOUT, OK_INT, OH_FWD, true, 0 },
	{ IPPROTO_TCP, TCP_MAXSEG, OK_INT, OH_FWD, true, 536 },
	{ IPPROTO_TCP, TCP_CONGESTION, OK_NAME, OH_FWD, true, 0 },
	{ IPPROTO_TCP, TCP_INFO, OK_OPTVAL, OH_READONLY, true, 0 },
	{ IPPROTO_TCP, TCP_QUICKACK, OK_INT, OH_IGNORED, true, 1 },
	{ IPPROTO_TCP, TCP_DEFER_ACCEPT, OK_INT, OH_IGNORED, true, 0 },
	{ IPPROTO_TCP, TCP_FASTOPEN, OK_INT, OH_IGNORED, true, 0 },
	{ IPPROTO_TCP, TCP_NOTSENT_LOWAT, OK_INT, OH_IGNORED, true, 0 },
	{ IPPROTO_TCP, TCP_SYNCNT, OK_INT, OH_IGNORED, true, 6 },
	{ IPPROTO_TCP, TCP_LINGER2, OK_INT, OH_IGNORED, true, 60 },
	{ IPPROTO_TCP, TCP_WINDOW_CLAMP, OK_INT, OH_IGNORED, true, 0 },
	{ IPPROTO_IP, IP_TOS, OK_INT, OH_FWD, false, 0 },
	{ IPPROTO_IP, IP_TTL, OK_INT, OH_FWD, false, 64 },
	{ IPPROTO_IP, IP_RECVERR, OK_INT, OH_IGNORED, false, 0 },
	{ IPPROTO_IP, IP_MTU_DISCOVER, OK_INT, OH_IGNORED, false, IP_PMTUDISC_WANT },
	{ IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, OK_INT, OH_IGNORED, false, 0 },
	{ IPPROTO_IP, IP_FREEBIND, OK_INT, OH_IGNORED, false, 0 },
};

#define OPT_COUNT (sizeof(opt_table) / sizeof(opt_table[0]))
#define CONG_DEFAULT "cubic"

static const struct opt_desc *opt_find(const struct ls_sock *s, int level, int name)
{
	for (size_t i = 0; i < OPT_COUNT; i++) {
		const struct opt_desc *d = &opt_table[i];

		if (d->level == level && d->name == name)
			return d->stream_only && s->type != SOCK_STREAM ? NULL : d;
	}
	return NULL;
}

void ls_sockopt_defaults(struct ls_sock *s)
{
	s->rcvtimeo_ns = 0;
	s->sndtimeo_ns = 0;
	s->bind_flags = 0;
}

/* ------------------------------------------------------------ values */

/* An option value as the app passes it -> one int64 (see the file comment). */
static int opt_decode(const struct opt_desc *d, const void *val, socklen_t len, int64_t *v)
{
	struct timeval tv;
	struct linger l;
	int x;

	if (!val)
		return -EFAULT;
	switch (d->kind) {
	case OK_INT:
		if (len < sizeof(int))
			return -EINVAL;
		memcpy(&x, val, sizeof(x));
		*v = x;
		return 0;
	case OK_TIMEO:
		if (len < sizeof(tv))
			return -EINVAL;
		memcpy(&tv, val, sizeof(tv));
		if (tv.tv_usec < 0 || tv.tv_usec >= 1000000)
			return -EDOM;
		/* Linux: 0 is no timeout; a negative one returns at once. */
		*v = tv.tv_sec < 0 ? 1 : (int64_t)tv.tv_sec * 1000000000 + tv.tv_usec * 1000;
		return 0;
	case OK_LINGER:
		if (len < sizeof(l))
			return -EINVAL;
		memcpy(&l, val, sizeof(l));
		*v = l.l_onoff ? (l.l_linger > 0 ? l.l_linger : 0) : -1;
		return 0;
	default:
		*v = 0;
		if (len == 0 || strnlen(val, len) > sizeof(*v))
			return len == 0 ? -EINVAL : -ENOENT;
		memcpy(v, val, strnlen(val, len));
		return 0;
	}
}

/* One int64 -> the app's buffer, truncated to *len as Linux does. */
static int opt_encode(const struct opt_desc *d, int64_t v, void *val, socklen_t *len)
{
	union { int i; struct timeval tv; struct linger l; char name[16]; } u;
	socklen_t n = sizeof(u.i);

	memset(&u, 0, sizeof(u));
	if (d->kind == OK_INT) {
		u.i = (int)v;
	} else if (d->kind == OK_TIMEO) {
		u.tv = (struct timeval){ .tv_sec = v / 1000000000, .tv_usec = v % 1000000000 / 1000 };
		n = sizeof(u.tv);
	} else if (d->kind == OK_LINGER) {
		u.l = (struct linger){ .l_onoff = v >= 0, .l_linger = v >= 0 ? (int)v : 0 };
		n = sizeof(u.l);
	} else {
		if (v)
			memcpy(u.name, &v, sizeof(v));
		else
			memcpy(u.name, CONG_DEFAULT, sizeof(CONG_DEFAULT));
		n = sizeof(u.name);
	}
	if ((int)*len < 0)
		return -EINVAL;
	memcpy(val, &u, *len < n ? *len : n);
	*len = *len < n ? *len : n;
	return 0;
}

/* ------------------------------------------------------------ setsockopt */

static void opt_apply_local(struct ls_sock *s, const struct opt_desc *d, int64_t v)
{
	uint32_t flag = d->name == SO_REUSEADDR ? APP_SO_REUSEADDR : APP_SO_REUSEPORT;

	if (d->level != SOL_SOCKET)
		return;
	if (d->name == SO_RCVTIMEO_OLD || d->name == SO_RCVTIMEO_NEW)
		s->rcvtimeo_ns = v;
	else if (d->name == SO_SNDTIMEO_OLD || d->name == SO_SNDTIMEO_NEW)
		s->sndtimeo_ns = v;
	else if (d->name == SO_REUSEADDR || d->name == SO_REUSEPORT)
		s->bind_flags = v ? (s->bind_flags | flag) : (s->bind_flags & ~flag);
}

static int stack_setsockopt(struct ls_sock *s, int level, int name, const void *val, socklen_t len)
{
	const struct opt_desc *d = opt_find(s, level, name);
	struct app_cmd c = ls_cmd(APP_OP_SETSOCKOPT, s);
	int64_t v = 0;
	int r;

	if (!d || d->how == OH_READONLY)
		return -ENOPROTOOPT;
	r = opt_decode(d, val, len, &v);
	if (r == 0 && d->how == OH_FWD) {
		c.arg0 = level;
		c.arg1 = name;
		c.val = v;
		r = ls_cmd_call(&c, NULL);
	}
	if (r < 0)
		return r;
	opt_apply_local(s, d, v);
	ls_sock_record_opt(s, level, name, val, len);
	return 0;
}

LS_EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	struct ls_sock *s = NULL;
	enum ls_fd_kind k = ls_fd_lookup(fd, &s);
	int saved = errno;

	if (ls_likely(k == LS_FD_NONE))
		return REAL(setsockopt)(fd, level, name, val, len);
	return (int)ls_ret(k == LS_FD_STALE ? ls_stale()
			   : stack_setsockopt(s, level, name, val, len), saved);
}

/* ------------------------------------------------------------ getsockopt */

static int64_t opt_readonly(struct ls_sock *s, int name)
{
	switch (name) {
	case SO_ERROR:
		return ls_sock_error(s);
	case SO_TYPE:
		return s->type;
	case SO_DOMAIN:
		return AF_INET;
	case SO_PROTOCOL:
		return s->protocol;
	default:    /* SO_ACCEPTCONN */
		return atomic_load(&s->phase) == LS_PH_LISTENING;
	}
}

/* The value the app set, if it set one. */
static bool opt_recorded(struct ls_sock *s, const struct opt_desc *d, int64_t *v)
{
	struct ls_opt o = { 0 };
	bool found = false;

	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < s->nopts && !found; i++)
		if (s->opts[i].level == d->level && s->opts[i].name == d->name) {
			o = s->opts[i];
			found = true;
		}
	pthread_mutex_unlock(&s->lock);
	return found && opt_decode(d, o.val, o.len, v) == 0;
}

static int64_t opt_default(struct ls_sock *s, const struct opt_desc *d)
{
	struct app_cmd c = ls_cmd(APP_OP_GETSOCKOPT, s);
	struct app_cpl cpl = { 0 };

	if (d->def == DEF_BUF)
		return ls.buf_size;
	if (d->level == IPPROTO_TCP && d->name == TCP_MAXSEG &&
	    atomic_load(&s->phase) == LS_PH_CONNECTED) {
		c.arg0 = d->level;
		c.arg1 = d->name;
		if (ls_cmd_call(&c, &cpl) == 0 && cpl.val > 0)
			return cpl.val;
	}
	return d->def;
}

/* An option netd answers in app_sock.optval (TCP_INFO): copy what the
 * caller has room for and report that length, as Linux does (min(optlen,
 * the value's size); a negative optlen is EINVAL). The lock keeps a second
 * such getsockopt on s from having netd overwrite the slot while this one
 * copies it; the completion's acquire (cmd.c) makes netd's bytes visible. */
static int opt_get_optval(struct ls_sock *s, const struct opt_desc *d, void *val,
			  socklen_t *len)
{
	struct app_cmd c = ls_cmd(APP_OP_GETSOCKOPT, s);
	struct app_cpl cpl = { 0 };
	size_t n;
	int r;

	if ((int)*len < 0)
		return -EINVAL;
	c.arg0 = d->level;
	c.arg1 = d->name;
	pthread_mutex_lock(&s->optval_lock);
	r = ls_cmd_call(&c, &cpl);
	if (r == 0) {
		n = cpl.val < 0 ? 0 : cpl.val > APP_OPTVAL_MAX ? APP_OPTVAL_MAX : (size_t)cpl.val;
		n = *len < n ? *len : n;
		memcpy(val, ls_app_sock(s)->optval, n);
		*len = (socklen_t)n;
	}
	pthread_mutex_unlock(&s->optval_lock);
	return r;
}

static int stack_getsockopt(struct ls_sock *s, int level, int name, void *val, socklen_t *len)
{
	const struct opt_desc *d = opt_find(s, level, name);
	int64_t v;

	if (!val || !len)
		return -EFAULT;
	if (level == IPPROTO_TCP && s->type != SOCK_STREAM)
		return -EOPNOTSUPP;
	if (!d)
		return -ENOPROTOOPT;
	if (d->kind == OK_OPTVAL)
		return opt_get_optval(s, d, val, len);
	if (d->how == OH_READONLY)
		v = opt_readonly(s, name);
	else if (!opt_recorded(s, d, &v))
		v = opt_default(s, d);
	else if (level == SOL_SOCKET && (name == SO_RCVBUF || name == SO_SNDBUF))
		v = v * 2 < 2048 ? 2048 : v * 2;   /* Linux doubles (and floors) what was set */
	return opt_encode(d, v, val, len);
}

LS_EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	struct ls_sock *s = NULL;
	enum ls_fd_kind k = ls_fd_lookup(fd, &s);
	int saved = errno;

	if (ls_likely(k == LS_FD_NONE))
		return REAL(getsockopt)(fd, level, name, val, len);
	return (int)ls_ret(k == LS_FD_STALE ? ls_stale()
			   : stack_getsockopt(s, level, name, val, len), saved);
}
