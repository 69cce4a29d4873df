/* tests/unit/test_region.c — shm/region: create, seal, carve, find, attach, refuse. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "shm/region.h"

static struct region make(size_t size, unsigned flags)
{
	struct region r;
	struct region_opts o = { .name = "test", .kind = REGION_KIND_TEST,
				 .layout_version = 7, .size = size, .flags = flags };

	assert_int_equal(region_create(&r, &o), 0);
	return r;
}

static void test_region_create_writes_header(void **state)
{
	(void)state;
	struct region r = make(100000, 0);

	assert_int_equal(r.hdr->magic, REGION_MAGIC);
	assert_int_equal(r.hdr->kind, REGION_KIND_TEST);
	assert_int_equal(r.hdr->layout_version, 7);
	assert_true(r.size >= 100000);
	assert_int_equal(r.hdr->size, r.size);
	assert_string_equal(r.hdr->name, "test");
	assert_int_equal(r.hdr->creator_pid, getpid());
	region_close(&r);
}

static void test_region_carve_then_find(void **state)
{
	(void)state;
	struct region r = make(1 << 20, 0);
	size_t len = 0;
	uint8_t *a = region_carve(&r, "alpha", 1000, 64);
	uint8_t *b = region_carve(&r, "beta", 5000, 4096);

	assert_non_null(a);
	assert_non_null(b);
	assert_true(b >= a + 1000);
	assert_int_equal(region_off(&r, b) % 4096, 0);
	assert_ptr_equal(region_find(&r, "beta", &len), b);
	assert_int_equal(len, 5000);
	assert_null(region_find(&r, "gamma", NULL));
	assert_null(region_carve(&r, "alpha", 10, 64)); /* duplicate name */
	assert_null(region_carve(&r, "huge", 2u << 20, 64)); /* does not fit */
	assert_null(region_carve(&r, "odd", 10, 48));       /* bad alignment */
	region_close(&r);
}

static void test_region_attach_fd_sees_same_memory(void **state)
{
	(void)state;
	struct region r = make(1 << 20, 0), peer;
	uint32_t *x = region_carve(&r, "x", 64, 64);
	int fd = dup(r.fd);

	*x = 0xfeedbeef;
	assert_int_equal(region_attach_fd(&peer, fd, REGION_KIND_TEST, 7), 0);
	assert_ptr_not_equal(peer.base, r.base);
	uint32_t *px = region_find(&peer, "x", NULL);
	assert_non_null(px);
	assert_int_equal(*px, 0xfeedbeef);
	*px = 42;
	assert_int_equal(*x, 42);
	region_close(&peer);
	region_close(&r);
}

static void test_region_attach_refuses_wrong_kind_or_version(void **state)
{
	(void)state;
	struct region r = make(1 << 20, 0), peer;
	int fd = dup(r.fd);

	assert_int_equal(region_attach_fd(&peer, fd, REGION_KIND_APP, 7), -EPROTO);
	assert_int_equal(region_attach_fd(&peer, fd, REGION_KIND_TEST, 8), -EPROTO);
	r.hdr->magic = 0x12345678;
	assert_int_equal(region_attach_fd(&peer, fd, REGION_KIND_ANY, 0), -EPROTO);
	r.hdr->magic = REGION_MAGIC;
	assert_int_equal(region_attach_fd(&peer, fd, REGION_KIND_ANY, 0), 0);
	region_close(&peer); /* closes fd */
	region_close(&r);
}

static void test_region_memfd_size_is_sealed(void **state)
{
	(void)state;
	struct region r = make(1 << 20, 0);

	assert_int_equal(ftruncate(r.fd, 4096), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(r.fd, 4 << 20), -1);
	/* And no peer may add a write seal that would stop a restarted daemon. */
	assert_int_equal(fcntl(r.fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE), -1);
	region_close(&r);
}

static void test_region_find_rejects_corrupt_toc(void **state)
{
	(void)state;
	struct region r = make(1 << 20, 0);

	assert_non_null(region_carve(&r, "a", 100, 64));
	r.hdr->toc[0].off = r.size - 10;   /* a hostile peer's scribble */
	assert_null(region_find(&r, "a", NULL));
	r.hdr->toc[0].off = 0;             /* would alias the header */
	assert_null(region_find(&r, "a", NULL));
	r.hdr->toc[0].off = 4096;
	r.hdr->toc[0].len = UINT64_MAX;
	assert_null(region_find(&r, "a", NULL));
	r.hdr->narea = 1000000;            /* clamped, never read past the table */
	assert_null(region_find(&r, "nothing", NULL));
	region_close(&r);
}

static void test_region_path_backed_reopens(void **state)
{
	(void)state;
	char path[] = "/tmp/ringstack-region-XXXXXX";
	int tmp = mkstemp(path);
	struct region r, again;
	struct region_opts o = { .name = "file", .kind = REGION_KIND_NETD,
				 .layout_version = 3, .size = 65536, .path = path };

	assert_true(tmp >= 0);
	close(tmp);
	assert_int_equal(region_create(&r, &o), -EEXIST);
	unlink(path);
	assert_int_equal(region_create(&r, &o), 0);
	strcpy(region_carve(&r, "state", 32, 64), "survives");
	region_close(&r);
	assert_int_equal(region_open(&again, path, REGION_KIND_NETD, 3), 0);
	assert_string_equal(region_find(&again, "state", NULL), "survives");
	region_close(&again);
	unlink(path);
}

static void test_region_shared_across_fork(void **state)
{
	(void)state;
	struct region r = make(1 << 20, 0);
	volatile uint64_t *v = region_carve(&r, "v", 64, 64);
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		*v = 77;
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(*v, 77);
	region_close(&r);
}

/* Huge pages: reserve a few for the test when we may (root), and check the
 * region is backed by them; otherwise check the clean fallback. */
static void test_region_huge_or_fallback(void **state)
{
	(void)state;
	FILE *f = fopen("/proc/sys/vm/nr_hugepages", "r+");
	unsigned long before = 0;
	struct region r;

	if (f && fscanf(f, "%lu", &before) == 1 && before == 0) {
		rewind(f);
		fprintf(f, "4\n");
		fflush(f);
	}
	bool have_huge = region_hugepages_available();

	r = make(3 << 20, REGION_F_HUGE);
	assert_int_equal(r.huge, have_huge);
	printf("# huge pages %s\n", have_huge ? "reserved: region backed by them" : "unavailable: fell back");
	if (r.huge)
		assert_int_equal(r.size % (2u << 20), 0);
	memset(r.base + REGION_ALIGN, 0xab, r.size - REGION_ALIGN); /* every page is usable */
	region_close(&r);
	if (f) {
		if (before == 0) {
			rewind(f);
			fprintf(f, "0\n");
		}
		fclose(f);
	}
	r = make(3 << 20, 0);
	assert_false(r.huge);
	region_close(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_region_create_writes_header),
		cmocka_unit_test(test_region_carve_then_find),
		cmocka_unit_test(test_region_attach_fd_sees_same_memory),
		cmocka_unit_test(test_region_attach_refuses_wrong_kind_or_version),
		cmocka_unit_test(test_region_memfd_size_is_sealed),
		cmocka_unit_test(test_region_find_rejects_corrupt_toc),
		cmocka_unit_test(test_region_path_backed_reopens),
		cmocka_unit_test(test_region_shared_across_fork),
		cmocka_unit_test(test_region_huge_or_fallback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
