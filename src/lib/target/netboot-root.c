/* What a diskless node boots (rain/netboot.h): the image's kernel copied
 * out, an initramfs of rain's own, the root tree as a squashfs, and the
 * iPXE and dnsmasq files that point nodes at them.
 *
 * Everything is read from the image through imgfs as data. The squashfs
 * is made by streaming the tree as a pax tar (libarchive) into tar2sqfs
 * (squashfs-tools-ng) over a socket: no tree is unpacked on the host, no
 * program of the image runs. The initramfs is a newc cpio written with
 * libarchive; its only program is the host's static busybox.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "rain/error.h"
#include "rain/netboot.h"
#include "netboot-internal.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/process.h"
#include "util/strutil.h"

static inline void entry_freep(struct archive_entry **e)
{
	if (*e)
		archive_entry_free(*e);
}
#define _cleanup_entry_ __attribute__((cleanup(entry_freep)))

/* ---- the root squashfs ---- */

struct sq_write {
	struct rain_imgfs *fs;
	struct archive *a;
	struct archive_entry_linkresolver *links;
	const struct rain_netboot_squashfs_opts *o;
	bool *file_done;                /* per o->files: written already */
	struct rain_netboot_squashfs_stats st;
	char *buf;                      /* 1 MiB of file data */
	int sock;
	int send_err;                   /* errno of a failed send */
};

struct sq_tool {
	struct process_opts po;
	int r, status;
	char err[1024];
	char tail[3][256];              /* tar2sqfs's last lines */
	unsigned ntail;
};

static void sq_tool_line(void *ud, const char *line)
{
	struct sq_tool *t = ud;

	snprintf(t->tail[t->ntail % 3], sizeof(t->tail[0]), "%s", line);
	t->ntail++;
}

static void *sq_tool_run(void *p)
{
	struct sq_tool *t = p;

	t->r = process_run(&t->po, &t->status);
	if (t->r < 0)
		snprintf(t->err, sizeof(t->err), "%s", rain_error_last());
	/* the reading end goes with tar2sqfs: a writer still sending (the
	 * tool failed early) gets EPIPE instead of waiting for ever */
	close(t->po.stdin_fd);
	return NULL;
}

static ssize_t sq_sock_write(struct archive *a, void *ud, const void *buf, size_t len)
{
	struct sq_write *w = ud;
	ssize_t n;

	(void)a;

	do
		n = send(w->sock, buf, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		/* dropped, not failed: libarchive leaks its buffers after a
		 * failed write; the walk stops at the next entry instead */
		w->send_err = errno;
		return (ssize_t)len;
	}
	return n;
}

static int sq_archive_error(struct sq_write *w, const char *path)
{
	return rain_error_set(RAIN_EIO, "squashfs: writing %s: %s", path, archive_error_string(w->a));
}

static bool xattr_storable(const char *name)
{
	return str_has_prefix(name, "user.") || str_has_prefix(name, "trusted.") ||
	       str_has_prefix(name, "security.");
}

static int sq_xattr(void *ud, const char *name, const void *value, size_t size)
{
	void **p = ud;
	struct sq_write *w = p[0];

	if (!xattr_storable(name)) {
		w->st.xattrs_skipped++;
		return 0;
	}
	archive_entry_xattr_add_entry(p[1], name, value, size);
	return 0;
}

/* tar names: "./" for the root (tar2sqfs takes its owner and mode), the
 * rest relative ("etc/passwd") */
static const char *sq_name(const char *path)
{
	return strcmp(path, "/") ? path + 1 : "./";
}

static int sq_put_file(struct sq_write *w, const struct rain_netboot_file *f)
{
	_cleanup_entry_ struct archive_entry *ae = archive_entry_new();

	if (!ae)
		return rain_error_oom();
	archive_entry_set_pathname(ae, sq_name(f->path));
	archive_entry_set_filetype(ae, f->link ? AE_IFLNK : AE_IFREG);
	archive_entry_set_perm(ae, f->link ? 0777 : f->mode & 07777);
	archive_entry_set_size(ae, f->link ? 0 : (la_int64_t)f->len);
	if (f->link)
		archive_entry_set_symlink(ae, f->link);
	archive_entry_set_mtime(ae, 0, 0);
	if (archive_write_header(w->a, ae) != ARCHIVE_OK ||
	    (!f->link && f->len && archive_write_data(w->a, f->content, f->len) != (la_ssize_t)f->len))
		return sq_archive_error(w, f->path);
	w->st.entries++;
	return 0;
}

