/* The job engine's API: every kind of job (builds for now), read only:
 *
 *   GET    /rain/v1/jobs                {"jobs": [...]}, newest first, each
 *                                       record with its "kind"
 *   GET    /rain/v1/jobs/{id}           one record (+ position while queued)
 *
 * An owner sees their own jobs, an admin all (rain/policy.h, job-show);
 * others' jobs are not found. Each kind keeps its own API for the rest
 * (/rain/v1/builds).
 */
#include "daemon/builds.h"
#include "daemon/http.h"
#include "rain/error.h"
#include "rain/jobs.h"

static int list(struct request *req)
{
	struct rain_jobs *jobs = request_builds(req) ? builds_jobs(request_builds(req)) : NULL;
	json_t *out = NULL;
	int r;

	if (!jobs)
		return http_reply_json(req, 200, json_pack("{s:[]}", "jobs"), NULL);
	r = rain_jobs_list(jobs, &req->who, RAIN_ACT_JOB_SHOW, NULL, &out);
	return r < 0 ? r : http_reply_json(req, 200, json_pack("{s:o}", "jobs", out), NULL);
}

static int show(struct request *req)
{
	struct rain_jobs *jobs = request_builds(req) ? builds_jobs(request_builds(req)) : NULL;
	json_t *out = NULL;
	int r;

	if (!jobs)
		return http_reply_error(req, 404, "no job %s", req->params[0]);
	r = rain_jobs_get(jobs, &req->who, RAIN_ACT_JOB_SHOW, NULL, req->params[0], &out);
	return r < 0 ? r : http_reply_json(req, 200, out, NULL);
}

const struct route api_jobs_routes[] = {
	{ "GET", "/rain/v1/jobs", BODY_NONE, RAIN_ACT_ANY_USER, list, NULL, NULL, NULL, 0 },
	{ "GET", "/rain/v1/jobs/{}", BODY_NONE, RAIN_ACT_JOB_SHOW, show, NULL, NULL, NULL, 0 },
	{ NULL, NULL, BODY_NONE, RAIN_ACT_PUBLIC, NULL, NULL, NULL, NULL, 0 },
};
