/* The image records of the Images API v2: list, create, show, update
 * (JSON patch), delete, tags, deactivate/reactivate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/http.h"
#include "daemon/import.h"
#include "rain/error.h"
#include "util/jsonw.h"
#include "util/strutil.h"
#include "util/uuid.h"

#define LIST_DEFAULT_LIMIT 25
#define LIST_MAX_LIMIT 1000

/* The query string of a list request, parsed. */
struct list_args {
	struct rain_image_query q;
	const char *sort;           /* the "sort=" form */
	const char *sort_dirs[RAIN_QUERY_MAX_SORT];
	size_t nsort_dirs;
	const char *limit;
	char *error;                /* first problem found, or NULL */
	FILE *next;                 /* the next link's query, minus marker */
	bool first_arg;
};

static void list_fail(struct list_args *a, const char *fmt, const char *what)
{
	if (a->error)
		return;
	if (asprintf(&a->error, fmt, what) < 0)
		a->error = NULL;
}

static void keep_for_next(struct list_args *a, const char *key, const char *value)
{
	_cleanup_free_ char *k = str_url_encode(key), *v = str_url_encode(value);

	if (k && v && strcmp(key, "marker") && strcmp(key, "limit"))
		fprintf(a->next, "&%s=%s", k, v);
}

static enum rain_query_op parse_op(const char **value)
{
	static const struct { const char *prefix; enum rain_query_op op; } ops[] = {
		{ "gte:", RAIN_OP_GTE }, { "gt:", RAIN_OP_GT }, { "lte:", RAIN_OP_LTE },
		{ "lt:", RAIN_OP_LT }, { "neq:", RAIN_OP_NEQ }, { "eq:", RAIN_OP_EQ },
		{ "in:", RAIN_OP_IN },
	};

	for (size_t i = 0; i < sizeof(ops) / sizeof(*ops); i++)
		if (str_has_prefix(*value, ops[i].prefix)) {
			*value += strlen(ops[i].prefix);
			return ops[i].op;
		}
	return RAIN_OP_EQ;
}

static void add_term(struct list_args *a, const char *attr, enum rain_query_op op, const char *value)
{
	if (a->q.nterms >= RAIN_QUERY_MAX_TERMS) {
		list_fail(a, "too many filters (at most %s)", "32");
		return;
	}
	a->q.terms[a->q.nterms++] = (struct rain_query_term){ attr, op, value };
}

static void list_arg(void *ud, const char *key, const char *value)
{
	struct list_args *a = ud;
	enum rain_query_op op;

	keep_for_next(a, key, value);
	if (!strcmp(key, "limit")) {
		a->limit = value;
	} else if (!strcmp(key, "marker")) {
		if (!uuid_is_valid(value))
			list_fail(a, "marker '%s' is not an image id", value);
		a->q.marker = value;
	} else if (!strcmp(key, "sort_key")) {
		if (a->q.nsort >= RAIN_QUERY_MAX_SORT)
			list_fail(a, "too many sort keys (at most %s)", "8");
		else if (!rain_catalog_sort_key_valid(value))
			list_fail(a, "Invalid sort key: %s.", value);
		else
			a->q.sort[a->q.nsort++] = (struct rain_sort){ value, true };
	} else if (!strcmp(key, "sort_dir")) {
		if (strcmp(value, "asc") && strcmp(value, "desc"))
			list_fail(a, "Invalid sort direction: %s", value);
		else if (a->nsort_dirs < RAIN_QUERY_MAX_SORT)
			a->sort_dirs[a->nsort_dirs++] = value;
	} else if (!strcmp(key, "sort")) {
		a->sort = value;
	} else if (!strcmp(key, "tag")) {
		if (a->q.ntags >= RAIN_QUERY_MAX_TERMS)
			list_fail(a, "too many tag filters (at most %s)", "32");
		else
			a->q.tags[a->q.ntags++] = value;
	} else if (!strcmp(key, "visibility")) {
		enum rain_visibility v;

		if (!strcmp(value, "all")) {
			a->q.include_community = true;
		} else if (rain_visibility_parse(value, &v) < 0) {
			list_fail(a, "Invalid visibility value: %s", value);
		} else {
			if (v == RAIN_VIS_COMMUNITY)
				a->q.include_community = true;
			add_term(a, "visibility", RAIN_OP_EQ, value);
		}
	} else if (!strcmp(key, "status")) {
		enum rain_image_status s;

		op = parse_op(&value);
		if (op != RAIN_OP_IN && rain_image_status_parse(value, &s) < 0)
			list_fail(a, "Invalid status value: %s", value);
		else
			add_term(a, "status", op, value);
	} else if (!strcmp(key, "size_min")) {
		add_term(a, "size", RAIN_OP_GTE, value);
	} else if (!strcmp(key, "size_max")) {
		add_term(a, "size", RAIN_OP_LTE, value);
	} else if (!strcmp(key, "os_hidden")) {
		a->q.include_hidden = true;
		add_term(a, "os_hidden", RAIN_OP_EQ, value);
	} else if (!strcmp(key, "member_status")) {
		/* which of others' shared images: by the caller's answer */
		static const char *const statuses[] = { "accepted", "pending", "rejected", "all", NULL };

		if (!str_in_list(statuses, value))
			list_fail(a, "Invalid member_status value: %s (accepted, pending, rejected or all)",
				  value);
		else
			a->q.member_status = value;
	} else if (!*key || strlen(key) > RAIN_NAME_MAX) {
		list_fail(a, "bad filter name '%s'", key);
	} else {
		op = parse_op(&value);
		add_term(a, key, op, value);
	}
}

