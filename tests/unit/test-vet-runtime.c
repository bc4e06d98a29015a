/* The runtime check's parser (rain/vet-runtime.h) on real collector
 * output: a bookworm image with openssh-server booted under qemu (its
 * /proc/net, ls -l /proc/PID/fd, head /proc/PID/comm and systemctl lists,
 * as written to the guest's serial port: carriage returns, systemctl's
 * colours; the fd and comm lists cut to three processes), and /proc/net
 * and ss -Hltunp of a host network namespace holding loopback, wildcard
 * and connected TCP and UDP sockets. Then incomplete, forged and hostile
 * outputs. The collector's command as the kernel command line takes it.
 * Then rain_vet_runtime() refusing what it cannot boot, on real trees and
 * ext4 images made with mke2fs -d: a directory, an image without a
 * kernel, without an initramfs, without systemd, and (qemu out of PATH)
 * the newest of two kernels picked before qemu is found missing. Last,
 * the runtime rules added to a real report of rain_vet_run(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>
#include "rain/error.h"
#include "rain/vet-runtime.h"
#include "lib/vet/runtime-internal.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "testutil.h"

/* A bookworm image with openssh-server, booted by the runtime check. */
static const char bookworm[] =
	"rain-vet: kernel\r\n"
	"6.1.0-50-amd64\r\n"
	"rain-vet: tcp\r\n"
	"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     \r\n"
	"   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 15957 1 00000000dbf0840d 100 0 0 10 0                     \r\n"
	"rain-vet: tcp6\r\n"
	"  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\r\n"
	"   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 14435 1 000000000ebace57 100 0 0 10 0\r\n"
	"rain-vet: udp\r\n"
	"   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            \r\n"
	"rain-vet: udp6\r\n"
	"  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\r\n"
	"rain-vet: ss\r\n"
	"rain-vet: fds\r\n"
	"/proc/1/fd:\r\n"
	"lrwx------ 1 root root 64 Dec  7 05:43 0 -> /dev/null\r\n"
	"lrwx------ 1 root root 64 Dec  7 05:43 1 -> /dev/null\r\n"
	"lrwx------ 1 root root 64 Dec  7 05:43 15 -> 'socket:[12204]'\r\n"
	"lrwx------ 1 root root 64 Dec  7 05:43 16 -> 'socket:[12205]'\r\n"
	"lrwx------ 1 root root 64 Dec  7 05:43 17 -> 'socket:[12206]'\r\n"
	"lrwx------ 1 root root 64 Dec  7 05:43 18 -> 'socket:[12207]'\r\n"
	"lrwx------ 1 root root 64 Dec  7 05:43 19 -> 'socket:[12208]'\r\n"
	"lrwx------ 1 root root 64 Dec  7 05:43 2 -> /dev/null\r\n"
	"lrwx------ 1 root root 64 Dec  7 05:43 20 -> 'socket:[12210]'\r\n"
	"lrwx------ 1 root root 64 Dec  7 05:43 21 -> 'socket:[12211]'\r\n"
	"lrwx------ 1 root root 64 Dec  7 05:43 29 -> 'socket:[10806]'\r\n"
	"lrwx------ 1 root root 64 Dec  7 05:43 30 -> 'socket:[12218]'\r\n"
	"lrwx------ 1 root root 64 Dec  7 05:43 31 -> 'socket:[12219]'\r\n"
	"lrwx------ 1 root root 64 Dec  7 05:43 32 -> 'socket:[12221]'\r\n"
	"lrwx------ 1 root root 64 Dec  7 05:43 33 -> 'socket:[12223]'\r\n"
	"lrwx------ 1 root root 64 Dec  7 05:43 34 -> 'socket:[12225]'\r\n"
	"lrwx------ 1 root root 64 Dec  7 05:43 35 -> 'socket:[12227]'\r\n"
	"lrwx------ 1 root root 64 Dec  7 05:43 40 -> 'socket:[12283]'\r\n"
	"lrwx------ 1 root root 64 Dec  7 05:43 41 -> 'socket:[11244]'\r\n"
	"lrwx------ 1 root root 64 Dec  7 05:43 42 -> 'socket:[13315]'\r\n"
	"lrwx------ 1 root root 64 Dec  7 05:43 47 -> 'socket:[12366]'\r\n"
	"lrwx------ 1 root root 64 Dec  7 05:43 50 -> 'socket:[13489]'\r\n"
	"lrwx------ 1 root root 64 Dec  7 05:43 52 -> 'socket:[15949]'\r\n"
	"lrwx------ 1 root root 64 Dec  7 05:43 58 -> 'socket:[14400]'\r\n"
	"/proc/257/fd:\r\n"
	"/proc/269/fd:\r\n"
	"lr-x------ 1 root root 64 Dec  7 05:43 0 -> /dev/null\r\n"
	"lrwx------ 1 root root 64 Dec  7 05:43 1 -> 'socket:[15948]'\r\n"
	"lrwx------ 1 root root 64 Dec  7 05:43 2 -> 'socket:[15948]'\r\n"
	"lrwx------ 1 root root 64 Dec  7 05:43 3 -> 'socket:[15957]'\r\n"
	"lrwx------ 1 root root 64 Dec  7 05:43 4 -> 'socket:[14435]'\r\n"
	"rain-vet: comm\r\n"
	"==> /proc/1/comm <==\r\n"
	"systemd\r\n"
	"\r\n"
	"==> /proc/257/comm <==\r\n"
	"agetty\r\n"
	"\r\n"
	"==> /proc/269/comm <==\r\n"
	"sshd\r\n"
	"\r\n"
	"rain-vet: enabled\r\n"
	"e2scrub_reap.service                 \033[0;1;32menabled\033[0m\033[0;1;32m \033[0m\033[0;1;32menabled \033[0m\r\n"
	"getty@.service                       \033[0;1;32menabled\033[0m\033[0;1;32m \033[0m\033[0;1;32menabled \033[0m\r\n"
	"rain-ssh-host-keys.service           \033[0;1;32menabled\033[0m\033[0;1;32m \033[0m\033[0;1;32menabled \033[0m\r\n"
	"ssh.service                          \033[0;1;32menabled\033[0m\033[0;1;32m \033[0m\033[0;1;32menabled \033[0m\r\n"
	"systemd-network-generator.service    \033[0;1;32menabled\033[0m\033[0;1;32m \033[0m\033[0;1;32menabled \033[0m\r\n"
	"systemd-networkd-wait-online.service \033[0;1;32menabled\033[0m\033[0;1;32m \033[0m\033[0;1;31mdisabled\033[0m\r\n"
	"systemd-networkd.service             \033[0;1;32menabled\033[0m\033[0;1;32m \033[0m\033[0;1;32menabled \033[0m\r\n"
	"\033[0m\033[0;4msystemd-pstore.service              \033[0m\033[0m\033[0;4m \033[0m\033[0;1;32m\033[0;4menabled\033[0m\033[0;1;32m\033[0;4m \033[0m\033[0;1;32m\033[0;4menabled \033[0m\r\n"
	"\033[0m\033[0;4msystemd-networkd.socket             \033[0m\033[0m\033[0;4m \033[0m\033[0;1;32m\033[0;4menabled\033[0m\033[0;1;32m\033[0;4m \033[0m\033[0;1;32m\033[0;4menabled \033[0m\r\n"
	"\033[0m\033[0;4mremote-fs.target                    \033[0m\033[0m\033[0;4m \033[0m\033[0;1;32m\033[0;4menabled\033[0m\033[0;1;32m\033[0;4m \033[0m\033[0;1;32m\033[0;4menabled \033[0m\r\n"
	"apt-daily-upgrade.timer              \033[0;1;32menabled\033[0m\033[0;1;32m \033[0m\033[0;1;32menabled \033[0m\r\n"
	"apt-daily.timer                      \033[0;1;32menabled\033[0m\033[0;1;32m \033[0m\033[0;1;32menabled \033[0m\r\n"
	"dpkg-db-backup.timer                 \033[0;1;32menabled\033[0m\033[0;1;32m \033[0m\033[0;1;32menabled \033[0m\r\n"
	"e2scrub_all.timer                    \033[0;1;32menabled\033[0m\033[0;1;32m \033[0m\033[0;1;32menabled \033[0m\r\n"
	"fstrim.timer                         \033[0;1;32menabled\033[0m\033[0;1;32m \033[0m\033[0;1;32menabled \033[0m\r\n"
	"rain-vet: failed\r\n"
	"rain-vet: end\r\n";

