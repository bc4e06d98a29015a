#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rain/error.h"
#include "rain/recipe.h"

static struct rain_recipe *parse_ok(const char *text)
{
	struct rain_recipe *r = NULL;
	int rc = rain_recipe_parse(text, "t.recipe", "/src", &r);

	if (rc != 0)
		fail_msg("unexpected error: %s", rain_error_last());
	return r;
}

/* Parsing must fail and the message must contain want. */
static void parse_bad(const char *text, const char *want)
{
	struct rain_recipe *r = NULL;
	int rc = rain_recipe_parse(text, "t.recipe", "/src", &r);

	assert_int_equal(rc, RAIN_EINVAL);
	assert_null(r);
	if (!strstr(rain_error_last(), want))
		fail_msg("message '%s' lacks '%s'", rain_error_last(), want);
}

static void test_full(void **state)
{
	struct rain_recipe *r = parse_ok(
		"# comment\n"
		"[image]\nname = web\ndistribution = debian\nrelease = bookworm\n"
		"architecture = x86_64\nbase = image:debian-base\n"
		"[packages]\ninstall = nginx, curl\ninstall = vim-tiny openssh-server=1:9.2p1-2\n"
		"[system]\nhostname = web-1.example.org\ntimezone = Europe/Berlin\nlocale = en_US.UTF-8\n"
		"services = nginx ssh\n"
		"[user alice]\nsudo = yes\nuid = 1500\n"
		"ssh_key = ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIabcdefghijklmnop alice@x\n"
		"[files]\ncopy = conf/nginx.conf:/etc/nginx/nginx.conf\n"
		"[scripts]\nrun = setup.sh\nisolation = vm\n"
		"[output]\nformats = qcow2, tar.zst\nsize = 3G\nboot_check = yes\n"
		"[metadata]\nos_distro = debian\n");

	assert_string_equal(r->name, "web");
	assert_string_equal(r->architecture, "amd64");   /* alias resolved */
	assert_string_equal(r->mirror, "http://deb.debian.org/debian");
	assert_string_equal(r->base, "debian-base");
	assert_int_equal(r->npackages, 4);
	assert_string_equal(r->packages[3], "openssh-server=1:9.2p1-2");
	assert_int_equal(r->nservices, 2);
	assert_int_equal(r->nusers, 1);
	assert_true(r->users[0].sudo);
	assert_int_equal(r->users[0].uid, 1500);
	assert_int_equal(r->users[0].nssh_keys, 1);
	assert_string_equal(r->files[0].src, "conf/nginx.conf");
	assert_string_equal(r->files[0].dest, "/etc/nginx/nginx.conf");
	assert_string_equal(r->scripts[0], "setup.sh");
	assert_true(r->scripts_in_vm);
	assert_int_equal(r->formats, RAIN_OUT_QCOW2 | RAIN_OUT_TAR_ZST);
	assert_int_equal(r->size, 3LL << 30);
	assert_true(r->kernel);          /* qcow2 boots: kernel by default */
	assert_true(r->boot_check);
	assert_string_equal(r->metadata[0].name, "os_distro");
	assert_string_equal(r->dir, "/src");
	rain_recipe_free(r);
}

static void test_defaults(void **state)
{
	struct rain_recipe *r = parse_ok("[image]\ndistribution = debian\n[output]\nformats = tar\n");

	assert_string_equal(r->release, "bookworm");
	assert_string_equal(r->architecture, "amd64");
	assert_null(r->base);
	assert_false(r->kernel);         /* a tarball needs no kernel */
	assert_int_equal(r->size, 2LL << 30);
	rain_recipe_free(r);
	r = parse_ok("[image]\ndistribution = rocky\n");
	assert_string_equal(r->release, "9");
	assert_int_equal(r->formats, RAIN_OUT_DISK);
	assert_true(r->kernel);
	assert_string_equal(rain_recipe_family(r->distribution), "rpm");
	rain_recipe_free(r);
}

static void test_round_trip(void **state)
{
	struct rain_recipe *r = parse_ok(
		"[image]\ndistribution = debian\nname = x\n[packages]\ninstall = a b\n"
		"[user bob]\nssh_key = ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC0123456789 bob\n"
		"[files]\ncopy = f:/etc/f\n[output]\nformats = disk squashfs\n[metadata]\nk = v w\n");
	struct rain_recipe *again;
	char *text, *text2;

	assert_int_equal(rain_recipe_format(r, &text), 0);
	assert_int_equal(rain_recipe_parse(text, "stored", ".", &again), 0);
	assert_int_equal(rain_recipe_format(again, &text2), 0);
	assert_string_equal(text, text2);
	assert_int_equal(again->formats, RAIN_OUT_DISK | RAIN_OUT_SQUASHFS);
	assert_string_equal(again->metadata[0].value, "v w");
	assert_string_equal(again->users[0].ssh_keys[0], r->users[0].ssh_keys[0]);
	free(text);
	free(text2);
	rain_recipe_free(r);
	rain_recipe_free(again);
}

