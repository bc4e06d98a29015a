/* Adapting an image for a site (rain/adapt.h): the stored disk copied
 * into the op's workdir as a sparse raw disk (a qcow2 through qemu-img,
 * after rain_diskfmt_inspect() refused any backing or data file; a raw
 * one is checked by e2fsck -fn in place, read only, while it is copied), read
 * through imgfs (the root partition, the boot loader's configuration, the
 * kernel and its modules), changed through libext2fs (adapt-edit.c),
 * converted to the asked format and hashed. Nothing of the image is
 * mounted or run; the stored image is only read.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/target/adapt-internal.h"
#include "lib/target/target-internal.h"
#include "rain/adapt.h"
#include "rain/diskfmt.h"
#include "rain/error.h"
#include "rain/imgfs.h"
#include "util/cleanup.h"
#include "util/cleanup-json.h"
#include "util/fsutil.h"
#include "util/process.h"
#include "util/strutil.h"

#define GIB (1ll << 30)
/* the largest text of the image adaptation reads (configuration, module lists) */
#define MAX_TEXT (16u << 20)

/* What adaptation learns of the copy before changing it. */
struct adapt_ctx {
	struct rain_target_op *op;
	const struct rain_target_image *img;
	const struct rain_adapt_opts *o;
	int in;                         /* the stored image, read only */
	struct stat st;
	const char *src_format;         /* what it is: "raw", "qcow2" */
	char *raw;                      /* the copy: WORKDIR/disk.raw */
	int64_t virtual_size;
	uint64_t fs_offset, fs_length;  /* the root file system in raw */
	unsigned partition;
	/* the boot loader's configuration: path in the image, kind, entry */
	const char *boot_config;
	enum adapt_boot_kind boot_kind;
	char *kernel_path, *initrd_path;   /* real paths in the image */
	char *kernel_version, *cmdline;
	bool cloud_init;
};

static void ctx_clear(struct adapt_ctx *c)
{
	if (c->in >= 0)
		close(c->in);
	free(c->raw);
	free(c->kernel_path);
	free(c->initrd_path);
	free(c->kernel_version);
	free(c->cmdline);
}

