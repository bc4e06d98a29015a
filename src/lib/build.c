/* Build orchestration: bootstrap (backend), customize, outputs, boot
 * check, manifest. See rain/build.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "build-internal.h"
#include "rain/error.h"
#include "util/fsutil.h"
#include "util/process.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "util/uuid.h"

static const struct rain_builder_backend *const backends[] = {
	&rain_builder_deb,
};

void build_log(struct build_ctx *b, const char *fmt, ...)
{
	char line[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (b->log) {
		fprintf(b->log, "%s\n", line);
		fflush(b->log);
	}
	if (b->o->log)
		b->o->log(b->o->ud, line);
}

struct run_lines {
	struct build_ctx *b;
	void (*lines)(void *ud, const char *line);
	void *ud;
};

static void on_line(void *ud, const char *line)
{
	struct run_lines *rl = ud;

	build_log(rl->b, "  %s", line);
	if (rl->lines)
		rl->lines(rl->ud, line);
}

int build_run(struct build_ctx *b, const char *what, const char *const *argv,
	      void (*lines)(void *ud, const char *line), void *ud)
{
	struct run_lines rl = { b, lines, ud };
	int64_t left = (b->deadline_us - time_mono_us()) / 1000000;
	struct process_opts po = {
		.argv = argv, .stdin_fd = -1, .on_line = on_line, .ud = &rl,
		.cancel = b->o->cancel, .timeout_s = left > 0 ? (int)left : 1,
	};
	int status, r;

	build_log(b, "+ %s", what);
	r = process_run(&po, &status);
	if (r < 0)
		return r;
	if (status != 0)
		return rain_error_set(RAIN_EIO, "%s failed (exit status %d); see build.log", what, status);
	return 0;
}

/* ---- files inside the image, resolved within the root ---- */

/* Open path (absolute inside the image) under root, never leaving it even
 * through symlinks planted by packages. */
static int open_in_root(struct build_ctx *b, const char *path, int flags, mode_t mode)
{
	struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC), .mode = mode,
				.resolve = RESOLVE_IN_ROOT };
	int rootfd = open(b->root, O_PATH | O_DIRECTORY | O_CLOEXEC), fd;

	if (rootfd < 0)
		return -1;
	fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	close(rootfd);
	return fd;
}

static int mkdirs_in_root(struct build_ctx *b, const char *path)
{
	_cleanup_free_ char *copy = strdup(path);
	char *p;

	if (!copy)
		return RAIN_ENOMEM;
	for (p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		{
			_cleanup_free_ char *full = NULL;
			int fd = open_in_root(b, copy, O_PATH | O_DIRECTORY, 0);

			if (fd >= 0) {
				close(fd);
			} else {
				full = fs_path_join(b->root, copy + 1);
				if (!full || (mkdir(full, 0755) < 0 && errno != EEXIST))
					return rain_error_errno(RAIN_EIO, errno, "cannot create %s in the image", copy);
			}
		}
		*p = '/';
	}
	return 0;
}

static int write_in_root(struct build_ctx *b, const char *path, const char *data, size_t len,
			 mode_t mode)
{
	int fd, r = mkdirs_in_root(b, path);

	if (r < 0)
		return r;
	fd = open_in_root(b, path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot write %s in the image", path);
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n <= 0) {
			close(fd);
			return rain_error_errno(RAIN_EIO, errno, "cannot write %s in the image", path);
		}
		data += n;
		len -= (size_t)n;
	}
	fchmod(fd, mode);
	close(fd);
	return 0;
}

static int write_text(struct build_ctx *b, const char *path, mode_t mode, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int write_text(struct build_ctx *b, const char *path, mode_t mode, const char *fmt, ...)
{
	_cleanup_free_ char *text = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0)
		return RAIN_ENOMEM;
	return write_in_root(b, path, text, (size_t)n, mode);
}

static int copy_file_in(struct build_ctx *b, const struct rain_recipe_file *f)
{
	_cleanup_free_ char *src = f->src[0] == '/' ? strdup(f->src) : fs_path_join(b->r->dir, f->src);
	_cleanup_free_ char *data = NULL;
	struct stat st;
	size_t len;
	int r;

	if (!src)
		return RAIN_ENOMEM;
	if (stat(src, &st) < 0)
		return rain_error_errno(RAIN_ENOTFOUND, errno, "%s: [files] copy: cannot read %s",
					b->r->file, src);
	r = fs_read_small(src, 256 << 20, &data, &len);
	if (r < 0)
		return r;
	return write_in_root(b, f->dest, data, len, st.st_mode & 0777);
}

