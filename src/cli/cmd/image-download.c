/* rain image download, and the download step of rain image get. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "rain/error.h"
#include "util/fsutil.h"
#include "util/strutil.h"

static int cmd_image_download_exec(struct cli *cli, const struct cli_args *a);

static const struct cli_opt download_opts[] = {
	CLI_OPT("output", 'o', "FILE", 0, "write to FILE ('-' or no -o: standard output)"),
	{ .name = "file", .arg = "FILE", .same_as = "output" },
	CLI_OPT("resume", 'c', NULL, 0, "continue an interrupted download in FILE.part"),
	{ 0 },
};

const struct cli_cmd cmd_image_download_entry = {
	.name = "download",
	.usage = "ID|NAME [-o FILE] [--resume]",
	.summary = "download an image's data and verify it",
	.opts = download_opts,
	.args = { 1, 1, "give one image id or name" },
	.target = CLI_TARGET_IMAGE,
	.help =
		"The data goes to FILE.part first and is renamed to FILE once its\n"
		"sha256 (and MD5 checksum) match the image's os_hash_value (and\n"
		"checksum).  On a mismatch FILE.part is removed and the command fails.\n",
	.exec = cmd_image_download_exec,
	.prefix = "rain image",
};

/* Can the image be downloaded? Reports why not. */
static int check_status(const char *id, const char *status)
{
	/* a deactivated image is still there for admins: let the server say */
	if (!status || !strcmp(status, "active") || !strcmp(status, "deactivated"))
		return 0;
	if (!strcmp(status, "queued"))
		return cli_error("image %s has no data yet; upload it with "
				 "'rain image upload %s FILE'", id, id);
	if (!strcmp(status, "killed"))
		return cli_error("the upload of image %s failed (status killed); delete it "
				 "and upload again", id);
	return cli_error("image %s is %s, not active; wait and try again", id, status);
}

/* Compare what we got with the image record. */
static int verify(struct cli *cli, json_t *image, const char *id,
		  const struct rain_download_info *info, bool *checked)
{
	const char *algo = cli_json_str(image, "os_hash_algo");
	const char *hash = cli_json_str(image, "os_hash_value");
	const char *md5 = cli_json_str(image, "checksum");
	int64_t size = cli_json_int(image, "size");
	int64_t got = info->offset + info->written;

	*checked = false;
	if (size >= 0 && got != size)
		return cli_error("got %" PRId64 " bytes of image %s but it has %" PRId64,
				 got, id, size);
	if (algo && hash && !strcmp(algo, "sha256")) {
		if (strcmp(hash, info->sha256) != 0)
			return cli_error("the data of image %s has sha256 %s, not %.64s",
					 id, info->sha256, hash);
		*checked = true;
	}
	if (md5 && info->md5[0]) {
		if (strcmp(md5, info->md5) != 0)
			return cli_error("the data of image %s has MD5 %s, not %.32s",
					 id, info->md5, md5);
		*checked = true;
	}
	if (!*checked)
		cli_warn("image %s has no sha256 or MD5 checksum; the data was not verified", id);
	return 0;
}

static void print_result(struct cli *cli, const char *id, const char *out,
			 const struct rain_download_info *info, bool checked)
{
	char size[32];

	if (cli->json && strcmp(out, "-") != 0) {
		json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:s, s:b}",
				      "id", id, "file", out,
				      "size", (json_int_t)(info->offset + info->written),
				      "sha256", info->sha256, "md5", info->md5,
				      "verified", checked);

		if (j)
			cli_json_print(j);
		json_decref(j);
		return;
	}
	cli_format_size(info->offset + info->written, size, sizeof(size));
	cli_note(cli, "saved %s (%s%s)", strcmp(out, "-") ? out : "to standard output", size,
		 checked ? ", checksum verified" : "");
}

/* The hint for a failed download. */
static const char *fail_hint(json_t *image, int r, bool part_kept, char *buf, size_t len)
{
	const char *status = cli_json_str(image, "status");

	if (r == RAIN_EFORBIDDEN && status && !strcmp(status, "deactivated")) {
		snprintf(buf, len, "the image is deactivated; an admin can run "
			 "'rain image reactivate %s'", cli_json_str(image, "id"));
		return buf;
	}
	if (part_kept && (r == RAIN_ENET || r == RAIN_ECANCELED || r == RAIN_EIO))
		return "run the command again with --resume to continue";
	if (r == RAIN_ECANCELED)
		return "";
	return NULL;
}