static int sq_entry(void *ud, const struct rain_imgfs_entry *e, struct rain_imgfs_file *f)
{
	struct sq_write *w = ud;
	_cleanup_entry_ struct archive_entry *ae = NULL;
	struct archive_entry *spare = NULL, *out;
	void *xp[2];
	int r;

	if (w->o->cancel && *w->o->cancel)
		return rain_error_set(RAIN_ECANCELED, "squashfs: canceled");
	if (w->send_err)
		return rain_error_errno(RAIN_EIO, w->send_err, "squashfs: tar2sqfs stopped reading");
	if (S_ISSOCK(e->mode)) {
		w->st.sockets++;
		return 0;
	}
	for (size_t i = 0; i < w->o->n_files; i++)
		if (!strcmp(w->o->files[i].path, e->path) && !S_ISDIR(e->mode)) {
			w->file_done[i] = true;
			return sq_put_file(w, &w->o->files[i]);
		}
	if (!(ae = archive_entry_new()))
		return rain_error_oom();
	archive_entry_set_pathname(ae, sq_name(e->path));
	archive_entry_set_mode(ae, e->mode);
	archive_entry_set_uid(ae, e->uid);
	archive_entry_set_gid(ae, e->gid);
	archive_entry_set_mtime(ae, e->mtime, 0);
	archive_entry_set_size(ae, S_ISREG(e->mode) ? (la_int64_t)e->size : 0);
	if (S_ISLNK(e->mode))
		archive_entry_set_symlink(ae, e->link ? e->link : "");
	if (S_ISCHR(e->mode) || S_ISBLK(e->mode)) {
		archive_entry_set_rdevmajor(ae, e->rdev_major);
		archive_entry_set_rdevminor(ae, e->rdev_minor);
	}
	xp[0] = w;
	xp[1] = ae;
	r = rain_imgfs_xattrs(w->fs, e, sq_xattr, xp);
	if (r < 0)
		return r;
	out = ae;
	if (!S_ISDIR(e->mode) && e->nlink > 1 && e->node) {
		/* the second name of a file becomes a tar hard link to the first */
		archive_entry_set_dev(ae, 1);
		archive_entry_set_ino64(ae, (la_int64_t)e->node);
		archive_entry_set_nlink(ae, e->nlink);
		archive_entry_linkify(w->links, &out, &spare);
		if (!out)
			return 0;
	}
	if (archive_write_header(w->a, out) != ARCHIVE_OK)
		return sq_archive_error(w, e->path);
	w->st.entries++;
	if (f && !archive_entry_hardlink(out)) {
		ssize_t n;

		while ((n = rain_imgfs_file_read(f, w->buf, 1 << 20)) > 0) {
			if (archive_write_data(w->a, w->buf, (size_t)n) != n)
				return sq_archive_error(w, e->path);
			w->st.bytes += (uint64_t)n;
		}
		if (n < 0)
			return (int)n;
	}
	return 0;
}

static int sq_write_tree(struct sq_write *w)
{
	int r;

	archive_write_set_format_pax_restricted(w->a);
	if (archive_write_open2(w->a, w, NULL, sq_sock_write, NULL, NULL) != ARCHIVE_OK)
		return sq_archive_error(w, "the archive");
	r = rain_imgfs_walk(w->fs, sq_entry, w);
	if (r < 0)
		return r;
	for (size_t i = 0; i < w->o->n_files; i++)
		if (!w->file_done[i] && (r = sq_put_file(w, &w->o->files[i])) < 0)
			return r;
	if (archive_write_close(w->a) != ARCHIVE_OK)
		return sq_archive_error(w, "the end of the archive");
	if (w->send_err)
		return rain_error_errno(RAIN_EIO, w->send_err, "squashfs: tar2sqfs stopped reading");
	return 0;
}

int rain_netboot_squashfs(struct rain_imgfs *fs, const char *out,
			  const struct rain_netboot_squashfs_opts *o,
			  struct rain_netboot_squashfs_stats *stats)
{
	static const struct rain_netboot_squashfs_opts none = { 0 };
	struct sq_write w = { .fs = fs, .sock = -1 };
	struct sq_tool t = { 0 };
	_cleanup_free_ bool *done = NULL;
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int fd = -1;
	char jobs[16];
	int sv[2], r;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	pthread_t th;

