/* The SQLite catalog backend.
 *
 * One database file in WAL mode with synchronous=FULL, so a committed
 * change survives a crash of the process or the machine.  Each thread
 * borrows a connection from a small pool; readers never wait for writers
 * and writers take the write lock up front (BEGIN IMMEDIATE).
 * All SQL is fixed text or built from the fixed column table below;
 * every value is bound as a parameter.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "rain/catalog.h"
#include "rain/error.h"
#include "rain/sys/catalog.h"
#include "util/cleanup-sqlite.h"
#include "util/strutil.h"
#include "util/timeutil.h"

enum stmt_id {
	ST_GET_IMAGE,
	ST_GET_PROPS,
	ST_GET_TAGS,
	ST_INSERT_IMAGE,
	ST_INSERT_PROP,
	ST_INSERT_TAG,
	ST_DELETE_PROPS,
	ST_DELETE_TAGS,
	ST_UPDATE_IMAGE,
	ST_DELETE_IMAGE,
	ST_EXISTS,
	ST_TOUCH,
	ST_BLOB_REFS,
	ST_RESET_STATUS,
	ST_USER_INSERT,
	ST_USER_GET,
	ST_USER_LIST,
	ST_USER_UPDATE,
	ST_USER_DELETE,
	ST_USER_IMAGES,
	ST_USER_MEMBERSHIPS_DELETE,
	ST_USER_COUNT,
	ST_USER_FOLDED,
	ST_USAGE,
	ST_MEMBER_ADD,
	ST_MEMBER_GET,
	ST_MEMBER_SET,
	ST_MEMBER_LIST,
	ST_MEMBER_DELETE,
	ST_AUDIT_APPEND,
	ST_AUDIT_QUERY,
	ST_USER_TOUCH,
	ST_TOKEN_INSERT,
	ST_TOKEN_LOOKUP,
	ST_TOKEN_REVOKE,
	ST_TOKEN_REVOKE_USER,
	ST_TOKEN_PURGE,
	ST_LOGIN_GET,
	ST_LOGIN_PUT,
	ST_LOGIN_CLEAR,
	ST_LOGIN_PURGE,
	ST_CHARGE_SET,
	ST_CHARGE_DELETE,
	ST_CHARGE_LIST,
	ST_CHARGE_USED,
	ST_HOLD_COUNT,
	ST_HOLD_PUT,
	ST_HOLD_DELETE,
	ST_HOLD_PURGE,
	ST_DATA_VERSION,
	ST_REG_PUT,
	ST_REG_GET,
	ST_REG_LIST,
	ST_REG_DELETE,
	ST_BEGIN,
	ST_BEGIN_READ,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_COUNT
};

#define IMAGE_COLUMNS \
	"id, name, status, visibility, protected, os_hidden, checksum, " \
	"os_hash_algo, os_hash_value, size, virtual_size, disk_format, " \
	"container_format, min_disk, min_ram, owner, created_at, updated_at, " \
	"download_count, last_access, revision"

#define REG_COLUMNS "id, image_id, site, owner, status, created_at, updated_at, doc"
#define USER_COLUMNS \
	"name, role, status, quota_bytes, quota_images, created_at, last_login, password_hash"

static const char *const stmt_sql[ST_COUNT] = {
	[ST_GET_IMAGE] = "SELECT " IMAGE_COLUMNS " FROM images WHERE id = ?1",
	[ST_GET_PROPS] = "SELECT name, value FROM image_properties WHERE image_id = ?1 ORDER BY name",
	[ST_GET_TAGS] = "SELECT tag FROM image_tags WHERE image_id = ?1 ORDER BY tag",
	[ST_INSERT_IMAGE] = "INSERT INTO images (" IMAGE_COLUMNS ") VALUES "
		"(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
	[ST_INSERT_PROP] = "INSERT INTO image_properties (image_id, name, value, created_at) "
		"VALUES (?1, ?2, ?3, ?4)",
	[ST_INSERT_TAG] = "INSERT INTO image_tags (image_id, tag, created_at) VALUES (?1, ?2, ?3)",
	[ST_DELETE_PROPS] = "DELETE FROM image_properties WHERE image_id = ?1",
	[ST_DELETE_TAGS] = "DELETE FROM image_tags WHERE image_id = ?1",
	[ST_UPDATE_IMAGE] = "UPDATE images SET name = ?2, status = ?3, visibility = ?4, "
		"protected = ?5, os_hidden = ?6, checksum = ?7, os_hash_algo = ?8, "
		"os_hash_value = ?9, size = ?10, virtual_size = ?11, disk_format = ?12, "
		"container_format = ?13, min_disk = ?14, min_ram = ?15, owner = ?16, "
		"created_at = ?17, updated_at = ?18, revision = revision + 1 "
		"WHERE id = ?1 AND revision = ?21",
	[ST_DELETE_IMAGE] = "DELETE FROM images WHERE id = ?1 AND revision = ?2",
	[ST_EXISTS] = "SELECT 1 FROM images WHERE id = ?1",
	[ST_TOUCH] = "UPDATE images SET download_count = download_count + 1, "
		"last_access = ?2 WHERE id = ?1",
	[ST_BLOB_REFS] = "SELECT (SELECT count(*) FROM images WHERE os_hash_value = ?1) + "
		"(SELECT count(*) FROM image_properties WHERE name = 'rain_vetting_report' "
		"AND value = ?1)",
	[ST_RESET_STATUS] = "UPDATE images SET status = ?2, revision = revision + 1, "
		"updated_at = ?3 WHERE status = ?1",
	[ST_USER_INSERT] = "INSERT INTO users (" USER_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[ST_USER_GET] = "SELECT " USER_COLUMNS " FROM users WHERE name = ?1",
	[ST_USER_LIST] = "SELECT " USER_COLUMNS " FROM users ORDER BY name",
	[ST_USER_UPDATE] = "UPDATE users SET role = ?2, status = ?3, quota_bytes = ?4, "
		"quota_images = ?5, last_login = ?7, password_hash = ?8 WHERE name = ?1",
	[ST_USER_DELETE] = "DELETE FROM users WHERE name = ?1",
	[ST_USER_IMAGES] = "SELECT count(*) FROM images WHERE owner = ?1 AND status != 'deleted'",
	[ST_USER_MEMBERSHIPS_DELETE] = "DELETE FROM image_members WHERE member = ?1",
	[ST_USER_COUNT] = "SELECT count(*) FROM users",
	/* names differing only in (ASCII) case are one user */
	[ST_USER_FOLDED] = "SELECT name FROM users WHERE lower(name) = lower(?1)",
	/* members only for users who exist, in one statement */
	[ST_MEMBER_ADD] = "INSERT INTO image_members (image_id, member, status, created_at, updated_at) "
		"SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM users WHERE name = ?2)",
	[ST_MEMBER_GET] = "SELECT image_id, member, status, created_at, updated_at FROM image_members "
		"WHERE image_id = ?1 AND member = ?2",
	[ST_MEMBER_SET] = "UPDATE image_members SET status = ?3, updated_at = ?5 WHERE image_id = ?1 AND member = ?2",
	[ST_MEMBER_LIST] = "SELECT image_id, member, status, created_at, updated_at FROM image_members "
		"WHERE image_id = ?1 ORDER BY member",
	[ST_MEMBER_DELETE] = "DELETE FROM image_members WHERE image_id = ?1 AND member = ?2",
	[ST_AUDIT_APPEND] = "INSERT INTO audit (at, actor, address, method, path, target, status) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	/* the newest ?4 matching, returned oldest first */
	[ST_AUDIT_QUERY] = "SELECT * FROM (SELECT id, at, actor, address, method, path, target, status FROM audit "
		"WHERE at >= ?1 AND (?2 IS NULL OR actor = ?2) AND (?3 IS NULL OR target = ?3) "
		"AND (?5 IS NULL OR actor = ?5 OR target = ?5) ORDER BY id DESC LIMIT ?4) ORDER BY id",
	[ST_USAGE] = "SELECT COALESCE(SUM(CASE WHEN status IN ('active', 'deactivated') THEN size END), 0) "
		"+ (SELECT COALESCE(SUM(bytes), 0) FROM charges WHERE owner = ?1 "
		"AND substr(key, 1, 7) != 'upload/' AND (expires_at = 0 OR expires_at > ?2)), "
		"count(*), COALESCE(SUM(status = 'saving'), 0) FROM images "
		"WHERE owner = ?1 AND status != 'deleted'",
	[ST_USER_TOUCH] = "UPDATE users SET last_login = ?2 WHERE name = ?1",
	/* only for an active user: a login racing a deactivation must not
	 * leave a token that the next reactivation would bring to life */
	[ST_TOKEN_INSERT] = "INSERT INTO tokens (hash, user, issued_at, expires_at, revoked) "
		"SELECT ?1, ?2, ?3, ?4, 0 WHERE EXISTS (SELECT 1 FROM users WHERE name = ?2 AND "
		"status = 'active')",
	[ST_TOKEN_LOOKUP] = "SELECT t.hash, t.user, t.issued_at, t.expires_at, t.revoked, "
		"u.role, u.status, u.quota_bytes, u.quota_images "
		"FROM tokens t JOIN users u ON u.name = t.user WHERE t.hash = ?1",
	[ST_TOKEN_REVOKE] = "UPDATE tokens SET revoked = 1 WHERE hash = ?1",
	[ST_TOKEN_REVOKE_USER] = "UPDATE tokens SET revoked = 1 WHERE user = ?1 AND hash IS NOT ?2",
	[ST_TOKEN_PURGE] = "DELETE FROM tokens WHERE expires_at < ?1",
	[ST_LOGIN_GET] = "SELECT count, first_at, locked_until FROM login_failures WHERE name = ?1",
	[ST_LOGIN_PUT] = "INSERT OR REPLACE INTO login_failures (name, count, first_at, locked_until) "
		"VALUES (?1, ?2, ?3, ?4)",
	[ST_LOGIN_CLEAR] = "DELETE FROM login_failures WHERE name = ?1",
	/* names whose count is out of its window and whose lock has passed */
	[ST_LOGIN_PURGE] = "DELETE FROM login_failures WHERE first_at < ?1 AND locked_until <= ?2",
	[ST_CHARGE_SET] = "INSERT OR REPLACE INTO charges (key, owner, bytes, expires_at) "
		"VALUES (?1, ?2, ?3, ?4)",
	[ST_CHARGE_DELETE] = "DELETE FROM charges WHERE key = ?1",
	[ST_CHARGE_LIST] = "SELECT key, owner, bytes, expires_at FROM charges "
		"WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key",
	/* the owner's usage in bytes but for charge ?2 */
	[ST_CHARGE_USED] = "SELECT (SELECT COALESCE(SUM(size), 0) FROM images WHERE owner = ?1 "
		"AND status IN ('active', 'deactivated')) + (SELECT COALESCE(SUM(bytes), 0) "
		"FROM charges WHERE owner = ?1 AND key != ?2 AND (expires_at = 0 OR expires_at > ?3))",
	/* others' live holds on a hash; ?4 = 1: removals only */
	[ST_HOLD_COUNT] = "SELECT count(*) FROM blob_holds WHERE hash = ?1 AND holder != ?2 "
		"AND expires_at > ?3 AND removal >= ?4",
	[ST_HOLD_PUT] = "INSERT OR REPLACE INTO blob_holds (hash, holder, removal, expires_at) "
		"VALUES (?1, ?2, ?3, ?4)",
	[ST_HOLD_DELETE] = "DELETE FROM blob_holds WHERE hash = ?1 AND holder = ?2",
	[ST_HOLD_PURGE] = "DELETE FROM blob_holds WHERE expires_at <= ?1",
	/* changes when another connection (of any process) commits */
	[ST_DATA_VERSION] = "PRAGMA data_version",
	[ST_REG_PUT] = "INSERT OR REPLACE INTO registrations (" REG_COLUMNS ") "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[ST_REG_GET] = "SELECT " REG_COLUMNS " FROM registrations WHERE id = ?1",
	/* newest first; ?6: how many (-1: all) */
	[ST_REG_LIST] = "SELECT " REG_COLUMNS " FROM registrations WHERE (?1 IS NULL OR owner = ?1) "
		"AND (?2 IS NULL OR site = ?2) AND (?3 IS NULL OR image_id = ?3) "
		"AND (?4 IS NULL OR status = ?4) ORDER BY created_at DESC, id LIMIT ?5",
	[ST_REG_DELETE] = "DELETE FROM registrations WHERE id = ?1",
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_BEGIN_READ] = "BEGIN",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
};

