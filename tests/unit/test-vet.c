/* Vetting (rain/vet.h): policies and their hostile values, the report's
 * counts, verdict and summary, the parsers of the image's text formats
 * (lib/vet/vet-parse.h), and the rules run over real trees made in a
 * temporary folder (read through rain/imgfs.h's dir reader): a clean tree
 * passes, and each defect added to it is found by its rule, with its
 * severity, action and the verdict that follows. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "rain/error.h"
#include "rain/vet-feed.h"
#include "rain/vet.h"
#include "lib/vet/vet-parse.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
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


/* ---- the rules over real trees ----------------------------------------- */

static int strcmp_p(const char *const *a, const char *const *b)
{
	return strcmp(*a, *b);
}

enum defect {
	D_TAMPER = 1 << 0,      /* /usr/bin/cat differs from coreutils' md5sums */
	D_SETUID = 1 << 1,      /* /usr/local/bin/helper: setuid root, no package */
	D_EMPTY_ROOT = 1 << 2,  /* root:: in /etc/shadow */
	D_HOST_KEY = 1 << 3,    /* /etc/ssh/ssh_host_ed25519_key */
	D_SERVICE = 1 << 4,     /* tftpd-hpa installed and enabled */
	D_PRIVATE_KEY = 1 << 5, /* /srv/app/tls.key */
	D_WORLD_DIR = 1 << 6,   /* /srv/drop, 0777 */
	D_HOST_LINKS = 1 << 7,  /* links to files of the host */
	D_ROOT_SSH = 1 << 8,    /* PermitRootLogin yes, passwords, root has one */
	D_AUTH_KEY = 1 << 9,    /* a key the recipe did not declare */
	D_UNSUPPORTED = 1 << 10, /* package tool on the security-support-ended list */
	D_UNOWNED = 1 << 11,    /* /usr/lib/extra.so of no package */
	D_MISSING = 1 << 12,    /* /usr/bin/tool removed */
	D_INETD = 1 << 13,      /* telnet in inetd.conf, openbsd-inetd installed */
	D_IDLE = 1 << 14,       /* rsh-server installed, nothing of it enabled */
};

#define DECLARED_KEY "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGRlY2xhcmVkLWJ5LXRoZS1yZWNpcGUtYWxpY2Uta2V5 alice@laptop"
#define OTHER_KEY "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG5vdC1kZWNsYXJlZC1tYWxsb3J5LWtleS0zMmJ5dGVz mallory"

struct tree {
	char dir[64];           /* the test's temporary folder */
	char root[128];         /* dir/root: the image */
	char outside[128];      /* dir/outside: host files its links name */
	char support[128];      /* dir/support: debian-security-support's lists */
	FILE *status, *list, *sums;
};

static void mkdirs(const char *path, mode_t mode)
{
	char p[512];

	snprintf(p, sizeof(p), "%s", path);
	for (char *s = p + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			mkdir(p, 0755);
			*s = '/';
		}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		fail_msg("mkdir %s: %s", p, strerror(errno));
	chmod(p, mode);
}

static void put_bytes(const char *root, const char *path, const void *data, size_t len, mode_t mode)
{
	char p[512], *slash;
	int fd;

	snprintf(p, sizeof(p), "%s%s", root, path);
	slash = strrchr(p, '/');
	*slash = '\0';
	mkdirs(p, 0755);
	*slash = '/';
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	assert_int_equal(chmod(p, mode), 0);
}

static void put(const char *root, const char *path, const char *text, mode_t mode)
{
	put_bytes(root, path, text, strlen(text), mode);
}

static void put_link(const char *root, const char *path, const char *target)
{
	char p[512];

	snprintf(p, sizeof(p), "%s%s", root, path);
	assert_int_equal(symlink(target, p), 0);
}

