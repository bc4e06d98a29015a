#include <stdlib.h>
#include <string.h>

#include "rain/catalog.h"
#include "rain/error.h"
#include "rain/sys/catalog.h"
#include "rain/sys/registry.h"
#include "util/strutil.h"
#include "util/timeutil.h"

struct rain_catalog {
	const struct rain_catalog_driver *driver;
	const struct rain_catalog_image_backend *images;
	const struct rain_catalog_identity_backend *identity;
	const struct rain_catalog_audit_backend *audit;
	const struct rain_catalog_registration_backend *registrations;
	void *impl;
};

static const char *const sort_keys[] = {
	"name", "status", "container_format", "disk_format", "size", "id",
	"created_at", "updated_at", "visibility", "owner", "min_disk",
	"min_ram", "virtual_size", "os_hidden", NULL
};

static const char *const column_attrs[] = {
	"id", "name", "status", "visibility", "owner", "disk_format",
	"container_format", "protected", "os_hidden", "size", "virtual_size",
	"min_disk", "min_ram", "created_at", "updated_at", "checksum",
	"os_hash_value", NULL
};

bool rain_catalog_sort_key_valid(const char *key)
{
	return str_in_list(sort_keys, key);
}

bool rain_catalog_attr_is_column(const char *attr)
{
	return str_in_list(column_attrs, attr);
}

static const struct rain_driver sqlite_driver = { "catalog", "sqlite", "sqlite:PATH", &rain_catalog_sqlite };
static const struct rain_driver pg_driver = { "catalog", "postgresql",
					      "postgresql://[USER@]HOST[:PORT]/DB", &rain_catalog_pg };
static const struct rain_driver *const builtin[] = { &sqlite_driver, &pg_driver, NULL };

/* Whether drv's tables are there (registrations may not be) and of this
 * librain's versions. */
static int check_tables(const struct rain_catalog_driver *drv)
{
	const char *bad = !drv->images || drv->images->version != RAIN_CATALOG_IMAGE_BACKEND_VERSION ?
			  "image" :
			  !drv->identity || drv->identity->version != RAIN_CATALOG_IDENTITY_BACKEND_VERSION ?
			  "identity" :
			  !drv->audit || drv->audit->version != RAIN_CATALOG_AUDIT_BACKEND_VERSION ?
			  "audit" :
			  drv->registrations &&
			  drv->registrations->version != RAIN_CATALOG_REGISTRATION_BACKEND_VERSION ?
			  "registration" : NULL;

	if (bad)
		return rain_error_set(RAIN_EINVAL, "the catalog driver '%s' has no %s table of the "
				      "version this librain takes (rebuild the driver)", drv->name, bad);
	return 0;
}

int rain_catalog_open(struct rain_catalog **out, const char *uri)
{
	const struct rain_catalog_driver *drv;
	const struct rain_driver *d;
	const char *location;
	struct rain_catalog *cat;
	int r;

	r = rain_driver_lookup("catalog", "catalog backend", uri, builtin,
			       RAIN_CATALOG_DRIVER_VERSION, &d, &location);
	if (r < 0)
		return r;
	drv = d->table;
	r = check_tables(drv);
	if (r < 0)
		return r;
	cat = calloc(1, sizeof(*cat));
	if (!cat)
		return rain_error_oom();
	cat->driver = drv;
	cat->images = drv->images;
	cat->identity = drv->identity;
	cat->audit = drv->audit;
	cat->registrations = drv->registrations;
	r = drv->open(location, &cat->impl);
	if (r < 0) {
		free(cat);
		return r;
	}
	*out = cat;
	return 0;
}

void rain_catalog_close(struct rain_catalog *cat)
{
	if (!cat)
		return;
	cat->driver->close(cat->impl);
	free(cat);
}

int rain_catalog_image_create(struct rain_catalog *cat, const struct rain_image *img)
{
	return cat->images->image_create(cat->impl, img);
}

int rain_catalog_image_get(struct rain_catalog *cat, const char *id, struct rain_image **out)
{
	return cat->images->image_get(cat->impl, id, out);
}

int rain_catalog_image_update(struct rain_catalog *cat, const struct rain_image *img)
{
	return cat->images->image_update(cat->impl, img);
}

int rain_catalog_image_delete(struct rain_catalog *cat, const struct rain_image *img)
{
	return cat->images->image_delete(cat->impl, img);
}

