/* The RPM builder backend's pure parts (lib/build/builders/rpm.h): repository
 * files, the base package set, dnf's command lines, dnf's error lines;
 * and the mirror probe against a port where nothing listens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/build/build-internal.h"
#include "lib/build/builders/rpm.h"
#include "rain/error.h"
#include "rain/recipe.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "testutil.h"

static struct rain_recipe *recipe(const char *dist, const char *release, const char *arch, const char *formats)
{
	struct rain_recipe *r = NULL;
	char text[512];

	snprintf(text, sizeof(text), "[image]\ndistribution = %s\nrelease = %s\narchitecture = %s\n"
		 "[output]\nformats = %s\n", dist, release, arch, formats);
	assert_int_equal(rain_recipe_parse(text, "t.recipe", ".", &r), 0);
	return r;
}

static void assert_has(const char *text, const char *needle)
{
	if (!strstr(text, needle))
		fail_msg("\"%s\" lacks \"%s\"", text, needle);
}

static void test_basearch(void **state)
{
	(void)state;
	assert_string_equal(rpm_basearch("amd64"), "x86_64");
	assert_string_equal(rpm_basearch("arm64"), "aarch64");
	assert_string_equal(rpm_basearch("ppc64el"), "ppc64le");
	assert_null(rpm_basearch("armhf"));
	assert_null(rpm_basearch(NULL));
}

static void test_repo_rocky9(void **state)
{
	struct rain_recipe *r = recipe("rocky", "9", "amd64", "tar");
	char *text = NULL, *url = NULL;

	(void)state;
	assert_int_equal(rpm_repo_text(r, NULL, &text), 0);
	assert_has(text, "[rain-baseos]\n");
	assert_has(text, "baseurl=https://dl.rockylinux.org/pub/rocky/9/BaseOS/x86_64/os/\n");
	assert_has(text, "[rain-appstream]\n");
	assert_has(text, "baseurl=https://dl.rockylinux.org/pub/rocky/9/AppStream/x86_64/os/\n");
	assert_has(text, "gpgcheck=1\n");
	assert_has(text, "gpgkey=https://dl.rockylinux.org/pub/rocky/RPM-GPG-KEY-Rocky-9\n");
	assert_null(strstr(text, "gpgcheck=0"));
	assert_int_equal(rpm_probe_url(r, &url), 0);
	assert_string_equal(url, "https://dl.rockylinux.org/pub/rocky/9/BaseOS/x86_64/os/repodata/repomd.xml");
	assert_string_equal(rpm_dbpath(r), "/var/lib/rpm");
	free(text);
	free(url);
	rain_recipe_free(r);

	r = recipe("rocky", "9", "arm64", "tar");
	assert_int_equal(rpm_repo_text(r, NULL, &text), 0);
	assert_has(text, "baseurl=https://dl.rockylinux.org/pub/rocky/9/BaseOS/aarch64/os/\n");
	assert_has(text, "baseurl=https://dl.rockylinux.org/pub/rocky/9/AppStream/aarch64/os/\n");
	assert_null(strstr(text, "x86_64"));
	free(text);
	rain_recipe_free(r);
}

static void test_repo_alma8_mirror(void **state)
{
	struct rain_recipe *r = NULL;
	char *text = NULL;

	(void)state;
	/* a mirror of one's own, with a trailing slash */
	assert_int_equal(rain_recipe_parse("[image]\ndistribution = alma\nrelease = 8\n"
					   "mirror = http://mirror.example/alma/\n[output]\nformats = tar\n",
					   "t.recipe", ".", &r), 0);
	assert_int_equal(rpm_repo_text(r, NULL, &text), 0);
	assert_has(text, "baseurl=http://mirror.example/alma/8/BaseOS/x86_64/os/\n");
	assert_has(text, "baseurl=http://mirror.example/alma/8/AppStream/x86_64/os/\n");
	assert_has(text, "gpgkey=http://mirror.example/alma/RPM-GPG-KEY-AlmaLinux-8\n");
	free(text);
	rain_recipe_free(r);
}

