/* The rules of accounts and ssh: empty-password, root-password-login,
 * unexpected-authorized-key, ssh-host-key and sshd-setting.
 *
 * sshd's settings are the ones that hold outside Match blocks, as sshd
 * reads them: the first value of a keyword wins, Include brings its files
 * in place (globs in name order, relative paths under /etc/ssh), a Match
 * block lasts until the next Match (Match all is everyone) or the end of
 * its file, and an unset keyword has sshd's default. Include globs are
 * matched against the paths the walk meets (imgfs lists no directory),
 * so the settings are made after the walk.
 */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "rain/error.h"
#include "util/base64.h"
#include "util/cleanup.h"
#include "util/strutil.h"
#include "lib/vet/vet-internal.h"
#include "lib/vet/vet-parse.h"

#define SSHD_CONFIG "/etc/ssh/sshd_config"
#define MAX_CONFIG (1u << 20)
#define MAX_KEYS_FILE (1u << 20)
#define MAX_DEPTH 16            /* sshd's own limit of nested Includes */
#define MAX_INCLUDED 256        /* files read for Includes in all (a glob in
				 * each of n files matching them all: n^16) */

enum kw {
	KW_PERMIT_ROOT_LOGIN,
	KW_PASSWORD_AUTH,
	KW_KBD_INTERACTIVE,
	KW_USE_PAM,
	KW_PERMIT_EMPTY,
	KW_HOSTBASED,
	KW_IGNORE_RHOSTS,
	KW_STRICT_MODES,
	KW_PERMIT_USER_ENV,
	KW_AUTHORIZED_KEYS_FILE,
	KW_COUNT
};

/* sshd's keywords this file reads, and their defaults (OpenSSH 9). */
static const struct {
	const char *name;
	const char *def;
} keywords[KW_COUNT] = {
	[KW_PERMIT_ROOT_LOGIN] = { "permitrootlogin", "prohibit-password" },
	[KW_PASSWORD_AUTH] = { "passwordauthentication", "yes" },
	[KW_KBD_INTERACTIVE] = { "kbdinteractiveauthentication", "yes" },
	[KW_USE_PAM] = { "usepam", "no" },
	[KW_PERMIT_EMPTY] = { "permitemptypasswords", "no" },
	[KW_HOSTBASED] = { "hostbasedauthentication", "no" },
	[KW_IGNORE_RHOSTS] = { "ignorerhosts", "yes" },
	[KW_STRICT_MODES] = { "strictmodes", "yes" },
	[KW_PERMIT_USER_ENV] = { "permituserenvironment", "no" },
	[KW_AUTHORIZED_KEYS_FILE] = { "authorizedkeysfile", ".ssh/authorized_keys .ssh/authorized_keys2" },
};

/* Values that weaken sshd, per keyword. */
static const struct {
	enum kw kw;
	const char *bad;
	enum rain_vet_severity sev;
	const char *why;
} weak[] = {
	{ KW_PERMIT_ROOT_LOGIN, "yes", RAIN_VET_HIGH, "root may log in with a password" },
	{ KW_PERMIT_EMPTY, "yes", RAIN_VET_HIGH, "accounts without a password may log in" },
	{ KW_PASSWORD_AUTH, "yes", RAIN_VET_MEDIUM,
	  "passwords may be tried from the network (keys only is safer)" },
	{ KW_HOSTBASED, "yes", RAIN_VET_MEDIUM, "other hosts are trusted by their host keys" },
	{ KW_IGNORE_RHOSTS, "no", RAIN_VET_MEDIUM, ".rhosts and .shosts files are read" },
	{ KW_STRICT_MODES, "no", RAIN_VET_MEDIUM, "keys are read from files others may write" },
	{ KW_PERMIT_USER_ENV, "yes", RAIN_VET_MEDIUM,
	  "users may set the environment of sshd's sessions (LD_PRELOAD)" },
};

