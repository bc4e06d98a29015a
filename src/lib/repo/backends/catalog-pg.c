/* The PostgreSQL catalog backend (libpq), scheme "postgresql".
 *
 * The same tables as the SQLite backend (catalog-sqlite.c, schema 10), in
 * one PostgreSQL database that several raind may share: nothing here
 * assumes a single writer or keeps state another process would need.
 * Where SQLite relied on its one writer (BEGIN IMMEDIATE), writes here are
 * conditional (revision checks), take row locks (SELECT ... FOR UPDATE /
 * FOR SHARE, in the order user row first) or skip rows others hold
 * locked; read transactions run in REPEATABLE READ for one snapshot.
 *
 * Every value is bound as a parameter: fixed statements are prepared once
 * per connection, list queries are built from the fixed column table
 * below and run with PQexecParams. Text columns use the "C" collation so
 * that sorting and comparing are bytewise, as in SQLite.
 *
 * Connections: a pool of at most POOL_MAX, each used by one thread at a
 * time; a thread waits for one when all are busy. A connection found
 * broken is dropped and the error says so; the next request opens a new
 * one (a broken idle connection is reset once before its first
 * statement, so a server restart costs no failed request).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "rain/catalog.h"
#include "rain/error.h"
#include "rain/sys/catalog.h"
#include "util/cleanup.h"
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
	ST_LOCK_OWNER,
	ST_USER_INSERT,
	ST_USER_GET,
	ST_USER_LOCK,
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
	ST_LOGIN_ROW,
	ST_LOGIN_LOCK,
	ST_LOGIN_PUT,
	ST_LOGIN_CLEAR,
	ST_LOGIN_PURGE,
	ST_CHARGE_SET,
	ST_CHARGE_DELETE,
	ST_CHARGE_LIST,
	ST_CHARGE_USED,
	ST_OWNER_XLOCK,
	ST_HASH_XLOCK,
	ST_HOLD_COUNT,
	ST_HOLD_PUT,
	ST_HOLD_DELETE,
	ST_HOLD_PURGE,
	ST_REG_PUT,
	ST_REG_GET,
	ST_REG_LIST,
	ST_REG_DELETE,
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
	[ST_GET_IMAGE] = "SELECT " IMAGE_COLUMNS " FROM images WHERE id = $1",
	[ST_GET_PROPS] = "SELECT name, value FROM image_properties WHERE image_id = $1 ORDER BY name",
	[ST_GET_TAGS] = "SELECT tag FROM image_tags WHERE image_id = $1 ORDER BY tag",
	[ST_INSERT_IMAGE] = "INSERT INTO images (" IMAGE_COLUMNS ") VALUES "
		"($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)",
	[ST_INSERT_PROP] = "INSERT INTO image_properties (image_id, name, value, created_at) "
		"VALUES ($1, $2, $3, $4)",
	[ST_INSERT_TAG] = "INSERT INTO image_tags (image_id, tag, created_at) VALUES ($1, $2, $3)",
	[ST_DELETE_PROPS] = "DELETE FROM image_properties WHERE image_id = $1",
	[ST_DELETE_TAGS] = "DELETE FROM image_tags WHERE image_id = $1",
	/* the revision check makes a second writer wait for the first and
	 * then find the revision changed (READ COMMITTED re-reads the row) */
	[ST_UPDATE_IMAGE] = "UPDATE images SET name = $2, status = $3, visibility = $4, "
		"protected = $5, os_hidden = $6, checksum = $7, os_hash_algo = $8, "
		"os_hash_value = $9, size = $10, virtual_size = $11, disk_format = $12, "
		"container_format = $13, min_disk = $14, min_ram = $15, owner = $16, "
		"created_at = $17, updated_at = $18, revision = revision + 1 "
		"WHERE id = $1 AND revision = $19",
	[ST_DELETE_IMAGE] = "DELETE FROM images WHERE id = $1 AND revision = $2",
	[ST_EXISTS] = "SELECT 1 FROM images WHERE id = $1",
	[ST_TOUCH] = "UPDATE images SET download_count = download_count + 1, "
		"last_access = $2 WHERE id = $1",
	[ST_BLOB_REFS] = "SELECT (SELECT count(*) FROM images WHERE os_hash_value = $1) + "
		"(SELECT count(*) FROM image_properties WHERE name = 'rain_vetting_report' "
		"AND value = $1)",
	[ST_RESET_STATUS] = "UPDATE images SET status = $2, revision = revision + 1, "
		"updated_at = $3 WHERE status = $1",
	/* an image's owner, if a user, is held until the image is written:
	 * user_delete (FOR UPDATE) then counts it */
	[ST_LOCK_OWNER] = "SELECT 1 FROM users WHERE name = $1 FOR SHARE",
	[ST_USER_INSERT] = "INSERT INTO users (" USER_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
	[ST_USER_GET] = "SELECT " USER_COLUMNS " FROM users WHERE name = $1",
	[ST_USER_LOCK] = "SELECT 1 FROM users WHERE name = $1 FOR UPDATE",
	[ST_USER_LIST] = "SELECT " USER_COLUMNS " FROM users ORDER BY name",
	[ST_USER_UPDATE] = "UPDATE users SET role = $2, status = $3, quota_bytes = $4, "
		"quota_images = $5, last_login = $6, password_hash = $7 WHERE name = $1",
	[ST_USER_DELETE] = "DELETE FROM users WHERE name = $1",
	[ST_USER_IMAGES] = "SELECT count(*) FROM images WHERE owner = $1 AND status != 'deleted'",
	[ST_USER_MEMBERSHIPS_DELETE] = "DELETE FROM image_members WHERE member = $1",
	[ST_USER_COUNT] = "SELECT count(*) FROM users",
	/* names differing only in (ASCII) case are one user; a unique index
	 * on lower(name) settles two creations racing */
	[ST_USER_FOLDED] = "SELECT name FROM users WHERE lower(name) = lower($1)",
	/* members only for users who exist: the user's row is held (FOR
	 * SHARE) so that a user_delete racing this waits or is waited for */
	[ST_MEMBER_ADD] = "WITH u AS (SELECT name FROM users WHERE name = $2 FOR SHARE) "
		"INSERT INTO image_members (image_id, member, status, created_at, updated_at) "
		"SELECT $1, u.name, $3, $4, $5 FROM u",
	[ST_MEMBER_GET] = "SELECT image_id, member, status, created_at, updated_at FROM image_members "
		"WHERE image_id = $1 AND member = $2",
	[ST_MEMBER_SET] = "UPDATE image_members SET status = $3, updated_at = $4 "
		"WHERE image_id = $1 AND member = $2",
	[ST_MEMBER_LIST] = "SELECT image_id, member, status, created_at, updated_at FROM image_members "
		"WHERE image_id = $1 ORDER BY member",
	[ST_MEMBER_DELETE] = "DELETE FROM image_members WHERE image_id = $1 AND member = $2",
	[ST_AUDIT_APPEND] = "INSERT INTO audit (at, actor, address, method, path, target, status) "
		"VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
	/* the newest $4 matching, returned oldest first */
	[ST_AUDIT_QUERY] = "SELECT * FROM (SELECT id, at, actor, address, method, path, target, status "
		"FROM audit WHERE at >= $1 AND ($2::text IS NULL OR actor = $2) "
		"AND ($3::text IS NULL OR target = $3) "
		"AND ($5::text IS NULL OR actor = $5 OR target = $5) ORDER BY id DESC LIMIT $4) a "
		"ORDER BY id",
	[ST_USAGE] = "SELECT COALESCE(SUM(CASE WHEN status IN ('active', 'deactivated') THEN size END), 0) "
		"+ (SELECT COALESCE(SUM(bytes), 0) FROM charges WHERE owner = $1 "
		"AND left(key, 7) != 'upload/' AND (expires_at = 0 OR expires_at > $2)), "
		"count(*), count(*) FILTER (WHERE status = 'saving') FROM images "
		"WHERE owner = $1 AND status != 'deleted'",
	[ST_USER_TOUCH] = "UPDATE users SET last_login = $2 WHERE name = $1",
	/* only for an active user, whose row is held: a login racing a
	 * deactivation must not leave a token that the next reactivation
	 * would bring to life */
	[ST_TOKEN_INSERT] = "WITH u AS (SELECT name FROM users WHERE name = $2 AND status = 'active' "
		"FOR SHARE) INSERT INTO tokens (hash, \"user\", issued_at, expires_at, revoked) "
		"SELECT $1, u.name, $3, $4, 0 FROM u",
	[ST_TOKEN_LOOKUP] = "SELECT t.hash, t.\"user\", t.issued_at, t.expires_at, t.revoked, "
		"u.role, u.status, u.quota_bytes, u.quota_images "
		"FROM tokens t JOIN users u ON u.name = t.\"user\" WHERE t.hash = $1",
	[ST_TOKEN_REVOKE] = "UPDATE tokens SET revoked = 1 WHERE hash = $1",
	[ST_TOKEN_REVOKE_USER] = "UPDATE tokens SET revoked = 1 WHERE \"user\" = $1 "
		"AND hash IS DISTINCT FROM $2::text",
	[ST_TOKEN_PURGE] = "DELETE FROM tokens WHERE expires_at < $1",
	[ST_LOGIN_GET] = "SELECT count, first_at, locked_until FROM login_failures WHERE name = $1",
	/* login_failed: make sure the name has a row, then hold it */
	[ST_LOGIN_ROW] = "INSERT INTO login_failures (name, count, first_at, locked_until) "
		"VALUES ($1, 0, 0, 0) ON CONFLICT (name) DO NOTHING",
	[ST_LOGIN_LOCK] = "SELECT count, first_at, locked_until FROM login_failures WHERE name = $1 "
		"FOR UPDATE",
	[ST_LOGIN_PUT] = "UPDATE login_failures SET count = $2, first_at = $3, locked_until = $4 "
		"WHERE name = $1",
	[ST_LOGIN_CLEAR] = "DELETE FROM login_failures WHERE name = $1",
	/* names whose count is out of its window and whose lock has passed;
	 * rows others hold are left for later (no waiting, no deadlock) */
	[ST_LOGIN_PURGE] = "DELETE FROM login_failures WHERE name IN (SELECT name FROM login_failures "
		"WHERE first_at < $1 AND locked_until <= $2 AND name != $3 FOR UPDATE SKIP LOCKED)",
	[ST_CHARGE_SET] = "INSERT INTO charges (key, owner, bytes, expires_at) VALUES ($1, $2, $3, $4) "
		"ON CONFLICT (key) DO UPDATE SET owner = EXCLUDED.owner, bytes = EXCLUDED.bytes, "
		"expires_at = EXCLUDED.expires_at",
	[ST_CHARGE_DELETE] = "DELETE FROM charges WHERE key = $1",
	[ST_CHARGE_LIST] = "SELECT key, owner, bytes, expires_at FROM charges "
		"WHERE left(key, length($1)) = $1 ORDER BY key",
	/* the owner's usage in bytes but for charge $2 */
	[ST_CHARGE_USED] = "SELECT (SELECT COALESCE(SUM(size), 0) FROM images WHERE owner = $1 "
		"AND status IN ('active', 'deactivated')) + (SELECT COALESCE(SUM(bytes), 0) "
		"FROM charges WHERE owner = $1 AND key != $2 AND (expires_at = 0 OR expires_at > $3))",
	/* held until the transaction ends: the reservations of one owner, and
	 * the holds of one hash, one at a time across every raind (READ
	 * COMMITTED: the statements after the lock see what the last holder
	 * committed) */
	[ST_OWNER_XLOCK] = "SELECT pg_advisory_xact_lock(7240532, hashtext('owner/' || $1))",
	[ST_HASH_XLOCK] = "SELECT pg_advisory_xact_lock(7240532, hashtext('blob/' || $1))",
	/* others' live holds on a hash; $4 = 1: removals only */
	[ST_HOLD_COUNT] = "SELECT count(*) FROM blob_holds WHERE hash = $1 AND holder != $2 "
		"AND expires_at > $3 AND removal >= $4",
	[ST_HOLD_PUT] = "INSERT INTO blob_holds (hash, holder, removal, expires_at) VALUES ($1, $2, $3, $4) "
		"ON CONFLICT (hash, holder) DO UPDATE SET removal = EXCLUDED.removal, "
		"expires_at = EXCLUDED.expires_at",
	[ST_HOLD_DELETE] = "DELETE FROM blob_holds WHERE hash = $1 AND holder = $2",
	/* lapsed holds; rows others hold are left for later */
	[ST_HOLD_PURGE] = "DELETE FROM blob_holds WHERE (hash, holder) IN (SELECT hash, holder "
		"FROM blob_holds WHERE expires_at <= $1 FOR UPDATE SKIP LOCKED)",
	[ST_REG_PUT] = "INSERT INTO registrations (" REG_COLUMNS ") "
		"VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET "
		"image_id = EXCLUDED.image_id, site = EXCLUDED.site, owner = EXCLUDED.owner, "
		"status = EXCLUDED.status, created_at = EXCLUDED.created_at, "
		"updated_at = EXCLUDED.updated_at, doc = EXCLUDED.doc",
	[ST_REG_GET] = "SELECT " REG_COLUMNS " FROM registrations WHERE id = $1",
	/* newest first; $5: how many (NULL: all) */
	[ST_REG_LIST] = "SELECT " REG_COLUMNS " FROM registrations WHERE ($1::text IS NULL OR owner = $1) "
		"AND ($2::text IS NULL OR site = $2) AND ($3::text IS NULL OR image_id = $3) "
		"AND ($4::text IS NULL OR status = $4) ORDER BY created_at DESC, id LIMIT $5",
	[ST_REG_DELETE] = "DELETE FROM registrations WHERE id = $1",
};

