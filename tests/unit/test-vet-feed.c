/* Vulnerability feeds (rain/vet-feed.h): the Security Tracker JSON and
 * OSV importers on samples written in their real formats, changelogs as
 * the mirror build reads them, our file's round trip, the debsecan
 * export, matching, and hostile input of each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>
#include <cmocka.h>
#include "rain/error.h"
#include "rain/pkg.h"
#include "rain/vet-feed.h"
#include "util/fsutil.h"

static char tmpdir[64];

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-vet-feed-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	fs_remove_tree(tmpdir);
	return 0;
}

static char *tmp_path(const char *name)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s", tmpdir, name) > 0);
	return p;
}

static void write_file(const char *name, const char *text)
{
	char *p = tmp_path(name);

	assert_int_equal(fs_write_atomic(p, text, strlen(text), 0644), 0);
	free(p);
}

/* The tracker's format: https://security-tracker.debian.org/tracker/data/json */
static const char tracker_json[] =
	"{\"openssl\": {\n"
	"  \"CVE-2023-5678\": {\"description\": \"Issue summary: Generating excessively long X9.42 DH keys\\n"
	"or checking them may be very slow.\", \"scope\": \"local\", \"debianbug\": 1055473,\n"
	"    \"releases\": {\n"
	"      \"bookworm\": {\"status\": \"resolved\", \"repositories\": {\"bookworm\": \"3.0.15-1~deb12u1\"},\n"
	"                   \"fixed_version\": \"3.0.13-1~deb12u1\", \"urgency\": \"not yet assigned\",\n"
	"                   \"nodsa\": \"Minor issue\", \"nodsa_reason\": \"\"},\n"
	"      \"sid\": {\"status\": \"resolved\", \"repositories\": {\"sid\": \"3.3.2-2\"},\n"
	"              \"fixed_version\": \"3.0.13-1\", \"urgency\": \"not yet assigned\"}}},\n"
	"  \"CVE-2024-2511\": {\"description\": \"Unbounded memory growth with session handling in TLSv1.3\",\n"
	"    \"scope\": \"remote\", \"releases\": {\"bookworm\": {\"status\": \"open\",\n"
	"      \"repositories\": {\"bookworm\": \"3.0.11-1~deb12u2\"}, \"urgency\": \"low**\"}}},\n"
	"  \"CVE-2010-0001\": {\"releases\": {\"bookworm\": {\"status\": \"resolved\", \"fixed_version\": \"0\",\n"
	"      \"urgency\": \"unimportant\"}}},\n"
	"  \"TEMP-0000000-1A2B3C\": {\"description\": \"only in bullseye\", \"releases\": {\n"
	"      \"bullseye\": {\"status\": \"open\", \"urgency\": \"low\"}}}\n"
	" },\n"
	" \"glibc\": {\"CVE-2023-4911\": {\"description\": \"Looney Tunables \\u00e9\", \"scope\": \"local\",\n"
	"   \"releases\": {\"bookworm\": {\"status\": \"resolved\", \"fixed_version\": \"2.36-9+deb12u3\",\n"
	"     \"urgency\": \"high\"}}}},\n"
	" \"zlib\": {\"CVE-2023-45853\": {\"description\": \"MiniZip integer overflow\", \"scope\": \"remote\",\n"
	"   \"releases\": {\"bookworm\": {\"status\": \"resolved\", \"fixed_version\": \"1:1.2.13.dfsg-1+deb12u1\",\n"
	"     \"urgency\": \"medium\"}}}},\n"
	" \"empty\": {}\n"
	"}\n";

static const char status_sample[] =
	"Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\n"
	"Version: 3.0.11-1~deb12u2\n\n"
	"Package: openssl\nStatus: install ok installed\nArchitecture: amd64\n"
	"Version: 3.0.15-1~deb12u1\n\n"
	"Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\n"
	"Version: 2.36-9+deb12u4\n\n"
	"Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\n"
	"Source: zlib (1:1.2.13.dfsg-1)\nVersion: 1:1.2.13.dfsg-1+b1\n\n";

static const struct rain_vet_advisory *find_adv(struct rain_vet_feed *f, const char *pkg,
						 const char *id)
{
	size_t n;
	const struct rain_vet_advisory *a = rain_vet_feed_advisories(f, &n);

	for (size_t i = 0; i < n; i++)
		if (!strcmp(a[i].package, pkg) && !strcmp(a[i].id, id))
			return &a[i];
	return NULL;
}

