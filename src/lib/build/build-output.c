/* Image outputs (the outputs stage: a sandbox that sees the image's root
 * at b->root and writes into b->outdir with the host's tools, never running
 * anything of the image), hashing, and the boot check (on the host). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build-internal.h"
#include "rain/error.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/process.h"
#include "util/qemu.h"
#include "util/strutil.h"
#include "util/timeutil.h"

const struct build_output_kind build_outputs[] = {
	{ RAIN_OUT_DISK, "disk", ".raw" },
	{ RAIN_OUT_QCOW2, "qcow2", ".qcow2" },
	{ RAIN_OUT_EXT4, "ext4", ".ext4" },
	{ RAIN_OUT_TAR, "tar", ".tar" },
	{ RAIN_OUT_TAR_ZST, "tar.zst", ".tar.zst" },
	{ RAIN_OUT_SQUASHFS, "squashfs", ".squashfs" },
	{ BUILD_OUT_KERNEL, "kernel", "vmlinuz" },
	{ BUILD_OUT_INITRAMFS, "initramfs", "initrd.img" },
	{ RAIN_OUT_DIR, "dir", ".root" },
	{ 0, NULL, NULL },
};

char *build_output_path(struct build_ctx *b, const char *dir, const struct build_output_kind *k)
{
	char *p;
	int n = k->suffix[0] == '.' ?
		asprintf(&p, "%s/%s%s", dir, b->r->name ? b->r->name : "image", k->suffix) :
		asprintf(&p, "%s/%s", dir, k->suffix);

	return n < 0 ? NULL : p;
}

static char *out_path(struct build_ctx *b, unsigned int bit)
{
	for (const struct build_output_kind *k = build_outputs; k->bit; k++)
		if (k->bit == bit)
			return build_output_path(b, b->outdir, k);
	return NULL;
}

int build_make_ext4(struct build_ctx *b, const char *src, const char *path, const char *uuid,
		    int64_t size, int64_t offset)
{
	char sizek[32], opt[64];
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);

	if (fd < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot create %s", path);
	if (ftruncate(fd, offset + size) < 0) {
		close(fd);
		return rain_error_errno(errno == ENOSPC ? RAIN_ENOSPC : RAIN_EIO, errno, "cannot size %s", path);
	}
	close(fd);
	snprintf(sizek, sizeof(sizek), "%lldk", (long long)(size / 1024));
	snprintf(opt, sizeof(opt), "offset=%lld", (long long)offset);
	{
		const char *argv[] = { "mke2fs", "-q", "-F", "-t", "ext4", "-U", uuid, "-L", "rain-root",
				       "-E", opt, "-d", src, path, sizek, NULL };

		return build_run(b, "mke2fs", argv, NULL, NULL);
	}
}

/* Copy len bytes of file src to offset off of dst (boot loader pieces). */
static int put_bytes(const char *src, size_t len, int dstfd, off_t off, size_t max)
{
	_cleanup_free_ char *data = NULL;
	size_t n;
	int r = fs_read_small(src, max, &data, &n);

	if (r < 0)
		return r;
	if (len == 0 || len > n)
		len = n;
	if (pwrite(dstfd, data, len, off) != (ssize_t)len)
		return rain_error_errno(RAIN_EIO, errno, "cannot write the boot loader");
	return 0;
}

#define DISK_OFFSET (1 << 20)   /* the partition starts at 1 MiB */