/* A network namespace on the host: /proc/net and ss (no fds, no comm:
 * the processes come from ss). */
static const char hostns[] =
	"rain-vet: kernel\n"
	"6.12.57+deb13-amd64\n"
	"rain-vet: tcp\n"
	"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     \n"
	"   0: 0100007F:0019 00000000:0000 0A 00000000:00000001 00:00000000 00000000     0        0 2267459 2 0000000094705b5e 100 0 0 10 0                   \n"
	"   1: 0100007F:0019 0100007F:EA0E 01 00000000:00000000 00:00000000 00000000     0        0 0 1 00000000d45e53b0 20 0 0 10 -1                         \n"
	"   2: 0100007F:EA0E 0100007F:0019 01 00000000:00000000 00:00000000 00000000     0        0 2267460 2 000000007e2d7bfc 20 0 0 10 -1                   \n"
	"rain-vet: tcp6\n"
	"  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	"   0: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2267458 1 000000007a929686 100 0 0 10 0\n"
	"rain-vet: udp\n"
	"   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            \n"
	" 1153: 0100007F:0FA0 0100007F:14E9 01 00000000:00000000 00:00000000 00000000     0        0 2267461 2 00000000e62676c3 0       \n"
	" 2506: 0100007F:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 2267454 2 000000003c545641 0       \n"
	"13605: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 2267455 2 000000004f2635d5 0       \n"
	"rain-vet: udp6\n"
	"  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
	"13660: 00000000000000000000000000000000:007B 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 2267456 2 000000008e20a000 0\n"
	"13860: 00000000000000000000000001000000:0143 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 2267457 2 000000008b703ea4 0\n"
	"rain-vet: ss\n"
	"udp UNCONN 0      0      127.0.0.1:5353 0.0.0.0:* users:((\"python3\",pid=21435,fd=3))\n"
	"udp UNCONN 0      0        0.0.0.0:68   0.0.0.0:* users:((\"python3\",pid=21435,fd=4))\n"
	"udp UNCONN 0      0              *:123        *:* users:((\"python3\",pid=21435,fd=5))\n"
	"udp UNCONN 0      0          [::1]:323     [::]:* users:((\"python3\",pid=21435,fd=6))\n"
	"tcp LISTEN 1      128    127.0.0.1:25   0.0.0.0:* users:((\"python3\",pid=21435,fd=8))\n"
	"tcp LISTEN 0      128        [::1]:631     [::]:* users:((\"python3\",pid=21435,fd=7))\n"
	"rain-vet: enabled\n"
	"rain-vet: failed\n"
	/* systemctl list-units --state=failed --plain --no-legend's format */
	"broken.service loaded failed failed A unit that fails\n"
	"\xe2\x97\x8f other.mount loaded failed failed Bullet first\n"
	"rain-vet: end\n";

