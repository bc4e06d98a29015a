/* The cached bases' bound: rain_build_cache_prune (rain/build.h). A base
 * is cache_dir/bases/KEY with its lock KEY.lock (a build holds it shared
 * while it uses the base, exclusively while it makes it) and, once
 * measured, KEY.size (its bytes on disk, written here once: measuring a
 * tree of hundreds of MiB at every build would cost more than it saves).
 * The lock file's mtime is when the base was last used. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rain/build.h"
#include "rain/error.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/strutil.h"

#define BASES_MAX 4096

struct cached {
	char name[80];          /* KEY, or KEY.new (a killed build's leftover) */
	int64_t bytes;
	int64_t used;           /* the lock's mtime, seconds */
};

static int64_t tree_bytes;

static int add_bytes(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)flag;
	(void)ftw;
	tree_bytes += (int64_t)st->st_blocks * 512;
	return 0;
}

/* KEY.size, measured now when missing. Not thread-safe (rain generate is
 * one thread). */
static int64_t base_bytes(int dfd, const char *bases, const char *name)
{
	char sizefile[96], buf[32];
	_cleanup_free_ char *path = fs_path_join(bases, name);
	_cleanup_close_ int fd = -1;
	ssize_t n;

	snprintf(sizefile, sizeof(sizefile), "%.40s.size", name);
	fd = openat(dfd, sizefile, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0 && (n = read(fd, buf, sizeof(buf) - 1)) > 0) {
		int64_t v;

		buf[n] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		if (str_to_i64(buf, &v) == 0 && v >= 0)
			return v;
	}
	if (!path)
		return 0;
	tree_bytes = 0;
	nftw(path, add_bytes, 32, FTW_PHYS | FTW_MOUNT);
	closep(&fd);
	fd = openat(dfd, sizefile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd >= 0)
		dprintf(fd, "%lld\n", (long long)tree_bytes);
	return tree_bytes;
}

static int by_use(const void *a, const void *b)
{
	const struct cached *x = a, *y = b;

	return x->used < y->used ? -1 : x->used > y->used;
}

/* Remove bases/NAME if nobody holds its lock: renamed away first, so
 * that it is gone at once for any build looking for it. */
static bool remove_base(int dfd, const char *bases, const char *name)
{
	char lock[96], gone[128], sizefile[96];
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *path = NULL;
	const char *key = name;
	size_t keylen = strcspn(name, ".");

	snprintf(lock, sizeof(lock), "%.*s.lock", (int)keylen, key);
	fd = openat(dfd, lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
		return false;
	snprintf(gone, sizeof(gone), "%.40s.gone-%d", name, (int)getpid());
	if (renameat(dfd, name, dfd, gone) < 0)
		return false;
	snprintf(sizefile, sizeof(sizefile), "%.40s.size", name);
	unlinkat(dfd, sizefile, 0);
	path = fs_path_join(bases, gone);
	if (path)
		fs_remove_tree(path);
	return true;
}

int rain_build_cache_prune(const char *cache_dir, int64_t max, const char *keep, int *removed,
			   int64_t *freed)
{
	_cleanup_free_ char *bases = fs_path_join(cache_dir, "bases");
	_cleanup_free_ struct cached *v = NULL;
	_cleanup_close_ int dfd = -1;
	size_t n = 0, cap = 0;
	int64_t total = 0;
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (removed)
		*removed = 0;
	if (freed)
		*freed = 0;
	if (!bases)
		return rain_error_oom();
	dfd = open(bases, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? 0 : rain_error_errno(RAIN_EIO, errno, "cannot read %s", bases);
	d = fdopendir(dup(dfd));
	if (!d)
		return rain_error_errno(RAIN_EIO, errno, "cannot read %s", bases);
	while ((de = readdir(d)) && n < BASES_MAX) {
		char lock[96];
		struct stat st;
		size_t keylen = strcspn(de->d_name, ".");

		/* what a removal interrupted left: nobody's */
		if (keylen == 32 && strstr(de->d_name, ".gone-")) {
			_cleanup_free_ char *path = fs_path_join(bases, de->d_name);

			if (path)
				fs_remove_tree(path);
			continue;
		}
		/* KEY (32 hex) and KEY.new; not the lock and size files */
		if (keylen != 32 || (de->d_name[keylen] && strcmp(de->d_name + keylen, ".new")) ||
		    fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if ((r = ARRAY_GROW(v, n, cap)) < 0)
			break;
		snprintf(v[n].name, sizeof(v[n].name), "%.40s", de->d_name);
		snprintf(lock, sizeof(lock), "%.32s.lock", de->d_name);
		v[n].used = fstatat(dfd, lock, &st, 0) == 0 ? (int64_t)st.st_mtime : 0;
		v[n].bytes = base_bytes(dfd, bases, de->d_name);
		total += v[n].bytes;
		n++;
	}
	closedir(d);
	if (r < 0)
		return r;
	qsort(v, n, sizeof(*v), by_use);
	for (size_t i = 0; i < n && total > max; i++) {
		if (keep && !strncmp(v[i].name, keep, 32))
			continue;
		if (!remove_base(dfd, bases, v[i].name))
			continue;
		total -= v[i].bytes;
		if (removed)
			(*removed)++;
		if (freed)
			*freed += v[i].bytes;
	}
	return 0;
}
