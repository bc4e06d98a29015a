/* The job engines' API: every kind of job (builds, vettings, registrations):
 *
 *   GET    /rain/v1/jobs                {"jobs": [...]}, newest first, each
 *                                       record with its "kind"
 *   GET    /rain/v1/jobs/{id}           one record (+ position while queued)
 *   GET    /rain/v1/jobs/{id}/log       text/plain; ?offset=N starts at byte N;
 *                                       ?follow=1 streams until the job ends
 *                                       (parked between writes: no thread waits)
 *   POST   /rain/v1/jobs/{id}/cancel    the record afterwards; 409 when finished
 *   DELETE /rain/v1/jobs/{id}           204; 409 unless finished
 *
 * An owner sees their own jobs, an admin all (rain/policy.h, job-show);
 * others' jobs are not found. Builds also have their own API
 * (/rain/v1/builds), vettings start at /rain/v1/images/{id}/vet,
 * registrations at /rain/v1/registrations, runs at /rain/v1/runs.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon/builds.h"
#include "daemon/http.h"
#include "daemon/registrations.h"
#include "daemon/runs.h"
#include "daemon/vetting.h"
#include "rain/error.h"
#include "rain/jobs.h"
#include "util/strutil.h"

#define CANCEL_WAIT_S 60        /* how long a cancel waits for a running job */

#define NENGINES API_JOB_ENGINES

void api_job_engines(struct request *req, struct rain_jobs *out[API_JOB_ENGINES])
{
	out[0] = request_builds(req) ? builds_jobs(request_builds(req)) : NULL;
	out[1] = vetting_jobs(request_vetting(req));
	out[2] = registrations_jobs(request_registrations(req));
	out[3] = runs_jobs(request_runs(req));
}

/* The engine that has job id (visible to the caller), or NULL after a
 * 404. */
static struct rain_jobs *find(struct request *req, const char *id)
{
	struct rain_jobs *e[NENGINES];
	json_t *rec = NULL;

	api_job_engines(req, e);
	for (size_t i = 0; i < NENGINES; i++)
		if (e[i] && rain_jobs_get(e[i], &req->who, RAIN_ACT_JOB_SHOW, NULL, id, &rec) == 0) {
			json_decref(rec);
			return e[i];
		}
	http_reply_error(req, 404, "no job %s", id);
	return NULL;
}

static int by_created_desc(const void *a, const void *b)
{
	const char *x = json_string_value(json_object_get(*(json_t *const *)a, "created_at"));
	const char *y = json_string_value(json_object_get(*(json_t *const *)b, "created_at"));

	return strcmp(y ? y : "", x ? x : "");
}

int api_job_list(struct request *req, json_t **out)
{
	struct rain_jobs *e[NENGINES];
	json_t *all = json_array(), *part, *v;
	json_t **items;
	size_t i, n;
	int r = all ? 0 : rain_error_oom();

	api_job_engines(req, e);
	for (size_t k = 0; k < NENGINES && r == 0; k++) {
		if (!e[k])
			continue;
		r = rain_jobs_list(e[k], &req->who, RAIN_ACT_JOB_SHOW, NULL, &part);
		if (r == 0 && json_array_extend(all, part) < 0)
			r = rain_error_oom();
		json_decref(part);
	}
	n = all ? json_array_size(all) : 0;
	items = r == 0 ? calloc(n + 1, sizeof(*items)) : NULL;
	if (r == 0 && !items)
		r = rain_error_oom();
	*out = NULL;
	if (r < 0) {
		json_decref(all);
		return r;
	}
	json_array_foreach(all, i, v)
		items[i] = json_incref(v);
	qsort(items, n, sizeof(*items), by_created_desc);
	json_array_clear(all);
	for (i = 0; i < n; i++)
		json_array_append_new(all, items[i]);
	free(items);
	*out = all;
	return 0;
}

static int list(struct request *req)
{
	json_t *all;
	int r = api_job_list(req, &all);

	return r < 0 ? r : http_reply_json(req, 200, json_pack("{s:o}", "jobs", all), NULL);
}

static int show(struct request *req)
{
	struct rain_jobs *e = find(req, req->params[0]);
	json_t *out = NULL;
	int r;

	if (!e)
		return 0;
	r = rain_jobs_get(e, &req->who, RAIN_ACT_JOB_SHOW, NULL, req->params[0], &out);
	return r < 0 ? r : http_reply_json(req, 200, out, NULL);
}

