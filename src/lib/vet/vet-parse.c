/* vet-parse.h: the image's text formats vetting reads. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "rain/error.h"
#include "util/cleanup.h"
#include "lib/vet/vet-parse.h"

#define MAX_ARGS 256

/* Lines of text, each copied NUL-terminated into a buffer of the reader. */
struct lines {
	const char *p, *end;
	unsigned no;
	char *buf;
	size_t cap;
};

/* The next line into *line (without its newline), or 0 at the end; -1
 * out of memory (the message is set). */
static int line_next(struct lines *l, char **line)
{
	const char *nl;
	size_t n;

	if (l->p >= l->end)
		return 0;
	nl = memchr(l->p, '\n', l->end - l->p);
	n = nl ? (size_t)(nl - l->p) : (size_t)(l->end - l->p);
	if (n + 1 > l->cap) {
		char *b = realloc(l->buf, n + 1);

		if (!b)
			return rain_error_oom();
		l->buf = b;
		l->cap = n + 1;
	}
	memcpy(l->buf, l->p, n);
	l->buf[n] = '\0';
	if (n && l->buf[n - 1] == '\r')
		l->buf[n - 1] = '\0';
	l->p += n + (nl ? 1 : 0);
	l->no++;
	*line = l->buf;
	return 1;
}

static void bad_line(size_t *bad)
{
	if (bad)
		(*bad)++;
}

