/* The Debian/Ubuntu builder backend: mmdebstrap.
 *
 * Keys: Debian's archive keyring is the host's. Ubuntu's is not on a
 * Debian host: the recipe's [image] keyring (checked against the key rain
 * pins, build.c) is given to mmdebstrap and copied into the image's
 * /etc/apt/trusted.gpg.d for its own apt (the fetch stage's). Ubuntu's
 * kernel is linux-image-virtual (generic on the architectures without
 * it), with initramfs-tools; its networking is systemd-networkd, which
 * build-customize.c configures (no netplan).
 *
 * Speed: update-initramfs is diverted while packages install (each kernel
 * or udev trigger would rebuild the initramfs) and run once at the end with
 * MODULES=list and zstd; downloaded .debs are hard-linked in from, and
 * published back to, a cache shared by all builds (only by link and rename,
 * so concurrent builds are safe). The hook scripts are fixed text; recipe
 * values reach mmdebstrap only as separate arguments.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/build/build-internal.h"
#include "rain/error.h"
#include "util/fsutil.h"
#include "util/strutil.h"

/* setup hook: apt downloads into this build's package directory, which
 * holds the shared cache's files already */
static const char hook_debs_in[] =
	"mkdir -p \"$1/var/cache/apt/archives\" && mount --bind \"$RAIN_DEBS\" \"$1/var/cache/apt/archives\"";

/* setup hook, before the keyring is copied in */
static const char hook_trusted_dir[] = "--setup-hook=mkdir -p \"$1/etc/apt/trusted.gpg.d\"";

/* essential hook: defer update-initramfs while packages install; make it
 * small and fast */
static const char hook_defer_initramfs[] =
	"#!/bin/sh\nset -eu\nr=\"$1\"\n"
	"chroot \"$r\" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs\n"
	"printf '#!/bin/sh\\n# deferred by rain generate\\nexit 0\\n' > \"$r/usr/sbin/update-initramfs\"\n"
	"chmod 0755 \"$r/usr/sbin/update-initramfs\"\n"
	"mkdir -p \"$r/etc/initramfs-tools/conf.d\" \"$r/usr/share/initramfs-tools/modules.d\"\n"
	"printf 'COMPRESS=zstd\\nMODULES=list\\n' > \"$r/etc/initramfs-tools/conf.d/90-rain\"\n"
	"printf '%s\\n' virtio_pci virtio_blk virtio_scsi virtio_net ahci ata_piix sd_mod ext4 crc32c_generic"
	" > \"$r/usr/share/initramfs-tools/modules.d/90-rain\"\n";

/* customize hook: build each initramfs once, hand the downloads back */
static const char hook_finish_base[] =
	"#!/bin/sh\nset -eu\nr=\"$1\"\n"
	"umount \"$r/var/cache/apt/archives\"\n"
	"rm -f \"$r/usr/sbin/update-initramfs\"\n"
	"chroot \"$r\" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs\n"
	"for m in \"$r\"/lib/modules/*; do\n"
	"  [ -d \"$m\" ] || continue\n"
	"  chroot \"$r\" update-initramfs -c -k \"${m##*/}\"\n"
	"done\n";

/* Inside the image: while the layer installs, update-initramfs only notes
 * that it was asked for */
static const char stub_initramfs[] =
	"#!/bin/sh\n# deferred by rain generate\n: > " BUILD_FLAGS "/initramfs-wanted\nexit 0\n";

/* Inside the image, after the layer: one initramfs per kernel, only when
 * a package asked or a kernel has none yet */
static const char script_finish[] =
	"#!/bin/sh\nset -eu\n"
	"rm -f /usr/sbin/update-initramfs\n"
	"dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs\n"
	"for m in /lib/modules/*; do\n"
	"  [ -d \"$m\" ] && [ -x /usr/sbin/update-initramfs ] || continue\n"
	"  k=${m##*/}\n"
	"  if [ ! -e \"/boot/initrd.img-$k\" ]; then update-initramfs -c -k \"$k\"\n"
	"  elif [ -e " BUILD_FLAGS "/initramfs-wanted ]; then update-initramfs -u -k \"$k\"; fi\n"
	"done\n"
	"rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin\n";

