/* The catalog: where image records live.
 *
 * struct rain_catalog is a backend-neutral handle. A backend is a driver
 * picked by the URI's scheme (rain/sys/registry.h) with three tables of
 * function pointers, for images, identity and audit (rain/sys/catalog.h);
 * SQLite is the first one. Nothing above this interface knows which
 * backend is in use.
 *
 * All functions are safe to call from many threads at once.  Every write
 * is one transaction: either all of it is durable or none of it is.
 * Records handed out are new copies owned by the caller
 * (rain_image_free / rain_catalog_list_free).
 */
#ifndef RAIN_CATALOG_H
#define RAIN_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rain/image.h"

/* Comparison operators of list filters (Glance's "gte:2024-01-01" form). */
enum rain_query_op {
	RAIN_OP_EQ,
	RAIN_OP_NEQ,
	RAIN_OP_GT,
	RAIN_OP_GTE,
	RAIN_OP_LT,
	RAIN_OP_LTE,
	RAIN_OP_IN,     /* value is a comma-separated list */
};

/* One filter term: attr is a core attribute (name, status, visibility,
 * owner, disk_format, container_format, protected, os_hidden, size,
 * virtual_size, min_disk, min_ram, created_at, updated_at, id, checksum,
 * os_hash_value) or else a property name. Times are ISO 8601 strings,
 * booleans "true"/"false". */
struct rain_query_term {
	const char *attr;
	enum rain_query_op op;
	const char *value;
};

/* Sort keys Glance accepts; rain_catalog_sort_key_valid() tells. */
struct rain_sort {
	const char *key;
	bool desc;
};

#define RAIN_QUERY_MAX_TERMS 32
#define RAIN_QUERY_MAX_SORT 8

struct rain_image_query {
	struct rain_query_term terms[RAIN_QUERY_MAX_TERMS];
	size_t nterms;
	const char *tags[RAIN_QUERY_MAX_TERMS];  /* an image must carry all */
	size_t ntags;
	struct rain_sort sort[RAIN_QUERY_MAX_SORT]; /* id is always appended */
	size_t nsort;                               /* 0: created_at desc */
	const char *marker;     /* list images after this id, or NULL */
	size_t limit;           /* at most this many (> 0) */
	/* visibility scope (rain/policy.h): unless requester_admin, only
	 * requester's own images and public and community ones; when
	 * include_community is false, community images not owned by
	 * `requester` are left out (Glance's default). */
	const char *requester;
	/* shared images of others: those where requester's membership has
	 * this status (pending, accepted, rejected, or "all"); NULL: accepted,
	 * as Glance's member_status */
	const char *member_status;
	bool requester_admin;
	bool include_community;
	bool include_hidden;    /* os_hidden images too */
};

/* A user of the repository. A new name is folded to lower case and then
 * must be 1 to RAIN_USER_NAME_MAX of a-z 0-9 . _ - starting with a letter
 * or a digit (rain_user_name_normalize); names that differ only in case
 * are one user. Catalogs made before this rule may hold other names (1 to
 * RAIN_USER_NAME_MAX printable bytes without '/', rain_user_name_valid):
 * those users can still log in and be deleted under their exact name, but
 * no new one is made. Times are microseconds since the epoch; last_login
 * is -1 before the first login. quota_images 0 means no limit on the
 * number of images. */
#define RAIN_USER_NAME_MAX 64
#define RAIN_USER_QUOTA_BYTES_DEFAULT (8LL << 30)   /* 8 GiB, as FutureGrid */

enum rain_user_role { RAIN_ROLE_USER, RAIN_ROLE_ADMIN };
enum rain_user_status { RAIN_USER_PENDING, RAIN_USER_ACTIVE, RAIN_USER_INACTIVE };

struct rain_user {
	char *name;
	enum rain_user_role role;
	enum rain_user_status status;
	int64_t quota_bytes;
	int64_t quota_images;
	int64_t created_at;
	int64_t last_login;
	char *password_hash;    /* Argon2id encoded (rain/auth.h); NULL: none */
};

/* A stored token, as the per-request lookup returns it: fixed buffers, no
 * allocation. The role and status are the user's, read in the same
 * lookup. */
