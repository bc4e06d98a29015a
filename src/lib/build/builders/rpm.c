/* The RPM builder backend (Rocky, Alma, Fedora): the host's dnf bootstraps
 * the base with --installroot from repositories written by us for the
 * recipe's mirror; the fetch and image stages run the image's own dnf.
 *
 * Downloads: dnf's destdir option (--destdir with --downloadonly; the
 * config option destdir otherwise) makes every repository's package
 * directory one flat directory, the build's b->debs (RPM_DOWNLOAD_DIR
 * inside the image). dnf keeps what it finds there when the checksum
 * matches, so the shared package cache, hard-linked in by build.c, saves
 * the downloads; and what it downloads stays there for build.c to publish
 * back. The image stage installs with -C (metadata from the fetch stage,
 * packages from destdir): no network.
 *
 * Signatures are checked (gpgcheck=1) with the distribution's key from
 * its mirror (Fedora's from src.fedoraproject.org); -y imports it.
 *
 * Initramfs: kernel-install's dracut plugins are overridden while packages
 * install (/etc/kernel/install.d/50-dracut.install: in the base a link to
 * /dev/null, in the image stage a stub that notes the request); dracut runs
 * once per kernel afterwards with /etc/dracut.conf.d/90-rain.conf (generic,
 * virtio drivers, zstd) and writes /boot/initramfs-KVER.img, linked as
 * /boot/initrd.img-KVER (what the outputs stage copies), with /vmlinuz and
 * /initrd.img at the root for the boot loader configuration.
 *
 * The host's rpm (Debian's) keeps its database in ~/.rpmdb: a ~/.rpmmacros
 * in the base stage's HOME points it where the distribution's rpm looks.
 * Recipe values reach dnf only as separate arguments and file contents.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "lib/build/build-internal.h"
#include "lib/build/builders/rpm.h"
#include "rain/error.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/strutil.h"

/* ---- the pure parts (rpm.h) ---- */

const char *rpm_basearch(const char *debian_arch)
{
	static const char *const map[][2] = {
		{ "amd64", "x86_64" }, { "arm64", "aarch64" }, { "ppc64el", "ppc64le" },
		{ "s390x", "s390x" }, { "riscv64", "riscv64" },
	};

	for (size_t i = 0; debian_arch && i < sizeof(map) / sizeof(*map); i++)
		if (!strcmp(map[i][0], debian_arch))
			return map[i][1];
	return NULL;
}

/* The mirror without trailing slashes (a new string). */
static char *mirror_base(const char *mirror)
{
	size_t n = strlen(mirror);

	while (n > 1 && mirror[n - 1] == '/')
		n--;
	return strndup(mirror, n);
}

/* "9" of "9.4". */
static void major_of(const char *release, char *out, size_t size)
{
	snprintf(out, size, "%.*s", (int)strcspn(release, "."), release);
}

static int check_target(const struct rain_recipe *r, const char **arch)
{
	*arch = rpm_basearch(r->architecture);
	if (!*arch)
		return rain_error_set(RAIN_EINVAL, "%s has no RPM architecture for %s (amd64, arm64, ppc64el, s390x)",
				      r->distribution, r->architecture);
	if (strcmp(r->distribution, "rocky") && strcmp(r->distribution, "alma") &&
	    strcmp(r->distribution, "fedora"))
		return rain_error_set(RAIN_EINVAL, "%s is not an RPM distribution (rocky, alma, fedora)",
				      r->distribution);
	return 0;
}

