#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rain/error.h"
#include "rain/image.h"
#include "rain/jsonpatch.h"
#include "rain/repo.h"
#include "util/jsonw.h"
#include "util/strutil.h"
#include "util/timeutil.h"

const char *const rain_disk_formats[] = {
	"ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi",
	"iso", "ploop", NULL
};

const char *const rain_container_formats[] = {
	"ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed", NULL
};

static const char *const status_names[] = {
	[RAIN_STATUS_QUEUED] = "queued",
	[RAIN_STATUS_SAVING] = "saving",
	[RAIN_STATUS_ACTIVE] = "active",
	[RAIN_STATUS_KILLED] = "killed",
	[RAIN_STATUS_DELETED] = "deleted",
	[RAIN_STATUS_DEACTIVATED] = "deactivated",
	[RAIN_STATUS_UPLOADING] = "uploading",
	[RAIN_STATUS_IMPORTING] = "importing",
};

static const char *const visibility_names[] = {
	[RAIN_VIS_PRIVATE] = "private",
	[RAIN_VIS_SHARED] = "shared",
	[RAIN_VIS_COMMUNITY] = "community",
	[RAIN_VIS_PUBLIC] = "public",
};

/* Attributes the client may write, and those it may only read. */
static const char *const core_attrs[] = {
	"name", "visibility", "protected", "os_hidden", "disk_format",
	"container_format", "min_disk", "min_ram", "tags", NULL
};

static const char *const readonly_attrs[] = {
	"id", "status", "checksum", "os_hash_algo", "os_hash_value", "size",
	"virtual_size", "owner", "created_at", "updated_at", "self", "file",
	"schema", "direct_url", "locations", "download_count",
	"last_accessed_at", "deleted", "deleted_at", "stores", NULL
};

bool rain_image_attr_is_core(const char *name)
{
	return str_in_list(core_attrs, name);
}

bool rain_image_attr_is_readonly(const char *name)
{
	return str_in_list(readonly_attrs, name);
}

const char *rain_image_status_name(enum rain_image_status s)
{
	return (unsigned)s < sizeof(status_names) / sizeof(*status_names) ?
	       status_names[s] : "unknown";
}

int rain_image_status_parse(const char *s, enum rain_image_status *out)
{
	rain_error_clear();
	for (size_t i = 0; i < sizeof(status_names) / sizeof(*status_names); i++)
		if (!strcmp(status_names[i], s)) {
			*out = (enum rain_image_status)i;
			return 0;
		}
	return rain_error_set(RAIN_EINVAL, "invalid status '%s'", s);
}

const char *rain_visibility_name(enum rain_visibility v)
{
	return (unsigned)v < sizeof(visibility_names) / sizeof(*visibility_names) ?
	       visibility_names[v] : "unknown";
}

int rain_visibility_parse(const char *s, enum rain_visibility *out)
{
	rain_error_clear();
	for (size_t i = 0; i < sizeof(visibility_names) / sizeof(*visibility_names); i++)
		if (!strcmp(visibility_names[i], s)) {
			*out = (enum rain_visibility)i;
			return 0;
		}
	return rain_error_set(RAIN_EINVAL,
			      "invalid visibility '%s' (one of private, shared, community, public)", s);
}

struct rain_image *rain_image_new(void)
{
	struct rain_image *img = calloc(1, sizeof(*img));

	if (!img)
		return NULL;
	img->status = RAIN_STATUS_QUEUED;
	img->visibility = RAIN_VIS_SHARED;
	img->size = -1;
	img->virtual_size = -1;
	return img;
}

void rain_image_free(struct rain_image *img)
{
	if (!img)
		return;
	free(img->name);
	free(img->checksum);
	free(img->os_hash_algo);
	free(img->os_hash_value);
	free(img->disk_format);
	free(img->container_format);
	free(img->owner);
	for (size_t i = 0; i < img->ntags; i++)
		free(img->tags[i]);
	free(img->tags);
	for (size_t i = 0; i < img->nprops; i++) {
		free(img->props[i].name);
		free(img->props[i].value);
	}
	free(img->props);
	free(img);
}

static int dup_str(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : rain_error_oom();
}

struct rain_image *rain_image_dup(const struct rain_image *src)
{
	struct rain_image *img = rain_image_new();
	int r = 0;

