#include <stdlib.h>
#include <string.h>

#include "rain/error.h"
#include "rain/jsonpatch.h"

void rain_jsonpatch_free(struct rain_jsonpatch *patch)
{
	if (!patch)
		return;
	for (size_t i = 0; i < patch->n; i++) {
		free(patch->items[i].attr);
		json_decref(patch->items[i].value);
	}
	free(patch->items);
	free(patch);
}

/* Decode a one-token JSON pointer ("/name") into a new string. */
static int pointer_decode(const char *path, size_t idx, char **out)
{
	char *attr, *o;

	if (path[0] != '/')
		return rain_error_set(RAIN_EINVAL,
				      "operation %zu: path '%s' must start with '/'", idx, path);
	if (strchr(path + 1, '/'))
		return rain_error_set(RAIN_EINVAL,
				      "operation %zu: path '%s' is not a single attribute", idx, path);
	if (path[1] == '\0')
		return rain_error_set(RAIN_EINVAL, "operation %zu: path '/' names no attribute", idx);
	attr = o = malloc(strlen(path));
	if (!attr)
		return rain_error_oom();
	for (const char *p = path + 1; *p; p++) {
		if (*p == '~') {
			if (p[1] == '0')
				*o++ = '~';
			else if (p[1] == '1')
				*o++ = '/';
			else {
				free(attr);
				return rain_error_set(RAIN_EINVAL,
						      "operation %zu: bad escape '~%c' in path", idx, p[1] ? p[1] : ' ');
			}
			p++;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	*out = attr;
	return 0;
}

static int parse_item(json_t *obj, size_t idx, struct rain_patch_item *item)
{
	const char *op, *path, *key;
	json_t *v;
	int r;

	if (!json_is_object(obj))
		return rain_error_set(RAIN_EINVAL, "operation %zu is not a JSON object", idx);
	json_object_foreach(obj, key, v) {
		if (strcmp(key, "op") && strcmp(key, "path") && strcmp(key, "value"))
			return rain_error_set(RAIN_EINVAL, "operation %zu: unknown member '%s'",
					      idx, key);
	}
	op = json_string_value(json_object_get(obj, "op"));
	path = json_string_value(json_object_get(obj, "path"));
	if (!op)
		return rain_error_set(RAIN_EINVAL, "operation %zu: 'op' must be a string", idx);
	if (!strcmp(op, "add"))
		item->op = RAIN_PATCH_ADD;
	else if (!strcmp(op, "replace"))
		item->op = RAIN_PATCH_REPLACE;
	else if (!strcmp(op, "remove"))
		item->op = RAIN_PATCH_REMOVE;
	else
		return rain_error_set(RAIN_EINVAL,
				      "operation %zu: op '%s' is not one of add, replace, remove",
				      idx, op);
	if (!path)
		return rain_error_set(RAIN_EINVAL, "operation %zu: 'path' must be a string", idx);
	v = json_object_get(obj, "value");
	if (item->op == RAIN_PATCH_REMOVE && v)
		return rain_error_set(RAIN_EINVAL, "operation %zu: remove takes no 'value'", idx);
	if (item->op != RAIN_PATCH_REMOVE && !v)
		return rain_error_set(RAIN_EINVAL, "operation %zu: %s needs a 'value'", idx, op);
	r = pointer_decode(path, idx, &item->attr);
	if (r < 0)
		return r;
	item->value = json_incref(v);
	return 0;
}

int rain_jsonpatch_parse(const char *text, size_t len, struct rain_jsonpatch **out)
{
	struct rain_jsonpatch *patch;
	json_error_t jerr;
	json_t *doc;
	size_t i;
	int r = 0;

	rain_error_clear();
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		return rain_error_set(RAIN_EINVAL, "malformed JSON at line %d column %d: %s",
				      jerr.line, jerr.column, jerr.text);
	if (!json_is_array(doc)) {
		json_decref(doc);
		return rain_error_set(RAIN_EINVAL, "a JSON patch must be an array of operations");
	}
	if (json_array_size(doc) > RAIN_JSONPATCH_MAX_OPS) {
		json_decref(doc);
		return rain_error_set(RAIN_ETOOBIG, "a JSON patch may hold at most %d operations",
				      RAIN_JSONPATCH_MAX_OPS);
	}
	patch = calloc(1, sizeof(*patch));
	if (patch)
		patch->items = calloc(json_array_size(doc) + 1, sizeof(*patch->items));
	if (!patch || !patch->items) {
		free(patch);
		json_decref(doc);
		return rain_error_oom();
	}
	for (i = 0; i < json_array_size(doc); i++) {
		r = parse_item(json_array_get(doc, i), i, &patch->items[i]);
		if (r < 0)
			break;
		patch->n++;
	}
	json_decref(doc);
	if (r < 0) {
		rain_jsonpatch_free(patch);
		return r;
	}
	*out = patch;
	return 0;
}
