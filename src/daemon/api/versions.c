/* GET / and /versions (Glance's version document), GET /healthz. */
#include <stdio.h>

#include "rain/error.h"
#include "rain/repo.h"

#include "daemon/http.h"

static int versions(struct request *req)
{
	static const char *const ids[] = {
		"v2.16", "v2.15", "v2.9", "v2.7", "v2.6", "v2.5", "v2.4", "v2.3",
		"v2.2", "v2.1", "v2.0"
	};
	char base[1100], href[1200];
	json_t *list = json_array();

	request_base_url(req, base, sizeof(base));
	snprintf(href, sizeof(href), "%s/v2/", base);
	for (size_t i = 0; i < sizeof(ids) / sizeof(*ids); i++)
		json_array_append_new(list, json_pack("{s:s, s:s, s:[{s:s, s:s}]}",
			"id", ids[i], "status", i == 0 ? "CURRENT" : "SUPPORTED",
			"links", "rel", "self", "href", href));
	return http_reply_json(req, 300, json_pack("{s:o}", "versions", list), NULL);
}

/* Whether this raind can serve: its catalog and blob store answer. A
 * load balancer takes a server out on 503; the body names what failed. */
static int healthz(struct request *req)
{
	bool cat = false, store = false;
	json_t *body;

	if (rain_repo_ping(request_repo(req), &cat, &store) == 0)
		return http_reply_json(req, 200, json_pack("{s:s, s:s, s:s}", "status", "ok",
							   "catalog", "ok", "store", "ok"), NULL);
	body = json_pack("{s:s, s:s, s:s, s:s}", "status", "unavailable",
			 "catalog", cat ? "ok" : "unreachable", "store", store ? "ok" : "unreachable",
			 "error", rain_error_last());
	return http_reply_json(req, 503, body, NULL);
}

const struct route api_versions_routes[] = {
	{ "GET", "/", BODY_NONE, RAIN_ACT_PUBLIC, versions, NULL, NULL, NULL, 0 },
	{ "GET", "/versions", BODY_NONE, RAIN_ACT_PUBLIC, versions, NULL, NULL, NULL, 0 },
	{ "GET", "/healthz", BODY_NONE, RAIN_ACT_PUBLIC, healthz, NULL, NULL, NULL, 0 },
	{ NULL, NULL, BODY_NONE, RAIN_ACT_PUBLIC, NULL, NULL, NULL, NULL, 0 },
};