struct setting {
	char *value;            /* the arguments joined by a blank; NULL: unset */
	char *where;            /* "FILE:LINE" */
};

struct ac_state {
	bool sshd;              /* sshd is installed */
	char *config;           /* /etc/ssh/sshd_config, NULL when none */
	size_t config_len;
	char **globs;           /* Include globs (absolute) */
	size_t n_globs;
	char **matched;         /* paths of the walk matching them */
	size_t n_matched;
	struct vet_map declared;        /* "TYPE KEY" of the recipe's keys */
	struct vet_map keyfiles;        /* authorized_keys files checked */
	struct vet_map hostkeys;        /* host keys reported */
	char *buf;              /* the current authorized_keys file */
	size_t len;
	struct setting set[KW_COUNT];
	char **host_keys;       /* HostKey values */
	size_t n_host_keys;
	size_t included;        /* files read for Includes */
};

static void ac_free(struct vet_ctx *c)
{
	struct ac_state *st = c->ac;

	if (!st)
		return;
	free(st->config);
	strv_free(st->globs, st->n_globs);
	strv_free(st->matched, st->n_matched);
	vet_map_free(&st->declared, NULL);
	vet_map_free(&st->keyfiles, NULL);
	vet_map_free(&st->hostkeys, NULL);
	free(st->buf);
	for (int i = 0; i < KW_COUNT; i++) {
		free(st->set[i].value);
		free(st->set[i].where);
	}
	strv_free(st->host_keys, st->n_host_keys);
	free(st);
	c->ac = NULL;
}

/* ---- facts: accounts, the recipe's keys, sshd_config's Include globs ---- */

static int on_passwd(void *ud, const struct vet_passwd_line *pw)
{
	struct vet_ctx *c = ud;
	struct vet_account *a;
	int r = ARRAY_GROW1(c->accounts, c->n_accounts);

	if (r < 0)
		return r;
	a = &c->accounts[c->n_accounts];
	memset(a, 0, sizeof(*a));
	a->uid = pw->uid;
	a->name = strdup(pw->name);
	a->password = strdup(pw->password);
	a->home = strdup(pw->home);
	a->shell = strdup(pw->shell);
	c->n_accounts++;
	if (!a->name || !a->password || !a->home || !a->shell)
		return rain_error_oom();
	return 0;
}

static int on_shadow(void *ud, const char *name, const char *hash)
{
	struct vet_ctx *c = ud;

	for (size_t i = 0; i < c->n_accounts; i++)
		if (strcmp(c->accounts[i].name, name) == 0 && !c->accounts[i].hash) {
			c->accounts[i].hash = strdup(hash);
			if (!c->accounts[i].hash)
				return rain_error_oom();
		}
	return 0;
}

static int accounts_read(struct vet_ctx *c)
{
	_cleanup_free_ char *passwd = NULL, *shadow = NULL;
	size_t plen, slen, bad = 0;
	int r;

	r = vet_read(c, "/etc/passwd", 16u << 20, &passwd, &plen);
	if (r == RAIN_ENOTFOUND)
		return vet_note(c, "no /etc/passwd: accounts were not checked");
	if (r < 0)
		return r;
	r = vet_passwd_parse(passwd, plen, on_passwd, c, &bad);
	if (r < 0)
		return r;
	if (bad && (r = vet_note(c, "/etc/passwd: %zu lines that are not accounts were skipped", bad)) < 0)
		return r;
	r = vet_read(c, "/etc/shadow", 16u << 20, &shadow, &slen);
	if (r == 0)
		r = vet_shadow_parse(shadow, slen, on_shadow, c, NULL);
	return r == RAIN_ENOTFOUND ? 0 : r;
}

/* An Include argument as a path of the image. */
static char *include_path(const char *arg)
{
	char *p;

	if (arg[0] == '/')
		return strdup(arg);
	if (asprintf(&p, "/etc/ssh/%s", arg) < 0)
		return NULL;
	return p;
}

