/* Vulnerability feeds: the model, our normalized file and the matching
 * (include/rain/vet-feed.h). The importers are feed-*.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/vet/feed-internal.h"
#include "rain/error.h"
#include "rain/vet-feed.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/timeutil.h"

#define FEED_MAGIC "rain-vet-feed 1"
#define ARENA_BLOCK (256U << 10)

static const char *const urgency_names[] = {
	[RAIN_VET_URGENCY_UNKNOWN] = "unknown",
	[RAIN_VET_URGENCY_UNIMPORTANT] = "unimportant",
	[RAIN_VET_URGENCY_LOW] = "low",
	[RAIN_VET_URGENCY_MEDIUM] = "medium",
	[RAIN_VET_URGENCY_HIGH] = "high",
	[RAIN_VET_URGENCY_CRITICAL] = "critical",
};

static const char *const scope_names[] = {
	[RAIN_VET_SCOPE_UNKNOWN] = "unknown",
	[RAIN_VET_SCOPE_LOCAL] = "local",
	[RAIN_VET_SCOPE_REMOTE] = "remote",
};

static const char *const kind_names[] = {
	[RAIN_VET_FEED_TRACKER] = "tracker-json",
	[RAIN_VET_FEED_OSV] = "osv",
	[RAIN_VET_FEED_MIRROR] = "mirror",
};

#define NAME_OF(table, i) \
	((size_t)(i) < sizeof(table) / sizeof(table[0]) ? table[i] : "unknown")

const char *rain_vet_urgency_name(enum rain_vet_urgency u)
{
	return NAME_OF(urgency_names, u);
}

const char *rain_vet_scope_name(enum rain_vet_scope s)
{
	return NAME_OF(scope_names, s);
}

const char *rain_vet_feed_kind_name(enum rain_vet_feed_kind k)
{
	return NAME_OF(kind_names, k);
}

int rain_vet_urgency_parse(const char *s, enum rain_vet_urgency *out)
{
	/* the tracker's words (with "**" when a grade is disputed), the
	 * changelogs' (emergency), OSV's and CVSS's */
	static const struct { const char *word; enum rain_vet_urgency u; } words[] = {
		{ "unknown", RAIN_VET_URGENCY_UNKNOWN },
		{ "not yet assigned", RAIN_VET_URGENCY_UNKNOWN },
		{ "", RAIN_VET_URGENCY_UNKNOWN },
		{ "none", RAIN_VET_URGENCY_UNKNOWN },
		{ "end-of-life", RAIN_VET_URGENCY_UNKNOWN },
		{ "unimportant", RAIN_VET_URGENCY_UNIMPORTANT },
		{ "negligible", RAIN_VET_URGENCY_UNIMPORTANT },
		{ "low", RAIN_VET_URGENCY_LOW },
		{ "medium", RAIN_VET_URGENCY_MEDIUM },
		{ "moderate", RAIN_VET_URGENCY_MEDIUM },
		{ "high", RAIN_VET_URGENCY_HIGH },
		{ "important", RAIN_VET_URGENCY_HIGH },
		{ "emergency", RAIN_VET_URGENCY_CRITICAL },
		{ "critical", RAIN_VET_URGENCY_CRITICAL },
	};
	size_t n;

	if (!s)
		return rain_error_set(RAIN_EINVAL, "urgency is missing");
	n = strlen(s);
	while (n && s[n - 1] == '*')
		n--;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strlen(words[i].word) == n && !strncasecmp(s, words[i].word, n)) {
			*out = words[i].u;
			return 0;
		}
	return rain_error_set(RAIN_EINVAL,
			      "'%.40s' is not an urgency (unknown, unimportant, low, medium, high, critical)",
			      s);
}

/* --- the model ---------------------------------------------------------- */

struct rain_vet_feed {
	enum rain_vet_feed_kind kind;
	enum rain_pkg_family family;
	const char *release, *origin;
	int64_t date;
	struct rain_vet_advisory *adv;
	size_t n, cap;
	bool sorted;
	/* every string of the feed lives in these blocks */
	char **blocks;
	size_t nblocks;
	char *cur;
	size_t left;
};

/* Keep block (malloc'd) with the feed. */
static int arena_keep(struct rain_vet_feed *f, char *block)
{
	if (ARRAY_GROW1(f->blocks, f->nblocks) < 0)
		return rain_error_oom();
	f->blocks[f->nblocks++] = block;
	return 0;
}

