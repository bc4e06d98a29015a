/* Adaptation (rain/adapt.h) of small crafted disks: an MBR disk whose
 * ext4 root (mke2fs -d from a tree made here) looks like a rain-built
 * image (grub.cfg, a kernel and initramfs, module lists, logs, host keys,
 * leases, histories). Each change is read back from the adapted copy
 * through imgfs, the copy passes e2fsck -fn, and the stored image is
 * byte-identical afterwards. Hostile images: /etc/fstab a link to the
 * host's /etc/passwd (absolute and relative), /etc/ssh a link out, a qcow2
 * naming a backing file, a corrupt ext4, no kernel; a kernel the site does
 * not allow, a module the kernel lacks, a bad SSH key, a canceled op.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <ext2fs/ext2fs.h>

#include "rain/adapt.h"
#include "rain/diskfmt.h"
#include "rain/error.h"
#include "rain/imgfs.h"
#include "rain/target.h"
#include "lib/target/adapt-internal.h"
#include "testutil.h"
#include "util/fsutil.h"
#include "util/process.h"

#define KVER "6.1.0-99-amd64"
#define KEY "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH0cW2Rr0e4b6u8yN4D3Xw1vLrQe9s7P3kq2m8ZyTtJb test@rain"
#define DISK_OFFSET 1048576

static char tmp[64];
static char log_text[16384];

static char *at(const char *name)
{
	static char buf[32][512];
	static int k;

	k = (k + 1) % 32;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", tmp, name);
	return buf[k];
}

static int run(const char *const *argv)
{
	struct process_opts o = { .argv = argv, .stdin_fd = -1, .timeout_s = 120 };
	int status = -1;

	if (process_run(&o, &status) < 0)
		return -1;
	return status;
}

/* rel (under the tree root) with text and mode, parents made. */
static void put(const char *root, const char *rel, const char *text, mode_t mode)
{
	char path[600], *slash;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (slash = strchr(path + strlen(root) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		mkdir(path, 0755);
		*slash = '/';
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	chmod(path, mode);
}

static void link_at(const char *root, const char *rel, const char *target)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	unlink(path);
	assert_int_equal(symlink(target, path), 0);
}

static const char grub_cfg[] =
	"set timeout=1\nset default=0\n"
	"menuentry 'rain image' {\n"
	"  search --no-floppy --fs-uuid --set=root 0b7e9a0e-1111-2222-3333-444455556666\n"
	"  linux /vmlinuz root=UUID=0b7e9a0e-1111-2222-3333-444455556666 ro console=tty0\n"
	"  initrd /initrd.img\n}\n";

/* The tree of a rain-built bookworm image, in small. */
static void make_tree(const char *root)
{
	char cmd[600];
	const char *rm[] = { "rm", "-rf", root, NULL };

	run(rm);
	(void)cmd;
	assert_int_equal(mkdir(root, 0755), 0);
	put(root, "etc/os-release", "ID=debian\nVERSION_ID=12\n", 0644);
	put(root, "etc/passwd", "root:x:0:0:root:/root:/bin/bash\n", 0644);
	put(root, "etc/machine-id", "0123456789abcdef0123456789abcdef\n", 0444);
	put(root, "etc/fstab", "# the image's file systems\nUUID=0b7e9a0e-1111-2222-3333-444455556666 / ext4 "
	    "defaults,errors=remount-ro 0 1\ntmpfs /tmp tmpfs defaults 0 0\n", 0644);
	put(root, "etc/ssh/sshd_config", "PermitRootLogin prohibit-password\n", 0644);
	put(root, "etc/ssh/ssh_host_ed25519_key", "PRIVATE\n", 0600);
	put(root, "etc/ssh/ssh_host_ed25519_key.pub", "ssh-ed25519 AAAA host\n", 0644);
	put(root, "etc/ssh/ssh_host_rsa_key", "PRIVATE\n", 0600);
	put(root, "etc/systemd/system/multi-user.target.wants/.keep", "", 0644);
	put(root, "usr/sbin/sshd", "", 0755);
	put(root, "usr/lib/systemd/system/serial-getty@.service", "[Unit]\n", 0644);
	put(root, "usr/lib/modules/" KVER "/modules.dep",
	    "kernel/drivers/block/virtio_blk.ko.xz:\nkernel/fs/squashfs/squashfs.ko.xz:\n", 0644);
	put(root, "usr/lib/modules/" KVER "/modules.builtin", "kernel/drivers/net/virtio_net.ko\n", 0644);
	link_at(root, "lib", "usr/lib");
	put(root, "boot/vmlinuz-" KVER, "a kernel of " KVER "\n", 0644);
	put(root, "boot/initrd.img-" KVER, "an initramfs of " KVER "\n", 0644);
	put(root, "boot/grub/grub.cfg", grub_cfg, 0644);
	put(root, "etc/default/grub", "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_CMDLINE_LINUX=\"\"\n",
	    0644);
	link_at(root, "vmlinuz", "boot/vmlinuz-" KVER);
	link_at(root, "initrd.img", "boot/initrd.img-" KVER);
	put(root, "var/log/syslog", "Dec  7 08:00:00 host kernel: booted\n", 0640);
	put(root, "var/log/apt/history.log", "Start-Date: 2026-12-07\n", 0644);
	put(root, "var/log/journal/0123/system.journal", "LPKSHHRH journal data\n", 0640);
	link_at(root, "var/log/shadow-link", "/etc/shadow");
	put(root, "var/lib/dhcp/dhclient.enp0s3.leases", "lease { fixed-address 10.0.2.15; }\n", 0644);
	put(root, "var/lib/systemd/random-seed", "0123456789", 0600);
	put(root, "root/.bash_history", "cat /etc/shadow\n", 0600);
	put(root, "root/.profile", "# profile\n", 0644);
	put(root, "home/user/.bash_history", "ls\n", 0600);
	link_at(root, "home/linked", "/root");
}

/* An MBR disk of 64 MiB with root's tree as ext4 in partition 1 (as
 * rain's BIOS disks are made: mke2fs at 1 MiB, then sfdisk). */
static void make_disk(const char *root, const char *disk)
{
	const char *mk[] = { "mke2fs", "-q", "-F", "-t", "ext4", "-b", "4096", "-E", "offset=1048576", "-d", root,
			     disk, "63M", NULL };
	const char *sf[] = { "sfdisk", "-q", "--no-reread", "--no-tell-kernel", disk, NULL };
	struct process_opts o = { .argv = sf, .timeout_s = 120 };
	int fd, status = -1;

	unlink(disk);
	fd = open(disk, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 64 << 20), 0);
	close(fd);
	assert_int_equal(run(mk), 0);
	put(tmp, "sfdisk.in", "label: dos\nstart=2048, type=83, bootable\n", 0600);
	o.stdin_fd = open(at("sfdisk.in"), O_RDONLY);
	assert_int_equal(process_run(&o, &status), 0);
	close(o.stdin_fd);
	assert_int_equal(status, 0);
}