static bool has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

struct scan_ud {
	struct vet_ctx *c;
	struct ac_state *st;
	int depth;
};

static int prescan(struct vet_ctx *c, struct ac_state *st, const char *text, size_t len, int depth);

/* Before the walk: the Include globs, through the files named plainly. */
static int on_prescan(void *ud, unsigned line, const char *kw, char **args, size_t n)
{
	struct scan_ud *u = ud;

	if (strcasecmp(kw, "include") != 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *p = include_path(args[i]), *text = NULL;
		size_t len;
		int r;

		if (!p)
			return rain_error_oom();
		if (has_glob(p)) {
			r = strv_add(&u->st->globs, &u->st->n_globs, p);
			if (r < 0)
				return r;
			continue;
		}
		if (u->depth >= MAX_DEPTH)
			continue;
		r = vet_read(u->c, p, MAX_CONFIG, &text, &len);
		if (r == 0)
			r = prescan(u->c, u->st, text, len, u->depth + 1);
		if (r < 0 && r != RAIN_ENOTFOUND)
			return r;
	}
	return 0;
}

static int prescan(struct vet_ctx *c, struct ac_state *st, const char *text, size_t len, int depth)
{
	struct scan_ud u = { c, st, depth };

	if (st->n_globs > 64)
		return 0;
	return vet_sshd_parse(text, len, on_prescan, &u, NULL);
}

/* "TYPE KEY" of an authorized_keys line, or NULL (not a key); k points
 * into buf (strlen(line) + 1 bytes). */
static char *key_id(const char *line, char *buf, struct vet_authkey *k)
{
	char *id;

	if (vet_authkey_parse(line, buf, strlen(line) + 1, k) < 0)
		return NULL;
	if (asprintf(&id, "%s %s", k->type, k->key) < 0)
		return NULL;
	return id;
}

static int declared_read(struct vet_ctx *c, struct ac_state *st)
{
	const char *const *keys = c->opts ? c->opts->declared_keys : NULL;

	for (size_t i = 0; keys && keys[i]; i++) {
		_cleanup_free_ char *buf = malloc(strlen(keys[i]) + 1), *id = NULL;
		struct vet_authkey k;
		int r;

		if (!buf)
			return rain_error_oom();
		id = key_id(keys[i], buf, &k);
		if (!id)
			continue;
		r = vet_map_put(&st->declared, id, NULL, NULL);
		if (r < 0)
			return r;
	}
	return 0;
}

static int ac_facts(struct vet_ctx *c)
{
	struct ac_state *st = calloc(1, sizeof(*st));
	struct rain_imgfs_entry e;
	int r;

	if (!st)
		return rain_error_oom();
	c->ac = st;
	st->buf = malloc(MAX_KEYS_FILE);
	if (!st->buf)
		return rain_error_oom();
	r = accounts_read(c);
	if (r >= 0)
		r = declared_read(c, st);
	if (r < 0)
		return r;
	st->sshd = rain_imgfs_stat(c->fs, "/usr/sbin/sshd", true, &e) == 0 ||
		   rain_pkg_find(&c->pkgs, "openssh-server") != NULL;
	r = vet_read(c, SSHD_CONFIG, MAX_CONFIG, &st->config, &st->config_len);
	if (r == RAIN_ENOTFOUND)
		return 0;
	if (r < 0)
		return r;
	return prescan(c, st, st->config, st->config_len, 1);
}

/* ---- the walk: authorized_keys files, host keys, Include's files -------- */

static bool keys_file(const char *path)
{
	const char *b = strrchr(path, '/');

	return b && (strcmp(b, "/authorized_keys") == 0 || strcmp(b, "/authorized_keys2") == 0);
}

static uint64_t ac_want(const struct vet_ctx *c, const struct rain_imgfs_entry *e)
{
	if (!keys_file(e->path))
		return 0;
	return e->size < MAX_KEYS_FILE ? e->size : MAX_KEYS_FILE;
}