struct rain_token {
	char hash[65];          /* hex SHA-256 of the token (rain/auth.h) */
	char user[RAIN_USER_NAME_MAX + 1];
	int64_t issued_at;
	int64_t expires_at;
	bool revoked;
	enum rain_user_role role;
	enum rain_user_status status;
	int64_t quota_bytes;    /* the user's (0: no limit) */
	int64_t quota_images;
};

/* An owner's use of the repository: bytes of data of its active and
 * deactivated images plus its charges (below) but those of uploads in
 * flight (rain_catalog_charge_reserve counts those too), its images (all but
 * deleted ones), and how many of them are being uploaded. */
struct rain_usage {
	int64_t bytes;
	int64_t images;
	int64_t uploading;
};

/* Bytes an owner stores outside images (the files and folder of a build,
 * key "build/ID") or holds for an upload in flight (key "upload/ID", with
 * a lease: expires_at), counted in its usage and quota like image data.
 * A charge past its expires_at counts no more: what a server that died
 * held comes back by itself. */
#define RAIN_CHARGE_KEY_MAX 64
struct rain_charge {
	char key[RAIN_CHARGE_KEY_MAX + 1];
	char owner[RAIN_USER_NAME_MAX + 1];
	int64_t bytes;
	int64_t expires_at;     /* microseconds since the epoch; 0: never */
};

/* A registration of an image at a site (rain/target.h): who registered
 * what where, and how it went. The fields a list filters on are columns;
 * the rest (remote ids, hashes, the vetting verdict, the error) is doc, a
 * JSON object as text. */
#define RAIN_SITE_NAME_MAX 63
struct rain_registration {
	char id[37];
	char image_id[37];
	char site[RAIN_SITE_NAME_MAX + 1];
	char owner[RAIN_USER_NAME_MAX + 1];
	char status[16];        /* registering, registered, failed, removing, removed */
	int64_t created_at;     /* microseconds since the epoch */
	int64_t updated_at;
	char *doc;              /* owned */
};

/* Registrations to list: each field NULL or what the records must have;
 * newest first, at most limit (0: all). */
struct rain_registration_query {
	const char *owner;
	const char *site;
	const char *image_id;
	const char *status;
	size_t limit;
};

/* A member of a shared image: who it is shared with, and their answer. */
enum rain_member_status { RAIN_MEMBER_PENDING, RAIN_MEMBER_ACCEPTED, RAIN_MEMBER_REJECTED };

struct rain_member {
	char image_id[37];
	char member[RAIN_USER_NAME_MAX + 1];
	enum rain_member_status status;
	int64_t created_at, updated_at;
};

const char *rain_member_status_name(enum rain_member_status s);
int rain_member_status_parse(const char *s, enum rain_member_status *out);

/* One change made through raind: who (a user name, "admin" for the
 * service token, "" when unauthenticated), from where, the request and
 * its outcome. Entries are never changed or removed. */
struct rain_audit_entry {
	int64_t id;
	int64_t at;             /* microseconds since the epoch */
	char actor[RAIN_USER_NAME_MAX + 1];
	char address[64];
	char method[16];
	char path[512];
	char target[128];       /* the image id or user name the path names */
	int status;
};

struct rain_audit_query {
	int64_t since;          /* entries at or after (0: all) */
	const char *actor;      /* NULL: anyone */
	const char *target;     /* NULL: anything */
	const char *party;      /* NULL, or actor or target: what a user did
				   and what was done to them */
	size_t limit;           /* at most (0: 1000), the newest ones */
};

/* The failed logins of one name (see login_failed below); times in us. */
struct rain_login_failures {
	int64_t count;          /* failures since first_at */
	int64_t first_at;
	int64_t locked_until;   /* 0 or a past time: not locked */
};

struct rain_lockout_rule {
	int64_t limit;          /* failures within window_us that lock */
	int64_t window_us;
	int64_t lock_us;        /* for how long */
};

struct rain_catalog;

/* Open a catalog by URI: "sqlite:PATH" or a bare path (SQLite), or a
 * libpq URI "postgresql://[USER@]HOST[:PORT]/DB[?host=SOCKETDIR&...]"
 * (PostgreSQL; the database must exist, its tables are created).
 * RAIN_EINVAL naming the known schemes for an unknown one. */
int rain_catalog_open(struct rain_catalog **out, const char *uri);
void rain_catalog_close(struct rain_catalog *cat);