static const char schema_sql[] =
	"CREATE TABLE images ("
	" id TEXT PRIMARY KEY NOT NULL,"
	" name TEXT,"
	" status TEXT NOT NULL,"
	" visibility TEXT NOT NULL,"
	" protected INTEGER NOT NULL DEFAULT 0,"
	" os_hidden INTEGER NOT NULL DEFAULT 0,"
	" checksum TEXT,"
	" os_hash_algo TEXT,"
	" os_hash_value TEXT,"
	" size INTEGER,"
	" virtual_size INTEGER,"
	" disk_format TEXT,"
	" container_format TEXT,"
	" min_disk INTEGER NOT NULL DEFAULT 0,"
	" min_ram INTEGER NOT NULL DEFAULT 0,"
	" owner TEXT,"
	" created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL,"
	" download_count INTEGER NOT NULL DEFAULT 0,"
	" last_access INTEGER NOT NULL DEFAULT 0,"
	" revision INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX images_created ON images (created_at, id);"
	"CREATE INDEX images_name ON images (name);"
	"CREATE INDEX images_owner ON images (owner);"
	"CREATE INDEX images_status ON images (status);"
	"CREATE INDEX images_hash ON images (os_hash_value);"
	"CREATE TABLE image_properties ("
	" image_id TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,"
	" name TEXT NOT NULL,"
	" value TEXT NOT NULL,"
	" created_at INTEGER NOT NULL,"  /* the image's, for ordered filtering */
	" PRIMARY KEY (image_id, name)) WITHOUT ROWID;"
	"CREATE INDEX image_properties_nv ON image_properties (name, value, created_at, image_id);"
	"CREATE TABLE image_tags ("
	" image_id TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,"
	" tag TEXT NOT NULL,"
	" PRIMARY KEY (image_id, tag)) WITHOUT ROWID;"
	"CREATE INDEX image_tags_tag ON image_tags (tag);"
	"PRAGMA user_version = 1;";

/* Version 2: users and their tokens (tokens only as SHA-256 hashes). */
static const char migrate_v2_sql[] =
	"CREATE TABLE users ("
	" name TEXT PRIMARY KEY NOT NULL,"
	" role TEXT NOT NULL CHECK (role IN ('user', 'admin')),"
	" status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'inactive')),"
	" quota_bytes INTEGER NOT NULL,"
	" quota_images INTEGER NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" last_login INTEGER,"
	" password_hash TEXT"
	") WITHOUT ROWID;"
	"CREATE TABLE tokens ("
	" hash TEXT PRIMARY KEY NOT NULL,"
	" user TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,"
	" issued_at INTEGER NOT NULL,"
	" expires_at INTEGER NOT NULL,"
	" revoked INTEGER NOT NULL DEFAULT 0"
	") WITHOUT ROWID;"
	"CREATE INDEX tokens_user ON tokens (user);"
	"CREATE INDEX tokens_expires ON tokens (expires_at);"
	"PRAGMA user_version = 2;";

/* Version 3: members of shared images. */
static const char migrate_v3_sql[] =
	"CREATE TABLE image_members ("
	" image_id TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,"
	" member TEXT NOT NULL,"
	" status TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'rejected')),"
	" created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL,"
	" PRIMARY KEY (image_id, member)) WITHOUT ROWID;"
	"CREATE INDEX image_members_member ON image_members (member, status);"
	"PRAGMA user_version = 3;";

/* Version 4: the append-only audit log (triggers refuse changes). */
static const char migrate_v4_sql[] =
	"CREATE TABLE audit ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" at INTEGER NOT NULL,"
	" actor TEXT NOT NULL,"
	" address TEXT NOT NULL,"
	" method TEXT NOT NULL,"
	" path TEXT NOT NULL,"
	" target TEXT NOT NULL,"
	" status INTEGER NOT NULL);"
	"CREATE INDEX audit_at ON audit (at);"
	"CREATE INDEX audit_actor ON audit (actor, id);"
	"CREATE INDEX audit_target ON audit (target, id);"
	"CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
	"CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
	"PRAGMA user_version = 4;";

/* Version 5: failed logins per user name, for the lock-out (kept across
 * restarts; names need not be users). */
static const char migrate_v5_sql[] =
	"CREATE TABLE login_failures ("
	" name TEXT PRIMARY KEY NOT NULL,"
	" count INTEGER NOT NULL,"
	" first_at INTEGER NOT NULL,"
	" locked_until INTEGER NOT NULL) WITHOUT ROWID;"
	"PRAGMA user_version = 5;";

/* Version 6: members only for users who exist (those added for names no
 * user had would have given access to whoever took the name later), and
 * an index for the case-folded name check of user_create. */
static const char migrate_v6_sql[] =
	"DELETE FROM image_members WHERE member NOT IN (SELECT name FROM users);"
	"CREATE INDEX users_folded ON users (lower(name));"
	"PRAGMA user_version = 6;";

/* Version 7: bytes owners store outside images (a build's files), in
 * their usage (rain_catalog_usage) and quota. */
static const char migrate_v7_sql[] =
	"CREATE TABLE IF NOT EXISTS charges ("
	" key TEXT PRIMARY KEY NOT NULL,"
	" owner TEXT NOT NULL,"
	" bytes INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS charges_owner ON charges (owner);"
	"PRAGMA user_version = 7;";

/* Version 8: registrations of images at sites (rain/target.h). */
static const char migrate_v8_sql[] =
	"CREATE TABLE IF NOT EXISTS registrations ("
	" id TEXT PRIMARY KEY NOT NULL,"
	" image_id TEXT NOT NULL,"
	" site TEXT NOT NULL,"
	" owner TEXT NOT NULL,"
	" status TEXT NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL,"
	" doc TEXT NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS registrations_owner ON registrations (owner, created_at);"
	"CREATE INDEX IF NOT EXISTS registrations_image ON registrations (image_id);"
	"CREATE INDEX IF NOT EXISTS registrations_site ON registrations (site, created_at);"
	"PRAGMA user_version = 8;";

/* Version 9: tags carry their image's creation time, as properties do,
 * so that a list filtered by a tag in the default order (newest first)
 * is driven from the tag's index and stops after one page. */
static const char migrate_v9_column_sql[] =
	"ALTER TABLE image_tags ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;";
static const char migrate_v9_sql[] =
	"UPDATE image_tags SET created_at = (SELECT i.created_at FROM images i WHERE i.id = image_tags.image_id);"
	"CREATE INDEX IF NOT EXISTS image_tags_tc ON image_tags (tag, created_at, image_id);"
	"PRAGMA user_version = 9;";

/* Version 10: several raind on one catalog. A charge may lapse (an
 * upload's bytes in flight, held under a lease), and blobs are held
 * while one server publishes or removes them (rain_catalog_blob_hold). */
static const char migrate_v10_column_sql[] =
	"ALTER TABLE charges ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;";
static const char migrate_v10_sql[] =
	"CREATE TABLE IF NOT EXISTS blob_holds ("
	" hash TEXT NOT NULL,"
	" holder TEXT NOT NULL,"
	" removal INTEGER NOT NULL,"
	" expires_at INTEGER NOT NULL,"
	" PRIMARY KEY (hash, holder));"
	"PRAGMA user_version = 10;";

#define SCHEMA_VERSION 10

/* Generated list queries repeat (same filters, other values): each
 * connection keeps the last few prepared. */
#define STMT_CACHE 16

struct cached_stmt {
	char *sql;
	sqlite3_stmt *st;
};

struct conn {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	struct cached_stmt cache[STMT_CACHE];
	unsigned int cache_next;
	int64_t data_version;   /* as last read on this connection */
	struct conn *next;
};

/* Validated tokens are looked up on every request: the last ones found
 * are kept here, each with the generation it was read in; every change to
 * users or tokens starts a new generation, so a revoked token or an
 * inactive user is refused at once. Another process's commit (another
 * raind on the same file) starts one too: each lookup first reads its
 * connection's data_version, which changes with every commit of another
 * connection. */
#define TOKEN_CACHE_SLOTS 256

struct token_slot {
	uint64_t gen;          /* 0: empty */
	struct rain_token t;
};

struct sq {
	char *path;
	pthread_mutex_t lock;
	struct conn *idle;
	pthread_mutex_t cache_lock;
	uint64_t gen;          /* starts at 1 */
	struct token_slot tokens[TOKEN_CACHE_SLOTS];
};

static struct token_slot *token_slot(struct sq *s, const char *hash)
{
	return &s->tokens[strtoul((char[9]){ hash[0], hash[1], hash[2], hash[3], hash[4], hash[5],
					      hash[6], hash[7], '\0' }, NULL, 16) % TOKEN_CACHE_SLOTS];
}

/* Forget every cached token (after a change to users or tokens). */
static void tokens_changed(struct sq *s)
{
	pthread_mutex_lock(&s->cache_lock);
	s->gen++;
	pthread_mutex_unlock(&s->cache_lock);
}

static int sq_error(sqlite3 *db, int rc, const char *what)
{
	int code = RAIN_EIO;

	if (rc == SQLITE_FULL)
		code = RAIN_ENOSPC;
	else if ((rc & 0xff) == SQLITE_CONSTRAINT)
		code = RAIN_EEXISTS;
	return rain_error_set(code, "catalog: %s: %s", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

static void conn_free(struct conn *c)
{
	if (!c)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(c->st[i]);
	for (int i = 0; i < STMT_CACHE; i++) {
		sqlite3_finalize(c->cache[i].st);
		free(c->cache[i].sql);
	}
	sqlite3_close(c->db);
	free(c);
}

/* The schema version of db in *out: an SQLite code. */
static int user_version(sqlite3 *db, int *out)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);

	if (rc != SQLITE_OK)
		return rc;
	if (sqlite3_step(st) == SQLITE_ROW)
		*out = sqlite3_column_int(st, 0);
	return SQLITE_OK;
}

/* Whether table (a fixed name) has column col. */
static bool has_column(sqlite3 *db, const char *table, const char *col)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", -1, &st,
			       NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, col, -1, SQLITE_STATIC);
	return sqlite3_step(st) == SQLITE_ROW;
}

