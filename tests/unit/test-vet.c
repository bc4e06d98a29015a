/* Vetting (rain/vet.h): policies and their hostile values, the report's
 * counts, verdict and summary, the parsers of the image's text formats
 * (lib/vet/vet-parse.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rain/error.h"
#include "rain/vet.h"
#include "lib/vet/vet-parse.h"
#include "util/cleanup.h"
#include "testutil.h"

/* ---- policies ---------------------------------------------------------- */

static void test_policy_actions(void **state)
{
	struct rain_vet_policy *p;
	json_t *j;

	assert_int_equal(rain_vet_policy_new("site-1", &p), 0);
	assert_string_equal(rain_vet_policy_name(p), "site-1");
	/* by severity: high and critical fail, low and medium warn, info is ignored */
	assert_int_equal(rain_vet_policy_action(p, "empty-password", RAIN_VET_CRITICAL), RAIN_VET_FAIL);
	assert_int_equal(rain_vet_policy_action(p, "modified-file", RAIN_VET_HIGH), RAIN_VET_FAIL);
	assert_int_equal(rain_vet_policy_action(p, "sshd-setting", RAIN_VET_MEDIUM), RAIN_VET_WARN);
	assert_int_equal(rain_vet_policy_action(p, "unowned-file", RAIN_VET_LOW), RAIN_VET_WARN);
	assert_int_equal(rain_vet_policy_action(p, "private-key", RAIN_VET_INFO), RAIN_VET_IGNORE);
	assert_int_equal(rain_vet_policy_action(NULL, "private-key", RAIN_VET_HIGH), RAIN_VET_FAIL);

	assert_int_equal(rain_vet_policy_set(p, "fail_severity", "critical"), 0);
	assert_int_equal(rain_vet_policy_action(p, "modified-file", RAIN_VET_HIGH), RAIN_VET_WARN);
	assert_int_equal(rain_vet_policy_set(p, "modified-file", "ignore"), 0);
	assert_int_equal(rain_vet_policy_action(p, "modified-file", RAIN_VET_CRITICAL), RAIN_VET_IGNORE);
	assert_int_equal(rain_vet_policy_set(p, "unowned-file", "fail"), 0);
	assert_int_equal(rain_vet_policy_action(p, "unowned-file", RAIN_VET_INFO), RAIN_VET_FAIL);
	assert_int_equal(rain_vet_policy_set(p, "runtime-listening-socket", "warn"), 0);
	assert_int_equal(rain_vet_policy_action(p, "runtime-listening-socket", RAIN_VET_CRITICAL), RAIN_VET_WARN);
	assert_int_equal(rain_vet_policy_set(p, "unowned-file", "auto"), 0);
	assert_int_equal(rain_vet_policy_action(p, "unowned-file", RAIN_VET_LOW), RAIN_VET_WARN);

	/* lists: replaced, added to with a first "+", emptied */
	assert_int_equal(rain_vet_policy_set(p, "allowed_kernels", "6.1.0-*-amd64, 6.12.*"), 0);
	assert_int_equal(rain_vet_policy_set(p, "allowed_setuid", "+ /opt/tool/bin/helper"), 0);
	assert_int_equal(rain_vet_policy_set(p, "unsafe_services", ""), 0);
	assert_int_equal(rain_vet_policy_set(p, "max_feed_age", "7"), 0);
	j = rain_vet_policy_json(p);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "name")), "site-1");
	assert_string_equal(json_string_value(json_object_get(j, "fail_severity")), "critical");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "rules"), "modified-file")),
			    "ignore");
	assert_int_equal(json_array_size(json_object_get(j, "allowed_kernels")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "allowed_kernels"), 1)),
			    "6.12.*");
	assert_true(json_array_size(json_object_get(j, "allowed_setuid")) > 10);
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "allowed_setuid"),
							     json_array_size(json_object_get(j, "allowed_setuid")) - 1)),
			    "/opt/tool/bin/helper");
	assert_int_equal(json_array_size(json_object_get(j, "unsafe_services")), 0);
	assert_int_equal(json_integer_value(json_object_get(j, "max_feed_age")), 7);
	json_decref(j);
	rain_vet_policy_free(p);
}