/* A copy of [s, s + n) in the feed's arena, NUL-terminated; NULL when out
 * of memory (the message set). */
static char *arena_strndup(struct rain_vet_feed *f, const char *s, size_t n)
{
	char *p;

	if (n + 1 > f->left) {
		size_t sz = n + 1 > ARENA_BLOCK / 4 ? n + 1 : ARENA_BLOCK;
		char *b = malloc(sz);

		if (!b || arena_keep(f, b) < 0) {
			free(b);
			rain_error_oom();
			return NULL;
		}
		if (sz != ARENA_BLOCK) {
			/* a big string gets a block of its own */
			memcpy(b, s, n);
			b[n] = '\0';
			return b;
		}
		f->cur = b;
		f->left = sz;
	}
	p = f->cur;
	memcpy(p, s, n);
	p[n] = '\0';
	f->cur += n + 1;
	f->left -= n + 1;
	return p;
}

static char *arena_strdup(struct rain_vet_feed *f, const char *s)
{
	return arena_strndup(f, s, strlen(s));
}

/* Release names by OSV ecosystem version, and back. */
static const struct { const char *codename, *number; } debian_releases[] = {
	{ "jessie", "8" }, { "stretch", "9" }, { "buster", "10" }, { "bullseye", "11" },
	{ "bookworm", "12" }, { "trixie", "13" }, { "forky", "14" }, { "duke", "15" },
};

const char *feed_release_codename(const char *release)
{
	if (!strncmp(release, "Debian:", 7))
		for (size_t i = 0; i < sizeof(debian_releases) / sizeof(debian_releases[0]); i++)
			if (!strcmp(release + 7, debian_releases[i].number))
				return debian_releases[i].codename;
	return release;
}

const char *feed_release_ecosystem(const char *release, char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof(debian_releases) / sizeof(debian_releases[0]); i++)
		if (!strcmp(release, debian_releases[i].codename)) {
			snprintf(buf, len, "Debian:%s", debian_releases[i].number);
			return buf;
		}
	return release;
}

/* A token of the file: printable, no blank. */
static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

int rain_vet_feed_new(struct rain_vet_feed **out, enum rain_vet_feed_kind kind,
		      enum rain_pkg_family family, const char *release, const char *origin,
		      int64_t date)
{
	struct rain_vet_feed *f;

	*out = NULL;
	if (!release || !is_token(release) || strlen(release) > 64)
		return rain_error_set(RAIN_EINVAL,
				      "feed: release '%.64s' is not a release name (bookworm, Debian:12)",
				      release ? release : "");
	if ((unsigned)kind > RAIN_VET_FEED_MIRROR || (family != RAIN_PKG_DEB && family != RAIN_PKG_RPM))
		return rain_error_set(RAIN_EINVAL, "feed: unknown kind or package family");
	f = calloc(1, sizeof(*f));
	if (!f)
		return rain_error_oom();
	f->kind = kind;
	f->family = family;
	f->date = date;
	f->release = arena_strdup(f, feed_release_codename(release));
	f->origin = arena_strdup(f, origin ? origin : "");
	if (!f->release || !f->origin) {
		rain_vet_feed_free(f);
		return rain_error_oom();
	}
	/* the origin is one header line */
	for (char *p = (char *)f->origin; *p; p++)
		if ((unsigned char)*p < ' ')
			*p = ' ';
	*out = f;
	return 0;
}

void rain_vet_feed_free(struct rain_vet_feed *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->nblocks; i++)
		free(f->blocks[i]);
	free(f->blocks);
	free(f->adv);
	free(f);
}

void rain_vet_feed_set_date(struct rain_vet_feed *f, int64_t date)
{
	f->date = date;
}

static int check_version(const struct rain_vet_feed *f, const char *what, const char *v,
			 const struct rain_vet_advisory *a)
{
	if (!v)
		return 0;
	if (!is_token(v) || rain_pkg_version_check(f->family, v) < 0)
		return rain_error_set(RAIN_EINVAL, "feed: %s %s: %s version '%.80s' is not a %s version",
				      a->package, a->id, what, v,
				      f->family == RAIN_PKG_DEB ? "Debian" : "rpm");
	return 0;
}