static int conn_open(const char *path, bool create, struct conn **out)
{
	struct conn *c = calloc(1, sizeof(*c));
	int rc, version = 0;

	if (!c)
		return rain_error_oom();
	rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rc = sq_error(c->db, rc, "open");
		conn_free(c);
		return rc;
	}
	sqlite3_busy_timeout(c->db, 30000);
	rc = sqlite3_exec(c->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
			  "PRAGMA foreign_keys = ON; PRAGMA cache_size = -16000;", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	if (create) {
		rc = user_version(c->db, &version);
		if (rc != SQLITE_OK)
			goto fail;
		if (version > SCHEMA_VERSION) {
			conn_free(c);
			return rain_error_set(RAIN_EINVAL,
					      "catalog %s has schema version %d, newer than this raind knows (%d)",
					      path, version, SCHEMA_VERSION);
		}
		if (version < SCHEMA_VERSION) {
			/* one transaction from whatever version to the newest */
			rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
			if (rc == SQLITE_OK && version < 1)
				rc = sqlite3_exec(c->db, schema_sql, NULL, NULL, NULL);
			if (rc == SQLITE_OK && version < 2)
				rc = sqlite3_exec(c->db, migrate_v2_sql, NULL, NULL, NULL);
			if (rc == SQLITE_OK && version < 3)
				rc = sqlite3_exec(c->db, migrate_v3_sql, NULL, NULL, NULL);
			if (rc == SQLITE_OK && version < 4)
				rc = sqlite3_exec(c->db, migrate_v4_sql, NULL, NULL, NULL);
			if (rc == SQLITE_OK && version < 5)
				rc = sqlite3_exec(c->db, migrate_v5_sql, NULL, NULL, NULL);
			if (rc == SQLITE_OK && version < 6)
				rc = sqlite3_exec(c->db, migrate_v6_sql, NULL, NULL, NULL);
			if (rc == SQLITE_OK && version < 7)
				rc = sqlite3_exec(c->db, migrate_v7_sql, NULL, NULL, NULL);
			if (rc == SQLITE_OK && version < 8)
				rc = sqlite3_exec(c->db, migrate_v8_sql, NULL, NULL, NULL);
			/* the column may be there (a catalog whose version was
			 * set back): SQLite has no ADD COLUMN IF NOT EXISTS */
			if (rc == SQLITE_OK && version < 9 && !has_column(c->db, "image_tags", "created_at"))
				rc = sqlite3_exec(c->db, migrate_v9_column_sql, NULL, NULL, NULL);
			if (rc == SQLITE_OK && version < 9)
				rc = sqlite3_exec(c->db, migrate_v9_sql, NULL, NULL, NULL);
			if (rc == SQLITE_OK && version < 10 && !has_column(c->db, "charges", "expires_at"))
				rc = sqlite3_exec(c->db, migrate_v10_column_sql, NULL, NULL, NULL);
			if (rc == SQLITE_OK && version < 10)
				rc = sqlite3_exec(c->db, migrate_v10_sql, NULL, NULL, NULL);
			if (rc == SQLITE_OK)
				rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
			if (rc != SQLITE_OK) {
				rc = sq_error(c->db, rc, version ? "migrate schema" : "create schema");
				conn_free(c);
				return rc;
			}
		}
	}
	for (int i = 0; i < ST_COUNT; i++) {
		rc = sqlite3_prepare_v3(c->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
					&c->st[i], NULL);
		if (rc != SQLITE_OK)
			goto fail;
	}
	*out = c;
	return 0;
fail:
	rc = sq_error(c->db, rc, "open");
	conn_free(c);
	return rc;
}

/* A prepared statement for sql from the connection's cache (reset, no
 * bindings); it stays owned by the cache. */
static int conn_prepare(struct conn *c, const char *sql, sqlite3_stmt **out)
{
	struct cached_stmt *slot;
	int rc;

	for (int i = 0; i < STMT_CACHE; i++)
		if (c->cache[i].sql && !strcmp(c->cache[i].sql, sql)) {
			*out = c->cache[i].st;
			return 0;
		}
	slot = &c->cache[c->cache_next++ % STMT_CACHE];
	sqlite3_finalize(slot->st);
	free(slot->sql);
	slot->st = NULL;
	slot->sql = strdup(sql);
	if (!slot->sql)
		return rain_error_oom();
	rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &slot->st, NULL);
	if (rc != SQLITE_OK) {
		free(slot->sql);
		slot->sql = NULL;
		return sq_error(c->db, rc, "prepare");
	}
	*out = slot->st;
	return 0;
}