	if (stats)
		memset(stats, 0, sizeof(*stats));
	if (!o)
		o = &none;
	for (size_t i = 0; i < o->n_files; i++)
		if (o->files[i].path[0] != '/' || !strcmp(o->files[i].path, "/"))
			return rain_error_set(RAIN_EINVAL, "squashfs: the file '%s' to add is no absolute "
					      "path of a file", o->files[i].path);
	if (!(buf = malloc(1 << 20)) || (o->n_files && !(done = calloc(o->n_files, sizeof(*done)))))
		return rain_error_oom();
	/* private until published: tar2sqfs -f keeps the file's mode */
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return rain_error_errno(RAIN_EIO, errno, "squashfs: cannot create %s", out);
	fd = (close(fd), -1);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		unlink(out);
		return rain_error_errno(RAIN_EIO, errno, "squashfs: socketpair");
	}
	snprintf(jobs, sizeof(jobs), "%ld", ncpu < 1 ? 1 : ncpu > 8 ? 8 : ncpu);
	/* zstd's level 3, not tar2sqfs's 15: a root of 600 MiB in 6 s instead
	 * of minutes, for 15% more bytes */
	const char *comp = o->compressor ? o->compressor : "zstd";
	const char *argv[] = { "tar2sqfs", "--quiet", "--force", "--no-skip", "--num-jobs", jobs,
			       "--compressor", comp, out, NULL, NULL, NULL };

	if (!strcmp(comp, "zstd")) {
		argv[8] = "--comp-extra";
		argv[9] = "level=3";
		argv[10] = out;
	}
	t.po.argv = argv;
	t.po.stdin_fd = sv[1];
	t.po.cancel = o->cancel;
	t.po.on_line = sq_tool_line;
	t.po.ud = &t;
	if ((r = pthread_create(&th, NULL, sq_tool_run, &t)) != 0) {
		close(sv[0]);
		close(sv[1]);
		unlink(out);
		return rain_error_errno(RAIN_EIO, r, "squashfs: cannot start a thread");
	}
	w.o = o;
	w.file_done = done;
	w.buf = buf;
	w.sock = sv[0];
	w.a = archive_write_new();
	w.links = archive_entry_linkresolver_new();
	if (!w.a || !w.links) {
		r = rain_error_oom();
	} else {
		archive_entry_linkresolver_set_strategy(w.links, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
		r = sq_write_tree(&w);
	}
	/* the end of the stream: tar2sqfs finishes (or stops) */
	shutdown(sv[0], SHUT_RDWR);
	pthread_join(th, NULL);
	close(sv[0]);
	if (w.a)
		archive_write_free(w.a);
	if (w.links)
		archive_entry_linkresolver_free(w.links);
	if (t.r < 0) {
		r = rain_error_set(t.r, "squashfs: %s", t.err);
	} else if (t.status != 0) {
		char tail[800] = "";
		size_t len = 0;

		for (unsigned i = t.ntail > 3 ? t.ntail - 3 : 0; i < t.ntail && len < sizeof(tail); i++)
			len += (size_t)snprintf(tail + len, sizeof(tail) - len, "%s%s", len ? "; " : "",
						t.tail[i % 3]);
		/* its complaint is the cause of a write that failed */
		if (r != RAIN_ECANCELED)
			r = rain_error_set(RAIN_EIO, "squashfs: tar2sqfs exited with %d making %s: %s",
					   t.status, out, tail[0] ? tail : "(no output)");
	}
	if (r < 0) {
		unlink(out);
		return r;
	}
	if (stats)
		*stats = w.st;
	return 0;
}

/* ---- the kernel ---- */

static bool strv_has(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], s))
			return true;
	return false;
}

struct kernels {
	char **boot, **mods;            /* versions under /boot, /lib/modules */
	size_t nboot, nmods;
};

static int kernel_entry(void *ud, const struct rain_imgfs_entry *e, struct rain_imgfs_file *f)
{
	static const char *const walk[] = { "/", "/boot", "/lib", "/lib/modules", "/usr", "/usr/lib",
					    "/usr/lib/modules", NULL };
	struct kernels *k = ud;
	const char *v;

	(void)f;
	if (str_has_prefix(e->path, "/boot/vmlinuz-") && (S_ISREG(e->mode) || S_ISLNK(e->mode))) {
		v = e->path + strlen("/boot/vmlinuz-");
		if (fs_name_is_safe(v) && strv_add(&k->boot, &k->nboot, v) < 0)
			return rain_error_oom();
	} else if ((str_has_prefix(e->path, "/lib/modules/") || str_has_prefix(e->path, "/usr/lib/modules/")) &&
		   S_ISDIR(e->mode)) {
		v = strrchr(e->path, '/') + 1;
		if (fs_name_is_safe(v) && strv_add(&k->mods, &k->nmods, v) < 0)
			return rain_error_oom();
	}
	return S_ISDIR(e->mode) && !str_in_list(walk, e->path) ? 1 : 0;
}

int rain_netboot_kernel(struct rain_imgfs *fs, const char *out, char **kver)
{
	struct kernels k = { 0 };
	_cleanup_free_ char *data = NULL, *path = NULL, *ver = NULL;
	size_t len;
	int r;

	*kver = NULL;
	r = rain_imgfs_walk(fs, kernel_entry, &k);
	for (size_t i = 0; r >= 0 && i < k.nboot; i++)
		if (strv_has(k.mods, k.nmods, k.boot[i]) &&
		    (!ver || strverscmp(k.boot[i], ver) > 0))
			r = str_set(&ver, k.boot[i]) < 0 ? rain_error_oom() : 0;
	strv_free(k.boot, k.nboot);
	strv_free(k.mods, k.nmods);
	if (r < 0)
		return r;
	if (!ver)
		return rain_error_set(RAIN_ENOTFOUND, "the image has no kernel (no /boot/vmlinuz-VERSION "
				      "with its /lib/modules/VERSION): netboot needs a recipe with kernel = yes");
	if (asprintf(&path, "/boot/vmlinuz-%s", ver) < 0)
		return rain_error_oom();
	r = rain_imgfs_read(fs, path, 256 << 20, &data, &len);
	if (r < 0)
		return r;
	r = fs_write_atomic(out, data, len, 0644);
	if (r < 0)
		return r;
	*kver = TAKE_PTR(ver);
	return 0;
}

/* ---- the initramfs ---- */

