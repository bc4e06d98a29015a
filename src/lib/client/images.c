/* The client's calls of Glance's image API (/v2/images: images, their data,
 * tags, members); see include/rain/client.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client-internal.h"
#include "rain/error.h"
#include "util/cleanup-json.h"
#include "util/strutil.h"
#include "util/uuid.h"

/* ---- images (Glance's /v2/images) -------------------------------------- */

#define IMAGES "/v2/images"
#define PATCH_TYPE "application/openstack-images-v2.1-json-patch"
#define MAX_PAGES 100000

static int image_path(const char *id, const char *suffix, const char *name, char **out)
{
	return client_id_path(IMAGES, "an image", id, suffix, name, out);
}

int rain_client_image_list(struct rain_client *c, const char *query, bool follow,
			   json_t **images)
{
	json_t *all = json_array();
	char *next = NULL;
	int r = 0, pages = 0;

	rain_error_clear();
	*images = NULL;
	if (query && *query && *query != '?') {
		json_decref(all);
		return rain_error_set(RAIN_EINVAL, "a query string starts with '?'");
	}
	if (!all || asprintf(&next, IMAGES "%s", query ? query : "") < 0) {
		next = NULL;
		r = rain_error_oom();
		goto done;
	}
	while (next) {
		json_t *resp = NULL, *page;
		const char *n;
		char *prev;

		r = rain_client_request(c, "GET", next, NULL, NULL, NULL, &resp);
		if (r < 0)
			goto done;
		page = json_object_get(resp, "images");
		if (!json_is_array(page)) {
			json_decref(resp);
			r = rain_error_set(RAIN_EFORMAT, "the server's image list has no \"images\" array");
			goto done;
		}
		json_array_extend(all, page);
		n = json_string_value(json_object_get(resp, "next"));
		prev = next;
		next = NULL;
		if (follow && n && json_array_size(page) > 0) {
			if (strcmp(n, prev) == 0 || ++pages >= MAX_PAGES)
				r = rain_error_set(RAIN_EFORMAT, "the server's \"next\" links loop");
			else if (!(next = strdup(n)))
				r = rain_error_oom();
		}
		free(prev);
		json_decref(resp);
		if (r < 0)
			goto done;
	}
	*images = all;
	all = NULL;
done:
	free(next);
	json_decref(all);
	return r;
}

int rain_client_image_resolve(struct rain_client *c, const char *ref, char id[37], int *matches)
{
	_cleanup_free_ char *name = NULL, *query = NULL;
	json_t *list = NULL, *img;
	char ids[512] = "";
	size_t i;
	int r, n = 0;

	rain_error_clear();
	if (matches)
		*matches = -1;
	if (!ref || !*ref)
		return rain_error_set(RAIN_EINVAL, "an empty image name");
	if (uuid_is_valid(ref)) {
		memcpy(id, ref, 37);
		uuid_canonicalize(id);
		if (matches)
			*matches = 1;
		return 0;
	}
	name = str_url_encode(ref);
	if (!name || asprintf(&query, "?name=%s", name) < 0) {
		query = NULL;
		return rain_error_oom();
	}
	r = rain_client_image_list(c, query, true, &list);
	if (r == 0 && json_array_size(list) == 0) {
		/* an image shared with the caller that they have not accepted
		 * (yet): Glance lists those only when asked */
		json_decref(list);
		list = NULL;
		free(query);
		if (asprintf(&query, "?name=%s&member_status=all&visibility=shared", name) < 0) {
			query = NULL;
			return rain_error_oom();
		}
		r = rain_client_image_list(c, query, true, &list);
	}
	if (r < 0)
		return r;
	/* match here too, in case the server ignores the filter */
	json_array_foreach(list, i, img) {
		const char *iname = json_string_value(json_object_get(img, "name"));
		const char *iid = json_string_value(json_object_get(img, "id"));

		if (!iname || !iid || strcmp(iname, ref) != 0 || !uuid_is_valid(iid))
			continue;
		if (n == 0) {
			memcpy(id, iid, 37);
			uuid_canonicalize(id);
		}
		if (strlen(ids) + 40 < sizeof(ids))
			snprintf(ids + strlen(ids), sizeof(ids) - strlen(ids), "%s%s",
				 n ? ", " : "", iid);
		n++;
	}
	json_decref(list);
	if (matches)
		*matches = n;
	if (n == 0)
		return rain_error_set(RAIN_ENOTFOUND, "no image is named '%.200s'", ref);
	if (n > 1)
		return rain_error_set(RAIN_ECONFLICT, "%d images are named '%.200s' (%s)", n, ref, ids);
	return 0;
}

int rain_client_image_get(struct rain_client *c, const char *id, json_t **image)
{
	_cleanup_free_ char *path = NULL;
	int r;

	rain_error_clear();
	r = image_path(id, "", NULL, &path);
	*image = NULL;
	if (r < 0)
		return r;
	return client_want_object(rain_client_request(c, "GET", path, NULL, NULL, NULL, image), image,
				  "image");
}

int rain_client_image_create(struct rain_client *c, json_t *fields, json_t **image)
{
	int r;

	rain_error_clear();
	r = rain_client_request(c, "POST", IMAGES, NULL, fields, NULL, image);
	if (r == 0 && !json_is_string(json_object_get(*image, "id"))) {
		json_decref(*image);
		*image = NULL;
		return rain_error_set(RAIN_EFORMAT, "the server's answer has no image id");
	}
	return r;
}