static const char *kernel_package(const struct rain_recipe *r)
{
	const char *arch = r->architecture;

	static const char *const map[][2] = {
		{ "amd64", "linux-image-amd64" }, { "arm64", "linux-image-arm64" },
		{ "i386", "linux-image-686-pae" }, { "armhf", "linux-image-armmp" },
		{ "ppc64el", "linux-image-powerpc64le" }, { "s390x", "linux-image-s390x" },
		{ "riscv64", "linux-image-riscv64" },
	};

	/* Ubuntu's smallest kernel for virtual machines; generic on the
	 * architectures that have no virtual flavour */
	if (!strcmp(r->distribution, "ubuntu"))
		return !strcmp(arch, "amd64") || !strcmp(arch, "arm64") ? "linux-image-virtual" :
		       "linux-image-generic";
	for (size_t i = 0; i < sizeof(map) / sizeof(*map); i++)
		if (!strcmp(map[i][0], arch))
			return map[i][1];
	return NULL;
}

/* Hooks run by mmdebstrap from the sandbox's writable scratch. */
static int write_hook(struct build_ctx *b, const char *name, const char *text, char **path)
{
	*path = build_tmp_path(b, name);
	if (!*path)
		return rain_error_oom();
	return fs_write_atomic(*path, text, strlen(text), 0700);
}

/* Find "Unable to locate package X" in apt's output. */
struct apt_errors {
	char missing[256];
	char fetch[512];
	char nokey[64];
};

static void scan_apt(void *ud, const char *line)
{
	struct apt_errors *e = ud;
	const char *p;

	if (!e->missing[0] && (p = strstr(line, "Unable to locate package ")))
		snprintf(e->missing, sizeof(e->missing), "%s", p + strlen("Unable to locate package "));
	if (!e->fetch[0] && strstr(line, "Failed to fetch"))
		snprintf(e->fetch, sizeof(e->fetch), "%s", line);
	if (!e->nokey[0] && (p = strstr(line, "NO_PUBKEY ")))
		snprintf(e->nokey, sizeof(e->nokey), "%.*s", (int)strcspn(p + 10, " \t"), p + 10);
	if (!e->missing[0] && (p = strstr(line, "E: Package '")) && strstr(line, "has no installation candidate"))
		snprintf(e->missing, sizeof(e->missing), "%.*s", (int)strcspn(p + 12, "'"), p + 12);
}

/* Turn a failed apt run into the error a user can act on. */
static int apt_error(struct build_ctx *b, int ret, const struct apt_errors *e)
{
	const struct rain_recipe *r = b->r;

	if (ret < 0 && e->nokey[0] && r->keyring)
		return rain_error_set(RAIN_EINVAL, "the mirror %s signs %s %s with key %s, which [image] "
				      "keyring %s does not hold: give the keyring with that key", r->mirror,
				      r->distribution, r->release, e->nokey, r->keyring);
	if (ret < 0 && e->nokey[0])
		return rain_error_set(RAIN_EINVAL, "the mirror %s signs %s %s with key %s, which this machine "
				      "does not know: set [image] keyring to a keyring holding it (for Ubuntu: "
				      "ubuntu-archive-keyring.gpg from the ubuntu-keyring package)", r->mirror,
				      r->distribution, r->release, e->nokey);
	if (ret < 0 && e->missing[0])
		return rain_error_set(RAIN_EINVAL, "package '%s' does not exist in %s %s (%s): check its name",
				      e->missing, r->distribution, r->release, r->mirror);
	if (ret < 0 && e->fetch[0])
		return rain_error_set(RAIN_ENET, "the mirror %s cannot be reached: %s", r->mirror, e->fetch);
	return ret;
}

static const char *const base_packages[] = { "systemd-sysv", "udev", NULL };

