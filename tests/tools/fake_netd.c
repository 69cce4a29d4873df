/* tests/tools/fake_netd.c — a stand-in for netd on the far side of nicd's
 * rings, for the integration tests and the receive benchmark.
 *
 * Where it sits: exactly where netd will: it connects to RUN_DIR/nicd.sock,
 * sends the hello, maps the pool region it is handed (shm/nic_layout.h) and
 * becomes the consumer of every rx ring and the producer of every tx ring.
 * It plays a host at --ip/--mac:
 *
 *   --arp-reply      answers ARP requests for --ip seen on queue 0 (nicd gives
 *                    ARP to every queue; netd must answer once); rewrites the
 *                    request in place and sends the same pkb back, or a copy
 *                    when the data is shared with another queue's clone
 *   --icmp-echo      answers ICMP echo requests to --ip, in place too
 *   --udp N          sends N UDP datagrams to --dst-ip:--dst-port (--dst-mac),
 *                    one every --gap-us; --chain makes each a two-pkb chain
 *   --sink           only counts and frees (the benchmark's consumer)
 *   --reconnect      when nicd dies, reconnects and carries on (restart test);
 *                    reports how old the new nicd's heartbeat was then
 *   --expect-arp/--expect-icmp/--expect-udp-rx N   exit 1 unless seen
 *   --expect-arp-each N   exit 1 unless every queue saw N ARP requests
 *   --print-nicd     prints nicd's counters from the region at exit
 *
 * Bounded in time: it exits after --seconds (default 10), or earlier with
 * --exit-when-done once every datagram is sent and every expectation met.
 * Sleeps on the rx doorbell when idle, as netd will. Last line on stdout:
 * "fake_netd: key=value ...", which the tests parse.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "shm/doorbell.h"
#include "shm/nic_layout.h"
#include "shm/pkb.h"
#include "shm/region.h"
#include "shm/ring.h"

#define BURST 32u

struct opts {
	const char *run_dir;
	double seconds;
	uint8_t mac[6], dst_mac[6];
	uint32_t ip, dst_ip;          /* network order */
	uint16_t dst_port;
	unsigned udp, gap_us, payload;
	bool arp_reply, icmp_echo, sink, reconnect, chain, exit_when_done, print_nicd;
	unsigned expect_arp, expect_icmp, expect_udp_rx, expect_arp_each;
};

struct stats {
	uint64_t rx, arp_req, arp_rep_sent, icmp_req, icmp_rep_sent, udp_rx, other;
	uint64_t udp_sent, tx_full, alloc_fail, reconnects, bad_desc;
	uint64_t hb_age_ms;             /* nic_ctl.heartbeat_ns's age at the last reconnect */
	uint64_t rxq[NIC_QUEUES_MAX];   /* frames per rx ring: RSS's spread */
	uint64_t arpq[NIC_QUEUES_MAX];  /* ARP requests per rx ring: all should see them */
};

struct peer {
	int sock, efd;
	struct region region;
	struct nic_ctl *ctl;
	struct pkb_pool pool;
	struct pkb_cache cache;
	unsigned nq;
	struct ring_cons rx[NIC_QUEUES_MAX];
	struct ring_prod tx[NIC_QUEUES_MAX];
	struct doorbell *rxdb[NIC_QUEUES_MAX];
	struct doorbell *txdb;
	struct nic_stats *nstats;
	uint32_t generation;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------ attaching */

static int hello(int sock, struct nic_welcome *w, int *fds)
{
	struct nic_hello h = { .magic = NIC_HELLO_MAGIC, .version = NIC_HELLO_VERSION,
			       .role = NIC_ROLE_NETD, .layout_version = NIC_LAYOUT_VERSION,
			       .pid = (uint32_t)getpid(), .name = "fake_netd" };
	union { char buf[CMSG_SPACE(sizeof(int) * NIC_WELCOME_NFDS)]; struct cmsghdr a; } u;
	struct iovec iov = { w, sizeof(*w) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;

	if (send(sock, &h, sizeof(h), MSG_NOSIGNAL) != sizeof(h))
		return -errno;
	if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != sizeof(*w))
		return -EPROTO;
	if (w->magic != NIC_WELCOME_MAGIC || w->status != 0)
		return w->status ? w->status : -EPROTO;
	c = CMSG_FIRSTHDR(&m);
	if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int) * NIC_WELCOME_NFDS))
		return -EPROTO;
	memcpy(fds, CMSG_DATA(c), sizeof(int) * NIC_WELCOME_NFDS);
	return 0;
}