int rain_vet_feed_add(struct rain_vet_feed *f, const struct rain_vet_advisory *a)
{
	struct rain_vet_advisory *n;
	const char *desc = a->description ? a->description : "";
	char *d;
	int r;

	if (!a->package || !is_token(a->package) || strlen(a->package) > 256)
		return rain_error_set(RAIN_EINVAL, "feed: package name '%.80s' is empty or has blanks",
				      a->package ? a->package : "");
	if (!a->id || !is_token(a->id) || strlen(a->id) > 256)
		return rain_error_set(RAIN_EINVAL, "feed: %s: advisory id '%.80s' is empty or has blanks",
				      a->package, a->id ? a->id : "");
	if (a->aliases)
		for (const char *p = a->aliases; *p; p++)
			if ((unsigned char)*p < ' ' || *p == 0x7f)
				return rain_error_set(RAIN_EINVAL,
						      "feed: %s %s: aliases have a control character",
						      a->package, a->id);
	r = check_version(f, "introduced", a->introduced, a);
	if (r < 0)
		return r;
	r = check_version(f, "fixed", a->fixed, a);
	if (r < 0)
		return r;
	if ((unsigned)a->urgency > RAIN_VET_URGENCY_CRITICAL || (unsigned)a->scope > RAIN_VET_SCOPE_REMOTE ||
	    (a->flags & ~(unsigned)(RAIN_VET_ADV_BINARY | RAIN_VET_ADV_NODSA)))
		return rain_error_set(RAIN_EINVAL, "feed: %s %s: unknown urgency, scope or flag",
				      a->package, a->id);
	if (ARRAY_GROW(f->adv, f->n, f->cap) < 0)
		return rain_error_oom();
	n = &f->adv[f->n];
	*n = *a;
	n->package = arena_strdup(f, a->package);
	n->id = arena_strdup(f, a->id);
	n->aliases = arena_strdup(f, a->aliases ? a->aliases : "");
	n->introduced = a->introduced ? arena_strdup(f, a->introduced) : NULL;
	n->fixed = a->fixed ? arena_strdup(f, a->fixed) : NULL;
	/* one line: blanks and control characters become spaces */
	d = arena_strdup(f, desc);
	if (!n->package || !n->id || !n->aliases || (a->introduced && !n->introduced) ||
	    (a->fixed && !n->fixed) || !d)
		return rain_error_oom();
	for (char *p = d; *p; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			*p = ' ';
	for (char *p = (char *)n->aliases; *p; p++)
		if (*p == '\t')
			*p = ' ';
	n->description = d;
	f->n++;
	f->sorted = false;
	return 0;
}

static int adv_cmp(const void *x, const void *y)
{
	const struct rain_vet_advisory *a = x, *b = y;
	int r = strcmp(a->package, b->package);

	if (r)
		return r;
	r = strcmp(a->id, b->id);
	if (r)
		return r;
	if (!a->fixed || !b->fixed)
		return !a->fixed - !b->fixed;
	return strcmp(a->fixed, b->fixed);
}

static void feed_sort(struct rain_vet_feed *f)
{
	if (!f->sorted && f->n)
		qsort(f->adv, f->n, sizeof(*f->adv), adv_cmp);
	f->sorted = true;
}

const char *rain_vet_feed_release(const struct rain_vet_feed *f)
{
	return f->release;
}

const char *rain_vet_feed_origin(const struct rain_vet_feed *f)
{
	return f->origin;
}

enum rain_vet_feed_kind rain_vet_feed_kind(const struct rain_vet_feed *f)
{
	return f->kind;
}

enum rain_pkg_family rain_vet_feed_family(const struct rain_vet_feed *f)
{
	return f->family;
}

int64_t rain_vet_feed_date(const struct rain_vet_feed *f)
{
	return f->date;
}

const struct rain_vet_advisory *rain_vet_feed_advisories(struct rain_vet_feed *f, size_t *n)
{
	feed_sort(f);
	*n = f->n;
	return f->adv;
}

static int str_ptr_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void rain_vet_feed_count(struct rain_vet_feed *f, struct rain_vet_feed_counts *out)
{
	_cleanup_free_ const char **ids = NULL;
	size_t nids = 0;

	feed_sort(f);
	memset(out, 0, sizeof(*out));
	out->advisories = f->n;
	ids = malloc((f->n ? f->n : 1) * sizeof(*ids));
	for (size_t i = 0; i < f->n; i++) {
		if (i == 0 || strcmp(f->adv[i].package, f->adv[i - 1].package))
			out->packages++;
		if (!f->adv[i].fixed)
			out->unfixed++;
		if (ids)
			ids[nids++] = f->adv[i].id;
	}
	if (!ids)
		return;
	qsort(ids, nids, sizeof(*ids), str_ptr_cmp);
	for (size_t i = 0; i < nids; i++)
		if (i == 0 || strcmp(ids[i], ids[i - 1]))
			out->ids++;
}

/* --- our file ------------------------------------------------------------ */

static const char *flags_text(unsigned flags, char *buf)
{
	char *p = buf;

	if (flags & RAIN_VET_ADV_BINARY)
		*p++ = 'b';
	if (flags & RAIN_VET_ADV_NODSA)
		*p++ = 'n';
	if (p == buf)
		*p++ = '-';
	*p = '\0';
	return buf;
}

int rain_vet_feed_save(struct rain_vet_feed *f, const char *path)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	char date[32], flags[4];
	FILE *m;
	int r;

	rain_error_clear();
	feed_sort(f);
	m = open_memstream(&buf, &len);
	if (!m)
		return rain_error_oom();
	time_format_iso(f->date * 1000000, date, sizeof(date));
	fprintf(m, FEED_MAGIC "\nrelease\t%s\nfamily\t%s\nkind\t%s\ndate\t%s\norigin\t%s\ncount\t%zu\n\n",
		f->release, f->family == RAIN_PKG_DEB ? "deb" : "rpm", rain_vet_feed_kind_name(f->kind),
		date, f->origin, f->n);
	for (size_t i = 0; i < f->n; i++) {
		const struct rain_vet_advisory *a = &f->adv[i];

		fprintf(m, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a->package, a->id, a->aliases,
			a->introduced ? a->introduced : "", a->fixed ? a->fixed : "",
			rain_vet_urgency_name(a->urgency), rain_vet_scope_name(a->scope),
			flags_text(a->flags, flags), a->description);
	}
	if (fclose(m) != 0)
		return rain_error_oom();
	r = fs_write_atomic(path, buf, len, 0644);
	if (r < 0)
		return rain_error_set(r, "feed: cannot write %s: %s", path, rain_error_last());
	return 0;
}

