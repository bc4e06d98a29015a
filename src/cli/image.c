/* Image helpers shared by the `rain image` commands. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "rain/error.h"
#include "rain/image.h"
#include "util/strutil.h"

int cli_image_resolve(struct cli *cli, const char *arg, char id[37])
{
	struct rain_client *c;
	int r, matches;

	if (!*arg)
		return cli_error("an empty image name; give an image name or id");
	r = cli_client(cli, &c);
	if (r)
		return r;
	r = rain_client_image_resolve(c, arg, id, &matches);
	if (r == 0)
		return 0;
	if (matches < 0)
		return cli_fail(cli, r, NULL, "cannot look up the image '%s'", arg);
	return cli_error("%s; %s", rain_error_last(),
			 matches == 0 ? "see 'rain image list'" : "give an id instead");
}

int cli_target(struct cli *cli, const struct cli_args *a, int i, char id[37])
{
	switch (a->cmd->target) {
	case CLI_TARGET_IMAGE:
	case CLI_TARGET_IMAGES:
		return cli_image_resolve(cli, a->argv[i], id);
	case CLI_TARGET_BUILD:
	case CLI_TARGET_BUILDS:
		return cli_build_resolve(cli, a->argv[i], id);
	case CLI_TARGET_NONE:
		break;
	}
	abort();        /* a command that declares no target */
}

int cli_each_target(struct cli *cli, const struct cli_args *a,
		    int (*fn)(struct cli *cli, struct rain_client *c, const char *id))
{
	struct rain_client *c;
	int r, rc = CLI_EXIT_OK;

	r = cli_client(cli, &c);
	if (r)
		return r;
	for (int i = 0; i < a->argc; i++) {
		char id[37];

		r = cli_target(cli, a, i, id);
		if (r == 0)
			r = fn(cli, c, id);
		if (r)
			rc = r;
	}
	return rc;
}

int cli_image_fetch(struct cli *cli, const char *arg, char id[37], json_t **image)
{
	struct rain_client *c;
	int r;

	*image = NULL;
	r = cli_image_resolve(cli, arg, id);
	if (r)
		return r;
	r = cli_client(cli, &c);
	if (r)
		return r;
	r = rain_client_image_get(c, id, image);
	if (r == RAIN_ENOTFOUND)
		return cli_fail(cli, r, "see 'rain image list'", "no image %s", id);
	if (r < 0)
		return cli_fail(cli, r, r == RAIN_EFORMAT ? "check the server URL" : NULL,
				"cannot get image %s", id);
	return 0;
}

