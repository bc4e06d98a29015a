/* The catalog conformance suite (src/lib/repo/catalog.c and a backend): every
 * case runs once per catalog in `catalogs` below and in
 * RAIN_TEST_CATALOGS, each time on a new, empty catalog: records,
 * optimistic locking, listing with filters, sorting and keyset paging,
 * members, lock-outs. The cases marked SQLITE_ONLY look into the SQLite
 * file itself (its modes, its schema migrations) and are skipped for other
 * backends. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <ctype.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "rain/catalog.h"
#include "rain/error.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define T0 1700000000000000LL   /* 2023-11-14T22:13:20Z */
#define SEC 1000000LL

/* A catalog the suite runs against: its URI, in which %s stands for the
 * case's new temporary directory (a server's backend can use it to name
 * an empty database). */
struct catalog_under_test {
	const char *name;
	const char *uri;
};

/* The catalogs of every run, one line each. RAIN_TEST_CATALOGS adds more:
 * URIs separated by spaces. In a postgresql: URI, %s is the name of a new
 * schema that the suite creates for the case (through the same URI with
 * %s as "public") and drops after it, the URI putting it first in the
 * search path: "postgresql:///rain?host=/tmp/pgsock&user=rain&options=-csearch_path%%3D%s"
 * (tests/integration/t0170 starts such a server). */
static const struct catalog_under_test catalogs[] = {
	{ "sqlite", "sqlite:%s/catalog.db" },
};

#define MAX_CATALOGS 16
static const struct catalog_under_test *current;

struct fixture {
	char dir[64];
	char uri[256];
	char schema[64];        /* the case's PostgreSQL schema, or "" */
	const char *path;       /* the SQLite file, or NULL for other backends */
	struct rain_catalog *cat;
};

/* For cases that look into the SQLite file: skipped for other backends. */
#define SQLITE_ONLY(f) do { if (!(f)->path) skip(); } while (0)

/* Create (or drop) schema name in the database of the current
 * postgresql: URI. */
