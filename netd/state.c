/* netd/state.c — netd's two regions: the TCP state that outlives a netd
 * process, and the stats region ctl/ reads.
 *
 * Where it sits: before the first frame. RUN_DIR/netd.state holds one
 * struct tcp_stack per engine (shm/netd_layout.h): every connection, its
 * timers and its byte buffers, with no pointers inside, so a netd started
 * after a crash re-attaches it (tcp_stack_attach) and its connections carry
 * on; TCP's retransmissions cover the frames lost in the gap. Only when the
 * file is missing, was made for another number of engines, or fails TCP's
 * own checks is it formatted anew. RUN_DIR/netd.stats is made afresh by
 * every netd process.
 *
 * Files must be shared memory (tmpfs), never a disk file that the kernel
 * would write back: when the run directory is not tmpfs, the file lives in
 * /dev/shm, named after the run directory, and RUN_DIR/NAME links to it (as
 * nicd does for its pool). A new file is built under NAME.new and renamed
 * into place once complete, so no reader or restarted netd ever maps a
 * half-formatted one.
 */
#include <errno.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "netd/netd.h"

/* The region file NAME's path in the run directory (link) and where its
 * memory lives (real: the same path on tmpfs, else a file in /dev/shm). */
static void region_paths(const struct netd *nd, const char *name, char *link, char *real,
			 size_t len)
{
	const char *dir = nd->cfg.run_dir;
	struct statfs s;
	size_t n;

	snprintf(link, len, "%s/%s", dir, name);
	if ((statfs(dir, &s) == 0 && s.f_type == TMPFS_MAGIC) ||
	    statfs("/dev/shm", &s) < 0 || s.f_type != TMPFS_MAGIC) {
		snprintf(real, len, "%s", link);
		return;
	}
	n = (size_t)snprintf(real, len, "/dev/shm/ringstack");
	for (const char *c = dir; *c && n + 2 < len; c++)
		real[n++] = *c == '/' ? '_' : *c;
	snprintf(real + n, len - n, ".%s", name);
}

/* Create an empty region for NAME under its temporary name. */
static int region_fresh(const struct netd *nd, struct region *r, const char *name,
			enum region_kind kind, uint32_t version, size_t size)
{
	char link[PATH_MAX], real[PATH_MAX], tmp[PATH_MAX + 8];
	struct region_opts o = { .name = name, .kind = kind, .layout_version = version,
				 .size = size, .path = tmp };

	region_paths(nd, name, link, real, sizeof(link));
	snprintf(tmp, sizeof(tmp), "%s.new", real);
	unlink(tmp);
	return region_create(r, &o);
}

/* Rename the region built by region_fresh into place (and link it). */
static int region_commit(const struct netd *nd, const char *name)
{
	char link[PATH_MAX], real[PATH_MAX], tmp[PATH_MAX + 8];

	region_paths(nd, name, link, real, sizeof(link));
	snprintf(tmp, sizeof(tmp), "%s.new", real);
	if (rename(tmp, real) < 0)
		return -errno;
	if (strcmp(link, real) == 0)
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.new", link);
	unlink(tmp);
	if (symlink(real, tmp) < 0 || rename(tmp, link) < 0)
		return -errno;
	return 0;
}

/* ---------------------------------------------------------- TCP state */

static void tcp_cfg(const struct netd *nd, struct tcp_config *tc)
{
	tcp_config_default(tc);
	if (nd->cfg.max_conns)
		tc->max_conns = nd->cfg.max_conns;
	if (nd->cfg.tcp_buf)
		tc->sndbuf = tc->rcvbuf = nd->cfg.tcp_buf;
	tc->mtu = nd->cfg.stack.mtu ? nd->cfg.stack.mtu :
		  nd->pm && nd->pm->ctl->mtu >= 576 ? (uint16_t)nd->pm->ctl->mtu : 1500;
	if (getrandom(tc->secret, sizeof(tc->secret), 0) != sizeof(tc->secret))
		tc->secret[1] = netd_now_ns() ^ (uint64_t)getpid();
}

/* Re-attach an existing state region. Returns 0 or -errno (-ENOENT: none;
 * -ESTALE: not usable by this configuration). */
static int state_reattach(struct netd *nd)
{
	char link[PATH_MAX], real[PATH_MAX], name[REGION_AREA_NAME];
	int err;

	region_paths(nd, NETD_STATE_FILE, link, real, sizeof(link));
	err = region_open(&nd->state, link, REGION_KIND_NETD, NETD_STATE_VERSION);
	if (err < 0)
		return err;
	for (unsigned q = 0; q <= nd->nengines && err == 0; q++) {
		size_t len;
		void *mem;

		snprintf(name, sizeof(name), NETD_AREA_TCP_FMT, q);
		mem = region_find(&nd->state, name, &len);
		if (q == nd->nengines)
			err = mem ? -ESTALE : 0;         /* made for more engines */
		else if (!mem || !(nd->eng[q].tcp = tcp_stack_attach(mem, len)))
			err = -ESTALE;
	}
	if (err < 0)
		region_close(&nd->state);
	return err;
}