	if (!img)
		return NULL;
	*img = *src;
	img->tags = NULL;
	img->ntags = 0;
	img->props = NULL;
	img->nprops = 0;
	r |= dup_str(&img->name, src->name);
	r |= dup_str(&img->checksum, src->checksum);
	r |= dup_str(&img->os_hash_algo, src->os_hash_algo);
	r |= dup_str(&img->os_hash_value, src->os_hash_value);
	r |= dup_str(&img->disk_format, src->disk_format);
	r |= dup_str(&img->container_format, src->container_format);
	r |= dup_str(&img->owner, src->owner);
	for (size_t i = 0; r == 0 && i < src->ntags; i++)
		r = rain_image_tag_add(img, src->tags[i]);
	for (size_t i = 0; r == 0 && i < src->nprops; i++)
		r = rain_image_prop_set(img, src->props[i].name, src->props[i].value);
	if (r) {
		rain_image_free(img);
		return NULL;
	}
	return img;
}

const char *rain_image_prop_get(const struct rain_image *img, const char *name)
{
	for (size_t i = 0; i < img->nprops; i++)
		if (!strcmp(img->props[i].name, name))
			return img->props[i].value;
	return NULL;
}

int rain_image_prop_set(struct rain_image *img, const char *name, const char *value)
{
	struct rain_property *p;
	char *v;
	int r;

	rain_error_clear();
	if (!str_is_printable(name, RAIN_NAME_MAX))
		return rain_error_set(RAIN_EINVAL,
				      "property names must be 1 to %d printable characters",
				      RAIN_NAME_MAX);
	if (strlen(value) > RAIN_PROP_VALUE_MAX)
		return rain_error_set(RAIN_EINVAL, "property '%s' is longer than %d bytes",
				      name, RAIN_PROP_VALUE_MAX);
	v = strdup(value);
	if (!v)
		return rain_error_oom();
	for (size_t i = 0; i < img->nprops; i++)
		if (!strcmp(img->props[i].name, name)) {
			free(img->props[i].value);
			img->props[i].value = v;
			return 0;
		}
	if (img->nprops >= RAIN_MAX_PROPERTIES) {
		free(v);
		return rain_error_set(RAIN_ETOOBIG, "an image may have at most %d properties",
				      RAIN_MAX_PROPERTIES);
	}
	r = ARRAY_GROW1(img->props, img->nprops);
	if (r < 0) {
		free(v);
		return r;
	}
	p = img->props;
	p[img->nprops].name = strdup(name);
	if (!p[img->nprops].name) {
		free(v);
		return rain_error_oom();
	}
	p[img->nprops].value = v;
	img->nprops++;
	return 0;
}

int rain_image_prop_remove(struct rain_image *img, const char *name)
{
	rain_error_clear();
	for (size_t i = 0; i < img->nprops; i++)
		if (!strcmp(img->props[i].name, name)) {
			free(img->props[i].name);
			free(img->props[i].value);
			img->props[i] = img->props[--img->nprops];
			return 0;
		}
	return rain_error_set(RAIN_ENOTFOUND, "property '%s' does not exist", name);
}

bool rain_image_has_tag(const struct rain_image *img, const char *tag)
{
	for (size_t i = 0; i < img->ntags; i++)
		if (!strcmp(img->tags[i], tag))
			return true;
	return false;
}

int rain_image_tag_add(struct rain_image *img, const char *tag)
{
	char **t;
	int r;

	rain_error_clear();
	if (!str_is_printable(tag, RAIN_NAME_MAX))
		return rain_error_set(RAIN_EINVAL, "tags must be 1 to %d printable characters",
				      RAIN_NAME_MAX);
	if (rain_image_has_tag(img, tag))
		return 0;
	if (img->ntags >= RAIN_MAX_TAGS)
		return rain_error_set(RAIN_ETOOBIG, "an image may have at most %d tags",
				      RAIN_MAX_TAGS);
	r = ARRAY_GROW1(img->tags, img->ntags);
	if (r < 0)
		return r;
	t = img->tags;
	t[img->ntags] = strdup(tag);
	if (!t[img->ntags])
		return rain_error_oom();
	img->ntags++;
	return 0;
}

int rain_image_tag_remove(struct rain_image *img, const char *tag)
{
	rain_error_clear();
	for (size_t i = 0; i < img->ntags; i++)
		if (!strcmp(img->tags[i], tag)) {
			free(img->tags[i]);
			memmove(img->tags + i, img->tags + i + 1,
				(img->ntags - i - 1) * sizeof(*img->tags));
			img->ntags--;
			return 0;
		}
	return rain_error_set(RAIN_ENOTFOUND, "tag '%s' not found", tag);
}

/* A nullable string from a list of allowed values (NULL list: any string
 * of at most RAIN_NAME_MAX printable characters). */
