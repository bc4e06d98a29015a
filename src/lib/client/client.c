/* The librain HTTP client on libcurl, its transport: the client object,
 * requests, uploads, downloads and the error answers; see
 * include/rain/client.h. The API areas are images.c, jobs.c and
 * identity.c. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "client-internal.h"
#include "rain/client.h"
#include "rain/error.h"
#include "util/strutil.h"
#include "util/uuid.h"

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- helpers ---------------------------------------------------------- */

static int buf_append(struct buf *b, const char *p, size_t n)
{
	if (b->len + n > b->max) {
		b->truncated = true;
		n = b->max - b->len;
		if (n == 0)
			return 0;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *d;

		while (cap < b->len + n + 1)
			cap *= 2;
		d = realloc(b->data, cap);
		if (!d)
			return rain_error_oom();
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

size_t client_buf_write_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct buf *b = ud;

	if (buf_append(b, p, size * nmemb) < 0)
		return 0;
	return size * nmemb;
}

static const char *reason_phrase(long status)
{
	switch (status) {
	case 300: return "Multiple Choices";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 413: return "Request Entity Too Large";
	case 415: return "Unsupported Media Type";
	case 416: return "Requested Range Not Satisfiable";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 507: return "Insufficient Storage";
	}
	return "";
}

int rain_client_status_error(long status)
{
	if (status < 300)
		return 0;
	switch (status) {
	case 400: return RAIN_EINVAL;
	case 401: return RAIN_EAUTH;
	case 403: return RAIN_EFORBIDDEN;
	case 404: return RAIN_ENOTFOUND;
	case 409: return RAIN_ECONFLICT;
	case 413: return RAIN_ETOOBIG;
	case 415: return RAIN_EFORMAT;
	case 507: return RAIN_ENOSPC;
	}
	if (status >= 400 && status < 500)
		return RAIN_EINVAL;
	return RAIN_EIO;
}

/* The length of a line break tag at s ("<br />", "<br/>", "<br>", which
 * Glance puts into its messages), else 0. */
static size_t br_tag(const char *s, size_t n)
{
	static const char *const tags[] = { "<br />", "<br/>", "<br>" };

	for (size_t i = 0; i < ARRAY_SIZE(tags); i++)
		if (n >= strlen(tags[i]) && !strncasecmp(s, tags[i], strlen(tags[i])))
			return strlen(tags[i]);
	return 0;
}

/* Copy s into out, squeezing whitespace runs (and line break tags) to one
 * space and replacing other control characters, so a server cannot put
 * escapes on the user's terminal through an error message. */
static void copy_clean(char *out, size_t outlen, const char *s, size_t n)
{
	size_t o = 0;
	bool space = true;   /* drop leading blanks */

	for (size_t i = 0; i < n && s[i] && o + 1 < outlen; i++) {
		unsigned char ch = (unsigned char)s[i];
		size_t br = ch == '<' ? br_tag(s + i, n - i) : 0;

		if (br) {
			i += br - 1;
			ch = ' ';
		}
		if (isspace(ch)) {
			if (!space)
				out[o++] = ' ';
			space = true;
			continue;
		}
		out[o++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
		space = false;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

static const char *json_message(json_t *j, const char **title)
{
	json_t *m;
	const char *key;
	json_t *v;

	if (json_is_string(j))
		return json_string_value(j);
	if (!json_is_object(j))
		return NULL;
	m = json_object_get(j, "message");
	if (json_is_string(m)) {
		json_t *t = json_object_get(j, "title");

		if (json_is_string(t))
			*title = json_string_value(t);
		return json_string_value(m);
	}
	m = json_object_get(j, "detail");
	if (json_is_string(m))
		return json_string_value(m);
	/* {"error": {...}}, {"badRequest": {"message": ...}} */
	json_object_foreach(j, key, v) {
		if (json_is_object(v) || (json_is_string(v) && strcmp(key, "error") == 0)) {
			const char *s = json_message(v, title);

			if (s)
				return s;
		}
	}
	return NULL;
}

void rain_client_error_message(long status, const char *body, size_t len,
			       char *out, size_t outlen)
{
	char msg[512] = "", tbuf[64];
	const char *title = NULL;
	json_t *j = NULL, *inner = NULL;

	if (outlen == 0)
		return;
	if (body && len > 0) {
		j = json_loadb(body, len, 0, NULL);
		if (j) {
			/* Ironic: {"error_message": "{\"faultstring\": \"...\", ...}"} */
			const char *em = json_string_value(json_object_get(j, "error_message"));
			const char *m = NULL;

			if (em && (inner = json_loads(em, 0, NULL)))
				m = json_string_value(json_object_get(inner, "faultstring"));
			else if (em)
				m = em;
			if (!m)
				m = json_message(j, &title);

			if (m)
				copy_clean(msg, sizeof(msg), m, strlen(m));
		} else {
			/* text, e.g. webob's "409 Conflict\n\nThere is a ..." */
			char prefix[64];
			size_t skip = 0;
			const char *p;

			snprintf(prefix, sizeof(prefix), "%ld %s", status, reason_phrase(status));
			if (len >= strlen(prefix) && memcmp(body, prefix, strlen(prefix)) == 0)
				skip = strlen(prefix);
			p = body + skip;
			/* do not show markup as a message */
			if (!memchr(p, '<', len - skip))
				copy_clean(msg, sizeof(msg), p, len - skip);
		}
	}
	if (!title || !*title)
		title = reason_phrase(status);
	else {
		copy_clean(tbuf, sizeof(tbuf), title, strlen(title));
		title = tbuf;
	}
	if (*msg)
		snprintf(out, outlen, "%s (HTTP %ld%s%s)", msg, status, *title ? " " : "", title);
	else
		snprintf(out, outlen, "HTTP %ld%s%s", status, *title ? " " : "", title);
	json_decref(inner);
	json_decref(j);
}

int client_http_error(long status, const struct buf *body)
{
	char msg[700];

	rain_client_error_message(status, body->data, body->len, msg, sizeof(msg));
	return rain_error_set(rain_client_status_error(status), "%s", msg);
}

static bool scheme_ok(const char *url)
{
	return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

char *rain_client_url_join(const char *url, const char *path)
{
	size_t n = strlen(url);
	char *s;

	while (n > 0 && url[n - 1] == '/')
		n--;
	for (const char *p = path; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
			rain_error_set(RAIN_EINVAL, "bad character in request path");
			return NULL;
		}
	if (path[0] == '/') {
		if (asprintf(&s, "%.*s%s", (int)n, url, path) < 0) {
			rain_error_oom();
			return NULL;
		}
		return s;
	}
	if (scheme_ok(path)) {
		/* only URLs under the endpoint itself, so the token stays there */
		if (strncasecmp(path, url, n) == 0 &&
		    (path[n] == '/' || path[n] == '?' || path[n] == '\0')) {
			s = strdup(path);
			if (!s)
				rain_error_oom();
			return s;
		}
		rain_error_set(RAIN_EINVAL, "the server sent a link outside %.*s", (int)n, url);
		return NULL;
	}
	rain_error_set(RAIN_EINVAL, "request path '%.100s' does not start with '/'", path);
	return NULL;
}

/* ---- client ----------------------------------------------------------- */

static int dup_env(const char *name, char **out)
{
	const char *v = getenv(name);

	if (!v || !*v)
		return 0;
	*out = strdup(v);
	return *out ? 1 : rain_error_oom();
}

/* The CA certificates to verify with: cfg->cacert, else the system store
 * as curl(1) finds it: $CURL_CA_BUNDLE, else $SSL_CERT_FILE and
 * $SSL_CERT_DIR (OpenSSL's overrides of its default store, which libcurl
 * itself does not read when it was built with a CA bundle path), else
 * libcurl's built-in bundle (both stay NULL). */
static int ca_from(const struct rain_client_config *cfg, char **cafile, char **capath)
{
	int r;

	*cafile = *capath = NULL;
	if (cfg->cacert) {
		*cafile = strdup(cfg->cacert);
		return *cafile ? 0 : rain_error_oom();
	}
	if (cfg->insecure)
		return 0;
	r = dup_env("CURL_CA_BUNDLE", cafile);
	if (r == 0 && (r = dup_env("SSL_CERT_DIR", capath)) >= 0)
		r = dup_env("SSL_CERT_FILE", cafile);
	return r < 0 ? r : 0;
}

int rain_client_new(const struct rain_client_config *cfg, struct rain_client **out)
{
	struct rain_client *c;
	const char *p;
	int r;

	rain_error_clear();
	*out = NULL;
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return rain_error_set(RAIN_EIO, "cannot initialise libcurl: %s",
				      curl_easy_strerror(global_rc));
	if (!cfg->url || !*cfg->url)
		return rain_error_set(RAIN_EINVAL, "no server URL given");
	if (!scheme_ok(cfg->url))
		return rain_error_set(RAIN_EINVAL, "server URL '%.200s' must start with http:// or https://",
				      cfg->url);
	for (p = cfg->url; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return rain_error_set(RAIN_EINVAL, "server URL has a space or control character");
	for (size_t i = 0; cfg->headers && cfg->headers[i]; i++) {
		const char *h = cfg->headers[i], *colon = strchr(h, ':');

		if (!colon || colon == h)
			return rain_error_set(RAIN_EINVAL, "header '%.100s' is not 'Name: value'", h);
		for (p = h; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				return rain_error_set(RAIN_EINVAL, "header '%.*s' contains a control "
						      "character", (int)(colon - h), h);
	}
	if (cfg->token) {
		if (!*cfg->token)
			return rain_error_set(RAIN_EINVAL, "the token is empty");
		/* never echo the token itself */
		for (p = cfg->token; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				return rain_error_set(RAIN_EINVAL,
						      "the token contains a control character");
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return rain_error_oom();
	c->url = strdup(cfg->url);
	if (c->url) {
		size_t n = strlen(c->url);

		while (n > 0 && c->url[n - 1] == '/')
			c->url[--n] = '\0';
	}
	r = ca_from(cfg, &c->cacert, &c->capath);
	c->insecure = cfg->insecure;
	c->connect_timeout = cfg->connect_timeout > 0 ? cfg->connect_timeout : 30;
	c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 0;
	c->curl = curl_easy_init();
	for (size_t i = 0; cfg->headers && cfg->headers[i] && r >= 0; i++) {
		struct curl_slist *t = curl_slist_append(c->extra, cfg->headers[i]);

		if (!t)
			r = RAIN_ENOMEM;
		else
			c->extra = t;
	}
	if (!c->url || r < 0 || !c->curl ||
	    (cfg->token && asprintf(&c->auth_header, "X-Auth-Token: %s", cfg->token) < 0)) {
		c->auth_header = NULL;
		rain_client_free(c);
		return rain_error_oom();
	}
	*out = c;
	return 0;
}

void rain_client_free(struct rain_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c->url);
	explicit_bzero(c->subject, sizeof(c->subject));
	if (c->auth_header) {
		explicit_bzero(c->auth_header, strlen(c->auth_header));
		free(c->auth_header);
	}
	curl_slist_free_all(c->extra);
	free(c->cacert);
	free(c->capath);
	free(c);
}

const char *rain_client_url(const struct rain_client *c)
{
	return c->url;
}

/* Reset the handle and set what every request shares. */
int client_setup(struct rain_client *c, const char *method, const char *path,
		 struct curl_slist **headers)
{
	_cleanup_free_ char *url = rain_client_url_join(c->url, path);
	struct curl_slist *h = NULL, *t;
	CURL *e = c->curl;

	*headers = NULL;
	if (!url)
		return RAIN_EINVAL;     /* the message is set */
	curl_easy_reset(e);
	c->errbuf[0] = '\0';
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, c->connect_timeout);
	if (c->timeout_ms)
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)LOW_SPEED_TIME);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	if (c->cacert)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->cacert);
	if (c->capath)
		curl_easy_setopt(e, CURLOPT_CAPATH, c->capath);
	if (c->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (c->auth_header) {
		t = curl_slist_append(h, c->auth_header);
		if (!t)
			goto fail;
		h = t;
	}
	for (const struct curl_slist *x = c->extra; x; x = x->next) {
		t = curl_slist_append(h, x->data);
		if (!t)
			goto fail;
		h = t;
	}
	t = curl_slist_append(h, c->expect_continue ? "Expect: 100-continue" : "Expect:");
	if (!t)
		goto fail;
	h = t;
	*headers = h;
	return 0;
fail:
	curl_slist_free_all(h);
	return rain_error_oom();
}

int client_add_header(struct curl_slist **h, const char *line)
{
	struct curl_slist *t = curl_slist_append(*h, line);

	if (!t)
		return rain_error_oom();
	*h = t;
	return 0;
}

int client_transport_error(struct rain_client *c, CURLcode rc)
{
	const char *what = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);

	switch (rc) {
	case CURLE_ABORTED_BY_CALLBACK:
		return rain_error_set(RAIN_ECANCELED, "transfer canceled");
	case CURLE_OUT_OF_MEMORY:
		return rain_error_oom();
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return rain_error_set(RAIN_EINVAL, "bad URL %s: %s", c->url, what);
	default:
		return rain_error_set(RAIN_ENET, "cannot talk to %s: %s", c->url, what);
	}
}

/* Keep X-Subject-Token (Keystone's answer to a login). */
static size_t subject_header_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct rain_client *c = ud;
	size_t n = size * nmemb;
	static const char name[] = "x-subject-token:";

	if (n > sizeof(name) - 1 && !strncasecmp(p, name, sizeof(name) - 1)) {
		const char *v = p + sizeof(name) - 1;
		size_t len = n - (sizeof(name) - 1);

		while (len > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			len--;
		}
		while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
			len--;
		if (len <= RAIN_CLIENT_TOKEN_MAX) {
			memcpy(c->subject, v, len);
			c->subject[len] = '\0';
		}
	}
	return n;
}

static bool body_method(const char *method)
{
	return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
	       strcmp(method, "PATCH") == 0;
}

int rain_client_request(struct rain_client *c, const char *method, const char *path,
			const char *content_type, json_t *body,
			long *status, json_t **response)
{
	struct curl_slist *headers = NULL;
	_cleanup_free_ char *text = NULL, *ctype = NULL;
	struct buf resp = { .max = JSONBODY_MAX };
	long code = 0;
	CURLcode rc;
	int r;

	rain_error_clear();
	if (status)
		*status = 0;
	if (response)
		*response = NULL;
	r = client_setup(c, method, path, &headers);
	if (r < 0)
		return r;
	r = client_add_header(&headers, "Accept: application/json");
	if (r == 0 && c->subject_header)
		r = client_add_header(&headers, c->subject_header);
	if (r < 0)
		goto done;
	c->subject[0] = '\0';
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		if (!text || asprintf(&ctype, "Content-Type: %s",
				      content_type ? content_type : "application/json") < 0) {
			r = rain_error_oom();
			goto done;
		}
		r = client_add_header(&headers, ctype);
		if (r < 0)
			goto done;
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(text));
	} else if (body_method(method)) {
		/* an empty body with Content-Length: 0 and no form type */
		r = client_add_header(&headers, "Content-Type:");
		if (r < 0)
			goto done;
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	} else if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c->curl, CURLOPT_NOBODY, 1L);
	}
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, client_buf_write_cb);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, subject_header_cb);
	curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, c);

	rc = curl_easy_perform(c->curl);
	if (rc != CURLE_OK) {
		r = client_transport_error(c, rc);
		goto done;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &code);
	if (status)
		*status = code;
	if (code >= 300) {
		r = client_http_error(code, &resp);
		goto done;
	}
	if (resp.truncated) {
		r = rain_error_set(RAIN_ETOOBIG, "the server's answer is larger than %d MiB",
				   JSONBODY_MAX >> 20);
		goto done;
	}
	if (response && resp.len > 0) {
		json_error_t err;

		*response = json_loadb(resp.data, resp.len, 0, &err);
		if (!*response) {
			r = rain_error_set(RAIN_EFORMAT, "the server sent bad JSON: %s (line %d)",
					   err.text, err.line);
			goto done;
		}
	}
	r = 0;
