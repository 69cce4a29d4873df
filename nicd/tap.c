/* nicd/tap.c — the TAP backend: /dev/net/tun driven by io_uring, zero copy.
 *
 * Where it sits: the wire end of nicd. The kernel's side of the TAP device is
 * the "wire": what the kernel transmits on the TAP we read, what we write the
 * kernel receives.
 *
 * Receive: each queue keeps a window of reads in flight, each into the data
 * buffer of a pkb it allocated (after PKB_HEADROOM), so a frame lands in the
 * pool where netd reads it: the kernel's one copy out of its skb, none in
 * user space. Plain READs by default: with --fixed the pool's slot memory is
 * registered with io_uring once and reads are READ_FIXED, which measured
 * slower here (the TAP copies with the CPU, so there is no pinning to save,
 * and the registered buffer's bvec iterator costs more than a user pointer);
 * docs/NICD.md has the numbers and the reasoning about provided-buffer rings.
 * A completed read becomes a frame for rx.c, and its window entry gets a
 * fresh pkb and a new read at once.
 *
 * Transmit: frames taken off a tx ring are written one request each
 * (WRITEV of the chain's segments — one frame per call, as the TAP wants —
 * or WRITE_FIXED for one segment with --fixed),
 * within a window of writes in flight per queue; a completion frees the pkb.
 * A full window leaves the rest in the tx ring: back-pressure onto netd.
 *
 * Every slot in a read or write is recorded in nic.own before the request
 * and cleared before the slot leaves nicd (region.c: restart reclaim).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <net/if_arp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nicd/nicd.h"

#define RX_RETRY_EMPTY_NS  (1000000ull)      /* pool empty: try again in 1 ms */
#define RX_RETRY_ERR_NS    (100000000ull)    /* read error: try again in 100 ms */

/* Open one queue of TAP `name` (created if it does not exist). */
static int tap_open_queue(char *name, bool multi)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	int err;

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (multi ? IFF_MULTI_QUEUE : 0);
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	snprintf(name, IFNAMSIZ, "%s", ifr.ifr_name);
	return fd;
}

/* Bring the interface up and read its MAC and MTU into the control block. */
static int tap_configure(struct nicd *nd, const char *name)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int err = 0;

	if (s < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0 ||
	    (ifr.ifr_flags |= IFF_UP, ioctl(s, SIOCSIFFLAGS, &ifr) < 0) ||
	    ioctl(s, SIOCGIFHWADDR, &ifr) < 0)
		err = -errno;
	if (err == 0)
		memcpy(nd->ctl->mac, ifr.ifr_hwaddr.sa_data, 6);
	if (err == 0 && ioctl(s, SIOCGIFMTU, &ifr) == 0)
		nd->ctl->mtu = (uint32_t)ifr.ifr_mtu;
	close(s);
	return err;
}

int nicd_tap_open(struct nicd *nd)
{
	char name[IFNAMSIZ];
	bool multi = nd->cfg.queues > 1;
	int err;

	snprintf(name, sizeof(name), "%s", nd->cfg.ifname);
	for (unsigned q = 0; q < nd->cfg.queues; q++) {
		nd->q[q].fd = tap_open_queue(name, multi);
		if (nd->q[q].fd < 0) {
			nicd_log(NICD_ERR, "TAP %s queue %u: %s", name, q, strerror(-nd->q[q].fd));
			return nd->q[q].fd;
		}
	}
	if (nd->cfg.persist && ioctl(nd->q[0].fd, TUNSETPERSIST, 1) < 0)
		nicd_log(NICD_WARN, "TAP %s: TUNSETPERSIST: %s", name, strerror(errno));
	if ((err = tap_configure(nd, name)) < 0) {
		nicd_log(NICD_ERR, "TAP %s: bring up: %s", name, strerror(-err));
		return err;
	}
	snprintf(nd->ctl->ifname, sizeof(nd->ctl->ifname), "%s", name);
	if (nd->ctl->mtu + 18 > nd->pool.buf_size - PKB_HEADROOM)
		nicd_log(NICD_WARN, "TAP %s: MTU %u exceeds a pkb (%u bytes): longer frames dropped",
			 name, nd->ctl->mtu, nd->pool.buf_size - PKB_HEADROOM);
	nicd_log(NICD_INFO, "TAP %s: %u queue%s%s", name, nd->cfg.queues,
		 multi ? "s" : "", nd->cfg.persist ? ", persistent" : "");
	return 0;
}