static int ac_data(struct vet_ctx *c, const struct rain_imgfs_entry *e, const void *buf, size_t n)
{
	struct ac_state *st = c->ac;

	if (n > MAX_KEYS_FILE - 1 - st->len)
		n = MAX_KEYS_FILE - 1 - st->len;
	memcpy(st->buf + st->len, buf, n);
	st->len += n;
	return 0;
}

/* "SHA256:..." as ssh-keygen -l shows it. */
static char *fingerprint(const char *b64)
{
	_cleanup_free_ unsigned char *blob = NULL;
	_cleanup_free_ char *enc = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	size_t n;
	char *out;

	if (base64_decode(b64, strlen(b64), &blob, &n) < 0 ||
	    EVP_Digest(blob, n, md, &mdlen, EVP_sha256(), NULL) != 1)
		return strdup("(not base64)");
	enc = base64_encode(md, mdlen);
	if (!enc)
		return NULL;
	enc[strcspn(enc, "=")] = '\0';
	if (asprintf(&out, "SHA256:%s", enc) < 0)
		return NULL;
	return out;
}

/* Every key of an authorized_keys file (text of len bytes) the recipe
 * did not declare. */
static int keys_check(struct vet_ctx *c, struct ac_state *st, const char *path, const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	int r;

	r = vet_map_put(&st->keyfiles, path, NULL, NULL);
	while (r >= 0 && p < end) {
		const char *nl = memchr(p, '\n', end - p);
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		_cleanup_free_ char *line = strndup(p, n), *buf = malloc(n + 1), *id = NULL, *fp = NULL;
		struct vet_authkey k;

		p += n + 1;
		if (!line || !buf)
			return rain_error_oom();
		id = key_id(line, buf, &k);
		if (!id || vet_map_find(&st->declared, id))
			continue;
		fp = fingerprint(k.key);
		if (!fp)
			return rain_error_oom();
		r = vet_finding(c, VET_UNEXPECTED_AUTHORIZED_KEY, RAIN_VET_HIGH, path, NULL,
				json_pack("{s:s, s:s, s:s}", "key_type", k.type, "fingerprint", fp,
					  "comment", k.comment),
				"a key the recipe did not declare: %s %s%s%s", k.type, fp,
				*k.comment ? " " : "", k.comment);
	}
	return r;
}

static int host_key(struct vet_ctx *c, struct ac_state *st, const char *path)
{
	int r;

	if (vet_map_find(&st->hostkeys, path))
		return 0;
	r = vet_map_put(&st->hostkeys, path, NULL, NULL);
	if (r < 0)
		return r;
	return vet_finding(c, VET_SSH_HOST_KEY, RAIN_VET_HIGH, path, NULL, NULL,
			   "an ssh host key baked into the image: every machine made from it has the same "
			   "(remove it; sshd makes its keys at first boot)");
}

static int ac_entry(struct vet_ctx *c, const struct rain_imgfs_entry *e)
{
	struct ac_state *st = c->ac;
	int r;

	if (!S_ISDIR(e->mode) && st->n_matched < MAX_INCLUDED * 16 &&
	    vet_glob_any(st->globs, st->n_globs, e->path)) {
		for (size_t i = 0; i < st->n_globs; i++)
			if (fnmatch(st->globs[i], e->path, FNM_PATHNAME | FNM_PERIOD) == 0) {
				r = strv_add(&st->matched, &st->n_matched, e->path);
				if (r < 0)
					return r;
				break;
			}
	}
	if (!S_ISREG(e->mode))
		return 0;
	if (c->cur_read && keys_file(e->path)) {
		size_t len = st->len;

		st->len = 0;
		return keys_check(c, st, e->path, st->buf, len);
	}
	if (fnmatch("/etc/ssh/ssh_host_*key", e->path, FNM_PATHNAME) == 0)
		return host_key(c, st, e->path);
	return 0;
}