int rpm_repo_text(const struct rain_recipe *r, char **out)
{
	_cleanup_free_ char *m = NULL;
	const char *arch;
	char major[32];
	int ret = check_target(r, &arch), n;

	if (ret < 0)
		return ret;
	if (!(m = mirror_base(r->mirror)))
		return rain_error_oom();
	major_of(r->release, major, sizeof(major));
	if (!strcmp(r->distribution, "fedora")) {
		n = asprintf(out,
			     "# written by rain generate for [image] mirror = %s\n"
			     "[rain-fedora]\nname=fedora %s %s\n"
			     "baseurl=%s/releases/%s/Everything/%s/os/\n"
			     "enabled=1\ngpgcheck=1\n"
			     "gpgkey=https://src.fedoraproject.org/rpms/fedora-repos/raw/rawhide/f/RPM-GPG-KEY-fedora-%s-primary\n"
			     "\n[rain-fedora-updates]\nname=fedora %s %s updates\n"
			     "baseurl=%s/updates/%s/Everything/%s/\n"
			     "enabled=1\ngpgcheck=1\n"
			     "gpgkey=https://src.fedoraproject.org/rpms/fedora-repos/raw/rawhide/f/RPM-GPG-KEY-fedora-%s-primary\n",
			     r->mirror, r->release, arch, m, r->release, arch, major,
			     r->release, arch, m, r->release, arch, major);
	} else {
		char key[128];

		if (!strcmp(r->distribution, "rocky"))
			snprintf(key, sizeof(key), !strcmp(major, "8") ? "RPM-GPG-KEY-rockyofficial" :
				 "RPM-GPG-KEY-Rocky-%s", major);
		else
			snprintf(key, sizeof(key), "RPM-GPG-KEY-AlmaLinux-%s", major);
		n = asprintf(out,
			     "# written by rain generate for [image] mirror = %s\n"
			     "[rain-baseos]\nname=%s %s %s BaseOS\n"
			     "baseurl=%s/%s/BaseOS/%s/os/\n"
			     "enabled=1\ngpgcheck=1\ngpgkey=%s/%s\n"
			     "\n[rain-appstream]\nname=%s %s %s AppStream\n"
			     "baseurl=%s/%s/AppStream/%s/os/\n"
			     "enabled=1\ngpgcheck=1\ngpgkey=%s/%s\n",
			     r->mirror, r->distribution, r->release, arch, m, r->release, arch, m, key,
			     r->distribution, r->release, arch, m, r->release, arch, m, key);
	}
	return n < 0 ? rain_error_oom() : 0;
}

int rpm_probe_url(const struct rain_recipe *r, char **out)
{
	_cleanup_free_ char *m = NULL;
	const char *arch;
	int ret = check_target(r, &arch), n;

	if (ret < 0)
		return ret;
	if (!(m = mirror_base(r->mirror)))
		return rain_error_oom();
	if (!strcmp(r->distribution, "fedora"))
		n = asprintf(out, "%s/releases/%s/Everything/%s/os/repodata/repomd.xml", m, r->release, arch);
	else
		n = asprintf(out, "%s/%s/BaseOS/%s/os/repodata/repomd.xml", m, r->release, arch);
	return n < 0 ? rain_error_oom() : 0;
}

const char *rpm_dbpath(const struct rain_recipe *r)
{
	/* Fedora moved it in release 36; EL 8 and 9 have it in /var/lib */
	if (!strcmp(r->distribution, "fedora") && atoi(r->release) >= 36)
		return "/usr/lib/sysimage/rpm";
	return "/var/lib/rpm";
}

int rpm_base_packages(const struct rain_recipe *r, char ***pkgs, size_t *n)
{
	/* EL has no systemd-networkd: NetworkManager does DHCP there */
	static const char *const common[] = {
		"basesystem", "systemd", "systemd-udev", "dnf", "passwd", "shadow-utils", "rootfiles", NULL
	};
	static const char *const kernel[] = { "kernel", "dracut", "zstd", "e2fsprogs", NULL };
	const char *release, *network, *arch;
	int ret = check_target(r, &arch);

	*pkgs = NULL;
	*n = 0;
	if (ret < 0)
		return ret;
	if (!strcmp(r->distribution, "fedora")) {
		release = "fedora-release";
		network = "systemd-networkd";
	} else {
		release = !strcmp(r->distribution, "rocky") ? "rocky-release" : "almalinux-release";
		network = "NetworkManager";
	}
	ret = strv_add(pkgs, n, release);
	for (size_t i = 0; ret == 0 && common[i]; i++)
		ret = strv_add(pkgs, n, common[i]);
	if (ret == 0)
		ret = strv_add(pkgs, n, network);
	for (size_t i = 0; ret == 0 && r->kernel && kernel[i]; i++)
		ret = strv_add(pkgs, n, kernel[i]);
	if (ret < 0) {
		strv_free(*pkgs, *n);
		*pkgs = NULL;
		*n = 0;
	}
	return ret;
}

