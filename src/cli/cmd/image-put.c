/* rain image put: create + upload in one go. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "rain/diskfmt.h"
#include "rain/error.h"
#include "rain/image.h"
#include "util/strutil.h"

static int cmd_image_put_exec(struct cli *cli, const struct cli_args *a);

static const struct cli_opt put_opts[] = { CLI_CREATE_OPTS, { 0 } };

const struct cli_cmd cmd_image_put_entry = {
	.name = "put",
	.usage = "FILE [OPTIONS]",
	.summary = "create an image from a file and upload it",
	.opts = put_opts,
	.args = { 1, 1, "give one file" },
	.help =
		"Defaults: --name is the file's name without its directory;\n"
		"--disk-format is guessed from the file's header (qcow2, vmdk, vhd,\n"
		"vhdx, vdi, ploop, iso) or its .iso suffix, else raw; --container-format\n"
		"is bare.\n"
		"FILE '-' reads standard input and then needs --name.\n"
		"If the upload fails the new image is deleted again.\n",
	.exec = cmd_image_put_exec,
	.prefix = "rain image",
};

/* Guess a disk format from the file's first bytes and its name. */
static const char *guess_format(const char *file)
{
	unsigned char *head;
	const char *fmt = "raw";
	ssize_t n = 0;
	int fd;

	fd = open(file, O_RDONLY | O_CLOEXEC);
	head = malloc(RAIN_DISKFMT_HEAD);
	if (fd >= 0 && head) {
		size_t got = 0;

		while (got < RAIN_DISKFMT_HEAD) {
			n = pread(fd, head + got, RAIN_DISKFMT_HEAD - got, (off_t)got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		fmt = rain_diskfmt_detect(head, got);
	}
	if (fd >= 0)
		close(fd);
	free(head);
	/* formats raind refuses (qed, luks, ...): the upload as raw says why */
	if (!str_in_list(rain_disk_formats, fmt))
		fmt = "raw";
	if (!strcmp(fmt, "raw") && strlen(file) > 4 &&
	    !strcasecmp(file + strlen(file) - 4, ".iso"))
		fmt = "iso";
	return fmt;
}

static int cmd_image_put_exec(struct cli *cli, const struct cli_args *a)
{
	struct cli_create_opts o;
	struct rain_client *c;
	json_t *image = NULL, *final = NULL;
	const char *file = a->argv[0], *id;
	int r, dr;

	cli_create_opts_init(&o);
	r = cli_create_opts_parse(a, &o);
	if (r)
		goto done;
	if (!o.name) {
		const char *slash = strrchr(file, '/');

		if (!strcmp(file, "-")) {
			r = cli_usage_error(&cmd_image_put_entry, "standard input needs --name");
			goto done;
		}
		o.name = slash ? slash + 1 : file;
		if (!*o.name) {
			r = cli_usage_error(&cmd_image_put_entry, "give the image a --name");
			goto done;
		}
	}
	if (strcmp(file, "-") != 0 && access(file, R_OK) < 0) {
		r = cli_error("cannot read %s: %s; check the file name", file, strerror(errno));
		goto done;
	}
	if (!o.disk_format) {
		o.disk_format = strcmp(file, "-") ? guess_format(file) : "raw";
		cli_note(cli, "disk format %s (%s); use --disk-format to choose another",
			 o.disk_format, strcmp(file, "-") ? "guessed from the file" : "default");
	}
	if (!o.container_format)
		o.container_format = "bare";

	r = cli_image_create(cli, &o, &image);
	if (r)
		goto done;
	id = cli_json_str(image, "id");
	r = cli_image_upload_file(cli, id, file, true);
	if (r) {
		/* do not leave an empty image behind to confuse name lookups */
		if (cli_client(cli, &c) != 0) {
			cli_error("image %s was created without data; delete it with "
				  "'rain image delete %s'", id, id);
			goto done;
		}
		dr = rain_client_image_delete(c, id);
		if (dr < 0)
			cli_fail(cli, dr, NULL, "image %s was created without data and cannot be "
				 "deleted; delete it with 'rain image delete %s'", id, id);
		else
			cli_note(cli, "deleted the new image %s again", id);
		goto done;
	}
	if (cli_client(cli, &c)) {
		r = CLI_EXIT_FAIL;
		goto done;
	}
	dr = rain_client_image_get(c, id, &final);
	if (dr < 0) {
		r = cli_fail(cli, dr, NULL, "uploaded, but cannot read image %s back", id);
		goto done;
	}
	if (cli->json)
		cli_json_print(final);
	else if (!cli->quiet)
		cli_image_print(final);
	else
		printf("%s\n", id);
done:
	json_decref(image);
	json_decref(final);
	cli_create_opts_free(&o);
	return r;
}
