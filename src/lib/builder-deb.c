/* The Debian/Ubuntu builder backend: mmdebstrap.
 *
 * Speed: update-initramfs is diverted while packages install (each kernel
 * or udev trigger would rebuild the initramfs) and run once at the end with
 * MODULES=list and zstd; downloaded .debs are hard-linked in from, and
 * published back to, a cache shared by all builds (only by link and rename,
 * so concurrent builds are safe). The hook scripts are fixed text; recipe
 * values reach mmdebstrap only as separate arguments.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "build-internal.h"
#include "rain/error.h"
#include "util/fsutil.h"
#include "util/strutil.h"

/* setup hook: seed apt's archive directory from the shared cache */
static const char hook_cache_in[] =
	"#!/bin/sh\nset -eu\nr=\"$1\"\nmkdir -p \"$r/var/cache/apt/archives/partial\"\n"
	"for f in \"$RAIN_DEB_CACHE\"/*.deb; do\n"
	"  [ -e \"$f\" ] || continue\n"
	"  ln \"$f\" \"$r/var/cache/apt/archives/\" 2>/dev/null || cp \"$f\" \"$r/var/cache/apt/archives/\"\n"
	"done\n";

/* essential hook: defer update-initramfs, make it small and fast */
static const char hook_defer_initramfs[] =
	"#!/bin/sh\nset -eu\nr=\"$1\"\n"
	"chroot \"$r\" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs\n"
	"printf '#!/bin/sh\\n# deferred by rain generate\\nexit 0\\n' > \"$r/usr/sbin/update-initramfs\"\n"
	"chmod 0755 \"$r/usr/sbin/update-initramfs\"\n"
	"mkdir -p \"$r/etc/initramfs-tools/conf.d\" \"$r/usr/share/initramfs-tools/modules.d\"\n"
	"printf 'COMPRESS=zstd\\nMODULES=list\\n' > \"$r/etc/initramfs-tools/conf.d/90-rain\"\n"
	"printf '%s\\n' virtio_pci virtio_blk virtio_scsi virtio_net ahci ata_piix sd_mod ext4 crc32c_generic"
	" > \"$r/usr/share/initramfs-tools/modules.d/90-rain\"\n";

/* customize hook: publish new .debs, build each initramfs once */
static const char hook_finish[] =
	"#!/bin/sh\nset -eu\nr=\"$1\"\n"
	"for f in \"$r\"/var/cache/apt/archives/*.deb; do\n"
	"  [ -e \"$f\" ] || continue\n"
	"  b=${f##*/}\n"
	"  [ -e \"$RAIN_DEB_CACHE/$b\" ] && continue\n"
	"  ln \"$f\" \"$RAIN_DEB_CACHE/$b\" 2>/dev/null || { t=\"$RAIN_DEB_CACHE/.tmp.$$.$b\"; cp \"$f\" \"$t\" && mv -f \"$t\" \"$RAIN_DEB_CACHE/$b\"; } || true\n"
	"done\n"
	"rm -f \"$r\"/var/cache/apt/archives/*.deb\n"
	"rm -f \"$r/usr/sbin/update-initramfs\"\n"
	"chroot \"$r\" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs\n"
	"for m in \"$r\"/lib/modules/*; do\n"
	"  [ -d \"$m\" ] || continue\n"
	"  chroot \"$r\" update-initramfs -c -k \"${m##*/}\"\n"
	"done\n";

static const char *kernel_package(const char *arch)
{
	static const char *const map[][2] = {
		{ "amd64", "linux-image-amd64" }, { "arm64", "linux-image-arm64" },
		{ "i386", "linux-image-686-pae" }, { "armhf", "linux-image-armmp" },
		{ "ppc64el", "linux-image-powerpc64le" }, { "s390x", "linux-image-s390x" },
		{ "riscv64", "linux-image-riscv64" },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(*map); i++)
		if (!strcmp(map[i][0], arch))
			return map[i][1];
	return NULL;
}

static int write_hook(struct build_ctx *b, const char *name, const char *text, char **path)
{
	*path = fs_path_join(b->scratch, name);
	if (!*path)
		return RAIN_ENOMEM;
	return fs_write_atomic(*path, text, strlen(text), 0700);
}

/* Find "Unable to locate package X" in apt's output. */
struct apt_errors {
	char missing[256];
	char fetch[512];
};

static void scan_apt(void *ud, const char *line)
{
	struct apt_errors *e = ud;
	const char *p;

	if (!e->missing[0] && (p = strstr(line, "Unable to locate package ")))
		snprintf(e->missing, sizeof(e->missing), "%s", p + strlen("Unable to locate package "));
	if (!e->fetch[0] && strstr(line, "Failed to fetch"))
		snprintf(e->fetch, sizeof(e->fetch), "%s", line);
}