static void test_policy_hostile(void **state)
{
	static const char *const bad[][2] = {
		{ "no-such-rule", "fail" },
		{ "setuid-file", "maybe" },
		{ "setuid-file", "" },
		{ "setuid-file", "FAIL\n" },
		{ "fail_severity", "info" },
		{ "fail_severity", "" },
		{ "fail_severity", "high; rm -rf /" },
		{ "max_feed_age", "-1" },
		{ "max_feed_age", "99999999999999999999" },
		{ "max_feed_age", "36501" },
		{ "max_feed_age", "12abc" },
		{ "max_feed_age", "" },
		{ "allowed_setuid", "usr/bin/relative" },
		{ "allowed_setuid", "/usr/bin/../../etc/shadow" },
		{ "allowed_setuid", "/usr/bin/a\x1b[2J" },
		{ "allowed_kernels", "../../boot/vmlinuz" },
		{ "unsafe_services", "/usr/sbin/in.telnetd" },
		{ "unowned_ignore", "*" },
		{ "Runtime-Sockets", "warn" },
		{ "runtime-", "warn" },
		{ "", "fail" },
	};
	struct rain_vet_policy *p;
	_cleanup_free_ char *many = NULL, *huge = NULL;
	json_t *before, *after;
	size_t len = 0;
	FILE *f;

	assert_int_equal(rain_vet_policy_new("", &p), RAIN_EINVAL);
	assert_null(p);
	assert_int_equal(rain_vet_policy_new("../etc", &p), RAIN_EINVAL);
	assert_int_equal(rain_vet_policy_new("a b", &p), RAIN_EINVAL);
	assert_int_equal(rain_vet_policy_new(
				 "a-name-that-is-far-too-long-for-a-policy-name-of-rain-vet-at-65-chars", &p),
			 RAIN_EINVAL);
	assert_int_equal(rain_vet_policy_new("strict", &p), 0);
	before = rain_vet_policy_json(p);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = rain_vet_policy_set(p, bad[i][0], bad[i][1]);

		if (r != RAIN_EINVAL)
			fail_msg("%s = '%s' was taken (%d)", bad[i][0], bad[i][1], r);
		assert_true(strlen(rain_error_last()) > 10);
	}
	assert_int_equal(rain_vet_policy_set(p, "max_feed_age", "x"), RAIN_EINVAL);
	assert_error_contains("max_feed_age");
	assert_int_equal(rain_vet_policy_set(p, "setuid-file", "maybe"), RAIN_EINVAL);
	assert_error_contains("fail, warn, ignore");
	assert_int_equal(rain_vet_policy_set(p, NULL, "fail"), RAIN_EINVAL);
	assert_int_equal(rain_vet_policy_set(p, "setuid-file", NULL), RAIN_EINVAL);
	/* more than 1024 entries, and a value of a megabyte */
	f = open_memstream(&many, &len);
	for (int i = 0; i < 1100; i++)
		fprintf(f, "/usr/bin/tool%d ", i);
	fclose(f);
	assert_int_equal(rain_vet_policy_set(p, "allowed_setuid", many), RAIN_EINVAL);
	huge = malloc(1 << 20);
	memset(huge, 'a', (1 << 20) - 1);
	huge[(1 << 20) - 1] = '\0';
	assert_int_equal(rain_vet_policy_set(p, "allowed_kernels", huge), RAIN_EINVAL);
	/* a refused value leaves the policy as it was */
	after = rain_vet_policy_json(p);
	assert_true(json_equal(before, after));
	json_decref(before);
	json_decref(after);
	rain_vet_policy_free(p);
}

/* ---- reports ----------------------------------------------------------- */