int rain_catalog_image_create(struct rain_catalog *cat, const struct rain_image *img);
int rain_catalog_image_get(struct rain_catalog *cat, const char *id, struct rain_image **out);
int rain_catalog_image_update(struct rain_catalog *cat, const struct rain_image *img);
int rain_catalog_image_delete(struct rain_catalog *cat, const struct rain_image *img);
int rain_catalog_image_touch(struct rain_catalog *cat, const char *id, int64_t now_us);
int rain_catalog_image_list(struct rain_catalog *cat, const struct rain_image_query *q,
			    struct rain_image ***out, size_t *n, bool *more);
void rain_catalog_list_free(struct rain_image **images, size_t n);
/* How many images refer to blob hash: by their data (os_hash_value) or by
 * their vetting report (the property rain_vetting_report, rain/repo.h). */
int rain_catalog_blob_refs(struct rain_catalog *cat, const char *hash, int64_t *count);
int rain_catalog_reset_status(struct rain_catalog *cat, enum rain_image_status from,
			      enum rain_image_status to, int64_t *changed);

int rain_catalog_user_create(struct rain_catalog *cat, const struct rain_user *u);
int rain_catalog_user_get(struct rain_catalog *cat, const char *name, struct rain_user **out);
int rain_catalog_user_list(struct rain_catalog *cat, struct rain_user ***out, size_t *n);
int rain_catalog_user_update(struct rain_catalog *cat, const struct rain_user *u);
int rain_catalog_user_delete(struct rain_catalog *cat, const char *name);
int rain_catalog_user_count(struct rain_catalog *cat, int64_t *count);
int rain_catalog_usage(struct rain_catalog *cat, const char *owner, struct rain_usage *out);
int rain_catalog_member_add(struct rain_catalog *cat, const struct rain_member *m);
int rain_catalog_member_get(struct rain_catalog *cat, const char *image_id, const char *member,
			    struct rain_member *out);
int rain_catalog_member_set(struct rain_catalog *cat, const struct rain_member *m);
int rain_catalog_member_list(struct rain_catalog *cat, const char *image_id, struct rain_member **out,
			     size_t *n);
int rain_catalog_member_delete(struct rain_catalog *cat, const char *image_id, const char *member);
int rain_catalog_audit_append(struct rain_catalog *cat, struct rain_audit_entry *e);
int rain_catalog_audit_query(struct rain_catalog *cat, const struct rain_audit_query *q,
			     struct rain_audit_entry **out, size_t *n);
int rain_catalog_user_touch(struct rain_catalog *cat, const char *name, int64_t now_us);
void rain_user_free(struct rain_user *u);
void rain_user_list_free(struct rain_user **users, size_t n);
/* Find a user by a name as a client gave it: the exact name first (so
 * that users of older catalogs with names outside the rule stay
 * reachable), else the name as rain_user_name_normalize makes it.
 * RAIN_ENOTFOUND when neither is a user; (*out)->name is the stored name. */
int rain_catalog_user_find(struct rain_catalog *cat, const char *name, struct rain_user **out);
/* The one rule for new user names: name folded to lower case (ASCII) into
 * out (RAIN_USER_NAME_MAX + 1 bytes), which must then be 1 to
 * RAIN_USER_NAME_MAX of [a-z0-9._-], the first a letter or a digit (so
 * not ".", "..", nor with spaces, '/', '@' or non-ASCII letters).
 * RAIN_EINVAL with a message that says the rule otherwise (out is then
 * ""). */
int rain_user_name_normalize(const char *name, char *out, size_t outlen);
/* Whether name could be a user's in any catalog, older ones included: 1 to
 * RAIN_USER_NAME_MAX printable bytes, no '/'. Every name passing
 * rain_user_name_normalize passes this too. */
bool rain_user_name_valid(const char *name);
/* "user"/"admin", "pending"/"active"/"inactive"; parse: 0 or RAIN_EINVAL. */
const char *rain_user_role_name(enum rain_user_role r);
const char *rain_user_status_name(enum rain_user_status s);
int rain_user_role_parse(const char *s, enum rain_user_role *out);
int rain_user_status_parse(const char *s, enum rain_user_status *out);

int rain_catalog_token_create(struct rain_catalog *cat, const struct rain_token *t);
int rain_catalog_token_lookup(struct rain_catalog *cat, const char *hash, struct rain_token *out);
int rain_catalog_token_revoke(struct rain_catalog *cat, const char *hash);
int rain_catalog_token_revoke_user(struct rain_catalog *cat, const char *user, const char *keep,
				   int64_t *revoked);