#define T_ "TEXT COLLATE \"C\""

/* Schema 8 of the SQLite backend, from empty, in one step: the same
 * tables, columns and indexes (and the audit log's append-only rule). */
static const char schema_v8_sql[] =
	"CREATE TABLE images ("
	" id " T_ " PRIMARY KEY,"
	" name " T_ ","
	" status " T_ " NOT NULL,"
	" visibility " T_ " NOT NULL,"
	" protected INTEGER NOT NULL DEFAULT 0,"
	" os_hidden INTEGER NOT NULL DEFAULT 0,"
	" checksum " T_ ","
	" os_hash_algo " T_ ","
	" os_hash_value " T_ ","
	" size BIGINT,"
	" virtual_size BIGINT,"
	" disk_format " T_ ","
	" container_format " T_ ","
	" min_disk BIGINT NOT NULL DEFAULT 0,"
	" min_ram BIGINT NOT NULL DEFAULT 0,"
	" owner " T_ ","
	" created_at BIGINT NOT NULL,"
	" updated_at BIGINT NOT NULL,"
	" download_count BIGINT NOT NULL DEFAULT 0,"
	" last_access BIGINT NOT NULL DEFAULT 0,"
	" revision BIGINT NOT NULL DEFAULT 0);"
	"CREATE INDEX images_created ON images (created_at, id);"
	"CREATE INDEX images_name ON images (name);"
	/* (SQLite's is on owner alone) an owner's newest first, from the index */
	"CREATE INDEX images_owner ON images (owner, created_at, id);"
	"CREATE INDEX images_status ON images (status);"
	"CREATE INDEX images_hash ON images (os_hash_value);"
	"CREATE TABLE image_properties ("
	" image_id " T_ " NOT NULL REFERENCES images (id) ON DELETE CASCADE,"
	" name " T_ " NOT NULL,"
	" value " T_ " NOT NULL,"
	" created_at BIGINT NOT NULL,"
	" PRIMARY KEY (image_id, name));"
	"CREATE INDEX image_properties_nv ON image_properties (name, value, created_at, image_id);"
	"CREATE TABLE image_tags ("
	" image_id " T_ " NOT NULL REFERENCES images (id) ON DELETE CASCADE,"
	" tag " T_ " NOT NULL,"
	" PRIMARY KEY (image_id, tag));"
	"CREATE INDEX image_tags_tag ON image_tags (tag);"
	"CREATE TABLE users ("
	" name " T_ " PRIMARY KEY,"
	" role " T_ " NOT NULL CHECK (role IN ('user', 'admin')),"
	" status " T_ " NOT NULL CHECK (status IN ('pending', 'active', 'inactive')),"
	" quota_bytes BIGINT NOT NULL,"
	" quota_images BIGINT NOT NULL,"
	" created_at BIGINT NOT NULL,"
	" last_login BIGINT,"
	" password_hash " T_ ");"
	"CREATE UNIQUE INDEX users_folded ON users (lower(name));"
	"CREATE TABLE tokens ("
	" hash " T_ " PRIMARY KEY,"
	" \"user\" " T_ " NOT NULL REFERENCES users (name) ON DELETE CASCADE,"
	" issued_at BIGINT NOT NULL,"
	" expires_at BIGINT NOT NULL,"
	" revoked INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX tokens_user ON tokens (\"user\");"
	"CREATE INDEX tokens_expires ON tokens (expires_at);"
	"CREATE TABLE image_members ("
	" image_id " T_ " NOT NULL REFERENCES images (id) ON DELETE CASCADE,"
	" member " T_ " NOT NULL,"
	" status " T_ " NOT NULL CHECK (status IN ('pending', 'accepted', 'rejected')),"
	" created_at BIGINT NOT NULL,"
	" updated_at BIGINT NOT NULL,"
	" PRIMARY KEY (image_id, member));"
	"CREATE INDEX image_members_member ON image_members (member, status);"
	"CREATE TABLE audit ("
	" id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
	" at BIGINT NOT NULL,"
	" actor " T_ " NOT NULL,"
	" address " T_ " NOT NULL,"
	" method " T_ " NOT NULL,"
	" path " T_ " NOT NULL,"
	" target " T_ " NOT NULL,"
	" status INTEGER NOT NULL);"
	"CREATE INDEX audit_at ON audit (at);"
	"CREATE INDEX audit_actor ON audit (actor, id);"
	"CREATE INDEX audit_target ON audit (target, id);"
	"CREATE FUNCTION rain_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
	"$$BEGIN RAISE EXCEPTION 'the audit log is append-only'; END$$;"
	"CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit "
	"FOR EACH ROW EXECUTE FUNCTION rain_audit_append_only();"
	"CREATE TABLE login_failures ("
	" name " T_ " PRIMARY KEY,"
	" count BIGINT NOT NULL,"
	" first_at BIGINT NOT NULL,"
	" locked_until BIGINT NOT NULL);"
	"CREATE TABLE charges ("
	" key " T_ " PRIMARY KEY,"
	" owner " T_ " NOT NULL,"
	" bytes BIGINT NOT NULL);"
	"CREATE INDEX charges_owner ON charges (owner);"
	"CREATE TABLE registrations ("
	" id " T_ " PRIMARY KEY,"
	" image_id " T_ " NOT NULL,"
	" site " T_ " NOT NULL,"
	" owner " T_ " NOT NULL,"
	" status " T_ " NOT NULL,"
	" created_at BIGINT NOT NULL,"
	" updated_at BIGINT NOT NULL,"
	" doc " T_ " NOT NULL);"
	"CREATE INDEX registrations_owner ON registrations (owner, created_at);"
	"CREATE INDEX registrations_image ON registrations (image_id);"
	"CREATE INDEX registrations_site ON registrations (site, created_at);";

/* Schema 9 (as SQLite's 9): tags carry their image's creation time, so
 * that a tag filter in the default order is driven from the tag's index. */
static const char migrate_v9_sql[] =
	"ALTER TABLE image_tags ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0;"
	"UPDATE image_tags t SET created_at = i.created_at FROM images i WHERE i.id = t.image_id;"
	"CREATE INDEX image_tags_tc ON image_tags (tag, created_at, image_id);";

/* Schema 10 (as SQLite's 10): several raind on one catalog: charges
 * that lapse (uploads in flight, under a lease) and holds on blobs. */
static const char migrate_v10_sql[] =
	"ALTER TABLE charges ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0;"
	"CREATE TABLE blob_holds ("
	" hash " T_ " NOT NULL,"
	" holder " T_ " NOT NULL,"
	" removal INTEGER NOT NULL,"
	" expires_at BIGINT NOT NULL,"
	" PRIMARY KEY (hash, holder));";

/* The migrations, oldest first: each brings the schema to its version.
 * A later version appends a step; an existing step never changes. */
static const struct {
	int version;
	const char *sql;
} migrations[] = {
	{ 8, schema_v8_sql },
	{ 9, migrate_v9_sql },
	{ 10, migrate_v10_sql },
};

#define SCHEMA_VERSION 10

/* Serializes schema migrations of several raind starting at once. */
#define MIGRATE_LOCK "7240531"

/* At most this many connections per open catalog. */
#define POOL_MAX 8

struct conn {
	PGconn *pg;
	bool prepared[ST_COUNT];
	bool used;              /* a statement went through since conn_get */
	struct conn *next;
};

struct pgs {
	char *conninfo;         /* "postgresql:..." as given */
	char where[256];        /* "host:port/db" for messages (no password) */
	pthread_mutex_t lock;
	pthread_cond_t freed;
	struct conn *idle;
	int open;               /* connections in use or idle */
};

/* The first line of libpq's message, for ours. */
static void first_line(const char *msg, char *out, size_t outlen)
{
	size_t n = strcspn(msg ? msg : "", "\n");

	snprintf(out, outlen, "%.*s", (int)n, msg ? msg : "");
}

/* Map a failed statement (res, or the connection's state when res is
 * NULL) to a RAIN_E* code with a message saying what and where. */
