/* What the object store blob backends share (see objstore.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "objstore.h"
#include "rain/error.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/ini.h"
#include "util/strutil.h"

#define RESP_MAX (16u << 20)

/* Keys a URI's query must never carry: credentials go in a file. */
static const char *const secret_keys[] = {
	"access_key", "secret_key", "secret", "key", "password", "token", "user", NULL,
};

static int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	if (*end)
		return -1;
	*out = (size_t)v;
	return 0;
}

int objstore_uri_parse(const char *scheme, const char *location, struct objstore_uri *u)
{
	_cleanup_free_ char *copy = NULL;
	char *p, *slash, *query, *save = NULL;
	int r = 0;

	memset(u, 0, sizeof(*u));
	u->tls = true;
	u->part_size = OBJSTORE_DEFAULT_PART;
	if (strncmp(location, "//", 2))
		return rain_error_set(RAIN_EINVAL, "blob store '%s:%s': expected %s://HOST[:PORT]/"
				      "BUCKET[?credentials=FILE&...]", scheme, location, scheme);
	copy = strdup(location + 2);
	if (!copy)
		return rain_error_oom();
	query = strchr(copy, '?');
	if (query)
		*query++ = '\0';
	slash = strchr(copy, '/');
	if (strchr(copy, '@'))
		return rain_error_set(RAIN_EINVAL, "blob store '%s:': credentials do not go in the URI; "
				      "name a file readable only by raind's user with credentials=FILE",
				      scheme);
	if (!slash || slash == copy || !slash[1] || strchr(slash + 1, '/'))
		return rain_error_set(RAIN_EINVAL, "blob store '%s:%s': expected %s://HOST[:PORT]/"
				      "BUCKET (one bucket name, no further path)", scheme,
				      location, scheme);
	*slash = '\0';
	for (p = slash + 1; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("-_.", *p))
			return rain_error_set(RAIN_EINVAL, "blob store '%s:': the bucket name '%s' "
					      "may hold only letters, digits, '-', '_' and '.'",
					      scheme, slash + 1);
	for (p = copy; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("-.:[]", *p))
			return rain_error_set(RAIN_EINVAL, "blob store '%s:': '%s' is not a host "
					      "name or address with an optional port", scheme, copy);
	u->host = strdup(copy);
	u->bucket = strdup(slash + 1);
	if (!u->host || !u->bucket)
		goto oom;
	for (char *kv = query ? strtok_r(query, "&", &save) : NULL; kv;
	     kv = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(kv, '=');
		_cleanup_free_ char *value = NULL;

		if (!eq) {
			r = rain_error_set(RAIN_EINVAL, "blob store '%s:': '%s' in the query is not "
					   "key=value", scheme, kv);
			goto fail;
		}
		*eq = '\0';
		if (str_in_list(secret_keys, kv)) {
			r = rain_error_set(RAIN_EINVAL, "blob store '%s:': credentials do not go in the "
					   "URI ('%s='); name a file readable only by raind's user "
					   "with credentials=FILE", scheme, kv);
			goto fail;
		}
		value = str_url_decode(eq + 1);
		if (!value || !*value) {
			r = rain_error_set(RAIN_EINVAL, "blob store '%s:': '%s=' needs a value",
					   scheme, kv);
			goto fail;
		}
		if (!strcmp(kv, "region")) {
			free(u->region);
			u->region = value;
			value = NULL;
		} else if (!strcmp(kv, "credentials")) {
			free(u->credentials);
			u->credentials = value;
			value = NULL;
		} else if (!strcmp(kv, "tls")) {
			if (str_to_bool(value, &u->tls) < 0) {
				r = rain_error_set(RAIN_EINVAL, "blob store '%s:': tls=%s is not "
						   "yes or no", scheme, value);
				goto fail;
			}
		} else if (!strcmp(kv, "part_size")) {
			if (parse_size(value, &u->part_size) < 0 || u->part_size < OBJSTORE_MIN_PART ||
			    u->part_size > OBJSTORE_MAX_PART) {
				r = rain_error_set(RAIN_EINVAL, "blob store '%s:': part_size=%s is not "
						   "a size from 5M to 512M", scheme, value);
				goto fail;
			}
		} else {
			r = rain_error_set(RAIN_EINVAL, "blob store '%s:': unknown setting '%s' (known: "
					   "region, credentials, tls, part_size)", scheme, kv);
			goto fail;
		}
	}
	return 0;
oom:
	r = rain_error_oom();
fail:
	objstore_uri_free(u);
	return r;
}

