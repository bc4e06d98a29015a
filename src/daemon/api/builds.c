/* The build service's API (daemon/builds.h does the work):
 *
 *   POST   /rain/v1/builds              submit {"recipe", "files", "store",
 *                                       "boot_check"}: 202 and the record;
 *                                       429 past a per-user limit, 413 past
 *                                       the size, files or quota limits
 *   GET    /rain/v1/builds              {"builds": [...]}, newest first
 *   GET    /rain/v1/builds/{id}         the record (+ position, manifest)
 *   GET    /rain/v1/builds/{id}/log     text/plain; ?offset=N starts at byte N;
 *                                       ?follow=1 streams until the build ends
 *                                       (parked between writes: no thread waits)
 *   GET    /rain/v1/builds/{id}/files/{name}  one of a finished build's
 *                                       outputs (kernel, initramfs,
 *                                       manifest.json, build.log, images)
 *   POST   /rain/v1/builds/{id}/cancel  the record afterwards; 409 when finished
 *   DELETE /rain/v1/builds/{id}         204; 409 unless finished
 *
 * A remote build's worker (rain/sys/worker.h: the slurm backend's rain
 * build-worker) reports with the build's worker token in
 * X-Rain-Worker-Token, not a user's: these take no X-Auth-Token, and the
 * token is good for its own running build only (401 otherwise):
 *   POST   /rain/v1/builds/{id}/worker/log           {"text"}: into the log; 204
 *   PUT    /rain/v1/builds/{id}/worker/outputs/{name} the file's bytes; 204
 *   POST   /rain/v1/builds/{id}/worker/done          {"ok", "error"}: 204
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/builds.h"
#include "daemon/http.h"
#include "rain/build-record.h"
#include "rain/error.h"
#include "util/fsutil.h"
#include "util/strutil.h"

/* The files of a build may reach RAIN_BUILD_FILES_MAX; base64 adds a third. */
#define BUILD_BODY_MAX ((size_t)RAIN_BUILD_FILES_MAX / 3 * 4 + (4 << 20))

/* A submission while its body arrives (req->state). */
struct submit_state {
	struct builds_submission *sub;
	char *body;
	size_t len, cap;
};

static void submit_free(struct request *req)
{
	struct submit_state *st = req->state;

	if (!st)
		return;
	builds_submit_end(st->sub);
	free(st->body);
	free(st);
	req->state = NULL;
}

static int reply_refused(struct request *req, int r)
{
	if (r == BUILDS_ELIMIT)
		return http_reply_error(req, 429, "%s", rain_error_last());
	return r;
}

/* Before the body: the service is up, and the user may send one more
 * build (per-user limits: 429 at once, nothing read). */
static int submit_begin(struct request *req)
{
	struct builds *b = request_builds(req);
	const char *why = b ? builds_unavailable(b) : "raind runs without a build service";
	struct submit_state *st;
	int r;

	const char *cl = request_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	int64_t n;

	if (why)
		return http_reply_error(req, 503, "%s", why);
	if (cl && str_to_i64(cl, &n) == 0 && n > (int64_t)BUILD_BODY_MAX)
		return http_reply_error(req, 413, "the request body is larger than %zu bytes (a "
					"build's files may take %lld MiB)", BUILD_BODY_MAX,
					(long long)(RAIN_BUILD_FILES_MAX >> 20));
	st = calloc(1, sizeof(*st));
	if (!st)
		return rain_error_oom();
	r = builds_submit_begin(b, &req->who, &st->sub);
	if (r < 0) {
		free(st);
		return reply_refused(req, r);
	}
	req->state = st;
	return 0;
}

static int submit_data(struct request *req, const char *buf, size_t len)
{
	struct submit_state *st = req->state;

	if (!st)
		return 0;
	if (len > BUILD_BODY_MAX - st->len) {
		submit_free(req);
		return http_reply_error(req, 413, "the request body is larger than %zu bytes (a "
					"build's files may take %lld MiB)", BUILD_BODY_MAX,
					(long long)(RAIN_BUILD_FILES_MAX >> 20));
	}
	if (st->len + len + 1 > st->cap) {
		size_t cap = st->cap ? st->cap : 64 * 1024;
		char *nb;

		while (cap < st->len + len + 1)
			cap *= 2;
		if (cap > BUILD_BODY_MAX + 1)
			cap = BUILD_BODY_MAX + 1;
		nb = realloc(st->body, cap);
		if (!nb) {
			submit_free(req);
			return rain_error_oom();
		}
		st->body = nb;
		st->cap = cap;
	}
	memcpy(st->body + st->len, buf, len);
	st->len += len;
	return 0;
}

/* Whether the client closed its end of the connection (a finished
 * submission would only be answered into the void). */
