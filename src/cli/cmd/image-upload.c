/* rain image upload, and the upload step of rain image put. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "rain/error.h"

static int cmd_image_upload_exec(struct cli *cli, const struct cli_args *a);

const struct cli_cmd cmd_image_upload_entry = {
	.name = "upload",
	.usage = "ID|NAME FILE",
	.summary = "upload the data of a queued image",
	.help =
		"FILE '-' reads standard input (sent with chunked encoding).\n"
		"The image needs a disk_format and a container_format first\n"
		"(rain image set ID --disk-format raw --container-format bare).\n"
		"After the upload the server's sha256 is compared with the data sent.\n",
	.args = { 2, 2, "give an image and a file" },
	.target = CLI_TARGET_IMAGE,
	.exec = cmd_image_upload_exec,
	.prefix = "rain image",
};

static const char *upload_hint(int r, const char *id, const char *file, bool fresh, char *buf,
			       size_t len)
{
	/* a new image (rain image put) is deleted again: point to put */
	if (fresh && (r == RAIN_EFORMAT || r == RAIN_EINVAL)) {
		snprintf(buf, len, "the data does not match the disk format given or guessed; put "
			 "it again with the right one ('rain image put %s --disk-format FORMAT'; "
			 "'qemu-img info %s' tells it)", file, file);
		return buf;
	}
	switch (r) {
	case RAIN_ECONFLICT:
		snprintf(buf, len, "only a queued image takes data; see 'rain image show %s' "
			 "or create a new image", id);
		return buf;
	case RAIN_EINVAL:
		snprintf(buf, len, "check the image's disk and container formats with "
			 "'rain image show %s'", id);
		return buf;
	case RAIN_EFORMAT:
		return "the data does not match the image's disk_format; fix it with "
		       "'rain image set --disk-format'";
	case RAIN_ECANCELED:
		return "";
	}
	return NULL;
}

int cli_image_upload_file(struct cli *cli, const char *id, const char *file, bool fresh)
{
	struct rain_upload_info info;
	struct cli_progress prog;
	struct rain_client *c;
	json_t *image = NULL;
	const char *algo, *want;
	char hint[256];
	int64_t size = -1;
	struct stat st;
	int fd, r;

	r = cli_client(cli, &c);
	if (r)
		return r;
	if (strcmp(file, "-") == 0) {
		fd = STDIN_FILENO;
	} else {
		fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return cli_error("cannot open %s: %s; check the file name", file,
					 strerror(errno));
	}
	if (fstat(fd, &st) < 0) {
		r = cli_error("cannot stat %s: %s", file, strerror(errno));
		goto done;
	}
	if (S_ISDIR(st.st_mode)) {
		r = cli_error("%s is a directory; give a file", file);
		goto done;
	}
	if (S_ISREG(st.st_mode)) {
		off_t pos = lseek(fd, 0, SEEK_CUR);

		size = (int64_t)st.st_size - (pos > 0 ? (int64_t)pos : 0);
	}
	cli_progress_init(&prog, cli, "upload", 0);
	cli_catch_signals(true);
	r = rain_client_image_upload(c, id, fd, size, cli_progress_cb, &prog, &info);
	cli_catch_signals(false);
	cli_progress_end(&prog, r == 0);
	if (r < 0) {
		r = cli_fail(cli, r, upload_hint(r, id, file, fresh, hint, sizeof(hint)),
			     "cannot upload %s to image %s", file, id);
		goto done;
	}
	/* check that the server stored what we sent */
	r = rain_client_image_get(c, id, &image);
	if (r < 0) {
		r = cli_fail(cli, r, NULL, "uploaded, but cannot read image %s back", id);
		goto done;
	}
	algo = cli_json_str(image, "os_hash_algo");
	want = cli_json_str(image, "os_hash_value");
	if (algo && want && strcmp(algo, "sha256") == 0) {
		if (strcmp(want, info.sha256) != 0) {
			r = cli_error("the server's sha256 of image %s is %.64s but the data sent "
				      "has %s; delete the image and upload again", id, want,
				      info.sha256);
			goto done;
		}
	} else {
		cli_warn("the server gave no sha256 for image %s (status %s); the upload "
			 "was not checked", id, cli_json_str(image, "status") ?
			 cli_json_str(image, "status") : "unknown");
	}
	cli_note(cli, "uploaded %lld bytes to image %s", (long long)info.sent, id);
	r = CLI_EXIT_OK;
done:
	json_decref(image);
	if (fd != STDIN_FILENO)
		close(fd);
	return r;
}

static int cmd_image_upload_exec(struct cli *cli, const struct cli_args *a)
{
	char id[37];
	int r;

	r = cli_target(cli, a, 0, id);
	if (r)
		return r;
	return cli_image_upload_file(cli, id, a->argv[1], false);
}