static json_t *parse_ok(const char *s)
{
	json_t *facts = NULL;

	if (rain_vet_runtime_parse(s, strlen(s), &facts) != 0)
		fail_msg("parse: %s", rain_error_last());
	return facts;
}

/* The listening entry for proto, address and port, or NULL. */
static json_t *find_listening(json_t *facts, const char *proto, const char *addr, int port)
{
	json_t *l;
	size_t i;

	json_array_foreach(json_object_get(facts, "listening"), i, l)
		if (strcmp(json_string_value(json_object_get(l, "proto")), proto) == 0 &&
		    strcmp(json_string_value(json_object_get(l, "address")), addr) == 0 &&
		    json_integer_value(json_object_get(l, "port")) == port)
			return l;
	return NULL;
}

static bool has_string(json_t *list, const char *s)
{
	json_t *v;
	size_t i;

	json_array_foreach(list, i, v)
		if (strcmp(json_string_value(v), s) == 0)
			return true;
	return false;
}

static void test_bookworm(void **state)
{
	json_t *facts = parse_ok(bookworm), *l;

	(void)state;
	assert_string_equal(json_string_value(json_object_get(facts, "kernel")), "6.1.0-50-amd64");
	assert_int_equal(json_array_size(json_object_get(facts, "listening")), 2);
	l = find_listening(facts, "tcp", "0.0.0.0", 22);
	assert_non_null(l);
	assert_string_equal(json_string_value(json_object_get(l, "process")), "sshd");
	l = find_listening(facts, "tcp", "::", 22);
	assert_non_null(l);
	assert_string_equal(json_string_value(json_object_get(l, "process")), "sshd");
	/* colours and carriage returns gone, every enabled unit file there */
	assert_int_equal(json_array_size(json_object_get(facts, "enabled")), 15);
	assert_true(has_string(json_object_get(facts, "enabled"), "ssh.service"));
	assert_true(has_string(json_object_get(facts, "enabled"), "systemd-networkd.socket"));
	assert_true(has_string(json_object_get(facts, "enabled"), "fstrim.timer"));
	assert_int_equal(json_array_size(json_object_get(facts, "failed")), 0);
	json_decref(facts);
}