void objstore_uri_free(struct objstore_uri *u)
{
	free(u->host);
	free(u->bucket);
	free(u->region);
	free(u->credentials);
	memset(u, 0, sizeof(*u));
}

struct cred_ctx {
	const char *const *keys;
	char **values;
};

static int cred_one(void *ud, const char *file, int line, const char *section, const char *key,
		    const char *value)
{
	struct cred_ctx *c = ud;

	for (size_t i = 0; c->keys[i]; i++) {
		if (strcmp(c->keys[i], key))
			continue;
		str_free_secret(c->values[i]);
		c->values[i] = strdup(value);
		return c->values[i] ? 0 : rain_error_oom();
	}
	return rain_error_set(RAIN_EINVAL, "%s:%d: unknown key '%s'", file, line, key);
}

int objstore_cred_read(const char *path, const char *const *keys, char **values)
{
	struct cred_ctx c = { keys, values };
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *text = NULL;
	struct stat st;
	size_t len;
	int r;

	for (size_t i = 0; keys[i]; i++)
		values[i] = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return rain_error_errno(errno == ENOENT ? RAIN_ENOTFOUND : RAIN_EIO, errno,
					"cannot open the credentials file %s", path);
	if (fstat(fd, &st) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot stat %s", path);
	if (!S_ISREG(st.st_mode))
		return rain_error_set(RAIN_EINVAL, "the credentials file %s is not a regular file",
				      path);
	if (st.st_mode & 077)
		return rain_error_set(RAIN_EFORBIDDEN, "the credentials file %s has mode %04o: make "
				      "it readable by its owner only (chmod 600)", path,
				      (unsigned)(st.st_mode & 07777));
	r = fs_read_small_fd(fd, 65536, path, &text, &len);
	if (r < 0)
		return r;
	r = ini_parse_string(text, path, cred_one, &c);
	explicit_bzero(text, len);
	if (r < 0)
		for (size_t i = 0; keys[i]; i++) {
			str_free_secret(values[i]);
			values[i] = NULL;
		}
	return r;
}

void objstore_pool_init(struct objstore_pool *p)
{
	pthread_mutex_init(&p->lock, NULL);
	p->nidle = 0;
}

void objstore_pool_free(struct objstore_pool *p)
{
	for (size_t i = 0; i < p->nidle; i++)
		curl_easy_cleanup(p->idle[i]);
	p->nidle = 0;
	pthread_mutex_destroy(&p->lock);
}

static CURL *pool_take(struct objstore_pool *p)
{
	CURL *c = NULL;

	pthread_mutex_lock(&p->lock);
	if (p->nidle)
		c = p->idle[--p->nidle];
	pthread_mutex_unlock(&p->lock);
	if (c)
		curl_easy_reset(c);
	else
		c = curl_easy_init();
	return c;
}

static void pool_give(struct objstore_pool *p, CURL *c)
{
	pthread_mutex_lock(&p->lock);
	if (p->nidle < sizeof(p->idle) / sizeof(p->idle[0])) {
		p->idle[p->nidle++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	if (c)
		curl_easy_cleanup(c);
}

int objstore_req_header(struct objstore_req *rq, const char *fmt, ...)
{
	_cleanup_free_ char *line = NULL;
	struct curl_slist *l;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n < 0) {
		line = NULL;
		return rain_error_oom();
	}
	l = curl_slist_append(rq->headers, line);
	if (!l)
		return rain_error_oom();
	rq->headers = l;
	return 0;
}

static size_t on_write(char *data, size_t size, size_t n, void *ud)
{
	struct objstore_req *rq = ud;
	size_t len = size * n;
	char *grown;

	if (rq->dst && rq->status / 100 == 2) {
		if (len > rq->dst_cap - rq->dst_len) {
			rq->overflow = true;
			return 0;
		}
		memcpy((char *)rq->dst + rq->dst_len, data, len);
		rq->dst_len += len;
		return len;
	}
	if (len > RESP_MAX - rq->resp_len) {
		rq->overflow = true;
		return 0;
	}
	grown = realloc(rq->resp, rq->resp_len + len + 1);
	if (!grown)
		return 0;
	rq->resp = grown;
	memcpy(rq->resp + rq->resp_len, data, len);
	rq->resp_len += len;
	rq->resp[rq->resp_len] = '\0';
	return len;
}

/* The value of a header line if its name is name (case-insensitive). */
static char *header_value(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);

	if (len <= n || strncasecmp(line, name, n) || line[n] != ':')
		return NULL;
	line += n + 1;
	len -= n + 1;
	while (len && (*line == ' ' || *line == '\t'))
		line++, len--;
	while (len && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
		len--;
	return strndup(line, len);
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
	struct objstore_req *rq = ud;
	size_t len = size * n;
	char *v;

	if (len > 5 && !strncmp(data, "HTTP/", 5)) {
		/* a new response (after a 100 or a redirect): the status is
		 * read from curl at the end; forget the earlier headers */
		rq->etag[0] = '\0';
		rq->content_length = -1;
		const char *sp = memchr(data, ' ', len);

		rq->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		return len;
	}
	if ((v = header_value(data, len, "etag"))) {
		char *e = v;
		size_t el;

		if (*e == '"')
			e++;
		el = strlen(e);
		if (el && e[el - 1] == '"')
			e[--el] = '\0';
		snprintf(rq->etag, sizeof(rq->etag), "%s", e);
		free(v);
	} else if ((v = header_value(data, len, "content-length"))) {
		int64_t cl;

		rq->content_length = str_to_i64(v, &cl) == 0 ? cl : -1;
		free(v);
	} else if ((v = header_value(data, len, "x-auth-token")) ||
		   (v = header_value(data, len, "x-subject-token"))) {
		str_free_secret(rq->token);
		rq->token = v;
	} else if ((v = header_value(data, len, "x-static-large-object"))) {
		rq->slo = !strcasecmp(v, "true");
		free(v);
	} else if ((v = header_value(data, len, "x-storage-url"))) {
		free(rq->storage_url);
		rq->storage_url = v;
	}
	return len;
}

static bool curl_slist_has(const struct curl_slist *l, const char *prefix)
{
	for (; l; l = l->next)
		if (!strncasecmp(l->data, prefix, strlen(prefix)))
			return true;
	return false;
}

int objstore_perform(struct objstore_pool *p, struct objstore_req *rq, const char *what)
{
	struct curl_slist extra = { (char *)rq->auth_header, NULL };
	CURL *c = pool_take(p);
	CURLcode cc;
	long code = 0;
	int r;

	rq->status = 0;
	rq->dst_len = 0;
	rq->resp_len = 0;
	rq->overflow = false;
	rq->etag[0] = '\0';
	rq->content_length = -1;
	rq->slo = false;
	rq->curl_error[0] = '\0';
	if (!c)
		return rain_error_oom();
	/* no 100-continue round trip (but for SigV4, which would sign the
	 * empty header as if it were sent); a body is not a form */
	if ((!rq->sigv4 && (r = objstore_req_header(rq, "Expect:")) < 0) ||
	    (rq->body && !curl_slist_has(rq->headers, "content-type:") &&
	     (r = objstore_req_header(rq, "Content-Type: application/octet-stream")) < 0)) {
		pool_give(p, c);
		return r;
	}
	curl_easy_setopt(c, CURLOPT_URL, rq->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
	/* a stalled server: under 1 byte/s for 2 minutes */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 120L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, rq->curl_error);
	/* the extra line is on the stack, in front of the kept ones */
	extra.next = rq->headers;
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, rq->auth_header ? &extra : rq->headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, rq);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, rq);
	if (rq->sigv4) {
		curl_easy_setopt(c, CURLOPT_AWS_SIGV4, rq->sigv4);
		/* not USERPWD: an access key may hold a ':' (Swift's test:tester) */
		curl_easy_setopt(c, CURLOPT_USERNAME, rq->user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, rq->password);
	}
	if (!strcmp(rq->method, "HEAD")) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(rq->method, "PUT") || !strcmp(rq->method, "POST")) {
		/* from memory: libcurl's SigV4 signs the hash of POSTFIELDS */
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body ? (const char *)rq->body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
		if (!strcmp(rq->method, "PUT"))
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
	} else if (strcmp(rq->method, "GET")) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->method);
	}
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	rq->status = code;
	pool_give(p, c);
	if (cc == CURLE_WRITE_ERROR && rq->overflow)
		return rain_error_set(RAIN_EIO, "%s: the answer to %s is longer than asked for",
				      what, rq->method);
	if (cc != CURLE_OK) {
		/* the connection broke: nothing in rq can be trusted */
		rq->status = 0;
		return rain_error_set(cc == CURLE_OPERATION_TIMEDOUT ? RAIN_ETIMEDOUT : RAIN_ENET,
				      "%s: %s failed: %s", what, rq->method,
				      rq->curl_error[0] ? rq->curl_error : curl_easy_strerror(cc));
	}
	return 0;
}

