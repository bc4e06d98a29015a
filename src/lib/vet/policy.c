/* Vetting policies (rain/vet.h): what fails, what warns, what is allowed.
 *
 * A rule left unset acts by the severity of each finding: from the
 * policy's fail_severity on (high by default) it fails, from low on it
 * warns, info is listed and ignored. Set to fail, warn or ignore, a rule
 * acts so whatever the severity.
 */
#include <ctype.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rain/error.h"
#include "util/cleanup.h"
#include "util/cleanup-json.h"
#include "util/strutil.h"
#include "lib/vet/vet-internal.h"

#define MAX_LIST 1024           /* elements of a list key */
#define MAX_ELEM 1024           /* bytes of one element */
#define MAX_FEED_AGE 36500      /* days */

const char *const vet_rule_names[VET_RULE_COUNT] = {
	[VET_VULNERABLE_PACKAGE] = "vulnerable-package",
	[VET_UNFIXED_VULNERABILITY] = "unfixed-vulnerability",
	[VET_UNSUPPORTED_PACKAGE] = "unsupported-package",
	[VET_MODIFIED_FILE] = "modified-file",
	[VET_UNOWNED_FILE] = "unowned-file",
	[VET_SETUID_FILE] = "setuid-file",
	[VET_WORLD_WRITABLE] = "world-writable",
	[VET_EMPTY_PASSWORD] = "empty-password",
	[VET_ROOT_PASSWORD_LOGIN] = "root-password-login",
	[VET_UNEXPECTED_AUTHORIZED_KEY] = "unexpected-authorized-key",
	[VET_PRIVATE_KEY] = "private-key",
	[VET_SSH_HOST_KEY] = "ssh-host-key",
	[VET_SSHD_SETTING] = "sshd-setting",
	[VET_UNSAFE_SERVICE] = "unsafe-service",
	[VET_KERNEL_NOT_ALLOWED] = "kernel-not-allowed",
};

/* The setuid and setgid programs of Debian's and Fedora's base systems
 * and their common services, as the image has them (usr-merged or not). */
static const char *const default_setuid[] = {
	"/usr/bin/passwd", "/usr/bin/su", "/usr/bin/mount", "/usr/bin/umount",
	"/usr/bin/chsh", "/usr/bin/chfn", "/usr/bin/gpasswd", "/usr/bin/newgrp",
	"/usr/bin/chage", "/usr/bin/expiry", "/usr/bin/sudo", "/usr/bin/crontab",
	"/usr/bin/wall", "/usr/bin/write", "/usr/bin/bsd-write", "/usr/bin/ssh-agent",
	"/usr/bin/dotlockfile", "/usr/bin/fusermount", "/usr/bin/fusermount3",
	"/usr/bin/newuidmap", "/usr/bin/newgidmap", "/usr/bin/pkexec", "/usr/bin/at",
	"/usr/bin/plocate", "/usr/bin/mlocate", "/usr/bin/locate",
	"/usr/sbin/unix_chkpwd", "/usr/sbin/pam_timestamp_check",
	"/usr/sbin/postdrop", "/usr/sbin/postqueue",
	"/usr/lib/dbus-1.0/dbus-daemon-launch-helper", "/usr/libexec/dbus-daemon-launch-helper",
	"/usr/lib/openssh/ssh-keysign", "/usr/libexec/openssh/ssh-keysign",
	"/usr/lib/polkit-1/polkit-agent-helper-1", "/usr/libexec/polkit-agent-helper-1",
	"/usr/lib/*/utempter/utempter", "/usr/libexec/utempter/utempter",
	"/bin/su", "/bin/mount", "/bin/umount", "/bin/fusermount", "/sbin/unix_chkpwd",
	NULL,
};

/* Daemons that send passwords or sessions in clear text or trust the
 * network (r-services, telnet, tftp, finger, talk, NIS): unit names,
 * programs and server packages (not their clients: "tftp", "telnet" and
 * "finger" are Debian's client packages). */
