/* A base tree from a repository image (recipes with base = image:REF).
 *
 * The image's data (raw or qcow2) is made a raw file, its root file system
 * found (the first Linux partition of an MBR or GPT table, or the whole
 * file), mounted read-only (noload: no journal replay) in a private mount
 * namespace and packed into a tar with owners, modes, xattrs and ACLs; the
 * sandbox's root then unpacks it, so that the tree belongs to the sandbox's
 * ids like a bootstrapped base. The mount is the only step that runs as the
 * host's root: it runs nothing from the image.
 *
 * Before any tool reads the data, rain_diskfmt_inspect() checks it against
 * the image's disk_format: images stored before raind inspected uploads
 * may name a backing or data file (OSSA-2024-001), which qemu-img would
 * open on the host.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "build-internal.h"
#include "rain/diskfmt.h"
#include "rain/error.h"
#include "sandbox.h"
#include "util/fsutil.h"
#include "util/strutil.h"

struct clone {
	struct build_ctx *b;
	const char *raw;
	const char *mnt;
	const char *tar;
	const char *root;
	long long offset, size;    /* of the file system in raw, bytes; size 0: to the end */
};

static void collect(void *ud, const char *line)
{
	FILE *f = ud;

	fprintf(f, "%s\n", line);
}

/* The root file system's place in the disk: the first Linux partition. */
static int find_filesystem(struct clone *c)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	const char *argv[] = { "sfdisk", "--json", c->raw, NULL };
	struct process_opts po = { .argv = argv, .stdin_fd = -1, .on_line = collect, .ud = f };
	json_t *doc, *parts, *p;
	long long sector = 512;
	size_t i;
	int status, r;

	if (!f)
		return rain_error_oom();
	r = process_run(&po, &status);
	fclose(f);
	c->offset = c->size = 0;
	if (r < 0)
		return r;
	if (status != 0)
		return 0;       /* no partition table: a bare file system */
	doc = json_loads(text, 0, NULL);
	parts = json_object_get(json_object_get(doc, "partitiontable"), "partitions");
	if (json_integer_value(json_object_get(json_object_get(doc, "partitiontable"), "sectorsize")) > 0)
		sector = json_integer_value(json_object_get(json_object_get(doc, "partitiontable"), "sectorsize"));
	json_array_foreach(parts, i, p) {
		const char *type = json_string_value(json_object_get(p, "type"));

		/* MBR 83, GPT "Linux filesystem" and "Linux root (x86-64)" */
		if (type && (!strcmp(type, "83") || !strcasecmp(type, "0FC63DAF-8483-4772-8E79-3D69D8477DE4") ||
			     !strcasecmp(type, "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"))) {
			c->offset = json_integer_value(json_object_get(p, "start")) * sector;
			c->size = json_integer_value(json_object_get(p, "size")) * sector;
			break;
		}
	}
	json_decref(doc);
	if (json_array_size(parts) && !c->size)
		return rain_error_set(RAIN_EFORMAT, "the base image has no Linux partition to clone");
	return 0;
}

/* In a private mount namespace, as the host's root. */
static int pack_stage(void *ud)
{
	struct clone *c = ud;
	char opts[128];
	int r;

	if (c->size)
		snprintf(opts, sizeof(opts), "ro,noload,loop,offset=%lld,sizelimit=%lld", c->offset, c->size);
	else
		snprintf(opts, sizeof(opts), "ro,noload,loop");
	{
		const char *argv[] = { "mount", "-t", "ext4", "-o", opts, "--", c->raw, c->mnt, NULL };

		r = build_run(c->b, "mount the base image (read-only)", argv, NULL, NULL);
	}
	if (r < 0)
		return rain_error_set(r, "the base image holds no ext4 file system that can be mounted: %s",
				      rain_error_last());
	{
		const char *argv[] = { "tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls",
				       "-C", c->mnt, "-cf", c->tar, ".", NULL };

		r = build_run(c->b, "pack the base image's tree", argv, NULL, NULL);
	}
	return r;
}