/* One JSON value as table text, in a new string. */
static char *value_text(json_t *v)
{
	char *s = NULL;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return strdup(json_string_value(v));
	case JSON_INTEGER:
		if (asprintf(&s, "%" JSON_INTEGER_FORMAT, json_integer_value(v)) < 0)
			return NULL;
		return s;
	case JSON_TRUE:
		return strdup("true");
	case JSON_FALSE:
		return strdup("false");
	case JSON_NULL:
		return strdup("-");
	case JSON_ARRAY: {
		size_t i, len = 0;
		json_t *e;

		s = strdup("");
		json_array_foreach(v, i, e) {
			char *t = value_text(e), *u;

			if (!t || !s || asprintf(&u, "%s%s%s", s, i ? ", " : "", t) < 0) {
				free(t);
				free(s);
				return NULL;
			}
			free(t);
			free(s);
			s = u;
			len++;
		}
		if (s && len == 0) {
			free(s);
			s = strdup("-");
		}
		return s;
	}
	default:
		return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void add_row(struct cli_table *t, const char *field, const char *value)
{
	const char *row[2] = { field, value };

	cli_table_add(t, row);
}

/* A text of several lines (the recipe) as rows: the field on the first,
 * "" on the others; tabs become spaces. */
static void add_lines(struct cli_table *t, const char *field, const char *text)
{
	const char *p = text;

	do {
		size_t n = strcspn(p, "\n");
		char *line = strndup(p, n);

		if (!line)
			abort();
		for (char *c = line; *c; c++)
			if (*c == '\t' || *c == '\r')
				*c = ' ';
		add_row(t, p == text ? field : "", line);
		free(line);
		p += n;
	} while (*p && *++p);
}

/* rain_recipe_inputs ({"NAME": BASE64 | {"data": BASE64, "mode": N}}) as
 * one row per file: its name, size and mode, not its bytes. */
static void add_inputs(struct cli_table *t, const char *packed)
{
	json_t *files = json_loads(packed, 0, NULL), *v;
	const char *name;
	bool first = true;

	if (!json_is_object(files)) {
		add_row(t, "rain_recipe_inputs", "(not JSON)");
		json_decref(files);
		return;
	}
	json_object_foreach(files, name, v) {
		json_t *data = json_is_object(v) ? json_object_get(v, "data") : v;
		size_t len = json_string_length(data);
		char *s = NULL;
		int r;

		/* base64: 4 characters for 3 bytes, less the padding */
		len = len / 4 * 3;
		if (json_string_length(data) >= 2 && json_string_value(data)[json_string_length(data) - 1] == '=')
			len -= json_string_value(data)[json_string_length(data) - 2] == '=' ? 2 : 1;
		if (json_is_integer(json_object_get(v, "mode")))
			r = asprintf(&s, "%s (%zu bytes, mode %04llo)", name, len,
				     (long long)json_integer_value(json_object_get(v, "mode")));
		else
			r = asprintf(&s, "%s (%zu bytes)", name, len);
		add_row(t, first ? "rain_recipe_inputs" : "", r < 0 ? NULL : s);
		free(s);
		first = false;
	}
	json_decref(files);
}

/* Properties shown otherwise: the package list (rain image show --packages). */
static bool prop_hidden(const char *key)
{
	return str_has_prefix(key, "rain_package_list");
}

void cli_image_print(json_t *image)
{
	static const char *const fields[] = {
		"id", "name", "status", "visibility", "protected", "os_hidden",
		"size", "virtual_size", "disk_format", "container_format",
		"min_disk", "min_ram", "checksum", "os_hash_algo", "os_hash_value",
		"owner", "tags", "created_at", "updated_at", "download_count",
		"last_accessed_at", NULL,
	};
	static const char *const headers[] = { "Field", "Value" };
	struct cli_table *t = cli_table_new(2, headers);
	const char **props = NULL;
	size_t nprops = 0, shown = 0, i;
	const char *key;
	json_t *v;

	for (i = 0; fields[i]; i++) {
		char *s;

		v = json_object_get(image, fields[i]);
		if (!v)
			continue;
		s = value_text(v);
		if ((!strcmp(fields[i], "size") || !strcmp(fields[i], "virtual_size")) &&
		    json_is_integer(v) && json_integer_value(v) >= 1024) {
			char h[32], *u;

			cli_format_size(json_integer_value(v), h, sizeof(h));
			if (s && asprintf(&u, "%s (%s)", s, h) >= 0) {
				free(s);
				s = u;
			}
		}
		add_row(t, fields[i], s);
		free(s);
	}
	if (cli_json_str(image, "rain_vetting")) {
		char *s = NULL;

		/* the verdict in one line; the report: rain vet IMAGE --json */
		if (asprintf(&s, "%s (policy %s, feed %s, %s)", cli_json_str(image, "rain_vetting"),
			     cli_json_str(image, "rain_vetting_policy") ?: "?",
			     cli_json_str(image, "rain_vetting_feed") ?: "none",
			     cli_json_str(image, "rain_vetting_at") ?: "?") < 0)
			s = NULL;
		add_row(t, "vetting", s);
		free(s);
	} else if (!strcmp(cli_json_str(image, "status") ?: "", "active")) {
		add_row(t, "vetting", "not vetted (rain vet IMAGE)");
	}
	props = calloc(json_object_size(image) + 1, sizeof(*props));
	if (!props)
		abort();
	json_object_foreach(image, key, v) {
		if (!rain_image_attr_is_core(key) && !rain_image_attr_is_readonly(key) &&
		    !str_has_prefix(key, RAIN_IMAGE_VETTING_PREFIX) && !prop_hidden(key))
			props[nprops++] = key;
	}
	qsort(props, nprops, sizeof(*props), cmp_str);
	for (i = 0; i < nprops; i++) {
		const char *text = cli_json_str(image, props[i]);
		char *s, *kv = NULL;

		/* the recipe as its lines, the inputs by name: after the rest */
		if (text && (strchr(text, '\n') || !strcmp(props[i], "rain_recipe_inputs")))
			continue;
		s = value_text(json_object_get(image, props[i]));
		if (s && asprintf(&kv, "%s=%s", props[i], s) < 0)
			kv = NULL;
		add_row(t, shown++ == 0 ? "properties" : "", kv);
		free(kv);
		free(s);
	}
	for (i = 0; i < nprops; i++) {
		const char *text = cli_json_str(image, props[i]);

		if (text && !strcmp(props[i], "rain_recipe_inputs"))
			add_inputs(t, text);
		else if (text && strchr(text, '\n'))
			add_lines(t, props[i], text);
	}
	free(props);
	cli_table_print(t, stdout);
	cli_table_free(t);
}
