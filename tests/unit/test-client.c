/* Unit tests for src/lib/client/client.c: URL joining, error bodies, and the
 * request/upload/download paths against a one-shot HTTP responder that
 * runs in a thread of the test itself (no raind needed). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "rain/client.h"
#include "rain/error.h"
#include "util/strutil.h"

#define TOKEN "s3cret-token"

/* ---- a one-shot HTTP responder ------------------------------------------ */

struct fake {
	int lfd;
	int port;
	pthread_t thread;
	const char *status;     /* "200 OK" */
	const char *headers;    /* extra header lines, each ending in \r\n */
	const char *body;
	size_t body_len;
	char head[8192];        /* the request line and headers received */
	char *req_body;
	size_t req_len;
};

static ssize_t read_some(int fd, char *p, size_t n)
{
	ssize_t r;

	do
		r = read(fd, p, n);
	while (r < 0 && errno == EINTR);
	return r;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static const char *header_value(const char *head, const char *name)
{
	const char *p = head;
	size_t n = strlen(name);

	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':')
			return p + n + 1 + strspn(p + n + 1, " ");
	}
	return NULL;
}

/* Decode a chunked body in place; returns its length. */
static size_t dechunk(char *buf, size_t len)
{
	size_t in = 0, out = 0;

	while (in < len) {
		char *end;
		unsigned long n = strtoul(buf + in, &end, 16);

		in = (size_t)(end - buf);
		in = (size_t)(strstr(buf + in, "\r\n") - buf) + 2;
		if (n == 0)
			break;
		memmove(buf + out, buf + in, n);
		out += n;
		in += n + 2;
	}
	return out;
}

static void *fake_run(void *ud)
{
	struct fake *f = ud;
	size_t have = 0, cap = 1 << 16, hlen, want = 0;
	char *buf = malloc(cap), *end = NULL;
	const char *v;
	bool chunked = false;
	struct pollfd pfd = { .fd = f->lfd, .events = POLLIN };
	int fd = -1;
	char resp[2048];

	/* never hang the test run when no client comes */
	if (poll(&pfd, 1, 20000) == 1)
		fd = accept(f->lfd, NULL, NULL);
	if (fd < 0 || !buf)
		goto out;
	while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
		ssize_t n = read_some(fd, buf + have, cap - have);

		if (n <= 0)
			goto out;
		have += (size_t)n;
	}
	hlen = (size_t)(end - buf) + 4;
	memcpy(f->head, buf, hlen < sizeof(f->head) ? hlen : sizeof(f->head) - 1);
	if ((v = header_value(f->head, "Content-Length")))
		want = strtoul(v, NULL, 10);
	if ((v = header_value(f->head, "Transfer-Encoding")) && !strncasecmp(v, "chunked", 7))
		chunked = true;
	for (;;) {
		size_t body = have - hlen;

		if (!chunked && body >= want)
			break;
		if (chunked && body >= 5 && memmem(buf + hlen, body, "\r\n0\r\n\r\n", 7))
			break;
		if (chunked && body == 5 && !memcmp(buf + hlen, "0\r\n\r\n", 5))
			break;
		if (have == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
		ssize_t n = read_some(fd, buf + have, cap - have);

		if (n <= 0)
			break;
		have += (size_t)n;
	}
	f->req_len = have - hlen;
	f->req_body = malloc(f->req_len + 1);
	memcpy(f->req_body, buf + hlen, f->req_len);
	if (chunked)
		f->req_len = dechunk(f->req_body, f->req_len);
	f->req_body[f->req_len] = '\0';

	snprintf(resp, sizeof(resp), "HTTP/1.1 %s\r\n%sContent-Length: %zu\r\n"
		 "Connection: close\r\n\r\n", f->status, f->headers ? f->headers : "",
		 f->body_len);
	write_all(fd, resp, strlen(resp));
	write_all(fd, f->body, f->body_len);
out:
	if (fd >= 0) {
		shutdown(fd, SHUT_WR);
		close(fd);
	}
	free(buf);
	return NULL;
}

static void fake_start(struct fake *f, const char *status, const char *headers,
		       const char *body, size_t body_len)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);

	memset(f, 0, sizeof(*f));
	f->status = status;
	f->headers = headers;
	f->body = body;
	f->body_len = body_len;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 4), 0);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sa, &len), 0);
	f->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_run, f), 0);
}

/* The request body stays readable until the next fake_start(). */
static char *last_body;

static void fake_stop(struct fake *f)
{
	pthread_join(f->thread, NULL);
	close(f->lfd);
	free(last_body);
	last_body = f->req_body;
}

static struct rain_client *client_for(const struct fake *f)
{
	struct rain_client_config cfg = { .token = TOKEN, .connect_timeout = 5 };
	struct rain_client *c = NULL;
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", f->port);
	cfg.url = url;
	assert_int_equal(rain_client_new(&cfg, &c), 0);
	/* the trailing slash is dropped */
	assert_int_equal(strlen(rain_client_url(c)), strlen(url) - 1);
	return c;
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char md[32];
	unsigned int len = 0;

	EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
	hex_encode(md, len, out);
}

static int tmpfile_with(const void *p, size_t n)
{
	char path[] = "/tmp/rain-test-client.XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	lseek(fd, 0, SEEK_SET);
	return fd;
}

static char *file_contents(int fd, size_t *len)
{
	struct stat st;
	char *p;

	assert_int_equal(fstat(fd, &st), 0);
	p = malloc((size_t)st.st_size + 1);
	assert_int_equal(pread(fd, p, (size_t)st.st_size, 0), st.st_size);
	*len = (size_t)st.st_size;
	return p;
}

/* ---- pure functions ----------------------------------------------------- */

