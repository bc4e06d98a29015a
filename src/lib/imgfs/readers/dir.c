/* imgfs reader "dir": an image's tree as a directory of the host (a
 * build's dir output, an extracted tree). Everything is opened beneath
 * the directory (openat2 RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV, O_NOFOLLOW): a link is read as
 * a link and never followed, so nothing outside the tree is reached, and
 * a mount point inside the tree is not crossed. Nodes are inode numbers;
 * files are found again by their path (which the front end gives without
 * links).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "rain/sys/imgfs.h"
#include "util/cleanup.h"

struct dirfs {
	struct rain_imgfs *fs;
	struct rain_imgfs_src *src;
	dev_t dev;
	char link[PATH_MAX + 1];
};

static int open_in(struct dirfs *d, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW | ((flags & O_PATH) ? 0 : O_NOCTTY)),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	const char *rel = path;
	int fd;

	while (*rel == '/')
		rel++;
	if (!*rel)
		rel = ".";
	do
		fd = (int)syscall(SYS_openat2, d->src->fd, rel, &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN);
	if (fd >= 0)
		return fd;
	if (errno == ENOENT || errno == ENOTDIR)
		return rain_error_set(RAIN_ENOTFOUND, "dir %s: there is no %s", d->src->name, path);
	if (errno == ELOOP || errno == EXDEV)
		return rain_error_set(RAIN_EFORBIDDEN, "dir %s: %s is a symbolic link or on another file system: "
				      "not followed", d->src->name, path);
	return rain_error_errno(RAIN_EIO, errno, "dir %s: cannot open %s", d->src->name, path);
}

/* The entry of name in the directory dfd (at dirpath, for messages). */
static int entry_at(struct dirfs *d, int dfd, const char *dirpath, const char *name, uint64_t *node,
		    struct rain_imgfs_entry *e)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return rain_error_errno(errno == ENOENT ? RAIN_ENOTFOUND : RAIN_EIO, errno, "dir %s: %s/%s",
					d->src->name, dirpath, name);
	if (st.st_dev != d->dev)
		return rain_error_set(RAIN_EFORBIDDEN, "dir %s: %s/%s is on another file system (a mount "
				      "point): not crossed", d->src->name, dirpath, name);
	*e = (struct rain_imgfs_entry){
		.mode = st.st_mode, .uid = st.st_uid, .gid = st.st_gid, .nlink = (uint32_t)st.st_nlink,
		.size = S_ISREG(st.st_mode) || S_ISLNK(st.st_mode) ? (uint64_t)st.st_size : 0,
		.rdev_major = major(st.st_rdev), .rdev_minor = minor(st.st_rdev), .mtime = st.st_mtime,
	};
	*node = st.st_ino;
	if (S_ISLNK(st.st_mode)) {
		ssize_t n = readlinkat(dfd, name, d->link, sizeof(d->link) - 1);

		if (n < 0)
			return rain_error_errno(RAIN_EIO, errno, "dir %s: cannot read the link %s/%s", d->src->name,
						dirpath, name);
		if ((size_t)n >= sizeof(d->link) - 1)
			return rain_error_set(RAIN_EFORMAT, "dir %s: the link %s/%s is longer than %zu bytes",
					      d->src->name, dirpath, name, sizeof(d->link) - 2);
		d->link[n] = '\0';
		e->link = d->link;
	}
	return 0;
}

static int dir_open(struct rain_imgfs *fs, struct rain_imgfs_src *src, const struct rain_imgfs_limits *lim,
		    void **impl, char *detail, size_t detail_len)
{
	_cleanup_free_ struct dirfs *d = calloc(1, sizeof(*d));
	struct stat st;

	if (!d)
		return rain_error_oom();
	if (src->fd < 0 || fstat(src->fd, &st) < 0 || !S_ISDIR(st.st_mode))
		return rain_error_set(RAIN_EFORMAT, "dir %s: not a directory", src->name);
	d->fs = fs;
	d->src = src;
	d->dev = st.st_dev;
	*impl = TAKE_PTR(d);
	return 0;
}

static void dir_close(void *impl)
{
	free(impl);
}

static int dir_root(void *impl, uint64_t *node, struct rain_imgfs_entry *e)
{
	struct dirfs *d = impl;

	return entry_at(d, d->src->fd, "", ".", node, e);
}

static int dir_lookup(void *impl, uint64_t dir, const char *dirpath, const char *name, uint64_t *node,
		      struct rain_imgfs_entry *e)
{
	struct dirfs *d = impl;
	_cleanup_close_ int dfd = open_in(d, dirpath, O_PATH | O_DIRECTORY);

