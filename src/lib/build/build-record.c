/* Build records and build file names; see include/rain/build-record.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rain/build-record.h"
#include "rain/error.h"
#include "rain/image.h"
#include "rain/jobs.h"
#include "util/fsutil.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "util/uuid.h"

#define FILE_NAME_MAX 1024

json_t *rain_build_record_to_json(const struct rain_build_record *r)
{
	return json_pack("{s:s, s:s?, s:s?, s:s, s:o, s:o, s:o, s:s?, s:s?, s:b, s:b}",
			 "id", r->id, "owner", r->owner, "name", r->name,
			 "status", rain_job_status_name(r->status),
			 "created_at", rain_time_json(r->created_us),
			 "started_at", rain_time_json(r->started_us),
			 "finished_at", rain_time_json(r->finished_us),
			 "error", r->error, "image_id", r->image_id,
			 "store", r->store, "boot_check", r->boot_check);
}

static int bad_field(const char *field)
{
	return rain_error_set(RAIN_EFORMAT, "bad build record: field '%s'", field);
}

/* An optional string member into a new string (NULL for null/missing). */
static int get_str(json_t *j, const char *key, bool required, char **out)
{
	json_t *v = json_object_get(j, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return required ? bad_field(key) : 0;
	if (!json_is_string(v))
		return bad_field(key);
	*out = strdup(json_string_value(v));
	return *out ? 0 : rain_error_oom();
}

static int get_time(json_t *j, const char *key, bool required, int64_t *out)
{
	json_t *v = json_object_get(j, key);

	*out = 0;
	if (!v || json_is_null(v))
		return required ? bad_field(key) : 0;
	if (!json_is_string(v) || time_parse_iso(json_string_value(v), out) < 0)
		return bad_field(key);
	return 0;
}

static int get_bool(json_t *j, const char *key, bool *out)
{
	json_t *v = json_object_get(j, key);

	*out = false;
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return bad_field(key);
	*out = json_is_true(v);
	return 0;
}

int rain_build_record_from_json(json_t *j, struct rain_build_record *out)
{
	const char *id = json_string_value(json_object_get(j, "id"));
	int r;

	rain_error_clear();
	memset(out, 0, sizeof(*out));
	if (!json_is_object(j))
		return rain_error_set(RAIN_EFORMAT, "bad build record: not a JSON object");
	if (!id || !uuid_is_valid(id))
		return bad_field("id");
	memcpy(out->id, id, sizeof(out->id));
	uuid_canonicalize(out->id);
	if (rain_job_status_parse(json_string_value(json_object_get(j, "status")), &out->status) < 0)
		return bad_field("status");
	r = get_str(j, "owner", true, &out->owner);
	if (r == 0)
		r = get_str(j, "name", false, &out->name);
	if (r == 0)
		r = get_str(j, "error", false, &out->error);
	if (r == 0)
		r = get_str(j, "image_id", false, &out->image_id);
	if (r == 0 && out->image_id && !uuid_is_valid(out->image_id))
		r = bad_field("image_id");
	if (r == 0)
		r = get_time(j, "created_at", true, &out->created_us);
	if (r == 0)
		r = get_time(j, "started_at", false, &out->started_us);
	if (r == 0)
		r = get_time(j, "finished_at", false, &out->finished_us);
	if (r == 0)
		r = get_bool(j, "store", &out->store);
	if (r == 0)
		r = get_bool(j, "boot_check", &out->boot_check);
	if (r < 0)
		rain_build_record_clear(out);
	return r;
}

void rain_build_record_clear(struct rain_build_record *r)
{
	free(r->owner);
	free(r->name);
	free(r->error);
	free(r->image_id);
	memset(r, 0, sizeof(*r));
}

int rain_build_file_name(const char *name, char **out)
{
	_cleanup_free_ char *copy = NULL;
	char *norm, *save = NULL, *tok;
	size_t n = 0;

	rain_error_clear();
	*out = NULL;
	if (!name || !*name)
		return rain_error_set(RAIN_EINVAL, "a file with an empty name");
	if (!str_is_printable(name, FILE_NAME_MAX))
		return rain_error_set(RAIN_EINVAL, "file '%.100s': the name must be printable and "
				      "at most %d bytes", name, FILE_NAME_MAX);
	if (name[0] == '/')
		return rain_error_set(RAIN_EINVAL, "file '%s': the name must be relative to the "
				      "recipe, not an absolute path", name);
	copy = strdup(name);
	norm = malloc(strlen(name) + 1);
	if (!copy || !norm) {
		free(norm);
		return rain_error_oom();
	}
	for (tok = strtok_r(copy, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		if (!strcmp(tok, "."))
			continue;
		if (!strcmp(tok, "..") || !fs_name_is_safe(tok)) {
			free(norm);
			return rain_error_set(RAIN_EINVAL, "file '%s': the name must stay below the "
					      "recipe's directory (no '..')", name);
		}
		if (n)
			norm[n++] = '/';
		memcpy(norm + n, tok, strlen(tok));
		n += strlen(tok);
	}
	norm[n] = '\0';
	if (n == 0 || !strcmp(norm, RAIN_BUILD_RECIPE_NAME)) {
		free(norm);
		return rain_error_set(RAIN_EINVAL, "file '%s': not a usable file name", name);
	}
	*out = norm;
	return 0;
}
