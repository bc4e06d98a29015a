/* rain site list|show, rain register IMAGE --site S, rain register
 * list|show, rain deregister REG: registering images at raind's sites
 * (rain-register(1)); raind does the work as jobs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "rain/error.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/strutil.h"

static int site_list_exec(struct cli *cli, const struct cli_args *a);
static int site_show_exec(struct cli *cli, const struct cli_args *a);
static int register_exec(struct cli *cli, const struct cli_args *a);
static int register_list_exec(struct cli *cli, const struct cli_args *a);
static int register_show_exec(struct cli *cli, const struct cli_args *a);
static int deregister_exec(struct cli *cli, const struct cli_args *a);
static int register_cancel_exec(struct cli *cli, const struct cli_args *a);

static const struct cli_cmd site_list_entry = {
	.name = "list", .alias = "ls", .usage = "",
	.summary = "the sites raind registers images at, and whether you may",
	.opts = cli_output_opts, .args = { 0, 0, NULL }, .exec = site_list_exec, .prefix = "rain site",
};
static const struct cli_cmd site_show_entry = {
	.name = "show", .usage = "NAME",
	.summary = "one site: kind, vetting policy, kernels, who may register (admins: settings)",
	.opts = cli_output_opts, .args = { 1, 1, "give one site name" }, .exec = site_show_exec,
	.prefix = "rain site",
};
static const struct cli_cmd *const site_cmds[] = { &site_list_entry, &site_show_entry, NULL };

const struct cli_cmd cmd_site_entry = {
	.name = "site", .usage = "list | show NAME",
	.summary = "sites images are registered at (clouds, hosts, bare metal)",
	.help = "Sites are [site.NAME] sections of raind's configuration\n"
		"(rain-site(5)).\n",
	.table = site_cmds,
	.prefix = "rain",
};

static const struct cli_opt register_opts[] = {
	CLI_OPT("site", 0, "NAME", 0, "the site (rain site list)"),
	CLI_OPT("ssh-key", 0, "FILE", 0, "a public key the image's contextualization installs\n"
		"for root (e.g. ~/.ssh/id_ed25519.pub)"),
	CLI_OPT("override", 0, NULL, 0, "register although the image has not passed the\n"
		"site's vetting policy (admins; audited)"),
	CLI_OPT("no-wait", 0, NULL, 0, "return once raind has the registration"),
	{ 0 },
};

static const struct cli_opt register_list_opts[] = {
	CLI_OPT("site", 0, "NAME", 0, "only at this site"),
	CLI_OPT("image", 0, "ID|NAME", 0, "only of this image"),
	CLI_OPT("status", 0, "S", 0, "only registering, registered, failed, canceled,\n"
		"removing or removed ones"),
	CLI_OUTPUT_OPTS,
	{ 0 },
};

static const struct cli_cmd register_list_entry = {
	.name = "list", .alias = "ls", .usage = "[--site NAME] [--image ID|NAME] [--status S]",
	.summary = "your registrations (admins: everyone's), newest first",
	.opts = register_list_opts, .args = { 0, 0, NULL }, .exec = register_list_exec,
	.prefix = "rain register",
};
static const struct cli_cmd register_show_entry = {
	.name = "show", .usage = "REG",
	.summary = "one registration: where, what was made there, vetting, status",
	.opts = cli_output_opts, .args = { 1, 1, "give one registration id" }, .exec = register_show_exec,
	.prefix = "rain register",
};
static const struct cli_cmd register_cancel_entry = {
	.name = "cancel", .usage = "REG",
	.summary = "stop a registration under way (what it made at the site is removed)",
	.args = { 1, 1, "give one registration id" }, .exec = register_cancel_exec,
	.prefix = "rain register",
};
static const struct cli_cmd *const register_cmds[] = { &register_list_entry, &register_show_entry,
						       &register_cancel_entry, NULL };

const struct cli_cmd cmd_register_entry = {
	.name = "register", .usage = "IMAGE --site NAME [--ssh-key FILE] | list | show REG",
	.summary = "adapt a stored image for a site and register it there",
	.help = "raind adapts a copy of the image for the site (contextualization,\n"
		"per-instance state removed, serial console) and creates it there;\n"
		"the site's vetting policy must have passed the image. The log is\n"
		"followed until the registration ends; Ctrl-C stops following (the\n"
		"registration goes on; rain register cancel REG stops it). Registering\n"
		"the same image data at the same site again returns the earlier\n"
		"registration. See rain-register(1).\n",
	.opts = register_opts,
	.args = { 1, 1, "give one image (ID or NAME)" },
	.target = CLI_TARGET_IMAGE,
	.exec = register_exec,
	.table = register_cmds,
	.prefix = "rain",
};

const struct cli_cmd cmd_deregister_entry = {
	.name = "deregister", .usage = "REG",
	.summary = "remove what a registration made at its site",
	.args = { 1, 1, "give one registration id" },
	.exec = deregister_exec,
	.prefix = "rain",
};

/* ---- sites -------------------------------------------------------------- */

