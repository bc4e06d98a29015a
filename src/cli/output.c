/* Results on stdout: tables and JSON, as -f/--format and -c/--column ask
 * (cli_output, set for each command by cli_output_setup). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "cli/cli.h"

struct cli_output cli_output;

const struct cli_opt cli_output_opts[] = {
	CLI_OUTPUT_OPTS,
	{ 0 },
};

static const char *const format_names[] = {
	[CLI_FORMAT_TABLE] = "table",
	[CLI_FORMAT_JSON] = "json",
	[CLI_FORMAT_YAML] = "yaml",
	[CLI_FORMAT_VALUE] = "value",
};

int cli_output_setup(struct cli *cli, const struct cli_args *a)
{
	bool json = cli->json;

	memset(&cli_output, 0, sizeof(cli_output));
	cli_output.format = json ? CLI_FORMAT_JSON : CLI_FORMAT_TABLE;
	for (size_t i = 0; i < a->nopts; i++) {
		const struct cli_opt *o = a->opts[i].opt;
		const char *name = o->name, *v = a->opts[i].value;
		size_t f;

		/* CLI_OUTPUT_OPTS's, not a command's own --format (what a
		 * file is, as rain vet feed import's) */
		if (!strcmp(name, "json")) {
			cli_output.format = CLI_FORMAT_JSON;
		} else if (!strcmp(name, "format") && o->letter == 'f') {
			for (f = 0; f < sizeof(format_names) / sizeof(*format_names); f++)
				if (!strcmp(v, format_names[f]))
					break;
			if (f == sizeof(format_names) / sizeof(*format_names))
				return cli_usage_error(a->cmd, "-f/--format takes table, json, yaml or "
						       "value, not '%s'", v);
			cli_output.format = (enum cli_format)f;
		} else if (!strcmp(name, "column") && o->letter == 'c') {
			if (cli_output.ncolumns == CLI_OUTPUT_COLUMNS_MAX)
				return cli_usage_error(a->cmd, "at most %d columns (-c)",
						       CLI_OUTPUT_COLUMNS_MAX);
			if (!*v)
				return cli_usage_error(a->cmd, "-c/--column needs a column name");
			cli_output.columns[cli_output.ncolumns++] = v;
		}
	}
	cli->json = cli_output.format == CLI_FORMAT_JSON || cli_output.format == CLI_FORMAT_YAML;
	return 0;
}

/* A column as asked (-c "Disk format", -c disk_format, -c DISK-FORMAT)
 * against a header or a JSON key: case and ' ', '-', '_' do not matter. */
static bool column_is(const char *asked, const char *name)
{
	for (;; asked++, name++) {
		char x = *asked, y = *name;

		if (x == ' ' || x == '-')
			x = '_';
		if (y == ' ' || y == '-')
			y = '_';
		if (tolower((unsigned char)x) != tolower((unsigned char)y))
			return false;
		if (!x)
			return true;
	}
}

static void column_unknown(const char *asked, const char *const *names, size_t n)
{
	fprintf(stderr, "rain: error: no column '%s'; the columns are:", asked);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "%s '%s'", i ? "," : "", names[i]);
	fputc('\n', stderr);
	cli_output.failed = true;
}

/* ---- tables -------------------------------------------------------------- */

struct cli_table {
	size_t ncols, nrows, cap;
	char **cells;           /* row-major, row 0 the headers */
};

/* Columns a UTF-8 string takes (code points; wide characters are rare
 * enough in image names to ignore). */
static size_t text_width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

struct cli_table *cli_table_new(size_t ncols, const char *const *headers)
{
	struct cli_table *t = calloc(1, sizeof(*t));

	if (!t)
		abort();
	t->ncols = ncols;
	cli_table_add(t, headers);
	return t;
}

void cli_table_add(struct cli_table *t, const char *const *cells)
{
	if ((t->nrows + 1) * t->ncols > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : t->ncols * 16;
		char **c = realloc(t->cells, cap * sizeof(*c));

		if (!c)
			abort();
		t->cells = c;
		t->cap = cap;
	}
	for (size_t i = 0; i < t->ncols; i++) {
		char *s = cli_sanitize(cells[i]);

		if (!s)
			abort();
		t->cells[t->nrows * t->ncols + i] = s;
	}
	t->nrows++;
}

static const char *cell(const struct cli_table *t, size_t r, size_t c)
{
	return t->cells[r * t->ncols + c];
}

/* A Field/Value table (rain image show): -c picks rows by field, and a
 * row with an empty field goes with the one above (properties). */
static bool is_field_value(const struct cli_table *t)
{
	return t->ncols == 2 && !strcmp(cell(t, 0, 0), "Field") && !strcmp(cell(t, 0, 1), "Value");
}

/* The rows of a Field/Value table that -c picks (all without -c), in
 * keep[] (nrows entries, keep[0] the header's). false when a column asked
 * is no field (reported). */