static int pg_error(struct pgs *s, struct conn *c, const PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char msg[512];
	int code = RAIN_EIO;

	first_line(primary ? primary : PQerrorMessage(c->pg), msg, sizeof(msg));
	if (PQstatus(c->pg) == CONNECTION_BAD)
		return rain_error_set(RAIN_ENET, "catalog: %s: lost the connection to PostgreSQL at %s (%s); "
				      "the next request reconnects", what, s->where, msg);
	if (!state)
		state = "";
	if (!strncmp(state, "23", 2))          /* integrity constraint, as SQLite's */
		code = RAIN_EEXISTS;
	else if (!strcmp(state, "53100"))      /* disk full */
		code = RAIN_ENOSPC;
	else if (!strcmp(state, "53300"))      /* too many connections */
		code = RAIN_ELIMIT;
	else if (!strcmp(state, "40001") || !strcmp(state, "40P01"))
		code = RAIN_ECONFLICT;         /* serialization failure, deadlock */
	else if (!strcmp(state, "57014"))
		code = RAIN_ECANCELED;
	else if (!strncmp(state, "08", 2))
		code = RAIN_ENET;
	return rain_error_set(code, "catalog: %s: %s (PostgreSQL %s at %s)", what, msg, state, s->where);
}

static void notice_drop(void *arg, const char *message)
{
}

static int conn_connect(struct pgs *s, struct conn **out)
{
	struct conn *c = calloc(1, sizeof(*c));
	char msg[512];
	PGresult *res = NULL;

	if (!c)
		return rain_error_oom();
	c->pg = PQconnectdb(s->conninfo);
	if (!c->pg) {
		free(c);
		return rain_error_oom();
	}
	if (PQstatus(c->pg) != CONNECTION_OK) {
		first_line(PQerrorMessage(c->pg), msg, sizeof(msg));
		PQfinish(c->pg);
		free(c);
		return rain_error_set(RAIN_ENET, "catalog: cannot connect to PostgreSQL at %s: %s", s->where, msg);
	}
	/* the library never prints: the server's notices are dropped */
	PQsetNoticeProcessor(c->pg, notice_drop, NULL);
	/* values are exchanged as text in UTF-8; times are integers */
	res = PQexec(c->pg, "SET client_encoding = 'UTF8'");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		int r = pg_error(s, c, res, "connect");

		PQclear(res);
		PQfinish(c->pg);
		free(c);
		return r;
	}
	PQclear(res);
	*out = c;
	return 0;
}

static void conn_free(struct conn *c)
{
	if (!c)
		return;
	PQfinish(c->pg);
	free(c);
}

static int conn_get(struct pgs *s, struct conn **out)
{
	int r;

	pthread_mutex_lock(&s->lock);
	while (!s->idle && s->open >= POOL_MAX)
		pthread_cond_wait(&s->freed, &s->lock);
	if (s->idle) {
		*out = s->idle;
		s->idle = s->idle->next;
		pthread_mutex_unlock(&s->lock);
		(*out)->used = false;
		return 0;
	}
	s->open++;
	pthread_mutex_unlock(&s->lock);
	r = conn_connect(s, out);
	if (r < 0) {
		pthread_mutex_lock(&s->lock);
		s->open--;
		pthread_cond_signal(&s->freed);
		pthread_mutex_unlock(&s->lock);
		return r;
	}
	(*out)->used = false;
	return 0;
}

/* Back to the pool: rolled back if a transaction is left open; dropped
 * if broken. */
static void conn_put(struct pgs *s, struct conn *c)
{
	if (PQstatus(c->pg) == CONNECTION_OK && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		PQclear(PQexec(c->pg, "ROLLBACK"));
	pthread_mutex_lock(&s->lock);
	if (PQstatus(c->pg) != CONNECTION_OK) {
		s->open--;
		conn_free(c);
	} else {
		c->next = s->idle;
		s->idle = c;
	}
	pthread_cond_signal(&s->freed);
	pthread_mutex_unlock(&s->lock);
}

/* Parameters of one statement, as text (NULL: SQL NULL). Not to be
 * copied: v points into num. */
#define MAX_ARGS 24

struct args {
	const char *v[MAX_ARGS];
	char num[MAX_ARGS][24];
	int n;
};

static void a_text(struct args *a, const char *s)
{
	a->v[a->n++] = s;
}

static void a_i64(struct args *a, int64_t v)
{
	snprintf(a->num[a->n], sizeof(a->num[a->n]), "%lld", (long long)v);
	a->v[a->n] = a->num[a->n];
	a->n++;
}

/* A value whose negative means unknown (NULL). */
static void a_num(struct args *a, int64_t v)
{
	if (v >= 0)
		a_i64(a, v);
	else
		a_text(a, NULL);
}

/* Whether a failure on c may be retried on a fresh connection: the
 * connection broke before any statement of this use went through (an
 * idle connection the server dropped). */
static bool reset_for_retry(struct conn *c)
{
	if (c->used || PQstatus(c->pg) != CONNECTION_BAD)
		return false;
	PQreset(c->pg);
	memset(c->prepared, 0, sizeof(c->prepared));
	return PQstatus(c->pg) == CONNECTION_OK;
}

/* Run statement id with a (may be NULL); *out (may be NULL) the result
 * on success, for the caller to PQclear. */
static int run(struct pgs *s, struct conn *c, enum stmt_id id, const struct args *a,
	       PGresult **out, const char *what)
{
	char name[16];
	PGresult *res = NULL;
	ExecStatusType st;
	int r;

	snprintf(name, sizeof(name), "s%d", (int)id);
	for (int attempt = 0;; attempt++) {
		if (!c->prepared[id]) {
			res = PQprepare(c->pg, name, stmt_sql[id], 0, NULL);
			if (PQresultStatus(res) != PGRES_COMMAND_OK) {
				if (attempt == 0 && reset_for_retry(c)) {
					PQclear(res);
					continue;
				}
				r = pg_error(s, c, res, what);
				PQclear(res);
				return r;
			}
			PQclear(res);
			c->prepared[id] = true;
		}
		res = PQexecPrepared(c->pg, name, a ? a->n : 0, a ? a->v : NULL, NULL, NULL, 0);
		st = PQresultStatus(res);
		if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
			break;
		if (attempt == 0 && reset_for_retry(c)) {
			PQclear(res);
			continue;
		}
		r = pg_error(s, c, res, what);
		PQclear(res);
		return r;
	}
	c->used = true;
	if (out)
		*out = res;
	else
		PQclear(res);
	return 0;
}

/* Run id; *changed (may be NULL) the rows it changed. */
static int run_count(struct pgs *s, struct conn *c, enum stmt_id id, const struct args *a,
		     int64_t *changed, const char *what)
{
	PGresult *res = NULL;
	int r = run(s, c, id, a, &res, what);

	if (r < 0)
		return r;
	if (changed)
		*changed = strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return 0;
}

/* Fixed text without parameters (transaction control, schema). */
static int run_plain(struct pgs *s, struct conn *c, const char *sql, const char *what)
{
	PGresult *res = NULL;
	int r = 0;

	for (int attempt = 0;; attempt++) {
		res = PQexec(c->pg, sql);
		if (PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK)
			break;
		if (attempt == 0 && reset_for_retry(c)) {
			PQclear(res);
			continue;
		}
		r = pg_error(s, c, res, what);
		break;
	}
	if (r == 0)
		c->used = true;
	PQclear(res);
	return r;
}

static int tx_begin(struct pgs *s, struct conn *c)
{
	return run_plain(s, c, "BEGIN", "begin");
}

/* One snapshot for a read of several statements. */
static int read_begin(struct pgs *s, struct conn *c)
{
	return run_plain(s, c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "begin");
}

static int tx_end(struct pgs *s, struct conn *c, int r)
{
	if (r == 0)
		r = run_plain(s, c, "COMMIT", "commit");
	if (r < 0 && PQstatus(c->pg) == CONNECTION_OK && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		PQclear(PQexec(c->pg, "ROLLBACK"));
	return r;
}

/* ---- columns of a result ---- */

static const char *col_text(const PGresult *res, int row, int i)
{
	return PQgetisnull(res, row, i) ? NULL : PQgetvalue(res, row, i);
}

static int col_str(const PGresult *res, int row, int i, char **out)
{
	const char *s = col_text(res, row, i);

	*out = NULL;
	if (!s)
		return 0;
	*out = strdup(s);
	return *out ? 0 : rain_error_oom();
}

static int64_t col_i64(const PGresult *res, int row, int i)
{
	return PQgetisnull(res, row, i) ? 0 : strtoll(PQgetvalue(res, row, i), NULL, 10);
}

/* -1 for NULL */
static int64_t col_num(const PGresult *res, int row, int i)
{
	return PQgetisnull(res, row, i) ? -1 : strtoll(PQgetvalue(res, row, i), NULL, 10);
}

static void copy_col(const PGresult *res, int row, int i, char *out, size_t outlen)
{
	const char *v = col_text(res, row, i);

	snprintf(out, outlen, "%s", v ? v : "");
}

/* ---- open and close ---- */

/* Bring the schema to SCHEMA_VERSION, in one transaction under an
 * advisory lock (several raind may start at once). */
static int migrate(struct pgs *s, struct conn *c)
{
	PGresult *res = NULL;
	int version = 0, r;

	r = tx_begin(s, c);
	if (r == 0)
		r = run_plain(s, c, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ")", "lock the schema");
	if (r == 0)
		r = run_plain(s, c, "CREATE TABLE IF NOT EXISTS rain_schema (version INTEGER NOT NULL)",
			      "create the schema version table");
	if (r == 0) {
		res = PQexec(c->pg, "SELECT max(version) FROM rain_schema");
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			r = pg_error(s, c, res, "read the schema version");
		else
			version = (int)col_i64(res, 0, 0);
		PQclear(res);
	}
	if (r == 0 && version > SCHEMA_VERSION)
		r = rain_error_set(RAIN_EINVAL, "catalog at %s has schema version %d, newer than this raind "
				   "knows (%d)", s->where, version, SCHEMA_VERSION);
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(migrations); i++) {
		if (migrations[i].version <= version)
			continue;
		r = run_plain(s, c, migrations[i].sql, version ? "migrate schema" : "create schema");
		if (r == 0) {
			char sql[96];

			snprintf(sql, sizeof(sql), "DELETE FROM rain_schema; INSERT INTO rain_schema VALUES (%d)",
				 migrations[i].version);
			r = run_plain(s, c, sql, "record the schema version");
		}
	}
	return tx_end(s, c, r);
}

static int pgs_open(const char *location, void **impl)
{
	struct pgs *s;
	struct conn *c;
	PQconninfoOption *opts;
	char *err = NULL;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return rain_error_oom();
	if (asprintf(&s->conninfo, "postgresql:%s", location) < 0) {
		free(s);
		return rain_error_oom();
	}
	opts = PQconninfoParse(s->conninfo, &err);
	if (!opts) {
		char msg[256];

		first_line(err ? err : "out of memory", msg, sizeof(msg));
		PQfreemem(err);
		r = rain_error_set(RAIN_EINVAL, "catalog: bad PostgreSQL URI 'postgresql:%s': %s "
				   "(postgresql://[USER@]HOST[:PORT]/DB, or postgresql:///DB?host=SOCKETDIR)",
				   location, msg);
		free(s->conninfo);
		free(s);
		return r;
	}
	{
		const char *host = NULL, *port = NULL, *db = NULL;

		for (PQconninfoOption *o = opts; o->keyword; o++) {
			if (!strcmp(o->keyword, "host"))
				host = o->val;
			else if (!strcmp(o->keyword, "port"))
				port = o->val;
			else if (!strcmp(o->keyword, "dbname"))
				db = o->val;
		}
		snprintf(s->where, sizeof(s->where), "%s:%s/%s", host ? host : "(default host)",
			 port ? port : "5432", db ? db : "(default database)");
	}
	PQconninfoFree(opts);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->freed, NULL);
	s->open = 1;
	r = conn_connect(s, &c);
	if (r == 0) {
		r = migrate(s, c);
		if (r < 0)
			conn_free(c);
	}
	if (r < 0) {
		pthread_mutex_destroy(&s->lock);
		pthread_cond_destroy(&s->freed);
		free(s->conninfo);
		free(s);
		return r;
	}
	s->idle = c;
	*impl = s;
	return 0;
}

