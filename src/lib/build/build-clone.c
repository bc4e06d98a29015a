/* A base tree from a repository image (recipes with base = image:REF).
 *
 * The image's data (raw or qcow2) is read as data: never mounted, nothing
 * in it run or followed. The host opens the file and inspects it
 * (rain_diskfmt_inspect: no backing or data file); everything else runs
 * in a user sandbox (the cached bases' ids, no network): imgfs
 * (rain/imgfs.h) finds the root file system (the disk's partition table,
 * a qcow2's clusters, ext2/3/4 through libext2fs in user space) and walks
 * it, and the tree is made anew under root: directories, regular files
 * (streamed, holes kept), symbolic links as they are (never followed),
 * hard links, fifos, owners, modes, times, and the extended attributes a
 * system needs (security.capability, POSIX ACLs, user.*). Every file is
 * created beneath root through directories this walk made (openat2
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), so a crafted tree cannot write
 * outside it. What the sandbox cannot or may not make is skipped and
 * counted in the log: device nodes (a user namespace cannot create them;
 * a build's /dev is its own), sockets, other attributes (security.selinux,
 * trusted.*). A crafted parser input stays in an unprivileged process.
 *
 * Images stored before raind inspected uploads may name a backing or data
 * file (OSSA-2024-001): rain_diskfmt_inspect() refuses them before any
 * reader sees the data.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "build-internal.h"
#include "rain/diskfmt.h"
#include "rain/error.h"
#include "rain/imgfs.h"
#include "sandbox.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/strutil.h"

/* Distinct names of attributes not restored, for the log. */
#define CLONE_SKIPPED_NAMES 8

/* A file with more than one name: where its first name was made. */
struct first_name {
	uint64_t node;          /* 0: a free slot */
	char *path;             /* relative to root */
};

struct dir_time {
	char *path;             /* relative to root ("." for root) */
	int64_t mtime;
};

struct clone {
	struct build_ctx *b;
	int fd;                 /* the image's data, opened by the host */
	uint64_t size;
	const char *disk_format;
	const char *root;
	int rootfd;
	struct rain_imgfs *fs;
	/* the directory of the last entry made */
	int pfd;
	char parent[RAIN_IMGFS_MAX_PATH + 1];
	struct first_name *names;
	size_t nnames, namecap;
	struct dir_time *dirs;
	size_t ndirs, dircap;
	char *buf;
	/* what was made and skipped */
	uint64_t files, bytes, ndirectories, symlinks, hardlinks, fifos;
	uint64_t devices, sockets, xattrs_set, xattrs_skipped, xattrs_on_links;
	char first_device_path[256];
	struct {
		char name[64];
		uint64_t n;
	} skipped[CLONE_SKIPPED_NAMES];
};

#define CLONE_BUF (1 << 20)
#define CLONE_HOLE 65536        /* zero runs of this size become holes */

static ssize_t read_at(void *ud, uint64_t off, void *buf, size_t len);

static int first_name_find(struct clone *c, uint64_t node, struct first_name **slot)
{
	size_t i;

	if ((c->nnames + 1) * 2 > c->namecap) {
		size_t cap = c->namecap ? c->namecap * 2 : 256;
		struct first_name *v = calloc(cap, sizeof(*v));

		if (!v)
			return rain_error_oom();
		for (size_t j = 0; j < c->namecap; j++) {
			if (!c->names[j].node)
				continue;
			for (i = (c->names[j].node * 0x9e3779b97f4a7c15ull) & (cap - 1); v[i].node;
			     i = (i + 1) & (cap - 1))
				;
			v[i] = c->names[j];
		}
		free(c->names);
		c->names = v;
		c->namecap = cap;
	}
	for (i = (node * 0x9e3779b97f4a7c15ull) & (c->namecap - 1); c->names[i].node; i = (i + 1) & (c->namecap - 1))
		if (c->names[i].node == node)
			break;
	*slot = &c->names[i];
	return 0;
}

/* The directory that holds path (absolute in the image), opened beneath
 * root; *name gets path's last component. */
