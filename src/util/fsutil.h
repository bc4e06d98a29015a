/* File-system helpers. All return 0 or a negative rain error code. */
#ifndef RAIN_UTIL_FSUTIL_H
#define RAIN_UTIL_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* Create dir and its parents with mode (existing dirs are left alone). */
int fs_mkdir_p(const char *dir, mode_t mode);

/* fsync a directory so that a rename or unlink inside it is durable. */
int fs_fsync_dir(const char *dir);

/* Write data to path atomically (temp file, fsync, rename) with mode. */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Read a whole small file (at most max bytes) into a new NUL-terminated
 * buffer owned by the caller. RAIN_ETOOBIG past max. */
int fs_read_small(const char *path, size_t max, char **out, size_t *outlen);

/* Move a file: rename, or copy (then unlink) across file systems. */
int fs_move(const char *src, const char *dst);

/* Remove path and everything below it, never following symlinks nor
 * crossing into another file system. A missing path is fine. */
int fs_remove_tree(const char *path);

/* Join dir and name with one slash into a new string (NULL on ENOMEM). */
char *fs_path_join(const char *dir, const char *name);

/* True when name is usable as one path component: printable, no '/',
 * not "." or "..", at most 255 bytes. */
int fs_name_is_safe(const char *name);

#endif