static void check_tracker_feed(struct rain_vet_feed *f)
{
	const struct rain_vet_advisory *a;
	struct rain_vet_feed_counts c;

	assert_string_equal(rain_vet_feed_release(f), "bookworm");
	assert_int_equal(rain_vet_feed_kind(f), RAIN_VET_FEED_TRACKER);
	rain_vet_feed_count(f, &c);
	/* CVE-2010-0001 never affected bookworm; the TEMP one is bullseye's */
	assert_int_equal(c.advisories, 4);
	assert_int_equal(c.packages, 3);
	assert_int_equal(c.ids, 4);
	assert_int_equal(c.unfixed, 1);
	a = find_adv(f, "openssl", "CVE-2023-5678");
	assert_non_null(a);
	assert_string_equal(a->fixed, "3.0.13-1~deb12u1");
	assert_null(a->introduced);
	assert_int_equal(a->urgency, RAIN_VET_URGENCY_UNKNOWN);
	assert_int_equal(a->scope, RAIN_VET_SCOPE_LOCAL);
	assert_int_equal(a->flags, RAIN_VET_ADV_NODSA);
	/* one line */
	assert_string_equal(a->description,
			    "Issue summary: Generating excessively long X9.42 DH keys or checking them may be very slow.");
	a = find_adv(f, "openssl", "CVE-2024-2511");
	assert_non_null(a);
	assert_null(a->fixed);
	assert_int_equal(a->urgency, RAIN_VET_URGENCY_LOW);
	assert_int_equal(a->scope, RAIN_VET_SCOPE_REMOTE);
	assert_null(find_adv(f, "openssl", "CVE-2010-0001"));
	a = find_adv(f, "glibc", "CVE-2023-4911");
	assert_non_null(a);
	assert_int_equal(a->urgency, RAIN_VET_URGENCY_HIGH);
	assert_string_equal(a->description, "Looney Tunables \xc3\xa9");
}