/* Connect to nicd.sock, retrying until deadline (nicd may be starting). */
static int connect_nicd(const char *run_dir, uint64_t deadline)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", run_dir, NIC_SOCK_FILE);
	do {
		int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

		if (s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return s;
		if (s >= 0)
			close(s);
		usleep(20000);
	} while (now_ns() < deadline);
	return -ETIMEDOUT;
}

static void *area(struct peer *p, const char *fmt, unsigned q, size_t *len)
{
	char name[REGION_AREA_NAME];

	snprintf(name, sizeof(name), fmt, q);
	return region_find(&p->region, name, len);
}

/* Map the region and make the consumer/producer views, as netd will. */
static int attach(struct peer *p, int region_fd)
{
	size_t len;
	void *mem;
	int err = region_attach_fd(&p->region, region_fd, REGION_KIND_POOL, NIC_LAYOUT_VERSION);

	if (err < 0)
		return err;
	p->ctl = area(p, NIC_AREA_CTL, 0, &len);
	mem = area(p, NIC_AREA_POOL, 0, &len);
	if (!p->ctl || !mem || pkb_pool_attach(&p->pool, mem, len) < 0)
		return -EPROTO;
	pkb_cache_init(&p->cache, &p->pool);
	p->nq = p->ctl->nqueues;
	for (unsigned q = 0; q < p->nq && err == 0; q++) {
		mem = area(p, NIC_AREA_RX_FMT, q, &len);
		err = mem ? ring_cons_attach(&p->rx[q], mem, len, p->ctl->ring_size, NIC_DESC_SIZE) : -EPROTO;
		mem = area(p, NIC_AREA_TX_FMT, q, &len);
		if (err == 0)
			err = mem ? ring_prod_attach(&p->tx[q], mem, len, p->ctl->ring_size, NIC_DESC_SIZE) : -EPROTO;
		p->rxdb[q] = area(p, NIC_AREA_RXDB_FMT, q, &len);
	}
	p->txdb = area(p, NIC_AREA_TXDB, 0, &len);
	p->nstats = area(p, NIC_AREA_STATS, 0, &len);
	return err;
}

/* Connect and attach; on a reconnect, keep the mapping (the region must be
 * the same file) and take only the new eventfd. */
static int peer_open(struct peer *p, const struct opts *o, uint64_t deadline, bool again)
{
	struct nic_welcome w;
	int fds[NIC_WELCOME_NFDS], err;
	struct stat a, b;

	p->sock = connect_nicd(o->run_dir, deadline);
	if (p->sock < 0)
		return p->sock;
	if ((err = hello(p->sock, &w, fds)) < 0)
		return err;
	if (again) {
		err = fstat(fds[0], &a) == 0 && fstat(p->region.fd, &b) == 0 &&
		      a.st_ino == b.st_ino && a.st_dev == b.st_dev ? 0 : -ESTALE;
		close(fds[0]);
	} else {
		err = attach(p, fds[0]);
	}
	p->efd = fds[1];
	p->generation = w.generation;
	return err;
}

/* --------------------------------------------------------------- frames */