/* The base: minbase, init, and a kernel when asked. */
static int base_includes(const struct rain_recipe *r, char ***pkgs, size_t *n)
{
	int ret = 0;

	*pkgs = NULL;
	*n = 0;
	for (size_t i = 0; ret == 0 && base_packages[i]; i++)
		ret = strv_add(pkgs, n, base_packages[i]);
	/* mmdebstrap's minbase has no apt from Ubuntu's archive, where it is
	 * not Priority: required; the image's apt installs the layer */
	if (ret == 0 && !strcmp(r->distribution, "ubuntu"))
		ret = strv_add(pkgs, n, "apt");
	if (ret == 0 && r->kernel) {
		const char *k = kernel_package(r);

		if (!k)
			ret = rain_error_set(RAIN_EINVAL, "no kernel package known for %s", r->architecture);
		else if ((ret = strv_add(pkgs, n, k)) == 0)
			ret = strv_add(pkgs, n, "zstd");
		/* Ubuntu's kernels only recommend it (Debian's depend on it) */
		if (ret == 0 && !strcmp(r->distribution, "ubuntu"))
			ret = strv_add(pkgs, n, "initramfs-tools");
	}
	if (ret < 0) {
		strv_free(*pkgs, *n);
		*pkgs = NULL;
		*n = 0;
	}
	return ret;
}

static int deb_base(struct build_ctx *b, const char *root)
{
	const struct rain_recipe *r = b->r;
	_cleanup_free_ char *defer = NULL, *finish = NULL, *list = NULL;
	_cleanup_free_ char *include = NULL, *arch = NULL, *h1 = NULL, *h2 = NULL, *h3 = NULL;
	_cleanup_free_ char *keyring = NULL, *h4 = NULL;
	struct apt_errors errs = { "", "", "" };
	char **pkgs;
	size_t n;
	int ret = base_includes(r, &pkgs, &n);

	if (ret < 0)
		return ret;
	list = strv_join(pkgs, n, ",");
	strv_free(pkgs, n);
	if (!list)
		return rain_error_oom();
	if ((ret = write_hook(b, "defer-initramfs.sh", hook_defer_initramfs, &defer)) < 0 ||
	    (ret = write_hook(b, "finish-base.sh", hook_finish_base, &finish)) < 0)
		return ret;
	if (asprintf(&include, "--include=%s", list) < 0 ||
	    asprintf(&arch, "--arch=%s", r->architecture) < 0 ||
	    asprintf(&h1, "--setup-hook=%s", hook_debs_in) < 0 ||
	    asprintf(&h2, "--essential-hook=sh %s \"$1\"", defer) < 0 ||
	    asprintf(&h3, "--customize-hook=sh %s \"$1\"", finish) < 0)
		return rain_error_oom();
	/* the recipe's keys: for mmdebstrap's apt, and the image's */
	if (b->keyring && (asprintf(&keyring, "--keyring=%s", b->keyring) < 0 ||
			   asprintf(&h4, "--setup-hook=copy-in %s /etc/apt/trusted.gpg.d/", b->keyring) < 0))
		return rain_error_oom();
	{
		const char *argv[] = {
			"mmdebstrap", "--variant=minbase", "--mode=root", arch, include,
			"--skip=essential/unlink,download/empty,cleanup/apt/lists",
			"--aptopt=Acquire::Retries \"3\"", "--dpkgopt=force-unsafe-io", h1, h2, h3,
			/* without a keyring, a repeat of an option given above */
			keyring ? keyring : "--mode=root", keyring ? hook_trusted_dir : "--mode=root",
			keyring ? h4 : "--mode=root",
			r->release, root, r->mirror, NULL
		};

		ret = build_run(b, "mmdebstrap", argv, scan_apt, &errs);
	}
	return apt_error(b, ret, &errs);
}

static bool deb_has_indexes(const char *root)
{
	_cleanup_free_ char *lists = fs_path_join(root, "var/lib/apt/lists");
	DIR *d = lists ? opendir(lists) : NULL;
	struct dirent *de;
	bool have = false;

	while (d && (de = readdir(d)))
		have |= strstr(de->d_name, "_Packages") != NULL;
	if (d)
		closedir(d);
	return have;
}

