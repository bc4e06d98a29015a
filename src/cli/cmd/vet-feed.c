/* rain vet feed build|import|show|export|match: vulnerability feeds
 * (rain/vet-feed.h), made and read locally; nothing here talks to raind
 * (push and server, in vet-feed-push.c, do). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "rain/error.h"
#include "rain/pkg.h"
#include "rain/vet-feed.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/timeutil.h"

static int cmd_vet_feed_build_exec(struct cli *cli, const struct cli_args *a);
static int cmd_vet_feed_import_exec(struct cli *cli, const struct cli_args *a);
static int cmd_vet_feed_show_exec(struct cli *cli, const struct cli_args *a);
static int cmd_vet_feed_export_exec(struct cli *cli, const struct cli_args *a);
static int cmd_vet_feed_match_exec(struct cli *cli, const struct cli_args *a);

#define PREFIX "rain vet feed"

static const struct cli_opt build_opts[] = {
	CLI_OPT("mirror", 0, "URL", 0, "the Debian mirror (http, https or file URL), e.g.\n"
		"http://deb.debian.org/debian-security"),
	CLI_OPT("suite", 0, "SUITE", 0, "the suite to read, e.g. bookworm-security"),
	CLI_OPT("component", 0, "NAME", 0, "the component (default main)"),
	CLI_OPT("source", 0, "PKG", 0, "read only this source package (repeatable)"),
	CLI_OPT("release", 0, "NAME", 0, "the release the feed is for (default: the\n"
		"suite up to its first '-')"),
	CLI_OPT("keyring", 0, "FILE", 0, "check InRelease's signature with gpgv against\n"
		"this keyring, e.g. /usr/share/keyrings/\n"
		"debian-archive-keyring.gpg (default: the\n"
		"unsigned Release is trusted)"),
	CLI_OPT("output", 'o', "FILE", 0, "where to write the feed"),
	{ 0 },
};

static const struct cli_opt import_opts[] = {
	CLI_OPT("format", 0, "FORMAT", 0, "tracker (the Security Tracker's JSON) or osv"),
	CLI_OPT("release", 0, "NAME", 0, "the release to keep: bookworm, or an OSV\n"
		"ecosystem such as Debian:12 or AlmaLinux:9"),
	CLI_OPT("output", 'o', "FILE", 0, "where to write the feed"),
	{ 0 },
};

static const struct cli_opt export_opts[] = {
	CLI_OPT("format", 0, "FORMAT", 0, "debsecan (the only one)"),
	CLI_OPT("output", 'o', "DIR", 0, "the folder to write into (debsecan reads\n"
		"DIR/RELEASE from --source file://DIR)"),
	{ 0 },
};

static const struct cli_opt match_opts[] = {
	CLI_OPT("status", 0, "FILE", 0, "a dpkg status file (default /var/lib/dpkg/status)"),
	CLI_OPT("rpmdb", 0, "FILE", 0, "an rpm database (rpmdb.sqlite) instead"),
	{ 0 },
};

static const struct cli_cmd cmd_vet_feed_build_entry = {
	.name = "build",
	.usage = "--mirror URL --suite SUITE [--source PKG]... [--keyring FILE] -o FILE",
	.summary = "derive a feed from a Debian mirror's changelogs",
	.help = "Reads the suite's Sources index, then each source package's\n"
		"debian/changelog: each CVE an entry names is fixed by that entry's\n"
		"version. Downloads are checked against the index's SHA256.\n",
	.opts = build_opts,
	.args = { 0, 0, "build takes no arguments: name the mirror with --mirror" },
	.exec = cmd_vet_feed_build_exec,
	.prefix = PREFIX,
};

static const struct cli_cmd cmd_vet_feed_import_entry = {
	.name = "import",
	.usage = "--format tracker|osv --release NAME FILE|URL -o FILE",
	.summary = "convert a Security Tracker JSON or OSV records into a feed",
	.help = "OSV input is one JSON record or array of them, a folder of .json\n"
		"files, or a zip (osv.dev's ECOSYSTEM/all.zip).\n",
	.opts = import_opts,
	.args = { 1, 1, "give one file or URL to import" },
	.exec = cmd_vet_feed_import_exec,
	.prefix = PREFIX,
};

static const struct cli_cmd cmd_vet_feed_show_entry = {
	.name = "show",
	.usage = "FILE",
	.summary = "show a feed's release, origin, date and counts",
	.args = { 1, 1, "give one feed file" },
	.exec = cmd_vet_feed_show_exec,
	.prefix = PREFIX,
};

static const struct cli_cmd cmd_vet_feed_export_entry = {
	.name = "export",
	.usage = "--format debsecan FILE -o DIR",
	.summary = "write a feed in another tool's format",
	.opts = export_opts,
	.args = { 1, 1, "give one feed file" },
	.exec = cmd_vet_feed_export_exec,
	.prefix = PREFIX,
};

static const struct cli_cmd cmd_vet_feed_match_entry = {
	.name = "match",
	.usage = "FILE [--status STATUS | --rpmdb RPMDB]",
	.summary = "list the vulnerabilities of a dpkg status file's or rpm database's packages",
	.opts = match_opts,
	.args = { 1, 1, "give one feed file" },
	.exec = cmd_vet_feed_match_exec,
	.prefix = PREFIX,
};

static const struct cli_cmd *const vet_feed_cmds[] = {
	&cmd_vet_feed_build_entry,
	&cmd_vet_feed_import_entry,
	&cmd_vet_feed_show_entry,
	&cmd_vet_feed_export_entry,
	&cmd_vet_feed_match_entry,
	&cmd_vet_feed_push_entry,
	&cmd_vet_feed_server_entry,
	NULL,
};

const struct cli_cmd cmd_vet_feed_entry = {
	.name = "feed",
	.usage = "COMMAND [ARGS...]",
	.summary = "vulnerability feeds: build, import, show, export, match",
	.help = "A feed lists, for one release, the vulnerabilities of its source\n"
		"packages and the versions that fix them; rain vet matches an image's\n"
		"packages against it. See rain-vet-feed(1).\n",
	.table = vet_feed_cmds,
	.prefix = "rain vet",
};

static int need(const struct cli_args *a, const char *opt, const char **out)
{
	*out = cli_arg(a, opt);
	if (!*out || !**out)
		return cli_usage_error(a->cmd, "--%s is required", opt);
	return 0;
}

static int save(struct cli *cli, struct rain_vet_feed *f, const char *out)
{
	struct rain_vet_feed_counts c;
	int r = rain_vet_feed_save(f, out);

	if (r < 0)
		return cli_fail(cli, r, "", "cannot write the feed");
	rain_vet_feed_count(f, &c);
	cli_note(cli, "%s: %zu advisories (%zu ids) for %zu packages of %s", out, c.advisories,
		 c.ids, c.packages, rain_vet_feed_release(f));
	return CLI_EXIT_OK;
}

static void build_progress(void *ud, size_t done, size_t total, const char *package)
{
	cli_note(ud, "[%zu/%zu] %s", done, total, package);
}

static void build_skipped(void *ud, const char *package, const char *why)
{
	(void)ud;
	cli_warn("%s skipped: %s", package, why);
}

static int cmd_vet_feed_build_exec(struct cli *cli, const struct cli_args *a)
{
	struct rain_vet_mirror_options o = {
		.component = cli_arg(a, "component"),
		.release = cli_arg(a, "release"),
		.keyring = cli_arg(a, "keyring"),
		.progress = build_progress,
		.skipped = build_skipped,
		.progress_ud = cli,
		.cancel = (volatile int *)&cli_interrupted,
	};
	_cleanup_free_ const char **sources = NULL;
	struct rain_vet_feed *f;
	const char *out;
	size_t n = 0;
	int r;

	if ((r = need(a, "mirror", &o.mirror)) || (r = need(a, "suite", &o.suite)) ||
	    (r = need(a, "output", &out)))
		return r;
	sources = calloc(a->nopts + 1, sizeof(*sources));
	if (!sources)
		return cli_error("out of memory");
	for (size_t i = 0; i < a->nopts; i++)
		if (!strcmp(a->opts[i].opt->name, "source"))
			sources[n++] = a->opts[i].value;
	if (n)
		o.sources = sources;
	cli_catch_signals(true);
	r = rain_vet_feed_build_mirror(&f, &o);
	cli_catch_signals(false);
	if (r < 0)
		return cli_fail(cli, r, r == RAIN_ENET ? "check the mirror URL and the network" :
				r == RAIN_ENOTFOUND ? "check the mirror, the suite and the packages named" :
				r == RAIN_EFORMAT ? "the mirror's files do not match what vouches for them; check the mirror (and --keyring)" : "",
				"cannot build a feed from %s %s", o.mirror, o.suite);
	r = save(cli, f, out);
	rain_vet_feed_free(f);
	return r;
}

static int cmd_vet_feed_import_exec(struct cli *cli, const struct cli_args *a)
{
	struct rain_vet_feed *f;
	const char *format, *release, *out;
	int r;

	if ((r = need(a, "format", &format)) || (r = need(a, "release", &release)) ||
	    (r = need(a, "output", &out)))
		return r;
	if (!strcmp(format, "tracker") || !strcmp(format, "tracker-json"))
		r = rain_vet_feed_import_tracker(&f, a->argv[0], release);
	else if (!strcmp(format, "osv"))
		r = rain_vet_feed_import_osv(&f, a->argv[0], release);
	else
		return cli_usage_error(a->cmd, "--format %s: say tracker or osv", format);
	if (r < 0)
		return cli_fail(cli, r, r == RAIN_EFORMAT ? "check that the input is what --format says" : "",
				"cannot import %s", a->argv[0]);
	r = save(cli, f, out);
	rain_vet_feed_free(f);
	return r;
}

static int load(struct cli *cli, const char *path, struct rain_vet_feed **f)
{
	int r = rain_vet_feed_load(f, path);

	if (r < 0)
		return cli_fail(cli, r, r == RAIN_EFORMAT ?
				"make a feed with 'rain vet feed build' or 'rain vet feed import'" : "",
				"cannot load the feed %s", path);
	return 0;
}

static int cmd_vet_feed_show_exec(struct cli *cli, const struct cli_args *a)
{
	struct rain_vet_feed *f;
	struct rain_vet_feed_counts c;
	_cleanup_json_ json_t *j = NULL;
	char date[32];
	int r;

	r = load(cli, a->argv[0], &f);
	if (r)
		return r;
	rain_vet_feed_count(f, &c);
	time_format_iso(rain_vet_feed_date(f) * 1000000, date, sizeof(date));
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}",
		      "release", rain_vet_feed_release(f),
		      "family", rain_vet_feed_family(f) == RAIN_PKG_DEB ? "deb" : "rpm",
		      "kind", rain_vet_feed_kind_name(rain_vet_feed_kind(f)),
		      "origin", rain_vet_feed_origin(f), "date", date,
		      "advisories", (json_int_t)c.advisories, "packages", (json_int_t)c.packages,
		      "ids", (json_int_t)c.ids, "unfixed", (json_int_t)c.unfixed);
	rain_vet_feed_free(f);
	if (!j)
		return cli_error("out of memory");
	if (cli->json) {
		cli_json_print(j);
		return CLI_EXIT_OK;
	}
	printf("Release:    %s (%s packages)\n", cli_json_str(j, "release"), cli_json_str(j, "family"));
	printf("Kind:       %s\n", cli_json_str(j, "kind"));
	printf("Origin:     %s\n", cli_json_str(j, "origin"));
	printf("Date:       %s\n", cli_json_str(j, "date"));
	printf("Advisories: %zu (%zu without a fix)\n", c.advisories, c.unfixed);
	printf("Ids:        %zu\n", c.ids);
	printf("Packages:   %zu\n", c.packages);
	return CLI_EXIT_OK;
}

static int cmd_vet_feed_export_exec(struct cli *cli, const struct cli_args *a)
{
	struct rain_vet_feed *f;
	const char *format, *out;
	int r;

	if ((r = need(a, "format", &format)) || (r = need(a, "output", &out)))
		return r;
	if (strcmp(format, "debsecan"))
		return cli_usage_error(a->cmd, "--format %s: only debsecan is written", format);
	r = load(cli, a->argv[0], &f);
	if (r)
		return r;
	r = rain_vet_feed_export_debsecan(f, out);
	if (r < 0)
		r = cli_fail(cli, r, "", "cannot export %s", a->argv[0]);
	else
		cli_note(cli, "%s/%s: debsecan reads it with --source file://%s --suite %s", out,
			 rain_vet_feed_release(f), out, rain_vet_feed_release(f));
	rain_vet_feed_free(f);
	return r < 0 ? CLI_EXIT_FAIL : r;
}

static int cmd_vet_feed_match_exec(struct cli *cli, const struct cli_args *a)
{
	static const char *const headers[] = { "Id", "Package", "Installed", "Source", "Fixed", "Urgency" };
	const char *status = cli_arg(a, "status"), *rpmdb = cli_arg(a, "rpmdb");
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ struct rain_vet_finding *v = NULL;
	_cleanup_json_ json_t *list = NULL;
	struct rain_pkg_list l = { 0 };
	struct rain_vet_feed *f;
	size_t len, n;
	int r;

	if (!status)
		status = rpmdb ? rpmdb : "/var/lib/dpkg/status";
	else if (rpmdb)
		return cli_usage_error(a->cmd, "give --status or --rpmdb, not both");
	r = fs_read_small(status, 1U << 30, &text, &len);
	if (r < 0)
		return cli_fail(cli, r, "", "cannot read %s", status);
	r = rpmdb ? rain_pkg_parse_rpmdb(text, len, status, &l) :
		    rain_pkg_parse_dpkg_status(text, len, status, &l);
	if (r < 0)
		return cli_fail(cli, r, "", "cannot read the packages");
	r = load(cli, a->argv[0], &f);
	if (r) {
		rain_pkg_list_free(&l);
		return r;
	}
	r = rain_vet_feed_match(f, &l, &v, &n);
	if (r < 0) {
		r = cli_fail(cli, r, "", "cannot match");
		goto done;
	}
	list = json_array();
	for (size_t i = 0; list && i < n; i++) {
		const struct rain_pkg *p = v[i].pkg;
		const struct rain_vet_advisory *adv = v[i].adv;

		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s, s:s, s:s, s:s}",
			"id", adv->id, "package", p->name, "installed", p->version, "source", p->source,
			"source_version", p->source_version, "fixed", adv->fixed,
			"urgency", rain_vet_urgency_name(adv->urgency), "scope", rain_vet_scope_name(adv->scope),
			"aliases", adv->aliases, "description", adv->description));
	}
	if (!list) {
		r = cli_error("out of memory");
		goto done;
	}
	if (cli->json) {
		cli_json_print(list);
	} else {
		struct cli_table *t = cli_table_new(6, headers);

		for (size_t i = 0; i < n; i++) {
			const char *row[6] = {
				v[i].adv->id, v[i].pkg->name, v[i].pkg->version, v[i].pkg->source,
				v[i].adv->fixed ? v[i].adv->fixed : "not fixed yet",
				rain_vet_urgency_name(v[i].adv->urgency),
			};

			cli_table_add(t, row);
		}
		cli_table_print(t, stdout);
		cli_table_free(t);
	}
	r = CLI_EXIT_OK;
done:
	rain_vet_feed_free(f);
	rain_pkg_list_free(&l);
	return r;
}