static uint16_t csum(const void *data, size_t len)
{
	const uint8_t *d = data;
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(d[i] << 8 | d[i + 1]);
	if (len & 1)
		sum += (uint32_t)d[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

/* Rewrite an ARP request for our address into the reply. */
static bool arp_answer(const struct opts *o, uint8_t *f, uint32_t len)
{
	uint8_t *a = f + 14;

	if (len < 42 || a[6] != 0 || a[7] != 1 || memcmp(a + 24, &o->ip, 4) != 0)
		return false;
	memcpy(f, a + 8, 6);                 /* to the asker */
	memcpy(f + 6, o->mac, 6);
	a[7] = 2;                            /* reply */
	memcpy(a + 18, a + 8, 10);           /* target = the asker's MAC and IP */
	memcpy(a + 8, o->mac, 6);
	memcpy(a + 14, &o->ip, 4);
	return true;
}

/* Rewrite an ICMP echo request to our address into the reply. */
static bool icmp_answer(const struct opts *o, uint8_t *f, uint32_t len)
{
	uint8_t *ip = f + 14, tmp[6];
	size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
	uint8_t *ic = ip + ihl;
	size_t iclen = (size_t)(ip[2] << 8 | ip[3]) - ihl;

	if (ihl < 20 || len < 14 + ihl + 8 || 14 + ihl + iclen > len || ic[0] != 8 ||
	    memcmp(ip + 16, &o->ip, 4) != 0)
		return false;
	memcpy(tmp, f, 6);
	memcpy(f, f + 6, 6);
	memcpy(f + 6, tmp, 6);
	memcpy(ip + 16, ip + 12, 4);
	memcpy(ip + 12, &o->ip, 4);
	ip[8] = 64;
	put16(ip + 10, 0);
	put16(ip + 10, csum(ip, ihl));
	ic[0] = 0;
	put16(ic + 2, 0);
	put16(ic + 2, csum(ic, iclen));
	return true;
}

/* Make *b writable before an in-place answer: a pkb whose data a clone
 * shares (nicd gave the frame to every queue) is read-only, so answer on a
 * copy and free the original. False if the pool has no slot (counted). */
static bool writable(struct peer *p, struct stats *st, struct pkb **b)
{
	struct pkb *c;

	if (!pkb_is_shared(*b))
		return true;
	c = pkb_copy(&p->cache, *b);
	if (!c) {
		st->alloc_fail++;
		return false;
	}
	pkb_free(&p->cache, *b);
	*b = c;
	return true;
}

/* Classify one frame received on queue q; returns true if *b (perhaps
 * replaced by a writable copy) was rewritten into a reply to send back (the
 * caller then owns it for tx). ARP is answered from queue 0 only. */
static bool classify(struct peer *p, const struct opts *o, struct stats *st, unsigned q,
		     struct pkb **b)
{
	uint8_t *f = pkb_data(*b);
	uint32_t len = pkb_len(*b);
	uint16_t type = len >= 14 ? (uint16_t)(f[12] << 8 | f[13]) : 0;

	st->rx++;
	if (o->sink)
		return false;
	if (type == 0x0806 && len >= 42 && f[21] == 1) {
		st->arp_req++;
		st->arpq[q]++;
		return o->arp_reply && q == 0 && writable(p, st, b) &&
		       arp_answer(o, pkb_data(*b), len) && ++st->arp_rep_sent;
	}
	if (type == 0x0800 && len >= 34 && f[23] == 1) {
		st->icmp_req += f[34] == 8;
		return o->icmp_echo && writable(p, st, b) &&
		       icmp_answer(o, pkb_data(*b), len) && ++st->icmp_rep_sent;
	}
	if (type == 0x0800 && len >= 34 && f[23] == 17)
		st->udp_rx++;
	else
		st->other++;
	return false;
}

/* Write Ethernet + IPv4 + UDP headers for a datagram of plen payload bytes. */
static void udp_headers(const struct opts *o, uint8_t *f, unsigned plen, uint16_t id)
{
	uint8_t *ip = f + 14, *u = f + 34;

	memcpy(f, o->dst_mac, 6);
	memcpy(f + 6, o->mac, 6);
	put16(f + 12, 0x0800);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(28 + plen));
	put16(ip + 4, id);
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, &o->ip, 4);
	memcpy(ip + 16, &o->dst_ip, 4);
	put16(ip + 10, csum(ip, 20));
	put16(u, 40000);
	put16(u + 2, o->dst_port);
	put16(u + 4, (uint16_t)(8 + plen));
	put16(u + 6, 0);                     /* no UDP checksum: legal in IPv4 */
}

