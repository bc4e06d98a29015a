/* GET /metrics: raind's metrics in Prometheus' text format
 * (daemon/metrics.h), to admins only: they name routes and counts that
 * tell how the service is used. [metrics] listen serves them without a
 * token on an address of their own. */
#include <stdio.h>
#include <stdlib.h>

#include "daemon/builds.h"
#include "daemon/http.h"
#include "daemon/metrics.h"
#include "daemon/registrations.h"
#include "daemon/runs.h"
#include "daemon/vetting.h"
#include "rain/error.h"

static int metrics(struct request *req)
{
	struct metrics_sources src = {
		.jobs = {
			request_builds(req) ? builds_jobs(request_builds(req)) : NULL,
			vetting_jobs(request_vetting(req)),
			registrations_jobs(request_registrations(req)),
			runs_jobs(request_runs(req)),
		},
		.imports = request_imports(req),
	};
	struct MHD_Response *resp;
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	if (!req->who.admin)
		return http_reply_error(req, 403, "Only admins read the metrics (or scrape the "
					"address of [metrics] listen).");
	f = open_memstream(&text, &len);
	if (!f)
		return rain_error_oom();
	r = metrics_render(f, &src);
	if (fclose(f) != 0 && r == 0)
		r = rain_error_oom();
	if (r < 0) {
		free(text);
		return r;
	}
	resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return rain_error_oom();
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; version=0.0.4; charset=utf-8");
	req->bytes_out = (int64_t)len;
	return http_reply_response(req, 200, resp);
}

const struct route api_metrics_routes[] = {
	{ "GET", "/metrics", BODY_NONE, RAIN_ACT_ANY_USER, metrics, NULL, NULL, NULL, 0 },
	{ NULL, NULL, BODY_NONE, RAIN_ACT_PUBLIC, NULL, NULL, NULL, NULL, 0 },
};