static void test_repo_fedora40(void **state)
{
	struct rain_recipe *r = recipe("fedora", "40", "amd64", "tar");
	char *text = NULL, *url = NULL;

	(void)state;
	assert_int_equal(rpm_repo_text(r, NULL, &text), 0);
	assert_has(text, "[rain-fedora]\n");
	assert_has(text, "baseurl=https://dl.fedoraproject.org/pub/fedora/linux/releases/40/Everything/x86_64/os/\n");
	assert_has(text, "[rain-fedora-updates]\n");
	assert_has(text, "baseurl=https://dl.fedoraproject.org/pub/fedora/linux/updates/40/Everything/x86_64/\n");
	assert_has(text, "RPM-GPG-KEY-fedora-40-primary\n");
	assert_has(text, "gpgcheck=1\n");
	assert_int_equal(rpm_probe_url(r, &url), 0);
	assert_string_equal(url, "https://dl.fedoraproject.org/pub/fedora/linux/releases/40/Everything/x86_64/os/"
			    "repodata/repomd.xml");
	assert_string_equal(rpm_dbpath(r), "/usr/lib/sysimage/rpm");
	free(text);
	free(url);
	rain_recipe_free(r);
}

static void test_repo_refused(void **state)
{
	struct rain_recipe *r = recipe("debian", "bookworm", "amd64", "tar");
	char *text = NULL;

	(void)state;
	assert_int_equal(rpm_repo_text(r, NULL, &text), RAIN_EINVAL);
	rain_recipe_free(r);
	r = recipe("rocky", "9", "armhf", "tar");
	assert_int_equal(rpm_repo_text(r, NULL, &text), RAIN_EINVAL);
	assert_error_contains("armhf");
	rain_recipe_free(r);
}

static bool in(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], s))
			return true;
	return false;
}

static void test_base_packages(void **state)
{
	struct rain_recipe *r = recipe("rocky", "9", "amd64", "tar");
	char **v;
	size_t n;

	(void)state;
	assert_int_equal(rpm_base_packages(r, &v, &n), 0);
	assert_true(in(v, n, "rocky-release"));
	assert_true(in(v, n, "systemd"));
	assert_true(in(v, n, "dnf"));
	assert_true(in(v, n, "passwd"));
	assert_true(in(v, n, "rootfiles"));
	assert_false(in(v, n, "kernel"));
	strv_free(v, n);
	rain_recipe_free(r);

	r = recipe("fedora", "40", "amd64", "disk");
	assert_true(r->kernel);
	assert_int_equal(rpm_base_packages(r, &v, &n), 0);
	assert_true(in(v, n, "fedora-release"));
	assert_true(in(v, n, "kernel"));
	assert_true(in(v, n, "dracut"));
	assert_true(in(v, n, "systemd-networkd"));
	strv_free(v, n);
	rain_recipe_free(r);

	r = recipe("alma", "9", "amd64", "tar");
	assert_int_equal(rpm_base_packages(r, &v, &n), 0);
	assert_true(in(v, n, "almalinux-release"));
	strv_free(v, n);
	rain_recipe_free(r);
}

static void test_dracut_conf(void **state)
{
	struct rain_recipe *r = recipe("rocky", "9", "arm64", "disk");
	char *text = NULL;

	(void)state;
	assert_int_equal(rpm_dracut_conf(r, &text), 0);
	assert_has(text, "hostonly=\"no\"");
	assert_has(text, "virtio_blk");
	assert_has(text, "compress=\"zstd\"");
	assert_null(strstr(text, "ata_piix"));
	free(text);
	rain_recipe_free(r);
}

static int index_of(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], s))
			return (int)i;
	return -1;
}

