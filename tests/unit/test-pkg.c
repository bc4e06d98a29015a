/* Installed packages and version order (rain/pkg.h): the dpkg status
 * parser on a written sample and on this host's status file, and the
 * version order against dpkg --compare-versions and rpm's own
 * rpm.vercmp() on real and generated versions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <glob.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "rain/error.h"
#include "rain/pkg.h"
#include "util/fsutil.h"
#include "util/strutil.h"

extern char **environ;

static const char sample[] =
	"Package: libssl3\n"
	"Status: install ok installed\n"
	"Priority: optional\n"
	"Architecture: amd64\n"
	"Multi-Arch: same\n"
	"Source: openssl\n"
	"Version: 3.0.11-1~deb12u2\n"
	"Description: Secure Sockets Layer toolkit - shared libraries\n"
	" This package is part of the OpenSSL project's implementation.\n"
	" .\n"
	" It provides the libssl and libcrypto shared libraries.\n"
	"\n"
	"Package: libc6\n"
	"status: install ok installed\n"
	"Architecture: i386\n"
	"Source: glibc\n"
	"Version: 2.36-9+deb12u4\n"
	"\n"
	"Package: libc6\n"
	"Status: install ok installed\n"
	"Architecture: amd64\n"
	"Source: glibc\n"
	"Version: 2.36-9+deb12u4\n"
	"\n"
	"\n"
	"Package: removed-pkg\n"
	"Status: deinstall ok config-files\n"
	"Architecture: amd64\n"
	"Version: 1.0-1\n"
	"\n"
	"Package: never\n"
	"Status: purge ok not-installed\n"
	"Architecture: amd64\n"
	"\n"
	"Package: half\n"
	"Status: install reinstreq half-configured\n"
	"Architecture: all\n"
	"Version: 2:1.0~rc1+dfsg-3\n"
	"\n"
	"Package: libpython3.11-minimal\r\n"
	"Status: install ok unpacked\r\n"
	"Architecture: amd64\r\n"
	"Source: python3.11 (3.11.2-6+deb12u1)\r\n"
	"Version: 3.11.2-6+deb12u1+b1\r\n";

static void test_status_sample(void **state)
{
	struct rain_pkg_list l;
	const struct rain_pkg *p;

	assert_int_equal(rain_pkg_parse_dpkg_status(sample, strlen(sample), "sample", &l), 0);
	assert_int_equal(l.family, RAIN_PKG_DEB);
	/* not config-files, not not-installed; sorted by name then arch */
	assert_int_equal(l.n, 5);
	assert_string_equal(l.pkgs[0].name, "half");
	assert_string_equal(l.pkgs[1].name, "libc6");
	assert_string_equal(l.pkgs[1].arch, "amd64");
	assert_string_equal(l.pkgs[2].arch, "i386");
	assert_string_equal(l.pkgs[4].name, "libssl3");

	p = rain_pkg_find(&l, "libssl3");
	assert_non_null(p);
	assert_string_equal(p->version, "3.0.11-1~deb12u2");
	assert_string_equal(p->source, "openssl");
	assert_string_equal(p->source_version, "3.0.11-1~deb12u2");
	assert_string_equal(p->status, "install ok installed");

	p = rain_pkg_find(&l, "libc6");
	assert_non_null(p);
	assert_string_equal(p->arch, "amd64");

	p = rain_pkg_find(&l, "libpython3.11-minimal");
	assert_non_null(p);
	assert_string_equal(p->version, "3.11.2-6+deb12u1+b1");
	assert_string_equal(p->source, "python3.11");
	assert_string_equal(p->source_version, "3.11.2-6+deb12u1");
	assert_string_equal(p->status, "install ok unpacked");

	p = rain_pkg_find(&l, "half");
	assert_non_null(p);
	assert_string_equal(p->source, "half");
	assert_string_equal(p->source_version, "2:1.0~rc1+dfsg-3");

	assert_null(rain_pkg_find(&l, "removed-pkg"));
	assert_null(rain_pkg_find(&l, "never"));
	assert_null(rain_pkg_find(&l, "zzz"));
	assert_null(rain_pkg_find(&l, "a"));
	rain_pkg_list_free(&l);
	assert_null(l.pkgs);
	rain_pkg_list_free(NULL);
}

