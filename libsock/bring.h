/* libsock/bring.h — copying between an iovec array and a byte ring.
 *
 * Pure helpers (no shared state, no system calls), static inline so that a
 * unit test can include this header alone. A byte ring (shm/app_layout.h) is
 * size bytes, a power of two, addressed by free-running uint32 indices:
 *
 *     buf:  [ ....... cons ######## prod ....... ]      # = bytes in the ring
 *                     pos & (size - 1) is where index pos lives
 *
 * and a copy that crosses the end continues at the start. Indices and their
 * memory ordering are the caller's (stream.c, dgram.c): these only move
 * bytes.
 */
#ifndef RINGSTACK_LIBSOCK_BRING_H
#define RINGSTACK_LIBSOCK_BRING_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

/* A position in an iovec array, consumed as bytes move. */
struct ls_iov {
	const struct iovec *iov;
	int cnt;
	int i;                /* current element */
	size_t off;           /* bytes of iov[i] already moved */
	size_t left;          /* bytes still to move, over all elements */
};

static inline void ls_iov_init(struct ls_iov *c, const struct iovec *iov, int cnt)
{
	*c = (struct ls_iov){ .iov = iov, .cnt = cnt > 0 ? cnt : 0 };
	for (int i = 0; i < c->cnt; i++) {
		if (iov[i].iov_len > (size_t)INT32_MAX - c->left) {
			c->left = INT32_MAX;   /* as the kernel: one call moves at most ~2 GiB */
			break;
		}
		c->left += iov[i].iov_len;
	}
}

static inline size_t bring_min(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* Copy len bytes from src into the ring at index pos, wrapping at the end. */
static inline void bring_put(uint8_t *buf, uint32_t size, uint32_t pos,
			     const void *src, uint32_t len)
{
	uint32_t off = pos & (size - 1);
	uint32_t first = (uint32_t)bring_min(len, size - off);

	memcpy(buf + off, src, first);
	memcpy(buf, (const uint8_t *)src + first, len - first);
}

/* Copy len bytes out of the ring from index pos into dst, wrapping. */
static inline void bring_get(const uint8_t *buf, uint32_t size, uint32_t pos,
			     void *dst, uint32_t len)
{
	uint32_t off = pos & (size - 1);
	uint32_t first = (uint32_t)bring_min(len, size - off);

	memcpy(dst, buf + off, first);
	memcpy((uint8_t *)dst + first, buf, len - first);
}

/* The next contiguous piece of the iovec array, at most max bytes; skips
 * empty elements. Returns its length (0 when the array is exhausted). */
static inline size_t ls_iov_piece(struct ls_iov *c, size_t max, uint8_t **p)
{
	while (c->i < c->cnt && c->off >= c->iov[c->i].iov_len) {
		c->i++;
		c->off = 0;
	}
	if (c->i >= c->cnt || c->left == 0)
		return 0;
	*p = (uint8_t *)c->iov[c->i].iov_base + c->off;
	return bring_min(bring_min(c->iov[c->i].iov_len - c->off, max), c->left);
}

static inline void ls_iov_advance(struct ls_iov *c, size_t n)
{
	c->off += n;
	c->left -= n;
}

/* Move n bytes (n <= c->left) from the iovec array into the ring at pos. */
static inline void bring_put_iov(uint8_t *buf, uint32_t size, uint32_t pos,
				 struct ls_iov *c, uint32_t n)
{
	uint8_t *p;
	size_t k;

	while (n > 0 && (k = ls_iov_piece(c, n, &p)) > 0) {
		bring_put(buf, size, pos, p, (uint32_t)k);
		ls_iov_advance(c, k);
		pos += (uint32_t)k;
		n -= (uint32_t)k;
	}
}

/* Move n bytes (n <= c->left) from the ring at pos into the iovec array. */
static inline void bring_get_iov(const uint8_t *buf, uint32_t size, uint32_t pos,
				 struct ls_iov *c, uint32_t n)
{
	uint8_t *p;
	size_t k;

	while (n > 0 && (k = ls_iov_piece(c, n, &p)) > 0) {
		bring_get(buf, size, pos, p, (uint32_t)k);
		ls_iov_advance(c, k);
		pos += (uint32_t)k;
		n -= (uint32_t)k;
	}
}

/* UDP records (shm/app_layout.h): a 16-byte struct app_dgram, the payload,
 * the next record at the next multiple of 8. */
static inline uint32_t bring_rec_size(uint32_t len)
{
	return (uint32_t)((16u + (uint64_t)len + 7u) & ~(uint64_t)7u);
}

#endif /* RINGSTACK_LIBSOCK_BRING_H */
