/* rain user add|delete|list|show|set: raind's users (admins; a user may
 * show their own account and set their own password; see rain-user(1)). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "rain/catalog.h"
#include "rain/error.h"
#include "util/strutil.h"

static int user_list_exec(struct cli *cli, const struct cli_args *a);
static int user_show_exec(struct cli *cli, const struct cli_args *a);
static int user_add_exec(struct cli *cli, const struct cli_args *a);
static int user_delete_exec(struct cli *cli, const struct cli_args *a);
static int user_unlock_exec(struct cli *cli, const struct cli_args *a);

enum { OPT_ROLE = 0x400, OPT_STATUS, OPT_QUOTA, OPT_IMAGE_QUOTA, OPT_PASSWORD_FILE };

/* add and set */
static const struct cli_opt user_opts[] = {
	CLI_OPT("role", 0, "ROLE", OPT_ROLE, "user or admin"),
	CLI_OPT("status", 0, "STATUS", OPT_STATUS, "pending, active or inactive (only active users\n"
		"log in; making a user inactive ends their\ntokens at once)"),
	CLI_OPT("quota", 0, "BYTES", OPT_QUOTA, "byte quota: a count or 512M, 8G, 1T (binary units)"),
	CLI_OPT("image-quota", 0, "N", OPT_IMAGE_QUOTA, "at most N images (0: no limit)"),
	CLI_OPT("password-file", 0, "FILE", OPT_PASSWORD_FILE, "the password, from the first line of FILE ('-':\n"
		"standard input)"),
	{ 0 },
};

static const struct cli_opt list_opts[] = {
	CLI_OPT("long", 0, NULL, 0, "more columns: locked until, created"),
	CLI_OUTPUT_OPTS,
	{ 0 },
};

static const struct cli_cmd user_list_entry = {
	.name = "list", .alias = "ls", .usage = "",
	.summary = "list users", .opts = list_opts, .exec = user_list_exec, .prefix = "rain user",
};
static const struct cli_cmd user_show_entry = {
	.name = "show", .usage = "NAME", .opts = cli_output_opts, .args = { 1, 1, "give one user name" },
	.summary = "show a user", .exec = user_show_exec, .prefix = "rain user",
};
static const struct cli_cmd user_add_entry = {
	.name = "add", .usage = "NAME --password-file FILE [OPTIONS]",
	.summary = "create a user (role user, active, 8 GiB quota by default)",
	.opts = user_opts, .args = { 1, 1, "give one user name" },
	.exec = user_add_exec, .prefix = "rain user",
};
static const struct cli_cmd user_set_entry = {
	.name = "set", .usage = "NAME [OPTIONS]",
	.summary = "change a user's role, status, quotas or password",
	.opts = user_opts, .args = { 1, 1, "give one user name" },
	.exec = user_add_exec, .prefix = "rain user",
};
static const struct cli_cmd user_delete_entry = {
	.name = "delete", .alias = "rm", .usage = "NAME...",
	.args = { 1, -1, "give at least one user name" },
	.summary = "delete users and their tokens (refused while they own images or builds)",
	.help =
		"A user who owns images or builds is not deleted: delete those first\n"
		"(rain image list --owner NAME, rain build list), or make the user\n"
		"inactive instead (rain user set NAME --status inactive).\n",
	.exec = user_delete_exec, .prefix = "rain user",
};
static const struct cli_cmd user_unlock_entry = {
	.name = "unlock", .usage = "NAME...", .args = { 1, -1, "give at least one user name" },
	.summary = "lift the lock-out of users after too many failed logins",
	.help =
		"After 5 failed logins within 15 minutes raind refuses a user name for\n"
		"15 minutes; 'rain user show NAME' shows until when. This lifts it at\n"
		"once and forgets the failures (admins).\n",
	.exec = user_unlock_exec, .prefix = "rain user",
};

static const struct cli_cmd *const user_cmds[] = {
	&user_list_entry, &user_show_entry, &user_add_entry, &user_set_entry,
	&user_delete_entry, &user_unlock_entry, NULL,
};

const struct cli_cmd cmd_user_entry = {
	.name = "user",
	.usage = "COMMAND [ARGS...]",
	.summary = "manage raind's users (admins), or change one's own password",
	.table = user_cmds,
	.prefix = "rain",
};

