/* GET /v2/info/usage: the caller's use of the repository against its
 * quotas, in Glance's shape (image_size_total in MiB, as Glance's unified
 * limits count it; -1: no limit). image_stage_total: the MiB of data the
 * caller has staged for glance-direct (charges "stage/ID", rain/repo.h),
 * which image_size_total counts too. */
#include <stdlib.h>
#include <string.h>

#include "daemon/http.h"
#include "rain/catalog.h"

static json_t *entry(int64_t limit, int64_t usage)
{
	return json_pack("{s:I, s:I}", "limit", (json_int_t)(limit > 0 ? limit : -1), "usage", (json_int_t)usage);
}

static int usage(struct request *req)
{
	struct rain_usage u;
	struct rain_charge *staged = NULL;
	int64_t stage_bytes = 0;
	size_t n = 0;
	const struct rain_who *who = &req->who;
	int r = rain_catalog_usage(rain_repo_catalog(request_repo(req)), who->owner, &u);

	if (r < 0)
		return r;
	r = rain_catalog_charge_list(rain_repo_catalog(request_repo(req)), "stage/", &staged, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if (who->owner && !strcmp(staged[i].owner, who->owner))
			stage_bytes += staged[i].bytes;
	free(staged);
	return http_reply_json(req, 200, json_pack("{s:{s:o, s:o, s:o, s:o}}", "usage",
		"image_size_total", entry(who->quota_bytes > 0 ? who->quota_bytes >> 20 : -1,
					  (u.bytes + (1 << 20) - 1) >> 20),
		"image_stage_total", entry(-1, (stage_bytes + (1 << 20) - 1) >> 20),
		"image_count_total", entry(who->quota_images, u.images),
		"image_count_uploading", entry(-1, u.uploading)), NULL);
}

const struct route api_usage_routes[] = {
	{ "GET", "/v2/info/usage", BODY_NONE, RAIN_ACT_ANY_USER, usage, NULL, NULL, NULL, 0 },
	{ NULL, NULL, BODY_NONE, RAIN_ACT_PUBLIC, NULL, NULL, NULL, NULL, 0 },
};
