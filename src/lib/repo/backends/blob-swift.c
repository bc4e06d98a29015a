/* The Swift blob backend: a container of OpenStack Swift through Swift's
 * own API, large objects as Static Large Objects (SLO).
 *
 * URI: swift://HOST[:PORT]/CONTAINER?credentials=FILE[&tls=no]
 * [&part_size=8M][&region=R]. FILE (mode 0600) holds either tempauth's
 * "user = ACCOUNT:USER" and "key = ..." (auth_url defaults to
 * http[s]://HOST/auth/v1.0), or Keystone v3's "auth_url = .../v3",
 * "user", "password", "project" and optionally "user_domain" and
 * "project_domain" (default "Default"); the token's catalog then names
 * the object-store endpoint (public, in region R when given). A token
 * that expires is renewed on the first 401. The container is created
 * when missing.
 *
 * Layout (objstore.h): a write stores each full part as a segment
 * segments/<id>/<n> (PUT with ETag: Swift refuses data whose MD5
 * differs). Publishing, once the SHA-256 is known, writes an empty marker
 * segments/<id>/of-<hash>, then the SLO manifest sha256/<hash> with
 * If-None-Match: * (SLO checks every segment's ETag and size; its own
 * ETag, the MD5 of the segments' ETags, is checked too). Until then
 * nothing is under sha256/. The empty blob is a plain empty object.
 * Removing a blob deletes its manifest with its segments
 * (multipart-manifest=delete) and its marker. purge_tmp lists segments/
 * and removes every id without a marker whose manifest exists: the
 * leftovers of interrupted uploads and publishes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "objstore.h"
#include "rain/error.h"
#include "rain/sys/blob.h"
#include "util/cleanup.h"
#include "util/cleanup-json.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define SEGMENTS "segments"

enum { C_USER, C_KEY, C_AUTH_URL, C_PASSWORD, C_PROJECT, C_USER_DOMAIN, C_PROJECT_DOMAIN, C_N };

struct swift_store {
	struct objstore os;    /* first: impl points to it */
	char *cred[C_N];
	char *auth_url;
	pthread_mutex_t lock;  /* guards token and storage_url */
	char *token;           /* "X-Auth-Token: ..." */
	char *storage_url;     /* .../v1/AUTH_account */
	unsigned long generation; /* counts authentications */
};

static int auth_tempauth(struct swift_store *s, char **token, char **url)
{
	struct objstore_req rq = { .method = "GET", .url = s->auth_url };
	char w[256];
	int r;

	snprintf(w, sizeof(w), "swift store %s, authentication at %s", s->os.u.host, s->auth_url);
	r = objstore_req_header(&rq, "X-Auth-User: %s", s->cred[C_USER]);
	if (r == 0)
		r = objstore_req_header(&rq, "X-Auth-Key: %s", s->cred[C_KEY]);
	if (r == 0)
		r = objstore_perform(&s->os.pool, &rq, w);
	if (r == 0 && rq.status / 100 != 2)
		r = objstore_http_error(&rq, w);
	if (r == 0 && (!rq.token || !rq.storage_url))
		r = rain_error_set(RAIN_EAUTH, "%s: no X-Auth-Token or X-Storage-Url in the answer", w);
	if (r == 0) {
		*token = rq.token;
		*url = rq.storage_url;
		rq.token = rq.storage_url = NULL;
	}
	objstore_req_free(&rq);
	return r;
}

/* The object-store endpoint of a Keystone v3 token's catalog. */
static char *catalog_endpoint(json_t *body, const char *region)
{
	json_t *cat = json_object_get(json_object_get(body, "token"), "catalog"), *svc, *ep;
	size_t i, j;

	json_array_foreach(cat, i, svc) {
		if (!json_is_string(json_object_get(svc, "type")) ||
		    strcmp(json_string_value(json_object_get(svc, "type")), "object-store"))
			continue;
		json_array_foreach(json_object_get(svc, "endpoints"), j, ep) {
			const char *itf = json_string_value(json_object_get(ep, "interface"));
			const char *reg = json_string_value(json_object_get(ep, "region_id"));
			const char *url = json_string_value(json_object_get(ep, "url"));

			if (!itf || strcmp(itf, "public") || !url)
				continue;
			if (region && (!reg || strcmp(reg, region)))
				continue;
			return strdup(url);
		}
	}
	return NULL;
}

