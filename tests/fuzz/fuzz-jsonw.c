/* libFuzzer harness for the streaming JSON writer (util/jsonw.h): the
 * input is a program of writer calls (one byte each: which call; strings
 * as a length byte and that many bytes; integers as 8 bytes). Checked:
 * every string is written exactly as jansson writes it, or refused exactly
 * when jansson refuses it (invalid UTF-8); a text the writer finishes
 * parses with jansson, and when it has no repeated key, jansson writes
 * the parsed text back to the very same bytes; a text it refuses to
 * finish was a misuse (RAIN_EINVAL). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rain/error.h"
#include "util/jsonw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
	const uint8_t *p;
	size_t left;
};

/* The next string: a length byte and up to that many bytes (NUL ends it,
 * as in any C string). */
static void next_string(struct input *in, char *out)
{
	size_t n = 0;

	if (in->left) {
		n = *in->p++;
		in->left--;
	}
	if (n > in->left)
		n = in->left;
	memcpy(out, in->p, n);
	out[n] = '\0';
	in->p += n;
	in->left -= n;
}

static int64_t next_int(struct input *in)
{
	uint64_t v = 0;

	for (int i = 0; i < 8 && in->left; i++, in->left--)
		v = v << 8 | *in->p++;
	return (int64_t)v;
}

/* s alone through the writer and through jansson: the same bytes, or
 * both refuse it. */
static void check_string(const char *s)
{
	json_t *v = json_string(s);
	char *want = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL, *got = NULL;
	struct jsonw w;
	size_t len;
	int r;

	jsonw_init(&w, 1);
	r = jsonw_str(&w, s);
	if (r == 0 && jsonw_finish(&w, &got, &len) < 0)
		abort();
	jsonw_free(&w);
	if (!v != (r < 0) || (v && (!want || strcmp(want, got))))
		abort();
	if (jsonw_utf8_valid(s, strlen(s)) != (v != NULL))
		abort();
	free(want);
	free(got);
	json_decref(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	char key[256], val[256];
	struct jsonw w;
	char *text;
	size_t len;
	int r;

	jsonw_init(&w, 1);
	while (in.left) {
		uint8_t op = *in.p++ % 12;

		in.left--;
		switch (op) {
		case 0: jsonw_object_begin(&w); break;
		case 1: jsonw_object_end(&w); break;
		case 2: jsonw_array_begin(&w); break;
		case 3: jsonw_array_end(&w); break;
		case 4:
			next_string(&in, val);
			check_string(val);
			jsonw_str(&w, val);
			break;
		case 5: jsonw_int(&w, next_int(&in)); break;
		case 6: jsonw_bool(&w, in.left && (*in.p & 1)); break;
		case 7: jsonw_null(&w); break;
		case 8:
			next_string(&in, key);
			next_string(&in, val);
			jsonw_member_str(&w, key, val);
			break;
		case 9:
			next_string(&in, key);
			jsonw_member_int(&w, key, next_int(&in));
			break;
		case 10:
			next_string(&in, key);
			jsonw_member_object_begin(&w, key);
			break;
		default:
			next_string(&in, key);
			jsonw_member_array_begin(&w, key);
			break;
		}
	}
	r = jsonw_finish(&w, &text, &len);
	if (r < 0) {
		if (r != RAIN_EINVAL || text)
			abort();
		return 0;
	}
	if (strlen(text) != len)
		abort();
	json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);

	if (!v) {
		/* a repeated key is the only way to a text jansson refuses */
		v = json_loads(text, JSON_DECODE_ANY, NULL);
		if (!v)
			abort();
	} else {
		char *back = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

		if (!back || strcmp(back, text))
			abort();
		free(back);
	}
	json_decref(v);
	free(text);
	return 0;
}