/* Build datagram number seq: one pkb, or (--chain) headers in one pkb and
 * the payload in a second chained behind it. NULL if the pool is empty. */
static struct pkb *udp_build(struct peer *p, const struct opts *o, unsigned seq)
{
	struct pkb *b = pkb_alloc(&p->cache), *frag;
	uint8_t payload[1400];
	unsigned plen = o->payload;

	if (!b)
		return NULL;
	memset(payload, 'a' + seq % 26, plen);
	memcpy(payload, &seq, plen >= 4 ? 4 : 0);
	udp_headers(o, pkb_put(b, 42), plen, (uint16_t)seq);
	if (!o->chain) {
		memcpy(pkb_put(b, plen), payload, plen);
		return b;
	}
	frag = pkb_alloc(&p->cache);
	if (!frag) {
		pkb_free(&p->cache, b);
		return NULL;
	}
	memcpy(pkb_put(frag, plen), payload, plen);
	pkb_chain(b, frag);
	return b;
}

/* ----------------------------------------------------------- the loop */

struct txq {
	nic_desc d[BURST];
	unsigned n;
};

static void tx_flush(struct peer *p, struct stats *st, unsigned q, struct txq *t)
{
	unsigned n = ring_enqueue_burst_u64(&p->tx[q], t->d, t->n);

	for (unsigned i = n; i < t->n; i++) {
		st->tx_full++;
		pkb_free(&p->cache, pkb_at(&p->pool, nic_desc_slot(t->d[i])));
	}
	if (n > 0)
		doorbell_ring_eventfd(p->txdb, p->efd);
	t->n = 0;
}

static void tx_add(struct peer *p, struct stats *st, unsigned q, struct txq *t, struct pkb *b)
{
	if (t->n == BURST)
		tx_flush(p, st, q, t);
	b->ts[PKB_TS_NETD_TX] = now_ns();
	t->d[t->n++] = nic_desc_make(pkb_index(b));
}

/* Drain every rx ring once; returns frames handled. */
static unsigned rx_pass(struct peer *p, const struct opts *o, struct stats *st, struct txq *t)
{
	nic_desc d[BURST];
	unsigned total = 0;

	for (unsigned q = 0; q < p->nq; q++) {
		unsigned n = ring_dequeue_burst_u64(&p->rx[q], d, BURST);

		for (unsigned i = 0; i < n; i++) {
			struct pkb *b = pkb_at(&p->pool, nic_desc_slot(d[i]));

			if (!b) {
				st->bad_desc++;
				continue;
			}
			b->ts[PKB_TS_NETD_RX] = now_ns();
			if (classify(p, o, st, q, &b))
				tx_add(p, st, q, &t[q], b);
			else
				pkb_free(&p->cache, b);
		}
		total += n;
		st->rxq[q] += n;
		if (t[q].n)
			tx_flush(p, st, q, &t[q]);
	}
	return total;
}

/* Send the datagrams that are due by now (paced by --gap-us). */
static unsigned udp_pass(struct peer *p, const struct opts *o, struct stats *st,
			 struct txq *t, uint64_t start)
{
	uint64_t due = o->gap_us ? (now_ns() - start) / (o->gap_us * 1000ull) + 1 : o->udp;
	unsigned sent = 0;