static void sha_of(const char *path, char out[65])
{
	int64_t size;

	assert_int_equal(fs_sha256_file(path, out, &size), 0);
}

static void on_log(void *ud, enum rain_target_level level, const char *msg)
{
	strncat(log_text, msg, sizeof(log_text) - strlen(log_text) - 2);
	strcat(log_text, "\n");
}

struct run {
	struct rain_site site;
	struct rain_target_op op;
	struct rain_target_image img;
	struct rain_adapt_opts o;
	struct rain_target_artifacts a;
	json_t *props;
	volatile sig_atomic_t cancel;
	char work[512];
};

static void run_init(struct run *t, const char *disk, const char *format)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->work, sizeof(t->work), "%s", at("work"));
	{
		const char *rm[] = { "rm", "-rf", t->work, NULL };

		run(rm);
	}
	assert_int_equal(mkdir(t->work, 0700), 0);
	t->site.name = "test";
	t->props = json_pack("{s:s, s:s}", "os_distro", "debian", "os_version", "12");
	t->op = (struct rain_target_op){ .site = &t->site, .reg_id = "r1", .workdir = t->work, .log = on_log,
					 .cancel = &t->cancel };
	t->img = (struct rain_target_image){ .id = "img1", .name = "t", .path = disk, .disk_format = format,
					     .properties = t->props };
	log_text[0] = '\0';
}

