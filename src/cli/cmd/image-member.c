/* rain image member: share an image with other projects (Glance's image
 * members) and answer a share as its member.  Projects and users are
 * named as people know them; a user's own project is named after the
 * user, so "bob" names bob's project. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "rain/error.h"
#include "util/cleanup.h"
#include "util/cleanup-json.h"

static int member_change_exec(struct cli *cli, const struct cli_args *a);
static int member_list_exec(struct cli *cli, const struct cli_args *a);
static int member_answer_exec(struct cli *cli, const struct cli_args *a);

static const struct cli_cmd member_add_entry = {
	.name = "add",
	.usage = "ID|NAME PROJECT...",
	.summary = "share an image with projects (by name or id)",
	.help =
		"The image must have visibility 'shared' (rain image set --visibility\n"
		"shared). A member sees the image once they accept it (rain image\n"
		"member accept); 'rain image list --shared --member-status pending'\n"
		"shows them what waits for an answer.\n",
	.args = { 2, -1, "give an image and at least one project" },
	.target = CLI_TARGET_IMAGE,
	.exec = member_change_exec,
	.prefix = "rain image member",
};

static const struct cli_cmd member_remove_entry = {
	.name = "remove",
	.alias = "rm",
	.usage = "ID|NAME PROJECT...",
	.summary = "stop sharing an image with projects",
	.args = { 2, -1, "give an image and at least one project" },
	.target = CLI_TARGET_IMAGE,
	.exec = member_change_exec,
	.prefix = "rain image member",
};

static const struct cli_cmd member_list_entry = {
	.name = "list",
	.alias = "ls",
	.usage = "ID|NAME",
	.summary = "list the projects an image is shared with and their answers",
	.opts = cli_output_opts,
	.args = { 1, 1, "give one image id or name" },
	.target = CLI_TARGET_IMAGE,
	.exec = member_list_exec,
	.prefix = "rain image member",
};

static const struct cli_cmd member_accept_entry = {
	.name = "accept",
	.usage = "ID|NAME",
	.summary = "accept an image shared with you (it then shows in rain image list)",
	.args = { 1, 1, "give one image id or name" },
	.target = CLI_TARGET_IMAGE,
	.exec = member_answer_exec,
	.prefix = "rain image member",
};

static const struct cli_cmd member_reject_entry = {
	.name = "reject",
	.usage = "ID|NAME",
	.summary = "reject an image shared with you (it no longer shows)",
	.args = { 1, 1, "give one image id or name" },
	.target = CLI_TARGET_IMAGE,
	.exec = member_answer_exec,
	.prefix = "rain image member",
};

static const struct cli_cmd *const member_cmds[] = {
	&member_add_entry,
	&member_remove_entry,
	&member_list_entry,
	&member_accept_entry,
	&member_reject_entry,
	NULL,
};

const struct cli_cmd cmd_image_member_entry = {
	.name = "member",
	.usage = "COMMAND [ARGS...]",
	.summary = "share an image with other projects and answer shares",
	.help =
		"An owner adds and removes members; a member accepts or rejects.\n"
		"PROJECT is a project name or id; a user's own project is named\n"
		"after the user.\n",
	.table = member_cmds,
	.prefix = "rain image",
};

/* The id of the project name (or a user's name: their own project) in
 * out (a new string). Reports errors; exit status. */
static int project_resolve(struct cli *cli, const char *name, char **out)
{
	static const char *const lookups[][2] = {
		{ "/v3/projects", "projects" },
		{ "/v3/users", "users" },
	};
	struct rain_client *c;
	int r;

	*out = NULL;
	if (!*name)
		return cli_error("an empty project name; give a project or user name");
	r = cli_client(cli, &c);
	if (r)
		return r;
	for (size_t i = 0; i < 2; i++) {
		_cleanup_free_ char *q = NULL, *path = NULL;
		_cleanup_json_ json_t *body = NULL;
		json_t *found;
		const char *id;

		if (cli_query_add(&q, "name", name) < 0 ||
		    asprintf(&path, "%s%s", lookups[i][0], q) < 0)
			return cli_error("out of memory");
		r = rain_client_request(c, "GET", path, NULL, NULL, NULL, &body);
		if (r < 0)
			return cli_fail(cli, r, NULL, "cannot look up the project '%s'", name);
		found = json_array_get(json_object_get(body, lookups[i][1]), 0);
		id = cli_json_str(found, i == 0 ? "id" : "default_project_id");
		if (!id && i == 1)
			id = cli_json_str(found, "id");    /* a user's project has the user's id */
		if (id) {
			*out = strdup(id);
			return *out ? 0 : cli_error("out of memory");
		}
	}
	return cli_error("no project or user is named '%s'; check the name (a user's project "
			 "is named after the user)", name);
}