static void test_tracker(void **state)
{
	struct rain_vet_feed *f, *g;
	struct rain_pkg_list l;
	struct rain_vet_finding *v;
	size_t n;
	char *path = tmp_path("tracker.json"), *url, *saved = tmp_path("bookworm.feed");

	write_file("tracker.json", tracker_json);
	assert_int_equal(rain_vet_feed_import_tracker(&f, path, "bookworm"), 0);
	check_tracker_feed(f);
	assert_true(rain_vet_feed_date(f) > 0);     /* the file's mtime */

	/* the same through a file:// URL and from memory */
	assert_true(asprintf(&url, "file://%s", path) > 0);
	assert_int_equal(rain_vet_feed_import_tracker(&g, url, "Debian:12"), 0);
	check_tracker_feed(g);
	rain_vet_feed_free(g);
	assert_int_equal(rain_vet_feed_import_tracker_mem(&g, tracker_json, strlen(tracker_json),
							  "mem", "bookworm"), 0);
	check_tracker_feed(g);
	rain_vet_feed_free(g);

	/* our file: saved, loaded, the same */
	assert_int_equal(rain_vet_feed_save(f, saved), 0);
	assert_int_equal(rain_vet_feed_load(&g, saved), 0);
	check_tracker_feed(g);
	assert_int_equal(rain_vet_feed_date(g), rain_vet_feed_date(f));
	assert_string_equal(rain_vet_feed_origin(g), path);

	/* matching: libssl3 is behind on both openssl CVEs, the openssl
	 * binary is fixed for one and open for the other, libc6 is fixed,
	 * zlib1g's source version (from its Source field) is behind */
	assert_int_equal(rain_pkg_parse_dpkg_status(status_sample, strlen(status_sample), "st", &l), 0);
	assert_int_equal(rain_vet_feed_match(g, &l, &v, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(v[0].pkg->name, "libssl3");
	assert_string_equal(v[0].adv->id, "CVE-2023-5678");
	assert_string_equal(v[1].pkg->name, "libssl3");
	assert_string_equal(v[1].adv->id, "CVE-2024-2511");
	assert_string_equal(v[2].pkg->name, "openssl");
	assert_string_equal(v[2].adv->id, "CVE-2024-2511");
	assert_string_equal(v[3].pkg->name, "zlib1g");
	assert_string_equal(v[3].adv->fixed, "1:1.2.13.dfsg-1+deb12u1");
	free(v);

	/* a binary advisory names the binary and compares its own version;
	 * a source advisory under a binary's name never matches it */
	{
		struct rain_vet_advisory b = { .package = "libc6", .id = "CVE-2099-0001",
					       .fixed = "2.36-9+deb12u5", .flags = RAIN_VET_ADV_BINARY };
		struct rain_vet_advisory s = { .package = "zlib1g", .id = "CVE-2099-0002",
					       .fixed = "9" };

		assert_int_equal(rain_vet_feed_add(g, &b), 0);
		assert_int_equal(rain_vet_feed_add(g, &s), 0);
		assert_int_equal(rain_vet_feed_match(g, &l, &v, &n), 0);
		/* libc6's source glibc has advisories: the binary one is not
		 * looked up (debsecan's rule) */
		assert_int_equal(n, 4);
		free(v);
	}
	rain_pkg_list_free(&l);

	/* an rpm list against a Debian feed */
	l.family = RAIN_PKG_RPM;
	l.n = 0;
	l.pkgs = NULL;
	assert_int_equal(rain_vet_feed_match(g, &l, &v, &n), RAIN_EINVAL);
	rain_vet_feed_free(f);
	rain_vet_feed_free(g);
	free(path);
	free(url);
	free(saved);
}

static void tracker_bad(const char *text, int code, const char *want)
{
	struct rain_vet_feed *f = (void *)1;

	assert_int_equal(rain_vet_feed_import_tracker_mem(&f, text, strlen(text), "t.json", "bookworm"),
			 code);
	assert_null(f);
	if (!strstr(rain_error_last(), want))
		fail_msg("message '%s' lacks '%s'", rain_error_last(), want);
}

static void test_tracker_hostile(void **state)
{
	char *deep, *p;
	struct rain_vet_feed *f;

	tracker_bad("", RAIN_EFORMAT, "t.json: ends at line 1 in the middle of the JSON");
	tracker_bad("[1,2]", RAIN_EFORMAT, "t.json:1: '[' where the object that holds the packages");
	tracker_bad("{}", RAIN_EFORMAT, "t.json: has no package");
	tracker_bad("{\"a\": {\"CVE-1\": {}}", RAIN_EFORMAT, "cut short?");
	tracker_bad("{\"a\": 1}", RAIN_EFORMAT, "'1' where a package's object was expected");
	tracker_bad("{\"a\" {}}", RAIN_EFORMAT, "'{' where ':' was expected");
	tracker_bad("{\"a\": {}} x", RAIN_EFORMAT, "'x' where the end of the file");
	tracker_bad("{\"a\": {\"CVE-1\": [}}", RAIN_EFORMAT, "package a: ");
	tracker_bad("{\"a\": {\"CVE-1\": 3}}", RAIN_EFORMAT, "package a, CVE-1: not an object");
	tracker_bad("{\"a\": {\"CVE-1\": {\"releases\": []}}}", RAIN_EFORMAT, "releases is not an object");
	tracker_bad("{\"a\": {\"CVE-1\": {\"releases\": {\"bookworm\": {}}}}}", RAIN_EFORMAT,
		    "releases.bookworm has no status");
	tracker_bad("{\"a\": {\"CVE-1\": {\"releases\": {\"bookworm\": {\"status\": \"resolved\"}}}}}",
		    RAIN_EFORMAT, "resolved in bookworm without a fixed_version");
	tracker_bad("{\"a\": {\"CVE-1\": {\"releases\": {\"bookworm\": {\"status\": \"gone\"}}}}}",
		    RAIN_EFORMAT, "status 'gone' is not resolved, open or undetermined");
	tracker_bad("{\"a\": {\"CVE-1\": {\"releases\": {\"bookworm\": {\"status\": \"resolved\", "
		    "\"fixed_version\": \"1.0-\"}}}}}", RAIN_EFORMAT,
		    "a CVE-1: fixed version '1.0-' is not a Debian version");
	tracker_bad("{\"a b\": {\"CVE-1\": {\"releases\": {\"bookworm\": {\"status\": \"open\"}}}}}",
		    RAIN_EFORMAT, "package name 'a b' is empty or has blanks");
	tracker_bad("{\"a\": {\"\": {\"releases\": {\"bookworm\": {\"status\": \"open\"}}}}}",
		    RAIN_EFORMAT, "advisory id '' is empty");
	tracker_bad("{\"a\\u0000\": {}}", RAIN_EFORMAT, "a package name is not a JSON string");

	/* nesting that would take jansson's stack */
	deep = malloc(200000);
	p = deep + sprintf(deep, "{\"a\": ");
	for (int i = 0; i < 50000; i++)
		*p++ = '{';
	*p = '\0';
	tracker_bad(deep, RAIN_EFORMAT, "nested over 64 deep");
	free(deep);

	/* an unknown urgency is unknown, not an error */
	{
		const char weird[] = "{\"a\": {\"CVE-1\": {\"releases\": {\"bookworm\": "
				     "{\"status\": \"open\", \"urgency\": \"weird\"}}}}}";

		assert_int_equal(rain_vet_feed_import_tracker_mem(&f, weird, strlen(weird), "t", "bookworm"), 0);
	}
	rain_vet_feed_free(f);

	assert_int_equal(rain_vet_feed_import_tracker(&f, "/nonexistent/x.json", "bookworm"), RAIN_ENOTFOUND);
	assert_int_equal(rain_vet_feed_import_tracker(&f, tmpdir, "bookworm"), RAIN_EINVAL);
	assert_non_null(strstr(rain_error_last(), "is not a regular file"));
	assert_int_equal(rain_vet_feed_import_tracker(&f, "x.json", "book worm"), RAIN_EINVAL);
}

/* osv.dev's Debian records: a DSA with related CVEs, and a DEBIAN-CVE. */
static const char osv_dsa[] =
	"{\"id\": \"DSA-5764-1\", \"summary\": \"openssl - security update\",\n"
	" \"modified\": \"2024-09-09T10:00:00Z\", \"published\": \"2024-09-03T00:00:00Z\",\n"
	" \"related\": [\"CVE-2024-5535\", \"CVE-2024-6119\"],\n"
	" \"affected\": [{\"package\": {\"ecosystem\": \"Debian:12\", \"name\": \"openssl\",\n"
	"   \"purl\": \"pkg:deb/debian/openssl?arch=source\"},\n"
	"   \"ranges\": [{\"type\": \"ECOSYSTEM\", \"events\": [{\"introduced\": \"0\"}, {\"fixed\": \"3.0.14-1~deb12u2\"}]}],\n"
	"   \"versions\": [\"3.0.11-1~deb12u2\"]},\n"
	"  {\"package\": {\"ecosystem\": \"Debian:11\", \"name\": \"openssl\"},\n"
	"   \"ranges\": [{\"type\": \"ECOSYSTEM\", \"events\": [{\"introduced\": \"0\"}, {\"fixed\": \"1.1.1w-0+deb11u2\"}]}]}]}\n";
static const char osv_array[] =
	"[{\"id\": \"DEBIAN-CVE-2024-0001\", \"upstream\": [\"CVE-2024-0001\"], \"details\": \"A flaw\",\n"
	"  \"modified\": \"2025-01-02T03:04:05Z\",\n"
	"  \"affected\": [{\"package\": {\"ecosystem\": \"Debian:12\", \"name\": \"curl\"},\n"
	"    \"ecosystem_specific\": {\"urgency\": \"high\"},\n"
	"    \"ranges\": [{\"type\": \"ECOSYSTEM\", \"events\": [{\"introduced\": \"7.80.0-1\"}, {\"fixed\": \"7.88.1-10+deb12u5\"},\n"
	"                                               {\"introduced\": \"8.0.0-1\"}]},\n"
	"               {\"type\": \"GIT\", \"events\": [{\"introduced\": \"abc\"}]}]}]},\n"
	" {\"id\": \"DEBIAN-CVE-2024-0002\", \"withdrawn\": \"2024-05-01T00:00:00Z\",\n"
	"  \"affected\": [{\"package\": {\"ecosystem\": \"Debian:12\", \"name\": \"curl\"},\n"
	"    \"ranges\": [{\"type\": \"ECOSYSTEM\", \"events\": [{\"introduced\": \"0\"}]}]}]},\n"
	" {\"id\": \"GHSA-xxxx\", \"database_specific\": {\"severity\": \"MODERATE\"},\n"
	"  \"affected\": [{\"package\": {\"ecosystem\": \"Debian\", \"name\": \"vim\"},\n"
	"    \"ranges\": [{\"type\": \"ECOSYSTEM\", \"events\": [{\"introduced\": \"0\"}]}]}]}]\n";

static void check_osv(struct rain_vet_feed *f)
{
	const struct rain_vet_advisory *a;
	size_t n;

	rain_vet_feed_advisories(f, &n);
	assert_int_equal(n, 4);
	a = find_adv(f, "openssl", "DSA-5764-1");
	assert_non_null(a);
	assert_null(a->introduced);
	assert_string_equal(a->fixed, "3.0.14-1~deb12u2");
	assert_string_equal(a->aliases, "CVE-2024-5535 CVE-2024-6119");
	assert_string_equal(a->description, "openssl - security update");
	a = find_adv(f, "vim", "GHSA-xxxx");
	assert_non_null(a);
	assert_null(a->fixed);
	assert_int_equal(a->urgency, RAIN_VET_URGENCY_MEDIUM);
	/* curl: two ranges, the second never fixed */
	a = find_adv(f, "curl", "DEBIAN-CVE-2024-0001");
	assert_non_null(a);
	assert_string_equal(a->aliases, "CVE-2024-0001");
	assert_int_equal(a->urgency, RAIN_VET_URGENCY_HIGH);
	assert_int_equal(rain_vet_feed_date(f), 1735787045);
}

static void add_zip_member(struct archive *z, const char *name, const char *text)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)strlen(text));
	assert_int_equal(archive_write_header(z, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(z, text, strlen(text)), (la_ssize_t)strlen(text));
	archive_entry_free(e);
}

