/* sockd/stats.c — sockd's counters and gauges, and how they are shown.
 *
 * Where it sits: beside everything, in the way of nothing. The counters
 * (shm/sockd_layout.h: every refusal and drop by reason) and the gauges
 * (apps live and pending, netd present) live in the stats region
 * RUN_DIR/sockd.stats, which ctl/ maps read-only; SIGUSR1 and exit print
 * them to stderr. Only the loop's thread writes them (single writer).
 *
 * If the stats file cannot be made, sockd carries on with the same layout
 * on its heap: losing the live view is no reason to refuse every app.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sockd/sockd.h"

_Static_assert(SOCKD_CTR_NR <= 64, "sockd.logged has one bit per counter");

static int stats_file(struct sockd *sd)
{
	char path[PATH_MAX];
	struct region_opts o = { .name = "sockd.stats", .kind = REGION_KIND_STATS,
				 .layout_version = SOCKD_STATS_VERSION, .size = 3 * REGION_ALIGN,
				 .flags = REGION_F_NO_NUMA, .path = path };
	int err;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", sd->cfg.run_dir, SOCKD_STATS_FILE) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	unlink(path);            /* a previous sockd's: the run-dir lock is ours */
	if ((err = region_create(&sd->stats_region, &o)) < 0)
		return err;
	fchmod(sd->stats_region.fd, 0644);   /* counters are no secret: ctl/ need not be root */
	sd->ctr = region_carve(&sd->stats_region, SOCKD_AREA_CTR, sizeof(*sd->ctr), 64);
	sd->gauge = region_carve(&sd->stats_region, SOCKD_AREA_GAUGE, sizeof(*sd->gauge), 64);
	if (!sd->ctr || !sd->gauge) {
		region_close(&sd->stats_region);
		unlink(path);
		return -ENOSPC;
	}
	return 0;
}

int sockd_stats_open(struct sockd *sd)
{
	int err = stats_file(sd);

	if (err < 0) {
		sockd_log(SOCKD_WARN, "stats file in %s: %s; counters kept in memory only",
			  sd->cfg.run_dir, strerror(-err));
		sd->stats_heap = aligned_alloc(64, sizeof(*sd->ctr) + 64);
		if (!sd->stats_heap)
			return -ENOMEM;
		memset(sd->stats_heap, 0, sizeof(*sd->ctr) + 64);
		sd->ctr = sd->stats_heap;
		sd->gauge = (struct sockd_gauges *)((char *)sd->stats_heap + sizeof(*sd->ctr));
	}
	sockd_counters_init(sd->ctr);
	return 0;
}

void sockd_stats_close(struct sockd *sd)
{
	region_close(&sd->stats_region);    /* the file stays: ctl/ may read the last values */
	free(sd->stats_heap);
	sd->stats_heap = NULL;
	sd->ctr = NULL;
	sd->gauge = NULL;
}

void sockd_stats_print(struct sockd *sd, FILE *f)
{
	uint64_t v[SOCKD_CTR_NR];

	sockd_counters_snapshot(sd->ctr, v);
	fprintf(f, "<6>sockd: counters (apps live %u, pending %u, netd %s):\n",
		atomic_load_explicit(&sd->gauge->apps_live, memory_order_relaxed),
		atomic_load_explicit(&sd->gauge->apps_pending, memory_order_relaxed),
		sd->netd.fd >= 0 ? "connected" : "not connected");
	counters_fprint(f, "<6>sockd", sockd_counters_desc(), v, SOCKD_CTR_NR, 0);
	fflush(f);
}

void sockd_bad(struct sockd *sd, enum sockd_counter c, const char *fmt, ...)
{
	va_list ap;

	COUNTER_INC(sd->ctr, c);
	if (sd->logged & (1ull << c))
		return;
	sd->logged |= 1ull << c;
	fprintf(stderr, "<%d>sockd: ", SOCKD_WARN);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (first of its kind; the rest are counted as %s)\n",
		sockd_counters_desc()[c].name);
}

void sockd_gauges_update(struct sockd *sd)
{
	uint32_t live = 0, pending = 0;

	for (unsigned i = 0; i < sd->nslots; i++) {
		live += sd->apps[i].state == SOCKD_SLOT_LIVE;
		pending += sd->apps[i].state == SOCKD_SLOT_PENDING;
	}
	atomic_store_explicit(&sd->gauge->apps_live, live, memory_order_relaxed);
	atomic_store_explicit(&sd->gauge->apps_pending, pending, memory_order_relaxed);
	atomic_store_explicit(&sd->gauge->netd_connected, sd->netd.fd >= 0, memory_order_relaxed);
	atomic_store_explicit(&sd->gauge->netd_pid, sd->netd.fd >= 0 ? sd->netd.pid : 0,
			      memory_order_relaxed);
}