/* ---- after the walk: sshd's settings, then the accounts ----------------- */

struct eval_ud {
	struct vet_ctx *c;
	struct ac_state *st;
	const char *file;
	int depth;
	bool in_match;
};

static int eval(struct vet_ctx *c, struct ac_state *st, const char *file, const char *text, size_t len,
		int depth);

static int eval_file(struct vet_ctx *c, struct ac_state *st, const char *path, int depth)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r;

	if (depth > MAX_DEPTH)
		return vet_note(c, "sshd_config: Include of %s nested deeper than %d; not read", path,
				MAX_DEPTH);
	if (++st->included > MAX_INCLUDED)
		return st->included == MAX_INCLUDED + 1 ?
			       vet_note(c, "sshd_config: more than %d files included; %s and the rest not read",
					MAX_INCLUDED, path) : 0;
	r = vet_read(c, path, MAX_CONFIG, &text, &len);
	if (r == RAIN_ENOTFOUND)
		return 0;
	if (r < 0)
		return r;
	return eval(c, st, path, text, len, depth);
}

static int eval_include(struct eval_ud *u, const char *arg)
{
	_cleanup_free_ char *p = include_path(arg);
	bool known = false;
	int r = 0;

	if (!p)
		return rain_error_oom();
	if (!has_glob(p))
		return eval_file(u->c, u->st, p, u->depth + 1);
	for (size_t i = 0; i < u->st->n_globs; i++)
		if (strcmp(u->st->globs[i], p) == 0)
			known = true;
	if (!known)
		return vet_note(u->c, "%s: Include %s was not followed (a glob in a file a glob found)",
				u->file, arg);
	/* matched is sorted: glob(3)'s order */
	for (size_t i = 0; i < u->st->n_matched && r >= 0; i++)
		if (fnmatch(p, u->st->matched[i], FNM_PATHNAME | FNM_PERIOD) == 0)
			r = eval_file(u->c, u->st, u->st->matched[i], u->depth + 1);
	return r;
}

static int on_setting(void *ud, unsigned line, const char *kw, char **args, size_t n)
{
	struct eval_ud *u = ud;
	struct setting *s;
	int k, r;

	if (strcasecmp(kw, "match") == 0) {
		u->in_match = !(n == 1 && strcasecmp(args[0], "all") == 0);
		return 0;
	}
	if (u->in_match)
		return 0;
	if (strcasecmp(kw, "include") == 0) {
		for (size_t i = 0; i < n; i++) {
			r = eval_include(u, args[i]);
			if (r < 0)
				return r;
		}
		return 0;
	}
	if (strcasecmp(kw, "hostkey") == 0)
		return n ? strv_add(&u->st->host_keys, &u->st->n_host_keys, args[0]) : 0;
	if (strcasecmp(kw, "challengeresponseauthentication") == 0)
		kw = keywords[KW_KBD_INTERACTIVE].name;
	for (k = 0; k < KW_COUNT; k++)
		if (strcasecmp(kw, keywords[k].name) == 0)
			break;
	if (k == KW_COUNT || !n || u->st->set[k].value)
		return 0;
	s = &u->st->set[k];
	s->value = strv_join(args, n, " ");
	if (!s->value || asprintf(&s->where, "%s:%u", u->file, line) < 0) {
		s->where = NULL;
		return rain_error_oom();
	}
	return 0;
}

static int eval(struct vet_ctx *c, struct ac_state *st, const char *file, const char *text, size_t len,
		int depth)
{
	struct eval_ud u = { c, st, file, depth, false };
	size_t bad = 0;
	int r = vet_sshd_parse(text, len, on_setting, &u, &bad);

	if (r >= 0 && bad)
		r = vet_note(c, "%s: %zu lines sshd would refuse were skipped", file, bad);
	return r;
}

static const char *value_of(struct ac_state *st, enum kw k)
{
	return st->set[k].value ? st->set[k].value : keywords[k].def;
}