static void test_dnf_argv(void **state)
{
	struct rain_recipe *r = recipe("rocky", "9", "arm64", "tar");
	char *pkgs[] = { "basesystem", "dnf" };
	struct rpm_dnf_call c = { .kind = RPM_DNF_BASE, .r = r, .installroot = "/x/root",
				  .config = "/x/dnf.conf", .reposdir = "/x/repos", .destdir = "/x/debs",
				  .forcearch = "aarch64", .pkgs = pkgs, .npkgs = 2 };
	char **v;
	size_t n;
	int dash;

	(void)state;
	assert_int_equal(rpm_dnf_argv(&c, &v, &n), 0);
	assert_string_equal(v[0], "dnf");
	assert_null(v[n]);
	assert_true(in(v, n, "-y"));
	assert_true(in(v, n, "--installroot=/x/root"));
	assert_true(in(v, n, "--releasever=9"));
	assert_true(in(v, n, "--forcearch=aarch64"));
	assert_true(in(v, n, "--config=/x/dnf.conf"));
	assert_true(in(v, n, "--setopt=reposdir=/x/repos"));
	assert_true(in(v, n, "--setopt=install_weak_deps=False"));
	assert_true(in(v, n, "--setopt=destdir=/x/debs"));
	assert_true(in(v, n, "--setopt=gpgcheck=True"));
	assert_false(in(v, n, "--nogpgcheck"));
	assert_false(in(v, n, "--downloadonly"));
	dash = index_of(v, n, "--");
	assert_true(dash > index_of(v, n, "install"));
	assert_string_equal(v[dash + 1], "basesystem");
	assert_string_equal(v[dash + 2], "dnf");
	assert_int_equal((size_t)dash + 3, n);
	for (size_t i = 0; i < n; i++)   /* no shell anywhere */
		assert_true(strcmp(v[i], "sh") && strcmp(v[i], "-c"));
	strv_free(v, n);

	/* the base needs an absolute root */
	c.installroot = "root";
	assert_int_equal(rpm_dnf_argv(&c, &v, &n), RAIN_EINVAL);

	/* fetch: inside the image, download only, into the bound directory */
	memset(&c, 0, sizeof(c));
	c = (struct rpm_dnf_call){ .kind = RPM_DNF_FETCH, .r = r, .reposdir = RPM_STAGE_REPOSDIR,
				   .destdir = RPM_DOWNLOAD_DIR, .refresh = true, .pkgs = pkgs, .npkgs = 1 };
	assert_int_equal(rpm_dnf_argv(&c, &v, &n), 0);
	assert_false(in(v, n, "--installroot=/x/root"));
	assert_int_equal(index_of(v, n, "--forcearch=aarch64"), -1);
	assert_true(in(v, n, "--downloadonly"));
	assert_true(in(v, n, "--destdir=" RPM_DOWNLOAD_DIR));
	assert_true(in(v, n, "--refresh"));
	assert_true(in(v, n, "--releasever=9"));
	assert_true(in(v, n, "--setopt=reposdir=" RPM_STAGE_REPOSDIR));
	assert_false(in(v, n, "--cacheonly"));
	assert_string_equal(v[n - 1], "basesystem");
	strv_free(v, n);

	/* install: offline, packages from the downloads */
	c.kind = RPM_DNF_INSTALL;
	c.refresh = false;
	assert_int_equal(rpm_dnf_argv(&c, &v, &n), 0);
	assert_true(in(v, n, "--cacheonly"));
	assert_true(in(v, n, "--setopt=destdir=" RPM_DOWNLOAD_DIR));
	assert_false(in(v, n, "--downloadonly"));
	assert_false(in(v, n, "--refresh"));
	assert_string_equal(v[n - 2], "--");
	strv_free(v, n);
	rain_recipe_free(r);
}

