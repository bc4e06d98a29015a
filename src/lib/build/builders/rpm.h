/* The pure parts of the RPM builder backend (rpm.c): what it writes
 * and what it runs, computed from the recipe without network or root, so
 * that tests/unit/test-builder-rpm.c can check them. Internal to librain.
 *
 * Recipes name architectures the Debian way (amd64, arm64); dnf, the
 * repositories and these functions use RPM base architectures (x86_64,
 * aarch64). Strings returned through out parameters are new (free them);
 * string vectors are freed with strv_free(v, n) and, for argv vectors, are
 * NULL-terminated at v[n].
 */
#ifndef RAIN_BUILDER_RPM_H
#define RAIN_BUILDER_RPM_H

#include <stdbool.h>
#include <stddef.h>

#include "rain/recipe.h"

/* Where dnf downloads packages to, and installs them from, inside the
 * image (the backend's download_dir). */
#define RPM_DOWNLOAD_DIR "/var/cache/rain-rpms"
/* Where the fetch and image stages keep rain.repo (a fresh /run each). */
#define RPM_STAGE_REPOSDIR "/run/rain/repos"

/* The RPM base architecture of a Debian architecture name, or NULL when
 * the RPM distributions have none for it. */
const char *rpm_basearch(const char *debian_arch);

/* Where the base keeps the recipe's [image] keyring for the image's own
 * dnf (the fetch and image stages). */
#define RPM_KEY_PATH "/etc/pki/rpm-gpg/RPM-GPG-KEY-rain-keyring"

/* The dnf .repo file for the recipe's distribution, release, architecture
 * and mirror: rocky and alma BaseOS + AppStream, fedora releases + updates,
 * rpm the one repository at the mirror; signature checks on, with gpgkey
 * (a URL: the recipe's keyring) or when NULL the distribution's key
 * (rpm has none: RAIN_EINVAL). RAIN_EINVAL for an unknown distribution or
 * architecture. */
int rpm_repo_text(const struct rain_recipe *r, const char *gpgkey, char **out);

/* The first repository's index (repodata/repomd.xml), for the mirror
 * probe; for rpm, MIRROR/repodata/repomd.xml. */
int rpm_probe_url(const struct rain_recipe *r, char **out);

/* The base package set: the release package, a minimal system with dnf
 * and init, and kernel + dracut (+ zstd, e2fsprogs) when r->kernel; for
 * rpm, whose names rain does not know, the recipe's [packages] install
 * (and kernel + dracut when r->kernel). */
int rpm_base_packages(const struct rain_recipe *r, char ***pkgs, size_t *n);

/* Where the distribution's rpm keeps its database (the host's rpm writes
 * it there while bootstrapping): "/var/lib/rpm" or "/usr/lib/sysimage/rpm". */
const char *rpm_dbpath(const struct rain_recipe *r);

/* dracut's configuration in the image (/etc/dracut.conf.d/90-rain.conf):
 * a generic initramfs with the virtual machine drivers, zstd-compressed. */
int rpm_dracut_conf(const struct rain_recipe *r, char **out);

enum rpm_dnf_kind {
	RPM_DNF_BASE,          /* on the host: bootstrap into installroot */
	RPM_DNF_FETCH,         /* in the image: download only, into destdir */
	RPM_DNF_INSTALL,       /* in the image: install from destdir, offline */
};

struct rpm_dnf_call {
	enum rpm_dnf_kind kind;
	const struct rain_recipe *r;
	const char *installroot;   /* BASE: the new tree (absolute host path) */
	const char *config;        /* BASE: dnf.conf of ours; else NULL */
	const char *reposdir;      /* the directory holding rain.repo */
	const char *destdir;       /* where packages go / are found */
	const char *forcearch;     /* BASE: the basearch when foreign, or NULL */
	bool refresh;              /* FETCH: refresh the metadata first */
	char *const *pkgs;         /* package names, after "--" */
	size_t npkgs;
};

/* The dnf command line of one call, as an argv vector (no shell). */
int rpm_dnf_argv(const struct rpm_dnf_call *c, char ***argv, size_t *argc);

/* What dnf's output says went wrong, gathered line by line. */
struct rpm_errors {
	char missing[256];     /* the first package dnf found no match for */
	char fetch[512];       /* the first line about a failed download */
	char badsig[256];      /* the first package refused by its signature */
	bool unsigned_pkg;     /* ... because it has none */
	bool gpg_failed;       /* dnf said a signature check failed */
};

/* Note one line of dnf's output in e. */
void rpm_scan_line(struct rpm_errors *e, const char *line);

/* The error a user can act on for a failed dnf run (ret < 0):
 * RAIN_EFORBIDDEN "package X.rpm from MIRROR is not signed: refused ..."
 * or "... is signed with a key that is not the key of [image] keyring K";
 * RAIN_EINVAL
 * "package 'X' does not exist in DIST RELEASE (MIRROR): check its name",
 * RAIN_ENET "the mirror MIRROR cannot be reached: LINE"; else ret. */
int rpm_error(const struct rain_recipe *r, int ret, const struct rpm_errors *e);

#endif
