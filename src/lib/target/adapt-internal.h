/* Inside adaptation (rain/adapt.h): the boot loader's configuration read
 * and changed as text (adapt-boot.c, fuzzed by tests/fuzz/fuzz-adapt-boot.c),
 * and an ext2/3/4 file system inside a disk file changed in user space
 * through libext2fs (adapt-ext4.c). Everything here works on the copy in
 * the op's workdir, never on a stored image.
 */
#ifndef RAIN_ADAPT_INTERNAL_H
#define RAIN_ADAPT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rain/adapt.h"

/* ---- boot loader configuration (adapt-boot.c) ---- */

enum adapt_boot_kind {
	ADAPT_BOOT_GRUB,        /* grub.cfg: menuentry { linux PATH ARGS; initrd PATH } */
	ADAPT_BOOT_EXTLINUX,    /* extlinux.conf / syslinux.cfg: LINUX, INITRD, APPEND */
	/* /etc/default/grub: GRUB_CMDLINE_LINUX="..." (what update-grub
	 * writes into grub.cfg); only adapt_boot_add_console() */
	ADAPT_BOOT_GRUB_DEFAULT,
};

/* What the default entry of a configuration boots: paths as written
 * (grub's "(hd0,msdos1)" device prefix taken off), the command line
 * without the kernel. Owned: adapt_boot_clear(). */
struct adapt_boot {
	char *kernel;
	char *initrd;           /* NULL: none named */
	char *cmdline;          /* "" when none */
};

/* The entry text (len bytes, not NUL-terminated, any content) boots by
 * default: grub's first menuentry (or, without menuentries, its first
 * linux line); extlinux's DEFAULT label, else its first LABEL. 0 with
 * *out filled, RAIN_ENOTFOUND when it names no kernel, RAIN_ETOOBIG
 * for a text over 1 MiB. */
int adapt_boot_parse(enum adapt_boot_kind kind, const char *text, size_t len, struct adapt_boot *out);
void adapt_boot_clear(struct adapt_boot *b);

/* text with "console=DEV,115200" added to every kernel command line that
 * lacks a console=DEV (grub: linux/linux16/linuxefi lines; extlinux:
 * APPEND lines, and one APPEND added to a LABEL that has none; default
 * grub: the quoted values of GRUB_CMDLINE_LINUX= lines). A new
 * NUL-terminated string (free()) in *out, *changed says whether it differs.
 * dev: "ttyS0", "ttyAMA0". */
int adapt_boot_add_console(enum adapt_boot_kind kind, const char *text, size_t len, const char *dev,
			   char **out, bool *changed);

/* Whether a command line has console=DEV (with or without options). */
bool adapt_cmdline_has_console(const char *cmdline, const char *dev);

/* Whether module (virtio_blk or virtio-blk) is in a modules.dep or
 * modules.builtin text (lines "kernel/.../NAME.ko[.xz|.zst|.gz][: deps]"). */
bool adapt_modules_has(const char *text, size_t len, const char *module);

/* ---- an ext2/3/4 file system, changed in place (adapt-ext4.c) ---- */

struct adapt_fs;

/* Open the file system at offset in disk (length bytes from there) for
 * writing. RAIN_EFORMAT when it is no ext2/3/4, larger than length, or
 * needs its journal replayed; name names it in messages. */
int adapt_fs_open(const char *disk, uint64_t offset, uint64_t length, const char *name,
		  struct adapt_fs **out);
/* Write everything back and close (write false: drop the changes, as
 * after a failure). The handle is freed either way. NULL is fine. */
int adapt_fs_close(struct adapt_fs *x, bool write);

/* Paths are absolute in the image ("/etc/fstab"), made of components that
 * are no "." or ".."; they are looked up component by component and no
 * symbolic link is followed: a link on the way (or at the path, for what
 * changes a file) is refused with RAIN_EFORMAT naming the path and where
 * it points. */

/* Whether path exists; *mode (may be NULL) its type and permissions
 * (lstat's view: S_IFLNK for a link at the path itself). */
int adapt_fs_stat(struct adapt_fs *x, const char *path, bool *exists, uint32_t *mode);
/* The regular file at path as a new NUL-terminated buffer (free()):
 * RAIN_ENOTFOUND, RAIN_ETOOBIG past max bytes. */
int adapt_fs_read(struct adapt_fs *x, const char *path, size_t max, char **data, size_t *len);
/* Copy the regular file at path out to dst (a new file, 0644). */
int adapt_fs_copy_out(struct adapt_fs *x, const char *path, const char *dst);
/* Make path a regular file holding data (new: owned by root with mode;
 * an existing file keeps its owner and mode). */
int adapt_fs_write(struct adapt_fs *x, const char *path, const void *data, size_t len, uint32_t mode);
/* Cut the regular file at path to 0 bytes. 1 when it was there, 0 when not. */
int adapt_fs_truncate(struct adapt_fs *x, const char *path);
/* Remove the file or link at path (a link is removed, not followed). 1
 * when it was there, 0 when not; RAIN_EINVAL for a directory. */
int adapt_fs_unlink(struct adapt_fs *x, const char *path);
/* Make directory path (and missing parents) 0755, owned by root. */
int adapt_fs_mkdir(struct adapt_fs *x, const char *path);
/* Make path a symbolic link to target (replacing a link that is there;
 * anything else there is refused). */
int adapt_fs_symlink(struct adapt_fs *x, const char *path, const char *target);
/* The names in directory path (not "." and ".."; names that are no safe
 * single component are left out) with their modes: *n of them in *names
 * (strv_free(*names, *n)) and *modes (free()). RAIN_ENOTFOUND when absent. */
int adapt_fs_list(struct adapt_fs *x, const char *path, char ***names, uint32_t **modes, size_t *n);
/* Set the file system's label (at most 16 bytes). */
int adapt_fs_set_label(struct adapt_fs *x, const char *label);

/* ---- the changes (adapt-edit.c) ---- */

/* 0 when key (may be NULL) is one OpenSSH public key line ("TYPE BASE64
 * [COMMENT]", printable, at most 16 KiB); RAIN_EINVAL saying what is wrong. */
int adapt_check_ssh_key(const char *key);

struct adapt_edit {
	struct rain_target_op *op;
	const struct rain_adapt_opts *o;
	struct adapt_fs *fs;            /* the copy's root file system */
	bool cloud_init;                /* /usr/bin/cloud-init is there */
	const char *console;            /* "ttyS0" */
	const char *boot_config;        /* its path in the image, or NULL */
	enum adapt_boot_kind boot_kind;
	char **cmdline;                 /* what the kernel boots with; the
					 * console is added to it */
};

/* Make the changes rain/adapt.h lists (sysprep, contextualization, the
 * label and fstab, the serial console), logging each through op. */
int adapt_edit(struct adapt_edit *e);

#endif
