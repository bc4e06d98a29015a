/* A feed in debsecan's format (what /usr/bin/debsecan reads from
 * --source URL/SUITE): zlib-compressed text,
 *
 *   VERSION 1
 *   NAME,,DESCRIPTION            one per vulnerability, numbered from 0
 *   (blank line)
 *   PACKAGE,NUMBER,FLAGS,FIXED,OTHER-FIXED
 *   (blank line)
 *   SOURCE,BINARIES               (none written: only for its "obsolete" note)
 *   (blank line)
 *
 * FLAGS are four characters: 'B' for a binary package (else ' '), the
 * urgency (' ', 'L', 'M', 'H'), remote ('R', ' ' local, '?' unknown),
 * 'F' when a fix is available. debsecan finds a package vulnerable when
 * its version (the source's for a source package) is before FIXED, or
 * always when FIXED is empty: our matching, except that its format has
 * no introduced version (an advisory with one is written as affecting
 * every version before its fix). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "lib/vet/feed-internal.h"
#include "rain/error.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

static char urgency_letter(enum rain_vet_urgency u)
{
	switch (u) {
	case RAIN_VET_URGENCY_LOW:
		return 'L';
	case RAIN_VET_URGENCY_MEDIUM:
		return 'M';
	case RAIN_VET_URGENCY_HIGH:
	case RAIN_VET_URGENCY_CRITICAL:
		return 'H';
	default:
		return ' ';
	}
}

static char scope_letter(enum rain_vet_scope s)
{
	return s == RAIN_VET_SCOPE_REMOTE ? 'R' : s == RAIN_VET_SCOPE_LOCAL ? ' ' : '?';
}

struct id_index {
	const char *id;
	size_t adv;     /* the first advisory with this id */
};

static int id_cmp(const void *a, const void *b)
{
	return strcmp(((const struct id_index *)a)->id, ((const struct id_index *)b)->id);
}

int rain_vet_feed_export_debsecan(struct rain_vet_feed *f, const char *dir)
{
	_cleanup_free_ struct id_index *ids = NULL;
	_cleanup_free_ char *text = NULL, *path = NULL;
	_cleanup_free_ unsigned char *z = NULL;
	const struct rain_vet_advisory *adv;
	size_t n, nids = 0, len = 0;
	uLongf zlen;
	FILE *m;
	int r;

	rain_error_clear();
	if (rain_vet_feed_family(f) != RAIN_PKG_DEB)
		return rain_error_set(RAIN_EINVAL, "debsecan reads Debian feeds only, this one is for rpm");
	adv = rain_vet_feed_advisories(f, &n);
	ids = malloc((n ? n : 1) * sizeof(*ids));
	if (!ids)
		return rain_error_oom();
	/* the vulnerabilities by name, each once */
	for (size_t i = 0; i < n; i++)
		ids[i] = (struct id_index){ adv[i].id, i };
	qsort(ids, n, sizeof(*ids), id_cmp);
	for (size_t i = 0; i < n; i++)
		if (nids == 0 || strcmp(ids[nids - 1].id, ids[i].id))
			ids[nids++] = ids[i];
	m = open_memstream(&text, &len);
	if (!m)
		return rain_error_oom();
	fputs("VERSION 1\n", m);
	for (size_t i = 0; i < nids; i++)
		fprintf(m, "%s,,%s\n", ids[i].id, adv[ids[i].adv].description);
	fputs("\n", m);
	for (size_t i = 0; i < n; i++) {
		const struct rain_vet_advisory *a = &adv[i];
		struct id_index key = { a->id, 0 };
		struct id_index *hit = bsearch(&key, ids, nids, sizeof(*ids), id_cmp);

		fprintf(m, "%s,%zu,%c%c%c%c,%s,\n", a->package, (size_t)(hit - ids),
			a->flags & RAIN_VET_ADV_BINARY ? 'B' : ' ', urgency_letter(a->urgency),
			scope_letter(a->scope), a->fixed ? 'F' : ' ', a->fixed ? a->fixed : "");
	}
	fputs("\n\n", m);
	if (fclose(m) != 0)
		return rain_error_oom();
	zlen = compressBound(len);
	z = malloc(zlen);
	if (!z)
		return rain_error_oom();
	if (compress2(z, &zlen, (const unsigned char *)text, len, 9) != Z_OK)
		return rain_error_set(RAIN_EIO, "debsecan export: zlib failed");
	r = fs_mkdir_p(dir, 0755);
	if (r < 0)
		return rain_error_set(r, "debsecan export: cannot make %s: %s", dir, rain_error_last());
	path = fs_path_join(dir, rain_vet_feed_release(f));
	if (!path)
		return rain_error_oom();
	r = fs_write_atomic(path, z, zlen, 0644);
	if (r < 0)
		return rain_error_set(r, "debsecan export: cannot write %s: %s", path, rain_error_last());
	return 0;
}
