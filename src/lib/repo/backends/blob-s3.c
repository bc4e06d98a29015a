/* The S3 blob backend: a bucket of an S3-compatible store (AWS, Ceph RGW,
 * Swift's s3api, MinIO), path-style URLs, requests signed with SigV4 by
 * libcurl (CURLOPT_AWS_SIGV4).
 *
 * URI: s3://HOST[:PORT]/BUCKET?credentials=FILE[&region=R][&tls=no]
 * [&part_size=8M]; FILE (mode 0600) holds "access_key = ..." and
 * "secret_key = ...". The bucket is created when missing.
 *
 * Layout (objstore.h): a write stores each full part as its own object
 * tmp/<id>/<n> (PUT with Content-MD5; the ETag must be that MD5), so that
 * what was written can be read back before publishing and memory stays at
 * one part. Publishing, once the SHA-256 is known, copies the parts on
 * the server into sha256/<hash>: one part by CopyObject, more through a
 * multipart upload of UploadPartCopy parts completed only after every
 * part's ETag was checked, and checks the whole object's ETag
 * (MD5-of-MD5s-N). Until then nothing is under sha256/; a failed publish
 * aborts its multipart upload; the tmp/ parts are deleted either way.
 * What a crash leaves (tmp/ objects, multipart uploads under sha256/) is
 * found by listing and removed by purge_tmp.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#include "objstore.h"
#include "rain/error.h"
#include "rain/sys/blob.h"
#include "util/base64.h"
#include "util/cleanup.h"
#include "util/strutil.h"
#include "util/timeutil.h"

struct s3_store {
	struct objstore os;  /* first: impl points to it */
	char *base;          /* http[s]://HOST/BUCKET */
	char *sigv4;         /* aws:amz:REGION:s3 */
	char *access;
	char *secret;
};

/* Percent-encode a query value as SigV4 wants it (all but A-Za-z0-9-_.~). */
static char *query_encode(const char *v)
{
	char *out = malloc(3 * strlen(v) + 1), *o = out;

	if (!out)
		return NULL;
	for (; *v; v++) {
		unsigned char ch = (unsigned char)*v;

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    strchr("-_.~", ch))
			*o++ = (char)ch;
		else
			o += sprintf(o, "%%%02X", ch);
	}
	*o = '\0';
	return out;
}

/* Send method on key (NULL: the bucket) with query (sorted by key, each
 * value encoded: SigV4 signs it as it stands), or NULL. rq's body, dst
 * and headers are the caller's. */
static int s3_call(struct objstore *os, struct objstore_req *rq, const char *method,
		   const char *key, const char *query, const char *w)
{
	struct s3_store *s = (struct s3_store *)os;
	_cleanup_free_ char *url = NULL;
	int r;

	if (asprintf(&url, "%s%s%s%s%s", s->base, key ? "/" : "", key ? key : "",
		     query ? "?" : "", query ? query : "") < 0)
		return rain_error_oom();
	/* libcurl signs the body's hash but sends no header with it */
	{
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int n = 0;
		char hex[65];

		EVP_Digest(rq->body ? rq->body : "", rq->body_len, md, &n, EVP_sha256(), NULL);
		hex_encode(md, n, hex);
		if ((r = objstore_req_header(rq, "x-amz-content-sha256: %s", hex)) < 0)
			return r;
	}
	rq->method = method;
	rq->url = url;
	rq->sigv4 = s->sigv4;
	rq->user = s->access;
	rq->password = s->secret;
	r = objstore_perform(&os->pool, rq, w);
	rq->url = NULL;
	return r;
}

/* S3 checks a body against Content-MD5 (base64 of the digest). */
static int md5_header(struct objstore_req *rq, const char *md5hex)
{
	unsigned char md5[16];
	_cleanup_free_ char *b64 = NULL;

	for (int i = 0; i < 16; i++)
		sscanf(md5hex + 2 * i, "%2hhx", &md5[i]);
	b64 = base64_encode(md5, sizeof(md5));
	if (!b64)
		return rain_error_oom();
	return objstore_req_header(rq, "Content-MD5: %s", b64);
}