static int deb_bootstrap(struct build_ctx *b)
{
	const struct rain_recipe *r = b->r;
	_cleanup_free_ char *cache_in = NULL, *defer = NULL, *finish = NULL;
	_cleanup_free_ char *include = NULL, *arch = NULL, *h1 = NULL, *h2 = NULL, *h3 = NULL;
	struct apt_errors errs = { "", "" };
	size_t len = 0;
	FILE *inc = open_memstream(&include, &len);
	bool sudo = false, ssh = false, sep = false;
	int ret;

	if (!inc)
		return RAIN_ENOMEM;
	fputs("--include=", inc);
	/* what the recipe implies, then what it names */
	for (size_t i = 0; i < r->nusers; i++) {
		sudo |= r->users[i].sudo;
		ssh |= r->users[i].nssh_keys > 0;
	}
#define ADD(pkg) do { fprintf(inc, "%s%s", sep ? "," : "", (pkg)); sep = true; } while (0)
	ADD("systemd-sysv");
	ADD("udev");
	if (r->kernel) {
		const char *k = kernel_package(r->architecture);

		if (!k) {
			fclose(inc);
			return rain_error_set(RAIN_EINVAL, "no kernel package known for %s", r->architecture);
		}
		ADD(k);
		ADD("zstd");
	}
	if (sudo)
		ADD("sudo");
	if (ssh)
		ADD("openssh-server");
	if (r->timezone)
		ADD("tzdata");
	if (r->locale && strcmp(r->locale, "C") && strcmp(r->locale, "C.UTF-8") && strcmp(r->locale, "POSIX"))
		ADD("locales");
	for (size_t i = 0; i < r->npackages; i++)
		ADD(r->packages[i]);
#undef ADD
	if (fclose(inc) != 0)
		return RAIN_ENOMEM;
	if ((ret = write_hook(b, "cache-in.sh", hook_cache_in, &cache_in)) < 0 ||
	    (ret = write_hook(b, "defer-initramfs.sh", hook_defer_initramfs, &defer)) < 0 ||
	    (ret = write_hook(b, "finish.sh", hook_finish, &finish)) < 0)
		return ret;
	if (asprintf(&arch, "--arch=%s", r->architecture) < 0 ||
	    asprintf(&h1, "--setup-hook=sh %s \"$1\"", cache_in) < 0 ||
	    asprintf(&h2, "--essential-hook=sh %s \"$1\"", defer) < 0 ||
	    asprintf(&h3, "--customize-hook=sh %s \"$1\"", finish) < 0)
		return RAIN_ENOMEM;
	setenv("RAIN_DEB_CACHE", b->o->cache_dir, 1);
	{
		const char *argv[] = {
			"mmdebstrap", "--variant=minbase", "--mode=root", arch, include,
			"--skip=essential/unlink,download/empty", "--aptopt=Acquire::Retries \"3\"",
			"--dpkgopt=force-unsafe-io", h1, h2, h3,
			r->release, b->root, r->mirror, NULL
		};

		ret = build_run(b, "mmdebstrap", argv, scan_apt, &errs);
	}
	if (ret < 0 && errs.missing[0])
		return rain_error_set(RAIN_EINVAL, "package '%s' does not exist in %s %s (%s): check its name",
				      errs.missing, r->distribution, r->release, r->mirror);
	if (ret < 0 && errs.fetch[0])
		return rain_error_set(RAIN_ENET, "the mirror %s cannot be reached: %s", r->mirror, errs.fetch);
	return ret;
}

static void add_package(void *ud, const char *line)
{
	json_t *list = ud;
	char name[256], version[256], arch[64];

	if (sscanf(line, "%255[^\t]\t%255[^\t]\t%63s", name, version, arch) == 3)
		json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "name", name,
						      "version", version, "architecture", arch));
}

static int deb_packages(struct build_ctx *b, json_t **out)
{
	_cleanup_free_ char *admindir = NULL;
	json_t *list = json_array();
	int r;

	if (!list || asprintf(&admindir, "--admindir=%s/var/lib/dpkg", b->root) < 0) {
		json_decref(list);
		return RAIN_ENOMEM;
	}
	{
		const char *argv[] = { "dpkg-query", admindir, "-W",
				       "-f=${Package}\t${Version}\t${Architecture}\n", NULL };

		r = build_run(b, "dpkg-query", argv, add_package, list);
	}
	if (r < 0) {
		json_decref(list);
		return r;
	}
	*out = list;
	return 0;
}

static int deb_add_user(struct build_ctx *b, const struct rain_recipe_user *u)
{
	char uid[32];
	const char *argv[16];
	int n = 0;

	argv[n++] = "chroot";
	argv[n++] = b->root;
	argv[n++] = "useradd";
	argv[n++] = "--create-home";
	argv[n++] = "--shell";
	argv[n++] = u->shell ? u->shell : "/bin/bash";
	if (u->uid >= 0) {
		snprintf(uid, sizeof(uid), "%lld", (long long)u->uid);
		argv[n++] = "--uid";
		argv[n++] = uid;
	}
	if (u->sudo) {
		argv[n++] = "--groups";
		argv[n++] = "sudo";
	}
	argv[n++] = "--";
	argv[n++] = u->name;
	argv[n] = NULL;
	return build_run(b, "useradd", argv, NULL, NULL);
}

static int deb_enable_service(struct build_ctx *b, const char *unit)
{
	const char *argv[] = { "chroot", b->root, "systemctl", "enable", "--", unit, NULL };

	return build_run(b, "systemctl enable", argv, NULL, NULL);
}

const struct rain_builder_backend rain_builder_deb = {
	.family = "deb",
	.bootstrap = deb_bootstrap,
	.packages = deb_packages,
	.add_user = deb_add_user,
	.enable_service = deb_enable_service,
};