static void test_url_join(void **state)
{
	char *s;

	s = rain_client_url_join("http://h:9292", "/v2/images");
	assert_string_equal(s, "http://h:9292/v2/images");
	free(s);
	s = rain_client_url_join("http://h:9292//", "/v2/images?limit=2");
	assert_string_equal(s, "http://h:9292/v2/images?limit=2");
	free(s);
	s = rain_client_url_join("https://h/image", "/v2/images");
	assert_string_equal(s, "https://h/image/v2/images");
	free(s);
	/* full next links only under the endpoint */
	s = rain_client_url_join("http://h:9292", "http://h:9292/v2/images?marker=x");
	assert_string_equal(s, "http://h:9292/v2/images?marker=x");
	free(s);
	assert_null(rain_client_url_join("http://h:9292", "http://evil/v2/images"));
	assert_null(rain_client_url_join("http://h", "http://h.evil/v2/images"));
	assert_null(rain_client_url_join("http://h:92", "http://h:9292/v2"));
	assert_null(rain_client_url_join("http://h", "v2/images"));
	assert_null(rain_client_url_join("http://h", "/v2/a b"));
	assert_null(rain_client_url_join("http://h", "/v2/a\r\nX-Evil: 1"));
}

static void test_error_message(void **state)
{
	char out[256];
	const char *glance = "{\"code\": 409, \"title\": \"Conflict\", "
			     "\"message\": \"Image status transition from active to saving is not allowed\"}";
	const char *nested = "{\"badRequest\": {\"message\": \"bad sort key\", \"code\": 400}}";
	const char *webob = "404 Not Found\n\nNo image found with ID abc\n\n   ";
	const char *evil = "{\"message\": \"a\\u001b[31mred\\nline\"}";
	const char *ironic = "{\"error_message\": \"{\\\"faultcode\\\": \\\"Client\\\", "
			     "\\\"faultstring\\\": \\\"Node n9 could not be found.\\\", "
			     "\\\"debuginfo\\\": null}\"}";

	rain_client_error_message(409, glance, strlen(glance), out, sizeof(out));
	assert_string_equal(out, "Image status transition from active to saving is not "
			    "allowed (HTTP 409 Conflict)");
	rain_client_error_message(400, nested, strlen(nested), out, sizeof(out));
	assert_string_equal(out, "bad sort key (HTTP 400 Bad Request)");
	rain_client_error_message(404, webob, strlen(webob), out, sizeof(out));
	assert_string_equal(out, "No image found with ID abc (HTTP 404 Not Found)");
	rain_client_error_message(503, "", 0, out, sizeof(out));
	assert_string_equal(out, "HTTP 503 Service Unavailable");
	rain_client_error_message(502, "<html><body>x</body></html>", 27, out, sizeof(out));
	assert_string_equal(out, "HTTP 502 Bad Gateway");
	rain_client_error_message(599, NULL, 0, out, sizeof(out));
	assert_string_equal(out, "HTTP 599");
	/* no terminal escapes or newlines from the server */
	rain_client_error_message(400, evil, strlen(evil), out, sizeof(out));
	assert_string_equal(out, "a?[31mred line (HTTP 400 Bad Request)");
	/* Ironic's fault in a string; a plain string there is taken as it is */
	rain_client_error_message(404, ironic, strlen(ironic), out, sizeof(out));
	assert_string_equal(out, "Node n9 could not be found. (HTTP 404 Not Found)");
	/* Glance's 413 breaks its lines with tags */
	rain_client_error_message(413, "{\"message\": \"Image exceeds the quota.<br /><br />\\n\"}", 53,
				  out, sizeof(out));
	assert_string_equal(out, "Image exceeds the quota. (HTTP 413 Request Entity Too Large)");
	rain_client_error_message(400, "{\"error_message\": \"bad\"}", 24, out, sizeof(out));
	assert_string_equal(out, "bad (HTTP 400 Bad Request)");
	/* never overflows */
	rain_client_error_message(409, glance, strlen(glance), out, 10);
	assert_int_equal(strlen(out), 9);
}

static void test_status_error(void **state)
{
	assert_int_equal(rain_client_status_error(200), 0);
	assert_int_equal(rain_client_status_error(204), 0);
	assert_int_equal(rain_client_status_error(400), RAIN_EINVAL);
	assert_int_equal(rain_client_status_error(401), RAIN_EAUTH);
	assert_int_equal(rain_client_status_error(403), RAIN_EFORBIDDEN);
	assert_int_equal(rain_client_status_error(404), RAIN_ENOTFOUND);
	assert_int_equal(rain_client_status_error(409), RAIN_ECONFLICT);
	assert_int_equal(rain_client_status_error(413), RAIN_ETOOBIG);
	assert_int_equal(rain_client_status_error(415), RAIN_EFORMAT);
	assert_int_equal(rain_client_status_error(418), RAIN_EINVAL);
	assert_int_equal(rain_client_status_error(500), RAIN_EIO);
	assert_int_equal(rain_client_status_error(507), RAIN_ENOSPC);
	assert_int_equal(rain_client_status_error(302), RAIN_EIO);
}

static void test_new_rejects(void **state)
{
	struct rain_client_config cfg = { .url = "ftp://h" };
	struct rain_client *c = NULL;

	assert_int_equal(rain_client_new(&cfg, &c), RAIN_EINVAL);
	assert_null(c);
	cfg.url = "";
	assert_int_equal(rain_client_new(&cfg, &c), RAIN_EINVAL);
	cfg.url = "http://h";
	cfg.token = "abc\r\nX-Evil: 1";
	assert_int_equal(rain_client_new(&cfg, &c), RAIN_EINVAL);
	/* the message never shows the token */
	assert_null(strstr(rain_error_last(), "abc"));
	cfg.token = "good";
	assert_int_equal(rain_client_new(&cfg, &c), 0);
	rain_client_free(c);
	/* extra headers: a name and no control characters */
	cfg.headers = (const char *const[]){ ": x", NULL };
	assert_int_equal(rain_client_new(&cfg, &c), RAIN_EINVAL);
	cfg.headers = (const char *const[]){ "X-A: 1\r\nX-Evil: 1", NULL };
	assert_int_equal(rain_client_new(&cfg, &c), RAIN_EINVAL);
	cfg.headers = (const char *const[]){ "novalue", NULL };
	assert_int_equal(rain_client_new(&cfg, &c), RAIN_EINVAL);
	assert_null(c);
}