void objstore_req_free(struct objstore_req *rq)
{
	curl_slist_free_all(rq->headers);
	rq->headers = NULL;
	free(rq->resp);
	rq->resp = NULL;
	str_free_secret(rq->token);
	rq->token = NULL;
	free(rq->storage_url);
	rq->storage_url = NULL;
}

/* The text of <tag> in an S3 error document, into out. */
static void xml_field(const char *doc, const char *tag, char *out, size_t size)
{
	char open[32], close[32];
	const char *a, *b;

	out[0] = '\0';
	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	a = strstr(doc, open);
	if (!a)
		return;
	a += strlen(open);
	b = strstr(a, close);
	if (b)
		snprintf(out, size, "%.*s", (int)(b - a), a);
}

int objstore_http_error(const struct objstore_req *rq, const char *what)
{
	char detail[256] = "", code[64], msg[160];
	int e;

	switch (rq->status) {
	case 404: e = RAIN_ENOTFOUND; break;
	case 401: case 403: e = RAIN_EAUTH; break;
	case 413: e = RAIN_ETOOBIG; break;
	case 507: e = RAIN_ENOSPC; break;
	default: e = RAIN_EIO; break;
	}
	if (rq->resp && rq->resp_len) {
		xml_field(rq->resp, "Code", code, sizeof(code));
		xml_field(rq->resp, "Message", msg, sizeof(msg));
		if (code[0])
			snprintf(detail, sizeof(detail), ": %s%s%s", code, msg[0] ? ", " : "", msg);
		else {
			size_t n = 0;

			/* the start of a text or HTML body, printable only */
			detail[n++] = ':';
			detail[n++] = ' ';
			for (const char *s = rq->resp; *s && n < 120; s++)
				if (isprint((unsigned char)*s) && *s != '<')
					detail[n++] = *s;
				else if (*s == '<')
					while (s[1] && *s != '>')
						s++;
			detail[n] = '\0';
		}
	}
	return rain_error_set(e, "%s: %s answered HTTP %ld%s%s", what, rq->method, rq->status,
			      e == RAIN_EAUTH ? " (access denied: check the credentials)" : "",
			      detail);
}

