/* Helpers shared by `rain build ...`, `rain generate --remote` and the
 * commands that follow a job (rain register, rain vet --remote). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "rain/build-record.h"
#include "rain/error.h"
#include "rain/jobs.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "util/uuid.h"

#define RECONNECT_TRIES 30      /* a server that went away: give up after ~1 min */

#define PROGRESS_PREFIX "rain: "

struct follow {
	FILE *out;
	bool at_line_start;
	/* a run's: lines starting PROGRESS_PREFIX go to progress, not out */
	bool split;
	FILE *progress;
	FILE *line_to;          /* where the line being copied goes */
	char head[sizeof(PROGRESS_PREFIX)];     /* its start, until it is known */
	size_t nhead;
};

static void put_safe(FILE *f, unsigned char ch)
{
	if (f)
		fputc(ch == '\n' || ch == '\t' || (ch >= 0x20 && ch != 0x7f) ? ch : '?', f);
}

/* A run's log: each line to progress or out by its start. */
static void split_char(struct follow *f, unsigned char ch)
{
	size_t plen = strlen(PROGRESS_PREFIX);

	if (f->at_line_start) {
		f->line_to = NULL;
		f->nhead = 0;
		f->at_line_start = false;
	}
	if (!f->line_to) {
		f->head[f->nhead++] = (char)ch;
		if (f->nhead < plen && ch == (unsigned char)PROGRESS_PREFIX[f->nhead - 1] &&
		    ch != '\n')
			return;
		f->line_to = f->nhead == plen && !memcmp(f->head, PROGRESS_PREFIX, plen) ?
			     f->progress : f->out;
		for (size_t i = 0; i < f->nhead; i++)
			put_safe(f->line_to, (unsigned char)f->head[i]);
	} else {
		put_safe(f->line_to, ch);
	}
	f->at_line_start = ch == '\n';
}

/* Copy log text, replacing control characters other than newline and tab
 * so that a build cannot put escapes on the user's terminal. */
static int on_log(void *ud, const char *data, size_t len)
{
	struct follow *f = ud;

	for (size_t i = 0; (f->out || f->split) && i < len; i++) {
		unsigned char ch = (unsigned char)data[i];

		if (f->split) {
			split_char(f, ch);
			continue;
		}
		put_safe(f->out, ch);
		f->at_line_start = ch == '\n';
	}
	if (len && f->out)
		fflush(f->out);
	if (len && f->progress)
		fflush(f->progress);
	return cli_interrupted != 0;
}

static bool finished(json_t *rec)
{
	enum rain_job_status st;

	return rain_job_status_parse(cli_json_str(rec, "status"), &st) == 0 &&
	       rain_job_status_finished(st);
}

/* The calls a follow makes: the build API's, or the job API's (any kind). */
struct follow_api {
	const char *what;               /* "build", "registration", ... */
	int (*log)(struct rain_client *c, const char *id, int64_t offset, bool follow,
		   rain_log_fn fn, void *ud, int64_t *received);
	int (*get)(struct rain_client *c, const char *id, json_t **out);
	int (*cancel)(struct rain_client *c, const char *id, json_t **out);
};

