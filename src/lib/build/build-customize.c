/* The image stage's customization, run inside the pivoted sandbox (b->root
 * is "/" there): host name, time zone, locale, users and their keys, staged
 * files, networking, ssh host keys, services, fstab, boot loader config,
 * then the recipe's scripts. See build-internal.h. */
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

#include "build-internal.h"
#include "rain/error.h"
#include "util/fsutil.h"
#include "util/strutil.h"

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
		return rain_error_oom();
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
		return rain_error_oom();
	return write_in_root(b, path, text, (size_t)n, mode);
}

/* [files] were staged by the parent as BUILD_INPUT/files/N with their modes. */
static int copy_file_in(struct build_ctx *b, size_t i)
{
	const struct rain_recipe_file *f = &b->r->files[i];
	_cleanup_free_ char *data = NULL;
	char src[64];
	struct stat st;
	size_t len;
	int r;

	snprintf(src, sizeof(src), BUILD_INPUT "/files/%zu", i);
	if (stat(src, &st) < 0)
		return rain_error_errno(RAIN_EIO, errno, "staged file %s is missing", f->src);
	r = fs_read_small(src, BUILD_FILE_MAX, &data, &len);
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
			r = *home ? 0 : rain_error_oom();
			break;
		}
	fclose(f);
	return r == RAIN_ENOTFOUND ? rain_error_set(r, "user %s is missing in the image", name) : r;
}

static int setup_user(struct build_ctx *b, const struct rain_recipe_user *u)
{
	_cleanup_free_ char *home = NULL, *keys = NULL, *sshdir = NULL, *file = NULL;
	size_t len = 0;
	FILE *k;
	uid_t uid = 0;
	gid_t gid = 0;
	int r, fd;

	if (strcmp(u->name, "root")) {
		r = b->be->add_user(b, u);
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
		return rain_error_oom();
	k = open_memstream(&keys, &len);
	if (!k)
		return rain_error_oom();
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

int build_customize(struct build_ctx *b)
{
	const struct rain_builder_backend *be = b->be;
	const char *fs_uuid = b->uuid;
	const struct rain_recipe *r = b->r;
	int ret = 0;

	build_log(b, "== customizing");
	{
		/* never the build host's name, which bootstrapping copies in */
		const char *name = r->hostname ? r->hostname : "localhost";

		ret = write_text(b, "/etc/hostname", 0644, "%s\n", name);
		if (ret == 0)
			ret = write_text(b, "/etc/hosts", 0644,
					 "127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n",
					 name);
	}
	if (ret == 0 && r->timezone) {
		_cleanup_free_ char *zone = NULL, *lt = fs_path_join(b->root, "etc/localtime");

		if (asprintf(&zone, "/usr/share/zoneinfo/%s", r->timezone) < 0 || !lt)
			return rain_error_oom();
		if (!exists_in_root(b, zone))
			return rain_error_set(RAIN_EINVAL, "%s: [system] timezone: '%s' is not a known time zone",
					      r->file, r->timezone);
		unlink(lt);
		if (symlink(zone, lt) < 0)
			return rain_error_errno(RAIN_EIO, errno, "cannot set the time zone");
		ret = write_text(b, "/etc/timezone", 0644, "%s\n", r->timezone);
	}
	if (ret == 0 && r->locale) {
		/* systemd reads locale.conf everywhere; Debian's tools also read
		 * /etc/default/locale */
		ret = write_text(b, "/etc/locale.conf", 0644, "LANG=%s\n", r->locale);
		if (ret == 0 && exists_in_root(b, "/etc/default"))
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
		ret = setup_user(b, &r->users[i]);
	for (size_t i = 0; ret == 0 && i < r->nfiles; i++)
		ret = copy_file_in(b, i);
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
	if (ret == 0 && r->firmware == RAIN_FIRMWARE_UEFI) {
		/* the EFI system partition, where a grub-install in the image
		 * looks for it; no fsck (the image need not have fsck.vfat) */
		_cleanup_free_ char *efi = fs_path_join(b->root, "boot/efi");
		char volid[10];

		if (!efi)
			return rain_error_oom();
		if ((ret = fs_mkdir_p(efi, 0755)) < 0)
			return ret;
		build_efi_volume_id(fs_uuid, volid);
		ret = write_text(b, "/etc/fstab", 0644, "UUID=%s / ext4 defaults,errors=remount-ro 0 1\n"
				 "UUID=%s /boot/efi vfat umask=0077 0 0\n", fs_uuid, volid);
	} else if (ret == 0) {
		ret = write_text(b, "/etc/fstab", 0644, "UUID=%s / ext4 defaults,errors=remount-ro 0 1\n",
				 fs_uuid);
	}
	if (ret == 0 && r->kernel) {
		const struct build_machine *m = build_machine_find(r->architecture);
		/* Debian links the newest kernel at the root, Ubuntu in /boot */
		const char *dir = !exists_in_root(b, "/vmlinuz") && exists_in_root(b, "/boot/vmlinuz") ? "/boot" : "";

		ret = write_text(b, "/boot/grub/grub.cfg", 0644,
				 "set timeout=1\nset default=0\n"
				 "menuentry 'rain image' {\n"
				 "  search --no-floppy --fs-uuid --set=root %s\n"
				 "  linux %s/vmlinuz root=UUID=%s ro console=tty0 console=%s,115200\n"
				 "  initrd %s/initrd.img\n}\n", fs_uuid, dir, fs_uuid, m ? m->console : "ttyS0", dir);
	}
	return ret;
}

/* [scripts] were staged as BUILD_INPUT/scripts/N; each runs as the image's
 * root, in the sandbox, without network, from "/". */
int build_scripts(struct build_ctx *b)
{
	for (size_t i = 0; i < b->r->nscripts; i++) {
		char path[64], what[300];
		const char *argv[] = { path, NULL };
		int r;

		snprintf(path, sizeof(path), BUILD_INPUT "/scripts/%zu", i);
		snprintf(what, sizeof(what), "script %s", b->r->scripts[i]);
		r = build_run(b, what, argv, NULL, NULL);
		if (r < 0)
			return rain_error_set(r, "%s: [scripts] run = %s: %s", b->r->file, b->r->scripts[i],
					      rain_error_last());
	}
	return 0;
}