static int pg_schema(const char *name, bool create)
{
	char uri[256], sql[128];
	PGconn *pg;
	PGresult *res;
	int r = 0;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(uri, sizeof(uri), current->uri, "public");
#pragma GCC diagnostic pop
	/* the name is rain_, digits and mkdtemp's letters: quoted as is */
	if (create)
		snprintf(sql, sizeof(sql), "CREATE SCHEMA \"%s\"", name);
	else
		snprintf(sql, sizeof(sql), "SET client_min_messages = warning; "
			 "DROP SCHEMA IF EXISTS \"%s\" CASCADE", name);
	pg = PQconnectdb(uri);
	if (PQstatus(pg) != CONNECTION_OK) {
		fprintf(stderr, "connect to %s: %s", uri, PQerrorMessage(pg));
		PQfinish(pg);
		return -1;
	}
	res = PQexec(pg, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fprintf(stderr, "%s: %s", sql, PQerrorMessage(pg));
		r = -1;
	}
	PQclear(res);
	PQfinish(pg);
	return r;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/rain-test-catalog.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	/* the URI is the suite's own template, with one %s at the most */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	if (!strncmp(current->uri, "postgresql:", 11)) {
		/* rain_ and the directory's random part: unique while it lives */
		/* unquoted in the search path: lower case */
		snprintf(f->schema, sizeof(f->schema), "rain_%d_%s", (int)getpid(), strrchr(f->dir, '.') + 1);
		for (char *p = f->schema; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		snprintf(f->uri, sizeof(f->uri), current->uri, f->schema);
		if (pg_schema(f->schema, true) < 0)
			return -1;
	} else {
		snprintf(f->uri, sizeof(f->uri), current->uri, f->dir);
	}
#pragma GCC diagnostic pop
	if (!strncmp(f->uri, "sqlite:", 7))
		f->path = f->uri + 7;
	if (rain_catalog_open(&f->cat, f->uri) < 0) {
		fprintf(stderr, "open: %s\n", rain_error_last());
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rain_catalog_close(f->cat);
	if (f->schema[0])
		pg_schema(f->schema, false);
	test_rmtree(f->dir);
	free(f);
	return 0;
}

static void make_id(char *out, int n)
{
	snprintf(out, 37, "00000000-0000-4000-8000-%012d", n);
}

/* A queued image with id number n, created at T0 + n seconds. */
static struct rain_image *new_image(int n, const char *name)
{
	struct rain_image *img = rain_image_new();

	assert_non_null(img);
	make_id(img->id, n);
	img->name = name ? strdup(name) : NULL;
	img->owner = strdup("alice");
	img->visibility = RAIN_VIS_SHARED;
	img->created_at = img->updated_at = T0 + n * SEC;
	return img;
}

static void create(struct fixture *f, struct rain_image *img)
{
	int r = rain_catalog_image_create(f->cat, img);

	if (r < 0)
		fail_msg("create %s: %s", img->id, rain_error_last());
}

static struct rain_image *get(struct fixture *f, const char *id)
{
	struct rain_image *img = NULL;
	int r = rain_catalog_image_get(f->cat, id, &img);

	if (r < 0)
		fail_msg("get %s: %s", id, rain_error_last());
	return img;
}

static struct rain_image *full_image(int n)
{
	struct rain_image *img = new_image(n, "cirros");

	img->status = RAIN_STATUS_ACTIVE;
	img->visibility = RAIN_VIS_PUBLIC;
	img->protected_ = true;
	img->os_hidden = false;
	img->checksum = strdup("900150983cd24fb0d6963f7d28e17f72");
	img->os_hash_algo = strdup("sha256");
	img->os_hash_value = strdup("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	img->size = 3;
	img->virtual_size = 10737418240LL;
	img->disk_format = strdup("qcow2");
	img->container_format = strdup("bare");
	img->min_disk = 10;
	img->min_ram = 512;
	img->updated_at = img->created_at + 5 * SEC;
	assert_int_equal(rain_image_tag_add(img, "linux"), 0);
	assert_int_equal(rain_image_tag_add(img, "cloud"), 0);
	assert_int_equal(rain_image_prop_set(img, "os_distro", "cirros"), 0);
	assert_int_equal(rain_image_prop_set(img, "hw_disk_bus", "virtio"), 0);
	assert_int_equal(rain_image_prop_set(img, "empty", ""), 0);
	return img;
}

static void assert_str_eq_null(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_same_image(const struct rain_image *a, const struct rain_image *b)
{
	assert_string_equal(a->id, b->id);
	assert_str_eq_null(a->name, b->name);
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->visibility, b->visibility);
	assert_int_equal(a->protected_, b->protected_);
	assert_int_equal(a->os_hidden, b->os_hidden);
	assert_str_eq_null(a->checksum, b->checksum);
	assert_str_eq_null(a->os_hash_algo, b->os_hash_algo);
	assert_str_eq_null(a->os_hash_value, b->os_hash_value);
	assert_true(a->size == b->size);
	assert_true(a->virtual_size == b->virtual_size);
	assert_str_eq_null(a->disk_format, b->disk_format);
	assert_str_eq_null(a->container_format, b->container_format);
	assert_true(a->min_disk == b->min_disk);
	assert_true(a->min_ram == b->min_ram);
	assert_str_eq_null(a->owner, b->owner);
	assert_true(a->created_at == b->created_at);
	assert_true(a->updated_at == b->updated_at);
	assert_int_equal(a->ntags, b->ntags);
	for (size_t i = 0; i < a->ntags; i++)
		assert_true(rain_image_has_tag(b, a->tags[i]));
	assert_int_equal(a->nprops, b->nprops);
	for (size_t i = 0; i < a->nprops; i++)
		assert_str_eq_null(a->props[i].value, rain_image_prop_get(b, a->props[i].name));
}

/* ---- records ---- */

static void test_open_uri(void **state)
{
	struct fixture *f = *state;
	struct rain_catalog *cat = NULL;
	char path[200];
	struct stat st;

	SQLITE_ONLY(f);
	assert_int_equal(rain_catalog_open(&cat, "postgres://db/rain"), RAIN_EINVAL);
	assert_error_contains("unknown catalog backend in 'postgres://db/rain' (known: sqlite:PATH, postgresql://[USER@]HOST[:PORT]/DB)");
	assert_int_equal(rain_catalog_open(&cat, "sqlite:/nonexistent-dir-rain/x/catalog.db"), RAIN_EIO);
	assert_null(cat);

	/* a bare path works too, and the file is private */
	snprintf(path, sizeof(path), "%s/bare.db", f->dir);
	assert_int_equal(rain_catalog_open(&cat, path), 0);
	assert_non_null(cat);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	rain_catalog_close(cat);
	rain_catalog_close(NULL);
}

static void test_create_get(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img = full_image(1), *got;
	struct rain_image *bare = new_image(2, NULL), *got2;

	create(f, img);
	got = get(f, img->id);
	assert_same_image(img, got);
	assert_true(got->revision == 0);
	assert_true(got->download_count == 0);
	assert_true(got->last_access == 0);
	assert_string_equal(rain_image_prop_get(got, "empty"), "");

	/* nulls stay null */
	create(f, bare);
	got2 = get(f, bare->id);
	assert_same_image(bare, got2);
	assert_null(got2->name);
	assert_null(got2->checksum);
	assert_null(got2->disk_format);
	assert_true(got2->size == -1);
	assert_true(got2->virtual_size == -1);
	assert_int_equal(got2->ntags, 0);
	assert_int_equal(got2->nprops, 0);

	rain_image_free(img);
	rain_image_free(got);
	rain_image_free(bare);
	rain_image_free(got2);
}

static void test_get_missing(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img = (struct rain_image *)0x1;
	char id[37];

	make_id(id, 99);
	assert_int_equal(rain_catalog_image_get(f->cat, id, &img), RAIN_ENOTFOUND);
	assert_error_contains(id);
	assert_ptr_equal(img, (struct rain_image *)0x1);
	assert_int_equal(rain_catalog_image_get(f->cat, "x' OR '1'='1", &img), RAIN_ENOTFOUND);
}

static void test_duplicate_id(void **state)
{
	struct fixture *f = *state;
	struct rain_image *a = full_image(1), *b = new_image(1, "other"), *got;

	create(f, a);
	rain_error_clear();
	assert_int_equal(rain_catalog_image_create(f->cat, b), RAIN_EEXISTS);
	assert_error_contains(a->id);
	/* the first record is untouched, with its tags and properties */
	got = get(f, a->id);
	assert_same_image(a, got);
	rain_image_free(a);
	rain_image_free(b);
	rain_image_free(got);
}

static void test_update_revision(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img = full_image(1), *v1, *v2, *stale, *got;

	create(f, img);
	v1 = get(f, img->id);
	stale = rain_image_dup(v1);

	free(v1->name);
	v1->name = strdup("renamed");
	v1->status = RAIN_STATUS_DEACTIVATED;
	v1->size = -1;
	free(v1->disk_format);
	v1->disk_format = NULL;
	v1->updated_at += 100 * SEC;
	assert_int_equal(rain_image_tag_remove(v1, "linux"), 0);
	assert_int_equal(rain_image_tag_add(v1, "new"), 0);
	assert_int_equal(rain_image_prop_remove(v1, "os_distro"), 0);
	assert_int_equal(rain_image_prop_set(v1, "hw_disk_bus", "scsi"), 0);
	assert_int_equal(rain_image_prop_set(v1, "added", "yes"), 0);
	assert_int_equal(rain_catalog_image_update(f->cat, v1), 0);

	v2 = get(f, img->id);
	assert_true(v2->revision == 1);
	v1->revision = 1;
	assert_same_image(v1, v2);
	assert_false(rain_image_has_tag(v2, "linux"));
	assert_null(rain_image_prop_get(v2, "os_distro"));
	assert_string_equal(rain_image_prop_get(v2, "hw_disk_bus"), "scsi");

	/* a writer holding revision 0 lost the race */
	free(stale->name);
	stale->name = strdup("lost");
	rain_error_clear();
	assert_int_equal(rain_catalog_image_update(f->cat, stale), RAIN_ECONFLICT);
	assert_error_contains("changed by another request");
	got = get(f, img->id);
	assert_string_equal(got->name, "renamed");
	assert_true(got->revision == 1);
	rain_image_free(got);

	/* and with a fresh revision it goes through: 1 -> 2 */
	assert_int_equal(rain_catalog_image_update(f->cat, v2), 0);
	got = get(f, img->id);
	assert_true(got->revision == 2);
	rain_image_free(got);
	/* a revision from the future is as wrong as one from the past */
	v2->revision = 7;
	assert_int_equal(rain_catalog_image_update(f->cat, v2), RAIN_ECONFLICT);

	/* updating a record that does not exist */
	make_id(stale->id, 55);
	assert_int_equal(rain_catalog_image_update(f->cat, stale), RAIN_ENOTFOUND);

	rain_image_free(img);
	rain_image_free(v1);
	rain_image_free(v2);
	rain_image_free(stale);
}

static void test_update_keeps_stats(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img = new_image(1, "x"), *v, *got;

	create(f, img);
	v = get(f, img->id);
	assert_int_equal(rain_catalog_image_touch(f->cat, img->id, T0 + 99 * SEC), 0);
	assert_int_equal(rain_catalog_image_touch(f->cat, img->id, T0 + 100 * SEC), 0);
	/* v's statistics are stale (0); the update must not reset them */
	v->download_count = 0;
	v->last_access = 0;
	assert_int_equal(rain_catalog_image_update(f->cat, v), 0);
	got = get(f, img->id);
	assert_true(got->download_count == 2);
	assert_true(got->last_access == T0 + 100 * SEC);
	/* ... and touching does not count as a write */
	assert_true(got->revision == 1);
	rain_image_free(img);
	rain_image_free(v);
	rain_image_free(got);
}

static void test_delete(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img = full_image(1), *v, *again, *got;

	create(f, img);
	v = get(f, img->id);
	v->revision = 3;
	assert_int_equal(rain_catalog_image_delete(f->cat, v), RAIN_ECONFLICT);
	got = get(f, img->id);
	rain_image_free(got);
	v->revision = 0;
	assert_int_equal(rain_catalog_image_delete(f->cat, v), 0);
	assert_int_equal(rain_catalog_image_get(f->cat, img->id, &got), RAIN_ENOTFOUND);
	assert_int_equal(rain_catalog_image_delete(f->cat, v), RAIN_ENOTFOUND);

	/* the id can be used again, without the old tags and properties */
	again = new_image(1, "again");
	create(f, again);
	got = get(f, again->id);
	assert_string_equal(got->name, "again");
	assert_int_equal(got->ntags, 0);
	assert_int_equal(got->nprops, 0);
	assert_true(got->revision == 0);
	rain_image_free(got);

	rain_image_free(img);
	rain_image_free(v);
	rain_image_free(again);
}

static void test_touch(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img = new_image(1, "x"), *got;

	create(f, img);
	for (int i = 1; i <= 3; i++) {
		assert_int_equal(rain_catalog_image_touch(f->cat, img->id, T0 + i * SEC), 0);
		got = get(f, img->id);
		assert_true(got->download_count == i);
		assert_true(got->last_access == T0 + i * SEC);
		assert_true(got->updated_at == img->updated_at);   /* not a change */
		rain_image_free(got);
	}
	rain_image_free(img);
}

static void test_blob_refs(void **state)
{
	struct fixture *f = *state;
	static const char *const ha = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	static const char *const hb = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
	static const char *const hc = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
	const char *hashes[] = { ha, ha, hb, NULL };
	int64_t n = -1;

	for (int i = 0; i < 4; i++) {
		struct rain_image *img = new_image(i, "x");

		img->os_hash_value = hashes[i] ? strdup(hashes[i]) : NULL;
		create(f, img);
		rain_image_free(img);
	}
	assert_int_equal(rain_catalog_blob_refs(f->cat, ha, &n), 0);
	assert_true(n == 2);
	assert_int_equal(rain_catalog_blob_refs(f->cat, hb, &n), 0);
	assert_true(n == 1);
	assert_int_equal(rain_catalog_blob_refs(f->cat, hc, &n), 0);
	assert_true(n == 0);

	/* references go with the record */
	{
		char id[37];
		struct rain_image *img;

		make_id(id, 0);
		img = get(f, id);
		assert_int_equal(rain_catalog_image_delete(f->cat, img), 0);
		rain_image_free(img);
	}
	assert_int_equal(rain_catalog_blob_refs(f->cat, ha, &n), 0);
	assert_true(n == 1);
}

static void test_reset_status(void **state)
{
	struct fixture *f = *state;
	static const enum rain_image_status st[] = {
		RAIN_STATUS_SAVING, RAIN_STATUS_ACTIVE, RAIN_STATUS_SAVING, RAIN_STATUS_QUEUED
	};
	int64_t changed = -1, before = time_now_us();

	for (int i = 0; i < 4; i++) {
		struct rain_image *img = new_image(i, "x");

		img->status = st[i];
		create(f, img);
		rain_image_free(img);
	}
	assert_int_equal(rain_catalog_reset_status(f->cat, RAIN_STATUS_SAVING, RAIN_STATUS_QUEUED,
						   &changed), 0);
	assert_true(changed == 2);
	for (int i = 0; i < 4; i++) {
		char id[37];
		struct rain_image *img;

		make_id(id, i);
		img = get(f, id);
		if (st[i] == RAIN_STATUS_SAVING) {
			assert_int_equal(img->status, RAIN_STATUS_QUEUED);
			assert_true(img->revision == 1);    /* a write: racing writers notice */
			assert_true(img->updated_at >= before);
		} else {
			assert_int_equal(img->status, st[i]);
			assert_true(img->revision == 0);
			assert_true(img->updated_at == T0 + i * SEC);
		}
		rain_image_free(img);
	}
	assert_int_equal(rain_catalog_reset_status(f->cat, RAIN_STATUS_SAVING, RAIN_STATUS_QUEUED,
						   &changed), 0);
	assert_true(changed == 0);
	assert_int_equal(rain_catalog_reset_status(f->cat, RAIN_STATUS_SAVING, RAIN_STATUS_QUEUED,
						   NULL), 0);
}

static void test_persistence(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img = full_image(1), *got;
	char wal[160];
	struct stat st;

	create(f, img);
	rain_catalog_close(f->cat);
	f->cat = NULL;

	if (f->path) {
		assert_int_equal(stat(f->path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
		snprintf(wal, sizeof(wal), "%s-wal", f->path);
		if (stat(wal, &st) == 0)
			assert_int_equal(st.st_mode & 0777, 0600);
	}

	assert_int_equal(rain_catalog_open(&f->cat, f->uri), 0);
	got = get(f, img->id);
	assert_same_image(img, got);
	rain_image_free(got);
	rain_image_free(img);
	if (!f->path)
		return;
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	if (stat(wal, &st) == 0)
		assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_newer_schema_refused(void **state)
{
	struct fixture *f = *state;
	struct rain_catalog *cat = NULL;
	sqlite3 *db;

	SQLITE_ONLY(f);
	rain_catalog_close(f->cat);
	f->cat = NULL;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(rain_catalog_open(&cat, f->uri), RAIN_EINVAL);
	assert_error_contains("schema version 99");
	assert_null(cat);
}

/* The lock-out's counts: the limit within the window locks, a stale count
 * starts over, a lock outlives a reopen, clear forgets. */
static void test_login_failures(void **state)
{
	struct fixture *f = *state;
	const struct rain_lockout_rule rule = { .limit = 3, .window_us = 60 * SEC, .lock_us = 600 * SEC };
	struct rain_login_failures lf;
	bool locks;

	assert_int_equal(rain_catalog_login_get(f->cat, "carol", &lf), 0);
	assert_int_equal(lf.count, 0);
	assert_int_equal(lf.locked_until, 0);
	assert_int_equal(rain_catalog_login_failed(f->cat, "carol", T0, &rule, &lf, &locks), 0);
	assert_false(locks);
	assert_int_equal(lf.count, 1);
	/* out of the window: the count starts over */
	assert_int_equal(rain_catalog_login_failed(f->cat, "carol", T0 + 61 * SEC, &rule, &lf, &locks), 0);
	assert_int_equal(lf.count, 1);
	assert_int_equal(lf.first_at, T0 + 61 * SEC);
	assert_int_equal(rain_catalog_login_failed(f->cat, "carol", T0 + 62 * SEC, &rule, &lf, &locks), 0);
	assert_false(locks);
	assert_int_equal(rain_catalog_login_failed(f->cat, "carol", T0 + 63 * SEC, &rule, &lf, &locks), 0);
	assert_true(locks);
	assert_int_equal(lf.locked_until, T0 + 663 * SEC);
	/* another name is not touched; the lock survives a reopen */
	assert_int_equal(rain_catalog_login_failed(f->cat, "dave", T0 + 64 * SEC, &rule, &lf, &locks), 0);
	rain_catalog_close(f->cat);
	f->cat = NULL;
	assert_int_equal(rain_catalog_open(&f->cat, f->uri), 0);
	assert_int_equal(rain_catalog_login_get(f->cat, "carol", &lf), 0);
	assert_int_equal(lf.locked_until, T0 + 663 * SEC);
	assert_int_equal(rain_catalog_login_get(f->cat, "dave", &lf), 0);
	assert_int_equal(lf.count, 1);
	/* a failure long after forgets dave's stale count, not carol's lock */
	assert_int_equal(rain_catalog_login_failed(f->cat, "erin", T0 + 200 * SEC, &rule, &lf, &locks), 0);
	assert_int_equal(rain_catalog_login_get(f->cat, "dave", &lf), 0);
	assert_int_equal(lf.count, 0);
	assert_int_equal(rain_catalog_login_get(f->cat, "carol", &lf), 0);
	assert_int_equal(lf.locked_until, T0 + 663 * SEC);
	assert_int_equal(rain_catalog_login_clear(f->cat, "carol"), 0);
	assert_int_equal(rain_catalog_login_get(f->cat, "carol", &lf), 0);
	assert_int_equal(lf.locked_until, 0);
}

/* ---- listing ---- */

static void q_init(struct rain_image_query *q)
{
	memset(q, 0, sizeof(*q));
	q->limit = 1000;
	q->requester = "alice";
	q->requester_admin = true;     /* the filters, not the visibility rules */
	q->include_community = true;
	q->include_hidden = true;
}

static void q_term(struct rain_image_query *q, const char *attr, enum rain_query_op op,
		   const char *value)
{
	q->terms[q->nterms++] = (struct rain_query_term){ attr, op, value };
}

static int list(struct fixture *f, const struct rain_image_query *q, struct rain_image ***out,
		size_t *n, bool *more)
{
	return rain_catalog_image_list(f->cat, q, out, n, more);
}

/* The id numbers (last 12 digits) of the listed images as "1,5,7". */
static char *list_ids(struct fixture *f, const struct rain_image_query *q)
{
	struct rain_image **imgs = NULL;
	size_t n = 0;
	bool more = true;
	char *s = calloc(1, 4096);
	int r;

	assert_non_null(s);
	r = list(f, q, &imgs, &n, &more);
	if (r < 0)
		fail_msg("list: %s", rain_error_last());
	assert_false(more);
	for (size_t i = 0; i < n; i++)
		snprintf(s + strlen(s), 4096 - strlen(s), "%s%d", i ? "," : "",
			 atoi(imgs[i]->id + 24));
	rain_catalog_list_free(imgs, n);
	return s;
}

/* Run q with one term and compare the (sorted by id asc) result. */
static void expect_ids(struct fixture *f, struct rain_image_query *q, const char *want)
{
	char *got;

	q->sort[0] = (struct rain_sort){ "id", false };
	q->nsort = 1;
	got = list_ids(f, q);
	if (strcmp(got, want))
		fail_msg("got [%s], want [%s]", got, want);
	free(got);
}

static void expect_filter(struct fixture *f, const char *attr, enum rain_query_op op,
			  const char *value, const char *want)
{
	struct rain_image_query q;

	q_init(&q);
	q_term(&q, attr, op, value);
	expect_ids(f, &q, want);
}

/* Eight images with varied attributes for the filter tests. */
static void filter_fixture(struct fixture *f)
{
	static const struct {
		const char *name, *status, *vis, *owner, *disk, *distro;
		int64_t size, min_disk;
		bool protected_, hidden;
		const char *tags;
	} rows[] = {
		/* 0 */ { "ubuntu", "active", "public", "alice", "qcow2", "ubuntu", 100, 0, false, false, "linux,lts" },
		/* 1 */ { "debian", "active", "shared", "bob", "raw", "debian", 200, 10, true, false, "linux" },
		/* 2 */ { "fedora", "queued", "private", "alice", NULL, "fedora", -1, 20, false, false, "" },
		/* 3 */ { "win", "deactivated", "community", "bob", "vhd", NULL, 300, 40, true, false, "windows" },
		/* 4 */ { NULL, "saving", "shared", "carol", "iso", "ubuntu", 50, 0, false, false, "lts" },
		/* 5 */ { "ubuntu", "active", "public", "alice", "qcow2", "ubuntu", 100, 0, false, true, "linux,lts" },
		/* 6 */ { "alpine", "killed", "community", "alice", "raw", "alpine", 5, 1, false, false, "linux,lts,small" },
		/* 7 */ { "arch", "active", "private", "carol", "qcow2", "arch", 150, 5, false, false, "linux,rolling" },
	};

	for (int i = 0; i < (int)(sizeof(rows) / sizeof(*rows)); i++) {
		struct rain_image *img = new_image(i, rows[i].name);
		_cleanup_free_ char *tags = strdup(rows[i].tags);
		char *save = NULL;

		rain_image_status_parse(rows[i].status, &img->status);
		rain_visibility_parse(rows[i].vis, &img->visibility);
		free(img->owner);
		img->owner = strdup(rows[i].owner);
		img->disk_format = rows[i].disk ? strdup(rows[i].disk) : NULL;
		img->container_format = strdup("bare");
		img->size = rows[i].size;
		img->virtual_size = rows[i].size < 0 ? -1 : rows[i].size * 2;
		img->min_disk = rows[i].min_disk;
		img->min_ram = i * 128;
		img->protected_ = rows[i].protected_;
		img->os_hidden = rows[i].hidden;
		img->updated_at = T0 + (100 - i) * SEC;
		if (rows[i].distro)
			assert_int_equal(rain_image_prop_set(img, "os_distro", rows[i].distro), 0);
		if (i % 2 == 0)
			assert_int_equal(rain_image_prop_set(img, "hw_firmware", i % 4 ? "uefi" : "bios"), 0);
		for (char *t = strtok_r(tags, ",", &save); t; t = strtok_r(NULL, ",", &save))
			assert_int_equal(rain_image_tag_add(img, t), 0);
		create(f, img);
		rain_image_free(img);
	}
}

static void test_filter_core_columns(void **state)
{
	struct fixture *f = *state;
	char id[37], lo[32], hi[32];

	filter_fixture(f);
	expect_filter(f, "name", RAIN_OP_EQ, "ubuntu", "0,5");
	expect_filter(f, "name", RAIN_OP_NEQ, "ubuntu", "1,2,3,6,7");   /* NULL name left out */
	expect_filter(f, "name", RAIN_OP_IN, "debian,arch,nope", "1,7");
	expect_filter(f, "name", RAIN_OP_EQ, "Ubuntu", "");
	expect_filter(f, "status", RAIN_OP_EQ, "active", "0,1,5,7");
	expect_filter(f, "status", RAIN_OP_IN, "queued,saving", "2,4");
	expect_filter(f, "status", RAIN_OP_NEQ, "active", "2,3,4,6");
	expect_filter(f, "visibility", RAIN_OP_EQ, "community", "3,6");
	expect_filter(f, "owner", RAIN_OP_EQ, "carol", "4,7");
	expect_filter(f, "disk_format", RAIN_OP_EQ, "qcow2", "0,5,7");
	expect_filter(f, "disk_format", RAIN_OP_IN, "raw,iso", "1,4,6");
	expect_filter(f, "container_format", RAIN_OP_EQ, "bare", "0,1,2,3,4,5,6,7");
	make_id(id, 3);
	expect_filter(f, "id", RAIN_OP_EQ, id, "3");
	expect_filter(f, "min_disk", RAIN_OP_GT, "5", "1,2,3");
	expect_filter(f, "min_disk", RAIN_OP_LT, "1", "0,4,5");
	expect_filter(f, "min_ram", RAIN_OP_GTE, "768", "6,7");
	expect_filter(f, "virtual_size", RAIN_OP_EQ, "400", "1");
	expect_filter(f, "checksum", RAIN_OP_EQ, "x", "");

	/* times: ISO 8601 strings compare against stored microseconds */
	time_format_iso(T0 + 3 * SEC, lo, sizeof(lo));
	time_format_iso(T0 + 5 * SEC, hi, sizeof(hi));
	{
		struct rain_image_query q;

		q_init(&q);
		q_term(&q, "created_at", RAIN_OP_GTE, lo);
		q_term(&q, "created_at", RAIN_OP_LT, hi);
		expect_ids(f, &q, "3,4");
	}
	expect_filter(f, "created_at", RAIN_OP_GT, "2023-11-14T22:13:25.5Z", "6,7");
	expect_filter(f, "created_at", RAIN_OP_LTE, "2023-11-14T22:13:21+00:00", "0,1");
	expect_filter(f, "updated_at", RAIN_OP_GTE, "2023-11-14T22:14:54Z", "0,1,2,3,4,5,6");
	expect_filter(f, "updated_at", RAIN_OP_LT, "2000-01-01T00:00:00Z", "");
}

static void test_filter_size_bool(void **state)
{
	struct fixture *f = *state;

	filter_fixture(f);
	expect_filter(f, "size", RAIN_OP_GTE, "100", "0,1,3,5,7");
	expect_filter(f, "size", RAIN_OP_LTE, "100", "0,4,5,6");       /* NULL size left out */
	expect_filter(f, "size", RAIN_OP_EQ, "100", "0,5");
	expect_filter(f, "size", RAIN_OP_IN, "5,50,999", "4,6");
	expect_filter(f, "size", RAIN_OP_GT, "-5", "0,1,3,4,5,6,7");
	{
		struct rain_image_query q;

		q_init(&q);
		q_term(&q, "size", RAIN_OP_GTE, "50");
		q_term(&q, "size", RAIN_OP_LTE, "150");
		expect_ids(f, &q, "0,4,5,7");
	}
	expect_filter(f, "protected", RAIN_OP_EQ, "true", "1,3");
	expect_filter(f, "protected", RAIN_OP_EQ, "false", "0,2,4,5,6,7");
	expect_filter(f, "protected", RAIN_OP_EQ, "TRUE", "1,3");
	expect_filter(f, "os_hidden", RAIN_OP_EQ, "true", "5");
	expect_filter(f, "os_hidden", RAIN_OP_NEQ, "true", "0,1,2,3,4,6,7");
}

static void test_filter_properties_tags(void **state)
{
	struct fixture *f = *state;
	struct rain_image_query q;

	filter_fixture(f);
	expect_filter(f, "os_distro", RAIN_OP_EQ, "ubuntu", "0,4,5");
	expect_filter(f, "os_distro", RAIN_OP_IN, "debian,fedora,gentoo", "1,2");
	expect_filter(f, "os_distro", RAIN_OP_IN, "arch", "7");
	expect_filter(f, "os_distro", RAIN_OP_NEQ, "ubuntu", "1,2,6,7");   /* 3 has none */
	expect_filter(f, "os_distro", RAIN_OP_GT, "debian", "0,2,4,5");
	expect_filter(f, "no_such_property", RAIN_OP_EQ, "x", "");
	expect_filter(f, "hw_firmware", RAIN_OP_EQ, "bios", "0,4");
	expect_filter(f, "hw_firmware", RAIN_OP_EQ, "uefi", "2,6");
	/* a value with SQL in it is only a value */
	expect_filter(f, "os_distro", RAIN_OP_EQ, "x' OR '1'='1", "");
	expect_filter(f, "os_distro' OR '1'='1", RAIN_OP_EQ, "ubuntu", "");

	/* several property terms: all must hold */
	q_init(&q);
	q_term(&q, "os_distro", RAIN_OP_EQ, "ubuntu");
	q_term(&q, "hw_firmware", RAIN_OP_IN, "bios,uefi");
	expect_ids(f, &q, "0,4");
	/* mixed with core columns */
	q_init(&q);
	q_term(&q, "os_distro", RAIN_OP_EQ, "ubuntu");
	q_term(&q, "status", RAIN_OP_EQ, "active");
	q_term(&q, "os_hidden", RAIN_OP_EQ, "false");
	expect_ids(f, &q, "0");

	/* tags: every one listed must be carried */
	q_init(&q);
	q.tags[q.ntags++] = "linux";
	expect_ids(f, &q, "0,1,5,6,7");
	q.tags[q.ntags++] = "lts";
	expect_ids(f, &q, "0,5,6");
	q.tags[q.ntags++] = "small";
	expect_ids(f, &q, "6");
	q.tags[q.ntags++] = "windows";
	expect_ids(f, &q, "");
	q_init(&q);
	q.tags[q.ntags++] = "lts";
	q_term(&q, "owner", RAIN_OP_EQ, "carol");
	expect_ids(f, &q, "4");
}

static void test_filter_default_order(void **state)
{
	/* without sort keys: newest first, filters applied */
	struct fixture *f = *state;
	struct rain_image_query q;
	char *got;

	filter_fixture(f);
	q_init(&q);
	q_term(&q, "os_distro", RAIN_OP_GT, "debian");
	got = list_ids(f, &q);
	assert_string_equal(got, "5,4,2,0");
	free(got);
}

static void test_bad_filters(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *attr;
		enum rain_query_op op;
		const char *value;
		const char *msg;
	} bad[] = {
		{ "size", RAIN_OP_GTE, "abc", "filter size: 'abc' is not an integer" },
		{ "size", RAIN_OP_EQ, "", "not an integer" },
		{ "size", RAIN_OP_EQ, "1.5", "not an integer" },
		{ "size", RAIN_OP_IN, "1,x", "not an integer" },
		{ "min_disk", RAIN_OP_EQ, " 1", "not an integer" },
		{ "protected", RAIN_OP_EQ, "yes", "filter protected: 'yes' is not true or false" },
		{ "os_hidden", RAIN_OP_EQ, "1", "not true or false" },
		{ "created_at", RAIN_OP_GT, "yesterday", "filter created_at: 'yesterday' is not an ISO 8601 time" },
		{ "updated_at", RAIN_OP_LT, "2024-01-01", "not an ISO 8601 time" },
		{ "name", RAIN_OP_IN, "", "'in:' needs a value" },
		{ "name", RAIN_OP_IN, ",,,", "'in:' needs a value" },
		{ "os_distro", RAIN_OP_IN, "", "'in:' needs a value" },
	};
	struct rain_image **imgs = (struct rain_image **)0x1;
	struct rain_image_query q;
	size_t n = 77;
	bool more;

	filter_fixture(f);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		q_init(&q);
		q_term(&q, bad[i].attr, bad[i].op, bad[i].value);
		rain_error_clear();
		if (list(f, &q, &imgs, &n, &more) != RAIN_EINVAL)
			fail_msg("filter %s '%s' accepted", bad[i].attr, bad[i].value);
		assert_error_contains(bad[i].msg);
		assert_ptr_equal(imgs, (struct rain_image **)0x1);
		assert_int_equal(n, 77);
	}

	q_init(&q);
	q.limit = 0;
	assert_int_equal(list(f, &q, &imgs, &n, &more), RAIN_EINVAL);
	q_init(&q);
	q.sort[0] = (struct rain_sort){ "checksum", false };
	q.nsort = 1;
	assert_int_equal(list(f, &q, &imgs, &n, &more), RAIN_EINVAL);
	assert_error_contains("Invalid sort key: checksum.");
	q.sort[0] = (struct rain_sort){ "name; DROP TABLE images", false };
	assert_int_equal(list(f, &q, &imgs, &n, &more), RAIN_EINVAL);

	/* counts beyond the arrays are refused, not read past */
	q_init(&q);
	q.nsort = RAIN_QUERY_MAX_SORT + 1;
	assert_int_equal(list(f, &q, &imgs, &n, &more), RAIN_EINVAL);
	q_init(&q);
	q.nterms = RAIN_QUERY_MAX_TERMS + 1;
	assert_int_equal(list(f, &q, &imgs, &n, &more), RAIN_EINVAL);
	q_init(&q);
	q.ntags = RAIN_QUERY_MAX_TERMS + 1;
	assert_int_equal(list(f, &q, &imgs, &n, &more), RAIN_EINVAL);
	assert_ptr_equal(imgs, (struct rain_image **)0x1);

	/* a huge in: list is refused with a message, not an SQL error */
	{
		char *vals = malloc(4000);

		assert_non_null(vals);
		vals[0] = '\0';
		for (int i = 0; i < 700; i++)
			snprintf(vals + strlen(vals), 4000 - strlen(vals), "%s%d", i ? "," : "", i % 10);
		q_init(&q);
		q_term(&q, "size", RAIN_OP_IN, vals);
		assert_int_equal(list(f, &q, &imgs, &n, &more), RAIN_ETOOBIG);
		assert_error_contains("too many filter values");
		free(vals);
	}
}

static void test_sort_keys_valid(void **state)
{
	static const char *const keys[] = {
		"name", "status", "container_format", "disk_format", "size", "id",
		"created_at", "updated_at", "visibility", "owner", "min_disk",
		"min_ram", "virtual_size", "os_hidden"
	};
	static const char *const cols[] = {
		"id", "name", "status", "visibility", "owner", "disk_format",
		"container_format", "protected", "os_hidden", "size", "virtual_size",
		"min_disk", "min_ram", "created_at", "updated_at", "checksum", "os_hash_value"
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++)
		assert_true(rain_catalog_sort_key_valid(keys[i]));
	for (size_t i = 0; i < sizeof(cols) / sizeof(*cols); i++)
		assert_true(rain_catalog_attr_is_column(cols[i]));
	assert_false(rain_catalog_sort_key_valid("checksum"));
	assert_false(rain_catalog_sort_key_valid("os_distro"));
	assert_false(rain_catalog_sort_key_valid(""));
	assert_false(rain_catalog_attr_is_column("os_distro"));
	assert_false(rain_catalog_attr_is_column("tags"));
}

static void test_visibility_scope(void **state)
{
	struct fixture *f = *state;
	struct rain_image_query q;
	char *got;

	filter_fixture(f);
	/* a user sees their own images and public ones; community images
	 * (3: bob's, 6: alice's) only their owner unless asked for */
	q_init(&q);
	q.requester_admin = false;
	q.include_community = false;
	q.requester = "alice";
	expect_ids(f, &q, "0,2,5,6");
	q.requester = "bob";
	expect_ids(f, &q, "0,1,3,5");
	q.requester = "carol";
	expect_ids(f, &q, "0,4,5,7");
	q.requester = NULL;
	expect_ids(f, &q, "0,5");
	q.include_community = true;
	q.requester = "carol";
	expect_ids(f, &q, "0,3,4,5,6,7");
	/* an admin sees everything but others' community images by default */
	q.requester_admin = true;
	q.include_community = false;
	q.requester = "root";
	expect_ids(f, &q, "0,1,2,4,5,7");
	q.include_community = true;
	expect_ids(f, &q, "0,1,2,3,4,5,6,7");
	q.requester_admin = false;
	q.requester = "carol";
	/* community asked for explicitly */
	q_term(&q, "visibility", RAIN_OP_EQ, "community");
	got = list_ids(f, &q);
	assert_string_equal(got, "3,6");
	free(got);
}

static void test_hidden_by_default(void **state)
{
	struct fixture *f = *state;
	struct rain_image_query q;

	filter_fixture(f);
	q_init(&q);
	q.include_hidden = false;
	expect_ids(f, &q, "0,1,2,3,4,6,7");
	q_term(&q, "name", RAIN_OP_EQ, "ubuntu");
	expect_ids(f, &q, "0");
	q.include_hidden = true;
	expect_ids(f, &q, "0,5");
}

static void test_list_loads_children(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img = full_image(1);
	struct rain_image **imgs = NULL;
	struct rain_image_query q;
	size_t n = 0;
	bool more = true;

	create(f, img);
	q_init(&q);
	assert_int_equal(list(f, &q, &imgs, &n, &more), 0);
	assert_int_equal(n, 1);
	assert_false(more);
	assert_same_image(img, imgs[0]);
	rain_catalog_list_free(imgs, n);
	rain_image_free(img);
}

static void test_limit_more(void **state)
{
	struct fixture *f = *state;
	struct rain_image **imgs = NULL;
	struct rain_image_query q;
	size_t n = 0;
	bool more;

	filter_fixture(f);
	q_init(&q);
	q.limit = 8;
	assert_int_equal(list(f, &q, &imgs, &n, &more), 0);
	assert_int_equal(n, 8);
	assert_false(more);
	rain_catalog_list_free(imgs, n);
	q.limit = 7;
	assert_int_equal(list(f, &q, &imgs, &n, &more), 0);
	assert_int_equal(n, 7);
	assert_true(more);
	/* default order: newest first */
	assert_int_equal(atoi(imgs[0]->id + 24), 7);
	assert_int_equal(atoi(imgs[6]->id + 24), 1);
	rain_catalog_list_free(imgs, n);
	q.limit = 1;
	q_term(&q, "name", RAIN_OP_EQ, "nothing");
	more = true;
	assert_int_equal(list(f, &q, &imgs, &n, &more), 0);
	assert_int_equal(n, 0);
	assert_false(more);
	rain_catalog_list_free(imgs, n);
}

static void test_unknown_marker(void **state)
{
	struct fixture *f = *state;
	struct rain_image **imgs = (struct rain_image **)0x1;
	struct rain_image_query q;
	char id[37];
	size_t n = 5;
	bool more;

	filter_fixture(f);
	make_id(id, 999);
	q_init(&q);
	q.marker = id;
	rain_error_clear();
	/* Glance answers 400 for a marker it cannot find */
	assert_int_equal(list(f, &q, &imgs, &n, &more), RAIN_EINVAL);
	assert_error_contains(id);
	assert_ptr_equal(imgs, (struct rain_image **)0x1);
	assert_int_equal(n, 5);
}

static void add_user(struct fixture *f, const char *name)
{
	struct rain_user u = { .name = (char *)name, .status = RAIN_USER_ACTIVE, .created_at = T0,
			       .last_login = -1 };

	assert_int_equal(rain_catalog_user_create(f->cat, &u), 0);
}

/* The marker's page for requester (not an admin, community included):
 * 0, or the error. */
static int list_after(struct fixture *f, const char *requester, bool admin, int marker)
{
	struct rain_image **imgs = NULL;
	struct rain_image_query q;
	char id[37];
	size_t n = 0;
	bool more;
	int r;

	make_id(id, marker);
	q_init(&q);
	q.requester = requester;
	q.requester_admin = admin;
	q.marker = id;
	r = list(f, &q, &imgs, &n, &more);
	rain_catalog_list_free(imgs, n);
	return r;
}

/* A marker the requester may not see is unknown, with the same message:
 * the list is no oracle of where others' private images sort. */
static void test_marker_visibility(void **state)
{
	struct fixture *f = *state;
	struct rain_member m = { .status = RAIN_MEMBER_PENDING, .created_at = T0, .updated_at = T0 };
	char unknown[37], msg_unknown[200], id[37];

	filter_fixture(f);
	add_user(f, "dave");
	make_id(m.image_id, 1);           /* bob's shared image */
	snprintf(m.member, sizeof(m.member), "dave");
	assert_int_equal(rain_catalog_member_add(f->cat, &m), 0);

	assert_int_equal(list_after(f, "dave", false, 999), RAIN_EINVAL);
	make_id(unknown, 999);
	snprintf(msg_unknown, sizeof(msg_unknown), "%s", rain_error_last());
	/* 2: alice's private, 7: carol's private, 4: carol's shared (dave no member) */
	for (int i = 0; i < 3; i++) {
		int n = i == 0 ? 2 : i == 1 ? 7 : 4;
		char want[200];

		rain_error_clear();
		assert_int_equal(list_after(f, "dave", false, n), RAIN_EINVAL);
		make_id(id, n);
		/* the same message, but for the id itself */
		snprintf(want, sizeof(want), "%.*s%s%s", (int)(strstr(msg_unknown, unknown) - msg_unknown),
			 msg_unknown, id, strstr(msg_unknown, unknown) + strlen(unknown));
		assert_string_equal(rain_error_last(), want);
	}
	assert_int_equal(list_after(f, NULL, false, 2), RAIN_EINVAL);
	/* public, community, shared with dave (any answer): seen, so fine */
	assert_int_equal(list_after(f, "dave", false, 0), 0);
	assert_int_equal(list_after(f, "dave", false, 3), 0);
	assert_int_equal(list_after(f, "dave", false, 1), 0);
	/* owners and admins see their own and every image */
	assert_int_equal(list_after(f, "alice", false, 2), 0);
	assert_int_equal(list_after(f, "carol", false, 4), 0);
	assert_int_equal(list_after(f, "root", true, 7), 0);
}

/* Members only for users who exist; a name's leftover memberships are not
 * a new user's; version 6 drops those of older catalogs. */
static void test_members_need_user(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img = new_image(1, "shared");
	struct rain_member m = { .status = RAIN_MEMBER_PENDING, .created_at = T0, .updated_at = T0 }, got;

	img->visibility = RAIN_VIS_SHARED;
	create(f, img);
	rain_image_free(img);
	make_id(m.image_id, 1);
	snprintf(m.member, sizeof(m.member), "ghost");
	rain_error_clear();
	assert_int_equal(rain_catalog_member_add(f->cat, &m), RAIN_ENOTFOUND);
	assert_error_contains("no user ghost");
	assert_int_equal(rain_catalog_member_get(f->cat, m.image_id, "ghost", &got), RAIN_ENOTFOUND);
	add_user(f, "bob");
	snprintf(m.member, sizeof(m.member), "bob");
	assert_int_equal(rain_catalog_member_add(f->cat, &m), 0);
	assert_int_equal(rain_catalog_member_add(f->cat, &m), RAIN_EEXISTS);
	assert_int_equal(rain_catalog_member_get(f->cat, m.image_id, "bob", &got), 0);

	/* deleting a user deletes their memberships */
	assert_int_equal(rain_catalog_user_delete(f->cat, "bob"), 0);
	assert_int_equal(rain_catalog_member_get(f->cat, m.image_id, "bob", &got), RAIN_ENOTFOUND);
}

/* Run sql on the closed catalog file (to make it an older one). */
static void sqlite_exec(struct fixture *f, const char *sql)
{
	sqlite3 *db;

	if (f->cat) {
		rain_catalog_close(f->cat);
		f->cat = NULL;
	}
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* An older catalog (version 5) with a membership for a name no user has:
 * gone when it is opened, bob's stays; one written around the catalog
 * later is not the next user of that name's. */
static void test_sqlite_migrate_v5_members(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img;
	struct rain_member m = { .status = RAIN_MEMBER_PENDING, .created_at = T0, .updated_at = T0 }, got;

	SQLITE_ONLY(f);
	img = new_image(1, "shared");
	img->visibility = RAIN_VIS_SHARED;
	create(f, img);
	rain_image_free(img);
	add_user(f, "bob");
	make_id(m.image_id, 1);
	snprintf(m.member, sizeof(m.member), "bob");
	assert_int_equal(rain_catalog_member_add(f->cat, &m), 0);

	sqlite_exec(f, "DROP INDEX users_folded; INSERT INTO image_members VALUES "
		    "('00000000-0000-4000-8000-000000000001', 'ghost', 'accepted', 1, 1);"
		    "PRAGMA user_version = 5");
	assert_int_equal(rain_catalog_open(&f->cat, f->uri), 0);
	assert_int_equal(rain_catalog_member_get(f->cat, m.image_id, "ghost", &got), RAIN_ENOTFOUND);
	assert_int_equal(rain_catalog_member_get(f->cat, m.image_id, "bob", &got), 0);

	sqlite_exec(f, "INSERT INTO image_members VALUES "
		    "('00000000-0000-4000-8000-000000000001', 'ghost', 'accepted', 1, 1)");
	assert_int_equal(rain_catalog_open(&f->cat, f->uri), 0);
	add_user(f, "ghost");
	assert_int_equal(rain_catalog_member_get(f->cat, m.image_id, "ghost", &got), RAIN_ENOTFOUND);
}

/* A version 6 catalog (no charges) gains them when opened, keeps its
 * images and users, and is at the current version afterwards. */
static void test_sqlite_migrate_v6(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img;
	struct rain_charge ch = { .key = "build/1", .owner = "alice", .bytes = 1000 }, *chs = NULL;
	struct rain_user *u = NULL;
	struct rain_usage use;
	size_t n = 0;

	SQLITE_ONLY(f);
	img = new_image(1, "old");
	create(f, img);
	rain_image_free(img);
	add_user(f, "alice");
	sqlite_exec(f, "DROP INDEX charges_owner; DROP TABLE charges; PRAGMA user_version = 6");
	assert_int_equal(rain_catalog_open(&f->cat, f->uri), 0);
	img = get(f, "00000000-0000-4000-8000-000000000001");
	assert_string_equal(img->name, "old");
	rain_image_free(img);
	assert_int_equal(rain_catalog_user_get(f->cat, "alice", &u), 0);
	rain_user_free(u);
	assert_int_equal(rain_catalog_charge_set(f->cat, &ch), 0);
	assert_int_equal(rain_catalog_charge_list(f->cat, "build/", &chs, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(chs[0].bytes, 1000);
	free(chs);
	assert_int_equal(rain_catalog_usage(f->cat, "alice", &use), 0);
	assert_int_equal(use.bytes, 1000);
	rain_catalog_close(f->cat);
	f->cat = NULL;
	assert_int_equal(test_sqlite_user_version(f->path), 10);
}

/* ---- registrations ---- */

static void reg_fill(struct rain_registration *r, int n, const char *site, const char *owner,
		     const char *status, int64_t at)
{
	memset(r, 0, sizeof(*r));
	make_id(r->id, 100 + n);
	make_id(r->image_id, n % 2 + 1);
	snprintf(r->site, sizeof(r->site), "%s", site);
	snprintf(r->owner, sizeof(r->owner), "%s", owner);
	snprintf(r->status, sizeof(r->status), "%s", status);
	r->created_at = at;
	r->updated_at = at;
}

static char *reg_ids(struct fixture *f, const struct rain_registration_query *q)
{
	struct rain_registration *v = NULL;
	char *out = calloc(1, 256);
	size_t n = 0;

	assert_int_equal(rain_catalog_registration_list(f->cat, q, &v, &n), 0);
	for (size_t i = 0; i < n; i++)
		snprintf(out + strlen(out), 256 - strlen(out), "%s%s", i ? " " : "",
			 v[i].id + 33);
	rain_registration_list_free(v, n);
	return out;
}

/* put creates and replaces; get reads back every field; list filters by
 * each column and returns the newest first, limited; delete removes. */
static void test_registrations(void **state)
{
	struct fixture *f = *state;
	struct rain_registration r, got;
	struct rain_registration_query q = { 0 };
	char *ids;

	reg_fill(&r, 1, "cloud", "alice", "registering", 1000);
	r.doc = "{\"remote\": {\"glance_id\": \"x\"}}";
	assert_int_equal(rain_catalog_registration_put(f->cat, &r), 0);
	assert_int_equal(rain_catalog_registration_get(f->cat, r.id, &got), 0);
	assert_string_equal(got.image_id, r.image_id);
	assert_string_equal(got.site, "cloud");
	assert_string_equal(got.owner, "alice");
	assert_string_equal(got.status, "registering");
	assert_int_equal(got.created_at, 1000);
	assert_string_equal(got.doc, r.doc);
	free(got.doc);

	snprintf(r.status, sizeof(r.status), "registered");
	r.updated_at = 2000;
	r.doc = NULL;
	assert_int_equal(rain_catalog_registration_put(f->cat, &r), 0);
	assert_int_equal(rain_catalog_registration_get(f->cat, r.id, &got), 0);
	assert_string_equal(got.status, "registered");
	assert_int_equal(got.updated_at, 2000);
	assert_string_equal(got.doc, "{}");
	free(got.doc);

	reg_fill(&r, 2, "cloud", "bob", "failed", 3000);
	assert_int_equal(rain_catalog_registration_put(f->cat, &r), 0);
	reg_fill(&r, 3, "metal", "alice", "registered", 2000);
	assert_int_equal(rain_catalog_registration_put(f->cat, &r), 0);

	ids = reg_ids(f, &q);
	assert_string_equal(ids, "102 103 101");
	free(ids);
	q.owner = "alice";
	ids = reg_ids(f, &q);
	assert_string_equal(ids, "103 101");
	free(ids);
	q = (struct rain_registration_query){ .site = "cloud", .status = "failed" };
	ids = reg_ids(f, &q);
	assert_string_equal(ids, "102");
	free(ids);
	q = (struct rain_registration_query){ .image_id = r.image_id };
	ids = reg_ids(f, &q);
	assert_string_equal(ids, "103 101");
	free(ids);
	q = (struct rain_registration_query){ .limit = 2 };
	ids = reg_ids(f, &q);
	assert_string_equal(ids, "102 103");
	free(ids);

	assert_int_equal(rain_catalog_registration_delete(f->cat, r.id), 0);
	assert_int_equal(rain_catalog_registration_delete(f->cat, r.id), RAIN_ENOTFOUND);
	assert_int_equal(rain_catalog_registration_get(f->cat, r.id, &got), RAIN_ENOTFOUND);
	assert_null(got.doc);
}

/* A version 7 catalog gains the registrations table when opened. */
static void test_sqlite_migrate_v7(void **state)
{
	struct fixture *f = *state;
	struct rain_registration r;

	SQLITE_ONLY(f);
	sqlite_exec(f, "DROP TABLE registrations; PRAGMA user_version = 7");
	assert_int_equal(rain_catalog_open(&f->cat, f->uri), 0);
	reg_fill(&r, 1, "cloud", "alice", "registered", 1);
	assert_int_equal(rain_catalog_registration_put(f->cat, &r), 0);
	rain_catalog_close(f->cat);
	f->cat = NULL;
	assert_int_equal(test_sqlite_user_version(f->path), 10);
}

/* Tagged images created 1..6 (tag "x" on all, "y" on the even ones),
 * the default order driven from the tags' index: newest first, paged by
 * a marker, with a second tag filtering further. */
static void make_tagged(struct fixture *f)
{
	for (int i = 1; i <= 6; i++) {
		struct rain_image *img = new_image(i, "tagged");

		assert_int_equal(rain_image_tag_add(img, "x"), 0);
		if (i % 2 == 0)
			assert_int_equal(rain_image_tag_add(img, "y"), 0);
		create(f, img);
		rain_image_free(img);
	}
}

/* The ids' numbers of a list by tags (limit, after marker number m). */
static void check_tag_page(struct fixture *f, const char *t1, const char *t2, size_t limit, int m,
			   const char *want)
{
	struct rain_image_query q = { .limit = limit, .requester_admin = true, .ntags = t2 ? 2 : 1,
				      .tags = { t1, t2 } };
	struct rain_image **imgs = NULL;
	char marker[37], got[64] = "";
	size_t n = 0, len = 0;
	bool more;

	if (m) {
		make_id(marker, m);
		q.marker = marker;
	}
	assert_int_equal(list(f, &q, &imgs, &n, &more), 0);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%d", i ? "," : "",
					atoi(imgs[i]->id + 24));
	assert_string_equal(got, want);
	rain_catalog_list_free(imgs, n);
}

static void test_tag_driven(void **state)
{
	struct fixture *f = *state;

	make_tagged(f);
	check_tag_page(f, "x", NULL, 4, 0, "6,5,4,3");
	check_tag_page(f, "x", NULL, 4, 3, "2,1");
	check_tag_page(f, "y", NULL, 2, 0, "6,4");
	check_tag_page(f, "y", NULL, 2, 4, "2");
	check_tag_page(f, "x", "y", 10, 0, "6,4,2");
	check_tag_page(f, "y", "x", 1, 6, "4");
	check_tag_page(f, "z", NULL, 10, 0, "");
}

/* A version 8 catalog (tags without their image's creation time) gains
 * it when opened, the tag lists keep their order, new tags have it. */
static void test_sqlite_migrate_v8(void **state)
{
	struct fixture *f = *state;
	sqlite3 *db;
	sqlite3_stmt *st;

	SQLITE_ONLY(f);
	make_tagged(f);
	sqlite_exec(f, "DROP INDEX image_tags_tc; ALTER TABLE image_tags DROP COLUMN created_at; "
		    "PRAGMA user_version = 8");
	assert_int_equal(rain_catalog_open(&f->cat, f->uri), 0);
	check_tag_page(f, "x", NULL, 4, 0, "6,5,4,3");
	check_tag_page(f, "y", NULL, 2, 4, "2");
	rain_catalog_close(f->cat);
	f->cat = NULL;
	assert_int_equal(test_sqlite_user_version(f->path), 10);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*), sum(t.created_at = i.created_at) "
					    "FROM image_tags t JOIN images i ON i.id = t.image_id",
					    -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 9);
	assert_int_equal(sqlite3_column_int(st, 1), 9);
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_int_equal(rain_catalog_open(&f->cat, f->uri), 0);
}

/* ---- sorting and paging ---- */

#define NPAGE 40

struct row {
	int n;
	char id[37];
	const char *name;       /* may be NULL */
	const char *status;
	const char *disk;       /* may be NULL */
	int64_t size;           /* -1: NULL */
	int64_t created;
	int64_t min_disk;
	bool hidden;
};

static struct row rows[NPAGE];

/* Many ties, NULL names and sizes, equal creation times. */
static void paging_fixture(struct fixture *f)
{
	static const char *const names[] = { "b", NULL, "a", "", "c", "a", NULL, "B" };
	static const char *const statuses[] = { "active", "queued", "saving" };
	static const char *const disks[] = { "raw", NULL, "qcow2", "iso" };
	/* ids not in creation order, so that id ties are meaningful */
	for (int i = 0; i < NPAGE; i++) {
		struct row *w = &rows[i];
		struct rain_image *img;

		w->n = (i * 17) % 97 + 1;
		make_id(w->id, w->n);
		w->name = names[i % 8];
		w->status = statuses[i % 3];
		w->disk = disks[(i / 3) % 4];
		w->size = i % 5 == 0 ? -1 : (i % 4) * 1000;
		w->created = T0 + (i / 4) * SEC;   /* four images per second */
		w->min_disk = i % 2;
		w->hidden = i % 9 == 0;

		img = new_image(0, w->name);
		memcpy(img->id, w->id, sizeof(img->id));
		rain_image_status_parse(w->status, &img->status);
		img->disk_format = w->disk ? strdup(w->disk) : NULL;
		img->size = w->size;
		img->created_at = img->updated_at = w->created;
		img->min_disk = w->min_disk;
		img->os_hidden = w->hidden;
		create(f, img);
		rain_image_free(img);
	}
}

static const struct rain_sort *cmp_sort;
static size_t cmp_nsort;

static int cmp_key(const struct row *a, const struct row *b, const char *key)
{
	if (!strcmp(key, "name"))
		return strcmp(a->name ? a->name : "", b->name ? b->name : "");
	if (!strcmp(key, "status"))
		return strcmp(a->status, b->status);
	if (!strcmp(key, "disk_format"))
		return strcmp(a->disk ? a->disk : "", b->disk ? b->disk : "");
	if (!strcmp(key, "size"))
		return (a->size > b->size) - (a->size < b->size);
	if (!strcmp(key, "created_at"))
		return (a->created > b->created) - (a->created < b->created);
	if (!strcmp(key, "min_disk"))
		return (a->min_disk > b->min_disk) - (a->min_disk < b->min_disk);
	if (!strcmp(key, "os_hidden"))
		return (int)a->hidden - (int)b->hidden;
	if (!strcmp(key, "id"))
		return strcmp(a->id, b->id);
	fail_msg("no comparator for %s", key);
	return 0;
}

/* The order the catalog promises: the keys, then id in the last key's
 * direction (created_at desc when no key is given). */
static int cmp_rows(const void *pa, const void *pb)
{
	const struct row *a = pa, *b = pb;
	struct rain_sort def = { "created_at", true };
	const struct rain_sort *s = cmp_nsort ? cmp_sort : &def;
	size_t ns = cmp_nsort ? cmp_nsort : 1;
	int c;

	for (size_t i = 0; i < ns; i++) {
		c = cmp_key(a, b, s[i].key);
		if (c)
			return s[i].desc ? -c : c;
	}
	c = strcmp(a->id, b->id);
	return s[ns - 1].desc ? -c : c;
}

static void check_paging(struct fixture *f, const struct rain_sort *sort, size_t nsort,
			 bool include_hidden)
{
	struct row want[NPAGE];
	size_t nwant = 0;
	static const size_t limits[] = { 1, 2, 3, 7, 16, 39, 40, 100 };

	for (int i = 0; i < NPAGE; i++)
		if (include_hidden || !rows[i].hidden)
			want[nwant++] = rows[i];
	cmp_sort = sort;
	cmp_nsort = nsort;
	qsort(want, nwant, sizeof(*want), cmp_rows);

	for (size_t li = 0; li < sizeof(limits) / sizeof(*limits); li++) {
		struct rain_image_query q;
		char marker[37];
		size_t seen = 0;
		int pages = 0;
		bool more = true;

		memset(&q, 0, sizeof(q));
		q.limit = limits[li];
		q.include_community = true;
		q.requester_admin = true;
		q.include_hidden = include_hidden;
		if (nsort)
			memcpy(q.sort, sort, nsort * sizeof(*sort));
		q.nsort = nsort;
		while (more) {
			struct rain_image **imgs = NULL;
			size_t n = 0;

			if (list(f, &q, &imgs, &n, &more) < 0)
				fail_msg("list: %s", rain_error_last());
			assert_true(n <= q.limit);
			assert_true(n == q.limit || !more);
			for (size_t i = 0; i < n; i++, seen++) {
				if (seen >= nwant)
					fail_msg("limit %zu: more than %zu images", q.limit, nwant);
				if (strcmp(imgs[i]->id, want[seen].id))
					fail_msg("sort %s%s limit %zu: position %zu is %s, want %s",
						 nsort ? sort[0].key : "(default)",
						 nsort && sort[0].desc ? " desc" : "",
						 q.limit, seen, imgs[i]->id, want[seen].id);
			}
			if (n) {
				memcpy(marker, imgs[n - 1]->id, sizeof(marker));
				q.marker = marker;
			}
			rain_catalog_list_free(imgs, n);
			assert_true(++pages <= NPAGE + 1);
		}
		if (seen != nwant)
			fail_msg("limit %zu: saw %zu of %zu images", q.limit, seen, nwant);
	}
}

static void test_paging_default_order(void **state)
{
	paging_fixture(*state);
	check_paging(*state, NULL, 0, true);
	check_paging(*state, NULL, 0, false);
}

static void test_paging_single_keys(void **state)
{
	static const char *const keys[] = {
		"name", "status", "disk_format", "size", "created_at", "id", "min_disk", "os_hidden"
	};

	paging_fixture(*state);
	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
		struct rain_sort s = { keys[i], false };

		check_paging(*state, &s, 1, true);
		s.desc = true;
		check_paging(*state, &s, 1, true);
	}
}

static void test_paging_multi_keys(void **state)
{
	static const struct rain_sort s1[] = { { "name", false }, { "size", true } };
	static const struct rain_sort s2[] = { { "status", true }, { "name", false }, { "created_at", false } };
	static const struct rain_sort s3[] = { { "disk_format", false }, { "min_disk", true } };
	static const struct rain_sort s4[] = { { "size", true }, { "name", true } };
	static const struct rain_sort s5[] = { { "min_disk", false }, { "disk_format", true },
					       { "name", false }, { "status", true } };
	static const struct rain_sort s6[] = { { "created_at", false }, { "id", true } };

	paging_fixture(*state);
	check_paging(*state, s1, 2, true);
	check_paging(*state, s2, 3, true);
	check_paging(*state, s3, 2, false);
	check_paging(*state, s4, 2, true);
	check_paging(*state, s5, 4, true);
	check_paging(*state, s6, 2, true);
}

/* ---- concurrency ---- */

struct worker {
	struct fixture *f;
	const char *id;
	int increments;
	int conflicts;
	struct rain_catalog *cat;       /* NULL: f->cat */
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct rain_catalog *cat = w->cat ? w->cat : w->f->cat;

	for (int i = 0; i < w->increments; i++) {
		for (;;) {
			struct rain_image *img = NULL;
			int r;

			if (rain_catalog_image_get(cat, w->id, &img) < 0)
				return (void *)1;
			img->min_ram++;
			r = rain_catalog_image_update(cat, img);
			rain_image_free(img);
			if (r == 0)
				break;
			if (r != RAIN_ECONFLICT)
				return (void *)2;
			w->conflicts++;
		}
	}
	return NULL;
}

static void test_concurrent_updates(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img = new_image(1, "counter"), *got;
	struct worker w[4];
	pthread_t th[4];

	create(f, img);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ f, img->id, 15, 0, NULL };
		assert_int_equal(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		void *ret;

		pthread_join(th[i], &ret);
		assert_null(ret);
	}
	got = get(f, img->id);
	/* no increment was lost; every write bumped the revision once */
	assert_true(got->min_ram == 60);
	assert_true(got->revision == 60);
	rain_image_free(got);
	rain_image_free(img);
}

struct login_worker {
	struct rain_catalog *cat;
	int failures;
	int failed;
};

static void *login_worker_run(void *arg)
{
	const struct rain_lockout_rule rule = { .limit = 1000, .window_us = 3600 * SEC, .lock_us = SEC };
	struct login_worker *w = arg;
	struct rain_login_failures lf;
	bool locks;

	for (int i = 0; i < w->failures; i++)
		if (rain_catalog_login_failed(w->cat, "mallory", T0 + i, &rule, &lf, &locks) < 0)
			w->failed++;
	return NULL;
}

/* Two handles on one catalog, as two raind sharing it would have: image
 * updates from both lose no increment, failed logins counted through
 * both add up, a user name is taken for both, and a token revoked or a
 * user deactivated through one handle is seen at once through the other
 * (also after it was looked up, and cached, there). */
static void test_shared_catalog(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img = new_image(1, "shared"), *got;
	struct rain_catalog *other = NULL;
	struct rain_login_failures lf;
	struct login_worker lw[4];
	struct worker w[4];
	pthread_t th[8];
	struct rain_user u = { .name = (char *)"zed", .status = RAIN_USER_ACTIVE, .created_at = T0,
			       .last_login = -1 };
	struct rain_token t = { .issued_at = T0, .expires_at = T0 + 3600 * SEC };
	struct rain_token seen;

	assert_int_equal(rain_catalog_open(&other, f->uri), 0);
	create(f, img);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ f, img->id, 10, 0, i % 2 ? other : f->cat };
		lw[i] = (struct login_worker){ i % 2 ? other : f->cat, 10, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
		assert_int_equal(pthread_create(&th[4 + i], NULL, login_worker_run, &lw[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		void *ret;

		pthread_join(th[i], &ret);
		assert_null(ret);
	}
	got = get(f, img->id);
	assert_true(got->min_ram == 40);
	assert_true(got->revision == 40);
	rain_image_free(got);
	for (int i = 0; i < 4; i++)
		assert_int_equal(lw[i].failed, 0);
	assert_int_equal(rain_catalog_login_get(other, "mallory", &lf), 0);
	assert_int_equal(lf.count, 40);

	/* one user, whichever handle asks */
	assert_int_equal(rain_catalog_user_create(f->cat, &u), 0);
	assert_int_equal(rain_catalog_user_create(other, &u), RAIN_EEXISTS);
	assert_error_contains("user zed exists already");

	/* SQLite's per-handle token cache follows the other's commits */
	snprintf(t.hash, sizeof(t.hash), "%064d", 7);
	snprintf(t.user, sizeof(t.user), "zed");
	assert_int_equal(rain_catalog_token_create(f->cat, &t), 0);
	assert_int_equal(rain_catalog_token_lookup(f->cat, t.hash, &seen), 0);
	assert_false(seen.revoked);
	assert_int_equal(rain_catalog_token_lookup(other, t.hash, &seen), 0);
	assert_int_equal(rain_catalog_token_lookup(other, t.hash, &seen), 0);
	assert_false(seen.revoked);
	assert_int_equal(rain_catalog_token_revoke(other, t.hash), 0);
	assert_int_equal(rain_catalog_token_lookup(f->cat, t.hash, &seen), 0);
	assert_true(seen.revoked);
	u.status = RAIN_USER_INACTIVE;
	assert_int_equal(rain_catalog_user_update(other, &u), 0);
	assert_int_equal(rain_catalog_token_lookup(f->cat, t.hash, &seen), 0);
	assert_int_equal(seen.status, RAIN_USER_INACTIVE);
	rain_catalog_close(other);
	rain_image_free(img);
}

/* Reservations under a quota and holds on blobs, through two handles as
 * two raind would: the check counts the other's charges, a key's own
 * charge is replaced rather than added, a lapsed charge counts no more
 * (and usage leaves uploads in flight out); an upload's hold on a hash
 * refuses another's removal, a removal's refuses an upload's, an image
 * referring to the hash refuses a removal, a lapsed hold is ignored and a
 * released one gone. */
static void test_reserve_and_hold(void **state)
{
	struct fixture *f = *state;
	static const char *const h = "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";
	struct rain_charge a = { .key = "upload/a/1", .owner = "qa", .bytes = 60 };
	struct rain_charge b = { .key = "upload/b/2", .owner = "qa", .bytes = 30 };
	struct rain_charge c = { .key = "build/c", .owner = "qa", .bytes = 5 };
	struct rain_catalog *other = NULL;
	struct rain_image *img;
	struct rain_usage u;
	int64_t used = -1, far = time_now_us() + 600 * SEC;

	assert_int_equal(rain_catalog_open(&other, f->uri), 0);
	a.expires_at = b.expires_at = far;
	assert_int_equal(rain_catalog_charge_reserve(f->cat, &a, 100, &used), 0);
	assert_int_equal(rain_catalog_charge_reserve(other, &b, 100, &used), 0);
	assert_true(used == 60);
	b.bytes = 41;
	assert_int_equal(rain_catalog_charge_reserve(other, &b, 100, &used), RAIN_ETOOBIG);
	assert_true(used == 60);
	b.bytes = 40;
	assert_int_equal(rain_catalog_charge_reserve(other, &b, 100, &used), 0);
	/* full: not even a start (0 bytes) fits; without a quota all does */
	c.bytes = 0;
	assert_int_equal(rain_catalog_charge_reserve(f->cat, &c, 100, NULL), RAIN_ETOOBIG);
	c.bytes = 5;
	assert_int_equal(rain_catalog_charge_reserve(f->cat, &c, 0, NULL), 0);
	assert_int_equal(rain_catalog_usage(other, "qa", &u), 0);
	assert_true(u.bytes == 5);
	/* a's lease lapsed: its 60 bytes count no more */
	a.expires_at = time_now_us() - 1;
	assert_int_equal(rain_catalog_charge_set(f->cat, &a), 0);
	b.bytes = 90;
	assert_int_equal(rain_catalog_charge_reserve(other, &b, 100, &used), 0);
	assert_true(used == 5);

	/* holds */
	assert_int_equal(rain_catalog_blob_hold(f->cat, h, "up-1", false, far), 0);
	assert_int_equal(rain_catalog_blob_hold(other, h, "rm-2", true, far), RAIN_ECONFLICT);
	assert_int_equal(rain_catalog_blob_release(f->cat, h, "up-1"), 0);
	assert_int_equal(rain_catalog_blob_hold(other, h, "rm-2", true, far), 0);
	assert_int_equal(rain_catalog_blob_hold(f->cat, h, "up-3", false, far), RAIN_ECONFLICT);
	assert_error_contains("being removed");
	assert_int_equal(rain_catalog_blob_release(other, h, "rm-2"), 0);
	assert_int_equal(rain_catalog_blob_release(other, h, "rm-2"), 0);
	assert_int_equal(rain_catalog_blob_hold(f->cat, h, "up-3", false, time_now_us() - 1), 0);
	assert_int_equal(rain_catalog_blob_hold(other, h, "rm-4", true, far), 0);
	assert_int_equal(rain_catalog_blob_release(other, h, "rm-4"), 0);
	img = new_image(9, "refers");
	img->os_hash_value = strdup(h);
	create(f, img);
	assert_int_equal(rain_catalog_blob_hold(other, h, "rm-5", true, far), RAIN_ECONFLICT);
	assert_error_contains("referenced");
	rain_image_free(img);
	rain_catalog_close(other);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_open_uri),
		T(test_create_get),
		T(test_get_missing),
		T(test_duplicate_id),
		T(test_update_revision),
		T(test_update_keeps_stats),
		T(test_delete),
		T(test_touch),
		T(test_blob_refs),
		T(test_reset_status),
		T(test_persistence),
		T(test_newer_schema_refused),
		T(test_login_failures),
		T(test_filter_core_columns),
		T(test_filter_size_bool),
		T(test_filter_properties_tags),
		T(test_filter_default_order),
		T(test_bad_filters),
		cmocka_unit_test(test_sort_keys_valid),
		T(test_visibility_scope),
		T(test_hidden_by_default),
		T(test_list_loads_children),
		T(test_limit_more),
		T(test_unknown_marker),
		T(test_marker_visibility),
		T(test_members_need_user),
		T(test_sqlite_migrate_v5_members),
		T(test_sqlite_migrate_v6),
		T(test_registrations),
		T(test_sqlite_migrate_v7),
		T(test_tag_driven),
		T(test_sqlite_migrate_v8),
		T(test_paging_default_order),
		T(test_paging_single_keys),
		T(test_paging_multi_keys),
		T(test_concurrent_updates),
		T(test_shared_catalog),
		T(test_reserve_and_hold),
	};

	struct catalog_under_test all[MAX_CATALOGS];
	const char *env = getenv("RAIN_TEST_CATALOGS");
	char *extra = strdup(env ? env : ""), *save = NULL;
	size_t n = 0;
	int failed = 0;

	for (size_t i = 0; i < sizeof(catalogs) / sizeof(catalogs[0]); i++)
		all[n++] = catalogs[i];
	for (char *uri = strtok_r(extra, " ", &save); uri && n < MAX_CATALOGS;
	     uri = strtok_r(NULL, " ", &save))
		all[n++] = (struct catalog_under_test){ uri, uri };
	for (size_t i = 0; i < n; i++) {
		current = &all[i];
		failed += cmocka_run_group_tests_name(current->name, tests, NULL, NULL);
	}
	free(extra);
	return failed;
}