done:
	curl_slist_free_all(headers);
	free(resp.data);
	if (text)
		explicit_bzero(text, strlen(text));
	return r;
}

/* ---- upload ----------------------------------------------------------- */

struct upload {
	int fd;
	int64_t size;       /* -1 unknown */
	int64_t sent;
	/* a regular file is read with pread from pos, and its holes are not
	 * read at all: zeros go into curl's buffer (the kernel would fill
	 * page-cache pages with them first); pos < data_end: data, pos <
	 * hole_end: a hole */
	bool seekable;
	int64_t pos, file_size, data_end, hole_end;
	int err;            /* errno of a failed read */
	bool short_read;
	bool hash_failed;
	EVP_MD_CTX *md[3];  /* SHA-256, MD5, SHA-512 as asked; NULL: not asked */
	rain_progress_fn progress;
	void *ud;
	bool canceled;
};

/* Where pos is, for a seekable upload: in data (data_end set) or in a hole
 * (hole_end set); a file system without SEEK_DATA has data everywhere. */
static void upload_find(struct upload *u)
{
	off_t d = lseek(u->fd, (off_t)u->pos, SEEK_DATA), h;

	if (d < 0 && errno == ENXIO)
		d = (off_t)u->file_size;        /* a hole up to the end */
	if (d < 0 || d <= (off_t)u->pos) {
		h = d < 0 ? -1 : lseek(u->fd, (off_t)u->pos, SEEK_HOLE);
		u->data_end = h > (off_t)u->pos ? (int64_t)h : INT64_MAX;
	} else {
		u->hole_end = (int64_t)d;
	}
}