/* ------------------------------------------------------------- receive */

/* Why at most one read waits. A read posted on an empty TAP queue parks on
 * the queue's wait queue (io_uring's async poll), and tun wakes every parked
 * reader for each frame. With the whole window parked, each frame woke 64
 * reads and 63 found nothing; a read that wakes for nothing 128 times
 * (io_uring's APOLL_MAX_RETRY) is handed to an io-wq worker thread that
 * blocks in tun's read, so after a few hundred frames nicd had ~60 iou-wrk
 * threads, each woken by every frame, and a frame reached nicd through one of
 * them: an extra sleeping hop on two busy cores (docs/NICD.md, "Receive
 * reads"). So each queue has at most one waiting read, posted only when no
 * other read is out; every other read is RWF_NOWAIT: it takes a frame already
 * queued or completes at once with -EAGAIN, and never parks. Frames earn
 * credit for NOWAIT reads (one per frame the waiter took, two per frame a
 * NOWAIT read took: the burst doubles while the queue keeps giving); -EAGAIN
 * means the queue is drained, and once no NOWAIT read is out the waiter is
 * posted again. */

/* Post window entry i's read into its pkb's tailroom, waiting or NOWAIT. The
 * file is the registered file q (IOSQE_FIXED_FILE); with --fixed the buffer
 * lies in registered buffer 0 (the whole pool). */
static void rx_submit(struct nicd *nd, unsigned q, unsigned i, bool nowait)
{
	struct nicd_queue *nq = &nd->q[q];
	struct pkb *b = nq->rx_pkb[i];
	struct io_uring_sqe *sqe = nicd_sqe(nd);

	if (!sqe)
		return;
	if (nd->cfg.fixed_bufs)
		io_uring_prep_read_fixed(sqe, (int)q, pkb_data(b), pkb_tailroom(b), 0, 0);
	else
		io_uring_prep_read(sqe, (int)q, pkb_data(b), pkb_tailroom(b), 0);
	sqe->flags |= IOSQE_FIXED_FILE;
	sqe->rw_flags = nowait && !nd->rx_nowait_off ? RWF_NOWAIT : 0;
	io_uring_sqe_set_data64(sqe, nicd_ud(NICD_UD_RX, q, i));
	nq->rx_posted[i] = true;
	if (nowait)
		nq->rx_nowait++;
	else
		nq->rx_waiter = i;
}

/* Give window entry i a pkb (if it has none) and post its read. Returns 0,
 * or -ENOBUFS (counted) when the pool is empty. */
static int rx_post(struct nicd *nd, unsigned q, unsigned i, bool nowait)
{
	struct nicd_queue *nq = &nd->q[q];
	struct pkb *b = nq->rx_pkb[i];

	if (!b) {
		b = pkb_alloc(&nd->cache);
		if (!b) {
			COUNTER_INC(nd->ctr, NICD_RX_POOL_EMPTY);
			nq->rx_retry_ns = nd->now_ns + RX_RETRY_EMPTY_NS;
			return -ENOBUFS;
		}
		nq->own->rx[i] = pkb_index(b);   /* recorded before the kernel may write it */
		nq->rx_pkb[i] = b;
	}
	rx_submit(nd, q, i, nowait);
	return 0;
}

/* A read that brought no frame: -EAGAIN from a NOWAIT read is the queue
 * drained, not an error; anything else holds the queue's reads back a while.
 * A kernel whose tun refuses RWF_NOWAIT (-EOPNOTSUPP) gets plain reads from
 * then on: they park, and the herd described above comes back, but nothing
 * stalls. */
static void rx_failed(struct nicd *nd, struct nicd_queue *nq, bool waiter, int res)
{
	if (res == -EOPNOTSUPP && !waiter && !nd->rx_nowait_off) {
		nicd_log(NICD_WARN, "TAP refuses RWF_NOWAIT reads: every read may wait");
		nd->rx_nowait_off = true;
		return;
	}
	if (nd->stop || res == -ECANCELED || (res == -EAGAIN && !waiter))
		return;
	if (res == -EAGAIN || res == -EINTR) {
		nq->rx_retry_ns = nd->now_ns;    /* the waiter again, at the next pass */
		return;
	}
	COUNTER_INC(nd->ctr, NICD_RX_READ_ERR);
	nq->rx_credit = 0;
	nq->rx_retry_ns = nd->now_ns + RX_RETRY_ERR_NS;
}

