/* ctl/main.c — arguments and dispatch (ctl/ctl.h has the commands). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl.h"

#define CTL_RUN_DIR_DEFAULT "/run/ringstack"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ctl [-d RUN_DIR] COMMAND\n"
		"  stats [nicd|netd|sockd]  counters (nonzero), drops by reason, latency\n"
		"                           histograms, read live from the stats regions\n"
		"  conns [-a]               netd's TCP connections, like ss -ti (-a: with\n"
		"                           listeners and TIME_WAIT)\n"
		"  -d RUN_DIR               the daemons' run directory (default %s,\n"
		"                           or $RINGSTACK_RUN_DIR)\n",
		CTL_RUN_DIR_DEFAULT);
}

int ctl_open(struct region *r, const char *run_dir, const char *name, enum region_kind kind,
	     unsigned layout_version, const char *what)
{
	char path[512];
	int err;

	snprintf(path, sizeof(path), "%s/%s", run_dir, name);
	err = region_open_ro(r, path, kind, layout_version);
	if (err == -EPROTO)
		fprintf(stderr, "ctl: %s (%s): written by another version (layout %u expected)\n",
			what, path, layout_version);
	else if (err < 0)
		fprintf(stderr, "ctl: %s (%s): %s\n", what, path, strerror(-err));
	return err;
}

int main(int argc, char **argv)
{
	const char *run_dir = getenv("RINGSTACK_RUN_DIR");
	int c;

	if (!run_dir || !*run_dir)
		run_dir = CTL_RUN_DIR_DEFAULT;
	while ((c = getopt(argc, argv, "+d:h")) != -1) {
		switch (c) {
		case 'd': run_dir = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[optind], "stats") && argc - optind <= 2)
		return ctl_stats(stdout, run_dir, argc - optind == 2 ? argv[optind + 1] : NULL);
	if (!strcmp(argv[optind], "conns") && argc - optind <= 2) {
		bool all = argc - optind == 2 && !strcmp(argv[optind + 1], "-a");

		if (argc - optind == 2 && !all) {
			usage(stderr);
			return 2;
		}
		return ctl_conns(stdout, run_dir, all);
	}
	usage(stderr);
	return 2;
}
