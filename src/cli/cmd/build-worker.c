/* rain build-worker: one build of raind's build service on a compute node
 * (raind's slurm backend, rain/sys/worker.h, submits it as a batch job).
 * It runs `rain generate` on the build's recipe (the build's directory is
 * the same path here: a shared file system) into a folder of its own,
 * sends each output line into the build's log as it comes, uploads the
 * outputs, and reports the outcome, all with the build's worker token
 * (RAIN_WORKER_TOKEN, X-Rain-Worker-Token), which is good for nothing
 * else. raind stores the image; the worker never holds a user's token.
 * Stopped by a signal (Slurm ended the job), it reports nothing: raind
 * says why from the job's state. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "rain/error.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/process.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "util/uuid.h"

#define FLUSH_US (500 * 1000)           /* how often log lines go to raind */
#define CHUNK_MAX (256 * 1024)          /* ... or once this much is waiting */
#define GENERATE_ARGS_MAX 64

static int cmd_build_worker_exec(struct cli *cli, const struct cli_args *a);

enum { OPT_URL = 0x500, OPT_CACERT, OPT_RECIPE, OPT_CACHE, OPT_BOOT, OPT_LIMIT };

static const struct cli_opt worker_opts[] = {
	CLI_OPT("url", 0, "URL", OPT_URL, "raind's address, as the build service gives it"),
	CLI_OPT("cacert", 0, "FILE", OPT_CACERT, "the CA certificate to check raind's with"),
	CLI_OPT("recipe", 0, "FILE", OPT_RECIPE, "the build's recipe (in its input folder)"),
	CLI_OPT("cache", 0, "DIR", OPT_CACHE, "the package cache (default /var/cache/rain)"),
	CLI_OPT("boot-check", 0, NULL, OPT_BOOT, "as rain generate --boot-check"),
	CLI_OPT("limit", 0, "KEY=VALUE", OPT_LIMIT, "as rain generate --limit (repeatable)"),
	{ 0 },
};

const struct cli_cmd cmd_build_worker_entry = {
	.name = "build-worker",
	.usage = "BUILD-ID --url URL --recipe FILE [OPTIONS]",
	.summary = "run one build for raind's slurm backend (started by raind)",
	.help =
		"Runs `rain generate` on the recipe and reports its log, outputs and\n"
		"outcome to raind with the build's worker token, RAIN_WORKER_TOKEN.\n",
	.opts = worker_opts,
	.args = { 1, 1, "give the build's id" },
	.exec = cmd_build_worker_exec,
	.prefix = "rain",
};

static volatile sig_atomic_t stopped;

static void on_signal(int sig)
{
	stopped = 1;
}

struct worker {
	struct rain_client *c;
	char path[160];                 /* /rain/v1/builds/ID/worker */
	char *buf;                      /* log lines not sent yet */
	size_t len, cap;
	int64_t last_flush;
	char *last_error;               /* generate's last "rain: error: " line */
	int failed_sends;
};

static int post(struct worker *w, const char *what, json_t *body)
{
	char path[200];
	int r;

	snprintf(path, sizeof(path), "%s/%s", w->path, what);
	r = rain_client_request(w->c, "POST", path, NULL, body, NULL, NULL);
	json_decref(body);
	return r;
}

static void flush(struct worker *w)
{
	if (!w->len)
		return;
	if (post(w, "log", json_pack("{s:s%}", "text", w->buf, w->len)) < 0 &&
	    w->failed_sends++ < 3)
		fprintf(stderr, "rain build-worker: cannot send the log: %s\n", rain_error_last());
	w->len = 0;
	w->last_flush = time_mono_us();
}

static void on_line(void *ud, const char *line)
{
	struct worker *w = ud;
	size_t n = strlen(line);

	if (str_has_prefix(line, "rain: error: ")) {
		free(w->last_error);
		w->last_error = strdup(line + strlen("rain: error: "));
	}
	if (w->len + n + 1 > w->cap) {
		size_t cap = w->cap ? w->cap : 64 * 1024;
		char *p;

		while (cap < w->len + n + 1)
			cap *= 2;
		if (!(p = realloc(w->buf, cap)))
			return;
		w->buf = p;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, line, n);
	w->len += n;
	w->buf[w->len++] = '\n';
	if (w->len >= CHUNK_MAX)
		flush(w);
}

static void on_tick(void *ud)
{
	struct worker *w = ud;

	if (time_mono_us() - w->last_flush >= FLUSH_US)
		flush(w);
}

/* Upload every file generate left in out (manifest.json last). */
static int send_outputs(struct worker *w, const char *out)
{
	_cleanup_free_ char *manifest = NULL;
	DIR *d = opendir(out);
	struct dirent *e;
	int r = 0;

	if (!d)
		return rain_error_errno(RAIN_EIO, errno, "cannot open %s", out);
	for (int pass = 0; r == 0 && pass < 2; pass++) {
		rewinddir(d);
		while (r == 0 && (e = readdir(d))) {
			struct rain_upload_info info;
			char path[600];
			struct stat st;
			int fd;

			if (e->d_name[0] == '.' || (strcmp(e->d_name, "manifest.json") == 0) != (pass == 1))
				continue;
			fd = openat(dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
				if (fd >= 0)
					close(fd);
				continue;
			}
			snprintf(path, sizeof(path), "%s/outputs/%s", w->path, e->d_name);
			r = rain_client_upload(w->c, path, fd, (int64_t)st.st_size, NULL, NULL, &info);
			if (r < 0)
				r = rain_error_set(r, "cannot send the output %s: %s", e->d_name,
						   rain_error_last());
			close(fd);
		}
	}
	closedir(d);
	return r;
}