static int deb_layer(const struct rain_recipe *r, char ***pkgs, size_t *n)
{
	const struct build_machine *m = build_machine_find(r->architecture);
	int ret = build_layer_packages(r, "locales", pkgs, n);

	/* the modules and grub-mkimage the UEFI boot loader is made with */
	if (ret == 0 && r->kernel && r->firmware == RAIN_FIRMWARE_UEFI && m && m->grub_package &&
	    (ret = strv_add(pkgs, n, m->grub_package)) < 0) {
		strv_free(*pkgs, *n);
		*pkgs = NULL;
		*n = 0;
	}
	return ret;
}

/* apt-get with the layer's packages after fixed options. */
static int apt_get(struct build_ctx *b, const char *what, const char *const *opts, size_t nopts,
		   struct apt_errors *errs)
{
	const char **argv = calloc(nopts + b->nlayer + 3, sizeof(*argv));
	size_t n = 0;
	int ret;

	if (!argv)
		return rain_error_oom();
	argv[n++] = "apt-get";
	for (size_t i = 0; i < nopts; i++)
		argv[n++] = opts[i];
	argv[n++] = "--";
	for (size_t i = 0; i < b->nlayer; i++)
		argv[n++] = b->layer[i];
	argv[n] = NULL;
	ret = build_run(b, what, argv, scan_apt, errs);
	free(argv);
	return ret;
}

static int deb_fetch(struct build_ctx *b, bool refresh)
{
	static const char *const opts[] = {
		"-y", "-q", "--no-install-recommends", "--download-only",
		"-o", "Acquire::Retries=3", "install",
	};
	struct apt_errors errs = { "", "", "" };
	int ret = 0;

	if (refresh) {
		const char *argv[] = { "apt-get", "-q", "-o", "Acquire::Retries=3", "update", NULL };

		ret = build_run(b, "apt-get update", argv, scan_apt, &errs);
		if (ret == 0 && errs.fetch[0])     /* apt-get update only warns */
			ret = RAIN_EIO;
	}
	if (ret == 0 && b->nlayer)
		ret = apt_get(b, "apt-get install --download-only", opts, sizeof(opts) / sizeof(*opts), &errs);
	return apt_error(b, ret, &errs);
}

static int deb_install(struct build_ctx *b)
{
	static const char *const opts[] = {
		"-y", "-q", "--no-install-recommends", "--no-download",
		"-o", "Dpkg::Options::=--force-unsafe-io", "install",
	};
	const char *divert[] = { "dpkg-divert", "--quiet", "--local", "--rename", "--add",
				 "/usr/sbin/update-initramfs", NULL };
	struct apt_errors errs = { "", "", "" };
	int ret = build_run(b, "dpkg-divert", divert, NULL, NULL);

	if (ret == 0)
		ret = fs_write_atomic("/usr/sbin/update-initramfs", stub_initramfs, strlen(stub_initramfs), 0755);
	if (ret == 0 && b->nlayer)
		ret = apt_get(b, "apt-get install", opts, sizeof(opts) / sizeof(*opts), &errs);
	return apt_error(b, ret, &errs);
}

static int deb_finish(struct build_ctx *b)
{
	const char *argv[] = { "sh", "-c", script_finish, NULL };

	return build_run(b, "finish (initramfs, apt indexes)", argv, NULL, NULL);
}

static int deb_packages(struct build_ctx *b, json_t **out)
{
	const char *argv[] = { "dpkg-query", "-W", "-f=${Package}\t${Version}\t${Architecture}\n", NULL };

	return build_package_list(b, "dpkg-query", argv, out);
}

static int deb_add_user(struct build_ctx *b, const struct rain_recipe_user *u)
{
	return build_useradd(b, u, "sudo");
}

static int deb_enable_service(struct build_ctx *b, const char *unit)
{
	const char *argv[] = { "chroot", b->root, "systemctl", "enable", "--", unit, NULL };

	return build_run(b, "systemctl enable", argv, NULL, NULL);
}

const struct rain_builder_backend rain_builder_deb = {
	.family = "deb",
	.download_dir = "/var/cache/apt/archives",
	.base_packages = base_includes,
	.base = deb_base,
	.has_indexes = deb_has_indexes,
	.layer = deb_layer,
	.fetch = deb_fetch,
	.install = deb_install,
	.finish = deb_finish,
	.packages = deb_packages,
	.add_user = deb_add_user,
	.enable_service = deb_enable_service,
};
