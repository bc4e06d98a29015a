/* Copying an SQLite catalog into a PostgreSQL one (rain-admin migrate).
 *
 * Table by table and column by column, below the catalog API: the API
 * has no way to list tokens or failed logins, and appending to the audit
 * log would renumber it. Both ends are first opened as catalogs, which
 * brings the source to the current schema and creates the destination's tables;
 * then every row goes over with COPY (the data stream, not SQL) in one
 * PostgreSQL transaction, which also checks, before it commits, that each
 * table holds as many rows as the source and the same values, row by row
 * in primary key order (both sides compare text bytewise). Any
 * difference rolls everything back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "rain/catalog.h"
#include "rain/error.h"
#include "util/cleanup.h"

/* The tables of schema 10 (but blob_holds: holds live minutes), parents before children, with their columns
 * (the same names on both ends) and primary key. */
static const struct table {
	const char *name;
	const char *columns;
	const char *key;
} tables[] = {
	{ "images", "id, name, status, visibility, protected, os_hidden, checksum, os_hash_algo, "
		    "os_hash_value, size, virtual_size, disk_format, container_format, min_disk, "
		    "min_ram, owner, created_at, updated_at, download_count, last_access, revision",
	  "id" },
	{ "image_properties", "image_id, name, value, created_at", "image_id, name" },
	{ "image_tags", "image_id, tag, created_at", "image_id, tag" },
	{ "users", "name, role, status, quota_bytes, quota_images, created_at, last_login, "
		   "password_hash", "name" },
	{ "tokens", "hash, \"user\", issued_at, expires_at, revoked", "hash" },
	{ "image_members", "image_id, member, status, created_at, updated_at", "image_id, member" },
	{ "audit", "id, at, actor, address, method, path, target, status", "id" },
	{ "login_failures", "name, count, first_at, locked_until", "name" },
	{ "charges", "key, owner, bytes, expires_at", "key" },
	{ "registrations", "id, image_id, site, owner, status, created_at, updated_at, doc", "id" },
};

#define NTABLES (sizeof(tables) / sizeof(tables[0]))
_Static_assert(NTABLES == RAIN_CATALOG_TABLES, "RAIN_CATALOG_TABLES counts the tables");

struct copy {
	sqlite3 *db;
	PGconn *pg;
	const char *src;
	const char *dst;
};

static int sq_fail(struct copy *c, const char *what, const char *table)
{
	return rain_error_set(RAIN_EIO, "migrate: %s %s of %s: %s", what, table, c->src,
			      sqlite3_errmsg(c->db));
}

static int pg_fail(struct copy *c, PGresult *res, const char *what, const char *table)
{
	const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(c->pg);
	size_t n = strcspn(msg, "\n");

	return rain_error_set(RAIN_EIO, "migrate: %s %s of %s: %.*s", what, table, c->dst, (int)n, msg);
}

/* Run fixed SQL on the destination; *out (may be NULL) the result. */
static int pg_exec(struct copy *c, const char *sql, PGresult **out, const char *what, const char *table)
{
	PGresult *res = PQexec(c->pg, sql);
	int r = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		r = pg_fail(c, res, what, table);
	if (r == 0 && out)
		*out = res;
	else
		PQclear(res);
	return r;
}

/* Append v to buf in COPY's text format (backslash escapes). */
static void copy_escape(FILE *buf, const char *v)
{
	for (; *v; v++) {
		switch (*v) {
		case '\\': fputs("\\\\", buf); break;
		case '\t': fputs("\\t", buf); break;
		case '\n': fputs("\\n", buf); break;
		case '\r': fputs("\\r", buf); break;
		default: fputc(*v, buf);
		}
	}
}