static int parse_list_args(struct request *req, struct list_args *a)
{
	a->q.limit = LIST_DEFAULT_LIMIT;
	a->q.requester = req->who.owner;
	a->q.requester_admin = req->who.admin;
	request_query_foreach(req, list_arg, a);
	if (!a->error && a->limit) {
		int64_t n;

		if (str_to_i64(a->limit, &n) < 0)
			list_fail(a, "limit param must be an integer, not '%s'", a->limit);
		else if (n < 0)
			list_fail(a, "limit param must be positive, not %s", a->limit);
		else
			a->q.limit = n == 0 ? 1 : (size_t)(n > LIST_MAX_LIMIT ? LIST_MAX_LIMIT : n);
	}
	if (!a->error && a->sort && (a->q.nsort || a->nsort_dirs))
		list_fail(a, "%s", "the 'sort' parameter cannot be combined with sort_key or sort_dir");
	if (!a->error && a->sort) {
		/* sort=name:asc,created_at:desc ; the tokens point into a kept copy */
		char *copy = request_keep(req, strdup(a->sort)), *save = NULL, *tok;

		if (!copy)
			return rain_error_oom();
		for (tok = strtok_r(copy, ",", &save); tok && !a->error; tok = strtok_r(NULL, ",", &save)) {
			char *colon = strchr(tok, ':');
			bool desc = true;

			if (colon) {
				*colon = '\0';
				if (!strcmp(colon + 1, "asc"))
					desc = false;
				else if (strcmp(colon + 1, "desc"))
					list_fail(a, "Invalid sort direction: %s", colon + 1);
			}
			if (!rain_catalog_sort_key_valid(tok))
				list_fail(a, "Invalid sort key: %s.", tok);
			else if (a->q.nsort >= RAIN_QUERY_MAX_SORT)
				list_fail(a, "too many sort keys (at most %s)", "8");
			else
				a->q.sort[a->q.nsort++] = (struct rain_sort){ tok, desc };
		}
	}
	if (!a->error && a->nsort_dirs) {
		if (a->nsort_dirs > 1 && a->nsort_dirs != a->q.nsort)
			list_fail(a, "%s", "give one sort_dir, or one per sort_key");
		for (size_t i = 0; i < a->q.nsort; i++)
			a->q.sort[i].desc = strcmp(a->sort_dirs[a->nsort_dirs == 1 ? 0 : i], "asc") != 0;
	}
	return 0;
}

static int list_images(struct request *req)
{
	struct list_args a = { 0 };
	struct rain_image **imgs = NULL;
	_cleanup_free_ char *nextq = NULL;
	size_t n = 0, nlen;
	bool more = false;
	struct jsonw w;
	int r;

	a.next = open_memstream(&nextq, &nlen);
	if (!a.next)
		return rain_error_oom();
	r = parse_list_args(req, &a);
	fclose(a.next);
	if (r == 0 && a.error)
		r = http_reply_error(req, 400, "%s", a.error);
	else if (r == 0)
		r = rain_catalog_image_list(rain_repo_catalog(request_repo(req)), &a.q, &imgs, &n, &more);
	free(a.error);
	if (r < 0 || req->replied)
		return r;
	/* written straight out: a jansson tree of a page cost most of its time */
	jsonw_init(&w, 1024 * (n + 1));
	jsonw_object_begin(&w);
	jsonw_member_array_begin(&w, "images");
	for (size_t i = 0; i < n; i++)
		rain_image_write_json(imgs[i], &w);
	jsonw_array_end(&w);
	jsonw_member_str(&w, "first", "/v2/images");
	jsonw_member_str(&w, "schema", "/v2/schemas/images");
	if (more && n > 0) {
		_cleanup_free_ char *next = NULL;

		if (asprintf(&next, "/v2/images?marker=%s&limit=%zu%s", imgs[n - 1]->id,
			     a.q.limit, nextq ? nextq : "") >= 0)
			jsonw_member_str(&w, "next", next);
		else
			next = NULL;
	}
	jsonw_object_end(&w);
	rain_catalog_list_free(imgs, n);
	return http_reply_jsonw(req, 200, &w, NULL);
}

