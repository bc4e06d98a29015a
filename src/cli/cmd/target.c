/* rain target publish|unpublish|status: the registration steps of a site
 * driver (rain/target.h) run here, on a local image file and a file of
 * sites, without raind. raind's registrations run the same steps; this is
 * their plumbing, for site administrators and tests. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "rain/diskfmt.h"
#include "rain/error.h"
#include "rain/target.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/strutil.h"
#include "util/uuid.h"

#define PREFIX "rain target"
#define STATE_MAX (1 << 20)

static int cmd_target_publish_exec(struct cli *cli, const struct cli_args *a);
static int cmd_target_unpublish_exec(struct cli *cli, const struct cli_args *a);
static int cmd_target_status_exec(struct cli *cli, const struct cli_args *a);

#define SITE_OPTS                                                                       \
	CLI_OPT("sites", 0, "FILE", 0, "the INI file with the [site.NAME] sections"),   \
	CLI_OPT("site", 0, "NAME", 0, "the site")

static const struct cli_opt publish_opts[] = {
	SITE_OPTS,
	CLI_OPT("state", 0, "FILE", 0, "where to keep what exists at the site (default\n"
		"WORK/state.json); unpublish and status take it"),
	CLI_OPT("work", 0, "DIR", 0, "the folder for the adapted copy (default: a new\n"
		"one in $TMPDIR, kept)"),
	CLI_OPT("ssh-key", 0, "FILE", 0, "a public key for the image's contextualization"),
	CLI_OPT("property", 0, "K=V", 0, "a property of the image (os_distro, os_version,\n"
		"architecture, hw_firmware_type...; repeatable)"),
	CLI_OPT("id", 0, "ID", 0, "the registration's id (default: a new UUID)"),
	CLI_OPT("sha256", 0, "HEX", 0, "the image file's SHA-256 when it is known (raind\n"
		"passes its stored data's), instead of reading the\n"
		"whole file to hash it"),
	{ 0 },
};

static const struct cli_opt state_opts[] = {
	SITE_OPTS,
	CLI_OPT("state", 0, "FILE", 0, "the state publish kept"),
	{ 0 },
};

static const struct cli_cmd cmd_target_publish_entry = {
	.name = "publish",
	.usage = "--sites FILE --site NAME [--state FILE] [--work DIR] IMAGE-FILE",
	.summary = "adapt a copy of an image file and publish it at a site",
	.help = "Runs the site driver's steps: accepts, adapt (on a copy in --work;\n"
		"the file is never written), publish. What is created at the site is\n"
		"named in the state file before it is created; when a step fails or\n"
		"is interrupted, what was created is removed again.\n",
	.opts = publish_opts,
	.args = { 1, 1, "give one image file (raw disk or qcow2)" },
	.exec = cmd_target_publish_exec,
	.prefix = PREFIX,
};

static const struct cli_cmd cmd_target_unpublish_entry = {
	.name = "unpublish",
	.usage = "--sites FILE --site NAME --state FILE",
	.summary = "remove what a publish created at a site",
	.opts = state_opts,
	.args = { 0, 0, "unpublish takes no arguments: name the state with --state" },
	.exec = cmd_target_unpublish_exec,
	.prefix = PREFIX,
};

static const struct cli_cmd cmd_target_status_entry = {
	.name = "status",
	.usage = "--sites FILE --site NAME --state FILE",
	.summary = "what the site says of a publish",
	.opts = state_opts,
	.args = { 0, 0, "status takes no arguments: name the state with --state" },
	.exec = cmd_target_status_exec,
	.prefix = PREFIX,
};

static const struct cli_cmd *const target_cmds[] = {
	&cmd_target_publish_entry,
	&cmd_target_unpublish_entry,
	&cmd_target_status_entry,
	NULL,
};

const struct cli_cmd cmd_target_entry = {
	.name = "target",
	.usage = "COMMAND [ARGS...]",
	.summary = "site driver steps on local files: publish, unpublish, status",
	.help = "Plumbing under rain register: runs a site driver here, on an image\n"
		"file, with sites from a file. See rain-target(1).\n",
	.table = target_cmds,
	.prefix = "rain",
};

struct ctx {
	struct cli_state st;            /* first: the op's ud */
	struct cli_progress prog;
	const char *prog_what;
};

static void on_progress(void *ud, const char *what, int64_t done, int64_t total)
{
	struct ctx *c = ud;

	if (!c->prog_what || strcmp(c->prog_what, what)) {
		if (c->prog_what)
			cli_progress_end(&c->prog, true);
		c->prog_what = what;
		cli_progress_init(&c->prog, c->st.cli, what, 0);
	}
	cli_progress_cb(&c->prog, done, total);
	if (done == total) {
		cli_progress_end(&c->prog, true);
		c->prog_what = NULL;
	}
}

static int need(const struct cli_args *a, const char *opt, const char **out)
{
	*out = cli_arg(a, opt);
	if (!*out || !**out)
		return cli_usage_error(a->cmd, "--%s is required", opt);
	return 0;
}

