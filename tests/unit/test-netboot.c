/* What diskless nodes boot (rain/netboot.h): the root squashfs made from
 * an ext4 image through imgfs and tar2sqfs, read back through imgfs; the
 * initramfs read back with libarchive (busybox, modules in load order,
 * decompressed, an init that sh parses); the kernel picked; the iPXE and
 * dnsmasq files (dnsmasq itself checks the latter). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "rain/error.h"
#include "rain/imgfs.h"
#include "lib/target/netboot-internal.h"
#include "rain/netboot.h"
#include "testutil.h"
#include "util/fsutil.h"
#include "util/process.h"
#include "util/strutil.h"

static char tmp[] = "/tmp/rain-test-netboot-XXXXXX";
static bool is_root;

static char *at(const char *rel)
{
	static char bufs[8][4096];
	static int i;
	char *b = bufs[i++ % 8];

	snprintf(b, sizeof(bufs[0]), "%s/%s", tmp, rel);
	return b;
}

static void print_line(void *ud, const char *line)
{
	(void)ud;
	print_message("# %s\n", line);
}

static int run(const char *const *argv)
{
	struct process_opts o = { .argv = argv, .stdin_fd = -1, .on_line = print_line };
	int status = -1;

	if (process_run(&o, &status) < 0)
		return -1;
	return status;
}

static void put(const char *rel, const char *content, mode_t mode)
{
	char *p = at(rel);
	FILE *f;

	for (char *s = strchr(p + strlen(tmp) + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		mkdir(p, 0755);
		*s = '/';
	}
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	assert_int_equal(chmod(p, mode), 0);
}

static int setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(tmp));
	is_root = geteuid() == 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	test_rmtree(tmp);
	return 0;
}

/* ---- the root squashfs ---- */

static struct {
	int n;
	bool cap, user;
} xa_seen;

static int xa_fn(void *ud, const char *name, const void *v, size_t size)
{
	xa_seen.n++;
	if (!strcmp(name, "security.capability") && size == 20 && !memcmp(v, ud, size))
		xa_seen.cap = true;
	if (!strcmp(name, "user.a") && size == 3 && !memcmp(v, "one", 3))
		xa_seen.user = true;
	return 0;
}