/* In the user sandbox: the tree becomes the sandbox's. */
static int unpack_stage(void *ud)
{
	struct clone *c = ud;
	const char *argv[] = { "tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls",
			       "-xpf", c->tar, "-C", c->root, NULL };

	if (mkdir(c->root, 0755) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot create %s", c->root);
	return build_run(c->b, "unpack the base image's tree", argv, NULL, NULL);
}

static void stage_line(void *ud, const char *line)
{
	build_log(ud, "%s", line);
}

/* rain_diskfmt_read_fn over a file descriptor. */
static ssize_t read_at(void *ud, uint64_t off, void *buf, size_t len)
{
	int fd = *(int *)ud;
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return rain_error_errno(RAIN_EIO, errno, "cannot read the base image's data");
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int build_clone_inspect(struct build_ctx *b, const char *data, const char *disk_format)
{
	const struct rain_build_base_image *bi = b->o->base_image;
	_cleanup_close_ int fd = open(data, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	int r;

	if (fd < 0 || fstat(fd, &st) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot open the base image's data %s", data);
	if (!S_ISREG(st.st_mode))
		return rain_error_set(RAIN_EIO, "the base image's data %s is not a regular file", data);
	r = rain_diskfmt_inspect(disk_format, st.st_size, read_at, &fd, NULL);
	if (r < 0) {
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s", rain_error_last());
		return rain_error_set(r, "%s: [image] base: the data of image %s (disk_format %s) is refused "
				      "before any tool reads it: %s. It was stored before raind inspected disk "
				      "formats: upload a self-contained copy of it and build on that",
				      b->r->file, bi && bi->id ? bi->id : "?", disk_format, msg);
	}
	return 0;
}

int build_clone_base(struct build_ctx *b, const char *data, const char *disk_format, const char *root,
		     const char *const *env)
{
	_cleanup_free_ char *raw = build_tmp_path(b, "clone.raw"), *mnt = build_tmp_path(b, "clone.mnt");
	_cleanup_free_ char *tar = build_tmp_path(b, "clone.tar");
	struct clone c = { .b = b, .root = root };
	struct process_opts po = { .on_line = stage_line, .ud = b, .cancel = b->o->cancel,
				   .timeout_s = 3600 };
	struct sandbox mountns = { .user = false, .network = false, .env = env };
	struct sandbox unpack = { .user = true, .network = false, .env = env };
	int r;

	if (!raw || !mnt || !tar)
		return rain_error_oom();
	if (strcmp(disk_format, "qcow2") && strcmp(disk_format, "raw"))
		return rain_error_set(RAIN_EINVAL, "%s: [image] base: the image's disk format is %s; "
				      "cloning needs raw or qcow2", b->r->file, disk_format);
	if ((r = build_clone_inspect(b, data, disk_format)) < 0 || (r = build_cgroup_setup(b, false)) < 0)
		return r;
	build_sandbox_limits(b, &mountns);
	build_sandbox_limits(b, &unpack);
	c.raw = raw;
	c.mnt = mnt;
	c.tar = tar;
	if (!strcmp(disk_format, "qcow2")) {
		const char *argv[] = { "qemu-img", "convert", "-f", "qcow2", "-O", "raw", data, raw, NULL };

		r = build_run(b, "qemu-img convert (base image)", argv, NULL, NULL);
	} else {
		r = link(data, raw) == 0 ? 0 : fs_move(data, raw);
	}
	if (r == 0 && mkdir(mnt, 0700) < 0)
		r = rain_error_errno(RAIN_EIO, errno, "cannot create %s", mnt);
	if (r == 0)
		r = find_filesystem(&c);
	if (r == 0) {
		po.name = "the base image's mount";
		build_log(b, "== unpacking the base image");
		r = sandbox_run(&mountns, pack_stage, &c, &po);
	}
	unlink(raw);
	if (r == 0) {
		po.name = "the base image's unpacking";
		r = sandbox_run(&unpack, unpack_stage, &c, &po);
	}
	unlink(tar);
	rmdir(mnt);
	return r;
}
