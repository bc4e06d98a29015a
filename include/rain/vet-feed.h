/* Vulnerability feeds: which versions of which packages of one release
 * are affected by which vulnerability, and matching a list of installed
 * packages (rain/pkg.h) against that.
 *
 * A feed holds advisories for one release ("bookworm") of one package
 * family (dpkg or rpm versions). It comes from the Debian Security
 * Tracker's JSON (feed-tracker.c), from OSV records (feed-osv.c: one
 * JSON file, a folder of them or osv.dev's zip), or is derived from a
 * Debian mirror's changelogs (feed-mirror.c); it is kept as a normalized
 * file of our own (rain_vet_feed_save) that loads in milliseconds, and
 * can be written in debsecan's format (feed-debsecan.c).
 *
 * The matching is debsecan's: an advisory names a source package (or,
 * flagged binary, a binary package); an installed binary package is
 * looked up by its source package, and by its own name only when the
 * feed has nothing for its source; it is affected when its source
 * version (its own version for a binary advisory) is at or after the
 * advisory's introduced version (when there is one) and before the fixed
 * version, or when there is no fixed version yet.
 *
 * A feed is read-only once loaded or built: any number of threads may
 * match against it. Functions return 0 or a negative RAIN_E* code with a
 * message set.
 */
#ifndef RAIN_VET_FEED_H
#define RAIN_VET_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rain/pkg.h"

/* Urgency as the Security Tracker grades it (OSV severities are mapped
 * onto it: moderate is medium, critical is critical). */
enum rain_vet_urgency {
	RAIN_VET_URGENCY_UNKNOWN,       /* "not yet assigned", none given */
	RAIN_VET_URGENCY_UNIMPORTANT,
	RAIN_VET_URGENCY_LOW,
	RAIN_VET_URGENCY_MEDIUM,
	RAIN_VET_URGENCY_HIGH,
	RAIN_VET_URGENCY_CRITICAL,
};
const char *rain_vet_urgency_name(enum rain_vet_urgency u);
/* The tracker's and OSV's words ("not yet assigned", "low**", "moderate",
 * ...), any case; RAIN_EINVAL for others. */
int rain_vet_urgency_parse(const char *s, enum rain_vet_urgency *out);

enum rain_vet_scope { RAIN_VET_SCOPE_UNKNOWN, RAIN_VET_SCOPE_LOCAL, RAIN_VET_SCOPE_REMOTE };
const char *rain_vet_scope_name(enum rain_vet_scope s);

/* The advisory names a binary package, not a source package. */
#define RAIN_VET_ADV_BINARY 0x1
/* The tracker says no security update is planned ("no-dsa", "ignored",
 * "postponed"): still affected, and said so. */
#define RAIN_VET_ADV_NODSA 0x2

/* One vulnerability of one package. Strings are borrowed from the feed
 * and live as long as it. */
struct rain_vet_advisory {
	const char *package;    /* source package ("openssl"), or binary (flags) */
	const char *id;         /* "CVE-2024-5535", "DSA-5764-1", "DEBIAN-CVE-...", "TEMP-..." */
	const char *aliases;    /* other ids, space-separated; "" when none */
	const char *introduced; /* first affected version; NULL: every version before fixed */
	const char *fixed;      /* first fixed version; NULL: not fixed yet */
	enum rain_vet_urgency urgency;
	enum rain_vet_scope scope;
	unsigned flags;         /* RAIN_VET_ADV_* */
	const char *description; /* one line, may be "" */
};

/* Where a feed came from. */
enum rain_vet_feed_kind {
	RAIN_VET_FEED_TRACKER,  /* Debian Security Tracker JSON */
	RAIN_VET_FEED_OSV,      /* OSV records */
	RAIN_VET_FEED_MIRROR,   /* a mirror's changelogs (rain vet feed build) */
};
const char *rain_vet_feed_kind_name(enum rain_vet_feed_kind k);

struct rain_vet_feed;

/* --- building a feed (what the importers use) ------------------------- */