static void test_squashfs(void **state)
{
	const uint32_t cap[5] = { 0x02000001, 1u << 13, 0, 0, 0 };
	const unsigned char acl[] = { 2, 0, 0, 0, 1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff, 2, 0, 4, 0, 0xe8, 3, 0, 0,
				      4, 0, 4, 0, 0xff, 0xff, 0xff, 0xff, 0x10, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,
				      0x20, 0, 0, 0, 0xff, 0xff, 0xff, 0xff };
	const char *mkfs[] = { "mke2fs", "-q", "-F", "-t", "ext4", "-d", NULL, NULL, "16M", NULL };
	const struct rain_netboot_file files[] = {
		{ "/etc/fstab", "# netbooted\n", 12, 0644, NULL },
		{ "/etc/rain-netboot", "reg-1\n", 6, 0600, NULL },
		{ "/etc/hostname", NULL, 0, 0, "/dev/null" },
	};
	struct rain_netboot_squashfs_opts o = { .files = files, .n_files = 3 };
	struct rain_netboot_squashfs_stats st;
	struct rain_imgfs *fs, *sq;
	struct rain_imgfs_entry e;
	char *data, big[300000];
	size_t len;
	uint64_t node;

	(void)state;
	if (!is_root)
		skip();
	put("tree/etc/fstab", "UUID=1 / ext4 defaults 0 1\n", 0644);
	put("tree/etc/hostname", "node\n", 0644);
	put("tree/usr/bin/su", "#!/bin/false\n", 04755);
	put("tree/home/u/notes", "mine\n", 0600);
	memset(big, 'x', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	put("tree/var/big", big, 0644);
	assert_int_equal(chown(at("tree/home/u/notes"), 1000, 1001), 0);
	assert_int_equal(symlink("/etc/shadow", at("tree/etc/out")), 0);
	assert_int_equal(symlink("../../../../..", at("tree/home/u/up")), 0);
	assert_int_equal(link(at("tree/usr/bin/su"), at("tree/usr/bin/su2")), 0);
	assert_int_equal(mkfifo(at("tree/var/fifo"), 0640), 0);
	assert_int_equal(mknod(at("tree/var/null"), S_IFCHR | 0666, makedev(1, 3)), 0);
	assert_int_equal(chmod(at("tree/var/null"), 0666), 0);
	assert_int_equal(setxattr(at("tree/usr/bin/su"), "security.capability", cap, sizeof(cap), 0), 0);
	assert_int_equal(setxattr(at("tree/var/big"), "user.a", "one", 3, 0), 0);
	assert_int_equal(setxattr(at("tree/var/big"), "system.posix_acl_access", acl, sizeof(acl), 0), 0);
	mkfs[6] = at("tree");
	mkfs[7] = at("img.ext4");
	assert_int_equal(run(mkfs), 0);

	assert_int_equal(rain_imgfs_open(at("img.ext4"), NULL, NULL, &fs), 0);
	assert_int_equal(rain_netboot_squashfs(fs, at("root.sqfs"), &o, &st), 0);
	rain_imgfs_close(fs);
	assert_true(st.entries >= 15);
	assert_true(st.bytes >= sizeof(big));
	assert_int_equal(st.xattrs_skipped, 1);         /* the ACL */
	{
		struct stat s;

		assert_int_equal(stat(at("root.sqfs"), &s), 0);
		assert_int_equal(s.st_mode & 0777, 0600);
	}

	assert_int_equal(rain_imgfs_open(at("root.sqfs"), NULL, NULL, &sq), 0);
	assert_string_equal(rain_imgfs_info(sq)->format, "squashfs");
	/* replaced and added files */
	assert_int_equal(rain_imgfs_read(sq, "/etc/fstab", 0, &data, &len), 0);
	assert_string_equal(data, "# netbooted\n");
	free(data);
	assert_int_equal(rain_imgfs_stat(sq, "/etc/rain-netboot", false, &e), 0);
	assert_int_equal(e.mode, S_IFREG | 0600);
	assert_int_equal(rain_imgfs_stat(sq, "/etc/hostname", false, &e), 0);
	assert_true(S_ISLNK(e.mode));
	assert_string_equal(e.link, "/dev/null");
	/* content, owners, modes */
	assert_int_equal(rain_imgfs_read(sq, "/var/big", 0, &data, &len), 0);
	assert_int_equal(len, sizeof(big) - 1);
	assert_memory_equal(data, big, len);
	free(data);
	assert_int_equal(rain_imgfs_stat(sq, "/home/u/notes", false, &e), 0);
	assert_int_equal(e.uid, 1000);
	assert_int_equal(e.gid, 1001);
	assert_int_equal(e.mode, S_IFREG | 0600);
	assert_int_equal(rain_imgfs_stat(sq, "/usr/bin/su", false, &e), 0);
	assert_int_equal(e.mode, S_IFREG | 04755);
	assert_int_equal(e.nlink, 2);
	node = e.node;
	assert_int_equal(rain_imgfs_stat(sq, "/usr/bin/su2", false, &e), 0);
	assert_int_equal(e.node, node);
	/* links as data, never followed */
	assert_int_equal(rain_imgfs_stat(sq, "/etc/out", false, &e), 0);
	assert_true(S_ISLNK(e.mode));
	assert_string_equal(e.link, "/etc/shadow");
	assert_int_equal(rain_imgfs_stat(sq, "/home/u/up", false, &e), 0);
	assert_string_equal(e.link, "../../../../..");
	assert_int_equal(rain_imgfs_stat(sq, "/var/fifo", false, &e), 0);
	assert_int_equal(e.mode, S_IFIFO | 0640);
	assert_int_equal(rain_imgfs_stat(sq, "/var/null", false, &e), 0);
	assert_int_equal(e.mode, S_IFCHR | 0666);
	assert_int_equal(e.rdev_major, 1);
	assert_int_equal(e.rdev_minor, 3);
	/* attributes squashfs can hold */
	memset(&xa_seen, 0, sizeof(xa_seen));
	assert_int_equal(rain_imgfs_stat(sq, "/usr/bin/su", false, &e), 0);
	assert_int_equal(rain_imgfs_xattrs(sq, &e, xa_fn, (void *)cap), 0);
	assert_int_equal(rain_imgfs_stat(sq, "/var/big", false, &e), 0);
	assert_int_equal(rain_imgfs_xattrs(sq, &e, xa_fn, (void *)cap), 0);
	assert_true(xa_seen.cap);
	assert_true(xa_seen.user);
	assert_int_equal(xa_seen.n, 2);
	rain_imgfs_close(sq);

	/* a path to add that is not absolute; an output that cannot be made */
	{
		const struct rain_netboot_file bad[] = { { "etc/x", "", 0, 0644, NULL } };
		struct rain_netboot_squashfs_opts ob = { .files = bad, .n_files = 1 };

		assert_int_equal(rain_imgfs_open(at("img.ext4"), NULL, NULL, &fs), 0);
		assert_int_equal(rain_netboot_squashfs(fs, at("bad.sqfs"), &ob, NULL), RAIN_EINVAL);
		assert_error_contains("etc/x");
		assert_int_equal(rain_netboot_squashfs(fs, at("nodir/x.sqfs"), NULL, NULL), RAIN_EIO);
		assert_error_contains("nodir/x.sqfs");
		rain_imgfs_close(fs);
	}
	/* tar2sqfs refusing (an unknown compressor) is an error naming it, and
	 * leaves no file */
	{
		struct rain_netboot_squashfs_opts oc = { .compressor = "nonesuch" };

		assert_int_equal(rain_imgfs_open(at("img.ext4"), NULL, NULL, &fs), 0);
		assert_int_equal(rain_netboot_squashfs(fs, at("c.sqfs"), &oc, NULL), RAIN_EIO);
		assert_error_contains("tar2sqfs exited");
		assert_int_equal(access(at("c.sqfs"), F_OK), -1);
		rain_imgfs_close(fs);
	}
	/* a cancel stops it */
	{
		volatile sig_atomic_t cancel = 1;
		struct rain_netboot_squashfs_opts oc = { .cancel = &cancel };

		assert_int_equal(rain_imgfs_open(at("img.ext4"), NULL, NULL, &fs), 0);
		assert_int_equal(rain_netboot_squashfs(fs, at("x.sqfs"), &oc, NULL), RAIN_ECANCELED);
		assert_int_equal(access(at("x.sqfs"), F_OK), -1);
		rain_imgfs_close(fs);
	}
}

/* ---- the kernel and the initramfs ---- */

#define KV "6.1.0-9-amd64"

static void make_modules_tree(void)
{
	const char *xz[] = { "xz", "-k", "-f", at("mods/lib/modules/" KV "/kernel/fs/squashfs/squashfs.ko"), NULL };

	put("mods/lib/modules/" KV "/modules.dep",
	    "kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko\n"
	    "kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko\n"
	    "kernel/net/core/failover.ko:\n"
	    "kernel/fs/squashfs/squashfs.ko.xz:\n"
	    "kernel/drivers/block/loop.ko:\n"
	    "kernel/fs/overlayfs/overlay.ko:\n"
	    "kernel/drivers/net/ethernet/intel/e1000/e1000.ko:\n"
	    "kernel/drivers/gpu/drm/drm.ko:\n", 0644);
	put("mods/lib/modules/" KV "/modules.builtin", "kernel/drivers/virtio/virtio_pci.ko\n"
	    "kernel/net/packet/af_packet.ko\n", 0644);
	put("mods/lib/modules/" KV "/kernel/drivers/net/virtio_net.ko", "ELF virtio_net", 0644);
	put("mods/lib/modules/" KV "/kernel/drivers/net/net_failover.ko", "ELF net_failover", 0644);
	put("mods/lib/modules/" KV "/kernel/net/core/failover.ko", "ELF failover", 0644);
	put("mods/lib/modules/" KV "/kernel/fs/squashfs/squashfs.ko", "ELF squashfs, once compressed", 0644);
	assert_int_equal(run(xz), 0);
	unlink(at("mods/lib/modules/" KV "/kernel/fs/squashfs/squashfs.ko"));
	put("mods/lib/modules/" KV "/kernel/drivers/block/loop.ko", "ELF loop", 0644);
	put("mods/lib/modules/" KV "/kernel/fs/overlayfs/overlay.ko", "ELF overlay", 0644);
	put("mods/lib/modules/" KV "/kernel/drivers/net/ethernet/intel/e1000/e1000.ko", "ELF e1000", 0644);
	put("mods/lib/modules/" KV "/kernel/drivers/gpu/drm/drm.ko", "ELF drm", 0644);
	put("mods/boot/vmlinuz-" KV, "the kernel " KV, 0644);
	put("mods/boot/vmlinuz-6.1.0-10-amd64", "a kernel without modules", 0644);
	put("mods/boot/vmlinuz-6.1.0-2-amd64", "an older kernel", 0644);
	put("mods/lib/modules/6.1.0-2-amd64/modules.dep", "", 0644);
}

struct cpio_seen {
	char names[4096];
	char modules[512];
	char nic_modules[512];
	char squashfs[64];
	int64_t busybox_size;
	bool console, init_parses;
};

static void read_cpio(const char *path, struct cpio_seen *s)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ae;

	memset(s, 0, sizeof(*s));
	archive_read_support_filter_all(a);
	archive_read_support_format_all(a);
	assert_int_equal(archive_read_open_filename(a, path, 65536), ARCHIVE_OK);
	assert_int_equal(archive_format(a) & ARCHIVE_FORMAT_BASE_MASK, 0);   /* before the first header */
	while (archive_read_next_header(a, &ae) == ARCHIVE_OK) {
		const char *n = archive_entry_pathname(ae);
		char buf[8192];
		la_ssize_t got;

		assert_int_equal(archive_format(a), ARCHIVE_FORMAT_CPIO_SVR4_NOCRC);
		strncat(s->names, n, sizeof(s->names) - strlen(s->names) - 2);
		strcat(s->names, " ");
		if (!strcmp(n, "bin/busybox"))
			s->busybox_size = archive_entry_size(ae);
		if (!strcmp(n, "dev/console"))
			s->console = archive_entry_filetype(ae) == AE_IFCHR && archive_entry_rdevmajor(ae) == 5 &&
				     archive_entry_rdevminor(ae) == 1;
		got = archive_read_data(a, buf, sizeof(buf) - 1);
		assert_true(got >= 0);
		buf[got] = '\0';
		if (!strcmp(n, "etc/rain-modules"))
			snprintf(s->modules, sizeof(s->modules), "%.511s", buf);
		if (!strcmp(n, "etc/rain-modules-nic"))
			snprintf(s->nic_modules, sizeof(s->nic_modules), "%.511s", buf);
		if (!strcmp(n, "lib/modules/squashfs.ko"))
			snprintf(s->squashfs, sizeof(s->squashfs), "%.63s", buf);
		if (!strcmp(n, "init")) {
			FILE *f = fopen(at("init.sh"), "w");
			const char *sh[] = { "sh", "-n", at("init.sh"), NULL };

			fwrite(buf, 1, (size_t)got, f);
			fclose(f);
			assert_int_equal(archive_entry_perm(ae), 0755);
			assert_true(strncmp(buf, "#!/bin/sh\n", 10) == 0);
			s->init_parses = run(sh) == 0;
		}
	}
	archive_read_free(a);
}