static ssize_t upload_pread(struct upload *u, char *p, size_t want)
{
	ssize_t n;

	if (u->pos >= u->data_end && u->pos >= u->hole_end)
		upload_find(u);
	if (u->pos < u->hole_end) {
		if ((int64_t)want > u->hole_end - u->pos)
			want = (size_t)(u->hole_end - u->pos);
		if (u->pos >= u->file_size)
			return 0;       /* the file ended (shrunk) */
		memset(p, 0, want);
		n = (ssize_t)want;
	} else {
		if ((int64_t)want > u->data_end - u->pos)
			want = (size_t)(u->data_end - u->pos);
		n = pread(u->fd, p, want, (off_t)u->pos);
	}
	if (n > 0)
		u->pos += n;
	return n;
}

static size_t upload_read_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct upload *u = ud;
	size_t want = size * nmemb;
	ssize_t n;

	if (u->size >= 0) {
		if (u->sent >= u->size)
			return 0;
		if ((int64_t)want > u->size - u->sent)
			want = (size_t)(u->size - u->sent);
	}
	do
		n = u->seekable ? upload_pread(u, p, want) : read(u->fd, p, want);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		u->err = errno;
		return CURL_READFUNC_ABORT;
	}
	if (n == 0 && u->size >= 0 && u->sent < u->size) {
		u->short_read = true;
		return CURL_READFUNC_ABORT;
	}
	for (size_t i = 0; n > 0 && i < ARRAY_SIZE(u->md); i++)
		if (u->md[i] && !EVP_DigestUpdate(u->md[i], p, (size_t)n)) {
			u->hash_failed = true;
			return CURL_READFUNC_ABORT;
		}
	u->sent += n;
	return (size_t)n;
}