/* The next line of [*p, end) split at tabs in place into up to max
 * fields; the count, or -1 at the end. */
static int next_line(char **p, char *end, char **fields, int max)
{
	char *s = *p, *nl;
	int n = 0;

	if (s >= end)
		return -1;
	nl = memchr(s, '\n', (size_t)(end - s));
	if (!nl)
		nl = end;
	*nl = '\0';
	*p = nl + 1;
	fields[n++] = s;
	for (char *t = s; *t; t++)
		if (*t == '\t') {
			*t = '\0';
			if (n == max)
				return max + 1;
			fields[n++] = t + 1;
		}
	return n;
}

static int parse_enum(const char *s, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (names[i] && !strcmp(s, names[i]))
			return (int)i;
	return -1;
}

/* Parse our file in buf (len bytes, buf[len] writable, owned by f from
 * here on) into f. */
static int feed_parse(struct rain_vet_feed **out, char *buf, size_t len, const char *where)
{
	struct rain_vet_feed *f = NULL;
	char *p = buf, *end = buf + len, *fl[10];
	const char *release = NULL, *origin = "", *family = NULL, *kind = NULL, *date = NULL;
	size_t lineno = 1, count = 0;
	int64_t us = 0;
	int n, r, k;

	*out = NULL;
	buf[len] = '\0';
	if (memchr(buf, '\0', len))
		r = rain_error_set(RAIN_EFORMAT, "%s: has a NUL byte: not a rain feed", where);
	else if (next_line(&p, end, fl, 1) != 1 || strcmp(fl[0], FEED_MAGIC))
		r = rain_error_set(RAIN_EFORMAT,
				   "%s:1: not a rain feed (it starts '%.20s', not '" FEED_MAGIC
				   "'): make one with rain vet feed import or build",
				   where, buf);
	else
		r = 0;
	if (r < 0) {
		free(buf);
		return r;
	}
	while ((n = next_line(&p, end, fl, 2)) >= 1 && fl[0][0]) {
		lineno++;
		if (n != 2) {
			r = rain_error_set(RAIN_EFORMAT, "%s:%zu: a header line is 'key<TAB>value'", where,
					   lineno);
			goto fail_buf;
		}
		if (!strcmp(fl[0], "release"))
			release = fl[1];
		else if (!strcmp(fl[0], "origin"))
			origin = fl[1];
		else if (!strcmp(fl[0], "family"))
			family = fl[1];
		else if (!strcmp(fl[0], "kind"))
			kind = fl[1];
		else if (!strcmp(fl[0], "date"))
			date = fl[1];
		else if (!strcmp(fl[0], "count")) {
			char *e;

			count = strtoul(fl[1], &e, 10);
			/* an advisory's line takes at least 20 bytes */
			if (*e || !fl[1][0] || count > len / 20) {
				r = rain_error_set(RAIN_EFORMAT, "%s:%zu: bad count '%.20s'", where,
						   lineno, fl[1]);
				goto fail_buf;
			}
		}
		/* other keys: from a newer writer, ignored */
	}
	lineno++;
	if (n < 0 || !release || !family || !kind || !date) {
		r = rain_error_set(RAIN_EFORMAT,
				   "%s: the header lacks release, family, kind or date, or has no end", where);
		goto fail_buf;
	}
	if ((strcmp(family, "deb") && strcmp(family, "rpm")) ||
	    (k = parse_enum(kind, kind_names, 3)) < 0 || time_parse_iso(date, &us) < 0) {
		r = rain_error_set(RAIN_EFORMAT, "%s: bad family '%.10s', kind '%.20s' or date '%.30s'",
				   where, family, kind, date);
		goto fail_buf;
	}
	r = rain_vet_feed_new(&f, (enum rain_vet_feed_kind)k,
			      strcmp(family, "deb") ? RAIN_PKG_RPM : RAIN_PKG_DEB, release, origin,
			      us / 1000000);
	if (r < 0) {
		r = rain_error_set(RAIN_EFORMAT, "%s: %s", where, rain_error_last());
		goto fail_buf;
	}
	r = arena_keep(f, buf);
	if (r < 0)
		goto fail_buf;
	if (count) {
		f->adv = calloc(count, sizeof(*f->adv));
		if (!f->adv) {
			r = rain_error_oom();
			goto fail;
		}
		f->cap = count;
	}
	/* the strings stay where they are, in buf */
	while ((n = next_line(&p, end, fl, 9)) >= 0) {
		struct rain_vet_advisory a = { 0 };
		int u, s;

		lineno++;
		if (n == 1 && !fl[0][0] && p >= end)
			break;
		if (n != 9) {
			r = rain_error_set(RAIN_EFORMAT, "%s:%zu: %d fields, not 9", where, lineno, n);
			goto fail;
		}
		u = parse_enum(fl[5], urgency_names, sizeof(urgency_names) / sizeof(urgency_names[0]));
		s = parse_enum(fl[6], scope_names, sizeof(scope_names) / sizeof(scope_names[0]));
		if (u < 0 || s < 0) {
			r = rain_error_set(RAIN_EFORMAT, "%s:%zu: urgency '%.20s' or scope '%.20s' unknown",
					   where, lineno, fl[5], fl[6]);
			goto fail;
		}
		a.package = fl[0];
		a.id = fl[1];
		a.aliases = fl[2];
		a.introduced = fl[3][0] ? fl[3] : NULL;
		a.fixed = fl[4][0] ? fl[4] : NULL;
		a.urgency = (enum rain_vet_urgency)u;
		a.scope = (enum rain_vet_scope)s;
		for (const char *c = fl[7]; *c; c++) {
			if (*c == 'b')
				a.flags |= RAIN_VET_ADV_BINARY;
			else if (*c == 'n')
				a.flags |= RAIN_VET_ADV_NODSA;
			else if (*c != '-') {
				r = rain_error_set(RAIN_EFORMAT, "%s:%zu: unknown flag '%c'", where,
						   lineno, *c);
				goto fail;
			}
		}
		a.description = fl[8];
		if (!is_token(a.package) || !is_token(a.id) ||
		    (a.introduced && (!is_token(a.introduced) || rain_pkg_version_check(f->family, a.introduced) < 0)) ||
		    (a.fixed && (!is_token(a.fixed) || rain_pkg_version_check(f->family, a.fixed) < 0))) {
			r = rain_error_set(RAIN_EFORMAT, "%s:%zu: bad package, id or version", where,
					   lineno);
			goto fail;
		}
		if (ARRAY_GROW(f->adv, f->n, f->cap) < 0) {
			r = rain_error_oom();
			goto fail;
		}
		f->adv[f->n++] = a;
	}
	if (f->n != count) {
		r = rain_error_set(RAIN_EFORMAT, "%s: %zu advisories where the header says %zu: the file is cut short",
				   where, f->n, count);
		goto fail;
	}
	/* sorted when written; checked rather than trusted */
	f->sorted = true;
	for (size_t i = 1; i < f->n; i++)
		if (adv_cmp(&f->adv[i - 1], &f->adv[i]) > 0) {
			f->sorted = false;
			break;
		}
	feed_sort(f);
	*out = f;
	return 0;
fail_buf:
	free(buf);
	return r;
fail:
	rain_vet_feed_free(f);
	return r;
}