static void run_clear(struct run *t)
{
	rain_target_artifacts_clear(&t->a);
	json_decref(t->props);
}

static int adapt(struct run *t)
{
	return rain_adapt(&t->op, &t->img, &t->o, &t->a);
}

/* (not inlined: gcc -O3 mistakes the buffer for the local that points to it) */
__attribute__((noinline)) static char *read_in(struct rain_imgfs *fs, const char *path)
{
	char *data = NULL;
	size_t len;

	if (rain_imgfs_read(fs, path, 0, &data, &len) < 0)
		fail_msg("%s: %s", path, rain_error_last());
	return data;
}

static void assert_absent(struct rain_imgfs *fs, const char *path)
{
	struct rain_imgfs_entry e;

	if (rain_imgfs_stat(fs, path, false, &e) != RAIN_ENOTFOUND)
		fail_msg("%s is still in the adapted image", path);
}

static void assert_size(struct rain_imgfs *fs, const char *path, uint64_t size, uint32_t mode)
{
	struct rain_imgfs_entry e;

	if (rain_imgfs_stat(fs, path, false, &e) < 0)
		fail_msg("%s: %s", path, rain_error_last());
	assert_int_equal(e.size, size);
	if (mode)
		assert_int_equal(e.mode, mode);
}

static void assert_link(struct rain_imgfs *fs, const char *path, const char *target)
{
	struct rain_imgfs_entry e;

	if (rain_imgfs_stat(fs, path, false, &e) < 0)
		fail_msg("%s: %s", path, rain_error_last());
	assert_true(S_ISLNK(e.mode));
	assert_string_equal(e.link, target);
}

/* e2fsck -fn on the file system at 1 MiB of the raw disk finds nothing. */
static void assert_fsck_clean(const char *raw)
{
	char dev[600];
	const char *argv[] = { "e2fsck", "-fn", dev, NULL };

	snprintf(dev, sizeof(dev), "%s?offset=%d", raw, DISK_OFFSET);
	assert_int_equal(run(argv), 0);
}

static void assert_label(const char *raw, const char *want)
{
	ext2_filsys fs;
	char label[17] = "";

	assert_int_equal(ext2fs_open2(raw, "offset=1048576", 0, 0, 0, unix_io_manager, &fs), 0);
	memcpy(label, fs->super->s_volume_name, 16);
	ext2fs_close_free(&fs);
	assert_string_equal(label, want);
}