static int set_enum_str(char **dst, const char *attr, json_t *v, const char *const *allowed)
{
	const char *s;
	char *copy;

	if (json_is_null(v)) {
		free(*dst);
		*dst = NULL;
		return 0;
	}
	s = json_string_value(v);
	if (!s)
		return rain_error_set(RAIN_EINVAL, "'%s' must be a string or null", attr);
	if (allowed && !str_in_list(allowed, s)) {
		char list[256] = "";

		for (const char *const *a = allowed; *a; a++) {
			strncat(list, *a, sizeof(list) - strlen(list) - 1);
			if (a[1])
				strncat(list, ", ", sizeof(list) - strlen(list) - 1);
		}
		return rain_error_set(RAIN_EINVAL, "invalid %s '%s' (one of %s)", attr, s, list);
	}
	if (!allowed && strlen(s) > RAIN_NAME_MAX)
		return rain_error_set(RAIN_EINVAL, "'%s' is longer than %d characters",
				      attr, RAIN_NAME_MAX);
	if (memchr(s, '\0', json_string_length(v)))
		return rain_error_set(RAIN_EINVAL, "'%s' contains a NUL character", attr);
	copy = strdup(s);
	if (!copy)
		return rain_error_oom();
	free(*dst);
	*dst = copy;
	return 0;
}

static int set_nonneg(int64_t *dst, const char *attr, json_t *v)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return rain_error_set(RAIN_EINVAL, "'%s' must be a non-negative integer", attr);
	*dst = json_integer_value(v);
	return 0;
}

static int set_bool(bool *dst, const char *attr, json_t *v)
{
	if (!json_is_boolean(v))
		return rain_error_set(RAIN_EINVAL, "'%s' must be true or false", attr);
	*dst = json_is_true(v);
	return 0;
}

static int set_tags(struct rain_image *img, json_t *v)
{
	struct rain_image tmp = { 0 };
	size_t i;
	json_t *t;
	int r = 0;

	if (!json_is_array(v))
		return rain_error_set(RAIN_EINVAL, "'tags' must be an array of strings");
	json_array_foreach(v, i, t) {
		if (!json_is_string(t) || memchr(json_string_value(t), '\0', json_string_length(t))) {
			r = rain_error_set(RAIN_EINVAL, "tag %zu must be a string", i);
			break;
		}
		r = rain_image_tag_add(&tmp, json_string_value(t));
		if (r < 0)
			break;
	}
	if (r < 0) {
		for (i = 0; i < tmp.ntags; i++)
			free(tmp.tags[i]);
		free(tmp.tags);
		return r;
	}
	for (i = 0; i < img->ntags; i++)
		free(img->tags[i]);
	free(img->tags);
	img->tags = tmp.tags;
	img->ntags = tmp.ntags;
	return 0;
}

/* The verdict is the repository's to give (rain_repo_vetting_set). */
static int vetting_reserved(const char *name)
{
	return rain_error_set(RAIN_EFORBIDDEN, "Attribute '%s' is reserved: vetting sets it; "
			      "vet the image with 'rain vet IMAGE' to change it", name);
}

int rain_image_attr_set(struct rain_image *img, const char *name, json_t *v)
{
	rain_error_clear();
	if (rain_image_attr_is_readonly(name))
		return rain_error_set(RAIN_EFORBIDDEN, "Attribute '%s' is read-only.", name);
	if (str_has_prefix(name, "os_glance") || !strcmp(name, RAIN_IMAGE_IMPORT_ERROR))
		return rain_error_set(RAIN_EFORBIDDEN, "Attribute '%s' is reserved.", name);
	if (str_has_prefix(name, RAIN_IMAGE_VETTING_PREFIX))
		return vetting_reserved(name);
	if (!strcmp(name, "name")) {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);

		if (s && (memchr(s, '\0', n) || (n && !str_is_printable(s, RAIN_NAME_MAX)) ||
			  strstr(s, "../") || !strcmp(s, "..") || str_has_suffix(s, "/..")))
			return rain_error_set(RAIN_EINVAL,
					      "'name' must be at most %d printable characters, without NUL or '../'",
					      RAIN_NAME_MAX);
		return set_enum_str(&img->name, name, v, NULL);
	}
	if (!strcmp(name, "visibility")) {
		const char *s = json_string_value(v);

		if (!s)
			return rain_error_set(RAIN_EINVAL, "'visibility' must be a string");
		return rain_visibility_parse(s, &img->visibility);
	}
	if (!strcmp(name, "protected"))
		return set_bool(&img->protected_, name, v);
	if (!strcmp(name, "os_hidden"))
		return set_bool(&img->os_hidden, name, v);
	if (!strcmp(name, "disk_format"))
		return set_enum_str(&img->disk_format, name, v, rain_disk_formats);
	if (!strcmp(name, "container_format"))
		return set_enum_str(&img->container_format, name, v, rain_container_formats);
	if (!strcmp(name, "min_disk"))
		return set_nonneg(&img->min_disk, name, v);
	if (!strcmp(name, "min_ram"))
		return set_nonneg(&img->min_ram, name, v);
	if (!strcmp(name, "tags"))
		return set_tags(img, v);
	if (!json_is_string(v))
		return rain_error_set(RAIN_EINVAL, "property '%s' must be a string", name);
	if (memchr(json_string_value(v), '\0', json_string_length(v)))
		return rain_error_set(RAIN_EINVAL, "property '%s' contains a NUL character", name);
	return rain_image_prop_set(img, name, json_string_value(v));
}