static void stmt_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static int conn_get(struct sq *s, struct conn **out)
{
	pthread_mutex_lock(&s->lock);
	if (s->idle) {
		*out = s->idle;
		s->idle = s->idle->next;
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	pthread_mutex_unlock(&s->lock);
	return conn_open(s->path, false, out);
}

static void conn_put(struct sq *s, struct conn *c)
{
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_reset(c->st[i]);
	for (int i = 0; i < STMT_CACHE; i++)
		if (c->cache[i].st)
			stmt_done(c->cache[i].st);
	if (!sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_lock(&s->lock);
	c->next = s->idle;
	s->idle = c;
	pthread_mutex_unlock(&s->lock);
}

static int sq_open(const char *location, void **impl)
{
	struct sq *s;
	struct conn *c;
	int fd, r;

	/* create the file ourselves so that it is private (0600) */
	fd = open(location, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot open catalog %s", location);
	close(fd);
	s = calloc(1, sizeof(*s));
	if (!s)
		return rain_error_oom();
	s->path = strdup(location);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->cache_lock, NULL);
	s->gen = 1;
	if (!s->path) {
		free(s);
		return rain_error_oom();
	}
	r = conn_open(location, true, &c);
	if (r < 0) {
		free(s->path);
		free(s);
		return r;
	}
	s->idle = c;
	*impl = s;
	return 0;
}

static void sq_close(void *impl)
{
	struct sq *s = impl;

	while (s->idle) {
		struct conn *c = s->idle;

		s->idle = c->next;
		if (!s->idle)
			sqlite3_exec(c->db, "PRAGMA optimize", NULL, NULL, NULL);
		conn_free(c);
	}
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->cache_lock);
	free(s->path);
	free(s);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static void bind_num(sqlite3_stmt *st, int i, int64_t v)
{
	if (v >= 0)
		sqlite3_bind_int64(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

/* Bind the 21 image columns in IMAGE_COLUMNS order. */
static void bind_image(sqlite3_stmt *st, const struct rain_image *img)
{
	bind_text(st, 1, img->id);
	bind_text(st, 2, img->name);
	bind_text(st, 3, rain_image_status_name(img->status));
	bind_text(st, 4, rain_visibility_name(img->visibility));
	sqlite3_bind_int(st, 5, img->protected_);
	sqlite3_bind_int(st, 6, img->os_hidden);
	bind_text(st, 7, img->checksum);
	bind_text(st, 8, img->os_hash_algo);
	bind_text(st, 9, img->os_hash_value);
	bind_num(st, 10, img->size);
	bind_num(st, 11, img->virtual_size);
	bind_text(st, 12, img->disk_format);
	bind_text(st, 13, img->container_format);
	sqlite3_bind_int64(st, 14, img->min_disk);
	sqlite3_bind_int64(st, 15, img->min_ram);
	bind_text(st, 16, img->owner);
	sqlite3_bind_int64(st, 17, img->created_at);
	sqlite3_bind_int64(st, 18, img->updated_at);
	sqlite3_bind_int64(st, 19, img->download_count);
	sqlite3_bind_int64(st, 20, img->last_access);
	sqlite3_bind_int64(st, 21, img->revision);
}

static int col_str(sqlite3_stmt *st, int i, char **out)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	*out = NULL;
	if (!s)
		return 0;
	*out = strdup((const char *)s);
	return *out ? 0 : rain_error_oom();
}

static int64_t col_num(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, i);
}

/* Build an image from a row in IMAGE_COLUMNS order starting at column 0. */
static int row_to_image(sqlite3_stmt *st, struct rain_image **out)
{
	struct rain_image *img = rain_image_new();
	const char *id = (const char *)sqlite3_column_text(st, 0);
	int r = 0;

	if (!img)
		return rain_error_oom();
	snprintf(img->id, sizeof(img->id), "%s", id ? id : "");
	r |= col_str(st, 1, &img->name);
	rain_image_status_parse((const char *)sqlite3_column_text(st, 2), &img->status);
	rain_visibility_parse((const char *)sqlite3_column_text(st, 3), &img->visibility);
	img->protected_ = sqlite3_column_int(st, 4);
	img->os_hidden = sqlite3_column_int(st, 5);
	r |= col_str(st, 6, &img->checksum);
	r |= col_str(st, 7, &img->os_hash_algo);
	r |= col_str(st, 8, &img->os_hash_value);
	img->size = col_num(st, 9);
	img->virtual_size = col_num(st, 10);
	r |= col_str(st, 11, &img->disk_format);
	r |= col_str(st, 12, &img->container_format);
	img->min_disk = sqlite3_column_int64(st, 13);
	img->min_ram = sqlite3_column_int64(st, 14);
	r |= col_str(st, 15, &img->owner);
	img->created_at = sqlite3_column_int64(st, 16);
	img->updated_at = sqlite3_column_int64(st, 17);
	img->download_count = sqlite3_column_int64(st, 18);
	img->last_access = sqlite3_column_int64(st, 19);
	img->revision = sqlite3_column_int64(st, 20);
	if (r) {
		rain_image_free(img);
		return rain_error_oom();
	}
	*out = img;
	return 0;
}

/* Load the tags and properties of img. */
static int load_children(struct conn *c, struct rain_image *img)
{
	sqlite3_stmt *st = c->st[ST_GET_PROPS];
	int rc, r = 0;

	sqlite3_bind_text(st, 1, img->id, -1, SQLITE_STATIC);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		r = rain_image_prop_set(img, (const char *)sqlite3_column_text(st, 0),
					(const char *)sqlite3_column_text(st, 1));
	if (r == 0 && rc != SQLITE_DONE)
		r = sq_error(c->db, rc, "read properties");
	sqlite3_reset(st);
	if (r < 0)
		return r;
	st = c->st[ST_GET_TAGS];
	sqlite3_bind_text(st, 1, img->id, -1, SQLITE_STATIC);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		r = rain_image_tag_add(img, (const char *)sqlite3_column_text(st, 0));
	if (r == 0 && rc != SQLITE_DONE)
		r = sq_error(c->db, rc, "read tags");
	sqlite3_reset(st);
	return r;
}

/* Run a statement that returns no rows; reset it after. */
static int step_done(struct conn *c, enum stmt_id id, const char *what)
{
	int rc = sqlite3_step(c->st[id]);

	sqlite3_reset(c->st[id]);
	sqlite3_clear_bindings(c->st[id]);
	if (rc != SQLITE_DONE)
		return sq_error(c->db, rc, what);
	return 0;
}

/* A statement of one integer row: *out; reset after. */
static int step_int(struct conn *c, enum stmt_id id, int64_t *out, const char *what)
{
	int rc = sqlite3_step(c->st[id]);

	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(c->st[id], 0);
	sqlite3_reset(c->st[id]);
	sqlite3_clear_bindings(c->st[id]);
	return rc == SQLITE_ROW ? 0 : sq_error(c->db, rc, what);
}

static int write_children(struct conn *c, const struct rain_image *img)
{
	int r;

	for (size_t i = 0; i < img->nprops; i++) {
		sqlite3_stmt *st = c->st[ST_INSERT_PROP];

		sqlite3_bind_text(st, 1, img->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, img->props[i].name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, img->props[i].value, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, img->created_at);
		r = step_done(c, ST_INSERT_PROP, "store property");
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < img->ntags; i++) {
		sqlite3_stmt *st = c->st[ST_INSERT_TAG];

		sqlite3_bind_text(st, 1, img->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, img->tags[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, img->created_at);
		r = step_done(c, ST_INSERT_TAG, "store tag");
		if (r < 0)
			return r;
	}
	return 0;
}

static int tx_begin(struct conn *c)
{
	return step_done(c, ST_BEGIN, "begin");
}

static int tx_end(struct conn *c, int r)
{
	if (r == 0)
		r = step_done(c, ST_COMMIT, "commit");
	if (r < 0 && !sqlite3_get_autocommit(c->db))
		step_done(c, ST_ROLLBACK, "rollback");
	return r;
}

static int sq_image_create(void *impl, const struct rain_image *img)
{
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	r = tx_begin(c);
	if (r == 0) {
		bind_image(c->st[ST_INSERT_IMAGE], img);
		r = step_done(c, ST_INSERT_IMAGE, "create image");
		if (r == RAIN_EEXISTS)
			rain_error_set(r, "Image with identifier %s already exists!", img->id);
		if (r == 0)
			r = write_children(c, img);
		r = tx_end(c, r);
	}
	conn_put(impl, c);
	return r;
}

static int get_image(struct conn *c, const char *id, struct rain_image **out)
{
	sqlite3_stmt *st = c->st[ST_GET_IMAGE];
	struct rain_image *img = NULL;
	int rc, r;

	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = row_to_image(st, &img);
	else if (rc == SQLITE_DONE)
		r = rain_error_set(RAIN_ENOTFOUND, "No image found with ID %s", id);
	else
		r = sq_error(c->db, rc, "read image");
	sqlite3_reset(st);
	if (r == 0)
		r = load_children(c, img);
	if (r < 0) {
		rain_image_free(img);
		return r;
	}
	*out = img;
	return 0;
}

/* One read transaction: a consistent snapshot, and one lock instead of
 * one per statement. */
static int read_begin(struct conn *c)
{
	return step_done(c, ST_BEGIN_READ, "begin");
}

static int sq_image_get(void *impl, const char *id, struct rain_image **out)
{
	struct rain_image *img = NULL;
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;

	r = read_begin(c);
	if (r == 0)
		r = tx_end(c, get_image(c, id, &img));
	conn_put(impl, c);
	if (r < 0) {
		rain_image_free(img);
		return r;
	}
	*out = img;
	return 0;
}

/* After a conditional write changed no row: gone, or written by another? */
static int lost_race(struct conn *c, const char *id)
{
	sqlite3_stmt *st = c->st[ST_EXISTS];
	int rc;

	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return rain_error_set(RAIN_ECONFLICT, "image %s was changed by another request", id);
	return rain_error_set(RAIN_ENOTFOUND, "No image found with ID %s", id);
}

static int sq_image_update(void *impl, const struct rain_image *img)
{
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	r = tx_begin(c);
	if (r == 0) {
		bind_image(c->st[ST_UPDATE_IMAGE], img);
		/* ?19 and ?20 (statistics) are not in the UPDATE */
		sqlite3_bind_null(c->st[ST_UPDATE_IMAGE], 19);
		sqlite3_bind_null(c->st[ST_UPDATE_IMAGE], 20);
		r = step_done(c, ST_UPDATE_IMAGE, "update image");
		if (r == 0 && sqlite3_changes(c->db) == 0)
			r = lost_race(c, img->id);
		if (r == 0) {
			sqlite3_bind_text(c->st[ST_DELETE_PROPS], 1, img->id, -1, SQLITE_STATIC);
			r = step_done(c, ST_DELETE_PROPS, "update properties");
		}
		if (r == 0) {
			sqlite3_bind_text(c->st[ST_DELETE_TAGS], 1, img->id, -1, SQLITE_STATIC);
			r = step_done(c, ST_DELETE_TAGS, "update tags");
		}
		if (r == 0)
			r = write_children(c, img);
		r = tx_end(c, r);
	}
	conn_put(impl, c);
	return r;
}

static int sq_image_delete(void *impl, const struct rain_image *img)
{
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	r = tx_begin(c);
	if (r == 0) {
		sqlite3_bind_text(c->st[ST_DELETE_IMAGE], 1, img->id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(c->st[ST_DELETE_IMAGE], 2, img->revision);
		r = step_done(c, ST_DELETE_IMAGE, "delete image");
		if (r == 0 && sqlite3_changes(c->db) == 0)
			r = lost_race(c, img->id);
		r = tx_end(c, r);
	}
	conn_put(impl, c);
	return r;
}

static int sq_image_touch(void *impl, const char *id, int64_t now_us)
{
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	sqlite3_bind_text(c->st[ST_TOUCH], 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(c->st[ST_TOUCH], 2, now_us);
	r = step_done(c, ST_TOUCH, "record access");
	conn_put(impl, c);
	return r;
}

static int sq_blob_refs(void *impl, const char *hash, int64_t *count)
{
	struct conn *c;
	sqlite3_stmt *st;
	int rc, r = conn_get(impl, &c);

	if (r < 0)
		return r;
	st = c->st[ST_BLOB_REFS];
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*count = sqlite3_column_int64(st, 0);
	else
		r = sq_error(c->db, rc, "count blob references");
	sqlite3_reset(st);
	conn_put(impl, c);
	return r;
}

static int sq_reset_status(void *impl, enum rain_image_status from,
			   enum rain_image_status to, int64_t *changed)
{
	struct conn *c;
	sqlite3_stmt *st;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	st = c->st[ST_RESET_STATUS];
	sqlite3_bind_text(st, 1, rain_image_status_name(from), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, rain_image_status_name(to), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, time_now_us());
	r = step_done(c, ST_RESET_STATUS, "reset status");
	if (r == 0 && changed)
		*changed = sqlite3_changes(c->db);
	conn_put(impl, c);
	return r;
}

/* ---- listing ---- */

enum col_type { COL_TEXT, COL_INT, COL_BOOL, COL_TIME };

struct column {
	const char *attr;
	const char *expr;      /* sort/compare expression (NULLs folded) */
	const char *col;       /* plain column for filters */
	enum col_type type;
};

static const struct column columns[] = {
	{ "id", "i.id", "i.id", COL_TEXT },
	{ "name", "ifnull(i.name, '')", "i.name", COL_TEXT },
	{ "status", "i.status", "i.status", COL_TEXT },
	{ "visibility", "i.visibility", "i.visibility", COL_TEXT },
	{ "owner", "ifnull(i.owner, '')", "i.owner", COL_TEXT },
	{ "disk_format", "ifnull(i.disk_format, '')", "i.disk_format", COL_TEXT },
	{ "container_format", "ifnull(i.container_format, '')", "i.container_format", COL_TEXT },
	{ "protected", "i.protected", "i.protected", COL_BOOL },
	{ "os_hidden", "i.os_hidden", "i.os_hidden", COL_BOOL },
	{ "size", "ifnull(i.size, -1)", "i.size", COL_INT },
	{ "virtual_size", "ifnull(i.virtual_size, -1)", "i.virtual_size", COL_INT },
	{ "min_disk", "i.min_disk", "i.min_disk", COL_INT },
	{ "min_ram", "i.min_ram", "i.min_ram", COL_INT },
	{ "created_at", "i.created_at", "i.created_at", COL_TIME },
	{ "updated_at", "i.updated_at", "i.updated_at", COL_TIME },
	{ "checksum", "ifnull(i.checksum, '')", "i.checksum", COL_TEXT },
	{ "os_hash_value", "ifnull(i.os_hash_value, '')", "i.os_hash_value", COL_TEXT },
};

static const struct column *column_find(const char *attr)
{
	for (size_t i = 0; i < sizeof(columns) / sizeof(*columns); i++)
		if (!strcmp(columns[i].attr, attr))
			return &columns[i];
	return NULL;
}

static const char *op_sql(enum rain_query_op op)
{
	switch (op) {
	case RAIN_OP_NEQ: return "!=";
	case RAIN_OP_GT: return ">";
	case RAIN_OP_GTE: return ">=";
	case RAIN_OP_LT: return "<";
	case RAIN_OP_LTE: return "<=";
	default: return "=";
	}
}

/* Bound parameters of a list query, in order. */
struct params {
	struct {
		enum col_type type;
		char *text;
		int64_t num;
	} v[RAIN_QUERY_MAX_TERMS * 16 + 64];
	size_t n;
	sqlite3_value *marker[RAIN_QUERY_MAX_SORT + 1];
	size_t nmarker;
};

static int param_add(struct params *p, enum col_type type, const char *value, const char *attr)
{
	char *copy;

	if (p->n >= sizeof(p->v) / sizeof(p->v[0]))
		return rain_error_set(RAIN_ETOOBIG, "too many filter values");
	p->v[p->n].type = type;
	p->v[p->n].text = NULL;
	switch (type) {
	case COL_INT:
		if (str_to_i64(value, &p->v[p->n].num) < 0)
			return rain_error_set(RAIN_EINVAL, "filter %s: '%s' is not an integer", attr, value);
		break;
	case COL_BOOL:
		if (!strcasecmp(value, "true"))
			p->v[p->n].num = 1;
		else if (!strcasecmp(value, "false"))
			p->v[p->n].num = 0;
		else
			return rain_error_set(RAIN_EINVAL, "filter %s: '%s' is not true or false", attr, value);
		break;
	case COL_TIME:
		if (time_parse_iso(value, &p->v[p->n].num) < 0)
			return rain_error_set(RAIN_EINVAL,
					      "filter %s: '%s' is not an ISO 8601 time (2024-01-31T12:00:00Z)",
					      attr, value);
		break;
	case COL_TEXT:
		copy = strdup(value);
		if (!copy)
			return rain_error_oom();
		p->v[p->n].text = copy;
		break;
	}
	p->n++;
	return 0;
}

static void params_free(struct params *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i].text);
	for (size_t i = 0; i < p->nmarker; i++)
		sqlite3_value_free(p->marker[i]);
}

/* Append "expr op ?" or "expr IN (?, ?)" for one term, values to p. */
static int term_sql(FILE *sql, struct params *p, const char *expr, enum col_type type,
		    const struct rain_query_term *t)
{
	if (t->op == RAIN_OP_IN) {
		_cleanup_free_ char *list = strdup(t->value);
		char *save = NULL, *v;
		bool first = true;
		int r;

		if (!list)
			return rain_error_oom();
		fprintf(sql, "%s IN (", expr);
		for (v = strtok_r(list, ",", &save); v; v = strtok_r(NULL, ",", &save)) {
			r = param_add(p, type, v, t->attr);
			if (r < 0)
				return r;
			fprintf(sql, "%s?", first ? "" : ", ");
			first = false;
		}
		if (first)
			return rain_error_set(RAIN_EINVAL, "filter %s: 'in:' needs a value", t->attr);
		fputs(")", sql);
		return 0;
	}
	fprintf(sql, "%s %s ?", expr, op_sql(t->op));
	return param_add(p, type, t->value, t->attr);
}

#define IMAGE_COLUMNS_I \
	"i.id, i.name, i.status, i.visibility, i.protected, i.os_hidden, i.checksum, " \
	"i.os_hash_algo, i.os_hash_value, i.size, i.virtual_size, i.disk_format, " \
	"i.container_format, i.min_disk, i.min_ram, i.owner, i.created_at, i.updated_at, " \
	"i.download_count, i.last_access, i.revision"

static bool default_order(const struct rain_image_query *q)
{
	return q->nsort == 0 || (q->nsort == 1 && !strcmp(q->sort[0].key, "created_at") &&
				 q->sort[0].desc);
}

/* With the default order (newest first) and a property filter by value,
 * the query is driven from the property index (name, value, created_at,
 * image_id), already in the wanted order: the scan stops after one page
 * however many images match. Returns that term, or NULL. */
static const struct rain_query_term *driving_term(const struct rain_image_query *q)
{
	if (!default_order(q))
		return NULL;
	for (size_t i = 0; i < q->nterms; i++)
		if (!column_find(q->terms[i].attr) && q->terms[i].op == RAIN_OP_EQ)
			return &q->terms[i];
	return NULL;
}

/* Else, the same with a tag: driven from image_tags (tag, created_at,
 * image_id). Returns the tag, or NULL. */
static const char *driving_tag(const struct rain_image_query *q)
{
	return default_order(q) && q->ntags > 0 && !driving_term(q) ? q->tags[0] : NULL;
}

static const char *sort_expr(const struct rain_sort *s, bool driven)
{
	if (driven && !strcmp(s->key, "created_at"))
		return "p0.created_at";
	if (driven && !strcmp(s->key, "id"))
		return "p0.image_id";
	return column_find(s->key)->expr;
}

/* Fetch the sort values of the marker image into p->marker. */
static int marker_values(struct conn *c, const struct rain_image_query *q,
			 const struct rain_sort *sort, size_t nsort, struct params *p)
{
	_cleanup_free_ char *msql = NULL;
	sqlite3_stmt *st;
	size_t mlen;
	FILE *m = open_memstream(&msql, &mlen);
	int rc, r;

	if (!m)
		return rain_error_oom();
	fputs("SELECT ", m);
	for (size_t i = 0; i < nsort; i++)
		fprintf(m, "%s%s", i ? ", " : "", sort_expr(&sort[i], false));
	/* only an image the requester may see (rain/policy.h), else the
	 * answer would tell where others' private images sort */
	fputs(" FROM images i WHERE i.id = ?1 AND i.status != 'deleted' AND (?2 OR i.owner = ?3 OR "
	      "i.visibility IN ('public', 'community') OR (i.visibility = 'shared' AND EXISTS "
	      "(SELECT 1 FROM image_members m WHERE m.image_id = i.id AND m.member = ?3)))", m);
	fclose(m);
	r = conn_prepare(c, msql, &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, q->marker, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, q->requester_admin);
	sqlite3_bind_text(st, 3, q->requester ? q->requester : "", -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		for (size_t i = 0; i < nsort; i++)
			p->marker[p->nmarker++] = sqlite3_value_dup(sqlite3_column_value(st, (int)i));
	} else if (rc == SQLITE_DONE) {
		r = rain_error_set(RAIN_EINVAL, "marker %s not found", q->marker);
	} else {
		r = sq_error(c->db, rc, "list");
	}
	stmt_done(st);
	return r;
}

static int build_list_sql(struct conn *c, const struct rain_image_query *q,
			  struct params *p, char **out)
{
	const struct rain_query_term *by_prop = driving_term(q);
	const char *by_tag = driving_tag(q);
	bool driver = by_prop || by_tag;
	struct rain_sort sort[RAIN_QUERY_MAX_SORT + 1];
	size_t nsort = 0, len;
	char *text = NULL;
	FILE *sql = open_memstream(&text, &len);
	int r = 0;

	if (!sql)
		return rain_error_oom();
	for (size_t i = 0; i < q->nsort && i < RAIN_QUERY_MAX_SORT; i++)
		sort[nsort++] = q->sort[i];
	if (nsort == 0)
		sort[nsort++] = (struct rain_sort){ "created_at", true };
	sort[nsort] = (struct rain_sort){ "id", sort[nsort - 1].desc };
	nsort++;

	/* parameters are numbered in the order their '?' appear */
	if (by_prop) {
		fputs("SELECT " IMAGE_COLUMNS_I " FROM image_properties p0 "
		      "JOIN images i ON i.id = p0.image_id "
		      "WHERE p0.name = ? AND p0.value = ? AND i.status != 'deleted'", sql);
		r = param_add(p, COL_TEXT, by_prop->attr, by_prop->attr);
		if (r == 0)
			r = param_add(p, COL_TEXT, by_prop->value, by_prop->attr);
	} else if (by_tag) {
		fputs("SELECT " IMAGE_COLUMNS_I " FROM image_tags p0 "
		      "JOIN images i ON i.id = p0.image_id "
		      "WHERE p0.tag = ? AND i.status != 'deleted'", sql);
		r = param_add(p, COL_TEXT, by_tag, "tag");
	} else {
		fputs("SELECT " IMAGE_COLUMNS_I " FROM images i WHERE i.status != 'deleted'", sql);
	}
	if (r == 0 && !q->requester_admin) {
		fputs(" AND (i.owner = ? OR i.visibility IN ('public', 'community') OR (i.visibility = 'shared' AND "
		      "EXISTS (SELECT 1 FROM image_members m WHERE m.image_id = i.id AND m.member = ? "
		      "AND (? = 'all' OR m.status = ?))))", sql);
		r = param_add(p, COL_TEXT, q->requester ? q->requester : "", "owner");
		if (r == 0)
			r = param_add(p, COL_TEXT, q->requester ? q->requester : "", "owner");
		for (int k = 0; r == 0 && k < 2; k++)
			r = param_add(p, COL_TEXT, q->member_status ? q->member_status : "accepted",
				      "member_status");
	}
	if (r == 0 && !q->include_community) {
		fputs(" AND (i.visibility != 'community' OR i.owner = ?)", sql);
		r = param_add(p, COL_TEXT, q->requester ? q->requester : "", "owner");
	}
	if (r == 0 && !q->include_hidden)
		fputs(" AND i.os_hidden = 0", sql);
	for (size_t i = 0; r == 0 && i < q->nterms; i++) {
		const struct rain_query_term *t = &q->terms[i];
		const struct column *col = column_find(t->attr);

		if (t == by_prop)
			continue;
		fputs(" AND ", sql);
		if (col) {
			r = term_sql(sql, p, col->col, col->type, t);
		} else {
			/* a property: name bound first, then the value(s) */
			fputs("i.id IN (SELECT image_id FROM image_properties WHERE name = ? AND ", sql);
			r = param_add(p, COL_TEXT, t->attr, t->attr);
			if (r == 0)
				r = term_sql(sql, p, "value", COL_TEXT, t);
			fputs(")", sql);
		}
	}
	for (size_t i = by_tag ? 1 : 0; r == 0 && i < q->ntags; i++) {
		fputs(" AND i.id IN (SELECT image_id FROM image_tags WHERE tag = ?)", sql);
		r = param_add(p, COL_TEXT, q->tags[i], "tag");
	}
	if (r == 0 && q->marker) {
		/* keyset paging: rows strictly after the marker in sort order */
		r = marker_values(c, q, sort, nsort, p);
		if (r < 0)
			goto done;
		fputs(" AND (", sql);
		for (size_t i = 0; i < nsort; i++) {
			fprintf(sql, "%s(", i ? " OR " : "");
			for (size_t j = 0; j < i; j++)
				fprintf(sql, "%s = ?%zu AND ", sort_expr(&sort[j], driver), 1000 + j);
			fprintf(sql, "%s %s ?%zu)", sort_expr(&sort[i], driver),
				sort[i].desc ? "<" : ">", 1000 + i);
		}
		fputs(")", sql);
	}
	fputs(" ORDER BY ", sql);
	for (size_t i = 0; i < nsort; i++)
		fprintf(sql, "%s%s %s", i ? ", " : "", sort_expr(&sort[i], driver),
			sort[i].desc ? "DESC" : "ASC");
	fputs(" LIMIT ?999", sql);
done:
	fclose(sql);
	if (r < 0) {
		free(text);
		return r;
	}
	*out = text;
	return 0;
}

static struct rain_image *find_in(struct rain_image **list, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i]->id, id))
			return list[i];
	return NULL;
}