static int follow(struct cli *cli, const struct follow_api *api, const char *id, struct follow *fp,
		  bool cancel_on_interrupt, json_t **final)
{
	struct follow f = *fp;
	FILE *out = f.out;
	struct rain_client *c;
	int64_t off = 0, got;
	int r, tries = 0;

	*final = NULL;
	r = cli_client(cli, &c);
	if (r)
		return r;
	f.at_line_start = true;
	for (;;) {
		json_t *rec = NULL;

		r = api->log(c, id, off, true, on_log, &f, &got);
		off += got;
		if (r == RAIN_ECANCELED || cli_interrupted) {
			if (!f.at_line_start && out)
				fputc('\n', out);
			if (!cancel_on_interrupt)
				return CLI_EXIT_FAIL;
			cli_note(cli, "canceling %s %s ...", api->what, id);
			r = api->cancel(c, id, &rec);
			if (r < 0 && r != RAIN_ECONFLICT)
				return cli_fail(cli, r, NULL, "cannot cancel %s %s", api->what, id);
			json_decref(rec);
			rec = NULL;
			r = api->get(c, id, final);
			if (r < 0)
				return cli_fail(cli, r, NULL, "cannot get %s %s", api->what, id);
			return CLI_EXIT_OK;
		}
		if (r < 0 && r != RAIN_ENET)
			return cli_fail(cli, r, NULL, "cannot read the log of %s %s", api->what, id);
		if (r == RAIN_ENET && got == 0 && ++tries > RECONNECT_TRIES)
			return cli_fail(cli, r, NULL, "cannot follow %s %s", api->what, id);
		if (got > 0)
			tries = 0;
		r = api->get(c, id, &rec);
		if (r < 0 && r != RAIN_ENET)
			return cli_fail(cli, r, NULL, "cannot get %s %s", api->what, id);
		if (r == 0 && finished(rec)) {
			/* anything written between the stream's end and now */
			api->log(c, id, off, false, on_log, &f, &got);
			*final = rec;
			return CLI_EXIT_OK;
		}
		json_decref(rec);
		if (r < 0 && ++tries > RECONNECT_TRIES)
			return cli_fail(cli, r, NULL, "cannot follow %s %s", api->what, id);
		/* the stream ended early (server restarting, a long quiet spell) */
		sleep(r < 0 ? 2 : 1);
	}
}

int cli_build_follow(struct cli *cli, const char *id, FILE *out, bool cancel_on_interrupt,
		     json_t **final)
{
	static const struct follow_api api = { "build", rain_client_build_log, rain_client_build_get,
					       rain_client_build_cancel };
	struct follow f = { .out = out };

	return follow(cli, &api, id, &f, cancel_on_interrupt, final);
}

int cli_job_follow(struct cli *cli, const char *what, const char *id, FILE *out,
		   bool cancel_on_interrupt, json_t **final)
{
	const struct follow_api api = { what, rain_client_job_log, rain_client_job_get,
					rain_client_job_cancel };
	struct follow f = { .out = out };

	return follow(cli, &api, id, &f, cancel_on_interrupt, final);
}

int cli_run_follow(struct cli *cli, const char *id, FILE *out, FILE *progress, json_t **final)
{
	static const struct follow_api api = { "run", rain_client_job_log, rain_client_run_get,
					       rain_client_run_stop };
	struct follow f = { .out = out, .split = true, .progress = progress };

	return follow(cli, &api, id, &f, true, final);
}