static int parent_of(struct clone *c, const char *path, const char **name)
{
	const char *slash = strrchr(path, '/');
	size_t len = (size_t)(slash - path);
	int fd;

	*name = slash + 1;
	if (c->pfd >= 0 && len == strlen(c->parent) && !strncmp(c->parent, path, len))
		return c->pfd;
	if (c->pfd >= 0 && c->pfd != c->rootfd)
		close(c->pfd);
	c->pfd = -1;
	c->parent[0] = '\0';
	if (len == 0) {
		fd = c->rootfd;
	} else {
		char rel[RAIN_IMGFS_MAX_PATH + 1];

		snprintf(rel, sizeof(rel), "%.*s", (int)len - 1, path + 1);
		fd = fs_open_beneath(c->rootfd, rel, O_PATH | O_DIRECTORY, 0);
		if (fd < 0)
			return rain_error_set(fd, "cloning the base image: %s: %s", path, rain_error_last());
	}
	c->pfd = fd;
	snprintf(c->parent, sizeof(c->parent), "%.*s", (int)len, path);
	return fd;
}

struct xattr_ctx {
	struct clone *c;
	const char *path;
	int fd;                 /* a file's own fd, or -1 */
	const char *proc;       /* else its O_PATH fd in /proc */
	bool link;
};

static bool restored(const char *name)
{
	return !strcmp(name, "security.capability") || !strcmp(name, "system.posix_acl_access") ||
	       !strcmp(name, "system.posix_acl_default") || !strncmp(name, "user.", 5);
}

static void count_skipped(struct clone *c, const char *name)
{
	size_t i;

	c->xattrs_skipped++;
	for (i = 0; i < CLONE_SKIPPED_NAMES && c->skipped[i].name[0]; i++)
		if (!strncmp(c->skipped[i].name, name, sizeof(c->skipped[i].name) - 1))
			break;
	if (i == CLONE_SKIPPED_NAMES)
		return;
	if (!c->skipped[i].name[0])
		snprintf(c->skipped[i].name, sizeof(c->skipped[i].name), "%s", name);
	c->skipped[i].n++;
}

static int set_xattr(void *ud, const char *name, const void *value, size_t size)
{
	struct xattr_ctx *x = ud;
	int r;

	if (!restored(name)) {
		count_skipped(x->c, name);
		return 0;
	}
	if (x->link) {          /* Linux keeps no user.* or capability on a link */
		x->c->xattrs_on_links++;
		return 0;
	}
	r = x->fd >= 0 ? fsetxattr(x->fd, name, value, size, 0) : setxattr(x->proc, name, value, size, 0);
	if (r < 0)
		return rain_error_errno(RAIN_EIO, errno, "cloning the base image: %s: cannot set its extended "
					"attribute %s", x->path, name);
	x->c->xattrs_set++;
	return 0;
}

/* Owner, mode, attributes and time of what was just made: fd is the file
 * (writable) or an O_PATH fd (others; for links -1: pfd and name). */