/* Load the properties and tags of a page of images: one query each. */
static int load_children_many(struct conn *c, struct rain_image **list, size_t n)
{
	static const char *const heads[] = {
		"SELECT image_id, name, value FROM image_properties WHERE image_id IN (",
		"SELECT image_id, tag, NULL FROM image_tags WHERE image_id IN (",
	};
	int r = 0;

	if (n == 0)
		return 0;
	for (int k = 0; k < 2 && r == 0; k++) {
		_cleanup_free_ char *text = NULL;
		sqlite3_stmt *st;
		size_t len;
		FILE *sql = open_memstream(&text, &len);
		int rc;

		if (!sql)
			return rain_error_oom();
		fputs(heads[k], sql);
		for (size_t i = 0; i < n; i++)
			fputs(i ? ", ?" : "?", sql);
		fputs(k == 0 ? ") ORDER BY name" : ") ORDER BY tag", sql);
		fclose(sql);
		r = conn_prepare(c, text, &st);
		if (r < 0)
			return r;
		for (size_t i = 0; i < n; i++)
			sqlite3_bind_text(st, (int)i + 1, list[i]->id, -1, SQLITE_STATIC);
		while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			struct rain_image *img = find_in(list, n, (const char *)sqlite3_column_text(st, 0));
			const char *a = (const char *)sqlite3_column_text(st, 1);

			if (!img)
				continue;
			r = k == 0 ? rain_image_prop_set(img, a, (const char *)sqlite3_column_text(st, 2))
				   : rain_image_tag_add(img, a);
		}
		if (r == 0 && rc != SQLITE_DONE)
			r = sq_error(c->db, rc, "list properties and tags");
		stmt_done(st);
	}
	return r;
}

static int sq_image_list(void *impl, const struct rain_image_query *q,
			 struct rain_image ***out, size_t *n, bool *more)
{
	struct params *p = calloc(1, sizeof(*p));
	_cleanup_free_ char *text = NULL;
	struct rain_image **list = NULL;
	size_t count = 0;
	sqlite3_stmt *st = NULL;
	struct conn *c = NULL;
	int r, rc;

	if (!p)
		return rain_error_oom();
	if (q->limit > 100000) {
		free(p);
		return rain_error_set(RAIN_EINVAL, "limit %zu is too large", q->limit);
	}
	r = conn_get(impl, &c);
	if (r < 0)
		goto done;
	r = read_begin(c);
	if (r < 0)
		goto done;
	r = build_list_sql(c, q, p, &text);
	if (r == 0)
		r = conn_prepare(c, text, &st);
	if (r < 0)
		goto tx_end;
	for (size_t i = 0; i < p->n; i++) {
		if (p->v[i].type == COL_TEXT)
			sqlite3_bind_text(st, (int)i + 1, p->v[i].text, -1, SQLITE_STATIC);
		else
			sqlite3_bind_int64(st, (int)i + 1, p->v[i].num);
	}
	for (size_t i = 0; i < p->nmarker; i++)
		sqlite3_bind_value(st, 1000 + (int)i, p->marker[i]);
	sqlite3_bind_int64(st, 999, (int64_t)q->limit + 1);
	list = calloc(q->limit + 1, sizeof(*list));
	if (!list) {
		r = rain_error_oom();
		goto tx_end;
	}
	*more = false;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (count == q->limit) {
			*more = true;
			break;
		}
		r = row_to_image(st, &list[count]);
		if (r < 0)
			goto tx_end;
		count++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		r = sq_error(c->db, rc, "list");
		goto tx_end;
	}
	stmt_done(st);
	st = NULL;
	r = load_children_many(c, list, count);
