/* Reading an image's file tree without mounting it and without running
 * anything from it: what vetting (rain/vet.h) looks at and what a build
 * clones (base = image:REF, src/lib/build/build-clone.c).
 *
 * An image is opened from a file (or a directory tree) and read as data:
 * a directory, tar (plain or compressed: zstd, gzip, xz), ext2/3/4
 * (libext2fs), squashfs (libsquashfs), a raw disk with an MBR or GPT
 * partition table (the root file system is picked among its partitions;
 * info says which), and qcow2 (after rain_diskfmt_inspect(): no backing or
 * data file is ever opened). Each format is one backend behind the table
 * in rain/sys/imgfs.h.
 *
 * Paths are the image's own: absolute ("/", "/etc/passwd"), normalized.
 * Symbolic links are never followed out of the image: where a lookup
 * follows links it resolves them inside the image's tree ("/" is the
 * image's root, ".." stops there), at most RAIN_IMGFS_MAX_LINKS hops, else
 * RAIN_EFORMAT (a loop). Nothing on the host but the image file itself
 * (and, for formats that need one, a private temporary file that is
 * removed on close) is opened, read or written. Corrupt or hostile images
 * (absurd sizes, loops, overlong names, cycles of directories) give
 * RAIN_EFORMAT with a message naming the format, the path and what is
 * wrong; they never crash or hang (see the fuzzers in tests/fuzz).
 *
 * Not thread-safe per handle: one thread uses one rain_imgfs at a time.
 * Functions return 0 or a negative RAIN_E* code with a message set.
 */
#ifndef RAIN_IMGFS_H
#define RAIN_IMGFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RAIN_IMGFS_MAX_LINKS 40
#define RAIN_IMGFS_MAX_PATH 4096
/* Directories deeper than this are not walked (a problem is recorded). */
#define RAIN_IMGFS_MAX_DEPTH 256

struct rain_imgfs;
struct rain_imgfs_file;

/* What one entry of the tree is (lstat's view: a link is a link). */
struct rain_imgfs_entry {
	const char *path;       /* absolute inside the image, normalized */
	uint32_t mode;          /* type and permission bits, as st_mode */
	uint32_t uid, gid;
	uint64_t size;          /* regular files and links: bytes; others 0 */
	uint32_t nlink;
	const char *link;       /* a symbolic link's target as stored, else NULL */
	uint32_t rdev_major, rdev_minor;   /* device nodes */
	int64_t mtime;          /* seconds since the epoch */
	/* The reader's id of the file behind the entry (ext4, dir: the inode
	 * number; squashfs: the inode's place): the names of one file (hard
	 * links) have the same node. 0 where the format has none (tar). */
	uint64_t node;
};

struct rain_imgfs_limits {
	uint64_t max_entries;   /* entries in the tree; 0: 10,000,000 */
	uint64_t max_read;      /* bytes rain_imgfs_read may return; 0: 64 MiB */
	/* bytes rain_imgfs_file_read may return in one walk, all files
	 * together (a hostile image's sparse or compressed files can be huge
	 * for little data); past it file reads fail with RAIN_ETOOBIG;
	 * 0: 64 GiB */
	uint64_t max_walk_read;
};

struct rain_imgfs_info {
	const char *format;     /* "dir", "tar", "ext4", "squashfs", "disk", "qcow2" (static) */
	/* What was read, for reports: "tar.zst", "gpt partition 2 (ext4) at
	 * byte 1048576", "qcow2 -> gpt partition 1 (ext4)". */
	char detail[256];
	/* The partition of a disk the tree was read from (1: the first, as
	 * Linux numbers them: /dev/vda1), 0 when it is not in a partition. */
	unsigned partition;
	/* Where the file system lies in the disk it was read from (a qcow2's
	 * virtual disk; the file itself when it is no disk): byte offset and
	 * length. Opening that range as the format's file system reads the
	 * same tree (what rain_adapt() writes to). */
	uint64_t offset, length;
};

/* Open path, of format (NULL or "auto": told from its content; else one
 * of the names in info.format, "tar" taking any compression). lim may be
 * NULL. RAIN_ENOTFOUND when path is missing, RAIN_EFORMAT when it is not
 * an image of a known format (the message says what was seen), or when
 * a disk holds no file system that can be read. */
int rain_imgfs_open(const char *path, const char *format, const struct rain_imgfs_limits *lim,
		    struct rain_imgfs **out);
/* Extended attributes (rain_imgfs_xattrs) kept of one entry: past these
 * the rest of its attributes are skipped and a problem is recorded. A
 * value is at most XATTR_SIZE_MAX (64 KiB), as Linux allows. */
