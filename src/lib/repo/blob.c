#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "rain/blob.h"
#include "rain/error.h"
#include "rain/sys/blob.h"
#include "rain/sys/registry.h"
#include "util/strutil.h"

struct rain_blob_store {
	const struct rain_blob_backend *ops;
	void *impl;
};

struct rain_blob_writer {
	struct rain_blob_store *bs;
	void *tmp;
	EVP_MD_CTX *sha256;
	EVP_MD_CTX *md5;
	int64_t size;
	bool synced;
};

static const struct rain_driver fs_driver = { "blob", "file", "file:DIR", &rain_blob_fs };
static const struct rain_driver *const builtin[] = { &fs_driver, NULL };

int rain_blob_store_open(struct rain_blob_store **out, const char *uri)
{
	const struct rain_blob_backend *ops;
	const struct rain_driver *d;
	const char *location;
	struct rain_blob_store *bs;
	int r;

	r = rain_driver_lookup("blob", "blob store", uri, builtin, RAIN_BLOB_BACKEND_VERSION,
			       &d, &location);
	if (r < 0)
		return r;
	ops = d->table;
	bs = calloc(1, sizeof(*bs));
	if (!bs)
		return rain_error_oom();
	bs->ops = ops;
	r = ops->open(location, &bs->impl);
	if (r < 0) {
		free(bs);
		return r;
	}
	*out = bs;
	return 0;
}

void rain_blob_store_close(struct rain_blob_store *bs)
{
	if (!bs)
		return;
	bs->ops->close(bs->impl);
	free(bs);
}

static void writer_free(struct rain_blob_writer *w)
{
	EVP_MD_CTX_free(w->sha256);
	EVP_MD_CTX_free(w->md5);
	free(w);
}

int rain_blob_write_open(struct rain_blob_store *bs, bool want_md5, struct rain_blob_writer **out)
{
	struct rain_blob_writer *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return rain_error_oom();
	w->bs = bs;
	w->sha256 = EVP_MD_CTX_new();
	if (!w->sha256 || EVP_DigestInit_ex(w->sha256, EVP_sha256(), NULL) != 1)
		goto fail;
	if (want_md5) {
		w->md5 = EVP_MD_CTX_new();
		if (!w->md5 || EVP_DigestInit_ex(w->md5, EVP_md5(), NULL) != 1)
			goto fail;
	}
	r = bs->ops->tmp_create(bs->impl, &w->tmp);
	if (r < 0) {
		writer_free(w);
		return r;
	}
	*out = w;
	return 0;
fail:
	writer_free(w);
	return rain_error_set(RAIN_ENOMEM, "cannot set up hashing");
}

int rain_blob_write(struct rain_blob_writer *w, const void *buf, size_t len)
{
	int r;

	if (len == 0)
		return 0;
	if (EVP_DigestUpdate(w->sha256, buf, len) != 1 ||
	    (w->md5 && EVP_DigestUpdate(w->md5, buf, len) != 1))
		return rain_error_set(RAIN_EIO, "hashing failed");
	r = w->bs->ops->tmp_write(w->bs->impl, w->tmp, buf, len);
	if (r < 0)
		return r;
	w->size += (int64_t)len;
	w->synced = false;
	return 0;
}

/* The backend's tmp_sync, which is optional. */
static int tmp_sync(struct rain_blob_store *bs, void *tmp)
{
	return bs->ops->tmp_sync ? bs->ops->tmp_sync(bs->impl, tmp) : 0;
}

int rain_blob_write_sync(struct rain_blob_writer *w)
{
	int r = tmp_sync(w->bs, w->tmp);

	w->synced = r == 0;
	return r;
}

ssize_t rain_blob_write_pread(struct rain_blob_writer *w, int64_t off, void *buf, size_t len)
{
	if (off < 0)
		return rain_error_set(RAIN_EINVAL, "negative offset");
	if (off >= w->size)
		return 0;
	if ((uint64_t)len > (uint64_t)(w->size - off))
		len = (size_t)(w->size - off);
	return w->bs->ops->tmp_read(w->bs->impl, w->tmp, off, buf, len);
}

int64_t rain_blob_write_size(const struct rain_blob_writer *w)
{
	return w->size;
}

static void digest_hex(EVP_MD_CTX *ctx, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_DigestFinal_ex(ctx, md, &n);
	hex_encode(md, n, out);
}

int rain_blob_write_commit(struct rain_blob_writer *w, struct rain_blob_result *res)
{
	struct rain_blob_store *bs = w->bs;
	int r;

	memset(res, 0, sizeof(*res));
	digest_hex(w->sha256, res->sha256);
	if (w->md5)
		digest_hex(w->md5, res->md5);
	res->size = w->size;
	if (!w->synced) {
		r = tmp_sync(bs, w->tmp);
		if (r < 0) {
			rain_blob_write_abort(w);
			return r;
		}
	}
	r = bs->ops->tmp_publish(bs->impl, w->tmp, res->sha256);
	writer_free(w);
	return r;
}

void rain_blob_write_abort(struct rain_blob_writer *w)
{
	if (!w)
		return;
	w->bs->ops->tmp_discard(w->bs->impl, w->tmp);
	writer_free(w);
}

static int check_hash(const char *sha256)
{
	if (!sha256 || !hex_is_valid(sha256, 64))
		return rain_error_set(RAIN_EINVAL, "'%s' is not a SHA-256 hex digest",
				      sha256 ? sha256 : "(null)");
	return 0;
}

int rain_blob_read_open(struct rain_blob_store *bs, const char *sha256, struct rain_blob_reader *r)
{
	int e = check_hash(sha256);

	return e < 0 ? e : bs->ops->read_open(bs->impl, sha256, r);
}

ssize_t rain_blob_read(struct rain_blob_store *bs, struct rain_blob_reader *r,
		       int64_t off, void *buf, size_t len)
{
	return bs->ops->read(bs->impl, r, off, buf, len);
}

void rain_blob_read_close(struct rain_blob_store *bs, struct rain_blob_reader *r)
{
	bs->ops->read_close(bs->impl, r);
}

int rain_blob_exists(struct rain_blob_store *bs, const char *sha256, bool *yes)
{
	int e = check_hash(sha256);

	return e < 0 ? e : bs->ops->exists(bs->impl, sha256, yes);
}

int rain_blob_remove(struct rain_blob_store *bs, const char *sha256)
{
	int e = check_hash(sha256);

	return e < 0 ? e : bs->ops->remove(bs->impl, sha256);
}

struct gc_state {
	struct rain_blob_store *bs;
	bool (*is_referenced)(void *ud, const char *sha256);
	void *ud;
	int64_t removed;
};

static int gc_one(void *ud, const char *sha256)
{
	struct gc_state *gc = ud;

	if (gc->is_referenced(gc->ud, sha256))
		return 0;
	if (gc->bs->ops->remove(gc->bs->impl, sha256) == 0)
		gc->removed++;
	return 0;
}

int rain_blob_store_gc(struct rain_blob_store *bs,
		       bool (*is_referenced)(void *ud, const char *sha256), void *ud,
		       int64_t *tmp_removed, int64_t *blobs_removed)
{
	struct gc_state gc = { bs, is_referenced, ud, 0 };
	int64_t tmp = 0;
	int r;

	if (bs->ops->purge_tmp) {
		r = bs->ops->purge_tmp(bs->impl, &tmp);
		if (r < 0)
			return r;
	}
	r = bs->ops->list(bs->impl, gc_one, &gc);
	if (tmp_removed)
		*tmp_removed = tmp;
	if (blobs_removed)
		*blobs_removed = gc.removed;
	return r;
}