static void pgs_close(void *impl)
{
	struct pgs *s = impl;

	while (s->idle) {
		struct conn *c = s->idle;

		s->idle = c->next;
		conn_free(c);
	}
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->freed);
	free(s->conninfo);
	free(s);
}

/* ---- images ---- */

/* The 21 image columns in IMAGE_COLUMNS order. */
static void args_image(struct args *a, const struct rain_image *img)
{
	a_text(a, img->id);
	a_text(a, img->name);
	a_text(a, rain_image_status_name(img->status));
	a_text(a, rain_visibility_name(img->visibility));
	a_i64(a, img->protected_ ? 1 : 0);
	a_i64(a, img->os_hidden ? 1 : 0);
	a_text(a, img->checksum);
	a_text(a, img->os_hash_algo);
	a_text(a, img->os_hash_value);
	a_num(a, img->size);
	a_num(a, img->virtual_size);
	a_text(a, img->disk_format);
	a_text(a, img->container_format);
	a_i64(a, img->min_disk);
	a_i64(a, img->min_ram);
	a_text(a, img->owner);
	a_i64(a, img->created_at);
	a_i64(a, img->updated_at);
	a_i64(a, img->download_count);
	a_i64(a, img->last_access);
	a_i64(a, img->revision);
}

/* An image from row `row` of res, in IMAGE_COLUMNS order from column 0. */
static int row_to_image(const PGresult *res, int row, struct rain_image **out)
{
	struct rain_image *img = rain_image_new();
	const char *id = col_text(res, row, 0);
	int r = 0;

	if (!img)
		return rain_error_oom();
	snprintf(img->id, sizeof(img->id), "%s", id ? id : "");
	r |= col_str(res, row, 1, &img->name);
	rain_image_status_parse(col_text(res, row, 2), &img->status);
	rain_visibility_parse(col_text(res, row, 3), &img->visibility);
	img->protected_ = col_i64(res, row, 4) != 0;
	img->os_hidden = col_i64(res, row, 5) != 0;
	r |= col_str(res, row, 6, &img->checksum);
	r |= col_str(res, row, 7, &img->os_hash_algo);
	r |= col_str(res, row, 8, &img->os_hash_value);
	img->size = col_num(res, row, 9);
	img->virtual_size = col_num(res, row, 10);
	r |= col_str(res, row, 11, &img->disk_format);
	r |= col_str(res, row, 12, &img->container_format);
	img->min_disk = col_i64(res, row, 13);
	img->min_ram = col_i64(res, row, 14);
	r |= col_str(res, row, 15, &img->owner);
	img->created_at = col_i64(res, row, 16);
	img->updated_at = col_i64(res, row, 17);
	img->download_count = col_i64(res, row, 18);
	img->last_access = col_i64(res, row, 19);
	img->revision = col_i64(res, row, 20);
	if (r) {
		rain_image_free(img);
		return rain_error_oom();
	}
	*out = img;
	return 0;
}

static int load_children(struct pgs *s, struct conn *c, struct rain_image *img)
{
	struct args a = { 0 };
	PGresult *res = NULL;
	int r;

	a_text(&a, img->id);
	r = run(s, c, ST_GET_PROPS, &a, &res, "read properties");
	if (r < 0)
		return r;
	for (int i = 0; r == 0 && i < PQntuples(res); i++)
		r = rain_image_prop_set(img, col_text(res, i, 0), col_text(res, i, 1));
	PQclear(res);
	if (r < 0)
		return r;
	r = run(s, c, ST_GET_TAGS, &a, &res, "read tags");
	if (r < 0)
		return r;
	for (int i = 0; r == 0 && i < PQntuples(res); i++)
		r = rain_image_tag_add(img, col_text(res, i, 0));
	PQclear(res);
	return r;
}

static int write_children(struct pgs *s, struct conn *c, const struct rain_image *img)
{
	int r;

	for (size_t i = 0; i < img->nprops; i++) {
		struct args a = { 0 };

		a_text(&a, img->id);
		a_text(&a, img->props[i].name);
		a_text(&a, img->props[i].value);
		a_i64(&a, img->created_at);
		r = run(s, c, ST_INSERT_PROP, &a, NULL, "store property");
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < img->ntags; i++) {
		struct args a = { 0 };

		a_text(&a, img->id);
		a_text(&a, img->tags[i]);
		a_i64(&a, img->created_at);
		r = run(s, c, ST_INSERT_TAG, &a, NULL, "store tag");
		if (r < 0)
			return r;
	}
	return 0;
}

/* Hold the owner's user row (if any) until the transaction ends. */
static int lock_owner(struct pgs *s, struct conn *c, const char *owner)
{
	struct args a = { 0 };

	if (!owner)
		return 0;
	a_text(&a, owner);
	return run(s, c, ST_LOCK_OWNER, &a, NULL, "lock the image's owner");
}

static int pgs_image_create(void *impl, const struct rain_image *img)
{
	struct args a = { 0 };
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	r = tx_begin(impl, c);
	if (r == 0) {
		r = lock_owner(impl, c, img->owner);
		if (r == 0) {
			args_image(&a, img);
			r = run(impl, c, ST_INSERT_IMAGE, &a, NULL, "create image");
			if (r == RAIN_EEXISTS)
				rain_error_set(r, "Image with identifier %s already exists!", img->id);
		}
		if (r == 0)
			r = write_children(impl, c, img);
		r = tx_end(impl, c, r);
	}
	conn_put(impl, c);
	return r;
}

static int get_image(struct pgs *s, struct conn *c, const char *id, struct rain_image **out)
{
	struct rain_image *img = NULL;
	struct args a = { 0 };
	PGresult *res = NULL;
	int r;

	a_text(&a, id);
	r = run(s, c, ST_GET_IMAGE, &a, &res, "read image");
	if (r < 0)
		return r;
	if (PQntuples(res) == 0)
		r = rain_error_set(RAIN_ENOTFOUND, "No image found with ID %s", id);
	else
		r = row_to_image(res, 0, &img);
	PQclear(res);
	if (r == 0)
		r = load_children(s, c, img);
	if (r < 0) {
		rain_image_free(img);
		return r;
	}
	*out = img;
	return 0;
}

static int pgs_image_get(void *impl, const char *id, struct rain_image **out)
{
	struct rain_image *img = NULL;
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	r = read_begin(impl, c);
	if (r == 0)
		r = tx_end(impl, c, get_image(impl, c, id, &img));
	conn_put(impl, c);
	if (r < 0) {
		rain_image_free(img);
		return r;
	}
	*out = img;
	return 0;
}

/* After a conditional write changed no row: gone, or written by another? */
static int lost_race(struct pgs *s, struct conn *c, const char *id)
{
	struct args a = { 0 };
	PGresult *res = NULL;
	int r;

	a_text(&a, id);
	r = run(s, c, ST_EXISTS, &a, &res, "check image");
	if (r < 0)
		return r;
	r = PQntuples(res) > 0 ?
	    rain_error_set(RAIN_ECONFLICT, "image %s was changed by another request", id) :
	    rain_error_set(RAIN_ENOTFOUND, "No image found with ID %s", id);
	PQclear(res);
	return r;
}

static int pgs_image_update(void *impl, const struct rain_image *img)
{
	struct args a = { 0 }, k = { 0 };
	int64_t changed = 0;
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	r = tx_begin(impl, c);
	if (r == 0) {
		r = lock_owner(impl, c, img->owner);
		if (r == 0) {
			args_image(&a, img);
			/* $19: the revision expected (statistics are not written) */
			a.n = 18;
			a_i64(&a, img->revision);
			r = run_count(impl, c, ST_UPDATE_IMAGE, &a, &changed, "update image");
		}
		if (r == 0 && changed == 0)
			r = lost_race(impl, c, img->id);
		a_text(&k, img->id);
		if (r == 0)
			r = run(impl, c, ST_DELETE_PROPS, &k, NULL, "update properties");
		if (r == 0)
			r = run(impl, c, ST_DELETE_TAGS, &k, NULL, "update tags");
		if (r == 0)
			r = write_children(impl, c, img);
		r = tx_end(impl, c, r);
	}
	conn_put(impl, c);
	return r;
}

static int pgs_image_delete(void *impl, const struct rain_image *img)
{
	struct args a = { 0 };
	int64_t changed = 0;
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	r = tx_begin(impl, c);
	if (r == 0) {
		a_text(&a, img->id);
		a_i64(&a, img->revision);
		r = run_count(impl, c, ST_DELETE_IMAGE, &a, &changed, "delete image");
		if (r == 0 && changed == 0)
			r = lost_race(impl, c, img->id);
		r = tx_end(impl, c, r);
	}
	conn_put(impl, c);
	return r;
}

static int pgs_image_touch(void *impl, const char *id, int64_t now_us)
{
	struct args a = { 0 };
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	a_text(&a, id);
	a_i64(&a, now_us);
	r = run(impl, c, ST_TOUCH, &a, NULL, "record access");
	conn_put(impl, c);
	return r;
}

/* A statement with one row of one integer column: *out. */
static int run_int(struct pgs *s, enum stmt_id id, const struct args *a, int64_t *out, const char *what)
{
	PGresult *res = NULL;
	struct conn *c;
	int r = conn_get(s, &c);

	if (r < 0)
		return r;
	r = run(s, c, id, a, &res, what);
	if (r == 0) {
		*out = PQntuples(res) > 0 ? col_i64(res, 0, 0) : 0;
		PQclear(res);
	}
	conn_put(s, c);
	return r;
}

static int pgs_blob_refs(void *impl, const char *hash, int64_t *count)
{
	struct args a = { 0 };

	a_text(&a, hash);
	return run_int(impl, ST_BLOB_REFS, &a, count, "count blob references");
}