static void test_request_headers(void **state)
{
	const char *hdrs[] = { "X-OpenStack-Ironic-API-Version: 1.31", "X-Two: b", NULL };
	struct rain_client_config cfg = { .headers = hdrs, .connect_timeout = 5 };
	struct rain_client *c = NULL;
	struct fake f;
	char url[64];

	fake_start(&f, "204 No Content", "", "", 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", f.port);
	cfg.url = url;
	assert_int_equal(rain_client_new(&cfg, &c), 0);
	assert_int_equal(rain_client_request(c, "GET", "/v1/nodes", NULL, NULL, NULL, NULL), 0);
	fake_stop(&f);
	assert_true(str_has_prefix(header_value(f.head, "X-OpenStack-Ironic-API-Version"), "1.31\r\n"));
	assert_true(str_has_prefix(header_value(f.head, "X-Two"), "b\r\n"));
	rain_client_free(c);
}

/* ---- requests ----------------------------------------------------------- */

static void test_request_get(void **state)
{
	const char *body = "{\"images\": [{\"id\": \"x\"}], \"first\": \"/v2/images\"}";
	struct fake f;
	struct rain_client *c;
	json_t *resp = NULL;
	long status = 0;

	fake_start(&f, "200 OK", "Content-Type: application/json\r\n", body, strlen(body));
	c = client_for(&f);
	assert_int_equal(rain_client_request(c, "GET", "/v2/images?limit=1", NULL, NULL,
					     &status, &resp), 0);
	fake_stop(&f);
	assert_int_equal(status, 200);
	assert_non_null(resp);
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(resp, "images"), 0), "id")), "x");
	assert_true(str_has_prefix(f.head, "GET /v2/images?limit=1 HTTP/1.1\r\n"));
	assert_true(str_has_prefix(header_value(f.head, "X-Auth-Token"), TOKEN "\r\n"));
	assert_non_null(strstr(f.head, "Accept: application/json\r\n"));
	json_decref(resp);
	rain_client_free(c);
}

static void test_request_patch(void **state)
{
	const char *body = "{\"id\": \"x\", \"name\": \"new\"}";
	const char *ctype = "application/openstack-images-v2.1-json-patch";
	json_t *patch = json_pack("[{s:s, s:s, s:s}]", "op", "replace", "path", "/name",
				  "value", "new");
	struct fake f;
	struct rain_client *c;
	json_t *resp = NULL, *sent;

	fake_start(&f, "200 OK", NULL, body, strlen(body));
	c = client_for(&f);
	assert_int_equal(rain_client_request(c, "PATCH", "/v2/images/x", ctype, patch,
					     NULL, &resp), 0);
	fake_stop(&f);
	assert_true(str_has_prefix(f.head, "PATCH /v2/images/x HTTP/1.1\r\n"));
	assert_true(str_has_prefix(header_value(f.head, "Content-Type"), ctype));
	sent = json_loads(f.req_body, 0, NULL);
	assert_true(json_equal(sent, patch));
	assert_string_equal(json_string_value(json_object_get(resp, "name")), "new");
	json_decref(sent);
	json_decref(patch);
	json_decref(resp);
	rain_client_free(c);
}

static void test_request_empty_post(void **state)
{
	struct fake f;
	struct rain_client *c;
	json_t *resp = (json_t *)1;
	long status = 0;

	fake_start(&f, "204 No Content", NULL, "", 0);
	c = client_for(&f);
	assert_int_equal(rain_client_request(c, "POST", "/v2/images/x/actions/deactivate",
					     NULL, NULL, &status, &resp), 0);
	fake_stop(&f);
	assert_int_equal(status, 204);
	assert_null(resp);
	assert_non_null(strstr(f.head, "Content-Length: 0\r\n"));
	/* no form content type slipped in */
	assert_null(strstr(f.head, "x-www-form-urlencoded"));
	rain_client_free(c);
}

static void test_request_error(void **state)
{
	const char *body = "{\"code\": 409, \"title\": \"Conflict\", \"message\": \"busy\"}";
	struct fake f;
	struct rain_client *c;
	json_t *resp = (json_t *)1;
	long status = 0;

	fake_start(&f, "409 Conflict", "Content-Type: application/json\r\n", body, strlen(body));
	c = client_for(&f);
	assert_int_equal(rain_client_request(c, "DELETE", "/v2/images/x", NULL, NULL,
					     &status, &resp), RAIN_ECONFLICT);
	fake_stop(&f);
	assert_int_equal(status, 409);
	assert_null(resp);
	assert_string_equal(rain_error_last(), "busy (HTTP 409 Conflict)");
	rain_client_free(c);
}

static void test_request_bad_json(void **state)
{
	struct fake f;
	struct rain_client *c;
	json_t *resp = NULL;

	fake_start(&f, "200 OK", NULL, "{nope", 5);
	c = client_for(&f);
	assert_int_equal(rain_client_request(c, "GET", "/v2/images", NULL, NULL, NULL, &resp),
			 RAIN_EFORMAT);
	fake_stop(&f);
	assert_null(resp);
	rain_client_free(c);
}

static void test_request_no_server(void **state)
{
	struct rain_client_config cfg = { .url = "http://127.0.0.1:1", .token = TOKEN };
	struct rain_client *c;
	long status = 7;

	assert_int_equal(rain_client_new(&cfg, &c), 0);
	assert_int_equal(rain_client_request(c, "GET", "/v2/images", NULL, NULL, &status, NULL),
			 RAIN_ENET);
	assert_int_equal(status, 0);
	assert_null(strstr(rain_error_last(), TOKEN));
	rain_client_free(c);
}

/* ---- uploads ------------------------------------------------------------ */