static void status_bad(const char *text, const char *want)
{
	struct rain_pkg_list l;

	assert_int_equal(rain_pkg_parse_dpkg_status(text, strlen(text), "st", &l), RAIN_EFORMAT);
	if (!strstr(rain_error_last(), want))
		fail_msg("message '%s' lacks '%s'", rain_error_last(), want);
	assert_int_equal(l.n, 0);
	assert_null(l.pkgs);
}

static void test_status_bad(void **state)
{
	struct rain_pkg_list l;

	status_bad("Package: a\nStatus: install ok installed\nbroken line\n",
		   "st:3: 'broken line' is not a 'Field: value' line");
	status_bad(" continued\nPackage: a\n", "st:1: a continuation line outside a stanza");
	status_bad("Package: a\nStatus: install ok installed\n", "st:1: package a is installed but has no Version");
	status_bad("Status: install ok installed\nVersion: 1\n\n", "st:1: the stanza that starts here has no Package");
	status_bad("Package: a\nStatus: install ok installed\nVersion: 1:\n",
		   "st:1: package a: '1:' is not a Debian version: nothing after colon");
	status_bad("Package: a\nStatus: install ok installed\nVersion: 1.0-\n", "revision number is empty");
	status_bad("Package: a\nStatus: install ok installed\nVersion: x:1\n", "epoch in version is empty");
	status_bad("Package: a\nStatus: install ok installed\nVersion: 99999999999:1\n", "epoch in version is too big");
	status_bad("\n\nPackage: a\nPackage: b\n", "st:4: field 'Package' appears twice");
	status_bad("Package: a\nStatus: install ok installed\nVersion: 1\nSource: b (1\n",
		   "Source 'b (1' is not 'name (version)'");
	status_bad("Package: a\nStatus: install ok installed\nVersion: 1\nSource: b c\n",
		   "Source 'b c' is not 'name (version)'");
	status_bad("Package: a\nStatus: install ok installed\nVersion: 1\nSource: b (1 2)\n",
		   "source '1 2' is not a Debian version: version string has embedded spaces");
	status_bad(": x\n", "st:1: ': x' is not a 'Field: value' line");

	const char nul[] = "Package: a\0\n";
	assert_int_equal(rain_pkg_parse_dpkg_status(nul, sizeof(nul) - 1, "st", &l), RAIN_EFORMAT);
	assert_non_null(strstr(rain_error_last(), "st: has a NUL byte"));

	/* empty and blank-only input: no packages */
	assert_int_equal(rain_pkg_parse_dpkg_status("", 0, NULL, &l), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(rain_pkg_parse_dpkg_status(" \n\t\n\n", 5, NULL, &l), 0);
	assert_int_equal(l.n, 0);
	/* a file without a final newline still ends its last stanza */
	assert_int_equal(rain_pkg_parse_dpkg_status("Package: a\nStatus: i ok installed\nVersion: 1", 44, NULL, &l), 0);
	assert_int_equal(l.n, 1);
	rain_pkg_list_free(&l);
}

static void test_version_check(void **state)
{
	assert_int_equal(rain_pkg_version_check(RAIN_PKG_DEB, "1:2.3-4"), 0);
	assert_int_equal(rain_pkg_version_check(RAIN_PKG_DEB, " 1.0 "), 0);
	/* dpkg warns about these but accepts them */
	assert_int_equal(rain_pkg_version_check(RAIN_PKG_DEB, "a1.0"), 0);
	assert_int_equal(rain_pkg_version_check(RAIN_PKG_DEB, ""), RAIN_EINVAL);
	assert_non_null(strstr(rain_error_last(), "version string is empty"));
	assert_int_equal(rain_pkg_version_check(RAIN_PKG_DEB, "1 0"), RAIN_EINVAL);
	assert_int_equal(rain_pkg_version_check(RAIN_PKG_DEB, "-1:0"), RAIN_EINVAL);
	assert_int_equal(rain_pkg_version_check(RAIN_PKG_DEB, ":0"), RAIN_EINVAL);
	assert_int_equal(rain_pkg_version_check(RAIN_PKG_DEB, "1:-1"), RAIN_EINVAL);
	assert_int_equal(rain_pkg_version_check(RAIN_PKG_DEB, NULL), RAIN_EINVAL);
	assert_int_equal(rain_pkg_version_check(RAIN_PKG_RPM, "1:2.3-4.el9"), 0);
	assert_int_equal(rain_pkg_version_check(RAIN_PKG_RPM, "2.3"), 0);
	assert_int_equal(rain_pkg_version_check(RAIN_PKG_RPM, "x:2.3"), RAIN_EINVAL);
	assert_int_equal(rain_pkg_version_check(RAIN_PKG_RPM, "1:"), RAIN_EINVAL);
	assert_int_equal(rain_pkg_version_check(RAIN_PKG_RPM, "2 3"), RAIN_EINVAL);
	assert_int_equal(rain_pkg_version_check(RAIN_PKG_RPM, ""), RAIN_EINVAL);
}

static int sign(int x)
{
	return (x > 0) - (x < 0);
}

static void test_vercmp_known(void **state)
{
	/* from dpkg's own test suite (t-version.c) and Debian policy 5.6.12 */
	static const struct { const char *a, *b; int r; } deb[] = {
		{ "0", "0", 0 }, { "0", "00", 0 }, { "1.2.3", "1.2.3", 0 },
		{ "4.4.3-2", "4.4.3-2", 0 }, { "1:2ab:5", "1:2ab:5", 0 },
		{ "7:1-a:b-5", "7:1-a:b-5", 0 }, { "57:1.2.3abYZ+~-4-5", "57:1.2.3abYZ+~-4-5", 0 },
		{ "1.2.3", "0:1.2.3", 0 }, { "1.2.3", "1.2.3-0", 0 }, { "009", "9", 0 },
		{ "009ab5", "9ab5", 0 }, { "1.2.3", "1.2.3-1", -1 }, { "1.2.3", "1.2.4", -1 },
		{ "1.2.4", "1.2.3", 1 }, { "1.2.24", "1.2.3", 1 }, { "0.10.0", "0.8.7", 1 },
		{ "3.2", "2.3", 1 }, { "1.3.2a", "1.3.2", 1 }, { "0.5.0~git", "0.5.0~git2", -1 },
		{ "2a", "21", -1 }, { "1.2a+~bCd3", "1.2a++", -1 }, { "1.2a+~bCd3", "1.2a+~", 1 },
		{ "304-2", "5:2", -1 }, { "5:2", "304-2", 1 }, { "25:2", "3:2", 1 },
		{ "1:2:123", "1:12:3", -1 }, { "1.2-5", "1.2-3-5", -1 }, { "5.10.0", "5.005", 1 },
		{ "3a9.8", "3.10.2", -1 }, { "3.10.2", "3a9.8", 1 }, { "1~", "1", -1 },
		{ "1~", "1~a", -1 }, { "1~a", "1~b", -1 }, { "1~~", "1~~a", -1 },
		{ "1~~a", "1~", -1 }, { "1", "1+", -1 }, { "1.0~rc1", "1.0", -1 },
		{ "3.0.11-1~deb12u2", "3.0.11-1", -1 }, { "3.0.11-1~deb12u2", "3.0.11-1~deb12u1", 1 },
		{ "2.36-9+deb12u4", "2.36-9+deb12u10", -1 }, { "1.0-1+b1", "1.0-1", 1 },
		{ "1:0.1", "2.0", 1 }, { "a", "b", -1 }, { "Z", "a", -1 }, { "1.0", "1.0.", -1 },
	};
	for (size_t i = 0; i < sizeof(deb) / sizeof(deb[0]); i++) {
		int r = sign(rain_pkg_vercmp_deb(deb[i].a, deb[i].b));
		int back = sign(rain_pkg_vercmp_deb(deb[i].b, deb[i].a));

		if (r != deb[i].r || back != -deb[i].r)
			fail_msg("deb %s vs %s: %d (back %d), want %d", deb[i].a, deb[i].b, r, back,
				 deb[i].r);
	}
	/* versions dpkg refuses still get a consistent place */
	assert_int_equal(rain_pkg_vercmp_deb("1:", "1:"), 0);
	assert_true(rain_pkg_vercmp_deb(NULL, "1") < 0);
	assert_int_equal(rain_pkg_vercmp_deb("", NULL), 0);

	static const struct { const char *a, *b; int r; } rpm[] = {
		{ "1.0-1", "1.0-1", 0 }, { "1.0-1", "1.0-2", -1 }, { "1:1.0-1", "2.0-1", 1 },
		{ "1.0~rc1-1", "1.0-1", -1 }, { "1.0^git1-1", "1.0-1", 1 }, { "1.0a", "1.0", 1 },
		{ "2.36-9.el9", "2.36-10.el9", -1 }, { "1.0", "1.0-5", -1 }, { "0:1.0-1", "1.0-1", 0 },
	};
	for (size_t i = 0; i < sizeof(rpm) / sizeof(rpm[0]); i++) {
		int r = sign(rain_pkg_vercmp_rpm(rpm[i].a, rpm[i].b));

		if (r != rpm[i].r)
			fail_msg("rpm %s vs %s: %d, want %d", rpm[i].a, rpm[i].b, r, rpm[i].r);
	}
}

/* --- against the package managers themselves ------------------------- */

static char **vers;
static size_t nvers;

static void add_version(const char *v)
{
	for (size_t i = 0; i < nvers; i++)
		if (!strcmp(vers[i], v))
			return;
	assert_int_equal(strv_add(&vers, &nvers, v), 0);
}

/* Generated versions with what makes dpkg's order tricky: epochs, '~'
 * before everything, '+' and '.' after letters, leading zeros, letters
 * of both cases, revisions with '~' and '+'. */
static void add_generated(unsigned n, unsigned seed)
{
	static const char *const epochs[] = { "", "", "", "0:", "1:", "2:", "10:", "01:" };
	static const char *const parts[] = {
		"0", "1", "01", "2", "10", "9", "009", "1.0", "1.00", "1.0.1", "a", "b", "Z",
		"~", "~~", "~rc1", "~beta", "+", "+dfsg", "+b1", ".", "a1", "-", ":", "1a",
		"2a0", "99999999999999999999", "~~a", "+~", "~+",
	};
	static const char *const revs[] = {
		"", "", "-1", "-0", "-1~deb12u1", "-1+deb12u1", "-1+b1", "-2", "-1.1", "-1a",
		"-1~", "-10", "-01", "-1~bpo12+1", "-a",
	};
	char buf[256];

	srand(seed);
	for (unsigned i = 0; i < n; i++) {
		size_t k = (size_t)rand() % 4 + 1;
		int len;

		len = snprintf(buf, sizeof(buf), "%s%u", epochs[rand() % 8], (unsigned)rand() % 4);
		for (size_t j = 0; j < k; j++)
			len += snprintf(buf + len, sizeof(buf) - (size_t)len, "%s",
					parts[(size_t)rand() % (sizeof(parts) / sizeof(parts[0]))]);
		snprintf(buf + len, sizeof(buf) - (size_t)len, "%s",
			 revs[(size_t)rand() % (sizeof(revs) / sizeof(revs[0]))]);
		if (rain_pkg_version_check(RAIN_PKG_DEB, buf) == 0)
			add_version(buf);
	}
}

/* dpkg --compare-versions a op b: its exit status */
static int dpkg_cmp(const char *a, const char *op, const char *b)
{
	char *argv[] = { "dpkg", "--compare-versions", (char *)a, (char *)op, (char *)b, NULL };
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st;

	/* its warnings (a version that does not start with a digit) */
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	assert_int_equal(posix_spawnp(&pid, "dpkg", &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static int strcmp_p(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_deb(const void *a, const void *b)
{
	return rain_pkg_vercmp_deb(*(char *const *)a, *(char *const *)b);
}

/* About 1500 versions of a Packages file as apt keeps it (compressed):
 * through apt-helper cat-file, which reads every compression apt writes. */
static void add_packages_file(const char *path)
{
	char *argv[] = { "/usr/lib/apt/apt-helper", "cat-file", (char *)path, NULL };
	posix_spawn_file_actions_t fa;
	char **all = NULL;
	size_t nall = 0;
	int fds[2];
	pid_t pid;
	FILE *f;
	char line[512];

	assert_int_equal(pipe(fds), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	assert_int_equal(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	f = fdopen(fds[0], "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (str_has_prefix(line, "Version: ")) {
			line[strcspn(line, "\n")] = '\0';
			assert_int_equal(strv_add(&all, &nall, line + 9), 0);
		}
	fclose(f);
	waitpid(pid, NULL, 0);
	for (size_t i = 0; i < nall; i += nall / 1500 + 1)
		add_version(all[i]);
	strv_free(all, nall);
}

/* Every version of the host's status file and a sample of a Packages
 * file and generated ones, each against each other: sorted by our order,
 * then each neighbour pair checked by dpkg ("lt" where we say less, "eq"
 * where we say equal).  As both are total orders, neighbours agreeing
 * means every pair agrees.  Then random pairs checked directly. */
static void test_vercmp_dpkg(void **state)
{
	_cleanup_free_ char *status = NULL;
	struct rain_pkg_list l;
	size_t len, checked = 0;
	glob_t g;

	if (access("/usr/bin/dpkg", X_OK) != 0)
		skip();
	if (fs_read_small("/var/lib/dpkg/status", 64 << 20, &status, &len) == 0) {
		assert_int_equal(rain_pkg_parse_dpkg_status(status, len, "/var/lib/dpkg/status", &l), 0);
		for (size_t i = 0; i < l.n; i++) {
			add_version(l.pkgs[i].version);
			add_version(l.pkgs[i].source_version);
		}
		rain_pkg_list_free(&l);
	}
	if (access("/usr/lib/apt/apt-helper", X_OK) == 0 &&
	    glob("/var/lib/apt/lists/*_Packages*", 0, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++)
			add_packages_file(g.gl_pathv[i]);
		globfree(&g);
	}
	add_generated(2500, 11);
	print_message("%zu distinct versions\n", nvers);
	assert_true(nvers > 1000);
	qsort(vers, nvers, sizeof(*vers), cmp_deb);
	for (size_t i = 0; i + 1 < nvers; i++) {
		int r = rain_pkg_vercmp_deb(vers[i], vers[i + 1]);

		assert_true(r <= 0);
		if (dpkg_cmp(vers[i], r ? "lt" : "eq", vers[i + 1]) != 0)
			fail_msg("dpkg disagrees: %s %s %s", vers[i], r ? "<" : "=", vers[i + 1]);
		checked++;
	}
	srand(7);
	for (size_t i = 0; i < 300; i++) {
		const char *a = vers[(size_t)rand() % nvers], *b = vers[(size_t)rand() % nvers];
		int r = rain_pkg_vercmp_deb(a, b);
		const char *op = r < 0 ? "lt" : r > 0 ? "gt" : "eq";

		if (dpkg_cmp(a, op, b) != 0)
			fail_msg("dpkg disagrees: %s %s %s", a, op, b);
		checked++;
	}
	print_message("%zu pairs checked by dpkg\n", checked);
	strv_free(vers, nvers);
	vers = NULL;
	nvers = 0;
}

/* rpm's rpm.vercmp() on many pairs in one rpm run: a Lua loop over a
 * file of pairs, one result per line. */
static void test_vercmp_rpm(void **state)
{
	static const char *const parts[] = {
		"1", "2", "10", "01", ".", "a", "b", "~", "^", "+", "_", "rc1", "el9", "fc38",
		"0", "9", "99999999999999999999", "~~", "^git", ".1", "A", "alpha",
	};
	char dir[] = "/tmp/test-pkg-XXXXXX";
	_cleanup_free_ char *pairs = NULL, *out = NULL, *expr = NULL;
	FILE *f;
	size_t n = 0;
	char *a[2000], *b[2000];

	if (access("/usr/bin/rpm", X_OK) != 0)
		skip();
	assert_non_null(mkdtemp(dir));
	assert_true(asprintf(&pairs, "%s/pairs", dir) > 0);
	assert_true(asprintf(&out, "%s/out", dir) > 0);
	f = fopen(pairs, "w");
	assert_non_null(f);
	srand(5);
	for (n = 0; n < 2000; n++) {
		char buf[2][128];

		for (int s = 0; s < 2; s++) {
			int len = 0;

			if (rand() % 4 == 0)
				len = snprintf(buf[s], sizeof(buf[s]), "%d:", rand() % 3);
			len += snprintf(buf[s] + len, sizeof(buf[s]) - (size_t)len, "%d", rand() % 3);
			for (int j = rand() % 4; j >= 0; j--)
				len += snprintf(buf[s] + len, sizeof(buf[s]) - (size_t)len, "%s",
						parts[(size_t)rand() % (sizeof(parts) / sizeof(parts[0]))]);
			if (rand() % 3)
				snprintf(buf[s] + len, sizeof(buf[s]) - (size_t)len, "-%d%s", rand() % 3,
					 rand() % 2 ? ".el9" : "");
		}
		/* a sibling of the first, often equal up to a part */
		if (rand() % 3 == 0)
			snprintf(buf[1], sizeof(buf[1]), "%s%s", buf[0], parts[(size_t)rand() % 5]);
		a[n] = strdup(buf[0]);
		b[n] = strdup(buf[1]);
		fprintf(f, "%s %s\n", a[n], b[n]);
	}
	assert_int_equal(fclose(f), 0);
	assert_true(asprintf(&expr,
			     "%%{lua: local o = io.open('%s', 'w') "
			     "for l in io.lines('%s') do local x, y = l:match('(%%S+) (%%S+)') "
			     "o:write(rpm.vercmp(x, y), '\\n') end o:close()}",
			     out, pairs) > 0);
	{
		char *argv[] = { "rpm", "--eval", expr, NULL };
		pid_t pid;
		int st;

		assert_int_equal(posix_spawnp(&pid, "rpm", NULL, NULL, argv, environ), 0);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	f = fopen(out, "r");
	assert_non_null(f);
	for (size_t i = 0; i < n; i++) {
		int want;

		assert_int_equal(fscanf(f, "%d", &want), 1);
		if (sign(rain_pkg_vercmp_rpm(a[i], b[i])) != sign(want))
			fail_msg("rpm disagrees: %s vs %s: rpm %d, ours %d", a[i], b[i], want,
				 rain_pkg_vercmp_rpm(a[i], b[i]));
		free(a[i]);
		free(b[i]);
	}
	fclose(f);
	print_message("%zu pairs checked by rpm\n", n);
	unlink(pairs);
	unlink(out);
	rmdir(dir);
}

/* Run argv (stdout to out when not NULL, stderr dropped); its exit status. */
static int run(char *const argv[], const char *out)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	assert_int_equal(posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void rpmdb_bad(const char *path, const char *want)
{
	_cleanup_free_ char *data = NULL;
	struct rain_pkg_list l;
	size_t len;

	assert_int_equal(fs_read_small(path, 64 << 20, &data, &len), 0);
	assert_int_equal(rain_pkg_parse_rpmdb(data, len, "db", &l), RAIN_EFORMAT);
	if (!strstr(rain_error_last(), want))
		fail_msg("message '%s' lacks '%s'", rain_error_last(), want);
	assert_int_equal(l.n, 0);
}

/* A database made by SQLite from sql at path, refused with want. */
static void rpmdb_bad_sql(const char *path, const char *sql, const char *want)
{
	sqlite3 *s;

	unlink(path);
	assert_int_equal(sqlite3_open(path, &s), SQLITE_OK);
	assert_int_equal(sqlite3_exec(s, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(s);
	rpmdb_bad(path, want);
}

/* A real rpm database: packages built by rpmbuild (one with an epoch and
 * a subpackage, one with a '~' version) installed by rpm --justdb into a
 * database of its own, read back and compared with rpm -qa. */
static void test_rpmdb(void **state)
{
	static const char spec_a[] =
		"Name: rain-test-a\nVersion: 1.2.3\nRelease: 4.el9\nEpoch: 2\nSummary: t\nLicense: MIT\n"
		"BuildArch: noarch\n%description\nt\n%package -n rain-test-a-libs\nSummary: t\n"
		"%description -n rain-test-a-libs\nt\n%files\n%files -n rain-test-a-libs\n";
	static const char spec_b[] =
		"Name: rain-test-b\nVersion: 0.9~rc1\nRelease: 1\nSummary: t\nLicense: MIT\n"
		"BuildArch: noarch\n%description\nt\n%files\n";
	char dir[] = "/tmp/test-pkg-rpm-XXXXXX";
	_cleanup_free_ char *top = NULL, *dbdir = NULL, *db = NULL, *qa = NULL, *data = NULL, *want = NULL;
	_cleanup_free_ char *defs = NULL, *rpms = NULL, *junk = NULL, *dbarg = NULL;
	struct rain_pkg_list l;
	size_t len;
	const struct rain_pkg *p;

	if (access("/usr/bin/rpmbuild", X_OK) != 0 || access("/usr/bin/rpm", X_OK) != 0)
		skip();
	assert_non_null(mkdtemp(dir));
	assert_true(asprintf(&top, "%s/top", dir) > 0);
	assert_true(asprintf(&defs, "_topdir %s", top) > 0);
	assert_true(asprintf(&dbdir, "%s/db", dir) > 0);
	assert_true(asprintf(&dbarg, "--dbpath=%s", dbdir) > 0);
	assert_true(asprintf(&db, "%s/rpmdb.sqlite", dbdir) > 0);
	assert_true(asprintf(&qa, "%s/qa", dir) > 0);
	assert_true(asprintf(&rpms, "%s/RPMS/noarch", top) > 0);
	assert_int_equal(mkdir(dbdir, 0700), 0);
	for (int i = 0; i < 2; i++) {
		_cleanup_free_ char *spec = NULL;

		assert_true(asprintf(&spec, "%s/%c.spec", dir, 'a' + i) > 0);
		assert_int_equal(fs_write_atomic(spec, i ? spec_b : spec_a, strlen(i ? spec_b : spec_a), 0600), 0);
		char *argv[] = { "rpmbuild", "-bb", "--define", defs, spec, NULL };
		assert_int_equal(run(argv, NULL), 0);
	}
	{
		char *init[] = { "rpm", dbarg, "--initdb", NULL };
		_cleanup_free_ char *a = NULL, *al = NULL, *b = NULL;

		assert_true(asprintf(&a, "%s/rain-test-a-1.2.3-4.el9.noarch.rpm", rpms) > 0);
		assert_true(asprintf(&al, "%s/rain-test-a-libs-1.2.3-4.el9.noarch.rpm", rpms) > 0);
		assert_true(asprintf(&b, "%s/rain-test-b-0.9~rc1-1.noarch.rpm", rpms) > 0);
		char *inst[] = { "rpm", dbarg, "-i", "--justdb", "--nodeps", "--ignorearch", "--ignoreos",
				 "--nosignature", a, al, b, NULL };
		char *query[] = { "rpm", dbarg, "-qa", "--qf",
				  "%{NAME} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE} %{ARCH} %{SOURCERPM}\\n", NULL };

		assert_int_equal(run(init, NULL), 0);
		assert_int_equal(run(inst, NULL), 0);
		assert_int_equal(run(query, qa), 0);
	}
	assert_int_equal(fs_read_small(db, 64 << 20, &data, &len), 0);
	assert_int_equal(rain_pkg_parse_rpmdb(data, len, db, &l), 0);
	assert_int_equal(l.family, RAIN_PKG_RPM);
	assert_int_equal(l.n, 3);
	/* what rpm -qa says, line for line (sorted by name) */
	{
		_cleanup_free_ char *got = NULL;
		char *lines[3];
		size_t n = 0, glen = 0;
		FILE *m = open_memstream(&got, &glen);

		for (size_t i = 0; i < l.n; i++)
			fprintf(m, "%s %s %s %s-%s.src.rpm\n", l.pkgs[i].name, l.pkgs[i].version, l.pkgs[i].arch,
				l.pkgs[i].source, strchr(l.pkgs[i].source_version, ':') ?
				strchr(l.pkgs[i].source_version, ':') + 1 : l.pkgs[i].source_version);
		fclose(m);
		assert_int_equal(fs_read_small(qa, 1 << 20, &want, &len), 0);
		for (char *t = strtok(want, "\n"); t && n < 3; t = strtok(NULL, "\n"))
			lines[n++] = t;
		assert_int_equal(n, 3);
		qsort(lines, n, sizeof(*lines), strcmp_p);
		{
			_cleanup_free_ char *joined = strv_join(lines, n, "\n");
			_cleanup_free_ char *withnl = NULL;

			assert_true(asprintf(&withnl, "%s\n", joined) > 0);
			assert_string_equal(got, withnl);
		}
	}
	p = rain_pkg_find(&l, "rain-test-a-libs");
	assert_non_null(p);
	assert_string_equal(p->version, "2:1.2.3-4.el9");
	assert_string_equal(p->source, "rain-test-a");
	assert_string_equal(p->source_version, "2:1.2.3-4.el9");
	p = rain_pkg_find(&l, "rain-test-b");
	assert_non_null(p);
	assert_string_equal(p->version, "0.9~rc1-1");
	assert_true(rain_pkg_vercmp_rpm(p->version, "0.9-1") < 0);
	rain_pkg_list_free(&l);

	/* hostile databases */
	assert_true(asprintf(&junk, "%s/junk", dir) > 0);
	assert_int_equal(fs_write_atomic(junk, "not a database at all, but long enough to be read as one ......"
					 "..................................................", 114, 0600), 0);
	rpmdb_bad(junk, "not an SQLite rpm database");
	assert_int_equal(rain_pkg_parse_rpmdb(data, 4096, "db", &l), RAIN_EFORMAT);     /* cut short */
	rpmdb_bad_sql(junk, "CREATE TABLE other(a)", "no Packages table");
	/* a view that would never end */
	rpmdb_bad_sql(junk, "CREATE VIEW Packages AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
		      "SELECT x + 1 FROM c) SELECT x AS hnum, x AS blob FROM c", "no Packages table");
	rpmdb_bad_sql(junk, "CREATE TABLE Packages(hnum INTEGER PRIMARY KEY, blob BLOB);"
		      "INSERT INTO Packages VALUES (1, x'00000001000000100000000000000000')",
		      "package 1: not an rpm header");
	{
		char *rm[] = { "rm", "-rf", dir, NULL };

		assert_int_equal(run(rm, NULL), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_sample),
		cmocka_unit_test(test_status_bad),
		cmocka_unit_test(test_version_check),
		cmocka_unit_test(test_vercmp_known),
		cmocka_unit_test(test_vercmp_rpm),
		cmocka_unit_test(test_vercmp_dpkg),
		cmocka_unit_test(test_rpmdb),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