static void test_adapt_raw(void **state)
{
	const char *modules[] = { "virtio_blk", "virtio-net", NULL };
	char before[65], after[65], passwd[65], passwd2[65], sha[65];
	struct rain_imgfs *fs;
	struct run t;
	char *s;
	size_t len;

	make_tree(at("tree"));
	make_disk(at("tree"), at("src.raw"));
	sha_of(at("src.raw"), before);
	sha_of("/etc/passwd", passwd);
	run_init(&t, at("src.raw"), "raw");
	t.op.ssh_key = KEY;
	t.o = (struct rain_adapt_opts){ .context = RAIN_ADAPT_FIRSTBOOT, .boot_files = true, .modules = modules };
	if (adapt(&t) < 0)
		fail_msg("adapt: %s", rain_error_last());
	/* the stored image and the host are untouched */
	sha_of(at("src.raw"), after);
	assert_string_equal(before, after);
	sha_of("/etc/passwd", passwd2);
	assert_string_equal(passwd, passwd2);

	/* what adaptation says of the copy */
	assert_string_equal(t.a.disk_format, "raw");
	assert_string_equal(t.a.disk, at("work/disk.raw"));
	assert_int_equal(t.a.virtual_size, 64 << 20);
	assert_int_equal(t.a.disk_size, 64 << 20);
	sha_of(t.a.disk, sha);
	assert_string_equal(t.a.disk_sha256, sha);
	assert_string_equal(t.a.kernel_version, KVER);
	assert_string_equal(t.a.cmdline, "root=UUID=0b7e9a0e-1111-2222-3333-444455556666 ro console=tty0 "
			    "console=ttyS0,115200");
	assert_string_equal(json_string_value(json_object_get(t.a.properties, "min_disk")), "1");
	assert_string_equal(json_string_value(json_object_get(t.a.properties, "os_distro")), "debian");
	assert_string_equal(json_string_value(json_object_get(t.a.properties, "architecture")), "x86_64");
	assert_int_equal(fs_read_small(t.a.kernel, 4096, &s, &len), 0);
	assert_string_equal(s, "a kernel of " KVER "\n");
	free(s);
	assert_int_equal(fs_read_small(t.a.initramfs, 4096, &s, &len), 0);
	assert_string_equal(s, "an initramfs of " KVER "\n");
	free(s);
	assert_non_null(strstr(log_text, "sysprep"));
	/* a home that is a link out of the image is left alone */
	assert_non_null(strstr(log_text, "the image's /home/linked is a symbolic link"));
	/* the copy is sparse: far fewer blocks than bytes */
	{
		struct stat st;

		assert_int_equal(stat(t.a.disk, &st), 0);
		assert_true(st.st_blocks * 512 < (32 << 20));
	}

	assert_fsck_clean(t.a.disk);
	assert_label(t.a.disk, "rain-root");
	assert_int_equal(rain_imgfs_open(t.a.disk, NULL, NULL, &fs), 0);
	assert_int_equal(rain_imgfs_info(fs)->partition, 1);
	/* sysprep */
	assert_size(fs, "/etc/machine-id", 0, S_IFREG | 0444);
	assert_absent(fs, "/etc/ssh/ssh_host_ed25519_key");
	assert_absent(fs, "/etc/ssh/ssh_host_ed25519_key.pub");
	assert_absent(fs, "/etc/ssh/ssh_host_rsa_key");
	assert_size(fs, "/etc/ssh/sshd_config", 34, 0);
	assert_size(fs, "/var/log/syslog", 0, S_IFREG | 0640);
	assert_size(fs, "/var/log/apt/history.log", 0, 0);
	assert_absent(fs, "/var/log/journal/0123/system.journal");
	assert_link(fs, "/var/log/shadow-link", "/etc/shadow");
	assert_absent(fs, "/var/lib/dhcp/dhclient.enp0s3.leases");
	assert_absent(fs, "/var/lib/systemd/random-seed");
	assert_absent(fs, "/root/.bash_history");
	assert_absent(fs, "/home/user/.bash_history");
	assert_size(fs, "/root/.profile", 10, 0);
	s = read_in(fs, "/etc/systemd/system/rain-ssh-host-keys.service");
	assert_non_null(strstr(s, "ssh-keygen -A"));
	free(s);
	assert_link(fs, "/etc/systemd/system/multi-user.target.wants/rain-ssh-host-keys.service",
		    "/etc/systemd/system/rain-ssh-host-keys.service");
	/* the first-boot unit with the key */
	s = read_in(fs, "/etc/systemd/system/rain-firstboot.service");
	assert_non_null(strstr(s, "ExecStart=/bin/sh /usr/local/sbin/rain-firstboot nocloud\n"));
	free(s);
	assert_link(fs, "/etc/systemd/system/multi-user.target.wants/rain-firstboot.service",
		    "/etc/systemd/system/rain-firstboot.service");
	s = read_in(fs, "/usr/local/sbin/rain-firstboot");
	assert_true(strncmp(s, "#!/bin/sh\n", 10) == 0);
	assert_size(fs, "/usr/local/sbin/rain-firstboot", strlen(s), S_IFREG | 0755);
	free(s);
	s = read_in(fs, "/etc/rain/authorized_keys");
	assert_string_equal(s, KEY "\n");
	free(s);
	assert_size(fs, "/etc/rain/authorized_keys", strlen(KEY) + 1, S_IFREG | 0600);
	/* fstab by label, its other lines kept */
	s = read_in(fs, "/etc/fstab");
	assert_string_equal(s, "# the image's file systems\nLABEL=rain-root / ext4 defaults,errors=remount-ro 0 1\n"
			    "tmpfs /tmp tmpfs defaults 0 0\n");
	free(s);
	/* the serial console */
	s = read_in(fs, "/boot/grub/grub.cfg");
	assert_non_null(strstr(s, "  linux /vmlinuz root=UUID=0b7e9a0e-1111-2222-3333-444455556666 ro "
			       "console=tty0 console=ttyS0,115200\n"));
	free(s);
	assert_link(fs, "/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service",
		    "/usr/lib/systemd/system/serial-getty@.service");
	/* and in what update-grub will write */
	s = read_in(fs, "/etc/default/grub");
	assert_string_equal(s, "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n"
			    "GRUB_CMDLINE_LINUX=\"console=ttyS0,115200\"\n");
	free(s);
	rain_imgfs_close(fs);

	/* again in the same workdir: the same result, nothing doubled */
	strcpy(before, t.a.disk_sha256);
	rain_target_artifacts_clear(&t.a);
	assert_int_equal(adapt(&t), 0);
	assert_int_equal(rain_imgfs_open(t.a.disk, NULL, NULL, &fs), 0);
	s = read_in(fs, "/boot/grub/grub.cfg");
	{
		const char *first = strstr(s, "ttyS0");

		assert_non_null(first);
		assert_null(strstr(first + 1, "ttyS0"));
	}
	free(s);
	rain_imgfs_close(fs);
	run_clear(&t);
}