static void test_errors_name_place(void **state)
{
	parse_bad("[image]\ndistribution = gentoo\n", "t.recipe:2: [image] distribution: unknown distribution 'gentoo'");
	parse_bad("[image]\ndistribution = debian\n[packages]\ninstall = ok, foo;rm\n",
		  "t.recipe:4: [packages] install: 'foo;rm' is not a package name");
	parse_bad("[image]\ndistribution = debian\n[packages]\ninstall = -bad\n", "'-bad' is not a package name");
	parse_bad("[image]\ndistribution = debian\nflavour = x\n", "t.recipe:3: [image] flavour: unknown key");
	parse_bad("[imgae]\ndistribution = debian\n", "unknown section [imgae]");
	parse_bad("distribution = debian\n", "outside any section");
	parse_bad("[image]\nname = x\n", "distribution is missing");
	parse_bad("[image]\ndistribution = debian\narchitecture = sparc\n", "unknown architecture 'sparc'");
	parse_bad("[image]\ndistribution = debian\nmirror = ftp://x\n", "not an http://");
	parse_bad("[image]\ndistribution = debian\nmirror = http://x/$(reboot)'\n", "not an http://");
	parse_bad("[image]\ndistribution = debian\nbase = other\n", "base must be");
	parse_bad("[image]\ndistribution = debian\nname = ../../etc\n", "without '../'");
	parse_bad("[image]\ndistribution = debian\n[system]\nhostname = -bad\n", "not a host name");
	parse_bad("[image]\ndistribution = debian\n[system]\ntimezone = ../../etc/passwd\n", "not a time zone");
	parse_bad("[image]\ndistribution = debian\n[user Bob]\nsudo = yes\n", "'Bob' is not a user name");
	parse_bad("[image]\ndistribution = debian\n[user bob]\nssh_key = hello\n", "not an OpenSSH public key");
	parse_bad("[image]\ndistribution = debian\n[user bob]\nuid = 0\n", "uid must be");
	parse_bad("[image]\ndistribution = debian\n[user root]\nsudo = yes\n", "only ssh_key");
	parse_bad("[image]\ndistribution = debian\n[files]\ncopy = a:/etc/../shadow\n", "destination");
	parse_bad("[image]\ndistribution = debian\n[files]\ncopy = ../secret:/etc/x\n", "source '../secret'");
	parse_bad("[image]\ndistribution = debian\n[files]\ncopy = a:relative\n", "absolute path");
	parse_bad("[image]\ndistribution = debian\n[files]\ncopy = nocolon\n", "expected SRC:DEST");
	parse_bad("[image]\ndistribution = debian\n[scripts]\nrun = ../x.sh\n", "without '..'");
	parse_bad("[image]\ndistribution = debian\n[scripts]\nisolation = chroot\n", "say sandbox (namespaces) or vm");
	parse_bad("[image]\ndistribution = debian\n[output]\nformats = vhd\n", "unknown format 'vhd'");
	parse_bad("[image]\ndistribution = debian\n[output]\nsize = 1M\n", "at least 64M");
	parse_bad("[image]\ndistribution = debian\n[output]\nsize = lots\n", "'lots' is not a size");
	parse_bad("[image]\ndistribution = debian\n[output]\nboot_check = maybe\n", "say yes or no");
	parse_bad("[image]\ndistribution = debian\n[packages]\nkernel = no\n[output]\nformats = disk\n",
		  "needs [packages] kernel = yes");
	parse_bad("[image]\ndistribution = debian\n[metadata]\nstatus = x\n", "cannot be an image property");
	parse_bad("[image]\ndistribution = debian\nno equals here\n", "t.recipe:3: expected 'key = value'");
}

