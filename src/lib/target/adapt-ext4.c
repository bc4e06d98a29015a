/* An ext2/3/4 file system inside a disk file (the copy adaptation makes),
 * changed in user space through libext2fs: nothing mounted, nothing of the
 * image run. Paths are looked up component by component from the root and
 * no symbolic link is ever followed; what changes works on a directory's
 * inode and a name, never on a path read back from the image.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <et/com_err.h>
#include <ext2fs/ext2fs.h>

#include "lib/target/adapt-internal.h"
#include "rain/error.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/strutil.h"

struct adapt_fs {
	ext2_filsys fs;
	char name[256];
};

static int e2err(struct adapt_fs *x, errcode_t err, const char *what, const char *path)
{
	return rain_error_set(err == EXT2_ET_DIR_NO_SPACE || err == EXT2_ET_BLOCK_ALLOC_FAIL ||
					      err == EXT2_ET_INODE_ALLOC_FAIL ? RAIN_ENOSPC : RAIN_EFORMAT,
			      "ext4 %s: cannot %s %s: %s", x->name, what, path, error_message(err));
}

static pthread_once_t error_table_once = PTHREAD_ONCE_INIT;

static void error_table_init(void)
{
	initialize_ext2_error_table();
}

int adapt_fs_open(const char *disk, uint64_t offset, uint64_t length, const char *name, struct adapt_fs **out)
{
	_cleanup_free_ struct adapt_fs *x = calloc(1, sizeof(*x));
	char opts[64];
	errcode_t err;

	*out = NULL;
	if (!x)
		return rain_error_oom();
	snprintf(x->name, sizeof(x->name), "%s", name);
	snprintf(opts, sizeof(opts), "offset=%llu", (unsigned long long)offset);
	pthread_once(&error_table_once, error_table_init);
	err = ext2fs_open2(disk, opts, EXT2_FLAG_RW | EXT2_FLAG_64BITS | EXT2_FLAG_SKIP_MMP, 0, 0,
			   unix_io_manager, &x->fs);
	if (err) {
		x->fs = NULL;
		return rain_error_set(RAIN_EFORMAT, "%s is no ext2/3/4 file system rain can change: %s", name,
				      error_message(err));
	}
	if (ext2fs_blocks_count(x->fs->super) > length / x->fs->blocksize) {
		ext2fs_free(x->fs);
		return rain_error_set(RAIN_EFORMAT, "ext4 %s: the file system (%llu blocks of %u bytes) is larger "
				      "than its partition (%llu bytes): the image is corrupt", name,
				      (unsigned long long)ext2fs_blocks_count(x->fs->super), x->fs->blocksize,
				      (unsigned long long)length);
	}
	if (ext2fs_has_feature_journal_needs_recovery(x->fs->super)) {
		ext2fs_free(x->fs);
		return rain_error_set(RAIN_EFORMAT, "ext4 %s: the file system was not unmounted cleanly (its "
				      "journal holds changes not written yet): rain does not replay it; shut "
				      "the image's machine down cleanly, or run e2fsck on it, and store it again",
				      name);
	}
	err = ext2fs_read_bitmaps(x->fs);
	if (err) {
		ext2fs_free(x->fs);
		return rain_error_set(RAIN_EFORMAT, "ext4 %s: cannot read its bitmaps: %s", name,
				      error_message(err));
	}
	*out = TAKE_PTR(x);
	return 0;
}

int adapt_fs_close(struct adapt_fs *x, bool write)
{
	errcode_t err = 0;
	int r = 0;

	if (!x)
		return 0;
	if (write) {
		err = ext2fs_close2(x->fs, 0);
		if (err)
			r = rain_error_set(RAIN_EIO, "ext4 %s: cannot write the changes back: %s", x->name,
					   error_message(err));
		if (err)
			ext2fs_free(x->fs);
	} else {
		ext2fs_free(x->fs);
	}
	free(x);
	return r;
}

/* A component of an image path: no "", ".", ".." and at most 255 bytes. */
static bool component_ok(const char *s, size_t n)
{
	return n > 0 && n <= EXT2_NAME_LEN && !(n == 1 && s[0] == '.') && !(n == 2 && s[0] == '.' && s[1] == '.');
}

