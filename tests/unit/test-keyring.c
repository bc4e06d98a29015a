/* Signing keys of recipes (lib/build/keyring.h): fingerprints of binary
 * and armored keyrings read by librpm, the pins a recipe or rain (for
 * Ubuntu) sets, and the errors for a wrong or missing key. The keys are
 * two ed25519 keys made for this test with gpg --batch --quick-gen-key;
 * their fingerprints are what gpg --show-keys prints for them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/build/keyring.h"
#include "rain/error.h"
#include "rain/recipe.h"
#include "util/strutil.h"
#include "testutil.h"

#define FP_A "60C439E0241FA6D754612EBD490BA45389CA6F07"
#define FP_B "C544EF5B2A7C60266DD84C8A3DD789338735FF48"

/* key A, as gpg --armor --export writes it */
static const char key_a_asc[] =
	"-----BEGIN PGP PUBLIC KEY BLOCK-----\n"
	"\n"
	"mDMEaxb7WBYJKwYBBAHaRw8BAQdATcyTW8B6hI+SFdKax13fTkrUjH7gYkrL/IEz\n"
	"GGGgQ2W0JXJhaW4gdW5pdCB0ZXN0IGtleSBBIDxhQHJhaW4uaW52YWxpZD6IkAQT\n"
	"FggAOBYhBGDEOeAkH6bXVGEuvUkLpFOJym8HBQJrFvtYAhsDBQsJCAcCBhUKCQgL\n"
	"AgQWAgMBAh4BAheAAAoJEEkLpFOJym8Hji0BAOpALl5zNFZJwJFAc1VKBlkF0Gzt\n"
	"XEaF3ueY9HGzsodBAP9pO62D2fhKyc4mEbTKQ10QVkoeDdMMmj8zG12b4axQBA==\n"
	"=jS3t\n"
	"-----END PGP PUBLIC KEY BLOCK-----\n";