/* Format a new state region with one TCP stack per engine. */
static int state_format(struct netd *nd)
{
	struct tcp_config tc;
	size_t bytes, size;
	char name[REGION_AREA_NAME];
	int err;

	tcp_cfg(nd, &tc);
	if ((bytes = tcp_stack_bytes(&tc)) == 0)
		return -EINVAL;
	bytes = (bytes + REGION_ALIGN - 1) & ~(size_t)(REGION_ALIGN - 1);
	size = REGION_ALIGN + nd->nengines * (bytes + REGION_ALIGN);
	err = region_fresh(nd, &nd->state, NETD_STATE_FILE, REGION_KIND_NETD,
			   NETD_STATE_VERSION, size);
	for (unsigned q = 0; err == 0 && q < nd->nengines; q++) {
		void *mem;

		snprintf(name, sizeof(name), NETD_AREA_TCP_FMT, q);
		mem = region_carve(&nd->state, name, bytes, REGION_ALIGN);
		if (!mem || !(nd->eng[q].tcp = tcp_stack_format(mem, bytes, &tc, netd_now_ns())))
			err = -ENOSPC;
	}
	if (err == 0)
		err = region_commit(nd, NETD_STATE_FILE);
	if (err < 0)
		region_close(&nd->state);
	return err;
}

int netd_state_open(struct netd *nd)
{
	int err = nd->cfg.fresh_state ? -ENOENT : state_reattach(nd);
	uint32_t conns = 0;

	if (err == 0) {
		nd->tcp_origin = NETD_TCP_ATTACHED;
		for (unsigned q = 0; q < nd->nengines; q++)
			conns += tcp_conn_count(nd->eng[q].tcp);
		netd_log(NETD_INFO, "re-attached the TCP state in %s/%s: %u connection(s)",
			 nd->cfg.run_dir, NETD_STATE_FILE, conns);
		return 0;
	}
	if (err != -ENOENT)
		netd_log(NETD_WARN, "%s/%s: %s; formatting a new TCP state", nd->cfg.run_dir,
			 NETD_STATE_FILE, err == -ESTALE ? "made for another configuration"
							 : strerror(-err));
	if ((err = state_format(nd)) < 0)
		return err;
	nd->tcp_origin = NETD_TCP_FORMATTED;
	netd_log(NETD_INFO, "formatted the TCP state in %s/%s: %zu MiB (sparse) for %u engine(s)",
		 nd->cfg.run_dir, NETD_STATE_FILE, nd->state.size >> 20, nd->nengines);
	return 0;
}

/* ---------------------------------------------------------------- stats */

static void stats_info(struct netd *nd, struct netd_info *in)
{
	const struct stack_config *sc = &nd->cfg.stack;

	netd_ctl_counters_init(&in->ctr);
	in->version = NETD_LAYOUT_VERSION;
	in->pid = (uint32_t)getpid();
	in->nengines = nd->nengines;
	in->started_ns = netd_now_ns();
	in->tcp_origin = nd->tcp_origin;
	in->addr = sc->addr;
	memcpy(in->mac, sc->mac, sizeof(in->mac));
	in->mtu = sc->mtu;
	in->prefix_len = sc->prefix_len;
	in->magic = NETD_INFO_MAGIC;        /* last: a complete block (shared after rename) */
}

int netd_stats_open(struct netd *nd)
{
	size_t size = 2 * REGION_ALIGN + nd->nengines * (sizeof(struct netd_engine_stats) + 64);
	char name[REGION_AREA_NAME];
	int err;

	err = region_fresh(nd, &nd->stats, NETD_STATS_FILE, REGION_KIND_STATS,
			   NETD_LAYOUT_VERSION, size);
	if (err < 0)
		return err;
	nd->info = region_carve(&nd->stats, NETD_AREA_INFO, sizeof(*nd->info), 64);
	for (unsigned q = 0; q < nd->nengines && nd->info; q++) {
		snprintf(name, sizeof(name), NETD_AREA_ENGINE_FMT, q);
		nd->eng[q].st = region_carve(&nd->stats, name, sizeof(struct netd_engine_stats), 64);
		if (!nd->eng[q].st)
			nd->info = NULL;
		else
			netd_stats_format(nd->eng[q].st, q);
	}
	if (!nd->info)
		err = -ENOSPC;
	else
		stats_info(nd, nd->info);
	if (err == 0)
		err = region_commit(nd, NETD_STATS_FILE);
	if (err < 0) {
		region_close(&nd->stats);
		nd->info = NULL;
	}
	return err;
}

void netd_state_close(struct netd *nd)
{
	region_close(&nd->state);
	region_close(&nd->stats);
	nd->info = NULL;
}