static void test_adapt_qcow2(void **state)
{
	const char *conv[] = { "qemu-img", "convert", "-f", "raw", "-O", "qcow2", at("src.raw"), at("src.qcow2"),
			       NULL };
	char before[65], after[65];
	struct rain_imgfs *fs;
	struct run t;
	char *s;

	make_tree(at("tree"));
	/* with cloud-init: its datasources, no unit of rain's */
	put(at("tree"), "usr/bin/cloud-init", "#!/usr/bin/python3\n", 0755);
	make_disk(at("tree"), at("src.raw"));
	unlink(at("src.qcow2"));
	assert_int_equal(run(conv), 0);
	sha_of(at("src.qcow2"), before);
	run_init(&t, at("src.qcow2"), "qcow2");
	t.op.ssh_key = KEY;
	t.o = (struct rain_adapt_opts){ .context = RAIN_ADAPT_CLOUD_INIT };
	if (adapt(&t) < 0)
		fail_msg("adapt: %s", rain_error_last());
	sha_of(at("src.qcow2"), after);
	assert_string_equal(before, after);
	assert_string_equal(t.a.disk_format, "qcow2");
	assert_string_equal(t.a.disk, at("work/disk.qcow2"));
	assert_int_equal(access(at("work/disk.raw"), F_OK), -1);
	assert_null(t.a.kernel);
	assert_int_equal(t.a.virtual_size, 64 << 20);
	{
		struct rain_diskfmt_info info;
		int fd = open(t.a.disk, O_RDONLY);
		char *head = calloc(1, 65536);
		ssize_t n = read(fd, head, 65536);

		assert_true(n > 0);
		assert_string_equal(rain_diskfmt_detect((unsigned char *)head, (size_t)n), "qcow2");
		(void)info;
		free(head);
		close(fd);
	}
	assert_int_equal(rain_imgfs_open(t.a.disk, NULL, NULL, &fs), 0);
	s = read_in(fs, "/etc/cloud/cloud.cfg.d/90_rain_datasource.cfg");
	assert_non_null(strstr(s, "datasource_list: [ NoCloud, ConfigDrive, OpenStack, None ]\n"));
	free(s);
	s = read_in(fs, "/etc/cloud/cloud.cfg.d/91_rain_ssh_key.cfg");
	assert_non_null(strstr(s, "ssh_authorized_keys:\n  - \"" KEY "\"\n"));
	free(s);
	assert_absent(fs, "/etc/systemd/system/rain-firstboot.service");
	/* cloud-init makes host keys itself */
	assert_absent(fs, "/etc/systemd/system/rain-ssh-host-keys.service");
	assert_size(fs, "/etc/machine-id", 0, 0);
	rain_imgfs_close(fs);
	/* asked for raw: the qcow2 made raw */
	rain_target_artifacts_clear(&t.a);
	t.o.disk_format = "raw";
	t.o.context = RAIN_ADAPT_ONE_CONTEXT;
	assert_int_equal(adapt(&t), 0);
	assert_string_equal(t.a.disk_format, "raw");
	assert_fsck_clean(t.a.disk);
	assert_int_equal(rain_imgfs_open(t.a.disk, NULL, NULL, &fs), 0);
	s = read_in(fs, "/etc/cloud/cloud.cfg.d/90_rain_datasource.cfg");
	assert_non_null(strstr(s, "datasource_list: [ OpenNebula, None ]\n"));
	free(s);
	rain_imgfs_close(fs);
	run_clear(&t);
}