	while (st->udp_sent < o->udp && st->udp_sent < due && sent < BURST) {
		struct pkb *b;

		if (ring_prod_free(&p->tx[0]) == 0)
			break;                     /* nicd is away (restarting): wait */
		b = udp_build(p, o, (unsigned)st->udp_sent);
		if (!b) {
			st->alloc_fail++;
			break;
		}
		tx_add(p, st, 0, &t[0], b);
		st->udp_sent++;
		sent++;
	}
	if (t[0].n)
		tx_flush(p, st, 0, &t[0]);
	return sent;
}

static bool done(const struct opts *o, const struct stats *st, unsigned nq)
{
	for (unsigned q = 0; q < nq; q++)
		if (st->arpq[q] < o->expect_arp_each)
			return false;
	return st->udp_sent >= o->udp && st->arp_req >= o->expect_arp &&
	       st->icmp_req >= o->expect_icmp && st->udp_rx >= o->expect_udp_rx;
}

/* Sleep until a frame arrives (queue 0's doorbell; other queues are looked
 * at every millisecond), or max_ns. */
static void idle_wait(struct peer *p, uint64_t max_ns)
{
	uint32_t tok = doorbell_prepare_wait(p->rxdb[0]);

	if (ring_cons_count(&p->rx[0]) > 0) {
		doorbell_cancel_wait(p->rxdb[0], tok);
		return;
	}
	doorbell_wait(p->rxdb[0], tok, (int64_t)(p->nq > 1 && max_ns > 1000000 ? 1000000 : max_ns));
}

/* nicd gone? (EOF on the control socket) */
static bool nicd_gone(struct peer *p)
{
	char c;
	ssize_t n = recv(p->sock, &c, 1, MSG_DONTWAIT);

	return n == 0 || (n < 0 && errno != EAGAIN);
}

static int reconnect(struct peer *p, const struct opts *o, struct stats *st, uint64_t deadline)
{
	int err;

	close(p->sock);
	close(p->efd);
	err = peer_open(p, o, deadline, true);
	if (err == 0)
		st->reconnects++;
	if (err == 0)   /* nicd stores a beat at attach: never the dead one's */
		st->hb_age_ms = (now_ns() - atomic_load_explicit(&p->ctl->heartbeat_ns,
								  memory_order_relaxed)) / 1000000u;
	fprintf(stderr, "fake_netd: nicd went away; reconnect: %s (generation %u)\n",
		err ? strerror(-err) : "ok", p->generation);
	return err;
}

static int run(struct peer *p, const struct opts *o, struct stats *st)
{
	uint64_t start = now_ns(), deadline = start + (uint64_t)(o->seconds * 1e9);
	uint64_t next_check = start;
	struct txq t[NIC_QUEUES_MAX] = { 0 };

	/* bounded by the deadline; sleeps on the doorbell when idle */
	while (now_ns() < deadline) {
		unsigned work = rx_pass(p, o, st, t) + udp_pass(p, o, st, t, start);
		uint64_t now = now_ns();

		if (o->exit_when_done && done(o, st, p->nq))
			break;
		if (now >= next_check) {
			next_check = now + 10000000ull;
			if (nicd_gone(p) && (!o->reconnect || reconnect(p, o, st, deadline) < 0))
				return -EPIPE;
		}
		/* datagrams left: wait for the next gap or, unpaced (--gap-us 0,
		 * the tx benchmark), for nicd to make room in a full tx ring */
		if (work == 0)
			idle_wait(p, o->udp <= st->udp_sent ? 10000000ull
				  : o->gap_us ? o->gap_us * 1000ull : 20000ull);
	}
	return 0;
}

/* ---------------------------------------------------------------- main */

/* Frames nicd has finished with on the tx side (written or dropped). */
static uint64_t nicd_tx_done(const struct peer *p)
{
	uint64_t v[NICD_CTR_NR];

	nicd_counters_snapshot(&p->nstats->ctr, v);
	return v[NICD_TX_FRAMES] + v[NICD_TX_BAD_DESC] + v[NICD_TX_BAD_LEN] +
	       v[NICD_TX_TOO_MANY_SEGS] + v[NICD_TX_WRITE_ERR] + v[NICD_TX_SHORT_WRITE];
}