static int finish(struct clone *c, const struct rain_imgfs_entry *e, int fd, int pfd, const char *name)
{
	char proc[64];
	struct xattr_ctx x = { .c = c, .path = e->path, .fd = -1, .proc = proc, .link = S_ISLNK(e->mode) };
	struct timespec ts[2] = { { .tv_sec = e->mtime }, { .tv_sec = e->mtime } };
	int r;

	if (e->uid >= SANDBOX_IDS || e->gid >= SANDBOX_IDS)
		return rain_error_set(RAIN_EFORMAT, "cloning the base image: %s belongs to uid %u, gid %u: a "
				      "build's tree holds ids below %u only", e->path, e->uid, e->gid, SANDBOX_IDS);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (x.link) {
		if (fchownat(pfd, name, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0)
			return rain_error_errno(RAIN_EIO, errno, "cloning the base image: cannot chown %s", e->path);
	} else if (S_ISREG(e->mode)) {
		x.fd = fd;
		if (fchown(fd, e->uid, e->gid) < 0 || fchmod(fd, e->mode & 07777) < 0)
			return rain_error_errno(RAIN_EIO, errno, "cloning the base image: cannot chown or chmod %s",
						e->path);
	} else {
		/* chown first: it drops setuid bits and capabilities */
		if (fchownat(fd, "", e->uid, e->gid, AT_EMPTY_PATH) < 0 || chmod(proc, e->mode & 07777) < 0)
			return rain_error_errno(RAIN_EIO, errno, "cloning the base image: cannot chown or chmod %s",
						e->path);
	}
	r = rain_imgfs_xattrs(c->fs, e, set_xattr, &x);
	if (r < 0)
		return r;
	if (S_ISDIR(e->mode)) {         /* after its entries are made */
		struct dir_time *d;

		if (ARRAY_GROW(c->dirs, c->ndirs, c->dircap) < 0)
			return rain_error_oom();
		d = &c->dirs[c->ndirs];
		d->mtime = e->mtime;
		d->path = strdup(e->path[1] ? e->path + 1 : ".");
		if (!d->path)
			return rain_error_oom();
		c->ndirs++;
		return 0;
	}
	r = x.link ? utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) :
	    S_ISREG(e->mode) ? futimens(fd, ts) : utimensat(AT_FDCWD, proc, ts, 0);
	if (r < 0)
		return rain_error_errno(RAIN_EIO, errno, "cloning the base image: cannot set the time of %s", e->path);
	return 0;
}

static int all_zero(const char *p, size_t n)
{
	return n == 0 || (p[0] == 0 && !memcmp(p, p + 1, n - 1));
}

/* The file's content into fd, zero runs as holes. */
static int copy_file(struct clone *c, const struct rain_imgfs_entry *e, struct rain_imgfs_file *f, int fd)
{
	uint64_t total = 0;

	if (!f)
		return rain_error_set(RAIN_EFORMAT, "cloning the base image: %s cannot be read: %s", e->path,
				      rain_error_last());
	for (;;) {
		ssize_t n = rain_imgfs_file_read(f, c->buf, CLONE_BUF);

		if (n < 0)
			return rain_error_set((int)n, "cloning the base image: %s: %s", e->path, rain_error_last());
		if (n == 0)
			break;
		for (size_t off = 0; off < (size_t)n; off += CLONE_HOLE) {
			size_t len = (size_t)n - off < CLONE_HOLE ? (size_t)n - off : CLONE_HOLE;
			int r;

			if (all_zero(c->buf + off, len)) {
				if (lseek(fd, (off_t)len, SEEK_CUR) < 0)
					return rain_error_errno(RAIN_EIO, errno, "cloning the base image: %s", e->path);
				continue;
			}
			r = fs_write_all(fd, c->buf + off, len, e->path);
			if (r < 0)
				return r;
		}
		total += (uint64_t)n;
	}
	if (ftruncate(fd, (off_t)total) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cloning the base image: %s", e->path);
	c->bytes += total;
	return 0;
}

/* A second name of a file already made. */
static int make_hardlink(struct clone *c, const struct first_name *first, int pfd, const char *name,
			 const char *path)
{
	_cleanup_close_ int fd = fs_open_beneath(c->rootfd, first->path, O_PATH, 0);
	char proc[64];

	if (fd < 0)
		return rain_error_set(fd, "cloning the base image: %s: %s", path, rain_error_last());
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, pfd, name, AT_SYMLINK_FOLLOW) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cloning the base image: cannot link %s to /%s", path,
					first->path);
	c->hardlinks++;
	return 0;
}