const char *const rain_netboot_modules_required[] = {
	"virtio_net", "virtio_pci", "squashfs", "loop", "overlay", NULL,
};
const char *const rain_netboot_modules_optional[] = {
	"af_packet", "e1000", "e1000e", "igb", "ixgbe", "r8169", "tg3", "bnx2", "i40e", "ice",
	"mlx4_en", "mlx5_core", "vmxnet3", NULL,
};

/* rain's init: POSIX sh for busybox. It trusts nothing it fetches until
 * the sha256 matches. */
static const char init_script[] =
	"#!/bin/sh\n"
	"# rain's netboot init (rain/netboot.h): load the modules, DHCP, fetch the root\n"
	"# squashfs over HTTP, check its sha256, run it from RAM under an overlay.\n"
	"/bin/busybox --install -s /bin\n"
	"export PATH=/bin\n"
	"mount -t proc proc /proc\n"
	"mount -t sysfs sysfs /sys\n"
	"mount -t devtmpfs devtmpfs /dev\n"
	"say() { echo \"rain-netboot: $*\"; }\n"
	"fail() {\n"
	"\tsay \"$*\"\n"
	"\tif [ -n \"$shell\" ]; then say 'rain.shell: a shell on the console'; exec sh; fi\n"
	"\tsay 'cannot boot: rebooting in 10 s'\n"
	"\tsleep 10\n"
	"\treboot -f\n"
	"}\n"
	"root= sha= init=/sbin/init bootif= shell= key=\n"
	"set -f\n"
	"for arg in $(cat /proc/cmdline); do\n"
	"\tcase $arg in\n"
	"\train.root=*) root=${arg#rain.root=} ;;\n"
	"\train.sha256=*) sha=${arg#rain.sha256=} ;;\n"
	"\train.init=*) init=${arg#rain.init=} ;;\n"
	"\tBOOTIF=*) bootif=${arg#BOOTIF=} ;;\n"
	"\train.shell) shell=1 ;;\n"
	"\train.ssh_key=*) key=${arg#rain.ssh_key=} ;;\n"
	"\tesac\n"
	"done\n"
	"set +f\n"
	"[ -n \"$root\" ] || fail 'no rain.root=URL on the kernel command line'\n"
	"sha=$(echo \"$sha\" | tr A-F a-f)\n"
	"case $sha in\n"
	"*[!0-9a-f]*) fail \"rain.sha256=$sha is not 64 hex digits\" ;;\n"
	"esac\n"
	"[ ${#sha} -eq 64 ] || fail 'no rain.sha256=HEX (64 hex digits) on the kernel command line'\n"
	"if [ -n \"$key\" ]; then\n"
	"\tcase $key in\n"
	"\t*[!A-Za-z0-9_-]*) fail 'rain.ssh_key= is not base64url' ;;\n"
	"\tesac\n"
	"\tkey=$(echo \"$key\" | tr '_-' '/+')\n"
	"\tcase $((${#key} % 4)) in\n"
	"\t1) fail 'rain.ssh_key= is not base64url (its length)' ;;\n"
	"\t2) key=\"$key==\" ;;\n"
	"\t3) key=\"$key=\" ;;\n"
	"\tesac\n"
	"\techo \"$key\" | base64 -d >/etc/rain-key 2>/dev/null || fail 'rain.ssh_key= does not decode'\n"
	"\tcase $(head -c 10 /etc/rain-key) in\n"
	"\tssh-*|ecdsa-*|sk-*) ;;\n"
	"\t*) fail 'rain.ssh_key= is no OpenSSH public key' ;;\n"
	"\tesac\n"
	"\t[ \"$(wc -l </etc/rain-key)\" -eq 0 ] || fail 'rain.ssh_key= is more than one line'\n"
	"fi\n"
	"load() {\n"
	"\tfor m in $(cat \"$1\"); do\n"
	"\t\tinsmod \"/lib/modules/$m\" || say \"cannot load $m\"\n"
	"\tdone\n"
	"}\n"
	"want=\n"
	"[ -z \"$bootif\" ] || want=$(echo \"${bootif#01-}\" | tr - : | tr A-F a-f)\n"
	"# the interfaces there are (with BOOTIF's MAC only), in $ifs\n"
	"find_ifs() {\n"
	"\tifs=\n"
	"\tfor d in /sys/class/net/*; do\n"
	"\t\ti=${d##*/}\n"
	"\t\t[ \"$i\" != lo ] || continue\n"
	"\t\t[ -z \"$want\" ] || [ \"$(cat \"$d/address\")\" = \"$want\" ] || continue\n"
	"\t\tifs=\"$ifs $i\"\n"
	"\tdone\n"
	"}\n"
	"# the NIC drivers of other hardware only when the required modules (virtio)\n"
	"# bring up no interface: each costs its load time (seconds under TCG)\n"
	"load /etc/rain-modules\n"
	"find_ifs\n"
	"[ -n \"$ifs\" ] || load /etc/rain-modules-nic\n"
	"ip link set lo up\n"
	"n=0\n"
	"while :; do\n"
	"\tfind_ifs\n"
	"\t[ -z \"$ifs\" ] || break\n"
	"\tn=$((n + 1))\n"
	"\t[ $n -lt 40 ] || fail \"no network interface${want:+ with MAC $want}\"\n"
	"\tsleep 0.5\n"
	"done\n"
	"up=\n"
	"for i in $ifs; do\n"
	"\tip link set \"$i\" up\n"
	"\tif udhcpc -i \"$i\" -s /etc/udhcpc.script -n -q -t 6 -T 2; then up=$i; break; fi\n"
	"done\n"
	"[ -n \"$up\" ] || fail \"no DHCP lease on$ifs\"\n"
	"mkdir -p /rain\n"
	"mount -t tmpfs rain /rain || fail 'cannot mount a tmpfs for the root'\n"
	"say \"fetching $root\"\n"
	"n=0\n"
	"until wget -c -q -O /rain/root.squashfs \"$root\"; do\n"
	"\tn=$((n + 1))\n"
	"\t[ $n -lt 6 ] || fail \"cannot fetch $root ($n tries)\"\n"
	"\tsay \"the transfer broke, resuming ($n)\"\n"
	"\tsleep 2\n"
	"done\n"
	"set -- $(sha256sum /rain/root.squashfs)\n"
	"if [ \"$1\" != \"$sha\" ]; then\n"
	"\trm -f /rain/root.squashfs\n"
	"\tfail \"$root has sha256 $1, not $sha (rain.sha256): refusing this root\"\n"
	"fi\n"
	"say \"root checked (sha256 $sha)\"\n"
	"mkdir -p /rain/ro /rain/rw/upper /rain/rw/work /newroot\n"
	"mount -t squashfs -o loop,ro /rain/root.squashfs /rain/ro || fail 'cannot mount the root squashfs'\n"
	"mount -t overlay overlay -o lowerdir=/rain/ro,upperdir=/rain/rw/upper,workdir=/rain/rw/work /newroot ||\n"
	"\tfail 'cannot mount the overlay root'\n"
	"[ -e \"/newroot$init\" ] || [ -L \"/newroot$init\" ] || fail \"the image has no $init\"\n"
	"if [ -s /etc/rain-key ]; then\n"
	"\tk=/newroot/root/.ssh/authorized_keys\n"
	"\tfor f in /newroot/root /newroot/root/.ssh $k; do\n"
	"\t\t[ ! -L \"$f\" ] || fail \"${f#/newroot} is a symbolic link in the image: the run's key is not written\"\n"
	"\tdone\n"
	"\tmkdir -p /newroot/root/.ssh && chmod 700 /newroot/root/.ssh && chown 0:0 /newroot/root/.ssh &&\n"
	"\t\t{ echo; cat /etc/rain-key; echo; } >>$k && chmod 600 $k && chown 0:0 $k ||\n"
	"\t\tfail \"cannot write the run's key to /root/.ssh/authorized_keys\"\n"
	"\tsay \"the run's key is in /root/.ssh/authorized_keys\"\n"
	"fi\n"
	"mount --move /dev /newroot/dev 2>/dev/null || umount /dev\n"
	"umount /sys /proc\n"
	"say \"starting $init\"\n"
	"exec switch_root /newroot \"$init\"\n";

