/* The table an image reader implements (see rain/imgfs.h for the user API
 * and its contracts). For reader authors only: programs open an image with
 * rain_imgfs_open(), which tells the format from the data (each reader's
 * probe) or takes the one named.
 *
 * Two kinds of reader share the table:
 *  - file systems (dir, tar, ext4, squashfs) give a tree of nodes: open,
 *    close, root, lookup, readdir, open_file, read_file, close_file (and
 *    optionally walk);
 *  - containers (disk, qcow2) give what they hold as sources (contents):
 *    the front end (src/lib/imgfs/imgfs.c) opens each with the file-system
 *    readers and picks the root file system.
 *
 * The front end does everything common: path normalization, resolving
 * symbolic links inside the image (a reader never follows one), limits,
 * the order of the walk and cycles of directories. A reader reads only
 * through its source, never opens a host path (dir: only beneath its
 * directory), checks every field it reads against the source's size and
 * returns RAIN_EFORMAT with a message naming the format, the place and
 * what is wrong. Nodes are the reader's own 64-bit ids (ext4: inode
 * numbers); paths passed with them are absolute inside the image, with no
 * symbolic link in them (for readers that address by path: dir).
 */
#ifndef RAIN_SYS_IMGFS_H
#define RAIN_SYS_IMGFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rain/imgfs.h"

/* The version of struct rain_imgfs_backend; a reader sets .version to it. */
#define RAIN_IMGFS_BACKEND_VERSION 1

/* Longest name of one entry (longer ones are skipped as corrupt). */
#define RAIN_IMGFS_MAX_NAME 255

/* Where a reader reads: the image file, a range of it (a partition) or
 * the virtual disk of a qcow2. Owned by the rain_imgfs handle (freed at
 * close, after every reader that uses it). */
struct rain_imgfs_src {
	/* Up to len bytes at off: the number read (short only at the end of
	 * the source), or a negative code with a message set. */
	ssize_t (*pread)(struct rain_imgfs_src *src, void *buf, size_t len, uint64_t off);
	/* Free impl (optional). */
	void (*free)(struct rain_imgfs_src *src);
	void *impl;
	uint64_t size;          /* bytes */
	uint64_t base;          /* where it starts in the outermost disk (a
				 * partition's offset; 0 for a file or a
				 * qcow2's virtual disk) */
	int fd;                 /* dir: the directory (O_PATH); else -1 */
	char name[320];         /* for messages: "img.qcow2", "disk.raw: gpt partition 2" */
};

/* len cut to what src holds from off on (0 at or past its end): what a
 * pread method may return. */
static inline size_t rain_imgfs_src_clip(const struct rain_imgfs_src *src, uint64_t off, size_t len)
{
	if (off >= src->size)
		return 0;
	return len > src->size - off ? (size_t)(src->size - off) : len;
}

/* Read exactly len bytes at off: 0, or RAIN_EFORMAT naming what when the
 * source ends before (what: "the superblock"). */
int rain_imgfs_src_read(struct rain_imgfs_src *src, void *buf, size_t len, uint64_t off,
			const char *what);

/* One thing a container holds. */
struct rain_imgfs_part {
	struct rain_imgfs_src *src;     /* new; rain_imgfs_src_free() or handed back */
	char label[96];                 /* "gpt partition 2 at byte 1048576" */
	unsigned number;                /* 2: Linux's number for it (0: none) */
	bool linux_fs;                  /* the table marks it as a Linux file system */
};

/* A new source reading len bytes of parent from off (a partition); NULL
 * when out of memory. */
struct rain_imgfs_src *rain_imgfs_src_range(struct rain_imgfs_src *parent, uint64_t off, uint64_t len,
					    const char *label);
/* A new empty source (calloc'ed, fd -1) for a reader to fill; NULL on ENOMEM. */
struct rain_imgfs_src *rain_imgfs_src_new(void);
void rain_imgfs_src_free(struct rain_imgfs_src *src);

/* Record that something of the image was skipped or could not be read
 * (rain_imgfs_problems()); for readers, during any call. */
