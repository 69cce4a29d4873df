/* shm/region.h — named, versioned shared-memory regions.
 *
 * Every piece of memory two ringstack processes share is a region: a memfd
 * (passed to peers over a Unix socket with SCM_RIGHTS, or kept in systemd's
 * fd store) or a file in the run directory (so a restarted daemon finds it
 * again without systemd). A region starts with a header that names what it
 * holds and the layout version of its contents; an attaching process checks
 * both and refuses a region built by an incompatible daemon.
 *
 *     +-------------------+------------+------------+----   ---+
 *     | struct region_hdr | area "a"   | area "b"   |   ...    |
 *     | magic kind ver    |            |            |          |
 *     | size  toc[]       |            |            |          |
 *     +-------------------+------------+------------+----   ---+
 *     offset 0             toc[0].off   toc[1].off
 *
 * Each process maps a region wherever mmap puts it, so nothing inside is a
 * pointer: the creator carves named areas (region_carve) and records their
 * offsets in the header's table of contents; peers find them by name
 * (region_find). Rings, pools and tables inside use offsets and indices too.
 *
 * Memory is bound to the creating thread's NUMA node (libnuma) and backed by
 * 2 MB huge pages when asked and the system has them reserved, falling back
 * cleanly to normal pages otherwise. A memfd region's size is sealed so that
 * no peer — in particular an untrusted application handed its own region —
 * can shrink it under another process (which would turn every access past
 * the new end into SIGBUS).
 */
#ifndef RINGSTACK_SHM_REGION_H
#define RINGSTACK_SHM_REGION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REGION_MAGIC        0x52494e47u  /* "RING" */
#define REGION_HDR_VERSION  1u           /* layout of struct region_hdr itself */
#define REGION_NAME_MAX     32
#define REGION_AREA_NAME    24
#define REGION_AREAS_MAX    32
#define REGION_ALIGN        4096u        /* areas start at least cache- and page-friendly */

/* What a region holds; a peer states the kind it expects when it attaches. */
enum region_kind {
	REGION_KIND_ANY = 0,     /* for tools that only read the header */
	REGION_KIND_POOL = 1,    /* packet buffers + nicd<->netd rings */
	REGION_KIND_APP = 2,     /* one application's rings and socket buffers */
	REGION_KIND_STATS = 3,   /* a daemon's counters and histograms */
	REGION_KIND_NETD = 4,    /* netd's connection state (survives restarts) */
	REGION_KIND_SOCKD = 5,   /* sockd's socket table */
	REGION_KIND_TEST = 99,
};

enum region_flags {
	REGION_F_HUGE = 1u << 0,      /* try 2 MB huge pages (fall back if none) */
	REGION_F_NO_NUMA = 1u << 1,   /* do not bind to the local NUMA node */
	REGION_F_NO_SEAL = 1u << 2,   /* leave a memfd's size unsealed */
};

struct region_area {
	char name[REGION_AREA_NAME];
	uint64_t off;
	uint64_t len;
};

/* The header at offset 0 of every region (shared; fixed layout). */
struct region_hdr {
	uint32_t magic;               /* REGION_MAGIC */
	uint16_t hdr_version;         /* REGION_HDR_VERSION */
	uint16_t kind;                /* enum region_kind */
	uint32_t layout_version;      /* version of the contents, chosen by the kind's owner */
	uint32_t flags;               /* REGION_F_HUGE if huge pages back it */
	uint64_t size;                /* bytes mapped */
	uint64_t used;                /* bytes carved so far (bump allocator) */
	uint64_t created_ns;          /* CLOCK_REALTIME at creation */
	uint32_t creator_pid;
	uint32_t narea;
	char name[REGION_NAME_MAX];
	struct region_area toc[REGION_AREAS_MAX];
};
_Static_assert(sizeof(struct region_hdr) <= REGION_ALIGN, "region header fits its first page");
_Static_assert(sizeof(struct region_area) == 40, "region_area layout");

/* A process's handle on a mapped region (process-local). */
struct region {
	struct region_hdr *hdr;       /* == base */
	uint8_t *base;
	size_t size;
	int fd;
	bool huge;                    /* backed by huge pages */
};

struct region_opts {
	const char *name;             /* shown in the header and /proc/PID/fd */
	enum region_kind kind;
	uint32_t layout_version;
	size_t size;                  /* rounded up to the page (or huge page) size */
	unsigned flags;               /* enum region_flags */
	const char *path;             /* NULL: an anonymous memfd; else create this file (O_EXCL) */
};

/* Create and map a new region, write its header. On success r is filled and
 * the region is zeroed; returns 0 or -errno (-EEXIST if opts->path exists). */
int region_create(struct region *r, const struct region_opts *opts);

/* Map the region behind fd (which the region then owns) and check its
 * header: magic, header version, kind (unless REGION_KIND_ANY) and
 * layout_version (unless 0). Returns 0, -EPROTO for a foreign or
 * incompatible region, -EINVAL if its size disagrees with the file, or -errno. */
int region_attach_fd(struct region *r, int fd, enum region_kind kind, uint32_t layout_version);

/* region_attach_fd on a file in the run directory. */
int region_open(struct region *r, const char *path, enum region_kind kind, uint32_t layout_version);

/* region_open for a reader that must not write (ctl/): mapped PROT_READ
 * from an O_RDONLY descriptor; only region_find and reads are allowed. */
int region_open_ro(struct region *r, const char *path, enum region_kind kind,
		   uint32_t layout_version);

/* Unmap and close. Safe on a zeroed struct. */
void region_close(struct region *r);

/* Reserve a named area of len bytes aligned to `align` (a power of two, at
 * least 64) and record it in the table of contents. Only the creator carves,
 * before it shares the region. Returns a pointer to the zeroed area or NULL
 * (out of space, table full, or a duplicate name). */
void *region_carve(struct region *r, const char *name, size_t len, size_t align);

/* Find a named area; *len (if not NULL) gets its length. Checks that the
 * recorded bounds lie inside the mapping: a corrupt table yields NULL, never
 * a pointer outside the region. */
void *region_find(const struct region *r, const char *name, size_t *len);

/* Translate between this process's pointers and region offsets. */
static inline void *region_ptr(const struct region *r, uint64_t off) { return r->base + off; }
static inline uint64_t region_off(const struct region *r, const void *p)
{
	return (uint64_t)((const uint8_t *)p - r->base);
}

/* Whether the machine currently has free 2 MB huge pages reserved. */
bool region_hugepages_available(void);

#endif /* RINGSTACK_SHM_REGION_H */
