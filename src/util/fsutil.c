#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <pthread.h>

#include "rain/error.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/strutil.h"

#define HASH_BLOCK (1 << 20)     /* bytes read at a time to hash */

int fs_mkdir_p(const char *dir, mode_t mode)
{
	_cleanup_free_ char *copy = strdup(dir);
	char *p;

	if (!copy)
		return rain_error_oom();
	for (p = copy + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char saved = *p;

			*p = '\0';
			if (mkdir(copy, mode) < 0 && errno != EEXIST)
				return rain_error_errno(RAIN_EIO, errno, "cannot create %s", copy);
			*p = saved;
			if (!saved)
				break;
		}
	}
	return 0;
}

int fs_fsync_dir(const char *dir)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot open %s", dir);
	if (fsync(fd) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot fsync %s", dir);
	return 0;
}

int fs_write_all(int fd, const void *data, size_t len, const char *what)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			return rain_error_errno(e == ENOSPC || e == EDQUOT ? RAIN_ENOSPC : RAIN_EIO, e,
						"cannot write %s", what);
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	_cleanup_free_ char *tmp = NULL, *dir = NULL;
	const char *p = data;
	char *slash;
	int fd, r = 0;

	if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
		return rain_error_oom();
	/* a stale temporary (same pid, earlier process) must not lend us its mode */
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot create %s", tmp);
	r = fs_write_all(fd, p, len, tmp);
	if (r == 0 && fsync(fd) < 0)
		r = rain_error_errno(RAIN_EIO, errno, "cannot fsync %s", tmp);
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = rain_error_errno(RAIN_EIO, errno, "cannot rename %s", tmp);
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	dir = strdup(path);
	if (!dir)
		return rain_error_oom();
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		return fs_fsync_dir(*dir ? dir : "/");
	}
	return fs_fsync_dir(".");
}

int fs_read_small(const char *path, size_t max, char **out, size_t *outlen)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return rain_error_errno(errno == ENOENT ? RAIN_ENOTFOUND : RAIN_EIO,
					errno, "cannot open %s", path);
	return fs_read_small_fd(fd, max, path, out, outlen);
}

char *fs_path_join(const char *dir, const char *name)
{
	char *s;
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (asprintf(&s, "%.*s/%s", (int)n, dir, name) < 0)
		return NULL;
	return s;
}

int fs_name_is_safe(const char *name)
{
	return str_is_printable(name, 255) && !strchr(name, '/') &&
	       strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

int fs_copy_sparse(int in, int out, off_t size, const char *dst)
{
	int r = 0;

	/* data extents only, so that sparse disk images stay sparse */
	if (ftruncate(out, size) < 0)
		return rain_error_errno(errno == ENOSPC ? RAIN_ENOSPC : RAIN_EIO, errno, "cannot size %s", dst);
	for (off_t pos = 0; r == 0 && pos < size;) {
		off_t data = lseek(in, pos, SEEK_DATA), hole;
		char buf[1 << 16];

		if (data < 0)
			break;          /* ENXIO: only a hole is left */
		hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0 || hole > size)
			hole = size;
		for (pos = data; r == 0 && pos < hole;) {
			ssize_t n = pread(in, buf, (size_t)(hole - pos < (off_t)sizeof(buf) ? hole - pos : (off_t)sizeof(buf)), pos);

			if (n <= 0 || pwrite(out, buf, (size_t)n, pos) != n)
				r = rain_error_errno(errno == ENOSPC ? RAIN_ENOSPC : RAIN_EIO, n < 0 ? errno : EIO,
						     "cannot copy to %s", dst);
			else
				pos += n;
		}
	}
	if (r == 0 && fsync(out) < 0)
		r = rain_error_errno(RAIN_EIO, errno, "cannot sync %s", dst);
	return r;
}

int fs_move(const char *src, const char *dst)
{
	struct stat st;
	int in, out, r = 0;

	if (rename(src, dst) == 0)
		return 0;
	if (errno != EXDEV)
		return rain_error_errno(RAIN_EIO, errno, "cannot move %s to %s", src, dst);
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0) {
		r = rain_error_errno(RAIN_EIO, errno, "cannot read %s", src);
		if (in >= 0)
			close(in);
		return r;
	}
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 0777);
	if (out < 0) {
		close(in);
		return rain_error_errno(RAIN_EIO, errno, "cannot create %s", dst);
	}
	r = fs_copy_sparse(in, out, st.st_size, dst);
	close(in);
	close(out);
	if (r < 0)
		unlink(dst);
	else
		unlink(src);
	return r;
}