static void test_host_namespace(void **state)
{
	json_t *facts = parse_ok(hostns), *l, *failed;

	(void)state;
	/* LISTEN tcp, unconnected udp; the connected ones left out */
	assert_int_equal(json_array_size(json_object_get(facts, "listening")), 6);
	assert_non_null(find_listening(facts, "tcp", "127.0.0.1", 25));
	assert_non_null(find_listening(facts, "tcp", "::1", 631));
	assert_non_null(find_listening(facts, "udp", "127.0.0.1", 5353));
	assert_non_null(find_listening(facts, "udp", "0.0.0.0", 68));
	assert_non_null(find_listening(facts, "udp", "::1", 323));
	l = find_listening(facts, "udp", "::", 123);
	assert_non_null(l);
	/* ss names it "*:123" */
	assert_string_equal(json_string_value(json_object_get(l, "process")), "python3");
	assert_null(find_listening(facts, "udp", "127.0.0.1", 4000));
	assert_string_equal(json_string_value(json_object_get(find_listening(facts, "tcp", "::1", 631),
								  "process")), "python3");
	failed = json_object_get(facts, "failed");
	assert_int_equal(json_array_size(failed), 2);
	assert_true(has_string(failed, "broken.service"));
	assert_true(has_string(failed, "other.mount"));
	json_decref(facts);
}

static void test_incomplete(void **state)
{
	json_t *facts = (json_t *)1;
	const char *cut = strstr(bookworm, "rain-vet: enabled");

	(void)state;
	assert_int_equal(rain_vet_runtime_parse(bookworm, (size_t)(cut - bookworm), &facts), RAIN_EFORMAT);
	assert_null(facts);
	assert_error_contains("no end marker; last section: comm");
	assert_int_equal(rain_vet_runtime_parse("", 0, &facts), RAIN_EFORMAT);
	assert_error_contains("no kernel");
	assert_int_equal(rain_vet_runtime_parse("rain-vet: kernel\nrain-vet: end\n", 31, &facts),
			 RAIN_EFORMAT);
	assert_int_equal(rain_vet_runtime_parse(bookworm, RAIN_VET_RUNTIME_MAX_OUTPUT + 1, &facts),
			 RAIN_ETOOBIG);
}