/* The text of the first element named name in an XML document. */
static char *xml_first(const char *doc, size_t len, const char *name)
{
	xmlDocPtr x = xmlReadMemory(doc, (int)len, "s3.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR |
				    XML_PARSE_NOWARNING);
	xmlNodePtr n;
	char *out = NULL;

	if (!x)
		return NULL;
	for (n = xmlDocGetRootElement(x); n && !out;) {
		if (n->type == XML_ELEMENT_NODE && !xmlStrcmp(n->name, BAD_CAST name)) {
			xmlChar *t = xmlNodeGetContent(n);

			out = strdup(t ? (const char *)t : "");
			xmlFree(t);
			break;
		}
		/* depth first */
		if (n->children) {
			n = n->children;
			continue;
		}
		while (n && !n->next)
			n = n->parent;
		if (n)
			n = n->next;
	}
	xmlFreeDoc(x);
	return out;
}

/* Call cb with the text of child a (and b, or NULL) of every element
 * named parent. */
static int xml_each(const char *doc, size_t len, const char *parent, const char *a, const char *b,
		    const char *c, int (*cb)(void *ud, const char *a, const char *b, const char *c),
		    void *ud)
{
	xmlDocPtr x = xmlReadMemory(doc, (int)len, "s3.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR |
				    XML_PARSE_NOWARNING);
	xmlNodePtr root, n;
	int r = 0;

	if (!x)
		return rain_error_set(RAIN_EIO, "the S3 store's listing is not XML");
	root = xmlDocGetRootElement(x);
	for (n = root ? root->children : NULL; n && r == 0; n = n->next) {
		xmlChar *ta = NULL, *tb = NULL, *tc = NULL;

		if (n->type != XML_ELEMENT_NODE || xmlStrcmp(n->name, BAD_CAST parent))
			continue;
		for (xmlNodePtr ch = n->children; ch; ch = ch->next) {
			if (ch->type != XML_ELEMENT_NODE)
				continue;
			if (!ta && !xmlStrcmp(ch->name, BAD_CAST a))
				ta = xmlNodeGetContent(ch);
			else if (b && !tb && !xmlStrcmp(ch->name, BAD_CAST b))
				tb = xmlNodeGetContent(ch);
			else if (c && !tc && !xmlStrcmp(ch->name, BAD_CAST c))
				tc = xmlNodeGetContent(ch);
		}
		/* a and b required; c passed when there (else NULL) */
		if (ta && (!b || tb))
			r = cb(ud, (const char *)ta, (const char *)tb, (const char *)tc);
		xmlFree(ta);
		xmlFree(tb);
		xmlFree(tc);
	}
	xmlFreeDoc(x);
	return r;
}

/* An ETag as a listing or copy result gives it, without quotes. */
static void etag_clean(const char *in, char *out, size_t size)
{
	size_t n;

	if (*in == '"')
		in++;
	snprintf(out, size, "%s", in);
	n = strlen(out);
	if (n && out[n - 1] == '"')
		out[n - 1] = '\0';
}

static void s3_close(void *impl)
{
	struct s3_store *s = impl;

	objstore_uri_free(&s->os.u);
	free(s->base);
	free(s->sigv4);
	str_free_secret(s->access);
	str_free_secret(s->secret);
	objstore_pool_free(&s->os.pool);
	free(s);
}

