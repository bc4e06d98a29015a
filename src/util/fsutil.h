/* File-system helpers. All return 0 or a negative rain error code. */
#ifndef RAIN_UTIL_FSUTIL_H
#define RAIN_UTIL_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Create dir and its parents with mode (existing dirs are left alone). */
int fs_mkdir_p(const char *dir, mode_t mode);

/* fsync a directory so that a rename or unlink inside it is durable. */
int fs_fsync_dir(const char *dir);

/* Write all of data to fd, again after EINTR and short writes. RAIN_EIO
 * or RAIN_ENOSPC with a message naming what otherwise. */
int fs_write_all(int fd, const void *data, size_t len, const char *what);

/* Write data to path atomically (temp file, fsync, rename) with mode. */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Read a whole small file (at most max bytes) into a new NUL-terminated
 * buffer owned by the caller. RAIN_ETOOBIG past max. */
int fs_read_small(const char *path, size_t max, char **out, size_t *outlen);

/* Move a file: rename, or copy (then unlink) across file systems. */
int fs_move(const char *src, const char *dst);

/* Copy size bytes of in to out (sized to size first), only in's data
 * extents so that holes stay holes, then fsync out; dst names out in
 * messages. */
int fs_copy_sparse(int in, int out, off_t size, const char *dst);

/* ---- files in directories someone else controls ----
 * For trees an untrusted party wrote (a build sandbox's): path is
 * resolved under the directory dirfd only, and no component may be a
 * symbolic link (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS; O_NOFOLLOW and O_CLOEXEC are added to flags).
 * Check, change and hash what is opened through the fd (fstat, fchown,
 * fchmod), never by path again. */

/* The new fd, or RAIN_EFORBIDDEN for a symlink or a path leading out of
 * dirfd, RAIN_ENOTFOUND, RAIN_EIO (with a message naming path). */
int fs_open_beneath(int dirfd, const char *path, int flags, mode_t mode);

/* Like fs_open_beneath (without O_CREAT), and the file must be a regular
 * file (with single_link: with no other hard link) or it is refused with
 * RAIN_EFORBIDDEN; *st (may be NULL) is its fstat. */
int fs_open_regular_beneath(int dirfd, const char *path, int flags, bool single_link, struct stat *st);

/* Read what is left of fd (at most max bytes, else RAIN_ETOOBIG) into a
 * new NUL-terminated buffer; what names it in messages. */
int fs_read_small_fd(int fd, size_t max, const char *what, char **out, size_t *outlen);

/* Remove path and everything below it, never following symlinks nor
 * crossing into another file system. A missing path is fine. */
int fs_remove_tree(const char *path);

/* Join dir and name with one slash into a new string (NULL on ENOMEM). */
char *fs_path_join(const char *dir, const char *name);

/* True when name is usable as one path component: printable, no '/',
 * not "." or "..", at most 255 bytes. */
int fs_name_is_safe(const char *name);

/* The SHA-256 of a file (lowercase hex in out) and its size in *size.
 * 0, or RAIN_EIO naming path. */
int fs_sha256_file(const char *path, char out[65], int64_t *size);
/* The same from fd's start (read with pread); path names it in messages. */
int fs_sha256_fd(int fd, const char *path, char out[65], int64_t *size);
/* A file's SHA-256 and SHA-512 (Glance's os_hash_value), each computed
 * in a thread of its own, and its size; 0, or RAIN_EIO naming path. */
int fs_sha256_sha512_file(const char *path, char sha256[65], char sha512[129], int64_t *size);

#endif