static void md5_hex(const void *data, size_t len, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n;

	assert_int_equal(EVP_Digest(data, len, md, &n, EVP_md5(), NULL), 1);
	for (unsigned i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

/* Open a package's database files (the status stanza goes to t->status). */
static void pkg_begin(struct tree *t, const char *name, const char *source, const char *conffile)
{
	char p[512];

	fprintf(t->status, "Package: %s\nStatus: install ok installed\nArchitecture: amd64\n"
		"Version: 1.0-1\n%s%s%s", name, source ? "Source: " : "", source ? source : "",
		source ? "\n" : "");
	if (conffile)
		fprintf(t->status, "Conffiles:\n %s 0123456789abcdef0123456789abcdef\n", conffile);
	fprintf(t->status, "Description: %s\n\n", name);
	snprintf(p, sizeof(p), "%s/var/lib/dpkg/info/%s.list", t->root, name);
	t->list = fopen(p, "w");
	snprintf(p, sizeof(p), "%s/var/lib/dpkg/info/%s.md5sums", t->root, name);
	t->sums = fopen(p, "w");
	assert_non_null(t->list);
	assert_non_null(t->sums);
	fprintf(t->list, "/.\n");
}

/* A file of the open package, at the path its package gives (which may
 * go through the image's /bin -> usr/bin); md5 NULL: computed. */
static void pkg_file(struct tree *t, const char *path, const void *data, size_t len, mode_t mode,
		     const char *md5)
{
	char sum[33];

	put_bytes(t->root, path, data, len, mode);
	if (!md5) {
		md5_hex(data, len, sum);
		md5 = sum;
	}
	fprintf(t->list, "%s\n", path);
	fprintf(t->sums, "%s  %s\n", md5, path + 1);
}

static void pkg_end(struct tree *t)
{
	fclose(t->list);
	fclose(t->sums);
}

/* The host's /bin/NAME and its line in the host's coreutils.md5sums. */
static bool host_file(const char *name, char **data, size_t *len, char md5[33])
{
	char line[512], want[64];
	FILE *f = fopen("/var/lib/dpkg/info/coreutils.md5sums", "r");
	bool found = false;

	if (!f)
		return false;
	snprintf(want, sizeof(want), "  bin/%s\n", name);
	while (fgets(line, sizeof(line), f))
		if (strlen(line) > 34 && strcmp(line + 32, want) == 0) {
			memcpy(md5, line, 32);
			md5[32] = '\0';
			found = true;
		}
	fclose(f);
	snprintf(line, sizeof(line), "/bin/%s", name);
	return found && fs_read_small(line, 64u << 20, data, len) == 0;
}

static void tree_make(struct tree *t, unsigned defects)
{
	const char *shadow_root = defects & D_EMPTY_ROOT ? "" : defects & D_ROOT_SSH ?
				  "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7" : "!";
	char *data, md5[33], shadow[512], p[512];
	size_t len;

	strcpy(t->dir, "/tmp/test-vet-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->root, sizeof(t->root), "%s/root", t->dir);
	snprintf(t->outside, sizeof(t->outside), "%s/outside", t->dir);
	snprintf(t->support, sizeof(t->support), "%s/support", t->dir);
	mkdirs(t->root, 0755);
	mkdirs(t->outside, 0755);
	mkdirs(t->support, 0755);

	/* a usr-merged Debian 12 */
	mkdirs(strcat(strcpy(p, t->root), "/usr/bin"), 0755);
	mkdirs(strcat(strcpy(p, t->root), "/usr/sbin"), 0755);
	mkdirs(strcat(strcpy(p, t->root), "/usr/lib"), 0755);
	mkdirs(strcat(strcpy(p, t->root), "/var/lib/dpkg/info"), 0755);
	mkdirs(strcat(strcpy(p, t->root), "/root/.ssh"), 0700);
	mkdirs(strcat(strcpy(p, t->root), "/home/alice/.ssh"), 0750);
	mkdirs(strcat(strcpy(p, t->root), "/tmp"), 01777);
	put_link(t->root, "/bin", "usr/bin");
	put_link(t->root, "/sbin", "usr/sbin");
	put_link(t->root, "/lib", "usr/lib");
	put(t->root, "/etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n", 0644);
	put(t->root, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n"
	    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
	    "alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\n", 0644);
	snprintf(shadow, sizeof(shadow), "root:%s:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"
		 "alice:$y$j9T$abcdefgh$ijklmnopqrstuvwxyz0123456789ABCDEFGH:19000:0:99999:7:::\n", shadow_root);
	put(t->root, "/etc/shadow", shadow, 0640);
	put(t->root, "/etc/ssh/sshd_config", defects & D_HOST_LINKS ?
	    "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin prohibit-password\n"
	    "KbdInteractiveAuthentication no\nUsePAM yes\n"
	    "AuthorizedKeysFile .ssh/authorized_keys /etc/ssh/keys/%u\n" :
	    defects & D_ROOT_SSH ? "PermitRootLogin yes\nInclude sshd_config.d/*.conf\nUsePAM yes\n" :
	    "Include /etc/ssh/sshd_config.d/*.conf\n# the cloud's settings come first\n"
	    "PermitRootLogin prohibit-password\nKbdInteractiveAuthentication no\nUsePAM yes\n"
	    "Match User alice\n\tPasswordAuthentication yes\n\tPermitRootLogin yes\n", 0644);
	put(t->root, "/etc/ssh/sshd_config.d/50-cloud.conf",
	    defects & D_ROOT_SSH ? "PasswordAuthentication yes\n" : "PasswordAuthentication no\n", 0644);
	put(t->root, "/root/.ssh/authorized_keys", defects & D_AUTH_KEY ?
	    DECLARED_KEY "\n# a comment\n" OTHER_KEY "\n" : DECLARED_KEY "\n", 0600);

	/* packages: two real files of the host's coreutils, with their real
	 * checksums, listed as bookworm lists them (/bin/ls) */
	t->status = fopen(strcat(strcpy(p, t->root), "/var/lib/dpkg/status"), "w");
	assert_non_null(t->status);
	pkg_begin(t, "coreutils", NULL, NULL);
	if (!host_file("ls", &data, &len, md5))
		fail_msg("the host has no /bin/ls listed in coreutils.md5sums");
	pkg_file(t, "/bin/ls", data, len, 0755, md5);
	free(data);
	assert_true(host_file("cat", &data, &len, md5));
	pkg_file(t, "/bin/cat", data, len, 0755, md5);
	free(data);
	pkg_end(t);
	pkg_begin(t, "passwd", NULL, NULL);
	pkg_file(t, "/usr/bin/passwd", "passwd\n", 7, 04755, NULL);
	pkg_end(t);
	pkg_begin(t, "openssh-server", "openssh", "/etc/ssh/sshd_config");
	pkg_file(t, "/usr/sbin/sshd", "sshd\n", 5, 0755, NULL);
	pkg_end(t);
	pkg_begin(t, "tool", NULL, NULL);
	pkg_file(t, "/bin/tool", "tool\n", 5, 0755, NULL);
	pkg_end(t);
	if (defects & D_SERVICE) {
		pkg_begin(t, "tftpd-hpa", NULL, NULL);
		pkg_file(t, "/usr/sbin/in.tftpd", "tftpd\n", 6, 0755, NULL);
		pkg_file(t, "/lib/systemd/system/tftpd-hpa.service", "[Service]\nExecStart=/usr/sbin/in.tftpd\n",
			 38, 0644, NULL);
		pkg_end(t);
		mkdirs(strcat(strcpy(p, t->root), "/etc/systemd/system/multi-user.target.wants"), 0755);
		put_link(t->root, "/etc/systemd/system/multi-user.target.wants/tftpd-hpa.service",
			 "/lib/systemd/system/tftpd-hpa.service");
	}
	if (defects & D_INETD) {
		pkg_begin(t, "openbsd-inetd", NULL, NULL);
		pkg_file(t, "/usr/sbin/inetd", "inetd\n", 6, 0755, NULL);
		pkg_end(t);
		pkg_begin(t, "telnetd", NULL, NULL);
		pkg_file(t, "/usr/sbin/in.telnetd", "telnetd\n", 8, 0755, NULL);
		pkg_end(t);
		put(t->root, "/etc/inetd.conf", "# inetd.conf\n"
		    "#<off># ftp stream tcp nowait root /usr/sbin/tcpd /usr/sbin/in.ftpd\n"
		    "telnet stream tcp nowait root /usr/sbin/tcpd /usr/sbin/in.telnetd\n", 0644);
	}
	if (defects & D_IDLE) {
		pkg_begin(t, "rsh-server", NULL, NULL);
		pkg_file(t, "/usr/sbin/in.rshd", "rshd\n", 5, 0755, NULL);
		pkg_end(t);
	}
	fclose(t->status);

	put(t->support, "/security-support-ended.deb12", defects & D_UNSUPPORTED ?
	    "# source version date why\ntool\t\t1.0-1\t2020-01-01\tunmaintained upstream\n" :
	    "php-horde.*\t0\t2025-03-22\tincompatible with PHP8\n", 0644);
	put(t->support, "/security-support-limited", "binutils        Only suitable for trusted content\n", 0644);

	if (defects & D_TAMPER) {
		strcat(strcpy(p, t->root), "/usr/bin/cat");
		FILE *f = fopen(p, "a");
		fputs("tampered", f);
		fclose(f);
	}
	if (defects & D_MISSING)
		assert_int_equal(unlink(strcat(strcpy(p, t->root), "/usr/bin/tool")), 0);
	if (defects & D_SETUID)
		put(t->root, "/usr/local/bin/helper", "#!/bin/sh\nexec /bin/sh\n", 04755);
	if (defects & D_HOST_KEY) {
		put(t->root, "/etc/ssh/ssh_host_ed25519_key", "-----BEGIN OPENSSH PRIVATE KEY-----\n"
		    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
		    "-----END OPENSSH PRIVATE KEY-----\n", 0600);
		put(t->root, "/etc/ssh/ssh_host_ed25519_key.pub", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB root@build\n", 0644);
	}
	if (defects & D_PRIVATE_KEY)
		put(t->root, "/srv/app/tls.key", "-----BEGIN PRIVATE KEY-----\n"
		    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
		    "-----END PRIVATE KEY-----\n", 0600);
	if (defects & D_WORLD_DIR)
		mkdirs(strcat(strcpy(p, t->root), "/srv/drop"), 0777);
	if (defects & D_UNOWNED)
		put(t->root, "/usr/lib/extra.so", "\x7f" "ELF extra", 0755);
	if (defects & D_HOST_LINKS) {
		char target[512];

		/* files of the host that vetting must not read: an undeclared
		 * key, sshd settings that would fail the image */
		put(t->outside, "/authorized_keys", OTHER_KEY "\n", 0644);
		put(t->outside, "/evil.conf", "PermitRootLogin yes\nPermitEmptyPasswords yes\n", 0644);
		snprintf(target, sizeof(target), "%s/authorized_keys", t->outside);
		put_link(t->root, "/home/alice/.ssh/authorized_keys", target);
		mkdirs(strcat(strcpy(p, t->root), "/etc/ssh/keys"), 0755);
		put_link(t->root, "/etc/ssh/keys/alice", target);
		snprintf(target, sizeof(target), "../../../../../../../../..%s/authorized_keys", t->outside);
		put_link(t->root, "/etc/ssh/keys/root", target);
		snprintf(target, sizeof(target), "%s/evil.conf", t->outside);
		put_link(t->root, "/etc/ssh/sshd_config.d/60-evil.conf", target);
		put_link(t->root, "/root/.ssh/authorized_keys2", "/etc/shadow");
		put_link(t->root, "/usr/bin/shadow-link", "/etc/shadow");
		/* an unowned link in /usr is unowned-file's: keep the tree clean */
		unlink(strcat(strcpy(p, t->root), "/usr/bin/shadow-link"));
	}
}

static void tree_free(struct tree *t)
{
	test_rmtree(t->dir);
}

static json_t *vet_tree(struct tree *t, const struct rain_vet_policy *p, const char *const *declared)
{
	struct rain_vet_options o = { .policy = p, .declared_keys = declared,
				      .security_support_dir = t->support };
	struct rain_imgfs *fs;
	json_t *rep;

	if (rain_imgfs_open(t->root, "dir", NULL, &fs) < 0)
		fail_msg("open %s: %s", t->root, rain_error_last());
	if (rain_vet_run(fs, &o, &rep) < 0)
		fail_msg("vet %s: %s", t->root, rain_error_last());
	rain_imgfs_close(fs);
	return rep;
}

static const char *const declared[] = { DECLARED_KEY, NULL };

/* The findings of rep that count (not ignored). */
static size_t active(const json_t *rep)
{
	const json_t *f;
	size_t i, n = 0;

	json_array_foreach(json_object_get(rep, "findings"), i, f)
		n += strcmp(json_string_value(json_object_get(f, "action")), "ignore") != 0;
	return n;
}

/* Fail unless rep has a finding of rule, severity sev, action and path. */
static void expect(const json_t *rep, const char *rule, const char *sev, const char *action, const char *path)
{
	const json_t *f;
	char *text = NULL;
	size_t i;

	json_array_foreach(json_object_get(rep, "findings"), i, f) {
		const char *fp = json_string_value(json_object_get(f, "path"));

		if (strcmp(json_string_value(json_object_get(f, "rule")), rule) == 0 &&
		    strcmp(json_string_value(json_object_get(f, "severity")), sev) == 0 &&
		    strcmp(json_string_value(json_object_get(f, "action")), action) == 0 &&
		    (!path || (fp && strcmp(fp, path) == 0)))
			return;
	}
	text = json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1));
	fail_msg("no %s %s %s finding at %s in %s", rule, sev, action, path ? path : "-", text);
}

static void expect_verdict(const json_t *rep, const char *verdict, size_t n_active)
{
	char *text = NULL;

	if (strcmp(json_string_value(json_object_get(rep, "verdict")), verdict) == 0 && active(rep) == n_active)
		return;
	rain_vet_report_text(rep, &text);
	fail_msg("expected %s with %zu findings, got:\n%s", verdict, n_active, text);
}

static void test_clean_tree_passes(void **state)
{
	struct tree t;
	json_t *rep;

	tree_make(&t, 0);
	rep = vet_tree(&t, NULL, declared);
	expect_verdict(rep, "passed", 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(rep, "packages"), "count")), 4);
	assert_string_equal(json_string_value(json_object_get(json_object_get(rep, "os"), "id")), "debian");
	assert_string_equal(json_string_value(json_object_get(json_object_get(rep, "policy"), "name")), "default");
	assert_true(json_integer_value(json_object_get(rep, "entries")) > 30);
	json_decref(rep);
	tree_free(&t);
}

