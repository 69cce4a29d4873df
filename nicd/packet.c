/* nicd/packet.c — the AF_PACKET backend: an existing interface (a veth end,
 * a physical NIC) through a TPACKET_V3 memory-mapped receive ring.
 *
 * Where it sits: the wire end of nicd when it attaches to an interface it did
 * not create (--packet IFNAME). Receive: the kernel fills blocks of the
 * mapped ring with frames; nicd walks each block the kernel has retired
 * (handed to user space), copies each frame into a pkb — one copy, because
 * the ring's memory is the kernel's and cannot be a pkb — and gives the block
 * back. A block retires when it is full or after --blk-tov-ms, so at low rates
 * a frame may wait up to that long (TPACKET_V3's price for its batching).
 * Frames longer than a pkb become a chain (pkb_append).
 *
 * Transmit: frames off the tx rings go out in sendmmsg batches, straight from
 * the pkbs (the kernel copies them into its skbs); chains as iovecs.
 *
 * Readiness comes through the engine's io_uring (a POLL_ADD on the socket),
 * re-armed once the walk finds no more retired blocks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nicd/nicd.h"

#define PKT_BLOCK_SIZE  (1u << 18)   /* 256 KiB: room for a 64 KiB GSO frame */
#define PKT_BLOCK_NR    16u          /* 4 MiB of ring */
#define PKT_FRAME_SIZE  2048u        /* the V3 ring ignores it but checks it */

struct nicd_packet {
	int fd;
	int ifindex;
	uint8_t *map;
	size_t map_len;
	unsigned cur;                /* next block to look at */
	bool poll_armed;
	uint64_t next_err_log_ns;
};

static int pkt_setopt(int fd, int opt, const void *val, socklen_t len)
{
	return setsockopt(fd, SOL_PACKET, opt, val, len) < 0 ? -errno : 0;
}

/* TPACKET_V3 receive ring, mapped. */
static int pkt_ring(struct nicd *nd, struct nicd_packet *p)
{
	int v = TPACKET_V3;
	struct tpacket_req3 req = {
		.tp_block_size = PKT_BLOCK_SIZE, .tp_block_nr = PKT_BLOCK_NR,
		.tp_frame_size = PKT_FRAME_SIZE,
		.tp_frame_nr = PKT_BLOCK_SIZE / PKT_FRAME_SIZE * PKT_BLOCK_NR,
		.tp_retire_blk_tov = nd->cfg.blk_tov_ms,
	};
	int err;

	if ((err = pkt_setopt(p->fd, PACKET_VERSION, &v, sizeof(v))) < 0 ||
	    (err = pkt_setopt(p->fd, PACKET_RX_RING, &req, sizeof(req))) < 0)
		return err;
	p->map_len = (size_t)PKT_BLOCK_SIZE * PKT_BLOCK_NR;
	p->map = mmap(NULL, p->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, p->fd, 0);
	if (p->map == MAP_FAILED) {
		p->map = NULL;
		return -errno;
	}
	return 0;
}

/* Bring the interface up and read its MAC and MTU. Done before the bind:
 * a socket bound to a down interface holds ENETDOWN as a pending error,
 * which the first send would return and poll would report forever. */
static int pkt_ifup(struct nicd *nd, struct nicd_packet *p)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", nd->cfg.ifname);
	if (ioctl(p->fd, SIOCGIFFLAGS, &ifr) < 0 ||
	    (ifr.ifr_flags |= IFF_UP, ioctl(p->fd, SIOCSIFFLAGS, &ifr) < 0) ||
	    ioctl(p->fd, SIOCGIFHWADDR, &ifr) < 0)
		return -errno;
	memcpy(nd->ctl->mac, ifr.ifr_hwaddr.sa_data, 6);
	if (ioctl(p->fd, SIOCGIFMTU, &ifr) == 0)
		nd->ctl->mtu = (uint32_t)ifr.ifr_mtu;
	return 0;
}

/* Bind to the interface, see every frame on it (promiscuous while the socket
 * lives), but not our own transmissions. */
static int pkt_bind(struct nicd_packet *p)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				   .sll_ifindex = p->ifindex };
	struct packet_mreq mr = { .mr_ifindex = p->ifindex, .mr_type = PACKET_MR_PROMISC };
	int one = 1, err = 0;
	socklen_t len = sizeof(err);

	if (bind(p->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return -errno;
	if ((err = pkt_setopt(p->fd, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr))) < 0 ||
	    (err = pkt_setopt(p->fd, PACKET_IGNORE_OUTGOING, &one, sizeof(one))) < 0)
		return err;
	/* clear an error the link raised while we set up (carrier coming up) */
	getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len);
	return 0;
}