/* A new empty feed of a release ("bookworm"; also the OSV ecosystem's
 * version as "Debian:12" is accepted and named by its codename when
 * known) and family; origin says where it comes from (a URL or path,
 * kept in the file), date is when its data was made (seconds since the
 * epoch; 0 when unknown). */
int rain_vet_feed_new(struct rain_vet_feed **out, enum rain_vet_feed_kind kind,
		      enum rain_pkg_family family, const char *release, const char *origin,
		      int64_t date);
/* Add a copy of adv (its strings are copied). RAIN_EINVAL naming what is
 * wrong when a field is not what the feed can hold: an empty package or
 * id, a version that is not one of the family, a tab or newline in a
 * field (the description's blanks are folded into spaces instead). */
int rain_vet_feed_add(struct rain_vet_feed *f, const struct rain_vet_advisory *adv);
void rain_vet_feed_set_date(struct rain_vet_feed *f, int64_t date);
void rain_vet_feed_free(struct rain_vet_feed *f);

/* --- reading it ------------------------------------------------------- */

const char *rain_vet_feed_release(const struct rain_vet_feed *f);
const char *rain_vet_feed_origin(const struct rain_vet_feed *f);
enum rain_vet_feed_kind rain_vet_feed_kind(const struct rain_vet_feed *f);
enum rain_pkg_family rain_vet_feed_family(const struct rain_vet_feed *f);
int64_t rain_vet_feed_date(const struct rain_vet_feed *f);
/* The advisories, sorted by package then id then fixed version (sorted
 * on the first call after an add; not thread-safe until then). Borrowed. */
const struct rain_vet_advisory *rain_vet_feed_advisories(struct rain_vet_feed *f, size_t *n);
/* Counts for `rain vet feed show`: advisories, distinct packages,
 * distinct ids, advisories without a fix. */
struct rain_vet_feed_counts {
	size_t advisories, packages, ids, unfixed;
};
void rain_vet_feed_count(struct rain_vet_feed *f, struct rain_vet_feed_counts *out);

/* --- our normalized file ---------------------------------------------- */

/* Write f to path (atomically, mode 0644): a text file, one advisory a
 * line, with the release, origin, kind, family and date in its header. */
int rain_vet_feed_save(struct rain_vet_feed *f, const char *path);
/* Load a file written by rain_vet_feed_save. RAIN_EFORMAT with the line
 * for anything else (another file, a damaged one, a newer format). */
int rain_vet_feed_load(struct rain_vet_feed **out, const char *path);
/* The same from memory (where names it in messages); the text is copied. */
int rain_vet_feed_load_mem(struct rain_vet_feed **out, const char *text, size_t len,
			   const char *where);

/* --- importers ---------------------------------------------------------- */

/* Largest input an importer reads (a file, a download, one zip member
 * uncompressed): the tracker's whole JSON is about 80 MB today. */
#define RAIN_VET_FEED_MAX_INPUT (1ULL << 30)
/* Largest single package object of the tracker JSON or OSV record. */
#define RAIN_VET_FEED_MAX_RECORD (64U << 20)

/* The Security Tracker's JSON ({srcpkg: {id: {description, scope,
 * releases: {release: {status, fixed_version, urgency, nodsa}}}}}) from a
 * file path or a URL (http, https, file), read one package at a time;
 * only release's entries are kept: status resolved with a fixed version
 * (fixed_version "0": never affected, dropped), open or undetermined (not
 * fixed). */
int rain_vet_feed_import_tracker(struct rain_vet_feed **out, const char *path_or_url,
				 const char *release);
/* The same from memory (for the fuzzer and tests). */
int rain_vet_feed_import_tracker_mem(struct rain_vet_feed **out, const char *data, size_t len,
				     const char *where, const char *release);

