/* The catalog: where image records live.
 *
 * struct rain_catalog is a backend-neutral handle. A backend is a table of
 * function pointers (struct rain_catalog_backend); SQLite is the first one.
 * Nothing above this interface knows which backend is in use.
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
	/* visibility scope: when include_community is false, community
	 * images not owned by `requester` are left out (Glance's default). */
	const char *requester;
	bool include_community;
	bool include_hidden;    /* os_hidden images too */
};

struct rain_catalog;

struct rain_catalog_backend {
	const char *name;
	/* Open the catalog at location (a path for SQLite); create it empty
	 * on first use; run schema migrations. */
	int (*open)(const char *location, void **impl);
	void (*close)(void *impl);
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
	/* Record one download: download_count + 1, last_access = now_us. */
	int (*image_touch)(void *impl, const char *id, int64_t now_us);
	/* Up to q->limit images; *more tells whether a further page exists.
	 * RAIN_EINVAL for an unknown sort key, a bad filter value or an
	 * unknown marker (Glance answers 400 for all three). */
	int (*image_list)(void *impl, const struct rain_image_query *q,
			  struct rain_image ***out, size_t *n, bool *more);
	/* How many images reference blob `hash` (by os_hash_value). */
	int (*blob_refs)(void *impl, const char *hash, int64_t *count);
	/* Every image left in `from` (say, saving after a crash) goes to `to`. */
	int (*reset_status)(void *impl, enum rain_image_status from,
			    enum rain_image_status to, int64_t *changed);
};

extern const struct rain_catalog_backend rain_catalog_sqlite;

/* Open a catalog by URI: "sqlite:PATH" or a bare path (SQLite). */
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
int rain_catalog_blob_refs(struct rain_catalog *cat, const char *hash, int64_t *count);
int rain_catalog_reset_status(struct rain_catalog *cat, enum rain_image_status from,
			      enum rain_image_status to, int64_t *changed);

/* The sort keys accepted by image_list, and the attributes filterable as
 * core columns (anything else filters on properties). */
bool rain_catalog_sort_key_valid(const char *key);
bool rain_catalog_attr_is_column(const char *attr);

#endif