/* Each defect alone: its rule finds it, with its severity. */
static void test_each_defect_found(void **state)
{
	static const struct {
		unsigned defect;
		const char *rule, *sev, *action, *path, *verdict;
		size_t n;
	} cases[] = {
		{ D_TAMPER, "modified-file", "high", "fail", "/usr/bin/cat", "failed", 1 },
		{ D_MISSING, "modified-file", "medium", "warn", "/bin/tool", "warned", 1 },
		{ D_SETUID, "setuid-file", "high", "fail", "/usr/local/bin/helper", "failed", 1 },
		{ D_EMPTY_ROOT, "empty-password", "critical", "fail", "/etc/shadow", "failed", 1 },
		{ D_HOST_KEY, "ssh-host-key", "high", "fail", "/etc/ssh/ssh_host_ed25519_key", "failed", 1 },
		{ D_SERVICE, "unsafe-service", "high", "fail",
		  "/etc/systemd/system/multi-user.target.wants/tftpd-hpa.service", "failed", 1 },
		{ D_PRIVATE_KEY, "private-key", "high", "fail", "/srv/app/tls.key", "failed", 1 },
		{ D_WORLD_DIR, "world-writable", "high", "fail", "/srv/drop", "failed", 1 },
		{ D_AUTH_KEY, "unexpected-authorized-key", "high", "fail", "/root/.ssh/authorized_keys", "failed", 1 },
		{ D_UNSUPPORTED, "unsupported-package", "medium", "warn", NULL, "warned", 1 },
		{ D_UNOWNED, "unowned-file", "low", "warn", "/usr/lib/extra.so", "warned", 1 },
		{ D_INETD, "unsafe-service", "high", "fail", "/etc/inetd.conf:3", "failed", 1 },
		{ D_IDLE, "unsafe-service", "low", "warn", NULL, "warned", 1 },
		/* root: PermitRootLogin yes, PasswordAuthentication yes, its password */
		{ D_ROOT_SSH, "root-password-login", "high", "fail", "/etc/shadow", "failed", 3 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tree t;
		json_t *rep;

		tree_make(&t, cases[i].defect);
		rep = vet_tree(&t, NULL, declared);
		expect(rep, cases[i].rule, cases[i].sev, cases[i].action, cases[i].path);
		expect_verdict(rep, cases[i].verdict, cases[i].n);
		json_decref(rep);
		tree_free(&t);
	}
}

static void test_details(void **state)
{
	struct tree t;
	json_t *rep, *f;
	char *text;
	size_t i;

	tree_make(&t, D_TAMPER | D_ROOT_SSH | D_SERVICE | D_AUTH_KEY | D_UNSUPPORTED);
	rep = vet_tree(&t, NULL, declared);
	expect(rep, "sshd-setting", "high", "fail", "/etc/ssh/sshd_config");
	expect(rep, "sshd-setting", "medium", "warn", "/etc/ssh/sshd_config");
	expect(rep, "unsafe-service", "high", "fail", NULL);
	json_array_foreach(json_object_get(rep, "findings"), i, f) {
		const char *rule = json_string_value(json_object_get(f, "rule"));

		if (strcmp(rule, "modified-file") == 0) {
			assert_string_equal(json_string_value(json_object_get(f, "package")), "coreutils");
			assert_int_equal(strlen(json_string_value(json_object_get(f, "found"))), 32);
		} else if (strcmp(rule, "unsafe-service") == 0) {
			assert_string_equal(json_string_value(json_object_get(f, "package")), "tftpd-hpa");
		} else if (strcmp(rule, "unexpected-authorized-key") == 0) {
			assert_string_equal(json_string_value(json_object_get(f, "comment")), "mallory");
			assert_true(strncmp(json_string_value(json_object_get(f, "fingerprint")), "SHA256:", 7) == 0);
		} else if (strcmp(rule, "unsupported-package") == 0) {
			assert_string_equal(json_string_value(json_object_get(f, "package")), "tool");
			assert_string_equal(json_string_value(json_object_get(f, "ended")), "2020-01-01");
		} else if (strcmp(rule, "sshd-setting") == 0) {
			/* PermitRootLogin from the main file, PasswordAuthentication
			 * from the Include given as a relative glob */
			const char *where = json_string_value(json_object_get(f, "where"));

			assert_true(strcmp(where, "/etc/ssh/sshd_config:1") == 0 ||
				    strcmp(where, "/etc/ssh/sshd_config.d/50-cloud.conf:1") == 0);
		}
	}
	assert_int_equal(rain_vet_report_text(rep, &text), 0);
	assert_non_null(strstr(text, "verdict: failed (policy default)"));
	assert_non_null(strstr(text, "FAIL high     modified-file              /usr/bin/cat: differs"));
	assert_non_null(strstr(text, "WARN medium   unsupported-package        tool: security support ended"));
	free(text);
	json_decref(rep);
	tree_free(&t);
}

/* Links to the host's files are followed inside the image only: the
 * undeclared key and the sshd settings of the host's files are never
 * read. */
static void test_host_links_not_followed(void **state)
{
	struct tree t;
	json_t *rep;

	tree_make(&t, D_HOST_LINKS);
	rep = vet_tree(&t, NULL, declared);
	expect_verdict(rep, "passed", 0);
	json_decref(rep);
	tree_free(&t);
}

static void test_policy_changes_verdict(void **state)
{
	struct rain_vet_policy *p;
	struct tree t;
	json_t *rep;

	tree_make(&t, D_WORLD_DIR);
	assert_int_equal(rain_vet_policy_new("site", &p), 0);
	assert_int_equal(rain_vet_policy_set(p, "world-writable", "warn"), 0);
	rep = vet_tree(&t, p, declared);
	expect(rep, "world-writable", "high", "warn", "/srv/drop");
	expect_verdict(rep, "warned", 1);
	json_decref(rep);

	assert_int_equal(rain_vet_policy_set(p, "world-writable", "ignore"), 0);
	rep = vet_tree(&t, p, declared);
	expect(rep, "world-writable", "high", "ignore", "/srv/drop");
	expect_verdict(rep, "passed", 0);
	json_decref(rep);

	assert_int_equal(rain_vet_policy_set(p, "world-writable", "auto"), 0);
	assert_int_equal(rain_vet_policy_set(p, "fail_severity", "critical"), 0);
	rep = vet_tree(&t, p, declared);
	expect_verdict(rep, "warned", 1);
	json_decref(rep);

	/* an empty allowed_setuid: passwd's setuid bit is reported (high,
	 * although its content is the package's: dpkg keeps no modes) */
	assert_int_equal(rain_vet_policy_set(p, "fail_severity", "high"), 0);
	assert_int_equal(rain_vet_policy_set(p, "allowed_setuid", ""), 0);
	assert_int_equal(rain_vet_policy_set(p, "world-writable", "ignore"), 0);
	rep = vet_tree(&t, p, declared);
	expect(rep, "setuid-file", "high", "fail", "/usr/bin/passwd");
	expect_verdict(rep, "failed", 1);
	json_decref(rep);

	/* no declared keys: the one in /root/.ssh is unexpected */
	rep = vet_tree(&t, p, NULL);
	expect(rep, "unexpected-authorized-key", "high", "fail", "/root/.ssh/authorized_keys");
	json_decref(rep);

	/* kernels: none in this tree, so allowed_kernels finds nothing */
	assert_int_equal(rain_vet_policy_set(p, "allowed_kernels", "6.1.0-*"), 0);
	rep = vet_tree(&t, p, declared);
	assert_int_equal(json_array_size(json_object_get(rep, "kernels")), 0);
	json_decref(rep);
	rain_vet_policy_free(p);
	tree_free(&t);
}

static void test_kernels(void **state)
{
	struct rain_vet_policy *p;
	struct tree t;
	json_t *rep;
	char dir[256];

	tree_make(&t, 0);
	put(t.root, "/boot/vmlinuz-6.1.0-18-amd64", "kernel", 0644);
	snprintf(dir, sizeof(dir), "%s/usr/lib/modules/6.1.0-18-amd64/kernel", t.root);
	mkdirs(dir, 0755);
	snprintf(dir, sizeof(dir), "%s/usr/lib/modules/5.10.0-28-amd64", t.root);
	mkdirs(dir, 0755);
	assert_int_equal(rain_vet_policy_new("kernels", &p), 0);
	assert_int_equal(rain_vet_policy_set(p, "allowed_kernels", "6.1.0-*-amd64"), 0);
	/* the two folders of modules are the kernels' (no package owns them here) */
	assert_int_equal(rain_vet_policy_set(p, "unowned-file", "ignore"), 0);
	rep = vet_tree(&t, p, declared);
	assert_int_equal(json_array_size(json_object_get(rep, "kernels")), 2);
	expect(rep, "kernel-not-allowed", "high", "fail", "/usr/lib/modules/5.10.0-28-amd64");
	expect_verdict(rep, "failed", 1);
	json_decref(rep);
	rain_vet_policy_free(p);
	tree_free(&t);
}

static void feed_add(struct rain_vet_feed *f, const char *pkg, const char *id, const char *fixed,
		     enum rain_vet_urgency u)
{
	struct rain_vet_advisory a = { .package = pkg, .id = id, .aliases = "", .fixed = fixed,
				       .urgency = u, .scope = RAIN_VET_SCOPE_REMOTE, .description = "a flaw" };

	assert_int_equal(rain_vet_feed_add(f, &a), 0);
}

/* A feed: tool 1.0-1 is fixed in 1.0-2 (high), openssh has a high
 * vulnerability nobody fixed, coreutils' fix is older than what the tree
 * has, passwd's is unimportant. */
static void test_vulnerabilities(void **state)
{
	struct rain_vet_policy *p;
	struct rain_vet_feed *feed;
	struct rain_vet_options o = { .declared_keys = declared };
	struct rain_imgfs *fs;
	struct tree t;
	json_t *rep, *f, *fd;
	size_t i, vulnerable = 0, unfixed = 0;

	tree_make(&t, 0);
	o.security_support_dir = t.support;
	assert_int_equal(rain_vet_feed_new(&feed, RAIN_VET_FEED_TRACKER, RAIN_PKG_DEB, "bookworm",
					   "https://security-tracker.debian.org/tracker/data/json",
					   time(NULL) - 3 * 86400), 0);
	feed_add(feed, "tool", "CVE-2099-0001", "1.0-2", RAIN_VET_URGENCY_HIGH);
	feed_add(feed, "openssh", "CVE-2099-0002", NULL, RAIN_VET_URGENCY_HIGH);
	feed_add(feed, "coreutils", "CVE-2099-0003", "0.9-1", RAIN_VET_URGENCY_CRITICAL);
	feed_add(feed, "passwd", "CVE-2099-0004", "2.0-1", RAIN_VET_URGENCY_UNIMPORTANT);
	o.feed = feed;
	assert_int_equal(rain_imgfs_open(t.root, "dir", NULL, &fs), 0);
	assert_int_equal(rain_vet_run(fs, &o, &rep), 0);
	expect(rep, "vulnerable-package", "high", "fail", NULL);
	expect(rep, "unfixed-vulnerability", "high", "warn", NULL);
	expect(rep, "vulnerable-package", "info", "ignore", NULL);
	expect_verdict(rep, "failed", 2);
	json_array_foreach(json_object_get(rep, "findings"), i, f) {
		const char *rule = json_string_value(json_object_get(f, "rule"));

		if (strcmp(rule, "vulnerable-package") == 0 &&
		    strcmp(json_string_value(json_object_get(f, "cve")), "CVE-2099-0001") == 0) {
			vulnerable++;
			assert_string_equal(json_string_value(json_object_get(f, "package")), "tool");
			assert_string_equal(json_string_value(json_object_get(f, "installed")), "1.0-1");
			assert_string_equal(json_string_value(json_object_get(f, "fixed")), "1.0-2");
			assert_string_equal(json_string_value(json_object_get(f, "urgency")), "high");
		} else if (strcmp(rule, "unfixed-vulnerability") == 0) {
			unfixed++;
			assert_string_equal(json_string_value(json_object_get(f, "package")), "openssh-server");
			assert_string_equal(json_string_value(json_object_get(f, "source")), "openssh");
			assert_null(json_object_get(f, "fixed"));
		} else if (strcmp(rule, "vulnerable-package") == 0) {
			assert_string_equal(json_string_value(json_object_get(f, "cve")), "CVE-2099-0004");
		}
	}
	assert_int_equal(vulnerable, 1);
	assert_int_equal(unfixed, 1);
	fd = json_object_get(rep, "feed");
	assert_string_equal(json_string_value(json_object_get(fd, "release")), "bookworm");
	assert_int_equal(json_integer_value(json_object_get(fd, "age_days")), 3);
	assert_int_equal(strlen(json_string_value(json_object_get(fd, "date"))) >= 10, 1);
	json_decref(rep);

	/* from critical on: the high one warns; a feed older than allowed fails */
	assert_int_equal(rain_vet_policy_new("site", &p), 0);
	assert_int_equal(rain_vet_policy_set(p, "fail_severity", "critical"), 0);
	o.policy = p;
	assert_int_equal(rain_vet_run(fs, &o, &rep), 0);
	expect_verdict(rep, "warned", 2);
	json_decref(rep);
	assert_int_equal(rain_vet_policy_set(p, "fail_severity", "high"), 0);
	assert_int_equal(rain_vet_policy_set(p, "max_feed_age", "2"), 0);
	assert_int_equal(rain_vet_policy_set(p, "vulnerable-package", "warn"), 0);
	assert_int_equal(rain_vet_run(fs, &o, &rep), 0);
	/* set to warn, the rule warns whatever the severity: passwd's too */
	expect(rep, "vulnerable-package", "high", "warn", NULL);
	expect(rep, "vulnerable-package", "info", "warn", NULL);
	expect_verdict(rep, "warned", 4);
	json_decref(rep);
	assert_int_equal(rain_vet_policy_set(p, "vulnerable-package", "auto"), 0);
	assert_int_equal(rain_vet_run(fs, &o, &rep), 0);
	expect_verdict(rep, "failed", 3);
	json_decref(rep);

	rain_vet_policy_free(p);
	rain_imgfs_close(fs);
	rain_vet_feed_free(feed);
	tree_free(&t);
}

/* "rule severity action path" of every finding, sorted, one a line. */
static char *findings_key(const json_t *rep)
{
	char *lines[256], *out = NULL;
	const json_t *f;
	size_t i, n = 0, len = 0;
	FILE *m = open_memstream(&out, &len);

	json_array_foreach(json_object_get(rep, "findings"), i, f) {
		assert_true(n < 256);
		assert_true(asprintf(&lines[n++], "%s %s %s %s", json_string_value(json_object_get(f, "rule")),
				     json_string_value(json_object_get(f, "severity")),
				     json_string_value(json_object_get(f, "action")),
				     json_string_value(json_object_get(f, "path"))) > 0);
	}
	qsort(lines, n, sizeof(char *), (int (*)(const void *, const void *))strcmp_p);
	for (i = 0; i < n; i++) {
		fprintf(m, "%s\n", lines[i]);
		free(lines[i]);
	}
	fclose(m);
	return out;
}

/* The same tree as a gzip'd tar (made by tar(1)): the same findings,
 * through the tar reader and the first pass that keeps the database. */
static void test_tar_same_as_dir(void **state)
{
	unsigned defects = D_TAMPER | D_SETUID | D_EMPTY_ROOT | D_HOST_KEY | D_SERVICE | D_WORLD_DIR |
			   D_MISSING | D_AUTH_KEY;
	struct rain_vet_options o = { .declared_keys = declared };
	char tarball[256], *a, *b;
	struct rain_imgfs *fs;
	struct tree t;
	json_t *rdir, *rtar;
	pid_t pid;
	int status;

	tree_make(&t, defects);
	o.security_support_dir = t.support;
	/* a setuid file whose content is not its package's */
	assert_int_equal(chmod(strcat(strcpy(tarball, t.root), "/usr/bin/cat"), 04755), 0);
	rdir = vet_tree(&t, NULL, declared);
	expect(rdir, "setuid-file", "critical", "fail", "/usr/bin/cat");
	snprintf(tarball, sizeof(tarball), "%s/image.tar.gz", t.dir);
	{
		char *argv[] = { "tar", "-C", t.root, "--numeric-owner", "-czf", tarball, ".", NULL };

		assert_int_equal(posix_spawnp(&pid, "tar", NULL, NULL, argv, environ), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(rain_imgfs_open(tarball, NULL, NULL, &fs), 0);
	assert_string_equal(rain_imgfs_info(fs)->format, "tar");
	assert_int_equal(rain_vet_run(fs, &o, &rtar), 0);
	rain_imgfs_close(fs);
	a = findings_key(rdir);
	b = findings_key(rtar);
	assert_string_equal(a, b);
	assert_true(strlen(a) > 200);
	free(a);
	free(b);
	json_decref(rdir);
	json_decref(rtar);
	tree_free(&t);
}

static bool note_has(const json_t *rep, const char *needle)
{
	const json_t *n;
	size_t i;

	json_array_foreach(json_object_get(rep, "notes"), i, n)
		if (strstr(json_string_value(n), needle))
			return true;
	return false;
}

/* The build's manifest: compared with the image's database (a package
 * changed after the build is noted), its list used when the image has no
 * database. */
static void test_manifest(void **state)
{
	struct rain_vet_options o = { .declared_keys = declared };
	struct rain_vet_feed *feed;
	struct rain_imgfs *fs;
	struct tree t;
	json_t *rep, *manifest;
	char p[512];

	tree_make(&t, 0);
	o.security_support_dir = t.support;
	manifest = json_pack("{s:[{s:s, s:s, s:s}, {s:s, s:s, s:s}, {s:s, s:s, s:s}, {s:s, s:s, s:s}]}",
			     "packages",
			     "name", "coreutils", "version", "1.0-1", "architecture", "amd64",
			     "name", "openssh-server", "version", "1.0-1", "architecture", "amd64",
			     "name", "passwd", "version", "1.0-1", "architecture", "amd64",
			     "name", "tool", "version", "1.0-1", "architecture", "amd64");
	o.manifest = manifest;
	assert_int_equal(rain_imgfs_open(t.root, "dir", NULL, &fs), 0);
	assert_int_equal(rain_vet_run(fs, &o, &rep), 0);
	assert_string_equal(json_string_value(json_object_get(rep, "packages_from")),
			    "dpkg status (as the build manifest)");
	assert_false(note_has(rep, "changed after the build"));
	json_decref(rep);

	json_object_set_new(json_array_get(json_object_get(manifest, "packages"), 3), "version",
			    json_string("0.9-1"));
	assert_int_equal(rain_vet_run(fs, &o, &rep), 0);
	assert_true(note_has(rep, "tool 0.9-1 in the manifest, 1.0-1 in the image"));
	json_decref(rep);
	rain_imgfs_close(fs);

	/* no database: the manifest's packages meet the feed */
	assert_int_equal(unlink(strcat(strcpy(p, t.root), "/var/lib/dpkg/status")), 0);
	assert_int_equal(rain_vet_feed_new(&feed, RAIN_VET_FEED_TRACKER, RAIN_PKG_DEB, "bookworm", "test", 0), 0);
	feed_add(feed, "tool", "CVE-2099-0001", "1.0-2", RAIN_VET_URGENCY_HIGH);
	o.feed = feed;
	assert_int_equal(rain_imgfs_open(t.root, "dir", NULL, &fs), 0);
	assert_int_equal(rain_vet_run(fs, &o, &rep), 0);
	assert_string_equal(json_string_value(json_object_get(rep, "packages_from")), "manifest");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(rep, "packages"), "count")), 4);
	expect(rep, "vulnerable-package", "high", "fail", NULL);
	assert_true(note_has(rep, "no package database"));
	json_decref(rep);
	rain_imgfs_close(fs);
	rain_vet_feed_free(feed);
	json_decref(manifest);
	tree_free(&t);
}