static void test_osv(void **state)
{
	struct rain_vet_feed *f;
	struct rain_pkg_list l;
	struct rain_vet_finding *v;
	size_t n;
	char *dir = tmp_path("osv"), *zip = tmp_path("all.zip"), *one = tmp_path("osv/DSA-5764-1.json");
	struct archive *z;
	const char status[] =
		"Package: curl\nStatus: install ok installed\nVersion: 7.88.1-10+deb12u4\n\n"
		"Package: libcurl4\nStatus: install ok installed\nSource: curl\nVersion: 8.1.0-1\n\n"
		"Package: curl-old\nStatus: install ok installed\nSource: curl\nVersion: 7.70.0-1\n\n"
		"Package: vim\nStatus: install ok installed\nVersion: 2:9.0.1378-2\n\n";

	assert_int_equal(mkdir(dir, 0700), 0);
	write_file("osv/DSA-5764-1.json", osv_dsa);
	write_file("osv/more.json", osv_array);
	write_file("osv/README.md", "not a record");
	{
		char *link = tmp_path("osv/link.json");

		assert_int_equal(symlink("/etc/hostname", link), 0);
		free(link);
	}
	assert_int_equal(rain_vet_feed_import_osv(&f, dir, "bookworm"), 0);
	check_osv(f);
	rain_vet_feed_free(f);

	z = archive_write_new();
	archive_write_set_format_zip(z);
	assert_int_equal(archive_write_open_filename(z, zip), ARCHIVE_OK);
	add_zip_member(z, "DSA-5764-1.json", osv_dsa);
	add_zip_member(z, "more.json", osv_array);
	add_zip_member(z, "notes.txt", "{");
	archive_write_free(z);
	assert_int_equal(rain_vet_feed_import_osv(&f, zip, "Debian:12"), 0);
	check_osv(f);
	rain_vet_feed_free(f);
	/* the same zip downloaded (file://) */
	{
		char *url;

		assert_true(asprintf(&url, "file://%s", zip) > 0);
		assert_int_equal(rain_vet_feed_import_osv(&f, url, "bookworm"), 0);
		free(url);
	}
	check_osv(f);

	assert_int_equal(rain_pkg_parse_dpkg_status(status, strlen(status), "st", &l), 0);
	assert_int_equal(rain_vet_feed_match(f, &l, &v, &n), 0);
	/* curl 7.88.1-10+deb12u4: in the first range; libcurl4 8.1.0-1: the
	 * second, open range; curl-old 7.70: before the introduced version;
	 * vim: "Debian" without a release applies */
	assert_int_equal(n, 3);
	assert_string_equal(v[0].pkg->name, "curl");
	assert_string_equal(v[1].pkg->name, "libcurl4");
	assert_null(v[1].adv->fixed);
	assert_string_equal(v[2].pkg->name, "vim");
	free(v);
	rain_pkg_list_free(&l);
	rain_vet_feed_free(f);

	assert_int_equal(rain_vet_feed_import_osv(&f, one, "bookworm"), 0);
	rain_vet_feed_free(f);
	/* nothing for another release */
	assert_int_equal(rain_vet_feed_import_osv(&f, one, "trixie"), 0);
	rain_vet_feed_advisories(f, &n);
	assert_int_equal(n, 0);
	rain_vet_feed_free(f);
	free(dir);
	free(zip);
	free(one);
}