static int auth_keystone(struct swift_store *s, char **token, char **url)
{
	_cleanup_json_ json_t *req = NULL, *body = NULL;
	_cleanup_free_ char *text = NULL, *endpoint = NULL;
	struct objstore_req rq = { .method = "POST" };
	const char *udom = s->cred[C_USER_DOMAIN] ? s->cred[C_USER_DOMAIN] : "Default";
	const char *pdom = s->cred[C_PROJECT_DOMAIN] ? s->cred[C_PROJECT_DOMAIN] : "Default";
	char w[256];
	int r;

	snprintf(w, sizeof(w), "swift store %s, Keystone at %s", s->os.u.host, s->auth_url);
	if (!s->cred[C_USER] || !s->cred[C_PASSWORD] || !s->cred[C_PROJECT])
		return rain_error_set(RAIN_EINVAL, "the credentials file %s needs user, password and "
				      "project for Keystone", s->os.u.credentials);
	req = json_pack("{s:{s:{s:[s],s:{s:{s:s,s:s,s:{s:s}}}},s:{s:{s:s,s:{s:s}}}}}",
			"auth", "identity", "methods", "password", "password", "user",
			"name", s->cred[C_USER], "password", s->cred[C_PASSWORD], "domain", "name",
			udom, "scope", "project", "name", s->cred[C_PROJECT], "domain", "name", pdom);
	text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	if (!text || asprintf(&endpoint, "%s/auth/tokens", s->auth_url) < 0) {
		endpoint = NULL;
		return rain_error_oom();
	}
	rq.url = endpoint;
	rq.body = text;
	rq.body_len = strlen(text);
	r = objstore_req_header(&rq, "Content-Type: application/json");
	if (r == 0)
		r = objstore_perform(&s->os.pool, &rq, w);
	explicit_bzero(text, strlen(text));
	if (r == 0 && rq.status / 100 != 2)
		r = objstore_http_error(&rq, w);
	if (r == 0 && (!rq.token || !rq.resp || !(body = json_loads(rq.resp, 0, NULL))))
		r = rain_error_set(RAIN_EAUTH, "%s: no token in the answer", w);
	if (r == 0 && !(*url = catalog_endpoint(body, s->os.u.region)))
		r = rain_error_set(RAIN_ENOTFOUND, "%s: the token's catalog has no public "
				   "object-store endpoint%s%s", w, s->os.u.region ? " in region " : "",
				   s->os.u.region ? s->os.u.region : "");
	if (r == 0) {
		*token = rq.token;
		rq.token = NULL;
	}
	objstore_req_free(&rq);
	return r;
}