void nicd_tap_rx_done(struct nicd *nd, unsigned q, unsigned i, int res)
{
	struct nicd_queue *nq = &nd->q[q];
	struct pkb *b = nq->rx_pkb[i];
	bool waiter = nq->rx_waiter == i;

	nq->rx_posted[i] = false;
	if (waiter)
		nq->rx_waiter = NICD_RX_NONE;
	else
		nq->rx_nowait--;
	if (res < 0 || nd->stop) {
		rx_failed(nd, nq, waiter, res);
		return;
	}
	nq->rx_credit += waiter ? 1 : 2;
	if (res < 14 || (uint32_t)res >= pkb_tailroom(b)) {
		/* too short for Ethernet, or filled the buffer: maybe truncated;
		 * the entry keeps its pkb for the next read */
		COUNTER_INC(nd->ctr, res < 14 ? NICD_RX_SHORT : NICD_RX_TOO_BIG);
		return;
	}
	/* cleared before rx.c's ring publish (a release store) hands b to netd */
	nq->own->rx[i] = PKB_NONE;
	nq->rx_pkb[i] = NULL;
	__pkb_put(b, (uint32_t)res);
	nicd_rx_deliver(nd, b);
}

/* Queue q's reads for this pass: the NOWAIT reads its frames earned, then,
 * if no read is out at all, the one waiting read. */
static void rx_refill_queue(struct nicd *nd, unsigned q)
{
	struct nicd_queue *nq = &nd->q[q];
	unsigned n = nq->rx_credit;

	if (n == 0 && (nq->rx_nowait > 0 || nq->rx_waiter != NICD_RX_NONE))
		return;                              /* the common case: nothing to do */
	if (nd->now_ns < nq->rx_retry_ns)
		return;
	nq->rx_credit = 0;
	for (unsigned i = 0; i < nd->cfg.rx_window && n > 0; i++) {
		if (nq->rx_posted[i])
			continue;
		if (rx_post(nd, q, i, true) < 0)
			return;
		n--;
	}
	if (nq->rx_nowait > 0 || nq->rx_waiter != NICD_RX_NONE)
		return;
	for (unsigned i = 0; i < nd->cfg.rx_window; i++)
		if (!nq->rx_posted[i]) {
			rx_post(nd, q, i, false);
			return;
		}
}

void nicd_tap_refill(struct nicd *nd)
{
	for (unsigned q = 0; q < nd->cfg.queues; q++)
		rx_refill_queue(nd, q);
}

uint64_t nicd_tap_rx_retry_ns(const struct nicd *nd)
{
	uint64_t at = UINT64_MAX;

	for (unsigned q = 0; q < nd->cfg.queues; q++) {
		const struct nicd_queue *nq = &nd->q[q];

		if (nq->rx_nowait == 0 && nq->rx_waiter == NICD_RX_NONE && nq->rx_retry_ns < at)
			at = nq->rx_retry_ns;
	}
	return at;
}

int nicd_tap_start(struct nicd *nd)
{
	struct iovec iov = { nd->pool.slots, (size_t)nd->pool.nslots * nd->pool.slot_size };
	int fds[NIC_QUEUES_MAX];
	int err;

	for (unsigned q = 0; q < nd->cfg.queues; q++)
		fds[q] = nd->q[q].fd;
	err = io_uring_register_files(&nd->uring, fds, nd->cfg.queues);
	if (err < 0)
		return err;
	if (nd->cfg.fixed_bufs && (err = io_uring_register_buffers(&nd->uring, &iov, 1)) < 0) {
		/* e.g. a run directory on a disk file system, or RLIMIT_MEMLOCK */
		nicd_log(NICD_WARN, "registering the pool with io_uring: %s; plain reads and writes",
			 strerror(-err));
		nd->cfg.fixed_bufs = false;
	}
	for (unsigned q = 0; q < nd->cfg.queues; q++) {
		struct nicd_queue *nq = &nd->q[q];

		nq->rx_waiter = NICD_RX_NONE;
		nq->txs = calloc(nd->cfg.tx_window, sizeof(*nq->txs));
		if (!nq->txs)
			return -ENOMEM;
		for (unsigned i = 0; i < nd->cfg.tx_window; i++)
			nq->tx_free[i] = nd->cfg.tx_window - 1 - i;
		nq->tx_nfree = nd->cfg.tx_window;
	}
	nicd_tap_refill(nd);
	return 0;
}