static json_t *finding(const char *rule, const char *sev, const char *msg)
{
	return json_pack("{s:s, s:s, s:s}", "rule", rule, "severity", sev, "message", msg);
}

static void test_report_verdict_and_text(void **state)
{
	struct rain_vet_policy *p;
	json_t *rep = json_pack("{s:{s:s}, s:{s:s, s:s}, s:[], s:[s]}", "policy", "name", "site",
				"image", "format", "dir", "detail", "directory /x",
				"findings", "notes", "a note");
	enum rain_vet_verdict v;
	char *text;

	assert_int_equal(rain_vet_policy_new("site", &p), 0);
	assert_int_equal(rain_vet_report_verdict(rep, &v), RAIN_EFORMAT);
	assert_int_equal(rain_vet_report_text(rep, &text), RAIN_EFORMAT);
	assert_null(text);

	assert_int_equal(rain_vet_report_add(rep, p, finding("private-key", "info", "test data")), 0);
	assert_int_equal(rain_vet_report_verdict(rep, &v), 0);
	assert_int_equal(v, RAIN_VET_PASSED);
	assert_int_equal(rain_vet_report_add(rep, p, finding("runtime-sockets", "medium", "port 23 open")), 0);
	assert_int_equal(rain_vet_report_verdict(rep, &v), 0);
	assert_int_equal(v, RAIN_VET_WARNED);
	assert_int_equal(rain_vet_report_add(rep, p, json_pack("{s:s, s:s, s:s, s:s}", "rule",
							       "empty-password", "severity", "critical",
							       "path", "/etc/shadow\x1b[2J", "message",
							       "root has no password")),
			 0);
	assert_int_equal(rain_vet_report_verdict(rep, &v), 0);
	assert_int_equal(v, RAIN_VET_FAILED);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(rep, "counts"),
									    "severity"), "critical")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(rep, "counts"),
									    "action"), "ignore")), 1);
	/* refused: an unknown rule, no severity, no message */
	assert_int_equal(rain_vet_report_add(rep, p, finding("no-such-rule", "high", "x")), RAIN_EINVAL);
	assert_int_equal(rain_vet_report_add(rep, p, finding("setuid-file", "severe", "x")), RAIN_EINVAL);
	assert_int_equal(rain_vet_report_add(rep, p, json_pack("{s:s, s:s}", "rule", "setuid-file",
							       "severity", "high")), RAIN_EINVAL);
	assert_int_equal(json_array_size(json_object_get(rep, "findings")), 3);

	assert_int_equal(rain_vet_report_text(rep, &text), 0);
	assert_non_null(strstr(text, "verdict: failed (policy site)"));
	assert_non_null(strstr(text, "findings: 1 critical, 0 high, 1 medium, 0 low, 1 info (1 fail, 1 warn, 1 ignored)"));
	assert_non_null(strstr(text, "FAIL critical"));
	assert_non_null(strstr(text, "/etc/shadow?[2J: root has no password"));
	assert_non_null(strstr(text, "WARN medium"));
	assert_null(strstr(text, "test data"));
	assert_non_null(strstr(text, "note: a note"));
	assert_null(strchr(text, '\x1b'));
	/* fails before warns */
	assert_true(strstr(text, "FAIL") < strstr(text, "WARN"));
	free(text);
	json_decref(rep);
	rain_vet_policy_free(p);
}

/* ---- parsers ----------------------------------------------------------- */

struct rec {
	char buf[64][160];
	int n;
};