static int s3_open(const char *location, void **impl)
{
	static const char *const keys[] = { "access_key", "secret_key", NULL };
	struct s3_store *s = calloc(1, sizeof(*s));
	char *cred[2] = { NULL, NULL };
	long status = 0;
	int r;

	if (!s)
		return rain_error_oom();
	s->os = (struct objstore){ .kind = "s3 store", .bucket_word = "bucket", .tmp_prefix = "tmp",
				   .call = s3_call, .md5_header = md5_header };
	objstore_pool_init(&s->os.pool);
	r = objstore_uri_parse("s3", location, &s->os.u);
	if (r < 0)
		goto fail;
	if (!s->os.u.credentials) {
		r = rain_error_set(RAIN_EINVAL, "blob store 's3:%s': no credentials=FILE (a file of "
				   "mode 0600 with access_key = ... and secret_key = ...)", location);
		goto fail;
	}
	r = objstore_cred_read(s->os.u.credentials, keys, cred);
	if (r < 0)
		goto fail;
	if (!cred[0] || !cred[1]) {
		r = rain_error_set(RAIN_EINVAL, "the credentials file %s needs access_key and "
				   "secret_key", s->os.u.credentials);
		goto fail;
	}
	s->access = cred[0];
	s->secret = cred[1];
	cred[0] = cred[1] = NULL;
	if (asprintf(&s->base, "%s://%s/%s", s->os.u.tls ? "https" : "http", s->os.u.host,
		     s->os.u.bucket) < 0 ||
	    asprintf(&s->sigv4, "aws:amz:%s:s3", s->os.u.region ? s->os.u.region : "us-east-1") < 0) {
		s->base = s->sigv4 = NULL;
		r = rain_error_oom();
		goto fail;
	}
	r = objstore_simple(&s->os, "HEAD", NULL, NULL, true, &status);
	if (r == 0 && status == 404)
		r = objstore_simple(&s->os, "PUT", NULL, NULL, false, NULL);
	if (r < 0) {
		r = rain_error_set(r, "%s (is the store up and the bucket yours?)", rain_error_last());
		goto fail;
	}
	*impl = s;
	return 0;
fail:
	str_free_secret(cred[0]);
	str_free_secret(cred[1]);
	s3_close(s);
	return r;
}

/* Copy part n of t to key: as a whole object (upload NULL) or as part n
 * of a multipart upload; the copy's ETag must be the part's MD5. */
static int copy_part(struct s3_store *s, struct objstore_tmp *t, unsigned int n, const char *key,
		     const char *upload)
{
	struct objstore_req rq = { 0 };
	_cleanup_free_ char *query = NULL, *enc = NULL, *etag = NULL;
	char part[64], w[256], clean[80];
	int r;

	objstore_what(&s->os, key, w, sizeof(w));
	objstore_part_key(t, n, part, sizeof(part));
	if (upload) {
		enc = query_encode(upload);
		if (!enc || asprintf(&query, "partNumber=%u&uploadId=%s", n, enc) < 0) {
			query = NULL;
			return rain_error_oom();
		}
	}
	r = objstore_req_header(&rq, "x-amz-copy-source: /%s/%s", s->os.u.bucket, part);
	if (r == 0)
		r = s3_call(&s->os, &rq, "PUT", key, query, w);
	/* a copy can fail after its 200 has been sent: the body says */
	if (r == 0 && (rq.status != 200 || !rq.resp || strstr(rq.resp, "<Error>")))
		r = objstore_http_error(&rq, w);
	if (r == 0) {
		etag = xml_first(rq.resp, rq.resp_len, "ETag");
		etag_clean(etag ? etag : "", clean, sizeof(clean));
		if (strcmp(clean, t->md5[n - 1]))
			r = rain_error_set(RAIN_EIO, "%s: the copy of %s has ETag '%s', not its MD5 %s",
					   w, part, clean, t->md5[n - 1]);
	}
	objstore_req_free(&rq);
	return r;
}