static char *skip_space(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

static void trim_end(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
}

/* Split s at the next c: s ends there, the rest is returned (NULL when
 * there is no c). */
static char *cut(char *s, char c)
{
	char *p = s ? strchr(s, c) : NULL;

	if (!p)
		return NULL;
	*p = '\0';
	return p + 1;
}

/* A decimal id of at most 10 digits that fits in 32 bits. */
static bool parse_id(const char *s, uint32_t *out)
{
	uint64_t v = 0;

	if (!*s || strlen(s) > 10)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

int vet_passwd_parse(const char *text, size_t len,
		     int (*cb)(void *ud, const struct vet_passwd_line *pw), void *ud, size_t *bad)
{
	struct lines l = { .p = text, .end = text + len };
	char *line = NULL;
	int r;

	while ((r = line_next(&l, &line)) > 0) {
		struct vet_passwd_line pw;
		char *f[7];

		if (!*line || *line == '#' || *line == '+' || *line == '-')
			continue;
		f[0] = line;
		for (int i = 1; i < 7; i++)
			f[i] = cut(f[i - 1], ':');
		/* glibc takes the shell as the rest of the line */
		if (!f[6] || !*f[0] || !parse_id(f[2], &pw.uid) || !parse_id(f[3], &pw.gid)) {
			bad_line(bad);
			continue;
		}
		pw.name = f[0];
		pw.password = f[1];
		pw.gecos = f[4];
		pw.home = f[5];
		pw.shell = f[6];
		r = cb(ud, &pw);
		if (r < 0)
			break;
	}
	free(l.buf);
	return r < 0 ? r : 0;
}

int vet_shadow_parse(const char *text, size_t len,
		     int (*cb)(void *ud, const char *name, const char *hash), void *ud, size_t *bad)
{
	struct lines l = { .p = text, .end = text + len };
	char *line = NULL;
	int r;

	while ((r = line_next(&l, &line)) > 0) {
		char *hash, *rest;

		if (!*line || *line == '#' || *line == '+' || *line == '-')
			continue;
		hash = cut(line, ':');
		if (!hash || !*line) {
			bad_line(bad);
			continue;
		}
		rest = cut(hash, ':');
		(void)rest;
		r = cb(ud, line, hash);
		if (r < 0)
			break;
	}
	free(l.buf);
	return r < 0 ? r : 0;
}

/* Split a line into words as sshd's argv_split() does: blanks separate,
 * double quotes group (\" and \\ escape inside them), a word starting
 * with '#' ends the line. false on an unterminated quote or too many. */
static bool split_words(char *s, char **w, size_t max, size_t *n)
{
	char *o;
	bool more;

	*n = 0;
	for (;;) {
		s = skip_space(s);
		if (!*s || *s == '#')
			return true;
		if (*n == max)
			return false;
		w[(*n)++] = o = s;
		while (*s && *s != ' ' && *s != '\t') {
			if (*s != '"') {
				*o++ = *s++;
				continue;
			}
			s++;
			while (*s && *s != '"') {
				if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
					s++;
				*o++ = *s++;
			}
			if (*s != '"')
				return false;
			s++;
		}
		more = *s != '\0';
		*o = '\0';
		if (!more)
			return true;
		s++;
	}
}

int vet_sshd_parse(const char *text, size_t len,
		   int (*cb)(void *ud, unsigned line, const char *keyword, char **args, size_t nargs),
		   void *ud, size_t *bad)
{
	struct lines l = { .p = text, .end = text + len };
	_cleanup_free_ char **w = calloc(MAX_ARGS + 1, sizeof(*w));
	char *line = NULL;
	int r;

	if (!w)
		return rain_error_oom();
	while ((r = line_next(&l, &line)) > 0) {
		char *s = skip_space(line), *kw, *eq;
		size_t n;

		if (!*s || *s == '#')
			continue;
		/* the keyword ends at a blank or at '=' */
		kw = s;
		while (*s && *s != ' ' && *s != '\t' && *s != '=')
			s++;
		if (*s) {
			eq = s;
			s = skip_space(s);
			if (*s == '=')
				s = skip_space(s + 1);
			*eq = '\0';
		}
		if (!split_words(s, w, MAX_ARGS, &n)) {
			bad_line(bad);
			continue;
		}
		w[n] = NULL;
		r = cb(ud, l.no, kw, w, n);
		if (r < 0)
			break;
	}
	free(l.buf);
	return r < 0 ? r : 0;
}

int vet_md5sums_parse(const char *text, size_t len,
		      int (*cb)(void *ud, const char *md5, const char *path), void *ud, size_t *bad)
{
	struct lines l = { .p = text, .end = text + len };
	char *line = NULL;
	int r;

	while ((r = line_next(&l, &line)) > 0) {
		char md5[33], *path;
		int i;

		for (i = 0; i < 32; i++)
			if (!isxdigit((unsigned char)line[i]) || isupper((unsigned char)line[i]))
				break;
		if (i < 32 || (line[32] != ' ' && line[32] != '\t')) {
			if (*line)
				bad_line(bad);
			continue;
		}
		memcpy(md5, line, 32);
		md5[32] = '\0';
		path = line + 33;
		while (*path == ' ' || *path == '\t' || *path == '*')
			path++;
		if (path[0] == '.' && path[1] == '/')
			path += 2;
		while (*path == '/')
			path++;
		if (!*path) {
			bad_line(bad);
			continue;
		}
		/* make it absolute: the line has room before path */
		path[-1] = '/';
		r = cb(ud, md5, path - 1);
		if (r < 0)
			break;
	}
	free(l.buf);
	return r < 0 ? r : 0;
}

int vet_list_parse(const char *text, size_t len, int (*cb)(void *ud, const char *path), void *ud,
		   size_t *bad)
{
	struct lines l = { .p = text, .end = text + len };
	char *line = NULL;
	int r;

	while ((r = line_next(&l, &line)) > 0) {
		if (strcmp(line, "/.") == 0 || !*line)
			continue;
		if (line[0] != '/') {
			bad_line(bad);
			continue;
		}
		r = cb(ud, line);
		if (r < 0)
			break;
	}
	free(l.buf);
	return r < 0 ? r : 0;
}

/* True when s starts with the word w (followed by a blank, '=' or the
 * end). */
static bool starts_with_word(const char *s, const char *w)
{
	size_t n = strlen(w);

	return strncmp(s, w, n) == 0 && (!s[n] || s[n] == ' ' || s[n] == '\t' || s[n] == '=');
}

/* The next blank-separated word of *s, or NULL. */
static char *word(char **s)
{
	char *w = skip_space(*s), *e;

	if (!*w)
		return NULL;
	e = w;
	while (*e && *e != ' ' && *e != '\t')
		e++;
	if (*e)
		*e++ = '\0';
	*s = e;
	return w;
}

int vet_inetd_parse(const char *text, size_t len,
		    int (*cb)(void *ud, const struct vet_inetd_line *l), void *ud, size_t *bad)
{
	struct lines l = { .p = text, .end = text + len };
	char *line = NULL;
	int r;

	while ((r = line_next(&l, &line)) > 0) {
		struct vet_inetd_line il = { .line = l.no };
		char *s = line;

		/* a line starting with a blank continues the one before in
		 * some inetds; openbsd-inetd takes it as a new line: so do we */
		s = skip_space(s);
		if (!*s || *s == '#')
			continue;
		il.service = word(&s);
		il.socktype = word(&s);
		il.proto = word(&s);
		il.wait = word(&s);
		il.user = word(&s);
		il.server = word(&s);
		if (!il.server) {
			bad_line(bad);
			continue;
		}
		s = skip_space(s);
		trim_end(s);
		il.args = s;
		r = cb(ud, &il);
		if (r < 0)
			break;
	}
	free(l.buf);
	return r < 0 ? r : 0;
}

struct stanza {
	char *package, *arch, *status;
	char **conffiles;
	size_t n_conffiles;
	bool in_conffiles;
	unsigned line;
};

static void stanza_clear(struct stanza *s)
{
	free(s->package);
	free(s->arch);
	free(s->status);
	for (size_t i = 0; i < s->n_conffiles; i++)
		free(s->conffiles[i]);
	free(s->conffiles);
	memset(s, 0, sizeof(*s));
}

static int stanza_end(struct stanza *s, int (*cb)(void *ud, const struct vet_dpkg_stanza *s),
		      void *ud, size_t *bad)
{
	struct vet_dpkg_stanza out;
	int r = 0;

	if (!s->package && !s->status && !s->n_conffiles && !s->arch)
		goto done;
	if (!s->package) {
		bad_line(bad);
		goto done;
	}
	out.line = s->line;
	out.package = s->package;
	out.arch = s->arch ? s->arch : "";
	out.status = s->status ? s->status : "";
	out.conffiles = (const char *const *)s->conffiles;
	out.n_conffiles = s->n_conffiles;
	r = cb(ud, &out);
done:
	stanza_clear(s);
	return r;
}

/* Set *dst to the value of a "Field: value" line. */
static int field_set(char **dst, const char *value)
{
	free(*dst);
	*dst = strdup(value);
	return *dst ? 0 : rain_error_oom();
}

int vet_dpkg_status_parse(const char *text, size_t len,
			  int (*cb)(void *ud, const struct vet_dpkg_stanza *s), void *ud, size_t *bad)
{
	struct lines l = { .p = text, .end = text + len };
	struct stanza s = { 0 };
	char *line = NULL;
	int r;

	while ((r = line_next(&l, &line)) > 0) {
		char *value;

		if (!*line) {
			r = stanza_end(&s, cb, ud, bad);
			if (r < 0)
				break;
			continue;
		}
		if (!s.line)
			s.line = l.no;
		if (*line == ' ' || *line == '\t') {
			char *p, *path;

			if (!s.in_conffiles)
				continue;
			/* " /etc/foo md5 [obsolete|remove-on-upgrade]" */
			p = skip_space(line);
			path = word(&p);
			if (!path || *path != '/') {
				bad_line(bad);
				continue;
			}
			r = ARRAY_GROW1(s.conffiles, s.n_conffiles + 1);
			if (r < 0)
				break;
			s.conffiles[s.n_conffiles] = strdup(path);
			if (!s.conffiles[s.n_conffiles]) {
				r = rain_error_oom();
				break;
			}
			s.conffiles[++s.n_conffiles] = NULL;
			continue;
		}
		s.in_conffiles = false;
		value = cut(line, ':');
		if (!value) {
			bad_line(bad);
			continue;
		}
		value = skip_space(value);
		trim_end(value);
		if (strcasecmp(line, "Package") == 0)
			r = field_set(&s.package, value);
		else if (strcasecmp(line, "Architecture") == 0)
			r = field_set(&s.arch, value);
		else if (strcasecmp(line, "Status") == 0)
			r = field_set(&s.status, value);
		else if (strcasecmp(line, "Conffiles") == 0)
			s.in_conffiles = true;
		if (r < 0)
			break;
	}
	if (r >= 0)
		r = stanza_end(&s, cb, ud, bad);
	stanza_clear(&s);
	free(l.buf);
	return r < 0 ? r : 0;
}

int vet_diversions_parse(const char *text, size_t len,
			 int (*cb)(void *ud, const char *from, const char *to, const char *by),
			 void *ud, size_t *bad)
{
	struct lines l = { .p = text, .end = text + len };
	char *v[3] = { NULL, NULL, NULL };
	size_t k = 0;
	char *line = NULL;
	int r;

	while ((r = line_next(&l, &line)) > 0) {
		v[k] = strdup(line);
		if (!v[k]) {
			r = rain_error_oom();
			break;
		}
		if (++k < 3)
			continue;
		k = 0;
		if (v[0][0] != '/' || v[1][0] != '/')
			bad_line(bad);
		else
			r = cb(ud, v[0], v[1], v[2]);
		for (int i = 0; i < 3; i++) {
			free(v[i]);
			v[i] = NULL;
		}
		if (r < 0)
			break;
	}
	if (r >= 0 && k)
		bad_line(bad);
	for (int i = 0; i < 3; i++)
		free(v[i]);
	free(l.buf);
	return r < 0 ? r : 0;
}

int vet_dpkg_cfg_parse(const char *text, size_t len,
		       int (*cb)(void *ud, bool exclude, const char *glob), void *ud, size_t *bad)
{
	struct lines l = { .p = text, .end = text + len };
	char *line = NULL;
	int r;

	while ((r = line_next(&l, &line)) > 0) {
		char *s = skip_space(line), *v;
		bool exclude;

		if (!*s || *s == '#')
			continue;
		/* dpkg's config: "option value" or "option=value" */
		if (starts_with_word(s, "path-exclude"))
			exclude = true;
		else if (starts_with_word(s, "path-include"))
			exclude = false;
		else
			continue;
		v = s + strlen("path-exclude");
		v = skip_space(v);
		if (*v == '=')
			v = skip_space(v + 1);
		trim_end(v);
		if (*v != '/') {
			bad_line(bad);
			continue;
		}
		r = cb(ud, exclude, v);
		if (r < 0)
			break;
	}
	free(l.buf);
	return r < 0 ? r : 0;
}

int vet_os_release_parse(const char *text, size_t len,
			 int (*cb)(void *ud, const char *key, const char *value), void *ud, size_t *bad)
{
	struct lines l = { .p = text, .end = text + len };
	char *line = NULL;
	int r;

	while ((r = line_next(&l, &line)) > 0) {
		char *s = skip_space(line), *v, *o, *val;
		char q = 0;

		if (!*s || *s == '#')
			continue;
		v = cut(s, '=');
		if (!v || !*s) {
			bad_line(bad);
			continue;
		}
		/* unquote as the shell does: '...' literally, "..." with \ escapes */
		trim_end(v);
		for (val = o = v; *v; v++) {
			if (!q && (*v == '\'' || *v == '"')) {
				q = *v;
				continue;
			}
			if (q && *v == q) {
				q = 0;
				continue;
			}
			if (*v == '\\' && q != '\'' && v[1])
				v++;
			*o++ = *v;
		}
		*o = '\0';
		if (q) {
			bad_line(bad);
			continue;
		}
		r = cb(ud, s, val);
		if (r < 0)
			break;
	}
	free(l.buf);
	return r < 0 ? r : 0;
}

/* Key types of OpenSSH (sshkey.c), and the certificates and security
 * keys of each. */
static bool key_type_known(const char *t)
{
	static const char *const types[] = {
		"ssh-rsa", "ssh-dss", "ssh-ed25519", "ssh-ed448",
		"ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
		"sk-ecdsa-sha2-nistp256@openssh.com", "sk-ssh-ed25519@openssh.com",
		"ssh-rsa-cert-v01@openssh.com", "ssh-dss-cert-v01@openssh.com",
		"ssh-ed25519-cert-v01@openssh.com", "ecdsa-sha2-nistp256-cert-v01@openssh.com",
		"ecdsa-sha2-nistp384-cert-v01@openssh.com", "ecdsa-sha2-nistp521-cert-v01@openssh.com",
		"sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", "sk-ssh-ed25519-cert-v01@openssh.com",
		NULL,
	};

	for (int i = 0; types[i]; i++)
		if (strcmp(t, types[i]) == 0)
			return true;
	return false;
}

static bool is_base64(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '+' && *s != '/' && *s != '=')
			return false;
	return true;
}

int vet_authkey_parse(const char *line, char *buf, size_t size, struct vet_authkey *out)
{
	char *s, *opt_end;
	bool q = false;

	if (strlen(line) + 1 > size)
		return rain_error_set(RAIN_EINVAL, "authorized key: line too long");
	strcpy(buf, line);
	s = skip_space(buf);
	trim_end(s);
	if (!*s || *s == '#')
		return rain_error_set(RAIN_EINVAL, "authorized key: no key");
	out->options = "";
	/* a line may start with options (sshd's auth2-pubkeyfile.c): if the
	 * first word is not a key type, it is options up to the first blank
	 * outside quotes */
	opt_end = s;
	while (*opt_end && (q || (*opt_end != ' ' && *opt_end != '\t'))) {
		if (*opt_end == '\\' && opt_end[1] == '"')
			opt_end++;
		else if (*opt_end == '"')
			q = !q;
		opt_end++;
	}
	if (*opt_end) {
		char c = *opt_end;

		*opt_end = '\0';
		if (!key_type_known(s)) {
			out->options = s;
			s = skip_space(opt_end + 1);
		} else {
			*opt_end = c;
		}
	}
	out->type = word(&s);
	out->key = word(&s);
	if (!out->type || !out->key || !key_type_known(out->type) || !is_base64(out->key))
		return rain_error_set(RAIN_EINVAL, "authorized key: not a key line");
	out->comment = skip_space(s);
	return 0;
}

static bool is_base64_line(const char *p, const char *end)
{
	size_t n = 0;

	for (; p < end && *p != '\n' && *p != '\r'; p++, n++)
		if (!isalnum((unsigned char)*p) && *p != '+' && *p != '/' && *p != '=')
			return false;
	return n >= 16;
}

ssize_t vet_private_key_find(const char *buf, size_t n)
{
	static const char tail[] = "PRIVATE KEY-----";
	const char *end = buf + n, *p = buf;

	while (p < end) {
		const char *t = memmem(p, end - p, tail, sizeof(tail) - 1), *b, *next;

		if (!t)
			return -1;
		next = t + sizeof(tail) - 1;
		/* back to the start of the line: "-----BEGIN " and words */
		b = t;
		while (b > buf && b[-1] != '\n' && t - b < 64)
			b--;
		if ((b == buf || b[-1] == '\n') && end - b > 11 && memcmp(b, "-----BEGIN ", 11) == 0) {
			const char *q = next;

			if (q < end && *q == '\r')
				q++;
			if (q < end && *q == '\n') {
				q++;
				/* base64, or the headers of an encrypted PEM key */
				if (is_base64_line(q, end) ||
				    (end - q > 10 && memcmp(q, "Proc-Type:", 10) == 0))
					return b - buf;
			}
		}
		p = next;
	}
	return -1;
}