static void test_kernel_initramfs(void **state)
{
	const char *const need_more[] = { "virtio_net", "squashfs", "loop", "overlay", "virtio-blk", "nvme", NULL };
	const char *const only_drm[] = { "drm", NULL };
	struct rain_netboot_initramfs_opts o = { 0 };
	struct rain_imgfs *fs;
	struct cpio_seen s;
	struct stat bb;
	char *kver, *data;
	size_t n, len;

	(void)state;
	make_modules_tree();
	assert_int_equal(rain_imgfs_open(at("mods"), "dir", NULL, &fs), 0);

	/* the newest kernel that has its modules */
	assert_int_equal(rain_netboot_kernel(fs, at("vmlinuz"), &kver), 0);
	assert_string_equal(kver, KV);
	free(kver);
	assert_int_equal(fs_read_small(at("vmlinuz"), 1024, &data, &len), 0);
	assert_string_equal(data, "the kernel " KV);
	free(data);

	if (stat("/bin/busybox", &bb) < 0)
		skip();
	assert_int_equal(rain_netboot_initramfs(fs, KV, NULL, at("initramfs"), &n), 0);
	/* failover, net_failover, virtio_net, squashfs, loop, overlay; e1000
	 * (optional, there: in the list the init loads only when the others
	 * bring up no interface); virtio_pci and af_packet built in; drm not
	 * asked */
	assert_int_equal(n, 7);
	read_cpio(at("initramfs"), &s);
	assert_string_equal(s.modules, "failover.ko\nnet_failover.ko\nvirtio_net.ko\nsquashfs.ko\nloop.ko\n"
			    "overlay.ko\n");
	assert_string_equal(s.nic_modules, "e1000.ko\n");
	assert_string_equal(s.squashfs, "ELF squashfs, once compressed");
	assert_int_equal(s.busybox_size, bb.st_size);
	assert_true(s.console);
	assert_true(s.init_parses);
	assert_non_null(strstr(s.names, "init "));
	assert_non_null(strstr(s.names, "bin/sh "));
	assert_non_null(strstr(s.names, "etc/udhcpc.script "));
	assert_null(strstr(s.names, "drm"));

	/* chosen modules only, none optional */
	o.modules = only_drm;
	o.optional = (const char *const[]){ NULL };
	assert_int_equal(rain_netboot_initramfs(fs, KV, &o, at("initramfs"), &n), 0);
	assert_int_equal(n, 1);
	/* modules the kernel lacks are named */
	o.modules = need_more;
	assert_int_equal(rain_netboot_initramfs(fs, KV, &o, at("initramfs2"), &n), RAIN_EINVAL);
	assert_error_contains("virtio_blk, nvme");
	assert_int_equal(access(at("initramfs2"), F_OK), -1);
	/* a version that is not a name, a kernel without modules.dep */
	assert_int_equal(rain_netboot_initramfs(fs, "../x", NULL, at("i3"), NULL), RAIN_EINVAL);
	assert_int_equal(rain_netboot_initramfs(fs, "6.1.0-10-amd64", NULL, at("i3"), NULL), RAIN_ENOTFOUND);
	/* required modules missing altogether */
	assert_int_equal(rain_netboot_initramfs(fs, "6.1.0-2-amd64", NULL, at("i3"), NULL), RAIN_EINVAL);
	assert_error_contains("virtio_net, virtio_pci, squashfs, loop, overlay");
	/* no busybox */
	o.modules = only_drm;
	o.busybox = at("no-busybox");
	assert_int_equal(rain_netboot_initramfs(fs, KV, &o, at("i4"), NULL), RAIN_ENOTFOUND);
	assert_error_contains("busybox-static");
	rain_imgfs_close(fs);

	/* an image without a kernel */
	put("nokernel/etc/hostname", "x\n", 0644);
	assert_int_equal(rain_imgfs_open(at("nokernel"), "dir", NULL, &fs), 0);
	assert_int_equal(rain_netboot_kernel(fs, at("vmlinuz2"), &kver), RAIN_ENOTFOUND);
	assert_error_contains("kernel = yes");
	rain_imgfs_close(fs);
}

