#include <pthread.h>
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

/* Writing is a pipeline of two threads: the caller's copies the data into
 * a ring of PIPE_BUFS buffers, hands each full buffer to the hasher thread
 * and writes it to the backend while the hasher hashes it, so that an
 * upload costs the connection's thread a copy and a write, not the hash
 * (SHA-256, and MD5 when asked for). Memory is constant: PIPE_BUFS *
 * PIPE_BUF_SIZE per writer; the caller waits for the hasher only when it
 * is PIPE_BUFS buffers behind. The hasher starts with the second buffer,
 * so a blob of one buffer or less is hashed on the caller's thread; where
 * it cannot start, every buffer is. Buffers are hashed in the order they
 * were filled, so the digests are those of the data as written. */
#define PIPE_BUFS 4
#define PIPE_BUF_SIZE (512 << 10)
#define HASHER_STACK (256 << 10)

struct rain_blob_writer {
	struct rain_blob_store *bs;
	void *tmp;
	EVP_MD_CTX *sha256;
	EVP_MD_CTX *md5;
	int64_t size;               /* bytes taken (written out or buffered) */
	bool synced;
	int error;                  /* a backend write failed: 0 or RAIN_E* */
	char *buf[PIPE_BUFS];
	unsigned int cur;           /* the buffer being filled */
	size_t fill;                /* bytes in buf[cur] */
	bool hasher_running;
	pthread_t hasher;
	/* under lock: the buffers queued for the hasher (a ring of slots
	 * from q_head: which buffer, how many bytes of it), and its state */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int q_head, q_len;
	unsigned int q_buf[PIPE_BUFS];
	size_t q_size[PIPE_BUFS];
	bool stop;                  /* no more buffers: finish and exit */
	bool hash_failed;
};

static const struct rain_driver fs_driver = { "blob", "file", "file:DIR", &rain_blob_fs };
static const struct rain_driver s3_driver = {
	"blob", "s3", "s3://HOST[:PORT]/BUCKET?credentials=FILE", &rain_blob_s3
};
static const struct rain_driver swift_driver = {
	"blob", "swift", "swift://HOST[:PORT]/CONTAINER?credentials=FILE", &rain_blob_swift
};
static const struct rain_driver *const builtin[] = { &fs_driver, &s3_driver, &swift_driver, NULL };

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

static bool hash_update(struct rain_blob_writer *w, const void *buf, size_t len)
{
	return EVP_DigestUpdate(w->sha256, buf, len) == 1 &&
	       (!w->md5 || EVP_DigestUpdate(w->md5, buf, len) == 1);
}

static void *hasher_main(void *ud)
{
	struct rain_blob_writer *w = ud;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		unsigned int i;
		size_t len;
		bool ok;

		while (!w->q_len && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if (!w->q_len)
			break;
		i = w->q_buf[w->q_head];
		len = w->q_size[w->q_head];
		pthread_mutex_unlock(&w->lock);
		ok = hash_update(w, w->buf[i], len);
		pthread_mutex_lock(&w->lock);
		if (!ok)
			w->hash_failed = true;
		w->q_head = (w->q_head + 1) % PIPE_BUFS;
		w->q_len--;
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Start the hasher; false when it cannot start (then the caller hashes). */
static bool hasher_start(struct rain_blob_writer *w)
{
	pthread_attr_t attr;
	bool ok;

	if (pthread_attr_init(&attr) != 0)
		return false;
	pthread_attr_setstacksize(&attr, HASHER_STACK);
	ok = pthread_create(&w->hasher, &attr, hasher_main, w) == 0;
	pthread_attr_destroy(&attr);
	return ok;
}

/* Let the hasher finish what is queued (drop: throw it away) and end. */
static void hasher_stop(struct rain_blob_writer *w, bool drop)
{
	if (!w->hasher_running)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	if (drop && w->q_len > 1)
		w->q_len = 1;     /* what it hashes now, it finishes; the rest goes */
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->hasher, NULL);
	w->hasher_running = false;
}

static void writer_free(struct rain_blob_writer *w)
{
	hasher_stop(w, true);
	for (unsigned int i = 0; i < PIPE_BUFS; i++)
		free(w->buf[i]);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
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
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
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

/* Hand buf[cur] (fill bytes) to the hasher, or hash it here, and write it
 * to the backend meanwhile; then move on to the next buffer once the
 * hasher is done with it. */
static int flush(struct rain_blob_writer *w)
{
	unsigned int i = w->cur;
	size_t len = w->fill;
	unsigned int slot;
	bool queued = false;
	int r;

	if (w->error)
		return w->error;
	if (!len)
		return 0;
	/* the hasher starts once there is more than a buffer's worth */
	if (!w->hasher_running && w->size > (int64_t)len)
		w->hasher_running = hasher_start(w);
	if (w->hasher_running) {
		pthread_mutex_lock(&w->lock);
		slot = (w->q_head + w->q_len) % PIPE_BUFS;
		w->q_buf[slot] = i;
		w->q_size[slot] = len;
		w->q_len++;
		pthread_cond_broadcast(&w->cond);
		pthread_mutex_unlock(&w->lock);
		queued = true;
	} else if (!hash_update(w, w->buf[i], len)) {
		return w->error = rain_error_set(RAIN_EIO, "hashing failed");
	}
	/* both only read buf[i]: the write runs while the hasher hashes */
	r = w->bs->ops->tmp_write(w->bs->impl, w->tmp, w->buf[i], len);
	w->cur = (i + 1) % PIPE_BUFS;
	w->fill = 0;
	if (queued) {
		/* the next buffer is free once the hasher has hashed it */
		pthread_mutex_lock(&w->lock);
		while (w->q_len == PIPE_BUFS)
			pthread_cond_wait(&w->cond, &w->lock);
		pthread_mutex_unlock(&w->lock);
	}
	if (r < 0)
		return w->error = r;
	return 0;
}

int rain_blob_write(struct rain_blob_writer *w, const void *buf, size_t len)
{
	const char *p = buf;
	int r;

	if (w->error)
		return w->error;
	while (len) {
		size_t n = PIPE_BUF_SIZE - w->fill;

		if (!w->buf[w->cur]) {
			w->buf[w->cur] = malloc(PIPE_BUF_SIZE);
			if (!w->buf[w->cur])
				return w->error = rain_error_oom();
		}
		if (n > len)
			n = len;
		memcpy(w->buf[w->cur] + w->fill, p, n);
		w->fill += n;
		w->size += (int64_t)n;
		w->synced = false;
		p += n;
		len -= n;
		if (w->fill == PIPE_BUF_SIZE) {
			r = flush(w);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* The backend's tmp_sync, which is optional. */
static int tmp_sync(struct rain_blob_store *bs, void *tmp)
{
	return bs->ops->tmp_sync ? bs->ops->tmp_sync(bs->impl, tmp) : 0;
}

int rain_blob_write_sync(struct rain_blob_writer *w)
{
	int r = flush(w);

	if (r == 0)
		r = tmp_sync(w->bs, w->tmp);

	w->synced = r == 0;
	return r;
}

ssize_t rain_blob_write_pread(struct rain_blob_writer *w, int64_t off, void *buf, size_t len)
{
	int r = flush(w);   /* what is buffered, to the backend */

	if (r < 0)
		return r;
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
	r = flush(w);
	hasher_stop(w, false);
	if (r == 0 && w->hash_failed)
		r = rain_error_set(RAIN_EIO, "hashing failed");
	if (r < 0) {
		rain_blob_write_abort(w);
		return r;
	}
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