static void print_user(json_t *u)
{
	static const char *const headers[] = { "Field", "Value" };
	static const char *const fields[] = { "name", "role", "status", "bytes_used", "quota_bytes",
					      "images", "quota_images", "created_at", "last_login",
					      "locked_until", "failed_logins", NULL };
	struct cli_table *t = cli_table_new(2, headers);

	for (int i = 0; fields[i]; i++) {
		json_t *v = json_object_get(u, fields[i]);
		char num[32];
		const char *cell = json_string_value(v);

		if (!strcmp(fields[i], "locked_until") && !cell)
			cell = json_object_get(u, fields[i]) ? "not locked" : NULL;
		if (json_is_integer(v)) {
			snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
			cell = num;
		}
		cli_table_add(t, (const char *const[]){ fields[i], cell });
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
}

static int user_list_exec(struct cli *cli, const struct cli_args *a)
{
	static const char *const headers[] = {
		"Name", "Role", "Status", "Used", "Quota", "Images", "Image quota", "Last login",
		"Locked until", "Created",
	};
	struct rain_client *c;
	json_t *resp = NULL, *u;
	struct cli_table *t;
	size_t i;
	int r;

	r = cli_client(cli, &c);
	if (r)
		return r;
	r = rain_client_user_list(c, &resp);
	if (r < 0)
		return cli_fail(cli, r, r == RAIN_EFORBIDDEN ? "only admins list users; 'rain user "
				"show NAME' shows your own account, 'rain whoami' who you are" : NULL,
				"cannot list users");
	if (cli->json) {
		cli_json_print(resp);
		json_decref(resp);
		return CLI_EXIT_OK;
	}
	t = cli_table_new(cli_flag(a, "long") ? 10 : 8, headers);
	json_array_foreach(json_object_get(resp, "users"), i, u) {
		char used[32], quota[32], count[32], images[32];

		cli_format_size(cli_json_int(u, "bytes_used"), used, sizeof(used));
		cli_format_size(cli_json_int(u, "quota_bytes"), quota, sizeof(quota));
		snprintf(count, sizeof(count), "%lld", (long long)cli_json_int(u, "images"));
		snprintf(images, sizeof(images), "%lld", (long long)cli_json_int(u, "quota_images"));
		cli_table_add(t, (const char *const[]){
			cli_json_str(u, "name"), cli_json_str(u, "role"), cli_json_str(u, "status"),
			used, quota, count, cli_json_int(u, "quota_images") == 0 ? "none" : images,
			cli_json_str(u, "last_login"), cli_json_str(u, "locked_until"),
			cli_json_str(u, "created_at") });
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
	json_decref(resp);
	return CLI_EXIT_OK;
}

static int user_show_exec(struct cli *cli, const struct cli_args *a)
{
	struct rain_client *c;
	json_t *u = NULL;
	int r;

	r = cli_client(cli, &c);
	if (r)
		return r;
	r = rain_client_user_get(c, a->argv[0], &u);
	if (r < 0)
		return cli_fail(cli, r, r == RAIN_EFORBIDDEN ? "users see only their own account "
				"('rain whoami' says who you are); admins see every one" : NULL,
				"cannot show user %s", a->argv[0]);
	if (cli->json)
		cli_json_print(u);
	else
		print_user(u);
	json_decref(u);
	return CLI_EXIT_OK;
}

/* "8G", "512M", "100K", "1T" or a plain count of bytes. */
static int parse_bytes(const char *s, int64_t *out)
{
	char *end;
	long long n;
	int shift = 0;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || end == s || n < 0)
		return -1;
	if (*end) {
		const char *units = "KMGT", *u = strchr(units, *end & ~0x20);

		if (!u || !*u)
			return -1;
		shift = 10 * (int)(u - units + 1);
		end++;
		if (*end == 'i')
			end++;
		if (*end == 'B' || *end == 'b')
			end++;
		if (*end)
			return -1;
	}
	if (shift && n > (INT64_MAX >> shift))
		return -1;
	*out = (int64_t)n << shift;
	return 0;
}

static int read_password_file(const char *file, char **out)
{
	FILE *f = strcmp(file, "-") ? fopen(file, "re") : stdin;
	size_t cap = 0;
	ssize_t n;

	*out = NULL;
	if (!f)
		return cli_error("cannot read the password file %s: %s", file, strerror(errno));
	n = getline(out, &cap, f);
	if (f != stdin)
		fclose(f);
	while (n > 0 && ((*out)[n - 1] == '\n' || (*out)[n - 1] == '\r'))
		(*out)[--n] = '\0';
	if (n <= 0) {
		free(*out);
		*out = NULL;
		return cli_error("no password in %s", file);
	}
	return 0;
}

/* add and set */
static int user_add_exec(struct cli *cli, const struct cli_args *a)
{
	const struct cli_cmd *cmd = a->cmd;
	bool add = cmd == &user_add_entry;
	json_t *fields = json_object(), *u = NULL;
	const char *password_file = NULL, *user = a->argv[0];
	char name[RAIN_USER_NAME_MAX + 1];
	struct rain_client *c;
	int64_t n;
	int r, rc = CLI_EXIT_USAGE;

	for (size_t i = 0; i < a->nopts; i++) {
		const char *val = a->opts[i].value;

		switch (a->opts[i].opt->key) {
		case OPT_ROLE:
			if (strcmp(val, "user") && strcmp(val, "admin")) {
				cli_usage_error(cmd, "--role is user or admin");
				goto done;
			}
			json_object_set_new(fields, "role", json_string(val));
			break;
		case OPT_STATUS:
			if (strcmp(val, "pending") && strcmp(val, "active") &&
			    strcmp(val, "inactive")) {
				cli_usage_error(cmd, "--status is pending, active or inactive");
				goto done;
			}
			json_object_set_new(fields, "status", json_string(val));
			break;
		case OPT_QUOTA:
			if (parse_bytes(val, &n) < 0) {
				cli_usage_error(cmd, "--quota takes bytes, e.g. 1073741824 or 8G");
				goto done;
			}
			json_object_set_new(fields, "quota_bytes", json_integer(n));
			break;
		case OPT_IMAGE_QUOTA:
			if (cli_parse_count(cmd, "--image-quota", val, &n))
				goto done;
			json_object_set_new(fields, "quota_images", json_integer(n));
			break;
		case OPT_PASSWORD_FILE:
			password_file = val;
			break;
		}
	}
	if (add && !password_file) {
		cli_usage_error(cmd, "a new user needs --password-file FILE");
		goto done;
	}
	/* raind's rule, said before anything is sent (raind checks again) */
	if (add && rain_user_name_normalize(user, name, sizeof(name)) < 0) {
		cli_usage_error(cmd, "%s", rain_error_last());
		goto done;
	}
	if (!add && json_object_size(fields) == 0 && !password_file) {
		cli_usage_error(cmd, "nothing to change; give --role, --status, --quota, "
				"--image-quota or --password-file");
		goto done;
	}
	rc = CLI_EXIT_FAIL;
	if (password_file) {
		char *pw;

		if (read_password_file(password_file, &pw))
			goto done;
		json_object_set_new(fields, "password", json_string(pw));
		explicit_bzero(pw, strlen(pw));
		free(pw);
		if (!json_object_get(fields, "password")) {
			cli_error("the password must be UTF-8 text");
			goto done;
		}
	}
	if (add)
		json_object_set_new(fields, "name", json_string(user));
	rc = cli_client(cli, &c);
	if (rc)
		goto done;
	r = add ? rain_client_user_create(c, fields, &u) :
		  rain_client_user_update(c, user, fields, &u);
	if (r < 0) {
		rc = cli_fail(cli, r, NULL, "cannot %s user %s", add ? "create" : "change",
			      user);
		goto done;
	}
	if (cli->json)
		cli_json_print(u);
	else
		cli_note(cli, "%s user %s", add ? "created" : "changed",
			 json_string_value(json_object_get(u, "name")) ?
			 json_string_value(json_object_get(u, "name")) : user);
	rc = CLI_EXIT_OK;
done:
	{
		json_t *pw = json_object_get(fields, "password");

		if (pw && json_string_length(pw))
			json_string_set(pw, "");
	}
	json_decref(fields);
	json_decref(u);
	return rc;
}

static int user_delete_exec(struct cli *cli, const struct cli_args *a)
{
	char **argv = a->argv;
	struct rain_client *c;
	int rc = CLI_EXIT_OK, r;

	r = cli_client(cli, &c);
	if (r)
		return r;
	for (int i = 0; i < a->argc; i++) {
		char hint[160];

		r = rain_client_user_delete(c, argv[i]);
		if (r == RAIN_ECONFLICT && strstr(rain_error_last(), "build"))
			snprintf(hint, sizeof(hint), "'rain build list' lists them");
		else
			snprintf(hint, sizeof(hint), "'rain image list --owner %s' lists them", argv[i]);
		if (r < 0)
			rc = cli_fail(cli, r, r == RAIN_ECONFLICT ? hint : NULL, "cannot delete user %s",
				      argv[i]);
		else
			cli_note(cli, "deleted user %s", argv[i]);
	}
	return rc;
}

static int user_unlock_exec(struct cli *cli, const struct cli_args *a)
{
	struct rain_client *c;
	int rc = CLI_EXIT_OK, r;

	r = cli_client(cli, &c);
	if (r)
		return r;
	for (int i = 0; i < a->argc; i++) {
		json_t *fields = json_pack("{s:b}", "locked", 0);

		if (!fields)
			return cli_error("out of memory");
		r = rain_client_user_update(c, a->argv[i], fields, NULL);
		json_decref(fields);
		if (r < 0)
			rc = cli_fail(cli, r, r == RAIN_EFORBIDDEN ? "only admins lift lock-outs" : NULL,
				      "cannot unlock user %s", a->argv[i]);
		else
			cli_note(cli, "user %s may log in again", a->argv[i]);
	}
	return rc;
}
