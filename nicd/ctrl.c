/* nicd/ctrl.c — RUN_DIR/nicd.sock: how a peer gets the region and the eventfd.
 *
 * Where it sits: off the data path, before it. A peer (netd, or a tool)
 * connects, sends a struct nic_hello, and receives a struct nic_welcome with
 * the region's fd and the tx doorbell's eventfd in SCM_RIGHTS
 * (shm/nic_layout.h has the protocol). The connection stays open: its EOF is
 * how nicd learns a peer left, and how a peer learns nicd died.
 *
 * Accepts and peer messages arrive through the engine's io_uring (ACCEPT and
 * POLL_ADD requests), so a slow or silent peer never blocks the data path:
 * nicd reads a hello only once the peer's socket is readable.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "nicd/nicd.h"

static void arm_accept(struct nicd *nd)
{
	struct io_uring_sqe *sqe = nicd_sqe(nd);

	if (!sqe)
		return;
	io_uring_prep_accept(sqe, nd->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	io_uring_sqe_set_data64(sqe, nicd_ud(NICD_UD_ACCEPT, 0, 0));
}

static void arm_conn(struct nicd *nd, unsigned i)
{
	struct io_uring_sqe *sqe = nicd_sqe(nd);

	if (!sqe)
		return;
	io_uring_prep_poll_add(sqe, nd->conns[i].fd, POLLIN | POLLRDHUP);
	io_uring_sqe_set_data64(sqe, nicd_ud(NICD_UD_CONN, 0, i));
}

int nicd_ctrl_open(struct nicd *nd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err;

	for (unsigned i = 0; i < NICD_CONNS_MAX; i++)
		nd->conns[i].fd = -1;
	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", nd->cfg.run_dir,
			     NIC_SOCK_FILE) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(sa.sun_path);     /* a dead nicd's socket; the run-dir lock says it is dead */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(sa.sun_path, 0660) < 0 || listen(fd, NICD_CONNS_MAX) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	nd->listen_fd = fd;
	arm_accept(nd);
	return 0;
}

void nicd_ctrl_accept_done(struct nicd *nd, int res)
{
	unsigned i;

	if (nd->stop) {
		if (res >= 0)
			close(res);
		return;
	}
	arm_accept(nd);
	if (res < 0) {
		nicd_log(NICD_WARN, "accept on %s: %s", NIC_SOCK_FILE, strerror(-res));
		return;
	}
	for (i = 0; i < NICD_CONNS_MAX && nd->conns[i].fd >= 0; i++)
		;
	if (i == NICD_CONNS_MAX) {
		nicd_log(NICD_WARN, "more than %u peers: refusing one", NICD_CONNS_MAX);
		close(res);
		return;
	}
	nd->conns[i] = (struct nicd_conn){ .fd = res };
	arm_conn(nd, i);
}

/* Send the welcome, with the region and eventfd when status is 0. */
static int send_welcome(struct nicd *nd, int fd, int status)
{
	struct nic_welcome w = {
		.magic = NIC_WELCOME_MAGIC, .version = NIC_HELLO_VERSION,
		.status = (int16_t)status, .layout_version = NIC_LAYOUT_VERSION,
		.generation = nd->ctl->generation, .nqueues = nd->cfg.queues,
		.ring_size = nd->cfg.ring_size, .region_size = nd->region.size,
	};
	int fds[NIC_WELCOME_NFDS] = { nd->region.fd, nd->tx_efd };
	union {
		char buf[CMSG_SPACE(sizeof(fds))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { &w, sizeof(w) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (status == 0) {
		m.msg_control = u.buf;
		m.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(fds));
		memcpy(CMSG_DATA(c), fds, sizeof(fds));
	}
	return sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)sizeof(w) ? 0 : -errno;
}

static void conn_close(struct nicd *nd, unsigned i, const char *why)
{
	struct nicd_conn *c = &nd->conns[i];

	if (c->greeted)
		nicd_log(NICD_INFO, "peer %s (pid %u) %s", c->name, c->pid, why);
	close(c->fd);
	*c = (struct nicd_conn){ .fd = -1 };
}

/* Read and answer the hello. Returns 0 (greeted, or nothing to read yet),
 * -EPROTO (a bad hello: refused, counted PEER_BAD_HELLO) or -ECONNRESET
 * (the peer went before the hello was done: it closed or reset the
 * connection, as a peer does whose own wait for the welcome timed out;
 * counted PEER_HELLO_LOST, not a bad hello). */
static int conn_hello(struct nicd *nd, struct nicd_conn *c)
{
	struct nic_hello h;
	ssize_t n = recv(c->fd, &h, sizeof(h), MSG_DONTWAIT);
	int status = 0;

	if (n < 0 && errno == EAGAIN)
		return 0;
	if (n <= 0) {
		COUNTER_INC(nd->ctr, NICD_PEER_HELLO_LOST);
		return -ECONNRESET;
	}
	if (n != (ssize_t)sizeof(h) || h.magic != NIC_HELLO_MAGIC ||
	    h.version != NIC_HELLO_VERSION || h.layout_version != NIC_LAYOUT_VERSION)
		status = -EPROTO;
	if (send_welcome(nd, c->fd, status) < 0 && status == 0) {
		COUNTER_INC(nd->ctr, NICD_PEER_HELLO_LOST);    /* gone before the welcome */
		return -ECONNRESET;
	}
	if (status < 0) {
		COUNTER_INC(nd->ctr, NICD_PEER_BAD_HELLO);
		return status;
	}
	c->greeted = true;
	c->pid = h.pid;
	memcpy(c->name, h.name, sizeof(c->name));
	c->name[sizeof(c->name) - 1] = '\0';
	COUNTER_INC(nd->ctr, NICD_PEERS);
	nicd_log(NICD_INFO, "peer %s (pid %u, role %u) attached, generation %u",
		 c->name, c->pid, h.role, nd->ctl->generation);
	return 0;
}

void nicd_ctrl_conn_ready(struct nicd *nd, unsigned i, int res)
{
	struct nicd_conn *c;
	char junk[64];

	if (i >= NICD_CONNS_MAX || nd->conns[i].fd < 0)
		return;
	c = &nd->conns[i];
	if (res < 0 || nd->stop) {
		if (res != -ECANCELED && !nd->stop)
			conn_close(nd, i, "lost");
		return;
	}
	if (!c->greeted) {
		int err = conn_hello(nd, c);

		if (err == -EPROTO)
			nicd_log(NICD_WARN, "peer refused: bad hello");
		else if (err < 0)
			nicd_log(NICD_INFO, "peer left before its hello was done");
		if (err < 0) {
			conn_close(nd, i, "refused");
			return;
		}
	} else if ((res & (POLLHUP | POLLRDHUP | POLLERR)) ||
		   recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT) == 0) {
		conn_close(nd, i, "left");
		return;
	}
	arm_conn(nd, i);
}

void nicd_ctrl_close(struct nicd *nd)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];

	for (unsigned i = 0; i < NICD_CONNS_MAX; i++)
		if (nd->conns[i].fd >= 0)
			conn_close(nd, i, "disconnected (nicd stopping)");
	if (nd->listen_fd >= 0) {
		close(nd->listen_fd);
		snprintf(path, sizeof(path), "%s/%s", nd->cfg.run_dir, NIC_SOCK_FILE);
		unlink(path);
	}
	nd->listen_fd = -1;
}