/* Authenticate anew unless another thread did since generation gen. */
static int authenticate(struct swift_store *s, unsigned long gen)
{
	char *token = NULL, *url = NULL, *line = NULL;
	int r = 0;

	pthread_mutex_lock(&s->lock);
	if (s->token && s->generation != gen)
		goto done;
	r = strstr(s->auth_url, "/v3") ? auth_keystone(s, &token, &url)
				       : auth_tempauth(s, &token, &url);
	if (r == 0 && asprintf(&line, "X-Auth-Token: %s", token) < 0) {
		line = NULL;
		r = rain_error_oom();
	}
	str_free_secret(token);
	if (r < 0) {
		free(url);
		goto done;
	}
	str_free_secret(s->token);
	free(s->storage_url);
	s->token = line;
	s->storage_url = url;
	s->generation++;
done:
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* Send method on key (NULL: the container) with query, or NULL;
 * authenticates again once on a 401. */
static int sw_call(struct objstore *os, struct objstore_req *rq, const char *method,
		   const char *key, const char *query, const char *w)
{
	struct swift_store *s = (struct swift_store *)os;

	for (int attempt = 0;; attempt++) {
		_cleanup_free_ char *url = NULL, *token = NULL;
		unsigned long gen;
		int r;

		bool have;

		pthread_mutex_lock(&s->lock);
		gen = s->generation;
		have = s->token != NULL;
		if (have) {
			if (asprintf(&url, "%s/%s%s%s%s%s", s->storage_url, s->os.u.bucket,
				     key ? "/" : "", key ? key : "", query ? "?" : "",
				     query ? query : "") < 0)
				url = NULL;
			token = strdup(s->token);
		}
		pthread_mutex_unlock(&s->lock);
		if (!have) {
			/* the last authentication failed: try again, once */
			if (attempt > 0)
				return rain_error_set(RAIN_EAUTH, "%s: not authenticated", w);
			r = authenticate(s, gen);
			if (r < 0)
				return r;
			continue;
		}
		if (!url || !token)
			return rain_error_oom();
		rq->method = method;
		rq->url = url;
		rq->auth_header = token;
		r = objstore_perform(&s->os.pool, rq, w);
		rq->url = NULL;
		rq->auth_header = NULL;
		explicit_bzero(token, strlen(token));
		if (r < 0 || rq->status != 401 || attempt > 0)
			return r;
		r = authenticate(s, gen);
		if (r < 0)
			return r;
	}
}

static void store_free(struct swift_store *s)
{
	for (int i = 0; i < C_N; i++)
		str_free_secret(s->cred[i]);
	objstore_uri_free(&s->os.u);
	free(s->auth_url);
	str_free_secret(s->token);
	free(s->storage_url);
	objstore_pool_free(&s->os.pool);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* Swift answers 422 when the data's MD5 is not the ETag sent. */
static int md5_header(struct objstore_req *rq, const char *md5hex)
{
	return objstore_req_header(rq, "ETag: %s", md5hex);
}

static int sw_open(const char *location, void **impl)
{
	static const char *const keys[] = {
		"user", "key", "auth_url", "password", "project", "user_domain", "project_domain", NULL,
	};
	struct swift_store *s = calloc(1, sizeof(*s));
	long status = 0;
	int r;

	if (!s)
		return rain_error_oom();
	s->os = (struct objstore){ .kind = "swift store", .bucket_word = "container",
				   .tmp_prefix = SEGMENTS, .call = sw_call, .md5_header = md5_header };
	objstore_pool_init(&s->os.pool);
	pthread_mutex_init(&s->lock, NULL);
	r = objstore_uri_parse("swift", location, &s->os.u);
	if (r < 0)
		goto fail;
	if (!s->os.u.credentials) {
		r = rain_error_set(RAIN_EINVAL, "blob store 'swift:%s': no credentials=FILE (a file "
				   "of mode 0600 with user = ACCOUNT:USER and key = ..., or "
				   "Keystone's auth_url, user, password and project)", location);
		goto fail;
	}
	r = objstore_cred_read(s->os.u.credentials, keys, s->cred);
	if (r < 0)
		goto fail;
	if (!s->cred[C_USER] || (!s->cred[C_KEY] && !s->cred[C_PASSWORD])) {
		r = rain_error_set(RAIN_EINVAL, "the credentials file %s needs user and key "
				   "(tempauth) or user, password and project (Keystone)",
				   s->os.u.credentials);
		goto fail;
	}
	if (s->cred[C_AUTH_URL])
		s->auth_url = strdup(s->cred[C_AUTH_URL]);
	else if (asprintf(&s->auth_url, "%s://%s/auth/v1.0", s->os.u.tls ? "https" : "http",
			  s->os.u.host) < 0)
		s->auth_url = NULL;
	if (!s->auth_url) {
		r = rain_error_oom();
		goto fail;
	}
	r = authenticate(s, 0);
	if (r == 0)
		r = objstore_simple(&s->os, "HEAD", NULL, NULL, true, &status);
	if (r == 0 && status == 404)
		r = objstore_simple(&s->os, "PUT", NULL, NULL, false, NULL);
	if (r < 0)
		goto fail;
	*impl = s;
	return 0;
fail:
	store_free(s);
	return r;
}

static void sw_close(void *impl)
{
	store_free(impl);
}

/* Delete the stored parts of t and its marker (best effort: purge_tmp
 * reaps the rest). */
static void drop_parts(struct swift_store *s, struct objstore_tmp *t, const char *sha256)
{
	char key[160];

	snprintf(key, sizeof(key), SEGMENTS "/%s/of-%s", t->id, sha256);
	objstore_simple(&s->os, "DELETE", key, NULL, true, NULL);
	objstore_tmp_drop(&s->os, t, true);
}

/* The ETag SLO gives a manifest: the MD5 of its segments' ETags. */
static void manifest_etag(const struct objstore_tmp *t, char out[33])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
	for (unsigned int i = 0; i < t->nparts; i++)
		EVP_DigestUpdate(ctx, t->md5[i], 32);
	EVP_DigestFinal_ex(ctx, md, &n);
	EVP_MD_CTX_free(ctx);
	hex_encode(md, n, out);
}

/* PUT an object: the manifest (manifest true) or a plain body; never
 * over an existing one (*exists says that it was there). */
static int put_new(struct swift_store *s, const char *key, const char *body, size_t len,
		   bool manifest, char *etag, size_t etag_size, bool *exists)
{
	struct objstore_req rq = { .body = body, .body_len = len };
	char w[256];
	int r;

	*exists = false;
	objstore_what(&s->os, key, w, sizeof(w));
	r = objstore_req_header(&rq, "If-None-Match: *");
	if (r == 0)
		r = sw_call(&s->os, &rq, "PUT", key, manifest ? "multipart-manifest=put" : NULL, w);
	if (r == 0 && rq.status == 412)
		*exists = true;
	else if (r == 0 && rq.status / 100 != 2)
		r = objstore_http_error(&rq, w);
	if (etag)
		snprintf(etag, etag_size, "%s", rq.etag);
	objstore_req_free(&rq);
	return r;
}

static int publish_slo(struct swift_store *s, struct objstore_tmp *t, const char *key,
		       const char *sha256)
{
	_cleanup_json_ json_t *m = json_array();
	_cleanup_free_ char *text = NULL;
	char marker[160], seg[96], path[512], etag[80], want[33], w[256];
	bool exists;
	int r;

	if (!m)
		return rain_error_oom();
	for (unsigned int n = 1; n <= t->nparts; n++) {
		objstore_part_key(t, n, seg, sizeof(seg));
		snprintf(path, sizeof(path), "/%s/%s", s->os.u.bucket, seg);
		if (json_array_append_new(m, json_pack("{s:s,s:s,s:I}", "path", path, "etag",
						       t->md5[n - 1], "size_bytes",
						       (json_int_t)t->sizes[n - 1])) < 0)
			return rain_error_oom();
	}
	text = json_dumps(m, JSON_COMPACT);
	if (!text)
		return rain_error_oom();
	/* the marker first: purge_tmp keeps the segments of a published id */
	snprintf(marker, sizeof(marker), SEGMENTS "/%s/of-%s", t->id, sha256);
	r = put_new(s, marker, "", 0, false, NULL, 0, &exists);
	if (r == 0)
		r = put_new(s, key, text, strlen(text), true, etag, sizeof(etag), &exists);
	if (r < 0)
		return r;
	if (exists)
		return 1;  /* published meanwhile by another upload: drop ours */
	manifest_etag(t, want);
	if (strcmp(etag, want)) {
		objstore_what(&s->os, key, w, sizeof(w));
		r = rain_error_set(RAIN_EIO, "%s: the manifest has ETag '%s', not %s (the MD5 "
				   "of its segments' ETags)", w, etag, want);
		/* it must not stay visible */
		objstore_simple(&s->os, "DELETE", key, NULL, true, NULL);
		return r;
	}
	return 0;
}

static int sw_tmp_publish(void *impl, void *tmp, const char *sha256)
{
	struct swift_store *s = impl;
	struct objstore_tmp *t = tmp;
	char key[80];
	long status = 0;
	bool exists = true;
	int r;

	snprintf(key, sizeof(key), "sha256/%s", sha256);
	r = objstore_tmp_flush(&s->os, t);
	if (r == 0)
		r = objstore_simple(&s->os, "HEAD", key, NULL, true, &status);
	if (r == 0 && status == 404) {
		if (t->nparts == 0) {
			r = put_new(s, key, "", 0, false, NULL, 0, &exists);
		} else {
			r = publish_slo(s, t, key, sha256);
			if (r == 0) {
				/* the segments now belong to the blob */
				objstore_tmp_free(t);
				return 0;
			}
		}
	}
	if (r < 0) {
		_cleanup_free_ char *msg = strdup(rain_error_last());

		drop_parts(s, t, sha256);
		rain_error_set(r == RAIN_ENOTFOUND ? RAIN_EIO : r, "%s",
			       msg ? msg : "cannot publish the blob");
		return r == RAIN_ENOTFOUND ? RAIN_EIO : r;
	}
	/* stored already (before or meanwhile): this copy goes */
	drop_parts(s, t, sha256);
	return 0;
}

/* The id of the segments an SLO manifest (its JSON) names. */
static bool manifest_id(const char *json, const char *bucket, char id[33])
{
	_cleanup_json_ json_t *m = json_loads(json, 0, NULL);
	const char *name = json_string_value(json_object_get(json_array_get(m, 0), "name"));
	_cleanup_free_ char *prefix = NULL;

	if (!name || asprintf(&prefix, "/%s/", bucket) < 0 || !str_has_prefix(name, prefix)) {
		prefix = NULL;
		return false;
	}
	return objstore_tmp_key_id(SEGMENTS, name + strlen(prefix), id);
}

static int sw_remove(void *impl, const char *sha256)
{
	struct swift_store *s = impl;
	struct objstore_req rq = { 0 };
	char key[80], marker[160], id[33], w[256];
	bool slo;
	int r;

	snprintf(key, sizeof(key), "sha256/%s", sha256);
	objstore_what(&s->os, key, w, sizeof(w));
	r = sw_call(&s->os, &rq, "GET", key, "multipart-manifest=get", w);
	if (r == 0 && rq.status == 404) {
		objstore_req_free(&rq);
		return 0;
	}
	if (r == 0 && rq.status != 200)
		r = objstore_http_error(&rq, w);
	slo = r == 0 && rq.slo && rq.resp && manifest_id(rq.resp, s->os.u.bucket, id);
	objstore_req_free(&rq);
	if (r < 0)
		return r;
	/* the manifest and its segments in one request */
	r = objstore_simple(&s->os, "DELETE", key, slo ? "multipart-manifest=delete" : NULL, true, NULL);
	if (r == 0 && slo) {
		snprintf(marker, sizeof(marker), SEGMENTS "/%s/of-%s", id, sha256);
		r = objstore_simple(&s->os, "DELETE", marker, NULL, true, NULL);
	}
	return r;
}

/* Call cb with every object name under prefix and its last_modified
 * (NULL when the listing has none), page by page. */
static int list_names(struct swift_store *s, const char *prefix,
		      int (*cb)(void *ud, const char *name, const char *modified), void *ud)
{
	_cleanup_free_ char *after = NULL, *enc_prefix = str_url_encode(prefix);
	char w[256];
	int r = 0;

	if (!enc_prefix)
		return rain_error_oom();
	objstore_what(&s->os, NULL, w, sizeof(w));
	for (;;) {
		struct objstore_req rq = { 0 };
		_cleanup_free_ char *query = NULL, *enc = NULL;
		_cleanup_json_ json_t *list = NULL;
		json_t *o;
		size_t i;

		if (after && !(enc = str_url_encode(after)))
			return rain_error_oom();
		if (asprintf(&query, "format=json&prefix=%s%s%s", enc_prefix, enc ? "&marker=" : "",
			     enc ? enc : "") < 0) {
			query = NULL;
			return rain_error_oom();
		}
		r = sw_call(&s->os, &rq, "GET", NULL, query, w);
		if (r == 0 && rq.status == 204) {
			objstore_req_free(&rq);
			return 0;
		}
		if (r == 0 && rq.status != 200)
			r = objstore_http_error(&rq, w);
		if (r == 0 && !(list = json_loads(rq.resp ? rq.resp : "", 0, NULL)))
			r = rain_error_set(RAIN_EIO, "%s: the listing is not JSON", w);
		objstore_req_free(&rq);
		if (r < 0)
			return r;
		if (json_array_size(list) == 0)
			return 0;
		json_array_foreach(list, i, o) {
			const char *name = json_string_value(json_object_get(o, "name"));
			const char *modified = json_string_value(json_object_get(o, "last_modified"));

			if (name && (r = cb(ud, name, modified)) < 0)
				return r;
		}
		free(after);
		after = strdup(json_string_value(json_object_get(
			json_array_get(list, json_array_size(list) - 1), "name")) ?: "");
		if (!after)
			return rain_error_oom();
	}
}

static int list_one(void *ud, const char *name, const char *unused)
{
	return objstore_list_key(ud, name);
}

static int sw_list(void *impl, int (*cb)(void *ud, const char *sha256), void *ud)
{
	struct objstore_list l = { cb, ud };

	return list_names(impl, "sha256/", list_one, &l);
}

/* purge_tmp's view of segments/: the names of one id at a time (the
 * listing is sorted), then the verdict on them. */
struct purge_ctx {
	struct swift_store *s;
	char id[33];
	char **names;
	size_t n;
	char published[65];   /* the hash of the id's marker, or "" */
	int64_t before;
	bool fresh;           /* one of the id's was written since before */
	int64_t removed;
};

static int purge_flush(struct purge_ctx *p)
{
	bool keep = false;
	int r = 0;

	if (p->n && p->published[0]) {
		char key[80];
		long status = 0;

		snprintf(key, sizeof(key), "sha256/%s", p->published);
		r = objstore_simple(&p->s->os, "HEAD", key, NULL, true, &status);
		keep = r == 0 && status / 100 == 2;
	}
	if (r == 0 && p->n && !keep && !p->fresh) {
		for (size_t i = 0; i < p->n && r == 0; i++)
			r = objstore_simple(&p->s->os, "DELETE", p->names[i], NULL, true, NULL);
		p->removed++;
	}
	strv_free(p->names, p->n);
	p->names = NULL;
	p->n = 0;
	p->published[0] = '\0';
	p->fresh = false;
	return r;
}

static int purge_one(void *ud, const char *name, const char *modified)
{
	struct purge_ctx *p = ud;
	char id[33];
	const char *last;
	int64_t us;
	int r;

	if (!objstore_tmp_key_id(SEGMENTS, name, id))
		return 0;
	if (strcmp(id, p->id)) {
		if ((r = purge_flush(p)) < 0)
			return r;
		memcpy(p->id, id, sizeof(id));
	}
	/* Swift's time is UTC without a zone (2026-12-07T18:30:00.123450);
	 * one that does not parse keeps the id */
	if (p->before != INT64_MAX && (!modified || time_parse_iso(modified, &us) < 0 || us >= p->before))
		p->fresh = true;
	last = name + strlen(SEGMENTS) + 1 + 33;
	if (str_has_prefix(last, "of-") && hex_is_valid(last + 3, 64))
		memcpy(p->published, last + 3, 65);
	return strv_add(&p->names, &p->n, name);
}

static int sw_purge_tmp(void *impl, int64_t before_us, int64_t *removed)
{
	struct purge_ctx p = { .s = impl, .before = before_us };
	int r;

	r = list_names(impl, SEGMENTS "/", purge_one, &p);
	if (r == 0)
		r = purge_flush(&p);
	strv_free(p.names, p.n);
	*removed = p.removed;
	return r;
}

const struct rain_blob_backend rain_blob_swift = {
	.version = RAIN_BLOB_BACKEND_VERSION,
	.name = "swift",
	.open = sw_open,
	.close = sw_close,
	.tmp_create = objstore_tmp_create,
	.tmp_write = objstore_tmp_write,
	.tmp_read = objstore_tmp_read,
	.tmp_sync = objstore_tmp_sync,
	.tmp_publish = sw_tmp_publish,
	.tmp_discard = objstore_tmp_discard,
	.read_open = objstore_read_open,
	.read = objstore_read,
	.read_close = objstore_read_close,
	.exists = objstore_exists,
	.remove = sw_remove,
	.list = sw_list,
	.purge_tmp = sw_purge_tmp,
};
