/* The table a blob store backend implements (see rain/blob.h for the
 * user API and its contracts). For backend authors only: programs open a
 * store by URI with rain_blob_store_open(), whose scheme picks the backend
 * (rain/sys/registry.h, kind "blob").
 *
 * Every method gets the impl that open made. Methods marked optional may
 * be NULL; the others are required.
 */
#ifndef RAIN_SYS_BLOB_H
#define RAIN_SYS_BLOB_H

#include "rain/blob.h"

/* The version of struct rain_blob_backend; a backend sets .version to it. */
#define RAIN_BLOB_BACKEND_VERSION 2

struct rain_blob_backend {
	unsigned int version;    /* RAIN_BLOB_BACKEND_VERSION */
	const char *name;
	int (*open)(const char *location, void **impl);
	void (*close)(void *impl);
	/* Temporary objects: create, append, make durable + publish, drop. */
	int (*tmp_create)(void *impl, void **tmp);
	int (*tmp_write)(void *impl, void *tmp, const void *buf, size_t len);
	/* Read back what was written (short only at its end). */
	ssize_t (*tmp_read)(void *impl, void *tmp, int64_t off, void *buf, size_t len);
	/* Make the written data durable (before publishing). Optional (NULL):
	 * for a backend whose publish is durable by itself. */
	int (*tmp_sync)(void *impl, void *tmp);
	int (*tmp_publish)(void *impl, void *tmp, const char *sha256);
	void (*tmp_discard)(void *impl, void *tmp);
	int (*read_open)(void *impl, const char *sha256, struct rain_blob_reader *r);
	ssize_t (*read)(void *impl, struct rain_blob_reader *r, int64_t off, void *buf, size_t len);
	void (*read_close)(void *impl, struct rain_blob_reader *r);
	int (*exists)(void *impl, const char *sha256, bool *yes);
	int (*remove)(void *impl, const char *sha256);
	/* Call cb for every stored hash (for garbage collection). */
	int (*list)(void *impl, int (*cb)(void *ud, const char *sha256), void *ud);
	/* Remove the temporary objects last written before before_us
	 * (microseconds since the epoch; INT64_MAX: all, only when no write
	 * is under way); an upload's parts go together, kept while any is
	 * newer. Optional (NULL): for a backend that leaves none behind. */
	int (*purge_tmp)(void *impl, int64_t before_us, int64_t *removed);
};

/* The filesystem backend (blob-fs.c), scheme "file". */
extern const struct rain_blob_backend rain_blob_fs;
/* An S3 bucket (blob-s3.c), scheme "s3". */
extern const struct rain_blob_backend rain_blob_s3;
/* An OpenStack Swift container through Swift's own API (blob-swift.c),
 * scheme "swift". */
extern const struct rain_blob_backend rain_blob_swift;

#endif