/* Garbage, control characters, bad hex, absurd ports, overlong lines and
 * sections out of order: nothing crashes, nothing bad is listed. */
static void test_hostile(void **state)
{
	static const char bad[] =
		"rain-vet: kernel\n"
		"\033[31m6.1.0-evil\033[0m\001\n"
		"rain-vet: tcp\n"
		"   0: 0000000G:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1\n"
		"   1: 00000000:1FFFF 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1\n"
		"   2: 000000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1\n"
		"   3: 00000000:0050 00000000:0000 0A\n"
		"   4: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 77\n"
		"rain-vet: fds\n"
		"/proc/-1/fd:\n"
		"x -> socket:[77]\n"
		"/proc/99/fd:\n"
		"x -> socket:[77\n"
		"rain-vet: comm\n"
		"==> /proc/99/comm <==\n"
		"\xff\xfeweb\"\\\n"
		"rain-vet: enabled\n"
		"../../etc/passwd\n"
		"a\xc3\xa9.service enabled\n"
		"rain-vet: kernel\n"
		"6.6.6-forged\n"
		"rain-vet: end\n";
	json_t *facts = parse_ok(bad), *l;
	_cleanup_free_ char *longline = NULL;
	size_t n = 100000;

	(void)state;
	assert_string_equal(json_string_value(json_object_get(facts, "kernel")), "6.1.0-evil");
	assert_int_equal(json_array_size(json_object_get(facts, "listening")), 1);
	l = find_listening(facts, "tcp", "0.0.0.0", 80);
	assert_non_null(l);
	/* the inode's holder is not known (pid -1 refused, "socket:[77" cut) */
	assert_null(json_object_get(l, "process"));
	assert_int_equal(json_array_size(json_object_get(facts, "enabled")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(facts, "enabled"), 0)),
			    "a?.service");
	json_decref(facts);

	longline = malloc(n + 64);
	assert_non_null(longline);
	strcpy(longline, "rain-vet: kernel\n");
	memset(longline + strlen(longline), 'k', n);
	strcpy(longline + 17 + n, "\nrain-vet: end\n");
	assert_int_equal(rain_vet_runtime_parse(longline, strlen(longline), &facts), RAIN_EFORMAT);
	assert_error_contains("no kernel");
}

/* ExecStart= would expand '$' and '%', the kernel command line's quotes
 * end at '"'; the whole script is one single-quoted sh -c argument. */
static void test_collector_quoting(void **state)
{
	const char *c = vet_runtime_collector;
	int quotes = 0;

	(void)state;
	assert_null(strchr(c, '$'));
	assert_null(strchr(c, '%'));
	assert_null(strchr(c, '"'));
	for (const char *p = c; *p; p++)
		quotes += *p == '\'';
	assert_int_equal(quotes, 2);
	assert_true(strncmp(c, "/bin/sh -c '", 12) == 0);
	assert_int_equal(c[strlen(c) - 1], '\'');
	assert_non_null(strstr(c, "systemctl start multi-user.target"));
	assert_non_null(strstr(c, "/dev/ttyS1"));
}

/* --- refusals, on real trees ------------------------------------------- */

static char tmpdir[] = "/tmp/test-vet-runtime.XXXXXX";

static void put(const char *root, const char *path, const char *content)
{
	char *full = fs_path_join(root, path), *dir = strdup(full);

	assert_non_null(full);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(fs_mkdir_p(dir, 0755), 0);
	assert_int_equal(fs_write_atomic(full, content, strlen(content), 0644), 0);
	free(full);
	free(dir);
}