static void osv_bad(const char *text, const char *want)
{
	struct rain_vet_feed *f;

	assert_int_equal(rain_vet_feed_new(&f, RAIN_VET_FEED_OSV, RAIN_PKG_DEB, "bookworm", "t", 0), 0);
	assert_int_equal(rain_vet_feed_add_osv_mem(f, text, strlen(text), "o.json"), RAIN_EFORMAT);
	if (!strstr(rain_error_last(), want))
		fail_msg("message '%s' lacks '%s'", rain_error_last(), want);
	rain_vet_feed_free(f);
}

static void test_osv_hostile(void **state)
{
	struct rain_vet_feed *f;
	char *p = tmp_path("empty.json"), *bomb = tmp_path("bomb.zip");
	struct archive *z;
	char *big;

	osv_bad("{", "o.json:1:1: not JSON");
	osv_bad("[1]", "an OSV record is not a JSON object");
	osv_bad("{\"affected\": []}", "an OSV record has no id");
	osv_bad("{\"id\": \"X\", \"affected\": {}}", "X: affected is not an array");
	osv_bad("{\"id\": \"X\", \"affected\": [{\"package\": {}}]}", "affected[0] has no package ecosystem");
	osv_bad("{\"id\": \"X\", \"affected\": [{\"package\": {\"ecosystem\": \"Debian:12\", \"name\": \"a\"},"
		"\"ranges\": [{\"type\": \"ECOSYSTEM\"}]}]}", "an ECOSYSTEM range without events");
	osv_bad("{\"id\": \"X\", \"affected\": [{\"package\": {\"ecosystem\": \"Debian:12\", \"name\": \"a\"},"
		"\"ranges\": [{\"type\": \"ECOSYSTEM\", \"events\": [{\"introduced\": \"0\"}, {\"fixed\": \"x:1\"}]}]}]}",
		"fixed version 'x:1' is not a Debian version");
	write_file("empty.json", "[]");
	assert_int_equal(rain_vet_feed_import_osv(&f, p, "bookworm"), RAIN_EFORMAT);
	assert_non_null(strstr(rain_error_last(), "has no OSV record"));
	assert_int_equal(rain_vet_feed_import_osv(&f, p, "PyPI"), RAIN_EINVAL);
	assert_non_null(strstr(rain_error_last(), "ecosystem 'PyPI'"));

	/* a zip member that inflates past the limit: refused, not read whole */
	big = malloc((65U << 20) + 1);
	assert_non_null(big);
	memset(big, ' ', 65U << 20);
	big[65U << 20] = '\0';
	z = archive_write_new();
	archive_write_set_format_zip(z);
	archive_write_set_format_option(z, "zip", "compression", "deflate");
	assert_int_equal(archive_write_open_filename(z, bomb), ARCHIVE_OK);
	add_zip_member(z, "ok.json", osv_dsa);
	add_zip_member(z, "big.json", big);
	archive_write_free(z);
	free(big);
	assert_int_equal(rain_vet_feed_import_osv(&f, bomb, "bookworm"), RAIN_ETOOBIG);
	assert_non_null(strstr(rain_error_last(), "member big.json is 68157440 bytes: refused"));
	free(bomb);
	free(p);
}