void objstore_md5_hex(const void *data, size_t len, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_Digest(data, len, md, &n, EVP_md5(), NULL);
	hex_encode(md, n, out);
}

void objstore_what(const struct objstore *os, const char *key, char *out, size_t size)
{
	if (key)
		snprintf(out, size, "%s %s, %s '%s', object '%s'", os->kind, os->u.host,
			 os->bucket_word, os->u.bucket, key);
	else
		snprintf(out, size, "%s %s, %s '%s'", os->kind, os->u.host, os->bucket_word,
			 os->u.bucket);
}

int objstore_simple(struct objstore *os, const char *method, const char *key, const char *query,
		    bool ok404, long *status)
{
	struct objstore_req rq = { 0 };
	char w[256];
	int r;

	objstore_what(os, key, w, sizeof(w));
	r = os->call(os, &rq, method, key, query, w);
	if (r == 0 && rq.status / 100 != 2 && !(ok404 && rq.status == 404))
		r = objstore_http_error(&rq, w);
	if (status)
		*status = rq.status;
	objstore_req_free(&rq);
	return r;
}

ssize_t objstore_fetch(struct objstore *os, const char *key, int64_t off, void *buf, size_t len)
{
	struct objstore_req rq = { .dst = buf, .dst_cap = len };
	char w[256];
	ssize_t r;

	if (len == 0)
		return 0;
	objstore_what(os, key, w, sizeof(w));
	r = objstore_req_header(&rq, "Range: bytes=%lld-%lld", (long long)off,
				(long long)off + (long long)len - 1);
	if (r == 0)
		r = os->call(os, &rq, "GET", key, NULL, w);
	if (r == 0 && rq.status != 206 && !(rq.status == 200 && off == 0))
		r = rq.status == 416 ? 0 : objstore_http_error(&rq, w);
	if (r == 0)
		r = (ssize_t)rq.dst_len;
	objstore_req_free(&rq);
	return r;
}

