#include <pthread.h>
#include <stdio.h>
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

/* Writing is a pipeline of three threads: the caller's copies the data
 * into a ring of PIPE_BUFS buffers and hands each full buffer over; a
 * hasher thread hashes the buffers (SHA-256, and MD5 when asked for) and a
 * writer thread writes them to the backend, each in the order they were
 * filled, so the digests are those of the data as written, and an upload
 * costs the connection's thread a copy, not the hash nor the write.
 * Memory is constant: PIPE_BUFS * PIPE_BUF_SIZE per writer; the caller
 * waits only when the slower of the two is PIPE_BUFS buffers behind. The
 * threads start with the second buffer, so a blob of one buffer or less
 * is hashed and written on the caller's thread; where they cannot start,
 * every buffer is. The backend sees one thread at a time: the writer
 * thread while it runs, the caller's once it is idle (read-back and sync
 * wait for it) or gone. A failed backend write is kept (code and message)
 * and reported to the caller by the next hand-over, read-back, sync or
 * commit. */
#define PIPE_BUFS 4
#define PIPE_BUF_SIZE (512 << 10)
#define PIPE_STACK (256 << 10)

struct rain_blob_writer {
	struct rain_blob_store *bs;
	void *tmp;
	EVP_MD_CTX *sha256;
	EVP_MD_CTX *md5;
	int64_t size;               /* bytes taken (handed over or buffered) */
	bool synced;
	bool sealed;                /* the threads are done and res is final */
	struct rain_blob_result res;
	char *buf[PIPE_BUFS];
	size_t fill;                /* bytes in buf[filled % PIPE_BUFS] */
	bool running, start_failed;
	pthread_t hasher, writer;
	/* under lock once the threads run: buffers handed over, hashed and
	 * written so far (buffer n is buf[n % PIPE_BUFS]), their lengths */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t filled, hashed, written;
	size_t len[PIPE_BUFS];
	bool stop;                  /* nothing more comes: finish and end */
	bool drop;                  /* ... and what is queued goes unprocessed */
	bool hash_failed;
	int error;                  /* the first failed backend write, or 0 */
	char error_msg[512];
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

/* Keep the first backend failure (its message is the calling thread's). */
static void keep_error(struct rain_blob_writer *w, int r)
{
	if (w->error)
		return;
	w->error = r;
	snprintf(w->error_msg, sizeof(w->error_msg), "%s", rain_error_last());
}

/* The kept failure as the calling thread's error, or 0. */
static int report_error(struct rain_blob_writer *w)
{
	int r;

	if (w->running)
		pthread_mutex_lock(&w->lock);
	r = w->error ? rain_error_set(w->error, "%s", w->error_msg) : 0;
	if (w->running)
		pthread_mutex_unlock(&w->lock);
	return r;
}

/* One stage's loop: take the buffers in order as they come (*done counts
 * them) and pass each to step(); after a failure the rest are skipped. */
static void stage_run(struct rain_blob_writer *w, uint64_t *done,
		      int (*step)(struct rain_blob_writer *w, const char *buf, size_t len))
{
	bool failed = false;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		const char *buf;
		size_t len;
		int r = 0;

		while (*done == w->filled && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if (*done == w->filled || w->drop)
			break;
		buf = w->buf[*done % PIPE_BUFS];
		len = w->len[*done % PIPE_BUFS];
		pthread_mutex_unlock(&w->lock);
		if (!failed)
			r = step(w, buf, len);
		pthread_mutex_lock(&w->lock);
		if (r < 0 && !failed) {
			failed = true;
			keep_error(w, r);
		}
		(*done)++;
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
}

static int hash_step(struct rain_blob_writer *w, const char *buf, size_t len)
{
	if (hash_update(w, buf, len))
		return 0;
	w->hash_failed = true;      /* read by the caller after the join */
	return 0;
}

static int write_step(struct rain_blob_writer *w, const char *buf, size_t len)
{
	return w->bs->ops->tmp_write(w->bs->impl, w->tmp, buf, len);
}

static void *hasher_main(void *ud)
{
	struct rain_blob_writer *w = ud;

	stage_run(w, &w->hashed, hash_step);
	return NULL;
}

static void *writer_main(void *ud)
{
	struct rain_blob_writer *w = ud;

	stage_run(w, &w->written, write_step);
	return NULL;
}

/* End the threads: they finish what was handed over (drop: only what
 * each is working on) and are joined. */
static void threads_stop(struct rain_blob_writer *w, bool drop)
{
	if (!w->running)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	w->drop = drop;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->hasher, NULL);
	pthread_join(w->writer, NULL);
	w->running = false;
}

/* Start the hasher and the writer; false (and neither runs) when one
 * cannot start. */
static bool threads_start(struct rain_blob_writer *w)
{
	pthread_attr_t attr;
	bool ok = false;

	if (pthread_attr_init(&attr) != 0)
		return false;
	pthread_attr_setstacksize(&attr, PIPE_STACK);
	if (pthread_create(&w->hasher, &attr, hasher_main, w) == 0) {
		if (pthread_create(&w->writer, &attr, writer_main, w) == 0) {
			ok = true;
		} else {
			pthread_mutex_lock(&w->lock);
			w->stop = true;
			pthread_cond_broadcast(&w->cond);
			pthread_mutex_unlock(&w->lock);
			pthread_join(w->hasher, NULL);
			w->stop = false;
		}
	}
	pthread_attr_destroy(&attr);
	return ok;
}

static void writer_free(struct rain_blob_writer *w)
{
	threads_stop(w, true);
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

/* Hand the buffer being filled over (to the threads, or hash and write it
 * here), then wait until the next one is free. */
static int hand_over(struct rain_blob_writer *w)
{
	unsigned int i = w->filled % PIPE_BUFS;
	size_t len = w->fill;
	int r;

	if (!len)
		return report_error(w);
	/* the threads start once there is more than a buffer's worth */
	if (!w->running && !w->start_failed && w->size > (int64_t)len) {
		w->running = threads_start(w);
		w->start_failed = !w->running;
	}
	w->fill = 0;
	if (!w->running) {
		r = report_error(w);
		if (r < 0)
			return r;
		if (!hash_update(w, w->buf[i], len))
			return rain_error_set(RAIN_EIO, "hashing failed");
		r = w->bs->ops->tmp_write(w->bs->impl, w->tmp, w->buf[i], len);
		if (r < 0) {
			keep_error(w, r);
			return r;
		}
		w->filled++;
		w->hashed++;
		w->written++;
		return 0;
	}
	pthread_mutex_lock(&w->lock);
	w->len[i] = len;
	w->filled++;
	pthread_cond_broadcast(&w->cond);
	while (w->filled - (w->hashed < w->written ? w->hashed : w->written) >= PIPE_BUFS)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
	return report_error(w);
}

/* Everything taken so far handed to the backend, and the writer thread
 * idle, so that the caller may use the backend's temporary itself. */
static int drain(struct rain_blob_writer *w)
{
	int r = hand_over(w);

	if (r < 0 || !w->running)
		return r;
	pthread_mutex_lock(&w->lock);
	while (w->written < w->filled)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
	return report_error(w);
}

int rain_blob_write(struct rain_blob_writer *w, const void *buf, size_t len)
{
	const char *p = buf;
	int r;

	while (len) {
		unsigned int i = w->filled % PIPE_BUFS;
		size_t n = PIPE_BUF_SIZE - w->fill;

		if (!w->buf[i]) {
			w->buf[i] = malloc(PIPE_BUF_SIZE);
			if (!w->buf[i])
				return rain_error_oom();
		}
		if (n > len)
			n = len;
		memcpy(w->buf[i] + w->fill, p, n);
		w->fill += n;
		w->size += (int64_t)n;
		w->synced = false;
		p += n;
		len -= n;
		if (w->fill == PIPE_BUF_SIZE) {
			r = hand_over(w);
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
	int r = drain(w);

	if (r == 0)
		r = tmp_sync(w->bs, w->tmp);

	w->synced = r == 0;
	return r;
}

ssize_t rain_blob_write_pread(struct rain_blob_writer *w, int64_t off, void *buf, size_t len)
{
	int r = drain(w);   /* what is buffered, to the backend */

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

int rain_blob_write_seal(struct rain_blob_writer *w, struct rain_blob_result *res)
{
	int r;

	if (w->sealed) {
		*res = w->res;
		return 0;
	}
	memset(res, 0, sizeof(*res));
	r = hand_over(w);
	threads_stop(w, false);
	if (r == 0)
		r = report_error(w);
	if (r == 0 && w->hash_failed)
		r = rain_error_set(RAIN_EIO, "hashing failed");
	if (r < 0)
		return r;
	digest_hex(w->sha256, w->res.sha256);
	if (w->md5)
		digest_hex(w->md5, w->res.md5);
	w->res.size = w->size;
	if (!w->synced) {
		r = tmp_sync(w->bs, w->tmp);
		if (r < 0)
			return r;
		w->synced = true;
	}
	w->sealed = true;
	*res = w->res;
	return 0;
}

int rain_blob_write_commit(struct rain_blob_writer *w, struct rain_blob_result *res)
{
	struct rain_blob_store *bs = w->bs;
	int r = rain_blob_write_seal(w, res);

	if (r < 0) {
		rain_blob_write_abort(w);
		return r;
	}
	r = bs->ops->tmp_publish(bs->impl, w->tmp, res->sha256);
	writer_free(w);
	return r;
}

void rain_blob_write_abort(struct rain_blob_writer *w)
{
	if (!w)
		return;
	threads_stop(w, true);      /* the writer thread may be in tmp_write */
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

int rain_blob_purge_tmp(struct rain_blob_store *bs, int64_t before_us, int64_t *removed)
{
	*removed = 0;
	return bs->ops->purge_tmp ? bs->ops->purge_tmp(bs->impl, before_us, removed) : 0;
}

int rain_blob_list(struct rain_blob_store *bs, int (*cb)(void *ud, const char *sha256), void *ud)
{
	return bs->ops->list(bs->impl, cb, ud);
}

int rain_blob_store_gc(struct rain_blob_store *bs,
		       bool (*is_referenced)(void *ud, const char *sha256), void *ud,
		       int64_t *tmp_removed, int64_t *blobs_removed)
{
	struct gc_state gc = { bs, is_referenced, ud, 0 };
	int64_t tmp = 0;
	int r;

	r = rain_blob_purge_tmp(bs, INT64_MAX, &tmp);
	if (r < 0)
		return r;
	r = bs->ops->list(bs->impl, gc_one, &gc);
	if (tmp_removed)
		*tmp_removed = tmp;
	if (blobs_removed)
		*blobs_removed = gc.removed;
	return r;
}