	if (dfd < 0)
		return dfd;
	return entry_at(d, dfd, dirpath, name, node, e);
}

static void closedirp(DIR **p)
{
	if (*p)
		closedir(*p);
}

static int dir_readdir(void *impl, uint64_t dir, const char *dirpath, rain_imgfs_dirent_fn fn, void *ud)
{
	struct dirfs *d = impl;
	__attribute__((cleanup(closedirp))) DIR *dh = NULL;
	int dfd = open_in(d, dirpath, O_RDONLY | O_DIRECTORY);
	struct dirent *de;

	if (dfd < 0)
		return dfd;
	dh = fdopendir(dfd);
	if (!dh) {
		close(dfd);
		return rain_error_errno(RAIN_EIO, errno, "dir %s: cannot list %s", d->src->name, dirpath);
	}
	while ((errno = 0, de = readdir(dh))) {
		struct rain_imgfs_entry e;
		uint64_t node = 0;
		int r;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		r = entry_at(d, dirfd(dh), dirpath, de->d_name, &node, &e);
		if (r == RAIN_ENOTFOUND)
			continue;       /* removed meanwhile */
		if (r < 0) {
			rain_imgfs_problem(d->fs, "%s: skipped", rain_error_last());
			continue;
		}
		r = fn(ud, de->d_name, strlen(de->d_name), node, &e);
		if (r)
			return r;
	}
	if (errno)
		return rain_error_errno(RAIN_EIO, errno, "dir %s: cannot list %s", d->src->name, dirpath);
	return 0;
}

static int dir_open_file(void *impl, uint64_t node, const char *path, void **file)
{
	struct dirfs *d = impl;
	_cleanup_close_ int fd = open_in(d, path, O_RDONLY | O_NONBLOCK);
	struct stat st;
	int *p;

	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || fcntl(fd, F_SETFL, 0) < 0)
		return rain_error_set(RAIN_EFORMAT, "dir %s: %s is not a regular file", d->src->name, path);
	p = malloc(sizeof(*p));
	if (!p)
		return rain_error_oom();
	*p = TAKE_FD(fd);
	*file = p;
	return 0;
}

static ssize_t dir_read_file(void *impl, void *file, void *buf, size_t len)
{
	struct dirfs *d = impl;
	ssize_t n;

	do
		n = read(*(int *)file, buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return rain_error_errno(RAIN_EIO, errno, "dir %s: cannot read a file", d->src->name);
	return n;
}

static void dir_close_file(void *impl, void *file)
{
	close(*(int *)file);
	free(file);
}

/* The file's own attributes, through an O_PATH descriptor opened beneath
 * the directory (a link's are its own: the descriptor is the link). */
static int dir_xattrs(void *impl, uint64_t node, const char *path, const struct rain_imgfs_entry *e,
		      rain_imgfs_xattr_fn fn, void *ud)
{
	struct dirfs *d = impl;
	_cleanup_close_ int fd = open_in(d, path, O_PATH);
	_cleanup_free_ char *names = NULL, *value = NULL;
	char proc[64];
	ssize_t len;

	if (fd < 0)
		return fd;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	names = malloc(XATTR_LIST_MAX);
	value = malloc(XATTR_SIZE_MAX);
	if (!names || !value)
		return rain_error_oom();
	len = listxattr(proc, names, XATTR_LIST_MAX);
	if (len < 0 && (errno == ENOTSUP || errno == EPERM))
		return 0;
	if (len < 0) {
		rain_imgfs_problem(d->fs, "dir %s: %s: cannot list extended attributes: %s", d->src->name, path,
				   strerror(errno));
		return 0;
	}
	for (char *n = names; n < names + len; n += strlen(n) + 1) {
		ssize_t vlen = getxattr(proc, n, value, XATTR_SIZE_MAX);
		int r;

		if (vlen < 0) {
			rain_imgfs_problem(d->fs, "dir %s: %s: cannot read extended attribute %s: %s", d->src->name,
					   path, n, strerror(errno));
			continue;
		}
		r = fn(ud, n, value, (size_t)vlen);
		if (r)
			return r;
	}
	return 0;
}

const struct rain_imgfs_backend rain_imgfs_dir = {
	.version = RAIN_IMGFS_BACKEND_VERSION,
	.name = "dir",
	.open = dir_open,
	.close = dir_close,
	.root = dir_root,
	.lookup = dir_lookup,
	.readdir = dir_readdir,
	.open_file = dir_open_file,
	.read_file = dir_read_file,
	.close_file = dir_close_file,
	.xattrs = dir_xattrs,
};