/* Store part n of t: len bytes whose MD5 is md5hex, checked by the store
 * (md5_header) and against the ETag it answers. */
static int part_put(struct objstore *os, struct objstore_tmp *t, unsigned int n, const void *buf,
		    size_t len, const char *md5hex)
{
	struct objstore_req rq = { .body = buf, .body_len = len };
	char key[96], w[256];
	int r;

	objstore_part_key(t, n, key, sizeof(key));
	objstore_what(os, key, w, sizeof(w));
	r = os->md5_header(&rq, md5hex);
	if (r == 0)
		r = os->call(os, &rq, "PUT", key, NULL, w);
	if (r == 0 && rq.status / 100 != 2)
		r = objstore_http_error(&rq, w);
	if (r == 0 && strcmp(rq.etag, md5hex))
		r = rain_error_set(RAIN_EIO, "%s: stored with ETag '%s', not the MD5 %s of what "
				   "was sent", w, rq.etag, md5hex);
	objstore_req_free(&rq);
	return r;
}

int objstore_tmp_create(void *impl, void **tmp)
{
	struct objstore *os = impl;
	struct objstore_tmp *t = calloc(1, sizeof(*t));
	unsigned char rnd[16];

	if (!t)
		return rain_error_oom();
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		free(t);
		return rain_error_errno(RAIN_EIO, errno, "cannot name a temporary object");
	}
	hex_encode(rnd, sizeof(rnd), t->id);
	t->prefix = os->tmp_prefix;
	t->part_size = os->u.part_size;
	*tmp = t;
	return 0;
}

void objstore_tmp_free(struct objstore_tmp *t)
{
	if (!t)
		return;
	free(t->buf);
	free(t->md5);
	free(t->sizes);
	free(t);
}

void objstore_tmp_drop(struct objstore *os, struct objstore_tmp *t, bool free_it)
{
	char key[96];

	/* and a part a sync stored ahead */
	for (unsigned int n = 1; n <= t->nparts + (t->synced_len ? 1 : 0); n++) {
		objstore_part_key(t, n, key, sizeof(key));
		objstore_simple(os, "DELETE", key, NULL, true, NULL);
	}
	rain_error_clear();
	if (free_it)
		objstore_tmp_free(t);
}

void objstore_tmp_discard(void *impl, void *tmp)
{
	if (tmp)
		objstore_tmp_drop(impl, tmp, true);
}

/* Make room for one more part's MD5 and size. */
static int parts_grow(struct objstore_tmp *t)
{
	size_t cap;
	char (*m)[33];
	size_t *sz;

	if (t->nparts < t->cap)
		return 0;
	cap = t->cap ? 2 * t->cap : 16;
	m = realloc(t->md5, cap * sizeof(*m));
	if (!m)
		return rain_error_oom();
	t->md5 = m;
	sz = realloc(t->sizes, cap * sizeof(*sz));
	if (!sz)
		return rain_error_oom();
	t->sizes = sz;
	t->cap = cap;
	return 0;
}

