/* The client's calls of long-running jobs: builds (/rain/v1/builds), any
 * job (/rain/v1/jobs) and vettings (/rain/v1/images/{id}/vet); see
 * include/rain/client.h. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client-internal.h"
#include "rain/error.h"
#include "util/cleanup.h"

/* ---- builds ----------------------------------------------------------- */

static int build_path(const char *id, const char *suffix, char **out)
{
	return client_id_path("/rain/v1/builds", "a build", id, suffix, NULL, out);
}

static int job_path(const char *id, const char *suffix, char **out)
{
	return client_id_path("/rain/v1/jobs", "a job", id, suffix, NULL, out);
}

int rain_client_build_submit(struct rain_client *c, json_t *request, json_t **build)
{
	rain_error_clear();
	return client_want_object(rain_client_request(c, "POST", "/rain/v1/builds", NULL, request,
						      NULL, build), build, "build record");
}

/* GET a build's or a job's record (which API: build). */
static int get_record(struct rain_client *c, bool build, const char *id, json_t **out)
{
	_cleanup_free_ char *path = NULL;
	int r;

	rain_error_clear();
	*out = NULL;
	r = build ? build_path(id, "", &path) : job_path(id, "", &path);
	if (r < 0)
		return r;
	return client_want_object(rain_client_request(c, "GET", path, NULL, NULL, NULL, out), out,
				  build ? "build record" : "job record");
}

int rain_client_build_get(struct rain_client *c, const char *id, json_t **build)
{
	return get_record(c, true, id, build);
}

int rain_client_build_list(struct rain_client *c, json_t **builds)
{
	rain_error_clear();
	return client_get_list(c, "/rain/v1/builds", "builds", builds);
}

/* POST a build's or a job's cancel (which API: build). */
static int cancel(struct rain_client *c, bool build, const char *id, json_t **out)
{
	_cleanup_free_ char *path = NULL;
	json_t *resp = NULL;
	int r;

	rain_error_clear();
	r = build ? build_path(id, "/cancel", &path) : job_path(id, "/cancel", &path);
	if (out)
		*out = NULL;
	if (r < 0)
		return r;
	r = rain_client_request(c, "POST", path, NULL, NULL, NULL, &resp);
	if (r == 0 && out)
		*out = resp;
	else
		json_decref(resp);
	return r;
}

int rain_client_build_cancel(struct rain_client *c, const char *id, json_t **build)
{
	return cancel(c, true, id, build);
}

int rain_client_job_cancel(struct rain_client *c, const char *id, json_t **job)
{
	return cancel(c, false, id, job);
}

int rain_client_build_delete(struct rain_client *c, const char *id)
{
	_cleanup_free_ char *path = NULL;
	int r;

	rain_error_clear();
	r = build_path(id, "", &path);
	if (r < 0)
		return r;
	return rain_client_request(c, "DELETE", path, NULL, NULL, NULL, NULL);
}

struct logstream {
	struct rain_client *c;
	rain_log_fn fn;
	void *ud;
	bool begun, canceled;
	long code;
	int64_t received;
	struct buf errbody;
};

static size_t log_write_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct logstream *s = ud;
	size_t n = size * nmemb;

	if (!s->begun) {
		s->begun = true;
		curl_easy_getinfo(s->c->curl, CURLINFO_RESPONSE_CODE, &s->code);
	}
	if (s->code >= 300)
		return client_buf_write_cb(p, size, nmemb, &s->errbody);
	if (s->fn(s->ud, p, n) != 0) {
		s->canceled = true;
		return 0;
	}
	s->received += (int64_t)n;
	return n;
}

static int log_progress_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow,
			   curl_off_t ultotal, curl_off_t ulnow)
{
	struct logstream *s = ud;

	if (s->fn(s->ud, NULL, 0) != 0) {
		s->canceled = true;
		return 1;
	}
	return 0;
}

/* GET a job's log (build or job: which API); see rain_client_build_log. */
static int job_log(struct rain_client *c, bool build, const char *id, int64_t offset,
		   bool follow, rain_log_fn fn, void *ud, int64_t *received)
{
	struct logstream s = { .c = c, .fn = fn, .ud = ud, .errbody = { .max = ERRBODY_MAX } };
	struct curl_slist *headers = NULL;
	_cleanup_free_ char *path = NULL;
	char suffix[64];
	CURLcode rc;
	int r;

	rain_error_clear();
	if (received)
		*received = 0;
	snprintf(suffix, sizeof(suffix), "/log?offset=%" PRId64 "%s", offset < 0 ? 0 : offset,
		 follow ? "&follow=1" : "");
	r = build ? build_path(id, suffix, &path) : job_path(id, suffix, &path);
	if (r < 0)
		return r;
	r = client_setup(c, "GET", path, &headers);
	if (r < 0)
		return r;
	r = client_add_header(&headers, "Accept: text/plain");
	if (r < 0)
		goto done;
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, log_write_cb);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, log_progress_cb);
	curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, &s);
	rc = curl_easy_perform(c->curl);
	if (received)
		*received = s.received;
	if (s.canceled) {
		r = rain_error_set(RAIN_ECANCELED, "canceled");
		goto done;
	}
	if (!s.begun)
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &s.code);
	if (s.code >= 300) {
		r = client_http_error(s.code, &s.errbody);
		goto done;
	}
	if (rc != CURLE_OK) {
		r = client_transport_error(c, rc);
		goto done;
	}
	r = 0;
done:
	curl_slist_free_all(headers);
	free(s.errbody.data);
	return r;
}

int rain_client_build_log(struct rain_client *c, const char *id, int64_t offset, bool follow,
			  rain_log_fn fn, void *ud, int64_t *received)
{
	return job_log(c, true, id, offset, follow, fn, ud, received);
}

int rain_client_job_log(struct rain_client *c, const char *id, int64_t offset, bool follow,
			rain_log_fn fn, void *ud, int64_t *received)
{
	return job_log(c, false, id, offset, follow, fn, ud, received);
}

int rain_client_job_get(struct rain_client *c, const char *id, json_t **job)
{
	return get_record(c, false, id, job);
}

/* ---- vetting (/rain/v1/images/{id}/vet) -------------------------------- */

int rain_client_vet(struct rain_client *c, const char *image_id, const char *policy,
		    bool runtime, json_t **job)
{
	_cleanup_free_ char *path = NULL;
	json_t *body;
	int r;

	rain_error_clear();
	*job = NULL;
	r = client_id_path("/rain/v1/images", "an image", image_id, "/vet", NULL, &path);
	if (r < 0)
		return r;
	body = json_pack("{s:b}", "runtime", runtime);
	if (!body || (policy && json_object_set_new(body, "policy", json_string(policy)) < 0)) {
		json_decref(body);
		return rain_error_oom();
	}
	r = rain_client_request(c, "POST", path, NULL, body, NULL, job);
	json_decref(body);
	return client_want_object(r, job, "vetting record");
}

int rain_client_vetting_get(struct rain_client *c, const char *image_id, json_t **report)
{
	_cleanup_free_ char *path = NULL;
	int r;

	rain_error_clear();
	*report = NULL;
	r = client_id_path("/rain/v1/images", "an image", image_id, "/vetting", NULL, &path);
	if (r < 0)
		return r;
	return client_want_object(rain_client_request(c, "GET", path, NULL, NULL, NULL, report), report,
				  "vetting report");
}

int rain_client_build_file(struct rain_client *c, const char *id, const char *name, int fd)
{
	return client_file_get(c, "/rain/v1/builds", "a build", id, name, fd);
}