tx_end:
	if (st)
		stmt_done(st);
	r = tx_end(c, r);
done:
	if (c)
		conn_put(impl, c);
	params_free(p);
	free(p);
	if (r < 0) {
		rain_catalog_list_free(list, count);
		return r;
	}
	*out = list;
	*n = count;
	return 0;
}

/* ---- users and tokens ------------------------------------------------ */

static void bind_user(sqlite3_stmt *st, const struct rain_user *u)
{
	bind_text(st, 1, u->name);
	bind_text(st, 2, rain_user_role_name(u->role));
	bind_text(st, 3, rain_user_status_name(u->status));
	sqlite3_bind_int64(st, 4, u->quota_bytes);
	sqlite3_bind_int64(st, 5, u->quota_images);
	sqlite3_bind_int64(st, 6, u->created_at);
	bind_num(st, 7, u->last_login);
	bind_text(st, 8, u->password_hash);
}

static int row_to_user(sqlite3_stmt *st, struct rain_user **out)
{
	struct rain_user *u = calloc(1, sizeof(*u));
	const char *role = (const char *)sqlite3_column_text(st, 1);
	const char *status = (const char *)sqlite3_column_text(st, 2);
	int r;

	if (!u)
		return rain_error_oom();
	if (rain_user_role_parse(role, &u->role) < 0)
		u->role = RAIN_ROLE_USER;
	if (rain_user_status_parse(status, &u->status) < 0)
		u->status = RAIN_USER_INACTIVE;
	u->quota_bytes = sqlite3_column_int64(st, 3);
	u->quota_images = sqlite3_column_int64(st, 4);
	u->created_at = sqlite3_column_int64(st, 5);
	u->last_login = col_num(st, 6);
	r = col_str(st, 0, &u->name);
	if (r == 0)
		r = col_str(st, 7, &u->password_hash);
	if (r < 0) {
		rain_user_free(u);
		return r;
	}
	*out = u;
	return 0;
}

static int sq_user_create(void *impl, const struct rain_user *u)
{
	struct conn *c;
	sqlite3_stmt *st;
	int rc, r = conn_get(impl, &c);

	if (r < 0)
		return r;
	r = tx_begin(c);
	if (r == 0) {
		st = c->st[ST_USER_FOLDED];
		sqlite3_bind_text(st, 1, u->name, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			const char *taken = (const char *)sqlite3_column_text(st, 0);

			r = strcmp(taken, u->name) ?
			    rain_error_set(RAIN_EEXISTS, "user %s exists already, as %s (names differing "
					   "only in case are one user)", u->name, taken) :
			    rain_error_set(RAIN_EEXISTS, "user %s exists already", u->name);
		} else if (rc != SQLITE_DONE)
			r = sq_error(c->db, rc, "create user");
		stmt_done(st);
	}
	/* memberships left under this name (none since version 6) are not
	 * the new user's */
	if (r == 0) {
		sqlite3_bind_text(c->st[ST_USER_MEMBERSHIPS_DELETE], 1, u->name, -1, SQLITE_STATIC);
		r = step_done(c, ST_USER_MEMBERSHIPS_DELETE, "create user");
	}
	if (r == 0) {
		bind_user(c->st[ST_USER_INSERT], u);
		r = step_done(c, ST_USER_INSERT, "create user");
		if (r == RAIN_EEXISTS)
			rain_error_set(r, "user %s exists already", u->name);
	}
	r = tx_end(c, r);
	conn_put(impl, c);
	return r;
}

static int sq_user_get(void *impl, const char *name, struct rain_user **out)
{
	struct conn *c;
	sqlite3_stmt *st;
	int rc, r = conn_get(impl, &c);

	if (r < 0)
		return r;
	st = c->st[ST_USER_GET];
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = row_to_user(st, out);
	else if (rc == SQLITE_DONE)
		r = rain_error_set(RAIN_ENOTFOUND, "no user %s", name);
	else
		r = sq_error(c->db, rc, "read user");
	stmt_done(st);
	conn_put(impl, c);
	return r;
}

static int sq_user_list(void *impl, struct rain_user ***out, size_t *n)
{
	struct rain_user **list = NULL;
	size_t count = 0, cap = 0;
	struct conn *c;
	sqlite3_stmt *st;
	int rc, r = conn_get(impl, &c);

	if (r < 0)
		return r;
	st = c->st[ST_USER_LIST];
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = ARRAY_GROW(list, count, cap);
		if (r < 0)
			break;
		r = row_to_user(st, &list[count]);
		if (r < 0)
			break;
		count++;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sq_error(c->db, rc, "list users");
	stmt_done(st);
	conn_put(impl, c);
	if (r < 0) {
		rain_user_list_free(list, count);
		return r;
	}
	*out = list;
	*n = count;
	return 0;
}

static int sq_user_update(void *impl, const struct rain_user *u)
{
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	r = tx_begin(c);
	if (r == 0) {
		bind_user(c->st[ST_USER_UPDATE], u);
		sqlite3_bind_null(c->st[ST_USER_UPDATE], 6);   /* created_at stays */
		r = step_done(c, ST_USER_UPDATE, "update user");
		if (r == 0 && sqlite3_changes(c->db) == 0)
			r = rain_error_set(RAIN_ENOTFOUND, "no user %s", u->name);
	}
	/* a user who is not active has no valid token, and never again
	 * those issued before: reactivation does not revive them */
	if (r == 0 && u->status != RAIN_USER_ACTIVE) {
		sqlite3_bind_text(c->st[ST_TOKEN_REVOKE_USER], 1, u->name, -1, SQLITE_STATIC);
		r = step_done(c, ST_TOKEN_REVOKE_USER, "revoke the user's tokens");
	}
	r = tx_end(c, r);
	conn_put(impl, c);
	tokens_changed(impl);
	return r;
}

static int sq_user_delete(void *impl, const char *name)
{
	struct conn *c;
	sqlite3_stmt *st;
	int64_t images = 0;
	int rc, r = conn_get(impl, &c);

	if (r < 0)
		return r;
	r = tx_begin(c);
	if (r == 0) {
		st = c->st[ST_USER_IMAGES];
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			images = sqlite3_column_int64(st, 0);
		else
			r = sq_error(c->db, rc, "count the user's images");
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	/* a user of the same name made later must not inherit them */
	if (r == 0 && images > 0)
		r = rain_error_set(RAIN_ECONFLICT, "user %s owns %lld image%s: delete %s first, or make "
				   "the user inactive instead", name, (long long)images,
				   images == 1 ? "" : "s", images == 1 ? "it" : "them");
	if (r == 0) {
		sqlite3_bind_text(c->st[ST_USER_MEMBERSHIPS_DELETE], 1, name, -1, SQLITE_STATIC);
		r = step_done(c, ST_USER_MEMBERSHIPS_DELETE, "delete the user's memberships");
	}
	if (r == 0) {
		sqlite3_bind_text(c->st[ST_USER_DELETE], 1, name, -1, SQLITE_STATIC);
		r = step_done(c, ST_USER_DELETE, "delete user");
		if (r == 0 && sqlite3_changes(c->db) == 0)
			r = rain_error_set(RAIN_ENOTFOUND, "no user %s", name);
	}
	r = tx_end(c, r);
	conn_put(impl, c);
	tokens_changed(impl);
	return r;
}

static int sq_user_count(void *impl, int64_t *count)
{
	struct conn *c;
	sqlite3_stmt *st;
	int rc, r = conn_get(impl, &c);

	if (r < 0)
		return r;
	st = c->st[ST_USER_COUNT];
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*count = sqlite3_column_int64(st, 0);
	else
		r = sq_error(c->db, rc, "count users");
	sqlite3_reset(st);
	conn_put(impl, c);
	return r;
}

static int sq_usage(void *impl, const char *owner, struct rain_usage *out)
{
	struct conn *c;
	sqlite3_stmt *st;
	int rc, r = conn_get(impl, &c);

	if (r < 0)
		return r;
	st = c->st[ST_USAGE];
	sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, time_now_us());
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->bytes = sqlite3_column_int64(st, 0);
		out->images = sqlite3_column_int64(st, 1);
		out->uploading = sqlite3_column_int64(st, 2);
	} else {
		r = sq_error(c->db, rc, "sum up usage");
	}
	sqlite3_reset(st);
	conn_put(impl, c);
	return r;
}

/* ---- members of shared images ---- */

static void copy_col(sqlite3_stmt *st, int i, char *out, size_t outlen)
{
	const char *v = (const char *)sqlite3_column_text(st, i);

	snprintf(out, outlen, "%s", v ? v : "");
}

static void bind_member(sqlite3_stmt *st, const struct rain_member *m)
{
	sqlite3_bind_text(st, 1, m->image_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, m->member, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, rain_member_status_name(m->status), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, m->created_at);
	sqlite3_bind_int64(st, 5, m->updated_at);
}

static void row_to_member(sqlite3_stmt *st, struct rain_member *m)
{
	copy_col(st, 0, m->image_id, sizeof(m->image_id));
	copy_col(st, 1, m->member, sizeof(m->member));
	if (rain_member_status_parse((const char *)sqlite3_column_text(st, 2), &m->status) < 0)
		m->status = RAIN_MEMBER_PENDING;
	m->created_at = sqlite3_column_int64(st, 3);
	m->updated_at = sqlite3_column_int64(st, 4);
}

static int sq_member_write(void *impl, enum stmt_id id, const struct rain_member *m, const char *what)
{
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	bind_member(c->st[id], m);
	r = step_done(c, id, what);
	if (r == 0 && id == ST_MEMBER_ADD && sqlite3_changes(c->db) == 0)
		r = rain_error_set(RAIN_ENOTFOUND, "no user %s: an image is shared only with existing "
				   "users", m->member);
	else if (r == 0 && sqlite3_changes(c->db) == 0)
		r = rain_error_set(RAIN_ENOTFOUND, "%s is not a member of image %s", m->member, m->image_id);
	conn_put(impl, c);
	return r;
}

static int sq_member_add(void *impl, const struct rain_member *m)
{
	int r = sq_member_write(impl, ST_MEMBER_ADD, m, "add member");

	return r == RAIN_EEXISTS ? rain_error_set(r, "%s is already a member of image %s", m->member,
						  m->image_id) : r;
}

static int sq_member_set(void *impl, const struct rain_member *m)
{
	return sq_member_write(impl, ST_MEMBER_SET, m, "update member");
}