/* Store the buffer as part nparts + 1 and start the next one (the PUT
 * is skipped when a sync stored exactly this already). */
static int store_part(struct objstore *os, struct objstore_tmp *t)
{
	char md5[33];
	int r = parts_grow(t);

	if (r < 0)
		return r;
	if (t->synced_len == t->len) {
		memcpy(md5, t->synced_md5, sizeof(md5));
	} else {
		objstore_md5_hex(t->buf, t->len, md5);
		r = part_put(os, t, t->nparts + 1, t->buf, t->len, md5);
		if (r < 0)
			return r;
	}
	memcpy(t->md5[t->nparts], md5, sizeof(md5));
	t->sizes[t->nparts] = t->len;
	t->nparts++;
	t->len = 0;
	t->synced_len = 0;
	return 0;
}

int objstore_tmp_write(void *impl, void *tmp, const void *buf, size_t len)
{
	struct objstore_tmp *t = tmp;
	const unsigned char *p = buf;
	int r;

	if (!t->buf) {
		t->buf = malloc(t->part_size);
		if (!t->buf)
			return rain_error_oom();
	}
	while (len) {
		size_t n = t->part_size - t->len;

		if (n > len)
			n = len;
		memcpy(t->buf + t->len, p, n);
		t->len += n;
		t->written += (int64_t)n;
		p += n;
		len -= n;
		if (t->len == t->part_size && (r = store_part(impl, t)) < 0)
			return r;
	}
	return 0;
}

int objstore_tmp_flush(struct objstore *os, struct objstore_tmp *t)
{
	return t->len ? store_part(os, t) : 0;
}

int objstore_tmp_sync(void *impl, void *tmp)
{
	struct objstore_tmp *t = tmp;
	int r;

	if (t->len == 0 || t->synced_len == t->len)
		return 0;
	/* the part being filled, as far as it goes: a later PUT of the
	 * same part replaces it when more data comes */
	objstore_md5_hex(t->buf, t->len, t->synced_md5);
	r = part_put(impl, t, t->nparts + 1, t->buf, t->len, t->synced_md5);
	if (r < 0)
		return r;
	t->synced_len = t->len;
	return 0;
}

ssize_t objstore_tmp_read(void *impl, void *tmp, int64_t off, void *buf, size_t len)
{
	struct objstore_tmp *t = tmp;
	int64_t stored = (int64_t)t->nparts * (int64_t)t->part_size;
	unsigned char *p = buf;
	size_t done = 0;

	if (off >= t->written)
		return 0;
	if ((uint64_t)len > (uint64_t)(t->written - off))
		len = (size_t)(t->written - off);
	/* part by part: short only at the end */
	while (done < len) {
		int64_t at = off + (int64_t)done, in;
		size_t n = len - done;
		unsigned int part;
		char key[96];
		ssize_t got;

		if (at >= stored) {
			/* in the part being filled */
			memcpy(p + done, t->buf + (at - stored), n);
			done += n;
			break;
		}
		part = (unsigned int)(at / (int64_t)t->part_size);
		in = at % (int64_t)t->part_size;
		if ((uint64_t)n > t->sizes[part] - (uint64_t)in)
			n = t->sizes[part] - (size_t)in;
		objstore_part_key(t, part + 1, key, sizeof(key));
		got = objstore_fetch(impl, key, in, p + done, n);
		if (got < 0)
			return got;
		if ((size_t)got != n)
			return rain_error_set(RAIN_EIO, "%s: short read: %zd of %zu bytes at %lld",
					      key, got, n, (long long)in);
		done += n;
	}
	return (ssize_t)done;
}

void objstore_part_key(const struct objstore_tmp *t, unsigned int n, char *out, size_t size)
{
	snprintf(out, size, "%s/%s/%06u", t->prefix, t->id, n);
}

/* A reader's state: the blob's key and the read-ahead window. */
struct reader {
	char key[80];
	int64_t size;
	unsigned char *buf;
	int64_t buf_off;
	size_t buf_len;
};

