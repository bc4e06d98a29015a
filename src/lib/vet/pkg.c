/* Installed packages (a dpkg status file) and version order as dpkg and
 * rpm define it (include/rain/pkg.h). */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <rpm/rpmver.h>

#include "rain/error.h"
#include "rain/pkg.h"
#include "util/cleanup.h"

/* --- dpkg version order (dpkg's lib/dpkg/version.c, parsehelp.c) ------- */

/* A version split as dpkg's parseversion() splits it; the strings point
 * into buf. */
struct debver {
	unsigned long epoch;
	const char *version;
	const char *revision;
	char buf[];
};

static bool c_isblank_(int c)
{
	return c == ' ' || c == '\t';
}

static bool c_isdigit_(int c)
{
	return c >= '0' && c <= '9';
}

static bool c_isalpha_(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* dpkg's parseversion(): NULL and *why set when dpkg refuses v (its
 * errors; its warnings, a first character that is not a digit or an
 * unusual character, are accepted as dpkg accepts them). */
static struct debver *debver_parse(const char *v, const char **why)
{
	const char *end, *p, *colon;
	struct debver *d;
	char *hyphen;
	size_t n;

	*why = NULL;
	while (c_isblank_(*v))
		v++;
	if (!*v) {
		*why = "version string is empty";
		return NULL;
	}
	for (end = v; *end && !c_isblank_(*end); end++)
		;
	for (p = end; c_isblank_(*p); p++)
		;
	if (*p) {
		*why = "version string has embedded spaces";
		return NULL;
	}
	n = (size_t)(end - v);
	d = malloc(sizeof(*d) + n + 1);
	if (!d) {
		*why = "out of memory";
		return NULL;
	}
	d->epoch = 0;
	colon = memchr(v, ':', n);
	if (colon) {
		char *eend;
		long epoch;

		errno = 0;
		epoch = strtol(v, &eend, 10);
		if (eend == v)
			*why = "epoch in version is empty";
		else if (eend != colon)
			*why = "epoch in version is not number";
		else if (epoch < 0)
			*why = "epoch in version is negative";
		else if (epoch > INT_MAX || errno == ERANGE)
			*why = "epoch in version is too big";
		else if (colon + 1 == end)
			*why = "nothing after colon in version number";
		if (*why) {
			free(d);
			return NULL;
		}
		d->epoch = (unsigned long)epoch;
		n -= (size_t)(colon + 1 - v);
		v = colon + 1;
	}
	memcpy(d->buf, v, n);
	d->buf[n] = '\0';
	d->version = d->buf;
	d->revision = "";
	hyphen = strrchr(d->buf, '-');
	if (hyphen) {
		*hyphen++ = '\0';
		if (!*hyphen) {
			*why = "revision number is empty";
			free(d);
			return NULL;
		}
		d->revision = hyphen;
	}
	if (!*d->version) {
		*why = "upstream version is empty";
		free(d);
		return NULL;
	}
	return d;
}

/* A version dpkg refuses still gets a place in the order (never an
 * error from a comparison): epoch 0, the text up to its first blank as
 * the upstream version and no revision.  It is consistent (the same text
 * always gets the same place), so the order stays total. */
static struct debver *debver_lenient(const char *v)
{
	struct debver *d;
	size_t n;

	while (c_isblank_(*v))
		v++;
	for (n = 0; v[n] && !c_isblank_(v[n]); n++)
		;
	d = malloc(sizeof(*d) + n + 1);
	if (!d)
		return NULL;
	d->epoch = 0;
	memcpy(d->buf, v, n);
	d->buf[n] = '\0';
	d->version = d->buf;
	d->revision = "";
	return d;
}

static int order(int c)
{
	if (c_isdigit_(c))
		return 0;
	if (c_isalpha_(c))
		return c;
	if (c == '~')
		return -1;
	if (c)
		return c + 256;
	return 0;
}