/* Cancel once some data went out, so the responder surely has a
 * connection to finish. */
static int cancel_progress(void *ud, int64_t done, int64_t total)
{
	return done > 0;
}

static int count_progress(void *ud, int64_t done, int64_t total)
{
	int64_t *last = ud;

	*last = done;
	return 0;
}

static void test_upload_sized(void **state)
{
	static char data[300000];
	char want[65];
	struct rain_upload_info info;
	struct fake f;
	struct rain_client *c;
	int64_t last = -1;
	int fd;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7);
	sha256_hex(data, sizeof(data), want);
	fd = tmpfile_with(data, sizeof(data));
	fake_start(&f, "204 No Content", NULL, "", 0);
	c = client_for(&f);
	assert_int_equal(rain_client_upload(c, "/v2/images/x/file", fd, sizeof(data),
					    count_progress, &last, &info), 0);
	fake_stop(&f);
	assert_true(str_has_prefix(f.head, "PUT /v2/images/x/file HTTP/1.1\r\n"));
	assert_non_null(strstr(f.head, "Content-Type: application/octet-stream\r\n"));
	assert_non_null(strstr(f.head, "Content-Length: 300000\r\n"));
	assert_int_equal(f.req_len, sizeof(data));
	assert_memory_equal(f.req_body, data, sizeof(data));
	assert_int_equal(info.status, 204);
	assert_int_equal(info.sent, sizeof(data));
	assert_string_equal(info.sha256, want);
	assert_int_equal(last, sizeof(data));
	close(fd);
	rain_client_free(c);
}

/* Glance's checksum (MD5) and os_hash_value (SHA-512) of what was sent,
 * with SHA-256 not asked for */
static void test_upload_hashes(void **state)
{
	static char data[200001];
	unsigned char md[64];
	unsigned int len = 0;
	char md5[33], sha512[129];
	struct rain_upload_info info;
	struct fake f;
	struct rain_client *c;
	int fd;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 13 + 1);
	EVP_Digest(data, sizeof(data), md, &len, EVP_sha512(), NULL);
	hex_encode(md, len, sha512);
	EVP_Digest(data, sizeof(data), md, &len, EVP_md5(), NULL);
	hex_encode(md, len, md5);
	fd = tmpfile_with(data, sizeof(data));
	fake_start(&f, "204 No Content", NULL, "", 0);
	c = client_for(&f);
	assert_int_equal(rain_client_upload_hashes(c, "/v2/images/x/file", fd, sizeof(data),
						   RAIN_HASH_MD5 | RAIN_HASH_SHA512, NULL, NULL, &info), 0);
	fake_stop(&f);
	assert_int_equal(f.req_len, sizeof(data));
	assert_int_equal(info.sent, sizeof(data));
	assert_string_equal(info.md5, md5);
	assert_string_equal(info.sha512, sha512);
	assert_string_equal(info.sha256, "");
	close(fd);
	rain_client_free(c);
}

/* A sparse file, read from its current position: its holes go out as
 * zeros (they are not read), its data as it is, the hashes of it all. */
static void test_upload_sparse(void **state)
{
	const size_t total = 3 << 20, start = 4096;
	char *want = calloc(1, total), sha[65];
	struct rain_upload_info info;
	struct fake f;
	struct rain_client *c;
	int fd = tmpfile_with("", 0);

	assert_non_null(want);
	/* a hole, 100 KiB of data at 1 MiB, a hole, 5 bytes at the very end */
	for (size_t i = 0; i < 100 << 10; i++)
		want[(1 << 20) + i] = (char)(i * 11 + 3);
	memcpy(want + total - 5, "tail!", 5);
	assert_int_equal(ftruncate(fd, (off_t)total), 0);
	assert_int_equal(pwrite(fd, want + (1 << 20), 100 << 10, 1 << 20), 100 << 10);
	assert_int_equal(pwrite(fd, "tail!", 5, (off_t)total - 5), 5);
	assert_int_equal(lseek(fd, (off_t)start, SEEK_SET), (off_t)start);
	sha256_hex(want + start, total - start, sha);
	fake_start(&f, "204 No Content", NULL, "", 0);
	c = client_for(&f);
	assert_int_equal(rain_client_upload(c, "/v2/images/x/file", fd, (int64_t)(total - start), NULL,
					    NULL, &info), 0);
	fake_stop(&f);
	assert_int_equal(f.req_len, total - start);
	assert_memory_equal(f.req_body, want + start, total - start);
	assert_int_equal(info.sent, total - start);
	assert_string_equal(info.sha256, sha);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), (off_t)total);
	rain_client_free(c);
	/* a size past the end of the sparse file is a short read */
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	fake_start(&f, "204 No Content", NULL, "", 0);
	c = client_for(&f);
	assert_int_equal(rain_client_upload(c, "/v2/images/x/file", fd, (int64_t)total + 10, NULL,
					    NULL, &info), RAIN_EIO);
	assert_non_null(strstr(rain_error_last(), "ended after 3145728 of 3145738 bytes"));
	rain_client_free(c);
	fake_stop(&f);
	close(fd);
	free(want);
}

static void test_upload_chunked(void **state)
{
	const char *data = "streamed from a pipe, size unknown";
	struct rain_upload_info info;
	struct fake f;
	struct rain_client *c;
	int p[2];

	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], data, strlen(data)), (ssize_t)strlen(data));
	close(p[1]);
	fake_start(&f, "204 No Content", NULL, "", 0);
	c = client_for(&f);
	assert_int_equal(rain_client_upload(c, "/v2/images/x/file", p[0], -1, NULL, NULL,
					    &info), 0);
	fake_stop(&f);
	assert_non_null(strstr(f.head, "Transfer-Encoding: chunked\r\n"));
	assert_null(strstr(f.head, "Content-Length"));
	assert_string_equal(f.req_body, data);
	assert_int_equal(info.sent, strlen(data));
	close(p[0]);
	rain_client_free(c);
}

