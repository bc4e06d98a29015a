/* rain generate: build an image from a recipe, optionally store it. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "rain/build.h"
#include "rain/build-image.h"
#include "rain/error.h"
#include "rain/recipe.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/strutil.h"
#include "util/timeutil.h"

static int cmd_generate_exec(struct cli *cli, const struct cli_args *a);

enum { OPT_CACHE = 0x400, OPT_BOOT, OPT_STORE, OPT_TIMEOUT, OPT_OS, OPT_RELEASE, OPT_ARCH,
       OPT_PACKAGES, OPT_NAME, OPT_FORMAT, OPT_FROM_IMAGE, OPT_REMOTE, OPT_VERBOSE, OPT_LIMIT,
       OPT_FIRMWARE, OPT_FORCE };

static const struct cli_opt generate_opts[] = {
	CLI_OPT("output", 'o', "DIR", 'o', "where the image, kernel, initramfs, manifest.json\n"
		"and build.log go (default: ./NAME)"),
	CLI_OPT("force", 0, NULL, OPT_FORCE, "replace the output folder a failed or earlier build\n"
		"left (one with its build.log)"),
	CLI_OPT("cache", 0, "DIR", OPT_CACHE, "shared package and base-system cache, and the\n"
		"builds' scratch space (default /var/cache/rain)"),
	CLI_OPT("boot-check", 0, NULL, OPT_BOOT, "boot the result under qemu and record the outcome"),
	CLI_OPT("store", 0, NULL, OPT_STORE, "upload the image to the repository with its recipe\n"
		"and package list as properties (the server and the\n"
		"token are checked before the build starts)"),
	CLI_OPT("timeout", 0, "SECONDS", OPT_TIMEOUT, "give up after this long (default 3600)"),
	CLI_OPT("limit", 0, "KEY=VALUE", OPT_LIMIT, "what the build may use, whatever the recipe says\n"
		"(repeatable): pids (4096), memory (4G), cpus (no\n"
		"cap), io_bps (no cap), tmpfs_size (1G), scratch_size\n"
		"(20G), allow_private_mirrors (no); see rain-generate(1)"),
	CLI_OPT("verbose", 0, NULL, OPT_VERBOSE, "on a terminal, show every line of the build log, not\n"
		"one status line per stage"),
	CLI_OPT("remote", 0, NULL, OPT_REMOTE, "build in the server's build service instead (the\n"
		"recipe's files are sent with it; see rain-build(1))"),
	CLI_OPT("from-image", 0, "REF", OPT_FROM_IMAGE, "regenerate the image REF (ID or NAME) from the recipe\n"
		"and files stored with it"),
	{ .help = "FutureGrid-style shortcut instead of a recipe file:" },
	CLI_OPT("os", 0, "DIST", OPT_OS, "debian, ubuntu, rocky, alma or fedora"),
	CLI_OPT("release", 0, "R", OPT_RELEASE, "e.g. bookworm"),
	CLI_OPT("arch", 0, "A", OPT_ARCH, "e.g. amd64"),
	CLI_OPT("packages", 0, "P,...", OPT_PACKAGES, "extra packages"),
	CLI_OPT("name", 0, "NAME", OPT_NAME, "the image's name"),
	CLI_OPT("format", 0, "F,...", OPT_FORMAT, "output formats (default disk)"),
	CLI_OPT("firmware", 0, "bios|uefi", OPT_FIRMWARE, "what boots the disk (default bios; uefi for arm64)"),
	{ 0 },
};

const struct cli_cmd cmd_generate_entry = {
	.name = "generate",
	.usage = "RECIPE | --from-image ID|NAME | --os DIST [--release R] [--arch A] [--packages P,...] [OPTIONS]",
	.summary = "build an image from a recipe (rain-recipe(5))",
	.opts = generate_opts,
	.args = { 0, -1 },
	.help =
		"A recipe with base = image:REF clones that repository image (RAIN_URL,\n"
		"RAIN_TOKEN) and records it as the parent of the stored result.\n"
		"Builds run as root. An unknown package name fails the build with\n"
		"that name, and nothing is stored. Ctrl-C stops the build and removes\n"
		"everything but build.log.\n",
	.exec = cmd_generate_exec,
	.prefix = "rain",
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = 1;
}

/* The --os shortcut as recipe text; values are checked by the parser. */
static char *shortcut_recipe(const char *os, const char *release, const char *arch,
			     const char *packages, const char *name, const char *format,
			     const char *firmware, bool boot)
{
	char *text = NULL;
	size_t len;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	fprintf(f, "[image]\ndistribution = %s\n", os);
	if (release)
		fprintf(f, "release = %s\n", release);
	if (arch)
		fprintf(f, "architecture = %s\n", arch);
	fprintf(f, "name = %s\n", name ? name : os);
	if (packages)
		fprintf(f, "[packages]\ninstall = %s\n", packages);
	fprintf(f, "[output]\nformats = %s\nboot_check = %s\n", format ? format : "disk", boot ? "yes" : "no");
	if (firmware)
		fprintf(f, "firmware = %s\n", firmware);
	fprintf(f, "[metadata]\nos_distro = %s\n", os);
	fclose(f);
	/* a newline inside a value would start a new key: refuse it */
	for (const char *v[] = { os, release, arch, packages, name, format, firmware }, **p = v; p < v + 7; p++)
		if (*p && strpbrk(*p, "\n\r")) {
			free(text);
			return NULL;
		}
	return text;
}