static int upload_progress_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow,
			      curl_off_t ultotal, curl_off_t ulnow)
{
	struct upload *u = ud;

	if (u->progress && u->progress(u->ud, (int64_t)ulnow, u->size) != 0) {
		u->canceled = true;
		return 1;
	}
	return 0;
}

static void digest_hex(EVP_MD_CTX *ctx, char *out, size_t outlen);

int rain_client_upload(struct rain_client *c, const char *path, int fd, int64_t size,
		       rain_progress_fn progress, void *ud, struct rain_upload_info *info)
{
	return rain_client_upload_hashes(c, path, fd, size, RAIN_HASH_SHA256, progress, ud, info);
}

int rain_client_upload_hashes(struct rain_client *c, const char *path, int fd, int64_t size,
			      unsigned int flags, rain_progress_fn progress, void *ud,
			      struct rain_upload_info *info)
{
	struct curl_slist *headers = NULL;
	struct buf resp = { .max = ERRBODY_MAX };
	struct upload u = { .fd = fd, .size = size, .progress = progress, .ud = ud };
	struct stat st;
	static const struct {
		unsigned int flag;
		const char *name;
	} mds[] = { { RAIN_HASH_SHA256, "SHA-256" }, { RAIN_HASH_MD5, "MD5" },
		    { RAIN_HASH_SHA512, "SHA-512" } };
	long code = 0;
	CURLcode rc;
	int r;