/* Hostile configuration: Includes that include each other (4 files, each
 * including all four: 4^16 reads unless bounded), a loop of links in a
 * package's paths. */
static void test_hostile_config(void **state)
{
	struct tree t;
	json_t *rep;
	char name[64];
	time_t t0 = time(NULL);

	tree_make(&t, 0);
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "/etc/ssh/sshd_config.d/%d.conf", i);
		put(t.root, name, "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin yes\n", 0644);
	}
	put_link(t.root, "/usr/loop", "loop");
	put(t.root, "/var/lib/dpkg/info/tool.md5sums",
	    "d41d8cd98f00b204e9800998ecf8427e  usr/loop/x\n"
	    "d41d8cd98f00b204e9800998ecf8427e  ../../../../../etc/passwd\n", 0644);
	rep = vet_tree(&t, NULL, declared);
	assert_true(time(NULL) - t0 < 30);
	assert_true(note_has(rep, "files included"));
	expect(rep, "modified-file", "high", "fail", "/usr/loop/x");
	/* "../" stops at the image's root: the image's /etc/passwd is meant */
	expect(rep, "modified-file", "high", "fail", "/etc/passwd");
	json_decref(rep);
	tree_free(&t);
}

/* Run argv, without a shell; its exit status. */
static int run(char *const argv[])
{
	pid_t pid;
	int status;

	if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0)
		return -1;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* An rpm image: a real rpmdb.sqlite (a package built by rpmbuild,
 * installed by rpm --justdb) in /usr/lib/sysimage/rpm, matched against an
 * rpm feed through its source package. */