static const char udhcpc_script[] =
	"#!/bin/sh\n"
	"# udhcpc's events (rain's netboot init)\n"
	"case $1 in\n"
	"deconfig)\n"
	"\tip addr flush dev \"$interface\"\n"
	"\tip link set \"$interface\" up\n"
	"\t;;\n"
	"bound|renew)\n"
	"\tifconfig \"$interface\" \"$ip\" netmask \"${subnet:-255.255.255.0}\" up\n"
	"\tfor r in $router; do route add default gw \"$r\" dev \"$interface\"; break; done\n"
	"\t: >/etc/resolv.conf\n"
	"\tfor d in $dns; do echo \"nameserver $d\" >>/etc/resolv.conf; done\n"
	"\techo \"rain-netboot: $interface has $ip\"\n"
	"\t;;\n"
	"esac\n"
	"exit 0\n";

/* The module's bytes, decompressed when the image keeps it as .ko.xz,
 * .ko.zst or .ko.gz (libarchive's raw format reads any of them). */
static int kmod_read(struct rain_imgfs *fs, const char *path, char **out, size_t *outlen)
{
	_cleanup_free_ char *data = NULL, *plain = NULL;
	struct archive *a;
	struct archive_entry *ae;
	size_t len = 0, n = 0, cap = 0;
	char *grown;
	la_ssize_t got;
	int r;

	r = rain_imgfs_read(fs, path, 64 << 20, &data, &len);
	if (r < 0)
		return r;
	if (str_has_suffix(path, ".ko")) {
		*out = TAKE_PTR(data);
		*outlen = len;
		return 0;
	}
	if (!(a = archive_read_new()))
		return rain_error_oom();
	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	if (archive_read_open_memory(a, data, len) != ARCHIVE_OK || archive_read_next_header(a, &ae) != ARCHIVE_OK) {
		r = rain_error_set(RAIN_EFORMAT, "initramfs: %s: %s", path, archive_error_string(a));
		goto done;
	}
	for (;;) {
		if (cap - n < 65536) {
			cap = cap ? cap * 2 : 1 << 20;
			if (cap > 256 << 20) {
				r = rain_error_set(RAIN_ETOOBIG, "initramfs: %s: more than 256 MiB decompressed", path);
				goto done;
			}
			grown = realloc(plain, cap);
			if (!grown) {
				r = rain_error_oom();
				goto done;
			}
			plain = grown;
		}
		got = archive_read_data(a, plain + n, cap - n);
		if (got < 0) {
			r = rain_error_set(RAIN_EFORMAT, "initramfs: %s: %s", path, archive_error_string(a));
			goto done;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	*out = TAKE_PTR(plain);
	*outlen = n;
	r = 0;
done:
	archive_read_free(a);
	return r;
}

struct cpio {
	struct archive *a;
	const char *out;
	int64_t ino;
};

static int cpio_put(struct cpio *c, const char *name, mode_t mode, const char *data, size_t len,
		    const char *link, unsigned rmajor, unsigned rminor)
{
	_cleanup_entry_ struct archive_entry *ae = archive_entry_new();

	if (!ae)
		return rain_error_oom();
	archive_entry_set_pathname(ae, name);
	archive_entry_set_mode(ae, mode);
	archive_entry_set_ino64(ae, ++c->ino);
	archive_entry_set_nlink(ae, S_ISDIR(mode) ? 2 : 1);
	archive_entry_set_size(ae, S_ISREG(mode) ? (la_int64_t)len : 0);
	if (link)
		archive_entry_set_symlink(ae, link);
	if (S_ISCHR(mode)) {
		archive_entry_set_rdevmajor(ae, rmajor);
		archive_entry_set_rdevminor(ae, rminor);
	}
	if (archive_write_header(c->a, ae) != ARCHIVE_OK ||
	    (S_ISREG(mode) && len && archive_write_data(c->a, data, len) != (la_ssize_t)len))
		return rain_error_set(RAIN_EIO, "initramfs: writing %s into %s: %s", name, c->out,
				      archive_error_string(c->a));
	return 0;
}

static int cpio_fill(struct cpio *c, struct rain_imgfs *fs, const char *kver,
		     const struct netboot_module *mods, size_t nmods, const char *busybox)
{
	static const char *const dirs[] = { "bin", "dev", "etc", "lib", "lib/modules", "newroot",
					    "proc", "rain", "sys", "tmp", NULL };
	/* the modules the init loads, and the NIC drivers it loads when
	 * these bring up no interface */
	_cleanup_free_ char *bb = NULL, *always = NULL, *nic = NULL;
	char **list[2] = { &always, &nic };
	size_t bblen, listlen[2] = { 0, 0 };
	int r;

	r = fs_read_small(busybox, 16 << 20, &bb, &bblen);
	if (r < 0)
		return rain_error_set(r, "initramfs: busybox: %s (install busybox-static)", rain_error_last());
	for (size_t i = 0; dirs[i]; i++)
		if ((r = cpio_put(c, dirs[i], S_IFDIR | 0755, NULL, 0, NULL, 0, 0)) < 0)
			return r;
	if ((r = cpio_put(c, "dev/console", S_IFCHR | 0600, NULL, 0, NULL, 5, 1)) < 0 ||
	    (r = cpio_put(c, "dev/null", S_IFCHR | 0666, NULL, 0, NULL, 1, 3)) < 0 ||
	    (r = cpio_put(c, "bin/busybox", S_IFREG | 0755, bb, bblen, NULL, 0, 0)) < 0 ||
	    (r = cpio_put(c, "bin/sh", S_IFLNK | 0777, NULL, 0, "busybox", 0, 0)) < 0 ||
	    (r = cpio_put(c, "init", S_IFREG | 0755, init_script, strlen(init_script), NULL, 0, 0)) < 0 ||
	    (r = cpio_put(c, "etc/udhcpc.script", S_IFREG | 0755, udhcpc_script, strlen(udhcpc_script),
			  NULL, 0, 0)) < 0)
		return r;
	for (size_t i = 0; i < nmods; i++) {
		const struct netboot_module *m = &mods[i];
		_cleanup_free_ char *path = NULL, *name = NULL, *data = NULL, *dest = NULL;
		size_t len = 0;
		char *grown;

		if ((m->path[0] == '/' ? asprintf(&path, "%s", m->path) :
		     asprintf(&path, "/lib/modules/%s/%s", kver, m->path)) < 0 ||
		    asprintf(&name, "%s.ko", m->name) < 0 || !(dest = fs_path_join("lib/modules", name)))
			return rain_error_oom();
		r = kmod_read(fs, path, &data, &len);
		if (r < 0)
			return rain_error_set(r, "initramfs: module %s: %s", m->name, rain_error_last());
		if ((r = cpio_put(c, dest, S_IFREG | 0644, data, len, NULL, 0, 0)) < 0)
			return r;
		grown = realloc(*list[m->optional], listlen[m->optional] + strlen(name) + 2);
		if (!grown)
			return rain_error_oom();
		*list[m->optional] = grown;
		listlen[m->optional] += (size_t)sprintf(grown + listlen[m->optional], "%s\n", name);
	}
	r = cpio_put(c, "etc/rain-modules", S_IFREG | 0644, always ? always : "", listlen[0], NULL, 0, 0);
	if (r >= 0)
		r = cpio_put(c, "etc/rain-modules-nic", S_IFREG | 0644, nic ? nic : "", listlen[1], NULL,
			     0, 0);
	return r;
}

int rain_netboot_initramfs(struct rain_imgfs *fs, const char *kver,
			   const struct rain_netboot_initramfs_opts *o, const char *out,
			   size_t *n_modules)
{
	struct netboot_module *mods = NULL;
	struct cpio c = { .out = out };
	_cleanup_free_ char *dep = NULL, *builtin = NULL, *path = NULL, *tmp = NULL;
	size_t len, nmods = 0;
	int r;

	if (n_modules)
		*n_modules = 0;
	if (!fs_name_is_safe(kver))
		return rain_error_set(RAIN_EINVAL, "initramfs: kernel version '%s' is not a file name", kver);
	if (asprintf(&path, "/lib/modules/%s/modules.dep", kver) < 0)
		return rain_error_oom();
	r = rain_imgfs_read(fs, path, 16 << 20, &dep, &len);
	if (r < 0)
		return rain_error_set(r, "initramfs: %s", rain_error_last());
	free(path);
	if (asprintf(&path, "/lib/modules/%s/modules.builtin", kver) < 0)
		return rain_error_oom();
	r = rain_imgfs_read(fs, path, 16 << 20, &builtin, &len);
	if (r < 0 && r != RAIN_ENOTFOUND)
		return rain_error_set(r, "initramfs: %s", rain_error_last());
	r = netboot_modules_order(dep, builtin, o && o->modules ? o->modules : rain_netboot_modules_required,
				  o && o->optional ? o->optional : rain_netboot_modules_optional, kver, &mods,
				  &nmods);
	if (r < 0)
		return rain_error_set(r, "initramfs: %s", rain_error_last());
	if (asprintf(&tmp, "%s.tmp", out) < 0) {
		r = rain_error_oom();
		goto done;
	}
	if (!(c.a = archive_write_new())) {
		r = rain_error_oom();
		goto done;
	}
	if (archive_write_set_format_cpio_newc(c.a) != ARCHIVE_OK ||
	    archive_write_add_filter_gzip(c.a) != ARCHIVE_OK ||
	    archive_write_open_filename(c.a, tmp) != ARCHIVE_OK) {
		r = rain_error_set(RAIN_EIO, "initramfs: %s: %s", tmp, archive_error_string(c.a));
		goto done;
	}
	r = cpio_fill(&c, fs, kver, mods, nmods, o && o->busybox ? o->busybox : "/bin/busybox");
	if (r >= 0 && archive_write_close(c.a) != ARCHIVE_OK)
		r = rain_error_set(RAIN_EIO, "initramfs: %s: %s", tmp, archive_error_string(c.a));
	if (r >= 0 && chmod(tmp, 0644) < 0)
		r = rain_error_errno(RAIN_EIO, errno, "initramfs: %s", tmp);
	if (r >= 0 && rename(tmp, out) < 0)
		r = rain_error_errno(RAIN_EIO, errno, "initramfs: %s", out);
	if (r >= 0 && n_modules)
		*n_modules = nmods;
done:
	if (c.a)
		archive_write_free(c.a);
	if (r < 0 && tmp)
		unlink(tmp);
	netboot_modules_free(mods, nmods);
	return r;
}

/* ---- iPXE and dnsmasq ---- */

int rain_netboot_mac_norm(const char *mac, char out[RAIN_NETBOOT_MAC_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";

	if (!mac || strlen(mac) != RAIN_NETBOOT_MAC_LEN)
		goto bad;
	for (size_t i = 0; i < RAIN_NETBOOT_MAC_LEN; i++) {
		char ch = mac[i];

		if (i % 3 == 2) {
			if (ch != ':' && ch != '-')
				goto bad;
			out[i] = '-';
		} else {
			const char *p = ch ? strchr(hex, ch >= 'A' && ch <= 'F' ? ch - 'A' + 'a' : ch) : NULL;

			if (!p)
				goto bad;
			out[i] = *p;
		}
	}
	out[RAIN_NETBOOT_MAC_LEN] = '\0';
	return 0;
bad:
	return rain_error_set(RAIN_EINVAL, "'%s' is not a MAC address (six hex pairs, as 52:54:00:12:34:56)",
			      mac ? mac : "(none)");
}

static bool url_ok(const char *u)
{
	if (!u || !(str_has_prefix(u, "http://") || str_has_prefix(u, "https://")))
		return false;
	for (; *u; u++)
		if ((unsigned char)*u <= ' ' || (unsigned char)*u >= 0x7f)
			return false;
	return true;
}

int rain_netboot_ipxe_script(const char *reg_id, const char *mac, const char *kernel_url,
			     const char *initrd_url, const char *root_url, const char *root_sha256,
			     const char *args, char **out)
{
	char m[RAIN_NETBOOT_MAC_LEN + 1];
	int r;

	*out = NULL;
	if ((r = rain_netboot_mac_norm(mac, m)) < 0)
		return r;
	if (!fs_name_is_safe(reg_id) || strchr(reg_id, ' '))
		return rain_error_set(RAIN_EINVAL, "ipxe: registration id '%s' is not a name", reg_id);
	if (!url_ok(kernel_url) || !url_ok(initrd_url) || !url_ok(root_url))
		return rain_error_set(RAIN_EINVAL, "ipxe: the URLs must be http:// or https:// without "
				      "blanks or control characters ('%s', '%s', '%s')", kernel_url,
				      initrd_url, root_url);
	if (!root_sha256 || strlen(root_sha256) != 64 || !hex_is_valid(root_sha256, 64))
		return rain_error_set(RAIN_EINVAL, "ipxe: the root's sha256 must be 64 hex digits");
	if (args && !str_is_printable(args, 4096))
		return rain_error_set(RAIN_EINVAL, "ipxe: kernel arguments must be one line of printable "
				      "text of at most 4096 bytes");
	if (asprintf(out,
		     "#!ipxe\n"
		     "# rain netboot registration %s node %s\n"
		     "kernel %s initrd=initramfs%s%s rain.root=%s rain.sha256=%s BOOTIF=01-%s\n"
		     "initrd --name initramfs %s\n"
		     "boot\n",
		     reg_id, m, kernel_url, args && *args ? " " : "", args ? args : "", root_url,
		     root_sha256, m, initrd_url) < 0) {
		*out = NULL;
		return rain_error_oom();
	}
	return 0;
}

int rain_netboot_ipxe_names(const char *script, const char *reg_id)
{
	const char *l = strchr(script, '\n');
	size_t n = strlen("# rain netboot registration ");

	if (!l || strncmp(l + 1, "# rain netboot registration ", n))
		return 0;
	l += 1 + n;
	return !strncmp(l, reg_id, strlen(reg_id)) && l[strlen(reg_id)] == ' ';
}

int rain_netboot_dnsmasq_conf(const char *site, const struct rain_netboot_node *nodes, size_t n,
			      const char *boot_url, const char *tftp_root, char **out)
{
	_cleanup_free_ char *hosts = NULL;
	size_t len = 0;

	*out = NULL;
	if (!url_ok(boot_url))
		return rain_error_set(RAIN_EINVAL, "dnsmasq: boot URL '%s' must be http:// or https:// "
				      "without blanks", boot_url);
	if (!str_is_printable(tftp_root, 4096) || strchr(tftp_root, ','))
		return rain_error_set(RAIN_EINVAL, "dnsmasq: TFTP root '%s' must be printable, without ','",
				      tftp_root);
	if (!(hosts = strdup("")))
		return rain_error_oom();
	for (size_t i = 0; i < n; i++) {
		size_t nl = strlen(nodes[i].name);
		char *grown;
		int k;

		if (!nl || strspn(nodes[i].name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != nl ||
		    nodes[i].name[0] == '-')
			return rain_error_set(RAIN_EINVAL, "dnsmasq: node name '%s' is not a host name "
					      "(letters, digits, '-')", nodes[i].name);

		grown = realloc(hosts, len + 200);
		if (!grown)
			return rain_error_oom();
		hosts = grown;
		k = snprintf(hosts + len, 200, "dhcp-host=%c%c:%c%c:%c%c:%c%c:%c%c:%c%c,set:rain-%s,%s\n",
			     nodes[i].mac[0], nodes[i].mac[1], nodes[i].mac[3], nodes[i].mac[4],
			     nodes[i].mac[6], nodes[i].mac[7], nodes[i].mac[9], nodes[i].mac[10],
			     nodes[i].mac[12], nodes[i].mac[13], nodes[i].mac[15], nodes[i].mac[16],
			     site, nodes[i].name);
		if (k < 0 || k >= 200)
			return rain_error_set(RAIN_EINVAL, "dnsmasq: node '%s' has too long a name", nodes[i].name);
		len += (size_t)k;
	}
	if (asprintf(out,
		     "# dnsmasq settings for rain's netboot site %s, written by rain at each\n"
		     "# registration (do not edit). Use them with your network's range:\n"
		     "#   dnsmasq --conf-file=THIS-FILE --dhcp-range=...\n"
		     "# Listed nodes get their name; BIOS PXE firmware is chained to iPXE\n"
		     "# (undionly.kpxe from the TFTP root), iPXE (DHCP option 175) to rain.\n"
		     "enable-tftp\n"
		     "tftp-root=%s\n"
		     "dhcp-match=set:ipxe,175\n"
		     "%s"
		     "dhcp-boot=tag:rain-%s,tag:!ipxe,undionly.kpxe\n"
		     "dhcp-boot=tag:rain-%s,tag:ipxe,%s\n",
		     site, tftp_root, hosts, site, site, boot_url) < 0) {
		*out = NULL;
		return rain_error_oom();
	}
	return 0;
}