static const char changelog[] =
	"openssl (3.0.15-1~deb12u1) bookworm-security; urgency=medium\n"
	"\n"
	"  * New upstream release\n"
	"    - CVE-2024-5535 (Closes: #1074487)\n"
	"    - Fix CVE-2024-9143, CVE-2024-6119.\n"
	"\n"
	" -- Sebastian Andrzej Siewior <sebastian@breakpoint.cc>  Sun, 03 Nov 2024 00:00:00 +0100\n"
	"\n"
	"openssl (3.0.14-1~deb12u2) bookworm; urgency=low\n"
	"\n"
	"  * CVE-2024-5535 mentioned earlier.\n"
	"  * Not ones: XCVE-2023-1111, CVE-2023-123456789, CVE-23-1234, CVE-2023-12a\n"
	"\n"
	" -- X <x@example.org>  Mon, 01 Jul 2024 00:00:00 +0200\n"
	"\n"
	"openssl (3.0.11-1~deb12u1) bookworm-security; urgency=high, binary-only=yes\n"
	"\n"
	"  * Fix CVE-2023-4807 and CVE-2023-3817.\n"
	"\n"
	" -- X <x@example.org>  Mon, 01 Jan 2024 00:00:00 +0200\n"
	"\n"
	"Old Changelog:\n"
	"  CVE-1999-0001\n"
	"\n"
	"Local variables:\n";