static const char *const default_unsafe[] = {
	"telnetd", "in.telnetd", "inetutils-telnetd", "telnetd-ssl", "telnet@", "telnet.socket",
	"telnet-server", "rsh-server", "rsh-redone-server", "in.rshd", "rshd", "in.rlogind",
	"rlogind", "in.rexecd", "rexecd", "rsh.socket", "rlogin.socket", "rexec.socket",
	"tftpd", "in.tftpd", "tftpd-hpa", "atftpd", "tftp-server", "tftp.socket",
	"fingerd", "in.fingerd", "efingerd", "cfingerd",
	"talkd", "in.talkd", "in.ntalkd", "inetutils-talkd", "ypserv",
	NULL,
};

/* Files package scripts and caches make in system paths, owned by no
 * package by design. */
static const char *const default_unowned_ignore[] = {
	"*/__pycache__/*", "*.pyc",
	"/usr/lib/locale/locale-archive",
	"/usr/lib/modules/*/modules.*", "/lib/modules/*/modules.*",
	"/usr/share/info/dir", "/usr/share/info/dir.old",
	"/usr/lib/*/gconv/gconv-modules.cache",
	"/usr/lib/udev/hwdb.bin", "/lib/udev/hwdb.bin",
	"/usr/share/mime/*",
	"/usr/share/applications/mimeinfo.cache",
	"/usr/share/icons/*/icon-theme.cache",
	"/usr/lib/*/gdk-pixbuf-2.0/*/loaders.cache",
	"/usr/lib/*/gio/modules/giomodule.cache",
	"/usr/share/glib-2.0/schemas/gschemas.compiled",
	"/usr/share/fonts/*/fonts.dir", "/usr/share/fonts/*/fonts.scale",
	"/usr/lib/ssl/certs/*",
	"/usr/share/ca-certificates/*",
	"/usr/lib/sysimage/*",
	"/usr/lib/python3/dist-packages/*.egg-info/*",
	"/usr/share/initramfs-tools/modules.d/90-rain",      /* rain's own build */
	NULL,
};

static int list_set(char ***v, size_t *n, const char *const *from);

static struct rain_vet_policy default_policy;
static bool default_ready;

int vet_rule_lookup(const char *name)
{
	for (int i = 0; i < VET_RULE_COUNT; i++)
		if (strcmp(vet_rule_names[i], name) == 0)
			return i;
	return -1;
}

bool vet_rule_is_runtime(const char *name)
{
	size_t n = strlen(name);

	if (!str_has_prefix(name, "runtime-") || n == 8 || n > 64)
		return false;
	for (const char *p = name; *p; p++)
		if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '-')
			return false;
	return true;
}

bool vet_glob_any(char *const *globs, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (fnmatch(globs[i], path, 0) == 0)
			return true;
	return false;
}

const char *rain_vet_severity_name(enum rain_vet_severity s)
{
	static const char *const names[] = { "info", "low", "medium", "high", "critical" };

	return (unsigned)s <= RAIN_VET_CRITICAL ? names[s] : "unknown";
}

int rain_vet_severity_parse(const char *s, enum rain_vet_severity *out)
{
	for (int i = RAIN_VET_INFO; i <= RAIN_VET_CRITICAL; i++)
		if (s && strcasecmp(s, rain_vet_severity_name(i)) == 0) {
			*out = i;
			return 0;
		}
	return rain_error_set(RAIN_EINVAL,
			      "severity '%s': use info, low, medium, high or critical", s ? s : "");
}

const char *rain_vet_action_name(enum rain_vet_action a)
{
	static const char *const names[] = { "ignore", "warn", "fail" };

	return (unsigned)a <= RAIN_VET_FAIL ? names[a] : "unknown";
}

const char *rain_vet_verdict_name(enum rain_vet_verdict v)
{
	static const char *const names[] = { "passed", "warned", "failed" };

	return (unsigned)v <= RAIN_VET_FAILED ? names[v] : "unknown";
}