static int make_entry(void *ud, const struct rain_imgfs_entry *e, struct rain_imgfs_file *f)
{
	struct clone *c = ud;
	const char *name;
	_cleanup_close_ int fd = -1;
	int pfd, r;

	if (!strcmp(e->path, "/"))
		return finish(c, e, c->rootfd, -1, NULL);
	pfd = parent_of(c, e->path, &name);
	if (pfd < 0)
		return pfd;
	/* (not devices and sockets: they are not made) */
	if ((S_ISREG(e->mode) || S_ISLNK(e->mode) || S_ISFIFO(e->mode)) && e->nlink > 1 && e->node) {
		struct first_name *slot = NULL;

		r = first_name_find(c, e->node, &slot);
		if (r < 0)
			return r;
		if (slot->node)
			return make_hardlink(c, slot, pfd, name, e->path);
		slot->path = strdup(e->path + 1);
		if (!slot->path)
			return rain_error_oom();
		slot->node = e->node;
		c->nnames++;
	}
	switch (e->mode & S_IFMT) {
	case S_IFDIR:
		if (mkdirat(pfd, name, 0700) < 0)
			return rain_error_errno(RAIN_EIO, errno, "cloning the base image: cannot create %s", e->path);
		c->ndirectories++;
		break;
	case S_IFREG:
		fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return rain_error_errno(RAIN_EIO, errno, "cloning the base image: cannot create %s", e->path);
		r = copy_file(c, e, f, fd);
		if (r < 0)
			return r;
		c->files++;
		return finish(c, e, fd, pfd, name);
	case S_IFLNK:
		if (symlinkat(e->link, pfd, name) < 0)
			return rain_error_errno(RAIN_EIO, errno, "cloning the base image: cannot create the link %s",
						e->path);
		c->symlinks++;
		return finish(c, e, -1, pfd, name);
	case S_IFIFO:
		if (mkfifoat(pfd, name, 0600) < 0)
			return rain_error_errno(RAIN_EIO, errno, "cloning the base image: cannot create %s", e->path);
		c->fifos++;
		break;
	case S_IFCHR:
	case S_IFBLK:
		if (mknodat(pfd, name, (e->mode & S_IFMT) | 0600, makedev(e->rdev_major, e->rdev_minor)) < 0) {
			if (errno != EPERM)
				return rain_error_errno(RAIN_EIO, errno, "cloning the base image: cannot create the "
							"device %s", e->path);
			if (!c->devices++)
				snprintf(c->first_device_path, sizeof(c->first_device_path), "%s", e->path);
			return 0;
		}
		break;
	default:                /* sockets: made by whoever listens */
		c->sockets++;
		return 0;
	}
	fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return rain_error_errno(RAIN_EIO, errno, "cloning the base image: cannot open %s", e->path);
	return finish(c, e, fd, pfd, name);
}

static void clone_free(struct clone *c)
{
	if (c->pfd >= 0 && c->pfd != c->rootfd)
		close(c->pfd);
	if (c->rootfd >= 0)
		close(c->rootfd);
	for (size_t i = 0; i < c->namecap; i++)
		free(c->names[i].path);
	free(c->names);
	for (size_t i = 0; i < c->ndirs; i++)
		free(c->dirs[i].path);
	free(c->dirs);
	free(c->buf);
	rain_imgfs_close(c->fs);
}

static void log_result(struct clone *c)
{
	struct build_ctx *b = c->b;
	const char *const *problems;
	size_t nproblems, total;

	build_log(b, "  %s: %llu directories, %llu files (%llu bytes), %llu symbolic links, %llu hard links, "
		  "%llu fifos; %llu extended attributes set", rain_imgfs_info(c->fs)->detail,
		  (unsigned long long)c->ndirectories, (unsigned long long)c->files, (unsigned long long)c->bytes,
		  (unsigned long long)c->symlinks, (unsigned long long)c->hardlinks, (unsigned long long)c->fifos,
		  (unsigned long long)c->xattrs_set);
	if (c->devices)
		build_log(b, "  skipped %llu device nodes (a build's sandbox cannot make them; its /dev is its "
			  "own), the first %s", (unsigned long long)c->devices, c->first_device_path);
	if (c->sockets)
		build_log(b, "  skipped %llu sockets", (unsigned long long)c->sockets);
	if (c->xattrs_skipped) {
		char names[600] = "";
		size_t len = 0;

		for (size_t i = 0; i < CLONE_SKIPPED_NAMES && c->skipped[i].name[0] && len < sizeof(names); i++)
			len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s x%llu", i ? ", " : "",
						c->skipped[i].name, (unsigned long long)c->skipped[i].n);
		build_log(b, "  skipped %llu extended attributes that are not restored (only security.capability, "
			  "system.posix_acl_* and user.* are): %s", (unsigned long long)c->xattrs_skipped, names);
	}
	if (c->xattrs_on_links)
		build_log(b, "  skipped %llu extended attributes of symbolic links", (unsigned long long)c->xattrs_on_links);
	problems = rain_imgfs_problems(c->fs, &nproblems, &total);
	for (size_t i = 0; i < nproblems && i < 20; i++)
		build_log(b, "  warning: %s", problems[i]);
	if (total > 20)
		build_log(b, "  warning: and %zu more things the reader skipped", total - 20);
}