/* What a link points to, for messages ("?" when it cannot be read). */
static void link_target(struct adapt_fs *x, ext2_ino_t ino, struct ext2_inode *in, char *out, size_t outsz)
{
	ext2_file_t f;
	unsigned int got = 0;
	size_t n = EXT2_I_SIZE(in) < outsz - 1 ? EXT2_I_SIZE(in) : outsz - 1;

	snprintf(out, outsz, "?");
	if (ext2fs_is_fast_symlink(in)) {
		memcpy(out, (const char *)in->i_block, n < sizeof(in->i_block) ? n : sizeof(in->i_block));
		out[n < sizeof(in->i_block) ? n : sizeof(in->i_block)] = '\0';
		return;
	}
	if (ext2fs_file_open2(x->fs, ino, in, 0, &f) == 0) {
		if (ext2fs_file_read(f, out, (unsigned int)n, &got) == 0)
			out[got] = '\0';
		ext2fs_file_close(f);
	}
	for (size_t i = 0; out[i]; i++)
		if ((unsigned char)out[i] < 0x20)
			out[i] = '?';
}

static int refuse_link(struct adapt_fs *x, ext2_ino_t ino, struct ext2_inode *in, const char *path, size_t len)
{
	char target[256];

	link_target(x, ino, in, target, sizeof(target));
	return rain_error_set(RAIN_EFORMAT, "the image's %.*s is a symbolic link (to %s): rain changes no "
			      "file through a link of the image; make it a file or directory there",
			      (int)len, path, target);
}

/* Look path up. With parent set: only its directory is looked up (it must
 * be one), *name points at the last component in path and *ino is the
 * directory's inode. Else *ino is path's own inode and *in (may be NULL)
 * its inode (links at the path are returned, not refused). RAIN_ENOTFOUND
 * when a component is missing. */
static int lookup(struct adapt_fs *x, const char *path, bool parent, ext2_ino_t *ino, struct ext2_inode *in,
		  const char **name)
{
	ext2_ino_t cur = EXT2_ROOT_INO;
	struct ext2_inode inode;
	const char *p = path;
	errcode_t err;

	if (path[0] != '/')
		return rain_error_set(RAIN_EINVAL, "adapt: %s is no absolute path", path);
	err = ext2fs_read_inode(x->fs, cur, &inode);
	if (err)
		return e2err(x, err, "read", "/");
	for (;;) {
		const char *c, *e;
		ext2_ino_t next;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		c = p;
		e = strchrnul(c, '/');
		if (!component_ok(c, (size_t)(e - c)))
			return rain_error_set(RAIN_EINVAL, "adapt: %s is no plain path", path);
		if (!LINUX_S_ISDIR(inode.i_mode))
			return rain_error_set(RAIN_EFORMAT, "the image's %.*s is no directory", (int)(c - 1 - path),
					      path);
		if (parent && !*e) {
			*ino = cur;
			*name = c;
			return 0;
		}
		err = ext2fs_lookup(x->fs, cur, c, (int)(e - c), NULL, &next);
		if (err == EXT2_ET_FILE_NOT_FOUND)
			return rain_error_set(RAIN_ENOTFOUND, "the image has no %.*s", (int)(e - path), path);
		if (err)
			return e2err(x, err, "look up", path);
		err = ext2fs_read_inode(x->fs, next, &inode);
		if (err)
			return e2err(x, err, "read", path);
		if (LINUX_S_ISLNK(inode.i_mode) && *e)
			return refuse_link(x, next, &inode, path, (size_t)(e - path));
		cur = next;
		p = e;
	}
	if (parent)
		return rain_error_set(RAIN_EINVAL, "adapt: %s names no file", path);
	*ino = cur;
	if (in)
		*in = inode;
	return 0;
}

