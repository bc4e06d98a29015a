/* rain vet feed push FILE | rain vet feed server: the vulnerability feed
 * raind vets with (PUT and GET /rain/v1/vetting/feed, raind(8)). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "rain/error.h"

static int cmd_vet_feed_push_exec(struct cli *cli, const struct cli_args *a);
static int cmd_vet_feed_server_exec(struct cli *cli, const struct cli_args *a);

const struct cli_cmd cmd_vet_feed_push_entry = {
	.name = "push",
	.usage = "FILE",
	.summary = "make FILE the feed raind vets with (admins)",
	.help = "The server checks that FILE is a feed (rain vet feed build or import\n"
		"made it) and puts it in place at once; vettings from then on use it.\n",
	.args = { 1, 1, "give one feed file" },
	.exec = cmd_vet_feed_push_exec,
	.prefix = "rain vet feed",
};

const struct cli_cmd cmd_vet_feed_server_entry = {
	.name = "server",
	.usage = "",
	.summary = "show the feed raind vets with (release, origin, date, counts)",
	.args = { 0, 0, "server takes no arguments" },
	.exec = cmd_vet_feed_server_exec,
	.prefix = "rain vet feed",
};

/* GET the server's feed and print it. */
static int print_server_feed(struct cli *cli, struct rain_client *c)
{
	json_t *info = NULL;
	int r = rain_client_request(c, "GET", "/rain/v1/vetting/feed", NULL, NULL, NULL, &info);

	if (r < 0)
		return cli_fail(cli, r, r == RAIN_ENOTFOUND ? "an admin puts one with 'rain vet "
				"feed push FILE'" : NULL, "cannot get the server's feed");
	if (cli->json) {
		cli_json_print(info);
	} else {
		printf("release:    %s\norigin:     %s (%s)\ndate:       %s\n"
		       "advisories: %lld (%lld not fixed yet) for %lld packages, %lld ids\n",
		       cli_json_str(info, "release") ?: "?", cli_json_str(info, "origin") ?: "?",
		       cli_json_str(info, "kind") ?: "?", cli_json_str(info, "date") ?: "unknown",
		       (long long)cli_json_int(info, "advisories"),
		       (long long)cli_json_int(info, "unfixed"),
		       (long long)cli_json_int(info, "packages"), (long long)cli_json_int(info, "ids"));
	}
	json_decref(info);
	return CLI_EXIT_OK;
}

static int cmd_vet_feed_push_exec(struct cli *cli, const struct cli_args *a)
{
	const char *file = a->argv[0];
	struct rain_upload_info info;
	struct cli_progress prog;
	struct rain_client *c;
	struct stat st;
	int fd, r;

	r = cli_client(cli, &c);
	if (r)
		return r;
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cli_error("cannot open %s: %s", file, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return cli_error("%s is not a regular file", file);
	}
	cli_progress_init(&prog, cli, "feed", 0);
	cli_catch_signals(true);
	r = rain_client_upload(c, "/rain/v1/vetting/feed", fd, st.st_size, cli_progress_cb, &prog,
			       &info);
	cli_catch_signals(false);
	cli_progress_end(&prog, r == 0);
	close(fd);
	if (r < 0)
		return cli_fail(cli, r, r == RAIN_EFORBIDDEN ? "only admins replace the feed" : NULL,
				"cannot push the feed %s", file);
	return print_server_feed(cli, c);
}

static int cmd_vet_feed_server_exec(struct cli *cli, const struct cli_args *a)
{
	struct rain_client *c;
	int r = cli_client(cli, &c);

	(void)a;
	return r ? r : print_server_feed(cli, c);
}
