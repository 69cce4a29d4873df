/* nicd/region.c — the pool region: create and format it, or re-attach it
 * after a restart and take back what the dead nicd held.
 *
 * Where it sits: before the first frame. The region (shm/nic_layout.h) holds
 * the pkb pool every frame lives in and the rings and doorbells between nicd
 * and netd. It is a file, RUN_DIR/nicd.pool, so that a nicd killed and
 * started again finds it where netd still has it mapped: frames in the rings
 * survive, and netd carries on once it has the new nicd's eventfd.
 *
 * Memory: the file must be shared memory (tmpfs or hugetlbfs), never a disk
 * file (see backing_dir). On tmpfs, huge pages come only through transparent
 * huge pages (MADV_HUGEPAGE, honoured when the system's shmem_enabled allows
 * it). When a hugetlbfs is mounted with enough free 2 MB pages, the region is
 * created there and RUN_DIR/nicd.pool is a symbolic link to it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mntent.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "nicd/nicd.h"

#define HUGE_2MB   (2u << 20)

/* Bytes every area needs, with alignment slack, for this configuration. */
static size_t region_bytes(const struct nicd_config *c)
{
	size_t ring = ring_bytes(c->ring_size, NIC_DESC_SIZE);
	size_t n = REGION_ALIGN;

	n += sizeof(struct nic_ctl) + 64;
	n += pkb_pool_bytes(c->nslots, NIC_BUF_SIZE_DEF) + 4096;
	n += (size_t)c->queues * 2 * (ring + 128);
	n += (size_t)(c->queues + 1) * (DOORBELL_SIZE + 128);
	n += sizeof(struct nic_stats) + 64;
	n += sizeof(struct nic_own) + 64;
	return n;
}

static void area_name(char *buf, const char *fmt, unsigned q)
{
	snprintf(buf, REGION_AREA_NAME, fmt, q);
}

/* Carve and format every area of a new region. Returns 0 or -ENOSPC. */
static int region_format(struct region *r, const struct nicd_config *c)
{
	size_t ring = ring_bytes(c->ring_size, NIC_DESC_SIZE);
	size_t pool_len = pkb_pool_bytes(c->nslots, NIC_BUF_SIZE_DEF);
	struct pkb_pool pool;
	struct nic_ctl *ctl;
	struct nic_stats *st;
	struct nic_own *own;
	char name[REGION_AREA_NAME];
	void *p;

	ctl = region_carve(r, NIC_AREA_CTL, sizeof(*ctl), 64);
	/* page-aligned: io_uring registers this memory as one fixed buffer */
	p = region_carve(r, NIC_AREA_POOL, pool_len, 4096);
	if (!ctl || !p || pkb_pool_format(&pool, p, pool_len, c->nslots, NIC_BUF_SIZE_DEF) < 0)
		return -ENOSPC;
	for (unsigned q = 0; q < c->queues; q++) {
		const char *fmts[2] = { NIC_AREA_RX_FMT, NIC_AREA_TX_FMT };

		for (unsigned k = 0; k < 2; k++) {
			area_name(name, fmts[k], q);
			p = region_carve(r, name, ring, 128);
			if (!p || ring_init(p, c->ring_size, NIC_DESC_SIZE) < 0)
				return -ENOSPC;
		}
		area_name(name, NIC_AREA_RXDB_FMT, q);
		p = region_carve(r, name, DOORBELL_SIZE, 128);
		if (!p || doorbell_init(p) < 0)
			return -ENOSPC;
	}
	p = region_carve(r, NIC_AREA_TXDB, DOORBELL_SIZE, 128);
	st = region_carve(r, NIC_AREA_STATS, sizeof(*st), 64);
	own = region_carve(r, NIC_AREA_OWN, sizeof(*own), 64);
	if (!p || doorbell_init(p) < 0 || !st || !own)
		return -ENOSPC;
	nicd_counters_init(&st->ctr);
	hist_init(&st->rx_batch);
	hist_init(&st->tx_residence);
	memset(own, 0xff, sizeof(*own));          /* every entry PKB_NONE */
	*ctl = (struct nic_ctl){ .version = NIC_LAYOUT_VERSION, .nqueues = c->queues,
				 .ring_size = c->ring_size, .nslots = c->nslots,
				 .buf_size = pool.buf_size };
	ctl->magic = NIC_CTL_MAGIC;               /* last: a complete block */
	return 0;
}

static void region_unlink(const char *path);