static void test_errors(void **state)
{
	struct rain_recipe *r = recipe("rocky", "9", "amd64", "tar");
	struct rpm_errors e = { .missing = "" };

	(void)state;
	rpm_scan_line(&e, "Last metadata expiration check: 0:00:01 ago.");
	rpm_scan_line(&e, "No match for argument: rain-no-such-package");
	rpm_scan_line(&e, "Error: Unable to find a match: rain-no-such-package other");
	assert_string_equal(e.missing, "rain-no-such-package");
	assert_string_equal(e.fetch, "");
	assert_int_equal(rpm_error(r, RAIN_EIO, &e), RAIN_EINVAL);
	assert_error_contains("package 'rain-no-such-package' does not exist in rocky 9 "
			      "(https://dl.rockylinux.org/pub/rocky): check its name");

	memset(&e, 0, sizeof(e));
	rpm_scan_line(&e, "Error: Unable to find a match: vim-nope");
	assert_string_equal(e.missing, "vim-nope");

	memset(&e, 0, sizeof(e));
	rpm_scan_line(&e, "Curl error (6): Couldn't resolve host name for https://dl.rockylinux.org/pub/rocky/9/"
		      "BaseOS/x86_64/os/repodata/repomd.xml [Could not resolve host: dl.rockylinux.org]");
	rpm_scan_line(&e, "Error: Failed to download metadata for repo 'rain-baseos': Cannot download repomd.xml");
	assert_string_equal(e.missing, "");
	assert_has(e.fetch, "Curl error (6)");
	assert_int_equal(rpm_error(r, RAIN_EIO, &e), RAIN_ENET);
	assert_error_contains("the mirror https://dl.rockylinux.org/pub/rocky cannot be reached: Curl error (6)");

	/* a run that worked stays so */
	assert_int_equal(rpm_error(r, 0, &e), 0);
	memset(&e, 0, sizeof(e));
	assert_int_equal(rpm_error(r, RAIN_EIO, &e), RAIN_EIO);
	rain_recipe_free(r);
}