static int store(struct cli *cli, const struct rain_recipe *r, struct rain_build_result *res,
		 char **id)
{
	const struct rain_build_output *best = NULL;
	struct rain_build_image bi;
	struct cli_create_opts o;
	json_t *image = NULL, *v;
	const char *key;
	int ret;

	ret = rain_build_image_make(r, res->manifest, &bi);
	if (ret < 0)
		return cli_error("--store: %s", rain_error_last());
	for (size_t i = 0; i < res->noutputs; i++)
		if (!strcmp(res->outputs[i].format, bi.format))
			best = &res->outputs[i];
	if (!best) {
		rain_build_image_clear(&bi);
		return cli_error("--store: the build has no %s output", bi.format);
	}
	cli_create_opts_init(&o);
	json_object_foreach(bi.fields, key, v) {
		if (!strcmp(key, "name"))
			o.name = json_string_value(v);
		else if (!strcmp(key, "disk_format"))
			o.disk_format = json_string_value(v);
		else if (!strcmp(key, "container_format"))
			o.container_format = json_string_value(v);
		else
			json_object_set(o.props, key, v);
	}
	ret = cli_image_create(cli, &o, &image);
	if (ret == 0)
		ret = cli_image_upload_file(cli, cli_json_str(image, "id"), best->path, false);
	if (ret == 0) {
		cli_note(cli, "stored as image %s", cli_json_str(image, "id"));
		*id = strdup(cli_json_str(image, "id"));
	}
	json_decref(image);
	cli_create_opts_free(&o);
	rain_build_image_clear(&bi);
	return ret;
}

/* The output folder exists: with force, remove it when it is one a
 * build left (it holds build.log); else say what to do. Exit status. */
static int replace_output(const char *output, bool force)
{
	_cleanup_free_ char *log = fs_path_join(output, "build.log");
	struct stat st;

	if (!log)
		return cli_error("out of memory");
	if (!force)
		return cli_error("%s exists already; give --force to replace what an earlier build "
				 "left there, remove it, or give another --output", output);
	if (lstat(output, &st) < 0 || !S_ISDIR(st.st_mode) || lstat(log, &st) < 0 ||
	    !S_ISREG(st.st_mode))
		return cli_error("%s is not a folder a build left (it has no build.log); --force "
				 "replaces only those: remove it yourself or give another --output", output);
	if (fs_remove_tree(output) < 0)
		return cli_error("--force: cannot remove %s: %s", output, rain_error_last());
	return 0;
}

