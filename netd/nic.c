/* netd/nic.c — the link to nicd: hello, the pool region, nicd's death and
 * its return.
 *
 * Where it sits: before the data path and beside it. The control thread
 * connects to RUN_DIR/nicd.sock, sends the hello and gets the pool region
 * and nicd's tx eventfd (shm/nic_layout.h). It describes what the engines
 * need in a struct netd_link and publishes it; when nicd dies (EOF on the
 * socket, or its heartbeat in nic_ctl stalls) it publishes NULL, and when a
 * nicd answers again, a new link.
 *
 * Publishing (control thread -> engines). The control thread writes the
 * link, stores the pointer nd->link, then bumps nd->link_seq with a release
 * store. An engine whose acquire load of link_seq sees a new value loads the
 * pointer, adopts the link (engine.c: ring views, doorbell, perhaps a new
 * pool) and stores the sequence in its seq_ack with a release store. The
 * control thread waits (bounded) until every running engine's acquire load
 * of seq_ack shows the new value before it closes the old eventfd or unmaps
 * an old pool: after that no engine uses them. Changes are serialised by the
 * control thread, one at a time.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "netd/netd.h"

#define ACK_WAIT_NS     2000000000ull     /* engines adopt a link within this */
#define HELLO_TIMEOUT_S 1                 /* a nicd that accepts but never answers */

/* ------------------------------------------------------------ the hello */

/* Receive the welcome and its descriptors. Returns 0 or -errno. */
static int recv_welcome(int sock, struct nic_welcome *w, int fds[NIC_WELCOME_NFDS])
{
	union { char buf[CMSG_SPACE(sizeof(int) * NIC_WELCOME_NFDS)]; struct cmsghdr a; } u;
	struct iovec iov = { w, sizeof(*w) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;
	ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);

	if (n < 0)
		return errno == EAGAIN ? -ETIMEDOUT : -errno;
	c = CMSG_FIRSTHDR(&m);
	if (c && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int) * NIC_WELCOME_NFDS))
		memcpy(fds, CMSG_DATA(c), sizeof(int) * NIC_WELCOME_NFDS);
	else if (c && c->cmsg_type == SCM_RIGHTS)
		return -EPROTO;          /* (descriptors of a wrong count leak: a broken nicd) */
	if (n != (ssize_t)sizeof(*w) || w->magic != NIC_WELCOME_MAGIC)
		return -EPROTO;
	if (w->status != 0)
		return w->status < 0 ? w->status : -EPROTO;
	return fds[0] >= 0 && fds[1] >= 0 ? 0 : -EPROTO;
}

/* Connect to RUN_DIR/nicd.sock and say hello. Returns the socket (fds
 * filled) or -errno: -EAGAIN when nobody listens there (yet). */
static int hello(const struct netd *nd, struct nic_welcome *w, int fds[NIC_WELCOME_NFDS])
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct nic_hello h = { .magic = NIC_HELLO_MAGIC, .version = NIC_HELLO_VERSION,
			       .role = NIC_ROLE_NETD, .layout_version = NIC_LAYOUT_VERSION,
			       .pid = (uint32_t)getpid(), .name = "netd" };
	struct timeval tv = { .tv_sec = HELLO_TIMEOUT_S };
	int s, err;

	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", nd->cfg.run_dir,
			     NIC_SOCK_FILE) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = errno == ENOENT || errno == ECONNREFUSED ? -EAGAIN : -errno;
		close(s);
		return err;
	}
	fds[0] = fds[1] = -1;
	err = send(s, &h, sizeof(h), MSG_NOSIGNAL) == sizeof(h) ? recv_welcome(s, w, fds) : -errno;
	if (err < 0) {
		for (unsigned i = 0; i < NIC_WELCOME_NFDS; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		close(s);
		return err;
	}
	return s;
}

/* --------------------------------------------------------- the pool region */

static void *area(const struct region *r, const char *fmt, unsigned q, size_t *len)
{
	char name[REGION_AREA_NAME];

	snprintf(name, sizeof(name), fmt, q);
	return region_find(r, name, len);
}

/* Map the region behind fd into pm and check what netd relies on. Takes
 * fd in every case. Returns 0 or -errno. */