static char *words(json_t *arr)
{
	_cleanup_free_ char *out = NULL;
	json_t *v;
	size_t i;

	if (!json_is_array(arr))
		return strdup("any");
	json_array_foreach(arr, i, v) {
		char *more = NULL;

		if (asprintf(&more, "%s%s%s", out ? out : "", out ? " " : "",
			     json_string_value(v) ? json_string_value(v) : "?") < 0)
			return NULL;
		free(out);
		out = more;
	}
	return out ? TAKE_PTR(out) : strdup("none");
}

static int site_list_exec(struct cli *cli, const struct cli_args *a)
{
	static const char *const headers[] = { "Name", "Kind", "Policy", "Kernels", "You may" };
	struct rain_client *c;
	json_t *sites = NULL, *s;
	struct cli_table *t;
	size_t i;
	int r;

	(void)a;
	if ((r = cli_client(cli, &c)))
		return r;
	r = rain_client_sites(c, &sites);
	if (r < 0)
		return cli_fail(cli, r, NULL, "cannot list the sites");
	if (cli->json) {
		cli_json_print(sites);
		json_decref(sites);
		return CLI_EXIT_OK;
	}
	t = cli_table_new(5, headers);
	json_array_foreach(sites, i, s) {
		_cleanup_free_ char *kernels = words(json_object_get(s, "kernels"));

		cli_table_add(t, (const char *const[]){ cli_json_str(s, "name"), cli_json_str(s, "kind"),
			      cli_json_str(s, "policy") ? cli_json_str(s, "policy") : "none", kernels,
			      json_is_true(json_object_get(s, "may_register")) ? "register" : "no" });
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
	json_decref(sites);
	return CLI_EXIT_OK;
}

static void print_fields(json_t *obj, const char *const *skip)
{
	static const char *const headers[] = { "Field", "Value" };
	struct cli_table *t = cli_table_new(2, headers);
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		_cleanup_free_ char *text = NULL;

		if (skip && str_in_list(skip, key))
			continue;
		text = json_is_string(v) ? strdup(json_string_value(v)) :
		       json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
		cli_table_add(t, (const char *const[]){ key, text });
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
}

static int site_show_exec(struct cli *cli, const struct cli_args *a)
{
	struct rain_client *c;
	json_t *site = NULL;
	int r;

	if ((r = cli_client(cli, &c)))
		return r;
	r = rain_client_site_get(c, a->argv[0], &site);
	if (r < 0)
		return cli_fail(cli, r, r == RAIN_ENOTFOUND ? "see rain site list" : NULL,
				"cannot show site %s", a->argv[0]);
	if (cli->json)
		cli_json_print(site);
	else
		print_fields(site, NULL);
	json_decref(site);
	return CLI_EXIT_OK;
}

/* ---- registrations ------------------------------------------------------ */

static void print_registration(struct cli *cli, json_t *reg)
{
	static const char *const skip[] = { "show", "vetting", "adapted", NULL };
	json_t *show = json_object_get(reg, "show"), *vet = json_object_get(reg, "vetting");
	const char *key;
	json_t *v;

	if (cli->json) {
		cli_json_print(reg);
		return;
	}
	print_fields(reg, skip);
	if (json_is_object(vet) && json_object_get(vet, "policy"))
		printf("vetting: policy %s, verdict %s%s\n", cli_json_str(vet, "policy"),
		       cli_json_str(vet, "verdict") ? cli_json_str(vet, "verdict") : "none",
		       json_is_true(json_object_get(vet, "override")) ? " (overridden by an admin)" :
		       "");
	json_object_foreach(show, key, v) {
		_cleanup_free_ char *text = json_is_string(v) ? strdup(json_string_value(v)) :
					    json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		_cleanup_free_ char *safe = text ? cli_sanitize(text) : NULL;

		printf("at the site: %s = %s\n", key, safe ? safe : "?");
	}
}

int cli_register(struct cli *cli, const char *id, const char *label, const char *site,
		 const char *key, bool override, bool wait, json_t **reg)
{
	struct rain_client *c;
	const char *status;
	char reg_id[37];
	int r;

	*reg = NULL;
	if ((r = cli_client(cli, &c)))
		return r;
	r = rain_client_register(c, id, site, key, override, reg);
	if (r < 0)
		return cli_fail(cli, r, r == RAIN_ENOTFOUND ? "see rain site list and rain image list" :
				NULL, "cannot register %s at %s", label, site);
	snprintf(reg_id, sizeof(reg_id), "%s", cli_json_str(*reg, "id") ? cli_json_str(*reg, "id") : "");
	status = cli_json_str(*reg, "status");
	if (status && strcmp(status, "registering")) {
		cli_note(cli, "%s is registered at %s already (registration %s)", label, site, reg_id);
	} else if (wait) {
		json_t *job = NULL;

		cli_note(cli, "registering %s at %s as %s", label, site, reg_id);
		json_decref(*reg);
		*reg = NULL;
		cli_catch_signals(true);
		r = cli_job_follow(cli, "registration", reg_id, cli->quiet || cli->json ? NULL : stderr,
				   false, &job);
		cli_catch_signals(false);
		json_decref(job);
		if (r == CLI_EXIT_FAIL && cli_interrupted)
			return cli_error("stopped following registration %s; it goes on in the server "
					 "(rain register show %s; rain register cancel %s stops it)", reg_id,
					 reg_id, reg_id);
		if (r)
			return r;
		r = rain_client_registration_get(c, reg_id, reg);
		if (r < 0)
			return cli_fail(cli, r, NULL, "cannot get registration %s", reg_id);
	}
	return CLI_EXIT_OK;
}

static int register_exec(struct cli *cli, const struct cli_args *a)
{
	_cleanup_free_ char *key = NULL;
	json_t *reg = NULL;
	const char *site = cli_arg(a, "site"), *path, *status;
	char id[37];
	int r, ret = CLI_EXIT_FAIL;

	if (!site || !*site)
		return cli_usage_error(a->cmd, "--site is required (rain site list shows them)");
	if ((path = cli_arg(a, "ssh-key"))) {
		size_t len;

		if (fs_read_small(path, 16384, &key, &len) < 0)
			return cli_fail(cli, RAIN_EIO, "give a public key file (~/.ssh/id_ed25519.pub)",
					"cannot read --ssh-key %s", path);
		key[strcspn(key, "\r\n")] = '\0';
	}
	if ((r = cli_target(cli, a, 0, id)))
		return r;
	r = cli_register(cli, id, a->argv[0], site, key, cli_flag(a, "override"),
			 !cli_flag(a, "no-wait"), &reg);
	if (r)
		return r;
	print_registration(cli, reg);
	status = cli_json_str(reg, "status");
	if (!status || (strcmp(status, "registered") && strcmp(status, "registering")))
		cli_error("registration %s %s: %s", cli_json_str(reg, "id"), status ? status : "?",
			  cli_json_str(reg, "error") ? cli_json_str(reg, "error") : "no reason given");
	else
		ret = CLI_EXIT_OK;
	json_decref(reg);
	return ret;
}

static int register_list_exec(struct cli *cli, const struct cli_args *a)
{
	static const char *const headers[] = { "ID", "Image", "Site", "Status", "Updated" };
	const char *image = cli_arg(a, "image");
	struct rain_client *c;
	json_t *regs = NULL, *reg;
	struct cli_table *t;
	char id[37];
	size_t i;
	int r;

	if ((r = cli_client(cli, &c)))
		return r;
	if (image && (r = cli_image_resolve(cli, image, id)))
		return r;
	r = rain_client_registration_list(c, cli_arg(a, "site"), image ? id : NULL,
					  cli_arg(a, "status"), &regs);
	if (r < 0)
		return cli_fail(cli, r, NULL, "cannot list registrations");
	if (cli->json) {
		cli_json_print(regs);
		json_decref(regs);
		return CLI_EXIT_OK;
	}
	t = cli_table_new(5, headers);
	json_array_foreach(regs, i, reg) {
		const char *name = cli_json_str(reg, "image_name");

		cli_table_add(t, (const char *const[]){ cli_json_str(reg, "id"),
			      name ? name : cli_json_str(reg, "image_id"), cli_json_str(reg, "site"),
			      cli_json_str(reg, "status"), cli_json_str(reg, "updated_at") });
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
	json_decref(regs);
	return CLI_EXIT_OK;
}

static int register_show_exec(struct cli *cli, const struct cli_args *a)
{
	struct rain_client *c;
	json_t *reg = NULL;
	int r;

	if ((r = cli_client(cli, &c)))
		return r;
	r = rain_client_registration_get(c, a->argv[0], &reg);
	if (r < 0)
		return cli_fail(cli, r, r == RAIN_ENOTFOUND ? "see rain register list" : NULL,
				"cannot show registration %s", a->argv[0]);
	print_registration(cli, reg);
	json_decref(reg);
	return CLI_EXIT_OK;
}

static int deregister_exec(struct cli *cli, const struct cli_args *a)
{
	struct rain_client *c;
	json_t *reg = NULL;
	int r;

	if ((r = cli_client(cli, &c)))
		return r;
	cli_note(cli, "removing what registration %s made at its site", a->argv[0]);
	r = rain_client_deregister(c, a->argv[0], &reg);
	if (r < 0)
		return cli_fail(cli, r, r == RAIN_ENOTFOUND ? "see rain register list" :
				"run it again once the site is reachable",
				"cannot deregister %s", a->argv[0]);
	if (cli->json)
		cli_json_print(reg);
	else
		cli_note(cli, "registration %s: %s", a->argv[0], cli_json_str(reg, "status"));
	json_decref(reg);
	return CLI_EXIT_OK;
}

static int register_cancel_exec(struct cli *cli, const struct cli_args *a)
{
	struct rain_client *c;
	json_t *reg = NULL;
	int r;

	if ((r = cli_client(cli, &c)))
		return r;
	r = rain_client_job_cancel(c, a->argv[0], NULL);
	if (r == 0)
		r = rain_client_registration_get(c, a->argv[0], &reg);
	if (r < 0)
		return cli_fail(cli, r, r == RAIN_ENOTFOUND ? "see rain register list" : NULL,
				"cannot cancel registration %s", a->argv[0]);
	print_registration(cli, reg);
	json_decref(reg);
	return CLI_EXIT_OK;
}
