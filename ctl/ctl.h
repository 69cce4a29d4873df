/* ctl/ctl.h — the operator's CLI: shared between its files.
 *
 * Where it sits: beside the daemons, never in their way. ctl maps their
 * stats and state regions read-only (region_open_ro: PROT_READ, O_RDONLY)
 * and reads counters, histograms and TCP's connection table as they are
 * written, as `ss` and `nstat` read the kernel's: a value may be one update
 * behind, nothing is locked, no daemon is signalled.
 *
 *     ctl [-d RUN_DIR] stats [nicd|netd|sockd]   counters, drops by reason, latencies
 *     ctl [-d RUN_DIR] conns [-a]               TCP connections, like ss -ti
 *
 * Files: main.c (arguments, dispatch), stats.c (the three daemons' stats
 * regions), conns.c (netd's TCP state region).
 */
#ifndef RINGSTACK_CTL_CTL_H
#define RINGSTACK_CTL_CTL_H

#include <stdbool.h>
#include <stdio.h>

#include "shm/region.h"

/* Open RUN_DIR/NAME read-only as a region of kind and layout version;
 * on failure say why on stderr (naming what) and return -errno. */
int ctl_open(struct region *r, const char *run_dir, const char *name, enum region_kind kind,
	     unsigned layout_version, const char *what);

/* stats.c: print the counters (nonzero), drops and latency histograms of
 * the daemon named (NULL: all three). Returns 0, or 1 if one could not be
 * read (each failure said on stderr). */
int ctl_stats(FILE *f, const char *run_dir, const char *daemon);

/* conns.c: print netd's TCP connections, one line each (all: listeners
 * and TIME_WAIT too). Returns 0, or 1 if the state could not be read. */
int ctl_conns(FILE *f, const char *run_dir, bool all);

#endif /* RINGSTACK_CTL_CTL_H */
