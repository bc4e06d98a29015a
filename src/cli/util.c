/* Option values, messages and output helpers. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "rain/error.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/strutil.h"

/* ---- options ----------------------------------------------------------- */

int cli_parse_count(const struct cli_cmd *cmd, const char *opt, const char *s, int64_t *out)
{
	if (str_to_i64(s, out) < 0 || *out < 0)
		return cli_usage_error(cmd, "%s wants a whole number >= 0, not '%s'", opt, s);
	return 0;
}

int cli_parse_property(const struct cli_cmd *cmd, const char *s, char **key, char **value)
{
	const char *eq = strchr(s, '=');

	if (!eq || eq == s)
		return cli_usage_error(cmd, "--property wants KEY=VALUE, not '%s'", s);
	*key = strndup(s, (size_t)(eq - s));
	*value = strdup(eq + 1);
	if (!*key || !*value) {
		freep(key);
		freep(value);
		return cli_error("out of memory");
	}
	return 0;
}

/* ---- messages ---------------------------------------------------------- */

int cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("rain: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_EXIT_FAIL;
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;

	fputs("rain: warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void cli_note(const struct cli *cli, const char *fmt, ...)
{
	va_list ap;

	if (cli->quiet)
		return;
	fputs("rain: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

const char *cli_setting_origin(const struct cli_setting *s)
{
	static __thread char buf[300];

	switch (s->source) {
	case CLI_SRC_DEFAULT:
		return "the default";
	case CLI_SRC_FLAG:
		return s->origin;
	case CLI_SRC_ENV:
		snprintf(buf, sizeof(buf), "$%s", s->origin);
		return buf;
	case CLI_SRC_FILE:
		return s->origin;
	}
	return "?";
}

int cli_fail(struct cli *cli, int r, const char *hint, const char *fmt, ...)
{
	char what[512], deflt[640];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (!hint) {
		switch (r) {
		case RAIN_ENET:
			if (strstr(rain_error_last(), "certificate")) {
				hint = "give the server's CA certificate with --cacert (or "
				       "RAIN_CACERT), or use --insecure";
				break;
			}
			snprintf(deflt, sizeof(deflt),
				 "check the server URL %s (from %s) and that the server runs",
				 cli->url.value ? cli->url.value : "?", cli_setting_origin(&cli->url));
			hint = deflt;
			break;
		case RAIN_EAUTH:
			if (cli->token.value)
				snprintf(deflt, sizeof(deflt),
					 "the token (from %s) is missing on the server, expired "
					 "or revoked; log in again with 'rain login' (see who "
					 "you are with 'rain whoami')",
					 cli_setting_origin(&cli->token));
			else
				snprintf(deflt, sizeof(deflt),
					 "not logged in; log in with 'rain login' (or give a "
					 "token with --token or RAIN_TOKEN)");
			hint = deflt;
			break;
		case RAIN_EFORBIDDEN:
			hint = "the token may not allow this, or the image is protected";
			break;
		case RAIN_ENOTFOUND:
			hint = "see 'rain image list'";
			break;
		case RAIN_ECONFLICT:
			hint = "check the image's status with 'rain image show'";
			break;
		case RAIN_EINVAL:
			hint = "check the values given";
			break;
		case RAIN_ETOOBIG:
			hint = "the server's size limit is lower; ask its operator";
			break;
		case RAIN_ENOSPC:
			hint = "the server is out of space; ask its operator";
			break;
		case RAIN_EIO:
			hint = "the server or the local system failed; try again or see the server's log";
			break;
		case RAIN_EFORMAT:
			hint = "check the data and its declared format";
			break;
		default:
			hint = "";
		}
	}
	fputs("rain: error: ", stderr);
	if (*what)
		fprintf(stderr, "%s: ", what);
	fputs(rain_error_last()[0] ? rain_error_last() : rain_error_name(r), stderr);
	if (*hint)
		fprintf(stderr, "; %s", hint);
	fputc('\n', stderr);
	return CLI_EXIT_FAIL;
}

/* ---- values ------------------------------------------------------------ */

char *cli_sanitize(const char *s)
{
	char *out = strdup(s ? s : "-");

	if (!out)
		return NULL;
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return out;
}

void cli_format_size(int64_t n, char *out, size_t outlen)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)n;
	int u = -1;

	if (n < 0) {
		snprintf(out, outlen, "-");
		return;
	}
	if (n < 1024) {
		snprintf(out, outlen, "%" PRId64 " B", n);
		return;
	}
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(out, outlen, "%.1f %s", v, units[u]);
}

const char *cli_json_str(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

int64_t cli_json_int(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

char *cli_json_pointer(const char *name)
{
	char *out = malloc(2 * strlen(name) + 2), *o = out;

	if (!out)
		return NULL;
	*o++ = '/';
	for (; *name; name++) {
		if (*name == '~') {
			*o++ = '~';
			*o++ = '0';
		} else if (*name == '/') {
			*o++ = '~';
			*o++ = '1';
		} else {
			*o++ = *name;
		}
	}
	*o = '\0';
	return out;
}

int cli_query_add(char **q, const char *key, const char *value)
{
	_cleanup_free_ char *k = str_url_encode(key), *v = str_url_encode(value);
	char *s;

	if (!k || !v)
		return rain_error_oom();
	if (asprintf(&s, "%s%c%s=%s", *q ? *q : "", *q ? '&' : '?', k, v) < 0)
		return rain_error_oom();
	free(*q);
	*q = s;
	return 0;
}

int cli_state_save(void *ud, json_t *state)
{
	struct cli_state *st = ud;
	_cleanup_free_ char *text = json_dumps(state, JSON_INDENT(2) | JSON_SORT_KEYS);

	if (!text)
		return rain_error_oom();
	return fs_write_atomic(st->path, text, strlen(text), 0600);
}

void cli_state_log(void *ud, enum rain_target_level level, const char *msg)
{
	struct cli_state *st = ud;

	if (level == RAIN_TARGET_WARN)
		cli_warn("%s", msg);
	else
		cli_note(st->cli, "%s", msg);
}

int cli_state_load(const char *path, const char *what, json_t **out)
{
	json_error_t jerr;

	*out = json_load_file(path, 0, &jerr);
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return cli_error("%s: %s; give %s", path, *out || !jerr.text[0] ? "not a JSON object" :
				 jerr.text, what);
	}
	return 0;
}
