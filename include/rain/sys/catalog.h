/* The tables a catalog backend implements (see rain/catalog.h for the
 * user API, its records and contracts). For backend authors only:
 * programs open a catalog by URI with rain_catalog_open(), whose scheme
 * picks the driver (rain/sys/registry.h, kind "catalog").
 *
 * A catalog driver opens one store and serves three tables over it: image
 * records with their members and the charges counted in usage, identity
 * (users, tokens, failed logins) and the audit log. The tables share the
 * store because some writes span them in one transaction (deleting a user
 * drops its memberships; adding a member checks the user). Every method
 * gets the impl that open made. Each table has its own version; methods
 * marked optional may be NULL, the others are required.
 */
#ifndef RAIN_SYS_CATALOG_H
#define RAIN_SYS_CATALOG_H

#include "rain/catalog.h"

#define RAIN_CATALOG_DRIVER_VERSION 2
#define RAIN_CATALOG_IMAGE_BACKEND_VERSION 2
#define RAIN_CATALOG_IDENTITY_BACKEND_VERSION 1
#define RAIN_CATALOG_AUDIT_BACKEND_VERSION 1
#define RAIN_CATALOG_REGISTRATION_BACKEND_VERSION 1

/* Images, their members, and the charges an owner's usage counts. */
struct rain_catalog_image_backend {
	unsigned int version;   /* RAIN_CATALOG_IMAGE_BACKEND_VERSION */
	/* RAIN_EEXISTS when the id is taken. */
	int (*image_create)(void *impl, const struct rain_image *img);
	/* RAIN_ENOTFOUND when absent (deleted images are absent). */
	int (*image_get)(void *impl, const char *id, struct rain_image **out);
	/* Replace every stored field, tag and property of img->id, provided
	 * the stored revision equals img->revision; then the stored revision
	 * is img->revision + 1. RAIN_ECONFLICT when someone else wrote first,
	 * RAIN_ENOTFOUND when the image is gone. Access statistics are kept. */
	int (*image_update)(void *impl, const struct rain_image *img);
	/* Delete the record if its revision still matches (as above). */
	int (*image_delete)(void *impl, const struct rain_image *img);
	/* Record one download: download_count + 1, last_access = now_us.
	 * Optional (NULL): downloads are not counted. */
	int (*image_touch)(void *impl, const char *id, int64_t now_us);
	/* Up to q->limit images; *more tells whether a further page exists.
	 * RAIN_EINVAL for an unknown sort key, a bad filter value or an
	 * unknown marker (Glance answers 400 for all three). A marker that
	 * q->requester may not see (rain/policy.h: not an admin, not the
	 * owner, not public or community, not a member of a shared image) is
	 * unknown, with the same message: listing is no oracle. */
	int (*image_list)(void *impl, const struct rain_image_query *q,
			  struct rain_image ***out, size_t *n, bool *more);
	/* How many images reference blob `hash` (by os_hash_value). */
	int (*blob_refs)(void *impl, const char *hash, int64_t *count);
	/* Every image left in `from` (say, saving after a crash) goes to `to`. */
	int (*reset_status)(void *impl, enum rain_image_status from,
			    enum rain_image_status to, int64_t *changed);
	/* What owner's images take (rain_usage). */
	int (*usage)(void *impl, const char *owner, struct rain_usage *out);

	/* Members of shared images (Glance's image members). member_add:
	 * RAIN_EEXISTS when already one, RAIN_ENOTFOUND when no user has the
	 * name m->member (checked in the same transaction); member_get/_set/_delete:
	 * RAIN_ENOTFOUND when not; member_list: *out a new array. */
	int (*member_add)(void *impl, const struct rain_member *m);
	int (*member_get)(void *impl, const char *image_id, const char *member, struct rain_member *out);
	int (*member_set)(void *impl, const struct rain_member *m);
	int (*member_list)(void *impl, const char *image_id, struct rain_member **out, size_t *n);
	int (*member_delete)(void *impl, const char *image_id, const char *member);

	/* Charges (struct rain_charge), by key. charge_set creates or
	 * replaces one; charge_delete: RAIN_ENOTFOUND when absent;
	 * charge_list: those whose key starts with prefix, as a new array. */
	int (*charge_set)(void *impl, const struct rain_charge *ch);
	int (*charge_delete)(void *impl, const char *key);
	int (*charge_list)(void *impl, const char *prefix, struct rain_charge **out, size_t *n);
	/* rain_catalog_charge_reserve (rain/catalog.h): check and write in
	 * one transaction, serialized per owner across processes; charges
	 * past their expires_at (now_us) do not count. */
	int (*charge_reserve)(void *impl, const struct rain_charge *ch, int64_t quota, int64_t now_us,
			      int64_t *used);
	/* rain_catalog_blob_hold and _release, serialized per hash across
	 * processes; holds past now_us do not count (and may be dropped). */
	int (*blob_hold)(void *impl, const char *hash, const char *holder, bool removal, int64_t now_us,
			 int64_t expires_at);
	int (*blob_release)(void *impl, const char *hash, const char *holder);
};