static int site_open(struct cli *cli, const struct cli_args *a, struct rain_site **site)
{
	const char *sites, *name;
	int r;

	if ((r = need(a, "sites", &sites)) || (r = need(a, "site", &name)))
		return r;
	r = rain_site_read(sites, name, site);
	if (r < 0)
		return cli_fail(cli, r, "check the sites file", "cannot use site '%s'", name);
	return 0;
}

/* The image file: its format (raw or qcow2, checked as raind checks
 * uploads: no backing files), size and hash (known: the caller's, as
 * raind knows its stored data's; else read here). */
static int image_open(struct cli *cli, const char *path, json_t *props, const char *known,
		      struct rain_target_image *img, char sha256[65])
{
	struct stat st;
	unsigned char head[65536];
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;
	int64_t size;
	int r;

	if (fd < 0)
		return cli_error("cannot open %s: %s", path, strerror(errno));
	got = pread(fd, head, sizeof(head), 0);
	if (got < 0)
		return cli_error("cannot read %s: %s", path, strerror(errno));
	img->disk_format = rain_diskfmt_detect(head, (size_t)got);
	if (strcmp(img->disk_format, "qcow2") && strcmp(img->disk_format, "raw"))
		return cli_error("%s is a %s image; give a raw disk or a qcow2", path, img->disk_format);
	if (known) {
		snprintf(sha256, 65, "%s", known);
		r = fstat(fd, &st) < 0 ? rain_error_errno(RAIN_EIO, errno, "cannot stat %s", path) : 0;
		size = st.st_size;
	} else {
		r = fs_sha256_fd(fd, path, sha256, &size);
	}
	if (r >= 0)
		r = rain_diskfmt_check(img->disk_format, head, (size_t)got, size, NULL);
	if (r < 0)
		return cli_fail(cli, r, "", "cannot register %s", path);
	img->path = path;
	img->size = size;
	img->sha256 = sha256;
	img->properties = props;
	img->name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	return 0;
}

static int props_from_args(const struct cli_args *a, json_t **out)
{
	_cleanup_json_ json_t *props = json_object();

	if (!props)
		return cli_error("out of memory");
	for (size_t i = 0; i < a->nopts; i++) {
		_cleanup_free_ char *k = NULL, *v = NULL;

		if (strcmp(a->opts[i].opt->name, "property"))
			continue;
		if (cli_parse_property(a->cmd, a->opts[i].value, &k, &v))
			return CLI_EXIT_USAGE;
		if (json_object_set_new(props, k, json_string(v)) < 0)
			return cli_error("out of memory");
	}
	*out = TAKE_PTR(props);
	return 0;
}

static void print_state(struct cli *cli, json_t *state, const char *state_path)
{
	json_t *show = json_object_get(state, "show");
	const char *key;
	json_t *v;

	if (cli->json) {
		cli_json_print(state);
		return;
	}
	json_object_foreach(show, key, v) {
		_cleanup_free_ char *text = json_is_string(v) ? strdup(json_string_value(v)) :
					    json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		_cleanup_free_ char *safe = text ? cli_sanitize(text) : NULL;

		printf("%-14s %s\n", key, safe ? safe : "?");
	}
	if (state_path)
		printf("%-14s %s\n", "state", state_path);
}

