/* Installed packages of an rpm database (rpmdb.sqlite: RHEL and its
 * rebuilds from 9, Fedora from 33), read from memory: the file comes
 * out of an image that is never mounted. Each row of its Packages table
 * is a header blob, read by librpm's headerImport (which checks the
 * blob's regions before anything reads them).
 *
 * The database is the image's, so hostile: it is opened read-only in
 * memory with SQLite's defensive settings (no triggers, views or schema
 * functions trusted), Packages must be a plain table, and a progress
 * handler bounds the work a crafted file can cause. */
#include <rpm/header.h>
#include <rpm/rpmtag.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rain/error.h"
#include "rain/pkg.h"
#include "util/cleanup-sqlite.h"
#include "util/cleanup.h"
#include "util/strutil.h"

/* SQLite virtual machine steps allowed per database: plenty for 10k
 * packages, and a bound for a crafted one. */
#define RPMDB_MAX_STEPS (200 * 1000 * 1000)
#define RPMDB_MAX_PACKAGES 100000

static int progress(void *ud)
{
	unsigned long *n = ud;

	/* called every 1000 steps */
	return ++*n > RPMDB_MAX_STEPS / 1000;
}

/* "openssl-3.0.7-24.el9.src.rpm": the source's name and V-R. */
static int split_sourcerpm(const char *srpm, char **name, char **vr)
{
	_cleanup_free_ char *s = strdup(srpm);
	char *dash1, *dash2, *end;

	*name = *vr = NULL;
	if (!s)
		return rain_error_oom();
	if (str_has_suffix(s, ".nosrc.rpm"))
		end = s + strlen(s) - 10;
	else if (str_has_suffix(s, ".src.rpm"))
		end = s + strlen(s) - 8;
	else
		return 0;
	*end = '\0';
	dash2 = strrchr(s, '-');
	if (!dash2 || dash2 == s)
		return 0;
	*dash2 = '\0';
	dash1 = strrchr(s, '-');
	*dash2 = '-';
	if (!dash1 || dash1 == s)
		return 0;
	*name = strndup(s, (size_t)(dash1 - s));
	*vr = strdup(dash1 + 1);
	if (!*name || !*vr) {
		free(*name);
		free(*vr);
		*name = *vr = NULL;
		return rain_error_oom();
	}
	return 0;
}

static int pkg_cmp(const void *a, const void *b)
{
	const struct rain_pkg *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	return r ? r : strcmp(x->arch, y->arch);
}

/* One header blob into out->pkgs (gpg-pubkey entries, rpm's keys, are
 * skipped). */
static int rpm_header(const void *blob, int len, const char *where, long long hnum,
		      struct rain_pkg_list *out, size_t *cap)
{
	Header h;
	const char *name, *ver, *rel, *arch, *srpm;
	_cleanup_free_ char *src = NULL, *srcvr = NULL;
	char epoch[24] = "";
	struct rain_pkg *p;
	int r = 0;

	if (len <= 0)
		return rain_error_set(RAIN_EFORMAT, "%s: package %lld: an empty header", where, hnum);
	/* headerImport takes a non-const blob; with COPY it works on its own */
	h = headerImport((void *)blob, (unsigned int)len, HEADERIMPORT_COPY);
	if (!h)
		return rain_error_set(RAIN_EFORMAT, "%s: package %lld: not an rpm header", where, hnum);
	name = headerGetString(h, RPMTAG_NAME);
	ver = headerGetString(h, RPMTAG_VERSION);
	rel = headerGetString(h, RPMTAG_RELEASE);
	arch = headerGetString(h, RPMTAG_ARCH);
	srpm = headerGetString(h, RPMTAG_SOURCERPM);
	if (!name || !*name || !ver || !*ver || !rel) {
		r = rain_error_set(RAIN_EFORMAT, "%s: package %lld: a header without name, version or release",
				   where, hnum);
		goto done;
	}
	if (!strcmp(name, "gpg-pubkey"))
		goto done;
	if (headerIsEntry(h, RPMTAG_EPOCH))
		snprintf(epoch, sizeof(epoch), "%llu:", (unsigned long long)headerGetNumber(h, RPMTAG_EPOCH));
	if (srpm) {
		r = split_sourcerpm(srpm, &src, &srcvr);
		if (r < 0)
			goto done;
	}
	if (ARRAY_GROW(out->pkgs, out->n, *cap) < 0) {
		r = rain_error_oom();
		goto done;
	}
	p = &out->pkgs[out->n];
	memset(p, 0, sizeof(*p));
	out->n++;
	p->name = strdup(name);
	if (asprintf(&p->version, "%s%s-%s", epoch, ver, rel) < 0)
		p->version = NULL;
	p->arch = strdup(arch ? arch : "");
	p->source = strdup(src ? src : name);
	/* the source rpm's name has no epoch: the binary's is the source's */
	if (asprintf(&p->source_version, "%s%s", epoch, srcvr ? srcvr : p->version ? p->version + strlen(epoch) : "") < 0)
		p->source_version = NULL;
	p->status = strdup("installed");
	if (!p->name || !p->version || !p->arch || !p->source || !p->source_version || !p->status)
		r = rain_error_oom();
	else if (rain_pkg_version_check(RAIN_PKG_RPM, p->version) < 0)
		r = rain_error_set(RAIN_EFORMAT, "%s: package %s: %s", where, name, rain_error_last());
done:
	headerFree(h);
	return r;
}