static int make_bios_disk(struct build_ctx *b, const char *path, const char *uuid)
{
	_cleanup_free_ char *core = build_tmp_path(b, "core.img");
	_cleanup_free_ char *table = build_tmp_path(b, "partitions.sfdisk");
	static const char layout[] = "label: dos\nstart=2048, type=83, bootable\n";
	int r, fd;

	if (!core || !table)
		return rain_error_oom();
	r = build_make_ext4(b, b->root, path, uuid, b->r->size, DISK_OFFSET);
	if (r < 0)
		return r;
	r = fs_write_atomic(table, layout, strlen(layout), 0600);
	if (r < 0)
		return r;
	fd = open(table, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot open %s", table);
	{
		const char *argv[] = { "sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", path, NULL };
		struct process_opts po = { .argv = argv, .stdin_fd = fd };
		int status;

		build_log(b, "+ sfdisk");
		r = process_run(&po, &status);
		close(fd);
		if (r == 0 && status != 0)
			r = rain_error_set(RAIN_EIO, "sfdisk failed (exit status %d)", status);
		if (r < 0)
			return r;
	}
	{
		const char *argv[] = { "grub-mkimage", "-O", "i386-pc", "-p", "(hd0,msdos1)/boot/grub",
				       "-o", core, "biosdisk", "part_msdos", "ext2", "linux", "normal",
				       "configfile", "search", "search_fs_uuid", "echo", "test", NULL };

		r = build_run(b, "grub-mkimage", argv, NULL, NULL);
		if (r < 0)
			return r;
	}
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot open %s", path);
	/* boot.img's code (not the partition table) into the MBR, core.img
	 * right after it; boot.img looks for core.img at sector 1 already */
	r = put_bytes("/usr/lib/grub/i386-pc/boot.img", 440, fd, 0, 512);
	if (r == 0)
		r = put_bytes(core, 0, fd, 512, DISK_OFFSET - 512);
	if (r == 0 && fsync(fd) < 0)
		r = rain_error_errno(RAIN_EIO, errno, "cannot sync %s", path);
	close(fd);
	return r;
}

int build_copy_boot_file(struct build_ctx *b, const char *prefix, const char *dst)
{
	_cleanup_free_ char *name = NULL;
	struct stat st;
	struct dirent *de;
	DIR *d = NULL;
	int rootfd, bootfd = -1, in = -1, out = -1, r;

	rootfd = open(b->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot open the image's tree");
	bootfd = fs_open_beneath(rootfd, "boot", O_RDONLY | O_DIRECTORY, 0);
	if (bootfd < 0) {
		r = rain_error_set(bootfd, "the image's /boot: %s", rain_error_last());
		goto done;
	}
	d = fdopendir(dup(bootfd));
	while (d && (de = readdir(d)))
		if (str_has_prefix(de->d_name, prefix) && (!name || strcmp(de->d_name, name) < 0)) {
			free(name);
			name = strdup(de->d_name);
		}
	if (!d || !name) {
		r = rain_error_set(d ? RAIN_EIO : RAIN_ENOMEM, "the image has no /boot/%s*", prefix);
		goto done;
	}
	/* a symlink (to the host, another build's tree) or a device is refused */
	in = fs_open_regular_beneath(bootfd, name, O_RDONLY, false, &st);
	if (in < 0) {
		r = rain_error_set(in, "the image's /boot/%s: %s", name, rain_error_last());
		goto done;
	}
	if (st.st_size > (off_t)512 << 20) {
		r = rain_error_set(RAIN_ETOOBIG, "the image's /boot/%s is larger than 512 MiB", name);
		goto done;
	}
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (out < 0) {
		r = rain_error_errno(RAIN_EIO, errno, "cannot create %s", dst);
		goto done;
	}
	r = fs_copy_sparse(in, out, st.st_size, dst);
done:
	if (d)
		closedir(d);
	for (int fds[] = { rootfd, bootfd, in, out }, i = 0; i < 4; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return r;
}

static int make_tar(struct build_ctx *b, const char *path, bool zst)
{
	const char *argv[] = { "tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls",
			       "-C", b->root, "-cf", path, zst ? "--use-compress-program=zstd -T0 -3" : ".",
			       zst ? "." : NULL, NULL };

	return build_run(b, "tar", argv, NULL, NULL);
}

int build_outputs_make(struct build_ctx *b)
{
	unsigned int f = b->r->formats;
	_cleanup_free_ char *disk = out_path(b, RAIN_OUT_DISK), *ext4 = out_path(b, RAIN_OUT_EXT4);
	_cleanup_free_ char *qcow2 = out_path(b, RAIN_OUT_QCOW2), *tar = out_path(b, RAIN_OUT_TAR);
	_cleanup_free_ char *tzst = out_path(b, RAIN_OUT_TAR_ZST), *sqfs = out_path(b, RAIN_OUT_SQUASHFS);
	_cleanup_free_ char *tree = fs_path_join(b->outdir, BUILD_TREE_TAR);
	int r = 0;

	if (!disk || !ext4 || !qcow2 || !tar || !tzst || !sqfs || !tree)
		return rain_error_oom();
	if (f & (RAIN_OUT_DISK | RAIN_OUT_QCOW2)) {
		r = b->r->firmware == RAIN_FIRMWARE_UEFI ? build_efi_disk(b, disk, b->uuid) :
			make_bios_disk(b, disk, b->uuid);
		if (r == 0 && (f & RAIN_OUT_QCOW2)) {
			const char *argv[] = { "qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-c",
					       "-o", "compression_type=zstd", disk, qcow2, NULL };

			r = build_run(b, "qemu-img convert", argv, NULL, NULL);
		}
		/* the raw disk was only a step towards qcow2 */
		if (r == 0 && !(f & RAIN_OUT_DISK))
			unlink(disk);
	}
	if (r == 0 && (f & RAIN_OUT_EXT4))
		r = build_make_ext4(b, b->root, ext4, b->uuid, b->r->size, 0);
	if (r == 0 && (f & RAIN_OUT_TAR))
		r = make_tar(b, tar, false);
	if (r == 0 && (f & RAIN_OUT_TAR_ZST))
		r = make_tar(b, tzst, true);
	if (r == 0 && (f & RAIN_OUT_SQUASHFS)) {
		const char *argv[] = { "mksquashfs", b->root, sqfs, "-noappend", "-comp", "zstd",
				       "-Xcompression-level", "3", "-quiet", NULL };

		r = build_run(b, "mksquashfs", argv, NULL, NULL);
	}
	if (r == 0 && b->r->kernel) {
		_cleanup_free_ char *kernel = out_path(b, BUILD_OUT_KERNEL), *initrd = out_path(b, BUILD_OUT_INITRAMFS);

		r = kernel && initrd ? build_copy_boot_file(b, "vmlinuz-", kernel) : rain_error_oom();
		if (r == 0)
			r = build_copy_boot_file(b, "initrd.img-", initrd);
	}
	/* the tree leaves the sandbox as a tar, so that the host unpacks it
	 * with the image's own owners */
	if (r == 0 && (f & RAIN_OUT_DIR))
		r = make_tar(b, tree, false);
	return r;
}

/* ---- boot check ---- */

struct boot_watch {
	volatile sig_atomic_t stop;
	volatile sig_atomic_t *cancel;      /* the build's */
	bool reached;
	bool panic;
};

static void watch_console(void *ud, const char *line)
{
	struct boot_watch *w = ud;

	if (w->cancel && *w->cancel)
		w->stop = 1;
	if (strstr(line, " login:") || (strstr(line, "Reached target") && strstr(line, "Multi-User"))) {
		w->reached = true;
		w->stop = 1;
	}
	if (strstr(line, "Kernel panic") || strstr(line, "Give root password for maintenance") ||
	    strstr(line, "You are in emergency mode")) {
		w->panic = true;
		w->stop = 1;
	}
}

static void watch_prompt(void *ud, const char *partial)
{
	struct build_lines *rl = ud;

	if (strstr(partial, " login: ") || !strcmp(partial, "login: "))
		watch_console(rl->ud, " login:");
}

/* util/qemu.h's check, with a line in the build's log when /dev/kvm is
 * there but does not run the guest. */
bool build_kvm_works(struct build_ctx *b, const char *kernel)
{
	if (access("/dev/kvm", R_OK | W_OK) < 0)
		return false;
	if (qemu_kvm_works(kernel))
		return true;
	build_log(b, "KVM does not run guests here; using software emulation");
	return false;
}

/* A writable copy of the firmware's variables (and, where the machine
 * wants its flash of one size, of the firmware padded to it) in the
 * build's tmp. */
static int flash_copy(struct build_ctx *b, const char *src, const char *name, long long size, char **out)
{
	_cleanup_free_ char *dst = build_tmp_path(b, name);
	_cleanup_close_ int in = -1, fd = -1;
	struct stat st;
	int r;

	*out = NULL;
	if (!dst)
		return rain_error_oom();
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0)
		return rain_error_errno(RAIN_ENOTFOUND, errno, "the boot check's UEFI firmware %s", src);
	if (size && st.st_size > size)
		return rain_error_set(RAIN_EINVAL, "the UEFI firmware %s is larger than the machine's "
				      "flash (%lld MiB)", src, size >> 20);
	fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot create %s", dst);
	if ((r = fs_copy_sparse(in, fd, st.st_size, dst)) < 0)
		return r;
	if (size && ftruncate(fd, size) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot pad %s", dst);
	*out = TAKE_PTR(dst);
	return 0;
}

/* Whether the machine is this host's, so that KVM may run it. */
static bool machine_is_host(const struct build_machine *m)
{
#if defined(__x86_64__)
	return !strcmp(m->qemu, "qemu-system-x86_64");
#else
	(void)m;
	return false;
#endif
}

int build_boot_check(struct build_ctx *b, const char *disk, const char *kernel, json_t **result)
{
	const struct build_machine *m = build_machine_find(b->r->architecture);
	bool uefi = b->r->firmware == RAIN_FIRMWARE_UEFI;
	_cleanup_free_ char *drive = NULL, *code = NULL, *vars = NULL, *code_drive = NULL, *vars_drive = NULL;
	struct boot_watch w = { 0, b->o->cancel, false, false };
	bool kvm = m && machine_is_host(m) && build_kvm_works(b, kernel);
	int64_t t0 = time_mono_us();
	const char *argv[32];
	size_t n = 0;
	struct build_lines rl = { b, watch_console, &w };
	/* an emulated foreign machine boots several times slower */
	struct process_opts po = { .argv = argv, .stdin_fd = -1, .on_line = build_on_line,
				   .on_partial = watch_prompt, .ud = &rl,
				   .cancel = &w.stop, .timeout_s = m && machine_is_host(m) ? 600 : 1800 };
	double secs;
	int status, r;

	if (!m)
		return rain_error_set(RAIN_EINVAL, "no machine is known to boot %s images on", b->r->architecture);
	if (asprintf(&drive, "file=%s,format=raw,snapshot=on%s%s", disk, m->disk_if ? ",if=" : "",
		     m->disk_if ? m->disk_if : "") < 0)
		return rain_error_oom();
	argv[n++] = m->qemu;
	argv[n++] = "-M";
	argv[n++] = m->machine;
	argv[n++] = "-accel";
	argv[n++] = kvm ? "kvm" : "tcg";
	if (!kvm && m->cpu) {
		argv[n++] = "-cpu";
		argv[n++] = m->cpu;
	}
	for (const char *a[] = { "-m", "1024", "-smp", "2", "-display", "none", "-serial", "stdio",
				 "-monitor", "none", "-no-reboot", "-nic", "none" }, **p = a; p < a + 13; p++)
		argv[n++] = *p;
	if (uefi) {
		/* the firmware read-only, its variables a copy of their template */
		if (m->flash_size) {
			if ((r = flash_copy(b, m->uefi_code, "uefi-code.fd", m->flash_size, &code)) < 0)
				return r;
		} else if (!(code = strdup(m->uefi_code))) {
			return rain_error_oom();
		}
		if (access(code, R_OK) < 0)
			return rain_error_errno(RAIN_ENOTFOUND, errno, "the boot check's UEFI firmware %s", code);
		if ((r = flash_copy(b, m->uefi_vars, "uefi-vars.fd", m->flash_size, &vars)) < 0)
			return r;
		if (asprintf(&code_drive, "if=pflash,format=raw,unit=0,readonly=on,file=%s", code) < 0 ||
		    asprintf(&vars_drive, "if=pflash,format=raw,unit=1,file=%s", vars) < 0)
			return rain_error_oom();
		argv[n++] = "-drive";
		argv[n++] = code_drive;
		argv[n++] = "-drive";
		argv[n++] = vars_drive;
	}
	argv[n++] = "-drive";
	argv[n++] = drive;
	argv[n] = NULL;
	build_log(b, "== boot check (%s, %s): booting the disk under %s", kvm ? "kvm" : "software emulation",
		  uefi ? "UEFI" : "BIOS", m->qemu);
	r = process_run(&po, &status);
	secs = (double)(time_mono_us() - t0) / 1e6;
	if (b->o->cancel && *b->o->cancel)
		return rain_error_set(RAIN_ECANCELED, "the build was interrupted");
	*result = json_pack("{s:s, s:f, s:s, s:s, s:s}", "result", w.reached ? "passed" : "failed",
			    "seconds", secs, "accelerator", kvm ? "kvm" : "tcg",
			    "firmware", rain_firmware_name(b->r->firmware), "machine", m->qemu);
	if (w.reached) {
		build_log(b, "boot check passed: multi-user after %.1f s", secs);
		return 0;
	}
	if (r == 0)
		return rain_error_set(RAIN_EIO, "boot check failed: qemu stopped (status %d) before multi-user",
				      status);
	return rain_error_set(RAIN_EIO, "boot check failed: %s after %.0f s; see build.log",
			      w.panic ? "the system did not come up (panic or emergency mode)" :
			      "no login prompt", secs);
}
