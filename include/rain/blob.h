/* The blob store: image data, content-addressed by SHA-256.
 *
 * Identical bytes are stored once under their hash.  The catalog holds the
 * references (images whose os_hash_value is the hash); the repository layer
 * (repo.h) frees a blob when the last reference goes.
 *
 * Writing: rain_blob_write_open() starts a private temporary object;
 * rain_blob_write() appends and hashes in the same pass (no second read);
 * rain_blob_write_commit() makes the data durable and moves it under its
 * hash; rain_blob_write_abort() throws it away.  Until commit nothing is
 * visible under any hash.  A crash leaves at most temporary objects, which
 * rain_blob_store_gc() removes.
 *
 * Reading: rain_blob_read_open() gives a reader; when the backend has a
 * local file, reader->fd is a readable descriptor (for sendfile), else -1
 * and rain_blob_read() must be used.
 *
 * A backend is a table of function pointers (rain/sys/blob.h) picked by
 * the URI's scheme (rain/sys/registry.h); the filesystem is the first.
 */
#ifndef RAIN_BLOB_H
#define RAIN_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RAIN_SHA256_HEX 65  /* 64 hex digits and the NUL */
#define RAIN_MD5_HEX 33

struct rain_blob_store;
struct rain_blob_writer;

struct rain_blob_reader {
	int fd;          /* >= 0 when the data is a local file */
	int64_t size;
	void *impl;      /* the backend's */
};

struct rain_blob_result {
	char sha256[RAIN_SHA256_HEX];
	char md5[RAIN_MD5_HEX];       /* "" unless asked for */
	int64_t size;
};

/* Open a store by URI: "file:DIR" or a bare directory (filesystem).
 * RAIN_EINVAL naming the known schemes for an unknown one. */
int rain_blob_store_open(struct rain_blob_store **out, const char *uri);
void rain_blob_store_close(struct rain_blob_store *bs);

/* want_md5: also compute an MD5 (Glance's legacy `checksum`). */
int rain_blob_write_open(struct rain_blob_store *bs, bool want_md5, struct rain_blob_writer **out);
int rain_blob_write(struct rain_blob_writer *w, const void *buf, size_t len);
/* Read back up to len bytes at off of what was written so far, before
 * commit (to inspect the data before it is published). Returns the
 * number read, 0 past the end, or a negative RAIN_E* code. */
ssize_t rain_blob_write_pread(struct rain_blob_writer *w, int64_t off, void *buf, size_t len);
/* Bytes written so far. */
int64_t rain_blob_write_size(const struct rain_blob_writer *w);
/* Make the data written so far durable; slow (fsync), so callers do it
 * before taking locks. commit does it too when it was not done. */
int rain_blob_write_sync(struct rain_blob_writer *w);
/* Finish: fills *res, makes the blob durable under res->sha256 and frees w
 * (also on failure). If that hash is stored already, the new copy is
 * dropped and the old one kept. */
int rain_blob_write_commit(struct rain_blob_writer *w, struct rain_blob_result *res);
/* Finish writing and fill *res (the hash the data will be published
 * under), made durable, without publishing it: commit then publishes (a
 * caller that must record the hash first, say a hold in the catalog).
 * On failure w stays the caller's, to abort. */
int rain_blob_write_seal(struct rain_blob_writer *w, struct rain_blob_result *res);
/* Throw the data away and free w. NULL is fine. */
void rain_blob_write_abort(struct rain_blob_writer *w);

int rain_blob_read_open(struct rain_blob_store *bs, const char *sha256, struct rain_blob_reader *r);
ssize_t rain_blob_read(struct rain_blob_store *bs, struct rain_blob_reader *r,
		       int64_t off, void *buf, size_t len);
void rain_blob_read_close(struct rain_blob_store *bs, struct rain_blob_reader *r);

int rain_blob_exists(struct rain_blob_store *bs, const char *sha256, bool *yes);
int rain_blob_remove(struct rain_blob_store *bs, const char *sha256);

/* Remove the temporary objects (uploads in flight or left by a crash)
 * last written before before_us (microseconds since the epoch): with
 * several servers on one store, those of a live upload are newer;
 * *removed how many. */
int rain_blob_purge_tmp(struct rain_blob_store *bs, int64_t before_us, int64_t *removed);
/* Call cb with every stored hash; a negative return stops and is returned. */
int rain_blob_list(struct rain_blob_store *bs, int (*cb)(void *ud, const char *sha256), void *ud);

/* Remove every temporary object, and every blob for which is_referenced
 * says false. Only safe while no upload is under way, by this process or
 * any other on the same store (rain_repo_open holds blobs in the catalog
 * and removes only old temporary objects instead). */
int rain_blob_store_gc(struct rain_blob_store *bs,
		       bool (*is_referenced)(void *ud, const char *sha256), void *ud,
		       int64_t *tmp_removed, int64_t *blobs_removed);

#endif