static bool is(struct ac_state *st, enum kw k, const char *v)
{
	return strcasecmp(value_of(st, k), v) == 0;
}

static const char *where_of(struct ac_state *st, enum kw k)
{
	return st->set[k].where ? st->set[k].where : "sshd's default";
}

/* Keyboard-interactive logins through PAM ask for the password. */
static bool kbd_password(struct ac_state *st)
{
	return is(st, KW_KBD_INTERACTIVE, "yes") && is(st, KW_USE_PAM, "yes");
}

static bool password_login(struct ac_state *st)
{
	return is(st, KW_PASSWORD_AUTH, "yes") || kbd_password(st);
}

static int settings_check(struct vet_ctx *c, struct ac_state *st)
{
	int r = 0;

	for (size_t i = 0; i < sizeof(weak) / sizeof(weak[0]) && r >= 0; i++) {
		enum kw k = weak[i].kw;

		if (!is(st, k, weak[i].bad))
			continue;
		r = vet_finding(c, VET_SSHD_SETTING, weak[i].sev, SSHD_CONFIG, NULL,
				json_pack("{s:s, s:s, s:s}", "setting", keywords[k].name, "value",
					  value_of(st, k), "where", where_of(st, k)),
				"%s %s (%s): %s", keywords[k].name, value_of(st, k), where_of(st, k),
				weak[i].why);
	}
	if (r >= 0 && kbd_password(st) && !is(st, KW_PASSWORD_AUTH, "yes"))
		r = vet_finding(c, VET_SSHD_SETTING, RAIN_VET_MEDIUM, SSHD_CONFIG, NULL,
				json_pack("{s:s, s:s, s:s}", "setting", keywords[KW_KBD_INTERACTIVE].name,
					  "value", "yes", "where", where_of(st, KW_KBD_INTERACTIVE)),
				"kbdinteractiveauthentication yes (%s) with usepam yes (%s): PAM asks for "
				"passwords although passwordauthentication is no",
				where_of(st, KW_KBD_INTERACTIVE), where_of(st, KW_USE_PAM));
	for (size_t i = 0; i < st->n_host_keys && r >= 0; i++) {
		_cleanup_free_ char *real = NULL;
		struct rain_imgfs_entry e;

		if (st->host_keys[i][0] != '/')
			continue;       /* sshd refuses relative host keys */
		r = vet_resolve(c, st->host_keys[i], true, &real);
		if (r == RAIN_EFORMAT) {
			r = 0;
			continue;
		}
		if (r == 0 && rain_imgfs_stat(c->fs, real, false, &e) == 0 && S_ISREG(e.mode))
			r = host_key(c, st, real);
	}
	return r;
}

/* AuthorizedKeysFile's files of an account (%h, %u, %U, %%; relative to
 * the home), those the walk did not check already. */
static int account_keys(struct vet_ctx *c, struct ac_state *st, const struct vet_account *a)
{
	_cleanup_free_ char *files = strdup(value_of(st, KW_AUTHORIZED_KEYS_FILE));
	char *save = NULL, *f;
	int r = 0;

	if (!files)
		return rain_error_oom();
	for (f = strtok_r(files, " ", &save); f && r >= 0; f = strtok_r(NULL, " ", &save)) {
		_cleanup_free_ char *path = NULL, *real = NULL, *text = NULL;
		size_t plen = 0, len;
		FILE *o;

		if (strcasecmp(f, "none") == 0)
			continue;
		o = open_memstream(&path, &plen);
		if (!o)
			return rain_error_oom();
		if (f[0] != '/')
			fprintf(o, "%s/", a->home);
		for (const char *p = f; *p; p++) {
			if (*p != '%' || !p[1]) {
				fputc(*p, o);
				continue;
			}
			p++;
			if (*p == 'h')
				fputs(a->home, o);
			else if (*p == 'u')
				fputs(a->name, o);
			else if (*p == 'U')
				fprintf(o, "%u", a->uid);
			else
				fputc(*p, o);
		}
		if (fclose(o) != 0)
			return rain_error_oom();
		r = vet_resolve(c, path, true, &real);
		if (r == RAIN_EFORMAT) {
			r = 0;
			continue;
		}
		if (r < 0 || vet_map_find(&st->keyfiles, real))
			continue;
		r = vet_read(c, real, MAX_KEYS_FILE, &text, &len);
		if (r == RAIN_ENOTFOUND) {
			r = 0;
			continue;
		}
		if (r == 0)
			r = keys_check(c, st, real, text, len);
	}
	return r;
}