static int rec_add(struct rec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int rec_add(struct rec *r, const char *fmt, ...)
{
	va_list ap;

	if (r->n == 64)
		return -1;
	va_start(ap, fmt);
	vsnprintf(r->buf[r->n++], sizeof(r->buf[0]), fmt, ap);
	va_end(ap);
	return 0;
}

static int on_passwd(void *ud, const struct vet_passwd_line *pw)
{
	return rec_add(ud, "%s|%s|%u|%s|%s", pw->name, pw->password, pw->uid, pw->home, pw->shell);
}

static int on_shadow(void *ud, const char *name, const char *hash)
{
	return rec_add(ud, "%s|%s", name, hash);
}

static void test_parse_accounts(void **state)
{
	static const char passwd[] =
		"root:x:0:0:root:/root:/bin/bash\n"
		"# a comment\n"
		"daemon:*:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
		"broken:x:abc:0::/:/bin/sh\n"
		"short:x:5\n"
		"+nisuser\n"
		"empty::1000:1000:,,,:/home/empty:/bin/sh\r\n"
		"big:x:4294967296:0::/:/bin/sh\n"
		"last:x:1001:1001::/home/last:/bin/zsh";
	static const char shadow[] = "root::19000:0:99999:7:::\nempty:$y$j9T$abc:19000::::::\nnocolon\n";
	struct rec r = { 0 };
	size_t bad = 0;

	assert_int_equal(vet_passwd_parse(passwd, sizeof(passwd) - 1, on_passwd, &r, &bad), 0);
	assert_int_equal(r.n, 4);
	assert_string_equal(r.buf[0], "root|x|0|/root|/bin/bash");
	assert_string_equal(r.buf[1], "daemon|*|1|/usr/sbin|/usr/sbin/nologin");
	assert_string_equal(r.buf[2], "empty||1000|/home/empty|/bin/sh");
	assert_string_equal(r.buf[3], "last|x|1001|/home/last|/bin/zsh");
	assert_int_equal(bad, 3);
	memset(&r, 0, sizeof(r));
	bad = 0;
	assert_int_equal(vet_shadow_parse(shadow, sizeof(shadow) - 1, on_shadow, &r, &bad), 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.buf[0], "root|");
	assert_string_equal(r.buf[1], "empty|$y$j9T$abc");
	assert_int_equal(bad, 1);
}

static int on_sshd(void *ud, unsigned line, const char *kw, char **args, size_t n)
{
	char joined[128] = "";

	for (size_t i = 0; i < n; i++) {
		strncat(joined, "[", sizeof(joined) - strlen(joined) - 1);
		strncat(joined, args[i], sizeof(joined) - strlen(joined) - 1);
		strncat(joined, "]", sizeof(joined) - strlen(joined) - 1);
	}
	return rec_add(ud, "%u %s %s", line, kw, joined);
}

static void test_parse_sshd(void **state)
{
	static const char cfg[] =
		"# comment\n"
		"Include /etc/ssh/sshd_config.d/*.conf\n"
		"  PermitRootLogin yes # trailing\n"
		"PasswordAuthentication=no\n"
		"AuthorizedKeysFile \"/etc/ssh/keys dir/%u\" .ssh/authorized_keys\n"
		"Banner \"unterminated\n"
		"\n"
		"Match User alice\n"
		"\tPasswordAuthentication yes\n"
		"Subsystem sftp internal-sftp\n";
	struct rec r = { 0 };
	size_t bad = 0;

	assert_int_equal(vet_sshd_parse(cfg, sizeof(cfg) - 1, on_sshd, &r, &bad), 0);
	assert_int_equal(bad, 1);
	assert_int_equal(r.n, 7);
	assert_string_equal(r.buf[0], "2 Include [/etc/ssh/sshd_config.d/*.conf]");
	assert_string_equal(r.buf[1], "3 PermitRootLogin [yes]");
	assert_string_equal(r.buf[2], "4 PasswordAuthentication [no]");
	assert_string_equal(r.buf[3], "5 AuthorizedKeysFile [/etc/ssh/keys dir/%u][.ssh/authorized_keys]");
	assert_string_equal(r.buf[4], "8 Match [User][alice]");
	assert_string_equal(r.buf[5], "9 PasswordAuthentication [yes]");
	assert_string_equal(r.buf[6], "10 Subsystem [sftp][internal-sftp]");
}

static int on_md5(void *ud, const char *md5, const char *path)
{
	return rec_add(ud, "%s %s", md5, path);
}

static int on_inetd(void *ud, const struct vet_inetd_line *l)
{
	return rec_add(ud, "%u %s %s %s|%s", l->line, l->service, l->user, l->server, l->args);
}

static int on_stanza(void *ud, const struct vet_dpkg_stanza *s)
{
	return rec_add(ud, "%s:%s %s %zu %s", s->package, s->arch, s->status, s->n_conffiles,
		       s->n_conffiles ? s->conffiles[s->n_conffiles - 1] : "-");
}

static int on_div(void *ud, const char *from, const char *to, const char *by)
{
	return rec_add(ud, "%s>%s by %s", from, to, by);
}

static int on_cfg(void *ud, bool exclude, const char *glob)
{
	return rec_add(ud, "%c%s", exclude ? '-' : '+', glob);
}

static void test_parse_dpkg(void **state)
{
	static const char md5[] =
		"d41d8cd98f00b204e9800998ecf8427e  usr/bin/ls\n"
		"d41d8cd98f00b204e9800998ecf8427e  ./usr/share/doc/a b/c\n"
		"D41D8CD98F00B204E9800998ECF8427E  usr/upper\n"
		"d41d8cd98f00b204e9800998ecf8427  usr/short\n"
		"d41d8cd98f00b204e9800998ecf8427e  //\n"
		"d41d8cd98f00b204e9800998ecf8427e *bin/star\n";
	static const char inetd[] =
		"# services\n"
		"#<off># telnet stream tcp nowait root /usr/sbin/tcpd /usr/sbin/in.telnetd\n"
		"telnet stream tcp nowait root /usr/sbin/tcpd /usr/sbin/in.telnetd\n"
		"tftp dgram udp wait nobody /usr/sbin/in.tftpd  in.tftpd -s /srv  \n"
		"broken stream tcp\n";
	static const char status[] =
		"Package: openssh-server\n"
		"Status: install ok installed\n"
		"Architecture: amd64\n"
		"Conffiles:\n"
		" /etc/default/ssh 500e3a4a1c7b2f4c0e2e3f1e2d3c4b5a\n"
		" /etc/ssh/moduli 0123456789abcdef0123456789abcdef obsolete\n"
		"Description: secure shell\n"
		" continuation\n"
		"\n"
		"\n"
		"Status: install ok installed\n"
		"\n"
		"Package: libc6\n"
		"Architecture: amd64\n"
		"Status: install ok installed";
	static const char div[] = "/usr/bin/a\n/usr/bin/a.real\npkg\n/bin/x\n/bin/x.local\n:\n/odd\n";
	static const char cfg[] = "# doc\npath-exclude=/usr/share/doc/*\npath-include /usr/share/doc/*/copyright\n"
				  "path-exclude relative\nforce-unsafe-io\n";
	struct rec r = { 0 };
	size_t bad = 0;

	assert_int_equal(vet_md5sums_parse(md5, sizeof(md5) - 1, on_md5, &r, &bad), 0);
	assert_int_equal(r.n, 3);
	assert_string_equal(r.buf[0], "d41d8cd98f00b204e9800998ecf8427e /usr/bin/ls");
	assert_string_equal(r.buf[1], "d41d8cd98f00b204e9800998ecf8427e /usr/share/doc/a b/c");
	assert_string_equal(r.buf[2], "d41d8cd98f00b204e9800998ecf8427e /bin/star");
	assert_int_equal(bad, 3);

	memset(&r, 0, sizeof(r));
	bad = 0;
	assert_int_equal(vet_inetd_parse(inetd, sizeof(inetd) - 1, on_inetd, &r, &bad), 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.buf[0], "3 telnet root /usr/sbin/tcpd|/usr/sbin/in.telnetd");
	assert_string_equal(r.buf[1], "4 tftp nobody /usr/sbin/in.tftpd|in.tftpd -s /srv");
	assert_int_equal(bad, 1);

	memset(&r, 0, sizeof(r));
	bad = 0;
	assert_int_equal(vet_dpkg_status_parse(status, sizeof(status) - 1, on_stanza, &r, &bad), 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.buf[0], "openssh-server:amd64 install ok installed 2 /etc/ssh/moduli");
	assert_string_equal(r.buf[1], "libc6:amd64 install ok installed 0 -");
	assert_int_equal(bad, 1);

	memset(&r, 0, sizeof(r));
	bad = 0;
	assert_int_equal(vet_diversions_parse(div, sizeof(div) - 1, on_div, &r, &bad), 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.buf[0], "/usr/bin/a>/usr/bin/a.real by pkg");
	assert_string_equal(r.buf[1], "/bin/x>/bin/x.local by :");
	assert_int_equal(bad, 1);

	memset(&r, 0, sizeof(r));
	bad = 0;
	assert_int_equal(vet_dpkg_cfg_parse(cfg, sizeof(cfg) - 1, on_cfg, &r, &bad), 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.buf[0], "-/usr/share/doc/*");
	assert_string_equal(r.buf[1], "+/usr/share/doc/*/copyright");
	assert_int_equal(bad, 1);
}

static void test_parse_keys(void **state)
{
	static const char pem[] = "junk\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n";
	static const char enc[] = "-----BEGIN RSA PRIVATE KEY-----\r\nProc-Type: 4,ENCRYPTED\r\n";
	/* what ssh-keygen's binary holds: the marker, then NUL and more strings */
	static const char bin[] = "\x7f" "ELF\0\0-----BEGIN OPENSSH PRIVATE KEY-----\n\0-----END OPENSSH";
	static const char pub[] = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIB\n";
	static const char mid[] = "text -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n";
	struct vet_authkey k;
	char buf[512];

	assert_int_equal(vet_private_key_find(pem, sizeof(pem) - 1), 5);
	assert_int_equal(vet_private_key_find(enc, sizeof(enc) - 1), 0);
	assert_int_equal(vet_private_key_find(bin, sizeof(bin) - 1), -1);
	assert_int_equal(vet_private_key_find(pub, sizeof(pub) - 1), -1);
	assert_int_equal(vet_private_key_find(mid, sizeof(mid) - 1), -1);
	assert_int_equal(vet_private_key_find(pem, 20), -1);

	assert_int_equal(vet_authkey_parse("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx alice@host", buf,
					   sizeof(buf), &k), 0);
	assert_string_equal(k.type, "ssh-ed25519");
	assert_string_equal(k.key, "AAAAC3NzaC1lZDI1NTE5AAAAIGx");
	assert_string_equal(k.comment, "alice@host");
	assert_string_equal(k.options, "");
	assert_int_equal(vet_authkey_parse("command=\"echo a b\",no-pty ssh-rsa AAAAB3Nza== ", buf,
					   sizeof(buf), &k), 0);
	assert_string_equal(k.options, "command=\"echo a b\",no-pty");
	assert_string_equal(k.type, "ssh-rsa");
	assert_string_equal(k.key, "AAAAB3Nza==");
	assert_string_equal(k.comment, "");
	assert_int_equal(vet_authkey_parse("# comment", buf, sizeof(buf), &k), RAIN_EINVAL);
	assert_int_equal(vet_authkey_parse("", buf, sizeof(buf), &k), RAIN_EINVAL);
	assert_int_equal(vet_authkey_parse("ssh-rsa not*base64", buf, sizeof(buf), &k), RAIN_EINVAL);
	assert_int_equal(vet_authkey_parse("garbage", buf, sizeof(buf), &k), RAIN_EINVAL);
	assert_int_equal(vet_authkey_parse("ssh-rsa AAAA", buf, 4, &k), RAIN_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_actions),
		cmocka_unit_test(test_policy_hostile),
		cmocka_unit_test(test_report_verdict_and_text),
		cmocka_unit_test(test_parse_accounts),
		cmocka_unit_test(test_parse_sshd),
		cmocka_unit_test(test_parse_dpkg),
		cmocka_unit_test(test_parse_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