static bool client_gone(void *ud)
{
	struct request *req = ud;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct pollfd p = { .events = POLLIN | POLLRDHUP };
	char c;

	if (!ci)
		return false;
	p.fd = ci->connect_fd;
	if (poll(&p, 1, 0) <= 0)
		return false;
	if (p.revents & (POLLHUP | POLLERR | POLLRDHUP))
		return true;
	return (p.revents & POLLIN) && recv(p.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* The submission's work, off the connection's worker (it may take
 * seconds: the files are written and synced): parse, submit, reply. */
static void submit_work(struct request *req)
{
	struct submit_state *st = req->state;
	json_error_t err;
	json_t *body, *rec;
	char location[80];
	int r;

	body = json_loadb(st->body, st->len, JSON_REJECT_DUPLICATES, &err);
	/* the text is not needed once parsed */
	free(st->body);
	st->body = NULL;
	st->len = st->cap = 0;
	if (!body) {
		submit_free(req);
		http_reply_error(req, 400, "malformed JSON in request body at line %d column %d: %s",
				 err.line, err.column, err.text);
		return;
	}
	r = builds_submit(st->sub, body, client_gone, req, &rec);
	json_decref(body);
	submit_free(req);
	if (r == BUILDS_ELIMIT) {
		http_reply_error(req, 429, "%s", rain_error_last());
	} else if (r < 0) {
		http_reply_rain_error(req, r);
	} else {
		snprintf(location, sizeof(location), "/rain/v1/builds/%s",
			 json_string_value(json_object_get(rec, "id")));
		http_reply_json(req, 202, rec, "Location", location, NULL);
	}
}

static void *submit_thread(void *arg)
{
	struct request *req = arg;

	submit_work(req);
	http_defer_done(req);
	return NULL;
}

static int submit_end(struct request *req)
{
	struct submit_state *st = req->state;
	pthread_attr_t attr;
	pthread_t t;
	int r;

	if (!st)
		return http_reply_error(req, 500, "the build submission was lost");
	if (!st->len) {
		submit_free(req);
		return http_reply_error(req, 400, "the request needs a JSON body");
	}
	/* at most BUILDS_SUBMITTING_MAX of these per user */
	http_defer(req);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&t, &attr, submit_thread, req);
	pthread_attr_destroy(&attr);
	if (r != 0)             /* then here, holding the worker */
		submit_thread(req);
	return 0;
}

static void submit_abort(struct request *req)
{
	submit_free(req);
}

static int list(struct request *req)
{
	json_t *out;
	int r;

	if (!request_builds(req))
		return http_reply_json(req, 200, json_pack("{s:[]}", "builds"), NULL);
	r = builds_list(request_builds(req), &req->who, &out);
	return r < 0 ? r : http_reply_json(req, 200, out, NULL);
}

static int show(struct request *req)
{
	json_t *out;
	int r;

	if (!request_builds(req))
		return http_reply_error(req, 404, "no build %s", req->params[0]);
	r = builds_get(request_builds(req), &req->who, req->params[0], &out);
	return r < 0 ? r : http_reply_json(req, 200, out, NULL);
}

static int cancel(struct request *req)
{
	json_t *out;
	int r;

	if (!request_builds(req))
		return http_reply_error(req, 404, "no build %s", req->params[0]);
	r = builds_cancel(request_builds(req), &req->who, req->params[0], &out);
	return r < 0 ? r : http_reply_json(req, 200, out, NULL);
}

static int delete(struct request *req)
{
	int r;

	if (!request_builds(req))
		return http_reply_error(req, 404, "no build %s", req->params[0]);
	r = builds_delete(request_builds(req), &req->who, req->params[0]);
	return r < 0 ? r : http_reply_empty(req, 204);
}

static int log_get(struct request *req)
{
	if (!request_builds(req))
		return http_reply_error(req, 404, "no build %s", req->params[0]);
	return api_job_log(req, builds_jobs(request_builds(req)), "build", RAIN_ACT_BUILD_SHOW,
			   req->params[0]);
}

/* ---- the worker API ---- */

#define WORKER_TOKEN_HEADER "X-Rain-Worker-Token"

static const char *worker_token(struct request *req)
{
	return request_header(req, WORKER_TOKEN_HEADER);
}

/* The body of a worker call as a JSON object, or a 400 (returns NULL). */
static json_t *worker_body(struct request *req)
{
	json_error_t err;
	json_t *j = req->body ? json_loadb(req->body, req->body_len, 0, &err) : NULL;

	if (!json_is_object(j)) {
		json_decref(j);
		http_reply_error(req, 400, "the body must be a JSON object");
		return NULL;
	}
	return j;
}

static int worker_log(struct request *req)
{
	json_t *j, *text;
	int r;

	if (!request_builds(req))
		return http_reply_error(req, 404, "no build %s", req->params[0]);
	if (!(j = worker_body(req)))
		return 0;
	text = json_object_get(j, "text");
	if (!json_is_string(text)) {
		json_decref(j);
		return http_reply_error(req, 400, "\"text\" must be the log's text");
	}
	r = builds_worker_log(request_builds(req), req->params[0], worker_token(req),
			      json_string_value(text), json_string_length(text));
	json_decref(j);
	return r < 0 ? r : http_reply_empty(req, 204);
}

static int worker_done(struct request *req)
{
	json_t *j, *ok, *error;
	int r;

	if (!request_builds(req))
		return http_reply_error(req, 404, "no build %s", req->params[0]);
	if (!(j = worker_body(req)))
		return 0;
	ok = json_object_get(j, "ok");
	error = json_object_get(j, "error");
	if (!json_is_boolean(ok) || (error && !json_is_null(error) && !json_is_string(error))) {
		json_decref(j);
		return http_reply_error(req, 400, "\"ok\" must be true or false and \"error\" a "
					"string");
	}
	r = builds_worker_done(request_builds(req), req->params[0], worker_token(req),
			       json_is_true(ok), json_string_value(error));
	json_decref(j);
	return r < 0 ? r : http_reply_empty(req, 204);
}

/* An output while it arrives (req->state). */
struct output_state {
	int fd;
};

static void output_free(struct request *req)
{
	struct output_state *st = req->state;

	if (!st)
		return;
	if (st->fd >= 0)
		close(st->fd);
	free(st);
	req->state = NULL;
}

static int output_begin(struct request *req)
{
	struct output_state *st;
	int r;

	if (!request_builds(req))
		return http_reply_error(req, 404, "no build %s", req->params[0]);
	if (!(st = calloc(1, sizeof(*st))))
		return rain_error_oom();
	r = builds_worker_output_open(request_builds(req), req->params[0], worker_token(req),
				      req->params[1], &st->fd);
	if (r < 0) {
		free(st);
		return r;
	}
	req->state = st;
	return 0;
}

static int output_data(struct request *req, const char *buf, size_t len)
{
	struct output_state *st = req->state;
	int r;

	if (!st)
		return 0;
	r = fs_write_all(st->fd, buf, len, req->params[1]);
	if (r < 0)
		output_free(req);
	return r;
}

static int output_end(struct request *req)
{
	struct output_state *st = req->state;
	int fd, r;

	if (!st)
		return http_reply_error(req, 500, "the output upload was lost");
	fd = st->fd;
	st->fd = -1;
	output_free(req);
	r = builds_worker_output_commit(request_builds(req), req->params[0], worker_token(req),
					req->params[1], fd);
	return r < 0 ? r : http_reply_empty(req, 204);
}

static void output_abort(struct request *req)
{
	output_free(req);
}

static int file_get(struct request *req)
{
	struct MHD_Response *resp;
	struct stat st;
	int fd, r;

	if (!request_builds(req))
		return http_reply_error(req, 404, "no build %s", req->params[0]);
	r = builds_file(request_builds(req), &req->who, req->params[0], req->params[1], &fd, &st);
	if (r < 0)
		return r;
	resp = MHD_create_response_from_fd_at_offset64((uint64_t)st.st_size, fd, 0);
	if (!resp) {
		close(fd);
		return rain_error_set(RAIN_ENOMEM, "cannot build the response for %s", req->params[1]);
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	req->bytes_out = st.st_size;
	return http_reply_response(req, 200, resp);
}

const struct route api_builds_routes[] = {
	{ "POST", "/rain/v1/builds", BODY_STREAM, RAIN_ACT_BUILD_SUBMIT, submit_begin, submit_data, submit_end, submit_abort, 0 },
	{ "GET", "/rain/v1/builds", BODY_NONE, RAIN_ACT_ANY_USER, list, NULL, NULL, NULL, 0 },
	{ "GET", "/rain/v1/builds/{}", BODY_NONE, RAIN_ACT_BUILD_SHOW, show, NULL, NULL, NULL, 0 },
	{ "DELETE", "/rain/v1/builds/{}", BODY_NONE, RAIN_ACT_BUILD_DELETE, delete, NULL, NULL, NULL, 0 },
	{ "GET", "/rain/v1/builds/{}/log", BODY_NONE, RAIN_ACT_BUILD_SHOW, log_get, NULL, NULL, NULL, 0 },
	{ "GET", "/rain/v1/builds/{}/files/{}", BODY_NONE, RAIN_ACT_BUILD_SHOW, file_get, NULL, NULL,
	  NULL, 0 },
	{ "POST", "/rain/v1/builds/{}/cancel", BODY_NONE, RAIN_ACT_BUILD_CANCEL, cancel, NULL, NULL, NULL, 0 },
	{ "POST", "/rain/v1/builds/{}/worker/log", BODY_JSON, RAIN_ACT_PUBLIC, worker_log, NULL, NULL, NULL, 0 },
	{ "PUT", "/rain/v1/builds/{}/worker/outputs/{}", BODY_STREAM, RAIN_ACT_PUBLIC, output_begin, output_data, output_end, output_abort, 0 },
	{ "POST", "/rain/v1/builds/{}/worker/done", BODY_JSON, RAIN_ACT_PUBLIC, worker_done, NULL, NULL, NULL, 0 },
	{ NULL, NULL, BODY_NONE, RAIN_ACT_PUBLIC, NULL, NULL, NULL, NULL, 0 },
};