int objstore_read_open(void *impl, const char *sha256, struct rain_blob_reader *rd)
{
	struct objstore *os = impl;
	struct reader *o = calloc(1, sizeof(*o));
	struct objstore_req rq = { 0 };
	char w[256];
	int r;

	rd->fd = -1;
	rd->impl = NULL;
	if (!o)
		return rain_error_oom();
	snprintf(o->key, sizeof(o->key), "sha256/%s", sha256);
	objstore_what(os, o->key, w, sizeof(w));
	r = os->call(os, &rq, "HEAD", o->key, NULL, w);
	if (r == 0 && rq.status != 200)
		r = rq.status == 404 ? rain_error_set(RAIN_ENOTFOUND, "%s: no blob %s", w, sha256)
				     : objstore_http_error(&rq, w);
	if (r == 0 && rq.content_length < 0)
		r = rain_error_set(RAIN_EIO, "%s: HEAD gave no Content-Length", w);
	o->size = rq.content_length;
	objstore_req_free(&rq);
	if (r < 0) {
		free(o);
		return r;
	}
	rd->size = o->size;
	rd->impl = o;
	return 0;
}

ssize_t objstore_read(void *impl, struct rain_blob_reader *rd, int64_t off, void *buf, size_t len)
{
	struct reader *o = rd->impl;
	ssize_t got;
	size_t want;

	if (off < 0)
		return rain_error_set(RAIN_EINVAL, "negative offset");
	if (off >= o->size || len == 0)
		return 0;
	if ((uint64_t)len > (uint64_t)(o->size - off))
		len = (size_t)(o->size - off);
	if (off < o->buf_off || off >= o->buf_off + (int64_t)o->buf_len) {
		if (!o->buf) {
			o->buf = malloc(OBJSTORE_READ_WINDOW);
			if (!o->buf)
				return rain_error_oom();
		}
		want = OBJSTORE_READ_WINDOW;
		if ((uint64_t)want > (uint64_t)(o->size - off))
			want = (size_t)(o->size - off);
		o->buf_len = 0;
		got = objstore_fetch(impl, o->key, off, o->buf, want);
		if (got < 0)
			return got;
		if ((size_t)got != want) {
			char w[256];

			objstore_what(impl, o->key, w, sizeof(w));
			return rain_error_set(RAIN_EIO, "%s: short read: %zd of %zu bytes at offset "
					      "%lld", w, got, want, (long long)off);
		}
		o->buf_off = off;
		o->buf_len = (size_t)got;
	}
	off -= o->buf_off;
	if (len > o->buf_len - (size_t)off)
		len = o->buf_len - (size_t)off;
	memcpy(buf, o->buf + off, len);
	return (ssize_t)len;
}

void objstore_read_close(void *impl, struct rain_blob_reader *rd)
{
	struct reader *o = rd->impl;

	if (o)
		free(o->buf);
	free(o);
	rd->impl = NULL;
}

int objstore_exists(void *impl, const char *sha256, bool *yes)
{
	char key[80];
	long status = 0;
	int r;

	snprintf(key, sizeof(key), "sha256/%s", sha256);
	r = objstore_simple(impl, "HEAD", key, NULL, true, &status);
	*yes = r == 0 && status / 100 == 2;
	return r;
}

int objstore_list_key(void *ud, const char *key)
{
	struct objstore_list *l = ud;
	const char *hash = objstore_key_hash(key);

	return hash ? l->cb(l->ud, hash) : 0;
}

const char *objstore_key_hash(const char *key)
{
	if (strncmp(key, "sha256/", 7) || strlen(key) != 7 + 64 || !hex_is_valid(key + 7, 64))
		return NULL;
	return key + 7;
}

bool objstore_tmp_key_id(const char *prefix, const char *key, char id[33])
{
	size_t n = strlen(prefix);

	if (strncmp(key, prefix, n) || key[n] != '/' || strlen(key) < n + 1 + 33 ||
	    key[n + 1 + 32] != '/')
		return false;
	memcpy(id, key + n + 1, 32);
	id[32] = '\0';
	return hex_is_valid(id, 32);
}