int rain_catalog_image_touch(struct rain_catalog *cat, const char *id, int64_t now_us)
{
	if (!cat->images->image_touch)
		return 0;
	return cat->images->image_touch(cat->impl, id, now_us);
}

int rain_catalog_image_list(struct rain_catalog *cat, const struct rain_image_query *q,
			    struct rain_image ***out, size_t *n, bool *more)
{
	if (q->limit == 0)
		return rain_error_set(RAIN_EINVAL, "limit must be positive");
	if (q->nterms > RAIN_QUERY_MAX_TERMS || q->ntags > RAIN_QUERY_MAX_TERMS ||
	    q->nsort > RAIN_QUERY_MAX_SORT)
		return rain_error_set(RAIN_EINVAL, "too many filters, tags or sort keys");
	for (size_t i = 0; i < q->nsort; i++)
		if (!rain_catalog_sort_key_valid(q->sort[i].key))
			return rain_error_set(RAIN_EINVAL, "Invalid sort key: %s.", q->sort[i].key);
	return cat->images->image_list(cat->impl, q, out, n, more);
}

void rain_catalog_list_free(struct rain_image **images, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rain_image_free(images[i]);
	free(images);
}

int rain_catalog_blob_refs(struct rain_catalog *cat, const char *hash, int64_t *count)
{
	return cat->images->blob_refs(cat->impl, hash, count);
}

int rain_catalog_reset_status(struct rain_catalog *cat, enum rain_image_status from,
			      enum rain_image_status to, int64_t *changed)
{
	return cat->images->reset_status(cat->impl, from, to, changed);
}

/* ---- users and tokens ------------------------------------------------ */

int rain_catalog_user_create(struct rain_catalog *cat, const struct rain_user *u)
{
	char norm[RAIN_USER_NAME_MAX + 1];
	int r = rain_user_name_normalize(u->name, norm, sizeof(norm));

	/* only names already in their normal form: a caller that wants
	 * "Alice" to become "alice" normalizes first */
	if (r == 0 && strcmp(norm, u->name))
		r = rain_error_set(RAIN_EINVAL, "user name '%s' is not in lower case (use '%s')",
				   u->name, norm);
	if (r < 0)
		return r;
	return cat->identity->user_create(cat->impl, u);
}

int rain_catalog_user_find(struct rain_catalog *cat, const char *name, struct rain_user **out)
{
	char norm[RAIN_USER_NAME_MAX + 1];
	int r = RAIN_ENOTFOUND;

	*out = NULL;
	if (rain_user_name_valid(name))
		r = cat->identity->user_get(cat->impl, name, out);
	if (r == RAIN_ENOTFOUND && rain_user_name_normalize(name, norm, sizeof(norm)) == 0 &&
	    strcmp(norm, name))
		r = cat->identity->user_get(cat->impl, norm, out);
	if (r == RAIN_ENOTFOUND)
		return rain_error_set(RAIN_ENOTFOUND, "no user %s",
				      rain_user_name_valid(name) ? name : "(not a user name)");
	return r;
}

int rain_catalog_user_get(struct rain_catalog *cat, const char *name, struct rain_user **out)
{
	return cat->identity->user_get(cat->impl, name, out);
}

int rain_catalog_user_list(struct rain_catalog *cat, struct rain_user ***out, size_t *n)
{
	return cat->identity->user_list(cat->impl, out, n);
}

int rain_catalog_user_update(struct rain_catalog *cat, const struct rain_user *u)
{
	return cat->identity->user_update(cat->impl, u);
}

int rain_catalog_user_delete(struct rain_catalog *cat, const char *name)
{
	return cat->identity->user_delete(cat->impl, name);
}

int rain_catalog_user_count(struct rain_catalog *cat, int64_t *count)
{
	return cat->identity->user_count(cat->impl, count);
}

int rain_catalog_usage(struct rain_catalog *cat, const char *owner, struct rain_usage *out)
{
	return cat->images->usage(cat->impl, owner, out);
}

static const char *const member_status_names[] = { "pending", "accepted", "rejected" };

const char *rain_member_status_name(enum rain_member_status s)
{
	return (unsigned)s < 3 ? member_status_names[s] : "pending";
}

