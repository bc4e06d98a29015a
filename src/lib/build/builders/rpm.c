/* The RPM builder backend (Rocky, Alma, Fedora, and distribution = rpm: one
 * signed repository of one's own): the host's dnf bootstraps the base with
 * --installroot from repositories written by us for the recipe's mirror;
 * the fetch and image stages run the image's own dnf.
 *
 * The end-to-end test (tests/integration/t0108-generate-rpm-repo.sh) runs
 * this backend through real dnf against a signed test repository made
 * with rpmbuild and createrepo_c, with distribution = rpm: no Rocky, Alma
 * or Fedora mirror is reachable from the test machines, so those three
 * are checked by their command lines and repository files only
 * (tests/unit/test-builder-rpm.c).
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
 * its mirror (Fedora's from src.fedoraproject.org), or with the recipe's
 * [image] keyring (always for distribution = rpm), which the base keeps
 * as RPM_KEY_PATH for the image's own dnf; -y imports it. A package that
 * is unsigned or signed with another key fails the build, naming it.
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
 * The manifest's package list comes from that database (rpmdb.sqlite),
 * read by librain (rain_pkg_parse_rpmdb), not by the image's rpm, which
 * a small image may not have.
 * Recipe values reach dnf only as separate arguments and file contents.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "rain/pkg.h"
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
	    strcmp(r->distribution, "fedora") && strcmp(r->distribution, "rpm"))
		return rain_error_set(RAIN_EINVAL, "%s is not an RPM distribution (rocky, alma, fedora, rpm)",
				      r->distribution);
	return 0;
}

static bool own_repository(const struct rain_recipe *r)
{
	return !strcmp(r->distribution, "rpm");
}

/* Every "gpgkey=" line of *text (a new string, replaced) to gpgkey. */
static int replace_gpgkey(char **text, const char *gpgkey)
{
	_cleanup_free_ char *old = *text;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	const char *p = old;

	*text = NULL;
	if (!f)
		return rain_error_oom();
	while (*p) {
		size_t n = strcspn(p, "\n");

		if (str_has_prefix(p, "gpgkey="))
			fprintf(f, "gpgkey=%s\n", gpgkey);
		else
			fprintf(f, "%.*s\n", (int)n, p);
		p += n + (p[n] == '\n');
	}
	if (fclose(f) != 0) {
		free(buf);
		return rain_error_oom();
	}
	*text = buf;
	return 0;
}

