/* tests/fuzz/fuzz_ipv4.c — libFuzzer target for IPv4 input: ipv4_parse on
 * each packet, then ipv4_input on one long-lived stack, so that reassembly
 * state carries across inputs (fragments of one input meet fragments of
 * the next), with the clock moving and timers firing under the input's
 * control. Loopback traffic and the replies we send are drained each time.
 *
 * Input: records of  flags(1) length(2, big-endian) bytes(length).
 *   flags bit 0    the packet arrives on loopback instead of the device
 *   flags bits 1-3 advance the clock by that many 4-second steps first
 * The seed corpus (tests/vectors/gen_l3_vectors.py) holds scapy's packets
 * and whole fragment trains, in order and reversed.
 *
 * Every 256 inputs, and whenever the pool runs low, the stack's held buffers
 * (reassembly, neighbour queues) are flushed and a leaked buffer traps.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "proto/stack.h"
#include "tests/support/pkb_fixture.h"

#define FUZZ_T0    1000000000000ull
#define FUZZ_STEP  4000000000ull
#define FUZZ_SLOTS 2048u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pkb_fixture fx;
static struct stack *stk;
static uint64_t now = FUZZ_T0;
static unsigned inputs;

static void setup(void)
{
	const struct stack_config cfg = {
		.mac = { 0x02, 0, 0, 0, 0, 0x01 }, .addr = 0x0a000002u, .prefix_len = 24,
		.gateway = 0x0a000001u, .mtu = 1500, .secret = { 1, 2 },
	};

	stk = calloc(1, sizeof(*stk));
	if (!stk || pkb_fixture_init(&fx, FUZZ_SLOTS, 0) != 0 ||
	    stack_init(stk, &cfg, &fx.cache, now) != 0)
		abort();
	stk->ip.reasm.mem_max = 256u << 10;    /* keep the pool from running dry */
	udp_bind(&stk->udp, 1, 0, 9999, 0, 0);
	udp_bind(&stk->udp, 2, 0, 2222, 0, 0);
	udp_bind(&stk->udp, 3, 0, 67, 0, 0);
}

static void drain(void)
{
	for (unsigned k = 0; k < 4 && stack_poll_loopback(stk, 64, now) > 0; k++)
		;
	for (uint32_t i = 0; i < stk->txq.n; i++)
		pkb_free(stk->cache, stk->txq.pkb[i]);
	stk->txq.n = 0;
	for (uint32_t i = 0; i < stk->evq.n; i++)
		pkb_free(stk->cache, stk->evq.ev[i].pkb);
	stk->evq.n = 0;
}

/* Free everything the stack holds and trap on a leaked buffer. */
static void flush_and_check(void)
{
	drain();
	for (uint32_t i = 0; i < stk->loop_n; i++)     /* loopback beyond the budget */
		pkb_free(stk->cache, stk->loop[(stk->loop_first + i) % STACK_LOOP_MAX]);
	stk->loop_n = 0;
	ip_reasm_flush(stk);
	neigh_flush(stk);
	drain();
	if (pkb_fixture_leaks(&fx) != 0)
		__builtin_trap();
}

static void one_packet(const uint8_t *p, uint32_t len, uint8_t flags)
{
	struct ipv4_info ip;
	struct pkb *b;
	int r = ipv4_parse(p, len, &ip);

	if (r >= 0 && (r < 20 || r > 60 || (uint32_t)r > ip.total_len || ip.total_len > len))
		__builtin_trap();   /* a header it accepted must lie within the bytes */
	if (r < 0 && r != -ENODATA && r != -EPROTONOSUPPORT && r != -EINVAL && r != -EMSGSIZE &&
	    r != -EBADMSG)
		__builtin_trap();
	now += ((flags >> 1) & 7) * FUZZ_STEP;
	stack_timers(stk, now);
	if (!(b = pkb_from_bytes(&fx.cache, p, len)))
		return;
	b->port = flags & 1 ? STACK_IF_LOOPBACK : STACK_IF_ETH;
	ipv4_input(stk, b, now);
	drain();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	if (!stk)
		setup();
	for (unsigned n = 0; off + 3 <= size && n < 64; n++) {
		uint8_t flags = data[off];
		uint32_t len = (uint32_t)data[off + 1] << 8 | data[off + 2];

		off += 3;
		if (len > size - off)
			len = (uint32_t)(size - off);
		one_packet(data + off, len, flags);
		off += len;
	}
	if (++inputs % 256 == 0 || pkb_pool_free_count(&fx.pool) < FUZZ_SLOTS / 4)
		flush_and_check();
	return 0;
}