	rain_error_clear();
	if (info)
		memset(info, 0, sizeof(*info));
	if (size < -1)
		return rain_error_set(RAIN_EINVAL, "bad upload size %" PRId64, size);
	for (size_t i = 0; i < ARRAY_SIZE(mds); i++) {
		const EVP_MD *md = i == 0 ? EVP_sha256() : i == 1 ? EVP_md5() : EVP_sha512();

		if (!(flags & mds[i].flag))
			continue;
		u.md[i] = EVP_MD_CTX_new();
		if (!u.md[i]) {
			r = rain_error_oom();
			goto done;
		}
		if (!EVP_DigestInit_ex(u.md[i], md, NULL)) {
			EVP_MD_CTX_free(u.md[i]);
			u.md[i] = NULL;
			/* MD5 may be missing (FIPS mode); then it stays "" */
			if (mds[i].flag != RAIN_HASH_MD5) {
				r = rain_error_set(RAIN_EIO, "cannot set up %s", mds[i].name);
				goto done;
			}
		}
	}
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (u.pos = lseek(fd, 0, SEEK_CUR)) >= 0) {
		u.seekable = true;
		u.file_size = st.st_size;
	}
	c->expect_continue = (flags & RAIN_UPLOAD_CONTINUE) && size > 0;
	r = client_setup(c, "PUT", path, &headers);
	c->expect_continue = false;
	if (r < 0)
		goto done;
	r = client_add_header(&headers, "Content-Type: application/octet-stream");
	if (r == 0)
		r = client_add_header(&headers, "Accept: application/json");
	if (r == 0 && size < 0)
		r = client_add_header(&headers, "Transfer-Encoding: chunked");
	if (r < 0)
		goto done;
	curl_easy_setopt(c->curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, NULL);
	curl_easy_setopt(c->curl, CURLOPT_READFUNCTION, upload_read_cb);
	curl_easy_setopt(c->curl, CURLOPT_READDATA, &u);
	curl_easy_setopt(c->curl, CURLOPT_UPLOAD_BUFFERSIZE, (long)IO_BLOCK);
	if (size >= 0)
		curl_easy_setopt(c->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, client_buf_write_cb);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, upload_progress_cb);
	curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, &u);

	rc = curl_easy_perform(c->curl);
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &code);
	if (u.seekable)
		lseek(fd, (off_t)u.pos, SEEK_SET);      /* after what was read, as read() leaves it */
	if (info) {
		info->status = code;
		info->sent = u.sent;
	}
	if (u.err) {
		r = rain_error_errno(RAIN_EIO, u.err, "cannot read the upload data");
		goto done;
	}
	if (u.short_read) {
		r = rain_error_set(RAIN_EIO, "the upload data ended after %" PRId64
				   " of %" PRId64 " bytes", u.sent, size);
		goto done;
	}
	if (u.hash_failed) {
		r = rain_error_set(RAIN_EIO, "hashing failed");
		goto done;
	}
	if (u.canceled) {
		r = rain_error_set(RAIN_ECANCELED, "upload canceled");
		goto done;
	}
	/* a server may answer (413, 409 ...) and close before taking all data */
	if (code >= 300) {
		r = client_http_error(code, &resp);
		goto done;
	}
	if (rc != CURLE_OK) {
		r = client_transport_error(c, rc);
		goto done;
	}
	if (info) {
		digest_hex(u.md[0], info->sha256, sizeof(info->sha256));
		digest_hex(u.md[1], info->md5, sizeof(info->md5));
		digest_hex(u.md[2], info->sha512, sizeof(info->sha512));
	}
	if (progress)
		progress(ud, u.sent, size >= 0 ? size : u.sent);
	r = 0;