int fs_open_beneath(int dirfd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	int fd;

	do
		fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN);
	if (fd >= 0)
		return fd;
	if (errno == ELOOP || errno == EXDEV)
		return rain_error_set(RAIN_EFORBIDDEN, "%s is a symbolic link or leads out of its directory: "
				      "refused", path);
	return rain_error_errno(errno == ENOENT ? RAIN_ENOTFOUND : RAIN_EIO, errno, "cannot open %s", path);
}

int fs_open_regular_beneath(int dirfd, const char *path, int flags, bool single_link, struct stat *st)
{
	struct stat own;
	_cleanup_close_ int fd = fs_open_beneath(dirfd, path, flags & ~O_CREAT, 0);

	if (fd < 0)
		return fd;
	if (!st)
		st = &own;
	if (fstat(fd, st) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot stat %s", path);
	if (!S_ISREG(st->st_mode) || (single_link && st->st_nlink != 1))
		return rain_error_set(RAIN_EFORBIDDEN, "%s is not a regular file of its own (%s): refused", path,
				      !S_ISREG(st->st_mode) ? "another kind of file" : "it has other hard links");
	return TAKE_FD(fd);
}

int fs_read_small_fd(int fd, size_t max, const char *what, char **out, size_t *outlen)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap + 1);

	if (!buf)
		return rain_error_oom();
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *nb;

			if (cap > max) {
				free(buf);
				return rain_error_set(RAIN_ETOOBIG, "%s is larger than %zu bytes", what, max);
			}
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				return rain_error_oom();
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			free(buf);
			return rain_error_errno(RAIN_EIO, e, "cannot read %s", what);
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		free(buf);
		return rain_error_set(RAIN_ETOOBIG, "%s is larger than %zu bytes", what, max);
	}
	buf[len] = '\0';
	*out = buf;
	if (outlen)
		*outlen = len;
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type == FTW_DP)
		return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
	return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