int rpm_dracut_conf(const struct rain_recipe *r, char **out)
{
	const char *arch = rpm_basearch(r->architecture);
	bool x86 = arch && !strcmp(arch, "x86_64");

	/* dracut fails on a driver the kernel lacks: ata_piix is x86's; zstd
	 * is in the base with the kernel */
	return asprintf(out,
			"# written by rain generate: an initramfs that boots on any machine,\n"
			"# virtual ones first\n"
			"hostonly=\"no\"\n%s"
			"add_drivers+=\" virtio_pci virtio_blk virtio_scsi virtio_net ahci sd_mod ext4 %s\"\n",
			r->kernel ? "compress=\"zstd\"\n" : "", x86 ? "ata_piix " : "") < 0 ? rain_error_oom() : 0;
}

static int add_fmt(char ***v, size_t *n, const char *fmt, const char *value)
{
	_cleanup_free_ char *s = NULL;

	if (asprintf(&s, fmt, value) < 0)
		return rain_error_oom();
	return strv_add(v, n, s);
}

int rpm_dnf_argv(const struct rpm_dnf_call *c, char ***argv, size_t *argc)
{
	char **v = NULL;
	size_t n = 0;
	int ret = strv_add(&v, &n, "dnf");

	if (ret == 0)
		ret = strv_add(&v, &n, "-y");
	if (ret == 0 && c->kind == RPM_DNF_BASE) {
		if (!c->installroot || c->installroot[0] != '/' || !c->config)
			ret = rain_error_set(RAIN_EINVAL, "dnf --installroot needs an absolute root and a config");
		if (ret == 0)
			ret = add_fmt(&v, &n, "--installroot=%s", c->installroot);
		if (ret == 0)
			ret = add_fmt(&v, &n, "--config=%s", c->config);
		if (ret == 0 && c->forcearch)
			ret = add_fmt(&v, &n, "--forcearch=%s", c->forcearch);
	}
	if (ret == 0 && c->kind == RPM_DNF_INSTALL)
		ret = strv_add(&v, &n, "--cacheonly");
	if (ret == 0 && c->kind == RPM_DNF_FETCH && c->refresh)
		ret = strv_add(&v, &n, "--refresh");
	if (ret == 0)
		ret = add_fmt(&v, &n, "--releasever=%s", c->r->release);
	if (ret == 0)
		ret = add_fmt(&v, &n, "--setopt=reposdir=%s", c->reposdir);
	/* only our repositories: the image's own point at the public mirror list */
	if (ret == 0)
		ret = strv_add(&v, &n, "--noplugins");
	if (ret == 0)
		ret = strv_add(&v, &n, "--setopt=install_weak_deps=False");
	if (ret == 0)
		ret = strv_add(&v, &n, "--setopt=tsflags=nodocs");
	if (ret == 0)
		ret = strv_add(&v, &n, "--setopt=gpgcheck=True");
	if (ret == 0)
		ret = strv_add(&v, &n, "--setopt=retries=3");
	if (ret == 0 && c->kind != RPM_DNF_FETCH)
		ret = add_fmt(&v, &n, "--setopt=destdir=%s", c->destdir);
	if (ret == 0)
		ret = strv_add(&v, &n, "install");
	if (ret == 0 && c->kind == RPM_DNF_FETCH) {
		ret = strv_add(&v, &n, "--downloadonly");
		if (ret == 0)
			ret = add_fmt(&v, &n, "--destdir=%s", c->destdir);
	}
	if (ret == 0)
		ret = strv_add(&v, &n, "--");
	for (size_t i = 0; ret == 0 && i < c->npkgs; i++)
		ret = strv_add(&v, &n, c->pkgs[i]);
	if (ret == 0)
		ret = ARRAY_GROW1(v, n);     /* room for the NULL at the end */
	if (ret < 0) {
		strv_free(v, n);
		return ret;
	}
	v[n] = NULL;
	*argv = v;
	*argc = n;
	return 0;
}