static int cancel(struct request *req)
{
	struct rain_jobs *e = find(req, req->params[0]);
	json_t *out = NULL;
	int r;

	if (!e)
		return 0;
	r = rain_jobs_cancel(e, &req->who, RAIN_ACT_BUILD_CANCEL, NULL, req->params[0],
			     CANCEL_WAIT_S, &out);
	return r < 0 ? r : http_reply_json(req, 200, out, NULL);
}

static int delete(struct request *req)
{
	struct rain_jobs *e = find(req, req->params[0]);
	int r;

	if (!e)
		return 0;
	r = rain_jobs_delete(e, &req->who, RAIN_ACT_BUILD_DELETE, NULL, req->params[0]);
	return r < 0 ? r : http_reply_empty(req, 204);
}

/* ---- logs ------------------------------------------------------------- */

/* A log response: with follow, a read that finds nothing new parks the
 * connection until the log grows or the job ends (http_park), so that no
 * worker thread waits for a job. */
struct log_stream {
	struct rain_job_log *log;
	struct http_park park;
};

static bool log_ready(void *ud)
{
	return rain_jobs_log_ready(((struct log_stream *)ud)->log);
}

static ssize_t log_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct log_stream *s = cls;

	(void)pos;
	for (;;) {
		ssize_t n = rain_jobs_log_read(s->log, buf, max);

		if (n < 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (n > 0)
			return n;
		if (!rain_jobs_log_more(s->log)) {
			/* whatever was written before the end */
			n = rain_jobs_log_read(s->log, buf, max);
			return n > 0 ? n : n == 0 ? MHD_CONTENT_READER_END_OF_STREAM :
			       MHD_CONTENT_READER_END_WITH_ERROR;
		}
		switch (http_park(&s->park)) {
		case 1: return 0;       /* resumed when there is more */
		case -1: return MHD_CONTENT_READER_END_OF_STREAM;
		default: break;         /* more already: read again */
		}
	}
}

static void log_free(void *cls)
{
	struct log_stream *s = cls;

	http_park_done(&s->park);
	rain_jobs_log_close(s->log);
	free(s);
}

int api_job_log(struct request *req, struct rain_jobs *jobs, const char *kind,
		enum rain_action action, const char *id)
{
	const char *follow = request_query(req, "follow"), *offset = request_query(req, "offset");
	struct rain_job_log *l;
	struct log_stream *s;
	struct MHD_Response *resp;
	int64_t off = 0;
	bool f = false;
	int r;

	if (follow && str_to_bool(follow, &f) < 0)
		return http_reply_error(req, 400, "follow must be 1 or 0, not '%s'", follow);
	if (offset && (str_to_i64(offset, &off) < 0 || off < 0))
		return http_reply_error(req, 400, "offset must be a byte count, not '%s'", offset);
	r = rain_jobs_log_open(jobs, &req->who, action, kind, id, off, f, &l);
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s) {
		rain_jobs_log_close(l);
		return rain_error_oom();
	}
	s->log = l;
	http_park_init(&s->park, req, log_ready, s);
	/* unknown size: chunked, so that lines go out as they are written */
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, log_read, s, log_free);
	if (!resp) {
		log_free(s);
		return rain_error_set(RAIN_ENOMEM, "cannot build the log response");
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=UTF-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	return http_reply_response(req, 200, resp);
}

static int log_get(struct request *req)
{
	struct rain_jobs *e = find(req, req->params[0]);

	return e ? api_job_log(req, e, NULL, RAIN_ACT_JOB_SHOW, req->params[0]) : 0;
}

const struct route api_jobs_routes[] = {
	{ "GET", "/rain/v1/jobs", BODY_NONE, RAIN_ACT_ANY_USER, list, NULL, NULL, NULL, 0 },
	{ "GET", "/rain/v1/jobs/{}", BODY_NONE, RAIN_ACT_JOB_SHOW, show, NULL, NULL, NULL, 0 },
	{ "GET", "/rain/v1/jobs/{}/log", BODY_NONE, RAIN_ACT_JOB_SHOW, log_get, NULL, NULL, NULL, 0 },
	{ "POST", "/rain/v1/jobs/{}/cancel", BODY_NONE, RAIN_ACT_BUILD_CANCEL, cancel, NULL, NULL, NULL, 0 },
	{ "DELETE", "/rain/v1/jobs/{}", BODY_NONE, RAIN_ACT_BUILD_DELETE, delete, NULL, NULL, NULL, 0 },
	{ NULL, NULL, BODY_NONE, RAIN_ACT_PUBLIC, NULL, NULL, NULL, NULL, 0 },
};