static void test_rpm_image(void **state)
{
	static const char spec[] =
		"Name: rain-vet-a\nVersion: 1.2.3\nRelease: 4.el9\nEpoch: 2\nSummary: t\nLicense: MIT\n"
		"BuildArch: noarch\n%description\nt\n%package -n rain-vet-a-libs\nSummary: t\n"
		"%description -n rain-vet-a-libs\nt\n%files\n%files -n rain-vet-a-libs\n";
	char top[512], defs[600], specf[512], dbarg[600], rpmf[600], db[512];
	struct rain_vet_options o = { .declared_keys = declared };
	struct rain_vet_feed *feed;
	struct rain_imgfs *fs;
	struct tree t;
	json_t *rep, *f;
	size_t i, n = 0;

	if (access("/usr/bin/rpmbuild", X_OK) != 0 || access("/usr/bin/rpm", X_OK) != 0)
		skip();
	tree_make(&t, 0);
	o.security_support_dir = t.support;
	snprintf(top, sizeof(top), "%s/rpmtop", t.dir);
	snprintf(defs, sizeof(defs), "_topdir %s", top);
	snprintf(specf, sizeof(specf), "%s/a.spec", t.dir);
	snprintf(db, sizeof(db), "%s/usr/lib/sysimage/rpm", t.root);
	snprintf(dbarg, sizeof(dbarg), "--dbpath=%s", db);
	snprintf(rpmf, sizeof(rpmf), "%s/RPMS/noarch/rain-vet-a-libs-1.2.3-4.el9.noarch.rpm", top);
	put(t.dir, "/a.spec", spec, 0644);
	mkdirs(db, 0755);
	{
		char *build[] = { "rpmbuild", "-bb", "--quiet", "--define", defs, specf, NULL };
		char *init[] = { "rpm", dbarg, "--initdb", NULL };
		char *inst[] = { "rpm", dbarg, "-i", "--justdb", "--nodeps", "--ignorearch", "--ignoreos",
				 "--nosignature", rpmf, NULL };

		assert_int_equal(run(build), 0);
		assert_int_equal(run(init), 0);
		assert_int_equal(run(inst), 0);
	}
	assert_int_equal(unlink(strcat(strcpy(top, t.root), "/var/lib/dpkg/status")), 0);
	assert_int_equal(rain_vet_feed_new(&feed, RAIN_VET_FEED_OSV, RAIN_PKG_RPM, "Rocky-Linux:9", "test", 0), 0);
	{
		struct rain_vet_advisory a = { .package = "rain-vet-a", .id = "RLSA-2099:0001", .aliases = "",
					       .fixed = "2:1.2.3-5.el9", .urgency = RAIN_VET_URGENCY_HIGH,
					       .description = "" };

		assert_int_equal(rain_vet_feed_add(feed, &a), 0);
	}
	o.feed = feed;
	assert_int_equal(rain_imgfs_open(t.root, "dir", NULL, &fs), 0);
	assert_int_equal(rain_vet_run(fs, &o, &rep), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(rep, "packages"), "family")), "rpm");
	assert_string_equal(json_string_value(json_object_get(rep, "packages_from")),
			    "/usr/lib/sysimage/rpm/rpmdb.sqlite");
	json_array_foreach(json_object_get(rep, "findings"), i, f)
		if (strcmp(json_string_value(json_object_get(f, "rule")), "vulnerable-package") == 0) {
			n++;
			assert_string_equal(json_string_value(json_object_get(f, "package")), "rain-vet-a-libs");
			assert_string_equal(json_string_value(json_object_get(f, "installed")), "2:1.2.3-4.el9");
			assert_string_equal(json_string_value(json_object_get(f, "source")), "rain-vet-a");
		}
	assert_int_equal(n, 1);
	json_decref(rep);
	rain_imgfs_close(fs);
	rain_vet_feed_free(feed);
	tree_free(&t);
}