/* An arm64 image booting through extlinux (relative paths, no APPEND):
 * the console is ttyAMA0, added as an APPEND line of the entry. */
static void test_extlinux_arm64(void **state)
{
	struct rain_imgfs *fs;
	struct run t;
	char *s;

	make_tree(at("tree"));
	unlink(at("tree/boot/grub/grub.cfg"));
	put(at("tree"), "boot/extlinux/extlinux.conf", "DEFAULT rain\nLABEL other\n  LINUX /nothing\n"
	    "LABEL rain\n  LINUX ../vmlinuz-" KVER "\n  INITRD ../initrd.img-" KVER "\n", 0644);
	make_disk(at("tree"), at("src.raw"));
	run_init(&t, at("src.raw"), "raw");
	json_object_set_new(t.props, "architecture", json_string("aarch64"));
	t.o.boot_files = true;
	if (adapt(&t) < 0)
		fail_msg("adapt: %s", rain_error_last());
	assert_string_equal(t.a.kernel_version, KVER);
	assert_string_equal(t.a.cmdline, "console=ttyAMA0,115200");
	assert_non_null(t.a.initramfs);
	assert_string_equal(json_string_value(json_object_get(t.a.properties, "architecture")), "aarch64");
	assert_int_equal(rain_imgfs_open(t.a.disk, NULL, NULL, &fs), 0);
	s = read_in(fs, "/boot/extlinux/extlinux.conf");
	assert_string_equal(s, "DEFAULT rain\nLABEL other\n  LINUX /nothing\n\tAPPEND console=ttyAMA0,115200\n"
			    "LABEL rain\n  LINUX ../vmlinuz-" KVER "\n\tAPPEND console=ttyAMA0,115200\n"
			    "  INITRD ../initrd.img-" KVER "\n");
	free(s);
	assert_link(fs, "/etc/systemd/system/getty.target.wants/serial-getty@ttyAMA0.service",
		    "/usr/lib/systemd/system/serial-getty@.service");
	rain_imgfs_close(fs);
	assert_fsck_clean(t.a.disk);
	run_clear(&t);
}