static int cmd_target_publish_exec(struct cli *cli, const struct cli_args *a)
{
	struct rain_target_image img = { 0 };
	struct rain_target_artifacts art = { 0 };
	_cleanup_json_ json_t *props = NULL, *state = json_object();
	_cleanup_free_ char *work = NULL, *state_path = NULL, *key = NULL;
	struct rain_site *site = NULL;
	char sha256[65], id[37];
	struct ctx c = { .st.cli = cli };
	struct rain_target_op op = {
		.state = state, .save = cli_state_save, .log = cli_state_log, .progress = on_progress, .ud = &c,
		.cancel = &cli_interrupted,
	};
	const char *arg;
	int r, ret = CLI_EXIT_FAIL;

	if (!state)
		return cli_error("out of memory");
	if ((r = props_from_args(a, &props)))
		return r;
	if ((arg = cli_arg(a, "ssh-key"))) {
		size_t len;

		if (fs_read_small(arg, 16384, &key, &len) < 0)
			return cli_fail(cli, RAIN_EIO, "give a public key file (~/.ssh/id_ed25519.pub)",
					"cannot read --ssh-key");
		key[strcspn(key, "\n")] = '\0';
		op.ssh_key = key;
	}
	if ((r = site_open(cli, a, &site)))
		return r;
	if ((arg = cli_arg(a, "sha256")) && (strlen(arg) != 64 || !hex_is_valid(arg, 64))) {
		ret = cli_usage_error(a->cmd, "--sha256 takes 64 hex digits");
		goto done;
	}
	if ((r = image_open(cli, a->argv[0], props, arg, &img, sha256)))
		goto done;
	if ((arg = cli_arg(a, "id")))
		snprintf(id, sizeof(id), "%s", arg);
	else
		uuid_generate(id);
	if ((arg = cli_arg(a, "work"))) {
		if (fs_mkdir_p(arg, 0700) < 0) {
			cli_fail(cli, RAIN_EIO, "", "cannot make --work %s", arg);
			goto done;
		}
		work = strdup(arg);
	} else {
		const char *tmp = getenv("TMPDIR");

		if (asprintf(&work, "%s/rain-target-XXXXXX", tmp && *tmp ? tmp : "/tmp") >= 0 &&
		    !mkdtemp(work)) {
			cli_error("cannot make a folder in %s: %s", tmp ? tmp : "/tmp", strerror(errno));
			goto done;
		}
	}
	state_path = cli_arg(a, "state") ? strdup(cli_arg(a, "state")) : fs_path_join(work, "state.json");
	if (!work || !state_path) {
		cli_error("out of memory");
		goto done;
	}
	if (access(state_path, F_OK) == 0) {
		cli_error("%s exists: it names an earlier publish; unpublish it first or give "
			  "another --state", state_path);
		goto done;
	}
	c.st.path = state_path;
	op.site = site;
	op.reg_id = id;
	op.workdir = work;
	img.id = id;
	if ((r = rain_target_state_set(&op, "site", json_string(site->name))) < 0 ||
	    (r = rain_target_state_set(&op, "registration", json_string(id))) < 0) {
		cli_fail(cli, r, "", "cannot write %s", state_path);
		goto done;
	}
	cli_catch_signals(true);
	r = rain_target_accepts(site, &img);
	if (r >= 0)
		r = rain_target_adapt(&op, &img, &art);
	if (r >= 0)
		r = rain_target_state_set(&op, "adapted", json_pack("{s:s?, s:s?, s:I, s:s?}",
				"disk_sha256", art.disk_sha256, "disk_format", art.disk_format,
				"disk_size", (json_int_t)art.disk_size, "kernel_version",
				art.kernel_version));
	if (r >= 0)
		r = rain_target_publish(&op, &img, &art);
	if (r < 0) {
		_cleanup_free_ char *msg = strdup(rain_error_last());
		int u;

		cli_interrupted = 0;
		u = rain_target_unpublish(&op);
		cli_catch_signals(false);
		if (u < 0)
			cli_warn("could not remove what was created at site '%s': %s (state kept in %s; "
				 "run rain target unpublish)", site->name, rain_error_last(), state_path);
		else
			unlink(state_path);     /* nothing is left that it could name */
		cli_error("%s", msg ? msg : "cannot publish");
		goto done;
	}
	cli_catch_signals(false);
	print_state(cli, state, state_path);
	ret = CLI_EXIT_OK;
done:
	rain_target_artifacts_clear(&art);
	rain_site_free(site);
	return ret;
}

static int state_load(struct cli *cli, const struct cli_args *a, struct ctx *c, json_t **state)
{
	if (need(a, "state", &c->st.path))
		return CLI_EXIT_USAGE;
	return cli_state_load(c->st.path, "the state file publish wrote", state);
}

static int cmd_target_unpublish_exec(struct cli *cli, const struct cli_args *a)
{
	struct ctx c = { .st.cli = cli };
	_cleanup_json_ json_t *state = NULL;
	struct rain_site *site = NULL;
	int r;

	if ((r = state_load(cli, a, &c, &state)) || (r = site_open(cli, a, &site)))
		return r;
	{
		struct rain_target_op op = {
			.site = site, .reg_id = json_string_value(json_object_get(state, "registration")),
			.workdir = NULL, .state = state, .save = cli_state_save, .log = cli_state_log,
			.progress = on_progress, .ud = &c, .cancel = &cli_interrupted,
		};

		cli_catch_signals(true);
		r = rain_target_unpublish(&op);
		cli_catch_signals(false);
	}
	rain_site_free(site);
	if (r < 0)
		return cli_fail(cli, r, "run it again once the site is reachable",
				"cannot remove everything from the site");
	if (cli->json)
		cli_json_print(state);
	return CLI_EXIT_OK;
}

static int cmd_target_status_exec(struct cli *cli, const struct cli_args *a)
{
	struct ctx c = { .st.cli = cli };
	_cleanup_json_ json_t *state = NULL, *st = NULL;
	struct rain_site *site = NULL;
	int r;

	if ((r = state_load(cli, a, &c, &state)) || (r = site_open(cli, a, &site)))
		return r;
	{
		struct rain_target_op op = {
			.site = site, .reg_id = json_string_value(json_object_get(state, "registration")),
			.state = state, .log = cli_state_log, .ud = &c, .cancel = &cli_interrupted,
		};

		r = rain_target_status(&op, &st);
	}
	rain_site_free(site);
	if (r < 0)
		return cli_fail(cli, r, "", "cannot ask the site");
	if (cli->json) {
		cli_json_print(st);
	} else {
		const char *key;
		json_t *v;

		json_object_foreach(st, key, v) {
			_cleanup_free_ char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			_cleanup_free_ char *safe = text ? cli_sanitize(text) : NULL;

			printf("%-14s %s\n", key, safe ? safe : "?");
		}
	}
	return CLI_EXIT_OK;
}
