/* libsock/fdtab.c — which descriptors are stack sockets, and the sockets'
 * life cycle (allocation, dup refcounts, asynchronous close).
 *
 * Every stack socket has a real kernel descriptor in the app, a placeholder
 * eventfd, so that descriptor numbers never collide with the app's files and
 * the kernel's fd rules (lowest free number, CLOEXEC, dup) apply unchanged.
 * The table maps a descriptor to its socket: an array indexed by fd, read
 * without locks on every wrapped call. An entry holds the attachment
 * generation and the socket index:
 *
 *     entry = gen << 32 | (idx + 1)        0: not a stack socket
 *
 * A forked child moves the generation on, so the sockets it inherited (the
 * parent's) are recognisably stale without touching the table.
 *
 * Socket indices (0 .. nsocks-1, the index in app.socks) are libsock's to
 * hand out (shm/app_layout.h). An index is free again only once netd has
 * completed its APP_OP_CLOSE: close() posts the command and returns; whoever
 * drains completions next puts the index back (cmd.c).
 */
#include "libsock/libsock_internal.h"

#include <stdlib.h>
#include <string.h>

static struct ls_fdmap fd_socks;

/* ------------------------------------------------------------ the map */

static _Atomic uintptr_t *fdmap_slot(struct ls_fdmap *m, int fd, bool create)
{
	_Atomic uintptr_t *c, *fresh = NULL;
	unsigned ci;

	if (fd < 0 || (unsigned)fd >= LS_FD_CHUNK * LS_FD_CHUNKS)
		return NULL;
	ci = (unsigned)fd / LS_FD_CHUNK;
	/* Acquire: pairs with the release CAS below that publishes a chunk. */
	c = atomic_load_explicit(&m->chunk[ci], memory_order_acquire);
	if (!c && create) {
		fresh = calloc(LS_FD_CHUNK, sizeof(*fresh));
		if (!fresh)
			return NULL;
		c = NULL;
		if (atomic_compare_exchange_strong_explicit(&m->chunk[ci], &c, fresh,
							    memory_order_acq_rel,
							    memory_order_acquire))
			c = fresh;
		else
			free(fresh);   /* another thread published first: use theirs */
	}
	return c ? &c[(unsigned)fd % LS_FD_CHUNK] : NULL;
}

uintptr_t ls_fdmap_get(struct ls_fdmap *m, int fd)
{
	_Atomic uintptr_t *e = fdmap_slot(m, fd, false);

	/* Acquire: pairs with the release store in ls_fdmap_set(), so the
	 * socket state written before the entry is visible after it. */
	return e ? atomic_load_explicit(e, memory_order_acquire) : 0;
}

int ls_fdmap_set(struct ls_fdmap *m, int fd, uintptr_t v)
{
	_Atomic uintptr_t *e = fdmap_slot(m, fd, true);

	if (!e)
		return fd < 0 ? -EBADF : -ENOMEM;
	atomic_store_explicit(e, v, memory_order_release);
	return 0;
}

uintptr_t ls_fdmap_take(struct ls_fdmap *m, int fd)
{
	_Atomic uintptr_t *e = fdmap_slot(m, fd, false);

	return e ? atomic_exchange_explicit(e, 0, memory_order_acq_rel) : 0;
}

/* ------------------------------------------------------------ fd -> socket */

/* One of ours, of this attachment? */
static bool entry_current(uintptr_t v)
{
	return (uint16_t)(v >> 32) == ls.gen &&
	       atomic_load_explicit(&ls.state, memory_order_acquire) == LS_ATTACHED &&
	       (uint32_t)v - 1 < ls.nsocks;
}

enum ls_fd_kind ls_fd_peek(int fd, struct ls_sock **out)
{
	uintptr_t v = ls_fdmap_get(&fd_socks, fd);

	if (ls_likely(v == 0))
		return LS_FD_NONE;
	if (!entry_current(v))
		return LS_FD_STALE;
	*out = &ls.sk[(uint32_t)v - 1];
	return LS_FD_SOCK;
}