/* A set cancel flag stops the run with RAIN_ECANCELED and no report. */
/* rep without the time it took, as text */
static char *report_text(json_t *rep)
{
	char *s;

	assert_int_equal(json_object_del(rep, "seconds"), 0);
	s = json_dumps(rep, JSON_SORT_KEYS);
	assert_non_null(s);
	return s;
}

/* path vetted with one thread and with two (the default): the reports */
static void vet_both(const char *path, const char *format, const struct rain_imgfs_limits *lim,
		     struct rain_vet_options *o, char **one, char **two, int *r1, int *r2, char msg[2][512])
{
	struct rain_imgfs *fs;
	json_t *rep;

	for (int k = 0; k < 2; k++) {
		o->one_thread = k == 0;
		if (rain_imgfs_open(path, format, lim, &fs) < 0)
			fail_msg("open %s: %s", path, rain_error_last());
		*(k ? r2 : r1) = rain_vet_run(fs, o, &rep);
		snprintf(msg[k], 512, "%s", rain_error_last());
		*(k ? two : one) = rep ? report_text(rep) : NULL;
		json_decref(rep);
		rain_imgfs_close(fs);
	}
}

/* The walk reads on a thread of its own and both threads hash (vet-walk.c):
 * the report is the one a single thread makes, byte for byte but the
 * time taken, for a tree of every defect and a package of 305 files of
 * sizes around the walk's pieces (empty, 63 and 64 bytes, 128 and 256
 * KiB, 1 MiB and one byte either side, 2 and 6 MiB: 40 MB), 254 of them
 * changed (past the 200 findings listed per rule), some setuid (changed
 * or not), private keys at the start of a 1 MiB file of the package, at
 * 70,000 bytes of a larger one (past what is searched) and at the start
 * of a larger unowned one; through the dir reader and a tar's. A walk
 * stopped by the reader (its read budget) fails with the same message. */