int rain_vet_feed_load_mem(struct rain_vet_feed **out, const char *text, size_t len,
			   const char *where)
{
	char *buf = malloc(len + 1);

	rain_error_clear();
	*out = NULL;
	if (!buf)
		return rain_error_oom();
	memcpy(buf, text, len);
	return feed_parse(out, buf, len, where ? where : "feed");
}

int rain_vet_feed_load(struct rain_vet_feed **out, const char *path)
{
	char *buf = NULL;
	size_t len;
	int r;

	rain_error_clear();
	*out = NULL;
	r = fs_read_small(path, RAIN_VET_FEED_MAX_INPUT, &buf, &len);
	if (r < 0)
		return rain_error_set(r, "feed: cannot read %s: %s", path, rain_error_last());
	/* fs_read_small leaves room for the terminator */
	return feed_parse(out, buf, len, path);
}

/* --- matching ---------------------------------------------------------------- */

/* The first advisory of package, or f->n. */
static size_t feed_find(const struct rain_vet_feed *f, const char *package)
{
	size_t lo = 0, hi = f->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(f->adv[mid].package, package) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < f->n && !strcmp(f->adv[lo].package, package) ? lo : f->n;
}

static int vercmp(const struct rain_vet_feed *f, const char *a, const char *b)
{
	return f->family == RAIN_PKG_DEB ? rain_pkg_vercmp_deb(a, b) : rain_pkg_vercmp_rpm(a, b);
}