static int copy_table(struct copy *c, const struct table *t, int64_t *rows)
{
	_cleanup_free_ char *sql = NULL, *copy = NULL, *line = NULL;
	sqlite3_stmt *st = NULL;
	PGresult *res = NULL;
	size_t len = 0;
	int rc, r = 0;

	*rows = 0;
	if (asprintf(&sql, "SELECT %s FROM %s", t->columns, t->name) < 0 ||
	    asprintf(&copy, "COPY %s (%s) FROM STDIN", t->name, t->columns) < 0)
		return rain_error_oom();
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		return sq_fail(c, "read", t->name);
	res = PQexec(c->pg, copy);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		r = pg_fail(c, res, "write", t->name);
		PQclear(res);
		sqlite3_finalize(st);
		return r;
	}
	PQclear(res);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		FILE *buf = open_memstream(&line, &len);

		if (!buf) {
			r = rain_error_oom();
			break;
		}
		for (int i = 0; i < sqlite3_column_count(st); i++) {
			const char *v = (const char *)sqlite3_column_text(st, i);

			if (i)
				fputc('\t', buf);
			if (v)
				copy_escape(buf, v);
			else
				fputs("\\N", buf);
		}
		fputc('\n', buf);
		fclose(buf);
		if (PQputCopyData(c->pg, line, (int)len) != 1)
			r = pg_fail(c, NULL, "write", t->name);
		free(line);
		line = NULL;
		(*rows)++;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sq_fail(c, "read", t->name);
	sqlite3_finalize(st);
	/* an error ends the COPY, and with it the transaction */
	if (PQputCopyEnd(c->pg, r == 0 ? NULL : "migrate failed") != 1 && r == 0)
		r = pg_fail(c, NULL, "write", t->name);
	while ((res = PQgetResult(c->pg))) {
		if (r == 0 && PQresultStatus(res) != PGRES_COMMAND_OK)
			r = pg_fail(c, res, "write", t->name);
		PQclear(res);
	}
	return r;
}

/* Whether table t of the destination has the rows of the source: the
 * same count, then the same values row by row in key order. */
static int verify_table(struct copy *c, const struct table *t, int64_t rows)
{
	_cleanup_free_ char *sql = NULL;
	sqlite3_stmt *st = NULL;
	PGresult *res = NULL;
	int64_t n = 0;
	int r = 0, ncol;

	if (asprintf(&sql, "SELECT %s FROM %s ORDER BY %s", t->columns, t->name, t->key) < 0)
		return rain_error_oom();
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		return sq_fail(c, "verify", t->name);
	ncol = sqlite3_column_count(st);
	/* row by row from the server, in constant memory */
	if (!PQsendQuery(c->pg, sql) || !PQsetSingleRowMode(c->pg)) {
		sqlite3_finalize(st);
		return pg_fail(c, NULL, "verify", t->name);
	}
	while ((res = PQgetResult(c->pg))) {
		ExecStatusType s = PQresultStatus(res);

		if (r == 0 && s == PGRES_SINGLE_TUPLE) {
			if (sqlite3_step(st) != SQLITE_ROW) {
				r = rain_error_set(RAIN_EIO, "migrate: verify %s: %s has more rows than %s",
						   t->name, c->dst, c->src);
			}
			for (int i = 0; r == 0 && i < ncol; i++) {
				const char *a = (const char *)sqlite3_column_text(st, i);
				const char *b = PQgetisnull(res, 0, i) ? NULL : PQgetvalue(res, 0, i);

				if ((a == NULL) != (b == NULL) || (a && strcmp(a, b)))
					r = rain_error_set(RAIN_EIO, "migrate: verify %s: row %lld column %s "
							   "differs ('%s' in %s, '%s' in %s)", t->name,
							   (long long)n + 1, PQfname(res, i), a ? a : "NULL",
							   c->src, b ? b : "NULL", c->dst);
			}
			n++;
		} else if (r == 0 && s != PGRES_TUPLES_OK) {
			r = pg_fail(c, res, "verify", t->name);
		}
		PQclear(res);
	}
	if (r == 0 && sqlite3_step(st) == SQLITE_ROW)
		r = rain_error_set(RAIN_EIO, "migrate: verify %s: %s has fewer rows than %s", t->name,
				   c->dst, c->src);
	if (r == 0 && n != rows)
		r = rain_error_set(RAIN_EIO, "migrate: verify %s: %lld rows copied, %lld found in %s",
				   t->name, (long long)rows, (long long)n, c->dst);
	sqlite3_finalize(st);
	return r;
}

/* Whether the destination holds rows in any table: RAIN_EEXISTS naming
 * the first such table. */