done:
	curl_slist_free_all(headers);
	free(resp.data);
	for (size_t i = 0; i < ARRAY_SIZE(u.md); i++)
		EVP_MD_CTX_free(u.md[i]);
	return r;
}

/* ---- download --------------------------------------------------------- */

struct download {
	struct rain_client *c;
	int fd;
	int64_t asked;       /* offset asked for */
	int64_t offset;      /* where this transfer's bytes start */
	int64_t written;
	int64_t total;       /* from Content-Range or Content-Length */
	int64_t range_start; /* from Content-Range, -1 when none */
	bool begun;
	long code;
	int err;             /* errno of a failed write */
	int fail;            /* rain error found in a callback */
	struct buf errbody;
	EVP_MD_CTX *sha, *md5;
	rain_progress_fn progress;
	void *ud;
	bool canceled;
};

static size_t download_header_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct download *d = ud;
	size_t n = size * nmemb;
	char line[256];

	if (n >= sizeof(line))
		return n;
	memcpy(line, p, n);
	line[n] = '\0';
	if (strncasecmp(line, "HTTP/", 5) == 0) {
		/* a new response (after 100 Continue, say): forget the old one */
		d->total = -1;
		d->range_start = -1;
	} else if (strncasecmp(line, "Content-Range:", 14) == 0) {
		long long a, b, t;

		if (sscanf(line + 14, " bytes %lld-%lld/%lld", &a, &b, &t) == 3) {
			d->range_start = a;
			d->total = t;
		}
	} else if (strncasecmp(line, "Content-Length:", 15) == 0 && d->range_start < 0) {
		long long len;

		if (sscanf(line + 15, " %lld", &len) == 1 && len >= 0)
			d->total = len;
	}
	return n;
}

static int hash_update(struct download *d, const void *p, size_t n)
{
	if (!EVP_DigestUpdate(d->sha, p, n))
		return RAIN_EIO;
	if (d->md5 && !EVP_DigestUpdate(d->md5, p, n))
		return RAIN_EIO;
	return 0;
}

static int hash_reset(struct download *d)
{
	if (!EVP_DigestInit_ex(d->sha, EVP_sha256(), NULL))
		return rain_error_set(RAIN_EIO, "cannot set up SHA-256");
	/* MD5 may be missing (FIPS mode); then it stays unknown */
	if (d->md5 && !EVP_DigestInit_ex(d->md5, EVP_md5(), NULL)) {
		EVP_MD_CTX_free(d->md5);
		d->md5 = NULL;
	}
	return 0;
}