/* The ETag S3 gives a multipart object: MD5 of the parts' MD5s, "-N". */
static void multipart_etag(const struct objstore_tmp *t, char *out, size_t size)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[16], all[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char hex[33];

	EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
	for (unsigned int i = 0; i < t->nparts; i++) {
		for (int j = 0; j < 16; j++)
			sscanf(t->md5[i] + 2 * j, "%2hhx", &md[j]);
		EVP_DigestUpdate(ctx, md, sizeof(md));
	}
	EVP_DigestFinal_ex(ctx, all, &n);
	EVP_MD_CTX_free(ctx);
	hex_encode(all, n, hex);
	snprintf(out, size, "%s-%u", hex, t->nparts);
}

static int publish_multipart(struct s3_store *s, struct objstore_tmp *t, const char *key)
{
	struct objstore_req rq = { 0 };
	_cleanup_free_ char *upload = NULL, *enc = NULL, *query = NULL, *body = NULL,
		*etag = NULL;
	char w[256], want[80], clean[80];
	size_t len = 0, cap;
	int r;

	objstore_what(&s->os, key, w, sizeof(w));
	r = s3_call(&s->os, &rq, "POST", key, "uploads=", w);
	if (r == 0 && rq.status != 200)
		r = objstore_http_error(&rq, w);
	if (r == 0 && !(upload = xml_first(rq.resp, rq.resp_len, "UploadId")))
		r = rain_error_set(RAIN_EIO, "%s: no UploadId in the answer to CreateMultipartUpload",
				   w);
	objstore_req_free(&rq);
	if (r < 0)
		return r;
	enc = query_encode(upload);
	if (!enc || asprintf(&query, "uploadId=%s", enc) < 0) {
		query = NULL;
		r = rain_error_oom();
		goto abort;
	}
	for (unsigned int n = 1; n <= t->nparts && r == 0; n++)
		r = copy_part(s, t, n, key, upload);
	if (r < 0)
		goto abort;
	cap = 128 + (size_t)t->nparts * 96;
	body = malloc(cap);
	if (!body) {
		r = rain_error_oom();
		goto abort;
	}
	len += (size_t)snprintf(body + len, cap - len, "<CompleteMultipartUpload>");
	for (unsigned int n = 1; n <= t->nparts; n++)
		len += (size_t)snprintf(body + len, cap - len, "<Part><PartNumber>%u</PartNumber>"
					"<ETag>\"%s\"</ETag></Part>", n, t->md5[n - 1]);
	len += (size_t)snprintf(body + len, cap - len, "</CompleteMultipartUpload>");
	rq.body = body;
	rq.body_len = len;
	r = objstore_req_header(&rq, "Content-Type: application/xml");
	if (r == 0)
		r = s3_call(&s->os, &rq, "POST", key, query, w);
	if (r == 0 && (rq.status != 200 || !rq.resp || strstr(rq.resp, "<Error>")))
		r = objstore_http_error(&rq, w);
	if (r == 0) {
		etag = xml_first(rq.resp, rq.resp_len, "ETag");
		etag_clean(etag ? etag : "", clean, sizeof(clean));
		multipart_etag(t, want, sizeof(want));
		if (strcmp(clean, want))
			r = rain_error_set(RAIN_EIO, "%s: completed with ETag '%s', not %s",
					   w, clean, want);
	}
	objstore_req_free(&rq);
	if (r == 0)
		return 0;
abort:
	{
		/* keep the first error's message over the abort's */
		_cleanup_free_ char *msg = strdup(rain_error_last());

		objstore_simple(&s->os, "DELETE", key, query, true, NULL);
		rain_error_set(r, "%s", msg ? msg : "multipart upload failed");
		return r;
	}
}