static void test_upload_short_file(void **state)
{
	struct fake f;
	struct rain_client *c;
	int fd = tmpfile_with("abc", 3);

	fake_start(&f, "204 No Content", NULL, "", 0);
	c = client_for(&f);
	assert_int_equal(rain_client_upload(c, "/v2/images/x/file", fd, 10, NULL, NULL, NULL),
			 RAIN_EIO);
	close(fd);
	rain_client_free(c);   /* closes the connection, so the responder ends */
	fake_stop(&f);
}

static void test_upload_cancel(void **state)
{
	static char data[200000];
	struct fake f;
	struct rain_client *c;
	int fd = tmpfile_with(data, sizeof(data));

	fake_start(&f, "204 No Content", NULL, "", 0);
	c = client_for(&f);
	assert_int_equal(rain_client_upload(c, "/v2/images/x/file", fd, sizeof(data),
					    cancel_progress, NULL, NULL), RAIN_ECANCELED);
	close(fd);
	rain_client_free(c);
	fake_stop(&f);
}

static void test_upload_refused(void **state)
{
	const char *body = "{\"code\": 413, \"title\": \"Request Entity Too Large\", "
			   "\"message\": \"over the limit\"}";
	struct rain_upload_info info;
	struct fake f;
	struct rain_client *c;
	int fd = tmpfile_with("data", 4);

	fake_start(&f, "413 Request Entity Too Large", NULL, body, strlen(body));
	c = client_for(&f);
	assert_int_equal(rain_client_upload(c, "/v2/images/x/file", fd, 4, NULL, NULL, &info),
			 RAIN_ETOOBIG);
	fake_stop(&f);
	assert_int_equal(info.status, 413);
	assert_non_null(strstr(rain_error_last(), "over the limit"));
	close(fd);
	rain_client_free(c);
}

/* ---- downloads ---------------------------------------------------------- */

static const char image_data[] = "0123456789abcdefghijklmnopqrstuvwxyz";

static void test_download_whole(void **state)
{
	struct rain_download_info info;
	struct fake f;
	struct rain_client *c;
	char want[65], *got;
	size_t len;
	int fd = tmpfile_with("", 0);

	sha256_hex(image_data, strlen(image_data), want);
	fake_start(&f, "200 OK", "Content-Type: application/octet-stream\r\n", image_data,
		   strlen(image_data));
	c = client_for(&f);
	assert_int_equal(rain_client_download(c, "/v2/images/x/file", fd, 0, NULL, NULL,
					      &info), 0);
	fake_stop(&f);
	assert_null(header_value(f.head, "Range"));
	assert_int_equal(info.status, 200);
	assert_int_equal(info.offset, 0);
	assert_int_equal(info.written, strlen(image_data));
	assert_int_equal(info.total, strlen(image_data));
	assert_string_equal(info.sha256, want);
	got = file_contents(fd, &len);
	assert_int_equal(len, strlen(image_data));
	assert_memory_equal(got, image_data, len);
	free(got);
	close(fd);
	rain_client_free(c);
}

static void test_download_resume(void **state)
{
	struct rain_download_info info;
	struct fake f;
	struct rain_client *c;
	char want[65], *got, range[128];
	size_t len;
	int fd = tmpfile_with(image_data, 10);

	sha256_hex(image_data, strlen(image_data), want);
	snprintf(range, sizeof(range), "Content-Range: bytes 10-%zu/%zu\r\n",
		 strlen(image_data) - 1, strlen(image_data));
	fake_start(&f, "206 Partial Content", range, image_data + 10, strlen(image_data) - 10);
	c = client_for(&f);
	assert_int_equal(rain_client_download(c, "/v2/images/x/file", fd, 10, NULL, NULL,
					      &info), 0);
	fake_stop(&f);
	assert_true(str_has_prefix(header_value(f.head, "Range"), "bytes=10-\r\n"));
	assert_int_equal(info.status, 206);
	assert_int_equal(info.offset, 10);
	assert_int_equal(info.written, strlen(image_data) - 10);
	assert_int_equal(info.total, strlen(image_data));
	/* the hash covers the whole file, old bytes too */
	assert_string_equal(info.sha256, want);
	got = file_contents(fd, &len);
	assert_int_equal(len, strlen(image_data));
	assert_memory_equal(got, image_data, len);
	free(got);
	close(fd);
	rain_client_free(c);
}

static void test_download_range_ignored(void **state)
{
	struct rain_download_info info;
	struct fake f;
	struct rain_client *c;
	char want[65], *got;
	size_t len;
	int fd = tmpfile_with("XXXXXXXXXXXX", 12);   /* junk: must be replaced */

	sha256_hex(image_data, strlen(image_data), want);
	fake_start(&f, "200 OK", NULL, image_data, strlen(image_data));
	c = client_for(&f);
	assert_int_equal(rain_client_download(c, "/v2/images/x/file", fd, 12, NULL, NULL,
					      &info), 0);
	fake_stop(&f);
	assert_int_equal(info.status, 200);
	assert_int_equal(info.offset, 0);
	assert_string_equal(info.sha256, want);
	got = file_contents(fd, &len);
	assert_int_equal(len, strlen(image_data));
	assert_memory_equal(got, image_data, len);
	free(got);
	close(fd);
	rain_client_free(c);
}

static void test_download_complete_416(void **state)
{
	struct rain_download_info info;
	struct fake f;
	struct rain_client *c;
	char want[65];
	int fd = tmpfile_with(image_data, strlen(image_data));

	sha256_hex(image_data, strlen(image_data), want);
	fake_start(&f, "416 Range Not Satisfiable", NULL, "{}", 2);
	c = client_for(&f);
	assert_int_equal(rain_client_download(c, "/v2/images/x/file", fd,
					      (int64_t)strlen(image_data), NULL, NULL, &info), 0);
	fake_stop(&f);
	assert_int_equal(info.status, 416);
	assert_int_equal(info.written, 0);
	assert_string_equal(info.sha256, want);
	close(fd);
	rain_client_free(c);
}

