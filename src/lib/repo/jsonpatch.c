#include <stdbool.h>
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

static const char *const op_names[] = {
	[RAIN_PATCH_ADD] = "add",
	[RAIN_PATCH_REPLACE] = "replace",
	[RAIN_PATCH_REMOVE] = "remove",
};

static int op_of(const char *name, enum rain_patch_op *op)
{
	size_t i;

	for (i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++) {
		if (!strcmp(name, op_names[i])) {
			*op = (enum rain_patch_op)i;
			return 0;
		}
	}
	return -1;
}

/* RFC 6902 (v2.1): {"op": "replace", "path": "/name", "value": ...} */
static int item_rfc6902(json_t *obj, size_t idx, struct rain_patch_item *item, const char **path)
{
	const char *op, *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		if (strcmp(key, "op") && strcmp(key, "path") && strcmp(key, "value"))
			return rain_error_set(RAIN_EINVAL, "operation %zu: unknown member '%s'",
					      idx, key);
	}
	op = json_string_value(json_object_get(obj, "op"));
	if (!op)
		return rain_error_set(RAIN_EINVAL, "operation %zu: 'op' must be a string", idx);
	if (op_of(op, &item->op) < 0)
		return rain_error_set(RAIN_EINVAL,
				      "operation %zu: op '%s' is not one of add, replace, remove",
				      idx, op);
	*path = json_string_value(json_object_get(obj, "path"));
	if (!*path)
		return rain_error_set(RAIN_EINVAL, "operation %zu: 'path' must be a string", idx);
	return 0;
}

/* draft 4 (v2.0): {"replace": "/name", "value": ...}, the operation's name
 * being the member that holds the path */
static int item_draft4(json_t *obj, size_t idx, struct rain_patch_item *item, const char **path)
{
	const char *key;
	bool found = false;
	json_t *v;

	json_object_foreach(obj, key, v) {
		if (!strcmp(key, "value"))
			continue;
		if (op_of(key, &item->op) < 0)
			return rain_error_set(RAIN_EINVAL, "operation %zu: unknown member '%s'",
					      idx, key);
		if (found)
			return rain_error_set(RAIN_EINVAL,
					      "operation %zu: more than one of add, replace, remove", idx);
		found = true;
		*path = json_string_value(v);
		if (!*path)
			return rain_error_set(RAIN_EINVAL, "operation %zu: '%s' must be a path string",
					      idx, key);
	}
	if (!found)
		return rain_error_set(RAIN_EINVAL,
				      "operation %zu: needs one member named add, replace or remove", idx);
	return 0;
}

static int parse_item(json_t *obj, size_t idx, enum rain_jsonpatch_dialect dialect,
		      struct rain_patch_item *item)
{
	const char *path = NULL;
	json_t *v;
	int r;

	if (!json_is_object(obj))
		return rain_error_set(RAIN_EINVAL, "operation %zu is not a JSON object", idx);
	r = dialect == RAIN_JSONPATCH_DRAFT4 ? item_draft4(obj, idx, item, &path)
					     : item_rfc6902(obj, idx, item, &path);
	if (r < 0)
		return r;
	v = json_object_get(obj, "value");
	if (item->op == RAIN_PATCH_REMOVE && v)
		return rain_error_set(RAIN_EINVAL, "operation %zu: remove takes no 'value'", idx);
	if (item->op != RAIN_PATCH_REMOVE && !v)
		return rain_error_set(RAIN_EINVAL, "operation %zu: %s needs a 'value'", idx,
				      op_names[item->op]);
	r = pointer_decode(path, idx, &item->attr);
	if (r < 0)
		return r;
	item->value = json_incref(v);
	return 0;
}

int rain_jsonpatch_parse_dialect(const char *text, size_t len, enum rain_jsonpatch_dialect dialect,
				 struct rain_jsonpatch **out)
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
		r = parse_item(json_array_get(doc, i), i, dialect, &patch->items[i]);
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

int rain_jsonpatch_parse(const char *text, size_t len, struct rain_jsonpatch **out)
{
	return rain_jsonpatch_parse_dialect(text, len, RAIN_JSONPATCH_RFC6902, out);
}