static int pgs_reset_status(void *impl, enum rain_image_status from,
			    enum rain_image_status to, int64_t *changed)
{
	struct args a = { 0 };
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	a_text(&a, rain_image_status_name(from));
	a_text(&a, rain_image_status_name(to));
	a_i64(&a, time_now_us());
	r = run_count(impl, c, ST_RESET_STATUS, &a, changed, "reset status");
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
	{ "name", "coalesce(i.name, '')", "i.name", COL_TEXT },
	{ "status", "i.status", "i.status", COL_TEXT },
	{ "visibility", "i.visibility", "i.visibility", COL_TEXT },
	{ "owner", "coalesce(i.owner, '')", "i.owner", COL_TEXT },
	{ "disk_format", "coalesce(i.disk_format, '')", "i.disk_format", COL_TEXT },
	{ "container_format", "coalesce(i.container_format, '')", "i.container_format", COL_TEXT },
	{ "protected", "i.protected", "i.protected", COL_BOOL },
	{ "os_hidden", "i.os_hidden", "i.os_hidden", COL_BOOL },
	{ "size", "coalesce(i.size, -1)", "i.size", COL_INT },
	{ "virtual_size", "coalesce(i.virtual_size, -1)", "i.virtual_size", COL_INT },
	{ "min_disk", "i.min_disk", "i.min_disk", COL_INT },
	{ "min_ram", "i.min_ram", "i.min_ram", COL_INT },
	{ "created_at", "i.created_at", "i.created_at", COL_TIME },
	{ "updated_at", "i.updated_at", "i.updated_at", COL_TIME },
	{ "checksum", "coalesce(i.checksum, '')", "i.checksum", COL_TEXT },
	{ "os_hash_value", "coalesce(i.os_hash_value, '')", "i.os_hash_value", COL_TEXT },
};

static const struct column *column_find(const char *attr)
{
	for (size_t i = 0; i < ARRAY_SIZE(columns); i++)
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

/* The parameters of a list query, as text, in the order of their $N. */
struct params {
	char *v[RAIN_QUERY_MAX_TERMS * 16 + 64];
	size_t n;
};

/* Add value (checked and converted to its column's type) as $(p->n). */
static int param_add(struct params *p, enum col_type type, const char *value, const char *attr)
{
	int64_t num = 0;

	if (p->n >= ARRAY_SIZE(p->v))
		return rain_error_set(RAIN_ETOOBIG, "too many filter values");
	switch (type) {
	case COL_INT:
		if (str_to_i64(value, &num) < 0)
			return rain_error_set(RAIN_EINVAL, "filter %s: '%s' is not an integer", attr, value);
		break;
	case COL_BOOL:
		if (!strcasecmp(value, "true"))
			num = 1;
		else if (!strcasecmp(value, "false"))
			num = 0;
		else
			return rain_error_set(RAIN_EINVAL, "filter %s: '%s' is not true or false", attr, value);
		break;
	case COL_TIME:
		if (time_parse_iso(value, &num) < 0)
			return rain_error_set(RAIN_EINVAL,
					      "filter %s: '%s' is not an ISO 8601 time (2024-01-31T12:00:00Z)",
					      attr, value);
		break;
	case COL_TEXT:
		break;
	}
	if (type == COL_TEXT)
		p->v[p->n] = strdup(value);
	else if (asprintf(&p->v[p->n], "%lld", (long long)num) < 0)
		p->v[p->n] = NULL;
	if (!p->v[p->n])
		return rain_error_oom();
	p->n++;
	return 0;
}

static void params_free(struct params *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i]);
}

/* Append "expr op $N" or "expr IN ($N, $M)" for one term, values to p. */
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
			fprintf(sql, "%s$%zu", first ? "" : ", ", p->n);
			first = false;
		}
		if (first)
			return rain_error_set(RAIN_EINVAL, "filter %s: 'in:' needs a value", t->attr);
		fputs(")", sql);
		return 0;
	}
	fprintf(sql, "%s %s $%zu", expr, op_sql(t->op), p->n + 1);
	return param_add(p, type, t->value, t->attr);
}

#define IMAGE_COLUMNS_I \
	"i.id, i.name, i.status, i.visibility, i.protected, i.os_hidden, i.checksum, " \
	"i.os_hash_algo, i.os_hash_value, i.size, i.virtual_size, i.disk_format, " \
	"i.container_format, i.min_disk, i.min_ram, i.owner, i.created_at, i.updated_at, " \
	"i.download_count, i.last_access, i.revision"

/* As in the SQLite backend: with the default order (newest first) and a
 * property filter by value, the query is driven from the property index
 * (name, value, created_at, image_id), already in the wanted order. */
static bool default_order(const struct rain_image_query *q)
{
	return q->nsort == 0 || (q->nsort == 1 && !strcmp(q->sort[0].key, "created_at") &&
				 q->sort[0].desc);
}

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

/* Add the sort values of the marker image to p, their first $N in
 * *first. */
static int marker_values(struct pgs *s, struct conn *c, const struct rain_image_query *q,
			 const struct rain_sort *sort, size_t nsort, struct params *p, size_t *first)
{
	_cleanup_free_ char *msql = NULL;
	const char *v[3];
	PGresult *res = NULL;
	size_t mlen;
	FILE *m = open_memstream(&msql, &mlen);
	int r = 0;

	if (!m)
		return rain_error_oom();
	fputs("SELECT ", m);
	for (size_t i = 0; i < nsort; i++)
		fprintf(m, "%s%s", i ? ", " : "", sort_expr(&sort[i], false));
	/* only an image the requester may see (rain/policy.h), else the
	 * answer would tell where others' private images sort */
	fputs(" FROM images i WHERE i.id = $1 AND i.status != 'deleted' AND ($2::boolean OR i.owner = $3 OR "
	      "i.visibility IN ('public', 'community') OR (i.visibility = 'shared' AND EXISTS "
	      "(SELECT 1 FROM image_members m WHERE m.image_id = i.id AND m.member = $3)))", m);
	fclose(m);
	v[0] = q->marker;
	v[1] = q->requester_admin ? "t" : "f";
	v[2] = q->requester ? q->requester : "";
	res = PQexecParams(c->pg, msql, 3, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		r = pg_error(s, c, res, "list");
	} else if (PQntuples(res) == 0) {
		r = rain_error_set(RAIN_EINVAL, "marker %s not found", q->marker);
	} else {
		*first = p->n + 1;
		for (size_t i = 0; r == 0 && i < nsort; i++)
			r = param_add(p, COL_TEXT, PQgetvalue(res, 0, (int)i), "marker");
	}
	PQclear(res);
	return r;
}

static int build_list_sql(struct pgs *s, struct conn *c, const struct rain_image_query *q,
			  struct params *p, char **out)
{
	const struct rain_query_term *by_prop = driving_term(q);
	const char *by_tag = driving_tag(q);
	bool driver = by_prop || by_tag;
	struct rain_sort sort[RAIN_QUERY_MAX_SORT + 1];
	size_t nsort = 0, len, mk = 0;
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