/* Before reading nicd's counters: wait (1 s at most) until nicd has taken
 * everything off the tx rings and its count of finished writes holds still
 * for 20 ms, so the counters include every frame we handed over. */
static void settle(struct peer *p)
{
	uint64_t end = now_ns() + 1000000000ull, last = UINT64_MAX, since = 0;

	while (now_ns() < end) {
		uint64_t cur = nicd_tx_done(p);
		bool empty = true;

		for (unsigned q = 0; q < p->nq; q++)
			empty = empty && ring_prod_count(&p->tx[q]) == 0;
		if (cur != last || !empty) {
			last = cur;
			since = now_ns();
		} else if (now_ns() - since > 20000000ull) {
			return;
		}
		usleep(1000);
	}
}

static void print_nicd(struct peer *p)
{
	uint64_t v[NICD_CTR_NR];

	if (!p->nstats || nicd_counters_check(&p->nstats->ctr) < 0)
		return;
	settle(p);
	nicd_counters_snapshot(&p->nstats->ctr, v);
	counters_fprint(stdout, "nicd", nicd_counters_desc(), v, NICD_CTR_NR, 0);
	printf("nicd.POOL_FREE %u\n", pkb_pool_free_count(&p->pool));
	for (unsigned q = 0; q < p->nq; q++)
		printf("nicd.Q%u_RX_FRAMES %llu\nnicd.Q%u_RX_DROPS %llu\n", q,
		       (unsigned long long)atomic_load_explicit(&p->nstats->q[q].rx_frames,
								memory_order_relaxed), q,
		       (unsigned long long)atomic_load_explicit(&p->nstats->q[q].rx_drops,
								memory_order_relaxed));
}

static int parse_mac(const char *s, uint8_t *mac)
{
	unsigned v[6];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

static void parse(struct opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "run-dir", 1, 0, 'd' }, { "seconds", 1, 0, 's' }, { "mac", 1, 0, 'm' },
		{ "ip", 1, 0, 'i' }, { "dst-mac", 1, 0, 'M' }, { "dst-ip", 1, 0, 'I' },
		{ "dst-port", 1, 0, 'P' }, { "udp", 1, 0, 'u' }, { "gap-us", 1, 0, 'g' },
		{ "payload", 1, 0, 'l' }, { "arp-reply", 0, 0, 'a' }, { "icmp-echo", 0, 0, 'e' },
		{ "sink", 0, 0, 'k' }, { "reconnect", 0, 0, 'r' }, { "chain", 0, 0, 'c' },
		{ "exit-when-done", 0, 0, 'x' }, { "print-nicd", 0, 0, 'p' },
		{ "expect-arp", 1, 0, 'A' }, { "expect-icmp", 1, 0, 'E' },
		{ "expect-udp-rx", 1, 0, 'U' }, { "expect-arp-each", 1, 0, 'Q' }, { 0, 0, 0, 0 } };
	int c;

	*o = (struct opts){ .run_dir = NIC_RUN_DIR_DEFAULT, .seconds = 10, .gap_us = 200,
			    .payload = 32, .dst_port = 9000,
			    .mac = { 0x02, 0, 0, 0, 0, 0x02 }, .dst_mac = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } };
	inet_pton(AF_INET, "10.0.0.2", &o->ip);
	inet_pton(AF_INET, "10.0.0.1", &o->dst_ip);
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd': o->run_dir = optarg; break;
		case 's': o->seconds = atof(optarg); break;
		case 'm': if (parse_mac(optarg, o->mac)) exit(2); break;
		case 'M': if (parse_mac(optarg, o->dst_mac)) exit(2); break;
		case 'i': if (inet_pton(AF_INET, optarg, &o->ip) != 1) exit(2); break;
		case 'I': if (inet_pton(AF_INET, optarg, &o->dst_ip) != 1) exit(2); break;
		case 'P': o->dst_port = (uint16_t)atoi(optarg); break;
		case 'u': o->udp = (unsigned)atoi(optarg); break;
		case 'g': o->gap_us = (unsigned)atoi(optarg); break;
		case 'l': o->payload = (unsigned)atoi(optarg) > 1400 ? 1400 : (unsigned)atoi(optarg); break;
		case 'a': o->arp_reply = true; break;
		case 'e': o->icmp_echo = true; break;
		case 'k': o->sink = true; break;
		case 'r': o->reconnect = true; break;
		case 'c': o->chain = true; break;
		case 'x': o->exit_when_done = true; break;
		case 'p': o->print_nicd = true; break;
		case 'A': o->expect_arp = (unsigned)atoi(optarg); break;
		case 'E': o->expect_icmp = (unsigned)atoi(optarg); break;
		case 'U': o->expect_udp_rx = (unsigned)atoi(optarg); break;
		case 'Q': o->expect_arp_each = (unsigned)atoi(optarg); break;
		default:
			fprintf(stderr, "usage: fake_netd [--run-dir D] [--seconds S] [--arp-reply] "
				"[--icmp-echo] [--udp N --dst-mac M [--dst-ip A --dst-port P --gap-us G "
				"--payload B --chain]] [--sink] [--reconnect] [--expect-arp N] "
				"[--expect-icmp N] [--expect-udp-rx N] [--expect-arp-each N] [--exit-when-done] "
				"[--print-nicd]\n");
			exit(2);
		}
	}
}

