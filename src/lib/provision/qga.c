/* The QEMU guest agent's messages; see qga.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/provision/qga.h"
#include "rain/error.h"
#include "util/base64.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"

/* ---- commands -------------------------------------------------------------- */

static char *dump(json_t *cmd)
{
	char *s = cmd ? json_dumps(cmd, JSON_COMPACT) : NULL;

	json_decref(cmd);
	return s;
}

/* A JSON array of the strings of v (NULL-terminated), or NULL. */
static json_t *str_array(const char *const *v)
{
	json_t *a = json_array();

	for (size_t i = 0; a && v && v[i]; i++) {
		if (json_array_append_new(a, json_string(v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

char *qga_cmd_exec(const char *path, const char *const *args, const char *const *env,
		   const void *input, size_t input_len, bool capture)
{
	_cleanup_json_ json_t *a = json_pack("{s:s, s:b}", "path", path, "capture-output", capture);
	_cleanup_free_ char *b64 = NULL;

	if (!a)
		return NULL;
	if (args && json_object_set_new(a, "arg", str_array(args)) < 0)
		return NULL;
	if (env && json_object_set_new(a, "env", str_array(env)) < 0)
		return NULL;
	if (input) {
		b64 = base64_encode(input, input_len);
		if (!b64 || json_object_set_new(a, "input-data", json_string(b64)) < 0)
			return NULL;
	}
	return dump(json_pack("{s:s, s:O}", "execute", "guest-exec", "arguments", a));
}

char *qga_cmd_exec_status(int64_t pid)
{
	return dump(json_pack("{s:s, s:{s:I}}", "execute", "guest-exec-status", "arguments", "pid",
			      (json_int_t)pid));
}

char *qga_cmd_file_open(const char *path, const char *mode)
{
	return dump(json_pack("{s:s, s:{s:s, s:s}}", "execute", "guest-file-open", "arguments", "path",
			      path, "mode", mode));
}

char *qga_cmd_file_read(int64_t handle, size_t count)
{
	return dump(json_pack("{s:s, s:{s:I, s:I}}", "execute", "guest-file-read", "arguments",
			      "handle", (json_int_t)handle, "count", (json_int_t)count));
}

char *qga_cmd_file_seek(int64_t handle, int64_t offset)
{
	return dump(json_pack("{s:s, s:{s:I, s:I, s:i}}", "execute", "guest-file-seek", "arguments",
			      "handle", (json_int_t)handle, "offset", (json_int_t)offset, "whence", 0));
}

char *qga_cmd_file_close(int64_t handle)
{
	return dump(json_pack("{s:s, s:{s:I}}", "execute", "guest-file-close", "arguments", "handle",
			      (json_int_t)handle));
}

/* ---- replies --------------------------------------------------------------- */

/* The guest's words for a message: printable ASCII, at most 200. */
static void clean(const char *s, char *out, size_t size)
{
	size_t n = 0;

	for (; s && *s && n + 1 < size && n < 200; s++)
		out[n++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	out[n] = '\0';
}

/* Parse reply and hand back its "return" (a new reference). */
static int reply_return(const char *reply, const char *what, json_t **ret)
{
	_cleanup_json_ json_t *root = NULL;
	json_error_t jerr;
	json_t *err, *v;
	size_t len;

	*ret = NULL;
	if (!reply)
		return rain_error_set(RAIN_EFORMAT, "qemu-ga: %s: no reply", what);
	len = strnlen(reply, QGA_REPLY_MAX + 1);
	if (len > QGA_REPLY_MAX)
		return rain_error_set(RAIN_EFORMAT, "qemu-ga: %s: the reply is over %u bytes", what,
				      QGA_REPLY_MAX);
	root = json_loadb(reply, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(root)) {
		char why[210];

		clean(root ? "not an object" : jerr.text, why, sizeof(why));
		return rain_error_set(RAIN_EFORMAT, "qemu-ga: %s: the reply is no JSON object (%s)",
				      what, why);
	}
	err = json_object_get(root, "error");
	if (err) {
		char cls[210], desc[210];

		clean(json_string_value(json_object_get(err, "class")), cls, sizeof(cls));
		clean(json_string_value(json_object_get(err, "desc")), desc, sizeof(desc));
		return rain_error_set(RAIN_EIO, "qemu-ga: %s failed: %s%s%s", what,
				      *desc ? desc : "no reason given", *cls ? " " : "", *cls ? cls : "");
	}
	v = json_object_get(root, "return");
	if (!v)
		return rain_error_set(RAIN_EFORMAT, "qemu-ga: %s: the reply has no \"return\"", what);
	*ret = json_incref(v);
	return 0;
}

int qga_parse_ok(const char *reply, const char *what)
{
	_cleanup_json_ json_t *ret = NULL;

	return reply_return(reply, what, &ret);
}

/* An integer member of o within [min, max]. */
static int get_int(json_t *o, const char *key, const char *what, int64_t min, int64_t max,
		   int64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return rain_error_set(RAIN_EFORMAT, "qemu-ga: %s: the reply's \"%s\" is no integer "
				      "in %lld..%lld", what, key, (long long)min, (long long)max);
	*out = json_integer_value(v);
	return 0;
}

int qga_parse_exec(const char *reply, int64_t *pid)
{
	_cleanup_json_ json_t *ret = NULL;
	int r = reply_return(reply, "guest-exec", &ret);

	if (r < 0)
		return r;
	return get_int(ret, "pid", "guest-exec", 1, INT32_MAX, pid);
}

/* Decode base64 member key of o (absent: *out NULL). */
static int get_b64(json_t *o, const char *key, const char *what, unsigned char **out, size_t *len)
{
	json_t *v = json_object_get(o, key);
	int r;

	*out = NULL;
	*len = 0;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return rain_error_set(RAIN_EFORMAT, "qemu-ga: %s: the reply's \"%s\" is no string",
				      what, key);
	r = base64_decode(json_string_value(v), json_string_length(v), out, len);
	if (r == RAIN_ENOMEM)
		return r;
	if (r < 0)
		return rain_error_set(RAIN_EFORMAT, "qemu-ga: %s: the reply's \"%s\" is no base64",
				      what, key);
	return 0;
}

void qga_exec_status_clear(struct qga_exec_status *st)
{
	free(st->out);
	free(st->err);
	memset(st, 0, sizeof(*st));
}

int qga_parse_exec_status(const char *reply, struct qga_exec_status *st)
{
	const char *what = "guest-exec-status";
	_cleanup_json_ json_t *ret = NULL;
	json_t *exited;
	int64_t v = 0;
	int r;

	memset(st, 0, sizeof(*st));
	r = reply_return(reply, what, &ret);
	if (r < 0)
		return r;
	exited = json_object_get(ret, "exited");
	if (!json_is_boolean(exited))
		return rain_error_set(RAIN_EFORMAT, "qemu-ga: %s: the reply has no \"exited\" true or "
				      "false", what);
	st->exited = json_is_true(exited);
	st->truncated = json_is_true(json_object_get(ret, "out-truncated")) ||
			json_is_true(json_object_get(ret, "err-truncated"));
	if (st->exited) {
		if (json_object_get(ret, "signal")) {
			r = get_int(ret, "signal", what, 1, 127, &v);
			st->signal = (int)v;
		} else {
			r = get_int(ret, "exitcode", what, 0, 255, &v);
			st->exitcode = (int)v;
		}
		if (r < 0)
			return r;
	}
	r = get_b64(ret, "out-data", what, &st->out, &st->out_len);
	if (r == 0)
		r = get_b64(ret, "err-data", what, &st->err, &st->err_len);
	if (r < 0)
		qga_exec_status_clear(st);
	return r;
}

int qga_exit_status(const struct qga_exec_status *st)
{
	return st->signal > 0 ? 128 + st->signal : st->exitcode;
}

int qga_parse_file_open(const char *reply, int64_t *handle)
{
	_cleanup_json_ json_t *ret = NULL;
	int r = reply_return(reply, "guest-file-open", &ret);

	if (r < 0)
		return r;
	if (!json_is_integer(ret) || json_integer_value(ret) < 0)
		return rain_error_set(RAIN_EFORMAT, "qemu-ga: guest-file-open: the reply's "
				      "\"return\" is no handle");
	*handle = json_integer_value(ret);
	return 0;
}

int qga_parse_file_read(const char *reply, unsigned char **buf, size_t *len, bool *eof)
{
	const char *what = "guest-file-read";
	_cleanup_json_ json_t *ret = NULL;
	_cleanup_free_ unsigned char *data = NULL;
	json_t *e;
	int64_t count = 0;
	int r;

	*buf = NULL;
	*len = 0;
	r = reply_return(reply, what, &ret);
	if (r == 0)
		r = get_int(ret, "count", what, 0, QGA_REPLY_MAX, &count);
	if (r == 0)
		r = get_b64(ret, "buf-b64", what, &data, len);
	if (r < 0)
		return r;
	e = json_object_get(ret, "eof");
	if (!json_is_boolean(e))
		return rain_error_set(RAIN_EFORMAT, "qemu-ga: %s: the reply has no \"eof\" true or "
				      "false", what);
	if ((size_t)count != *len)
		return rain_error_set(RAIN_EFORMAT, "qemu-ga: %s: the reply says %lld bytes and "
				      "carries %zu", what, (long long)count, *len);
	if (!data && !(data = calloc(1, 1)))
		return rain_error_oom();
	*eof = json_is_true(e);
	*buf = TAKE_PTR(data);
	return 0;
}