static void policy_clear(struct rain_vet_policy *p)
{
	free(p->name);
	for (size_t i = 0; i < p->n_runtime; i++)
		free(p->runtime[i].rule);
	free(p->runtime);
	strv_free(p->allowed_kernels, p->n_allowed_kernels);
	strv_free(p->allowed_setuid, p->n_allowed_setuid);
	strv_free(p->unsafe_services, p->n_unsafe_services);
	strv_free(p->unowned_ignore, p->n_unowned_ignore);
	memset(p, 0, sizeof(*p));
}

/* The default values into p (zeroed). */
static int policy_init(struct rain_vet_policy *p, const char *name)
{
	int r;

	p->name = strdup(name);
	if (!p->name)
		return rain_error_oom();
	for (int i = 0; i < VET_RULE_COUNT; i++)
		p->action[i] = VET_ACTION_AUTO;
	/* a vulnerability nobody has fixed yet warns: a rebuild cannot help */
	p->action[VET_UNFIXED_VULNERABILITY] = RAIN_VET_WARN;
	p->fail_severity = RAIN_VET_HIGH;
	r = list_set(&p->allowed_setuid, &p->n_allowed_setuid, default_setuid);
	if (r >= 0)
		r = list_set(&p->unsafe_services, &p->n_unsafe_services, default_unsafe);
	if (r >= 0)
		r = list_set(&p->unowned_ignore, &p->n_unowned_ignore, default_unowned_ignore);
	return r;
}

static void default_init(void)
{
	struct rain_vet_policy p = { 0 };

	if (policy_init(&p, "default") < 0) {
		policy_clear(&p);
		return;
	}
	default_policy = p;
	default_ready = true;
}

/* Made once, by the first caller; NULL when that ran out of memory. */
const struct rain_vet_policy *vet_policy_default(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, default_init);
	return default_ready ? &default_policy : NULL;
}

static bool policy_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > 64)
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
			return false;
	return name[0] != '.' && name[0] != '-';
}

int rain_vet_policy_new(const char *name, struct rain_vet_policy **out)
{
	_cleanup_free_ struct rain_vet_policy *p = NULL;
	int r;

	rain_error_clear();
	*out = NULL;
	if (!policy_name_ok(name))
		return rain_error_set(RAIN_EINVAL,
				      "vet policy name '%s': use 1 to 64 letters, digits, '.', '_' or '-'",
				      name ? name : "");
	p = calloc(1, sizeof(*p));
	if (!p)
		return rain_error_oom();
	r = policy_init(p, name);
	if (r < 0) {
		policy_clear(p);
		return r;
	}
	*out = TAKE_PTR(p);
	return 0;
}

void rain_vet_policy_free(struct rain_vet_policy *p)
{
	if (!p)
		return;
	policy_clear(p);
	free(p);
}

const char *rain_vet_policy_name(const struct rain_vet_policy *p)
{
	return p->name;
}

static int list_set(char ***v, size_t *n, const char *const *from)
{
	char **nv = NULL;
	size_t nn = 0;
	int r;

	for (size_t i = 0; from[i]; i++) {
		r = strv_add(&nv, &nn, from[i]);
		if (r < 0) {
			strv_free(nv, nn);
			return r;
		}
	}
	strv_free(*v, *n);
	*v = nv;
	*n = nn;
	return 0;
}

/* A list value: words separated by blanks or commas; a first word "+"
 * adds to the list instead of replacing it. Each word must be printable
 * and pass check (which sets the message). */
