/* What the object store blob backends (blob-s3.c, blob-swift.c) share:
 * their URIs, credentials files, HTTP requests through a pool of libcurl
 * handles, the temporary object written in parts, and readers with a
 * bounded read-ahead window. Internal to librain.
 *
 * Layout in the bucket or container (both backends):
 *   sha256/<hash>          a published blob, under its content address
 *   PREFIX/<id>/<nnnnnn>   the parts of a temporary object, 1-based, each
 *                          of part_size bytes but the last (PREFIX: "tmp"
 *                          for S3, "segments" for Swift, whose published
 *                          blobs keep them)
 * A write fills one part in memory (constant memory: part_size per
 * writer), stores each full part as its own object with an integrity
 * check (MD5), and only publish makes the data visible under sha256/.
 */
#ifndef RAIN_REPO_OBJSTORE_H
#define RAIN_REPO_OBJSTORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <curl/curl.h>

#include "rain/blob.h"

#define OBJSTORE_MIN_PART (5u << 20)     /* S3's smallest part but the last */
#define OBJSTORE_DEFAULT_PART (8u << 20)
#define OBJSTORE_MAX_PART (512u << 20)
#define OBJSTORE_READ_WINDOW (8u << 20)  /* a reader's read-ahead */

/* SCHEME://HOST[:PORT]/BUCKET[?key=value&...] with the keys region=,
 * credentials=FILE, tls=yes|no (default yes) and part_size=N[K|M] (bytes,
 * 5M to 512M, default 8M). */
struct objstore_uri {
	char *host;          /* HOST[:PORT] */
	char *bucket;        /* the bucket or container */
	char *region;        /* NULL when not given */
	char *credentials;   /* the credentials file, NULL when not given */
	bool tls;
	size_t part_size;
};

/* Parse location (what follows "SCHEME:"); messages name the URI as
 * "SCHEME:location" and never echo a secret put where it does not belong. */
int objstore_uri_parse(const char *scheme, const char *location, struct objstore_uri *u);
void objstore_uri_free(struct objstore_uri *u);

/* Read a credentials file of "key = value" lines (a "[section]" line is
 * allowed and ignored). The file must be a regular file not readable or
 * writable by group or others. keys is NULL-terminated; values[i] gets a
 * copy of keys[i]'s value or NULL; any other key is refused. The caller
 * frees each value with str_free_secret(). */
int objstore_cred_read(const char *path, const char *const *keys, char **values);

/* A pool of libcurl handles (each keeps its connections alive). */
struct objstore_pool {
	pthread_mutex_t lock;
	CURL *idle[16];
	size_t nidle;
};

void objstore_pool_init(struct objstore_pool *p);
void objstore_pool_free(struct objstore_pool *p);

/* One HTTP request. Set the inputs, call objstore_perform(), read the
 * outputs, then objstore_req_free(). */
struct objstore_req {
	const char *method;              /* GET, HEAD, PUT, POST, DELETE */
	const char *url;
	struct curl_slist *headers;      /* owned: freed by objstore_req_free */
	const char *sigv4;               /* CURLOPT_AWS_SIGV4, or NULL */
	const char *user, *password;     /* with sigv4: the access key and secret */
	const char *auth_header;         /* one more header line, not kept, or NULL */
	const void *body;                /* the request body (PUT, POST) */
	size_t body_len;
	void *dst;                       /* a GET's body goes here ... */
	size_t dst_cap;                  /* ... up to this many bytes */
	/* outputs */
	long status;                     /* 0 when no answer came */
	size_t dst_len;
	char *resp;                      /* any other body (up to 16 MiB), NUL-terminated */
	size_t resp_len;
	char etag[80];                   /* unquoted */
	int64_t content_length;          /* -1 when not sent */
	char *token;                     /* X-Auth-Token or X-Subject-Token */
	char *storage_url;               /* X-Storage-Url */
	bool slo;                        /* X-Static-Large-Object: True */
	char curl_error[CURL_ERROR_SIZE];
	bool overflow;                   /* the body did not fit in dst */
};