/* The password an account logs in with: "" empty, NULL none. */
static const char *password_of(const struct vet_account *a)
{
	if (strcmp(a->password, "x") == 0)
		return a->hash;
	return a->password;
}

static bool usable(const char *hash)
{
	return hash && *hash && *hash != '!' && *hash != '*';
}

static bool no_shell(const char *shell)
{
	return str_has_suffix(shell, "/nologin") || str_has_suffix(shell, "/false");
}

static int accounts_check(struct vet_ctx *c, struct ac_state *st)
{
	bool ssh_root = st->sshd && is(st, KW_PERMIT_ROOT_LOGIN, "yes") && password_login(st);
	int r = 0;

	for (size_t i = 0; i < c->n_accounts && r >= 0; i++) {
		const struct vet_account *a = &c->accounts[i];
		const char *pw = password_of(a);
		const char *file = a->password[0] == 'x' && !a->password[1] ? "/etc/shadow" : "/etc/passwd";

		if (pw && !*pw) {
			enum rain_vet_severity sev = a->uid == 0 ? RAIN_VET_CRITICAL :
						     no_shell(a->shell) ? RAIN_VET_MEDIUM : RAIN_VET_HIGH;

			r = vet_finding(c, VET_EMPTY_PASSWORD, sev, file, NULL,
					json_pack("{s:s, s:I}", "account", a->name, "uid", (json_int_t)a->uid),
					"%s (uid %u, shell %s) has an empty password: anyone may log in as it%s",
					a->name, a->uid, a->shell,
					st->sshd && is(st, KW_PERMIT_EMPTY, "yes") ? ", over ssh too" : "");
		} else if (a->uid == 0 && ssh_root && usable(pw)) {
			r = vet_finding(c, VET_ROOT_PASSWORD_LOGIN, RAIN_VET_HIGH, file, NULL,
					json_pack("{s:s}", "account", a->name),
					"%s has a password and sshd lets it log in with it (permitrootlogin yes "
					"at %s, passwordauthentication %s at %s)", a->name,
					where_of(st, KW_PERMIT_ROOT_LOGIN), value_of(st, KW_PASSWORD_AUTH),
					where_of(st, KW_PASSWORD_AUTH));
		}
		if (r >= 0 && st->sshd && strcmp(value_of(st, KW_AUTHORIZED_KEYS_FILE),
						 keywords[KW_AUTHORIZED_KEYS_FILE].def) != 0)
			r = account_keys(c, st, a);
	}
	return r;
}

static int ac_finish(struct vet_ctx *c)
{
	struct ac_state *st = c->ac;
	int r = 0;

	if (st->n_matched)
		qsort(st->matched, st->n_matched, sizeof(char *), vet_strp_cmp);
	if (st->config)
		r = eval(c, st, SSHD_CONFIG, st->config, st->config_len, 1);
	if (r >= 0 && st->sshd)
		r = settings_check(c, st);
	if (r >= 0)
		r = accounts_check(c, st);
	return r;
}

const struct vet_group vet_group_accounts = {
	.name = "accounts",
	.facts = ac_facts,
	.want = ac_want,
	.data = ac_data,
	.entry = ac_entry,
	.finish = ac_finish,
	.free = ac_free,
};