/* keys A and B, as gpg --export writes them (apt's .gpg format) */
static const unsigned char keys_ab_gpg[] = {
	0x98, 0x33, 0x04, 0x6b, 0x16, 0xfb, 0x58, 0x16, 0x09, 0x2b, 0x06, 0x01,
	0x04, 0x01, 0xda, 0x47, 0x0f, 0x01, 0x01, 0x07, 0x40, 0x4d, 0xcc, 0x93,
	0x5b, 0xc0, 0x7a, 0x84, 0x8f, 0x92, 0x15, 0xd2, 0x9a, 0xc7, 0x5d, 0xdf,
	0x4e, 0x4a, 0xd4, 0x8c, 0x7e, 0xe0, 0x62, 0x4a, 0xcb, 0xfc, 0x81, 0x33,
	0x18, 0x61, 0xa0, 0x43, 0x65, 0xb4, 0x25, 0x72, 0x61, 0x69, 0x6e, 0x20,
	0x75, 0x6e, 0x69, 0x74, 0x20, 0x74, 0x65, 0x73, 0x74, 0x20, 0x6b, 0x65,
	0x79, 0x20, 0x41, 0x20, 0x3c, 0x61, 0x40, 0x72, 0x61, 0x69, 0x6e, 0x2e,
	0x69, 0x6e, 0x76, 0x61, 0x6c, 0x69, 0x64, 0x3e, 0x88, 0x90, 0x04, 0x13,
	0x16, 0x08, 0x00, 0x38, 0x16, 0x21, 0x04, 0x60, 0xc4, 0x39, 0xe0, 0x24,
	0x1f, 0xa6, 0xd7, 0x54, 0x61, 0x2e, 0xbd, 0x49, 0x0b, 0xa4, 0x53, 0x89,
	0xca, 0x6f, 0x07, 0x05, 0x02, 0x6b, 0x16, 0xfb, 0x58, 0x02, 0x1b, 0x03,
	0x05, 0x0b, 0x09, 0x08, 0x07, 0x02, 0x06, 0x15, 0x0a, 0x09, 0x08, 0x0b,
	0x02, 0x04, 0x16, 0x02, 0x03, 0x01, 0x02, 0x1e, 0x01, 0x02, 0x17, 0x80,
	0x00, 0x0a, 0x09, 0x10, 0x49, 0x0b, 0xa4, 0x53, 0x89, 0xca, 0x6f, 0x07,
	0x8e, 0x2d, 0x01, 0x00, 0xea, 0x40, 0x2e, 0x5e, 0x73, 0x34, 0x56, 0x49,
	0xc0, 0x91, 0x40, 0x73, 0x55, 0x4a, 0x06, 0x59, 0x05, 0xd0, 0x6c, 0xed,
	0x5c, 0x46, 0x85, 0xde, 0xe7, 0x98, 0xf4, 0x71, 0xb3, 0xb2, 0x87, 0x41,
	0x00, 0xff, 0x69, 0x3b, 0xad, 0x83, 0xd9, 0xf8, 0x4a, 0xc9, 0xce, 0x26,
	0x11, 0xb4, 0xca, 0x43, 0x5d, 0x10, 0x56, 0x4a, 0x1e, 0x0d, 0xd3, 0x0c,
	0x9a, 0x3f, 0x33, 0x1b, 0x5d, 0x9b, 0xe1, 0xac, 0x50, 0x04, 0x98, 0x33,
	0x04, 0x6b, 0x16, 0xfb, 0x58, 0x16, 0x09, 0x2b, 0x06, 0x01, 0x04, 0x01,
	0xda, 0x47, 0x0f, 0x01, 0x01, 0x07, 0x40, 0x69, 0x47, 0x03, 0xe2, 0x2c,
	0xb7, 0x85, 0x33, 0xe4, 0xbf, 0x1a, 0xd4, 0x3d, 0x36, 0x96, 0xe0, 0xeb,
	0x58, 0x2d, 0x5f, 0x47, 0x6d, 0x14, 0xb5, 0x2b, 0x62, 0xe3, 0x13, 0xd9,
	0x03, 0xb0, 0xfa, 0xb4, 0x25, 0x72, 0x61, 0x69, 0x6e, 0x20, 0x75, 0x6e,
	0x69, 0x74, 0x20, 0x74, 0x65, 0x73, 0x74, 0x20, 0x6b, 0x65, 0x79, 0x20,
	0x42, 0x20, 0x3c, 0x62, 0x40, 0x72, 0x61, 0x69, 0x6e, 0x2e, 0x69, 0x6e,
	0x76, 0x61, 0x6c, 0x69, 0x64, 0x3e, 0x88, 0x90, 0x04, 0x13, 0x16, 0x08,
	0x00, 0x38, 0x16, 0x21, 0x04, 0xc5, 0x44, 0xef, 0x5b, 0x2a, 0x7c, 0x60,
	0x26, 0x6d, 0xd8, 0x4c, 0x8a, 0x3d, 0xd7, 0x89, 0x33, 0x87, 0x35, 0xff,
	0x48, 0x05, 0x02, 0x6b, 0x16, 0xfb, 0x58, 0x02, 0x1b, 0x03, 0x05, 0x0b,
	0x09, 0x08, 0x07, 0x02, 0x06, 0x15, 0x0a, 0x09, 0x08, 0x0b, 0x02, 0x04,
	0x16, 0x02, 0x03, 0x01, 0x02, 0x1e, 0x01, 0x02, 0x17, 0x80, 0x00, 0x0a,
	0x09, 0x10, 0x3d, 0xd7, 0x89, 0x33, 0x87, 0x35, 0xff, 0x48, 0x02, 0xed,
	0x01, 0x00, 0xcf, 0xeb, 0x20, 0xa0, 0x58, 0x8b, 0xfa, 0x32, 0x28, 0xf0,
	0xca, 0x71, 0xd7, 0x1c, 0x8d, 0x96, 0x32, 0x24, 0x92, 0x71, 0x5e, 0xbe,
	0x2b, 0x10, 0x59, 0x99, 0x73, 0x2d, 0x8c, 0xfd, 0xd6, 0xec, 0x00, 0xff,
	0x49, 0x53, 0x1a, 0xa7, 0x71, 0x6c, 0x8e, 0x02, 0x21, 0xdd, 0x01, 0xb6,
	0x62, 0xa3, 0xb8, 0x70, 0x67, 0xff, 0x67, 0xf7, 0x52, 0x06, 0x4b, 0x31,
	0xe3, 0x0e, 0xd6, 0x73, 0xd3, 0x16, 0x13, 0x0b
};