static void copy_word(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%.*s", (int)strcspn(src, " \t\r\n"), src);
}

void rpm_scan_line(struct rpm_errors *e, const char *line)
{
	static const char *const missing[] = {
		"No match for argument: ", "Unable to find a match: ", "No package ",
	};
	static const char *const fetch[] = {
		"Curl error", "Cannot download repomd.xml", "Failed to download metadata",
		"Errors during downloading metadata", "Cannot download ", "Failed to download packages",
		"Could not resolve host", "Librepo error",
	};
	const char *p;

	for (size_t i = 0; !e->missing[0] && i < sizeof(missing) / sizeof(*missing); i++)
		if ((p = strstr(line, missing[i]))) {
			p += strlen(missing[i]);
			/* "No package X available." (older dnf) */
			if (i < 2 || strstr(p, " available"))
				copy_word(e->missing, sizeof(e->missing), p);
		}
	for (size_t i = 0; !e->fetch[0] && i < sizeof(fetch) / sizeof(*fetch); i++)
		if (strstr(line, fetch[i]))
			snprintf(e->fetch, sizeof(e->fetch), "%s", line);
}

int rpm_error(const struct rain_recipe *r, int ret, const struct rpm_errors *e)
{
	if (ret < 0 && e->missing[0])
		return rain_error_set(RAIN_EINVAL, "package '%s' does not exist in %s %s (%s): check its name",
				      e->missing, r->distribution, r->release, r->mirror);
	if (ret < 0 && e->fetch[0])
		return rain_error_set(RAIN_ENET, "the mirror %s cannot be reached: %s", r->mirror, e->fetch);
	return ret;
}

/* ---- the backend ---- */

/* The initramfs, inside the image (or chroot'ed into it): copy the kernel
 * to /boot when kernel-install did not, one dracut run per kernel that
 * has no initramfs yet or when a package asked (the flag), and the names
 * the outputs stage and the boot loader configuration look for. */
static const char script_initramfs[] =
	"set -eu\n"
	"for m in /lib/modules/*; do\n"
	"  [ -e \"$m/vmlinuz\" ] || continue\n"
	"  k=${m##*/}\n"
	"  [ -e \"/boot/vmlinuz-$k\" ] || cp \"$m/vmlinuz\" \"/boot/vmlinuz-$k\"\n"
	"  if [ ! -e \"/boot/initramfs-$k.img\" ] || [ -e " BUILD_FLAGS "/initramfs-wanted ]; then\n"
	"    dracut --force \"/boot/initramfs-$k.img\" \"$k\"\n"
	"  fi\n"
	"  ln -sfn \"initramfs-$k.img\" \"/boot/initrd.img-$k\"\n"
	"  ln -sfn \"boot/vmlinuz-$k\" /vmlinuz\n"
	"  ln -sfn \"boot/initrd.img-$k\" /initrd.img\n"
	"done\n";

/* While the layer installs, kernel-install's dracut plugin only notes that
 * it was asked. */
static const char stub_dracut[] =
	"#!/bin/sh\n# deferred by rain generate\n"
	"[ \"${1:-}\" = add ] && : > " BUILD_FLAGS "/initramfs-wanted\nexit 0\n";

#define INSTALL_D "/etc/kernel/install.d"
static const char *const dracut_plugins[] = { "50-dracut.install", "51-dracut-rescue.install" };

/* Override kernel-install's dracut plugins under root ("" inside the
 * image): rescue images never, the initramfs with stub (NULL: never). */