/* dpkg's verrevcmp(). */
static int verrevcmp(const char *a, const char *b)
{
	while (*a || *b) {
		int first_diff = 0;

		while ((*a && !c_isdigit_(*a)) || (*b && !c_isdigit_(*b))) {
			int ac = order((unsigned char)*a);
			int bc = order((unsigned char)*b);

			if (ac != bc)
				return ac - bc;
			a++;
			b++;
		}
		while (*a == '0')
			a++;
		while (*b == '0')
			b++;
		while (c_isdigit_(*a) && c_isdigit_(*b)) {
			if (!first_diff)
				first_diff = *a - *b;
			a++;
			b++;
		}
		if (c_isdigit_(*a))
			return 1;
		if (c_isdigit_(*b))
			return -1;
		if (first_diff)
			return first_diff;
	}
	return 0;
}

static struct debver *debver_get(const char *v)
{
	const char *why;
	struct debver *d = debver_parse(v ? v : "", &why);

	return d ? d : debver_lenient(v ? v : "");
}

int rain_pkg_vercmp_deb(const char *a, const char *b)
{
	_cleanup_free_ struct debver *da = debver_get(a);
	_cleanup_free_ struct debver *db = debver_get(b);
	int r;

	if (!da || !db) /* out of memory: compare the text, still an order */
		return strcmp(a ? a : "", b ? b : "");
	if (da->epoch != db->epoch)
		return da->epoch > db->epoch ? 1 : -1;
	r = verrevcmp(da->version, db->version);
	if (r)
		return r;
	return verrevcmp(da->revision, db->revision);
}

/* --- rpm version order ----------------------------------------------- */

int rain_pkg_vercmp_rpm(const char *a, const char *b)
{
	rpmver va = rpmverParse(a ? a : "");
	rpmver vb = rpmverParse(b ? b : "");
	int r;

	if (va && vb)
		r = rpmverCmp(va, vb);
	else
		r = rpmvercmp(a ? a : "", b ? b : "");
	rpmverFree(va);
	rpmverFree(vb);
	return r;
}

/* rpm refuses what it cannot parse as [E:]V[-R]: an empty version, an
 * epoch that is not a number, a blank or a control character. */
static int rpm_version_check(const char *v)
{
	const char *p, *colon;

	if (!*v)
		return rain_error_set(RAIN_EINVAL, "rpm version is empty");
	for (p = v; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return rain_error_set(RAIN_EINVAL,
					      "rpm version '%s' has a blank or control character", v);
	colon = strchr(v, ':');
	if (colon) {
		if (colon == v)
			return rain_error_set(RAIN_EINVAL, "rpm version '%s': epoch is empty", v);
		for (p = v; p < colon; p++)
			if (!c_isdigit_(*p))
				return rain_error_set(RAIN_EINVAL,
						      "rpm version '%s': epoch is not a number", v);
		v = colon + 1;
	}
	if (!*v || *v == '-')
		return rain_error_set(RAIN_EINVAL, "rpm version '%s': the version part is empty", v);
	return 0;
}

int rain_pkg_version_check(enum rain_pkg_family family, const char *v)
{
	const char *why;
	struct debver *d;

	if (!v)
		return rain_error_set(RAIN_EINVAL, "version is missing");
	if (family == RAIN_PKG_RPM)
		return rpm_version_check(v);
	d = debver_parse(v, &why);
	if (!d)
		return rain_error_set(RAIN_EINVAL, "'%s' is not a Debian version: %s", v, why);
	free(d);
	return 0;
}

/* --- the dpkg status file ---------------------------------------------- */

void rain_pkg_list_free(struct rain_pkg_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		struct rain_pkg *p = &l->pkgs[i];

		free(p->name);
		free(p->version);
		free(p->arch);
		free(p->source);
		free(p->source_version);
		free(p->status);
	}
	free(l->pkgs);
	l->pkgs = NULL;
	l->n = 0;
}

static int pkg_cmp(const void *a, const void *b)
{
	const struct rain_pkg *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	return r ? r : strcmp(x->arch ? x->arch : "", y->arch ? y->arch : "");
}