static int sq_member_delete(void *impl, const char *image_id, const char *member)
{
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	sqlite3_bind_text(c->st[ST_MEMBER_DELETE], 1, image_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(c->st[ST_MEMBER_DELETE], 2, member, -1, SQLITE_STATIC);
	r = step_done(c, ST_MEMBER_DELETE, "delete member");
	if (r == 0 && sqlite3_changes(c->db) == 0)
		r = rain_error_set(RAIN_ENOTFOUND, "%s is not a member of image %s", member, image_id);
	conn_put(impl, c);
	return r;
}

static int sq_member_get(void *impl, const char *image_id, const char *member, struct rain_member *out)
{
	struct conn *c;
	sqlite3_stmt *st;
	int rc, r = conn_get(impl, &c);

	if (r < 0)
		return r;
	st = c->st[ST_MEMBER_GET];
	sqlite3_bind_text(st, 1, image_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, member, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		row_to_member(st, out);
	else if (rc == SQLITE_DONE)
		r = rain_error_set(RAIN_ENOTFOUND, "%s is not a member of image %s", member, image_id);
	else
		r = sq_error(c->db, rc, "look up member");
	sqlite3_reset(st);
	conn_put(impl, c);
	return r;
}

/* Step st (bound already) to its end, one element of size sz per row,
 * filled by row, into a new array in *out (*n elements; NULL when none).
 * The statement is reset.  On failure nothing is handed out. */
static int collect_rows(struct conn *c, sqlite3_stmt *st, size_t sz,
			void (*row)(sqlite3_stmt *st, void *el), const char *what,
			void **out, size_t *n)
{
	_cleanup_free_ void *v = NULL;
	size_t cap = 0;
	int rc, r = 0;

	*out = NULL;
	*n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = array_grow(&v, sz, *n, &cap);
		if (r < 0)
			break;
		row(st, (char *)v + (*n)++ * sz);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sq_error(c->db, rc, what);
	sqlite3_reset(st);
	if (r < 0) {
		*n = 0;
		return r;
	}
	*out = TAKE_PTR(v);
	return 0;
}

static void member_row(sqlite3_stmt *st, void *el)
{
	row_to_member(st, el);
}

static int sq_member_list(void *impl, const char *image_id, struct rain_member **out, size_t *n)
{
	struct conn *c;
	int r = conn_get(impl, &c);

	*out = NULL;
	*n = 0;
	if (r < 0)
		return r;
	sqlite3_bind_text(c->st[ST_MEMBER_LIST], 1, image_id, -1, SQLITE_STATIC);
	r = collect_rows(c, c->st[ST_MEMBER_LIST], sizeof(**out), member_row, "list members",
			 (void **)out, n);
	conn_put(impl, c);
	return r;
}

/* ---- the audit log ---- */

static int sq_audit_append(void *impl, struct rain_audit_entry *e)
{
	struct conn *c;
	sqlite3_stmt *st;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	st = c->st[ST_AUDIT_APPEND];
	sqlite3_bind_int64(st, 1, e->at);
	sqlite3_bind_text(st, 2, e->actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, e->address, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, e->method, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, e->path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, e->target, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 7, e->status);
	r = step_done(c, ST_AUDIT_APPEND, "append to the audit log");
	if (r == 0)
		e->id = sqlite3_last_insert_rowid(c->db);
	conn_put(impl, c);
	return r;
}

static void audit_row(sqlite3_stmt *st, void *el)
{
	struct rain_audit_entry *e = el;

	e->id = sqlite3_column_int64(st, 0);
	e->at = sqlite3_column_int64(st, 1);
	copy_col(st, 2, e->actor, sizeof(e->actor));
	copy_col(st, 3, e->address, sizeof(e->address));
	copy_col(st, 4, e->method, sizeof(e->method));
	copy_col(st, 5, e->path, sizeof(e->path));
	copy_col(st, 6, e->target, sizeof(e->target));
	e->status = sqlite3_column_int(st, 7);
}

static int sq_audit_query(void *impl, const struct rain_audit_query *q, struct rain_audit_entry **out,
			  size_t *n)
{
	struct conn *c;
	sqlite3_stmt *st;
	int r = conn_get(impl, &c);

	*out = NULL;
	*n = 0;
	if (r < 0)
		return r;
	st = c->st[ST_AUDIT_QUERY];
	sqlite3_bind_int64(st, 1, q->since);
	if (q->actor)
		sqlite3_bind_text(st, 2, q->actor, -1, SQLITE_STATIC);
	if (q->target)
		sqlite3_bind_text(st, 3, q->target, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, q->limit ? (int64_t)q->limit : 1000);
	if (q->party)
		sqlite3_bind_text(st, 5, q->party, -1, SQLITE_STATIC);
	r = collect_rows(c, st, sizeof(**out), audit_row, "query the audit log", (void **)out, n);
	sqlite3_clear_bindings(st);
	conn_put(impl, c);
	return r;
}

static int sq_user_touch(void *impl, const char *name, int64_t now_us)
{
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	sqlite3_bind_text(c->st[ST_USER_TOUCH], 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(c->st[ST_USER_TOUCH], 2, now_us);
	r = step_done(c, ST_USER_TOUCH, "record login");
	conn_put(impl, c);
	return r;
}

static int sq_token_create(void *impl, const struct rain_token *t)
{
	struct conn *c;
	sqlite3_stmt *st;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	st = c->st[ST_TOKEN_INSERT];
	sqlite3_bind_text(st, 1, t->hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, t->user, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, t->issued_at);
	sqlite3_bind_int64(st, 4, t->expires_at);
	r = step_done(c, ST_TOKEN_INSERT, "store token");
	if (r == 0 && sqlite3_changes(c->db) == 0)
		r = rain_error_set(RAIN_ENOTFOUND, "no active user %s", t->user);
	conn_put(impl, c);
	return r;
}

static int sq_token_lookup(void *impl, const char *hash, struct rain_token *out)
{
	struct sq *s = impl;
	struct token_slot *slot = strlen(hash) == 64 ? token_slot(s, hash) : NULL;
	struct conn *c;
	sqlite3_stmt *st;
	int64_t version = 0;
	uint64_t gen;
	int rc, r;

	r = conn_get(impl, &c);
	if (r < 0)
		return r;
	r = step_int(c, ST_DATA_VERSION, &version, "read the data version");
	if (r < 0) {
		conn_put(impl, c);
		return r;
	}
	if (version != c->data_version) {
		c->data_version = version;
		tokens_changed(s);
	}
	pthread_mutex_lock(&s->cache_lock);
	gen = s->gen;
	if (slot && slot->gen == gen && !strcmp(slot->t.hash, hash)) {
		*out = slot->t;
		pthread_mutex_unlock(&s->cache_lock);
		conn_put(impl, c);
		return 0;
	}
	pthread_mutex_unlock(&s->cache_lock);
	st = c->st[ST_TOKEN_LOOKUP];
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		copy_col(st, 0, out->hash, sizeof(out->hash));
		copy_col(st, 1, out->user, sizeof(out->user));
		out->issued_at = sqlite3_column_int64(st, 2);
		out->expires_at = sqlite3_column_int64(st, 3);
		out->revoked = sqlite3_column_int(st, 4) != 0;
		if (rain_user_role_parse((const char *)sqlite3_column_text(st, 5), &out->role) < 0)
			out->role = RAIN_ROLE_USER;
		if (rain_user_status_parse((const char *)sqlite3_column_text(st, 6), &out->status) < 0)
			out->status = RAIN_USER_INACTIVE;
		out->quota_bytes = sqlite3_column_int64(st, 7);
		out->quota_images = sqlite3_column_int64(st, 8);
		/* kept only if nothing changed since gen was read */
		if (slot) {
			pthread_mutex_lock(&s->cache_lock);
			if (s->gen == gen) {
				slot->gen = gen;
				slot->t = *out;
			}
			pthread_mutex_unlock(&s->cache_lock);
		}
	} else if (rc == SQLITE_DONE) {
		r = rain_error_set(RAIN_ENOTFOUND, "no such token");
	} else {
		r = sq_error(c->db, rc, "look up token");
	}
	sqlite3_reset(st);
	conn_put(impl, c);
	return r;
}

static int sq_token_revoke(void *impl, const char *hash)
{
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	sqlite3_bind_text(c->st[ST_TOKEN_REVOKE], 1, hash, -1, SQLITE_STATIC);
	r = step_done(c, ST_TOKEN_REVOKE, "revoke token");
	if (r == 0 && sqlite3_changes(c->db) == 0)
		r = rain_error_set(RAIN_ENOTFOUND, "no such token");
	conn_put(impl, c);
	tokens_changed(impl);
	return r;
}

static int sq_token_revoke_user(void *impl, const char *user, const char *keep, int64_t *revoked)
{
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	sqlite3_bind_text(c->st[ST_TOKEN_REVOKE_USER], 1, user, -1, SQLITE_STATIC);
	if (keep)
		sqlite3_bind_text(c->st[ST_TOKEN_REVOKE_USER], 2, keep, -1, SQLITE_STATIC);
	r = step_done(c, ST_TOKEN_REVOKE_USER, "revoke the user's tokens");
	if (r == 0 && revoked)
		*revoked = sqlite3_changes(c->db);
	conn_put(impl, c);
	tokens_changed(impl);
	return r;
}

static int sq_token_purge(void *impl, int64_t now_us, int64_t *removed)
{
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	sqlite3_bind_int64(c->st[ST_TOKEN_PURGE], 1, now_us);
	r = step_done(c, ST_TOKEN_PURGE, "purge tokens");
	if (r == 0 && removed)
		*removed = sqlite3_changes(c->db);
	conn_put(impl, c);
	tokens_changed(impl);
	return r;
}

static int login_get(struct conn *c, const char *name, struct rain_login_failures *out)
{
	sqlite3_stmt *st = c->st[ST_LOGIN_GET];
	int rc;

	memset(out, 0, sizeof(*out));
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->count = sqlite3_column_int64(st, 0);
		out->first_at = sqlite3_column_int64(st, 1);
		out->locked_until = sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sq_error(c->db, rc, "read failed logins");
}

static int sq_login_get(void *impl, const char *name, struct rain_login_failures *out)
{
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	r = login_get(c, name, out);
	conn_put(impl, c);
	return r;
}

static int sq_login_failed(void *impl, const char *name, int64_t now_us,
			   const struct rain_lockout_rule *rule, struct rain_login_failures *out,
			   bool *locks)
{
	struct conn *c;
	sqlite3_stmt *st;
	int r = conn_get(impl, &c);

	*locks = false;
	if (r < 0)
		return r;
	r = tx_begin(c);
	if (r == 0)
		r = login_get(c, name, out);
	if (r == 0) {
		if (out->count == 0 || now_us - out->first_at > rule->window_us) {
			out->count = 0;
			out->first_at = now_us;
		}
		if (++out->count >= rule->limit && out->locked_until <= now_us) {
			out->locked_until = now_us + rule->lock_us;
			out->count = 0;
			out->first_at = now_us;
			*locks = true;
		}
		st = c->st[ST_LOGIN_PUT];
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, out->count);
		sqlite3_bind_int64(st, 3, out->first_at);
		sqlite3_bind_int64(st, 4, out->locked_until);
		r = step_done(c, ST_LOGIN_PUT, "count a failed login");
	}
	if (r == 0) {
		/* forget the names nobody tried for a window (bounded table) */
		sqlite3_bind_int64(c->st[ST_LOGIN_PURGE], 1, now_us - rule->window_us);
		sqlite3_bind_int64(c->st[ST_LOGIN_PURGE], 2, now_us);
		r = step_done(c, ST_LOGIN_PURGE, "forget old failed logins");
	}
	r = tx_end(c, r);
	conn_put(impl, c);
	return r;
}

static int sq_login_clear(void *impl, const char *name)
{
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	sqlite3_bind_text(c->st[ST_LOGIN_CLEAR], 1, name, -1, SQLITE_STATIC);
	r = step_done(c, ST_LOGIN_CLEAR, "clear failed logins");
	conn_put(impl, c);
	return r;
}

/* ---- charges ---- */

static int sq_charge_set(void *impl, const struct rain_charge *ch)
{
	sqlite3_stmt *st;
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	st = c->st[ST_CHARGE_SET];
	sqlite3_bind_text(st, 1, ch->key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ch->owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, ch->bytes);
	sqlite3_bind_int64(st, 4, ch->expires_at);
	r = step_done(c, ST_CHARGE_SET, "record a charge");
	conn_put(impl, c);
	return r;
}

static int sq_charge_delete(void *impl, const char *key)
{
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	sqlite3_bind_text(c->st[ST_CHARGE_DELETE], 1, key, -1, SQLITE_STATIC);
	r = step_done(c, ST_CHARGE_DELETE, "delete a charge");
	if (r == 0 && sqlite3_changes(c->db) == 0)
		r = rain_error_set(RAIN_ENOTFOUND, "no charge %s", key);
	conn_put(impl, c);
	return r;
}

static void charge_row(sqlite3_stmt *st, void *el)
{
	struct rain_charge *ch = el;

	copy_col(st, 0, ch->key, sizeof(ch->key));
	copy_col(st, 1, ch->owner, sizeof(ch->owner));
	ch->bytes = sqlite3_column_int64(st, 2);
	ch->expires_at = sqlite3_column_int64(st, 3);
}

static int sq_charge_list(void *impl, const char *prefix, struct rain_charge **out, size_t *n)
{
	struct conn *c;
	int r = conn_get(impl, &c);

	*out = NULL;
	*n = 0;
	if (r < 0)
		return r;
	sqlite3_bind_text(c->st[ST_CHARGE_LIST], 1, prefix, -1, SQLITE_STATIC);
	r = collect_rows(c, c->st[ST_CHARGE_LIST], sizeof(**out), charge_row, "list charges",
			 (void **)out, n);
	conn_put(impl, c);
	return r;
}

/* One writer at a time (BEGIN IMMEDIATE), also across processes: the
 * sum and the write are one step. */
static int sq_charge_reserve(void *impl, const struct rain_charge *ch, int64_t quota, int64_t now_us,
			     int64_t *used)
{
	sqlite3_stmt *st;
	struct conn *c;
	int r = conn_get(impl, &c);

	*used = 0;
	if (r < 0)
		return r;
	r = tx_begin(c);
	if (r == 0 && quota > 0) {
		st = c->st[ST_CHARGE_USED];
		sqlite3_bind_text(st, 1, ch->owner, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, ch->key, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, now_us);
		r = step_int(c, ST_CHARGE_USED, used, "sum up usage");
		/* at least one byte besides must be free, as for any upload */
		if (r == 0 && *used > quota - (ch->bytes > 0 ? ch->bytes : 1))
			r = rain_error_set(RAIN_ETOOBIG, "%s has %lld of %lld bytes", ch->owner,
					   (long long)*used, (long long)quota);
	}
	if (r == 0) {
		st = c->st[ST_CHARGE_SET];
		sqlite3_bind_text(st, 1, ch->key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, ch->owner, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, ch->bytes);
		sqlite3_bind_int64(st, 4, ch->expires_at);
		r = step_done(c, ST_CHARGE_SET, "record a charge");
	}
	r = tx_end(c, r);
	conn_put(impl, c);
	return r;
}

static int sq_blob_hold(void *impl, const char *hash, const char *holder, bool removal, int64_t now_us,
			int64_t expires_at)
{
	int64_t refs = 0, held = 0;
	sqlite3_stmt *st;
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	r = tx_begin(c);
	if (r == 0 && removal) {
		sqlite3_bind_text(c->st[ST_BLOB_REFS], 1, hash, -1, SQLITE_STATIC);
		r = step_int(c, ST_BLOB_REFS, &refs, "count blob references");
	}
	if (r == 0) {
		st = c->st[ST_HOLD_COUNT];
		sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, holder, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, now_us);
		sqlite3_bind_int(st, 4, removal ? 0 : 1);
		r = step_int(c, ST_HOLD_COUNT, &held, "count blob holds");
	}
	if (r == 0 && (refs || held))
		r = rain_error_set(RAIN_ECONFLICT, "blob %s is %s", hash,
				   refs ? "referenced" : removal ? "held by another server" :
				   "being removed by another server");
	if (r == 0) {
		sqlite3_bind_int64(c->st[ST_HOLD_PURGE], 1, now_us);
		r = step_done(c, ST_HOLD_PURGE, "drop lapsed blob holds");
	}
	if (r == 0) {
		st = c->st[ST_HOLD_PUT];
		sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, holder, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 3, removal);
		sqlite3_bind_int64(st, 4, expires_at);
		r = step_done(c, ST_HOLD_PUT, "hold a blob");
	}
	r = tx_end(c, r);
	conn_put(impl, c);
	return r;
}