/* Before a build that will be stored: the server answers and takes the
 * token (a list of one image). Reports errors; exit status. */
static int store_check(struct cli *cli)
{
	struct rain_client *c;
	json_t *one = NULL;
	int r = cli_client(cli, &c);

	if (r)
		return r;
	r = rain_client_image_list(c, "?limit=1", false, &one);
	json_decref(one);
	if (r < 0)
		return cli_fail(cli, r, NULL, "--store: nothing was built: the repository cannot "
				"take the image");
	return 0;
}

/* The store failed after a good build: say what is kept and how to
 * store it later. */
static void store_failed(const struct rain_recipe *r, const struct rain_build_result *res,
			 const char *output)
{
	const struct rain_build_output *best = NULL;

	for (size_t i = 0; i < res->noutputs; i++)
		if (!strcmp(res->outputs[i].format, "qcow2") ||
		    (!best && !strcmp(res->outputs[i].format, "disk")))
			best = &res->outputs[i];
	fprintf(stderr, "rain: the build's outputs are kept in %s (manifest.json lists them)\n",
		output);
	if (best)
		fprintf(stderr, "rain: store the image later with: rain image put %s --name %s "
			"--disk-format %s (without the recipe and package list), or run this "
			"rain generate --store --force again\n", best->path, r->name ? r->name : "image",
			strcmp(best->format, "qcow2") ? "raw" : "qcow2");
}

/* Remove a variable, wiping its value first: /proc/PID/environ shows the
 * environment's original bytes, in this process and in those it forks. */
static void forget_env(const char *name)
{
	char *v = getenv(name);

	if (v)
		explicit_bzero(v, strlen(v));
	unsetenv(name);
}