int nicd_pkt_open(struct nicd *nd)
{
	struct nicd_packet *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return -ENOMEM;
	nd->pkt = p;
	p->fd = -1;
	p->ifindex = (int)if_nametoindex(nd->cfg.ifname);
	if (p->ifindex == 0)
		return -ENODEV;
	p->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (p->fd < 0)
		return -errno;
	if ((err = pkt_ring(nd, p)) < 0 || (err = pkt_ifup(nd, p)) < 0 ||
	    (err = pkt_bind(p)) < 0) {
		nicd_log(NICD_ERR, "AF_PACKET on %s: %s", nd->cfg.ifname, strerror(-err));
		return err;
	}
	snprintf(nd->ctl->ifname, sizeof(nd->ctl->ifname), "%s", nd->cfg.ifname);
	nicd_log(NICD_INFO, "AF_PACKET on %s: TPACKET_V3, %u x %u KiB blocks, %u ms retire",
		 nd->cfg.ifname, PKT_BLOCK_NR, PKT_BLOCK_SIZE >> 10, nd->cfg.blk_tov_ms);
	return 0;
}

static void pkt_arm(struct nicd *nd)
{
	struct io_uring_sqe *sqe = nicd_sqe(nd);

	if (!sqe)
		return;
	io_uring_prep_poll_add(sqe, nd->pkt->fd, POLLIN | POLLERR);
	io_uring_sqe_set_data64(sqe, nicd_ud(NICD_UD_PKT, 0, 0));
	nd->pkt->poll_armed = true;
}

int nicd_pkt_start(struct nicd *nd)
{
	pkt_arm(nd);
	return 0;
}