static int save_stdout(struct cli *cli, json_t *image, const char *id)
{
	char hint[256];
	struct rain_download_info info;
	struct cli_progress prog;
	struct rain_client *c;
	bool checked;
	int r;

	if (isatty(STDOUT_FILENO))
		return cli_error("not writing image data to a terminal; use -o FILE or "
				 "redirect the output");
	r = cli_client(cli, &c);
	if (r)
		return r;
	cli_progress_init(&prog, cli, "download", 0);
	cli_catch_signals(true);
	r = rain_client_image_download(c, id, STDOUT_FILENO, 0, cli_progress_cb, &prog, &info);
	cli_catch_signals(false);
	cli_progress_end(&prog, r == 0);
	if (r < 0)
		return cli_fail(cli, r, fail_hint(image, r, false, hint, sizeof(hint)),
				"cannot download image %s", id);
	r = verify(cli, image, id, &info, &checked);
	if (r)
		return cli_error("the data written to standard output is bad; discard it");
	print_result(cli, id, "-", &info, checked);
	return CLI_EXIT_OK;
}

int cli_image_save(struct cli *cli, json_t *image, const char *out, bool overwrite,
		   bool resume)
{
	_cleanup_free_ char *part = NULL, *dir = NULL;
	struct rain_download_info info;
	struct cli_progress prog;
	struct rain_client *c;
	const char *id = cli_json_str(image, "id");
	int64_t offset = 0, size = cli_json_int(image, "size");
	bool checked, keep_part = true;
	char hint[256];
	struct stat st;
	char *slash;
	int fd, r;

	if (!id)
		return cli_error("the server's image has no id; check the server URL");
	r = check_status(id, cli_json_str(image, "status"));
	if (r)
		return r;
	if (strcmp(out, "-") == 0)
		return save_stdout(cli, image, id);
	if (!overwrite && lstat(out, &st) == 0)
		return cli_error("%s exists already; remove it, give another -o or use --force",
				 out);
	if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
		return cli_error("%s is a directory; give a file name with -o", out);
	r = cli_client(cli, &c);
	if (r)
		return r;
	if (asprintf(&part, "%s.part", out) < 0 || !(dir = strdup(out)))
		return cli_error("out of memory");
	slash = strrchr(dir, '/');
	if (slash)
		slash[slash == dir ? 1 : 0] = '\0';
	else
		strcpy(dir, ".");

	fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
	if (fd < 0)
		return cli_error("cannot create %s: %s; check the directory", part,
				 strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = cli_error("%s is in use by another download; wait for it to end", part);
		close(fd);
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = cli_error("%s is not a regular file; remove it", part);
		close(fd);
		return r;
	}
	if (resume && st.st_size > 0 && (size < 0 || st.st_size <= size)) {
		offset = st.st_size;
		cli_note(cli, "resuming %s at %lld bytes", part, (long long)offset);
	} else if (ftruncate(fd, 0) < 0) {
		r = cli_error("cannot truncate %s: %s", part, strerror(errno));
		close(fd);
		return r;
	}

	cli_progress_init(&prog, cli, "download", offset);
	cli_catch_signals(true);
	r = rain_client_image_download(c, id, fd, offset, cli_progress_cb, &prog, &info);
	cli_catch_signals(false);
	cli_progress_end(&prog, r == 0);
	if (r < 0) {
		struct stat now;

		if (fstat(fd, &now) == 0 && now.st_size == 0)
			keep_part = false;
		r = cli_fail(cli, r, fail_hint(image, r, keep_part, hint, sizeof(hint)),
			     "cannot download image %s", id);
		goto fail;
	}
	r = verify(cli, image, id, &info, &checked);
	if (r) {
		keep_part = false;
		cli_error("removed %s; download it again", part);
		goto fail;
	}
	if (fsync(fd) < 0) {
		r = cli_error("cannot write %s: %s", part, strerror(errno));
		goto fail;
	}
	if (rename(part, out) < 0) {
		r = cli_error("cannot rename %s to %s: %s", part, out, strerror(errno));
		goto fail;
	}
	close(fd);
	fs_fsync_dir(dir);
	print_result(cli, id, out, &info, checked);
	return CLI_EXIT_OK;
fail:
	if (!keep_part)
		unlink(part);
	close(fd);
	return r;
}

static int cmd_image_download_exec(struct cli *cli, const struct cli_args *a)
{
	const char *out = cli_arg(a, "output") ? cli_arg(a, "output") : "-";
	bool resume = cli_flag(a, "resume");
	json_t *image;
	char id[37];
	int r;

	if (!*out)
		return cli_usage_error(a->cmd, "-o needs a file name");
	if (resume && !strcmp(out, "-"))
		return cli_usage_error(a->cmd, "--resume needs -o FILE");
	r = cli_image_fetch(cli, a->argv[0], id, &image);
	if (r)
		return r;
	r = cli_image_save(cli, image, out, true, resume);
	json_decref(image);
	return r;
}