/* Decide what to do with the body once the final status is known. */
static int download_begin(struct download *d)
{
	d->begun = true;
	curl_easy_getinfo(d->c->curl, CURLINFO_RESPONSE_CODE, &d->code);
	if (d->code >= 300 || d->code == 204)
		return 0;       /* the body goes to errbody */
	if (d->code == 206) {
		if (d->range_start != d->asked)
			return rain_error_set(RAIN_EFORMAT,
					      "the server sent a range starting at %" PRId64
					      " instead of %" PRId64, d->range_start, d->asked);
		d->offset = d->asked;
		return 0;
	}
	/* the whole file: start over */
	d->offset = 0;
	if (d->asked > 0) {
		if (ftruncate(d->fd, 0) < 0 || lseek(d->fd, 0, SEEK_SET) < 0)
			return rain_error_errno(RAIN_EIO, errno, "cannot truncate the output file");
		return hash_reset(d);
	}
	return 0;
}

static size_t download_write_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct download *d = ud;
	size_t n = size * nmemb, done = 0;

	if (!d->begun) {
		d->fail = download_begin(d);
		if (d->fail < 0)
			return 0;
	}
	if (d->code >= 300 || d->code == 204)
		return client_buf_write_cb(p, size, nmemb, &d->errbody);
	while (done < n) {
		ssize_t w = write(d->fd, p + done, n - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			d->err = errno;
			return 0;
		}
		done += (size_t)w;
	}
	if (hash_update(d, p, n) < 0) {
		d->fail = rain_error_set(RAIN_EIO, "hashing failed");
		return 0;
	}
	d->written += (int64_t)n;
	return n;
}

static int download_progress_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow,
				curl_off_t ultotal, curl_off_t ulnow)
{
	struct download *d = ud;
	int64_t total = -1;

	if (!d->progress)
		return 0;
	/* called before the body starts too, so that waiting can be canceled */
	if (d->begun && d->code < 300 && d->code != 204)
		total = d->total >= 0 ? d->total : (dltotal > 0 ? d->offset + dltotal : -1);
	if (d->progress(d->ud, d->offset + d->written, total) != 0) {
		d->canceled = true;
		return 1;
	}
	return 0;
}

/* Feed the first offset bytes of fd to the hashes and position fd there. */
static int download_seed(struct download *d, int64_t offset)
{
	unsigned char *blk;
	struct stat st;
	int64_t pos = 0;

	if (fstat(d->fd, &st) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot stat the output file");
	if (!S_ISREG(st.st_mode))
		return rain_error_set(RAIN_EINVAL, "can only resume into a regular file");
	if (st.st_size < offset)
		return rain_error_set(RAIN_EINVAL, "cannot resume at %" PRId64
				      ": the file has only %lld bytes", offset,
				      (long long)st.st_size);
	blk = malloc(IO_BLOCK);
	if (!blk)
		return rain_error_oom();
	while (pos < offset) {
		size_t want = offset - pos < IO_BLOCK ? (size_t)(offset - pos) : IO_BLOCK;
		ssize_t n = pread(d->fd, blk, want, pos);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;

			free(blk);
			return rain_error_errno(RAIN_EIO, e, "cannot read back the partial file");
		}
		hash_update(d, blk, (size_t)n);
		pos += n;
	}
	free(blk);
	if (ftruncate(d->fd, offset) < 0 || lseek(d->fd, offset, SEEK_SET) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot position the output file");
	return 0;
}

static void digest_hex(EVP_MD_CTX *ctx, char *out, size_t outlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	out[0] = '\0';
	if (!ctx || !EVP_DigestFinal_ex(ctx, md, &n) || 2 * (size_t)n + 1 > outlen)
		return;
	hex_encode(md, n, out);
}

int rain_client_download(struct rain_client *c, const char *path, int fd, int64_t offset,
			 rain_progress_fn progress, void *ud,
			 struct rain_download_info *info)
{
	struct curl_slist *headers = NULL;
	struct download d = {
		.c = c, .fd = fd, .asked = offset, .offset = offset,
		.total = -1, .range_start = -1,
		.errbody = { .max = ERRBODY_MAX },
		.progress = progress, .ud = ud,
	};
	char range[64];
	CURLcode rc;
	int r;

	rain_error_clear();
	if (info)
		memset(info, 0, sizeof(*info));
	if (offset < 0)
		return rain_error_set(RAIN_EINVAL, "bad download offset %" PRId64, offset);
	d.sha = EVP_MD_CTX_new();
	d.md5 = EVP_MD_CTX_new();
	if (!d.sha || !d.md5) {
		r = rain_error_oom();
		goto done;
	}
	r = hash_reset(&d);
	if (r < 0)
		goto done;
	if (offset > 0) {
		r = download_seed(&d, offset);
		if (r < 0)
			goto done;
	}
	r = client_setup(c, "GET", path, &headers);
	if (r < 0)
		goto done;
	if (offset > 0) {
		snprintf(range, sizeof(range), "Range: bytes=%" PRId64 "-", offset);
		r = client_add_header(&headers, range);
		if (r < 0)
			goto done;
	}
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, download_header_cb);
	curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, &d);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, download_write_cb);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &d);
	curl_easy_setopt(c->curl, CURLOPT_BUFFERSIZE, (long)IO_BLOCK);
	curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, download_progress_cb);
	curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, &d);

	rc = curl_easy_perform(c->curl);
	if (d.fail < 0) {
		r = d.fail;
		goto done;
	}
	if (d.err) {
		r = rain_error_errno(RAIN_EIO, d.err, "cannot write the download");
		goto done;
	}
	if (d.canceled) {
		r = rain_error_set(RAIN_ECANCELED, "download canceled");
		goto done;
	}
	if (rc != CURLE_OK) {
		r = client_transport_error(c, rc);
		goto done;
	}
	if (!d.begun) {        /* an empty body */
		r = download_begin(&d);
		if (r < 0)
			goto done;
	}
	if (d.code == 416 && offset > 0) {
		d.offset = offset;     /* nothing past what we have */
	} else if (d.code == 204) {
		r = rain_error_set(RAIN_ENOTFOUND, "the image has no data (HTTP 204)");
		goto done;
	} else if (d.code >= 300) {
		r = client_http_error(d.code, &d.errbody);
		goto done;
	}
	if (d.total >= 0 && d.code != 416 && d.offset + d.written != d.total) {
		r = rain_error_set(RAIN_ENET, "the download stopped after %" PRId64
				   " of %" PRId64 " bytes", d.offset + d.written, d.total);
		goto done;
	}
	if (info) {
		info->status = d.code;
		info->offset = d.offset;
		info->written = d.written;
		info->total = d.code == 416 ? -1 : d.total;
		digest_hex(d.sha, info->sha256, sizeof(info->sha256));
		digest_hex(d.md5, info->md5, sizeof(info->md5));
	}
	if (progress && d.code != 416)
		progress(ud, d.offset + d.written, d.offset + d.written);
	r = 0;