static int s3_tmp_publish(void *impl, void *tmp, const char *sha256)
{
	struct s3_store *s = impl;
	struct objstore_tmp *t = tmp;
	char key[80];
	long status = 0;
	int r;

	snprintf(key, sizeof(key), "sha256/%s", sha256);
	r = objstore_tmp_flush(&s->os, t);
	if (r == 0)
		r = objstore_simple(&s->os, "HEAD", key, NULL, true, &status);
	if (r == 0 && status == 404) {
		if (t->nparts == 0) {
			struct objstore_req rq = { .body = "", .body_len = 0 };
			char w[256];

			objstore_what(&s->os, key, w, sizeof(w));
			r = objstore_req_header(&rq, "Content-MD5: 1B2M2Y8AsgTpgAmY7PhCfg==");
			if (r == 0)
				r = s3_call(&s->os, &rq, "PUT", key, NULL, w);
			if (r == 0 && rq.status / 100 != 2)
				r = objstore_http_error(&rq, w);
			objstore_req_free(&rq);
		} else if (t->nparts == 1) {
			r = copy_part(s, t, 1, key, NULL);
		} else {
			r = publish_multipart(s, t, key);
		}
	}
	/* the parts go whether or not the blob is in place */
	if (r < 0) {
		_cleanup_free_ char *msg = strdup(rain_error_last());

		objstore_tmp_drop(&s->os, t, true);
		/* a part gone missing under us is the store's failure, not a
		 * missing image */
		if (r == RAIN_ENOTFOUND)
			r = RAIN_EIO;
		rain_error_set(r, "%s", msg ? msg : "cannot publish the blob");
		return r;
	}
	objstore_tmp_drop(&s->os, t, true);
	return 0;
}

static int s3_remove(void *impl, const char *sha256)
{
	char key[80];

	snprintf(key, sizeof(key), "sha256/%s", sha256);
	return objstore_simple(impl, "DELETE", key, NULL, true, NULL);
}

/* Call cb for every key under prefix (ListObjectsV2, page by page). */
/* Call cb with every key under prefix, and its LastModified when
 * modified (else NULL), page by page. */
static int list_keys(struct s3_store *s, const char *prefix, bool modified,
		     int (*cb)(void *ud, const char *key, const char *unused, const char *modified),
		     void *ud)
{
	_cleanup_free_ char *token = NULL, *enc_prefix = query_encode(prefix);
	char w[256];
	int r = 0;

	if (!enc_prefix)
		return rain_error_oom();
	objstore_what(&s->os, NULL, w, sizeof(w));
	do {
		struct objstore_req rq = { 0 };
		_cleanup_free_ char *query = NULL, *enc = NULL, *truncated = NULL;

		if (token && !(enc = query_encode(token)))
			return rain_error_oom();
		if (asprintf(&query, "%s%s%slist-type=2&prefix=%s", enc ? "continuation-token=" : "",
			     enc ? enc : "", enc ? "&" : "", enc_prefix) < 0) {
			query = NULL;
			return rain_error_oom();
		}
		r = s3_call(&s->os, &rq, "GET", NULL, query, w);
		if (r == 0 && rq.status != 200)
			r = objstore_http_error(&rq, w);
		if (r == 0)
			r = xml_each(rq.resp, rq.resp_len, "Contents", "Key", NULL,
				     modified ? "LastModified" : NULL, cb, ud);
		free(token);
		token = NULL;
		if (r == 0) {
			truncated = xml_first(rq.resp, rq.resp_len, "IsTruncated");
			if (truncated && !strcmp(truncated, "true"))
				token = xml_first(rq.resp, rq.resp_len, "NextContinuationToken");
		}
		objstore_req_free(&rq);
	} while (r == 0 && token);
	return r;
}

static int list_one(void *ud, const char *key, const char *unused, const char *unused2)
{
	return objstore_list_key(ud, key);
}

static int s3_list(void *impl, int (*cb)(void *ud, const char *sha256), void *ud)
{
	struct objstore_list l = { cb, ud };

	return list_keys(impl, "sha256/", false, list_one, &l);
}

/* purge_tmp's view of tmp/: the keys of one upload at a time (the
 * listing is sorted), removed together when none is newer than before. */