ssize_t target_read_fd(void *ud, uint64_t off, void *buf, size_t len)
{
	int fd = *(int *)ud;
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return rain_error_errno(RAIN_EIO, errno, "cannot read the image");
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* ---- copying and converting ---- */

/* Copy the raw disk in (size bytes) to fd out, data extents only, with
 * progress and cancel between chunks. */
static int copy_raw(struct rain_target_op *op, int in, int out, int64_t size, const char *dst)
{
	_cleanup_free_ char *buf = malloc(1 << 20);
	int64_t done = 0, reported = 0;
	off_t flushed = 0;
	int r;

	if (!buf)
		return rain_error_oom();

	if (ftruncate(out, size) < 0)
		return rain_error_errno(errno == ENOSPC ? RAIN_ENOSPC : RAIN_EIO, errno, "cannot size %s", dst);
	for (off_t pos = 0; pos < size;) {
		off_t data = lseek(in, pos, SEEK_DATA), hole;

		if (data < 0)
			break;          /* ENXIO: a hole up to the end */
		hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0 || hole > size)
			hole = size;
		done += data - pos;
		for (pos = data; pos < hole;) {
			size_t want = hole - pos < (off_t)1 << 20 ? (size_t)(hole - pos) : (size_t)1 << 20;
			ssize_t n = pread(in, buf, want, pos);

			if (n <= 0)
				return rain_error_errno(RAIN_EIO, n < 0 ? errno : EIO, "cannot read the image %s",
							"to copy");
			/* blocks of zeros stay holes */
			if (!(buf[0] == 0 && memcmp(buf, buf + 1, (size_t)n - 1) == 0) &&
			    pwrite(out, buf, (size_t)n, pos) != n)
				return rain_error_errno(errno == ENOSPC ? RAIN_ENOSPC : RAIN_EIO, errno,
							"cannot write %s", dst);
			pos += n;
			done += n;
			if (done - reported >= 64 << 20) {
				/* start writing back what was copied, so that the
				 * fsync at the end waits for little */
				sync_file_range(out, flushed, pos - flushed, SYNC_FILE_RANGE_WRITE);
				flushed = pos;
				rain_target_progress(op, "copy", done, size);
				reported = done;
				r = rain_target_check_cancel(op);
				if (r < 0)
					return r;
			}
		}
	}
	rain_target_progress(op, "copy", size, size);
	if (fsync(out) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot sync %s", dst);
	return 0;
}

struct qemu_img_progress {
	struct rain_target_op *op;
	const char *what;
	int64_t total;
	char last[256];
};

/* A program's last line of output, for its error message. */
static void last_line(void *ud, const char *line)
{
	struct qemu_img_progress *p = ud;

	if (*line)
		snprintf(p->last, sizeof(p->last), "%s", line);
}

/* qemu-img -p prints "    (12.34/100%)" again and again */
static void qemu_img_line(void *ud, const char *line)
{
	struct qemu_img_progress *p = ud;
	const char *open = strrchr(line, '(');
	double pct;

	if (open && sscanf(open, "(%lf/100%%)", &pct) == 1 && pct >= 0 && pct <= 100)
		rain_target_progress(p->op, p->what, (int64_t)(pct / 100 * (double)p->total), p->total);
	else
		last_line(ud, line);
}

static int qemu_img_convert(struct rain_target_op *op, const char *what, const char *from_fmt,
			    const char *from, const char *to_fmt, const char *to, int64_t total)
{
	const char *argv[] = { "qemu-img", "convert", "-p", "-f", from_fmt, "-O", to_fmt, from, to, NULL };
	struct qemu_img_progress p = { .op = op, .what = what, .total = total };
	struct process_opts po = { .argv = argv, .stdin_fd = -1, .cancel = op->cancel,
				   .on_line = qemu_img_line, .on_partial = qemu_img_line, .ud = &p };
	int status, r;

	r = process_run(&po, &status);
	if (r == RAIN_ECANCELED && op->cancel && *op->cancel)
		return rain_target_check_cancel(op);
	if (r < 0)
		return r;
	if (status != 0)
		return rain_error_set(RAIN_EIO, "qemu-img convert -f %s -O %s %s failed (exit status %d)%s%s",
				      from_fmt, to_fmt, from, status, *p.last ? ": " : "", p.last);
	rain_target_progress(op, what, total, total);
	return 0;
}

/* WORKDIR/name, with what was there removed. */
static int work_path(struct rain_target_op *op, const char *name, char **out)
{
	char *p = fs_path_join(op->workdir, name);

	if (!p)
		return rain_error_oom();
	if (unlink(p) < 0 && errno != ENOENT) {
		int e = errno;

		free(p);
		return rain_error_errno(RAIN_EIO, e, "cannot remove %s/%s", op->workdir, name);
	}
	*out = p;
	return 0;
}

/* The stored image opened (c->in) and checked: its format and virtual
 * size, no backing or data file. */
static int open_stored(struct adapt_ctx *c)
{
	const struct rain_target_image *img = c->img;
	struct rain_diskfmt_info info;
	int r;

	c->in = open(img->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (c->in < 0 || fstat(c->in, &c->st) < 0)
		return rain_error_errno(errno == ENOENT ? RAIN_ENOTFOUND : RAIN_EIO, errno,
					"cannot read the image %s (%s)", img->name ? img->name : "", img->path);
	if (!S_ISREG(c->st.st_mode))
		return rain_error_set(RAIN_EINVAL, "the image's data %s is no regular file", img->path);
	r = rain_diskfmt_inspect(img->disk_format, c->st.st_size, target_read_fd, &c->in, &info);
	if (r < 0)
		return rain_error_set(r, "the image %s cannot be adapted: %s", img->name ? img->name : img->path,
				      rain_error_last());
	if (strcmp(info.format, "raw") != 0 && strcmp(info.format, "qcow2") != 0)
		return rain_error_set(RAIN_EINVAL, "the image %s is a %s disk: rain adapts raw and qcow2 disks only",
				      img->name ? img->name : img->path, info.format);
	c->src_format = info.format;
	c->virtual_size = info.virtual_size >= 0 ? info.virtual_size : c->st.st_size;
	return 0;
}

/* The stored image copied as WORKDIR/disk.raw. */
static int copy_in(struct adapt_ctx *c)
{
	_cleanup_close_ int out = -1;
	int r = work_path(c->op, "disk.raw", &c->raw);

	if (r < 0)
		return r;
	rain_target_log(c->op, RAIN_TARGET_INFO, "copying the image's %s disk (%lld MiB) to adapt it",
			c->src_format, (long long)(c->virtual_size >> 20));
	if (strcmp(c->src_format, "qcow2") == 0)
		return qemu_img_convert(c->op, "copy", "qcow2", c->img->path, "raw", c->raw, c->virtual_size);
	out = open(c->raw, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot create %s", c->raw);
	return copy_raw(c->op, c->in, out, c->st.st_size, c->raw);
}

/* ---- what the image boots ---- */

static const struct {
	const char *path;
	enum adapt_boot_kind kind;
} boot_configs[] = {
	{ "/boot/grub/grub.cfg", ADAPT_BOOT_GRUB },
	{ "/boot/grub2/grub.cfg", ADAPT_BOOT_GRUB },
	{ "/boot/extlinux/extlinux.conf", ADAPT_BOOT_EXTLINUX },
	{ "/extlinux.conf", ADAPT_BOOT_EXTLINUX },
	{ "/boot/syslinux/syslinux.cfg", ADAPT_BOOT_EXTLINUX },
	{ "/syslinux.cfg", ADAPT_BOOT_EXTLINUX },
};

/* path as the boot loader names it, to a path in the image: extlinux's
 * relative paths are relative to the configuration's folder. */
static char *boot_path(const char *config, const char *p)
{
	_cleanup_free_ char *dir = NULL;
	const char *slash;

	if (p[0] == '/')
		return strdup(p);
	slash = strrchr(config, '/');
	dir = strndup(config, (size_t)(slash - config));
	return dir ? fs_path_join(*dir ? dir : "/", p) : NULL;
}

/* The real path of p in the image (links resolved inside it) when it is a
 * regular file; RAIN_ENOTFOUND else. */
static int real_file(struct rain_imgfs *fs, const char *p, char **out)
{
	struct rain_imgfs_entry e;
	int r = rain_imgfs_stat(fs, p, true, &e);

	*out = NULL;
	if (r < 0)
		return r;
	if (!S_ISREG(e.mode))
		return rain_error_set(RAIN_ENOTFOUND, "the image's %s is no regular file", p);
	*out = strdup(e.path);
	return *out ? 0 : rain_error_oom();
}

struct newest {
	char *name;             /* the highest vmlinuz-KVER in /boot */
};

static int newest_fn(void *ud, const struct rain_imgfs_entry *e, struct rain_imgfs_file *f)
{
	struct newest *n = ud;
	const char *base;

	if (strcmp(e->path, "/") == 0 || strcmp(e->path, "/boot") == 0)
		return 0;
	if (!str_has_prefix(e->path, "/boot/"))
		return S_ISDIR(e->mode) ? 1 : 0;
	base = e->path + 6;
	if ((S_ISREG(e->mode) || S_ISLNK(e->mode)) && str_has_prefix(base, "vmlinuz-") &&
	    (!n->name || strverscmp(base, n->name) > 0)) {
		free(n->name);
		if (!(n->name = strdup(base)))
			return rain_error_oom();
	}
	return S_ISDIR(e->mode) ? 1 : 0;
}

/* Kernel, initramfs and command line from the boot loader's configuration,
 * else the newest /boot/vmlinuz-KVER with its /boot/initrd.img-KVER. */
static int find_kernel(struct adapt_ctx *c, struct rain_imgfs *fs)
{
	_cleanup_free_ char *kpath = NULL, *ipath = NULL;
	struct adapt_boot b = { 0 };
	const char *base;
	int r;

	for (size_t i = 0; i < sizeof(boot_configs) / sizeof(boot_configs[0]) && !c->boot_config; i++) {
		_cleanup_free_ char *text = NULL;
		size_t len;

		r = rain_imgfs_read(fs, boot_configs[i].path, 1 << 20, &text, &len);
		if (r == RAIN_ENOTFOUND || r == RAIN_EINVAL)
			continue;
		if (r < 0)
			return rain_error_set(r, "the image's %s: %s", boot_configs[i].path, rain_error_last());
		r = adapt_boot_parse(boot_configs[i].kind, text, len, &b);
		if (r == RAIN_ENOTFOUND) {
			rain_target_log(c->op, RAIN_TARGET_WARN, "the image's %s boots no kernel that rain "
					"understands: %s", boot_configs[i].path, rain_error_last());
			continue;
		}
		if (r < 0)
			return rain_error_set(r, "the image's %s: %s", boot_configs[i].path, rain_error_last());
		c->boot_config = boot_configs[i].path;
		c->boot_kind = boot_configs[i].kind;
	}
	if (c->boot_config) {
		kpath = boot_path(c->boot_config, b.kernel);
		ipath = b.initrd ? boot_path(c->boot_config, b.initrd) : NULL;
		c->cmdline = TAKE_PTR(b.cmdline);
		adapt_boot_clear(&b);
		if (!kpath || (!ipath && b.initrd) || !c->cmdline)
			return rain_error_oom();
		r = real_file(fs, kpath, &c->kernel_path);
		if (r < 0)
			return rain_error_set(RAIN_EFORMAT, "the image's %s boots %s, which %s", c->boot_config,
					      kpath, r == RAIN_ENOTFOUND ? "is not there (or no file)" :
					      rain_error_last());
	} else {
		struct newest n = { 0 };

		r = rain_imgfs_walk(fs, newest_fn, &n);
		if (r < 0) {
			free(n.name);
			return r;
		}
		kpath = n.name ? fs_path_join("/boot", n.name) : NULL;
		free(n.name);
		if (!kpath || real_file(fs, kpath, &c->kernel_path) < 0)
			return rain_error_set(RAIN_EFORMAT, "the image has no kernel (no /boot/vmlinuz-VERSION and "
					      "no boot loader configuration naming one): a disk for a site must "
					      "boot; build it with a kernel (recipe [packages] kernel = yes)");
		c->cmdline = strdup("ro");
		if (!c->cmdline)
			return rain_error_oom();
	}
	/* the version from the kernel's file name: vmlinuz-6.1.0-28-amd64 */
	base = strrchr(c->kernel_path, '/') + 1;
	if (!str_has_prefix(base, "vmlinuz-") && !str_has_prefix(base, "vmlinux-") &&
	    !str_has_prefix(base, "Image-"))
		return rain_error_set(RAIN_EFORMAT, "the image's kernel %s is not named vmlinuz-VERSION: rain "
				      "cannot tell its version", c->kernel_path);
	base = strchr(base, '-') + 1;
	if (!*base || strlen(base) > 128 || !str_is_printable(base, 128) || strchr(base, '/'))
		return rain_error_set(RAIN_EFORMAT, "the image's kernel %s has no version rain can read",
				      c->kernel_path);
	c->kernel_version = strdup(base);
	if (!c->kernel_version)
		return rain_error_oom();
	if (!ipath) {
		_cleanup_free_ char *name = NULL;

		if (asprintf(&name, "/boot/initrd.img-%s", c->kernel_version) < 0)
			return rain_error_oom();
		ipath = TAKE_PTR(name);
	}
	r = real_file(fs, ipath, &c->initrd_path);
	if (r == RAIN_ENOTFOUND) {
		rain_error_clear();
		rain_target_log(c->op, RAIN_TARGET_WARN, "the image has no initramfs (%s) for kernel %s", ipath,
				c->kernel_version);
		r = 0;
	}
	return r;
}

/* Every module of o->modules in the kernel's modules.dep or modules.builtin. */
static int check_modules(struct adapt_ctx *c, struct rain_imgfs *fs)
{
	_cleanup_free_ char *dep = NULL, *builtin = NULL, *missing = NULL;
	size_t dlen = 0, blen = 0;
	char path[256];
	int r;

	if (!c->o->modules || !c->o->modules[0])
		return 0;
	snprintf(path, sizeof(path), "/lib/modules/%s/modules.dep", c->kernel_version);
	r = rain_imgfs_read(fs, path, MAX_TEXT, &dep, &dlen);
	if (r < 0 && r != RAIN_ENOTFOUND)
		return rain_error_set(r, "the image's %s: %s", path, rain_error_last());
	snprintf(path, sizeof(path), "/lib/modules/%s/modules.builtin", c->kernel_version);
	r = rain_imgfs_read(fs, path, MAX_TEXT, &builtin, &blen);
	if (r < 0 && r != RAIN_ENOTFOUND)
		return rain_error_set(r, "the image's %s: %s", path, rain_error_last());
	rain_error_clear();
	for (size_t i = 0; c->o->modules[i]; i++) {
		const char *m = c->o->modules[i];
		char *more;

		if ((dep && adapt_modules_has(dep, dlen, m)) || (builtin && adapt_modules_has(builtin, blen, m)))
			continue;
		if (asprintf(&more, "%s%s%s", missing ? missing : "", missing ? ", " : "", m) < 0)
			return rain_error_oom();
		free(missing);
		missing = more;
	}
	if (missing)
		return rain_error_set(RAIN_EINVAL, "the image's kernel %s lacks what the site needs: %s (neither "
				      "a module in /lib/modules/%s nor built in); install a kernel that has "
				      "them", c->kernel_version, missing, c->kernel_version);
	return 0;
}

/* Read the stored image (before anything is copied: what cannot go to
 * the site is refused at once): where its root file system is in its
 * (virtual) disk, which is where it is in the raw copy, what it boots. */
static int inspect_stored(struct adapt_ctx *c)
{
	struct rain_imgfs_limits lim = { .max_read = MAX_TEXT };
	struct rain_imgfs *fs = NULL;
	const struct rain_imgfs_info *info;
	struct rain_imgfs_entry e;
	int r;

	r = rain_imgfs_open_read(target_read_fd, &c->in, (uint64_t)c->st.st_size, c->img->name ? c->img->name : c->img->path,
				 strcmp(c->src_format, "qcow2") == 0 ? "qcow2" : NULL, &lim, &fs);
	if (r < 0)
		return rain_error_set(r, "the image %s: %s", c->img->name ? c->img->name : c->img->path,
				      rain_error_last());
	info = rain_imgfs_info(fs);
	c->fs_offset = info->offset;
	c->fs_length = info->length;
	c->partition = info->partition;
	rain_target_log(c->op, RAIN_TARGET_INFO, "root file system: %s", info->detail);
	r = find_kernel(c, fs);
	if (r == 0)
		r = check_modules(c, fs);
	if (r == 0) {
		c->cloud_init = rain_imgfs_stat(fs, "/usr/bin/cloud-init", true, &e) == 0 && S_ISREG(e.mode);
		rain_error_clear();
	}
	rain_imgfs_close(fs);
	return r;
}

/* e2fsck -fn on the root file system in the raw disk path (the copy, or
 * the stored raw image: -n opens it read only): libext2fs writes only to
 * a file system that is consistent (a corrupt one is refused, not
 * "repaired" by writing into it). */
static int check_fs(struct adapt_ctx *c, const char *path)
{
	_cleanup_free_ char *dev = NULL;
	const char *argv[] = { "e2fsck", "-fn", NULL, NULL };
	struct qemu_img_progress out = { 0 };
	struct process_opts po = { .argv = argv, .stdin_fd = -1, .cancel = c->op->cancel, .timeout_s = 1800,
				   .on_line = last_line, .ud = &out };
	int status, r;

	if (strchr(path, '?'))
		return rain_error_set(RAIN_EINVAL, "adapt: the work folder %s has a '?' in its path, which "
				      "e2fsck reads as options", c->op->workdir);
	if (asprintf(&dev, "%s?offset=%llu", path, (unsigned long long)c->fs_offset) < 0)
		return rain_error_oom();
	argv[2] = dev;
	r = process_run(&po, &status);
	if (r < 0)
		return r;
	if (status != 0)
		return rain_error_set(RAIN_EFORMAT, "the image's root file system (partition %u) is not consistent "
				      "(e2fsck -fn exit status %d%s%s): rain does not change a damaged file "
				      "system; repair the image (e2fsck) and store it again", c->partition, status,
				      *out.last ? ": " : "", out.last);
	return 0;
}

/* A check of the stored raw image on a thread of its own, while the copy
 * is made. */
struct fs_check {
	struct adapt_ctx *c;
	int r;
	char msg[1024];         /* its error (rain_error is per thread) */
};

static void *fs_check_thread(void *ud)
{
	struct fs_check *k = ud;

	k->r = check_fs(k->c, k->c->img->path);
	if (k->r < 0)
		snprintf(k->msg, sizeof(k->msg), "%s", rain_error_last());
	return NULL;
}

/* The copy made and its file system checked: a raw image is checked in
 * place (read only) while it is copied, a qcow2 one on its raw copy. */
static int copy_and_check(struct adapt_ctx *c)
{
	struct fs_check k = { .c = c };
	pthread_t t;
	int r;

	if (strcmp(c->src_format, "raw") != 0 || strchr(c->img->path, '?') ||
	    pthread_create(&t, NULL, fs_check_thread, &k) != 0) {
		r = copy_in(c);
		if (r == 0)
			r = rain_target_check_cancel(c->op);
		return r < 0 ? r : check_fs(c, c->raw);
	}
	r = copy_in(c);
	pthread_join(t, NULL);
	if (r == 0)
		r = rain_target_check_cancel(c->op);
	if (r == 0 && k.r < 0)
		r = rain_error_set(k.r, "%s", k.msg);
	return r;
}

/* ---- the result ---- */

static const char *console_dev(const struct adapt_ctx *c)
{
	const char *arch = c->img->properties ? json_string_value(json_object_get(c->img->properties,
										  "architecture")) : NULL;

	if (arch && (strcmp(arch, "aarch64") == 0 || strcmp(arch, "arm64") == 0))
		return "ttyAMA0";
	if (!arch && str_has_suffix(c->kernel_version, "-arm64"))
		return "ttyAMA0";
	return "ttyS0";
}

static int properties(struct adapt_ctx *c, json_t **out)
{
	_cleanup_json_ json_t *p = c->img->properties ? json_deep_copy(c->img->properties) : json_object();
	char v[32];

	*out = NULL;
	if (!p || !json_is_object(p))
		return p ? rain_error_set(RAIN_EINVAL, "the image's properties are no object") : rain_error_oom();
	snprintf(v, sizeof(v), "%lld", (long long)((c->virtual_size + GIB - 1) / GIB));
	if (json_object_set_new(p, "min_disk", json_string(v)) < 0 ||
	    json_object_set_new(p, "kernel_version", json_string(c->kernel_version)) < 0)
		return rain_error_oom();
	if (!json_object_get(p, "architecture")) {
		const char *arch = str_has_suffix(c->kernel_version, "-arm64") ? "aarch64" :
				   str_has_suffix(c->kernel_version, "-amd64") ? "x86_64" : NULL;

		if (arch && json_object_set_new(p, "architecture", json_string(arch)) < 0)
			return rain_error_oom();
	}
	*out = TAKE_PTR(p);
	return 0;
}

static int copy_boot_files(struct adapt_ctx *c, struct adapt_fs *x, struct rain_target_artifacts *a)
{
	int r = work_path(c->op, "kernel", &a->kernel);

	if (r == 0)
		r = adapt_fs_copy_out(x, c->kernel_path, a->kernel);
	if (r == 0 && c->initrd_path) {
		r = work_path(c->op, "initramfs", &a->initramfs);
		if (r == 0)
			r = adapt_fs_copy_out(x, c->initrd_path, a->initramfs);
	}
	return r;
}

static bool format_ok(const char *f)
{
	return f && (strcmp(f, "raw") == 0 || strcmp(f, "qcow2") == 0);
}

int rain_adapt_opts_key(const char *what, const struct rain_adapt_opts *o, char **out)
{
	static const struct rain_adapt_opts defaults = { 0 };
	_cleanup_free_ char *modules = NULL;
	size_t n = 0;

	*out = NULL;
	if (!o)
		o = &defaults;
	while (o->modules && o->modules[n])
		n++;
	modules = n ? strv_join((char **)o->modules, n, ",") : strdup("");
	if (!modules || asprintf(out, "%s context=%d format=%s sysprep=%d console=%d boot_files=%d "
				 "sha256=%d sha512=%d modules=%s", what, (int)o->context,
				 o->disk_format ? o->disk_format : "(the image's)", !o->no_sysprep,
				 !o->no_serial_console, o->boot_files, !o->no_disk_sha256,
				 o->disk_sha512, modules) < 0) {
		*out = NULL;
		return rain_error_oom();
	}
	return 0;
}

int rain_adapt(struct rain_target_op *op, const struct rain_target_image *img, const struct rain_adapt_opts *o,
	       struct rain_target_artifacts *out)
{
	static const struct rain_adapt_opts defaults = { 0 };
	struct rain_target_artifacts a = { 0 };
	struct adapt_ctx c = { .op = op, .img = img, .o = o ? o : &defaults, .in = -1 };
	const char *fmt;
	struct adapt_fs *x = NULL;
	char name[300];
	int r;

	rain_error_clear();
	memset(out, 0, sizeof(*out));
	o = c.o;
	fmt = o->disk_format ? o->disk_format : img->disk_format;
	if (!format_ok(img->disk_format))
		return rain_error_set(RAIN_EINVAL, "the image %s is a %s disk: rain adapts raw and qcow2 disks only",
				      img->name ? img->name : img->path, img->disk_format ? img->disk_format : "(none)");
	if (!format_ok(fmt))
		return rain_error_set(RAIN_EINVAL, "adapt: disk format %s: expected raw or qcow2", fmt);
	r = adapt_check_ssh_key(op->ssh_key);
	if (r < 0)
		return r;
	r = rain_target_check_cancel(op);
	if (r == 0)
		r = open_stored(&c);
	if (r == 0)
		r = inspect_stored(&c);
	if (r == 0 && op->site)
		r = rain_site_kernel_allowed(op->site, c.kernel_version);
	if (r == 0)
		r = rain_target_check_cancel(op);
	if (r == 0)
		r = copy_and_check(&c);
	if (r == 0) {
		snprintf(name, sizeof(name), "%s partition %u", img->name ? img->name : img->path, c.partition);
		r = adapt_fs_open(c.raw, c.fs_offset, c.fs_length, name, &x);
	}
	if (r == 0 && o->boot_files)
		r = copy_boot_files(&c, x, &a);
	if (r == 0) {
		struct adapt_edit e = {
			.op = op, .o = o, .fs = x, .cloud_init = c.cloud_init, .console = console_dev(&c),
			.boot_config = c.boot_config, .boot_kind = c.boot_kind, .cmdline = &c.cmdline,
		};

		r = adapt_edit(&e);
	}
	if (x) {
		int r2 = adapt_fs_close(x, r == 0);

		if (r == 0)
			r = r2;
	}
	if (r == 0)
		r = rain_target_check_cancel(op);
	if (r == 0 && strcmp(fmt, "qcow2") == 0) {
		r = work_path(op, "disk.qcow2", &a.disk);
		if (r == 0)
			r = qemu_img_convert(op, "convert", "raw", c.raw, "qcow2", a.disk, c.virtual_size);
		if (r == 0 && unlink(c.raw) < 0)
			r = rain_error_errno(RAIN_EIO, errno, "cannot remove %s", c.raw);
	} else if (r == 0) {
		a.disk = TAKE_PTR(c.raw);
	}
	if (r == 0 && o->no_disk_sha256) {
		struct stat st;

		if (stat(a.disk, &st) < 0)
			r = rain_error_errno(RAIN_EIO, errno, "cannot read %s", a.disk);
		else
			a.disk_size = st.st_size;
	} else if (r == 0 && o->disk_sha512) {
		char hex[65], hex512[129];

		r = fs_sha256_sha512_file(a.disk, hex, hex512, &a.disk_size);
		if (r == 0 && (!(a.disk_sha256 = strdup(hex)) || !(a.disk_sha512 = strdup(hex512))))
			r = rain_error_oom();
	} else if (r == 0) {
		char hex[65];

		r = fs_sha256_file(a.disk, hex, &a.disk_size);
		if (r == 0 && !(a.disk_sha256 = strdup(hex)))
			r = rain_error_oom();
	}
	if (r == 0)
		r = properties(&c, &a.properties);
	if (r == 0) {
		a.virtual_size = c.virtual_size;
		a.disk_format = strdup(fmt);
		a.kernel_version = TAKE_PTR(c.kernel_version);
		a.cmdline = TAKE_PTR(c.cmdline);
		if (!a.disk_format)
			r = rain_error_oom();
	}
	if (r == 0) {
		rain_target_log(op, RAIN_TARGET_INFO, "adapted: %s (%s, %lld bytes, kernel %s)", a.disk,
				a.disk_format, (long long)a.disk_size, a.kernel_version);
		*out = a;
	} else {
		/* what was made for nothing goes: a half-adapted copy is no use */
		if (c.raw)
			unlink(c.raw);
		const char *made[] = { a.disk, a.kernel, a.initramfs };

		for (size_t i = 0; i < 3; i++)
			if (made[i])
				unlink(made[i]);
		rain_target_artifacts_clear(&a);
	}
	ctx_clear(&c);
	return r;
}