static int pool_map(struct netd_pool *pm, int fd)
{
	struct stat st;
	size_t len;
	void *mem;
	int err;

	if (fstat(fd, &st) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	err = region_attach_fd(&pm->region, fd, REGION_KIND_POOL, NIC_LAYOUT_VERSION);
	if (err < 0)
		return err;
	pm->dev = st.st_dev;
	pm->ino = st.st_ino;
	pm->ctl = region_find(&pm->region, NIC_AREA_CTL, &len);
	if (!pm->ctl || len < sizeof(*pm->ctl) || pm->ctl->magic != NIC_CTL_MAGIC ||
	    pm->ctl->version != NIC_LAYOUT_VERSION || pm->ctl->nqueues == 0 ||
	    pm->ctl->nqueues > NIC_QUEUES_MAX)
		err = -EPROTO;
	mem = region_find(&pm->region, NIC_AREA_POOL, &len);
	if (err == 0 && (!mem || pkb_pool_attach(&pm->pool, mem, len) < 0))
		err = -EPROTO;
	if (err < 0)
		region_close(&pm->region);
	return err;
}

/* Whether fd is the file pm maps (a nicd that re-attached the same pool). */
static bool pool_same(const struct netd_pool *pm, int fd)
{
	struct stat st;

	return pm->region.base && fstat(fd, &st) == 0 && st.st_dev == pm->dev &&
	       st.st_ino == pm->ino;
}

/* Fill link's per-queue areas from pm. Returns 0 or -EPROTO. */
static int link_areas(struct netd_link *l, const struct netd_pool *pm)
{
	const struct region *r = &pm->region;
	size_t len;

	l->nqueues = pm->ctl->nqueues;
	l->ring_size = pm->ctl->ring_size;
	l->txdb = region_find(r, NIC_AREA_TXDB, &len);
	if (!l->txdb || len < DOORBELL_SIZE || doorbell_validate(l->txdb) < 0)
		return -EPROTO;
	for (unsigned q = 0; q < l->nqueues; q++) {
		l->rx[q] = area(r, NIC_AREA_RX_FMT, q, &l->rx_len[q]);
		l->tx[q] = area(r, NIC_AREA_TX_FMT, q, &l->tx_len[q]);
		l->rxdb[q] = area(r, NIC_AREA_RXDB_FMT, q, &len);
		if (!l->rx[q] || !l->tx[q] || !l->rxdb[q] || len < DOORBELL_SIZE ||
		    doorbell_validate(l->rxdb[q]) < 0 ||
		    ring_validate(l->rx[q], l->rx_len[q], l->ring_size, NIC_DESC_SIZE) < 0 ||
		    ring_validate(l->tx[q], l->tx_len[q], l->ring_size, NIC_DESC_SIZE) < 0)
			return -EPROTO;
	}
	return 0;
}

/* ------------------------------------------------------------- publishing */

/* Wake every engine where it may sleep: on its own doorbell with no link,
 * or on the rx doorbell of l, the link it adopted last (a ring with no
 * sleeper costs no syscall). */
static void kick(struct netd *nd, const struct netd_link *l)
{
	for (unsigned i = 0; i < nd->nengines; i++) {
		struct netd_engine *e = &nd->eng[i];

		doorbell_ring(&e->local_db);
		if (l && e->q < l->nqueues)
			doorbell_ring(l->rxdb[e->q]);
	}
}

void netd_engines_kick(struct netd *nd)
{
	kick(nd, atomic_load_explicit(&nd->link, memory_order_relaxed));
}

static bool engines_acked(struct netd *nd, uint32_t seq)
{
	for (unsigned i = 0; i < nd->nengines; i++)
		/* Acquire: pairs with the engine's release store of seq_ack in
		 * engine_adopt(); its last use of the old link happened before. */
		if (nd->eng[i].started &&
		    atomic_load_explicit(&nd->eng[i].seq_ack, memory_order_acquire) != seq)
			return false;
	return true;
}

/* Make l (NULL: no nicd) the engines' link and wait until each running
 * engine has let go of the old one. Returns 0, or -ETIMEDOUT if one did
 * not answer (the caller must then leave the old link's resources alone). */
static int link_publish(struct netd *nd, struct netd_link *l)
{
	const struct netd_link *old = atomic_load_explicit(&nd->link, memory_order_relaxed);
	uint32_t seq = atomic_load_explicit(&nd->link_seq, memory_order_relaxed) + 1;
	uint64_t deadline = netd_now_ns() + ACK_WAIT_NS;
	struct timespec ms = { .tv_nsec = 1000000 };

	atomic_store_explicit(&nd->link, l, memory_order_relaxed);
	/* Release: pairs with the engines' acquire load of link_seq in
	 * engine_adopt(); the link's contents and pointer are visible first.
	 * The kick's doorbell_ring comes after it: an engine's re-check before
	 * sleeping either sees the new seq or is woken (shm/doorbell.h). */
	atomic_store_explicit(&nd->link_seq, seq, memory_order_release);
	kick(nd, old);                   /* they sleep on the old link's doorbells */
	for (unsigned n = 1; !engines_acked(nd, seq); n++) {
		if (netd_now_ns() > deadline)
			return -ETIMEDOUT;
		if (n % 100 == 0)
			kick(nd, old);   /* belt and braces: a wake-up is never lost */
		nanosleep(&ms, NULL);
	}
	return 0;
}

/* Withdraw the old link after a new one (or none) is in place. */
static void link_release(struct netd_link *old, int published)
{
	if (!old || old->efd < 0)
		return;
	if (published < 0) {
		netd_log(NETD_ERR, "an engine did not let go of nicd's old link; leaking it");
		return;
	}
	close(old->efd);
	old->efd = -1;
}

/* ---------------------------------------------------------------- connect */

/* Choose the mapping for the region behind fd: the current one if it is the
 * same file, else a new one (and count it). Returns it, or NULL. */
static struct netd_pool *pool_for(struct netd *nd, int fd, int *err)
{
	struct netd_pool *pm;

	if (nd->pm && pool_same(nd->pm, fd)) {
		close(fd);
		return nd->pm;
	}
	pm = nd->pm == &nd->pools[0] ? &nd->pools[1] : &nd->pools[0];
	if ((*err = pool_map(pm, fd)) < 0)
		return NULL;
	pm->serial = ++nd->pool_serial;
	if (nd->pm) {
		COUNTER_INC(&nd->info->ctr, NETD_CTL_NIC_NEW_POOL);
		netd_log(NETD_WARN, "nicd came back with a new pool region: the stacks start "
			 "again on it (TCP state kept)");
	}
	return pm;
}

/* Build and publish the link for a fresh hello. Returns 0 or -errno. */
static int link_make(struct netd *nd, const struct nic_welcome *w, int fds[NIC_WELCOME_NFDS])
{
	struct netd_link *cur = atomic_load_explicit(&nd->link, memory_order_relaxed);
	struct netd_link *l = cur == &nd->links[0] ? &nd->links[1] : &nd->links[0];
	struct netd_pool *old = nd->pm, *pm;
	int err = 0;

	if (!(pm = pool_for(nd, fds[0], &err))) {
		close(fds[1]);
		return err;
	}
	*l = (struct netd_link){ .pm = pm, .efd = fds[1], .generation = w->generation };
	if ((err = link_areas(l, pm)) < 0) {
		close(fds[1]);
		if (pm != old)
			region_close(&pm->region);
		return err;
	}
	err = link_publish(nd, l);
	link_release(cur, err);
	nd->pm = pm;
	if (old && old != pm && err == 0)
		region_close(&old->region);     /* no engine holds its pkbs any more */
	return 0;
}

int netd_nic_connect(struct netd *nd)
{
	struct nic_welcome w;
	int fds[NIC_WELCOME_NFDS] = { -1, -1 };
	int s = hello(nd, &w, fds), err;

	if (s < 0)
		return s;
	if ((err = link_make(nd, &w, fds)) < 0) {
		close(s);
		return err;
	}
	nd->sock = s;
	nd->linked_ns = netd_now_ns();
	nd->nic_down_logged = false;
	if (nd->info) {
		COUNTER_INC(&nd->info->ctr, NETD_CTL_NIC_ATTACHES);
		atomic_store_explicit(&nd->info->nic_generation, w.generation, memory_order_relaxed);
		atomic_store_explicit(&nd->info->nic_up, 1, memory_order_relaxed);
	}
	netd_log(NETD_INFO, "linked to nicd (pid %u, generation %u): %u queue(s), %u-slot rings, %s",
		 nd->pm->ctl->nicd_pid, w.generation, w.nqueues, w.ring_size, nd->pm->ctl->ifname);
	return 0;
}

/* ------------------------------------------------------------- nicd lost */

void netd_nic_lost(struct netd *nd, enum netd_ctl_counter why)
{
	struct netd_link *cur = atomic_load_explicit(&nd->link, memory_order_relaxed);

	if (nd->sock < 0)
		return;
	link_release(cur, link_publish(nd, NULL));
	close(nd->sock);
	nd->sock = -1;
	COUNTER_INC(&nd->info->ctr, why);
	atomic_store_explicit(&nd->info->nic_up, 0, memory_order_relaxed);
	netd_log(NETD_WARN, "nicd lost (%s); waiting for it to come back",
		 why == NETD_CTL_NIC_LOST_EOF ? "its socket closed" : "its heartbeat stalled");
}

/* EOF (or an error) on the hello socket: nicd is gone. */
static bool sock_closed(int s)
{
	char junk[64];
	ssize_t n = recv(s, junk, sizeof(junk), MSG_DONTWAIT);

	return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
}

void netd_nic_check(struct netd *nd, bool sock_readable)
{
	uint64_t now = netd_now_ns(), beat, since;

	if (nd->sock < 0)
		return;
	if (sock_readable && sock_closed(nd->sock)) {
		netd_nic_lost(nd, NETD_CTL_NIC_LOST_EOF);
		return;
	}
	/* A heartbeat older than the link is the dead nicd's, not this one's. */
	beat = atomic_load_explicit(&nd->pm->ctl->heartbeat_ns, memory_order_relaxed);
	since = beat > nd->linked_ns ? beat : nd->linked_ns;
	if (now > since && now - since > (uint64_t)nd->cfg.nic_timeout_ms * 1000000u)
		netd_nic_lost(nd, NETD_CTL_NIC_LOST_STALL);
}

void netd_nic_close(struct netd *nd)
{
	struct netd_link *cur = atomic_load_explicit(&nd->link, memory_order_relaxed);

	if (cur && cur->efd >= 0)
		close(cur->efd);
	if (nd->sock >= 0)
		close(nd->sock);
	nd->sock = -1;
	for (unsigned i = 0; i < 2; i++)
		region_close(&nd->pools[i].region);
	nd->pm = NULL;
}