	if (by_prop) {
		fputs("SELECT " IMAGE_COLUMNS_I " FROM image_properties p0 "
		      "JOIN images i ON i.id = p0.image_id "
		      "WHERE p0.name = $1 AND p0.value = $2 AND i.status != 'deleted'", sql);
		r = param_add(p, COL_TEXT, by_prop->attr, by_prop->attr);
		if (r == 0)
			r = param_add(p, COL_TEXT, by_prop->value, by_prop->attr);
	} else if (by_tag) {
		fputs("SELECT " IMAGE_COLUMNS_I " FROM image_tags p0 "
		      "JOIN images i ON i.id = p0.image_id "
		      "WHERE p0.tag = $1 AND i.status != 'deleted'", sql);
		r = param_add(p, COL_TEXT, by_tag, "tag");
	} else {
		fputs("SELECT " IMAGE_COLUMNS_I " FROM images i WHERE i.status != 'deleted'", sql);
	}
	if (r == 0 && !q->requester_admin) {
		size_t k = p->n + 1;

		fprintf(sql, " AND (i.owner = $%zu OR i.visibility IN ('public', 'community') OR "
			"(i.visibility = 'shared' AND EXISTS (SELECT 1 FROM image_members m "
			"WHERE m.image_id = i.id AND m.member = $%zu AND ($%zu = 'all' OR m.status = $%zu))))",
			k, k, k + 1, k + 1);
		r = param_add(p, COL_TEXT, q->requester ? q->requester : "", "owner");
		if (r == 0)
			r = param_add(p, COL_TEXT, q->member_status ? q->member_status : "accepted",
				      "member_status");
	}
	if (r == 0 && !q->include_community) {
		fprintf(sql, " AND (i.visibility != 'community' OR i.owner = $%zu)", p->n + 1);
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
			/* a property: name first, then the value(s) */
			fprintf(sql, "i.id IN (SELECT image_id FROM image_properties WHERE name = $%zu AND ",
				p->n + 1);
			r = param_add(p, COL_TEXT, t->attr, t->attr);
			if (r == 0)
				r = term_sql(sql, p, "value", COL_TEXT, t);
			fputs(")", sql);
		}
	}
	for (size_t i = by_tag ? 1 : 0; r == 0 && i < q->ntags; i++) {
		fprintf(sql, " AND i.id IN (SELECT image_id FROM image_tags WHERE tag = $%zu)", p->n + 1);
		r = param_add(p, COL_TEXT, q->tags[i], "tag");
	}
	if (r == 0 && q->marker) {
		/* keyset paging: rows strictly after the marker in sort order;
		 * the first key's bound, redundant with the OR chain, is what
		 * lets the index start at the marker instead of the first row */
		r = marker_values(s, c, q, sort, nsort, p, &mk);
		if (r < 0)
			goto done;
		fprintf(sql, " AND %s %s $%zu AND (", sort_expr(&sort[0], driver),
			sort[0].desc ? "<=" : ">=", mk);
		for (size_t i = 0; i < nsort; i++) {
			fprintf(sql, "%s(", i ? " OR " : "");
			for (size_t j = 0; j < i; j++)
				fprintf(sql, "%s = $%zu AND ", sort_expr(&sort[j], driver), mk + j);
			fprintf(sql, "%s %s $%zu)", sort_expr(&sort[i], driver),
				sort[i].desc ? "<" : ">", mk + i);
		}
		fputs(")", sql);
	}
	if (r < 0)
		goto done;
	fputs(" ORDER BY ", sql);
	for (size_t i = 0; i < nsort; i++)
		fprintf(sql, "%s%s %s", i ? ", " : "", sort_expr(&sort[i], driver),
			sort[i].desc ? "DESC" : "ASC");
	fprintf(sql, " LIMIT %zu", q->limit + 1);
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
static int load_children_many(struct pgs *s, struct conn *c, struct rain_image **list, size_t n)
{
	static const char *const heads[] = {
		"SELECT image_id, name, value FROM image_properties WHERE image_id IN (",
		"SELECT image_id, tag, NULL FROM image_tags WHERE image_id IN (",
	};
	_cleanup_free_ const char **ids = NULL;
	int r = 0;

	if (n == 0)
		return 0;
	ids = calloc(n, sizeof(*ids));
	if (!ids)
		return rain_error_oom();
	for (size_t i = 0; i < n; i++)
		ids[i] = list[i]->id;
	for (int k = 0; k < 2 && r == 0; k++) {
		_cleanup_free_ char *text = NULL;
		PGresult *res = NULL;
		size_t len;
		FILE *sql = open_memstream(&text, &len);

		if (!sql)
			return rain_error_oom();
		fputs(heads[k], sql);
		for (size_t i = 0; i < n; i++)
			fprintf(sql, "%s$%zu", i ? ", " : "", i + 1);
		fputs(k == 0 ? ") ORDER BY name" : ") ORDER BY tag", sql);
		fclose(sql);
		res = PQexecParams(c->pg, text, (int)n, NULL, ids, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			r = pg_error(s, c, res, "list properties and tags");
		for (int i = 0; r == 0 && i < PQntuples(res); i++) {
			struct rain_image *img = find_in(list, n, col_text(res, i, 0));
			const char *a = col_text(res, i, 1);

			if (!img)
				continue;
			r = k == 0 ? rain_image_prop_set(img, a, col_text(res, i, 2))
				   : rain_image_tag_add(img, a);
		}
		PQclear(res);
	}
	return r;
}

static int pgs_image_list(void *impl, const struct rain_image_query *q,
			  struct rain_image ***out, size_t *n, bool *more)
{
	struct params *p = calloc(1, sizeof(*p));
	_cleanup_free_ char *text = NULL;
	struct rain_image **list = NULL;
	PGresult *res = NULL;
	struct conn *c = NULL;
	size_t count = 0;
	int r;

	if (!p)
		return rain_error_oom();
	if (q->limit > 100000) {
		free(p);
		return rain_error_set(RAIN_EINVAL, "limit %zu is too large", q->limit);
	}
	r = conn_get(impl, &c);
	if (r < 0)
		goto done;
	r = read_begin(impl, c);
	if (r < 0)
		goto done;
	r = build_list_sql(impl, c, q, p, &text);
	if (r < 0)
		goto tx_end;
	res = PQexecParams(c->pg, text, (int)p->n, NULL, (const char *const *)p->v, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		r = pg_error(impl, c, res, "list");
		goto tx_end;
	}
	list = calloc(q->limit + 1, sizeof(*list));
	if (!list) {
		r = rain_error_oom();
		goto tx_end;
	}
	*more = (size_t)PQntuples(res) > q->limit;
	for (int i = 0; i < PQntuples(res) && count < q->limit; i++) {
		r = row_to_image(res, i, &list[count]);
		if (r < 0)
			goto tx_end;
		count++;
	}
	r = load_children_many(impl, c, list, count);
tx_end:
	PQclear(res);
	r = tx_end(impl, c, r);
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

/* ---- users and tokens ---- */

static void args_user(struct args *a, const struct rain_user *u)
{
	a_text(a, u->name);
	a_text(a, rain_user_role_name(u->role));
	a_text(a, rain_user_status_name(u->status));
	a_i64(a, u->quota_bytes);
	a_i64(a, u->quota_images);
	a_i64(a, u->created_at);
	a_num(a, u->last_login);
	a_text(a, u->password_hash);
}

static int row_to_user(const PGresult *res, int row, struct rain_user **out)
{
	struct rain_user *u = calloc(1, sizeof(*u));
	int r;

	if (!u)
		return rain_error_oom();
	if (rain_user_role_parse(col_text(res, row, 1), &u->role) < 0)
		u->role = RAIN_ROLE_USER;
	if (rain_user_status_parse(col_text(res, row, 2), &u->status) < 0)
		u->status = RAIN_USER_INACTIVE;
	u->quota_bytes = col_i64(res, row, 3);
	u->quota_images = col_i64(res, row, 4);
	u->created_at = col_i64(res, row, 5);
	u->last_login = col_num(res, row, 6);
	r = col_str(res, row, 0, &u->name);
	if (r == 0)
		r = col_str(res, row, 7, &u->password_hash);
	if (r < 0) {
		rain_user_free(u);
		return r;
	}
	*out = u;
	return 0;
}

static int pgs_user_create(void *impl, const struct rain_user *u)
{
	struct args a = { 0 }, k = { 0 };
	PGresult *res = NULL;
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	a_text(&k, u->name);
	r = tx_begin(impl, c);
	if (r == 0)
		r = run(impl, c, ST_USER_FOLDED, &k, &res, "create user");
	if (r == 0) {
		if (PQntuples(res) > 0) {
			const char *taken = col_text(res, 0, 0);

			r = strcmp(taken, u->name) ?
			    rain_error_set(RAIN_EEXISTS, "user %s exists already, as %s (names differing "
					   "only in case are one user)", u->name, taken) :
			    rain_error_set(RAIN_EEXISTS, "user %s exists already", u->name);
		}
		PQclear(res);
	}
	/* memberships left under this name are not the new user's */
	if (r == 0)
		r = run(impl, c, ST_USER_MEMBERSHIPS_DELETE, &k, NULL, "create user");
	if (r == 0) {
		args_user(&a, u);
		r = run(impl, c, ST_USER_INSERT, &a, NULL, "create user");
		if (r == RAIN_EEXISTS)   /* another raind created it meanwhile */
			rain_error_set(r, "user %s exists already", u->name);
	}
	r = tx_end(impl, c, r);
	conn_put(impl, c);
	return r;
}

static int pgs_user_get(void *impl, const char *name, struct rain_user **out)
{
	struct args a = { 0 };
	PGresult *res = NULL;
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	a_text(&a, name);
	r = run(impl, c, ST_USER_GET, &a, &res, "read user");
	if (r == 0) {
		r = PQntuples(res) > 0 ? row_to_user(res, 0, out) :
		    rain_error_set(RAIN_ENOTFOUND, "no user %s", name);
		PQclear(res);
	}
	conn_put(impl, c);
	return r;
}

static int pgs_user_list(void *impl, struct rain_user ***out, size_t *n)
{
	struct rain_user **list = NULL;
	size_t count = 0;
	PGresult *res = NULL;
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	r = run(impl, c, ST_USER_LIST, NULL, &res, "list users");
	conn_put(impl, c);
	if (r < 0)
		return r;
	list = calloc((size_t)PQntuples(res) + 1, sizeof(*list));
	if (!list)
		r = rain_error_oom();
	for (int i = 0; r == 0 && i < PQntuples(res); i++) {
		r = row_to_user(res, i, &list[count]);
		if (r == 0)
			count++;
	}
	PQclear(res);
	if (r < 0) {
		rain_user_list_free(list, count);
		return r;
	}
	*out = list;
	*n = count;
	return 0;
}

static int pgs_user_update(void *impl, const struct rain_user *u)
{
	struct args a = { 0 }, k = { 0 };
	int64_t changed = 0;
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	a_text(&a, u->name);
	a_text(&a, rain_user_role_name(u->role));
	a_text(&a, rain_user_status_name(u->status));
	a_i64(&a, u->quota_bytes);
	a_i64(&a, u->quota_images);
	a_num(&a, u->last_login);
	a_text(&a, u->password_hash);
	r = tx_begin(impl, c);
	if (r == 0) {
		r = run_count(impl, c, ST_USER_UPDATE, &a, &changed, "update user");
		if (r == 0 && changed == 0)
			r = rain_error_set(RAIN_ENOTFOUND, "no user %s", u->name);
	}
	/* a user who is not active has no valid token, and never again
	 * those issued before: reactivation does not revive them */
	if (r == 0 && u->status != RAIN_USER_ACTIVE) {
		a_text(&k, u->name);
		a_text(&k, NULL);
		r = run(impl, c, ST_TOKEN_REVOKE_USER, &k, NULL, "revoke the user's tokens");
	}
	r = tx_end(impl, c, r);
	conn_put(impl, c);
	return r;
}

static int pgs_user_delete(void *impl, const char *name)
{
	struct args k = { 0 };
	PGresult *res = NULL;
	int64_t images = 0, changed = 0;
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	a_text(&k, name);
	r = tx_begin(impl, c);
	/* the user's row first: image_create and member_add for this user
	 * hold it (FOR SHARE), so the count below sees theirs */
	if (r == 0)
		r = run(impl, c, ST_USER_LOCK, &k, NULL, "lock the user");
	if (r == 0)
		r = run(impl, c, ST_USER_IMAGES, &k, &res, "count the user's images");
	if (r == 0) {
		images = col_i64(res, 0, 0);
		PQclear(res);
	}
	/* a user of the same name made later must not inherit them */
	if (r == 0 && images > 0)
		r = rain_error_set(RAIN_ECONFLICT, "user %s owns %lld image%s: delete %s first, or make "
				   "the user inactive instead", name, (long long)images,
				   images == 1 ? "" : "s", images == 1 ? "it" : "them");
	if (r == 0)
		r = run(impl, c, ST_USER_MEMBERSHIPS_DELETE, &k, NULL, "delete the user's memberships");
	if (r == 0) {
		r = run_count(impl, c, ST_USER_DELETE, &k, &changed, "delete user");
		if (r == 0 && changed == 0)
			r = rain_error_set(RAIN_ENOTFOUND, "no user %s", name);
	}
	r = tx_end(impl, c, r);
	conn_put(impl, c);
	return r;
}

static int pgs_user_count(void *impl, int64_t *count)
{
	return run_int(impl, ST_USER_COUNT, NULL, count, "count users");
}

static int pgs_usage(void *impl, const char *owner, struct rain_usage *out)
{
	struct args a = { 0 };
	PGresult *res = NULL;
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	a_text(&a, owner);
	a_i64(&a, time_now_us());
	r = run(impl, c, ST_USAGE, &a, &res, "sum up usage");
	if (r == 0) {
		out->bytes = col_i64(res, 0, 0);
		out->images = col_i64(res, 0, 1);
		out->uploading = col_i64(res, 0, 2);
		PQclear(res);
	}
	conn_put(impl, c);
	return r;
}

/* ---- members of shared images ---- */

static void row_to_member(const PGresult *res, int row, struct rain_member *m)
{
	copy_col(res, row, 0, m->image_id, sizeof(m->image_id));
	copy_col(res, row, 1, m->member, sizeof(m->member));
	if (rain_member_status_parse(col_text(res, row, 2), &m->status) < 0)
		m->status = RAIN_MEMBER_PENDING;
	m->created_at = col_i64(res, row, 3);
	m->updated_at = col_i64(res, row, 4);
}

static int pgs_member_add(void *impl, const struct rain_member *m)
{
	struct args a = { 0 };
	int64_t changed = 0;
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	a_text(&a, m->image_id);
	a_text(&a, m->member);
	a_text(&a, rain_member_status_name(m->status));
	a_i64(&a, m->created_at);
	a_i64(&a, m->updated_at);
	r = run_count(impl, c, ST_MEMBER_ADD, &a, &changed, "add member");
	if (r == RAIN_EEXISTS)
		r = rain_error_set(r, "%s is already a member of image %s", m->member, m->image_id);
	else if (r == 0 && changed == 0)
		r = rain_error_set(RAIN_ENOTFOUND, "no user %s: an image is shared only with existing "
				   "users", m->member);
	conn_put(impl, c);
	return r;
}

static int pgs_member_set(void *impl, const struct rain_member *m)
{
	struct args a = { 0 };
	int64_t changed = 0;
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	a_text(&a, m->image_id);
	a_text(&a, m->member);
	a_text(&a, rain_member_status_name(m->status));
	a_i64(&a, m->updated_at);
	r = run_count(impl, c, ST_MEMBER_SET, &a, &changed, "update member");
	if (r == 0 && changed == 0)
		r = rain_error_set(RAIN_ENOTFOUND, "%s is not a member of image %s", m->member, m->image_id);
	conn_put(impl, c);
	return r;
}

static int pgs_member_delete(void *impl, const char *image_id, const char *member)
{
	struct args a = { 0 };
	int64_t changed = 0;
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	a_text(&a, image_id);
	a_text(&a, member);
	r = run_count(impl, c, ST_MEMBER_DELETE, &a, &changed, "delete member");
	if (r == 0 && changed == 0)
		r = rain_error_set(RAIN_ENOTFOUND, "%s is not a member of image %s", member, image_id);
	conn_put(impl, c);
	return r;
}

static int pgs_member_get(void *impl, const char *image_id, const char *member, struct rain_member *out)
{
	struct args a = { 0 };
	PGresult *res = NULL;
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	a_text(&a, image_id);
	a_text(&a, member);
	r = run(impl, c, ST_MEMBER_GET, &a, &res, "look up member");
	if (r == 0) {
		if (PQntuples(res) > 0)
			row_to_member(res, 0, out);
		else
			r = rain_error_set(RAIN_ENOTFOUND, "%s is not a member of image %s", member, image_id);
		PQclear(res);
	}
	conn_put(impl, c);
	return r;
}

/* Run id with a; each row into a new array of elements of size sz,
 * filled by row(), in *out (*n elements; NULL when none). */
static int collect_rows(struct pgs *s, enum stmt_id id, const struct args *a, size_t sz,
			void (*row)(const PGresult *res, int i, void *el), const char *what,
			void **out, size_t *n)
{
	PGresult *res = NULL;
	struct conn *c;
	void *v = NULL;
	int r = conn_get(s, &c);

	*out = NULL;
	*n = 0;
	if (r < 0)
		return r;
	r = run(s, c, id, a, &res, what);
	conn_put(s, c);
	if (r < 0)
		return r;
	if (PQntuples(res) > 0) {
		v = calloc((size_t)PQntuples(res), sz);
		if (!v)
			r = rain_error_oom();
		for (int i = 0; r == 0 && i < PQntuples(res); i++)
			row(res, i, (char *)v + (size_t)i * sz);
	}
	if (r == 0) {
		*out = v;
		*n = (size_t)PQntuples(res);
	}
	PQclear(res);
	return r;
}

static void member_row(const PGresult *res, int i, void *el)
{
	row_to_member(res, i, el);
}

static int pgs_member_list(void *impl, const char *image_id, struct rain_member **out, size_t *n)
{
	struct args a = { 0 };

	a_text(&a, image_id);
	return collect_rows(impl, ST_MEMBER_LIST, &a, sizeof(**out), member_row, "list members",
			    (void **)out, n);
}

/* ---- the audit log ---- */

static int pgs_audit_append(void *impl, struct rain_audit_entry *e)
{
	struct args a = { 0 };
	PGresult *res = NULL;
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	a_i64(&a, e->at);
	a_text(&a, e->actor);
	a_text(&a, e->address);
	a_text(&a, e->method);
	a_text(&a, e->path);
	a_text(&a, e->target);
	a_i64(&a, e->status);
	r = run(impl, c, ST_AUDIT_APPEND, &a, &res, "append to the audit log");
	if (r == 0) {
		e->id = col_i64(res, 0, 0);
		PQclear(res);
	}
	conn_put(impl, c);
	return r;
}

static void audit_row(const PGresult *res, int i, void *el)
{
	struct rain_audit_entry *e = el;

	e->id = col_i64(res, i, 0);
	e->at = col_i64(res, i, 1);
	copy_col(res, i, 2, e->actor, sizeof(e->actor));
	copy_col(res, i, 3, e->address, sizeof(e->address));
	copy_col(res, i, 4, e->method, sizeof(e->method));
	copy_col(res, i, 5, e->path, sizeof(e->path));
	copy_col(res, i, 6, e->target, sizeof(e->target));
	e->status = (int)col_i64(res, i, 7);
}

static int pgs_audit_query(void *impl, const struct rain_audit_query *q, struct rain_audit_entry **out,
			   size_t *n)
{
	struct args a = { 0 };

	a_i64(&a, q->since);
	a_text(&a, q->actor);
	a_text(&a, q->target);
	a_i64(&a, q->limit ? (int64_t)q->limit : 1000);
	a_text(&a, q->party);
	return collect_rows(impl, ST_AUDIT_QUERY, &a, sizeof(**out), audit_row, "query the audit log",
			    (void **)out, n);
}

/* ---- tokens and logins ---- */

/* A statement that changes rows, on a connection of its own. */
static int run_write(struct pgs *s, enum stmt_id id, const struct args *a, int64_t *changed,
		     const char *what)
{
	struct conn *c;
	int r = conn_get(s, &c);

	if (r < 0)
		return r;
	r = run_count(s, c, id, a, changed, what);
	conn_put(s, c);
	return r;
}

static int pgs_user_touch(void *impl, const char *name, int64_t now_us)
{
	struct args a = { 0 };

	a_text(&a, name);
	a_i64(&a, now_us);
	return run_write(impl, ST_USER_TOUCH, &a, NULL, "record login");
}

static int pgs_token_create(void *impl, const struct rain_token *t)
{
	struct args a = { 0 };
	int64_t changed = 0;
	int r;

	a_text(&a, t->hash);
	a_text(&a, t->user);
	a_i64(&a, t->issued_at);
	a_i64(&a, t->expires_at);
	r = run_write(impl, ST_TOKEN_INSERT, &a, &changed, "store token");
	if (r == 0 && changed == 0)
		r = rain_error_set(RAIN_ENOTFOUND, "no active user %s", t->user);
	return r;
}

/* No cache here (unlike SQLite's): another raind may revoke a token or
 * deactivate a user at any time, and the lookup is one indexed join. */
static int pgs_token_lookup(void *impl, const char *hash, struct rain_token *out)
{
	struct args a = { 0 };
	PGresult *res = NULL;
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	a_text(&a, hash);
	r = run(impl, c, ST_TOKEN_LOOKUP, &a, &res, "look up token");
	conn_put(impl, c);
	if (r < 0)
		return r;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return rain_error_set(RAIN_ENOTFOUND, "no such token");
	}
	copy_col(res, 0, 0, out->hash, sizeof(out->hash));
	copy_col(res, 0, 1, out->user, sizeof(out->user));
	out->issued_at = col_i64(res, 0, 2);
	out->expires_at = col_i64(res, 0, 3);
	out->revoked = col_i64(res, 0, 4) != 0;
	if (rain_user_role_parse(col_text(res, 0, 5), &out->role) < 0)
		out->role = RAIN_ROLE_USER;
	if (rain_user_status_parse(col_text(res, 0, 6), &out->status) < 0)
		out->status = RAIN_USER_INACTIVE;
	out->quota_bytes = col_i64(res, 0, 7);
	out->quota_images = col_i64(res, 0, 8);
	PQclear(res);
	return 0;
}

static int pgs_token_revoke(void *impl, const char *hash)
{
	struct args a = { 0 };
	int64_t changed = 0;
	int r;

	a_text(&a, hash);
	r = run_write(impl, ST_TOKEN_REVOKE, &a, &changed, "revoke token");
	if (r == 0 && changed == 0)
		r = rain_error_set(RAIN_ENOTFOUND, "no such token");
	return r;
}

static int pgs_token_revoke_user(void *impl, const char *user, const char *keep, int64_t *revoked)
{
	struct args a = { 0 };

	a_text(&a, user);
	a_text(&a, keep);
	return run_write(impl, ST_TOKEN_REVOKE_USER, &a, revoked, "revoke the user's tokens");
}

static int pgs_token_purge(void *impl, int64_t now_us, int64_t *removed)
{
	struct args a = { 0 };

	a_i64(&a, now_us);
	return run_write(impl, ST_TOKEN_PURGE, &a, removed, "purge tokens");
}

static void row_to_login(const PGresult *res, struct rain_login_failures *out)
{
	memset(out, 0, sizeof(*out));
	if (PQntuples(res) == 0)
		return;
	out->count = col_i64(res, 0, 0);
	out->first_at = col_i64(res, 0, 1);
	out->locked_until = col_i64(res, 0, 2);
}

static int pgs_login_get(void *impl, const char *name, struct rain_login_failures *out)
{
	struct args a = { 0 };
	PGresult *res = NULL;
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	a_text(&a, name);
	r = run(impl, c, ST_LOGIN_GET, &a, &res, "read failed logins");
	if (r == 0) {
		row_to_login(res, out);
		PQclear(res);
	}
	conn_put(impl, c);
	return r;
}

static int pgs_login_failed(void *impl, const char *name, int64_t now_us,
			    const struct rain_lockout_rule *rule, struct rain_login_failures *out,
			    bool *locks)
{
	struct args k = { 0 }, a = { 0 }, g = { 0 };
	PGresult *res = NULL;
	struct conn *c;
	int r = conn_get(impl, &c);

	*locks = false;
	if (r < 0)
		return r;
	a_text(&k, name);
	/* the name's row, held until commit: failures counted by several
	 * raind at once add up */
	r = tx_begin(impl, c);
	if (r == 0)
		r = run(impl, c, ST_LOGIN_ROW, &k, NULL, "count a failed login");
	if (r == 0)
		r = run(impl, c, ST_LOGIN_LOCK, &k, &res, "count a failed login");
	if (r == 0) {
		row_to_login(res, out);
		PQclear(res);
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
		a_text(&a, name);
		a_i64(&a, out->count);
		a_i64(&a, out->first_at);
		a_i64(&a, out->locked_until);
		r = run(impl, c, ST_LOGIN_PUT, &a, NULL, "count a failed login");
	}
	if (r == 0) {
		/* forget the names nobody tried for a window (bounded table) */
		a_i64(&g, now_us - rule->window_us);
		a_i64(&g, now_us);
		a_text(&g, name);
		r = run(impl, c, ST_LOGIN_PURGE, &g, NULL, "forget old failed logins");
	}
	r = tx_end(impl, c, r);
	conn_put(impl, c);
	return r;
}

static int pgs_login_clear(void *impl, const char *name)
{
	struct args a = { 0 };

	a_text(&a, name);
	return run_write(impl, ST_LOGIN_CLEAR, &a, NULL, "clear failed logins");
}

/* ---- charges ---- */

static int pgs_charge_set(void *impl, const struct rain_charge *ch)
{
	struct args a = { 0 };

	a_text(&a, ch->key);
	a_text(&a, ch->owner);
	a_i64(&a, ch->bytes);
	a_i64(&a, ch->expires_at);
	return run_write(impl, ST_CHARGE_SET, &a, NULL, "record a charge");
}

static int pgs_charge_delete(void *impl, const char *key)
{
	struct args a = { 0 };
	int64_t changed = 0;
	int r;

	a_text(&a, key);
	r = run_write(impl, ST_CHARGE_DELETE, &a, &changed, "delete a charge");
	if (r == 0 && changed == 0)
		r = rain_error_set(RAIN_ENOTFOUND, "no charge %s", key);
	return r;
}

static void charge_row(const PGresult *res, int i, void *el)
{
	struct rain_charge *ch = el;

	copy_col(res, i, 0, ch->key, sizeof(ch->key));
	copy_col(res, i, 1, ch->owner, sizeof(ch->owner));
	ch->bytes = col_i64(res, i, 2);
	ch->expires_at = col_i64(res, i, 3);
}

static int pgs_charge_list(void *impl, const char *prefix, struct rain_charge **out, size_t *n)
{
	struct args a = { 0 };

	a_text(&a, prefix);
	return collect_rows(impl, ST_CHARGE_LIST, &a, sizeof(**out), charge_row, "list charges",
			    (void **)out, n);
}

/* A statement of one integer row on c: *out. */
static int run_int_on(struct pgs *s, struct conn *c, enum stmt_id id, const struct args *a, int64_t *out,
		      const char *what)
{
	PGresult *res = NULL;
	int r = run(s, c, id, a, &res, what);

	if (r == 0) {
		*out = PQntuples(res) > 0 ? col_i64(res, 0, 0) : 0;
		PQclear(res);
	}
	return r;
}

static int pgs_charge_reserve(void *impl, const struct rain_charge *ch, int64_t quota, int64_t now_us,
			      int64_t *used)
{
	struct args k = { 0 }, u = { 0 }, a = { 0 };
	struct conn *c;
	int r = conn_get(impl, &c);

	*used = 0;
	if (r < 0)
		return r;
	a_text(&k, ch->owner);
	r = tx_begin(impl, c);
	if (r == 0)
		r = run(impl, c, ST_OWNER_XLOCK, &k, NULL, "lock the owner's usage");
	if (r == 0 && quota > 0) {
		a_text(&u, ch->owner);
		a_text(&u, ch->key);
		a_i64(&u, now_us);
		r = run_int_on(impl, c, ST_CHARGE_USED, &u, used, "sum up usage");
		/* at least one byte besides must be free, as for any upload */
		if (r == 0 && *used > quota - (ch->bytes > 0 ? ch->bytes : 1))
			r = rain_error_set(RAIN_ETOOBIG, "%s has %lld of %lld bytes", ch->owner,
					   (long long)*used, (long long)quota);
	}
	if (r == 0) {
		a_text(&a, ch->key);
		a_text(&a, ch->owner);
		a_i64(&a, ch->bytes);
		a_i64(&a, ch->expires_at);
		r = run(impl, c, ST_CHARGE_SET, &a, NULL, "record a charge");
	}
	r = tx_end(impl, c, r);
	conn_put(impl, c);
	return r;
}

static int pgs_blob_hold(void *impl, const char *hash, const char *holder, bool removal, int64_t now_us,
			 int64_t expires_at)
{
	struct args k = { 0 }, h = { 0 }, p = { 0 }, a = { 0 };
	int64_t refs = 0, held = 0;
	struct conn *c;
	int r = conn_get(impl, &c);

	if (r < 0)
		return r;
	a_text(&k, hash);
	r = tx_begin(impl, c);
	if (r == 0)
		r = run(impl, c, ST_HASH_XLOCK, &k, NULL, "lock the blob's holds");
	if (r == 0 && removal)
		r = run_int_on(impl, c, ST_BLOB_REFS, &k, &refs, "count blob references");
	if (r == 0) {
		a_text(&h, hash);
		a_text(&h, holder);
		a_i64(&h, now_us);
		a_i64(&h, removal ? 0 : 1);
		r = run_int_on(impl, c, ST_HOLD_COUNT, &h, &held, "count blob holds");
	}
	if (r == 0 && (refs || held))
		r = rain_error_set(RAIN_ECONFLICT, "blob %s is %s", hash,
				   refs ? "referenced" : removal ? "held by another server" :
				   "being removed by another server");
	if (r == 0) {
		a_i64(&p, now_us);
		r = run(impl, c, ST_HOLD_PURGE, &p, NULL, "drop lapsed blob holds");
	}
	if (r == 0) {
		a_text(&a, hash);
		a_text(&a, holder);
		a_i64(&a, removal ? 1 : 0);
		a_i64(&a, expires_at);
		r = run(impl, c, ST_HOLD_PUT, &a, NULL, "hold a blob");
	}
	r = tx_end(impl, c, r);
	conn_put(impl, c);
	return r;
}

static int pgs_blob_release(void *impl, const char *hash, const char *holder)
{
	struct args a = { 0 };

	a_text(&a, hash);
	a_text(&a, holder);
	return run_write(impl, ST_HOLD_DELETE, &a, NULL, "release a blob");
}

/* ---- registrations ---- */

static int pgs_reg_put(void *impl, const struct rain_registration *reg)
{
	struct args a = { 0 };

	a_text(&a, reg->id);
	a_text(&a, reg->image_id);
	a_text(&a, reg->site);
	a_text(&a, reg->owner);
	a_text(&a, reg->status);
	a_i64(&a, reg->created_at);
	a_i64(&a, reg->updated_at);
	a_text(&a, reg->doc ? reg->doc : "{}");
	return run_write(impl, ST_REG_PUT, &a, NULL, "record a registration");
}

/* A row of REG_COLUMNS; doc is a new string (NULL when out of memory:
 * the caller checks). */
static void reg_row(const PGresult *res, int i, void *el)
{
	struct rain_registration *reg = el;
	const char *doc = col_text(res, i, 7);

	copy_col(res, i, 0, reg->id, sizeof(reg->id));
	copy_col(res, i, 1, reg->image_id, sizeof(reg->image_id));
	copy_col(res, i, 2, reg->site, sizeof(reg->site));
	copy_col(res, i, 3, reg->owner, sizeof(reg->owner));
	copy_col(res, i, 4, reg->status, sizeof(reg->status));
	reg->created_at = col_i64(res, i, 5);
	reg->updated_at = col_i64(res, i, 6);
	reg->doc = strdup(doc ? doc : "{}");
}

static int pgs_reg_get(void *impl, const char *id, struct rain_registration *out)
{
	struct rain_registration *v = NULL;
	struct args a = { 0 };
	size_t n = 0;
	int r;

	memset(out, 0, sizeof(*out));
	a_text(&a, id);
	r = collect_rows(impl, ST_REG_GET, &a, sizeof(*v), reg_row, "read a registration",
			 (void **)&v, &n);
	if (r < 0)
		return r;
	if (n == 0)
		return rain_error_set(RAIN_ENOTFOUND, "no registration %s", id);
	*out = v[0];
	free(v);
	return out->doc ? 0 : rain_error_oom();
}

static int pgs_reg_list(void *impl, const struct rain_registration_query *q,
			struct rain_registration **out, size_t *n)
{
	struct args a = { 0 };
	int r;

	a_text(&a, q->owner);
	a_text(&a, q->site);
	a_text(&a, q->image_id);
	a_text(&a, q->status);
	if (q->limit)
		a_i64(&a, (int64_t)q->limit);
	else
		a_text(&a, NULL);
	r = collect_rows(impl, ST_REG_LIST, &a, sizeof(**out), reg_row, "list registrations",
			 (void **)out, n);
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

static int pgs_reg_delete(void *impl, const char *id)
{
	struct args a = { 0 };
	int64_t changed = 0;
	int r;

	a_text(&a, id);
	r = run_write(impl, ST_REG_DELETE, &a, &changed, "delete a registration");
	if (r == 0 && changed == 0)
		r = rain_error_set(RAIN_ENOTFOUND, "no registration %s", id);
	return r;
}

static const struct rain_catalog_registration_backend pgs_registrations = {
	.version = RAIN_CATALOG_REGISTRATION_BACKEND_VERSION,
	.put = pgs_reg_put,
	.get = pgs_reg_get,
	.list = pgs_reg_list,
	.remove = pgs_reg_delete,
};

static const struct rain_catalog_image_backend pgs_images = {
	.version = RAIN_CATALOG_IMAGE_BACKEND_VERSION,
	.image_create = pgs_image_create,
	.image_get = pgs_image_get,
	.image_update = pgs_image_update,
	.image_delete = pgs_image_delete,
	.image_touch = pgs_image_touch,
	.image_list = pgs_image_list,
	.blob_refs = pgs_blob_refs,
	.reset_status = pgs_reset_status,
	.usage = pgs_usage,
	.member_add = pgs_member_add,
	.member_get = pgs_member_get,
	.member_set = pgs_member_set,
	.member_list = pgs_member_list,
	.member_delete = pgs_member_delete,
	.charge_set = pgs_charge_set,
	.charge_delete = pgs_charge_delete,
	.charge_list = pgs_charge_list,
	.charge_reserve = pgs_charge_reserve,
	.blob_hold = pgs_blob_hold,
	.blob_release = pgs_blob_release,
};

static const struct rain_catalog_identity_backend pgs_identity = {
	.version = RAIN_CATALOG_IDENTITY_BACKEND_VERSION,
	.user_create = pgs_user_create,
	.user_get = pgs_user_get,
	.user_list = pgs_user_list,
	.user_update = pgs_user_update,
	.user_delete = pgs_user_delete,
	.user_count = pgs_user_count,
	.user_touch = pgs_user_touch,
	.token_create = pgs_token_create,
	.token_lookup = pgs_token_lookup,
	.token_revoke = pgs_token_revoke,
	.token_revoke_user = pgs_token_revoke_user,
	.token_purge = pgs_token_purge,
	.login_get = pgs_login_get,
	.login_failed = pgs_login_failed,
	.login_clear = pgs_login_clear,
};

static const struct rain_catalog_audit_backend pgs_audit = {
	.version = RAIN_CATALOG_AUDIT_BACKEND_VERSION,
	.audit_append = pgs_audit_append,
	.audit_query = pgs_audit_query,
};

/* All four over one database (struct pgs): transactions span them. */
const struct rain_catalog_driver rain_catalog_pg = {
	.version = RAIN_CATALOG_DRIVER_VERSION,
	.name = "postgresql",
	.open = pgs_open,
	.close = pgs_close,
	.images = &pgs_images,
	.identity = &pgs_identity,
	.audit = &pgs_audit,
	.registrations = &pgs_registrations,
};