enum ls_fd_kind ls_fd_lookup(int fd, struct ls_sock **out)
{
	uintptr_t v = ls_fdmap_get(&fd_socks, fd);

	if (ls_likely(v == 0))
		return LS_FD_NONE;
	if (ls_unlikely(!entry_current(v)))
		return ls_inherit_fd(fd, v, out);   /* a listener a forked child inherited? */
	*out = &ls.sk[(uint32_t)v - 1];
	return LS_FD_SOCK;
}

uintptr_t ls_fd_entry(int fd)
{
	return ls_fdmap_get(&fd_socks, fd);
}

int ls_fd_rebind(int fd, uintptr_t old, struct ls_sock *s)
{
	_Atomic uintptr_t *e = fdmap_slot(&fd_socks, fd, false);
	uintptr_t want = old;

	if (!e)
		return -EBADF;
	ls_sock_ref(s);
	/* Release: pairs with the acquire load in ls_fdmap_get(), as a set. */
	if (atomic_compare_exchange_strong_explicit(e, &want, (uintptr_t)ls.gen << 32 | (s->idx + 1),
						    memory_order_acq_rel, memory_order_acquire))
		return 0;
	ls_sock_unref(s);                 /* closed (or rebound) meanwhile */
	return -EBADF;
}

void ls_fd_claim_inherited(void)
{
	for (unsigned ci = 0; ci < LS_FD_CHUNKS; ci++) {
		_Atomic uintptr_t *c = atomic_load_explicit(&fd_socks.chunk[ci], memory_order_acquire);

		for (unsigned k = 0; c && k < LS_FD_CHUNK; k++) {
			uintptr_t v = atomic_load_explicit(&c[k], memory_order_acquire);
			struct ls_sock *s;

			if (v && !entry_current(v))
				ls_inherit_fd((int)(ci * LS_FD_CHUNK + k), v, &s);
		}
	}
}

uint32_t ls_fd_key(int fd)
{
	return (uint32_t)ls_fdmap_get(&fd_socks, fd);
}

int ls_fd_bind_sock(int fd, struct ls_sock *s)
{
	int err;

	ls_sock_ref(s);
	err = ls_fdmap_set(&fd_socks, fd, (uintptr_t)ls.gen << 32 | (s->idx + 1));
	if (err < 0)
		ls_sock_unref(s);
	return err;
}

void ls_fd_forget(int fd)
{
	ls_fdmap_take(&fd_socks, fd);
}

void ls_fd_copy(int oldfd, int newfd)
{
	struct ls_sock *s = NULL;
	enum ls_fd_kind k = ls_fd_lookup(oldfd, &s);

	if (k == LS_FD_SOCK) {
		ls_fd_bind_sock(newfd, s);
	} else if (k == LS_FD_STALE) {
		ls_fdmap_set(&fd_socks, newfd, ls_fdmap_get(&fd_socks, oldfd));
	}
}

/* ------------------------------------------------------------ sockets */

/* Zero what netd and libsock share for a fresh index. The index is free, so
 * netd has finished with it (its CLOSE completed) and nobody else writes
 * these words until APP_OP_SOCKET/ACCEPT hands it over again. */
static void sock_reset_shared(struct ls_sock *s, int type)
{
	struct app_sock *as = ls_app_sock(s);

	atomic_store_explicit(&as->events, 0, memory_order_relaxed);
	atomic_store_explicit(&as->error, 0, memory_order_relaxed);
	atomic_store_explicit(&as->rx.prod, 0, memory_order_relaxed);
	atomic_store_explicit(&as->rx.cons, 0, memory_order_relaxed);
	atomic_store_explicit(&as->tx.prod, 0, memory_order_relaxed);
	atomic_store_explicit(&as->tx.cons, 0, memory_order_relaxed);
	as->type = (uint32_t)type;
	as->state = APP_SOCK_OPEN;
}