void rain_imgfs_problem(struct rain_imgfs *fs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Called by readdir for each entry but "." and "..": name (namelen bytes,
 * not NUL-terminated, checked by the front end), its node and what it is
 * (e->path is not set; strings valid during the call). A non-zero return
 * stops readdir, which returns it. */
typedef int (*rain_imgfs_dirent_fn)(void *ud, const char *name, size_t namelen, uint64_t node,
				    const struct rain_imgfs_entry *e);

/* Called by a reader's own walk for each entry, parents before children:
 * path normalized and absolute, file the open content of a regular file
 * (for read_file, during the call only) or NULL. Returns 0, 1 (skip a
 * directory's children) or a negative code (stop, returned by walk). */
typedef int (*rain_imgfs_node_fn)(void *ud, const char *path, const struct rain_imgfs_entry *e,
				  void *file);

struct rain_imgfs_backend {
	unsigned int version;   /* RAIN_IMGFS_BACKEND_VERSION */
	const char *name;       /* as in rain_imgfs_info.format */
	/* Whether data beginning with head (len bytes: the first 64 KiB, or
	 * all of a smaller source) is of this format. NULL: never guessed. */
	bool (*probe)(const unsigned char *head, size_t len);

	/* Containers: what src holds, as a new array of *n parts (free()
	 * it; each part's src is the caller's); detail says what was read
	 * ("gpt", "qcow2 v3"). */
	int (*contents)(struct rain_imgfs *fs, struct rain_imgfs_src *src, struct rain_imgfs_part **parts,
			size_t *n, char *detail, size_t detail_len);

	/* File systems. open keeps src (and fs, for problems) until close;
	 * detail (may stay "") says more of what was read ("tar.zst"). */
	int (*open)(struct rain_imgfs *fs, struct rain_imgfs_src *src, const struct rain_imgfs_limits *lim,
		    void **impl, char *detail, size_t detail_len);
	void (*close)(void *impl);
	/* The root directory: its node and entry (strings valid until the
	 * next call on impl). */
	int (*root)(void *impl, uint64_t *node, struct rain_imgfs_entry *e);
	/* name (one component, not "." or "..") in the directory dir at
	 * dirpath: RAIN_ENOTFOUND when there is none. */
	int (*lookup)(void *impl, uint64_t dir, const char *dirpath, const char *name, uint64_t *node,
		      struct rain_imgfs_entry *e);
	int (*readdir)(void *impl, uint64_t dir, const char *dirpath, rain_imgfs_dirent_fn fn, void *ud);
	/* The content of the regular file node at path, read from the start
	 * (read_file: bytes read, 0 at its end, or a negative code). */
	int (*open_file)(void *impl, uint64_t node, const char *path, void **file);
	ssize_t (*read_file)(void *impl, void *file, void *buf, size_t len);
	void (*close_file)(void *impl, void *file);
	/* Optional: the whole tree in the reader's own order (tar: the
	 * archive's, in one pass over its data); NULL: the front end walks
	 * with readdir. Honours fn's 1 (skip the children). */
	int (*walk)(void *impl, rain_imgfs_node_fn fn, void *ud);
	/* Optional: the extended attributes of node at path (e as the walk
	 * or lookup gave it), each through fn; the front end checks names,
	 * sizes and counts. NULL: the format keeps none. */
	int (*xattrs)(void *impl, uint64_t node, const char *path, const struct rain_imgfs_entry *e,
		      rain_imgfs_xattr_fn fn, void *ud);
};

/* The readers (src/lib/imgfs/readers/). */
extern const struct rain_imgfs_backend rain_imgfs_dir;
extern const struct rain_imgfs_backend rain_imgfs_tar;
extern const struct rain_imgfs_backend rain_imgfs_ext4;
extern const struct rain_imgfs_backend rain_imgfs_squashfs;
extern const struct rain_imgfs_backend rain_imgfs_disk;
extern const struct rain_imgfs_backend rain_imgfs_qcow2;

#endif
