/* sockd/app_region.c — building one application's region.
 *
 * Where it sits: at admission, once per app. The region (shm/app_layout.h)
 * is a sealed memfd that sockd creates and formats, then hands to netd and
 * to the app; sockd itself never reads it again (netd trusts the geometry
 * in app_attach, never app.ctl's copy).
 *
 *     page 0     region header (shm/region.h)
 *     app.ctl    struct app_ctl: ids, geometry, the two doorbells
 *     app.cmd    ring of APP_CMD_RING struct app_cmd  (app -> netd)
 *     app.cpl    ring of APP_CPL_RING struct app_cpl  (netd -> app)
 *     app.socks  struct app_sock[nsocks]
 *     app.bufs   2 * nsocks byte rings of APP_BUF_SIZE (rx, tx per socket)
 *
 * Every area starts on a page. The memfd is sparse: only the pages written
 * here (header, ctl, ring headers) cost memory until the app and netd touch
 * socket buffers, so 256 sockets' 128 MiB of buffers cost nothing up front.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "shm/doorbell.h"
#include "shm/ring.h"
#include "sockd/sockd.h"

#define AREA_ALIGN REGION_ALIGN

struct app_geom {
	size_t ctl, cmd, cpl, socks, bufs;
	size_t total;
};

static size_t align_up(size_t v)
{
	return (v + AREA_ALIGN - 1) / AREA_ALIGN * AREA_ALIGN;
}

static void geom_of(unsigned nsocks, struct app_geom *g)
{
	g->ctl = sizeof(struct app_ctl);
	g->cmd = ring_bytes(APP_CMD_RING, sizeof(struct app_cmd));
	g->cpl = ring_bytes(APP_CPL_RING, sizeof(struct app_cpl));
	g->socks = (size_t)nsocks * sizeof(struct app_sock);
	g->bufs = (size_t)nsocks * 2 * APP_BUF_SIZE;
	g->total = REGION_ALIGN + align_up(g->ctl) + align_up(g->cmd) + align_up(g->cpl) +
		   align_up(g->socks) + align_up(g->bufs);
}

static void ctl_fill(struct app_ctl *ctl, const struct sockd_app *a, unsigned nsocks)
{
	ctl->version = APP_LAYOUT_VERSION;
	ctl->app_id = a->app_id;
	ctl->pid = a->pid;
	ctl->uid = a->uid;
	ctl->nsocks = nsocks;
	ctl->buf_size = APP_BUF_SIZE;
	ctl->flags = a->flags;
	doorbell_init(&ctl->wake);
	doorbell_init(&ctl->netd);
	/* No peer sees the region before sockd sends its fd, and sendmsg orders
	 * everything before it: no release store is needed for the magic. */
	ctl->magic = APP_CTL_MAGIC;
}

/* Carve and format every area of r. 0 or -ENOSPC / -EINVAL. */
static int carve_all(struct region *r, const struct app_geom *g, const struct sockd_app *a,
		     unsigned nsocks)
{
	struct app_ctl *ctl = region_carve(r, APP_AREA_CTL, g->ctl, AREA_ALIGN);
	void *cmd = region_carve(r, APP_AREA_CMD, g->cmd, AREA_ALIGN);
	void *cpl = region_carve(r, APP_AREA_CPL, g->cpl, AREA_ALIGN);
	void *socks = region_carve(r, APP_AREA_SOCKS, g->socks, AREA_ALIGN);
	void *bufs = region_carve(r, APP_AREA_BUFS, g->bufs, AREA_ALIGN);

	if (!ctl || !cmd || !cpl || !socks || !bufs)
		return -ENOSPC;
	if (ring_init(cmd, APP_CMD_RING, sizeof(struct app_cmd)) < 0 ||
	    ring_init(cpl, APP_CPL_RING, sizeof(struct app_cpl)) < 0)
		return -EINVAL;
	/* app.socks is already zero: every socket APP_SOCK_FREE, rings empty */
	ctl_fill(ctl, a, nsocks);
	return 0;
}

int sockd_region_build(struct sockd_app *a, unsigned nsocks)
{
	char name[REGION_NAME_MAX];
	struct app_geom g;
	struct region_opts o = {
		.name = name, .kind = REGION_KIND_APP, .layout_version = APP_LAYOUT_VERSION,
		/* no NUMA binding: the app's and netd's first touch should place
		 * the buffers, not the node sockd happens to run on */
		.flags = REGION_F_NO_NUMA,
	};
	int err;

	geom_of(nsocks, &g);
	o.size = g.total;
	snprintf(name, sizeof(name), "ringstack-app-%u", a->app_id);
	if ((err = region_create(&a->region, &o)) < 0)
		return err;
	if ((err = carve_all(&a->region, &g, a, nsocks)) < 0)
		region_close(&a->region);
	return err;
}
