/* Unit tests for src/util: string helpers, the INI reader, UUIDs, time
 * formatting and parsing, and the file-system helpers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "rain/error.h"
#include "util/fsutil.h"
#include "util/html.h"
#include "util/ini.h"
#include "util/log-callback.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "util/uuid.h"

/* ---- temporary directories ---- */

static int tmpdir_setup(void **state)
{
	char *dir = strdup("/tmp/rain-test-util.XXXXXX");

	if (!dir || !mkdtemp(dir))
		return -1;
	*state = dir;
	return 0;
}

static int tmpdir_teardown(void **state)
{
	char *dir = *state;

	test_rmtree(dir);
	free(dir);
	return 0;
}

static char *path_in(void **state, const char *name)
{
	char *p = fs_path_join(*state, name);

	assert_non_null(p);
	return p;
}

static void write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* ---- strutil ---- */

static void test_prefix_suffix(void **state)
{
	assert_true(str_has_prefix("sqlite:/x", "sqlite:"));
	assert_true(str_has_prefix("abc", ""));
	assert_false(str_has_prefix("sql", "sqlite:"));
	assert_true(str_has_suffix("image.qcow2", ".qcow2"));
	assert_true(str_has_suffix("x", ""));
	assert_false(str_has_suffix("qcow2", "image.qcow2"));
	assert_false(str_has_suffix("abc", "b"));
}

static void test_str_is_printable(void **state)
{
	char buf[300];

	assert_true(str_is_printable("ubuntu 24.04", 255));
	assert_true(str_is_printable("caf\xc3\xa9", 255));   /* UTF-8 is fine */
	assert_true(str_is_printable("~!@#$%^&*()", 255));
	assert_false(str_is_printable("", 255));
	assert_false(str_is_printable(NULL, 255));
	assert_false(str_is_printable("a\nb", 255));
	assert_false(str_is_printable("a\tb", 255));
	assert_false(str_is_printable("\x1b[31m", 255));
	assert_false(str_is_printable("del\x7f", 255));
	assert_false(str_is_printable("\r", 255));

	memset(buf, 'x', sizeof(buf));
	buf[255] = '\0';
	assert_true(str_is_printable(buf, 255));
	buf[255] = 'x';
	buf[256] = '\0';
	assert_false(str_is_printable(buf, 255));
	assert_true(str_is_printable("abc", 3));
	assert_false(str_is_printable("abcd", 3));
}