int rain_image_attr_remove(struct rain_image *img, const char *name)
{
	rain_error_clear();
	if (rain_image_attr_is_readonly(name))
		return rain_error_set(RAIN_EFORBIDDEN, "Attribute '%s' is read-only.", name);
	if (rain_image_attr_is_core(name))
		return rain_error_set(RAIN_EFORBIDDEN, "Attribute '%s' is a base attribute and cannot be removed.", name);
	if (str_has_prefix(name, "os_glance") || !strcmp(name, RAIN_IMAGE_IMPORT_ERROR))
		return rain_error_set(RAIN_EFORBIDDEN, "Attribute '%s' is reserved.", name);
	if (str_has_prefix(name, RAIN_IMAGE_VETTING_PREFIX))
		return vetting_reserved(name);
	return rain_image_prop_remove(img, name) < 0 ?
	       rain_error_set(RAIN_ECONFLICT, "Property %s does not exist.", name) : 0;
}

int rain_image_apply_patch(struct rain_image *img, const struct rain_jsonpatch *patch)
{
	rain_error_clear();
	for (size_t i = 0; i < patch->n; i++) {
		const struct rain_patch_item *it = &patch->items[i];
		int r;

		switch (it->op) {
		case RAIN_PATCH_REMOVE:
			r = rain_image_attr_remove(img, it->attr);
			break;
		case RAIN_PATCH_REPLACE:
			if (!rain_image_attr_is_core(it->attr) &&
			    !rain_image_attr_is_readonly(it->attr) &&
			    !rain_image_prop_get(img, it->attr)) {
				r = rain_error_set(RAIN_ECONFLICT, "Property %s does not exist.",
						   it->attr);
				break;
			}
			/* fall through */
		case RAIN_PATCH_ADD:
		default:
			r = rain_image_attr_set(img, it->attr, it->value);
			break;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *num_or_null(int64_t v)
{
	return v >= 0 ? json_integer(v) : json_null();
}

json_t *rain_time_json(int64_t us)
{
	char buf[32];

	if (us <= 0)
		return json_null();
	time_format_iso(us, buf, sizeof(buf));
	return json_string(buf);
}

/* Where the image's data is, as Glance's multi-store images say ("stores"):
 * only once it has data. */
static bool has_data(const struct rain_image *img)
{
	return img->os_hash_value &&
	       (img->status == RAIN_STATUS_ACTIVE || img->status == RAIN_STATUS_DEACTIVATED);
}

json_t *rain_image_to_json(const struct rain_image *img)
{
	char path[64];
	json_t *o = json_object(), *tags = json_array();

	if (!o || !tags) {
		json_decref(o);
		json_decref(tags);
		return NULL;
	}
	/* properties first so that a core field always wins */
	for (size_t i = 0; i < img->nprops; i++)
		json_object_set_new(o, img->props[i].name, json_string(img->props[i].value));
	for (size_t i = 0; i < img->ntags; i++)
		json_array_append_new(tags, json_string(img->tags[i]));
	json_object_set_new(o, "id", json_string(img->id));
	json_object_set_new(o, "name", str_or_null(img->name));
	json_object_set_new(o, "status", json_string(rain_image_status_name(img->status)));
	json_object_set_new(o, "visibility", json_string(rain_visibility_name(img->visibility)));
	json_object_set_new(o, "protected", json_boolean(img->protected_));
	json_object_set_new(o, "os_hidden", json_boolean(img->os_hidden));
	json_object_set_new(o, "checksum", str_or_null(img->checksum));
	json_object_set_new(o, "os_hash_algo", str_or_null(img->os_hash_algo));
	json_object_set_new(o, "os_hash_value", str_or_null(img->os_hash_value));
	json_object_set_new(o, "size", num_or_null(img->size));
	json_object_set_new(o, "virtual_size", num_or_null(img->virtual_size));
	json_object_set_new(o, "disk_format", str_or_null(img->disk_format));
	json_object_set_new(o, "container_format", str_or_null(img->container_format));
	json_object_set_new(o, "min_disk", json_integer(img->min_disk));
	json_object_set_new(o, "min_ram", json_integer(img->min_ram));
	json_object_set_new(o, "owner", str_or_null(img->owner));
	json_object_set_new(o, "tags", tags);
	json_object_set_new(o, "created_at", rain_time_json(img->created_at));
	json_object_set_new(o, "updated_at", rain_time_json(img->updated_at));
	json_object_set_new(o, "download_count", json_integer(img->download_count));
	json_object_set_new(o, "last_accessed_at", rain_time_json(img->last_access));
	if (has_data(img))
		json_object_set_new(o, "stores", json_string(RAIN_STORE_ID));
	snprintf(path, sizeof(path), "/v2/images/%s", img->id);
	json_object_set_new(o, "self", json_string(path));
	snprintf(path, sizeof(path), "/v2/images/%s/file", img->id);
	json_object_set_new(o, "file", json_string(path));
	json_object_set_new(o, "schema", json_string("/v2/schemas/image"));
	return o;
}

/* The keys rain_image_to_json() writes after the properties. */
static const char *const image_json_fields[] = {
	"id", "name", "status", "visibility", "protected", "os_hidden", "checksum",
	"os_hash_algo", "os_hash_value", "size", "virtual_size", "disk_format",
	"container_format", "min_disk", "min_ram", "owner", "tags", "created_at",
	"updated_at", "download_count", "last_accessed_at", "stores", "self", "file", "schema", NULL,
};

static void write_num_or_null(struct jsonw *w, const char *key, int64_t v)
{
	if (v >= 0)
		jsonw_member_int(w, key, v);
	else
		jsonw_member_null(w, key);
}

static void write_time(struct jsonw *w, const char *key, int64_t us)
{
	char buf[32];

	if (us <= 0) {
		jsonw_member_null(w, key);
		return;
	}
	time_format_iso(us, buf, sizeof(buf));
	jsonw_member_str(w, key, buf);
}

void rain_image_write_json(const struct rain_image *img, struct jsonw *w)
{
	char path[64];

	jsonw_object_begin(w);
	/* a property never overrides a field (see rain_image_to_json) */
	for (size_t i = 0; i < img->nprops; i++)
		if (!str_in_list(image_json_fields, img->props[i].name))
			jsonw_member_str(w, img->props[i].name, img->props[i].value);
	jsonw_member_str(w, "id", img->id);
	jsonw_member_str(w, "name", img->name);
	jsonw_member_str(w, "status", rain_image_status_name(img->status));
	jsonw_member_str(w, "visibility", rain_visibility_name(img->visibility));
	jsonw_member_bool(w, "protected", img->protected_);
	jsonw_member_bool(w, "os_hidden", img->os_hidden);
	jsonw_member_str(w, "checksum", img->checksum);
	jsonw_member_str(w, "os_hash_algo", img->os_hash_algo);
	jsonw_member_str(w, "os_hash_value", img->os_hash_value);
	write_num_or_null(w, "size", img->size);
	write_num_or_null(w, "virtual_size", img->virtual_size);
	jsonw_member_str(w, "disk_format", img->disk_format);
	jsonw_member_str(w, "container_format", img->container_format);
	jsonw_member_int(w, "min_disk", img->min_disk);
	jsonw_member_int(w, "min_ram", img->min_ram);
	jsonw_member_str(w, "owner", img->owner);
	jsonw_member_array_begin(w, "tags");
	for (size_t i = 0; i < img->ntags; i++)
		jsonw_str(w, img->tags[i]);
	jsonw_array_end(w);
	write_time(w, "created_at", img->created_at);
	write_time(w, "updated_at", img->updated_at);
	jsonw_member_int(w, "download_count", img->download_count);
	write_time(w, "last_accessed_at", img->last_access);
	if (has_data(img))
		jsonw_member_str(w, "stores", RAIN_STORE_ID);
	snprintf(path, sizeof(path), "/v2/images/%s", img->id);
	jsonw_member_str(w, "self", path);
	snprintf(path, sizeof(path), "/v2/images/%s/file", img->id);
	jsonw_member_str(w, "file", path);
	jsonw_member_str(w, "schema", "/v2/schemas/image");
	jsonw_object_end(w);
}