/* add and remove: each PROJECT in turn; a failure does not stop the rest */
static int member_change_exec(struct cli *cli, const struct cli_args *a)
{
	bool add = a->cmd == &member_add_entry;
	struct rain_client *c;
	char id[37];
	int r, rc = CLI_EXIT_OK;

	r = cli_target(cli, a, 0, id);
	if (!r)
		r = cli_client(cli, &c);
	if (r)
		return r;
	for (int i = 1; i < a->argc; i++) {
		_cleanup_free_ char *project = NULL;
		const char *hint = NULL;

		r = project_resolve(cli, a->argv[i], &project);
		if (r) {
			rc = r;
			continue;
		}
		r = add ? rain_client_image_member_add(c, id, project, NULL) :
			  rain_client_image_member_delete(c, id, project);
		if (r == RAIN_EFORBIDDEN)
			hint = "only the owner shares an image, and only one of visibility 'shared' "
			       "('rain image set --visibility shared IMAGE')";
		else if (r == RAIN_ECONFLICT || r == RAIN_ENOTFOUND)
			hint = "see 'rain image member list'";
		if (r == RAIN_ENOTFOUND && !add)
			rc = cli_fail(cli, r, hint, "image %s is not shared with %s", a->argv[0],
				      a->argv[i]);
		else if (r < 0)
			rc = cli_fail(cli, r, hint, "cannot %s image %s with %s", add ? "share" :
				      "stop sharing", a->argv[0], a->argv[i]);
		else if (add)
			cli_note(cli, "shared %s with %s (pending until they accept: rain image "
				 "member accept %s)", a->argv[0], a->argv[i], a->argv[0]);
	}
	return rc;
}

static int member_list_exec(struct cli *cli, const struct cli_args *a)
{
	static const char *const headers[] = { "Member", "Status", "Created", "Updated" };
	_cleanup_json_ json_t *members = NULL;
	struct rain_client *c;
	struct cli_table *t;
	char id[37];
	json_t *m;
	size_t i;
	int r;

	r = cli_target(cli, a, 0, id);
	if (!r)
		r = cli_client(cli, &c);
	if (r)
		return r;
	r = rain_client_image_member_list(c, id, &members);
	if (r < 0)
		return cli_fail(cli, r, r == RAIN_EFORBIDDEN ? "only the owner lists an image's members"
				: NULL, "cannot list the members of image %s", a->argv[0]);
	if (cli->json) {
		cli_json_print(members);
		return CLI_EXIT_OK;
	}
	t = cli_table_new(4, headers);
	json_array_foreach(json_object_get(members, "members"), i, m) {
		const char *row[4] = {
			cli_json_str(m, "member_id"), cli_json_str(m, "status"),
			cli_json_str(m, "created_at"), cli_json_str(m, "updated_at"),
		};

		cli_table_add(t, row);
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
	return CLI_EXIT_OK;
}

static int member_answer_exec(struct cli *cli, const struct cli_args *a)
{
	bool accept = a->cmd == &member_accept_entry;
	_cleanup_json_ json_t *token = NULL;
	struct rain_client *c;
	const char *project;
	char id[37];
	int r;

	r = cli_target(cli, a, 0, id);
	if (!r)
		r = cli_whoami(cli, &token);
	if (!r)
		r = cli_client(cli, &c);
	if (r)
		return r;
	project = cli_json_str(json_object_get(json_object_get(token, "token"), "project"), "id");
	if (!project)
		return cli_error("the token is not scoped to a project; log in as the member with "
				 "'rain login'");
	r = rain_client_image_member_update(c, id, project, accept ? "accepted" : "rejected", NULL);
	if (r == RAIN_ENOTFOUND || r == RAIN_EFORBIDDEN)
		return cli_fail(cli, r, "only a member answers a share; see 'rain image list --shared "
				"--member-status all'", "cannot %s image %s", accept ? "accept" :
				"reject", a->argv[0]);
	if (r < 0)
		return cli_fail(cli, r, NULL, "cannot %s image %s", accept ? "accept" : "reject",
				a->argv[0]);
	cli_note(cli, "%s image %s", accept ? "accepted" : "rejected", a->argv[0]);
	return CLI_EXIT_OK;
}
