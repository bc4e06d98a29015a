/* The filesystem blob backend.
 *
 * Layout under the store's directory (all private, 0700/0600):
 *   sha256/ab/abcdef...   one file per blob, named by its SHA-256
 *   tmp/                  named temporaries, only where O_TMPFILE is absent
 * A write goes to an anonymous O_TMPFILE in sha256/, is fsynced and then
 * linked under its hash, so a crash can never leave a half-written blob
 * visible nor an orphaned temporary behind.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rain/sys/blob.h"
#include "rain/error.h"
#include "util/fsutil.h"
#include "util/strutil.h"

struct fs_store {
	char *root;
	char *objects;  /* root/sha256 */
	char *tmpdir;   /* root/tmp */
};

struct fs_tmp {
	int fd;
	char *path;     /* NULL for an O_TMPFILE */
	int64_t written;
	int64_t kicked; /* bytes handed to writeback so far */
};

/* Start writeback every so many bytes, so that the disk works while data
 * still arrives and the final fsync has little left to do. */
#define WRITEBACK_STEP (8 << 20)

static int fs_open(const char *location, void **impl)
{
	struct fs_store *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return rain_error_oom();
	s->root = strdup(location);
	s->objects = fs_path_join(location, "sha256");
	s->tmpdir = fs_path_join(location, "tmp");
	if (!s->root || !s->objects || !s->tmpdir) {
		r = rain_error_oom();
		goto fail;
	}
	r = fs_mkdir_p(s->objects, 0700);
	if (r == 0)
		r = fs_mkdir_p(s->tmpdir, 0700);
	if (r < 0)
		goto fail;
	*impl = s;
	return 0;
fail:
	free(s->root);
	free(s->objects);
	free(s->tmpdir);
	free(s);
	return r;
}

static void fs_close(void *impl)
{
	struct fs_store *s = impl;

	free(s->root);
	free(s->objects);
	free(s->tmpdir);
	free(s);
}

