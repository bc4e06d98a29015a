/* rain whoami: who the token in use belongs to (user, project, roles),
 * the server and when the token expires. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "rain/error.h"
#include "util/cleanup.h"
#include "util/cleanup-json.h"
#include "util/timeutil.h"

static int cmd_whoami_exec(struct cli *cli, const struct cli_args *a);

const struct cli_cmd cmd_whoami_entry = {
	.name = "whoami",
	.usage = "",
	.summary = "show who you are logged in as, where, and until when",
	.help =
		"Asks the server about the token in use (from --token, RAIN_TOKEN or\n"
		"the config file): its user, project, roles and expiry. A token that\n"
		"is not valid any more is an error; 'rain login' gets a new one.\n",
	.opts = cli_output_opts,
	.exec = cmd_whoami_exec,
	.prefix = "rain",
};

int cli_whoami(struct cli *cli, json_t **out)
{
	struct rain_client *c;
	int r;

	*out = NULL;
	r = cli_client(cli, &c);
	if (r)
		return r;
	if (!cli->token.value)
		return cli_error("not logged in: no token is set; log in with 'rain login' (or give "
				 "one with --token or RAIN_TOKEN)");
	r = rain_client_token_validate(c, cli->token.value, out);
	if (r == RAIN_ENOTFOUND || r == RAIN_EAUTH) {
		json_t *users = NULL;

		/* not a login's token: raind's admin_token passes this, a
		 * stale login token does not */
		if (rain_client_user_list(c, &users) == 0) {
			json_decref(users);
			*out = json_pack("{s:{s:{s:s}, s:[{s:s}], s:n}}", "token", "user", "name",
					 "(raind's admin token)", "roles", "name", "admin", "expires_at");
			return *out ? 0 : cli_error("out of memory");
		}
		rain_error_set(RAIN_EAUTH, "the token (from %s) is expired or revoked",
			       cli_setting_origin(&cli->token));
		return cli_fail(cli, RAIN_EAUTH, "log in again with 'rain login'", "%s", "");
	}
	if (r < 0)
		return cli_fail(cli, r, NULL, "cannot check the token");
	return 0;
}

static int cmd_whoami_exec(struct cli *cli, const struct cli_args *a)
{
	static const char *const headers[] = { "Field", "Value" };
	_cleanup_json_ json_t *doc = NULL;
	_cleanup_free_ char *roles = NULL;
	json_t *t, *role;
	struct cli_table *tab;
	const char *expires;
	char left[64] = "";
	size_t i;
	int r;

	(void)a;
	r = cli_whoami(cli, &doc);
	if (r)
		return r;
	t = json_object_get(doc, "token");
	if (cli->json) {
		json_t *o = json_pack("{s:O?, s:O?, s:O?, s:O?, s:s, s:s}",
				      "user", json_object_get(t, "user"),
				      "project", json_object_get(t, "project"),
				      "roles", json_object_get(t, "roles"),
				      "expires_at", json_object_get(t, "expires_at"),
				      "url", cli->url.value ? cli->url.value : "",
				      "token_from", cli_setting_origin(&cli->token));

		cli_json_print(o);
		json_decref(o);
		return CLI_EXIT_OK;
	}
	json_array_foreach(json_object_get(t, "roles"), i, role) {
		char *s;

		if (asprintf(&s, "%s%s%s", roles ? roles : "", roles ? ", " : "",
			     cli_json_str(role, "name") ?: "?") < 0)
			return cli_error("out of memory");
		free(roles);
		roles = s;
	}
	expires = cli_json_str(t, "expires_at");
	if (expires) {
		int64_t at, now = time_now_us();

		if (time_parse_iso(expires, &at) == 0) {
			int64_t m = (at - now) / 60000000;

			if (at <= now)
				snprintf(left, sizeof(left), "%s (expired)", expires);
			else
				snprintf(left, sizeof(left), "%s (in %lldh%02lldm)", expires,
					 (long long)(m / 60), (long long)(m % 60));
		} else {
			snprintf(left, sizeof(left), "%s", expires);
		}
	} else {
		snprintf(left, sizeof(left), "never");
	}
	tab = cli_table_new(2, headers);
	cli_table_add(tab, (const char *[]){ "user", cli_json_str(json_object_get(t, "user"), "name") });
	cli_table_add(tab, (const char *[]){ "project",
					     cli_json_str(json_object_get(t, "project"), "name") });
	cli_table_add(tab, (const char *[]){ "roles", roles });
	cli_table_add(tab, (const char *[]){ "server", cli->url.value });
	cli_table_add(tab, (const char *[]){ "token from", cli_setting_origin(&cli->token) });
	cli_table_add(tab, (const char *[]){ "expires", left });
	cli_table_print(tab, stdout);
	cli_table_free(tab);
	return CLI_EXIT_OK;
}