static bool pick_rows(const struct cli_table *t, bool *keep)
{
	bool ok = true;

	for (size_t r = 0; r < t->nrows; r++)
		keep[r] = cli_output.ncolumns == 0 || r == 0;
	for (size_t i = 0; i < cli_output.ncolumns; i++) {
		bool found = false;

		for (size_t r = 1; r < t->nrows; r++) {
			if (!column_is(cli_output.columns[i], cell(t, r, 0)))
				continue;
			found = true;
			for (keep[r++] = true; r < t->nrows && !*cell(t, r, 0); r++)
				keep[r] = true;
			break;
		}
		if (!found && ok) {
			const char **names = calloc(t->nrows, sizeof(*names));
			size_t n = 0;

			if (!names)
				abort();
			for (size_t r = 1; r < t->nrows; r++)
				if (*cell(t, r, 0))
					names[n++] = cell(t, r, 0);
			column_unknown(cli_output.columns[i], names, n);
			free(names);
			ok = false;
		}
	}
	return ok;
}

/* The columns -c picks, in its order (all without -c), in cols[] (*n of
 * them). false when one is no column (reported). */
static bool pick_columns(const struct cli_table *t, size_t *cols, size_t *n)
{
	*n = 0;
	if (cli_output.ncolumns == 0) {
		for (size_t c = 0; c < t->ncols; c++)
			cols[(*n)++] = c;
		return true;
	}
	for (size_t i = 0; i < cli_output.ncolumns; i++) {
		size_t c;

		for (c = 0; c < t->ncols && !column_is(cli_output.columns[i], cell(t, 0, c)); c++)
			;
		if (c == t->ncols) {
			column_unknown(cli_output.columns[i], (const char *const *)t->cells, t->ncols);
			return false;
		}
		cols[(*n)++] = c;
	}
	return true;
}

void cli_table_print(const struct cli_table *t, FILE *f)
{
	bool fv = is_field_value(t), value = f == stdout && cli_output.format == CLI_FORMAT_VALUE;
	size_t *w = calloc(t->ncols, sizeof(*w)), *cols = calloc(t->ncols, sizeof(*cols)), ncols;
	bool *keep = calloc(t->nrows, sizeof(*keep));

	if (!w || !cols || !keep)
		abort();
	if (f != stdout) {
		for (size_t r = 0; r < t->nrows; r++)
			keep[r] = true;
		for (ncols = 0; ncols < t->ncols; ncols++)
			cols[ncols] = ncols;
	} else if (fv) {
		if (!pick_rows(t, keep))
			goto done;
		for (ncols = 0; ncols < t->ncols; ncols++)
			cols[ncols] = ncols;
		if (value) {
			cols[0] = 1;    /* the values alone */
			ncols = 1;
		}
	} else {
		if (!pick_columns(t, cols, &ncols))
			goto done;
		for (size_t r = 0; r < t->nrows; r++)
			keep[r] = true;
	}
	if (value)
		keep[0] = false;        /* no header */
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t i = 0; i < ncols && keep[r]; i++) {
			size_t n = text_width(cell(t, r, cols[i]));

			if (n > w[i])
				w[i] = n;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		if (!keep[r])
			continue;
		for (size_t i = 0; i < ncols; i++) {
			const char *s = cell(t, r, cols[i]);

			fputs(s, f);
			if (i + 1 < ncols && value)
				fputc(' ', f);
			else if (i + 1 < ncols)
				fprintf(f, "%*s", (int)(w[i] - text_width(s) + 2), "");
		}
		fputc('\n', f);
	}
done:
	free(w);
	free(cols);
	free(keep);
}