/* OSV records (https://ossf.github.io/osv-schema/) from a path or URL: one
 * record (a JSON object), a JSON array of records, a folder of *.json
 * files, or a zip of them (osv.dev's ECOSYSTEM/all.zip). Only affected[]
 * entries whose package ecosystem is release's ("bookworm" and "Debian:12"
 * both mean ecosystem "Debian:12"; another ecosystem string is used as it
 * is) are kept: each ECOSYSTEM range's introduced/fixed pair is an
 * advisory (a range that is never fixed: fixed NULL); records withdrawn
 * are skipped. The id is the record's, aliases its aliases and related
 * ids; urgency from ecosystem_specific or database_specific "urgency",
 * else a severity word. */
int rain_vet_feed_import_osv(struct rain_vet_feed **out, const char *path_or_url,
			     const char *release);
/* One record or array of records from memory into f (the fuzzer's and
 * the importer's way in); the ecosystem is f's release. */
int rain_vet_feed_add_osv_mem(struct rain_vet_feed *f, const char *data, size_t len,
			      const char *where);

/* --- derived from a mirror (rain vet feed build) ----------------------- */

struct rain_vet_mirror_options {
	const char *mirror;             /* "http://deb.debian.org/debian-security", file:// */
	const char *suite;              /* "bookworm-security" */
	const char *component;          /* NULL: "main" */
	const char *const *sources;     /* source packages to read, NULL-terminated; NULL: all */
	const char *release;            /* NULL: the suite up to its first '-' */
	/* OpenPGP keyring: InRelease is read and its signature checked by
	 * gpgv against it (debian-archive-keyring.gpg); NULL: the unsigned
	 * Release, trusted as it comes */
	const char *keyring;
	volatile int *cancel;           /* may be NULL */
	/* called after each source package (done of total) */
	void (*progress)(void *ud, size_t done, size_t total, const char *package);
	void *progress_ud;
	/* A source package whose files the mirror does not have (its index
	 * names them, the pool answers 404: seen on the real security
	 * archive) is skipped, and this is called with why (may be NULL:
	 * the build fails instead). */
	void (*skipped)(void *ud, const char *package, const char *why);
};
/* Read the suite's Release (or InRelease, checked against o->keyring),
 * its Sources index (Sources.xz, else Sources.gz), then for
 * each source package its debian.tar.* (or .diff.gz), checked against
 * the index's SHA256 and size, and in it debian/changelog: each
 * CVE-YYYY-NNNN an entry names is fixed by that entry's version (the
 * oldest entry naming it), with the entry's urgency. The feed's date is
 * the suite's Release Date. A source named in options but absent from
 * the index is RAIN_ENOTFOUND. */
int rain_vet_feed_build_mirror(struct rain_vet_feed **out,
			       const struct rain_vet_mirror_options *o);
/* The CVEs of one debian/changelog (its text), as the mirror build reads
 * them, added to f for package (the fuzzer's and the test's way in).
 * RAIN_EFORMAT with the line when an entry's header is malformed. */
int rain_vet_feed_add_changelog(struct rain_vet_feed *f, const char *package,
				const char *text, size_t len, const char *where);

/* --- debsecan's format ------------------------------------------------- */

/* Write f as debsecan reads it from --source URL --suite RELEASE: the
 * file RELEASE in dir (made when missing), zlib-compressed "VERSION 1" data (names and
 * descriptions, then package,index,flags,fixed-version lines). */
int rain_vet_feed_export_debsecan(struct rain_vet_feed *f, const char *dir);

/* --- matching ---------------------------------------------------------- */

/* One installed package affected by one advisory. Borrowed: pkg from the
 * list, adv from the feed. */
struct rain_vet_finding {
	const struct rain_pkg *pkg;
	const struct rain_vet_advisory *adv;
};

/* The findings of pkgs against f (a new array, free() it), in the
 * package list's order, then by advisory. RAIN_EINVAL when the families
 * differ (a dpkg list against an rpm feed). */
int rain_vet_feed_match(struct rain_vet_feed *f, const struct rain_pkg_list *pkgs,
			struct rain_vet_finding **out, size_t *n);

#endif