static void test_sizes(void **state)
{
	static const struct { const char *s; int64_t v; } cases[] = {
		{ "64M", 64LL << 20 }, { "1.5G", 3LL << 29 }, { "2GiB", 2LL << 30 },
		{ "1T", 1LL << 40 }, { "134217728", 134217728 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char text[128];
		struct rain_recipe *r;

		snprintf(text, sizeof(text), "[image]\ndistribution = debian\n[output]\nsize = %s\n", cases[i].s);
		r = parse_ok(text);
		assert_int_equal(r->size, cases[i].v);
		rain_recipe_free(r);
	}
}

/* A stale message from an earlier call never shows after a later one
 * (rain_error_clear on entry, include/rain/error.h). */
/* [output] firmware: bios by default, uefi for amd64 and arm64 only, kept
 * through the canonical text, and refused where it means nothing. */
static void test_firmware(void **state)
{
	struct rain_recipe *r = parse_ok("[image]\ndistribution = debian\n");
	struct rain_recipe *again = NULL;
	char *text = NULL;

	assert_int_equal(r->firmware, RAIN_FIRMWARE_BIOS);
	assert_int_equal(rain_recipe_format(r, &text), 0);
	assert_null(strstr(text, "firmware"));      /* the default is not written */
	free(text);
	rain_recipe_free(r);

	r = parse_ok("[image]\ndistribution = debian\narchitecture = aarch64\n"
		     "[output]\nformats = qcow2\nfirmware = uefi\nboot_check = yes\n");
	assert_int_equal(r->firmware, RAIN_FIRMWARE_UEFI);
	assert_string_equal(r->architecture, "arm64");
	assert_true(r->kernel);
	assert_int_equal(rain_recipe_format(r, &text), 0);
	assert_non_null(strstr(text, "\nfirmware = uefi\n"));
	assert_int_equal(rain_recipe_parse(text, "again", ".", &again), 0);
	assert_int_equal(again->firmware, RAIN_FIRMWARE_UEFI);
	free(text);
	rain_recipe_free(again);
	rain_recipe_free(r);

	r = parse_ok("[image]\ndistribution = debian\n[output]\nfirmware = bios\nfirmware = uefi\n");
	assert_int_equal(r->firmware, RAIN_FIRMWARE_UEFI);       /* the last one counts */
	rain_recipe_free(r);

	assert_true(rain_recipe_firmware_known("amd64", RAIN_FIRMWARE_UEFI));
	assert_true(rain_recipe_firmware_known("arm64", RAIN_FIRMWARE_UEFI));
	assert_false(rain_recipe_firmware_known("i386", RAIN_FIRMWARE_UEFI));
	assert_true(rain_recipe_firmware_known("i386", RAIN_FIRMWARE_BIOS));
	assert_false(rain_recipe_firmware_known("arm64", RAIN_FIRMWARE_BIOS));
	assert_false(rain_recipe_firmware_known("riscv64", RAIN_FIRMWARE_UEFI));
	assert_string_equal(rain_firmware_name(RAIN_FIRMWARE_UEFI), "uefi");
	assert_string_equal(rain_firmware_name(RAIN_FIRMWARE_BIOS), "bios");

	/* hostile and meaningless values */
	parse_bad("[image]\ndistribution = debian\n[output]\nfirmware = UEFI\n",
		  "t.recipe:4: [output] firmware: say bios");
	parse_bad("[image]\ndistribution = debian\n[output]\nfirmware = uefi;reboot\n", "say bios");
	parse_bad("[image]\ndistribution = debian\n[output]\nfirmware =\n", "say bios");
	parse_bad("[image]\ndistribution = debian\n[output]\nfirmware = coreboot\n", "or uefi");
	parse_bad("[image]\ndistribution = debian\narchitecture = riscv64\n[output]\nfirmware = uefi\n",
		  "no UEFI firmware is known for riscv64 images (amd64 and arm64 have one)");
	parse_bad("[image]\ndistribution = debian\narchitecture = i386\n[output]\nfirmware = uefi\n",
		  "no UEFI firmware is known for i386");
	parse_bad("[image]\ndistribution = debian\n[output]\nformats = tar\nfirmware = uefi\n",
		  "firmware = uefi is how the disk and qcow2 formats boot");
	parse_bad("[image]\ndistribution = debian\n[output]\nfirmwares = uefi\n",
		  "unknown key (formats, size, boot_check, firmware)");
}

static void test_stale_message_cleared(void **state)
{
	struct rain_recipe *r = NULL;
	int64_t size;

	rain_error_set(RAIN_EIO, "stale");
	assert_int_equal(rain_recipe_parse("[image]\ndistribution = debian\n", "t.recipe", ".", &r), 0);
	assert_string_equal(rain_error_last(), "");
	rain_recipe_free(r);
	rain_error_set(RAIN_EIO, "stale");
	assert_int_equal(rain_recipe_parse_size("2G", &size), 0);
	assert_string_equal(rain_error_last(), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_errors_name_place),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_firmware),
		cmocka_unit_test(test_stale_message_cleared),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
