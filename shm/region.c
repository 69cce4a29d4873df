/* shm/region.c — create, attach and carve shared-memory regions.
 *
 * Control-path code: regions are made when a daemon starts or an application
 * is admitted, never per packet, so clarity wins over speed here.
 */
#include "shm/region.h"

#include <errno.h>
#include <fcntl.h>
#include <numa.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HUGE_2MB (2u << 20)

static size_t round_up(size_t v, size_t to)
{
	return (v + to - 1) / to * to;
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool region_hugepages_available(void)
{
	FILE *f = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "re");
	unsigned long free_pages = 0;

	if (!f)
		return false;
	if (fscanf(f, "%lu", &free_pages) != 1)
		free_pages = 0;
	fclose(f);
	return free_pages > 0;
}

/* Open the backing file: a memfd (huge pages if asked and possible) or a new
 * file at opts->path. Sets *huge when huge pages back it. */
static int open_backing(const struct region_opts *o, size_t *size, bool *huge)
{
	int fd;

	*huge = false;
	if (o->path) {
		fd = open(o->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		return fd < 0 ? -errno : fd;
	}
	if ((o->flags & REGION_F_HUGE) && region_hugepages_available()) {
		fd = memfd_create(o->name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB);
		if (fd >= 0) {
			*huge = true;
			*size = round_up(*size, HUGE_2MB);
			return fd;
		}
		/* No hugetlbfs support or no pages: fall through to normal pages. */
	}
	fd = memfd_create(o->name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	return fd < 0 ? -errno : fd;
}

/* Seal the size of a memfd region: a peer that shrank it would make every
 * access past the new end fault in the other processes. F_SEAL_SEAL stops a
 * peer from adding F_SEAL_FUTURE_WRITE later, which would keep a restarted
 * daemon from mapping the region writable again. */
static int seal_size(int fd)
{
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		return -errno;
	return 0;
}

/* Prefer the creating thread's NUMA node for the region's pages; must run
 * before the first touch. A machine without NUMA support just skips it. */
static void bind_local_node(void *base, size_t size)
{
	int cpu, node;

	if (numa_available() < 0)
		return;
	cpu = sched_getcpu();
	node = cpu < 0 ? -1 : numa_node_of_cpu(cpu);
	if (node >= 0)
		numa_tonode_memory(base, size, node);
}

static void write_header(struct region *r, const struct region_opts *o)
{
	struct region_hdr *h = r->hdr;

	h->hdr_version = REGION_HDR_VERSION;
	h->kind = (uint16_t)o->kind;
	h->layout_version = o->layout_version;
	h->flags = r->huge ? REGION_F_HUGE : 0;
	h->size = r->size;
	h->used = REGION_ALIGN;
	h->created_ns = realtime_ns();
	h->creator_pid = (uint32_t)getpid();
	snprintf(h->name, sizeof(h->name), "%s", o->name ? o->name : "");
	/* The magic goes last: a peer that sees it sees a complete header
	 * (a region is only shared after region_create returns, so program
	 * order suffices; no atomics are needed). */
	h->magic = REGION_MAGIC;
}

int region_create(struct region *r, const struct region_opts *o)
{
	size_t size = round_up(o->size < REGION_ALIGN * 2 ? REGION_ALIGN * 2 : o->size,
			       (size_t)sysconf(_SC_PAGESIZE));
	bool huge;
	int fd, err;
	void *base;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	fd = open_backing(o, &size, &huge);
	if (fd < 0)
		return fd;
	if (ftruncate(fd, (off_t)size) < 0) {
		err = -errno;
		goto fail_fd;
	}
	if (!o->path && !(o->flags & REGION_F_NO_SEAL) && (err = seal_size(fd)) < 0)
		goto fail_fd;
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		err = -errno;
		goto fail_fd;
	}
	if (!(o->flags & REGION_F_NO_NUMA))
		bind_local_node(base, size);
	*r = (struct region){ .hdr = base, .base = base, .size = size, .fd = fd, .huge = huge };
	write_header(r, o);
	return 0;

fail_fd:
	close(fd);
	if (o->path)
		unlink(o->path);
	return err;
}

static int check_header(const struct region *r, enum region_kind kind, uint32_t layout_version)
{
	const struct region_hdr *h = r->hdr;

	if (h->magic != REGION_MAGIC || h->hdr_version != REGION_HDR_VERSION)
		return -EPROTO;
	if (kind != REGION_KIND_ANY && h->kind != kind)
		return -EPROTO;
	if (layout_version && h->layout_version != layout_version)
		return -EPROTO;
	if (h->size != r->size || h->used > h->size || h->narea > REGION_AREAS_MAX)
		return -EINVAL;
	return 0;
}

static int attach_prot(struct region *r, int fd, enum region_kind kind, uint32_t layout_version,
		       int prot)
{
	struct stat st;
	void *base;
	int err;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	if (fstat(fd, &st) < 0)
		return -errno;
	if ((size_t)st.st_size < REGION_ALIGN * 2)
		return -EINVAL;
	base = mmap(NULL, (size_t)st.st_size, prot, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		return -errno;
	*r = (struct region){ .hdr = base, .base = base, .size = (size_t)st.st_size, .fd = fd };
	err = check_header(r, kind, layout_version);
	if (err < 0) {
		munmap(base, r->size);
		memset(r, 0, sizeof(*r));
		r->fd = -1;
		return err;
	}
	r->huge = r->hdr->flags & REGION_F_HUGE;
	return 0;
}

int region_attach_fd(struct region *r, int fd, enum region_kind kind, uint32_t layout_version)
{
	return attach_prot(r, fd, kind, layout_version, PROT_READ | PROT_WRITE);
}

static int open_prot(struct region *r, const char *path, enum region_kind kind,
		     uint32_t layout_version, bool writable)
{
	int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	int err;

	if (fd < 0)
		return -errno;
	err = attach_prot(r, fd, kind, layout_version, writable ? PROT_READ | PROT_WRITE : PROT_READ);
	if (err < 0)
		close(fd);
	return err;
}

int region_open(struct region *r, const char *path, enum region_kind kind, uint32_t layout_version)
{
	return open_prot(r, path, kind, layout_version, true);
}

int region_open_ro(struct region *r, const char *path, enum region_kind kind,
		   uint32_t layout_version)
{
	return open_prot(r, path, kind, layout_version, false);
}

void region_close(struct region *r)
{
	/* A zeroed struct (fd 0, no mapping) must not close stdin: only a
	 * mapped region owns its fd. */
	if (r->base) {
		munmap(r->base, r->size);
		if (r->fd >= 0)
			close(r->fd);
	}
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

void *region_carve(struct region *r, const char *name, size_t len, size_t align)
{
	struct region_hdr *h = r->hdr;
	struct region_area *a;
	uint64_t off;

	if (align < 64 || (align & (align - 1)) || !name || strlen(name) >= REGION_AREA_NAME)
		return NULL;
	if (h->narea >= REGION_AREAS_MAX || region_find(r, name, NULL))
		return NULL;
	off = round_up(h->used, align);
	if (off > r->size || len > r->size - off)
		return NULL;
	a = &h->toc[h->narea];
	snprintf(a->name, sizeof(a->name), "%s", name);
	a->off = off;
	a->len = len;
	h->used = off + len;
	h->narea++;
	return r->base + off;
}

void *region_find(const struct region *r, const char *name, size_t *len)
{
	const struct region_hdr *h = r->hdr;
	uint32_t n = h->narea < REGION_AREAS_MAX ? h->narea : REGION_AREAS_MAX;

	for (uint32_t i = 0; i < n; i++) {
		const volatile struct region_area *a = &h->toc[i];
		uint64_t off, alen;

		if (strncmp((const char *)a->name, name, REGION_AREA_NAME) != 0)
			continue;
		/* The table may be scribbled on by a hostile peer, even while
		 * we read it: read each bound once, then check what we read. */
		off = a->off;
		alen = a->len;
		if (off < REGION_ALIGN || off > r->size || alen > r->size - off)
			return NULL;
		if (len)
			*len = alen;
		return r->base + off;
	}
	return NULL;
}