/* Adapting the disk made of the tree fails with code, the message naming
 * what; the stored disk is unchanged and nothing is left in the workdir. */
static void assert_refused(struct run *t, int code, const char *what)
{
	char before[65], after[65];
	int r;

	sha_of(t->img.path, before);
	r = adapt(t);
	if (r != code)
		fail_msg("adapt gave %d (%s), not %d", r, rain_error_last(), code);
	assert_error_contains(what);
	sha_of(t->img.path, after);
	assert_string_equal(before, after);
	assert_int_equal(access(at("work/disk.raw"), F_OK), -1);
	assert_null(t->a.disk);
}

static void test_hostile_links(void **state)
{
	char passwd[65], passwd2[65];
	struct run t;

	sha_of("/etc/passwd", passwd);
	/* /etc/fstab a link to the host's /etc/passwd */
	make_tree(at("tree"));
	link_at(at("tree"), "etc/fstab", "/etc/passwd");
	make_disk(at("tree"), at("src.raw"));
	run_init(&t, at("src.raw"), "raw");
	assert_refused(&t, RAIN_EFORMAT, "the image's /etc/fstab is a symbolic link (to /etc/passwd)");
	run_clear(&t);
	/* ... and out of the image, relatively */
	link_at(at("tree"), "etc/fstab", "../../../../../../etc/passwd");
	make_disk(at("tree"), at("src.raw"));
	run_init(&t, at("src.raw"), "raw");
	assert_refused(&t, RAIN_EFORMAT, "the image's /etc/fstab is a symbolic link (to ../../../../../../etc/passwd)");
	run_clear(&t);
	/* /etc/ssh a link to a folder of the host */
	make_tree(at("tree"));
	{
		const char *rm[] = { "rm", "-rf", at("tree/etc/ssh"), NULL };

		run(rm);
	}
	link_at(at("tree"), "etc/ssh", "/etc/ssh");
	make_disk(at("tree"), at("src.raw"));
	run_init(&t, at("src.raw"), "raw");
	assert_refused(&t, RAIN_EFORMAT, "/etc/ssh is a symbolic link (to /etc/ssh)");
	run_clear(&t);
	/* the grub.cfg a link to the host's: refused when rain edits it */
	make_tree(at("tree"));
	link_at(at("tree"), "boot/grub/grub.cfg", "/etc/passwd");
	make_disk(at("tree"), at("src.raw"));
	run_init(&t, at("src.raw"), "raw");
	t.o.no_sysprep = true;
	/* read inside the image, the link leads nowhere: no boot configuration,
	 * the kernel found in /boot; then the edit of the link is not tried */
	assert_int_equal(adapt(&t), 0);
	assert_string_equal(t.a.kernel_version, KVER);
	run_clear(&t);
	sha_of("/etc/passwd", passwd2);
	assert_string_equal(passwd, passwd2);
}