static void test_download_error_not_written(void **state)
{
	const char *body = "{\"code\": 404, \"title\": \"Not Found\", \"message\": \"no image\"}";
	struct fake f;
	struct rain_client *c;
	struct stat st;
	int fd = tmpfile_with("", 0);

	fake_start(&f, "404 Not Found", NULL, body, strlen(body));
	c = client_for(&f);
	assert_int_equal(rain_client_download(c, "/v2/images/x/file", fd, 0, NULL, NULL, NULL),
			 RAIN_ENOTFOUND);
	fake_stop(&f);
	assert_string_equal(rain_error_last(), "no image (HTTP 404 Not Found)");
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 0);
	close(fd);
	rain_client_free(c);
}

static void test_download_no_data(void **state)
{
	struct fake f;
	struct rain_client *c;
	int fd = tmpfile_with("", 0);

	fake_start(&f, "204 No Content", NULL, "", 0);
	c = client_for(&f);
	assert_int_equal(rain_client_download(c, "/v2/images/x/file", fd, 0, NULL, NULL, NULL),
			 RAIN_ENOTFOUND);
	fake_stop(&f);
	close(fd);
	rain_client_free(c);
}

static void test_download_resume_needs_data(void **state)
{
	struct rain_client_config cfg = { .url = "http://127.0.0.1:1" };
	struct rain_client *c;
	int fd = tmpfile_with("abc", 3);

	assert_int_equal(rain_client_new(&cfg, &c), 0);
	/* the file is shorter than the offset: refused before any request */
	assert_int_equal(rain_client_download(c, "/v2/images/x/file", fd, 10, NULL, NULL, NULL),
			 RAIN_EINVAL);
	close(fd);
	rain_client_free(c);
}

/* ---- images ------------------------------------------------------------ */

#define ID1 "0b6f3c6e-2d5a-4b1e-9a51-3f1c2b7d9e01"
#define ID2 "7c1e9d2a-5b3f-4e6a-8c0d-1a2b3c4d5e6f"

/* A client for a fresh one-shot server answering status and body. */
static struct rain_client *serve(struct fake *f, const char *status, const char *body)
{
	fake_start(f, status, NULL, body, strlen(body));
	return client_for(f);
}

static void test_image_list(void **state)
{
	const char *body = "{\"images\": [{\"id\": \"" ID1 "\"}, {\"id\": \"" ID2 "\"}],"
			   " \"first\": \"/v2/images\"}";
	struct fake f;
	struct rain_client *c = serve(&f, "200 OK", body);
	json_t *images = NULL;

	assert_int_equal(rain_client_image_list(c, "?name=a%20b&limit=2", true, &images), 0);
	fake_stop(&f);
	assert_true(str_has_prefix(f.head, "GET /v2/images?name=a%20b&limit=2 HTTP/1.1\r\n"));
	assert_int_equal(json_array_size(images), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(images, 1), "id")), ID2);
	json_decref(images);
	rain_client_free(c);

	/* no "images" array */
	c = serve(&f, "200 OK", "{\"servers\": []}");
	assert_int_equal(rain_client_image_list(c, NULL, false, &images), RAIN_EFORMAT);
	fake_stop(&f);
	assert_true(str_has_prefix(f.head, "GET /v2/images HTTP/1.1\r\n"));
	assert_null(images);
	/* a query must start with '?' (nothing is sent) */
	assert_int_equal(rain_client_image_list(c, "name=x", false, &images), RAIN_EINVAL);
	assert_null(images);
	rain_client_free(c);
}

static void test_image_list_next_loop(void **state)
{
	/* a "next" link to the page itself is refused, not followed forever */
	const char *body = "{\"images\": [{\"id\": \"" ID1 "\"}], \"next\": \"/v2/images?limit=1\"}";
	struct fake f;
	struct rain_client *c = serve(&f, "200 OK", body);
	json_t *images = (json_t *)1;

	assert_int_equal(rain_client_image_list(c, "?limit=1", true, &images), RAIN_EFORMAT);
	fake_stop(&f);
	assert_null(images);
	assert_non_null(strstr(rain_error_last(), "loop"));
	rain_client_free(c);
	/* without follow only the first page is read */
	c = serve(&f, "200 OK", body);
	assert_int_equal(rain_client_image_list(c, "?limit=1", false, &images), 0);
	fake_stop(&f);
	assert_int_equal(json_array_size(images), 1);
	json_decref(images);
	rain_client_free(c);
}

static void test_image_resolve(void **state)
{
	const char *one = "{\"images\": [{\"id\": \"" ID1 "\", \"name\": \"deb 12\"},"
			  " {\"id\": \"" ID2 "\", \"name\": \"deb 12x\"}]}";
	const char *two = "{\"images\": [{\"id\": \"" ID1 "\", \"name\": \"deb\"},"
			  " {\"id\": \"" ID2 "\", \"name\": \"deb\"}]}";
	struct rain_client_config cfg = { .url = "http://127.0.0.1:1", .connect_timeout = 1 };
	struct rain_client *c;
	struct fake f;
	char id[37];
	int n;

	/* a UUID needs no server (port 1 refuses), and comes back lowercase */
	assert_int_equal(rain_client_new(&cfg, &c), 0);
	assert_int_equal(rain_client_image_resolve(c, "0B6F3C6E-2D5A-4B1E-9A51-3F1C2B7D9E01", id,
						   &n), 0);
	assert_string_equal(id, ID1);
	assert_int_equal(n, 1);
	assert_int_equal(rain_client_image_resolve(c, "", id, &n), RAIN_EINVAL);
	/* a listing that fails: its error, matches -1 */
	assert_int_equal(rain_client_image_resolve(c, "deb", id, &n), RAIN_ENET);
	assert_int_equal(n, -1);
	rain_client_free(c);

	/* one exact match among what the server sent */
	c = serve(&f, "200 OK", one);
	assert_int_equal(rain_client_image_resolve(c, "deb 12", id, &n), 0);
	fake_stop(&f);
	assert_true(str_has_prefix(f.head, "GET /v2/images?name=deb%2012 HTTP/1.1\r\n"));
	assert_string_equal(id, ID1);
	assert_int_equal(n, 1);
	rain_client_free(c);
	/* none */
	c = serve(&f, "200 OK", one);
	assert_int_equal(rain_client_image_resolve(c, "deb", id, &n), RAIN_ENOTFOUND);
	fake_stop(&f);
	assert_int_equal(n, 0);
	assert_string_equal(rain_error_last(), "no image is named 'deb'");
	rain_client_free(c);
	/* two: both ids named */
	c = serve(&f, "200 OK", two);
	assert_int_equal(rain_client_image_resolve(c, "deb", id, NULL), RAIN_ECONFLICT);
	fake_stop(&f);
	assert_string_equal(rain_error_last(), "2 images are named 'deb' (" ID1 ", " ID2 ")");
	rain_client_free(c);
}