static void sock_reset_private(struct ls_sock *s, int type, int protocol)
{
	s->sgen++;
	atomic_store(&s->refs, 0);
	s->type = type;
	s->protocol = protocol;
	atomic_store(&s->phase, LS_PH_NEW);
	atomic_store(&s->nonblock, 0);
	atomic_store(&s->shut, 0);
	atomic_store(&s->closing, false);
	s->user_bound = s->local_known = s->peer_known = false;
	memset(&s->local, 0, sizeof(s->local));
	memset(&s->peer, 0, sizeof(s->peer));
	s->nopts = 0;
	ls_sockopt_defaults(s);
}

static bool free_index_available(void *arg)
{
	(void)arg;
	return __atomic_load_n(&ls.nfree, __ATOMIC_ACQUIRE) > 0;
}

static struct ls_sock *sock_take_index(void)
{
	struct ls_sock *s = NULL;

	pthread_mutex_lock(&ls.alloc_lock);
	if (ls.nfree > 0)
		s = &ls.sk[ls.free_idx[--ls.nfree]];
	pthread_mutex_unlock(&ls.alloc_lock);
	return s;
}

/* A socket index for a new socket, its shared and private state reset; NULL
 * if every index is in use. Closes still in flight free indices soon: wait
 * for them (bounded) rather than fail a program that closes and reopens. */
struct ls_sock *ls_sock_alloc(int type, int protocol)
{
	struct ls_sock *s = sock_take_index();

	if (!s) {
		ls_cpl_drain();
		if (atomic_load(&ls.closes_in_flight) > 0)
			ls_block(free_index_available, NULL, ls_deadline(LS_CMD_TIMEOUT_NS),
				 LS_INTR_NEVER);
		s = sock_take_index();
	}
	if (!s)
		return NULL;
	sock_reset_private(s, type, protocol);
	sock_reset_shared(s, type);
	return s;
}

void ls_sock_ref(struct ls_sock *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

/* Drop one descriptor's reference; the last one closes the stack socket:
 * APP_OP_CLOSE is posted and not waited for (close() never blocks, even with
 * SO_LINGER: netd carries out the linger and the graceful close). */
void ls_sock_unref(struct ls_sock *s)
{
	struct app_cmd c = ls_cmd(APP_OP_CLOSE, s);

	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	atomic_store(&s->closing, true);
	atomic_fetch_add(&ls.closes_in_flight, 1);
	ls_app_sock(s)->state = APP_SOCK_CLOSING;
	if (ls_cmd_post(&c, &s->close_seq) < 0)
		atomic_fetch_sub(&ls.closes_in_flight, 1);  /* the index is lost, not reused */
}

static void free_list_push(struct ls_sock *s)
{
	ls_app_sock(s)->state = APP_SOCK_FREE;
	pthread_mutex_lock(&ls.alloc_lock);
	if (ls.nfree < ls.nsocks)
		ls.free_idx[ls.nfree++] = s->idx;
	pthread_mutex_unlock(&ls.alloc_lock);
}

void ls_sock_release(struct ls_sock *s)
{
	if (!atomic_exchange(&s->closing, false))
		return;
	free_list_push(s);
	atomic_fetch_sub(&ls.closes_in_flight, 1);
}

void ls_sock_discard(struct ls_sock *s)
{
	free_list_push(s);
}

/* Remember an option the app set, for a handoff to the kernel (fallback.c). */
void ls_sock_record_opt(struct ls_sock *s, int level, int name, const void *v, socklen_t len)
{
	struct ls_opt *o = NULL;

	if (len > sizeof(o->val))
		return;
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < s->nopts && !o; i++)
		if (s->opts[i].level == level && s->opts[i].name == name)
			o = &s->opts[i];
	if (!o && s->nopts < LS_OPTS_MAX)
		o = &s->opts[s->nopts++];
	if (o) {
		*o = (struct ls_opt){ .level = level, .name = name, .len = len };
		memcpy(o->val, v, len);
	}
	pthread_mutex_unlock(&s->lock);
}