static void test_changelog(void **state)
{
	struct rain_vet_feed *f;
	const struct rain_vet_advisory *a;
	size_t n;

	assert_int_equal(rain_vet_feed_new(&f, RAIN_VET_FEED_MIRROR, RAIN_PKG_DEB, "bookworm", "m", 0), 0);
	assert_int_equal(rain_vet_feed_add_changelog(f, "openssl", changelog, strlen(changelog), "cl"), 0);
	rain_vet_feed_advisories(f, &n);
	assert_int_equal(n, 5);
	a = find_adv(f, "openssl", "CVE-2024-5535");
	/* the oldest entry naming it */
	assert_string_equal(a->fixed, "3.0.14-1~deb12u2");
	assert_int_equal(a->urgency, RAIN_VET_URGENCY_LOW);
	a = find_adv(f, "openssl", "CVE-2024-9143");
	assert_string_equal(a->fixed, "3.0.15-1~deb12u1");
	assert_int_equal(a->urgency, RAIN_VET_URGENCY_MEDIUM);
	/* the line that names it */
	assert_string_equal(a->description, "Fix CVE-2024-9143, CVE-2024-6119.");
	a = find_adv(f, "openssl", "CVE-2023-4807");
	assert_string_equal(a->fixed, "3.0.11-1~deb12u1");
	assert_int_equal(a->urgency, RAIN_VET_URGENCY_HIGH);
	assert_non_null(find_adv(f, "openssl", "CVE-2023-3817"));
	assert_non_null(find_adv(f, "openssl", "CVE-2024-6119"));
	assert_null(find_adv(f, "openssl", "CVE-1999-0001"));

	assert_int_equal(rain_vet_feed_add_changelog(f, "x", "x (1.0-) unstable; urgency=low\n", 31, "cl"),
			 RAIN_EFORMAT);
	assert_non_null(strstr(rain_error_last(), "cl:1: changelog entry: '1.0-' is not a Debian version: revision number is empty"));
	assert_int_equal(rain_vet_feed_add_changelog(f, "x", "hello\n", 6, "cl"), RAIN_EFORMAT);
	assert_non_null(strstr(rain_error_last(), "cl:1: not a Debian changelog"));
	assert_int_equal(rain_vet_feed_add_changelog(f, "x", "x (1.0 unstable; urgency=low\n", 29, "cl"),
			 RAIN_EFORMAT);
	assert_non_null(strstr(rain_error_last(), "cl:1: a changelog entry's version has no ')'"));
	assert_int_equal(rain_vet_feed_add_changelog(f, "x", "", 0, "cl"), RAIN_EFORMAT);
	rain_vet_feed_free(f);
}

static void load_bad(const char *text, const char *want)
{
	struct rain_vet_feed *f = (void *)1;

	assert_int_equal(rain_vet_feed_load_mem(&f, text, strlen(text), "f"), RAIN_EFORMAT);
	assert_null(f);
	if (!strstr(rain_error_last(), want))
		fail_msg("message '%s' lacks '%s'", rain_error_last(), want);
}

#define HDR "rain-vet-feed 1\nrelease\tbookworm\nfamily\tdeb\nkind\tmirror\ndate\t2026-01-01T00:00:00Z\n"