/* In the user sandbox: read the image, make the tree (the sandbox's). */
static int clone_stage(void *ud)
{
	struct clone *c = ud;
	const char *fmt = !strcmp(c->disk_format, "qcow2") ? "qcow2" : "auto";
	const struct rain_imgfs_info *info;
	int r;

	c->b->in_sandbox = true;
	c->pfd = c->rootfd = -1;
	c->buf = malloc(CLONE_BUF);
	if (!c->buf)
		return rain_error_oom();
	r = rain_imgfs_open_read(read_at, &c->fd, c->size, "the base image", fmt, NULL, &c->fs);
	if (r < 0)
		goto done;
	info = rain_imgfs_info(c->fs);
	if (strcmp(info->format, "qcow2") && strcmp(info->format, "disk") && strcmp(info->format, "ext4")) {
		r = rain_error_set(RAIN_EFORMAT, "the base image (disk_format %s) is %s, not a disk or a file "
				   "system", c->disk_format, info->format);
		goto done;
	}
	if (mkdir(c->root, 0755) < 0) {
		r = rain_error_errno(RAIN_EIO, errno, "cannot create %s", c->root);
		goto done;
	}
	c->rootfd = open(c->root, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (c->rootfd < 0) {
		r = rain_error_errno(RAIN_EIO, errno, "cannot open %s", c->root);
		goto done;
	}
	r = rain_imgfs_walk(c->fs, make_entry, c);
	/* directories' times last: their entries changed them */
	for (size_t i = 0; r == 0 && i < c->ndirs; i++) {
		struct timespec ts[2] = { { .tv_sec = c->dirs[i].mtime }, { .tv_sec = c->dirs[i].mtime } };

		if (utimensat(c->rootfd, c->dirs[i].path, ts, AT_SYMLINK_NOFOLLOW) < 0)
			r = rain_error_errno(RAIN_EIO, errno, "cloning the base image: cannot set the time of /%s",
					     c->dirs[i].path);
	}
	if (r == 0)
		log_result(c);
done:
	clone_free(c);
	return r;
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
	_cleanup_close_ int fd = -1;
	struct clone c = { .b = b, .root = root, .disk_format = disk_format };
	struct process_opts po = { .on_line = stage_line, .ud = b, .cancel = b->o->cancel, .timeout_s = 3600,
				   .name = "the base image's cloning" };
	struct sandbox s = { .network = false, .env = env };
	struct stat st;
	int r;

	if (strcmp(disk_format, "qcow2") && strcmp(disk_format, "raw"))
		return rain_error_set(RAIN_EINVAL, "%s: [image] base: the image's disk format is %s; "
				      "cloning needs raw or qcow2", b->r->file, disk_format);
	if ((r = build_clone_inspect(b, data, disk_format)) < 0 || (r = build_cgroup_setup(b, false)) < 0)
		return r;
	/* the sandbox reads the data through this descriptor only */
	fd = open(data, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot open the base image's data %s", data);
	c.fd = fd;
	c.size = (uint64_t)st.st_size;
	build_sandbox_limits(b, &s);
	build_log(b, "== cloning the base image (read as data, not mounted)");
	return sandbox_run(&s, clone_stage, &c, &po);
}