static int cmd_build_worker_exec(struct cli *cli, const struct cli_args *a)
{
	const char *id = a->argv[0], *url = cli_arg(a, "url"), *recipe = cli_arg(a, "recipe");
	const char *cache = cli_arg(a, "cache") ? cli_arg(a, "cache") : "/var/cache/rain";
	_cleanup_free_ char *token = NULL, *header = NULL, *tmp = NULL, *out = NULL;
	char self[4096], tmpl[4096];
	const char *argv[GENERATE_ARGS_MAX + 1];
	const char *headers[2] = { NULL, NULL };
	struct worker w = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	const char *t = getenv("RAIN_WORKER_TOKEN");
	bool ok = false;
	char error[1200] = "";
	int n = 0, status = -1, r;
	ssize_t len;

	if (!url || !recipe)
		return cli_usage_error(a->cmd, "--url and --recipe are needed");
	if (!uuid_is_valid(id))
		return cli_usage_error(a->cmd, "'%s' is not a build id", id);
	if (!t || !*t) {
		cli_error("RAIN_WORKER_TOKEN is not set: raind's slurm backend starts this command "
			  "with the build's worker token");
		return CLI_EXIT_FAIL;
	}
	token = strdup(t);
	/* generate gets none of it */
	unsetenv("RAIN_WORKER_TOKEN");
	if (!token || asprintf(&header, "X-Rain-Worker-Token: %s", token) < 0) {
		cli_error("out of memory");
		return CLI_EXIT_FAIL;
	}
	headers[0] = header;
	{
		struct rain_client_config cc = { .url = url, .cacert = cli_arg(a, "cacert"),
						 .headers = headers };

		r = rain_client_new(&cc, &w.c);
	}
	str_free_secret(header);
	header = NULL;
	str_free_secret(token);
	token = NULL;
	if (r < 0)
		return cli_fail(cli, r, NULL, "cannot reach raind at %s", url);
	snprintf(w.path, sizeof(w.path), "/rain/v1/builds/%s/worker", id);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	snprintf(tmpl, sizeof(tmpl), "%s/rain-worker-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (len <= 0 || !mkdtemp(tmpl) || !(tmp = strdup(tmpl)) || !(out = fs_path_join(tmp, "out"))) {
		snprintf(error, sizeof(error), "the worker on its node cannot make a work folder: %s",
			 strerror(errno));
		goto report;
	}
	self[len] = '\0';
	argv[n++] = self;
	argv[n++] = "generate";
	argv[n++] = recipe;
	argv[n++] = "-o";
	argv[n++] = out;
	argv[n++] = "--cache";
	argv[n++] = cache;
	if (cli_flag(a, "boot-check"))
		argv[n++] = "--boot-check";
	for (size_t i = 0; i < a->nopts && n + 2 < GENERATE_ARGS_MAX; i++)
		if (a->opts[i].opt->key == OPT_LIMIT) {
			argv[n++] = "--limit";
			argv[n++] = a->opts[i].value;
		}
	argv[n] = NULL;
	{
		char host[256] = "?";

		gethostname(host, sizeof(host) - 1);
		snprintf(error, sizeof(error), "== worker: build %s on %s (pid %d)", id, host, (int)getpid());
		on_line(&w, error);
		error[0] = '\0';
	}
	{
		struct process_opts po = { .argv = argv, .stdin_fd = -1, .cancel = &stopped,
					   .on_line = on_line, .on_tick = on_tick, .ud = &w };

		w.last_flush = time_mono_us();
		r = process_run(&po, &status);
	}
	if (stopped) {
		/* Slurm ended the job (scancel, its time limit, the node taken
		 * down): raind tells why from the job's state, which a report
		 * of this would hide */
		on_line(&w, "== worker: stopped by a signal; raind reports what Slurm says");
		flush(&w);
		r = -1;
		goto done;
	}
	flush(&w);
	if (r < 0)
		snprintf(error, sizeof(error), "%s", rain_error_last());
	else if (status != 0)
		snprintf(error, sizeof(error), "%s", w.last_error ? w.last_error :
			 "rain generate failed on the worker");
	else if ((r = send_outputs(&w, out)) < 0)
		snprintf(error, sizeof(error), "%s", rain_error_last());
	else
		ok = true;
report:
	r = post(&w, "done", json_pack("{s:b,s:s?}", "ok", ok, "error", ok ? NULL : error));
	if (r < 0)
		cli_error("cannot report build %s's outcome to %s: %s", id, url, rain_error_last());
done:
	if (tmp)
		fs_remove_tree(tmp);
	free(w.buf);
	free(w.last_error);
	rain_client_free(w.c);
	return r == 0 && ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