/* path's inode, which must be a regular file (a link at path is refused). */
static int lookup_regular(struct adapt_fs *x, const char *path, ext2_ino_t *ino, struct ext2_inode *in)
{
	int r = lookup(x, path, false, ino, in, NULL);

	if (r < 0)
		return r;
	if (LINUX_S_ISLNK(in->i_mode))
		return refuse_link(x, *ino, in, path, strlen(path));
	if (!LINUX_S_ISREG(in->i_mode))
		return rain_error_set(RAIN_EFORMAT, "the image's %s is no regular file", path);
	return 0;
}

int adapt_fs_stat(struct adapt_fs *x, const char *path, bool *exists, uint32_t *mode)
{
	struct ext2_inode in;
	ext2_ino_t ino;
	int r = lookup(x, path, false, &ino, &in, NULL);

	*exists = r == 0;
	if (r == RAIN_ENOTFOUND) {
		rain_error_clear();
		return 0;
	}
	if (r < 0)
		return r;
	if (mode)
		*mode = in.i_mode;
	return 0;
}

int adapt_fs_read(struct adapt_fs *x, const char *path, size_t max, char **data, size_t *len)
{
	_cleanup_free_ char *buf = NULL;
	struct ext2_inode in;
	ext2_ino_t ino;
	ext2_file_t f;
	unsigned int got = 0;
	uint64_t size;
	errcode_t err;
	int r;

	*data = NULL;
	r = lookup_regular(x, path, &ino, &in);
	if (r < 0)
		return r;
	size = EXT2_I_SIZE(&in);
	if (size > max)
		return rain_error_set(RAIN_ETOOBIG, "the image's %s is larger than %zu bytes", path, max);
	buf = malloc((size_t)size + 1);
	if (!buf)
		return rain_error_oom();
	err = ext2fs_file_open2(x->fs, ino, &in, 0, &f);
	if (err)
		return e2err(x, err, "open", path);
	err = ext2fs_file_read(f, buf, (unsigned int)size, &got);
	ext2fs_file_close(f);
	if (err)
		return e2err(x, err, "read", path);
	buf[got] = '\0';
	*len = got;
	*data = TAKE_PTR(buf);
	return 0;
}

int adapt_fs_copy_out(struct adapt_fs *x, const char *path, const char *dst)
{
	struct ext2_inode in;
	ext2_ino_t ino;
	ext2_file_t f;
	errcode_t err = 0;
	char buf[1 << 16];
	int fd, r;

	r = lookup_regular(x, path, &ino, &in);
	if (r < 0)
		return r;
	fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot create %s", dst);
	err = ext2fs_file_open2(x->fs, ino, &in, 0, &f);
	if (err) {
		close(fd);
		return e2err(x, err, "open", path);
	}
	for (;;) {
		unsigned int got = 0;

		err = ext2fs_file_read(f, buf, sizeof(buf), &got);
		if (err) {
			r = e2err(x, err, "read", path);
			break;
		}
		if (got == 0)
			break;
		r = fs_write_all(fd, buf, got, dst);
		if (r < 0)
			break;
	}
	ext2fs_file_close(f);
	if (r == 0 && fsync(fd) < 0)
		r = rain_error_errno(RAIN_EIO, errno, "cannot sync %s", dst);
	close(fd);
	return r;
}

static uint32_t now(struct adapt_fs *x)
{
	return x->fs->now ? (uint32_t)x->fs->now : (uint32_t)time(NULL);
}

/* Write data into inode ino from its start and set its size to len. */
static int write_data(struct adapt_fs *x, ext2_ino_t ino, const char *path, const void *data, size_t len)
{
	ext2_file_t f;
	unsigned int put = 0;
	errcode_t err, err2;

	err = ext2fs_file_open(x->fs, ino, EXT2_FILE_WRITE, &f);
	if (err)
		return e2err(x, err, "open", path);
	err = ext2fs_file_set_size2(f, 0);
	for (size_t done = 0; !err && done < len; done += put) {
		err = ext2fs_file_write(f, (const char *)data + done, (unsigned int)(len - done), &put);
		if (!err && put == 0)
			err = EXT2_ET_SHORT_WRITE;
	}
	if (!err)
		err = ext2fs_file_set_size2(f, len);
	if (!err) {
		struct ext2_inode *in = ext2fs_file_get_inode(f);

		in->i_mtime = in->i_ctime = now(x);
	}
	err2 = ext2fs_file_close(f);
	if (!err)
		err = err2;
	return err ? e2err(x, err, "write", path) : 0;
}