static void test_file_hostile(void **state)
{
	struct rain_vet_feed *f;

	load_bad("", "f:1: not a rain feed");
	load_bad("{\"openssl\": {}}", "not a rain feed (it starts '{\"openssl\": {}}'");
	load_bad("rain-vet-feed 2\n", "not a rain feed");
	load_bad(HDR, "the header lacks release, family, kind or date, or has no end");
	load_bad("rain-vet-feed 1\nrelease\tbookworm\n\n", "the header lacks");
	load_bad(HDR "count\t1\n\n", "0 advisories where the header says 1: the file is cut short");
	load_bad(HDR "count\t99999999999999999999\n\n", "bad count");
	load_bad(HDR "count\t1\n\na\tCVE-1\t\t\t1.0-\tlow\tlocal\t-\td\n", "f:8: bad package, id or version");
	load_bad(HDR "count\t1\n\na\tCVE-1\t\t\t1.0\tbad\tlocal\t-\td\n", "urgency 'bad' or scope 'local' unknown");
	load_bad(HDR "count\t1\n\na\tCVE-1\t\t\t1.0\tlow\tlocal\tz\td\n", "unknown flag 'z'");
	load_bad(HDR "count\t1\n\na\tCVE-1\t1.0\n", "f:8: 3 fields, not 9");
	load_bad(HDR "count\t1\n\na\tCVE-1\t\t\t1.0\tlow\tlocal\t-\td\textra\n", "10 fields, not 9");
	load_bad("rain-vet-feed 1\nrelease\tbookworm\nfamily\tdpkg\nkind\tmirror\ndate\tx\n\n", "bad family 'dpkg'");
	load_bad("rain-vet-feed 1\nbroken\n", "f:2: a header line is 'key<TAB>value'");
	{
		const char nul[] = "rain-vet-feed 1\n\0";

		assert_int_equal(rain_vet_feed_load_mem(&f, nul, sizeof(nul) - 1, "f"), RAIN_EFORMAT);
		assert_non_null(strstr(rain_error_last(), "has a NUL byte"));
	}
	/* out of order is sorted, not refused; unknown header keys ignored */
	{
		const char text[] = HDR "future\tx\ncount\t2\n\n"
				    "b\tCVE-1\t\t\t1.0\tlow\tlocal\t-\td\na\tCVE-2\t\t\t\tunknown\tunknown\tbn\t\n";
		const struct rain_vet_advisory *a;
		size_t n;

		assert_int_equal(rain_vet_feed_load_mem(&f, text, strlen(text), "f"), 0);
		a = rain_vet_feed_advisories(f, &n);
		assert_int_equal(n, 2);
		assert_string_equal(a[0].package, "a");
		assert_null(a[0].fixed);
		assert_int_equal(a[0].flags, RAIN_VET_ADV_BINARY | RAIN_VET_ADV_NODSA);
	}
	rain_vet_feed_free(f);
	assert_int_equal(rain_vet_feed_load(&f, "/nonexistent"), RAIN_ENOTFOUND);
}

static void test_debsecan_export(void **state)
{
	struct rain_vet_feed *f;
	char *path = tmp_path("bookworm");
	unsigned char *z;
	char *text;
	size_t zlen;
	uLongf len = 1 << 20;

	assert_int_equal(rain_vet_feed_import_tracker_mem(&f, tracker_json, strlen(tracker_json), "t",
							  "bookworm"), 0);
	/* the folder is made when missing */
	free(path);
	path = tmp_path("debsecan/bookworm");
	{
		char *dir = tmp_path("debsecan");

		assert_int_equal(rain_vet_feed_export_debsecan(f, dir), 0);
		free(dir);
	}
	assert_int_equal(fs_read_small(path, 1 << 20, (char **)&z, &zlen), 0);
	text = calloc(1, len + 1);
	assert_int_equal(uncompress((unsigned char *)text, &len, z, zlen), Z_OK);
	assert_string_equal(text,
		"VERSION 1\n"
		"CVE-2023-45853,,MiniZip integer overflow\n"
		"CVE-2023-4911,,Looney Tunables \xc3\xa9\n"
		"CVE-2023-5678,,Issue summary: Generating excessively long X9.42 DH keys or checking them may be very slow.\n"
		"CVE-2024-2511,,Unbounded memory growth with session handling in TLSv1.3\n"
		"\n"
		"glibc,1, H F,2.36-9+deb12u3,\n"
		"openssl,2,   F,3.0.13-1~deb12u1,\n"
		"openssl,3, LR ,,\n"
		"zlib,0, MRF,1:1.2.13.dfsg-1+deb12u1,\n"
		"\n\n");
	free(text);
	free(z);
	free(path);
	rain_vet_feed_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tracker),
		cmocka_unit_test(test_tracker_hostile),
		cmocka_unit_test(test_osv),
		cmocka_unit_test(test_osv_hostile),
		cmocka_unit_test(test_changelog),
		cmocka_unit_test(test_file_hostile),
		cmocka_unit_test(test_debsecan_export),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