struct purge_ctx {
	struct s3_store *s;
	int64_t before;
	char id[33];          /* the upload whose keys are in keys */
	char **keys;
	size_t n;
	bool fresh;           /* one of them was written since before */
	int64_t removed;
};

static int purge_flush(struct purge_ctx *p)
{
	int r = 0;

	if (p->n && !p->fresh) {
		for (size_t i = 0; i < p->n && r == 0; i++)
			r = objstore_simple(&p->s->os, "DELETE", p->keys[i], NULL, true, NULL);
		p->removed++;
	}
	strv_free(p->keys, p->n);
	p->keys = NULL;
	p->n = 0;
	p->fresh = false;
	return r;
}

/* Whether an S3 time (2026-12-07T18:30:00.000Z) is at or after before;
 * one that does not parse counts as fresh (kept). */
static bool is_fresh(const char *when, int64_t before)
{
	int64_t us;

	if (before == INT64_MAX)
		return false;
	return !when || time_parse_iso(when, &us) < 0 || us >= before;
}

static int purge_one(void *ud, const char *key, const char *unused, const char *modified)
{
	struct purge_ctx *p = ud;
	char id[33];
	int r;

	if (!objstore_tmp_key_id("tmp", key, id))
		return 0;
	if (strcmp(p->id, id)) {
		if ((r = purge_flush(p)) < 0)
			return r;
		memcpy(p->id, id, sizeof(id));
	}
	if (is_fresh(modified, p->before))
		p->fresh = true;
	return strv_add(&p->keys, &p->n, key);
}

static int abort_one(void *ud, const char *key, const char *upload, const char *initiated)
{
	struct purge_ctx *p = ud;
	_cleanup_free_ char *enc = NULL, *query = NULL;

	/* a publish under way on another raind started since before */
	if (!objstore_key_hash(key) || is_fresh(initiated, p->before))
		return 0;
	enc = query_encode(upload);
	if (!enc || asprintf(&query, "uploadId=%s", enc) < 0) {
		query = NULL;
		return rain_error_oom();
	}
	p->removed++;
	return objstore_simple(&p->s->os, "DELETE", key, query, true, NULL);
}

static int s3_purge_tmp(void *impl, int64_t before_us, int64_t *removed)
{
	struct s3_store *s = impl;
	struct purge_ctx p = { .s = s, .before = before_us };
	struct objstore_req rq = { 0 };
	char w[256];
	int r;

	*removed = 0;
	r = list_keys(s, "tmp/", true, purge_one, &p);
	if (r == 0)
		r = purge_flush(&p);
	strv_free(p.keys, p.n);
	if (r < 0)
		return r;
	/* multipart uploads of publishes that never finished */
	objstore_what(&s->os, NULL, w, sizeof(w));
	r = s3_call(&s->os, &rq, "GET", NULL, "prefix=sha256%2F&uploads=", w);
	if (r == 0 && rq.status != 200)
		r = objstore_http_error(&rq, w);
	if (r == 0)
		r = xml_each(rq.resp, rq.resp_len, "Upload", "Key", "UploadId", "Initiated", abort_one,
				     &p);
	objstore_req_free(&rq);
	*removed = p.removed;
	return r;
}

const struct rain_blob_backend rain_blob_s3 = {
	.version = RAIN_BLOB_BACKEND_VERSION,
	.name = "s3",
	.open = s3_open,
	.close = s3_close,
	.tmp_create = objstore_tmp_create,
	.tmp_write = objstore_tmp_write,
	.tmp_read = objstore_tmp_read,
	.tmp_sync = objstore_tmp_sync,
	.tmp_publish = s3_tmp_publish,
	.tmp_discard = objstore_tmp_discard,
	.read_open = objstore_read_open,
	.read = objstore_read,
	.read_close = objstore_read_close,
	.exists = objstore_exists,
	.remove = s3_remove,
	.list = s3_list,
	.purge_tmp = s3_purge_tmp,
};