/* ------------------------------------------------------------ transmit */

/* Fill the iovecs of a chain; returns the segment count, or 0 when the chain
 * is broken (an index outside the pool, or lengths that do not add up). */
static unsigned tx_iov(const struct nicd *nd, struct pkb *b, struct iovec *iov)
{
	const struct pkb *seg = b;
	uint32_t total = 0;
	unsigned k = 0;

	while (k < b->nb_segs) {
		iov[k].iov_base = pkb_data(seg);
		iov[k].iov_len = pkb_len(seg);
		total += pkb_len(seg);
		k++;
		if (seg->next == PKB_NONE || seg->next >= nd->pool.nslots)
			break;
		seg = pkb_next(seg);
	}
	return k == b->nb_segs && total == b->pkt_len ? k : 0;
}

/* Submit the write of b from window entry t of queue q. */
static void tx_submit(struct nicd *nd, unsigned q, unsigned t, struct pkb *b)
{
	struct nicd_txslot *ts = &nd->q[q].txs[t];
	struct io_uring_sqe *sqe = nicd_sqe(nd);
	unsigned nseg = tx_iov(nd, b, ts->iov);

	ts->b = b;
	if (!sqe || nseg == 0) {
		/* a broken chain is netd's bug: complete it here as a bad length */
		nicd_tap_tx_done(nd, q, t, nseg == 0 ? -EINVAL : -EIO);
		return;
	}
	if (nseg == 1 && nd->cfg.fixed_bufs)
		io_uring_prep_write_fixed(sqe, (int)q, ts->iov[0].iov_base,
					  (unsigned)ts->iov[0].iov_len, 0, 0);
	else
		io_uring_prep_writev(sqe, (int)q, ts->iov, nseg, 0);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, nicd_ud(NICD_UD_TX, q, t));
}

unsigned nicd_tap_tx(struct nicd *nd, unsigned q)
{
	struct nicd_queue *nq = &nd->q[q];
	struct pkb *b[NICD_BURST];
	unsigned n;

	if (nq->tx_nfree == 0)
		return 0;
	n = nicd_tx_take(nd, q, b, nq->tx_nfree);
	for (unsigned i = 0; i < n; i++) {
		unsigned t = nq->tx_free[--nq->tx_nfree];

		nq->own->tx[t] = pkb_index(b[i]);
		tx_submit(nd, q, t, b[i]);
	}
	return n;
}

void nicd_tap_tx_done(struct nicd *nd, unsigned q, unsigned t, int res)
{
	struct nicd_queue *nq = &nd->q[q];
	struct pkb *b = nq->txs[t].b;

	if (res == -EINVAL)
		COUNTER_INC(nd->ctr, NICD_TX_BAD_LEN);
	else if (res < 0)
		COUNTER_INC(nd->ctr, NICD_TX_WRITE_ERR);
	else if ((uint32_t)res < b->pkt_len)
		COUNTER_INC(nd->ctr, NICD_TX_SHORT_WRITE);
	else {
		COUNTER_INC(nd->ctr, NICD_TX_FRAMES);
		COUNTER_ADD(nd->ctr, NICD_TX_BYTES, (uint64_t)res);
	}
	/* cleared before the free: a crash in between leaks b, never frees it twice */
	nq->own->tx[t] = PKB_NONE;
	nq->txs[t].b = NULL;
	pkb_free(&nd->cache, b);
	nq->tx_free[nq->tx_nfree++] = t;
}

unsigned nicd_tap_inflight_tx(const struct nicd *nd)
{
	unsigned n = 0;

	for (unsigned q = 0; q < nd->cfg.queues; q++)
		n += nd->cfg.tx_window - nd->q[q].tx_nfree;
	return n;
}

void nicd_tap_close(struct nicd *nd)
{
	for (unsigned q = 0; q < NIC_QUEUES_MAX; q++) {
		if (nd->q[q].fd >= 0)
			close(nd->q[q].fd);
		nd->q[q].fd = -1;
		free(nd->q[q].txs);
		nd->q[q].txs = NULL;
	}
}