/* ---- the recipe's system settings ---- */

static int lookup_user(struct build_ctx *b, const char *name, uid_t *uid, gid_t *gid, char **home)
{
	_cleanup_free_ char *path = fs_path_join(b->root, "etc/passwd");
	struct passwd *pw;
	FILE *f;
	int r = RAIN_ENOTFOUND;

	if (!path || !(f = fopen(path, "re")))
		return rain_error_set(RAIN_EIO, "cannot read the image's /etc/passwd");
	while ((pw = fgetpwent(f)))
		if (!strcmp(pw->pw_name, name)) {
			*uid = pw->pw_uid;
			*gid = pw->pw_gid;
			*home = strdup(pw->pw_dir);
			r = *home ? 0 : RAIN_ENOMEM;
			break;
		}
	fclose(f);
	return r == RAIN_ENOTFOUND ? rain_error_set(r, "user %s is missing in the image", name) : r;
}

static int setup_user(struct build_ctx *b, const struct rain_builder_backend *be,
		      const struct rain_recipe_user *u)
{
	_cleanup_free_ char *home = NULL, *keys = NULL, *sshdir = NULL, *file = NULL;
	size_t len = 0;
	FILE *k;
	uid_t uid = 0;
	gid_t gid = 0;
	int r, fd;

	if (strcmp(u->name, "root")) {
		r = be->add_user(b, u);
		if (r < 0)
			return r;
	}
	if (u->sudo) {
		char path[300];

		snprintf(path, sizeof(path), "/etc/sudoers.d/90-rain-%s", u->name);
		r = write_text(b, path, 0440, "%s ALL=(ALL) NOPASSWD:ALL\n", u->name);
		if (r < 0)
			return r;
	}
	if (u->nssh_keys == 0)
		return 0;
	r = lookup_user(b, u->name, &uid, &gid, &home);
	if (r < 0)
		return r;
	if (asprintf(&sshdir, "%s/.ssh", home) < 0 || asprintf(&file, "%s/.ssh/authorized_keys", home) < 0)
		return RAIN_ENOMEM;
	k = open_memstream(&keys, &len);
	if (!k)
		return RAIN_ENOMEM;
	for (size_t i = 0; i < u->nssh_keys; i++)
		fprintf(k, "%s\n", u->ssh_keys[i]);
	fclose(k);
	r = write_in_root(b, file, keys, len, 0600);
	if (r < 0)
		return r;
	/* hand .ssh and the key file to the user, never following links */
	fd = open_in_root(b, sshdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
	if (fd >= 0) {
		fchmod(fd, 0700);
		if (fchown(fd, uid, gid) < 0)
			r = rain_error_errno(RAIN_EIO, errno, "chown %s", sshdir);
		close(fd);
	}
	fd = open_in_root(b, file, O_RDONLY | O_NOFOLLOW, 0);
	if (fd >= 0) {
		if (fchown(fd, uid, gid) < 0)
			r = rain_error_errno(RAIN_EIO, errno, "chown %s", file);
		close(fd);
	}
	return r;
}

static bool exists_in_root(struct build_ctx *b, const char *path)
{
	int fd = open_in_root(b, path, O_PATH, 0);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static int customize(struct build_ctx *b, const struct rain_builder_backend *be, const char *fs_uuid)
{
	const struct rain_recipe *r = b->r;
	int ret = 0;

	build_log(b, "== customizing");
	if (r->hostname) {
		ret = write_text(b, "/etc/hostname", 0644, "%s\n", r->hostname);
		if (ret == 0)
			ret = write_text(b, "/etc/hosts", 0644,
					 "127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n",
					 r->hostname);
	}
	if (ret == 0 && r->timezone) {
		_cleanup_free_ char *zone = NULL, *lt = fs_path_join(b->root, "etc/localtime");

		if (asprintf(&zone, "/usr/share/zoneinfo/%s", r->timezone) < 0 || !lt)
			return RAIN_ENOMEM;
		if (!exists_in_root(b, zone))
			return rain_error_set(RAIN_EINVAL, "%s: [system] timezone: '%s' is not a known time zone",
					      r->file, r->timezone);
		unlink(lt);
		if (symlink(zone, lt) < 0)
			return rain_error_errno(RAIN_EIO, errno, "cannot set the time zone");
		ret = write_text(b, "/etc/timezone", 0644, "%s\n", r->timezone);
	}
	if (ret == 0 && r->locale) {
		ret = write_text(b, "/etc/default/locale", 0644, "LANG=%s\n", r->locale);
		if (ret == 0 && exists_in_root(b, "/usr/sbin/locale-gen")) {
			const char *dot = strchr(r->locale, '.');
			const char *argv[] = { "chroot", b->root, "locale-gen", NULL };

			ret = write_text(b, "/etc/locale.gen", 0644, "%s %s\n", r->locale,
					 dot ? dot + 1 : "ISO-8859-1");
			if (ret == 0)
				ret = build_run(b, "locale-gen", argv, NULL, NULL);
		}
	}
	for (size_t i = 0; ret == 0 && i < r->nusers; i++)
		ret = setup_user(b, be, &r->users[i]);
	for (size_t i = 0; ret == 0 && i < r->nfiles; i++)
		ret = copy_file_in(b, &r->files[i]);
	/* networking: DHCP on every wired interface */
	if (ret == 0)
		ret = write_text(b, "/etc/systemd/network/80-rain-dhcp.network", 0644,
				 "[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n");
	if (ret == 0)
		ret = be->enable_service(b, "systemd-networkd.service");
	/* every image gets its own ssh host keys at first boot */
	if (ret == 0 && exists_in_root(b, "/usr/sbin/sshd")) {
		_cleanup_free_ char *sshdir = fs_path_join(b->root, "etc/ssh");
		DIR *d = sshdir ? opendir(sshdir) : NULL;
		struct dirent *de;

		while (d && (de = readdir(d)))
			if (str_has_prefix(de->d_name, "ssh_host_"))
				unlinkat(dirfd(d), de->d_name, 0);
		if (d)
			closedir(d);
		ret = write_text(b, "/etc/systemd/system/rain-ssh-host-keys.service", 0644,
				 "[Unit]\nDescription=Generate SSH host keys\nBefore=ssh.service\n"
				 "ConditionPathExistsGlob=!/etc/ssh/ssh_host_*_key\n\n"
				 "[Service]\nType=oneshot\nExecStart=/usr/bin/ssh-keygen -A\n\n"
				 "[Install]\nWantedBy=multi-user.target\n");
		if (ret == 0)
			ret = be->enable_service(b, "rain-ssh-host-keys.service");
	}
	for (size_t i = 0; ret == 0 && i < r->nservices; i++)
		ret = be->enable_service(b, r->services[i]);
	if (ret == 0)
		ret = write_text(b, "/etc/fstab", 0644, "UUID=%s / ext4 defaults,errors=remount-ro 0 1\n",
				 fs_uuid);
	if (ret == 0 && r->kernel)
		ret = write_text(b, "/boot/grub/grub.cfg", 0644,
				 "set timeout=1\nset default=0\n"
				 "menuentry 'rain image' {\n"
				 "  search --no-floppy --fs-uuid --set=root %s\n"
				 "  linux /vmlinuz root=UUID=%s ro console=tty0 console=ttyS0,115200\n"
				 "  initrd /initrd.img\n}\n", fs_uuid, fs_uuid);
	return ret;
}

/* ---- outputs ---- */

static int sha256_file(const char *path, char out[65], int64_t *size)
{
	unsigned char buf[1 << 16], md[32];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;
	ssize_t got;

	*size = 0;
	if (fd < 0 || !ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		r = rain_error_errno(RAIN_EIO, errno, "cannot hash %s", path);
		goto done;
	}
	while ((got = read(fd, buf, sizeof(buf))) > 0) {
		EVP_DigestUpdate(ctx, buf, (size_t)got);
		*size += got;
	}
	if (got < 0) {
		r = rain_error_errno(RAIN_EIO, errno, "cannot read %s", path);
		goto done;
	}
	EVP_DigestFinal_ex(ctx, md, &n);
	hex_encode(md, n, out);
done:
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(ctx);
	return r;
}

/* Record an output; files are hashed, directories (hash false) not. */
static int add_output(struct rain_build_result *res, const char *format, const char *path,
		      bool hash)
{
	struct rain_build_output *o = realloc(res->outputs, (res->noutputs + 1) * sizeof(*o));

	if (!o)
		return RAIN_ENOMEM;
	res->outputs = o;
	o = &res->outputs[res->noutputs];
	memset(o, 0, sizeof(*o));
	o->format = strdup(format);
	o->path = strdup(path);
	if (!o->format || !o->path) {
		free(o->format);
		free(o->path);
		return RAIN_ENOMEM;
	}
	res->noutputs++;
	return hash ? sha256_file(path, o->sha256, &o->size) : 0;
}

static int make_ext4(struct build_ctx *b, const char *path, const char *uuid, int64_t size,
		     int64_t offset)
{
	char sizek[32], opt[64];
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

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
				       "-E", opt, "-d", b->root, path, sizek, NULL };

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

static int make_disk(struct build_ctx *b, const char *path, const char *uuid)
{
	_cleanup_free_ char *core = fs_path_join(b->scratch, "core.img");
	_cleanup_free_ char *table = fs_path_join(b->scratch, "partitions.sfdisk");
	static const char layout[] = "label: dos\nstart=2048, type=83, bootable\n";
	int r, fd;

	if (!core || !table)
		return RAIN_ENOMEM;
	r = make_ext4(b, path, uuid, b->r->size, DISK_OFFSET);
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

static int copy_boot_file(struct build_ctx *b, const char *prefix, const char *outname,
			  struct rain_build_result *res, const char *format)
{
	_cleanup_free_ char *bootdir = fs_path_join(b->root, "boot"), *src = NULL, *dst = NULL;
	_cleanup_free_ char *data = NULL;
	struct dirent *de;
	size_t len;
	DIR *d = bootdir ? opendir(bootdir) : NULL;
	int r;

	if (!d)
		return rain_error_set(RAIN_EIO, "the image has no /boot");
	while ((de = readdir(d)))
		if (str_has_prefix(de->d_name, prefix) && !src)
			src = fs_path_join(bootdir, de->d_name);
	closedir(d);
	if (!src)
		return rain_error_set(RAIN_EIO, "the image has no /boot/%s*", prefix);
	dst = fs_path_join(b->o->output_dir, outname);
	if (!dst)
		return RAIN_ENOMEM;
	r = fs_read_small(src, 512 << 20, &data, &len);
	if (r == 0)
		r = fs_write_atomic(dst, data, len, 0644);
	return r < 0 ? r : add_output(res, format, dst, true);
}

static char *out_path(struct build_ctx *b, const char *suffix)
{
	char *p;

	if (asprintf(&p, "%s/%s%s", b->o->output_dir, b->r->name ? b->r->name : "image", suffix) < 0)
		return NULL;
	return p;
}

static int make_outputs(struct build_ctx *b, const char *uuid, struct rain_build_result *res)
{
	unsigned int f = b->r->formats;
	_cleanup_free_ char *disk = out_path(b, ".raw"), *ext4 = out_path(b, ".ext4");
	_cleanup_free_ char *qcow2 = out_path(b, ".qcow2"), *tar = out_path(b, ".tar");
	_cleanup_free_ char *tzst = out_path(b, ".tar.zst"), *sqfs = out_path(b, ".squashfs");
	_cleanup_free_ char *dir = out_path(b, ".root");
	int r = 0;

	if (!disk || !ext4 || !qcow2 || !tar || !tzst || !sqfs || !dir)
		return RAIN_ENOMEM;
	build_log(b, "== writing outputs");
	if (f & (RAIN_OUT_DISK | RAIN_OUT_QCOW2)) {
		r = make_disk(b, disk, uuid);
		if (r == 0 && (f & RAIN_OUT_QCOW2)) {
			const char *argv[] = { "qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-c",
					       "-o", "compression_type=zstd", disk, qcow2, NULL };

			r = build_run(b, "qemu-img convert", argv, NULL, NULL);
			if (r == 0)
				r = add_output(res, "qcow2", qcow2, true);
		}
		if (r == 0 && (f & RAIN_OUT_DISK))
			r = add_output(res, "disk", disk, true);
	}
	if (r == 0 && (f & RAIN_OUT_EXT4)) {
		r = make_ext4(b, ext4, uuid, b->r->size, 0);
		if (r == 0)
			r = add_output(res, "ext4", ext4, true);
	}
	if (r == 0 && (f & (RAIN_OUT_TAR | RAIN_OUT_TAR_ZST))) {
		bool zst = f & RAIN_OUT_TAR_ZST;
		const char *argv[] = { "tar", "--numeric-owner", "--xattrs", "--xattrs-include=*",
				       "--acls", "-C", b->root, "-cf", zst ? tzst : tar,
				       "--use-compress-program=zstd -T0 -3", ".", NULL };

		if (!zst) {     /* no compressor: "." moves up */
			argv[9] = ".";
			argv[10] = NULL;
		}
		r = build_run(b, "tar", argv, NULL, NULL);
		if (r == 0)
			r = add_output(res, zst ? "tar.zst" : "tar", zst ? tzst : tar, true);
	}
	if (r == 0 && (f & RAIN_OUT_SQUASHFS)) {
		const char *argv[] = { "mksquashfs", b->root, sqfs, "-noappend", "-comp", "zstd",
				       "-Xcompression-level", "3", "-quiet", NULL };

		r = build_run(b, "mksquashfs", argv, NULL, NULL);
		if (r == 0)
			r = add_output(res, "squashfs", sqfs, true);
	}
	if (r == 0 && b->r->kernel) {
		r = copy_boot_file(b, "vmlinuz-", "vmlinuz", res, "kernel");
		if (r == 0)
			r = copy_boot_file(b, "initrd.img-", "initrd.img", res, "initramfs");
	}
	if (r == 0 && (f & RAIN_OUT_DIR)) {
		if (rename(b->root, dir) < 0)
			return rain_error_errno(RAIN_EIO, errno, "cannot move the root tree to %s", dir);
		free(b->root);
		b->root = strdup(dir);
		if (!b->root)
			return RAIN_ENOMEM;
		r = add_output(res, "dir", dir, false);
	}
	/* the raw disk was only a step towards qcow2 */
	if (r == 0 && (f & RAIN_OUT_QCOW2) && !(f & RAIN_OUT_DISK))
		unlink(disk);
	return r;
}

/* ---- boot check ---- */

struct boot_watch {
	volatile sig_atomic_t stop;
	bool reached;
	bool panic;
};

static void watch_console(void *ud, const char *line)
{
	struct boot_watch *w = ud;

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
	struct run_lines *rl = ud;

	if (strstr(partial, " login: ") || !strcmp(partial, "login: "))
		watch_console(rl->ud, " login:");
}

static int boot_check(struct build_ctx *b, const char *disk, json_t **result)
{
	_cleanup_free_ char *drive = NULL;
	struct boot_watch w = { 0, false, false };
	bool kvm = access("/dev/kvm", R_OK | W_OK) == 0;
	int64_t t0 = time_mono_us();
	const char *argv[] = {
		"qemu-system-x86_64", "-accel", kvm ? "kvm" : "tcg", "-m", "1024", "-smp", "2",
		"-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
		"-nic", "none", "-drive", NULL, NULL
	};
	struct run_lines rl = { b, watch_console, &w };
	struct process_opts po = { .argv = argv, .stdin_fd = -1, .on_line = on_line,
				   .on_partial = watch_prompt, .ud = &rl,
				   .cancel = &w.stop, .timeout_s = 600 };
	double secs;
	int status, r;

	if (asprintf(&drive, "file=%s,format=raw,snapshot=on", disk) < 0)
		return RAIN_ENOMEM;
	argv[sizeof(argv) / sizeof(*argv) - 2] = drive;
	build_log(b, "== boot check (%s): booting the disk under qemu", kvm ? "kvm" : "software emulation");
	r = process_run(&po, &status);
	secs = (double)(time_mono_us() - t0) / 1e6;
	if (b->o->cancel && *b->o->cancel)
		return rain_error_set(RAIN_ECANCELED, "the build was interrupted");
	*result = json_pack("{s:s, s:f, s:s}", "result", w.reached ? "passed" : "failed",
			    "seconds", secs, "accelerator", kvm ? "kvm" : "tcg");
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

/* ---- the whole build ---- */

static int remove_tree(struct build_ctx *b, const char *path)
{
	const char *argv[] = { "rm", "-rf", "--one-file-system", "--", path, NULL };
	struct process_opts po = { .argv = argv, .stdin_fd = -1 };
	int status;

	return process_run(&po, &status);
}

void rain_build_result_free(struct rain_build_result *res)
{
	if (!res)
		return;
	for (size_t i = 0; i < res->noutputs; i++) {
		free(res->outputs[i].format);
		free(res->outputs[i].path);
	}
	free(res->outputs);
	free(res->manifest_path);
	json_decref(res->manifest);
	free(res);
}

int rain_build_run(const struct rain_recipe *r, const struct rain_build_options *o,
		   struct rain_build_result **out)
{
	const struct rain_builder_backend *be = NULL;
	struct build_ctx b = { .r = r, .o = o };
	struct rain_build_result *res = calloc(1, sizeof(*res));
	_cleanup_free_ char *logpath = NULL, *recipe_text = NULL, *scratch_tmpl = NULL;
	char uuid[UUID_STR_LEN];
	json_t *packages = NULL, *boot = NULL, *timings = json_object(), *outputs;
	int64_t t0 = time_mono_us(), t;
	int ret;

	if (!res || !timings) {
		free(res);
		json_decref(timings);
		return RAIN_ENOMEM;
	}
	for (size_t i = 0; i < sizeof(backends) / sizeof(*backends); i++)
		if (!strcmp(backends[i]->family, rain_recipe_family(r->distribution)))
			be = backends[i];
	if (!be) {
		ret = rain_error_set(RAIN_EINVAL, "%s: building %s images is not supported yet (debian and ubuntu are)",
				     r->file, r->distribution);
		goto fail_early;
	}
	if (r->base) {
		ret = rain_error_set(RAIN_EINVAL, "%s: [image] base: cloning a repository image is not "
				     "supported yet; use base = scratch", r->file);
		goto fail_early;
	}
	if (r->nscripts) {
		ret = rain_error_set(RAIN_EINVAL, "%s: [scripts] are not supported yet: they need an isolated "
				     "build environment, which comes next", r->file);
		goto fail_early;
	}
	if ((r->formats & (RAIN_OUT_DISK | RAIN_OUT_QCOW2) || r->boot_check || o->boot_check) &&
	    strcmp(r->architecture, "amd64") && strcmp(r->architecture, "i386")) {
		ret = rain_error_set(RAIN_EINVAL, "%s: bootable disks and boot checks are made for amd64 and "
				     "i386 so far; for %s use the tar, tar.zst, ext4, squashfs or dir formats",
				     r->file, r->architecture);
		goto fail_early;
	}
	if (geteuid() != 0) {
		ret = rain_error_set(RAIN_EFORBIDDEN, "building images needs root (device nodes, chroot); "
				     "run rain generate as root");
		goto fail_early;
	}
	b.deadline_us = t0 + (int64_t)(o->timeout_s > 0 ? o->timeout_s : 3600) * 1000000;
	if ((ret = fs_mkdir_p(o->output_dir, 0755)) < 0 || (ret = fs_mkdir_p(o->cache_dir, 0755)) < 0)
		goto fail_early;
	logpath = fs_path_join(o->output_dir, "build.log");
	if (!logpath || asprintf(&scratch_tmpl, "%s/.rain-build.XXXXXX",
				 o->work_dir ? o->work_dir : o->output_dir) < 0) {
		ret = RAIN_ENOMEM;
		goto fail_early;
	}
	b.log = fopen(logpath, "we");
	if (!b.log || !mkdtemp(scratch_tmpl)) {
		ret = rain_error_errno(RAIN_EIO, errno, "cannot start the build in %s", o->output_dir);
		goto fail_early;
	}
	/* hooks and chroot need absolute paths */
	b.scratch = realpath(scratch_tmpl, NULL);
	b.root = fs_path_join(scratch_tmpl, "root");
	if (!b.scratch || !b.root || (ret = uuid_generate(uuid)) < 0 ||
	    (ret = rain_recipe_format(r, &recipe_text)) < 0) {
		ret = ret < 0 ? ret : RAIN_ENOMEM;
		goto fail;
	}
	build_log(&b, "== building %s %s %s (%s)", r->distribution, r->release, r->architecture,
		  r->name ? r->name : "unnamed");

	ret = be->bootstrap(&b);
	t = time_mono_us();
	json_object_set_new(timings, "bootstrap_s", json_real((double)(t - t0) / 1e6));
	if (ret == 0)
		ret = customize(&b, be, uuid);
	if (ret == 0)
		ret = be->packages(&b, &packages);
	json_object_set_new(timings, "customize_s", json_real((double)(time_mono_us() - t) / 1e6));
	t = time_mono_us();
	if (ret == 0)
		ret = make_outputs(&b, uuid, res);
	json_object_set_new(timings, "outputs_s", json_real((double)(time_mono_us() - t) / 1e6));
	if (ret == 0 && (r->boot_check || o->boot_check)) {
		_cleanup_free_ char *disk = out_path(&b, ".raw");
		bool made_disk = r->formats & RAIN_OUT_DISK;

		t = time_mono_us();
		/* a qcow2-only build checks the qcow2's source before it goes */
		if (!made_disk)
			ret = rain_error_set(RAIN_EINVAL, "%s: [output] boot_check needs the disk format",
					     r->file);
		else
			ret = boot_check(&b, disk, &boot);
		json_object_set_new(timings, "boot_check_s", json_real((double)(time_mono_us() - t) / 1e6));
	}
	if (ret < 0)
		goto fail;
	json_object_set_new(timings, "total_s", json_real((double)(time_mono_us() - t0) / 1e6));
	outputs = json_array();
	for (size_t i = 0; i < res->noutputs; i++) {
		const struct rain_build_output *bo = &res->outputs[i];
		const char *base = strrchr(bo->path, '/');

		json_array_append_new(outputs, json_pack("{s:s, s:s, s:I, s:s?}", "format", bo->format,
							 "file", base ? base + 1 : bo->path, "size",
							 (json_int_t)bo->size,
							 "sha256", bo->sha256[0] ? bo->sha256 : NULL));
	}
	res->manifest = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o*, s:s}",
				  "name", r->name ? r->name : "image",
				  "distribution", r->distribution, "release", r->release,
				  "architecture", r->architecture, "mirror", r->mirror,
				  "filesystem_uuid", uuid, "recipe", recipe_text,
				  "packages", packages, "outputs", outputs, "timings", timings,
				  "boot_check", boot, "log", "build.log");
	packages = boot = timings = NULL;
	res->manifest_path = fs_path_join(o->output_dir, "manifest.json");
	if (!res->manifest || !res->manifest_path ||
	    json_dump_file(res->manifest, res->manifest_path, JSON_INDENT(2) | JSON_SORT_KEYS) < 0) {
		ret = rain_error_set(RAIN_EIO, "cannot write the manifest");
		goto fail;
	}
	build_log(&b, "== done in %.1f s", (double)(time_mono_us() - t0) / 1e6);
	if (!(r->formats & RAIN_OUT_DIR))
		remove_tree(&b, b.root);
	remove_tree(&b, b.scratch);
	fclose(b.log);
	free(b.scratch);
	free(b.root);
	*out = res;
	return 0;
fail:
	{
		/* keep the message: logging and cleaning up may overwrite it */
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s", rain_error_last());
		build_log(&b, "== failed: %s", msg);
		for (size_t i = 0; i < res->noutputs; i++)
			if (strcmp(res->outputs[i].format, "dir"))
				unlink(res->outputs[i].path);
		{
			_cleanup_free_ char *disk = out_path(&b, ".raw");

			if (disk)
				unlink(disk);
		}
		if (res->manifest_path)
			unlink(res->manifest_path);
		if (b.root)
			remove_tree(&b, b.root);
		if (b.scratch)
			remove_tree(&b, b.scratch);
		rain_error_set(ret, "%s", msg);
	}
fail_early:
	if (b.log)
		fclose(b.log);
	free(b.scratch);
	free(b.root);
	json_decref(packages);
	json_decref(boot);
	json_decref(timings);
	rain_build_result_free(res);
	return ret;
}