/* Users, their tokens and the failed logins of names. */
struct rain_catalog_identity_backend {
	unsigned int version;   /* RAIN_CATALOG_IDENTITY_BACKEND_VERSION */
	/* Users. RAIN_EEXISTS when the name is taken, also by a name that
	 * differs only in case (ASCII). Any membership of shared images left
	 * under this name goes, in the same transaction. */
	int (*user_create)(void *impl, const struct rain_user *u);
	/* RAIN_ENOTFOUND when absent. */
	int (*user_get)(void *impl, const char *name, struct rain_user **out);
	/* Every user by name. */
	int (*user_list)(void *impl, struct rain_user ***out, size_t *n);
	/* Replace role, status, quotas, last_login and password_hash of
	 * u->name. RAIN_ENOTFOUND when absent. A status other than active
	 * revokes every token of the user in the same transaction, for good:
	 * reactivating the user does not revive them. */
	int (*user_update)(void *impl, const struct rain_user *u);
	/* Delete the user, its tokens and its memberships of shared images,
	 * in one transaction. RAIN_ENOTFOUND when absent; RAIN_ECONFLICT
	 * while the user owns images (names are ids: a later user of the same
	 * name would own them). */
	int (*user_delete)(void *impl, const char *name);
	int (*user_count)(void *impl, int64_t *count);
	/* Record a login: last_login = now_us. Optional (NULL): not recorded. */
	int (*user_touch)(void *impl, const char *name, int64_t now_us);

	/* Tokens, by hash. token_create: RAIN_EEXISTS for a hash in use,
	 * RAIN_ENOTFOUND for an unknown user or one who is not active (in
	 * the same statement, so no token outlives a deactivation). */
	int (*token_create)(void *impl, const struct rain_token *t);
	/* One indexed lookup; RAIN_ENOTFOUND when no token has this hash
	 * (revoked and expired ones are returned: the caller judges). */
	int (*token_lookup)(void *impl, const char *hash, struct rain_token *out);
	/* Mark revoked; RAIN_ENOTFOUND when absent. */
	int (*token_revoke)(void *impl, const char *hash);
	/* Mark every token of user revoked but the one whose hash is keep
	 * (NULL: all); *revoked (may be NULL) how many were. */
	int (*token_revoke_user)(void *impl, const char *user, const char *keep, int64_t *revoked);
	/* Delete tokens that expired before now_us. Optional (NULL): for a
	 * store that drops them by itself; then none are counted removed. */
	int (*token_purge)(void *impl, int64_t now_us, int64_t *removed);

	/* Failed logins per name (any name, user or not). login_get: zeros
	 * when none are counted. login_failed, in one transaction: a count
	 * older than rule->window_us starts over; the rule->limit-th failure
	 * within the window locks the name until now_us + rule->lock_us
	 * (*locks: this failure did it) and starts the count over; *out is
	 * the state afterwards. Names out of their window and lock are
	 * forgotten. login_clear: forget name (a successful login). */
	int (*login_get)(void *impl, const char *name, struct rain_login_failures *out);
	int (*login_failed)(void *impl, const char *name, int64_t now_us,
			    const struct rain_lockout_rule *rule, struct rain_login_failures *out,
			    bool *locks);
	int (*login_clear)(void *impl, const char *name);
};

/* The append-only audit log. */
struct rain_catalog_audit_backend {
	unsigned int version;   /* RAIN_CATALOG_AUDIT_BACKEND_VERSION */
	/* The append-only audit log: append one entry (its id is set);
	 * query entries matching q, oldest first, as a new array. */
	int (*audit_append)(void *impl, struct rain_audit_entry *e);
	int (*audit_query)(void *impl, const struct rain_audit_query *q, struct rain_audit_entry **out,
			   size_t *n);
};

/* Registrations of images at sites (rain_catalog_registration_* in
 * rain/catalog.h say what each does). */
struct rain_catalog_registration_backend {
	unsigned int version;   /* RAIN_CATALOG_REGISTRATION_BACKEND_VERSION */
	int (*put)(void *impl, const struct rain_registration *reg);
	int (*get)(void *impl, const char *id, struct rain_registration *out);
	int (*list)(void *impl, const struct rain_registration_query *q,
		    struct rain_registration **out, size_t *n);
	int (*remove)(void *impl, const char *id);
};

/* A catalog driver: open and close its store, and its tables. */
struct rain_catalog_driver {
	unsigned int version;   /* RAIN_CATALOG_DRIVER_VERSION */
	const char *name;
	/* Open the catalog at location (a path for SQLite); create it empty
	 * on first use; run schema migrations. */
	int (*open)(const char *location, void **impl);
	void (*close)(void *impl);
	const struct rain_catalog_image_backend *images;
	const struct rain_catalog_identity_backend *identity;
	const struct rain_catalog_audit_backend *audit;
	/* NULL: the catalog keeps no registrations (version 2) */
	const struct rain_catalog_registration_backend *registrations;
};

/* The SQLite driver (catalog-sqlite.c), scheme "sqlite": all four tables
 * over one database file. */
extern const struct rain_catalog_driver rain_catalog_sqlite;

/* The PostgreSQL driver (catalog-pg.c, libpq), scheme "postgresql": the
 * same four tables in one database that several raind may share;
 * location is the rest of a libpq URI (postgresql://[USER@]HOST[:PORT]/DB,
 * postgresql:///DB?host=SOCKETDIR). */
extern const struct rain_catalog_driver rain_catalog_pg;

#endif