/* The hugetlbfs mount point, if one is mounted, into buf. */
static bool hugetlbfs_mount(char *buf, size_t len)
{
	FILE *f = setmntent("/proc/mounts", "re");
	struct mntent *m;
	bool found = false;

	if (!f)
		return false;
	while (!found && (m = getmntent(f)) != NULL) {
		if (strcmp(m->mnt_type, "hugetlbfs") == 0 &&
		    (size_t)snprintf(buf, len, "%s", m->mnt_dir) < len)
			found = true;
	}
	endmntent(f);
	return found;
}

/* Whether the hugetlbfs at dir uses 2 MB pages and enough of them are free
 * for bytes (the pool of free pages is the system's, shared by all mounts). */
static bool hugetlbfs_has_room(const char *dir, size_t bytes)
{
	FILE *f = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "re");
	unsigned long free_pages = 0;
	struct statfs s;

	if (f) {
		if (fscanf(f, "%lu", &free_pages) != 1)
			free_pages = 0;
		fclose(f);
	}
	if (statfs(dir, &s) < 0 || (size_t)s.f_bsize != HUGE_2MB)
		return false;
	return free_pages * HUGE_2MB >= bytes;
}

/* The region's file outside the run directory: named after the run
 * directory, so that each run directory has one and a new one replaces it. */
static void backing_name(char *buf, size_t len, const char *hdir, const char *run_dir)
{
	size_t n = (size_t)snprintf(buf, len, "%s/ringstack-nicd", hdir);

	for (const char *s = run_dir; *s && n + 8 < len; s++)
		buf[n++] = *s == '/' ? '_' : *s;
	snprintf(buf + n, len - n, ".pool");
}

/* Create the region file at path; returns 0 or -errno. */
static int region_make(struct region *r, const char *path, size_t size, bool huge)
{
	struct region_opts o = { .name = "nicd.pool", .kind = REGION_KIND_POOL,
				 .layout_version = NIC_LAYOUT_VERSION, .size = size,
				 .path = path };
	int err;

	unlink(path);
	err = region_create(r, &o);
	if (err < 0)
		return err;
	if (huge)
		r->hdr->flags |= REGION_F_HUGE;
	else
		madvise(r->base, r->size, MADV_HUGEPAGE);   /* THP on tmpfs, if allowed */
	r->huge = huge;
	return 0;
}

/* Where the region's memory lives. The file must be shared memory, not a
 * disk file: a disk file would be written back to disk, and io_uring
 * refuses to register its pages. In order of preference: hugetlbfs with
 * room (2 MB pages), the run directory if it is tmpfs, /dev/shm. Anywhere
 * but the run directory, RUN_DIR/nicd.pool is a symbolic link to the file.
 * Returns the directory in dir (empty: the run directory itself). */
static bool backing_dir(const struct nicd *nd, char *dir, size_t len, size_t *size)
{
	struct statfs s;
	size_t hsize = (*size + HUGE_2MB - 1) / HUGE_2MB * HUGE_2MB;

	if (!nd->cfg.no_huge && hugetlbfs_mount(dir, len) && hugetlbfs_has_room(dir, hsize)) {
		*size = hsize;
		return true;
	}
	dir[0] = '\0';
	if (statfs(nd->cfg.run_dir, &s) == 0 && s.f_type == TMPFS_MAGIC)
		return false;
	if (statfs("/dev/shm", &s) == 0 && s.f_type == TMPFS_MAGIC)
		snprintf(dir, len, "/dev/shm");
	return false;
}

/* Create the region at tmp, or in dir with a link at tmp. */
static int region_place(struct nicd *nd, const char *tmp, const char *dir, size_t size, bool huge)
{
	char file[PATH_MAX];
	int err;

	unlink(tmp);
	if (dir[0] == '\0')
		return region_make(&nd->region, tmp, size, false);
	backing_name(file, sizeof(file), dir, nd->cfg.run_dir);
	err = region_make(&nd->region, file, size, huge);
	if (err == 0 && symlink(file, tmp) < 0) {
		err = -errno;
		region_close(&nd->region);
		unlink(file);
	}
	return err;
}

/* Create and format a new region. It is built under a temporary name and
 * renamed into place, so a crash while formatting never leaves a
 * half-formatted pool where the next nicd would attach it. */