/* One image's representation (rain_image_to_json's, written directly). */
static int reply_image(struct request *req, unsigned int status, const struct rain_image *img,
		       const char *location)
{
	struct jsonw w;

	jsonw_init(&w, 2048);
	rain_image_write_json(img, &w);
	/* a new image says how its data may come, as Glance's does (the
	 * OpenStack SDK imports only when this names glance-direct) */
	if (location)
		return http_reply_jsonw(req, status, &w, "Location", location,
					"OpenStack-image-import-methods",
					imports_methods_header(request_imports(req)),
					"OpenStack-image-store-ids", RAIN_STORE_ID, NULL);
	return http_reply_jsonw(req, status, &w, NULL);
}

static int create_image(struct request *req)
{
	struct rain_image *img;
	json_t *body = request_json(req);
	char location[64];
	int r;

	if (!body)
		return 0;
	r = rain_repo_image_create(request_repo(req), &req->who, body, &img);
	json_decref(body);
	if (r < 0)
		return r;
	snprintf(location, sizeof(location), "/v2/images/%s", img->id);
	r = reply_image(req, 201, img, location);
	rain_image_free(img);
	return r;
}

static int show_image(struct request *req)
{
	struct rain_image *img;
	int r = rain_repo_image_get(request_repo(req), &req->who, req->params[0], &img);

	if (r < 0)
		return r;
	r = reply_image(req, 200, img, NULL);
	rain_image_free(img);
	return r;
}

static int update_image(struct request *req)
{
	const char *ctype = request_header(req, "Content-Type");
	enum rain_jsonpatch_dialect dialect;
	struct rain_jsonpatch *patch;
	struct rain_image *img;
	int r;

	if (ctype && str_has_prefix(ctype, "application/openstack-images-v2.1-json-patch"))
		dialect = RAIN_JSONPATCH_RFC6902;
	else if (ctype && str_has_prefix(ctype, "application/openstack-images-v2.0-json-patch"))
		dialect = RAIN_JSONPATCH_DRAFT4;
	else
		return http_reply_error(req, 415,
					"Unsupported Content-Type '%s': send application/openstack-images-v2.1-json-patch",
					ctype ? ctype : "(none)");
	r = rain_jsonpatch_parse_dialect(req->body ? req->body : "", req->body_len, dialect, &patch);
	if (r < 0)
		return http_reply_error(req, 400, "%s", rain_error_last());
	r = rain_repo_image_patch(request_repo(req), &req->who, req->params[0], patch, &img);
	rain_jsonpatch_free(patch);
	if (r < 0)
		return r;
	r = reply_image(req, 200, img, NULL);
	rain_image_free(img);
	return r;
}

static int delete_image(struct request *req)
{
	int r = rain_repo_image_delete(request_repo(req), &req->who, req->params[0]);

	return r < 0 ? r : http_reply_empty(req, 204);
}

static int add_tag(struct request *req)
{
	int r = rain_repo_tag_add(request_repo(req), &req->who, req->params[0], req->params[1]);

	return r < 0 ? r : http_reply_empty(req, 204);
}

static int remove_tag(struct request *req)
{
	int r = rain_repo_tag_remove(request_repo(req), &req->who, req->params[0], req->params[1]);

	return r < 0 ? r : http_reply_empty(req, 204);
}

static int deactivate(struct request *req)
{
	int r = rain_repo_image_deactivate(request_repo(req), &req->who, req->params[0]);

	return r < 0 ? r : http_reply_empty(req, 204);
}

static int reactivate(struct request *req)
{
	int r = rain_repo_image_reactivate(request_repo(req), &req->who, req->params[0]);

	return r < 0 ? r : http_reply_empty(req, 204);
}

const struct route api_images_routes[] = {
	{ "GET", "/v2/images", BODY_NONE, RAIN_ACT_ANY_USER, list_images, NULL, NULL, NULL, 0 },
	{ "POST", "/v2/images", BODY_JSON, RAIN_ACT_ANY_USER, create_image, NULL, NULL, NULL, 0 },
	{ "GET", "/v2/images/{}", BODY_NONE, RAIN_ACT_SHOW, show_image, NULL, NULL, NULL, 0 },
	{ "PATCH", "/v2/images/{}", BODY_JSON, RAIN_ACT_MODIFY, update_image, NULL, NULL, NULL, 0 },
	{ "DELETE", "/v2/images/{}", BODY_NONE, RAIN_ACT_DELETE, delete_image, NULL, NULL, NULL, 0 },
	{ "PUT", "/v2/images/{}/tags/{}", BODY_NONE, RAIN_ACT_TAG, add_tag, NULL, NULL, NULL, 0 },
	{ "DELETE", "/v2/images/{}/tags/{}", BODY_NONE, RAIN_ACT_TAG, remove_tag, NULL, NULL, NULL, 0 },
	{ "POST", "/v2/images/{}/actions/deactivate", BODY_NONE, RAIN_ACT_DEACTIVATE, deactivate, NULL, NULL, NULL, 0 },
	{ "POST", "/v2/images/{}/actions/reactivate", BODY_NONE, RAIN_ACT_DEACTIVATE, reactivate, NULL, NULL, NULL, 0 },
	{ NULL, NULL, BODY_NONE, RAIN_ACT_PUBLIC, NULL, NULL, NULL, NULL, 0 },
};
