/* Installed packages of an image, and versions compared as the package
 * managers compare them: what vetting matches against a vulnerability
 * feed (rain/vet-feed.h).
 *
 * Functions return 0 or a negative RAIN_E* code with a message set.
 */
#ifndef RAIN_PKG_H
#define RAIN_PKG_H

#include <stddef.h>

enum rain_pkg_family { RAIN_PKG_DEB, RAIN_PKG_RPM };

/* One installed binary package. Every string is owned by the list. */
struct rain_pkg {
	char *name;             /* binary package: "libssl3" */
	char *version;          /* installed: "3.0.11-1~deb12u2" (rpm: [E:]V-R) */
	char *arch;             /* "amd64", "all", "x86_64", "noarch" */
	char *source;           /* its source package: "openssl" (the name when none is recorded) */
	char *source_version;   /* the source's version (the version when none is recorded) */
	char *status;           /* dpkg: "install ok installed"; rpm: "installed" */
};

struct rain_pkg_list {
	enum rain_pkg_family family;
	struct rain_pkg *pkgs;  /* sorted by name, then arch */
	size_t n;
};

/* Parse a dpkg status file (text of len bytes; where names it in
 * messages) into out: only packages whose status is installed (or
 * half-configured, unpacked: present on disk; also half-installed and
 * triggers-awaited/-pending; debsecan counts "installed" only). Field
 * names in any case, continuation lines, CRLF; an installed package's
 * Version must be one dpkg accepts. RAIN_EFORMAT with the line number for
 * a malformed stanza (no Package, a line that is no field, a field twice,
 * a NUL byte, a bad Version or Source). */
int rain_pkg_parse_dpkg_status(const char *text, size_t len, const char *where,
			       struct rain_pkg_list *out);
/* Parse an rpm database (the bytes of an rpmdb.sqlite, len of them; where
 * names it in messages) into out: every package but rpm's gpg-pubkey
 * entries, version "[E:]V-R", source package and version from its
 * SOURCERPM (the binary's epoch added), status "installed". The data is
 * read-only and never trusted (SQLite's defensive mode, a bounded amount
 * of work). RAIN_EFORMAT for anything else (the older Berkeley DB and ndb
 * databases included), RAIN_ETOOBIG over 100000 packages. */
int rain_pkg_parse_rpmdb(const void *data, size_t len, const char *where,
			 struct rain_pkg_list *out);
void rain_pkg_list_free(struct rain_pkg_list *l);
/* The entry named name (first arch), or NULL. */
const struct rain_pkg *rain_pkg_find(const struct rain_pkg_list *l, const char *name);

/* Compare versions as dpkg --compare-versions does (epoch, upstream,
 * revision; '~' sorts before everything): <0, 0, >0. */
int rain_pkg_vercmp_deb(const char *a, const char *b);
/* ... as rpm's rpmvercmp() on [E:]V-R (epoch, then version, then release). */
int rain_pkg_vercmp_rpm(const char *a, const char *b);
/* Whether v is a valid version of family (what dpkg or rpm would accept). */
int rain_pkg_version_check(enum rain_pkg_family family, const char *v);

#endif