#define RAIN_IMGFS_MAX_XATTRS 128
#define RAIN_IMGFS_MAX_XATTR_NAME 255
#define RAIN_IMGFS_MAX_XATTR_VALUE 65536
#define RAIN_IMGFS_MAX_XATTR_BYTES (1024 * 1024)   /* names and values of one entry */

/* Read up to len bytes at off into buf: the number read (less than len
 * only at the end), or a negative RAIN_E* code with a message set (the
 * shape of rain/diskfmt.h's rain_diskfmt_read_fn). */
typedef ssize_t (*rain_imgfs_read_fn)(void *ud, uint64_t off, void *buf, size_t len);
/* Like rain_imgfs_open, for an image that is no file of this host (a
 * stored blob, a buffer): size bytes read through read(ud, ...); name
 * names it in messages. Not "dir". read and ud must stay usable until
 * rain_imgfs_close(). */
int rain_imgfs_open_read(rain_imgfs_read_fn read, void *ud, uint64_t size, const char *name,
			 const char *format, const struct rain_imgfs_limits *lim, struct rain_imgfs **out);
const struct rain_imgfs_info *rain_imgfs_info(const struct rain_imgfs *fs);
/* What was skipped while reading (entries with corrupt or overlong names,
 * directories met twice, entries past a limit, unreadable partitions), one
 * message each, oldest first: *n of them (at most 100 are kept), borrowed
 * until close; *total (may be NULL) counts them all. */
const char *const *rain_imgfs_problems(const struct rain_imgfs *fs, size_t *n, size_t *total);
/* Close and free (and remove any temporary file). NULL is fine. */
void rain_imgfs_close(struct rain_imgfs *fs);

/* The entry at path; follow: links (the last component's too) resolved
 * inside the image. Strings of *out stay valid until the next call on fs.
 * RAIN_ENOTFOUND when there is none. */
int rain_imgfs_stat(struct rain_imgfs *fs, const char *path, bool follow,
		    struct rain_imgfs_entry *out);
/* The content of the regular file at path (links resolved inside the
 * image) as a new NUL-terminated buffer (*len without the NUL; free()).
 * RAIN_ENOTFOUND; RAIN_EINVAL when it is not a regular file;
 * RAIN_ETOOBIG when it has more than max bytes (0: the limit's max_read). */
int rain_imgfs_read(struct rain_imgfs *fs, const char *path, size_t max, char **data,
		    size_t *len);

/* Called once per entry, parents before children, "/" first. f is the
 * content of a regular file, readable with rain_imgfs_file_read() during
 * the call only (NULL for other types). Return 0 to go on, 1 to skip a
 * directory's children, or a negative code, which stops the walk and is
 * returned by it. */
typedef int (*rain_imgfs_walk_fn)(void *ud, const struct rain_imgfs_entry *e,
				  struct rain_imgfs_file *f);
/* Every entry of the tree once (hard links: each name), in one pass.
 * Siblings come in name order (strcmp) except for tar, which gives the
 * archive's order (parents still first). Entries that cannot be walked
 * are skipped and recorded (rain_imgfs_problems()). */
int rain_imgfs_walk(struct rain_imgfs *fs, rain_imgfs_walk_fn fn, void *ud);
/* Called once per extended attribute: name ("security.capability",
 * "user.x", "system.posix_acl_access": ACLs in the xattr format that
 * setxattr(2) takes), value of size bytes (borrowed during the call).
 * A non-zero return stops and is returned by rain_imgfs_xattrs(). */
typedef int (*rain_imgfs_xattr_fn)(void *ud, const char *name, const void *value, size_t size);
/* The extended attributes of e, an entry rain_imgfs_walk() (during its
 * call) or rain_imgfs_stat() (until the next call on fs) gave, as stored,
 * in the reader's order. Formats: ext4 (ext2fs_xattrs_*), dir (the
 * file's own, read beneath the directory without following a link), tar
 * (libarchive's SCHILY.xattr / LIBARCHIVE.xattr records, during the walk
 * for the entry being walked; not GNU tar's text ACLs), squashfs (its xattr table); others have
 * none (0, fn never called). Attributes past the RAIN_IMGFS_MAX_XATTR*
 * limits or with a name that is empty, too long or not NUL-free are
 * skipped and recorded as problems; a corrupt xattr block is a problem,
 * not an error: 0 is returned for what was read. */
int rain_imgfs_xattrs(struct rain_imgfs *fs, const struct rain_imgfs_entry *e, rain_imgfs_xattr_fn fn,
		      void *ud);
/* Up to len bytes of the file from where the last read ended: bytes read,
 * 0 at the end, or a negative code. */
ssize_t rain_imgfs_file_read(struct rain_imgfs_file *f, void *buf, size_t len);

#endif