const struct rain_pkg *rain_pkg_find(const struct rain_pkg_list *l, const char *name)
{
	size_t lo = 0, hi = l ? l->n : 0;

	if (!name)
		return NULL;
	/* the first entry whose name is >= name */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(l->pkgs[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (l && lo < l->n && !strcmp(l->pkgs[lo].name, name))
		return &l->pkgs[lo];
	return NULL;
}

/* The fields of one stanza that matter here, with the line each started. */
struct stanza {
	size_t line;            /* its first line */
	char *package, *version, *arch, *source, *status;
};

static void stanza_clear(struct stanza *s)
{
	free(s->package);
	free(s->version);
	free(s->arch);
	free(s->source);
	free(s->status);
	memset(s, 0, sizeof(*s));
}

/* dpkg's states in which a package's files are on disk. */
static bool status_present(const char *status)
{
	static const char *const present[] = {
		"installed", "half-configured", "unpacked", "half-installed",
		"triggers-awaited", "triggers-pending", NULL,
	};
	const char *last = strrchr(status, ' ');

	last = last ? last + 1 : status;
	for (size_t i = 0; present[i]; i++)
		if (!strcmp(last, present[i]))
			return true;
	return false;
}

/* A copy of [s, s + n) with blanks trimmed on both sides. */
static char *strndup_trim(const char *s, size_t n)
{
	while (n && c_isblank_(*s))
		s++, n--;
	while (n && (c_isblank_(s[n - 1]) || s[n - 1] == '\r'))
		n--;
	return strndup(s, n);
}

static bool all_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!c_isblank_(s[i]))
			return false;
	return true;
}

static int stanza_end(struct stanza *s, const char *where, struct rain_pkg_list *out, size_t *cap)
{
	_cleanup_free_ char *src = NULL, *srcver = NULL;
	struct rain_pkg *p;
	int r;

	if (!s->line)
		return 0;
	if (!s->package)
		return rain_error_set(RAIN_EFORMAT,
				      "%s:%zu: the stanza that starts here has no Package field",
				      where, s->line);
	if (!s->status || !status_present(s->status))
		return 0;
	if (!s->version)
		return rain_error_set(RAIN_EFORMAT,
				      "%s:%zu: package %s is installed but has no Version field",
				      where, s->line, s->package);
	r = rain_pkg_version_check(RAIN_PKG_DEB, s->version);
	if (r < 0)
		return rain_error_set(RAIN_EFORMAT, "%s:%zu: package %s: %s", where, s->line,
				      s->package, rain_error_last());
	if (s->source) {
		/* "openssl" or "openssl (3.0.11-1~deb12u2)" */
		char *paren = strchr(s->source, '(');

		if (paren) {
			char *close = strchr(paren, ')');

			if (!close || close[1] != '\0')
				return rain_error_set(RAIN_EFORMAT,
						      "%s:%zu: package %s: Source '%s' is not 'name (version)'",
						      where, s->line, s->package, s->source);
			srcver = strndup_trim(paren + 1, (size_t)(close - paren - 1));
			src = strndup_trim(s->source, (size_t)(paren - s->source));
			if (!srcver || !src)
				return rain_error_oom();
			if (rain_pkg_version_check(RAIN_PKG_DEB, srcver) < 0)
				return rain_error_set(RAIN_EFORMAT, "%s:%zu: package %s: source %s",
						      where, s->line, s->package, rain_error_last());
		} else {
			src = strdup(s->source);
			if (!src)
				return rain_error_oom();
		}
		if (!*src || strchr(src, ' '))
			return rain_error_set(RAIN_EFORMAT,
					      "%s:%zu: package %s: Source '%s' is not 'name (version)'",
					      where, s->line, s->package, s->source);
	}
	if (ARRAY_GROW(out->pkgs, out->n, *cap) < 0)
		return rain_error_oom();
	p = &out->pkgs[out->n];
	memset(p, 0, sizeof(*p));
	p->source = src ? TAKE_PTR(src) : strdup(s->package);
	p->source_version = srcver ? TAKE_PTR(srcver) : strdup(s->version);
	p->name = TAKE_PTR(s->package);
	p->version = TAKE_PTR(s->version);
	p->arch = s->arch ? TAKE_PTR(s->arch) : strdup("");
	p->status = TAKE_PTR(s->status);
	out->n++;
	if (!p->source || !p->source_version || !p->arch)
		return rain_error_oom();
	return 0;
}