/* Link ino as name (namelen bytes of path) into directory dir, growing it
 * when full. */
static errcode_t link_name(struct adapt_fs *x, ext2_ino_t dir, const char *name, ext2_ino_t ino, int type)
{
	errcode_t err = ext2fs_link(x->fs, dir, name, ino, type);

	if (err == EXT2_ET_DIR_NO_SPACE) {
		err = ext2fs_expand_dir(x->fs, dir);
		if (!err)
			err = ext2fs_link(x->fs, dir, name, ino, type);
	}
	return err;
}

/* A new empty regular file name in dir (mode: permission bits). */
static int create_file(struct adapt_fs *x, ext2_ino_t dir, const char *name, uint32_t mode, const char *path,
		       ext2_ino_t *out)
{
	struct ext2_inode in;
	ext2_ino_t ino;
	errcode_t err;

	err = ext2fs_new_inode(x->fs, dir, LINUX_S_IFREG | 0644, NULL, &ino);
	if (!err)
		err = link_name(x, dir, name, ino, EXT2_FT_REG_FILE);
	if (err)
		return e2err(x, err, "create", path);
	ext2fs_inode_alloc_stats2(x->fs, ino, +1, 0);
	memset(&in, 0, sizeof(in));
	in.i_mode = LINUX_S_IFREG | (mode & 07777);
	in.i_atime = in.i_ctime = in.i_mtime = now(x);
	in.i_links_count = 1;
	if (ext2fs_has_feature_inline_data(x->fs->super)) {
		in.i_flags |= EXT4_INLINE_DATA_FL;
	} else if (ext2fs_has_feature_extents(x->fs->super)) {
		ext2_extent_handle_t h;

		err = ext2fs_extent_open2(x->fs, ino, &in, &h);
		if (err)
			return e2err(x, err, "create", path);
		ext2fs_extent_free(h);
	}
	err = ext2fs_write_new_inode(x->fs, ino, &in);
	if (!err && (in.i_flags & EXT4_INLINE_DATA_FL))
		err = ext2fs_inline_data_init(x->fs, ino);
	if (err)
		return e2err(x, err, "create", path);
	*out = ino;
	return 0;
}

int adapt_fs_write(struct adapt_fs *x, const char *path, const void *data, size_t len, uint32_t mode)
{
	_cleanup_free_ char *name = NULL;
	struct ext2_inode in;
	ext2_ino_t dir, ino;
	const char *base;
	int r;

	r = lookup(x, path, true, &dir, NULL, &base);
	if (r < 0)
		return r;
	r = lookup(x, path, false, &ino, &in, NULL);
	if (r == 0) {
		if (LINUX_S_ISLNK(in.i_mode))
			return refuse_link(x, ino, &in, path, strlen(path));
		if (!LINUX_S_ISREG(in.i_mode))
			return rain_error_set(RAIN_EFORMAT, "the image's %s is no regular file", path);
	} else if (r == RAIN_ENOTFOUND) {
		rain_error_clear();
		name = strdup(base);
		if (!name)
			return rain_error_oom();
		r = create_file(x, dir, name, mode, path, &ino);
	}
	if (r < 0)
		return r;
	return write_data(x, ino, path, data, len);
}

int adapt_fs_truncate(struct adapt_fs *x, const char *path)
{
	struct ext2_inode in;
	ext2_ino_t ino;
	int r = lookup_regular(x, path, &ino, &in);

	if (r == RAIN_ENOTFOUND) {
		rain_error_clear();
		return 0;
	}
	if (r < 0)
		return r;
	if (EXT2_I_SIZE(&in) == 0)
		return 1;
	r = write_data(x, ino, path, "", 0);
	return r < 0 ? r : 1;
}

