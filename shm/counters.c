/* shm/counters.c — the generic half of named counters (see counters.h).
 *
 * Bumping is a macro in counters.h, on the data path; this file formats a set,
 * checks a foreign one before trusting its layout, and copies and prints
 * values for readers such as ctl/.
 */
#include "shm/counters.h"

#include <errno.h>
#include <inttypes.h>

uint32_t counters_names_hash(const struct counters_desc *desc, unsigned nr)
{
	uint32_t h = 2166136261u;                /* FNV-1a offset basis */

	for (unsigned i = 0; i < nr; i++) {
		/* Hash the terminating NUL too, so "AB","C" differs from "A","BC". */
		for (const char *c = desc[i].name;; c++) {
			h = (h ^ (uint8_t)*c) * 16777619u;   /* FNV prime */
			if (*c == '\0')
				break;
		}
	}
	return h;
}

void counters_init(struct counters_hdr *hdr, _Atomic uint64_t *v,
		   const struct counters_desc *desc, unsigned nr)
{
	hdr->magic = COUNTERS_MAGIC;
	hdr->version = COUNTERS_VERSION;
	hdr->nr = (uint16_t)nr;
	hdr->names_hash = counters_names_hash(desc, nr);
	hdr->reserved = 0;
	/* Relaxed: not shared yet (see the contract in counters.h). */
	for (unsigned i = 0; i < nr; i++)
		atomic_store_explicit(&v[i], 0, memory_order_relaxed);
}

int counters_check(const struct counters_hdr *hdr,
		   const struct counters_desc *desc, unsigned nr)
{
	if (hdr->magic != COUNTERS_MAGIC || hdr->version != COUNTERS_VERSION)
		return -EPROTO;
	if (hdr->nr != nr || hdr->names_hash != counters_names_hash(desc, nr))
		return -EPROTO;
	return 0;
}

void counters_snapshot(const _Atomic uint64_t *v, uint64_t *out, unsigned nr)
{
	/* Relaxed: counters order nothing else; each value is exact at the
	 * moment of its own load, which is all a reader is promised. */
	for (unsigned i = 0; i < nr; i++)
		out[i] = atomic_load_explicit(&v[i], memory_order_relaxed);
}

int counters_fprint(FILE *f, const char *prefix, const struct counters_desc *desc,
		    const uint64_t *val, unsigned nr, unsigned flags)
{
	const char *dot = prefix && *prefix ? "." : "";
	int lines = 0;

	if (!prefix)
		prefix = "";
	for (unsigned i = 0; i < nr; i++) {
		if ((flags & COUNTERS_SKIP_ZERO) && val[i] == 0)
			continue;
		if (fprintf(f, "%s%s%s %" PRIu64, prefix, dot, desc[i].name, val[i]) < 0)
			return -EIO;
		if ((flags & COUNTERS_WITH_TEXT) && fprintf(f, "  # %s", desc[i].text) < 0)
			return -EIO;
		if (fputc('\n', f) == EOF)
			return -EIO;
		lines++;
	}
	return lines;
}