void cli_table_free(struct cli_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

/* ---- JSON and YAML ------------------------------------------------------- */

/* obj's members that -c names, in a new object; matched[i] set for each
 * column found. */
static json_t *pick_keys(json_t *obj, bool *matched)
{
	json_t *out = json_object();
	const char *key;
	json_t *v;

	if (!out)
		abort();
	for (size_t i = 0; i < cli_output.ncolumns; i++)
		json_object_foreach(obj, key, v)
			if (column_is(cli_output.columns[i], key)) {
				json_object_set(out, key, v);
				matched[i] = true;
			}
	return out;
}

/* j with only the keys -c names: those of an object, else of each object
 * of an array, else of each object of the array inside an object
 * ({"users": [...]}). A new reference; NULL when a column is no key
 * (reported). */
static json_t *pick_json(json_t *j)
{
	bool matched[CLI_OUTPUT_COLUMNS_MAX] = { false };
	json_t *out = NULL, *arr = NULL, *e, *v;
	const char *key, *inner = NULL;
	size_t i;

	if (cli_output.ncolumns == 0)
		return json_incref(j);
	if (json_is_object(j)) {
		out = pick_keys(j, matched);
		json_object_foreach(j, key, v)
			if (json_is_array(v) && json_is_object(json_array_get(v, 0)))
				inner = key;
		for (i = 0; i < cli_output.ncolumns && !matched[i]; i++)
			;
		if (i == cli_output.ncolumns && inner) {
			/* no top-level key asked for: the list's */
			json_decref(out);
			out = json_deep_copy(j);
			arr = json_object_get(out, inner);
		}
	} else if (json_is_array(j)) {
		out = json_deep_copy(j);
		arr = out;
	}
	if (!out)
		abort();
	json_array_foreach(arr, i, e)
		if (json_is_object(e))
			json_array_set_new(arr, i, pick_keys(e, matched));
	for (i = 0; i < cli_output.ncolumns; i++) {
		const char **names;
		size_t n = 0;

		if (matched[i] || (arr && json_array_size(arr) == 0))
			continue;
		/* the keys there are: the object's, or the first element's */
		e = !arr ? j : json_is_array(j) ? json_array_get(j, 0) :
		    json_array_get(json_object_get(j, inner), 0);
		names = calloc(json_object_size(e) + 1, sizeof(*names));
		if (!names)
			abort();
		json_object_foreach(e, key, v)
			names[n++] = key;
		column_unknown(cli_output.columns[i], names, n);
		free(names);
		json_decref(out);
		return NULL;
	}
	return out;
}

/* A string YAML would read as something else (a number, a boolean, null)
 * when written plain. */
static bool yaml_typed(const char *s)
{
	static const char *const words[] = {
		"true", "false", "null", "~", "yes", "no", "on", "off", "y", "n", NULL,
	};
	char *end;

	/* and what may read as a number, a date or a time (2026-12-07T...) */
	if (!*s || isdigit((unsigned char)*s))
		return true;
	for (size_t i = 0; words[i]; i++)
		if (!strcasecmp(s, words[i]))
			return true;
	strtod(s, &end);
	return *end == '\0' || !strcasecmp(s, ".inf") || !strcasecmp(s, ".nan") ||
	       !strcasecmp(s, "-.inf");
}

static int yaml_scalar(yaml_emitter_t *em, const char *s, bool string)
{
	yaml_event_t ev;

	yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1,
				     string && yaml_typed(s) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE :
				     YAML_ANY_SCALAR_STYLE);
	return yaml_emitter_emit(em, &ev);
}

static int yaml_value(yaml_emitter_t *em, json_t *j)
{
	yaml_event_t ev;
	const char *key;
	json_t *v;
	size_t i;
	char num[64];

	switch (json_typeof(j)) {
	case JSON_OBJECT:
		yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
		if (!yaml_emitter_emit(em, &ev))
			return 0;
		json_object_foreach(j, key, v)
			if (!yaml_scalar(em, key, true) || !yaml_value(em, v))
				return 0;
		yaml_mapping_end_event_initialize(&ev);
		return yaml_emitter_emit(em, &ev);
	case JSON_ARRAY:
		yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
		if (!yaml_emitter_emit(em, &ev))
			return 0;
		json_array_foreach(j, i, v)
			if (!yaml_value(em, v))
				return 0;
		yaml_sequence_end_event_initialize(&ev);
		return yaml_emitter_emit(em, &ev);
	case JSON_STRING:
		return yaml_scalar(em, json_string_value(j), true);
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(j));
		return yaml_scalar(em, num, false);
	case JSON_REAL:
		snprintf(num, sizeof(num), "%.17g", json_real_value(j));
		return yaml_scalar(em, num, false);
	case JSON_TRUE:
		return yaml_scalar(em, "true", false);
	case JSON_FALSE:
		return yaml_scalar(em, "false", false);
	case JSON_NULL:
		return yaml_scalar(em, "null", false);
	}
	return 0;
}

/* j as one YAML document on stdout (libyaml's emitter). */
static void yaml_print(json_t *j)
{
	yaml_emitter_t em;
	yaml_event_t ev;
	bool ok;

	if (!yaml_emitter_initialize(&em))
		abort();
	yaml_emitter_set_output_file(&em, stdout);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, -1);
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	ok = yaml_emitter_emit(&em, &ev);
	yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
	ok = ok && yaml_emitter_emit(&em, &ev) && yaml_value(&em, j);
	yaml_document_end_event_initialize(&ev, 1);
	ok = ok && yaml_emitter_emit(&em, &ev);
	yaml_stream_end_event_initialize(&ev);
	ok = ok && yaml_emitter_emit(&em, &ev);
	if (!ok) {
		fprintf(stderr, "rain: error: cannot write YAML: %s\n",
			em.problem ? em.problem : "the emitter failed");
		cli_output.failed = true;
	}
	yaml_emitter_delete(&em);
}

void cli_json_print(json_t *j)
{
	json_t *picked = pick_json(j);
	char *s;

	if (!picked)
		return;
	if (cli_output.format == CLI_FORMAT_YAML) {
		yaml_print(picked);
		json_decref(picked);
		return;
	}
	s = json_dumps(picked, JSON_INDENT(2) | JSON_ENCODE_ANY);
	json_decref(picked);
	if (!s)
		abort();
	puts(s);
	free(s);
}