int rain_pkg_parse_dpkg_status(const char *text, size_t len, const char *where,
			       struct rain_pkg_list *out)
{
	struct stanza s = { 0 };
	char **field = NULL;    /* the field continuation lines extend, or NULL */
	size_t cap = 0, lineno = 0;
	const char *p = text, *end = text + len;
	int r = 0;

	rain_error_clear();
	memset(out, 0, sizeof(*out));
	out->family = RAIN_PKG_DEB;
	if (!where)
		where = "dpkg status";
	if (len && memchr(text, '\0', len))
		return rain_error_set(RAIN_EFORMAT, "%s: has a NUL byte: not a dpkg status file",
				      where);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		size_t n = (size_t)(le - p);
		const char *colon;

		lineno++;
		if (n && p[n - 1] == '\r')
			n--;
		if (all_blank(p, n)) {
			/* a blank line ends the stanza */
			r = stanza_end(&s, where, out, &cap);
			stanza_clear(&s);
			field = NULL;
			if (r < 0)
				goto fail;
		} else if (p[0] == ' ' || p[0] == '\t') {
			if (!s.line) {
				r = rain_error_set(RAIN_EFORMAT,
						   "%s:%zu: a continuation line outside a stanza", where,
						   lineno);
				goto fail;
			}
			/* Description, Conffiles and the like continue over lines;
			 * none of the fields kept here does, but a stanza whose
			 * kept field continues is kept as dpkg keeps it: one value
			 * with the lines joined by a newline. */
			if (field && *field) {
				size_t old = strlen(*field);
				char *v = realloc(*field, old + 1 + n + 1);

				if (!v) {
					r = rain_error_oom();
					goto fail;
				}
				v[old] = '\n';
				memcpy(v + old + 1, p, n);
				v[old + 1 + n] = '\0';
				*field = v;
			}
		} else {
			char *value;

			colon = memchr(p, ':', n);
			if (!colon || colon == p) {
				r = rain_error_set(RAIN_EFORMAT,
						   "%s:%zu: '%.*s' is not a 'Field: value' line", where,
						   lineno, (int)(n > 60 ? 60 : n), p);
				goto fail;
			}
			if (!s.line)
				s.line = lineno;
			value = strndup_trim(colon + 1, (size_t)(le - colon - 1));
			if (!value) {
				r = rain_error_oom();
				goto fail;
			}
#define FIELD(name, member) \
	(colon - p == (long)strlen(name) && !strncasecmp(p, name, strlen(name))) ? &s.member
			field = FIELD("Package", package) :
				FIELD("Version", version) :
				FIELD("Architecture", arch) :
				FIELD("Source", source) :
				FIELD("Status", status) : NULL;
#undef FIELD
			if (field && *field) {
				r = rain_error_set(RAIN_EFORMAT, "%s:%zu: field '%.*s' appears twice",
						   where, lineno, (int)(colon - p), p);
				free(value);
				goto fail;
			}
			if (field)
				*field = value;
			else
				free(value);
		}
		p = nl ? nl + 1 : end;
	}
	r = stanza_end(&s, where, out, &cap);
	if (r < 0)
		goto fail;
	stanza_clear(&s);
	if (out->n)
		qsort(out->pkgs, out->n, sizeof(*out->pkgs), pkg_cmp);
	return 0;
fail:
	stanza_clear(&s);
	rain_pkg_list_free(out);
	return r;
}