int rain_catalog_token_purge(struct rain_catalog *cat, int64_t now_us, int64_t *removed);
int rain_catalog_login_get(struct rain_catalog *cat, const char *name, struct rain_login_failures *out);
int rain_catalog_login_failed(struct rain_catalog *cat, const char *name, int64_t now_us,
			      const struct rain_lockout_rule *rule, struct rain_login_failures *out,
			      bool *locks);
int rain_catalog_login_clear(struct rain_catalog *cat, const char *name);
int rain_catalog_charge_set(struct rain_catalog *cat, const struct rain_charge *ch);
int rain_catalog_charge_delete(struct rain_catalog *cat, const char *key);
int rain_catalog_charge_list(struct rain_catalog *cat, const char *prefix, struct rain_charge **out,
			     size_t *n);
/* Set charge ch (create or replace) provided that its owner's usage
 * without this key's present charge, plus ch->bytes, stays within quota
 * (bytes; 0: no limit): the check and the write are one step for every
 * raind sharing the catalog. RAIN_ETOOBIG when it would not fit, with
 * *used (may be NULL) the bytes counted. */
int rain_catalog_charge_reserve(struct rain_catalog *cat, const struct rain_charge *ch, int64_t quota,
				int64_t *used);

/* Holds on blobs, shared by the raind of one catalog, so that a blob is
 * never removed while another server publishes an image of it: an
 * upload holds its hash (removal false) from before the blob is published
 * until the image refers to it; a removal holds it (removal true) from
 * before the blob is removed until it is gone. Each hold is holder's
 * (a server's instance id) until expires_at (microseconds), when it
 * lapses. rain_catalog_blob_hold: RAIN_ECONFLICT when, for an upload,
 * someone else's removal holds the hash (wait and try again: the removal
 * ends soon), or, for a removal, an image or report refers to the hash
 * or someone else holds it. rain_catalog_blob_release: drop holder's
 * hold (none is fine). */
int rain_catalog_blob_hold(struct rain_catalog *cat, const char *hash, const char *holder,
			   bool removal, int64_t expires_at);
int rain_catalog_blob_release(struct rain_catalog *cat, const char *hash, const char *holder);

/* Registrations (struct rain_registration): put creates or replaces the
 * record of reg->id; get: RAIN_ENOTFOUND when absent (out->doc is new);
 * list: a new array (rain_registration_list_free); delete: RAIN_ENOTFOUND
 * when absent. RAIN_EINVAL when the catalog's backend keeps none. */
int rain_catalog_registration_put(struct rain_catalog *cat, const struct rain_registration *reg);
int rain_catalog_registration_get(struct rain_catalog *cat, const char *id,
				  struct rain_registration *out);
int rain_catalog_registration_list(struct rain_catalog *cat, const struct rain_registration_query *q,
				   struct rain_registration **out, size_t *n);
int rain_catalog_registration_delete(struct rain_catalog *cat, const char *id);
void rain_registration_list_free(struct rain_registration *v, size_t n);

/* Copy the SQLite catalog src ("sqlite:PATH" or a path; brought to the
 * current schema first) into the PostgreSQL catalog dst ("postgresql:..."
 * URI; its tables created if need be): every row of every table, the
 * audit log's ids kept, in one transaction on dst that commits only when
 * each table has the source's row count and values (compared row by row
 * in key order). RAIN_EEXISTS when dst holds rows, unless replace (then
 * they go first, in the same transaction); RAIN_ENOTFOUND when src does
 * not exist; RAIN_EINVAL for other kinds of URI. counts: room for
 * RAIN_CATALOG_TABLES; on success *ncounts of them say how many rows each
 * table got (table names are static). rain-admin migrate runs it. */
#define RAIN_CATALOG_TABLES 10

struct rain_catalog_migrate_count {
	const char *table;
	int64_t rows;
};

int rain_catalog_migrate(const char *src, const char *dst, bool replace,
			 struct rain_catalog_migrate_count *counts, size_t *ncounts);

/* The sort keys accepted by image_list, and the attributes filterable as
 * core columns (anything else filters on properties). */
bool rain_catalog_sort_key_valid(const char *key);
bool rain_catalog_attr_is_column(const char *attr);

#endif
