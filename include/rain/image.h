/* The image record: what the catalog stores about one image.
 *
 * Field names and meanings follow the OpenStack Image API v2 (Glance).
 * Strings are owned by the record (freed by rain_image_free); a NULL
 * string or a negative number means "null" in the API.
 */
#ifndef RAIN_IMAGE_H
#define RAIN_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum rain_image_status {
	RAIN_STATUS_QUEUED,       /* created, no data yet */
	RAIN_STATUS_SAVING,       /* data is being uploaded */
	RAIN_STATUS_ACTIVE,       /* data stored and verified */
	RAIN_STATUS_KILLED,       /* the upload failed on the server side */
	RAIN_STATUS_DELETED,      /* gone (never returned by the API) */
	RAIN_STATUS_DEACTIVATED,  /* data kept but not downloadable */
	RAIN_STATUS_UPLOADING,    /* interoperable import: data staged (rain/repo.h) */
	RAIN_STATUS_IMPORTING,    /* interoperable import: data being imported */
};

enum rain_visibility {
	RAIN_VIS_PRIVATE,
	RAIN_VIS_SHARED,
	RAIN_VIS_COMMUNITY,
	RAIN_VIS_PUBLIC,
};

struct rain_property {
	char *name;
	char *value;
};

#define RAIN_NAME_MAX 255       /* name, tag, property name and format */
#define RAIN_PROP_VALUE_MAX 65535
#define RAIN_MAX_TAGS 128
#define RAIN_MAX_PROPERTIES 128

struct rain_image {
	char id[37];
	char *name;
	enum rain_image_status status;
	enum rain_visibility visibility;
	bool protected_;          /* "protected" in the API */
	bool os_hidden;
	char *checksum;           /* MD5 hex when computed, else NULL */
	char *os_hash_algo;       /* "sha256" once data is stored */
	char *os_hash_value;      /* hex digest; also the blob's key */
	int64_t size;             /* bytes; -1 = null */
	int64_t virtual_size;     /* bytes; -1 = null */
	char *disk_format;
	char *container_format;
	int64_t min_disk;         /* GiB */
	int64_t min_ram;          /* MiB */
	char *owner;
	int64_t created_at;       /* microseconds since the epoch */
	int64_t updated_at;
	int64_t download_count;   /* access statistics kept by the server */
	int64_t last_access;      /* microseconds; 0 = never */
	int64_t revision;         /* catalog's optimistic-lock counter; internal */
	char **tags;
	size_t ntags;
	struct rain_property *props;
	size_t nprops;
};

/* A new empty record (status queued, visibility shared as in Glance,
 * numbers null). NULL on ENOMEM. */
struct rain_image *rain_image_new(void);
void rain_image_free(struct rain_image *img);
/* A deep copy, or NULL on ENOMEM. */
struct rain_image *rain_image_dup(const struct rain_image *img);

const char *rain_image_status_name(enum rain_image_status s);
int rain_image_status_parse(const char *s, enum rain_image_status *out);
const char *rain_visibility_name(enum rain_visibility v);
int rain_visibility_parse(const char *s, enum rain_visibility *out);

/* Glance's accepted values; NULL-terminated lists. */
extern const char *const rain_disk_formats[];
extern const char *const rain_container_formats[];

/* Properties and tags. Names are validated (printable, <= 255 bytes).
 * set replaces an existing value; remove returns RAIN_ENOTFOUND when absent. */
const char *rain_image_prop_get(const struct rain_image *img, const char *name);
int rain_image_prop_set(struct rain_image *img, const char *name, const char *value);
int rain_image_prop_remove(struct rain_image *img, const char *name);
bool rain_image_has_tag(const struct rain_image *img, const char *tag);
int rain_image_tag_add(struct rain_image *img, const char *tag);    /* idempotent */
int rain_image_tag_remove(struct rain_image *img, const char *tag); /* ENOTFOUND */

/* Image attributes fall in three groups (Glance's image schema):
 *   writable core fields:  name, visibility, protected, os_hidden,
 *                          disk_format, container_format, min_disk,
 *                          min_ram, tags
 *   read-only fields:      id, status, checksum, os_hash_algo,
 *                          os_hash_value, size, virtual_size, owner,
 *                          created_at, updated_at, self, file, schema,
 *                          direct_url, locations, download_count,
 *                          last_accessed_at
 *   everything else is a free-form string property.
 */
bool rain_image_attr_is_core(const char *name);
/* Properties named so (rain_vetting, rain_vetting_report, ...) are set
 * only by the repository when an image is vetted (rain_repo_vetting_set);
 * set and remove refuse them with RAIN_EFORBIDDEN. */
#define RAIN_IMAGE_VETTING_PREFIX "rain_vetting"
/* Set only by the repository: why the last interoperable import failed
 * (rain/repo.h), as Glance's os_glance_* properties are. */
#define RAIN_IMAGE_IMPORT_ERROR "rain_import_error"
bool rain_image_attr_is_readonly(const char *name);

/* Set one writable attribute from a JSON value with Glance's validation
 * (type, allowed values, length). Unknown names become string properties.
 * RAIN_EINVAL with a message naming the attribute on bad input;
 * RAIN_EFORBIDDEN for read-only and reserved names. */
int rain_image_attr_set(struct rain_image *img, const char *name, json_t *value);

/* Reset one attribute the way a JSON-patch "remove" does: properties are
 * deleted (RAIN_ECONFLICT when absent, Glance's 409); core attributes
 * cannot be removed (RAIN_EFORBIDDEN). */
int rain_image_attr_remove(struct rain_image *img, const char *name);

/* Apply a parsed JSON patch (see jsonpatch.h) to img in order; on error
 * img may be half-changed, so callers patch a copy. */
struct rain_jsonpatch;
int rain_image_apply_patch(struct rain_image *img, const struct rain_jsonpatch *patch);

/* The image as the API shows it (Glance's representation), a new object. */
/* A time (microseconds since the epoch) as ISO 8601 JSON, null when <= 0. */
json_t *rain_time_json(int64_t us);

json_t *rain_image_to_json(const struct rain_image *img);

/* The same representation written straight into w (util/jsonw.h) as one
 * value (an element of w's current array, or its whole text), without a
 * jansson tree: the bytes json_dumps(rain_image_to_json(img),
 * JSON_COMPACT) gives, but where a property has the name of a field of
 * the representation ("id", "self", ...): jansson keeps such a key at the
 * property's place with the field's value, this writer drops the property
 * and writes the field in its usual place (the same JSON, parsed). As
 * with jansson, a property or tag whose name or value is not valid UTF-8
 * is left out, and so is a field whose value is not. Errors stay in w
 * (jsonw_finish()). */
struct jsonw;
void rain_image_write_json(const struct rain_image *img, struct jsonw *w);

#endif
