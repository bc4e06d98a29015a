/* The Debian/Ubuntu builder backend's base package sets (builders/deb.c):
 * Debian's unchanged (its cached bases keep their keys), Ubuntu's with the
 * apt and initramfs-tools its minbase and kernels leave out, and Ubuntu's
 * kernel (linux-image-virtual). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/build/build-internal.h"
#include "rain/error.h"
#include "rain/recipe.h"
#include "util/strutil.h"
#include "testutil.h"

/* The base packages of a recipe, joined by spaces (a new string). */
static char *base_of(const char *dist, const char *arch, const char *formats)
{
	struct rain_recipe *r = NULL;
	char text[512], **pkgs, *list;
	size_t n;

	snprintf(text, sizeof(text), "[image]\ndistribution = %s\narchitecture = %s\n[output]\nformats = %s\n",
		 dist, arch, formats);
	assert_int_equal(rain_recipe_parse(text, "t.recipe", ".", &r), 0);
	assert_int_equal(rain_builder_deb.base_packages(r, &pkgs, &n), 0);
	list = strv_join(pkgs, n, " ");
	assert_non_null(list);
	strv_free(pkgs, n);
	rain_recipe_free(r);
	return list;
}

static void test_debian(void **state)
{
	char *s;

	(void)state;
	s = base_of("debian", "amd64", "disk");
	assert_string_equal(s, "systemd-sysv udev linux-image-amd64 zstd");
	free(s);
	s = base_of("debian", "arm64", "tar");
	assert_string_equal(s, "systemd-sysv udev");
	free(s);
}

static void test_ubuntu(void **state)
{
	char *s;

	(void)state;
	s = base_of("ubuntu", "amd64", "disk");
	assert_string_equal(s, "systemd-sysv udev apt linux-image-virtual zstd initramfs-tools");
	free(s);
	s = base_of("ubuntu", "ppc64el", "disk");
	assert_string_equal(s, "systemd-sysv udev apt linux-image-generic zstd initramfs-tools");
	free(s);
	s = base_of("ubuntu", "amd64", "tar");
	assert_string_equal(s, "systemd-sysv udev apt");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_debian),
		cmocka_unit_test(test_ubuntu),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