static int defer_dracut(const char *root, const char *stub)
{
	_cleanup_free_ char *dir = NULL;
	int r;

	if (asprintf(&dir, "%s" INSTALL_D, root) < 0)
		return rain_error_oom();
	if ((r = fs_mkdir_p(dir, 0755)) < 0)
		return r;
	for (size_t i = 0; i < 2; i++) {
		_cleanup_free_ char *p = fs_path_join(dir, dracut_plugins[i]);

		if (!p)
			return rain_error_oom();
		unlink(p);
		if (i == 0 && stub)
			r = fs_write_atomic(p, stub, strlen(stub), 0755);
		else if (symlink("/dev/null", p) < 0)
			r = rain_error_errno(RAIN_EIO, errno, "cannot write %s", p);
		if (r < 0)
			return r;
	}
	return 0;
}

static int undefer_dracut(const char *root)
{
	for (size_t i = 0; i < 2; i++) {
		_cleanup_free_ char *p = NULL;

		if (asprintf(&p, "%s" INSTALL_D "/%s", root, dracut_plugins[i]) < 0)
			return rain_error_oom();
		if (unlink(p) < 0 && errno != ENOENT)
			return rain_error_errno(RAIN_EIO, errno, "cannot remove %s", p);
	}
	return 0;
}

static void scan_dnf(void *ud, const char *line)
{
	rpm_scan_line(ud, line);
}

/* Run a dnf call, turning its failure into the error a user can act on. */
static int run_dnf(struct build_ctx *b, const char *what, const struct rpm_dnf_call *c)
{
	struct rpm_errors errs = { "", "" };
	char **argv;
	size_t argc;
	int ret = rpm_dnf_argv(c, &argv, &argc);

	if (ret < 0)
		return ret;
	ret = build_run(b, what, (const char *const *)argv, scan_dnf, &errs);
	strv_free(argv, argc);
	return rpm_error(b->r, ret, &errs);
}

/* Write the text to dir/name (a host path or one inside the image). */
static int write_file_in(const char *dir, const char *name, const char *text, mode_t mode)
{
	_cleanup_free_ char *p = fs_path_join(dir, name);
	int r = fs_mkdir_p(dir, 0755);

	if (r < 0)
		return r;
	return p ? fs_write_atomic(p, text, strlen(text), mode) : rain_error_oom();
}

static int write_repo(const struct rain_recipe *r, const char *dir)
{
	_cleanup_free_ char *text = NULL;
	int ret = rpm_repo_text(r, &text);

	return ret < 0 ? ret : write_file_in(dir, "rain.repo", text, 0644);
}

/* The host's architecture as RPM names it. */
static const char *host_basearch(void)
{
	static struct utsname u;

	if (uname(&u) < 0)
		return NULL;
	if (!strcmp(u.machine, "i686") || !strcmp(u.machine, "i586"))
		return "i686";
	return u.machine;
}

/* /proc and /dev for the package scripts dnf runs chroot'ed in root; the
 * mounts vanish with the sandbox. */