static void test_image_get_create(void **state)
{
	struct fake f;
	struct rain_client *c = serve(&f, "200 OK", "{\"id\": \"" ID1 "\", \"name\": \"x\"}");
	json_t *image = NULL, *fields = json_pack("{s:s, s:s}", "name", "x", "disk_format", "raw");
	json_t *sent;

	assert_int_equal(rain_client_image_get(c, ID1, &image), 0);
	fake_stop(&f);
	assert_true(str_has_prefix(f.head, "GET /v2/images/" ID1 " HTTP/1.1\r\n"));
	assert_string_equal(json_string_value(json_object_get(image, "name")), "x");
	json_decref(image);
	rain_client_free(c);
	/* an answer that is not an image */
	c = serve(&f, "200 OK", "[1]");
	assert_int_equal(rain_client_image_get(c, ID1, &image), RAIN_EFORMAT);
	fake_stop(&f);
	assert_null(image);
	/* not an id: refused before anything is sent */
	assert_int_equal(rain_client_image_get(c, "../users", &image), RAIN_EINVAL);
	assert_null(image);
	rain_client_free(c);

	c = serve(&f, "201 Created", "{\"id\": \"" ID2 "\", \"status\": \"queued\"}");
	assert_int_equal(rain_client_image_create(c, fields, &image), 0);
	fake_stop(&f);
	assert_true(str_has_prefix(f.head, "POST /v2/images HTTP/1.1\r\n"));
	sent = json_loads(f.req_body, 0, NULL);
	assert_true(json_equal(sent, fields));
	assert_string_equal(json_string_value(json_object_get(image, "id")), ID2);
	json_decref(sent);
	json_decref(image);
	rain_client_free(c);
	/* an answer without an id */
	c = serve(&f, "201 Created", "{\"name\": \"x\"}");
	assert_int_equal(rain_client_image_create(c, fields, &image), RAIN_EFORMAT);
	fake_stop(&f);
	assert_null(image);
	json_decref(fields);
	rain_client_free(c);
}

static void test_image_patch_delete(void **state)
{
	json_t *patch = json_pack("[{s:s, s:s, s:s}]", "op", "replace", "path", "/name",
				  "value", "new");
	json_t *image = NULL, *sent;
	struct fake f;
	struct rain_client *c = serve(&f, "200 OK", "{\"id\": \"" ID1 "\", \"name\": \"new\"}");

	assert_int_equal(rain_client_image_patch(c, ID1, patch, &image), 0);
	fake_stop(&f);
	assert_true(str_has_prefix(f.head, "PATCH /v2/images/" ID1 " HTTP/1.1\r\n"));
	assert_true(str_has_prefix(header_value(f.head, "Content-Type"),
				   "application/openstack-images-v2.1-json-patch"));
	sent = json_loads(f.req_body, 0, NULL);
	assert_true(json_equal(sent, patch));
	assert_string_equal(json_string_value(json_object_get(image, "name")), "new");
	json_decref(sent);
	json_decref(image);
	json_decref(patch);
	rain_client_free(c);

	c = serve(&f, "403 Forbidden", "{\"message\": \"image is protected\"}");
	assert_int_equal(rain_client_image_delete(c, ID1), RAIN_EFORBIDDEN);
	fake_stop(&f);
	assert_true(str_has_prefix(f.head, "DELETE /v2/images/" ID1 " HTTP/1.1\r\n"));
	assert_non_null(strstr(rain_error_last(), "image is protected"));
	rain_client_free(c);
}

static void test_image_tag_action(void **state)
{
	struct fake f;
	struct rain_client *c = serve(&f, "204 No Content", "");

	/* the tag is percent-encoded into the path */
	assert_int_equal(rain_client_image_tag(c, ID1, "a b/c", true), 0);
	fake_stop(&f);
	assert_true(str_has_prefix(f.head, "PUT /v2/images/" ID1 "/tags/a%20b%2Fc HTTP/1.1\r\n"));
	rain_client_free(c);
	c = serve(&f, "204 No Content", "");
	assert_int_equal(rain_client_image_tag(c, ID1, "old", false), 0);
	fake_stop(&f);
	assert_true(str_has_prefix(f.head, "DELETE /v2/images/" ID1 "/tags/old HTTP/1.1\r\n"));
	assert_int_equal(rain_client_image_tag(c, ID1, "", true), RAIN_EINVAL);
	rain_client_free(c);

	c = serve(&f, "204 No Content", "");
	assert_int_equal(rain_client_image_action(c, ID1, "deactivate"), 0);
	fake_stop(&f);
	assert_true(str_has_prefix(f.head, "POST /v2/images/" ID1 "/actions/deactivate HTTP/1.1\r\n"));
	/* only the two actions Glance has */
	assert_int_equal(rain_client_image_action(c, ID1, "delete"), RAIN_EINVAL);
	assert_int_equal(rain_client_image_action(c, ID1, NULL), RAIN_EINVAL);
	rain_client_free(c);
}