void nicd_pkt_poll_done(struct nicd *nd, int res)
{
	int err = 0;
	socklen_t len = sizeof(err);

	nd->pkt->poll_armed = false;
	/* A pending socket error (a failed send reports one asynchronously)
	 * keeps POLLERR raised until read: read it, or the poll fires forever. */
	if (res > 0 && (res & POLLERR) &&
	    getsockopt(nd->pkt->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err)
		nicd_log(NICD_WARN, "AF_PACKET on %s: %s", nd->cfg.ifname, strerror(err));
}

/* Copy one frame out of the ring into a new pkb (a chain if it is longer
 * than one buffer) and deliver it; drops are counted. */
static void pkt_rx_frame(struct nicd *nd, const uint8_t *data, uint32_t len, uint32_t wire_len)
{
	struct pkb *b;

	if (len < 14 || len < wire_len) {
		COUNTER_INC(nd->ctr, len < 14 ? NICD_RX_SHORT : NICD_RX_TOO_BIG);
		return;
	}
	b = pkb_alloc(&nd->cache);
	if (!b) {
		COUNTER_INC(nd->ctr, NICD_RX_POOL_EMPTY);
		return;
	}
	if (len <= pkb_tailroom(b)) {
		memcpy(__pkb_put(b, len), data, len);
	} else if (pkb_append(&nd->cache, b, data, len) < 0) {
		COUNTER_INC(nd->ctr, NICD_RX_POOL_EMPTY);
		pkb_free(&nd->cache, b);
		return;
	}
	nicd_rx_deliver(nd, b);
}

/* Walk one retired block, then hand it back to the kernel. */
static unsigned pkt_rx_block(struct nicd *nd, struct tpacket_block_desc *bd)
{
	uint32_t n = bd->hdr.bh1.num_pkts;
	uint32_t off = bd->hdr.bh1.offset_to_first_pkt;

	for (uint32_t i = 0; i < n && off + sizeof(struct tpacket3_hdr) <= PKT_BLOCK_SIZE; i++) {
		const struct tpacket3_hdr *h = (const void *)((uint8_t *)bd + off);

		if (h->tp_mac + h->tp_snaplen <= PKT_BLOCK_SIZE - off)
			pkt_rx_frame(nd, (const uint8_t *)h + h->tp_mac, h->tp_snaplen, h->tp_len);
		if (h->tp_next_offset == 0)
			break;
		off += h->tp_next_offset;
	}
	/* Release: our reads of the block are done before the kernel (which
	 * reads block_status) may refill it. */
	__atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
	return n;
}

unsigned nicd_pkt_rx(struct nicd *nd)
{
	struct nicd_packet *p = nd->pkt;
	unsigned frames = 0;

	/* at most one lap of the ring per pass: other work gets its turn */
	for (unsigned k = 0; k < PKT_BLOCK_NR; k++) {
		struct tpacket_block_desc *bd = (void *)(p->map + (size_t)p->cur * PKT_BLOCK_SIZE);

		/* Acquire: pairs with the kernel's release of the block (its
		 * smp_wmb before setting TP_STATUS_USER): the frames are visible. */
		if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
			break;
		frames += pkt_rx_block(nd, bd);
		p->cur = (p->cur + 1) % PKT_BLOCK_NR;
	}
	if (!p->poll_armed && !nd->stop)
		pkt_arm(nd);
	return frames;
}

/* Send n frames with sendmmsg; each failed message is counted and skipped. */
static void pkt_send(struct nicd *nd, struct mmsghdr *m, struct pkb **b, unsigned n)
{
	unsigned sent = 0;

	/* each round sends or skips at least one message: bounded by n */
	while (sent < n) {
		int r = sendmmsg(nd->pkt->fd, m + sent, n - sent, 0);

		if (r <= 0) {
			if (nd->now_ns >= nd->pkt->next_err_log_ns) {
				nicd_log(NICD_WARN, "sendmmsg on %s: %s (logged once a second)",
					 nd->cfg.ifname, strerror(errno));
				nd->pkt->next_err_log_ns = nd->now_ns + 1000000000ull;
			}
			COUNTER_INC(nd->ctr, NICD_TX_WRITE_ERR);
			sent++;
			continue;
		}
		for (unsigned i = sent; i < sent + (unsigned)r; i++) {
			COUNTER_INC(nd->ctr, m[i].msg_len < b[i]->pkt_len ? NICD_TX_SHORT_WRITE
									   : NICD_TX_FRAMES);
			COUNTER_ADD(nd->ctr, NICD_TX_BYTES, m[i].msg_len);
		}
		sent += (unsigned)r;
	}
}

/* A chain's iovecs; 0 if it is broken (see tap.c's twin). */
static unsigned pkt_iov(const struct nicd *nd, struct pkb *b, struct iovec *iov)
{
	const struct pkb *seg = b;
	uint32_t total = 0;
	unsigned k = 0;

	while (k < b->nb_segs) {
		iov[k] = (struct iovec){ pkb_data(seg), pkb_len(seg) };
		total += pkb_len(seg);
		k++;
		if (seg->next == PKB_NONE || seg->next >= nd->pool.nslots)
			break;
		seg = pkb_next(seg);
	}
	return k == b->nb_segs && total == b->pkt_len ? k : 0;
}

unsigned nicd_pkt_tx(struct nicd *nd, unsigned q)
{
	struct pkb *b[NICD_BURST], *ok[NICD_BURST];
	struct iovec iov[NICD_BURST][NICD_TX_SEGS_MAX];
	struct mmsghdr m[NICD_BURST];
	unsigned n = nicd_tx_take(nd, q, b, NICD_BURST), k = 0;

	for (unsigned i = 0; i < n; i++) {
		unsigned nseg = pkt_iov(nd, b[i], iov[k]);

		if (nseg == 0) {
			COUNTER_INC(nd->ctr, NICD_TX_BAD_LEN);
			pkb_free(&nd->cache, b[i]);
			continue;
		}
		memset(&m[k], 0, sizeof(m[k]));
		m[k].msg_hdr.msg_iov = iov[k];
		m[k].msg_hdr.msg_iovlen = nseg;
		ok[k++] = b[i];
	}
	pkt_send(nd, m, ok, k);
	for (unsigned i = 0; i < k; i++)
		pkb_free(&nd->cache, ok[i]);
	return n;
}

/* The kernel's own drop count (ring full), read and reset by the getsockopt. */
void nicd_pkt_housekeeping(struct nicd *nd)
{
	struct tpacket_stats_v3 st;
	socklen_t len = sizeof(st);

	if (getsockopt(nd->pkt->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
		COUNTER_ADD(nd->ctr, NICD_RX_KERNEL_DROPS, st.tp_drops);
}

void nicd_pkt_close(struct nicd *nd)
{
	struct nicd_packet *p = nd->pkt;

	if (!p)
		return;
	if (p->map)
		munmap(p->map, p->map_len);
	if (p->fd >= 0)
		close(p->fd);
	free(p);
	nd->pkt = NULL;
}