static int mount_api(const char *root)
{
	_cleanup_free_ char *proc = fs_path_join(root, "proc"), *dev = fs_path_join(root, "dev");

	if (!proc || !dev)
		return rain_error_oom();
	if (fs_mkdir_p(proc, 0555) < 0 || fs_mkdir_p(dev, 0755) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot create /proc and /dev in %s", root);
	if (mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot mount /proc in %s", root);
	if (mount("/dev", dev, NULL, MS_BIND | MS_REC, NULL) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot bind /dev in %s", root);
	return 0;
}

static void umount_api(const char *root)
{
	_cleanup_free_ char *proc = fs_path_join(root, "proc"), *dev = fs_path_join(root, "dev");

	if (dev)
		umount2(dev, MNT_DETACH);
	if (proc)
		umount2(proc, MNT_DETACH);
}

static int rpm_base(struct build_ctx *b, const char *root)
{
	const struct rain_recipe *r = b->r;
	_cleanup_free_ char *url = NULL, *reposdir = build_tmp_path(b, "repos");
	_cleanup_free_ char *config = build_tmp_path(b, "dnf.conf"), *macros = build_tmp_path(b, ".rpmmacros");
	_cleanup_free_ char *mtext = NULL, *dracut = NULL;
	const char *arch = rpm_basearch(r->architecture), *host = host_basearch();
	static const char conf[] = "[main]\ninstallonly_limit=3\nskip_if_unavailable=False\nbest=True\n";
	struct rpm_dnf_call c = { .kind = RPM_DNF_BASE, .r = r, .installroot = root };
	char **pkgs = NULL;
	size_t n = 0;
	int ret;

	if (!reposdir || !config || !macros)
		return rain_error_oom();
	if ((ret = rpm_probe_url(r, &url)) < 0)
		return ret;
	build_log(b, "checking the mirror: %s", url);
	if ((ret = build_mirror_probe(r->mirror, url, BUILD_PROBE_TIMEOUT_S)) < 0) {
		char msg[768];

		snprintf(msg, sizeof(msg), "%s", rain_error_last());
		return rain_error_set(ret, "%s: RPM builds need a reachable mirror; set [image] mirror = "
				      "a %s mirror this machine can reach", msg, r->distribution);
	}
	/* Debian's rpm would keep the image's database in ~/.rpmdb */
	if (asprintf(&mtext, "%%_dbpath %s\n%%_db_backend sqlite\n", rpm_dbpath(r)) < 0 ||
	    (ret = rpm_dracut_conf(r, &dracut)) < 0)
		return rain_error_oom();
	if ((ret = fs_write_atomic(macros, mtext, strlen(mtext), 0644)) < 0 ||
	    (ret = fs_write_atomic(config, conf, strlen(conf), 0644)) < 0 || (ret = write_repo(r, reposdir)) < 0)
		return ret;
	if ((ret = fs_mkdir_p(root, 0755)) < 0 || (ret = defer_dracut(root, NULL)) < 0)
		return ret;
	{
		_cleanup_free_ char *dir = fs_path_join(root, "etc/dracut.conf.d");

		if (!dir || (ret = write_file_in(dir, "90-rain.conf", dracut, 0644)) < 0)
			return dir ? ret : rain_error_oom();
	}
	if ((ret = rpm_base_packages(r, &pkgs, &n)) < 0)
		return ret;
	c.config = config;
	c.reposdir = reposdir;
	c.destdir = b->debs;
	c.forcearch = host && arch && strcmp(host, arch) ? arch : NULL;
	c.pkgs = pkgs;
	c.npkgs = n;
	if (c.forcearch)
		build_log(b, "foreign architecture %s: package scripts run under qemu-user (binfmt)", arch);
	ret = mount_api(root);
	if (ret == 0)
		ret = run_dnf(b, "dnf --installroot (the base system)", &c);
	strv_free(pkgs, n);
	if (ret == 0 && r->kernel) {
		const char *argv[] = { "chroot", root, "sh", "-c", script_initramfs, NULL };

		ret = build_run(b, "dracut (one initramfs per kernel)", argv, NULL, NULL);
	}
	umount_api(root);
	if (ret == 0)
		ret = undefer_dracut(root);
	return ret;
}

static int rpm_layer(const struct rain_recipe *r, char ***pkgs, size_t *n)
{
	char pack[64];

	/* en_US.UTF-8 lives in glibc-langpack-en */
	snprintf(pack, sizeof(pack), "glibc-langpack-%.*s",
		 r->locale ? (int)strcspn(r->locale, "_.@") : 0, r->locale ? r->locale : "");
	return build_layer_packages(r, pack, pkgs, n);
}

static int rpm_fetch(struct build_ctx *b, bool refresh)
{
	struct rpm_dnf_call c = { .kind = RPM_DNF_FETCH, .r = b->r, .reposdir = RPM_STAGE_REPOSDIR,
				  .destdir = RPM_DOWNLOAD_DIR, .refresh = refresh,
				  .pkgs = b->layer, .npkgs = b->nlayer };
	int ret = write_repo(b->r, RPM_STAGE_REPOSDIR);

	if (ret == 0 && b->nlayer)
		ret = run_dnf(b, "dnf install --downloadonly", &c);
	return ret;
}

static int rpm_install(struct build_ctx *b)
{
	struct rpm_dnf_call c = { .kind = RPM_DNF_INSTALL, .r = b->r, .reposdir = RPM_STAGE_REPOSDIR,
				  .destdir = RPM_DOWNLOAD_DIR, .pkgs = b->layer, .npkgs = b->nlayer };
	int ret = defer_dracut("", stub_dracut);

	if (ret == 0)
		ret = write_repo(b->r, RPM_STAGE_REPOSDIR);
	if (ret == 0 && b->nlayer)
		ret = run_dnf(b, "dnf install --cacheonly", &c);
	return ret;
}

static int rpm_finish(struct build_ctx *b)
{
	/* the metadata of our repositories and dnf's logs of the build go;
	 * the image keeps its distribution's own repositories */
	static const char script_clean[] =
		"rm -rf /var/cache/dnf/* /var/log/dnf.log /var/log/dnf.librepo.log /var/log/dnf.rpm.log "
		"/var/log/hawkey.log\n";
	const char *initramfs[] = { "sh", "-c", script_initramfs, NULL };
	const char *clean[] = { "sh", "-c", script_clean, NULL };
	int ret = undefer_dracut("");

	if (ret == 0 && access("/usr/bin/dracut", X_OK) == 0)
		ret = build_run(b, "dracut (when a package asked)", initramfs, NULL, NULL);
	if (ret == 0)
		ret = build_run(b, "finish (dnf caches)", clean, NULL, NULL);
	return ret;
}

static int rpm_packages(struct build_ctx *b, json_t **out)
{
	_cleanup_free_ char *root = NULL;
	const char *argv[] = { "rpm", NULL, "-qa", "--qf", "%{NAME}\t%{VERSION}-%{RELEASE}\t%{ARCH}\n", NULL };
	size_t i = 0;
	int r;

	if (asprintf(&root, "--root=%s", b->root) < 0)
		return rain_error_oom();
	argv[1] = root;
	r = build_package_list(b, "rpm -qa", argv, out);
	/* imported signing keys show up as gpg-pubkey "packages" */
	while (r == 0 && i < json_array_size(*out))
		if (!strcmp(json_string_value(json_object_get(json_array_get(*out, i), "name")), "gpg-pubkey"))
			json_array_remove(*out, i);
		else
			i++;
	return r;
}

static int rpm_add_user(struct build_ctx *b, const struct rain_recipe_user *u)
{
	/* the administrators' group of the RPM distributions */
	return build_useradd(b, u, "wheel");
}

static int rpm_enable_service(struct build_ctx *b, const char *unit)
{
	const char *argv[] = { "chroot", b->root, "systemctl", "enable", "--", unit, NULL };
	_cleanup_free_ char *networkd = fs_path_join(b->root, "usr/lib/systemd/system/systemd-networkd.service");
	_cleanup_free_ char *nm = fs_path_join(b->root, "usr/lib/systemd/system/NetworkManager.service");

	if (!networkd || !nm)
		return rain_error_oom();
	/* build-customize.c enables systemd-networkd everywhere; EL has none
	 * and its NetworkManager (in the base) does DHCP on every wired
	 * interface by itself */
	if (!strcmp(unit, "systemd-networkd.service") && access(networkd, F_OK) < 0 && access(nm, F_OK) == 0) {
		build_log(b, "no systemd-networkd in %s: NetworkManager does the networking", b->r->distribution);
		argv[5] = "NetworkManager.service";
	}
	return build_run(b, "systemctl enable", argv, NULL, NULL);
}

const struct rain_builder_backend rain_builder_rpm = {
	.family = "rpm",
	.download_dir = RPM_DOWNLOAD_DIR,
	.base_packages = rpm_base_packages,
	.base = rpm_base,
	.layer = rpm_layer,
	.fetch = rpm_fetch,
	.install = rpm_install,
	.finish = rpm_finish,
	.packages = rpm_packages,
	.add_user = rpm_add_user,
	.enable_service = rpm_enable_service,
};