int rain_member_status_parse(const char *s, enum rain_member_status *out)
{
	for (int i = 0; s && i < 3; i++)
		if (!strcmp(s, member_status_names[i])) {
			*out = (enum rain_member_status)i;
			return 0;
		}
	return RAIN_EINVAL;
}

int rain_catalog_member_add(struct rain_catalog *cat, const struct rain_member *m)
{
	return cat->images->member_add(cat->impl, m);
}

int rain_catalog_member_get(struct rain_catalog *cat, const char *image_id, const char *member,
			    struct rain_member *out)
{
	return cat->images->member_get(cat->impl, image_id, member, out);
}

int rain_catalog_member_set(struct rain_catalog *cat, const struct rain_member *m)
{
	return cat->images->member_set(cat->impl, m);
}

int rain_catalog_member_list(struct rain_catalog *cat, const char *image_id, struct rain_member **out,
			     size_t *n)
{
	return cat->images->member_list(cat->impl, image_id, out, n);
}

int rain_catalog_member_delete(struct rain_catalog *cat, const char *image_id, const char *member)
{
	return cat->images->member_delete(cat->impl, image_id, member);
}

int rain_catalog_audit_append(struct rain_catalog *cat, struct rain_audit_entry *e)
{
	return cat->audit->audit_append(cat->impl, e);
}

int rain_catalog_audit_query(struct rain_catalog *cat, const struct rain_audit_query *q,
			     struct rain_audit_entry **out, size_t *n)
{
	return cat->audit->audit_query(cat->impl, q, out, n);
}

int rain_catalog_user_touch(struct rain_catalog *cat, const char *name, int64_t now_us)
{
	if (!cat->identity->user_touch)
		return 0;
	return cat->identity->user_touch(cat->impl, name, now_us);
}

void rain_user_free(struct rain_user *u)
{
	if (!u)
		return;
	free(u->name);
	if (u->password_hash) {
		explicit_bzero(u->password_hash, strlen(u->password_hash));
		free(u->password_hash);
	}
	free(u);
}

void rain_user_list_free(struct rain_user **users, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rain_user_free(users[i]);
	free(users);
}