int fs_remove_tree(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : rain_error_errno(RAIN_EIO, errno, "cannot remove %s", path);
	if (nftw(path, remove_entry, 64, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot remove %s", path);
	return 0;
}

/* fd's data from its start, a block at a time, holes given as zeros
 * without reading them (the kernel would fill page-cache pages with zeros
 * first). */
struct hash_reader {
	int fd;
	off_t pos, data_end, end;       /* end -1: no holes to look for */
};

static void reader_init(struct hash_reader *rd, int fd)
{
	struct stat st;

	*rd = (struct hash_reader){ .fd = fd, .end = -1 };
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		rd->end = st.st_size;
	else
		rd->data_end = INT64_MAX;
}

/* The next block into buf (HASH_BLOCK bytes): its length, 0 at the end,
 * or -errno. */
static ssize_t reader_next(struct hash_reader *rd, unsigned char *buf)
{
	ssize_t got;

	if (rd->end >= 0 && rd->pos >= rd->data_end) {
		off_t d = lseek(rd->fd, rd->pos, SEEK_DATA), h;

		if (d < 0 && errno == ENXIO)
			d = rd->end;    /* a hole up to the end */
		if (d > rd->pos) {
			size_t k = d - rd->pos < HASH_BLOCK ? (size_t)(d - rd->pos) : (size_t)HASH_BLOCK;

			memset(buf, 0, k);
			rd->pos += (off_t)k;
			return (ssize_t)k;
		}
		h = d < 0 ? -1 : lseek(rd->fd, rd->pos, SEEK_HOLE);
		rd->data_end = h > rd->pos ? h : INT64_MAX;
	}
	do
		got = pread(rd->fd, buf, rd->data_end - rd->pos < HASH_BLOCK ?
			    (size_t)(rd->data_end - rd->pos) : (size_t)HASH_BLOCK, rd->pos);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return -errno;
	rd->pos += got;
	return got;
}

static void digest_hex_final(EVP_MD_CTX *ctx, char *out)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_DigestFinal_ex(ctx, digest, &n);
	hex_encode(digest, n, out);
}

int fs_sha256_fd(int fd, const char *path, char out[65], int64_t *size)
{
	_cleanup_free_ unsigned char *buf = malloc(HASH_BLOCK);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	struct hash_reader rd;
	ssize_t n;
	int r = 0;

	*size = 0;
	if (!buf || !ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		r = rain_error_set(RAIN_ENOMEM, "cannot hash %s", path);
		goto done;
	}
	reader_init(&rd, fd);
	while ((n = reader_next(&rd, buf)) > 0)
		EVP_DigestUpdate(ctx, buf, (size_t)n);
	if (n < 0) {
		r = rain_error_errno(RAIN_EIO, (int)-n, "cannot read %s", path);
		goto done;
	}
	*size = rd.pos;
	digest_hex_final(ctx, out);
done:
	EVP_MD_CTX_free(ctx);
	return r;
}

/* The SHA-512 side of fs_sha256_sha512_file: each round, the block the
 * reading thread put in chunk between the two waits on the barrier. */
struct sha512_side {
	pthread_barrier_t round;
	EVP_MD_CTX *ctx;
	const unsigned char *chunk;
	size_t n;
	bool done;
};

static void *sha512_side_run(void *ud)
{
	struct sha512_side *d = ud;

	for (;;) {
		pthread_barrier_wait(&d->round);
		if (d->done)
			return NULL;
		EVP_DigestUpdate(d->ctx, d->chunk, d->n);
		pthread_barrier_wait(&d->round);
	}
}

int fs_sha256_sha512_file(const char *path, char sha256[65], char sha512[129], int64_t *size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ unsigned char *b0 = malloc(HASH_BLOCK), *b1 = malloc(HASH_BLOCK);
	unsigned char *buf[2] = { b0, b1 };
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	struct sha512_side d = { .ctx = EVP_MD_CTX_new() };
	struct hash_reader rd;
	bool threaded = false;
	pthread_t t;
	int cur = 0, r = 0;
	ssize_t n;

	*size = 0;
	if (fd < 0) {
		r = rain_error_errno(RAIN_EIO, errno, "cannot hash %s", path);
		goto done;
	}
	if (!b0 || !b1 || !ctx || !d.ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestInit_ex(d.ctx, EVP_sha512(), NULL) != 1) {
		r = rain_error_set(RAIN_ENOMEM, "cannot hash %s", path);
		goto done;
	}
	/* one read of the file; SHA-512 on another core while this thread
	 * does SHA-256 and reads the next block into the other buffer */
	threaded = pthread_barrier_init(&d.round, NULL, 2) == 0;
	if (threaded && pthread_create(&t, NULL, sha512_side_run, &d) != 0) {
		pthread_barrier_destroy(&d.round);
		threaded = false;
	}
	reader_init(&rd, fd);
	n = reader_next(&rd, buf[cur]);
	for (;;) {
		d.chunk = buf[cur];
		d.n = n > 0 ? (size_t)n : 0;
		d.done = n <= 0;
		if (threaded)
			pthread_barrier_wait(&d.round);
		if (n <= 0)
			break;
		EVP_DigestUpdate(ctx, buf[cur], (size_t)n);
		if (!threaded)
			EVP_DigestUpdate(d.ctx, buf[cur], (size_t)n);
		n = reader_next(&rd, buf[!cur]);
		if (threaded)
			pthread_barrier_wait(&d.round);
		cur = !cur;
	}
	if (threaded) {
		pthread_join(t, NULL);
		pthread_barrier_destroy(&d.round);
	}
	if (n < 0) {
		r = rain_error_errno(RAIN_EIO, (int)-n, "cannot read %s", path);
		goto done;
	}
	*size = rd.pos;
	digest_hex_final(ctx, sha256);
	digest_hex_final(d.ctx, sha512);
done:
	EVP_MD_CTX_free(ctx);
	EVP_MD_CTX_free(d.ctx);
	return r;
}

int fs_sha256_file(const char *path, char out[65], int64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	*size = 0;
	if (fd < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot hash %s", path);
	r = fs_sha256_fd(fd, path, out, size);
	close(fd);
	return r;
}