/* distribution = rpm: one repository of one's own, with the recipe's key */
static void test_own_repository(void **state)
{
	struct rain_recipe *r = NULL;
	char *text = NULL, **pkgs;
	size_t n;

	(void)state;
	assert_int_equal(rain_recipe_parse("[image]\ndistribution = rpm\nmirror = http://127.0.0.1:8000/repo//\n"
					   "keyring = k.asc\n[packages]\ninstall = rain-test-release rain-test-shell\n"
					   "[output]\nformats = tar\n", "t.recipe", ".", &r), 0);
	assert_int_equal(rpm_repo_text(r, "file:///k.asc", &text), 0);
	assert_has(text, "[rain-repository]\nname=rpm repository 1 x86_64\nbaseurl=http://127.0.0.1:8000/repo/\n"
		   "enabled=1\ngpgcheck=1\ngpgkey=file:///k.asc\n");
	free(text);
	assert_int_equal(rpm_repo_text(r, NULL, &text), RAIN_EINVAL);
	assert_int_equal(rpm_probe_url(r, &text), 0);
	assert_string_equal(text, "http://127.0.0.1:8000/repo/repodata/repomd.xml");
	free(text);
	/* the base is the recipe's packages: rain knows no names there */
	assert_int_equal(rpm_base_packages(r, &pkgs, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(pkgs[0], "rain-test-release");
	assert_string_equal(pkgs[1], "rain-test-shell");
	strv_free(pkgs, n);
	assert_int_equal(rain_builder_rpm.layer(r, &pkgs, &n), 0);
	assert_int_equal(n, 0);
	strv_free(pkgs, n);
	rain_recipe_free(r);

	/* a distribution's own key replaced by the recipe's */
	r = recipe("rocky", "9", "amd64", "tar");
	assert_int_equal(rpm_repo_text(r, "file:///etc/pki/rpm-gpg/K", &text), 0);
	assert_has(text, "gpgcheck=1\ngpgkey=file:///etc/pki/rpm-gpg/K\n\n[rain-appstream]");
	assert_null(strstr(text, "RPM-GPG-KEY-Rocky"));
	free(text);
	rain_recipe_free(r);
}

static void test_signature_errors(void **state)
{
	struct rain_recipe *r = NULL;
	struct rpm_errors e = { .missing = "" };

	(void)state;
	assert_int_equal(rain_recipe_parse("[image]\ndistribution = rpm\nmirror = http://h/repo\nkeyring = k.asc\n"
					   "[packages]\ninstall = a\n[output]\nformats = tar\n", "t.recipe", ".", &r), 0);
	/* dnf 4.14's lines for a package signed with another key */
	rpm_scan_line(&e, "Public key for rain-test-release-1.0-1.noarch.rpm is not installed. Failing package is: "
		      "rain-test-release-1.0-1.noarch");
	rpm_scan_line(&e, "Error: GPG check FAILED");
	assert_string_equal(e.badsig, "rain-test-release-1.0-1.noarch.rpm");
	assert_false(e.unsigned_pkg);
	assert_int_equal(rpm_error(r, RAIN_EIO, &e), RAIN_EFORBIDDEN);
	assert_error_contains("package rain-test-release-1.0-1.noarch.rpm from http://h/repo is signed with a key "
			      "that is not the key of [image] keyring k.asc: refused");
	/* ... and for one without a signature */
	memset(&e, 0, sizeof(e));
	rpm_scan_line(&e, "Package rain-test-shell-1.0-1.x86_64.rpm is not signed");
	assert_string_equal(e.badsig, "rain-test-shell-1.0-1.x86_64.rpm");
	assert_true(e.unsigned_pkg);
	assert_int_equal(rpm_error(r, RAIN_EIO, &e), RAIN_EFORBIDDEN);
	assert_error_contains("package rain-test-shell-1.0-1.x86_64.rpm from http://h/repo is not signed: refused");
	/* "No package X available." is a missing package, not a signature */
	memset(&e, 0, sizeof(e));
	rpm_scan_line(&e, "No package foo available.");
	assert_string_equal(e.badsig, "");
	assert_string_equal(e.missing, "foo");
	rain_recipe_free(r);
}

static void test_probe_unreachable(void **state)
{
	int64_t t0 = time_mono_us();

	(void)state;
	assert_int_equal(build_mirror_probe("http://127.0.0.1:9/rocky",
					    "http://127.0.0.1:9/rocky/9/BaseOS/x86_64/os/repodata/repomd.xml", 5),
			 RAIN_ENET);
	assert_error_contains("the mirror http://127.0.0.1:9/rocky cannot be reached");
	assert_error_contains("repomd.xml");
	assert_true(time_mono_us() - t0 < 6 * 1000000);
}

static void test_probe_file(void **state)
{
	char dir[] = "/tmp/rain-probe-XXXXXX", path[128], url[160];
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/repomd.xml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("<repomd/>\n", f);
	fclose(f);
	snprintf(url, sizeof(url), "file://%s", path);
	assert_int_equal(build_mirror_probe("file:///mirror", url, 5), 0);
	snprintf(url, sizeof(url), "file://%s/missing.xml", dir);
	assert_int_equal(build_mirror_probe("file:///mirror", url, 5), RAIN_ENET);
	assert_error_contains("file:///mirror");
	test_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basearch),
		cmocka_unit_test(test_repo_rocky9),
		cmocka_unit_test(test_repo_alma8_mirror),
		cmocka_unit_test(test_repo_fedora40),
		cmocka_unit_test(test_repo_refused),
		cmocka_unit_test(test_base_packages),
		cmocka_unit_test(test_dracut_conf),
		cmocka_unit_test(test_dnf_argv),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_own_repository),
		cmocka_unit_test(test_signature_errors),
		cmocka_unit_test(test_probe_unreachable),
		cmocka_unit_test(test_probe_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
