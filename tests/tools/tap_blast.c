/* tests/tools/tap_blast.c — the kernel-side sender for nicd's receive
 * benchmark: 64-byte frames into a TAP (or any interface) as fast as the
 * kernel takes them.
 *
 * Where it sits: on the "wire" side of nicd. An AF_PACKET socket bound to
 * the TAP transmits on it; the kernel hands each frame to the TAP's queue,
 * which nicd reads. Frames are UDP/IPv4, 10.0.0.1 -> 10.0.0.2, with the
 * source port cycling over --flows values so that software RSS has flows to
 * spread. Sent with sendmmsg in batches of 64, bypassing the qdisc
 * (PACKET_QDISC_BYPASS). Bounded by --seconds (default 3) and --count.
 *
 *     tap_blast IFNAME [--seconds S] [--count N] [--flows F] [--size B]
 *
 * Prints "tap_blast: sent=N seconds=S rate=R" (frames the kernel accepted;
 * the TAP's tx_dropped says how many of those nicd was too slow to take).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A minimal Ethernet/IPv4/UDP frame of size bytes (IP checksum left 0:
 * nicd and the benchmark's sink do not check it). */
static void frame(uint8_t *f, unsigned size, uint16_t sport)
{
	static const uint8_t dst[6] = { 0x02, 0, 0, 0, 0, 0x02 }, src[6] = { 0x02, 0, 0, 0, 0, 0x01 };

	memset(f, 0, size);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x08;
	f[14] = 0x45;
	f[16] = (uint8_t)((size - 14) >> 8);
	f[17] = (uint8_t)(size - 14);
	f[22] = 64;
	f[23] = 17;
	memcpy(f + 26, (uint8_t[]){ 10, 0, 0, 1, 10, 0, 0, 2 }, 8);
	f[34] = (uint8_t)(sport >> 8);
	f[35] = (uint8_t)sport;
	f[36] = 0x23;
	f[37] = 0x28;
	f[38] = (uint8_t)((size - 34) >> 8);
	f[39] = (uint8_t)(size - 34);
}

static int open_sock(const char *ifname)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	int one = 1, fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (sll.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		close(fd);
		return -ENODEV;
	}
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	return fd;
}

int main(int argc, char **argv)
{
	static uint8_t buf[BATCH][2048];
	struct iovec iov[BATCH];
	struct mmsghdr m[BATCH];
	double seconds = 3;
	unsigned long long count = ~0ull, sent = 0;
	unsigned flows = 64, size = 64;
	uint64_t t0, end;
	int fd;

	if (argc < 2) {
		fprintf(stderr, "usage: tap_blast IFNAME [--seconds S] [--count N] [--flows F] [--size B]\n");
		return 2;
	}
	for (int i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--count")) count = strtoull(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--flows")) flows = (unsigned)atoi(argv[i + 1]) ?: 1;
		else if (!strcmp(argv[i], "--size")) size = (unsigned)atoi(argv[i + 1]);
	}
	if (size < 60 || size > 1514)
		size = 64;
	if ((fd = open_sock(argv[1])) < 0) {
		fprintf(stderr, "tap_blast: %s: %s\n", argv[1], strerror(-fd));
		return 1;
	}
	for (unsigned i = 0; i < BATCH; i++) {
		frame(buf[i], size, (uint16_t)(10000 + i % flows));
		iov[i] = (struct iovec){ buf[i], size };
		m[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
	}
	t0 = now_ns();
	end = t0 + (uint64_t)(seconds * 1e9);
	/* bounded by time and count; the socket blocks when the device is busy */
	while (sent < count && now_ns() < end) {
		unsigned n = count - sent < BATCH ? (unsigned)(count - sent) : BATCH;
		int r = sendmmsg(fd, m, n, 0);

		if (r < 0 && errno != ENOBUFS && errno != EAGAIN && errno != EINTR) {
			perror("tap_blast: sendmmsg");
			break;
		}
		if (r > 0)
			sent += (unsigned)r;
	}
	seconds = (double)(now_ns() - t0) / 1e9;
	printf("tap_blast: sent=%llu seconds=%.3f rate=%.0f\n", sent, seconds, sent / seconds);
	close(fd);
	return 0;
}