static int fs_tmp_create(void *impl, void **out)
{
	struct fs_store *s = impl;
	struct fs_tmp *t = calloc(1, sizeof(*t));

	if (!t)
		return rain_error_oom();
	t->fd = open(s->objects, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (t->fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		if (asprintf(&t->path, "%s/upload.XXXXXX", s->tmpdir) < 0) {
			free(t);
			return rain_error_oom();
		}
		t->fd = mkostemp(t->path, O_CLOEXEC);
	}
	if (t->fd < 0) {
		int e = errno;

		free(t->path);
		free(t);
		return rain_error_errno(e == ENOSPC ? RAIN_ENOSPC : RAIN_EIO, e,
					"cannot create a temporary blob in %s", s->objects);
	}
	*out = t;
	return 0;
}

/* Blocks of zeros are not written but skipped, so that a sparse image
 * (most raw disks) is stored sparse: the file reads the same. */
#define HOLE_BLOCK 4096

static bool all_zero(const unsigned char *p, size_t len)
{
	return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

/* The length of the piece at the start of p (len bytes, at offset off of
 * the file) that is all data or, when *zero, all whole blocks of zeros:
 * pieces end at block boundaries of the file. */
static size_t piece(const unsigned char *p, size_t len, int64_t off, bool *zero)
{
	size_t n = HOLE_BLOCK - (size_t)(off % HOLE_BLOCK), at;

	if (n > len)
		n = len;
	*zero = n == HOLE_BLOCK && all_zero(p, n);
	for (at = n; at < len; at += n) {
		n = len - at < HOLE_BLOCK ? len - at : HOLE_BLOCK;
		if ((n == HOLE_BLOCK && all_zero(p + at, n)) != *zero)
			break;
	}
	return at < len ? at : len;
}

static int fs_tmp_write(void *impl, void *tmp, const void *buf, size_t len)
{
	struct fs_tmp *t = tmp;
	const unsigned char *p = buf;
	bool zero = false;
	int r = 0;

	while (len > 0 && r == 0) {
		size_t n = piece(p, len, t->written, &zero);

		if (!zero)
			r = fs_write_all(t->fd, p, n, "blob data");
		else if (lseek(t->fd, (off_t)n, SEEK_CUR) < 0)
			r = rain_error_errno(RAIN_EIO, errno, "cannot skip a hole in blob data");
		t->written += (int64_t)n;
		p += n;
		len -= n;
	}
	/* a hole at the end: the file's size says where the data ends */
	if (r == 0 && zero && ftruncate(t->fd, (off_t)t->written) < 0)
		r = rain_error_errno(errno == ENOSPC ? RAIN_ENOSPC : RAIN_EIO, errno,
				     "cannot extend blob data over a hole");
	if (r < 0)
		return r;
	if (t->written - t->kicked >= WRITEBACK_STEP) {
		/* a hint only: an error here shows again at fsync */
		sync_file_range(t->fd, t->kicked, t->written - t->kicked, SYNC_FILE_RANGE_WRITE);
		t->kicked = t->written;
	}
	return 0;
}

static ssize_t read_at(int fd, int64_t off, void *buf, size_t len)
{
	ssize_t n;

	do
		n = pread(fd, buf, len, off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot read blob");
	return n;
}

static ssize_t fs_tmp_read(void *impl, void *tmp, int64_t off, void *buf, size_t len)
{
	struct fs_tmp *t = tmp;

	return read_at(t->fd, off, buf, len);
}

static int fs_tmp_sync(void *impl, void *tmp)
{
	struct fs_tmp *t = tmp;

	if (fsync(t->fd) < 0)
		return rain_error_errno(errno == ENOSPC ? RAIN_ENOSPC : RAIN_EIO, errno,
					"cannot make blob data durable");
	return 0;
}

static void fs_tmp_discard(void *impl, void *tmp)
{
	struct fs_tmp *t = tmp;

	if (!t)
		return;
	if (t->fd >= 0)
		close(t->fd);
	if (t->path)
		unlink(t->path);
	free(t->path);
	free(t);
}

/* objects/ab/abcdef... and objects/ab */
static int blob_path(struct fs_store *s, const char *sha256, char **path, char **dir)
{
	if (asprintf(dir, "%s/%.2s", s->objects, sha256) < 0)
		return rain_error_oom();
	if (asprintf(path, "%s/%s", *dir, sha256) < 0) {
		free(*dir);
		return rain_error_oom();
	}
	return 0;
}

static int fs_tmp_publish(void *impl, void *tmp, const char *sha256)
{
	struct fs_store *s = impl;
	struct fs_tmp *t = tmp;
	_cleanup_free_ char *path = NULL, *dir = NULL;
	char proc[64];
	int r;

	r = blob_path(s, sha256, &path, &dir);
	if (r < 0)
		goto done;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		r = rain_error_errno(RAIN_EIO, errno, "cannot create %s", dir);
		goto done;
	}
	if (t->path) {
		/* link, not rename: an existing blob with that hash is kept */
		if (link(t->path, path) < 0 && errno != EEXIST)
			r = rain_error_errno(RAIN_EIO, errno, "cannot store blob %s", sha256);
	} else {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", t->fd);
		if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) < 0 && errno != EEXIST)
			r = rain_error_errno(RAIN_EIO, errno, "cannot store blob %s", sha256);
	}
	if (r == 0)
		r = fs_fsync_dir(dir);
	if (r == 0)
		r = fs_fsync_dir(s->objects);
done:
	fs_tmp_discard(impl, t);
	return r;
}