done:
	curl_slist_free_all(headers);
	free(d.errbody.data);
	EVP_MD_CTX_free(d.sha);
	EVP_MD_CTX_free(d.md5);
	return r;
}

/* ---- request helpers of the API areas ---------------------------------- */

/* path = base/ID[suffix][/urlencoded(name)], after checking that id is a
 * UUID (what names it in the message). */
int client_id_path(const char *base, const char *what, const char *id, const char *suffix,
		   const char *name, char **out)
{
	_cleanup_free_ char *enc = NULL;

	*out = NULL;
	if (!id || !uuid_is_valid(id))
		return rain_error_set(RAIN_EINVAL, "'%.100s' is not %s id", id ? id : "", what);
	if (name && !*name)
		return rain_error_set(RAIN_EINVAL, "an empty name in a path under %s/%s", base, id);
	if (name && !(enc = str_url_encode(name)))
		return rain_error_oom();
	if (asprintf(out, "%s/%s%s%s%s", base, id, suffix, enc ? "/" : "", enc ? enc : "") < 0) {
		*out = NULL;
		return rain_error_oom();
	}
	return 0;
}

int client_file_get(struct rain_client *c, const char *base, const char *what, const char *id,
		    const char *name, int fd)
{
	_cleanup_free_ char *path = NULL;
	int r;

	rain_error_clear();
	r = client_id_path(base, what, id, "/files", name, &path);
	if (r < 0)
		return r;
	return rain_client_download(c, path, fd, 0, NULL, NULL, NULL);
}

/* A 2xx answer that must be a JSON object (what it is, for the message). */
int client_want_object(int r, json_t **out, const char *what)
{
	if (r == 0 && out && !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return rain_error_set(RAIN_EFORMAT, "the server sent no %s", what);
	}
	return r;
}

/* GET path, which answers {key: [...]}. */
int client_get_list(struct rain_client *c, const char *path, const char *key, json_t **out)
{
	int r = rain_client_request(c, "GET", path, NULL, NULL, NULL, out);

	if (r == 0 && !json_is_array(json_object_get(*out, key))) {
		json_decref(*out);
		*out = NULL;
		return rain_error_set(RAIN_EFORMAT, "the server's answer to %s has no \"%s\" array", path, key);
	}
	return r;
}

int client_get_array(struct rain_client *c, const char *path, const char *key, json_t **out)
{
	json_t *all = NULL;
	int r = client_get_list(c, path, key, &all);

	*out = NULL;
	if (r == 0)
		*out = json_incref(json_object_get(all, key));
	json_decref(all);
	return r;
}