void cli_build_print(json_t *build)
{
	static const char *const fields[] = {
		"id", "name", "status", "owner", "position", "created_at", "started_at",
		"finished_at", "error", "store", "boot_check", "image_id", NULL,
	};
	static const char *const headers[] = { "Field", "Value" };
	struct cli_table *t = cli_table_new(2, headers);
	json_t *outputs = json_object_get(json_object_get(build, "manifest"), "outputs"), *o;
	size_t i;

	for (i = 0; fields[i]; i++) {
		json_t *v = json_object_get(build, fields[i]);
		_cleanup_free_ char *s = NULL;
		const char *row[2] = { fields[i], NULL };

		if (!v || json_is_null(v))
			continue;
		s = json_is_string(v) ? strdup(json_string_value(v)) :
		    json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		row[1] = s;
		cli_table_add(t, row);
	}
	json_array_foreach(outputs, i, o) {
		char size[32], *line = NULL;
		const char *row[2] = { i == 0 ? "outputs" : "", NULL };

		cli_format_size(cli_json_int(o, "size"), size, sizeof(size));
		if (asprintf(&line, "%s %s (%s)", cli_json_str(o, "format") ? cli_json_str(o, "format") : "?",
			     cli_json_str(o, "file") ? cli_json_str(o, "file") : "?", size) < 0)
			line = NULL;
		row[1] = line;
		cli_table_add(t, row);
		free(line);
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
}

int cli_build_outcome(struct cli *cli, json_t *build)
{
	const char *id = cli_json_str(build, "id"), *st = cli_json_str(build, "status");
	_cleanup_free_ char *err = cli_sanitize(cli_json_str(build, "error") ? cli_json_str(build, "error") : "");

	if (st && !strcmp(st, "succeeded"))
		return CLI_EXIT_OK;
	if (st && !strcmp(st, "canceled"))
		return cli_error("build %s was canceled", id ? id : "?");
	return cli_error("build %s %s%s%s", id ? id : "?", st ? st : "ended",
			 err && *err ? ": " : "", err ? err : "");
}

int cli_build_list(struct cli *cli, json_t **list)
{
	struct rain_client *c;
	int r = cli_client(cli, &c);

	if (r)
		return r;
	r = rain_client_build_list(c, list);
	if (r < 0)
		return cli_fail(cli, r, NULL, "cannot list the builds");
	return 0;
}

int cli_build_resolve(struct cli *cli, const char *arg, char id[37])
{
	json_t *list = NULL, *b;
	size_t i, n = 0;
	int r;

	if (uuid_is_valid(arg)) {
		memcpy(id, arg, 37);
		uuid_canonicalize(id);
		return 0;
	}
	if (!*arg || strlen(arg) > 36)
		return cli_error("'%s' is not a build id; see 'rain build list'", arg);
	r = cli_build_list(cli, &list);
	if (r)
		return r;
	json_array_foreach(json_object_get(list, "builds"), i, b) {
		const char *bid = cli_json_str(b, "id");

		if (bid && uuid_is_valid(bid) && !strncasecmp(bid, arg, strlen(arg))) {
			if (n++ == 0)
				memcpy(id, bid, 37);
		}
	}
	json_decref(list);
	if (n == 0)
		return cli_error("no build id starts with '%s'; see 'rain build list'", arg);
	if (n > 1)
		return cli_error("%zu builds start with '%s'; give more of the id", n, arg);
	uuid_canonicalize(id);
	return 0;
}

/* ---- a build's progress ------------------------------------------------- */

void cli_build_view_init(struct cli_build_view *v, struct cli *cli, bool verbose)
{
	memset(v, 0, sizeof(*v));
	v->cli = cli;
	v->verbose = verbose;
	v->tty = isatty(STDERR_FILENO);
	v->t0 = time_mono_us();
}

void cli_build_view_line(void *ud, const char *line)
{
	struct cli_build_view *v = ud;
	int64_t s = (time_mono_us() - v->t0) / 1000000;

	if (v->cli->quiet)
		return;
	if (!v->tty || v->verbose) {
		fprintf(stderr, "%s\n", line);
		return;
	}
	if (str_has_prefix(line, "== ")) {
		if (v->stage[0])
			fputc('\n', stderr);
		snprintf(v->stage, sizeof(v->stage), "%s", line + 3);
		fprintf(stderr, "\r\033[K[%" PRId64 ":%02" PRId64 "] %s", s / 60, s % 60, v->stage);
	} else if (str_has_prefix(line, "+ ") || str_has_prefix(line, "boot check") ||
		   str_has_prefix(line, "package cache") || str_has_prefix(line, "KVM")) {
		fprintf(stderr, "\r\033[K[%" PRId64 ":%02" PRId64 "] %s: %.60s", s / 60, s % 60,
			v->stage, line);
	} else {
		return;
	}
	if (str_has_prefix(line, "== done") || str_has_prefix(line, "== failed"))
		fputc('\n', stderr);
	fflush(stderr);
}

/* fopencookie's write: whole lines to cli_build_view_line */
static ssize_t view_write(void *cookie, const char *buf, size_t size)
{
	struct cli_build_view *v = cookie;

	for (size_t i = 0; i < size; i++) {
		if (buf[i] == '\n' || v->npartial == sizeof(v->partial) - 1) {
			v->partial[v->npartial] = '\0';
			cli_build_view_line(v, v->partial);
			v->npartial = 0;
			if (buf[i] == '\n')
				continue;
		}
		v->partial[v->npartial++] = buf[i];
	}
	return (ssize_t)size;
}

static int view_close(void *cookie)
{
	struct cli_build_view *v = cookie;

	if (v->npartial) {
		v->partial[v->npartial] = '\0';
		cli_build_view_line(v, v->partial);
		v->npartial = 0;
	}
	if (v->stage[0] && v->tty && !v->verbose && !v->cli->quiet)
		fputc('\n', stderr);   /* end the last status line */
	return 0;
}

FILE *cli_build_view_open(struct cli_build_view *v)
{
	cookie_io_functions_t io = { .write = view_write, .close = view_close };
	FILE *f = fopencookie(v, "w", io);

	if (f)
		setvbuf(f, NULL, _IONBF, 0);
	return f;
}