static int region_new(struct nicd *nd, const char *path)
{
	size_t size = region_bytes(&nd->cfg);
	char tmp[PATH_MAX + 8], dir[256];
	bool huge = backing_dir(nd, dir, sizeof(dir), &size);
	int err;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	err = region_place(nd, tmp, dir, size, huge);
	if (err < 0 && huge) {
		nicd_log(NICD_WARN, "huge pages at %s: %s; using normal pages", dir, strerror(-err));
		huge = false;
		size = region_bytes(&nd->cfg);
		snprintf(dir, sizeof(dir), "/dev/shm");
		err = region_place(nd, tmp, dir, size, false);
	}
	if (err < 0)
		return err;
	err = region_format(&nd->region, &nd->cfg);
	if (err == 0 && rename(tmp, path) < 0)
		err = -errno;
	if (err < 0) {
		region_close(&nd->region);
		region_unlink(tmp);
		return err;
	}
	nicd_log(NICD_INFO, "created %s%s%s: %zu bytes, %u slots, %s pages", path,
		 dir[0] ? " -> " : "", dir, nd->region.size, nd->cfg.nslots,
		 huge ? "2 MB huge" : "normal");
	return 0;
}

/* Remove an old region file (and its target, if it is a link). */
static void region_unlink(const char *path)
{
	char target[PATH_MAX];
	ssize_t n = readlink(path, target, sizeof(target) - 1);

	if (n > 0) {
		target[n] = '\0';
		unlink(target);
	}
	unlink(path);
}

/* Whether an existing region was made for this configuration. */
static int ctl_matches(const struct nic_ctl *ctl, const struct nicd_config *c)
{
	if (ctl->magic != NIC_CTL_MAGIC || ctl->version != NIC_LAYOUT_VERSION)
		return -EPROTO;
	if (ctl->nqueues != c->queues || ctl->ring_size != c->ring_size ||
	    ctl->nslots != c->nslots)
		return -ESTALE;
	return 0;
}

/* Find the areas every nicd needs and check them. Returns 0 or -EPROTO. */
static int region_bind(struct nicd *nd)
{
	struct region *r = &nd->region;
	size_t len;
	void *p;

	nd->ctl = region_find(r, NIC_AREA_CTL, &len);
	if (!nd->ctl || len < sizeof(*nd->ctl) || ctl_matches(nd->ctl, &nd->cfg) < 0)
		return -EPROTO;
	p = region_find(r, NIC_AREA_POOL, &len);
	if (!p || pkb_pool_attach(&nd->pool, p, len) < 0)
		return -EPROTO;
	nd->stats = region_find(r, NIC_AREA_STATS, &len);
	if (!nd->stats || len < sizeof(*nd->stats) || nicd_counters_check(&nd->stats->ctr) < 0)
		return -EPROTO;
	nd->ctr = &nd->stats->ctr;
	nd->own = region_find(r, NIC_AREA_OWN, &len);
	nd->txdb = region_find(r, NIC_AREA_TXDB, &len);
	if (!nd->own || len < DOORBELL_SIZE || doorbell_validate(nd->txdb) < 0)
		return -EPROTO;
	return 0;
}

/* Attach queue q's ring views and doorbell. A ring whose indices are
 * impossible is attached corrupt (it moves nothing; counted), not fatal. */
static int region_bind_queue(struct nicd *nd, unsigned q)
{
	struct nicd_queue *nq = &nd->q[q];
	char name[REGION_AREA_NAME];
	size_t len;
	void *p;
	int err;

	area_name(name, NIC_AREA_RX_FMT, q);
	p = region_find(&nd->region, name, &len);
	err = p ? ring_prod_attach(&nq->rx, p, len, nd->cfg.ring_size, NIC_DESC_SIZE) : -EPROTO;
	if (err == 0 || err == -EBADMSG) {
		area_name(name, NIC_AREA_TX_FMT, q);
		p = region_find(&nd->region, name, &len);
		err = p ? ring_cons_attach(&nq->tx, p, len, nd->cfg.ring_size, NIC_DESC_SIZE)
			: -EPROTO;
	}
	if (err == -EBADMSG) {
		nicd_log(NICD_ERR, "queue %u: ring indices corrupt; queue disabled", q);
		COUNTER_INC(nd->ctr, NICD_RING_CORRUPT);
		err = 0;
	}
	area_name(name, NIC_AREA_RXDB_FMT, q);
	nq->rxdb = region_find(&nd->region, name, &len);
	if (err == 0 && (!nq->rxdb || len < DOORBELL_SIZE || doorbell_validate(nq->rxdb) < 0))
		err = -EPROTO;
	nq->own = &nd->own->q[q];
	return err;
}

/* Free one slot a dead nicd held. Its entry is cleared first: the order
 * that makes a crash now leak the slot rather than free it twice. */