static void test_threads_same_report(void **state)
{
	static const size_t sizes[] = { 0, 1, 63, 64, 4095, 4096, 65536, 131072, 262143, 262144, 262145 };
	static const size_t big[] = { 1048575, 1048576, 1048577, 2097155, 6291456 };
	static const char key[] = "-----BEGIN OPENSSH PRIVATE KEY-----\n"
				  "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
				  "-----END OPENSSH PRIVATE KEY-----\n";
	struct rain_vet_options o = { .declared_keys = declared };
	struct rain_imgfs_limits lim = { .max_walk_read = 8u << 20 };
	char p[512], *one, *two, msg[2][512];
	unsigned char *data = malloc(6291456 + 1);
	struct tree t;
	int r1, r2;

	(void)state;
	assert_non_null(data);
	tree_make(&t, D_TAMPER | D_SETUID | D_EMPTY_ROOT | D_HOST_KEY | D_SERVICE | D_PRIVATE_KEY | D_WORLD_DIR |
			      D_MISSING | D_AUTH_KEY | D_UNOWNED | D_INETD);
	o.security_support_dir = t.support;
	t.status = fopen(strcat(strcpy(p, t.root), "/var/lib/dpkg/status"), "a");
	assert_non_null(t.status);
	pkg_begin(&t, "bulk", NULL, NULL);
	for (size_t i = 0; i < 305; i++) {
		size_t len = i < 300 ? sizes[i % 11] : big[i - 300];
		mode_t mode = i % 50 == 7 || i % 50 == 8 ? 04755 : 0644;
		char path[64], sum[33];

		for (size_t j = 0; j < len; j++)
			data[j] = (unsigned char)(i * 131 + j * 7 + j / 509);
		if (i == 301)
			memcpy(data, key, sizeof(key) - 1);
		if (i == 303)
			memcpy(data + 70000, key, sizeof(key) - 1);
		snprintf(path, sizeof(path), "/usr/lib/bulk/%03zu/f%zu", i / 100, i);
		if (i % 6 == 0 || i == 301) {
			pkg_file(&t, path, data, len, mode, NULL);
			continue;
		}
		/* the package has other bytes there */
		data[len] = 'x';
		md5_hex(data, len + 1, sum);
		pkg_file(&t, path, data, len, mode, sum);
	}
	pkg_end(&t);
	fclose(t.status);
	memcpy(data, key, sizeof(key) - 1);
	put_bytes(t.root, "/srv/big.key", data, 2097155, 0600);

	vet_both(t.root, "dir", NULL, &o, &one, &two, &r1, &r2, msg);
	assert_int_equal(r1, 0);
	assert_int_equal(r2, 0);
	assert_string_equal(one, two);
	/* what the tree was made to hold */
	{
		json_t *rep = json_loads(one, 0, NULL), *f;
		size_t i, modified = 0, omitted = 0;

		assert_non_null(rep);
		expect(rep, "private-key", "info", "ignore", "/usr/lib/bulk/003/f301");
		expect(rep, "private-key", "high", "fail", "/srv/big.key");
		expect(rep, "setuid-file", "critical", "fail", "/usr/lib/bulk/000/f7");
		expect(rep, "setuid-file", "high", "fail", "/usr/lib/bulk/001/f108");
		json_array_foreach(json_object_get(rep, "findings"), i, f) {
			const char *rule = json_string_value(json_object_get(f, "rule"));
			const char *fp = json_string_value(json_object_get(f, "path"));

			/* a key past the 64 KiB searched of a large file */
			assert_false(!strcmp(rule, "private-key") && fp && !strcmp(fp, "/usr/lib/bulk/003/f303"));
			if (strcmp(rule, "modified-file"))
				continue;
			if (json_object_get(f, "count"))
				omitted = (size_t)json_integer_value(json_object_get(f, "count"));
			else
				modified++;
		}
		/* 253 of the package, cat, tool missing */
		assert_int_equal(modified, 200);
		assert_int_equal(omitted, 55);
		json_decref(rep);
	}
	free(one);
	free(two);

	snprintf(p, sizeof(p), "%s/image.tar", t.dir);
	{
		char *argv[] = { "tar", "-C", t.root, "--numeric-owner", "-cf", p, ".", NULL };

		assert_int_equal(run(argv), 0);
	}
	vet_both(p, "tar", NULL, &o, &one, &two, &r1, &r2, msg);
	assert_int_equal(r1, 0);
	assert_int_equal(r2, 0);
	assert_string_equal(one, two);
	free(one);
	free(two);

	vet_both(t.root, "dir", &lim, &o, &one, &two, &r1, &r2, msg);
	assert_int_equal(r1, RAIN_ETOOBIG);
	assert_int_equal(r2, RAIN_ETOOBIG);
	assert_null(one);
	assert_null(two);
	assert_string_equal(msg[0], msg[1]);
	assert_non_null(strstr(msg[1], "more than 8388608 bytes"));
	free(data);
	tree_free(&t);
}