int rain_client_image_patch(struct rain_client *c, const char *id, json_t *patch,
			    json_t **image)
{
	_cleanup_free_ char *path = NULL;
	int r;

	rain_error_clear();
	r = image_path(id, "", NULL, &path);
	if (image)
		*image = NULL;
	if (r < 0)
		return r;
	return rain_client_request(c, "PATCH", path, PATCH_TYPE, patch, NULL, image);
}

int rain_client_image_delete(struct rain_client *c, const char *id)
{
	_cleanup_free_ char *path = NULL;
	int r;

	rain_error_clear();
	r = image_path(id, "", NULL, &path);
	return r < 0 ? r : rain_client_request(c, "DELETE", path, NULL, NULL, NULL, NULL);
}

int rain_client_image_upload(struct rain_client *c, const char *id, int fd, int64_t size,
			     rain_progress_fn progress, void *ud, struct rain_upload_info *info)
{
	return rain_client_image_upload_hashes(c, id, fd, size, RAIN_HASH_SHA256, progress, ud, info);
}

int rain_client_image_upload_hashes(struct rain_client *c, const char *id, int fd, int64_t size,
				    unsigned int flags, rain_progress_fn progress, void *ud,
				    struct rain_upload_info *info)
{
	_cleanup_free_ char *path = NULL;
	int r;

	rain_error_clear();
	r = image_path(id, "/file", NULL, &path);
	return r < 0 ? r : rain_client_upload_hashes(c, path, fd, size, flags, progress, ud, info);
}

int rain_client_image_download(struct rain_client *c, const char *id, int fd, int64_t offset,
			       rain_progress_fn progress, void *ud,
			       struct rain_download_info *info)
{
	_cleanup_free_ char *path = NULL;
	int r;

	rain_error_clear();
	r = image_path(id, "/file", NULL, &path);
	return r < 0 ? r : rain_client_download(c, path, fd, offset, progress, ud, info);
}

int rain_client_image_tag(struct rain_client *c, const char *id, const char *tag, bool add)
{
	_cleanup_free_ char *path = NULL;
	int r;

	rain_error_clear();
	r = image_path(id, "/tags", tag ? tag : "", &path);
	return r < 0 ? r : rain_client_request(c, add ? "PUT" : "DELETE", path, NULL, NULL,
					       NULL, NULL);
}

int rain_client_image_action(struct rain_client *c, const char *id, const char *action)
{
	_cleanup_free_ char *path = NULL;
	int r;

	rain_error_clear();
	if (!action || (strcmp(action, "deactivate") && strcmp(action, "reactivate")))
		return rain_error_set(RAIN_EINVAL, "'%.50s' is not an image action (deactivate, "
				      "reactivate)", action ? action : "");
	r = image_path(id, "/actions", action, &path);
	return r < 0 ? r : rain_client_request(c, "POST", path, NULL, NULL, NULL, NULL);
}

int rain_client_image_member_list(struct rain_client *c, const char *id, json_t **members)
{
	_cleanup_free_ char *path = NULL;
	int r;

	rain_error_clear();
	r = image_path(id, "/members", NULL, &path);
	*members = NULL;
	return r < 0 ? r : client_get_list(c, path, "members", members);
}

int rain_client_image_member_add(struct rain_client *c, const char *id, const char *member,
				 json_t **out)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_json_ json_t *body = NULL;
	int r;

	rain_error_clear();
	r = image_path(id, "/members", NULL, &path);
	if (out)
		*out = NULL;
	if (r < 0)
		return r;
	if (!member || !*member)
		return rain_error_set(RAIN_EINVAL, "no member name");
	body = json_pack("{s:s}", "member", member);
	if (!body)
		return rain_error_set(RAIN_EINVAL, "the member name must be UTF-8");
	return client_want_object(rain_client_request(c, "POST", path, NULL, body, NULL, out), out, "member");
}

int rain_client_image_member_get(struct rain_client *c, const char *id, const char *member,
				 json_t **out)
{
	_cleanup_free_ char *path = NULL;
	int r;

	rain_error_clear();
	r = image_path(id, "/members", member ? member : "", &path);
	*out = NULL;
	if (r < 0)
		return r;
	return client_want_object(rain_client_request(c, "GET", path, NULL, NULL, NULL, out), out,
				  "member");
}

int rain_client_image_member_update(struct rain_client *c, const char *id, const char *member,
				    const char *status, json_t **out)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_json_ json_t *body = NULL;
	int r;

	rain_error_clear();
	r = image_path(id, "/members", member ? member : "", &path);
	if (out)
		*out = NULL;
	if (r < 0)
		return r;
	body = json_pack("{s:s}", "status", status ? status : "");
	if (!body)
		return rain_error_set(RAIN_EINVAL, "the status must be UTF-8");
	return rain_client_request(c, "PUT", path, NULL, body, NULL, out);
}

int rain_client_image_member_delete(struct rain_client *c, const char *id, const char *member)
{
	_cleanup_free_ char *path = NULL;
	int r;

	rain_error_clear();
	r = image_path(id, "/members", member ? member : "", &path);
	return r < 0 ? r : rain_client_request(c, "DELETE", path, NULL, NULL, NULL, NULL);
}