bool feed_affects(const struct rain_vet_feed *f, const struct rain_vet_advisory *a,
		  const struct rain_pkg *p)
{
	const char *v;

	if (a->flags & RAIN_VET_ADV_BINARY) {
		if (strcmp(a->package, p->name))
			return false;
		v = p->version;
	} else {
		if (strcmp(a->package, p->source))
			return false;
		v = p->source_version;
	}
	if (a->introduced && vercmp(f, v, a->introduced) < 0)
		return false;
	return !a->fixed || vercmp(f, v, a->fixed) < 0;
}

int rain_vet_feed_match(struct rain_vet_feed *f, const struct rain_pkg_list *pkgs,
			struct rain_vet_finding **out, size_t *n)
{
	_cleanup_free_ struct rain_vet_finding *v = NULL;
	size_t nv = 0, cap = 0;

	rain_error_clear();
	*out = NULL;
	*n = 0;
	if (pkgs->family != f->family)
		return rain_error_set(RAIN_EINVAL,
				      "feed: the packages are %s packages, the feed is for %s packages",
				      pkgs->family == RAIN_PKG_DEB ? "dpkg" : "rpm",
				      f->family == RAIN_PKG_DEB ? "dpkg" : "rpm");
	feed_sort(f);
	for (size_t i = 0; i < pkgs->n; i++) {
		const struct rain_pkg *p = &pkgs->pkgs[i];
		/* debsecan: by the source package, by the binary's own name
		 * only when the feed has nothing for the source */
		const char *key = p->source;
		size_t j = feed_find(f, key);

		if (j == f->n) {
			key = p->name;
			j = feed_find(f, key);
		}
		for (; j < f->n && !strcmp(f->adv[j].package, key); j++) {
			const struct rain_vet_advisory *a = &f->adv[j];

			if (!feed_affects(f, a, p))
				continue;
			/* one finding per id, whatever the number of ranges */
			if (nv && v[nv - 1].pkg == p && !strcmp(v[nv - 1].adv->id, a->id))
				continue;
			if (ARRAY_GROW(v, nv, cap) < 0)
				return rain_error_oom();
			v[nv].pkg = p;
			v[nv].adv = a;
			nv++;
		}
	}
	*out = TAKE_PTR(v);
	*n = nv;
	return 0;
}