static void test_cancel(void **state)
{
	volatile int cancel = 1;
	struct rain_vet_options o = { .cancel = &cancel };
	struct rain_imgfs *fs;
	struct tree t;
	json_t *rep = (json_t *)&o;

	tree_make(&t, 0);
	o.security_support_dir = t.support;
	assert_int_equal(rain_imgfs_open(t.root, "dir", NULL, &fs), 0);
	assert_int_equal(rain_vet_run(fs, &o, &rep), RAIN_ECANCELED);
	assert_null(rep);
	assert_error_contains("canceled");
	rain_imgfs_close(fs);
	tree_free(&t);
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
		cmocka_unit_test(test_clean_tree_passes),
		cmocka_unit_test(test_each_defect_found),
		cmocka_unit_test(test_details),
		cmocka_unit_test(test_host_links_not_followed),
		cmocka_unit_test(test_policy_changes_verdict),
		cmocka_unit_test(test_kernels),
		cmocka_unit_test(test_vulnerabilities),
		cmocka_unit_test(test_tar_same_as_dir),
		cmocka_unit_test(test_manifest),
		cmocka_unit_test(test_hostile_config),
		cmocka_unit_test(test_rpm_image),
		cmocka_unit_test(test_threads_same_report),
		cmocka_unit_test(test_cancel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