int rain_pkg_parse_rpmdb(const void *data, size_t len, const char *where, struct rain_pkg_list *out)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	unsigned char *copy;
	unsigned long steps = 0;
	size_t cap = 0;
	int r = 0, rc;

	rain_error_clear();
	memset(out, 0, sizeof(*out));
	out->family = RAIN_PKG_RPM;
	if (!where)
		where = "rpmdb.sqlite";
	if (len < 100 || memcmp(data, "SQLite format 3", 16))
		return rain_error_set(RAIN_EFORMAT,
				      "%s: not an SQLite rpm database (older rpm databases, Berkeley DB "
				      "and ndb, are not read)", where);
	if (len > (1ULL << 31))
		return rain_error_set(RAIN_ETOOBIG, "%s: %zu bytes: refused", where, len);
	if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return rain_error_oom();
	}
	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_VIEW, 0, NULL);
	sqlite3_progress_handler(db, 1000, progress, &steps);
	/* rpm keeps its database in WAL mode, which a database in memory
	 * cannot be: the header's read and write versions say legacy (1) */
	copy = sqlite3_malloc64(len);
	if (!copy) {
		r = rain_error_oom();
		goto done;
	}
	memcpy(copy, data, len);
	copy[18] = copy[19] = 1;
	rc = sqlite3_deserialize(db, "main", copy, (sqlite3_int64)len, (sqlite3_int64)len,
				 SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_READONLY);
	if (rc != SQLITE_OK) {
		r = rain_error_set(RAIN_EFORMAT, "%s: %s", where, sqlite3_errmsg(db));
		goto done;
	}
	rc = sqlite3_prepare_v2(db, "SELECT type FROM sqlite_master WHERE name = 'Packages'", -1, &st, NULL);
	if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW ||
	    !sqlite3_column_text(st, 0) || strcmp((const char *)sqlite3_column_text(st, 0), "table")) {
		r = rain_error_set(RAIN_EFORMAT, "%s: no Packages table: not an rpm database (%s)", where,
				   sqlite3_errmsg(db));
		goto done;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT hnum, blob FROM Packages", -1, &st, NULL) != SQLITE_OK) {
		r = rain_error_set(RAIN_EFORMAT, "%s: %s", where, sqlite3_errmsg(db));
		goto done;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (out->n >= RPMDB_MAX_PACKAGES) {
			r = rain_error_set(RAIN_ETOOBIG, "%s: over %d packages: refused", where,
					   RPMDB_MAX_PACKAGES);
			goto done;
		}
		r = rpm_header(sqlite3_column_blob(st, 1), sqlite3_column_bytes(st, 1), where,
			       sqlite3_column_int64(st, 0), out, &cap);
		if (r < 0)
			goto done;
	}
	if (rc != SQLITE_DONE) {
		r = rain_error_set(RAIN_EFORMAT, "%s: %s", where,
				   rc == SQLITE_INTERRUPT ? "too much work: refused" : sqlite3_errmsg(db));
		goto done;
	}
	if (out->n)
		qsort(out->pkgs, out->n, sizeof(*out->pkgs), pkg_cmp);
done:
	sqlite3_finalize(st);
	st = NULL;
	sqlite3_close(db);
	if (r < 0)
		rain_pkg_list_free(out);
	return r;
}