int main(int argc, char **argv)
{
	static struct peer p;
	struct stats st = { 0 };
	struct opts o;
	uint64_t t0;
	double secs;
	int err;

	parse(&o, argc, argv);
	t0 = now_ns();
	err = peer_open(&p, &o, t0 + (uint64_t)(o.seconds * 1e9), false);
	if (err < 0) {
		fprintf(stderr, "fake_netd: attaching to nicd in %s: %s\n", o.run_dir, strerror(-err));
		return 1;
	}
	err = run(&p, &o, &st);
	secs = (double)(now_ns() - t0) / 1e9;
	pkb_cache_flush(&p.cache);
	if (o.print_nicd)
		print_nicd(&p);
	printf("fake_netd: rx=%llu arp_req=%llu arp_rep_sent=%llu icmp_req=%llu icmp_rep_sent=%llu "
	       "udp_rx=%llu other=%llu udp_sent=%llu tx_full=%llu alloc_fail=%llu bad_desc=%llu "
	       "reconnects=%llu hb_age_ms=%llu generation=%u seconds=%.3f rx_rate=%.0f\n",
	       (unsigned long long)st.rx, (unsigned long long)st.arp_req,
	       (unsigned long long)st.arp_rep_sent, (unsigned long long)st.icmp_req,
	       (unsigned long long)st.icmp_rep_sent, (unsigned long long)st.udp_rx,
	       (unsigned long long)st.other, (unsigned long long)st.udp_sent,
	       (unsigned long long)st.tx_full, (unsigned long long)st.alloc_fail,
	       (unsigned long long)st.bad_desc, (unsigned long long)st.reconnects,
	       (unsigned long long)st.hb_age_ms,
	       p.generation, secs, (double)st.rx / secs);
	printf("fake_netd: per-queue rx");
	for (unsigned q = 0; q < p.nq; q++)
		printf(" q%u=%llu", q, (unsigned long long)st.rxq[q]);
	printf(" arp");
	for (unsigned q = 0; q < p.nq; q++)
		printf(" arp_q%u=%llu", q, (unsigned long long)st.arpq[q]);
	printf("\n");
	region_close(&p.region);
	if (err < 0) {
		fprintf(stderr, "fake_netd: %s\n", strerror(-err));
		return 1;
	}
	return done(&o, &st, p.nq) ? 0 : 1;
}