static int list_parse(const char *key, const char *value, bool (*check)(const char *w), const char *what,
		      char ***v, size_t *n)
{
	_cleanup_free_ char *copy = strdup(value);
	char **nv = NULL, *save = NULL, *w;
	size_t nn = 0;
	bool add = false;
	int r = 0;

	if (!copy)
		return rain_error_oom();
	for (w = strtok_r(copy, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
		if (nn == 0 && !add && strcmp(w, "+") == 0) {
			add = true;
			for (size_t i = 0; i < *n && r >= 0; i++)
				r = strv_add(&nv, &nn, (*v)[i]);
			if (r < 0)
				goto fail;
			continue;
		}
		if (!str_is_printable(w, MAX_ELEM) || !check(w)) {
			r = rain_error_set(RAIN_EINVAL, "vet policy %s: '%.64s' is not %s", key, w, what);
			goto fail;
		}
		if (nn >= MAX_LIST) {
			r = rain_error_set(RAIN_EINVAL, "vet policy %s: more than %d entries", key, MAX_LIST);
			goto fail;
		}
		r = strv_add(&nv, &nn, w);
		if (r < 0)
			goto fail;
	}
	strv_free(*v, *n);
	*v = nv;
	*n = nn;
	return 0;
fail:
	strv_free(nv, nn);
	return r;
}

static bool is_path_glob(const char *w)
{
	return w[0] == '/' && !strstr(w, "/../") && !str_has_suffix(w, "/..");
}

static bool is_name_glob(const char *w)
{
	return !strchr(w, '/');
}

static int action_parse(const char *key, const char *value, int *out)
{
	static const char *const names[] = { "ignore", "warn", "fail" };

	for (int i = 0; i < 3; i++)
		if (strcmp(value, names[i]) == 0) {
			*out = i;
			return 0;
		}
	if (strcmp(value, "auto") == 0) {
		*out = VET_ACTION_AUTO;
		return 0;
	}
	return rain_error_set(RAIN_EINVAL,
			      "vet policy %s = '%.64s': use fail, warn, ignore or auto (by severity)",
			      key, value);
}

static int runtime_set(struct rain_vet_policy *p, const char *rule, int action)
{
	size_t i;
	int r;

	for (i = 0; i < p->n_runtime; i++)
		if (strcmp(p->runtime[i].rule, rule) == 0)
			break;
	if (i == p->n_runtime) {
		if (action == VET_ACTION_AUTO)
			return 0;
		if (p->n_runtime >= VET_RULE_COUNT * 4)
			return rain_error_set(RAIN_EINVAL, "vet policy: too many runtime rules");
		r = ARRAY_GROW1(p->runtime, p->n_runtime);
		if (r < 0)
			return r;
		p->runtime[i].rule = strdup(rule);
		if (!p->runtime[i].rule)
			return rain_error_oom();
		p->n_runtime++;
	}
	if (action == VET_ACTION_AUTO) {
		free(p->runtime[i].rule);
		p->runtime[i] = p->runtime[--p->n_runtime];
		return 0;
	}
	p->runtime[i].action = action;
	return 0;
}

int rain_vet_policy_set(struct rain_vet_policy *p, const char *key, const char *value)
{
	int rule, action = VET_ACTION_AUTO, r;

	rain_error_clear();
	if (!key || !value)
		return rain_error_set(RAIN_EINVAL, "vet policy: a key and a value are needed");
	if (!str_is_printable(key, 64))
		return rain_error_set(RAIN_EINVAL, "vet policy: a key must be 1 to 64 printable characters");
	if (strlen(value) > MAX_LIST * 64 || (*value && !str_is_printable(value, MAX_LIST * 64)))
		return rain_error_set(RAIN_EINVAL,
				      "vet policy %s: the value has control characters or is too long", key);
	rule = vet_rule_lookup(key);
	if (rule >= 0) {
		r = action_parse(key, value, &action);
		if (r < 0)
			return r;
		p->action[rule] = action;
		return 0;
	}
	if (vet_rule_is_runtime(key)) {
		r = action_parse(key, value, &action);
		if (r < 0)
			return r;
		return runtime_set(p, key, action);
	}
	if (strcmp(key, "fail_severity") == 0) {
		enum rain_vet_severity s;

		if (rain_vet_severity_parse(value, &s) < 0 || s == RAIN_VET_INFO)
			return rain_error_set(RAIN_EINVAL,
					      "vet policy fail_severity = '%.64s': use low, medium, high or critical",
					      value);
		p->fail_severity = s;
		return 0;
	}
	if (strcmp(key, "allowed_kernels") == 0)
		return list_parse(key, value, is_name_glob, "a kernel version or glob (no '/')",
				  &p->allowed_kernels, &p->n_allowed_kernels);
	if (strcmp(key, "allowed_setuid") == 0)
		return list_parse(key, value, is_path_glob, "an absolute path or glob",
				  &p->allowed_setuid, &p->n_allowed_setuid);
	if (strcmp(key, "unsafe_services") == 0)
		return list_parse(key, value, is_name_glob, "a unit, program or package name (no '/')",
				  &p->unsafe_services, &p->n_unsafe_services);
	if (strcmp(key, "unowned_ignore") == 0)
		return list_parse(key, value, is_path_glob, "an absolute path or glob",
				  &p->unowned_ignore, &p->n_unowned_ignore);
	if (strcmp(key, "max_feed_age") == 0) {
		int64_t days;

		if (str_to_i64(value, &days) < 0 || days < 0 || days > MAX_FEED_AGE)
			return rain_error_set(RAIN_EINVAL,
					      "vet policy max_feed_age = '%.64s': use a number of days from 0 (any age) to %d",
					      value, MAX_FEED_AGE);
		p->max_feed_age = days;
		return 0;
	}
	return rain_error_set(RAIN_EINVAL,
			      "vet policy: unknown key '%.64s' (use a rule name, fail_severity, allowed_kernels, "
			      "allowed_setuid, unsafe_services, unowned_ignore or max_feed_age)",
			      key);
}

enum rain_vet_action vet_policy_action(const struct rain_vet_policy *p, const char *rule,
				       enum rain_vet_severity sev)
{
	int i = vet_rule_lookup(rule), a = VET_ACTION_AUTO;

	if (i >= 0) {
		a = p->action[i];
	} else {
		for (size_t k = 0; k < p->n_runtime; k++)
			if (strcmp(p->runtime[k].rule, rule) == 0)
				a = p->runtime[k].action;
	}
	if (a != VET_ACTION_AUTO)
		return a;
	if (sev >= p->fail_severity)
		return RAIN_VET_FAIL;
	return sev >= RAIN_VET_LOW ? RAIN_VET_WARN : RAIN_VET_IGNORE;
}

enum rain_vet_action rain_vet_policy_action(const struct rain_vet_policy *p, const char *rule,
					    enum rain_vet_severity sev)
{
	if (!p)
		p = vet_policy_default();
	return p ? vet_policy_action(p, rule, sev) : RAIN_VET_FAIL;
}

static json_t *strv_json(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_string(v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

json_t *rain_vet_policy_json(const struct rain_vet_policy *p)
{
	_cleanup_json_ json_t *o = NULL, *rules = NULL;

	rules = json_object();
	if (!rules)
		return NULL;
	for (int i = 0; i < VET_RULE_COUNT; i++)
		if (p->action[i] != VET_ACTION_AUTO &&
		    json_object_set_new(rules, vet_rule_names[i],
					json_string(rain_vet_action_name(p->action[i]))) < 0)
			return NULL;
	for (size_t i = 0; i < p->n_runtime; i++)
		if (json_object_set_new(rules, p->runtime[i].rule,
					json_string(rain_vet_action_name(p->runtime[i].action))) < 0)
			return NULL;
	o = json_pack("{s:s, s:s, s:O, s:o, s:o, s:o, s:o, s:I}",
		      "name", p->name,
		      "fail_severity", rain_vet_severity_name(p->fail_severity),
		      "rules", rules,
		      "allowed_kernels", strv_json(p->allowed_kernels, p->n_allowed_kernels),
		      "allowed_setuid", strv_json(p->allowed_setuid, p->n_allowed_setuid),
		      "unsafe_services", strv_json(p->unsafe_services, p->n_unsafe_services),
		      "unowned_ignore", strv_json(p->unowned_ignore, p->n_unowned_ignore),
		      "max_feed_age", (json_int_t)p->max_feed_age);
	return TAKE_PTR(o);
}