/* Drop one link of ino; free it when it was the last. */
static int release_inode(struct adapt_fs *x, ext2_ino_t ino, const char *path)
{
	struct ext2_inode in;
	errcode_t err = ext2fs_read_inode(x->fs, ino, &in);

	if (err)
		return e2err(x, err, "read", path);
	if (in.i_links_count > 1) {
		in.i_links_count--;
		in.i_ctime = now(x);
		err = ext2fs_write_inode(x->fs, ino, &in);
		return err ? e2err(x, err, "write", path) : 0;
	}
	in.i_links_count = 0;
	in.i_dtime = now(x);
	err = ext2fs_write_inode(x->fs, ino, &in);
	if (!err && ext2fs_inode_has_valid_blocks2(x->fs, &in))
		err = ext2fs_punch(x->fs, ino, &in, NULL, 0, ~0ULL);
	if (!err && ext2fs_file_acl_block(x->fs, &in)) {
		blk64_t blk = ext2fs_file_acl_block(x->fs, &in);
		__u32 count = 0;

		err = ext2fs_adjust_ea_refcount3(x->fs, blk, NULL, -1, &count, ino);
		if (!err && count == 0)
			ext2fs_block_alloc_stats2(x->fs, blk, -1);
	}
	if (err)
		return e2err(x, err, "free", path);
	ext2fs_inode_alloc_stats2(x->fs, ino, -1, 0);
	return 0;
}

int adapt_fs_unlink(struct adapt_fs *x, const char *path)
{
	_cleanup_free_ char *name = NULL;
	struct ext2_inode in;
	ext2_ino_t dir, ino;
	const char *base;
	errcode_t err;
	int r;

	r = lookup(x, path, false, &ino, &in, NULL);
	if (r == RAIN_ENOTFOUND) {
		rain_error_clear();
		return 0;
	}
	if (r < 0)
		return r;
	if (LINUX_S_ISDIR(in.i_mode))
		return rain_error_set(RAIN_EINVAL, "the image's %s is a directory, not removed", path);
	r = lookup(x, path, true, &dir, NULL, &base);
	if (r < 0)
		return r;
	if (!(name = strdup(base)))
		return rain_error_oom();
	err = ext2fs_unlink(x->fs, dir, name, ino, 0);
	if (err)
		return e2err(x, err, "remove", path);
	r = release_inode(x, ino, path);
	return r < 0 ? r : 1;
}

int adapt_fs_mkdir(struct adapt_fs *x, const char *path)
{
	_cleanup_free_ char *prefix = strdup(path);
	char *slash;

	if (!prefix)
		return rain_error_oom();
	/* each prefix of path in turn: "/a", "/a/b", ... */
	for (slash = prefix + 1;; slash++) {
		_cleanup_free_ char *name = NULL;
		struct ext2_inode in;
		ext2_ino_t dir, ino;
		const char *base;
		bool last;
		errcode_t err;
		int r;

		slash = strchrnul(slash, '/');
		last = !*slash || !slash[1];
		*slash = '\0';
		r = lookup(x, prefix, false, &ino, &in, NULL);
		if (r == 0 && LINUX_S_ISLNK(in.i_mode))
			return refuse_link(x, ino, &in, prefix, strlen(prefix));
		if (r == 0 && !LINUX_S_ISDIR(in.i_mode))
			return rain_error_set(RAIN_EFORMAT, "the image's %s is no directory", prefix);
		if (r == RAIN_ENOTFOUND) {
			rain_error_clear();
			r = lookup(x, prefix, true, &dir, NULL, &base);
			if (r < 0)
				return r;
			if (!(name = strdup(base)))
				return rain_error_oom();
			err = ext2fs_mkdir(x->fs, dir, 0, name);
			if (err == EXT2_ET_DIR_NO_SPACE) {
				err = ext2fs_expand_dir(x->fs, dir);
				if (!err)
					err = ext2fs_mkdir(x->fs, dir, 0, name);
			}
			if (err)
				return e2err(x, err, "make the directory", prefix);
		} else if (r < 0) {
			return r;
		}
		if (last)
			return 0;
		*slash = '/';
	}
}