static struct rain_recipe *recipe(const char *dist, const char *extra)
{
	struct rain_recipe *r = NULL;
	char text[512];

	snprintf(text, sizeof(text), "[image]\ndistribution = %s\nmirror = http://mirror.example/repo\n%s"
		 "[packages]\ninstall = x\n[output]\nformats = tar\n", dist, extra);
	assert_int_equal(rain_recipe_parse(text, "t.recipe", ".", &r), 0);
	return r;
}

static void test_fingerprints(void **state)
{
	char **fps;
	size_t n;

	(void)state;
	assert_int_equal(keyring_fingerprints(key_a_asc, strlen(key_a_asc), "a.asc", &fps, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(fps[0], FP_A);
	strv_free(fps, n);

	assert_int_equal(keyring_fingerprints(keys_ab_gpg, sizeof(keys_ab_gpg), "ab.gpg", &fps, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(fps[0], FP_A);
	assert_string_equal(fps[1], FP_B);
	strv_free(fps, n);
}

static void test_not_keyrings(void **state)
{
	static const char text[] = "this is no key\n";
	char **fps = (char **)1;
	size_t n = 7;

	(void)state;
	assert_int_equal(keyring_fingerprints(text, strlen(text), "x.asc", &fps, &n), RAIN_EFORMAT);
	assert_null(fps);
	assert_int_equal(n, 0);
	assert_error_contains("x.asc: is no ASCII-armored public key block");
	assert_int_equal(keyring_fingerprints("", 0, "e", &fps, &n), RAIN_EFORMAT);
	assert_error_contains("e: is empty");
	/* a binary keyring cut short, and one with garbage after its keys */
	assert_int_equal(keyring_fingerprints(keys_ab_gpg, 40, "cut.gpg", &fps, &n), RAIN_EFORMAT);
	assert_error_contains("cut.gpg: byte 0");
	{
		unsigned char buf[sizeof(keys_ab_gpg) + 4];

		memcpy(buf, keys_ab_gpg, sizeof(keys_ab_gpg));
		memcpy(buf + sizeof(keys_ab_gpg), "\x99\xff\xff\x00", 4);
		assert_int_equal(keyring_fingerprints(buf, sizeof(buf), "tail.gpg", &fps, &n), RAIN_EFORMAT);
		assert_null(fps);
	}
	/* armor whose base64 is garbage */
	{
		static const char bad[] = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!!\n"
					  "-----END PGP PUBLIC KEY BLOCK-----\n";

		assert_int_equal(keyring_fingerprints(bad, strlen(bad), "bad.asc", &fps, &n), RAIN_EFORMAT);
	}
}

static void test_fingerprint_parse(void **state)
{
	char fp[RAIN_FINGERPRINT_LEN + 1];

	(void)state;
	assert_int_equal(rain_recipe_fingerprint_parse("f6ec b376 2474 eda9 d21b  7022 8719 20d1 991b c93c", fp), 0);
	assert_string_equal(fp, "F6ECB3762474EDA9D21B7022871920D1991BC93C");
	assert_int_equal(rain_recipe_fingerprint_parse("F6ECB3762474EDA9D21B7022871920D1991BC93", fp), RAIN_EINVAL);
	assert_int_equal(rain_recipe_fingerprint_parse("F6ECB3762474EDA9D21B7022871920D1991BC93C0", fp), RAIN_EINVAL);
	assert_int_equal(rain_recipe_fingerprint_parse("G6ECB3762474EDA9D21B7022871920D1991BC93C", fp), RAIN_EINVAL);
	assert_int_equal(rain_recipe_fingerprint_parse("", fp), RAIN_EINVAL);
}

static void test_pins(void **state)
{
	char *ab[] = { FP_A, FP_B }, *b_only[] = { FP_B };
	struct rain_recipe *r = recipe("rpm", "keyring = k.gpg\nkey_fingerprint = " FP_A "\n");

	(void)state;
	assert_int_equal(keyring_check(r, "k.gpg", ab, 2), 0);
	assert_int_equal(keyring_check(r, "k.gpg", b_only, 1), RAIN_EINVAL);
	assert_error_contains("t.recipe: [image] keyring k.gpg holds no key with the fingerprint " FP_A
			      " that [image] key_fingerprint pins (it holds " FP_B ")");
	rain_recipe_free(r);

	/* no pin: any key of the keyring */
	r = recipe("rpm", "keyring = k.gpg\n");
	assert_int_equal(keyring_check(r, "k.gpg", b_only, 1), 0);
	rain_recipe_free(r);

	/* ubuntu: rain pins Ubuntu's archive keys */
	r = recipe("ubuntu", "keyring = k.gpg\n");
	assert_int_equal(keyring_check(r, "k.gpg", ab, 2), RAIN_EINVAL);
	assert_error_contains("holds none of ubuntu's archive keys (Ubuntu Archive Automatic Signing Key "
			      "(2018) <ftpmaster@ubuntu.com> F6ECB3762474EDA9D21B7022871920D1991BC93C or "
			      "Ubuntu Archive Automatic Signing Key (2012) <ftpmaster@ubuntu.com> "
			      "790BC7277767219C42C86F933B4FE6ACC0B21F32)");
	{
		char *ubuntu[] = { "790BC7277767219C42C86F933B4FE6ACC0B21F32", "F6ECB3762474EDA9D21B7022871920D1991BC93C" };

		assert_int_equal(keyring_check(r, "k.gpg", ubuntu, 2), 0);
	}
	rain_recipe_free(r);

	/* ubuntu with a mirror signed by a key of one's own: pinned instead */
	r = recipe("ubuntu", "keyring = k.gpg\nkey_fingerprint = " FP_B "\n");
	assert_int_equal(keyring_check(r, "k.gpg", ab, 2), 0);
	rain_recipe_free(r);
}

static void test_missing(void **state)
{
	struct rain_recipe *r = recipe("ubuntu", "release = noble\n");

	(void)state;
	assert_int_equal(keyring_missing(r), RAIN_ENOTFOUND);
	assert_error_contains("t.recipe: ubuntu noble is signed with the Ubuntu Archive Automatic Signing Key "
			      "(2018) <ftpmaster@ubuntu.com>, fingerprint F6ECB3762474EDA9D21B7022871920D1991BC93C, "
			      "and this machine has no keyring holding it (Debian ships none): set [image] keyring");
	rain_recipe_free(r);
}

static void test_recipe_keys(void **state)
{
	struct rain_recipe *r = NULL;
	char *text = NULL;

	(void)state;
	r = recipe("rpm", "keyring = keys/k.asc\nkey_fingerprint = 60c4 39e0 241f a6d7 5461  2ebd 490b a453 89ca 6f07\n");
	assert_string_equal(r->keyring, "keys/k.asc");
	assert_string_equal(r->key_fingerprint, FP_A);
	assert_int_equal(rain_recipe_format(r, &text), 0);
	assert_non_null(strstr(text, "keyring = keys/k.asc\nkey_fingerprint = " FP_A "\n"));
	free(text);
	rain_recipe_free(r);

	r = NULL;
	assert_int_equal(rain_recipe_parse("[image]\ndistribution = rpm\nmirror = http://m/\n[packages]\ninstall = x\n",
					   "t.recipe", ".", &r), RAIN_EINVAL);
	assert_error_contains("distribution = rpm needs [image] keyring");
	assert_int_equal(rain_recipe_parse("[image]\ndistribution = rpm\nkeyring = k\n", "t.recipe", ".", &r),
			 RAIN_EINVAL);
	assert_error_contains("distribution = rpm needs [image] mirror");
	assert_int_equal(rain_recipe_parse("[image]\ndistribution = ubuntu\nkey_fingerprint = 12\n", "t.recipe", ".",
					   &r), RAIN_EINVAL);
	assert_error_contains("'12' is not an OpenPGP v4 key fingerprint");
	assert_int_equal(rain_recipe_parse("[image]\ndistribution = ubuntu\nkeyring = ../k\n", "t.recipe", ".", &r),
			 RAIN_EINVAL);
	assert_null(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fingerprints),
		cmocka_unit_test(test_not_keyrings),
		cmocka_unit_test(test_fingerprint_parse),
		cmocka_unit_test(test_pins),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_recipe_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