static void test_image_data(void **state)
{
	static const char data[] = "image data";
	struct rain_upload_info up;
	struct rain_download_info down;
	struct fake f;
	struct rain_client *c;
	char want[65];
	int fd = tmpfile_with(data, sizeof(data) - 1), out;

	c = serve(&f, "204 No Content", "");
	assert_int_equal(rain_client_image_upload(c, ID1, fd, sizeof(data) - 1, NULL, NULL, &up), 0);
	fake_stop(&f);
	assert_true(str_has_prefix(f.head, "PUT /v2/images/" ID1 "/file HTTP/1.1\r\n"));
	assert_string_equal(f.req_body, data);
	sha256_hex(data, sizeof(data) - 1, want);
	assert_string_equal(up.sha256, want);
	close(fd);
	rain_client_free(c);

	out = tmpfile_with("", 0);
	c = serve(&f, "200 OK", data);
	assert_int_equal(rain_client_image_download(c, ID1, out, 0, NULL, NULL, &down), 0);
	fake_stop(&f);
	assert_true(str_has_prefix(f.head, "GET /v2/images/" ID1 "/file HTTP/1.1\r\n"));
	assert_int_equal(down.written, sizeof(data) - 1);
	assert_string_equal(down.sha256, want);
	/* not an id: nothing sent, nothing written */
	assert_int_equal(rain_client_image_download(c, "x/../y", out, 0, NULL, NULL, &down),
			 RAIN_EINVAL);
	close(out);
	rain_client_free(c);
}

static void test_image_members(void **state)
{
	struct fake f;
	struct rain_client *c;
	json_t *out = NULL, *sent;

	c = serve(&f, "200 OK", "{\"members\": [{\"member_id\": \"bob\", \"status\": \"pending\"}]}");
	assert_int_equal(rain_client_image_member_list(c, ID1, &out), 0);
	fake_stop(&f);
	assert_true(str_has_prefix(f.head, "GET /v2/images/" ID1 "/members HTTP/1.1\r\n"));
	assert_int_equal(json_array_size(json_object_get(out, "members")), 1);
	json_decref(out);
	rain_client_free(c);

	c = serve(&f, "200 OK", "{\"member_id\": \"bob\", \"status\": \"pending\"}");
	assert_int_equal(rain_client_image_member_add(c, ID1, "bob", &out), 0);
	fake_stop(&f);
	assert_true(str_has_prefix(f.head, "POST /v2/images/" ID1 "/members HTTP/1.1\r\n"));
	sent = json_loads(f.req_body, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(sent, "member")), "bob");
	json_decref(sent);
	json_decref(out);
	assert_int_equal(rain_client_image_member_add(c, ID1, "", &out), RAIN_EINVAL);
	rain_client_free(c);

	c = serve(&f, "200 OK", "{\"member_id\": \"bob\", \"status\": \"accepted\"}");
	assert_int_equal(rain_client_image_member_get(c, ID1, "bob", &out), 0);
	fake_stop(&f);
	assert_true(str_has_prefix(f.head, "GET /v2/images/" ID1 "/members/bob HTTP/1.1\r\n"));
	json_decref(out);
	rain_client_free(c);

	c = serve(&f, "200 OK", "{\"member_id\": \"bob\", \"status\": \"accepted\"}");
	assert_int_equal(rain_client_image_member_update(c, ID1, "bob", "accepted", &out), 0);
	fake_stop(&f);
	assert_true(str_has_prefix(f.head, "PUT /v2/images/" ID1 "/members/bob HTTP/1.1\r\n"));
	sent = json_loads(f.req_body, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(sent, "status")), "accepted");
	json_decref(sent);
	json_decref(out);
	rain_client_free(c);

	c = serve(&f, "404 Not Found", "{\"message\": \"no member carol\"}");
	assert_int_equal(rain_client_image_member_delete(c, ID1, "carol"), RAIN_ENOTFOUND);
	fake_stop(&f);
	assert_true(str_has_prefix(f.head, "DELETE /v2/images/" ID1 "/members/carol HTTP/1.1\r\n"));
	rain_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_join),
		cmocka_unit_test(test_error_message),
		cmocka_unit_test(test_status_error),
		cmocka_unit_test(test_new_rejects),
		cmocka_unit_test(test_request_get),
		cmocka_unit_test(test_request_patch),
		cmocka_unit_test(test_request_empty_post),
		cmocka_unit_test(test_request_error),
		cmocka_unit_test(test_request_bad_json),
		cmocka_unit_test(test_request_no_server),
		cmocka_unit_test(test_upload_sized),
		cmocka_unit_test(test_upload_hashes),
		cmocka_unit_test(test_upload_sparse),
		cmocka_unit_test(test_upload_chunked),
		cmocka_unit_test(test_upload_short_file),
		cmocka_unit_test(test_upload_cancel),
		cmocka_unit_test(test_upload_refused),
		cmocka_unit_test(test_download_whole),
		cmocka_unit_test(test_download_resume),
		cmocka_unit_test(test_download_range_ignored),
		cmocka_unit_test(test_download_complete_416),
		cmocka_unit_test(test_download_error_not_written),
		cmocka_unit_test(test_download_no_data),
		cmocka_unit_test(test_download_resume_needs_data),
		cmocka_unit_test(test_image_list),
		cmocka_unit_test(test_image_list_next_loop),
		cmocka_unit_test(test_image_resolve),
		cmocka_unit_test(test_request_headers),
		cmocka_unit_test(test_image_get_create),
		cmocka_unit_test(test_image_patch_delete),
		cmocka_unit_test(test_image_tag_action),
		cmocka_unit_test(test_image_data),
		cmocka_unit_test(test_image_members),
	};

	int r = cmocka_run_group_tests(tests, NULL, NULL);

	free(last_body);
	return r;
}