int adapt_fs_symlink(struct adapt_fs *x, const char *path, const char *target)
{
	_cleanup_free_ char *name = NULL, *tgt = strdup(target);
	struct ext2_inode in;
	ext2_ino_t dir, ino;
	const char *base;
	errcode_t err;
	int r;

	if (!tgt)
		return rain_error_oom();
	r = lookup(x, path, false, &ino, &in, NULL);
	if (r == 0 && !LINUX_S_ISLNK(in.i_mode))
		return rain_error_set(RAIN_EFORMAT, "the image's %s is there and no symbolic link: rain does "
				      "not replace it by one", path);
	if (r == 0)
		r = adapt_fs_unlink(x, path);
	if (r == RAIN_ENOTFOUND)
		rain_error_clear();
	else if (r < 0)
		return r;
	r = lookup(x, path, true, &dir, NULL, &base);
	if (r < 0)
		return r;
	if (!(name = strdup(base)))
		return rain_error_oom();
	err = ext2fs_symlink(x->fs, dir, 0, name, tgt);
	if (err == EXT2_ET_DIR_NO_SPACE) {
		err = ext2fs_expand_dir(x->fs, dir);
		if (!err)
			err = ext2fs_symlink(x->fs, dir, 0, name, tgt);
	}
	return err ? e2err(x, err, "make the link", path) : 0;
}

struct listing {
	struct adapt_fs *x;
	char **names;
	uint32_t *modes;
	size_t n;
	int r;
};

static int list_fn(ext2_ino_t dir, int entry, struct ext2_dir_entry *d, int offset, int blocksize, char *buf,
		   void *ud)
{
	struct listing *l = ud;
	int len = ext2fs_dirent_name_len(d);
	struct ext2_inode in;
	char name[EXT2_NAME_LEN + 1];
	uint32_t *modes;
	size_t n = l->n;

	if (!d->inode || !component_ok(d->name, (size_t)len) || memchr(d->name, '/', (size_t)len) ||
	    memchr(d->name, '\0', (size_t)len))
		return 0;
	memcpy(name, d->name, (size_t)len);
	name[len] = '\0';
	if (ext2fs_read_inode(l->x->fs, d->inode, &in))
		return 0;
	if (strv_add(&l->names, &l->n, name) < 0) {
		l->r = rain_error_oom();
		return DIRENT_ABORT;
	}
	modes = reallocarray(l->modes, l->n, sizeof(*modes));
	if (!modes) {
		l->r = rain_error_oom();
		return DIRENT_ABORT;
	}
	l->modes = modes;
	l->modes[n] = in.i_mode;
	return 0;
}

int adapt_fs_list(struct adapt_fs *x, const char *path, char ***names, uint32_t **modes, size_t *n)
{
	struct listing l = { .x = x };
	struct ext2_inode in;
	ext2_ino_t ino;
	errcode_t err;
	int r;

	*names = NULL;
	*modes = NULL;
	*n = 0;
	r = lookup(x, path, false, &ino, &in, NULL);
	if (r < 0)
		return r;
	if (LINUX_S_ISLNK(in.i_mode))
		return refuse_link(x, ino, &in, path, strlen(path));
	if (!LINUX_S_ISDIR(in.i_mode))
		return rain_error_set(RAIN_EFORMAT, "the image's %s is no directory", path);
	err = ext2fs_dir_iterate2(x->fs, ino, 0, NULL, list_fn, &l);
	if (!l.r && err)
		l.r = e2err(x, err, "read the directory", path);
	if (l.r < 0) {
		strv_free(l.names, l.n);
		free(l.modes);
		return l.r;
	}
	*names = l.names;
	*modes = l.modes;
	*n = l.n;
	return 0;
}

int adapt_fs_set_label(struct adapt_fs *x, const char *label)
{
	if (strlen(label) > sizeof(x->fs->super->s_volume_name))
		return rain_error_set(RAIN_EINVAL, "the label %s is longer than 16 bytes", label);
	memset(x->fs->super->s_volume_name, 0, sizeof(x->fs->super->s_volume_name));
	memcpy(x->fs->super->s_volume_name, label, strlen(label));
	ext2fs_mark_super_dirty(x->fs);
	return 0;
}