static int fs_read_open(void *impl, const char *sha256, struct rain_blob_reader *rd)
{
	struct fs_store *s = impl;
	_cleanup_free_ char *path = NULL, *dir = NULL;
	struct stat st;
	int r = blob_path(s, sha256, &path, &dir);

	if (r < 0)
		return r;
	rd->impl = NULL;
	rd->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (rd->fd < 0)
		return rain_error_errno(errno == ENOENT ? RAIN_ENOTFOUND : RAIN_EIO, errno,
					"cannot open blob %s", sha256);
	if (fstat(rd->fd, &st) < 0) {
		close(rd->fd);
		rd->fd = -1;
		return rain_error_errno(RAIN_EIO, errno, "cannot stat blob %s", sha256);
	}
	posix_fadvise(rd->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	rd->size = st.st_size;
	return 0;
}

static ssize_t fs_read(void *impl, struct rain_blob_reader *rd, int64_t off, void *buf, size_t len)
{
	return read_at(rd->fd, off, buf, len);
}

static void fs_read_close(void *impl, struct rain_blob_reader *rd)
{
	if (rd->fd >= 0)
		close(rd->fd);
	rd->fd = -1;
}

static int fs_exists(void *impl, const char *sha256, bool *yes)
{
	_cleanup_free_ char *path = NULL, *dir = NULL;
	int r = blob_path(impl, sha256, &path, &dir);

	if (r < 0)
		return r;
	*yes = access(path, F_OK) == 0;
	return 0;
}

static int fs_remove(void *impl, const char *sha256)
{
	_cleanup_free_ char *path = NULL, *dir = NULL;
	int r = blob_path(impl, sha256, &path, &dir);

	if (r < 0)
		return r;
	if (unlink(path) < 0 && errno != ENOENT)
		return rain_error_errno(RAIN_EIO, errno, "cannot remove blob %s", sha256);
	return fs_fsync_dir(dir);
}

static int fs_list(void *impl, int (*cb)(void *ud, const char *sha256), void *ud)
{
	struct fs_store *s = impl;
	DIR *top = opendir(s->objects);
	struct dirent *de;
	int r = 0;

	if (!top)
		return rain_error_errno(RAIN_EIO, errno, "cannot list %s", s->objects);
	while (r == 0 && (de = readdir(top))) {
		_cleanup_free_ char *sub = NULL;
		struct dirent *be;
		DIR *d;

		if (strlen(de->d_name) != 2 || !hex_is_valid(de->d_name, 2))
			continue;
		sub = fs_path_join(s->objects, de->d_name);
		if (!sub) {
			r = rain_error_oom();
			break;
		}
		d = opendir(sub);
		if (!d)
			continue;
		while (r == 0 && (be = readdir(d)))
			if (hex_is_valid(be->d_name, 64) && !strncmp(be->d_name, de->d_name, 2))
				r = cb(ud, be->d_name);
		closedir(d);
	}
	closedir(top);
	return r;
}

static int fs_purge_tmp(void *impl, int64_t before_us, int64_t *removed)
{
	struct fs_store *s = impl;
	DIR *d = opendir(s->tmpdir);
	struct dirent *de;

	*removed = 0;
	if (!d)
		return rain_error_errno(RAIN_EIO, errno, "cannot list %s", s->tmpdir);
	while ((de = readdir(d))) {
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		/* another raind's upload in flight on a shared folder is newer */
		if (before_us != INT64_MAX &&
		    (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		     (int64_t)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000 >= before_us))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			(*removed)++;
	}
	closedir(d);
	return 0;
}

const struct rain_blob_backend rain_blob_fs = {
	.version = RAIN_BLOB_BACKEND_VERSION,
	.name = "file",
	.open = fs_open,
	.close = fs_close,
	.tmp_create = fs_tmp_create,
	.tmp_write = fs_tmp_write,
	.tmp_read = fs_tmp_read,
	.tmp_sync = fs_tmp_sync,
	.tmp_publish = fs_tmp_publish,
	.tmp_discard = fs_tmp_discard,
	.read_open = fs_read_open,
	.read = fs_read,
	.read_close = fs_read_close,
	.exists = fs_exists,
	.remove = fs_remove,
	.list = fs_list,
	.purge_tmp = fs_purge_tmp,
};