static void test_hex(void **state)
{
	const unsigned char in[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
	char out[2 * sizeof(in) + 1];

	memset(out, 'Z', sizeof(out));
	hex_encode(in, sizeof(in), out);
	assert_string_equal(out, "00017f80abff");
	hex_encode(in, 0, out);
	assert_string_equal(out, "");

	assert_true(hex_is_valid("00017f80abff", 12));
	assert_true(hex_is_valid("", 0));
	assert_false(hex_is_valid("00017F80ABFF", 12));   /* lowercase only */
	assert_false(hex_is_valid("00017f80abf", 12));    /* short */
	assert_false(hex_is_valid("00017f80abff0", 12));  /* long */
	assert_false(hex_is_valid("00017f80abfg", 12));
	assert_false(hex_is_valid("0001 f80abff", 12));
}

static void test_str_equal_ct(void **state)
{
	assert_true(str_equal_ct("secret", "secret"));
	assert_true(str_equal_ct("", ""));
	assert_false(str_equal_ct("secret", "secreT"));
	assert_false(str_equal_ct("secre", "secret"));
	assert_false(str_equal_ct("secrets", "secret"));
	assert_false(str_equal_ct("", "secret"));
	assert_false(str_equal_ct("secret", ""));
	assert_false(str_equal_ct("xecret", "secret"));
	/* a prefix of the secret, or the secret as a prefix, never matches */
	assert_false(str_equal_ct("a", "ab"));
	assert_false(str_equal_ct("ab", "a"));
}

static void test_str_to_i64(void **state)
{
	int64_t v = 42;

	assert_int_equal(str_to_i64("0", &v), 0);
	assert_true(v == 0);
	assert_int_equal(str_to_i64("1234567890123", &v), 0);
	assert_true(v == 1234567890123LL);
	assert_int_equal(str_to_i64("-17", &v), 0);
	assert_true(v == -17);
	assert_int_equal(str_to_i64("9223372036854775807", &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(str_to_i64("-9223372036854775808", &v), 0);
	assert_true(v == INT64_MIN);

	v = 42;
	assert_int_equal(str_to_i64("9223372036854775808", &v), RAIN_EINVAL);
	assert_int_equal(str_to_i64("-9223372036854775809", &v), RAIN_EINVAL);
	assert_int_equal(str_to_i64("", &v), RAIN_EINVAL);
	assert_int_equal(str_to_i64(NULL, &v), RAIN_EINVAL);
	assert_int_equal(str_to_i64("-", &v), RAIN_EINVAL);
	assert_int_equal(str_to_i64("+5", &v), RAIN_EINVAL);
	assert_int_equal(str_to_i64(" 5", &v), RAIN_EINVAL);
	assert_int_equal(str_to_i64("\t5", &v), RAIN_EINVAL);
	assert_int_equal(str_to_i64("\n5", &v), RAIN_EINVAL);
	assert_int_equal(str_to_i64("5 ", &v), RAIN_EINVAL);
	assert_int_equal(str_to_i64("5x", &v), RAIN_EINVAL);
	assert_int_equal(str_to_i64("0x10", &v), RAIN_EINVAL);
	assert_int_equal(str_to_i64("1e3", &v), RAIN_EINVAL);
	assert_int_equal(str_to_i64("1.0", &v), RAIN_EINVAL);
	assert_true(v == 42);   /* untouched on failure */
}

static void test_url_decode(void **state)
{
	static const char *const bad[] = {
		"%00", "a%00b", "%", "abc%", "%4", "a%4", "%zz", "%g0", "%0g",
		"%%", "%-1", "% 1", NULL
	};
	char *s;

	s = str_url_decode("a%20b+c%2Fd%7e%7E");
	assert_non_null(s);
	assert_string_equal(s, "a b c/d~~");
	free(s);
	s = str_url_decode("caf%C3%a9");
	assert_non_null(s);
	assert_string_equal(s, "caf\xc3\xa9");
	free(s);
	s = str_url_decode("");
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
	s = str_url_decode("plain-text_1.2~");
	assert_non_null(s);
	assert_string_equal(s, "plain-text_1.2~");
	free(s);
	s = str_url_decode("%2500");   /* a literal "%00" once decoded */
	assert_non_null(s);
	assert_string_equal(s, "%00");
	free(s);
	s = str_url_decode("%ff%01");
	assert_non_null(s);
	assert_memory_equal(s, "\xff\x01", 3);
	free(s);

	for (size_t i = 0; bad[i]; i++) {
		s = str_url_decode(bad[i]);
		if (s)
			fail_msg("'%s' decoded to '%s' instead of failing", bad[i], s);
	}
}

static void test_url_encode(void **state)
{
	char all[256], *enc, *dec;

	enc = str_url_encode("a b/c?d=e&f#g%h+i");
	assert_non_null(enc);
	assert_string_equal(enc, "a%20b%2Fc%3Fd%3De%26f%23g%25h%2Bi");
	free(enc);
	enc = str_url_encode("AZaz09-._~");
	assert_non_null(enc);
	assert_string_equal(enc, "AZaz09-._~");
	free(enc);
	enc = str_url_encode("caf\xc3\xa9\x01\x7f");
	assert_non_null(enc);
	assert_string_equal(enc, "caf%C3%A9%01%7F");
	free(enc);
	enc = str_url_encode("");
	assert_non_null(enc);
	assert_string_equal(enc, "");
	free(enc);

	/* every byte survives a round trip */
	for (int i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	all[255] = '\0';
	enc = str_url_encode(all);
	assert_non_null(enc);
	assert_int_equal(strlen(enc), strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%"));
	dec = str_url_decode(enc);
	assert_non_null(dec);
	assert_string_equal(dec, all);
	free(enc);
	free(dec);
}

/* ---- ini ---- */

struct ini_entry {
	char section[32], key[32], value[64], file[64];
	int line;
};

struct ini_log {
	struct ini_entry e[32];
	int n;
	int fail_at;    /* return an error on this entry (1-based), 0: never */
};

static int ini_collect(void *ud, const char *file, int line, const char *section,
		       const char *key, const char *value)
{
	struct ini_log *log = ud;
	struct ini_entry *e;

	assert_true(log->n < 32);
	e = &log->e[log->n++];
	snprintf(e->section, sizeof(e->section), "%s", section);
	snprintf(e->key, sizeof(e->key), "%s", key);
	snprintf(e->value, sizeof(e->value), "%s", value);
	snprintf(e->file, sizeof(e->file), "%s", file);
	e->line = line;
	if (log->fail_at == log->n)
		return rain_error_set(RAIN_EINVAL, "%s:%d: unknown key '%s'", file, line, key);
	return 0;
}

static void assert_entry(const struct ini_entry *e, const char *section, const char *key,
			 const char *value, int line)
{
	assert_string_equal(e->section, section);
	assert_string_equal(e->key, key);
	assert_string_equal(e->value, value);
	assert_int_equal(e->line, line);
}

static void test_ini_parse(void **state)
{
	static const char text[] =
		"# a comment\n"                              /* 1 */
		"top = level\n"                              /* 2 */
		"\n"                                         /* 3 */
		"[server]\n"                                 /* 4 */
		"listen = 0.0.0.0:9292   \n"                 /* 5 */
		"   ; another comment\n"                     /* 6 */
		"\tworkers=4\n"                              /* 7 */
		"empty =\n"                                  /* 8 */
		"url = http://h/?a=b=c\n"                    /* 9 */
		"[ storage ]\n"                              /* 10 */
		"dir = /var/lib/rain\n"                      /* 11 */
		"dir = /srv/rain\n"                          /* 12 */
		"  # indented comment\n"                     /* 13 */
		"key with space = v w\r\n"                   /* 14 */
		"[server]\n"                                 /* 15 */
		"last=1";                                    /* 16, no newline */
	struct ini_log log = { 0 };

	assert_int_equal(ini_parse_string(text, "raind.conf", ini_collect, &log), 0);
	assert_int_equal(log.n, 9);
	assert_entry(&log.e[0], "", "top", "level", 2);
	assert_entry(&log.e[1], "server", "listen", "0.0.0.0:9292", 5);
	assert_entry(&log.e[2], "server", "workers", "4", 7);
	assert_entry(&log.e[3], "server", "empty", "", 8);
	assert_entry(&log.e[4], "server", "url", "http://h/?a=b=c", 9);
	assert_entry(&log.e[5], "storage", "dir", "/var/lib/rain", 11);
	assert_entry(&log.e[6], "storage", "dir", "/srv/rain", 12);
	assert_entry(&log.e[7], "storage", "key with space", "v w", 14);
	assert_entry(&log.e[8], "server", "last", "1", 16);
	assert_string_equal(log.e[0].file, "raind.conf");

	memset(&log, 0, sizeof(log));
	assert_int_equal(ini_parse_string("", "x", ini_collect, &log), 0);
	assert_int_equal(ini_parse_string("\n\n# only comments\n;\n", "x", ini_collect, &log), 0);
	assert_int_equal(log.n, 0);
}

static void test_ini_errors(void **state)
{
	static const struct {
		const char *text;
		const char *msg;
	} cases[] = {
		{ "a = 1\nno equals here\n", "f.conf:2: expected 'key = value'" },
		{ "[server\nx = 1\n", "f.conf:1: bad section header" },
		{ "\n\n[]\n", "f.conf:3: bad section header" },
		{ "[a] trailing\n", "f.conf:1: bad section header" },
		{ "[a]]\n", "f.conf:1: bad section header" },
		{ "[a]\n = value\n", "f.conf:2: missing key" },
		{ "[a]\nkey\n", "f.conf:2: expected 'key = value'" },
	};
	struct ini_log log;

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		memset(&log, 0, sizeof(log));
		rain_error_clear();
		assert_int_equal(ini_parse_string(cases[i].text, "f.conf", ini_collect, &log),
				 RAIN_EINVAL);
		assert_error_contains(cases[i].msg);
	}

	/* the entry before an error was seen, nothing after it */
	memset(&log, 0, sizeof(log));
	assert_int_equal(ini_parse_string("a = 1\nbad\nb = 2\n", "f.conf", ini_collect, &log),
			 RAIN_EINVAL);
	assert_int_equal(log.n, 1);

	/* a handler's error stops the parse and comes back unchanged */
	memset(&log, 0, sizeof(log));
	log.fail_at = 2;
	assert_int_equal(ini_parse_string("a = 1\n\nb = 2\nc = 3\n", "h.conf", ini_collect, &log),
			 RAIN_EINVAL);
	assert_int_equal(log.n, 2);
	assert_string_equal(rain_error_last(), "h.conf:3: unknown key 'b'");
}

static void test_ini_file(void **state)
{
	_cleanup_free_ char *path = path_in(state, "raind.conf");
	_cleanup_free_ char *missing = path_in(state, "nope.conf");
	_cleanup_free_ char *big = path_in(state, "big.conf");
	static const char text[] = "[server]\nlisten = :9292\n\nbad line\n";
	struct ini_log log = { 0 };
	char *data;

	write_file(path, text, strlen(text), 0600);
	assert_int_equal(ini_parse_file(path, ini_collect, &log), RAIN_EINVAL);
	assert_int_equal(log.n, 1);
	assert_entry(&log.e[0], "server", "listen", ":9292", 2);
	assert_string_equal(log.e[0].file, path);
	{
		char want[512];

		snprintf(want, sizeof(want), "%s:4: expected 'key = value'", path);
		assert_error_contains(want);
	}

	assert_int_equal(ini_parse_file(missing, ini_collect, &log), RAIN_ENOTFOUND);
	assert_error_contains(missing);

	/* over 1 MiB is refused before parsing */
	data = malloc((1 << 20) + 2);
	assert_non_null(data);
	memset(data, '#', (1 << 20) + 1);
	write_file(big, data, (1 << 20) + 1, 0600);
	free(data);
	memset(&log, 0, sizeof(log));
	assert_int_equal(ini_parse_file(big, ini_collect, &log), RAIN_ETOOBIG);
	assert_int_equal(log.n, 0);
}

/* ---- uuid ---- */

static void test_uuid_generate(void **state)
{
	char ids[64][UUID_STR_LEN];

	for (int i = 0; i < 64; i++) {
		memset(ids[i], 'Z', UUID_STR_LEN);
		assert_int_equal(uuid_generate(ids[i]), 0);
		assert_int_equal(strlen(ids[i]), 36);
		assert_true(uuid_is_valid(ids[i]));
		assert_int_equal(ids[i][14], '4');                     /* version 4 */
		assert_non_null(strchr("89ab", ids[i][19]));           /* RFC 4122 variant */
		for (int k = 0; k < 36; k++)
			assert_true(ids[i][k] == '-' || (ids[i][k] >= '0' && ids[i][k] <= '9') ||
				    (ids[i][k] >= 'a' && ids[i][k] <= 'f'));
		for (int j = 0; j < i; j++)
			assert_string_not_equal(ids[i], ids[j]);
	}
}

static void test_uuid_valid(void **state)
{
	char s[UUID_STR_LEN] = "7D5C3A6E-2B1F-4E0A-9C3D-1A2B3C4D5E6F";

	assert_true(uuid_is_valid("7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6f"));
	assert_true(uuid_is_valid(s));
	assert_true(uuid_is_valid("00000000-0000-0000-0000-000000000000"));
	assert_false(uuid_is_valid(""));
	assert_false(uuid_is_valid("7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6"));
	assert_false(uuid_is_valid("7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6f0"));
	assert_false(uuid_is_valid("7d5c3a6e2b1f-4e0a-9c3d-1a2b3c4d5e6f0"));
	assert_false(uuid_is_valid("7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6g"));
	assert_false(uuid_is_valid("7d5c3a6e_2b1f_4e0a_9c3d_1a2b3c4d5e6f"));
	assert_false(uuid_is_valid("{7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6}"));
	assert_false(uuid_is_valid("../../../../etc/passwd/../../../../.."));
	assert_false(uuid_is_valid("7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6\n"));

	uuid_canonicalize(s);
	assert_string_equal(s, "7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6f");
	assert_true(uuid_is_valid(s));
}

/* ---- timeutil ---- */

static void test_time_format(void **state)
{
	char buf[32];

	time_format_iso(0, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01T00:00:00Z");
	time_format_iso(1700000000123456LL, buf, sizeof(buf));
	assert_string_equal(buf, "2023-11-14T22:13:20Z");
	time_format_iso(951782400999999LL, buf, sizeof(buf));   /* leap day */
	assert_string_equal(buf, "2000-02-29T00:00:00Z");
	time_format_iso(4102444799000000LL, buf, sizeof(buf));
	assert_string_equal(buf, "2099-12-31T23:59:59Z");
	/* 21 bytes is enough */
	time_format_iso(1700000000000000LL, buf, 21);
	assert_string_equal(buf, "2023-11-14T22:13:20Z");
}

static void test_time_parse(void **state)
{
	int64_t us = -1;

	assert_int_equal(time_parse_iso("2023-11-14T22:13:20Z", &us), 0);
	assert_true(us == 1700000000000000LL);
	assert_int_equal(time_parse_iso("2023-11-14T22:13:20+00:00", &us), 0);
	assert_true(us == 1700000000000000LL);
	assert_int_equal(time_parse_iso("1970-01-01T00:00:00Z", &us), 0);
	assert_true(us == 0);
	assert_int_equal(time_parse_iso("2000-02-29T00:00:00Z", &us), 0);
	assert_true(us == 951782400000000LL);

	/* fractional seconds, to the microsecond, extra digits dropped */
	assert_int_equal(time_parse_iso("2023-11-14T22:13:20.5Z", &us), 0);
	assert_true(us == 1700000000500000LL);
	assert_int_equal(time_parse_iso("2023-11-14T22:13:20.123456Z", &us), 0);
	assert_true(us == 1700000000123456LL);
	assert_int_equal(time_parse_iso("2023-11-14T22:13:20.000001+00:00", &us), 0);
	assert_true(us == 1700000000000001LL);
	assert_int_equal(time_parse_iso("2023-11-14T22:13:20.1234569Z", &us), 0);
	assert_true(us == 1700000000123456LL);
	assert_int_equal(time_parse_iso("2023-11-14T22:13:20.050Z", &us), 0);
	assert_true(us == 1700000000050000LL);
}

static void test_time_parse_bad(void **state)
{
	static const char *const bad[] = {
		"", "garbage", "2023-11-14", "2023-11-14 22:13:20Z",
		"2023-11-14T22:13Z", "2023-11-14T22:13:20+01:00",
		"2023-11-14T22:13:20-05:00", "2023-11-14T22:13:20Zjunk",
		"2023-11-14T22:13:20ZZ", "2023-13-01T00:00:00Z",
		"2023-11-32T00:00:00Z", "2023-11-14T25:00:00Z",
		"2023-11-14T22:61:00Z", "2023-11-14T22:13:20.5X",
		"2023-11-14T22:13:20.5+00:00x", "T22:13:20Z", NULL
	};
	int64_t us = 77;

	for (size_t i = 0; bad[i]; i++) {
		if (time_parse_iso(bad[i], &us) != RAIN_EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
	}
	assert_true(us == 77);
}

static void test_time_round_trip(void **state)
{
	int64_t now = time_now_us(), back = 0, m1, m2;
	char buf[32];

	/* sane clocks: after 2020, monotonic never goes back */
	assert_true(now > 1577836800000000LL);
	m1 = time_mono_us();
	m2 = time_mono_us();
	assert_true(m2 >= m1);

	time_format_iso(now, buf, sizeof(buf));
	assert_int_equal(strlen(buf), 20);
	assert_int_equal(time_parse_iso(buf, &back), 0);
	assert_true(back == now - now % 1000000);

	for (int64_t t = 0; t < 4102444800LL; t += 86400LL * 367 + 3661) {
		time_format_iso(t * 1000000 + 999999, buf, sizeof(buf));
		assert_int_equal(time_parse_iso(buf, &back), 0);
		assert_true(back == t * 1000000);
	}
}

/* ---- fsutil ---- */

static void test_fs_write_atomic(void **state)
{
	_cleanup_free_ char *path = path_in(state, "token");
	char *data = NULL;
	size_t len = 0;
	struct stat st;
	mode_t old = umask(022);

	assert_int_equal(fs_write_atomic(path, "first", 5, 0600), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(fs_read_small(path, 100, &data, &len), 0);
	assert_int_equal(len, 5);
	assert_string_equal(data, "first");
	free(data);

	/* replacing keeps only the new content and the requested mode */
	chmod(path, 0644);
	assert_int_equal(fs_write_atomic(path, "2nd", 3, 0600), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(fs_read_small(path, 100, &data, &len), 0);
	assert_int_equal(len, 3);
	assert_string_equal(data, "2nd");
	free(data);

	/* empty data and binary data */
	assert_int_equal(fs_write_atomic(path, "", 0, 0600), 0);
	assert_int_equal(fs_read_small(path, 100, &data, &len), 0);
	assert_int_equal(len, 0);
	free(data);
	assert_int_equal(fs_write_atomic(path, "a\0b", 3, 0600), 0);
	assert_int_equal(fs_read_small(path, 100, &data, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(data, "a\0b", 4);
	free(data);

	/* no temporaries are left behind */
	{
		char cmd[512];
		FILE *p;
		int n = -1;

		snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", (char *)*state);
		p = popen(cmd, "r");
		assert_non_null(p);
		assert_int_equal(fscanf(p, "%d", &n), 1);
		pclose(p);
		assert_int_equal(n, 1);
	}
	umask(old);
}

static void test_fs_write_atomic_stale_tmp(void **state)
{
	/* a temporary left by an earlier process with the same pid must not
	 * lend its (wider) mode to the new file */
	_cleanup_free_ char *path = path_in(state, "secret");
	char tmp[512];
	struct stat st;
	mode_t old = umask(0);

	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	write_file(tmp, "stale stale stale", 17, 0666);
	assert_int_equal(fs_write_atomic(path, "key", 3, 0600), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 3);
	assert_int_equal(access(tmp, F_OK), -1);
	umask(old);
}

/* Files in a tree someone else wrote: opened beneath its directory, never
 * through a symlink, checked through the fd. */
static void test_fs_open_beneath(void **state)
{
	_cleanup_free_ char *file = path_in(state, "file"), *slink = path_in(state, "link");
	_cleanup_free_ char *sub = path_in(state, "sub"), *sublink = path_in(state, "sub/up");
	_cleanup_free_ char *hard = path_in(state, "hard"), *text = NULL;
	struct stat st;
	size_t len;
	int dirfd, fd;

	write_file(file, "data", 4, 0600);
	assert_int_equal(symlink(file, slink), 0);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(symlink("..", sublink), 0);
	dirfd = open(*state, O_RDONLY | O_DIRECTORY);
	assert_true(dirfd >= 0);

	fd = fs_open_regular_beneath(dirfd, "file", O_RDONLY, true, &st);
	assert_true(fd >= 0);
	assert_int_equal(st.st_size, 4);
	assert_int_equal(fs_read_small_fd(fd, 4, "file", &text, &len), 0);
	assert_string_equal(text, "data");
	close(fd);
	/* a symlink, anywhere on the way, is refused; so is leaving the dir */
	assert_int_equal(fs_open_beneath(dirfd, "link", O_RDONLY, 0), RAIN_EFORBIDDEN);
	assert_error_contains("link is a symbolic link");
	assert_int_equal(fs_open_beneath(dirfd, "sub/up/file", O_RDONLY, 0), RAIN_EFORBIDDEN);
	assert_int_equal(fs_open_beneath(dirfd, "../x", O_RDONLY, 0), RAIN_EFORBIDDEN);
	assert_int_equal(fs_open_beneath(dirfd, "missing", O_RDONLY, 0), RAIN_ENOTFOUND);
	/* creating through a symlink is refused too */
	assert_int_equal(fs_open_beneath(dirfd, "link", O_WRONLY | O_CREAT, 0600), RAIN_EFORBIDDEN);
	/* a directory, or a file with another hard link, is not a regular file of its own */
	assert_int_equal(fs_open_regular_beneath(dirfd, "sub", O_RDONLY, false, NULL), RAIN_EFORBIDDEN);
	assert_int_equal(link(file, hard), 0);
	assert_int_equal(fs_open_regular_beneath(dirfd, "file", O_RDONLY, true, NULL), RAIN_EFORBIDDEN);
	assert_error_contains("other hard links");
	fd = fs_open_regular_beneath(dirfd, "file", O_RDONLY, false, NULL);
	assert_true(fd >= 0);
	free(text);
	text = NULL;
	assert_int_equal(fs_read_small_fd(fd, 3, "file", &text, &len), RAIN_ETOOBIG);
	close(fd);
	close(dirfd);
}

static void test_fs_write_atomic_errors(void **state)
{
	_cleanup_free_ char *path = path_in(state, "no/such/dir/file");

	assert_int_equal(fs_write_atomic(path, "x", 1, 0600), RAIN_EIO);
	assert_error_contains("cannot create");
}

static void test_fs_read_small(void **state)
{
	_cleanup_free_ char *path = path_in(state, "data");
	_cleanup_free_ char *missing = path_in(state, "missing");
	char *data = (char *)"untouched";
	size_t len = 99;

	write_file(path, "0123456789", 10, 0600);
	assert_int_equal(fs_read_small(path, 10, &data, &len), 0);
	assert_int_equal(len, 10);
	assert_string_equal(data, "0123456789");
	free(data);
	assert_int_equal(fs_read_small(path, 1000, &data, NULL), 0);
	assert_string_equal(data, "0123456789");
	free(data);

	data = (char *)"untouched";
	assert_int_equal(fs_read_small(path, 9, &data, &len), RAIN_ETOOBIG);
	assert_string_equal(data, "untouched");
	assert_error_contains("larger than 9 bytes");
	assert_int_equal(fs_read_small(path, 0, &data, &len), RAIN_ETOOBIG);

	assert_int_equal(fs_read_small(missing, 10, &data, &len), RAIN_ENOTFOUND);
	assert_error_contains(missing);
	assert_int_equal(fs_read_small(*state, 10, &data, &len), RAIN_EIO);   /* a directory */

	write_file(path, "", 0, 0600);
	assert_int_equal(fs_read_small(path, 0, &data, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(data, "");
	free(data);
}

static void test_fs_name_is_safe(void **state)
{
	char buf[300];

	assert_true(fs_name_is_safe("catalog.db"));
	assert_true(fs_name_is_safe("..."));
	assert_true(fs_name_is_safe(".hidden"));
	assert_true(fs_name_is_safe("a..b"));
	assert_false(fs_name_is_safe(""));
	assert_false(fs_name_is_safe("."));
	assert_false(fs_name_is_safe(".."));
	assert_false(fs_name_is_safe("a/b"));
	assert_false(fs_name_is_safe("/"));
	assert_false(fs_name_is_safe("../etc"));
	assert_false(fs_name_is_safe("a\nb"));
	assert_false(fs_name_is_safe("\x01"));
	assert_false(fs_name_is_safe("tab\t"));

	memset(buf, 'n', sizeof(buf));
	buf[255] = '\0';
	assert_true(fs_name_is_safe(buf));
	buf[255] = 'n';
	buf[256] = '\0';
	assert_false(fs_name_is_safe(buf));
}

static void test_fs_path_join(void **state)
{
	char *p;

	p = fs_path_join("/var/lib/rain", "blobs");
	assert_string_equal(p, "/var/lib/rain/blobs");
	free(p);
	p = fs_path_join("/var/lib/rain///", "blobs");
	assert_string_equal(p, "/var/lib/rain/blobs");
	free(p);
	p = fs_path_join("rel", "x");
	assert_string_equal(p, "rel/x");
	free(p);
}

static void test_fs_mkdir_p(void **state)
{
	_cleanup_free_ char *deep = path_in(state, "a/b/c");
	_cleanup_free_ char *trail = path_in(state, "x/y/");
	_cleanup_free_ char *file = path_in(state, "file");
	_cleanup_free_ char *under = path_in(state, "file/sub");
	struct stat st;
	mode_t old = umask(022);

	assert_int_equal(fs_mkdir_p(deep, 0700), 0);
	assert_int_equal(stat(deep, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(fs_mkdir_p(deep, 0700), 0);   /* exists: fine */
	assert_int_equal(fs_mkdir_p(trail, 0755), 0);
	assert_int_equal(stat(trail, &st), 0);
	assert_true(S_ISDIR(st.st_mode));

	write_file(file, "x", 1, 0600);
	assert_int_equal(fs_mkdir_p(under, 0700), RAIN_EIO);
	assert_error_contains("cannot create");

	assert_int_equal(fs_fsync_dir(deep), 0);
	assert_int_equal(fs_fsync_dir(under), RAIN_EIO);
	umask(old);
}

static void test_error_helpers(void **state)
{
	assert_int_equal(rain_error_set(RAIN_ENOTFOUND, "no %s %d", "image", 7), RAIN_ENOTFOUND);
	assert_string_equal(rain_error_last(), "no image 7");
	assert_int_equal(rain_error_errno(RAIN_EIO, 2, "open %s", "x"), RAIN_EIO);
	assert_true(str_has_prefix(rain_error_last(), "open x: "));
	rain_error_clear();
	assert_string_equal(rain_error_last(), "");
	assert_string_equal(rain_error_name(RAIN_ENOTFOUND), "not found");
	assert_string_equal(rain_error_name(RAIN_OK), "success");
	assert_string_equal(rain_error_name(-999), "unknown error");
	for (int c = RAIN_ECANCELED; c < 0; c++)
		assert_string_not_equal(rain_error_name(c), "unknown error");
	rain_error_clear();
	assert_int_equal(rain_error_oom(), RAIN_ENOMEM);
	assert_string_equal(rain_error_last(), "out of memory");
}

struct log_seen {
	int calls, level;
	char msg[2 * LOG_CALLBACK_MAX];
};

static void log_seen_cb(void *ud, int level, const char *msg)
{
	struct log_seen *s = ud;

	s->calls++;
	s->level = level;
	snprintf(s->msg, sizeof(s->msg), "%s", msg);
}

/* LOG_CALLBACK: nothing without a callback; the formatted message with
 * its level otherwise, cut at LOG_CALLBACK_MAX - 1 bytes. */
static void test_log_callback(void **state)
{
	void (*none)(void *, int, const char *) = NULL, (*cb)(void *, int, const char *) = log_seen_cb;
	struct log_seen seen = { 0 };
	char *big = malloc(2 * LOG_CALLBACK_MAX);

	(void)state;
	assert_non_null(big);
	LOG_CALLBACK(none, &seen, 1, "dropped %d", 1);
	assert_int_equal(seen.calls, 0);
	LOG_CALLBACK(cb, &seen, 2, "user '%s' locked out after %d failures", "alice", 5);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.level, 2);
	assert_string_equal(seen.msg, "user 'alice' locked out after 5 failures");
	memset(big, 'x', 2 * LOG_CALLBACK_MAX - 1);
	big[2 * LOG_CALLBACK_MAX - 1] = '\0';
	LOG_CALLBACK(cb, &seen, 0, "%s", big);
	assert_int_equal(strlen(seen.msg), LOG_CALLBACK_MAX - 1);
	free(big);
}

static void test_array_grow(void **state)
{
	_cleanup_free_ int *v = NULL, *w = NULL;
	size_t n, cap = 0;

	for (n = 0; n < 100; n++) {
		assert_int_equal(ARRAY_GROW(v, n, cap), 0);
		assert_true(cap > n);
		v[n] = (int)n;
	}
	assert_int_equal(cap, 128);
	for (n = 0; n < 100; n++)
		assert_int_equal(v[n], (int)n);
	/* room already there: no change */
	assert_int_equal(ARRAY_GROW(v, 100, cap), 0);
	assert_int_equal(cap, 128);
	for (n = 0; n < 5; n++) {
		assert_int_equal(ARRAY_GROW1(w, n), 0);
		w[n] = 7;
	}
	assert_int_equal(w[4], 7);
	/* an impossible size fails with the message set and leaves v alone */
	{
		size_t huge = SIZE_MAX / 2;

		rain_error_clear();
		assert_int_equal(ARRAY_GROW(v, huge, huge), RAIN_ENOMEM);
		assert_string_equal(rain_error_last(), "out of memory");
		assert_int_equal(v[99], 99);
	}
}

static void test_cleanup_close(void **state)
{
	int saved;

	{
		_cleanup_close_ int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

		assert_true(fd >= 0);
		saved = fd;
	}
	/* closed at the end of the scope */
	assert_int_equal(fcntl(saved, F_GETFD), -1);
	{
		_cleanup_close_ int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		int kept = TAKE_FD(fd);

		assert_int_equal(fd, -1);
		assert_true(fcntl(kept, F_GETFD) >= 0);
		close(kept);
	}
}

/* fs_sha256_file of a sparse file (holes hashed as zeros, not read) is
 * that of the same bytes written out; a file that is one hole too. */
static void test_fs_sha256_sparse(void **state)
{
	char *sparse = path_in(state, "sparse"), *dense = path_in(state, "dense");
	const size_t total = (5 << 20) + 3;
	char *bytes = calloc(1, total), a[65], b[65];
	int64_t sa = 0, sb = 0;
	int fd;

	assert_non_null(bytes);
	for (size_t i = 0; i < 70000; i++)
		bytes[(2 << 20) + 17 + i] = (char)(i * 5 + 1);
	memcpy(bytes + total - 3, "end", 3);
	fd = open(sparse, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)total), 0);
	assert_int_equal(pwrite(fd, bytes + (2 << 20) + 17, 70000, (2 << 20) + 17), 70000);
	assert_int_equal(pwrite(fd, "end", 3, (off_t)total - 3), 3);
	close(fd);
	assert_int_equal(fs_write_atomic(dense, bytes, total, 0600), 0);
	assert_int_equal(fs_sha256_file(sparse, a, &sa), 0);
	assert_int_equal(fs_sha256_file(dense, b, &sb), 0);
	assert_string_equal(a, b);
	assert_int_equal(sa, (int64_t)total);
	assert_int_equal(sb, (int64_t)total);
	/* all hole */
	fd = open(sparse, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
	memset(bytes, 0, 1 << 20);
	assert_int_equal(fs_write_atomic(dense, bytes, 1 << 20, 0600), 0);
	assert_int_equal(fs_sha256_file(sparse, a, &sa), 0);
	assert_int_equal(fs_sha256_file(dense, b, &sb), 0);
	assert_string_equal(a, b);
	assert_int_equal(sa, 1 << 20);
	free(bytes);
	free(sparse);
	free(dense);
}

/* html_escape_n's output for len bytes of s, as a new string. */
static char *escaped(const char *s, size_t len)
{
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);

	assert_non_null(f);
	assert_int_equal(html_escape_n(f, s, len), 0);
	assert_int_equal(fclose(f), 0);
	return out;
}

static void test_html_escape(void **state)
{
	static const struct { const char *in; size_t len; const char *out; } cases[] = {
		{ "plain text, 1 + 1", 17, "plain text, 1 + 1" },
		{ "<script>alert('x')</script>", 27, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" },
		{ "a=\"b\" & c", 9, "a=&quot;b&quot; &amp; c" },
		{ "tab\tline\r\n", 10, "tab\tline\r\n" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
		/* control characters, a NUL, a lone continuation byte, an
		 * overlong '/', a surrogate, past U+10FFFF, a cut sequence */
		{ "\x01\x7f", 2, "\xef\xbf\xbd\xef\xbf\xbd" },
		{ "a\0b", 3, "a\xef\xbf\xbd" "b" },
		{ "\x80", 1, "\xef\xbf\xbd" },
		{ "\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xf4\x90\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xe2\x82", 2, "\xef\xbf\xbd\xef\xbf\xbd" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char *out = escaped(cases[i].in, cases[i].len);

		assert_string_equal(out, cases[i].out);
		free(out);
	}
	assert_int_equal(html_escape(stdout, NULL), 0);
}

static void test_form_value(void **state)
{
	static const char body[] = "csrf=ab12&user=b%C3%B6b+x&password=p%26q%3D&empty=&user=second&nul=a%00b&bad=%zz";
	char *v;

	(void)state;
	v = form_value(body, strlen(body), "user");
	assert_string_equal(v, "b\xc3\xb6" "b x");      /* the first one, decoded */
	free(v);
	v = form_value(body, strlen(body), "password");
	assert_string_equal(v, "p&q=");
	free(v);
	v = form_value(body, strlen(body), "empty");
	assert_string_equal(v, "");
	free(v);
	assert_null(form_value(body, strlen(body), "csr"));    /* no prefix match */
	assert_null(form_value(body, strlen(body), "missing"));
	assert_null(form_value(body, strlen(body), "nul"));    /* an encoded NUL */
	assert_null(form_value(body, strlen(body), "bad"));
	/* only len bytes are read: the field after them is not seen */
	assert_null(form_value(body, 9, "user"));
	v = form_value(body, 9, "csrf");
	assert_string_equal(v, "ab12");
	free(v);
	/* a raw NUL inside a value refuses it rather than cut it short */
	assert_null(form_value("a=x\0y", 5, "a"));
}

/* fs_sha256_sha512_file: both digests of a sparse file, each that of the
 * same bytes hashed in memory (openssl's one-shot digests), over reads of
 * more than one block; a missing file names its path. */
static void test_fs_sha256_sha512(void **state)
{
	char *sparse = path_in(state, "sparse"), *missing = path_in(state, "missing");
	const size_t total = (3 << 20) + 5;
	unsigned char *bytes = calloc(1, total), md[64];
	char a[65], b[129], want[129];
	unsigned int n = 0;
	int64_t size = 0;
	int fd;

	assert_non_null(bytes);
	for (size_t i = 0; i < (1 << 20) + 100; i++)
		bytes[(1 << 20) + 9 + i] = (unsigned char)(i * 7 + 3);
	fd = open(sparse, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)total), 0);
	assert_int_equal(pwrite(fd, bytes + (1 << 20) + 9, (1 << 20) + 100, (1 << 20) + 9),
			 (1 << 20) + 100);
	close(fd);
	assert_int_equal(fs_sha256_sha512_file(sparse, a, b, &size), 0);
	assert_int_equal(size, (int64_t)total);
	assert_int_equal(EVP_Digest(bytes, total, md, &n, EVP_sha256(), NULL), 1);
	hex_encode(md, n, want);
	assert_string_equal(a, want);
	assert_int_equal(EVP_Digest(bytes, total, md, &n, EVP_sha512(), NULL), 1);
	hex_encode(md, n, want);
	assert_int_equal(strlen(b), 128);
	assert_string_equal(b, want);
	assert_int_equal(fs_sha256_sha512_file(missing, a, b, &size), RAIN_EIO);
	assert_non_null(strstr(rain_error_last(), missing));
	free(bytes);
	free(sparse);
	free(missing);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_suffix),
		cmocka_unit_test(test_str_is_printable),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_str_equal_ct),
		cmocka_unit_test(test_str_to_i64),
		cmocka_unit_test(test_url_decode),
		cmocka_unit_test(test_url_encode),
		cmocka_unit_test(test_ini_parse),
		cmocka_unit_test(test_ini_errors),
		cmocka_unit_test_setup_teardown(test_ini_file, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test(test_uuid_generate),
		cmocka_unit_test(test_uuid_valid),
		cmocka_unit_test(test_time_format),
		cmocka_unit_test(test_time_parse),
		cmocka_unit_test(test_time_parse_bad),
		cmocka_unit_test(test_time_round_trip),
		cmocka_unit_test_setup_teardown(test_fs_write_atomic, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_fs_sha256_sparse, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_fs_sha256_sha512, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_fs_write_atomic_stale_tmp, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_fs_write_atomic_errors, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_fs_read_small, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_fs_open_beneath, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test(test_fs_name_is_safe),
		cmocka_unit_test(test_fs_path_join),
		cmocka_unit_test_setup_teardown(test_fs_mkdir_p, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test(test_error_helpers),
		cmocka_unit_test(test_array_grow),
		cmocka_unit_test(test_log_callback),
		cmocka_unit_test(test_cleanup_close),
		cmocka_unit_test(test_html_escape),
		cmocka_unit_test(test_form_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