/* the order from hostile module lists: cycles, missing dependencies, a
 * chain far deeper than any stack would take by recursion */
static void test_modules_order(void **state)
{
	const char *const need[] = { "a", NULL };
	struct netboot_module *m;
	size_t n, len = 0;
	char *chain;

	(void)state;
	assert_int_equal(netboot_modules_order("k/a.ko: k/b.ko\nk/b.ko: k/c.ko\nk/c.ko: k/a.ko\n", NULL, need, NULL,
					       "v", &m, &n), RAIN_EFORMAT);
	assert_error_contains("depends on itself");
	assert_int_equal(netboot_modules_order("k/a.ko: k/zz.ko\n", NULL, need, NULL, "v", &m, &n), RAIN_EFORMAT);
	assert_error_contains("a needs zz, which it does not list");
	assert_int_equal(netboot_modules_order("k/a.ko: k/zz.ko\n", "k/zz.ko\n", need, NULL, "v", &m, &n), 0);
	assert_int_equal(n, 1);
	netboot_modules_free(m, n);
	/* optional ones after the others, marked, but not a dependency the
	 * others load already: a and its c; then nic's d, nic */
	{
		const char *const nic[] = { "nic", "absent", NULL };

		assert_int_equal(netboot_modules_order("k/a.ko: k/c.ko\nk/c.ko:\nk/d.ko:\nk/nic.ko: k/c.ko k/d.ko\n",
						       NULL, need, nic, "v", &m, &n), 0);
		assert_int_equal(n, 4);
		assert_string_equal(m[0].name, "c");
		assert_string_equal(m[1].name, "a");
		assert_string_equal(m[2].name, "d");
		assert_string_equal(m[3].name, "nic");
		assert_false(m[0].optional || m[1].optional);
		assert_true(m[2].optional && m[3].optional);
		netboot_modules_free(m, n);
	}
	/* a -> m1 -> m2 -> ... -> m99999 */
	chain = malloc(100000 * 32);
	assert_non_null(chain);
	len += (size_t)sprintf(chain, "k/a.ko: k/m1.ko\n");
	for (int i = 1; i < 99998; i++)
		len += (size_t)sprintf(chain + len, "k/m%d.ko: k/m%d.ko\n", i, i + 1);
	len += (size_t)sprintf(chain + len, "k/m99998.ko:\n");
	assert_int_equal(netboot_modules_order(chain, NULL, need, NULL, "v", &m, &n), 0);
	assert_int_equal(n, 99999);
	assert_string_equal(m[0].name, "m99998");
	assert_string_equal(m[n - 1].name, "a");
	netboot_modules_free(m, n);
	sprintf(chain + len, "k/x1.ko:\nk/x2.ko:\nk/x3.ko:\n");
	assert_int_equal(netboot_modules_order(chain, NULL, need, NULL, "v", &m, &n), RAIN_ETOOBIG);
	free(chain);
}