/* tree made into an ext4 image at img (mke2fs -d). */
static void make_ext4(const char *tree, const char *img)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		execlp("mke2fs", "mke2fs", "-q", "-F", "-t", "ext4", "-d", tree, img, "8M", (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static char log_seen[4096];

static void log_line(void *ud, const char *line)
{
	(void)ud;
	strncat(log_seen, line, sizeof(log_seen) - strlen(log_seen) - 2);
	strcat(log_seen, "\n");
}

/* rain_vet_runtime on the image at path: its code. */
static int runtime_on(const char *path)
{
	struct rain_vet_runtime_options o = { .timeout_s = 5, .log = log_line };
	struct rain_imgfs *fs = NULL;
	json_t *facts = (json_t *)1;
	int r;

	log_seen[0] = '\0';
	assert_int_equal(rain_imgfs_open(path, NULL, NULL, &fs), 0);
	r = rain_vet_runtime(fs, path, &o, &facts);
	rain_imgfs_close(fs);
	if (r < 0)
		assert_null(facts);
	else
		json_decref(facts);
	return r;
}

/* tree made into the ext4 image img again, which the check (with PATH
 * set to path, when not NULL) refuses with code and a message that has
 * needle. */
static void refused(const char *tree, const char *img, const char *path, int code, const char *needle)
{
	_cleanup_free_ char *saved = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
	int r;

	unlink(img);
	make_ext4(tree, img);
	if (path)
		setenv("PATH", path, 1);
	r = runtime_on(img);
	if (path)
		setenv("PATH", saved ? saved : "/usr/bin:/bin", 1);
	assert_int_equal(r, code);
	assert_error_contains(needle);
}

static void test_refusals(void **state)
{
	char tree[256], img[256], lib[300];

	(void)state;
	assert_non_null(mkdtemp(tmpdir));
	snprintf(tree, sizeof(tree), "%s/tree", tmpdir);
	snprintf(img, sizeof(img), "%s/image.ext4", tmpdir);
	put(tree, "etc/os-release", "ID=debian\n");

	/* a directory tree: not a disk */
	assert_int_equal(runtime_on(tree), RAIN_EINVAL);
	assert_error_contains("is a dir tree, not a disk image");

	refused(tree, img, NULL, RAIN_EINVAL, "the runtime check needs an image with a kernel: build it "
		"with [packages] kernel = yes or vet a disk image");

	put(tree, "boot/vmlinuz-6.1.0-9-amd64", "old kernel");
	put(tree, "boot/vmlinuz-6.1.0-28-amd64", "new kernel");
	refused(tree, img, NULL, RAIN_EINVAL, "no initramfs /boot/initrd.img-6.1.0-28-amd64");

	put(tree, "boot/initrd.img-6.1.0-28-amd64", "initramfs");
	refused(tree, img, NULL, RAIN_EINVAL, "the image has no systemd");

	put(tree, "usr/lib/systemd/systemd", "systemd");
	snprintf(lib, sizeof(lib), "%s/lib", tree);
	assert_int_equal(symlink("usr/lib", lib), 0);
	refused(tree, img, NULL, RAIN_EINVAL, "no systemd-run-generator");

	put(tree, "usr/lib/systemd/system-generators/systemd-run-generator", "generator");
	refused(tree, img, tmpdir, RAIN_ENOTFOUND, "qemu-system-x86_64 is not installed");
	/* the newest kernel, the whole ext4 disk as root */
	assert_non_null(strstr(log_seen, "booting /boot/vmlinuz-6.1.0-28-amd64 (/dev/vda)"));
	test_rmtree(tmpdir);
}

/* The findings of rule in report, and the report's verdict. */
static size_t count_rule(const json_t *report, const char *rule, const char *action)
{
	json_t *f;
	size_t i, n = 0;

	json_array_foreach(json_object_get(report, "findings"), i, f)
		if (strcmp(json_string_value(json_object_get(f, "rule")), rule) == 0) {
			assert_string_equal(json_string_value(json_object_get(f, "action")), action);
			n++;
		}
	return n;
}

static json_t *tree_report(const char *tree)
{
	struct rain_imgfs *fs = NULL;
	json_t *report = NULL;

	assert_int_equal(rain_imgfs_open(tree, "dir", NULL, &fs), 0);
	if (rain_vet_run(fs, NULL, &report) != 0)
		fail_msg("rain_vet_run: %s", rain_error_last());
	rain_imgfs_close(fs);
	return report;
}

static void test_findings(void **state)
{
	char dir[] = "/tmp/test-vet-runtime-findings.XXXXXX";
	json_t *bw = parse_ok(bookworm), *host = parse_ok(hostns), *report, *f;
	struct rain_vet_policy *p = NULL;
	enum rain_vet_verdict v;
	size_t before;

	(void)state;
	assert_non_null(mkdtemp(dir));
	put(dir, "etc/os-release", "ID=debian\nVERSION_ID=12\n");
	report = tree_report(dir);
	before = json_array_size(json_object_get(report, "findings"));

	/* sshd on 0.0.0.0 and ::: medium, warns under the default policy */
	assert_int_equal(rain_vet_runtime_findings(report, bw, NULL), 0);
	assert_int_equal(count_rule(report, "runtime-listening", "warn"), 2);
	assert_int_equal(count_rule(report, "runtime-failed-unit", "warn"), 0);
	assert_int_equal(count_rule(report, "runtime-kernel", "fail"), 0);
	f = json_array_get(json_object_get(report, "findings"), before);
	assert_string_equal(json_string_value(json_object_get(f, "severity")), "medium");
	assert_string_equal(json_string_value(json_object_get(f, "process")), "sshd");
	assert_non_null(strstr(json_string_value(json_object_get(f, "message")), "sshd listens on tcp"));
	assert_int_equal(rain_vet_report_verdict(report, &v), 0);
	assert_true(v >= RAIN_VET_WARNED);
	assert_true(json_integer_value(json_object_get(json_object_get(json_object_get(report, "counts"),
									 "severity"), "medium")) >= 2);
	assert_string_equal(json_string_value(json_object_get(json_object_get(report, "runtime"), "kernel")),
			    "6.1.0-50-amd64");
	json_decref(report);

	/* loopback sockets are no finding; the two failed units are, low */
	report = tree_report(dir);
	assert_int_equal(rain_vet_runtime_findings(report, host, NULL), 0);
	assert_int_equal(count_rule(report, "runtime-listening", "warn"), 2);  /* udp 0.0.0.0:68, :::123 */
	assert_int_equal(count_rule(report, "runtime-failed-unit", "warn"), 2);
	json_decref(report);

	/* a policy's allowed_kernels: the running kernel off it fails */
	assert_int_equal(rain_vet_policy_new("strict", &p), 0);
	assert_int_equal(rain_vet_policy_set(p, "allowed_kernels", "5.10.*"), 0);
	assert_int_equal(rain_vet_policy_set(p, "runtime-listening", "fail"), 0);
	report = tree_report(dir);
	assert_int_equal(rain_vet_runtime_findings(report, bw, p), 0);
	assert_int_equal(count_rule(report, "runtime-kernel", "fail"), 1);
	assert_int_equal(count_rule(report, "runtime-listening", "fail"), 2);
	assert_int_equal(rain_vet_report_verdict(report, &v), 0);
	assert_int_equal(v, RAIN_VET_FAILED);
	json_decref(report);
	assert_int_equal(rain_vet_policy_set(p, "allowed_kernels", "6.1.0-*-amd64"), 0);
	report = tree_report(dir);
	assert_int_equal(rain_vet_runtime_findings(report, bw, p), 0);
	assert_int_equal(count_rule(report, "runtime-kernel", "fail"), 0);
	json_decref(report);
	rain_vet_policy_free(p);

	report = json_object();
	assert_int_equal(rain_vet_runtime_findings(report, report, NULL), RAIN_EINVAL);
	json_decref(report);
	json_decref(bw);
	json_decref(host);
	test_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bookworm),
		cmocka_unit_test(test_host_namespace),
		cmocka_unit_test(test_incomplete),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_collector_quoting),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_findings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