static bool reclaim_one(struct nicd *nd, uint32_t *entry)
{
	uint32_t s = *entry;
	struct pkb *b;

	if (s == PKB_NONE)
		return false;
	*entry = PKB_NONE;
	b = pkb_at(&nd->pool, s);
	if (!b || b->state != PKB_STATE_LIVE)
		return false;
	pkb_free(&nd->cache, b);
	return true;
}

/* Free every slot recorded in nic.own. */
static unsigned own_release(struct nicd *nd)
{
	unsigned n = 0;

	for (unsigned q = 0; q < NIC_QUEUES_MAX; q++) {
		for (unsigned i = 0; i < NIC_RX_WINDOW_MAX; i++)
			n += reclaim_one(nd, &nd->own->q[q].rx[i]);
		for (unsigned i = 0; i < NIC_TX_WINDOW_MAX; i++)
			n += reclaim_one(nd, &nd->own->q[q].tx[i]);
	}
	return n;
}

/* Take back every slot recorded in nic.own (reads and writes the dead nicd
 * had in flight). Slots in its pkb cache cannot be known and stay lost: at
 * most PKB_CACHE_MAX per restart, said in docs/NICD.md. */
static unsigned region_reclaim(struct nicd *nd)
{
	unsigned n = own_release(nd);

	COUNTER_ADD(nd->ctr, NICD_RECLAIMED, n);
	return n;
}

/* Attach an existing region at path; -EPROTO/-ESTALE when it is not one
 * this nicd can use (another layout or another geometry). */
static int region_reattach(struct nicd *nd, const char *path)
{
	int err = region_open(&nd->region, path, REGION_KIND_POOL, NIC_LAYOUT_VERSION);
	const struct nic_ctl *ctl;

	if (err < 0)
		return err;
	ctl = region_find(&nd->region, NIC_AREA_CTL, NULL);
	err = ctl ? ctl_matches(ctl, &nd->cfg) : -EPROTO;
	if (err == -ESTALE)
		nicd_log(NICD_WARN, "%s has %u queues, %u-slot rings, %u buffers; asked for %u, %u, %u",
			 path, ctl->nqueues, ctl->ring_size, ctl->nslots,
			 nd->cfg.queues, nd->cfg.ring_size, nd->cfg.nslots);
	if (err < 0)
		region_close(&nd->region);
	return err;
}

int nicd_region_open(struct nicd *nd)
{
	char path[PATH_MAX];
	bool attached = false;
	int err = -ENOENT;

	snprintf(path, sizeof(path), "%s/%s", nd->cfg.run_dir, NIC_POOL_FILE);
	if (!nd->cfg.fresh)
		err = region_reattach(nd, path);
	if (err == 0) {
		attached = true;
	} else {
		if (err != -ENOENT)
			nicd_log(NICD_WARN, "%s: %s; formatting a new region", path,
				 err == -ESTALE ? "other geometry" : strerror(-err));
		region_unlink(path);
		if ((err = region_new(nd, path)) < 0)
			return err;
	}
	err = region_bind(nd);
	for (unsigned q = 0; err == 0 && q < nd->cfg.queues; q++)
		err = region_bind_queue(nd, q);
	if (err < 0) {
		nicd_log(NICD_ERR, "%s: areas missing or damaged", path);
		region_close(&nd->region);
		return err;
	}
	pkb_cache_init(&nd->cache, &nd->pool);
	/* The beat first: a peer watching the old generation's beat stall must
	 * not read the dead nicd's last one under the new generation. The
	 * release fence orders the two stores for a reader that loads
	 * generation, then (after an acquire fence) heartbeat_ns. */
	atomic_store_explicit(&nd->ctl->heartbeat_ns, nicd_now_ns(), memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	nd->ctl->generation++;
	nd->ctl->nicd_pid = (uint32_t)getpid();
	nd->ctl->backend = nd->cfg.backend;
	if (attached)
		nicd_log(NICD_INFO, "re-attached %s (generation %u): took back %u slots, %u free in the pool",
			 path, nd->ctl->generation, region_reclaim(nd), pkb_pool_free_count(&nd->pool));
	return 0;
}

void nicd_region_release(struct nicd *nd)
{
	if (!nd->region.base)
		return;
	if (nd->own)
		own_release(nd);
	pkb_cache_flush(&nd->cache);
}

void nicd_region_close(struct nicd *nd)
{
	nicd_region_release(nd);
	region_close(&nd->region);
}