/* ---- iPXE and dnsmasq ---- */

static void test_ipxe(void **state)
{
	const char *sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char m[RAIN_NETBOOT_MAC_LEN + 1], *s;

	(void)state;
	assert_int_equal(rain_netboot_mac_norm("52:54:00:AB:cd:0F", m), 0);
	assert_string_equal(m, "52-54-00-ab-cd-0f");
	assert_int_equal(rain_netboot_mac_norm("52-54-00-ab-cd-0f", m), 0);
	assert_int_equal(rain_netboot_mac_norm("52:54:00:ab:cd", m), RAIN_EINVAL);
	assert_int_equal(rain_netboot_mac_norm("52:54:00:ab:cd:0g", m), RAIN_EINVAL);
	assert_int_equal(rain_netboot_mac_norm("52:54:00:ab:cd/0f", m), RAIN_EINVAL);
	assert_error_contains("is not a MAC address");

	assert_int_equal(rain_netboot_ipxe_script("reg-1", "52:54:00:12:34:56", "http://h:1/n/s/reg-1/vmlinuz",
						  "http://h:1/n/s/reg-1/initramfs",
						  "http://h:1/n/s/reg-1/root.squashfs", sha,
						  "console=ttyS0 quiet", &s), 0);
	assert_string_equal(s, "#!ipxe\n"
			    "# rain netboot registration reg-1 node 52-54-00-12-34-56\n"
			    "kernel http://h:1/n/s/reg-1/vmlinuz initrd=initramfs console=ttyS0 quiet "
			    "rain.root=http://h:1/n/s/reg-1/root.squashfs rain.sha256=" "0123456789abcdef0123456789abcdef"
			    "0123456789abcdef0123456789abcdef BOOTIF=01-52-54-00-12-34-56\n"
			    "initrd --name initramfs http://h:1/n/s/reg-1/initramfs\n"
			    "boot\n");
	assert_int_equal(rain_netboot_ipxe_names(s, "reg-1"), 1);
	assert_int_equal(rain_netboot_ipxe_names(s, "reg-"), 0);
	assert_int_equal(rain_netboot_ipxe_names(s, "reg-10"), 0);
	assert_int_equal(rain_netboot_ipxe_names("#!ipxe\nboot\n", "reg-1"), 0);
	free(s);
	assert_int_equal(rain_netboot_ipxe_script("reg-1", "52:54:00:12:34:56", "http://h/k x", "http://h/i",
						  "http://h/r", sha, NULL, &s), RAIN_EINVAL);
	assert_int_equal(rain_netboot_ipxe_script("reg-1", "52:54:00:12:34:56", "file:///etc/passwd", "http://h/i",
						  "http://h/r", sha, NULL, &s), RAIN_EINVAL);
	assert_int_equal(rain_netboot_ipxe_script("reg-1", "52:54:00:12:34:56", "http://h/k", "http://h/i",
						  "http://h/r", "abc", NULL, &s), RAIN_EINVAL);
	assert_int_equal(rain_netboot_ipxe_script("../x", "52:54:00:12:34:56", "http://h/k", "http://h/i",
						  "http://h/r", sha, NULL, &s), RAIN_EINVAL);
	assert_int_equal(rain_netboot_ipxe_script("reg-1", "52:54:00:12:34:56", "http://h/k", "http://h/i",
						  "http://h/r", sha, "a\nchain http://evil/", &s), RAIN_EINVAL);
	assert_null(s);
}