int rain_user_name_normalize(const char *name, char *out, size_t outlen)
{
	size_t n = name ? strlen(name) : 0;

	if (outlen > 0)
		out[0] = '\0';
	if (n >= 1 && n <= RAIN_USER_NAME_MAX && n < outlen) {
		for (size_t i = 0; i <= n; i++)
			out[i] = name[i] >= 'A' && name[i] <= 'Z' ? (char)(name[i] - 'A' + 'a') : name[i];
		if (((out[0] >= 'a' && out[0] <= 'z') || (out[0] >= '0' && out[0] <= '9')) &&
		    strspn(out, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n)
			return 0;
		out[0] = '\0';
	}
	return rain_error_set(RAIN_EINVAL, "user name%s%s%s: use 1 to %d of a-z, 0-9, '.', '_' and '-', "
			      "starting with a letter or a digit (upper case is taken as lower case)",
			      str_is_printable(name, 2 * RAIN_USER_NAME_MAX) ? " '" : "",
			      str_is_printable(name, 2 * RAIN_USER_NAME_MAX) ? name : "",
			      str_is_printable(name, 2 * RAIN_USER_NAME_MAX) ? "'" : "",
			      RAIN_USER_NAME_MAX);
}

bool rain_user_name_valid(const char *name)
{
	return name && name[0] && str_is_printable(name, RAIN_USER_NAME_MAX) &&
	       !strchr(name, '/');
}

const char *rain_user_role_name(enum rain_user_role r)
{
	return r == RAIN_ROLE_ADMIN ? "admin" : "user";
}

const char *rain_user_status_name(enum rain_user_status s)
{
	switch (s) {
	case RAIN_USER_PENDING: return "pending";
	case RAIN_USER_ACTIVE: return "active";
	case RAIN_USER_INACTIVE: return "inactive";
	}
	return "inactive";
}

int rain_user_role_parse(const char *s, enum rain_user_role *out)
{
	if (s && !strcmp(s, "user"))
		*out = RAIN_ROLE_USER;
	else if (s && !strcmp(s, "admin"))
		*out = RAIN_ROLE_ADMIN;
	else
		return rain_error_set(RAIN_EINVAL, "a role is user or admin");
	return 0;
}

int rain_user_status_parse(const char *s, enum rain_user_status *out)
{
	if (s && !strcmp(s, "pending"))
		*out = RAIN_USER_PENDING;
	else if (s && !strcmp(s, "active"))
		*out = RAIN_USER_ACTIVE;
	else if (s && !strcmp(s, "inactive"))
		*out = RAIN_USER_INACTIVE;
	else
		return rain_error_set(RAIN_EINVAL, "a status is pending, active or inactive");
	return 0;
}

int rain_catalog_token_create(struct rain_catalog *cat, const struct rain_token *t)
{
	return cat->identity->token_create(cat->impl, t);
}

int rain_catalog_token_lookup(struct rain_catalog *cat, const char *hash, struct rain_token *out)
{
	return cat->identity->token_lookup(cat->impl, hash, out);
}

int rain_catalog_token_revoke(struct rain_catalog *cat, const char *hash)
{
	return cat->identity->token_revoke(cat->impl, hash);
}

int rain_catalog_token_revoke_user(struct rain_catalog *cat, const char *user, const char *keep,
				   int64_t *revoked)
{
	return cat->identity->token_revoke_user(cat->impl, user, keep, revoked);
}

int rain_catalog_token_purge(struct rain_catalog *cat, int64_t now_us, int64_t *removed)
{
	if (!cat->identity->token_purge) {
		if (removed)
			*removed = 0;
		return 0;
	}
	return cat->identity->token_purge(cat->impl, now_us, removed);
}

int rain_catalog_login_get(struct rain_catalog *cat, const char *name, struct rain_login_failures *out)
{
	return cat->identity->login_get(cat->impl, name, out);
}

int rain_catalog_login_failed(struct rain_catalog *cat, const char *name, int64_t now_us,
			      const struct rain_lockout_rule *rule, struct rain_login_failures *out,
			      bool *locks)
{
	return cat->identity->login_failed(cat->impl, name, now_us, rule, out, locks);
}

int rain_catalog_login_clear(struct rain_catalog *cat, const char *name)
{
	return cat->identity->login_clear(cat->impl, name);
}

int rain_catalog_charge_set(struct rain_catalog *cat, const struct rain_charge *ch)
{
	return cat->images->charge_set(cat->impl, ch);
}

int rain_catalog_charge_delete(struct rain_catalog *cat, const char *key)
{
	return cat->images->charge_delete(cat->impl, key);
}

int rain_catalog_charge_list(struct rain_catalog *cat, const char *prefix, struct rain_charge **out,
			     size_t *n)
{
	return cat->images->charge_list(cat->impl, prefix, out, n);
}

int rain_catalog_charge_reserve(struct rain_catalog *cat, const struct rain_charge *ch, int64_t quota,
				int64_t *used)
{
	int64_t tmp;

	return cat->images->charge_reserve(cat->impl, ch, quota, time_now_us(), used ? used : &tmp);
}

int rain_catalog_blob_hold(struct rain_catalog *cat, const char *hash, const char *holder,
			   bool removal, int64_t expires_at)
{
	return cat->images->blob_hold(cat->impl, hash, holder, removal, time_now_us(), expires_at);
}

int rain_catalog_blob_release(struct rain_catalog *cat, const char *hash, const char *holder)
{
	return cat->images->blob_release(cat->impl, hash, holder);
}

static int no_registrations(struct rain_catalog *cat)
{
	if (cat->registrations)
		return 0;
	return rain_error_set(RAIN_EINVAL, "the %s catalog keeps no registrations",
			      cat->driver->name);
}

int rain_catalog_registration_put(struct rain_catalog *cat, const struct rain_registration *reg)
{
	return no_registrations(cat) ?: cat->registrations->put(cat->impl, reg);
}

int rain_catalog_registration_get(struct rain_catalog *cat, const char *id,
				  struct rain_registration *out)
{
	return no_registrations(cat) ?: cat->registrations->get(cat->impl, id, out);
}

int rain_catalog_registration_list(struct rain_catalog *cat, const struct rain_registration_query *q,
				   struct rain_registration **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	return no_registrations(cat) ?: cat->registrations->list(cat->impl, q, out, n);
}

int rain_catalog_registration_delete(struct rain_catalog *cat, const char *id)
{
	return no_registrations(cat) ?: cat->registrations->remove(cat->impl, id);
}

void rain_registration_list_free(struct rain_registration *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i].doc);
	free(v);
}