static int check_empty(struct copy *c)
{
	for (size_t i = 0; i < NTABLES; i++) {
		_cleanup_free_ char *sql = NULL;
		PGresult *res = NULL;
		bool any;
		int r;

		if (asprintf(&sql, "SELECT EXISTS (SELECT 1 FROM %s)", tables[i].name) < 0)
			return rain_error_oom();
		r = pg_exec(c, sql, &res, "check", tables[i].name);
		if (r < 0)
			return r;
		any = !strcmp(PQgetvalue(res, 0, 0), "t");
		PQclear(res);
		if (any)
			return rain_error_set(RAIN_EEXISTS, "migrate: the destination %s is not empty (table "
					      "%s has rows): give another, or --replace to empty it first",
					      c->dst, tables[i].name);
	}
	return 0;
}

static void notice_drop(void *arg, const char *message)
{
}

int rain_catalog_migrate(const char *src, const char *dst, bool replace,
			 struct rain_catalog_migrate_count *counts, size_t *ncounts)
{
	struct copy c = { .src = src, .dst = dst };
	struct rain_catalog *cat = NULL;
	const char *path = src;
	struct stat sb;
	int r;

	rain_error_clear();
	*ncounts = 0;
	if (!strncmp(src, "sqlite:", 7))
		path = src + 7;
	if ((path == src && (strstr(src, "://") || !strncmp(src, "postgresql:", 11))) ||
	    strncmp(dst, "postgresql:", 11))
		return rain_error_set(RAIN_EINVAL, "migrate: copies an SQLite catalog (sqlite:PATH) to "
				      "PostgreSQL (postgresql://...), not %s to %s", src, dst);
	/* opening would create an empty source */
	if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
		return rain_error_set(RAIN_ENOTFOUND, "migrate: no SQLite catalog at %s", path);
	/* both at the current schema: the source migrated, the destination created */
	r = rain_catalog_open(&cat, src);
	if (r < 0)
		return r;
	rain_catalog_close(cat);
	r = rain_catalog_open(&cat, dst);
	if (r < 0)
		return r;
	rain_catalog_close(cat);

	if (sqlite3_open_v2(path, &c.db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		r = sq_fail(&c, "open", "catalog");
		sqlite3_close(c.db);
		return r;
	}
	c.pg = PQconnectdb(dst);
	if (PQstatus(c.pg) != CONNECTION_OK) {
		r = pg_fail(&c, NULL, "connect to", "catalog");
		goto done;
	}
	PQsetNoticeProcessor(c.pg, notice_drop, NULL);
	/* one snapshot of the source; one transaction on the destination */
	r = sqlite3_exec(c.db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK ? 0 : sq_fail(&c, "read", "catalog");
	if (r == 0)
		r = pg_exec(&c, "BEGIN", NULL, "begin", "catalog");
	if (r == 0 && replace)
		r = pg_exec(&c, "TRUNCATE images, image_properties, image_tags, users, tokens, image_members, "
			    "audit, login_failures, charges, registrations RESTART IDENTITY", NULL,
			    "empty", "catalog");
	if (r == 0 && !replace)
		r = check_empty(&c);
	for (size_t i = 0; r == 0 && i < NTABLES; i++) {
		counts[i].table = tables[i].name;
		r = copy_table(&c, &tables[i], &counts[i].rows);
		if (r == 0)
			*ncounts = i + 1;
	}
	/* new audit entries number on after the copied ones */
	if (r == 0)
		r = pg_exec(&c, "SELECT setval(pg_get_serial_sequence('audit', 'id'), max(id)) FROM audit "
			    "HAVING max(id) IS NOT NULL", NULL, "renumber", "audit");
	for (size_t i = 0; r == 0 && i < NTABLES; i++)
		r = verify_table(&c, &tables[i], counts[i].rows);
	if (r == 0)
		r = pg_exec(&c, "COMMIT", NULL, "commit", "catalog");
	if (r < 0) {
		PQclear(PQexec(c.pg, "ROLLBACK"));
		*ncounts = 0;
	}
done:
	sqlite3_close(c.db);
	PQfinish(c.pg);
	return r;
}