static int cmd_generate_exec(struct cli *cli, const struct cli_args *a)
{
	const char *output = NULL, *cache = "/var/cache/rain", *os = NULL, *release = NULL;
	const char *arch = NULL, *packages = NULL, *name = NULL, *format = NULL, *firmware = NULL;
	bool boot = false, do_store = false, remote = false, force = false;
	int64_t timeout = 3600;
	struct rain_recipe *recipe = NULL;
	struct rain_build_result *res = NULL;
	struct rain_build_options bo = { 0 };
	struct rain_build_limits limits = { 0 };
	struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term;
	_cleanup_free_ char *text = NULL, *defout = NULL, *inputs_dir = NULL, *stored = NULL;
	const char *from_image = NULL;
	struct cli_base_image base = { .cli = NULL };
	struct cli_build_view view;
	bool verbose = false;
	int argc = a->argc, r;

	for (size_t i = 0; i < a->nopts; i++) {
		const char *val = a->opts[i].value;

		switch (a->opts[i].opt->key) {
		case 'o': output = val; break;
		case OPT_CACHE: cache = val; break;
		case OPT_BOOT: boot = true; break;
		case OPT_STORE: do_store = true; break;
		case OPT_FORCE: force = true; break;
		case OPT_TIMEOUT:
			if ((r = cli_parse_count(&cmd_generate_entry, "--timeout", val, &timeout)) != 0)
				return r;
			break;
		case OPT_OS: os = val; break;
		case OPT_RELEASE: release = val; break;
		case OPT_ARCH: arch = val; break;
		case OPT_PACKAGES: packages = val; break;
		case OPT_NAME: name = val; break;
		case OPT_FORMAT: format = val; break;
		case OPT_FIRMWARE: firmware = val; break;
		case OPT_FROM_IMAGE: from_image = val; break;
		case OPT_VERBOSE: verbose = true; break;
		case OPT_REMOTE: remote = true; break;
		case OPT_LIMIT: {
			char *eq = strchr(val, '=');
			_cleanup_free_ char *key = eq ? strndup(val, (size_t)(eq - val)) : NULL;

			if (!key || rain_build_limits_set(&limits, key, eq + 1) < 0)
				return cli_usage_error(&cmd_generate_entry, "--limit %s: %s", val,
						       key ? rain_error_last() : "give KEY=VALUE");
			break;
		}
		}
	}
	if (from_image && !os && argc == 0 && !release && !arch && !packages && !format &&
	    !firmware) {
		r = cli_generate_from_image(cli, from_image, &recipe, &inputs_dir);
		if (r)
			return r;
		if (name && str_set(&recipe->name, name) < 0)
			r = rain_error_oom();
	} else if (from_image) {
		return cli_usage_error(&cmd_generate_entry, "--from-image takes no recipe and no --os options");
	} else if (os && argc == 0) {
		text = shortcut_recipe(os, release, arch, packages, name, format, firmware, boot);
		if (!text)
			return cli_usage_error(&cmd_generate_entry, "option values cannot hold line breaks");
		r = rain_recipe_parse(text, "command line", ".", &recipe);
	} else if (!os && argc == 1 && !release && !arch && !packages && !format &&
	    !firmware) {
		r = rain_recipe_parse_file(a->argv[0], &recipe);
		if (r == 0 && name) {
			free(recipe->name);
			recipe->name = strdup(name);
		}
	} else {
		return cli_usage_error(&cmd_generate_entry, "give a recipe file, or --os with its options");
	}
	if (r < 0) {
		r = cli_error("%s; fix the recipe (see rain-recipe(5))", rain_error_last());
		goto done;
	}
	if (remote) {
		r = cli_generate_remote(cli, recipe, output, do_store, boot, verbose);
		goto done;
	}
	if (!output) {
		if (asprintf(&defout, "./%s", recipe->name ? recipe->name : "image") < 0) {
			r = cli_error("out of memory");
			goto done;
		}
		output = defout;
	}
	/* a build that will be stored: the server and the token first, not
	 * after the build (and before --force removes anything) */
	if (do_store && (r = store_check(cli)) != CLI_EXIT_OK)
		goto done;
	if (access(output, F_OK) == 0) {
		r = replace_output(output, force);
		if (r)
			goto done;
	}
	if (recipe->base) {
		if ((r = cli_generate_base_image(cli, recipe, &base)) != CLI_EXIT_OK)
			goto done;
		bo.base_image = &base.bi;
	}
	/* the token stays in this process: the build's programs (package
	 * scripts, host tools, qemu) never inherit it */
	if (do_store && (r = cli_config_load(cli)) != CLI_EXIT_OK)
		goto done;
	forget_env("RAIN_TOKEN");
	forget_env("OS_AUTH_TOKEN");
	bo.output_dir = output;
	bo.cache_dir = cache;
	bo.timeout_s = (int)timeout;
	bo.cancel = &interrupted;
	bo.boot_check = boot;
	bo.limits = &limits;
	cli_build_view_init(&view, cli, verbose);
	bo.log = cli_build_view_line;
	bo.ud = &view;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	r = rain_build_run(recipe, &bo, &res);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (r < 0) {
		r = cli_error("%s", rain_error_last());
		goto done;
	}
	if (do_store) {
		/* one JSON document in the end: the manifest with the image */
		bool json = cli->json;

		cli->json = false;
		r = store(cli, recipe, res, &stored);
		cli->json = json;
		if (r != CLI_EXIT_OK) {
			store_failed(recipe, res, output);
			goto done;
		}
		json_object_set_new(res->manifest, "stored_image", json_string(stored));
	}
	if (cli->json) {
		cli_json_print(res->manifest);
	} else if (!cli->quiet) {
		for (size_t i = 0; i < res->noutputs; i++) {
			char size[32];

			cli_format_size(res->outputs[i].size, size, sizeof(size));
			printf("%-10s %s (%s)\n", res->outputs[i].format, res->outputs[i].path, size);
		}
		printf("%-10s %s\n", "manifest", res->manifest_path);
	}
	r = CLI_EXIT_OK;
done:
	rain_build_result_free(res);
	rain_recipe_free(recipe);
	cli_base_image_clear(&base);
	if (inputs_dir)
		fs_remove_tree(inputs_dir);
	return r;
}