/* Add a header line ("Name: value"); 0 or RAIN_ENOMEM. */
int objstore_req_header(struct objstore_req *rq, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Send rq. 0 when an answer came (whatever its status); else RAIN_ENET
 * or RAIN_ETIMEDOUT, with a message naming what (such as "s3 store
 * HOST, bucket 'B', object 'K'"). */
int objstore_perform(struct objstore_pool *p, struct objstore_req *rq, const char *what);
void objstore_req_free(struct objstore_req *rq);

/* The error for an answer that is not what was expected: RAIN_ENOTFOUND
 * (404), RAIN_EAUTH (401, 403), RAIN_ENOSPC (507), RAIN_ETOOBIG (413),
 * RAIN_EIO (the rest), with a message naming what, the status and the
 * server's own words (an S3 <Code> and <Message>, or the body's start). */
int objstore_http_error(const struct objstore_req *rq, const char *what);

/* The lowercase hex MD5 of data. */
void objstore_md5_hex(const void *data, size_t len, char out[33]);

/* What a backend's store starts with (impl points to it): the generic
 * parts below work on it through call. */
struct objstore {
	const char *kind;            /* "s3 store", "swift store" */
	const char *bucket_word;     /* "bucket", "container" */
	const char *tmp_prefix;      /* "tmp", "segments" */
	struct objstore_uri u;
	struct objstore_pool pool;
	/* Send method on key (NULL: the bucket) with query (or NULL); rq's
	 * body, dst and headers are the caller's. 0 when an answer came. */
	int (*call)(struct objstore *os, struct objstore_req *rq, const char *method,
		    const char *key, const char *query, const char *what);
	/* The header of a part's PUT that makes the store check its MD5. */
	int (*md5_header)(struct objstore_req *rq, const char *md5hex);
};

/* "KIND HOST, BUCKET_WORD 'B'[, object 'K']" */
void objstore_what(const struct objstore *os, const char *key, char *out, size_t size);
/* method on key expecting a 2xx (or a 404 when ok404); the status in
 * *status when not NULL. */
int objstore_simple(struct objstore *os, const char *method, const char *key, const char *query,
		    bool ok404, long *status);
/* GET len bytes at off of key into buf: the number read. */
ssize_t objstore_fetch(struct objstore *os, const char *key, int64_t off, void *buf, size_t len);

/* A temporary object written in parts. */
struct objstore_tmp {
	const char *prefix;         /* "tmp" or "segments" */
	char id[33];                /* random hex: PREFIX/<id>/... */
	size_t part_size;
	unsigned char *buf;         /* the part being filled */
	size_t len;                 /* bytes in buf */
	unsigned int nparts;        /* parts stored */
	char (*md5)[33];            /* each stored part's MD5 */
	size_t *sizes;              /* each stored part's size */
	size_t cap;
	int64_t written;
	size_t synced_len;          /* bytes of buf a sync stored as part nparts + 1 */
	char synced_md5[33];
};

/* The blob table's methods for temporaries, on a struct objstore. */
int objstore_tmp_create(void *impl, void **tmp);
int objstore_tmp_write(void *impl, void *tmp, const void *buf, size_t len);
ssize_t objstore_tmp_read(void *impl, void *tmp, int64_t off, void *buf, size_t len);
/* Make everything written durable with more writes to come: the buffer
 * is stored as the next part, which stays open (parts keep their size). */
int objstore_tmp_sync(void *impl, void *tmp);
/* Store what is in the buffer as a last part (nothing when it is empty). */
int objstore_tmp_flush(struct objstore *os, struct objstore_tmp *t);
/* Delete every part stored (best effort: purge_tmp reaps the rest) and,
 * with free_it, free t. */
void objstore_tmp_drop(struct objstore *os, struct objstore_tmp *t, bool free_it);
void objstore_tmp_discard(void *impl, void *tmp);
void objstore_tmp_free(struct objstore_tmp *t);
/* The key of part n: "PREFIX/<id>/<nnnnnn>". */
void objstore_part_key(const struct objstore_tmp *t, unsigned int n, char *out, size_t size);

/* The blob table's reading methods: a reader gets a read-ahead window
 * of OBJSTORE_READ_WINDOW bytes filled by ranged GETs. */
int objstore_read_open(void *impl, const char *sha256, struct rain_blob_reader *rd);
ssize_t objstore_read(void *impl, struct rain_blob_reader *rd, int64_t off, void *buf, size_t len);
void objstore_read_close(void *impl, struct rain_blob_reader *rd);
int objstore_exists(void *impl, const char *sha256, bool *yes);

/* For a listing: calls cb with the hash of each key that is a blob's. */
struct objstore_list {
	int (*cb)(void *ud, const char *sha256);
	void *ud;
};

int objstore_list_key(void *ud, const char *key);

/* Whether key is "PREFIX/<32 hex digits>/..."; the id then, in id. */
bool objstore_tmp_key_id(const char *prefix, const char *key, char id[33]);

/* Whether key is "sha256/" and 64 lowercase hex digits; the hash then. */
const char *objstore_key_hash(const char *key);

#endif