/* ---- runs: power programs, ssh addresses, the run's key ---- */

static void test_run_command(void **state)
{
	const struct rain_netboot_node node = { "node-1", "52-54-00-0a-bc-01" };
	char **v;
	size_t n;

	(void)state;
	assert_int_equal(rain_netboot_command("power_on", "ipmitool -H %n-bmc -P 'a b' chassis \"power on\" "
					      "--mac=%m 100%%", &node, &v, &n), 0);
	assert_int_equal(n, 9);
	assert_string_equal(v[0], "ipmitool");
	assert_string_equal(v[2], "node-1-bmc");
	assert_string_equal(v[4], "a b");
	assert_string_equal(v[6], "power on");
	assert_string_equal(v[7], "--mac=52:54:00:0a:bc:01");
	assert_string_equal(v[8], "100%");
	assert_null(v[9]);
	strv_free(v, n);
	/* checked only: nothing handed out */
	assert_int_equal(rain_netboot_command("power_on", "  /bin/true  ", NULL, NULL, NULL), 0);
	/* a quoted empty word is a word; a shell's syntax is not */
	assert_int_equal(rain_netboot_command("power_on", "echo '' ;rm", &node, &v, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(v[1], "");
	assert_string_equal(v[2], ";rm");
	strv_free(v, n);

	assert_int_equal(rain_netboot_command("power_on", "ipmitool %x", &node, &v, &n), RAIN_EINVAL);
	assert_error_contains("power_on: '%x' is none of %n");
	assert_null(v);
	assert_int_equal(rain_netboot_command("power_off", "ipmitool %", NULL, NULL, NULL), RAIN_EINVAL);
	assert_int_equal(rain_netboot_command("power_off", "ipmitool 'on", NULL, NULL, NULL), RAIN_EINVAL);
	assert_error_contains("quote ' is not closed");
	assert_int_equal(rain_netboot_command("power_off", "   ", NULL, NULL, NULL), RAIN_EINVAL);
	assert_error_contains("no program");
	assert_int_equal(rain_netboot_command("power_off", "a\nb", NULL, NULL, NULL), RAIN_EINVAL);
	assert_error_contains("printable");
	assert_int_equal(rain_netboot_command("power_off", "'' x", &node, &v, &n), RAIN_EINVAL);
	assert_error_contains("program's name is empty");
}

static void test_run_ssh(void **state)
{
	const struct rain_netboot_node nodes[] = { { "n1", "52-54-00-00-00-01" }, { "n2", "52-54-00-00-00-02" },
						   { "n3", "52-54-00-00-00-03" } };
	char host[RAIN_NETBOOT_HOST_MAX + 1];
	int port;

	(void)state;
	assert_int_equal(rain_netboot_ssh_addr(NULL, nodes, 3, "n1", host, &port), 0);
	assert_string_equal(host, "n1");
	assert_int_equal(port, 22);
	for (size_t i = 0; i < 3; i++) {
		static const char *const want[] = { "127.0.0.1", "::1", "bmc-3.lab" };
		static const int want_port[] = { 2201, 2202, 22 };

		assert_int_equal(rain_netboot_ssh_addr("n1=127.0.0.1:2201, n2=[::1]:2202 n3=bmc-3.lab", nodes, 3,
						       nodes[i].name, host, &port), 0);
		assert_string_equal(host, want[i]);
		assert_int_equal(port, want_port[i]);
	}
	assert_int_equal(rain_netboot_ssh_addr("n1=h:2201", nodes, 3, NULL, NULL, NULL), 0);

	assert_int_equal(rain_netboot_ssh_addr("n9=h:22", nodes, 3, NULL, NULL, NULL), RAIN_EINVAL);
	assert_error_contains("'n9' is none of the site's nodes");
	assert_int_equal(rain_netboot_ssh_addr("n1", nodes, 3, NULL, NULL, NULL), RAIN_EINVAL);
	assert_error_contains("not NAME=HOST[:PORT]");
	assert_int_equal(rain_netboot_ssh_addr("n1=h:0", nodes, 3, NULL, NULL, NULL), RAIN_EINVAL);
	assert_error_contains("not a port");
	assert_int_equal(rain_netboot_ssh_addr("n1=h:70000", nodes, 3, NULL, NULL, NULL), RAIN_EINVAL);
	assert_int_equal(rain_netboot_ssh_addr("n1=h:", nodes, 3, NULL, NULL, NULL), RAIN_EINVAL);
	assert_int_equal(rain_netboot_ssh_addr("n1=-oProxyCommand=x", nodes, 3, NULL, NULL, NULL), RAIN_EINVAL);
	assert_error_contains("not a host name");
	assert_int_equal(rain_netboot_ssh_addr("n1=h;x:22", nodes, 3, NULL, NULL, NULL), RAIN_EINVAL);
	assert_int_equal(rain_netboot_ssh_addr("n1=[::1:22", nodes, 3, NULL, NULL, NULL), RAIN_EINVAL);
	assert_int_equal(rain_netboot_ssh_addr("n1=:22", nodes, 3, NULL, NULL, NULL), RAIN_EINVAL);
	assert_int_equal(rain_netboot_ssh_addr("n1=a:1 n1=b:2", nodes, 3, "n1", host, &port), RAIN_EINVAL);
	assert_error_contains("given twice");
}

static void test_run_console(void **state)
{
	const struct rain_netboot_node node = { "node-1", "52-54-00-0a-bc-01" };
	char *path;

	(void)state;
	assert_int_equal(rain_netboot_console_path("/var/log/conserver/%n-%m.log", &node, &path), 0);
	assert_string_equal(path, "/var/log/conserver/node-1-52:54:00:0a:bc:01.log");
	free(path);
	assert_int_equal(rain_netboot_console_path("log/%n", &node, &path), RAIN_EINVAL);
	assert_error_contains("one absolute path");
	assert_null(path);
	assert_int_equal(rain_netboot_console_path("/a /b", &node, &path), RAIN_EINVAL);
	assert_int_equal(rain_netboot_console_path("/var/../etc/%n", &node, &path), RAIN_EINVAL);
	assert_int_equal(rain_netboot_console_path("/var/%q", &node, &path), RAIN_EINVAL);
}

static void test_run_key(void **state)
{
	const char *pub = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBQ0rf+/n0d2Hd4gKkEBL0dEv7yvQq2f9sFhJ8Q8+w7v rain-run-r1";
	char *arg, script[1024], out[512];
	FILE *f;

	(void)state;
	assert_int_equal(rain_netboot_key_arg(pub, &arg), 0);
	assert_true(!strncmp(arg, "rain.ssh_key=", 13));
	assert_int_equal(strspn(arg + 13, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
			 strlen(arg + 13));
	/* decoded as rain's init decodes it, by busybox */
	if (access("/bin/busybox", X_OK) == 0) {
		snprintf(script, sizeof(script),
			 "key=%s; key=$(echo \"$key\" | /bin/busybox tr '_-' '/+')\n"
			 "case $((${#key} %% 4)) in 2) key=\"$key==\" ;; 3) key=\"$key=\" ;; esac\n"
			 "echo \"$key\" | /bin/busybox base64 -d >%s", arg + 13, at("key.out"));
		assert_int_equal(run((const char *[]){ "/bin/busybox", "sh", "-c", script, NULL }), 0);
		f = fopen(at("key.out"), "r");
		assert_non_null(f);
		assert_non_null(fgets(out, sizeof(out), f));
		fclose(f);
		assert_string_equal(out, pub);
	}
	free(arg);
	assert_int_equal(rain_netboot_key_arg("not a key", &arg), RAIN_EINVAL);
	assert_error_contains("no OpenSSH public key line");
	assert_null(arg);
	assert_int_equal(rain_netboot_key_arg("ssh-ed25519 AAAA\nssh-rsa BBBB", &arg), RAIN_EINVAL);
	assert_int_equal(rain_netboot_key_arg("ssh-ed25519", &arg), RAIN_EINVAL);
	assert_int_equal(rain_netboot_key_arg(NULL, &arg), RAIN_EINVAL);
}

static void test_dnsmasq(void **state)
{
	struct rain_netboot_node nodes[2] = { { "node1", "52-54-00-12-34-56" }, { "node-2", "52-54-00-ab-cd-ef" } };
	const char *check[] = { "dnsmasq", "--test", NULL, NULL };
	char *s, arg[4200];
	FILE *f;

	(void)state;
	assert_int_equal(rain_netboot_dnsmasq_conf("lab", nodes, 2, "http://10.0.2.2:8080/netboot/lab/boot.ipxe",
						   at("tftp"), &s), 0);
	assert_non_null(strstr(s, "\nenable-tftp\n"));
	assert_non_null(strstr(s, "\ndhcp-match=set:ipxe,175\n"));
	assert_non_null(strstr(s, "\ndhcp-host=52:54:00:12:34:56,set:rain-lab,node1\n"));
	assert_non_null(strstr(s, "\ndhcp-host=52:54:00:ab:cd:ef,set:rain-lab,node-2\n"));
	assert_non_null(strstr(s, "\ndhcp-boot=tag:rain-lab,tag:!ipxe,undionly.kpxe\n"));
	assert_non_null(strstr(s, "\ndhcp-boot=tag:rain-lab,tag:ipxe,http://10.0.2.2:8080/netboot/lab/boot.ipxe\n"));
	/* dnsmasq reads it */
	mkdir(at("tftp"), 0755);
	f = fopen(at("dnsmasq.conf"), "w");
	fputs(s, f);
	fclose(f);
	free(s);
	snprintf(arg, sizeof(arg), "--conf-file=%s", at("dnsmasq.conf"));
	check[2] = arg;
	if (access("/usr/sbin/dnsmasq", X_OK) == 0)
		assert_int_equal(run(check), 0);

	snprintf(nodes[1].name, sizeof(nodes[1].name), "%s", "bad,name");
	assert_int_equal(rain_netboot_dnsmasq_conf("lab", nodes, 2, "http://h/b", at("tftp"), &s), RAIN_EINVAL);
	assert_error_contains("bad,name");
	snprintf(nodes[1].name, sizeof(nodes[1].name), "%s", "n2");
	assert_int_equal(rain_netboot_dnsmasq_conf("lab", nodes, 2, "http://h/b x", at("tftp"), &s), RAIN_EINVAL);
	assert_int_equal(rain_netboot_dnsmasq_conf("lab", nodes, 2, "http://h/b", "/a,b", &s), RAIN_EINVAL);
	assert_null(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_squashfs),
		cmocka_unit_test(test_kernel_initramfs),
		cmocka_unit_test(test_modules_order),
		cmocka_unit_test(test_ipxe),
		cmocka_unit_test(test_dnsmasq),
		cmocka_unit_test(test_run_command),
		cmocka_unit_test(test_run_ssh),
		cmocka_unit_test(test_run_console),
		cmocka_unit_test(test_run_key),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