static void test_hostile_images(void **state)
{
	const char *backing[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", at("src.raw"),
				  at("b.qcow2"), "64M", NULL };
	struct run t;
	int fd;

	make_tree(at("tree"));
	make_disk(at("tree"), at("src.raw"));
	/* a qcow2 naming a backing file */
	unlink(at("b.qcow2"));
	assert_int_equal(run(backing), 0);
	run_init(&t, at("b.qcow2"), "qcow2");
	assert_refused(&t, RAIN_EFORMAT, "backing");
	run_clear(&t);
	/* raw declared, qcow2 inside */
	run_init(&t, at("b.qcow2"), "raw");
	assert_refused(&t, RAIN_EFORMAT, "qcow2");
	run_clear(&t);
	/* a kernel the site does not allow */
	{
		char *kernels[] = { "5.10.*", NULL };

		run_init(&t, at("src.raw"), "raw");
		t.site.kernels = kernels;
		assert_refused(&t, RAIN_EFORBIDDEN, "kernel " KVER " is not allowed");
		/* found in the stored image: refused before a copy is made */
		assert_null(strstr(log_text, "copying"));
		run_clear(&t);
	}
	/* a module the kernel lacks */
	{
		const char *modules[] = { "virtio_blk", "overlay", "9pnet", NULL };

		run_init(&t, at("src.raw"), "raw");
		t.o.modules = modules;
		assert_refused(&t, RAIN_EINVAL, "lacks what the site needs: overlay, 9pnet");
		run_clear(&t);
	}
	/* a bad key, a cancel */
	run_init(&t, at("src.raw"), "raw");
	t.op.ssh_key = "ssh-ed25519 AAAA\nroot:x:0:0";
	assert_refused(&t, RAIN_EINVAL, "no OpenSSH public key line");
	t.op.ssh_key = NULL;
	t.cancel = 1;
	assert_refused(&t, RAIN_ECANCELED, "canceled");
	run_clear(&t);
	/* no kernel */
	{
		const char *rm[] = { "rm", "-rf", at("tree/boot"), at("tree/vmlinuz"), at("tree/initrd.img"), NULL };

		run(rm);
	}
	make_disk(at("tree"), at("src.raw"));
	run_init(&t, at("src.raw"), "raw");
	assert_refused(&t, RAIN_EFORMAT, "has no kernel");
	run_clear(&t);
	/* a corrupt ext4: garbage over its metadata */
	make_tree(at("tree"));
	make_disk(at("tree"), at("src.raw"));
	fd = open(at("src.raw"), O_WRONLY);
	for (off_t off = DISK_OFFSET + 4096; off < DISK_OFFSET + (2 << 20); off += 509)
		assert_int_equal(pwrite(fd, "\xff\x7f\x00\x13\x88", 5, off), 5);
	close(fd);
	run_init(&t, at("src.raw"), "raw");
	{
		char before[65], after[65];
		int r;

		sha_of(at("src.raw"), before);
		r = adapt(&t);
		assert_int_equal(r, RAIN_EFORMAT);
		assert_error_contains("root file system (partition 1) is not consistent");
		assert_int_equal(access(at("work/disk.raw"), F_OK), -1);
		sha_of(at("src.raw"), after);
		assert_string_equal(before, after);
	}
	run_clear(&t);
}

static int setup(void **state)
{
	snprintf(tmp, sizeof(tmp), "/tmp/rain-test-adapt-XXXXXX");
	return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
	test_rmtree(tmp);
	return 0;
}

/* The console is looked for in a grub entry's command line, not in the
 * kernel's path: "linux console=ttyS0" names a kernel of that name and no
 * console (found by fuzz-adapt-boot). */
static void test_grub_console_after_path(void **state)
{
	static const char cfg[] = "menuentry a {\n  linux console=ttyS0\n}\n";
	struct adapt_boot b;
	char *out = NULL;
	bool changed;

	(void)state;
	assert_int_equal(adapt_boot_add_console(ADAPT_BOOT_GRUB, cfg, strlen(cfg), "ttyS0", &out, &changed), 0);
	assert_true(changed);
	assert_string_equal(out, "menuentry a {\n  linux console=ttyS0 console=ttyS0,115200\n}\n");
	assert_int_equal(adapt_boot_parse(ADAPT_BOOT_GRUB, out, strlen(out), &b), 0);
	assert_string_equal(b.kernel, "console=ttyS0");
	assert_true(adapt_cmdline_has_console(b.cmdline, "ttyS0"));
	adapt_boot_clear(&b);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_adapt_raw),
		cmocka_unit_test(test_adapt_qcow2),
		cmocka_unit_test(test_extlinux_arm64),
		cmocka_unit_test(test_hostile_links),
		cmocka_unit_test(test_hostile_images),
		cmocka_unit_test(test_grub_console_after_path),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