static int sq_blob_release(void *impl, const char *hash, const char *holder)
{
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	sqlite3_bind_text(c->st[ST_HOLD_DELETE], 1, hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(c->st[ST_HOLD_DELETE], 2, holder, -1, SQLITE_STATIC);
	r = step_done(c, ST_HOLD_DELETE, "release a blob");
	conn_put(impl, c);
	return r;
}

/* ---- registrations ---- */

static int sq_reg_put(void *impl, const struct rain_registration *reg)
{
	sqlite3_stmt *st;
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	st = c->st[ST_REG_PUT];
	sqlite3_bind_text(st, 1, reg->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, reg->image_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, reg->site, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, reg->owner, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, reg->status, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, reg->created_at);
	sqlite3_bind_int64(st, 7, reg->updated_at);
	sqlite3_bind_text(st, 8, reg->doc ? reg->doc : "{}", -1, SQLITE_STATIC);
	r = step_done(c, ST_REG_PUT, "record a registration");
	conn_put(impl, c);
	return r;
}

/* A row of REG_COLUMNS; doc is a new string (NULL when out of memory:
 * the caller checks). */
static void reg_row(sqlite3_stmt *st, void *el)
{
	struct rain_registration *reg = el;
	const char *doc = (const char *)sqlite3_column_text(st, 7);

	copy_col(st, 0, reg->id, sizeof(reg->id));
	copy_col(st, 1, reg->image_id, sizeof(reg->image_id));
	copy_col(st, 2, reg->site, sizeof(reg->site));
	copy_col(st, 3, reg->owner, sizeof(reg->owner));
	copy_col(st, 4, reg->status, sizeof(reg->status));
	reg->created_at = sqlite3_column_int64(st, 5);
	reg->updated_at = sqlite3_column_int64(st, 6);
	reg->doc = strdup(doc ? doc : "{}");
}

static int sq_reg_get(void *impl, const char *id, struct rain_registration *out)
{
	sqlite3_stmt *st;
	struct conn *c;
	int rc, r = conn_get(impl, &c);

	memset(out, 0, sizeof(*out));
	if (r < 0)
		return r;
	st = c->st[ST_REG_GET];
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		reg_row(st, out);
		if (!out->doc)
			r = rain_error_oom();
	} else if (rc == SQLITE_DONE) {
		r = rain_error_set(RAIN_ENOTFOUND, "no registration %s", id);
	} else {
		r = sq_error(c->db, rc, "read a registration");
	}
	sqlite3_reset(st);
	conn_put(impl, c);
	return r;
}

static int sq_reg_list(void *impl, const struct rain_registration_query *q,
		       struct rain_registration **out, size_t *n)
{
	sqlite3_stmt *st;
	struct conn *c;
	int r = conn_get(impl, &c);

	*out = NULL;
	*n = 0;
	if (r < 0)
		return r;
	st = c->st[ST_REG_LIST];
	sqlite3_bind_text(st, 1, q->owner, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, q->site, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, q->image_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, q->status, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, q->limit ? (int64_t)q->limit : -1);
	r = collect_rows(c, st, sizeof(**out), reg_row, "list registrations", (void **)out, n);
	conn_put(impl, c);
	for (size_t i = 0; r == 0 && i < *n; i++)
		if (!(*out)[i].doc)
			r = rain_error_oom();
	if (r < 0) {
		rain_registration_list_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return r;
}

static int sq_reg_delete(void *impl, const char *id)
{
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	sqlite3_bind_text(c->st[ST_REG_DELETE], 1, id, -1, SQLITE_STATIC);
	r = step_done(c, ST_REG_DELETE, "delete a registration");
	if (r == 0 && sqlite3_changes(c->db) == 0)
		r = rain_error_set(RAIN_ENOTFOUND, "no registration %s", id);
	conn_put(impl, c);
	return r;
}

static const struct rain_catalog_registration_backend sq_registrations = {
	.version = RAIN_CATALOG_REGISTRATION_BACKEND_VERSION,
	.put = sq_reg_put,
	.get = sq_reg_get,
	.list = sq_reg_list,
	.remove = sq_reg_delete,
};

static const struct rain_catalog_image_backend sq_images = {
	.version = RAIN_CATALOG_IMAGE_BACKEND_VERSION,
	.image_create = sq_image_create,
	.image_get = sq_image_get,
	.image_update = sq_image_update,
	.image_delete = sq_image_delete,
	.image_touch = sq_image_touch,
	.image_list = sq_image_list,
	.blob_refs = sq_blob_refs,
	.reset_status = sq_reset_status,
	.usage = sq_usage,
	.member_add = sq_member_add,
	.member_get = sq_member_get,
	.member_set = sq_member_set,
	.member_list = sq_member_list,
	.member_delete = sq_member_delete,
	.charge_set = sq_charge_set,
	.charge_delete = sq_charge_delete,
	.charge_list = sq_charge_list,
	.charge_reserve = sq_charge_reserve,
	.blob_hold = sq_blob_hold,
	.blob_release = sq_blob_release,
};

static const struct rain_catalog_identity_backend sq_identity = {
	.version = RAIN_CATALOG_IDENTITY_BACKEND_VERSION,
	.user_create = sq_user_create,
	.user_get = sq_user_get,
	.user_list = sq_user_list,
	.user_update = sq_user_update,
	.user_delete = sq_user_delete,
	.user_count = sq_user_count,
	.user_touch = sq_user_touch,
	.token_create = sq_token_create,
	.token_lookup = sq_token_lookup,
	.token_revoke = sq_token_revoke,
	.token_revoke_user = sq_token_revoke_user,
	.token_purge = sq_token_purge,
	.login_get = sq_login_get,
	.login_failed = sq_login_failed,
	.login_clear = sq_login_clear,
};

static const struct rain_catalog_audit_backend sq_audit = {
	.version = RAIN_CATALOG_AUDIT_BACKEND_VERSION,
	.audit_append = sq_audit_append,
	.audit_query = sq_audit_query,
};

/* All four over one database (struct sq): transactions span them. */
const struct rain_catalog_driver rain_catalog_sqlite = {
	.version = RAIN_CATALOG_DRIVER_VERSION,
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.images = &sq_images,
	.identity = &sq_identity,
	.audit = &sq_audit,
	.registrations = &sq_registrations,
};