int rpm_repo_text(const struct rain_recipe *r, const char *gpgkey, char **out)
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
	if (own_repository(r)) {
		if (!gpgkey)
			return rain_error_set(RAIN_EINVAL, "distribution = rpm needs [image] keyring: its "
					      "packages are always checked");
		n = asprintf(out,
			     "# written by rain generate for [image] mirror = %s\n"
			     "# (distribution = rpm: one repository of one's own)\n"
			     "[rain-repository]\nname=rpm repository %s %s\n"
			     "baseurl=%s/\n"
			     "enabled=1\ngpgcheck=1\ngpgkey=%s\n",
			     r->mirror, r->release, arch, m, gpgkey);
	} else if (!strcmp(r->distribution, "fedora")) {
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
	if (n < 0)
		return rain_error_oom();
	if (gpgkey && !own_repository(r))
		return replace_gpgkey(out, gpgkey);
	return 0;
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
	if (own_repository(r))
		n = asprintf(out, "%s/repodata/repomd.xml", m);
	else if (!strcmp(r->distribution, "fedora"))
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
	if (own_repository(r)) {
		/* nothing is known of its names: the recipe's packages make
		 * the base, and a kernel needs the usual two */
		for (size_t i = 0; ret == 0 && i < r->npackages; i++)
			ret = strv_add(pkgs, n, r->packages[i]);
		for (size_t i = 0; ret == 0 && r->kernel && i < 2; i++)
			ret = strv_add(pkgs, n, kernel[i]);
		if (ret == 0 && *n == 0)
			ret = rain_error_set(RAIN_EINVAL, "%s: distribution = rpm installs what [packages] "
					     "install names: name at least one package", r->file);
		goto out;
	} else if (!strcmp(r->distribution, "fedora")) {
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
out:
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
	static const char *const unsigned_pkg[] = { "Package ", " is not signed" };
	static const char *const other_key[] = { "Public key for ", " is not installed" };
	const char *p;

	/* "Package X.rpm is not signed", "Public key for X.rpm is not
	 * installed. Failing package is: ..." (signed with a key dnf was not
	 * given) */
	for (size_t i = 0; !e->badsig[0] && i < 2; i++) {
		const char *const *w = i ? other_key : unsigned_pkg;
		const char *end;

		if ((p = strstr(line, w[0])) && (end = strstr(p, w[1])) && end > p + strlen(w[0])) {
			p += strlen(w[0]);
			snprintf(e->badsig, sizeof(e->badsig), "%.*s", (int)(end - p), p);
			e->unsigned_pkg = i == 0;
		}
	}
	if (!e->badsig[0] && strstr(line, "GPG check FAILED"))
		e->gpg_failed = true;
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
	char keys[2200];

	if (r->keyring)
		snprintf(keys, sizeof(keys), "the key of [image] keyring %s", r->keyring);
	else
		snprintf(keys, sizeof(keys), "%s's signing key", r->distribution);
	if (ret < 0 && e->badsig[0] && e->unsigned_pkg)
		return rain_error_set(RAIN_EFORBIDDEN, "package %s from %s is not signed: refused (every "
				      "package is checked against %s); sign it (rpmsign --addsign) and "
				      "update the repository", e->badsig, r->mirror, keys);
	if (ret < 0 && e->badsig[0])
		return rain_error_set(RAIN_EFORBIDDEN, "package %s from %s is signed with a key that is not "
				      "%s: refused; sign it with the repository's key, or give the keyring "
				      "that holds its key in [image] keyring", e->badsig, r->mirror, keys);
	if (ret < 0 && e->gpg_failed)
		return rain_error_set(RAIN_EFORBIDDEN, "a package from %s failed its signature check "
				      "against %s (see the build log): refused", r->mirror, keys);
	if (ret < 0 && e->missing[0] && r->kernel && (!strcmp(e->missing, "kernel") || !strcmp(e->missing, "dracut")))
		return rain_error_set(RAIN_EINVAL, "package '%s' does not exist in %s %s (%s): a bootable image "
				      "needs the repository to provide kernel and dracut; without them, build the "
				      "tar, tar.zst, dir, ext4 or squashfs formats with [packages] kernel = no",
				      e->missing, r->distribution, r->release, r->mirror);
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
	struct rpm_errors errs = { .missing = "" };
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

/* rain.repo in dir; the recipe's keyring at host_key (the base) or, in
 * the image, at RPM_KEY_PATH (host_key NULL). */
static int write_repo(struct build_ctx *b, const char *dir, const char *host_key)
{
	_cleanup_free_ char *text = NULL, *url = NULL;
	int ret;

	if (b->keyring && asprintf(&url, "file://%s", host_key ? host_key : RPM_KEY_PATH) < 0)
		return rain_error_oom();
	ret = rpm_repo_text(b->r, url, &text);
	if (ret < 0)
		return ret;
	/* the base's, in the log: what was trusted */
	for (const char *p = text; host_key && *p; ) {
		size_t n = strcspn(p, "\n");

		build_log(b, "rain.repo: %.*s", (int)n, p);
		p += n + (p[n] == '\n');
	}
	return write_file_in(dir, "rain.repo", text, 0644);
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
 * mounts vanish with the sandbox. /dev is a tmpfs of its own with the
 * host's few character devices bound in, not the host's /dev: the
 * distribution's filesystem package owns /dev, and rpm's chown of a bind
 * of the host's fails. */
static int mount_api(const char *root)
{
	static const char *const devs[] = { "null", "zero", "full", "random", "urandom", "tty" };
	_cleanup_free_ char *proc = fs_path_join(root, "proc"), *dev = fs_path_join(root, "dev");

	if (!proc || !dev)
		return rain_error_oom();
	if (fs_mkdir_p(proc, 0555) < 0 || fs_mkdir_p(dev, 0755) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot create /proc and /dev in %s", root);
	if (mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot mount /proc in %s", root);
	if (mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=1m") < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot mount a /dev in %s", root);
	for (size_t i = 0; i < sizeof(devs) / sizeof(*devs); i++) {
		_cleanup_free_ char *src = fs_path_join("/dev", devs[i]), *dst = fs_path_join(dev, devs[i]);
		int fd;

		if (!src || !dst)
			return rain_error_oom();
		if ((fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0666)) < 0)
			return rain_error_errno(RAIN_EIO, errno, "cannot create %s", dst);
		close(fd);
		if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
			return rain_error_errno(RAIN_EIO, errno, "cannot bind %s to %s", src, dst);
	}
	{
		_cleanup_free_ char *fd = fs_path_join(dev, "fd");

		if (!fd)
			return rain_error_oom();
		if (symlink("/proc/self/fd", fd) < 0)
			return rain_error_errno(RAIN_EIO, errno, "cannot create %s", fd);
	}
	return 0;
}

static void umount_api(const char *root)
{
	_cleanup_free_ char *proc = fs_path_join(root, "proc"), *dev = fs_path_join(root, "dev");

	/* the device binds go with the tmpfs */
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
	/* Debian's rpm would keep the image's database in ~/.rpmdb. /proc is
	 * a mount here, owned by no one the sandbox knows: rpm's chown of it
	 * (the filesystem package owns it) would fail, so rpm leaves it be */
	if (asprintf(&mtext, "%%_dbpath %s\n%%_db_backend sqlite\n%%_netsharedpath /proc\n", rpm_dbpath(r)) < 0 ||
	    (ret = rpm_dracut_conf(r, &dracut)) < 0)
		return rain_error_oom();
	if ((ret = fs_write_atomic(macros, mtext, strlen(mtext), 0644)) < 0 ||
	    (ret = fs_write_atomic(config, conf, strlen(conf), 0644)) < 0 || (ret = write_repo(b, reposdir, b->keyring)) < 0)
		return ret;
	/* the recipe's keyring, for the image's own dnf */
	if (b->keyring) {
		_cleanup_free_ char *data = NULL, *dst = fs_path_join(root, RPM_KEY_PATH);
		size_t len;

		if (!dst)
			return rain_error_oom();
		if ((ret = fs_read_small(b->keyring, 1 << 20, &data, &len)) < 0 ||
		    (ret = fs_mkdir_p(root, 0755)) < 0)
			return ret;
		{
			_cleanup_free_ char *dir = strdup(dst);

			if (!dir)
				return rain_error_oom();
			*strrchr(dir, '/') = '\0';
			if ((ret = fs_mkdir_p(dir, 0755)) < 0 || (ret = fs_write_atomic(dst, data, len, 0644)) < 0)
				return ret;
		}
	}
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
	struct rain_recipe implied = *r;
	char pack[64];

	/* rpm: the recipe's packages are in the base; only what the recipe
	 * implies (sudo, openssh-server, ...) is left, for the image's dnf */
	if (own_repository(r)) {
		implied.packages = NULL;
		implied.npackages = 0;
		r = &implied;
	}

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
	int ret = write_repo(b, RPM_STAGE_REPOSDIR, NULL);

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
		ret = write_repo(b, RPM_STAGE_REPOSDIR, NULL);
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

/* The installed packages, from the image's rpm database (rpmdb.sqlite,
 * read by librain: a small image may have no rpm of its own), as
 * [{name, version "[E:]V-R", architecture}]; signing keys (gpg-pubkey)
 * are left out. */
static int rpm_packages(struct build_ctx *b, json_t **out)
{
	_cleanup_free_ char *path = NULL, *data = NULL;
	struct rain_pkg_list l = { .family = RAIN_PKG_RPM };
	json_t *list;
	size_t len;
	int r;

	*out = NULL;
	if (asprintf(&path, "%s%s/rpmdb.sqlite", strcmp(b->root, "/") ? b->root : "", rpm_dbpath(b->r)) < 0)
		return rain_error_oom();
	if ((r = fs_read_small(path, (size_t)1 << 30, &data, &len)) < 0 ||
	    (r = rain_pkg_parse_rpmdb(data, len, path, &l)) < 0)
		return rain_error_set(r, "the rpm database of the image: %s", rain_error_last());
	if (!(list = json_array()))
		r = rain_error_oom();
	for (size_t i = 0; r == 0 && i < l.n; i++)
		if (json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "name", l.pkgs[i].name,
							  "version", l.pkgs[i].version, "architecture",
							  l.pkgs[i].arch ? l.pkgs[i].arch : "")) < 0)
			r = rain_error_oom();
	rain_pkg_list_free(&l);
	if (r < 0) {
		json_decref(list);
		return r;
	}
	build_log(b, "rpm database: %zu packages", json_array_size(list));
	*out = list;
	return 0;
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
	/* an image without systemd (a small one from a repository of one's
	 * own) gets no networking from rain; a unit the recipe names still
	 * needs systemctl */
	if (!strcmp(unit, "systemd-networkd.service") && access(networkd, F_OK) < 0 && access(nm, F_OK) < 0) {
		_cleanup_free_ char *systemctl = fs_path_join(b->root, "usr/bin/systemctl");

		if (!systemctl)
			return rain_error_oom();
		if (access(systemctl, X_OK) < 0) {
			build_log(b, "no systemd in the image: no network service enabled");
			return 0;
		}
	}
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
